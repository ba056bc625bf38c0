/* test_nnunet_cmd: `casebisect nnunet` end to end: how DATASET is found,
 * every input it refuses (exit status, the file or variable named, a hint,
 * nothing created or changed), and the command and environment it hands to
 * `casebisect run`. A fake nnUNetv2_train only records what it was given. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "casebisect/util.h"
#include "helpers.h"

TestSuite(nnunet_cmd, .init = tmpdir_setup, .fini = tmpdir_teardown);

/* ---- fixtures: tmpdir/pp is $nnUNet_preprocessed, tmpdir/bin is PATH ---- */

/* pp/Dataset501_Liver with n cases of placeholder files (<id>.b2nd,
 * <id>_seg.b2nd, <id>.pkl) in nnUNetPlans_3d_fullres/; $nnUNet_preprocessed
 * points at pp, PATH at bin/ (holding nothing yet). */
static void dataset(int n)
{
	char *pp = at("pp"), *path = cb_fmt("%s/bin:/usr/bin:/bin", tmpdir);
	int i;

	mkdir_at("pp");
	mkdir_at("bin");
	mkdir_at("pp/Dataset501_Liver");
	put("pp/Dataset501_Liver/nnUNetPlans.json", nnunet_plans_json);
	put("pp/Dataset501_Liver/dataset.json",
	    "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, \"liver\": 1}, "
	    "\"numTraining\": 6, \"file_ending\": \".nii.gz\"}\n");
	put("pp/Dataset501_Liver/dataset_fingerprint.json", "{\"spacings\": []}\n");
	mkdir_at("pp/Dataset501_Liver/nnUNetPlans_3d_fullres");
	for (i = 0; i < n; i++) {
		static const char *const ext[] = { ".b2nd", "_seg.b2nd", ".pkl" };
		size_t k;

		for (k = 0; k < CB_ARRAY_SIZE(ext); k++) {
			char *rel = cb_fmt("pp/Dataset501_Liver/nnUNetPlans_3d_fullres/liver_%d%s", i,
					   ext[k]);

			put(rel, "placeholder\n");
			free(rel);
		}
	}
	cr_assert(setenv("nnUNet_preprocessed", pp, 1) == 0);
	cr_assert(setenv("PATH", path, 1) == 0);
	cr_assert(unsetenv("nnUNet_raw") == 0 && unsetenv("nnUNet_results") == 0);
	/* No GPU probing where a test forgets --device. */
	cr_assert(setenv("CASEBISECT_CUDART", "/nonexistent/libcudart-missing.so", 1) == 0);
	free(pp);
	free(path);
}

/*
 * bin/nnUNetv2_train, whose "#!" line names bin/fakepy, the way pip writes a
 * console script: casebisect-nnunet-train execs that "Python" on its probe
 * module, and --trainer runs nnUNetv2_train itself. Either way fakepy gets
 * the trial's argv and writes it, then "--", then the environment, to
 * $FAKE_NNUNET_LOG, and exits 0 printing nothing. It stands in for nothing
 * nnU-Net does: it only shows what casebisect built. The launcher's
 * --versions call (a script on stdin, "-") is not recorded.
 */
static void fake_nnunet(void)
{
	char *py = at("bin/fakepy"), *train = at("bin/nnUNetv2_train"), *shebang;

	free(write_file(tmpdir, "bin/fakepy",
			"#!/bin/sh\n"
			"[ \"${1:-}\" = - ] && exit 0\n"
			"{ printf '%s\\n' \"$0\" \"$@\"; echo --; env; } > \"$FAKE_NNUNET_LOG\"\n"
			"exit 0\n"));
	shebang = cb_fmt("#!%s\nexit 0\n", py);
	put("bin/nnUNetv2_train", shebang);
	cr_assert(chmod(py, 0755) == 0 && chmod(train, 0755) == 0);
	free(shebang);
	free(py);
	free(train);
}


/* ---- running ---- */

/* `casebisect nnunet ARGS...` (at most 16, NULL-terminated) run in tmpdir. */
static void nnunet_argv(struct run *r, const char *const *a)
{
	struct how how = { .cwd = tmpdir };

	run_how(r, &how, "nnunet", a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9],
		a[10], a[11], a[12], a[13], a[14], a[15], (char *)NULL);
}
/* The same, asserting that it created nothing in tmpdir (so no work
 * directory, wherever the default would go) and changed nothing there. */
