/* cmd_trial: `casebisect trial [options] -- COMMAND [ARG...]`, run the command
 * once the way casebisect runs every trial, and say how it ended. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "casebisect/classify.h"
#include "casebisect/cli.h"
#include "casebisect/dataset.h"
#include "casebisect/gpu.h"
#include "casebisect/supervise.h"
#include "casebisect/util.h"
#include "casebisect/view.h"

enum {
	OPT_JSON = 1, OPT_WORKDIR, OPT_ENV, OPT_NO_BLOCKING, OPT_CWD, OPT_TIMEOUT, OPT_STALL,
	OPT_PASS_AFTER, OPT_SETTLE, OPT_GRACE, OPT_PASS_PATTERN, OPT_BATCH_PATTERN,
	OPT_CASES_FILE, OPT_FILES_FILE, OPT_GPUS, OPT_TARGET_LOG, OPT_MATCH, OPT_LOG_HEAD,
	OPT_LOG_TAIL, OPT_DATASET, OPT_FORMAT, OPT_CONFIGURATION, OPT_PLANS, OPT_KEEP_VIEW,
};

static const struct cli_option trial_options[] = {
	{ "json", 0, CLI_ARG_NONE, OPT_JSON, NULL, "print the result as one compact JSON object" },
	{ "workdir", 0, CLI_ARG_REQUIRED, OPT_WORKDIR, "DIR",
	  "where the trial's logs go (default: a new temporary folder)" },
	{ "env", 0, CLI_ARG_REQUIRED, OPT_ENV, "K=V", "add or override a variable (repeatable)" },
	{ "no-blocking", 0, CLI_ARG_NONE, OPT_NO_BLOCKING, NULL,
	  "do not set CUDA_LAUNCH_BLOCKING=1 (it slows training)" },
	{ "cwd", 0, CLI_ARG_REQUIRED, OPT_CWD, "DIR", "run the command there (default: here)" },
	{ "timeout", 0, CLI_ARG_REQUIRED, OPT_TIMEOUT, "DURATION", "hard limit: UNRESOLVED (timeout)" },
	{ "stall", 0, CLI_ARG_REQUIRED, OPT_STALL, "DURATION",
	  "no output at all for this long: UNRESOLVED (stall)" },
	{ "pass-after", 0, CLI_ARG_REQUIRED, OPT_PASS_AFTER, "DURATION",
	  "PASS when it ran this long without a failure" },
	{ "settle", 0, CLI_ARG_REQUIRED, OPT_SETTLE, "DURATION",
	  "after a failure, wait this long for the rest of its output (2)" },
	{ "grace", 0, CLI_ARG_REQUIRED, OPT_GRACE, "DURATION", "between SIGTERM and SIGKILL (10)" },
	{ "pass-pattern", 0, CLI_ARG_REQUIRED, OPT_PASS_PATTERN, "REGEX",
	  "PASS when a line matches this POSIX ERE" },
	{ "batch-pattern", 0, CLI_ARG_REQUIRED, OPT_BATCH_PATTERN, "REGEX",
	  "a line naming the cases of a step; group 1 = the cases" },
	{ "dataset", 0, CLI_ARG_REQUIRED, OPT_DATASET, "DATASET",
	  "build the view of the cases (all, or --cases-file) as `run` would: {view}" },
	{ "format", 0, CLI_ARG_REQUIRED, OPT_FORMAT, "F",
	  "with --dataset: nnunet-pre, nnunet-raw, msd or list (default: detect)" },
	{ "configuration", 0, CLI_ARG_REQUIRED, OPT_CONFIGURATION, "C",
	  "with --dataset (nnunet-pre): the configuration (3d_fullres)" },
	{ "plans", 0, CLI_ARG_REQUIRED, OPT_PLANS, "P",
	  "with --dataset (nnunet-pre): the plans identifier (nnUNetPlans)" },
	{ "keep-view", 0, CLI_ARG_NONE, OPT_KEEP_VIEW, NULL,
	  "keep the view in the trial directory afterwards" },
	{ "cases-file", 0, CLI_ARG_REQUIRED, OPT_CASES_FILE, "FILE",
	  "case IDs, one per line: {cases_file} and {n} (with --dataset: the subset)" },
	{ "files-file", 0, CLI_ARG_REQUIRED, OPT_FILES_FILE, "FILE",
	  "each case's files, tab separated: {files_file}" },
	{ "gpus", 0, CLI_ARG_REQUIRED, OPT_GPUS, "auto|none|LIST",
	  "the device for CUDA_VISIBLE_DEVICES (default auto: the first found)" },
	{ "target-log", 0, CLI_ARG_REQUIRED, OPT_TARGET_LOG, "LOG",
	  "FAIL only for the failure this log shows (else UNRESOLVED)" },
	{ "match", 0, CLI_ARG_REQUIRED, OPT_MATCH, "LEVEL",
	  "how a failure must agree with --target-log: class, kernel (default), exact" },
	{ "log-head", 0, CLI_ARG_REQUIRED, OPT_LOG_HEAD, "BYTES",
	  "keep the first BYTES of each stream (1M, at most 1G)" },
	{ "log-tail", 0, CLI_ARG_REQUIRED, OPT_LOG_TAIL, "BYTES",
	  "and the last BYTES (4M, at most 1G)" },
};

static const struct cli_command trial_cmd = {
	.name = "trial",
	.usage = "[options] -- COMMAND [ARG...]",
	.description =
		"Run COMMAND once, the way casebisect runs every trial, and say how it\n"
		"ended: PASS, FAIL or UNRESOLVED, why, the failure's signature, the exit,\n"
		"the suspects (the cases of the last CASEBISECT_BATCH line before the\n"
		"failure) and where the logs are.\n"
		"\n"
		"COMMAND runs without a shell, in its own process group, with stdin from\n"
		"/dev/null and CUDA_LAUNCH_BLOCKING=1, TORCH_USE_CUDA_DSA=1,\n"
		"PYTHONUNBUFFERED=1, PYTHONFAULTHANDLER=1, nnUNet_compile=f and\n"
		"CASEBISECT_TRIAL set. {trial_dir}, {cases_file}, {files_file} and {n}\n"
		"in its arguments are replaced by absolute paths (and the number of\n"
		"cases). It ends at the first failure (after --settle), at exit, at a\n"
		"CASEBISECT_PASS line or --pass-pattern, after --pass-after, --timeout\n"
		"or --stall; then every process it started is ended (SIGTERM, --grace,\n"
		"SIGKILL), workers that escaped with setsid included. A DURATION is\n"
		"seconds (600, 0.5) or has units: 45s, 90m, 1h30m, 2d; at most 30 days.\n"
		"\n"
		"A COMMAND that exits 125 (before any failure) ends UNRESOLVED, reason\n"
		"skip, as 'git bisect run' reads it: this subset cannot be tested.\n"
		"\n"
		"Exits 0 whatever the outcome, 1 on an error (a command that is not\n"
		"found or not executable included), 5 when interrupted (Ctrl-C: the\n"
		"trial's processes are ended first; a second Ctrl-C kills them at once).",
	.example =
		"$ examples/mkcases --cases 6 --bad case_004=255 /tmp/ds\n"
		"$ casebisect trial --cases-file /tmp/ds/cases.txt --files-file /tmp/ds/files.txt -- \\\n"
		"    /usr/bin/python3 harness/torchtrain.py --cases-file {cases_file} \\\n"
		"    --files-file {files_file} --device cpu\n"
		"trial 1: FAIL (failure) cpu_index_error exception=RuntimeError frame=torchtrain.py:soft_dice_loss line=10 fingerprint=b14e26f7e771a05a\n"
		"  exit: code 1\n"
		"  time: 3.8 s, first failure after 3.1 s\n"
		"  line 10: RuntimeError: index 255 is out of bounds for dimension 1 with size 3\n"
		"  suspects: case_004\n"
		"  logs: /tmp/casebisect-trial-x9R2SA/trials/0001/stdout.log\n"
		"        /tmp/casebisect-trial-x9R2SA/trials/0001/stderr.log",
	.options = trial_options,
	.n_options = CB_ARRAY_SIZE(trial_options),
};

/* Collected from the command line. */
struct trial_args {
	bool json;
	const char *workdir, *cases_file, *files_file, *gpus, *target_log, *dataset;
	struct ds_options dso;
	bool keep_view;
	const char **env;
	size_t nenv;
	struct sup_options o;
	struct cls_signature target;
	char n[32];
};

