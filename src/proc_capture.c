/* proc_capture: one way to run a short child for its output, blocking on a
 * loop of its own or started on the caller's; see
 * include/casebisect/proc_capture.h.
 *
 * Design note: one pipe, one implementation. stdout (and stderr, merged)
 * come through one pipe made with uv_pipe() and handed to the child as its
 * fds 1 and 2, as `2>&1` would: a Python traceback then sits after the line
 * printed before it, which two pipes read in turn cannot promise. The
 * blocking form is the loop form on a private loop, run until the callback:
 * what squeue does on the supervisor's loop is what it does at resume. The
 * child is over when it has exited AND the pipe is at EOF (tmux's job.c);
 * stdin bytes go in through a memfd, so that a child that never reads them
 * can neither block us nor SIGPIPE us. */
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uv.h>

#include "casebisect/proc_capture.h"
#include "casebisect/util.h"

#define READ_BUF (64 * 1024)
#define GRACE_MS 1000

struct pc_run {
	struct proc_capture *pc;
	struct pc_run *next; /* in running */
	uv_process_t proc;
	uv_pipe_t pipe;
	uv_timer_t timeout, grace;
	int handles;         /* open; done runs when the last one closes */
	bool proc_open, pipe_open, exited, eof, listed;
	size_t cap;          /* bytes allocated at pc->out */
	proc_capture_cb *done;
	void *ctx;
	char rbuf[READ_BUF];
};

/* The captures whose process libuv reaps (proc_capture_running()). A
 * mutex: a thread with a loop of its own may run one. */
static struct pc_run *running;
static uv_mutex_t running_lock;
static uv_once_t running_once = UV_ONCE_INIT;

static void init_lock(void)
{
	if (uv_mutex_init(&running_lock))
		abort();
}

static void list(struct pc_run *r, bool on)
{
	struct pc_run **pp;

	uv_once(&running_once, init_lock);
	uv_mutex_lock(&running_lock);
	if (on && !r->listed) {
		r->next = running;
		running = r;
	} else if (!on && r->listed) {
		for (pp = &running; *pp; pp = &(*pp)->next)
			if (*pp == r) {
				*pp = r->next;
				break;
			}
	}
	r->listed = on;
	uv_mutex_unlock(&running_lock);
}

bool proc_capture_running(pid_t pid)
{
	const struct pc_run *r;
	bool found = false;

	uv_once(&running_once, init_lock);
	uv_mutex_lock(&running_lock);
	for (r = running; r && !found; r = r->next)
		found = r->pc->pid == pid;
	uv_mutex_unlock(&running_lock);
	return found;
}

/* ---- the output ---- */

static void grow(struct pc_run *r, size_t need)
{
	struct proc_capture *pc = r->pc;
	size_t want = r->cap ? r->cap : 4096;

	if (need <= r->cap)
		return;
	while (want < need)
		want = want > SIZE_MAX / 2 ? need : want * 2;
	pc->out = xrealloc(pc->out, want);
	r->cap = want;
}

/* Keeps what the cap allows: the head as it comes, or the tail in a buffer
 * of at most twice the cap, moved down when it fills (each byte moves at
 * most once per cap's worth read, not once per read). */
static void keep(struct pc_run *r, const char *p, size_t n)
{
	struct proc_capture *pc = r->pc;
	size_t max = pc->max_out;

	if (!(pc->flags & PROC_KEEP_TAIL)) {
		if (n > max - pc->len) {
			pc->cut = true;
			n = max - pc->len;
		}
	} else if (n >= max) {
		pc->cut = pc->cut || n > max || pc->len;
		p += n - max;
		n = max;
		pc->len = 0;
	} else if (pc->len + n > 2 * max) {
		size_t stay = max - n;

		memmove(pc->out, pc->out + pc->len - stay, stay);
		pc->len = stay;
		pc->cut = true;
	}
	if (!n)
		return;
	grow(r, pc->len + n + 1);
	memcpy(pc->out + pc->len, p, n);
	pc->len += n;
}

/* ---- the end ---- */

static void on_closed(uv_handle_t *h)
{
	struct pc_run *r = h->data;
	struct proc_capture *pc = r->pc;

	if (--r->handles)
		return;
	if ((pc->flags & PROC_KEEP_TAIL) && pc->len > pc->max_out) {
		memmove(pc->out, pc->out + pc->len - pc->max_out, pc->max_out);
		pc->len = pc->max_out;
		pc->cut = true;
	}
	grow(r, pc->len + 1);
	pc->out[pc->len] = '\0';
	pc->priv = NULL;
	r->done(pc, r->ctx);
	free(r);
}

static void close_one(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, on_closed);
}

