/* Tests of the supervisor: every trial ends, is classified, and leaves no
 * process behind, whatever the command does (harness/faketrain plays the
 * hostile trainer). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "casebisect/supervise.h"
#include "casebisect/util.h"
#include "helpers.h"

TestSuite(supervise, .init = tmpdir_setup, .fini = tmpdir_teardown);

/* harness/faketrain, built; the path stays valid for the test (static). */
static const char *faketrain(void)
{
	static char *path;

	if (!path)
		path = src_file("harness/faketrain");
	cr_assert(access(path, X_OK) == 0, "%s is not built (make harness/faketrain)", path);
	return path;
}

static const char *assert_log(void)
{
	static char *path;

	if (!path)
		path = corpus_file("030-pytorch-unet-375-nll-loss2d-asserts.txt");
	return path;
}

struct trials {
	struct sup_result r[16];
	size_t n;
};

static void on_done(void *ctx, const struct sup_result *r)
{
	struct trials *run = ctx;

	cr_assert(run->n < 16);
	run->r[run->n++] = *r;
}

static struct sup_options quick_options(void)
{
	struct sup_options o;
	struct sup_limits l = SUP_LIMITS_INIT;

	memset(&o, 0, sizeof(o));
	l.settle_s = 0.2;
	l.grace_s = 0.5;
	l.timeout_s = 60;
	o.limits = l;
	return o;
}

/* Runs argv as trial 1 under o, in tmpdir/trial; returns the result. */
static struct sup_result run_trial(const struct sup_options *o, const char *const *argv)
{
	struct trials run = { .n = 0 };
	struct sup_trial_spec spec = { 0 };
	char err[512], dir[4200];
	struct sup *s = sup_new(o, err, sizeof(err));

	cr_assert(s, "sup_new: %s", err);
	snprintf(dir, sizeof(dir), "%s/trial", tmpdir);
	mkdir(dir, 0755);
	spec.number = 1;
	spec.argv = argv;
	spec.trial_dir = dir;
	cr_assert(sup_start(s, &spec, on_done, &run, err, sizeof(err)) == 0, "sup_start: %s", err);
	sup_run(s);
	sup_free(s); /* dies when a libuv handle is left open */
	cr_assert(run.n == 1, "the done callback ran %zu times", run.n);
	return run.r[0];
}

/* Is pid still running (a zombie is not)? */
static bool running(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	char state = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		state = p[2];
	fclose(f);
	return state && state != 'Z';
}

/* Waits up to ms for every pid of the pidfile to be gone (no assertion). */
static void wait_all_gone(const char *pidfile, int ms)
{
	for (; ms > 0; ms -= 10) {
		FILE *f = fopen(pidfile, "r");
		char role[32];
		int pid;
		bool any = false;

		while (f && fscanf(f, "%31s %d", role, &pid) == 2)
			any = any || running(pid);
		if (f)
			fclose(f);
		if (!any)
			return;
		usleep(10000);
	}
}

/* Every pid the fake trainer wrote into its pidfile is gone. */
static void assert_all_gone(const char *pidfile, size_t expected)
{
	FILE *f = fopen(pidfile, "r");
	char role[32];
	int pid;
	size_t n = 0;

	cr_assert(f, "no pidfile %s", pidfile);
	while (fscanf(f, "%31s %d", role, &pid) == 2) {
		n++;
		cr_expect(!running(pid), "%s process %d is still running after the trial", role, pid);
		if (running(pid))
			kill(pid, SIGKILL);
	}
	fclose(f);
	cr_assert(n == expected, "pidfile lists %zu processes, expected %zu", n, expected);
}

Test(supervise, failure_then_hang_with_workers_and_setsid_daemon_leaves_nothing)
{
	struct sup_options o = quick_options();
	char pidfile[4200];
	struct sup_result r;

	snprintf(pidfile, sizeof(pidfile), "%s/pids", tmpdir);
	{
		const char *argv[] = { faketrain(), "--batch", "case_003 case_004", "--log", assert_log(),
				       "--workers", "3", "--daemon", "--ignore-term", "--hang",
				       "--pidfile", pidfile, NULL };

		r = run_trial(&o, argv);
	}
	cr_assert_eq(r.outcome, SUP_FAIL);
	cr_assert_eq(r.reason, SUP_R_FAILURE);
	cr_assert_str_eq(cls_class_name(r.sig.klass), "device_assert");
	cr_assert_str_eq(r.sig.kernel, "nll_loss2d_forward_kernel");
	cr_assert_str_eq(r.suspects, "case_003 case_004");
	cr_assert_eq(r.signal, SIGKILL, "SIGTERM was ignored, so SIGKILL ended it");
	cr_assert(r.signal_sent_by_us);
	cr_assert_geq(r.first_failure_s, 0);
	assert_all_gone(pidfile, 5);
}

