/* test_view: subset views of real datasets on disk, one per format: a view
 * holds exactly the subset, its links lead to the user's files, its JSON is
 * cut right, and the user's dataset is never changed (checked by a snapshot
 * of sizes, mtimes and checksums of every file and folder). The struct
 * dataset of each fixture is filled by hand, so these tests do not depend on
 * ds_load. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "casebisect/dataset.h"
#include "casebisect/util.h"
#include "casebisect/view.h"
#include "helpers.h"

TestSuite(view, .init = tmpdir_setup, .fini = tmpdir_teardown);

/* ---- small helpers ---- */

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = xmalloc(n);

	snprintf(p, n, "%s/%s", a, b);
	return p;
}

static void mkdirs(const char *path)
{
	char buf[PATH_MAX], *s;

	cb_strlcpy(buf, path, sizeof(buf));
	for (s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		cr_assert(mkdir(buf, 0777) == 0 || errno == EEXIST, "mkdir %s: %s", buf,
			  strerror(errno));
		*s = '/';
	}
	cr_assert(mkdir(buf, 0777) == 0 || errno == EEXIST, "mkdir %s: %s", buf, strerror(errno));
}

/* Writes dir/rel (folders made as needed) with content naming it, sets an
 * old mtime (so that a rewrite would show), and returns the absolute path. */
static char *put_aged(const char *dir, const char *rel)
{
	char *path = join(dir, rel), *slash, *parent, *content;
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };

	parent = xstrdup(path);
	slash = strrchr(parent, '/');
	*slash = '\0';
	mkdirs(parent);
	free(parent);
	content = cb_fmt("the bytes of %s\n", rel);
	free(write_file(dir, rel, content));
	free(content);
	cr_assert(utimensat(AT_FDCWD, path, ts, 0) == 0);
	return path;
}

