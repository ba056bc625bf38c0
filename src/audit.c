/* audit: the whole audit of a dataset: which files of each case are read,
 * each case read and judged on the libuv thread pool, the histogram mode's
 * second pass, and the result's counts; the contract is in
 * include/casebisect/audit.h. The jobs are in the audit_*.c files: NIfTI
 * reading (audit_nifti), the declared set (audit_labels), the histogram
 * (audit_scan), the rules (audit_findings) and JSON (audit_json). */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "audit_findings.h"
#include "audit_labels.h"
#include "audit_nifti.h"
#include "audit_scan.h"
#include "casebisect/audit.h"
#include "casebisect/dataset.h"
#include "casebisect/path.h"
#include "casebisect/util.h"
#include "format.h"

/* The format's ops; a struct dataset made without ds_load() may have none,
 * and then gets the defaults (the case's own files, no channel check). */
static const struct ds_format_ops *ops_of(const struct dataset *ds)
{
	static const struct ds_format_ops none = { .name = "none" };
	const struct ds_format_ops *ops = ds_format_ops(ds->format);

	return ops ? ops : &none;
}

/* ---- one case ---- */

struct ctx;

struct job {
	uv_work_t req;
	struct ctx *ctx;
	size_t index;       /* in ds->cases */
};

struct ctx {
	const struct dataset *ds;
	const struct aud_options *o;
	struct aud_decl decl;
	char *declared;     /* decl as text */
	struct aud_result *r;
	struct job *jobs;
	size_t *queue;      /* case indices to run */
	size_t nqueue, next;
	unsigned inflight, max;
	bool values_only;   /* histogram pass 2: the label's values again */
	bool *label_read;   /* per case: the label was read */
	uv_loop_t loop;
	bool unset_env;     /* UV_THREADPOOL_SIZE is ours: take it away once used */
};

static void values_to_case(struct aud_case *c, const struct aud_vals *vals)
{
	size_t i;

	free(c->values);
	c->values = xcalloc(vals->n ? vals->n : 1, sizeof(*c->values));
	c->nvalues = vals->n;
	for (i = 0; i < vals->n; i++) {
		c->values[i].value = vals->v[i].value;
		c->values[i].voxels = vals->v[i].voxels;
	}
}

static void work_case(uv_work_t *req)
{
	struct job *j = req->data;
	struct ctx *x = j->ctx;
	struct aud_case *c = &x->r->cases[j->index];
	unsigned char *buf;
	struct aud_hdr lab, img;
	struct aud_problem p;
	struct aud_nfile f;
	struct aud_vals vals = { 0 };
	bool have_lab = false, all_images = true;
	uint64_t channels = 0;
	size_t i;

	if (c->skip_reason)
		return;
	buf = xmalloc(AUD_SLAB);
	if (c->label >= 0) {
		size_t li = (size_t)c->label;

		if (aud_nf_open(&f, c->files[li], true, &p) || aud_hdr_read(&f, &lab, true, &p) ||
		    aud_scan_label(&f, &lab, &x->decl, buf, &vals, &p)) {
			if (!x->values_only)
				aud_unreadable(c, li, &p);
		} else {
			have_lab = true;
			x->label_read[j->index] = true;
			values_to_case(c, &vals);
			aud_value_findings(c, li, &x->decl, &vals, x->declared);
		}
		c->bytes += f.pos;
		aud_nf_close(&f);
		free(vals.v);
	}
	for (i = 0; i < c->nfiles && !x->values_only; i++) {
		if ((int)i == c->label)
			continue;
		if (aud_nf_open(&f, c->files[i], x->o->images, &p) ||
		    aud_hdr_read(&f, &img, false, &p)) {
			aud_unreadable(c, i, &p);
			all_images = false;
		} else {
			uint64_t nan, inf;

			channels += img.ndim >= 4 ? (uint64_t)(img.nvox / ((uint64_t)img.dim[1] *
					(uint64_t)img.dim[2] * (uint64_t)img.dim[3]))
						  : 1;
			if (have_lab)
				aud_geometry_findings(c, i, &lab, &img);
			if (x->o->images &&
			    (img.datatype == DT_FLOAT32 || img.datatype == DT_FLOAT64)) {
				if (aud_scan_image(&f, &img, buf, &nan, &inf, &p)) {
					aud_unreadable(c, i, &p);
				} else {
					aud_image_findings(c, i, nan, inf);
				}
			}
		}
		c->bytes += f.pos;
		aud_nf_close(&f);
	}
	if (!x->values_only && all_images && channels && x->ds->nchannels &&
	    (ops_of(x->ds)->flags & FMT_AUDIT_CHANNELS) &&
	    channels != x->ds->nchannels)
		aud_add_finding(c, AUD_GEOMETRY, AUD_K_CHANNELS, c->label == 0 && c->nfiles > 1 ? 1 : 0,
				cb_fmt("%" PRIu64 " channel%s in the images, dataset.json's "
				       "channel_names has %zu", channels, channels == 1 ? "" : "s",
				       x->ds->nchannels));
	aud_sort_findings(c);
	free(buf);
}