Test(supervise, main_exits_while_its_workers_live_on)
{
	struct sup_options o = quick_options();
	char pidfile[4200];
	struct sup_result r;

	snprintf(pidfile, sizeof(pidfile), "%s/pids", tmpdir);
	{
		const char *argv[] = { faketrain(), "--workers", "2", "--daemon", "--pidfile", pidfile,
				       "--exit", "0", NULL };

		r = run_trial(&o, argv);
	}
	cr_assert_eq(r.outcome, SUP_PASS);
	cr_assert_eq(r.reason, SUP_R_EXIT_0);
	cr_assert_eq(r.exit_code, 0);
	cr_assert_eq(r.leftovers_killed, 0, "the workers died of SIGTERM, no SIGKILL needed");
	assert_all_gone(pidfile, 4);
}

/* A daemon that left the trial's group with setsid and exec'd with an
 * empty environment (`setsid env -i ...`) carries no marker of the trial;
 * casebisect, its parent once the middle process exited, ends it with the
 * trial. Before, it was not seen: it lived on, and the trial waited 10 s
 * past the grace for the pipes it held. */
static void cleared_env_daemon_ends_with_the_trial(void)
{
	struct sup_options o = quick_options();
	char pidfile[4200];
	struct sup_result r;

	snprintf(pidfile, sizeof(pidfile), "%s/pids", tmpdir);
	{
		const char *argv[] = { faketrain(), "--workers", "1", "--daemon-clear-env",
				       "--ignore-term", "--pidfile", pidfile, "--exit", "0", NULL };

		r = run_trial(&o, argv);
	}
	cr_assert_eq(r.outcome, SUP_PASS);
	cr_assert_eq(r.reason, SUP_R_EXIT_0);
	cr_assert_lt(r.duration_s, 5, "%.1f s: the trial waited for the pipes the daemon held",
		     r.duration_s);
	cr_assert_eq(r.leftovers_killed, 2, "the worker and the daemon ignored SIGTERM");
	assert_all_gone(pidfile, 3);
}

Test(supervise, a_daemon_with_a_cleared_environment_ends_with_the_trial)
{
	cleared_env_daemon_ends_with_the_trial();
}

/* A setsid daemon with workers of its own: while the daemon lives they are
 * neither in the trial's group nor children of casebisect, only below the
 * daemon. Nothing ignores SIGTERM, so all five end by the SIGTERM of the
 * first look; a look that saw only the trial's group and casebisect's own
 * children would reach the daemon's workers only once the daemon had died
 * and they came back to casebisect, and SIGKILL them after the grace. */
static void daemon_workers_end_with_the_sigterm(void)
{
	struct sup_options o = quick_options();
	char pidfile[4200];
	struct sup_result r;

	snprintf(pidfile, sizeof(pidfile), "%s/pids", tmpdir);
	{
		const char *argv[] = { faketrain(), "--workers", "1", "--daemon-workers", "2",
				       "--pidfile", pidfile, "--exit", "0", NULL };

		r = run_trial(&o, argv);
	}
	cr_assert_eq(r.outcome, SUP_PASS);
	cr_assert_eq(r.reason, SUP_R_EXIT_0);
	cr_assert_eq(r.leftovers_killed, 0,
		     "%d processes needed SIGKILL: the daemon's workers missed the SIGTERM",
		     r.leftovers_killed);
	cr_assert_lt(r.duration_s, 5, "%.1f s", r.duration_s);
	assert_all_gone(pidfile, 5);
}

Test(supervise, workers_of_a_setsid_daemon_end_with_the_trial)
{
	daemon_workers_end_with_the_sigterm();
}

/* On a kernel without /proc/PID/task/TID/children a look scans all of
 * /proc; SUP_FULL_SCAN_ENV makes it do so here, and the escapes above end
 * just as well. (Each Criterion test runs in a process of its own.) */
