/* test_dataset: datasets on disk, one fixture per format (NIfTI files from
 * examples/mkcases, placeholders for the preprocessed layout), read through
 * ds_load and through `casebisect cases`; every bad input gives its message
 * and exit status 1, and no run creates or changes anything. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "casebisect/dataset.h"
#include "casebisect/util.h"
#include "helpers.h"

TestSuite(dataset, .init = tmpdir_setup, .fini = tmpdir_teardown);

/* ---- fixtures ---- */

static bool ends_with_str(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void rm_at(const char *rel)
{
	char *p = at(rel);

	cr_assert(unlink(p) == 0, "unlink %s: %s", p, strerror(errno));
	free(p);
}

static void copy_at(const char *from, const char *to)
{
	char *a = at(from), *b = at(to), *data;
	size_t len;
	FILE *f;

	data = cb_read_file(a, &len);
	cr_assert(data, "read %s", a);
	f = fopen(b, "wb");
	cr_assert(f && fwrite(data, 1, len, f) == len && fclose(f) == 0);
	free(data);
	free(a);
	free(b);
}

/* A real nnU-Net raw dataset of n NIfTI cases in tmpdir/rel (mkcases). */
static char *raw(const char *rel, int n, const char *extra)
{
	char *mk = src_file("examples/mkcases"), *dir = at(rel);
	char *cmd = cb_fmt("'%s' --cases %d --size 4 %s '%s' >/dev/null 2>&1", mk, n, extra ? extra : "",
			dir);

	cr_assert(system(cmd) == 0, "mkcases failed: %s", cmd);
	free(cmd);
	free(mk);
	return dir;
}

static const char pre_dataset_json[] =
	"{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, \"liver\": 1, "
	"\"tumor\": 2}, \"numTraining\": 3, \"file_ending\": \".nii.gz\"}\n";

/* nnUNet_preprocessed/Dataset501_Liver with n cases of placeholder files:
 * <id>.b2nd, <id>_seg.b2nd, <id>.pkl (or .npz + .pkl, and .npy +
 * _seg.npy for the even cases, when npz). */
static char *pre(int n, bool npz)
{
	int i;

	mkdir_at("Dataset501_Liver");
	put("Dataset501_Liver/nnUNetPlans.json", nnunet_plans_json);
	put("Dataset501_Liver/dataset.json", pre_dataset_json);
	put("Dataset501_Liver/dataset_fingerprint.json", "{\"spacings\": []}\n");
	mkdir_at("Dataset501_Liver/nnUNetPlans_3d_fullres");
	mkdir_at("Dataset501_Liver/gt_segmentations");
	for (i = 0; i < n; i++) {
		char *p[4];
		int k;

		if (npz) {
			p[0] = cb_fmt("Dataset501_Liver/nnUNetPlans_3d_fullres/liver_%d.npz", i);
			p[1] = cb_fmt("Dataset501_Liver/nnUNetPlans_3d_fullres/liver_%d.pkl", i);
			p[2] = i % 2 ? NULL : cb_fmt("Dataset501_Liver/nnUNetPlans_3d_fullres/liver_%d.npy", i);
			p[3] = i % 2 ? NULL : cb_fmt("Dataset501_Liver/nnUNetPlans_3d_fullres/liver_%d_seg.npy", i);
		} else {
			p[0] = cb_fmt("Dataset501_Liver/nnUNetPlans_3d_fullres/liver_%d.b2nd", i);
			p[1] = cb_fmt("Dataset501_Liver/nnUNetPlans_3d_fullres/liver_%d_seg.b2nd", i);
			p[2] = cb_fmt("Dataset501_Liver/nnUNetPlans_3d_fullres/liver_%d.pkl", i);
			p[3] = NULL;
		}
		for (k = 0; k < 4; k++) {
			if (p[k])
				put(p[k], "placeholder\n");
			free(p[k]);
		}
	}
	return at("Dataset501_Liver");
}

/* ---- running ---- */

/* `casebisect cases PATH [o1 [o2 [o3]]]` in tmpdir; asserts that it created
 * and changed nothing. */
static void cases_run(struct run *r, const char *path, const char *o1, const char *o2,
		      const char *o3)
{
	struct how how = { .cwd = tmpdir };
	char *before = tree_snapshot(tmpdir), *after;

	run_how(r, &how, "cases", path, o1, o2, o3, (char *)NULL);
	after = tree_snapshot(tmpdir);
	cr_assert_str_eq(after, before, "the dataset changed:\nbefore:\n%s\nafter:\n%s", before,
			 after);
	free(before);
	free(after);
}

/*
 * A refused dataset, as a user sees it: exit 1, nothing on stdout, one
 * line on stderr holding need1 and need2 (the file and the fix), nothing
 * created or changed. o1 and o2 are options, or NULL.
 */
static void refused(const char *path, const char *o1, const char *o2, const char *need1,
		    const char *need2)
{
	struct run r;

	cases_run(&r, path, o1, o2, NULL);
	cr_assert_eq(r.code, 1, "exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err);
	cr_assert_eq(r.out_len, 0, "stdout:\n%s", r.out);
	cr_assert_eq(count_lines(r.err), 1, "stderr is not one line:\n%s", r.err);
	cr_assert(starts_with(r.err, "casebisect: "), "%s", r.err);
	cr_assert(strstr(r.err, need1), "no '%s' in:\n%s", need1, r.err);
	if (need2)
		cr_assert(strstr(r.err, need2), "no '%s' in:\n%s", need2, r.err);
	run_release(&r);
}

/* `casebisect cases --json PATH [o1 [o2]]`: exit 0, nothing changed; the
 * parsed object, which the caller deletes. */
static cJSON *accepted(const char *path, const char *o1, const char *o2)
{
	struct run r;
	cJSON *o;

	cases_run(&r, path, "--json", o1, o2);
	cr_assert_eq(r.code, 0, "exit %d\nstderr:\n%s", r.code, r.err);
	cr_assert_eq(count_lines(r.out), 1, "not one line:\n%s", r.out);
	o = cJSON_Parse(r.out);
	cr_assert(o, "not JSON:\n%s", r.out);
	run_release(&r);
	return o;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));

	cr_assert(s, "no string \"%s\"", k);
	return s;
}

static const cJSON *jcase(const cJSON *o, int i)
{
	const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "cases"), i);

	cr_assert(c, "no case %d", i);
	return c;
}

static const char *jfile(const cJSON *o, int i, int f)
{
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(jcase(o, i), "files");
	const char *s = cJSON_GetStringValue(cJSON_GetArrayItem(files, f));

	cr_assert(s, "case %d has no file %d", i, f);
	return s;
}

/* Is some warning holding needle? */
static bool has_warning(const cJSON *o, const char *needle)
{
	const cJSON *w;

	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(o, "warnings"))
		if (cJSON_IsString(w) && strstr(w->valuestring, needle))
			return true;
	return false;
}

static void load_ok(struct dataset *ds, const char *path, const struct ds_options *o)
{
	char err[1024];

	cr_assert_eq(ds_load(ds, path, o, err, sizeof(err)), 0, "ds_load %s: %s", path, err);
}

/* ---- what a good dataset gives ---- */

