/* format_nnunet_pre: an nnU-Net v2 preprocessed dataset,
 * nnUNet_preprocessed/DatasetXXX_Name/ with a plans JSON, dataset.json,
 * dataset_fingerprint.json and the configuration's data folder; its view is
 * a preprocessed root whose data folder links the subset's files, and audit
 * reads its labels from gt_segmentations/ or the raw dataset. See format.h
 * for the ops, dataset.h and view.h for the format and the view,
 * ../shared/nnunet.md sections 3 and 3.4. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "casebisect/json.h"
#include "casebisect/path.h"
#include "casebisect/util.h"
#include "format.h"

/* ---- detect ---- */

static bool is_plans_name(const char *name)
{
	return ld_ends_with(name, ".json") && strstr(name, "Plans");
}

/* A folder with dataset_fingerprint.json or a plans JSON. */
static bool detect_pre(const char *root, bool is_dir, const struct ld_names *top)
{
	size_t i;

	(void)root;
	if (!is_dir)
		return false;
	if (ld_names_find(top, "dataset_fingerprint.json") >= 0)
		return true;
	for (i = 0; i < top->n; i++)
		if (is_plans_name(top->v[i]))
			return true;
	return false;
}

/* ---- load ---- */

/* Picks the plans file: --plans, else nnUNetPlans.json, else the only one. */
static int pick_plans(struct ld *l, const struct ld_names *top, char **out)
{
	struct dataset *ds = l->ds;
	char list[512] = "";
	size_t n = 0, i;
	const char *only = NULL;

	for (i = 0; i < top->n; i++) {
		if (!is_plans_name(top->v[i]))
			continue;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%.*s", n ? ", " : "",
			 (int)(strlen(top->v[i]) - 5), top->v[i]);
		only = top->v[i];
		n++;
	}
	if (l->o->plans) {
		const char *p = l->o->plans;
		char *name = ld_ends_with(p, ".json") ? xstrdup(p) : cb_fmt("%s.json", p);

		if (!*p || strchr(p, '/') || ld_names_find(top, name) < 0) {
			ld_fail(l, "%s: no plans \"%s\" (%s.json not found; available: %s); pick one "
				"with --plans", ds->root, p, p, n ? list : "none");
			free(name);
			return -1;
		}
		*out = cb_path_join(ds->root, name);
		free(name);
		return 0;
	}
	if (ld_names_find(top, "nnUNetPlans.json") >= 0) {
		if (n > 1)
			ld_warn(l, "%s: using nnUNetPlans (the default) of several plans files (%s); "
				"pick another with --plans", ds->root, list);
		*out = cb_path_join(ds->root, "nnUNetPlans.json");
		return 0;
	}
	if (n == 1) {
		*out = cb_path_join(ds->root, only);
		return 0;
	}
	if (!n)
		return ld_fail(l, "%s: no plans file (nnUNetPlans.json); run nnUNetv2_plan_and_preprocess "
			       "for this dataset, or pass the right folder", ds->root);
	return ld_fail(l, "%s: several plans files and no nnUNetPlans.json: %s; pick one with "
		       "--plans", ds->root, list);
}

/* configurations.<cfg>.data_identifier, following "inherits_from". */
static int data_identifier(struct ld *l, const cJSON *plans, const char *cfg, const char **out)
{
	const char *path = l->ds->plans_file;
	const cJSON *cfgs = cJSON_GetObjectItemCaseSensitive(plans, "configurations");
	const cJSON *c, *di, *inh, *it;
	const char *name = cfg;
	char list[512] = "";
	int hops, max;

	if (!cJSON_IsObject(cfgs) || !cfgs->child)
		return ld_fail(l, "%s: no \"configurations\"; is this an nnU-Net v2 plans file?", path);
	for (it = cfgs->child; it; it = it->next)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 it == cfgs->child ? "" : ", ", it->string);
	c = cJSON_GetObjectItemCaseSensitive(cfgs, cfg);
	if (!c)
		return ld_fail(l, "%s: no configuration \"%s\" (available: %s); pick one of "
			       "those", path, cfg, list);
	max = cJSON_GetArraySize(cfgs);
	for (hops = 0; ; hops++) {
		if (!cJSON_IsObject(c))
			return ld_fail(l, "%s: configurations.%s is not an object", path, name);
		di = cJSON_GetObjectItemCaseSensitive(c, "data_identifier");
		if (di) {
			if (!cJSON_IsString(di) || ld_id_problem(di->valuestring))
				return ld_fail(l, "%s: configurations.%s.data_identifier must be a folder "
					       "name such as \"nnUNetPlans_3d_fullres\"", path, name);
			*out = di->valuestring;
			return 0;
		}
		inh = cJSON_GetObjectItemCaseSensitive(c, "inherits_from");
		if (!inh)
			return ld_fail(l, "%s: configuration \"%s\" has no \"data_identifier\" (nor "
				       "\"inherits_from\" a configuration that has one)", path, cfg);
		if (!cJSON_IsString(inh))
			return ld_fail(l, "%s: configurations.%s.inherits_from must be a configuration "
				       "name", path, name);
		if (hops >= max)
			return ld_fail(l, "%s: configuration \"%s\": \"inherits_from\" goes round in a "
				       "loop; end it at a configuration with a \"data_identifier\"", path,
				       cfg);
		c = cJSON_GetObjectItemCaseSensitive(cfgs, inh->valuestring);
		if (!c)
			return ld_fail(l, "%s: configurations.%s.inherits_from: \"%s\" is not a "
				       "configuration (available: %s)", path, name, inh->valuestring, list);
		name = inh->valuestring;
	}
}