Test(supervise, the_full_proc_scan_fallback_ends_the_same_escapes)
{
	cr_assert(setenv(SUP_FULL_SCAN_ENV, "1", 1) == 0);
	daemon_workers_end_with_the_sigterm();
	cleared_env_daemon_ends_with_the_trial();
	unsetenv(SUP_FULL_SCAN_ENV);
}

/* Does a process outside casebisect's tree that carries trial 1's markers
 * outlive trial 1? The supervisor runs in a child S of this test; the
 * outsider O is another child of the test, so not below S, exec'd with
 * S's markers, as a service asked by the trainer to start something would
 * do. full_scan: with SUP_FULL_SCAN_ENV in S. */
static bool outsider_with_markers_survives(bool full_scan)
{
	int go[2], status;
	pid_t sup, outsider;
	bool alive;
	char c = 0;

	cr_assert(pipe(go) == 0);
	sup = fork();
	cr_assert(sup >= 0);
	if (sup == 0) {
		const char *argv[] = { faketrain(), "--exit", "0", NULL };
		struct sup_options o = quick_options();
		struct sup_trial_spec spec = { 0 };
		struct trials run = { .n = 0 };
		char err[512], dir[4200];
		struct sup *s;

		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		if (full_scan)
			setenv(SUP_FULL_SCAN_ENV, "1", 1);
		snprintf(dir, sizeof(dir), "%s/trial", tmpdir);
		mkdir(dir, 0755);
		spec.number = 1;
		spec.argv = argv;
		spec.trial_dir = dir;
		if (!(s = sup_new(&o, err, sizeof(err))) ||
		    sup_start(s, &spec, on_done, &run, err, sizeof(err)))
			_exit(3);
		sup_run(s);
		sup_free(s);
		_exit(run.n == 1 && run.r[0].outcome == SUP_PASS ? 0 : 4);
	}
	close(go[0]);
	outsider = fork();
	cr_assert(outsider >= 0);
	if (outsider == 0) {
		char tm[64], sm[64];
		char *const args[] = { (char *)faketrain(), "--hang", NULL };
		char *const env[] = { tm, sm, NULL };

		snprintf(tm, sizeof(tm), "CASEBISECT_TRIAL=1");
		snprintf(sm, sizeof(sm), "CASEBISECT_SUPERVISOR=%d", (int)sup);
		execve(args[0], args, env);
		_exit(127);
	}
	{
		/* the trial starts once the outsider carries the markers */
		char path[64], buf[4096];
		int i;

		snprintf(path, sizeof(path), "/proc/%d/environ", (int)outsider);
		for (i = 0; i < 500; i++) {
			FILE *f = fopen(path, "r");
			size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

			if (f)
				fclose(f);
			buf[n] = '\0';
			if (!strcmp(buf, "CASEBISECT_TRIAL=1"))
				break;
			usleep(10000);
		}
		cr_assert_lt(i, 500, "the outsider did not start");
	}
	cr_assert(write(go[1], &c, 1) == 1);
	close(go[1]);
	while (waitpid(sup, &status, 0) < 0 && errno == EINTR)
		;
	alive = running(outsider);
	kill(outsider, SIGKILL);
	while (waitpid(outsider, NULL, 0) < 0 && errno == EINTR)
		;
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the supervisor: status %#x",
		  status);
	return alive;
}

/* A look walks casebisect's own descendants, so a process outside its tree
 * is not a trial's even with the trial's markers: only a service the
 * trainer asked could have started it (README: What casebisect guarantees).
 * The full scan, the fallback, still ends it. */
Test(supervise, a_process_outside_our_tree_with_the_markers_is_left_alone)
{
	cr_assert(outsider_with_markers_survives(false),
		  "the walk ended a process outside casebisect's tree");
	cr_assert(!outsider_with_markers_survives(true),
		  "the full scan did not end the process with the trial's markers");
}

struct two_trials {
	struct trials run;
	const char *other_pidfile; /* trial 2's */
	bool others_alive;         /* when trial 1 was done, trial 2's processes ran */
};

static bool all_running(const char *pidfile, size_t expected)
{
	FILE *f = fopen(pidfile, "r");
	char role[32];
	int pid;
	size_t n = 0;
	bool all = true;

	if (!f)
		return false;
	while (fscanf(f, "%31s %d", role, &pid) == 2) {
		n++;
		all = all && running(pid);
	}
	fclose(f);
	return all && n == expected;
}