/* Makes path absolute (it must exist); the caller frees the result. */
static char *absolute(const char *path)
{
	char *r = realpath(path, NULL);

	return r;
}

static int count_lines(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	char line[65536];

	if (!f)
		return -1;
	*n = 0;
	while (fgets(line, sizeof(line), f))
		if (line[0] != '\n')
			(*n)++;
	fclose(f);
	return 0;
}

/* Creates WORKDIR (a temporary one when NULL) and WORKDIR/trials/NNNN, the
 * first number not taken. */
static int make_trial_dir(const char *workdir, char *dir, size_t size, char *created,
			  size_t csize, uint64_t *number)
{
	char base[PATH_MAX], trials[PATH_MAX + 16];
	uint64_t n;

	if (!workdir) {
		const char *tmp = getenv("TMPDIR");

		snprintf(base, sizeof(base), "%s/casebisect-trial-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(base)) {
			cli_error("cannot create a temporary folder under '%s': %s",
				  tmp && *tmp ? tmp : "/tmp", strerror(errno));
			return -1;
		}
	} else {
		cb_strlcpy(base, workdir, sizeof(base));
		if (mkdir(base, 0755) && errno != EEXIST) {
			cli_error("cannot create '%s': %s", base, strerror(errno));
			return -1;
		}
	}
	cb_strlcpy(created, base, csize);
	snprintf(trials, sizeof(trials), "%s/trials", base);
	if (mkdir(trials, 0755) && errno != EEXIST) {
		cli_error("cannot create '%s': %s", trials, strerror(errno));
		return -1;
	}
	for (n = 1; n < 100000; n++) {
		if (snprintf(dir, size, "%s/%04llu", trials, (unsigned long long)n) >= (int)size) {
			cli_error("'%s': path too long", trials);
			return -1;
		}
		if (!mkdir(dir, 0755)) {
			*number = n;
			return 0;
		}
		if (errno != EEXIST) {
			cli_error("cannot create '%s': %s", dir, strerror(errno));
			return -1;
		}
	}
	cli_error("'%s' holds too many trials", trials);
	return -1;
}

