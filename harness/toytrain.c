/* toytrain: a toy trainer for casebisect's demo and end-to-end tests. It reads
 * each case's label with niftilib and puts it through a toy cross-entropy,
 * failing on a label outside 0..C-1 with the error text PyTorch prints.
 *
 * This file is the CPU build, and the shared part of the CUDA build:
 * toytrain.cu defines TOYTRAIN_CUDA, includes this file (so it must also
 * compile as C++) and supplies the three backend_ functions declared below. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nifti1_io.h>

#if defined(__GNUC__)
#define TT_NORETURN __attribute__((noreturn))
#define TT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TT_NORETURN
#define TT_PRINTF(f, a)
#endif

#define TT_MAX_CLASSES 65536
#define TT_MAX_STEP_MS 3600000
#define TT_MAX_PASSES 1000000
/* The target of a voxel whose value is no integer (2.5, NaN, 1e30): always
 * out of bounds, so both builds fail on it as on any other bad label. */
#define TT_NOT_A_CLASS (-1LL)
#define TT_LEARNING_RATE 1.0

enum { TT_OK = 0, TT_OUT_OF_BOUNDS = -1 };

struct tt_opts {
	const char *cases_file;
	const char *files_file;
	unsigned classes;
	long step_ms;
	long passes;
};

/* One step of the loss, done by the build's backend:
 *
 * 1. backend_init() runs once, before the first case: it prints on stderr
 *    which build runs (and where), or exits 1 when it cannot run at all.
 * 2. backend_step() gathers, for each of the n voxels, logits[target[i]],
 *    and returns TT_OK with the sum of -log softmax(logits)[target] over the
 *    voxels in *nll and the number of voxels of each class in counts[]
 *    (classes entries, zeroed by the callee); or TT_OUT_OF_BOUNDS when a
 *    target is outside 0..classes-1, with the first such voxel in *bad.
 *    lse is log(sum(exp(logits))). Any other failure: a message, exit 1.
 * 3. backend_report() prints the error PyTorch prints for that failure
 *    (target is the out-of-bounds value); the caller then exits 1. */
static void backend_init(void);
static int backend_step(const long long *target, size_t n, unsigned classes,
			const double *logits, double lse, double *nll, size_t *counts,
			size_t *bad);
static void backend_report(long long target);

static const char usage_text[] =
	"usage: toytrain --cases-file F --files-file F [--classes N] [--step-ms MS]\n"
	"                [--passes N]\n"
	"\n"
	"For each case of the cases file, in order: prints CASEBISECT_BATCH <case> on\n"
	"stdout, reads the case's label (the last tab-separated file of its line in the\n"
	"files file) and puts it through a toy cross-entropy over N classes. Prints\n"
	"CASEBISECT_PASS once every case went through the loss --passes times.\n"
	"\n"
	"  --cases-file F   case IDs, one per line\n"
	"  --files-file F   each case's files, tab separated, label last; same order\n"
	"  --classes N      classes, labels 0..N-1 (default 3, at most 65536)\n"
	"  --step-ms MS     sleep MS milliseconds per case (default 0)\n"
	"  --passes N       passes over the cases (default 1)\n"
	"\n"
	"Exit status: 0 passed, 1 a label outside 0..N-1 or an unreadable file, 2 usage.\n";

static TT_NORETURN TT_PRINTF(1, 2) void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("toytrain: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(run toytrain --help for usage)\n", stderr);
	exit(2);
}

