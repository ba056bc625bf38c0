/* cmd_progress: how a run looks on the terminal (contract in cli.h): the
 * engine (src/run.c) tells, this file prints. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "casebisect/cli.h"
#include "casebisect/json.h"

static_assert((int)RUN_EXIT_OK == (int)CB_EXIT_OK && (int)RUN_EXIT_ERROR == (int)CB_EXIT_ERROR &&
	      (int)RUN_EXIT_USAGE == (int)CB_EXIT_USAGE &&
	      (int)RUN_EXIT_NOT_REPRODUCED == (int)CB_EXIT_NOT_REPRODUCED &&
	      (int)RUN_EXIT_NOT_DATA == (int)CB_EXIT_NOT_DATA &&
	      (int)RUN_EXIT_INTERRUPTED == (int)CB_EXIT_INTERRUPTED &&
	      (int)RUN_EXIT_UNDETERMINED == (int)CB_EXIT_UNDETERMINED,
	      "a run's exit is its command's exit status");

enum cb_exit cmd_exit_of(enum run_exit e)
{
	return (enum cb_exit)e;
}

static void clear_status(struct cmd_progress *cp)
{
	if (cp->status_shown) {
		fputs("\r\033[K", stdout);
		cp->status_shown = false;
	}
}

/* A line for people (not in JSON mode), with the time of day when stdout
 * is a log file. */
static void on_line(void *ctx, const char *text)
{
	struct cmd_progress *cp = ctx;

	if (cp->mode == RUN_EVENTS_JSON)
		return;
	clear_status(cp);
	if (!cp->tty) {
		char stamp[32];
		time_t t = time(NULL);
		struct tm tm;

		localtime_r(&t, &tm);
		strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
		printf("[%s] ", stamp);
	}
	printf("%s\n", text);
	fflush(stdout);
}

static void on_status(void *ctx, const char *text)
{
	struct cmd_progress *cp = ctx;

	if (!cp->tty || cp->mode == RUN_EVENTS_JSON)
		return;
	clear_status(cp);
	printf("%s", text);
	fflush(stdout);
	cp->status_shown = true;
}

static void print_event(const cJSON *obj)
{
	char *text = cJSON_PrintUnformatted(obj);

	if (!text)
		die("out of memory printing JSON");
	puts(text);
	fflush(stdout);
	free(text);
}

static void on_event(void *ctx, const struct cJSON *obj)
{
	struct cmd_progress *cp = ctx;

	if (cp->mode == RUN_EVENTS_JSON)
		print_event(obj);
}

static void on_message(void *ctx, enum run_msg kind, const char *text)
{
	struct cmd_progress *cp = ctx;

	if (kind == RUN_MSG_WARNING && cp->mode != RUN_EVENTS_JSON) {
		char *line = cb_fmt("warning: %s", text);

		on_line(cp, line);
		free(line);
		return;
	}
	clear_status(cp);
	fflush(stdout);
	switch (kind) {
	case RUN_MSG_ERROR: cli_error("%s", text); break;
	case RUN_MSG_HINT: fprintf(stderr, "hint: %s\n", text); break;
	case RUN_MSG_WARNING: fprintf(stderr, "casebisect: warning: %s\n", text); break;
	case RUN_MSG_NOTE: fprintf(stderr, "casebisect: %s\n", text); break;
	}
}

/* Prints a paragraph wrapped at 76 columns, at spaces. */
static void print_wrapped(const char *text)
{
	const char *p = text;

	while (*p) {
		size_t n = strlen(p), cut = n;

		if (n > 76) {
			for (cut = 76; cut > 0 && p[cut] != ' '; cut--)
				;
			if (!cut)
				cut = 76;
		}
		printf("%.*s\n", (int)cut, p);
		p += cut;
		while (*p == ' ')
			p++;
	}
}

static void on_verdict(void *ctx, const struct run_result *res)
{
	struct cmd_progress *cp = ctx;
	size_t i;

	if (cp->mode == RUN_EVENTS_JSON) {
		cJSON *o = json_object(), *a = cJSON_CreateArray();
		struct timeval tv;

		json_add_str(o, "event", "verdict");
		json_add_str(o, "verdict", res->verdict);
		for (i = 0; i < res->nculprits; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(res->culprits[i]));
		cJSON_AddItemToObject(o, "culprits", a);
		json_add_num(o, "trials", (double)res->trials, true);
		if (res->report_written)
			json_add_str(o, "report", res->workdir);
		gettimeofday(&tv, NULL);
		json_add_num(o, "time", (double)tv.tv_sec + (double)tv.tv_usec / 1e6, true);
		print_event(o);
		cJSON_Delete(o);
		return;
	}
	clear_status(cp);
	printf("\nverdict: %s\n", res->verdict);
	for (i = 0; i < res->nculprits; i++)
		printf("  %s: %s\n", !strcmp(res->verdict, "minimal_subset") ? "in the subset" :
		       !strcmp(res->verdict, "undetermined") ? "culprit (confirmed so far)" :
		       "culprit", res->culprits[i]);
	for (i = 0; i < res->nundecided; i++)
		printf("  undecided: %s\n", res->undecided[i]);
	print_wrapped(res->explanation);
	if (res->confidence)
		print_wrapped(res->confidence);
	printf("trials: %zu, wall time %.1f s\n", res->trials, res->wall_s);
	if (res->report_written)
		printf("report: %s/report.md\n        %s/report.json\n", res->workdir, res->workdir);
	if (res->bundle_written)
		printf("bundle: %s/bundle.tar.gz\n"
		       "  It holds copies of the cases' image and label files, which may be\n"
		       "  patients' data: do not attach it anywhere without the right to share it.\n",
		       res->workdir);
	fflush(stdout);
}

void cmd_progress_init(struct cmd_progress *cp, enum run_events events)
{
	memset(cp, 0, sizeof(*cp));
	cp->mode = events;
	cp->tty = events == RUN_EVENTS_AUTO && isatty(STDOUT_FILENO);
	cp->p.ctx = cp;
	cp->p.line = on_line;
	cp->p.status = on_status;
	cp->p.event = on_event;
	cp->p.message = on_message;
	cp->p.verdict = on_verdict;
}

enum cb_exit cmd_run_start(const struct run_config *c)
{
	struct cmd_progress cp;
	struct run_result res;
	enum cb_exit ret;

	cmd_progress_init(&cp, c->events);
	ret = cmd_exit_of(run_start(c, &cp.p, &res));
	run_result_release(&res);
	return ret;
}
