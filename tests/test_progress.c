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

static const char *toy_path(void)
{
	static char *toy;

	if (!toy)
		toy = src_file("harness/toytrain");
	return toy;
}

#define toy_run(r, wd, ...)                                                                  \
	run(r, "run", "--workdir", wd, "--gpus", "none", __VA_ARGS__, "--", toy_path(),         \
	    "--cases-file", "{cases_file}", "--files-file", "{files_file}")

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

	toy_run(&r, wd, "--on-exit", cmd, ds);
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

	toy_run(&r, wd, "--max-trials", "1", "--on-exit", c1, ds);
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
