/* test_synth: synth_nifti() on cases that carry unique byte strings in
 * their voxels, every header text field and an extension: none of them is
 * in any file it writes (.nii read raw, .nii.gz gunzipped first), while
 * the shape, datatype, spacing and the offending label voxels stay. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <zlib.h>
#undef DT_UNKNOWN /* <dirent.h>'s, not niftilib's */
#include <nifti2_io.h>

#include "casebisect/synth.h"
#include "casebisect/util.h"
#include "helpers.h"

TestSuite(synth, .init = tmpdir_setup, .fini = tmpdir_teardown);

/* The planted strings: each must be gone from every synthetic file. */
#define S_IMG_VOXELS "IMGVOXSECRET-a71c"
#define S_LBL_VOXELS "LBLVOXSECRET-3e9d"
#define S_DESCRIP "DESCRIPSECRET-51f0"
#define S_AUX "AUXSECRET-c4"
#define S_INTENT "INTSECRET-9b"
#define S_DBNAME "DBNAMESECRET-7d2"
#define S_EXT "EXTENSIONSECRET-0e66"

static const char *const secrets[] = { S_IMG_VOXELS, S_LBL_VOXELS, S_DESCRIP, S_AUX,
				       S_INTENT, S_DBNAME, S_EXT };

#define N 16 /* the volumes are N x N x N */

/* A volume with every text field planted, an extension, an origin away
 * from 0 and spacing 0.8 x 0.9 x 2.5; data holds N^3 voxels of dt. */
static void write_case_file(const char *path, int dt, int version, const void *data)
{
	int64_t d[8] = { 3, N, N, N, 1, 1, 1, 1 };
	nifti_image *nim = nifti_make_new_nim(d, dt, 1);
	int r;

	cr_assert(nim);
	memcpy(nim->data, data, (size_t)nim->nvox * (size_t)nim->nbyper);
	nim->nifti_type = version == 2 ? NIFTI_FTYPE_NIFTI2_1 : NIFTI_FTYPE_NIFTI1_1;
	nim->dx = nim->pixdim[1] = 0.8;
	nim->dy = nim->pixdim[2] = 0.9;
	nim->dz = nim->pixdim[3] = 2.5;
	nim->qform_code = nim->sform_code = 1;
	nim->qoffset_x = -120.5;
	nim->qoffset_y = 33.25;
	nim->qoffset_z = 710;
	memset(&nim->sto_xyz, 0, sizeof(nim->sto_xyz));
	nim->sto_xyz.m[0][0] = nim->dx;
	nim->sto_xyz.m[1][1] = nim->dy;
	nim->sto_xyz.m[2][2] = nim->dz;
	nim->sto_xyz.m[0][3] = -120.5;
	nim->sto_xyz.m[1][3] = 33.25;
	nim->sto_xyz.m[2][3] = 710;
	nim->sto_xyz.m[3][3] = 1;
	for (r = 0; r < 3; r++)
		nim->qto_xyz.m[r][3] = nim->sto_xyz.m[r][3];
	cb_strlcpy(nim->descrip, S_DESCRIP, sizeof(nim->descrip));
	cb_strlcpy(nim->aux_file, S_AUX, sizeof(nim->aux_file));
	cb_strlcpy(nim->intent_name, S_INTENT, sizeof(nim->intent_name));
	cr_assert(nifti_add_extension(nim, S_EXT, (int)sizeof(S_EXT), NIFTI_ECODE_COMMENT) == 0);
	cr_assert(nifti_set_filenames(nim, path, 0, 1) == 0, "%s", path);
	nifti_image_write(nim);
	nifti_image_free(nim);
	cr_assert(access(path, R_OK) == 0, "not written: %s", path);
}

/* The whole file's bytes, gunzipped when its name ends in .gz. */
static char *file_bytes(const char *path, size_t *len)
{
	gzFile gz = gzopen(path, "rb"); /* reads plain files as they are, too */
	size_t cap = 1 << 16, n = 0;
	char *buf = xmalloc(cap);
	int got;

	cr_assert(gz, "cannot open %s", path);
	while ((got = gzread(gz, buf + n, (unsigned)(cap - n))) > 0) {
		n += (size_t)got;
		if (n == cap)
			buf = xrealloc(buf, cap *= 2);
	}
	cr_assert(got == 0, "cannot read %s", path);
	gzclose(gz);
	*len = n;
	return buf;
}

static bool memmem_file(const char *path, const void *needle, size_t n);

static bool holds(const char *path, const char *needle)
{
	return memmem_file(path, needle, strlen(needle));
}

/* db_name has no field in niftilib's struct: planted in the written
 * header's bytes (a plain NIfTI-1 file: db_name at offset 14, 18 bytes). */
