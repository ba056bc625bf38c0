/* test_trial: `casebisect trial` as a user runs it: outcomes, JSON, errors,
 * Ctrl-C, placeholders, and a real PyTorch trainer end to end. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "casebisect/util.h"
#include "helpers.h"

TestSuite(trial, .init = tmpdir_setup, .fini = tmpdir_teardown);

Test(trial, failing_command_is_fail_with_signature_suspects_and_logs)
{
	char *fake = src_file("harness/faketrain");
	char *log = corpus_file("030-pytorch-unet-375-nll-loss2d-asserts.txt");
	struct run r;
	cJSON *o, *sig, *sus;

	run(&r, "trial", "--json", "--workdir", tmpdir, "--settle", "0.2", "--grace", "1", "--",
	    fake, "--batch", "case_017", "--log", log, "--hang");
	cr_assert_eq(r.code, 0, "exit %d; stderr:\n%s", r.code, r.err);
	o = cJSON_Parse(r.out);
	cr_assert(o, "not JSON:\n%s", r.out);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "outcome")), "FAIL");
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "reason")), "failure");
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "class")), "device_assert");
	sig = cJSON_GetObjectItem(o, "signature");
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(sig, "kernel")),
			 "nll_loss2d_forward_kernel");
	sus = cJSON_GetObjectItem(o, "suspects");
	cr_assert(cJSON_IsArray(sus) && cJSON_GetArraySize(sus) == 1);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(sus, 0)), "case_017");
	cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(o, "signal")), "ended by our signal");
	cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(o, "duration_s")));
	{
		const char *err_log = cJSON_GetStringValue(cJSON_GetObjectItem(o, "stderr_log"));
		struct stat st;
		char *text;

		cr_assert(err_log && stat(err_log, &st) == 0, "no stderr log");
		text = cb_read_file(err_log, NULL);
		cr_assert(strstr(text, "nll_loss2d_forward_kernel"), "the log holds the output");
		free(text);
		cr_assert(cJSON_IsString(cJSON_GetObjectItem(o, "stdout_log")));
	}
	cJSON_Delete(o);
	run_release(&r);

	run(&r, "trial", "--workdir", tmpdir, "--", fake, "--exit", "0");
	cr_assert_eq(r.code, 0);
	cr_assert(starts_with(r.out, "trial 2: PASS (exit_0) none"), "%s", r.out);
	run_release(&r);
	free(fake);
	free(log);
}

Test(trial, missing_or_not_found_command_is_a_clear_configuration_error)
{
	struct run r;

	run(&r, "trial", "--workdir", tmpdir, "--", "/nonexistent/train.py");
	cr_assert_eq(r.code, 1);
	cr_assert(strstr(r.err, "cannot run '/nonexistent/train.py'"), "%s", r.err);
	cr_assert_eq(r.out_len, 0);
	run_release(&r);

	run(&r, "trial", "--workdir", tmpdir, "--", "/bin/sh", "-c", "exit 127");
	cr_assert_eq(r.code, 1);
	cr_assert(strstr(r.err, "command not found"), "%s", r.err);
	run_release(&r);

	run(&r, "trial", "--workdir", tmpdir, "python3", "train.py");
	assert_usage_error(&r);
	run_release(&r);
}

static size_t count_pid_lines(const char *path)
{
	char *text = cb_read_file(path, NULL);
	size_t n = text ? count_lines(text) : 0;

	free(text);
	return n;
}

Test(trial, ctrl_c_ends_the_trial_leaves_nothing_and_exits_5)
{
	char *fake = src_file("harness/faketrain");
	char out[128], err[128], pids[128], marker[64];
	int pid, code, i;

	snprintf(out, sizeof(out), "%s/out", tmpdir);
	snprintf(err, sizeof(err), "%s/err", tmpdir);
	snprintf(pids, sizeof(pids), "%s/pids", tmpdir);
	pid = spawn_bg(out, err, "trial", "--workdir", tmpdir, "--grace", "1", "--", fake,
		       "--workers", "2", "--daemon", "--ignore-term", "--hang", "--pidfile", pids, NULL);
	for (i = 0; i < 200 && count_pid_lines(pids) < 4; i++)
		usleep(50 * 1000);
	cr_assert_eq(count_pid_lines(pids), 4, "the trainer did not start");
	kill(pid, SIGINT);
	code = wait_exit(pid);
	cr_assert_eq(code, 5, "exit %d", code);
	snprintf(marker, sizeof(marker), "CASEBISECT_SUPERVISOR=%d", pid);
	cr_assert_eq(process_with_env(marker), 0, "a process of the trial is still running");
	{
		char *text = cb_read_file(out, NULL);

		cr_assert(strstr(text, "UNRESOLVED (interrupted)"), "%s", text);
		free(text);
	}
	free(fake);
}

Test(trial, placeholders_become_absolute_paths)
{
	char *fake = src_file("harness/faketrain");
	char dump[128], cwd[4096], *text, *cases;
	struct run r;

	snprintf(dump, sizeof(dump), "%s/args", tmpdir);
	cases = write_file(tmpdir, "cases.txt", "a\nb\nc\n");
	cr_assert(getcwd(cwd, sizeof(cwd)));
	cr_assert(chdir(tmpdir) == 0);
	run(&r, "trial", "--workdir", "wd", "--cases-file", "cases.txt", "--", fake, "--args-dump",
	    dump, "n={n}", "{cases_file}", "{trial_dir}");
	cr_assert(chdir(cwd) == 0);
	cr_assert_eq(r.code, 0, "%s", r.err);
	text = cb_read_file(dump, NULL);
	cr_assert(text);
	cr_assert(strstr(text, "n=3\n"), "%s", text);
	cr_assert(strstr(text, cases), "{cases_file} is absolute: %s", text);
	cr_assert(strstr(text, "/wd/trials/0001\n"), "%s", text);
	cr_assert(strstr(text, "\n/"), "{trial_dir} is absolute: %s", text);
	free(text);
	free(cases);
	run_release(&r);
	free(fake);
}

/* ---- a real PyTorch trainer ---- */

