/* cmd_run: `casebisect run [options] DATASET -- COMMAND [ARG...]`, the main
 * job: options in, run_start() (src/run.c) does the rest. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "casebisect/cli.h"
#include "casebisect/pictures.h"
#include "casebisect/run.h"
#include "casebisect/slurm.h"
#include "casebisect/util.h"

enum {
	OPT_WORKDIR = 1, OPT_ENV, OPT_NO_BLOCKING, OPT_CWD, OPT_TIMEOUT, OPT_STALL, OPT_PASS_AFTER,
	OPT_SETTLE, OPT_GRACE, OPT_PASS_PATTERN, OPT_BATCH_PATTERN, OPT_GPUS, OPT_PER_GPU,
	OPT_JOBS, OPT_TARGET_LOG, OPT_MATCH, OPT_LOG_HEAD, OPT_LOG_TAIL, OPT_FORMAT,
	OPT_CONFIGURATION, OPT_PLANS, OPT_STRATEGY, OPT_PRIOR, OPT_REPEAT, OPT_CONFIRM,
	OPT_RETRIES, OPT_MIN_CASES, OPT_MAX_TRIALS, OPT_DEADLINE, OPT_SEED, OPT_ENV_CMD,
	OPT_KEEP_VIEWS, OPT_JSON_EVENTS, OPT_CUDART, OPT_LAUNCHER, OPT_SLURM_ARGS, OPT_FLAKY,
	OPT_PICTURES, OPT_ON_EXIT, OPT_SYNTHETIC,
};

static const struct cli_option run_options[] = {
	{ "workdir", 0, CLI_ARG_REQUIRED, OPT_WORKDIR, "DIR",
	  "where trials, journal and report go (default ./casebisect-DATE-TIME)" },
	{ "format", 0, CLI_ARG_REQUIRED, OPT_FORMAT, "F",
	  "nnunet-pre, nnunet-raw, msd or list (default: detect)" },
	{ "configuration", 0, CLI_ARG_REQUIRED, OPT_CONFIGURATION, "C",
	  "nnunet-pre: the configuration's data (3d_fullres)" },
	{ "plans", 0, CLI_ARG_REQUIRED, OPT_PLANS, "P", "nnunet-pre: the plans identifier (nnUNetPlans)" },
	{ "match", 0, CLI_ARG_REQUIRED, OPT_MATCH, "LEVEL",
	  "how close a failure must be to the target: class, kernel (default), exact" },
	{ "target-log", 0, CLI_ARG_REQUIRED, OPT_TARGET_LOG, "LOG",
	  "the bug to find, from a log (a bug report's); the full run must show it" },
	{ "strategy", 0, CLI_ARG_REQUIRED, OPT_STRATEGY, "S",
	  "find-all (default: every case that crashes alone) or ddmin (one minimal subset)" },
	{ "prior", 0, CLI_ARG_REQUIRED, OPT_PRIOR, "LIST",
	  "suspects tried first alone: audit, batch, none (default audit,batch)" },
	{ "gpus", 0, CLI_ARG_REQUIRED, OPT_GPUS, "auto|none|LIST",
	  "devices for the trials, one slot each (default auto: all found)" },
	{ "per-gpu", 0, CLI_ARG_REQUIRED, OPT_PER_GPU, "N", "trials at once on each device (1)" },
	{ "jobs", 'j', CLI_ARG_REQUIRED, OPT_JOBS, "N",
	  "trials at once in all (default: one per device slot, or 1 without GPUs)" },
	{ "launcher", 0, CLI_ARG_REQUIRED, OPT_LAUNCHER, "local|slurm",
	  "where trials run: here (default), or each as one Slurm job (srun)" },
	{ "slurm-args", 0, CLI_ARG_REQUIRED, OPT_SLURM_ARGS, "ARGS",
	  "srun options for every trial, split like a shell would: \"-p gpu --gres=gpu:1\"" },
	{ "timeout", 0, CLI_ARG_REQUIRED, OPT_TIMEOUT, "DURATION",
	  "a trial's hard limit (default 3x the full run, at least 600)" },
	{ "pass-after", 0, CLI_ARG_REQUIRED, OPT_PASS_AFTER, "DURATION",
	  "PASS when a trial ran this long without a failure" },
	{ "stall", 0, CLI_ARG_REQUIRED, OPT_STALL, "DURATION", "no output for this long: UNRESOLVED" },
	{ "settle", 0, CLI_ARG_REQUIRED, OPT_SETTLE, "DURATION", "after a failure, wait for the rest (2)" },
	{ "grace", 0, CLI_ARG_REQUIRED, OPT_GRACE, "DURATION", "between SIGTERM and SIGKILL (10)" },
	{ "pass-pattern", 0, CLI_ARG_REQUIRED, OPT_PASS_PATTERN, "REGEX",
	  "PASS when a line matches this POSIX ERE" },
	{ "batch-pattern", 0, CLI_ARG_REQUIRED, OPT_BATCH_PATTERN, "REGEX",
	  "a line naming a step's cases; group 1 = the cases (CASEBISECT_BATCH)" },
	{ "repeat", 0, CLI_ARG_REQUIRED, OPT_REPEAT, "N",
	  "after a flaky pass: runs of each pass that clears cases (2)" },
	{ "confirm", 0, CLI_ARG_REQUIRED, OPT_CONFIRM, "N",
	  "runs of the remainder without the culprits (1; 2 with free slots; 3 after a flake "
	  "or with --flaky)" },
	{ "flaky", 0, CLI_ARG_NONE, OPT_FLAKY, NULL,
	  "training samples at random (a culprit may pass): every remainder runs 3 times "
	  "from the start, about 2 trials more; resume keeps it (the journal replays the search)" },
	{ "retries", 0, CLI_ARG_REQUIRED, OPT_RETRIES, "N", "re-runs of an UNRESOLVED trial (1)" },
	{ "min-cases", 0, CLI_ARG_REQUIRED, OPT_MIN_CASES, "N",
	  "pad smaller subsets with cleared cases (for trainers that need a few; "
	  "with 1, the control is one clean case, not the empty subset)" },
	{ "max-trials", 0, CLI_ARG_REQUIRED, OPT_MAX_TRIALS, "N",
	  "stop after N trials with what is known (verdict undetermined)" },
	{ "deadline", 0, CLI_ARG_REQUIRED, OPT_DEADLINE, "TIME",
	  "no new trial after TIME: HH:MM, or a DURATION from now (8h, 1h30m)" },
	{ "seed", 0, CLI_ARG_REQUIRED, OPT_SEED, "N", "for the random picks of the control (1)" },
	{ "env", 0, CLI_ARG_REQUIRED, OPT_ENV, "K=V", "add or override a variable (repeatable)" },
	{ "no-blocking", 0, CLI_ARG_NONE, OPT_NO_BLOCKING, NULL,
	  "do not set CUDA_LAUNCH_BLOCKING=1 (faster, less exact)" },
	{ "cwd", 0, CLI_ARG_REQUIRED, OPT_CWD, "DIR", "run the command there (default: here)" },
	{ "env-cmd", 0, CLI_ARG_REQUIRED, OPT_ENV_CMD, "SHELL",
	  "a shell command whose output goes in the report (versions)" },
	{ "cudart", 0, CLI_ARG_REQUIRED, OPT_CUDART, "PATH",
	  "the CUDA runtime to ask for the report's device facts (default: search)" },
	{ "log-head", 0, CLI_ARG_REQUIRED, OPT_LOG_HEAD, "BYTES", "keep the first BYTES of a log (1M, at most 1G)" },
	{ "log-tail", 0, CLI_ARG_REQUIRED, OPT_LOG_TAIL, "BYTES", "and the last BYTES (4M, at most 1G)" },
	{ "keep-views", 0, CLI_ARG_NONE, OPT_KEEP_VIEWS, NULL, "keep each trial's subset view" },
	{ "pictures", 0, CLI_ARG_REQUIRED, OPT_PICTURES, "label|image|none",
	  "culprits' label slices (PNG): alone (default), over the image, or none" },
	{ "synthetic", 0, CLI_ARG_NONE, OPT_SYNTHETIC, NULL,
	  "also make WORKDIR/synthetic/synthetic-bundle.tar.gz: the culprits de-identified, verified" },
	{ "json-events", 0, CLI_ARG_NONE, OPT_JSON_EVENTS, NULL,
	  "print one JSON object per event instead of lines" },
	{ "on-exit", 0, CLI_ARG_REQUIRED, OPT_ON_EXIT, "CMD",
	  "run sh -c CMD when the run ends (CASEBISECT_VERDICT, _EXIT_CODE, _REPORT, _WORKDIR)" },
};

const struct cli_command cmd_run_spec = {
	.name = "run",
	.usage = "[options] DATASET -- COMMAND [ARG...]",
	.description =
		"Find the cases of DATASET that make COMMAND (your training) crash.\n"
		"\n"
		"casebisect runs COMMAND on subsets of the cases, each run a trial: short\n"
		"(it ends at the first failure, at exit, at a CASEBISECT_PASS line or\n"
		"after --pass-after), with CUDA_LAUNCH_BLOCKING=1, in its own process\n"
		"group, one at a time per GPU slot (with --launcher slurm: each one srun\n"
		"job, --jobs at once). First the full dataset (the target:\n"
		"how it crashes), then a control without data (is the crash about the\n"
		"data at all?), then the search, then the culprits are confirmed alone and\n"
		"the rest must train. Suspects are tried first, alone: cases whose labels\n"
		"the label audit finds values that crash training in (--prior audit), and\n"
		"the cases of the crash's last CASEBISECT_BATCH line (--prior batch).\n"
		"Every finished trial goes to WORKDIR/journal.jsonl: after Ctrl-C, a\n"
		"crash or a reboot, 'casebisect resume WORKDIR' goes on without running\n"
		"any finished trial again.\n"
		"\n"
		"DATASET is an nnU-Net v2 raw or preprocessed dataset folder, an MSD /\n"
		"MONAI datalist JSON, or a case list (see 'casebisect cases'). Your files\n"
		"are never written: each trial sees a view of its subset, made of links in\n"
		"WORKDIR/trials/NNNN/. COMMAND runs without a shell; {cases_file} (the\n"
		"subset's case IDs), {files_file} (their files), {view}, {trial_dir} and\n"
		"{n} in its arguments are replaced per trial. nnU-Net formats need none:\n"
		"nnUNet_raw, nnUNet_preprocessed and nnUNet_results point into the view.\n"
		"\n"
		"At the end: WORKDIR/report.md (paste it into an issue), report.json,\n"
		"report.html (open it in a browser: a timeline of the trials per slot,\n"
		"the shrink curve and a picture of each culprit's label, in\n"
		"WORKDIR/pictures/), and bundle.tar.gz with the culprits' files and a\n"
		"repro.sh. The bundle holds copies of the cases' files, which may be\n"
		"patients' data; so does a picture drawn with --pictures image.\n"
		"report.md shows the decisive traceback, the casebisect command line and\n"
		"the environment found without --env-cmd: OS, kernel, NVIDIA driver, CUDA\n"
		"runtime, and the Python, PyTorch and nnU-Net of a Python command.\n"
		"Out of --max-trials or --deadline (undetermined), the report names the\n"
		"culprits confirmed so far, the smallest failing subset (the bundle holds\n"
		"it) and the cases still open; 'casebisect resume' goes on.\n"
		"\n"
		"A DURATION is seconds (600, 0.5) or has units: 45s, 90m, 1h30m, 2d; at\n"
		"most 30 days, and a --deadline is at most 30 days away.\n"
		"\n"
		"A COMMAND that exits 125 says \"skip: this subset cannot be tested\"\n"
		"(too few cases for it, say), as in 'git bisect run': the trial is\n"
		"UNRESOLVED (reason skip), the search goes on around the subset and never\n"
		"runs it again past --retries, and cases no trial could decide end the\n"
		"run undetermined, named in the report.\n"
		"\n"
		"The bundle travels: 'tar xzf bundle.tar.gz && bash bundle/repro.sh'\n"
		"reruns the crash in any folder, on any machine; it carries casebisect's\n"
		"own programs the command runs (toytrain, the nnU-Net probe).\n"
		"\n"
		"Exit status: 0 answered (culprits_found, minimal_subset, dataset_wide);\n"
		"1 error; 2 usage; 3 the failure did not reproduce on the full dataset; 4\n"
		"it is not data-dependent (environment); 5 interrupted (resume it); 6\n"
		"undetermined (out of trials or time, or too many unresolved trials).",
	.example =
		"$ casebisect run --workdir /scratch/triage --pass-after 900 \\\n"
		"    $nnUNet_preprocessed/Dataset501_Liver -- \\\n"
		"    nnUNetv2_train Dataset501_Liver 3d_fullres all\n"
		"$ casebisect run --workdir /tmp/t /tmp/ds -- \\\n"
		"    harness/toytrain --cases-file {cases_file} --files-file {files_file}\n"
		"[02:10:11] trial 1 (target, 64 cases): FAIL (failure, cpu_index_error) in 0.1 s\n"
		"...\n"
		"verdict: culprits_found\n"
		"  culprit: case_013\n"
		"  culprit: case_042\n"
		"...\n"
		"Confidence: 94.7% that no other case among the 62 cleared holds a culprit.\n"
		"...",
	.options = run_options,
	.n_options = CB_ARRAY_SIZE(run_options),
};

static int parse_prior(const char *v, unsigned *out)
{
	char *copy = xstrdup(v), *save = NULL, *tok;
	int rc = 0;

	*out = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "batch"))
			*out |= RUN_PRIOR_BATCH;
		else if (!strcmp(tok, "audit"))
			*out |= RUN_PRIOR_AUDIT;
		else if (strcmp(tok, "none"))
			rc = -1;
	}
	free(copy);
	return rc;
}

/* The default work directory: ./casebisect-YYYYmmdd-HHMMSS. */
static char *default_workdir(void)
{
	char name[64];
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(name, sizeof(name), "casebisect-%Y%m%d-%H%M%S", &tm);
	return xstrdup(name);
}

