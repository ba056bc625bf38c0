/* audit: label and geometry checks of NIfTI files with niftilib, streamed in
 * slabs on the libuv thread pool; the contract is in include/casebisect/audit.h. */

/* znzlib.h's struct znzptr has its gzFile member only under HAVE_ZLIB, and
 * Debian's libznz is built with it: define it so that the layout we see is
 * the library's (we read the gzFile for gzbuffer() and gzerror()). */
#define HAVE_ZLIB 1

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <uv.h>
#include <zlib.h>
/* uv.h brings <dirent.h>, whose DT_UNKNOWN (a file type) nifti1.h defines
 * again (a datatype); this file means niftilib's. */
#undef DT_UNKNOWN
#include <nifti2_io.h>

#include "casebisect/audit.h"
#include "casebisect/dataset.h"
#include "casebisect/json.h"
#include "casebisect/util.h"
#include "format.h"

_Static_assert(sizeof(nifti_1_header) == 348, "nifti_1_header is 348 bytes");
_Static_assert(sizeof(nifti_2_header) == 540, "nifti_2_header is 540 bytes");

/* An axis longer than this, or more voxel bytes than AUD_MAX_BYTES, is a
 * header that lies: no label map is that large. */
#define AUD_MAX_AXIS INT32_MAX
#define AUD_MAX_BYTES ((uint64_t)1 << 40)
/* Value findings listed one by one per (severity, kind) in a file; the rest
 * are summed into one. */
#define AUD_LIST_VALUES 8
/* Tolerances of the geometry checks. */
#define AUD_SPACING_RTOL 1e-5
#define AUD_SPACING_ATOL 1e-6
#define AUD_DIR_TOL 1e-3

static const char *const severity_names[AUD_NSEVERITIES] = {
	[AUD_CRASH] = "crash",
	[AUD_UNREADABLE] = "unreadable",
	[AUD_GEOMETRY] = "geometry",
	[AUD_SILENT] = "silent",
};

static const char *const kind_names[AUD_NKINDS] = {
	[AUD_K_UNDECLARED] = "undeclared",
	[AUD_K_RARE_VALUE] = "rare_value",
	[AUD_K_MINUS_ONE] = "minus_one",
	[AUD_K_WRAP] = "wrap",
	[AUD_K_NON_INTEGER] = "non_integer",
	[AUD_K_NOT_FINITE] = "not_finite",
	[AUD_K_REGION_UNDECLARED] = "region_undeclared",
	[AUD_K_TOO_MANY_VALUES] = "too_many_values",
	[AUD_K_SHAPE] = "shape",
	[AUD_K_SPACING] = "spacing",
	[AUD_K_ORIENTATION] = "orientation",
	[AUD_K_CHANNELS] = "channels",
	[AUD_K_IMAGE_NAN] = "image_nan",
	[AUD_K_IMAGE_INF] = "image_inf",
	[AUD_K_OPEN] = "open",
	[AUD_K_BAD_HEADER] = "bad_header",
	[AUD_K_TRUNCATED] = "truncated",
	[AUD_K_CORRUPT] = "corrupt",
};

const char *aud_severity_name(enum aud_severity s)
{
	assert((unsigned)s < AUD_NSEVERITIES);
	return severity_names[s];
}

const char *aud_kind_name(enum aud_kind k)
{
	assert((unsigned)k < AUD_NKINDS);
	return kind_names[k];
}

/* ---- the declared set ---- */

struct decl {
	enum aud_mode mode;
	int64_t *v;          /* values that are fine, ascending */
	size_t n;
	bool active;         /* false: histogram pass 1, nothing is judged */
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void decl_add(struct decl *d, int64_t v, size_t *cap)
{
	if (d->n == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		d->v = xrealloc(d->v, *cap * sizeof(*d->v));
	}
	d->v[d->n++] = v;
}

static void decl_sort(struct decl *d)
{
	size_t i, k = 0;

	if (d->n > 1)
		qsort(d->v, d->n, sizeof(*d->v), cmp_i64);
	for (i = 0; i < d->n; i++)
		if (!k || d->v[k - 1] != d->v[i])
			d->v[k++] = d->v[i];
	d->n = k;
}

static bool is_int64(double v)
{
	return v == trunc(v) && v >= -9.2e18 && v <= 9.2e18;
}

static bool decl_has_int(const struct decl *d, int64_t k)
{
	return d->n && bsearch(&k, d->v, d->n, sizeof(*d->v), cmp_i64) != NULL;
}

static bool decl_has(const struct decl *d, double v)
{
	return is_int64(v) && decl_has_int(d, (int64_t)v);
}

static bool json_whole(const cJSON *it, int64_t *out)
{
	if (!cJSON_IsNumber(it) || !is_int64(it->valuedouble))
		return false;
	*out = (int64_t)it->valuedouble;
	return true;
}


/* Is every entry "<integer>": "<name>"? */
static bool msd_style(const cJSON *labels)
{
	const cJSON *it;

	for (it = labels->child; it; it = it->next) {
		char *end;

		if (!cJSON_IsString(it) || !it->string || !*it->string)
			return false;
		errno = 0;
		(void)strtoll(it->string, &end, 10);
		if (*end || errno)
			return false;
	}
	return true;
}
/* dataset.json's "labels": plain 0..C-1 plus ignore, or region-based. */
static int decl_from_json(struct decl *d, struct aud_result *r, const char *json, char *err,
			  size_t errlen)
{
	cJSON *labels = cJSON_Parse(json);
	const cJSON *it, *m;
	size_t cap = 0, nplain = 0;
	int64_t v;
	int ret = -1;

	if (!cJSON_IsObject(labels)) {
		cb_set_err(err, errlen, "dataset.json: \"labels\" is not an object");
		goto out;
	}
	d->mode = AUD_MODE_DECLARED;
	for (it = labels->child; it; it = it->next)
		if (cJSON_IsArray(it))
			d->mode = AUD_MODE_REGIONS;
	/* The Decathlon's and nnU-Net v1's form maps values to names
	 * ({"0": "background", "1": "liver"}): one class per entry. */
	if (labels->child && msd_style(labels)) {
		for (it = labels->child; it; it = it->next)
			nplain++;
		for (v = 0; v < (int64_t)nplain; v++)
			decl_add(d, v, &cap);
		decl_sort(d);
		ret = 0;
		goto out;
	}
	for (it = labels->child; it; it = it->next) {
		if (it->string && strcmp(it->string, "ignore") == 0) {
			if (!json_whole(it, &v)) {
				cb_set_err(err, errlen, "dataset.json: labels: \"ignore\" is not "
					   "an integer");
				goto out;
			}
			r->has_ignore = true;
			r->ignore = v;
			decl_add(d, v, &cap);
			continue;
		}
		if (cJSON_IsArray(it)) {
			cJSON_ArrayForEach(m, it) {
				if (!json_whole(m, &v))
					goto bad;
				decl_add(d, v, &cap);
			}
			continue;
		}
		if (!json_whole(it, &v))
			goto bad;
		nplain++;
		if (d->mode == AUD_MODE_REGIONS)
			decl_add(d, v, &cap);
	}
	/* nnunet.md 4.5: the loss has one channel per label and indexes it with
	 * the stored value, whatever values were declared. */
	if (d->mode == AUD_MODE_DECLARED)
		for (v = 0; v < (int64_t)nplain; v++)
			decl_add(d, v, &cap);
	else
		decl_add(d, 0, &cap);
	decl_sort(d);
	ret = 0;
	goto out;
bad:
	cb_set_err(err, errlen, "dataset.json: labels: \"%s\" is not an integer or a list "
		   "of integers", it->string ? it->string : "");
out:
	cJSON_Delete(labels);
	return ret;
}

/* --labels "0,1,2" or "0..4,255". */
static int decl_from_list(struct decl *d, const char *list, char *err, size_t errlen)
{
	const char *p = list;
	size_t cap = 0;

	d->mode = AUD_MODE_LIST;
	for (;;) {
		char *end;
		long long a, b;

		errno = 0;
		a = strtoll(p, &end, 10);
		if (end == p || errno)
			goto bad;
		b = a;
		if (strncmp(end, "..", 2) == 0) {
			p = end + 2;
			b = strtoll(p, &end, 10);
			if (end == p || errno || b < a || b - a > 65535)
				goto bad;
		}
		for (; a <= b; a++)
			decl_add(d, a, &cap);
		if (*end == '\0')
			break;
		if (*end != ',')
			goto bad;
		p = end + 1;
	}
	decl_sort(d);
	return 0;
bad:
	cb_set_err(err, errlen, "--labels '%s': expected integers separated by commas, "
		   "ranges as 0..4 (e.g. 0,1,2)", list);
	free(d->v);
	d->v = NULL;
	d->n = 0;
	return -1;
}

/* "0..2, 255" */
static char *decl_text(const int64_t *v, size_t n)
{
	char *s = xstrdup(""), *t;
	size_t i, j;

	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && v[j] == v[j - 1] + 1; j++)
			;
		if (j - i >= 3)
			t = cb_fmt("%s%s%" PRId64 "..%" PRId64, s, i ? ", " : "", v[i], v[j - 1]);
		else if (j - i == 2)
			t = cb_fmt("%s%s%" PRId64 ", %" PRId64, s, i ? ", " : "", v[i], v[i + 1]);
		else
			t = cb_fmt("%s%s%" PRId64, s, i ? ", " : "", v[i]);
		free(s);
		s = t;
	}
	return s;
}

