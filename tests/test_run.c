/* test_run: `casebisect run`, `resume`, `report` and `demo` end to end,
 * through the real binary, with real trainers: the toy trainer
 * (harness/toytrain, CPU build) and PyTorch (harness/torchtrain.py). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "casebisect/journal.h"
#include "casebisect/util.h"
#include "helpers.h"

TestSuite(run, .init = tmpdir_setup, .fini = tmpdir_teardown);

static size_t journal_lines(const char *workdir)
{
	char *path = cb_fmt("%s/journal.jsonl", workdir), *text = cb_read_file(path, NULL);
	size_t n = text ? count_lines(text) : 0;

	free(text);
	free(path);
	return n;
}

#define toy_run run_toy /* helpers.h */

Test(run, demo_finds_exactly_the_two_planted_cases)
{
	struct run r;
	char *wd = cb_fmt("%s/demo", tmpdir), verdict[64], *culprits, *md, *p;

	run(&r, "demo", "--workdir", wd);
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	cr_assert(strstr(r.out, "verdict: culprits_found"), "%s", r.out);
	cr_assert(strstr(r.out, "demo: ") && strstr(r.out, " trials in "), "no total at the end: %s",
		  r.out);
	cr_assert(strstr(r.out, "CPU build"), "the CPU build is not said: %s", r.out);
	culprits = report_culprits(wd, verdict, sizeof(verdict));
	cr_assert_str_eq(verdict, "culprits_found");
	cr_assert_str_eq(culprits, "case_013 case_042");
	/* the label audit names both: the full run, the control, each alone,
	 * and the rest: k + 3 trials */
	cr_assert_eq(journal_lines(wd), 5, "the audit prior should cost k+3 = 5 trials, not %zu",
		     journal_lines(wd));
	assert_schema_valid(wd);
	p = cb_fmt("%s/report.md", wd);
	md = cb_read_file(p, NULL);
	cr_assert(md && strstr(md, "case_013") && strstr(md, "case_042"), "%s", md);
	/* the answer is never given as certain: the terminal and report.md
	 * state the same confidence beside the verdict */
	cr_assert(strstr(r.out, "Confidence: ") &&
		  strstr(r.out, "that no other case among the 62 cleared holds a culprit."),
		  "no confidence after the verdict:\n%s", r.out);
	cr_assert(strstr(md, "Confidence: ") &&
		  strstr(md, "that no other case among the 62 cleared holds a culprit."), "%s", md);
	free(md);
	free(p);
	p = cb_fmt("%s/bundle.tar.gz", wd);
	cr_assert(access(p, R_OK) == 0, "no bundle");
	cr_assert(strstr(r.out, "patients' data"), "the end of run must warn about the bundle");
	free(p);
	free(culprits);
	free(wd);
	run_release(&r);
}

/* The bundle's repro.sh reproduces the failure on the bundle alone: the
 * dataset the run used is gone by then. */
Test(run, bundle_repro_reproduces_the_failure_alone)
{
	static const char *const bad[] = { "case_002=9", NULL };
	struct run r, c;
	char *ds = mkcases_in("ds", 8, bad), *wd = cb_fmt("%s/wd", tmpdir);
	char cmd[8192], *log = cb_fmt("%s/repro.log", tmpdir);

	toy_run(&r, wd, ds);
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && bash '%s/bundle/repro.sh' >'%s' 2>&1", ds, wd, log);
	cr_assert_neq(system(cmd), 0, "repro.sh did not fail");
	run(&c, "classify", log);
	cr_assert(strstr(c.out, "cpu_index_error"), "%s", c.out);
	run_release(&c);
	run_release(&r);
	free(log);
	free(wd);
	free(ds);
}

/* --min-cases 1 (a trainer that needs a case, as nnU-Net does): the
 * control is one clean case, and no trial runs the empty subset. The log
 * says, before the search, about how long it will take. */
Test(run, min_cases_one_controls_with_a_case_not_the_empty_subset)
{
	static const char *const bad[] = { "case_004=9", NULL };
	struct run r;
	char *ds = mkcases_in("ds", 8, bad), *wd = cb_fmt("%s/wd", tmpdir);
	char *culprits, verdict[64], warn[256], err[256];
	struct jrn_entry *e;
	size_t n, i, controls = 0;

	toy_run(&r, wd, "--min-cases", "1", "--prior", "none", ds);
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	culprits = report_culprits(wd, verdict, sizeof(verdict));
	cr_assert_str_eq(culprits, "case_004");
	cr_assert(strstr(r.out, "search: about "), "the log says what the search will take: %s",
		  r.out);
	cr_assert_eq(jrn_replay(wd, NULL, &e, &n, warn, sizeof(warn), err, sizeof(err)), 0, "%s", err);
	for (i = 0; i < n; i++) {
		cr_assert_gt(e[i].ncases, 0, "trial %llu (%s) ran no case",
			     (unsigned long long)e[i].trial, e[i].phase);
		if (!strcmp(e[i].phase, "control")) {
			controls++;
			cr_assert_eq(e[i].ncases, 1);
			cr_assert_str_neq(e[i].ids[0], "case_004");
		}
	}
	cr_assert_eq(controls, 1);
	jrn_entries_free(e, n);
	free(culprits);
	free(wd);
	free(ds);
	run_release(&r);
}

Test(run, a_dataset_that_does_not_crash_is_not_reproduced)
{
	struct run r;
	char *ds = mkcases_in("ds", 6, NULL), *wd = cb_fmt("%s/wd", tmpdir);
	char verdict[64], *culprits;

	toy_run(&r, wd, ds);
	cr_assert_eq(r.code, 3, "exit %d\n%s\n%s", r.code, r.out, r.err);
	cr_assert_eq(journal_lines(wd), 2, "the full set runs twice, nothing else");
	culprits = report_culprits(wd, verdict, sizeof(verdict));
	cr_assert_str_eq(verdict, "not_reproduced");
	cr_assert_str_eq(culprits, "");
	cr_assert(!strstr(r.out, "Confidence"), "nothing was searched:\n%s", r.out);
	assert_schema_valid(wd);
	free(culprits);
	free(wd);
	free(ds);
	run_release(&r);
}

/* --max-trials counts every trial, the target's and the control's too: one
 * trial, then undetermined (exit 6) with a report; resume with more goes on
 * to the answer without running that trial again. */
Test(run, max_trials_one_runs_one_trial_and_resume_goes_on)
{
	static const char *const bad[] = { "case_002=7", NULL };
	struct run r;
	char *ds = mkcases_in("ds", 8, bad), *wd = cb_fmt("%s/wd", tmpdir);
	char verdict[64], *culprits;

	toy_run(&r, wd, "--max-trials", "1", ds);
	cr_assert_eq(r.code, 6, "exit %d\n%s\n%s", r.code, r.out, r.err);
	cr_assert_eq(journal_lines(wd), 1);
	cr_assert(strstr(r.out, "out of --max-trials or --deadline"), "%s", r.out);
	culprits = report_culprits(wd, verdict, sizeof(verdict));
	cr_assert_str_eq(verdict, "undetermined");
	assert_schema_valid(wd);
	free(culprits);
	run_release(&r);

	run(&r, "resume", wd, "--max-trials", "100");
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	cr_assert(!strstr(r.out, "trial 1 (target"), "trial 1 ran again:\n%s", r.out);
	culprits = report_culprits(wd, verdict, sizeof(verdict));
	cr_assert_str_eq(verdict, "culprits_found");
	cr_assert_str_eq(culprits, "case_002");
	free(culprits);
	free(wd);
	free(ds);
	run_release(&r);
}

