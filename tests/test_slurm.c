/* test_slurm: `--launcher slurm` against a real single-node Slurm cluster
 * (munged, slurmctld and slurmd from Debian's slurm-wlm and munge) that
 * each test brings up in its own folder with tests/fixtures/slurm-up.sh and
 * takes down by PID at the end, failed or not: suite "slurm", run by
 * `make test-slurm` (CASEBISECT_TEST_SLURM=1; skipped in `make test`, a
 * cluster takes minutes of sleeping on Slurm's timers). Suite "slurm_fake"
 * runs casebisect against stand-ins for srun, squeue and scancel
 * (tests/fixtures/fake-slurm/) that print Slurm's own lines; and the slurm
 * module's pure parts (srun's command line, Slurm's lines) in-process. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "casebisect/slurm.h"
#include "casebisect/util.h"
#include "helpers.h"

/* ---- the cluster ---- */

static char cluster[256];

/* A port nothing listens on now (the kernel's pick for port 0). */
static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	cr_assert(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(!bind(fd, (struct sockaddr *)&a, sizeof(a)));
	cr_assert(!getsockname(fd, (struct sockaddr *)&a, &len));
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Runs a shell command line with the cluster's SLURM_CONF; its stdout (the
 * caller frees it). */
static char *sh_out(const char *fmt, ...) CB_PRINTF(1, 2);

static char *sh_out(const char *fmt, ...)
{
	va_list ap;
	char *cmd, *full, *path = cb_fmt("%s/sh.out", cluster), *text;

	va_start(ap, fmt);
	cmd = cb_vfmt(fmt, ap);
	va_end(ap);
	full = cb_fmt("( %s ) > '%s' 2>&1", cmd, path);
	(void)!system(full);
	text = cb_read_file(path, NULL);
	free(cmd);
	free(full);
	free(path);
	return text ? text : xstrdup("");
}

static void cluster_down(void);

static void cluster_up(void)
{
	char *up, *cmd, *conf;
	int p1, p2;

	if (!getenv("CASEBISECT_TEST_SLURM"))
		cr_skip_test("a real Slurm cluster: `make test-slurm` runs these");
	p1 = free_port();
	p2 = free_port();
	tmpdir_setup();
	snprintf(cluster, sizeof(cluster), "%s/slurm", tmpdir);
	while (p2 == p1)
		p2 = free_port();
	up = src_file("tests/fixtures/slurm-up.sh");
	cmd = cb_fmt("'%s' '%s' %d %d", up, cluster, p1, p2);
	free(up);
	conf = cb_fmt("%s/slurm.conf", cluster);
	setenv("SLURM_CONF", conf, 1);
	free(conf);
	if (system(cmd)) {
		char *logs = sh_out("tail -n 5 '%s'/*.log", cluster);

		cluster_down(); /* what did start */
		cr_assert_fail("the test cluster did not come up (%s):\n%s", cmd, logs);
	}
	free(cmd);
}

static pid_t pid_in(const char *name)
{
	char *path = cb_fmt("%s/%s", cluster, name), *text = cb_read_file(path, NULL);
	pid_t pid = text ? (pid_t)atoi(text) : 0;

	free(text);
	free(path);
	return pid;
}

/* Cancels what is left, then ends the daemons by the PIDs they wrote:
 * SIGTERM, up to 5 s, SIGKILL. */
static void cluster_down(void)
{
	static const char *const daemons[] = { "slurmd.pid", "slurmctld.pid", "munged.pid" };
	size_t i;
	int k;

	if (!cluster[0])
		return;
	free(sh_out("scancel -u %u; for i in $(seq 50); do [ -z \"$(squeue -h)\" ] && break; "
		    "sleep 0.1; done", (unsigned)getuid()));
	for (i = 0; i < CB_ARRAY_SIZE(daemons); i++) {
		pid_t pid = pid_in(daemons[i]);

		if (pid <= 1 || kill(pid, SIGTERM))
			continue;
		for (k = 0; k < 50 && !kill(pid, 0); k++)
			usleep(100 * 1000);
		kill(pid, SIGKILL);
	}
	cluster[0] = '\0';
	tmpdir_teardown();
}