Test(dataset, nnunet_raw_from_mkcases)
{
	char *dir = raw("Dataset501_Liver", 5, NULL);
	struct dataset ds;
	size_t i;
	cJSON *o;

	load_ok(&ds, dir, NULL);
	cr_assert_eq(ds.format, DS_NNUNET_RAW);
	cr_assert_str_eq(ds.root, dir);
	cr_assert_eq(ds.ncases, 5);
	cr_assert_eq(ds.nchannels, 1);
	cr_assert_str_eq(ds.file_ending, ".nii.gz");
	cr_assert(ds.dataset_json && strstr(ds.dataset_json, "Dataset501_Liver/dataset.json"));
	cr_assert_str_eq(ds.labels_json, "{\"background\":0,\"c1\":1,\"c2\":2}");
	cr_assert_eq(strlen(ds.digest), 16);
	cr_assert_eq(strspn(ds.digest, "0123456789abcdef"), 16);
	cr_assert_eq(ds.nwarnings, 0, "%s", ds.warnings[0]);
	for (i = 0; i < ds.ncases; i++) {
		char *id = cb_fmt("case_%03zu", i), *img = cb_fmt("%s/imagesTr/case_%03zu_0000.nii.gz", dir, i);
		char *lab = cb_fmt("%s/labelsTr/case_%03zu.nii.gz", dir, i);

		cr_assert_str_eq(ds.cases[i].id, id);
		cr_assert_eq(ds.cases[i].nfiles, 2);
		cr_assert_str_eq(ds.cases[i].files[0], img);
		cr_assert_str_eq(ds.cases[i].files[1], lab);
		cr_assert_eq(ds.cases[i].label, 1);
		free(id);
		free(img);
		free(lab);
	}
	ds_release(&ds);

	o = accepted(dir, NULL, NULL);
	cr_assert_str_eq(jstr(o, "format"), "nnunet-raw");
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "count")), 5);
	cJSON_Delete(o);
	free(dir);
}

Test(dataset, nnunet_raw_multichannel)
{
	char *dir = raw("ds", 3, NULL);
	struct dataset ds;
	int i;

	put("ds/dataset.json",
	    "{\"channel_names\": {\"0\": \"T1\", \"1\": \"T2\"}, \"labels\": {\"background\": 0, "
	    "\"c1\": 1, \"c2\": 2}, \"numTraining\": 3, \"file_ending\": \".nii.gz\"}");
	for (i = 0; i < 3; i++) {
		char *a = cb_fmt("ds/imagesTr/case_%03d_0000.nii.gz", i);
		char *b = cb_fmt("ds/imagesTr/case_%03d_0001.nii.gz", i);

		copy_at(a, b);
		free(a);
		free(b);
	}
	load_ok(&ds, dir, NULL);
	cr_assert_eq(ds.ncases, 3);
	cr_assert_eq(ds.nchannels, 2);
	cr_assert_eq(ds.cases[2].nfiles, 3);
	cr_assert(ends_with_str(ds.cases[2].files[0], "imagesTr/case_002_0000.nii.gz"));
	cr_assert(ends_with_str(ds.cases[2].files[1], "imagesTr/case_002_0001.nii.gz"));
	cr_assert(ends_with_str(ds.cases[2].files[2], "labelsTr/case_002.nii.gz"));
	cr_assert_eq(ds.cases[2].label, 2);
	ds_release(&ds);

	/* One channel gone: the message names the file that is missing. */
	rm_at("ds/imagesTr/case_001_0001.nii.gz");
	refused(dir, NULL, NULL, "imagesTr/case_001_0001.nii.gz: missing", "declares 2 channels");
	free(dir);
}

Test(dataset, nnunet_raw_dataset_key_with_relative_absolute_and_env_paths)
{
	char *dir = raw("ds", 3, NULL);
	char *json, *abs_img = at("ds/imagesTr/case_002_0000.nii.gz");
	struct dataset ds;
	cJSON *o;

	/* The "dataset" key wins over imagesTr/; its order is kept. */
	setenv("CB_TEST_DS", dir, 1);
	json = cb_fmt("{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, \"c1\": 1, "
		   "\"c2\": 2}, \"numTraining\": 3, \"file_ending\": \".nii.gz\", \"dataset\": {\n"
		   " \"zeta\": {\"images\": [\"imagesTr/case_000_0000.nii.gz\"], \"label\": "
		   "\"./labelsTr/case_000.nii.gz\"},\n"
		   " \"alpha\": {\"images\": [\"%s\"], \"label\": \"${CB_TEST_DS}/labelsTr/case_002.nii.gz\"},\n"
		   " \"mid\": {\"images\": [\"$CB_TEST_DS/imagesTr/case_001_0000.nii.gz\"], \"label\": "
		   "\"labelsTr/case_001.nii.gz\"}}}",
		   abs_img);
	put("ds/dataset.json", json);
	load_ok(&ds, dir, NULL);
	cr_assert_eq(ds.format, DS_NNUNET_RAW);
	cr_assert_eq(ds.ncases, 3);
	cr_assert_str_eq(ds.cases[0].id, "zeta");
	cr_assert_str_eq(ds.cases[1].id, "alpha");
	cr_assert_str_eq(ds.cases[2].id, "mid");
	{
		char *want = cb_fmt("%s/labelsTr/case_000.nii.gz", dir);

		cr_assert_str_eq(ds.cases[0].files[1], want, "relative paths start at the dataset");
		free(want);
	}
	cr_assert_str_eq(ds.cases[1].files[0], abs_img);
	cr_assert(ends_with_str(ds.cases[2].files[0], "/ds/imagesTr/case_001_0000.nii.gz"));
	cr_assert_eq(ds.cases[2].label, 1);
	ds_release(&ds);

	o = accepted(dir, NULL, NULL);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(jcase(o, 1), "case")), "alpha");
	cJSON_Delete(o);
	free(json);
	free(abs_img);
	free(dir);
}

Test(dataset, msd_datalist_relative_and_absolute_paths)
{
	char *dir = raw("Task03_Liver", 3, NULL), *json, *abs_lab;
	struct dataset ds;
	cJSON *o;

	abs_lab = at("Task03_Liver/labelsTr/case_002.nii.gz");
	json = cb_fmt("{\"name\": \"Liver\", \"modality\": {\"0\": \"CT\"},\n"
		   " \"labels\": {\"0\": \"background\", \"1\": \"liver\", \"2\": \"cancer\"},\n"
		   " \"numTraining\": 3,\n"
		   " \"training\": [\n"
		   "  {\"image\": \"./Task03_Liver/imagesTr/case_000_0000.nii.gz\", \"label\": "
		   "\"./Task03_Liver/labelsTr/case_000.nii.gz\"},\n"
		   "  {\"image\": [\"Task03_Liver/imagesTr/case_001_0000.nii.gz\"], \"label\": "
		   "\"Task03_Liver/labelsTr/case_001.nii.gz\"},\n"
		   "  {\"image\": \"Task03_Liver/imagesTr/case_002_0000.nii.gz\", \"label\": \"%s\"}]}",
		   abs_lab);
	put("datalist.json", json);
	{
		char *p = at("datalist.json");

		load_ok(&ds, p, NULL);
		cr_assert_eq(ds.format, DS_MSD);
		cr_assert_str_eq(ds.root, p);
		free(p);
	}
	cr_assert_eq(ds.ncases, 3);
	cr_assert_str_eq(ds.cases[0].id, "case_000", "the ID is the label's name without .nii.gz");
	cr_assert_str_eq(ds.cases[2].id, "case_002");
	{
		char *want = cb_fmt("%s/imagesTr/case_000_0000.nii.gz", dir);

		cr_assert_str_eq(ds.cases[0].files[0], want, "\"./\" is resolved, not kept");
		free(want);
	}
	cr_assert_str_eq(ds.cases[2].files[1], abs_lab);
	cr_assert_eq(ds.cases[1].label, 1);
	cr_assert_eq(ds.nchannels, 1);
	cr_assert_str_eq(ds.labels_json, "{\"0\":\"background\",\"1\":\"liver\",\"2\":\"cancer\"}");
	ds_release(&ds);

	o = accepted("datalist.json", NULL, NULL);
	cr_assert_str_eq(jstr(o, "format"), "msd");
	cr_assert_str_eq(jfile(o, 2, 1), abs_lab);
	cJSON_Delete(o);
	free(json);
	free(abs_lab);
	free(dir);
}

