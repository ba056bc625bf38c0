/* supervise: trials on libuv that always end, are classified, and leave no
 * process behind; the procedure is documented in include/casebisect/supervise.h.
 *
 * How a trial's processes are found is proctree.c's (its design note);
 * what is launched, and what more a launcher ends, is the launcher's
 * (include/casebisect/launch.h).
 */
#include <assert.h>
#include <errno.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "casebisect/launch.h"
#include "casebisect/supervise.h"
#include "casebisect/util.h"
#include "caplog.h"
#include "proctree.h"
#include "sup_command.h"

extern char **environ;

#define POLL_MS 50
#define READ_BUF (64 * 1024)
/* After SIGKILL, how long pipes held open by a process we cannot see may
 * keep a trial from finishing before we close them ourselves. */
#define LAST_RESORT_S 10.0

/* A libuv call that fails only when we misuse it (a NULL callback, a
 * handle of another loop): a programmer error. The call is kept whatever
 * NDEBUG says; asserts stay on in release builds all the same. */
#define UV_MUST(call)                          \
	do {                                   \
		int uv_rc_ = (call);           \
		assert(uv_rc_ == 0 && #call);  \
		(void)uv_rc_;                  \
	} while (0)

struct trial;

struct stream_pipe {
	uv_pipe_t pipe;
	struct trial *t;
	enum cls_stream which;
	bool eof;
	char buf[READ_BUF];
};

enum trial_state { T_RUNNING, T_SETTLING, T_ENDING, T_CLOSING };

struct trial {
	struct pt_trial pt; /* first: the supervisor's list of running trials
			     * links these (trial_of()) */
	struct sup *s;
	int slot;
	int gpu;
	uint64_t number;
	char dir[4000];
	char cmd[256]; /* argv[0], for messages */

	uv_process_t proc;
	struct stream_pipe out, err;
	uv_timer_t t_timeout, t_stall, t_pass_after, t_settle, t_poll;
	int open_handles;

	bool exited;
	int64_t exit_status;
	int term_signal;
	bool term_sent, kill_sent;

	enum trial_state state;
	bool decided;
	enum sup_outcome outcome;
	enum sup_reason reason;
	uint64_t start_ns, ending_ns, failure_ns;

	struct cls *cls;
	char last_batch[4096];
	bool suspects_frozen;
	enum cls_stream failure_stream; /* where the failure line came from */

	struct caplog log[2];
	bool write_failed;  /* a file of it could not be written: write_failed() */

	struct sup_job job; /* as its launcher sees it */

	sup_done_fn *done;
	void *ctx;
	struct sup_result result;
};

struct sup {
	uv_loop_t loop;
	struct sup_options o;
	regex_t pass_re, batch_re;
	bool has_pass_re, has_batch_re;
	size_t nslots;
	bool *slot_busy;
	bool *slot_retired;  /* its device failed a health probe: never again */
	int *slot_gpu;
	struct pt_trial *running; /* the running trials (trial_of()) */
	size_t nrunning;
	bool stopping;
	int interrupted; /* 1: ending trials gracefully; 2: killing them now */
	int signals_seen;
	bool in_run;     /* inside uv_run: signals arrive by themselves */
	uv_signal_t sig[3];
	uv_timer_t heartbeat; /* unreferenced: it beats only while trials run */
	bool has_heartbeat;
	const struct sup_launcher_ops *ops;
	void *launcher; /* ops->init's state */
	struct sup *next_live; /* in live_sups */
};

static struct trial *trial_of(struct pt_trial *p)
{
	return (struct trial *)(void *)p; /* pt comes first */
}

/* Looks for t's processes and sends them sig (0: none); how many there are. */
static size_t scan(struct trial *t, int sig)
{
	return pt_scan(&t->pt, t->s->running, sig);
}

static void poll_signals(struct sup *s);

/* ---- ending a trial ---- */

static double elapsed_s(uint64_t since_ns)
{
	return (double)(uv_hrtime() - since_ns) / 1e9;
}

static void decide(struct trial *t, enum sup_outcome o, enum sup_reason r)
{
	if (t->decided)
		return;
	t->decided = true;
	t->outcome = o;
	t->reason = r;
}

static void finish(struct trial *t);

static void stop_running_timers(struct trial *t)
{
	uv_timer_stop(&t->t_timeout);
	uv_timer_stop(&t->t_stall);
	uv_timer_stop(&t->t_pass_after);
	uv_timer_stop(&t->t_settle);
}

static bool pipes_done(const struct trial *t)
{
	return t->out.eof && t->err.eof;
}

/* One step of the end: reap, count, escalate, or finish. */
static void end_step(struct trial *t)
{
	double since = elapsed_s(t->ending_ns);
	size_t left;

	if (!t->kill_sent && (since >= t->s->o.limits.grace_s || t->s->interrupted > 1))
		t->kill_sent = true;
	/* Once killing, every look kills: a process that one look missed
	 * (scan_trial() says when) must not keep the trial waiting for ever. */
	left = scan(t, t->kill_sent ? SIGKILL : 0);
	if (!left && t->kill_sent && !pipes_done(t) && since >= t->s->o.limits.grace_s + LAST_RESORT_S) {
		/* Something we cannot see holds the pipes; stop waiting. */
		t->out.eof = t->err.eof = true;
		uv_read_stop((uv_stream_t *)&t->out.pipe);
		uv_read_stop((uv_stream_t *)&t->err.pipe);
	}
	if (!left && (t->exited || !t->pt.spawned) && pipes_done(t) &&
	    (!t->s->ops->done || t->s->ops->done(&t->job, t->pt.spawned, since)))
		finish(t);
}

/* The launcher has news (ops->done may now say yes). */
static void on_wake(struct sup_job *j)
{
	struct trial *t = (struct trial *)(void *)((char *)j - offsetof(struct trial, job));

	if (t->state >= T_ENDING)
		end_step(t);
}

static void on_poll(uv_timer_t *h)
{
	end_step(h->data);
}

static void begin_end(struct trial *t)
{
	bool launcher_ends;

	if (t->state >= T_ENDING)
		return;
	t->state = T_ENDING;
	t->ending_ns = uv_hrtime();
	stop_running_timers(t);
	/* The launcher may end it its own way (and SIGKILL after grace all the
	 * same). */
	launcher_ends = t->s->ops->end && t->pt.spawned && t->s->ops->end(&t->job, !t->exited);
	if (!t->exited || scan(t, 0)) {
		t->term_sent = true;
		if (t->s->interrupted > 1) {
			t->kill_sent = true;
			scan(t, SIGKILL);
		} else if (!launcher_ends) {
			scan(t, SIGTERM);
		}
	}
	UV_MUST(uv_timer_start(&t->t_poll, on_poll, 0, POLL_MS));
}

/* A file of the trial could not be written (err names it). Its logs or
 * result would be missing, so its outcome cannot be recorded: it is ended
 * at once, as UNRESOLVED with reason SUP_R_WRITE_ERROR, whatever it did. */
static void write_failed(struct trial *t, const char *err)
{
	if (!t->write_failed)
		cb_strlcpy(t->result.error, err, sizeof(t->result.error));
	t->write_failed = true;
	t->decided = true;
	t->outcome = t->result.outcome = SUP_UNRESOLVED;
	t->reason = t->result.reason = SUP_R_WRITE_ERROR;
	if (t->pt.spawned && t->state < T_ENDING)
		begin_end(t);
}

/* Log i of t (0: stdout) could not be written. */
static void log_failed(struct trial *t, int i)
{
	char msg[4400];

	snprintf(msg, sizeof(msg), "%s: cannot write: %s",
		 i ? t->result.stderr_log : t->result.stdout_log, strerror(t->log[i].error));
	write_failed(t, msg);
}

/* The main process has exited: whatever it left behind (workers that hold
 * the pipes open, say) is ended by the same procedure. */
static void progress(struct trial *t)
{
	if (t->state >= T_ENDING || !t->exited)
		return;
	begin_end(t);
}

static void on_settle(uv_timer_t *h)
{
	begin_end(h->data);
}

static void on_timeout(uv_timer_t *h)
{
	struct trial *t = h->data;

	decide(t, SUP_UNRESOLVED, SUP_R_TIMEOUT);
	begin_end(t);
}

/* A limit in seconds as libuv's milliseconds. The options are checked at
 * parse time (at most 30 days), but run.json can be edited by hand before a
 * resume: 1e23 s would overflow the conversion and fire at once. */
static uint64_t timer_ms(double s)
{
	const double most = 86400.0 * 365;

	if (!(s > 0))
		return 0;
	return (uint64_t)((s < most ? s : most) * 1000);
}

static void on_stall(uv_timer_t *h)
{
	struct trial *t = h->data;

	decide(t, SUP_UNRESOLVED, SUP_R_STALL);
	begin_end(t);
}

static void on_pass_after(uv_timer_t *h)
{
	struct trial *t = h->data;

	if (t->suspects_frozen)
		return; /* a failure was seen: not a pass */
	decide(t, SUP_PASS, SUP_R_PASS_AFTER);
	begin_end(t);
}

/* ---- output ---- */

static bool matches_target(const struct sup *s, const struct cls_signature *sig)
{
	if (sig->klass == CLS_NONE)
		return false;
	if (!s->o.target)
		return true;
	return cls_fingerprint(sig, s->o.match) == cls_fingerprint(s->o.target, s->o.match);
}

static void start_job_timers(struct trial *t)
{
	struct sup *s = t->s;

	if (s->o.limits.stall_s > 0)
		UV_MUST(uv_timer_start(&t->t_stall, on_stall, timer_ms(s->o.limits.stall_s), 0));
	if (s->o.limits.pass_after_s > 0)
		UV_MUST(uv_timer_start(&t->t_pass_after, on_pass_after,
				       timer_ms(s->o.limits.pass_after_s), 0));
}

/* What the launcher reads in a line: its job runs now, or the launcher
 * (its scheduler) ended it. */
static void launcher_line(struct trial *t, const char *line, size_t len)
{
	enum sup_reason reason = SUP_R_OTHER_FAILURE;

	switch (t->s->ops->on_line(&t->job, line, len, &reason)) {
	case SUP_LINE_NONE:
		return;
	case SUP_LINE_STARTED:
		if (t->state == T_RUNNING)
			start_job_timers(t);
		if (t->s->o.hooks.started)
			t->s->o.hooks.started(t->s->o.hooks.ctx, &t->result);
		return;
	case SUP_LINE_ENDED:
		break;
	}
	if (t->decided || t->state != T_RUNNING)
		return; /* ended already (by us, or by a failure): the launcher only follows */
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	cb_utf8_copy(t->result.error, sizeof(t->result.error), line, len);
	decide(t, SUP_UNRESOLVED, reason);
	begin_end(t);
}

/* stdout and stderr are two pipes: a batch line the trainer wrote to one
 * just before the failure it wrote to the other may be read just after
 * it. A batch line from the other stream within LATE_BATCH_MS of the
 * failure still names the suspects (a dying trainer starts no new step). */
#define LATE_BATCH_MS 100
static bool late_batch(const struct trial *t, enum cls_stream stream)
{
	return t->suspects_frozen && stream != t->failure_stream &&
	       uv_hrtime() - t->failure_ns < (uint64_t)LATE_BATCH_MS * 1000000;
}

static bool name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Where the marker stands in line as a word of its own (nothing of a name
 * touching it on either side), or NULL. A plain substring match would take
 * "CASEBISECT_PASSES='0': expected a whole number" (the probe's own usage
 * error) or an echo of CASEBISECT_BATCH_SIZE for the marker, and a failed
 * trial would count as a PASS. A prefix such as a logger's timestamp is
 * allowed: trainers print through their loggers. */
static const char *marker_in(const char *line, size_t len, const char *marker)
{
	size_t mlen = strlen(marker);
	const char *p = line, *end = line + len, *m;

	while ((m = memmem(p, (size_t)(end - p), marker, mlen))) {
		bool left = m == line || !name_char(m[-1]);
		bool right = m + mlen == end || !name_char(m[mlen]);

		if (left && right)
			return m;
		p = m + 1;
	}
	return NULL;
}

/* The classifier hands each line here: markers, patterns, suspects. */
static void on_line(void *ctx, enum cls_stream stream, const char *line, size_t len)
{
	struct trial *t = ctx;
	struct sup *s = t->s;
	char *text = NULL;
	const char *m;

	(void)stream;
	if (s->ops->on_line)
		launcher_line(t, line, len);
	if (!t->suspects_frozen && cls_failed(t->cls)) {
		t->suspects_frozen = true;
		t->failure_ns = uv_hrtime();
		t->failure_stream = stream;
		cb_strlcpy(t->result.suspects, t->last_batch, sizeof(t->result.suspects));
	}
	if (s->has_pass_re || s->has_batch_re) {
		text = xmalloc(len + 1);
		memcpy(text, line, len);
		text[len] = '\0';
	}
	if (!t->suspects_frozen || late_batch(t, stream)) {
		if (s->has_batch_re) {
			regmatch_t g[2];

			if (!regexec(&s->batch_re, text, 2, g, 0) && g[1].rm_so >= 0) {
				size_t n = (size_t)(g[1].rm_eo - g[1].rm_so);

				/* Valid UTF-8, as the evidence is: the suspects go
				 * into journal.jsonl and trial --json as they are. */
				cb_utf8_copy(t->last_batch, sizeof(t->last_batch), text + g[1].rm_so, n);
			}
		} else if ((m = marker_in(line, len, "CASEBISECT_BATCH"))) {
			size_t off = (size_t)(m - line) + 16, n;

			while (off < len && (line[off] == ' ' || line[off] == '\t'))
				off++;
			cb_utf8_copy(t->last_batch, sizeof(t->last_batch), line + off, len - off);
			n = strlen(t->last_batch);
			while (n && (t->last_batch[n - 1] == ' ' || t->last_batch[n - 1] == '\t'))
				n--;
			t->last_batch[n] = '\0';
		}
		if (t->suspects_frozen) {
			/* a batch line that was on its way when the failure came */
			cb_strlcpy(t->result.suspects, t->last_batch, sizeof(t->result.suspects));
			free(text);
			return;
		}
		if (t->state == T_RUNNING) {
			if (marker_in(line, len, "CASEBISECT_PASS")) {
				decide(t, SUP_PASS, SUP_R_PASS_MARKER);
				begin_end(t);
			} else if (s->has_pass_re && !regexec(&s->pass_re, text, 0, NULL, 0)) {
				decide(t, SUP_PASS, SUP_R_PASS_PATTERN);
				begin_end(t);
			}
		}
	}
	free(text);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct stream_pipe *sp = h->data;

	(void)suggested;
	*buf = uv_buf_init(sp->buf, sizeof(sp->buf));
}

static void on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
	struct stream_pipe *sp = h->data;
	struct trial *t = sp->t;

	if (nread < 0) {
		sp->eof = true;
		uv_read_stop(h);
		if (t->state >= T_ENDING)
			end_step(t);
		else
			progress(t);
		return;
	}
	if (!nread)
		return;
	caplog_append(&t->log[sp->which], buf->base, (size_t)nread);
	if (t->state == T_CLOSING)
		return;
	if (t->log[sp->which].error && !t->write_failed)
		log_failed(t, (int)sp->which);
	cls_feed(t->cls, sp->which, buf->base, (size_t)nread);
	if (t->state == T_RUNNING && t->s->o.limits.stall_s > 0)
		UV_MUST(uv_timer_start(&t->t_stall, on_stall, timer_ms(t->s->o.limits.stall_s), 0));
	if (t->state == T_RUNNING && t->suspects_frozen) {
		struct cls_signature sig;

		cls_result(t->cls, &sig);
		if (matches_target(t->s, &sig)) {
			decide(t, SUP_FAIL, SUP_R_FAILURE);
			t->state = T_SETTLING;
			uv_timer_stop(&t->t_stall);
			uv_timer_stop(&t->t_pass_after);
			UV_MUST(uv_timer_start(&t->t_settle, on_settle,
					       timer_ms(t->s->o.limits.settle_s), 0));
		}
	}
	if (t->state == T_SETTLING && t->exited && pipes_done(t))
		begin_end(t);
}

