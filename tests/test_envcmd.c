/* test_envcmd: the environment command (`run --env-cmd`): its output comes
 * back in order and capped, its status is reported, and a command that
 * hangs, or leaves something running, leaves no process behind. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "casebisect/envcmd.h"
#include "casebisect/util.h"
#include "helpers.h"

TestSuite(envcmd, .init = tmpdir_setup, .fini = tmpdir_teardown);

#define CAP (64 * 1024)

static char *out;
static char err[512];
static int status;
static long long elapsed_ms;

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Runs cmd with envcmd_run(); keeps the output in out (freed by the next
 * call or the test's end), the status and the message. */
static int run_cmd(const char *cmd, double timeout_s, size_t max_bytes)
{
	long long t0 = now_ms();
	int r;

	free(out);
	out = NULL;
	err[0] = '\0';
	status = 12345;
	r = envcmd_run(cmd, timeout_s, &out, max_bytes, &status, err, sizeof(err));
	elapsed_ms = now_ms() - t0;
	cr_assert(out, "no output string");
	return r;
}

static void release(void)
{
	free(out);
	out = NULL;
}

/* The pid that the command wrote to tmpdir/name. */
static pid_t pid_from(const char *name)
{
	char *path = cb_path_join(tmpdir, name), *text = cb_read_file(path, NULL);
	long pid;

	free(path);
	cr_assert(text, "the command wrote no %s", name);
	pid = strtol(text, NULL, 10);
	free(text);
	cr_assert(pid > 1 && pid != (long)getpid(), "%s: pid %ld", name, pid);
	return (pid_t)pid;
}

/* Gone: no such process, or a zombie that only its new parent (init, or a
 * subreaper above us) has still to reap. */
static bool gone(pid_t pid)
{
	char path[64], *stat, *paren;
	bool zombie;

	errno = 0;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	stat = cb_read_file(path, NULL);
	if (!stat)
		return true;
	paren = strrchr(stat, ')');
	zombie = paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
	free(stat);
	return zombie;
}

/* Waits up to 2 s for pid to be gone (its SIGKILL is on its way). */
static void assert_gone(pid_t pid)
{
	int i;

	for (i = 0; i < 200 && !gone(pid); i++)
		usleep(10000);
	cr_assert(gone(pid), "process %ld is still alive", (long)pid);
}

Test(envcmd, stdout_and_stderr_in_the_order_written)
{
	cr_assert_eq(run_cmd("echo one; echo two >&2; echo three; echo four >&2", 10, CAP),
		     ENVCMD_OK, "%s", err);
	cr_assert_eq(status, 0);
	cr_assert_str_eq(out, "one\ntwo\nthree\nfour\n");
	assert_no_children("envcmd_run");
	release();
}

Test(envcmd, python_style_version_line)
{
	/* What `run --env-cmd` is for: one line of versions, as printed. */
	cr_assert_eq(run_cmd("printf '%s %s\\n' 2.4.1+cu121 12.1", 10, CAP), ENVCMD_OK);
	cr_assert_str_eq(out, "2.4.1+cu121 12.1\n");
	cr_assert_eq(status, 0);
	release();
}

Test(envcmd, exit_status_is_reported)
{
	cr_assert_eq(run_cmd("echo failing; exit 3", 10, CAP), ENVCMD_OK, "%s", err);
	cr_assert_eq(status, 3);
	cr_assert_str_eq(out, "failing\n");

	cr_assert_eq(run_cmd("no-such-command-casebisect", 10, CAP), ENVCMD_OK, "%s", err);
	cr_assert_eq(status, 127);
	cr_assert(strstr(out, "no-such-command-casebisect") && strstr(out, "not found"),
		  "output: %s", out);

	/* A signal: 128 + N, as a shell says it. */
	cr_assert_eq(run_cmd("kill -TERM $$", 10, CAP), ENVCMD_OK, "%s", err);
	cr_assert_eq(status, 128 + SIGTERM);
	assert_no_children("envcmd_run");
	release();
}

Test(envcmd, stdin_is_dev_null)
{
	/* cat would wait for ever on an inherited terminal or pipe. */
	cr_assert_eq(run_cmd("cat; echo done", 5, CAP), ENVCMD_OK, "%s", err);
	cr_assert_str_eq(out, "done\n");
	cr_assert(elapsed_ms < 2000, "took %lld ms", elapsed_ms);
	release();
}

Test(envcmd, own_process_group)
{
	long pid = 0, pgrp = 0;

	/* Field 1 of /proc/PID/stat is the pid, field 5 its process group
	 * ("sh" has no space in its name). */
	cr_assert_eq(run_cmd("cut -d' ' -f1,5 /proc/$$/stat", 10, CAP), ENVCMD_OK, "%s", err);
	cr_assert_eq(sscanf(out, "%ld %ld", &pid, &pgrp), 2, "output: %s", out);
	cr_assert_eq(pid, pgrp, "the shell %ld is in group %ld, not its own", pid, pgrp);
	cr_assert_neq(pgrp, (long)getpgrp());
	release();
}