static const char *torch_python(void)
{
	const char *p = getenv("CASEBISECT_PYTHON");

	return p && *p ? p : "/usr/bin/python3";
}

/* Writes the lines i of DATASET/cases.txt and files.txt whose index is in
 * keep[] (-1 ends it) into tmpdir/sub-cases.txt and sub-files.txt, the
 * paths of which come back in *cases and *files (the caller frees them). */
static void subset(const char *dataset, const int *keep, char **cases, char **files)
{
	static const char *const names[] = { "cases", "files" };
	char **outs[] = { cases, files };
	size_t n;

	for (n = 0; n < 2; n++) {
		char path[4200], out_name[64], *text, *line, *save = NULL, *out = xcalloc(1, 1);
		size_t len = 0;
		int i = 0;

		snprintf(path, sizeof(path), "%s/%s.txt", dataset, names[n]);
		text = cb_read_file(path, NULL);
		cr_assert(text, "mkcases wrote no %s", path);
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
			const int *k;

			for (k = keep; *k >= 0 && *k != i; k++)
				;
			if (*k < 0)
				continue;
			append(&out, &len, line, strlen(line));
			append(&out, &len, "\n", 1);
		}
		snprintf(out_name, sizeof(out_name), "sub-%s.txt", names[n]);
		*outs[n] = write_file(tmpdir, out_name, out);
		free(out);
		free(text);
	}
}

/* Makes a dataset of 6 cases where case_004's label holds 255. */
static char *make_dataset(void)
{
	char *mkcases = src_file("examples/mkcases"), *dir = xmalloc(128), cmd[4400];

	snprintf(dir, 128, "%s/dataset", tmpdir);
	snprintf(cmd, sizeof(cmd), "'%s' --cases 6 --bad case_004=255 '%s' >/dev/null", mkcases, dir);
	cr_assert(system(cmd) == 0, "mkcases failed: %s", cmd);
	free(mkcases);
	return dir;
}

/* The real PyTorch trainer crashes on the bad label with PyTorch's own CPU
 * error, names the case in its batch line, and its DataLoader workers are
 * gone afterwards; without the bad case it passes. */
/* Runs harness/torchtrain.py on the cases of dataset at `keep` through
 * `casebisect trial --json`, checks that no process of the trial (a
 * DataLoader worker) outlived it, and returns the parsed result. */