/* ---- reading a NIfTI file ---- */

/* A problem with a file: its kind (AUD_K_OPEN, _BAD_HEADER, _TRUNCATED,
 * _CORRUPT) and a message without the file name. */
struct problem {
	enum aud_kind kind;
	char msg[256];
};

static int problem(struct problem *p, enum aud_kind kind, const char *fmt, ...)
	CB_PRINTF(3, 4);
static int problem(struct problem *p, enum aud_kind kind, const char *fmt, ...)
{
	va_list ap;

	p->kind = kind;
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
	return -1;
}

struct nfile {
	znzFile fp;
	bool gz;
	int64_t size;      /* on disk */
	uint64_t pos;      /* decoded bytes consumed */
};

struct hdr {
	int version;       /* 1 or 2 */
	bool swapped;
	size_t hdr_size;
	int ndim;
	int64_t dim[8];    /* dim[1..7]; 1 beyond ndim */
	double pixdim[4];  /* 1..3, absolute, 1 where unusable */
	int datatype, nbyper;
	int64_t vox_offset;
	bool scaled;
	double slope, inter;
	uint64_t nvox, data_bytes;
	double dir[3][3];  /* unit columns: the direction of each axis */
	char orient[4];    /* "RAS" */
};

static bool name_is_nifti(const char *path)
{
	size_t n = strlen(path);

	return (n > 4 && strcasecmp(path + n - 4, ".nii") == 0) ||
	       (n > 7 && strcasecmp(path + n - 7, ".nii.gz") == 0);
}

/* stream: the voxels will be read, not only the header. */
static int nf_open(struct nfile *f, const char *path, bool stream, struct problem *p)
{
	struct stat st;
	size_t n = strlen(path);

	memset(f, 0, sizeof(*f));
	if (stat(path, &st) != 0)
		return problem(p, AUD_K_OPEN, "cannot open: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return problem(p, AUD_K_OPEN, "cannot read: not a regular file");
	f->size = (int64_t)st.st_size;
	f->gz = n > 3 && strcasecmp(path + n - 3, ".gz") == 0;
	f->fp = znzopen(path, "rb", f->gz);
	if (znz_isnull(f->fp))
		return problem(p, AUD_K_OPEN, "cannot open: %s",
			       errno ? strerror(errno) : "out of memory");
	/* zlib's 8 KiB default costs a read() per 8 KiB; before any read. Not
	 * for a header alone: zlib inflates twice the buffer (and sums its CRC)
	 * on the first read, however few bytes were asked for, and 256 KiB of
	 * image per case cost the bench's audit 2-3%. */
	if (f->gz && stream)
		gzbuffer(f->fp->zfptr, 128u << 10);
	return 0;
}

static void nf_close(struct nfile *f)
{
	if (!znz_isnull(f->fp))
		znzclose(f->fp);
}

/* Reads up to n bytes; *got is what came. A short read at a clean end of
 * file is no error (the caller knows how much it needed). */
static int nf_read(struct nfile *f, void *buf, size_t n, size_t *got, struct problem *p)
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
		return ferror(f->fp->nzfptr) ? problem(p, AUD_K_OPEN, "read error: %s",
						       strerror(errno ? errno : EIO))
					     : 0;
	zmsg = gzerror(f->fp->zfptr, &zerr);
	if (zerr == Z_OK || zerr == Z_STREAM_END)
		return 0;
	if (zerr == Z_BUF_ERROR)
		return problem(p, AUD_K_TRUNCATED, "truncated: the gzip stream ends after %" PRIu64
			       " bytes", f->pos);
	if (zerr == Z_ERRNO)
		return problem(p, AUD_K_OPEN, "read error: %s", strerror(errno ? errno : EIO));
	return problem(p, AUD_K_CORRUPT, "corrupt gzip stream after %" PRIu64 " bytes: %s",
		       f->pos, zmsg ? zmsg : "error");
}

static uint16_t sw16(uint16_t v, bool s) { return s ? __builtin_bswap16(v) : v; }
static uint32_t sw32(uint32_t v, bool s) { return s ? __builtin_bswap32(v) : v; }
static uint64_t sw64(uint64_t v, bool s) { return s ? __builtin_bswap64(v) : v; }

static int16_t get_i16(const void *p, bool s)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return (int16_t)sw16(v, s);
}

static int32_t get_i32(const void *p, bool s)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return (int32_t)sw32(v, s);
}

static int64_t get_i64(const void *p, bool s)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return (int64_t)sw64(v, s);
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
static void hdr_orientation(struct hdr *h, const void *raw)
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

