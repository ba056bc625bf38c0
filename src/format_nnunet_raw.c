/* format_nnunet_raw: an nnU-Net v2 raw dataset, DatasetXXX_Name/ with
 * dataset.json, imagesTr/ and labelsTr/ (or dataset.json's "dataset" key);
 * its view is a raw folder of links with dataset.json cut to the subset.
 * See format.h for the ops, dataset.h and view.h for the format and the
 * view, ../shared/nnunet.md section 1. */
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

/* How many example names a warning about many files shows. */
#define DS_EXAMPLES 3

/* ---- detect ---- */

/* A folder with dataset.json or imagesTr/ (and no plans: nnunet-pre asks first). */
static bool detect_raw(const char *root, bool is_dir, const struct ld_names *top)
{
	(void)root;
	return is_dir && (ld_names_find(top, "dataset.json") >= 0 ||
			  ld_names_find(top, "imagesTr") >= 0);
}

/* ---- load ---- */

/* Python's os.path.expandvars, as nnU-Net applies it to the "dataset"
 * key: $NAME and ${NAME} become the variable's value; unset ones stay. */
static char *expand_vars(const char *s)
{
	size_t cap = strlen(s) + 1, n = 0;
	char *out = xmalloc(cap);

	while (*s) {
		const char *name = NULL, *val;
		size_t len = 0, skip = 0;

		if (s[0] == '$' && s[1] == '{') {
			const char *close = strchr(s + 2, '}');

			if (close) {
				name = s + 2;
				len = (size_t)(close - name);
				skip = len + 3;
			}
		} else if (s[0] == '$' && (s[1] == '_' || (s[1] >= 'A' && s[1] <= 'Z') ||
					   (s[1] >= 'a' && s[1] <= 'z'))) {
			name = s + 1;
			while (name[len] == '_' || (name[len] >= 'A' && name[len] <= 'Z') ||
			       (name[len] >= 'a' && name[len] <= 'z') ||
			       (name[len] >= '0' && name[len] <= '9'))
				len++;
			skip = len + 1;
		}
		val = NULL;
		if (name && len) {
			char *key = xmalloc(len + 1);

			memcpy(key, name, len);
			key[len] = '\0';
			val = getenv(key);
			free(key);
		}
		if (!val) {
			val = s;
			skip = 1;
			len = 1;
		} else {
			len = strlen(val);
		}
		if (n + len + 1 > cap) {
			cap = (n + len + 1) * 2;
			out = xrealloc(out, cap);
		}
		memcpy(out + n, val, len);
		n += len;
		s += skip;
	}
	out[n] = '\0';
	return out;
}