/* The data folder's cases: <id>.b2nd + <id>_seg.b2nd + <id>.pkl, or <id>.npz
 * (+ <id>.npy, <id>_seg.npy) + <id>.pkl. */
static int load_pre_data(struct ld *l)
{
	struct dataset *ds = l->ds;
	const char *dd = ld_shown(ds, ds->data_dir);
	size_t nb2nd = 0, nnpz = 0, nstray = 0, norphan = 0, i;
	const char *stray = NULL, *orphan = NULL;
	struct ld_names nm;
	bool b2nd;
	int r, ret = -1;

	{
		char *what = cb_fmt("%s/", dd);

		r = ld_names_read(l, ds->data_dir, what, &nm);
		free(what);
	}
	if (r == 1)
		return ld_fail(l, "%s: not found; configuration \"%s\" of %s keeps its data there "
			       "(run nnUNetv2_preprocess with -c %s, or pick another configuration)",
			       ds->data_dir, ds->configuration, ld_shown(ds, ds->plans_file),
			       ds->configuration);
	if (r)
		return -1;
	for (i = 0; i < nm.n; i++) {
		const char *n = nm.v[i];

		if (ld_ends_with(n, "_seg.b2nd") || ld_ends_with(n, ".npy") || ld_ends_with(n, ".pkl"))
			continue;
		if (ld_ends_with(n, ".b2nd"))
			nb2nd++;
		else if (ld_ends_with(n, ".npz"))
			nnpz++;
		else if (!nstray++)
			stray = n;
	}
	if (nstray)
		ld_warn(l, "%s/: %zu file%s that nnU-Net does not expect (e.g. %s); the views leave "
			"them out, but nnU-Net training in this folder would stop on them", dd, nstray,
			nstray == 1 ? "" : "s", stray);
	if (!nb2nd && !nnpz) {
		ld_fail(l, "%s: no preprocessed cases (no <case>.b2nd or <case>.npz); run "
			"nnUNetv2_preprocess with -c %s", ds->data_dir, ds->configuration);
		goto out;
	}
	b2nd = nb2nd > 0;
	if (nb2nd && nnpz)
		ld_warn(l, "%s/: holds both .b2nd and .npz cases; using the .b2nd ones (nnU-Net v2.6+)",
			dd);
	for (i = 0; i < nm.n; i++) {
		const char *n = nm.v[i];
		static const char *const b2nd_parts[] = { ".b2nd", "_seg.b2nd", ".pkl" };
		static const char *const npz_parts[] = { ".npz", ".npy", "_seg.npy", ".pkl" };
		const char *const *parts = b2nd ? b2nd_parts : npz_parts;
		size_t nparts = b2nd ? 3 : 4, p, idlen;
		char *id;
		const char *why;

		if (b2nd ? !ld_ends_with(n, ".b2nd") || ld_ends_with(n, "_seg.b2nd") : !ld_ends_with(n, ".npz"))
			continue;
		idlen = strlen(n) - strlen(parts[0]);
		id = xmalloc(idlen + 1);
		memcpy(id, n, idlen);
		id[idlen] = '\0';
		why = ld_id_problem(id);
		if (why) {
			ld_fail(l, "%s/%s: case ID \"%s\" %s; rename the case", dd, n, id, why);
			free(id);
			goto out;
		}
		ld_add_case(l, id, nparts, 0);
		for (p = 0; p < nparts; p++) {
			char *name = cb_fmt("%s%s", id, parts[p]), *what;
			long at = ld_names_find(&nm, name);
			bool optional = !b2nd && (p == 1 || p == 2);

			if (at < 0) {
				if (optional) {
					free(name);
					continue;
				}
				ld_fail(l, "%s/%s: missing; case \"%s\" has %s but nnU-Net also needs "
					"%s%s (run nnUNetv2_preprocess again, or remove the case's files)",
					dd, name, id, n, id, parts[p]);
				free(name);
				goto out;
			}
			nm.used[at] = true;
			r = ld_add_file(l, nm.fd, name, cb_path_join(ds->data_dir, name));
			if (r) {
				what = cb_fmt("%s/%s", dd, name);
				ld_file_failed(l, what, ld_vanished);
				free(what);
			}
			free(name);
			if (r)
				goto out;
		}
		{
			struct ds_case *c = &ds->cases[ds->ncases - 1];

			/* The label: _seg.b2nd, or _seg.npy, or the .npz that holds "seg". */
			c->label = b2nd ? 1 : 0;
			if (!b2nd && c->nfiles >= 3 && ld_ends_with(c->files[c->nfiles - 2], "_seg.npy"))
				c->label = (int)c->nfiles - 2;
		}
	}
	for (i = 0; i < nm.n; i++) {
		const char *n = nm.v[i];

		if (nm.used[i])
			continue;
		if (ld_ends_with(n, ".pkl") || (b2nd && ld_ends_with(n, "_seg.b2nd")) ||
		    (!b2nd && ld_ends_with(n, ".npy")))
			if (!norphan++)
				orphan = n;
	}
	if (norphan)
		ld_warn(l, "%s/: %zu file%s of no case (e.g. %s: its data file is missing); ignored", dd,
			norphan, norphan == 1 ? "" : "s", orphan);
	ret = 0;
out:
	ld_names_release(&nm);
	return ret;
}

