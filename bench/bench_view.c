/* bench_view: how long a subset view of 10,000 cases takes to build and
 * remove (list and nnunet-pre formats), against bare loops of the same
 * system calls measured in the same run, and the memory of a 100,000-case
 * dataset with a list view of all of it (a benchmark, not a test: it prints
 * numbers and PASS/FAIL against targets, and exits 0). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "casebisect/dataset.h"
#include "casebisect/util.h"
#include "casebisect/view.h"

#define TARGET_VIEW_S 1.0
#define TARGET_RSS_MB 100.0
#define FILES_PER_CASE 3

static const char *const suffix[FILES_PER_CASE] = { ".b2nd", "_seg.b2nd", ".pkl" };

/* "VmRSS" or "VmHWM" of this process, in MB (2^20 bytes). */
static double proc_mb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	double kb = -1;
	size_t n = strlen(key);

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			kb = strtod(line + n + 1, NULL);
	fclose(f);
	return kb / 1024.0;
}

static char *path_fmt(const char *fmt, ...) CB_PRINTF(1, 2);

static char *path_fmt(const char *fmt, ...)
{
	va_list ap;
	char buf[4096];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return xstrdup(buf);
}

static void touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0 || close(fd) < 0)
		die("bench_view: cannot create %s: %s", path, strerror(errno));
}

