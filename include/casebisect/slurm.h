/* slurm: what casebisect needs to know about Slurm to run a trial as one
 * `srun` job: the srun command line, the job names, what Slurm's own lines
 * on srun's stderr mean, and (for resume) cancelling jobs left behind.
 * The Slurm launcher (launch_slurm.c) runs srun, scancel and squeue on the
 * supervisor's loop; this module builds their command lines and reads
 * their output. */
#ifndef CASEBISECT_SLURM_H
#define CASEBISECT_SLURM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A trial as a Slurm job:
 *
 *   srun --kill-on-bad-exit=1 --unbuffered SLURM_ARGS... [--exclude=NODES]
 *        --job-name=NAME --export=ALL -- /bin/sh -c WRAPPER casebisect-slurm
 *        COMMAND...
 *
 * NAME is casebisect-<basename of WORKDIR>-<trial>. SLURM_ARGS are the
 * user's --slurm-args, split as a shell would split them (quotes and
 * backslashes), without a shell. NODES merges an --exclude/-x the user gave
 * with the nodes casebisect excluded itself (srun keeps only the last; for
 * the same reason the job name and --export=ALL come after SLURM_ARGS: a
 * --job-name there cannot hide the job from casebisect).
 * The environment srun is started with travels to the job (--export=ALL).
 * WRAPPER is a two-line sh script run on the node: it prints one line,
 *
 *   CASEBISECT_SLURM job=<SLURM_JOB_ID> node=<SLURMD_NODENAME> gpus=<SLURM_STEP_GPUS>
 *
 * on stderr, then execs COMMAND with its arguments untouched ("$@"), so
 * COMMAND still runs without a shell of its own.
 */

/* The user's --slurm-args split into words. Returns 0 and a NULL-terminated
 * array in *out (free with slurm_words_free; *n words), or -1 with a message
 * in err (an unterminated quote). NULL or "" gives no words. */
int slurm_split_args(const char *s, char ***out, size_t *n, char *err, size_t errlen);
void slurm_words_free(char **words);

/* The job name prefix of a work directory: "casebisect-<basename>-" (the
 * basename with characters other than letters, digits, '.', '_' and '-'
 * replaced by '_'). The caller frees it. */
char *slurm_job_prefix(const char *workdir);

/* The srun argv for one trial (see above): prefix is slurm_job_prefix(),
 * words the split --slurm-args (may be NULL), exclude a comma-separated
 * node list (NULL or "": none), command the trial's argv. Returns a
 * NULL-terminated array whose strings are all owned by it (free with
 * slurm_words_free). */
char **slurm_srun_argv(const char *prefix, uint64_t trial, const char *const *words,
		       const char *exclude, const char *const *command);

/* What a line of srun's output (stdout or stderr) says about the job. */
enum slurm_event {
	SLURM_EV_NONE = 0,     /* not Slurm's */
	SLURM_EV_STARTED,      /* the wrapper's CASEBISECT_SLURM line */
	SLURM_EV_TIMEOUT,      /* "... DUE TO TIME LIMIT ***" */
	SLURM_EV_PREEMPTED,    /* "... DUE TO PREEMPTION ***" */
	SLURM_EV_NODE_FAIL,    /* "... DUE TO NODE FAILURE ***", NODE_FAIL */
	SLURM_EV_CANCELLED,    /* "*** JOB n ON node CANCELLED AT ...", allocation revoked */
	SLURM_EV_OOM,          /* oom_kill / oom-kill events of Slurm's cgroup */
	SLURM_EV_ALLOC_FAILED, /* "srun: error: Unable to allocate resources: ..." (other) */
	SLURM_EV_CONFIG_ERROR, /* the request itself is wrong: invalid partition,
				* account, QOS, gres, a node configuration no node
				* has, an option srun does not know; or Slurm is
				* not there: "Could not establish a configuration
				* source", "Socket timed out on send/recv", "Unable
				* to contact slurm controller"; any "srun: fatal:",
				* "sbatch: error" or "salloc: error" line */
};
/* The Slurm launcher takes SLURM_EV_ALLOC_FAILED and SLURM_EV_CONFIG_ERROR
 * as Slurm's refusal (SUP_R_SLURM_CONFIG: the run stops, exit 1, the trial
 * is not journaled) only before the job started (SLURM_EV_STARTED); after
 * it, such lines are the trainer's own and are ignored. */

/* What SLURM_EV_STARTED carried; "" / -1 where absent. */
struct slurm_start {
	long long job;     /* SLURM_JOB_ID */
	char node[64];     /* SLURMD_NODENAME */
	char gpus[64];     /* SLURM_STEP_GPUS (Slurm's GPU indices, comma separated) */
};

/* Reads one line (len bytes, no newline needed). Fills *start for
 * SLURM_EV_STARTED (start may be NULL). Pure: no I/O. */
enum slurm_event slurm_parse_line(const char *line, size_t len, struct slurm_start *start);

/* Does WORKDIR look local to this machine (under /tmp, /var/tmp, /dev/shm,
 * or on tmpfs)? Slurm's nodes could not see the views there. */
bool slurm_path_looks_local(const char *path);

/*
 * Cancels every job of the calling user whose name starts with prefix
 * (squeue, then scancel by job ID), and waits up to timeout_s seconds until
 * squeue lists none of them. Runs squeue and scancel on a private libuv
 * loop, synchronously: for resume, before any trial starts. Sets
 * *cancelled to the jobs found. Returns 0, or -1 with a message in err
 * (squeue could not run or failed; the jobs still listed after timeout_s).
 */
int slurm_cancel_prefix(const char *prefix, double timeout_s, size_t *cancelled, char *err,
			size_t errlen);

#endif