/* dataset.json's "dataset" key: {case: {"images": [...], "label": ...}}. */
static int load_raw_dataset_key(struct ld *l, const cJSON *dkey, const char *path)
{
	struct dataset *ds = l->ds;
	const cJSON *c;
	size_t k = 0;

	l->src = SRC_DATASET_KEY;
	if (!cJSON_IsObject(dkey))
		return ld_fail(l, "%s: \"dataset\" must be an object {case: {\"images\": [...], "
			       "\"label\": ...}}", path);
	for (c = dkey->child; c; c = c->next, k++) {
		const cJSON *images = cJSON_GetObjectItemCaseSensitive(c, "images");
		const cJSON *label = cJSON_GetObjectItemCaseSensitive(c, "label");
		const char *why = ld_id_problem(c->string);
		const cJSON *im;
		size_t nimg, j;

		if (why)
			return ld_fail(l, "%s: \"dataset\": case ID \"%s\" %s; rename the case", path,
				       c->string, why);
		if (!cJSON_IsObject(c))
			return ld_fail(l, "%s: \"dataset\": case \"%s\" must be {\"images\": [...], "
				       "\"label\": ...}", path, c->string);
		if (!cJSON_IsArray(images) || !images->child)
			return ld_fail(l, "%s: \"dataset\": case \"%s\" has no \"images\" list (one file "
				       "per channel)", path, c->string);
		if (!cJSON_IsString(label))
			return ld_fail(l, "%s: \"dataset\": case \"%s\" has no \"label\" file (every "
				       "training case needs one)", path, c->string);
		nimg = (size_t)cJSON_GetArraySize(images);
		if (nimg != ds->nchannels)
			return ld_fail(l, "%s: \"dataset\": case \"%s\" lists %zu image%s but "
				       "\"channel_names\" declares %zu channel%s", path, c->string, nimg,
				       nimg == 1 ? "" : "s", ds->nchannels, ds->nchannels == 1 ? "" : "s");
		ld_add_case(l, xstrdup(c->string), nimg + 1, k);
		for (im = images->child, j = 0; ; im = im->next, j++) {
			const cJSON *f = im ? im : label;
			char *exp, *abs;

			if (!cJSON_IsString(f) || !f->valuestring[0])
				return ld_fail(l, "%s: \"dataset\": case \"%s\": %s must be a file path",
					       path, c->string, im ? "each image" : "\"label\"");
			exp = expand_vars(f->valuestring);
			abs = ld_path_resolve(ds->root, exp);
			free(exp);
			if (ld_add_file(l, AT_FDCWD, abs, abs)) {
				char *missing = cb_fmt("listed for case \"%s\" in %s's \"dataset\" key; "
						    "fix the path", c->string, path);

				ld_file_failed(l, ld_shown(ds, abs), missing);
				free(missing);
				return -1;
			}
			if (!im)
				break;
		}
		ds->cases[ds->ncases - 1].label = (int)nimg;
	}
	if (!ds->ncases)
		return ld_fail(l, "%s: \"dataset\" lists no cases; nothing to train on", path);
	return 0;
}

/* One channel file of imagesTr: its name, the case ID's length, the channel. */
struct raw_img {
	const char *name;
	size_t idlen;
	size_t ch;
};

static int cmp_raw_img(const void *a, const void *b)
{
	const struct raw_img *x = a, *y = b;
	size_t n = x->idlen < y->idlen ? x->idlen : y->idlen;
	int c = memcmp(x->name, y->name, n);

	if (c)
		return c;
	if (x->idlen != y->idlen)
		return x->idlen < y->idlen ? -1 : 1;
	return (x->ch > y->ch) - (x->ch < y->ch);
}