static void print_text(const struct sup_result *r)
{
	printf("trial %llu: %s (%s) ", (unsigned long long)r->number,
	       sup_outcome_name(r->outcome), sup_reason_name(r->reason));
	cmd_print_signature(stdout, &r->sig, CLS_MATCH_KERNEL);
	putchar('\n');
	if (r->signal)
		printf("  exit: signal %d (%s)%s\n", r->signal, strsignal(r->signal),
		       r->signal_sent_by_us ? ", sent by casebisect to end the trial" : "");
	else
		printf("  exit: code %d\n", r->exit_code);
	printf("  time: %.1f s", r->duration_s);
	if (r->first_failure_s >= 0)
		printf(", first failure after %.1f s", r->first_failure_s);
	putchar('\n');
	if (r->sig.evidence[0])
		printf("  line %llu: %s\n", (unsigned long long)r->sig.line, r->sig.evidence);
	printf("  suspects: %s\n", r->suspects[0] ? r->suspects : "(no CASEBISECT_BATCH line before the failure)");
	if (r->leftovers_killed)
		printf("  killed %zu process(es) that outlived the command\n", r->leftovers_killed);
	printf("  logs: %s\n        %s\n", r->stdout_log, r->stderr_log);
}

struct done_ctx {
	struct sup_result result;
	bool done;
};