static void on_process_exit(uv_process_t *p, int64_t status, int term_signal)
{
	struct trial *t = p->data;

	t->exited = true;
	t->exit_status = status;
	t->term_signal = term_signal;
	if (t->state >= T_ENDING)
		end_step(t);
	else if (t->state == T_SETTLING && pipes_done(t))
		begin_end(t);
	else
		progress(t);
}

/* ---- the result ---- */

/* TRIAL_DIR/result.json. 0, or -1 with err naming it. */
static int write_result_json(const struct trial *t, char *err, size_t errlen)
{
	char *path = cb_path_join(t->dir, "result.json"), *text = sup_result_json(&t->result, true);
	char *line = cb_fmt("%s\n", text);
	/* Durable: resume reads a finished trial's signature from it. */
	int rc = cb_write_atomic(path, line, strlen(line), CB_WRITE_DURABLE, err, errlen);

	free(line);
	free(text);
	free(path);
	return rc;
}

static void on_handle_closed(uv_handle_t *h)
{
	struct trial *t = h->data;
	struct sup *s;
	struct pt_trial **pp;

	if (--t->open_handles)
		return;
	s = t->s;
	for (pp = &s->running; *pp; pp = &(*pp)->next)
		if (*pp == &t->pt) {
			*pp = t->pt.next;
			break;
		}
	s->nrunning--;
	s->slot_busy[t->slot] = false;
	t->done(t->ctx, &t->result);
	cls_free(t->cls);
	if (s->ops->release_job)
		s->ops->release_job(&t->job);
	pt_release(&t->pt);
	free(t);
}

