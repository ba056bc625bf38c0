/* journal_entry: a journal entry as one line of JSON and back (the line
 * codec: fields, exact numbers, "case_ranges"), and an entry's subset as
 * index ranges; the contract is in include/casebisect/journal.h. */
#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "casebisect/journal.h"
#include "casebisect/json.h"
#include "casebisect/util.h"
#include "journal_int.h"

/*
 * Parses buf[0..len) as one JSON value with nothing but whitespace after it.
 * cJSON stops at the end of the first value, so without the check
 * `{"trial":1}xyz` would pass. NULL when it is not one whole value.
 */
cJSON *jrn_parse_whole(const char *buf, size_t len)
{
	const char *end = NULL;
	cJSON *v = cJSON_ParseWithLengthOpts(buf, len, &end, false);

	if (!v)
		return NULL;
	for (; end && end < buf + len; end++) {
		if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
			cJSON_Delete(v);
			return NULL;
		}
	}
	return v;
}

/* ---- entries <-> JSON ---- */

static void add_item(cJSON *obj, const char *key, cJSON *item)
{
	if (!item || !cJSON_AddItemToObject(obj, key, item))
		die("out of memory building JSON");
}

/* A fixed-size field: "" (absent) is written as null. */
static void add_field(cJSON *obj, const char *key, const char *v, size_t size)
{
	assert(memchr(v, '\0', size));
	add_item(obj, key, *v ? cJSON_CreateString(v) : cJSON_CreateNull());
}

/*
 * A number that reads back as the same double. cJSON prints 15 digits and
 * accepts them when they come back within an epsilon, which moves start
 * times by a bit (1732665785.2229998 came back as 1732665785.223); replay
 * must give back what was written, so the shortest of %.15g..%.17g that
 * strtod turns back into d exactly goes out as raw JSON. Finite only.
 */
static cJSON *exact_number(double d)
{
	char buf[40], *p;
	int prec;

	assert(isfinite(d));
	for (prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	/* Under a locale with a decimal comma (cJSON copes with it too). */
	for (p = buf; *p; p++)
		if (*p == ',')
			*p = '.';
	return cJSON_CreateRaw(buf);
}

static cJSON *string_array(char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	if (!a)
		die("out of memory building JSON");
	assert(n == 0 || v);
	for (i = 0; i < n; i++) {
		cJSON *s;

		assert(v[i]);
		s = cJSON_CreateString(v[i]);
		if (!s || !cJSON_AddItemToArray(a, s))
			die("out of memory building JSON");
	}
	return a;
}

/* The ranges as raw JSON text, "[[0,999999]]": written as text, since a
 * cJSON tree costs about a hundred bytes a number. */
static cJSON *ranges_raw(const struct jrn_range *v, size_t n)
{
	size_t cap = 64 + n * 44, len = 0, i;
	char *buf = xmalloc(cap);
	cJSON *raw;

	buf[len++] = '[';
	for (i = 0; i < n; i++) {
		assert(v[i].first <= v[i].last);
		len += (size_t)snprintf(buf + len, cap - len, "%s[%zu,%zu]", i ? "," : "",
					v[i].first, v[i].last);
	}
	buf[len++] = ']';
	buf[len] = '\0';
	raw = cJSON_CreateRaw(buf);
	free(buf);
	return raw;
}

bool jrn_valid_outcome(const char *s)
{
	return !strcmp(s, "PASS") || !strcmp(s, "FAIL") || !strcmp(s, "UNRESOLVED");
}

/* The line for e, with its newline; the caller frees it. */
char *jrn_entry_line(const struct jrn_entry *e, size_t *len)
{
	cJSON *o = cJSON_CreateObject();
	char *line;
	size_t n;

	if (!o)
		die("out of memory building JSON");
	add_item(o, "trial", exact_number((double)e->trial));
	add_field(o, "phase", e->phase, sizeof(e->phase));
	if (e->ranges || !e->ids)
		add_item(o, "case_ranges", ranges_raw(e->ranges, e->nranges));
	if (e->ids)
		add_item(o, "cases", string_array(e->ids, e->ncases));
	if (e->case_order[0])
		add_field(o, "case_order", e->case_order, sizeof(e->case_order));
	add_field(o, "outcome", e->outcome, sizeof(e->outcome));
	add_field(o, "class", e->klass, sizeof(e->klass));
	add_field(o, "fingerprint", e->fingerprint, sizeof(e->fingerprint));
	add_field(o, "reason", e->reason, sizeof(e->reason));
	add_field(o, "evidence", e->evidence, sizeof(e->evidence));
	add_item(o, "slot", exact_number(e->slot));
	add_item(o, "gpu", e->gpu >= 0 ? exact_number(e->gpu) : cJSON_CreateNull());
	if (e->node[0])
		add_field(o, "node", e->node, sizeof(e->node));
	add_item(o, "start", exact_number(e->start));
	add_item(o, "duration_s", exact_number(e->duration_s));
	add_item(o, "suspects", string_array(e->suspects, e->nsuspects));
	line = json_line(o, false);
	cJSON_Delete(o);
	/* cJSON escapes control characters in strings: no newline inside. */
	n = strlen(line);
	assert(memchr(line, '\n', n) == line + n - 1);
	*len = n;
	return line;
}

static const cJSON *member(const cJSON *o, const char *key, char *msg, size_t msglen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!v)
		cb_set_err(msg, msglen, "\"%s\" is missing", key);
	return v;
}

