/* report_html: report.html, a timeline, the shrink curve and the culprits'
 * pictures; the contract is in include/casebisect/report_html.h. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casebisect/pictures.h"
#include "casebisect/report.h"
#include "casebisect/report_html.h"
#include "casebisect/util.h"

/* The charts' geometry, in SVG user units (= CSS pixels). */
#define TL_LABEL_W 170
#define TL_PLOT_W 900
#define TL_ROW_H 22
#define TL_AXIS_H 30
#define SH_W 1000
#define SH_H 300
#define SH_LEFT 60
#define SH_BOTTOM 40

/* Text as HTML: & < > " ' escaped (safe in elements and quoted attributes). */
static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++)
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
}

static const char *outcome_class(const char *o)
{
	return !strcmp(o, "PASS") ? "PASS" : !strcmp(o, "FAIL") ? "FAIL" : "UNRESOLVED";
}

/* "0.25 s", "45 s", "12 min", "3.2 h" for an axis whose ticks are step
 * seconds apart. */
static void fmt_time(double s, double step, char *buf, size_t n)
{
	if (step < 1)
		snprintf(buf, n, "%.*f s", (int)ceil(-log10(step) - 1e-9), s);
	else if (s < 120)
		snprintf(buf, n, "%.0f s", s);
	else if (s < 7200)
		snprintf(buf, n, "%.0f min", s / 60);
	else
		snprintf(buf, n, "%.1f h", s / 3600);
}

/* A round step giving about 8 ticks over span. */
static double tick_step(double span)
{
	double raw = span / 8, mag, r;

	if (!(raw > 0))
		return 1;
	mag = pow(10, floor(log10(raw)));
	r = raw / mag;
	return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
}

/* ---- the timeline ---- */

struct lane {
	int slot, gpu;
	const char *node;
};

static int lane_cmp(const struct lane *a, const struct lane *b)
{
	int c = strcmp(a->node, b->node);

	if (a->slot != b->slot)
		return a->slot < b->slot ? -1 : 1;
	if (c)
		return c;
	return (a->gpu > b->gpu) - (a->gpu < b->gpu);
}

static int lane_qcmp(const void *a, const void *b)
{
	return lane_cmp(a, b);
}

static size_t lane_of(const struct lane *lanes, size_t n, const struct jrn_entry *e)
{
	struct lane k = { e->slot, e->gpu, e->node };
	size_t i;

	for (i = 0; i < n; i++)
		if (!lane_cmp(&lanes[i], &k))
			return i;
	assert(!"every trial has a lane");
	return 0;
}