Test(envcmd, hang_is_killed_at_the_timeout)
{
	char cmd[512];
	pid_t sh, bg;

	snprintf(cmd, sizeof(cmd),
		 "echo $$ > %s/sh; sleep 300 & echo $! > %s/bg; echo started; wait",
		 tmpdir, tmpdir);
	cr_assert_eq(run_cmd(cmd, 0.5, CAP), ENVCMD_ERR_TIMEOUT, "err: %s", err);
	cr_assert(elapsed_ms >= 450 && elapsed_ms < 3000, "took %lld ms", elapsed_ms);
	cr_assert_eq(status, -1);
	cr_assert(strstr(err, "did not end within 0.5 s; its process group was killed"),
		  "err: %s", err);
	cr_assert(strstr(err, "sleep 300"), "the message does not name the command: %s", err);
	/* What it printed before the kill is kept. */
	cr_assert_str_eq(out, "started\n");
	sh = pid_from("sh");
	bg = pid_from("bg");
	errno = 0;
	cr_assert(kill(sh, 0) == -1 && errno == ESRCH, "the shell %ld still exists", (long)sh);
	assert_gone(bg);
	assert_no_children("envcmd_run");
	release();
}

Test(envcmd, what_the_shell_leaves_running_is_killed)
{
	char cmd[512];
	pid_t bg;

	/* The background sleep holds the pipe open: without the group kill at
	 * the shell's exit, this would wait out the timeout. */
	snprintf(cmd, sizeof(cmd), "sleep 300 & echo $! > %s/bg; echo ok", tmpdir);
	cr_assert_eq(run_cmd(cmd, 20, CAP), ENVCMD_OK, "err: %s", err);
	cr_assert_eq(status, 0);
	cr_assert_str_eq(out, "ok\n");
	cr_assert(elapsed_ms < 3000, "took %lld ms", elapsed_ms);
	bg = pid_from("bg");
	assert_gone(bg);
	release();
}

Test(envcmd, an_escaped_process_does_not_hold_the_call)
{
	char cmd[512];
	pid_t esc;

	/* A process in a session of its own escapes the group kill and keeps
	 * the pipe open; the call gives up on the pipe after its grace. */
	snprintf(cmd, sizeof(cmd),
		 "setsid sh -c 'echo $$ > %s/esc; exec sleep 300' & "
		 "while [ ! -s %s/esc ]; do sleep 0.01; done; echo ok",
		 tmpdir, tmpdir);
	cr_assert_eq(run_cmd(cmd, 20, CAP), ENVCMD_OK, "err: %s", err);
	esc = pid_from("esc");
	kill(esc, SIGKILL); /* ours to clean up: the test started it */
	cr_assert_eq(status, 0);
	cr_assert_str_eq(out, "ok\n");
	cr_assert(elapsed_ms < 5000, "took %lld ms", elapsed_ms);
	release();
}

Test(envcmd, output_over_the_cap_is_cut)
{
	size_t i;

	cr_assert_eq(run_cmd("head -c 200000 /dev/zero | tr '\\0' y; echo; echo tail", 10, 1000),
		     ENVCMD_OK, "err: %s", err);
	cr_assert_eq(status, 0, "the writer was not drained to its end");
	cr_assert_eq(strlen(out), 1000 + strlen("\n" ENVCMD_CUT_MARK "\n"), "%zu bytes",
		     strlen(out));
	for (i = 0; i < 1000; i++)
		cr_assert_eq(out[i], 'y', "byte %zu", i);
	cr_assert_str_eq(out + 1000, "\n[... cut]\n");
	release();
}

Test(envcmd, cut_keeps_whole_characters)
{
	/* "a", then U+00E9 in two bytes: a cap of 2 would split it. */
	cr_assert_eq(run_cmd("printf 'a\\303\\251b'", 10, 2), ENVCMD_OK, "err: %s", err);
	cr_assert_str_eq(out, "a\n[... cut]\n");
	/* Exactly at the cap: nothing cut, nothing marked. */
	cr_assert_eq(run_cmd("printf 'abc'", 10, 3), ENVCMD_OK);
	cr_assert_str_eq(out, "abc");
	cr_assert_eq(run_cmd("true", 10, 3), ENVCMD_OK);
	cr_assert_str_eq(out, "");
	release();
}

Test(envcmd, repeated_runs_leak_no_descriptor)
{
	int before, i;

	/* libuv opens its process-wide signal pipe once, at the first loop. */
	cr_assert_eq(run_cmd("true", 10, CAP), ENVCMD_OK, "%s", err);
	before = count_fds();
	for (i = 0; i < 20; i++) {
		cr_assert_eq(run_cmd("echo $$", 10, CAP), ENVCMD_OK, "%s", err);
		cr_assert_eq(status, 0);
	}
	cr_assert_eq(run_cmd("sleep 30", 0.1, CAP), ENVCMD_ERR_TIMEOUT);
	cr_assert_eq(count_fds(), before, "%d descriptors before, %d after", before, count_fds());
	assert_no_children("envcmd_run");
	release();
}
