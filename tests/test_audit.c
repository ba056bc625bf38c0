/* test_audit: the label audit on NIfTI fixtures written with niftilib (uint8,
 * int16, uint16, float32 labels; .nii and .nii.gz; 2D and 3D; multi-channel
 * images; NIfTI-1 and NIfTI-2) and on broken files (truncated, corrupt, lying
 * headers): each gives its finding, through aud_run and `casebisect audit`,
 * and nothing crashes or allocates what a header claims. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <zlib.h>
#undef DT_UNKNOWN /* <dirent.h>'s, not niftilib's */
#include <nifti2_io.h>

#include "casebisect/audit.h"
#include "casebisect/dataset.h"
#include "casebisect/util.h"
#include "helpers.h"

TestSuite(audit, .init = tmpdir_setup, .fini = tmpdir_teardown);

/* ---- fixtures ---- */

static void mkdirs(const char *rel)
{
	char *p = at(rel), *s;

	for (s = p + strlen(tmpdir) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	cr_assert(mkdir(p, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", p, strerror(errno));
	free(p);
}

/* A volume to write: NIfTI version, datatype, dims (d[0] = ndim). */
struct vol {
	int version;
	int dt;
	int64_t d[8];
	float pix[3];   /* 0: 1 */
	bool flip_x;    /* an sform whose x axis points the other way */
};

static nifti_image *make_nim(const struct vol *v, const void *data)
{
	nifti_image *nim = nifti_make_new_nim(v->d, v->dt, 1);
	int i;

	cr_assert(nim);
	if (data)
		memcpy(nim->data, data, (size_t)nim->nvox * (size_t)nim->nbyper);
	nim->nifti_type = v->version == 2 ? NIFTI_FTYPE_NIFTI2_1 : NIFTI_FTYPE_NIFTI1_1;
	for (i = 0; i < 3; i++)
		if (v->pix[i] > 0)
			nim->pixdim[i + 1] = v->pix[i];
	nim->dx = nim->pixdim[1];
	nim->dy = nim->pixdim[2];
	nim->dz = nim->pixdim[3];
	nim->sform_code = 1;
	memset(&nim->sto_xyz, 0, sizeof(nim->sto_xyz));
	nim->sto_xyz.m[0][0] = (v->flip_x ? -1 : 1) * nim->dx;
	nim->sto_xyz.m[1][1] = nim->dy;
	nim->sto_xyz.m[2][2] = nim->dz;
	nim->sto_xyz.m[3][3] = 1;
	return nim;
}

/* Writes tmpdir/rel with niftilib (.nii.gz compressed); data holds nvox
 * voxels of v->dt, or NULL for zeros. */
static char *write_vol(const char *rel, const struct vol *v, const void *data)
{
	char *path = at(rel);
	nifti_image *nim = make_nim(v, data);

	cr_assert(nifti_set_filenames(nim, path, 0, 1) == 0, "%s", path);
	nifti_image_write(nim);
	nifti_image_free(nim);
	cr_assert(access(path, R_OK) == 0, "not written: %s", path);
	return path;
}

static const struct vol u8_8 = { 1, DT_UINT8, { 3, 8, 8, 8, 1, 1, 1, 1 }, { 0 }, false };
static const struct vol f32_8 = { 1, DT_FLOAT32, { 3, 8, 8, 8, 1, 1, 1, 1 }, { 0 }, false };

/* A uint8 8x8x8 label: 1 in a slab, value at (x, y, z) for the cube
 * [x0..x1] x [y0..y1] x [z0..z1]. */
static void u8_label(uint8_t *v, int x0, int x1, int y0, int y1, int z0, int z1, uint8_t value)
{
	int x, y, z;

	memset(v, 0, 512);
	for (x = 0; x < 8; x++)
		v[x + 8 * 0 + 64 * 0] = 1;
	for (z = z0; z <= z1; z++)
		for (y = y0; y <= y1; y++)
			for (x = x0; x <= x1; x++)
				v[x + 8 * y + 64 * z] = value;
}

/* An nnU-Net raw dataset in tmpdir/ds: dataset.json with labels (JSON) and
 * nch channels; cases are written by the test. */
static char *raw_dataset(const char *labels, int nch, int ncases)
{
	char *json, *dir = at("ds"), *chans = xstrdup(""), *t;
	int i;

	mkdirs("ds/imagesTr");
	mkdirs("ds/labelsTr");
	for (i = 0; i < nch; i++) {
		t = cb_fmt("%s%s\"%d\": \"CT\"", chans, i ? ", " : "", i);
		free(chans);
		chans = t;
	}
	json = cb_fmt("{\"channel_names\": {%s}, \"labels\": %s, \"numTraining\": %d, "
		   "\"file_ending\": \".nii.gz\"%s}\n", chans, labels, ncases,
		   strstr(labels, "[") ? ", \"regions_class_order\": [1, 2]" : "");
	free(write_file(dir, "dataset.json", json));
	free(json);
	free(chans);
	return dir;
}

/* Case id of the raw dataset: label (uint8 8x8x8 unless lab given) and one
 * float32 image per channel. */
static void raw_case(const char *id, const struct vol *lab, const void *labdata, int nch,
		     const struct vol *img)
{
	char *p;
	int k;

	p = cb_fmt("ds/labelsTr/%s.nii.gz", id);
	free(write_vol(p, lab ? lab : &u8_8, labdata));
	free(p);
	for (k = 0; k < nch; k++) {
		p = cb_fmt("ds/imagesTr/%s_%04d.nii.gz", id, k);
		free(write_vol(p, img ? img : &f32_8, NULL));
		free(p);
	}
}

struct audited {
	struct dataset ds;
	struct aud_result r;
};

static void audit_path(struct audited *a, const char *path, const struct aud_options *o)
{
	struct aud_options none = { 0 };
	char err[512];

	cr_assert(ds_load(&a->ds, path, NULL, err, sizeof(err)) == 0, "ds_load: %s", err);
	cr_assert(aud_run(&a->ds, o ? o : &none, &a->r, err, sizeof(err)) == 0, "aud_run: %s", err);
}

static void audited_release(struct audited *a)
{
	aud_result_release(&a->r);
	ds_release(&a->ds);
}

static size_t case_index(const struct audited *a, const char *id)
{
	size_t i;

	for (i = 0; i < a->r.ncases; i++)
		if (strcmp(a->r.cases[i].id, id) == 0)
			return i;
	cr_assert_fail("no case %s", id);
	return 0;
}

/* The finding of the given kind of case id (the first one), or NULL. */
static const struct aud_finding *find(const struct audited *a, const char *id, enum aud_kind k)
{
	const struct aud_case *c = &a->r.cases[case_index(a, id)];
	size_t i;

	for (i = 0; i < c->nfindings; i++)
		if (c->findings[i].kind == k)
			return &c->findings[i];
	return NULL;
}

static const struct aud_finding *must_find(const struct audited *a, const char *id,
					   enum aud_kind k, enum aud_severity s)
{
	const struct aud_finding *f = find(a, id, k);
	const struct aud_case *c = &a->r.cases[case_index(a, id)];

	cr_assert(f, "case %s: no %s finding (it has %zu: %s)", id, aud_kind_name(k),
		  c->nfindings, c->nfindings ? c->findings[0].detail : "");
	cr_assert_eq(f->severity, s, "case %s %s: severity %s, expected %s (%s)", id,
		     aud_kind_name(k), aud_severity_name(f->severity), aud_severity_name(s),
		     f->detail);
	return f;
}

static void assert_clean(const struct audited *a, const char *id)
{
	const struct aud_case *c = &a->r.cases[case_index(a, id)];

	cr_assert(aud_case_clean(&a->r, case_index(a, id)), "case %s not clean: %zu findings, %s",
		  id, c->nfindings, c->nfindings ? c->findings[0].detail : c->skip_reason);
}

/* ---- value findings ---- */

Test(audit, uint8_crash_with_count_and_bbox)
{
	uint8_t v[512];
	const struct aud_finding *f;
	struct audited a;
	char *dir = raw_dataset("{\"background\": 0, \"a\": 1, \"b\": 2}", 1, 2);

	u8_label(v, 2, 3, 4, 5, 6, 6, 2);
	raw_case("good", NULL, v, 1, NULL);
	u8_label(v, 2, 3, 4, 5, 6, 6, 5);
	raw_case("bad", NULL, v, 1, NULL);
	audit_path(&a, dir, NULL);
	assert_clean(&a, "good");
	f = must_find(&a, "bad", AUD_K_UNDECLARED, AUD_CRASH);
	cr_assert(aud_case_crashes(&a.r, case_index(&a, "bad")));
	cr_assert(!aud_case_crashes(&a.r, case_index(&a, "good")));
	cr_assert_eq(f->value, 5);
	cr_assert_eq(f->voxels, 4);
	cr_assert(f->has_bbox);
	cr_assert(f->lo[0] == 2 && f->hi[0] == 3 && f->lo[1] == 4 && f->hi[1] == 5 &&
		  f->lo[2] == 6 && f->hi[2] == 6, "bbox %ld..%ld %ld..%ld %ld..%ld", (long)f->lo[0],
		  (long)f->hi[0], (long)f->lo[1], (long)f->hi[1], (long)f->lo[2], (long)f->hi[2]);
	cr_assert_eq(a.r.findings[AUD_CRASH], 1);
	cr_assert_eq(a.r.cases_read, 2);
	cr_assert_eq(a.r.ndeclared, 3);
	audited_release(&a);
	free(dir);
}

Test(audit, int16_minus_one_silent_ignore_declared_and_crash)
{
	struct vol v16 = u8_8;
	int16_t v[512] = { 0 };
	struct audited a;
	char *dir = raw_dataset("{\"background\": 0, \"a\": 1, \"ignore\": 2}", 1, 3);

	v16.dt = DT_INT16;
	v[0] = 1;
	v[1] = 2; /* the ignore label: fine */
	raw_case("ignore_ok", &v16, v, 1, NULL);
	v[5] = -1;
	raw_case("minus_one", &v16, v, 1, NULL);
	v[5] = 0;
	v[7] = 3;
	v[8] = -5;
	raw_case("crash", &v16, v, 1, NULL);
	audit_path(&a, dir, NULL);
	assert_clean(&a, "ignore_ok");
	must_find(&a, "minus_one", AUD_K_MINUS_ONE, AUD_SILENT);
	cr_assert(!aud_case_crashes(&a.r, case_index(&a, "minus_one")));
	must_find(&a, "crash", AUD_K_UNDECLARED, AUD_CRASH);
	cr_assert_eq(a.r.cases[case_index(&a, "crash")].nfindings, 2, "3 and -5 both");
	cr_assert(a.r.has_ignore && a.r.ignore == 2);
	audited_release(&a);
	free(dir);
}

Test(audit, uint16_wrap_to_minus_one_is_silent_other_wraps_crash)
{
	struct vol v16 = u8_8;
	uint16_t v[512] = { 0 };
	const struct aud_finding *f;
	struct audited a;
	char *dir = raw_dataset("{\"background\": 0, \"a\": 1}", 1, 2);

	v16.dt = DT_UINT16;
	v[3] = 1;
	v[10] = 65535;
	raw_case("wrap_silent", &v16, v, 1, NULL);
	v[10] = 40000;
	raw_case("wrap_crash", &v16, v, 1, NULL);
	audit_path(&a, dir, NULL);
	f = must_find(&a, "wrap_silent", AUD_K_WRAP, AUD_SILENT);
	cr_assert(strstr(f->detail, "stored as -1"), "%s", f->detail);
	f = must_find(&a, "wrap_crash", AUD_K_WRAP, AUD_CRASH);
	cr_assert(strstr(f->detail, "stored as -25536"), "%s", f->detail);
	audited_release(&a);
	free(dir);
}

Test(audit, float32_non_integer_and_nan)
{
	float v[512] = { 0 };
	struct audited a;
	char *dir = raw_dataset("{\"background\": 0, \"a\": 1}", 1, 3);

	v[1] = 1;
	v[2] = 1.5f; /* truncates to 1: silent */
	raw_case("half", &f32_8, v, 1, NULL);
	v[2] = 2.7f; /* truncates to 2: crash */
	raw_case("crash", &f32_8, v, 1, NULL);
	v[2] = NAN;
	raw_case("nan", &f32_8, v, 1, NULL);
	audit_path(&a, dir, NULL);
	must_find(&a, "half", AUD_K_NON_INTEGER, AUD_SILENT);
	must_find(&a, "crash", AUD_K_NON_INTEGER, AUD_CRASH);
	must_find(&a, "nan", AUD_K_NOT_FINITE, AUD_SILENT);
	audited_release(&a);
	free(dir);
}

Test(audit, region_based_undeclared_is_silent)
{
	uint8_t v[512];
	struct audited a;
	char *dir = raw_dataset("{\"background\": 0, \"whole\": [1, 2], \"core\": 2}", 1, 1);

	u8_label(v, 0, 1, 0, 1, 0, 1, 7);
	raw_case("r", NULL, v, 1, NULL);
	audit_path(&a, dir, NULL);
	cr_assert_eq(a.r.mode, AUD_MODE_REGIONS);
	must_find(&a, "r", AUD_K_REGION_UNDECLARED, AUD_SILENT);
	cr_assert_eq(a.r.findings[AUD_CRASH], 0);
	audited_release(&a);
	free(dir);
}

Test(audit, two_d_and_nifti2_and_plain_nii)
{
	struct vol l2 = { 1, DT_UINT8, { 2, 16, 12, 1, 1, 1, 1, 1 }, { 0 }, false };
	struct vol i2 = { 1, DT_FLOAT32, { 2, 16, 12, 1, 1, 1, 1, 1 }, { 0 }, false };
	struct vol n2 = { 2, DT_UINT8, { 3, 8, 8, 8, 1, 1, 1, 1 }, { 0 }, false };
	uint8_t v[512] = { 0 };
	const struct aud_finding *f;
	struct audited a;
	char *list;

	mkdirs("l");
	v[16 * 11 + 15] = 9; /* the last pixel */
	free(write_vol("l/flat_lab.nii", &l2, v));
	free(write_vol("l/flat_img.nii", &i2, NULL));
	memset(v, 0, sizeof(v));
	v[511] = 3;
	free(write_vol("l/n2_lab.nii.gz", &n2, v));
	n2.dt = DT_FLOAT32;
	free(write_vol("l/n2_img.nii.gz", &n2, NULL));
	list = cb_fmt("flat\t%s/l/flat_img.nii\t%s/l/flat_lab.nii\n"
		   "n2\t%s/l/n2_img.nii.gz\t%s/l/n2_lab.nii.gz\n", tmpdir, tmpdir, tmpdir, tmpdir);
	free(write_file(tmpdir, "cases.txt", list));
	free(list);
	list = at("cases.txt");
	{
		struct aud_options o = { .labels = "0,1" };

		audit_path(&a, list, &o);
	}
	f = must_find(&a, "flat", AUD_K_UNDECLARED, AUD_CRASH);
	cr_assert(f->lo[0] == 15 && f->lo[1] == 11 && f->lo[2] == 0, "2D bbox");
	f = must_find(&a, "n2", AUD_K_UNDECLARED, AUD_CRASH);
	cr_assert(f->value == 3 && f->lo[0] == 7 && f->lo[1] == 7 && f->lo[2] == 7);
	cr_assert_null(find(&a, "n2", AUD_K_SHAPE));
	cr_assert_eq(a.r.mode, AUD_MODE_LIST);
	audited_release(&a);
	free(list);
}

/* ---- geometry ---- */

Test(audit, geometry_shape_spacing_orientation_channels)
{
	struct vol big = f32_8, sp = f32_8, fl = f32_8, four = f32_8;
	struct audited a;
	char *dir = raw_dataset("{\"background\": 0, \"a\": 1}", 2, 5);

	raw_case("ok", NULL, NULL, 2, NULL); /* two channels, all alike */
	big.d[3] = 9;
	raw_case("shape", NULL, NULL, 2, &big);
	sp.pix[2] = 2.5f;
	raw_case("spacing", NULL, NULL, 2, &sp);
	fl.flip_x = true;
	raw_case("orient", NULL, NULL, 2, &fl);
	/* channel 0 is 4D with 2 volumes: 3 channels in all */
	raw_case("chans", NULL, NULL, 2, NULL);
	four.d[0] = 4;
	four.d[4] = 2;
	free(write_vol("ds/imagesTr/chans_0000.nii.gz", &four, NULL));
	audit_path(&a, dir, NULL);
	assert_clean(&a, "ok");
	must_find(&a, "shape", AUD_K_SHAPE, AUD_GEOMETRY);
	must_find(&a, "spacing", AUD_K_SPACING, AUD_GEOMETRY);
	must_find(&a, "orient", AUD_K_ORIENTATION, AUD_GEOMETRY);
	must_find(&a, "chans", AUD_K_CHANNELS, AUD_GEOMETRY);
	cr_assert_eq(a.r.findings[AUD_CRASH] + a.r.findings[AUD_UNREADABLE], 0);
	cr_assert_eq(a.r.findings[AUD_GEOMETRY], 2 * 3 + 1, "two channels each, and chans");
	audited_release(&a);
	free(dir);
}

Test(audit, images_nan_and_inf)
{
	float img[512] = { 0 };
	struct aud_options o = { .images = true };
	const struct aud_finding *f;
	struct audited a;
	char *dir = raw_dataset("{\"background\": 0, \"a\": 1}", 1, 1);

	raw_case("n", NULL, NULL, 1, NULL);
	img[3] = NAN;
	img[4] = NAN;
	img[9] = INFINITY;
	free(write_vol("ds/imagesTr/n_0000.nii.gz", &f32_8, img));
	audit_path(&a, dir, NULL);
	assert_clean(&a, "n"); /* images are not read without --images */
	audited_release(&a);
	audit_path(&a, dir, &o);
	f = must_find(&a, "n", AUD_K_IMAGE_NAN, AUD_SILENT);
	cr_assert_eq(f->voxels, 2);
	f = must_find(&a, "n", AUD_K_IMAGE_INF, AUD_SILENT);
	cr_assert_eq(f->voxels, 1);
	audited_release(&a);
	free(dir);
}

/* ---- unreadable files ---- */

/* Writes a NIfTI-1 (or -2) header of v, changed by edit, and then
 * `data` bytes of zeros, to tmpdir/rel (gzip'd when rel ends in .gz). */
static void write_raw(const char *rel, const struct vol *v, void (*edit)(void *hdr),
		      size_t data)
{
	nifti_image *nim = make_nim(v, NULL);
	char *path = at(rel);
	unsigned char hdr[544] = { 0 }, zero[4096] = { 0 };
	size_t hsize = v->version == 2 ? 540 : 348, n;
	bool gz = strstr(rel, ".gz") != NULL;
	gzFile g = NULL;
	FILE *f = NULL;

	if (v->version == 2)
		cr_assert(nifti_convert_nim2n2hdr(nim, (nifti_2_header *)(void *)hdr) == 0);
	else
		cr_assert(nifti_convert_nim2n1hdr(nim, (nifti_1_header *)(void *)hdr) == 0);
	nifti_image_free(nim);
	if (v->version == 2) {
		((nifti_2_header *)(void *)hdr)->vox_offset = 544;
		memcpy(((nifti_2_header *)(void *)hdr)->magic, "n+2\0\r\n\032\n", 8);
	} else {
		((nifti_1_header *)(void *)hdr)->vox_offset = 352;
		memcpy(((nifti_1_header *)(void *)hdr)->magic, "n+1", 4);
	}
	if (edit)
		edit(hdr);
	if (gz) {
		g = gzopen(path, "wb");
		cr_assert(g);
		cr_assert(gzwrite(g, hdr, (unsigned)(hsize + 4)) == (int)(hsize + 4));
	} else {
		f = fopen(path, "wb");
		cr_assert(f);
		cr_assert(fwrite(hdr, 1, hsize + 4, f) == hsize + 4);
	}
	while (data) {
		n = data < sizeof(zero) ? data : sizeof(zero);
		if (gz)
			cr_assert(gzwrite(g, zero, (unsigned)n) == (int)n);
		else
			cr_assert(fwrite(zero, 1, n, f) == n);
		data -= n;
	}
	if (gz)
		cr_assert(gzclose(g) == Z_OK);
	else
		cr_assert(fclose(f) == 0);
	free(path);
}

static void dim0_zero(void *h) { ((nifti_1_header *)h)->dim[0] = 0; }
static void dim2_zero(void *h) { ((nifti_1_header *)h)->dim[2] = 0; }
static void dims_32767(void *h)
{
	nifti_1_header *n = h;

	n->dim[1] = n->dim[2] = n->dim[3] = 32767;
}
static void dims_2p31(void *h)
{
	nifti_2_header *n = h;

	n->dim[1] = n->dim[2] = n->dim[3] = (int64_t)1 << 31;
}
static void offset_far(void *h) { ((nifti_1_header *)h)->vox_offset = 1e6f; }
static void bad_magic(void *h) { memcpy(((nifti_1_header *)h)->magic, "xyz", 4); }
static void complex_type(void *h)
{
	((nifti_1_header *)h)->datatype = DT_COMPLEX64;
	((nifti_1_header *)h)->bitpix = 64;
}

/* Truncates tmpdir/rel to n bytes (n < 0: to its size + n). */
static void cut(const char *rel, long n)
{
	char *p = at(rel);
	struct stat st;

	cr_assert(stat(p, &st) == 0);
	cr_assert(truncate(p, n < 0 ? st.st_size + n : n) == 0);
	free(p);
}

Test(audit, unreadable_files_each_give_their_finding)
{
	static const struct {
		const char *id;
		enum aud_kind kind;
		const char *text;
	} want[] = {
		{ "dim0", AUD_K_BAD_HEADER, "dim[0] is 0" },
		{ "dim2", AUD_K_BAD_HEADER, "dim[2] is 0" },
		{ "huge1", AUD_K_BAD_HEADER, "32767x32767x32767" },
		{ "huge1gz", AUD_K_BAD_HEADER, "absurd" },
		{ "huge2", AUD_K_BAD_HEADER, "2147483648" },
		{ "far", AUD_K_BAD_HEADER, "past the end of the file" },
		{ "fargz", AUD_K_BAD_HEADER, "past the end of the data" },
		{ "magic", AUD_K_BAD_HEADER, "magic" },
		{ "cplx", AUD_K_BAD_HEADER, "cannot hold labels" },
		{ "short", AUD_K_TRUNCATED, "the header needs" },
		{ "trunc", AUD_K_TRUNCATED, "truncated" },
		{ "hdrcut", AUD_K_TRUNCATED, "header is" },
		{ "empty", AUD_K_TRUNCATED, "empty file" },
		{ "corrupt", AUD_K_CORRUPT, "corrupt gzip" },
		{ "notgz", AUD_K_BAD_HEADER, "not NIfTI" },
	};
	struct vol n2 = u8_8, big = { 1, DT_UINT8, { 3, 64, 64, 64, 1, 1, 1, 1 }, { 0 }, false };
	uint8_t *noise = xmalloc(64 * 64 * 64);
	char *list = xstrdup(""), *t, *path;
	struct audited a;
	size_t i;
	uint32_t x = 12345;

	n2.version = 2;
	mkdirs("u");
	write_raw("u/dim0.nii", &u8_8, dim0_zero, 512);
	write_raw("u/dim2.nii", &u8_8, dim2_zero, 512);
	write_raw("u/huge1.nii", &u8_8, dims_32767, 512);
	write_raw("u/huge1gz.nii.gz", &u8_8, dims_32767, 1 << 20);
	write_raw("u/huge2.nii.gz", &n2, dims_2p31, 512);
	write_raw("u/far.nii", &u8_8, offset_far, 512);
	write_raw("u/fargz.nii.gz", &u8_8, offset_far, 512);
	write_raw("u/magic.nii", &u8_8, bad_magic, 512);
	write_raw("u/cplx.nii", &u8_8, complex_type, 512 * 8);
	write_raw("u/short.nii", &u8_8, NULL, 100);
	/* random voxels compress badly: a cut stream ends inside the data */
	for (i = 0; i < 64 * 64 * 64; i++) {
		x = x * 1103515245u + 12345u;
		noise[i] = (uint8_t)(x >> 24) % 3;
	}
	free(write_vol("u/trunc.nii.gz", &big, noise));
	cut("u/trunc.nii.gz", -20000);
	free(write_vol("u/hdrcut.nii", &u8_8, NULL));
	cut("u/hdrcut.nii", 200);
	free(write_file(tmpdir, "u/empty.nii", ""));
	free(write_vol("u/corrupt.nii.gz", &big, noise));
	{
		/* flip bytes in the middle of the deflate stream */
		char *p = at("u/corrupt.nii.gz");
		int fd = open(p, O_RDWR);
		unsigned char junk[64];

		cr_assert(fd >= 0);
		memset(junk, 0xA5, sizeof(junk));
		cr_assert(pwrite(fd, junk, sizeof(junk), 20000) == (ssize_t)sizeof(junk));
		close(fd);
		free(p);
	}
	free(write_vol("u/notgz.nii.gz", &u8_8, NULL));
	path = at("u/notgz.nii.gz");
	t = at("u/notgz.nii");
	cr_assert(rename(path, t) == 0);
	free(path);
	free(t);
	/* a case's last file is its label */
	for (i = 0; i < CB_ARRAY_SIZE(want); i++) {
		const char *id = want[i].id;
		bool gz = strcmp(id, "huge1gz") == 0 || strcmp(id, "huge2") == 0 ||
			  strcmp(id, "fargz") == 0 || strcmp(id, "trunc") == 0 ||
			  strcmp(id, "corrupt") == 0;

		t = cb_fmt("%s%s\t%s/img.nii\t%s/u/%s%s\n", list, id, tmpdir, tmpdir, id,
			gz ? ".nii.gz" : ".nii");
		free(list);
		list = t;
	}
	free(write_vol("img.nii", &f32_8, NULL));
	free(write_file(tmpdir, "cases.txt", list));
	free(list);
	path = at("cases.txt");
	{
		struct aud_options o = { .labels = "0,1,2", .jobs = 3 };

		audit_path(&a, path, &o);
	}
	for (i = 0; i < CB_ARRAY_SIZE(want); i++) {
		const struct aud_finding *f = must_find(&a, want[i].id, want[i].kind, AUD_UNREADABLE);

		cr_assert(strstr(f->detail, want[i].text), "%s: '%s' lacks '%s'", want[i].id,
			  f->detail, want[i].text);
		cr_assert_eq(f->file, 0, "the label is file 0");
		cr_assert_eq(a.r.cases[case_index(&a, want[i].id)].nvalues, 0);
	}
	cr_assert_eq(a.r.findings[AUD_UNREADABLE], CB_ARRAY_SIZE(want));
	audited_release(&a);
	free(path);
	free(noise);
}

/* A header claiming 32767^3 voxels of a label in a .nii.gz whose data go on
 * for a while: refused from the header, nothing read past it. */
Test(audit, lying_header_reads_nothing)
{
	struct audited a;
	char *path;
	const struct aud_case *c;

	mkdirs("u");
	write_raw("u/lie.nii.gz", &u8_8, dims_32767, 8 << 20);
	free(write_vol("img.nii", &f32_8, NULL));
	path = cb_fmt("lie\t%s/img.nii\t%s/u/lie.nii.gz\n", tmpdir, tmpdir);
	free(write_file(tmpdir, "c.txt", path));
	free(path);
	path = at("c.txt");
	{
		struct aud_options o = { .labels = "0,1" };

		audit_path(&a, path, &o);
	}
	c = &a.r.cases[0];
	must_find(&a, "lie", AUD_K_BAD_HEADER, AUD_UNREADABLE);
	cr_assert(c->bytes < 64 << 10, "read %lu bytes", (unsigned long)c->bytes);
	audited_release(&a);
	free(path);
}

/* ---- memory stays bounded: a 192 MiB volume, read by the binary ---- */

Test(audit, memory_bounded_on_a_large_volume)
{
	struct vol v = { 1, DT_UINT8, { 3, 512, 512, 768, 1, 1, 1, 1 }, { 0 }, false };
	struct rusage ru;
	char *dir = raw_dataset("{\"background\": 0, \"a\": 1}", 1, 1);
	char *args[4];
	int pid, status, devnull;

	(void)dir;
	write_raw("ds/labelsTr/big.nii.gz", &v, NULL, (size_t)512 * 512 * 768);
	write_raw("ds/imagesTr/big_0000.nii.gz", &f32_8, NULL, 512 * 4);
	args[0] = (char *)bin();
	args[1] = (char *)"audit";
	args[2] = dir;
	args[3] = NULL;
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 1);
		execv(args[0], args);
		_exit(127);
	}
	cr_assert(wait4(pid, &status, 0, &ru) == pid);
	cr_assert(WIFEXITED(status), "the audit died");
	/* shape mismatch only (the image is 8^3): geometry, exit 0 */
	cr_assert_eq(WEXITSTATUS(status), 0);
	cr_assert(ru.ru_maxrss < 120 * 1024, "peak RSS %ld KiB for a 192 MiB volume",
		  ru.ru_maxrss);
	free(dir);
}

/* ---- no declared set: histograms and the majority ---- */

static char *list_dataset(int n, int bad_case, uint8_t bad_value)
{
	char *list = xstrdup(""), *t;
	uint8_t v[512];
	int i;

	mkdirs("h");
	for (i = 0; i < n; i++) {
		char *lab = cb_fmt("h/c%02d.nii.gz", i), *img = cb_fmt("h/c%02d_0000.nii.gz", i);

		u8_label(v, 2, 3, 2, 3, 2, 3, i == bad_case ? bad_value : 2);
		free(write_vol(lab, &u8_8, v));
		free(write_vol(img, &f32_8, NULL));
		t = cb_fmt("%sc%02d\t%s/%s\t%s/%s\n", list, i, tmpdir, img, tmpdir, lab);
		free(list);
		list = t;
		free(lab);
		free(img);
	}
	free(write_file(tmpdir, "list.txt", list));
	free(list);
	return at("list.txt");
}

Test(audit, histogram_mode_flags_the_odd_case)
{
	struct audited a;
	char *path = list_dataset(12, 7, 255);
	const struct aud_finding *f;
	size_t i;

	audit_path(&a, path, NULL);
	cr_assert_eq(a.r.mode, AUD_MODE_HISTOGRAM);
	cr_assert_eq(a.r.ndeclared, 3, "inferred 0..2");
	f = must_find(&a, "c07", AUD_K_RARE_VALUE, AUD_CRASH);
	cr_assert_eq(f->value, 255);
	cr_assert(f->has_bbox && f->lo[0] == 2 && f->hi[2] == 3);
	for (i = 0; i < a.r.ncases; i++) {
		cr_assert_geq(a.r.cases[i].nvalues, 2, "every case has its histogram");
		if (i != 7)
			cr_assert(aud_case_clean(&a.r, i), "case %zu", i);
	}
	audited_release(&a);
	free(path);
}

/* ---- nnunet-pre: gt_segmentations, else $nnUNet_raw ---- */

Test(audit, preprocessed_reads_gt_segmentations)
{
	uint8_t v[512];
	struct audited a;
	char *dir;
	int i;

	mkdirs("pre/Dataset501_Liver/nnUNetPlans_3d_fullres");
	mkdirs("pre/Dataset501_Liver/gt_segmentations");
	free(write_file(tmpdir, "pre/Dataset501_Liver/nnUNetPlans.json",
			"{\"dataset_name\": \"Dataset501_Liver\", \"plans_name\": \"nnUNetPlans\", "
			"\"configurations\": {\"3d_fullres\": {\"data_identifier\": "
			"\"nnUNetPlans_3d_fullres\", \"batch_size\": 2}}}\n"));
	free(write_file(tmpdir, "pre/Dataset501_Liver/dataset.json",
			"{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, "
			"\"liver\": 1}, \"numTraining\": 2, \"file_ending\": \".nii.gz\"}\n"));
	free(write_file(tmpdir, "pre/Dataset501_Liver/dataset_fingerprint.json", "{}\n"));
	for (i = 0; i < 2; i++) {
		char *p;

		p = cb_fmt("pre/Dataset501_Liver/nnUNetPlans_3d_fullres/liver_%d.b2nd", i);
		free(write_file(tmpdir, p, "x"));
		free(p);
		p = cb_fmt("pre/Dataset501_Liver/nnUNetPlans_3d_fullres/liver_%d_seg.b2nd", i);
		free(write_file(tmpdir, p, "x"));
		free(p);
		p = cb_fmt("pre/Dataset501_Liver/nnUNetPlans_3d_fullres/liver_%d.pkl", i);
		free(write_file(tmpdir, p, "x"));
		free(p);
		u8_label(v, 0, 0, 0, 0, 0, 0, i ? 4 : 1);
		p = cb_fmt("pre/Dataset501_Liver/gt_segmentations/liver_%d.nii.gz", i);
		free(write_vol(p, &u8_8, v));
		free(p);
	}
	dir = at("pre/Dataset501_Liver");
	audit_path(&a, dir, NULL);
	assert_clean(&a, "liver_0");
	must_find(&a, "liver_1", AUD_K_UNDECLARED, AUD_CRASH);
	cr_assert(strstr(a.r.cases[1].files[0], "gt_segmentations/liver_1.nii.gz"));
	audited_release(&a);
	free(dir);
}

/* ---- the command ---- */

Test(audit, cli_table_summary_and_exit_status)
{
	struct run r;
	char *bad = mkcases_in("bad", 8, (const char *const[]){ "case_004=255", NULL });
	char *good = mkcases_in("good", 4, NULL);
	char *line;

	run(&r, "audit", bad);
	cr_assert_eq(r.code, 1, "stderr: %s", r.err);
	line = line_at(r.out, 1);
	cr_assert(starts_with(line, "case_004  crash"), "%s", r.out);
	cr_assert(strstr(line, "labelsTr/case_004.nii.gz") && strstr(line, "value 255"), "%s", line);
	free(line);
	cr_assert(strstr(r.out, "\naudit: 8 cases, 8 read, 16 files"), "%s", r.out);
	cr_assert(strstr(r.out, "findings: 1 crash, 0 unreadable, 0 geometry, 0 silent"), "%s",
		  r.out);
	run_release(&r);

	run(&r, "audit", good, "--jobs", "1");
	cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
	cr_assert_eq(count_lines(r.out), 1, "only the summary: %s", r.out);
	cr_assert(starts_with(r.out, "audit: 4 cases, 4 read"), "%s", r.out);
	run_release(&r);
	free(bad);
	free(good);
}

Test(audit, cli_json_shape)
{
	struct run r;
	char *bad = mkcases_in("bad", 6, (const char *const[]){ "case_002=7", NULL });
	cJSON *doc, *c, *f, *s;

	run(&r, "audit", "--json", bad);
	cr_assert_eq(r.code, 1, "stderr: %s", r.err);
	doc = cJSON_Parse(r.out);
	cr_assert(doc, "not JSON: %s", r.out);
	c = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "cases"), 0);
	cr_assert_str_eq(cJSON_GetObjectItem(c, "case")->valuestring, "case_002");
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(c, "files")), 2);
	f = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "findings"), 0);
	cr_assert_str_eq(cJSON_GetObjectItem(f, "severity")->valuestring, "crash");
	cr_assert_str_eq(cJSON_GetObjectItem(f, "kind")->valuestring, "undeclared");
	cr_assert(strstr(cJSON_GetObjectItem(f, "file")->valuestring, "labelsTr/case_002.nii.gz"));
	cr_assert(cJSON_IsString(cJSON_GetObjectItem(f, "detail")));
	cr_assert_eq(cJSON_GetObjectItem(f, "value")->valuedouble, 7);
	cr_assert(cJSON_GetObjectItem(f, "bbox"));
	s = cJSON_GetObjectItem(doc, "summary");
	cr_assert_eq(cJSON_GetObjectItem(s, "cases_read")->valuedouble, 6);
	cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "findings"), "crash")->valuedouble,
		     1);
	cJSON_Delete(doc);
	run_release(&r);
	run(&r, "audit", "--json", "--all", bad);
	doc = cJSON_Parse(r.out);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "cases")), 6);
	cJSON_Delete(doc);
	run_release(&r);
	free(bad);
}

