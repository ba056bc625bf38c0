/* test_progress: a run left overnight, as the user reads it the next
 * morning: the log (a time on every line, trials' starts, heartbeats, the
 * confirmation phase), the status line on a terminal, --json-events, and
 * --on-exit's command. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "casebisect/util.h"
#include "helpers.h"

TestSuite(progress, .init = tmpdir_setup, .fini = tmpdir_teardown);

static const char *const two_bad[] = { "case_004=7", "case_009=9", NULL };


/* The value of NAME in a file of NAME=VALUE lines (env's output); the
 * caller frees it; NULL when absent. */
static char *var_in(const char *text, const char *name)
{
	char *key = cb_fmt("\n%s=", name), *t = cb_fmt("\n%s", text), *p = strstr(t, key), *v = NULL;

	if (p) {
		p += strlen(key);
		v = cb_fmt("%.*s", (int)strcspn(p, "\n"), p);
	}
	free(key);
	free(t);
	return v;
}

/* --on-exit runs when the run ends, with the verdict, the exit code, the
 * report and the work directory in its environment; it fails (exit 3), and
 * the run's exit status and verdict stay what they were, the failure a
 * warning in the log. */
Test(progress, on_exit_gets_the_verdict_and_its_failure_changes_nothing)
{
	char *ds = mkcases_in("ds", 12, two_bad), *wd = at("wd"), *hook = at("hook.txt");
	char *cmd = cb_fmt("env > '%s'; echo mail: no such host; exit 3", hook), *text, *v;
	char *report = cb_fmt("%s/report.md", wd);
	struct run r;

	run_toy(&r, wd, "--on-exit", cmd, ds);
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	cr_assert(strstr(r.out, "verdict: culprits_found"), "%s", r.out);
	cr_assert(strstr(r.out, "warning: --on-exit exited with status 3: mail: no such host"),
		  "%s", r.out);
	text = cb_read_file(hook, NULL);
	cr_assert(text, "the --on-exit command did not run");
	v = var_in(text, "CASEBISECT_VERDICT");
	cr_assert_str_eq(v ? v : "(none)", "culprits_found");
	free(v);
	v = var_in(text, "CASEBISECT_EXIT_CODE");
	cr_assert_str_eq(v ? v : "(none)", "0");
	free(v);
	v = var_in(text, "CASEBISECT_REPORT");
	cr_assert_str_eq(v ? v : "(none)", report);
	cr_assert_eq(access(report, R_OK), 0);
	free(v);
	v = var_in(text, "CASEBISECT_WORKDIR");
	cr_assert_str_eq(v ? v : "(none)", wd);
	free(v);
	free(text);
	run_release(&r);
	free(report);
	free(cmd);
	free(hook);
	free(wd);
	free(ds);
}

/* Out of --max-trials the hook hears "undetermined" and exit 6; resume
 * may give another command, which run.json keeps and which hears the
 * final verdict. */
Test(progress, resume_changes_the_on_exit_command)
{
	char *ds = mkcases_in("ds", 12, two_bad), *wd = at("wd"), *first = at("first.txt");
	char *second = at("second.txt"), *text, *path = cb_fmt("%s/run.json", wd);
	char *c1 = cb_fmt("echo \"$CASEBISECT_VERDICT $CASEBISECT_EXIT_CODE\" > '%s'", first);
	char *c2 = cb_fmt("echo \"$CASEBISECT_VERDICT $CASEBISECT_EXIT_CODE\" > '%s'", second);
	struct run r;
	cJSON *o;

	run_toy(&r, wd, "--max-trials", "1", "--on-exit", c1, ds);
	cr_assert_eq(r.code, 6, "%s\n%s", r.out, r.err);
	run_release(&r);
	text = cb_read_file(first, NULL);
	cr_assert_str_eq(text ? text : "(none)", "undetermined 6\n");
	free(text);
	run(&r, "resume", "--on-exit", c2, wd);
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	run_release(&r);
	text = cb_read_file(second, NULL);
	cr_assert_str_eq(text ? text : "(none)", "culprits_found 0\n");
	free(text);
	o = read_json(path);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "options"),
								  "on_exit")), c2);
	cJSON_Delete(o);
	free(path);
	free(c1);
	free(c2);
	free(second);
	free(first);
	free(wd);
	free(ds);
}

/* Is every line of text "[HH:MM:SS] ..."? The first line that is not, or
 * NULL (the caller frees it). */
static char *unstamped_line(const char *text)
{
	size_t i, n = count_lines(text);

	for (i = 0; i < n; i++) {
		char *line = line_at(text, i);
		unsigned h, m, s;
		char close;

		if (sscanf(line, "[%2u:%2u:%2u%c", &h, &m, &s, &close) != 4 || close != ']' ||
		    line[10] != ' ')
			return line;
		free(line);
	}
	return NULL;
}