static void on_done(void *ctx, const struct sup_result *r)
{
	struct done_ctx *d = ctx;

	d->result = *r;
	d->done = true;
}

/* The cases of ds named in cases_file (one ID per line), or all of them
 * when it is NULL. An ID the dataset lacks is an error naming it. */
static int pick_subset(const struct dataset *ds, const char *cases_file, size_t **out, size_t *n)
{
	char *text, *line, *save = NULL;
	size_t i;

	*out = xmalloc((ds->ncases ? ds->ncases : 1) * sizeof(**out));
	*n = 0;
	if (!cases_file) {
		for (i = 0; i < ds->ncases; i++)
			(*out)[(*n)++] = i;
		return 0;
	}
	if (!(text = cb_read_file(cases_file, NULL))) {
		cli_error("cannot read '%s': %s", cases_file, strerror(errno));
		return -1;
	}
	for (line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		for (i = 0; i < ds->ncases && strcmp(ds->cases[i].id, line); i++)
			;
		if (i == ds->ncases) {
			cli_error("%s: case '%s' is not in the dataset %s", cases_file, line, ds->root);
			free(text);
			return -1;
		}
		if (*n < ds->ncases)
			(*out)[(*n)++] = i;
	}
	free(text);
	return 0;
}

/* Resolves --gpus to the one device this trial gets (-1: none). */
static int pick_gpu(const char *spec, int *gpu)
{
	struct gpu_info info;
	int list[GPU_MAX];
	size_t n = 0;
	char err[256];
	bool needs_discovery = !spec || strcmp(spec, "none");

	*gpu = -1;
	memset(&info, 0, sizeof(info));
	if (needs_discovery)
		gpu_discover(&info, 10000);
	if (gpu_select(spec ? spec : "auto", &info, list, GPU_MAX, &n, err, sizeof(err))) {
		cli_error("%s", err);
		return -1;
	}
	if (n)
		*gpu = list[0];
	return 0;
}

enum cb_exit cmd_trial(int argc, char **argv)
{
	struct trial_args a;
	struct cli_parser p;
	struct sup_limits limits = SUP_LIMITS_INIT;
	struct sup_placeholders ph = { 0 };
	struct sup_trial_spec spec = { 0 };
	struct done_ctx d = { 0 };
	struct sup *s = NULL;
	char **args = NULL, *cases = NULL, *files = NULL, *cwd = NULL, *trial_dir = NULL;
	char dir[PATH_MAX], workdir[PATH_MAX], err[1024];
	const char *value;
	enum cb_exit ret = CB_EXIT_USAGE;
	int id, r, gpu;
	struct dataset ds;
	struct view view;
	bool have_ds = false, have_view = false;
	size_t *subset = NULL, nsubset = 0;
	uint64_t number = 0;

