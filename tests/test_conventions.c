/* test_conventions: the conventions a user brings from other tools:
 * durations with units (90m, 1h30m), exit 125 as "skip this subset" (git
 * bisect run), `help CMD` and `CMD --help`, and the messages that say what
 * to do next. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "casebisect/cli.h"
#include "casebisect/reduce.h"
#include "casebisect/util.h"

#include "helpers.h"

/* ---- durations ---- */

Test(conventions, durations_with_units_parse)
{
	static const struct { const char *in; double s; } good[] = {
		{ "600", 600 }, { "0.5", 0.5 }, { "0", 0 }, { "45s", 45 }, { "90m", 5400 },
		{ "1h30m", 5400 }, { "2d", 172800 }, { "1.5h", 5400 }, { "1d2h3m4s", 93784 },
		{ "8h", 28800 }, { "0.25s", 0.25 },
	};
	static const char *const bad[] = {
		"", "abc", "90x", "1h1h", "30m1h", "-5", "-5m", "1.2.3m", "h", "5 m", "1e3h",
		"m30", "1h30", "nan", "inf", "+5m", ".m",
	};
	size_t i;
	double d;

	for (i = 0; i < CB_ARRAY_SIZE(good); i++) {
		d = -1;
		cr_assert_eq(cli_parse_seconds(good[i].in, &d), 0, "'%s' refused", good[i].in);
		cr_assert(fabs(d - good[i].s) < 1e-9, "'%s' read as %g, not %g", good[i].in, d,
			  good[i].s);
	}
	for (i = 0; i < CB_ARRAY_SIZE(bad); i++)
		cr_assert_neq(cli_parse_seconds(bad[i], &d), 0, "'%s' taken as %g", bad[i], d);
}

/* Every duration option of run takes units, and run.json keeps seconds. */
Test(conventions, run_takes_durations_with_units, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
	char *ds = mkcases_in("ds", 4, NULL), *wd = cb_fmt("%s/wd", tmpdir);
	char *toy = src_file("harness/toytrain"), *runjson = cb_fmt("%s/run.json", wd);
	cJSON *root, *opts;
	struct run r;

	run(&r, "run", "--workdir", wd, "--gpus", "none", "--timeout", "1h30m", "--stall", "90m",
	    "--pass-after", "2d", "--settle", "0.5s", "--grace", "3s", "--deadline", "1h",
	    "--max-trials", "2", ds, "--", toy, "--cases-file", "{cases_file}", "--files-file",
	    "{files_file}");
	cr_assert(r.code != 2, "usage error:\n%s", r.err);
	root = read_json(runjson);
	opts = cJSON_GetObjectItemCaseSensitive(root, "options");
	cr_assert_not_null(opts);
	cr_assert_float_eq(cJSON_GetObjectItemCaseSensitive(opts, "timeout")->valuedouble, 5400, 1e-9);
	cr_assert_float_eq(cJSON_GetObjectItemCaseSensitive(opts, "stall")->valuedouble, 5400, 1e-9);
	cr_assert_float_eq(cJSON_GetObjectItemCaseSensitive(opts, "pass_after")->valuedouble,
			   172800, 1e-9);
	cr_assert_float_eq(cJSON_GetObjectItemCaseSensitive(opts, "settle")->valuedouble, 0.5, 1e-9);
	cr_assert_float_eq(cJSON_GetObjectItemCaseSensitive(opts, "grace")->valuedouble, 3, 1e-9);
	cJSON_Delete(root);
	run_release(&r);
	free(runjson);
	free(toy);
	free(wd);
	free(ds);
}

/* A bad duration is a usage error (exit 2) that names the option and shows
 * what a duration looks like, for every command that takes one. */
