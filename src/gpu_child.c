/* gpu_child: the child process that asks a CUDA library for us, and the
 * parent's side: wait, read, reap. See src/gpu_child.h. */
#include "gpu_child.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Design note: why a child process.
 *
 * Loading libcudart and calling cudaGetDeviceCount() initialises the driver
 * in the calling process: it maps device memory, starts threads, and can
 * take seconds or, with a wedged GPU, never return. casebisect must keep
 * neither: its own process stays small and single-purpose, and a broken
 * driver must turn into an answer ("not available, timed out"), not a hang.
 * So gpu_discover() forks, the child loads the library and asks, writes
 * fixed-size records over a pipe and _exit()s; the parent polls the pipe
 * until the deadline, then kills and reaps the child by its pid. It never
 * waits for "any child" (waitpid(-1)), which would steal the exit of a trial
 * that libuv is waiting for. The health probe is built the same way, one
 * child per device: a probe creates a CUDA context and touches memory,
 * which is exactly what a wedged device never finishes.
 *
 * Before each call into the library the child sends a "stage" record (which
 * library, which call), so a timeout or a crash can say where it happened.
 *
 * fork() in a process with threads (libuv's pool) gives a child in which
 * only async-signal-safe calls are strictly allowed; dlopen() is not one.
 * glibc makes malloc and the loader usable after fork, and should a lock
 * inherited from another thread still block the child, the deadline ends
 * it like any hung driver. Calling gpu_discover() before the loop starts
 * threads avoids the question.
 *
 * A process stuck in the kernel (an ioctl into a wedged driver) does not die
 * of SIGKILL until the call returns. Blocking in waitpid() would then hang
 * casebisect after all, so reaping polls, gives up after REAP_GRACE_MS and
 * says so in the reason: a zombie left behind beats a hung supervisor.
 */

#define REAP_GRACE_MS 2000

/* Record kinds on the pipe: a stage (GPU_STAGE_LEN bytes of text) or the
 * answer (the last record). */
enum { MSG_STAGE = 'S', MSG_RESULT = 'R' };

/* Writes or ends the child: the parent is gone or gave up on us. */
static void write_or_exit(int fd, const void *buf, size_t len)
{
	if (cb_write_all(fd, buf, len) < 0)
		_exit(1);
}

/* Tells the parent where the child is about to be, before it goes there. */
CB_PRINTF(2, 3) void gpu_child_stage(int fd, const char *fmt, ...)
{
	char rec[1 + GPU_STAGE_LEN];
	va_list ap;

	memset(rec, 0, sizeof(rec));
	rec[0] = MSG_STAGE;
	va_start(ap, fmt);
	vsnprintf(rec + 1, GPU_STAGE_LEN, fmt, ap);
	va_end(ap);
	write_or_exit(fd, rec, sizeof(rec));
}

/* Sends the answer, the child's last record. */
void gpu_child_answer(int fd, const void *answer, size_t size)
{
	char rec = MSG_RESULT;

	write_or_exit(fd, &rec, 1);
	write_or_exit(fd, answer, size);
}

/* Hold no descriptor of the parent's, not even stdout and stderr: a pipe
 * that a hung (or unkillable) child keeps open never reaches EOF, and
 * whoever reads a trial's output or casebisect's own would wait for it.
 * The library's chatter, if any, is lost; its error codes are what we
 * report. Returns the pipe to the parent, now fd 3. */
static int child_fds(int fd)
{
	int null;

	if (fd != 3) {
		if (dup2(fd, 3) < 0)
			_exit(1);
		fd = 3;
	}
	close_range(4, ~0U, 0); /* best effort: ENOSYS before Linux 5.9 */
	null = open("/dev/null", O_RDWR);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
		_exit(1);
	if (null > 3)
		close(null);
	return fd;
}

/* ---- the parent: wait, read, reap ---- */

struct timespec gpu_deadline_after(int ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Milliseconds until t, rounded up; 0 when it has passed. */
static int ms_left(const struct timespec *t)
{
	struct timespec now;
	long long ns;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (long long)(t->tv_sec - now.tv_sec) * 1000000000LL + (t->tv_nsec - now.tv_nsec);
	if (ns <= 0)
		return 0;
	ns = (ns + 999999) / 1000000;
	return ns > INT_MAX ? INT_MAX : (int)ns;
}

enum read_end { READ_DONE, READ_EOF, READ_TIMEOUT };

/* Reads exactly len bytes unless EOF, an error or the deadline comes first. */
static enum read_end read_full(int fd, void *buf, size_t len, const struct timespec *deadline)
{
	char *p = buf;

	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, ms_left(deadline));
		ssize_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return READ_EOF;
		if (r == 0)
			return READ_TIMEOUT;
		n = read(fd, p, len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return READ_EOF;
		p += n;
		len -= (size_t)n;
	}
	return READ_DONE;
}

/* Reads the child's records until its answer, size bytes into answer;
 * where holds the last stage. */
static enum gpu_collect_end collect(int fd, const struct timespec *deadline,
				    void *answer, size_t size, char *where)
{
	char kind, text[GPU_STAGE_LEN];
	enum read_end r;

	for (;;) {
		r = read_full(fd, &kind, 1, deadline);
		if (r == READ_DONE && kind == MSG_STAGE) {
			r = read_full(fd, text, sizeof(text), deadline);
			if (r == READ_DONE) {
				text[sizeof(text) - 1] = '\0';
				memcpy(where, text, sizeof(text));
				continue;
			}
		} else if (r == READ_DONE && kind == MSG_RESULT) {
			r = read_full(fd, answer, size, deadline);
			if (r == READ_DONE)
				return GPU_GOT_RESULT;
		} else if (r == READ_DONE) {
			return GPU_NO_RESULT; /* cannot happen: we wrote it */
		}
		return r == READ_TIMEOUT ? GPU_TIMED_OUT : GPU_NO_RESULT;
	}
}

static void nap(long *us)
{
	struct timespec t = { .tv_sec = 0, .tv_nsec = *us * 1000L };

	nanosleep(&t, NULL);
	if (*us < 10000)
		*us *= 2;
}

/* Waits for pid until the deadline, then kills it and waits a little more. */
static enum gpu_reap_end reap_pid(pid_t pid, const struct timespec *deadline, int *status)
{
	struct timespec give_up = { 0, 0 };
	bool killed = false;
	long us = 100;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return GPU_REAPED;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return GPU_GONE;
		if (!killed && ms_left(deadline) == 0) {
			kill(pid, SIGKILL);
			killed = true;
			give_up = gpu_deadline_after(REAP_GRACE_MS);
			us = 100;
		} else if (killed && ms_left(&give_up) == 0) {
			return GPU_LEFT_BEHIND;
		}
		nap(&us);
	}
}

