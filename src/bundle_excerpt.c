/* bundle_excerpt: the bundle's excerpt.log, the lines around the decisive
 * error in a failing trial's logs (the trial the bundle reruns first). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"

/* excerpt.log: lines before and after the decisive line; lines of the
 * other stream (or of a log without the line) from its end. */
#define EXCERPT_BEFORE 40
#define EXCERPT_AFTER 15
#define EXCERPT_TAIL 15
/* Failing trials tried for excerpt.log before giving up on finding logs. */
#define EXCERPT_TRIES 20
/* The part of a journal evidence line searched for in a log (the journal
 * cuts evidence at 512 bytes and may have replaced invalid UTF-8). */
#define NEEDLE_MAX 160

/* Lines [from, to) of l, numbered, the decisive one marked '>'. */
static void excerpt_lines(struct rep_buf *b, const struct rep_lines *l, size_t from, size_t to, size_t mark)
{
	size_t i;

	for (i = from; i < to; i++) {
		rep_buf_printf(b, "%c%6zu  ", i == mark ? '>' : ' ', i + 1);
		rep_buf_add(b, l->at[i], l->len[i]);
		rep_buf_puts(b, "\n");
	}
}

/* One log of a trial: around the line holding needle when it does, else
 * its last lines. Returns whether the log could be read. */
static bool excerpt_log(struct rep_buf *b, const char *path, const char *shown, const char *needle,
			bool *found)
{
	size_t size, i, from, to, mark = SIZE_MAX;
	char *text = cb_read_file(path, &size);
	struct rep_lines l;

	if (!text)
		return false;
	rep_lines_split(&l, text, size);
	for (i = 0; i < l.n && mark == SIZE_MAX && !*found; i++)
		if (rep_line_has(l.at[i], l.len[i], needle))
			mark = i;
	if (mark != SIZE_MAX) {
		*found = true;
		from = mark > EXCERPT_BEFORE ? mark - EXCERPT_BEFORE : 0;
		to = mark + EXCERPT_AFTER + 1 < l.n ? mark + EXCERPT_AFTER + 1 : l.n;
		rep_buf_printf(b, "==> %s: lines %zu-%zu of %zu, the decisive line marked '>' <==\n",
			   shown, from + 1, to, l.n);
	} else {
		from = l.n > EXCERPT_TAIL ? l.n - EXCERPT_TAIL : 0;
		to = l.n;
		rep_buf_printf(b, "==> %s: its last %zu line%s of %zu <==\n", shown, to - from,
			   rep_plural(to - from), l.n);
	}
	excerpt_lines(b, &l, from, to, mark);
	rep_buf_puts(b, "\n");
	rep_lines_release(&l);
	free(text);
	return true;
}

/* Is every case of e a culprit? */
static bool only_culprits(const struct rep_facts *f, const struct jrn_entry *e)
{
	size_t r, c, k;

	for (r = 0; r < e->nranges; r++)
		for (c = e->ranges[r].first; c <= e->ranges[r].last; c++) {
			for (k = 0; k < f->ncul && f->in->culprits[k] != c; k++)
				;
			if (k == f->ncul)
				return false;
		}
	return e->ncases > 0;
}

/* A failing trial, with what orders it for the excerpt. */
struct fail_ref {
	const struct jrn_entry *e;
	bool only; /* of culprits only */
};

/* Trials of culprits only first (what the bundle reruns), then smaller
 * subsets, then earlier trials. */
static int cmp_fail_ref(const void *a, const void *b)
{
	const struct fail_ref *x = a, *y = b;

	if (x->only != y->only)
		return x->only ? -1 : 1;
	if (x->e->ncases != y->e->ncases)
		return x->e->ncases < y->e->ncases ? -1 : 1;
	return x->e->trial < y->e->trial ? -1 : x->e->trial > y->e->trial;
}

/* A failing trial whose logs are there, around its decisive line. */
char *rep_excerpt_text(const struct rep_facts *f)
{
	const struct report_input *in = f->in;
	struct fail_ref *fails = xcalloc(in->ntrials + 1, sizeof(*fails));
	struct rep_buf b = { 0 };
	size_t n = 0, i, s;

	for (i = 0; i < in->ntrials; i++)
		if (rep_is_outcome(&in->trials[i], "FAIL")) {
			fails[n].e = &in->trials[i];
			fails[n++].only = only_culprits(f, &in->trials[i]);
		}
	qsort(fails, n, sizeof(*fails), cmp_fail_ref);
	for (i = 0; i < n && i < EXCERPT_TRIES && !b.len; i++) {
		const struct jrn_entry *e = fails[i].e;
		char needle[NEEDLE_MAX + 1];
		struct rep_buf logs = { 0 };
		bool found = false, any = false;
		static const char *const streams[] = { "stderr.log", "stdout.log" };

		/* Cut the needle before a U+FFFD: the journal's replacement of a
		 * byte the log holds as it was. */
		cb_strlcpy(needle, e->evidence, sizeof(needle));
		needle[strcspn(needle, "\xef")] = '\0';
		for (s = 0; s < 2; s++) {
			char *shown = cb_fmt("trials/%04llu/%s", (unsigned long long)e->trial, streams[s]);
			char *path = cb_path_join(in->workdir, shown);

			any |= excerpt_log(&logs, path, shown, needle, &found);
			free(path);
			free(shown);
		}
		if (!any) {
			free(rep_buf_take(&logs));
			continue;
		}
		rep_buf_printf(&b, "# casebisect: trial %llu (%zu case%s) ended FAIL (%s)",
			   (unsigned long long)e->trial, e->ncases, rep_plural(e->ncases), e->klass);
		if (*e->evidence)
			rep_buf_printf(&b, "; its decisive line:\n#   %s", e->evidence);
		rep_buf_puts(&b, "\n\n");
		rep_buf_add(&b, logs.s, logs.len);
		free(rep_buf_take(&logs));
	}
	if (!b.len)
		rep_buf_puts(&b, "# casebisect: no failing trial's logs were found under trials/\n");
	free(fails);
	return rep_buf_take(&b);
}

