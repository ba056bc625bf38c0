/* envcmd: a shell command run for what it prints, with a timeout that kills
 * its whole process group; see include/casebisect/envcmd.h. */
#include <assert.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "casebisect/envcmd.h"
#include "casebisect/util.h"

/*
 * Design note: one pipe, one loop.
 *
 * stdout and stderr share one pipe, as `2>&1` would: a Python traceback
 * then sits after the line that was printed before it, which two pipes read
 * in turn cannot promise. The loop is our own, not the caller's, so that
 * envcmd_run() is a plain blocking call, and every handle is closed and the
 * loop closed before it returns.
 *
 * The command is done when the shell has exited AND the pipe has reached
 * EOF (tmux's job.c). Anything the shell leaves running in its group is
 * killed when it exits: it would hold the pipe open, and an environment
 * query has nothing to leave behind. A process that made a session of its
 * own escapes the group kill; GRACE_MS after the end (or after the kill at
 * the timeout) we stop waiting for the pipe and close it ourselves, and
 * after the same grace stop waiting for a shell that SIGKILL did not end
 * (stuck in the kernel): a process left behind beats a hung casebisect.
 */

#define READ_BUF (64 * 1024)
#define GRACE_MS 1000
#define CMD_SHOWN 100 /* bytes of the command quoted in messages */

struct envcmd {
	uv_loop_t loop;
	uv_process_t proc;
	uv_pipe_t pipe;
	uv_timer_t timeout, grace;
	bool pipe_init, timers_init;
	int pid;

	bool exited, eof, timed_out, abandoned;
	int read_error; /* a libuv error code when the pipe could not be read */
	int64_t exit_status;
	int term_signal;

	char *buf; /* the output kept; len bytes, cap allocated */
	size_t len, cap, max;
	bool cut;
	char rbuf[READ_BUF];
};

/* Keeps what still fits under the cap; notes that the rest was cut. */
static void keep(struct envcmd *e, const char *p, size_t n)
{
	size_t room = e->max - e->len, want;

	if (n > room) {
		e->cut = true;
		n = room;
	}
	if (!n)
		return;
	if (e->len + n > e->cap) {
		/* Doubling, up to the cap: len + n <= max, so min(want, max)
		 * still holds it. */
		want = e->cap ? e->cap : 4096;
		while (want < e->len + n)
			want = want > SIZE_MAX / 2 ? e->len + n : want * 2;
		if (want > e->max)
			want = e->max;
		e->buf = xrealloc(e->buf, want);
		e->cap = want;
	}
	memcpy(e->buf + e->len, p, n);
	e->len += n;
}

static void stop_timers(struct envcmd *e)
{
	uv_timer_stop(&e->timeout);
	uv_timer_stop(&e->grace);
}

/* Done when the shell has exited and the pipe is at its end; what keeps
 * the loop running is then stopped, and uv_run() returns. */
static void maybe_done(struct envcmd *e)
{
	if ((e->exited || e->abandoned) && e->eof)
		stop_timers(e);
}

/* Starts the grace timer once: after the end or after the kill. */
static void start_grace(struct envcmd *e, uv_timer_cb cb)
{
	if (!uv_is_active((uv_handle_t *)&e->grace))
		uv_timer_start(&e->grace, cb, GRACE_MS, 0);
}

