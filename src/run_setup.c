/* run_setup: a run's work directory and the engine's entry points
 * (run_start, run_resume, run_report: contract in run.h): checks before a
 * new run, run.json, the lock, the journal replayed, trials left running
 * by a dead casebisect ended, the GPUs, the environment and the audit. */
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
#include "casebisect/sysinfo.h"
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
#include "casebisect/synth.h"
#include "casebisect/util.h"
#include "casebisect/view.h"
#include "run_config.h"
#include "run_health.h"
#include "run_internal.h"


/* the engine's progress when the caller gives none */
static const struct run_progress quiet;

#define ENV_CMD_TIMEOUT_S 60.0
/* The trainer's Python asked for its versions (PyTorch's import is slow). */
#define SYSINFO_TIMEOUT_S 30.0
#define ENV_CMD_MAX (64 * 1024)

/* ---- setting up ---- */

/* WORKDIR/environment.json: the GPU facts of the machine the run started
 * on, and under "system" its OS, driver and the trainer's Python
 * (sysinfo.h), so that `casebisect report` renders them again anywhere. */
static int save_environment(struct run *r)
{
	char *path = cb_path_join(r->c.workdir, "environment.json"), *text, err[1200];
	cJSON *o = json_gpu_info(&r->gpu);
	int rc;

	if (r->have_sys && !cJSON_AddItemToObject(o, "system", si_json(&r->sys)))
		die("out of memory building JSON");
	text = json_finish(o, true);
	rc = cb_write_atomic(path, text, strlen(text), CB_WRITE_DURABLE, err, sizeof(err));

	if (rc)
		run_fail(r, "%s", err);
	free(text);
	free(path);
	return rc;
}

static void load_environment(struct run *r)
{
	char *path = cb_path_join(r->c.workdir, "environment.json");
	char *text = cb_read_file(path, NULL);
	cJSON *o = text ? cJSON_Parse(text) : NULL;

	if (o && !json_read_gpu_info(o, &r->gpu))
		r->have_gpu = true;
	if (o && !si_read_json(cJSON_GetObjectItemCaseSensitive(o, "system"), &r->sys))
		r->have_sys = true;
	cJSON_Delete(o);
	free(text);
	free(path);
}

int run_pick_gpus(struct run *r)
{
	char err[256];

	memset(&r->gpu, 0, sizeof(r->gpu));
	if (r->dry) {
		load_environment(r);
		return 0;
	}
	/* Looked at even with --gpus none: the report's environment facts. */
	gpu_discover_from(&r->gpu, r->c.cudart, 20000);
	r->have_gpu = true;
	si_gather(&r->sys, r->c.command, r->c.cwd, SYSINFO_TIMEOUT_S);
	r->have_sys = true;
	if (r->c.launcher == SUP_LAUNCH_SLURM) {
		r->ngpus = 0; /* Slurm assigns them, per job */
		return save_environment(r);
	}
	if (gpu_select(r->c.gpus, &r->gpu, r->gpus, GPU_MAX, &r->ngpus, err, sizeof(err))) {
		run_notify(r, RUN_MSG_ERROR, "%s", err);
		return -1;
	}
	return save_environment(r);
}

/* The next free trial number: after the journal's and any directory a
 * killed run left (its trials never reached the journal). Ends what such
 * trials left running, and removes the half-written files (a temporary of
 * cb_write_atomic(), a half-built bundle) that a kill left. */
void run_recover_trials(struct run *r)
{
	char *trials = cb_path_join(r->c.workdir, "trials");
	DIR *d = opendir(trials);
	struct dirent *e;
	uint64_t max = 0;
	size_t i, removed = report_remove_leftovers(r->c.workdir);

	for (i = 0; i < r->nall; i++)
		if (r->all[i].trial > max)
			max = r->all[i].trial;
	while (d && (e = readdir(d))) {
		char *end, *dir;
		unsigned long long n = strtoull(e->d_name, &end, 10);
		size_t ended = 0;

		if (*end || end == e->d_name)
			continue;
		if (n > max)
			max = n;
		dir = cb_path_join(trials, e->d_name);
		if (!sup_end_stale(dir, r->c.grace_s, &ended) && ended)
			run_say(r, "ended %zu process%s of trial %s that the last casebisect left running",
			    ended, ended == 1 ? "" : "es", e->d_name);
		if (!r->c.keep_views)
			view_remove(dir, NULL, 0);
		removed += cb_remove_tmp_leftovers(dir);
		free(dir);
	}
	if (d)
		closedir(d);
	free(trials);
	if (removed)
		run_say(r, "removed %zu unfinished file%s that the last casebisect left", removed,
		    removed == 1 ? "" : "s");
	r->next_number = max + 1;
	if (r->c.launcher == SUP_LAUNCH_SLURM) {
		char err[512];
		size_t n = 0;

		if (slurm_cancel_prefix(r->slurm_prefix, r->c.grace_s + 30, &n, err,
					sizeof(err)))
			run_say(r, "warning: cancelling the jobs the last casebisect left in Slurm: %s", err);
		else if (n)
			run_say(r, "cancelled %zu Slurm job%s (%s*) that the last casebisect left behind", n,
			    n == 1 ? "" : "s", r->slurm_prefix);
	}
}