static char *slurp(const char *path)
{
	char *s = cb_read_file(path, NULL);

	cr_assert(s, "cannot read %s: %s", path, strerror(errno));
	return s;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, comma-joined list of strings (takes and frees them). */
static char *joined(char **v, size_t n)
{
	size_t len = 1, i;
	char *out;

	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	for (i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	out = xmalloc(len);
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		size_t o = strlen(out);

		snprintf(out + o, len - o, "%s%s", i ? "," : "", v[i]);
		free(v[i]);
	}
	free(v);
	return out;
}

/* The names in a folder, sorted and comma-joined; "(none)" when it is not
 * there. */
static char *ls(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0;

	if (!d)
		return xstrdup("(none)");
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	return joined(v, n);
}

static void assert_ls(const char *dir, const char *want)
{
	char *got = ls(dir);

	cr_assert_str_eq(got, want, "%s holds [%s], expected [%s]", dir, got, want);
	free(got);
}

static bool exists_nofollow(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* ---- a snapshot of a whole tree: every entry's type, size, mtime, content
 * checksum (files) or target (links), sorted, as one string ---- */

static char *snapshot(const char *root)
{
	char *s = tree_snapshot(root);

	cr_assert(count_lines(s) > 3, "snapshot of %s is suspiciously small", root);
	return s;
}

static void assert_unchanged(const char *root, const char *before)
{
	char *after = snapshot(root);

	cr_assert_str_eq(after, before, "the user's dataset changed:\nbefore:\n%s\nafter:\n%s",
			 before, after);
	free(after);
}

/* ---- fixtures: a real dataset on disk and its struct dataset ---- */

struct fixture {
	struct dataset ds;
	char *user;  /* the user's folder: everything of theirs is under it */
	char *trial; /* an empty trial directory, beside it */
};

static void add_case(struct dataset *ds, const char *id, int label, size_t nfiles, ...)
{
	struct ds_case *c;
	va_list ap;
	size_t i;

	ds->cases = xrealloc(ds->cases, (ds->ncases + 1) * sizeof(*ds->cases));
	c = &ds->cases[ds->ncases++];
	c->id = xstrdup(id);
	c->label = label;
	c->nfiles = nfiles;
	c->files = xcalloc(nfiles ? nfiles : 1, sizeof(*c->files));
	va_start(ap, nfiles);
	for (i = 0; i < nfiles; i++)
		c->files[i] = va_arg(ap, char *); /* taken */
	va_end(ap);
}

static void fixture_release(struct fixture *fx)
{
	ds_release(&fx->ds); /* the dataset is built by hand, but owned the same way */
	free(fx->user);
	free(fx->trial);
	memset(fx, 0, sizeof(*fx));
}

static void fixture_dirs(struct fixture *fx)
{
	memset(fx, 0, sizeof(*fx));
	fx->user = join(tmpdir, "user");
	fx->trial = join(tmpdir, "trial");
	mkdirs(fx->user);
	mkdirs(fx->trial);
}

#define NPRE 5

/* nnUNet_preprocessed/Dataset501_Liver with blosc2 data (or, when npz, the
 * older .npz data, unpacked .npy files for some cases, and ResEnc plans). */
static void make_pre(struct fixture *fx, bool npz)
{
	struct dataset *ds = &fx->ds;
	char *root;
	size_t i;

	fixture_dirs(fx);
	root = join(fx->user, "nnUNet_preprocessed/Dataset501_Liver");
	mkdirs(root);
	ds->format = DS_NNUNET_PRE;
	ds->root = root;
	ds->dataset_name = xstrdup("Dataset501_Liver");
	ds->plans_file = put_aged(root, npz ? "nnUNetResEncUNetMPlans.json" : "nnUNetPlans.json");
	ds->dataset_json = put_aged(root, "dataset.json");
	ds->fingerprint_file = put_aged(root, "dataset_fingerprint.json");
	free(put_aged(root, "splits_final.json"));
	ds->configuration = xstrdup("3d_fullres");
	ds->data_dir = join(root, "nnUNetPlans_3d_fullres");
	for (i = 0; i < NPRE; i++) {
		char *id = cb_fmt("case_%03zu", i), *rel[4];
		size_t k;

		rel[0] = cb_fmt("nnUNetPlans_3d_fullres/%s.%s", id, npz ? "npz" : "b2nd");
		rel[1] = cb_fmt("nnUNetPlans_3d_fullres/%s%s", id, npz ? ".npy" : "_seg.b2nd");
		rel[2] = cb_fmt("nnUNetPlans_3d_fullres/%s%s", id, npz ? "_seg.npy" : ".pkl");
		rel[3] = cb_fmt("nnUNetPlans_3d_fullres/%s.pkl", id);
		if (!npz)
			add_case(ds, id, 1, 3, put_aged(root, rel[0]), put_aged(root, rel[1]), put_aged(root, rel[2]));
		else if (i % 2 == 0) /* unpacked already */
			add_case(ds, id, -1, 4, put_aged(root, rel[0]), put_aged(root, rel[1]), put_aged(root, rel[2]),
				 put_aged(root, rel[3]));
		else
			add_case(ds, id, -1, 2, put_aged(root, rel[0]), put_aged(root, rel[3]));
		/* the other configuration and the final validation's references */
		for (k = 0; k < 4; k++)
			free(rel[k]);
		rel[0] = cb_fmt("nnUNetPlans_2d/%s.b2nd", id);
		rel[1] = cb_fmt("gt_segmentations/%s.nii.gz", id);
		free(put_aged(root, rel[0]));
		free(put_aged(root, rel[1]));
		free(rel[0]);
		free(rel[1]);
		free(id);
	}
}

#define NRAW 4
static const char raw_json_text[] =
	"{\"channel_names\": {\"0\": \"T2\", \"1\": \"ADC\"},\n"
	" \"labels\": {\"background\": 0, \"left atrium\": 1},\n"
	" \"numTraining\": 4, \"file_ending\": \".nii.gz\", \"name\": \"Heart\"}\n";

/* nnUNet_raw/Dataset002_Heart: two channels, imagesTr/ and labelsTr/, and
 * an imagesTs/ that no view links. */
static void make_raw(struct fixture *fx)
{
	struct dataset *ds = &fx->ds;
	char *root;
	size_t i;

	fixture_dirs(fx);
	root = join(fx->user, "nnUNet_raw/Dataset002_Heart");
	mkdirs(root);
	ds->format = DS_NNUNET_RAW;
	ds->root = root;
	ds->dataset_json = write_file(root, "dataset.json", raw_json_text);
	ds->file_ending = xstrdup(".nii.gz");
	ds->nchannels = 2;
	for (i = 0; i < NRAW; i++) {
		char *id = cb_fmt("heart_%03zu", i);
		char *a = cb_fmt("imagesTr/%s_0000.nii.gz", id), *b = cb_fmt("imagesTr/%s_0001.nii.gz", id);
		char *l = cb_fmt("labelsTr/%s.nii.gz", id), *t = cb_fmt("imagesTs/%s_0000.nii.gz", id);

		add_case(ds, id, 2, 3, put_aged(root, a), put_aged(root, b), put_aged(root, l));
		free(put_aged(root, t));
		free(id);
		free(a);
		free(b);
		free(l);
		free(t);
	}
}

/* nnUNet_raw/Dataset003_Key: dataset.json's "dataset" key lists each case's
 * files, kept elsewhere under names that repeat from case to case. */
static void make_raw_key(struct fixture *fx)
{
	struct dataset *ds = &fx->ds;
	cJSON *json, *key;
	char *root, *text;
	size_t i;

	fixture_dirs(fx);
	root = join(fx->user, "nnUNet_raw/Dataset003_Key");
	mkdirs(root);
	ds->format = DS_NNUNET_RAW;
	ds->root = root;
	ds->file_ending = xstrdup(".nii.gz");
	ds->nchannels = 2;
	json = cJSON_Parse(raw_json_text);
	key = cJSON_AddObjectToObject(json, "dataset");
	for (i = 0; i < NRAW; i++) {
		char *id = cb_fmt("heart_%03zu", i), *dir = cb_fmt("scans/%s", id);
		char *sub = join(fx->user, dir);
		char *a = put_aged(sub, "image0.nii.gz"), *b = put_aged(sub, "image1.nii.gz");
		char *l = put_aged(sub, "seg.nii.gz"), *rel;
		cJSON *e = cJSON_AddObjectToObject(key, id), *imgs = cJSON_AddArrayToObject(e, "images");

		/* relative to the dataset folder for one channel, absolute for the other */
		rel = cb_fmt("../../scans/%s/image0.nii.gz", id);
		cJSON_AddItemToArray(imgs, cJSON_CreateString(rel));
		cJSON_AddItemToArray(imgs, cJSON_CreateString(b));
		cJSON_AddStringToObject(e, "label", l);
		cJSON_AddStringToObject(e, "note", id);
		add_case(ds, id, 2, 3, a, b, l);
		free(rel);
		free(sub);
		free(dir);
		free(id);
	}
	text = cJSON_Print(json);
	ds->dataset_json = write_file(root, "dataset.json", text);
	free(text);
	cJSON_Delete(json);
}

#define NMSD 4

/* An MSD task folder with its dataset.json as the datalist: relative paths
 * ("./imagesTr/..."), case 2 with two channels, a "fold" key per entry,
 * "validation" and "test" lists. */
static void make_msd(struct fixture *fx)
{
	struct dataset *ds = &fx->ds;
	cJSON *json, *tr, *val, *test;
	char *root, *text;
	size_t i;

	fixture_dirs(fx);
	root = join(fx->user, "Task04_Hippocampus");
	mkdirs(root);
	json = cJSON_CreateObject();
	cJSON_AddStringToObject(json, "name", "Hippocampus");
	cJSON_AddNumberToObject(json, "numTraining", NMSD);
	tr = cJSON_AddArrayToObject(json, "training");
	for (i = 0; i < NMSD; i++) {
		char *id = cb_fmt("hip_%03zu", i), *a = cb_fmt("imagesTr/%s.nii.gz", id);
		char *a2 = cb_fmt("imagesTr/%s_t2.nii.gz", id), *l = cb_fmt("labelsTr/%s.nii.gz", id);
		char *ra = cb_fmt("./%s", a), *ra2 = cb_fmt("./%s", a2), *rl = cb_fmt("./%s", l);
		cJSON *e = cJSON_CreateObject();

		if (i == 2) {
			cJSON *imgs = cJSON_AddArrayToObject(e, "image");

			cJSON_AddItemToArray(imgs, cJSON_CreateString(ra));
			cJSON_AddItemToArray(imgs, cJSON_CreateString(ra2));
			add_case(ds, id, 2, 3, put_aged(root, a), put_aged(root, a2), put_aged(root, l));
		} else {
			cJSON_AddStringToObject(e, "image", ra);
			add_case(ds, id, 1, 2, put_aged(root, a), put_aged(root, l));
		}
		cJSON_AddStringToObject(e, "label", rl);
		cJSON_AddNumberToObject(e, "fold", (double)i);
		cJSON_AddItemToArray(tr, e);
		free(id);
		free(a);
		free(a2);
		free(l);
		free(ra);
		free(ra2);
		free(rl);
	}
	val = cJSON_AddArrayToObject(json, "validation");
	cJSON_AddItemToArray(val, cJSON_CreateObject());
	cJSON_AddStringToObject(cJSON_GetArrayItem(val, 0), "image", "imagesVal/v.nii.gz");
	cJSON_AddStringToObject(cJSON_GetArrayItem(val, 0), "label", "labelsVal/v.nii.gz");
	test = cJSON_AddArrayToObject(json, "test");
	cJSON_AddItemToArray(test, cJSON_CreateString("./imagesTs/t.nii.gz"));
	cJSON_AddItemToArray(test, cJSON_CreateString("/elsewhere/u.nii.gz"));
	text = cJSON_Print(json);
	ds->format = DS_MSD;
	ds->root = write_file(root, "dataset.json", text);
	ds->dataset_json = xstrdup(ds->root);
	free(root);
	free(text);
	cJSON_Delete(json);
}

#define NLIST 5

/* A list file: IDs with their files (case 3 has two, case 4 none). */
static void make_list(struct fixture *fx)
{
	struct dataset *ds = &fx->ds;
	char *dir;
	size_t i;

	fixture_dirs(fx);
	dir = join(fx->user, "cases");
	mkdirs(dir);
	for (i = 0; i < NLIST; i++) {
		char *id = cb_fmt("scan-%zu", i), *f = cb_fmt("%s.nii.gz", id), *m = cb_fmt("%s_mask.nii.gz", id);

		if (i == 3)
			add_case(ds, id, 1, 2, put_aged(dir, f), put_aged(dir, m));
		else if (i == 4)
			add_case(ds, id, -1, 0);
		else
			add_case(ds, id, -1, 1, put_aged(dir, f));
		free(id);
		free(f);
		free(m);
	}
	ds->format = DS_LIST;
	ds->root = write_file(fx->user, "cases.txt", "scan-0\nscan-1\nscan-2\nscan-3\nscan-4\n");
	free(dir);
}

static void make_any(struct fixture *fx, enum ds_format f)
{
	switch (f) {
	case DS_NNUNET_PRE:
		make_pre(fx, false);
		break;
	case DS_NNUNET_RAW:
		make_raw(fx);
		break;
	case DS_MSD:
		make_msd(fx);
		break;
	default:
		make_list(fx);
		break;
	}
}

static const enum ds_format all_formats[] = { DS_NNUNET_PRE, DS_NNUNET_RAW, DS_MSD, DS_LIST };

/* For messages (not ds_format_name: these tests do not need dataset.c). */
static const char *fmt_name(enum ds_format f)
{
	return f == DS_NNUNET_PRE ? "nnunet-pre" : f == DS_NNUNET_RAW ? "nnunet-raw"
		: f == DS_MSD ? "msd" : "list";
}

/* ---- what every view must show ---- */

/* cases.txt and files.txt list the subset, in subset order. */
static void assert_lists(const struct view *v, const struct fixture *fx, const size_t *sub,
			 size_t n)
{
	size_t cap = 1, i, j;
	char *cases, *files, *got;

	for (i = 0; i < n; i++) {
		const struct ds_case *c = &fx->ds.cases[sub[i]];

		cap += strlen(c->id) + 1;
		for (j = 0; j < c->nfiles; j++)
			cap += strlen(c->files[j]) + 1;
	}
	cases = xcalloc(cap, 1);
	files = xcalloc(cap, 1);
	for (i = 0; i < n; i++) {
		const struct ds_case *c = &fx->ds.cases[sub[i]];

		snprintf(cases + strlen(cases), cap - strlen(cases), "%s\n", c->id);
		for (j = 0; j < c->nfiles; j++)
			snprintf(files + strlen(files), cap - strlen(files), "%s%s", j ? "\t" : "",
				 c->files[j]);
		snprintf(files + strlen(files), cap - strlen(files), "\n");
	}
	got = join(fx->trial, "cases.txt");
	cr_assert_str_eq(v->cases_file, got);
	free(got);
	got = join(fx->trial, "files.txt");
	cr_assert_str_eq(v->files_file, got);
	free(got);
	got = slurp(v->cases_file);
	cr_assert_str_eq(got, cases);
	free(got);
	got = slurp(v->files_file);
	cr_assert_str_eq(got, files);
	free(got);
	free(cases);
	free(files);
}

/* Is t one of the subset's files, or one of the dataset's own files? */
/* What the link at p stands for: its target, or, for a short relative one
 * ("../../s/<k>/<name>": view/s/<k> links to the source folder), that
 * folder's path joined with name: the path the dataset gave, unresolved.
 * The caller frees it. */
static char *logical_target(const char *p)
{
	char t[PATH_MAX], d[PATH_MAX], *view, *s, *root;
	ssize_t k = readlink(p, t, sizeof(t) - 1);

	cr_assert(k > 0, "%s is not a link", p);
	t[k] = '\0';
	if (t[0] == '/')
		return xstrdup(t);
	view = strstr(p, "/view/");
	s = strstr(t, "s/");
	cr_assert(view && s && !strncmp(t, "../", 3), "%s -> %s: a relative link that is not "
		  "view/s/<k>/<name>", p, t);
	root = cb_fmt("%.*s/view/%.*s", (int)(view - p), p, (int)(strchr(s + 2, '/') - s), s);
	k = readlink(root, d, sizeof(d) - 1);
	cr_assert(k > 0, "%s is not a link", root);
	d[k] = '\0';
	cr_assert(d[0] == '/', "%s -> %s is not absolute", root, d);
	free(root);
	return cb_fmt("%s%s", d, strchr(s + 2, '/'));
}

static bool is_expected_target(const struct fixture *fx, const size_t *sub, size_t n,
			       const char *t)
{
	const struct dataset *ds = &fx->ds;
	const char *own[] = { ds->plans_file, ds->dataset_json, ds->fingerprint_file };
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < ds->cases[sub[i]].nfiles; j++)
			if (!strcmp(ds->cases[sub[i]].files[j], t))
				return true;
	for (i = 0; i < CB_ARRAY_SIZE(own); i++)
		if (own[i] && !strcmp(own[i], t))
			return true;
	return false;
}

/* Every link under dir is absolute, leads to a file of the subset (or to
 * the dataset's plans, dataset.json or fingerprint), and resolves
 * (realpath) to that file; returns how many links there are. */
static size_t assert_links_resolve(const char *dir, const struct fixture *fx, const size_t *sub,
				   size_t nsub)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	cr_assert(d, "%s: %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		char *p, t[PATH_MAX], *r1, *r2;
		struct stat st;
		ssize_t k;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		p = join(dir, e->d_name);
		cr_assert(lstat(p, &st) == 0);
		if (S_ISDIR(st.st_mode)) {
			n += assert_links_resolve(p, fx, sub, nsub);
		} else if (S_ISLNK(st.st_mode) && !strstr(p, "/view/s/")) {
			char *lt = logical_target(p);

			cb_strlcpy(t, lt, sizeof(t));
			free(lt);
			(void)k;
			cr_assert(is_expected_target(fx, sub, nsub, t),
				  "%s -> %s: not a file of the subset", p, t);
			r1 = realpath(p, NULL);
			r2 = realpath(t, NULL);
			cr_assert(r1 && r2, "%s -> %s does not resolve", p, t);
			cr_assert_str_eq(r1, r2);
			cr_assert(!strncmp(r1, fx->user, strlen(fx->user)), "%s leads outside %s",
				  p, fx->user);
			free(r1);
			free(r2);
			n++;
		}
		free(p);
	}
	closedir(d);
	return n;
}