static void close_handle(struct trial *t, uv_handle_t *h)
{
	h->data = t;
	if (!uv_is_closing(h))
		uv_close(h, on_handle_closed);
}

/* Everything of the trial is gone: classify, record, close. */
static void finish(struct trial *t)
{
	struct sup_result *r = &t->result;
	struct cls_exit ex = { 0 };
	char msg[4400];
	int i;

	if (t->state == T_CLOSING)
		return;
	t->state = T_CLOSING;
	uv_timer_stop(&t->t_poll);

	if (t->pt.spawned) {
		ex.known = true;
		ex.code = (int)t->exit_status;
		ex.signal = t->term_signal;
		ex.sent_by_us = t->term_signal && (t->term_sent || t->kill_sent);
	}
	cls_finish(t->cls, t->pt.spawned ? &ex : NULL);
	cls_result(t->cls, &r->sig);
	/* A failure known only by its exit (a segfault in a loader, an exit 1
	 * with no error line) still names the batch it died in. */
	if (r->sig.klass != CLS_NONE && !t->suspects_frozen)
		cb_strlcpy(r->suspects, t->last_batch, sizeof(r->suspects));
	r->exit_code = t->term_signal ? -1 : (int)t->exit_status;
	r->signal = t->term_signal;
	r->signal_sent_by_us = ex.sent_by_us;
	r->duration_s = elapsed_s(t->start_ns);
	r->first_failure_s = t->failure_ns ? (double)(t->failure_ns - t->start_ns) / 1e9 : -1;
	r->leftovers_killed = t->pt.leftovers_killed;

	if (!t->decided && t->pt.spawned && !t->term_signal &&
	    (t->exit_status == 126 || t->exit_status == 127) && r->sig.klass != CLS_DEVICE_ASSERT) {
		decide(t, SUP_UNRESOLVED,
		       t->exit_status == 127 ? SUP_R_NOT_FOUND : SUP_R_NOT_EXECUTABLE);
		snprintf(r->error, sizeof(r->error), "'%s' exited with %d: %s", t->cmd,
			 (int)t->exit_status,
			 t->exit_status == 127 ? "command not found" : "command not executable");
	}
	if (!t->decided && t->pt.spawned && !t->term_signal && t->exit_status == SUP_EXIT_SKIP) {
		decide(t, SUP_UNRESOLVED, SUP_R_SKIP);
		/* a class known from the exit alone would say it crashed */
		if (r->sig.klass == CLS_OTHER_ERROR && !r->sig.evidence[0])
			r->sig.klass = CLS_NONE;
	}
	if (!t->decided) {
		if (r->sig.klass != CLS_NONE)
			decide(t, matches_target(t->s, &r->sig) ? SUP_FAIL : SUP_UNRESOLVED,
			       matches_target(t->s, &r->sig) ? SUP_R_FAILURE : SUP_R_OTHER_FAILURE);
		else if (!t->term_signal && t->exit_status == 0)
			decide(t, SUP_PASS, SUP_R_EXIT_0);
		else
			decide(t, SUP_UNRESOLVED, SUP_R_OTHER_FAILURE);
	}
	r->outcome = t->outcome;
	r->reason = t->reason;
	for (i = 0; i < 2; i++)
		if (caplog_close(&t->log[i]) && !t->write_failed)
			log_failed(t, i);
	if (write_result_json(t, msg, sizeof(msg)))
		write_failed(t, msg);
	if (t->pt.spawned) {
		char path[4200];

		snprintf(path, sizeof(path), "%s/pgid", t->dir);
		unlink(path);
	}

	close_handle(t, (uv_handle_t *)&t->proc);
	close_handle(t, (uv_handle_t *)&t->out.pipe);
	close_handle(t, (uv_handle_t *)&t->err.pipe);
	close_handle(t, (uv_handle_t *)&t->t_timeout);
	close_handle(t, (uv_handle_t *)&t->t_stall);
	close_handle(t, (uv_handle_t *)&t->t_pass_after);
	close_handle(t, (uv_handle_t *)&t->t_settle);
	close_handle(t, (uv_handle_t *)&t->t_poll);
}

