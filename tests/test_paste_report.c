/* test_paste_report: what a run hands over when it could not finish (an
 * undetermined run names what it found, and resume goes on), and a report
 * that is ready to paste into an issue: the decisive traceback, the
 * environment found without --env-cmd, the casebisect command line, the
 * target's stream and exit code, under GitHub's comment limit. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "casebisect/dataset.h"
#include "casebisect/journal.h"
#include "casebisect/report.h"
#include "casebisect/sysinfo.h"
#include "casebisect/util.h"
#include "helpers.h"

TestSuite(paste, .init = tmpdir_setup, .fini = tmpdir_teardown);

/* GitHub's limit on an issue comment, in characters. */
#define COMMENT_LIMIT 65536

static const char *toy(void)
{
	static char *toy;

	if (!toy)
		toy = src_file("harness/toytrain");
	return toy;
}

static char *slurp(const char *dir, const char *name)
{
	char *path = cb_path_join(dir, name), *text = cb_read_file(path, NULL);

	cr_assert(text, "cannot read %s", path);
	free(path);
	return text;
}

static cJSON *report_json(const char *wd)
{
	char *path = cb_path_join(wd, "report.json");
	cJSON *o = read_json(path);

	free(path);
	return o;
}

static const cJSON *get(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	cr_assert(v, "no key \"%s\"", key);
	return v;
}

static bool has_id(const cJSON *arr, const char *id)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, arr)
		if (cJSON_IsString(e) && !strcmp(e->valuestring, id))
			return true;
	return false;
}

/* What a command prints, without its last newline; the caller frees it. */
static char *output_of(const char *cmd)
{
	char *path = at("output_of.txt"), *full = cb_fmt("%s >'%s' 2>/dev/null", cmd, path), *text;
	size_t n;

	cr_assert(system(full) == 0, "%s failed", cmd);
	text = cb_read_file(path, &n);
	cr_assert(text);
	if (n && text[n - 1] == '\n')
		text[n - 1] = '\0';
	free(full);
	free(path);
	return text;
}

/* The lines of the fenced block that follows `after` in md. */
static size_t block_lines(const char *md, const char *after)
{
	const char *p = strstr(md, after), *open, *close;
	size_t n = 0;

	cr_assert(p, "no \"%s\" in report.md:\n%s", after, md);
	open = strstr(p, "```\n");
	cr_assert(open);
	open += 4;
	close = strstr(open, "\n```");
	cr_assert(close);
	for (p = open; p <= close; p++)
		n += *p == '\n';
	return n;
}

/* ---- undetermined is still useful ---- */

/* A 1,000-case run cut off by --max-trials names the smallest failing
 * subset it saw, the cases still open and the culprits confirmed so far
 * (none yet); the bundle holds that subset, and its README and repro.sh
 * count the bundle's cases. report.md stays under GitHub's comment limit.
 * resume --max-trials then goes on to the verdict. */