Test(dataset, list_file_ids_files_comments_and_blank_lines)
{
	char *dir = raw("ds", 2, NULL);
	struct dataset ds;
	char *p = at("cases.tsv");
	cJSON *o;

	put("cases.tsv", "# my cases\n"
			 "\n"
			 "case_000\tds/imagesTr/case_000_0000.nii.gz\tds/labelsTr/case_000.nii.gz\n"
			 "case_001\tds/imagesTr/case_001_0000.nii.gz\tds/labelsTr/case_001.nii.gz\r\n"
			 "only_an_id\n");
	load_ok(&ds, p, NULL);
	cr_assert_eq(ds.format, DS_LIST);
	cr_assert_eq(ds.ncases, 3);
	cr_assert_str_eq(ds.cases[0].id, "case_000");
	cr_assert_str_eq(ds.cases[1].id, "case_001", "a CRLF line ending is not part of the ID");
	cr_assert_eq(ds.cases[1].nfiles, 2);
	cr_assert_eq(ds.cases[1].label, 1, "images first, then the label");
	cr_assert(ends_with_str(ds.cases[1].files[1], "/ds/labelsTr/case_001.nii.gz"));
	cr_assert_eq(ds.cases[1].files[1][0], '/', "absolute");
	cr_assert_str_eq(ds.cases[2].id, "only_an_id");
	cr_assert_eq(ds.cases[2].nfiles, 0);
	cr_assert_eq(ds.cases[2].label, -1);
	cr_assert_null(ds.labels_json);
	ds_release(&ds);

	/* mkcases's cases.txt: IDs only. */
	o = accepted("ds/cases.txt", NULL, NULL);
	cr_assert_str_eq(jstr(o, "format"), "list");
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "labels")));
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "count")), 2);
	cJSON_Delete(o);
	free(p);
	free(dir);
}

Test(dataset, list_folder_one_file_per_case)
{
	char *p = at("cases");
	struct dataset ds;

	mkdir_at("cases");
	mkdir_at("cases/subfolder");
	put("cases/b.nii.gz", "b");
	put("cases/a.nii.gz", "a");
	put("cases/c.seg.png", "c");
	put("cases/.DS_Store", "hidden");
	load_ok(&ds, p, NULL);
	cr_assert_eq(ds.format, DS_LIST);
	cr_assert_eq(ds.ncases, 3);
	cr_assert_str_eq(ds.cases[0].id, "a", ".nii.gz is one extension");
	cr_assert_str_eq(ds.cases[1].id, "b");
	cr_assert_str_eq(ds.cases[2].id, "c.seg");
	cr_assert_eq(ds.cases[0].nfiles, 1);
	cr_assert(ends_with_str(ds.cases[0].files[0], "/cases/a.nii.gz"));
	cr_assert_eq(ds.nwarnings, 1, "the subfolder is mentioned");
	cr_assert(strstr(ds.warnings[0], "subfolder"), "%s", ds.warnings[0]);
	ds_release(&ds);

	/* Two files that make the same ID. */
	put("cases/a.png", "a again");
	refused("cases", NULL, NULL, "are both case \"a\"", "rename one");
	free(p);
}

Test(dataset, nnunet_preprocessed_b2nd)
{
	char *dir = pre(3, false);
	struct dataset ds;
	cJSON *o;

	load_ok(&ds, dir, NULL);
	cr_assert_eq(ds.format, DS_NNUNET_PRE);
	cr_assert_str_eq(ds.dataset_name, "Dataset501_Liver");
	cr_assert_str_eq(ds.configuration, "3d_fullres");
	cr_assert(ends_with_str(ds.plans_file, "/Dataset501_Liver/nnUNetPlans.json"));
	cr_assert(ends_with_str(ds.fingerprint_file, "/Dataset501_Liver/dataset_fingerprint.json"));
	cr_assert(ends_with_str(ds.data_dir, "/Dataset501_Liver/nnUNetPlans_3d_fullres"));
	cr_assert(ends_with_str(ds.dataset_json, "/Dataset501_Liver/dataset.json"));
	cr_assert_str_eq(ds.labels_json, "{\"background\":0,\"liver\":1,\"tumor\":2}");
	cr_assert_eq(ds.ncases, 3);
	cr_assert_str_eq(ds.cases[1].id, "liver_1");
	cr_assert_eq(ds.cases[1].nfiles, 3);
	cr_assert(ends_with_str(ds.cases[1].files[0], "nnUNetPlans_3d_fullres/liver_1.b2nd"));
	cr_assert(ends_with_str(ds.cases[1].files[1], "nnUNetPlans_3d_fullres/liver_1_seg.b2nd"));
	cr_assert(ends_with_str(ds.cases[1].files[2], "nnUNetPlans_3d_fullres/liver_1.pkl"));
	cr_assert_eq(ds.cases[1].label, 1);
	ds_release(&ds);

	/* A configuration that inherits its data_identifier. */
	mkdir_at("Dataset501_Liver/nnUNetPlans_2d");
	put("Dataset501_Liver/nnUNetPlans_2d/x.b2nd", "");
	put("Dataset501_Liver/nnUNetPlans_2d/x_seg.b2nd", "");
	put("Dataset501_Liver/nnUNetPlans_2d/x.pkl", "");
	{
		struct ds_options opt = { .configuration = "3d_cascade_fullres" };

		load_ok(&ds, dir, &opt);
		cr_assert(ends_with_str(ds.data_dir, "/nnUNetPlans_3d_fullres"));
		cr_assert_str_eq(ds.configuration, "3d_cascade_fullres");
		ds_release(&ds);
	}
	o = accepted(dir, "--configuration", "2d");
	cr_assert_str_eq(jstr(o, "format"), "nnunet-pre");
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "count")), 1);
	cr_assert(ends_with_str(jfile(o, 0, 0), "/nnUNetPlans_2d/x.b2nd"));
	cJSON_Delete(o);
	free(dir);
}

Test(dataset, nnunet_preprocessed_resenc_plans_inherits_from)
{
	char *dir = pre(2, false);
	struct ds_options opt = { 0 };
	struct dataset ds;

	/* ResEnc plans alone: used without --plans; its 3d_fullres inherits
	 * the data folder of another configuration. */
	rm_at("Dataset501_Liver/nnUNetPlans.json");
	put("Dataset501_Liver/nnUNetResEncUNetMPlans.json",
	    "{\"dataset_name\": \"Dataset501_Liver\", \"plans_name\": \"nnUNetResEncUNetMPlans\",\n"
	    " \"configurations\": {\n"
	    "  \"3d_base\": {\"data_identifier\": \"nnUNetPlans_3d_fullres\", \"batch_size\": 2},\n"
	    "  \"3d_fullres\": {\"inherits_from\": \"3d_base\", \"batch_size\": 3}}}\n");
	load_ok(&ds, dir, NULL);
	cr_assert(ends_with_str(ds.plans_file, "/nnUNetResEncUNetMPlans.json"));
	cr_assert(ends_with_str(ds.data_dir, "/nnUNetPlans_3d_fullres"));
	cr_assert_eq(ds.ncases, 2);
	ds_release(&ds);

	/* Both: nnUNetPlans is the default (with a warning), --plans picks. */
	put("Dataset501_Liver/nnUNetPlans.json", nnunet_plans_json);
	load_ok(&ds, dir, NULL);
	cr_assert(ends_with_str(ds.plans_file, "/nnUNetPlans.json"));
	cr_assert_eq(ds.nwarnings, 1);
	cr_assert(strstr(ds.warnings[0], "nnUNetResEncUNetMPlans"), "%s", ds.warnings[0]);
	ds_release(&ds);
	opt.plans = "nnUNetResEncUNetMPlans";
	load_ok(&ds, dir, &opt);
	cr_assert(ends_with_str(ds.plans_file, "/nnUNetResEncUNetMPlans.json"));
	cr_assert_eq(ds.nwarnings, 0);
	ds_release(&ds);
	free(dir);
}