static void timeline(FILE *f, const struct report_input *in)
{
	struct lane *lanes = xcalloc(in->ntrials + 1, sizeof(*lanes));
	size_t nl = 0, i, j;
	double t0 = INFINITY, t1 = -INFINITY, span, step, t;
	int h;
	char buf[64];

	for (i = 0; i < in->ntrials; i++) {
		const struct jrn_entry *e = &in->trials[i];
		struct lane k = { e->slot, e->gpu, e->node };

		t0 = fmin(t0, e->start);
		t1 = fmax(t1, e->start + e->duration_s);
		for (j = 0; j < nl && lane_cmp(&lanes[j], &k); j++)
			;
		if (j == nl)
			lanes[nl++] = k;
	}
	qsort(lanes, nl, sizeof(*lanes), lane_qcmp);
	span = in->ntrials && t1 > t0 ? t1 - t0 : 1;
	h = (int)nl * TL_ROW_H + TL_AXIS_H;
	fprintf(f, "<h2>Timeline</h2>\n<p class=\"caption\">Each bar is a trial, from its start "
		"for as long as it ran, on the slot (GPU, node) that ran it: "
		"<span class=\"key PASS\">PASS</span> <span class=\"key FAIL\">FAIL</span> "
		"<span class=\"key UNRESOLVED\">UNRESOLVED</span>. Time runs from the first "
		"trial's start; hover a bar for the trial.</p>\n");
	fprintf(f, "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\">\n", TL_LABEL_W + TL_PLOT_W + 20, h,
		TL_LABEL_W + TL_PLOT_W + 20, h);
	for (i = 0; i < nl; i++) {
		fprintf(f, "<text class=\"lane\" x=\"4\" y=\"%zu\">", i * TL_ROW_H + 15);
		if (lanes[i].node[0]) {
			esc(f, lanes[i].node);
			fputc(' ', f);
		}
		if (lanes[i].gpu >= 0)
			fprintf(f, "GPU %d ", lanes[i].gpu);
		else if (!lanes[i].node[0])
			fputs("CPU ", f);
		fprintf(f, "slot %d</text>\n", lanes[i].slot);
	}
	step = tick_step(span);
	for (t = 0; t <= span + 1e-9; t += step) {
		double x = TL_LABEL_W + t / span * TL_PLOT_W;

		fmt_time(t, step, buf, sizeof(buf));
		fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"0\" x2=\"%.1f\" y2=\"%zu\"/>"
			"<text class=\"tick\" x=\"%.1f\" y=\"%zu\">%s</text>\n", x, x,
			nl * TL_ROW_H, x, nl * TL_ROW_H + 16, buf);
	}
	for (i = 0; i < in->ntrials; i++) {
		const struct jrn_entry *e = &in->trials[i];
		size_t l = lane_of(lanes, nl, e);
		double x = TL_LABEL_W + (e->start - t0) / span * TL_PLOT_W;
		double w = fmax(e->duration_s / span * TL_PLOT_W, 2);

		fprintf(f, "<rect class=\"trial %s\" x=\"%.1f\" y=\"%zu\" width=\"%.1f\" "
			"height=\"%d\"><title>trial %llu (", outcome_class(e->outcome), x,
			l * TL_ROW_H + 3, w, TL_ROW_H - 6, (unsigned long long)e->trial);
		esc(f, e->phase[0] ? e->phase : "-");
		fprintf(f, ", %zu case%s): %s", e->ncases, e->ncases == 1 ? "" : "s", e->outcome);
		if (e->reason[0]) {
			fputs(" (", f);
			esc(f, e->reason);
			fputc(')', f);
		}
		fprintf(f, " in %.1f s</title></rect>\n", e->duration_s);
	}
	fputs("<text class=\"tick\" x=\"4\" y=\"", f);
	fprintf(f, "%zu\">wall time</text>\n</svg>\n", nl * TL_ROW_H + 16);
	free(lanes);
}

/* ---- the shrink curve ---- */

/* suspect[t] = cases still suspect after t trials (t = 0..ntrials). The
 * journal's entries hold their subsets as index ranges into the dataset. */
static size_t *suspects_after(const struct report_input *in)
{
	size_t n = in->ds->ncases, i, j, left = n;
	size_t *s = xcalloc(in->ntrials + 1, sizeof(*s));
	unsigned char *cleared = xcalloc(n + 1, 1);

	s[0] = n;
	for (i = 0; i < in->ntrials; i++) {
		const struct jrn_entry *e = &in->trials[i];

		if (!strcmp(e->outcome, "PASS"))
			for (j = 0; j < e->nranges; j++) {
				size_t c;

				for (c = e->ranges[j].first; c <= e->ranges[j].last && c < n; c++)
					if (!cleared[c]) {
						cleared[c] = 1;
						left--;
					}
			}
		s[i + 1] = left;
	}
	free(cleared);
	return s;
}