/* imagesTr/{case}_{XXXX}{ending} and labelsTr/{case}{ending}. */
static int load_raw_folders(struct ld *l)
{
	struct dataset *ds = l->ds;
	const char *ending = ds->file_ending;
	size_t elen = strlen(ending), nimg = 0, i, j, nother = 0, norphan = 0;
	struct ld_names im, lb;
	struct raw_img *img = NULL;
	char *imdir = cb_path_join(ds->root, "imagesTr"), *lbdir = cb_path_join(ds->root, "labelsTr");
	const char *other = NULL;
	int r, ret = -1;

	memset(&lb, 0, sizeof(lb));
	r = ld_names_read(l, imdir, "imagesTr/", &im);
	if (r == 1) {
		ld_fail(l, "%s: not found; a nnU-Net raw dataset keeps its images in "
			"imagesTr/{case}_{XXXX}%s (or lists its files under dataset.json's "
			"\"dataset\" key)", imdir, ending);
		goto out_nolb;
	}
	if (r)
		goto out_nolb;
	r = ld_names_read(l, lbdir, "labelsTr/", &lb);
	if (r == 1) {
		ld_fail(l, "%s: not found; a nnU-Net raw dataset keeps its labels in "
			"labelsTr/{case}%s", lbdir, ending);
		goto out;
	}
	if (r)
		goto out;

	img = xmalloc((im.n ? im.n : 1) * sizeof(*img));
	for (i = 0; i < im.n; i++) {
		const char *name = im.v[i];
		size_t n = strlen(name), base;
		const char *d;

		if (!ld_ends_with(name, ending) || n == elen) {
			if (!nother++)
				other = name;
			continue;
		}
		base = n - elen;
		d = name + base - 4;
		if (base < 6 || d[-1] != '_' || d[0] < '0' || d[0] > '9' || d[1] < '0' ||
		    d[1] > '9' || d[2] < '0' || d[2] > '9' || d[3] < '0' || d[3] > '9') {
			ld_fail(l, "imagesTr/%s: not named {case}_{XXXX}%s (nnU-Net reads the channel "
				"from the 4 digits before the ending; rename it, e.g. to %.*s_0000%s)",
				name, ending, (int)base, name, ending);
			goto out;
		}
		img[nimg].name = name;
		img[nimg].idlen = base - 5;
		img[nimg].ch = (size_t)((d[0] - '0') * 1000 + (d[1] - '0') * 100 +
					(d[2] - '0') * 10 + (d[3] - '0'));
		nimg++;
	}
	if (nother)
		ld_warn(l, "imagesTr/: %zu file%s not ending in %s ignored (e.g. %s)", nother,
			nother == 1 ? "" : "s", ending, other);
	if (!nimg) {
		ld_fail(l, "%s: no images named {case}_{XXXX}%s; nothing to train on", imdir, ending);
		goto out;
	}
	qsort(img, nimg, sizeof(*img), cmp_raw_img);

	for (i = 0; i < nimg; i = j) {
		size_t idlen = img[i].idlen, nch, k;
		char *id, *lname;
		const char *why;
		long at;

		for (j = i; j < nimg && img[j].idlen == idlen &&
			    memcmp(img[j].name, img[i].name, idlen) == 0; j++)
			;
		nch = j - i;
		id = xmalloc(idlen + 1);
		memcpy(id, img[i].name, idlen);
		id[idlen] = '\0';
		why = ld_id_problem(id);
		if (why) {
			ld_fail(l, "imagesTr/%s: case ID \"%s\" %s; rename the case's files", img[i].name,
				id, why);
			free(id);
			goto out;
		}
		/* The first channel number that is not where it should be: a gap
		 * below nchannels is a missing file, anything else is one too many. */
		for (k = 0; k < nch && img[i + k].ch == k; k++)
			;
		if (k < ds->nchannels && (k < nch || nch < ds->nchannels)) {
			ld_fail(l, "imagesTr/%s_%04zu%s: missing (channel %zu of case \"%s\"; "
				"\"channel_names\" declares %zu channel%s, so each case needs %s_0000%s "
				"to %s_%04zu%s)", id, k, ending, k, id, ds->nchannels,
				ds->nchannels == 1 ? "" : "s", id, ending, id, ds->nchannels - 1, ending);
			free(id);
			goto out;
		}
		if (nch > ds->nchannels) {
			ld_fail(l, "imagesTr/%s: channel %zu, but \"channel_names\" declares %zu channel%s "
				"(remove the file, or declare the channel in dataset.json)",
				img[i + ds->nchannels].name, img[i + ds->nchannels].ch, ds->nchannels,
				ds->nchannels == 1 ? "" : "s");
			free(id);
			goto out;
		}
		lname = cb_fmt("%s%s", id, ending);
		at = ld_names_find(&lb, lname);
		if (at < 0) {
			ld_fail(l, "labelsTr/%s: missing; case \"%s\" has images (imagesTr/%s) but no "
				"label (add the label, or move the case's images out of imagesTr/)", lname,
				id, img[i].name);
			free(lname);
			free(id);
			goto out;
		}
		lb.used[at] = true;
		free(lname);
		ld_add_case(l, id, nch + 1, 0);
		for (k = 0; k <= nch; k++) {
			bool is_label = k == nch;
			const char *name = is_label ? lb.v[at] : img[i + k].name;

			if (ld_add_file(l, is_label ? lb.fd : im.fd, name,
					cb_path_join(is_label ? lbdir : imdir, name))) {
				char *what = cb_fmt("%s/%s", is_label ? "labelsTr" : "imagesTr", name);

				ld_file_failed(l, what, ld_vanished);
				free(what);
				goto out;
			}
		}
		ds->cases[ds->ncases - 1].label = (int)nch;
	}
	for (i = 0; i < lb.n; i++) {
		char *id;

		if (lb.used[i] || !ld_ends_with(lb.v[i], ending))
			continue;
		if (norphan++ >= DS_EXAMPLES)
			continue;
		id = xstrdup(lb.v[i]);
		id[strlen(id) - elen] = '\0';
		ld_warn(l, "labelsTr/%s: no image for this label (expected imagesTr/%s_0000%s); ignored",
			lb.v[i], id, ending);
		free(id);
	}
	if (norphan > DS_EXAMPLES)
		ld_warn(l, "labelsTr/: %zu more labels without images; ignored", norphan - DS_EXAMPLES);
	ret = 0;
out:
	ld_names_release(&lb);
out_nolb:
	ld_names_release(&im);
	free(img);
	free(imdir);
	free(lbdir);
	return ret;
}

