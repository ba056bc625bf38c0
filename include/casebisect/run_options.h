/* run_options: the one table of a run's options, those that WORKDIR/run.json
 * holds under "options". struct run_config's fields, run_config_init()'s
 * defaults, run.json's writing and reading (src/run_config.c) and the list
 * of keys resume may change are all made from it, so that a new option is
 * one row here plus its --option in src/cmd_run.c.
 *
 * X(FIELD, CTYPE, KIND, DEFAULT, KEY, RESUME, WHEN):
 *   FIELD    struct run_config's field
 *   CTYPE    its C type
 *   KIND     how run.json spells it: STR (string, null when NULL), SIZE and
 *            UINT (whole numbers), SEC (seconds), BOOL, or one of the named
 *            enums MATCH, STRATEGY, PRIOR, PICTURES, LAUNCHER
 *   DEFAULT  run_config_init()'s value, and what a missing key reads as
 *            (PRIOR excepted: a missing "prior" reads as none, as always)
 *   KEY      its key in run.json's "options"
 *   RESUME   MAY: resume may change it (struct run_overrides); KEEP: never,
 *            it is what a trial is (jrn_check_run refuses a change)
 *   WHEN     ALWAYS written; NOT_DEFAULT: written only when not DEFAULT, so
 *            that work directories older than the option still resume;
 *            SLURM: written only with --launcher slurm
 *
 * The rows are in run.json's order (run.h shows it). */
#ifndef CASEBISECT_RUN_OPTIONS_H
#define CASEBISECT_RUN_OPTIONS_H

#define RUN_OPTIONS(X)                                                                      \
	X(match, enum cls_match, MATCH, CLS_MATCH_KERNEL, "match", KEEP, ALWAYS)             \
	X(strategy, enum red_strategy, STRATEGY, RED_FIND_ALL, "strategy", KEEP, ALWAYS)     \
	X(prior, unsigned, PRIOR, RUN_PRIOR_BATCH | RUN_PRIOR_AUDIT, "prior", KEEP, ALWAYS)  \
	X(gpus, const char *, STR, "auto", "gpus", MAY, ALWAYS)                              \
	X(per_gpu, size_t, SIZE, 1, "per_gpu", MAY, ALWAYS)                                  \
	X(jobs, size_t, SIZE, 0, "jobs", MAY, ALWAYS)                                        \
	X(timeout_s, double, SEC, 0, "timeout", KEEP, ALWAYS)                                \
	X(stall_s, double, SEC, 0, "stall", KEEP, ALWAYS)                                    \
	X(pass_after_s, double, SEC, 0, "pass_after", KEEP, ALWAYS)                          \
	X(settle_s, double, SEC, 2.0, "settle", KEEP, ALWAYS)                                \
	X(grace_s, double, SEC, 10.0, "grace", KEEP, ALWAYS)                                 \
	X(log_head, size_t, SIZE, (size_t)1 << 20, "log_head", KEEP, ALWAYS)                 \
	X(log_tail, size_t, SIZE, (size_t)4 << 20, "log_tail", KEEP, ALWAYS)                 \
	X(pass_pattern, const char *, STR, NULL, "pass_pattern", KEEP, ALWAYS)               \
	X(batch_pattern, const char *, STR, NULL, "batch_pattern", KEEP, ALWAYS)             \
	X(no_blocking, bool, BOOL, false, "no_blocking", KEEP, ALWAYS)                       \
	X(cwd, const char *, STR, NULL, "cwd", KEEP, ALWAYS)                                 \
	X(repeat, unsigned, UINT, 0, "repeat", KEEP, ALWAYS)                                 \
	X(confirm, unsigned, UINT, 0, "confirm", KEEP, ALWAYS)                               \
	X(flaky, bool, BOOL, false, "flaky", KEEP, NOT_DEFAULT)                              \
	X(retries, unsigned, UINT, 1, "retries", KEEP, ALWAYS)                               \
	X(min_cases, size_t, SIZE, 0, "min_cases", KEEP, ALWAYS)                             \
	X(target_log, const char *, STR, NULL, "target_log", KEEP, ALWAYS)                   \
	X(env_cmd, const char *, STR, NULL, "env_cmd", KEEP, ALWAYS)                         \
	X(cudart, const char *, STR, NULL, "cudart", KEEP, ALWAYS)                           \
	X(keep_views, bool, BOOL, false, "keep_views", KEEP, ALWAYS)                         \
	X(pictures, int, PICTURES, 0 /* PIC_LABEL */, "pictures", KEEP, NOT_DEFAULT)        \
	X(synthetic, bool, BOOL, false, "synthetic", KEEP, NOT_DEFAULT)                      \
	X(seed, unsigned, UINT, 1, "seed", KEEP, ALWAYS)                                     \
	X(launcher, enum sup_launcher, LAUNCHER, SUP_LAUNCH_LOCAL, "launcher", MAY,          \
	  NOT_DEFAULT)                                                                       \
	X(slurm_args, const char *, STR, NULL, "slurm_args", MAY, SLURM)                     \
	X(on_exit, const char *, STR, NULL, "on_exit", MAY, NOT_DEFAULT)                       \
	X(command_line, const char *, STR, NULL, "command_line", KEEP, NOT_DEFAULT)

#endif
