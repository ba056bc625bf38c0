/* report: report.json, report.md and the repro bundle, rendered from the
 * journal and run.json; the contract is in include/casebisect/report.h.
 *
 * Design note: what a culprit's reproduction rate counts. A trial speaks
 * for a culprit when its subset holds that culprit and no other one (a
 * failure of a subset with two culprits cannot be pinned on either), and
 * when it was decided: PASS or FAIL. An UNRESOLVED trial (a timeout, another
 * failure) says nothing either way, so it counts neither as a run nor as a
 * failure. The rate therefore includes the full-dataset target run when
 * there is one culprit; the runs of the culprit alone (what the bundle
 * reruns) are counted apart as "alone".
 *
 * Design note: the bundle. It is built in a fresh folder beside the old one
 * (mkdtemp, so 0700: it holds copies of patients' scans), then swapped in,
 * so a failed build never leaves half a bundle and never destroys the last
 * good one. The user's files are only ever opened O_RDONLY; each copy is
 * created O_EXCL|O_NOFOLLOW inside that fresh folder. repro.sh gets every
 * byte of a file name or argument inside single quotes, and the command's
 * placeholders are replaced when the script is written, not when it runs:
 * each argument becomes its literal pieces, quoted, glued to "${view}"-style
 * references, so a value that happens to contain "{n}" is never expanded
 * twice and nothing from the dataset is ever read by the shell as code. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>

#include "casebisect/confidence.h"
#include "casebisect/json.h"
#include "casebisect/report.h"
#include "casebisect/supervise.h"
#include "casebisect/util.h"

#ifndef CASEBISECT_VERSION
#define CASEBISECT_VERSION "unknown"
#endif

#define BUNDLE_NAME "bundle"
#define TARBALL_NAME "bundle.tar.gz"
#define COPY_CHUNK (1024 * 1024)
/* How many IDs a title or a sentence names before "and N more". */
#define NAMES_SHOWN 3
/* How many trial numbers a table cell lists. */
#define TRIALS_SHOWN 12
/* Subsets this small are listed case by case in report.md. */
#define SUBSET_SHOWN 5
/* excerpt.log: lines before and after the decisive line; lines of the
 * other stream (or of a log without the line) from its end. */
#define EXCERPT_BEFORE 40
#define EXCERPT_AFTER 15
#define EXCERPT_TAIL 15
/* Failing trials tried for excerpt.log before giving up on finding logs. */
#define EXCERPT_TRIES 20
/* The part of a journal evidence line searched for in a log (the journal
 * cuts evidence at 512 bytes and may have replaced invalid UTF-8). */
#define NEEDLE_MAX 160
/* report.json's confidence.model: where the model is written down. */
#define CONFIDENCE_MODEL "include/casebisect/confidence.h: false-pass rate f ~ Beta(F+1, " \
	"K-F+1) from the trials that held a culprit; a cleared case that passed m times " \
	"without one is a culprit with likelihood f^m (times the label audit's evidence); " \
	"the search's prior on the number of culprits"

/* ---- a growable text buffer ---- */

struct buf {
	char *s;
	size_t len, cap;
};

static void buf_add(struct buf *b, const char *p, size_t n)
{
	if (n > SIZE_MAX / 2 - b->len)
		die("report: text too large");
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->s = xrealloc(b->s, cap);
		b->cap = cap;
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_printf(struct buf *b, const char *fmt, ...) CB_PRINTF(2, 3);

static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = cb_vfmt(fmt, ap);
	va_end(ap);
	buf_puts(b, s);
	free(s);
}

/* The text (never NULL); the buffer is left empty. The caller frees it. */
static char *buf_take(struct buf *b)
{
	char *s;

	if (!b->s)
		buf_add(b, "", 0);
	s = b->s;
	memset(b, 0, sizeof(*b));
	return s;
}

struct u64s {
	uint64_t *v;
	size_t n, cap;
};

static void u64s_push(struct u64s *a, uint64_t x)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 8;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n++] = x;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* The folder part of path ("/" for "/x"); the caller frees it. */
static char *dir_name(const char *path)
{
	const char *s = strrchr(path, '/');
	char *d;

	if (!s)
		return xstrdup(".");
	if (s == path)
		return xstrdup("/");
	d = xstrdup(path);
	d[s - path] = '\0';
	return d;
}

/* ---- what the journal says, counted once for every renderer ---- */

struct culprit {
	const struct ds_case *c;
	uint64_t runs, fails;             /* decided trials with it and no other culprit */
	uint64_t alone_runs, alone_fails; /* decided trials of it alone */
	struct u64s failing;
	const struct jrn_entry *first_fail; /* its evidence */
	const struct jrn_entry *first_alone_fail; /* what the bundle reruns, timed */
};

/* One "other failure": UNRESOLVED trials with reason other_failure of one
 * class and fingerprint. Strings are borrowed from the journal. */
struct other {
	const char *klass, *fingerprint;
	struct u64s trials;
	const struct jrn_entry *smallest; /* the first with the fewest cases */
};

struct facts {
	const struct report_input *in;
	struct culprit *cul;
	size_t ncul;
	struct other *other;
	size_t nother;
	uint64_t pass, fail, unresolved;
	double gpu_s;
	size_t cleared;
	/* every culprit together (minimal_subset): decided trials holding all */
	uint64_t all_runs, all_fails;
	struct u64s all_failing;
	/* how sure the answer is (culprits_found, minimal_subset) */
	bool have_conf;
	struct conf_result conf;
	/* a trial's time: the median and longest of all trials, and the
	 * trials that decided the answer */
	double median_s, longest_s;
	const struct jrn_entry *full_set;   /* the first target run */
	const struct jrn_entry *subset_fail; /* minimal_subset: its smallest failing trial */
	const struct jrn_entry *clean_pass; /* the largest pass without a culprit */
	cJSON *run; /* run.json parsed; NULL when absent or not JSON */
};

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

static bool is_outcome(const struct jrn_entry *e, const char *o)
{
	return strcmp(e->outcome, o) == 0;
}

static void count_culprit(struct culprit *c, const struct jrn_entry *e, bool alone)
{
	bool fail = is_outcome(e, "FAIL");

	if (!fail && !is_outcome(e, "PASS"))
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

static void count_other(struct facts *f, const struct jrn_entry *e)
{
	struct other *o = NULL;
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

/* Cases that passed in at least one trial and are not culprits: what a run
 * without an answer can still say it ruled out. */
static size_t count_passed(const struct facts *f)
{
	const struct report_input *in = f->in;
	bool *seen = xcalloc(in->ds->ncases + 1, sizeof(*seen));
	size_t i, r, c, n = 0;

	for (i = 0; i < in->nculprits; i++)
		seen[in->culprits[i]] = true;
	for (i = 0; i < in->ntrials; i++) {
		const struct jrn_entry *e = &in->trials[i];

		if (!is_outcome(e, "PASS"))
			continue;
		for (r = 0; r < e->nranges; r++)
			for (c = e->ranges[r].first; c <= e->ranges[r].last; c++)
				if (!seen[c]) {
					seen[c] = true;
					n++;
				}
	}
	free(seen);
	return n;
}

static bool verdict_is(const struct report_input *in, const char *v)
{
	return in->verdict && strcmp(in->verdict, v) == 0;
}

/* Does the verdict blame the culprits (and so clear every other case)? */
static bool verdict_blames(const struct report_input *in)
{
	return verdict_is(in, "culprits_found") || verdict_is(in, "minimal_subset");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median and the longest of the trials' durations. */
static void trial_times(struct facts *f)
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
static void confidence_facts(struct facts *f)
{
	const struct report_input *in = f->in;
	struct conf *c;
	size_t *idx = NULL, cap = 0, i, r, k, n;

	if (!verdict_blames(in) || !in->nculprits)
		return;
	c = conf_new(in->ds->ncases, in->culprits, in->nculprits, in->undecided, in->nundecided,
		     verdict_is(in, "minimal_subset"));
	for (i = 0; in->audit && i < in->ds->ncases && i < in->audit->ncases; i++)
		if (!in->audit->cases[i].skip_reason &&
		    !(aud_case_severities(in->audit, i) & (1u << AUD_UNREADABLE)))
			conf_audit(c, i, aud_case_crashes(in->audit, i));
	for (i = 0; i < in->ntrials; i++) {
		const struct jrn_entry *e = &in->trials[i];

		if (is_outcome(e, "UNRESOLVED"))
			continue;
		if (e->ncases > cap) {
			cap = e->ncases;
			idx = xrealloc(idx, cap * sizeof(*idx));
		}
		for (r = 0, n = 0; r < e->nranges; r++)
			for (k = e->ranges[r].first; k <= e->ranges[r].last; k++)
				idx[n++] = k;
		conf_add(c, idx, n, is_outcome(e, "FAIL"));
	}
	conf_result(c, &f->conf);
	f->have_conf = true;
	conf_free(c);
	free(idx);
}

static void facts_init(struct facts *f, const struct report_input *in)
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
		if (is_outcome(e, "PASS"))
			f->pass++;
		else if (is_outcome(e, "FAIL"))
			f->fail++;
		else
			f->unresolved++;
		if (held == 1)
			count_culprit(&f->cul[which], e, e->ncases == 1);
		if (f->ncul && held == f->ncul && !is_outcome(e, "UNRESOLVED")) {
			f->all_runs++;
			if (is_outcome(e, "FAIL")) {
				f->all_fails++;
				u64s_push(&f->all_failing, e->trial);
				if (!f->subset_fail || e->ncases < f->subset_fail->ncases)
					f->subset_fail = e;
			}
		}
		if (is_outcome(e, "UNRESOLVED") && !strcmp(e->reason, "other_failure"))
			count_other(f, e);
		if (!f->full_set && !strcmp(e->phase, "target"))
			f->full_set = e;
		/* on a tie the later: the final remainder's confirmation */
		if (!held && is_outcome(e, "PASS") && e->ncases &&
		    (!f->clean_pass || e->ncases >= f->clean_pass->ncases))
			f->clean_pass = e;
	}
	if (verdict_blames(in)) {
		size_t rest = in->ds->ncases - f->ncul;

		f->cleared = rest - (in->nundecided < rest ? in->nundecided : rest);
	} else
		f->cleared = count_passed(f);
	confidence_facts(f);
	trial_times(f);
	f->run = in->run_json ? cJSON_Parse(in->run_json) : NULL;
}

static void facts_release(struct facts *f)
{
	size_t i;

	for (i = 0; i < f->ncul; i++)
		free(f->cul[i].failing.v);
	for (i = 0; i < f->nother; i++)
		free(f->other[i].trials.v);
	free(f->cul);
	free(f->other);
	free(f->all_failing.v);
	cJSON_Delete(f->run);
}

/* run.json's key (a path of two keys at most: "options", "cwd"). */
static const cJSON *run_get(const struct facts *f, const char *key, const char *sub)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->run, key);

	return sub ? cJSON_GetObjectItemCaseSensitive(v, sub) : v;
}

