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
 * Everything asked. WORKDIR/run.json holds it as JSON (run_config_json() in
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
 *                "log_head": 1048576, "log_tail": 4194304, "pass_pattern": null, "batch_pattern": null,
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
 * search. With --pictures image or none, options also hold "pictures"
 * (absent: label). With --on-exit CMD, options also hold "on_exit": CMD
 * (absent: none); resume may change it. "command_line" is casebisect's own
 * command line, as a shell line (`casebisect run ...` or `casebisect nnunet ...`),
 * for the report (absent in older work directories).
 * With --synthetic, options also hold "synthetic": true (the run's end
 * makes WORKDIR/synthetic, synth.h).
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
	enum run_events events;         /* the command layer's: how cmd_progress.c renders */
	const char *workdir;            /* absolute */
	bool workdir_exists_ok;         /* the demo: its dataset is already in it */
};

/* The defaults of run_options.h, the rest 0. */
void run_config_init(struct run_config *c);

/* The supervisor's limits from c's options. */
struct sup_limits run_limits(const struct run_config *c);


/* How a run ended; the commands exit with these numbers (cli.h's cb_exit). */
enum run_exit {
	RUN_EXIT_OK = 0,             /* answered */
	RUN_EXIT_ERROR = 1,          /* bad input, I/O error: a RUN_MSG_ERROR said why */
	RUN_EXIT_USAGE = 2,          /* the command cannot work on this dataset */
	RUN_EXIT_NOT_REPRODUCED = 3, /* the failure did not reproduce */
	RUN_EXIT_NOT_DATA = 4,       /* the failure is not data-dependent */
	RUN_EXIT_INTERRUPTED = 5,    /* interrupted; resumable */
	RUN_EXIT_UNDETERMINED = 6,   /* out of trials or time, or too unresolved */
};

/* What a run found; run_result_release() frees it. */
struct run_result {
	enum run_exit exit;
	char verdict[32];               /* "culprits_found", ...; "" when none */
	char **culprits, **undecided;   /* case IDs, NULL-terminated */
	size_t nculprits, nundecided;
	char *explanation;              /* a paragraph, unwrapped */
	char *confidence;               /* the confidence sentence, or NULL */
	size_t trials;                  /* finished, in all sessions */
	double wall_s;                  /* wall time, in all sessions */
	char *workdir;                  /* absolute */
	bool report_written;            /* WORKDIR/report.md and report.json */
	bool bundle_written;            /* WORKDIR/bundle.tar.gz */
	char *synthetic;                /* --synthetic: its tarball, or NULL */
	char *synthetic_note;           /* ... and the line on sharing it */
};

void run_result_release(struct run_result *res);

/* What the engine tells along the way, for the command layer to render
 * (src/cmd_progress.c: the terminal, log files, --json-events). Any
 * callback may be NULL; ctx is handed to each. The engine never writes
 * to stdout or stderr itself. */
enum run_msg {
	RUN_MSG_ERROR,   /* why the run failed */
	RUN_MSG_HINT,    /* what to do about the error just told */
	RUN_MSG_WARNING, /* the run goes on */
	RUN_MSG_NOTE,    /* a word at the end: "interrupted; ..." */
};

struct cJSON;

struct run_progress {
	void *ctx;
	/* a line for people: "trial 3 (search, 4 cases): PASS (...) in 1.2 s" */
	void (*line)(void *ctx, const char *text);
	/* the status line: trials, running per GPU, culprits, elapsed, ETA;
	 * each replaces the one before; NULL takes it away */
	void (*status)(void *ctx, const char *text);
	/* one event object ("event": "audit", "target", "trial_started",
	 * "trial_finished", "estimate", "culprit", "confirm"; "time": Unix
	 * seconds); the engine deletes it. The command layer adds "verdict"
	 * (with "report": WORKDIR/report.md and "workdir") from res. */
	void (*event)(void *ctx, const struct cJSON *obj);
	void (*message)(void *ctx, enum run_msg kind, const char *text);
	/* the end, once the report is written (or failed to be) */
	void (*verdict)(void *ctx, const struct run_result *res);
};

/*
 * --on-exit CMD: when run_start() or run_resume() ends (a verdict, an
 * error, an interruption), once the report is written and the verdict
 * told, `sh -c CMD` runs in the work directory with casebisect's
 * environment plus CASEBISECT_VERDICT (the verdict's name; "error" or
 * "interrupted" when there is none), CASEBISECT_EXIT_CODE (the run's exit
 * status), CASEBISECT_REPORT (WORKDIR/report.md; "" when it was not
 * written) and CASEBISECT_WORKDIR, for at most 60 s (then its process
 * group is killed). Its failure is a warning line; the verdict and the
 * exit status stay what they were. Setup errors before the engine starts
 * (a work directory refused, a run.json that cannot be read) run no hook.
 *
 * Starts a new run in c->workdir (refused when it is a casebisect work
 * directory: "resume it"; or any other non-empty folder). Tells progress
 * through p (may be NULL); fills *res (release it) and returns res->exit.
 */
enum run_exit run_start(const struct run_config *c, const struct run_progress *p,
			struct run_result *res);

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
	const char *on_exit;     /* --on-exit; "" turns it off */
};

/* Goes on with the run in workdir (its run.json says what it is), as
 * run_start(). */
enum run_exit run_resume(const char *workdir, uint64_t max_trials, double deadline,
			 const struct run_overrides *o, const struct run_progress *p,
			 struct run_result *res);

/* Writes WORKDIR's report.json, report.md and report.html again from its
 * journal, running no trial; tells only messages (warnings: a picture that
 * cannot be drawn). RUN_EXIT_OK once they are written. */
enum run_exit run_report(const char *workdir, const struct run_progress *p,
			 struct run_result *res);

struct synth_result;
struct synth_bundle_options;

/* `casebisect bundle --synthetic`: run_report(), with WORKDIR/synthetic
 * (synth.h's synth_bundle(), with options o: verify, the progress lines) made
 * between the report and the report again (which then names it). Fills
 * *sres; RUN_EXIT_OK once it is made and the report written, else
 * RUN_EXIT_ERROR with the reason told as an error message. */
enum run_exit run_synthetic_after(const char *workdir, const struct synth_bundle_options *o,
				  const struct run_progress *p, struct run_result *res,
				  struct synth_result *sres);

#endif
