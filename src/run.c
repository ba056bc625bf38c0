/* run: the main job; the contract is in include/casebisect/run.h.
 *
 * Design note: one engine for run, resume and report. Every trial the
 * engine needs goes through need_trial(): when the journal already holds a
 * finished trial of the same phase and the same cases, its outcome is used
 * and nothing runs; otherwise the trial runs (run, resume) or the engine
 * stops there (report: the run is not finished). Since the reducer's
 * proposals depend only on the outcomes it knows, replaying the journal
 * this way walks the same search, and a resumed run never repeats a trial
 * that finished. Trials that were running when casebisect died are not in
 * the journal: they run again, after sup_end_stale() ended what was left
 * of them.
 *
 * The phases (../shared/DESIGN.md, issue 6): the target (the full dataset,
 * twice when it passes), the control (the empty subset, else one case
 * nothing suspects, else a few random cases alone), the search (the
 * reducer, on every slot), and the report. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "casebisect/audit.h"
#include "casebisect/envcmd.h"
#include "casebisect/gpu.h"
#include "casebisect/journal.h"
#include "casebisect/json.h"
#include "casebisect/pictures.h"
#include "casebisect/reduce.h"
#include "casebisect/report.h"
#include "casebisect/report_html.h"
#include "casebisect/run.h"
#include "casebisect/slurm.h"
#include "casebisect/supervise.h"
#include "casebisect/util.h"
#include "casebisect/view.h"
#include "run_config.h"
#include "run_health.h"
#include "run_internal.h"

#define MIN_TIMEOUT_S 600.0
#define SAMPLE_CASES 3


double run_opt_num(const cJSON *o, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* ---- the journal's trials ---- */

static enum red_outcome outcome_of(const struct jrn_entry *e)
{
	return !strcmp(e->outcome, "PASS") ? RED_PASS :
	       !strcmp(e->outcome, "FAIL") ? RED_FAIL : RED_UNRESOLVED;
}

/* The dataset's IDs, for the journal (struct jrn_names). */
static const char *case_id(const void *ds, size_t i)
{
	return ((const struct dataset *)ds)->cases[i].id;
}

/* The names for the journal, with their order's digest (computed once). */
struct jrn_names *run_names_of(struct run *r)
{
	if (!r->names.id) {
		r->names.id = case_id;
		r->names.ctx = &r->ds;
		r->names.n = r->ds.ncases;
		jrn_names_order(&r->names);
	}
	return &r->names;
}

/* Do journal phases a and b answer each other? The confirmation's trials
 * were phase "search" before they were "confirm": older journals replay. */
static bool same_phase(const char *a, const char *b)
{
	bool sa = !strcmp(a, "search") || !strcmp(a, "confirm");
	bool sb = !strcmp(b, "search") || !strcmp(b, "confirm");

	return !strcmp(a, b) || (sa && sb);
}

/* A finished trial of this phase and these cases not used yet, or -1. */
static long find_known(struct run *r, const char *phase, const size_t *subset, size_t n)
{
	size_t i;

	for (i = 0; i < r->nall; i++)
		if (!r->used[i] && same_phase(r->all[i].phase, phase) &&
		    jrn_entry_same(&r->all[i], subset, n)) {
			r->used[i] = true;
			return (long)i;
		}
	return -1;
}

void run_push_entry(struct run *r, const struct jrn_entry *e, bool used)
{
	if (r->nall == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 64;
		r->all = xrealloc(r->all, r->cap * sizeof(*r->all));
		r->used = xrealloc(r->used, r->cap * sizeof(*r->used));
	}
	r->all[r->nall] = *e;
	r->used[r->nall] = used;
	r->nall++;
}

/* ---- running one trial ---- */



void run_fail(struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->fatal)
		return;
	r->fatal = true;
	va_start(ap, fmt);
	vsnprintf(r->fatal_msg, sizeof(r->fatal_msg), fmt, ap);
	va_end(ap);
	if (r->sup)
		sup_stop(r->sup, false);
}

static void split_words(const char *s, char ***out, size_t *n)
{
	char *copy = xstrdup(s), *save = NULL, *tok;

	*out = NULL;
	*n = 0;
	for (tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		(*out)[(*n)++] = xstrdup(tok);
	}
	free(copy);
}

static void on_trial_done(void *ctx, const struct sup_result *res);

/* "trial 7 (search, 32 cases) started: slot 1, gpu 0" */
static void say_start(struct run *r, const struct flight *f)
{
	char gpu[32] = "no GPU";

	if (f->gpu >= 0)
		snprintf(gpu, sizeof(gpu), "gpu %d", f->gpu);
	if (r->c.launcher == SUP_LAUNCH_SLURM)
		cb_strlcpy(gpu, "Slurm picks node and GPU", sizeof(gpu));
	run_say(r, "trial %llu (%s, %zu case%s%s%s) started: slot %d, %s%s",
		(unsigned long long)f->number, f->phase, f->n, f->n == 1 ? "" : "s",
		f->n == 1 ? ": " : "", f->n == 1 ? r->ds.cases[f->subset[0]].id : "", f->slot, gpu,
		!strcmp(f->phase, "confirm") ? " (the cases without the culprits must train)" : "");
}

/* Starts trial f (its number, phase and subset set): the trial directory,
 * the view, the command with its placeholders, the supervisor. */