static const char *run_str(const struct facts *f, const char *key, const char *sub)
{
	const cJSON *v = run_get(f, key, sub);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool run_true(const struct facts *f, const char *key, const char *sub)
{
	return cJSON_IsTrue(run_get(f, key, sub));
}

/* run.json's "command" as a NULL-terminated array of borrowed strings
 * (the caller frees the array), or NULL when there is none. */
static const char **run_command(const struct facts *f)
{
	const cJSON *cmd = run_get(f, "command", NULL), *a;
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
static const char **trial_env_list(const struct facts *f)
{
	const cJSON *env = run_get(f, "env", NULL), *e;
	const char *const *ours = sup_trial_env(run_true(f, "options", "no_blocking"));
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

/* ---- report.json ---- */

static void json_oom(const void *p)
{
	if (!p)
		die("out of memory building JSON");
}

static void add_item(cJSON *obj, const char *key, cJSON *v)
{
	json_oom(v);
	if (!cJSON_AddItemToObject(obj, key, v))
		die("out of memory building JSON");
}

static void push_str(cJSON *arr, const char *s)
{
	cJSON_AddItemToArray(arr, json_string(s));
}

static cJSON *u64s_json(const struct u64s *a)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	json_oom(arr);
	for (i = 0; i < a->n; i++) {
		cJSON *v = cJSON_CreateNumber((double)a->v[i]);

		json_oom(v);
		cJSON_AddItemToArray(arr, v);
	}
	return arr;
}

static cJSON *files_json(const struct ds_case *c)
{
	cJSON *arr = cJSON_CreateArray();
	size_t j;

	json_oom(arr);
	for (j = 0; j < c->nfiles; j++)
		push_str(arr, c->files[j]);
	return arr;
}

static cJSON *reproduction_json(uint64_t fails, uint64_t runs)
{
	cJSON *o = json_object();

	json_add_num(o, "fails", (double)fails, true);
	json_add_num(o, "runs", (double)runs, true);
	json_add_num(o, "rate", runs ? (double)fails / (double)runs : 0, runs != 0);
	return o;
}

static cJSON *target_json(const struct report_input *in)
{
	const struct cls_signature *t = in->target;
	cJSON *o;

	if (!t)
		return cJSON_CreateNull();
	o = json_object();
	json_add_str(o, "class", cls_class_name(t->klass));
	json_add_signature(o, t, in->match);
	json_add_str(o, "stream", t->line ? (t->stream == CLS_STDERR ? "stderr" : "stdout") : "");
	json_add_num(o, "exit_code", t->exit_code, t->exit_known && !t->exit_signal);
	json_add_num(o, "signal", t->exit_signal, t->exit_known && t->exit_signal);
	json_add_str(o, "match", cls_match_name(in->match));
	json_add_str(o, "taken_from", in->target_source ? in->target_source : "");
	return o;
}

static cJSON *culprits_json(const struct facts *f)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	json_oom(arr);
	for (i = 0; i < f->ncul; i++) {
		const struct culprit *c = &f->cul[i];
		cJSON *o = json_object();

		json_add_str(o, "case", c->c->id);
		add_item(o, "files", files_json(c->c));
		add_item(o, "reproduction", reproduction_json(c->fails, c->runs));
		add_item(o, "alone", reproduction_json(c->alone_fails, c->alone_runs));
		add_item(o, "failing_trials", u64s_json(&c->failing));
		json_add_str(o, "evidence", c->first_fail ? c->first_fail->evidence : "");
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static cJSON *ids_json(const struct dataset *ds, const size_t *idx, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	json_oom(arr);
	for (i = 0; i < n; i++) {
		assert(idx[i] < ds->ncases);
		push_str(arr, ds->cases[idx[i]].id);
	}
	return arr;
}

static cJSON *minimal_subset_json(const struct facts *f)
{
	cJSON *o;

	if (!verdict_is(f->in, "minimal_subset"))
		return cJSON_CreateNull();
	o = json_object();
	add_item(o, "cases", ids_json(f->in->ds, f->in->culprits, f->in->nculprits));
	add_item(o, "reproduction", reproduction_json(f->all_fails, f->all_runs));
	add_item(o, "failing_trials", u64s_json(&f->all_failing));
	return o;
}

static cJSON *trials_json(const struct facts *f)
{
	cJSON *o = json_object();

	json_add_num(o, "total", (double)f->in->ntrials, true);
	json_add_num(o, "pass", (double)f->pass, true);
	json_add_num(o, "fail", (double)f->fail, true);
	json_add_num(o, "unresolved", (double)f->unresolved, true);
	return o;
}

static cJSON *others_json(const struct facts *f)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i, j, k;

	json_oom(arr);
	for (i = 0; i < f->nother; i++) {
		const struct other *o = &f->other[i];
		cJSON *obj = json_object(), *sub = json_object(), *cases = cJSON_CreateArray();

		json_oom(cases);
		json_add_str(obj, "class", o->klass);
		json_add_str(obj, "fingerprint", o->fingerprint);
		json_add_num(obj, "count", (double)o->trials.n, true);
		add_item(obj, "trials", u64s_json(&o->trials));
		json_add_num(sub, "trial", (double)o->smallest->trial, true);
		json_add_num(sub, "size", (double)o->smallest->ncases, true);
		for (j = 0; j < o->smallest->nranges; j++)
			for (k = o->smallest->ranges[j].first; k <= o->smallest->ranges[j].last; k++)
				push_str(cases, f->in->ds->cases[k].id);
		add_item(sub, "cases", cases);
		add_item(obj, "smallest_subset", sub);
		json_add_str(obj, "evidence", o->smallest->evidence);
		cJSON_AddItemToArray(arr, obj);
	}
	return arr;
}

static cJSON *dataset_json(const struct facts *f)
{
	const struct dataset *ds = f->in->ds;
	cJSON *o = json_object();

	json_add_str(o, "format", ds_format_name(ds->format));
	json_add_str(o, "path", ds->root ? ds->root : "");
	json_add_num(o, "cases", (double)ds->ncases, true);
	json_add_str(o, "digest", ds->digest);
	json_add_str(o, "configuration", ds->configuration ? ds->configuration : "");
	return o;
}

/* A copy of run.json's key, or `fallback` (null when NULL) when it is not
 * of the type given. */
static cJSON *run_copy(const struct facts *f, const char *key, cJSON_bool (*is)(const cJSON *),
		       cJSON *fallback)
{
	const cJSON *v = run_get(f, key, NULL);

	if (v && is(v)) {
		cJSON_Delete(fallback);
		return cJSON_Duplicate(v, true);
	}
	return fallback ? fallback : cJSON_CreateNull();
}

static cJSON *environment_json(const struct facts *f)
{
	cJSON *o = json_object();

	add_item(o, "gpu", f->in->gpu ? json_gpu_info(f->in->gpu) : cJSON_CreateNull());
	json_add_str(o, "env_cmd", run_str(f, "options", "env_cmd") ? run_str(f, "options", "env_cmd")
								      : "");
	json_add_str(o, "env_cmd_output", f->in->env_cmd_output ? f->in->env_cmd_output : "");
	return o;
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
static bool audit_blamed(const struct report_input *in, size_t i)
{
	return verdict_is(in, "culprits_found") && aud_case_crashes(in->audit, i) &&
	       !is_culprit(in, i) && !is_undecided(in, i);
}

static cJSON *audit_json(const struct facts *f)
{
	const struct report_input *in = f->in;
	cJSON *o, *cul, *missed, *blamed;
	size_t i;

	if (!in->audit)
		return cJSON_CreateNull();
	o = json_object();
	add_item(o, "summary", aud_summary_json(in->audit));
	cul = cJSON_CreateArray();
	missed = cJSON_CreateArray();
	blamed = cJSON_CreateArray();
	for (i = 0; i < in->nculprits; i++) {
		cJSON_AddItemToArray(cul, aud_case_json(in->audit, in->culprits[i]));
		if (!aud_case_crashes(in->audit, in->culprits[i]))
			push_str(missed, in->ds->cases[in->culprits[i]].id);
	}
	for (i = 0; i < in->ds->ncases; i++)
		if (audit_blamed(in, i))
			push_str(blamed, in->ds->cases[i].id);
	add_item(o, "culprits", cul);
	add_item(o, "missed", missed);
	add_item(o, "blamed", blamed);
	return o;
}

/* How sure the answer is; null for a verdict that clears nothing
 * (report.h says why for each). */
static cJSON *confidence_json(const struct facts *f)
{
	const struct conf_result *c = &f->conf;
	cJSON *o;

	if (!f->have_conf)
		return cJSON_CreateNull();
	o = json_object();
	json_add_num(o, "p_culprit_remains", c->p_remains, true);
	json_add_num(o, "cleared", (double)c->cleared, true);
	json_add_num(o, "false_pass_rate", c->false_pass_rate, true);
	json_add_num(o, "false_passes_seen", (double)c->false_passes, true);
	json_add_num(o, "trials_with_known_culprit", (double)c->known_trials, true);
	json_add_num(o, "unexplained_fails", (double)c->unexplained_fails, true);
	json_add_num(o, "fewest_passes", (double)c->fewest_passes, true);
	if (c->audit_used) {
		cJSON *a = json_object();

		json_add_num(a, "culprits_read", (double)c->audit_culprits_read, true);
		json_add_num(a, "culprits_flagged", (double)c->audit_culprits_flagged, true);
		json_add_num(a, "cleared_read", (double)c->audit_cleared_read, true);
		json_add_num(a, "cleared_flagged", (double)c->audit_cleared_flagged, true);
		add_item(o, "audit", a);
	} else
		add_item(o, "audit", cJSON_CreateNull());
	json_add_str(o, "model", CONFIDENCE_MODEL);
	return o;
}

static void decisive_json(cJSON *arr, const char *role, const char *id, const struct jrn_entry *e)
{
	cJSON *o;

	if (!e)
		return;
	o = json_object();
	json_add_str(o, "role", role);
	json_add_str(o, "case", id ? id : "");
	json_add_num(o, "trial", (double)e->trial, true);
	json_add_num(o, "cases", (double)e->ncases, true);
	json_add_str(o, "outcome", e->outcome);
	json_add_num(o, "duration_s", e->duration_s > 0 ? e->duration_s : 0, true);
	cJSON_AddItemToArray(arr, o);
}

/* What a trial costs: the median and the longest, and the trials that
 * decided the answer. */
static cJSON *trial_time_json(const struct facts *f)
{
	cJSON *o = json_object(), *arr = cJSON_CreateArray();
	size_t i;

	json_oom(arr);
	json_add_num(o, "trials", (double)f->in->ntrials, true);
	json_add_num(o, "median_s", f->median_s, true);
	json_add_num(o, "longest_s", f->longest_s, true);
	decisive_json(arr, "full_dataset", NULL, f->full_set);
	if (verdict_is(f->in, "minimal_subset"))
		decisive_json(arr, "subset", NULL, f->subset_fail);
	else
		for (i = 0; i < f->ncul; i++)
			decisive_json(arr, "culprit_alone", f->cul[i].c->id, f->cul[i].first_alone_fail);
	if (verdict_blames(f->in))
		decisive_json(arr, "without_culprits", NULL, f->clean_pass);
	add_item(o, "decisive", arr);
	return o;
}

/* Every trial, as the journal holds it, without its case lists (the
 * report names cases where they matter): where it ran and how it ended. */
static cJSON *trial_log_json(const struct facts *f)
{
	const struct report_input *in = f->in;
	cJSON *a = cJSON_CreateArray();
	size_t i;

	json_oom(a);
	for (i = 0; i < in->ntrials; i++) {
		cJSON *o = json_object();

		json_add_trial(o, &in->trials[i]);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

static char *json_text(const struct facts *f)
{
	const struct report_input *in = f->in;
	cJSON *o = json_object();
	char *text;

	json_add_num(o, "schema_version", REPORT_SCHEMA_VERSION, true);
	json_add_str(o, "casebisect_version", CASEBISECT_VERSION);
	json_add_str(o, "verdict", in->verdict);
	json_add_num(o, "exit_code", in->exit_code, true);
	json_add_str(o, "explanation", in->explanation ? in->explanation : "");
	add_item(o, "target", target_json(in));
	add_item(o, "culprits", culprits_json(f));
	add_item(o, "undecided", ids_json(in->ds, in->undecided, in->nundecided));
	add_item(o, "minimal_subset", minimal_subset_json(f));
	json_add_num(o, "cleared", (double)f->cleared, true);
	add_item(o, "trials", trials_json(f));
	json_add_num(o, "rounds", (double)in->rounds, true);
	json_add_num(o, "flakes", (double)in->flakes, true);
	json_add_num(o, "wall_s", in->wall_s, true);
	json_add_num(o, "gpu_s", f->gpu_s, true);
	add_item(o, "confidence", confidence_json(f));
	add_item(o, "trial_time", trial_time_json(f));
	add_item(o, "other_failures", others_json(f));
	add_item(o, "dataset", dataset_json(f));
	add_item(o, "command", run_copy(f, "command", cJSON_IsArray, NULL));
	add_item(o, "env", run_copy(f, "env", cJSON_IsArray, cJSON_CreateArray()));
	add_item(o, "options", run_copy(f, "options", cJSON_IsObject, NULL));
	add_item(o, "environment", environment_json(f));
	add_item(o, "audit", audit_json(f));
	add_item(o, "trial_log", trial_log_json(f));
	text = json_line(o, true);
	cJSON_Delete(o);
	return text;
}

char *report_json_text(const struct report_input *in)
{
	struct facts f;
	char *text;

	facts_init(&f, in);
	text = json_text(&f);
	facts_release(&f);
	return text;
}

/* ---- Markdown ---- */

/* What each class means, in words, for people who do not know the names. */
static const char *class_words(enum cls_class k)
{
	switch (k) {
	case CLS_DEVICE_ASSERT:
		return "a CUDA kernel assertion failed on the GPU (most often a label value "
		       "outside the classes the network has)";
	case CLS_ILLEGAL_ACCESS:
		return "the GPU touched memory it must not (illegal or misaligned address, "
		       "launch failure)";
	case CLS_OOM:
		return "out of memory";
	case CLS_CUDNN_CUBLAS:
		return "a cuDNN or cuBLAS call failed";
	case CLS_NCCL:
		return "an NCCL error or a timeout between processes";
	case CLS_ENV_MISMATCH:
		return "the driver, the CUDA toolkit or the PyTorch build does not fit this GPU";
	case CLS_CPU_INDEX_ERROR:
		return "an index out of range, caught on the CPU (most often a label value "
		       "outside the classes the network has)";
	case CLS_DATA_ERROR:
		return "a case could not be read, or a data-loading worker died";
	case CLS_HOST_KILL:
		return "the process was killed from outside (the OOM killer, SIGKILL, Slurm)";
	case CLS_SEGFAULT:
		return "the process crashed (segmentation fault, bus error, abort)";
	case CLS_OTHER_ERROR:
		return "another error, or a non-zero exit";
	default:
		return "no failure";
	}
}

static size_t longest_backticks(const char *s)
{
	size_t run = 0, best = 0;

	for (; *s; s++) {
		run = *s == '`' ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return best;
}

/* s as Markdown shows it verbatim: control bytes as \xNN (tabs and, in a
 * block, newlines kept), and in a table cell '|' escaped, which GitHub
 * requires even inside code. */
static void md_verbatim(struct buf *b, const char *s, bool block, bool in_table)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c == '\n' || c == '\t') && block)
			buf_add(b, s, 1);
		else if (c < 0x20 || c == 0x7f)
			buf_printf(b, "\\x%02x", c);
		else if (c == '|' && in_table)
			buf_puts(b, "\\|");
		else
			buf_add(b, s, 1);
	}
}

/* `s`, with a longer run of backticks around it when s holds some. */
static void md_code(struct buf *b, const char *s, bool in_table)
{
	size_t n = longest_backticks(s) + 1, i;
	bool pad = n > 1 || *s == '`' || (*s && s[strlen(s) - 1] == '`');

	for (i = 0; i < n; i++)
		buf_puts(b, "`");
	if (pad)
		buf_puts(b, " ");
	md_verbatim(b, s, false, in_table);
	if (pad)
		buf_puts(b, " ");
	for (i = 0; i < n; i++)
		buf_puts(b, "`");
}

/* A fenced code block, its fence longer than any backtick run in text. */
static void md_block(struct buf *b, const char *text, const char *lang)
{
	size_t n = longest_backticks(text) + 1, i;

	if (n < 3)
		n = 3;
	for (i = 0; i < n; i++)
		buf_puts(b, "`");
	buf_printf(b, "%s\n", lang);
	md_verbatim(b, text, true, false);
	if (!*text || text[strlen(text) - 1] != '\n')
		buf_puts(b, "\n");
	for (i = 0; i < n; i++)
		buf_puts(b, "`");
	buf_puts(b, "\n\n");
}

/* "a, b and c" of up to max IDs (all when max is 0), "and N more" after. */
static void md_ids(struct buf *b, const struct dataset *ds, const size_t *idx, size_t n,
		   size_t max)
{
	size_t shown = max && n > max ? max : n, i;

	for (i = 0; i < shown; i++) {
		assert(idx[i] < ds->ncases);
		if (i)
			buf_puts(b, i + 1 == n ? " and " : ", ");
		md_code(b, ds->cases[idx[i]].id, false);
	}
	if (shown < n)
		buf_printf(b, " and %zu more", n - shown);
}

static void md_trials(struct buf *b, const struct u64s *t)
{
	size_t i, shown = t->n > TRIALS_SHOWN ? TRIALS_SHOWN : t->n;

	for (i = 0; i < shown; i++)
		buf_printf(b, "%s%llu", i ? ", " : "", (unsigned long long)t->v[i]);
	if (shown < t->n)
		buf_printf(b, ", … (%zu in all)", t->n);
	if (!t->n)
		buf_puts(b, "none");
}

static const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

static void md_duration(struct buf *b, double s)
{
	unsigned long long t;

	if (!(s >= 0))
		s = 0;
	if (s < 60) {
		buf_printf(b, "%.1f s", s);
		return;
	}
	t = (unsigned long long)(s + 0.5);
	if (t < 3600)
		buf_printf(b, "%llu min %02llu s", t / 60, t % 60);
	else
		buf_printf(b, "%llu h %02llu min", t / 3600, t / 60 % 60);
}

/* A path of the dataset as the user knows it: relative to the dataset's
 * folder when under it. */
static const char *shown_path(const struct dataset *ds, const char *path)
{
	const char *root = ds->root ? ds->root : "";
	size_t n = strlen(root);
	struct stat st;

	/* A list or a datalist is a file: its folder is where paths start. */
	if (ds->format == DS_MSD || (ds->format == DS_LIST && (stat(root, &st) || !S_ISDIR(st.st_mode)))) {
		const char *slash = strrchr(root, '/');

		n = slash ? (size_t)(slash - root) : 0;
	}
	if (n && !strncmp(path, root, n) && path[n] == '/' && path[n + 1])
		return path + n + 1;
	return path;
}

/* The chance that no culprit remains, as a percentage floored to a tenth,
 * so that it never reads 100%. */
static void confidence_pct(struct buf *b, double p_remains)
{
	double sure = floor((1 - p_remains) * 1000) / 10;

	if (sure >= 99.9)
		buf_puts(b, "over 99.9%");
	else
		buf_printf(b, "%.1f%%", sure < 0 ? 0 : sure);
}

/* The confidence sentence (report.md, the terminal); nothing for a verdict
 * that clears nothing. */
static void confidence_sentence(struct buf *b, const struct facts *f)
{
	const struct conf_result *c = &f->conf;
	bool subset = verdict_is(f->in, "minimal_subset");

	if (!f->have_conf)
		return;
	buf_puts(b, "Confidence: ");
	confidence_pct(b, c->p_remains);
	if (!c->cleared) {
		/* nothing cleared: nothing can hide there */
		buf_puts(b, " (no case was cleared).");
		return;
	}
	if (subset)
		buf_printf(b, " that no case among the %zu cleared crashes training on its own as "
			      "well. %llu of the %llu trial%s that held the whole subset passed",
			   c->cleared, (unsigned long long)c->false_passes,
			   (unsigned long long)c->known_trials, plural(c->known_trials));
	else
		buf_printf(b, " that no other case among the %zu cleared holds a culprit. %llu of "
			      "the %llu trial%s that held a culprit passed", c->cleared,
			   (unsigned long long)c->false_passes, (unsigned long long)c->known_trials,
			   plural(c->known_trials));
	buf_printf(b, " (a false pass), which leaves room for false passes about 1 time in %.0f; "
		      "every cleared case passed ", 1 / c->false_pass_rate);
	if (c->fewest_passes == 1)
		buf_puts(b, "at least once");
	else
		buf_printf(b, "at least %llu times", (unsigned long long)c->fewest_passes);
	buf_printf(b, " without %s.", subset ? "the subset" : "a culprit");
	if (c->audit_used)
		buf_printf(b, " The label audit flagged %zu of the %zu culprit%s it read and %zu of "
			      "the %zu cleared case%s it read.", c->audit_culprits_flagged,
			   c->audit_culprits_read, plural(c->audit_culprits_read),
			   c->audit_cleared_flagged, c->audit_cleared_read,
			   plural(c->audit_cleared_read));
	if (c->unexplained_fails)
		buf_printf(b, " But %llu trial%s failed the same way without holding %s: a "
			      "culprit remains among the cases %s held.",
			   (unsigned long long)c->unexplained_fails, plural(c->unexplained_fails),
			   subset ? "the whole subset" : "a culprit found",
			   c->unexplained_fails == 1 ? "it" : "they");
	buf_puts(b, " A trainer that misses a bad case now and then (a random patch or batch) "
		    "lowers it; more runs of the cleared cases raise it (run with --confirm N, or with --flaky "
		    "when the trainer is known to sample at random).");
}

char *report_confidence_text(const struct report_input *in)
{
	struct facts f;
	struct buf b = { 0 };

	facts_init(&f, in);
	confidence_sentence(&b, &f);
	facts_release(&f);
	return b.len ? buf_take(&b) : NULL;
}

static void md_title(struct buf *b, const struct facts *f)
{
	const struct report_input *in = f->in;
	const char *klass = in->target ? cls_class_name(in->target->klass) : NULL;

	buf_puts(b, "# ");
	if (verdict_is(in, "culprits_found")) {
		buf_printf(b, "Training crashes because of %zu case%s: ", f->ncul, plural(f->ncul));
		md_ids(b, in->ds, in->culprits, in->nculprits, NAMES_SHOWN);
	} else if (verdict_is(in, "minimal_subset")) {
		buf_printf(b, "Training crashes only when these %zu cases are together: ", f->ncul);
		md_ids(b, in->ds, in->culprits, in->nculprits, NAMES_SHOWN);
	} else if (verdict_is(in, "dataset_wide")) {
		buf_puts(b, "Training crashes whatever cases it gets: no single case is to blame");
	} else if (verdict_is(in, "not_reproduced")) {
		buf_puts(b, "The crash did not happen again on the full dataset");
	} else if (verdict_is(in, "not_data_dependent")) {
		buf_puts(b, "The crash does not depend on the data");
	} else if (verdict_is(in, "undetermined")) {
		buf_puts(b, "No answer: casebisect could not decide which cases crash training");
	} else {
		buf_puts(b, "casebisect: ");
		md_verbatim(b, in->verdict, false, false);
	}
	if (klass && in->target->klass != CLS_NONE)
		buf_printf(b, " (%s)", klass);
	buf_printf(b, "\n\nVerdict: **%s** (casebisect exits %d).", in->verdict, in->exit_code);
	if (in->explanation && *in->explanation) {
		buf_puts(b, " ");
		md_verbatim(b, in->explanation, false, false);
	}
	buf_puts(b, "\n\n");
	if (f->have_conf) {
		struct buf c = { 0 };
		char *text;

		confidence_sentence(&c, f);
		text = buf_take(&c);
		md_verbatim(b, text, false, false);
		buf_puts(b, "\n\n");
		free(text);
	}
}

static void md_field(struct buf *b, const char *name, const char *v)
{
	if (!*v)
		return;
	buf_printf(b, "- %s: ", name);
	md_code(b, v, false);
	buf_puts(b, "\n");
}

/* Shown once each: the target's decisive line, then the culprits' first
 * failing trials' lines where they differ. */
static void md_evidence(struct buf *b, const struct facts *f)
{
	const struct report_input *in = f->in;
	const char **seen = xcalloc(f->ncul + 2, sizeof(*seen));
	size_t nseen = 0, i, k;

	if (*in->target->evidence) {
		buf_puts(b, "The decisive line");
		if (in->target_source && *in->target_source) {
			buf_puts(b, ", from ");
			md_verbatim(b, in->target_source, false, false);
		}
		if (in->target->line)
			buf_printf(b, ", %s line %llu",
				   in->target->stream == CLS_STDERR ? "stderr" : "stdout",
				   (unsigned long long)in->target->line);
		buf_puts(b, ":\n\n");
		md_block(b, in->target->evidence, "");
		seen[nseen++] = in->target->evidence;
	}
	for (i = 0; i < f->ncul; i++) {
		const struct jrn_entry *e = f->cul[i].first_fail;

		if (!e || !*e->evidence)
			continue;
		for (k = 0; k < nseen; k++)
			if (!strncmp(seen[k], e->evidence, sizeof(e->evidence) - 1))
				break;
		if (k < nseen)
			continue;
		buf_printf(b, "In trial %llu (%zu case%s, with ", (unsigned long long)e->trial,
			   e->ncases, plural(e->ncases));
		md_code(b, f->cul[i].c->id, false);
		buf_puts(b, "):\n\n");
		md_block(b, e->evidence, "");
		seen[nseen++] = e->evidence;
	}
	free(seen);
}

static void md_what_crashed(struct buf *b, const struct facts *f)
{
	const struct report_input *in = f->in;
	const struct cls_signature *t = in->target;
	char fp[17], *exc;

	if (!t)
		return;
	buf_printf(b, "## What crashed\n\n**%s**: %s.\n\n", cls_class_name(t->klass),
		   class_words(t->klass));
	exc = *t->message ? cb_fmt("%s%s%s", t->exception, *t->exception ? ": " : "", t->message)
			  : xstrdup(t->exception);
	md_field(b, "Exception", exc);
	free(exc);
	md_field(b, "Raised in", t->frame);
	md_field(b, "Kernel", t->kernel);
	md_field(b, "Assertion", t->assert_expr);
	md_field(b, "Source", t->source);
	md_field(b, "Error code", t->error_code);
	if (t->exit_known && t->exit_signal)
		buf_printf(b, "- Exit: killed by signal %d\n", t->exit_signal);
	else if (t->exit_known)
		buf_printf(b, "- Exit: code %d\n", t->exit_code);
	cls_fingerprint_hex(t, in->match, fp);
	buf_printf(b, "- A trial counted as this crash when its failure matched at level `%s` "
		      "(fingerprint `%s`)\n\n", cls_match_name(in->match), fp);
	md_evidence(b, f);
}

static void md_files(struct buf *b, const struct dataset *ds, const struct ds_case *c)
{
	size_t j;

	for (j = 0; j < c->nfiles; j++) {
		if (j)
			buf_puts(b, "<br>");
		md_code(b, shown_path(ds, c->files[j]), true);
	}
	if (!c->nfiles)
		buf_puts(b, "(none listed)");
}

static void md_rate(struct buf *b, uint64_t fails, uint64_t runs)
{
	buf_printf(b, "%llu of %llu run%s", (unsigned long long)fails, (unsigned long long)runs,
		   plural(runs));
}

static void md_which_cases(struct buf *b, const struct facts *f)
{
	const struct report_input *in = f->in;
	size_t i;

	if (!f->ncul)
		return;
	buf_puts(b, "## Which cases\n\n");
	if (verdict_is(in, "minimal_subset")) {
		buf_printf(b, "These %zu cases crash training together; without any one of them it "
			      "does not. All of them together crashed in ", f->ncul);
		md_rate(b, f->all_fails, f->all_runs);
		buf_puts(b, " (trials ");
		md_trials(b, &f->all_failing);
		buf_puts(b, ").\n\n");
	} else if (verdict_is(in, "dataset_wide")) {
		buf_puts(b, "The crash came back on every subset tried, so no single case causes it. "
			    "The cases tried:\n\n");
	} else {
		buf_printf(b, "Training crashes with %s and not without. ",
			   f->ncul == 1 ? "this case" : "each of these cases");
	}
	buf_puts(b, "Crashed: of the trials that held the case and no other culprit. Alone: of "
		    "the trials of the case by itself, what the bundle reruns. A trial that ended "
		    "unresolved counts in neither.\n\n");
	buf_puts(b, "| Case | Files | Crashed | Alone | Failing trials |\n"
		    "| --- | --- | --- | --- | --- |\n");
	for (i = 0; i < f->ncul; i++) {
		const struct culprit *c = &f->cul[i];

		buf_puts(b, "| ");
		md_code(b, c->c->id, true);
		buf_puts(b, " | ");
		md_files(b, in->ds, c->c);
		buf_puts(b, " | ");
		md_rate(b, c->fails, c->runs);
		buf_puts(b, " | ");
		md_rate(b, c->alone_fails, c->alone_runs);
		buf_puts(b, " | ");
		md_trials(b, &c->failing);
		buf_puts(b, " |\n");
	}
	buf_puts(b, "\nFiles are named relative to the dataset's folder; their contents are in "
		    "no report.\n\n");
}

/* An argument as a shell reads it back: bare when that is safe, else
 * single-quoted (the {placeholders} are safe bare: no brace expansion
 * without a comma or "..") */
static void sh_word(struct buf *b, const char *s)
{
	const char *p;
	bool bare = *s != '\0';

	for (p = s; *p && bare; p++)
		bare = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			      "_@%+=:,./{}-", *p) != NULL;
	if (bare) {
		buf_puts(b, s);
		return;
	}
	buf_puts(b, "'");
	for (p = s; *p; p++) {
		if (*p == '\'')
			buf_puts(b, "'\\''");
		else
			buf_add(b, p, 1);
	}
	buf_puts(b, "'");
}

static char *command_line(const struct facts *f)
{
	const char **argv = run_command(f);
	struct buf b = { 0 };
	size_t i;

	for (i = 0; argv && argv[i]; i++) {
		if (i)
			buf_puts(&b, " ");
		sh_word(&b, argv[i]);
	}
	free(argv);
	return buf_take(&b);
}

static void md_reproduce(struct buf *b, const struct facts *f)
{
	const struct report_input *in = f->in;
	const char *cwd = run_str(f, "options", "cwd");
	char *bundle = cb_path_join(in->workdir, BUNDLE_NAME "/repro.sh"), *line;
	struct buf cmd = { 0 };
	const cJSON *env = run_get(f, "env", NULL), *e;

	buf_puts(b, "## How to reproduce\n\n");
	if (f->ncul) {
		buf_printf(b, "On the %s alone, from the bundle (copies of %s files, the command "
			      "and its environment):\n\n", f->ncul == 1 ? "culprit" : "culprits",
			   f->ncul == 1 ? "its" : "their");
		buf_puts(&cmd, "bash ");
		sh_word(&cmd, bundle);
		md_block(b, cmd.s, "sh");
		free(buf_take(&cmd));
		buf_puts(b, "`" TARBALL_NAME "` beside it holds the same in one file. It holds copies "
			    "of the cases' image and label files, which may be patients' data: "
			    "attach it only where you have the right to share them.\n\n");
	}
	line = command_line(f);
	if (*line) {
		buf_puts(b, "The command casebisect ran on each subset of the dataset (`{cases_file}`, "
			    "`{files_file}`, `{view}`, `{trial_dir}` and `{n}` stood for each trial's "
			    "own files)");
		if (cwd) {
			buf_puts(b, ", in ");
			md_code(b, cwd, false);
		}
		buf_puts(b, ":\n\n");
		md_block(b, line, "sh");
	}
	free(line);
	if (cJSON_IsArray(env) && cJSON_GetArraySize(env) > 0) {
		buf_puts(b, "With `--env`:");
		cJSON_ArrayForEach(e, env) {
			if (!cJSON_IsString(e))
				continue;
			buf_puts(b, " ");
			md_code(b, e->valuestring, false);
		}
		buf_puts(b, "\n\n");
	}
	free(bundle);
}

/* A CUDA version number (12040) as "12.4". */
static void md_cuda_version(struct buf *b, int v)
{
	buf_printf(b, "%d.%d", v / 1000, v % 1000 / 10);
}

static void md_gpu(struct buf *b, const struct gpu_info *g)
{
	size_t i;

	if (!g) {
		buf_puts(b, "- GPU: not looked at\n");
		return;
	}
	if (!g->available) {
		buf_puts(b, "- GPU: no GPU available: ");
		md_verbatim(b, *g->reason ? g->reason : "no reason given", false, false);
		buf_puts(b, "\n");
		return;
	}
	for (i = 0; i < g->count; i++) {
		const struct gpu_device *d = &g->dev[i];

		buf_printf(b, "- GPU %d: ", d->index);
		md_verbatim(b, d->name, false, false);
		buf_printf(b, ", %.1f GiB, compute capability %d.%d\n",
			   (double)d->total_mem / (1024.0 * 1024 * 1024), d->cc_major, d->cc_minor);
	}
	buf_puts(b, "- CUDA:");
	if (g->driver_version) {
		buf_puts(b, " the driver supports ");
		md_cuda_version(b, g->driver_version);
	}
	if (g->runtime_version) {
		buf_printf(b, "%s runtime ", g->driver_version ? "," : "");
		md_cuda_version(b, g->runtime_version);
	}
	if (*g->library) {
		buf_puts(b, " (");
		md_code(b, g->library, false);
		buf_puts(b, ")");
	}
	buf_puts(b, "\n");
}

static void md_environment(struct buf *b, const struct facts *f)
{
	const char **env = trial_env_list(f), *env_cmd = run_str(f, "options", "env_cmd");
	size_t i;

	buf_puts(b, "## Environment\n\n");
	md_gpu(b, f->in->gpu);
	buf_puts(b, "- Every trial ran with");
	for (i = 0; env[i]; i++) {
		buf_puts(b, " ");
		md_code(b, env[i], false);
	}
	buf_puts(b, "\n\n");
	free(env);
	if (f->in->env_cmd_output) {
		buf_puts(b, "What `--env-cmd`");
		if (env_cmd) {
			buf_puts(b, " (");
			md_code(b, env_cmd, false);
			buf_puts(b, ")");
		}
		buf_puts(b, " printed:\n\n");
		md_block(b, f->in->env_cmd_output, "");
	}
}

static void md_decisive(struct buf *b, const char *what, const char *id,
			const struct jrn_entry *e, bool *first)
{
	if (!e)
		return;
	buf_puts(b, *first ? " The trials that decided the answer: " : "; ");
	*first = false;
	if (id)
		md_code(b, id, false);
	buf_printf(b, "%s ", what);
	md_duration(b, e->duration_s);
	buf_printf(b, " (trial %llu)", (unsigned long long)e->trial);
}

/* How long one trial takes: what a user plans the night by. */
static void md_trial_time(struct buf *b, const struct facts *f)
{
	const struct report_input *in = f->in;
	bool first = true;
	char what[64];
	size_t i;

	if (!in->ntrials)
		return;
	buf_puts(b, "- Trial time: median ");
	md_duration(b, f->median_s);
	buf_printf(b, " over %zu trial%s, longest ", in->ntrials, plural(in->ntrials));
	md_duration(b, f->longest_s);
	buf_puts(b, ".");
	md_decisive(b, "the full dataset", NULL, f->full_set, &first);
	if (verdict_is(in, "minimal_subset"))
		md_decisive(b, "the subset", NULL, f->subset_fail, &first);
	else
		for (i = 0; i < f->ncul && i < NAMES_SHOWN; i++)
			md_decisive(b, " alone", f->cul[i].c->id, f->cul[i].first_alone_fail, &first);
	if (!verdict_is(in, "minimal_subset") && f->ncul > NAMES_SHOWN)
		buf_printf(b, "; %zu more alone (report.json)", f->ncul - NAMES_SHOWN);
	if (verdict_blames(in) && f->clean_pass) {
		snprintf(what, sizeof(what), "the largest pass without %s (%zu case%s)",
			 f->ncul == 1 ? "it" : "them", f->clean_pass->ncases,
			 plural(f->clean_pass->ncases));
		md_decisive(b, what, NULL, f->clean_pass, &first);
	}
	buf_puts(b, first ? "\n" : ".\n");
}

static void md_ruled_out(struct buf *b, const struct facts *f)
{
	const struct report_input *in = f->in;
	const struct dataset *ds = in->ds;

	buf_puts(b, "## What was ruled out\n\n");
	if (verdict_blames(in))
		buf_printf(b, "- %zu of %zu cases cleared: training does not crash this way "
			      "without the culprit%s.\n", f->cleared, ds->ncases, plural(f->ncul));
	else
		buf_printf(b, "- %zu of %zu cases passed in at least one trial.\n", f->cleared,
			   ds->ncases);
	buf_printf(b, "- %zu trial%s: %llu passed, %llu failed this way, %llu unresolved; "
		      "%llu round%s.\n", in->ntrials, plural(in->ntrials), (unsigned long long)f->pass,
		   (unsigned long long)f->fail, (unsigned long long)f->unresolved,
		   (unsigned long long)in->rounds, plural(in->rounds));
	buf_puts(b, "- GPU time ");
	md_duration(b, f->gpu_s);
	buf_puts(b, " (the trials' durations added up); wall time ");
	md_duration(b, in->wall_s);
	buf_puts(b, ".\n");
	md_trial_time(b, f);
	if (in->flakes)
		buf_printf(b, "- %llu flaky pass%s: a subset passed, and failed another time. The "
			      "crash does not happen on every run; the rates above say how often.\n",
			   (unsigned long long)in->flakes, in->flakes == 1 ? "" : "es");
	else
		buf_puts(b, "- No flaky passes: no pass was contradicted by a failure later.\n");
	buf_puts(b, "- Dataset: ");
	md_code(b, ds->root ? ds->root : "", false);
	buf_printf(b, " (%s, %zu case%s, digest `%s`).\n\n", ds_format_name(ds->format), ds->ncases,
		   plural(ds->ncases), ds->digest);
}

static void md_others(struct buf *b, const struct facts *f)
{
	size_t i, j, k, c;

	if (!f->nother)
		return;
	buf_puts(b, "## Other failures seen along the way\n\n"
		    "These trials failed, but not the way the target did, so they were counted as "
		    "unresolved, not as the crash. A second bug, or memory running out on large "
		    "subsets, shows here.\n\n"
		    "| Class | Fingerprint | Trials | Smallest subset | Trial numbers |\n"
		    "| --- | --- | --- | --- | --- |\n");
	for (i = 0; i < f->nother; i++) {
		const struct other *o = &f->other[i];
		const struct jrn_entry *s = o->smallest;

		buf_printf(b, "| %s | ", o->klass);
		md_code(b, o->fingerprint, true);
		buf_printf(b, " | %zu | %zu case%s", o->trials.n, s->ncases, plural(s->ncases));
		if (s->ncases && s->ncases <= SUBSET_SHOWN) {
			buf_puts(b, ": ");
			for (j = 0, k = 0; j < s->nranges; j++)
				for (c = s->ranges[j].first; c <= s->ranges[j].last; c++) {
					if (k++)
						buf_puts(b, ", ");
					md_code(b, f->in->ds->cases[c].id, true);
				}
		}
		buf_printf(b, " (trial %llu) | ", (unsigned long long)s->trial);
		md_trials(b, &o->trials);
		buf_puts(b, " |\n");
	}
	buf_puts(b, "\n");
	for (i = 0; i < f->nother; i++) {
		const struct other *o = &f->other[i];

		if (!*o->smallest->evidence)
			continue;
		buf_printf(b, "%s, trial %llu:\n\n", o->klass, (unsigned long long)o->smallest->trial);
		md_block(b, o->smallest->evidence, "");
	}
}

/* Every trial, folded away: where it ran and how it ended. */
static void md_trial_log(struct buf *b, const struct facts *f)
{
	const struct report_input *in = f->in;
	size_t i;

	if (!in->ntrials)
		return;
	buf_printf(b, "<details><summary>All %zu trials</summary>\n\n", in->ntrials);
	buf_puts(b, "| Trial | Phase | Cases | Outcome | Reason | Class | Time | Where |\n"
		    "| --- | --- | --- | --- | --- | --- | --- | --- |\n");
	for (i = 0; i < in->ntrials; i++) {
		const struct jrn_entry *e = &in->trials[i];

		buf_printf(b, "| %llu | %s | %zu | %s | %s | %s | ", (unsigned long long)e->trial,
			   e->phase[0] ? e->phase : "-", e->ncases, e->outcome, e->reason,
			   e->klass);
		md_duration(b, e->duration_s);
		buf_puts(b, " | ");
		if (e->node[0])
			md_code(b, e->node, true);
		if (e->gpu >= 0)
			buf_printf(b, "%sGPU %d", e->node[0] ? " " : "", e->gpu);
		if (!e->node[0] && e->gpu < 0)
			buf_puts(b, "CPU");
		buf_puts(b, " |\n");
	}
	buf_puts(b, "\n</details>\n\n");
}

static void md_undecided(struct buf *b, const struct facts *f)
{
	const struct report_input *in = f->in;

	if (!in->nundecided)
		return;
	buf_printf(b, "## Undecided cases\n\nNo trial could decide %s %zu case%s (the trials "
		      "that held %s ended unresolved): ", in->nundecided == 1 ? "this" : "these",
		   in->nundecided, plural(in->nundecided), in->nundecided == 1 ? "it" : "them");
	md_ids(b, in->ds, in->undecided, in->nundecided, 0);
	buf_puts(b, ".\n\n");
}

/* What the label audit said about the culprits, and where it was wrong. */
static void md_audit(struct buf *b, const struct facts *f)
{
	const struct report_input *in = f->in;
	const struct aud_result *a = in->audit;
	size_t i, k, nmissed = 0, nblamed = 0;

	if (!a)
		return;
	buf_printf(b, "## What the label audit saw\n\n");
	buf_printf(b, "The audit read the label files of %zu cases before any training: %zu with "
		   "values that crash training, %zu unreadable.\n\n", a->cases_read,
		   a->cases_with[AUD_CRASH], a->cases_with[AUD_UNREADABLE]);
	for (i = 0; i < in->nculprits; i++) {
		const struct aud_case *c = &a->cases[in->culprits[i]];

		buf_puts(b, "- ");
		md_code(b, c->id, false);
		if (!c->nfindings)
			buf_puts(b, ": nothing found");
		for (k = 0; k < c->nfindings && k < 3; k++) {
			buf_printf(b, "%s%s: ", k ? "; " : ": ",
				   aud_severity_name(c->findings[k].severity));
			md_code(b, c->findings[k].detail, false);
		}
		buf_puts(b, "\n");
		nmissed += !aud_case_crashes(a, in->culprits[i]);
	}
	for (i = 0; i < in->ds->ncases; i++)
		nblamed += audit_blamed(in, i);
	if (in->nculprits)
		buf_puts(b, "\n");
	if (nmissed)
		buf_printf(b, "The audit missed %zu culprit%s: training crashes with %s, but %s "
			   "labels hold no value the audit calls a crash (the cause may be "
			   "elsewhere: images, geometry, or the trainer).\n\n", nmissed,
			   nmissed == 1 ? "" : "s", nmissed == 1 ? "it" : "them",
			   nmissed == 1 ? "its" : "their");
	if (nblamed) {
		buf_printf(b, "The audit blamed %zu case%s that training cleared: ", nblamed,
			   nblamed == 1 ? "" : "s");
		for (i = 0, k = 0; i < in->ds->ncases && k < 20; i++)
			if (audit_blamed(in, i)) {
				buf_puts(b, k++ ? ", " : "");
				md_code(b, in->ds->cases[i].id, false);
			}
		buf_puts(b, nblamed > 20 ? ", ...\n\n" : "\n\n");
	}
}

static char *md_text(const struct facts *f)
{
	struct buf b = { 0 };
	char *raw, *clean;

	md_title(&b, f);
	md_what_crashed(&b, f);
	md_which_cases(&b, f);
	md_audit(&b, f);
	if (f->in->pictures_md) /* pictures.c writes it: links into pictures/ */
		buf_puts(&b, f->in->pictures_md);
	md_reproduce(&b, f);
	md_environment(&b, f);
	md_ruled_out(&b, f);
	md_others(&b, f);
	md_undecided(&b, f);
	md_trial_log(&b, f);
	buf_puts(&b, "---\n_Written by casebisect " CASEBISECT_VERSION "; report.json says the "
		     "same for programs._\n");
	/* File names and logs are bytes; an issue tracker wants UTF-8. */
	raw = buf_take(&b);
	clean = cb_utf8_clean(raw);
	free(raw);
	return clean;
}

char *report_md_text(const struct report_input *in)
{
	struct facts f;
	char *text;

	facts_init(&f, in);
	text = md_text(&f);
	facts_release(&f);
	return text;
}

/* ---- writing files ---- */

/* Creates path (never an existing name, never through a link) with data;
 * mode before the umask. Returns 0 or -1 with err. */
static int write_new(const char *path, const char *data, size_t len, mode_t mode, char *err,
		     size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

	if (fd < 0) {
		cb_set_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	if (cb_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		cb_set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (close(fd) < 0) {
		cb_set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

int report_write(const struct report_input *in, char *err, size_t errlen)
{
	struct facts f;
	char *json, *md, *jpath, *mpath;
	int rc;

	assert(in && in->workdir);
	facts_init(&f, in);
	json = json_text(&f);
	md = md_text(&f);
	facts_release(&f);
	jpath = cb_path_join(in->workdir, "report.json");
	mpath = cb_path_join(in->workdir, "report.md");
	rc = cb_write_atomic(jpath, json, strlen(json), CB_WRITE_DURABLE, err, errlen);
	if (rc == 0)
		rc = cb_write_atomic(mpath, md, strlen(md), CB_WRITE_DURABLE, err, errlen);
	free(jpath);
	free(mpath);
	free(json);
	free(md);
	return rc;
}

/* ---- the bundle ---- */

struct bundle {
	const struct facts *f;
	const struct dataset *ds;
	char *dir;    /* the new bundle, being built: WORKDIR/.bundle.new.XXXXXX */
	char *data;   /* dir/dataset */
	char ***rel;  /* rel[k][j]: culprit k's file j, relative to data */
	char *err;
	size_t errlen;
};

static int make_dir(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0777) == 0 || errno == EEXIST)
		return 0;
	cb_set_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
	return -1;
}

/* Makes the folders of rel (a relative file path) under base. The bundle
 * folder is ours and 0700, so no one can have planted a link in it. */
static int make_parents(const char *base, const char *rel, char *err, size_t errlen)
{
	char *path = cb_path_join(base, rel), *s = path + strlen(base) + 1;
	int rc = 0;

	for (; *s && rc == 0; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		rc = make_dir(path, err, errlen);
		*s = '/';
	}
	free(path);
	return rc;
}

/* Copies the user's file src to dst (a new name). src is only read, and
 * must be a regular file: a FIFO or a device would hang or never end. */
static int copy_file(const char *src, const char *dst, char *err, size_t errlen)
{
	int in = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), out = -1, rc = -1;
	char *chunk = NULL;
	struct stat st;
	ssize_t n;

	if (in < 0 || fstat(in, &st) < 0) {
		cb_set_err(err, errlen, "%s: cannot read: %s", src, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		cb_set_err(err, errlen, "%s: not a regular file: not copied", src);
		goto out;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (out < 0) {
		cb_set_err(err, errlen, "%s: cannot create: %s", dst, strerror(errno));
		goto out;
	}
	chunk = xmalloc(COPY_CHUNK);
	while ((n = read(in, chunk, COPY_CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cb_set_err(err, errlen, "%s: cannot read: %s", src, strerror(errno));
			goto out;
		}
		if (cb_write_all(out, chunk, (size_t)n) < 0) {
			cb_set_err(err, errlen, "%s: cannot write: %s", dst, strerror(errno));
			goto out;
		}
	}
	if (close(out) < 0) {
		out = -1;
		cb_set_err(err, errlen, "%s: cannot write: %s", dst, strerror(errno));
		goto out;
	}
	out = -1;
	rc = 0;
out:
	free(chunk);
	if (out >= 0)
		close(out);
	if (in >= 0)
		close(in);
	return rc;
}

/* Is rel a path that stays inside its folder (no "", "." or ".." part)? */
static bool rel_is_safe(const char *rel)
{
	const char *p = rel;

	if (!*rel || *rel == '/')
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/')
			p++;
		if (!*p && p[-1] == '/')
			return false;
	}
	return true;
}

/* path relative to dir when it lies under it, else NULL. */
static char *rel_under(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	if (n && dir[n - 1] == '/')
		n--;
	if (strncmp(path, dir, n) || path[n] != '/' || !rel_is_safe(path + n + 1))
		return NULL;
	return xstrdup(path + n + 1);
}

static bool rel_taken(const struct bundle *bd, size_t k, size_t j, const char *rel)
{
	size_t a, b;

	for (a = 0; a <= k; a++)
		for (b = 0; b < (a == k ? j : bd->f->cul[a].c->nfiles); b++)
			if (bd->rel[a][b] && !strcmp(bd->rel[a][b], rel))
				return true;
	return false;
}

/* nnunet-raw: <DatasetXXX_Name>/imagesTr|labelsTr/<name>, the user's file
 * names kept; two files of the same name (a "dataset" key may list files
 * from anywhere) fall back to nnU-Net's own names, as the view does. */
static char *place_raw(const struct bundle *bd, size_t k, size_t j)
{
	const struct ds_case *c = bd->f->cul[k].c;
	const char *sub = (int)j == c->label ? "labelsTr" : "imagesTr";
	const char *ending = bd->ds->file_ending ? bd->ds->file_ending : "";
	char *rel = cb_fmt("%s/%s/%s", base_name(bd->ds->root), sub, base_name(c->files[j]));
	size_t ch = 0, i;

	if (!rel_taken(bd, k, j, rel))
		return rel;
	free(rel);
	for (i = 0; i < j; i++)
		ch += (int)i != c->label;
	if ((int)j == c->label)
		return cb_fmt("%s/%s/%s%s", base_name(bd->ds->root), sub, c->id, ending);
	return cb_fmt("%s/%s/%s_%04zu%s", base_name(bd->ds->root), sub, c->id, ch, ending);
}

/* msd and list: where the file is under the datalist's (the list's, the
 * folder's) own folder, the same relative path; else external/<id>/<name>. */
static char *place_relative(const struct bundle *bd, size_t k, size_t j)
{
	const struct dataset *ds = bd->ds;
	const struct ds_case *c = bd->f->cul[k].c;
	struct stat st;
	char *base, *rel;

	if (ds->format == DS_LIST && stat(ds->root, &st) == 0 && S_ISDIR(st.st_mode))
		base = xstrdup(ds->root);
	else
		base = dir_name(ds->root);
	rel = rel_under(base, c->files[j]);
	free(base);
	return rel ? rel : cb_fmt("external/%s/%s", c->id, base_name(c->files[j]));
}

/* Where each culprit's files go, relative to bundle/dataset/. */
static int place_files(struct bundle *bd)
{
	const struct dataset *ds = bd->ds;
	size_t k, j;

	bd->rel = xcalloc(bd->f->ncul + 1, sizeof(*bd->rel));
	for (k = 0; k < bd->f->ncul; k++) {
		const struct ds_case *c = bd->f->cul[k].c;

		bd->rel[k] = xcalloc(c->nfiles + 1, sizeof(**bd->rel));
		for (j = 0; j < c->nfiles; j++) {
			char *rel;

			if (ds->format == DS_NNUNET_RAW)
				rel = place_raw(bd, k, j);
			else if (ds->format == DS_NNUNET_PRE)
				rel = cb_fmt("%s/%s/%s", ds->dataset_name ? ds->dataset_name : "dataset",
					     ds->data_dir ? base_name(ds->data_dir) : "data",
					     base_name(c->files[j]));
			else
				rel = place_relative(bd, k, j);
			bd->rel[k][j] = rel;
			if (!rel_is_safe(rel) || rel_taken(bd, k, j, rel)) {
				cb_set_err(bd->err, bd->errlen, "%s: cannot place it in the bundle as "
					   "\"%s\" (%s)", c->files[j], rel, rel_is_safe(rel)
					   ? "another file of the culprits has that name"
					   : "not a safe path");
				return -1;
			}
		}
	}
	return 0;
}

static int copy_cases(struct bundle *bd)
{
	size_t k, j;

	for (k = 0; k < bd->f->ncul; k++) {
		const struct ds_case *c = bd->f->cul[k].c;

		for (j = 0; j < c->nfiles; j++) {
			char *dst = cb_path_join(bd->data, bd->rel[k][j]);
			int rc = make_parents(bd->data, bd->rel[k][j], bd->err, bd->errlen);

			if (rc == 0)
				rc = copy_file(c->files[j], dst, bd->err, bd->errlen);
			free(dst);
			if (rc < 0)
				return -1;
		}
	}
	return 0;
}

static cJSON *read_json_file(const char *path, char *err, size_t errlen)
{
	char *text = cb_read_file(path, NULL);
	cJSON *root;

	if (!text) {
		cb_set_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return NULL;
	}
	root = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(root)) {
		cb_set_err(err, errlen, "%s: not a JSON object", path);
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

static void json_replace(cJSON *obj, const char *key, cJSON *v)
{
	json_oom(v);
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
	else
		cJSON_AddItemToObject(obj, key, v);
}

static int write_json_file(struct bundle *bd, const char *rel, const cJSON *root)
{
	char *text = json_line(root, true), *path = cb_path_join(bd->data, rel);
	int rc = make_parents(bd->data, rel, bd->err, bd->errlen);

	if (rc == 0)
		rc = write_new(path, text, strlen(text), 0666, bd->err, bd->errlen);
	free(path);
	free(text);
	return rc;
}

/* A nnU-Net dataset.json cut to the culprits: numTraining, and the
 * "dataset" key (when there is one) with the culprits' entries only; with
 * paths rewritten to the bundle's files when rewrite (raw: the entries
 * name imagesTr/ and labelsTr/ files relative to the dataset folder). */
static int write_dataset_json(struct bundle *bd, const char *rel_dir, bool rewrite)
{
	const struct facts *f = bd->f;
	cJSON *root = read_json_file(bd->ds->dataset_json, bd->err, bd->errlen), *key, *out;
	char *rel;
	size_t k, j, skip = strlen(rel_dir) + 1;
	int rc;

	if (!root)
		return -1;
	json_replace(root, "numTraining", cJSON_CreateNumber((double)f->ncul));
	key = cJSON_GetObjectItemCaseSensitive(root, "dataset");
	if (cJSON_IsObject(key)) {
		out = json_object();
		for (k = 0; k < f->ncul; k++) {
			const struct ds_case *c = f->cul[k].c;
			cJSON *user = cJSON_GetObjectItemCaseSensitive(key, c->id), *entry, *images;

			entry = cJSON_IsObject(user) ? cJSON_Duplicate(user, true) : json_object();
			json_oom(entry);
			if (rewrite) {
				images = cJSON_CreateArray();
				json_oom(images);
				for (j = 0; j < c->nfiles; j++)
					if ((int)j != c->label)
						cJSON_AddItemToArray(images,
								     json_string(bd->rel[k][j] + skip));
				json_replace(entry, "images", images);
				if (c->label >= 0)
					json_replace(entry, "label",
						     json_string(bd->rel[k][c->label] + skip));
			}
			cJSON_AddItemToObject(out, c->id, entry);
		}
		json_replace(root, "dataset", out);
	}
	rel = cb_path_join(rel_dir, "dataset.json");
	rc = write_json_file(bd, rel, root);
	free(rel);
	cJSON_Delete(root);
	return rc;
}

/* nnunet-pre: the plans and the fingerprint as they are, beside the data
 * folder; dataset.json cut to the culprits. */
static int write_pre_meta(struct bundle *bd)
{
	const struct dataset *ds = bd->ds;
	const char *meta[2] = { ds->plans_file, ds->fingerprint_file };
	const char *name = ds->dataset_name ? ds->dataset_name : "dataset";
	size_t i;

	for (i = 0; i < 2; i++) {
		char *rel, *dst;
		int rc;

		if (!meta[i]) {
			cb_set_err(bd->err, bd->errlen, "%s: the dataset's %s file is not known",
				   ds->root, i ? "fingerprint" : "plans");
			return -1;
		}
		rel = cb_path_join(name, base_name(meta[i]));
		dst = cb_path_join(bd->data, rel);
		rc = make_parents(bd->data, rel, bd->err, bd->errlen);
		if (rc == 0)
			rc = copy_file(meta[i], dst, bd->err, bd->errlen);
		free(rel);
		free(dst);
		if (rc < 0)
			return -1;
	}
	if (!ds->dataset_json) {
		cb_set_err(bd->err, bd->errlen, "%s: the dataset has no dataset.json", ds->root);
		return -1;
	}
	return write_dataset_json(bd, name, false);
}

/* The file an msd "training" entry is known by: its label, else its first
 * image (as view.c matches them). */
static const char *entry_key(const cJSON *e)
{
	const cJSON *label = cJSON_GetObjectItemCaseSensitive(e, "label");
	const cJSON *image = cJSON_GetObjectItemCaseSensitive(e, "image");

	if (cJSON_IsString(label))
		return label->valuestring;
	if (cJSON_IsArray(image))
		image = cJSON_GetArrayItem(image, 0);
	return cJSON_IsString(image) ? image->valuestring : NULL;
}

/* The user's "training" entry of case c (found by the real path of its
 * key file), so that its other keys ("fold", ...) are kept; or NULL. */
static const cJSON *msd_user_entry(const cJSON *training, const char *dir,
				   const struct ds_case *c)
{
	const char *key = c->label >= 0 ? c->files[c->label] : c->nfiles ? c->files[0] : NULL;
	char *want = key ? realpath(key, NULL) : NULL;
	const cJSON *e, *hit = NULL;

	if (!want)
		training = NULL;
	cJSON_ArrayForEach(e, training) {
		const char *k = entry_key(e);
		char *p, *r;

		if (!k)
			continue;
		p = k[0] == '/' ? xstrdup(k) : cb_path_join(dir, k);
		r = realpath(p, NULL);
		free(p);
		if (r && !strcmp(r, want))
			hit = e;
		free(r);
		if (hit)
			break;
	}
	free(want);
	return hit;
}

/* msd: datalist.json, the user's with "training" cut to the culprits and
 * their paths relative to it. "validation" and "test" are emptied: they
 * name cases that are not in the bundle, and would send a trainer looking
 * for files that are not there. */
static int write_msd_meta(struct bundle *bd)
{
	const struct facts *f = bd->f;
	cJSON *root = read_json_file(bd->ds->root, bd->err, bd->errlen), *training, *out;
	char *dir = dir_name(bd->ds->root);
	static const char *const emptied[] = { "validation", "test" };
	size_t k, j;
	int rc;

	if (!root) {
		free(dir);
		return -1;
	}
	training = cJSON_GetObjectItemCaseSensitive(root, "training");
	out = cJSON_CreateArray();
	json_oom(out);
	for (k = 0; k < f->ncul; k++) {
		const struct ds_case *c = f->cul[k].c;
		const cJSON *user = msd_user_entry(training, dir, c);
		cJSON *entry = user ? cJSON_Duplicate(user, true) : json_object(), *img;
		size_t nimg = c->nfiles - (c->label >= 0);
		bool as_array = cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(entry, "image"));

		json_oom(entry);
		img = nimg == 1 && !as_array ? NULL : cJSON_CreateArray();
		for (j = 0; j < c->nfiles; j++) {
			if ((int)j == c->label)
				continue;
			if (img)
				cJSON_AddItemToArray(img, json_string(bd->rel[k][j]));
			else
				img = json_string(bd->rel[k][j]);
		}
		json_replace(entry, "image", img);
		if (c->label >= 0)
			json_replace(entry, "label", json_string(bd->rel[k][c->label]));
		cJSON_AddItemToArray(out, entry);
	}
	json_replace(root, "training", out);
	for (k = 0; k < CB_ARRAY_SIZE(emptied); k++)
		if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, emptied[k])))
			json_replace(root, emptied[k], cJSON_CreateArray());
	if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "numTraining")))
		json_replace(root, "numTraining", cJSON_CreateNumber((double)f->ncul));
	rc = write_json_file(bd, "datalist.json", root);
	cJSON_Delete(root);
	free(dir);
	return rc;
}