Test(dataset, nnunet_preprocessed_npz)
{
	char *dir = pre(3, true);
	struct dataset ds;

	load_ok(&ds, dir, NULL);
	cr_assert_eq(ds.ncases, 3);
	/* liver_0: .npz, .npy, _seg.npy, .pkl; the label is _seg.npy */
	cr_assert_eq(ds.cases[0].nfiles, 4);
	cr_assert(ends_with_str(ds.cases[0].files[0], "/liver_0.npz"));
	cr_assert(ends_with_str(ds.cases[0].files[1], "/liver_0.npy"));
	cr_assert(ends_with_str(ds.cases[0].files[2], "/liver_0_seg.npy"));
	cr_assert(ends_with_str(ds.cases[0].files[3], "/liver_0.pkl"));
	cr_assert_eq(ds.cases[0].label, 2);
	/* liver_1: not unpacked; the label is in the .npz */
	cr_assert_eq(ds.cases[1].nfiles, 2);
	cr_assert(ends_with_str(ds.cases[1].files[1], "/liver_1.pkl"));
	cr_assert_eq(ds.cases[1].label, 0);
	ds_release(&ds);

	rm_at("Dataset501_Liver/nnUNetPlans_3d_fullres/liver_2.pkl");
	refused(dir, NULL, NULL, "nnUNetPlans_3d_fullres/liver_2.pkl: missing", "case \"liver_2\"");
	free(dir);
}

/* ---- the digest ---- */

Test(dataset, digest_is_stable_order_free_and_sees_a_changed_file)
{
	char *dir = raw("ds", 3, NULL), *label = at("ds/labelsTr/case_001.nii.gz");
	char *list1 = at("a.txt"), *list2 = at("b.txt");
	struct timespec t[2] = { { 0, UTIME_OMIT }, { 1000000000, 0 } };
	struct dataset a, b;

	load_ok(&a, dir, NULL);
	load_ok(&b, dir, NULL);
	cr_assert_str_eq(a.digest, b.digest);
	ds_release(&b);
	cr_assert(utimensat(AT_FDCWD, label, t, 0) == 0);
	load_ok(&b, dir, NULL);
	cr_assert_str_neq(a.digest, b.digest, "a label's new mtime must change the digest");
	ds_release(&a);
	ds_release(&b);

	put("a.txt", "x\ny\nz\n");
	put("b.txt", "z\nx\ny\n");
	load_ok(&a, list1, NULL);
	load_ok(&b, list2, NULL);
	cr_assert_str_eq(a.digest, b.digest, "the digest hashes the sorted IDs");
	ds_release(&a);
	ds_release(&b);
	put("b.txt", "z\nx\nw\n");
	load_ok(&a, list1, NULL);
	load_ok(&b, list2, NULL);
	cr_assert_str_neq(a.digest, b.digest);
	ds_release(&a);
	ds_release(&b);
	free(list1);
	free(list2);
	free(label);
	free(dir);
}

/* What changes the meaning of a trial without touching a case file (a label
 * added to dataset.json, a plans edit, a datalist edit) changes the digest,
 * and the dataset names the file; rewriting the same bytes does not. */
Test(dataset, digest_covers_dataset_json_plans_and_datalist)
{
	char *dir = raw("ds", 2, NULL), *dj = at("ds/dataset.json"), *text;
	char *pdir, *dl = at("datalist.json");
	struct dataset a, b;

	load_ok(&a, dir, NULL);
	cr_assert_eq(a.ncontents, 1);
	cr_assert_str_eq(a.contents[0].name, "dataset.json");
	text = cb_read_file(dj, NULL);
	cr_assert(text);
	put("ds/dataset.json", text);
	load_ok(&b, dir, NULL);
	cr_assert_str_eq(a.digest, b.digest, "the same bytes rewritten keep the digest");
	ds_release(&b);
	put("ds/dataset.json", "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, "
			       "\"c1\": 1, \"c2\": 2, \"c3\": 3}, \"numTraining\": 2, "
			       "\"file_ending\": \".nii.gz\"}");
	load_ok(&b, dir, NULL);
	cr_assert_str_neq(a.digest, b.digest, "a label added to dataset.json must change the digest");
	cr_assert_str_neq(a.contents[0].digest, b.contents[0].digest);
	ds_release(&a);
	ds_release(&b);
	free(text);

	pdir = pre(2, false);
	load_ok(&a, pdir, NULL);
	cr_assert_eq(a.ncontents, 2);
	cr_assert_str_eq(a.contents[0].name, "nnUNetPlans.json");
	cr_assert_str_eq(a.contents[1].name, "dataset.json");
	put("Dataset501_Liver/dataset_fingerprint.json", "{\"spacings\": [[1, 1, 1]]}\n");
	load_ok(&b, pdir, NULL);
	cr_assert_str_eq(a.digest, b.digest, "nnUNetv2_train does not train from the fingerprint");
	ds_release(&b);
	text = cb_fmt("%.*s, \"note\": \"edited\"}\n",
		      (int)(strrchr(nnunet_plans_json, '}') - nnunet_plans_json), nnunet_plans_json);
	put("Dataset501_Liver/nnUNetPlans.json", text);
	load_ok(&b, pdir, NULL);
	cr_assert_str_neq(a.digest, b.digest, "a plans edit must change the digest");
	ds_release(&a);
	ds_release(&b);
	free(text);

	put("datalist.json", "{\"training\": [{\"image\": \"ds/imagesTr/case_000_0000.nii.gz\", "
			     "\"label\": \"ds/labelsTr/case_000.nii.gz\"}]}");
	load_ok(&a, dl, NULL);
	cr_assert_eq(a.ncontents, 1);
	cr_assert_str_eq(a.contents[0].name, "datalist.json");
	put("datalist.json", "{\"labels\": {\"0\": \"background\", \"1\": \"liver\"}, "
			     "\"training\": [{\"image\": \"ds/imagesTr/case_000_0000.nii.gz\", "
			     "\"label\": \"ds/labelsTr/case_000.nii.gz\"}]}");
	load_ok(&b, dl, NULL);
	cr_assert_str_neq(a.digest, b.digest, "a datalist edit must change the digest");
	ds_release(&a);
	ds_release(&b);
	free(dl);
	free(pdir);
	free(dj);
	free(dir);
}

/* ---- `casebisect cases` ---- */

Test(dataset, cases_json_shape)
{
	char *dir = raw("ds", 2, NULL);
	const char *keys[] = { "format", "root", "count", "labels", "digest", "cases", "warnings" };
	const cJSON *it, *c;
	cJSON *o;
	size_t i = 0;

	o = accepted("ds", NULL, NULL);
	cr_assert(cJSON_IsObject(o));
	cJSON_ArrayForEach(it, o) {
		cr_assert(i < CB_ARRAY_SIZE(keys), "extra key %s", it->string);
		cr_assert_str_eq(it->string, keys[i]);
		i++;
	}
	cr_assert_eq(i, CB_ARRAY_SIZE(keys));
	cr_assert_str_eq(jstr(o, "root"), dir);
	cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(o, "count")));
	it = cJSON_GetObjectItem(o, "labels");
	cr_assert(cJSON_IsObject(it));
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(it, "background")), 0);
	cr_assert_eq(strlen(jstr(o, "digest")), 16);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "cases")), 2);
	c = jcase(o, 1);
	cr_assert_str_eq(jstr(c, "case"), "case_001");
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(c, "files")), 2);
	cr_assert(ends_with_str(jfile(o, 1, 0), "/ds/imagesTr/case_001_0000.nii.gz"));
	cr_assert(cJSON_IsArray(cJSON_GetObjectItem(o, "warnings")));
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "warnings")), 0);
	cJSON_Delete(o);
	free(dir);
}