static TT_NORETURN TT_PRINTF(1, 2) void fatal(const char *fmt, ...)
{
	va_list ap;

	fputs("toytrain: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		fatal("out of memory");
	return p;
}

/* Writes the line s (and a newline) to stdout in one write(), so that a
 * reader sees it at once and whole. A closed stdout ends the run. */
static void emit(const char *s)
{
	size_t len = strlen(s), off = 0;
	char *line = (char *)xrealloc(NULL, len + 1);

	memcpy(line, s, len);
	line[len++] = '\n';
	while (off < len) {
		ssize_t w = write(STDOUT_FILENO, line + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			fatal("stdout: cannot write: %s", strerror(errno));
		off += (size_t)w;
	}
	free(line);
}

/* Parses all of s as a decimal integer in [lo, hi]. */
static bool parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static void parse_args(int argc, char **argv, struct tt_opts *o)
{
	static const struct option longopts[] = {
		{ "cases-file", required_argument, NULL, 'c' },
		{ "files-file", required_argument, NULL, 'f' },
		{ "classes", required_argument, NULL, 'n' },
		{ "step-ms", required_argument, NULL, 's' },
		{ "passes", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long v;
	int opt;

	o->cases_file = NULL;
	o->files_file = NULL;
	o->classes = 3;
	o->step_ms = 0;
	o->passes = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o->cases_file = optarg;
			break;
		case 'f':
			o->files_file = optarg;
			break;
		case 'n':
			if (!parse_long(optarg, 1, TT_MAX_CLASSES, &v))
				usage_error("--classes \"%s\": expected a number from 1 to %d", optarg,
					    TT_MAX_CLASSES);
			o->classes = (unsigned)v;
			break;
		case 's':
			if (!parse_long(optarg, 0, TT_MAX_STEP_MS, &o->step_ms))
				usage_error("--step-ms \"%s\": expected a number from 0 to %d", optarg,
					    TT_MAX_STEP_MS);
			break;
		case 'p':
			if (!parse_long(optarg, 1, TT_MAX_PASSES, &o->passes))
				usage_error("--passes \"%s\": expected a number from 1 to %d", optarg,
					    TT_MAX_PASSES);
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1);
		case ':':
			usage_error("%s: missing argument", argv[optind - 1]);
		default:
			if (optopt)
				usage_error("unknown option \"-%c\"", optopt);
			usage_error("unknown option \"%s\"", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument \"%s\"", argv[optind]);
	if (!o->cases_file)
		usage_error("missing --cases-file");
	if (!o->files_file)
		usage_error("missing --files-file");
}

/* The non-empty lines of path (without "\n" or "\r\n") into *lines; returns
 * their number. The caller frees each line and the array. */
static size_t read_lines(const char *path, const char *opt, char ***lines)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	ssize_t len;

	if (!f)
		usage_error("%s %s: cannot read: %s", opt, path, strerror(errno));
	*lines = NULL;
	while ((len = getline(&buf, &cap, f)) >= 0) {
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		if (len == 0)
			continue;
		*lines = (char **)xrealloc(*lines, (n + 1) * sizeof(**lines));
		(*lines)[n] = (char *)xrealloc(NULL, (size_t)len + 1);
		memcpy((*lines)[n++], buf, (size_t)len + 1);
	}
	if (ferror(f))
		usage_error("%s %s: cannot read: %s", opt, path, strerror(errno));
	free(buf);
	fclose(f);
	return n;
}

/* Voxel i of nim as a number, with the file's scaling applied (as nibabel
 * and SimpleITK apply it); NaN for a datatype that holds no real number. */
static double voxel_value(const nifti_image *nim, size_t i)
{
	double v;

	switch (nim->datatype) {
	case DT_UINT8: v = ((const uint8_t *)nim->data)[i]; break;
	case DT_INT8: v = ((const int8_t *)nim->data)[i]; break;
	case DT_INT16: v = ((const int16_t *)nim->data)[i]; break;
	case DT_UINT16: v = ((const uint16_t *)nim->data)[i]; break;
	case DT_INT32: v = ((const int32_t *)nim->data)[i]; break;
	case DT_UINT32: v = ((const uint32_t *)nim->data)[i]; break;
	case DT_INT64: v = (double)((const int64_t *)nim->data)[i]; break;
	case DT_UINT64: v = (double)((const uint64_t *)nim->data)[i]; break;
	case DT_FLOAT32: v = ((const float *)nim->data)[i]; break;
	case DT_FLOAT64: v = ((const double *)nim->data)[i]; break;
	default: return NAN;
	}
	if (nim->scl_slope != 0.0f && isfinite(nim->scl_slope))
		v = v * nim->scl_slope + nim->scl_inter;
	return v;
}

static bool is_real_datatype(int dt)
{
	switch (dt) {
	case DT_UINT8: case DT_INT8: case DT_INT16: case DT_UINT16: case DT_INT32:
	case DT_UINT32: case DT_INT64: case DT_UINT64: case DT_FLOAT32: case DT_FLOAT64:
		return true;
	default:
		return false;
	}
}

/* The class index a label value stands for, as a trainer's .long() would
 * have it, except that a value that is no integer becomes TT_NOT_A_CLASS. */
static long long to_target(double v)
{
	if (!isfinite(v) || v != floor(v) || fabs(v) >= 9.2e18)
		return TT_NOT_A_CLASS;
	return (long long)v;
}

/* Prints "toytrain: case ID: cannot read the label file PATH: why" and an
 * exception line in the words of a Python trainer (so the classifier sees a
 * data error), then exits 1. err: the errno of the failure, or 0 when the
 * file opened but is no NIfTI file (why says what is wrong with it). */
static TT_NORETURN void unreadable(const char *id, const char *path, int err, const char *why)
{
	const char *type = err == ENOENT ? "FileNotFoundError"
			   : err == EACCES || err == EPERM ? "PermissionError"
			   : "OSError";

	fprintf(stderr, "toytrain: case %s: cannot read the label file %s: %s\n", id, path,
		err ? strerror(err) : why);
	if (err)
		fprintf(stderr, "%s: [Errno %d] %s: '%s'\n", type, err, strerror(err), path);
	else
		fprintf(stderr, "ImageFileError: Cannot read '%s': %s\n", path, why);
	exit(1);
}

/* Reads the label file of case id, header and voxels; exits 1 naming it when
 * it cannot. The caller frees the image with nifti_image_free().
 *
 * niftilib reads the header; the voxels are read here, because
 * nifti_image_read() fills a truncated file's missing voxels with 0 and turns
 * NaN and infinite floats into 0, each with at most a warning: a trainer that
 * reads with nibabel or SimpleITK fails on the first and sees the second. */
static nifti_image *read_label(const char *id, const char *path)
{
	FILE *f = fopen(path, "rb");
	nifti_image *nim;
	znzFile zf;
	size_t nbytes, got;

	/* niftilib does not say why it failed; opening the file first does. */
	if (!f)
		unreadable(id, path, errno, NULL);
	fclose(f);
	nim = nifti_image_read(path, 0);
	if (!nim)
		unreadable(id, path, 0, "not a NIfTI file");
	if (!is_real_datatype(nim->datatype))
		fatal("case %s: cannot use the label file %s: its datatype %s holds no class numbers",
		      id, path, nifti_datatype_string(nim->datatype));
	if (nim->nbyper <= 0 || nim->iname_offset < 0 ||
	    (size_t)nim->nvox > SIZE_MAX / (size_t)nim->nbyper)
		unreadable(id, path, 0, "a header that makes no sense");
	nbytes = (size_t)nim->nvox * (size_t)nim->nbyper;
	zf = znzopen(nim->iname, "rb", nifti_is_gzfile(nim->iname));
	if (znz_isnull(zf))
		unreadable(id, path, errno ? errno : EIO, NULL);
	nim->data = xrealloc(NULL, nbytes);
	if (znzseek(zf, (znz_off_t)nim->iname_offset, SEEK_SET) < 0)
		got = 0;
	else
		got = znzread(nim->data, 1, nbytes, zf); /* (size_t)-1 on a gzip error */
	znzclose(zf);
	if (got != nbytes)
		unreadable(id, path, 0, "truncated or corrupt voxel data");
	if (nim->swapsize > 1 && nim->byteorder != nifti_short_order())
		nifti_swap_Nbytes((size_t)nim->nvox, nim->swapsize, nim->data);
	return nim;
}

/* Prints the value written at voxel i, as a whole number when it is one. */
static void print_value(double v)
{
	if (isfinite(v) && v == floor(v) && fabs(v) < 9.2e18)
		fprintf(stderr, "%lld", (long long)v);
	else
		fprintf(stderr, "%g", v);
}

/* "toytrain: case ID: label value V at voxel (x,y,z) is outside 0..C-1 (PATH)" */
static void report_bad_voxel(const char *id, const char *path, const nifti_image *nim,
			     size_t i, unsigned classes)
{
	size_t nx = nim->nx > 0 ? (size_t)nim->nx : 1, ny = nim->ny > 0 ? (size_t)nim->ny : 1;
	size_t nz = nim->nz > 0 ? (size_t)nim->nz : 1;
	double v = voxel_value(nim, i);

	fprintf(stderr, "toytrain: case %s: label value ", id);
	print_value(v);
	fprintf(stderr, " at voxel (%zu,%zu,%zu", i % nx, i / nx % ny, i / (nx * ny) % nz);
	if ((size_t)nim->nvox > nx * ny * nz)
		fprintf(stderr, ",%zu", i / (nx * ny * nz));
	if (to_target(v) == TT_NOT_A_CLASS && !(v == (double)TT_NOT_A_CLASS))
		fprintf(stderr, ") is not a class index 0..%u (read as target %lld) (%s)\n",
			classes - 1, TT_NOT_A_CLASS, path);
	else
		fprintf(stderr, ") is outside 0..%u (%s)\n", classes - 1, path);
}

/* A Python-like traceback head, as PyTorch's error comes with one; line is
 * where the step found the bad label. */
static void print_traceback(int line)
{
	fprintf(stderr, "Traceback (most recent call last):\n"
			"  File \"%s\", line %d, in train_step\n",
		__FILE__, line);
}

/* log(sum(exp(logits))), computed stably. */
static double log_sum_exp(const double *logits, unsigned classes)
{
	double max = logits[0], sum = 0;

	for (unsigned c = 1; c < classes; c++)
		if (logits[c] > max)
			max = logits[c];
	for (unsigned c = 0; c < classes; c++)
		sum += exp(logits[c] - max);
	return max + log(sum);
}

static void sleep_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = ms % 1000 * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The label file of a files-file line: its last tab-separated field. */
static const char *label_path(const char *line)
{
	const char *tab = strrchr(line, '\t');

	return tab ? tab + 1 : line;
}

/* One training step on case id: returns its mean loss; on a bad label,
 * prints what PyTorch would and exits 1. logits are updated by one SGD step
 * on the mean cross-entropy, so the loss goes down from pass to pass. */
static double train_step(const char *id, const char *path, const struct tt_opts *o,
			 double *logits, size_t *counts)
{
	nifti_image *nim = read_label(id, path);
	size_t n = (size_t)nim->nvox, bad = 0;
	long long *target;
	double nll = 0, lse = log_sum_exp(logits, o->classes);

	if (n == 0 || n > SIZE_MAX / sizeof(*target))
		fatal("case %s: the label file %s holds %zu voxels", id, path, n);
	target = (long long *)xrealloc(NULL, n * sizeof(*target));
	for (size_t i = 0; i < n; i++)
		target[i] = to_target(voxel_value(nim, i));
	if (o->step_ms)
		sleep_ms(o->step_ms);
	if (backend_step(target, n, o->classes, logits, lse, &nll, counts, &bad) != TT_OK) {
		report_bad_voxel(id, path, nim, bad, o->classes);
		print_traceback(__LINE__);
		backend_report(target[bad]);
		exit(1);
	}
	for (unsigned c = 0; c < o->classes; c++) {
		double p = exp(logits[c] - lse), freq = (double)counts[c] / (double)n;

		logits[c] -= TT_LEARNING_RATE * (p - freq);
	}
	free(target);
	nifti_image_free(nim);
	return nll / (double)n;
}

int main(int argc, char **argv)
{
	struct tt_opts o;
	char **cases, **files, line[128];
	size_t ncases, nfiles, *counts;
	double *logits;

	parse_args(argc, argv, &o);
	ncases = read_lines(o.cases_file, "--cases-file", &cases);
	nfiles = read_lines(o.files_file, "--files-file", &files);
	if (ncases != nfiles)
		usage_error("--files-file %s has %zu lines but --cases-file %s has %zu cases; "
			    "they must match line by line",
			    o.files_file, nfiles, o.cases_file, ncases);
	/* niftilib reports each failure on stderr too; toytrain's own message says it. */
	nifti_set_debug_level(0);
	logits = (double *)xrealloc(NULL, o.classes * sizeof(*logits));
	counts = (size_t *)xrealloc(NULL, o.classes * sizeof(*counts));
	for (unsigned c = 0; c < o.classes; c++)
		logits[c] = 0.0;

	backend_init();
	for (long pass = 1; pass <= o.passes; pass++) {
		double sum = 0;

		for (size_t k = 0; k < ncases; k++) {
			size_t len = strlen(cases[k]) + sizeof("CASEBISECT_BATCH ");
			char *batch = (char *)xrealloc(NULL, len);

			snprintf(batch, len, "CASEBISECT_BATCH %s", cases[k]);
			emit(batch);
			free(batch);
			sum += train_step(cases[k], label_path(files[k]), &o, logits, counts);
		}
		snprintf(line, sizeof(line), "toytrain: pass %ld/%ld: mean loss %.4f over %zu cases",
			 pass, o.passes, ncases ? sum / (double)ncases : 0.0, ncases);
		emit(line);
	}
	emit("CASEBISECT_PASS");

	for (size_t k = 0; k < ncases; k++) {
		free(cases[k]);
		free(files[k]);
	}
	free(cases);
	free(files);
	free(logits);
	free(counts);
	return 0;
}

#ifndef TOYTRAIN_CUDA
/* The CPU backend: the same gather as the CUDA kernel, with the bounds check
 * done explicitly, as PyTorch's CPU nll_loss does. */

static void backend_init(void)
{
	fputs("toytrain: CPU build (no CUDA): same label bounds check as the GPU kernel, "
	      "done on the CPU\n",
	      stderr);
}

static int backend_step(const long long *target, size_t n, unsigned classes,
			const double *logits, double lse, double *nll, size_t *counts,
			size_t *bad)
{
	double sum = 0;

	memset(counts, 0, classes * sizeof(*counts));
	for (size_t i = 0; i < n; i++) {
		long long t = target[i];

		if (t < 0 || t >= (long long)classes) {
			*bad = i;
			return TT_OUT_OF_BOUNDS;
		}
		sum += lse - logits[t];
		counts[t]++;
	}
	*nll = sum;
	return TT_OK;
}

static void backend_report(long long target)
{
	fprintf(stderr, "IndexError: Target %lld is out of bounds.\n", target);
}
#endif