/* list: cases.txt (IDs) and files.txt (each case's files, tab separated,
 * relative to the bundle's dataset folder). */
static int write_list_meta(struct bundle *bd)
{
	struct buf cases = { 0 }, files = { 0 };
	char *cpath = cb_path_join(bd->data, "cases.txt"), *fpath = cb_path_join(bd->data, "files.txt");
	size_t k, j;
	int rc;

	for (k = 0; k < bd->f->ncul; k++) {
		const struct ds_case *c = bd->f->cul[k].c;

		buf_printf(&cases, "%s\n", c->id);
		for (j = 0; j < c->nfiles; j++)
			buf_printf(&files, "%s%s", j ? "\t" : "", bd->rel[k][j]);
		buf_puts(&files, "\n");
	}
	rc = write_new(cpath, cases.s, cases.len, 0666, bd->err, bd->errlen);
	if (rc == 0)
		rc = write_new(fpath, files.s, files.len, 0666, bd->err, bd->errlen);
	free(buf_take(&cases));
	free(buf_take(&files));
	free(cpath);
	free(fpath);
	return rc;
}

static int write_meta(struct bundle *bd)
{
	switch (bd->ds->format) {
	case DS_NNUNET_RAW:
		if (!bd->ds->dataset_json) {
			cb_set_err(bd->err, bd->errlen, "%s: the dataset has no dataset.json",
				   bd->ds->root);
			return -1;
		}
		return write_dataset_json(bd, base_name(bd->ds->root), true);
	case DS_NNUNET_PRE:
		return write_pre_meta(bd);
	case DS_MSD:
		return write_msd_meta(bd);
	case DS_LIST:
		return write_list_meta(bd);
	default:
		cb_set_err(bd->err, bd->errlen, "%s: a dataset without a format", bd->ds->root);
		return -1;
	}
}