static void plant_db_name(const char *path)
{
	FILE *f = fopen(path, "r+b");

	cr_assert(f, "%s: %s", path, strerror(errno));
	cr_assert(fseek(f, 14, SEEK_SET) == 0);
	cr_assert(fwrite(S_DBNAME, 1, strlen(S_DBNAME), f) == strlen(S_DBNAME));
	cr_assert(fclose(f) == 0);
}

/* An int16 image whose voxels spell S_IMG_VOXELS over and over. */
static void image_voxels(int16_t *v)
{
	size_t i, n = strlen(S_IMG_VOXELS);

	for (i = 0; i < (size_t)N * N * N * 2; i++)
		((char *)v)[i] = S_IMG_VOXELS[i % n];
}

#define AT(x, y, z) ((x) + N * (y) + N * N * (z))

/* A uint8 label: 1 in the slab z 0..3, the offending 255 in the cube
 * x 10..12 y 4..6 z 8..9, and S_LBL_VOXELS spelled along row y 14, z 14
 * (values a clean label never holds either). */
static void label_voxels(uint8_t *v)
{
	int x, y, z;

	memset(v, 0, (size_t)N * N * N);
	for (z = 0; z < 4; z++)
		for (y = 0; y < N; y++)
			for (x = 0; x < N; x++)
				v[AT(x, y, z)] = 1;
	for (z = 8; z <= 9; z++)
		for (y = 4; y <= 6; y++)
			for (x = 10; x <= 12; x++)
				v[AT(x, y, z)] = 255;
	memcpy(v + AT(0, 14, 14), S_LBL_VOXELS, strlen(S_LBL_VOXELS));
}

static bool memmem_file(const char *path, const void *needle, size_t n)
{
	size_t len;
	char *b = file_bytes(path, &len);
	bool found = memmem(b, len, needle, n) != NULL;

	free(b);
	return found;
}

static void assert_no_secret(const char *path)
{
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(secrets); i++)
		cr_expect(!holds(path, secrets[i]), "%s still holds \"%s\"", path, secrets[i]);
}

/* Same dims, datatype and spacing as written; the origin at 0 unless
 * origin. Returns the image (the caller frees it). */
static nifti_image *assert_geometry(const char *path, int dt, bool origin)
{
	nifti_image *nim = nifti_image_read(path, 1);

	cr_assert(nim, "%s does not read back", path);
	cr_expect(nim->ndim == 3 && nim->nx == N && nim->ny == N && nim->nz == N, "%s: shape", path);
	cr_expect(nim->datatype == dt, "%s: datatype %d, not %d", path, nim->datatype, dt);
	cr_expect(fabs(nim->dx - 0.8) < 1e-6 && fabs(nim->dy - 0.9) < 1e-6 &&
		  fabs(nim->dz - 2.5) < 1e-6, "%s: spacing %g %g %g", path, nim->dx, nim->dy, nim->dz);
	if (origin)
		cr_expect(nim->qoffset_x == -120.5 && nim->sto_xyz.m[2][3] == 710, "%s: origin", path);
	else
		cr_expect(nim->qoffset_x == 0 && nim->qoffset_y == 0 && nim->qoffset_z == 0 &&
			  nim->sto_xyz.m[0][3] == 0 && nim->sto_xyz.m[1][3] == 0 &&
			  nim->sto_xyz.m[2][3] == 0, "%s: the origin is not 0", path);
	cr_expect(nim->sto_xyz.m[0][0] > 0.79 && nim->sto_xyz.m[0][0] < 0.81, "%s: sform", path);
	cr_expect(nim->num_ext == 0, "%s: %d extensions left", path, nim->num_ext);
	return nim;
}

/* Writes the planted case under tmpdir (img and lbl with ext), checks the
 * plants are there, and synthesizes both into out/. */
