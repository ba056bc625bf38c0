/* bench.h: what the benchmarks share: a clock and their BENCH_* knobs.
 * Header-only (each benchmark is one program built from one file). */
#ifndef CASEBISECT_BENCH_H
#define CASEBISECT_BENCH_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Seconds on clock clk (CLOCK_MONOTONIC for wall time, CLOCK_PROCESS_CPUTIME_ID
 * for CPU time). */
static inline double bench_clock(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of v[0..n-1] (n >= 1), which it sorts. */
static inline double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline double bench_now(void)
{
	return bench_clock(CLOCK_MONOTONIC);
}

/* The whole number in environment variable `name`, def when it is unset or
 * empty. Anything else than a number from min to max ends the benchmark
 * with status 1, naming the variable: a typo must not quietly measure
 * something else. */
static inline size_t bench_env_size(const char *name, size_t def, size_t min, size_t max)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "%s: %s=%s: expected a whole number from %zu to %zu\n",
			program_invocation_short_name, name, s, min, max);
		exit(1);
	}
	return (size_t)v;
}

#endif