	memset(&a, 0, sizeof(a));
	a.o.limits = limits;
	a.o.match = CLS_MATCH_KERNEL;
	a.env = xcalloc((size_t)argc + 1, sizeof(*a.env));
	cli_parser_init(&p, &trial_cmd, argc, argv);
	while ((r = cli_next(&p, &id, &value)) > 0) {
		double *secs = NULL;
		size_t *bytes = NULL;
		char pattern_err[512];

		switch (id) {
		case CLI_OPT_HELP:
			cli_print_help(&trial_cmd, stdout);
			ret = CB_EXIT_OK;
			goto out;
		case OPT_JSON: a.json = true; break;
		case OPT_WORKDIR: a.workdir = value; break;
		case OPT_ENV:
			if (!strchr(value, '=') || value[0] == '=') {
				ret = cli_usage_error(&trial_cmd, "--env '%s': expected NAME=VALUE", value);
				goto out;
			}
			a.env[a.nenv++] = value;
			break;
		case OPT_NO_BLOCKING: a.o.no_blocking = true; break;
		case OPT_CWD: a.o.cwd = value; break;
		case OPT_TIMEOUT: secs = &a.o.limits.timeout_s; break;
		case OPT_STALL: secs = &a.o.limits.stall_s; break;
		case OPT_PASS_AFTER: secs = &a.o.limits.pass_after_s; break;
		case OPT_SETTLE: secs = &a.o.limits.settle_s; break;
		case OPT_GRACE: secs = &a.o.limits.grace_s; break;
		case OPT_PASS_PATTERN:
		case OPT_BATCH_PATTERN:
			/* Before the trial's directory is made, not in sup_new(). */
			if (sup_check_patterns(id == OPT_PASS_PATTERN ? value : NULL,
					       id == OPT_BATCH_PATTERN ? value : NULL, pattern_err,
					       sizeof(pattern_err))) {
				ret = cli_usage_error(&trial_cmd, "%s", pattern_err);
				goto out;
			}
			if (id == OPT_PASS_PATTERN)
				a.o.pass_pattern = value;
			else
				a.o.batch_pattern = value;
			break;
		case OPT_CASES_FILE: a.cases_file = value; break;
		case OPT_DATASET: a.dataset = value; break;
		case OPT_FORMAT:
			if (cli_parse_format(&trial_cmd, value, &a.dso.format)) {
				ret = CB_EXIT_USAGE;
				goto out;
			}
			break;
		case OPT_CONFIGURATION: a.dso.configuration = value; break;
		case OPT_PLANS: a.dso.plans = value; break;
		case OPT_KEEP_VIEW: a.keep_view = true; break;
		case OPT_FILES_FILE: a.files_file = value; break;
		case OPT_GPUS: a.gpus = value; break;
		case OPT_TARGET_LOG: a.target_log = value; break;
		case OPT_MATCH:
			if (cls_match_parse(value, &a.o.match)) {
				ret = cli_usage_error(&trial_cmd,
						      "--match '%s': expected class, kernel or exact", value);
				goto out;
			}
			break;
		case OPT_LOG_HEAD: bytes = &a.o.limits.log_head; break;
		case OPT_LOG_TAIL: bytes = &a.o.limits.log_tail; break;
		}
		if (secs && cli_parse_duration(&trial_cmd, cli_find_option(&trial_cmd, id)->name,
						 value, secs))
			goto out;
		if (bytes && cli_parse_log_bytes(&trial_cmd, cli_find_option(&trial_cmd, id)->name,
						 value, bytes))
			goto out;
	}
	if (r < 0)
		goto out;
	if (p.n_operands == 0) {
		ret = cli_usage_error(&trial_cmd, "no COMMAND: casebisect trial [options] -- COMMAND [ARG...]");
		goto out;
	}
	if (p.dashdash > 0) {
		ret = cli_usage_error(&trial_cmd, "unexpected '%s' before '--': put the command after '--'",
				      p.operands[0]);
		goto out;
	}

