/* supervise: trials on libuv that always end, are classified, and leave no
 * process behind; the procedure is documented in include/casebisect/supervise.h.
 *
 * Design note: finding a trial's processes. A trial's process group holds
 * the main process and the workers it forks, but a worker may leave it with
 * setsid, and orphans are re-parented to us (we are a child subreaper), not
 * to their group's leader. What a descendant usually keeps is the environment it
 * was exec'd with, so a process belongs to trial n of this supervisor when it
 * is in the trial's group or its /proc/PID/environ holds both
 * CASEBISECT_TRIAL=n and CASEBISECT_SUPERVISOR=<our pid>. Unless it exec'd
 * with an environment of its own (`setsid env -i`): then what is left is
 * its parent, us once the process between died, and every such adopted
 * orphan that is not another running trial's is taken for the ending
 * trial's (adopted_orphan()). While a trial ends, a poll timer looks for
 * them, signals them, and reaps those that are our children by pid (libuv
 * reaps the main process itself).
 *
 * Where it looks: only among our own descendants (scan_trial()). Whatever
 * a trial forks stays below us, setsid'd, double-forked or orphaned, since
 * we are its subreaper; so a look costs what our tree holds, not what the
 * machine runs (a shared GPU node has thousands of processes). A process
 * outside our tree is never a trial's, even with its markers: only a
 * service the trainer asked to start something could have made it, and it
 * is that service's. On a kernel without children files in /proc the look
 * scans all of /proc instead, and then finds those too. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "casebisect/json.h"
#include "casebisect/slurm.h"
#include "casebisect/supervise.h"
#include "casebisect/util.h"

extern char **environ;

#define POLL_MS 50
#define READ_BUF (64 * 1024)
/* After SIGKILL, how long pipes held open by a process we cannot see may
 * keep a trial from finishing before we close them ourselves. */
#define LAST_RESORT_S 10.0
/* Between two squeue calls while a Slurm job is ending. */
#define SQUEUE_EVERY_S 0.25

/* The first log_head bytes of a stream go to its file as they come; after
 * that only the last log_tail bytes are kept, in a ring, and written after a
 * line that marks the cut when the stream ends. */
struct capped_log {
	int fd;
	size_t head_cap, tail_cap;
	size_t head;      /* bytes written to the file */
	uint64_t total;   /* bytes seen */
	char *ring;       /* tail_cap bytes, allocated when the head is full */
	size_t ring_pos;  /* where the next byte goes */
	size_t ring_len;  /* bytes held (<= tail_cap) */
	int error;        /* first write error (errno), 0 when none */
};

/* A set of pids that keeps the order they came in: the queue of a walk
 * down our process tree, and the processes a trial's end has SIGKILLed. */
struct pidset {
	pid_t *v;     /* in the order added */
	size_t n;
	pid_t *slot;  /* open addressing on the pid; 0: empty */
	size_t nslot; /* 0, or a power of two of at least 2 * (n + 1) */
};

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
	struct sup *s;
	struct trial *next; /* in the supervisor's list of running trials */
	int slot;
	int gpu;
	uint64_t number;
	char dir[4000];
	char cmd[256]; /* argv[0], for messages */

	uv_process_t proc;
	struct stream_pipe out, err;
	uv_timer_t t_timeout, t_stall, t_pass_after, t_settle, t_poll;
	int open_handles;

	pid_t pid;
	bool spawned, exited;
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
	char trial_marker[64], sup_marker[64];

	struct capped_log log[2];
	struct pidset killed; /* SIGKILLed while it ended: leftovers_killed counts them once */
	bool write_failed;  /* a file of it could not be written: write_failed() */

	/* --launcher slurm */
	char job_name[256];
	bool job_started;     /* the wrapper's line came: the job runs */
	bool scancel_sent;
	bool slurm_gone;      /* squeue no longer lists the job */
	int slurm_cmds;       /* squeue/scancel in flight for it */
	bool query_running;
	uint64_t last_query_ns;

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
	struct trial *running;
	size_t nrunning;
	bool stopping;
	int interrupted; /* 1: ending trials gracefully; 2: killing them now */
	int signals_seen;
	bool in_run;     /* inside uv_run: signals arrive by themselves */
	uv_signal_t sig[3];
	char **slurm_words; /* --slurm-args, split */
	char *exclude;      /* nodes excluded, comma separated */
	struct slurm_cmd *cmds; /* squeue and scancel in flight */
	char uid[32];
	struct sup *next_live; /* in live_sups */
};

/* A Slurm command run for a trial (squeue, scancel), on the loop. */
struct slurm_cmd {
	struct slurm_cmd *next;
	uv_process_t proc;
	uv_pipe_t out;
	struct trial *t;
	bool query;      /* squeue: its output says whether the job is listed */
	bool spawned;
	int handles;
	int64_t status;
	size_t len;
	char buf[8192];
};

static void poll_signals(struct sup *s);

/* ---- names ---- */

static const char *const outcome_names[] = { "PASS", "FAIL", "UNRESOLVED" };
static const char *const reason_names[SUP_R__COUNT] = {
	[SUP_R_EXIT_0] = "exit_0",
	[SUP_R_PASS_MARKER] = "pass_marker",
	[SUP_R_PASS_PATTERN] = "pass_pattern",
	[SUP_R_PASS_AFTER] = "pass_after",
	[SUP_R_FAILURE] = "failure",
	[SUP_R_OTHER_FAILURE] = "other_failure",
	[SUP_R_TIMEOUT] = "timeout",
	[SUP_R_STALL] = "stall",
	[SUP_R_INTERRUPTED] = "interrupted",
	[SUP_R_NOT_FOUND] = "command_not_found",
	[SUP_R_NOT_EXECUTABLE] = "command_not_executable",
	[SUP_R_SPAWN_ERROR] = "spawn_error",
	[SUP_R_SLURM_TIMEOUT] = "slurm_timeout",
	[SUP_R_SLURM_CANCELLED] = "slurm_cancelled",
	[SUP_R_SLURM_NODE_FAIL] = "slurm_node_fail",
	[SUP_R_SLURM_PREEMPTED] = "slurm_preempted",
	[SUP_R_SLURM_OOM] = "slurm_oom",
	[SUP_R_SLURM_ALLOC] = "slurm_alloc_failed",
	[SUP_R_SLURM_CONFIG] = "slurm_config_error",
	[SUP_R_WRITE_ERROR] = "write_error",
};

int sup_launcher_parse(const char *name, enum sup_launcher *out)
{
	if (!strcmp(name, "local"))
		*out = SUP_LAUNCH_LOCAL;
	else if (!strcmp(name, "slurm"))
		*out = SUP_LAUNCH_SLURM;
	else
		return -1;
	return 0;
}

