/* bundle_synth: WORKDIR/synthetic/, the repro bundle of a finished run
 * made by the plain bundle's own code (bundle.c) with de-identified cases
 * in place of the copies, and the verification trial that unpacks its
 * tarball and runs its repro.sh, as the user who receives it would
 * (include/casebisect/synth.h).
 *
 * Design note: the ladder. A crash may need more of a case than its
 * offending label voxels: the image's intensities (a NaN, a normalisation
 * that divides by the image's spread), or label voxels the audit did not
 * flag. So the verification climbs: first everything de-identified; when
 * that does not crash with the target's signature, the images' voxels are
 * kept; then the whole label and the origin too. The first rung that
 * reproduces is the bundle, and README.md and synthetic.json name what it
 * kept, so that a user never shares a patient's voxels without being told.
 * When no rung reproduces, the fully de-identified rung is kept, marked as
 * not verified. Each rung is built in a fresh folder (mkdtemp) and swapped
 * in only at the end; the user's dataset is only read. */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "casebisect/gpu.h"
#include "casebisect/journal.h"
#include "casebisect/json.h"
#include "casebisect/path.h"
#include "casebisect/supervise.h"
#include "casebisect/synth.h"
#include "casebisect/view.h"
#include "format.h"
#include "report_facts.h"
#include "run_config.h"

/* The rungs of the ladder, in order: what each keeps of the user's files. */
enum rung { RUNG_NONE = 0, RUNG_IMAGES, RUNG_ALL, RUNG__COUNT };

static const char *const rung_words[RUNG__COUNT] = {
	"nothing", "the images' voxels", "the images' voxels, the whole labels and the origin",
};

/* What every rung does, whatever it keeps. */
#define DEIDENTIFIED "image voxels replaced by noise, labels reduced to the offending " \
	"voxels, header text and extensions cleared, origin at 0"

/* What the finished run says, read back from its work directory. */
struct synth_input {
	const char *workdir;
	const struct report_input *rin; /* the run's report, for the bundle */
	struct run_config c;
	cJSON *run_root, *report;
	const char **command_v, **env_v;
	struct dataset ds;
	bool have_ds;
	const struct ds_case **cases; /* the culprits */
	size_t ncases;
	const cJSON **audit;          /* per culprit: its audit object, or NULL */
	struct cls_signature target;
	bool have_target;
	double longest_s;             /* the longest trial of the run */
};

/* One rung being built. */
struct synth_build {
	const struct synth_input *in;
	enum rung rung;
	char *dir;                    /* WORKDIR/.synthetic.new.XXXXXX */
	bool made;                    /* dir was created: remove it when dropped */
	cJSON *files;                 /* what was done to each file, for synthetic.json */
};

/* ---- reading the run ---- */