static void plant_and_synth(const char *ext, int version, char **img_out, char **lbl_out)
{
	int16_t img[N * N * N];
	uint8_t lbl[N * N * N];
	char *img_in, *lbl_in;
	struct synth_keep keep = { 255, true, { 10, 4, 8 }, { 12, 6, 9 } };
	struct synth_options io = { .seed = 7 }, lo = { SYNTH_LABEL, &keep, 1, 7 };
	struct synth_stats st;
	char err[512], *name;
	size_t i;

	name = cb_fmt("img%s", ext);
	img_in = at(name);
	free(name);
	name = cb_fmt("lbl%s", ext);
	lbl_in = at(name);
	free(name);
	image_voxels(img);
	label_voxels(lbl);
	write_case_file(img_in, DT_INT16, version, img);
	write_case_file(lbl_in, DT_UINT8, version, lbl);
	if (version == 1 && !strcmp(ext, ".nii")) {
		plant_db_name(img_in);
		plant_db_name(lbl_in);
	}
	/* The plants are there to be found: the check below can fail. */
	for (i = 0; i < CB_ARRAY_SIZE(secrets); i++) {
		bool want = strcmp(secrets[i], S_DBNAME) || (version == 1 && !strcmp(ext, ".nii"));

		if (!want)
			continue;
		cr_assert(holds(strcmp(secrets[i], S_LBL_VOXELS) ? img_in : lbl_in, secrets[i]),
			  "the fixture lacks \"%s\"", secrets[i]);
	}
	mkdir_at("out");
	name = cb_fmt("out/img%s", ext);
	*img_out = at(name);
	free(name);
	name = cb_fmt("out/lbl%s", ext);
	*lbl_out = at(name);
	free(name);
	cr_assert(synth_nifti(img_in, *img_out, &io, &st, err, sizeof(err)) == 0, "%s", err);
	cr_expect(st.voxels == N * N * N && st.kept == 0);
	cr_assert(synth_nifti(lbl_in, *lbl_out, &lo, &st, err, sizeof(err)) == 0, "%s", err);
	cr_expect(st.kept == 3 * 3 * 2, "kept %llu voxels of the label", (unsigned long long)st.kept);
	free(img_in);
	free(lbl_in);
}

static void check_case(const char *ext, int version)
{
	char *img, *lbl;
	nifti_image *nim;
	const uint8_t *v;
	int x, y, z;
	bool image_changed = false;

	plant_and_synth(ext, version, &img, &lbl);
	assert_no_secret(img);
	assert_no_secret(lbl);
	nim = assert_geometry(img, DT_INT16, false);
	for (x = 0; x < N * N * N; x++)
		image_changed |= ((int16_t *)nim->data)[x] != 0;
	cr_expect(image_changed, "the image is all zeros: noise was asked for");
	nifti_image_free(nim);
	nim = assert_geometry(lbl, DT_UINT8, false);
	v = nim->data;
	for (z = 0; z < N; z++)
		for (y = 0; y < N; y++)
			for (x = 0; x < N; x++) {
				bool cube = x >= 10 && x <= 12 && y >= 4 && y <= 6 && z >= 8 && z <= 9;

				cr_assert_eq(v[AT(x, y, z)], cube ? 255 : 0, "label at %d %d %d", x, y, z);
			}
	nifti_image_free(nim);
	free(img);
	free(lbl);
}

Test(synth, nifti1_plain_carries_no_planted_string)
{
	check_case(".nii", 1);
}

Test(synth, nifti1_gz_carries_no_planted_string)
{
	check_case(".nii.gz", 1);
}

Test(synth, nifti2_gz_carries_no_planted_string)
{
	check_case(".nii.gz", 2);
}

/* The parts a crash may need: kept when asked, and only those. */
Test(synth, kept_parts_stay_and_the_text_still_goes)
{
	uint8_t lbl[N * N * N];
	int16_t img[N * N * N];
	char *img_in = at("img.nii"), *lbl_in = at("lbl.nii"), *img_out = at("img-out.nii.gz");
	char *lbl_out = at("lbl-out.nii"), *zero_out = at("zero-out.nii"), err[512];
	struct synth_options keep_img = { SYNTH_KEEP_VOXELS | SYNTH_KEEP_ORIGIN, NULL, 0, 1 };
	struct synth_options whole = { SYNTH_LABEL, NULL, 0, 1 }, zeros = { SYNTH_ZEROS, NULL, 0, 1 };
	nifti_image *nim;
	size_t i;

	image_voxels(img);
	label_voxels(lbl);
	write_case_file(img_in, DT_INT16, 1, img);
	write_case_file(lbl_in, DT_UINT8, 1, lbl);
	cr_assert(synth_nifti(img_in, img_out, &keep_img, NULL, err, sizeof(err)) == 0, "%s", err);
	cr_assert(synth_nifti(lbl_in, lbl_out, &whole, NULL, err, sizeof(err)) == 0, "%s", err);
	cr_assert(synth_nifti(img_in, zero_out, &zeros, NULL, err, sizeof(err)) == 0, "%s", err);
	cr_expect(holds(img_out, S_IMG_VOXELS), "the image's voxels were asked to stay");
	cr_expect(holds(lbl_out, S_LBL_VOXELS), "the whole label was asked to stay");
	cr_expect(!holds(zero_out, S_IMG_VOXELS));
	cr_expect(!holds(img_out, S_DESCRIP) && !holds(img_out, S_EXT) && !holds(lbl_out, S_AUX) &&
		  !holds(lbl_out, S_INTENT));
	nifti_image_free(assert_geometry(img_out, DT_INT16, true));
	nim = assert_geometry(zero_out, DT_INT16, false);
	for (i = 0; i < (size_t)N * N * N; i++)
		cr_assert_eq(((int16_t *)nim->data)[i], 0);
	nifti_image_free(nim);
	free(img_in);
	free(lbl_in);
	free(img_out);
	free(lbl_out);
	free(zero_out);
}