const char *sup_outcome_name(enum sup_outcome o)
{
	return (unsigned)o < CB_ARRAY_SIZE(outcome_names) ? outcome_names[o] : "?";
}

const char *sup_reason_name(enum sup_reason r)
{
	return (unsigned)r < SUP_R__COUNT ? reason_names[r] : "?";
}

/* ---- capped logs ---- */

static void write_all(struct capped_log *l, const char *p, size_t n)
{
	if (!l->error && cb_write_all(l->fd, p, n) < 0)
		l->error = errno;
}

static int log_open(struct capped_log *l, const char *path, size_t head, size_t tail)
{
	memset(l, 0, sizeof(*l));
	l->head_cap = head;
	l->tail_cap = tail;
	l->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	return l->fd < 0 ? -1 : 0;
}

static void log_append(struct capped_log *l, const char *p, size_t n)
{
	l->total += n;
	if (l->head < l->head_cap) {
		size_t take = n < l->head_cap - l->head ? n : l->head_cap - l->head;

		write_all(l, p, take);
		l->head += take;
		p += take;
		n -= take;
	}
	if (!n || !l->tail_cap)
		return;
	if (!l->ring)
		l->ring = xmalloc(l->tail_cap);
	if (n >= l->tail_cap) {
		memcpy(l->ring, p + n - l->tail_cap, l->tail_cap);
		l->ring_pos = 0;
		l->ring_len = l->tail_cap;
		return;
	}
	while (n) {
		size_t room = l->tail_cap - l->ring_pos, take = n < room ? n : room;

		memcpy(l->ring + l->ring_pos, p, take);
		l->ring_pos = (l->ring_pos + take) % l->tail_cap;
		l->ring_len = l->ring_len + take > l->tail_cap ? l->tail_cap : l->ring_len + take;
		p += take;
		n -= take;
	}
}

/* Writes the tail after a line that says what was cut, and closes. */
static int log_close(struct capped_log *l)
{
	uint64_t cut = l->total - l->head - l->ring_len;
	int err;

	if (l->fd < 0)
		return 0;
	if (l->ring_len) {
		char mark[160];
		size_t start = (l->ring_pos + l->tail_cap - l->ring_len) % l->tail_cap;
		size_t first = l->ring_len < l->tail_cap - start ? l->ring_len : l->tail_cap - start;
		int n = snprintf(mark, sizeof(mark),
				 "\n[casebisect: %llu bytes cut here; the last %zu bytes follow]\n",
				 (unsigned long long)cut, l->ring_len);

		if (cut)
			write_all(l, mark, (size_t)n);
		write_all(l, l->ring + start, first);
		write_all(l, l->ring, l->ring_len - first);
	}
	free(l->ring);
	l->ring = NULL;
	if (close(l->fd) && !l->error)
		l->error = errno;
	err = l->error;
	l->fd = -1;
	return err ? -1 : 0;
}

/* ---- the processes of a trial ---- */

/* Reads /proc/PID/WHAT into buf (NUL-terminated); its length, or 0. */
static size_t read_proc(pid_t pid, const char *what, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return (size_t)n;
}

/* Does the environment of pid hold both markers of t? */
static bool has_markers(pid_t pid, const struct trial *t)
{
	char buf[65536];
	size_t n = read_proc(pid, "environ", buf, sizeof(buf)), i = 0;
	bool trial = false, sup = false;

	while (i < n) {
		const char *e = buf + i;

		trial = trial || !strcmp(e, t->trial_marker);
		sup = sup || !strcmp(e, t->sup_marker);
		i += strlen(e) + 1;
	}
	return trial && sup;
}

/* What scan_trial() and signal_stale() need of /proc/PID/stat. */
struct proc_stat {
	char state;
	pid_t ppid, pgrp, sid;
	long threads;
};

static bool read_stat(pid_t pid, struct proc_stat *st)
{
	char buf[1024], *p;
	int pp, pg, se;

	if (!read_proc(pid, "stat", buf, sizeof(buf)))
		return false;
	p = strrchr(buf, ')'); /* the command name may hold spaces and ')' */
	/* after ')': state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime priority nice num_threads */
	if (!p || sscanf(p + 1, " %c %d %d %d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %ld",
			 &st->state, &pp, &pg, &se, &st->threads) != 5)
		return false;
	st->ppid = pp;
	st->pgrp = pg;
	st->sid = se;
	return true;
}

/* Field 22 of /proc/PID/stat: when pid started, in clock ticks since boot;
 * with the pid it names a process for good (a reused pid starts later).
 * 0 when pid is gone. */
static unsigned long long start_time(pid_t pid)
{
	char buf[1024], *p;
	unsigned long long t;

	if (!read_proc(pid, "stat", buf, sizeof(buf)) || !(p = strrchr(buf, ')')))
		return 0;
	/* after ')': state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime priority nice threads
	 * itrealvalue starttime */
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
		   "%*d %*d %llu", &t) != 1)
		return 0;
	return t;
}

/* Is pid the main process of a running trial? libuv reaps those. */
static bool is_main_process(const struct sup *s, pid_t pid)
{
	const struct trial *t;
	const struct slurm_cmd *c;

	for (t = s->running; t; t = t->next)
		if (t->spawned && t->pid == pid)
			return true;
	for (c = s->cmds; c; c = c->next)
		if (c->spawned && c->proc.pid == pid)
			return true;
	return false;
}

/* Is a process in this group and session another running trial's (not t's)?
 * Trials start in sessions of their own, so what a trial forks is in its
 * group, or in its session when it made a group of its own. */
static bool other_trials(const struct trial *t, pid_t pgrp, pid_t sid)
{
	const struct trial *u;

	for (u = t->s->running; u; u = u->next)
		if (u != t && u->spawned && (pgrp == u->pid || sid == u->pid))
			return true;
	return false;
}

/*
 * Is pid, a live child of ours, an orphan of t's that we adopted? A process
 * that left the trial's group with setsid and exec'd with an environment of
 * its own (`setsid env -i ...`) keeps nothing that names the trial; only its
 * parent, us, once its own has died. So every adopted orphan is taken for
 * t's unless it is plainly not: a main process (libuv reaps those), one in
 * our own session (we forked it ourselves: trials start in sessions of
 * their own), or one in another running trial's group or session or with
 * its markers. An orphan of another trial that hid as well is ended with t
 * all the same: it is left over there too, and nothing tells them apart.
 */