/* Puts the fake srun, squeue and scancel first on PATH, for casebisect and
 * what it runs. */
static void fake_slurm_up(void)
{
	char *dir = src_file("tests/fixtures/fake-slurm"), *path;
	const char *old = getenv("PATH");

	tmpdir_setup();
	snprintf(cluster, sizeof(cluster), "%s", tmpdir); /* where sh_out() writes */
	path = cb_fmt("%s:%s", dir, old ? old : "/usr/bin:/bin");
	setenv("PATH", path, 1);
	unsetenv("SLURM_CONF");
	free(path);
	free(dir);
}

static void fake_slurm_down(void)
{
	cluster[0] = '\0';
	tmpdir_teardown();
}

TestSuite(slurm, .init = cluster_up, .fini = cluster_down);
TestSuite(slurm_fake, .init = fake_slurm_up, .fini = fake_slurm_down);
TestSuite(slurm_lines);

/* ---- helpers ---- */

static const char *const slurm_bad[] = { "case_004=7", "case_009=9", NULL };

/* The journal's lines, parsed; *n of them. */
static cJSON **journal(const char *workdir, size_t *n)
{
	char *path = cb_fmt("%s/journal.jsonl", workdir), *text = cb_read_file(path, NULL);
	cJSON **v = NULL;
	size_t i;

	*n = text ? count_lines(text) : 0;
	v = xcalloc(*n + 1, sizeof(*v));
	for (i = 0; i < *n; i++) {
		char *line = line_at(text, i);

		v[i] = cJSON_Parse(line);
		cr_assert(v[i], "journal line %zu: %s", i + 1, line);
		free(line);
	}
	free(text);
	free(path);
	return v;
}

static void journal_free(cJSON **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		cJSON_Delete(v[i]);
	free(v);
}

/* Jobs Slurm still lists (squeue -h), one per line: "" when none. */
static char *queue(void)
{
	return sh_out("squeue -h -o '%%i %%j %%t'");
}

/* The job completion record of the job named name, or NULL. */
static char *jobcomp_record(const char *name)
{
	char *path = cb_fmt("%s/jobcomp.txt", cluster), *text = cb_read_file(path, NULL);
	char *key = cb_fmt("Name=%s ", name), *p, *end, *rec = NULL;

	p = text ? strstr(text, key) : NULL;
	if (p) {
		while (p > text && strncmp(p, "JobId=", 6))
			p--;
		end = strstr(p + 6, "JobId=");
		rec = end ? cb_fmt("%.*s", (int)(end - p), p) : xstrdup(p);
	}
	free(key);
	free(text);
	free(path);
	return rec;
}

/* Waits (up to 30 s) until squeue lists a running job whose name starts
 * with prefix. */
static void wait_running(const char *prefix)
{
	int i;

	for (i = 0; i < 300; i++) {
		char *q = queue(), *p = strstr(q, prefix);
		bool running = p && strstr(p, " R");

		free(q);
		if (running)
			return;
		usleep(100 * 1000);
	}
	cr_assert_fail("no job %s* ever ran", prefix);
}

/* WORKDIR's report names slurm_bad's cases as the culprits. */
static void assert_found_slurm_bad(const char *wd)
{
	char *c = report_culprits(wd, NULL, 0);

	cr_assert_str_eq(c, "case_004 case_009");
	free(c);
}

static char *toy(void)
{
	return src_file("harness/toytrain");
}

/* ---- against the cluster ---- */

/* The demo's dataset through --launcher slurm --jobs 2: the culprits of the
 * local run, every trial one job in Slurm's completion records (named by
 * casebisect even when --slurm-args names jobs), on the node and GPU the
 * journal names, and nothing left in the queue. */
