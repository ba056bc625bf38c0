/* launch_slurm: a trial as one Slurm job (--launcher slurm): srun starts
 * it, Slurm's own lines on srun's output say how Slurm ended it, scancel
 * ends it, and it is finished once squeue no longer lists it. The contract
 * is in include/casebisect/supervise.h (enum sup_launcher); the command
 * lines and the reading of Slurm's lines are slurm.c's. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "casebisect/launch.h"
#include "casebisect/proc_capture.h"
#include "casebisect/slurm.h"
#include "casebisect/util.h"

/* Between two squeue calls while a job is ending. */
#define SQUEUE_EVERY_S 0.25
/* squeue and scancel answer in well under a second; a hung one is killed. */
#define CMD_TIMEOUT_S 30
#define SQUEUE_OUT_MAX 8192

/* What a supervisor's trials share. */
struct slurm_launcher {
	char **words;       /* --slurm-args, split */
	char *exclude;      /* nodes excluded, comma separated */
	const char *prefix; /* job names: PREFIX<trial> */
	char uid[32];
};

/* One trial's job. */
struct slurm_job {
	char name[256];
	bool started;       /* the wrapper's line came: the job runs */
	bool scancel_sent;
	bool gone;          /* squeue no longer lists the job */
	int cmds;           /* squeue/scancel in flight for it */
	bool query_running;
	uint64_t last_query_ns;
};

/* A squeue (query) or scancel run for a trial, on the supervisor's loop. */
struct slurm_cmd {
	struct proc_capture pc;
	struct sup_job *j;
	bool query;
	const char *argv[10];
};

static int slurm_init(void **state, const struct sup_options *o, char *err, size_t errlen)
{
	struct slurm_launcher *l = xcalloc(1, sizeof(*l));
	size_t nw;

	if (slurm_split_args(o->slurm_args, &l->words, &nw, err, errlen)) {
		free(l);
		return -1;
	}
	l->exclude = xstrdup(o->slurm_exclude ? o->slurm_exclude : "");
	l->prefix = o->slurm_prefix ? o->slurm_prefix : "casebisect-";
	snprintf(l->uid, sizeof(l->uid), "%u", (unsigned)getuid());
	*state = l;
	return 0;
}

static void slurm_release(void *state)
{
	struct slurm_launcher *l = state;

	if (!l)
		return;
	slurm_words_free(l->words);
	free(l->exclude);
	free(l);
}

static char **slurm_spawn_argv(struct sup_job *j, const struct sup_trial_spec *spec)
{
	struct slurm_launcher *l = j->launcher;
	struct slurm_job *js = xcalloc(1, sizeof(*js));

	j->state = js;
	snprintf(js->name, sizeof(js->name), "%s%llu", l->prefix,
		 (unsigned long long)spec->number);
	return slurm_srun_argv(l->prefix, spec->number, (const char *const *)l->words, l->exclude,
			       spec->argv);
}

static void slurm_release_job(struct sup_job *j)
{
	free(j->state);
	j->state = NULL;
}

static void run_cmd(struct sup_job *j, bool query);

/* squeue -h prints one line per job still listed: "ID STATE". */
static void read_listing(struct sup_job *j, char *out)
{
	struct slurm_job *js = j->state;
	bool listed = false, live = false;
	char *line, *save = NULL;

	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *st = strchr(line, ' ');

		listed = true;
		live = live || !st || strncmp(st + 1, "CG", 2);
	}
	if (!listed)
		js->gone = true;
	else if (live && !js->scancel_sent)
		run_cmd(j, false); /* left running or pending: cancel it */
}

static void cmd_done(struct proc_capture *pc, void *ctx)
{
	struct slurm_cmd *c = ctx;
	struct sup_job *j = c->j;
	struct slurm_job *js = j->state;

	js->cmds--;
	if (c->query) {
		js->query_running = false;
		if (!pc->error && !pc->timed_out && pc->status == 0)
			read_listing(j, pc->out);
	}
	proc_capture_release(pc);
	free(c);
	j->wake(j);
}

/* Runs `squeue` (query) or `scancel` for j's job, by its name and our uid,
 * in a session of its own (a Ctrl-C at the terminal must not kill it). */
static void run_cmd(struct sup_job *j, bool query)
{
	struct slurm_launcher *l = j->launcher;
	struct slurm_job *js = j->state;
	struct slurm_cmd *c = xcalloc(1, sizeof(*c));
	const char *squeue[] = { "squeue", "-h", "-o", "%i %t", "-n", js->name, "-u", l->uid, NULL };
	const char *scancel[] = { "scancel", "-n", js->name, "-u", l->uid, NULL };
	char err[256];
	int rc;

	c->j = j;
	c->query = query;
	memcpy(c->argv, query ? squeue : scancel, query ? sizeof(squeue) : sizeof(scancel));
	c->pc.argv = c->argv;
	c->pc.timeout_s = CMD_TIMEOUT_S;
	c->pc.max_out = query ? SQUEUE_OUT_MAX : 0;
	js->cmds++;
	if (query) {
		js->query_running = true;
		js->last_query_ns = uv_hrtime();
	} else {
		js->scancel_sent = true;
	}
	rc = proc_capture_start(j->loop, &c->pc, cmd_done, c);
	if (rc) {
		proc_capture_result(&c->pc, err, sizeof(err));
		if (!j->result->error[0])
			cb_strlcpy(j->result->error, err, sizeof(j->result->error));
		if (!query)
			js->scancel_sent = false; /* srun gets SIGTERM instead */
	}
}