/* ---- starting ---- */

/* dir/name holding v[0..n), a line each. 0, or -1 with err naming it. */
static int write_lines(const char *dir, const char *name, const char *const *v, size_t n,
		       char *err, size_t errlen)
{
	char *path = cb_path_join(dir, name), *text;
	size_t len = 0, i;
	int rc;

	for (i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	text = xmalloc(len + 1);
	for (len = 0, i = 0; i < n; i++) {
		size_t k = strlen(v[i]);

		memcpy(text + len, v[i], k);
		text[len + k] = '\n';
		len += k + 1;
	}
	rc = cb_write_atomic(path, text, len, 0, err, errlen);
	free(text);
	free(path);
	return rc;
}

/* Writes the variables casebisect set (not the whole environment: it may
 * hold secrets) and the command line into the trial directory. 0, or -1
 * with err naming the file. */
static int write_trial_files(const struct trial *t, const char *const *argv,
			     const char *const *ours, size_t nours, char *err, size_t errlen)
{
	size_t n = 0;

	while (argv[n])
		n++;
	if (write_lines(t->dir, "command.txt", argv, n, err, errlen))
		return -1;
	return write_lines(t->dir, "env.txt", ours, nours, err, errlen);
}

/* TRIAL_DIR/pgid: "PGID STARTTIME SUPERVISOR TRIAL", so that a later
 * casebisect can end what a killed one left running (sup_end_stale()); the
 * start time keeps a reused pid from being hit. Removed when the trial is
 * finished. 0, or -1 with err naming it. */
static int write_pgid_file(const struct trial *t, char *err, size_t errlen)
{
	char *path = cb_path_join(t->dir, "pgid");
	char *text = cb_fmt("%d %llu %d %llu\n", (int)t->pt.pid, pt_start_time(t->pt.pid), (int)getpid(),
			    (unsigned long long)t->number);
	int rc = cb_write_atomic(path, text, strlen(text), 0, err, errlen);

	free(text);
	free(path);
	return rc;
}

static int init_handles(struct sup *s, struct trial *t)
{
	uv_timer_t *timers[] = { &t->t_timeout, &t->t_stall, &t->t_pass_after, &t->t_settle,
				 &t->t_poll };
	size_t i;

	UV_MUST(uv_pipe_init(&s->loop, &t->out.pipe, 0));
	UV_MUST(uv_pipe_init(&s->loop, &t->err.pipe, 0));
	t->out.pipe.data = &t->out;
	t->err.pipe.data = &t->err;
	t->out.t = t->err.t = t;
	t->out.which = CLS_STDOUT;
	t->err.which = CLS_STDERR;
	for (i = 0; i < CB_ARRAY_SIZE(timers); i++) {
		UV_MUST(uv_timer_init(&s->loop, timers[i]));
		timers[i]->data = t;
	}
	t->proc.data = t;
	t->open_handles = 8; /* process, 2 pipes, 5 timers */
	return 0;
}

int sup_start(struct sup *s, const struct sup_trial_spec *spec, sup_done_fn *done, void *ctx,
	      char *err, size_t errlen)
{
	uv_process_options_t po;
	uv_stdio_container_t stdio[3];
	struct sup_env env = { 0 };
	char dev[64], path[4200], **launch = NULL;
	const char *const *base = sup_trial_env(s->o.no_blocking);
	const char **ours;
	size_t nours = 0, slot, i;
	struct trial *t;
	int rc;

	poll_signals(s);
	if (s->stopping) {
		snprintf(err, errlen, "stopping: no new trials");
		return -1;
	}
	for (slot = 0; slot < s->nslots && (s->slot_busy[slot] || s->slot_retired[slot]); slot++)
		;
	if (slot == s->nslots) {
		snprintf(err, errlen, "no free slot (%zu running)", s->nrunning);
		return -1;
	}
	t = xcalloc(1, sizeof(*t));
	t->s = s;
	t->slot = (int)slot;
	t->gpu = s->slot_gpu[slot];
	t->number = spec->number;
	t->done = done;
	t->ctx = ctx;
	sup_result_init(&t->result, spec->number);
	t->result.slot = t->slot;
	t->result.gpu = t->gpu;
	cb_strlcpy(t->dir, spec->trial_dir, sizeof(t->dir));
	cb_strlcpy(t->cmd, spec->argv[0] ? spec->argv[0] : "", sizeof(t->cmd));
	snprintf(t->pt.trial_marker, sizeof(t->pt.trial_marker), "CASEBISECT_TRIAL=%llu",
		 (unsigned long long)spec->number);
	snprintf(t->pt.sup_marker, sizeof(t->pt.sup_marker), "CASEBISECT_SUPERVISOR=%d",
		 (int)getpid());
	t->pt.group_only = s->ops->group_only;
	t->job.loop = &s->loop;
	t->job.launcher = s->launcher;
	t->job.number = spec->number;
	t->job.result = &t->result;
	t->job.give_up_s = s->o.limits.grace_s + LAST_RESORT_S;
	t->job.wake = on_wake;

	snprintf(t->result.stdout_log, sizeof(t->result.stdout_log), "%s/stdout.log", t->dir);
	snprintf(t->result.stderr_log, sizeof(t->result.stderr_log), "%s/stderr.log", t->dir);
	if (caplog_open(&t->log[0], t->result.stdout_log, s->o.limits.log_head,
			s->o.limits.log_tail) ||
	    caplog_open(&t->log[1], t->result.stderr_log, s->o.limits.log_head,
			s->o.limits.log_tail)) {
		snprintf(err, errlen, "%s: cannot write: %s",
			 t->log[0].fd < 0 ? t->result.stdout_log : t->result.stderr_log,
			 strerror(errno));
		if (t->log[0].fd >= 0)
			close(t->log[0].fd);
		free(t);
		return -1;
	}
	t->cls = cls_new();
	cls_set_line_hook(t->cls, on_line, t);

	/* the environment, in order of precedence (later wins). No entry may
	 * be dropped: the view's nnUNet_* come last, and without them the
	 * trainer would use the user's real folders. */
	for (i = 0; environ[i]; i++)
		sup_env_set(&env, environ[i]);
	if (s->o.no_blocking)
		sup_env_unset(&env, "CUDA_LAUNCH_BLOCKING");
	ours = xcalloc(sup_count_strings(base) + 3 + sup_count_strings(s->o.env) +
			       sup_count_strings(spec->env),
		       sizeof(*ours));
	for (i = 0; base[i]; i++)
		ours[nours++] = base[i];
	ours[nours++] = t->pt.trial_marker;
	ours[nours++] = t->pt.sup_marker;
	if (t->gpu >= 0) {
		snprintf(dev, sizeof(dev), "CUDA_VISIBLE_DEVICES=%d", t->gpu);
		ours[nours++] = dev;
	}
	for (i = 0; s->o.env && s->o.env[i]; i++)
		ours[nours++] = s->o.env[i];
	for (i = 0; spec->env && spec->env[i]; i++)
		ours[nours++] = spec->env[i];
	for (i = 0; i < nours; i++)
		sup_env_set(&env, ours[i]);
	for (i = 0; s->ops->env_drop && s->ops->env_drop[i]; i++)
		sup_env_unset(&env, s->ops->env_drop[i]);
	if (s->ops->spawn_argv)
		launch = s->ops->spawn_argv(&t->job, spec);
	rc = write_trial_files(t, launch ? (const char *const *)launch : spec->argv, ours, nours,
			       err, errlen);
	free(ours);
	if (rc) {
		close(t->log[0].fd);
		close(t->log[1].fd);
		cls_free(t->cls);
		sup_env_release(&env);
		sup_argv_free(launch);
		if (s->ops->release_job)
			s->ops->release_job(&t->job);
		free(t);
		return -1;
	}

	init_handles(s, t);
	memset(&po, 0, sizeof(po));
	stdio[0].flags = UV_IGNORE; /* /dev/null */
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&t->out.pipe;
	stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[2].data.stream = (uv_stream_t *)&t->err.pipe;
	po.exit_cb = on_process_exit;
	po.file = launch ? launch[0] : spec->argv[0];
	po.args = launch ? launch : (char **)spec->argv;
	po.env = env.v;
	po.cwd = s->o.cwd;
	po.flags = UV_PROCESS_DETACHED; /* own session and process group */
	po.stdio_count = 3;
	po.stdio = stdio;

	t->pt.next = s->running;
	s->running = &t->pt;
	s->nrunning++;
	s->slot_busy[slot] = true;
	t->start_ns = uv_hrtime();

	rc = uv_spawn(&s->loop, &t->proc, &po);
	sup_env_release(&env);
	if (rc) {
		struct sup_result *r = &t->result;
		const char *cmd = launch ? launch[0] : spec->argv[0] ? spec->argv[0] : "";

		decide(t, SUP_UNRESOLVED,
		       rc == UV_ENOENT ? SUP_R_NOT_FOUND :
		       rc == UV_EACCES ? SUP_R_NOT_EXECUTABLE : SUP_R_SPAWN_ERROR);
		snprintf(path, sizeof(path), "cannot run '%s': %s", cmd, uv_strerror(rc));
		cb_strlcpy(r->error, path, sizeof(r->error));
		t->out.eof = t->err.eof = true;
		t->state = T_ENDING;
		UV_MUST(uv_timer_start(&t->t_poll, on_poll, 0, POLL_MS));
		sup_argv_free(launch);
		return 0;
	}
	sup_argv_free(launch);
	t->pt.spawned = true;
	t->pt.pid = t->proc.pid;
	/* Not seen with fresh pipes; a pipe that cannot be read counts as
	 * at its end, and the trial ends by the usual procedure. */
	if (uv_read_start((uv_stream_t *)&t->out.pipe, on_alloc, on_read))
		t->out.eof = true;
	if (uv_read_start((uv_stream_t *)&t->err.pipe, on_alloc, on_read))
		t->err.eof = true;
	if (write_pgid_file(t, path, sizeof(path))) {
		write_failed(t, path); /* ends it: no timer to start */
		return 0;
	}
	if (s->o.limits.timeout_s > 0)
		UV_MUST(uv_timer_start(&t->t_timeout, on_timeout, timer_ms(s->o.limits.timeout_s), 0));
	if (!s->ops->wait_start)
		start_job_timers(t); /* else once the job runs (launcher_line()) */
	return 0;
}

/* ---- the supervisor ---- */

static void on_heartbeat(uv_timer_t *h)
{
	struct sup *s = h->data;

	if (s->nrunning)
		s->o.hooks.heartbeat(s->o.hooks.ctx);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct sup *s = h->data;

	char text[128];

	s->signals_seen++;
	snprintf(text, sizeof(text), "%s: ending the running trials%s", strsignal(signum),
		 s->signals_seen > 1 ? " now" : " (again to kill them at once)");
	if (s->o.hooks.signal)
		s->o.hooks.signal(s->o.hooks.ctx, text);
	else
		fprintf(stderr, "casebisect: %s\n", text);
	sup_stop(s, s->signals_seen > 1 && signum == SIGINT);
}

/* Every supervisor between sup_new and sup_free, for die_hook(). */
static struct sup *live_sups;

/* die() is about to exit: no grace, SIGKILL to every running trial, so a
 * fatal error (out of memory, say) leaves no trainer behind. The group
 * first, by the main process's pid, which stays ours until libuv reaps it;
 * then the scan, which may fail for want of memory. A launcher's jobs
 * (group_only) are left to it: starting scancel is more than a dying
 * process should try. */
static void die_hook(void)
{
	struct sup *s;
	struct pt_trial *p;

	for (s = live_sups; s; s = s->next_live)
		for (p = s->running; p; p = p->next) {
			if (!p->spawned || p->group_only)
				continue;
			if (!trial_of(p)->exited)
				kill(-p->pid, SIGKILL);
			scan(trial_of(p), SIGKILL);
		}
}

struct sup *sup_new(const struct sup_options *opts, char *err, size_t errlen)
{
	struct sup *s = xcalloc(1, sizeof(*s));
	size_t i, per_gpu = opts->per_gpu ? opts->per_gpu : 1, cap;
	int rc;

	s->o = *opts;
	if (s->o.limits.grace_s <= 0)
		s->o.limits.grace_s = 10;
	s->ops = sup_launcher_ops(opts->launcher);
	if (s->ops->init && s->ops->init(&s->launcher, opts, err, errlen))
		goto fail;
	if (sup_compile_patterns(opts->pass_pattern, &s->pass_re, opts->batch_pattern, &s->batch_re,
			     err, errlen))
		goto fail;
	s->has_pass_re = opts->pass_pattern != NULL;
	s->has_batch_re = opts->batch_pattern != NULL;
	if ((rc = uv_loop_init(&s->loop))) {
		snprintf(err, errlen, "cannot start the supervisor: %s", uv_strerror(rc));
		goto fail;
	}
	cap = opts->ngpus ? opts->ngpus * per_gpu : 1;
	s->nslots = opts->jobs ? opts->jobs : cap;
	if (opts->ngpus && s->nslots > cap)
		s->nslots = cap;
	s->slot_busy = xcalloc(s->nslots, sizeof(*s->slot_busy));
	s->slot_retired = xcalloc(s->nslots, sizeof(*s->slot_retired));
	s->slot_gpu = xcalloc(s->nslots, sizeof(*s->slot_gpu));
	for (i = 0; i < s->nslots; i++)
		s->slot_gpu[i] = opts->ngpus ? opts->gpus[i % opts->ngpus] : -1; /* spread first */
	/* An ignored signal stays ignored across exec. libuv resets 1..31 in
	 * the child; real-time ones we reset here (casebisect uses none). */
	for (i = (size_t)SIGRTMIN; i <= (size_t)SIGRTMAX; i++) {
		struct sigaction sa;

		if (!sigaction((int)i, NULL, &sa) && sa.sa_handler == SIG_IGN)
			signal((int)i, SIG_DFL);
	}
	/* Orphans of a trial come back to us, so they can be found and reaped. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	s->next_live = live_sups;
	live_sups = s;
	cb_at_die(die_hook);
	for (i = 0; i < CB_ARRAY_SIZE(s->sig); i++) {
		static const int signums[] = { SIGINT, SIGTERM, SIGHUP };

		UV_MUST(uv_signal_init(&s->loop, &s->sig[i]));
		s->sig[i].data = s;
		/* fails only for a bad signal number */
		UV_MUST(uv_signal_start(&s->sig[i], on_signal, signums[i]));
		uv_unref((uv_handle_t *)&s->sig[i]);
	}
	if (opts->hooks.heartbeat && opts->hooks.heartbeat_s > 0) {
		uint64_t ms = timer_ms(opts->hooks.heartbeat_s);

		UV_MUST(uv_timer_init(&s->loop, &s->heartbeat));
		s->heartbeat.data = s;
		UV_MUST(uv_timer_start(&s->heartbeat, on_heartbeat, ms, ms));
		uv_unref((uv_handle_t *)&s->heartbeat);
		s->has_heartbeat = true;
	}
	return s;
fail:
	if (s->has_pass_re)
		regfree(&s->pass_re);
	if (s->has_batch_re)
		regfree(&s->batch_re);
	if (s->ops->release)
		s->ops->release(s->launcher);
	free(s);
	return NULL;
}