static void shrink(FILE *f, const struct report_input *in)
{
	size_t *s = suspects_after(in), n = in->ds->ncases, t, nt = in->ntrials;
	double pw = SH_W - SH_LEFT - 20, ph = SH_H - SH_BOTTOM - 10, ymax = n ? (double)n : 1;
	double step, v;

	fprintf(f, "<h2>Shrink curve</h2>\n<p class=\"caption\">Cases still suspect after each "
		"trial, in the journal's order. The rule: every case starts suspect, and a case "
		"stays suspect until a trial that held it passes (a failing trial clears nothing: "
		"a culprit elsewhere in its subset may have caused it). The dashed line is the "
		"number of culprits found (%zu); cases cleared only by the verdict's reasoning, "
		"never by a pass of their own, stay above it.</p>\n", in->nculprits);
	fprintf(f, "<svg id=\"shrink\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\">\n", SH_W, SH_H, SH_W, SH_H);
	step = tick_step(ymax);
	for (v = 0; v <= ymax + 1e-9; v += step) {
		double y = 10 + ph - v / ymax * ph;

		fprintf(f, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
			"<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>\n",
			SH_LEFT, y, SH_LEFT + pw, y, SH_LEFT - 6, y + 4, v);
	}
	step = nt ? tick_step((double)nt) : 1;
	if (step < 1)
		step = 1;
	for (v = 0; v <= (double)nt + 1e-9; v += step) {
		double x = SH_LEFT + (nt ? v / (double)nt : 0) * pw;

		fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f"
			"</text>\n", x, 10 + ph + 16, v);
	}
	fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">trials "
		"finished</text>\n", SH_LEFT + pw / 2, SH_H - 4);
	{
		double y = 10 + ph - (double)in->nculprits / ymax * ph;

		fprintf(f, "<line class=\"culprits\" x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" "
			"y2=\"%.1f\"/>\n", SH_LEFT, y, SH_LEFT + pw, y);
	}
	fputs("<polyline class=\"suspects\" points=\"", f);
	for (t = 0; t <= nt; t++) {
		double x = SH_LEFT + (nt ? (double)t / (double)nt : 0) * pw;
		double y = 10 + ph - (double)s[t] / ymax * ph;

		fprintf(f, "%s%.1f,%.1f", t ? " " : "", x, y);
	}
	fputs("\"/>\n", f);
	for (t = 0; t <= nt; t++) {
		double x = SH_LEFT + (nt ? (double)t / (double)nt : 0) * pw;
		double y = 10 + ph - (double)s[t] / ymax * ph;

		fprintf(f, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\"><title>after "
			"%zu trial%s: %zu suspect</title></circle>\n", x, y, t, t == 1 ? "" : "s",
			s[t]);
	}
	fputs("</svg>\n", f);
	free(s);
}

/* ---- the page ---- */

static void pictures(FILE *f, const struct report_input *in, const struct pic_set *p)
{
	size_t i;

	if (!p || (!p->nitems && !p->nwarnings)) {
		if (in->nculprits)
			fprintf(f, "<h2>Culprits' labels</h2>\n<p class=\"caption\">No pictures%s."
				"</p>\n", p && p->mode == PIC_NONE ? " (--pictures none)" : "");
		return;
	}
	fprintf(f, "<h2>Culprits' labels</h2>\n<p class=\"caption\">For each culprit, the axial "
		"slice (fixed k, the NIfTI's third voxel axis) of its label holding most of the "
		"voxels whose values crash training, in red, framed in yellow; %s. Image x to the "
		"right, y upwards.</p>\n", p->mode == PIC_IMAGE ?
		"over the case's first image in grey (patient data: share with care)" :
		"the label alone: background black, other labels in grey (no image was read)");
	for (i = 0; i < p->nitems; i++) {
		const struct pic_item *it = &p->items[i];
		const char *id = in->ds->cases[it->case_index].id;

		fprintf(f, "<figure><img class=\"culprit\" id=\"culprit-%zu\" src=\"", i + 1);
		esc(f, it->file);
		fprintf(f, "\" width=\"%d\" height=\"%d\" alt=\"", it->width, it->height);
		esc(f, id);
		fputs("\"><figcaption>", f);
		esc(f, id);
		fprintf(f, ": slice k=%lld of %lld, %llu of the %llu crashing voxels (<a href=\"",
			(long long)it->z, (long long)it->nz, (unsigned long long)it->voxels,
			(unsigned long long)it->total);
		esc(f, it->file);
		fputs("\">", f);
		esc(f, it->file);
		fputs("</a>)</figcaption></figure>\n", f);
	}
	if (p->nwarnings) {
		fputs("<ul class=\"warnings\">\n", f);
		for (i = 0; i < p->nwarnings; i++) {
			fputs("<li>warning: ", f);
			esc(f, p->warnings[i]);
			fputs("</li>\n", f);
		}
		fputs("</ul>\n", f);
	}
}

