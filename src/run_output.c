/* run_output: what the engine tells (contract in run_internal.h): progress
 * through the command layer's callbacks (run.h), the status line, the wall
 * time, what the supervisor tells while trials run (Slurm's job start, the
 * heartbeat, signals), the report and the verdict at the end. */
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

/* The heartbeat's default period (CASEBISECT_HEARTBEAT_S), in seconds. */
#define RUN_HEARTBEAT_S 300.0


double run_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- progress: through the command layer's callbacks (run.h) ---- */



/* A line for people. */
void run_say(struct run *r, const char *fmt, ...)
{
	va_list ap;
	char *text;

	if (r->dry || !r->p->line)
		return;
	va_start(ap, fmt);
	text = cb_vfmt(fmt, ap);
	va_end(ap);
	r->p->line(r->p->ctx, text);
	free(text);
}

/* One JSON object for machines (--json-events); takes obj. */
void run_event(struct run *r, cJSON *obj)
{
	if (!r->dry && r->p->event) {
		json_add_num(obj, "time", run_now_s(), true);
		r->p->event(r->p->ctx, obj);
	}
	cJSON_Delete(obj);
}



/* An error, hint, warning or note for stderr. */
void run_notify(struct run *r, enum run_msg kind, const char *fmt, ...)
{
	va_list ap;
	char *text;

	if (!r->p->message)
		return;
	va_start(ap, fmt);
	text = cb_vfmt(fmt, ap);
	va_end(ap);
	r->p->message(r->p->ctx, kind, text);
	free(text);
}