/* Over when the process has exited (or was given up on) and the pipe is at
 * its end: every handle is closed, and done runs from the last close. */
static void maybe_done(struct pc_run *r)
{
	if (!(r->exited || r->pc->abandoned) || !r->eof)
		return;
	list(r, false);
	close_one((uv_handle_t *)&r->timeout);
	close_one((uv_handle_t *)&r->grace);
	if (r->proc_open)
		close_one((uv_handle_t *)&r->proc);
	if (r->pipe_open)
		close_one((uv_handle_t *)&r->pipe);
}

/* SIGKILL to the child's group, or to the child alone in casebisect's. ESRCH
 * (the group is empty) is the usual answer after an exit. */
static void kill_child(struct pc_run *r)
{
	if (r->pc->flags & PROC_FOREGROUND)
		uv_kill(r->pc->pid, SIGKILL);
	else
		uv_kill(-r->pc->pid, SIGKILL);
}

static void stop_reading(struct pc_run *r)
{
	if (!r->eof && r->pipe_open)
		uv_read_stop((uv_stream_t *)&r->pipe);
	r->eof = true;
}

static void on_grace(uv_timer_t *h)
{
	struct pc_run *r = h->data;

	stop_reading(r);
	if (!r->exited && !r->pc->abandoned) {
		r->pc->abandoned = true;
		r->pc->status = -1;
	}
	maybe_done(r);
}

/* Once: after the exit, or after the kill. */
static void start_grace(struct pc_run *r)
{
	int rc;

	if (uv_is_active((uv_handle_t *)&r->grace))
		return;
	if ((rc = uv_timer_start(&r->grace, on_grace, GRACE_MS, 0)))
		die("proc_capture: uv_timer_start: %s", uv_strerror(rc));
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
	struct pc_run *r = p->data;
	struct proc_capture *pc = r->pc;

	r->exited = true;
	list(r, false); /* libuv has reaped it */
	pc->exit_code = term_signal ? -1 : (int)status;
	pc->signal = term_signal;
	pc->status = term_signal ? 128 + term_signal : (int)status;
	if (!(pc->flags & PROC_FOREGROUND))
		kill_child(r); /* what it left in its group would hold the pipe */
	if (!r->eof)
		start_grace(r);
	maybe_done(r);
}