/* Does dir/name link to exactly file? */
static void assert_link_to(const char *dir, const char *name, const char *file)
{
	char *p = join(dir, name), *t = logical_target(p), *r1, *r2;

	cr_assert_str_eq(t, file, "%s links to %s, not to %s", p, t, file);
	free(t);
	r1 = realpath(p, NULL);
	r2 = realpath(file, NULL);
	cr_assert(r1 && r2 && !strcmp(r1, r2));
	free(r1);
	free(r2);
	free(p);
}

static void assert_env(const struct view *v, size_t n, ...)
{
	va_list ap;
	size_t i;

	cr_assert_eq(v->nenv, n);
	va_start(ap, n);
	for (i = 0; i < n; i++) {
		const char *want = va_arg(ap, const char *);

		cr_assert(v->env[i], "env[%zu] missing", i);
		cr_assert_str_eq(v->env[i], want);
	}
	va_end(ap);
	cr_assert_null(v->env[n], "env is not NULL-terminated after %zu", n);
}

/* ---- nnunet-pre ---- */

Test(view, pre_view_holds_exactly_the_subset_and_links_to_the_users_files)
{
	struct fixture fx;
	struct view v;
	char err[512] = "", *before, *pp, *ds_dir, *data, *want, *e1, *e2, *e3;
	size_t sub[] = { 3, 1 };

	make_pre(&fx, false);
	before = snapshot(fx.user);
	cr_assert_eq(view_build(&v, &fx.ds, sub, 2, fx.trial, err, sizeof(err)), 0, "%s", err);

	pp = cb_fmt("%s/view/pp", fx.trial);
	ds_dir = join(pp, "Dataset501_Liver");
	data = join(ds_dir, "nnUNetPlans_3d_fullres");
	cr_assert_str_eq(v.path, pp);
	assert_ls(fx.trial, "cases.txt,files.txt,view");
	assert_ls(pp, "Dataset501_Liver");
	assert_ls(ds_dir, "dataset.json,dataset_fingerprint.json,nnUNetPlans.json,"
			  "nnUNetPlans_3d_fullres");
	assert_ls(data, "case_001.b2nd,case_001.pkl,case_001_seg.b2nd,"
			"case_003.b2nd,case_003.pkl,case_003_seg.b2nd");
	assert_link_to(ds_dir, "nnUNetPlans.json", fx.ds.plans_file);
	assert_link_to(ds_dir, "dataset.json", fx.ds.dataset_json);
	assert_link_to(ds_dir, "dataset_fingerprint.json", fx.ds.fingerprint_file);
	assert_link_to(data, "case_003_seg.b2nd", fx.ds.cases[3].files[1]);
	cr_assert_eq(assert_links_resolve(pp, &fx, sub, 2), 3 + 6);
	{
		struct stat st;

		cr_assert(lstat(data, &st) == 0 && S_ISDIR(st.st_mode),
			  "the data folder is a real folder");
	}
	want = cb_fmt("%s/view/results", fx.trial);
	assert_ls(want, "");
	free(want);
	want = cb_fmt("%s/view/raw", fx.trial);
	assert_ls(want, "");
	free(want);
	e1 = cb_fmt("nnUNet_preprocessed=%s/view/pp", fx.trial);
	e2 = cb_fmt("nnUNet_results=%s/view/results", fx.trial);
	e3 = cb_fmt("nnUNet_raw=%s/view/raw", fx.trial);
	assert_env(&v, 3, e1, e2, e3);
	assert_lists(&v, &fx, sub, 2);
	assert_unchanged(fx.user, before);

	view_release(&v);
	cr_assert_null(v.path);
	free(e1);
	free(e2);
	free(e3);
	free(pp);
	free(ds_dir);
	free(data);
	free(before);
	fixture_release(&fx);
}

