/* slurm: srun command lines, job names, Slurm's own lines, and cancelling
 * what an earlier casebisect left in the queue; the contract is in
 * include/casebisect/slurm.h.
 *
 * Design note: Slurm's messages. What srun and slurmstepd print when Slurm
 * ends a job is the only thing a supervisor on the login node sees at once
 * (sacct may not exist, and the job completion records come later), so the
 * reasons are read from those lines. Only lines that Slurm's own programs
 * print count ("srun: ...", "slurmstepd...: ..."): a trainer that prints
 * "oom_kill" is not Slurm. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "casebisect/proc_capture.h"
#include "casebisect/slurm.h"
#include "casebisect/supervise.h"
#include "casebisect/util.h"

#define TMPFS_MAGIC_ 0x01021994
#define CMD_OUT_MAX ((size_t)1 << 20)

/* ---- words ---- */

static void push_word(char ***v, size_t *n, size_t *cap, char *w)
{
	if (*n + 2 > *cap) {
		*cap = *cap ? 2 * *cap : 8;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = w;
	(*v)[*n] = NULL;
}

int slurm_split_args(const char *s, char ***out, size_t *n, char *err, size_t errlen)
{
	char **v = NULL, *w = NULL;
	size_t cap = 0, wlen = 0, wcap = 0;
	bool in_word = false;
	char quote = 0;

	*out = NULL;
	*n = 0;
	v = xcalloc(1, sizeof(*v));
	cap = 1;
	for (; s && *s; s++) {
		char c = *s;

		if (!quote && (c == ' ' || c == '\t' || c == '\n')) {
			if (in_word) {
				push_word(&v, n, &cap, w);
				w = NULL;
				wlen = wcap = 0;
				in_word = false;
			}
			continue;
		}
		if (!quote && (c == '\'' || c == '"')) {
			quote = c;
			in_word = true;
			continue;
		}
		if (quote && c == quote) {
			quote = 0;
			continue;
		}
		/* A backslash escapes the next character outside quotes, and
		 * \ " $ ` inside double quotes, as in sh. */
		if (c == '\\' && quote != '\'' && s[1] &&
		    (!quote || strchr("\\\"$`", s[1])))
			c = *++s;
		if (wlen + 2 > wcap)
			w = xrealloc(w, wcap = wcap ? 2 * wcap : 32);
		w[wlen++] = c;
		w[wlen] = '\0';
		in_word = true;
	}
	if (quote) {
		cb_set_err(err, errlen, "--slurm-args: unterminated %s quote",
			   quote == '\'' ? "single" : "double");
		free(w);
		slurm_words_free(v);
		*n = 0;
		return -1;
	}
	if (in_word)
		push_word(&v, n, &cap, w ? w : xstrdup(""));
	*out = v;
	return 0;
}

void slurm_words_free(char **words)
{
	sup_argv_free(words); /* the same shape: a NULL-terminated array of strings */
}

char *slurm_job_prefix(const char *workdir)
{
	const char *base;
	size_t len;
	char *p, *q;

	len = strlen(workdir);
	while (len > 1 && workdir[len - 1] == '/')
		len--;
	base = workdir + len;
	while (base > workdir && base[-1] != '/')
		base--;
	p = cb_fmt("casebisect-%.*s-", (int)(workdir + len - base), base);
	for (q = p + 11; q[1]; q++)
		if (!isalnum((unsigned char)*q) && *q != '.' && *q != '_' && *q != '-')
			*q = '_';
	return p;
}

/* The wrapper run on the node (slurm.h). */
static const char wrapper[] =
	"printf 'CASEBISECT_SLURM job=%s node=%s gpus=%s\\n' \"${SLURM_JOB_ID:-}\" "
	"\"${SLURMD_NODENAME:-}\" \"${SLURM_STEP_GPUS:-${SLURM_JOB_GPUS:-}}\" >&2\n"
	"exec \"$@\"\n";

char **slurm_srun_argv(const char *prefix, uint64_t trial, const char *const *words,
		       const char *exclude, const char *const *command)
{
	char **v = NULL, *user_exclude = NULL;
	size_t n = 0, cap = 0, i;

	push_word(&v, &n, &cap, xstrdup("srun"));
	push_word(&v, &n, &cap, xstrdup("--kill-on-bad-exit=1"));
	push_word(&v, &n, &cap, xstrdup("--unbuffered"));
	for (i = 0; words && words[i]; i++) {
		const char *w = words[i];

		/* srun keeps only the last --exclude: merge the user's with ours. */
		if (exclude && *exclude) {
			const char *val = NULL;

			if (!strncmp(w, "--exclude=", 10))
				val = w + 10;
			else if (!strncmp(w, "-x", 2) && w[2])
				val = w + 2;
			else if ((!strcmp(w, "--exclude") || !strcmp(w, "-x")) && words[i + 1])
				val = words[++i];
			if (val) {
				char *next = cb_fmt("%s%s%s", user_exclude ? user_exclude : "",
						    user_exclude ? "," : "", val);

				free(user_exclude);
				user_exclude = next;
				continue;
			}
		}
		push_word(&v, &n, &cap, xstrdup(w));
	}
	if (exclude && *exclude)
		push_word(&v, &n, &cap, cb_fmt("--exclude=%s%s%s", user_exclude ? user_exclude : "",
					       user_exclude ? "," : "", exclude));
	free(user_exclude);
	/* after the user's: srun keeps the last, and the name is how the
	 * job is found again (squeue, scancel, resume) */
	push_word(&v, &n, &cap, cb_fmt("--job-name=%s%llu", prefix, (unsigned long long)trial));
	push_word(&v, &n, &cap, xstrdup("--export=ALL"));
	push_word(&v, &n, &cap, xstrdup("--"));
	push_word(&v, &n, &cap, xstrdup("/bin/sh"));
	push_word(&v, &n, &cap, xstrdup("-c"));
	push_word(&v, &n, &cap, xstrdup(wrapper));
	push_word(&v, &n, &cap, xstrdup("casebisect-slurm"));
	for (i = 0; command[i]; i++)
		push_word(&v, &n, &cap, xstrdup(command[i]));
	return v;
}

/* ---- Slurm's lines ---- */

static bool has(const char *line, size_t len, const char *what)
{
	return memmem(line, len, what, strlen(what)) != NULL;
}

/* "key=value" (value up to a space) from the wrapper's line. */
static void field(const char *line, size_t len, const char *key, char *dst, size_t size)
{
	const char *p = memmem(line, len, key, strlen(key)), *end = line + len, *q;

	dst[0] = '\0';
	if (!p)
		return;
	p += strlen(key);
	for (q = p; q < end && *q != ' ' && *q != '\r' && *q != '\n'; q++)
		;
	if ((size_t)(q - p) >= size)
		q = p + size - 1;
	memcpy(dst, p, (size_t)(q - p));
	dst[q - p] = '\0';
}

enum slurm_event slurm_parse_line(const char *line, size_t len, struct slurm_start *start)
{
	const char *p = line, *end = line + len, *m;
	bool srun, stepd;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	len = (size_t)(end - p);
	if (len >= 17 && !memcmp(p, "CASEBISECT_SLURM ", 17)) {
		if (start) {
			char job[32];

			field(p, len, " job=", job, sizeof(job));
			start->job = job[0] ? strtoll(job, NULL, 10) : -1;
			field(p, len, " node=", start->node, sizeof(start->node));
			field(p, len, " gpus=", start->gpus, sizeof(start->gpus));
		}
		return SLURM_EV_STARTED;
	}
	if ((len >= 13 && !memcmp(p, "sbatch: error", 13)) ||
	    (len >= 13 && !memcmp(p, "salloc: error", 13)))
		return SLURM_EV_CONFIG_ERROR;
	srun = len >= 5 && !memcmp(p, "srun:", 5);
	stepd = len >= 10 && !memcmp(p, "slurmstepd", 10);
	if (!srun && !stepd)
		return SLURM_EV_NONE;
	if (has(p, len, "DUE TO TIME LIMIT"))
		return SLURM_EV_TIMEOUT;
	if (has(p, len, "DUE TO PREEMPTION"))
		return SLURM_EV_PREEMPTED;
	if (has(p, len, "DUE TO NODE FAIL") || has(p, len, "NODE_FAIL") ||
	    has(p, len, "Node failure"))
		return SLURM_EV_NODE_FAIL;
	if (has(p, len, "oom_kill") || has(p, len, "oom-kill") || has(p, len, ": Out Of Memory"))
		return SLURM_EV_OOM;
	if ((has(p, len, "***") && has(p, len, " CANCELLED AT ")) || has(p, len, "has been revoked") ||
	    has(p, len, "Force Terminated"))
		return SLURM_EV_CANCELLED;
	if (!srun)
		return SLURM_EV_NONE;
	/* No controller to ask: configless srun finds no configuration, or
	 * the controller does not answer. Nothing will run until someone
	 * fixes Slurm, so it is the request's error, not the trial's. */
	if (has(p, len, "Could not establish a configuration source") ||
	    has(p, len, "Socket timed out on send/recv") ||
	    has(p, len, "Unable to contact slurm controller"))
		return SLURM_EV_CONFIG_ERROR;
	if ((m = memmem(p, len, "Unable to allocate resources", 28))) {
		size_t rest = (size_t)(end - m);

		/* The request is wrong (it will never run) or Slurm could not
		 * serve it now (a timeout, a controller away). */
		if (has(m, rest, "nvalid") || has(m, rest, "not available") ||
		    has(m, rest, "exceeds") || has(m, rest, "violates"))
			return SLURM_EV_CONFIG_ERROR;
		return SLURM_EV_ALLOC_FAILED;
	}
	if (has(p, len, "srun: error: Invalid") || has(p, len, "srun: error: invalid") ||
	    has(p, len, "unrecognized option") || has(p, len, "invalid option"))
		return SLURM_EV_CONFIG_ERROR;
	if (has(p, len, "srun: fatal:"))
		return SLURM_EV_CONFIG_ERROR; /* srun gives up before any job */
	if (has(p, len, "Unable to create step"))
		return SLURM_EV_ALLOC_FAILED;
	return SLURM_EV_NONE;
}

bool slurm_path_looks_local(const char *path)
{
	static const char *const local[] = { "/tmp", "/var/tmp", "/dev/shm" };
	struct statfs fs;
	size_t i, n;

	for (i = 0; i < CB_ARRAY_SIZE(local); i++) {
		n = strlen(local[i]);
		if (!strncmp(path, local[i], n) && (path[n] == '/' || !path[n]))
			return true;
	}
	return !statfs(path, &fs) && (unsigned long)fs.f_type == TMPFS_MAGIC_;
}

/* ---- running Slurm's commands, synchronously ---- */

/* The IDs of the calling user's jobs whose names start with prefix, as a
 * comma-separated list ("" when none); NULL with err when squeue fails. */
static char *jobs_with_prefix(const char *prefix, size_t *n, char *err, size_t errlen)
{
	char user[32], *out = NULL, *ids = xstrdup(""), *line, *save = NULL;
	const char *argv[] = { "squeue", "-h", "-o", "%i %j", "-u", user, NULL };
	struct proc_capture pc = PROC_CAPTURE_INIT;
	int rc;

	*n = 0;
	snprintf(user, sizeof(user), "%u", (unsigned)getuid());
	pc.argv = argv;
	pc.timeout_s = 30;
	pc.max_out = CMD_OUT_MAX;
	pc.flags = PROC_MERGE_STDERR;
	rc = proc_capture_run(&pc, err, errlen);
	out = pc.out;
	if (!rc)
		rc = pc.status;
	if (rc) {
		if (rc > 0) {
			size_t l = out ? strlen(out) : 0;

			while (l && (out[l - 1] == '\n' || out[l - 1] == ' '))
				out[--l] = '\0';
			cb_set_err(err, errlen, "squeue failed (exit %d): %s", rc, out ? out : "");
		}
		free(out);
		free(ids);
		return NULL;
	}
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *name = strchr(line, ' '), *next;

		if (!name || strncmp(name + 1, prefix, strlen(prefix)))
			continue;
		*name = '\0';
		next = cb_fmt("%s%s%s", ids, *ids ? "," : "", line);
		free(ids);
		ids = next;
		(*n)++;
	}
	free(out);
	return ids;
}

int slurm_cancel_prefix(const char *prefix, double timeout_s, size_t *cancelled, char *err,
			size_t errlen)
{
	size_t n;
	double waited = 0;
	char *ids = jobs_with_prefix(prefix, &n, err, errlen);

	*cancelled = n;
	if (!ids)
		return -1;
	if (n) {
		const char *argv[] = { "scancel", ids, NULL };
		struct proc_capture pc = PROC_CAPTURE_INIT;

		pc.argv = argv;
		pc.timeout_s = 30;
		proc_capture_run(&pc, err, errlen);
		proc_capture_release(&pc);
	}
	while (n) {
		free(ids);
		if (waited >= timeout_s) {
			cb_set_err(err, errlen, "%zu job%s named %s* still in Slurm's queue after %.0f s",
				   n, n == 1 ? "" : "s", prefix, timeout_s);
			return -1;
		}
		usleep(200 * 1000);
		waited += 0.2;
		if (!(ids = jobs_with_prefix(prefix, &n, err, errlen)))
			return -1;
	}
	free(ids);
	return 0;
}
