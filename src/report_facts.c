/* report_facts: what the journal says, counted once for report.json,
 * report.md and the bundle (report_facts.h).
 *
 * Design note: what a culprit's reproduction rate counts. A trial speaks
 * for a culprit when its subset holds that culprit and no other one (a
 * failure of a subset with two culprits cannot be pinned on either), and
 * when it was decided: PASS or FAIL. An UNRESOLVED trial (a timeout, another
 * failure) says nothing either way, so it counts neither as a run nor as a
 * failure. The rate therefore includes the full-dataset target run when
 * there is one culprit; the runs of the culprit alone (what the bundle
 * reruns) are counted apart as "alone". */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "casebisect/supervise.h"
#include "report_facts.h"

static void u64s_push(struct rep_u64s *a, uint64_t x)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 8;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n++] = x;
}

/* Whether trial e's subset holds case c (a dataset index). */
static bool entry_holds(const struct jrn_entry *e, size_t c)
{
	size_t r;

	for (r = 0; r < e->nranges; r++)
		if (c >= e->ranges[r].first && c <= e->ranges[r].last)
			return true;
	return false;
}

/* How many culprits trial e holds, and (*which) one of them. */
static size_t culprits_in(const struct report_input *in, const struct jrn_entry *e,
			  size_t *which)
{
	size_t k, count = 0;

	for (k = 0; k < in->nculprits; k++)
		if (entry_holds(e, in->culprits[k])) {
			count++;
			*which = k;
		}
	return count;
}

bool rep_is_outcome(const struct jrn_entry *e, const char *o)
{
	return strcmp(e->outcome, o) == 0;
}

static void count_culprit(struct rep_culprit *c, const struct jrn_entry *e, bool alone)
{
	bool fail = rep_is_outcome(e, "FAIL");

	if (!fail && !rep_is_outcome(e, "PASS"))
		return;
	c->runs++;
	c->alone_runs += alone;
	if (fail) {
		c->fails++;
		c->alone_fails += alone;
		u64s_push(&c->failing, e->trial);
		if (!c->first_fail)
			c->first_fail = e;
		if (alone && !c->first_alone_fail)
			c->first_alone_fail = e;
	}
}

static void count_other(struct rep_facts *f, const struct jrn_entry *e)
{
	struct rep_other *o = NULL;
	size_t i;

	for (i = 0; i < f->nother && !o; i++)
		if (!strcmp(f->other[i].klass, e->klass) &&
		    !strcmp(f->other[i].fingerprint, e->fingerprint))
			o = &f->other[i];
	if (!o) {
		f->other = xrealloc(f->other, (f->nother + 1) * sizeof(*f->other));
		o = &f->other[f->nother++];
		memset(o, 0, sizeof(*o));
		o->klass = e->klass;
		o->fingerprint = e->fingerprint;
	}
	u64s_push(&o->trials, e->trial);
	if (!o->smallest || e->ncases < o->smallest->ncases)
		o->smallest = e;
}

/* Which cases are culprits or passed in at least one trial: an array of
 * ds->ncases flags the caller frees. */
static bool *culprit_or_passed(const struct report_input *in)
{
	bool *seen = xcalloc(in->ds->ncases + 1, sizeof(*seen));
	size_t i, r, c;

	for (i = 0; i < in->nculprits; i++)
		seen[in->culprits[i]] = true;
	for (i = 0; i < in->ntrials; i++) {
		const struct jrn_entry *e = &in->trials[i];

		if (!rep_is_outcome(e, "PASS"))
			continue;
		for (r = 0; r < e->nranges; r++)
			for (c = e->ranges[r].first; c <= e->ranges[r].last; c++)
				seen[c] = true;
	}
	return seen;
}

/* Cases that passed in at least one trial and are not culprits: what a run
 * without an answer can still say it ruled out. */
static size_t count_passed(const struct rep_facts *f)
{
	bool *seen = culprit_or_passed(f->in);
	size_t c, n = 0;

	for (c = 0; c < f->in->ds->ncases; c++)
		n += seen[c];
	free(seen);
	return n - f->in->nculprits;
}

size_t *rep_entry_cases(const struct jrn_entry *e)
{
	size_t *idx = xmalloc((e->ncases + 1) * sizeof(*idx)), r, c, n = 0;

	for (r = 0; r < e->nranges; r++)
		for (c = e->ranges[r].first; c <= e->ranges[r].last && n < e->ncases; c++)
			idx[n++] = c;
	return idx;
}

/* What an unfinished search leaves: the open cases, and the bundle's cases
 * (the smallest failing subset when it is smaller than the dataset). A
 * culprit confirmed so far failed alone, so that subset holds one case. */
