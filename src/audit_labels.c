/* audit_labels: the declared set, parsed from --labels or dataset.json, or
 * inferred from the cases' values. See src/audit_labels.h. */
#include "audit_labels.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "casebisect/util.h"

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

void aud_decl_add(struct aud_decl *d, int64_t v, size_t *cap)
{
	if (d->n == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		d->v = xrealloc(d->v, *cap * sizeof(*d->v));
	}
	d->v[d->n++] = v;
}

void aud_decl_sort(struct aud_decl *d)
{
	size_t i, k = 0;

	if (d->n > 1)
		qsort(d->v, d->n, sizeof(*d->v), cmp_i64);
	for (i = 0; i < d->n; i++)
		if (!k || d->v[k - 1] != d->v[i])
			d->v[k++] = d->v[i];
	d->n = k;
}

bool aud_is_int64(double v)
{
	return v == trunc(v) && v >= -9.2e18 && v <= 9.2e18;
}

bool aud_decl_has_int(const struct aud_decl *d, int64_t k)
{
	return d->n && bsearch(&k, d->v, d->n, sizeof(*d->v), cmp_i64) != NULL;
}

bool aud_decl_has(const struct aud_decl *d, double v)
{
	return aud_is_int64(v) && aud_decl_has_int(d, (int64_t)v);
}

static bool json_whole(const cJSON *it, int64_t *out)
{
	if (!cJSON_IsNumber(it) || !aud_is_int64(it->valuedouble))
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
int aud_decl_from_json(struct aud_decl *d, struct aud_result *r, const char *json, char *err,
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
			aud_decl_add(d, v, &cap);
		aud_decl_sort(d);
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
			aud_decl_add(d, v, &cap);
			continue;
		}
		if (cJSON_IsArray(it)) {
			cJSON_ArrayForEach(m, it) {
				if (!json_whole(m, &v))
					goto bad;
				aud_decl_add(d, v, &cap);
			}
			continue;
		}
		if (!json_whole(it, &v))
			goto bad;
		nplain++;
		if (d->mode == AUD_MODE_REGIONS)
			aud_decl_add(d, v, &cap);
	}
	/* nnunet.md 4.5: the loss has one channel per label and indexes it with
	 * the stored value, whatever values were declared. */
	if (d->mode == AUD_MODE_DECLARED)
		for (v = 0; v < (int64_t)nplain; v++)
			aud_decl_add(d, v, &cap);
	else
		aud_decl_add(d, 0, &cap);
	aud_decl_sort(d);
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
int aud_decl_from_list(struct aud_decl *d, const char *list, char *err, size_t errlen)
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
			aud_decl_add(d, a, &cap);
		if (*end == '\0')
			break;
		if (*end != ',')
			goto bad;
		p = end + 1;
	}
	aud_decl_sort(d);
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
char *aud_decl_text(const int64_t *v, size_t n)
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
void aud_decl_infer(struct aud_decl *d, const struct aud_result *r, const bool *label_read)
{
	double *all = NULL;
	size_t n = 0, cap = 0, nread = 0, i, j, k, cap2 = 0;
	size_t need;

	for (i = 0; i < r->ncases; i++) {
		if (!label_read[i])
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
	d->n = 0;
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && all[j] == all[i]; j++)
			;
		if (j - i >= need && aud_is_int64(all[i]))
			aud_decl_add(d, (int64_t)all[i], &cap2);
	}
	if (aud_decl_has_int(d, 0)) {
		int64_t m = 0;

		while (aud_decl_has_int(d, m + 1))
			m++;
		d->n = 0;
		for (int64_t v = 0; v <= m; v++)
			aud_decl_add(d, v, &cap2);
	}
	aud_decl_sort(d);
	free(all);
}