static const char *human_bytes(uint64_t b, char *buf, size_t len)
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
static int hdr_read(struct nfile *f, struct hdr *h, bool label, struct problem *p)
{
	unsigned char raw[540];
	int32_t szh;
	size_t got;
	int i, nbyper = 0, swapsize;
	uint64_t nvox = 1;
	double vo;
	bool s;

	memset(h, 0, sizeof(*h));
	if (nf_read(f, raw, 348, &got, p))
		return -1;
	if (!f->gz && got >= 2 && raw[0] == 0x1f && raw[1] == 0x8b)
		return problem(p, AUD_K_BAD_HEADER, "not NIfTI: gzip data in a file not "
			       "named .gz");
	if (got < 348) {
		if (got == 0)
			return problem(p, AUD_K_TRUNCATED, "empty file: no NIfTI header");
		return problem(p, AUD_K_TRUNCATED, "truncated: the header is %zu of 348 bytes", got);
	}
	memcpy(&szh, raw, 4);
	if (szh == 348 || (int32_t)__builtin_bswap32((uint32_t)szh) == 348) {
		h->version = 1;
		h->swapped = szh != 348;
	} else if (szh == 540 || (int32_t)__builtin_bswap32((uint32_t)szh) == 540) {
		h->version = 2;
		h->swapped = szh != 540;
		if (nf_read(f, raw + 348, 540 - 348, &got, p))
			return -1;
		if (got < 540 - 348)
			return problem(p, AUD_K_TRUNCATED, "truncated: the NIfTI-2 header is %zu "
				       "of 540 bytes", 348 + got);
	} else {
		return problem(p, AUD_K_BAD_HEADER, "not NIfTI: sizeof_hdr is %" PRId32
			       " (expected 348 or 540)", szh);
	}
	s = h->swapped;
	h->hdr_size = h->version == 1 ? 348 : 540;
	if (h->version == 1 ? memcmp(raw + 344, "n+1", 4) != 0
			    : memcmp(raw + 4, "n+2\0\r\n\032\n", 8) != 0)
		return problem(p, AUD_K_BAD_HEADER, "bad header: no single-file NIfTI-%d magic "
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
			return problem(p, AUD_K_BAD_HEADER, "bad header: vox_offset is %g", vo);
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
			return problem(p, AUD_K_BAD_HEADER, "bad header: dim[0] is %" PRId64
				       " (must be 1..7)", d0);
	}
	if (h->ndim < 1 || h->ndim > 7)
		return problem(p, AUD_K_BAD_HEADER, "bad header: dim[0] is %d (must be 1..7)",
			       h->ndim);
	for (i = 1; i <= 7; i++) {
		if (i > h->ndim) {
			h->dim[i] = 1;
			continue;
		}
		if (h->dim[i] <= 0)
			return problem(p, AUD_K_BAD_HEADER, "bad header: dim[%d] is %" PRId64
				       " (not a positive size)", i, h->dim[i]);
		if (h->dim[i] > AUD_MAX_AXIS)
			return problem(p, AUD_K_BAD_HEADER, "bad header: dim[%d] is %" PRId64
				       " (absurd: more than %d voxels on one axis)", i, h->dim[i],
				       AUD_MAX_AXIS);
	}
	if (label)
		nbyper = label_type_size(h->datatype);
	else
		nifti_datatype_sizes(h->datatype, &nbyper, &swapsize);
	if (nbyper <= 0)
		return problem(p, AUD_K_BAD_HEADER, "bad header: datatype %d (%s) %s", h->datatype,
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
		return problem(p, AUD_K_BAD_HEADER, "bad header: %s voxels of %d byte%s (absurd: "
			       "over 1 TiB)", dims, nbyper, nbyper == 1 ? "" : "s");
	}
	h->nvox = nvox;
	h->data_bytes = nvox * (uint64_t)nbyper;
	if (h->vox_offset < (int64_t)h->hdr_size)
		return problem(p, AUD_K_BAD_HEADER, "bad header: vox_offset %" PRId64 " lies inside "
			       "the %zu-byte header", h->vox_offset, h->hdr_size);
	if (!f->gz && h->vox_offset > f->size)
		return problem(p, AUD_K_BAD_HEADER, "bad header: vox_offset %" PRId64 " is past the "
			       "end of the file (%" PRId64 " bytes)", h->vox_offset, f->size);
	if (!f->gz && (uint64_t)h->vox_offset + h->data_bytes > (uint64_t)f->size) {
		char need[32], have[32];

		return problem(p, AUD_K_TRUNCATED, "truncated: %s of voxel data, the header needs %s",
			       human_bytes((uint64_t)(f->size - h->vox_offset), have, sizeof(have)),
			       human_bytes(h->data_bytes, need, sizeof(need)));
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
static int nf_skip_to_data(struct nfile *f, const struct hdr *h, unsigned char *buf, size_t len,
			   struct problem *p)
{
	uint64_t want = (uint64_t)h->vox_offset;
	size_t got;

	if (!f->gz) {
		if (znzseek(f->fp, (znz_off_t)h->vox_offset, SEEK_SET) < 0)
			return problem(p, AUD_K_OPEN, "cannot seek to vox_offset %" PRId64 ": %s",
				       h->vox_offset, strerror(errno));
		f->pos = want;
		return 0;
	}
	while (f->pos < want) {
		size_t n = want - f->pos < len ? (size_t)(want - f->pos) : len;

		if (nf_read(f, buf, n, &got, p))
			return -1;
		if (got < n)
			return problem(p, AUD_K_BAD_HEADER, "bad header: vox_offset %" PRId64 " is "
				       "past the end of the data (%" PRIu64 " bytes)", h->vox_offset,
				       f->pos);
	}
	return 0;
}

/* ---- label values ---- */

/* A distinct raw value (its bits, zero-extended) while scanning. */
struct vent {
	uint64_t key;
	uint64_t count;
	bool used, bad, boxed;
	int64_t lo[3], hi[3];
};

struct vmap {
	struct vent *e;
	size_t cap, n;
	uint64_t overflow;   /* voxels of values beyond AUD_MAX_VALUES */
};

struct scan {
	const struct hdr *h;
	const struct decl *d;
	bool track;          /* find bounding boxes of values not in d */
	uint64_t *hist;      /* 8- and 16-bit types: counts by raw value */
	unsigned char *badt; /* ... and whether each is bad */
	size_t histn;
	struct vmap map;     /* other types: the values; 8/16-bit: bad values' boxes */
	uint64_t vox;        /* index of the slab's first voxel */
};

static double key_value(const struct hdr *h, uint64_t key)
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

static bool key_bad(const struct scan *s, uint64_t key)
{
	return s->track && !decl_has(s->d, key_value(s->h, key));
}

static struct vent *vmap_find(struct vmap *m, uint64_t key, bool add)
{
	size_t i;

	if (m->cap) {
		for (i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 40) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
			if (!m->e[i].used)
				break;
			if (m->e[i].key == key)
				return &m->e[i];
		}
	}
	if (!add || m->n >= AUD_MAX_VALUES)
		return NULL;
	if (2 * (m->n + 1) > m->cap) {
		struct vent *old = m->e;
		size_t oldcap = m->cap, j;

		m->cap = m->cap ? 2 * m->cap : 64;
		m->e = xcalloc(m->cap, sizeof(*m->e));
		m->n = 0;
		for (j = 0; j < oldcap; j++)
			if (old[j].used)
				*vmap_find(m, old[j].key, true) = old[j];
		free(old);
	}
	for (i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 40) & (m->cap - 1); m->e[i].used;
	     i = (i + 1) & (m->cap - 1))
		;
	m->e[i].used = true;
	m->e[i].key = key;
	m->n++;
	return &m->e[i];
}

static void box_add(const struct hdr *h, struct vent *e, uint64_t idx)
{
	int64_t c[3];
	uint64_t r;
	int k;

	c[0] = (int64_t)(idx % (uint64_t)h->dim[1]);
	r = idx / (uint64_t)h->dim[1];
	c[1] = (int64_t)(r % (uint64_t)h->dim[2]);
	c[2] = (int64_t)((r / (uint64_t)h->dim[2]) % (uint64_t)h->dim[3]);
	if (!e->boxed) {
		memcpy(e->lo, c, sizeof(c));
		memcpy(e->hi, c, sizeof(c));
		e->boxed = true;
		return;
	}
	for (k = 0; k < 3; k++) {
		if (c[k] < e->lo[k])
			e->lo[k] = c[k];
		if (c[k] > e->hi[k])
			e->hi[k] = c[k];
	}
}

_Static_assert(AUD_SLAB < UINT32_MAX, "count_u8 counts a slab in 32 bits");

/* 8-bit labels: the hot loop. A 32-byte block of zeros (the background) or
 * of one value (the inside of a blob) costs one test; a mixed block (an
 * edge) is counted byte by byte without a branch, into four histograms of
 * 32-bit counts (so that consecutive equal bytes do not wait on the same
 * counter; a slab holds fewer than 2^32 bytes). With a branch per 8-byte
 * word instead, counting dense labels took 1.2-1.8x as long: edges are
 * frequent there and the branch mispredicts (bench/README.md, bench_audit).
 * Returns whether a bad value was seen. */
static bool count_u8(const unsigned char *p, size_t n, uint64_t *hist, const unsigned char *badt)
{
	const uint64_t ones = 0x0101010101010101ull;
	uint32_t part[4][256];
	uint64_t zeros = 0, w, w1, w2, w3, x;
	unsigned bad = 0, b;
	size_t i = 0, k;
	bool mixed = false;

	while (i + 32 <= n) {
		memcpy(&w, p + i, 8);
		memcpy(&w1, p + i + 8, 8);
		memcpy(&w2, p + i + 16, 8);
		memcpy(&w3, p + i + 24, 8);
		if ((w | w1 | w2 | w3) == 0) {
			zeros += 32;
			i += 32;
			continue;
		}
		b = (unsigned)(w & 0xff);
		x = b * ones;
		if (((w ^ x) | (w1 ^ x) | (w2 ^ x) | (w3 ^ x)) == 0) {
			hist[b] += 32;
			bad |= badt[b];
			i += 32;
			continue;
		}
		if (!mixed) {
			memset(part, 0, sizeof(part));
			mixed = true;
		}
		for (k = 0; k < 4; k++, i += 8) {
			memcpy(&w, p + i, 8);
			part[0][w & 0xff]++;
			part[1][(w >> 8) & 0xff]++;
			part[2][(w >> 16) & 0xff]++;
			part[3][(w >> 24) & 0xff]++;
			part[0][(w >> 32) & 0xff]++;
			part[1][(w >> 40) & 0xff]++;
			part[2][(w >> 48) & 0xff]++;
			part[3][w >> 56]++;
		}
	}
	for (; i < n; i++) {
		hist[p[i]]++;
		bad |= badt[p[i]];
	}
	hist[0] += zeros;
	bad |= zeros ? badt[0] : 0;
	if (mixed)
		for (b = 0; b < 256; b++) {
			uint64_t c = (uint64_t)part[0][b] + part[1][b] + part[2][b] + part[3][b];

			hist[b] += c;
			bad |= c ? badt[b] : 0;
		}
	return bad != 0;
}

/* 16-bit labels (already in host order), as count_u8 does: blocks of 16
 * zeros or of one value cost one test, a mixed block is counted voxel by
 * voxel without a branch. */