static int load_pre(struct ld *l, bool is_dir, const struct ld_names *top)
{
	struct dataset *ds = l->ds;
	const char *cfg = l->o->configuration ? l->o->configuration : "3d_fullres";
	cJSON *plans = NULL, *dj = NULL;
	const cJSON *dn;
	const char *di = NULL;
	int ret = -1;

	(void)is_dir;
	if (pick_plans(l, top, &ds->plans_file))
		goto out;
	if (ld_read_json(l, ds->plans_file, "pick another with --plans", &plans))
		goto out;
	dn = cJSON_GetObjectItemCaseSensitive(plans, "dataset_name");
	if (!cJSON_IsString(dn) || ld_id_problem(dn->valuestring)) {
		ld_fail(l, "%s: no \"dataset_name\" (a folder name such as \"Dataset501_Liver\"); "
			"is this an nnU-Net v2 plans file?", ds->plans_file);
		goto out;
	}
	ds->dataset_name = xstrdup(dn->valuestring);
	ds->configuration = xstrdup(cfg);
	if (data_identifier(l, plans, cfg, &di))
		goto out;
	ds->data_dir = cb_path_join(ds->root, di);

	if (ld_nnunet_dataset_json(l, "nnUNetv2_train reads the dataset.json of the preprocessed "
				   "folder (nnUNetv2_plan_and_preprocess copies it there)", &dj))
		goto out;
	ds->fingerprint_file = cb_path_join(ds->root, "dataset_fingerprint.json");
	{
		struct stat st;

		if (stat(ds->fingerprint_file, &st) != 0 && errno == ENOENT) {
			ld_fail(l, "%s: not found; nnUNetv2_train needs it (nnUNetv2_plan_and_preprocess "
				"or nnUNetv2_extract_fingerprint writes it)", ds->fingerprint_file);
			goto out;
		}
		if (stat(ds->fingerprint_file, &st) != 0 || access(ds->fingerprint_file, R_OK) != 0) {
			ld_fail(l, "%s: cannot read: %s (nnUNetv2_train needs it)", ds->fingerprint_file,
				strerror(errno));
			goto out;
		}
	}
	if (load_pre_data(l))
		goto out;
	ret = 0;
out:
	cJSON_Delete(plans);
	cJSON_Delete(dj);
	return ret;
}

/* ---- view ---- */