Test(slurm, jobs_2_find_the_culprits_of_the_local_run)
{
	struct run r;
	char *ds = mkcases_in("ds", 12, slurm_bad), *tt = toy();
	char *local = cb_fmt("%s/local", tmpdir), *wd = cb_fmt("%s/wd", tmpdir), *c1, *c2, *q;
	cJSON **j;
	size_t n, i;

	run(&r, "run", "--workdir", local, "--gpus", "none", ds, "--", tt, "--cases-file",
	    "{cases_file}", "--files-file", "{files_file}");
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	run_release(&r);
	run(&r, "run", "--workdir", wd, "--launcher", "slurm", "--jobs", "2", "--slurm-args",
	    "--gres=gpu:1 --job-name=theirs", ds, "--", tt,
	    "--cases-file", "{cases_file}", "--files-file", "{files_file}");
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	cr_assert(strstr(r.out, "looks local to this machine"), "no warning about /tmp: %s", r.out);
	c1 = report_culprits(local, NULL, 0);
	c2 = report_culprits(wd, NULL, 0);
	cr_assert_str_eq(c1, "case_004 case_009");
	cr_assert_str_eq(c2, c1);

	j = journal(wd, &n);
	cr_assert_geq(n, 4);
	for (i = 0; i < n; i++) {
		int trial = cJSON_GetNumberValue(cJSON_GetObjectItem(j[i], "trial"));
		char *name = cb_fmt("casebisect-wd-%d", trial), *rec = jobcomp_record(name);
		cJSON *gpu = cJSON_GetObjectItem(j[i], "gpu");

		cr_assert(rec, "trial %d has no job completion record (%s): %s", trial, name,
			  sh_out("cat '%s/jobcomp.txt'", cluster));
		cr_assert(strstr(rec, "NodeList=localhost"), "%s", rec);
		cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j[i], "node")), "localhost");
		cr_assert(cJSON_IsNumber(gpu) && (gpu->valueint == 0 || gpu->valueint == 1),
			  "trial %d: gpu is not Slurm's 0 or 1", trial);
		free(rec);
		free(name);
	}
	journal_free(j, n);
	q = queue();
	cr_assert_str_eq(q, "", "jobs left in the queue: %s", q);
	free(q);
	run_release(&r);
	free(c1);
	free(c2);
	free(wd);
	free(local);
	free(tt);
	free(ds);
}

/* Ctrl-C mid-run cancels the running job (exit 5, nothing left in the
 * queue, Slurm's record says CANCELLED); resume cancels a job of the same
 * work directory an earlier casebisect left behind, and finishes. */
Test(slurm, ctrl_c_cancels_the_jobs_and_resume_cancels_leftovers)
{
	struct run r;
	char *ds = mkcases_in("ds", 12, slurm_bad), *tt = toy(), *wd = cb_fmt("%s/wd", tmpdir);
	char *out = cb_fmt("%s/out", tmpdir), *err = cb_fmt("%s/err", tmpdir), *q, *rec, *c;
	int pid;

	pid = spawn_bg(out, err, "run", "--workdir", wd, "--launcher", "slurm", "--jobs", "2", ds,
		       "--", tt, "--cases-file", "{cases_file}", "--files-file", "{files_file}",
		       "--step-ms", "300", NULL);
	wait_running("casebisect-wd-1");
	kill(pid, SIGINT);
	cr_assert_eq(wait_exit(pid), 5);
	q = queue();
	cr_assert_str_eq(q, "", "jobs left in the queue after Ctrl-C: %s", q);
	free(q);
	rec = jobcomp_record("casebisect-wd-1");
	cr_assert(rec && strstr(rec, "JobState=CANCELLED"), "trial 1's job: %s", rec);
	free(rec);

	/* a job of this work directory that a killed casebisect left */
	free(sh_out("sbatch --job-name casebisect-wd-99 -o /dev/null --wrap 'sleep 300'"));
	wait_running("casebisect-wd-99");
	run(&r, "resume", wd);
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	cr_assert(strstr(r.out, "cancelled 1 Slurm job"), "%s", r.out);
	c = report_culprits(wd, NULL, 0);
	cr_assert_str_eq(c, "case_004 case_009");
	q = queue();
	cr_assert_str_eq(q, "", "jobs left in the queue after resume: %s", q);
	free(q);
	free(c);
	run_release(&r);
	free(out);
	free(err);
	free(wd);
	free(tt);
	free(ds);
}

/* A partition that does not exist stops the run at once with Slurm's own
 * words, and leaves nothing behind. */
