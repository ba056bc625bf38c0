/* audit_findings: from values and headers to findings; the names of
 * severities and kinds. See src/audit_findings.h. */
#include "audit_findings.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "casebisect/util.h"

/* Value findings listed one by one per (severity, kind) in a file; the rest
 * are summed into one. */
#define AUD_LIST_VALUES 8
/* Tolerances of the geometry checks. */
#define AUD_SPACING_RTOL 1e-5
#define AUD_SPACING_ATOL 1e-6
#define AUD_DIR_TOL 1e-3

static const char *const severity_names[AUD_NSEVERITIES] = {
	[AUD_CRASH] = "crash",
	[AUD_UNREADABLE] = "unreadable",
	[AUD_GEOMETRY] = "geometry",
	[AUD_SILENT] = "silent",
};

static const char *const kind_names[AUD_NKINDS] = {
	[AUD_K_UNDECLARED] = "undeclared",
	[AUD_K_RARE_VALUE] = "rare_value",
	[AUD_K_MINUS_ONE] = "minus_one",
	[AUD_K_WRAP] = "wrap",
	[AUD_K_NON_INTEGER] = "non_integer",
	[AUD_K_NOT_FINITE] = "not_finite",
	[AUD_K_REGION_UNDECLARED] = "region_undeclared",
	[AUD_K_TOO_MANY_VALUES] = "too_many_values",
	[AUD_K_SHAPE] = "shape",
	[AUD_K_SPACING] = "spacing",
	[AUD_K_ORIENTATION] = "orientation",
	[AUD_K_CHANNELS] = "channels",
	[AUD_K_IMAGE_NAN] = "image_nan",
	[AUD_K_IMAGE_INF] = "image_inf",
	[AUD_K_OPEN] = "open",
	[AUD_K_BAD_HEADER] = "bad_header",
	[AUD_K_TRUNCATED] = "truncated",
	[AUD_K_CORRUPT] = "corrupt",
};

const char *aud_severity_name(enum aud_severity s)
{
	assert((unsigned)s < AUD_NSEVERITIES);
	return severity_names[s];
}

const char *aud_kind_name(enum aud_kind k)
{
	assert((unsigned)k < AUD_NKINDS);
	return kind_names[k];
}

/* ---- findings ---- */

/*
 * The value nnU-Net stores for a label value v (nnunet.md 3.2): read as
 * float32, cast to int8 when the file's maximum is <= 127, else int16, the
 * x86 way (truncate to int32, out of range and NaN giving INT32_MIN; keep
 * the low bits).
 */
static int64_t stored_value(double v, double file_max)
{
	double t = trunc((double)(float)v);
	int64_t i = t >= -2147483648.0 && t < 2147483648.0 ? (int64_t)t : INT32_MIN;

	if (file_max <= 127) {
		i &= 0xff;
		return i >= 0x80 ? i - 0x100 : i;
	}
	i &= 0xffff;
	return i >= 0x8000 ? i - 0x10000 : i;
}

/* Is value v fine, and if not, its severity and kind. */
static bool judge(const struct aud_decl *d, double v, double file_max, enum aud_severity *sev,
		  enum aud_kind *kind)
{
	int64_t s;
	bool ok_stored;

	if (aud_decl_has(d, v))
		return true;
	if (!isfinite(v)) {
		*sev = AUD_SILENT;
		*kind = AUD_K_NOT_FINITE;
		return false;
	}
	if (d->mode == AUD_MODE_REGIONS) {
		*sev = AUD_SILENT;
		*kind = v == trunc(v) ? AUD_K_REGION_UNDECLARED : AUD_K_NON_INTEGER;
		return false;
	}
	s = stored_value(v, file_max);
	ok_stored = s == -1 || aud_decl_has_int(d, s);
	*sev = ok_stored ? AUD_SILENT : AUD_CRASH;
	if (v != trunc(v))
		*kind = AUD_K_NON_INTEGER;
	else if (v == -1)
		*kind = AUD_K_MINUS_ONE;
	else if ((double)s != v)
		*kind = AUD_K_WRAP;
	else
		*kind = d->mode == AUD_MODE_HISTOGRAM ? AUD_K_RARE_VALUE : AUD_K_UNDECLARED;
	return false;
}

struct aud_finding *aud_add_finding(struct aud_case *c, enum aud_severity sev,
				    enum aud_kind kind, size_t file, char *detail)
{
	struct aud_finding *f;