static bool count_u16(const unsigned char *p, size_t nvox, uint64_t *hist,
		      const unsigned char *badt)
{
	const uint64_t ones = 0x0001000100010001ull;
	uint64_t zeros = 0, w, w1, w2, w3, x;
	unsigned bad = 0, b, j;
	size_t i = 0;
	uint16_t v;

	for (; i + 16 <= nvox; i += 16) {
		memcpy(&w, p + 2 * i, 8);
		memcpy(&w1, p + 2 * i + 8, 8);
		memcpy(&w2, p + 2 * i + 16, 8);
		memcpy(&w3, p + 2 * i + 24, 8);
		if ((w | w1 | w2 | w3) == 0) {
			zeros += 16;
			continue;
		}
		b = (unsigned)(w & 0xffff);
		x = b * ones;
		if (((w ^ x) | (w1 ^ x) | (w2 ^ x) | (w3 ^ x)) == 0) {
			hist[b] += 16;
			bad |= badt[b];
			continue;
		}
		for (j = 0; j < 16; j++) {
			memcpy(&v, p + 2 * (i + j), 2);
			hist[v]++;
			bad |= badt[v];
		}
	}
	for (; i < nvox; i++) {
		memcpy(&v, p + 2 * i, 2);
		hist[v]++;
		bad |= badt[v];
	}
	hist[0] += zeros;
	bad |= zeros ? badt[0] : 0;
	return bad != 0;
}

static uint64_t load_key(const unsigned char *p, int nb)
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

/* One slab of nvox voxels in host order. */
static void scan_slab(struct scan *s, const unsigned char *p, size_t nvox)
{
	const struct hdr *h = s->h;
	int nb = h->nbyper;
	size_t j;

	if (s->hist) {
		bool bad = nb == 1 ? count_u8(p, nvox, s->hist, s->badt)
				   : count_u16(p, nvox, s->hist, s->badt);

		if (bad) /* rare: a second look, for the boxes */
			for (j = 0; j < nvox; j++) {
				uint64_t k;

				if (nb == 1) {
					k = p[j];
				} else {
					uint16_t v;

					memcpy(&v, p + 2 * j, 2);
					k = v;
				}
				if (s->badt[k])
					box_add(h, vmap_find(&s->map, k, true), s->vox + j);
			}
	} else {
		struct vent *cur = NULL;
		uint64_t curkey = 0;

		for (j = 0; j < nvox; j++) {
			uint64_t k = load_key(p + (size_t)nb * j, nb);

			if (!cur || k != curkey) {
				cur = vmap_find(&s->map, k, true);
				curkey = k;
				if (!cur) {
					s->map.overflow++;
					continue;
				}
				if (cur->count == 0)
					cur->bad = key_bad(s, k);
			}
			cur->count++;
			if (cur->bad)
				box_add(h, cur, s->vox + j);
		}
	}
	s->vox += nvox;
}

static void swap_slab(unsigned char *p, size_t nvox, int nb)
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

/* A distinct label value once scanned, with its box. */
struct val {
	double value;
	uint64_t voxels;
	bool boxed;
	int64_t lo[3], hi[3];
};

static int cmp_val(const void *a, const void *b)
{
	double x = ((const struct val *)a)->value, y = ((const struct val *)b)->value;

	if (isnan(x) || isnan(y))
		return isnan(x) - isnan(y);
	return (x > y) - (x < y);
}

static void val_merge_box(struct val *v, const int64_t lo[3], const int64_t hi[3])
{
	int k;

	if (!v->boxed) {
		memcpy(v->lo, lo, sizeof(v->lo));
		memcpy(v->hi, hi, sizeof(v->hi));
		v->boxed = true;
		return;
	}
	for (k = 0; k < 3; k++) {
		if (lo[k] < v->lo[k])
			v->lo[k] = lo[k];
		if (hi[k] > v->hi[k])
			v->hi[k] = hi[k];
	}
}

struct vals {
	struct val *v;
	size_t n;
	uint64_t overflow;  /* voxels whose values were not kept */
};

static void vals_add(struct vals *out, size_t *cap, double value, uint64_t voxels,
		     const struct vent *box)
{
	struct val *v;

	if (out->n == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		out->v = xrealloc(out->v, *cap * sizeof(*out->v));
	}
	v = &out->v[out->n++];
	memset(v, 0, sizeof(*v));
	v->value = value;
	v->voxels = voxels;
	if (box && box->boxed)
		val_merge_box(v, box->lo, box->hi);
}

/* The scan's values, sorted, equal values (+0/-0, NaNs) merged. */
static void scan_values(struct scan *s, struct vals *out)
{
	size_t cap = 0, i, k;

	memset(out, 0, sizeof(*out));
	if (s->hist) {
		for (i = 0; i < s->histn; i++)
			if (s->hist[i])
				vals_add(out, &cap, key_value(s->h, i), s->hist[i],
					 s->badt[i] ? vmap_find(&s->map, i, false) : NULL);
	} else {
		for (i = 0; i < s->map.cap; i++)
			if (s->map.e[i].used && s->map.e[i].count)
				vals_add(out, &cap, key_value(s->h, s->map.e[i].key),
					 s->map.e[i].count, &s->map.e[i]);
	}
	out->overflow = s->map.overflow;
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_val);
	for (i = k = 0; i < out->n; i++) {
		struct val *a = &out->v[i];

		if (k && (out->v[k - 1].value == a->value ||
			  (isnan(out->v[k - 1].value) && isnan(a->value)))) {
			out->v[k - 1].voxels += a->voxels;
			if (a->boxed)
				val_merge_box(&out->v[k - 1], a->lo, a->hi);
			continue;
		}
		out->v[k++] = *a;
	}
	out->n = k;
}

/*
 * Streams the voxels of an open label file (header read) through a scan.
 * buf: AUD_SLAB bytes. *vals gets the values on success.
 */
static int scan_label(struct nfile *f, const struct hdr *h, const struct decl *d,
		      unsigned char *buf, struct vals *vals, struct problem *p)
{
	struct scan s;
	uint64_t left = h->data_bytes;
	size_t slab = AUD_SLAB - AUD_SLAB % (size_t)h->nbyper, got, i;
	int ret = -1;

	memset(&s, 0, sizeof(s));
	s.h = h;
	s.d = d;
	s.track = d->active;
	if (h->nbyper <= 2) {
		s.histn = h->nbyper == 1 ? 256 : 65536;
		s.hist = xcalloc(s.histn, sizeof(*s.hist));
		s.badt = xcalloc(s.histn, 1);
		for (i = 0; i < s.histn; i++)
			s.badt[i] = key_bad(&s, i);
	}
	if (nf_skip_to_data(f, h, buf, AUD_SLAB, p))
		goto out;
	while (left) {
		size_t n = left < slab ? (size_t)left : slab;

		if (nf_read(f, buf, n, &got, p))
			goto out;
		if (got < n) {
			char have[32], need[32];

			problem(p, AUD_K_TRUNCATED, "truncated: the voxel data ends after %s of %s",
				human_bytes(h->data_bytes - left + got, have, sizeof(have)),
				human_bytes(h->data_bytes, need, sizeof(need)));
			goto out;
		}
		if (h->swapped && h->nbyper > 1)
			swap_slab(buf, n / (size_t)h->nbyper, h->nbyper);
		scan_slab(&s, buf, n / (size_t)h->nbyper);
		left -= n;
	}
	/* One byte more: zlib checks the gzip trailer (CRC, length) at the end. */
	if (f->gz && nf_read(f, buf, 1, &got, p))
		goto out;
	scan_values(&s, vals);
	ret = 0;
out:
	free(s.hist);
	free(s.badt);
	free(s.map.e);
	return ret;
}

/* NaN and Inf voxels of a float image. */
static int scan_image(struct nfile *f, const struct hdr *h, unsigned char *buf, uint64_t *nan,
		      uint64_t *inf, struct problem *p)
{
	uint64_t left = h->data_bytes;
	size_t slab = AUD_SLAB - AUD_SLAB % (size_t)h->nbyper, got, j;

	*nan = *inf = 0;
	if (nf_skip_to_data(f, h, buf, AUD_SLAB, p))
		return -1;
	while (left) {
		size_t n = left < slab ? (size_t)left : slab;

		if (nf_read(f, buf, n, &got, p))
			return -1;
		if (got < n) {
			char have[32], need[32];

			return problem(p, AUD_K_TRUNCATED, "truncated: the voxel data ends after %s "
				       "of %s", human_bytes(h->data_bytes - left + got, have, sizeof(have)),
				       human_bytes(h->data_bytes, need, sizeof(need)));
		}
		if (h->datatype == DT_FLOAT32) {
			for (j = 0; j + 4 <= n; j += 4) {
				uint32_t v;

				memcpy(&v, buf + j, 4);
				v = sw32(v, h->swapped);
				if ((v & 0x7f800000u) == 0x7f800000u) {
					if (v & 0x007fffffu)
						(*nan)++;
					else
						(*inf)++;
				}
			}
		} else {
			for (j = 0; j + 8 <= n; j += 8) {
				uint64_t v;

				memcpy(&v, buf + j, 8);
				v = sw64(v, h->swapped);
				if ((v & 0x7ff0000000000000ull) == 0x7ff0000000000000ull) {
					if (v & 0x000fffffffffffffull)
						(*nan)++;
					else
						(*inf)++;
				}
			}
		}
		left -= n;
	}
	if (f->gz && nf_read(f, buf, 1, &got, p))
		return -1;
	return 0;
}