Test(view, pre_view_with_npz_links_the_unpacked_npy_and_keeps_the_plans_name)
{
	struct fixture fx;
	struct view v;
	char err[512] = "", *before, *ds_dir, *data;
	size_t sub[] = { 0, 1, 4 };

	make_pre(&fx, true);
	before = snapshot(fx.user);
	cr_assert_eq(view_build(&v, &fx.ds, sub, 3, fx.trial, err, sizeof(err)), 0, "%s", err);
	ds_dir = cb_fmt("%s/view/pp/Dataset501_Liver", fx.trial);
	data = join(ds_dir, "nnUNetPlans_3d_fullres");
	assert_ls(ds_dir, "dataset.json,dataset_fingerprint.json,nnUNetPlans_3d_fullres,"
			  "nnUNetResEncUNetMPlans.json");
	assert_ls(data, "case_000.npy,case_000.npz,case_000.pkl,case_000_seg.npy,"
			"case_001.npz,case_001.pkl,"
			"case_004.npy,case_004.npz,case_004.pkl,case_004_seg.npy");
	cr_assert_eq(assert_links_resolve(ds_dir, &fx, sub, 3), 3 + 10);
	assert_lists(&v, &fx, sub, 3);
	assert_unchanged(fx.user, before);
	view_release(&v);
	free(ds_dir);
	free(data);
	free(before);
	fixture_release(&fx);
}

