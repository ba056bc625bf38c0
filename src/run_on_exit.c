/* run_on_exit: --on-exit CMD, the user's command when a run ends (a mail,
 * ntfy, a chat webhook), with the verdict in its environment. The contract
 * is in run.h (struct run_config's on_exit) and run_internal.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casebisect/proc_capture.h"
#include "casebisect/util.h"
#include "run_internal.h"

extern char **environ;

/* What of its output the log shows when the command fails. */
#define ON_EXIT_OUT_MAX 2048

static const char *const hook_vars[] = { "CASEBISECT_VERDICT=", "CASEBISECT_EXIT_CODE=",
					 "CASEBISECT_REPORT=", "CASEBISECT_WORKDIR=" };

/* casebisect's environment without hook_vars (a casebisect run inside an
 * --on-exit of another must not see the outer values), then ours. */
static char **hook_env(char *const *ours, size_t nours)
{
	size_t n = 0, k = 0, i, j;
	char **env;

	while (environ[n])
		n++;
	env = xcalloc(n + nours + 1, sizeof(*env));
	for (i = 0; i < n; i++) {
		bool drop = false;

		for (j = 0; j < CB_ARRAY_SIZE(hook_vars); j++)
			drop = drop || !strncmp(environ[i], hook_vars[j], strlen(hook_vars[j]));
		if (!drop)
			env[k++] = environ[i];
	}
	for (i = 0; i < nours; i++)
		env[k++] = ours[i];
	return env;
}

/* The verdict's name, or what ended the run without one. */
static const char *verdict_of(const struct run *r, int exit_code)
{
	if (r->res->verdict[0])
		return r->res->verdict;
	return exit_code == RUN_EXIT_INTERRUPTED ? "interrupted" : "error";
}

void run_on_exit(struct run *r, int exit_code)
{
	struct proc_capture pc = PROC_CAPTURE_INIT;
	const char *argv[] = { "sh", "-c", r->c.on_exit, NULL };
	char *ours[4], **env, err[512], *report = NULL;
	size_t i;
	int rc;

	if (r->dry || !r->c.on_exit || !*r->c.on_exit)
		return;
	if (r->report_written)
		report = cb_path_join(r->c.workdir, "report.md");
	ours[0] = cb_fmt("CASEBISECT_VERDICT=%s", verdict_of(r, exit_code));
	ours[1] = cb_fmt("CASEBISECT_EXIT_CODE=%d", exit_code);
	ours[2] = cb_fmt("CASEBISECT_REPORT=%s", report ? report : "");
	ours[3] = cb_fmt("CASEBISECT_WORKDIR=%s", r->c.workdir);
	env = hook_env(ours, CB_ARRAY_SIZE(ours));
	pc.argv = argv;
	pc.env = (const char *const *)env;
	pc.cwd = r->c.workdir;
	pc.timeout_s = RUN_ON_EXIT_TIMEOUT_S;
	pc.max_out = ON_EXIT_OUT_MAX;
	pc.flags = PROC_MERGE_STDERR | PROC_KEEP_TAIL;
	run_say(r, "on-exit: running %s", r->c.on_exit);
	rc = proc_capture_run(&pc, err, sizeof(err));
	/* Logged, never more: the verdict and the exit code stand. */
	if (rc)
		run_say(r, "warning: --on-exit: %s", err);
	else if (pc.status) {
		/* its output on the one line: the log stays one line per event */
		for (i = 0; i < pc.len; i++)
			if (pc.out[i] == '\n' || pc.out[i] == '\r')
				pc.out[i] = i + 1 == pc.len ? '\0' : ' ';
		run_say(r, "warning: --on-exit exited with status %d%s%s", pc.status,
			pc.out[0] ? ": " : "", pc.out);
	}
	else
		run_say(r, "on-exit: done");
	proc_capture_release(&pc);
	free(env);
	for (i = 0; i < CB_ARRAY_SIZE(ours); i++)
		free(ours[i]);
	free(report);
}