static void submit_more(struct ctx *x);

static void after_case(uv_work_t *req, int status)
{
	struct job *j = req->data;

	assert(status == 0); /* UV_ECANCELED: nothing cancels these */
	(void)status;
	j->ctx->inflight--;
	submit_more(j->ctx);
}

static void submit_more(struct ctx *x)
{
	while (x->inflight < x->max && x->next < x->nqueue) {
		struct job *j = &x->jobs[x->queue[x->next++]];
		int rc;

		memset(&j->req, 0, sizeof(j->req));
		j->req.data = j;
		/* It fails only without a work callback. */
		rc = uv_queue_work(&x->loop, &j->req, work_case, after_case);
		assert(rc == 0);
		(void)rc;
		x->inflight++;
	}
}

/* Runs the queued cases, at most x->max at once. */
static void run_queue(struct ctx *x)
{
	int rc;

	x->next = 0;
	submit_more(x);
	if (x->unset_env) {
		unsetenv("UV_THREADPOOL_SIZE");
		x->unset_env = false;
	}
	/* Nonzero: a handle still active, which this loop never has. */
	rc = uv_run(&x->loop, UV_RUN_DEFAULT);
	assert(rc == 0);
	(void)rc;
}

/* ---- which files ---- */

void aud_case_add_file(struct aud_case *c, char *path)
{
	if (!path_is_nifti(path)) {
		c->skipped_files = xrealloc(c->skipped_files,
					    (c->nskipped_files + 1) * sizeof(char *));
		c->skipped_files[c->nskipped_files++] = path;
		return;
	}
	c->files = xrealloc(c->files, (c->nfiles + 1) * sizeof(char *));
	c->files[c->nfiles++] = path;
}

/* Which files of case i audit reads: the format's choice, or the case's own
 * files with its label first. ctx is what the format's audit_begin gave. */
static void case_files(const struct dataset *ds, const struct ds_format_ops *ops, size_t i,
		       const char *ctx, struct aud_case *c)
{
	const struct ds_case *dc = &ds->cases[i];
	size_t k;

	c->id = dc->id;
	c->label = -1;
	if (ops->audit_files) {
		ops->audit_files(ds, i, ctx, c);
	} else {
		if (dc->label >= 0 && (size_t)dc->label < dc->nfiles) {
			aud_case_add_file(c, xstrdup(dc->files[dc->label]));
			if (c->nfiles)
				c->label = 0;
		}
		for (k = 0; k < dc->nfiles; k++)
			if ((int)k != dc->label)
				aud_case_add_file(c, xstrdup(dc->files[k]));
	}
	if (!c->skip_reason && !c->nfiles)
		c->skip_reason = xstrdup(c->nskipped_files ? "no NIfTI file (.nii, .nii.gz) to read"
							   : "no files");
}

bool aud_dataset_has_labels(const struct dataset *ds)
{
	const struct ds_format_ops *ops = ops_of(ds);
	size_t i;

	if (ops->audit_has_labels)
		return ops->audit_has_labels(ds);
	for (i = 0; i < ds->ncases; i++) {
		const struct ds_case *c = &ds->cases[i];

		if (c->label >= 0 && (size_t)c->label < c->nfiles && path_is_nifti(c->files[c->label]))
			return true;
	}
	return false;
}

/* ---- the whole audit ---- */

static void count_findings(struct aud_result *r)
{
	size_t i, k;

	memset(r->findings, 0, sizeof(r->findings));
	memset(r->cases_with, 0, sizeof(r->cases_with));
	r->bytes = 0;
	r->files_read = 0;
	r->cases_read = 0;
	for (i = 0; i < r->ncases; i++) {
		const struct aud_case *c = &r->cases[i];
		unsigned seen = 0;

		for (k = 0; k < c->nfindings; k++) {
			r->findings[c->findings[k].severity]++;
			seen |= 1u << c->findings[k].severity;
		}
		for (k = 0; k < AUD_NSEVERITIES; k++)
			if (seen & (1u << k))
				r->cases_with[k]++;
		r->bytes += c->bytes;
		if (!c->skip_reason) {
			r->cases_read++;
			r->files_read += c->nfiles;
		}
	}
}