/* srun alive: its job may run or pend; cancel it in Slurm too, and let
 * scancel end srun (the record says CANCELLED, not FAILED). */
static bool slurm_end(struct sup_job *j, bool alive)
{
	struct slurm_job *js = j->state;

	if (alive && !js->scancel_sent)
		run_cmd(j, false);
	return js->scancel_sent;
}

/* Is the job out of Slurm's queue? Asks squeue now and then until it is;
 * gives up (with a word in error) after give_up_s. */
static bool slurm_done(struct sup_job *j, bool spawned, double since)
{
	struct slurm_job *js = j->state;

	if (!spawned || js->gone)
		return !js->cmds;
	if (since >= j->give_up_s) {
		js->gone = true;
		if (!j->result->error[0])
			snprintf(j->result->error, sizeof(j->result->error),
				 "Slurm job %s may still be in the queue: squeue kept listing it",
				 js->name);
		return !js->cmds;
	}
	if (!js->query_running && (double)(uv_hrtime() - js->last_query_ns) / 1e9 >= SQUEUE_EVERY_S)
		run_cmd(j, true);
	return false;
}

/* The wrapper's line (where the job runs) and Slurm's own lines (how Slurm
 * ended it). */
static enum sup_job_line slurm_on_line(struct sup_job *j, const char *line, size_t len,
				       enum sup_reason *reason)
{
	struct slurm_job *js = j->state;
	struct sup_result *r = j->result;
	struct slurm_start st;

	switch (slurm_parse_line(line, len, &st)) {
	case SLURM_EV_NONE:
		return SUP_LINE_NONE;
	case SLURM_EV_STARTED:
		if (js->started)
			return SUP_LINE_NONE;
		js->started = true;
		r->slurm_job = st.job;
		cb_strlcpy(r->node, st.node, sizeof(r->node));
		cb_strlcpy(r->slurm_gpus, st.gpus, sizeof(r->slurm_gpus));
		r->gpu = isdigit((unsigned char)st.gpus[0]) ? atoi(st.gpus) : -1;
		return SUP_LINE_STARTED;
	case SLURM_EV_TIMEOUT: *reason = SUP_R_SLURM_TIMEOUT; break;
	case SLURM_EV_PREEMPTED: *reason = SUP_R_SLURM_PREEMPTED; break;
	case SLURM_EV_NODE_FAIL: *reason = SUP_R_SLURM_NODE_FAIL; break;
	case SLURM_EV_CANCELLED: *reason = SUP_R_SLURM_CANCELLED; break;
	case SLURM_EV_OOM: *reason = SUP_R_SLURM_OOM; break;
	case SLURM_EV_ALLOC_FAILED:
	case SLURM_EV_CONFIG_ERROR:
		/* Slurm's refusal comes before the job runs; once it runs, such
		 * a line is the trainer's (an srun of its own, a log it
		 * prints) and says nothing about this job. */
		if (js->started)
			return SUP_LINE_NONE;
		*reason = SUP_R_SLURM_CONFIG;
		break;
	}
	return SUP_LINE_ENDED;
}

static const char *slurm_exclude(void *state, const char *node)
{
	struct slurm_launcher *l = state;
	size_t n = strlen(node);
	const char *p = l->exclude;
	char *next;

	while (*p) { /* already there? */
		size_t k = strcspn(p, ",");

		if (k == n && !strncmp(p, node, n))
			return l->exclude;
		p += k + (p[k] == ',');
	}
	next = cb_fmt("%s%s%s", l->exclude, *l->exclude ? "," : "", node);
	free(l->exclude);
	l->exclude = next;
	return l->exclude;
}

/* Slurm picks the GPUs; and srun inside an allocation would run a step of
 * it rather than a job of its own. */
static const char *const slurm_env_drop[] = { "CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", "SLURM_JOBID",
					      NULL };

const struct sup_launcher_ops sup_launch_slurm = {
	.name = "slurm",
	.group_only = true,
	.wait_start = true,
	.env_drop = slurm_env_drop,
	.init = slurm_init,
	.release = slurm_release,
	.spawn_argv = slurm_spawn_argv,
	.on_line = slurm_on_line,
	.end = slurm_end,
	.done = slurm_done,
	.release_job = slurm_release_job,
	.exclude = slurm_exclude,
};