static int load_raw(struct ld *l, bool is_dir, const struct ld_names *top)
{
	struct dataset *ds = l->ds;
	cJSON *doc = NULL;
	const cJSON *dkey;
	int ret = -1;

	(void)is_dir;
	(void)top;
	if (ld_nnunet_dataset_json(l, "a nnU-Net raw dataset needs one (nnunetv2's "
				   "generate_dataset_json writes it), or pass --format list", &doc))
		goto out;
	l->src_name = ds->dataset_json;
	dkey = cJSON_GetObjectItemCaseSensitive(doc, "dataset");
	if (dkey ? load_raw_dataset_key(l, dkey, ds->dataset_json) : load_raw_folders(l))
		goto out;
	ld_check_num_training(l, doc, ds->dataset_json);
	ret = 0;
out:
	cJSON_Delete(doc);
	return ret;
}

/* ---- view ---- */

/* nnunet-raw's dataset.json: numTraining = n, and the "dataset" key (when
 * there is one) cut to the subset with its paths pointing at the view's
 * links, relative to the view's dataset folder. names[i][j] is the link
 * name of case subset[i]'s file j. */
static char *raw_json(struct view_builder *b, cJSON *root, char ***names)
{
	const struct dataset *ds = b->ds;
	cJSON *key = cJSON_GetObjectItemCaseSensitive(root, "dataset");
	size_t i, j;

	vb_json_set(root, "numTraining", cJSON_CreateNumber((double)b->n));
	if (cJSON_IsObject(key)) {
		cJSON *out = cJSON_CreateObject();

		vb_json_oom(out);
		for (i = 0; i < b->n; i++) {
			const struct ds_case *c = &ds->cases[b->subset[i]];
			cJSON *user = cJSON_GetObjectItemCaseSensitive(key, c->id);
			cJSON *entry = cJSON_IsObject(user) ? cJSON_Duplicate(user, true)
							    : cJSON_CreateObject();
			cJSON *images = cJSON_CreateArray();

			vb_json_oom(entry);
			vb_json_oom(images);
			for (j = 0; j < c->nfiles; j++) {
				char *p;

				if ((int)j == c->label)
					continue;
				p = cb_path_join("imagesTr", names[i][j]);
				vb_json_push(images, vb_json_str(p));
				free(p);
			}
			vb_json_set(entry, "images", images);
			if (c->label >= 0) {
				char *p = cb_path_join("labelsTr", names[i][c->label]);

				vb_json_set(entry, "label", vb_json_str(p));
				free(p);
			}
			cJSON_AddItemToObject(out, c->id, entry);
		}
		vb_json_set(root, "dataset", out);
	}
	return json_line(root, true);
}

/* Links file j of case c into imagesTr/ (fd) or labelsTr/: by its own
 * name, or, when may_rename and that name is taken, by nnU-Net's name for
 * it. Returns the link's name (the caller frees it), or NULL with err set. */