/* nnunet-pre (nnunet.md 3.4, option A). */
static int build_pre(struct view_builder *b, struct view *v)
{
	const struct dataset *ds = b->ds;
	const char *data_name = ds->data_dir ? path_base(ds->data_dir) : "";
	static const char *const env_keys[] = { "nnUNet_preprocessed", "nnUNet_results",
						"nnUNet_raw" };
	const char *meta[3];
	char *rel = NULL, q[256];
	int vfd = -1, roots[3] = { -1, -1, -1 }, dfd = -1, datafd = -1, rc = -1;
	size_t i, j;

	meta[0] = ds->plans_file;
	meta[1] = ds->dataset_json;
	meta[2] = ds->fingerprint_file;
	for (i = 0; i < 3; i++) {
		if (!meta[i] || meta[i][0] != '/' || !vb_name_is_safe(path_base(meta[i]))) {
			cb_set_err(b->err, b->errlen, "nnunet-pre dataset %s: the %s file is %s", ds->root,
				i == 0 ? "plans" : i == 1 ? "dataset.json" : "fingerprint",
				meta[i] ? "not an absolute file path" : "not known");
			return -1;
		}
	}
	vb_quote(q, sizeof(q), ds->dataset_name ? ds->dataset_name : "");
	if (!ds->dataset_name || !vb_name_is_safe(ds->dataset_name)) {
		cb_set_err(b->err, b->errlen, "%s: dataset_name \"%s\" cannot be a folder name",
			ds->plans_file, q);
		return -1;
	}
	if (!vb_name_is_safe(data_name)) {
		vb_quote(q, sizeof(q), ds->data_dir ? ds->data_dir : "");
		cb_set_err(b->err, b->errlen, "nnunet-pre dataset %s: data folder \"%s\" has no name "
			"a folder can take", ds->root, q);
		return -1;
	}

	if (vb_make_nnunet_dirs(b, &vfd, roots) < 0)
		goto out;
	dfd = vb_make_dir(b, roots[0], VIEW_DIR "/pp", ds->dataset_name);
	if (dfd < 0)
		goto out;
	rel = cb_path_join(VIEW_DIR "/pp", ds->dataset_name);
	for (i = 0; i < 3; i++)
		if (vb_make_link_unique(b, dfd, meta[i], path_base(meta[i]), rel, NULL) < 0)
			goto out;
	datafd = vb_make_dir(b, dfd, rel, data_name);
	if (datafd < 0)
		goto out;
	free(rel);
	rel = vb_path_join3(VIEW_DIR "/pp", ds->dataset_name, data_name);
	for (i = 0; i < b->n; i++) {
		const struct ds_case *c = &ds->cases[b->subset[i]];

		for (j = 0; j < c->nfiles; j++)
			if (vb_make_link_unique(b, datafd, c->files[j], path_base(c->files[j]), rel,
						c->id) < 0)
				goto out;
	}
	v->path = vb_path_join3(b->tdir, VIEW_DIR, "pp");
	vb_nnunet_env(v, b, env_keys);
	rc = 0;
out:
	free(rel);
	vb_close_fds(roots, 3);
	{
		int more[] = { datafd, dfd, vfd };

		vb_close_fds(more, CB_ARRAY_SIZE(more));
	}
	return rc;
}

/* ---- audit: the labels nnU-Net made from the raw ones ---- */

/* The raw dataset of a preprocessed one: $nnUNet_raw/<its folder name>. */
static char *pre_raw_dir(const struct dataset *ds)
{
	const char *raw = getenv("nnUNet_raw");
	char *dir;
	struct stat st;

	if (!raw || !*raw)
		return NULL;
	dir = cb_path_join(raw, path_base(ds->root));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		free(dir);
		return NULL;
	}
	return dir;
}

/* The data folder holds arrays, not NIfTI: the label is
 * gt_segmentations/<id><ending>, else $nnUNet_raw/.../labelsTr/<id><ending>,
 * and the images, when the raw dataset is there, its imagesTr/ channels. */
static void pre_audit_files(const struct dataset *ds, size_t i, const char *raw_dir,
			    struct aud_case *c)
{
	const struct ds_case *dc = &ds->cases[i];
	const char *ending = ds->file_ending ? ds->file_ending : ".nii.gz";
	char *name = cb_fmt("%s%s", dc->id, ending);
	char *gt = cb_fmt("%s/gt_segmentations/%s", ds->root, name);
	size_t k;

	if (!cb_is_file(gt) && raw_dir) {
		free(gt);
		gt = cb_fmt("%s/labelsTr/%s", raw_dir, name);
	}
	if (cb_is_file(gt)) {
		aud_case_add_file(c, gt);
		if (c->nfiles)
			c->label = 0;
	} else {
		c->skip_reason = cb_fmt("no label file: neither gt_segmentations/%s nor "
					"$nnUNet_raw/.../labelsTr/%s", name, name);
		free(gt);
	}
	free(name);
	for (k = 0; raw_dir && c->label == 0 && k < ds->nchannels; k++) {
		char *img = cb_fmt("%s/imagesTr/%s_%04zu%s", raw_dir, dc->id, k, ending);

		if (cb_is_file(img))
			aud_case_add_file(c, img);
		else
			free(img);
	}
}

static bool pre_has_labels(const struct dataset *ds)
{
	char *gt = cb_path_join(ds->root, "gt_segmentations");
	struct stat st;
	bool ok = stat(gt, &st) == 0 && S_ISDIR(st.st_mode);
	char *raw = ok ? NULL : pre_raw_dir(ds);

	free(gt);
	ok = ok || raw;
	free(raw);
	return ok;
}
/* ---- the repro bundle ---- */

static const char *pre_bundle_name(const struct dataset *ds)
{
	return ds->dataset_name ? ds->dataset_name : "dataset";
}

