/* proc_capture: a short child run for what it prints and how it ends (git's
 * capture_command): squeue, scancel, the environment command, the demo's
 * dataset generator. Trials are not short children: supervise.h runs them. */
#ifndef CASEBISECT_PROC_CAPTURE_H
#define CASEBISECT_PROC_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct uv_loop_s;

/* Where the child's stderr goes, and how its output is kept. Bits. */
enum proc_capture_flags {
	/* stderr into the same pipe as stdout, so that the lines come in the
	 * order the child wrote them (2>&1); default: /dev/null */
	PROC_MERGE_STDERR = 1 << 0,
	/* stderr to casebisect's own stderr; default: /dev/null */
	PROC_INHERIT_STDERR = 1 << 1,
	/* over the cap, keep the last max_out bytes; default: the first */
	PROC_KEEP_TAIL = 1 << 2,
	/* stay in casebisect's process group, so that a Ctrl-C at the terminal
	 * reaches the child too (the demo's generator); default: a session and
	 * process group of its own, which a Ctrl-C meant for casebisect does
	 * not reach (scancel must run while casebisect ends) */
	PROC_FOREGROUND = 1 << 3,
};

/*
 * How a short child is run:
 *
 *  1. argv (no shell; file, or argv[0], looked up in PATH) starts with stdin from
 *     the `in` bytes (NULL: /dev/null), in cwd (NULL: casebisect's), with
 *     env (a whole "K=V" environment; NULL: casebisect's), in a session and
 *     process group of its own unless PROC_FOREGROUND.
 *  2. stdout (and stderr with PROC_MERGE_STDERR) is read as it comes; the
 *     first max_out bytes are kept (the last, with PROC_KEEP_TAIL), the
 *     rest read and dropped, and `cut` says so. max_out 0 keeps nothing.
 *  3. It is over when the process has exited AND its output pipe is at
 *     EOF. When it exits, what it left running in its process group is
 *     SIGKILLed (not with PROC_FOREGROUND: that group is casebisect's).
 *  4. A time limit (timeout_s > 0): the child's process group (the child
 *     alone with PROC_FOREGROUND) is SIGKILLed, and `timed_out` says so.
 *  5. A process out of reach of the group kill (it made a session of its
 *     own) may hold the pipe: one second after the exit, or after the
 *     kill, the pipe is closed all the same; a child that SIGKILL did not
 *     end within that second (stuck in the kernel) is given up on
 *     (`abandoned`): a process left behind beats a hung casebisect.
 *
 * The caller fills the fields above "results" (PROC_CAPTURE_INIT zeroes the
 * rest); strings are borrowed until the end. The results are valid once
 * proc_capture_run() returns, or in the callback of proc_capture_start().
 * `out` is always a NUL-terminated string then, owned by the struct: free
 * it with proc_capture_release().
 */
struct proc_capture {
	const char *const *argv;  /* NULL-terminated */
	const char *file;         /* the program; NULL: argv[0] */
	const char *const *env;   /* NULL: casebisect's environment */
	const char *cwd;          /* NULL: casebisect's */
	const char *in;           /* stdin bytes; NULL: /dev/null */
	size_t in_len;
	double timeout_s;         /* 0: none */
	size_t max_out;           /* bytes of output kept */
	unsigned flags;           /* enum proc_capture_flags */

	/* results */
	char *out;                /* the output kept, NUL-terminated */
	size_t len;
	bool cut;                 /* more than max_out bytes came */
	bool timed_out;           /* step 4 killed it */
	bool abandoned;           /* step 5 gave up on it */
	int status;               /* exit status 0..255, 128 + N for signal N, as a
				   * shell says; -1 when it did not start or was
				   * abandoned */
	int exit_code;            /* -1 when a signal ended it */
	int signal;               /* the signal that ended it, 0 when it exited */
	int error;                /* 0, or the libuv error that kept it from
				   * starting (UV_ENOENT: not on PATH) or its
				   * output from being read */
	pid_t pid;                /* while it runs; 0 when it did not start */

	void *priv;               /* the running state: not the caller's */
};

#define PROC_CAPTURE_INIT { 0 }

/* Runs pc to its end on a libuv loop of its own (so it may be called
 * before, outside or inside another loop's callback) and returns:
 * 0 when it ended by itself (pc->status), or a negative libuv code with a
 * message in err that names the program: pc->error ("cannot run 'squeue':
 * no such file or directory"), or UV_ETIMEDOUT ("'sleep': did not end
 * within 2 s; its process group was killed"). */
int proc_capture_run(struct proc_capture *pc, char *err, size_t errlen);

typedef void proc_capture_cb(struct proc_capture *pc, void *ctx);

/* Starts pc on loop (the supervisor's) and returns at once: 0, or the
 * libuv error that kept it from starting (pc->error). Either way done(pc,
 * ctx) runs from that loop, exactly once, when pc is over and every handle
 * of it is closed (it may free pc after proc_capture_release()); pc must
 * stay where it is until then. */
int proc_capture_start(struct uv_loop_s *loop, struct proc_capture *pc, proc_capture_cb *done,
		       void *ctx);

/* What the end of pc means, as proc_capture_run() returns it: 0, or a
 * negative libuv code with a message in err (may be NULL). */
int proc_capture_result(const struct proc_capture *pc, char *err, size_t errlen);

/* Is pid the process of a proc_capture that libuv will reap (started and
 * not yet over)? The supervisor reaps adopted zombies by pid, and must
 * leave these alone. */
bool proc_capture_running(pid_t pid);

/* Frees pc->out. NULL is a no-op. */
void proc_capture_release(struct proc_capture *pc);

#endif