/* Real PyTorch, crashing whatever the data: the control trial (no case at
 * all) crashes the same way. */
Test(run, a_crash_that_needs_no_data_is_not_data_dependent)
{
	static const char *const bad[] = { "case_001=7", NULL };
	struct run r;
	char *ds = mkcases_in("ds", 4, bad), *wd = cb_fmt("%s/wd", tmpdir), verdict[64], *c;

	run(&r, "run", "--workdir", wd, "--gpus", "none", ds, "--", "/usr/bin/python3", "-c",
	    "import sys, torch; torch.zeros(3)[5]", "{cases_file}");
	cr_assert_eq(r.code, 4, "exit %d\n%s\n%s", r.code, r.out, r.err);
	c = report_culprits(wd, verdict, sizeof(verdict));
	cr_assert_str_eq(verdict, "not_data_dependent");
	cr_assert(strstr(r.out, "environment"), "no advice: %s", r.out);
	free(c);
	free(wd);
	free(ds);
	run_release(&r);
}

Test(run, real_pytorch_trainer_finds_its_culprit)
{
	static const char *const bad[] = { "case_005=255", NULL };
	struct run r;
	char *ds = mkcases_in("ds", 8, bad), *wd = cb_fmt("%s/wd", tmpdir), verdict[64], *c;
	char *train = src_file("harness/torchtrain.py");

	run(&r, "run", "--workdir", wd, "--gpus", "none", "--jobs", "2", ds, "--",
	    "/usr/bin/python3", train, "--cases-file", "{cases_file}", "--files-file",
	    "{files_file}", "--device", "cpu");
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	c = report_culprits(wd, verdict, sizeof(verdict));
	cr_assert_str_eq(verdict, "culprits_found");
	cr_assert_str_eq(c, "case_005");
	free(c);
	free(train);
	free(wd);
	free(ds);
	run_release(&r);
}

/* A log from a bug report names the bug: a real PyTorch CPU log matches
 * the toy trainer's CPU error; a GPU device assert from the corpus does
 * not, and the run says so (exit 3). */
Test(run, target_log_from_a_bug_report)
{
	static const char *const bad[] = { "case_003=7", NULL };
	struct run r;
	char *ds = mkcases_in("ds", 8, bad), *wd = cb_fmt("%s/wd", tmpdir), verdict[64], *c;
	char *toy = src_file("harness/toytrain"), *cpu_log = src_file("tests/logs/torch-cpu-cross-entropy.log");
	char *gpu_log = corpus_file("078-nnunet-37-v1-dice-loss-apex-device-assert.txt"), *wd2 = cb_fmt("%s/wd2", tmpdir);

	toy_run(&r, wd, "--target-log", cpu_log, ds);
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	c = report_culprits(wd, verdict, sizeof(verdict));
	cr_assert_str_eq(c, "case_003");
	free(c);
	run_release(&r);

	run(&r, "run", "--workdir", wd2, "--gpus", "none", "--target-log", gpu_log, ds, "--", toy,
	    "--cases-file", "{cases_file}", "--files-file", "{files_file}");
	cr_assert_eq(r.code, 3, "exit %d\n%s\n%s", r.code, r.out, r.err);
	c = report_culprits(wd2, verdict, sizeof(verdict));
	cr_assert_str_eq(verdict, "not_reproduced");
	free(c);
	run_release(&r);
	free(gpu_log);
	free(cpu_log);
	free(toy);
	free(wd2);
	free(wd);
	free(ds);
}

static int count_running_trials(const char *supervisor_marker)
{
	return process_with_env(supervisor_marker) != 0;
}

/* kill -9 of casebisect mid-search, then resume: the same culprits, no
 * finished trial run again (the journal ends as long as an uninterrupted
 * run's), and nothing left running. */
Test(run, kill_9_mid_search_then_resume)
{
	static const char *const bad[] = { "case_006=7", "case_019=7", NULL };
	struct run r;
	char *ds = mkcases_in("ds", 24, bad), *wd = cb_fmt("%s/wd", tmpdir);
	char *ref = cb_fmt("%s/ref", tmpdir), *toy = src_file("harness/toytrain");
	char *out = cb_fmt("%s/out", tmpdir), *err = cb_fmt("%s/err", tmpdir), marker[64];
	char verdict[64], *c1, *c2;
	int pid, i;
	size_t n_ref;

	/* --prior none: a search long enough to be killed in the middle */
	run(&r, "run", "--workdir", ref, "--gpus", "none", "--prior", "none", ds, "--", toy,
	    "--cases-file", "{cases_file}", "--files-file", "{files_file}", "--step-ms", "30");
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	run_release(&r);
	n_ref = journal_lines(ref);

	pid = spawn_bg(out, err, "run", "--workdir", wd, "--gpus", "none", "--prior", "none", ds,
		       "--", toy, "--cases-file", "{cases_file}", "--files-file", "{files_file}",
		       "--step-ms", "30", NULL);
	for (i = 0; i < 600 && journal_lines(wd) < 5; i++)
		usleep(20 * 1000);
	cr_assert(journal_lines(wd) >= 5, "the run did not get going");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	cr_assert(journal_lines(wd) < n_ref, "killed too late to test anything");

	run(&r, "resume", wd);
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	cr_assert(strstr(r.out, "not run again"), "%s", r.out);
	c1 = report_culprits(ref, verdict, sizeof(verdict));
	c2 = report_culprits(wd, verdict, sizeof(verdict));
	cr_assert_str_eq(c2, c1);
	cr_assert_str_eq(c2, "case_006 case_019");
	cr_assert_eq(journal_lines(wd), n_ref, "a finished trial ran again: %zu trials, %zu without "
		     "the kill", journal_lines(wd), n_ref);
	snprintf(marker, sizeof(marker), "CASEBISECT_SUPERVISOR=%d", pid);
	cr_assert_eq(count_running_trials(marker), 0, "a trial of the killed run is still running");
	run_release(&r);
	free(c1);
	free(c2);
	free(out);
	free(err);
	free(toy);
	free(ref);
	free(wd);
	free(ds);
}

Test(run, report_renders_again_from_the_journal)
{
	static const char *const bad[] = { "case_001=7", NULL };
	struct run r, j;
	char *ds = mkcases_in("ds", 6, bad), *wd = cb_fmt("%s/wd", tmpdir);
	char *path = cb_fmt("%s/report.md", wd), *before;

	toy_run(&r, wd, "--env-cmd", "echo torch 9.9.9; echo on-stderr >&2", ds);
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	run_release(&r);
	before = cb_read_file(path, NULL);
	cr_assert(before && strstr(before, "torch 9.9.9") && strstr(before, "on-stderr"),
		  "--env-cmd's output is not in the report: %s", before);
	unlink(path);
	run(&r, "report", wd);
	cr_assert_eq(r.code, 0, "%s", r.err);
	cr_assert(strstr(r.out, "case_001"), "%s", r.out);
	cr_assert(strstr(r.out, "torch 9.9.9"), "the env-cmd output was run again or lost: %s", r.out);
	run(&j, "report", "--format", "json", wd);
	cr_assert_eq(j.code, 0, "%s", j.err);
	{
		cJSON *o = cJSON_Parse(j.out);

		cr_assert(o, "not JSON: %s", j.out);
		cJSON_Delete(o);
	}
	cr_assert(access(path, R_OK) == 0, "report.md was not written again");
	free(before);
	run_release(&j);
	run_release(&r);
	free(path);
	free(wd);
	free(ds);
}