Test(paste, a_thousand_case_run_cut_off_names_what_it_found_and_resume_finishes)
{
	static const char *const bad[] = { "case_123=9", NULL };
	char *ds = mkcases_in("ds", 1000, bad), *wd = cb_fmt("%s/wd", tmpdir);
	char *md, *readme, *repro, *want, *labels;
	const cJSON *sub, *open, *cases;
	struct run r;
	cJSON *o;
	size_t size, cleared, nopen;
	struct stat st;

	run(&r, "run", "--workdir", wd, "--gpus", "none", "--prior", "none", "--max-trials", "8", ds,
	    "--", toy(), "--cases-file", "{cases_file}", "--files-file", "{files_file}");
	cr_assert_eq(r.code, 6, "exit %d\n%s\n%s", r.code, r.out, r.err);
	run_release(&r);
	assert_schema_valid(wd);
	o = report_json(wd);
	cr_assert_str_eq(get(o, "verdict")->valuestring, "undetermined");
	cr_assert_eq(cJSON_GetArraySize(get(o, "culprits")), 0);
	sub = get(o, "smallest_failing_subset");
	cr_assert(cJSON_IsObject(sub), "no smallest failing subset");
	size = (size_t)get(sub, "size")->valuedouble;
	cases = get(sub, "cases");
	cr_assert(size > 1 && size < 1000, "smallest failing subset of %zu cases", size);
	cr_assert_eq((size_t)cJSON_GetArraySize(cases), size);
	cr_assert(has_id(cases, "case_123"), "the culprit is not in the smallest failing subset");
	cr_assert(cJSON_IsTrue(get(sub, "bundled")));
	open = get(o, "open_cases");
	nopen = (size_t)cJSON_GetArraySize(open);
	cleared = (size_t)get(o, "cleared")->valuedouble;
	cr_assert_eq(nopen + cleared, 1000, "%zu open and %zu cleared of 1000", nopen, cleared);
	cr_assert(has_id(open, "case_123") && nopen > 20, "%zu open", nopen);

	md = slurp(wd, "report.md");
	cr_assert(strlen(md) < COMMENT_LIMIT, "report.md holds %zu bytes", strlen(md));
	cr_assert(strstr(md, "## What is known so far"), "%s", md);
	cr_assert(strstr(md, "Culprits confirmed so far (each crashed training alone): none yet"),
		  "%s", md);
	want = cb_fmt("The smallest subset seen to crash training this way: %zu cases (trial %d)",
		      size, get(sub, "trial")->valueint);
	cr_assert(strstr(md, want), "no \"%s\" in\n%s", want, md);
	free(want);
	want = cb_fmt("Still open: %zu of 1000 cases", nopen);
	cr_assert(strstr(md, want), "no \"%s\" in\n%s", want, md);
	free(want);
	want = cb_fmt(" and %zu more (report.json's open_cases lists them all)", nopen - 20);
	cr_assert(strstr(md, want), "the open list is not capped: no \"%s\"", want);
	free(want);
	want = cb_fmt("`casebisect resume %s --max-trials N`", wd);
	cr_assert(strstr(md, want), "no \"%s\" in\n%s", want, md);
	free(want);
	free(md);

	/* the bundle: the smallest failing subset, counted as such */
	readme = slurp(wd, "bundle/README.md");
	want = cb_fmt("the image and label files of %zu training cases", size);
	cr_assert(strstr(readme, want), "no \"%s\" in\n%s", want, readme);
	free(want);
	cr_assert(strstr(readme, "not culprits"), "%s", readme);
	repro = slurp(wd, "bundle/repro.sh");
	want = cb_fmt("\nn=%zu\n", size);
	cr_assert(strstr(repro, want), "repro.sh does not count %zu cases:\n%s", size, repro);
	free(want);
	want = cb_fmt("on the %zu cases of this bundle", size);
	cr_assert(strstr(repro, want), "%s", repro);
	free(want);
	want = cb_fmt("find '%s/bundle/dataset' -path '*labelsTr/*.nii.gz' | wc -l", wd);
	labels = output_of(want);
	cr_assert_eq(strtoul(labels, NULL, 10), size, "the bundle holds %s labels, not %zu", labels,
		     size);
	free(labels);
	free(want);
	want = cb_fmt("find '%s/bundle/dataset' -path '*labelsTr/case_123.nii.gz'", wd);
	labels = output_of(want);
	cr_assert(stat(labels, &st) == 0, "case_123's label is not in the bundle");
	free(labels);
	free(want);
	free(readme);
	free(repro);
	cJSON_Delete(o);

	/* resume goes on to the verdict */
	run(&r, "resume", wd, "--max-trials", "100");
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	run_release(&r);
	assert_schema_valid(wd);
	o = report_json(wd);
	cr_assert_str_eq(get(o, "verdict")->valuestring, "culprits_found");
	cr_assert(cJSON_IsNull(get(o, "smallest_failing_subset")));
	cr_assert_eq(cJSON_GetArraySize(get(o, "open_cases")), 0);
	cr_assert_str_eq(get(cJSON_GetArrayItem(get(o, "culprits"), 0), "case")->valuestring,
			 "case_123");
	readme = slurp(wd, "bundle/README.md");
	cr_assert(strstr(readme, "the image and label files of 1 training case,"), "%s", readme);
	cr_assert(!strstr(readme, "not culprits"), "%s", readme);
	md = slurp(wd, "report.md");
	cr_assert(!strstr(md, "## What is known so far"), "%s", md);
	free(md);
	free(readme);
	cJSON_Delete(o);
	free(wd);
	free(ds);
}

