/* gpu_child: a short-lived child process that talks to a CUDA library for
 * us (discovery, the health probe), as both sides see it: the child sends
 * stage records and at last its answer over a pipe; the parent reads them
 * until a deadline, then kills and reaps the child by its pid. The design
 * note in gpu_child.c says why. Private to the gpu module (gpu*.c).
 *
 * The parent's steps:
 *  1. gpu_child_start(): fork; the child runs task(fd, arg) and _exit()s;
 *  2. gpu_child_collect(): read its answer (or give up at the deadline);
 *  3. gpu_child_reap(): wait for it, SIGKILL at the deadline, and give up
 *     a short grace later (it is then GPU_LEFT_BEHIND);
 *  4. read c->end, c->reaped, c->status and c->where to say how it went.
 */
#ifndef CASEBISECT_GPU_CHILD_H
#define CASEBISECT_GPU_CHILD_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "casebisect/util.h"

/* The bytes of a stage's text, its end included. */
#define GPU_STAGE_LEN 320

enum gpu_collect_end { GPU_GOT_RESULT, GPU_NO_RESULT, GPU_TIMED_OUT };

enum gpu_reap_end {
	GPU_REAPED,     /* status holds how it ended */
	GPU_GONE,       /* reaped by the kernel (SIGCHLD ignored); status unknown */
	GPU_LEFT_BEHIND /* did not die within a grace of SIGKILL */
};

/* A child process that asks for us, as the parent sees it. */
struct gpu_child {
	pid_t pid;                 /* 0: not started */
	int fd;                    /* the read end of its pipe; -1 once closed */
	char where[GPU_STAGE_LEN]; /* its last stage */
	enum gpu_collect_end end;
	enum gpu_reap_end reaped;
	int status;                /* how it ended, when reaped == GPU_REAPED */
	double seconds;            /* from its start until its answer or the deadline */
	struct timespec start;
};

/* What a child does once its descriptors are set (fd, the pipe to the
 * parent, is all it holds): asks, sends stage records (gpu_child_stage)
 * and at last its answer (gpu_child_answer), and returns. */
typedef void (*gpu_child_task)(int fd, const void *arg);

/* In the child: tells the parent where the child is about to be, before it
 * goes there. */
void gpu_child_stage(int fd, const char *fmt, ...) CB_PRINTF(2, 3);

/* In the child: sends the answer (size bytes), its last record. */
void gpu_child_answer(int fd, const void *answer, size_t size);

/* The monotonic clock ms milliseconds from now. */
struct timespec gpu_deadline_after(int ms);

/* Seconds on the monotonic clock since t0. */
double gpu_seconds_since(const struct timespec *t0);

/* Starts task(arg) in a child whose first stage is what. 0, or -1 with err
 * filled ("fork: Resource temporarily unavailable"). */
int gpu_child_start(struct gpu_child *c, gpu_child_task task, const void *arg,
		    const char *what, char *err, size_t errlen);

/* Reads c's answer (size bytes) until the deadline, and closes its pipe. */
void gpu_child_collect(struct gpu_child *c, const struct timespec *deadline, void *answer,
		       size_t size);

/* Waits for c until the deadline, then kills it and waits a little more;
 * sets c->reaped and c->status. */
void gpu_child_reap(struct gpu_child *c, const struct timespec *deadline);

/* Appends "; NOUN process PID did not exit after SIGKILL" to buf when c
 * was left behind. */
void gpu_child_note_left_behind(const struct gpu_child *c, const char *noun, char *buf,
				size_t len);

#endif