/* ---- nnunet-raw ---- */

Test(view, raw_view_links_the_subset_and_rewrites_num_training)
{
	struct fixture fx;
	struct view v;
	char err[512] = "", *before, *dir, *img, *lab, *want, *text, *e1, *e2, *e3;
	size_t sub[] = { 2, 0 };
	cJSON *json, *user_json;

	make_raw(&fx);
	before = snapshot(fx.user);
	cr_assert_eq(view_build(&v, &fx.ds, sub, 2, fx.trial, err, sizeof(err)), 0, "%s", err);
	dir = cb_fmt("%s/view/raw/Dataset002_Heart", fx.trial);
	img = join(dir, "imagesTr");
	lab = join(dir, "labelsTr");
	cr_assert_str_eq(v.path, dir);
	assert_ls(dir, "dataset.json,imagesTr,labelsTr");
	assert_ls(img, "heart_000_0000.nii.gz,heart_000_0001.nii.gz,"
		       "heart_002_0000.nii.gz,heart_002_0001.nii.gz");
	assert_ls(lab, "heart_000.nii.gz,heart_002.nii.gz");
	assert_link_to(img, "heart_002_0001.nii.gz", fx.ds.cases[2].files[1]);
	assert_link_to(lab, "heart_000.nii.gz", fx.ds.cases[0].files[2]);
	cr_assert_eq(assert_links_resolve(dir, &fx, sub, 2), 6);

	want = join(dir, "dataset.json");
	{
		struct stat st;

		cr_assert(lstat(want, &st) == 0 && S_ISREG(st.st_mode), "a real file, not a link");
	}
	text = slurp(want);
	json = cJSON_Parse(text);
	cr_assert(json, "not JSON:\n%s", text);
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(json, "numTraining")), 2);
	/* everything else as the user wrote it */
	user_json = cJSON_Parse(raw_json_text);
	cJSON_ReplaceItemInObject(user_json, "numTraining", cJSON_CreateNumber(2));
	cr_assert(cJSON_Compare(json, user_json, true), "rewritten dataset.json:\n%s", text);
	cJSON_Delete(user_json);
	cJSON_Delete(json);
	free(text);
	free(want);

	e1 = cb_fmt("nnUNet_raw=%s/view/raw", fx.trial);
	e2 = cb_fmt("nnUNet_preprocessed=%s/view/pp", fx.trial);
	e3 = cb_fmt("nnUNet_results=%s/view/results", fx.trial);
	assert_env(&v, 3, e1, e2, e3);
	want = cb_fmt("%s/view/pp", fx.trial);
	assert_ls(want, "");
	free(want);
	assert_lists(&v, &fx, sub, 2);
	assert_unchanged(fx.user, before);
	view_release(&v);
	free(e1);
	free(e2);
	free(e3);
	free(dir);
	free(img);
	free(lab);
	free(before);
	fixture_release(&fx);
}