static char *link_raw_file(struct view_builder *b, int fd, const char *rel,
			   const struct ds_case *c, size_t j, bool may_rename)
{
	const char *ending = b->ds->file_ending ? b->ds->file_ending : "", *name;
	char *alt, q[256];
	size_t ch = 0, k, len;
	int rc;

	name = path_base(c->files[j]);
	rc = vb_make_link(b, fd, c->files[j], name, rel, c->id);
	if (rc == 0)
		return xstrdup(name);
	if (rc != -EEXIST || !may_rename) {
		if (rc == -EEXIST)
			vb_make_link_unique(b, fd, c->files[j], name, rel, c->id);
		return NULL;
	}
	for (k = 0; k < j; k++)
		ch += (int)k != c->label;
	len = strlen(c->id) + strlen(ending) + 32;
	alt = xmalloc(len);
	if ((int)j == c->label)
		snprintf(alt, len, "%s%s", c->id, ending);
	else
		snprintf(alt, len, "%s_%04zu%s", c->id, ch, ending);
	if (!vb_name_is_safe(alt)) {
		vb_quote(q, sizeof(q), ending);
		cb_set_err(b->err, b->errlen, "%s/%s/%s: two files of the subset have this name, "
			"and file_ending \"%s\" gives no other", b->tdir, rel, name, q);
		free(alt);
		return NULL;
	}
	if (vb_make_link_unique(b, fd, c->files[j], alt, rel, c->id) < 0) {
		free(alt);
		return NULL;
	}
	return alt;
}

/* nnunet-raw: raw/<DatasetXXX_Name>/ with imagesTr/ and labelsTr/. Links
 * keep the user's file names; under a "dataset" key, where two cases may
 * share a file name, a clash falls back to nnU-Net's own names
 * ({case}_{XXXX}{ending}, {case}{ending}). */
static int build_raw(struct view_builder *b, struct view *v)
{
	static const char *const env_keys[] = { "nnUNet_raw", "nnUNet_preprocessed",
						"nnUNet_results" };
	const struct dataset *ds = b->ds;
	const char *name = path_base(ds->root);
	cJSON *root = NULL;
	char ***names = NULL, *rel = NULL, *rel_img = NULL, *rel_lab = NULL, *text = NULL, q[256];
	int vfd = -1, roots[3] = { -1, -1, -1 }, dfd = -1, imgfd = -1, labfd = -1, rc = -1;
	size_t i, j;

	vb_quote(q, sizeof(q), ds->root);
	if (!vb_name_is_safe(name)) {
		cb_set_err(b->err, b->errlen, "%s: the dataset folder has no name a folder can take", q);
		return -1;
	}
	if (!ds->dataset_json) {
		cb_set_err(b->err, b->errlen, "%s: the dataset has no dataset.json", q);
		return -1;
	}
	root = vb_read_json(b, ds->dataset_json);
	if (!root)
		return -1;

	if (vb_make_nnunet_dirs(b, &vfd, roots) < 0)
		goto out;
	rel = cb_path_join(VIEW_DIR "/raw", name);
	dfd = vb_make_dir(b, roots[2], VIEW_DIR "/raw", name);
	if (dfd < 0)
		goto out;
	imgfd = vb_make_dir(b, dfd, rel, "imagesTr");
	if (imgfd < 0)
		goto out;
	labfd = vb_make_dir(b, dfd, rel, "labelsTr");
	if (labfd < 0)
		goto out;
	rel_img = cb_path_join(rel, "imagesTr");
	rel_lab = cb_path_join(rel, "labelsTr");
	/* With a "dataset" key the link names go into dataset.json. */
	if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "dataset")))
		names = xcalloc(b->n ? b->n : 1, sizeof(*names));
	for (i = 0; i < b->n; i++) {
		const struct ds_case *c = &ds->cases[b->subset[i]];

		if (names)
			names[i] = xcalloc(c->nfiles ? c->nfiles : 1, sizeof(**names));
		for (j = 0; j < c->nfiles; j++) {
			bool is_label = (int)j == c->label;
			char *link = link_raw_file(b, is_label ? labfd : imgfd,
						   is_label ? rel_lab : rel_img, c, j, names != NULL);

			if (!link)
				goto out;
			if (names)
				names[i][j] = link;
			else
				free(link);
		}
	}
	text = raw_json(b, root, names);
	v->path = cb_path_join(b->tdir, rel);
	{
		char *shown = cb_path_join(v->path, "dataset.json");

		rc = vb_write_new_file(b, dfd, "dataset.json", shown, text, strlen(text));
		free(shown);
	}
	if (rc == 0)
		vb_nnunet_env(v, b, env_keys);
