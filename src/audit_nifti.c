/* audit_nifti: NIfTI headers read and judged by hand (both versions, both
 * byte orders), voxels streamed through znzlib; and aud_read_slices() for
 * the report's pictures. See src/audit_nifti.h. */
#include "audit_nifti.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <zlib.h>

_Static_assert(sizeof(nifti_1_header) == 348, "nifti_1_header is 348 bytes");
_Static_assert(sizeof(nifti_2_header) == 540, "nifti_2_header is 540 bytes");

/* An axis longer than this, or more voxel bytes than AUD_MAX_BYTES, is a
 * header that lies: no label map is that large. */
#define AUD_MAX_AXIS INT32_MAX
#define AUD_MAX_BYTES ((uint64_t)1 << 40)

int aud_problem(struct aud_problem *p, enum aud_kind kind, const char *fmt, ...)
{
	va_list ap;

	p->kind = kind;
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* stream: the voxels will be read, not only the header. */
int aud_nf_open(struct aud_nfile *f, const char *path, bool stream, struct aud_problem *p)
{
	struct stat st;
	size_t n = strlen(path);

	memset(f, 0, sizeof(*f));
	if (stat(path, &st) != 0)
		return aud_problem(p, AUD_K_OPEN, "cannot open: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return aud_problem(p, AUD_K_OPEN, "cannot read: not a regular file");
	f->size = (int64_t)st.st_size;
	f->gz = n > 3 && strcasecmp(path + n - 3, ".gz") == 0;
	f->fp = znzopen(path, "rb", f->gz);
	if (znz_isnull(f->fp))
		return aud_problem(p, AUD_K_OPEN, "cannot open: %s",
				   errno ? strerror(errno) : "out of memory");
	/* zlib's 8 KiB default costs a read() per 8 KiB; before any read. Not
	 * for a header alone: zlib inflates twice the buffer (and sums its CRC)
	 * on the first read, however few bytes were asked for, and 256 KiB of
	 * image per case cost the bench's audit 2-3%. */
	if (f->gz && stream)
		gzbuffer(f->fp->zfptr, 128u << 10);
	return 0;
}

void aud_nf_close(struct aud_nfile *f)
{
	if (!znz_isnull(f->fp))
		znzclose(f->fp);
}

/* Reads up to n bytes; *got is what came. A short read at a clean end of
 * file is no error (the caller knows how much it needed). */
int aud_nf_read(struct aud_nfile *f, void *buf, size_t n, size_t *got, struct aud_problem *p)
{
	size_t r;
	int zerr = Z_OK;
	const char *zmsg = NULL;

	*got = 0;
	errno = 0;
	r = znzread(buf, 1, n, f->fp);
	if (r > n) /* znzread passes gzread's -1 on as a size_t */
		r = 0;
	*got = r;
	f->pos += r;
	if (r == n)
		return 0;
	if (!f->gz)
		return ferror(f->fp->nzfptr) ? aud_problem(p, AUD_K_OPEN, "read error: %s",
							   strerror(errno ? errno : EIO))
					     : 0;
	zmsg = gzerror(f->fp->zfptr, &zerr);
	if (zerr == Z_OK || zerr == Z_STREAM_END)
		return 0;
	if (zerr == Z_BUF_ERROR)
		return aud_problem(p, AUD_K_TRUNCATED, "truncated: the gzip stream ends after %" PRIu64
				   " bytes", f->pos);
	if (zerr == Z_ERRNO)
		return aud_problem(p, AUD_K_OPEN, "read error: %s", strerror(errno ? errno : EIO));
	return aud_problem(p, AUD_K_CORRUPT, "corrupt gzip stream after %" PRIu64 " bytes: %s",
			   f->pos, zmsg ? zmsg : "error");
}

static int16_t get_i16(const void *p, bool s)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return (int16_t)aud_sw16(v, s);
}

static int32_t get_i32(const void *p, bool s)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return (int32_t)aud_sw32(v, s);
}

static int64_t get_i64(const void *p, bool s)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return (int64_t)aud_sw64(v, s);
}

static double get_f32(const void *p, bool s)
{
	uint32_t v = (uint32_t)get_i32(p, s);
	float f;

	memcpy(&f, &v, 4);
	return f;
}