Test(conventions, bad_durations_are_usage_errors_everywhere, .init = tmpdir_setup,
     .fini = tmpdir_teardown)
{
	static const char *const cmds[][2] = {
		{ "run", "--timeout" }, { "run", "--stall" }, { "run", "--pass-after" },
		{ "run", "--settle" }, { "run", "--grace" }, { "nnunet", "--timeout" },
		{ "nnunet", "--stall" }, { "trial", "--timeout" }, { "trial", "--pass-after" },
		{ "trial", "--grace" },
	};
	static const char *const values[] = { "90x", "1h1h", "30m1h", "-5m", "ten" };
	char *wd = cb_fmt("%s/wd", tmpdir);
	struct run r;
	size_t i, j;

	for (i = 0; i < CB_ARRAY_SIZE(cmds); i++)
		for (j = 0; j < CB_ARRAY_SIZE(values); j++) {
			char want[128];

			if (!strcmp(cmds[i][0], "trial"))
				run(&r, "trial", "--workdir", wd, cmds[i][1], values[j], "--", "true");
			else
				run(&r, cmds[i][0], "--workdir", wd, cmds[i][1], values[j], "ds", "--",
				    "true");
			assert_usage_error(&r);
			snprintf(want, sizeof(want), "%s '%s': expected a duration such as 600 "
				 "(seconds), 45s, 90m, 1h30m or 2d", cmds[i][1], values[j]);
			cr_assert(strstr(r.err, want), "%s %s %s:\n%s", cmds[i][0], cmds[i][1],
				  values[j], r.err);
			run_release(&r);
		}
	for (j = 0; j < CB_ARRAY_SIZE(values); j++) {
		run(&r, "resume", "--deadline", values[j], wd);
		assert_usage_error(&r);
		cr_assert(strstr(r.err, "expected HH:MM or a duration such as 600 (seconds), 45s"),
			  "%s", r.err);
		run_release(&r);
		run(&r, "gpus", "--timeout", values[j]);
		assert_usage_error(&r);
		cr_assert(strstr(r.err, "--timeout '") && strstr(r.err, "expected a duration"), "%s",
			  r.err);
		run_release(&r);
	}
	/* the longest is still refused with the unit given */
	run(&r, "run", "--workdir", wd, "--timeout", "31d", "ds", "--", "true");
	assert_usage_error(&r);
	cr_assert(strstr(r.err, "--timeout '31d': at most 2592000 seconds (30 days)"), "%s", r.err);
	run_release(&r);
	run(&r, "gpus", "--timeout", "2h");
	assert_usage_error(&r);
	run_release(&r);
	cr_assert_eq(access(wd, F_OK), -1, "a work directory was made");
	free(wd);
}

/* trial and resume take units too: a unit never reaches the trial as a
 * usage error. */
Test(conventions, trial_and_resume_take_units, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
	char *wd = cb_fmt("%s/wd", tmpdir), *missing = cb_fmt("%s/none", tmpdir);
	struct run r;

	run(&r, "trial", "--workdir", wd, "--timeout", "2d", "--stall", "1h30m", "--settle",
	    "0.2s", "--", "true");
	cr_assert_eq(r.code, 0, "%s", r.err);
	cr_assert(strstr(r.out, "PASS"), "%s", r.out);
	run_release(&r);
	run(&r, "resume", "--deadline", "1h30m", missing);
	cr_assert_eq(r.code, 1, "exit %d: %s", r.code, r.err); /* the folder, not the deadline */
	run_release(&r);
	free(missing);
	free(wd);
}

/* The help calls the values DURATION and says what one is. */
Test(conventions, help_names_durations)
{
	static const char *const cmds[] = { "run", "trial", "gpus", "nnunet" };
	struct run r;
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(cmds); i++) {
		run(&r, cmds[i], "--help");
		cr_assert_eq(r.code, 0);
		cr_assert(strstr(r.out, "--timeout DURATION"), "%s:\n%s", cmds[i], r.out);
		cr_assert(!strstr(r.out, " SEC ") && !strstr(r.out, "SECONDS"), "%s:\n%s", cmds[i],
			  r.out);
		if (strcmp(cmds[i], "gpus"))
			cr_assert(strstr(r.out, "1h30m"), "%s:\n%s", cmds[i], r.out);
		run_release(&r);
	}
}

/* ---- exit 125: skip ---- */

/* A trainer that says "skip" for every subset holding case_003 (the
 * bad case case_005 crashes first when both are there). */
