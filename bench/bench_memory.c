/* bench_memory: the peak memory of `casebisect run` on a large list dataset
 * against `casebisect cases` (which loads the same dataset and nothing
 * else), measured in the same run, and the same for `resume` and `report`
 * of the finished work directory. The target (issue 16, item 7): a
 * 10^6-case run's peak RSS within 2x the listing's, so that memory follows
 * the dataset, not cases x trials. A benchmark, not a test: it prints, and
 * exits 0 whatever the figures say. */
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "casebisect/util.h"

extern char **environ;

#define TARGET_RATIO 2.0

/* A child's peak RSS (KiB, from wait4's rusage: its own and that of the
 * children it reaped, the trainers included), wall time and exit status. */
struct child {
	long maxrss_kb;
	double wall_s;
	int status;
};

static struct child run_child(const char *const *argv, const char *out)
{
	posix_spawn_file_actions_t fa;
	struct child c = { 0, 0, -1 };
	struct rusage ru;
	double t0 = bench_now();
	pid_t pid;
	int st;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, out, O_WRONLY | O_APPEND, 0644);
	if (posix_spawn(&pid, argv[0], &fa, NULL, (char **)argv, environ))
		die("cannot start %s", argv[0]);
	posix_spawn_file_actions_destroy(&fa);
	if (wait4(pid, &st, 0, &ru) != pid)
		die("wait4 failed");
	c.wall_s = bench_now() - t0;
	c.maxrss_kb = ru.ru_maxrss;
	c.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return c;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) == EOF || fclose(f))
		die("cannot write %s", path);
	chmod(path, mode);
}

/* cases.txt: n IDs c0000000.. ; bad.txt: k of them, picked by a seeded PRNG. */
static void make_dataset(const char *dir, size_t n, size_t k)
{
	char *path = cb_fmt("%s/cases.txt", dir), *bad = cb_fmt("%s/bad.txt", dir);
	FILE *f = fopen(path, "w");
	uint64_t x = 0x9e3779b97f4a7c15ull;
	size_t i;

	if (!f)
		die("cannot write %s", path);
	for (i = 0; i < n; i++)
		fprintf(f, "c%07zu\n", i);
	if (fclose(f))
		die("cannot write %s", path);
	f = fopen(bad, "w");
	if (!f)
		die("cannot write %s", bad);
	for (i = 0; i < k; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		fprintf(f, "c%07zu\n", (size_t)(x % n));
	}
	if (fclose(f))
		die("cannot write %s", bad);
	free(path);
	free(bad);
}

static void row(const char *what, const struct child *c, long base_kb)
{
	printf("%-32s %8.1f MB  %6.2fx  %7.2f s  exit %d\n", what, c->maxrss_kb / 1024.0,
	       base_kb ? (double)c->maxrss_kb / (double)base_kb : 0.0, c->wall_s, c->status);
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : (long)st.st_size;
}

int main(void)
{
	size_t n = bench_env_size("BENCH_CASES", 1000000, 100, 10000000);
	size_t k = bench_env_size("BENCH_CULPRITS", 16, 1, 1000);
	const char *bin = getenv("CASEBISECT_BIN");
	char dir[] = "/tmp/casebisect-bench-XXXXXX";
	char *cases, *train, *wd, *out, *script, *journal, *rm;
	struct child ls, run, resume, report;
	long jsize;

	if (!bin || !*bin)
		bin = "./casebisect";
	if (access(bin, X_OK))
		die("%s: not found (build it, or set CASEBISECT_BIN)", bin);
	if (!mkdtemp(dir))
		die("mkdtemp: cannot create %s", dir);
	make_dataset(dir, n, k);
	cases = cb_fmt("%s/cases.txt", dir);
	train = cb_fmt("%s/train.sh", dir);
	wd = cb_fmt("%s/wd", dir);
	out = cb_fmt("%s/out.txt", dir);
	journal = cb_fmt("%s/journal.jsonl", wd);
	/* The lead's trainer: fails when its cases file holds a bad ID. */
	script = cb_fmt("#!/bin/sh\n"
			"if grep -qxFf %s/bad.txt \"$1\"; then\n"
			"  echo 'RuntimeError: CUDA error: device-side assert triggered' >&2; exit 1\n"
			"fi\n"
			"echo CASEBISECT_PASS\n",
			dir);
	write_text(train, script, 0755);

	printf("bench_memory: list dataset of %zu cases, %zu culprits, trainer: grep (%s)\n", n, k,
	       bin);
	{
		const char *const a[] = { bin, "cases", cases, NULL };

		ls = run_child(a, out);
	}
	{
		const char *const a[] = { bin, "run", "--workdir", wd, cases, "--", train,
					  "{cases_file}", NULL };

		run = run_child(a, out);
	}
	jsize = file_size(journal);
	{
		const char *const a[] = { bin, "resume", wd, NULL };

		resume = run_child(a, out);
	}
	{
		const char *const a[] = { bin, "report", wd, NULL };

		report = run_child(a, out);
	}
	printf("%-32s %8s     %7s  %9s\n", "", "peak RSS", "/cases", "wall");
	row("casebisect cases", &ls, ls.maxrss_kb);
	row("casebisect run", &run, ls.maxrss_kb);
	row("casebisect resume (finished)", &resume, ls.maxrss_kb);
	row("casebisect report", &report, ls.maxrss_kb);
	printf("journal.jsonl: %.1f KB\n", jsize / 1024.0);
	printf("%s: run/cases %.2fx, target <= %.1fx%s\n",
	       ls.status || run.status ? "FAIL (a command failed)" :
	       (double)run.maxrss_kb <= TARGET_RATIO * (double)ls.maxrss_kb ? "PASS" : "FAIL",
	       (double)run.maxrss_kb / (double)ls.maxrss_kb, TARGET_RATIO,
	       n == 1000000 ? "" : " (stated for 10^6 cases)");
	printf("%s: resume/cases %.2fx, report/cases %.2fx\n",
	       (double)resume.maxrss_kb <= TARGET_RATIO * (double)ls.maxrss_kb &&
	       (double)report.maxrss_kb <= TARGET_RATIO * (double)ls.maxrss_kb ? "PASS" : "FAIL",
	       (double)resume.maxrss_kb / (double)ls.maxrss_kb,
	       (double)report.maxrss_kb / (double)ls.maxrss_kb);
	if (getenv("BENCH_KEEP") && *getenv("BENCH_KEEP"))
		printf("kept: %s\n", dir);
	else {
		rm = cb_fmt("rm -rf '%s'", dir);
		if (system(rm))
			fprintf(stderr, "bench_memory: could not remove %s\n", dir);
		free(rm);
	}
	free(cases);
	free(train);
	free(wd);
	free(out);
	free(script);
	free(journal);
	return 0;
}
