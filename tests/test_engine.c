/* test_engine: the engine (run.h) in this process, without the binary:
 * run_start, run_resume and run_report on a toy dataset (examples/mkcases,
 * harness/toytrain), with a progress that records what the engine tells.
 * What the command line adds (options, exit status, the terminal) is
 * test_run.c's. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "casebisect/run.h"
#include "casebisect/util.h"
#include "helpers.h"

TestSuite(engine, .init = tmpdir_setup, .fini = tmpdir_teardown);

/* Everything the engine told, in order. */
struct told {
	char *lines, *events, *messages; /* one a line; messages as "KIND: text" */
	size_t nlines, nevents, nmessages, nstatus, nverdicts;
	size_t lines_len, events_len, messages_len;
	char verdict[32];
	size_t verdict_culprits;
	struct run_progress p;
};

static void add(char **buf, size_t *len, const char *text)
{
	append(buf, len, text, strlen(text));
	append(buf, len, "\n", 1);
}

static void on_line(void *ctx, const char *text)
{
	struct told *t = ctx;

	add(&t->lines, &t->lines_len, text);
	t->nlines++;
}

static void on_status(void *ctx, const char *text)
{
	struct told *t = ctx;

	cr_assert(strstr(text, "trials "), "a status line without trials: %s", text);
	t->nstatus++;
}

static void on_event(void *ctx, const struct cJSON *obj)
{
	struct told *t = ctx;
	char *text = cJSON_PrintUnformatted(obj);

	cr_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(obj, "time")),
		  "an event without its time: %s", text);
	add(&t->events, &t->events_len, text);
	t->nevents++;
	free(text);
}

static void on_message(void *ctx, enum run_msg kind, const char *text)
{
	static const char *const names[] = { "error", "hint", "warning", "note" };
	struct told *t = ctx;
	char *line = cb_fmt("%s: %s", names[kind], text);

	add(&t->messages, &t->messages_len, line);
	t->nmessages++;
	free(line);
}

static void on_verdict(void *ctx, const struct run_result *res)
{
	struct told *t = ctx;

	t->nverdicts++;
	cb_strlcpy(t->verdict, res->verdict, sizeof(t->verdict));
	t->verdict_culprits = res->nculprits;
}

static void told_init(struct told *t)
{
	memset(t, 0, sizeof(*t));
	t->lines = xstrdup("");
	t->events = xstrdup("");
	t->messages = xstrdup("");
	t->p.ctx = t;
	t->p.line = on_line;
	t->p.status = on_status;
	t->p.event = on_event;
	t->p.message = on_message;
	t->p.verdict = on_verdict;
}

static void told_release(struct told *t)
{
	free(t->lines);
	free(t->events);
	free(t->messages);
}

/* A run of the toy trainer on ds, in TMPDIR/wd, with no GPU. */
static const char *toy_cmd[8];

static void toy_config(struct run_config *c, const char *ds, const char *wd)
{
	static char *toy;

	if (!toy)
		toy = src_file("harness/toytrain");
	toy_cmd[0] = toy;
	toy_cmd[1] = "--cases-file";
	toy_cmd[2] = "{cases_file}";
	toy_cmd[3] = "--files-file";
	toy_cmd[4] = "{files_file}";
	toy_cmd[5] = NULL;
	run_config_init(c);
	c->dataset = ds;
	c->command = toy_cmd;
	c->workdir = wd;
	c->cwd = tmpdir;
	c->gpus = "none";
	c->pictures = 2; /* PIC_NONE: nothing here is about pictures */
}

static bool has_culprit(const struct run_result *res, const char *id)
{
	size_t i;

	for (i = 0; i < res->nculprits; i++)
		if (!strcmp(res->culprits[i], id))
			return true;
	return false;
}

Test(engine, finds_the_culprits_and_tells_each_step)
{
	static const char *const bad[] = { "case_002=9", "case_005=7", NULL };
	char *ds = mkcases_in("ds", 8, bad), *wd = cb_fmt("%s/wd", tmpdir), *path;
	struct run_config c;
	struct run_result res;
	struct told t;
	struct stat st;

	told_init(&t);
	toy_config(&c, ds, wd);
	cr_assert_eq(run_start(&c, &t.p, &res), RUN_EXIT_OK, "%s\n%s", t.lines, t.messages);
	cr_assert_eq(res.exit, RUN_EXIT_OK);
	cr_assert_str_eq(res.verdict, "culprits_found");
	cr_assert_eq(res.nculprits, 2, "%s", t.lines);
	cr_assert(has_culprit(&res, "case_002") && has_culprit(&res, "case_005"));
	cr_assert_null(res.culprits[2]);
	cr_assert_gt(res.trials, 3, "%zu trials", res.trials);
	cr_assert(res.report_written && res.bundle_written);
	cr_assert_str_eq(res.workdir, wd);
	path = cb_fmt("%s/report.json", wd);
	cr_assert(stat(path, &st) == 0, "no report.json");
	free(path);
	/* the lines a user reads, in order, and one verdict at the end */
	cr_assert(strstr(t.lines, "dataset: ") && strstr(t.lines, "8 cases"), "%s", t.lines);
	cr_assert(strstr(t.lines, "trial 1 (target, 8 cases): FAIL"), "%s", t.lines);
	cr_assert(strstr(t.lines, "culprit: case_002") && strstr(t.lines, "culprit: case_005"),
		  "%s", t.lines);
	cr_assert(strstr(t.lines, "work directory: ") < strstr(t.lines, "trial 1 "), "%s", t.lines);
	cr_assert_eq(t.nverdicts, 1);
	cr_assert_str_eq(t.verdict, "culprits_found");
	cr_assert_eq(t.verdict_culprits, 2);
	/* the same steps as events, each trial started and finished */
	cr_assert(strstr(t.events, "\"event\":\"trial_started\""), "%s", t.events);
	cr_assert(strstr(t.events, "\"event\":\"trial_finished\""), "%s", t.events);
	cr_assert(strstr(t.events, "\"event\":\"culprit\",\"case\":\"case_002\""), "%s", t.events);
	cr_assert_eq(t.nmessages, 0, "%s", t.messages);
	cr_assert_gt(t.nstatus, 0, "no status line");
	run_result_release(&res);
	told_release(&t);
	free(wd);
	free(ds);
}

