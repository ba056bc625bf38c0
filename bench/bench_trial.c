/* bench_trial: the supervisor's own cost per trial (spawn, pipes, classify,
 * the end procedure with its /proc scan, reaping, logs) for a trivial
 * command, against a bare posix_spawn + waitpid of the same command measured
 * in the same run. A benchmark, not a test: it prints, and exits 0. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "casebisect/supervise.h"
#include "casebisect/util.h"

extern char **environ;

static void on_done(void *ctx, const struct sup_result *r)
{
	int *bad = ctx;

	if (r->outcome != SUP_PASS)
		(*bad)++;
}

int main(void)
{
	static const char *const argv[] = { "/bin/true", NULL };
	int n = (int)bench_env_size("BENCH_TRIALS", 200, 1, 1000000), i, bad = 0;
	char dir[] = "/tmp/casebisect-bench-XXXXXX", err[256], tdir[128];
	struct sup_options o;
	struct sup_limits l = SUP_LIMITS_INIT;
	struct sup *s;
	double t0, first = 0, base, sup_total;

	if (!mkdtemp(dir))
		die("mkdtemp: cannot create %s", dir);
	memset(&o, 0, sizeof(o));
	o.limits = l;

	/* baseline: the bare process, the floor any supervisor pays */
	t0 = bench_now();
	for (i = 0; i < n; i++) {
		pid_t pid;
		int st;

		if (posix_spawn(&pid, argv[0], NULL, NULL, (char **)argv, environ))
			die("posix_spawn failed");
		waitpid(pid, &st, 0);
	}
	base = (bench_now() - t0) / n;

	s = sup_new(&o, err, sizeof(err));
	if (!s)
		die("%s", err);
	for (i = 0; i <= n; i++) {
		struct sup_trial_spec spec = { .number = (uint64_t)i + 1, .argv = argv };

		snprintf(tdir, sizeof(tdir), "%s/%04d", dir, i);
		mkdir(tdir, 0755);
		spec.trial_dir = tdir;
		if (i == 1)
			t0 = bench_now(); /* trial 0 pays the one-time pattern compile */
		else if (i == 0)
			first = bench_now();
		if (sup_start(s, &spec, on_done, &bad, err, sizeof(err)))
			die("%s", err);
		sup_run(s);
		if (i == 0)
			first = bench_now() - first;
	}
	sup_total = (bench_now() - t0) / n;
	sup_free(s);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			fprintf(stderr, "bench_trial: could not remove %s\n", dir);
	}

	printf("bench_trial: %d trials of /bin/true, one at a time\n", n);
	printf("  (a) bare posix_spawn + waitpid   %7.2f ms per run\n", base * 1e3);
	printf("  (b) casebisect trial (supervise) %7.2f ms per trial   (first trial: %.1f ms, "
	       "with the one-time pattern compile)\n", sup_total * 1e3, first * 1e3);
	printf("  supervisor's own overhead        %7.2f ms per trial   (b - a; ratio b/a %.1fx)\n",
	       (sup_total - base) * 1e3, sup_total / base);
	if (bad)
		printf("  WARNING: %d trials did not PASS\n", bad);
	printf("%s  overhead: %.2f ms per trial %s 20 ms\n",
	       (sup_total - base) * 1e3 < 20 ? "PASS" : "FAIL", (sup_total - base) * 1e3,
	       (sup_total - base) * 1e3 < 20 ? "<" : ">=");
	return 0;
}