static bool adopted_orphan(const struct trial *t, pid_t pid, pid_t pgrp, pid_t sid)
{
	const struct trial *u;

	if (is_main_process(t->s, pid) || sid == getsid(0) || other_trials(t, pgrp, sid))
		return false;
	for (u = t->s->running; u; u = u->next)
		if (u != t && u->spawned && has_markers(pid, u))
			return false;
	return true;
}

/* No more pids than a kernel can number (pid_max is at most 2^22): a walk
 * ends whatever it meets, and each pid is looked at once. */
#define PIDSET_MAX ((size_t)1 << 22)

/* Where pid is in set's table, or the empty slot where it goes. */
static pid_t *pidset_slot(const struct pidset *set, pid_t pid)
{
	size_t mask = set->nslot - 1, i = ((size_t)pid * 2654435761u) & mask;

	while (set->slot[i] && set->slot[i] != pid)
		i = (i + 1) & mask;
	return &set->slot[i];
}

/* Adds pid (> 0) to set: 1, or 0 when it was there already, or -1 when
 * there is no room (PIDSET_MAX, or no memory: this runs in die_hook() too,
 * so it fails rather than die). */
static int pidset_add(struct pidset *set, pid_t pid)
{
	size_t i;

	if (set->nslot && *pidset_slot(set, pid) == pid)
		return 0;
	if (2 * (set->n + 1) > set->nslot) {
		size_t nslot = set->nslot ? 2 * set->nslot : 64;
		pid_t *slot, *v;

		if (set->n >= PIDSET_MAX || !(slot = calloc(nslot, sizeof(*slot))))
			return -1;
		if (!(v = realloc(set->v, nslot / 2 * sizeof(*v)))) {
			free(slot);
			return -1;
		}
		free(set->slot);
		set->slot = slot;
		set->v = v;
		set->nslot = nslot;
		for (i = 0; i < set->n; i++)
			*pidset_slot(set, v[i]) = v[i];
	}
	*pidset_slot(set, pid) = pid;
	set->v[set->n++] = pid;
	return 1;
}

static void pidset_release(struct pidset *set)
{
	free(set->v);
	free(set->slot);
	memset(set, 0, sizeof(*set));
}

/* Adds the pids listed in a /proc/PID/task/TID/children file ("12 345 ")
 * to set; false when it cannot be opened. */
static bool read_children(const char *path, struct pidset *set)
{
	char buf[4096];
	ssize_t got, i;
	long pid = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	while ((got = read(fd, buf, sizeof(buf))) > 0 || (got < 0 && errno == EINTR))
		for (i = 0; i < got; i++) {
			if (isdigit((unsigned char)buf[i])) {
				pid = pid * 10 + (buf[i] - '0');
				continue;
			}
			if (pid > 0 && pid <= INT_MAX)
				pidset_add(set, (pid_t)pid);
			pid = 0;
		}
	if (pid > 0 && pid <= INT_MAX)
		pidset_add(set, (pid_t)pid);
	close(fd);
	return true;
}

/* Adds the children of pid to set. A child hangs off the thread that
 * forked it, so each thread has its list; threads is how many pid has
 * (1 spares reading its task folder; 0: not known). */
static void add_children(struct pidset *set, pid_t pid, long threads)
{
	char path[320];
	DIR *d;
	struct dirent *e;

	if (threads == 1) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
		read_children(path, set);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (!(d = opendir(path)))
		return;
	while ((e = readdir(d)))
		if (isdigit((unsigned char)e->d_name[0])) {
			snprintf(path, sizeof(path), "/proc/%d/task/%s/children", (int)pid, e->d_name);
			read_children(path, set);
		}
	closedir(d);
}

/* Can a look for a trial's processes walk our process tree? Not on a
 * kernel without CONFIG_PROC_CHILDREN (no children files), nor while the
 * test hook SUP_FULL_SCAN_ENV is set. */
static bool can_walk_tree(void)
{
	static int known; /* 0: not yet; 1: the kernel has children files; -1: not */
	const char *hook = getenv(SUP_FULL_SCAN_ENV);
	char path[64];

	if (hook && *hook)
		return false;
	if (!known) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)getpid(),
			 (int)getpid());
		known = access(path, R_OK) ? -1 : 1;
	}
	return known > 0;
}

/* The processes a look at a trial considers: every process of the machine
 * (proc, the fallback), or our descendants (walk, a queue that grows as
 * it goes down the tree; next: the next to look at). */
struct candidates {
	DIR *proc;
	struct pidset walk;
	size_t next;
};

static pid_t next_candidate(struct candidates *c)
{
	struct dirent *e;

	if (!c->proc)
		return c->next < c->walk.n ? c->walk.v[c->next++] : 0;
	while ((e = readdir(c->proc)))
		if (isdigit((unsigned char)e->d_name[0]))
			return (pid_t)atoi(e->d_name);
	return 0;
}

/*
 * Counts the processes of t still alive (zombies included until reaped),
 * sends sig to each when sig != 0, and reaps the adopted zombies by pid.
 *
 * Every process of t is a descendant of ours: we are a child subreaper, so
 * whatever a trial forks, setsid'd, double-forked or orphaned, stays in our
 * tree. So the candidates are our descendants, walked down from our own
 * children through the children files of every thread (libuv's threads
 * fork too: the GPU probe), and a look costs what our tree holds, not what
 * the machine runs. The kernel does not promise these lists whole while
 * processes fork and exit (proc(5)): a process missed here is found by the
 * next look, POLL_MS later, and what the trial's group forks meanwhile is
 * signalled with the group. Without children files, the candidates are
 * all of /proc, as before; it then also finds processes outside our tree
 * that carry t's markers (started for the trainer by some service), which
 * the walk does not.
 */