/* Running trial number, or NULL. */
static const struct trial *running_trial(const struct sup *s, uint64_t number)
{
	const struct pt_trial *p;

	for (p = s->running; p; p = p->next)
		if (trial_of((struct pt_trial *)p)->number == number)
			return trial_of((struct pt_trial *)p);
	return NULL;
}

int sup_trial_slot(const struct sup *s, uint64_t number)
{
	const struct trial *t = running_trial(s, number);

	return t ? t->slot : -1;
}

int sup_trial_gpu(const struct sup *s, uint64_t number)
{
	const struct trial *t = running_trial(s, number);

	return t ? t->gpu : -1;
}

size_t sup_free_slots(const struct sup *s)
{
	size_t i, n = 0;

	for (i = 0; i < s->nslots; i++)
		n += !s->slot_busy[i] && !s->slot_retired[i];
	return n;
}

size_t sup_retire_gpu(struct sup *s, int gpu)
{
	size_t i, left = 0;

	for (i = 0; i < s->nslots; i++) {
		if (s->slot_gpu[i] == gpu)
			s->slot_retired[i] = true;
		left += !s->slot_retired[i];
	}
	return left;
}

void sup_restore_gpu(struct sup *s, int gpu)
{
	size_t i;

	for (i = 0; i < s->nslots; i++)
		if (s->slot_gpu[i] == gpu)
			s->slot_retired[i] = false;
}

