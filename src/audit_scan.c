/* audit_scan: a label's histogram and an image's NaN/Inf counts, one slab
 * at a time. See src/audit_scan.h. */
#include "audit_scan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "casebisect/util.h"

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
	const struct aud_hdr *h;
	const struct aud_decl *d;
	bool track;          /* find bounding boxes of values not in d */
	uint64_t *hist;      /* 8- and 16-bit types: counts by raw value */
	unsigned char *badt; /* ... and whether each is bad */
	size_t histn;
	struct vmap map;     /* other types: the values; 8/16-bit: bad values' boxes */
	uint64_t vox;        /* index of the slab's first voxel */
};

static bool key_bad(const struct scan *s, uint64_t key)
{
	return s->track && !aud_decl_has(s->d, aud_key_value(s->h, key));
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

static void box_add(const struct aud_hdr *h, struct vent *e, uint64_t idx)
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

/* One slab of nvox voxels in host order. */
static void scan_slab(struct scan *s, const unsigned char *p, size_t nvox)
{
	const struct aud_hdr *h = s->h;
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
			uint64_t k = aud_load_key(p + (size_t)nb * j, nb);

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

static int cmp_val(const void *a, const void *b)
{
	double x = ((const struct aud_val *)a)->value, y = ((const struct aud_val *)b)->value;

	if (isnan(x) || isnan(y))
		return isnan(x) - isnan(y);
	return (x > y) - (x < y);
}

void aud_val_merge_box(struct aud_val *v, const int64_t lo[3], const int64_t hi[3])
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

static void vals_add(struct aud_vals *out, size_t *cap, double value, uint64_t voxels,
		     const struct vent *box)
{
	struct aud_val *v;

	if (out->n == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		out->v = xrealloc(out->v, *cap * sizeof(*out->v));
	}
	v = &out->v[out->n++];
	memset(v, 0, sizeof(*v));
	v->value = value;
	v->voxels = voxels;
	if (box && box->boxed)
		aud_val_merge_box(v, box->lo, box->hi);
}

/* The scan's values, sorted, equal values (+0/-0, NaNs) merged. */
static void scan_values(struct scan *s, struct aud_vals *out)
{
	size_t cap = 0, i, k;

	memset(out, 0, sizeof(*out));
	if (s->hist) {
		for (i = 0; i < s->histn; i++)
			if (s->hist[i])
				vals_add(out, &cap, aud_key_value(s->h, i), s->hist[i],
					 s->badt[i] ? vmap_find(&s->map, i, false) : NULL);
	} else {
		for (i = 0; i < s->map.cap; i++)
			if (s->map.e[i].used && s->map.e[i].count)
				vals_add(out, &cap, aud_key_value(s->h, s->map.e[i].key),
					 s->map.e[i].count, &s->map.e[i]);
	}
	out->overflow = s->map.overflow;
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_val);
	for (i = k = 0; i < out->n; i++) {
		struct aud_val *a = &out->v[i];

		if (k && (out->v[k - 1].value == a->value ||
			  (isnan(out->v[k - 1].value) && isnan(a->value)))) {
			out->v[k - 1].voxels += a->voxels;
			if (a->boxed)
				aud_val_merge_box(&out->v[k - 1], a->lo, a->hi);
			continue;
		}
		out->v[k++] = *a;
	}
	out->n = k;
}

/*
 * Streams h's voxel data from f (header read) through buf, AUD_SLAB bytes,
 * whole voxels per slab: each(ctx, buf, bytes). Then one byte more of a
 * gzip stream: zlib checks the trailer (CRC, length) at the end.
 */
static int stream_voxels(struct aud_nfile *f, const struct aud_hdr *h, unsigned char *buf,
			 void (*each)(void *ctx, unsigned char *buf, size_t n), void *ctx,
			 struct aud_problem *p)
{
	uint64_t left = h->data_bytes;
	size_t slab = AUD_SLAB - AUD_SLAB % (size_t)h->nbyper, got;

	if (aud_nf_skip_to_data(f, h, buf, AUD_SLAB, p))
		return -1;
	while (left) {
		size_t n = left < slab ? (size_t)left : slab;

		if (aud_nf_read(f, buf, n, &got, p))
			return -1;
		if (got < n) {
			char have[32], need[32];

			return aud_problem(p, AUD_K_TRUNCATED, "truncated: the voxel data ends after "
					   "%s of %s",
					   aud_human_bytes(h->data_bytes - left + got, have, sizeof(have)),
					   aud_human_bytes(h->data_bytes, need, sizeof(need)));
		}
		each(ctx, buf, n);
		left -= n;
	}
	if (f->gz && aud_nf_read(f, buf, 1, &got, p))
		return -1;
	return 0;
}

static void label_slab(void *ctx, unsigned char *buf, size_t n)
{
	struct scan *s = ctx;
	int nb = s->h->nbyper;

	if (s->h->swapped && nb > 1)
		aud_swap_slab(buf, n / (size_t)nb, nb);
	scan_slab(s, buf, n / (size_t)nb);
}

int aud_scan_label(struct aud_nfile *f, const struct aud_hdr *h, const struct aud_decl *d,
		   unsigned char *buf, struct aud_vals *vals, struct aud_problem *p)
{
	struct scan s;
	size_t i;
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
	if (stream_voxels(f, h, buf, label_slab, &s, p))
		goto out;
	scan_values(&s, vals);
	ret = 0;
out:
	free(s.hist);
	free(s.badt);
	free(s.map.e);
	return ret;
}

/* What aud_scan_image() counts. */
struct nonfinite {
	const struct aud_hdr *h;
	uint64_t nan, inf;
};

static void image_slab(void *ctx, unsigned char *buf, size_t n)
{
	struct nonfinite *c = ctx;
	bool s = c->h->swapped;
	size_t j;

	if (c->h->datatype == DT_FLOAT32) {
		for (j = 0; j + 4 <= n; j += 4) {
			uint32_t v;

			memcpy(&v, buf + j, 4);
			v = aud_sw32(v, s);
			if ((v & 0x7f800000u) == 0x7f800000u) {
				if (v & 0x007fffffu)
					c->nan++;
				else
					c->inf++;
			}
		}
	} else {
		for (j = 0; j + 8 <= n; j += 8) {
			uint64_t v;

			memcpy(&v, buf + j, 8);
			v = aud_sw64(v, s);
			if ((v & 0x7ff0000000000000ull) == 0x7ff0000000000000ull) {
				if (v & 0x000fffffffffffffull)
					c->nan++;
				else
					c->inf++;
			}
		}
	}
}

int aud_scan_image(struct aud_nfile *f, const struct aud_hdr *h, unsigned char *buf,
		   uint64_t *nan, uint64_t *inf, struct aud_problem *p)
{
	struct nonfinite c = { .h = h };
	int ret = stream_voxels(f, h, buf, image_slab, &c, p);

	*nan = c.nan;
	*inf = c.inf;
	return ret;
}
