/* synth: one de-identified NIfTI file (include/casebisect/synth.h): the
 * voxels replaced or reduced, the free text and extensions gone, the origin
 * at 0. niftilib reads and writes every byte.
 *
 * Design note: what is kept. The header is niftilib's own struct written
 * back, so every field it does not carry (db_name, data_type, the
 * extender's padding) is written blank, and the fields it carries are
 * cleared one by one below: the free text, the extensions, the origin.
 * Dims, datatype, spacing, scaling and orientation stay, since the crash
 * may depend on any of them (a label's datatype decides nnU-Net's int8 or
 * int16 cast; spacing decides the patch size). */
#include "casebisect/synth.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#undef DT_UNKNOWN /* <dirent.h>'s, not niftilib's */
#include <nifti2_io.h>

#include "casebisect/path.h"
#include "casebisect/util.h"

/* splitmix64: small, seeded, the same noise for the same seed. */
static uint64_t next_random(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool is_real_type(int dt)
{
	switch (dt) {
	case DT_UINT8: case DT_INT8: case DT_UINT16: case DT_INT16: case DT_UINT32:
	case DT_INT32: case DT_UINT64: case DT_INT64: case DT_FLOAT32: case DT_FLOAT64:
		return true;
	default:
		return false;
	}
}

static bool is_float_type(int dt)
{
	return dt == DT_FLOAT32 || dt == DT_FLOAT64;
}

/* Voxel i's stored value (before scaling); dt is_real_type(). */
static double get_voxel(const void *data, int dt, size_t i)
{
	switch (dt) {
	case DT_UINT8: return ((const uint8_t *)data)[i];
	case DT_INT8: return ((const int8_t *)data)[i];
	case DT_UINT16: return ((const uint16_t *)data)[i];
	case DT_INT16: return ((const int16_t *)data)[i];
	case DT_UINT32: return ((const uint32_t *)data)[i];
	case DT_INT32: return ((const int32_t *)data)[i];
	case DT_UINT64: return (double)((const uint64_t *)data)[i];
	case DT_INT64: return (double)((const int64_t *)data)[i];
	case DT_FLOAT32: return ((const float *)data)[i];
	default: return ((const double *)data)[i];
	}
}

/* Stores v (already in range: a small whole number for integer types). */
static void set_voxel(void *data, int dt, size_t i, double v)
{
	switch (dt) {
	case DT_UINT8: ((uint8_t *)data)[i] = (uint8_t)v; break;
	case DT_INT8: ((int8_t *)data)[i] = (int8_t)v; break;
	case DT_UINT16: ((uint16_t *)data)[i] = (uint16_t)v; break;
	case DT_INT16: ((int16_t *)data)[i] = (int16_t)v; break;
	case DT_UINT32: ((uint32_t *)data)[i] = (uint32_t)v; break;
	case DT_INT32: ((int32_t *)data)[i] = (int32_t)v; break;
	case DT_UINT64: ((uint64_t *)data)[i] = (uint64_t)v; break;
	case DT_INT64: ((int64_t *)data)[i] = (int64_t)v; break;
	case DT_FLOAT32: ((float *)data)[i] = (float)v; break;
	default: ((double *)data)[i] = v; break;
	}
}

/* Fills the image's voxels with noise: per value for the real types, per
 * component for complex ones, random bytes for RGB. */
static void fill_noise(nifti_image *nim, uint64_t seed)
{
	size_t n = (size_t)nim->nvox, i;
	uint64_t s = seed;

	switch (nim->datatype) {
	case DT_COMPLEX64:
		for (i = 0; i < 2 * n; i++)
			((float *)nim->data)[i] = (float)(next_random(&s) >> 11) * 0x1p-53f;
		return;
	case DT_COMPLEX128:
		for (i = 0; i < 2 * n; i++)
			((double *)nim->data)[i] = (double)(next_random(&s) >> 11) * 0x1p-53;
		return;
	case DT_FLOAT128:
	case DT_COMPLEX256:
		for (i = 0; i < (nim->datatype == DT_FLOAT128 ? n : 2 * n); i++)
			((long double *)nim->data)[i] = (long double)(next_random(&s) >> 11) * 0x1p-53L;
		return;
	default:
		break;
	}
	if (!is_real_type(nim->datatype)) {
		unsigned char *p = nim->data;

		for (i = 0; i < n * (size_t)nim->nbyper; i++)
			p[i] = (unsigned char)next_random(&s);
		return;
	}
	for (i = 0; i < n; i++) {
		uint64_t r = next_random(&s);

		set_voxel(nim->data, nim->datatype, i,
			  is_float_type(nim->datatype) ? (double)(r >> 11) * 0x1p-53 : (double)(r % 100));
	}
}

/* The value a stored value means (scl_slope 0 or not finite: none). */
static double scaled(const nifti_image *nim, double stored)
{
	if (nim->scl_slope == 0 || !isfinite(nim->scl_slope) || !isfinite(nim->scl_inter))
		return stored;
	return stored * nim->scl_slope + nim->scl_inter;
}

/* The stored value that means background (0 after scaling), when the
 * datatype holds it exactly; else 0. */
static double background(const nifti_image *nim)
{
	double b;

	if (scaled(nim, 1) == 1 && scaled(nim, 0) == 0)
		return 0;
	b = -nim->scl_inter / nim->scl_slope;
	if (!isfinite(b) || (!is_float_type(nim->datatype) && (b != floor(b) || b < 0 || b > 127)))
		return 0;
	return b;
}

static bool keeps(const struct synth_options *o, double v, const int64_t xyz[3])
{
	size_t k;
	int a;

	for (k = 0; k < o->nkeep; k++) {
		const struct synth_keep *kp = &o->keep[k];
		bool inside = true;

		if (isnan(kp->value) ? isfinite(v) : v != kp->value)
			continue;
		for (a = 0; kp->has_bbox && a < 3; a++)
			inside = inside && xyz[a] >= kp->lo[a] && xyz[a] <= kp->hi[a];
		if (inside)
			return true;
	}
	return false;
}

/* Background everywhere but the voxels o->keep names. */
static int reduce_label(nifti_image *nim, const struct synth_options *o, struct synth_stats *st,
			const char *src, char *err, size_t errlen)
{
	int64_t nx = nim->nx > 0 ? nim->nx : 1, ny = nim->ny > 0 ? nim->ny : 1;
	int64_t nz = nim->nz > 0 ? nim->nz : 1;
	size_t i, n = (size_t)nim->nvox;
	double bg = background(nim);

	if (!is_real_type(nim->datatype)) {
		cb_set_err(err, errlen, "%s: datatype %s holds no label", src,
			   nifti_datatype_string(nim->datatype));
		return -1;
	}
	for (i = 0; i < n; i++) {
		int64_t xyz[3] = { (int64_t)i % nx, ((int64_t)i / nx) % ny,
				   ((int64_t)i / nx / ny) % nz };

		if (keeps(o, scaled(nim, get_voxel(nim->data, nim->datatype, i)), xyz))
			st->kept++;
		else
			set_voxel(nim->data, nim->datatype, i, bg);
	}
	return 0;
}

static void clean_header(nifti_image *nim, bool keep_origin)
{
	int r;

	memset(nim->descrip, 0, sizeof(nim->descrip));
	memset(nim->aux_file, 0, sizeof(nim->aux_file));
	memset(nim->intent_name, 0, sizeof(nim->intent_name));
	nifti_free_extensions(nim);
	if (keep_origin)
		return;
	nim->qoffset_x = nim->qoffset_y = nim->qoffset_z = 0;
	for (r = 0; r < 3; r++) {
		nim->qto_xyz.m[r][3] = 0;
		nim->sto_xyz.m[r][3] = 0;
	}
	nim->qto_ijk = nifti_dmat44_inverse(nim->qto_xyz);
	nim->sto_ijk = nifti_dmat44_inverse(nim->sto_xyz);
}

/* Reads dst back: whole, and the shape and datatype written. */
static int check_written(const nifti_image *nim, const char *dst, char *err, size_t errlen)
{
	nifti_image *back = nifti_image_read(dst, 1);
	bool ok = back && back->data && back->nvox == nim->nvox &&
		  back->datatype == nim->datatype;

	if (back)
		nifti_image_free(back);
	if (ok)
		return 0;
	cb_set_err(err, errlen, "%s: cannot write (the file read back is not whole)", dst);
	return -1;
}

int synth_nifti(const char *src, const char *dst, const struct synth_options *o,
		struct synth_stats *st, char *err, size_t errlen)
{
	struct synth_stats scratch = { 0 };
	nifti_image *nim = NULL;
	int rc = -1;

	if (!st)
		st = &scratch;
	memset(st, 0, sizeof(*st));
	if (!path_is_nifti(src) || !path_is_nifti(dst)) {
		cb_set_err(err, errlen, "%s: not a .nii or .nii.gz file", path_is_nifti(src)
			   ? dst : src);
		return -1;
	}
	if (access(src, R_OK) < 0) {
		cb_set_err(err, errlen, "%s: cannot read: %s", src, strerror(errno));
		return -1;
	}
	nim = nifti_image_read(src, 1);
	if (!nim || !nim->data) {
		cb_set_err(err, errlen, "%s: cannot read as NIfTI", src);
		goto out;
	}
	st->voxels = (uint64_t)nim->nvox;
	if (o->flags & SYNTH_KEEP_VOXELS || (o->flags & SYNTH_LABEL && !o->nkeep))
		st->kept = st->voxels;
	else if (o->flags & SYNTH_LABEL) {
		if (reduce_label(nim, o, st, src, err, errlen) < 0)
			goto out;
	} else if (o->flags & SYNTH_ZEROS)
		memset(nim->data, 0, (size_t)nim->nvox * (size_t)nim->nbyper);
	else
		fill_noise(nim, o->seed);
	clean_header(nim, o->flags & SYNTH_KEEP_ORIGIN);
	/* One file, whatever src was: the name says .nii. */
	nim->nifti_type = nim->nifti_type == NIFTI_FTYPE_NIFTI2_1 ||
			  nim->nifti_type == NIFTI_FTYPE_NIFTI2_2 ? NIFTI_FTYPE_NIFTI2_1
								  : NIFTI_FTYPE_NIFTI1_1;
	if (nifti_set_filenames(nim, dst, 0, 1) != 0) {
		cb_set_err(err, errlen, "%s: niftilib refuses the name", dst);
		goto out;
	}
	unlink(dst);
	nifti_image_write(nim);
	rc = check_written(nim, dst, err, errlen);
out:
	if (nim)
		nifti_image_free(nim);
	return rc;
}