Test(audit, cli_jobs_give_the_same_answer)
{
	struct run r1, r4;
	char *bad = mkcases_in("bad", 24, (const char *const[]){ "case_003=9", "case_017=200",
							      "case_020=65535", NULL });
	cJSON *a, *b;

	run(&r1, "audit", "--json", "--jobs", "1", bad);
	run(&r4, "audit", "--json", "--jobs", "4", bad);
	cr_assert_eq(r1.code, 1);
	cr_assert_eq(r4.code, 1);
	a = cJSON_Parse(r1.out);
	b = cJSON_Parse(r4.out);
	cr_assert(cJSON_Compare(cJSON_GetObjectItem(a, "cases"), cJSON_GetObjectItem(b, "cases"), 1));
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(a, "cases")), 3);
	cJSON_Delete(a);
	cJSON_Delete(b);
	run_release(&r1);
	run_release(&r4);
	free(bad);
}

Test(audit, cli_usage_errors_exit_2)
{
	struct run r;
	char *ds = mkcases_in("ds", 2, NULL), *missing = at("nope");

	run(&r, "audit");
	assert_usage_error(&r);
	run_release(&r);
	run(&r, "audit", "--jobs", "0", ds);
	assert_usage_error(&r);
	run_release(&r);
	run(&r, "audit", "--labels", "0,x", ds);
	assert_usage_error(&r);
	run_release(&r);
	run(&r, "audit", missing);
	cr_assert_eq(r.code, 2, "a dataset it cannot read: %s", r.err);
	cr_assert_eq(r.out_len, 0);
	run_release(&r);
	{
		char *ids = write_file(tmpdir, "ids.txt", "a\nb\n");

		run(&r, "audit", ids);
		cr_assert_eq(r.code, 2, "nothing to audit: %s", r.err);
		cr_assert(strstr(r.err, "nothing to audit"), "%s", r.err);
		run_release(&r);
		free(ids);
	}
	run(&r, "audit", "--help");
	cr_assert_eq(r.code, 0);
	cr_assert(strstr(r.out, "casebisect audit") && strstr(r.out, "mkcases"), "%s", r.out);
	run_release(&r);
	free(ds);
	free(missing);
}