static int start_trial(struct run *r, struct flight *f)
{
	struct view v;
	struct sup_placeholders ph = { 0 };
	struct sup_trial_spec spec = { 0 };
	char err[1200], nbuf[32], *trials;
	char **argv;
	int rc;

	f->number = r->next_number++;
	trials = cb_path_join(r->c.workdir, "trials");
	mkdir(trials, 0755);
	snprintf(f->dir, sizeof(f->dir), "%s/%04llu", trials, (unsigned long long)f->number);
	free(trials);
	if (mkdir(f->dir, 0755) && errno != EEXIST) {
		run_fail(r, "cannot create '%s': %s", f->dir, strerror(errno));
		return -1;
	}
	if (view_build(&v, &r->ds, f->subset, f->n, f->dir, err, sizeof(err))) {
		run_fail(r, "%s", err);
		return -1;
	}
	snprintf(nbuf, sizeof(nbuf), "%zu", f->n);
	ph.trial_dir = f->dir;
	ph.cases_file = v.cases_file;
	ph.files_file = v.files_file;
	ph.view = v.path;
	ph.n = nbuf;
	argv = sup_expand_argv(r->c.command, &ph, err, sizeof(err));
	if (!argv) {
		view_release(&v);
		run_fail(r, "%s", err);
		return -1;
	}
	spec.number = f->number;
	spec.argv = (const char *const *)argv;
	spec.trial_dir = f->dir;
	spec.env = (const char *const *)v.env;
	f->busy = true;
	f->r = r;
	rc = sup_start(r->sup, &spec, on_trial_done, f, err, sizeof(err));
	sup_argv_free(argv);
	view_release(&v);
	if (rc) {
		f->busy = false;
		if (sup_interrupted(r->sup))
			r->interrupted = true;
		else
			run_fail(r, "%s", err);
		view_remove(f->dir, NULL, 0);
		return -1;
	}
	f->gpu = sup_trial_gpu(r->sup, f->number);
	f->slot = sup_trial_slot(r->sup, f->number);
	f->started_s = run_now_s();
	{
		cJSON *o = json_object();

		json_add_str(o, "event", "trial_started");
		json_add_num(o, "trial", (double)f->number, true);
		json_add_str(o, "phase", f->phase);
		json_add_num(o, "cases", (double)f->n, true);
		json_add_num(o, "slot", f->slot, f->slot >= 0);
		json_add_num(o, "gpu", f->gpu, f->gpu >= 0);
		run_event(r, o);
		if (!strcmp(f->phase, "confirm")) {
			o = json_object();
			json_add_str(o, "event", "confirm");
			json_add_num(o, "trial", (double)f->number, true);
			json_add_num(o, "cases", (double)f->n, true);
			json_add_num(o, "culprits", (double)r->culprits_seen, true);
			run_event(r, o);
		}
	}
	say_start(r, f);
	run_show_status(r);
	return 0;
}

/* A finished trial: into the journal first, then everyone else. */
static void record(struct run *r, struct flight *f, const struct sup_result *res)
{
	struct jrn_entry e;
	char err[1024], **suspects = NULL;
	size_t nsus = 0;

	memset(&e, 0, sizeof(e));
	e.trial = f->number;
	cb_strlcpy(e.phase, f->phase, sizeof(e.phase));
	jrn_entry_set_cases(&e, f->subset, f->n, run_names_of(r));
	cb_strlcpy(e.outcome, sup_outcome_name(res->outcome), sizeof(e.outcome));
	cb_strlcpy(e.klass, cls_class_name(res->sig.klass), sizeof(e.klass));
	if (res->sig.klass != CLS_NONE)
		cls_fingerprint_hex(&res->sig, r->c.match, e.fingerprint);
	cb_strlcpy(e.reason, sup_reason_name(res->reason), sizeof(e.reason));
	cb_utf8_copy(e.evidence, sizeof(e.evidence), res->sig.evidence, strlen(res->sig.evidence));
	e.slot = res->slot;
	e.gpu = res->gpu;
	cb_strlcpy(e.node, res->node, sizeof(e.node));
	e.duration_s = res->duration_s;
	e.start = run_now_s() - res->duration_s;
	split_words(res->suspects, &suspects, &nsus);
	e.suspects = suspects;
	e.nsuspects = nsus;
	if (jrn_append(r->jrn, &e, err, sizeof(err))) {
		jrn_entry_release(&e);
		run_fail(r, "%s", err);
		return;
	}
	run_push_entry(r, &e, true);
	run_save_wall(r);
}

static void say_trial(struct run *r, const struct jrn_entry *e)
{
	cJSON *o = json_object();

	json_add_str(o, "event", "trial_finished");
	json_add_trial(o, e);
	run_event(r, o);
	run_say(r, "trial %llu (%s, %zu case%s%s%s): %s (%s%s%s) in %.1f s",
	    (unsigned long long)e->trial, e->phase, e->ncases, e->ncases == 1 ? "" : "s",
	    e->ncases == 1 ? ": " : "", e->ncases == 1 ? r->ds.cases[e->ranges[0].first].id : "", e->outcome, e->reason,
	    strcmp(e->klass, "none") ? ", " : "", strcmp(e->klass, "none") ? e->klass : "",
	    e->duration_s);
}

static void search_told(struct run *r);
static void schedule(struct run *r);

/* Tells the reducer a search trial's outcome, with the cases its last
 * CASEBISECT_BATCH line named when it failed: a failing remainder's
 * suspects are tried alone first. From the journal entry, so that a
 * replay tells exactly what the live run told. */
