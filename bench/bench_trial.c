/* bench_trial: the supervisor's own cost per trial (spawn, pipes, classify,
 * the end procedure that finds the trial's processes, reaping, logs) for a
 * trivial command, against a bare posix_spawn + waitpid of the same command
 * measured in the same run; then the same with many idle processes on the
 * machine that are not casebisect's. A benchmark, not a test: it prints, and
 * exits 0. */
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
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

/* One measurement: per-run times in seconds, medians (the machine is
 * shared: a mean takes in every pause another process causes). */
struct row {
	double base;  /* bare posix_spawn + waitpid */
	double sup;   /* a trial through supervise, the first one left out */
	double cpu;   /* CPU time of the supervisor's process (all its threads) per trial */
	double first; /* the first trial (it compiles the classifier's patterns) */
	int bad;      /* trials that did not PASS */
};

static void on_done(void *ctx, const struct sup_result *r)
{
	int *bad = ctx;

	if (r->outcome != SUP_PASS)
		(*bad)++;
}

static struct row measure(int n)
{
	static const char *const argv[] = { "/bin/true", NULL };
	char dir[] = "/tmp/casebisect-bench-XXXXXX", err[256], tdir[128], cmd[128];
	struct sup_options o;
	struct sup_limits l = SUP_LIMITS_INIT;
	struct sup *s;
	struct row r = { 0 };
	double t0 = 0, c0, *times = xcalloc((size_t)n + 1, sizeof(*times));
	double *cpu = xcalloc((size_t)n + 1, sizeof(*cpu));
	int i;

	if (!mkdtemp(dir))
		die("mkdtemp: cannot create %s", dir);
	memset(&o, 0, sizeof(o));
	o.limits = l;

	/* baseline: the bare process, the floor any supervisor pays */
	for (i = 0; i < n; i++) {
		pid_t pid;
		int st;

		t0 = bench_now();
		if (posix_spawn(&pid, argv[0], NULL, NULL, (char **)argv, environ))
			die("posix_spawn failed");
		waitpid(pid, &st, 0);
		times[i] = bench_now() - t0;
	}
	r.base = bench_median(times, (size_t)n);

	s = sup_new(&o, err, sizeof(err));
	if (!s)
		die("%s", err);
	for (i = 0; i <= n; i++) {
		struct sup_trial_spec spec = { .number = (uint64_t)i + 1, .argv = argv };

		snprintf(tdir, sizeof(tdir), "%s/%04d", dir, i);
		mkdir(tdir, 0755);
		spec.trial_dir = tdir;
		t0 = bench_now();
		c0 = bench_clock(CLOCK_PROCESS_CPUTIME_ID);
		if (sup_start(s, &spec, on_done, &r.bad, err, sizeof(err)))
			die("%s", err);
		sup_run(s);
		times[i] = bench_now() - t0;
		cpu[i] = bench_clock(CLOCK_PROCESS_CPUTIME_ID) - c0;
	}
	/* trial 0 pays the one-time pattern compile */
	r.first = times[0];
	r.sup = bench_median(times + 1, (size_t)n);
	r.cpu = bench_median(cpu + 1, (size_t)n);
	free(times);
	free(cpu);
	sup_free(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "bench_trial: could not remove %s\n", dir);
	return r;
}

/* measure(n) in a child process: the supervisor makes its process a child
 * subreaper, and the idle processes must stay outside its tree, as other
 * users' processes on a shared node are. full_scan: with SUP_FULL_SCAN_ENV,
 * the full scan of /proc that casebisect used for every trial before. */
static struct row measure_apart(int n, bool full_scan)
{
	struct row r;
	int p[2], st;
	pid_t pid;

	if (pipe(p))
		die("pipe failed");
	pid = fork();
	if (pid < 0)
		die("fork failed");
	if (pid == 0) {
		close(p[0]);
		if (full_scan)
			setenv(SUP_FULL_SCAN_ENV, "1", 1);
		r = measure(n);
		_exit(write(p[1], &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 1);
	}
	close(p[1]);
	if (read(p[0], &r, sizeof(r)) != (ssize_t)sizeof(r))
		die("a measuring child failed");
	close(p[0]);
	waitpid(pid, &st, 0);
	return r;
}

/* count idle processes, children of one spawner (a child of ours, not of a
 * supervisor's process), each blocked reading a pipe whose only writer is
 * this process: they all end when it closes its end, or exits. */
struct idle {
	pid_t spawner;
	int hold; /* the write end */
};

static void idle_start(struct idle *d, size_t count)
{
	int hold[2], ready[2];
	size_t i;
	char c;

	if (pipe2(hold, O_CLOEXEC) || pipe(ready))
		die("pipe failed");
	d->spawner = fork();
	if (d->spawner < 0)
		die("fork failed");
	if (d->spawner == 0) {
		close(hold[1]);
		close(ready[0]);
		for (i = 0; i < count; i++) {
			pid_t pid = fork();

			if (pid < 0)
				_exit(1);
			if (pid == 0) {
				close(ready[1]);
				_exit(read(hold[0], &c, 1) < 0);
			}
		}
		close(hold[0]);
		c = 1;
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		close(ready[1]);
		while (wait(NULL) > 0)
			;
		_exit(0);
	}
	close(hold[0]);
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		die("could not start %zu idle processes", count);
	close(ready[0]);
	d->hold = hold[1];
}

static void idle_stop(struct idle *d)
{
	int st;

	close(d->hold);
	waitpid(d->spawner, &st, 0);
}

static double overhead_ms(const struct row *r)
{
	return (r->sup - r->base) * 1e3;
}

static int cmp_overhead(const void *a, const void *b)
{
	double x = overhead_ms(a), y = overhead_ms(b);

	return x < y ? -1 : x > y;
}

/* The round whose overhead is the median (the machine is shared: a whole
 * round can be slowed by others). Sorts v. */
static struct row median_round(struct row *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_overhead);
	return v[n / 2];
}