static void nnunet_untouched_argv(struct run *r, const char *const *a)
{
	char *before = tree_snapshot(tmpdir), *after;

	nnunet_argv(r, a);
	after = tree_snapshot(tmpdir);
	cr_assert_str_eq(after, before, "something changed:\nbefore:\n%s\nafter:\n%s", before,
			 after);
	free(before);
	free(after);
}
#define nnunet_untouched(r, ...) \
	nnunet_untouched_argv(r, (const char *const[17]){ __VA_ARGS__, NULL })

/* An error as the user must see it: exit 1, nothing on stdout, stderr
 * starting `casebisect: ` and holding need1 and need2 (the thing named, the
 * fix); with hint, a second line `hint: ` holding it. */
static void assert_error(const struct run *r, const char *need1, const char *need2,
			 const char *hint)
{
	cr_assert_eq(r->code, 1, "exit %d\nstdout:\n%s\nstderr:\n%s", r->code, r->out, r->err);
	cr_assert_eq(r->out_len, 0, "stdout:\n%s", r->out);
	cr_assert(starts_with(r->err, "casebisect: "), "%s", r->err);
	cr_assert(strstr(r->err, need1), "no '%s' in:\n%s", need1, r->err);
	if (need2)
		cr_assert(strstr(r->err, need2), "no '%s' in:\n%s", need2, r->err);
	if (hint) {
		const char *h = strstr(r->err, "\nhint: ");

		cr_assert_eq(count_lines(r->err), 2, "not two lines:\n%s", r->err);
		cr_assert(h && strstr(h, hint), "no hint with '%s' in:\n%s", hint, r->err);
	} else {
		cr_assert_eq(count_lines(r->err), 1, "not one line:\n%s", r->err);
	}
}

/* A usage error (assert_usage_error) that says need, nothing created. */
static void assert_usage(const struct run *r, const char *need)
{
	assert_usage_error(r);
	cr_assert(strstr(r->err, need), "no '%s' in:\n%s", need, r->err);
	cr_assert(strstr(r->err, "casebisect help nnunet"), "%s", r->err);
}

/* tmpdir/wd/run.json, where short_run's run leaves it, parsed. */
static cJSON *read_run_json(void)
{
	char *path = at("wd/run.json");
	cJSON *o = read_json(path);

	free(path);
	return o;
}