Test(run, bad_work_directories_and_commands_are_refused)
{
	static const char *const bad[] = { "case_001=7", NULL };
	struct run r;
	char *ds = mkcases_in("ds", 4, bad), *wd = cb_fmt("%s/wd", tmpdir);
	char *toy = src_file("harness/toytrain");

	/* a non-empty folder that is not a work directory */
	run(&r, "run", "--workdir", tmpdir, ds, "--", toy, "--cases-file", "{cases_file}",
	    "--files-file", "{files_file}");
	cr_assert_eq(r.code, 1);
	cr_assert(strstr(r.err, "not empty"), "%s", r.err);
	run_release(&r);
	/* a finished run's work directory: resume it instead */
	toy_run(&r, wd, ds);
	cr_assert_eq(r.code, 0, "%s", r.err);
	run_release(&r);
	run(&r, "run", "--workdir", wd, ds, "--", toy, "--cases-file", "{cases_file}");
	cr_assert_eq(r.code, 1);
	cr_assert(strstr(r.err, "casebisect resume"), "%s", r.err);
	run_release(&r);
	/* a trainer that is not there: said before anything is made (resume
	 * could not change the command) */
	{
		char *wd4 = cb_fmt("%s/wd4", tmpdir);

		run(&r, "run", "--workdir", wd4, ds, "--", "no-such-trainer", "{cases_file}");
		cr_assert_eq(r.code, 1);
		cr_assert(strstr(r.err, "no-such-trainer") && strstr(r.err, "not found on PATH"),
			  "%s", r.err);
		cr_assert(access(wd4, F_OK) != 0, "a work directory was created");
		run_release(&r);
		free(wd4);
	}
	/* a list dataset and a command that never sees the subset */
	{
		char *list = cb_fmt("%s/cases.txt", ds), *wd3 = cb_fmt("%s/wd3", tmpdir);

		run(&r, "run", "--workdir", wd3, list, "--", toy);
		assert_usage_error(&r);
		cr_assert(strstr(r.err, "{cases_file}"), "%s", r.err);
		cr_assert(access(wd3, F_OK) != 0, "a work directory was created");
		run_release(&r);
		free(wd3);
		free(list);
	}
	/* the dataset changed since the run: resume refuses */
	{
		char *img = cb_fmt("%s/labelsTr/case_002.nii.gz", ds), cmd[4096];

		snprintf(cmd, sizeof(cmd), "touch -d '2001-01-01' '%s'", img);
		cr_assert(system(cmd) == 0);
		run(&r, "resume", wd);
		cr_assert_eq(r.code, 1);
		cr_assert(strstr(r.err, "dataset changed"), "%s", r.err);
		run_release(&r);
		free(img);
	}
	free(toy);
	free(wd);
	free(ds);
}

/* A label added to dataset.json changes what the trainer learns, though no
 * case file changed: resume refuses it and names dataset.json. */
Test(run, resume_refuses_an_edited_dataset_json)
{
	static const char *const bad[] = { "case_001=7", NULL };
	char *ds = mkcases_in("ds", 4, bad), *wd = cb_fmt("%s/wd", tmpdir);
	char *dj = cb_fmt("%s/dataset.json", ds);
	struct run r;
	FILE *f;

	toy_run(&r, wd, ds);
	cr_assert_eq(r.code, 0, "%s", r.err);
	run_release(&r);
	f = fopen(dj, "w");
	cr_assert(f);
	fputs("{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, \"c1\": 1, "
	      "\"c2\": 2, \"liver\": 3}, \"numTraining\": 4, \"file_ending\": \".nii.gz\"}\n", f);
	cr_assert(fclose(f) == 0);
	run(&r, "resume", wd);
	cr_assert_eq(r.code, 1, "exit %d\n%s", r.code, r.err);
	cr_assert(strstr(r.err, "dataset changed"), "%s", r.err);
	cr_assert(strstr(r.err, "dataset.json"), "the message names the file:\n%s", r.err);
	run_release(&r);
	free(dj);
	free(wd);
	free(ds);
}

/* The fake CUDA runtime with two devices, device 1's health probe ending
 * as knob (one of fakecudart.c's FAKE_CUDA_PROBE_*) says. */
static void fake_two_gpus(const char *knob)
{
	cr_assert(getenv("CASEBISECT_FAKE_CUDART"));
	setenv("CASEBISECT_CUDART", getenv("CASEBISECT_FAKE_CUDART"), 1);
	setenv("FAKE_CUDA_DEVICES", "2", 1);
	setenv(knob, "1", 1);
}

/* A device whose trials crash for no reason of the data fails its health
 * probe and leaves the rotation; the search goes on on the healthy one.
 * (The fake CUDA runtime: two devices, the probe of device 1 fails.) */
Test(run, a_sick_gpu_is_probed_and_taken_out_of_the_rotation)
{
	static const char *const bad[] = { "case_002=7", NULL };
	struct run r;
	char *ds = mkcases_in("ds", 8, bad), *wd = cb_fmt("%s/wd", tmpdir), verdict[64], *c;
	char *toy = src_file("harness/toytrain"), *script, *body;

	body = cb_fmt("#!/bin/sh\n"
		      "if [ \"$CUDA_VISIBLE_DEVICES\" = 1 ]; then kill -SEGV $$; fi\n"
		      "exec '%s' \"$@\"\n", toy);
	script = write_file(tmpdir, "sick.sh", body);
	fake_two_gpus("FAKE_CUDA_PROBE_ILLEGAL");
	run(&r, "run", "--workdir", wd, "--gpus", "auto", "--prior", "none", ds, "--", "/bin/sh", script,
	    "--cases-file", "{cases_file}", "--files-file", "{files_file}");
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	cr_assert(strstr(r.out, "GPU 1 failed its health probe"), "%s", r.out);
	c = report_culprits(wd, verdict, sizeof(verdict));
	cr_assert_str_eq(c, "case_002");
	free(c);
	free(body);
	free(script);
	free(toy);
	free(wd);
	free(ds);
	run_release(&r);
}

/* The index of the first line of text that contains needle, or -1. */
static long line_with(const char *text, const char *needle)
{
	const char *at = strstr(text, needle), *p;
	long n = 0;

	if (!at)
		return -1;
	for (p = text; p < at; p++)
		n += *p == '\n';
	return n;
}

/* The probe of a sick GPU runs beside the other trials: while GPU 1's
 * probe hangs (it gives up after 20 s), the trial running on GPU 0 goes
 * on printing, is read, and is recorded as it ended, and the search goes
 * on there. Before, the probe blocked the loop: nothing was read for 20 s
 * and the healthy trial ended UNRESOLVED (stall). Asserted on the order of
 * the lines, not on times. */