/* <name>/<data folder>/<file name>, as the preprocessed folder has them. */
static char *pre_bundle_place(const struct fmt_bundle *bd, size_t k, size_t j)
{
	const struct dataset *ds = bd->ds;

	return cb_fmt("%s/%s/%s", pre_bundle_name(ds),
		      ds->data_dir ? path_base(ds->data_dir) : "data",
		      path_base(bd->cases[k]->files[j]));
}

/* The culprits' raw files (all of them, or none): label and channels from
 * $nnUNet_raw/<name>/, under nnUNet_raw/<name>/ with the raw dataset.json
 * cut to them; or, without the raw dataset, the labels of
 * gt_segmentations/. Either way fix[k] names the label file. Only for a
 * maintainer's eyes and repro.sh --from-raw: the probe trains on the
 * preprocessed files. */
static int pre_bundle_raw(struct fmt_bundle *bd, const char *name)
{
	const struct dataset *ds = bd->ds;
	const char *ending = ds->file_ending ? ds->file_ending : ".nii.gz";
	char *raw = pre_raw_dir(ds), *src, *rel;
	const char *base = path_base(ds->root);
	size_t k, ch;
	bool all = raw != NULL;
	int rc = 0;
	cJSON *doc;

	for (k = 0; all && k < bd->ncases; k++)
		for (ch = 0; all && ch <= ds->nchannels; ch++) {
			const char *id = bd->cases[k]->id;

			src = ch < ds->nchannels ? cb_fmt("%s/imagesTr/%s_%04zu%s", raw, id, ch, ending)
						 : cb_fmt("%s/labelsTr/%s%s", raw, id, ending);
			all = cb_is_file(src);
			free(src);
		}
	if (bd->raw_only && !all) {
		/* gt_segmentations alone: nothing to train on from raw */
		cb_set_err(bd->err, bd->errlen, "%s: the culprits' raw images are not there "
			   "(%s/imagesTr/ with their channels, and labelsTr/; gt_segmentations/ "
			   "holds labels alone): a synthetic repro of a preprocessed dataset is made "
			   "from the raw cases, as the preprocessed arrays cannot be de-identified; "
			   "set nnUNet_raw to the folder holding %s", ds->root,
			   raw ? raw : "$nnUNet_raw/<dataset>", base);
		free(raw);
		return -1;
	}
	for (k = 0; rc == 0 && k < bd->ncases; k++) {
		const char *id = bd->cases[k]->id;

		/* Not the _seg array: the file to fix is the NIfTI it was made from. */
		free(bd->fix[k]);
		bd->fix[k] = NULL;
		for (ch = 0; all && rc == 0 && ch < ds->nchannels; ch++) {
			src = cb_fmt("%s/imagesTr/%s_%04zu%s", raw, id, ch, ending);
			rel = cb_fmt("nnUNet_raw/%s/imagesTr/%s_%04zu%s", base, id, ch, ending);
			rc = bd->copy_case(bd, k, false, src, rel);
			free(src);
			free(rel);
		}
		src = all ? cb_fmt("%s/labelsTr/%s%s", raw, id, ending)
			  : cb_fmt("%s/gt_segmentations/%s%s", ds->root, id, ending);
		rel = all ? cb_fmt("nnUNet_raw/%s/labelsTr/%s%s", base, id, ending)
			  : cb_fmt("%s/gt_segmentations/%s%s", name, id, ending);
		if (rc == 0 && cb_is_file(src)) {
			rc = bd->copy_case(bd, k, true, src, rel);
			free(bd->fix[k]);
			bd->fix[k] = rel;
			rel = NULL;
		}
		free(src);
		free(rel);
	}
	if (rc == 0 && all) {
		src = cb_path_join(raw, "dataset.json");
		doc = json_read_file(cb_is_file(src) ? src : ds->dataset_json, bd->err, bd->errlen);
		rc = doc ? 0 : -1;
		if (doc) {
			/* The files are at nnU-Net's own names now: no "dataset" key. */
			cJSON_DeleteItemFromObjectCaseSensitive(doc, "dataset");
			vb_json_set(doc, "numTraining", cJSON_CreateNumber((double)bd->ncases));
			rel = cb_fmt("nnUNet_raw/%s/dataset.json", base);
			rc = bnd_write_json(bd, rel, doc);
			free(rel);
			cJSON_Delete(doc);
		}
		free(src);
	}
	free(raw);
	return rc;
}

/* The plans and the fingerprint as they are, beside the data folder;
 * dataset.json cut to the culprits; the raw cases (pre_bundle_raw). */