Test(synth, unreadable_input_names_the_file)
{
	char *bad = at("bad.nii.gz"), *out = at("out.nii.gz"), err[512];
	struct synth_options o = { 0 };

	put("bad.nii.gz", "not a nifti file at all");
	cr_expect(synth_nifti(bad, out, &o, NULL, err, sizeof(err)) < 0);
	cr_expect(strstr(err, bad) != NULL, "%s", err);
	cr_expect(access(out, F_OK) < 0, "a file was written for a bad input");
	free(bad);
	free(out);
}

/* ---- the synthetic bundle of a run (toy trainer, examples/mkcases) ---- */

/* Labels 0..2 in a pattern no reduced label can hold (it keeps only the
 * offending value 7): planted in the culprit's label, in a corner away
 * from its bad cube. */
static const uint8_t label_plant[] = { 1, 2, 2, 1, 0, 2, 1, 1, 2, 0, 1, 2, 2, 2, 1, 0 };

/* Rewrites a case file of mkcases with every text field, an extension and
 * (image) S_IMG_VOXELS in its first voxels or (label) label_plant along
 * its first row. */
static void plant_in(const char *path, bool label)
{
	nifti_image *nim = nifti_image_read(path, 1);

	cr_assert(nim && nim->data, "cannot read %s", path);
	if (label) {
		cr_assert(nim->datatype == DT_UINT8 && nim->nx >= (int64_t)sizeof(label_plant));
		memcpy(nim->data, label_plant, sizeof(label_plant));
	} else {
		cr_assert((size_t)nim->nvox * (size_t)nim->nbyper > 4 * sizeof(S_IMG_VOXELS));
		/* as float32 these bytes are finite numbers: no NaN for the trainer */
		memcpy(nim->data, S_IMG_VOXELS S_IMG_VOXELS, 2 * strlen(S_IMG_VOXELS));
	}
	cb_strlcpy(nim->descrip, S_DESCRIP, sizeof(nim->descrip));
	cb_strlcpy(nim->aux_file, S_AUX, sizeof(nim->aux_file));
	cb_strlcpy(nim->intent_name, S_INTENT, sizeof(nim->intent_name));
	cr_assert(nifti_add_extension(nim, S_EXT, (int)sizeof(S_EXT), NIFTI_ECODE_COMMENT) == 0);
	nim->qoffset_x = -77.5;
	nim->sto_xyz.m[0][3] = -77.5;
	nifti_image_write(nim);
	nifti_image_free(nim);
}

/* Plants every string in case ID's files of the mkcases dataset ds. */
static void plant_case(const char *ds, const char *id)
{
	char *img = cb_fmt("%s/imagesTr/%s_0000.nii.gz", ds, id);
	char *lbl = cb_fmt("%s/labelsTr/%s.nii.gz", ds, id);
	size_t i;

	plant_in(img, false);
	plant_in(lbl, true);
	for (i = 0; i < CB_ARRAY_SIZE(secrets); i++)
		if (strcmp(secrets[i], S_DBNAME) && strcmp(secrets[i], S_LBL_VOXELS))
			cr_assert(holds(img, secrets[i]), "the fixture lacks \"%s\"", secrets[i]);
	cr_assert(memmem_file(lbl, label_plant, sizeof(label_plant)), "the label plant is missing");
	free(img);
	free(lbl);
}

/* Every file under dir (gunzipped when .gz), checked for every plant (but
 * the label's voxels when labels are kept whole). */
static size_t check_tree(const char *dir, bool whole_labels)
{
	char *cmd = cb_fmt("find '%s' -type f", dir), line[4096];
	FILE *p = popen(cmd, "r");
	size_t n = 0, i;

	cr_assert(p);
	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		for (i = 0; i < CB_ARRAY_SIZE(secrets); i++)
			cr_expect(!holds(line, secrets[i]), "%s holds \"%s\"", line, secrets[i]);
		cr_expect(whole_labels || !memmem_file(line, label_plant, sizeof(label_plant)),
			  "%s holds the label's planted voxels", line);
		n++;
	}
	cr_assert(pclose(p) == 0);
	free(cmd);
	return n;
}

static char *synth_json_str(const char *wd, const char *key)
{
	char *path = cb_fmt("%s/synthetic/synthetic.json", wd), *v;
	cJSON *o = read_json(path);

	v = xstrdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key)) ?
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key)) : "");
	cJSON_Delete(o);
	free(path);
	return v;
}

