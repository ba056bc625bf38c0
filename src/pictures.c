/* pictures: each culprit's worst label slice as a PNG, drawn with cairo; the
 * contract is in include/casebisect/pictures.h. cairo stays in this file. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cairo.h>
#include <fontconfig/fontconfig.h>

#include "casebisect/audit.h"
#include "casebisect/pictures.h"
#include "casebisect/report.h"
#include "casebisect/util.h"

int pic_mode_parse(const char *s, enum pic_mode *out)
{
	if (!strcmp(s, "label"))
		*out = PIC_LABEL;
	else if (!strcmp(s, "image"))
		*out = PIC_IMAGE;
	else if (!strcmp(s, "none"))
		*out = PIC_NONE;
	else
		return -1;
	return 0;
}

const char *pic_mode_name(enum pic_mode m)
{
	return m == PIC_IMAGE ? "image" : m == PIC_NONE ? "none" : "label";
}

/* What makes a voxel offending, for one case: the values the audit calls a
 * crash; when it summed some of them into one finding (no value kept),
 * every value outside the declared set as well. */
struct offence {
	const struct aud_result *a;
	double *values;
	size_t n;
	bool outside_declared;
};

static bool declared(const struct aud_result *a, double v)
{
	size_t i;

	for (i = 0; i < a->ndeclared; i++)
		if ((double)a->declared[i] == v)
			return true;
	return a->has_ignore && (double)a->ignore == v;
}

static bool offends(const struct offence *o, double v)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		if (o->values[i] == v)
			return true;
	return o->outside_declared && v == v && !declared(o->a, v);
}

/* Pass 1: per slice, how many voxels offend; the best slice so far is kept
 * (its values copied), so one pass over the file finds and holds it. */
struct best {
	const struct offence *o;
	int64_t nx, ny, nz, z;
	uint64_t voxels, total;
	double *plane;
};

static int take_best(void *ctx, const struct aud_slice *s)
{
	struct best *b = ctx;
	size_t i, n = (size_t)(s->nx * s->ny);
	uint64_t k = 0;

	for (i = 0; i < n; i++)
		k += offends(b->o, s->v[i]);
	b->total += k;
	if (!b->plane) {
		b->nx = s->nx;
		b->ny = s->ny;
		b->nz = s->nz;
		b->plane = xmalloc(n * sizeof(*b->plane));
	}
	if (k > b->voxels || s->z == 0) { /* the first of equals */
		b->voxels = k;
		b->z = s->z;
		memcpy(b->plane, s->v, n * sizeof(*b->plane));
	}
	return 0;
}

/* The image's slice z, copied. */
struct grab {
	int64_t z, nx, ny;
	double *plane;
};

