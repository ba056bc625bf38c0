/* run_internal: what the engine's files share (src/run.c: the trial door
 * and the phases; src/run_output.c: progress, the report and the verdict;
 * src/run_setup.c: the work directory and the public entry points). Not an
 * API: nothing outside the engine includes it. */
#ifndef CASEBISECT_RUN_INTERNAL_H
#define CASEBISECT_RUN_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "casebisect/audit.h"
#include "casebisect/gpu.h"
#include "casebisect/journal.h"
#include "casebisect/reduce.h"
#include "casebisect/report.h"
#include "casebisect/run.h"
#include "casebisect/supervise.h"
#include "casebisect/sysinfo.h"
#include "casebisect/util.h"
#include "run_health.h"

/* A search trial in flight. */
struct flight {
	struct run *r;
	uint64_t red_id;
	uint64_t number;
	char phase[16];
	size_t *subset;
	size_t n;
	bool busy;
	int gpu;                    /* its slot's device, -1: none */
	int slot;                   /* the supervisor's slot, -1: none */
	double started_s;           /* Unix time it started */
	char dir[PATH_MAX];
};

struct report_input;
struct synth_result;
struct synth_bundle_options;

struct run {
	struct run_config c;
	cJSON *run_root;            /* resume: owns c's strings */
	const char **command_v, **env_v;
	struct dataset ds;
	bool have_ds;
	struct jrn *jrn;
	struct jrn_entry *all;      /* every finished trial: replayed, then new */
	struct jrn_names names;     /* the dataset's IDs for the journal (names_of) */
	size_t nall, cap;
	bool *used;                 /* all[i] consumed by need_trial() */
	uint64_t next_number;
	struct sup *sup;
	struct red *red;
	struct gpu_info gpu;
	bool have_gpu;
	struct si_info sys;   /* environment.json's "system": OS, driver, Python */
	bool have_sys;
	int gpus[GPU_MAX];
	size_t ngpus, slots;
	struct cls_signature target;
	bool have_target;
	char target_source[PATH_MAX + 64];
	struct flight **flights;    /* each allocated once: the supervisor holds them */
	size_t nflights;
	struct flight *sync;        /* the trial need_trial() waits for, or NULL */
	struct health health;       /* device probes, node exclusion (run_health.c) */
	/* the last synchronous trial */
	int sync_done;
	size_t sync_index;
	bool dry, missing, interrupted, fatal;
	bool out_of_budget;   /* missing: --max-trials or --deadline ran out before the search */
	char fatal_msg[1200];
	double t0;
	uint64_t pre_trials;        /* trials before the search */
	size_t culprits_seen;
	const struct run_progress *p; /* never NULL: quiet when none was given */
	struct run_result *res;
	char *env_cmd_output;
	double wall_before;         /* wall time of earlier sessions (WORKDIR/wall.json) */
	bool *announced;            /* culprits already said */
	struct aud_result audit;    /* the label audit, when the prior asks for it */
	bool have_audit;
	bool report_written, bundle_written; /* by write_report(): the paths may be shown */
	bool report_failed;
	/* run_synthetic_after(): WORKDIR/synthetic is asked for (filled when
	 * made; synth_failed: it could not be, the error told) */
	struct synth_result *synth_out;
	const struct synth_bundle_options *synth_opts;
	bool synth_failed;
	/* --launcher slurm */
	char *slurm_prefix;         /* job names: casebisect-<workdir base>- */
};

struct verdict {
	const char *name;
	int exit_code;
	char explanation[2048];
	size_t *culprits, nculprits;
	size_t *undecided, nundecided;
	uint64_t rounds, flakes;
};

/* run.c: the trial door and the phases */
int run_engine(struct run *r);          /* once r->c is set and the work directory exists */
void run_fail(struct run *r, const char *fmt, ...) CB_PRINTF(2, 3); /* stops the run */
double run_opt_num(const cJSON *o, const char *key, double dflt);
struct jrn_names *run_names_of(struct run *r);
void run_push_entry(struct run *r, const struct jrn_entry *e, bool used);

/* run_output.c: progress, wall time, the end */
double run_now_s(void);
void run_say(struct run *r, const char *fmt, ...) CB_PRINTF(2, 3);   /* a line for people */
void run_event(struct run *r, cJSON *obj);                          /* takes obj */
void run_notify(struct run *r, enum run_msg kind, const char *fmt, ...) CB_PRINTF(3, 4);
void run_show_status(struct run *r);
/* The supervisor's hooks (h->ctx is r): Slurm's job start, the heartbeat
 * line and event every CASEBISECT_HEARTBEAT_S seconds, a signal's message. */
void run_progress_hooks(struct run *r, struct sup_hooks *h);
/* The search's guess of what is left: trials (the confirmation's runs
 * included) and the time at the median trial so far ("?" when unknown). */
void run_eta(const struct run *r, double *trials, char *eta, size_t size);
void run_fmt_duration(double s, char *buf, size_t size);
double run_median_duration(const struct run *r);
void run_load_wall(struct run *r);
int run_save_wall(struct run *r);       /* -1 with the run failed (run_fail()) */
const char *run_fix_advice(const char *err);
/* The report and the bundle, then the verdict; an exit code. */
int run_conclude(struct run *r, const struct verdict *v);

/* run_on_exit.c: --on-exit (run.h), once the run's exit code is known */
#define RUN_ON_EXIT_TIMEOUT_S 60.0
void run_on_exit(struct run *r, int exit_code);

/* run_setup.c: the work directory */
int run_lock_workdir(struct run *r);
int run_load_journal(struct run *r);
void run_recover_trials(struct run *r);
int run_pick_gpus(struct run *r);
void run_env_cmd(struct run *r);
int run_audit(struct run *r);

/* run_synth.c: --synthetic, WORKDIR/synthetic after the bundle; 0, or -1
 * with a warning told (the run's answer stands) */
int run_synthetic(struct run *r, const struct report_input *in);

#endif