Test(slurm, an_invalid_partition_stops_the_run_with_slurms_message)
{
	struct run r;
	char *ds = mkcases_in("ds", 12, slurm_bad), *tt = toy(), *wd = cb_fmt("%s/wd", tmpdir), *q;

	run(&r, "run", "--workdir", wd, "--launcher", "slurm", "--slurm-args", "-p nosuch", ds,
	    "--", tt, "--cases-file", "{cases_file}", "--files-file", "{files_file}");
	cr_assert_eq(r.code, 1, "%s\n%s", r.out, r.err);
	cr_assert(strstr(r.err, "Slurm refused trial 1") && strstr(r.err, "nosuch"), "%s", r.err);
	q = queue();
	cr_assert_str_eq(q, "", "%s", q);
	free(q);
	run_release(&r);

	/* and a quote left open is a usage error, before anything runs */
	run(&r, "run", "--workdir", wd, "--launcher", "slurm", "--slurm-args", "-p 'debug", ds,
	    "--", tt, "--cases-file", "{cases_file}", "--files-file", "{files_file}");
	assert_usage_error(&r);
	run_release(&r);
	free(wd);
	free(tt);
	free(ds);
}

/* slurmctld stopped: srun's "Unable to contact slurm controller" stops
 * the run (exit 1, Slurm's line quoted) instead of a verdict from trials
 * that never ran; nothing is journaled, and once slurmctld is back resume
 * runs the trial again and finishes. */
Test(slurm, a_stopped_controller_stops_the_run_and_resume_finishes_it, .timeout = 600)
{
	struct run r;
	char *ds = mkcases_in("ds", 12, slurm_bad), *tt = toy(), *wd = cb_fmt("%s/wd", tmpdir);
	char *cmd;
	pid_t ctld = pid_in("slurmctld.pid");
	cJSON **j;
	size_t n;
	int i;

	cr_assert_gt(ctld, 1);
	kill(ctld, SIGTERM);
	for (i = 0; i < 200 && !kill(ctld, 0); i++)
		usleep(50 * 1000);
	cr_assert(kill(ctld, 0), "slurmctld did not stop");
	run(&r, "run", "--workdir", wd, "--launcher", "slurm", ds, "--", tt, "--cases-file",
	    "{cases_file}", "--files-file", "{files_file}");
	cr_assert_eq(r.code, 1, "%s\n%s", r.out, r.err);
	cr_assert(strstr(r.err, "Slurm refused trial 1: srun: "), "%s", r.err);
	j = journal(wd, &n);
	cr_assert_eq(n, 0, "a refused trial was journaled");
	journal_free(j, n);
	run_release(&r);

	cmd = cb_fmt("slurmctld -f '%s/slurm.conf'", cluster);
	cr_assert(system(cmd) == 0, "slurmctld did not start again");
	free(cmd);
	run(&r, "resume", wd);
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	assert_found_slurm_bad(wd);
	run_release(&r);
	free(wd);
	free(tt);
	free(ds);
}

/* A run of one trial that sleeps for a minute, through --launcher slurm in
 * partition "tiny" (MaxTime 1 minute). */
struct past_limit {
	char *ds, *tt, *wd, *out, *err;
	int pid;
};

static void past_limit_start(struct past_limit *t)
{
	t->ds = mkcases_in("ds", 12, slurm_bad);
	t->tt = toy();
	t->wd = cb_fmt("%s/wd", tmpdir);
	t->out = cb_fmt("%s/out", tmpdir);
	t->err = cb_fmt("%s/err", tmpdir);
	t->pid = spawn_bg(t->out, t->err, "run", "--workdir", t->wd, "--launcher", "slurm",
			  "--slurm-args", "-p tiny", "--max-trials", "1", t->ds, "--", t->tt,
			  "--cases-file", "{cases_file}", "--files-file", "{files_file}", "--step-ms",
			  "60000", NULL);
}

/* The trial is UNRESOLVED with reason slurm_timeout (exit 6), and its job
 * is gone. */
static void past_limit_check(struct past_limit *t)
{
	int code = wait_exit(t->pid);
	cJSON **j;
	size_t n;
	char *q;

	cr_assert_eq(code, 6, "exit %d: %s", code, cb_read_file(t->err, NULL));
	j = journal(t->wd, &n);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j[0], "outcome")), "UNRESOLVED");
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j[0], "reason")), "slurm_timeout");
	journal_free(j, n);
	q = queue();
	cr_assert_str_eq(q, "", "%s", q);
	free(q);
	free(t->out);
	free(t->err);
	free(t->wd);
	free(t->tt);
	free(t->ds);
}