/* ---- the other byte order ---- */

/* An int16 8x8x8 label written big-endian (header and voxels swapped), as
 * NIfTI-1 or NIfTI-2, with 300 at voxel (1, 2, 3). */
static void write_swapped(const char *rel, int version)
{
	struct vol v = u8_8;
	nifti_image *nim;
	unsigned char hdr[544] = { 0 };
	int16_t data[512] = { 0 };
	size_t hsize = version == 2 ? 540 : 348;
	char *path = at(rel);
	FILE *f;

	v.version = version;
	v.dt = DT_INT16;
	nim = make_nim(&v, NULL);
	if (version == 2) {
		cr_assert(nifti_convert_nim2n2hdr(nim, (nifti_2_header *)(void *)hdr) == 0);
		((nifti_2_header *)(void *)hdr)->vox_offset = 544;
		memcpy(((nifti_2_header *)(void *)hdr)->magic, "n+2\0\r\n\032\n", 8);
	} else {
		cr_assert(nifti_convert_nim2n1hdr(nim, (nifti_1_header *)(void *)hdr) == 0);
		((nifti_1_header *)(void *)hdr)->vox_offset = 352;
		memcpy(((nifti_1_header *)(void *)hdr)->magic, "n+1", 4);
	}
	nifti_image_free(nim);
	swap_nifti_header(hdr, version);
	data[1] = 1;
	data[1 + 8 * 2 + 64 * 3] = 300;
	nifti_swap_2bytes(512, data);
	f = fopen(path, "wb");
	cr_assert(f);
	cr_assert(fwrite(hdr, 1, hsize + 4, f) == hsize + 4);
	cr_assert(fwrite(data, 1, sizeof(data), f) == sizeof(data));
	cr_assert(fclose(f) == 0);
	free(path);
}