#define TOY_CMD(toy) toy, "--cases-file", "{cases_file}", "--files-file", "{files_file}"

/* report.json's synthetic.reproduced (the run's report names the synthetic
 * repro), after checking report.json against its schema. */
static bool report_says_reproduced(const char *wd)
{
	char *path = cb_fmt("%s/report.json", wd), *text;
	cJSON *o, *syn;
	bool reproduced;

	assert_schema_valid(wd);
	text = cb_read_file(path, NULL);
	cr_assert(text, "no %s", path);
	o = cJSON_Parse(text);
	syn = cJSON_GetObjectItemCaseSensitive(o, "synthetic");
	cr_assert(cJSON_IsObject(syn), "report.json has no synthetic object: %s", text);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(syn, "verified")), "%s", text);
	{
		/* the tarball to attach, named */
		const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(syn, "tarball"));

		cr_assert(t && strstr(t, "/synthetic/synthetic-bundle.tar.gz") && access(t, R_OK) == 0,
			  "report.json: synthetic.tarball: %s", t ? t : "missing");
	}
	reproduced = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(syn, "reproduced"));
	cJSON_Delete(o);
	free(text);
	free(path);
	return reproduced;
}

Test(synth, run_synthetic_reproduces_the_class_and_carries_no_plant)
{
	static const char *const bad[] = { "case_003=7", "case_009=7", NULL };
	char *ds = mkcases_in("ds", 12, bad), *wd = at("wd"), *toy = src_file("harness/toytrain");
	char *summary, *md, *mdpath = cb_fmt("%s/report.md", wd), *syn = cb_fmt("%s/synthetic", wd);
	char *sds = cb_fmt("%s/bundle/dataset/ds", syn), *elsewhere = at("elsewhere"), *log, *klass;
	char *untar = cb_fmt("cd '%s' && tar xzf '%s/synthetic-bundle.tar.gz'", elsewhere, syn);
	char *unpacked = cb_path_join(elsewhere, "bundle");
	struct run r, t;

	plant_case(ds, "case_003");
	plant_case(ds, "case_009");
	run(&r, "run", "--synthetic", "--workdir", wd, "--gpus", "none", ds, "--", TOY_CMD(toy));
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	cr_assert(strstr(r.out, "synthetic repro verified: crashes with the same signature "
			 "(cpu_index_error)"), "%s", r.out);
	summary = synth_json_str(wd, "summary");
	cr_assert(strstr(summary, "every case de-identified"), "%s", summary);
	md = cb_read_file(mdpath, NULL);
	cr_assert(md && strstr(md, "synthetic repro verified"), "report.md lacks the sentence");
	cr_assert(report_says_reproduced(wd), "report.json: not reproduced");
	cr_assert(check_tree(syn, false) >= 8, "too few files in %s", syn);
	/* the tarball to attach is named, on the terminal and in report.md */
	cr_assert(strstr(r.out, "synthetic/synthetic-bundle.tar.gz"), "%s", r.out);
	cr_assert(strstr(md, "synthetic/synthetic-bundle.tar.gz") &&
		  strstr(md, "never `bundle.tar.gz`"), "report.md does not name the tarball");
	/* ... unpacked elsewhere: no plant in any file (the .nii.gz read
	 * gunzipped), and its repro.sh, run as a stranger, crashes the same way */
	mkdir_at("elsewhere");
	cr_assert_eq(system(untar), 0, "%s", untar);
	cr_assert(check_tree(elsewhere, false) >= 8, "too few files in %s", elsewhere);
	cr_assert_neq(run_repro_as_stranger(unpacked, &log), 0, "repro.sh did not crash");
	klass = class_of(log);
	cr_assert_str_eq(klass, "cpu_index_error");
	{
		/* the verification trial was that: the tarball's repro.sh */
		char *vlog = cb_fmt("%s/verify/stderr.log", syn), *v = cb_read_file(vlog, NULL);

		cr_assert(v && strstr(v, "IndexError"), "%s: %s", vlog, v ? v : "missing");
		free(v);
		free(vlog);
	}
	/* the synthetic dataset alone, through `casebisect trial`: the class */
	run(&t, "trial", "--gpus", "none", "--dataset", sds, "--", TOY_CMD(toy));
	cr_assert(strstr(t.out, "FAIL") && strstr(t.out, "cpu_index_error"), "%s%s", t.out, t.err);
	/* the user's files are as they were */
	{
		char *orig = cb_fmt("%s/labelsTr/case_003.nii.gz", ds);

		cr_assert(holds(orig, S_DESCRIP), "the user's file was changed");
		free(orig);
	}
	run_release(&r);
	run_release(&t);
	free(ds);
	free(wd);
	free(toy);
	free(summary);
	free(md);
	free(mdpath);
	free(syn);
	free(sds);
	free(elsewhere);
	free(untar);
	free(unpacked);
	free(log);
	free(klass);
}