void run_fmt_duration(double s, char *buf, size_t size)
{
	if (s < 60)
		snprintf(buf, size, "%.0fs", s);
	else if (s < 3600)
		snprintf(buf, size, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
	else
		snprintf(buf, size, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double run_median_duration(const struct run *r)
{
	double *d, m;
	size_t i, n = 0;

	if (!r->nall)
		return 0;
	d = xmalloc(r->nall * sizeof(*d));
	for (i = 0; i < r->nall; i++)
		d[n++] = r->all[i].duration_s;
	qsort(d, n, sizeof(*d), cmp_double);
	m = d[n / 2];
	free(d);
	return m;
}

void run_eta(const struct run *r, double *trials, char *eta, size_t size)
{
	double rounds = 0;

	*trials = 0;
	cb_strlcpy(eta, "?", size);
	if (!r->red)
		return;
	red_estimate(r->red, trials, &rounds);
	/* the median of every trial, the journal's of earlier sessions too */
	if (r->nall)
		run_fmt_duration(rounds * run_median_duration(r), eta, size);
}

/* The status line: trials (done, of about how many), running per GPU,
 * culprits, elapsed, ETA. */
void run_show_status(struct run *r)
{
	char line[512], el[32], eta[32], per[256] = "", total[48] = "";
	size_t running = 0, i, g, len = 0;
	double trials_left;

	if (r->dry || !r->p->status)
		return;
	for (i = 0; i < r->nflights; i++)
		running += r->flights[i]->busy;
	running += r->sync && r->sync->busy;
	for (g = 0; g < r->ngpus && len + 32 < sizeof(per); g++) {
		size_t k = r->sync && r->sync->busy && r->sync->gpu == r->gpus[g];

		for (i = 0; i < r->nflights; i++)
			k += r->flights[i]->busy && r->flights[i]->gpu == r->gpus[g];
		len += (size_t)snprintf(per + len, sizeof(per) - len, "%sgpu%d:%zu", g ? " " : " (",
					r->gpus[g], k);
	}
	if (len)
		cb_strlcpy(per + len, ")", sizeof(per) - len);
	run_eta(r, &trials_left, eta, sizeof(eta));
	if (trials_left >= 0.5)
		snprintf(total, sizeof(total), "/~%.0f", (double)r->nall + trials_left);
	run_fmt_duration(run_now_s() - r->t0, el, sizeof(el));
	snprintf(line, sizeof(line), "trials %zu%s | running %zu%s | culprits %zu | %s | ETA ~%s",
		 r->nall, total, running, per, r->culprits_seen, el, eta);
	r->p->status(r->p->ctx, line);
}

/* ---- the report ---- */

/* The run's wall time, over all its sessions: WORKDIR/wall.json holds what
 * earlier sessions spent (updated after every trial, so a kill -9 loses at
 * most one trial's worth), so the time between a crash and its resume
 * does not count. The report renders it without adding its own. */
static double wall_time(const struct run *r)
{
	return r->wall_before + (r->dry ? 0 : run_now_s() - r->t0);
}

void run_load_wall(struct run *r)
{
	char *path = cb_path_join(r->c.workdir, "wall.json"), *text = cb_read_file(path, NULL);
	cJSON *o = text ? cJSON_Parse(text) : NULL;

	r->wall_before = run_opt_num(o, "seconds", 0);
	cJSON_Delete(o);
	free(text);
	free(path);
}

/* WORKDIR/wall.json. 0, or -1 with the run failed (run_fail()). */
int run_save_wall(struct run *r)
{
	char *path, *line, err[1200];
	int rc;

	if (r->dry)
		return 0;
	path = cb_path_join(r->c.workdir, "wall.json");
	line = cb_fmt("{\"seconds\": %.3f}\n", wall_time(r));
	rc = cb_write_atomic(path, line, strlen(line), 0, err, sizeof(err));
	if (rc)
		run_fail(r, "%s", err);
	free(line);
	free(path);
	return rc;
}

/* What the report says of verdict v (run_json left "{}"). */
static void report_input_of(struct run *r, const struct verdict *v, struct report_input *in)
{
	memset(in, 0, sizeof(*in));
	in->workdir = r->c.workdir;
	in->ds = &r->ds;
	in->verdict = v->name;
	in->exit_code = v->exit_code;
	in->explanation = v->explanation;
	in->target = r->have_target ? &r->target : NULL;
	in->match = r->c.match;
	in->target_source = r->target_source;
	in->culprits = v->culprits;
	in->nculprits = v->nculprits;
	in->undecided = v->undecided;
	in->nundecided = v->nundecided;
	in->trials = r->all;
	in->ntrials = r->nall;
	in->rounds = v->rounds;
	in->flakes = v->flakes;
	in->wall_s = wall_time(r);
	in->run_json = "{}";
	in->gpu = r->have_gpu ? &r->gpu : NULL;
	in->sys = r->have_sys ? &r->sys : NULL;
	in->env_cmd_output = r->env_cmd_output;
	in->audit = r->have_audit ? &r->audit : NULL;
}

/* Writes report.json, report.md and, when there are culprits, the bundle
 * (r->report_written, r->bundle_written say which exist). 0, or -1 with
 * err naming what could not be written. */
static int write_report(struct run *r, const struct verdict *v, char *err, size_t errlen)
{
	struct report_input in;
	struct pic_set pics;
	char *run_json = NULL;
	size_t i;
	int rc;

	run_json = jrn_read_run(r->c.workdir, err, errlen);
	report_input_of(r, v, &in);
	in.run_json = run_json ? run_json : "{}";
	/* The pictures first, for report.md's links; a picture that cannot be
	 * drawn is a warning, report.html like report.md an error. */
	pic_draw(&in, (enum pic_mode)r->c.pictures, &pics);
	for (i = 0; i < pics.nwarnings; i++)
		run_notify(r, RUN_MSG_WARNING, "%s", pics.warnings[i]);
	in.pictures_md = pics.md;
	rc = report_write(&in, err, errlen);
	if (rc == 0)
		rc = rhtml_write(&in, &pics, err, errlen);
	in.pictures_md = NULL; /* the bundle's report.md: its pictures/ links would not resolve */
	r->report_written = rc == 0;
	if (rc == 0 && !r->dry && report_has_bundle(&in)) {
		rc = report_bundle(&in, err, errlen);
		r->bundle_written = rc == 0;
	}
	if (rc == 0 && (r->synth_out || (v->nculprits && !r->dry && r->c.synthetic)) &&
	    run_synthetic(r, &in) == 0) {
		in.pictures_md = pics.md; /* report.md again, with the synthetic repro's sentence */
		rc = report_write(&in, err, errlen);
	}
	pic_set_release(&pics);
	r->report_failed = rc != 0;
	free(run_json);
	return rc;
}

/* The run's result from its verdict, for the command layer. */
static void result_of(struct run *r, const struct verdict *v)
{
	struct run_result *res = r->res;
	struct report_input in;
	size_t i;

	cb_strlcpy(res->verdict, v->name, sizeof(res->verdict));
	res->culprits = xcalloc(v->nculprits + 1, sizeof(*res->culprits));
	for (i = 0; i < v->nculprits; i++)
		res->culprits[i] = xstrdup(r->ds.cases[v->culprits[i]].id);
	res->nculprits = v->nculprits;
	res->undecided = xcalloc(v->nundecided + 1, sizeof(*res->undecided));
	for (i = 0; i < v->nundecided; i++)
		res->undecided[i] = xstrdup(r->ds.cases[v->undecided[i]].id);
	res->nundecided = v->nundecided;
	res->explanation = xstrdup(v->explanation);
	report_input_of(r, v, &in);
	res->confidence = report_confidence_text(&in);
	res->trials = r->nall;
	res->wall_s = wall_time(r);
	res->report_written = r->report_written;
	res->bundle_written = r->bundle_written;
}

/* What a hint tells the user to do about error message err. */
const char *run_fix_advice(const char *err)
{
	return strstr(err, strerror(ENOSPC)) ? "free some space" : "fix it";
}

/* The end of a run that has a verdict: the report and the bundle first,
 * then the verdict, with the paths of the files that now exist. A report
 * or bundle that cannot be written is an error (exit 1); resume writes
 * them again without running a trial. */
int run_conclude(struct run *r, const struct verdict *v)
{
	char err[1200];
	int rc = write_report(r, v, err, sizeof(err));

	result_of(r, v);
	if (!r->dry && r->p->verdict)
		r->p->verdict(r->p->ctx, r->res);
	if (!rc)
		return v->exit_code;
	run_notify(r, RUN_MSG_ERROR, "%s", err);
	if (!r->dry)
		run_notify(r, RUN_MSG_HINT, "%s, then 'casebisect resume %s' writes the report%s again "
		       "(no trial runs again)", run_fix_advice(err), r->c.workdir,
		       v->nculprits ? " and the bundle" : "");
	return RUN_EXIT_ERROR;
}

/* ---- what the supervisor tells while trials run ---- */

/* The flight of running trial number, or NULL. */
static struct flight *flight_of(struct run *r, uint64_t number)
{
	size_t i;

	if (r->sync && r->sync->busy && r->sync->number == number)
		return r->sync;
	for (i = 0; i < r->nflights; i++)
		if (r->flights[i]->busy && r->flights[i]->number == number)
			return r->flights[i];
	return NULL;
}

/* --launcher slurm: where a trial's job runs, once Slurm started it. */
static void on_job_started(void *ctx, const struct sup_result *res)
{
	struct run *r = ctx;
	const struct flight *f = flight_of(r, res->number);

	run_say(r, "trial %llu (%s) runs: Slurm job %lld on node %s, gpu %s",
		(unsigned long long)res->number, f ? f->phase : "?", res->slurm_job,
		res->node[0] ? res->node : "?", res->slurm_gpus[0] ? res->slurm_gpus : "none");
}

/* A line every CASEBISECT_HEARTBEAT_S seconds while trials run, so that a
 * log of long trials does not look hung: what runs, for how long, and
 * what is left. */
static void on_heartbeat(void *ctx)
{
	struct run *r = ctx;
	char *line = xstrdup(""), *next, took[32], eta[32];
	double now = run_now_s(), left;
	size_t i, n = 0;
	cJSON *ev = json_object(), *running = json_array();

	for (i = 0; i <= r->nflights; i++) {
		const struct flight *f = i < r->nflights ? r->flights[i] : r->sync;
		cJSON *t;

		if (!f || !f->busy)
			continue;
		t = json_object();
		json_add_num(t, "trial", (double)f->number, true);
		json_add_str(t, "phase", f->phase);
		json_add_num(t, "cases", (double)f->n, true);
		json_add_num(t, "slot", f->slot, true);
		json_add_num(t, "seconds", round(now - f->started_s), true);
		cJSON_AddItemToArray(running, t);
		run_fmt_duration(now - f->started_s, took, sizeof(took));
		next = cb_fmt("%s%strial %llu (%s, %zu case%s, slot %d) for %s", line, n ? ", " : "",
			      (unsigned long long)f->number, f->phase, f->n, f->n == 1 ? "" : "s",
			      f->slot, took);
		free(line);
		line = next;
		n++;
	}
	run_eta(r, &left, eta, sizeof(eta));
	/* the same for --json-events: a watcher tells a long trial from a hang */
	json_add_str(ev, "event", "heartbeat");
	cJSON_AddItemToObject(ev, "running", running);
	json_add_num(ev, "trials_done", (double)r->nall, true);
	json_add_num(ev, "culprits_so_far", (double)r->culprits_seen, true);
	run_event(r, ev);
	run_say(r, "still running: %s; %zu trial%s done, %zu culprit%s so far, ETA ~%s", line,
		r->nall, r->nall == 1 ? "" : "s", r->culprits_seen, r->culprits_seen == 1 ? "" : "s",
		eta);
	free(line);
}

/* Ctrl-C and friends: told through the command layer, which clears the
 * status line first. */
static void on_signal_told(void *ctx, const char *text)
{
	run_notify(ctx, RUN_MSG_NOTE, "%s", text);
}

/* CASEBISECT_HEARTBEAT_S, or 300; 0 turns the heartbeat off. */
static double heartbeat_s(void)
{
	const char *v = getenv("CASEBISECT_HEARTBEAT_S");
	char *end;
	double s;

	if (!v || !*v)
		return RUN_HEARTBEAT_S;
	s = strtod(v, &end);
	return *end || !(s >= 0) ? RUN_HEARTBEAT_S : s;
}

void run_progress_hooks(struct run *r, struct sup_hooks *h)
{
	h->ctx = r;
	h->started = on_job_started;
	h->heartbeat = on_heartbeat;
	h->heartbeat_s = heartbeat_s();
	h->signal = on_signal_told;
}