static void on_done_two(void *ctx, const struct sup_result *r)
{
	struct two_trials *two = ctx;

	if (r->number == 1)
		two->others_alive = all_running(two->other_pidfile, 2);
	on_done(&two->run, r);
}

/* Ending trial 1's hidden daemon leaves trial 2, which runs at the same
 * time, alone: its main process and its own setsid daemon (which has the
 * trial's markers) are children of casebisect too. */
Test(supervise, adopted_orphans_of_another_running_trial_are_left_alone)
{
	struct sup_options o = quick_options();
	struct two_trials two = { .run = { .n = 0 } };
	char err[512], dirs[2][4200], pidfiles[2][4300];
	struct sup *s;
	size_t i;

	o.jobs = 2;
	s = sup_new(&o, err, sizeof(err));
	cr_assert(s, "%s", err);
	for (i = 0; i < 2; i++) {
		snprintf(dirs[i], sizeof(dirs[i]), "%.4000s/t%zu", tmpdir, i + 1);
		snprintf(pidfiles[i], sizeof(pidfiles[i]), "%.4000s/pids%zu", tmpdir, i + 1);
		mkdir(dirs[i], 0755);
	}
	two.other_pidfile = pidfiles[1];
	{
		const char *hides[] = { faketrain(), "--daemon-clear-env", "--pidfile", pidfiles[0],
					"--delay", "300", "--exit", "0", NULL };
		const char *runs_on[] = { faketrain(), "--daemon", "--pidfile", pidfiles[1],
					  "--sleep", "1500", "--exit", "0", NULL };
		struct sup_trial_spec spec = { 0 };

		spec.number = 1;
		spec.argv = hides;
		spec.trial_dir = dirs[0];
		cr_assert(sup_start(s, &spec, on_done_two, &two, err, sizeof(err)) == 0, "%s", err);
		spec.number = 2;
		spec.argv = runs_on;
		spec.trial_dir = dirs[1];
		cr_assert(sup_start(s, &spec, on_done_two, &two, err, sizeof(err)) == 0, "%s", err);
		sup_run(s);
	}
	sup_free(s);
	cr_assert_eq(two.run.n, 2);
	cr_assert_eq(two.run.r[0].number, 1, "trial 1 ended first");
	cr_assert(two.others_alive, "trial 2's processes were ended with trial 1");
	for (i = 0; i < 2; i++) {
		cr_assert_eq(two.run.r[i].outcome, SUP_PASS, "trial %zu", i + 1);
		cr_assert_lt(two.run.r[i].duration_s, 5, "trial %zu", i + 1);
	}
	assert_all_gone(pidfiles[0], 2);
	assert_all_gone(pidfiles[1], 2);
}