/* Adds to v[*n] the indices of the suspects that e's batch line named (the
 * cases of the dataset, once each), as far as --prior batch asks for them. */
static void batch_suspects(const struct run *r, const struct jrn_entry *e, size_t *v, size_t *n)
{
	size_t i, j, k;

	for (i = 0; e && (r->c.prior & RUN_PRIOR_BATCH) && i < e->nsuspects; i++)
		for (j = 0; j < r->ds.ncases; j++)
			if (!strcmp(e->suspects[i], r->ds.cases[j].id)) {
				for (k = 0; k < *n && v[k] != j; k++)
					;
				if (k == *n)
					v[(*n)++] = j;
				break;
			}
}

static void tell(struct run *r, uint64_t red_id, const struct jrn_entry *e)
{
	size_t *sus = xmalloc((e->nsuspects + 1) * sizeof(*sus)), n = 0;

	batch_suspects(r, e, sus, &n);
	red_tell_suspects(r->red, red_id, outcome_of(e), sus, n);
	free(sus);
}

static void on_trial_done(void *ctx, const struct sup_result *res)
{
	struct flight *f = ctx;
	struct run *r = f->r;
	char err[1024];

	f->busy = false;
	if (!r->c.keep_views && view_remove(f->dir, err, sizeof(err)))
		run_say(r, "warning: %s", err);
	if (res->reason == SUP_R_NOT_FOUND || res->reason == SUP_R_NOT_EXECUTABLE ||
	    res->reason == SUP_R_SPAWN_ERROR) {
		run_fail(r, "%s (trial %llu; its logs are in %s)", res->error,
			 (unsigned long long)f->number, f->dir);
		return;
	}
	if (res->reason == SUP_R_SLURM_CONFIG) {
		run_fail(r, "Slurm refused trial %llu: %s (its logs are in %s)",
			 (unsigned long long)f->number, res->error, f->dir);
		return;
	}
	if (res->reason == SUP_R_WRITE_ERROR) {
		/* Not journaled either: its logs or result.json are missing. */
		run_fail(r, "%s (trial %llu is not recorded: it runs again on resume)", res->error,
			 (unsigned long long)f->number);
		return;
	}
	if (res->reason == SUP_R_INTERRUPTED) {
		/* Not journaled: it runs again on resume. */
		r->interrupted = true;
		return;
	}
	record(r, f, res);
	if (r->fatal)
		return;
	say_trial(r, &r->all[r->nall - 1]);
	health_check_device(&r->health, r->have_gpu ? &r->gpu : NULL, f->red_id != 0, res);
	health_check_node(&r->health, res);
	if (r->fatal)
		return;
	if (f->red_id) {
		tell(r, f->red_id, &r->all[r->nall - 1]);
		free(f->subset);
		f->subset = NULL;
		search_told(r);
		schedule(r);
	} else {
		r->sync_done = 1;
		r->sync_index = r->nall - 1;
	}
	run_show_status(r);
}

/* Are --max-trials or --deadline used up? */
static bool out_of_budget(const struct run *r)
{
	return (r->c.deadline > 0 && run_now_s() >= r->c.deadline) ||
	       (r->c.max_trials && r->nall >= r->c.max_trials);
}

/* Runs (or finds in the journal) one trial before the search, and waits
 * for it. Returns the index of its entry in r->all, or -1: interrupted,
 * fatal, or missing: (dry) not in the journal, or out of --max-trials or
 * --deadline (r->out_of_budget). */
static long need_trial(struct run *r, const char *phase, const size_t *subset, size_t n)
{
	struct flight f;
	long k = find_known(r, phase, subset, n);

	if (k >= 0)
		return k;
	if (r->dry || out_of_budget(r)) {
		r->out_of_budget = !r->dry;
		r->missing = true;
		return -1;
	}
	memset(&f, 0, sizeof(f));
	cb_strlcpy(f.phase, phase, sizeof(f.phase));
	f.subset = (size_t *)subset;
	f.n = n;
	r->sync_done = 0;
	r->sync = &f;
	if (start_trial(r, &f)) {
		r->sync = NULL;
		return -1;
	}
	if (sup_run(r->sup))
		r->interrupted = true;
	r->sync = NULL;
	if (r->fatal || r->interrupted || !r->sync_done)
		return -1;
	return (long)r->sync_index;
}

/* ---- supervisors ---- */

static int make_sup(struct run *r, const struct cls_signature *target, double timeout_s)
{
	struct sup_options o;
	char err[1024];

	memset(&o, 0, sizeof(o));
	o.limits = run_limits(&r->c);
	o.limits.timeout_s = timeout_s;
	o.no_blocking = r->c.no_blocking;
	o.env = r->c.env;
	o.cwd = r->c.cwd;
	o.pass_pattern = r->c.pass_pattern;
	o.batch_pattern = r->c.batch_pattern;
	o.target = target;
	o.match = r->c.match;
	o.gpus = r->ngpus ? r->gpus : NULL;
	o.ngpus = r->ngpus;
	o.per_gpu = r->c.per_gpu ? r->c.per_gpu : 1;
	o.jobs = r->c.jobs;
	o.launcher = r->c.launcher;
	o.slurm_args = r->c.slurm_args;
	o.slurm_prefix = r->slurm_prefix;
	o.slurm_exclude = r->health.excluded;
	run_progress_hooks(r, &o.hooks);
	if (r->sup)
		sup_free(r->sup);
	r->sup = r->health.sup = sup_new(&o, err, sizeof(err));
	if (!r->sup) {
		run_fail(r, "%s", err);
		return -1;
	}
	r->slots = sup_free_slots(r->sup);
	return 0;
}