static int take_slice(void *ctx, const struct aud_slice *s)
{
	struct grab *g = ctx;

	if (s->z != g->z)
		return 0;
	g->nx = s->nx;
	g->ny = s->ny;
	g->plane = xmalloc((size_t)(s->nx * s->ny) * sizeof(*g->plane));
	memcpy(g->plane, s->v, (size_t)(s->nx * s->ny) * sizeof(*g->plane));
	return 1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static uint32_t rgb(unsigned r, unsigned g, unsigned b)
{
	return 0xff000000u | (r << 16) | (g << 8) | b;
}

/* The grey of a declared label other than background: lighter for higher
 * labels, never black (background) and never the offending red. */
static unsigned label_grey(const struct aud_result *a, double v)
{
	size_t i, rank = 0, n = 0;

	for (i = 0; i < a->ndeclared; i++)
		if (a->declared[i] != 0) {
			n++;
			if ((double)a->declared[i] <= v)
				rank = n;
		}
	if (!n)
		return 160;
	if (!rank)
		rank = 1;
	return 90 + (unsigned)(150 * rank / n);
}

static void add_warning(struct pic_set *s, const char *fmt, ...) CB_PRINTF(2, 3);
static void add_warning(struct pic_set *s, const char *fmt, ...)
{
	va_list ap;

	s->warnings = xrealloc(s->warnings, (s->nwarnings + 1) * sizeof(*s->warnings));
	va_start(ap, fmt);
	s->warnings[s->nwarnings++] = cb_vfmt(fmt, ap);
	va_end(ap);
}

/* The slice's pixels, one per voxel, row 0 = j ny-1. img: the image's
 * slice (PIC_IMAGE) or NULL. */
static cairo_surface_t *slice_surface(const struct best *b, const struct offence *o,
				      const double *img)
{
	cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)b->nx,
							(int)b->ny);
	unsigned char *data;
	int stride;
	int64_t x, y;
	double lo = 0, hi = 1;

	if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS)
		return s;
	if (img) {
		size_t n = (size_t)(b->nx * b->ny), m = 0, i;
		double *sorted = xmalloc(n * sizeof(*sorted));

		for (i = 0; i < n; i++)
			if (isfinite(img[i]))
				sorted[m++] = img[i];
		if (m) {
			qsort(sorted, m, sizeof(*sorted), cmp_double);
			lo = sorted[m / 100];
			hi = sorted[m - 1 - m / 100];
		}
		if (!(hi > lo))
			hi = lo + 1;
		free(sorted);
	}
	cairo_surface_flush(s);
	data = cairo_image_surface_get_data(s);
	stride = cairo_image_surface_get_stride(s);
	for (y = 0; y < b->ny; y++) {
		uint32_t *row = (uint32_t *)(void *)(data + (size_t)stride * (size_t)y);

		for (x = 0; x < b->nx; x++) {
			size_t i = (size_t)((b->ny - 1 - y) * b->nx + x);
			double v = b->plane[i];

			if (offends(o, v)) {
				row[x] = rgb(PIC_OFFEND_R, PIC_OFFEND_G, PIC_OFFEND_B);
			} else if (img) {
				double t = isfinite(img[i]) ? (img[i] - lo) / (hi - lo) : 0;
				unsigned g = (unsigned)(fmin(fmax(t, 0), 1) * 230);

				row[x] = rgb(g, g, g);
			} else if (v == 0 || v != v) {
				row[x] = rgb(0, 0, 0);
			} else {
				unsigned g = label_grey(o->a, v);

				row[x] = rgb(g, g, g);
			}
		}
	}
	cairo_surface_mark_dirty(s);
	return s;
}

/* Draws the picture into path; 0, or -1 with err. */
static int draw_png(const char *path, const char *id, const struct best *b,
		    const struct offence *o, const double *img, int *width, int *height,
		    char *err, size_t errlen)
{
	int64_t side = b->nx > b->ny ? b->nx : b->ny, scale = PIC_MAX_SIDE / (side ? side : 1);
	int w, h, ret = -1;
	int64_t x0 = b->nx, x1 = -1, y0 = b->ny, y1 = -1, x, y;
	cairo_surface_t *slice, *out;
	cairo_pattern_t *pat;
	cairo_status_t st;
	cairo_t *cr;
	char line[512];

	if (scale > PIC_MAX_SCALE)
		scale = PIC_MAX_SCALE;
	if (scale < 1)
		scale = 1;
	w = (int)(b->nx * scale);
	if (w < PIC_MIN_WIDTH)
		w = PIC_MIN_WIDTH;
	h = (int)(b->ny * scale) + PIC_CAPTION_H;
	slice = slice_surface(b, o, img);
	out = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
	cr = cairo_create(out);
	cairo_set_source_rgb(cr, 0.12, 0.12, 0.12);
	cairo_paint(cr);

	/* The slice, scaled by a whole factor with no smoothing: one voxel, one
	 * square of one colour, so the red stays red. */
	cairo_save(cr);
	cairo_translate(cr, 0, PIC_CAPTION_H);
	cairo_scale(cr, (double)scale, (double)scale);
	cairo_set_source_surface(cr, slice, 0, 0);
	pat = cairo_get_source(cr);
	cairo_pattern_set_filter(pat, CAIRO_FILTER_NEAREST);
	cairo_rectangle(cr, 0, 0, (double)b->nx, (double)b->ny);
	cairo_fill(cr);
	cairo_restore(cr);

	/* The caption: which case and slice, and what red means. */
	cairo_set_source_rgb(cr, 0.12, 0.12, 0.12);
	cairo_rectangle(cr, 0, 0, w, PIC_CAPTION_H);
	cairo_fill(cr);
	cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
	cairo_set_font_size(cr, 14);
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_move_to(cr, 6, 18);
	snprintf(line, sizeof(line), "%s  axial k=%" PRId64 " of %" PRId64, id, b->z, b->nz);
	cairo_show_text(cr, line);
	cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
			       CAIRO_FONT_WEIGHT_NORMAL);
	cairo_set_font_size(cr, 12);
	cairo_set_source_rgb(cr, 1, 0.3, 0.3);
	cairo_move_to(cr, 6, 36);
	snprintf(line, sizeof(line), "red: %" PRIu64 " of the %" PRIu64 " crashing voxels%s",
		 b->voxels, b->total, img ? ", over image 0" : "");
	cairo_show_text(cr, line);

	/* A yellow frame around the offending voxels, a voxel outside them. */
	for (y = 0; y < b->ny; y++)
		for (x = 0; x < b->nx; x++)
			if (offends(o, b->plane[(size_t)((b->ny - 1 - y) * b->nx + x)])) {
				x0 = x < x0 ? x : x0;
				x1 = x > x1 ? x : x1;
				y0 = y < y0 ? y : y0;
				y1 = y > y1 ? y : y1;
			}
	if (x1 >= 0) {
		cairo_set_source_rgb(cr, 1, 0.85, 0);
		cairo_set_line_width(cr, 2);
		cairo_rectangle(cr, (double)(x0 * scale) - 3, (double)(y0 * scale) - 3 + PIC_CAPTION_H,
				(double)((x1 - x0 + 1) * scale) + 6, (double)((y1 - y0 + 1) * scale) + 6);
		cairo_stroke(cr);
	}
	cairo_destroy(cr);

	st = cairo_surface_status(slice);
	if (st == CAIRO_STATUS_SUCCESS)
		st = cairo_surface_status(out);
	if (st == CAIRO_STATUS_SUCCESS)
		st = cairo_surface_write_to_png(out, path);
	if (st != CAIRO_STATUS_SUCCESS) {
		cb_set_err(err, errlen, "cannot draw %s: %s", path, cairo_status_to_string(st));
		unlink(path);
	} else {
		*width = w;
		*height = h;
		ret = 0;
	}
	cairo_surface_destroy(slice);
	cairo_surface_destroy(out);
	return ret;
}