static char *skip_trainer(void)
{
	return write_file(tmpdir, "skiptrain.sh",
			  "#!/bin/sh\n"
			  "if grep -qx \"$3\" \"$1\"; then\n"
			  "  echo 'RuntimeError: CUDA error: device-side assert triggered' >&2\n"
			  "  exit 1\n"
			  "fi\n"
			  "if grep -qx \"$2\" \"$1\"; then echo \"cannot train on $2\" >&2; exit 125; fi\n"
			  "exit 0\n");
}

Test(conventions, trial_exit_125_is_skip, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
	char *wd = cb_fmt("%s/wd", tmpdir);
	struct run r;

	run(&r, "trial", "--json", "--workdir", wd, "--", "sh", "-c", "echo half; exit 125");
	cr_assert_eq(r.code, 0, "%s", r.err);
	cr_assert(strstr(r.out, "\"outcome\":\"UNRESOLVED\",\"reason\":\"skip\",\"class\":\"none\""),
		  "%s", r.out);
	cr_assert(strstr(r.out, "\"exit_code\":125"), "%s", r.out);
	run_release(&r);
	/* other exits keep their meaning: a failure */
	run(&r, "trial", "--json", "--workdir", wd, "--", "sh", "-c", "exit 124");
	cr_assert(strstr(r.out, "\"outcome\":\"FAIL\",\"reason\":\"failure\""), "%s", r.out);
	run_release(&r);
	free(wd);
}

/* The run that once went on for 45,000 trials: a case whose subsets are
 * always skipped. It ends in a few trials, undetermined, with the culprit
 * found, the skipped case named, and the skips counted in the report. */
Test(conventions, run_with_a_skipped_case_ends_bounded, .init = tmpdir_setup,
     .fini = tmpdir_teardown)
{
	char *ds = mkcases_in("ds", 16, NULL), *wd = cb_fmt("%s/wd", tmpdir);
	char *list = cb_fmt("%s/cases.txt", ds), *sh = skip_trainer();
	char *md_path = cb_fmt("%s/report.md", wd), *json_path = cb_fmt("%s/report.json", wd), *md;
	char verdict[64];
	char *culprits;
	cJSON *rep, *und, *trials;
	struct run r;
	bool named = false;
	int i;

	chmod(sh, 0755);
	run(&r, "run", "--workdir", wd, "--gpus", "none", "--settle", "0", "--max-trials", "200",
	    list, "--", sh, "{cases_file}", "case_003", "case_005");
	cr_assert_eq(r.code, 6, "exit %d\n%s\n%s", r.code, r.out, r.err);
	cr_assert(strstr(r.out, "exited 125 (skip) in"), "%s", r.out);
	culprits = report_culprits(wd, verdict, sizeof(verdict));
	cr_assert_str_eq(verdict, "undetermined");
	cr_assert_str_eq(culprits, "case_005");
	rep = read_json(json_path);
	trials = cJSON_GetObjectItemCaseSensitive(rep, "trials");
	cr_assert_lt(cJSON_GetObjectItemCaseSensitive(trials, "total")->valueint, 40,
		     "%d trials", cJSON_GetObjectItemCaseSensitive(trials, "total")->valueint);
	cr_assert_gt(cJSON_GetObjectItemCaseSensitive(trials, "skipped")->valueint, 0);
	und = cJSON_GetObjectItemCaseSensitive(rep, "undecided");
	cr_assert(cJSON_IsArray(und));
	for (i = 0; i < cJSON_GetArraySize(und); i++) {
		const char *id = cJSON_GetStringValue(cJSON_GetArrayItem(und, i));

		named |= id && !strcmp(id, "case_003");
		cr_assert(!id || strcmp(id, "case_005"), "the culprit is undecided too");
	}
	cr_assert(named, "case_003 is not named undecided");
	md = cb_read_file(md_path, NULL);
	cr_assert(strstr(md, "of the unresolved trials skipped: the command exited 125"), "%s", md);
	free(md);
	cJSON_Delete(rep);
	free(culprits);
	run_release(&r);
	free(md_path);
	free(json_path);
	free(sh);
	free(list);
	free(wd);
	free(ds);
}