static void make_dir(const char *path)
{
	if (mkdir(path, 0777) < 0)
		die("bench_view: cannot create %s: %s", path, strerror(errno));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static void rm_tree(const char *path)
{
	if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		fprintf(stderr, "bench_view: could not remove %s\n", path);
}

/* A dataset of n cases whose files are the ones on disk for case i % nreal
 * (so n may exceed what is on disk); each path is its own allocation, as
 * ds_load would make it. */
static void make_dataset(struct dataset *ds, enum ds_format format, const char *pp, size_t n,
			 size_t nreal)
{
	size_t i, j;

	memset(ds, 0, sizeof(*ds));
	ds->format = format;
	ds->root = path_fmt("%s/Dataset501_Liver", pp);
	ds->dataset_name = xstrdup("Dataset501_Liver");
	ds->plans_file = path_fmt("%s/nnUNetPlans.json", ds->root);
	ds->dataset_json = path_fmt("%s/dataset.json", ds->root);
	ds->fingerprint_file = path_fmt("%s/dataset_fingerprint.json", ds->root);
	ds->data_dir = path_fmt("%s/nnUNetPlans_3d_fullres", ds->root);
	ds->configuration = xstrdup("3d_fullres");
	ds->cases = xcalloc(n, sizeof(*ds->cases));
	ds->ncases = n;
	for (i = 0; i < n; i++) {
		struct ds_case *c = &ds->cases[i];

		c->id = path_fmt("case_%06zu", i);
		c->nfiles = FILES_PER_CASE;
		c->label = 1;
		c->files = xcalloc(FILES_PER_CASE, sizeof(*c->files));
		for (j = 0; j < FILES_PER_CASE; j++)
			c->files[j] = path_fmt("%s/case_%06zu%s", ds->data_dir, i % nreal, suffix[j]);
	}
}

static void free_dataset(struct dataset *ds)
{
	ds_release(ds);
}

struct timing {
	double build, remove;
};

/* Builds and removes a view of all of ds, repeat times; medians. */
static struct timing time_view(const struct dataset *ds, const size_t *subset, const char *trial,
			       size_t repeat)
{
	double *b = xcalloc(repeat, sizeof(double)), *r = xcalloc(repeat, sizeof(double));
	struct timing t;
	char err[1024];
	size_t i;

	for (i = 0; i < repeat; i++) {
		struct view v;
		double t0 = bench_now();

		if (view_build(&v, ds, subset, ds->ncases, trial, err, sizeof(err)) < 0)
			die("bench_view: view_build: %s", err);
		b[i] = bench_now() - t0;
		view_release(&v);
		t0 = bench_now();
		if (view_remove(trial, err, sizeof(err)) < 0)
			die("bench_view: view_remove: %s", err);
		r[i] = bench_now() - t0;
	}
	t.build = bench_median(b, repeat);
	t.remove = bench_median(r, repeat);
	free(b);
	free(r);
	return t;
}

/* The floor: the same links made by a bare symlink() loop into one folder
 * (and removed by a bare unlink() loop), and a bare stat() of every file. */
static void time_baselines(const struct dataset *ds, const char *dir, size_t repeat,
			   struct timing *links, double *stats)
{
	double *b = xcalloc(repeat, sizeof(double)), *r = xcalloc(repeat, sizeof(double));
	double *s = xcalloc(repeat, sizeof(double));
	char path[4096];
	size_t i, k, j;

	for (k = 0; k < repeat; k++) {
		double t0 = bench_now();

		make_dir(dir);
		for (i = 0; i < ds->ncases; i++)
			for (j = 0; j < ds->cases[i].nfiles; j++) {
				snprintf(path, sizeof(path), "%s/%s", dir,
					 strrchr(ds->cases[i].files[j], '/') + 1);
				if (symlink(ds->cases[i].files[j], path) < 0)
					die("bench_view: symlink %s: %s", path, strerror(errno));
			}
		b[k] = bench_now() - t0;
		t0 = bench_now();
		for (i = 0; i < ds->ncases; i++)
			for (j = 0; j < ds->cases[i].nfiles; j++) {
				snprintf(path, sizeof(path), "%s/%s", dir,
					 strrchr(ds->cases[i].files[j], '/') + 1);
				if (unlink(path) < 0)
					die("bench_view: unlink %s: %s", path, strerror(errno));
			}
		if (rmdir(dir) < 0)
			die("bench_view: rmdir %s: %s", dir, strerror(errno));
		r[k] = bench_now() - t0;
		t0 = bench_now();
		for (i = 0; i < ds->ncases; i++)
			for (j = 0; j < ds->cases[i].nfiles; j++) {
				struct stat st;

				if (stat(ds->cases[i].files[j], &st) < 0)
					die("bench_view: stat %s: %s", ds->cases[i].files[j],
					    strerror(errno));
			}
		s[k] = bench_now() - t0;
	}
	links->build = bench_median(b, repeat);
	links->remove = bench_median(r, repeat);
	*stats = bench_median(s, repeat);
	free(b);
	free(r);
	free(s);
}

static const char *fs_name(const char *path)
{
	struct statfs sf;

	if (statfs(path, &sf) < 0)
		return "?";
	switch ((unsigned long)sf.f_type) {
	case 0xef53UL: return "ext4";
	case 0x01021994UL: return "tmpfs";
	case 0x58465342UL: return "xfs";
	case 0x9123683eUL: return "btrfs";
	case 0x794c7630UL: return "overlayfs";
	default: return "other";
	}
}

/* What one file system gave for the views of n cases. */
struct fs_result {
	char fs[16];
	double stat_t, make_t;
	struct timing list_t, pre_t, links_t;
};

/* Builds the fake dataset of n cases under parent, times the bare loops and
 * both views there, prints the lines, and removes it all again. */
static void bench_fs(const char *parent, size_t n, size_t repeat, struct fs_result *res)
{
	char root[4096], *pp, *trial, *bare, *p;
	struct dataset ds;
	size_t *subset, i, j;
	double t0;

	snprintf(root, sizeof(root), "%s/casebisect-bench-view-XXXXXX", parent);
	if (!mkdtemp(root))
		die("bench_view: mkdtemp %s: %s", root, strerror(errno));
	snprintf(res->fs, sizeof(res->fs), "%s", fs_name(root));
	pp = path_fmt("%s/nnUNet_preprocessed", root);
	make_dir(pp);
	make_dataset(&ds, DS_NNUNET_PRE, pp, n, n);
	make_dir(ds.root);
	make_dir(ds.data_dir);
	touch(ds.plans_file);
	touch(ds.dataset_json);
	touch(ds.fingerprint_file);
	t0 = bench_now();
	for (i = 0; i < n; i++)
		for (j = 0; j < FILES_PER_CASE; j++)
			touch(ds.cases[i].files[j]);
	res->make_t = bench_now() - t0;
	trial = path_fmt("%s/trial", root);
	make_dir(trial);
	bare = path_fmt("%s/bare", root);
	subset = xcalloc(n, sizeof(*subset));
	for (i = 0; i < n; i++)
		subset[i] = i;

	printf("bench_view: views of %zu cases (%d files each) in %s (%s), median of %zu\n", n,
	       FILES_PER_CASE, root, res->fs, repeat);
	printf("  creating the dataset's %zu empty files once   %8.1f ms\n", n * FILES_PER_CASE,
	       res->make_t * 1e3);
	time_baselines(&ds, bare, repeat, &res->links_t, &res->stat_t);
	ds.format = DS_LIST;
	res->list_t = time_view(&ds, subset, trial, repeat);
	ds.format = DS_NNUNET_PRE;
	res->pre_t = time_view(&ds, subset, trial, repeat);
	printf("  (a) bare stat() of the %zu files             %8.1f ms\n", n * FILES_PER_CASE,
	       res->stat_t * 1e3);
	printf("  (b) bare symlink() of the %zu files          %8.1f ms   (bare unlink(): %.1f ms)\n",
	       n * FILES_PER_CASE, res->links_t.build * 1e3, res->links_t.remove * 1e3);
	printf("  list view, view_build                        %8.1f ms   ratio to (a) %.2f\n",
	       res->list_t.build * 1e3, res->list_t.build / res->stat_t);
	printf("  list view, view_remove                       %8.1f ms\n", res->list_t.remove * 1e3);
	printf("  nnunet-pre view, view_build                  %8.1f ms   ratio to (b) %.2f\n",
	       res->pre_t.build * 1e3, res->pre_t.build / res->links_t.build);
	printf("  nnunet-pre view, view_remove                 %8.1f ms   ratio to bare unlink() "
	       "%.2f\n", res->pre_t.remove * 1e3, res->pre_t.remove / res->links_t.remove);
	free_dataset(&ds);
	p = xstrdup(root);
	rm_tree(p);
	free(p);
	free(subset);
	free(trial);
	free(bare);
	free(pp);
}

/* The target lines for one file system. On a disk where the bare symlink()
 * loop alone takes the second, the file system is the limit: said so. */
static void print_targets(const char *where, size_t n, const struct fs_result *r)
{
	printf("%s  list view of %zu cases on %s (%s): %.3f s < %.0f s\n",
	       r->list_t.build < TARGET_VIEW_S ? "PASS" : "FAIL", n, where, r->fs, r->list_t.build,
	       TARGET_VIEW_S);
	printf("%s  nnunet-pre view of %zu cases on %s (%s): %.3f s < %.0f s",
	       r->pre_t.build < TARGET_VIEW_S ? "PASS" : "FAIL", n, where, r->fs, r->pre_t.build,
	       TARGET_VIEW_S);
	if (r->pre_t.build >= TARGET_VIEW_S)
		printf(" (the bare symlink() loop alone: %.3f s; the view costs %.2fx that)",
		       r->links_t.build, r->pre_t.build / r->links_t.build);
	printf("\n");
}

int main(void)
{
	size_t n = bench_env_size("BENCH_CASES", 10000, 1, 10000000);
	size_t nbig = bench_env_size("BENCH_BIG_CASES", 100000, 1, 10000000);
	size_t repeat = bench_env_size("BENCH_REPEAT", 5, 1, 10000000);
	const char *tmp = getenv("TMPDIR");
	const char *disk = tmp && *tmp ? tmp : "/tmp";
	char root[4096], *pp, *trial, *p;
	struct dataset ds;
	struct fs_result on_disk, on_tmpfs;
	struct timing big_t;
	double rss0, rss1, rss2;
	size_t *subset, i, j;
	struct rusage ru;
	bool ok_rss, have_tmpfs;

	/* Work directories live on the user's disk; the same views on tmpfs
	 * (/dev/shm) show casebisect's own cost apart from the disk's. */
	bench_fs(disk, n, repeat, &on_disk);
	have_tmpfs = strcmp(on_disk.fs, "tmpfs") && !strcmp(fs_name("/dev/shm"), "tmpfs") &&
		     !access("/dev/shm", W_OK);
	if (have_tmpfs)
		bench_fs("/dev/shm", n, repeat, &on_tmpfs);

	/* Memory: a dataset of nbig cases in memory, and a list view of all of
	 * it (its files are n on disk, each used nbig/n times). */
	snprintf(root, sizeof(root), "%s/casebisect-bench-view-XXXXXX", disk);
	if (!mkdtemp(root))
		die("bench_view: mkdtemp %s: %s", root, strerror(errno));
	pp = path_fmt("%s/nnUNet_preprocessed", root);
	make_dir(pp);
	trial = path_fmt("%s/trial", root);
	make_dir(trial);
	make_dataset(&ds, DS_LIST, pp, n, n);
	make_dir(ds.root);
	make_dir(ds.data_dir);
	for (i = 0; i < n; i++)
		for (j = 0; j < FILES_PER_CASE; j++)
			touch(ds.cases[i].files[j]);
	free_dataset(&ds);
	subset = xcalloc(nbig, sizeof(*subset));
	for (i = 0; i < nbig; i++)
		subset[i] = i;
	rss0 = proc_mb("VmRSS");
	make_dataset(&ds, DS_LIST, pp, nbig, n);
	rss1 = proc_mb("VmRSS");
	big_t = time_view(&ds, subset, trial, 1);
	rss2 = proc_mb("VmRSS");
	getrusage(RUSAGE_SELF, &ru);
	printf("bench_view: a %zu-case dataset in memory (%d files a case, paths like %s)\n", nbig,
	       FILES_PER_CASE, ds.cases[0].files[0]);
	printf("  RSS before %.1f MB, with the dataset %.1f MB (%.0f bytes a case), after a list "
	       "view of all %.1f MB\n", rss0, rss1, (rss1 - rss0) * 1048576.0 / (double)nbig, rss2);
	printf("  list view of all %zu cases: view_build %.1f ms, view_remove %.1f ms\n", nbig,
	       big_t.build * 1e3, big_t.remove * 1e3);
	printf("  peak RSS of the whole run                    %8.1f MB\n", (double)ru.ru_maxrss / 1024.0);
	free_dataset(&ds);

	print_targets(disk, n, &on_disk);
	if (have_tmpfs)
		print_targets("/dev/shm", n, &on_tmpfs);
	ok_rss = (double)ru.ru_maxrss / 1024.0 < TARGET_RSS_MB;
	printf("%s  peak RSS with a %zu-case dataset: %.1f MB < %.0f MB\n", ok_rss ? "PASS" : "FAIL",
	       nbig, (double)ru.ru_maxrss / 1024.0, TARGET_RSS_MB);

	p = xstrdup(root);
	rm_tree(p);
	free(p);
	free(subset);
	free(trial);
	free(pp);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "bench_view: cannot write to stdout\n");
		return 1;
	}
	return 0;
}