static size_t scan_trial(struct trial *t, int sig)
{
	struct sup *s = t->s;
	pid_t self = getpid(), pid;
	struct candidates c = { NULL, { NULL, 0, NULL, 0 }, 0 };
	size_t n = 0;
	bool group_alive = false;

	if (can_walk_tree())
		add_children(&c.walk, self, 0);
	else if (!(c.proc = opendir("/proc")))
		return 0;
	while ((pid = next_candidate(&c))) {
		struct proc_stat st;
		bool group;

		if (pid == self || !read_stat(pid, &st))
			continue;
		if (st.state == 'Z' && st.ppid == self && !is_main_process(s, pid)) {
			/* An adopted orphan: a zombie has no environ left to tell
			 * whose it was, and reaping it is right whoever's it is. */
			waitpid(pid, NULL, WNOHANG);
			continue;
		}
		group = t->spawned && st.pgrp == t->pid;
		/* A Slurm job's processes outside its group are Slurm's to end
		 * (and the group's members are all below its main process);
		 * another trial's, and what they forked, are not t's. */
		if (!group && (s->o.launcher == SUP_LAUNCH_SLURM || other_trials(t, st.pgrp, st.sid)))
			continue;
		/* Its children before the signal: once it is dead they are
		 * our children, which this look has read already. */
		if (!c.proc && st.state != 'Z')
			add_children(&c.walk, pid, st.threads);
		if (!group && !has_markers(pid, t) &&
		    !(st.ppid == self && adopted_orphan(t, pid, st.pgrp, st.sid)))
			continue;
		group_alive = group_alive || group;
		n++;
		if (st.state == 'Z')
			continue; /* its parent, or libuv, will reap it */
		if (sig)
			kill(pid, sig);
		if (sig == SIGKILL && pid != t->pid && pidset_add(&t->killed, pid))
			t->result.leftovers_killed++;
	}
	if (c.proc)
		closedir(c.proc);
	pidset_release(&c.walk);
	/* The group too, for what the look missed (a fork since); only while
	 * it has members, so a reused pid is never hit. */
	if (sig && group_alive)
		kill(-t->pid, sig);
	return n;
}

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

/* ---- a trial's Slurm job (--launcher slurm) ---- */

static void end_step(struct trial *t);
static void slurm_spawn(struct trial *t, bool query);

static void slurm_cmd_closed(uv_handle_t *h)
{
	struct slurm_cmd *c = h->data, **pp;
	struct trial *t = c->t;

	if (--c->handles)
		return;
	for (pp = &t->s->cmds; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	t->slurm_cmds--;
	if (c->query) {
		t->query_running = false;
		/* squeue -h prints one line per job still listed: "ID STATE". */
		if (c->spawned && c->status == 0) {
			bool listed = false, live = false;
			char *line, *save = NULL;

			c->buf[c->len] = '\0';
			for (line = strtok_r(c->buf, "\n", &save); line;
			     line = strtok_r(NULL, "\n", &save)) {
				const char *st = strchr(line, ' ');

				listed = true;
				live = live || !st || strncmp(st + 1, "CG", 2);
			}
			if (!listed)
				t->slurm_gone = true;
			else if (live && !t->scancel_sent)
				slurm_spawn(t, false); /* left running or pending: cancel it */
		}
	}
	free(c);
	if (t->state >= T_ENDING)
		end_step(t);
}

static void slurm_cmd_exit(uv_process_t *p, int64_t status, int term_signal)
{
	struct slurm_cmd *c = p->data;

	c->status = term_signal ? 128 + term_signal : status;
	uv_close((uv_handle_t *)p, slurm_cmd_closed);
}

static void slurm_cmd_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct slurm_cmd *c = h->data;

	(void)suggested;
	*buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - 1 - c->len));
}

static void slurm_cmd_read(uv_stream_t *h, ssize_t n, const uv_buf_t *buf)
{
	struct slurm_cmd *c = h->data;

	(void)buf;
	if (n > 0)
		c->len += (size_t)n;
	if (n < 0 || c->len >= sizeof(c->buf) - 1) {
		uv_read_stop(h);
		uv_close((uv_handle_t *)h, slurm_cmd_closed);
	}
}

/* Runs `squeue` (query) or `scancel` for t's job, by its name and our uid,
 * in a session of its own (a Ctrl-C at the terminal must not kill it). */
static void slurm_spawn(struct trial *t, bool query)
{
	struct sup *s = t->s;
	struct slurm_cmd *c = xcalloc(1, sizeof(*c));
	const char *squeue[] = { "squeue", "-h", "-o", "%i %t", "-n", t->job_name, "-u", s->uid,
				 NULL };
	const char *scancel[] = { "scancel", "-n", t->job_name, "-u", s->uid, NULL };
	uv_process_options_t po;
	uv_stdio_container_t stdio[3];
	int rc;

	c->t = t;
	c->query = query;
	c->handles = 2;
	c->next = s->cmds;
	s->cmds = c;
	t->slurm_cmds++;
	if (query) {
		t->query_running = true;
		t->last_query_ns = uv_hrtime();
	} else {
		t->scancel_sent = true;
	}
	uv_pipe_init(&s->loop, &c->out, 0);
	c->out.data = c;
	c->proc.data = c;
	memset(&po, 0, sizeof(po));
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&c->out;
	stdio[2].flags = UV_IGNORE;
	po.file = query ? squeue[0] : scancel[0];
	po.args = (char **)(query ? squeue : scancel);
	po.exit_cb = slurm_cmd_exit;
	po.flags = UV_PROCESS_DETACHED;
	po.stdio_count = 3;
	po.stdio = stdio;
	rc = uv_spawn(&s->loop, &c->proc, &po);
	if (rc) {
		if (!t->result.error[0])
			snprintf(t->result.error, sizeof(t->result.error), "cannot run '%s': %s",
				 po.file, uv_strerror(rc));
		if (!query)
			t->scancel_sent = false; /* srun gets SIGTERM instead */
		uv_close((uv_handle_t *)&c->proc, slurm_cmd_closed);
		uv_close((uv_handle_t *)&c->out, slurm_cmd_closed);
		return;
	}
	c->spawned = true;
	uv_read_start((uv_stream_t *)&c->out, slurm_cmd_alloc, slurm_cmd_read);
}

/* Is t's job out of Slurm's queue? Asks squeue now and then until it is;
 * gives up (with a word in error) after grace + LAST_RESORT_S. */
static bool slurm_done(struct trial *t, double since)
{
	if (t->s->o.launcher != SUP_LAUNCH_SLURM || !t->spawned || t->slurm_gone)
		return !t->slurm_cmds;
	if (since >= t->s->o.limits.grace_s + LAST_RESORT_S) {
		t->slurm_gone = true;
		if (!t->result.error[0])
			snprintf(t->result.error, sizeof(t->result.error),
				 "Slurm job %s may still be in the queue: squeue kept listing it",
				 t->job_name);
		return !t->slurm_cmds;
	}
	if (!t->query_running && elapsed_s(t->last_query_ns) >= SQUEUE_EVERY_S)
		slurm_spawn(t, true);
	return false;
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
	left = scan_trial(t, t->kill_sent ? SIGKILL : 0);
	if (!left && t->kill_sent && !pipes_done(t) && since >= t->s->o.limits.grace_s + LAST_RESORT_S) {
		/* Something we cannot see holds the pipes; stop waiting. */
		t->out.eof = t->err.eof = true;
		uv_read_stop((uv_stream_t *)&t->out.pipe);
		uv_read_stop((uv_stream_t *)&t->err.pipe);
	}
	if (!left && (t->exited || !t->spawned) && pipes_done(t) && slurm_done(t, since))
		finish(t);
}