Test(conventions, target_exit_125_says_so, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
	char *ds = mkcases_in("ds", 4, NULL), *wd = cb_fmt("%s/wd", tmpdir);
	char *list = cb_fmt("%s/cases.txt", ds), *sh = skip_trainer();
	struct run r;

	chmod(sh, 0755);
	run(&r, "run", "--workdir", wd, "--gpus", "none", "--settle", "0", list, "--", sh,
	    "{cases_file}", "case_001", "case_999");
	cr_assert_eq(r.code, 6, "exit %d\n%s\n%s", r.code, r.out, r.err);
	cr_assert(strstr(r.out, "exited 125 on the full dataset (trial 1)"), "%s", r.out);
	cr_assert(strstr(r.out, "as in 'git bisect"), "%s", r.out);
	cr_assert(strstr(r.out, "trials: 1,"), "%s", r.out);
	run_release(&r);
	free(sh);
	free(list);
	free(wd);
	free(ds);
}

/* The reducer alone: a case that makes every subset holding it UNRESOLVED
 * (unless a culprit crashes first) never keeps the search going, for any
 * size, slots and culprit; no innocent case is blamed. */
Test(conventions, reducer_gives_up_on_a_subset_that_stays_unresolved)
{
	static const size_t ns[] = { 2, 3, 7, 16, 100 }, slots[] = { 1, 3, 8 };
	size_t a, b, skip, bad;

	for (a = 0; a < CB_ARRAY_SIZE(ns); a++)
		for (b = 0; b < CB_ARRAY_SIZE(slots); b++)
			for (skip = 0; skip < ns[a]; skip += 1 + ns[a] / 5)
				for (bad = 0; bad < ns[a]; bad += 1 + ns[a] / 4) {
					struct red_options ro = { .n = ns[a], .slots = slots[b] };
					struct red *r;
					struct red_trial t[16];
					struct red_answer ans;
					size_t guard = 0, got, i, j;

					if (bad == skip)
						continue;
					r = red_new(&ro);
					while (!red_done(r)) {
						cr_assert(guard++ < 2000, "n=%zu slots=%zu skip=%zu "
							  "bad=%zu: no end", ns[a], slots[b], skip, bad);
						got = red_ask(r, t, slots[b]);
						cr_assert(got > 0 || red_done(r), "stuck");
						for (i = 0; i < got; i++) {
							bool has_bad = false, has_skip = false;

							for (j = 0; j < t[i].n; j++) {
								has_bad |= t[i].cases[j] == bad;
								has_skip |= t[i].cases[j] == skip;
							}
							red_tell(r, t[i].id, has_bad ? RED_FAIL :
								 has_skip ? RED_UNRESOLVED : RED_PASS);
						}
					}
					red_answer(r, &ans);
					for (i = 0; i < ans.nculprits; i++)
						cr_assert_eq(ans.culprits[i], bad, "n=%zu: %zu blamed",
							     ns[a], ans.culprits[i]);
					cr_assert_lt(ans.trials, 12 * ns[a] + 20, "n=%zu slots=%zu: %llu "
						     "trials", ns[a], slots[b],
						     (unsigned long long)ans.trials);
					for (i = 1; i < ans.nundecided; i++)
						cr_assert_lt(ans.undecided[i - 1], ans.undecided[i],
							     "undecided not sorted, or twice");
					red_free(r);
				}
}

/* ---- help ---- */

/* For every command the overview lists: `help CMD`, `CMD --help`, `CMD -h`
 * and `help CMD --help` print the same help (exit 0, nothing on stderr),
 * and `help --help` is the overview. */