static double get_f64(const void *p, bool s)
{
	uint64_t v = (uint64_t)get_i64(p, s);
	double d;

	memcpy(&d, &v, 8);
	return d;
}

/* Bytes per voxel of the datatypes a label can have; 0 for others. */
static int label_type_size(int dt)
{
	switch (dt) {
	case DT_UINT8: case DT_INT8: return 1;
	case DT_INT16: case DT_UINT16: return 2;
	case DT_INT32: case DT_UINT32: case DT_FLOAT32: return 4;
	case DT_INT64: case DT_UINT64: case DT_FLOAT64: return 8;
	default: return 0;
	}
}

static char orient_letter(int code)
{
	switch (code) {
	case NIFTI_L2R: return 'R';
	case NIFTI_R2L: return 'L';
	case NIFTI_P2A: return 'A';
	case NIFTI_A2P: return 'P';
	case NIFTI_I2S: return 'S';
	case NIFTI_S2I: return 'I';
	default: return '?';
	}
}

/* The axes' directions, from niftilib's reading of the sform / qform (it
 * swaps its own copy of the raw header). Unit columns; a zero column is
 * left as the axis itself. */
static void hdr_orientation(struct aud_hdr *h, const void *raw)
{
	nifti_image *nim;
	nifti_1_header h1;
	nifti_2_header h2;
	nifti_dmat44 m;
	int i, j, c[3];

	if (h->version == 1) {
		memcpy(&h1, raw, sizeof(h1));
		nim = nifti_convert_n1hdr2nim(h1, NULL);
	} else {
		memcpy(&h2, raw, sizeof(h2));
		nim = nifti_convert_n2hdr2nim(h2, NULL);
	}
	for (i = 0; i < 3; i++)
		for (j = 0; j < 3; j++)
			h->dir[i][j] = i == j;
	cb_strlcpy(h->orient, "RAS", sizeof(h->orient));
	if (!nim)
		return;
	if (nim->sform_code > 0)
		m = nim->sto_xyz;
	else if (nim->qform_code > 0)
		m = nim->qto_xyz;
	else
		m = nim->qto_xyz; /* niftilib's fallback: the pixdim diagonal */
	for (j = 0; j < 3; j++) {
		double norm = 0;

		for (i = 0; i < 3; i++)
			norm += m.m[i][j] * m.m[i][j];
		norm = sqrt(norm);
		if (norm > 0 && isfinite(norm))
			for (i = 0; i < 3; i++)
				h->dir[i][j] = m.m[i][j] / norm;
	}
	nifti_dmat44_to_orientation(m, &c[0], &c[1], &c[2]);
	for (i = 0; i < 3; i++)
		h->orient[i] = orient_letter(c[i]);
	h->orient[3] = '\0';
	nifti_image_free(nim);
}

const char *aud_human_bytes(uint64_t b, char *buf, size_t len)
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)b;
	size_t u = 0;

	while (v >= 1024 && u + 1 < CB_ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " bytes", b);
	else
		snprintf(buf, len, "%.3g %s", v, units[u]);
	return buf;
}

/*
 * Reads and judges the header of an open file, leaving the stream just
 * after it. label: the file must hold labels (an integer or float type).
 * Nothing is allocated from what the header claims.
 */