/* The signature of a finished trial, from its result.json. */
static int trial_signature(const struct run *r, uint64_t number, struct cls_signature *sig)
{
	char path[PATH_MAX + 64], *text;
	cJSON *o;
	int rc;

	snprintf(path, sizeof(path), "%s/trials/%04llu/result.json", r->c.workdir,
		 (unsigned long long)number);
	if (!(text = cb_read_file(path, NULL)))
		return -1;
	o = cJSON_Parse(text);
	free(text);
	rc = o ? json_read_signature(o, sig) : -1;
	cJSON_Delete(o);
	return rc;
}

/* ---- the phases ---- */

static void set_verdict(struct verdict *v, const char *name, int code, const char *fmt, ...)
	CB_PRINTF(4, 5);

static void set_verdict(struct verdict *v, const char *name, int code, const char *fmt, ...)
{
	va_list ap;

	v->name = name;
	v->exit_code = code;
	va_start(ap, fmt);
	vsnprintf(v->explanation, sizeof(v->explanation), fmt, ap);
	va_end(ap);
}

/* Same bug as the --target-log? device_assert and illegal_access are one
 * family here: torch.compile, which trials turn off, turns one into the
 * other. */
static bool same_family(const struct cls_signature *a, const struct cls_signature *b,
			enum cls_match m)
{
	bool fa = a->klass == CLS_DEVICE_ASSERT || a->klass == CLS_ILLEGAL_ACCESS;
	bool fb = b->klass == CLS_DEVICE_ASSERT || b->klass == CLS_ILLEGAL_ACCESS;

	if (fa && fb)
		return true;
	return cls_fingerprint(a, m) == cls_fingerprint(b, m);
}

/* How often the search runs a subset that ends UNRESOLVED (reduce.h). */
static unsigned tries_of(unsigned retries)
{
	return retries == RED_NO_RETRIES ? 1 : (retries ? retries : 1) + 1;
}

/* How many trials the command skipped (exit 125: SUP_R_SKIP). */
static size_t skipped_trials(const struct run *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->nall; i++)
		n += !strcmp(r->all[i].reason, "skip");
	return n;
}

/* Phase 1: the target. 0 go on; 1 a verdict is set; -1 stopped. */
static int find_target(struct run *r, struct verdict *v, size_t *all)
{
	struct cls_signature logsig;
	long k;
	int attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		k = need_trial(r, "target", all, r->ds.ncases);
		if (k < 0)
			return -1;
		if (outcome_of(&r->all[k]) == RED_FAIL)
			break;
		if (outcome_of(&r->all[k]) == RED_UNRESOLVED && !strcmp(r->all[k].reason, "skip")) {
			set_verdict(v, "undetermined", RUN_EXIT_UNDETERMINED,
				    "The command exited 125 on the full dataset (trial %llu): as "
				    "in 'git bisect run', 125 says \"skip: this subset cannot be "
				    "tested\", and the full dataset is the one subset every search "
				    "starts from. Exit 125 only for subsets the trainer cannot "
				    "take (too few cases, say); its logs are in trials/%04llu/.",
				    (unsigned long long)r->all[k].trial,
				    (unsigned long long)r->all[k].trial);
			return 1;
		}
		if (outcome_of(&r->all[k]) == RED_UNRESOLVED) {
			set_verdict(v, "undetermined", RUN_EXIT_UNDETERMINED,
				    "The run on the full dataset did not end by itself (%s). Give "
				    "--timeout or --pass-after so a trial can end, and check the "
				    "command runs: its logs are in trials/%04llu/.", r->all[k].reason,
				    (unsigned long long)r->all[k].trial);
			return 1;
		}
		if (attempt == 0)
			run_say(r, "the full dataset passed; trying it once more");
	}
	if (attempt == 2) {
		set_verdict(v, "not_reproduced", RUN_EXIT_NOT_REPRODUCED,
			    "The full dataset trained twice without a failure, so there is "
			    "nothing to search. A short trial may not reach the crash: give a "
			    "longer --pass-after (or none, so a trial runs to its end), run more "
			    "passes over the data ('casebisect nnunet --passes N'), or check the label files for values the dataset does not "
			    "declare.");
		return 1;
	}
	if (trial_signature(r, r->all[k].trial, &r->target)) {
		run_fail(r, "cannot read the signature of trial %llu (trials/%04llu/result.json)",
			 (unsigned long long)r->all[k].trial, (unsigned long long)r->all[k].trial);
		return -1;
	}
	r->have_target = true;
	snprintf(r->target_source, sizeof(r->target_source), "trial %llu (the full dataset)",
		 (unsigned long long)r->all[k].trial);
	if (r->c.target_log) {
		if (cls_read_file(r->c.target_log, &logsig)) {
			run_fail(r, "cannot read --target-log '%s': %s", r->c.target_log,
				 strerror(errno));
			return -1;
		}
		if (!same_family(&logsig, &r->target, r->c.match)) {
			set_verdict(v, "not_reproduced", RUN_EXIT_NOT_REPRODUCED,
				    "The full dataset crashed, but not with the failure of %s (%s): "
				    "it showed %s instead (trial %llu). The bug in the log may need "
				    "another environment, or this is a second bug.",
				    r->c.target_log, cls_class_name(logsig.klass),
				    cls_class_name(r->target.klass), (unsigned long long)r->all[k].trial);
			return 1;
		}
		snprintf(r->target_source, sizeof(r->target_source),
			 "%.2000s, reproduced by trial %llu", r->c.target_log,
			 (unsigned long long)r->all[k].trial);
	}
	{
		cJSON *o = json_object();

		json_add_str(o, "event", "target");
		json_add_num(o, "trial", (double)r->all[k].trial, true);
		json_add_str(o, "class", cls_class_name(r->target.klass));
		json_add_str(o, "kernel", r->target.kernel);
		json_add_str(o, "source", r->target_source);
		run_event(r, o);
	}
	run_say(r, "target: %s%s%s (%s)", cls_class_name(r->target.klass),
	    r->target.kernel[0] ? " in " : "", r->target.kernel, r->target_source);
	if (r->target.klass == CLS_ENV_MISMATCH) {
		set_verdict(v, "not_data_dependent", RUN_EXIT_NOT_DATA,
			    "The failure is an environment mismatch: the driver, the CUDA "
			    "toolkit or the PyTorch build does not fit this GPU. No subset of the "
			    "data will change that; see the environment below and the decisive "
			    "line.");
		return 1;
	}
	return 0;
}

