/* test_report: report.json (checked against docs/report-schema.json with
 * python3's jsonschema), report.md, and the repro bundle, on a real dataset
 * made by examples/mkcases and a journal written through the journal
 * module: the bundle holds exactly the culprit's files, copied, the user's
 * dataset is untouched, and repro.sh reproduces the crash on the bundle
 * alone with a real trainer. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "casebisect/classify.h"
#include "casebisect/confidence.h"
#include "casebisect/dataset.h"
#include "casebisect/gpu.h"
#include "casebisect/journal.h"
#include "casebisect/plan.h"
#include "casebisect/report.h"
#include "casebisect/util.h"
#include "helpers.h"

TestSuite(report, .init = tmpdir_setup, .fini = tmpdir_teardown);

#define DS_NAME "Dataset042_Bad"
#define BAD_LINE "RuntimeError: index 7 is out of bounds for dimension 1 with size 3"
#define OOM_LINE "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
#define NO_GPU "no CUDA library found (libcudart.so: cannot open shared object file)"
#define ENV_MINE "CB_REPORT_TEST=it's \"here\" $HOME"

/* What torchtrain.py printed on stderr when it met label 7 (a real run). */
static const char real_stderr[] =
	"Traceback (most recent call last):\n"
	"  File \"/work/main/harness/torchtrain.py\", line 259, in <module>\n"
	"    sys.exit(main(sys.argv[1:]))\n"
	"  File \"/work/main/harness/torchtrain.py\", line 243, in main\n"
	"    loss = soft_dice_loss(logits, label) + ce(logits, label[:, 0])\n"
	"  File \"/work/main/harness/torchtrain.py\", line 192, in soft_dice_loss\n"
	"    y_onehot.scatter_(1, target.long(), 1)\n"
	BAD_LINE "\n";

/* ---- small helpers ---- */

static char *slurp(const char *path, size_t *len)
{
	char *s = cb_read_file(path, len);

	cr_assert(s, "cannot read %s: %s", path, strerror(errno));
	return s;
}

static void mkdir_p(const char *path)
{
	char buf[PATH_MAX], *s;

	cb_strlcpy(buf, path, sizeof(buf));
	for (s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		cr_assert(mkdir(buf, 0777) == 0 || errno == EEXIST, "mkdir %s: %s", buf, strerror(errno));
		*s = '/';
	}
	cr_assert(mkdir(buf, 0777) == 0 || errno == EEXIST, "mkdir %s: %s", buf, strerror(errno));
}

/* Runs argv (NULL-terminated) in cwd (NULL: here) with stdout and stderr
 * into out_path (NULL: /dev/null); returns its exit status. A death by a
 * signal fails the test. */
