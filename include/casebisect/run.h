/* run: the main job. Joins dataset, view, supervisor, reducer, journal and
 * report: find the target, check data dependence, search, confirm, report.
 * `casebisect run`, `resume`, `report` and `demo` are thin commands on it. */
#ifndef CASEBISECT_RUN_H
#define CASEBISECT_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "casebisect/classify.h"
#include "casebisect/dataset.h"
#include "casebisect/reduce.h"
#include "casebisect/supervise.h"
#include "casebisect/run_options.h"

enum run_prior { RUN_PRIOR_NONE = 0, RUN_PRIOR_BATCH = 1, RUN_PRIOR_AUDIT = 2 };
enum run_events { RUN_EVENTS_AUTO = 0, RUN_EVENTS_PLAIN, RUN_EVENTS_JSON };

/*
 * Everything asked. WORKDIR/run.json holds it as JSON (config_json in
 * src/run_config.c; its "options" are the rows of run_options.h):
 *
 *   {"schema_version": 1,
 *    "dataset": {"path": ABS, "format": "nnunet-raw", "configuration": null,
 *                "plans": null, "digest": "16 hex",
 *                "content_digests": {"dataset.json": "16 hex", ...}},
 *    "command": ["argv0", ...],           (placeholders not expanded)
 *    "env": ["K=V", ...],                 (--env, in order)
 *    "options": {"match": "kernel", "strategy": "find-all", "prior": "batch",
 *                "gpus": "auto", "per_gpu": 1, "jobs": 0, "timeout": 0,
 *                "stall": 0, "pass_after": 0, "settle": 2, "grace": 10,
 *                "pass_pattern": null, "batch_pattern": null,
 *                "no_blocking": false, "cwd": null, "repeat": 0, "confirm": 0,
 *                "retries": 1, "min_cases": 0, "target_log": null,
 *                "env_cmd": null, "cudart": null, "keep_views": false, "seed": 1}}
 *
 * With --launcher slurm, options also hold "launcher": "slurm" and
 * "slurm_args": "..." (absent: local, so older work directories resume).
 *
 * --max-trials and --deadline are not in it: resume may set them anew.
 * With --flaky, options also hold "flaky": true (absent: false, so older
 * work directories resume). It changes the search's proposals, so resume
 * keeps it (jrn_check_run refuses a change): the journal replays the
 * search.
 */
struct run_config {
	/* the dataset ("dataset" in run.json) */
	const char *dataset;            /* as given; made absolute in run.json */
	struct ds_options dso;
	/* the command and its environment */
	const char *const *command;     /* NULL-terminated */
	const char *const *env;         /* --env "K=V", NULL-terminated; may be NULL */
	/* "options" in run.json: one field per row of run_options.h. Of note:
	 * timeout_s 0 is 3x the first full run, at least 600 s; cwd and
	 * target_log are absolute; gpus is "auto", "none" or "0,1"; prior holds
	 * RUN_PRIOR_* bits; pictures is an enum pic_mode (pictures.h), which
	 * only the report depends on; env_cmd is a shell command whose output
	 * goes in the report; cudart NULL: search for the CUDA runtime. */
#define RUN_CONFIG_FIELD(field, ctype, kind, dflt, key, resume, when) ctype field;
	RUN_OPTIONS(RUN_CONFIG_FIELD)
#undef RUN_CONFIG_FIELD
	/* not in run.json: resume may set them anew */
	uint64_t max_trials;            /* 0: none */
	double deadline;                /* Unix time; 0: none */
	enum run_events events;
	const char *workdir;            /* absolute */
	bool workdir_exists_ok;         /* the demo: its dataset is already in it */
};

/* The defaults of run_options.h, the rest 0. */
void run_config_init(struct run_config *c);

/* The supervisor's limits from c's options. */
struct sup_limits run_limits(const struct run_config *c);


/*
 * Starts a new run in c->workdir (refused when it is a casebisect work
 * directory: "resume it"; or any other non-empty folder), or resumes the one
 * there (c is then read from its run.json by run_resume()). Prints progress
 * on stdout and errors on stderr; returns the exit code (cli.h's cb_exit).
 */
int run_start(const struct run_config *c);

/* Can argv0 be run as execvp would find it: from cwd (may be NULL) when it
 * holds a '/', else on the PATH of env (--env "PATH=..."; may be NULL) or
 * of this process? */
bool run_command_runnable(const char *argv0, const char *cwd, const char *const *env);
/* What resume may change in a run's options (the slots and where trials
 * run; never what a trial is): 0 / NULL / -1 keep run.json's value. The
 * search keeps the split it began with (WORKDIR/search.json), so its
 * journal still replays. The new values are written to run.json. */
struct run_overrides {
	size_t jobs, per_gpu;
	const char *gpus;
	int launcher;            /* enum sup_launcher, or -1 */
	const char *slurm_args;
};

int run_resume(const char *workdir, uint64_t max_trials, double deadline,
	       const struct run_overrides *o,
	       enum run_events events);

/* Renders WORKDIR's report again from its journal (format "md" or "json")
 * on stdout, and rewrites report.json and report.md. Returns an exit code. */
int run_report(const char *workdir, const char *format);

#endif