static bool is_suspect(const struct jrn_entry *target, const char *id)
{
	size_t i;

	for (i = 0; target && i < target->nsuspects; i++)
		if (!strcmp(target->suspects[i], id))
			return true;
	return false;
}

static long long case_bytes(const struct ds_case *c)
{
	long long sum = 0;
	struct stat st;
	size_t i;

	for (i = 0; i < c->nfiles; i++)
		if (!stat(c->files[i], &st))
			sum += st.st_size;
	return sum;
}

static const struct jrn_entry *target_entry(const struct run *r)
{
	size_t i;

	for (i = 0; i < r->nall; i++)
		if (!strcmp(r->all[i].phase, "target") && !strcmp(r->all[i].outcome, "FAIL"))
			return &r->all[i];
	return NULL;
}

/* Does the audit find values that crash training in most cases? */
static bool audit_says_most(const struct run *r)
{
	return r->have_audit && 2 * r->audit.cases_with[AUD_CRASH] > r->ds.ncases;
}

static void say_dataset_wide(struct run *r, struct verdict *v, size_t tried)
{
	set_verdict(v, "dataset_wide", RUN_EXIT_OK,
		    "The problem is the whole dataset, not a few cases: every case tried (%zu, "
		    "picked at random) crashes training alone, and the label audit finds values "
		    "that crash training in %zu of %zu cases. Typical causes: labels shifted to "
		    "1..N instead of 0..N-1, masks saved as 0/255, or a dataset.json whose "
		    "\"labels\" do not match the files. Fix the labels (or dataset.json) as a "
		    "whole; searching case by case would only list them all.",
		    tried, r->audit.cases_with[AUD_CRASH], r->ds.ncases);
}

/* Before the search: when the audit blames most cases, a few of them,
 * picked at random, run alone; when all crash, the verdict is dataset_wide
 * without testing every case alone. 0 go on; 1 verdict; -1 stopped. */
static int check_dataset_wide(struct run *r, struct verdict *v)
{
	size_t *flagged, nflagged = 0, i, tried = 0;
	unsigned seed = r->c.seed;

	if (!audit_says_most(r))
		return 0;
	flagged = xmalloc(r->ds.ncases * sizeof(*flagged));
	for (i = 0; i < r->ds.ncases; i++)
		if (aud_case_crashes(&r->audit, i))
			flagged[nflagged++] = i;
	v->culprits = xmalloc(SAMPLE_CASES * sizeof(*v->culprits));
	while (tried < SAMPLE_CASES && nflagged) {
		size_t k = (size_t)rand_r(&seed) % nflagged, one = flagged[k];
		long idx;

		flagged[k] = flagged[--nflagged]; /* no case twice */
		idx = need_trial(r, "sample", &one, 1);
		if (idx < 0) {
			free(flagged);
			return -1;
		}
		if (outcome_of(&r->all[idx]) != RED_FAIL) {
			free(flagged);
			free(v->culprits);
			v->culprits = NULL;
			return 0;
		}
		v->culprits[tried++] = one;
	}
	free(flagged);
	v->nculprits = tried;
	say_dataset_wide(r, v, tried);
	return 1;
}