/* The strings of array a, one a line, for comparing and for messages. */
static char *lines_of(const cJSON *a)
{
	char *s = NULL;
	size_t len = 0;
	const cJSON *e;

	cr_assert(cJSON_IsArray(a));
	append(&s, &len, "", 0);
	cJSON_ArrayForEach(e, a) {
		cr_assert(cJSON_IsString(e));
		append(&s, &len, e->valuestring, strlen(e->valuestring));
		append(&s, &len, "\n", 1);
	}
	return s;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* ---- finding DATASET ---- */

Test(nnunet_cmd, an_id_without_nnUNet_preprocessed_is_refused)
{
	struct run r;

	dataset(6);
	cr_assert(unsetenv("nnUNet_preprocessed") == 0);
	nnunet_untouched(&r, "--device", "cpu", "501");
	assert_error(&r, "nnUNet_preprocessed is not set", "'501'",
		     "export nnUNet_preprocessed=");
	run_release(&r);
}

Test(nnunet_cmd, nnUNet_preprocessed_naming_a_missing_folder_is_refused)
{
	char *gone = at("no-such-folder");
	struct run r;

	dataset(6);
	cr_assert(setenv("nnUNet_preprocessed", gone, 1) == 0);
	nnunet_untouched(&r, "--device", "cpu", "501");
	assert_error(&r, gone, "No such file or directory", "nnUNetv2_plan_and_preprocess");
	run_release(&r);
	free(gone);
}

Test(nnunet_cmd, an_id_with_no_dataset_folder_says_to_preprocess_it)
{
	char *pp = at("pp"), *raw = at("raw");
	struct run r;

	dataset(6);
	nnunet_untouched(&r, "--device", "cpu", "502");
	assert_error(&r, "no dataset '502'", pp,
		     "nnUNetv2_plan_and_preprocess -d 502 --verify_dataset_integrity");
	cr_assert(strstr(r.err, "nnUNet_raw is not set"), "%s", r.err);
	run_release(&r);

	/* The DatasetNNN form names the same ID, and the hint names nnUNet_raw. */
	cr_assert(setenv("nnUNet_raw", raw, 1) == 0);
	nnunet_untouched(&r, "--device", "cpu", "Dataset502");
	assert_error(&r, "no dataset 'Dataset502'", pp, "nnUNetv2_plan_and_preprocess -d 502 ");
	cr_assert(strstr(r.err, raw), "%s", r.err);
	run_release(&r);
	free(pp);
	free(raw);
}

Test(nnunet_cmd, two_folders_with_one_id_are_ambiguous)
{
	struct run r;

	dataset(6);
	mkdir_at("pp/Dataset502_A");
	mkdir_at("pp/Dataset502_B");
	nnunet_untouched(&r, "--device", "cpu", "502");
	assert_error(&r, "several datasets", "Dataset502_A", NULL);
	cr_assert(strstr(r.err, "Dataset502_B"), "%s", r.err);
	cr_assert(strstr(r.err, "full name"), "%s", r.err);
	run_release(&r);

	/* The full name picks one of them (here: an empty folder, so ds_load
	 * speaks next, about that folder). */
	nnunet_untouched(&r, "--device", "cpu", "Dataset502_B");
	cr_assert_eq(r.code, 1, "%s", r.err);
	cr_assert(strstr(r.err, "Dataset502_B"), "%s", r.err);
	cr_assert(!strstr(r.err, "several"), "%s", r.err);
	run_release(&r);
}

/*
 * An ID, a name, a DatasetNNN prefix, an absolute path and a relative one
 * (that last with nnUNet_preprocessed unset) all find the same folder: the
 * `nnunet:` line shows it, then run refuses the --workdir (its parent does
 * not exist), so nothing is created.
 */
Test(nnunet_cmd, id_name_prefix_and_paths_find_the_same_dataset)
{
	static const char *const operands[] = { "501", "Dataset501_Liver", "Dataset501",
						"PATH", "./pp/Dataset501_Liver/" };
	char *wd = at("no/such/workdir"), *dir = at("pp/Dataset501_Liver"), real[PATH_MAX];
	char *want, *first = NULL;
	size_t i;

	dataset(6);
	fake_nnunet();
	cr_assert(realpath(dir, real));
	want = cb_fmt("nnunet: Dataset501_Liver (%s), 3d_fullres, plans nnUNetPlans,", real);
	for (i = 0; i < CB_ARRAY_SIZE(operands); i++) {
		const char *op = strcmp(operands[i], "PATH") ? operands[i] : dir;
		struct run r;
		char *l0;

		if (i == CB_ARRAY_SIZE(operands) - 1)
			cr_assert(unsetenv("nnUNet_preprocessed") == 0);
		nnunet_untouched(&r, "--device", "cpu", "--workdir", wd, op);
		cr_assert_eq(r.code, 1, "%s: exit %d\n%s", op, r.code, r.err);
		cr_assert(strstr(r.err, "--workdir"), "%s: %s", op, r.err);
		strip_stamps(r.out);
		cr_assert_eq(count_lines(r.out), 2, "%s:\n%s", op, r.out);
		l0 = line_at(r.out, 0);
		cr_assert_str_eq(l0, want, "%s", op);
		free(l0);
		cr_assert(strstr(r.out, "6 cases, device cpu, trainer nnUNetTrainer_CasebisectProbe"),
			  "%s:\n%s", op, r.out);
		if (!first)
			first = xstrdup(r.out);
		cr_assert_str_eq(r.out, first, "%s", op);
		run_release(&r);
	}
	free(first);
	free(want);
	free(dir);
	free(wd);
}

Test(nnunet_cmd, a_path_that_does_not_exist_is_named)
{
	char *gone = at("pp/Dataset509_Gone");
	struct run r;

	dataset(6);
	nnunet_untouched(&r, "--device", "cpu", gone);
	assert_error(&r, gone, "No such file or directory", NULL);
	run_release(&r);
	free(gone);
}

/* ---- the configuration ---- */

Test(nnunet_cmd, a_configuration_missing_from_the_plans_lists_the_ones_there)
{
	struct run r;

	dataset(6);
	fake_nnunet();
	nnunet_untouched(&r, "--device", "cpu", "501", "3d_lowres");
	assert_error(&r, "nnUNetPlans.json: no configuration \"3d_lowres\"",
		     "available: 2d, 3d_fullres, 3d_cascade_fullres", NULL);
	run_release(&r);
}

Test(nnunet_cmd, a_configuration_without_its_data_folder_says_to_preprocess)
{
	struct run r;

	dataset(6);
	fake_nnunet();
	nnunet_untouched(&r, "--device", "cpu", "501", "2d");
	assert_error(&r, "Dataset501_Liver/nnUNetPlans_2d: not found", "nnUNetv2_preprocess", NULL);
	cr_assert(strstr(r.err, "-c 2d"), "%s", r.err);
	run_release(&r);
}

Test(nnunet_cmd, plans_that_do_not_exist_are_named)
{
	struct run r;

	dataset(6);
	fake_nnunet();
	nnunet_untouched(&r, "--device", "cpu", "--plans", "nnUNetResEncUNetMPlans", "501");
	assert_error(&r, "no plans \"nnUNetResEncUNetMPlans\"", "available: nnUNetPlans", NULL);
	run_release(&r);
}

Test(nnunet_cmd, the_cascade_is_refused)
{
	struct run r;

	dataset(6);
	fake_nnunet();
	nnunet_untouched(&r, "--device", "cpu", "501", "3d_cascade_fullres");
	assert_error(&r, "3d_cascade_fullres", "3d_lowres predictions", "3d_fullres");
	run_release(&r);
}

/* ---- folds ---- */

/* A trial's view holds no splits_final.json, so nnU-Net splits each subset
 * 5 ways itself: a fold from 5 up would be its silent random 80:20 split,
 * whatever the user's own splits file says. */
Test(nnunet_cmd, a_fold_beyond_five_is_refused)
{
	struct run r;

	dataset(6);
	fake_nnunet();
	nnunet_untouched(&r, "--device", "cpu", "--trainer", "X", "--fold", "7", "501");
	assert_error(&r, "fold 7", "silently", "a fold from 0 to 4");
	cr_assert(strstr(r.err, "random 80:20"), "%s", r.err);
	run_release(&r);

	put("pp/Dataset501_Liver/splits_final.json",
	    "[{\"train\": [], \"val\": []}, {\"train\": [], \"val\": []}, "
	    "{\"train\": [], \"val\": []}, {\"train\": [], \"val\": []}, "
	    "{\"train\": [], \"val\": []}, {\"train\": [], \"val\": []}]\n");
	nnunet_untouched(&r, "--device", "cpu", "--trainer", "X", "--fold", "5", "501");
	assert_error(&r, "fold 5", "never gives a trial your splits_final.json", "--fold all");
	run_release(&r);
}

Test(nnunet_cmd, a_fold_on_fewer_than_five_cases_is_refused)
{
	struct run r;

	dataset(3);
	fake_nnunet();
	nnunet_untouched(&r, "--device", "cpu", "--trainer", "X", "--fold", "0", "501");
	assert_error(&r, "fold 0 needs at least 5 cases", "has 3", "--fold all");
	cr_assert(strstr(r.err, "Dataset501_Liver"), "%s", r.err);
	run_release(&r);
}

/* A file named like the dataset (an archive of it) is not a second match;
 * an ID too long for nnU-Net is refused before any lookup. */
Test(nnunet_cmd, only_folders_match_an_id)
{
	struct run r;

	dataset(6);
	fake_nnunet();
	put("pp/Dataset501_Liver.tar.gz", "not a folder\n");
	nnunet_untouched(&r, "--device", "cpu", "--workdir", "no/such/parent/wd", "501");
	cr_assert(strstr(r.out, "nnunet: Dataset501_Liver"), "%s%s", r.out, r.err);
	cr_assert(!strstr(r.err, "several"), "%s", r.err);
	run_release(&r);
	nnunet_untouched(&r, "--device", "cpu", "99999999999");
	assert_error(&r, "'99999999999' is not an nnU-Net dataset ID", NULL, NULL);
	run_release(&r);
}

/* ---- the command line ---- */

/* Usage errors: exit 2, the message names what is wrong (and, where it
 * says, what to do instead), nothing is created. */
Test(nnunet_cmd, usage_errors)
{
	static const struct {
		const char *args[10];
		const char *need, *also;
	} cases[] = {
		{ { "--fold", "0", "501" }, "--fold 0", "--trainer" },
		{ { "--trainer", "X", "--fold", "abc", "501" },
		  "--fold 'abc': expected all or a fold number", NULL },
		{ { "--passes", "0", "501" }, "--passes '0': expected a whole number from 1", NULL },
		{ { "--passes", "x", "501" }, "--passes 'x'", NULL },
		{ { "--trainer", "X", "--passes", "3", "501" }, "--passes is for the probe trainer",
		  NULL },
		{ { "501", "--", "nnUNetv2_train", "501", "3d_fullres", "0" }, "no '--' here",
		  "casebisect run" },
		{ { NULL }, "no DATASET", NULL },
		{ { "501", "3d_fullres", "0" }, "expected DATASET [CONFIGURATION]", NULL },
		/* run's options that nnunet sets itself */
		{ { "--format", "nnunet-raw", "501" }, "unknown option '--format'", NULL },
		{ { "--configuration", "2d", "501" }, "unknown option '--configuration'", NULL },
		/* run's options, checked before the dataset is looked at */
		{ { "--timeout", "1e23", "501" }, "--timeout '1e23': at most 2592000 seconds", NULL },
		{ { "--deadline", "721h", "501" }, "--deadline '721h': at most 30 days", NULL },
		{ { "--log-tail", "1000G", "501" }, "--log-tail '1000G': at most 1G", NULL },
		{ { "--pass-pattern", "(", "501" }, "--pass-pattern '('", NULL },
		{ { "--jobs", "0", "501" }, "expected a whole number from 1", NULL },
	};
	size_t i, j;

	dataset(6);
	fake_nnunet();
	for (i = 0; i < CB_ARRAY_SIZE(cases); i++) {
		const char *a[16] = { "--device", "cpu" };
		struct run r;

		for (j = 0; cases[i].args[j]; j++)
			a[2 + j] = cases[i].args[j];
		nnunet_untouched_argv(&r, a);
		assert_usage(&r, cases[i].need);
		if (cases[i].also)
			cr_assert(strstr(r.err, cases[i].also), "%s", r.err);
		run_release(&r);
	}
	{
		struct run r;

		nnunet_untouched(&r, "--device", "gpu", "501");
		assert_usage(&r, "--device 'gpu': expected cuda or cpu");
		run_release(&r);
	}
}

Test(nnunet_cmd, nnUNetv2_train_not_on_PATH_says_to_activate_the_environment)
{
	char *empty = at("empty");
	struct run r;

	dataset(6);
	mkdir_at("empty");
	/* Nothing before this check needs PATH. */
	cr_assert(setenv("PATH", empty, 1) == 0);
	nnunet_untouched(&r, "--device", "cpu", "501");
	assert_error(&r, "nnUNetv2_train is not on PATH", NULL, "activate the environment");
	run_release(&r);

	nnunet_untouched(&r, "--device", "cpu", "--trainer", "X", "501");
	assert_error(&r, "nnUNetv2_train is not on PATH", NULL, "activate the environment");
	run_release(&r);
	free(empty);
}

Test(nnunet_cmd, help_lists_its_options_and_runs)
{
	struct run r;

	run(&r, "nnunet", "--help");
	cr_assert_eq(r.code, 0, "exit %d\n%s", r.code, r.err);
	cr_assert_eq(r.err_len, 0, "%s", r.err);
	cr_assert(starts_with(r.out, "usage: casebisect nnunet [options] DATASET [CONFIGURATION]"),
		  "%s", r.out);
	cr_assert(strstr(r.out, "\n  --device cuda|cpu "), "%s", r.out);
	cr_assert(strstr(r.out, "\n  --trainer NAME "), "%s", r.out);
	cr_assert(strstr(r.out, "\n  --fold F "), "%s", r.out);
	cr_assert(strstr(r.out, "\n  --workdir DIR "), "run's options are missing:\n%s", r.out);
	cr_assert(strstr(r.out, "\n  --max-trials N "), "%s", r.out);
	/* The three that nnunet sets itself are not offered. */
	cr_assert(!strstr(r.out, "--format"), "%s", r.out);
	cr_assert(!strstr(r.out, "--configuration"), "%s", r.out);
	run_release(&r);
}

/* ---- what it hands to run ---- */

/* A short run in tmpdir/wd with extra options and the operands (it ends
 * after a trial or two: the fake prints nothing and exits 0, a pass); the
 * dataset folder is left as it was. */
static void short_run_argv(struct run *r, const char *const *extra)
{
	const char *a[17] = { "--device", "cpu", "--gpus", "none", "--max-trials", "1",
			      "--workdir", NULL };
	char *wd = at("wd"), *pp = at("pp"), *log = at("fake.log"), *before, *after;
	size_t n = 8, i;

	a[7] = wd;
	for (i = 0; extra[i]; i++) {
		cr_assert(n < 16);
		a[n++] = extra[i];
	}
	cr_assert(setenv("FAKE_NNUNET_LOG", log, 1) == 0);
	before = tree_snapshot(pp);
	nnunet_argv(r, a);
	after = tree_snapshot(pp);
	cr_assert_str_eq(after, before, "the dataset changed:\nbefore:\n%s\nafter:\n%s", before,
			 after);
	/* Every trial passes: not reproduced, or undetermined once out of trials. */
	cr_assert(r->code == 3 || r->code == 6, "exit %d\n%s\n%s", r->code, r->out, r->err);
	cr_assert(starts_with(r->out, "[") && starts_with(r->out + 9, "] nnunet: Dataset501_Liver ("),
		  "%s", r->out);
	free(before);
	free(after);
	free(log);
	free(pp);
	free(wd);
}
#define short_run(r, ...) short_run_argv(r, (const char *const[9]){ __VA_ARGS__, NULL })

/* The recorded argv (up to "--") and environment of the last trial. */
static void fake_log(char **argv_lines, char **env_lines)
{
	char *log = at("fake.log"), *text = cb_read_file(log, NULL), *sep;

	cr_assert(text, "the fake nnUNetv2_train never ran (%s)", log);
	sep = strstr(text, "\n--\n");
	cr_assert(sep, "%s", text);
	sep[1] = '\0';
	*argv_lines = xstrdup(text);
	*env_lines = cb_fmt("\n%s", sep + 4);
	free(text);
	free(log);
}

Test(nnunet_cmd, the_probe_command_and_environment)
{
	cJSON *o, *env, *opt;
	char *cmd, *want, *launcher, *args, *envs, *wd = at("wd"), *probe, *s;
	struct run r;

	dataset(6);
	fake_nnunet();
	short_run(&r, "501");
	o = read_run_json();
	cmd = lines_of(cJSON_GetObjectItemCaseSensitive(o, "command"));
	launcher = line_at(cmd, 0);
	cr_assert(launcher[0] == '/' && ends_with(launcher, "/harness/nnunet/casebisect-nnunet-train"),
		  "%s", cmd);
	cr_assert_eq(access(launcher, X_OK), 0, "%s", launcher);
	want = cb_fmt("%s\n--cases-file\n{cases_file}\nDataset501_Liver\n3d_fullres\nall\n-tr\n"
		      "nnUNetTrainer_CasebisectProbe\n-p\nnnUNetPlans\n-device\ncpu\n", launcher);
	cr_assert_str_eq(cmd, want);
	env = cJSON_GetObjectItemCaseSensitive(o, "env");
	envs = lines_of(env);
	cr_assert_str_eq(envs, "nnUNet_n_proc_DA=0\n", "OMP_NUM_THREADS is for cuda only");
	opt = cJSON_GetObjectItemCaseSensitive(o, "options");
	cr_assert(strstr(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(opt, "env_cmd")),
			 "casebisect-nnunet-train' --versions"));
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(opt, "min_cases")), 1,
		     "nnU-Net needs a case: no empty control");
	free(envs);
	cJSON_Delete(o);

	/* What the trial ran: the launcher exec'd the "Python" of
	 * nnUNetv2_train's "#!" line on the probe module, with the rest of the
	 * command, the subset's cases file and a view of the dataset. */
	fake_log(&args, &envs);
	probe = src_file("harness/nnunet/casebisect_nnunet_probe.py");
	free(want);
	want = cb_fmt("%s/bin/fakepy\n%s\nDataset501_Liver\n3d_fullres\nall\n-tr\n"
		      "nnUNetTrainer_CasebisectProbe\n-p\nnnUNetPlans\n-device\ncpu\n", tmpdir, probe);
	cr_assert_str_eq(args, want);
	s = cb_fmt("\nnnUNet_preprocessed=%s/trials/", wd);
	cr_assert(strstr(envs, s), "no %s in:\n%s", s + 1, envs);
	free(s);
	s = cb_fmt("\nCASEBISECT_CASES_FILE=%s/trials/", wd);
	cr_assert(strstr(envs, s), "no %s in:\n%s", s + 1, envs);
	free(s);
	cr_assert(strstr(envs, "\nnnUNet_n_proc_DA=0\n"), "%s", envs);
	cr_assert(strstr(envs, "\nnnUNet_compile=f\n"), "%s", envs);
	cr_assert(!strstr(envs, "\nOMP_NUM_THREADS="), "%s", envs);
	free(probe);
	free(args);
	free(envs);
	free(want);
	free(cmd);
	free(launcher);
	free(wd);
	run_release(&r);
}

