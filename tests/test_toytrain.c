/* test_toytrain: the toy trainer (harness/toytrain, CPU build) on datasets
 * written by examples/mkcases, run directly and through `casebisect trial`:
 * its batch lines, its PyTorch-like failure and how casebisect reads it. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "casebisect/util.h"
#include "helpers.h"

TestSuite(toytrain, .init = tmpdir_setup, .fini = tmpdir_teardown);

/* Runs argv (argv[0] a path) with stdin from /dev/null and fills *r with its
 * exit code, stdout and stderr (kept in tmpdir/NAME.out and .err). A death by
 * signal fails the test. */
static void exec_capture(struct run *r, const char *name, char **argv)
{
	char out_path[128], err_path[128];
	int status;
	pid_t pid;

	snprintf(out_path, sizeof(out_path), "%s/%s.out", tmpdir, name);
	snprintf(err_path, sizeof(err_path), "%s/%s.err", tmpdir, name);
	pid = spawn_argv(argv, out_path, err_path);
	cr_assert(waitpid(pid, &status, 0) == pid);
	cr_assert(!WIFSIGNALED(status), "%s was killed by signal %d", argv[0], WTERMSIG(status));
	r->code = WEXITSTATUS(status);
	cr_assert(r->code != 126 && r->code != 127, "could not start %s", argv[0]);
	r->out = cb_read_file(out_path, &r->out_len);
	r->err = cb_read_file(err_path, &r->err_len);
	cr_assert(r->out && r->err, "cannot read back %s or %s", out_path, err_path);
}

/* Runs harness/toytrain with the given arguments (NULL-terminated). */
static void toy_args(struct run *r, ...)
{
	char *argv[MAX_ARGS + 2], *path = src_file("harness/toytrain");
	va_list ap;

	va_start(ap, r);
	collect_args(argv, path, ap);
	va_end(ap);
	exec_capture(r, "toytrain", argv);
	free(path);
}
#define toy(r, ...) toy_args(r, __VA_ARGS__, (char *)NULL)

/* Writes a dataset into tmpdir/NAME with examples/mkcases and the given
 * options (NULL-terminated); returns its path, which the caller frees. */
static char *mkcases_args(const char *name, ...)
{
	char *argv[MAX_ARGS + 2], *path = src_file("examples/mkcases"), *dir = xmalloc(128);
	struct run r;
	va_list ap;
	int argc;

	snprintf(dir, 128, "%s/%s", tmpdir, name);
	va_start(ap, name);
	collect_args(argv, path, ap);
	va_end(ap);
	for (argc = 0; argv[argc]; argc++)
		;
	cr_assert(argc < MAX_ARGS);
	argv[argc++] = dir;
	argv[argc] = NULL;
	exec_capture(&r, "mkcases", argv);
	cr_assert_eq(r.code, 0, "mkcases failed:\n%s", r.err);
	run_release(&r);
	free(path);
	return dir;
}
#define mkcases(name, ...) mkcases_args(name, __VA_ARGS__, (char *)NULL)

/* DIR/REL; the caller frees it. */
static char *join(const char *dir, const char *rel)
{
	size_t n = strlen(dir) + strlen(rel) + 2;
	char *p = xmalloc(n);

	snprintf(p, n, "%s/%s", dir, rel);
	return p;
}

/* Runs toytrain on all of dataset's cases, with extra arguments (up to 2, or NULL). */
static void toy_dataset(struct run *r, const char *dataset, char *a1, char *a2)
{
	char *cases = join(dataset, "cases.txt"), *files = join(dataset, "files.txt");

	if (a1 && a2)
		toy(r, "--cases-file", cases, "--files-file", files, a1, a2);
	else
		toy(r, "--cases-file", cases, "--files-file", files);
	free(cases);
	free(files);
}

/* The last line of s (without its newline); the caller frees it. */
static char *last_line(const char *s)
{
	size_t n = count_lines(s);

	cr_assert(n > 0, "no lines");
	return line_at(s, n - 1);
}