/* A run left overnight with its output in a log file, interrupted in the
 * morning: every line of stdout and stderr carries its time (the verdict's
 * block, the error and the hint too), each trial's start names its slot,
 * and a heartbeat tells what runs while a long trial runs. */
Test(progress, a_log_has_the_time_on_every_line_and_a_heartbeat)
{
	char *ds = mkcases_in("ds", 12, two_bad), *wd = at("wd"), *out = at("out"), *err = at("err");
	char *o, *e, *bad;
	int pid;

	setenv("CASEBISECT_HEARTBEAT_S", "0.3", 1);
	/* 12 cases at 200 ms: the target runs about a second */
	pid = spawn_bg(out, err, "run", "--workdir", wd, "--gpus", "none", "--prior", "none", ds,
		       "--", toy_path(), "--cases-file", "{cases_file}", "--files-file",
		       "{files_file}", "--step-ms", "400", NULL);
	unsetenv("CASEBISECT_HEARTBEAT_S");
	sleep(3);
	kill(pid, SIGINT);
	cr_assert_eq(wait_exit(pid), 5);
	o = cb_read_file(out, NULL);
	e = cb_read_file(err, NULL);
	cr_assert(o && e);
	bad = unstamped_line(o);
	cr_assert_null(bad, "a line of stdout without its time: '%s'\n%s", bad, o);
	bad = unstamped_line(e);
	cr_assert_null(bad, "a line of stderr without its time: '%s'\n%s", bad, e);
	cr_assert(strstr(o, "] trial 1 (target, 12 cases) started: slot 0, no GPU"), "%s", o);
	cr_assert(strstr(o, "] still running: trial "), "no heartbeat:\n%s", o);
	cr_assert(strstr(e, "Interrupt: ending the running trials"), "%s", e);
	cr_assert(strstr(e, "hint: continue with 'casebisect resume"), "%s", e);
	free(o);
	free(e);
	free(err);
	free(out);
	free(wd);
	free(ds);
}

/* --json-events gets the heartbeat too: what runs, for how long, and the
 * trials done, so a watcher tells a long trial from a hang. */
Test(progress, json_events_carry_the_heartbeat)
{
	char *ds = mkcases_in("ds", 12, two_bad), *wd = at("wd"), *out = at("out"), *err = at("err");
	char *o, *hb;
	int pid;

	setenv("CASEBISECT_HEARTBEAT_S", "0.3", 1);
	pid = spawn_bg(out, err, "run", "--json-events", "--workdir", wd, "--gpus", "none",
		       "--prior", "none", ds, "--", toy_path(), "--cases-file", "{cases_file}",
		       "--files-file", "{files_file}", "--step-ms", "400", NULL);
	unsetenv("CASEBISECT_HEARTBEAT_S");
	sleep(2);
	kill(pid, SIGINT);
	cr_assert_eq(wait_exit(pid), 5);
	o = cb_read_file(out, NULL);
	cr_assert(o);
	hb = strstr(o, "{\"event\":\"heartbeat\",\"running\":[{\"trial\":1,\"phase\":\"target\","
			"\"cases\":12,\"slot\":0,\"seconds\":");
	cr_assert(hb, "no heartbeat event for the target trial:\n%s", o);
	cr_assert(strstr(hb, "\"trials_done\":0,\"culprits_so_far\":0,\"time\":"), "%s", hb);
	free(o);
	free(err);
	free(out);
	free(wd);
	free(ds);
}

/* The verdict's block in a log: stamped too. */
Test(progress, the_verdict_in_a_log_is_time_stamped)
{
	char *ds = mkcases_in("ds", 12, two_bad), *wd = at("wd"), *bad;
	struct run r;

	run_toy(&r, wd, ds);
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	cr_assert(strstr(r.out, "] verdict: culprits_found\n"), "%s", r.out);
	bad = unstamped_line(r.out);
	cr_assert_null(bad, "a line without its time: '%s'\n%s", bad, r.out);
	run_release(&r);
	free(wd);
	free(ds);
}

/* stdout on a terminal (script(1) gives it one), $COLUMNS wide: the
 * status line is cut to the width and cleared before each line; under
 * TERM=dumb there is none. */
static char *on_a_terminal(const char *term, const char *wd, const char *ds)
{
	char *cmd = cb_fmt("TERM=%s COLUMNS=40 script -qec \"'%s' run --workdir '%s' --gpus none "
			   "'%s' -- '%s' --cases-file {cases_file} --files-file {files_file} "
			   "--step-ms 20\" /dev/null > '%s/tty.out' 2>&1", term, bin(), wd, ds,
			   toy_path(), tmpdir);
	char *path = cb_fmt("%s/tty.out", tmpdir), *text;

	cr_assert_eq(system(cmd), 0, "%s", cmd);
	text = cb_read_file(path, NULL);
	cr_assert(text);
	free(path);
	free(cmd);
	return text;
}

