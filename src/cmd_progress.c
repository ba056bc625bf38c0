/* cmd_progress: how a run looks on the terminal (contract in cli.h): the
 * engine (src/run.c) tells, this file prints. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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
		fflush(stdout);
		cp->status_shown = false;
	}
}

/* "[HH:MM:SS] " before a line that goes to a log file, not a terminal. */
static void stamp(FILE *f)
{
	char text[32];
	time_t t = time(NULL);
	struct tm tm;

	if (isatty(fileno(f)))
		return;
	localtime_r(&t, &tm);
	strftime(text, sizeof(text), "%H:%M:%S", &tm);
	fprintf(f, "[%s] ", text);
}

void cmd_say(const char *fmt, ...)
{
	va_list ap;

	stamp(stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}


/* A line for people (not in JSON mode), with the time of day when stdout
 * is a log file. */
static void on_line(void *ctx, const char *text)
{
	struct cmd_progress *cp = ctx;

	if (cp->mode == RUN_EVENTS_JSON)
		return;
	clear_status(cp);
	cmd_say("%s", text);
	fflush(stdout);
}

/* The terminal's width: TIOCGWINSZ, else $COLUMNS, else 80. */
static size_t term_width(void)
{
	struct winsize ws;
	const char *cols = getenv("COLUMNS");
	long n;

	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col > 0)
		return ws.ws_col;
	n = cols ? strtol(cols, NULL, 10) : 0;
	return n > 0 && n < 10000 ? (size_t)n : 80;
}

/* The status line, cut to fit the terminal (a line that wraps could not
 * be cleared by the next one); NULL clears it. */
static void on_status(void *ctx, const char *text)
{
	struct cmd_progress *cp = ctx;
	size_t width, len;

	if (!cp->status_ok)
		return;
	clear_status(cp);
	if (!text)
		return;
	width = term_width();
	len = strlen(text);
	if (len >= width) /* the last column: some terminals wrap there */
		len = width > 1 ? width - 1 : 0;
	printf("%.*s", (int)len, text);
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
	stamp(stderr);
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
		cmd_say("%.*s", (int)cut, p);
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
		if (res->report_written) {
			char *md = cb_path_join(res->workdir, "report.md");

			json_add_str(o, "report", md);
			free(md);
		}
		json_add_str(o, "workdir", res->workdir);
		gettimeofday(&tv, NULL);
		json_add_num(o, "time", (double)tv.tv_sec + (double)tv.tv_usec / 1e6, true);
		print_event(o);
		cJSON_Delete(o);
		return;
	}
	clear_status(cp);
	if (cp->tty)
		putchar('\n'); /* in a log, the time stamps set the block apart */
	cmd_say("verdict: %s", res->verdict);
	for (i = 0; i < res->nculprits; i++)
		cmd_say("  %s: %s", !strcmp(res->verdict, "minimal_subset") ? "in the subset" :
			 !strcmp(res->verdict, "undetermined") ? "culprit (confirmed so far)" :
			 "culprit", res->culprits[i]);
	for (i = 0; i < res->nundecided; i++)
		cmd_say("  undecided: %s", res->undecided[i]);
	print_wrapped(res->explanation);
	if (res->confidence)
		print_wrapped(res->confidence);
	cmd_say("trials: %zu, wall time %.1f s", res->trials, res->wall_s);
	if (res->report_written) {
		cmd_say("report: %s/report.md", res->workdir);
		cmd_say("        %s/report.json", res->workdir);
	}
	if (res->bundle_written) {
		cmd_say("bundle: %s/bundle.tar.gz", res->workdir);
		cmd_say("  It holds copies of the cases' image and label files, which may be");
		cmd_say("  patients' data: do not attach it anywhere without the right to share it.");
	}
	if (res->synthetic) {
		cmd_say("synthetic: %s", res->synthetic);
		cmd_say("  %s", res->synthetic_note);
	}
	fflush(stdout);
}

void cmd_progress_init(struct cmd_progress *cp, enum run_events events)
{
	memset(cp, 0, sizeof(*cp));
	cp->mode = events;
	cp->tty = events == RUN_EVENTS_AUTO && isatty(STDOUT_FILENO);
	/* no status line where a terminal cannot take it back (TERM=dumb:
	 * Emacs shell buffers, some CI consoles) */
	cp->status_ok = cp->tty && !(getenv("TERM") && !strcmp(getenv("TERM"), "dumb"));
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