	if (a.dataset && a.files_file) {
		ret = cli_usage_error(&trial_cmd, "--files-file with --dataset: the view writes {files_file}");
		goto out;
	}
	ret = CB_EXIT_ERROR;
	if (a.dataset) {
		if (ds_load(&ds, a.dataset, &a.dso, err, sizeof(err))) {
			cli_error("%s", err);
			goto out;
		}
		have_ds = true;
		if (pick_subset(&ds, a.cases_file, &subset, &nsubset))
			goto out;
		a.cases_file = NULL; /* the view writes {cases_file} */
	}
	if (a.cases_file) {
		size_t n;

		if (!(cases = absolute(a.cases_file)) || count_lines(cases, &n)) {
			cli_error("cannot read '%s': %s", a.cases_file, strerror(errno));
			goto out;
		}
		snprintf(a.n, sizeof(a.n), "%zu", n);
		ph.cases_file = cases;
		ph.n = a.n;
	}
	if (a.files_file) {
		size_t n;

		if (!(files = absolute(a.files_file)) || count_lines(files, &n)) {
			cli_error("cannot read '%s': %s", a.files_file, strerror(errno));
			goto out;
		}
		if (!ph.n) {
			snprintf(a.n, sizeof(a.n), "%zu", n);
			ph.n = a.n;
		}
		ph.files_file = files;
	}
	if (a.o.cwd && !(cwd = absolute(a.o.cwd))) {
		cli_error("--cwd '%s': %s", a.o.cwd, strerror(errno));
		goto out;
	}
	a.o.cwd = cwd;
	if (a.target_log) {
		if (cls_read_file(a.target_log, &a.target)) {
			cli_error("cannot read '%s': %s", a.target_log, strerror(errno));
			goto out;
		}
		if (a.target.klass == CLS_NONE) {
			cli_error("--target-log '%s' shows no failure: nothing to match", a.target_log);
			goto out;
		}
		a.o.target = &a.target;
	}
	if (pick_gpu(a.gpus, &gpu))
		goto out;
	if (gpu >= 0) {
		a.o.gpus = &gpu;
		a.o.ngpus = 1;
	}
	a.o.env = a.env;

	if (make_trial_dir(a.workdir, dir, sizeof(dir), workdir, sizeof(workdir), &number))
		goto out;
	trial_dir = absolute(dir);
	ph.trial_dir = trial_dir;
	if (have_ds) {
		if (view_build(&view, &ds, subset, nsubset, trial_dir, err, sizeof(err))) {
			cli_error("%s", err);
			goto out;
		}
		have_view = true;
		ph.cases_file = view.cases_file;
		ph.files_file = view.files_file;
		ph.view = view.path;
		snprintf(a.n, sizeof(a.n), "%zu", nsubset);
		ph.n = a.n;
		spec.env = (const char *const *)view.env;
	}
	args = sup_expand_argv(p.operands + p.dashdash, &ph, err, sizeof(err));
	if (!args) {
		cli_error("%s", err);
		ret = CB_EXIT_USAGE;
		goto out;
	}
	s = sup_new(&a.o, err, sizeof(err));
	if (!s) {
		ret = cli_usage_error(&trial_cmd, "%s", err);
		goto out;
	}
	spec.number = number;
	spec.argv = (const char *const *)args;
	spec.trial_dir = trial_dir;
	if (sup_start(s, &spec, on_done, &d, err, sizeof(err))) {
		cli_error("%s", err);
		goto out;
	}
	r = sup_run(s);
	if (!d.done)
		die("trial: the supervisor returned before the trial finished");
	if (d.result.reason == SUP_R_NOT_FOUND || d.result.reason == SUP_R_NOT_EXECUTABLE ||
	    d.result.reason == SUP_R_SPAWN_ERROR) {
		cli_error("%s", d.result.error);
		fprintf(stderr, "hint: check the command's path and that it is executable; "
			"the logs are in %s\n", trial_dir);
		goto out;
	}
	if (d.result.reason == SUP_R_WRITE_ERROR) {
		cli_error("%s", d.result.error);
		fprintf(stderr, "hint: the trial was ended: free some space (or fix the folder) "
			"and run it again\n");
		goto out;
	}
	if (a.json) {
		char *text = sup_result_json(&d.result, false);

		puts(text);
		free(text);
	} else
		print_text(&d.result);
	ret = r ? CB_EXIT_INTERRUPTED : CB_EXIT_OK;
out:
	if (have_view && !a.keep_view && view_remove(trial_dir, err, sizeof(err)))
		cli_error("%s", err);
	if (have_view)
		view_release(&view);
	if (have_ds)
		ds_release(&ds);
	free(subset);
	if (s)
		sup_free(s);
	sup_argv_free(args);
	free(cases);
	free(files);
	free(cwd);
	free(trial_dir);
	free(a.env);
	cli_parser_release(&p);
	return ret;
}