static int pre_bundle_meta(struct fmt_bundle *bd)
{
	const struct dataset *ds = bd->ds;
	const char *meta[2] = { ds->plans_file, ds->fingerprint_file };
	const char *name = pre_bundle_name(ds);
	size_t i;

	if (bd->raw_only) /* nothing of the preprocessed folder: repro.sh makes it */
		return pre_bundle_raw(bd, name);
	for (i = 0; i < 2; i++) {
		char *rel;
		int rc;

		if (!meta[i]) {
			cb_set_err(bd->err, bd->errlen, "%s: the dataset's %s file is not known",
				   ds->root, i ? "fingerprint" : "plans");
			return -1;
		}
		rel = cb_path_join(name, path_base(meta[i]));
		rc = bd->copy(bd, meta[i], rel);
		free(rel);
		if (rc < 0)
			return -1;
	}
	if (!ds->dataset_json) {
		cb_set_err(bd->err, bd->errlen, "%s: the dataset has no dataset.json", ds->root);
		return -1;
	}
	if (bnd_dataset_json(bd, name, false) < 0)
		return -1;
	return pre_bundle_raw(bd, name);
}

/* A raw_only bundle's view: the raw cases linked into $tmp/raw and
 * preprocessed there by nnUNetv2_plan_and_preprocess (default plans) for
 * the dataset's configuration, whatever mode runs after. */
static void pre_repro_from_raw(struct fmt_sh *sh, const struct fmt_bundle *bd)
{
	const struct dataset *ds = bd->ds;
	const char *base = path_base(ds->root);
	char *raw_rel = cb_fmt("nnUNet_raw/%s", base), num[32];
	unsigned long id = ds->dataset_name && !strncmp(ds->dataset_name, "Dataset", 7)
				   ? strtoul(ds->dataset_name + 7, NULL, 10) : 0;

	snprintf(num, sizeof(num), "%lu", id);
	sh->text(sh, "# {view}: nnU-Net's preprocessing of this bundle's raw cases (it holds no "
		     "preprocessed arrays)\n"
		     "export nnUNet_raw=\"$tmp/raw\" nnUNet_preprocessed=\"$tmp/nnUNet_preprocessed\"\n"
		     "export nnUNet_results=\"$tmp/nnUNet_results\"\n"
		     "mkdir -p -- \"$nnUNet_raw\" \"$nnUNet_preprocessed\" \"$nnUNet_results\" "
		     "|| exit 1\nln -s -- ");
	sh->data_path(sh, raw_rel);
	sh->text(sh, " \"$nnUNet_raw/\"");
	sh->word(sh, base);
	sh->text(sh, " || exit 1\n"
		     "case \"${1-}\" in ''|--from-raw|--stock) ;; *)\n"
		     "\techo \"usage: bash repro.sh [--from-raw | --stock]\" >&2\n\texit 2 ;;\nesac\n"
		     "echo \"repro.sh: --from-raw: nnUNetv2_plan_and_preprocess on the bundle's raw "
		     "cases (default plans)\" >&2\n"
		     "# The trials' nnUNet_n_proc_DA=0 would stop the planner.\n"
		     "(unset nnUNet_n_proc_DA; nnUNetv2_plan_and_preprocess -d ");
	sh->text(sh, num);
	sh->text(sh, " -c ");
	sh->word(sh, ds->configuration ? ds->configuration : "3d_fullres");
	sh->text(sh, ") || exit $?\nview=\"$nnUNet_preprocessed\"\n\n");
	free(raw_rel);
}

/* As the view, a preprocessed root in the temporary folder with links to
 * the bundle's files and a real data folder, so that what nnU-Net writes
 * there (unpacked arrays, splits_final.json) never lands in the bundle. */
static void pre_repro_view(struct fmt_sh *sh, const struct fmt_bundle *bd)
{
	const struct dataset *ds = bd->ds;
	const char *name = pre_bundle_name(ds);
	const char *meta[2] = { ds->plans_file, ds->fingerprint_file };
	char *data_rel = cb_path_join(name, ds->data_dir ? path_base(ds->data_dir) : "data"), *rel;
	size_t i, k, j;

	if (bd->raw_only) {
		pre_repro_from_raw(sh, bd);
		free(data_rel);
		return;
	}

	sh->text(sh, "# {view}: an nnU-Net preprocessed folder of links to this bundle's files\n"
		     "export nnUNet_preprocessed=\"$tmp/nnUNet_preprocessed\"\n"
		     "export nnUNet_raw=\"$tmp/nnUNet_raw\"\n"
		     "export nnUNet_results=\"$tmp/nnUNet_results\"\n"
		     "mkdir -p -- \"$nnUNet_raw\" \"$nnUNet_results\" \"$nnUNet_preprocessed/\"");
	sh->word(sh, data_rel);
	sh->text(sh, "\n");
	for (i = 0; i < 3; i++) {
		rel = cb_path_join(name, i < 2 ? (meta[i] ? path_base(meta[i]) : "") : "dataset.json");
		sh->text(sh, "ln -s -- ");
		sh->data_path(sh, rel);
		sh->text(sh, " \"$nnUNet_preprocessed/\"");
		sh->word(sh, rel);
		sh->text(sh, "\n");
		free(rel);
	}
	for (k = 0; k < bd->ncases; k++)
		for (j = 0; j < bd->cases[k]->nfiles; j++) {
			sh->text(sh, "ln -s -- ");
			sh->data_path(sh, bd->rel[k][j]);
			sh->text(sh, " \"$nnUNet_preprocessed/\"");
			sh->word(sh, bd->rel[k][j]);
			sh->text(sh, "\n");
		}
	sh->text(sh, "view=\"$nnUNet_preprocessed\"\n\n");
	free(data_rel);
}