	c->findings = xrealloc(c->findings, (c->nfindings + 1) * sizeof(*c->findings));
	f = &c->findings[c->nfindings++];
	memset(f, 0, sizeof(*f));
	f->severity = sev;
	f->kind = kind;
	f->file = file;
	f->detail = detail;
	return f;
}

static char *fmt_value(double v)
{
	if (isnan(v))
		return xstrdup("NaN");
	if (aud_is_int64(v))
		return cb_fmt("%" PRId64, (int64_t)v);
	return cb_fmt("%.9g", v);
}

static char *box_text(const struct aud_val *v)
{
	if (!v->boxed)
		return xstrdup("");
	return cb_fmt(" in x %" PRId64 "..%" PRId64 " y %" PRId64 "..%" PRId64 " z %" PRId64
		      "..%" PRId64, v->lo[0], v->hi[0], v->lo[1], v->hi[1], v->lo[2], v->hi[2]);
}

static const char *why_text(enum aud_kind kind, bool silent)
{
	switch (kind) {
	case AUD_K_MINUS_ONE: return "nnU-Net turns -1 into background";
	case AUD_K_WRAP: return silent ? "wraps to an allowed value in nnU-Net's int16 cast"
				       : "wraps in nnU-Net's int16 cast to a value outside the labels";
	case AUD_K_NON_INTEGER: return silent ? "nnU-Net truncates it to an allowed value"
					      : "nnU-Net truncates it to a value outside the labels";
	case AUD_K_NOT_FINITE: return "nnU-Net's integer cast turns it into 0 on x86";
	case AUD_K_REGION_UNDECLARED: return "region-based: it becomes background";
	default: return silent ? "" : "the loss indexes out of bounds";
	}
}

/* Findings for a label's values: each bad value alone up to AUD_LIST_VALUES
 * per (severity, kind), the rest summed. */
void aud_value_findings(struct aud_case *c, size_t file, const struct aud_decl *d,
			const struct aud_vals *vals, const char *declared)
{
	size_t listed[AUD_NSEVERITIES][AUD_NKINDS] = { { 0 } };
	struct aud_val rest[AUD_NSEVERITIES][AUD_NKINDS];
	size_t nrest[AUD_NSEVERITIES][AUD_NKINDS] = { { 0 } };
	double fmax = -INFINITY;
	size_t i;
	int s, k;

	if (!d->active)
		return;
	memset(rest, 0, sizeof(rest));
	for (i = 0; i < vals->n; i++)
		if (!isnan(vals->v[i].value) && vals->v[i].value > fmax)
			fmax = vals->v[i].value;
	for (i = 0; i < vals->n; i++) {
		const struct aud_val *v = &vals->v[i];
		enum aud_severity sev;
		enum aud_kind kind;
		struct aud_finding *f;
		char *vs, *bs, *stored;

		if (judge(d, v->value, fmax, &sev, &kind))
			continue;
		if (listed[sev][kind] >= AUD_LIST_VALUES) {
			struct aud_val *r = &rest[sev][kind];

			r->voxels += v->voxels;
			if (v->boxed)
				aud_val_merge_box(r, v->lo, v->hi);
			nrest[sev][kind]++;
			continue;
		}
		listed[sev][kind]++;
		vs = fmt_value(v->value);
		bs = box_text(v);
		stored = kind == AUD_K_WRAP || kind == AUD_K_NON_INTEGER
				 ? cb_fmt(", stored as %" PRId64, stored_value(v->value, fmax))
				 : xstrdup("");
		f = aud_add_finding(c, sev, kind, file,
				    cb_fmt("value %s: %" PRIu64 " voxel%s%s%s (%s; labels: %s)", vs,
					   v->voxels, v->voxels == 1 ? "" : "s", bs, stored,
					   why_text(kind, sev == AUD_SILENT), declared));
		f->has_value = true;
		f->value = v->value;
		f->voxels = v->voxels;
		f->has_bbox = v->boxed;
		memcpy(f->lo, v->lo, sizeof(f->lo));
		memcpy(f->hi, v->hi, sizeof(f->hi));
		free(vs);
		free(bs);
		free(stored);
	}
	for (s = 0; s < AUD_NSEVERITIES; s++)
		for (k = 0; k < AUD_NKINDS; k++) {
			struct aud_finding *f;
			char *bs;

			if (!nrest[s][k])
				continue;
			bs = box_text(&rest[s][k]);
			f = aud_add_finding(c, (enum aud_severity)s, (enum aud_kind)k, file,
					    cb_fmt("%zu more such values: %" PRIu64 " voxels%s (labels: %s)",
						   nrest[s][k], rest[s][k].voxels, bs, declared));
			f->voxels = rest[s][k].voxels;
			f->has_bbox = rest[s][k].boxed;
			memcpy(f->lo, rest[s][k].lo, sizeof(f->lo));
			memcpy(f->hi, rest[s][k].hi, sizeof(f->hi));
			free(bs);
		}
	if (vals->overflow) {
		struct aud_finding *f = aud_add_finding(
			c, d->mode == AUD_MODE_REGIONS ? AUD_SILENT : AUD_CRASH,
			AUD_K_TOO_MANY_VALUES, file,
			cb_fmt("more than %d distinct values (%" PRIu64 " voxels not counted by "
			       "value): not a label map? (labels: %s)", AUD_MAX_VALUES,
			       vals->overflow, declared));
		f->voxels = vals->overflow;
	}
}