/* Out of trials: undetermined with a word on resuming; run_resume goes on
 * from the journal and finds the culprit without running trial 1 again;
 * run_report renders it again, telling nothing. */
Test(engine, resumes_where_max_trials_stopped)
{
	static const char *const bad[] = { "case_003=9", NULL };
	char *ds = mkcases_in("ds", 6, bad), *wd = cb_fmt("%s/wd", tmpdir);
	struct run_config c;
	struct run_result res;
	struct told t;

	told_init(&t);
	toy_config(&c, ds, wd);
	c.max_trials = 1;
	cr_assert_eq(run_start(&c, &t.p, &res), RUN_EXIT_UNDETERMINED, "%s\n%s", t.lines,
		     t.messages);
	cr_assert_str_eq(res.verdict, "undetermined");
	cr_assert_eq(res.trials, 1);
	cr_assert(strstr(res.explanation, "casebisect resume"), "%s", res.explanation);
	run_result_release(&res);
	told_release(&t);

	told_init(&t);
	cr_assert_eq(run_resume(wd, 0, 0, NULL, &t.p, &res), RUN_EXIT_OK, "%s\n%s", t.lines,
		     t.messages);
	cr_assert(strstr(t.lines, "resuming ") && strstr(t.lines, "journal: 1 finished trial, not run again"),
		  "%s", t.lines);
	cr_assert_null(strstr(t.lines, "trial 1 (target"), "trial 1 ran again:\n%s", t.lines);
	cr_assert_str_eq(res.verdict, "culprits_found");
	cr_assert_eq(res.nculprits, 1);
	cr_assert_str_eq(res.culprits[0], "case_003");
	run_result_release(&res);
	told_release(&t);

	told_init(&t);
	cr_assert_eq(run_report(wd, &t.p, &res), RUN_EXIT_OK, "%s", t.messages);
	cr_assert_str_eq(res.verdict, "culprits_found");
	cr_assert_eq(t.nlines + t.nevents + t.nverdicts + t.nmessages, 0,
		     "a report should tell nothing:\n%s%s", t.lines, t.messages);
	run_result_release(&res);
	told_release(&t);
	free(wd);
	free(ds);
}

/* What cannot start says why and what to do, as messages, and writes
 * nothing. */
Test(engine, refusals_are_an_error_and_a_hint)
{
	char *ds = mkcases_in("ds", 4, NULL), *wd = cb_fmt("%s/wd", tmpdir);
	struct run_config c;
	struct run_result res;
	struct told t;
	const char *missing[] = { "/nonexistent/trainer", "{cases_file}", NULL };

	told_init(&t);
	toy_config(&c, ds, wd);
	c.command = missing;
	cr_assert_eq(run_start(&c, &t.p, &res), RUN_EXIT_ERROR);
	cr_assert(strstr(t.messages, "error: cannot run '/nonexistent/trainer'"), "%s", t.messages);
	cr_assert(strstr(t.messages, "\nhint: give the trainer's full path"), "%s", t.messages);
	cr_assert_eq(t.nmessages, 2, "%s", t.messages);
	cr_assert_eq(t.nverdicts + t.nlines, 0);
	cr_assert_str_eq(res.verdict, "");
	run_result_release(&res);
	told_release(&t);

	told_init(&t);
	mkdir_at("wd");
	put("wd/something", "x");
	toy_config(&c, ds, wd);
	cr_assert_eq(run_start(&c, &t.p, &res), RUN_EXIT_ERROR);
	cr_assert(strstr(t.messages, "error: --workdir '") &&
		  strstr(t.messages, "exists and is not empty"), "%s", t.messages);
	cr_assert(strstr(t.messages, "hint: give a new folder"), "%s", t.messages);
	run_result_release(&res);
	told_release(&t);

	/* with no progress at all, the engine is quiet and still answers */
	cr_assert_eq(run_resume(ds, 0, 0, NULL, NULL, &res), RUN_EXIT_ERROR);
	run_result_release(&res);
	free(wd);
	free(ds);
}