/* The case IDs of s's CASEBISECT_BATCH lines, in order, one a line. */
static char *batches(const char *s)
{
	char *out = xcalloc(1, 1);
	size_t len = 0, n = count_lines(s);

	for (size_t i = 0; i < n; i++) {
		char *line = line_at(s, i);

		if (starts_with(line, "CASEBISECT_BATCH ")) {
			append(&out, &len, line + 17, strlen(line + 17));
			append(&out, &len, "\n", 1);
		}
		free(line);
	}
	return out;
}

/* `casebisect classify FILE`'s class for the stderr toytrain left in tmpdir. */
static char *classify_stderr(void)
{
	char path[128], *cls, *sp;
	struct run r;

	snprintf(path, sizeof(path), "%s/toytrain.err", tmpdir);
	run(&r, "classify", path);
	cr_assert_eq(r.code, 0, "%s", r.err);
	cr_assert(starts_with(r.out, path) && r.out[strlen(path)] == ':', "%s", r.out);
	cls = xstrdup(r.out + strlen(path) + 2);
	sp = strpbrk(cls, " \n");
	if (sp)
		*sp = '\0';
	run_release(&r);
	return cls;
}

static void assert_class(const char *expected)
{
	char *cls = classify_stderr();

	cr_assert_str_eq(cls, expected);
	free(cls);
}

Test(toytrain, clean_dataset_passes_with_one_batch_line_per_case_in_order)
{
	char *ds = mkcases("ds", "--cases", "5"), *b, *last;
	struct run r;

	toy_dataset(&r, ds, "--passes", "2");
	cr_assert_eq(r.code, 0, "exit %d; stderr:\n%s", r.code, r.err);
	b = batches(r.out);
	cr_assert_str_eq(b, "case_000\ncase_001\ncase_002\ncase_003\ncase_004\n"
			    "case_000\ncase_001\ncase_002\ncase_003\ncase_004\n");
	last = last_line(r.out);
	cr_assert_str_eq(last, "CASEBISECT_PASS");
	cr_assert(strstr(r.err, "toytrain: CPU build (no CUDA)"), "%s", r.err);
	cr_assert_eq(count_lines(r.err), 1, "only the build line on stderr:\n%s", r.err);
	free(last);
	free(b);
	run_release(&r);
	free(ds);
}

Test(toytrain, bad_label_fails_like_pytorch_on_the_cpu_naming_case_and_file)
{
	char *ds = mkcases("ds", "--cases", "6", "--bad", "case_004=7"), *b, *last, want[512];
	struct run r;

	toy_dataset(&r, ds, NULL, NULL);
	cr_assert_eq(r.code, 1, "exit %d; stderr:\n%s", r.code, r.err);
	b = batches(r.out);
	cr_assert_str_eq(b, "case_000\ncase_001\ncase_002\ncase_003\ncase_004\n",
			 "stops at the bad case");
	cr_assert(!strstr(r.out, "CASEBISECT_PASS"), "%s", r.out);
	snprintf(want, sizeof(want),
		 "toytrain: case case_004: label value 7 at voxel (7,7,7) is outside 0..2 "
		 "(%s/labelsTr/case_004.nii.gz)\nTraceback (most recent call last):\n",
		 ds);
	cr_assert(strstr(r.err, want), "want:\n%s\nstderr:\n%s", want, r.err);
	last = last_line(r.err);
	cr_assert_str_eq(last, "IndexError: Target 7 is out of bounds.");
	assert_class("cpu_index_error");
	free(last);
	free(b);
	run_release(&r);
	free(ds);
}

/* int16 (negative) and uint16 (above 255) label files: the value reaches the
 * loss unchanged. */
Test(toytrain, negative_and_wide_labels_are_read_as_stored)
{
	char *ds = mkcases("ds", "--cases", "2", "--bad", "0=-2", "--bad", "1=40000"), *last;
	char *files = join(ds, "files.txt"), *text = cb_read_file(files, NULL), *nl;
	char *one, *c1;
	struct run r;

	toy_dataset(&r, ds, NULL, NULL);
	cr_assert_eq(r.code, 1);
	last = last_line(r.err);
	cr_assert_str_eq(last, "IndexError: Target -2 is out of bounds.");
	free(last);
	run_release(&r);

	cr_assert(text && (nl = strchr(text, '\n')));
	one = write_file(tmpdir, "one-files.txt", nl + 1);
	c1 = write_file(tmpdir, "one-cases.txt", "case_001\n");
	toy(&r, "--cases-file", c1, "--files-file", one);
	cr_assert_eq(r.code, 1);
	cr_assert(strstr(r.err, "label value 40000 at voxel (7,7,7) is outside 0..2"), "%s", r.err);
	last = last_line(r.err);
	cr_assert_str_eq(last, "IndexError: Target 40000 is out of bounds.");
	free(last);
	run_release(&r);
	free(one);
	free(c1);
	free(text);
	free(files);
	free(ds);
}