static void on_poll(uv_timer_t *h)
{
	end_step(h->data);
}

static void begin_end(struct trial *t)
{
	if (t->state >= T_ENDING)
		return;
	t->state = T_ENDING;
	t->ending_ns = uv_hrtime();
	stop_running_timers(t);
	/* srun alive: its job may run or pend; cancel it in Slurm too. */
	if (t->s->o.launcher == SUP_LAUNCH_SLURM && t->spawned && !t->exited && !t->scancel_sent)
		slurm_spawn(t, false);
	if (!t->exited || scan_trial(t, 0)) {
		t->term_sent = true;
		if (t->s->interrupted > 1) {
			t->kill_sent = true;
			scan_trial(t, SIGKILL);
		} else if (!t->scancel_sent) {
			scan_trial(t, SIGTERM);
		} /* else: scancel ends the job and srun with it (the record says
		   * CANCELLED, not FAILED); SIGKILL after grace all the same */
	}
	uv_timer_start(&t->t_poll, on_poll, 0, POLL_MS);
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
	if (t->spawned && t->state < T_ENDING)
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
		uv_timer_start(&t->t_stall, on_stall, timer_ms(s->o.limits.stall_s), 0);
	if (s->o.limits.pass_after_s > 0)
		uv_timer_start(&t->t_pass_after, on_pass_after,
			       timer_ms(s->o.limits.pass_after_s), 0);
}

/* --launcher slurm: the wrapper's line (where the job runs) and Slurm's
 * own lines (how Slurm ended it). */