static cJSON *torch_trial(const char *dataset, const int *keep, char **text)
{
	char *train = src_file("harness/torchtrain.py"), *cases, *files;
	char out[128], err[128], marker[64];
	cJSON *o;
	int pid;

	subset(dataset, keep, &cases, &files);
	snprintf(out, sizeof(out), "%s/out", tmpdir);
	snprintf(err, sizeof(err), "%s/err", tmpdir);
	pid = spawn_bg(out, err, "trial", "--json", "--workdir", tmpdir, "--timeout", "180",
		       "--cases-file", cases, "--files-file", files, "--", torch_python(), train,
		       "--cases-file", "{cases_file}", "--files-file", "{files_file}", "--device",
		       "cpu", "--workers", "2", NULL);
	cr_assert_eq(wait_exit(pid), 0);
	snprintf(marker, sizeof(marker), "CASEBISECT_SUPERVISOR=%d", pid);
	cr_assert_eq(process_with_env(marker), 0, "a DataLoader worker outlived the trial");
	*text = cb_read_file(out, NULL);
	o = cJSON_Parse(*text);
	cr_assert(o, "not JSON: %s", *text);
	free(cases);
	free(files);
	free(train);
	return o;
}

Test(trial, real_pytorch_trainer_crash_and_clean_run)
{
	static const int bad[] = { 0, 4, 1, -1 }, clean[] = { 0, 1, 2, 3, 5, -1 };
	char *dataset = make_dataset(), *text;
	cJSON *o = torch_trial(dataset, bad, &text), *sus;

	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "outcome")), "FAIL", "%s", text);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "class")), "cpu_index_error",
			 "%s", text);
	sus = cJSON_GetObjectItem(o, "suspects");
	cr_assert_eq(cJSON_GetArraySize(sus), 1, "%s", text);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(sus, 0)), "case_004");
	cJSON_Delete(o);
	free(text);

	o = torch_trial(dataset, clean, &text);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "outcome")), "PASS", "%s", text);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "class")), "none", "%s", text);
	cJSON_Delete(o);
	free(text);
	free(dataset);
}

/* --dataset builds the subset's view in the trial directory, as `run` will:
 * {view}, {cases_file}, {files_file}, {n} and the nnU-Net variables point
 * into it, and it is gone afterwards (the logs stay). */
Test(trial, dataset_view_is_built_for_the_subset_and_removed)
{
	char *fake = src_file("harness/faketrain"), *dataset = make_dataset(), *sub, *text;
	char args[128], env[128], wd[128], view_dir[256];
	struct run r;
	struct stat st;

	snprintf(args, sizeof(args), "%s/args", tmpdir);
	snprintf(env, sizeof(env), "%s/env", tmpdir);
	snprintf(wd, sizeof(wd), "%s/wd", tmpdir);
	sub = write_file(tmpdir, "sub.txt", "case_001\ncase_004\n");
	run(&r, "trial", "--workdir", wd, "--dataset", dataset, "--cases-file", sub, "--", fake,
	    "--args-dump", args, "--env-dump", env, "n={n}", "{view}", "{cases_file}");
	cr_assert_eq(r.code, 0, "%s", r.err);
	text = cb_read_file(args, NULL);
	cr_assert(strstr(text, "n=2\n"), "%s", text);
	cr_assert(strstr(text, "/wd/trials/0001/view/raw/dataset\n"), "{view}: %s", text);
	cr_assert(strstr(text, "/wd/trials/0001/cases.txt\n"), "%s", text);
	free(text);
	text = cb_read_file(env, NULL);
	cr_assert(strstr(text, "nnUNet_raw="), "%s", text);
	cr_assert(strstr(text, "/wd/trials/0001/view/raw\n"), "%s", text);
	free(text);
	snprintf(view_dir, sizeof(view_dir), "%s/trials/0001/view", wd);
	cr_assert_neq(stat(view_dir, &st), 0, "the view is removed after the trial");
	snprintf(view_dir, sizeof(view_dir), "%s/trials/0001/stderr.log", wd);
	cr_assert_eq(stat(view_dir, &st), 0, "the logs stay");
	snprintf(view_dir, sizeof(view_dir), "%s/labelsTr/case_004.nii.gz", dataset);
	cr_assert_eq(stat(view_dir, &st), 0, "the user's files stay");
	run_release(&r);

	free(sub);
	sub = write_file(tmpdir, "bad.txt", "case_999\n");
	run(&r, "trial", "--workdir", wd, "--dataset", dataset, "--cases-file", sub, "--", fake);
	cr_assert_eq(r.code, 1);
	cr_assert(strstr(r.err, "case_999"), "%s", r.err);
	run_release(&r);
	free(sub);
	free(dataset);
	free(fake);
}