/* A run of a shell trainer that fails when a file of a case matches grep
 * pattern pat (the culprit: case_005, planted), then `bundle --synthetic`
 * into *b. Returns the work directory (the caller frees it). */
static char *grep_run(struct run *b, const char *pat)
{
	static const char *const bad[] = { NULL };
	char *ds = mkcases_in("ds", 8, bad), *wd = at("wd");
	char *script = cb_fmt("while IFS='\t' read -r img lbl; do "
			      "if gzip -dc \"$img\" \"$lbl\" | grep -q %s; then "
			      "echo 'RuntimeError: image intensities out of range' >&2; exit 1; fi; "
			      "done < \"$1\"; exit 0", pat);
	struct run r;

	plant_case(ds, "case_005");
	run(&r, "run", "--workdir", wd, "--gpus", "none", "--prior", "none", ds, "--", "/bin/sh",
	    "-c", script, "sh", "{files_file}");
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	cr_assert(strstr(r.out, "case_005"), "%s", r.out);
	run(b, "bundle", "--synthetic", wd);
	run_release(&r);
	free(script);
	free(ds);
	return wd;
}

/* A trainer that crashes on the culprit's image intensities: with noise it
 * passes, so the image's voxels must be kept, and both are said. */
Test(synth, image_content_crash_keeps_the_images_and_says_so)
{
	struct run b;
	char *wd = grep_run(&b, S_IMG_VOXELS), *summary, *kept;

	cr_assert_eq(b.code, 0, "exit %d\n%s\n%s", b.code, b.out, b.err);
	summary = synth_json_str(wd, "summary");
	kept = synth_json_str(wd, "kept");
	cr_assert(strstr(summary, "synthetic repro verified") &&
		  strstr(summary, "only with the images' voxels kept"), "%s", summary);
	cr_assert_str_eq(kept, "the images' voxels");
	{
		/* --prior none: no audit, so the label stays whole, and that is said */
		char *path = cb_fmt("%s/synthetic/synthetic.json", wd), *json = cb_read_file(path, NULL);

		cr_assert(json && strstr(json, "label, kept whole (no label audit ran"), "%s", json);
		free(json);
		free(path);
	}
	cr_assert(strstr(b.err, "PASS") && strstr(b.err, "FAIL"), "both tries are told: %s", b.err);
	cr_assert(strstr(b.out, summary), "the summary is printed: %s", b.out);
	run_release(&b);
	free(wd);
	free(summary);
	free(kept);
}

/* A crash on what every rung drops (the header's descrip): no rung
 * reproduces; the fully de-identified cases are kept, and exit 3 says so. */
Test(synth, a_crash_on_dropped_text_does_not_reproduce_and_says_so)
{
	struct run b;
	char *wd = grep_run(&b, S_DESCRIP), *summary, *kept;
	char *syn = cb_fmt("%s/synthetic/bundle/dataset", wd); /* command.txt holds the pattern */

	cr_assert_eq(b.code, 3, "exit %d\n%s\n%s", b.code, b.out, b.err);
	summary = synth_json_str(wd, "summary");
	kept = synth_json_str(wd, "kept");
	cr_assert(strstr(summary, "does not reproduce"), "%s", summary);
	cr_assert_str_eq(kept, "nothing");
	cr_assert(!report_says_reproduced(wd), "report.json: reproduced");
	cr_assert(check_tree(syn, true) >= 3); /* no audit ran: the labels stay whole */
	run_release(&b);
	free(wd);
	free(syn);
	free(summary);
	free(kept);
}

Test(synth, bundle_refuses_what_it_cannot_do)
{
	struct run r;
	char *wd = at("nowhere");

	run(&r, "bundle", wd);
	assert_usage_error(&r);
	cr_assert(strstr(r.err, "--synthetic"), "%s", r.err);
	run_release(&r);
	run(&r, "bundle", "--synthetic", wd);
	cr_assert_eq(r.code, 1, "exit %d: %s", r.code, r.err);
	cr_assert(strstr(r.err, "nowhere"), "%s", r.err);
	run_release(&r);
	free(wd);
}

/* The other layouts the plain bundle knows: a case list and an MSD
 * datalist give a synthetic dataset the command runs on, verified. */