static int write_text(struct bundle *bd, const char *name, const char *text, mode_t mode)
{
	char *path = cb_path_join(bd->dir, name);
	int rc = write_new(path, text, strlen(text), mode, bd->err, bd->errlen);

	free(path);
	return rc;
}

/* ---- repro.sh ---- */

static void sh_quote(struct buf *b, const char *s)
{
	buf_puts(b, "'");
	for (; *s; s++) {
		if (*s == '\'')
			buf_puts(b, "'\\''");
		else
			buf_add(b, s, 1);
	}
	buf_puts(b, "'");
}

/* One argument of the command, its placeholders replaced by the script's
 * variables of the same name (matched as sup_expand_argv() does: at each
 * position the first name that fits). */
static void sh_arg(struct buf *b, const char *a)
{
	static const char *const names[] = { "trial_dir", "cases_file", "files_file", "view", "n" };
	const char *lit = a;
	bool any = false;
	size_t i, len;

	while (*a) {
		for (i = 0; i < CB_ARRAY_SIZE(names); i++) {
			len = strlen(names[i]);
			if (a[0] == '{' && !strncmp(a + 1, names[i], len) && a[len + 1] == '}')
				break;
		}
		if (i == CB_ARRAY_SIZE(names)) {
			a++;
			continue;
		}
		if (a > lit) {
			char *piece = xmalloc((size_t)(a - lit) + 1);

			memcpy(piece, lit, (size_t)(a - lit));
			piece[a - lit] = '\0';
			sh_quote(b, piece);
			free(piece);
		}
		buf_printf(b, "\"${%s}\"", names[i]);
		a += len + 2;
		lit = a;
		any = true;
	}
	if (*lit || !any)
		sh_quote(b, lit);
}