Test(toytrain, two_classes_fail_on_label_2)
{
	char *ds = mkcases("ds", "--cases", "3"), *ds2, *b, *last;
	struct run r;

	toy_dataset(&r, ds, "--classes", "2");
	cr_assert_eq(r.code, 1, "exit %d; stderr:\n%s", r.code, r.err);
	b = batches(r.out);
	cr_assert_str_eq(b, "case_000\n", "every case has label 2; the first fails");
	cr_assert(strstr(r.err, "toytrain: case case_000: label value 2 at voxel ("), "%s", r.err);
	cr_assert(strstr(r.err, ") is outside 0..1 ("), "%s", r.err);
	last = last_line(r.err);
	cr_assert_str_eq(last, "IndexError: Target 2 is out of bounds.");
	assert_class("cpu_index_error");
	free(last);
	free(b);
	run_release(&r);

	ds2 = mkcases("ds2", "--cases", "3", "--classes", "2");
	toy_dataset(&r, ds2, "--classes", "2");
	cr_assert_eq(r.code, 0, "labels 0..1 pass with --classes 2:\n%s", r.err);
	last = last_line(r.out);
	cr_assert_str_eq(last, "CASEBISECT_PASS");
	free(last);
	run_release(&r);
	free(ds2);
	free(ds);
}

/* Garbage, a truncated gzip stream and a missing file: each fails on its
 * case with the file named, classified as a data error (not an index error). */
Test(toytrain, unreadable_label_fails_naming_the_file)
{
	static const char *const cases[] = { "case_000", "case_001", "case_002" };
	static const char *const why[] = { "not a NIfTI file", "truncated or corrupt voxel data",
					   "No such file or directory" };
	char *ds = mkcases("ds", "--cases", "3");

	for (size_t k = 0; k < 3; k++) {
		char rel[64], line[64], *label, *cases_file, *files_file, *text, *last, want[512];
		size_t len;
		struct run r;

		snprintf(rel, sizeof(rel), "labelsTr/%s.nii.gz", cases[k]);
		label = join(ds, rel);
		if (k == 0) {
			free(write_file(ds, rel, "not a NIfTI file\n"));
		} else if (k == 1) {
			text = cb_read_file(label, &len);
			cr_assert(text && len > 100);
			cr_assert_eq(truncate(label, (off_t)(len - 40)), 0);
			free(text);
		} else {
			cr_assert_eq(unlink(label), 0);
		}
		snprintf(line, sizeof(line), "%s\n", cases[k]);
		cases_file = write_file(tmpdir, "c.txt", line);
		text = xmalloc(strlen(label) + 32);
		snprintf(text, strlen(label) + 32, "image.nii.gz\t%s\n", label);
		files_file = write_file(tmpdir, "f.txt", text);
		free(text);

		toy(&r, "--cases-file", cases_file, "--files-file", files_file);
		cr_assert_eq(r.code, 1, "%s: exit %d; stderr:\n%s", cases[k], r.code, r.err);
		snprintf(want, sizeof(want), "toytrain: case %s: cannot read the label file %s: %s\n",
			 cases[k], label, why[k]);
		cr_assert(strstr(r.err, want), "want:\n%s\nstderr:\n%s", want, r.err);
		last = last_line(r.out);
		snprintf(want, sizeof(want), "CASEBISECT_BATCH %s", cases[k]);
		cr_assert_str_eq(last, want);
		cr_assert(!strstr(r.err, "IndexError"), "%s", r.err);
		assert_class("data_error");
		free(last);
		run_release(&r);
		free(cases_file);
		free(files_file);
		free(label);
	}
	free(ds);
}