/* Opens the journal, whose lock makes the work directory ours: before
 * anything in it is written (another casebisect may be at work there). */
int run_lock_workdir(struct run *r)
{
	char err[1024];

	if (r->jrn)
		return 0;
	if (!(r->jrn = jrn_open(r->c.workdir, err, sizeof(err)))) {
		run_notify(r, RUN_MSG_ERROR, "%s", err);
		return -1;
	}
	return 0;
}

int run_load_journal(struct run *r)
{
	struct jrn_entry *v = NULL;
	char warning[512] = "", err[1024];
	size_t n = 0, i;

	if (jrn_replay(r->c.workdir, run_names_of(r), &v, &n, warning, sizeof(warning), err, sizeof(err))) {
		run_notify(r, RUN_MSG_ERROR, "%s", err);
		return -1;
	}
	/* jrn_open cut a torn line before replay could see it. */
	if (!warning[0] && r->jrn)
		cb_strlcpy(warning, jrn_warning(r->jrn), sizeof(warning));
	if (warning[0])
		run_say(r, "warning: %s", warning);
	for (i = 0; i < n; i++)
		run_push_entry(r, &v[i], false);
	free(v); /* the entries' strings now belong to r->all */
	if (n)
		run_say(r, "journal: %zu finished trial%s, not run again", n, n == 1 ? "" : "s");
	return 0;
}

void run_env_cmd(struct run *r)
{
	char err[1200], *path;
	int status = 0;

	if (!r->c.env_cmd || !*r->c.env_cmd)
		return;
	path = cb_path_join(r->c.workdir, "env-cmd.txt");
	if (r->dry || (r->env_cmd_output = cb_read_file(path, NULL))) {
		if (!r->env_cmd_output)
			r->env_cmd_output = cb_read_file(path, NULL);
		free(path);
		return;
	}
	if (envcmd_run(r->c.env_cmd, ENV_CMD_TIMEOUT_S, &r->env_cmd_output, ENV_CMD_MAX, &status,
		       err, sizeof(err)))
		r->env_cmd_output = cb_fmt("(--env-cmd could not run: %s)\n", err);
	else if (cb_write_atomic(path, r->env_cmd_output, strlen(r->env_cmd_output),
				 CB_WRITE_DURABLE, err, sizeof(err)))
		run_fail(r, "%s", err);
	free(path);
}

static void run_free(struct run *r)
{
	size_t i;

	if (r->sup)
		sup_free(r->sup);
	red_free(r->red);
	jrn_close(r->jrn);
	for (i = 0; i < r->nall; i++)
		jrn_entry_release(&r->all[i]);
	free(r->all);
	free(r->used);
	for (i = 0; i < r->nflights; i++) {
		free(r->flights[i]->subset);
		free(r->flights[i]);
	}
	free(r->flights);
	if (r->have_ds)
		ds_release(&r->ds);
	free(r->command_v);
	free(r->env_v);
	free(r->env_cmd_output);
	free(r->announced);
	free(r->slurm_prefix);
	if (r->have_audit)
		aud_result_release(&r->audit);
	cJSON_Delete(r->run_root);
}

/* The label audit, before any trial: its crash cases are suspects, its
 * clean cases controls. Deterministic for a dataset (the digest is
 * checked on resume), so resume and report run it again rather than
 * store it. */