Test(run, a_hung_gpu_probe_does_not_stop_the_other_gpu, .timeout = 240)
{
	static const char *const bad[] = { "case_002=7", NULL };
	struct run r;
	char *ds = mkcases_in("ds", 8, bad), *wd = cb_fmt("%s/wd", tmpdir), verdict[64], *c;
	char *toy = src_file("harness/toytrain"), *script, *body, *path, *slow, *want;
	long slow_at, probe_at, i;
	bool more = false;
	char *line;

	/* GPU 1's first trial crashes once a trial runs on GPU 0 beside it (each
	 * waits a little for the other): that one prints every 0.2 s for 3 s, so
	 * only a loop that stops reading it calls it a stall (--stall 5). No
	 * trial is silent for long. */
	body = cb_fmt("#!/bin/sh\n"
		      "D='%s'\n"
		      "if [ \"$CUDA_VISIBLE_DEVICES\" = 1 ]; then\n"
		      "  touch \"$D/g1\"; i=0\n"
		      "  while [ ! -e \"$D/g0\" ] && [ $i -lt 100 ]; do\n"
		      "    echo waiting; sleep 0.1; i=$((i+1))\n"
		      "  done\n"
		      "  kill -SEGV $$\n"
		      "fi\n"
		      "i=0\n"
		      "while [ ! -e \"$D/g1\" ] && [ $i -lt 10 ]; do\n"
		      "  echo waiting; sleep 0.1; i=$((i+1))\n"
		      "done\n"
		      "if [ -e \"$D/g1\" ] && mkdir \"$D/slow\" 2>/dev/null; then\n"
		      "  echo \"$CASEBISECT_TRIAL\" > \"$D/slow/trial\"; touch \"$D/g0\"\n"
		      "  for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do echo epoch $i; sleep 0.2; done\n"
		      "fi\n"
		      "exec '%s' \"$@\"\n", tmpdir, toy);
	script = write_file(tmpdir, "hang.sh", body);
	fake_two_gpus("FAKE_CUDA_PROBE_HANG");
	run(&r, "run", "--workdir", wd, "--gpus", "auto", "--prior", "none", "--stall", "5", ds,
	    "--", "/bin/sh", script, "--cases-file", "{cases_file}", "--files-file",
	    "{files_file}");
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	path = cb_fmt("%s/slow/trial", tmpdir);
	slow = cb_read_file(path, NULL);
	cr_assert(slow, "GPU 0 ran no trial beside GPU 1's\n%s", r.out);
	slow[strcspn(slow, "\n")] = '\0';
	want = cb_fmt("trial %s (", slow);
	/* its end, not its start ("trial 7 (search, 3 cases) started: ...") */
	for (i = 0, slow_at = -1; slow_at < 0 && i < (long)count_lines(r.out); i++) {
		char *l = line_at(r.out, (size_t)i);

		if (strstr(l, want) && !strstr(l, ") started: "))
			slow_at = i;
		free(l);
	}
	probe_at = line_with(r.out, "GPU 1 failed its health probe");
	cr_assert(slow_at >= 0 && probe_at >= 0, "%s", r.out);
	line = line_at(r.out, (size_t)slow_at);
	/* Recorded as it ended: the toy trainer on a subset passes or fails. */
	cr_assert(strstr(line, "): PASS (") || strstr(line, "): FAIL ("), "%s", r.out);
	cr_assert(!strstr(r.out, "(stall"), "%s", r.out);
	/* ... while the probe still ran, and the search went on meanwhile. */
	cr_assert_lt(slow_at, probe_at, "%s", r.out);
	for (i = slow_at + 1; i < probe_at && !more; i++) {
		char *l = line_at(r.out, (size_t)i);

		more = strstr(l, "] trial ") != NULL;
		free(l);
	}
	cr_assert(more, "no trial between trial %s's end and the probe's answer\n%s", slow, r.out);
	c = report_culprits(wd, verdict, sizeof(verdict));
	cr_assert_str_eq(c, "case_002");
	free(c);
	free(line);
	free(want);
	free(slow);
	free(path);
	free(body);
	free(script);
	free(toy);
	free(wd);
	free(ds);
	run_release(&r);
}

/* Ctrl-C: the running trial is ended, exit 5, and resume finishes it. */
Test(run, ctrl_c_exits_5_and_resume_finishes)
{
	static const char *const bad[] = { "case_003=7", NULL };
	struct run r;
	char *ds = mkcases_in("ds", 12, bad), *wd = cb_fmt("%s/wd", tmpdir);
	char *toy = src_file("harness/toytrain"), *out = cb_fmt("%s/out", tmpdir);
	char *err = cb_fmt("%s/err", tmpdir), *text, verdict[64], *c;
	int pid, i;

	pid = spawn_bg(out, err, "run", "--workdir", wd, "--gpus", "none", "--prior", "none", ds,
		       "--", toy, "--cases-file", "{cases_file}", "--files-file", "{files_file}",
		       "--step-ms", "40", NULL);
	for (i = 0; i < 600 && journal_lines(wd) < 3; i++)
		usleep(20 * 1000);
	kill(pid, SIGINT);
	cr_assert_eq(wait_exit(pid), 5);
	text = cb_read_file(err, NULL);
	cr_assert(text && strstr(text, "casebisect resume"), "%s", text);
	free(text);
	/* where trials run may change on resume: two at once from now on */
	run(&r, "resume", "--jobs", "2", wd);
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	c = report_culprits(wd, verdict, sizeof(verdict));
	cr_assert_str_eq(c, "case_003");
	{
		char *path = cb_fmt("%s/run.json", wd);
		cJSON *o = read_json(path), *opt = cJSON_GetObjectItem(o, "options");

		cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(opt, "jobs")), 2,
			     "run.json does not keep the new --jobs");
		cJSON_Delete(o);
		free(path);
	}
	free(c);
	run_release(&r);
	free(out);
	free(err);
	free(toy);
	free(wd);
	free(ds);
}

/* --json-events: every line of stdout is one JSON object with an "event";
 * the last is the verdict. */
Test(run, json_events_are_one_object_per_line)
{
	static const char *const bad[] = { "case_001=7", NULL };
	struct run r;
	char *ds = mkcases_in("ds", 6, bad), *wd = cb_fmt("%s/wd", tmpdir);
	char *toy = src_file("harness/toytrain"), *line = NULL;
	size_t i, n;
	cJSON *o;

	run(&r, "run", "--json-events", "--workdir", wd, "--gpus", "none", ds, "--", toy,
	    "--cases-file", "{cases_file}", "--files-file", "{files_file}");
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	n = count_lines(r.out);
	cr_assert(n > 4, "%s", r.out);
	for (i = 0; i < n; i++) {
		line = line_at(r.out, i);
		o = cJSON_Parse(line);
		cr_assert(o && cJSON_GetStringValue(cJSON_GetObjectItem(o, "event")), "line %zu: %s",
			  i, line);
		if (i == n - 1)
			cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "event")), "verdict");
		cJSON_Delete(o);
		free(line);
	}
	cr_assert(strstr(r.out, "\"trial_started\"") && strstr(r.out, "\"trial_finished\"") &&
		  strstr(r.out, "\"culprit\""), "%s", r.out);
	free(toy);
	free(wd);
	free(ds);
	run_release(&r);
}

/* Sets dataset.json's labels of the mkcases dataset at ds to {0, 1}: every
 * case holds a 2, which the audit then calls a crash. */
static void declare_two_labels(const char *ds)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); "
		 "d[\"labels\"]={\"background\":0,\"a\":1}; json.dump(d,open(p,\"w\"))' "
		 "'%s/dataset.json'", ds);
	cr_assert(system(cmd) == 0, "%s", cmd);
}

/* Without the audit the search still finds the culprits; with a wrong
 * prior (the audit blames every case, training needs 3 classes) too. */
Test(run, prior_none_and_a_wrong_prior_still_find_the_culprit)
{
	static const char *const bad[] = { "case_005=7", NULL };
	struct run r;
	char *ds = mkcases_in("ds", 8, bad), *wd = cb_fmt("%s/wd", tmpdir);
	char *wd2 = cb_fmt("%s/wd2", tmpdir), *toy = src_file("harness/toytrain"), verdict[64], *c;
	char *md;

	toy_run(&r, wd, "--prior", "none", ds);
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	cr_assert(!strstr(r.out, "audit:"), "--prior none ran the audit: %s", r.out);
	c = report_culprits(wd, verdict, sizeof(verdict));
	cr_assert_str_eq(c, "case_005");
	free(c);
	run_release(&r);

	declare_two_labels(ds);
	run(&r, "run", "--workdir", wd2, "--gpus", "none", ds, "--", toy, "--cases-file",
	    "{cases_file}", "--files-file", "{files_file}", "--classes", "3");
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	c = report_culprits(wd2, verdict, sizeof(verdict));
	cr_assert_str_eq(verdict, "culprits_found");
	cr_assert_str_eq(c, "case_005");
	{
		char *path = cb_fmt("%s/report.md", wd2);

		md = cb_read_file(path, NULL);
		free(path);
	}
	cr_assert(md && strstr(md, "The audit blamed 7 cases that training cleared"), "%s", md);
	assert_schema_valid(wd2);
	free(md);
	free(c);
	run_release(&r);
	free(toy);
	free(wd2);
	free(wd);
	free(ds);
}