/* A hand-written NIfTI-1 file of 2x2x2 float32 values (mkcases writes only
 * integer labels); returns its path, which the caller frees. */
static char *write_float_nifti(const char *name, const float vox[8])
{
	unsigned char hdr[352] = { 0 };
	int32_t sizeof_hdr = 348;
	int16_t dim[8] = { 3, 2, 2, 2, 1, 1, 1, 1 }, datatype = 16, bitpix = 32;
	float pixdim[8] = { 1, 1, 1, 1, 1, 1, 1, 1 }, vox_offset = 352;
	char *path = join(tmpdir, name);
	FILE *f;

	memcpy(hdr, &sizeof_hdr, 4);
	memcpy(hdr + 40, dim, sizeof(dim));
	memcpy(hdr + 70, &datatype, 2);
	memcpy(hdr + 72, &bitpix, 2);
	memcpy(hdr + 76, pixdim, sizeof(pixdim));
	memcpy(hdr + 108, &vox_offset, 4);
	memcpy(hdr + 344, "n+1", 4);
	f = fopen(path, "wb");
	cr_assert(f);
	cr_assert(fwrite(hdr, 1, sizeof(hdr), f) == sizeof(hdr));
	cr_assert(fwrite(vox, sizeof(float), 8, f) == 8);
	cr_assert(fclose(f) == 0);
	return path;
}

/* A float label holding 2.5 or NaN is out of bounds too; integral floats pass. */
Test(toytrain, float_labels_non_integer_and_nan_are_out_of_bounds)
{
	static const float good[8] = { 0, 1, 2, 1, 0, 1, 2, 0 };
	float half[8], nan_vox[8];
	char *paths[3], *cases, *files, *text, *last;
	size_t len = 0;
	struct run r;

	memcpy(half, good, sizeof(good));
	half[6] = 2.5f; /* voxel (0,1,1) */
	memcpy(nan_vox, good, sizeof(good));
	nan_vox[3] = NAN; /* voxel (1,1,0) */
	paths[0] = write_float_nifti("good.nii", good);
	paths[1] = write_float_nifti("half.nii", half);
	paths[2] = write_float_nifti("nan.nii", nan_vox);

	for (size_t k = 0; k < 3; k++) {
		char line[256], want[512];

		text = xcalloc(1, 1);
		len = 0;
		append(&text, &len, paths[0], strlen(paths[0]));
		append(&text, &len, "\n", 1);
		if (k) {
			append(&text, &len, paths[k], strlen(paths[k]));
			append(&text, &len, "\n", 1);
		}
		files = write_file(tmpdir, "f.txt", text);
		cases = write_file(tmpdir, "c.txt", k ? "good\nbad\n" : "good\n");
		toy(&r, "--cases-file", cases, "--files-file", files);
		if (k == 0) {
			cr_assert_eq(r.code, 0, "%s", r.err);
		} else {
			cr_assert_eq(r.code, 1, "%s", r.err);
			snprintf(line, sizeof(line), "%s at voxel %s is not a class index 0..2 "
				 "(read as target -1) (%s)\n",
				 k == 1 ? "label value 2.5" : "label value nan",
				 k == 1 ? "(0,1,1)" : "(1,1,0)", paths[k]);
			snprintf(want, sizeof(want), "toytrain: case bad: %s", line);
			cr_assert(strstr(r.err, want), "want:\n%s\nstderr:\n%s", want, r.err);
			last = last_line(r.err);
			cr_assert_str_eq(last, "IndexError: Target -1 is out of bounds.");
			free(last);
		}
		run_release(&r);
		free(text);
		free(files);
		free(cases);
	}
	for (size_t k = 0; k < 3; k++)
		free(paths[k]);
}