Test(dataset, cases_text_shows_ten_and_all_with_all)
{
	char *dir = raw("ds", 12, NULL);
	struct run r;
	char *l;

	cases_run(&r, "ds", NULL, NULL, NULL);
	cr_assert_eq(r.code, 0, "%s", r.err);
	cr_assert_eq(r.err_len, 0, "%s", r.err);
	l = line_at(r.out, 0);
	cr_assert_str_eq(l, "format:  nnunet-raw");
	free(l);
	cr_assert(strstr(r.out, "\ncases:   12\n"), "%s", r.out);
	cr_assert(strstr(r.out, "\nlabels:  background=0 c1=1 c2=2\n"), "%s", r.out);
	cr_assert(strstr(r.out, "\ndigest:  "), "%s", r.out);
	cr_assert(strstr(r.out, "\ncase_009  imagesTr/case_009_0000.nii.gz  labelsTr/case_009.nii.gz\n"),
		  "%s", r.out);
	cr_assert_null(strstr(r.out, "case_010"), "%s", r.out);
	cr_assert(strstr(r.out, "\n... 2 more cases (--all lists them)\n"), "%s", r.out);
	run_release(&r);

	cases_run(&r, "ds", "--all", NULL, NULL);
	cr_assert_eq(r.code, 0);
	cr_assert(strstr(r.out, "\ncase_011  "), "%s", r.out);
	cr_assert_null(strstr(r.out, "more case"), "%s", r.out);
	run_release(&r);
	free(dir);
}

Test(dataset, cases_usage_errors)
{
	struct run r;

	run(&r, "cases");
	assert_usage_error(&r);
	run_release(&r);
	run(&r, "cases", "--format", "nnunet", "x");
	assert_usage_error(&r);
	cr_assert(strstr(r.err, "nnunet-pre"), "%s", r.err);
	run_release(&r);
	run(&r, "cases", "a", "b");
	assert_usage_error(&r);
	run_release(&r);
	run(&r, "cases", "--help");
	cr_assert_eq(r.code, 0);
	cr_assert(strstr(r.out, "example:\n  $ casebisect cases "), "%s", r.out);
	run_release(&r);
}

/* Every format's name, as run.json writes it, is one --format (and resume)
 * reads back as that format; "auto" is DS_AUTO. */
Test(dataset, format_names_round_trip)
{
	static const enum ds_format all[] = { DS_AUTO, DS_NNUNET_PRE, DS_NNUNET_RAW, DS_MSD,
					      DS_LIST };
	enum ds_format f;
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(all); i++) {
		const char *name = ds_format_name(all[i]);

		cr_assert_str_neq(name, "unknown");
		cr_assert_eq(ds_format_parse(name, &f), 0, "%s does not parse", name);
		cr_assert_eq(f, all[i], "%s parses as %d", name, (int)f);
	}
	cr_assert_str_eq(ds_format_name(DS_AUTO), "auto");
	cr_assert_str_eq(ds_format_name((enum ds_format)99), "unknown");
}

Test(dataset, format_names_and_id_safety)
{
	enum ds_format f;
	static const char *const bad[] = { "", ".", "..", "a/b", "../x", "-rf", "a\nb", "a\tb",
					   "a\x7f" };
	size_t i;

	cr_assert_eq(ds_format_parse("nnunet-pre", &f), 0);
	cr_assert_eq(f, DS_NNUNET_PRE);
	cr_assert_eq(ds_format_parse("list", &f), 0);
	cr_assert_eq(f, DS_LIST);
	cr_assert_eq(ds_format_parse("nnunet", &f), -1);
	cr_assert_str_eq(ds_format_name(DS_MSD), "msd");
	cr_assert_str_eq(ds_format_name(DS_NNUNET_RAW), "nnunet-raw");
	for (i = 0; i < CB_ARRAY_SIZE(bad); i++)
		cr_assert_not(ds_id_is_safe(bad[i]), "\"%s\" passed", bad[i]);
	cr_assert(ds_id_is_safe("case_001"));
	cr_assert(ds_id_is_safe("a..b"));
	cr_assert(ds_id_is_safe("BraTS-GLI-00000-000"));
	cr_assert(ds_id_is_safe("Ω-case"));
}

/* ---- bad input: each gives its message, exit 1, nothing created ---- */

Test(dataset, missing_dataset_json)
{
	char *dir = raw("ds", 2, NULL);

	rm_at("ds/dataset.json");
	refused("ds", NULL, NULL, "/ds/dataset.json: not found", "generate_dataset_json");
	free(dir);
}

Test(dataset, malformed_dataset_json_gives_line_and_column)
{
	char *dir = raw("ds", 2, NULL);

	put("ds/dataset.json", "{\n  \"channel_names\": {\"0\": \"CT\"},\n  \"labels\": {\"background\": 0,, }\n}\n");
	refused("ds", NULL, NULL, "/ds/dataset.json:3:", "not valid JSON");
	put("ds/dataset.json", "{\"labels\": {\"background\": 0}");
	refused("ds", NULL, NULL, "/ds/dataset.json:1:", "not valid JSON");
	put("ds/dataset.json", "[1, 2]");
	refused("ds", NULL, NULL, "/ds/dataset.json: the top level is not a JSON object", NULL);
	free(dir);
}

Test(dataset, dataset_json_missing_required_keys)
{
	char *dir = raw("ds", 2, NULL);

	put("ds/dataset.json", "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, "
			       "\"a\": 1}}");
	refused("ds", NULL, NULL, "missing required keys \"numTraining\", \"file_ending\"",
		"/ds/dataset.json");
	free(dir);
}

Test(dataset, labels_without_background)
{
	char *dir = raw("ds", 2, NULL);

	put("ds/dataset.json", "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"liver\": 1, "
			       "\"tumor\": 2}, \"numTraining\": 2, \"file_ending\": \".nii.gz\"}");
	refused("ds", NULL, NULL, "/ds/dataset.json: \"labels\" has no background (add \"background\": 0)",
		NULL);
	put("ds/dataset.json", "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 1, "
			       "\"tumor\": 2}, \"numTraining\": 2, \"file_ending\": \".nii.gz\"}");
	refused("ds", NULL, NULL, "\"background\" is 1", "must be 0");
	free(dir);
}

Test(dataset, ignore_label_not_the_highest)
{
	char *dir = raw("ds", 2, NULL);

	put("ds/dataset.json", "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, "
			       "\"ignore\": 1, \"liver\": 2}, \"numTraining\": 2, "
			       "\"file_ending\": \".nii.gz\"}");
	refused("ds", NULL, NULL, "the ignore label 1 is not the highest", "\"ignore\": 3");
	free(dir);
}

Test(dataset, labels_repeated_value_and_bad_type)
{
	char *dir = raw("ds", 2, NULL);

	put("ds/dataset.json", "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, "
			       "\"liver\": 1, \"tumor\": 1}, \"numTraining\": 2, "
			       "\"file_ending\": \".nii.gz\"}");
	refused("ds", NULL, NULL, "value 1 of \"tumor\" repeats label \"liver\"", NULL);
	put("ds/dataset.json", "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, "
			       "\"liver\": \"1\"}, \"numTraining\": 2, \"file_ending\": \".nii.gz\"}");
	refused("ds", NULL, NULL, "\"liver\" is \"1\"", "must be an integer");
	free(dir);
}

