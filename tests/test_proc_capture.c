/* test_proc_capture: a short child's output comes back, capped at the head
 * or the tail as asked; its exit status or signal is reported; a time limit
 * kills its whole process group and says so; a missing program is an error
 * that names it; the loop form runs beside other work and leaves nothing. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <uv.h>

#include "casebisect/proc_capture.h"
#include "casebisect/util.h"
#include "helpers.h"

TestSuite(proc_capture, .init = tmpdir_setup, .fini = tmpdir_teardown);

static char err[512];

/* Runs `sh -c script` with flags, cap and time limit; pc holds the result. */
static int sh(struct proc_capture *pc, const char *script, unsigned flags, size_t max,
	      double timeout_s)
{
	static const char *argv[4];

	argv[0] = "sh";
	argv[1] = "-c";
	argv[2] = script;
	argv[3] = NULL;
	pc->argv = argv;
	pc->flags = flags;
	pc->max_out = max;
	pc->timeout_s = timeout_s;
	err[0] = '\0';
	return proc_capture_run(pc, err, sizeof(err));
}

static bool alive(pid_t pid)
{
	char path[64], *stat, *paren;
	bool zombie;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (!(stat = cb_read_file(path, NULL)))
		return false;
	paren = strrchr(stat, ')');
	zombie = paren && (paren[2] == 'Z' || paren[2] == 'X');
	free(stat);
	return !zombie;
}

Test(proc_capture, stdout_is_captured_and_stderr_dropped_unless_merged)
{
	struct proc_capture pc = PROC_CAPTURE_INIT;

	cr_assert_eq(sh(&pc, "echo one; echo two >&2; echo three", 0, 4096, 10), 0, "%s", err);
	cr_assert_str_eq(pc.out, "one\nthree\n");
	cr_assert_eq(pc.len, strlen(pc.out));
	cr_assert(!pc.cut && !pc.timed_out);
	proc_capture_release(&pc);

	cr_assert_eq(sh(&pc, "echo one; echo two >&2; echo three", PROC_MERGE_STDERR, 4096, 10), 0);
	cr_assert_str_eq(pc.out, "one\ntwo\nthree\n", "merged lines come in the order written");
	proc_capture_release(&pc);
	assert_no_children("proc_capture_run");
}

Test(proc_capture, over_the_cap_keeps_the_head_or_the_tail)
{
	struct proc_capture pc = PROC_CAPTURE_INIT;
	const char *flood = "i=0; while [ $i -lt 3000 ]; do printf '%05d\\n' $i; i=$((i+1)); done";

	cr_assert_eq(sh(&pc, flood, 0, 12, 30), 0, "%s", err);
	cr_assert_str_eq(pc.out, "00000\n00001\n", "the first 12 bytes");
	cr_assert(pc.cut, "the cut is reported");
	proc_capture_release(&pc);

	cr_assert_eq(sh(&pc, flood, PROC_KEEP_TAIL, 12, 30), 0, "%s", err);
	cr_assert_str_eq(pc.out, "02998\n02999\n", "the last 12 bytes");
	cr_assert(pc.cut);
	proc_capture_release(&pc);

	cr_assert_eq(sh(&pc, "echo short", PROC_KEEP_TAIL, 4096, 30), 0);
	cr_assert_str_eq(pc.out, "short\n");
	cr_assert(!pc.cut, "nothing was cut");
	proc_capture_release(&pc);

	cr_assert_eq(sh(&pc, "echo dropped", 0, 0, 30), 0);
	cr_assert_str_eq(pc.out, "", "a cap of 0 keeps nothing, and out is still a string");
	proc_capture_release(&pc);
}

Test(proc_capture, exit_status_and_signal)
{
	struct proc_capture pc = PROC_CAPTURE_INIT;

	cr_assert_eq(sh(&pc, "exit 3", 0, 64, 10), 0, "ran to its end: %s", err);
	cr_assert_eq(pc.status, 3);
	cr_assert_eq(pc.exit_code, 3);
	cr_assert_eq(pc.signal, 0);
	proc_capture_release(&pc);

	cr_assert_eq(sh(&pc, "kill -TERM $$", 0, 64, 10), 0, "%s", err);
	cr_assert_eq(pc.signal, SIGTERM);
	cr_assert_eq(pc.exit_code, -1);
	cr_assert_eq(pc.status, 128 + SIGTERM, "as a shell reports it");
	proc_capture_release(&pc);
}