/* Phase 2: does the failure need the data? 0 go on; 1 verdict; -1 stopped. */
static int check_control(struct run *r, struct verdict *v)
{
	const struct jrn_entry *t = target_entry(r);
	size_t one, i, tried = 0, crashed = 0;
	long long best = -1;
	long k;
	unsigned seed = r->c.seed;

	if (r->c.min_cases > 1)
		return 0; /* a control that small would not run */
	/* The empty subset only for a trainer that may take no case: with
	 * --min-cases 1 (nnU-Net) it would only end in the trainer's error,
	 * a trial for nothing. */
	if (r->c.min_cases == 0) {
		k = need_trial(r, "control", NULL, 0);
		if (k < 0)
			return -1;
		if (outcome_of(&r->all[k]) == RED_PASS)
			return 0;
		if (outcome_of(&r->all[k]) == RED_FAIL) {
			set_verdict(v, "not_data_dependent", RUN_EXIT_NOT_DATA,
				    "The failure happens with no case at all (trial %llu ran the "
				    "empty subset and crashed the same way), so the data is not the "
				    "cause. That usually means the environment: a CUDA / PyTorch / "
				    "driver mismatch, a broken GPU, or memory. See the environment "
				    "below.",
				    (unsigned long long)r->all[k].trial);
			return 1;
		}
	}
	/* The trainer does not take an empty subset: one case nothing suspects,
	 * the smallest, then a few at random while they all crash. */
	one = r->ds.ncases;
	for (i = 0; i < r->ds.ncases; i++) {
		long long b;

		if (is_suspect(t, r->ds.cases[i].id) ||
		    (r->have_audit && !aud_case_clean(&r->audit, i)))
			continue;
		b = case_bytes(&r->ds.cases[i]);
		if (best < 0 || b < best) {
			best = b;
			one = i;
		}
	}
	if (one == r->ds.ncases)
		one = 0;
	while (tried < SAMPLE_CASES && tried < r->ds.ncases) {
		k = need_trial(r, tried ? "sample" : "control", &one, 1);
		if (k < 0)
			return -1;
		tried++;
		if (outcome_of(&r->all[k]) != RED_FAIL)
			return 0;
		crashed++;
		one = (size_t)(rand_r(&seed) % (int)r->ds.ncases);
	}
	if (audit_says_most(r)) {
		say_dataset_wide(r, v, crashed);
		return 1;
	}
	set_verdict(v, "not_data_dependent", RUN_EXIT_NOT_DATA,
		    "Every case tried crashes training alone (%zu of %zu, picked at random), and "
		    "the trainer does not run without data, so nothing points to particular "
		    "cases. That usually means the environment: a CUDA / PyTorch / driver "
		    "mismatch, a broken GPU, or memory. See the environment below.",
		    crashed, tried);
	return 1;
}

/* After each outcome the search took in: culprits as they appear. */
static void search_told(struct run *r)
{
	struct red_answer a;
	size_t i;

	red_answer(r->red, &a);
	if (!r->announced)
		r->announced = xcalloc(r->ds.ncases + 1, sizeof(*r->announced));
	for (i = 0; i < a.nculprits; i++) {
		const char *id = r->ds.cases[a.culprits[i]].id;
		cJSON *o;

		if (r->announced[a.culprits[i]])
			continue;
		r->announced[a.culprits[i]] = true;
		o = json_object();
		json_add_str(o, "event", "culprit");
		json_add_str(o, "case", id);
		run_event(r, o);
		run_say(r, "culprit: %s", id);
	}
	if (a.nculprits > r->culprits_seen)
		r->culprits_seen = a.nculprits;
}

static struct flight *free_flight(struct run *r)
{
	size_t i;

	for (i = 0; i < r->nflights; i++)
		if (!r->flights[i]->busy && !r->flights[i]->subset)
			return r->flights[i];
	r->flights = xrealloc(r->flights, ++r->nflights * sizeof(*r->flights));
	r->flights[r->nflights - 1] = xcalloc(1, sizeof(**r->flights));
	return r->flights[r->nflights - 1];
}

static size_t running(const struct run *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->nflights; i++)
		n += r->flights[i]->busy;
	return n;
}

/* Asks the reducer for work while slots are free: answers from the journal
 * at once, starts the rest. */
static void schedule(struct run *r)
{
	struct red_trial *t = xcalloc(r->slots ? r->slots : 1, sizeof(*t));

	for (;;) {
		size_t space, n, i;
		bool told = false;

		if (r->fatal || r->interrupted || r->missing || red_done(r->red))
			break;
		if (r->sup && sup_interrupted(r->sup)) {
			r->interrupted = true;
			break;
		}
		if (out_of_budget(r)) {
			red_stop(r->red);
			break;
		}
		space = r->sup ? sup_free_slots(r->sup) :
			r->slots > running(r) ? r->slots - running(r) : 0;
		if (!space || !(n = red_ask(r->red, t, space)))
			break;
		for (i = 0; i < n; i++) {
			struct flight *f;
			long k = find_known(r, "search", t[i].cases, t[i].n);

			if (k < 0 && t[i].n == 1) {
				k = find_known(r, "control", t[i].cases, 1);
				if (k < 0)
					k = find_known(r, "sample", t[i].cases, 1);
			}
			if (k >= 0) {
				tell(r, t[i].id, &r->all[k]);
				search_told(r);
				told = true;
				continue;
			}
			if (r->dry) {
				r->missing = true;
				break;
			}
			f = free_flight(r);
			memset(f, 0, sizeof(*f));
			f->red_id = t[i].id;
			cb_strlcpy(f->phase, t[i].confirm ? "confirm" : "search", sizeof(f->phase));
			f->subset = xmalloc((t[i].n ? t[i].n : 1) * sizeof(*f->subset));
			memcpy(f->subset, t[i].cases, t[i].n * sizeof(*f->subset));
			f->n = t[i].n;
			if (start_trial(r, f)) {
				free(f->subset);
				f->subset = NULL;
				break;
			}
		}
		if (!told)
			break;
	}
	free(t);
}

/* The slots the search splits for: WORKDIR/search.json keeps the number
 * the search began with, since the split arity shapes every proposal and a
 * resumed search (or a report) must propose the same subsets to find its
 * trials in the journal, whatever GPUs this machine has now. 0 when it
 * cannot be written (the run failed: run_fail()). */