/* ---- findings ---- */

/*
 * The value nnU-Net stores for a label value v (nnunet.md 3.2): read as
 * float32, cast to int8 when the file's maximum is <= 127, else int16, the
 * x86 way (truncate to int32, out of range and NaN giving INT32_MIN; keep
 * the low bits).
 */
static int64_t stored_value(double v, double file_max)
{
	double t = trunc((double)(float)v);
	int64_t i = t >= -2147483648.0 && t < 2147483648.0 ? (int64_t)t : INT32_MIN;

	if (file_max <= 127) {
		i &= 0xff;
		return i >= 0x80 ? i - 0x100 : i;
	}
	i &= 0xffff;
	return i >= 0x8000 ? i - 0x10000 : i;
}

/* Is value v fine, and if not, its severity and kind. */
static bool judge(const struct decl *d, double v, double file_max, enum aud_severity *sev,
		  enum aud_kind *kind)
{
	int64_t s;
	bool ok_stored;

	if (decl_has(d, v))
		return true;
	if (!isfinite(v)) {
		*sev = AUD_SILENT;
		*kind = AUD_K_NOT_FINITE;
		return false;
	}
	if (d->mode == AUD_MODE_REGIONS) {
		*sev = AUD_SILENT;
		*kind = v == trunc(v) ? AUD_K_REGION_UNDECLARED : AUD_K_NON_INTEGER;
		return false;
	}
	s = stored_value(v, file_max);
	ok_stored = s == -1 || decl_has_int(d, s);
	*sev = ok_stored ? AUD_SILENT : AUD_CRASH;
	if (v != trunc(v))
		*kind = AUD_K_NON_INTEGER;
	else if (v == -1)
		*kind = AUD_K_MINUS_ONE;
	else if ((double)s != v)
		*kind = AUD_K_WRAP;
	else
		*kind = d->mode == AUD_MODE_HISTOGRAM ? AUD_K_RARE_VALUE : AUD_K_UNDECLARED;
	return false;
}

static struct aud_finding *add_finding(struct aud_case *c, enum aud_severity sev,
				       enum aud_kind kind, size_t file, char *detail)
{
	struct aud_finding *f;

	c->findings = xrealloc(c->findings, (c->nfindings + 1) * sizeof(*c->findings));
	f = &c->findings[c->nfindings++];
	memset(f, 0, sizeof(*f));
	f->severity = sev;
	f->kind = kind;
	f->file = file;
	f->detail = detail;
	return f;
}

static char *fmt_value(double v)
{
	if (isnan(v))
		return xstrdup("NaN");
	if (is_int64(v))
		return cb_fmt("%" PRId64, (int64_t)v);
	return cb_fmt("%.9g", v);
}

static char *box_text(const struct val *v)
{
	if (!v->boxed)
		return xstrdup("");
	return cb_fmt(" in x %" PRId64 "..%" PRId64 " y %" PRId64 "..%" PRId64 " z %" PRId64
		      "..%" PRId64, v->lo[0], v->hi[0], v->lo[1], v->hi[1], v->lo[2], v->hi[2]);
}

static const char *why_text(enum aud_kind kind, bool silent)
{
	switch (kind) {
	case AUD_K_MINUS_ONE: return "nnU-Net turns -1 into background";
	case AUD_K_WRAP: return silent ? "wraps to an allowed value in nnU-Net's int16 cast"
				       : "wraps in nnU-Net's int16 cast to a value outside the labels";
	case AUD_K_NON_INTEGER: return silent ? "nnU-Net truncates it to an allowed value"
					      : "nnU-Net truncates it to a value outside the labels";
	case AUD_K_NOT_FINITE: return "nnU-Net's integer cast turns it into 0 on x86";
	case AUD_K_REGION_UNDECLARED: return "region-based: it becomes background";
	default: return silent ? "" : "the loss indexes out of bounds";
	}
}

/* Findings for a label's values: each bad value alone up to AUD_LIST_VALUES
 * per (severity, kind), the rest summed. */
static void value_findings(struct aud_case *c, size_t file, const struct decl *d,
			   const struct vals *vals, const char *declared)
{
	size_t listed[AUD_NSEVERITIES][AUD_NKINDS] = { { 0 } };
	struct val rest[AUD_NSEVERITIES][AUD_NKINDS];
	size_t nrest[AUD_NSEVERITIES][AUD_NKINDS] = { { 0 } };
	double fmax = -INFINITY;
	size_t i;
	int s, k;

	if (!d->active)
		return;
	memset(rest, 0, sizeof(rest));
	for (i = 0; i < vals->n; i++)
		if (!isnan(vals->v[i].value) && vals->v[i].value > fmax)
			fmax = vals->v[i].value;
	for (i = 0; i < vals->n; i++) {
		const struct val *v = &vals->v[i];
		enum aud_severity sev;
		enum aud_kind kind;
		struct aud_finding *f;
		char *vs, *bs, *stored;

		if (judge(d, v->value, fmax, &sev, &kind))
			continue;
		if (listed[sev][kind] >= AUD_LIST_VALUES) {
			struct val *r = &rest[sev][kind];

			r->voxels += v->voxels;
			if (v->boxed)
				val_merge_box(r, v->lo, v->hi);
			nrest[sev][kind]++;
			continue;
		}
		listed[sev][kind]++;
		vs = fmt_value(v->value);
		bs = box_text(v);
		stored = kind == AUD_K_WRAP || kind == AUD_K_NON_INTEGER
				 ? cb_fmt(", stored as %" PRId64, stored_value(v->value, fmax))
				 : xstrdup("");
		f = add_finding(c, sev, kind, file,
				cb_fmt("value %s: %" PRIu64 " voxel%s%s%s (%s; labels: %s)", vs,
				       v->voxels, v->voxels == 1 ? "" : "s", bs, stored,
				       why_text(kind, sev == AUD_SILENT), declared));
		f->has_value = true;
		f->value = v->value;
		f->voxels = v->voxels;
		f->has_bbox = v->boxed;
		memcpy(f->lo, v->lo, sizeof(f->lo));
		memcpy(f->hi, v->hi, sizeof(f->hi));
		free(vs);
		free(bs);
		free(stored);
	}
	for (s = 0; s < AUD_NSEVERITIES; s++)
		for (k = 0; k < AUD_NKINDS; k++) {
			struct aud_finding *f;
			char *bs;

			if (!nrest[s][k])
				continue;
			bs = box_text(&rest[s][k]);
			f = add_finding(c, (enum aud_severity)s, (enum aud_kind)k, file,
					cb_fmt("%zu more such values: %" PRIu64 " voxels%s (labels: %s)",
					       nrest[s][k], rest[s][k].voxels, bs, declared));
			f->voxels = rest[s][k].voxels;
			f->has_bbox = rest[s][k].boxed;
			memcpy(f->lo, rest[s][k].lo, sizeof(f->lo));
			memcpy(f->hi, rest[s][k].hi, sizeof(f->hi));
			free(bs);
		}
	if (vals->overflow) {
		struct aud_finding *f = add_finding(
			c, d->mode == AUD_MODE_REGIONS ? AUD_SILENT : AUD_CRASH,
			AUD_K_TOO_MANY_VALUES, file,
			cb_fmt("more than %d distinct values (%" PRIu64 " voxels not counted by "
			       "value): not a label map? (labels: %s)", AUD_MAX_VALUES,
			       vals->overflow, declared));
		f->voxels = vals->overflow;
	}
}

/* The format's ops; a struct dataset made without ds_load() may have none,
 * and then gets the defaults (the case's own files, no channel check). */
static const struct ds_format_ops *ops_of(const struct dataset *ds)
{
	static const struct ds_format_ops none = { .name = "none" };
	const struct ds_format_ops *ops = ds_format_ops(ds->format);

	return ops ? ops : &none;
}

/* ---- one case ---- */

struct ctx;

struct job {
	uv_work_t req;
	struct ctx *ctx;
	size_t index;       /* in ds->cases */
};

struct ctx {
	const struct dataset *ds;
	const struct aud_options *o;
	struct decl decl;
	char *declared;     /* decl as text */
	struct aud_result *r;
	struct job *jobs;
	size_t *queue;      /* case indices to run */
	size_t nqueue, next;
	unsigned inflight, max;
	bool values_only;   /* histogram pass 2: the label's values again */
	bool *label_read;   /* per case: the label was read */
	uv_loop_t loop;
	bool unset_env;     /* UV_THREADPOOL_SIZE is ours: take it away once used */
};