/* Starts task(arg) in a child whose first stage is what. 0, or -1 with err
 * filled ("fork: Resource temporarily unavailable"). */
int gpu_child_start(struct gpu_child *c, gpu_child_task task, const void *arg,
		       const char *what, char *err, size_t errlen)
{
	int fds[2];

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	cb_strlcpy(c->where, what, sizeof(c->where));
	if (pipe2(fds, O_CLOEXEC) < 0) {
		cb_set_err(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	c->pid = fork();
	if (c->pid < 0) {
		cb_set_err(err, errlen, "fork: %s", strerror(errno));
		c->pid = 0;
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (c->pid == 0) {
		close(fds[0]);
		task(child_fds(fds[1]), arg);
		_exit(0);
	}
	close(fds[1]);
	c->fd = fds[0];
	return 0;
}

double gpu_seconds_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Reads c's answer (size bytes) until the deadline, and closes its pipe. */
void gpu_child_collect(struct gpu_child *c, const struct timespec *deadline,
			  void *answer, size_t size)
{
	c->end = collect(c->fd, deadline, answer, size, c->where);
	c->seconds = gpu_seconds_since(&c->start);
	close(c->fd);
	c->fd = -1;
}

/* Appends "; NOUN process PID did not exit after SIGKILL" to buf when c
 * was left behind. */
void gpu_child_note_left_behind(const struct gpu_child *c, const char *noun, char *buf, size_t len)
{
	size_t used = strlen(buf);

	if (c->reaped == GPU_LEFT_BEHIND && used + 1 < len)
		snprintf(buf + used, len - used, "; %s process %ld did not exit after SIGKILL",
			 noun, (long)c->pid);
}

void gpu_child_reap(struct gpu_child *c, const struct timespec *deadline)
{
	c->reaped = reap_pid(c->pid, deadline, &c->status);
}