Test(toytrain, usage_errors_exit_2_naming_the_problem)
{
	char *ds = mkcases("ds", "--cases", "3"), *cases = join(ds, "cases.txt");
	char *files = join(ds, "files.txt"), *short_files, *text;
	struct run r;

	toy(&r, "--files-file", files);
	cr_assert_eq(r.code, 2);
	cr_assert(strstr(r.err, "toytrain: missing --cases-file"), "%s", r.err);
	cr_assert_str_eq(r.out, "");
	run_release(&r);

	toy(&r, "--cases-file", cases, "--files-file", files, "--classes", "0");
	cr_assert_eq(r.code, 2);
	cr_assert(strstr(r.err, "--classes \"0\""), "%s", r.err);
	run_release(&r);

	toy(&r, "--cases-file", cases, "--files-file", files, "--step-ms", "soon");
	cr_assert_eq(r.code, 2);
	cr_assert(strstr(r.err, "--step-ms \"soon\""), "%s", r.err);
	run_release(&r);

	text = cb_read_file(files, NULL);
	cr_assert(text);
	*strrchr(text, '\n') = '\0';
	*(strrchr(text, '\n') + 1) = '\0'; /* two lines of three */
	short_files = write_file(tmpdir, "short.txt", text);
	toy(&r, "--cases-file", cases, "--files-file", short_files);
	cr_assert_eq(r.code, 2);
	cr_assert(strstr(r.err, "has 2 lines but --cases-file"), "%s", r.err);
	cr_assert(strstr(r.err, "has 3 cases"), "%s", r.err);
	cr_assert_str_eq(r.out, "", "no case starts");
	run_release(&r);

	free(text);
	free(short_files);
	free(files);
	free(cases);
	free(ds);
}

Test(toytrain, step_ms_makes_each_case_take_that_long)
{
	char *ds = mkcases("ds", "--cases", "3");
	struct timespec t0, t1;
	struct run r;
	double s;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	toy_dataset(&r, ds, "--step-ms", "150");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_assert_eq(r.code, 0, "%s", r.err);
	cr_assert(s >= 0.45, "3 cases at 150 ms took %.3f s", s);
	run_release(&r);
	free(ds);
}

/* Through `casebisect trial --dataset`, as `casebisect run` will run it: the
 * bad case is the suspect of a cpu_index_error, and a subset without it passes. */
static cJSON *toy_trial(const char *dataset, const char *subset)
{
	char *train = src_file("harness/toytrain"), wd[128];
	struct run r;
	cJSON *o;

	snprintf(wd, sizeof(wd), "%s/wd", tmpdir);
	if (subset)
		run(&r, "trial", "--json", "--workdir", wd, "--dataset", dataset, "--cases-file",
		    subset, "--", train, "--cases-file", "{cases_file}", "--files-file",
		    "{files_file}");
	else
		run(&r, "trial", "--json", "--workdir", wd, "--dataset", dataset, "--", train,
		    "--cases-file", "{cases_file}", "--files-file", "{files_file}");
	cr_assert_eq(r.code, 0, "exit %d; stderr:\n%s", r.code, r.err);
	o = cJSON_Parse(r.out);
	cr_assert(o, "not JSON:\n%s", r.out);
	run_release(&r);
	free(train);
	return o;
}

static const char *field(const cJSON *o, const char *name)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, name));

	cr_assert(s, "no string field %s", name);
	return s;
}

Test(toytrain, trial_on_dataset_finds_the_bad_case_and_passes_without_it)
{
	char *ds = mkcases("ds", "--cases", "6", "--bad", "case_004=7"), *sub;
	cJSON *o = toy_trial(ds, NULL), *sus, *sig;

	cr_assert_str_eq(field(o, "outcome"), "FAIL");
	cr_assert_str_eq(field(o, "class"), "cpu_index_error");
	sus = cJSON_GetObjectItem(o, "suspects");
	cr_assert(cJSON_IsArray(sus) && cJSON_GetArraySize(sus) == 1);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(sus, 0)), "case_004");
	sig = cJSON_GetObjectItem(o, "signature");
	cr_assert_str_eq(field(sig, "evidence"), "IndexError: Target 7 is out of bounds.");
	cJSON_Delete(o);

	sub = write_file(tmpdir, "sub.txt", "case_000\ncase_003\ncase_005\n");
	o = toy_trial(ds, sub);
	cr_assert_str_eq(field(o, "outcome"), "PASS");
	cr_assert_str_eq(field(o, "class"), "none");
	cJSON_Delete(o);
	free(sub);
	free(ds);
}