/* The first repeat in "labels" order is the one named, as a pairwise scan
 * would: a name before a value, the earliest label holding the value, lists
 * and "ignore" left out. */
Test(dataset, labels_repeats_name_the_first_pair)
{
	char *dir = raw("ds", 2, NULL);

	put("ds/dataset.json", "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, "
			       "\"a\": 1, \"b\": 2, \"c\": 2, \"d\": 1}, \"numTraining\": 2, "
			       "\"file_ending\": \".nii.gz\"}");
	refused("ds", NULL, NULL, "value 2 of \"c\" repeats label \"b\"", NULL);
	put("ds/dataset.json", "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, "
			       "\"a\": 1, \"a\": 1}, \"numTraining\": 2, \"file_ending\": \".nii.gz\"}");
	refused("ds", NULL, NULL, "\"labels\": \"a\" appears twice (JSON keeps only the last one",
		NULL);
	put("ds/dataset.json", "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, "
			       "\"a\": 1, \"r\": [1, 2], \"b\": 2, \"ignore\": 3, \"e\": 1}, "
			       "\"regions_class_order\": [1, 2], \"numTraining\": 2, "
			       "\"file_ending\": \".nii.gz\"}");
	refused("ds", NULL, NULL, "value 1 of \"e\" repeats label \"a\"", NULL);
	free(dir);
}

/* 20,000 labels load (in a blink: the repeat checks sort, see
 * bench/bench_dataset.c), and a repeat at the end is still found. */
Test(dataset, many_labels)
{
	static const char head[] = "{\"channel_names\": {\"0\": \"CT\"}, \"numTraining\": 2, "
				   "\"file_ending\": \".nii.gz\", \"labels\": {\"background\": 0";
	char *dir = raw("ds", 2, NULL), *text = NULL, item[64];
	size_t len = 0, n = 20000, i;
	struct dataset ds;

	append(&text, &len, head, sizeof(head) - 1);
	for (i = 1; i < n; i++) {
		int k = snprintf(item, sizeof(item), ", \"l%zu\": %zu", i, i);

		append(&text, &len, item, (size_t)k);
	}
	append(&text, &len, "}}", 2);
	put("ds/dataset.json", text);
	load_ok(&ds, dir, NULL);
	cr_assert_eq(ds.nwarnings, 0);
	ds_release(&ds);
	text[len - 2] = '\0';
	len -= 2;
	append(&text, &len, ", \"last\": 5}}", strlen(", \"last\": 5}}"));
	put("ds/dataset.json", text);
	refused("ds", NULL, NULL, "value 5 of \"last\" repeats label \"l5\"", NULL);
	free(text);
	free(dir);
}

Test(dataset, region_labels_need_regions_class_order)
{
	char *dir = raw("ds", 2, NULL);
	cJSON *o;

	put("ds/dataset.json", "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, "
			       "\"whole\": [1, 2], \"core\": 2}, \"numTraining\": 2, "
			       "\"file_ending\": \".nii.gz\"}");
	refused("ds", NULL, NULL, "regions_class_order", NULL);
	put("ds/dataset.json", "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, "
			       "\"whole\": [1, 2], \"core\": 2}, \"regions_class_order\": [1, 2], "
			       "\"numTraining\": 2, \"file_ending\": \".nii.gz\"}");
	o = accepted("ds", NULL, NULL);
	cr_assert(cJSON_IsArray(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "labels"), "whole")));
	cJSON_Delete(o);
	free(dir);
}

Test(dataset, image_without_label)
{
	char *dir = raw("ds", 3, NULL);

	rm_at("ds/labelsTr/case_002.nii.gz");
	refused("ds", NULL, NULL, "labelsTr/case_002.nii.gz: missing",
		"case \"case_002\" has images (imagesTr/case_002_0000.nii.gz) but no label");
	free(dir);
}

Test(dataset, label_without_image_is_a_warning)
{
	char *dir = raw("ds", 3, NULL);
	struct run r;
	cJSON *o;

	rm_at("ds/imagesTr/case_002_0000.nii.gz");
	o = accepted("ds", NULL, NULL);
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "count")), 2);
	cr_assert(has_warning(o, "labelsTr/case_002.nii.gz: no image for this label (expected "
				 "imagesTr/case_002_0000.nii.gz)"));
	cr_assert(has_warning(o, "\"numTraining\" is 3 but 2 cases were found"));
	cJSON_Delete(o);
	cases_run(&r, "ds", NULL, NULL, NULL);
	cr_assert_eq(r.code, 0);
	cr_assert(strstr(r.err, "casebisect: warning: labelsTr/case_002.nii.gz: no image"), "%s",
		  r.err);
	cr_assert_null(strstr(r.out, "warning"), "warnings go to stderr");
	run_release(&r);
	free(dir);
}

Test(dataset, extra_channel_and_misnamed_image)
{
	char *dir = raw("ds", 2, NULL);

	copy_at("ds/imagesTr/case_001_0000.nii.gz", "ds/imagesTr/case_001_0001.nii.gz");
	refused("ds", NULL, NULL, "imagesTr/case_001_0001.nii.gz: channel 1",
		"declares 1 channel");
	rm_at("ds/imagesTr/case_001_0001.nii.gz");
	copy_at("ds/imagesTr/case_001_0000.nii.gz", "ds/imagesTr/case_009.nii.gz");
	refused("ds", NULL, NULL, "imagesTr/case_009.nii.gz: not named {case}_{XXXX}.nii.gz",
		"case_009_0000.nii.gz");
	free(dir);
}

Test(dataset, duplicate_case_ids)
{
	char *dir = raw("ds", 2, NULL);

	put("list.txt", "a\nb\n# c\na\n");
	refused("list.txt", NULL, NULL, "list.txt: lines 1 and 4 both hold case \"a\"", NULL);

	mkdir_at("other");
	copy_at("ds/labelsTr/case_000.nii.gz", "other/case_000.nii.gz");
	put("datalist.json",
	    "{\"training\": [{\"image\": \"ds/imagesTr/case_000_0000.nii.gz\", \"label\": "
	    "\"ds/labelsTr/case_000.nii.gz\"}, {\"image\": \"ds/imagesTr/case_001_0000.nii.gz\", "
	    "\"label\": \"other/case_000.nii.gz\"}]}");
	refused("datalist.json", NULL, NULL, "training[0] and training[1] are both case \"case_000\"",
		"give each label its own name");

	put("ds/dataset.json",
	    "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, \"a\": 1}, "
	    "\"numTraining\": 2, \"file_ending\": \".nii.gz\", \"dataset\": {"
	    "\"x\": {\"images\": [\"imagesTr/case_000_0000.nii.gz\"], \"label\": \"labelsTr/case_000.nii.gz\"}, "
	    "\"x\": {\"images\": [\"imagesTr/case_001_0000.nii.gz\"], \"label\": \"labelsTr/case_001.nii.gz\"}}}");
	refused("ds", NULL, NULL, "\"dataset\" lists case \"x\" twice", NULL);
	free(dir);
}

Test(dataset, zero_cases)
{
	char *dir = raw("ds", 2, NULL);

	put("list.txt", "# nothing yet\n\n");
	refused("list.txt", NULL, NULL, "list.txt: no cases", NULL);
	put("datalist.json", "{\"training\": []}");
	refused("datalist.json", NULL, NULL, "\"training\" is empty", NULL);
	rm_at("ds/imagesTr/case_000_0000.nii.gz");
	rm_at("ds/imagesTr/case_001_0000.nii.gz");
	refused("ds", NULL, NULL, "/ds/imagesTr: no images named {case}_{XXXX}.nii.gz", NULL);
	mkdir_at("empty");
	refused("empty", NULL, NULL, "/empty: no cases", NULL);
	free(dir);
}