Test(synth, list_and_datalist_datasets_are_verified_too)
{
	static const char *const bad[] = { "case_002=9", NULL };
	char *ds = mkcases_in("ds", 6, bad), *toy = src_file("harness/toytrain");
	char *cmd = cb_fmt("cd '%s' && paste ds/cases.txt ds/files.txt >list.txt && "
			   "awk -F'\\t' 'BEGIN { printf \"{\\\"training\\\": [\" } "
			   "{ printf \"%%s{\\\"image\\\": \\\"%%s\\\", \\\"label\\\": \\\"%%s\\\"}\", "
			   "(NR > 1 ? \",\" : \"\"), $2, $3 } END { print \"]}\" }' list.txt >dl.json",
			   tmpdir);
	static const char *const inputs[] = { "list.txt", "dl.json" };
	size_t i;

	cr_assert(system(cmd) == 0, "%s", cmd);
	for (i = 0; i < 2; i++) {
		char *in = at(inputs[i]), *wd = cb_fmt("%s/wd%zu", tmpdir, i), *summary;
		struct run r;

		run(&r, "run", "--synthetic", "--workdir", wd, "--gpus", "none", in, "--",
		    TOY_CMD(toy));
		cr_assert_eq(r.code, 0, "%s: exit %d\n%s\n%s", inputs[i], r.code, r.out, r.err);
		summary = synth_json_str(wd, "summary");
		cr_assert(starts_with(summary, "synthetic repro verified: crashes with the same "
					       "signature (cpu_index_error)"), "%s: %s", inputs[i], summary);
		run_release(&r);
		free(summary);
		free(in);
		free(wd);
	}
	free(cmd);
	free(ds);
	free(toy);
}

/* ---- nnunet-pre: the synthetic bundle holds raw cases alone ---- */

/* A preprocessed Dataset501_Liver (pp/, arrays that are not NIfTI) of 3
 * cases, its raw dataset (raw/, examples/mkcases: liver_001's label holds
 * 9, and every text field planted), a fake nnUNetv2_plan_and_preprocess on
 * the PATH that notes its arguments in tmpdir/plan.out and makes the
 * preprocessed folder, and the probe's launcher (harness/nnunet/, carried
 * into the bundle): it fails as torch does when a case's raw label holds 9
 * ($nnUNet_raw's, else the user's raw dataset). Returns the launcher. */