static size_t search_slots(struct run *r)
{
	char *path = cb_path_join(r->c.workdir, "search.json"), *text = cb_read_file(path, NULL);
	cJSON *o = text ? cJSON_Parse(text) : NULL;
	size_t n = (size_t)run_opt_num(o, "slots", 0);

	if (!n) {
		char *line, err[1200];

		n = r->slots ? r->slots : 1;
		line = cb_fmt("{\"slots\": %zu}\n", n);
		if (!r->dry &&
		    cb_write_atomic(path, line, strlen(line), CB_WRITE_DURABLE, err, sizeof(err))) {
			run_fail(r, "%s", err);
			n = 0;
		}
		free(line);
	}
	cJSON_Delete(o);
	free(text);
	free(path);
	return n;
}

/* What the search will take, as the reducer guesses it, for a log read
 * the next morning (the status line's ETA shows on a terminal only). */
static void say_estimate(struct run *r)
{
	double trials, rounds, eta_s;
	char eta[32];
	cJSON *o;

	red_estimate(r->red, &trials, &rounds);
	if (trials < 1 || !r->nall)
		return;
	eta_s = rounds * run_median_duration(r);
	run_fmt_duration(eta_s, eta, sizeof(eta));
	o = json_object();
	json_add_str(o, "event", "estimate");
	json_add_num(o, "trials_done", (double)r->nall, true);
	json_add_num(o, "trials_left", round(trials), true);
	json_add_num(o, "eta_s", round(eta_s), true);
	run_event(r, o);
	run_say(r, "search: about %.0f trial%s to go (the confirmation included; %zu done), ~%s at "
	       "the median trial so far (a guess: the number of culprits is not known yet)",
	    trials, trials < 1.5 ? "" : "s", r->nall, eta);
}

/* Phase 3: the search. 0 done (v set), -1 stopped. */
static int search(struct run *r, struct verdict *v)
{
	struct red_options o;
	struct red_answer a;
	const struct jrn_entry *t = target_entry(r);
	size_t *prior = NULL, nprior = 0, j, skipped;

	memset(&o, 0, sizeof(o));
	o.strategy = r->c.strategy;
	o.n = r->ds.ncases;
	o.slots = search_slots(r);
	if (!o.slots)
		return -1;
	o.repeat = r->c.repeat;
	o.confirm = r->c.confirm;
	o.flaky = r->c.flaky;
	o.retries = r->c.retries;
	o.min_cases = r->c.min_cases;
	prior = xcalloc(r->ds.ncases + 1, sizeof(*prior));
	for (j = 0; r->have_audit && j < r->ds.ncases; j++)
		if (aud_case_crashes(&r->audit, j))
			prior[nprior++] = j;
	batch_suspects(r, t, prior, &nprior);
	o.prior = prior;
	o.nprior = nprior;
	r->pre_trials = r->nall;
	r->red = red_new(&o);
	if (nprior)
		run_say(r, "suspects (%s%s%s): %zu case%s, tried first alone",
		    r->have_audit ? "the label audit" : "",
		    r->have_audit && (r->c.prior & RUN_PRIOR_BATCH) ? ", " : "",
		    r->c.prior & RUN_PRIOR_BATCH ? "the crash's last batch" : "", nprior,
		    nprior == 1 ? "" : "s");
	say_estimate(r);
	for (;;) {
		schedule(r);
		if (r->fatal || r->interrupted || r->missing)
			break;
		if (!running(r))
			break;
		if (sup_run(r->sup))
			r->interrupted = true;
	}
	free(prior);
	if (r->fatal || r->interrupted)
		return -1;
	if (!red_done(r->red))
		red_stop(r->red);
	red_answer(r->red, &a);
	v->culprits = xmalloc((a.nculprits + 1) * sizeof(size_t));
	if (a.nculprits)
		memcpy(v->culprits, a.culprits, a.nculprits * sizeof(size_t));
	v->nculprits = a.nculprits;
	v->undecided = xmalloc((a.nundecided + 1) * sizeof(size_t));
	if (a.nundecided)
		memcpy(v->undecided, a.undecided, a.nundecided * sizeof(size_t));
	v->nundecided = a.nundecided;
	v->rounds = a.rounds;
	v->flakes = a.flakes;
	skipped = skipped_trials(r);
	if (r->missing)
		set_verdict(v, "undetermined", RUN_EXIT_UNDETERMINED,
			    "The run is not finished: continue it with 'casebisect resume %s'. "
			    "What is known so far is below.", r->c.workdir);
	else if (a.verdict == RED_CULPRITS_FOUND)
		set_verdict(v, "culprits_found", RUN_EXIT_OK,
			    "Each case below crashes training on its own, and the dataset without "
			    "them trains. Look at their label files first: a value the dataset "
			    "does not declare (255 in a mask, labels 1..5 instead of 0..4) is the "
			    "usual cause. Fix or remove them and train again.");
	else if (a.verdict == RED_MINIMAL_SUBSET)
		set_verdict(v, "minimal_subset", RUN_EXIT_OK,
			    "No case below crashes training alone, but together they do, and "
			    "leaving out any one of them stops the crash. Look for what they "
			    "share (sizes, spacing, a batch that only forms with all of them).");
	else if (a.nundecided && skipped)
		set_verdict(v, "undetermined", RUN_EXIT_UNDETERMINED,
			    "The search ended before it could decide: the command exited 125 "
			    "(skip) in %zu trial%s, and no other trial could decide the cases "
			    "below. A subset is tried %u time%s at most (--retries) and not "
			    "again when the search comes back to it. Let the trainer take "
			    "them, or leave them out of the dataset, and run again.",
			    skipped, skipped == 1 ? "" : "s",
			    tries_of(r->c.retries), tries_of(r->c.retries) == 1 ? "" : "s");
	else
		set_verdict(v, "undetermined", RUN_EXIT_UNDETERMINED,
			    "The search ended before it could decide%s%s. What is known so far is "
			    "below; 'casebisect resume %s' with a larger --max-trials or a later "
			    "--deadline goes on from here.",
			    a.nundecided ? ": trials ended UNRESOLVED too often for some cases" : "",
			    r->c.max_trials || r->c.deadline > 0 ? " (out of trials or time)" : "",
			    r->c.workdir);
	return 0;
}