/* A string or null (""), into dst[size]. */
static int get_field(const cJSON *o, const char *key, char *dst, size_t size, char *msg,
		     size_t msglen)
{
	const cJSON *v = member(o, key, msg, msglen);

	if (!v)
		return -1;
	if (cJSON_IsNull(v)) {
		dst[0] = '\0';
		return 0;
	}
	if (!cJSON_IsString(v)) {
		cb_set_err(msg, msglen, "\"%s\" is not a string", key);
		return -1;
	}
	if (cb_strlcpy(dst, v->valuestring, size) >= size) {
		cb_set_err(msg, msglen, "\"%s\" is longer than %zu bytes", key, size - 1);
		return -1;
	}
	return 0;
}

/* A whole number in [lo, hi]; null gives null_value when null_ok. */
static int get_whole(const cJSON *o, const char *key, double lo, double hi, bool null_ok,
		     double null_value, double *out, char *msg, size_t msglen)
{
	const cJSON *v = member(o, key, msg, msglen);
	double d;

	if (!v)
		return -1;
	if (null_ok && cJSON_IsNull(v)) {
		*out = null_value;
		return 0;
	}
	d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
	if (!(d >= lo && d <= hi) || d != floor(d)) {
		cb_set_err(msg, msglen, "\"%s\" is not a whole number from %.0f to %.0f", key, lo, hi);
		return -1;
	}
	*out = d;
	return 0;
}

static int get_finite(const cJSON *o, const char *key, double *out, char *msg, size_t msglen)
{
	const cJSON *v = member(o, key, msg, msglen);

	if (!v)
		return -1;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
		cb_set_err(msg, msglen, "\"%s\" is not a number", key);
		return -1;
	}
	*out = v->valuedouble;
	return 0;
}

static int get_strings(const cJSON *o, const char *key, char ***out, size_t *nout, char *msg,
		       size_t msglen)
{
	const cJSON *a = member(o, key, msg, msglen), *s;
	size_t n = 0, i = 0;
	char **v;

	if (!a)
		return -1;
	if (!cJSON_IsArray(a))
		goto bad;
	/* cJSON_GetArrayItem walks from the start: iterate instead. */
	cJSON_ArrayForEach(s, a)
	{
		if (!cJSON_IsString(s))
			goto bad;
		n++;
	}
	if (n > SIZE_MAX / sizeof(*v))
		die("out of memory: %zu strings", n);
	v = n ? xmalloc(n * sizeof(*v)) : NULL;
	cJSON_ArrayForEach(s, a) v[i++] = xstrdup(s->valuestring);
	*out = v;
	*nout = n;
	return 0;
bad:
	cb_set_err(msg, msglen, "\"%s\" is not an array of strings", key);
	return -1;
}