/* Every case holds a label the network has no class for: a few cases
 * tried alone all crash and the audit blames most cases: dataset_wide,
 * without testing every case alone. */
Test(run, labels_wrong_in_every_case_are_dataset_wide)
{
	struct run r;
	char *ds = mkcases_in("ds", 12, NULL), *wd = cb_fmt("%s/wd", tmpdir);
	char *toy = src_file("harness/toytrain"), verdict[64], *c;

	declare_two_labels(ds);
	run(&r, "run", "--workdir", wd, "--gpus", "none", ds, "--", toy, "--cases-file",
	    "{cases_file}", "--files-file", "{files_file}", "--classes", "2");
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	c = report_culprits(wd, verdict, sizeof(verdict));
	cr_assert_str_eq(verdict, "dataset_wide");
	cr_assert(journal_lines(wd) < 12, "every case was tried alone: %zu trials",
		  journal_lines(wd));
	{
		size_t words = 1;
		const char *p;

		for (p = c; *p; p++)
			words += *p == ' ';
		cr_assert_eq(words, 3, "the cases tried alone: %s", c);
	}
	assert_schema_valid(wd);
	free(c);
	run_release(&r);
	free(toy);
	free(wd);
	free(ds);
}

/* Without the audit, the batch lines alone lead the search: the full run
 * names the first culprit, each failing remainder the next one, and each
 * runs alone: target, control, then two trials per culprit and the last
 * remainder, 2k + 2 trials in all (a binary search would need about 18). */
Test(run, batch_lines_name_each_culprit_in_turn)
{
	static const char *const bad[] = { "case_013=7", "case_042=7", NULL };
	struct run r;
	char *ds = mkcases_in("ds", 64, bad), *wd = cb_fmt("%s/wd", tmpdir), verdict[64], *c;

	toy_run(&r, wd, "--prior", "batch", ds);
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	c = report_culprits(wd, verdict, sizeof(verdict));
	cr_assert_str_eq(c, "case_013 case_042");
	cr_assert_eq(journal_lines(wd), 6, "%zu trials:\n%s", journal_lines(wd), r.out);
	free(c);
	run_release(&r);
	free(wd);
	free(ds);
}

/* A trainer that samples at random: here the toy trainer behind a wrapper
 * whose first trial of 63 cases passes without training (no bad voxel
 * sampled). With the batch prior that trial is the remainder after
 * case_013, still holding case_042. Without --flaky its one pass ends the
 * search with case_042 missing; with --flaky the remainder must pass 3
 * times, its second run fails, and both are found. Stopped after 4 trials
 * (the false pass) and resumed, the run keeps --flaky from run.json and
 * the journal replays the search exactly. */
Test(run, flaky_confirms_the_remainder_and_resume_keeps_it)
{
	static const char *const bad[] = { "case_013=7", "case_042=7", NULL };
	struct run r;
	char *ds = mkcases_in("ds", 64, bad), *toy = src_file("harness/toytrain"), verdict[64];
	char *script, *c, *wd, *once;
	cJSON *o;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		bool flaky = pass == 1;

		wd = cb_fmt("%s/wd%d", tmpdir, pass);
		once = cb_fmt("%s/passed-once%d", tmpdir, pass);
		script = cb_fmt("if [ \"$(grep -c . \"$1\")\" -eq 63 ] && mkdir '%s' 2>/dev/null; then "
				"echo 'no bad voxel sampled'; exit 0; fi; "
				"exec '%s' --cases-file \"$1\" --files-file \"$2\"", once, toy);
		if (flaky)
			run(&r, "run", "--workdir", wd, "--gpus", "none", "--prior", "batch", "--flaky",
			    "--max-trials", "4", ds, "--", "/bin/sh", "-c", script, "sh", "{cases_file}",
			    "{files_file}");
		else
			run(&r, "run", "--workdir", wd, "--gpus", "none", "--prior", "batch", ds, "--",
			    "/bin/sh", "-c", script, "sh", "{cases_file}", "{files_file}");
		cr_assert_eq(r.code, flaky ? 6 : 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
		if (flaky) {
			char *path = cb_fmt("%s/run.json", wd);

			o = read_json(path);
			cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "options"), "flaky")),
				  "run.json does not keep --flaky");
			cJSON_Delete(o);
			free(path);
			cr_assert_eq(journal_lines(wd), 4);
			run_release(&r);
			run(&r, "resume", wd);
			cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
			cr_assert(!strstr(r.out, "trial 4 "), "trial 4 ran again:\n%s", r.out);
		}
		c = report_culprits(wd, verdict, sizeof(verdict));
		cr_assert_str_eq(verdict, "culprits_found");
		/* target, control, case_013 alone, the remainder (false pass);
		 * then its second run fails, case_042 alone, the new remainder
		 * 3 times */
		cr_assert_str_eq(c, flaky ? "case_013 case_042" : "case_013", "%s", r.out);
		cr_assert_eq(journal_lines(wd), flaky ? 9 : 4, "%zu trials:\n%s", journal_lines(wd),
			     r.out);
		free(c);
		free(script);
		free(once);
		free(wd);
		run_release(&r);
	}
	free(toy);
	free(ds);
}

/* A duration beyond the maximum (30 days), a log size beyond 1G, a
 * pattern that does not compile: refused as usage errors before the work directory exists (the
 * "fix it and resume" hint of a failed run could not work for them). */
Test(run, bad_durations_and_patterns_are_refused_before_anything_is_made)
{
	static const char *const opts[][3] = {
		{ "--timeout", "1e23", "--timeout '1e23': at most 2592000 seconds (30 days)" },
		{ "--stall", "1e23", "--stall '1e23': at most" },
		{ "--pass-after", "1e23", "--pass-after '1e23': at most" },
		{ "--settle", "2592000.5", "--settle '2592000.5': at most" },
		{ "--grace", "1e308", "--grace '1e308': at most" },
		{ "--timeout", "abc", "--timeout 'abc': expected a duration such as 600 (seconds)" },
		{ "--deadline", "99999999h", "--deadline '99999999h': at most 30 days from now" },
		{ "--deadline", "721h", "--deadline '721h': at most 30 days" },
		{ "--pass-pattern", "(", "--pass-pattern '('" },
		{ "--batch-pattern", "(", "--batch-pattern '('" },
		{ "--batch-pattern", "no group", "it needs one group" },
		{ "--log-tail", "1000G", "--log-tail '1000G': at most 1G (1073741824 bytes)" },
		{ "--log-head", "2G", "--log-head '2G': at most 1G" },
	};
	struct run r;
	char *ds = mkcases_in("ds", 4, NULL), *wd = cb_fmt("%s/wd", tmpdir);
	char *toy = src_file("harness/toytrain"), *before = tree_snapshot(tmpdir), *after;
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(opts); i++) {
		run(&r, "run", "--workdir", wd, opts[i][0], opts[i][1], ds, "--", toy,
		    "--cases-file", "{cases_file}");
		assert_usage_error(&r);
		cr_assert(strstr(r.err, opts[i][2]), "no \"%s\" in:\n%s", opts[i][2], r.err);
		cr_assert(strstr(r.err, "casebisect help run"), "%s", r.err);
		run_release(&r);
		after = tree_snapshot(tmpdir);
		cr_assert_str_eq(after, before, "%s %s: something was made", opts[i][0], opts[i][1]);
		free(after);
	}
	/* resume's --deadline too, before it looks at WORKDIR */
	run(&r, "resume", "--deadline", "99999999h", wd);
	assert_usage_error(&r);
	cr_assert(strstr(r.err, "--deadline '99999999h': at most 30 days"), "%s", r.err);
	run_release(&r);
	/* the maximum itself is taken: this run gets as far as the dataset */
	run(&r, "run", "--workdir", wd, "--timeout", "2592000", "--deadline", "720h", "--stall",
	    "2592000", "no-such-dataset", "--", toy, "--cases-file", "{cases_file}");
	cr_assert_eq(r.code, 1, "exit %d\n%s", r.code, r.err);
	cr_assert(strstr(r.err, "no-such-dataset"), "%s", r.err);
	run_release(&r);
	free(before);
	free(toy);
	free(wd);
	free(ds);
}