Test(audit, big_endian_files_nifti1_and_nifti2)
{
	struct aud_options o = { .labels = "0,1" };
	const struct aud_finding *f;
	struct audited a;
	char *list, *path;

	mkdirs("be");
	write_swapped("be/n1.nii", 1);
	write_swapped("be/n2.nii", 2);
	free(write_vol("be/img.nii", &f32_8, NULL));
	list = cb_fmt("n1\t%s/be/img.nii\t%s/be/n1.nii\nn2\t%s/be/img.nii\t%s/be/n2.nii\n", tmpdir,
		   tmpdir, tmpdir, tmpdir);
	free(write_file(tmpdir, "be.txt", list));
	free(list);
	path = at("be.txt");
	audit_path(&a, path, &o);
	f = must_find(&a, "n1", AUD_K_UNDECLARED, AUD_CRASH);
	cr_assert(f->value == 300 && f->voxels == 1 && f->lo[0] == 1 && f->lo[1] == 2 &&
		  f->lo[2] == 3, "%s", f->detail);
	f = must_find(&a, "n2", AUD_K_UNDECLARED, AUD_CRASH);
	cr_assert(f->value == 300 && f->lo[2] == 3, "%s", f->detail);
	cr_assert_eq(a.r.cases[0].nfindings, 1, "no geometry finding from the swapped header");
	cr_assert_eq(a.r.cases[1].nfindings, 1);
	audited_release(&a);
	free(path);
}