/* "case_ranges" into e->ranges and e->ncases. */
static int get_ranges(const cJSON *o, struct jrn_entry *e, char *msg, size_t msglen)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "case_ranges"), *p;
	size_t n = 0, i = 0;

	if (!cJSON_IsArray(a))
		goto bad;
	cJSON_ArrayForEach(p, a) n++;
	e->ranges = xmalloc((n ? n : 1) * sizeof(*e->ranges));
	cJSON_ArrayForEach(p, a)
	{
		const cJSON *x = cJSON_GetArrayItem(p, 0), *y = cJSON_GetArrayItem(p, 1);
		double f = cJSON_IsNumber(x) ? x->valuedouble : NAN;
		double l = cJSON_IsNumber(y) ? y->valuedouble : NAN;

		if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) != 2 || !(f >= 0 && f <= l) ||
		    !(l < TRIAL_MAX) || f != floor(f) || l != floor(l))
			goto bad;
		e->ranges[i].first = (size_t)f;
		e->ranges[i].last = (size_t)l;
		e->ncases += e->ranges[i].last - e->ranges[i].first + 1;
		i++;
	}
	e->nranges = n;
	return 0;
bad:
	cb_set_err(msg, msglen, "\"case_ranges\" is not an array of [first,last] index pairs");
	return -1;
}

/* Fills e (zeroed first) from one journal object; msg says what is wrong. */
int jrn_entry_from_json(const cJSON *o, struct jrn_entry *e, char *msg, size_t msglen)
{
	double d;

	memset(e, 0, sizeof(*e));
	if (!cJSON_IsObject(o)) {
		cb_set_err(msg, msglen, "not a JSON object");
		return -1;
	}
	if (get_whole(o, "trial", 1, TRIAL_MAX, false, 0, &d, msg, msglen) < 0)
		goto fail;
	e->trial = (uint64_t)d;
	/* phase and evidence came later: a journal without them is fine. */
	if (cJSON_HasObjectItem(o, "phase") &&
	    get_field(o, "phase", e->phase, sizeof(e->phase), msg, msglen) < 0)
		goto fail;
	/* "case_ranges" came later: an older journal lists every ID. */
	if (cJSON_HasObjectItem(o, "case_ranges") && get_ranges(o, e, msg, msglen) < 0)
		goto fail;
	if ((!e->ranges || cJSON_HasObjectItem(o, "cases"))) {
		size_t nids = 0;

		if (get_strings(o, "cases", &e->ids, &nids, msg, msglen) < 0)
			goto fail;
		if (e->ranges && nids != e->ncases) {
			cb_set_err(msg, msglen, "\"cases\" holds %zu IDs, \"case_ranges\" %zu cases",
				   nids, e->ncases);
			goto fail;
		}
		e->ncases = nids;
	}
	if (cJSON_HasObjectItem(o, "case_order") &&
	    get_field(o, "case_order", e->case_order, sizeof(e->case_order), msg, msglen) < 0)
		goto fail;
	if (get_field(o, "outcome", e->outcome, sizeof(e->outcome), msg, msglen) < 0)
		goto fail;
	if (!jrn_valid_outcome(e->outcome)) {
		cb_set_err(msg, msglen, "\"outcome\" is \"%s\", not PASS, FAIL or UNRESOLVED",
			e->outcome);
		goto fail;
	}
	if (get_field(o, "class", e->klass, sizeof(e->klass), msg, msglen) < 0 ||
	    get_field(o, "fingerprint", e->fingerprint, sizeof(e->fingerprint), msg, msglen) < 0 ||
	    get_field(o, "reason", e->reason, sizeof(e->reason), msg, msglen) < 0 ||
	    (cJSON_HasObjectItem(o, "evidence") &&
	     get_field(o, "evidence", e->evidence, sizeof(e->evidence), msg, msglen) < 0))
		goto fail;
	if (get_whole(o, "slot", 0, INT_MAX, false, 0, &d, msg, msglen) < 0)
		goto fail;
	e->slot = (int)d;
	if (get_whole(o, "gpu", -1, INT_MAX, true, -1, &d, msg, msglen) < 0)
		goto fail;
	e->gpu = (int)d;
	/* node came with --launcher slurm: absent is "". */
	if (cJSON_HasObjectItem(o, "node") &&
	    get_field(o, "node", e->node, sizeof(e->node), msg, msglen) < 0)
		goto fail;
	if (get_finite(o, "start", &e->start, msg, msglen) < 0 ||
	    get_finite(o, "duration_s", &e->duration_s, msg, msglen) < 0)
		goto fail;
	if (get_strings(o, "suspects", &e->suspects, &e->nsuspects, msg, msglen) < 0)
		goto fail;
	return 0;
fail:
	jrn_entry_release(e);
	return -1;
}