static void undetermined_facts(struct rep_facts *f)
{
	const struct report_input *in = f->in;
	bool *closed = culprit_or_passed(in);
	size_t c;

	f->open = xmalloc((in->ds->ncases + 1) * sizeof(*f->open));
	for (c = 0; c < in->ds->ncases; c++)
		if (!closed[c])
			f->open[f->nopen++] = c;
	free(closed);
	if (f->smallest_fail && f->smallest_fail->ncases &&
	    f->smallest_fail->ncases < in->ds->ncases) {
		f->bundle = rep_entry_cases(f->smallest_fail);
		f->nbundle = f->smallest_fail->ncases;
	}
}

bool rep_verdict_is(const struct report_input *in, const char *v)
{
	return in->verdict && strcmp(in->verdict, v) == 0;
}

/* Does the verdict blame the culprits (and so clear every other case)? */
bool rep_verdict_blames(const struct report_input *in)
{
	return rep_verdict_is(in, "culprits_found") || rep_verdict_is(in, "minimal_subset");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median and the longest of the trials' durations. */
static void trial_times(struct rep_facts *f)
{
	const struct report_input *in = f->in;
	double *d = xmalloc((in->ntrials + 1) * sizeof(*d));
	size_t i, n = in->ntrials;

	for (i = 0; i < n; i++)
		d[i] = in->trials[i].duration_s > 0 ? in->trials[i].duration_s : 0;
	qsort(d, n, sizeof(*d), cmp_double);
	f->median_s = !n ? 0 : n % 2 ? d[n / 2] : (d[n / 2 - 1] + d[n / 2]) / 2;
	f->longest_s = n ? d[n - 1] : 0;
	free(d);
}

/* How sure the answer is (confidence.h): every decided trial, its cases
 * as indices. Only for a verdict that blames, and so clears, cases. */
static void confidence_facts(struct rep_facts *f)
{
	const struct report_input *in = f->in;
	struct conf *c;
	size_t *idx = NULL, cap = 0, i, r, k, n;

	if (!rep_verdict_blames(in) || !in->nculprits)
		return;
	c = conf_new(in->ds->ncases, in->culprits, in->nculprits, in->undecided, in->nundecided,
		     rep_verdict_is(in, "minimal_subset"));
	for (i = 0; in->audit && i < in->ds->ncases && i < in->audit->ncases; i++)
		if (!in->audit->cases[i].skip_reason &&
		    !(aud_case_severities(in->audit, i) & (1u << AUD_UNREADABLE)))
			conf_audit(c, i, aud_case_crashes(in->audit, i));
	for (i = 0; i < in->ntrials; i++) {
		const struct jrn_entry *e = &in->trials[i];

		if (rep_is_outcome(e, "UNRESOLVED"))
			continue;
		if (e->ncases > cap) {
			cap = e->ncases;
			idx = xrealloc(idx, cap * sizeof(*idx));
		}
		for (r = 0, n = 0; r < e->nranges; r++)
			for (k = e->ranges[r].first; k <= e->ranges[r].last; k++)
				idx[n++] = k;
		conf_add(c, idx, n, rep_is_outcome(e, "FAIL"));
	}
	conf_result(c, &f->conf);
	f->have_conf = true;
	conf_free(c);
	free(idx);
}

void rep_facts_init(struct rep_facts *f, const struct report_input *in)
{
	size_t i, which = 0;

	assert(in && in->ds && in->verdict && (in->culprits || !in->nculprits));
	memset(f, 0, sizeof(*f));
	f->in = in;
	f->ncul = in->nculprits;
	f->cul = xcalloc(f->ncul + 1, sizeof(*f->cul));
	for (i = 0; i < f->ncul; i++) {
		assert(in->culprits[i] < in->ds->ncases);
		f->cul[i].c = &in->ds->cases[in->culprits[i]];
	}

	for (i = 0; i < in->ntrials; i++) {
		const struct jrn_entry *e = &in->trials[i];
		size_t held = culprits_in(in, e, &which);

		f->gpu_s += e->duration_s > 0 ? e->duration_s : 0;
		if (rep_is_outcome(e, "PASS"))
			f->pass++;
		else if (rep_is_outcome(e, "FAIL"))
			f->fail++;
		else
			f->unresolved++;
		f->skipped += !strcmp(e->reason, "skip");
		if (held == 1)
			count_culprit(&f->cul[which], e, e->ncases == 1);
		if (f->ncul && held == f->ncul && !rep_is_outcome(e, "UNRESOLVED")) {
			f->all_runs++;
			if (rep_is_outcome(e, "FAIL")) {
				f->all_fails++;
				u64s_push(&f->all_failing, e->trial);
				if (!f->subset_fail || e->ncases < f->subset_fail->ncases)
					f->subset_fail = e;
			}
		}
		if (rep_is_outcome(e, "UNRESOLVED") && !strcmp(e->reason, "other_failure"))
			count_other(f, e);
		if (!f->full_set && !strcmp(e->phase, "target"))
			f->full_set = e;
		if (rep_is_outcome(e, "FAIL") &&
		    (!f->smallest_fail || e->ncases < f->smallest_fail->ncases))
			f->smallest_fail = e;
		/* on a tie the later: the final remainder's confirmation */
		if (!held && rep_is_outcome(e, "PASS") && e->ncases &&
		    (!f->clean_pass || e->ncases >= f->clean_pass->ncases))
			f->clean_pass = e;
	}
	if (rep_verdict_blames(in)) {
		size_t rest = in->ds->ncases - f->ncul;

		f->cleared = rest - (in->nundecided < rest ? in->nundecided : rest);
	} else
		f->cleared = count_passed(f);
	confidence_facts(f);
	trial_times(f);
	f->run = in->run_json ? cJSON_Parse(in->run_json) : NULL;
	if (rep_verdict_is(in, "undetermined"))
		undetermined_facts(f);
	else if (f->ncul) {
		f->bundle = xmalloc(f->ncul * sizeof(*f->bundle));
		memcpy(f->bundle, in->culprits, f->ncul * sizeof(*f->bundle));
		f->nbundle = f->ncul;
	}
}

void rep_facts_release(struct rep_facts *f)
{
	size_t i;

	for (i = 0; i < f->ncul; i++)
		free(f->cul[i].failing.v);
	for (i = 0; i < f->nother; i++)
		free(f->other[i].trials.v);
	free(f->cul);
	free(f->other);
	free(f->all_failing.v);
	free(f->open);
	free(f->bundle);
	cJSON_Delete(f->run);
}

/* run.json's key (a path of two keys at most: "options", "cwd"). */
const cJSON *rep_run_get(const struct rep_facts *f, const char *key, const char *sub)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->run, key);

	return sub ? cJSON_GetObjectItemCaseSensitive(v, sub) : v;
}