static void health_say(void *ctx, const char *text)
{
	run_say(ctx, "%s", text);
}

static void health_back(void *ctx)
{
	schedule(ctx);
}

static void health_lost(void *ctx, const char *why)
{
	run_fail(ctx, "%s", why);
}

static void health_changed(void *ctx)
{
	run_show_status(ctx);
}

/* The engine, once r->c is set and the work directory exists. */
int run_engine(struct run *r)
{
	struct verdict v;
	size_t *all, i;
	int rc, ret;
	double timeout;

	memset(&v, 0, sizeof(v));
	r->health.launcher = r->c.launcher;
	r->health.ctx = r;
	r->health.say = health_say;
	r->health.back = health_back;
	r->health.lost = health_lost;
	r->health.changed = health_changed;
	if (!r->dry && run_lock_workdir(r))
		return RUN_EXIT_ERROR;
	if (r->c.launcher == SUP_LAUNCH_SLURM) {
		r->slurm_prefix = slurm_job_prefix(r->c.workdir);
		if (!r->dry && slurm_path_looks_local(r->c.workdir))
			run_say(r, "warning: %s looks local to this machine: Slurm's nodes must see it "
			    "(trials' views live there); put --workdir on a shared filesystem",
			    r->c.workdir);
	}
	if (run_load_journal(r))
		return RUN_EXIT_ERROR;
	run_load_wall(r);
	if (!r->dry)
		run_recover_trials(r);
	if (run_pick_gpus(r)) {
		if (!r->fatal)
			return RUN_EXIT_ERROR;
		goto stopped;
	}
	run_env_cmd(r);
	if (r->fatal)
		goto stopped;
	if (!r->dry && make_sup(r, NULL, r->c.timeout_s))
		goto stopped;
	if (r->dry)
		r->slots = 1; /* proposals one at a time; search_slots() sets the arity */
	if ((r->c.prior & RUN_PRIOR_AUDIT) && run_audit(r))
		goto stopped;

	all = xmalloc((r->ds.ncases + 1) * sizeof(*all));
	for (i = 0; i < r->ds.ncases; i++)
		all[i] = i;
	rc = find_target(r, &v, all);
	free(all);
	if (rc < 0)
		goto stopped;
	if (rc == 0) {
		timeout = r->c.timeout_s;
		if (timeout <= 0) {
			const struct jrn_entry *t = target_entry(r);

			timeout = 3 * (t ? t->duration_s : 0);
			if (timeout < MIN_TIMEOUT_S)
				timeout = MIN_TIMEOUT_S;
		}
		if (!r->dry && make_sup(r, &r->target, timeout))
			goto stopped;
		rc = check_control(r, &v);
		if (rc < 0)
			goto stopped;
		if (rc == 0)
			rc = check_dataset_wide(r, &v);
		if (rc < 0)
			goto stopped;
		if (rc == 0 && search(r, &v) < 0)
			goto stopped;
	}
	if (r->health.retired[0])
		cb_strlcpy(v.explanation + strlen(v.explanation), r->health.retired,
			   sizeof(v.explanation) - strlen(v.explanation));
	if (run_save_wall(r))
		goto stopped;
	ret = run_conclude(r, &v);
	goto out;
stopped:
	if (r->missing) {
		set_verdict(&v, "undetermined", RUN_EXIT_UNDETERMINED,
			    "The run is not finished%s: continue it with 'casebisect resume %s'%s.",
			    r->out_of_budget ? " (out of --max-trials or --deadline before the "
			    "search began)" : "", r->c.workdir,
			    r->out_of_budget ? " and a larger --max-trials or a later --deadline" : "");
		ret = run_conclude(r, &v);
	} else if (r->fatal) {
		run_notify(r, RUN_MSG_ERROR, "%s", r->fatal_msg);
		run_notify(r, RUN_MSG_HINT, "%s, then 'casebisect resume %s' goes on from here",
		       run_fix_advice(r->fatal_msg), r->c.workdir);
		ret = RUN_EXIT_ERROR;
	} else {
		run_notify(r, RUN_MSG_NOTE, "interrupted; finished trials are in the journal.");
		run_notify(r, RUN_MSG_HINT, "continue with 'casebisect resume %s'", r->c.workdir);
		ret = RUN_EXIT_INTERRUPTED;
	}
out:
	free(v.culprits);
	free(v.undecided);
	return ret;
}

