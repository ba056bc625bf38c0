/* proctree: finding the processes of a trial, signalling and reaping them,
 * and ending what a killed casebisect left behind (sup_end_stale()). Private
 * to the supervisor: supervise.c and the launchers. */
#ifndef CASEBISECT_PROCTREE_H
#define CASEBISECT_PROCTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A set of pids that keeps the order they came in: the queue of a walk
 * down our process tree, and the processes a trial's end has SIGKILLed. */
struct pidset {
	pid_t *v;     /* in the order added */
	size_t n;
	pid_t *slot;  /* open addressing on the pid; 0: empty */
	size_t nslot; /* 0, or a power of two of at least 2 * (n + 1) */
};

/* What a look at a trial needs to know of it. The supervisor keeps one per
 * running trial, linked through next. */
struct pt_trial {
	struct pt_trial *next; /* the supervisor's next running trial */
	pid_t pid;             /* the main process (its group's id), once spawned */
	bool spawned;
	/* Only the trial's process group is ours (Slurm: the job's processes
	 * are Slurm's to end, even when casebisect dies). */
	bool group_only;
	char trial_marker[64]; /* CASEBISECT_TRIAL=n */
	char sup_marker[64];   /* CASEBISECT_SUPERVISOR=<our pid> */
	struct pidset killed;  /* SIGKILLed while it ended: counted once */
	size_t leftovers_killed; /* processes of it that outlived the main one */
};

/*
 * Counts the processes of t still alive (zombies included until reaped),
 * sends sig to each when sig != 0 (and to t's group), and reaps the zombies
 * adopted by casebisect by pid. running lists every running trial of the
 * supervisor, t among them: their processes are not t's. A SIGKILL counts
 * each process other than the main one once in t->leftovers_killed.
 */
size_t pt_scan(struct pt_trial *t, struct pt_trial *running, int sig);

/* When pid started (field 22 of /proc/PID/stat, clock ticks since boot);
 * with the pid it names a process for good. 0 when pid is gone. */
unsigned long long pt_start_time(pid_t pid);

/* Frees what t->killed holds. */
void pt_release(struct pt_trial *t);

#endif