Test(view, raw_view_cuts_the_dataset_key_to_the_subset)
{
	struct fixture fx;
	struct view v;
	char err[512] = "", *before, *dir, *text, *p;
	size_t sub[] = { 3, 1 }, i, j;
	cJSON *json, *key, *e;

	make_raw_key(&fx);
	before = snapshot(fx.user);
	cr_assert_eq(view_build(&v, &fx.ds, sub, 2, fx.trial, err, sizeof(err)), 0, "%s", err);
	dir = cb_fmt("%s/view/raw/Dataset003_Key", fx.trial);
	p = join(dir, "dataset.json");
	text = slurp(p);
	free(p);
	json = cJSON_Parse(text);
	cr_assert(json, "not JSON:\n%s", text);
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(json, "numTraining")), 2);
	key = cJSON_GetObjectItem(json, "dataset");
	cr_assert_eq(cJSON_GetArraySize(key), 2, "%s", text);
	/* the subset's cases, in subset order, each path leading to its file */
	for (i = 0; i < 2; i++) {
		const struct ds_case *c = &fx.ds.cases[sub[i]];
		cJSON *imgs;

		e = cJSON_GetArrayItem(key, (int)i);
		cr_assert_str_eq(e->string, c->id);
		cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(e, "note")), c->id);
		imgs = cJSON_GetObjectItem(e, "images");
		cr_assert_eq(cJSON_GetArraySize(imgs), 2);
		for (j = 0; j < 3; j++) {
			const char *rel = j < 2 ? cJSON_GetStringValue(cJSON_GetArrayItem(imgs, (int)j))
					       : cJSON_GetStringValue(cJSON_GetObjectItem(e, "label"));
			char *abs, *r1, *r2;

			cr_assert(rel && rel[0] != '/', "relative to the view's dataset folder");
			cr_assert(!strncmp(rel, j < 2 ? "imagesTr/" : "labelsTr/", 9), "%s", rel);
			abs = join(dir, rel);
			r1 = realpath(abs, NULL);
			r2 = realpath(c->files[j], NULL);
			cr_assert(r1 && r2, "%s does not resolve", abs);
			cr_assert_str_eq(r1, r2);
			free(r1);
			free(r2);
			free(abs);
		}
	}
	p = join(dir, "imagesTr");
	/* the names repeat between cases: the second case gets nnU-Net's names */
	assert_ls(p, "heart_001_0000.nii.gz,heart_001_0001.nii.gz,image0.nii.gz,image1.nii.gz");
	free(p);
	p = join(dir, "labelsTr");
	assert_ls(p, "heart_001.nii.gz,seg.nii.gz");
	free(p);
	cr_assert_eq(assert_links_resolve(dir, &fx, sub, 2), 6);
	assert_lists(&v, &fx, sub, 2);
	assert_unchanged(fx.user, before);
	cJSON_Delete(json);
	free(text);
	view_release(&v);
	free(dir);
	free(before);
	fixture_release(&fx);
}

/* ---- msd ---- */

Test(view, msd_view_cuts_training_and_makes_paths_absolute)
{
	struct fixture fx;
	struct view v;
	char err[512] = "", *before, *want, *text, *dir;
	size_t sub[] = { 3, 2 }, i;
	cJSON *json, *tr, *e, *img;

	make_msd(&fx);
	before = snapshot(fx.user);
	cr_assert_eq(view_build(&v, &fx.ds, sub, 2, fx.trial, err, sizeof(err)), 0, "%s", err);
	want = cb_fmt("%s/view/datalist.json", fx.trial);
	cr_assert_str_eq(v.path, want);
	free(want);
	want = join(fx.trial, "view");
	assert_ls(want, "datalist.json");
	free(want);
	assert_env(&v, 0);
	text = slurp(v.path);
	json = cJSON_Parse(text);
	cr_assert(json, "not JSON:\n%s", text);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(json, "name")), "Hippocampus");
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(json, "numTraining")), 2);
	tr = cJSON_GetObjectItem(json, "training");
	cr_assert_eq(cJSON_GetArraySize(tr), 2, "%s", text);
	for (i = 0; i < 2; i++) {
		const struct ds_case *c = &fx.ds.cases[sub[i]];

		e = cJSON_GetArrayItem(tr, (int)i);
		cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(e, "fold")), (double)sub[i],
			     "the entry's other keys are kept: %s", text);
		cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(e, "label")),
				 c->files[c->label]);
		img = cJSON_GetObjectItem(e, "image");
		if (sub[i] == 2) {
			cr_assert(cJSON_IsArray(img) && cJSON_GetArraySize(img) == 2, "%s", text);
			cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(img, 0)), c->files[0]);
			cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(img, 1)), c->files[1]);
		} else {
			cr_assert_str_eq(cJSON_GetStringValue(img), c->files[0], "%s", text);
		}
	}
	dir = cb_fmt("%s/Task04_Hippocampus", fx.user);
	want = cb_fmt("%s/imagesVal/v.nii.gz", dir);
	e = cJSON_GetArrayItem(cJSON_GetObjectItem(json, "validation"), 0);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(e, "image")), want);
	free(want);
	want = cb_fmt("%s/imagesTs/t.nii.gz", dir);
	e = cJSON_GetObjectItem(json, "test");
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(e, 0)), want);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(e, 1)), "/elsewhere/u.nii.gz");
	free(want);
	free(dir);
	assert_lists(&v, &fx, sub, 2);
	assert_unchanged(fx.user, before);
	cJSON_Delete(json);
	free(text);
	view_release(&v);
	free(before);
	fixture_release(&fx);
}

Test(view, msd_entries_are_matched_to_cases_through_links)
{
	struct fixture fx;
	struct view v;
	char err[512] = "", *alias, *text;
	size_t sub[] = { 1, 3 }, i;
	cJSON *json, *tr;

	/* The datalist is read through a link to the user's folder, while the
	 * case files are stored resolved: entries still find their cases. */
	make_msd(&fx);
	alias = join(tmpdir, "alias");
	cr_assert(symlink(fx.user, alias) == 0);
	free(fx.ds.root);
	fx.ds.root = cb_fmt("%s/Task04_Hippocampus/dataset.json", alias);
	cr_assert_eq(view_build(&v, &fx.ds, sub, 2, fx.trial, err, sizeof(err)), 0, "%s", err);
	text = slurp(v.path);
	json = cJSON_Parse(text);
	tr = cJSON_GetObjectItem(json, "training");
	cr_assert_eq(cJSON_GetArraySize(tr), 2, "%s", text);
	for (i = 0; i < 2; i++) {
		cJSON *e = cJSON_GetArrayItem(tr, (int)i);

		cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(e, "fold")), (double)sub[i],
			     "%s", text);
		cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(e, "image")),
				 fx.ds.cases[sub[i]].files[0]);
	}
	cJSON_Delete(json);
	free(text);
	free(alias);
	view_release(&v);
	fixture_release(&fx);
}

/* ---- list ---- */