/* However many --env a user gives, each reaches the trainer, and on an
 * nnU-Net dataset the view's nnUNet_* still win over the user's: were they
 * dropped or overridden, the trainer would read and write the user's real
 * preprocessed and results folders. --env still wins over casebisect's own
 * variables (CUDA_LAUNCH_BLOCKING). */
Test(trial, every_env_reaches_the_trainer_and_the_view_wins_on_nnunet)
{
	enum { NENV = 40 };
	char *fake = src_file("harness/faketrain"), *dataset = mkcases_in("dataset", 4, NULL);
	char *sub = write_file(tmpdir, "sub.txt", "case_001\ncase_003\n");
	char *dump_path = at("env"), *out = at("out"), *err = at("err"), *wd = at("wd");
	char *real_pp = at("real_pp"), *real_results = at("real_results");
	char kv[NENV + 2][256], *argv[2 * NENV + 32], *v, *txt;
	const char *const view_dirs[][2] = { { "nnUNet_raw", "raw" },
					     { "nnUNet_preprocessed", "pp" },
					     { "nnUNet_results", "results" } };
	size_t argc = 0, i;
	int code;

	argv[argc++] = (char *)bin();
	argv[argc++] = "trial";
	argv[argc++] = "--workdir";
	argv[argc++] = wd;
	argv[argc++] = "--dataset";
	argv[argc++] = dataset;
	argv[argc++] = "--cases-file";
	argv[argc++] = sub;
	for (i = 0; i < NENV; i++) {
		snprintf(kv[i], sizeof(kv[i]), "V%02zu=value %zu", i + 1, i + 1);
		argv[argc++] = "--env";
		argv[argc++] = kv[i];
	}
	snprintf(kv[NENV], sizeof(kv[NENV]), "nnUNet_preprocessed=%s", real_pp);
	snprintf(kv[NENV + 1], sizeof(kv[NENV + 1]), "nnUNet_results=%s", real_results);
	argv[argc++] = "--env";
	argv[argc++] = kv[NENV];
	argv[argc++] = "--env";
	argv[argc++] = kv[NENV + 1];
	argv[argc++] = "--env";
	argv[argc++] = "CUDA_LAUNCH_BLOCKING=0";
	argv[argc++] = "--";
	argv[argc++] = fake;
	argv[argc++] = "--env-dump";
	argv[argc++] = dump_path;
	argv[argc] = NULL;
	code = wait_exit(spawn_argv(argv, out, err));
	txt = cb_read_file(err, NULL);
	cr_assert_eq(code, 0, "exit %d; stderr: %s", code, txt ? txt : "");
	free(txt);

	for (i = 0; i < CB_ARRAY_SIZE(view_dirs); i++) {
		char want[512];

		snprintf(want, sizeof(want), "%s/trials/0001/view/%s", wd, view_dirs[i][1]);
		v = dump_value(dump_path, view_dirs[i][0]);
		cr_assert(v, "the trainer got no %s: it would use the user's", view_dirs[i][0]);
		cr_assert_str_eq(v, want, "%s points outside the trial's view", view_dirs[i][0]);
		free(v);
	}
	for (i = 0; i < NENV; i++) {
		char name[8], want[32];

		snprintf(name, sizeof(name), "V%02zu", i + 1);
		snprintf(want, sizeof(want), "value %zu", i + 1);
		v = dump_value(dump_path, name);
		cr_assert(v, "--env %s=%s never reached the trainer", name, want);
		cr_assert_str_eq(v, want);
		free(v);
	}
	v = dump_value(dump_path, "CUDA_LAUNCH_BLOCKING");
	cr_assert(v && !strcmp(v, "0"), "--env must win over casebisect's own variables");
	free(v);
	v = dump_value(dump_path, "CASEBISECT_TRIAL");
	cr_assert(v && !strcmp(v, "1"), "the trial's marker is lost: %s", v ? v : "(none)");
	free(v);

	/* so does the trial directory's env.txt (what casebisect set) */
	snprintf(kv[0], sizeof(kv[0]), "%s/trials/0001/env.txt", wd);
	txt = cb_read_file(kv[0], NULL);
	cr_assert(txt && strstr(txt, "\nV40=value 40\n"), "env.txt: %s", txt ? txt : "(none)");
	free(txt);

	free(real_results);
	free(real_pp);
	free(wd);
	free(err);
	free(out);
	free(dump_path);
	free(sub);
	free(dataset);
	free(fake);
}