static char *dims_text(const struct aud_hdr *h)
{
	return cb_fmt("%" PRId64 "x%" PRId64 "x%" PRId64, h->dim[1], h->dim[2], h->dim[3]);
}

static char *spacing_text(const struct aud_hdr *h)
{
	return cb_fmt("%g x %g x %g", h->pixdim[1], h->pixdim[2], h->pixdim[3]);
}

static bool close_enough(double a, double b)
{
	return fabs(a - b) <= AUD_SPACING_ATOL + AUD_SPACING_RTOL * fabs(b);
}

void aud_geometry_findings(struct aud_case *c, size_t file, const struct aud_hdr *lab,
			      const struct aud_hdr *img)
{
	double worst = 0;
	int i, j;

	if (lab->dim[1] != img->dim[1] || lab->dim[2] != img->dim[2] ||
	    lab->dim[3] != img->dim[3]) {
		char *a = dims_text(img), *b = dims_text(lab);

		aud_add_finding(c, AUD_GEOMETRY, AUD_K_SHAPE, file,
				cb_fmt("shape %s, the label's is %s", a, b));
		free(a);
		free(b);
		return; /* spacing and orientation mean little then */
	}
	for (i = 1; i <= 3; i++)
		if (!close_enough(img->pixdim[i], lab->pixdim[i])) {
			char *a = spacing_text(img), *b = spacing_text(lab);

			aud_add_finding(c, AUD_GEOMETRY, AUD_K_SPACING, file,
					cb_fmt("spacing %s, the label's is %s", a, b));
			free(a);
			free(b);
			break;
		}
	for (i = 0; i < 3; i++)
		for (j = 0; j < 3; j++)
			if (fabs(img->dir[i][j] - lab->dir[i][j]) > worst)
				worst = fabs(img->dir[i][j] - lab->dir[i][j]);
	if (worst > AUD_DIR_TOL)
		aud_add_finding(c, AUD_GEOMETRY, AUD_K_ORIENTATION, file,
				strcmp(img->orient, lab->orient) != 0
				    ? cb_fmt("orientation %s, the label's is %s", img->orient,
					     lab->orient)
				    : cb_fmt("orientation %s like the label's, but the direction "
					     "cosines differ by %.3g", img->orient, worst));
}

void aud_unreadable(struct aud_case *c, size_t file, const struct aud_problem *p)
{
	aud_add_finding(c, AUD_UNREADABLE, p->kind, file, xstrdup(p->msg));
}

static int cmp_finding(const void *a, const void *b)
{
	const struct aud_finding *x = a, *y = b;

	if (x->severity != y->severity)
		return (int)x->severity - (int)y->severity;
	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return (int)x->kind - (int)y->kind;
}

void aud_sort_findings(struct aud_case *c)
{
	if (c->nfindings > 1)
		qsort(c->findings, c->nfindings, sizeof(*c->findings), cmp_finding);
}

void aud_image_findings(struct aud_case *c, size_t file, uint64_t nan, uint64_t inf)
{
	struct aud_finding *fd;

	if (nan) {
		fd = aud_add_finding(c, AUD_SILENT, AUD_K_IMAGE_NAN, file,
				     cb_fmt("%" PRIu64 " NaN voxel%s", nan, nan == 1 ? "" : "s"));
		fd->has_value = true;
		fd->value = NAN;
		fd->voxels = nan;
	}
	if (inf) {
		fd = aud_add_finding(c, AUD_SILENT, AUD_K_IMAGE_INF, file,
				     cb_fmt("%" PRIu64 " infinite voxel%s", inf,
					    inf == 1 ? "" : "s"));
		fd->has_value = true;
		fd->value = INFINITY;
		fd->voxels = inf;
	}
}