/* The number of the first trial of one case that failed, from WORKDIR's
 * journal; 0 when none did. */
static unsigned long first_alone_fail(const char *wd)
{
	char *text = slurp(wd, "journal.jsonl"), *line;
	unsigned long k = 0;
	size_t i, n = count_lines(text);
	cJSON *o;

	for (i = 0; i < n && !k; i++) {
		line = line_at(text, i);
		o = cJSON_Parse(line);
		if (o && !strcmp(get(o, "outcome")->valuestring, "FAIL") &&
		    get(o, "case_ranges")->child && !get(o, "case_ranges")->child->next) {
			const cJSON *r = get(o, "case_ranges")->child;

			if (cJSON_GetArrayItem(r, 0)->valueint == cJSON_GetArrayItem(r, 1)->valueint)
				k = (unsigned long)get(o, "trial")->valuedouble;
		}
		cJSON_Delete(o);
		free(line);
	}
	free(text);
	return k;
}

/* Cut off just after the first culprit of two ran alone: it is named as
 * confirmed so far, in the terminal, report.md, report.json and the
 * bundle, which holds it alone. */
Test(paste, a_run_cut_off_after_a_culprit_names_it_as_confirmed_so_far)
{
	static const char *const bad[] = { "case_010=9", "case_040=9", NULL };
	char *ds = mkcases_in("ds", 64, bad), *full = cb_fmt("%s/full", tmpdir);
	char *wd = cb_fmt("%s/wd", tmpdir), max[32], *md, *readme, *culprit;
	struct run r;
	cJSON *o;
	unsigned long k;

	run(&r, "run", "--workdir", full, "--gpus", "none", "--prior", "none", ds, "--", toy(),
	    "--cases-file", "{cases_file}", "--files-file", "{files_file}");
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	run_release(&r);
	k = first_alone_fail(full);
	cr_assert(k > 2, "no culprit ran alone in the full run");
	snprintf(max, sizeof(max), "%lu", k);
	run(&r, "run", "--workdir", wd, "--gpus", "none", "--prior", "none", "--max-trials", max, ds,
	    "--", toy(), "--cases-file", "{cases_file}", "--files-file", "{files_file}");
	cr_assert_eq(r.code, 6, "exit %d\n%s\n%s", r.code, r.out, r.err);
	o = report_json(wd);
	cr_assert_eq(cJSON_GetArraySize(get(o, "culprits")), 1);
	culprit = xstrdup(get(cJSON_GetArrayItem(get(o, "culprits"), 0), "case")->valuestring);
	cr_assert(!strcmp(culprit, "case_010") || !strcmp(culprit, "case_040"), "%s", culprit);
	cr_assert(strstr(r.out, "culprit (confirmed so far): "), "%s", r.out);
	cr_assert_eq(get(get(o, "smallest_failing_subset"), "size")->valueint, 1);
	cr_assert(!has_id(get(o, "open_cases"), culprit));
	assert_schema_valid(wd);
	md = slurp(wd, "report.md");
	cr_assert(strstr(md, "Culprits confirmed so far (each crashed training alone): `"), "%s", md);
	cr_assert(strstr(md, "Confirmed so far: training crashes with this case alone."), "%s", md);
	readme = slurp(wd, "bundle/README.md");
	cr_assert(strstr(readme, "files of 1 training case,") &&
		  strstr(readme, "this case crashed training on its own"), "%s", readme);
	free(readme);
	free(md);
	free(culprit);
	cJSON_Delete(o);
	run_release(&r);
	free(wd);
	free(full);
	free(ds);
}

/* ---- report.md under the comment limit, whatever the run ---- */

/* The worst a report.md can get on 1,000 cases: an unfinished search that
 * confirmed 300 culprits, each with a long line of its own, 700 cases
 * undecided, 3,000 trials. Every long list is cut ("and N more"). */
