/* proctree: the processes of a trial among casebisect's descendants (or in
 * all of /proc), signalled and reaped; see src/proctree.h.
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
 * Where it looks: only among our own descendants (pt_scan()). Whatever
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "casebisect/proc_capture.h"
#include "casebisect/supervise.h"
#include "casebisect/util.h"
#include "proctree.h"

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
static bool has_markers(pid_t pid, const struct pt_trial *t)
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

/* What pt_scan() and signal_stale() need of /proc/PID/stat. */
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
unsigned long long pt_start_time(pid_t pid)
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

/* Is pid the main process of a running trial, or a short child of ours
 * (squeue)? libuv reaps those. */
static bool is_main_process(const struct pt_trial *running, pid_t pid)
{
	const struct pt_trial *t;

	for (t = running; t; t = t->next)
		if (t->spawned && t->pid == pid)
			return true;
	return proc_capture_running(pid);
}

/* Is a process in this group and session another running trial's (not t's)?
 * Trials start in sessions of their own, so what a trial forks is in its
 * group, or in its session when it made a group of its own. */
static bool other_trials(const struct pt_trial *t, const struct pt_trial *running, pid_t pgrp,
			 pid_t sid)
{
	const struct pt_trial *u;

	for (u = running; u; u = u->next)
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
static bool adopted_orphan(const struct pt_trial *t, const struct pt_trial *running, pid_t pid,
			   pid_t pgrp, pid_t sid)
{
	const struct pt_trial *u;

	if (is_main_process(running, pid) || sid == getsid(0) || other_trials(t, running, pgrp, sid))
		return false;
	for (u = running; u; u = u->next)
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
 * next look, a poll later, and what the trial's group forks meanwhile is
 * signalled with the group. Without children files, the candidates are
 * all of /proc, as before; it then also finds processes outside our tree
 * that carry t's markers (started for the trainer by some service), which
 * the walk does not.
 */
size_t pt_scan(struct pt_trial *t, struct pt_trial *running, int sig)
{
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
		if (st.state == 'Z' && st.ppid == self && !is_main_process(running, pid)) {
			/* An adopted orphan: a zombie has no environ left to tell
			 * whose it was, and reaping it is right whoever's it is. */
			waitpid(pid, NULL, WNOHANG);
			continue;
		}
		group = t->spawned && st.pgrp == t->pid;
		/* A Slurm job's processes outside its group are Slurm's to end
		 * (and the group's members are all below its main process);
		 * another trial's, and what they forked, are not t's. */
		if (!group && (t->group_only || other_trials(t, running, st.pgrp, st.sid)))
			continue;
		/* Its children before the signal: once it is dead they are
		 * our children, which this look has read already. */
		if (!c.proc && st.state != 'Z')
			add_children(&c.walk, pid, st.threads);
		if (!group && !has_markers(pid, t) &&
		    !(st.ppid == self && adopted_orphan(t, running, pid, st.pgrp, st.sid)))
			continue;
		group_alive = group_alive || group;
		n++;
		if (st.state == 'Z')
			continue; /* its parent, or libuv, will reap it */
		if (sig)
			kill(pid, sig);
		if (sig == SIGKILL && pid != t->pid && pidset_add(&t->killed, pid))
			t->leftovers_killed++;
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

/* ---- what a killed casebisect left behind ---- */

/* Signals every process of the stale trial (its group while the leader is
 * the one recorded, and whatever carries its markers); how many there were. */
static size_t signal_stale(pid_t pgid, unsigned long long started, const char *trial_marker,
			   const char *sup_marker, int sig)
{
	bool leader = started && pt_start_time(pgid) == started;
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

void pt_release(struct pt_trial *t)
{
	pidset_release(&t->killed);
}