/* A CASEBISECT_BATCH line that is not UTF-8 (a trainer printing raw bytes
 * of a file name): the suspects reach journal.jsonl and report.json as
 * valid UTF-8 (U+FFFD for each bad byte), so strict JSON readers read them. */
Test(run, a_batch_line_that_is_not_utf8_stays_valid_json)
{
	struct run r;
	char *ds = mkcases_in("ds", 4, NULL), *wd = cb_fmt("%s/wd", tmpdir);
	char *list = cb_fmt("%s/cases.txt", ds), *fake = src_file("harness/faketrain");
	char *log = corpus_file("030-pytorch-unet-375-nll-loss2d-asserts.txt");
	char *journal = cb_fmt("%s/journal.jsonl", wd), *report = cb_fmt("%s/report.json", wd);
	char *text, *batch = write_file(tmpdir, "batch.txt",
					 "CASEBISECT_BATCH case_\xff\xfe case_001\n");

	/* The bytes come from the trainer, not its command line (run.json must
	 * keep the command's bytes as they are). */
	run(&r, "run", "--workdir", wd, "--gpus", "none", "--settle", "0.2", "--grace", "1", list,
	    "--", fake, "--stdout-log", batch, "--log", log, "--exit", "1", "{cases_file}");
	cr_assert_eq(r.code, 4, "exit %d\n%s\n%s", r.code, r.out, r.err);
	assert_strict_json(journal, false);
	assert_strict_json(report, true);
	text = cb_read_file(journal, NULL);
	cr_assert(strstr(text, "\"suspects\":[\"case_\xef\xbf\xbd\xef\xbf\xbd\",\"case_001\"]"),
		  "%s", text);
	free(text);
	run_release(&r);
	free(batch);
	free(report);
	free(journal);
	free(log);
	free(fake);
	free(list);
	free(wd);
	free(ds);
}

/* Another casebisect holds the work directory: resume says so, and writes
 * nothing before the lock is ours (run.json keeps its bytes, --jobs 7
 * included). Two resumes at once: the one that loses gets the same
 * message, never a clash over run.json.tmp. */
Test(run, a_locked_work_directory_is_left_as_it_is)
{
	static const char *const bad[] = { "case_002=7", NULL };
	struct run r;
	char *ds = mkcases_in("ds", 8, bad), *wd = cb_fmt("%s/wd", tmpdir);
	char *run_json = cb_fmt("%s/run.json", wd);
	char *journal = cb_fmt("%s/journal.jsonl", wd), *before, *after;
	int fd, i;

	toy_run(&r, wd, "--max-trials", "1", ds);
	cr_assert_eq(r.code, 6, "exit %d\n%s\n%s", r.code, r.out, r.err);
	run_release(&r);

	fd = open(journal, O_RDONLY | O_CLOEXEC);
	cr_assert(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0, "cannot lock %s", journal);
	before = tree_snapshot(wd);
	run(&r, "resume", "--jobs", "7", wd);
	cr_assert_eq(r.code, 1, "exit %d\n%s\n%s", r.code, r.out, r.err);
	cr_assert(strstr(r.err, "in use by another casebisect"), "%s", r.err);
	after = tree_snapshot(wd);
	cr_assert_str_eq(after, before, "the work directory changed under the lock");
	free(after);
	free(before);
	run_release(&r);
	close(fd);

	for (i = 0; i < 4; i++) {
		char *out[2], *err[2], *text;
		int pid[2], code, k;

		for (k = 0; k < 2; k++) {
			out[k] = cb_fmt("%s/out%d", tmpdir, k);
			err[k] = cb_fmt("%s/err%d", tmpdir, k);
		}
		pid[0] = spawn_bg(out[0], err[0], "resume", "--jobs", "2", wd, (char *)NULL);
		pid[1] = spawn_bg(out[1], err[1], "resume", "--jobs", "3", wd, (char *)NULL);
		for (k = 0; k < 2; k++) {
			code = wait_exit(pid[k]);
			text = cb_read_file(err[k], NULL);
			cr_assert(code == 0 || (code == 1 && strstr(text, "in use by another casebisect")),
				  "resume %d: exit %d:\n%s", k, code, text);
			cr_assert(!strstr(text, "run.json.tmp"), "%s", text);
			free(text);
			free(out[k]);
			free(err[k]);
		}
	}
	free(journal);
	free(run_json);
	free(wd);
	free(ds);
}

/* A journal whose last line a crash tore: resume drops it and says so
 * (journal.h's promise), and the trial simply runs again. */
Test(run, resume_warns_of_a_torn_journal_line)
{
	static const char *const bad[] = { "case_002=7", NULL };
	struct run r;
	char *ds = mkcases_in("ds", 8, bad), *wd = cb_fmt("%s/wd", tmpdir);
	char *journal = cb_fmt("%s/journal.jsonl", wd);
	FILE *f;

	toy_run(&r, wd, "--max-trials", "1", ds);
	cr_assert_eq(r.code, 6, "exit %d\n%s\n%s", r.code, r.out, r.err);
	run_release(&r);
	f = fopen(journal, "a");
	cr_assert(f);
	fputs("{\"trial\":2,\"phase\":\"cont", f);
	cr_assert(fclose(f) == 0);

	run(&r, "resume", "--max-trials", "1", wd);
	cr_assert_eq(r.code, 6, "exit %d\n%s\n%s", r.code, r.out, r.err);
	cr_assert(strstr(r.out, "warning: ") &&
		  strstr(r.out, "journal.jsonl: line 2 is torn (a crash mid-write?): dropped"),
		  "no warning:\n%s", r.out);
	cr_assert_eq(journal_lines(wd), 1);
	assert_strict_json(journal, false);
	run_release(&r);
	free(journal);
	free(wd);
	free(ds);
}

/* Is any "*.tmp.*" file or ".bundle.*" folder left anywhere under dir? */
static bool half_written_left(const char *dir)
{
	char *cmd = cb_fmt("find '%s' -name '*.tmp.*' -o -name '.bundle.*' | grep -q .", dir);
	bool left = system(cmd) == 0;

	free(cmd);
	return left;
}

/* A run on a disk that fills up (a 1 MiB tmpfs, a filler file leaving
 * room for none, some or all of the trials, or not for the bundle): exit
 * 1, never a crash, a message naming the file with "No space left on
 * device", no trial left running, no path printed of a file that is not
 * there; with the filler gone, resume ends with the verdict and culprits
 * of an uninterrupted run, no finished trial run twice, nothing
 * half-written left. */