static const cJSON *get(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

static int read_input(struct synth_input *in, char *err, size_t errlen)
{
	char *text = jrn_read_run(in->workdir, err, errlen), *path;
	const cJSON *cul, *item, *t, *aud;
	size_t i;

	run_config_init(&in->c);
	if (!text)
		return -1;
	if (run_config_from_json(&in->c, text, &in->run_root, &in->command_v, &in->env_v, err,
				 errlen) < 0) {
		free(text);
		return -1;
	}
	free(text);
	path = cb_path_join(in->workdir, "report.json");
	in->report = json_read_file(path, err, errlen);
	free(path);
	if (!in->report)
		return -1;
	if (ds_load(&in->ds, in->c.dataset, &in->c.dso, err, errlen) < 0)
		return -1;
	in->have_ds = true;
	cul = get(in->report, "culprits");
	in->cases = xcalloc((size_t)cJSON_GetArraySize(cul) + 1, sizeof(*in->cases));
	in->audit = xcalloc((size_t)cJSON_GetArraySize(cul) + 1, sizeof(*in->audit));
	cJSON_ArrayForEach(item, cul) {
		const char *id = cJSON_GetStringValue(get(item, "case"));

		for (i = 0; id && i < in->ds.ncases && strcmp(in->ds.cases[i].id, id); i++)
			;
		if (!id || i == in->ds.ncases) {
			cb_set_err(err, errlen, "%s/report.json: culprit \"%s\" is not in the dataset %s",
				   in->workdir, id ? id : "?", in->ds.root);
			return -1;
		}
		in->cases[in->ncases++] = &in->ds.cases[i];
	}
	if (!in->ncases) {
		cb_set_err(err, errlen, "%s: the run names no culprit: there is nothing to make a "
			   "synthetic repro of", in->workdir);
		return -1;
	}
	aud = get(get(in->report, "audit"), "culprits");
	for (i = 0; i < in->ncases; i++)
		cJSON_ArrayForEach(item, aud)
			if (!strcmp(cJSON_GetStringValue(get(item, "case")) ?
				    cJSON_GetStringValue(get(item, "case")) : "", in->cases[i]->id))
				in->audit[i] = item;
	t = get(in->report, "target");
	if (cJSON_IsObject(t)) {
		/* report.json's target has result.json's signature fields at its top. */
		cJSON *wrap = json_object();

		json_add_str(wrap, "class", cJSON_GetStringValue(get(t, "class")));
		cJSON_AddItemToObject(wrap, "signature", cJSON_Duplicate(t, true));
		in->have_target = json_read_signature(wrap, &in->target) == 0;
		cJSON_Delete(wrap);
	}
	item = get(get(in->report, "trial_time"), "longest_s");
	in->longest_s = cJSON_IsNumber(item) ? item->valuedouble : 0;
	return 0;
}

static void input_release(struct synth_input *in)
{
	if (in->have_ds)
		ds_release(&in->ds);
	free((void *)in->cases);
	free((void *)in->audit);
	free(in->command_v);
	free(in->env_v);
	cJSON_Delete(in->run_root);
	cJSON_Delete(in->report);
}

/* ---- building one rung ---- */

static int put_text(const char *base, const char *rel, const char *text, size_t len, char *err,
		    size_t errlen)
{
	char *path = cb_path_join(base, rel);
	int rc = cb_make_parents(base, rel, err, errlen);

	if (rc == 0)
		rc = cb_write_atomic(path, text, len, CB_WRITE_DURABLE, err, errlen);
	free(path);
	return rc;
}

/* The offending values the audit found in the case's file path (audit:
 * the case's audit object, or NULL), NULL when it found none (the label
 * stays whole); *geometry when it found a geometry finding in the case.
 * The caller frees the array. */
static struct synth_keep *offending(const cJSON *audit, const char *path, size_t *n,
				    bool *geometry)
{
	const cJSON *f, *findings = get(audit, "findings");
	struct synth_keep *v = xcalloc((size_t)cJSON_GetArraySize(findings) + 1, sizeof(*v));
	int a;

	*n = 0;
	*geometry = false;
	cJSON_ArrayForEach(f, findings) {
		const char *kind = cJSON_GetStringValue(get(f, "kind")), *file;
		const cJSON *value = get(f, "value"), *box = get(f, "bbox");

		if (kind && (!strcmp(kind, "shape") || !strcmp(kind, "spacing") ||
			     !strcmp(kind, "orientation")))
			*geometry = true;
		file = cJSON_GetStringValue(get(f, "file"));
		if (!file || strcmp(file, path) || !get(f, "voxels") || !cJSON_IsNumber(get(f, "voxels")))
			continue;
		/* not_finite's value is NaN, which JSON writes as null */
		v[*n].value = cJSON_IsNumber(value) ? value->valuedouble : NAN;
		v[*n].has_bbox = cJSON_IsObject(box);
		for (a = 0; v[*n].has_bbox && a < 3; a++) {
			v[*n].lo[a] = (int64_t)cJSON_GetArrayItem(get(box, "min"), a)->valuedouble;
			v[*n].hi[a] = (int64_t)cJSON_GetArrayItem(get(box, "max"), a)->valuedouble;
		}
		(*n)++;
	}
	if (!*n) {
		free(v);
		return NULL;
	}
	return v;
}

/* The bundle's put (rep_bundle_dest): case c's file src, de-identified as
 * the rung says, at dst (.../.bundle.new.XXXXXX/dataset/rel). */
static int synth_put(void *ctx, const struct ds_case *c, const char *src, bool label,
		     const char *dst, char *err, size_t errlen)
{
	struct synth_build *b = ctx;
	const char *rel = strstr(dst + strlen(b->dir) + 1, "/dataset/");
	bool geometry;
	size_t nkeep, k, j;
	struct synth_keep *keep;
	struct synth_options o = { 0 };
	struct synth_stats st;
	const char *what;
	cJSON *fo;
	int rc = -1;

	/* the bundle's cases are the culprits (or the smallest failing subset) */
	for (k = 0; k < b->in->ncases && strcmp(b->in->cases[k]->id, c->id); k++)
		;
	keep = offending(k < b->in->ncases ? b->in->audit[k] : NULL, src, &nkeep, &geometry);
	if (!path_is_nifti(src)) {
		cb_set_err(err, errlen, "%s: not NIfTI (.nii, .nii.gz): cannot be "
			   "de-identified; a synthetic repro needs the cases' NIfTI files", src);
		goto out;
	}
	for (j = 0; j < c->nfiles && strcmp(c->files[j], src); j++)
		;
	o.seed = 1 + k * 64 + j;
	for (what = path_base(src); j == c->nfiles && *what; what++)
		o.seed = o.seed * 31 + (unsigned char)*what; /* a raw file: its own noise */
	if (label) {
		o.flags = SYNTH_LABEL;
		o.keep = b->rung >= RUNG_ALL ? NULL : keep;
		o.nkeep = b->rung >= RUNG_ALL ? 0 : nkeep;
	} else if (b->rung >= RUNG_IMAGES) {
		o.flags = SYNTH_KEEP_VOXELS;
	}
	if (geometry || b->rung >= RUNG_ALL)
		o.flags |= SYNTH_KEEP_ORIGIN;
	if (synth_nifti(src, dst, &o, &st, err, errlen) < 0)
		goto out;
	if (!label)
		what = o.flags & SYNTH_KEEP_VOXELS ? "image, voxels kept" : "image, voxels replaced by noise";
	else
		what = o.nkeep ? "label, reduced to the offending voxels"
		       : b->rung >= RUNG_ALL ? "label, kept whole"
		       : cJSON_IsObject(get(b->in->report, "audit"))
			       ? "label, kept whole (the audit found no offending value)"
			       : "label, kept whole (no label audit ran: run with --prior audit)";
	fo = json_object();
	rel = rel ? cb_fmt("%s%s", BUNDLE_NAME, rel) : xstrdup(dst);
	json_add_str(fo, "file", rel);
	free((char *)rel);
	json_add_str(fo, "voxels", what);
	json_add_num(fo, "voxels_kept", (double)st.kept, true);
	json_add_num(fo, "voxels_total", (double)st.voxels, true);
	cJSON_AddBoolToObject(fo, "origin_kept", (o.flags & SYNTH_KEEP_ORIGIN) != 0);
	cJSON_AddItemToArray(b->files, fo);
	rc = 0;
out:
	free(keep);
	return rc;
}

static void build_release(struct synth_build *b)
{
	free(b->dir);
	cJSON_Delete(b->files);
}

/* ---- the verification trial ---- */

struct trial_done {
	struct sup_result result;
	bool done;
};

static void on_done(void *ctx, const struct sup_result *r)
{
	struct trial_done *d = ctx;

	d->result = *r;
	d->done = true;
}

/* The name of the synthetic bundle's archive in WORKDIR/synthetic/. */
#define SYNTH_TARBALL "synthetic-bundle.tar.gz"

/* The verification trial runs what the user who receives the archive runs,
 * in a fresh folder: the archive unpacked, then its repro.sh (which sets
 * the trials' environment and runs the command on its own dataset/); for
 * nnunet-pre, whose synthetic bundle holds raw cases alone (raw_only),
 * repro.sh --from-raw: nnUNetv2_plan_and_preprocess, then the command. */
static const char verify_script[] =
	"cd -- \"$1\" && tar xzf \"$2\" && exec bash " BUNDLE_NAME "/repro.sh ${3:+\"$3\"}";

/* The rung's bundle, unpacked from its tarball and run by its repro.sh, as
 * a trial of the run: its options and target, one device of its --gpus.
 * *out gets the result. 0, or -1 with err (the trial could not start: that
 * is no answer). */
static int verify(const struct synth_build *b, struct sup_result *out, char *err, size_t errlen)
{
	const struct synth_input *in = b->in;
	struct sup_options so;
	struct sup_trial_spec spec = { 0 };
	struct trial_done d = { 0 };
	struct gpu_info info;
	struct sup *s = NULL;
	char *tdir = cb_path_join(b->dir, "verify"), *unpack = cb_path_join(tdir, "unpacked");
	char *tarball = cb_path_join(b->dir, SYNTH_TARBALL), scratch[256];
	const char *argv[] = { "bash", "-c", verify_script, "casebisect-verify", unpack, tarball,
			       in->ds.format == DS_NNUNET_PRE ? "--from-raw" : "", NULL };
	size_t ngpu = 0;
	int gpus[GPU_MAX], rc = -1;

	memset(&info, 0, sizeof(info));
	if (mkdir(tdir, 0777) < 0 || mkdir(unpack, 0700) < 0) {
		cb_set_err(err, errlen, "%s: cannot create: %s", unpack, strerror(errno));
		goto out;
	}
	if (!in->c.gpus || strcmp(in->c.gpus, "none"))
		gpu_discover_from(&info, in->c.cudart, 10000);
	if (gpu_select(in->c.gpus ? in->c.gpus : "auto", &info, gpus, GPU_MAX, &ngpu, err,
		       errlen) < 0)
		goto out;
	memset(&so, 0, sizeof(so));
	so.limits = run_limits(&in->c);
	if (so.limits.timeout_s <= 0)
		so.limits.timeout_s = fmax(600, 3 * in->longest_s);
	so.no_blocking = in->c.no_blocking;
	so.cwd = unpack; /* repro.sh sets the environment (env.txt) itself */
	so.pass_pattern = in->c.pass_pattern;
	so.batch_pattern = in->c.batch_pattern;
	so.target = in->have_target ? &in->target : NULL;
	so.match = in->c.match;
	so.gpus = ngpu ? gpus : NULL;
	so.ngpus = ngpu ? 1 : 0;
	so.per_gpu = 1;
	if (!(s = sup_new(&so, err, errlen)))
		goto out;
	spec.number = 1;
	spec.argv = argv;
	spec.trial_dir = tdir;
	if (sup_start(s, &spec, on_done, &d, err, errlen) < 0)
		goto out;
	sup_run(s);
	if (!d.done)
		die("synthetic: the supervisor returned before the trial finished");
	*out = d.result;
	if (d.result.reason == SUP_R_NOT_FOUND || d.result.reason == SUP_R_NOT_EXECUTABLE ||
	    d.result.reason == SUP_R_SPAWN_ERROR || d.result.reason == SUP_R_WRITE_ERROR ||
	    d.result.reason == SUP_R_INTERRUPTED) {
		cb_set_err(err, errlen, "the verification trial could not run: %s",
			   d.result.error[0] ? d.result.error : sup_reason_name(d.result.reason));
		goto out;
	}
	rc = 0;
out:
	if (s)
		sup_free(s);
	/* the unpacked copy is the tarball's: only the logs stay */
	rep_remove_tree(unpack, scratch, sizeof(scratch));
	free(unpack);
	free(tarball);
	free(tdir);
	return rc;
}

/* ---- the texts ---- */

static void say(const struct synth_bundle_options *o, const char *fmt, ...) CB_PRINTF(2, 3);

static void say(const struct synth_bundle_options *o, const char *fmt, ...)
{
	va_list ap;
	char *line;

	if (!o || !o->say)
		return;
	va_start(ap, fmt);
	line = cb_vfmt(fmt, ap);
	va_end(ap);
	o->say(o->ctx, line);
	free(line);
}

/* A trial's end in words: "PASS (exit_0)", "FAIL (device_assert)". */
static char *trial_words(const struct sup_result *r)
{
	return cb_fmt("%s (%s%s%s)", sup_outcome_name(r->outcome), sup_reason_name(r->reason),
		      r->sig.klass != CLS_NONE ? ", " : "",
		      r->sig.klass != CLS_NONE ? cls_class_name(r->sig.klass) : "");
}

static void summarize(struct synth_result *res, const struct synth_input *in, const char *tried)
{
	const char *cls = in->have_target ? cls_class_name(in->target.klass) : "any failure";

	if (!res->verified)
		snprintf(res->summary, sizeof(res->summary), "synthetic repro not verified: no trial "
			 "was run on it (--no-verify); every case de-identified (" DEIDENTIFIED ")");
	else if (res->reproduced && res->kept == RUNG_NONE)
		snprintf(res->summary, sizeof(res->summary), "synthetic repro verified: crashes with "
			 "the same signature (%s) with every case de-identified (" DEIDENTIFIED
			 ")", cls);
	else if (res->reproduced)
		snprintf(res->summary, sizeof(res->summary), "synthetic repro verified: crashes with "
			 "the same signature (%s), but only with %s kept from the patients' files: "
			 "the crash depends on them (%s). The synthetic bundle holds them: check "
			 "before sharing it", cls, rung_words[res->kept], tried);
	else
		snprintf(res->summary, sizeof(res->summary), "synthetic repro does not reproduce "
			 "the crash (%s), even with the images' voxels and whole labels kept: the "
			 "crash depends on image content or header fields the synthetic files drop. "
			 "The synthetic bundle holds the fully de-identified cases", tried);
}

static char *readme_text(const struct synth_input *in, const struct synth_result *res)
{
	struct rep_buf b = { 0 };
	size_t i;

	rep_buf_printf(&b, "# casebisect synthetic repro\n\n"
		       "De-identified stand-ins for the %zu culprit case%s of the run in this work "
		       "directory: ", in->ncases, rep_plural(in->ncases));
	for (i = 0; i < in->ncases; i++) {
		if (i)
			rep_buf_puts(&b, ", ");
		rep_md_code(&b, in->cases[i]->id, false);
	}
	rep_buf_printf(&b, ".\n\n**%s.**\n\n"
		       "## What is in it\n\n"
		       "- `" SYNTH_TARBALL "`: the repro bundle to attach to an issue, in place of "
		       "the plain `bundle.tar.gz` (which holds the patients' files). Anywhere, as "
		       "any user: `tar xzf " SYNTH_TARBALL " && bash bundle/repro.sh`.\n"
		       "- `bundle/`: the same files, unpacked: repro.sh, the command, its "
		       "environment, casebisect's own programs it runs, and `dataset/`, the cases "
		       "in the dataset's own layout, every NIfTI file rewritten by niftilib with "
		       "the same shape, datatype and spacing (" DEIDENTIFIED " where nothing had "
		       "to be kept). Kept from the user's files: %s.\n"
		       "- `synthetic.json`: what was done to each file, and the verification "
		       "trial's result.\n"
		       "- `verify/`: the logs (stdout.log, stderr.log) of the verification trial, "
		       "which unpacked `" SYNTH_TARBALL "` in a fresh folder and ran its "
		       "`bundle/repro.sh`.\n\n"
		       "Case IDs, file names, dataset.json (cut to these cases), report.md, "
		       "excerpt.log and the trial logs are as they were: read them before sharing.\n",
		       res->summary, rung_words[res->kept]);
	return rep_buf_take(&b);
}

static char *json_text(const struct synth_result *res, const struct synth_build *b,
		       const struct sup_result *trial)
{
	cJSON *o = json_object(), *t;

	json_add_str(o, "summary", res->summary);
	cJSON_AddBoolToObject(o, "verified", res->verified);
	cJSON_AddBoolToObject(o, "reproduced", res->reproduced);
	json_add_str(o, "kept", rung_words[res->kept]);
	cJSON_AddItemToObject(o, "files", cJSON_Duplicate(b->files, true));
	if (res->verified) {
		t = json_object();
		json_add_str(t, "outcome", sup_outcome_name(trial->outcome));
		json_add_str(t, "reason", sup_reason_name(trial->reason));
		json_add_str(t, "class", cls_class_name(trial->sig.klass));
		json_add_signature(t, &trial->sig, b->in->c.match);
		cJSON_AddItemToObject(o, "trial", t);
	} else {
		cJSON_AddNullToObject(o, "trial");
	}
	return json_finish(o, true);
}

/* ---- the whole ---- */

/* README.md's opening paragraph of the rung's bundle. */
static char *bundle_note(enum rung rung)
{
	if (rung == RUNG_NONE)
		return cb_fmt("This bundle holds de-identified stand-ins for the image and label "
			      "files of the cases (" DEIDENTIFIED "), made by `casebisect bundle "
			      "--synthetic`: no voxel of a patient's image. Case IDs, file names, "
			      "report.md and excerpt.log are as they were: read them before you "
			      "share it.");
	return cb_fmt("This bundle holds stand-ins for the image and label files of the cases, "
		      "made by `casebisect bundle --synthetic`, but the crash needed %s of the "
		      "patients' files, and they are kept: check before you share it.",
		      rung_words[rung]);
}

static int start_rung(struct synth_build *b, const struct synth_input *in, enum rung rung,
		      char *err, size_t errlen)
{
	struct rep_facts f;
	struct rep_bundle_dest d = { 0 };
	char *note = bundle_note(rung);
	int rc = -1;

	memset(b, 0, sizeof(*b));
	b->in = in;
	b->rung = rung;
	b->files = cJSON_CreateArray();
	b->dir = cb_path_join(in->workdir, ".synthetic.new.XXXXXX");
	if (!mkdtemp(b->dir)) {
		cb_set_err(err, errlen, "%s: cannot create: %s", b->dir, strerror(errno));
		goto out;
	}
	b->made = true;
	/* the plain bundle's code, with synth_put making each case file */
	d.dir = cb_path_join(b->dir, BUNDLE_NAME);
	d.tarball = cb_path_join(b->dir, SYNTH_TARBALL);
	d.scratch = b->dir;
	d.put = synth_put;
	d.ctx = b;
	d.raw_only = in->ds.format == DS_NNUNET_PRE; /* its arrays: see verify_script */
	d.readme_note = note;
	rep_facts_init(&f, in->rin);
	if (!f.nbundle)
		cb_set_err(err, errlen, "%s: the run's report names no case for a bundle",
			   in->workdir);
	else
		rc = rep_bundle_write_to(&f, &d, err, errlen);
	rep_facts_release(&f);
	free((char *)d.dir);
	free((char *)d.tarball);
out:
	free(note);
	return rc;
}

static void drop_rung(struct synth_build *b)
{
	char scratch[256];

	if (b->made)
		rep_remove_tree(b->dir, scratch, sizeof(scratch));
	build_release(b);
	memset(b, 0, sizeof(*b));
}

static int finish(struct synth_build *b, const struct synth_result *res,
		  const struct sup_result *trial, char *err, size_t errlen)
{
	char *readme = readme_text(b->in, res), *json = json_text(res, b, trial);
	char *final = cb_path_join(b->in->workdir, SYNTH_DIR);
	int rc = put_text(b->dir, "README.md", readme, strlen(readme), err, errlen);

	if (rc == 0)
		rc = put_text(b->dir, "synthetic.json", json, strlen(json), err, errlen);
	if (rc == 0)
		rc = rep_remove_tree(final, err, errlen);
	if (rc == 0 && rename(b->dir, final) < 0) {
		cb_set_err(err, errlen, "%s: cannot put the synthetic bundle in place: %s", final,
			   strerror(errno));
		rc = -1;
	}
	free(readme);
	free(json);
	free(final);
	return rc;
}

int synth_bundle(const struct report_input *rin, const struct synth_bundle_options *o,
		 struct synth_result *res, char *err, size_t errlen)
{
	const char *workdir = rin->workdir;
	struct synth_input in;
	struct synth_build b, first;
	struct sup_result trial, first_trial;
	struct rep_buf tried = { 0 };
	enum rung rung;
	char *words, *tried_text = NULL, *abs_workdir = NULL;
	int rc = -1;

	memset(&in, 0, sizeof(in));
	memset(res, 0, sizeof(*res));
	memset(&b, 0, sizeof(b));
	memset(&first, 0, sizeof(first));
	sup_result_init(&trial, 1);
	sup_result_init(&first_trial, 1);
	in.rin = rin;
	in.workdir = abs_workdir = realpath(workdir, NULL);
	if (!abs_workdir) {
		cb_set_err(err, errlen, "%s: %s", workdir, strerror(errno));
		goto out;
	}
	if (read_input(&in, err, errlen) < 0)
		goto out;
	res->ncases = in.ncases;
	for (rung = RUNG_NONE; rung < RUNG__COUNT; rung++) {
		if (start_rung(&b, &in, rung, err, errlen) < 0)
			goto out;
		res->kept = rung;
		if (o && !o->verify)
			break;
		say(o, "synthetic: verification trial, keeping %s", rung_words[rung]);
		if (verify(&b, &trial, err, errlen) < 0)
			goto out;
		res->verified = true;
		words = trial_words(&trial);
		say(o, "synthetic: %s", words);
		rep_buf_printf(&tried, "%s%s: %s", tried.len ? "; " : "",
			       rung == RUNG_NONE ? "fully de-identified"
			       : rung == RUNG_IMAGES ? "images kept" : "all voxels kept", words);
		free(words);
		if (trial.outcome == SUP_FAIL) {
			res->reproduced = true;
			break;
		}
		if (rung == RUNG_NONE) {
			first = b; /* kept in case no rung reproduces */
			first_trial = trial;
			memset(&b, 0, sizeof(b));
		} else {
			drop_rung(&b);
		}
	}
	if (!res->reproduced && res->verified) {
		drop_rung(&b);
		b = first;
		trial = first_trial;
		memset(&first, 0, sizeof(first));
		res->kept = RUNG_NONE;
	}
	tried_text = rep_buf_take(&tried);
	summarize(res, &in, tried_text);
	if (finish(&b, res, &trial, err, errlen) < 0)
		goto out;
	b.made = false; /* moved into place */
	snprintf(res->dir, sizeof(res->dir), "%s/%s", abs_workdir, SYNTH_DIR);
	snprintf(res->tarball, sizeof(res->tarball), "%s/%s/%s", abs_workdir, SYNTH_DIR,
		 SYNTH_TARBALL);
	rc = 0;
out:
	drop_rung(&b);
	drop_rung(&first);
	free(tried_text);
	input_release(&in);
	free(abs_workdir);
	return rc;
}

const char *synth_share_note(const struct synth_result *res)
{
	if (res->kept != RUNG_NONE)
		return "It keeps part of the patients' files (the crash needed them): check it "
		       "before you attach it anywhere.";
	if (res->verified && !res->reproduced)
		return "Its cases are de-identified, but it does not reproduce the crash.";
	return "Its cases are de-identified: attach this one to a public issue, not "
	       "bundle.tar.gz.";
}

char *synth_report_md(const char *workdir)
{
	char *path = cb_fmt("%s/%s/synthetic.json", workdir, SYNTH_DIR), *sh, *text = NULL;
	char scratch[256];
	cJSON *o = json_read_file(path, scratch, sizeof(scratch));
	const char *summary = cJSON_GetStringValue(get(o, "summary"));
	struct rep_buf b = { 0 };

	if (summary) {
		const char *kept = cJSON_GetStringValue(get(o, "kept"));

		sh = cb_fmt("%s/%s", workdir, SYNTH_DIR);
		rep_buf_puts(&b, "A synthetic repro, with the culprits de-identified, is in ");
		rep_md_code(&b, sh, false);
		rep_buf_puts(&b, " (its README.md says what it holds): ");
		rep_md_verbatim(&b, summary, false, false);
		rep_buf_puts(&b, ".\n\n");
		if (kept && !strcmp(kept, rung_words[RUNG_NONE]))
			rep_buf_puts(&b, "To show the crash in public (an issue, a forum), attach ");
		else
			rep_buf_puts(&b, "To show the crash in public, once you have checked what it "
				     "kept, attach ");
		rep_md_code(&b, SYNTH_DIR "/" SYNTH_TARBALL, false);
		rep_buf_puts(&b, ", never `" TARBALL_NAME "`: it runs the same way, anywhere:\n\n");
		rep_md_block(&b, "tar xzf " SYNTH_TARBALL " && bash " BUNDLE_NAME "/repro.sh", "sh");
		text = rep_buf_take(&b);
		free(sh);
	}
	cJSON_Delete(o);
	free(path);
	return text;
}

struct cJSON *synth_report_json(const char *workdir)
{
	char *path = cb_fmt("%s/%s/synthetic.json", workdir, SYNTH_DIR), scratch[256];
	cJSON *o = json_read_file(path, scratch, sizeof(scratch)), *out;
	static const char *const keep[] = { "summary", "verified", "reproduced", "kept" };
	size_t i;

	free(path);
	if (!cJSON_GetStringValue(get(o, "summary"))) {
		cJSON_Delete(o);
		return NULL;
	}
	out = json_object();
	path = cb_fmt("%s/%s", workdir, SYNTH_DIR);
	json_add_str(out, "path", path);
	free(path);
	path = cb_fmt("%s/%s/%s", workdir, SYNTH_DIR, SYNTH_TARBALL);
	if (access(path, F_OK) == 0)
		json_add_str(out, "tarball", path);
	free(path);
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(o, keep[i]);

		if (v) /* synthetic.json always has them: the schema tells a damaged one */
			cJSON_AddItemToObject(out, keep[i], v);
	}
	cJSON_Delete(o);
	return out;
}