Test(dataset, unsafe_case_ids_from_the_dataset_key)
{
	char *dir = raw("ds", 1, NULL);
	static const char *const ids[] = { "../evil", "-rf", "a\\nb", "a/b", "..", "" };
	static const char *const shown[] = { "\"../evil\"", "\"-rf\"", "\"a\\x0ab\"", "\"a/b\"",
					     "\"..\"", "\"\"" };
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(ids); i++) {
		char *json = cb_fmt("{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, "
				 "\"a\": 1}, \"numTraining\": 1, \"file_ending\": \".nii.gz\", "
				 "\"dataset\": {\"%s\": {\"images\": [\"imagesTr/case_000_0000.nii.gz\"], "
				 "\"label\": \"labelsTr/case_000.nii.gz\"}}}",
				 ids[i]);
		char *need = cb_fmt("case ID %s", shown[i]);

		put("ds/dataset.json", json);
		refused("ds", NULL, NULL, need, "rename the case");
		free(json);
		free(need);
	}
	/* A NUL cannot reach a C string; the JSON's \u0000 is refused where it is. */
	put("ds/dataset.json", "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, "
			       "\"a\": 1}, \"numTraining\": 1, \"file_ending\": \".nii.gz\",\n"
			       "\"dataset\": {\"ok\\u0000../x\": {\"images\": [\"imagesTr/case_000_0000.nii.gz\"], "
			       "\"label\": \"labelsTr/case_000.nii.gz\"}}}");
	refused("ds", NULL, NULL, "/ds/dataset.json:2:", "\\u0000");
	free(dir);
}

Test(dataset, unsafe_case_ids_from_lists_and_file_names)
{
	char *dir = raw("ds", 1, NULL);

	/* files.txt of mkcases has no IDs: its first field is a path */
	refused("ds/files.txt", NULL, NULL, "files.txt:1: case ID \"/", "then a tab and the case's files");
	put("list.txt", "ok\n-x\n");
	refused("list.txt", NULL, NULL, "list.txt:2: case ID \"-x\" starts with '-'", NULL);
	put("list.txt", "ok\nbad\x01id\n");
	refused("list.txt", NULL, NULL, "case ID \"bad\\x01id\"", "control character");
	copy_at("ds/labelsTr/case_000.nii.gz", "-label.nii.gz");
	put("datalist.json", "{\"training\": [{\"image\": \"ds/imagesTr/case_000_0000.nii.gz\", "
			     "\"label\": \"-label.nii.gz\"}]}");
	refused("datalist.json", NULL, NULL, "training[0]: case ID \"-label\"", "rename the label file");
	copy_at("ds/imagesTr/case_000_0000.nii.gz", "ds/imagesTr/-case_0000.nii.gz");
	copy_at("ds/labelsTr/case_000.nii.gz", "ds/labelsTr/-case.nii.gz");
	refused("ds", NULL, NULL, "imagesTr/-case_0000.nii.gz: case ID \"-case\" starts with '-'", NULL);
	free(dir);
}

/* `casebisect cases`, as refused(), and no raw byte that is not UTF-8 on
 * stderr (a terminal would show '?'). */
static void refused_utf8(const char *path, const char *need1, const char *need2)
{
	struct run r;
	const char *p;

	refused(path, NULL, NULL, need1, need2);
	cases_run(&r, path, NULL, NULL, NULL);
	for (p = r.err; *p; p++)
		cr_assert((unsigned char)*p < 0x80, "a raw byte 0x%02x in:\n%s", (unsigned char)*p,
			  r.err);
	run_release(&r);
}

/* A name that is not UTF-8 would break a run midway (its journal and
 * reports are UTF-8 JSON): every command that loads the dataset refuses it
 * first, showing the bytes as \xNN, and makes nothing. */
Test(dataset, file_names_not_utf8_are_refused_naming_the_file)
{
	char *dir = raw("ds", 1, NULL), *toy = src_file("harness/toytrain");
	char *wd = at("wd"), *names = at("names");
	struct run r;

	mkdir_at("names");
	copy_at("ds/labelsTr/case_000.nii.gz", "names/ok.nii.gz");
	copy_at("ds/labelsTr/case_000.nii.gz", "names/bad\xff.nii.gz");
	refused_utf8("names", "names/bad\\xff.nii.gz: case ID \"bad\\xff\" is not valid UTF-8",
		     "rename the file");
	run(&r, "run", "--workdir", wd, "--gpus", "none", names, "--", toy, "--cases-file",
	    "{cases_file}");
	cr_assert_eq(r.code, 1, "exit %d\n%s", r.code, r.err);
	cr_assert(strstr(r.err, "bad\\xff.nii.gz") && strstr(r.err, "rename the file"), "%s", r.err);
	cr_assert(access(wd, F_OK) != 0, "a work directory was created");
	run_release(&r);
	run(&r, "audit", names);
	cr_assert_neq(r.code, 0);
	cr_assert(strstr(r.err, "bad\\xff.nii.gz"), "%s", r.err);
	run_release(&r);

	copy_at("ds/imagesTr/case_000_0000.nii.gz", "ds/imagesTr/ca\xe9se_0000.nii.gz");
	copy_at("ds/labelsTr/case_000.nii.gz", "ds/labelsTr/ca\xe9se.nii.gz");
	refused_utf8("ds", "imagesTr/ca\\xe9se_0000.nii.gz: case ID \"ca\\xe9se\" is not valid UTF-8",
		     "rename");

	/* a good ID whose image is not: the file is named */
	copy_at("ds/imagesTr/case_000_0000.nii.gz", "im\xfe.nii.gz");
	put("datalist.json", "{\"training\": [{\"image\": \"im\xfe.nii.gz\", "
			     "\"label\": \"ds/labelsTr/case_000.nii.gz\"}]}");
	refused_utf8("datalist.json", "/im\\xfe.nii.gz: not valid UTF-8",
		     "rename the file or folder that holds them");

	/* the dataset's own folder */
	mkdir_at("d\xc3");
	put("d\xc3/list.txt", "case_000\n");
	refused_utf8("d\xc3/list.txt", "/d\\xc3/list.txt: not valid UTF-8", "rename");
	free(names);
	free(wd);
	free(toy);
	free(dir);
}

Test(dataset, files_that_do_not_exist)
{
	char *dir = raw("ds", 2, NULL);

	put("datalist.json", "{\"training\": [{\"image\": \"ds/imagesTr/case_000_0000.nii.gz\", "
			     "\"label\": \"ds/labelsTr/nope.nii.gz\"}]}");
	refused("datalist.json", NULL, NULL, "training[0].label \"ds/labelsTr/nope.nii.gz\": not found",
		"/ds/labelsTr/nope.nii.gz");
	put("datalist.json", "{\"training\": [{\"image\": \"ds/imagesTr/case_000_0000.nii.gz\"}]}");
	refused("datalist.json", NULL, NULL, "training[0] has no \"label\"", NULL);
	put("list.txt", "case_000\tds/imagesTr/gone.nii.gz\n");
	refused("list.txt", NULL, NULL, "list.txt:1: \"ds/imagesTr/gone.nii.gz\": not found", NULL);
	put("ds/dataset.json", "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0}, "
			       "\"numTraining\": 1, \"file_ending\": \".nii.gz\", \"dataset\": {"
			       "\"x\": {\"images\": [\"imagesTr/x_0000.nii.gz\"], \"label\": \"labelsTr/x.nii.gz\"}}}");
	refused("ds", NULL, NULL, "imagesTr/x_0000.nii.gz: not found", "case \"x\"");
	refused("nowhere", NULL, NULL, "nowhere: not found", NULL);
	free(dir);
}