/* A trial past Slurm's time limit (partition "tiny": MaxTime 1 minute) is
 * UNRESOLVED with reason slurm_timeout, and its job is gone. Slurm checks
 * time limits every 30 s from slurmctld's start, so a job that starts at
 * once is killed at 90 s; restarting slurmctld (it recovers its jobs from
 * its state folder) 30 s into the job moves that check to 60 s. */
Test(slurm, a_trial_past_slurms_time_limit_is_slurm_timeout)
{
	struct past_limit t;
	char *cmd;
	pid_t ctld;
	int i;

	past_limit_start(&t);
	wait_running("casebisect-wd-1");
	sleep(30);
	ctld = pid_in("slurmctld.pid");
	cr_assert_gt(ctld, 1);
	kill(ctld, SIGTERM);
	for (i = 0; i < 200 && !kill(ctld, 0); i++)
		usleep(50 * 1000);
	cmd = cb_fmt("slurmctld -f '%s/slurm.conf'", cluster);
	cr_assert(system(cmd) == 0, "slurmctld did not start again");
	free(cmd);
	past_limit_check(&t);
}

/* ---- against stand-ins for srun, squeue and scancel ---- */

/* The same in a second: the fake srun ends the step with the lines Slurm
 * prints at its time limit. */
Test(slurm_fake, a_trial_past_slurms_time_limit_is_slurm_timeout)
{
	struct past_limit t;

	past_limit_start(&t);
	past_limit_check(&t);
}

/* No controller: srun's refusal stops the run at once (exit 1, not a
 * verdict of exit 4 from trials that never ran), quoting Slurm; the trial
 * is not journaled, so resume, once Slurm answers again, runs it and
 * finishes. */
Test(slurm_fake, slurms_refusal_stops_the_run_and_resume_runs_the_trial_again)
{
	static const char *const refusals[] = {
		"srun: fatal: Could not establish a configuration source",
		"srun: error: Unable to allocate resources: Socket timed out on send/recv operation",
		"srun: error: Unable to allocate resources: Invalid qos specification",
		"sbatch: error: Batch job submission failed: Invalid account or account/partition "
		"combination specified",
	};
	char *ds = mkcases_in("ds", 12, slurm_bad), *tt = toy(), *wd;
	struct run r;
	cJSON **j;
	size_t n, i;

	for (i = 0; i < CB_ARRAY_SIZE(refusals); i++) {
		wd = cb_fmt("%s/wd%zu", tmpdir, i);
		setenv("FAKE_SRUN_REFUSE", refusals[i], 1);
		run(&r, "run", "--workdir", wd, "--launcher", "slurm", ds, "--", tt, "--cases-file",
		    "{cases_file}", "--files-file", "{files_file}");
		unsetenv("FAKE_SRUN_REFUSE");
		cr_assert_eq(r.code, 1, "%s: exit %d\n%s\n%s", refusals[i], r.code, r.out, r.err);
		cr_assert(strstr(r.err, "Slurm refused trial 1") && strstr(r.err, refusals[i]),
			  "Slurm's line is not quoted: %s", r.err);
		cr_assert_null(strstr(r.out, "verdict:"), "%s", r.out);
		j = journal(wd, &n);
		cr_assert_eq(n, 0, "a refused trial was journaled");
		journal_free(j, n);
		run_release(&r);
		if (i)
			goto next;
		run(&r, "resume", wd);
		cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
		assert_found_slurm_bad(wd);
		run_release(&r);
next:
		free(wd);
	}
	free(tt);
	free(ds);
}

/* Once the job runs, a line that reads like Slurm's refusal is the
 * trainer's (its own srun failing): the run goes on to the culprits. */
