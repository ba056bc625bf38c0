/* format_msd: a Medical Segmentation Decathlon / MONAI datalist, a JSON
 * file whose "training" list holds {"image": ..., "label": ...}; its view is
 * the datalist cut to the subset. See format.h for the ops and dataset.h for
 * the format.
 *
 * The view's datalist is rebuilt from the struct dataset (its files are the
 * truth, as in files.txt); each user entry is found by its label file (or
 * first image), first by path, then through realpath() when ds_load stored
 * resolved paths, only to keep the entry's other keys ("fold", ...). */
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

#define DATALIST_NAME "datalist.json"

/* ---- detect ---- */

/* A .json file (a folder with dataset.json is nnU-Net's). */
static bool detect_msd(const char *root, bool is_dir, const struct ld_names *top)
{
	(void)top;
	return !is_dir && ld_ends_with(root, ".json");
}

bool fmt_msd_task_folder(const char *dir)
{
	char *path = cb_path_join(dir, "dataset.json"), err[64];
	cJSON *doc = json_read_file(path, err, sizeof(err)); /* not there: not a Task folder */
	bool msd = cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "training")) &&
		   !cJSON_GetObjectItemCaseSensitive(doc, "file_ending");

	cJSON_Delete(doc);
	free(path);
	return msd;
}

/* ---- load ---- */

static int load_msd(struct ld *l, bool is_dir, const struct ld_names *top)
{
	struct dataset *ds = l->ds;
	const char *path = ds->root;
	char *dir = ld_dir_of(path);
	cJSON *doc = NULL;
	const cJSON *tr, *el, *labels, *mod;
	size_t k = 0;
	int ret = -1;

	(void)is_dir;
	(void)top;
	l->src = SRC_MSD;
	if (ld_read_json(l, path, "pass the datalist JSON", &doc))
		goto out;
	ds->dataset_json = xstrdup(path);
	tr = cJSON_GetObjectItemCaseSensitive(doc, "training");
	if (!tr && cJSON_GetObjectItemCaseSensitive(doc, "file_ending")) {
		ld_fail(l, "%s: an nnU-Net dataset.json, not a datalist (no \"training\" list); pass "
			"the dataset's folder instead", path);
		goto out;
	}
	if (!cJSON_IsArray(tr)) {
		ld_fail(l, "%s: no \"training\" list; an MSD/MONAI datalist holds \"training\": "
			"[{\"image\": ..., \"label\": ...}, ...]", path);
		goto out;
	}
	labels = cJSON_GetObjectItemCaseSensitive(doc, "labels");
	if (labels) {
		ds->labels_json = cJSON_PrintUnformatted(labels);
		if (!ds->labels_json)
			die("out of memory printing JSON");
	}
	mod = cJSON_GetObjectItemCaseSensitive(doc, "modality");
	if (!mod)
		mod = cJSON_GetObjectItemCaseSensitive(doc, "channel_names");
	if (cJSON_IsObject(mod) && mod->child)
		ds->nchannels = (size_t)cJSON_GetArraySize(mod);
	for (el = tr->child; el; el = el->next, k++) {
		const cJSON *image = cJSON_GetObjectItemCaseSensitive(el, "image");
		const cJSON *label = cJSON_GetObjectItemCaseSensitive(el, "label");
		const cJSON *im;
		size_t nimg, j;
		const char *why;
		char *id;

		if (!cJSON_IsObject(el)) {
			ld_fail(l, "%s: training[%zu] is not an object {\"image\": ..., \"label\": ...}",
				path, k);
			goto out;
		}
		if (!cJSON_IsString(label) || !label->valuestring[0]) {
			ld_fail(l, "%s: training[%zu] has no \"label\" file (each training case needs "
				"{\"image\": ..., \"label\": ...})", path, k);
			goto out;
		}
		if (cJSON_IsString(image) && image->valuestring[0]) {
			nimg = 1;
		} else if (cJSON_IsArray(image) && image->child) {
			nimg = (size_t)cJSON_GetArraySize(image);
		} else {
			ld_fail(l, "%s: training[%zu] has no \"image\" (a file path, or a list of one per "
				"channel)", path, k);
			goto out;
		}
		id = ld_strip_ext(label->valuestring);
		why = ld_id_problem(id);
		if (why) {
			ld_fail(l, "%s: training[%zu]: case ID \"%s\" (from the label's file name \"%s\") "
				"%s; rename the label file", path, k, id, label->valuestring, why);
			free(id);
			goto out;
		}
		ld_add_case(l, id, nimg + 1, k);
		im = cJSON_IsArray(image) ? image->child : image;
		for (j = 0; j <= nimg; j++) {
			const cJSON *f = j < nimg ? im : label;
			char *abs, *what;

			if (!cJSON_IsString(f) || !f->valuestring[0]) {
				ld_fail(l, "%s: training[%zu].image[%zu] must be a file path", path, k, j);
				goto out;
			}
			abs = ld_path_resolve(dir, f->valuestring);
			if (ld_add_file(l, AT_FDCWD, abs, abs)) {
				if (j < nimg && cJSON_IsArray(image))
					what = cb_fmt("%s: training[%zu].image[%zu] \"%s\"", path, k, j,
						      f->valuestring);
				else
					what = cb_fmt("%s: training[%zu].%s \"%s\"", path, k,
						      j < nimg ? "image" : "label", f->valuestring);
				ld_relative_failed(l, what, abs, "the datalist's folder");
				goto out;
			}
			if (j < nimg && cJSON_IsArray(image))
				im = im->next;
		}
		ds->cases[ds->ncases - 1].label = (int)nimg;
	}
	if (!ds->ncases) {
		ld_fail(l, "%s: \"training\" is empty; nothing to train on", path);
		goto out;
	}
	if (!ds->nchannels)
		ds->nchannels = ds->cases[0].nfiles - 1;
	if (cJSON_GetObjectItemCaseSensitive(doc, "numTraining"))
		ld_check_num_training(l, doc, path);
	ret = 0;
out:
	free(dir);
	cJSON_Delete(doc);
	return ret;
}