/* An absolute path for one that may not exist yet (its parent must). */
static char *absolute_new(const char *path)
{
	char *copy = xstrdup(path), *slash, *parent, *r;

	while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
		copy[strlen(copy) - 1] = '\0';
	slash = strrchr(copy, '/');
	if (!slash)
		parent = realpath(".", NULL);
	else if (slash == copy)
		parent = xstrdup("/");
	else {
		*slash = '\0';
		parent = realpath(copy, NULL);
		*slash = '/';
	}
	if (!parent) {
		free(copy);
		return NULL;
	}
	r = cb_path_join(parent, slash ? slash + 1 : copy);
	free(parent);
	free(copy);
	return r;
}

/* run_options.h's rows, found by their --option (the run.json key with
 * '-' for '_'): the strings, flags and durations that set their field as
 * given go through here, not through a case of set_option() each. */
struct plain_option {
	const char *key, *kind;
	size_t offset;
};

static const struct plain_option plain_options[] = {
#define PLAIN(field, ctype, kind, dflt, key, resume, when)                                  \
	{ key, #kind, offsetof(struct run_config, field) },
	RUN_OPTIONS(PLAIN)
#undef PLAIN
};

static const struct plain_option *plain_option(const char *name)
{
	size_t i, k;

	for (i = 0; i < CB_ARRAY_SIZE(plain_options); i++) {
		const struct plain_option *o = &plain_options[i];

		if (strcmp(o->kind, "STR") && strcmp(o->kind, "BOOL") && strcmp(o->kind, "SEC"))
			continue;
		for (k = 0; name[k] && (name[k] == o->key[k] ||
					(name[k] == '-' && o->key[k] == '_')); k++)
			;
		if (!name[k] && !o->key[k])
			return o;
	}
	return NULL;
}

/* Sets a plain option's field: CB_EXIT_OK, or CB_EXIT_USAGE after a usage
 * error is printed. */
static enum cb_exit set_plain(const struct cli_command *cmd, struct run_config *c,
			      const char *name, const struct plain_option *o, const char *value)
{
	char *field = (char *)c + o->offset;

	if (!strcmp(o->kind, "STR"))
		memcpy(field, &value, sizeof(value));
	else if (!strcmp(o->kind, "BOOL"))
		*(bool *)(void *)field = true;
	else if (cli_parse_duration(cmd, name, value, (double *)(void *)field))
		return CB_EXIT_USAGE;
	return CB_EXIT_OK;
}

/* Puts the value of one of run's options (not --help or --workdir) into c
 * (--env into env[(*nenv)++]), checked as far as can be without touching
 * anything. CB_EXIT_OK, or CB_EXIT_USAGE after a usage error of cmd (run's,
 * or nnunet's, which hands them on) is printed. */
static enum cb_exit set_option(const struct cli_command *cmd, struct run_config *c,
			       const char **env, size_t *nenv, int id, const char *value)
{
	const struct cli_option *opt = cli_find_option(cmd, id);
	const struct plain_option *plain;
	char err[512];
	size_t *bytes = NULL;
	unsigned long long n;

	/* the patterns are strings, checked first (below) */
	if (id != OPT_PASS_PATTERN && id != OPT_BATCH_PATTERN && opt &&
	    (plain = plain_option(opt->name)))
		return set_plain(cmd, c, opt->name, plain, value);
	switch (id) {
	case OPT_FORMAT:
		return cli_parse_format(cmd, value, &c->dso.format) ? CB_EXIT_USAGE : CB_EXIT_OK;
	case OPT_CONFIGURATION: c->dso.configuration = value; break;
	case OPT_PLANS: c->dso.plans = value; break;
	case OPT_MATCH:
		if (cls_match_parse(value, &c->match))
			return cli_usage_error(cmd, "--match '%s': expected class, kernel or exact",
					       value);
		break;
	case OPT_STRATEGY:
		if (!strcmp(value, "find-all"))
			c->strategy = RED_FIND_ALL;
		else if (!strcmp(value, "ddmin"))
			c->strategy = RED_DDMIN;
		else
			return cli_usage_error(cmd, "--strategy '%s': expected find-all or ddmin",
					       value);
		break;
	case OPT_PRIOR:
		if (parse_prior(value, &c->prior))
			return cli_usage_error(cmd, "--prior '%s': expected batch, audit or none, "
					       "comma separated", value);
		break;
	case OPT_LAUNCHER:
		if (sup_launcher_parse(value, &c->launcher))
			return cli_usage_error(cmd, "--launcher '%s': expected local or slurm", value);
		break;
	case OPT_PER_GPU:
	case OPT_JOBS:
	case OPT_REPEAT:
	case OPT_CONFIRM:
	case OPT_RETRIES:
	case OPT_MIN_CASES:
	case OPT_MAX_TRIALS:
	case OPT_SEED:
		if (cli_parse_count(value, id == OPT_MAX_TRIALS ? 1000000000ULL : 100000ULL, &n) ||
		    (n == 0 && (id == OPT_PER_GPU || id == OPT_JOBS)))
			return cli_usage_error(cmd, "'%s': expected a whole number%s", value,
					       id == OPT_PER_GPU || id == OPT_JOBS ? " from 1" : "");
		if (id == OPT_PER_GPU) c->per_gpu = (size_t)n;
		if (id == OPT_JOBS) c->jobs = (size_t)n;
		if (id == OPT_REPEAT) c->repeat = (unsigned)n;
		if (id == OPT_CONFIRM) c->confirm = (unsigned)n;
		if (id == OPT_RETRIES) c->retries = n ? (unsigned)n : RED_NO_RETRIES;
		if (id == OPT_MIN_CASES) c->min_cases = (size_t)n;
		if (id == OPT_MAX_TRIALS) c->max_trials = n;
		if (id == OPT_SEED) c->seed = (unsigned)n;
		break;
	case OPT_DEADLINE:
		return cli_parse_deadline(cmd, value, &c->deadline) ? CB_EXIT_USAGE : CB_EXIT_OK;
	case OPT_PASS_PATTERN:
	case OPT_BATCH_PATTERN:
		/* Here, not when the first trial starts: by then the work
		 * directory exists and resume could not take a new pattern. */
		if (sup_check_patterns(id == OPT_PASS_PATTERN ? value : NULL,
				       id == OPT_BATCH_PATTERN ? value : NULL, err, sizeof(err)))
			return cli_usage_error(cmd, "%s", err);
		if (id == OPT_PASS_PATTERN)
			c->pass_pattern = value;
		else
			c->batch_pattern = value;
		break;
	case OPT_ENV:
		if (!strchr(value, '=') || value[0] == '=')
			return cli_usage_error(cmd, "--env '%s': expected NAME=VALUE", value);
		env[(*nenv)++] = value;
		break;
	case OPT_LOG_HEAD: bytes = &c->log_head; break;
	case OPT_LOG_TAIL: bytes = &c->log_tail; break;
	case OPT_PICTURES: {
		enum pic_mode m;

		if (pic_mode_parse(value, &m))
			return cli_usage_error(cmd, "--pictures '%s': expected label, image or none",
					       value);
		c->pictures = (int)m;
		break;
	}
	case OPT_JSON_EVENTS: c->events = RUN_EVENTS_JSON; break;
	}
	if (bytes)
		return cli_parse_log_bytes(cmd, cli_find_option(cmd, id)->name, value, bytes);
	return CB_EXIT_OK;
}

enum cb_exit cmd_run_check_option(const struct cli_command *cmd, int id, const char *value)
{
	struct run_config c;
	const char *env[2] = { NULL, NULL };
	size_t nenv = 0;

	run_config_init(&c);
	return set_option(cmd, &c, env, &nenv, id, value);
}

enum cb_exit cmd_run(int argc, char **argv)
{
	struct run_config c;
	struct cli_parser p;
	const char *value, **env;
	char *workdir = NULL, *cwd = NULL, *target_log = NULL, *wd_given = NULL, *cudart = NULL;
	char *command_line = NULL;
	const char *wd_opt = NULL;
	enum cb_exit ret = CB_EXIT_USAGE;
	size_t nenv = 0;
	int id, r;

	run_config_init(&c);
	env = xcalloc((size_t)argc + 1, sizeof(*env));
	cli_parser_init(&p, &cmd_run_spec, argc, argv);
	while ((r = cli_next(&p, &id, &value)) > 0) {
		if (id == CLI_OPT_HELP) {
			cli_print_help(&cmd_run_spec, stdout);
			ret = CB_EXIT_OK;
			goto out;
		}
		if (id == OPT_WORKDIR)
			wd_opt = value;
		else if (set_option(&cmd_run_spec, &c, env, &nenv, id, value))
			goto out;
	}
	if (r < 0)
		goto out;
	if (p.dashdash != 1 || p.n_operands < 2) {
		ret = cli_usage_error(&cmd_run_spec, "%s", p.dashdash == 0 ? "no DATASET before '--'" :
				      p.dashdash > 1 ? "one DATASET before '--', then the command" :
				      "no COMMAND after '--': casebisect run DATASET -- COMMAND [ARG...]");
		goto out;
	}
	if (c.slurm_args && c.launcher != SUP_LAUNCH_SLURM) {
		ret = cli_usage_error(&cmd_run_spec, "--slurm-args needs --launcher slurm");
		goto out;
	}
	if (c.launcher == SUP_LAUNCH_SLURM) {
		char **words, err[256];
		size_t nw;

		if (slurm_split_args(c.slurm_args, &words, &nw, err, sizeof(err))) {
			ret = cli_usage_error(&cmd_run_spec, "%s", err);
			goto out;
		}
		slurm_words_free(words);
	}
	c.dataset = p.operands[0];
	c.command = p.operands + p.dashdash;
	/* the user's own line: `casebisect nnunet ...` comes here as `run ...` */
	c.command_line = command_line = cb_own_command_line();
	c.env = env;
	ret = CB_EXIT_ERROR;
	wd_given = wd_opt ? xstrdup(wd_opt) : default_workdir();
	if (!(workdir = absolute_new(wd_given))) {
		cli_error("--workdir '%s': its parent folder does not exist", wd_given);
		goto out;
	}
	c.workdir = workdir;
	/* Without --cwd, here: recorded, so that a resume or the bundle's
	 * repro.sh started elsewhere still finds a relative command. */
	if (!(cwd = realpath(c.cwd ? c.cwd : ".", NULL))) {
		cli_error("--cwd '%s': %s", c.cwd ? c.cwd : ".", strerror(errno));
		goto out;
	}
	c.cwd = cwd;
	if (c.target_log && !(target_log = realpath(c.target_log, NULL))) {
		cli_error("--target-log '%s': %s", c.target_log, strerror(errno));
		goto out;
	}
	c.target_log = target_log;
	if (c.cudart && !(cudart = realpath(c.cudart, NULL))) {
		cli_error("--cudart '%s': %s", c.cudart, strerror(errno));
		goto out;
	}
	c.cudart = cudart;
	ret = cmd_run_start(&c);
out:
	free(wd_given);
	free(workdir);
	free(cwd);
	free(target_log);
	free(cudart);
	free(command_line);
	free(env);
	cli_parser_release(&p);
	return ret;
}