static char *pre_fixture(void)
{
	char *mk = src_file("examples/mkcases"), *cmd;
	char *launcher = cb_fmt("%s/harness/nnunet/casebisect-nnunet-train", tmpdir);

	cmd = cb_fmt(
		"set -e; cd '%s'; mkdir raw; '%s' --cases 3 --prefix liver --bad liver_001=9 raw/Dataset501_Liver "
		">/dev/null; d=pp/Dataset501_Liver; mkdir -p $d/nnUNetPlans_3d_fullres bin harness/nnunet; "
		"echo '{\"dataset_name\": \"Dataset501_Liver\", \"plans_name\": \"nnUNetPlans\", "
		"\"configurations\": {\"3d_fullres\": {\"data_identifier\": \"nnUNetPlans_3d_fullres\"}}}' "
		">$d/nnUNetPlans.json; cp raw/Dataset501_Liver/dataset.json $d/; "
		"echo '{}' >$d/dataset_fingerprint.json; "
		"for k in 0 1 2; do for e in .b2nd _seg.b2nd .pkl; do "
		"echo array >$d/nnUNetPlans_3d_fullres/liver_00$k$e; done; done; "
		"printf '#!/bin/sh\\necho \"plan $*\" >>%s/plan.out\\n"
		"mkdir -p \"$nnUNet_preprocessed/Dataset501_Liver\"\\n' >bin/nnUNetv2_plan_and_preprocess; "
		"printf '#!/bin/sh\\nwhile read -r id; do f=\"$nnUNet_raw/Dataset501_Liver/labelsTr/$id.nii.gz\"; "
		"[ -f \"$f\" ] || f=\"%s/raw/Dataset501_Liver/labelsTr/$id.nii.gz\"; "
		"if gzip -dc \"$f\" | tail -c +353 | od -An -tu1 -v | grep -qw 9; then "
		"echo \"IndexError: Target 9 is out of bounds.\" >&2; exit 1; fi; done <\"$2\"; exit 0\\n' "
		">harness/nnunet/casebisect-nnunet-train; echo '# the probe' "
		">harness/nnunet/casebisect_nnunet_probe.py; "
		"chmod +x bin/* harness/nnunet/casebisect-nnunet-train",
		tmpdir, mk, tmpdir, tmpdir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	free(cmd);
	cmd = cb_fmt("%s/bin:/usr/bin:/bin", tmpdir);
	cr_assert_eq(setenv("PATH", cmd, 1), 0);
	free(cmd);
	free(mk);
	{
		char *ds = at("raw/Dataset501_Liver");

		plant_case(ds, "liver_001");
		free(ds);
	}
	return launcher;
}

Test(synth, nnunet_pre_synthesizes_the_raw_cases_and_verifies_from_raw)
{
	char *launcher = pre_fixture(), *pp = at("pp/Dataset501_Liver"), *wd = at("wd");
	char *raw = at("raw"), *elsewhere = at("elsewhere"), *untar, *plan, *files, *summary;
	struct run r, b;

	cr_assert_eq(setenv("nnUNet_raw", raw, 1), 0);
	run(&r, "run", "--workdir", wd, "--gpus", "none", pp, "--", launcher, "--cases-file",
	    "{cases_file}", "Dataset501_Liver", "3d_fullres", "all", "-tr",
	    "nnUNetTrainer_CasebisectProbe", "-p", "nnUNetPlans");
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	cr_assert(strstr(r.out, "culprit: liver_001"), "%s", r.out);
	/* the labels without the raw images: said, and refused (the labels stay
	 * where they were, so that the report renders as the run wrote it) */
	{
		char *img = at("raw/Dataset501_Liver/imagesTr"), *aside = at("images.aside");

		cr_assert_eq(rename(img, aside), 0);
		run(&b, "bundle", "--synthetic", wd);
		cr_assert_eq(rename(aside, img), 0);
		cr_assert_eq(b.code, 1, "exit %d\n%s\n%s", b.code, b.out, b.err);
		cr_assert(strstr(b.err, "raw images are not there") && strstr(b.err, "cannot be "
			  "de-identified"), "%s", b.err);
		free(img);
		img = at("wd/synthetic");
		cr_assert(access(img, F_OK) < 0, "a synthetic repro was made");
		run_release(&b);
		free(img);
		free(aside);
	}
	run(&b, "bundle", "--synthetic", wd);
	cr_assert_eq(b.code, 0, "exit %d\n%s\n%s", b.code, b.out, b.err);
	summary = synth_json_str(wd, "summary");
	cr_assert(strstr(summary, "synthetic repro verified: crashes with the same signature "
			 "(cpu_index_error) with every case de-identified"), "%s", summary);
	/* the verification ran repro.sh --from-raw: preprocessing, then the probe */
	plan = cb_read_file(at("plan.out"), NULL);
	cr_assert(plan && strstr(plan, "plan -d 501 -c 3d_fullres"), "%s", plan ? plan : "no plan");
	/* the tarball: raw NIfTI alone, de-identified, no array of the patients' */
	untar = cb_fmt("mkdir '%s' && cd '%s' && tar xzf '%s/synthetic/synthetic-bundle.tar.gz' "
		       "&& find bundle -type f | sort", elsewhere, elsewhere, wd);
	{
		FILE *p = popen(untar, "r");
		char line[1024];
		struct rep_buf_like { char s[8192]; size_t n; } t = { "", 0 };

		cr_assert(p);
		while (fgets(line, sizeof(line), p))
			t.n += (size_t)snprintf(t.s + t.n, sizeof(t.s) - t.n, "%s", line);
		cr_assert_eq(pclose(p), 0, "%s", untar);
		files = xstrdup(t.s);
	}
	cr_assert(strstr(files, "bundle/dataset/nnUNet_raw/Dataset501_Liver/imagesTr/"
			 "liver_001_0000.nii.gz\n") &&
		  strstr(files, "bundle/dataset/nnUNet_raw/Dataset501_Liver/labelsTr/liver_001.nii.gz\n"),
		  "%s", files);
	cr_assert(!strstr(files, ".b2nd") && !strstr(files, ".pkl") && !strstr(files, "liver_000"),
		  "%s", files);
	cr_assert(check_tree(elsewhere, false) >= 6);
	{
		/* and it crashes the same way for whoever unpacks it (nnU-Net, here
		 * the fake, on their PATH) */
		char *log = at("repro.log"), *home = at("home"), *klass, *text;
		char *cmd = cb_fmt("mkdir '%s' && cd '%s' && env -i HOME='%s' PATH='%s/bin:/usr/bin:/bin' "
				   "bash bundle/repro.sh --from-raw >'%s' 2>&1", home, elsewhere, home,
				   tmpdir, log);

		cr_assert_neq(system(cmd), 0, "%s", cmd);
		klass = class_of(log);
		text = cb_read_file(log, NULL);
		cr_assert_str_eq(klass, "cpu_index_error", "%s", text);
		cr_assert(strstr(text, "repro.sh: --from-raw: nnUNetv2_plan_and_preprocess"), "%s", text);
		free(text);
		free(klass);
		free(log);
		free(home);
		free(cmd);
	}
	run_release(&r);
	run_release(&b);
	free(launcher);
	free(pp);
	free(wd);
	free(raw);
	free(elsewhere);
	free(untar);
	free(plan);
	free(files);
	free(summary);
}