static void slurm_line(struct trial *t, const char *line, size_t len)
{
	struct sup_result *r = &t->result;
	struct slurm_start st;
	enum sup_reason reason;

	switch (slurm_parse_line(line, len, &st)) {
	case SLURM_EV_NONE:
		return;
	case SLURM_EV_STARTED:
		if (t->job_started)
			return;
		t->job_started = true;
		r->slurm_job = st.job;
		cb_strlcpy(r->node, st.node, sizeof(r->node));
		cb_strlcpy(r->slurm_gpus, st.gpus, sizeof(r->slurm_gpus));
		r->gpu = isdigit((unsigned char)st.gpus[0]) ? atoi(st.gpus) : -1;
		if (t->state == T_RUNNING)
			start_job_timers(t);
		return;
	case SLURM_EV_TIMEOUT: reason = SUP_R_SLURM_TIMEOUT; break;
	case SLURM_EV_PREEMPTED: reason = SUP_R_SLURM_PREEMPTED; break;
	case SLURM_EV_NODE_FAIL: reason = SUP_R_SLURM_NODE_FAIL; break;
	case SLURM_EV_CANCELLED: reason = SUP_R_SLURM_CANCELLED; break;
	case SLURM_EV_OOM: reason = SUP_R_SLURM_OOM; break;
	case SLURM_EV_ALLOC_FAILED: reason = SUP_R_SLURM_ALLOC; break;
	default: reason = SUP_R_SLURM_CONFIG; break;
	}
	if (t->decided || t->state != T_RUNNING)
		return; /* ended already (by us, or by a failure): Slurm only follows */
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	cb_utf8_copy(r->error, sizeof(r->error), line, len);
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
	if (s->o.launcher == SUP_LAUNCH_SLURM)
		slurm_line(t, line, len);
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
	log_append(&t->log[sp->which], buf->base, (size_t)nread);
	if (t->state == T_CLOSING)
		return;
	if (t->log[sp->which].error && !t->write_failed)
		log_failed(t, (int)sp->which);
	cls_feed(t->cls, sp->which, buf->base, (size_t)nread);
	if (t->state == T_RUNNING && t->s->o.limits.stall_s > 0)
		uv_timer_start(&t->t_stall, on_stall, timer_ms(t->s->o.limits.stall_s), 0);
	if (t->state == T_RUNNING && t->suspects_frozen) {
		struct cls_signature sig;

		cls_result(t->cls, &sig);
		if (matches_target(t->s, &sig)) {
			decide(t, SUP_FAIL, SUP_R_FAILURE);
			t->state = T_SETTLING;
			uv_timer_stop(&t->t_stall);
			uv_timer_stop(&t->t_pass_after);
			uv_timer_start(&t->t_settle, on_settle,
				       timer_ms(t->s->o.limits.settle_s), 0);
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

char *sup_result_json(const struct sup_result *r, bool pretty)
{
	cJSON *o = json_object(), *sig = json_object(), *list;
	char buf[sizeof(r->suspects)], *save = NULL, *tok;

	json_add_num(o, "trial", (double)r->number, true);
	json_add_str(o, "outcome", sup_outcome_name(r->outcome));
	json_add_str(o, "reason", sup_reason_name(r->reason));
	json_add_str(o, "class", cls_class_name(r->sig.klass));
	json_add_signature(sig, &r->sig, CLS_MATCH_KERNEL);
	cJSON_AddItemToObject(o, "signature", sig);
	json_add_num(o, "exit_code", r->exit_code, !r->signal);
	json_add_num(o, "signal", r->signal, r->signal != 0);
	cJSON_AddBoolToObject(o, "signal_sent_by_us", r->signal_sent_by_us);
	json_add_num(o, "duration_s", r->duration_s, true);
	json_add_num(o, "first_failure_s", r->first_failure_s, r->first_failure_s >= 0);
	list = cJSON_AddArrayToObject(o, "suspects");
	cb_strlcpy(buf, r->suspects, sizeof(buf));
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
		cJSON_AddItemToArray(list, json_string(tok));
	json_add_str(o, "stdout_log", r->stdout_log);
	json_add_str(o, "stderr_log", r->stderr_log);
	json_add_num(o, "slot", r->slot, true);
	json_add_num(o, "gpu", r->gpu, r->gpu >= 0);
	json_add_str(o, "node", r->node);
	json_add_num(o, "slurm_job", (double)r->slurm_job, r->slurm_job >= 0);
	json_add_str(o, "slurm_gpus", r->slurm_gpus);
	json_add_num(o, "leftovers_killed", (double)r->leftovers_killed, true);
	json_add_str(o, "error", r->error);
	return json_finish(o, pretty);
}

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
	struct trial **pp;

	if (--t->open_handles)
		return;
	s = t->s;
	for (pp = &s->running; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	s->nrunning--;
	s->slot_busy[t->slot] = false;
	t->done(t->ctx, &t->result);
	cls_free(t->cls);
	pidset_release(&t->killed);
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

	if (t->spawned) {
		ex.known = true;
		ex.code = (int)t->exit_status;
		ex.signal = t->term_signal;
		ex.sent_by_us = t->term_signal && (t->term_sent || t->kill_sent);
	}
	cls_finish(t->cls, t->spawned ? &ex : NULL);
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

	if (!t->decided && t->spawned && !t->term_signal &&
	    (t->exit_status == 126 || t->exit_status == 127) && r->sig.klass != CLS_DEVICE_ASSERT) {
		decide(t, SUP_UNRESOLVED,
		       t->exit_status == 127 ? SUP_R_NOT_FOUND : SUP_R_NOT_EXECUTABLE);
		snprintf(r->error, sizeof(r->error), "'%s' exited with %d: %s", t->cmd,
			 (int)t->exit_status,
			 t->exit_status == 127 ? "command not found" : "command not executable");
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
		if (log_close(&t->log[i]) && !t->write_failed)
			log_failed(t, i);
	if (write_result_json(t, msg, sizeof(msg)))
		write_failed(t, msg);
	if (t->spawned) {
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

/* One list for the trials and the report (sup_trial_env()), so that what
 * repro.sh sets is what the trials got. */
#define TRIAL_ENV "TORCH_USE_CUDA_DSA=1", "PYTHONUNBUFFERED=1", "PYTHONFAULTHANDLER=1", \
		  "nnUNet_compile=f"
static const char *const trial_env[] = { TRIAL_ENV, "CUDA_LAUNCH_BLOCKING=1", NULL };
static const char *const trial_env_no_blocking[] = { TRIAL_ENV, NULL };

const char *const *sup_trial_env(bool no_blocking)
{
	return no_blocking ? trial_env_no_blocking : trial_env;
}

static size_t count_strings(const char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

/* "K=V" entries: the caller's environment, then ours, then the extras; a
 * later entry replaces an earlier one of the same name. */
struct env_list {
	char **v;
	size_t n, cap;
};

static void env_set(struct env_list *e, const char *kv)
{
	size_t klen = strcspn(kv, "="), i;

	for (i = 0; i < e->n; i++)
		if (!strncmp(e->v[i], kv, klen) && e->v[i][klen] == '=') {
			free(e->v[i]);
			e->v[i] = xstrdup(kv);
			return;
		}
	if (e->n + 2 > e->cap)
		e->v = xrealloc(e->v, (e->cap = 2 * e->cap + 16) * sizeof(*e->v));
	e->v[e->n++] = xstrdup(kv);
	e->v[e->n] = NULL;
}

static void env_unset(struct env_list *e, const char *name)
{
	size_t len = strlen(name), i;

	for (i = 0; i < e->n; i++)
		if (!strncmp(e->v[i], name, len) && e->v[i][len] == '=') {
			free(e->v[i]);
			e->v[i] = e->v[--e->n];
			e->v[e->n] = NULL;
			return;
		}
}

static void env_release(struct env_list *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
}

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
	char *text = cb_fmt("%d %llu %d %llu\n", (int)t->pid, start_time(t->pid), (int)getpid(),
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

	uv_pipe_init(&s->loop, &t->out.pipe, 0);
	uv_pipe_init(&s->loop, &t->err.pipe, 0);
	t->out.pipe.data = &t->out;
	t->err.pipe.data = &t->err;
	t->out.t = t->err.t = t;
	t->out.which = CLS_STDOUT;
	t->err.which = CLS_STDERR;
	for (i = 0; i < CB_ARRAY_SIZE(timers); i++) {
		uv_timer_init(&s->loop, timers[i]);
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
	struct env_list env = { 0 };
	char dev[64], path[4200], **srun = NULL;
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
	t->result.number = spec->number;
	t->result.slot = t->slot;
	t->result.gpu = t->gpu;
	t->result.slurm_job = -1;
	t->result.first_failure_s = -1;
	cb_strlcpy(t->dir, spec->trial_dir, sizeof(t->dir));
	cb_strlcpy(t->cmd, spec->argv[0] ? spec->argv[0] : "", sizeof(t->cmd));
	snprintf(t->trial_marker, sizeof(t->trial_marker), "CASEBISECT_TRIAL=%llu",
		 (unsigned long long)spec->number);
	snprintf(t->sup_marker, sizeof(t->sup_marker), "CASEBISECT_SUPERVISOR=%d", (int)getpid());

	snprintf(t->result.stdout_log, sizeof(t->result.stdout_log), "%s/stdout.log", t->dir);
	snprintf(t->result.stderr_log, sizeof(t->result.stderr_log), "%s/stderr.log", t->dir);
	if (log_open(&t->log[0], t->result.stdout_log, s->o.limits.log_head, s->o.limits.log_tail) ||
	    log_open(&t->log[1], t->result.stderr_log, s->o.limits.log_head, s->o.limits.log_tail)) {
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
		env_set(&env, environ[i]);
	if (s->o.no_blocking)
		env_unset(&env, "CUDA_LAUNCH_BLOCKING");
	ours = xcalloc(count_strings(base) + 3 + count_strings(s->o.env) +
			       count_strings(spec->env),
		       sizeof(*ours));
	for (i = 0; base[i]; i++)
		ours[nours++] = base[i];
	ours[nours++] = t->trial_marker;
	ours[nours++] = t->sup_marker;
	if (t->gpu >= 0) {
		snprintf(dev, sizeof(dev), "CUDA_VISIBLE_DEVICES=%d", t->gpu);
		ours[nours++] = dev;
	}
	for (i = 0; s->o.env && s->o.env[i]; i++)
		ours[nours++] = s->o.env[i];
	for (i = 0; spec->env && spec->env[i]; i++)
		ours[nours++] = spec->env[i];
	for (i = 0; i < nours; i++)
		env_set(&env, ours[i]);
	if (s->o.launcher == SUP_LAUNCH_SLURM) {
		/* Slurm picks the GPUs; and srun inside an allocation would
		 * run a step of it rather than a job of its own. */
		env_unset(&env, "CUDA_VISIBLE_DEVICES");
		env_unset(&env, "SLURM_JOB_ID");
		env_unset(&env, "SLURM_JOBID");
		srun = slurm_srun_argv(s->o.slurm_prefix ? s->o.slurm_prefix : "casebisect-",
				       spec->number, (const char *const *)s->slurm_words,
				       s->exclude, spec->argv);
		snprintf(t->job_name, sizeof(t->job_name), "%s%llu",
			 s->o.slurm_prefix ? s->o.slurm_prefix : "casebisect-",
			 (unsigned long long)spec->number);
	}
	rc = write_trial_files(t, srun ? (const char *const *)srun : spec->argv, ours, nours, err,
			       errlen);
	free(ours);
	if (rc) {
		close(t->log[0].fd);
		close(t->log[1].fd);
		cls_free(t->cls);
		env_release(&env);
		slurm_words_free(srun);
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
	po.file = srun ? srun[0] : spec->argv[0];
	po.args = srun ? srun : (char **)spec->argv;
	po.env = env.v;
	po.cwd = s->o.cwd;
	po.flags = UV_PROCESS_DETACHED; /* own session and process group */
	po.stdio_count = 3;
	po.stdio = stdio;

	t->next = s->running;
	s->running = t;
	s->nrunning++;
	s->slot_busy[slot] = true;
	t->start_ns = uv_hrtime();

	rc = uv_spawn(&s->loop, &t->proc, &po);
	env_release(&env);
	if (rc) {
		struct sup_result *r = &t->result;
		const char *cmd = srun ? "srun" : spec->argv[0] ? spec->argv[0] : "";

		decide(t, SUP_UNRESOLVED,
		       rc == UV_ENOENT ? SUP_R_NOT_FOUND :
		       rc == UV_EACCES ? SUP_R_NOT_EXECUTABLE : SUP_R_SPAWN_ERROR);
		snprintf(path, sizeof(path), "cannot run '%s': %s", cmd, uv_strerror(rc));
		cb_strlcpy(r->error, path, sizeof(r->error));
		t->out.eof = t->err.eof = true;
		t->state = T_ENDING;
		uv_timer_start(&t->t_poll, on_poll, 0, POLL_MS);
		slurm_words_free(srun);
		return 0;
	}
	slurm_words_free(srun);
	t->spawned = true;
	t->pid = t->proc.pid;
	uv_read_start((uv_stream_t *)&t->out.pipe, on_alloc, on_read);
	uv_read_start((uv_stream_t *)&t->err.pipe, on_alloc, on_read);
	if (write_pgid_file(t, path, sizeof(path))) {
		write_failed(t, path); /* ends it: no timer to start */
		return 0;
	}
	if (s->o.limits.timeout_s > 0)
		uv_timer_start(&t->t_timeout, on_timeout, timer_ms(s->o.limits.timeout_s), 0);
	if (s->o.launcher != SUP_LAUNCH_SLURM)
		start_job_timers(t); /* Slurm: once the job runs (slurm_line()) */
	return 0;
}

/* ---- the supervisor ---- */

static void on_signal(uv_signal_t *h, int signum)
{
	struct sup *s = h->data;

	s->signals_seen++;
	fprintf(stderr, "casebisect: %s: ending the running trials%s\n", strsignal(signum),
		s->signals_seen > 1 ? " now" : " (again to kill them at once)");
	sup_stop(s, s->signals_seen > 1 && signum == SIGINT);
}

/* Compiles pass_pattern into *pass and batch_pattern into *batch; a NULL
 * pattern is not compiled. 0, or -1 with err naming the option, nothing
 * left compiled. */
static int compile_patterns(const char *pass_pattern, regex_t *pass, const char *batch_pattern,
			    regex_t *batch, char *err, size_t errlen)
{
	char msg[256] = "it needs one group, (...), around the case names";
	int rc;

	if (pass_pattern && (rc = regcomp(pass, pass_pattern, REG_EXTENDED | REG_NOSUB))) {
		regerror(rc, pass, msg, sizeof(msg));
		snprintf(err, errlen, "--pass-pattern '%s': %s", pass_pattern, msg);
		return -1;
	}
	if (batch_pattern) {
		rc = regcomp(batch, batch_pattern, REG_EXTENDED);
		if (rc || batch->re_nsub < 1) {
			if (rc)
				regerror(rc, batch, msg, sizeof(msg));
			else
				regfree(batch);
			snprintf(err, errlen, "--batch-pattern '%s': %s", batch_pattern, msg);
			if (pass_pattern)
				regfree(pass);
			return -1;
		}
	}
	return 0;
}

int sup_check_patterns(const char *pass_pattern, const char *batch_pattern, char *err,
		       size_t errlen)
{
	regex_t pass, batch;

	if (compile_patterns(pass_pattern, &pass, batch_pattern, &batch, err, errlen))
		return -1;
	if (pass_pattern)
		regfree(&pass);
	if (batch_pattern)
		regfree(&batch);
	return 0;
}

/* Every supervisor between sup_new and sup_free, for die_hook(). */
static struct sup *live_sups;

/* die() is about to exit: no grace, SIGKILL to every running trial, so a
 * fatal error (out of memory, say) leaves no trainer behind. The group
 * first, by the main process's pid, which stays ours until libuv reaps it;
 * then the scan, which may fail for want of memory. Slurm jobs are left to
 * Slurm: starting scancel is more than a dying process should try. */
static void die_hook(void)
{
	struct sup *s;
	struct trial *t;

	for (s = live_sups; s; s = s->next_live)
		for (t = s->running; t; t = t->next) {
			if (!t->spawned || s->o.launcher == SUP_LAUNCH_SLURM)
				continue;
			if (!t->exited)
				kill(-t->pid, SIGKILL);
			scan_trial(t, SIGKILL);
		}
}

struct sup *sup_new(const struct sup_options *opts, char *err, size_t errlen)
{
	struct sup *s = xcalloc(1, sizeof(*s));
	size_t i, per_gpu = opts->per_gpu ? opts->per_gpu : 1, cap;

	s->o = *opts;
	if (s->o.limits.grace_s <= 0)
		s->o.limits.grace_s = 10;
	if (opts->launcher == SUP_LAUNCH_SLURM) {
		size_t nw;

		if (slurm_split_args(opts->slurm_args, &s->slurm_words, &nw, err, errlen)) {
			free(s);
			return NULL;
		}
	}
	s->exclude = xstrdup(opts->slurm_exclude ? opts->slurm_exclude : "");
	snprintf(s->uid, sizeof(s->uid), "%u", (unsigned)getuid());
	if (compile_patterns(opts->pass_pattern, &s->pass_re, opts->batch_pattern, &s->batch_re,
			     err, errlen)) {
		slurm_words_free(s->slurm_words);
		free(s->exclude);
		free(s);
		return NULL;
	}
	s->has_pass_re = opts->pass_pattern != NULL;
	s->has_batch_re = opts->batch_pattern != NULL;
	cap = opts->ngpus ? opts->ngpus * per_gpu : 1;
	s->nslots = opts->jobs ? opts->jobs : cap;
	if (opts->ngpus && s->nslots > cap)
		s->nslots = cap;
	s->slot_busy = xcalloc(s->nslots, sizeof(*s->slot_busy));
	s->slot_retired = xcalloc(s->nslots, sizeof(*s->slot_retired));
	s->slot_gpu = xcalloc(s->nslots, sizeof(*s->slot_gpu));
	for (i = 0; i < s->nslots; i++)
		s->slot_gpu[i] = opts->ngpus ? opts->gpus[i % opts->ngpus] : -1; /* spread first */
	uv_loop_init(&s->loop);
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

		uv_signal_init(&s->loop, &s->sig[i]);
		s->sig[i].data = s;
		uv_signal_start(&s->sig[i], on_signal, signums[i]);
		uv_unref((uv_handle_t *)&s->sig[i]);
	}
	return s;
}

int sup_trial_gpu(const struct sup *s, uint64_t number)
{
	const struct trial *t;

	for (t = s->running; t; t = t->next)
		if (t->number == number)
			return t->gpu;
	return -1;
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
	struct trial *t;

	s->stopping = true;
	if (now && s->interrupted < 2)
		s->interrupted = 2;
	else if (!s->interrupted)
		s->interrupted = 1;
	for (t = s->running; t; t = t->next) {
		if (t->state == T_CLOSING)
			continue;
		decide(t, SUP_UNRESOLVED, SUP_R_INTERRUPTED);
		if (t->state >= T_ENDING) {
			if (now && !t->kill_sent) {
				t->kill_sent = true;
				scan_trial(t, SIGKILL);
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
	slurm_words_free(s->slurm_words);
	free(s->exclude);
	free(s);
}

const char *sup_exclude_node(struct sup *s, const char *node)
{
	size_t n = strlen(node);
	const char *p = s->exclude;
	char *next;

	while (*p) { /* already there? */
		size_t k = strcspn(p, ",");

		if (k == n && !strncmp(p, node, n))
			return s->exclude;
		p += k + (p[k] == ',');
	}
	next = cb_fmt("%s%s%s", s->exclude, *s->exclude ? "," : "", node);
	free(s->exclude);
	s->exclude = next;
	return s->exclude;
}

/* ---- placeholders ---- */

char **sup_expand_argv(const char *const *argv, const struct sup_placeholders *ph, char *err,
		       size_t errlen)
{
	const struct {
		const char *name;
		const char *value;
		const char *missing;
	} vars[] = {
		{ "{trial_dir}", ph->trial_dir, "{trial_dir} is not available here" },
		{ "{cases_file}", ph->cases_file, "{cases_file} needs a list of cases (--cases-file)" },
		{ "{files_file}", ph->files_file, "{files_file} needs the cases' files (--files-file)" },
		{ "{view}", ph->view, "{view} needs a dataset: use 'casebisect run'" },
		{ "{n}", ph->n, "{n} needs a list of cases (--cases-file)" },
	};
	size_t argc, i, j;
	char **out;

	for (argc = 0; argv[argc]; argc++)
		;
	out = xcalloc(argc + 1, sizeof(*out));
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		size_t cap = strlen(a) + 1, len = 0;
		char *o = xmalloc(cap);

		while (*a) {
			for (j = 0; j < CB_ARRAY_SIZE(vars); j++)
				if (!strncmp(a, vars[j].name, strlen(vars[j].name)))
					break;
			if (j == CB_ARRAY_SIZE(vars)) {
				if (len + 2 > cap)
					o = xrealloc(o, cap *= 2);
				o[len++] = *a++;
				continue;
			}
			if (!vars[j].value) {
				snprintf(err, errlen, "argument '%s': %s", argv[i], vars[j].missing);
				free(o);
				out[i] = NULL;
				sup_argv_free(out);
				return NULL;
			}
			{
				size_t vlen = strlen(vars[j].value);

				while (len + vlen + 1 > cap)
					o = xrealloc(o, cap *= 2);
				memcpy(o + len, vars[j].value, vlen);
				len += vlen;
				a += strlen(vars[j].name);
			}
		}
		o[len] = '\0';
		out[i] = o;
	}
	return out;
}

void sup_argv_free(char **argv)
{
	size_t i;

	if (!argv)
		return;
	for (i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* ---- what a killed casebisect left behind ---- */

/* Signals every process of the stale trial (its group while the leader is
 * the one recorded, and whatever carries its markers); how many there were. */
static size_t signal_stale(pid_t pgid, unsigned long long started, const char *trial_marker,
			   const char *sup_marker, int sig)
{
	bool leader = started && start_time(pgid) == started;
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;

	while (d && (e = readdir(d))) {
		char buf[65536];
		struct proc_stat st;
		pid_t pid;
		size_t len, i = 0;
		bool tm = false, sm = false;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid = (pid_t)atoi(e->d_name);
		if (pid == getpid() || !read_stat(pid, &st) || st.state == 'Z')
			continue;
		if (!(leader && st.pgrp == pgid)) {
			len = read_proc(pid, "environ", buf, sizeof(buf));
			for (; i < len; i += strlen(buf + i) + 1) {
				tm = tm || !strcmp(buf + i, trial_marker);
				sm = sm || !strcmp(buf + i, sup_marker);
			}
			if (!tm || !sm)
				continue;
		}
		n++;
		kill(pid, sig);
	}
	if (d)
		closedir(d);
	if (leader)
		kill(-pgid, sig);
	return n;
}

int sup_end_stale(const char *trial_dir, double grace_s, size_t *ended)
{
	char path[4200], tm[64], sm[64];
	int pgid, sup;
	unsigned long long started, number;
	FILE *f;
	double waited = 0;
	size_t n;

	*ended = 0;
	snprintf(path, sizeof(path), "%s/pgid", trial_dir);
	if (!(f = fopen(path, "r")))
		return errno == ENOENT ? 0 : -1;
	if (fscanf(f, "%d %llu %d %llu", &pgid, &started, &sup, &number) != 4 || pgid <= 1) {
		fclose(f);
		return unlink(path);
	}
	fclose(f);
	snprintf(tm, sizeof(tm), "CASEBISECT_TRIAL=%llu", number);
	snprintf(sm, sizeof(sm), "CASEBISECT_SUPERVISOR=%d", sup);
	n = signal_stale(pgid, started, tm, sm, SIGTERM);
	*ended = n;
	while (n && waited < grace_s) {
		usleep(100 * 1000);
		waited += 0.1;
		n = signal_stale(pgid, started, tm, sm, 0);
	}
	if (n)
		signal_stale(pgid, started, tm, sm, SIGKILL);
	return unlink(path);
}