int run_audit(struct run *r)
{
	struct aud_options o = { 0 };
	char err[512];
	size_t i, shown = 0;

	if (!aud_dataset_has_labels(&r->ds)) {
		run_say(r, "audit: no label files in this dataset: searching without the audit");
		return 0;
	}
	if (aud_run(&r->ds, &o, &r->audit, err, sizeof(err))) {
		run_say(r, "audit: %s: searching without it", err);
		return 0;
	}
	r->have_audit = true;
	run_say(r, "audit: %zu cases read in %.1f s: %zu with values that crash training, %zu "
	    "unreadable", r->audit.cases_read, r->audit.seconds, r->audit.cases_with[AUD_CRASH],
	    r->audit.cases_with[AUD_UNREADABLE]);
	{
		cJSON *ev = json_object(), *a = json_array();

		json_add_str(ev, "event", "audit");
		json_add_num(ev, "cases_read", (double)r->audit.cases_read, true);
		json_add_num(ev, "crash", (double)r->audit.cases_with[AUD_CRASH], true);
		json_add_num(ev, "unreadable", (double)r->audit.cases_with[AUD_UNREADABLE], true);
		for (i = 0; i < r->ds.ncases; i++)
			if (aud_case_crashes(&r->audit, i))
				cJSON_AddItemToArray(a, cJSON_CreateString(r->ds.cases[i].id));
		cJSON_AddItemToObject(ev, "cases", a);
		run_event(r, ev);
	}
	for (i = 0; i < r->ds.ncases && shown < 5; i++)
		if (aud_case_crashes(&r->audit, i) && r->audit.cases[i].nfindings) {
			run_say(r, "  %s: %s", r->ds.cases[i].id, r->audit.cases[i].findings[0].detail);
			shown++;
		}
	return 0;
}

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool empty = true;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = false;
	if (d)
		closedir(d);
	return empty;
}

/* Does the command read its subset? nnU-Net formats carry the view in the
 * environment; the others need a placeholder, or every trial would train on
 * the full set. */
static bool uses_placeholder(const char *const *cmd)
{
	static const char *const names[] = { "{cases_file}", "{files_file}", "{view}", "{trial_dir}" };
	size_t i, k;

	for (i = 0; cmd[i]; i++)
		for (k = 0; k < CB_ARRAY_SIZE(names); k++)
			if (strstr(cmd[i], names[k]))
				return true;
	return false;
}

/* Can argv0 be run, as execvp would find it (from cwd when it holds a
 * '/', else on PATH)? Checked before a work directory exists, since
 * resume cannot change the command. */
bool run_command_runnable(const char *argv0, const char *cwd, const char *const *env)
{
	const char *path = getenv("PATH"), *p;
	char buf[PATH_MAX * 2];
	size_t i;

	for (i = 0; env && env[i]; i++)
		if (!strncmp(env[i], "PATH=", 5))
			path = env[i] + 5; /* the trial's own PATH (--env) */
	if (!*argv0)
		return false;
	if (strchr(argv0, '/')) {
		if (argv0[0] != '/' && cwd)
			snprintf(buf, sizeof(buf), "%s/%s", cwd, argv0);
		else
			cb_strlcpy(buf, argv0, sizeof(buf));
		return access(buf, X_OK) == 0;
	}
	for (p = path ? path : "/usr/local/bin:/usr/bin:/bin"; p; p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL) {
		size_t n = strchr(p, ':') ? (size_t)(strchr(p, ':') - p) : strlen(p);
		struct stat st;

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, n ? p : ".", argv0);
		if (!stat(buf, &st) && S_ISREG(st.st_mode) && !access(buf, X_OK))
			return true;
	}
	return false;
}

/* WORKDIR/dataset-files.tsv: the dataset's files as this run began
 * (ds_manifest), so that a resume refused for a changed dataset names
 * them. Only for messages: a failure to write it is a warning. */
#define MANIFEST_FILE "dataset-files.tsv"

static void write_manifest(struct run *r)
{
	char *path = cb_path_join(r->c.workdir, MANIFEST_FILE), *text = ds_manifest(&r->ds);
	char err[512];

	if (cb_write_atomic(path, text, strlen(text), 0, err, sizeof(err)))
		run_notify(r, RUN_MSG_WARNING, "%s", err);
	free(text);
	free(path);
}

/* The files that changed since the run began, one a line (at most 20),
 * or "" when the manifest is missing or no file changed. The caller frees
 * it. */