struct uv_loop_s *sup_loop(struct sup *s)
{
	return &s->loop;
}

void sup_stop(struct sup *s, bool now)
{
	struct pt_trial *p;

	s->stopping = true;
	if (now && s->interrupted < 2)
		s->interrupted = 2;
	else if (!s->interrupted)
		s->interrupted = 1;
	for (p = s->running; p; p = p->next) {
		struct trial *t = trial_of(p);

		if (t->state == T_CLOSING)
			continue;
		decide(t, SUP_UNRESOLVED, SUP_R_INTERRUPTED);
		if (t->state >= T_ENDING) {
			if (now && !t->kill_sent) {
				t->kill_sent = true;
				scan(t, SIGKILL);
			}
		} else {
			begin_end(t);
		}
	}
}


/* The signal watchers live as long as the supervisor, unreferenced so
 * that they never keep the loop running; a signal that arrives while no
 * loop runs (between trials) waits in libuv's pipe, and this takes it in. */
static void poll_signals(struct sup *s)
{
	size_t i;

	if (s->in_run)
		return; /* uv_run is not reentrant; the running loop delivers them */
	for (i = 0; i < CB_ARRAY_SIZE(s->sig); i++)
		uv_ref((uv_handle_t *)&s->sig[i]);
	uv_run(&s->loop, UV_RUN_NOWAIT);
	for (i = 0; i < CB_ARRAY_SIZE(s->sig); i++)
		uv_unref((uv_handle_t *)&s->sig[i]);
}

