/* supervise: trials. A trial is one run of the user's command, watched from
 * start to end on libuv, that always ends, is classified, and leaves no
 * process behind. */
#ifndef CASEBISECT_SUPERVISE_H
#define CASEBISECT_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "casebisect/classify.h"

/*
 * How a trial is run and ended.
 *
 *  1. The command (argv, no shell) starts in its own session and process
 *     group, stdin from /dev/null, signal dispositions and mask reset, in
 *     the working directory asked for, with the caller's environment plus
 *     CUDA_LAUNCH_BLOCKING=1 (unless no_blocking), TORCH_USE_CUDA_DSA=1,
 *     PYTHONUNBUFFERED=1, PYTHONFAULTHANDLER=1, nnUNet_compile=f,
 *     CASEBISECT_TRIAL=<n>, CASEBISECT_SUPERVISOR=<our pid>, the slot's
 *     CUDA_VISIBLE_DEVICES, then the extra "K=V" entries of the options
 *     (--env), then the trial's own (its view's nnUNet_* folders); a later
 *     entry of the same name wins, and none is dropped, however many.
 *  2. stdout and stderr go through pipes into the classifier and into
 *     stdout.log and stderr.log in the trial directory: the first log_head
 *     bytes as they come, then only the last log_tail bytes (kept in
 *     memory, written at the end after a line that marks the cut).
 *  3. The trial ends at the first of: a failure (matching the target when
 *     there is one; then a settle time catches the rest of the assertion
 *     lines, cut short when the process is gone and both pipes are at
 *     EOF), a pass (exit 0, a CASEBISECT_PASS line: the marker as a word of
 *     its own, any prefix before it; pass_pattern,
 *     pass_after seconds without failure), the timeout, a stall (no output
 *     for stall seconds), sup_stop(), or the process's own exit.
 *  4. Ending, whatever the reason: SIGTERM to the process group and to every
 *     process that carries this trial's CASEBISECT_TRIAL and
 *     CASEBISECT_SUPERVISOR in its environment (/proc/PID/environ: workers
 *     that escaped with setsid) or, having also cleared its environment
 *     (`setsid env -i`), is an orphan re-parented to casebisect and not
 *     another running trial's), grace seconds, SIGKILL to the same (again
 *     at each look until none remains), and reaping. casebisect is a child
 *     subreaper, so escaped descendants are re-parented to it; they are
 *     reaped by pid, never with waitpid(-1), which would steal libuv's exit
 *     statuses. The processes are looked for among casebisect's own
 *     descendants (/proc/PID/task/TID/children), so a look costs the same
 *     however many processes the machine runs, and a process outside
 *     casebisect's tree is never a trial's; on a kernel without those files,
 *     among all of /proc.
 *  5. A trial is finished when its process has exited, both pipes are at
 *     EOF and no process of it remains; then its callback runs.
 */

/* A test hook: set (to anything but empty) in casebisect's environment, it
 * makes step 4 look for a trial's processes in all of /proc, as it must on a
 * kernel without /proc/PID/task/TID/children, instead of walking
 * casebisect's own process tree. Tests and bench_trial use it to run the
 * fallback on any kernel. */
#define SUP_FULL_SCAN_ENV "CASEBISECT_FULL_PROC_SCAN"

/* The variables of step 1 that casebisect gives every trial, in the order
 * it sets them: TORCH_USE_CUDA_DSA=1, PYTHONUNBUFFERED=1,
 * PYTHONFAULTHANDLER=1, nnUNet_compile=f, and last CUDA_LAUNCH_BLOCKING=1
 * unless no_blocking. A NULL-terminated array of static strings. The report
 * (report.md, repro.sh) lists the trials' variables from this same list. */
const char *const *sup_trial_env(bool no_blocking);

enum sup_outcome { SUP_PASS = 0, SUP_FAIL, SUP_UNRESOLVED };

/* The exit status by which a trainer says "skip this subset" (git bisect
 * run's 125): UNRESOLVED, reason SUP_R_SKIP. */
#define SUP_EXIT_SKIP 125