static size_t lines_in(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;
	int c;

	if (!f)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* A fatal error of casebisect itself (die(): out of memory, say) ends the
 * running trial first, workers and escaped daemon included, SIGTERM
 * ignored or not: before, they ran on after casebisect was gone. */
Test(supervise, a_fatal_error_ends_the_running_trials_first)
{
	char pidfile[4200], dir[4200];
	int status;
	pid_t child;

	snprintf(pidfile, sizeof(pidfile), "%s/pids", tmpdir);
	snprintf(dir, sizeof(dir), "%s/trial", tmpdir);
	mkdir(dir, 0755);
	child = fork();
	cr_assert(child >= 0);
	if (child == 0) {
		const char *argv[] = { faketrain(), "--workers", "2", "--daemon", "--ignore-term",
				       "--pidfile", pidfile, "--hang", NULL };
		struct sup_options o = quick_options();
		struct sup_trial_spec spec = { 0 };
		struct trials run = { .n = 0 };
		char err[512];
		struct sup *s = sup_new(&o, err, sizeof(err));
		int i;

		spec.number = 1;
		spec.argv = argv;
		spec.trial_dir = dir;
		if (!s || sup_start(s, &spec, on_done, &run, err, sizeof(err)))
			_exit(3);
		for (i = 0; i < 1000 && lines_in(pidfile) < 4; i++) {
			sup_interrupted(s); /* runs the loop once */
			usleep(10000);
		}
		die("out of memory allocating 1073741824000 bytes (a test)");
	}
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %#x", status);
	/* die() sends SIGKILL and exits at once, without reaping: on a busy
	 * machine a killed process may not have run its death yet. */
	wait_all_gone(pidfile, 2000);
	assert_all_gone(pidfile, 4);
}

Test(supervise, segfault_without_output_and_exit_codes)
{
	struct sup_options o = quick_options();
	struct sup_result r;
	const char *segv[] = { faketrain(), "--signal", "SEGV", NULL };
	const char *code3[] = { faketrain(), "--exit", "3", NULL };

	r = run_trial(&o, segv);
	cr_assert_eq(r.outcome, SUP_FAIL, "no target: any failure is FAIL");
	cr_assert_str_eq(cls_class_name(r.sig.klass), "segfault");
	cr_assert_eq(r.signal, SIGSEGV);
	cr_assert(!r.signal_sent_by_us);

	r = run_trial(&o, code3);
	cr_assert_str_eq(cls_class_name(r.sig.klass), "other_error");
	cr_assert_eq(r.exit_code, 3);
}

Test(supervise, timeout_stall_pass_marker_and_pass_after)
{
	struct sup_options o = quick_options();
	struct sup_result r;
	const char *hang[] = { faketrain(), "--hang", NULL };
	const char *pass[] = { faketrain(), "--pass", "--hang", NULL };

	o.limits.timeout_s = 0.5;
	r = run_trial(&o, hang);
	cr_assert_eq(r.outcome, SUP_UNRESOLVED);
	cr_assert_eq(r.reason, SUP_R_TIMEOUT);

	o.limits.timeout_s = 30;
	o.limits.stall_s = 0.5;
	r = run_trial(&o, hang);
	cr_assert_eq(r.reason, SUP_R_STALL);

	o.limits.stall_s = 0;
	r = run_trial(&o, pass);
	cr_assert_eq(r.outcome, SUP_PASS);
	cr_assert_eq(r.reason, SUP_R_PASS_MARKER);
	cr_assert_eq(r.sig.klass, CLS_NONE, "our SIGTERM is not evidence");
	cr_assert(r.signal_sent_by_us);

	o.limits.pass_after_s = 0.3;
	r = run_trial(&o, hang);
	cr_assert_eq(r.outcome, SUP_PASS);
	cr_assert_eq(r.reason, SUP_R_PASS_AFTER);
}

/* Runs faketrain printing text to stdout or stderr (stream: "--stdout-log" or
 * "--log"), then exiting 1 or hanging until the trial ends it. */
static struct sup_result trial_printing(const struct sup_options *o, const char *stream,
					const char *text, bool hang)
{
	char *log;
	struct sup_result r;

	put("out.log", text);
	log = at("out.log");
	{
		const char *exit1[] = { faketrain(), stream, log, "--exit", "1", NULL };
		const char *hangs[] = { faketrain(), stream, log, "--hang", NULL };

		r = run_trial(o, hang ? hangs : exit1);
	}
	free(log);
	return r;
}

Test(supervise, pass_and_batch_patterns)
{
	struct sup_options o = quick_options();
	struct sup_result r;

	o.batch_pattern = "cases=\\[([^]]*)\\]";
	r = trial_printing(&o, "--log", "step 1 cases=[a_01,a_02]\nstep 2 cases=[b_07]\n"
			   "RuntimeError: CUDA error: device-side assert triggered\n", false);
	cr_assert_str_eq(r.suspects, "b_07");

	o.batch_pattern = NULL;
	o.pass_pattern = "^Epoch time: [0-9.]+ s$";
	r = trial_printing(&o, "--stdout-log", "Epoch 0\nEpoch time: 61.97 s\n", true);
	cr_assert_eq(r.reason, SUP_R_PASS_PATTERN);
}

/* A line that only mentions the markers inside another name is neither a pass
 * nor a batch: the probe's usage error names CASEBISECT_PASSES, and a trainer
 * may echo CASEBISECT_BATCH_SIZE. A logger's prefix before a marker is fine. */
Test(supervise, markers_are_whole_words)
{
	struct sup_options o = quick_options();
	struct sup_result r;

	r = trial_printing(&o, "--stdout-log", "[INFO] CASEBISECT_BATCH case_01 case_02\n"
			   "CASEBISECT_BATCH_SIZE=4\n"
			   "casebisect probe: CASEBISECT_PASSES='0': expected a whole number from 1\n",
			   false);
	cr_assert_eq(r.outcome, SUP_FAIL, "a mention of CASEBISECT_PASSES is not the pass marker");
	cr_assert_str_eq(cls_class_name(r.sig.klass), "other_error");
	cr_assert_str_eq(r.suspects, "case_01 case_02", "a failure known by its exit names the batch");

	r = trial_printing(&o, "--stdout-log", "2026-12-06 03:07:01 INFO CASEBISECT_PASS\n", true);
	cr_assert_eq(r.outcome, SUP_PASS);
	cr_assert_eq(r.reason, SUP_R_PASS_MARKER);
}

Test(supervise, bad_patterns_are_refused)
{
	struct sup_options o = quick_options();
	char err[512];

	o.pass_pattern = "([";
	cr_assert_null(sup_new(&o, err, sizeof(err)));
	cr_assert(strstr(err, "--pass-pattern"), "%s", err);
	o.pass_pattern = NULL;
	o.batch_pattern = "no group here";
	cr_assert_null(sup_new(&o, err, sizeof(err)));
	cr_assert(strstr(err, "group"), "%s", err);
}

Test(supervise, target_signature_decides_fail)
{
	struct sup_options o = quick_options();
	struct cls_signature target;
	struct sup_result r;
	struct cls *c = cls_new();
	static const char oom[] = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB\n";
	const char *argv[] = { faketrain(), "--log", assert_log(), "--exit", "1", NULL };

	cls_feed(c, CLS_STDERR, oom, sizeof(oom) - 1);
	cls_finish(c, NULL);
	cls_result(c, &target);
	cls_free(c);
	o.target = &target;
	o.match = CLS_MATCH_CLASS;
	r = run_trial(&o, argv);
	cr_assert_eq(r.outcome, SUP_UNRESOLVED, "a device assert is not the oom we look for");
	cr_assert_eq(r.reason, SUP_R_OTHER_FAILURE);
}

/* 8 slots run 8 trials at once, each with its own device and environment. */
Test(supervise, eight_slots_eight_trials_with_their_gpus_and_environment)
{
	static const int gpus[] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	static const char *const extra[] = { "MY_VAR=1", "PYTHONUNBUFFERED=0", NULL };
	struct sup_options o = quick_options();
	struct trials run = { .n = 0 };
	char err[512], dirs[9][4200], dumps[9][4300];
	struct sup *s;
	size_t i;
	bool seen[8] = { 0 };

	setenv("CUDA_LAUNCH_BLOCKING", "0", 1);
	o.gpus = gpus;
	o.ngpus = 8;
	o.env = extra;
	s = sup_new(&o, err, sizeof(err));
	cr_assert(s, "%s", err);
	cr_assert_eq(sup_free_slots(s), 8);
	for (i = 0; i < 8; i++) {
		struct sup_trial_spec spec = { 0 };

		snprintf(dirs[i], sizeof(dirs[i]), "%.4000s/t%zu", tmpdir, i);
		snprintf(dumps[i], sizeof(dumps[i]), "%.4000s/t%zu/env", tmpdir, i);
		mkdir(dirs[i], 0755);
		{
			const char *argv[] = { faketrain(), "--env-dump", dumps[i], "--sleep", "500", NULL };

			spec.number = i + 1;
			spec.argv = argv;
			spec.trial_dir = dirs[i];
			cr_assert(sup_start(s, &spec, on_done, &run, err, sizeof(err)) == 0, "%s", err);
		}
	}
	cr_assert_eq(sup_free_slots(s), 0, "all 8 run at once");
	{
		struct sup_trial_spec spec = { .number = 9, .trial_dir = tmpdir };
		const char *argv[] = { faketrain(), NULL };

		spec.argv = argv;
		cr_assert_neq(sup_start(s, &spec, on_done, &run, err, sizeof(err)), 0,
			      "a ninth trial finds no slot");
	}
	sup_run(s);
	sup_free(s);
	cr_assert_eq(run.n, 8);
	for (i = 0; i < 8; i++) {
		char *dev = dump_value(dumps[i], "CUDA_VISIBLE_DEVICES");
		char *trial = dump_value(dumps[i], "CASEBISECT_TRIAL");
		char *blocking = dump_value(dumps[i], "CUDA_LAUNCH_BLOCKING");
		char *unbuf = dump_value(dumps[i], "PYTHONUNBUFFERED");
		char *mine = dump_value(dumps[i], "MY_VAR");
		char *dsa = dump_value(dumps[i], "TORCH_USE_CUDA_DSA");
		char *fh = dump_value(dumps[i], "PYTHONFAULTHANDLER");
		char *comp = dump_value(dumps[i], "nnUNet_compile");
		char want[32];
		int d;

		cr_assert(dev, "no CUDA_VISIBLE_DEVICES in trial %zu", i + 1);
		d = atoi(dev);
		cr_assert(d >= 0 && d < 8 && !seen[d], "device %s given twice", dev);
		seen[d] = true;
		snprintf(want, sizeof(want), "%zu", i + 1);
		cr_assert_str_eq(trial, want);
		cr_assert_str_eq(blocking, "1", "CUDA_LAUNCH_BLOCKING=1 overrides the caller's 0");
		cr_assert_str_eq(unbuf, "0", "--env overrides casebisect's own");
		cr_assert_str_eq(mine, "1");
		cr_assert_str_eq(dsa, "1");
		cr_assert_str_eq(fh, "1");
		cr_assert_str_eq(comp, "f");
		free(dev); free(trial); free(blocking); free(unbuf); free(mine); free(dsa); free(fh); free(comp);
	}
}

Test(supervise, no_blocking_drops_cuda_launch_blocking_and_cwd_is_used)
{
	struct sup_options o = quick_options();
	char dump[4200], cwd_dump[4200], *v, *cwd;
	const char *argv[] = { faketrain(), "--env-dump", dump, "--cwd-dump", cwd_dump, NULL };

	snprintf(dump, sizeof(dump), "%s/env", tmpdir);
	snprintf(cwd_dump, sizeof(cwd_dump), "%s/cwd", tmpdir);
	setenv("CUDA_LAUNCH_BLOCKING", "1", 1);
	o.no_blocking = true;
	o.cwd = tmpdir;
	run_trial(&o, argv);
	v = dump_value(dump, "CUDA_LAUNCH_BLOCKING");
	cr_assert_null(v, "CUDA_LAUNCH_BLOCKING=%s is still set", v);
	v = dump_value(dump, "CUDA_VISIBLE_DEVICES");
	cr_assert_null(v, "no GPU slots: the user's CUDA_VISIBLE_DEVICES is left alone");
	cwd = cb_read_file(cwd_dump, NULL);
	cr_assert(cwd);
	cr_assert(strstr(cwd, tmpdir), "ran in %s, expected %s", cwd, tmpdir);
	free(cwd);
}

/* A trainer started from a script inherits SIGINT ignored; the trial must
 * not: dispositions and mask are reset. */
Test(supervise, signal_dispositions_and_mask_are_reset)
{
	struct sup_options o = quick_options();
	char dump[4200], *text;
	sigset_t set;
	unsigned long long ign, blk, glibc_reserved = 3ULL << 31;
	const char *argv[] = { faketrain(), "--status-dump", dump, NULL };

	snprintf(dump, sizeof(dump), "%s/status", tmpdir);
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGRTMIN + 2, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	run_trial(&o, argv);
	text = cb_read_file(dump, NULL);
	cr_assert(text);
	ign = strtoull(strstr(text, "SigIgn:") + 7, NULL, 16);
	blk = strtoull(strstr(text, "SigBlk:") + 7, NULL, 16);
	free(text);
	/* Signals 32 and 33 (bits 31, 32) are glibc's own (thread cancellation,
	 * setxid): no program can set or reset them through libc. */
	cr_assert_eq(ign & ~glibc_reserved, 0, "signals still ignored: %016llx", ign);
	cr_assert_eq(blk & ~glibc_reserved, 0, "signals still blocked: %016llx", blk);
}

Test(supervise, command_not_found_is_a_configuration_error)
{
	struct sup_options o = quick_options();
	const char *argv[] = { "/nonexistent/trainer", NULL };
	struct sup_result r = run_trial(&o, argv);

	cr_assert_eq(r.reason, SUP_R_NOT_FOUND);
	cr_assert(strstr(r.error, "/nonexistent/trainer"), "%s", r.error);
}

/* The trial directory on a full disk (a small tmpfs): with no room at all
 * sup_start() refuses, naming command.txt; with room for the trial's
 * small files but not its output, the trial is ended at once (not after
 * its 30 s sleep) as UNRESOLVED, write_error, naming the file. */
Test(supervise, a_full_disk_ends_the_trial_naming_the_file)
{
	struct sup_options o = quick_options();
	const char *argv[] = { "/bin/sh", "-c", "echo out; echo err >&2; exec sleep 30", NULL };
	struct trials run = { .n = 0 };
	struct sup_trial_spec spec = { .number = 1, .argv = argv };
	char err[4400], *dir, *filler, *want;
	struct sup *s;
	struct sup_result r;

	if (mount_tmpfs("trial", "64k") < 0)
		cr_skip_test("cannot mount a tmpfs here (%s): the full-disk test needs root",
			     strerror(errno));
	dir = at("trial");
	filler = cb_path_join(dir, "filler");
	fill_up(filler, 0);
	s = sup_new(&o, err, sizeof(err));
	cr_assert(s, "%s", err);
	spec.trial_dir = dir;
	cr_assert_eq(sup_start(s, &spec, on_done, &run, err, sizeof(err)), -1);
	want = cb_fmt("%s/command.txt: cannot write: No space left on device", dir);
	cr_assert_str_eq(err, want);
	free(want);
	sup_free(s);
	cr_assert_eq(run.n, 0);

	/* room for command.txt, env.txt and pgid (a 4 KiB page each) */
	fill_up(filler, 3 * 4096);
	r = run_trial(&o, argv);
	cr_assert_eq(r.outcome, SUP_UNRESOLVED);
	cr_assert_str_eq(sup_reason_name(r.reason), "write_error");
	want = cb_fmt("%s/", dir);
	cr_assert(strstr(r.error, want) && strstr(r.error, ": cannot write: No space left on device"),
		  "%s", r.error);
	cr_assert_lt(r.duration_s, 10, "the trial was not ended: %.1f s", r.duration_s);
	free(want);
	free(filler);
	free(dir);
}

Test(supervise, flood_of_stderr_is_capped_and_memory_stays_small)
{
	struct sup_options o = quick_options();
	struct sup_result r;
	struct stat st;
	struct rusage ru;
#if defined(__SANITIZE_ADDRESS__)
	const char *flood = "256M"; /* ASan: slower, and RSS means nothing */
#else
	const char *flood = "1G";
#endif
	const char *argv[] = { faketrain(), "--flood", flood, NULL };

	o.limits.log_head = 1 << 20;
	o.limits.log_tail = 4 << 20;
	r = run_trial(&o, argv);
	cr_assert_eq(r.outcome, SUP_PASS);
	cr_assert(stat(r.stderr_log, &st) == 0);
	cr_assert_leq((size_t)st.st_size, (size_t)(5 << 20) + 200, "stderr.log is %lld bytes",
		      (long long)st.st_size);
	cr_assert_geq((size_t)st.st_size, (size_t)(5 << 20), "head and tail are both kept");
	{
		char *log = cb_read_file(r.stderr_log, NULL);

		cr_assert(strstr(log, "bytes cut here"), "the cut is marked");
		free(log);
	}
#if !defined(__SANITIZE_ADDRESS__)
	getrusage(RUSAGE_SELF, &ru);
	cr_assert_lt(ru.ru_maxrss, 64 * 1024, "peak RSS %ld KiB for a 1 GB flood", ru.ru_maxrss);
#else
	(void)ru;
#endif
}

Test(supervise, placeholders_are_replaced_inside_arguments)
{
	static const char *const argv[] = { "train", "--cases={cases_file}", "{n}", "{trial_dir}/x",
					    "{unknown}", "a{files_file}b", NULL };
	struct sup_placeholders ph = { .trial_dir = "/w/trials/0001", .cases_file = "/w/cases.txt",
				       .files_file = "/w/files.txt", .n = "12" };
	char err[256];
	char **out = sup_expand_argv(argv, &ph, err, sizeof(err));

	cr_assert(out, "%s", err);
	cr_assert_str_eq(out[1], "--cases=/w/cases.txt");
	cr_assert_str_eq(out[2], "12");
	cr_assert_str_eq(out[3], "/w/trials/0001/x");
	cr_assert_str_eq(out[4], "{unknown}", "other braces are the user's");
	cr_assert_str_eq(out[5], "a/w/files.txtb");
	cr_assert_null(out[6]);
	sup_argv_free(out);
	{
		static const char *const v[] = { "train", "{view}", NULL };

		cr_assert_null(sup_expand_argv(v, &ph, err, sizeof(err)));
		cr_assert(strstr(err, "{view}"), "%s", err);
	}
}