static char *dims_text(const struct hdr *h)
{
	return cb_fmt("%" PRId64 "x%" PRId64 "x%" PRId64, h->dim[1], h->dim[2], h->dim[3]);
}

static char *spacing_text(const struct hdr *h)
{
	return cb_fmt("%g x %g x %g", h->pixdim[1], h->pixdim[2], h->pixdim[3]);
}

static bool close_enough(double a, double b)
{
	return fabs(a - b) <= AUD_SPACING_ATOL + AUD_SPACING_RTOL * fabs(b);
}

static void geometry_findings(struct aud_case *c, size_t file, const struct hdr *lab,
			      const struct hdr *img)
{
	double worst = 0;
	int i, j;

	if (lab->dim[1] != img->dim[1] || lab->dim[2] != img->dim[2] ||
	    lab->dim[3] != img->dim[3]) {
		char *a = dims_text(img), *b = dims_text(lab);

		add_finding(c, AUD_GEOMETRY, AUD_K_SHAPE, file,
			    cb_fmt("shape %s, the label's is %s", a, b));
		free(a);
		free(b);
		return; /* spacing and orientation mean little then */
	}
	for (i = 1; i <= 3; i++)
		if (!close_enough(img->pixdim[i], lab->pixdim[i])) {
			char *a = spacing_text(img), *b = spacing_text(lab);

			add_finding(c, AUD_GEOMETRY, AUD_K_SPACING, file,
				    cb_fmt("spacing %s, the label's is %s", a, b));
			free(a);
			free(b);
			break;
		}
	for (i = 0; i < 3; i++)
		for (j = 0; j < 3; j++)
			if (fabs(img->dir[i][j] - lab->dir[i][j]) > worst)
				worst = fabs(img->dir[i][j] - lab->dir[i][j]);
	if (worst > AUD_DIR_TOL)
		add_finding(c, AUD_GEOMETRY, AUD_K_ORIENTATION, file,
			    strcmp(img->orient, lab->orient) != 0
				    ? cb_fmt("orientation %s, the label's is %s", img->orient,
					     lab->orient)
				    : cb_fmt("orientation %s like the label's, but the direction "
					     "cosines differ by %.3g", img->orient, worst));
}

static void unreadable(struct aud_case *c, size_t file, const struct problem *p)
{
	add_finding(c, AUD_UNREADABLE, p->kind, file, xstrdup(p->msg));
}

static int cmp_finding(const void *a, const void *b)
{
	const struct aud_finding *x = a, *y = b;

	if (x->severity != y->severity)
		return (int)x->severity - (int)y->severity;
	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return (int)x->kind - (int)y->kind;
}

static void values_to_case(struct aud_case *c, const struct vals *vals)
{
	size_t i;

	free(c->values);
	c->values = xcalloc(vals->n ? vals->n : 1, sizeof(*c->values));
	c->nvalues = vals->n;
	for (i = 0; i < vals->n; i++) {
		c->values[i].value = vals->v[i].value;
		c->values[i].voxels = vals->v[i].voxels;
	}
}

static void work_case(uv_work_t *req)
{
	struct job *j = req->data;
	struct ctx *x = j->ctx;
	struct aud_case *c = &x->r->cases[j->index];
	unsigned char *buf;
	struct hdr lab, img;
	struct problem p;
	struct nfile f;
	struct vals vals = { 0 };
	bool have_lab = false, all_images = true;
	uint64_t channels = 0;
	size_t i;

	if (c->skip_reason)
		return;
	buf = xmalloc(AUD_SLAB);
	if (c->label >= 0) {
		size_t li = (size_t)c->label;

		if (nf_open(&f, c->files[li], true, &p) || hdr_read(&f, &lab, true, &p) ||
		    scan_label(&f, &lab, &x->decl, buf, &vals, &p)) {
			if (!x->values_only)
				unreadable(c, li, &p);
		} else {
			have_lab = true;
			x->label_read[j->index] = true;
			values_to_case(c, &vals);
			value_findings(c, li, &x->decl, &vals, x->declared);
		}
		c->bytes += f.pos;
		nf_close(&f);
		free(vals.v);
	}
	for (i = 0; i < c->nfiles && !x->values_only; i++) {
		if ((int)i == c->label)
			continue;
		if (nf_open(&f, c->files[i], x->o->images, &p) ||
		    hdr_read(&f, &img, false, &p)) {
			unreadable(c, i, &p);
			all_images = false;
		} else {
			uint64_t nan, inf;

			channels += img.ndim >= 4 ? (uint64_t)(img.nvox / ((uint64_t)img.dim[1] *
					(uint64_t)img.dim[2] * (uint64_t)img.dim[3]))
						  : 1;
			if (have_lab)
				geometry_findings(c, i, &lab, &img);
			if (x->o->images &&
			    (img.datatype == DT_FLOAT32 || img.datatype == DT_FLOAT64)) {
				if (scan_image(&f, &img, buf, &nan, &inf, &p)) {
					unreadable(c, i, &p);
				} else {
					struct aud_finding *fd;

					if (nan) {
						fd = add_finding(c, AUD_SILENT, AUD_K_IMAGE_NAN, i,
								 cb_fmt("%" PRIu64 " NaN voxel%s",
									nan, nan == 1 ? "" : "s"));
						fd->has_value = true;
						fd->value = NAN;
						fd->voxels = nan;
					}
					if (inf) {
						fd = add_finding(c, AUD_SILENT, AUD_K_IMAGE_INF, i,
								 cb_fmt("%" PRIu64 " infinite voxel%s",
									inf, inf == 1 ? "" : "s"));
						fd->has_value = true;
						fd->value = INFINITY;
						fd->voxels = inf;
					}
				}
			}
		}
		c->bytes += f.pos;
		nf_close(&f);
	}
	if (!x->values_only && all_images && channels && x->ds->nchannels &&
	    (ops_of(x->ds)->flags & FMT_AUDIT_CHANNELS) &&
	    channels != x->ds->nchannels)
		add_finding(c, AUD_GEOMETRY, AUD_K_CHANNELS, c->label == 0 && c->nfiles > 1 ? 1 : 0,
			    cb_fmt("%" PRIu64 " channel%s in the images, dataset.json's "
				   "channel_names has %zu", channels, channels == 1 ? "" : "s",
				   x->ds->nchannels));
	if (c->nfindings > 1)
		qsort(c->findings, c->nfindings, sizeof(*c->findings), cmp_finding);
	free(buf);
}

static void submit_more(struct ctx *x);

static void after_case(uv_work_t *req, int status)
{
	struct job *j = req->data;

	(void)status; /* UV_ECANCELED: nothing cancels these */
	j->ctx->inflight--;
	submit_more(j->ctx);
}

static void submit_more(struct ctx *x)
{
	while (x->inflight < x->max && x->next < x->nqueue) {
		struct job *j = &x->jobs[x->queue[x->next++]];
		int rc;

		memset(&j->req, 0, sizeof(j->req));
		j->req.data = j;
		rc = uv_queue_work(&x->loop, &j->req, work_case, after_case);
		if (rc)
			die("cannot queue audit work: %s", uv_strerror(rc));
		x->inflight++;
	}
}

/* Runs the queued cases, at most x->max at once. */
static void run_queue(struct ctx *x)
{
	x->next = 0;
	submit_more(x);
	if (x->unset_env) {
		unsetenv("UV_THREADPOOL_SIZE");
		x->unset_env = false;
	}
	if (uv_run(&x->loop, UV_RUN_DEFAULT) != 0)
		die("audit: the event loop stopped early");
}

/* ---- which files ---- */

void aud_case_add_file(struct aud_case *c, char *path)
{
	if (!name_is_nifti(path)) {
		c->skipped_files = xrealloc(c->skipped_files,
					    (c->nskipped_files + 1) * sizeof(char *));
		c->skipped_files[c->nskipped_files++] = path;
		return;
	}
	c->files = xrealloc(c->files, (c->nfiles + 1) * sizeof(char *));
	c->files[c->nfiles++] = path;
}

/* Which files of case i audit reads: the format's choice, or the case's own
 * files with its label first. ctx is what the format's audit_begin gave. */
static void case_files(const struct dataset *ds, const struct ds_format_ops *ops, size_t i,
		       const char *ctx, struct aud_case *c)
{
	const struct ds_case *dc = &ds->cases[i];
	size_t k;

	c->id = dc->id;
	c->label = -1;
	if (ops->audit_files) {
		ops->audit_files(ds, i, ctx, c);
	} else {
		if (dc->label >= 0 && (size_t)dc->label < dc->nfiles) {
			aud_case_add_file(c, xstrdup(dc->files[dc->label]));
			if (c->nfiles)
				c->label = 0;
		}
		for (k = 0; k < dc->nfiles; k++)
			if ((int)k != dc->label)
				aud_case_add_file(c, xstrdup(dc->files[k]));
	}
	if (!c->skip_reason && !c->nfiles)
		c->skip_reason = xstrdup(c->nskipped_files ? "no NIfTI file (.nii, .nii.gz) to read"
							   : "no files");
}