int aud_hdr_read(struct aud_nfile *f, struct aud_hdr *h, bool label, struct aud_problem *p)
{
	unsigned char raw[540];
	int32_t szh;
	size_t got;
	int i, nbyper = 0, swapsize;
	uint64_t nvox = 1;
	double vo;
	bool s;

	memset(h, 0, sizeof(*h));
	if (aud_nf_read(f, raw, 348, &got, p))
		return -1;
	if (!f->gz && got >= 2 && raw[0] == 0x1f && raw[1] == 0x8b)
		return aud_problem(p, AUD_K_BAD_HEADER, "not NIfTI: gzip data in a file not "
				   "named .gz");
	if (got < 348) {
		if (got == 0)
			return aud_problem(p, AUD_K_TRUNCATED, "empty file: no NIfTI header");
		return aud_problem(p, AUD_K_TRUNCATED, "truncated: the header is %zu of 348 bytes", got);
	}
	memcpy(&szh, raw, 4);
	if (szh == 348 || (int32_t)__builtin_bswap32((uint32_t)szh) == 348) {
		h->version = 1;
		h->swapped = szh != 348;
	} else if (szh == 540 || (int32_t)__builtin_bswap32((uint32_t)szh) == 540) {
		h->version = 2;
		h->swapped = szh != 540;
		if (aud_nf_read(f, raw + 348, 540 - 348, &got, p))
			return -1;
		if (got < 540 - 348)
			return aud_problem(p, AUD_K_TRUNCATED, "truncated: the NIfTI-2 header is %zu "
					   "of 540 bytes", 348 + got);
	} else {
		return aud_problem(p, AUD_K_BAD_HEADER, "not NIfTI: sizeof_hdr is %" PRId32
				   " (expected 348 or 540)", szh);
	}
	s = h->swapped;
	h->hdr_size = h->version == 1 ? 348 : 540;
	if (h->version == 1 ? memcmp(raw + 344, "n+1", 4) != 0
			    : memcmp(raw + 4, "n+2\0\r\n\032\n", 8) != 0)
		return aud_problem(p, AUD_K_BAD_HEADER, "bad header: no single-file NIfTI-%d magic "
				   "(\"%s\")", h->version, h->version == 1 ? "n+1" : "n+2");
	if (h->version == 1) {
		nifti_1_header *n1 = (nifti_1_header *)(void *)raw;

		h->ndim = get_i16(&n1->dim[0], s);
		for (i = 1; i <= 7; i++)
			h->dim[i] = get_i16(&n1->dim[i], s);
		h->datatype = get_i16(&n1->datatype, s);
		for (i = 1; i <= 3; i++)
			h->pixdim[i] = get_f32(&n1->pixdim[i], s);
		vo = get_f32(&n1->vox_offset, s);
		h->slope = get_f32(&n1->scl_slope, s);
		h->inter = get_f32(&n1->scl_inter, s);
		if (!isfinite(vo) || vo < 0 || vo > 9e18)
			return aud_problem(p, AUD_K_BAD_HEADER, "bad header: vox_offset is %g", vo);
		h->vox_offset = (int64_t)vo;
	} else {
		nifti_2_header *n2 = (nifti_2_header *)(void *)raw;
		int64_t d0 = get_i64(&n2->dim[0], s);

		h->ndim = d0 < 0 || d0 > 7 ? -1 : (int)d0;
		for (i = 1; i <= 7; i++)
			h->dim[i] = get_i64(&n2->dim[i], s);
		h->datatype = get_i16(&n2->datatype, s);
		for (i = 1; i <= 3; i++)
			h->pixdim[i] = get_f64(&n2->pixdim[i], s);
		h->vox_offset = get_i64(&n2->vox_offset, s);
		h->slope = get_f64(&n2->scl_slope, s);
		h->inter = get_f64(&n2->scl_inter, s);
		if (d0 < 0 || d0 > 7)
			return aud_problem(p, AUD_K_BAD_HEADER, "bad header: dim[0] is %" PRId64
					   " (must be 1..7)", d0);
	}
	if (h->ndim < 1 || h->ndim > 7)
		return aud_problem(p, AUD_K_BAD_HEADER, "bad header: dim[0] is %d (must be 1..7)",
				   h->ndim);
	for (i = 1; i <= 7; i++) {
		if (i > h->ndim) {
			h->dim[i] = 1;
			continue;
		}
		if (h->dim[i] <= 0)
			return aud_problem(p, AUD_K_BAD_HEADER, "bad header: dim[%d] is %" PRId64
					   " (not a positive size)", i, h->dim[i]);
		if (h->dim[i] > AUD_MAX_AXIS)
			return aud_problem(p, AUD_K_BAD_HEADER, "bad header: dim[%d] is %" PRId64
					   " (absurd: more than %d voxels on one axis)", i, h->dim[i],
					   AUD_MAX_AXIS);
	}
	if (label)
		nbyper = label_type_size(h->datatype);
	else
		nifti_datatype_sizes(h->datatype, &nbyper, &swapsize);
	if (nbyper <= 0)
		return aud_problem(p, AUD_K_BAD_HEADER, "bad header: datatype %d (%s) %s", h->datatype,
				   nifti_datatype_string(h->datatype),
				   label ? "cannot hold labels" : "is not a NIfTI type");
	h->nbyper = nbyper;
	for (i = 1; i <= h->ndim; i++) {
		if (nvox > AUD_MAX_BYTES / (uint64_t)h->dim[i]) {
			nvox = UINT64_MAX;
			break;
		}
		nvox *= (uint64_t)h->dim[i];
	}
	if (nvox == UINT64_MAX || nvox > AUD_MAX_BYTES / (uint64_t)nbyper) {
		char dims[160] = "";
		size_t n = 0;

		for (i = 1; i <= h->ndim && n < sizeof(dims); i++)
			n += (size_t)snprintf(dims + n, sizeof(dims) - n, "%s%" PRId64, i > 1 ? "x" : "",
					      h->dim[i]);
		return aud_problem(p, AUD_K_BAD_HEADER, "bad header: %s voxels of %d byte%s (absurd: "
				   "over 1 TiB)", dims, nbyper, nbyper == 1 ? "" : "s");
	}
	h->nvox = nvox;
	h->data_bytes = nvox * (uint64_t)nbyper;
	if (h->vox_offset < (int64_t)h->hdr_size)
		return aud_problem(p, AUD_K_BAD_HEADER, "bad header: vox_offset %" PRId64 " lies inside "
				   "the %zu-byte header", h->vox_offset, h->hdr_size);
	if (!f->gz && h->vox_offset > f->size)
		return aud_problem(p, AUD_K_BAD_HEADER, "bad header: vox_offset %" PRId64 " is past the "
				   "end of the file (%" PRId64 " bytes)", h->vox_offset, f->size);
	if (!f->gz && (uint64_t)h->vox_offset + h->data_bytes > (uint64_t)f->size) {
		char need[32], have[32];

		return aud_problem(p, AUD_K_TRUNCATED, "truncated: %s of voxel data, the header needs %s",
				   aud_human_bytes((uint64_t)(f->size - h->vox_offset), have, sizeof(have)),
				   aud_human_bytes(h->data_bytes, need, sizeof(need)));
	}
	for (i = 1; i <= 3; i++) {
		h->pixdim[i] = fabs(h->pixdim[i]);
		if (i > h->ndim || h->pixdim[i] == 0 || !isfinite(h->pixdim[i]))
			h->pixdim[i] = 1;
	}
	/* nibabel and SimpleITK apply the scaling; a slope of 0 (or NaN) means none. */
	h->scaled = isfinite(h->slope) && h->slope != 0 && isfinite(h->inter) &&
		    (h->slope != 1 || h->inter != 0);
	hdr_orientation(h, raw);
	return 0;
}

