/* report_json: report.json, from the facts (report_facts.h); its keys are
 * described in include/casebisect/report.h. */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "casebisect/json.h"
#include "casebisect/synth.h"
#include "report_facts.h"

/* report.json's confidence.model: where the model is written down. */
#define CONFIDENCE_MODEL "include/casebisect/confidence.h: false-pass rate f ~ Beta(F+1, " \
	"K-F+1) from the trials that held a culprit; a cleared case that passed m times " \
	"without one is a culprit with likelihood f^m (times the label audit's evidence); " \
	"the search's prior on the number of culprits"

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

static cJSON *u64s_json(const struct rep_u64s *a)
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

static cJSON *culprits_json(const struct rep_facts *f)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	json_oom(arr);
	for (i = 0; i < f->ncul; i++) {
		const struct rep_culprit *c = &f->cul[i];
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

static cJSON *minimal_subset_json(const struct rep_facts *f)
{
	cJSON *o;

	if (!rep_verdict_is(f->in, "minimal_subset"))
		return cJSON_CreateNull();
	o = json_object();
	add_item(o, "cases", ids_json(f->in->ds, f->in->culprits, f->in->nculprits));
	add_item(o, "reproduction", reproduction_json(f->all_fails, f->all_runs));
	add_item(o, "failing_trials", u64s_json(&f->all_failing));
	return o;
}

/* For undetermined: the failing trial with the fewest cases, what the
 * bundle is made from when it is smaller than the dataset; else null. */
static cJSON *smallest_failing_json(const struct rep_facts *f)
{
	const struct jrn_entry *e = f->smallest_fail;
	size_t *idx;
	cJSON *o;

	if (!rep_verdict_is(f->in, "undetermined") || !e)
		return cJSON_CreateNull();
	o = json_object();
	idx = rep_entry_cases(e);
	json_add_num(o, "trial", (double)e->trial, true);
	json_add_num(o, "size", (double)e->ncases, true);
	add_item(o, "cases", ids_json(f->in->ds, idx, e->ncases));
	add_item(o, "bundled", cJSON_CreateBool(f->nbundle != 0));
	free(idx);
	return o;
}

static cJSON *trials_json(const struct rep_facts *f)
{
	cJSON *o = json_object();

	json_add_num(o, "total", (double)f->in->ntrials, true);
	json_add_num(o, "pass", (double)f->pass, true);
	json_add_num(o, "fail", (double)f->fail, true);
	json_add_num(o, "unresolved", (double)f->unresolved, true);
	json_add_num(o, "skipped", (double)f->skipped, true);
	return o;
}

static cJSON *others_json(const struct rep_facts *f)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i, j, k;

	json_oom(arr);
	for (i = 0; i < f->nother; i++) {
		const struct rep_other *o = &f->other[i];
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

static cJSON *dataset_json(const struct rep_facts *f)
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
static cJSON *run_copy(const struct rep_facts *f, const char *key, cJSON_bool (*is)(const cJSON *),
		       cJSON *fallback)
{
	const cJSON *v = rep_run_get(f, key, NULL);

	if (v && is(v)) {
		cJSON_Delete(fallback);
		return cJSON_Duplicate(v, true);
	}
	return fallback ? fallback : cJSON_CreateNull();
}

static cJSON *environment_json(const struct rep_facts *f)
{
	cJSON *o = json_object();

	add_item(o, "gpu", f->in->gpu ? json_gpu_info(f->in->gpu) : cJSON_CreateNull());
	json_add_str(o, "env_cmd", rep_run_str(f, "options", "env_cmd") ? rep_run_str(f, "options", "env_cmd")
								      : "");
	json_add_str(o, "env_cmd_output", f->in->env_cmd_output ? f->in->env_cmd_output : "");
	add_item(o, "system", f->in->sys ? si_json(f->in->sys) : cJSON_CreateNull());
	return o;
}

static cJSON *audit_json(const struct rep_facts *f)
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
		if (rep_audit_blamed(in, i))
			push_str(blamed, in->ds->cases[i].id);
	add_item(o, "culprits", cul);
	add_item(o, "missed", missed);
	add_item(o, "blamed", blamed);
	return o;
}

/* How sure the answer is; null for a verdict that clears nothing
 * (report.h says why for each). */
static cJSON *confidence_json(const struct rep_facts *f)
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
static cJSON *trial_time_json(const struct rep_facts *f)
{
	cJSON *o = json_object(), *arr = cJSON_CreateArray();
	size_t i;

	json_oom(arr);
	json_add_num(o, "trials", (double)f->in->ntrials, true);
	json_add_num(o, "median_s", f->median_s, true);
	json_add_num(o, "longest_s", f->longest_s, true);
	decisive_json(arr, "full_dataset", NULL, f->full_set);
	if (rep_verdict_is(f->in, "minimal_subset"))
		decisive_json(arr, "subset", NULL, f->subset_fail);
	else
		for (i = 0; i < f->ncul; i++)
			decisive_json(arr, "culprit_alone", f->cul[i].c->id, f->cul[i].first_alone_fail);
	if (rep_verdict_blames(f->in))
		decisive_json(arr, "without_culprits", NULL, f->clean_pass);
	add_item(o, "decisive", arr);
	return o;
}

/* Every trial, as the journal holds it, without its case lists (the
 * report names cases where they matter): where it ran and how it ended. */
static cJSON *trial_log_json(const struct rep_facts *f)
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

char *rep_json_text(const struct rep_facts *f)
{
	const struct report_input *in = f->in;
	cJSON *o = json_object(), *syn;
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
	add_item(o, "smallest_failing_subset", smallest_failing_json(f));
	add_item(o, "open_cases", ids_json(in->ds, f->open, f->nopen));
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
	syn = synth_report_json(in->workdir); /* run --synthetic, bundle --synthetic */
	add_item(o, "synthetic", syn ? syn : cJSON_CreateNull());
	add_item(o, "audit", audit_json(f));
	add_item(o, "trial_log", trial_log_json(f));
	text = json_line(o, true);
	cJSON_Delete(o);
	return text;
}