/* Why a trial ended as it did. */
enum sup_reason {
	SUP_R_EXIT_0 = 0,     /* PASS: exited with status 0 */
	SUP_R_PASS_MARKER,    /* PASS: printed CASEBISECT_PASS */
	SUP_R_PASS_PATTERN,   /* PASS: a line matched pass_pattern */
	SUP_R_PASS_AFTER,     /* PASS: ran pass_after seconds with no failure */
	SUP_R_FAILURE,        /* FAIL: the failure (the target's, when given) */
	SUP_R_OTHER_FAILURE,  /* UNRESOLVED: a failure other than the target */
	SUP_R_TIMEOUT,        /* UNRESOLVED: ran past the timeout */
	SUP_R_STALL,          /* UNRESOLVED: printed nothing for stall seconds */
	SUP_R_INTERRUPTED,    /* UNRESOLVED: sup_stop() */
	SUP_R_NOT_FOUND,      /* configuration error: command not found (127) */
	SUP_R_NOT_EXECUTABLE, /* configuration error: not executable (126) */
	SUP_R_SPAWN_ERROR,    /* configuration error: could not start it */
	/* --launcher slurm: Slurm ended the job (UNRESOLVED, never PASS or
	 * FAIL), or would not take it */
	SUP_R_SLURM_TIMEOUT,   /* "slurm_timeout": past Slurm's time limit */
	SUP_R_SLURM_CANCELLED, /* "slurm_cancelled": cancelled by someone else */
	SUP_R_SLURM_NODE_FAIL, /* "slurm_node_fail": its node failed */
	SUP_R_SLURM_PREEMPTED, /* "slurm_preempted": preempted */
	SUP_R_SLURM_OOM,       /* "slurm_oom": OOM-killed by Slurm's cgroup */
	SUP_R_SLURM_ALLOC,     /* "slurm_alloc_failed": no longer given (Unable to
				* allocate resources is SUP_R_SLURM_CONFIG now);
				* older journals hold it */
	SUP_R_SLURM_CONFIG,    /* "slurm_config_error": configuration error: Slurm
				* refuses the request before the job starts
				* (invalid partition, account, QOS, an srun option,
				* no controller, Unable to allocate resources);
				* error holds Slurm's line */
	SUP_R_WRITE_ERROR,     /* "write_error": UNRESOLVED whatever the trial did:
				* a file of it (a log, result.json, command.txt,
				* env.txt, pgid) could not be written, a full disk
				* most often; error names the file and why. The
				* trial was ended at once. */
	SUP_R_SKIP,            /* "skip": UNRESOLVED: exited with SUP_EXIT_SKIP
				* (125) before any failure of the target, as
				* `git bisect run` reads it: the trainer cannot
				* test this subset (too few cases for it, say) */
	SUP_R__COUNT
};

struct sup_limits {
	double timeout_s;    /* hard limit; 0: none */
	double stall_s;      /* no output at all for this long; 0: never */
	double pass_after_s; /* PASS after this long without failure; 0: never */
	double settle_s;     /* after a failure, before ending it (default 2) */
	double grace_s;      /* between SIGTERM and SIGKILL (default 10) */
	size_t log_head;     /* bytes kept from the start of each stream (1 MiB) */
	size_t log_tail;     /* bytes kept from the end of each stream (4 MiB) */
};

#define SUP_LIMITS_INIT { 0, 0, 0, 2.0, 10.0, (size_t)1 << 20, (size_t)4 << 20 }

/* Where trials run: here, or each as one Slurm job (include/casebisect/slurm.h
 * has the srun command line). With SUP_LAUNCH_SLURM, step 1 runs srun in
 * the trial's own process group with the environment built as above, minus
 * CUDA_VISIBLE_DEVICES (Slurm assigns the GPUs) and SLURM_JOB_ID/SLURM_JOBID
 * (so that srun makes a new job even inside an allocation); stall and
 * pass_after count from the job's start (the wrapper's CASEBISECT_SLURM
 * line), the timeout from srun's. Step 4 also runs `scancel` for the job (by
 * name) while srun is alive, and a trial is finished only once `squeue` no
 * longer lists the job (a job still listed after grace + 10 s is given up
 * on, with a word in error). Only srun's process group is ours: the job's
 * processes are Slurm's to end. Slurm's own lines on srun's output decide
 * the SUP_R_SLURM_* reasons. */
enum sup_launcher { SUP_LAUNCH_LOCAL = 0, SUP_LAUNCH_SLURM };

struct sup_result;

/* What the supervisor tells its owner along the way (for the log); every
 * hook may be NULL and gets ctx. */