int aud_run(const struct dataset *ds, const struct aud_options *o, struct aud_result *out,
	    char *err, size_t errlen)
{
	struct ctx x;
	uint64_t t0 = uv_hrtime();
	const struct ds_format_ops *ops = ops_of(ds);
	char *raw_dir = NULL;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&x, 0, sizeof(x));
	x.ds = ds;
	x.o = o;
	x.r = out;
	if (o->labels) {
		if (aud_decl_from_list(&x.decl, o->labels, err, errlen))
			return -1;
	} else if (ds->labels_json) {
		if (aud_decl_from_json(&x.decl, out, ds->labels_json, err, errlen)) {
			free(x.decl.v);
			return -1;
		}
	} else {
		x.decl.mode = AUD_MODE_HISTOGRAM;
	}
	/* Out of descriptors, say: the audit cannot run, and nothing is
	 * allocated yet. */
	rc = uv_loop_init(&x.loop);
	if (rc) {
		cb_set_err(err, errlen, "cannot start an event loop: %s", uv_strerror(rc));
		free(x.decl.v);
		return -1;
	}
	x.decl.active = x.decl.mode != AUD_MODE_HISTOGRAM;
	out->mode = x.decl.mode;
	out->jobs = o->jobs ? o->jobs : uv_available_parallelism();
	if (out->jobs < 1)
		out->jobs = 1;
	x.max = out->jobs;
	out->ncases = ds->ncases;
	out->cases = xcalloc(ds->ncases ? ds->ncases : 1, sizeof(*out->cases));
	x.label_read = xcalloc(ds->ncases ? ds->ncases : 1, sizeof(bool));
	x.jobs = xcalloc(ds->ncases ? ds->ncases : 1, sizeof(*x.jobs));
	x.queue = xcalloc(ds->ncases ? ds->ncases : 1, sizeof(*x.queue));
	if (ops->audit_begin)
		raw_dir = ops->audit_begin(ds);
	for (i = 0; i < ds->ncases; i++) {
		case_files(ds, ops, i, raw_dir, &out->cases[i]);
		x.jobs[i].ctx = &x;
		x.jobs[i].index = i;
		x.queue[i] = i;
	}
	free(raw_dir);
	x.nqueue = ds->ncases;
	x.declared = aud_decl_text(x.decl.v, x.decl.n);

	/* libuv sizes its pool (4 threads by default) once, at its first use,
	 * from UV_THREADPOOL_SIZE: unless the user set it, ask for enough
	 * threads for this audit and any later one (the cores, or more jobs),
	 * and take the variable away again so that trainers never inherit it.
	 * x.max, not the pool, bounds this audit's concurrency. */
	if (!getenv("UV_THREADPOOL_SIZE")) {
		unsigned want = uv_available_parallelism();
		char n[16];

		if (want < x.max)
			want = x.max;
		if (want < 4)
			want = 4;
		snprintf(n, sizeof(n), "%u", want > 1024 ? 1024 : want);
		x.unset_env = setenv("UV_THREADPOOL_SIZE", n, 0) == 0;
	}
	run_queue(&x);

	if (x.decl.mode == AUD_MODE_HISTOGRAM) {
		aud_decl_infer(&x.decl, out, x.label_read);
		x.decl.active = true;
		free(x.declared);
		x.declared = aud_decl_text(x.decl.v, x.decl.n);
		x.nqueue = 0;
		for (i = 0; i < ds->ncases; i++) {
			const struct aud_case *c = &out->cases[i];
			size_t k;
			bool odd = false;

			if (!x.label_read[i])
				continue;
			for (k = 0; k < c->nvalues && !odd; k++)
				odd = !aud_decl_has(&x.decl, c->values[k].value);
			if (odd)
				x.queue[x.nqueue++] = i;
		}
		x.values_only = true;
		run_queue(&x);
	}
	/* UV_EBUSY: a handle left open, which this loop never has. */
	rc = uv_loop_close(&x.loop);
	assert(rc == 0);
	out->declared = x.decl.v;
	out->ndeclared = x.decl.n;
	count_findings(out);
	out->seconds = (double)(uv_hrtime() - t0) / 1e9;
	free(x.declared);
	free(x.jobs);
	free(x.queue);
	free(x.label_read);
	return 0;
}

void aud_result_release(struct aud_result *r)
{
	size_t i, k;

	for (i = 0; i < r->ncases; i++) {
		struct aud_case *c = &r->cases[i];

		for (k = 0; k < c->nfiles; k++)
			free(c->files[k]);
		free(c->files);
		for (k = 0; k < c->nskipped_files; k++)
			free(c->skipped_files[k]);
		free(c->skipped_files);
		free(c->skip_reason);
		for (k = 0; k < c->nfindings; k++)
			free(c->findings[k].detail);
		free(c->findings);
		free(c->values);
	}
	free(r->cases);
	free(r->declared);
	memset(r, 0, sizeof(*r));
}

unsigned aud_case_severities(const struct aud_result *r, size_t i)
{
	unsigned bits = 0;
	size_t k;

	assert(i < r->ncases);
	for (k = 0; k < r->cases[i].nfindings; k++)
		bits |= 1u << r->cases[i].findings[k].severity;
	return bits;
}

bool aud_case_crashes(const struct aud_result *r, size_t i)
{
	return (aud_case_severities(r, i) & (1u << AUD_CRASH)) != 0;
}

bool aud_case_clean(const struct aud_result *r, size_t i)
{
	assert(i < r->ncases);
	return !r->cases[i].skip_reason && r->cases[i].nfindings == 0;
}