/* ---- view ---- */

/* path made absolute against dir (a relative path in a datalist is relative
 * to the datalist's folder); the caller frees it. */
static char *abs_path(const char *dir, const char *path)
{
	char *p = path[0] == '/' ? xstrdup(path) : cb_path_join(dir, path);

	vb_tidy_path(p);
	return p;
}

/* A string, or each string of an array, made absolute in place. */
static void absolutise(cJSON *item, const char *dir)
{
	cJSON *e;

	if (cJSON_IsString(item) && item->valuestring[0] && item->valuestring[0] != '/') {
		char *p = abs_path(dir, item->valuestring);

		vb_json_oom(cJSON_SetValuestring(item, p));
		free(p);
	} else if (cJSON_IsArray(item)) {
		cJSON_ArrayForEach(e, item)
			absolutise(e, dir);
	}
}

/* A map from a file path to the datalist entry it belongs to (open
 * addressing; keys owned). */
struct pathmap {
	char **keys;
	cJSON **vals;
	size_t cap;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

static void pathmap_init(struct pathmap *m, size_t n)
{
	m->cap = 16;
	while (m->cap < 2 * n + 1)
		m->cap *= 2;
	m->keys = xcalloc(m->cap, sizeof(*m->keys));
	m->vals = xcalloc(m->cap, sizeof(*m->vals));
}

static void pathmap_release(struct pathmap *m)
{
	size_t i;

	for (i = 0; i < m->cap; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* Takes key; the first entry for a path wins. */
static void pathmap_put(struct pathmap *m, char *key, cJSON *val)
{
	size_t i = (size_t)hash_str(key) & (m->cap - 1);

	while (m->keys[i]) {
		if (!strcmp(m->keys[i], key)) {
			free(key);
			return;
		}
		i = (i + 1) & (m->cap - 1);
	}
	m->keys[i] = key;
	m->vals[i] = val;
}

static cJSON *pathmap_get(const struct pathmap *m, const char *key)
{
	size_t i = (size_t)hash_str(key) & (m->cap - 1);

	while (m->keys[i]) {
		if (!strcmp(m->keys[i], key))
			return m->vals[i];
		i = (i + 1) & (m->cap - 1);
	}
	return NULL;
}

/* The file a datalist entry is known by: its label, else its first image. */
static const char *entry_key_file(const cJSON *entry)
{
	const cJSON *label = cJSON_GetObjectItemCaseSensitive(entry, "label");
	const cJSON *image = cJSON_GetObjectItemCaseSensitive(entry, "image");

	if (cJSON_IsString(label))
		return label->valuestring;
	if (cJSON_IsArray(image))
		image = cJSON_GetArrayItem(image, 0);
	return cJSON_IsString(image) ? image->valuestring : NULL;
}

static const char *case_key_file(const struct ds_case *c)
{
	if (c->label >= 0)
		return c->files[c->label];
	return c->nfiles ? c->files[0] : NULL;
}

/* Fills a map of the user's "training" entries by their key file, made
 * absolute: lexically, or resolved through links when real. */
static void map_training(struct pathmap *m, cJSON *training, const char *dir, bool real)
{
	cJSON *e;

	pathmap_init(m, (size_t)cJSON_GetArraySize(training));
	cJSON_ArrayForEach(e, training) {
		const char *f = entry_key_file(e);
		char *p, *r;

		if (!f)
			continue;
		p = abs_path(dir, f);
		if (real) {
			r = realpath(p, NULL);
			free(p);
			if (!r)
				continue;
			p = r;
		}
		pathmap_put(m, p, e);
	}
}

/* The case's images (every file but the label) as a JSON string, or an
 * array when there are several or when as_array. */
static cJSON *images_json(const struct ds_case *c, bool as_array)
{
	cJSON *arr;
	size_t j, nimg = c->nfiles - (c->label >= 0 ? 1 : 0);

	if (nimg == 1 && !as_array)
		for (j = 0; j < c->nfiles; j++)
			if ((int)j != c->label)
				return vb_json_str(c->files[j]);
	arr = cJSON_CreateArray();
	vb_json_oom(arr);
	for (j = 0; j < c->nfiles; j++)
		if ((int)j != c->label)
			vb_json_push(arr, vb_json_str(c->files[j]));
	return arr;
}

/* The msd view: the user's datalist with "training" cut to the subset, in
 * subset order, each entry's "image" and "label" set to the case's files
 * (absolute) and its other keys kept; an entry that cannot be matched to a
 * case by its files gets just "image" and "label". Relative paths in
 * "validation" and "test" are made absolute, so the datalist still works
 * from the trial directory. */
static char *msd_json(struct view_builder *b)
{
	const struct dataset *ds = b->ds;
	cJSON *root = vb_read_json(b, ds->root), *training, *out, *num, *e;
	struct pathmap lexical = { 0 }, real = { 0 };
	char *dir, *slash, *text;
	static const char *const others[] = { "validation", "test" };
	size_t i;

	if (!root)
		return NULL;
	dir = xstrdup(ds->root);
	slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir ? 1 : 0] = '\0';
	training = cJSON_GetObjectItemCaseSensitive(root, "training");
	if (!cJSON_IsArray(training)) {
		training = cJSON_CreateArray();
		vb_json_oom(training);
		vb_json_set(root, "training", training);
	}
	map_training(&lexical, training, dir, false);
	out = cJSON_CreateArray();
	vb_json_oom(out);
	for (i = 0; i < b->n; i++) {
		const struct ds_case *c = &ds->cases[b->subset[i]];
		const char *key = case_key_file(c);
		cJSON *user = NULL, *entry, *img;

		if (key) {
			char *p = abs_path("/", key);

			user = pathmap_get(&lexical, p);
			free(p);
			if (!user) {
				/* The dataset may hold resolved paths: match the real files. */
				char *r = realpath(key, NULL);

				if (!real.cap)
					map_training(&real, training, dir, true);
				if (r)
					user = pathmap_get(&real, r);
				free(r);
			}
		}
		entry = user ? cJSON_Duplicate(user, true) : cJSON_CreateObject();
		vb_json_oom(entry);
		img = cJSON_GetObjectItemCaseSensitive(entry, "image");
		vb_json_set(entry, "image", images_json(c, user && cJSON_IsArray(img)));
		if (c->label >= 0)
			vb_json_set(entry, "label", vb_json_str(c->files[c->label]));
		else
			absolutise(cJSON_GetObjectItemCaseSensitive(entry, "label"), dir);
		vb_json_push(out, entry);
	}
	vb_json_set(root, "training", out);
	for (i = 0; i < CB_ARRAY_SIZE(others); i++) {
		cJSON *list = cJSON_GetObjectItemCaseSensitive(root, others[i]);

		if (!cJSON_IsArray(list))
			continue;
		cJSON_ArrayForEach(e, list) {
			if (cJSON_IsString(e)) {
				absolutise(e, dir);
			} else {
				absolutise(cJSON_GetObjectItemCaseSensitive(e, "image"), dir);
				absolutise(cJSON_GetObjectItemCaseSensitive(e, "label"), dir);
			}
		}
	}
	num = cJSON_GetObjectItemCaseSensitive(root, "numTraining");
	if (num)
		vb_json_set(root, "numTraining", cJSON_CreateNumber((double)b->n));
	text = json_line(root, true);
	cJSON_Delete(root);
	pathmap_release(&lexical);
	if (real.cap)
		pathmap_release(&real);
	free(dir);
	return text;
}

/* msd: TRIAL/view/datalist.json. */
static int build_msd(struct view_builder *b, struct view *v)
{
	char *text = msd_json(b), *shown;
	int vfd, rc = -1;

	if (!text)
		return -1;
	vfd = vb_make_dir(b, b->tfd, "", VIEW_DIR);
	if (vfd >= 0) {
		b->made_view = true;
		shown = vb_path_join3(b->tdir, VIEW_DIR, DATALIST_NAME);
		rc = vb_write_new_file(b, vfd, DATALIST_NAME, shown, text, strlen(text));
		if (rc == 0) {
			v->path = shown;
			v->env = xcalloc(1, sizeof(*v->env));
		} else {
			free(shown);
		}
		close(vfd);
	}
	free(text);
	return rc;
}

/* ---- the repro bundle ---- */

/* Where the file is under the datalist's folder, the same relative path;
 * else external/<id>/<name>. */
static char *msd_bundle_place(const struct fmt_bundle *bd, size_t k, size_t j)
{
	char *base = path_dir(bd->ds->root), *rel = bnd_place_under(bd, k, j, base);

	free(base);
	return rel;
}

/* The user's "training" entry of case c (found by the real path of its
 * key file), so that its other keys ("fold", ...) are kept; or NULL. */
static const cJSON *msd_user_entry(const cJSON *training, const char *dir,
				   const struct ds_case *c)
{
	const char *key = case_key_file(c);
	char *want = key ? realpath(key, NULL) : NULL;
	const cJSON *e, *hit = NULL;

	if (!want)
		training = NULL;
	cJSON_ArrayForEach(e, training) {
		const char *k = entry_key_file(e);
		char *p, *r;

		if (!k)
			continue;
		p = k[0] == '/' ? xstrdup(k) : cb_path_join(dir, k);
		r = realpath(p, NULL);
		free(p);
		if (r && !strcmp(r, want))
			hit = e;
		free(r);
		if (hit)
			break;
	}
	free(want);
	return hit;
}

/* datalist.json, the user's with "training" cut to the culprits and their
 * paths relative to it. "validation" and "test" are emptied: they name
 * cases that are not in the bundle, and would send a trainer looking for
 * files that are not there. */
static int msd_bundle_meta(struct fmt_bundle *bd)
{
	cJSON *root = json_read_file(bd->ds->root, bd->err, bd->errlen), *training, *out;
	char *dir = path_dir(bd->ds->root);
	static const char *const emptied[] = { "validation", "test" };
	size_t k, j;
	int rc;

	if (!root) {
		free(dir);
		return -1;
	}
	training = cJSON_GetObjectItemCaseSensitive(root, "training");
	out = cJSON_CreateArray();
	vb_json_oom(out);
	for (k = 0; k < bd->ncases; k++) {
		const struct ds_case *c = bd->cases[k];
		const cJSON *user = msd_user_entry(training, dir, c);
		cJSON *entry = user ? cJSON_Duplicate(user, true) : json_object(), *img;
		size_t nimg = c->nfiles - (c->label >= 0);
		bool as_array = cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(entry, "image"));

		vb_json_oom(entry);
		img = nimg == 1 && !as_array ? NULL : cJSON_CreateArray();
		for (j = 0; j < c->nfiles; j++) {
			if ((int)j == c->label)
				continue;
			if (img)
				cJSON_AddItemToArray(img, json_string(bd->rel[k][j]));
			else
				img = json_string(bd->rel[k][j]);
		}
		vb_json_set(entry, "image", img);
		if (c->label >= 0)
			vb_json_set(entry, "label", json_string(bd->rel[k][c->label]));
		cJSON_AddItemToArray(out, entry);
	}
	vb_json_set(root, "training", out);
	for (k = 0; k < CB_ARRAY_SIZE(emptied); k++)
		if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, emptied[k])))
			vb_json_set(root, emptied[k], cJSON_CreateArray());
	if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "numTraining")))
		vb_json_set(root, "numTraining", cJSON_CreateNumber((double)bd->ncases));
	rc = bnd_write_json(bd, "datalist.json", root);
	cJSON_Delete(root);
	free(dir);
	return rc;
}

static void msd_repro_view(struct fmt_sh *sh, const struct fmt_bundle *bd)
{
	(void)bd;
	sh->text(sh, "# {view}: the bundle's datalist (its paths are relative to it)\n"
		     "view=\"$data/datalist.json\"\n\n");
}

/* The datalist: the bundle's, cut to the culprits. */
static bool msd_repro_root(struct fmt_sh *sh, const struct fmt_bundle *bd)
{
	(void)bd;
	sh->data_path(sh, "datalist.json");
	return true;
}

const struct ds_format_ops fmt_msd = {
	FMT_CORE(DS_MSD, "msd", detect_msd, load_msd, build_msd),
	.flags = FMT_NEEDS_FILE | FMT_VIEW_JSON,
	.bundle_place = msd_bundle_place,
	.bundle_meta = msd_bundle_meta,
	.bundle_words = "a datalist.json whose \"training\" list holds these cases, with paths "
			"relative to it (\"validation\" and \"test\" emptied)",
	.repro_view = msd_repro_view,
	.repro_root = msd_repro_root,
};