/* "$data/"'rel' : a file of the bundle, found wherever it was moved. */
static void sh_data_path(struct buf *b, const char *rel)
{
	buf_puts(b, "\"$data/\"");
	sh_quote(b, rel);
}

static void repro_lists(struct buf *b, const struct bundle *bd)
{
	size_t k, j;

	buf_puts(b, "# {cases_file} and {files_file}: the cases, and their files in this bundle\n"
		    "cases_file=\"$tmp/cases.txt\"\n"
		    "files_file=\"$tmp/files.txt\"\n"
		    "{\n");
	for (k = 0; k < bd->f->ncul; k++) {
		buf_puts(b, "\tprintf '%s\\n' ");
		sh_quote(b, bd->f->cul[k].c->id);
		buf_puts(b, "\n");
	}
	buf_puts(b, "} >\"$cases_file\"\n{\n");
	for (k = 0; k < bd->f->ncul; k++) {
		const struct ds_case *c = bd->f->cul[k].c;

		buf_puts(b, "\tprintf '");
		for (j = 0; j < c->nfiles; j++)
			buf_puts(b, j ? "\\t%s" : "%s");
		buf_puts(b, "\\n'");
		for (j = 0; j < c->nfiles; j++) {
			buf_puts(b, " ");
			sh_data_path(b, bd->rel[k][j]);
		}
		buf_puts(b, "\n");
	}
	buf_puts(b, "} >\"$files_file\"\n\n");
}