Test(progress, the_status_line_fits_the_terminal_and_not_under_term_dumb)
{
	char *ds = mkcases_in("ds", 12, two_bad), *wd = at("wd"), *wd2 = at("wd2"), *text, *p;
	size_t shown = 0;

	text = on_a_terminal("xterm", wd, ds);
	cr_assert(strstr(text, "verdict: culprits_found"), "%s", text);
	/* each status line runs from the start of a line to the "\r\033[K"
	 * that clears it */
	for (p = strstr(text, "\r\033[K"); p; p = strstr(p + 1, "\r\033[K")) {
		const char *start = p;

		while (start > text && start[-1] != '\n' && start[-1] != 'K')
			start--;
		cr_assert_leq((size_t)(p - start), 39, "a status line wider than 40 columns: '%.*s'",
			      (int)(p - start), start);
		cr_assert(!strncmp(start, "trials ", 7), "'%.*s'", (int)(p - start), start);
		shown++;
	}
	cr_assert_gt(shown, 0, "no status line on a terminal:\n%s", text);
	free(text);
	text = on_a_terminal("dumb", wd2, ds);
	cr_assert(strstr(text, "verdict: culprits_found"), "%s", text);
	cr_assert_null(strstr(text, "\033[K"), "a status line under TERM=dumb:\n%s", text);
	cr_assert_null(strstr(text, "trials 1 |"), "a status line under TERM=dumb:\n%s", text);
	free(text);
	free(wd2);
	free(wd);
	free(ds);
}

/* Ctrl-C on a terminal (timeout(1) sends the SIGINT): the status line is
 * taken back before the word that the trials are ending, not run into. */
Test(progress, ctrl_c_on_a_terminal_clears_the_status_line)
{
	char *ds = mkcases_in("ds", 12, two_bad), *wd = at("wd"), *path = at("tty.out"), *text;
	char *cmd = cb_fmt("TERM=xterm COLUMNS=80 script -qec \"timeout -s INT 2 '%s' run --workdir "
			   "'%s' --gpus none '%s' -- '%s' --cases-file {cases_file} --files-file "
			   "{files_file} --step-ms 400\" /dev/null > '%s' 2>&1", bin(), wd, ds,
			   toy_path(), path);

	(void)!system(cmd); /* exit 5, through timeout and script */
	text = cb_read_file(path, NULL);
	cr_assert(text && strstr(text, "trials 0 | running 1"), "no status line:\n%s", text);
	cr_assert(strstr(text, "\r\033[Kcasebisect: Interrupt: ending the running trials"),
		  "the status line was not cleared before the interrupt's line:\n%s", text);
	free(text);
	free(cmd);
	free(path);
	free(wd);
	free(ds);
}

/* The search's estimate counts the confirmation (--confirm 3: three runs
 * of the cases without the culprits) and, after resume, the trials the
 * journal holds; the confirmation's trials are phase "confirm" in the
 * journal, report.md and the events (trial_started, confirm). */
Test(progress, the_estimate_counts_the_confirmation_and_the_journal)
{
	char *ds = mkcases_in("ds", 12, two_bad), *wd = at("wd"), *path, *text;
	struct run r;
	size_t i, n, confirms = 0;

	run_toy(&r, wd, "--confirm", "3", "--max-trials", "2", ds);
	cr_assert_eq(r.code, 6, "%s\n%s", r.out, r.err);
	run_release(&r);
	run(&r, "resume", "--json-events", wd);
	cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
	/* 2 culprits alone, then 3 runs of the rest: 5 to go, 2 done */
	cr_assert(strstr(r.out, "{\"event\":\"estimate\",\"trials_done\":2,\"trials_left\":5,"),
		  "%s", r.out);
	cr_assert(strstr(r.out, "\"trials\":7"), "the run took other than 7 trials: %s", r.out);
	cr_assert(strstr(r.out, "{\"event\":\"confirm\","), "%s", r.out);
	cr_assert(strstr(r.out, "\"phase\":\"confirm\""), "%s", r.out);
	/* the verdict names report.md itself and the work directory */
	path = cb_fmt("\"report\":\"%s/report.md\",\"workdir\":\"%s\"", wd, wd);
	cr_assert(strstr(r.out, path), "no %s in:\n%s", path, r.out);
	free(path);
	run_release(&r);

	path = cb_fmt("%s/journal.jsonl", wd);
	text = cb_read_file(path, NULL);
	n = count_lines(text);
	for (i = 0; i < n; i++) {
		char *line = line_at(text, i);

		confirms += strstr(line, "\"phase\":\"confirm\"") != NULL ||
			    strstr(line, "\"phase\": \"confirm\"") != NULL;
		free(line);
	}
	cr_assert_eq(confirms, 3, "%s", text);
	free(text);
	free(path);
	path = cb_fmt("%s/report.md", wd);
	text = cb_read_file(path, NULL);
	cr_assert(text && strstr(text, " | confirm | 10 | PASS |"),
		  "report.md's trials name no confirm phase:\n%s", text);
	free(text);
	free(path);
	free(wd);
	free(ds);
}