Test(conventions, help_cmd_and_cmd_help_agree_for_every_command)
{
	struct run overview, a, b, c, d;
	const char *p;
	size_t n = 0;

	run(&overview, "--help");
	cr_assert_eq(overview.code, 0);
	p = strstr(overview.out, "\ncommands:\n");
	cr_assert_not_null(p, "%s", overview.out);
	for (p += strlen("\ncommands:\n"); starts_with(p, "  "); p = strchr(p, '\n') + 1) {
		char name[32];

		cr_assert_eq(sscanf(p, " %31s", name), 1);
		if (!strcmp(name, "help"))
			break;
		run(&a, "help", name);
		run(&b, name, "--help");
		run(&c, name, "-h");
		run(&d, "help", name, "--help");
		cr_assert_eq(a.code, 0, "help %s: exit %d: %s", name, a.code, a.err);
		cr_assert_eq(a.err_len, 0, "help %s: %s", name, a.err);
		cr_assert(starts_with(a.out, "usage: casebisect "), "%s", a.out);
		cr_assert(strstr(a.out, name), "%s", a.out);
		cr_assert(strstr(a.out, "\nexample:\n"), "help %s has no example", name);
		cr_assert_eq(b.code, 0, "%s --help: exit %d", name, b.code);
		cr_assert_str_eq(b.out, a.out, "%s --help differs from help %s", name, name);
		cr_assert_str_eq(c.out, a.out, "%s -h differs", name);
		cr_assert_str_eq(d.out, a.out, "help %s --help differs", name);
		run_release(&a);
		run_release(&b);
		run_release(&c);
		run_release(&d);
		n++;
	}
	cr_assert_geq(n, 10, "only %zu commands listed", n);
	run(&a, "help", "--help");
	cr_assert_eq(a.code, 0);
	cr_assert_str_eq(a.out, overview.out);
	run_release(&a);
	run_release(&overview);
}

/* ---- datasets ---- */

/* An MSD Task folder (Task09_Spleen/: dataset.json with a "training" list,
 * imagesTr/, labelsTr/) is an msd dataset, read from its dataset.json;
 * asked to read it as nnU-Net's, casebisect says what to pass. */
Test(conventions, msd_task_folder_is_detected, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
	char *ds = mkcases_in("Task09_Spleen", 3, NULL), *json, *want;
	struct run r;

	free(write_file(ds, "dataset.json",
			"{\"name\": \"Spleen\", \"modality\": {\"0\": \"CT\"},\n"
			" \"labels\": {\"0\": \"background\", \"1\": \"spleen\", \"2\": \"other\"},\n"
			" \"numTraining\": 3, \"numTest\": 0, \"test\": [],\n"
			" \"training\": [\n"
			"  {\"image\": \"./imagesTr/case_000_0000.nii.gz\", \"label\": \"./labelsTr/case_000.nii.gz\"},\n"
			"  {\"image\": \"./imagesTr/case_001_0000.nii.gz\", \"label\": \"./labelsTr/case_001.nii.gz\"},\n"
			"  {\"image\": \"./imagesTr/case_002_0000.nii.gz\", \"label\": \"./labelsTr/case_002.nii.gz\"}]}\n"));
	json = cb_fmt("%s/dataset.json", ds);
	run(&r, "cases", ds);
	cr_assert_eq(r.code, 0, "%s", r.err);
	cr_assert(strstr(r.out, "format:  msd\n"), "%s", r.out);
	cr_assert(strstr(r.out, "cases:   3\n"), "%s", r.out);
	want = cb_fmt("root:    %s\n", json);
	cr_assert(strstr(r.out, want), "%s", r.out);
	run_release(&r);
	run(&r, "cases", "--format", "msd", ds);
	cr_assert_eq(r.code, 0, "%s", r.err);
	cr_assert(strstr(r.out, "format:  msd\n"), "%s", r.out);
	run_release(&r);
	run(&r, "cases", "--format", "nnunet-raw", ds);
	cr_assert_eq(r.code, 1);
	cr_assert(strstr(r.err, "an MSD Task dataset.json") &&
		  strstr(r.err, "pass dataset.json or --format msd"), "%s", r.err);
	run_release(&r);
	free(want);
	free(json);
	free(ds);
}

/* `casebisect nnunet` given nnUNet_raw/Dataset501_Liver says how to make
 * the preprocessed data it needs. */