Test(slurm_fake, a_refusal_line_after_the_job_started_is_not_slurms)
{
	char *ds = mkcases_in("ds", 12, slurm_bad), *tt = toy(), *wd = cb_fmt("%s/wd", tmpdir);
	struct run r;

	setenv("FAKE_SRUN_AFTER", "srun: error: Unable to allocate resources: Invalid partition "
	       "name specified", 1);
	setenv("FAKE_SRUN_LIMIT_S", "60", 1);
	run(&r, "run", "--workdir", wd, "--launcher", "slurm", ds, "--", tt, "--cases-file",
	    "{cases_file}", "--files-file", "{files_file}", "--step-ms", "100");
	unsetenv("FAKE_SRUN_AFTER");
	unsetenv("FAKE_SRUN_LIMIT_S");
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	cr_assert_null(strstr(r.err, "Slurm refused"), "%s", r.err);
	/* where the job runs, once Slurm started it */
	cr_assert(strstr(r.out, "] trial 1 (target) runs: Slurm job 1 on node localhost, gpu 0\n"),
		  "%s", r.out);
	assert_found_slurm_bad(wd);
	run_release(&r);
	free(wd);
	free(tt);
	free(ds);
}

/* ---- the module's pure parts ---- */

Test(slurm_lines, slurm_args_split_like_a_shell)
{
	char **w, err[128];
	size_t n;

	cr_assert_eq(slurm_split_args("-p gpu  --gres=gpu:1 --comment='a b' \"x\\\"y\" c\\ d", &w,
				      &n, err, sizeof(err)), 0);
	cr_assert_eq(n, 6);
	cr_assert_str_eq(w[0], "-p");
	cr_assert_str_eq(w[1], "gpu");
	cr_assert_str_eq(w[2], "--gres=gpu:1");
	cr_assert_str_eq(w[3], "--comment=a b");
	cr_assert_str_eq(w[4], "x\"y");
	cr_assert_str_eq(w[5], "c d");
	cr_assert_null(w[6]);
	slurm_words_free(w);
	cr_assert_eq(slurm_split_args("'c d' ''", &w, &n, err, sizeof(err)), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(w[1], "");
	slurm_words_free(w);
	cr_assert_eq(slurm_split_args(NULL, &w, &n, err, sizeof(err)), 0);
	cr_assert_eq(n, 0);
	slurm_words_free(w);
	cr_assert_eq(slurm_split_args("-p \"gpu", &w, &n, err, sizeof(err)), -1);
	cr_assert(strstr(err, "unterminated double quote"), "%s", err);
}

Test(slurm_lines, srun_argv_names_the_job_and_merges_excludes)
{
	static const char *const words[] = { "-p", "gpu", "-x", "n1", "--time=10", NULL };
	static const char *const cmd[] = { "train", "--cases", "{x} y", NULL };
	char *prefix = slurm_job_prefix("/scratch/my triage/"), **v;
	size_t n;

	cr_assert_str_eq(prefix, "casebisect-my_triage-");
	v = slurm_srun_argv(prefix, 12, words, "n7,n8", cmd);
	for (n = 0; v[n]; n++)
		;
	cr_assert_str_eq(v[0], "srun");
	cr_assert_str_eq(v[1], "--kill-on-bad-exit=1");
	cr_assert_str_eq(v[2], "--unbuffered");
	cr_assert_str_eq(v[3], "-p");
	cr_assert_str_eq(v[4], "gpu");
	cr_assert_str_eq(v[5], "--time=10");
	cr_assert_str_eq(v[6], "--exclude=n1,n7,n8");
	cr_assert_str_eq(v[7], "--job-name=casebisect-my_triage-12");
	cr_assert_str_eq(v[8], "--export=ALL");
	cr_assert_str_eq(v[9], "--");
	cr_assert_str_eq(v[10], "/bin/sh");
	cr_assert_str_eq(v[n - 3], "train");
	cr_assert_str_eq(v[n - 1], "{x} y");
	slurm_words_free(v);
	/* without exclusions of ours, the user's -x stays as given */
	v = slurm_srun_argv(prefix, 1, words, "", cmd);
	cr_assert_str_eq(v[5], "-x");
	cr_assert_str_eq(v[6], "n1");
	slurm_words_free(v);
	free(prefix);
}

static enum slurm_event ev(const char *line)
{
	return slurm_parse_line(line, strlen(line), NULL);
}

/* Lines as Slurm 22.05 prints them (the first two from the test cluster). */
Test(slurm_lines, slurms_lines_are_read_for_what_they_say)
{
	struct slurm_start st;
	const char *started = "CASEBISECT_SLURM job=17 node=gpu-node-3 gpus=2,3\n";

	cr_assert_eq(ev("slurmstepd-localhost: error: *** STEP 2.0 ON localhost CANCELLED AT "
			"2026-11-27T02:50:06 DUE TO TIME LIMIT ***"), SLURM_EV_TIMEOUT);
	cr_assert_eq(ev("srun: error: Unable to allocate resources: Invalid partition name "
			"specified"), SLURM_EV_CONFIG_ERROR);
	cr_assert_eq(ev("srun: error: invalid partition specified: nosuch"), SLURM_EV_CONFIG_ERROR);
	cr_assert_eq(ev("srun: error: Unable to allocate resources: Invalid account or "
			"account/partition combination specified"), SLURM_EV_CONFIG_ERROR);
	cr_assert_eq(ev("srun: error: Unable to allocate resources: Requested node configuration "
			"is not available"), SLURM_EV_CONFIG_ERROR);
	cr_assert_eq(ev("srun: unrecognized option '--bogus'"), SLURM_EV_CONFIG_ERROR);
	cr_assert_eq(ev("srun: error: Unable to allocate resources: Socket timed out on send/recv "
			"operation"), SLURM_EV_CONFIG_ERROR);
	cr_assert_eq(ev("srun: fatal: Could not establish a configuration source"),
		     SLURM_EV_CONFIG_ERROR);
	cr_assert_eq(ev("srun: error: Unable to allocate resources: Unable to contact slurm "
			"controller (connect failure)"), SLURM_EV_CONFIG_ERROR);
	cr_assert_eq(ev("sbatch: error: Batch job submission failed: Invalid qos specification"),
		     SLURM_EV_CONFIG_ERROR);
	cr_assert_eq(ev("srun: error: Unable to allocate resources: Requested nodes are busy"),
		     SLURM_EV_ALLOC_FAILED);
	cr_assert_eq(ev("slurmstepd: error: *** JOB 12 ON n3 CANCELLED AT 2024-01-01T00:00:00 DUE "
			"TO PREEMPTION ***"), SLURM_EV_PREEMPTED);
	cr_assert_eq(ev("slurmstepd: error: *** JOB 12 ON n3 CANCELLED AT 2024-01-01T00:00:00 DUE "
			"TO NODE FAILURE ***"), SLURM_EV_NODE_FAIL);
	cr_assert_eq(ev("srun: error: Node failure on n3"), SLURM_EV_NODE_FAIL);
	cr_assert_eq(ev("slurmstepd: error: *** JOB 12 ON n3 CANCELLED AT 2024-01-01T00:00:00 ***"),
		     SLURM_EV_CANCELLED);
	cr_assert_eq(ev("srun: error: Job allocation 12 has been revoked"), SLURM_EV_CANCELLED);
	cr_assert_eq(ev("slurmstepd: error: Detected 1 oom_kill event in StepId=12.0. Some of the "
			"step tasks have been OOM Killed."), SLURM_EV_OOM);
	cr_assert_eq(ev("srun: error: n3: task 0: Out Of Memory"), SLURM_EV_OOM);
	/* not Slurm's: a trainer's lines, and srun's ordinary ones */
	cr_assert_eq(ev("epoch 3: oom_kill DUE TO TIME LIMIT"), SLURM_EV_NONE);
	cr_assert_eq(ev("srun: error: localhost: task 0: Exited with exit code 1"), SLURM_EV_NONE);
	cr_assert_eq(ev("srun: job 4 queued and waiting for resources"), SLURM_EV_NONE);

	cr_assert_eq(slurm_parse_line(started, strlen(started), &st), SLURM_EV_STARTED);
	cr_assert_eq(st.job, 17);
	cr_assert_str_eq(st.node, "gpu-node-3");
	cr_assert_str_eq(st.gpus, "2,3");
}

Test(slurm_lines, work_directories_under_tmp_look_local)
{
	cr_assert(slurm_path_looks_local("/tmp/triage"));
	cr_assert(slurm_path_looks_local("/dev/shm"));
	cr_assert_not(slurm_path_looks_local("/tmpfoo/x"));
}