Test(paste, report_md_of_a_thousand_cases_stays_under_the_comment_limit)
{
	char *ds_dir = mkcases_in("ds", 1000, NULL), err[512], *md, *json;
	struct dataset ds;
	struct cls_signature target;
	struct report_input in;
	struct jrn_entry *t;
	size_t *culprits, *undecided, i, ntrials = 3000;
	cJSON *o;

	cr_assert_eq(ds_load(&ds, ds_dir, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ds.ncases, 1000);
	memset(&target, 0, sizeof(target));
	target.klass = CLS_CPU_INDEX_ERROR;
	cb_strlcpy(target.evidence, "IndexError: Target 9 is out of bounds.", sizeof(target.evidence));
	culprits = xcalloc(300, sizeof(*culprits));
	undecided = xcalloc(700, sizeof(*undecided));
	for (i = 0; i < 1000; i++) {
		if (i < 300)
			culprits[i] = i;
		else
			undecided[i - 300] = i;
	}
	t = xcalloc(ntrials, sizeof(*t));
	for (i = 0; i < ntrials; i++) {
		t[i].trial = i + 1;
		t[i].gpu = -1;
		t[i].duration_s = 1;
		t[i].ranges = xcalloc(1, sizeof(*t[i].ranges));
		t[i].nranges = 1;
		cb_strlcpy(t[i].phase, i ? "search" : "target", sizeof(t[i].phase));
		if (i == 0 || i > 300) {
			/* the full set, or the undecided cases: unresolved but the first */
			t[i].ranges[0].first = i ? 300 + i % 700 : 0;
			t[i].ranges[0].last = i ? 300 + i % 700 : 999;
			cb_strlcpy(t[i].outcome, i ? "UNRESOLVED" : "FAIL", sizeof(t[i].outcome));
			cb_strlcpy(t[i].reason, i ? "timeout" : "failure", sizeof(t[i].reason));
		} else {
			/* culprit i - 1 alone, with a long line of its own */
			t[i].ranges[0].first = t[i].ranges[0].last = i - 1;
			cb_strlcpy(t[i].outcome, "FAIL", sizeof(t[i].outcome));
			cb_strlcpy(t[i].reason, "failure", sizeof(t[i].reason));
			memset(t[i].evidence, 'x', 500);
			snprintf(t[i].evidence, 20, "E%zu:", i);
			t[i].evidence[strlen(t[i].evidence)] = 'x';
		}
		t[i].ncases = t[i].ranges[0].last - t[i].ranges[0].first + 1;
		cb_strlcpy(t[i].klass, "cpu_index_error", sizeof(t[i].klass));
	}
	memset(&in, 0, sizeof(in));
	in.workdir = tmpdir;
	in.ds = &ds;
	in.verdict = "undetermined";
	in.exit_code = 6;
	in.explanation = "The search ended before it could decide.";
	in.target = &target;
	in.target_source = "trial 1 (the full dataset)";
	in.culprits = culprits;
	in.nculprits = 300;
	in.undecided = undecided;
	in.nundecided = 700;
	in.trials = t;
	in.ntrials = ntrials;
	in.run_json = "{}";
	md = report_md_text(&in);
	cr_assert(strlen(md) < COMMENT_LIMIT, "report.md of 1,000 cases holds %zu bytes", strlen(md));
	cr_assert(strstr(md, "and 250 more (report.json's culprits lists them all)"), "%s", md);
	cr_assert(strstr(md, "and 680 more"), "the undecided list is not cut");
	cr_assert(strstr(md, "and 2800 more (report.json's trial_log has every trial)"), "%s", md);
	json = report_json_text(&in);
	o = cJSON_Parse(json);
	cr_assert_eq(cJSON_GetArraySize(get(o, "culprits")), 300, "report.json keeps every culprit");
	cr_assert_eq(cJSON_GetArraySize(get(o, "undecided")), 700);
	cJSON_Delete(o);
	free(json);
	free(md);
	for (i = 0; i < ntrials; i++)
		free(t[i].ranges);
	free(t);
	free(culprits);
	free(undecided);
	ds_release(&ds);
	free(ds_dir);
}

/* ---- a paste-ready report ---- */

/* A Python trainer that raises deep in a recursion for case_002: its
 * traceback on stderr is long (two lines take turns, so that Python does
 * not fold the frames into "[Previous line repeated N more times]"). */
static const char deep_trainer[] =
	"import sys\n"
	"ids = open(sys.argv[1]).read().split()\n"
	"print('training on %d cases' % len(ids))\n"
	"def step(case, depth):\n"
	"    if depth % 2:\n"
	"        return step(case, depth - 1)\n"
	"    if depth:\n"
	"        return step(case, depth - 1)\n"
	"    if case == 'case_002':\n"
	"        raise IndexError('Target 9 is out of bounds.')\n"
	"for case in ids:\n"
	"    step(case, 30)\n"
	"print('CASEBISECT_PASS')\n";

/* The decisive traceback (bounded, its end kept), the environment found
 * without --env-cmd from the trainer's own Python, the command line, and
 * the target's stream and exit code, as report.md and report.json say. */
Test(paste, report_md_has_traceback_environment_command_line_stream_and_exit)
{
	char *ds = mkcases_in("ds", 8, NULL), *wd = cb_fmt("%s/wd", tmpdir);
	char *script = write_file(tmpdir, "train.py", deep_trainer), *md, *run_json, *want, *v;
	char *err_log, *line;
	const cJSON *target, *sys, *py;
	struct utsname u;
	struct run r;
	cJSON *o, *env;
	size_t i, n;

	run(&r, "run", "--workdir", wd, "--gpus", "none", "--prior", "none", ds, "--",
	    "/usr/bin/python3", script, "{cases_file}");
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	run_release(&r);
	assert_schema_valid(wd);
	o = report_json(wd);
	md = slurp(wd, "report.md");

	/* (d) the stream and exit code of the decisive line */
	target = get(o, "target");
	cr_assert_str_eq(get(target, "stream")->valuestring, "stderr");
	cr_assert(cJSON_IsNumber(get(target, "exit_code")) && get(target, "exit_code")->valueint == 1,
		  "target.exit_code is not 1");
	err_log = slurp(wd, "trials/0001/stderr.log");
	n = count_lines(err_log);
	for (i = 0; i < n; i++) {
		line = line_at(err_log, i);
		if (!strcmp(line, "IndexError: Target 9 is out of bounds.")) {
			free(line);
			break;
		}
		free(line);
	}
	cr_assert(i < n, "no IndexError in stderr.log:\n%s", err_log);
	cr_assert_eq(get(target, "line")->valueint, (int)i + 1);
	want = cb_fmt(", stderr line %zu:", i + 1);
	cr_assert(strstr(md, want), "no \"%s\" in\n%s", want, md);
	free(want);
	cr_assert(strstr(md, "- Exit: code 1\n"), "%s", md);

	/* (a) the traceback: bounded, its head and its end */
	cr_assert(strstr(md, "The traceback, from trial 1's stderr.log"), "%s", md);
	cr_assert(block_lines(md, "The traceback, from trial 1's stderr.log") <= 40,
		  "the traceback is not bounded:\n%s", md);
	want = cb_fmt("The traceback, from trial 1's stderr.log (lines 1 to %zu, 39 of them shown)",
		      i + 1);
	cr_assert(strstr(md, want), "no \"%s\" in\n%s", want, md);
	free(want);
	cr_assert(strstr(md, "```\nTraceback (most recent call last):\n"), "%s", md);
	cr_assert(strstr(md, " lines left out ...]\n"), "%s", md);
	cr_assert(strstr(md, "    raise IndexError('Target 9 is out of bounds.')\n"
			     "IndexError: Target 9 is out of bounds.\n```"), "%s", md);

	/* (b) the environment, asked of the trainer's own Python */
	env = read_json(v = cb_path_join(wd, "environment.json"));
	free(v);
	sys = get(env, "system");
	py = get(sys, "python");
	v = output_of("/usr/bin/python3 -c 'import platform; print(platform.python_version())'");
	cr_assert_str_eq(get(py, "version")->valuestring, v);
	want = cb_fmt("- Python (the trainer's, `%s`): %s; PyTorch ",
		      get(py, "executable")->valuestring, v);
	cr_assert(strstr(md, want), "no \"%s\" in\n%s", want, md);
	free(want);
	free(v);
	/* PyTorch as that Python sees it (Debian's python3-torch, or none) */
	if (system("/usr/bin/python3 -c 'import torch' 2>/dev/null") == 0) {
		v = output_of("/usr/bin/python3 -c 'import torch; print(torch.__version__)'");
		cr_assert_str_eq(get(py, "torch")->valuestring, v);
		free(v);
	} else
		cr_assert(cJSON_IsNull(get(py, "torch")) && strstr(md, "PyTorch not installed"));
	cr_assert(uname(&u) == 0);
	want = cb_fmt("%s %s %s", u.sysname, u.release, u.machine);
	cr_assert_str_eq(get(sys, "kernel")->valuestring, want);
	free(want);
	v = output_of(". /etc/os-release && printf '%s' \"$PRETTY_NAME\"");
	cr_assert_str_eq(get(sys, "os")->valuestring, v);
	want = cb_fmt("- OS: %s; kernel %s %s %s\n", v, u.sysname, u.release, u.machine);
	cr_assert(strstr(md, want), "no \"%s\" in\n%s", want, md);
	free(want);
	free(v);
	cr_assert(strstr(md, access("/proc/driver/nvidia/version", R_OK) == 0 ? "- NVIDIA driver: " :
			     "- NVIDIA driver: none found"), "%s", md);
	cr_assert(cJSON_IsObject(get(get(o, "environment"), "system")));
	cJSON_Delete(env);

	/* (c) the casebisect command line */
	run_json = slurp(wd, "run.json");
	cr_assert(strstr(run_json, "\"command_line\":"), "%s", run_json);
	want = cb_fmt("run --workdir %s --gpus none --prior none %s -- /usr/bin/python3 %s "
		      "{cases_file}\n```", wd, ds, script);
	cr_assert(strstr(md, want), "no \"%s\" in\n%s", want, md);
	cr_assert(strstr(md, "casebisect 0.1.0 ran as:") || strstr(md, " ran as:\n\n```sh\n"),
		  "%s", md);
	free(want);

	free(run_json);
	free(err_log);
	free(md);
	cJSON_Delete(o);
	free(script);
	free(wd);
	free(ds);
}

/* ---- the environment's parsers, on fixture text ---- */

Test(paste, os_release_driver_and_version_lines_parse)
{
	char out[128];
	struct si_info info;

	si_parse_os_release("NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n"
			    "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n", out,
			    sizeof(out));
	cr_assert_str_eq(out, "Debian GNU/Linux 12 (bookworm)");
	si_parse_os_release("NAME='Rocky Linux'\nVERSION_ID=9.3\n", out, sizeof(out));
	cr_assert_str_eq(out, "Rocky Linux 9.3");
	si_parse_os_release("ID=x\n", out, sizeof(out));
	cr_assert_str_eq(out, "");

	si_parse_nvidia_version("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  Thu Oct "
				"19 18:56:32 UTC 2023\nGCC version:  gcc version 12.2.0 (Debian "
				"12.2.0-14)\n", out, sizeof(out));
	cr_assert_str_eq(out, "535.129.03");
	si_parse_nvidia_version("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.14  "
				"Release Build  (dvs-builder@U16-I3-B03-4-3)  Thu Feb 22 01:25:25 "
				"UTC 2024\n", out, sizeof(out));
	cr_assert_str_eq(out, "550.54.14");
	si_parse_nvidia_version("560.35.03\n", out, sizeof(out));
	cr_assert_str_eq(out, "560.35.03");
	si_parse_nvidia_version("no version here x86_64 3.\n", out, sizeof(out));
	cr_assert_str_eq(out, "");

	memset(&info, 0, sizeof(info));
	si_parse_versions("python=3.10.12\nexecutable=/opt/venv/bin/python\nsome noise\n"
			  "torch=2.3.1+cu121\nnnunetv2=2.5.1\ntorch=2.3.1\ntorch_cuda=12.1\n", &info);
	cr_assert_str_eq(info.python, "3.10.12");
	cr_assert_str_eq(info.python_exe, "/opt/venv/bin/python");
	cr_assert_str_eq(info.torch, "2.3.1", "the last line of a key counts");
	cr_assert_str_eq(info.torch_cuda, "12.1");
	cr_assert_str_eq(info.nnunet, "2.5.1");
	memset(&info, 0, sizeof(info));
	si_parse_versions("python=3.11.2\n", &info);
	cr_assert_str_eq(info.torch, "", "a missing module stays unknown");
}

/* Which Python runs a command: by name, by a script's "#!" line (direct,
 * through env, pip's sh trampoline), nnUNetv2_train and the launcher by
 * the nnUNetv2_train on PATH; a shell script or a binary is not Python. */
Test(paste, the_trainers_python_is_found_from_its_command)
{
	const char *py[] = { "python3.11", "train.py", NULL };
	const char *direct[] = { "./direct.py", NULL };
	const char *viaenv[] = { "envpy", NULL };
	const char *pip[] = { "./pip-long", NULL };
	const char *shell[] = { "./run.sh", NULL };
	const char *nnunet[] = { "nnUNetv2_train", "1", "3d_fullres", "0", NULL };
	const char *launcher[] = { "/opt/x/casebisect-nnunet-train", "1", "2d", "0", NULL };
	char *bin = at("bin"), *path, *old = xstrdup(getenv("PATH") ? getenv("PATH") : ""), *p;

	mkdir_at("bin");
	free(write_file(tmpdir, "direct.py", "#!/opt/venv/bin/python3.10 -u\nprint(1)\n"));
	free(write_file(bin, "envpy", "#!/usr/bin/env python3\nprint(1)\n"));
	free(write_file(tmpdir, "pip-long", "#!/bin/sh\n'''exec' '/very/long/venv/bin/python' "
			"\"$0\" \"$@\"\n' '''\nimport sys\n"));
	free(write_file(tmpdir, "run.sh", "#!/bin/sh\nexec ./toytrain \"$@\"\n"));
	free(write_file(bin, "nnUNetv2_train", "#!/home/u/nnunet-env/bin/python\nimport sys\n"));
	p = cb_fmt("%s/envpy", bin);
	cr_assert(chmod(p, 0755) == 0);
	free(p);
	p = cb_fmt("%s/nnUNetv2_train", bin);
	cr_assert(chmod(p, 0755) == 0);
	free(p);
	path = cb_fmt("%s:%s", bin, old);
	setenv("PATH", path, 1);

	cr_assert_str_eq((p = si_python_of(py, tmpdir)), "python3.11");
	free(p);
	cr_assert_str_eq((p = si_python_of(direct, tmpdir)), "/opt/venv/bin/python3.10");
	free(p);
	cr_assert_str_eq((p = si_python_of(viaenv, tmpdir)), "python3");
	free(p);
	cr_assert_str_eq((p = si_python_of(pip, tmpdir)), "/very/long/venv/bin/python");
	free(p);
	cr_assert_null(si_python_of(shell, tmpdir));
	cr_assert_str_eq((p = si_python_of(nnunet, tmpdir)), "/home/u/nnunet-env/bin/python");
	free(p);
	cr_assert_str_eq((p = si_python_of(launcher, tmpdir)), "/home/u/nnunet-env/bin/python");
	free(p);

	setenv("PATH", old, 1);
	free(path);
	free(old);
	free(bin);
}

/* One real child: python3 asked for its versions, within its time limit;
 * a command that is not Python asks nothing. */
Test(paste, gather_asks_the_real_python_and_reads_the_kernel)
{
	const char *py[] = { "python3", "train.py", NULL };
	const char *notpy[] = { "/bin/true", NULL };
	struct si_info info;
	struct utsname u;
	char *want = output_of("python3 -c 'import platform; print(platform.python_version())'");
	char kernel[512];

	si_gather(&info, py, tmpdir, 60);
	cr_assert_str_eq(info.python, want);
	cr_assert(info.python_exe[0] == '/', "executable: '%s'", info.python_exe);
	cr_assert_str_eq(info.note, "");
	cr_assert(uname(&u) == 0);
	snprintf(kernel, sizeof(kernel), "%s %s %s", u.sysname, u.release, u.machine);
	cr_assert_str_eq(info.kernel, kernel);
	cr_assert(info.os[0], "no OS read from /etc/os-release");
	si_gather(&info, notpy, tmpdir, 60);
	cr_assert_str_eq(info.python_exe, "");
	cr_assert_str_eq(info.python, "");
	free(want);
}