bool sup_interrupted(struct sup *s)
{
	poll_signals(s);
	return s->interrupted != 0;
}

int sup_run(struct sup *s)
{
	s->in_run = true;
	uv_run(&s->loop, UV_RUN_DEFAULT);
	s->in_run = false;
	poll_signals(s);
	return s->interrupted ? 1 : 0;
}

void sup_free(struct sup *s)
{
	struct sup **link;
	size_t i;

	if (!s)
		return;
	if (s->nrunning)
		die("sup_free with %zu trials running", s->nrunning);
	for (link = &live_sups; *link; link = &(*link)->next_live)
		if (*link == s) {
			*link = s->next_live;
			break;
		}
	for (i = 0; i < CB_ARRAY_SIZE(s->sig); i++)
		uv_close((uv_handle_t *)&s->sig[i], NULL);
	if (s->has_heartbeat)
		uv_close((uv_handle_t *)&s->heartbeat, NULL);
	uv_run(&s->loop, UV_RUN_DEFAULT); /* let close callbacks run */
	if (uv_loop_close(&s->loop))
		die("supervise: a libuv handle was left open");
	if (s->has_pass_re)
		regfree(&s->pass_re);
	if (s->has_batch_re)
		regfree(&s->batch_re);
	free(s->slot_busy);
	free(s->slot_retired);
	free(s->slot_gpu);
	if (s->ops->release)
		s->ops->release(s->launcher);
	free(s);
}

const char *sup_exclude_node(struct sup *s, const char *node)
{
	return s->ops->exclude ? s->ops->exclude(s->launcher, node) : "";
}