/* The dataset folder: its counterpart in repro.sh's preprocessed folder. */
static bool pre_repro_root(struct fmt_sh *sh, const struct fmt_bundle *bd)
{
	sh->text(sh, "\"$nnUNet_preprocessed/\"");
	sh->word(sh, pre_bundle_name(bd->ds));
	return true;
}

/* nnUNetv2_train DATASET CONFIGURATION all and the options of argv (a
 * launcher's or nnUNetv2_train's) but -tr, and -p unless keep_plans. The
 * fold is "all": nnU-Net's five folds need five cases, a bundle often has
 * one. */
static void sh_stock_train(struct fmt_sh *sh, const char *const *argv, size_t at, bool keep_plans)
{
	size_t i;

	sh->text(sh, "\tnnUNetv2_train ");
	sh->word(sh, argv[at]);
	sh->text(sh, " ");
	sh->word(sh, argv[at + 1]);
	sh->text(sh, " all");
	for (i = at + 3; argv[i]; i++) {
		if ((!strcmp(argv[i], "-tr") || (!keep_plans && !strcmp(argv[i], "-p"))) &&
		    argv[i + 1]) {
			i++;
			continue;
		}
		sh->text(sh, " ");
		sh->word(sh, argv[i]);
	}
	sh->text(sh, "\n");
}

/* repro.sh's modes: the command (the probe), --stock, --from-raw. */
static void pre_repro_modes(struct fmt_sh *sh, const struct fmt_bundle *bd,
			    const char *const *argv)
{
	const char *prog = argv[0] ? path_base(argv[0]) : "";
	bool probe = !strcmp(prog, "casebisect-nnunet-train");
	size_t at = 1, n;
	const char *ds_name;
	char *raw_rel;
	unsigned long id = 0;

	if (!probe && strcmp(prog, "nnUNetv2_train"))
		return; /* not an nnU-Net command: no stock line to offer */
	if (probe && argv[1] && !strcmp(argv[1], "--cases-file") && argv[2])
		at = 3;
	for (n = at; argv[n]; n++)
		;
	if (n < at + 3)
		return;
	if (bd->raw_only) {
		/* preprocessed already (pre_repro_from_raw): the stock trainer or the command */
		sh->text(sh, "if [ \"${1-}\" = --stock ]; then\n"
			     "\techo \"repro.sh: --stock: nnU-Net's own nnUNetv2_train (default plans, "
			     "fold all) on the bundle's preprocessed raw cases\" >&2\n");
		sh_stock_train(sh, argv, at, false);
		sh->text(sh, "\texit $?\nfi\necho \"repro.sh: the command the trials ran (");
		sh->text(sh, probe ? "casebisect's probe trainer, tools/nnunet/casebisect-nnunet-train"
				   : "nnUNetv2_train with your trainer");
		sh->text(sh, ") on the bundle's preprocessed raw cases; --stock: nnU-Net's own "
			     "nnUNetv2_train\" >&2\n\n");
		return;
	}
	ds_name = argv[at];
	if (!strncmp(ds_name, "Dataset", 7))
		id = strtoul(ds_name + 7, NULL, 10);
	raw_rel = cb_fmt("nnUNet_raw/%s", path_base(bd->ds->root));
	sh->text(sh, "# how to run it (README.md): bash repro.sh [--stock | --from-raw]\n"
		     "case \"${1-}\" in\n"
		     "--stock)\n"
		     "\techo \"repro.sh: --stock: nnU-Net's own nnUNetv2_train (stock trainer, fold "
		     "all) on the bundle's preprocessed cases\" >&2\n");
	sh_stock_train(sh, argv, at, true);
	sh->text(sh, "\texit $? ;;\n--from-raw)\n\tif [ ! -d ");
	sh->data_path(sh, raw_rel);
	sh->text(sh, " ]; then\n"
		     "\t\techo \"repro.sh: --from-raw: this bundle holds no raw images (casebisect "
		     "did not find \\$nnUNet_raw/");
	sh->text(sh, path_base(bd->ds->root));
	sh->text(sh, "); only --stock and the probe run\" >&2\n\t\texit 2\n\tfi\n");
	if (id) {
		sh->text(sh, "\techo \"repro.sh: --from-raw: nnUNetv2_plan_and_preprocess on the "
			     "bundle's raw cases, then nnU-Net's own nnUNetv2_train (default plans, "
			     "fold all)\" >&2\n"
			     "\texport nnUNet_raw=\"$tmp/raw\" nnUNet_preprocessed=\"$tmp/from_raw\"\n"
			     "\tmkdir -p -- \"$nnUNet_raw\" \"$nnUNet_preprocessed\" || exit 1\n\tln -s -- ");
		sh->data_path(sh, raw_rel);
		sh->text(sh, " \"$nnUNet_raw/\"");
		sh->word(sh, path_base(bd->ds->root));
		sh->text(sh, " || exit 1\n");
		{
			char num[32];

			snprintf(num, sizeof(num), "%lu", id);
			/* The trials' nnUNet_n_proc_DA=0 would stop the planner, which
			 * gives torch.set_num_threads() that number. */
			sh->text(sh, "\t(unset nnUNet_n_proc_DA; nnUNetv2_plan_and_preprocess -d ");
			sh->text(sh, num);
			sh->text(sh, " -c ");
			sh->word(sh, argv[at + 1]);
			sh->text(sh, ") || exit $?\n");
		}
		sh_stock_train(sh, argv, at, false);
		sh->text(sh, "\texit $? ;;\n");
	} else {
		sh->text(sh, "\techo \"repro.sh: --from-raw: the dataset's name does not start with "
			     "DatasetNNN_, which nnUNetv2_plan_and_preprocess -d needs\" >&2\n"
			     "\texit 2 ;;\n");
	}
	sh->text(sh, "''|--probe)\n\techo \"repro.sh: the command the trials ran (");
	sh->text(sh, probe ? "casebisect's probe trainer, tools/nnunet/casebisect-nnunet-train"
			   : "nnUNetv2_train with your trainer");
	sh->text(sh, ") on the bundle's preprocessed cases; --stock: nnU-Net's own nnUNetv2_train; "
		     "--from-raw: preprocess the raw cases first\" >&2 ;;\n"
		     "*)\n\techo \"usage: bash repro.sh [--stock | --from-raw]\" >&2\n\texit 2 ;;\n"
		     "esac\n\n");
	free(raw_rel);
}