static const char style[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1120px}"
	"h1{font-size:22px}h2{font-size:18px;margin-top:28px}"
	".caption{color:#555;max-width:900px}"
	"svg{background:#fafafa;border:1px solid #ddd}"
	".trial.PASS,.key.PASS{fill:#2ca02c;background:#2ca02c}"
	".trial.FAIL,.key.FAIL{fill:#d62728;background:#d62728}"
	".trial.UNRESOLVED,.key.UNRESOLVED{fill:#999;background:#999}"
	".key{color:#fff;padding:0 4px;border-radius:3px}"
	".lane,.tick{font-size:11px;fill:#333}.grid{stroke:#e3e3e3}"
	".suspects{fill:none;stroke:#1f77b4;stroke-width:2}.point{fill:#1f77b4}"
	".culprits{stroke:#d62728;stroke-dasharray:6 4}"
	"figure{display:inline-block;margin:8px}figcaption{font-size:12px;color:#444}"
	".warnings{color:#a60}code{background:#f3f3f3;padding:0 3px}";

char *rhtml_text(const struct report_input *in, const struct pic_set *pics)
{
	char *text = NULL, *clean;
	size_t len = 0, i;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		die("report.html: out of memory");
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
		"<title>casebisect: ");
	esc(f, in->verdict);
	fprintf(f, "</title>\n<style>%s</style></head>\n<body>\n<h1>casebisect: ", style);
	esc(f, in->verdict);
	fputs("</h1>\n", f);
	if (in->nculprits) {
		fputs("<p id=\"culprits\">", f);
		fputs(!strcmp(in->verdict, "minimal_subset") ? "In the subset: " : "Culprits: ", f);
		for (i = 0; i < in->nculprits; i++) {
			fputs(i ? ", <code>" : "<code>", f);
			esc(f, in->ds->cases[in->culprits[i]].id);
			fputs("</code>", f);
		}
		fputs("</p>\n", f);
	}
	if (in->explanation && *in->explanation) {
		fputs("<p>", f);
		esc(f, in->explanation);
		fputs("</p>\n", f);
	}
	fprintf(f, "<p>%zu trials, wall time %.1f s, on %zu cases of <code>", in->ntrials,
		in->wall_s, in->ds->ncases);
	esc(f, in->ds->root ? in->ds->root : "");
	fputs("</code>. The details are in <a href=\"report.md\">report.md</a> and "
	      "<a href=\"report.json\">report.json</a>.</p>\n", f);
	timeline(f, in);
	shrink(f, in);
	pictures(f, in, pics);
	fputs("<p class=\"caption\">Written by casebisect " CASEBISECT_VERSION ".</p>\n"
	      "</body></html>\n", f);
	if (fclose(f))
		die("report.html: out of memory");
	/* Case IDs and paths are bytes; the page says UTF-8. */
	clean = cb_utf8_clean(text);
	free(text);
	return clean;
}

int rhtml_write(const struct report_input *in, const struct pic_set *pics, char *err,
		size_t errlen)
{
	char *text = rhtml_text(in, pics), *path = cb_path_join(in->workdir, "report.html");
	int rc = cb_write_atomic(path, text, strlen(text), CB_WRITE_DURABLE, err, errlen);

	free(path);
	free(text);
	return rc;
}
