/* bench_audit: the label audit's throughput on realistic label volumes
 * (256x256x160 uint8, mostly 0 with blobs of 1 and 2, gzip'd), against, in
 * the same run, zcat of the same files (the decompression bound), zlib's
 * gzread alone, and Python nibabel + numpy.unique per file (what nnU-Net's
 * check does) when Python has them (a benchmark, not a test: it prints
 * numbers and PASS/FAIL against targets, and exits 0). */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>
#include <zlib.h>
#undef DT_UNKNOWN /* <dirent.h>'s (through uv.h), not niftilib's */
#include <nifti2_io.h>

#include "bench.h"
#include "casebisect/audit.h"
#include "casebisect/dataset.h"
#include "casebisect/util.h"

#define NX 256
#define NY 256
#define NZ 160
#define VOL ((size_t)NX * NY * NZ)
#define BAD_CASE 3 /* gets a cube of 255: the audit must find it */

/* Blobs per volume (BENCH_AUDIT_BLOBS): more blobs, more edges, a lower
 * gzip ratio and more inflate work per voxel. */
static int nblobs = 3;

static uint32_t rng(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* A NIfTI-1 header (and the 4 extension bytes) for a 3D volume. */
static void header(unsigned char out[352], int dt)
{
	int64_t d[8] = { 3, NX, NY, NZ, 1, 1, 1, 1 };
	nifti_image *nim = nifti_make_new_nim(d, dt, 0);
	nifti_1_header h;

	if (!nim || nifti_convert_nim2n1hdr(nim, &h))
		die("cannot make a NIfTI header");
	nifti_image_free(nim);
	h.vox_offset = 352;
	memcpy(h.magic, "n+1", 4);
	memset(out, 0, 352);
	memcpy(out, &h, sizeof(h));
}

/* One label volume, written slice by slice (gzip level 6, as nibabel and
 * SimpleITK write): nblobs ellipsoid blobs of 1 with a core of 2, at places
 * and sizes drawn from seed. */
static void write_label(const char *path, uint32_t seed, bool bad)
{
	unsigned char hdr[352], *slice = xmalloc((size_t)NX * NY);
	double *cx = xcalloc((size_t)nblobs, sizeof(double)), *cy = xcalloc((size_t)nblobs, sizeof(double));
	double *cz = xcalloc((size_t)nblobs, sizeof(double)), *r = xcalloc((size_t)nblobs, sizeof(double));
	gzFile g = gzopen(path, "wb6");
	int b, x, y, z;

	if (!g)
		die("cannot write %s", path);
	header(hdr, DT_UINT8);
	for (b = 0; b < nblobs; b++) {
		cx[b] = 40 + rng(&seed) % (NX - 80);
		cy[b] = 40 + rng(&seed) % (NY - 80);
		cz[b] = 30 + rng(&seed) % (NZ - 60);
		r[b] = 12 + rng(&seed) % 24;
	}
	if (gzwrite(g, hdr, sizeof(hdr)) != (int)sizeof(hdr))
		die("cannot write %s", path);
	for (z = 0; z < NZ; z++) {
		memset(slice, 0, (size_t)NX * NY);
		for (b = 0; b < nblobs; b++) {
			double dz = (z - cz[b]) / r[b];
			int y0 = (int)fmax(0, cy[b] - r[b]), y1 = (int)fmin(NY - 1, cy[b] + r[b]);
			int x0 = (int)fmax(0, cx[b] - r[b]), x1 = (int)fmin(NX - 1, cx[b] + r[b]);

			if (fabs(dz) >= 1)
				continue;
			for (y = y0; y <= y1; y++)
				for (x = x0; x <= x1; x++) {
					double dx = (x - cx[b]) / r[b], dy = (y - cy[b]) / (0.8 * r[b]);
					double q = dx * dx + dy * dy + dz * dz;

					if (q < 1)
						slice[x + NX * y] = q < 0.3 ? 2 : 1;
				}
		}
		if (bad && z >= 100 && z < 104)
			for (y = 10; y < 14; y++)
				memset(slice + 10 + NX * y, 255, 4);
		if (gzwrite(g, slice, NX * NY) != NX * NY)
			die("cannot write %s", path);
	}
	if (gzclose(g) != Z_OK)
		die("cannot write %s", path);
	free(slice);
	free(cx);
	free(cy);
	free(cz);
	free(r);
}

/* The one image all cases share (headers are all the audit reads of it). */
static void write_image(const char *path)
{
	unsigned char hdr[352], *zero = xcalloc(1, (size_t)NX * NY * 4);
	gzFile g = gzopen(path, "wb1");
	int z;

	header(hdr, DT_FLOAT32);
	if (!g || gzwrite(g, hdr, sizeof(hdr)) != (int)sizeof(hdr))
		die("cannot write %s", path);
	for (z = 0; z < NZ; z++)
		if (gzwrite(g, zero, NX * NY * 4) != NX * NY * 4)
			die("cannot write %s", path);
	if (gzclose(g) != Z_OK)
		die("cannot write %s", path);
	free(zero);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* zlib's gzread of every file into a 1 MiB buffer, nothing else. */
static double gzread_all(char **files, size_t n)
{
	unsigned char *buf = xmalloc(1 << 20);
	double t0 = bench_now();
	size_t i;

	for (i = 0; i < n; i++) {
		gzFile g = gzopen(files[i], "rb");
		int r;

		if (!g)
			die("cannot read %s", files[i]);
		gzbuffer(g, 128 << 10);
		while ((r = gzread(g, buf, 1 << 20)) > 0)
			;
		gzclose(g);
	}
	free(buf);
	return bench_now() - t0;
}

/* The same work as np.unique(np.asanyarray(nib.load(f).dataobj)) per file,
 * with a clock between the load and the unique: it prints the total, the
 * two parts, and numpy's version (numpy 2's unique is about twice 1.x's). */
static const char py_script[] =
	"import sys, time\n"
	"import nibabel as nib, numpy as np\n"
	"tl = tu = 0.0\n"
	"for f in sys.argv[1:]:\n"
	"    t0 = time.monotonic()\n"
	"    a = np.asanyarray(nib.load(f).dataobj)\n"
	"    t1 = time.monotonic()\n"
	"    np.unique(a)\n"
	"    tu += time.monotonic() - t1\n"
	"    tl += t1 - t0\n"
	"print(tl + tu, tl, tu, np.__version__)\n";

/* The first of $BENCH_PYTHON, python3 and /usr/bin/python3 (Debian's, where
 * python3-nibabel installs) that has nibabel and numpy, or NULL. */
static const char *find_python(void)
{
	static const char *const cands[] = { NULL, "python3", "/usr/bin/python3" };
	const char *env = getenv("BENCH_PYTHON");
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(cands); i++) {
		const char *py = i == 0 ? env : cands[i];
		char *cmd;
		int rc;

		if (!py || !*py || strchr(py, '\''))
			continue;
		cmd = cb_fmt("'%s' -c 'import nibabel, numpy' >/dev/null 2>&1", py);
		rc = system(cmd);
		free(cmd);
		if (rc == 0)
			return py;
	}
	return NULL;
}

/* One run of the Python baseline over the files; false when it failed. */
static bool run_python(const char *python, const char *script, const char *dir, double *total,
		       double *load, double *uniq, char *numpy, size_t numpylen)
{
	char *cmd = cb_fmt("'%s' %s %s/case_*.nii.gz", python, script, dir);
	FILE *pp = popen(cmd, "r");
	char line[128] = "", ver[32] = "";
	bool ok = pp && fgets(line, sizeof(line), pp) &&
		  sscanf(line, "%lf %lf %lf %31s", total, load, uniq, ver) == 4 && *total > 0;

	if (pp && pclose(pp) != 0)
		ok = false;
	free(cmd);
	cb_strlcpy(numpy, ver, numpylen);
	return ok;
}

/* "median s (min..max)" of v[0..n-1], which it sorts. */
static const char *spread(double *v, size_t n, char *buf, size_t len)
{
	double m = bench_median(v, n);

	snprintf(buf, len, "%.3f s, %.3f..%.3f", m, v[0], v[n - 1]);
	return buf;
}

int main(void)
{
	size_t ncases = bench_env_size("BENCH_AUDIT_CASES", 8, 2, 10000);
	size_t repeat = bench_env_size("BENCH_REPEAT", 5, 1, 1000);
	bool keep = bench_env_size("BENCH_AUDIT_KEEP", 0, 0, 1);
	unsigned cores = uv_available_parallelism(), jobs_all;
	const char *tmp = getenv("TMPDIR");
	char *dir, *list = xstrdup(""), *t, *img, **labels = xcalloc(ncases, sizeof(char *));
	double mb = (double)ncases * (double)VOL / 1e6, t0;
	double *t_zcat = xcalloc(repeat, sizeof(double)), *t_gz = xcalloc(repeat, sizeof(double));
	double *t1 = xcalloc(repeat, sizeof(double)), *tn = xcalloc(repeat, sizeof(double));
	double *t_py = xcalloc(repeat, sizeof(double)), *t_load = xcalloc(repeat, sizeof(double));
	double *t_uniq = xcalloc(repeat, sizeof(double)), *ratio = xcalloc(repeat, sizeof(double));
	double m_zcat, m_gz, m1, mn, m_py = 0, m_load = 0, m_uniq = 0, m_ratio = 0;
	struct aud_options o = { 0 };
	struct aud_result r1, rn;
	struct dataset ds;
	char err[512], numpy[32] = "", sp[64], *script = NULL;
	const char *python;
	double load[1] = { 0 };
	size_t i, r;
	bool py;

	nblobs = (int)bench_env_size("BENCH_AUDIT_BLOBS", 3, 1, 1000);
	jobs_all = (unsigned)bench_env_size("BENCH_AUDIT_JOBS", cores, 1, 1024);
	dir = cb_fmt("%s/bench_audit.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		die("mkdtemp: %s", strerror(errno));
	img = cb_fmt("%s/image_0000.nii.gz", dir);
	write_image(img);
	t0 = bench_now();
	for (i = 0; i < ncases; i++) {
		labels[i] = cb_fmt("%s/case_%03zu.nii.gz", dir, i);
		write_label(labels[i], (uint32_t)(2654435761u * (i + 1)), i == BAD_CASE);
		t = cb_fmt("%scase_%03zu\t%s\t%s\n", list, i, img, labels[i]);
		free(list);
		list = t;
	}
	t = cb_path_join(dir, "cases.txt");
	{
		FILE *f = fopen(t, "w");

		if (!f || fputs(list, f) < 0 || fclose(f))
			die("cannot write %s", t);
	}
	{
		struct stat st;
		double disk = 0;

		for (i = 0; i < ncases; i++)
			if (stat(labels[i], &st) == 0)
				disk += (double)st.st_size;
		printf("input       %zu label volumes %dx%dx%d uint8, %d blob%s each (%.1f MB "
		       "decoded, %.2f MB gzip'd, ratio %.0f:1), written in %.2f s\n", ncases, NX,
		       NY, NZ, nblobs, nblobs == 1 ? "" : "s", mb, disk / 1e6, mb * 1e6 / disk,
		       bench_now() - t0);
	}
	if (ds_load(&ds, t, NULL, err, sizeof(err)))
		die("%s", err);

	python = find_python();
	py = python != NULL;
	if (py) {
		FILE *f;

		script = cb_path_join(dir, "unique.py");
		f = fopen(script, "w");
		if (!f || fputs(py_script, f) < 0 || fclose(f))
			die("cannot write %s", script);
	}

	/* Rounds of every line in turn, so that load from elsewhere on a shared
	 * machine falls on all of them alike; the files stay in the page cache
	 * (just written), so every line reads them warm. */
	memset(&r1, 0, sizeof(r1));
	memset(&rn, 0, sizeof(rn));
	o.labels = "0,1,2";
	for (r = 0; r < repeat; r++) {
		char *cmd = cb_fmt("zcat %s/case_*.nii.gz > /dev/null", dir);

		t0 = bench_now();
		if (system(cmd) != 0)
			die("zcat failed");
		t_zcat[r] = bench_now() - t0;
		free(cmd);
		t_gz[r] = gzread_all(labels, ncases);

		aud_result_release(&r1);
		aud_result_release(&rn);
		o.jobs = 1;
		if (aud_run(&ds, &o, &r1, err, sizeof(err)))
			die("%s", err);
		t1[r] = r1.seconds;
		o.jobs = jobs_all;
		if (aud_run(&ds, &o, &rn, err, sizeof(err)))
			die("%s", err);
		tn[r] = rn.seconds;
		if (py)
			py = run_python(python, script, dir, &t_py[r], &t_load[r], &t_uniq[r], numpy,
					sizeof(numpy));
		ratio[r] = py ? t_py[r] / t1[r] : 0;
	}

	m_zcat = bench_median(t_zcat, repeat);
	m_gz = bench_median(t_gz, repeat);
	m1 = bench_median(t1, repeat);
	mn = bench_median(tn, repeat);
	if (py) {
		m_py = bench_median(t_py, repeat);
		m_load = bench_median(t_load, repeat);
		m_uniq = bench_median(t_uniq, repeat);
		m_ratio = bench_median(ratio, repeat);
	}
	printf("timings     median of %zu rounds (BENCH_REPEAT), min..max beside it\n", repeat);
	printf("(a) zcat               %8.1f MB/s  (%s; the decompression bound)\n", mb / m_zcat,
	       spread(t_zcat, repeat, sp, sizeof(sp)));
	printf("(b) zlib gzread only   %8.1f MB/s  (%s; inflate, no histogram)\n", mb / m_gz,
	       spread(t_gz, repeat, sp, sizeof(sp)));
	printf("(c) audit, 1 job       %8.1f MB/s  (%s; %zu crash finding%s, %s)\n", mb / m1,
	       spread(t1, repeat, sp, sizeof(sp)), r1.findings[AUD_CRASH],
	       r1.findings[AUD_CRASH] == 1 ? "" : "s",
	       aud_case_crashes(&r1, BAD_CASE < ncases ? BAD_CASE : 0) ? "case_003 found"
								       : "case_003 MISSED");
	printf("(d) audit, %u job%s     %8.1f MB/s  (%s; %.2fx (c), %u core%s)\n", jobs_all,
	       jobs_all == 1 ? " " : "s", mb / mn, spread(tn, repeat, sp, sizeof(sp)), m1 / mn,
	       cores, cores == 1 ? "" : "s");
	if (py) {
		printf("(e) nibabel+np.unique  %8.1f MB/s  (%s in %s, numpy %s, imports not "
		       "counted)\n", mb / m_py, spread(t_py, repeat, sp, sizeof(sp)), python, numpy);
		printf("    of which load      %8.1f MB/s  (%.3f s: nib.load + np.asanyarray(dataobj), "
		       "gzip inflate into a new array)\n", mb / m_load, m_load);
		printf("    of which np.unique %8.1f MB/s  (%.3f s: a sort of every voxel)\n",
		       mb / m_uniq, m_uniq);
	} else {
		printf("(e) nibabel+np.unique  skipped (python3 with nibabel and numpy not found)\n");
	}
	printf("ratio audit/zcat       %.2f\n", m_zcat / m1);
	printf("ratio audit/gzread     %.2f\n", m_gz / m1);
	if (py) {
		printf("ratio audit/nibabel    %.1f (median of the rounds' ratios; %.1f..%.1f)\n",
		       m_ratio, ratio[0], ratio[repeat - 1]);
		/* The audit inflates with zlib through niftilib's znz: (b) is its
		 * floor, so this is as far as any audit on zlib could get. */
		printf("ratio nibabel/gzread   %.1f (the ceiling of audit/nibabel while zlib "
		       "inflates)\n", m_py / m_gz);
		printf("ratio audit %u job%s/nibabel %.1f (informative: nibabel and np.unique use "
		       "one thread)\n", jobs_all, jobs_all == 1 ? "" : "s", m_py / mn);
	}

	printf("%s  one job at least zcat's throughput: %.1f >= %.1f MB/s\n",
	       m1 <= m_zcat ? "PASS" : "FAIL", mb / m1, mb / m_zcat);
	if (py)
		printf("%s  at least 10x nibabel + numpy.unique: %.1fx\n",
		       m_ratio >= 10 ? "PASS" : "FAIL", m_ratio);
	if (getloadavg(load, 1) < 1)
		load[0] = -1;
	printf("%s  %u jobs scale near linearly: %.2fx of %u (>= 0.7 per job; load average "
	       "%.2f on %u cores)\n", m1 / mn >= 0.7 * jobs_all ? "PASS" : "FAIL", jobs_all,
	       m1 / mn, jobs_all, load[0], cores);
	printf("%s  the bad case is found, and only it: %zu crash case%s\n",
	       BAD_CASE >= ncases || (rn.cases_with[AUD_CRASH] == 1 &&
				      aud_case_crashes(&rn, BAD_CASE)) ? "PASS" : "FAIL",
	       rn.cases_with[AUD_CRASH], rn.cases_with[AUD_CRASH] == 1 ? "" : "s");

	aud_result_release(&r1);
	aud_result_release(&rn);
	ds_release(&ds);
	if (keep)
		printf("kept        %s (BENCH_AUDIT_KEEP=1: remove it yourself)\n", dir);
	else
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	for (i = 0; i < ncases; i++)
		free(labels[i]);
	free(labels);
	free(list);
	free(img);
	free(t);
	free(dir);
	free(script);
	free(t_zcat);
	free(t_gz);
	free(t1);
	free(tn);
	free(t_py);
	free(t_load);
	free(t_uniq);
	free(ratio);
	if (fflush(stdout) || ferror(stdout))
		return 1;
	return 0;
}