Test(conventions, nnunet_on_a_raw_dataset_says_to_preprocess, .init = tmpdir_setup,
     .fini = tmpdir_teardown)
{
	char *ds = mkcases_in("Dataset501_Liver", 3, NULL), *wd = cb_fmt("%s/wd", tmpdir);
	struct run r;

	run(&r, "nnunet", "--workdir", wd, ds);
	cr_assert_eq(r.code, 1, "exit %d: %s", r.code, r.err);
	cr_assert(strstr(r.err, "a raw nnU-Net dataset"), "%s", r.err);
	cr_assert(strstr(r.err, "hint: run 'nnUNetv2_plan_and_preprocess -d 501 "
			 "--verify_dataset_integrity'"), "%s", r.err);
	cr_assert(strstr(r.err, "then 'casebisect nnunet 501'"), "%s", r.err);
	cr_assert_eq(access(wd, F_OK), -1);
	run_release(&r);
	free(wd);
	free(ds);
}

/* ---- a changed dataset ---- */

/* A run that found case_004, then the user fixed its label (as the report
 * says): resume names the changed file; report renders the run again; and
 * after the case is removed, report still prints the run's report. */
Test(conventions, changed_dataset_names_files_and_report_still_works, .init = tmpdir_setup,
     .fini = tmpdir_teardown)
{
	static const char *const bad[] = { "case_004=255", NULL };
	char *ds = mkcases_in("ds", 8, bad), *wd = cb_fmt("%s/wd", tmpdir);
	char *toy = src_file("harness/toytrain"), *good = cb_fmt("%s/labelsTr/case_000.nii.gz", ds);
	char *label = cb_fmt("%s/labelsTr/case_004.nii.gz", ds);
	char *image = cb_fmt("%s/imagesTr/case_004_0000.nii.gz", ds), *text;
	struct run r;
	size_t len;

	run(&r, "run", "--workdir", wd, "--gpus", "none", ds, "--", toy, "--cases-file",
	    "{cases_file}", "--files-file", "{files_file}");
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	run_release(&r);
	/* the fix: case_004's label replaced by a clean one */
	text = cb_read_file(good, &len);
	cr_assert_not_null(text);
	{
		FILE *f = fopen(label, "wb");

		cr_assert_not_null(f);
		cr_assert_eq(fwrite(text, 1, len, f), len);
		fclose(f);
	}
	free(text);
	run(&r, "resume", wd);
	cr_assert_eq(r.code, 1);
	cr_assert(strstr(r.err, "the dataset changed since this run started"), "%s", r.err);
	cr_assert(strstr(r.err, "what changed:\nlabelsTr/case_004.nii.gz: changed (size "), "%s",
		  r.err);
	cr_assert(!strstr(r.err, "case_000"), "an unchanged file is named:\n%s", r.err);
	run_release(&r);
	run(&r, "report", wd);
	cr_assert_eq(r.code, 0, "%s", r.err);
	cr_assert(strstr(r.out, "Verdict: **culprits_found**"), "%s", r.out);
	cr_assert(strstr(r.out, "`case_004`"), "%s", r.out);
	cr_assert(strstr(r.err, "warning: the dataset changed since this run "
			 "(labelsTr/case_004.nii.gz: changed (size"), "%s", r.err);
	run_release(&r);
	/* removed instead */
	cr_assert_eq(unlink(label), 0);
	cr_assert_eq(unlink(image), 0);
	run(&r, "report", wd);
	cr_assert_eq(r.code, 0, "%s", r.err);
	cr_assert(strstr(r.out, "Verdict: **culprits_found**"), "%s", r.out);
	cr_assert(strstr(r.err, "the dataset lost case_004 since this run"), "%s", r.err);
	run_release(&r);
	run(&r, "report", "--format", "json", wd);
	cr_assert_eq(r.code, 0, "%s", r.err);
	cr_assert(strstr(r.out, "\"case_004\""), "%s", r.out);
	run_release(&r);
	free(image);
	free(label);
	free(good);
	free(toy);
	free(wd);
	free(ds);
}

/* ---- help examples and --version ---- */

/* s with every decimal number ("0.8", "12.25") as "#" and "N jobs" as
 * "# jobs": what changes from run to run and machine to machine. */