static void kill_group(struct envcmd *e)
{
	/* ESRCH (the group is empty) is the usual answer after an exit. */
	uv_kill(-e->pid, SIGKILL);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct envcmd *e = h->data;

	(void)suggested;
	*buf = uv_buf_init(e->rbuf, sizeof(e->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct envcmd *e = s->data;

	if (n > 0) {
		keep(e, buf->base, (size_t)n);
		return;
	}
	if (n == 0)
		return; /* EAGAIN */
	/* UV_EOF, or an error: either way nothing more will come. */
	uv_read_stop(s);
	e->eof = true;
	maybe_done(e);
}

static void on_grace(uv_timer_t *t)
{
	struct envcmd *e = t->data;

	if (!e->eof) {
		uv_read_stop((uv_stream_t *)&e->pipe);
		e->eof = true;
	}
	if (!e->exited && !e->abandoned) {
		e->abandoned = true;
		uv_close((uv_handle_t *)&e->proc, NULL);
	}
	maybe_done(e);
}

static void on_process_exit(uv_process_t *p, int64_t exit_status, int term_signal)
{
	struct envcmd *e = p->data;

	e->exited = true;
	e->exit_status = exit_status;
	e->term_signal = term_signal;
	kill_group(e);
	if (!e->eof)
		start_grace(e, on_grace);
	maybe_done(e);
}

static void on_timeout(uv_timer_t *t)
{
	struct envcmd *e = t->data;

	if (e->exited)
		return; /* it ended in time; the grace timer waits for the pipe */
	e->timed_out = true;
	kill_group(e);
	start_grace(e, on_grace);
}

/* Cuts buf back to a whole UTF-8 character, when the cap split one, and
 * marks the cut. */
static void mark_cut(struct envcmd *e)
{
	static const char mark[] = ENVCMD_CUT_MARK "\n";
	size_t k = e->len;

	while (k > 0 && e->len - k < 4 && ((unsigned char)e->buf[k - 1] & 0xc0) == 0x80)
		k--;
	if (k > 0 && (unsigned char)e->buf[k - 1] >= 0xc0 &&
	    !cb_utf8_seq_len((const unsigned char *)e->buf + k - 1, e->len - (k - 1)))
		e->len = k - 1;
	e->buf = xrealloc(e->buf, e->len + 1 + sizeof(mark));
	if (e->len && e->buf[e->len - 1] != '\n')
		e->buf[e->len++] = '\n';
	memcpy(e->buf + e->len, mark, sizeof(mark) - 1);
	e->len += sizeof(mark) - 1;
}

static void close_all(struct envcmd *e)
{
	if (!uv_is_closing((uv_handle_t *)&e->proc))
		uv_close((uv_handle_t *)&e->proc, NULL);
	if (e->pipe_init)
		uv_close((uv_handle_t *)&e->pipe, NULL);
	if (e->timers_init) {
		uv_close((uv_handle_t *)&e->timeout, NULL);
		uv_close((uv_handle_t *)&e->grace, NULL);
	}
	uv_run(&e->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&e->loop) != 0)
		assert(!"envcmd: a handle was left open");
}

/* The command as messages quote it: cut, on one line. */
static void shown(const char *cmd, char *buf, size_t len)
{
	size_t n = strcspn(cmd, "\n");

	if (n > CMD_SHOWN)
		snprintf(buf, len, "%.*s...", CMD_SHOWN, cmd);
	else if (cmd[n])
		snprintf(buf, len, "%.*s...", (int)n, cmd);
	else
		snprintf(buf, len, "%s", cmd);
}

int envcmd_run(const char *shell_cmd, double timeout_s, char **out, size_t max_bytes,
	       int *status, char *err, size_t errlen)
{
	struct envcmd *e;
	uv_process_options_t opts;
	uv_stdio_container_t stdio[3];
	char *args[4], what[CMD_SHOWN + 8];
	uv_file fds[2];
	uint64_t ms;
	double ms_d;
	int r, ret = ENVCMD_OK;

	assert(shell_cmd && out && status);
	assert(timeout_s > 0);
	*out = NULL;
	*status = -1;
	shown(shell_cmd, what, sizeof(what));
	e = xcalloc(1, sizeof(*e));
	e->max = max_bytes;
	r = uv_loop_init(&e->loop);
	if (r < 0)
		die("uv_loop_init: %s", uv_strerror(r));

	r = uv_pipe(fds, UV_NONBLOCK_PIPE, 0);
	if (r < 0) {
		cb_set_err(err, errlen, "'%s': cannot start it: pipe: %s", what, uv_strerror(r));
		uv_loop_close(&e->loop);
		ret = ENVCMD_ERR_START;
		goto out;
	}
	args[0] = "sh";
	args[1] = "-c";
	args[2] = (char *)shell_cmd;
	args[3] = NULL;
	memset(&opts, 0, sizeof(opts));
	memset(stdio, 0, sizeof(stdio));
	stdio[0].flags = UV_IGNORE; /* libuv gives the child /dev/null */
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = fds[1];
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = fds[1];
	opts.file = "/bin/sh";
	opts.args = args;
	opts.exit_cb = on_process_exit;
	opts.flags = UV_PROCESS_DETACHED; /* its own session and process group */
	opts.stdio = stdio;
	opts.stdio_count = 3;
	e->proc.data = e;
	r = uv_spawn(&e->loop, &e->proc, &opts);
	close(fds[1]); /* the child has its copies; EOF comes when they close */
	if (r < 0) {
		cb_set_err(err, errlen, "'%s': cannot start /bin/sh: %s", what, uv_strerror(r));
		close(fds[0]);
		close_all(e);
		ret = ENVCMD_ERR_START;
		goto out;
	}
	e->pid = e->proc.pid;

	uv_pipe_init(&e->loop, &e->pipe, 0);
	e->pipe_init = true;
	e->pipe.data = e;
	r = uv_pipe_open(&e->pipe, fds[0]);
	if (r < 0)
		close(fds[0]); /* not the handle's: ours to close */
	else
		r = uv_read_start((uv_stream_t *)&e->pipe, on_alloc, on_read);
	if (r < 0) {
		/* Not seen with a fresh pipe; still, end the command. */
		e->read_error = r;
		e->eof = true;
		kill_group(e);
	}
	uv_timer_init(&e->loop, &e->timeout);
	uv_timer_init(&e->loop, &e->grace);
	e->timers_init = true;
	e->timeout.data = e->grace.data = e;
	ms_d = timeout_s * 1000.0 + 0.5;
	ms = ms_d < 1.0 ? 1 : ms_d > 1e15 ? (uint64_t)1e15 : (uint64_t)ms_d;
	uv_timer_start(&e->timeout, on_timeout, ms, 0);

	uv_run(&e->loop, UV_RUN_DEFAULT);
	close_all(e);

	if (e->cut)
		mark_cut(e);
	if (e->timed_out) {
		cb_set_err(err, errlen, "'%s': did not end within %g s; its process group was killed%s",
			   what, timeout_s,
			   e->abandoned ? " (and the shell did not exit after SIGKILL)" : "");
		ret = ENVCMD_ERR_TIMEOUT;
	} else if (e->read_error) {
		cb_set_err(err, errlen, "'%s': cannot read its output: %s", what,
			   uv_strerror(e->read_error));
		ret = ENVCMD_ERR_START;
	} else {
		*status = e->term_signal ? 128 + e->term_signal : (int)e->exit_status;
	}
out:
	*out = xmalloc(e->len + 1);
	if (e->len)
		memcpy(*out, e->buf, e->len);
	(*out)[e->len] = '\0';
	free(e->buf);
	free(e);
	return ret;
}