Test(dataset, symlink_loops_and_broken_links)
{
	char *dir = raw("ds", 2, NULL);
	char *lab = at("ds/labelsTr/case_001.nii.gz"), *loop = at("loop");

	rm_at("ds/labelsTr/case_001.nii.gz");
	cr_assert(symlink(lab, lab) == 0);
	refused("ds", NULL, NULL, "labelsTr/case_001.nii.gz: symlink loop", NULL);
	cr_assert(unlink(lab) == 0);
	cr_assert(symlink("/nonexistent/case_001.nii.gz", lab) == 0);
	refused("ds", NULL, NULL, "labelsTr/case_001.nii.gz: broken symlink to '/nonexistent/case_001.nii.gz'",
		NULL);
	cr_assert(symlink(loop, loop) == 0);
	refused("loop", NULL, NULL, "loop: symlink loop", NULL);
	free(lab);
	free(loop);
	free(dir);
}

Test(dataset, unreadable_folder)
{
	char *dir = raw("ds", 2, NULL), *images = at("ds/imagesTr");
	char err[1024] = "";
	int fds[2], status;
	pid_t pid;
	ssize_t n;

	/* root reads everything: the check runs as nobody, in a child. */
	cr_assert(chmod(tmpdir, 0755) == 0);
	cr_assert(chmod(images, 0700) == 0);
	if (geteuid() != 0)
		cr_assert(chmod(images, 0) == 0);
	cr_assert(pipe(fds) == 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct dataset ds;
		char msg[1024];
		int rc;

		close(fds[0]);
		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(3);
		rc = ds_load(&ds, dir, NULL, msg, sizeof(msg));
		if (rc == 0) {
			ds_release(&ds);
			_exit(2);
		}
		if (write(fds[1], msg, strlen(msg)) < 0)
			_exit(4);
		_exit(1);
	}
	close(fds[1]);
	n = read(fds[0], err, sizeof(err) - 1);
	close(fds[0]);
	cr_assert(waitpid(pid, &status, 0) == pid);
	chmod(images, 0755);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d", status);
	cr_assert(n > 0);
	err[n] = '\0';
	cr_assert(strstr(err, "imagesTr/: cannot read folder: permission denied"), "%s", err);
	free(images);
	free(dir);
}

Test(dataset, preprocessed_missing_fingerprint_or_dataset_json)
{
	char *dir = pre(2, false);

	rm_at("Dataset501_Liver/dataset_fingerprint.json");
	refused(dir, NULL, NULL, "/Dataset501_Liver/dataset_fingerprint.json: not found",
		"nnUNetv2_train needs it");
	put("Dataset501_Liver/dataset_fingerprint.json", "{}");
	rm_at("Dataset501_Liver/dataset.json");
	refused(dir, NULL, NULL, "/Dataset501_Liver/dataset.json: not found", "nnUNetv2_train reads");
	free(dir);
}

Test(dataset, preprocessed_plans_choice)
{
	char *dir = pre(2, false);

	rm_at("Dataset501_Liver/nnUNetPlans.json");
	put("Dataset501_Liver/nnUNetResEncUNetMPlans.json", nnunet_plans_json);
	put("Dataset501_Liver/nnUNetResEncUNetLPlans.json", nnunet_plans_json);
	refused(dir, NULL, NULL, "several plans files and no nnUNetPlans.json",
		"nnUNetResEncUNetLPlans, nnUNetResEncUNetMPlans; pick one with --plans");
	refused(dir, "--plans", "nnUNetPlans", "no plans \"nnUNetPlans\"",
		"available: nnUNetResEncUNetLPlans, nnUNetResEncUNetMPlans");
	rm_at("Dataset501_Liver/nnUNetResEncUNetMPlans.json");
	rm_at("Dataset501_Liver/nnUNetResEncUNetLPlans.json");
	put("Dataset501_Liver/dataset_fingerprint.json", "{}");
	refused(dir, "--format", "nnunet-pre", "no plans file (nnUNetPlans.json)",
		"nnUNetv2_plan_and_preprocess");
	free(dir);
}

Test(dataset, preprocessed_configuration_problems)
{
	char *dir = pre(2, false);

	refused(dir, "--configuration", "3d_lowres", "no configuration \"3d_lowres\"",
		"available: 2d, 3d_fullres, 3d_cascade_fullres");
	refused(dir, "-c", "2d", "/Dataset501_Liver/nnUNetPlans_2d: not found",
		"nnUNetv2_preprocess with -c 2d");
	put("Dataset501_Liver/nnUNetPlans.json",
	    "{\"dataset_name\": \"Dataset501_Liver\", \"configurations\": {"
	    "\"a\": {\"inherits_from\": \"b\"}, \"b\": {\"inherits_from\": \"a\"}, "
	    "\"3d_fullres\": {\"inherits_from\": \"a\"}}}");
	refused(dir, NULL, NULL, "goes round in a loop", NULL);
	put("Dataset501_Liver/nnUNetPlans.json",
	    "{\"dataset_name\": \"Dataset501_Liver\", \"configurations\": {"
	    "\"3d_fullres\": {\"inherits_from\": \"base\"}}}");
	refused(dir, NULL, NULL, "configurations.3d_fullres.inherits_from: \"base\" is not a configuration",
		NULL);
	put("Dataset501_Liver/nnUNetPlans.json", "{\"configurations\": {}}");
	refused(dir, NULL, NULL, "no \"dataset_name\"", NULL);
	free(dir);
}

Test(dataset, preprocessed_case_missing_seg_or_pkl)
{
	char *dir = pre(3, false);
	cJSON *o;

	rm_at("Dataset501_Liver/nnUNetPlans_3d_fullres/liver_1_seg.b2nd");
	refused(dir, NULL, NULL, "nnUNetPlans_3d_fullres/liver_1_seg.b2nd: missing",
		"case \"liver_1\" has liver_1.b2nd");
	put("Dataset501_Liver/nnUNetPlans_3d_fullres/liver_1_seg.b2nd", "");
	rm_at("Dataset501_Liver/nnUNetPlans_3d_fullres/liver_2.pkl");
	refused(dir, NULL, NULL, "nnUNetPlans_3d_fullres/liver_2.pkl: missing", NULL);
	/* A stray file and an orphan .pkl are warnings only. */
	put("Dataset501_Liver/nnUNetPlans_3d_fullres/liver_2.pkl", "");
	put("Dataset501_Liver/nnUNetPlans_3d_fullres/notes.json", "{}");
	put("Dataset501_Liver/nnUNetPlans_3d_fullres/old_9.pkl", "");
	o = accepted(dir, NULL, NULL);
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "count")), 3);
	cr_assert(has_warning(o, "notes.json"));
	cr_assert(has_warning(o, "old_9.pkl"));
	cJSON_Delete(o);
	free(dir);
}

Test(dataset, configuration_option_on_other_formats_is_a_warning)
{
	char *dir = raw("ds", 2, NULL);
	cJSON *o = accepted("ds", "--configuration", "2d");

	cr_assert(has_warning(o, "--configuration apply to nnU-Net preprocessed datasets only"));
	cJSON_Delete(o);
	free(dir);
}

Test(dataset, a_large_case_list)
{
	char *p = at("big.txt");
	size_t n = 20000, i, len = 0;
	char *text = NULL, line[32];
	struct dataset ds;

	for (i = 0; i < n; i++) {
		int k = snprintf(line, sizeof(line), "case_%06zu\n", n - 1 - i);

		append(&text, &len, line, (size_t)k);
	}
	put("big.txt", text);
	load_ok(&ds, p, NULL);
	cr_assert_eq(ds.ncases, n);
	cr_assert_str_eq(ds.cases[0].id, "case_019999", "a list keeps its order");
	ds_release(&ds);
	free(text);
	free(p);
}