static int run_prog(const char *const *argv, const char *cwd, const char *out_path)
{
	int status;
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
			_exit(126);
		if (cwd && chdir(cwd) < 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	cr_assert(waitpid(pid, &status, 0) == pid);
	cr_assert(WIFEXITED(status), "%s was killed by signal %d", argv[0], WTERMSIG(status));
	cr_assert(WEXITSTATUS(status) != 126 && WEXITSTATUS(status) != 127, "could not start %s",
		  argv[0]);
	return WEXITSTATUS(status);
}

/* The files under dir (relative, sorted, one per line); a link or anything
 * but a folder or a regular file fails the test. */
static char *tree_buf;
static size_t tree_len, tree_skip;

static int tree_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	cr_assert(flag == FTW_F || flag == FTW_D || flag == FTW_DP, "%s: not a file or folder",
		  path);
	cr_assert(S_ISREG(st->st_mode) || S_ISDIR(st->st_mode), "%s: a link or special file", path);
	if (S_ISREG(st->st_mode)) {
		append(&tree_buf, &tree_len, path + tree_skip, strlen(path + tree_skip));
		append(&tree_buf, &tree_len, "\n", 1);
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *sorted_lines(char *text)
{
	char **v = NULL, *line, *save = NULL, *out = xcalloc(1, 1);
	size_t n = 0, len = 0, i;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = line;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	for (i = 0; i < n; i++) {
		append(&out, &len, v[i], strlen(v[i]));
		append(&out, &len, "\n", 1);
	}
	free(v);
	free(text);
	return out;
}

static char *tree(const char *dir)
{
	tree_buf = xcalloc(1, 1);
	tree_len = 0;
	tree_skip = strlen(dir) + 1;
	cr_assert(nftw(dir, tree_entry, 16, FTW_PHYS) == 0, "cannot walk %s", dir);
	return sorted_lines(tree_buf);
}

static void assert_same_bytes(const char *a, const char *b)
{
	size_t la, lb;
	char *da = slurp(a, &la), *db = slurp(b, &lb);

	cr_assert(la == lb && memcmp(da, db, la) == 0, "%s and %s differ", a, b);
	free(da);
	free(db);
}

/* Checks path against docs/report-schema.json (itself checked as a draft
 * 2020-12 schema) with python3's jsonschema. */
static void assert_valid(const char *path)
{
	static const char code[] =
		"import json, sys\n"
		"import jsonschema\n"
		"schema = json.load(open(sys.argv[1]))\n"
		"doc = json.load(open(sys.argv[2]))\n"
		"jsonschema.Draft202012Validator.check_schema(schema)\n"
		"jsonschema.Draft202012Validator(schema).validate(doc)\n";
	char *schema = src_file("docs/report-schema.json"), *out = at("schema-check.out");
	const char *argv[] = { "/usr/bin/python3", "-c", code, schema, path, NULL };
	int rc = run_prog(argv, NULL, out);
	char *text = slurp(out, NULL);

	cr_assert_eq(rc, 0, "%s does not validate against the schema (python3-jsonschema "
			    "installed?):\n%s", path, text);
	free(text);
	free(schema);
	free(out);
}

static const cJSON *jget(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	cr_assert(v, "no key \"%s\"", key);
	return v;
}

static double jnum(const cJSON *o, const char *key)
{
	const cJSON *v = jget(o, key);

	cr_assert(cJSON_IsNumber(v), "\"%s\" is not a number", key);
	return v->valuedouble;
}

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = jget(o, key);

	cr_assert(cJSON_IsString(v), "\"%s\" is not a string", key);
	return v->valuestring;
}

/* The numbers of a JSON array, as "1,3,6". */
static char *jnums(const cJSON *arr)
{
	char *out = xcalloc(1, 1), num[32];
	size_t len = 0;
	const cJSON *e;

	cJSON_ArrayForEach(e, arr) {
		snprintf(num, sizeof(num), "%s%.0f", len ? "," : "", e->valuedouble);
		append(&out, &len, num, strlen(num));
	}
	return out;
}

/* ---- the fixture: a dataset, a work directory, a journal ---- */

/* One trial of the fake journal. cases: indices into the dataset. */
struct spec {
	const char *phase;
	const char *cases; /* "0 1 2" */
	const char *outcome;
	const char *klass;
	const char *reason;
	const char *evidence;
	double duration;
};

/* find-all on 6 cases, case_004 the culprit: the full run fails; halves;
 * quarters; case_004 alone fails twice (the second a confirmation); a
 * four-case subset ran out of memory, a different failure. */
static const struct spec find_all[] = {
	{ "target", "0 1 2 3 4 5", "FAIL", "cpu_index_error", "failure", BAD_LINE, 3.0 },
	{ "search", "0 1 2", "PASS", "none", "exit_0", "", 2.0 },
	{ "search", "3 4 5", "FAIL", "cpu_index_error", "failure", BAD_LINE, 2.5 },
	{ "search", "0 1 2 3", "UNRESOLVED", "oom", "other_failure", OOM_LINE, 1.5 },
	{ "search", "3", "PASS", "none", "exit_0", "", 1.0 },
	{ "search", "4 5", "FAIL", "cpu_index_error", "failure", BAD_LINE, 1.2 },
	{ "search", "4", "FAIL", "cpu_index_error", "failure", BAD_LINE, 1.1 },
	{ "search", "5", "PASS", "none", "exit_0", "", 1.0 },
	{ "search", "4", "FAIL", "cpu_index_error", "failure", BAD_LINE, 1.0 },
};

struct fx {
	char *ds_dir; /* tmpdir/Dataset042_Bad */
	char *wd;     /* tmpdir/wd */
	struct dataset ds;
	struct cls_signature target;
	struct gpu_info gpu;
	struct jrn_entry *trials;
	size_t ntrials;
	char *run_json;
	size_t culprits[1];
	struct report_input in;
};

static void make_dataset(struct fx *x)
{
	char *mkcases = src_file("examples/mkcases");
	const char *argv[] = { mkcases, "--cases", "6", "--bad", "case_004=7", NULL, NULL };
	char err[512];

	x->ds_dir = at(DS_NAME);
	argv[5] = x->ds_dir;
	cr_assert_eq(run_prog(argv, NULL, NULL), 0, "mkcases failed");
	cr_assert_eq(ds_load(&x->ds, x->ds_dir, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(x->ds.ncases, 6);
	cr_assert_str_eq(x->ds.cases[4].id, "case_004");
	free(mkcases);
}

/* run.json as run.h documents it, for command argv (NULL-terminated). */
static char *make_run_json(const struct fx *x, const char *const *argv, const char *cwd)
{
	cJSON *o = cJSON_CreateObject(), *ds = cJSON_CreateObject(), *cmd = cJSON_CreateArray();
	cJSON *env = cJSON_CreateArray(), *opt = cJSON_CreateObject();
	char *text;
	size_t i;

	cJSON_AddNumberToObject(o, "schema_version", 1);
	cJSON_AddStringToObject(ds, "path", x->ds.root);
	cJSON_AddStringToObject(ds, "format", ds_format_name(x->ds.format));
	cJSON_AddNullToObject(ds, "configuration");
	cJSON_AddNullToObject(ds, "plans");
	cJSON_AddStringToObject(ds, "digest", x->ds.digest);
	cJSON_AddItemToObject(o, "dataset", ds);
	for (i = 0; argv[i]; i++)
		cJSON_AddItemToArray(cmd, cJSON_CreateString(argv[i]));
	cJSON_AddItemToObject(o, "command", cmd);
	cJSON_AddItemToArray(env, cJSON_CreateString(ENV_MINE));
	cJSON_AddItemToObject(o, "env", env);
	cJSON_AddStringToObject(opt, "match", "kernel");
	cJSON_AddStringToObject(opt, "strategy", "find-all");
	cJSON_AddStringToObject(opt, "prior", "batch");
	cJSON_AddStringToObject(opt, "gpus", "auto");
	cJSON_AddNumberToObject(opt, "per_gpu", 1);
	cJSON_AddNumberToObject(opt, "timeout", 0);
	cJSON_AddBoolToObject(opt, "no_blocking", false);
	if (cwd)
		cJSON_AddStringToObject(opt, "cwd", cwd);
	else
		cJSON_AddNullToObject(opt, "cwd");
	cJSON_AddStringToObject(opt, "env_cmd", "uname -sr; nvidia-smi -L");
	cJSON_AddNumberToObject(opt, "seed", 1);
	cJSON_AddItemToObject(o, "options", opt);
	text = cJSON_Print(o);
	cJSON_Delete(o);
	return text;
}

static void write_logs(const struct fx *x, uint64_t trial, const char *err_text,
		       const char *out_text)
{
	char rel[64], *dir;

	snprintf(rel, sizeof(rel), "trials/%04llu", (unsigned long long)trial);
	dir = cb_path_join(x->wd, rel);
	mkdir_p(dir);
	free(write_file(dir, "stderr.log", err_text));
	free(write_file(dir, "stdout.log", out_text));
	free(dir);
}

static const char *case_id(const void *ds, size_t i)
{
	return ((const struct dataset *)ds)->cases[i].id;
}

/* Appends the trials of specs (first number `first`) through the journal
 * module, then reads the whole journal back as run.c will. */
static void make_journal(struct fx *x, const struct spec *specs, size_t n, uint64_t first)
{
	char err[512], warn[512] = "";
	struct jrn *j = jrn_open(x->wd, err, sizeof(err));
	struct jrn_names names = { case_id, NULL, 0, "" };
	size_t i;

	cr_assert(j, "%s", err);
	for (i = 0; i < n; i++) {
		const struct spec *s = &specs[i];
		struct jrn_entry e = { 0 };
		char *ids[8], *copy = xstrdup(s->cases), *tok, *save = NULL;

		e.trial = first + i;
		cb_strlcpy(e.phase, s->phase, sizeof(e.phase));
		cb_strlcpy(e.outcome, s->outcome, sizeof(e.outcome));
		cb_strlcpy(e.klass, s->klass, sizeof(e.klass));
		cb_strlcpy(e.reason, s->reason, sizeof(e.reason));
		cb_strlcpy(e.evidence, s->evidence, sizeof(e.evidence));
		cls_fingerprint_hex(&x->target, CLS_MATCH_KERNEL, e.fingerprint);
		if (!strcmp(s->klass, "oom"))
			cb_strlcpy(e.fingerprint, "d1b3a7e3eca7769d", sizeof(e.fingerprint));
		for (tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			ids[e.ncases++] = x->ds.cases[atoi(tok)].id;
		e.ids = ids; /* IDs only: the journal's older form, looked up on replay */
		e.gpu = -1;
		e.start = 1700000000 + (double)i * 10;
		e.duration_s = s->duration;
		cr_assert_eq(jrn_append(j, &e, err, sizeof(err)), 0, "%s", err);
		free(copy);
	}
	jrn_close(j);
	names.ctx = &x->ds;
	names.n = x->ds.ncases;
	cr_assert_eq(jrn_replay(x->wd, &names, &x->trials, &x->ntrials, warn, sizeof(warn), err,
				sizeof(err)), 0, "%s", err);
	cr_assert_eq(x->ntrials, first - 1 + n);
}

static void target_is_bad_label(struct cls_signature *t)
{
	memset(t, 0, sizeof(*t));
	t->klass = CLS_CPU_INDEX_ERROR;
	cb_strlcpy(t->exception, "RuntimeError", sizeof(t->exception));
	cb_strlcpy(t->message, "index 7 is out of bounds for dimension 1 with size 3",
		   sizeof(t->message));
	cb_strlcpy(t->frame, "dice.py:forward", sizeof(t->frame));
	cb_strlcpy(t->evidence, BAD_LINE, sizeof(t->evidence));
	t->line = 8;
	t->stream = CLS_STDERR;
	t->exit_known = true;
	t->exit_code = 1;
}

/* The run.json, environment and report input of a run that blamed
 * ds.cases[culprit], its command argv (NULL: a trainer that is never run). */
static void fx_fill(struct fx *x, const char *const *argv, const char *cwd, size_t culprit)
{
	static const char *const fake[] = { "/usr/bin/python3", "train.py", "--cases-file",
					    "{cases_file}", "--files-file", "{files_file}", NULL };

	x->run_json = make_run_json(x, argv ? argv : fake, cwd);
	x->gpu.available = false;
	cb_strlcpy(x->gpu.reason, NO_GPU, sizeof(x->gpu.reason));
	x->culprits[0] = culprit;

	x->in.workdir = x->wd;
	x->in.ds = &x->ds;
	x->in.verdict = "culprits_found";
	x->in.exit_code = 0;
	x->in.explanation = "One case makes training crash; the bundle reruns it alone.";
	x->in.target = &x->target;
	x->in.match = CLS_MATCH_KERNEL;
	x->in.target_source = "trial 1 (the full dataset)";
	x->in.culprits = x->culprits;
	x->in.nculprits = 1;
	x->in.trials = x->trials;
	x->in.ntrials = x->ntrials;
	x->in.rounds = 4;
	x->in.flakes = 0;
	x->in.wall_s = 75.5;
	x->in.run_json = x->run_json;
	x->in.gpu = &x->gpu;
	x->in.env_cmd_output = "Linux 6.1.0-18-amd64\nNVIDIA-SMI has failed\n";
}

/* The standard fixture: the mkcases dataset, the find-all journal with the
 * logs of trials 1 and 7, and a report input blaming case_004. */
static void fx_init(struct fx *x, const char *const *argv, const char *cwd)
{
	memset(x, 0, sizeof(*x));
	make_dataset(x);
	x->wd = at("wd");
	mkdir_p(x->wd);
	target_is_bad_label(&x->target);
	write_logs(x, 1, real_stderr, "torchtrain: torch 1.13.0a0, device cpu, 6 cases\n"
				      "CASEBISECT_BATCH case_003\nCASEBISECT_BATCH case_004\n");
	write_logs(x, 7, real_stderr, "torchtrain: torch 1.13.0a0, device cpu, 1 cases\n"
				      "CASEBISECT_BATCH case_004\n");
	make_journal(x, find_all, CB_ARRAY_SIZE(find_all), 1);
	fx_fill(x, argv, cwd, 4);
}

/* The fixture over the dataset at path (at most 8 cases): the full run
 * fails, then ds.cases[culprit] alone fails. */
static void fx_init_at(struct fx *x, const char *path, size_t culprit, const char *const *argv)
{
	char err[512], all[32] = "", one[8];
	struct spec specs[2] = {
		{ "target", all, "FAIL", "cpu_index_error", "failure", BAD_LINE, 3.0 },
		{ "search", one, "FAIL", "cpu_index_error", "failure", BAD_LINE, 1.0 },
	};
	size_t i;

	memset(x, 0, sizeof(*x));
	cr_assert_eq(ds_load(&x->ds, path, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert(x->ds.ncases <= 8 && culprit < x->ds.ncases);
	x->ds_dir = xstrdup(path);
	for (i = 0; i < x->ds.ncases; i++)
		snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%zu", i ? " " : "", i);
	snprintf(one, sizeof(one), "%zu", culprit);
	x->wd = at("wd");
	mkdir_p(x->wd);
	target_is_bad_label(&x->target);
	make_journal(x, specs, 2, 1);
	fx_fill(x, argv, NULL, culprit);
}

static void fx_release(struct fx *x)
{
	jrn_entries_free(x->trials, x->ntrials);
	ds_release(&x->ds);
	free(x->run_json);
	free(x->ds_dir);
	free(x->wd);
}

static void bundle_ok(const struct fx *x)
{
	char err[1024] = "";

	cr_assert_eq(report_bundle(&x->in, err, sizeof(err)), 0, "report_bundle: %s", err);
}

/* ---- report.json ---- */

/* The chance a culprit remains when each of `cleared` cases passed once
 * without the j culprits of n cases, and fp of the `known` trials that
 * held a culprit passed: prior odds of s more culprits (the search's prior,
 * every set alike) times E[f^s] under Beta(fp+1, known-fp+1), summed over
 * s. */
static double one_pass_each(size_t n, size_t j, size_t cleared, unsigned fp, unsigned known)
{
	double odds = 0, a = fp + 1.0, b = known - fp + 1.0, moment = 1;
	size_t s;

	for (s = 1; s <= cleared && s <= CONF_MORE_MAX; s++) {
		moment *= (a + (double)s - 1) / (a + b + (double)s - 1);
		odds += plan_prior(j + s) / plan_prior(j) *
			exp(lgamma((double)(j + s) + 1) + lgamma((double)(n - j - s) + 1) -
			    lgamma((double)j + 1) - lgamma((double)(n - j) + 1)) *
			exp(lgamma((double)cleared + 1) - lgamma((double)s + 1) -
			    lgamma((double)(cleared - s) + 1)) *
			moment;
	}
	return odds / (1 + odds);
}

/* trial_time.decisive as "role [case] trial duration, ...". */
static char *decisive_list(const cJSON *arr)
{
	char *out = xcalloc(1, 1), item[256];
	size_t len = 0;
	const cJSON *e;

	cJSON_ArrayForEach(e, arr) {
		const cJSON *id = jget(e, "case");

		snprintf(item, sizeof(item), "%s%s%s%s %.0f %.1f", len ? ", " : "", jstr(e, "role"),
			 cJSON_IsString(id) ? " " : "", cJSON_IsString(id) ? id->valuestring : "",
			 jnum(e, "trial"), jnum(e, "duration_s"));
		append(&out, &len, item, strlen(item));
	}
	return out;
}


Test(report, json_validates_against_the_schema_and_counts_from_the_journal)
{
	struct fx x;
	char err[512], *path, *text, *again, *trials;
	cJSON *o;
	const cJSON *c, *other, *sub, *conf, *tt;
	double want;

	fx_init(&x, NULL, NULL);
	cr_assert_eq(report_write(&x.in, err, sizeof(err)), 0, "%s", err);
	path = cb_path_join(x.wd, "report.json");
	assert_valid(path);
	text = slurp(path, NULL);
	again = report_json_text(&x.in);
	cr_assert_str_eq(again, text, "rendering again gives another report.json");
	o = cJSON_Parse(text);
	cr_assert(o, "not JSON:\n%s", text);

	cr_assert_eq(jnum(o, "schema_version"), REPORT_SCHEMA_VERSION);
	cr_assert_str_eq(jstr(o, "verdict"), "culprits_found");
	cr_assert_str_eq(jstr(jget(o, "target"), "class"), "cpu_index_error");
	cr_assert_str_eq(jstr(jget(o, "target"), "evidence"), BAD_LINE);
	cr_assert_str_eq(jstr(jget(o, "target"), "taken_from"), "trial 1 (the full dataset)");
	cr_assert_eq(cJSON_GetArraySize(jget(o, "culprits")), 1);
	c = cJSON_GetArrayItem(jget(o, "culprits"), 0);
	cr_assert_str_eq(jstr(c, "case"), "case_004");
	cr_assert_eq(cJSON_GetArraySize(jget(c, "files")), 2);
	cr_assert(strstr(cJSON_GetArrayItem(jget(c, "files"), 1)->valuestring,
			 "/labelsTr/case_004.nii.gz"));
	/* Alone: trials 7 and 9. With no other culprit: 1, 3, 6, 7, 9. */
	cr_assert_eq(jnum(jget(c, "alone"), "fails"), 2);
	cr_assert_eq(jnum(jget(c, "alone"), "runs"), 2);
	cr_assert_eq(jnum(jget(c, "alone"), "rate"), 1);
	cr_assert_eq(jnum(jget(c, "reproduction"), "fails"), 5);
	cr_assert_eq(jnum(jget(c, "reproduction"), "runs"), 5);
	trials = jnums(jget(c, "failing_trials"));
	cr_assert_str_eq(trials, "1,3,6,7,9");
	free(trials);
	cr_assert_str_eq(jstr(c, "evidence"), BAD_LINE);

	cr_assert_eq(jnum(jget(o, "trials"), "total"), 9);
	cr_assert_eq(jnum(jget(o, "trials"), "pass"), 3);
	cr_assert_eq(jnum(jget(o, "trials"), "fail"), 5);
	cr_assert_eq(jnum(jget(o, "trials"), "unresolved"), 1);
	cr_assert_eq(jnum(o, "cleared"), 5);
	cr_assert_float_eq(jnum(o, "gpu_s"), 14.3, 1e-9, "GPU time is the trials' durations");
	cr_assert_float_eq(jnum(o, "wall_s"), 75.5, 1e-9);

	cr_assert_eq(cJSON_GetArraySize(jget(o, "other_failures")), 1);
	other = cJSON_GetArrayItem(jget(o, "other_failures"), 0);
	cr_assert_str_eq(jstr(other, "class"), "oom");
	cr_assert_eq(jnum(other, "count"), 1);
	sub = jget(other, "smallest_subset");
	cr_assert_eq(jnum(sub, "trial"), 4);
	cr_assert_eq(jnum(sub, "size"), 4);
	cr_assert_str_eq(jstr(other, "evidence"), OOM_LINE);

	cr_assert_str_eq(jstr(jget(o, "dataset"), "format"), "nnunet-raw");
	cr_assert_eq(jnum(jget(o, "dataset"), "cases"), 6);
	cr_assert_str_eq(cJSON_GetArrayItem(jget(o, "env"), 0)->valuestring, ENV_MINE);
	cr_assert(cJSON_IsFalse(jget(jget(jget(o, "environment"), "gpu"), "available")));
	cr_assert_str_eq(jstr(jget(jget(o, "environment"), "gpu"), "reason"), NO_GPU);
	cr_assert(cJSON_IsNull(jget(o, "minimal_subset")));

	/* Confidence: the trials that held case_004 (1, 3, 6, 7, 9) all
	 * failed; the 5 cleared cases passed once each without it (2, 5, 8). */
	conf = jget(o, "confidence");
	cr_assert_eq(jnum(conf, "cleared"), 5);
	cr_assert_eq(jnum(conf, "false_passes_seen"), 0);
	cr_assert_eq(jnum(conf, "trials_with_known_culprit"), 5);
	cr_assert_eq(jnum(conf, "unexplained_fails"), 0);
	cr_assert_eq(jnum(conf, "fewest_passes"), 1);
	cr_assert_float_eq(jnum(conf, "false_pass_rate"), 1.0 / 7, 1e-9, "Laplace: (0+1)/(5+2)");
	want = one_pass_each(6, 1, 5, 0, 5);
	cr_assert_float_eq(jnum(conf, "p_culprit_remains"), want, 1e-6 * want,
			   "stated %.9f, closed form %.9f", jnum(conf, "p_culprit_remains"), want);

	/* A trial's time: the median of 3, 2, 2.5, 1.5, 1, 1.2, 1.1, 1, 1. */
	tt = jget(o, "trial_time");
	cr_assert_eq(jnum(tt, "trials"), 9);
	cr_assert_float_eq(jnum(tt, "median_s"), 1.2, 1e-9);
	cr_assert_float_eq(jnum(tt, "longest_s"), 3.0, 1e-9);
	trials = decisive_list(jget(tt, "decisive"));
	cr_assert_str_eq(trials, "full_dataset 1 3.0, culprit_alone case_004 7 1.1, "
				 "without_culprits 2 2.0", "%s", trials);
	free(trials);

	cJSON_Delete(o);
	free(again);
	free(text);
	free(path);
	fx_release(&x);
}

/* ---- report.md ---- */

Test(report, md_names_the_crash_the_case_the_command_and_the_other_failure)
{
	struct fx x;
	char err[512], *path, *md, *want;

	fx_init(&x, NULL, NULL);
	cr_assert_eq(report_write(&x.in, err, sizeof(err)), 0, "%s", err);
	path = cb_path_join(x.wd, "report.md");
	md = slurp(path, NULL);

	cr_assert(starts_with(md, "# Training crashes because of 1 case: `case_004` "
				  "(cpu_index_error)\n"), "title:\n%s", md);
	cr_assert(strstr(md, "Verdict: **culprits_found** (casebisect exits 0). One case makes"),
		  "%s", md);
	cr_assert(strstr(md, "## What crashed\n"), "%s", md);
	cr_assert(strstr(md, "- Raised in: `dice.py:forward`\n"), "the raising frame:\n%s", md);
	cr_assert(strstr(md, "```\n" BAD_LINE "\n```\n"), "the evidence line in a code block:\n%s",
		  md);
	cr_assert(strstr(md, "The decisive line, from trial 1 (the full dataset), stderr line 8:"),
		  "%s", md);
	cr_assert(strstr(md, "| `case_004` | `imagesTr/case_004_0000.nii.gz`<br>"
			     "`labelsTr/case_004.nii.gz` | 5 of 5 runs | 2 of 2 runs | "
			     "1, 3, 6, 7, 9 |\n"), "the culprit's row:\n%s", md);
	want = xstrdup("```sh\ntar xzf bundle.tar.gz && bash bundle/repro.sh\n```\n");
	cr_assert(strstr(md, want), "no repro command %s:\n%s", want, md);
	cr_assert(!strstr(md, "/bundle/repro.sh"), "report.md names the bundle where it was made:\n%s",
		  md);
	free(want);
	cr_assert(strstr(md, "```sh\n/usr/bin/python3 train.py --cases-file {cases_file} "
			     "--files-file {files_file}\n```\n"), "the original command:\n%s", md);
	cr_assert(strstr(md, "- GPU: no GPU available: " NO_GPU "\n"), "%s", md);
	cr_assert(strstr(md, "```\nLinux 6.1.0-18-amd64\nNVIDIA-SMI has failed\n```\n"),
		  "--env-cmd's output:\n%s", md);
	cr_assert(strstr(md, "`CUDA_LAUNCH_BLOCKING=1`"), "%s", md);
	cr_assert(strstr(md, "- 5 of 6 cases cleared"), "%s", md);
	cr_assert(strstr(md, "- 9 trials: 3 passed, 5 failed this way, 1 unresolved; 4 rounds."),
		  "%s", md);
	cr_assert(strstr(md, "- GPU time 14.3 s (the trials' durations added up); wall time "
			     "1 min 16 s."), "%s", md);
	/* beside the verdict, never "100%" */
	cr_assert(strstr(md, "the bundle reruns it alone.\n\nConfidence: "), "%s", md);
	cr_assert(strstr(md, "% that no other case among the 5 cleared holds a culprit. 0 of the 5 "
			     "trials that held a culprit passed (a false pass), which leaves room for "
			     "false passes about 1 time in 7; every cleared case passed at least "
			     "once without a culprit."), "%s", md);
	cr_assert(!strstr(md, "100%") && !strstr(md, "exact"), "%s", md);
	cr_assert(strstr(md, "- Trial time: median 1.2 s over 9 trials, longest 3.0 s. The trials "
			     "that decided the answer: the full dataset 3.0 s (trial 1); `case_004` "
			     "alone 1.1 s (trial 7); the largest pass without it (3 cases) 2.0 s "
			     "(trial 2).\n"), "%s", md);
	cr_assert(strstr(md, "## Other failures seen along the way\n"), "%s", md);
	cr_assert(strstr(md, "| oom | `d1b3a7e3eca7769d` | 1 | 4 cases: `case_000`, `case_001`, "
			     "`case_002`, `case_003` (trial 4) | 4 |\n"), "%s", md);
	cr_assert(strstr(md, "```\n" OOM_LINE "\n```\n"), "%s", md);
	cr_assert(!strstr(md, "## Undecided"), "%s", md);

	free(md);
	free(path);
	fx_release(&x);
}

Test(report, md_code_spans_survive_backticks_pipes_and_control_bytes)
{
	struct fx x;
	char *md;

	fx_init(&x, NULL, NULL);
	/* A hostile evidence line must not close the fence or break the table. */
	cb_strlcpy(x.target.evidence, "```\nboom | `x`\x1b[31m", sizeof(x.target.evidence));
	md = report_md_text(&x.in);
	cr_assert(strstr(md, "````\n```\nboom | `x`\\x1b[31m\n````\n"), "%s", md);
	free(md);
	fx_release(&x);
}

/* ---- no culprits ---- */

Test(report, no_culprits_renders_validates_and_makes_no_bundle)
{
	static const struct spec clean[] = {
		{ "target", "0 1 2 3 4 5", "PASS", "none", "exit_0", "", 4.0 },
	};
	struct fx x;
	char err[512], *path, *text, *md, *bundle, *tarball;
	struct stat st;
	cJSON *o;

	memset(&x, 0, sizeof(x));
	make_dataset(&x);
	x.wd = at("wd");
	mkdir_p(x.wd);
	make_journal(&x, clean, 1, 1);
	x.run_json = make_run_json(&x, (const char *const[]){ "/bin/true", NULL }, NULL);
	x.in.workdir = x.wd;
	x.in.ds = &x.ds;
	x.in.verdict = "not_reproduced";
	x.in.exit_code = 3;
	x.in.explanation = "";
	x.in.target = NULL;
	x.in.trials = x.trials;
	x.in.ntrials = x.ntrials;
	x.in.rounds = 1;
	x.in.wall_s = 4.2;
	x.in.run_json = x.run_json;

	cr_assert_eq(report_write(&x.in, err, sizeof(err)), 0, "%s", err);
	path = cb_path_join(x.wd, "report.json");
	assert_valid(path);
	text = slurp(path, NULL);
	o = cJSON_Parse(text);
	cr_assert(cJSON_IsNull(jget(o, "target")));
	cr_assert_eq(cJSON_GetArraySize(jget(o, "culprits")), 0);
	cr_assert(cJSON_IsNull(jget(o, "explanation")), "\"\" is absent: null");
	cr_assert(cJSON_IsNull(jget(jget(o, "environment"), "gpu")));
	cr_assert_eq(jnum(o, "cleared"), 6, "every case passed in trial 1");
	cr_assert(cJSON_IsNull(jget(o, "confidence")), "nothing searched, nothing to be sure of");
	cr_assert_str_eq(jstr(cJSON_GetArrayItem(jget(jget(o, "trial_time"), "decisive"), 0), "role"),
			 "full_dataset");
	cJSON_Delete(o);
	cr_assert_null(report_confidence_text(&x.in));

	md = report_md_text(&x.in);
	cr_assert(starts_with(md, "# The crash did not happen again on the full dataset\n"), "%s",
		  md);
	cr_assert(!strstr(md, "## What crashed") && !strstr(md, "## Which cases"), "%s", md);
	cr_assert(!strstr(md, "repro.sh"), "no bundle to point at:\n%s", md);
	cr_assert(strstr(md, "- GPU: not looked at\n"), "%s", md);
	cr_assert(strstr(md, "- 6 of 6 cases passed in at least one trial."), "%s", md);
	cr_assert(!strstr(md, "Confidence"), "%s", md);
	cr_assert(strstr(md, "- Trial time: median 4.0 s over 1 trial, longest 4.0 s. The trials "
			     "that decided the answer: the full dataset 4.0 s (trial 1).\n"), "%s", md);

	cr_assert_eq(report_bundle(&x.in, err, sizeof(err)), 0, "%s", err);
	bundle = cb_path_join(x.wd, "bundle");
	tarball = cb_path_join(x.wd, "bundle.tar.gz");
	cr_assert(lstat(bundle, &st) < 0 && errno == ENOENT, "a bundle without culprits");
	cr_assert(lstat(tarball, &st) < 0 && errno == ENOENT);

	free(bundle);
	free(tarball);
	free(md);
	free(text);
	free(path);
	fx_release(&x);
}

/* ---- the bundle ---- */

/* The regular files in a .tar.gz, "name size" per line, sorted; and
 * *data gets the bytes of the member named `want`. */
static char *tar_list(const char *path, const char *want, char **data, size_t *len)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char *out = xcalloc(1, 1), line[PATH_MAX + 64];
	size_t olen = 0;

	archive_read_support_filter_gzip(a);
	archive_read_support_format_all(a);
	cr_assert_eq(archive_read_open_filename(a, path, 65536), ARCHIVE_OK, "%s: %s", path,
		     archive_error_string(a));
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		snprintf(line, sizeof(line), "%s %lld\n", archive_entry_pathname(e),
			 (long long)archive_entry_size(e));
		append(&out, &olen, line, strlen(line));
		if (!strcmp(archive_entry_pathname(e), want)) {
			*len = (size_t)archive_entry_size(e);
			*data = xmalloc(*len + 1);
			cr_assert_eq(archive_read_data(a, *data, *len), (la_ssize_t)*len);
		}
	}
	cr_assert_eq(archive_read_free(a), ARCHIVE_OK);
	return sorted_lines(out);
}

Test(report, bundle_holds_copies_of_exactly_the_culprits_files)
{
	struct fx x;
	char *before, *after, *bundle, *files, *p, *q, *text, *tarball, *listing, *data = NULL;
	char *want;
	size_t len = 0;
	cJSON *dj;
	struct stat st;

	fx_init(&x, NULL, NULL);
	before = tree_snapshot(x.ds_dir);
	bundle_ok(&x);
	after = tree_snapshot(x.ds_dir);
	cr_assert_str_eq(after, before, "the user's dataset changed");

	bundle = cb_path_join(x.wd, "bundle");
	files = tree(bundle);
	cr_assert_str_eq(files, "README.md\n"
				"command.txt\n"
				"dataset/" DS_NAME "/dataset.json\n"
				"dataset/" DS_NAME "/imagesTr/case_004_0000.nii.gz\n"
				"dataset/" DS_NAME "/labelsTr/case_004.nii.gz\n"
				"env.txt\n"
				"excerpt.log\n"
				"report.md\n"
				"repro.sh\n", "the bundle holds:\n%s", files);
	p = cb_path_join(bundle, "dataset/" DS_NAME "/labelsTr/case_004.nii.gz");
	assert_same_bytes(p, x.ds.cases[4].files[1]);
	free(p);
	p = cb_path_join(bundle, "dataset/" DS_NAME "/imagesTr/case_004_0000.nii.gz");
	assert_same_bytes(p, x.ds.cases[4].files[0]);
	free(p);

	p = cb_path_join(bundle, "dataset/" DS_NAME "/dataset.json");
	text = slurp(p, NULL);
	dj = cJSON_Parse(text);
	cr_assert_eq(jnum(dj, "numTraining"), 1, "%s", text);
	cr_assert_str_eq(jstr(dj, "file_ending"), ".nii.gz");
	cr_assert(cJSON_IsObject(jget(dj, "labels")), "the rest of dataset.json is kept");
	cJSON_Delete(dj);
	free(text);
	free(p);

	p = cb_path_join(bundle, "command.txt");
	text = slurp(p, NULL);
	cr_assert_str_eq(text, "/usr/bin/python3\ntrain.py\n--cases-file\n{cases_file}\n"
			       "--files-file\n{files_file}\n");
	free(text);
	free(p);
	p = cb_path_join(bundle, "env.txt");
	text = slurp(p, NULL);
	cr_assert_str_eq(text, "TORCH_USE_CUDA_DSA=1\nPYTHONUNBUFFERED=1\nPYTHONFAULTHANDLER=1\n"
			       "nnUNet_compile=f\nCUDA_LAUNCH_BLOCKING=1\n" ENV_MINE "\n");
	free(text);
	free(p);
	p = cb_path_join(bundle, "README.md");
	text = slurp(p, NULL);
	cr_assert(strstr(text, "\n\nThis bundle contains copies of the image and label files of 1 "
			       "training case, which may be patients' data. Do not attach it"),
		  "the first paragraph warns:\n%s", text);
	free(text);
	free(p);
	/* The excerpt comes from trial 7, case_004 alone: what the bundle reruns. */
	p = cb_path_join(bundle, "excerpt.log");
	text = slurp(p, NULL);
	cr_assert(starts_with(text, "# casebisect: trial 7 (1 case) ended FAIL (cpu_index_error)"),
		  "%s", text);
	cr_assert(strstr(text, "==> trials/0007/stderr.log: lines 1-8 of 8, the decisive line "
			       "marked '>' <==\n"), "%s", text);
	cr_assert(strstr(text, ">     8  " BAD_LINE "\n"), "%s", text);
	cr_assert(strstr(text, "==> trials/0007/stdout.log: its last 2 lines of 2 <==\n"
			       "      1  torchtrain"), "%s", text);
	free(text);
	free(p);
	p = cb_path_join(bundle, "repro.sh");
	cr_assert_eq(stat(p, &st), 0);
	cr_assert(st.st_mode & S_IXUSR, "repro.sh is executable");
	free(p);

	/* The archive: the same files under bundle/, the data byte for byte. */
	tarball = cb_path_join(x.wd, "bundle.tar.gz");
	listing = tar_list(tarball, "bundle/dataset/" DS_NAME "/labelsTr/case_004.nii.gz", &data,
			   &len);
	{
		char *names = xcalloc(1, 1), *line, *save = NULL, *copy = xstrdup(listing);
		size_t nlen = 0;

		for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char *sp = strrchr(line, ' ');

			*sp = '\0';
			cr_assert(starts_with(line, "bundle/"), "%s", line);
			append(&names, &nlen, line + 7, strlen(line + 7));
			append(&names, &nlen, "\n", 1);
		}
		cr_assert_str_eq(names, files, "the archive lists:\n%s", listing);
		free(names);
		free(copy);
	}
	cr_assert(data, "no label in the archive");
	q = slurp(x.ds.cases[4].files[1], &len);
	cr_assert(memcmp(q, data, len) == 0, "the archived label differs");
	free(q);
	want = cb_fmt("%s/bundle/report.md", x.wd);
	cr_assert_eq(stat(want, &st), 0);
	free(want);

	free(data);
	free(listing);
	free(tarball);
	free(files);
	free(bundle);
	free(before);
	free(after);
	fx_release(&x);
}

Test(report, bundle_replaces_the_old_one_and_keeps_it_when_a_file_is_gone)
{
	struct fx x;
	char err[1024] = "", *bundle, *stale, *files, *again;
	struct stat st;

	fx_init(&x, NULL, NULL);
	bundle = cb_path_join(x.wd, "bundle");
	mkdir_p(bundle);
	stale = write_file(bundle, "stale.txt", "from an older run\n");
	bundle_ok(&x);
	cr_assert(lstat(stale, &st) < 0 && errno == ENOENT, "the old bundle is still there");
	files = tree(x.wd);
	cr_assert(!strstr(files, ".bundle."), "leftovers in the work directory:\n%s", files);
	free(files);

	/* A culprit's file that vanished: an error naming it, and the last
	 * good bundle stays as it was. */
	files = tree(bundle);
	cr_assert_eq(unlink(x.ds.cases[4].files[0]), 0);
	cr_assert_eq(report_bundle(&x.in, err, sizeof(err)), -1);
	cr_assert(strstr(err, x.ds.cases[4].files[0]) && strstr(err, "cannot read"), "%s", err);
	again = tree(bundle);
	cr_assert_str_eq(again, files);
	free(again);
	again = tree(x.wd);
	cr_assert(!strstr(again, ".bundle.new"), "half a bundle left:\n%s", again);
	free(again);

	free(files);
	free(stale);
	free(bundle);
	fx_release(&x);
}

/* ---- repro.sh ---- */

/* A command that writes what it got (arguments, the files behind the
 * placeholders, the environment, its folder) to out, and exits 7. */
static const char *const *probe_command(const char *out)
{
	static char script[2048];
	static const char *argv[16];

	snprintf(script, sizeof(script),
		 "{ printf 'cases=%%s\\n' \"$(cat \"$1\")\"; "
		 "while IFS= read -r l; do printf 'file=%%s\\n' \"$l\"; done < \"$2\"; "
		 "printf 'view=%%s\\n' \"$3\"; printf 'trial_dir=%%s\\n' \"$4\"; "
		 "printf 'n=%%s\\n' \"$5\"; printf 'a6=%%s\\n' \"$6\"; printf 'a7=%%s\\n' \"$7\"; "
		 "printf 'pwd=%%s\\n' \"$PWD\"; printf 'blocking=%%s\\n' \"$CUDA_LAUNCH_BLOCKING\"; "
		 "printf 'dsa=%%s\\n' \"$TORCH_USE_CUDA_DSA\"; "
		 "printf 'mine=%%s\\n' \"$CB_REPORT_TEST\"; printf 'raw=%%s\\n' \"${nnUNet_raw-}\"; "
		 "printf 'pp=%%s\\n' \"${nnUNet_preprocessed-}\"; "
		 "ls \"$4\" >/dev/null || echo 'no trial_dir'; "
		 "if [ -d \"${nnUNet_preprocessed-}\" ]; then (cd \"$nnUNet_preprocessed\" && "
		 "find . -mindepth 1 -printf 'pp_entry=%%p %%y\\n' | LC_ALL=C sort); fi; } > '%s'; "
		 "exit 7",
		 out);
	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[2] = script;
	argv[3] = "sh";
	argv[4] = "{cases_file}";
	argv[5] = "{files_file}";
	argv[6] = "{view}";
	argv[7] = "{trial_dir}";
	argv[8] = "{n}";
	argv[9] = "it's a {n}-case 'subset' {nope}";
	argv[10] = "$HOME `id` \\ \"q\"";
	argv[11] = NULL;
	return argv;
}

/* The value of "key=" in the probe's output (the caller frees it). */
static char *probe_get(const char *text, const char *key, size_t nth)
{
	char *want = cb_fmt("%s=", key), *v = NULL;
	const char *p = text;
	size_t n = 0;

	while (p && *p) {
		if (starts_with(p, want) && n++ == nth) {
			const char *end = strchr(p, '\n');

			v = strndup(p + strlen(want), (size_t)(end - p) - strlen(want));
			break;
		}
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	free(want);
	cr_assert(v, "no %s #%zu in:\n%s", key, nth, text);
	return v;
}

/* Runs BUNDLE/repro.sh [mode] (NULL: none) from tmpdir/elsewhere, its
 * output into out. Returns its status. */
static int run_repro(const char *bundle, const char *mode, const char *out)
{
	char *script = cb_path_join(bundle, "repro.sh"), *elsewhere = at("elsewhere");
	const char *argv[] = { "/bin/bash", script, mode, NULL };
	int rc;

	mkdir_p(elsewhere);
	rc = run_prog(argv, elsewhere, out);
	free(script);
	free(elsewhere);
	return rc;
}

/* Moves WORKDIR/bundle to tmpdir/moved/bundle and runs its repro.sh from
 * tmpdir/elsewhere: the script finds its own folder. Returns the status. */
static int run_moved_repro(const struct fx *x, const char *out, char **moved)
{
	char *from = cb_path_join(x->wd, "bundle"), *parent = at("moved");
	int rc;

	*moved = at("moved/bundle");
	mkdir_p(parent);
	cr_assert_eq(rename(from, *moved), 0, "%s", strerror(errno));
	rc = run_repro(*moved, NULL, out);
	free(parent);
	free(from);
	return rc;
}

Test(report, repro_sh_fills_placeholders_sets_env_quotes_and_passes_the_status)
{
	struct fx x;
	char *out = at("probe.out"), *log = at("repro.log"), *cwd = at("the cwd"), *moved, *text;
	char *v, *want, *before, *after;

	mkdir_p(cwd);
	fx_init(&x, probe_command(out), cwd);
	bundle_ok(&x);
	{
		char *b = cb_path_join(x.wd, "bundle");

		before = tree_snapshot(b);
		free(b);
	}
	cr_assert_eq(run_moved_repro(&x, log, &moved), 7, "repro.sh passes the command's status");
	after = tree_snapshot(moved);
	text = slurp(out, NULL);

	v = probe_get(text, "cases", 0);
	cr_assert_str_eq(v, "case_004");
	free(v);
	v = probe_get(text, "file", 0);
	want = cb_fmt("%s/dataset/" DS_NAME "/imagesTr/case_004_0000.nii.gz\t%s/dataset/" DS_NAME
		      "/labelsTr/case_004.nii.gz", moved, moved);
	cr_assert_str_eq(v, want, "files.txt: absolute paths into the bundle");
	free(want);
	free(v);
	v = probe_get(text, "view", 0);
	want = cb_fmt("%s/dataset/" DS_NAME, moved);
	cr_assert_str_eq(v, want);
	free(want);
	free(v);
	v = probe_get(text, "raw", 0);
	want = cb_fmt("%s/dataset", moved);
	cr_assert_str_eq(v, want, "nnUNet_raw is the bundle's dataset folder");
	free(want);
	free(v);
	v = probe_get(text, "n", 0);
	cr_assert_str_eq(v, "1");
	free(v);
	v = probe_get(text, "a6", 0);
	cr_assert_str_eq(v, "it's a 1-case 'subset' {nope}");
	free(v);
	v = probe_get(text, "a7", 0);
	cr_assert_str_eq(v, "$HOME `id` \\ \"q\"", "no byte of an argument reaches the shell");
	free(v);
	v = probe_get(text, "pwd", 0);
	want = probe_get(text, "trial_dir", 0);
	cr_assert_str_eq(v, want, "the command runs in repro.sh's temporary folder, not in %s", cwd);
	free(want);
	free(v);
	v = probe_get(text, "blocking", 0);
	cr_assert_str_eq(v, "1");
	free(v);
	v = probe_get(text, "dsa", 0);
	cr_assert_str_eq(v, "1");
	free(v);
	v = probe_get(text, "mine", 0);
	cr_assert_str_eq(v, strchr(ENV_MINE, '=') + 1, "--env from run.json");
	free(v);
	cr_assert(!strstr(text, "no trial_dir"), "{trial_dir} exists while the command runs");
	v = probe_get(text, "trial_dir", 0);
	{
		struct stat st;

		cr_assert(lstat(v, &st) < 0 && errno == ENOENT, "the temporary folder is removed");
	}
	free(v);
	v = probe_get(text, "pp", 0);
	cr_assert(!starts_with(v, moved), "nnU-Net's output goes outside the bundle: %s", v);
	free(v);
	cr_assert_str_eq(after, before, "repro.sh wrote into the bundle");

	free(before);
	free(after);
	free(text);
	free(moved);
	free(cwd);
	free(log);
	free(out);
	fx_release(&x);
}

/* The trainer: harness/toytrain (C, fast) when it is built, else the real
 * PyTorch one on the CPU. argv gets the command (NULL-terminated). */
static void trainer_command(const char **argv, char **owned)
{
	char *toy = src_file("harness/toytrain");

	if (access(toy, X_OK) == 0) {
		const char *cmd[] = { toy, "--cases-file", "{cases_file}", "--files-file",
				      "{files_file}", NULL };

		memcpy(argv, cmd, sizeof(cmd));
		*owned = toy;
		return;
	}
	free(toy);
	*owned = src_file("harness/torchtrain.py");
	{
		const char *cmd[] = { "/usr/bin/python3", *owned, "--cases-file", "{cases_file}",
				      "--files-file", "{files_file}", "--device", "cpu", NULL };

		memcpy(argv, cmd, sizeof(cmd));
	}
}

Test(report, repro_sh_reproduces_the_crash_with_a_real_trainer_on_the_bundle_alone)
{
	static const char *const others[] = { "case_000", "case_001", "case_002", "case_003",
					      "case_005" };
	struct fx x;
	const char *argv[16] = { 0 };
	char *owned, *log = at("repro.log"), *target_wd = at("target"), *moved, *text;
	struct run r;
	cJSON *trial, *cls;
	const char *klass;
	size_t i;

	trainer_command(argv, &owned);
	fx_init(&x, argv, NULL);

	/* The target, as run.c takes it: a real trial on the full dataset. */
	mkdir_p(target_wd);
	run(&r, "trial", "--json", "--workdir", target_wd, "--timeout", "180", "--dataset",
	    x.ds_dir, "--", argv[0], argv[1], argv[2], argv[3], argv[4], argv[5], argv[6],
	    argv[7]); /* argv's own NULL ends the list early for a shorter command */
	cr_assert_eq(r.code, 0, "%s", r.err);
	trial = cJSON_Parse(r.out);
	cr_assert(trial, "%s", r.out);
	cr_assert_str_eq(jstr(trial, "outcome"), "FAIL", "%s", r.out);
	klass = jstr(trial, "class");
	cr_assert_eq(cls_class_parse(klass, &x.target.klass), 0);
	run_release(&r);

	bundle_ok(&x);
	cr_assert_neq(run_moved_repro(&x, log, &moved), 0, "repro.sh did not fail");
	text = slurp(log, NULL);
	cr_assert(strstr(text, "CASEBISECT_BATCH case_004"), "%s", text);
	for (i = 0; i < CB_ARRAY_SIZE(others); i++)
		cr_assert(!strstr(text, others[i]), "%s ran: only the bundle's case may:\n%s",
			  others[i], text);

	run(&r, "classify", "--json", log);
	cr_assert_eq(r.code, 0, "%s", r.err);
	cls = cJSON_Parse(r.out);
	cr_assert(cls, "%s", r.out);
	cr_assert_str_eq(jstr(cls, "class"), klass, "repro.sh's output:\n%s", text);

	cJSON_Delete(cls);
	cJSON_Delete(trial);
	run_release(&r);
	free(text);
	free(moved);
	free(log);
	free(owned);
	free(target_wd);
	fx_release(&x);
}

/* ---- the other layouts ---- */

static void mkcases_at(const char *dir)
{
	char *mkcases = src_file("examples/mkcases");
	const char *argv[] = { mkcases, "--cases", "6", "--bad", "case_004=7", dir, NULL };

	cr_assert_eq(run_prog(argv, NULL, NULL), 0, "mkcases failed");
	free(mkcases);
}

static char *bundle_file(const struct fx *x, const char *rel)
{
	char *b = cb_path_join(x->wd, "bundle"), *p = cb_path_join(b, rel);

	free(b);
	return p;
}

static void assert_file_is(const struct fx *x, const char *rel, const char *want)
{
	char *p = bundle_file(x, rel), *text = slurp(p, NULL);

	cr_assert_str_eq(text, want, "%s", rel);
	free(text);
	free(p);
}

/* Runs the bundle's repro.sh with the probe command (moved, from
 * elsewhere) and returns what the probe wrote; *moved is where the bundle
 * went. The bundle and the user's dataset at ds_dir are left unchanged. */
static char *probe_repro(const struct fx *x, const char *out, const char *ds_dir, char **moved)
{
	char *b = cb_path_join(x->wd, "bundle"), *before = tree_snapshot(b), *after, *log = at("repro.log");
	char *ds_before = tree_snapshot(ds_dir), *ds_after;

	cr_assert_eq(run_moved_repro(x, log, moved), 7, "repro.sh passes the command's status");
	after = tree_snapshot(*moved);
	cr_assert_str_eq(after, before, "repro.sh wrote into the bundle");
	ds_after = tree_snapshot(ds_dir);
	cr_assert_str_eq(ds_after, ds_before, "the user's dataset changed");
	free(ds_before);
	free(ds_after);
	free(before);
	free(after);
	free(log);
	free(b);
	return slurp(out, NULL);
}

Test(report, list_bundle_keeps_relative_paths_and_repro_lists_the_copies)
{
	struct fx x;
	char *ds = at(DS_NAME), *list_text = xcalloc(1, 1), *list, *out = at("probe.out"), *b;
	char *files, *text, *moved, *v, *want, line[256];
	size_t len = 0, i;

	mkcases_at(ds);
	for (i = 0; i < 6; i++) {
		snprintf(line, sizeof(line), "case_%03zu\t" DS_NAME "/imagesTr/case_%03zu_0000.nii.gz\t"
			 DS_NAME "/labelsTr/case_%03zu.nii.gz\n", i, i, i);
		append(&list_text, &len, line, strlen(line));
	}
	list = write_file(tmpdir, "cases.tsv", list_text);
	fx_init_at(&x, list, 4, probe_command(out));
	cr_assert_eq(x.ds.format, DS_LIST);
	bundle_ok(&x);

	b = bundle_file(&x, "dataset");
	files = tree(b);
	cr_assert_str_eq(files, DS_NAME "/imagesTr/case_004_0000.nii.gz\n"
				DS_NAME "/labelsTr/case_004.nii.gz\n"
				"cases.txt\nfiles.txt\n", "%s", files);
	assert_file_is(&x, "dataset/cases.txt", "case_004\n");
	assert_file_is(&x, "dataset/files.txt", DS_NAME "/imagesTr/case_004_0000.nii.gz\t"
						DS_NAME "/labelsTr/case_004.nii.gz\n");
	v = bundle_file(&x, "dataset/" DS_NAME "/labelsTr/case_004.nii.gz");
	assert_same_bytes(v, x.ds.cases[4].files[1]);
	free(v);

	text = probe_repro(&x, out, ds, &moved);
	v = probe_get(text, "file", 0);
	want = cb_fmt("%s/dataset/" DS_NAME "/imagesTr/case_004_0000.nii.gz\t%s/dataset/" DS_NAME
		      "/labelsTr/case_004.nii.gz", moved, moved);
	cr_assert_str_eq(v, want);
	free(want);
	free(v);
	v = probe_get(text, "view", 0);
	cr_assert(strstr(v, "/cases.txt") && !starts_with(v, moved), "{view} is the cases file: %s",
		  v);
	free(v);

	free(text);
	free(moved);
	free(files);
	free(b);
	free(list);
	free(list_text);
	free(out);
	free(ds);
	fx_release(&x);
}

Test(report, msd_bundle_cuts_training_keeps_entry_keys_and_empties_validation)
{
	struct fx x;
	char *ds = at(DS_NAME), *json = xcalloc(1, 1), *lists = at("lists"), *path, *out, *b;
	char *files, *text, *moved, *v, *want, entry[512];
	size_t len = 0, i;
	cJSON *o, *e;

	mkcases_at(ds);
	mkdir_p(lists);
	{
		static const char head[] = "{\"name\": \"Bad\", \"numTraining\": 6, \"training\": [";

		append(&json, &len, head, strlen(head));
	}
	for (i = 0; i < 6; i++) {
		snprintf(entry, sizeof(entry), "%s{\"image\": \"../" DS_NAME "/imagesTr/case_%03zu_0000"
			 ".nii.gz\", \"label\": \"../" DS_NAME "/labelsTr/case_%03zu.nii.gz\", "
			 "\"fold\": %zu}", i ? ", " : "", i, i, i % 5);
		append(&json, &len, entry, strlen(entry));
	}
	snprintf(entry, sizeof(entry), "], \"validation\": [{\"image\": \"../" DS_NAME
		 "/imagesTr/case_000_0000.nii.gz\"}], \"test\": [\"../" DS_NAME
		 "/imagesTr/case_001_0000.nii.gz\"]}\n");
	append(&json, &len, entry, strlen(entry));
	path = write_file(lists, "datalist.json", json);
	out = at("probe.out");
	fx_init_at(&x, path, 4, probe_command(out));
	cr_assert_eq(x.ds.format, DS_MSD);
	cr_assert_str_eq(x.ds.cases[4].id, "case_004");
	bundle_ok(&x);

	b = bundle_file(&x, "dataset");
	files = tree(b);
	cr_assert_str_eq(files, "datalist.json\n"
				"external/case_004/case_004.nii.gz\n"
				"external/case_004/case_004_0000.nii.gz\n", "files from outside the "
				"datalist's folder go to external/:\n%s", files);
	v = bundle_file(&x, "dataset/datalist.json");
	text = slurp(v, NULL);
	free(v);
	o = cJSON_Parse(text);
	cr_assert(o, "%s", text);
	cr_assert_str_eq(jstr(o, "name"), "Bad");
	cr_assert_eq(jnum(o, "numTraining"), 1);
	cr_assert_eq(cJSON_GetArraySize(jget(o, "training")), 1, "%s", text);
	e = cJSON_GetArrayItem(jget(o, "training"), 0);
	cr_assert_str_eq(jstr(e, "image"), "external/case_004/case_004_0000.nii.gz");
	cr_assert_str_eq(jstr(e, "label"), "external/case_004/case_004.nii.gz");
	cr_assert_eq(jnum(e, "fold"), 4, "the entry's other keys are kept");
	cr_assert_eq(cJSON_GetArraySize(jget(o, "validation")), 0);
	cr_assert_eq(cJSON_GetArraySize(jget(o, "test")), 0);
	cJSON_Delete(o);
	free(text);
	v = bundle_file(&x, "dataset/external/case_004/case_004.nii.gz");
	assert_same_bytes(v, x.ds.cases[4].files[1]);
	free(v);

	text = probe_repro(&x, out, ds, &moved);
	v = probe_get(text, "view", 0);
	want = cb_fmt("%s/dataset/datalist.json", moved);
	cr_assert_str_eq(v, want);
	free(want);
	free(v);
	v = probe_get(text, "file", 0);
	want = cb_fmt("%s/dataset/external/case_004/case_004_0000.nii.gz\t"
		      "%s/dataset/external/case_004/case_004.nii.gz", moved, moved);
	cr_assert_str_eq(v, want);
	free(want);
	free(v);

	free(text);
	free(moved);
	free(files);
	free(b);
	free(out);
	free(path);
	free(lists);
	free(json);
	free(ds);
	fx_release(&x);
}

/* An nnU-Net preprocessed dataset of placeholder files (as test_dataset's). */
static char *make_pre(void)
{
	static const char *const meta[][2] = {
		{ "nnUNetPlans.json",
		  "{\"dataset_name\": \"Dataset501_Liver\", \"plans_name\": \"nnUNetPlans\",\n"
		  " \"configurations\": {\"3d_fullres\": {\"data_identifier\": "
		  "\"nnUNetPlans_3d_fullres\", \"batch_size\": 2}}}\n" },
		{ "dataset.json", "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": "
				  "0, \"liver\": 1}, \"numTraining\": 3, \"file_ending\": \".nii.gz\"}\n" },
		{ "dataset_fingerprint.json", "{\"spacings\": []}\n" },
	};
	char *root = at("pp/Dataset501_Liver"), *data = at("pp/Dataset501_Liver/nnUNetPlans_3d_fullres");
	char name[64], content[128];
	size_t i;
	int k;

	mkdir_p(data);
	for (i = 0; i < CB_ARRAY_SIZE(meta); i++)
		free(write_file(root, meta[i][0], meta[i][1]));
	for (k = 0; k < 3; k++) {
		static const char *const ext[] = { ".b2nd", "_seg.b2nd", ".pkl" };

		for (i = 0; i < 3; i++) {
			snprintf(name, sizeof(name), "liver_%d%s", k, ext[i]);
			snprintf(content, sizeof(content), "the bytes of %s\n", name);
			free(write_file(data, name, content));
		}
	}
	free(data);
	return root;
}

Test(report, pre_bundle_copies_plans_and_data_and_repro_links_them_outside_it)
{
	struct fx x;
	char *root = make_pre(), *out = at("probe.out"), *b, *files, *text, *moved, *v, *p;
	cJSON *o;

	fx_init_at(&x, root, 1, probe_command(out));
	cr_assert_eq(x.ds.format, DS_NNUNET_PRE);
	cr_assert_str_eq(x.ds.cases[1].id, "liver_1");
	bundle_ok(&x);

	b = bundle_file(&x, "dataset");
	files = tree(b);
	cr_assert_str_eq(files, "Dataset501_Liver/dataset.json\n"
				"Dataset501_Liver/dataset_fingerprint.json\n"
				"Dataset501_Liver/nnUNetPlans.json\n"
				"Dataset501_Liver/nnUNetPlans_3d_fullres/liver_1.b2nd\n"
				"Dataset501_Liver/nnUNetPlans_3d_fullres/liver_1.pkl\n"
				"Dataset501_Liver/nnUNetPlans_3d_fullres/liver_1_seg.b2nd\n", "%s", files);
	v = bundle_file(&x, "dataset/Dataset501_Liver/nnUNetPlans.json");
	assert_same_bytes(v, x.ds.plans_file);
	free(v);
	v = bundle_file(&x, "dataset/Dataset501_Liver/dataset.json");
	text = slurp(v, NULL);
	o = cJSON_Parse(text);
	cr_assert_eq(jnum(o, "numTraining"), 1, "%s", text);
	cJSON_Delete(o);
	free(text);
	free(v);

	text = probe_repro(&x, out, root, &moved);
	v = probe_get(text, "view", 0);
	p = probe_get(text, "pp", 0);
	cr_assert_str_eq(v, p, "{view} is nnUNet_preprocessed");
	cr_assert(!starts_with(v, moved), "nnU-Net writes in the preprocessed folder: not the "
					  "bundle's: %s", v);
	free(v);
	free(p);
	cr_assert(strstr(text, "pp_entry=./Dataset501_Liver d\n"
			       "pp_entry=./Dataset501_Liver/dataset.json l\n"
			       "pp_entry=./Dataset501_Liver/dataset_fingerprint.json l\n"
			       "pp_entry=./Dataset501_Liver/nnUNetPlans.json l\n"
			       "pp_entry=./Dataset501_Liver/nnUNetPlans_3d_fullres d\n"
			       "pp_entry=./Dataset501_Liver/nnUNetPlans_3d_fullres/liver_1.b2nd l\n"
			       "pp_entry=./Dataset501_Liver/nnUNetPlans_3d_fullres/liver_1.pkl l\n"
			       "pp_entry=./Dataset501_Liver/nnUNetPlans_3d_fullres/liver_1_seg.b2nd l\n"),
		  "the preprocessed folder repro.sh made:\n%s", text);

	free(text);
	free(moved);
	free(files);
	free(b);
	free(out);
	free(root);
	fx_release(&x);
}

Test(report, raw_dataset_key_is_cut_to_the_culprits_with_paths_into_the_bundle)
{
	struct fx x;
	char *ds = at(DS_NAME), *json = xcalloc(1, 1), *p, *text, entry[256];
	size_t len = 0, i;
	const cJSON *key, *e;
	cJSON *o;

	mkcases_at(ds);
	{
		static const char head[] = "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": "
					   "{\"background\": 0, \"c1\": 1, \"c2\": 2}, \"numTraining\": 6, "
					   "\"file_ending\": \".nii.gz\", \"dataset\": {";

		append(&json, &len, head, strlen(head));
	}
	for (i = 0; i < 6; i++) {
		snprintf(entry, sizeof(entry), "%s\"case_%03zu\": {\"images\": [\"imagesTr/case_%03zu_0000"
			 ".nii.gz\"], \"label\": \"labelsTr/case_%03zu.nii.gz\", \"note\": %zu}",
			 i ? ", " : "", i, i, i, i);
		append(&json, &len, entry, strlen(entry));
	}
	append(&json, &len, "}}\n", 3);
	free(write_file(ds, "dataset.json", json));
	fx_init_at(&x, ds, 4, NULL);
	bundle_ok(&x);

	p = bundle_file(&x, "dataset/" DS_NAME "/dataset.json");
	text = slurp(p, NULL);
	o = cJSON_Parse(text);
	cr_assert(o, "%s", text);
	cr_assert_eq(jnum(o, "numTraining"), 1);
	key = jget(o, "dataset");
	cr_assert_eq(cJSON_GetArraySize(key), 1, "%s", text);
	e = jget(key, "case_004");
	cr_assert_eq(cJSON_GetArraySize(jget(e, "images")), 1);
	cr_assert_str_eq(cJSON_GetArrayItem(jget(e, "images"), 0)->valuestring,
			 "imagesTr/case_004_0000.nii.gz");
	cr_assert_str_eq(jstr(e, "label"), "labelsTr/case_004.nii.gz");
	cr_assert_eq(jnum(e, "note"), 4, "the entry's other keys are kept");
	cJSON_Delete(o);
	free(text);
	free(p);
	free(json);
	free(ds);
	fx_release(&x);
}

/* An argument naming the dataset (or a file under it, also as --opt=PATH)
 * is rewritten to the bundle's copy: the command lists the bundle's one
 * case, not the user's six, and the user's dataset may be gone. */
Test(report, repro_sh_points_dataset_paths_into_the_bundle)
{
	struct fx x;
	char *ds = at(DS_NAME), *out = at("probe.out"), *script, *labels, *images, *text, *moved;
	const char *argv[8];

	mkcases_at(ds);
	script = cb_fmt("{ ls \"$1\"; ls \"${2#--data=}\"; } > '%s'; exit 7", out);
	labels = cb_fmt("%s/labelsTr", ds);
	images = cb_fmt("--data=%s/imagesTr/", ds);
	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[2] = script;
	argv[3] = "sh";
	argv[4] = labels;
	argv[5] = images;
	argv[6] = NULL;
	fx_init_at(&x, ds, 4, argv);
	bundle_ok(&x);
	text = probe_repro(&x, out, ds, &moved);
	cr_assert_str_eq(text, "case_004.nii.gz\ncase_004_0000.nii.gz\n",
			 "the command saw the user's dataset, not the bundle's:\n%s", text);
	free(text);
	free(moved);
	free(images);
	free(labels);
	free(script);
	free(out);
	free(ds);
	fx_release(&x);
}

/* A fake nnU-Net: the launcher casebisect's probe would be run by, and
 * nnUNetv2_train / nnUNetv2_plan_and_preprocess on PATH, each writing its
 * arguments (and what it sees of the data) to out. */
static char *fake_nnunet(const char *out)
{
	char *launcher_dir = at("harness/nnunet"), *bin_dir = at("bin"), *path, *launcher, *s;

	mkdir_p(launcher_dir);
	mkdir_p(bin_dir);
	s = cb_fmt("#!/bin/sh\nprintf 'probe %%s\\n' \"$*\" >>'%s'\nexit 7\n", out);
	launcher = write_file(launcher_dir, "casebisect-nnunet-train", s);
	free(s);
	free(write_file(launcher_dir, "casebisect_nnunet_probe.py", "# the probe trainer\n"));
	s = cb_fmt("#!/bin/sh\nprintf 'stock %%s\\n' \"$*\" >>'%s'\n"
		   "ls \"$nnUNet_preprocessed/Dataset501_Liver\" >>'%s'\nexit 7\n", out, out);
	free(write_file(bin_dir, "nnUNetv2_train", s));
	free(s);
	s = cb_fmt("#!/bin/sh\nprintf 'plan %%s, nnUNet_n_proc_DA %%s\\n' \"$*\" "
		   "\"${nnUNet_n_proc_DA-unset}\" >>'%s'\n"
		   "ls \"$nnUNet_raw/Dataset501_Liver/labelsTr\" >>'%s'\n"
		   "mkdir -p \"$nnUNet_preprocessed/Dataset501_Liver\"\n", out, out);
	free(write_file(bin_dir, "nnUNetv2_plan_and_preprocess", s));
	free(s);
	{
		const char *names[] = { launcher, NULL };
		char *t = cb_fmt("%s/nnUNetv2_train", bin_dir), *u =
			cb_fmt("%s/nnUNetv2_plan_and_preprocess", bin_dir);

		cr_assert(chmod(names[0], 0755) == 0 && chmod(t, 0755) == 0 && chmod(u, 0755) == 0);
		free(t);
		free(u);
	}
	path = cb_fmt("%s:/usr/bin:/bin", bin_dir);
	cr_assert_eq(setenv("PATH", path, 1), 0);
	free(path);
	free(bin_dir);
	free(launcher_dir);
	return launcher;
}

/* Runs the moved bundle's repro.sh with mode; out is emptied first.
 * Returns its status; *log_text gets what it printed. */
static int pre_repro(const char *moved, const char *mode, const char *out, char **log_text)
{
	char *log = at("repro.log");
	int rc;

	unlink(out);
	rc = run_repro(moved, mode, log);
	*log_text = slurp(log, NULL);
	free(log);
	return rc;
}

Test(report, pre_bundle_carries_raw_cases_the_launcher_and_runs_probe_stock_or_from_raw)
{
	static const char *const tail[] = { "Dataset501_Liver", "3d_fullres", "all", "-tr",
					    "nnUNetTrainer_CasebisectProbe", "-p", "nnUNetPlans",
					    "-device", "cpu", NULL };
	struct fx x;
	char *root = make_pre(), *out = at("probe.out"), *launcher = fake_nnunet(out);
	char *raw = at("raw/Dataset501_Liver"), *sub, *name, *files, *b, *moved, *text, *log, *log_path;
	char *before, *after;
	const char *argv[16] = { launcher, "--cases-file", "{cases_file}" };
	size_t i;
	int k;

	for (i = 0; tail[i]; i++)
		argv[3 + i] = tail[i];
	for (k = 0; k < 6; k++) {
		sub = cb_fmt("%s/%s", raw, k % 2 ? "labelsTr" : "imagesTr");
		mkdir_p(sub);
		name = cb_fmt("liver_%d%s.nii.gz", k / 2, k % 2 ? "" : "_0000");
		free(write_file(sub, name, "raw bytes\n"));
		free(name);
		free(sub);
	}
	free(write_file(raw, "dataset.json", "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": "
			"{\"background\": 0, \"liver\": 1}, \"numTraining\": 3, \"file_ending\": "
			"\".nii.gz\"}\n"));
	sub = at("raw");
	cr_assert_eq(setenv("nnUNet_raw", sub, 1), 0);
	/* As casebisect nnunet's trials have it: nnU-Net's planner refuses 0. */
	cr_assert_eq(setenv("nnUNet_n_proc_DA", "0", 1), 0);
	free(sub);

	fx_init_at(&x, root, 1, argv);
	bundle_ok(&x);
	b = cb_path_join(x.wd, "bundle");
	files = tree(b);
	cr_assert(strstr(files, "dataset/nnUNet_raw/Dataset501_Liver/dataset.json\n"
			        "dataset/nnUNet_raw/Dataset501_Liver/imagesTr/liver_1_0000.nii.gz\n"
			        "dataset/nnUNet_raw/Dataset501_Liver/labelsTr/liver_1.nii.gz\n"),
		  "the raw case travels (and only the culprit):\n%s", files);
	cr_assert(strstr(files, "tools/nnunet/casebisect-nnunet-train\n"
			        "tools/nnunet/casebisect_nnunet_probe.py\n"), "%s", files);
	{
		char *p = bundle_file(&x, "README.md"), *readme = slurp(p, NULL);

		cr_assert(strstr(readme, "## The label file to fix\n") &&
			  strstr(readme, "- `liver_1`: `dataset/nnUNet_raw/Dataset501_Liver/labelsTr/"
					 "liver_1.nii.gz`\n"), "%s", readme);
		cr_assert(strstr(readme, "`bash repro.sh --stock`") &&
			  strstr(readme, "`bash repro.sh --from-raw`"), "%s", readme);
		free(readme);
		free(p);
	}

	before = tree_snapshot(b);
	log_path = at("repro.log");
	cr_assert_eq(run_moved_repro(&x, log_path, &moved), 7);
	log = slurp(log_path, NULL);
	free(log_path);
	cr_assert(strstr(log, "repro.sh: the command the trials ran (casebisect's probe trainer"),
		  "%s", log);
	free(log);
	text = slurp(out, NULL);
	cr_assert(starts_with(text, "probe --cases-file ") &&
		  strstr(text, "/cases.txt Dataset501_Liver 3d_fullres all -tr "
			       "nnUNetTrainer_CasebisectProbe -p nnUNetPlans -device cpu\n"),
		  "the bundle's launcher runs the probe: %s", text);
	free(text);

	cr_assert_eq(pre_repro(moved, "--stock", out, &log), 7);
	cr_assert(strstr(log, "repro.sh: --stock: nnU-Net's own nnUNetv2_train"), "%s", log);
	free(log);
	text = slurp(out, NULL);
	cr_assert(starts_with(text, "stock Dataset501_Liver 3d_fullres all -p nnUNetPlans -device "
				    "cpu\ndataset.json\n"), "%s", text);
	free(text);

	cr_assert_eq(pre_repro(moved, "--from-raw", out, &log), 7);
	cr_assert(strstr(log, "repro.sh: --from-raw: nnUNetv2_plan_and_preprocess"), "%s", log);
	free(log);
	text = slurp(out, NULL);
	cr_assert_str_eq(text, "plan -d 501 -c 3d_fullres, nnUNet_n_proc_DA unset\nliver_1.nii.gz\n"
			       "stock Dataset501_Liver 3d_fullres all -device cpu\n", "%s", text);
	free(text);

	cr_assert_eq(pre_repro(moved, "--bogus", out, &log), 2);
	cr_assert(strstr(log, "usage: bash repro.sh [--stock | --from-raw]"), "%s", log);
	free(log);

	after = tree_snapshot(moved);
	cr_assert_str_eq(after, before, "repro.sh wrote into the bundle");
	free(after);
	free(before);
	free(moved);
	free(files);
	free(b);
	free(raw);
	free(launcher);
	free(out);
	free(root);
	fx_release(&x);
}

Test(report, minimal_subset_with_undecided_cases_renders_and_validates)
{
	struct fx x;
	size_t subset[2] = { 3, 4 }, undecided[1] = { 5 };
	char err[512], *path, *text, *md, *trials;
	cJSON *o;
	const cJSON *m;

	fx_init(&x, NULL, NULL);
	x.in.verdict = "minimal_subset";
	x.in.culprits = subset;
	x.in.nculprits = 2;
	x.in.undecided = undecided;
	x.in.nundecided = 1;
	cr_assert_eq(report_write(&x.in, err, sizeof(err)), 0, "%s", err);
	path = cb_path_join(x.wd, "report.json");
	assert_valid(path);
	text = slurp(path, NULL);
	o = cJSON_Parse(text);
	m = jget(o, "minimal_subset");
	cr_assert_eq(cJSON_GetArraySize(jget(m, "cases")), 2, "%s", text);
	/* Trials 1 and 3 held both, and failed. */
	cr_assert_eq(jnum(jget(m, "reproduction"), "runs"), 2, "%s", text);
	cr_assert_eq(jnum(jget(m, "reproduction"), "fails"), 2);
	trials = jnums(jget(m, "failing_trials"));
	cr_assert_str_eq(trials, "1,3");
	free(trials);
	cr_assert_str_eq(cJSON_GetArrayItem(jget(o, "undecided"), 0)->valuestring, "case_005");
	cr_assert_eq(jnum(o, "cleared"), 3, "6 cases, 2 in the subset, 1 undecided");
	/* trials 1 and 3 held the whole subset; 6, 7 and 9 failed with part of
	 * it (case_004 and the undecided case_005), no cleared case among them */
	cr_assert_eq(jnum(jget(o, "confidence"), "cleared"), 3);
	cr_assert_eq(jnum(jget(o, "confidence"), "trials_with_known_culprit"), 2);
	cr_assert_eq(jnum(jget(o, "confidence"), "unexplained_fails"), 3);
	cr_assert(jnum(jget(o, "confidence"), "p_culprit_remains") < 1);
	cJSON_Delete(o);

	md = report_md_text(&x.in);
	cr_assert(starts_with(md, "# Training crashes only when these 2 cases are together: "
				  "`case_003` and `case_004` (cpu_index_error)\n"), "%s", md);
	cr_assert(strstr(md, "All of them together crashed in 2 of 2 runs (trials 1, 3)."), "%s", md);
	cr_assert(strstr(md, "## Undecided cases\n\nNo trial could decide this 1 case (the trials "
			     "that held it ended unresolved): `case_005`.\n"), "%s", md);
	cr_assert(strstr(md, "- 3 of 6 cases cleared"), "%s", md);
	cr_assert(strstr(md, "% that no case among the 3 cleared crashes training on its own as "
			     "well. 0 of the 2 trials that held the whole subset passed"), "%s", md);
	cr_assert(strstr(md, " But 3 trials failed the same way without holding the whole subset: "
			     "a culprit remains among the cases they held."), "%s", md);
	cr_assert(strstr(md, "The trials that decided the answer: the full dataset 3.0 s (trial 1); "
			     "the subset 2.5 s (trial 3); the largest pass without them (3 cases) "
			     "2.0 s (trial 2).\n"), "%s", md);

	free(md);
	free(text);
	free(path);
	fx_release(&x);
}

Test(report, md_lists_the_gpus_and_their_cuda_versions)
{
	struct fx x;
	char *md;

	fx_init(&x, NULL, NULL);
	x.gpu.available = true;
	x.gpu.reason[0] = '\0';
	x.gpu.count = 2;
	x.gpu.driver_version = 12040;
	x.gpu.runtime_version = 12010;
	cb_strlcpy(x.gpu.library, "libcudart.so.12", sizeof(x.gpu.library));
	for (int i = 0; i < 2; i++) {
		x.gpu.dev[i].index = i;
		cb_strlcpy(x.gpu.dev[i].name, "NVIDIA H100 80GB HBM3", sizeof(x.gpu.dev[i].name));
		x.gpu.dev[i].total_mem = 85045477376ULL;
		x.gpu.dev[i].cc_major = 9;
	}
	md = report_md_text(&x.in);
	cr_assert(strstr(md, "## Environment\n\n"
			     "- GPU 0: NVIDIA H100 80GB HBM3, 79.2 GiB, compute capability 9.0\n"
			     "- GPU 1: NVIDIA H100 80GB HBM3, 79.2 GiB, compute capability 9.0\n"
			     "- CUDA: the driver supports 12.4, runtime 12.1 (`libcudart.so.12`)\n"),
		  "%s", md);
	free(md);
	{
		char err[512], *path = cb_path_join(x.wd, "report.json");

		cr_assert_eq(report_write(&x.in, err, sizeof(err)), 0, "%s", err);
		assert_valid(path);
		free(path);
	}
	fx_release(&x);
}