Test(nnunet_cmd, env_replaces_what_nnunet_sets_and_cuda_adds_omp_threads)
{
	cJSON *o;
	char *envs, *args;
	struct run r;

	dataset(6);
	fake_nnunet();
	short_run(&r, "--device", "cuda", "--env", "nnUNet_n_proc_DA=2", "501");
	o = read_run_json();
	envs = lines_of(cJSON_GetObjectItemCaseSensitive(o, "env"));
	cr_assert_str_eq(envs, "OMP_NUM_THREADS=1\nnnUNet_n_proc_DA=2\n");
	free(envs);
	cJSON_Delete(o);
	fake_log(&args, &envs);
	cr_assert(ends_with(args, "\n-device\ncuda\n"), "%s", args);
	cr_assert(strstr(envs, "\nnnUNet_n_proc_DA=2\n"), "%s", envs);
	cr_assert(!strstr(envs, "\nnnUNet_n_proc_DA=0\n"), "%s", envs);
	cr_assert(strstr(envs, "\nOMP_NUM_THREADS=1\n"), "%s", envs);
	free(args);
	free(envs);
	run_release(&r);
}

Test(nnunet_cmd, passes_reach_the_probe)
{
	char *args, *envs;
	struct run r;

	dataset(6);
	fake_nnunet();
	short_run(&r, "--passes", "3", "501");
	fake_log(&args, &envs);
	cr_assert(strstr(envs, "\nCASEBISECT_PASSES=3\n"), "%s", envs);
	free(args);
	free(envs);
	run_release(&r);
}