struct sup_hooks {
	void *ctx;
	/* --launcher slurm: the job of trial r->number runs now, on r->node
	 * (r->slurm_job, r->gpu and r->slurm_gpus are set) */
	void (*started)(void *ctx, const struct sup_result *r);
	/* every heartbeat_s seconds while sup_run() runs trials (0: never) */
	void (*heartbeat)(void *ctx);
	double heartbeat_s;
	/* a signal asks to stop: text says so ("Interrupt: ending the running
	 * trials ..."); without this hook the supervisor prints it on stderr */
	void (*signal)(void *ctx, const char *text);
};

/* What every trial of a supervisor shares. Strings and arrays are borrowed:
 * they must outlive the supervisor. */
struct sup_options {
	struct sup_limits limits;
	bool no_blocking;               /* drop CUDA_LAUNCH_BLOCKING */
	const char *const *env;         /* extra "K=V", NULL-terminated; may be NULL */
	const char *cwd;                /* NULL: casebisect's own */
	const char *pass_pattern;       /* POSIX ERE; NULL: none */
	const char *batch_pattern;      /* POSIX ERE with one group; NULL: CASEBISECT_BATCH */
	const struct cls_signature *target; /* NULL: any failure is FAIL */
	enum cls_match match;           /* how a failure must agree with target */
	const int *gpus;                /* one device per slot group; may be NULL */
	size_t ngpus;                   /* 0: slots have no GPU (no CUDA_VISIBLE_DEVICES) */
	size_t per_gpu;                 /* trials per device (default 1) */
	size_t jobs;                    /* cap on trials at once; 0: ngpus * per_gpu, or 1 */
	enum sup_launcher launcher;
	const char *slurm_args;         /* srun options, split like sh does; may be NULL */
	const char *slurm_prefix;       /* job names: PREFIX<trial> (slurm_job_prefix()) */
	const char *slurm_exclude;      /* nodes to --exclude, comma separated; may be NULL */
	struct sup_hooks hooks;
};

/* One trial to run. Borrowed for the duration of sup_start() only. */
struct sup_trial_spec {
	uint64_t number;              /* CASEBISECT_TRIAL; also names the logs */
	const char *const *argv;      /* NULL-terminated, placeholders already expanded */
	const char *trial_dir;        /* exists; logs and result go there */
	const char *const *env;       /* extra "K=V" for this trial only; may be NULL */
};

/* How a trial ended. Owned by the supervisor; valid during the callback. */
struct sup_result {
	uint64_t number;
	enum sup_outcome outcome;
	enum sup_reason reason;
	struct cls_signature sig;     /* the classifier's answer, exit included */
	int exit_code;                /* -1 when killed by a signal */
	int signal;                   /* the signal that ended it, 0 when it exited */
	bool signal_sent_by_us;       /* that signal was ours (ending the trial) */
	double duration_s;
	double first_failure_s;       /* seconds to the first failure line; -1: none */
	char suspects[4096];          /* the cases of the last batch line before the
				       * failure, space separated; "" when none */
	char stdout_log[4096];
	char stderr_log[4096];
	int slot;                     /* the slot it ran in */
	int gpu;                      /* its device, -1 when none; Slurm: the first
				       * index Slurm gave the job */
	char node[64];                /* Slurm: the node it ran on; "" when none */
	long long slurm_job;          /* Slurm: the job ID; -1 when none */
	char slurm_gpus[64];          /* Slurm: SLURM_STEP_GPUS; "" when none */
	size_t leftovers_killed;      /* processes of it that outlived the main one */
	char error[512];              /* configuration and write errors, in words */
};

/* Fills r for trial number with nothing known yet: zeroes, and -1 where
 * the fields say -1 means none. */
void sup_result_init(struct sup_result *r, uint64_t number);

typedef void sup_done_fn(void *ctx, const struct sup_result *result);

struct sup;

/* Would sup_new() take these patterns (either may be NULL)? 0, or -1 with
 * err naming the option ("--pass-pattern '(': ..."): commands check them
 * before they create anything. */
int sup_check_patterns(const char *pass_pattern, const char *batch_pattern, char *err,
		       size_t errlen);

/* A new supervisor (it owns a libuv loop, and makes casebisect a child
 * subreaper). Returns NULL with a message in err when the options are bad
 * (a pattern that does not compile). Free with sup_free(). */
struct sup *sup_new(const struct sup_options *opts, char *err, size_t errlen);

/* The device of running trial number (its slot's), or -1: none, or not
 * running. */
int sup_trial_gpu(const struct sup *s, uint64_t number);

/* The slot of running trial number, or -1: not running. */
int sup_trial_slot(const struct sup *s, uint64_t number);

/* Free slots right now. */
size_t sup_free_slots(const struct sup *s);