const struct ds_format_ops fmt_nnunet_pre = {
	FMT_CORE(DS_NNUNET_PRE, "nnunet-pre", detect_pre, load_pre, build_pre),
	.flags = FMT_NEEDS_FOLDER | FMT_READS_PLANS | FMT_VIEW_LINKS | FMT_ENV_CARRIES_SUBSET |
		 FMT_AUDIT_CHANNELS,
	.audit_begin = pre_raw_dir,
	.audit_files = pre_audit_files,
	.audit_has_labels = pre_has_labels,
	.bundle_place = pre_bundle_place,
	.bundle_meta = pre_bundle_meta,
	.bundle_words = "an nnU-Net preprocessed dataset: the plans, dataset.json (cut to these "
			"cases), dataset_fingerprint.json and the data folder with these cases' "
			"files",
	.repro_view = pre_repro_view,
	.repro_root = pre_repro_root,
	.repro_modes = pre_repro_modes,
	.repro_words = "`bash repro.sh` runs the command the trials ran (casebisect's probe "
		       "trainer, carried in tools/nnunet/, with the nnUNetv2_train on your PATH) on "
		       "the preprocessed cases. `bash repro.sh --stock` runs nnU-Net's own "
		       "`nnUNetv2_train DATASET CONFIGURATION all` (the stock trainer: random "
		       "patches, so it may take many iterations to meet the bad voxels) on the same "
		       "cases. `bash repro.sh --from-raw` runs `nnUNetv2_plan_and_preprocess` on the "
		       "raw cases in dataset/nnUNet_raw/ first, then the stock training (only when "
		       "the bundle holds the raw images). Each says which one runs; what nnU-Net "
		       "writes goes to a temporary folder.",
	.bundle_words_raw = "nnUNet_raw/<dataset>/: the cases' raw images (imagesTr/) and labels "
			    "(labelsTr/) and the raw dataset.json cut to these cases; no "
			    "preprocessed array, which could not be de-identified",
	.repro_words_raw = "`bash repro.sh` (or `--from-raw`) runs `nnUNetv2_plan_and_preprocess` "
			   "(default plans) on the raw cases in dataset/nnUNet_raw/, then the "
			   "command the trials ran (casebisect's probe trainer, carried in "
			   "tools/nnunet/, with the nnUNetv2_train on your PATH) on them. `bash "
			   "repro.sh --stock` runs nnU-Net's own `nnUNetv2_train DATASET "
			   "CONFIGURATION all` after the same preprocessing. What nnU-Net writes goes "
			   "to a temporary folder.",
};