Test(view, list_view_is_the_cases_file)
{
	struct fixture fx;
	struct view v;
	char err[512] = "", *before;
	size_t sub[] = { 4, 3, 0 };

	make_list(&fx);
	before = snapshot(fx.user);
	cr_assert_eq(view_build(&v, &fx.ds, sub, 3, fx.trial, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(v.path, v.cases_file);
	assert_ls(fx.trial, "cases.txt,files.txt");
	assert_env(&v, 0);
	assert_lists(&v, &fx, sub, 3);
	assert_unchanged(fx.user, before);
	view_release(&v);
	free(before);
	fixture_release(&fx);
}

Test(view, an_empty_subset_gives_empty_lists)
{
	struct fixture fx;
	struct view v;
	char err[512] = "", *s;

	make_list(&fx);
	cr_assert_eq(view_build(&v, &fx.ds, NULL, 0, fx.trial, err, sizeof(err)), 0, "%s", err);
	s = slurp(v.cases_file);
	cr_assert_str_eq(s, "");
	free(s);
	view_release(&v);
	fixture_release(&fx);
}

/* ---- errors: nothing left behind ---- */

Test(view, a_vanished_case_file_is_named_and_the_trial_dir_is_left_as_it_was)
{
	size_t f;

	for (f = 0; f < CB_ARRAY_SIZE(all_formats); f++) {
		struct fixture fx;
		struct view v;
		char err[512] = "", *before, *keep;
		size_t sub[] = { 0, 2, 3 };
		const char *gone;

		make_any(&fx, all_formats[f]);
		keep = write_file(fx.trial, "keep.txt", "the trial's own file\n");
		/* the last file of the second case of the subset: the view is
		 * half built when it finds out */
		gone = fx.ds.cases[2].files[fx.ds.cases[2].nfiles - 1];
		cr_assert(unlink(gone) == 0);
		before = snapshot(fx.user);
		cr_assert_eq(view_build(&v, &fx.ds, sub, 3, fx.trial, err, sizeof(err)), -1,
			     "%s: a view without %s", fmt_name(all_formats[f]), gone);
		cr_assert(strstr(err, gone), "%s: the error names the file: %s",
			  fmt_name(all_formats[f]), err);
		cr_assert(strstr(err, fx.ds.cases[2].id), "and its case: %s", err);
		cr_assert(strstr(err, "missing"), "%s", err);
		cr_assert_null(v.path);
		assert_ls(fx.trial, "keep.txt");
		assert_unchanged(fx.user, before);
		free(keep);
		free(before);
		fixture_release(&fx);
		tmpdir_teardown();
		tmpdir_setup();
	}
}

Test(view, remove_takes_the_view_away_and_never_the_users_files)
{
	size_t f;

	for (f = 0; f < CB_ARRAY_SIZE(all_formats); f++) {
		struct fixture fx;
		struct view v;
		char err[512] = "", *before, *p, *q;
		size_t sub[] = { 1, 2 };

		make_any(&fx, all_formats[f]);
		free(write_file(fx.trial, "keep.txt", "the trial's own file\n"));
		before = snapshot(fx.user);
		cr_assert_eq(view_build(&v, &fx.ds, sub, 2, fx.trial, err, sizeof(err)), 0, "%s",
			     err);
		if (all_formats[f] == DS_NNUNET_PRE) {
			/* what a trainer leaves: output folders, and links of its own
			 * to the user's folders and files */
			p = cb_fmt("%s/view/results/Dataset501_Liver/T__P__3d_fullres/fold_all", fx.trial);
			mkdirs(p);
			free(write_file(p, "training_log.txt", "epoch 0\n"));
			q = join(p, "to_user_dir");
			cr_assert(symlink(fx.user, q) == 0);
			free(q);
			q = join(p, "to_user_file");
			cr_assert(symlink(fx.ds.cases[0].files[0], q) == 0);
			free(q);
			free(p);
		}
		cr_assert_eq(view_remove(fx.trial, err, sizeof(err)), 0, "%s", err);
		assert_ls(fx.trial, "keep.txt");
		assert_unchanged(fx.user, before);
		/* once more: nothing to remove is no error */
		cr_assert_eq(view_remove(fx.trial, err, sizeof(err)), 0, "%s", err);
		view_release(&v);
		free(before);
		fixture_release(&fx);
		tmpdir_teardown();
		tmpdir_setup();
	}
}

Test(view, unsafe_case_ids_are_refused_before_any_path_is_made)
{
	static const char *const bad[] = { "../escape", "a/b", "..", "/abs", "-rf", "x\ny", ".",
					   "", "tab\there" };
	size_t f, i;

	for (f = 0; f < CB_ARRAY_SIZE(all_formats); f++) {
		for (i = 0; i < CB_ARRAY_SIZE(bad); i++) {
			struct fixture fx;
			struct view v;
			char err[512] = "", *before, *outside;
			size_t sub[] = { 0, 1 };

			make_any(&fx, all_formats[f]);
			free(fx.ds.cases[1].id);
			fx.ds.cases[1].id = xstrdup(bad[i]);
			before = snapshot(tmpdir);
			cr_assert_eq(view_build(&v, &fx.ds, sub, 2, fx.trial, err, sizeof(err)), -1,
				     "%s: ID \"%s\" accepted", fmt_name(all_formats[f]),
				     bad[i]);
			cr_assert(strstr(err, "case ID"), "%s", err);
			cr_assert_null(strchr(err, '\n'), "a newline in an ID is shown escaped: %s",
				       err);
			assert_ls(fx.trial, "");
			/* nothing anywhere: the whole temporary folder is as it was */
			assert_unchanged(tmpdir, before);
			outside = join(tmpdir, "escape");
			cr_assert_not(exists_nofollow(outside));
			free(outside);
			free(before);
			fixture_release(&fx);
			tmpdir_teardown();
			tmpdir_setup();
		}
	}
}

Test(view, a_file_name_that_is_not_a_name_is_refused)
{
	struct fixture fx;
	struct view v;
	char err[512] = "";
	size_t sub[] = { 0 };

	make_pre(&fx, false);
	free(fx.ds.cases[0].files[0]);
	fx.ds.cases[0].files[0] = cb_fmt("%s/..", fx.user);
	cr_assert_eq(view_build(&v, &fx.ds, sub, 1, fx.trial, err, sizeof(err)), -1);
	cr_assert(strstr(err, "no file name a link can take"), "%s", err);
	free(fx.ds.cases[0].files[0]);
	fx.ds.cases[0].files[0] = xstrdup("relative/case_000.b2nd");
	cr_assert_eq(view_build(&v, &fx.ds, sub, 1, fx.trial, err, sizeof(err)), -1);
	cr_assert(strstr(err, "not an absolute path"), "%s", err);
	assert_ls(fx.trial, "");
	fixture_release(&fx);
}

Test(view, a_second_view_in_the_same_trial_dir_leaves_the_first_alone)
{
	struct fixture fx;
	struct view v, w;
	char err[512] = "", *data, *cases;
	size_t sub[] = { 1 }, other[] = { 2, 4 };

	make_pre(&fx, false);
	cr_assert_eq(view_build(&v, &fx.ds, sub, 1, fx.trial, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(view_build(&w, &fx.ds, other, 2, fx.trial, err, sizeof(err)), -1);
	cr_assert(strstr(err, "view") && strstr(err, "File exists"), "%s", err);
	data = cb_fmt("%s/view/pp/Dataset501_Liver/nnUNetPlans_3d_fullres", fx.trial);
	assert_ls(data, "case_001.b2nd,case_001.pkl,case_001_seg.b2nd");
	assert_ls(fx.trial, "cases.txt,files.txt,view");
	cases = slurp(v.cases_file);
	cr_assert_str_eq(cases, "case_001\n");
	free(cases);
	free(data);
	view_release(&v);
	fixture_release(&fx);
}

Test(view, a_link_planted_in_the_trial_dir_is_never_written_through)
{
	struct fixture fx;
	struct view v;
	char err[512] = "", *before, *planted;
	size_t sub[] = { 0, 1 };

	/* cases.txt already there, as a link to a file of the user's */
	make_list(&fx);
	before = snapshot(fx.user);
	planted = join(fx.trial, "cases.txt");
	cr_assert(symlink(fx.ds.cases[0].files[0], planted) == 0);
	cr_assert_eq(view_build(&v, &fx.ds, sub, 2, fx.trial, err, sizeof(err)), -1);
	cr_assert(strstr(err, planted), "%s", err);
	assert_ls(fx.trial, "cases.txt");
	assert_unchanged(fx.user, before);
	free(planted);
	free(before);
	fixture_release(&fx);
	tmpdir_teardown();
	tmpdir_setup();

	/* view/ already there, as a link to the user's folder */
	make_pre(&fx, false);
	before = snapshot(fx.user);
	planted = join(fx.trial, "view");
	cr_assert(symlink(fx.user, planted) == 0);
	cr_assert_eq(view_build(&v, &fx.ds, sub, 2, fx.trial, err, sizeof(err)), -1);
	cr_assert(strstr(err, planted), "%s", err);
	assert_ls(fx.trial, "view");
	assert_unchanged(fx.user, before);
	/* and view_remove unlinks the link, not what it leads to */
	cr_assert_eq(view_remove(fx.trial, err, sizeof(err)), 0, "%s", err);
	assert_ls(fx.trial, "");
	assert_unchanged(fx.user, before);
	free(planted);
	free(before);
	fixture_release(&fx);
}

Test(view, a_relative_trial_dir_gives_absolute_paths)
{
	struct fixture fx;
	struct view v;
	char err[512] = "", *want;
	size_t sub[] = { 0 };

	make_pre(&fx, false);
	cr_assert(chdir(tmpdir) == 0);
	cr_assert_eq(view_build(&v, &fx.ds, sub, 1, "trial", err, sizeof(err)), 0, "%s", err);
	want = join(fx.trial, "cases.txt");
	cr_assert_str_eq(v.cases_file, want);
	free(want);
	want = cb_fmt("%s/view/pp", fx.trial);
	cr_assert_str_eq(v.path, want);
	free(want);
	want = cb_fmt("nnUNet_preprocessed=%s/view/pp", fx.trial);
	cr_assert_str_eq(v.env[0], want);
	free(want);
	view_release(&v);
	fixture_release(&fx);
}

Test(view, a_full_disk_is_an_error_and_leaves_nothing)
{
	struct fixture fx;
	struct view v;
	struct rlimit old, small = { 4096, 4096 };
	char err[512] = "", *big;
	size_t *sub, i, n = 300;
	int rc;

	/* A list of 300 cases whose files.txt is larger than the file size
	 * limit: the write fails as on a full disk. */
	make_list(&fx);
	big = cb_fmt("%s/cases/scan-0.nii.gz", fx.user);
	for (i = NLIST; i < n; i++) {
		char *id = cb_fmt("extra-%zu", i);

		add_case(&fx.ds, id, -1, 1, xstrdup(big));
		free(id);
	}
	sub = xcalloc(n, sizeof(*sub));
	for (i = 0; i < n; i++)
		sub[i] = i;
	signal(SIGXFSZ, SIG_IGN);
	cr_assert(getrlimit(RLIMIT_FSIZE, &old) == 0);
	small.rlim_max = old.rlim_max;
	cr_assert(setrlimit(RLIMIT_FSIZE, &small) == 0);
	rc = view_build(&v, &fx.ds, sub, n, fx.trial, err, sizeof(err));
	setrlimit(RLIMIT_FSIZE, &old);
	cr_assert_eq(rc, -1, "a cut files.txt passed for whole");
	cr_assert(strstr(err, "files.txt: cannot write"), "%s", err);
	assert_ls(fx.trial, "");
	free(big);
	free(sub);
	fixture_release(&fx);
}