/* nnunet-pre: as the view, a preprocessed root in the temporary folder with
 * links to the bundle's files and a real data folder, so that what nnU-Net
 * writes there (unpacked arrays, splits_final.json) never lands in the
 * bundle. */
static void repro_pre_view(struct buf *b, const struct bundle *bd)
{
	const struct dataset *ds = bd->ds;
	const char *name = ds->dataset_name ? ds->dataset_name : "dataset";
	const char *meta[2] = { ds->plans_file, ds->fingerprint_file };
	char *data_rel = cb_path_join(name, ds->data_dir ? base_name(ds->data_dir) : "data"), *rel;
	size_t i, k, j;

	buf_puts(b, "# {view}: an nnU-Net preprocessed folder of links to this bundle's files\n"
		    "export nnUNet_preprocessed=\"$tmp/nnUNet_preprocessed\"\n"
		    "export nnUNet_raw=\"$tmp/nnUNet_raw\"\n"
		    "export nnUNet_results=\"$tmp/nnUNet_results\"\n"
		    "mkdir -p -- \"$nnUNet_raw\" \"$nnUNet_results\" \"$nnUNet_preprocessed/\"");
	sh_quote(b, data_rel);
	buf_puts(b, "\n");
	for (i = 0; i < 3; i++) {
		rel = cb_path_join(name, i < 2 ? (meta[i] ? base_name(meta[i]) : "") : "dataset.json");
		buf_puts(b, "ln -s -- ");
		sh_data_path(b, rel);
		buf_puts(b, " \"$nnUNet_preprocessed/\"");
		sh_quote(b, rel);
		buf_puts(b, "\n");
		free(rel);
	}
	for (k = 0; k < bd->f->ncul; k++)
		for (j = 0; j < bd->f->cul[k].c->nfiles; j++) {
			buf_puts(b, "ln -s -- ");
			sh_data_path(b, bd->rel[k][j]);
			buf_puts(b, " \"$nnUNet_preprocessed/\"");
			sh_quote(b, bd->rel[k][j]);
			buf_puts(b, "\n");
		}
	buf_puts(b, "view=\"$nnUNet_preprocessed\"\n\n");
	free(data_rel);
}