out:
	if (names) {
		for (i = 0; i < b->n; i++) {
			if (names[i])
				for (j = 0; j < ds->cases[b->subset[i]].nfiles; j++)
					free(names[i][j]);
			free(names[i]);
		}
		free(names);
	}
	free(text);
	free(rel);
	free(rel_img);
	free(rel_lab);
	cJSON_Delete(root);
	vb_close_fds(roots, 3);
	{
		int more[] = { labfd, imgfd, dfd, vfd };

		vb_close_fds(more, CB_ARRAY_SIZE(more));
	}
	return rc;
}

/* ---- the repro bundle ---- */

/* <DatasetXXX_Name>/imagesTr|labelsTr/<name>, the user's file names kept;
 * two files of the same name (a "dataset" key may list files from
 * anywhere) fall back to nnU-Net's own names, as the view does. */
static char *raw_bundle_place(const struct fmt_bundle *bd, size_t k, size_t j)
{
	const struct ds_case *c = bd->cases[k];
	const char *sub = (int)j == c->label ? "labelsTr" : "imagesTr";
	const char *ending = bd->ds->file_ending ? bd->ds->file_ending : "";
	char *rel = cb_fmt("%s/%s/%s", path_base(bd->ds->root), sub, path_base(c->files[j]));
	size_t ch = 0, i;

	if (!bnd_rel_taken(bd, k, j, rel))
		return rel;
	free(rel);
	for (i = 0; i < j; i++)
		ch += (int)i != c->label;
	if ((int)j == c->label)
		return cb_fmt("%s/%s/%s%s", path_base(bd->ds->root), sub, c->id, ending);
	return cb_fmt("%s/%s/%s_%04zu%s", path_base(bd->ds->root), sub, c->id, ch, ending);
}

/* dataset.json cut to the culprits, its "dataset" key naming the bundle's files. */
static int raw_bundle_meta(struct fmt_bundle *bd)
{
	if (!bd->ds->dataset_json) {
		cb_set_err(bd->err, bd->errlen, "%s: the dataset has no dataset.json", bd->ds->root);
		return -1;
	}
	return bnd_dataset_json(bd, path_base(bd->ds->root), true);
}

static void raw_repro_view(struct fmt_sh *sh, const struct fmt_bundle *bd)
{
	sh->text(sh, "# {view}: the bundle's nnU-Net raw dataset; what preprocessing and "
		     "training write goes\n# to the temporary folder\n"
		     "export nnUNet_raw=\"$data\"\n"
		     "export nnUNet_preprocessed=\"$tmp/nnUNet_preprocessed\"\n"
		     "export nnUNet_results=\"$tmp/nnUNet_results\"\n"
		     "mkdir -p -- \"$nnUNet_preprocessed\" \"$nnUNet_results\"\n"
		     "view=");
	sh->data_path(sh, path_base(bd->ds->root));
	sh->text(sh, "\n\n");
}

/* The dataset folder: the bundle's copy of it. */
static bool raw_repro_root(struct fmt_sh *sh, const struct fmt_bundle *bd)
{
	sh->data_path(sh, path_base(bd->ds->root));
	return true;
}

const struct ds_format_ops fmt_nnunet_raw = {
	FMT_CORE(DS_NNUNET_RAW, "nnunet-raw", detect_raw, load_raw, build_raw),
	.flags = FMT_NEEDS_FOLDER | FMT_VIEW_LINKS | FMT_VIEW_JSON | FMT_ENV_CARRIES_SUBSET |
		 FMT_AUDIT_CHANNELS,
	.bundle_place = raw_bundle_place,
	.bundle_meta = raw_bundle_meta,
	.bundle_words = "an nnU-Net raw dataset: imagesTr/, labelsTr/ and a dataset.json cut to "
			"these cases",
	.repro_view = raw_repro_view,
	.repro_root = raw_repro_root,
};