const char *rep_run_str(const struct rep_facts *f, const char *key, const char *sub)
{
	const cJSON *v = rep_run_get(f, key, sub);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool rep_run_true(const struct rep_facts *f, const char *key, const char *sub)
{
	return cJSON_IsTrue(rep_run_get(f, key, sub));
}

/* run.json's "command" as a NULL-terminated array of borrowed strings
 * (the caller frees the array), or NULL when there is none. */
const char **rep_run_command(const struct rep_facts *f)
{
	const cJSON *cmd = rep_run_get(f, "command", NULL), *a;
	const char **argv;
	size_t n = 0;

	if (!cJSON_IsArray(cmd) || !cJSON_GetArraySize(cmd))
		return NULL;
	argv = xcalloc((size_t)cJSON_GetArraySize(cmd) + 1, sizeof(*argv));
	cJSON_ArrayForEach(a, cmd) {
		if (!cJSON_IsString(a)) {
			free(argv);
			return NULL;
		}
		argv[n++] = a->valuestring;
	}
	return argv;
}

/* The variables the trials got, in order: ours, then run.json's "env"
 * (--env wins over ours). A NULL-terminated array of borrowed strings the
 * caller frees. */
const char **rep_trial_env_list(const struct rep_facts *f)
{
	const cJSON *env = rep_run_get(f, "env", NULL), *e;
	const char *const *ours = sup_trial_env(rep_run_true(f, "options", "no_blocking"));
	size_t n = 0, i;
	const char **out;

	while (ours[n])
		n++;
	out = xcalloc(n + 1 + (cJSON_IsArray(env) ? (size_t)cJSON_GetArraySize(env) : 0),
		      sizeof(*out));
	for (i = 0; i < n; i++)
		out[i] = ours[i];
	if (!cJSON_IsArray(env))
		env = NULL;
	cJSON_ArrayForEach(e, env)
		if (cJSON_IsString(e))
			out[n++] = e->valuestring;
	return out;
}


/* ---- the label audit ---- */

static bool is_culprit(const struct report_input *in, size_t i)
{
	size_t k;

	for (k = 0; k < in->nculprits; k++)
		if (in->culprits[k] == i)
			return true;
	return false;
}

static bool is_undecided(const struct report_input *in, size_t i)
{
	size_t k;

	for (k = 0; k < in->nundecided; k++)
		if (in->undecided[k] == i)
			return true;
	return false;
}

/* Did the audit blame case i although training cleared it? Only said
 * when the search answered, so that "cleared" means something. */
bool rep_audit_blamed(const struct report_input *in, size_t i)
{
	return rep_verdict_is(in, "culprits_found") && aud_case_crashes(in->audit, i) &&
	       !is_culprit(in, i) && !is_undecided(in, i);
}