/* Takes device gpu out of the rotation (its health probe failed): its
 * slots get no new trial; trials running there finish. Returns the slots
 * left in the rotation. */
size_t sup_retire_gpu(struct sup *s, int gpu);

/* Puts device gpu's slots back into the rotation: run.c takes a device out
 * while its health probe runs, and back when the probe passes. */
void sup_restore_gpu(struct sup *s, int gpu);

/* The supervisor's libuv loop, for work that must finish within sup_run()
 * (run.c's health probes on the thread pool): sup_run() returns only once
 * it is done. */
struct uv_loop_s *sup_loop(struct sup *s);

/* --launcher slurm: no further trial is sent to node (srun --exclude).
 * Returns the excluded nodes, comma separated (owned by s). */
const char *sup_exclude_node(struct sup *s, const char *node);

/* Starts a trial in a free slot; done(ctx, result) runs from sup_run() when
 * it is finished (and may start further trials). Returns 0, or -1 with a
 * message in err (no free slot, stopped, or a file of the trial that cannot
 * be written: the logs, command.txt, env.txt; the message names it). A command
 * that cannot be started at all is not an error here: it finishes at once
 * with reason SUP_R_NOT_FOUND / NOT_EXECUTABLE / SPAWN_ERROR. */
int sup_start(struct sup *s, const struct sup_trial_spec *spec, sup_done_fn *done, void *ctx,
	      char *err, size_t errlen);

/* Runs the loop until no trial is running. Handles SIGINT, SIGTERM and
 * SIGHUP: the first one ends every running trial as in step 4 (reason
 * SUP_R_INTERRUPTED) and refuses new ones; a second SIGINT kills them at
 * once. Returns 0, or 1 when it was interrupted. */
int sup_run(struct sup *s);

/* Has a signal (SIGINT, SIGTERM, SIGHUP) asked to stop, even between
 * trials? The supervisor watches them from sup_new() to sup_free(). */
bool sup_interrupted(struct sup *s);

/* Ends every running trial (reason SUP_R_INTERRUPTED), and refuses new
 * ones; now: SIGKILL at once instead of SIGTERM and grace. */
void sup_stop(struct sup *s, bool now);

/* Frees s; no trial may be running. NULL is a no-op. */
void sup_free(struct sup *s);

/* The result as JSON (what result.json in the trial directory holds, and
 * `trial --json` prints): trial, outcome, reason, class, signature, exit_code,
 * signal, signal_sent_by_us, duration_s, first_failure_s, suspects (an
 * array), stdout_log, stderr_log, slot, gpu, node, slurm_job, slurm_gpus,
 * leftovers_killed, error; null
 * where absent. The caller frees the text. */
char *sup_result_json(const struct sup_result *r, bool pretty);

/* Names as printed ("PASS", "timeout"). */
const char *sup_outcome_name(enum sup_outcome o);

/* Parses "local" or "slurm"; 0, or -1 when it is neither. */
int sup_launcher_parse(const char *name, enum sup_launcher *out);
const char *sup_reason_name(enum sup_reason r);

/*
 * A running trial's process group is recorded in TRIAL_DIR/pgid (with the
 * leader's start time, so a reused pid is never hit, and the supervisor's
 * pid) and the file is removed when the trial is finished. Trials run in
 * sessions of their own and outlive a killed casebisect; sup_end_stale()
 * ends what the file names (SIGTERM, grace_s, SIGKILL: the group while its
 * leader is the one recorded, and every process carrying that trial's
 * markers), then removes the file. Sets *ended to the processes found.
 * Returns 0 (nothing recorded is fine), or -1 with errno.
 */
int sup_end_stale(const char *trial_dir, double grace_s, size_t *ended);

/* Placeholders replaced inside any argument. Values are absolute paths (or,
 * for n, a number); NULL: that placeholder is not available here. */
struct sup_placeholders {
	const char *trial_dir;
	const char *cases_file;
	const char *files_file;
	const char *view;
	const char *n;
};

/* Returns a new NULL-terminated argv (free with sup_argv_free()) with
 * {trial_dir}, {n}, {cases_file}, {files_file} and {view} replaced; other
 * braces are left alone. NULL with a message in err when an argument uses a
 * placeholder that is not available ("{view} needs a dataset"). */
char **sup_expand_argv(const char *const *argv, const struct sup_placeholders *ph, char *err,
		       size_t errlen);
void sup_argv_free(char **argv);

#endif