static char *changed_files(struct run *r)
{
	char *path = cb_path_join(r->c.workdir, MANIFEST_FILE), *was = cb_read_file(path, NULL);
	char *diff = was ? ds_manifest_diff(&r->ds, was, 20) : xstrdup("");

	free(was);
	free(path);
	return diff;
}

static int cmp_str_p(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The cases of the manifest that r->ds no longer has, space separated (""
 * when none, or without a manifest). The caller frees it. */
static char *lost_cases(struct run *r)
{
	char *path = cb_path_join(r->c.workdir, MANIFEST_FILE), *was = cb_read_file(path, NULL);
	const char **ids = xcalloc(r->ds.ncases + 1, sizeof(*ids));
	char *out = xstrdup(""), *line, *save = NULL, *last = NULL;
	size_t i, nlost = 0;

	for (i = 0; i < r->ds.ncases; i++)
		ids[i] = r->ds.cases[i].id;
	qsort(ids, r->ds.ncases, sizeof(*ids), cmp_str_p);
	for (line = was ? strtok_r(was, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t'), *grown;
		const char *id = line;

		if (!tab)
			continue;
		*tab = '\0';
		if ((last && !strcmp(last, id)) ||
		    bsearch(&id, ids, r->ds.ncases, sizeof(*ids), cmp_str_p))
			continue;
		last = line;
		if (nlost++ >= 10)
			continue; /* ten name the change well enough */
		grown = cb_fmt("%s%s%s", out, *out ? " " : "", id);
		free(out);
		out = grown;
	}
	if (nlost > 10) {
		char *grown = cb_fmt("%s (and %zu more)", out, nlost - 10);

		free(out);
		out = grown;
	}
	free(ids);
	free(was);
	free(path);
	return out;
}

/* What `report` lets change: resume's keys, and the dataset's digests. */
static const char *const *report_ignores(void)
{
	static const char *keys[64];
	size_t n = 0, i;

	if (keys[0])
		return keys;
	for (i = 0; run_overridable[i] && n + 4 < CB_ARRAY_SIZE(keys); i++)
		keys[n++] = run_overridable[i];
	keys[n++] = "digest";
	keys[n++] = "dataset.digest";
	keys[n++] = "dataset.content_digests";
	keys[n] = NULL;
	return keys;
}

/* A new run's checks and work directory, before the engine. */
static int start(struct run *r)
{
	const struct run_config *c = &r->c;
	char err[1200], *text, *marker;
	struct stat st;

	if (ds_load(&r->ds, c->dataset, &c->dso, err, sizeof(err))) {
		run_notify(r, RUN_MSG_ERROR, "%s", err);
		return RUN_EXIT_ERROR;
	}
	r->have_ds = true;
	if ((r->ds.format == DS_LIST || r->ds.format == DS_MSD) && !uses_placeholder(c->command)) {
		run_notify(r, RUN_MSG_ERROR, "the command has no {cases_file}, {files_file} or {view}: "
		       "with a %s dataset every trial would train on the full set",
		       ds_format_name(r->ds.format));
		run_notify(r, RUN_MSG_HINT, "pass the subset to your trainer, e.g. -- python train.py "
		       "--cases {cases_file}");
		return RUN_EXIT_USAGE;
	}
	if (c->launcher == SUP_LAUNCH_LOCAL && !run_command_runnable(c->command[0], c->cwd, c->env)) {
		run_notify(r, RUN_MSG_ERROR, "cannot run '%s': %s", c->command[0],
		       strchr(c->command[0], '/') ? "no such executable file" : "not found on PATH");
		run_notify(r, RUN_MSG_HINT, "give the trainer's full path (or the python that runs it), "
		       "e.g. -- /usr/bin/python3 train.py ...");
		return RUN_EXIT_ERROR;
	}
	marker = cb_path_join(c->workdir, "run.json");
	if (!stat(marker, &st)) {
		run_notify(r, RUN_MSG_ERROR, "'%s' is a casebisect work directory already", c->workdir);
		run_notify(r, RUN_MSG_HINT, "continue it with 'casebisect resume %s', or give another "
		       "--workdir", c->workdir);
		free(marker);
		return RUN_EXIT_ERROR;
	}
	free(marker);
	if (!stat(c->workdir, &st) && !c->workdir_exists_ok && !dir_is_empty(c->workdir)) {
		run_notify(r, RUN_MSG_ERROR, "--workdir '%s' exists and is not empty", c->workdir);
		run_notify(r, RUN_MSG_HINT, "give a new folder; casebisect creates it");
		return RUN_EXIT_ERROR;
	}
	if (mkdir(c->workdir, 0755) && errno != EEXIST) {
		run_notify(r, RUN_MSG_ERROR, "cannot create '%s': %s", c->workdir, strerror(errno));
		return RUN_EXIT_ERROR;
	}
	if (run_lock_workdir(r))
		return RUN_EXIT_ERROR;
	text = run_config_json(c, &r->ds);
	if (jrn_write_run(c->workdir, text, err, sizeof(err))) {
		run_notify(r, RUN_MSG_ERROR, "%s", err);
		run_notify(r, RUN_MSG_HINT, "%s, remove '%s' (no trial ran in it) and run the same "
		       "command again", run_fix_advice(err), c->workdir);
		free(text);
		return RUN_EXIT_ERROR;
	}
	free(text);
	write_manifest(r);
	return 0;
}

/* r's progress and result, before anything can fail. */
static void run_init(struct run *r, const struct run_progress *p, struct run_result *res)
{
	memset(r, 0, sizeof(*r));
	memset(res, 0, sizeof(*res));
	r->t0 = run_now_s();
	r->p = p ? p : &quiet;
	r->res = res;
}

enum run_exit run_start(const struct run_config *c, const struct run_progress *p,
			struct run_result *res)
{
	struct run r;
	int ret;

	run_init(&r, p, res);
	r.c = *c;
	res->workdir = xstrdup(c->workdir);
	ret = start(&r);
	if (!ret) {
		run_say(&r, "dataset: %s (%s, %zu cases, digest %s)", r.ds.root,
		    ds_format_name(r.ds.format), r.ds.ncases, r.ds.digest);
		run_say(&r, "work directory: %s", c->workdir);
		ret = run_engine(&r);
		run_on_exit(&r, ret);
	}
	run_free(&r);
	return res->exit = (enum run_exit)ret;
}

/* Loads WORKDIR's run.json and dataset into r (the dataset must not have
 * changed; for `report`, r->dry, it may: the report is of the trials as
 * they ran, and a user who fixed a culprit still gets it). */

static int reopen(struct run *r, const char *workdir, const struct run_overrides *o)
{
	char err[1200], *text, *now;
	char *abs = realpath(workdir, NULL);

	if (!abs) {
		run_notify(r, RUN_MSG_ERROR, "'%s': %s", workdir, strerror(errno));
		return RUN_EXIT_ERROR;
	}
	text = jrn_read_run(abs, err, sizeof(err));
	if (!text) {
		run_notify(r, RUN_MSG_ERROR, "%s", err);
		run_notify(r, RUN_MSG_HINT, "'%s' should be a folder that 'casebisect run' made", workdir);
		free(abs);
		return RUN_EXIT_ERROR;
	}
	if (run_config_from_json(&r->c, text, &r->run_root, &r->command_v, &r->env_v, err,
				 sizeof(err))) {
		run_notify(r, RUN_MSG_ERROR, "%s/%s", abs, err);
		free(text);
		free(abs);
		return RUN_EXIT_ERROR;
	}
	free(text);
	r->c.workdir = abs; /* freed by the caller through workdir_owned */
	if (ds_load(&r->ds, r->c.dataset, &r->c.dso, err, sizeof(err))) {
		run_notify(r, RUN_MSG_ERROR, "%s", err);
		return RUN_EXIT_ERROR;
	}
	r->have_ds = true;
	if (o) {
		if (o->jobs)
			r->c.jobs = o->jobs;
		if (o->per_gpu)
			r->c.per_gpu = o->per_gpu;
		if (o->gpus)
			r->c.gpus = o->gpus;
		if (o->launcher >= 0)
			r->c.launcher = (enum sup_launcher)o->launcher;
		if (o->slurm_args)
			r->c.slurm_args = o->slurm_args;
		if (o->on_exit)
			r->c.on_exit = *o->on_exit ? o->on_exit : NULL;
	}
	now = run_config_json(&r->c, &r->ds);
	if (r->dry && jrn_check_run(abs, now, run_overridable, NULL, 0) &&
	    !jrn_check_run(abs, now, report_ignores(), NULL, 0)) {
		char *files = changed_files(r);

		run_notify(r, RUN_MSG_WARNING, "the dataset changed since this run (%s); the report "
			   "is of the trials as they ran", *files ? files : "its JSON files");
		free(files);
	} else if (jrn_check_run(abs, now, run_overridable, err, sizeof(err))) {
		char *files = changed_files(r);

		run_notify(r, RUN_MSG_ERROR, "%s%s%s", err, *files ? "; what changed:\n" : "", files);
		free(files);
		free(now);
		return RUN_EXIT_ERROR;
	}
	/* The overrides go into run.json only once the lock says no other
	 * casebisect is at work here. */
	if (o && run_lock_workdir(r)) {
		free(now);
		return RUN_EXIT_ERROR;
	}
	if (o && jrn_write_run(abs, now, err, sizeof(err))) {
		run_notify(r, RUN_MSG_ERROR, "%s", err);
		free(now);
		return RUN_EXIT_ERROR;
	}
	free(now);
	return 0;
}

enum run_exit run_resume(const char *workdir, uint64_t max_trials, double deadline,
			 const struct run_overrides *o, const struct run_progress *p,
			 struct run_result *res)
{
	struct run r;
	int ret;

	run_init(&r, p, res);
	run_config_init(&r.c);
	ret = reopen(&r, workdir, o);
	if (!ret) {
		res->workdir = xstrdup(r.c.workdir);
		r.c.max_trials = max_trials;
		r.c.deadline = deadline;
		run_say(&r, "resuming %s", r.c.workdir);
		ret = run_engine(&r);
		run_on_exit(&r, ret);
	}
	free((char *)r.c.workdir);
	run_free(&r);
	return res->exit = (enum run_exit)ret;
}

/* run_report(), and with sres run_synthetic_after() (run_synth.c makes
 * WORKDIR/synthetic between the two reports of write_report()). */
static enum run_exit report_again(const char *workdir, const struct run_progress *p,
				  struct run_result *res, struct synth_result *sres,
				  const struct synth_bundle_options *o)
{
	struct run r;
	char *lost;
	int ret;

	run_init(&r, p, res);
	run_config_init(&r.c);
	r.dry = true;
	r.synth_out = sres;
	r.synth_opts = o;
	ret = reopen(&r, workdir, NULL);
	lost = ret ? NULL : lost_cases(&r);
	if (lost && *lost) {
		/* The journal names cases the dataset lost (a culprit removed, as
		 * the report advises): the report the run wrote stays as it is. */
		char *md = cb_path_join(r.c.workdir, "report.md");

		res->workdir = xstrdup(r.c.workdir);
		if (access(md, R_OK)) {
			run_notify(&r, RUN_MSG_ERROR, "the dataset lost %s since this run, and "
				   "%s cannot be read: the report cannot be rendered again", lost, md);
			ret = RUN_EXIT_ERROR;
		} else {
			run_notify(&r, RUN_MSG_WARNING, "the dataset lost %s since this run: the "
				   "report is the one the run wrote, not rendered again", lost);
		}
		free(md);
	} else if (!ret) {
		res->workdir = xstrdup(r.c.workdir);
		run_engine(&r);
		/* run_engine() said why the report (or the synthetic repro) could
		 * not be written */
		ret = r.report_failed || r.synth_failed ? RUN_EXIT_ERROR : RUN_EXIT_OK;
	}
	if (sres && lost && *lost)
		ret = RUN_EXIT_ERROR; /* told: the dataset lost cases, no repro of them */
	free(lost);
	free((char *)r.c.workdir);
	run_free(&r);
	return res->exit = (enum run_exit)ret;
}

enum run_exit run_report(const char *workdir, const struct run_progress *p,
			 struct run_result *res)
{
	return report_again(workdir, p, res, NULL, NULL);
}

enum run_exit run_synthetic_after(const char *workdir, const struct synth_bundle_options *o,
				  const struct run_progress *p, struct run_result *res,
				  struct synth_result *sres)
{
	memset(sres, 0, sizeof(*sres));
	return report_again(workdir, p, res, sres, o);
}

void run_result_release(struct run_result *res)
{
	size_t i;

	for (i = 0; res->culprits && res->culprits[i]; i++)
		free(res->culprits[i]);
	for (i = 0; res->undecided && res->undecided[i]; i++)
		free(res->undecided[i]);
	free(res->culprits);
	free(res->undecided);
	free(res->explanation);
	free(res->confidence);
	free(res->synthetic);
	free(res->synthetic_note);
	free(res->workdir);
	memset(res, 0, sizeof(*res));
}