static void repro_view(struct buf *b, const struct bundle *bd)
{
	switch (bd->ds->format) {
	case DS_NNUNET_RAW:
		buf_puts(b, "# {view}: the bundle's nnU-Net raw dataset; what preprocessing and "
			    "training write goes\n# to the temporary folder\n"
			    "export nnUNet_raw=\"$data\"\n"
			    "export nnUNet_preprocessed=\"$tmp/nnUNet_preprocessed\"\n"
			    "export nnUNet_results=\"$tmp/nnUNet_results\"\n"
			    "mkdir -p -- \"$nnUNet_preprocessed\" \"$nnUNet_results\"\n"
			    "view=");
		sh_data_path(b, base_name(bd->ds->root));
		buf_puts(b, "\n\n");
		break;
	case DS_NNUNET_PRE:
		repro_pre_view(b, bd);
		break;
	case DS_MSD:
		buf_puts(b, "# {view}: the bundle's datalist (its paths are relative to it)\n"
			    "view=\"$data/datalist.json\"\n\n");
		break;
	default:
		buf_puts(b, "# {view}: for a list of cases, the cases file\n"
			    "view=\"$cases_file\"\n\n");
		break;
	}
}

/* Can bash export this "K=V" as it is? */
static bool env_name_ok(const char *kv)
{
	const char *p = kv;

	if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_'))
		return false;
	for (p++; *p && *p != '='; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_' ||
		      (*p >= '0' && *p <= '9')))
			return false;
	return *p == '=';
}

static void repro_env(struct buf *b, const struct facts *f)
{
	const char **env = trial_env_list(f);
	size_t i;

	buf_puts(b, "# the environment of the trials (env.txt); CUDA_VISIBLE_DEVICES is yours "
		    "to choose\n");
	if (run_true(f, "options", "no_blocking"))
		buf_puts(b, "unset CUDA_LAUNCH_BLOCKING\n");
	for (i = 0; env[i]; i++) {
		if (env_name_ok(env[i])) {
			buf_puts(b, "export ");
			sh_quote(b, env[i]);
			buf_puts(b, "\n");
		} else {
			/* A comment must not end early: no newline of it may get out. */
			buf_puts(b, "# not a variable bash can export, left out: ");
			md_verbatim(b, env[i], false, false);
			buf_puts(b, "\n");
		}
	}
	buf_puts(b, "\n");
	free(env);
}

static bool is_relative_path(const char *s)
{
	return s[0] != '/' && strchr(s, '/') != NULL;
}

static char *repro_text(const struct bundle *bd, const char **argv)
{
	const struct facts *f = bd->f;
	const char *cwd = run_str(f, "options", "cwd");
	struct buf b = { 0 };
	size_t i;

	buf_printf(&b, "#!/usr/bin/env bash\n"
		       "# repro.sh: reruns the command that crashed training, on the %zu case%s "
		       "of this bundle\n"
		       "# alone, with the environment casebisect's trials had. Run it from "
		       "anywhere:\n#     bash repro.sh\n"
		       "# It exits with the command's exit status. What the command writes goes to "
		       "a\n# temporary folder, removed at the end.\n"
		       "set -u\n\n"
		       "here=$(cd -- \"$(dirname -- \"${BASH_SOURCE[0]}\")\" && pwd -P) || exit 1\n"
		       "data=\"$here/dataset\"\n"
		       "tmp=$(mktemp -d \"${TMPDIR:-/tmp}/casebisect-repro.XXXXXX\") || exit 1\n"
		       "trap 'rm -rf -- \"$tmp\"' EXIT\n"
		       "trap 'exit 130' INT\n"
		       "trap 'exit 143' TERM\n\n",
		   f->ncul, plural(f->ncul));
	repro_lists(&b, bd);
	repro_env(&b, f);
	repro_view(&b, bd);
	buf_printf(&b, "trial_dir=\"$tmp\"\nn=%zu\n\n", f->ncul);
	if (cwd) {
		buf_puts(&b, "# the working directory the trials had (options.cwd), when it is here\n"
			     "if [ -d ");
		sh_quote(&b, cwd);
		buf_puts(&b, " ]; then cd -- ");
		sh_quote(&b, cwd);
		buf_puts(&b, " || exit 1; fi\n\n");
	}
	for (i = 0; argv[i]; i++)
		if (is_relative_path(argv[i]))
			break;
	if (argv[i] && !cwd)
		buf_puts(&b, "# The command names relative paths: run this script from the folder "
			     "casebisect ran in.\n");
	buf_puts(&b, "# the command, as the trials ran it\n");
	for (i = 0; argv[i]; i++) {
		if (i)
			buf_puts(&b, " \\\n\t");
		sh_arg(&b, argv[i]);
	}
	buf_puts(&b, "\nexit $?\n");
	return buf_take(&b);
}

/* ---- excerpt.log ---- */

/* Line numbers (1-based) and pieces of a log; the pieces point into text. */
struct lines {
	const char **at;
	size_t *len;
	size_t n;
};

static void split_lines(struct lines *l, const char *text, size_t size)
{
	size_t cap = 64, i = 0;

	memset(l, 0, sizeof(*l));
	l->at = xmalloc(cap * sizeof(*l->at));
	l->len = xmalloc(cap * sizeof(*l->len));
	while (i < size) {
		const char *nl = memchr(text + i, '\n', size - i);
		size_t end = nl ? (size_t)(nl - text) : size, len = end - i;

		if (l->n == cap) {
			cap *= 2;
			l->at = xrealloc(l->at, cap * sizeof(*l->at));
			l->len = xrealloc(l->len, cap * sizeof(*l->len));
		}
		if (len && text[i + len - 1] == '\r')
			len--;
		l->at[l->n] = text + i;
		l->len[l->n++] = len;
		i = end + 1;
	}
}

static bool line_has(const char *line, size_t len, const char *needle)
{
	return *needle && memmem(line, len, needle, strlen(needle)) != NULL;
}

/* Lines [from, to) of l, numbered, the decisive one marked '>'. */
static void excerpt_lines(struct buf *b, const struct lines *l, size_t from, size_t to, size_t mark)
{
	size_t i;

	for (i = from; i < to; i++) {
		buf_printf(b, "%c%6zu  ", i == mark ? '>' : ' ', i + 1);
		buf_add(b, l->at[i], l->len[i]);
		buf_puts(b, "\n");
	}
}

/* One log of a trial: around the line holding needle when it does, else
 * its last lines. Returns whether the log could be read. */
static bool excerpt_log(struct buf *b, const char *path, const char *shown, const char *needle,
			bool *found)
{
	size_t size, i, from, to, mark = SIZE_MAX;
	char *text = cb_read_file(path, &size);
	struct lines l;

	if (!text)
		return false;
	split_lines(&l, text, size);
	for (i = 0; i < l.n && mark == SIZE_MAX && !*found; i++)
		if (line_has(l.at[i], l.len[i], needle))
			mark = i;
	if (mark != SIZE_MAX) {
		*found = true;
		from = mark > EXCERPT_BEFORE ? mark - EXCERPT_BEFORE : 0;
		to = mark + EXCERPT_AFTER + 1 < l.n ? mark + EXCERPT_AFTER + 1 : l.n;
		buf_printf(b, "==> %s: lines %zu-%zu of %zu, the decisive line marked '>' <==\n",
			   shown, from + 1, to, l.n);
	} else {
		from = l.n > EXCERPT_TAIL ? l.n - EXCERPT_TAIL : 0;
		to = l.n;
		buf_printf(b, "==> %s: its last %zu line%s of %zu <==\n", shown, to - from,
			   plural(to - from), l.n);
	}
	excerpt_lines(b, &l, from, to, mark);
	buf_puts(b, "\n");
	free(l.at);
	free(l.len);
	free(text);
	return true;
}

/* Is every case of e a culprit? */
static bool only_culprits(const struct facts *f, const struct jrn_entry *e)
{
	size_t r, c, k;

	for (r = 0; r < e->nranges; r++)
		for (c = e->ranges[r].first; c <= e->ranges[r].last; c++) {
			for (k = 0; k < f->ncul && f->in->culprits[k] != c; k++)
				;
			if (k == f->ncul)
				return false;
		}
	return e->ncases > 0;
}

/* A failing trial, with what orders it for the excerpt. */
struct fail_ref {
	const struct jrn_entry *e;
	bool only; /* of culprits only */
};

/* Trials of culprits only first (what the bundle reruns), then smaller
 * subsets, then earlier trials. */
static int cmp_fail_ref(const void *a, const void *b)
{
	const struct fail_ref *x = a, *y = b;

	if (x->only != y->only)
		return x->only ? -1 : 1;
	if (x->e->ncases != y->e->ncases)
		return x->e->ncases < y->e->ncases ? -1 : 1;
	return x->e->trial < y->e->trial ? -1 : x->e->trial > y->e->trial;
}

/* A failing trial whose logs are there, around its decisive line. */
static char *excerpt_text(const struct facts *f)
{
	const struct report_input *in = f->in;
	struct fail_ref *fails = xcalloc(in->ntrials + 1, sizeof(*fails));
	struct buf b = { 0 };
	size_t n = 0, i, s;

	for (i = 0; i < in->ntrials; i++)
		if (is_outcome(&in->trials[i], "FAIL")) {
			fails[n].e = &in->trials[i];
			fails[n++].only = only_culprits(f, &in->trials[i]);
		}
	qsort(fails, n, sizeof(*fails), cmp_fail_ref);
	for (i = 0; i < n && i < EXCERPT_TRIES && !b.len; i++) {
		const struct jrn_entry *e = fails[i].e;
		char needle[NEEDLE_MAX + 1];
		struct buf logs = { 0 };
		bool found = false, any = false;
		static const char *const streams[] = { "stderr.log", "stdout.log" };

		/* Cut the needle before a U+FFFD: the journal's replacement of a
		 * byte the log holds as it was. */
		cb_strlcpy(needle, e->evidence, sizeof(needle));
		needle[strcspn(needle, "\xef")] = '\0';
		for (s = 0; s < 2; s++) {
			char *shown = cb_fmt("trials/%04llu/%s", (unsigned long long)e->trial, streams[s]);
			char *path = cb_path_join(in->workdir, shown);

			any |= excerpt_log(&logs, path, shown, needle, &found);
			free(path);
			free(shown);
		}
		if (!any) {
			free(buf_take(&logs));
			continue;
		}
		buf_printf(&b, "# casebisect: trial %llu (%zu case%s) ended FAIL (%s)",
			   (unsigned long long)e->trial, e->ncases, plural(e->ncases), e->klass);
		if (*e->evidence)
			buf_printf(&b, "; its decisive line:\n#   %s", e->evidence);
		buf_puts(&b, "\n\n");
		buf_add(&b, logs.s, logs.len);
		free(buf_take(&logs));
	}
	if (!b.len)
		buf_puts(&b, "# casebisect: no failing trial's logs were found under trials/\n");
	free(fails);
	return buf_take(&b);
}