Test(run, a_full_disk_stops_the_run_cleanly_and_resume_finishes_it)
{
	static const char *const bad[] = { "case_006=7", "case_011=7", NULL };
	static const size_t room_kb[] = { 24, 124, 264, 344 };
	struct run r;
	char *ds, *ref, *wd, *filler, *toy, *out, *err, *cmd, verdict[64], v2[64], *c1, *c2;
	char marker[64], *text, *p;
	size_t i, n_ref;
	int pid, code;

	if (mount_tmpfs("mnt", "1m") < 0)
		cr_skip_test("cannot mount a tmpfs here (%s): the full-disk test needs root",
			     strerror(errno));
	ds = mkcases_in("ds", 16, bad);
	ref = cb_fmt("%s/ref", tmpdir);
	wd = cb_fmt("%s/mnt/wd", tmpdir);
	filler = cb_fmt("%s/mnt/filler", tmpdir);
	toy = src_file("harness/toytrain");
	out = cb_fmt("%s/out", tmpdir);
	err = cb_fmt("%s/err", tmpdir);
	run(&r, "run", "--workdir", ref, "--gpus", "none", "--prior", "none", ds, "--", toy,
	    "--cases-file", "{cases_file}", "--files-file", "{files_file}");
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	run_release(&r);
	n_ref = journal_lines(ref);
	c1 = report_culprits(ref, verdict, sizeof(verdict));

	for (i = 0; i < CB_ARRAY_SIZE(room_kb); i++) {
		cmd = cb_fmt("rm -rf '%s'", wd);
		cr_assert_eq(system(cmd), 0);
		free(cmd);
		fill_up(filler, room_kb[i] * 1024);
		pid = spawn_bg(out, err, "run", "--workdir", wd, "--gpus", "none", "--prior", "none",
			       ds, "--", toy, "--cases-file", "{cases_file}", "--files-file",
			       "{files_file}", NULL);
		code = wait_exit(pid); /* fails the test on a crash (abort: 134) */
		text = cb_read_file(err, NULL);
		cr_assert_eq(code, 1, "%zu KiB free: exit %d\n%s", room_kb[i], code, text);
		p = cb_fmt("casebisect: %s/", wd);
		cr_assert(strstr(text, p) && strstr(text, ": cannot write: No space left on device"),
			  "%zu KiB free: no message naming the file:\n%s", room_kb[i], text);
		cr_assert(strstr(text, "hint: free some space, then 'casebisect resume "),
			  "%zu KiB free: no hint:\n%s", room_kb[i], text);
		free(p);
		free(text);
		snprintf(marker, sizeof(marker), "CASEBISECT_SUPERVISOR=%d", pid);
		cr_assert_eq(process_with_env(marker), 0, "a trial was left running");
		text = cb_read_file(out, NULL);
		p = cb_fmt("%s/report.md", wd);
		cr_assert(!strstr(text, "report: ") || access(p, F_OK) == 0,
			  "the path of a report that is not there was printed:\n%s", text);
		free(p);
		p = cb_fmt("%s/bundle.tar.gz", wd);
		cr_assert(!strstr(text, "bundle: ") || access(p, F_OK) == 0,
			  "the path of a bundle that is not there was printed:\n%s", text);
		free(p);
		free(text);

		cr_assert_eq(unlink(filler), 0);
		run(&r, "resume", wd);
		cr_assert_eq(r.code, 0, "%zu KiB free, then resume: exit %d\n%s\n%s", room_kb[i],
			     r.code, r.out, r.err);
		c2 = report_culprits(wd, v2, sizeof(v2));
		cr_assert_str_eq(v2, verdict);
		cr_assert_str_eq(c2, c1);
		cr_assert_eq(journal_lines(wd), n_ref, "%zu KiB free: %zu trials, %zu without the "
			     "full disk", room_kb[i], journal_lines(wd), n_ref);
		cr_assert(!half_written_left(wd), "%zu KiB free: a half-written file is left",
			  room_kb[i]);
		free(c2);
		run_release(&r);
	}
	free(c1);
	free(out);
	free(err);
	free(toy);
	free(filler);
	free(wd);
	free(ref);
	free(ds);
}

/* report.md, then bundle.tar.gz, made unwritable (a folder in the way:
 * root ignores permission bits): resume exits 1 naming the file, and
 * prints the path of neither missing file. */
Test(run, a_report_or_bundle_that_cannot_be_written_exits_1_without_its_path)
{
	static const char *const bad[] = { "case_003=7", NULL };
	static const char *const names[] = { "report.md", "bundle.tar.gz" };
	struct run r;
	char *ds = mkcases_in("ds", 6, bad), *wd = cb_fmt("%s/wd", tmpdir);
	char *path, *sub, *want;
	size_t i;

	toy_run(&r, wd, ds);
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	cr_assert(strstr(r.out, "report: ") && strstr(r.out, "bundle: "), "%s", r.out);
	run_release(&r);
	for (i = 0; i < CB_ARRAY_SIZE(names); i++) {
		path = cb_fmt("%s/%s", wd, names[i]);
		sub = cb_fmt("%s/x", path);
		cr_assert_eq(unlink(path), 0);
		cr_assert_eq(mkdir(path, 0755), 0);
		cr_assert_eq(mkdir(sub, 0755), 0);

		run(&r, "resume", wd);
		cr_assert_eq(r.code, 1, "%s made unwritable: exit %d\n%s\n%s", names[i], r.code,
			     r.out, r.err);
		want = cb_fmt("casebisect: %s: cannot write: Is a directory", path);
		cr_assert(strstr(r.err, want), "no message naming %s:\n%s", names[i], r.err);
		cr_assert(strstr(r.out, "verdict: culprits_found"), "%s", r.out);
		if (i == 0)
			cr_assert(!strstr(r.out, "report: ") && !strstr(r.out, "bundle: "),
				  "a path was printed, the report was not written:\n%s", r.out);
		else
			cr_assert(strstr(r.out, "report: ") && !strstr(r.out, "bundle: "),
				  "only the report's path, not the bundle's:\n%s", r.out);
		run_release(&r);
		if (i == 0) {
			run(&r, "report", wd);
			cr_assert_eq(r.code, 1, "report: exit %d\n%s", r.code, r.out);
			cr_assert(strstr(r.err, want), "%s", r.err);
			run_release(&r);
		}
		cr_assert_eq(rmdir(sub), 0);
		cr_assert_eq(rmdir(path), 0);
		free(want);
		free(sub);
		free(path);
	}
	run(&r, "resume", wd);
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	cr_assert(strstr(r.out, "report: ") && strstr(r.out, "bundle: "), "%s", r.out);
	run_release(&r);
	free(wd);
	free(ds);
}

/* What a casebisect killed while writing leaves (a temporary beside
 * report.md, result.json or bundle.tar.gz, a half-built bundle folder)
 * is removed by resume; a file a live writer may be writing is kept. */