Test(nnunet_cmd, own_trainer_runs_nnUNetv2_train_on_its_fold)
{
	static const char want[] = "nnUNetv2_train\nDataset501_Liver\n3d_fullres\n0\n-tr\n"
				   "MyTrainer\n-p\nnnUNetPlans\n-device\ncpu\n--disable_checkpointing\n";
	cJSON *o, *opt;
	char *cmd, *args, *envs, *train = at("bin/nnUNetv2_train"), *wd = at("wd"), *s;
	struct run r;

	dataset(6);
	fake_nnunet();
	short_run(&r, "--trainer", "MyTrainer", "--fold", "0", "501");
	cr_assert(strstr(r.out, "trainer MyTrainer\n"), "%s", r.out);
	o = read_run_json();
	cmd = lines_of(cJSON_GetObjectItemCaseSensitive(o, "command"));
	cr_assert_str_eq(cmd, want);
	opt = cJSON_GetObjectItemCaseSensitive(o, "options");
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(opt, "pass_pattern")),
			 "Epoch time: ");
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(opt, "min_cases")), 5);
	cJSON_Delete(o);

	/* The trial ran the nnUNetv2_train of PATH with the same words, on a
	 * view of the dataset. */
	fake_log(&args, &envs);
	s = cb_fmt("%s/bin/fakepy\n%s\n%s", tmpdir, train, want + strlen("nnUNetv2_train\n"));
	cr_assert_str_eq(args, s);
	free(s);
	s = cb_fmt("\nnnUNet_preprocessed=%s/trials/", wd);
	cr_assert(strstr(envs, s), "no %s in:\n%s", s + 1, envs);
	free(s);
	free(args);
	free(envs);
	free(cmd);
	run_release(&r);

	/* A --pass-pattern and --min-cases of the user's own are kept. */
	s = cb_fmt("rm -rf '%s'", wd);
	cr_assert(system(s) == 0);
	free(s);
	short_run(&r, "--trainer", "MyTrainer", "--fold", "0", "--pass-pattern", "epoch 0 done",
		  "501");
	o = read_run_json();
	opt = cJSON_GetObjectItemCaseSensitive(o, "options");
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(opt, "pass_pattern")),
			 "epoch 0 done");
	cJSON_Delete(o);
	run_release(&r);
	free(train);
	free(wd);
}