/* Removes the PNGs an earlier rendering left in dir (a missing dir is fine). */
static void clear_pictures(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);

		if (n > 4 && !strcmp(e->d_name + n - 4, ".png")) {
			char *p = cb_path_join(dir, e->d_name);

			unlink(p);
			free(p);
		}
	}
	closedir(d);
}

static char *safe_name(const char *id)
{
	char *s = xstrdup(id), *p;

	for (p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			*p = '_';
	return s;
}

/* One culprit: fills *it, or returns -1 with err (a warning for the caller). */
static int draw_one(const struct report_input *in, enum pic_mode mode, size_t ci, size_t n,
		    struct pic_item *it, char *err, size_t errlen)
{
	const struct aud_result *a = in->audit;
	const struct aud_case *c = &a->cases[ci];
	struct offence o = { a, NULL, 0, false };
	struct best b;
	struct grab g;
	char *name = NULL, *path = NULL, e2[512];
	const char *image = NULL;
	size_t k;
	int ret = -1;

	memset(&b, 0, sizeof(b));
	memset(&g, 0, sizeof(g));
	o.values = xcalloc(c->nfindings + 1, sizeof(*o.values));
	for (k = 0; k < c->nfindings; k++) {
		const struct aud_finding *f = &c->findings[k];

		if (f->severity != AUD_CRASH || (int)f->file != c->label)
			continue;
		if (f->has_value)
			o.values[o.n++] = f->value;
		else
			o.outside_declared = true;
	}
	if (c->label < 0) {
		cb_set_err(err, errlen, "no label file to draw");
		goto out;
	}
	if (!o.n && !o.outside_declared) {
		cb_set_err(err, errlen, "the label audit found no value in %s that crashes "
			   "training: nothing to draw", c->files[c->label]);
		goto out;
	}
	b.o = &o;
	if (aud_read_slices(c->files[c->label], take_best, &b, e2, sizeof(e2))) {
		cb_set_err(err, errlen, "%s: %s", c->files[c->label], e2);
		goto out;
	}
	if (!b.voxels) {
		cb_set_err(err, errlen, "%s: no crashing value found any more (changed since "
			   "the audit?)", c->files[c->label]);
		goto out;
	}
	if (mode == PIC_IMAGE) {
		for (k = 0; k < c->nfiles && !image; k++)
			if ((int)k != c->label)
				image = c->files[k];
		if (!image) {
			cb_set_err(err, errlen, "no image file to draw the label over");
			goto out;
		}
		g.z = b.z;
		if (aud_read_slices(image, take_slice, &g, e2, sizeof(e2))) {
			cb_set_err(err, errlen, "%s: %s", image, e2);
			goto out;
		}
		if (!g.plane || g.nx != b.nx || g.ny != b.ny) {
			cb_set_err(err, errlen, "%s: its shape is not the label's: cannot overlay",
				   image);
			goto out;
		}
	}
	name = safe_name(c->id);
	it->file = cb_fmt("pictures/%zu-%s.png", n, name);
	path = cb_path_join(in->workdir, it->file);
	if (draw_png(path, c->id, &b, &o, g.plane, &it->width, &it->height, err, errlen)) {
		free(it->file);
		it->file = NULL;
		goto out;
	}
	it->case_index = ci;
	it->z = b.z;
	it->nz = b.nz;
	it->voxels = b.voxels;
	it->total = b.total;
	ret = 0;
out:
	free(o.values);
	free(b.plane);
	free(g.plane);
	free(name);
	free(path);
	return ret;
}

static void write_md(struct pic_set *s, const struct report_input *in)
{
	char *md, *t;
	size_t i;

	if (!s->nitems && !s->nwarnings)
		return;
	md = cb_fmt("## Pictures\n\nThe slice of each culprit's label holding most of the voxels "
		    "that crash training (red), %s; also in report.html. Drag a file into an "
		    "issue to show it.\n\n", s->mode == PIC_IMAGE ? "over the case's first image "
		    "(patient data: share with care)" : "the label alone (no image was read)");
	for (i = 0; i < s->nitems; i++) {
		const struct pic_item *it = &s->items[i];

		t = cb_fmt("%s- [%s](%s): axial slice k=%" PRId64 ", %" PRIu64 " of %" PRIu64
			   " crashing voxels\n", md, in->ds->cases[it->case_index].id, it->file,
			   it->z, it->voxels, it->total);
		free(md);
		md = t;
	}
	for (i = 0; i < s->nwarnings; i++) {
		t = cb_fmt("%s- warning: %s\n", md, s->warnings[i]);
		free(md);
		md = t;
	}
	t = cb_fmt("%s\n", md);
	free(md);
	s->md = t;
}

void pic_draw(const struct report_input *in, enum pic_mode mode, struct pic_set *out)
{
	char *dir = cb_path_join(in->workdir, "pictures"), err[1200];
	size_t i;

	memset(out, 0, sizeof(*out));
	out->mode = mode;
	clear_pictures(dir);
	if (mode == PIC_NONE || !in->nculprits)
		goto out;
	if (!in->audit) {
		add_warning(out, "no pictures: the label audit did not run (--prior without "
			    "audit), so which voxels crash training is not known");
		goto out;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		add_warning(out, "no pictures: %s: cannot create: %s", dir, strerror(errno));
		goto out;
	}
	out->items = xcalloc(in->nculprits, sizeof(*out->items));
	for (i = 0; i < in->nculprits; i++) {
		size_t ci = in->culprits[i];

		if (draw_one(in, mode, ci, i + 1, &out->items[out->nitems], err, sizeof(err)))
			add_warning(out, "%s: no picture: %s", in->ds->cases[ci].id, err);
		else
			out->nitems++;
	}
out:
	write_md(out, in);
	free(dir);
	/* cairo keeps font faces, and fontconfig its patterns, cached for the
	 * process; no cairo object outlives this call, so let both go now, or
	 * LeakSanitizer reports them at exit (the next call loads them again). */
	cairo_debug_reset_static_data();
	FcFini();
}

void pic_set_release(struct pic_set *s)
{
	size_t i;

	for (i = 0; i < s->nitems; i++)
		free(s->items[i].file);
	free(s->items);
	for (i = 0; i < s->nwarnings; i++)
		free(s->warnings[i]);
	free(s->warnings);
	free(s->md);
	memset(s, 0, sizeof(*s));
}