Test(run, resume_removes_the_half_written_files_a_kill_left)
{
	static const char *const bad[] = { "case_003=7", NULL };
	struct run r;
	char *ds = mkcases_in("ds", 6, bad), *wd = cb_fmt("%s/wd", tmpdir);
	char *cmd, *live;
	pid_t dead = fork();

	cr_assert(dead >= 0);
	if (!dead)
		_exit(0);
	cr_assert_eq(waitpid(dead, NULL, 0), dead);
	toy_run(&r, wd, ds);
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	run_release(&r);
	cmd = cb_fmt("cd '%s' && echo half >bundle.tar.gz.tmp.%d.0 && echo half >report.md.tmp.%d.1 "
		     "&& echo half >trials/0002/result.json.tmp.%d.2 && mkdir -p "
		     ".bundle.new.Ab12Cd/dataset && echo scan >.bundle.new.Ab12Cd/dataset/x.nii.gz "
		     "&& echo busy >wall.json.tmp.1.0", wd, (int)dead, (int)dead, (int)dead);
	cr_assert_eq(system(cmd), 0);
	free(cmd);

	run(&r, "resume", wd);
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	cr_assert(strstr(r.out, "removed 4 unfinished files"), "%s", r.out);
	live = cb_fmt("%s/wall.json.tmp.1.0", wd);
	cr_assert_eq(access(live, F_OK), 0, "the file of a live process (pid 1) was removed");
	cr_assert_eq(unlink(live), 0);
	cr_assert(!half_written_left(wd), "a half-written file is left");
	free(live);
	run_release(&r);
	free(wd);
	free(ds);
}

/* The subsets of WORKDIR's journal, one "phase outcome subset" a line, the
 * subset as IDs whichever form the line keeps it in (ids: the dataset's, in
 * order). The caller frees it. */
static char *journal_subsets(const char *workdir, char *const *ids)
{
	char *path = cb_fmt("%s/journal.jsonl", workdir), *text = cb_read_file(path, NULL), *line;
	char *out = xstrdup(""), *save = NULL;

	cr_assert(text, "%s: cannot read", path);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		cJSON *o = cJSON_Parse(line), *r = cJSON_GetObjectItem(o, "case_ranges"), *x;
		char *next = cb_fmt("%s%s %s:", out, cJSON_GetObjectItem(o, "phase")->valuestring,
				    cJSON_GetObjectItem(o, "outcome")->valuestring);

		free(out);
		out = next;
		if (r) {
			cJSON_ArrayForEach(x, r) {
				int c = cJSON_GetArrayItem(x, 0)->valueint;

				for (; c <= cJSON_GetArrayItem(x, 1)->valueint; c++) {
					next = cb_fmt("%s %s", out, ids[c]);
					free(out);
					out = next;
				}
			}
		} else {
			cJSON_ArrayForEach(x, cJSON_GetObjectItem(o, "cases")) {
				next = cb_fmt("%s %s", out, x->valuestring);
				free(out);
				out = next;
			}
		}
		next = cb_fmt("%s\n", out);
		free(out);
		out = next;
		cJSON_Delete(o);
	}
	free(text);
	free(path);
	return out;
}

/* A work directory from before case_ranges (every trial's case IDs in
 * "cases") still resumes: the trials it holds are not run again, the search
 * goes on exactly as a run without the break, and the new lines are
 * ranges. */
Test(run, a_journal_of_case_ids_from_an_older_casebisect_resumes)
{
	static const char *const bad[] = { "case_005=7", NULL };
	static char *const ids[] = { "case_000", "case_001", "case_002", "case_003",
				     "case_004", "case_005", "case_006", "case_007" };
	struct run r;
	char *ds = mkcases_in("ds", 8, bad), *wd = cb_fmt("%s/wd", tmpdir);
	char *whole = cb_fmt("%s/whole", tmpdir), *journal = cb_fmt("%s/journal.jsonl", wd);
	char *toy = src_file("harness/toytrain"), verdict[64], *culprits, *want, *got, *text;
	char *old = xstrdup(""), *line, *save = NULL;

	run(&r, "run", "--workdir", whole, "--gpus", "none", "--prior", "none", ds, "--", toy, "--cases-file",
	    "{cases_file}", "--files-file", "{files_file}");
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	want = journal_subsets(whole, ids);
	cr_assert_gt(journal_lines(whole), 6, "%s", want);
	run_release(&r);

	toy_run(&r, wd, "--prior", "none", "--max-trials", "4", ds);
	cr_assert_eq(r.code, 6, "exit %d\n%s\n%s", r.code, r.out, r.err);
	run_release(&r);
	/* the journal as an older casebisect wrote it */
	text = cb_read_file(journal, NULL);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		cJSON *o = cJSON_Parse(line), *r0 = cJSON_DetachItemFromObject(o, "case_ranges");
		cJSON *a = cJSON_CreateArray(), *x;
		char *s, *next;

		cr_assert(r0, "no case_ranges: %s", line);
		cJSON_ArrayForEach(x, r0) {
			int c = cJSON_GetArrayItem(x, 0)->valueint;

			for (; c <= cJSON_GetArrayItem(x, 1)->valueint; c++)
				cJSON_AddItemToArray(a, cJSON_CreateString(ids[c]));
		}
		cJSON_DeleteItemFromObject(o, "cases");
		cJSON_AddItemToObject(o, "cases", a);
		s = cJSON_PrintUnformatted(o);
		next = cb_fmt("%s%s\n", old, s);
		free(old);
		old = next;
		free(s);
		cJSON_Delete(r0);
		cJSON_Delete(o);
	}
	free(text);
	free(write_file(wd, "journal.jsonl", old));

	run(&r, "resume", wd);
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	cr_assert(strstr(r.out, "journal: 4 finished trials, not run again"), "%s", r.out);
	cr_assert(!strstr(r.out, "trial 1 (target"), "trial 1 ran again:\n%s", r.out);
	culprits = report_culprits(wd, verdict, sizeof(verdict));
	cr_assert_str_eq(verdict, "culprits_found");
	cr_assert_str_eq(culprits, "case_005");
	got = journal_subsets(wd, ids);
	cr_assert_str_eq(got, want, "the resumed search differs:\n%s\nfrom\n%s", got, want);
	text = cb_read_file(journal, NULL);
	cr_assert(strstr(text + strlen(old), "\"case_ranges\":"), "new lines: %s",
		  text + strlen(old));
	assert_strict_json(journal, false);
	free(text);
	free(got);
	free(want);
	free(culprits);
	free(old);
	free(toy);
	free(journal);
	free(whole);
	free(wd);
	free(ds);
	run_release(&r);
}

/* A large list dataset: the journal grows with the trials, not with cases
 * x trials (each line was every case ID of its trial: megabytes here). */
Test(run, a_large_run_keeps_a_small_journal)
{
	size_t n = 100000, i, len = 0;
	char *list = at("cases.txt"), *wd = at("wd"), *bad = at("bad.txt"), *train, *script;
	char *journal = cb_fmt("%s/journal.jsonl", wd), *text, verdict[64], *culprits;
	FILE *f = fopen(list, "w");
	struct run r;

	cr_assert(f);
	for (i = 0; i < n; i++)
		fprintf(f, "c%06zu\n", i);
	cr_assert(fclose(f) == 0);
	put("bad.txt", "c012345\nc077777\n");
	script = cb_fmt("#!/bin/sh\nif grep -qxFf '%s' \"$1\"; then\n"
			"  echo 'RuntimeError: CUDA error: device-side assert triggered' >&2; exit 1\n"
			"fi\necho CASEBISECT_PASS\n",
			bad);
	train = write_file(tmpdir, "train.sh", script);
	cr_assert(chmod(train, 0755) == 0);

	run(&r, "run", "--workdir", wd, "--gpus", "none", list, "--", train, "{cases_file}");
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	culprits = report_culprits(wd, verdict, sizeof(verdict));
	cr_assert_str_eq(culprits, "c012345 c077777");
	text = cb_read_file(journal, &len);
	cr_assert_gt(count_lines(text), 20);
	cr_assert_lt(len, 600 * count_lines(text), "journal.jsonl: %zu bytes for %zu trials", len,
		     count_lines(text));
	free(text);
	free(culprits);
	free(script);
	free(train);
	free(journal);
	free(bad);
	free(wd);
	free(list);
	run_release(&r);
}
