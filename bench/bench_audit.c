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
 * SimpleITK write): ellipsoid blobs of 1 with a core of 2, at places and
 * sizes drawn from seed. */
static void write_label(const char *path, uint32_t seed, bool bad)
{
	unsigned char hdr[352], *slice = xmalloc((size_t)NX * NY);
	double cx[3], cy[3], cz[3], r[3];
	gzFile g = gzopen(path, "wb6");
	int b, x, y, z;

	if (!g)
		die("cannot write %s", path);
	header(hdr, DT_UINT8);
	for (b = 0; b < 3; b++) {
		cx[b] = 40 + rng(&seed) % (NX - 80);
		cy[b] = 40 + rng(&seed) % (NY - 80);
		cz[b] = 30 + rng(&seed) % (NZ - 60);
		r[b] = 12 + rng(&seed) % 24;
	}
	if (gzwrite(g, hdr, sizeof(hdr)) != (int)sizeof(hdr))
		die("cannot write %s", path);
	for (z = 0; z < NZ; z++) {
		memset(slice, 0, (size_t)NX * NY);
		for (b = 0; b < 3; b++) {
			double dz = (z - cz[b]) / r[b];

			if (fabs(dz) >= 1)
				continue;
			for (y = 0; y < NY; y++)
				for (x = 0; x < NX; x++) {
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

static const char py_script[] =
	"import sys, time\n"
	"import nibabel as nib, numpy as np\n"
	"t = time.monotonic()\n"
	"for f in sys.argv[1:]:\n"
	"    np.unique(np.asanyarray(nib.load(f).dataobj))\n"
	"print(time.monotonic() - t)\n";

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

int main(void)
{
	size_t ncases = bench_env_size("BENCH_AUDIT_CASES", 8, 2, 10000);
	unsigned cores = uv_available_parallelism(), jobs_all;
	const char *tmp = getenv("TMPDIR");
	char *dir, *list = xstrdup(""), *t, *img, **labels = xcalloc(ncases, sizeof(char *));
	double mb = (double)ncases * (double)VOL / 1e6, t_zcat, t_gz, t1, tn, t_py = 0, t0;
	struct aud_options o = { 0 };
	struct aud_result r1, rn;
	struct dataset ds;
	char err[512];
	const char *python;
	double load[1] = { 0 };
	size_t i;
	int rc;
	bool py;

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
		printf("input       %zu label volumes %dx%dx%d uint8 (%.1f MB decoded, %.2f MB "
		       "gzip'd, ratio %.0f:1), written in %.2f s\n", ncases, NX, NY, NZ, mb,
		       disk / 1e6, mb * 1e6 / disk, bench_now() - t0);
	}
	if (ds_load(&ds, t, NULL, err, sizeof(err)))
		die("%s", err);

	/* zcat: one process over all files, to /dev/null */
	{
		char *cmd = cb_fmt("zcat %s/case_*.nii.gz > /dev/null", dir);

		t0 = bench_now();
		rc = system(cmd);
		t_zcat = bench_now() - t0;
		free(cmd);
		if (rc != 0)
			die("zcat failed");
	}
	t_gz = gzread_all(labels, ncases);

	o.labels = "0,1,2";
	o.jobs = 1;
	if (aud_run(&ds, &o, &r1, err, sizeof(err)))
		die("%s", err);
	t1 = r1.seconds;
	o.jobs = jobs_all;
	if (aud_run(&ds, &o, &rn, err, sizeof(err)))
		die("%s", err);
	tn = rn.seconds;

	python = find_python();
	py = python != NULL;
	if (py) {
		char *script = cb_path_join(dir, "unique.py"), *cmd, *out;
		FILE *f = fopen(script, "w"), *pp;
		char line[64] = "";

		if (!f || fputs(py_script, f) < 0 || fclose(f))
			die("cannot write %s", script);
		cmd = cb_fmt("'%s' %s %s/case_*.nii.gz", python, script, dir);
		pp = popen(cmd, "r");
		if (!pp || !fgets(line, sizeof(line), pp))
			py = false;
		if (pp && pclose(pp) != 0)
			py = false;
		out = line;
		t_py = py ? strtod(out, NULL) : 0;
		py = py && t_py > 0;
		free(cmd);
		free(script);
	}

	printf("(a) zcat               %8.1f MB/s  (%.3f s; the decompression bound)\n",
	       mb / t_zcat, t_zcat);
	printf("(b) zlib gzread only   %8.1f MB/s  (%.3f s; inflate, no histogram)\n",
	       mb / t_gz, t_gz);
	printf("(c) audit, 1 job       %8.1f MB/s  (%.3f s; %zu crash finding%s, %s)\n",
	       mb / t1, t1, r1.findings[AUD_CRASH], r1.findings[AUD_CRASH] == 1 ? "" : "s",
	       aud_case_crashes(&r1, BAD_CASE < ncases ? BAD_CASE : 0) ? "case_003 found"
								       : "case_003 MISSED");
	printf("(d) audit, %u job%s     %8.1f MB/s  (%.3f s; %.2fx (c), %u core%s)\n", jobs_all,
	       jobs_all == 1 ? " " : "s", mb / tn, tn, t1 / tn, cores, cores == 1 ? "" : "s");
	if (py)
		printf("(e) nibabel+np.unique  %8.1f MB/s  (%.3f s in %s, imports not counted)\n",
		       mb / t_py, t_py, python);
	else
		printf("(e) nibabel+np.unique  skipped (python3 with nibabel and numpy not found)\n");
	printf("ratio audit/zcat       %.2f\n", t_zcat / t1);
	printf("ratio audit/gzread     %.2f\n", t_gz / t1);
	if (py)
		printf("ratio audit/nibabel    %.1f\n", t_py / t1);

	printf("%s  one job at least zcat's throughput: %.1f >= %.1f MB/s\n",
	       t1 <= t_zcat ? "PASS" : "FAIL", mb / t1, mb / t_zcat);
	if (py)
		printf("%s  at least 10x nibabel + numpy.unique: %.1fx\n",
		       t_py / t1 >= 10 ? "PASS" : "FAIL", t_py / t1);
	if (getloadavg(load, 1) < 1)
		load[0] = -1;
	printf("%s  %u jobs scale near linearly: %.2fx of %u (>= 0.7 per job; load average "
	       "%.2f on %u cores)\n", t1 / tn >= 0.7 * jobs_all ? "PASS" : "FAIL", jobs_all,
	       t1 / tn, jobs_all, load[0], cores);
	printf("%s  the bad case is found, and only it: %zu crash case%s\n",
	       BAD_CASE >= ncases || (rn.cases_with[AUD_CRASH] == 1 &&
				      aud_case_crashes(&rn, BAD_CASE)) ? "PASS" : "FAIL",
	       rn.cases_with[AUD_CRASH], rn.cases_with[AUD_CRASH] == 1 ? "" : "s");

	aud_result_release(&r1);
	aud_result_release(&rn);
	ds_release(&ds);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	for (i = 0; i < ncases; i++)
		free(labels[i]);
	free(labels);
	free(list);
	free(img);
	free(t);
	free(dir);
	if (fflush(stdout) || ferror(stdout))
		return 1;
	return 0;
}