static void on_timeout(uv_timer_t *h)
{
	struct pc_run *r = h->data;

	if (r->exited)
		return; /* it ended in time; the grace timer waits for the pipe */
	r->pc->timed_out = true;
	kill_child(r);
	start_grace(r);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct pc_run *r = h->data;

	(void)suggested;
	*buf = uv_buf_init(r->rbuf, sizeof(r->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct pc_run *r = s->data;

	if (n > 0) {
		keep(r, buf->base, (size_t)n);
		return;
	}
	if (n == 0)
		return; /* EAGAIN */
	/* UV_EOF, or an error: either way nothing more will come. */
	stop_reading(r);
	maybe_done(r);
}

/* ---- the start ---- */

/* A memfd holding pc->in, at offset 0, or -errno. */
static int stdin_fd(const struct proc_capture *pc)
{
	int fd = memfd_create("casebisect-stdin", MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (cb_write_all(fd, pc->in, pc->in_len) || lseek(fd, 0, SEEK_SET) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* Spawns the child with the pipe's write end as its stdout; 0 or a libuv
 * code. The write end is ours to close either way. */
static int spawn(uv_loop_t *loop, struct pc_run *r, int wfd)
{
	struct proc_capture *pc = r->pc;
	uv_process_options_t po;
	uv_stdio_container_t stdio[3];
	int in = -1, rc;

	memset(&po, 0, sizeof(po));
	memset(stdio, 0, sizeof(stdio));
	stdio[0].flags = UV_IGNORE; /* libuv gives the child /dev/null */
	if (pc->in) {
		if ((in = stdin_fd(pc)) < 0)
			return in;
		stdio[0].flags = UV_INHERIT_FD;
		stdio[0].data.fd = in;
	}
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = wfd;
	stdio[2].flags = UV_IGNORE;
	if (pc->flags & PROC_MERGE_STDERR) {
		stdio[2].flags = UV_INHERIT_FD;
		stdio[2].data.fd = wfd;
	} else if (pc->flags & PROC_INHERIT_STDERR) {
		stdio[2].flags = UV_INHERIT_FD;
		stdio[2].data.fd = 2;
	}
	po.file = pc->file ? pc->file : pc->argv[0];
	po.args = (char **)pc->argv;
	po.env = (char **)pc->env;
	po.cwd = pc->cwd;
	po.exit_cb = on_exit_cb;
	po.flags = pc->flags & PROC_FOREGROUND ? 0 : UV_PROCESS_DETACHED;
	po.stdio = stdio;
	po.stdio_count = 3;
	r->proc.data = r;
	r->proc_open = true; /* closed even when uv_spawn fails (libuv's rule) */
	r->handles++;
	rc = uv_spawn(loop, &r->proc, &po);
	if (in >= 0)
		close(in);
	return rc;
}

int proc_capture_start(uv_loop_t *loop, struct proc_capture *pc, proc_capture_cb *done, void *ctx)
{
	struct pc_run *r = xcalloc(1, sizeof(*r));
	uv_file fds[2] = { -1, -1 };
	int rc;

	assert(pc->argv && pc->argv[0] && done);
	pc->priv = r;
	pc->out = NULL;
	pc->len = 0;
	pc->cut = pc->timed_out = pc->abandoned = false;
	pc->status = pc->exit_code = -1;
	pc->signal = pc->error = 0;
	pc->pid = 0;
	r->pc = pc;
	r->done = done;
	r->ctx = ctx;
	if ((rc = uv_timer_init(loop, &r->timeout)) || (rc = uv_timer_init(loop, &r->grace)))
		die("proc_capture: uv_timer_init: %s", uv_strerror(rc));
	r->timeout.data = r->grace.data = r;
	r->handles = 2;

	rc = uv_pipe(fds, UV_NONBLOCK_PIPE, 0);
	if (!rc) {
		rc = spawn(loop, r, fds[1]);
		close(fds[1]); /* the child has its copies; EOF comes when they close */
	}
	if (rc) {
		if (fds[0] >= 0)
			close(fds[0]);
		pc->error = rc;
		r->eof = true;
		/* no exit will come; a failed uv_spawn's handle is closed all the same */
		r->exited = true;
		maybe_done(r);
		return rc;
	}
	pc->pid = r->proc.pid;
	list(r, true);
	if ((rc = uv_pipe_init(loop, &r->pipe, 0)))
		die("proc_capture: uv_pipe_init: %s", uv_strerror(rc));
	r->pipe.data = r;
	r->pipe_open = true;
	r->handles++;
	if ((rc = uv_pipe_open(&r->pipe, fds[0])))
		close(fds[0]); /* not the handle's: ours to close */
	else
		rc = uv_read_start((uv_stream_t *)&r->pipe, on_alloc, on_read);
	if (rc) {
		/* Not seen with a fresh pipe; still, end the child. */
		pc->error = rc;
		r->eof = true;
		kill_child(r);
	}
	if (pc->timeout_s > 0) {
		double ms = pc->timeout_s * 1000.0 + 0.5;

		rc = uv_timer_start(&r->timeout, on_timeout,
				    ms < 1.0 ? 1 : ms > 1e15 ? (uint64_t)1e15 : (uint64_t)ms, 0);
		if (rc)
			die("proc_capture: uv_timer_start: %s", uv_strerror(rc));
	}
	return 0;
}

/* ---- the blocking form ---- */

static void on_done(struct proc_capture *pc, void *ctx)
{
	(void)pc;
	*(bool *)ctx = true;
}

int proc_capture_run(struct proc_capture *pc, char *err, size_t errlen)
{
	uv_loop_t loop;
	bool over = false;
	int rc;

	if ((rc = uv_loop_init(&loop)))
		die("proc_capture: uv_loop_init: %s", uv_strerror(rc));
	proc_capture_start(&loop, pc, on_done, &over);
	rc = uv_run(&loop, UV_RUN_DEFAULT);
	assert(over && !rc);
	rc = uv_loop_close(&loop);
	assert(!rc && "proc_capture: a libuv handle was left open");
	return proc_capture_result(pc, err, errlen);
}

int proc_capture_result(const struct proc_capture *pc, char *err, size_t errlen)
{
	const char *name = pc->file ? pc->file : pc->argv[0];

	if (pc->timed_out) {
		cb_set_err(err, errlen, "'%s': did not end within %g s; %s was killed%s", name,
			   pc->timeout_s,
			   pc->flags & PROC_FOREGROUND ? "it" : "its process group",
			   pc->abandoned ? " (and it did not exit after SIGKILL)" : "");
		return UV_ETIMEDOUT;
	}
	if (pc->error && !pc->pid) {
		cb_set_err(err, errlen, "cannot run '%s': %s", name, uv_strerror(pc->error));
		return pc->error;
	}
	if (pc->error) {
		cb_set_err(err, errlen, "'%s': cannot read its output: %s", name,
			   uv_strerror(pc->error));
		return pc->error;
	}
	return 0;
}

void proc_capture_release(struct proc_capture *pc)
{
	if (!pc)
		return;
	free(pc->out);
	pc->out = NULL;
	pc->len = 0;
}