/* A Decathlon datalist declares its labels value -> name ({"0":
 * "background", ...}): one class per entry, so 7 is out of bounds. */
Test(audit, decathlon_labels_map_values_to_names)
{
	char *ds = mkcases_in("ds", 4, (const char *const[]){ "case_002=7", NULL });
	char *files, *text, *json;
	size_t i;
	struct run r;

	files = cb_fmt("%s/files.txt", ds);
	text = cb_read_file(files, NULL);
	cr_assert(text);
	json = xstrdup("{\"labels\": {\"0\": \"background\", \"1\": \"a\", \"2\": \"b\"}, \"training\": [");
	for (i = 0; i < 4; i++) {
		char *line = line_at(text, i), *tab = strchr(line, '\t'), *next;

		cr_assert(tab);
		*tab = '\0';
		next = cb_fmt("%s%s{\"image\": \"%s\", \"label\": \"%s\"}", json, i ? ", " : "", line,
			      tab + 1);
		free(json);
		json = next;
		free(line);
	}
	{
		char *next = cb_fmt("%s]}", json);

		free(json);
		json = next;
	}
	free(files);
	files = write_file(tmpdir, "datalist.json", json);
	run(&r, "audit", files);
	cr_assert_eq(r.code, 1, "%s\n%s", r.out, r.err);
	cr_assert(strstr(r.out, "case_002") && strstr(r.out, "value 7"), "%s", r.out);
	cr_assert(!strstr(r.out, "case_001"), "%s", r.out);
	run_release(&r);
	free(files);
	free(json);
	free(text);
	free(ds);
}