bool aud_dataset_has_labels(const struct dataset *ds)
{
	const struct ds_format_ops *ops = ops_of(ds);
	size_t i;

	if (ops->audit_has_labels)
		return ops->audit_has_labels(ds);
	for (i = 0; i < ds->ncases; i++) {
		const struct ds_case *c = &ds->cases[i];

		if (c->label >= 0 && (size_t)c->label < c->nfiles && name_is_nifti(c->files[c->label]))
			return true;
	}
	return false;
}

/* ---- histogram mode: the majority's values ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	if (isnan(x) || isnan(y))
		return isnan(x) - isnan(y);
	return (x > y) - (x < y);
}

/* The inferred set: 0..m, the longest run from 0 of values found in more
 * than a tenth of the cases read and in at least 2 (1 when only 1 was
 * read); when 0 is not common, the common values themselves. */
static void infer_set(struct ctx *x)
{
	struct aud_result *r = x->r;
	double *all = NULL;
	size_t n = 0, cap = 0, nread = 0, i, j, k, cap2 = 0;
	size_t need;

	for (i = 0; i < r->ncases; i++) {
		if (!x->label_read[i])
			continue;
		nread++;
		for (k = 0; k < r->cases[i].nvalues; k++) {
			if (n == cap) {
				cap = cap ? 2 * cap : 64;
				all = xrealloc(all, cap * sizeof(*all));
			}
			all[n++] = r->cases[i].values[k].value;
		}
	}
	need = nread / 10 + 1;
	if (need < 2)
		need = nread >= 2 ? 2 : 1;
	if (n > 1)
		qsort(all, n, sizeof(*all), cmp_double);
	x->decl.n = 0;
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && all[j] == all[i]; j++)
			;
		if (j - i >= need && is_int64(all[i]))
			decl_add(&x->decl, (int64_t)all[i], &cap2);
	}
	if (decl_has_int(&x->decl, 0)) {
		int64_t m = 0;

		while (decl_has_int(&x->decl, m + 1))
			m++;
		x->decl.n = 0;
		for (int64_t v = 0; v <= m; v++)
			decl_add(&x->decl, v, &cap2);
	}
	decl_sort(&x->decl);
	free(all);
}

/* ---- the whole audit ---- */

static void count_findings(struct aud_result *r)
{
	size_t i, k;

	memset(r->findings, 0, sizeof(r->findings));
	memset(r->cases_with, 0, sizeof(r->cases_with));
	r->bytes = 0;
	r->files_read = 0;
	r->cases_read = 0;
	for (i = 0; i < r->ncases; i++) {
		const struct aud_case *c = &r->cases[i];
		unsigned seen = 0;

		for (k = 0; k < c->nfindings; k++) {
			r->findings[c->findings[k].severity]++;
			seen |= 1u << c->findings[k].severity;
		}
		for (k = 0; k < AUD_NSEVERITIES; k++)
			if (seen & (1u << k))
				r->cases_with[k]++;
		r->bytes += c->bytes;
		if (!c->skip_reason) {
			r->cases_read++;
			r->files_read += c->nfiles;
		}
	}
}

int aud_run(const struct dataset *ds, const struct aud_options *o, struct aud_result *out,
	    char *err, size_t errlen)
{
	struct ctx x;
	uint64_t t0 = uv_hrtime();
	const struct ds_format_ops *ops = ops_of(ds);
	char *raw_dir = NULL;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&x, 0, sizeof(x));
	x.ds = ds;
	x.o = o;
	x.r = out;
	if (o->labels) {
		if (decl_from_list(&x.decl, o->labels, err, errlen))
			return -1;
	} else if (ds->labels_json) {
		if (decl_from_json(&x.decl, out, ds->labels_json, err, errlen)) {
			free(x.decl.v);
			return -1;
		}
	} else {
		x.decl.mode = AUD_MODE_HISTOGRAM;
	}
	x.decl.active = x.decl.mode != AUD_MODE_HISTOGRAM;
	out->mode = x.decl.mode;
	out->jobs = o->jobs ? o->jobs : uv_available_parallelism();
	if (out->jobs < 1)
		out->jobs = 1;
	x.max = out->jobs;
	out->ncases = ds->ncases;
	out->cases = xcalloc(ds->ncases ? ds->ncases : 1, sizeof(*out->cases));
	x.label_read = xcalloc(ds->ncases ? ds->ncases : 1, sizeof(bool));
	x.jobs = xcalloc(ds->ncases ? ds->ncases : 1, sizeof(*x.jobs));
	x.queue = xcalloc(ds->ncases ? ds->ncases : 1, sizeof(*x.queue));
	if (ops->audit_begin)
		raw_dir = ops->audit_begin(ds);
	for (i = 0; i < ds->ncases; i++) {
		case_files(ds, ops, i, raw_dir, &out->cases[i]);
		x.jobs[i].ctx = &x;
		x.jobs[i].index = i;
		x.queue[i] = i;
	}
	free(raw_dir);
	x.nqueue = ds->ncases;
	x.declared = decl_text(x.decl.v, x.decl.n);

	rc = uv_loop_init(&x.loop);
	if (rc)
		die("cannot start an event loop: %s", uv_strerror(rc));
	/* libuv sizes its pool (4 threads by default) once, at its first use,
	 * from UV_THREADPOOL_SIZE: unless the user set it, ask for enough
	 * threads for this audit and any later one (the cores, or more jobs),
	 * and take the variable away again so that trainers never inherit it.
	 * x.max, not the pool, bounds this audit's concurrency. */
	if (!getenv("UV_THREADPOOL_SIZE")) {
		unsigned want = uv_available_parallelism();
		char n[16];

		if (want < x.max)
			want = x.max;
		if (want < 4)
			want = 4;
		snprintf(n, sizeof(n), "%u", want > 1024 ? 1024 : want);
		x.unset_env = setenv("UV_THREADPOOL_SIZE", n, 0) == 0;
	}
	run_queue(&x);

	if (x.decl.mode == AUD_MODE_HISTOGRAM) {
		infer_set(&x);
		x.decl.active = true;
		free(x.declared);
		x.declared = decl_text(x.decl.v, x.decl.n);
		x.nqueue = 0;
		for (i = 0; i < ds->ncases; i++) {
			const struct aud_case *c = &out->cases[i];
			size_t k;
			bool odd = false;

			if (!x.label_read[i])
				continue;
			for (k = 0; k < c->nvalues && !odd; k++)
				odd = !decl_has(&x.decl, c->values[k].value);
			if (odd)
				x.queue[x.nqueue++] = i;
		}
		x.values_only = true;
		run_queue(&x);
	}
	if (uv_loop_close(&x.loop) != 0)
		die("audit: handles left open on the event loop");
	out->declared = x.decl.v;
	out->ndeclared = x.decl.n;
	count_findings(out);
	out->seconds = (double)(uv_hrtime() - t0) / 1e9;
	free(x.declared);
	free(x.jobs);
	free(x.queue);
	free(x.label_read);
	return 0;
}

void aud_result_release(struct aud_result *r)
{
	size_t i, k;

	for (i = 0; i < r->ncases; i++) {
		struct aud_case *c = &r->cases[i];

		for (k = 0; k < c->nfiles; k++)
			free(c->files[k]);
		free(c->files);
		for (k = 0; k < c->nskipped_files; k++)
			free(c->skipped_files[k]);
		free(c->skipped_files);
		free(c->skip_reason);
		for (k = 0; k < c->nfindings; k++)
			free(c->findings[k].detail);
		free(c->findings);
		free(c->values);
	}
	free(r->cases);
	free(r->declared);
	memset(r, 0, sizeof(*r));
}

unsigned aud_case_severities(const struct aud_result *r, size_t i)
{
	unsigned bits = 0;
	size_t k;

	assert(i < r->ncases);
	for (k = 0; k < r->cases[i].nfindings; k++)
		bits |= 1u << r->cases[i].findings[k].severity;
	return bits;
}

bool aud_case_crashes(const struct aud_result *r, size_t i)
{
	return (aud_case_severities(r, i) & (1u << AUD_CRASH)) != 0;
}

bool aud_case_clean(const struct aud_result *r, size_t i)
{
	assert(i < r->ncases);
	return !r->cases[i].skip_reason && r->cases[i].nfindings == 0;
}

/* ---- JSON ---- */