static char *normalized(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;

	while (*s) {
		const char *p = s;

		while (*p >= '0' && *p <= '9')
			p++;
		if (p > s && *p == '.' && p[1] >= '0' && p[1] <= '9') {
			for (p++; *p >= '0' && *p <= '9'; p++)
				;
			*o++ = '#';
			s = p;
		} else if (p > s && !strncmp(p, " jobs", 5)) {
			*o++ = '#';
			s = p;
		} else if (p > s) {
			memcpy(o, s, (size_t)(p - s));
			o += p - s;
			s = p;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	return out;
}

/* Every line the example of `CMD --help` shows as output (not a "$"
 * command, not "...") is a line of what the commands print, once the
 * example's folder is the test's and numbers that vary are masked. */
static void assert_example_shows(const char *cmd, const char *example_dir, const char *real_dir,
				 const char *output)
{
	struct run help;
	const char *ex;
	char *norm_out, *p;
	size_t i, n, checked = 0;

	run(&help, cmd, "--help");
	cr_assert_eq(help.code, 0);
	ex = strstr(help.out, "\nexample:\n");
	cr_assert_not_null(ex);
	ex += strlen("\nexample:\n");
	{
		/* the output with the real folder written as the example's */
		char *o = xstrdup(output), *grown;

		while ((p = strstr(o, real_dir))) {
			*p = '\0';
			grown = cb_fmt("%s%s%s", o, example_dir, p + strlen(real_dir));
			free(o);
			o = grown;
		}
		norm_out = normalized(o);
		free(o);
	}
	n = count_lines(ex);
	for (i = 0; i < n; i++) {
		char *line = line_at(ex, i), *shown = line + (starts_with(line, "  ") ? 2 : 0), *norm;
		char *want;

		if (!*shown || starts_with(shown, "$ ") || !strcmp(shown, "...") ||
		    !strcmp(shown, "1")) {
			free(line);
			continue;
		}
		norm = normalized(shown);
		want = cb_fmt("\n%s\n", norm);
		cr_assert(strstr(norm_out, want) || starts_with(norm_out, want + 1),
			  "%s --help's example shows\n%s\nwhich the command does not print:\n%s", cmd,
			  shown, norm_out);
		checked++;
		free(want);
		free(norm);
		free(line);
	}
	cr_assert_geq(checked, 2, "%s: no example line checked", cmd);
	free(norm_out);
	run_release(&help);
}

Test(conventions, demo_help_example_is_true, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
	char *wd = cb_fmt("%s/demo", tmpdir);
	struct run r;

	run(&r, "demo", "--workdir", wd);
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	strip_stamps(r.out); /* --help shows the terminal, where lines carry no time */
	assert_example_shows("demo", "/tmp/demo", wd, r.out);
	run_release(&r);
	free(wd);
}

Test(conventions, audit_help_example_is_true, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
	static const char *const bad[] = { "case_004=255", NULL };
	char *ds = mkcases_in("ds", 8, bad);
	struct run r;

	run(&r, "audit", ds);
	cr_assert_eq(r.code, 1, "%s\n%s", r.out, r.err);
	strip_stamps(r.out);
	assert_example_shows("audit", "/tmp/ds", ds, r.out);
	run_release(&r);
	free(ds);
}

/* --version names the commit where built from a checkout
 * (install::version_names_the_commit checks that); where there is no .git
 * the Makefile's rule writes an empty commit, so the version stands alone:
 * the rule run on a copy of the Makefile outside any checkout. */
Test(conventions, version_outside_git_names_no_commit, .init = tmpdir_setup,
     .fini = tmpdir_teardown)
{
	const char *src = getenv("CASEBISECT_SRC");
	char *cmd, *desc, *hdr;

	/* outside git: the Makefile alone, in a folder of no checkout. Not the
	 * calling make's variables: under `make SANITIZE=... test` MAKEFLAGS and
	 * the environment carry SANITIZE, and the header would be build-san's. */
	cmd = cb_fmt("cp '%s/Makefile' '%s/' && cd '%s' && "
		     "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SANITIZE GIT_CEILING_DIRECTORIES=/ "
		     "make -s build/version.h >/dev/null 2>&1",
		     src, tmpdir, tmpdir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	hdr = cb_fmt("%s/build/version.h", tmpdir);
	desc = cb_read_file(hdr, NULL);
	cr_assert_not_null(desc);
	cr_assert_str_eq(desc, "#define CASEBISECT_GIT \"\"\n");
	free(desc);
	free(hdr);
	free(cmd);
}