/* ---- the bundle's small texts ---- */

static char *lines_text(const char **v)
{
	struct buf b = { 0 };
	size_t i;

	for (i = 0; v && v[i]; i++)
		buf_printf(&b, "%s\n", v[i]);
	return buf_take(&b);
}

static const char *layout_words(enum ds_format f)
{
	switch (f) {
	case DS_NNUNET_RAW:
		return "an nnU-Net raw dataset: imagesTr/, labelsTr/ and a dataset.json cut to "
		       "these cases";
	case DS_NNUNET_PRE:
		return "an nnU-Net preprocessed dataset: the plans, dataset.json (cut to these "
		       "cases), dataset_fingerprint.json and the data folder with these cases' files";
	case DS_MSD:
		return "a datalist.json whose \"training\" list holds these cases, with paths "
		       "relative to it (\"validation\" and \"test\" emptied)";
	default:
		return "cases.txt (the IDs) and files.txt (each case's files, relative to "
		       "dataset/)";
	}
}

static char *readme_text(const struct bundle *bd)
{
	const struct facts *f = bd->f;
	struct buf b = { 0 };
	size_t i;

	buf_printf(&b, "# casebisect repro bundle\n\n"
		       "This bundle contains copies of the image and label files of %zu training "
		       "case%s, which may be patients' data. Do not attach it to an issue or put "
		       "it anywhere public unless you have the right to share these files.\n\n"
		       "The case%s: ", f->ncul, plural(f->ncul), plural(f->ncul));
	for (i = 0; i < f->ncul; i++) {
		if (i)
			buf_puts(&b, ", ");
		md_code(&b, f->cul[i].c->id, false);
	}
	buf_printf(&b, ".\n\n"
		       "## What is in it\n\n"
		       "- `dataset/`: the cases' files, copied, in the dataset's own layout (%s).\n"
		       "- `repro.sh`: reruns the command that crashed, on these cases alone, with "
		       "the environment of casebisect's trials: `bash repro.sh`, from any folder. "
		       "It exits with the command's status.\n"
		       "- `command.txt`: the command, one argument per line, as given to casebisect "
		       "(`{cases_file}`, `{files_file}`, `{view}`, `{trial_dir}`, `{n}` stand for "
		       "each trial's own files).\n"
		       "- `env.txt`: the variables every trial got.\n"
		       "- `excerpt.log`: the lines around the decisive error in a failing trial's "
		       "logs.\n"
		       "- `report.md`: the report of the whole run.\n\n"
		       "report.md, excerpt.log, command.txt and env.txt hold case IDs, file names "
		       "and log lines, never the contents of a file: when the data must not leave, "
		       "share those four.\n", layout_words(bd->ds->format));
	return buf_take(&b);
}

/* ---- building, swapping and packing ---- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* Removes path and all under it, never following a link (FTW_PHYS). */
static int remove_tree(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) < 0 && errno == ENOENT)
		return 0;
	if (!S_ISDIR(st.st_mode) ? unlink(path) == 0
				 : nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0)
		return 0;
	cb_set_err(err, errlen, "%s: cannot remove: %s", path, strerror(errno));
	return -1;
}

size_t report_remove_leftovers(const char *workdir)
{
	DIR *d = opendir(workdir);
	struct dirent *e;
	size_t n = cb_remove_tmp_leftovers(workdir);
	char scratch[256];

	while (d && (e = readdir(d))) {
		char *path;

		if (strncmp(e->d_name, ".bundle.new.", 12) && strncmp(e->d_name, ".bundle.old.", 12))
			continue;
		path = cb_path_join(workdir, e->d_name);
		if (remove_tree(path, scratch, sizeof(scratch)) == 0)
			n++;
		free(path);
	}
	if (d)
		closedir(d);
	return n;
}

/* Puts the new bundle in place of the old one: the old one is moved aside
 * first (a folder can only be renamed onto an empty one), then removed. */
static int swap_in(const char *dir, const char *final, const char *workdir, char *err,
		   size_t errlen)
{
	char *aside = cb_path_join(workdir, ".bundle.old.XXXXXX");
	struct stat st;
	int rc = -1;
	bool moved = false;

	if (lstat(final, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			if (unlink(final) < 0) {
				cb_set_err(err, errlen, "%s: cannot remove: %s", final, strerror(errno));
				goto out;
			}
		} else if (!mkdtemp(aside) || rename(final, aside) < 0) {
			cb_set_err(err, errlen, "%s: cannot move the old bundle aside: %s", final,
				   strerror(errno));
			rmdir(aside);
			goto out;
		} else {
			moved = true;
		}
	}
	if (rename(dir, final) < 0) {
		cb_set_err(err, errlen, "%s: cannot put the bundle in place: %s", final, strerror(errno));
		if (moved)
			rename(aside, final);
		goto out;
	}
	rc = moved ? remove_tree(aside, err, errlen) : 0;
out:
	free(aside);
	return rc;
}

struct tar {
	struct archive *a;
	const char *path; /* for messages */
	char *err;
	size_t errlen;
};

static int tar_fail(struct tar *t, const char *what)
{
	/* libarchive's own text for a failed write is "Write error": the
	 * errno behind it says what the user can do. */
	int e = archive_errno(t->a);

	cb_set_err(t->err, t->errlen, "%s: %s: %s", t->path, what, e > 0 ? strerror(e)
		   : archive_error_string(t->a) ? archive_error_string(t->a) : "failed");
	return -1;
}

static int tar_data(struct tar *t, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = 0;
	char *chunk = xmalloc(COPY_CHUNK);
	ssize_t n;

	if (fd < 0) {
		cb_set_err(t->err, t->errlen, "%s: cannot read: %s", path, strerror(errno));
		free(chunk);
		return -1;
	}
	while (rc == 0 && (n = read(fd, chunk, COPY_CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cb_set_err(t->err, t->errlen, "%s: cannot read: %s", path, strerror(errno));
			rc = -1;
		} else if (archive_write_data(t->a, chunk, (size_t)n) != n) {
			rc = tar_fail(t, "cannot write");
		}
	}
	close(fd);
	free(chunk);
	return rc;
}

/* Adds dir/rel and, for a folder, all under it (sorted, so the archive
 * lists in a stable order) as bundle/rel. Modes are normalised: the
 * archive carries no owner and no umask of this machine. */
static int tar_add(struct tar *t, const char *dir, const char *rel)
{
	char *path = *rel ? cb_path_join(dir, rel) : xstrdup(dir);
	char *name = *rel ? cb_path_join(BUNDLE_NAME, rel) : xstrdup(BUNDLE_NAME);
	struct archive_entry *e = archive_entry_new();
	struct dirent **list = NULL;
	struct stat st;
	int rc = -1, n = 0, i;

	if (!e)
		die("out of memory");
	if (lstat(path, &st) < 0) {
		cb_set_err(t->err, t->errlen, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		rc = 0; /* nothing else is made in a bundle */
		goto out;
	}
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, S_ISDIR(st.st_mode) ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, S_ISDIR(st.st_mode) || (st.st_mode & 0100) ? 0755 : 0644);
	archive_entry_set_size(e, S_ISREG(st.st_mode) ? st.st_size : 0);
	archive_entry_set_mtime(e, st.st_mtime, 0);
	if (archive_write_header(t->a, e) < ARCHIVE_WARN) {
		rc = tar_fail(t, "cannot write");
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		rc = tar_data(t, path);
		goto out;
	}
	n = scandir(path, &list, NULL, alphasort);
	if (n < 0) {
		cb_set_err(t->err, t->errlen, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
	for (i = 0; i < n; i++) {
		const char *d = list[i]->d_name;
		char *sub;

		if (rc == 0 && strcmp(d, ".") && strcmp(d, "..")) {
			sub = *rel ? cb_path_join(rel, d) : xstrdup(d);
			rc = tar_add(t, dir, sub);
			free(sub);
		}
		free(list[i]);
	}
	free(list);
out:
	archive_entry_free(e);
	free(path);
	free(name);
	return rc;
}

/* WORKDIR/bundle.tar.gz of dir, through a temporary name. */
static int write_tarball(const char *dir, const char *workdir, char *err, size_t errlen)
{
	char *final = cb_path_join(workdir, TARBALL_NAME), *tmp;
	/* 0600: the archive holds copies of patients' scans. */
	int fd = cb_tmp_open(final, 0600, &tmp, err, errlen), rc = -1;
	struct tar t = { archive_write_new(), final, err, errlen };

	if (!t.a)
		die("out of memory");
	if (fd < 0)
		goto out;
	if (archive_write_add_filter_gzip(t.a) != ARCHIVE_OK ||
	    archive_write_set_format_pax_restricted(t.a) != ARCHIVE_OK ||
	    archive_write_open_fd(t.a, fd) != ARCHIVE_OK) {
		tar_fail(&t, "cannot start the archive");
		goto out;
	}
	if (tar_add(&t, dir, "") < 0)
		goto out;
	if (archive_write_close(t.a) != ARCHIVE_OK) {
		tar_fail(&t, "cannot write");
		goto out;
	}
	rc = cb_tmp_commit(fd, &tmp, final, CB_WRITE_DURABLE, err, errlen);
	fd = -1;
out:
	archive_write_free(t.a);
	if (fd >= 0)
		cb_tmp_abandon(fd, &tmp);
	free(final);
	return rc;
}

static int write_texts(struct bundle *bd)
{
	const char **argv = run_command(bd->f), **env = trial_env_list(bd->f);
	char *texts[6] = { 0 };
	static const char *const names[6] = { "command.txt", "env.txt", "repro.sh",
					      "excerpt.log", "report.md", "README.md" };
	size_t i;
	int rc = 0;

	if (!argv) {
		cb_set_err(bd->err, bd->errlen, "run.json holds no command: no repro.sh to write");
		free(env);
		return -1;
	}
	texts[0] = lines_text(argv);
	texts[1] = lines_text(env);
	texts[2] = repro_text(bd, argv);
	texts[3] = excerpt_text(bd->f);
	texts[4] = md_text(bd->f);
	texts[5] = readme_text(bd);
	for (i = 0; i < 6; i++) {
		if (rc == 0)
			rc = write_text(bd, names[i], texts[i], i == 2 ? 0777 : 0666);
		free(texts[i]);
	}
	free(argv);
	free(env);
	return rc;
}

static void bundle_release(struct bundle *bd)
{
	size_t k, j;

	if (bd->rel) {
		for (k = 0; k < bd->f->ncul; k++) {
			for (j = 0; bd->rel[k] && j < bd->f->cul[k].c->nfiles; j++)
				free(bd->rel[k][j]);
			free(bd->rel[k]);
		}
		free(bd->rel);
	}
	free(bd->dir);
	free(bd->data);
}

int report_bundle(const struct report_input *in, char *err, size_t errlen)
{
	struct facts f;
	struct bundle bd = { 0 };
	char *final = NULL, scratch[256];
	int rc = -1;

	assert(in && in->workdir);
	if (!in->nculprits)
		return 0;
	facts_init(&f, in);
	bd.f = &f;
	bd.ds = in->ds;
	bd.err = err;
	bd.errlen = errlen;
	bd.dir = cb_path_join(in->workdir, ".bundle.new.XXXXXX");
	if (!mkdtemp(bd.dir)) {
		cb_set_err(err, errlen, "%s: cannot create: %s", bd.dir, strerror(errno));
		free(bd.dir);
		bd.dir = NULL;
		goto out;
	}
	bd.data = cb_path_join(bd.dir, "dataset");
	final = cb_path_join(in->workdir, BUNDLE_NAME);
	if (make_dir(bd.data, err, errlen) < 0 || place_files(&bd) < 0 || copy_cases(&bd) < 0 ||
	    write_meta(&bd) < 0 || write_texts(&bd) < 0 ||
	    swap_in(bd.dir, final, in->workdir, err, errlen) < 0)
		goto out;
	rc = write_tarball(final, in->workdir, err, errlen);
	if (rc < 0) {
		/* An archive of the last bundle would not match this one. */
		char *old = cb_path_join(in->workdir, TARBALL_NAME);

		unlink(old);
		free(old);
	}
out:
	/* After a failure, what was half built goes; the old bundle stays. */
	if (rc < 0 && bd.dir)
		remove_tree(bd.dir, scratch, sizeof(scratch));
	free(final);
	bundle_release(&bd);
	facts_release(&f);
	return rc;
}