/* Moves the stream to vox_offset: seeks a plain file, reads through a gzip
 * one (into buf, of len bytes). */
int aud_nf_skip_to_data(struct aud_nfile *f, const struct aud_hdr *h, unsigned char *buf,
			size_t len, struct aud_problem *p)
{
	uint64_t want = (uint64_t)h->vox_offset;
	size_t got;

	if (!f->gz) {
		if (znzseek(f->fp, (znz_off_t)h->vox_offset, SEEK_SET) < 0)
			return aud_problem(p, AUD_K_OPEN, "cannot seek to vox_offset %" PRId64 ": %s",
					   h->vox_offset, strerror(errno));
		f->pos = want;
		return 0;
	}
	while (f->pos < want) {
		size_t n = want - f->pos < len ? (size_t)(want - f->pos) : len;

		if (aud_nf_read(f, buf, n, &got, p))
			return -1;
		if (got < n)
			return aud_problem(p, AUD_K_BAD_HEADER, "bad header: vox_offset %" PRId64 " is "
					   "past the end of the data (%" PRIu64 " bytes)", h->vox_offset,
					   f->pos);
	}
	return 0;
}

double aud_key_value(const struct aud_hdr *h, uint64_t key)
{
	double v;

	switch (h->datatype) {
	case DT_UINT8: v = (double)(uint8_t)key; break;
	case DT_INT8: v = (double)(int8_t)(uint8_t)key; break;
	case DT_UINT16: v = (double)(uint16_t)key; break;
	case DT_INT16: v = (double)(int16_t)(uint16_t)key; break;
	case DT_UINT32: v = (double)(uint32_t)key; break;
	case DT_INT32: v = (double)(int32_t)(uint32_t)key; break;
	case DT_UINT64: v = (double)key; break;
	case DT_INT64: v = (double)(int64_t)key; break;
	case DT_FLOAT32: {
		uint32_t b = (uint32_t)key;
		float f;

		memcpy(&f, &b, 4);
		v = f;
		break;
	}
	default: /* DT_FLOAT64 */
		memcpy(&v, &key, 8);
		break;
	}
	return h->scaled ? v * h->slope + h->inter : v;
}