void jrn_entry_release(struct jrn_entry *e)
{
	size_t i;

	if (!e)
		return;
	for (i = 0; e->ids && i < e->ncases; i++)
		free(e->ids[i]);
	free(e->ids);
	free(e->ranges);
	for (i = 0; i < e->nsuspects; i++)
		free(e->suspects[i]);
	free(e->suspects);
	e->ids = e->suspects = NULL;
	e->ranges = NULL;
	e->ncases = e->nranges = e->nsuspects = 0;
}

void jrn_entries_free(struct jrn_entry *entries, size_t n)
{
	size_t i;

	for (i = 0; entries && i < n; i++)
		jrn_entry_release(&entries[i]);
	free(entries);
}

/* ---- subsets as index ranges ---- */

void jrn_push_range(struct jrn_entry *e, size_t *cap, size_t i)
{
	if (e->nranges && e->ranges[e->nranges - 1].last + 1 == i) {
		e->ranges[e->nranges - 1].last = i;
		return;
	}
	if (e->nranges == *cap) {
		*cap = *cap ? 2 * *cap : 4;
		e->ranges = xrealloc(e->ranges, *cap * sizeof(*e->ranges));
	}
	e->ranges[e->nranges].first = e->ranges[e->nranges].last = i;
	e->nranges++;
}

void jrn_entry_set_cases(struct jrn_entry *e, const size_t *subset, size_t n,
			 const struct jrn_names *names)
{
	size_t cap = 0, i;

	free(e->ranges);
	e->ranges = xmalloc(sizeof(*e->ranges));
	e->nranges = 0;
	cap = 1;
	for (i = 0; i < n; i++)
		jrn_push_range(e, &cap, subset[i]);
	e->ncases = n;
	e->ids = NULL;
	if (names)
		cb_strlcpy(e->case_order, names->order, sizeof(e->case_order));
	if (names && n <= JRN_IDS_MAX) {
		e->ids = xcalloc(n + 1, sizeof(*e->ids));
		for (i = 0; i < n; i++)
			e->ids[i] = xstrdup(names->id(names->ctx, subset[i]));
	}
}

bool jrn_entry_same(const struct jrn_entry *e, const size_t *subset, size_t n)
{
	size_t r, i = 0, c;

	assert(e->ranges || !e->ncases);
	if (e->ncases != n)
		return false;
	for (r = 0; r < e->nranges; r++)
		for (c = e->ranges[r].first; c <= e->ranges[r].last; c++)
			if (subset[i++] != c)
				return false;
	return true;
}

void jrn_names_order(struct jrn_names *nm)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < nm->n; i++) {
		const unsigned char *p = (const unsigned char *)nm->id(nm->ctx, i);

		for (; *p; p++)
			h = (h ^ *p) * 0x100000001b3ull;
		h = (h ^ '\n') * 0x100000001b3ull;
	}
	snprintf(nm->order, sizeof(nm->order), "%016llx", (unsigned long long)h);
}