static void die_oom(const void *p)
{
	if (!p)
		die("out of memory building JSON");
}

static cJSON *jnum(double v)
{
	cJSON *it = isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();

	die_oom(it);
	return it;
}

static cJSON *jbox(const int64_t v[3])
{
	cJSON *a = cJSON_CreateArray();
	int k;

	die_oom(a);
	for (k = 0; k < 3; k++)
		cJSON_AddItemToArray(a, jnum((double)v[k]));
	return a;
}

cJSON *aud_case_json(const struct aud_result *r, size_t i)
{
	const struct aud_case *c;
	cJSON *o = cJSON_CreateObject(), *files, *fs, *vs;
	size_t k;

	assert(i < r->ncases);
	c = &r->cases[i];
	die_oom(o);
	cJSON_AddItemToObject(o, "case", json_string(c->id));
	files = cJSON_AddArrayToObject(o, "files");
	die_oom(files);
	for (k = 0; k < c->nfiles; k++)
		cJSON_AddItemToArray(files, json_string(c->files[k]));
	if (c->label >= 0)
		cJSON_AddItemToObject(o, "label", json_string(c->files[c->label]));
	else
		die_oom(cJSON_AddNullToObject(o, "label"));
	fs = cJSON_AddArrayToObject(o, "findings");
	die_oom(fs);
	for (k = 0; k < c->nfindings; k++) {
		const struct aud_finding *f = &c->findings[k];
		cJSON *fo = cJSON_CreateObject();

		die_oom(fo);
		cJSON_AddItemToObject(fo, "severity", json_string(aud_severity_name(f->severity)));
		cJSON_AddItemToObject(fo, "kind", json_string(aud_kind_name(f->kind)));
		cJSON_AddItemToObject(fo, "file", json_string(c->files[f->file]));
		cJSON_AddItemToObject(fo, "detail", json_string(f->detail));
		if (f->has_value) {
			if (isnan(f->value))
				cJSON_AddItemToObject(fo, "value", json_string("NaN"));
			else if (isinf(f->value))
				cJSON_AddItemToObject(fo, "value", json_string(f->value > 0 ? "Inf" : "-Inf"));
			else
				cJSON_AddItemToObject(fo, "value", jnum(f->value));
		}
		if (f->voxels)
			cJSON_AddItemToObject(fo, "voxels", jnum((double)f->voxels));
		if (f->has_bbox) {
			cJSON *b = cJSON_CreateObject();

			die_oom(b);
			cJSON_AddItemToObject(b, "min", jbox(f->lo));
			cJSON_AddItemToObject(b, "max", jbox(f->hi));
			cJSON_AddItemToObject(fo, "bbox", b);
		}
		cJSON_AddItemToArray(fs, fo);
	}
	vs = cJSON_AddArrayToObject(o, "values");
	die_oom(vs);
	for (k = 0; k < c->nvalues; k++) {
		cJSON *pair = cJSON_CreateArray();

		die_oom(pair);
		cJSON_AddItemToArray(pair, isnan(c->values[k].value) ? json_string("NaN")
								     : jnum(c->values[k].value));
		cJSON_AddItemToArray(pair, jnum((double)c->values[k].voxels));
		cJSON_AddItemToArray(vs, pair);
	}
	if (c->skip_reason)
		cJSON_AddItemToObject(o, "skipped", json_string(c->skip_reason));
	if (c->nskipped_files) {
		cJSON *sk = cJSON_AddArrayToObject(o, "not_nifti");

		die_oom(sk);
		for (k = 0; k < c->nskipped_files; k++)
			cJSON_AddItemToArray(sk, json_string(c->skipped_files[k]));
	}
	return o;
}

static const char *mode_name(enum aud_mode m)
{
	switch (m) {
	case AUD_MODE_DECLARED: return "dataset.json";
	case AUD_MODE_REGIONS: return "dataset.json-regions";
	case AUD_MODE_LIST: return "--labels";
	default: return "histogram";
	}
}

cJSON *aud_summary_json(const struct aud_result *r)
{
	cJSON *s = cJSON_CreateObject(), *f, *cw, *d;
	size_t k, skipped = 0;

	die_oom(s);
	for (k = 0; k < r->ncases; k++)
		skipped += r->cases[k].skip_reason != NULL;
	cJSON_AddItemToObject(s, "cases", jnum((double)r->ncases));
	cJSON_AddItemToObject(s, "cases_read", jnum((double)r->cases_read));
	cJSON_AddItemToObject(s, "cases_skipped", jnum((double)skipped));
	cJSON_AddItemToObject(s, "files_read", jnum((double)r->files_read));
	cJSON_AddItemToObject(s, "mb_read", jnum((double)r->bytes / 1e6));
	cJSON_AddItemToObject(s, "seconds", jnum(r->seconds));
	cJSON_AddItemToObject(s, "jobs", jnum(r->jobs));
	cJSON_AddItemToObject(s, "labels_from", json_string(mode_name(r->mode)));
	d = cJSON_AddArrayToObject(s, "labels");
	die_oom(d);
	for (k = 0; k < r->ndeclared; k++)
		cJSON_AddItemToArray(d, jnum((double)r->declared[k]));
	if (r->has_ignore)
		cJSON_AddItemToObject(s, "ignore", jnum((double)r->ignore));
	f = cJSON_AddObjectToObject(s, "findings");
	cw = cJSON_AddObjectToObject(s, "cases_with");
	die_oom(f);
	die_oom(cw);
	for (k = 0; k < AUD_NSEVERITIES; k++) {
		cJSON_AddItemToObject(f, aud_severity_name((enum aud_severity)k),
				      jnum((double)r->findings[k]));
		cJSON_AddItemToObject(cw, aud_severity_name((enum aud_severity)k),
				      jnum((double)r->cases_with[k]));
	}
	return s;
}

cJSON *aud_json(const struct aud_result *r, bool all)
{
	cJSON *o = cJSON_CreateObject(), *cases;
	size_t i;

	die_oom(o);
	cases = cJSON_AddArrayToObject(o, "cases");
	die_oom(cases);
	for (i = 0; i < r->ncases; i++)
		if (all || r->cases[i].nfindings || r->cases[i].skip_reason)
			cJSON_AddItemToArray(cases, aud_case_json(r, i));
	cJSON_AddItemToObject(o, "summary", aud_summary_json(r));
	return o;
}

/* ---- reading slices (for the report's pictures) ---- */

/* The largest slice aud_read_slices() holds: 2^26 voxels (512 MiB as
 * doubles); a header with more per slice is no label map to draw. */
#define AUD_MAX_SLICE ((uint64_t)1 << 26)

int aud_read_slices(const char *path, int (*fn)(void *ctx, const struct aud_slice *s), void *ctx,
		    char *err, size_t errlen)
{
	struct nfile f;
	struct hdr h;
	struct problem p;
	struct aud_slice s;
	unsigned char *raw = NULL;
	double *plane = NULL;
	uint64_t per;
	size_t rawlen, got, j;
	int ret = -1;

	memset(&p, 0, sizeof(p));
	if (nf_open(&f, path, true, &p))
		goto out;
	if (hdr_read(&f, &h, true, &p))
		goto out;
	per = (uint64_t)h.dim[1] * (uint64_t)h.dim[2]; /* each <= 2^31: no overflow */
	if (per > AUD_MAX_SLICE) {
		problem(&p, AUD_K_BAD_HEADER, "a slice of %" PRId64 "x%" PRId64 " voxels is too "
			"large to draw", h.dim[1], h.dim[2]);
		goto out;
	}
	rawlen = (size_t)per * (size_t)h.nbyper;
	raw = xmalloc(rawlen > AUD_SLAB ? rawlen : AUD_SLAB);
	plane = xmalloc((size_t)per * sizeof(*plane));
	if (nf_skip_to_data(&f, &h, raw, AUD_SLAB, &p))
		goto out;
	memset(&s, 0, sizeof(s));
	s.nx = h.dim[1];
	s.ny = h.dim[2];
	s.nz = h.dim[3];
	for (j = 0; j < 3; j++)
		s.pixdim[j] = h.pixdim[j + 1];
	s.v = plane;
	for (s.z = 0; s.z < s.nz; s.z++) {
		if (nf_read(&f, raw, rawlen, &got, &p))
			goto out;
		if (got < rawlen) {
			problem(&p, AUD_K_TRUNCATED, "truncated: the voxel data ends in slice %" PRId64,
				s.z);
			goto out;
		}
		if (h.swapped && h.nbyper > 1)
			swap_slab(raw, (size_t)per, h.nbyper);
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
				key = load_key(q, h.nbyper);
			}
			plane[j] = key_value(&h, key);
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
	nf_close(&f);
	return ret;
}