uint64_t aud_load_key(const unsigned char *p, int nb)
{
	uint32_t u4;
	uint64_t u8;

	if (nb == 4) {
		memcpy(&u4, p, 4);
		return u4;
	}
	memcpy(&u8, p, 8);
	return u8;
}


void aud_swap_slab(unsigned char *p, size_t nvox, int nb)
{
	size_t j;

	for (j = 0; j < nvox; j++) {
		unsigned char *q = p + (size_t)nb * j;

		if (nb == 2) {
			uint16_t v;

			memcpy(&v, q, 2);
			v = __builtin_bswap16(v);
			memcpy(q, &v, 2);
		} else if (nb == 4) {
			uint32_t v;

			memcpy(&v, q, 4);
			v = __builtin_bswap32(v);
			memcpy(q, &v, 4);
		} else if (nb == 8) {
			uint64_t v;

			memcpy(&v, q, 8);
			v = __builtin_bswap64(v);
			memcpy(q, &v, 8);
		}
	}
}

/* ---- reading slices (for the report's pictures) ---- */

/* The largest slice aud_read_slices() holds: 2^26 voxels (512 MiB as
 * doubles); a header with more per slice is no label map to draw. */
#define AUD_MAX_SLICE ((uint64_t)1 << 26)

int aud_read_slices(const char *path, int (*fn)(void *ctx, const struct aud_slice *s), void *ctx,
		    char *err, size_t errlen)
{
	struct aud_nfile f;
	struct aud_hdr h;
	struct aud_problem p;
	struct aud_slice s;
	unsigned char *raw = NULL;
	double *plane = NULL;
	uint64_t per;
	size_t rawlen, got, j;
	int ret = -1;

	memset(&p, 0, sizeof(p));
	if (aud_nf_open(&f, path, true, &p))
		goto out;
	if (aud_hdr_read(&f, &h, true, &p))
		goto out;
	per = (uint64_t)h.dim[1] * (uint64_t)h.dim[2]; /* each <= 2^31: no overflow */
	if (per > AUD_MAX_SLICE) {
		aud_problem(&p, AUD_K_BAD_HEADER, "a slice of %" PRId64 "x%" PRId64 " voxels is too "
			    "large to draw", h.dim[1], h.dim[2]);
		goto out;
	}
	rawlen = (size_t)per * (size_t)h.nbyper;
	raw = xmalloc(rawlen > AUD_SLAB ? rawlen : AUD_SLAB);
	plane = xmalloc((size_t)per * sizeof(*plane));
	if (aud_nf_skip_to_data(&f, &h, raw, AUD_SLAB, &p))
		goto out;
	memset(&s, 0, sizeof(s));
	s.nx = h.dim[1];
	s.ny = h.dim[2];
	s.nz = h.dim[3];
	for (j = 0; j < 3; j++)
		s.pixdim[j] = h.pixdim[j + 1];
	s.v = plane;
	for (s.z = 0; s.z < s.nz; s.z++) {
		if (aud_nf_read(&f, raw, rawlen, &got, &p))
			goto out;
		if (got < rawlen) {
			aud_problem(&p, AUD_K_TRUNCATED, "truncated: the voxel data ends in slice %" PRId64,
				    s.z);
			goto out;
		}
		if (h.swapped && h.nbyper > 1)
			aud_swap_slab(raw, (size_t)per, h.nbyper);
		for (j = 0; j < (size_t)per; j++) {
			const unsigned char *q = raw + j * (size_t)h.nbyper;
			uint16_t u2;
			uint64_t key;

			if (h.nbyper == 1) {
				key = q[0];
			} else if (h.nbyper == 2) {
				memcpy(&u2, q, 2);
				key = u2;
			} else {
				key = aud_load_key(q, h.nbyper);
			}
			plane[j] = aud_key_value(&h, key);
		}
		if (fn(ctx, &s))
			break;
	}
	ret = 0;
out:
	if (ret)
		cb_set_err(err, errlen, "%s", p.msg);
	free(raw);
	free(plane);
	aud_nf_close(&f);
	return ret;
}