static void print_row(const char *what, const struct row *r)
{
	printf("  %-27s %6.2f ms   %6.2f ms   %6.2f ms   %6.2f ms%s\n", what, r->base * 1e3,
	       r->sup * 1e3, overhead_ms(r), r->cpu * 1e3, r->bad ? "   (some did not PASS)" : "");
}

int main(void)
{
	int n = (int)bench_env_size("BENCH_TRIALS", 200, 1, 1000000);
	size_t nidle = bench_env_size("BENCH_IDLE", 1000, 1, 20000);
	size_t rounds = bench_env_size("BENCH_ROUNDS", 3, 1, 100), i;
	int n_old = n < 50 ? n : 50; /* the full scan among many processes is slow */
	struct row *q = xcalloc(rounds, sizeof(*q)), *b = xcalloc(rounds, sizeof(*b));
	struct row quiet, busy, old_quiet, old_busy;
	struct idle idle;
	double ratio, cpu_ratio, old_ratio;
	int bad = 0;

	/* Rounds alternate between the idle machine and the busy one, so that
	 * what others run on the machine meanwhile weighs on both alike. */
	for (i = 0; i < rounds; i++) {
		q[i] = measure_apart(n, false);
		idle_start(&idle, nidle);
		b[i] = measure_apart(n, false);
		if (i == rounds - 1)
			old_busy = measure_apart(n_old, true);
		idle_stop(&idle);
		bad += q[i].bad + b[i].bad;
	}
	old_quiet = measure_apart(n_old, true);
	quiet = median_round(q, rounds);
	busy = median_round(b, rounds);
	free(q);
	free(b);
	ratio = overhead_ms(&busy) / overhead_ms(&quiet);
	cpu_ratio = busy.cpu / quiet.cpu;
	old_ratio = overhead_ms(&old_busy) / overhead_ms(&old_quiet);

	printf("bench_trial: %d trials of /bin/true, one at a time, medians (of the median "
	       "round of %zu)\n", n, rounds);
	printf("  (a) bare posix_spawn + waitpid   %7.2f ms per run\n", quiet.base * 1e3);
	printf("  (b) casebisect trial (supervise) %7.2f ms per trial   (first trial: %.1f ms, "
	       "with the one-time pattern compile)\n", quiet.sup * 1e3, quiet.first * 1e3);
	printf("  supervisor's own overhead        %7.2f ms per trial   (b - a; ratio b/a %.1fx)\n",
	       overhead_ms(&quiet), quiet.sup / quiet.base);
	printf("bench_trial: the same with %zu idle processes outside casebisect's tree\n", nidle);
	printf("  %-27s %9s  %9s  %9s  %9s\n", "", "(a) run", "(b) trial", "overhead",
	       "sup CPU");
	print_row("idle machine", &quiet);
	print_row("busy machine", &busy);
	printf("  busy / idle: overhead %.2fx, supervisor CPU %.2fx\n", ratio, cpu_ratio);
	printf("  before: a full /proc scan per look (%s=1), %d trials, one round\n",
	       SUP_FULL_SCAN_ENV, n_old);
	print_row("idle machine, full scan", &old_quiet);
	print_row("busy machine, full scan", &old_busy);
	printf("  busy / idle: overhead %.2fx, supervisor CPU %.2fx\n", old_ratio,
	       old_busy.cpu / old_quiet.cpu);
	if (bad)
		printf("  WARNING: %d trials did not PASS\n", bad);
	printf("%s  overhead: %.2f ms per trial %s 20 ms\n", overhead_ms(&quiet) < 20 ? "PASS" : "FAIL",
	       overhead_ms(&quiet), overhead_ms(&quiet) < 20 ? "<" : ">=");
	printf("%s  overhead with %zu idle processes: %.2fx the idle machine's %s 2x\n",
	       ratio <= 2 ? "PASS" : "FAIL", nidle, ratio, ratio <= 2 ? "<=" : ">");
	return 0;
}
