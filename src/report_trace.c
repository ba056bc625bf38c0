/* report_trace: the decisive traceback for report.md, a bounded excerpt of
 * the log of the trial the target was taken from (report_facts.h), and the
 * line splitting it shares with the bundle's excerpt.log. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_facts.h"

/* How far a traceback's header is looked for around the decisive line: a
 * Python exception's line ends its traceback (the header is before it); a
 * CUDA assertion's line comes before the traceback of the error it raises. */
#define TRACE_BACK 400
#define TRACE_AHEAD 60
/* Without a traceback: the lines before and after the decisive one. */
#define TRACE_BEFORE 5
#define TRACE_AFTER 5
/* Lines kept before a traceback's header, up to an empty one. */
#define TRACE_LEAD 2
/* A line longer than this is cut ("..." marks it). */
#define TRACE_LINE_MAX 300
/* The part of the evidence looked for in a line (the journal cuts it). */
#define TRACE_NEEDLE 160

#define TRACE_HEADER "Traceback (most recent call last):"

void rep_lines_split(struct rep_lines *l, const char *text, size_t size)
{
	size_t cap = 64, i = 0;

	memset(l, 0, sizeof(*l));
	l->at = xmalloc(cap * sizeof(*l->at));
	l->len = xmalloc(cap * sizeof(*l->len));
	while (i < size) {
		const char *nl = memchr(text + i, '\n', size - i);
		size_t end = nl ? (size_t)(nl - text) : size, len = end - i;

		if (l->n == cap) {
			cap *= 2;
			l->at = xrealloc(l->at, cap * sizeof(*l->at));
			l->len = xrealloc(l->len, cap * sizeof(*l->len));
		}
		if (len && text[i + len - 1] == '\r')
			len--;
		l->at[l->n] = text + i;
		l->len[l->n++] = len;
		i = end + 1;
	}
}

void rep_lines_release(struct rep_lines *l)
{
	free(l->at);
	free(l->len);
	memset(l, 0, sizeof(*l));
}

bool rep_line_has(const char *line, size_t len, const char *needle)
{
	return *needle && memmem(line, len, needle, strlen(needle)) != NULL;
}

static bool is_header(const struct rep_lines *l, size_t i)
{
	return rep_line_has(l->at[i], l->len[i], TRACE_HEADER);
}

/* A traceback's body: its "  File ..." lines and their source lines are
 * indented; the exception line that ends it is not. */
static bool indented(const struct rep_lines *l, size_t i)
{
	return l->len[i] && (l->at[i][0] == ' ' || l->at[i][0] == '\t');
}

/* Where the decisive line is: at its number when that line holds the
 * evidence, else the last line that does; n when none does. */
static size_t find_decisive(const struct rep_lines *l, uint64_t line, const char *evidence)
{
	char needle[TRACE_NEEDLE + 1];
	size_t i;

	cb_strlcpy(needle, evidence, sizeof(needle));
	if (!*needle)
		return l->n;
	if (line >= 1 && line <= l->n && rep_line_has(l->at[line - 1], l->len[line - 1], needle))
		return (size_t)line - 1;
	for (i = l->n; i-- > 0;)
		if (rep_line_has(l->at[i], l->len[i], needle))
			return i;
	return l->n;
}

static void add_line(struct rep_buf *b, const struct rep_lines *l, size_t i)
{
	rep_buf_add(b, l->at[i], l->len[i] > TRACE_LINE_MAX ? TRACE_LINE_MAX : l->len[i]);
	rep_buf_puts(b, l->len[i] > TRACE_LINE_MAX ? "...\n" : "\n");
}

char *rep_trace_excerpt(const char *text, size_t size, uint64_t line, const char *evidence,
			size_t *first, size_t *last)
{
	struct rep_lines l;
	struct rep_buf b = { 0 };
	size_t d, from, to, i, head;

	rep_lines_split(&l, text, size);
	d = find_decisive(&l, line, evidence);
	if (d == l.n) {
		rep_lines_release(&l);
		return NULL;
	}
	/* the traceback that ends at the decisive line */
	for (from = d + 1, i = d + 1; i-- > 0 && d - i <= TRACE_BACK;)
		if (is_header(&l, i)) {
			from = i;
			break;
		}
	if (from <= d) {
		/* what the program said just before (toytrain names the voxel) */
		for (i = 0; i < TRACE_LEAD && from > 0 && l.len[from - 1]; i++)
			from--;
		to = d;
		/* the lines the exception goes on with (PyTorch's CUDA hints) */
		while (to + 1 < l.n && to < d + TRACE_AFTER && l.len[to + 1] && !is_header(&l, to + 1))
			to++;
	} else {
		/* no traceback before it: one that follows (a CUDA assertion's), or
		 * the lines around it */
		from = d > TRACE_BEFORE ? d - TRACE_BEFORE : 0;
		to = d + TRACE_AFTER < l.n ? d + TRACE_AFTER : l.n - 1;
		for (i = d + 1; i < l.n && i <= d + TRACE_AHEAD; i++)
			if (is_header(&l, i)) {
				for (to = i + 1; to < l.n && indented(&l, to); to++)
					;
				if (to == l.n)
					to--;
				break;
			}
	}
	*first = from + 1;
	*last = to + 1;
	/* bounded: the head, a mark, and the tail, which ends the traceback */
	if (to - from + 1 > REP_TRACE_LINES) {
		head = REP_TRACE_LINES / 4;
		for (i = from; i < from + head; i++)
			add_line(&b, &l, i);
		rep_buf_printf(&b, "    [... %zu lines left out ...]\n",
			       to - from + 1 - (REP_TRACE_LINES - 1));
		from = to + 1 - (REP_TRACE_LINES - 1 - head);
	}
	for (i = from; i <= to; i++)
		add_line(&b, &l, i);
	rep_lines_release(&l);
	return rep_buf_take(&b);
}

/* The trial the target was taken from: the first target run that failed,
 * else the first failing trial. */
static const struct jrn_entry *target_trial(const struct report_input *in)
{
	const struct jrn_entry *any = NULL;
	size_t i;

	for (i = 0; i < in->ntrials; i++) {
		const struct jrn_entry *e = &in->trials[i];

		if (!rep_is_outcome(e, "FAIL"))
			continue;
		if (!strcmp(e->phase, "target"))
			return e;
		if (!any)
			any = e;
	}
	return any;
}

int rep_trace_find(const struct rep_facts *f, struct rep_trace *t)
{
	const struct report_input *in = f->in;
	const struct cls_signature *sig = in->target;
	const struct jrn_entry *e = target_trial(in);
	static const char *const logs[2] = { "stdout.log", "stderr.log" };
	size_t k;

	memset(t, 0, sizeof(*t));
	if (!sig || !e || !*sig->evidence)
		return -1;
	/* the stream result.json names first; an older one named none */
	for (k = 0; k < 2 && !t->text; k++) {
		const char *log = logs[k ? !sig->stream : sig->stream == CLS_STDERR];
		char *path = cb_fmt("%s/trials/%04llu/%s", in->workdir, (unsigned long long)e->trial,
				    log);
		size_t size;
		char *text = cb_read_file(path, &size);

		if (text)
			t->text = rep_trace_excerpt(text, size, k ? 0 : sig->line, sig->evidence,
						    &t->first, &t->last);
		if (t->text) {
			t->trial = e->trial;
			t->log = log;
		}
		free(text);
		free(path);
	}
	return t->text ? 0 : -1;
}