Test(proc_capture, time_limit_kills_the_group_and_says_so)
{
	struct proc_capture pc = PROC_CAPTURE_INIT;
	char *script = cb_fmt("sleep 60 & echo $! > %s/bg; echo started; sleep 60", tmpdir);
	char *path = cb_path_join(tmpdir, "bg"), *text;
	struct timespec a, b;
	long pid;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &a);
	rc = sh(&pc, script, 0, 64, 0.5);
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_assert_eq(rc, UV_ETIMEDOUT, "rc %d", rc);
	cr_assert(pc.timed_out);
	cr_assert_str_eq(pc.out, "started\n", "what came before the kill is kept");
	cr_assert(strstr(err, "'sh': did not end within 0.5 s; its process group was killed"),
		  "message: %s", err);
	cr_assert(b.tv_sec - a.tv_sec < 10, "it took %ld s", (long)(b.tv_sec - a.tv_sec));
	text = cb_read_file(path, NULL);
	cr_assert(text, "the script wrote no pid");
	pid = strtol(text, NULL, 10);
	cr_assert(pid > 1);
	for (int i = 0; i < 200 && alive((pid_t)pid); i++)
		usleep(10000);
	cr_assert(!alive((pid_t)pid), "the background sleep %ld outlived the kill", pid);
	proc_capture_release(&pc);
	free(text);
	free(path);
	free(script);
	assert_no_children("proc_capture_run");
}

Test(proc_capture, a_missing_program_is_an_error_that_names_it)
{
	struct proc_capture pc = PROC_CAPTURE_INIT;
	const char *argv[] = { "casebisect-no-such-program", "x", NULL };
	int rc;

	pc.argv = argv;
	pc.max_out = 64;
	rc = proc_capture_run(&pc, err, sizeof(err));
	cr_assert_eq(rc, UV_ENOENT, "rc %d", rc);
	cr_assert_eq(pc.error, UV_ENOENT);
	cr_assert_eq(pc.status, -1);
	cr_assert_str_eq(err, "cannot run 'casebisect-no-such-program': no such file or directory");
	cr_assert_str_eq(pc.out, "");
	proc_capture_release(&pc);
}

Test(proc_capture, stdin_env_and_cwd)
{
	struct proc_capture pc = PROC_CAPTURE_INIT;
	const char *argv[] = { "/bin/sh", "-c", "cat; echo \" $CB_TEST\"; pwd", NULL };
	const char *env[] = { "CB_TEST=given", "PATH=/usr/bin:/bin", NULL };
	char *want = cb_fmt("from stdin given\n%s\n", tmpdir);

	pc.argv = argv;
	pc.env = env;
	pc.cwd = tmpdir;
	pc.in = "from stdin";
	pc.in_len = strlen(pc.in);
	pc.max_out = 4096;
	cr_assert_eq(proc_capture_run(&pc, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(pc.out, want);
	proc_capture_release(&pc);
	free(want);
}

struct seen {
	int done;
};

static void on_done(struct proc_capture *pc, void *ctx)
{
	struct seen *s = ctx;

	s->done++;
	cr_assert(!proc_capture_running(pc->pid), "over, yet still listed");
}

/* Another handle on the same loop, as the supervisor's trials are. */
static void on_tick(uv_timer_t *t)
{
	uv_close((uv_handle_t *)t, NULL);
}

Test(proc_capture, the_loop_form_runs_beside_other_handles)
{
	uv_loop_t loop;
	uv_timer_t timer;
	struct proc_capture pc[2] = { PROC_CAPTURE_INIT, PROC_CAPTURE_INIT };
	const char *a[] = { "sh", "-c", "sleep 0.2; echo a", NULL };
	const char *b[] = { "sh", "-c", "echo b; exit 7", NULL };
	struct seen seen = { 0 };

	cr_assert_eq(uv_loop_init(&loop), 0);
	cr_assert_eq(uv_timer_init(&loop, &timer), 0);
	cr_assert_eq(uv_timer_start(&timer, on_tick, 50, 0), 0);
	pc[0].argv = a;
	pc[1].argv = b;
	pc[0].max_out = pc[1].max_out = 64;
	cr_assert_eq(proc_capture_start(&loop, &pc[0], on_done, &seen), 0);
	cr_assert_eq(proc_capture_start(&loop, &pc[1], on_done, &seen), 0);
	cr_assert(proc_capture_running(pc[0].pid) && proc_capture_running(pc[1].pid),
		  "a running capture's pid is listed");
	cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	cr_assert_eq(seen.done, 2, "each callback ran once");
	cr_assert_str_eq(pc[0].out, "a\n");
	cr_assert_str_eq(pc[1].out, "b\n");
	cr_assert_eq(pc[1].status, 7);
	cr_assert_eq(uv_loop_close(&loop), 0, "a handle was left open");
	proc_capture_release(&pc[0]);
	proc_capture_release(&pc[1]);
	assert_no_children("proc_capture_start");
}