/* Durations beyond 30 days, log sizes beyond 1G and patterns that do not
 * compile are usage errors, and no trial directory is made for them; the
 * maxima themselves work (a trial of 0.3 s ends by its exit). */
Test(trial, bad_durations_and_patterns_make_nothing)
{
	static const char *const opts[][3] = {
		{ "--timeout", "1e23", "--timeout '1e23': at most 2592000 seconds (30 days)" },
		{ "--stall", "1e23", "--stall '1e23': at most" },
		{ "--pass-after", "1e23", "--pass-after '1e23': at most" },
		{ "--settle", "1e23", "--settle '1e23': at most" },
		{ "--grace", "1e23", "--grace '1e23': at most" },
		{ "--pass-pattern", "(", "--pass-pattern '('" },
		{ "--batch-pattern", "no group", "it needs one group" },
		/* the tail was allocated only once the head was full: out of
		 * memory mid-run, with the workers left running */
		{ "--log-tail", "1000G", "--log-tail '1000G': at most 1G (1073741824 bytes)" },
		{ "--log-head", "1073741825", "--log-head '1073741825': at most 1G" },
		{ "--log-tail", "4X", "--log-tail '4X': expected a size" },
	};
	char *fake = src_file("harness/faketrain"), *wd = cb_fmt("%s/wd", tmpdir);
	struct run r;
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(opts); i++) {
		run(&r, "trial", "--workdir", wd, opts[i][0], opts[i][1], "--", fake, "--exit", "0");
		assert_usage_error(&r);
		cr_assert(strstr(r.err, opts[i][2]), "no \"%s\" in:\n%s", opts[i][2], r.err);
		cr_assert(access(wd, F_OK) != 0, "%s %s: %s was made", opts[i][0], opts[i][1], wd);
		run_release(&r);
	}
	run(&r, "trial", "--workdir", wd, "--timeout", "2592000", "--stall", "2592000",
	    "--pass-after", "2592000", "--log-head", "1G", "--log-tail", "1G", "--", fake,
	    "--sleep", "300", "--exit", "0");
	cr_assert_eq(r.code, 0, "exit %d\n%s", r.code, r.err);
	cr_assert(starts_with(r.out, "trial 1: PASS (exit_0)"), "%s", r.out);
	run_release(&r);
	free(wd);
	free(fake);
}

/* A CASEBISECT_BATCH line with bytes that are not UTF-8: --json stays
 * valid UTF-8 (U+FFFD for each), which strict JSON readers need. */
Test(trial, json_suspects_stay_valid_utf8)
{
	char *fake = src_file("harness/faketrain"), *out;
	char *log = corpus_file("030-pytorch-unet-375-nll-loss2d-asserts.txt");
	struct run r;
	cJSON *o, *sus;

	run(&r, "trial", "--json", "--workdir", tmpdir, "--settle", "0.2", "--grace", "1", "--",
	    fake, "--batch", "case_\xff\xfe case_001", "--log", log, "--exit", "1");
	cr_assert_eq(r.code, 0, "exit %d; stderr:\n%s", r.code, r.err);
	out = write_file(tmpdir, "trial.json", r.out);
	assert_strict_json(out, true);
	o = cJSON_Parse(r.out);
	sus = cJSON_GetObjectItem(o, "suspects");
	cr_assert(cJSON_IsArray(sus) && cJSON_GetArraySize(sus) == 2, "%s", r.out);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(sus, 0)),
			 "case_\xef\xbf\xbd\xef\xbf\xbd");
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(sus, 1)), "case_001");
	cJSON_Delete(o);
	run_release(&r);
	free(out);
	free(log);
	free(fake);
}
