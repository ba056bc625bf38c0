/* mkcases: writes a small synthetic nnU-Net v2 raw dataset (images, labels,
 * dataset.json) plus casebisect's cases.txt and files.txt, for tests and demos.
 * Chosen cases can get an out-of-range label value, so a trainer crashes on them. */
#include <assert.h>
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
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <nifti1_io.h>

#include "casebisect/banned.h"

#define MK_MAX_CASES 100000
#define MK_MIN_SIZE 4
#define MK_MAX_SIZE 512
#define MK_MIN_CLASSES 2
#define MK_MAX_CLASSES 255 /* labels 0..C-1 must fit uint8 */
#define MK_MAX_BAD 64
#define MK_MIN_VALUE (-32768L)
#define MK_MAX_VALUE 65535L

#if defined(__GNUC__)
#define MK_NORETURN __attribute__((noreturn))
#define MK_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MK_NORETURN
#define MK_PRINTF(f, a)
#endif

struct mk_bad {
	const char *spec; /* as given, for messages */
	char *case_arg;   /* the CASE part: an index or a case ID */
	size_t index;     /* resolved once the prefix is known */
	long value;
};

struct mk_opts {
	size_t cases;
	size_t size;
	unsigned classes;
	const char *prefix;
	const char *dir;
	struct mk_bad bad[MK_MAX_BAD];
	size_t nbad;
	bool bad_at_corner; /* --bad-at corner: the bad cube ends at voxel (S-1,S-1,S-1) */
};

static const char usage_text[] =
	"usage: mkcases [--cases N] [--size S] [--classes C] [--bad CASE=VALUE]...\n"
	"               [--bad-at centre|corner] [--prefix case] DIR\n"
	"\n"
	"Writes a synthetic nnU-Net v2 raw dataset into DIR (which must not exist or be\n"
	"empty): imagesTr/<prefix>_NNN_0000.nii.gz (float32 SxSxS), labelsTr/<prefix>_NNN.nii.gz\n"
	"(labels 0..C-1), dataset.json, cases.txt (one case ID per line) and files.txt\n"
	"(image TAB label, absolute paths).\n"
	"\n"
	"  --cases N          number of cases (default 8, at most 100000)\n"
	"  --size S           edge of the cubic volumes in voxels (default 16, 4..512)\n"
	"  --classes C        label classes including background (default 3, 2..255)\n"
	"  --bad CASE=VALUE   write VALUE (-32768..65535) into a cube (see --bad-at) of\n"
	"                     CASE's label (CASE: an index or a case ID); repeatable\n"
	"  --bad-at WHERE     where the bad cubes sit: centre (default; any patch centred\n"
	"                     on the volume sees them) or corner (voxels S-S/8..S-1 on\n"
	"                     every axis: outside most patches smaller than the volume)\n"
	"  --prefix P         case ID prefix (default \"case\"; letters, digits, . _ -)\n"
	"\n"
	"Exit status: 0 written, 1 error (DIR not empty, I/O), 2 usage.\n";

static MK_NORETURN MK_PRINTF(1, 2) void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mkcases: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(run mkcases --help for usage)\n", stderr);
	exit(2);
}

static MK_PRINTF(1, 2) void mk_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mkcases: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static MK_NORETURN void out_of_memory(void)
{
	fputs("mkcases: fatal: out of memory\n", stderr);
	exit(1);
}

static MK_PRINTF(1, 2) char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		out_of_memory();
	return s;
}

/* a*b into *out; false when it does not fit a size_t. */
static bool mul_ok(size_t a, size_t b, size_t *out)
{
	if (a != 0 && b > SIZE_MAX / a)
		return false;
	*out = a * b;
	return true;
}

/* Parses all of s as a decimal integer in [lo, hi]. */
static bool parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	if (*s == '\0')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool valid_prefix(const char *p)
{
	if (*p == '\0' || strlen(p) > 100)
		return false;
	for (; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
		if (!ok)
			return false;
	}
	return true;
}

static char *case_id(const struct mk_opts *o, size_t i)
{
	return xasprintf("%s_%03zu", o->prefix, i);
}

/* Resolves each --bad CASE to an index, now that --cases and --prefix are known. */
static void resolve_bad(struct mk_opts *o)
{
	for (size_t b = 0; b < o->nbad; b++) {
		struct mk_bad *bad = &o->bad[b];
		long idx;
		bool found = false;

		if (parse_long(bad->case_arg, 0, LONG_MAX, &idx)) {
			if ((unsigned long)idx >= o->cases)
				usage_error("--bad %s: case index %ld is out of range (0..%zu)",
					    bad->spec, idx, o->cases - 1);
			bad->index = (size_t)idx;
			found = true;
		} else {
			for (size_t i = 0; i < o->cases && !found; i++) {
				char *id = case_id(o, i);
				if (strcmp(id, bad->case_arg) == 0) {
					bad->index = i;
					found = true;
				}
				free(id);
			}
		}
		if (!found)
			usage_error("--bad %s: no case \"%s\" among %s_000..%s_%03zu", bad->spec,
				    bad->case_arg, o->prefix, o->prefix, o->cases - 1);
		for (size_t e = 0; e < b; e++)
			if (o->bad[e].index == bad->index)
				usage_error("--bad %s: case %zu is already bad (--bad %s)", bad->spec,
					    bad->index, o->bad[e].spec);
		if (bad->value >= 0 && bad->value < (long)o->classes)
			fprintf(stderr,
				"mkcases: warning: --bad %s: %ld is a valid label (0..%u); that case "
				"will not crash a trainer\n",
				bad->spec, bad->value, o->classes - 1);
		if (bad->value == -1)
			fprintf(stderr,
				"mkcases: warning: --bad %s: nnU-Net turns -1 (its padding value) "
				"into 0, so this case crashes torchtrain but not nnU-Net; -2 crashes "
				"both\n",
				bad->spec);
	}
}

static void parse_args(int argc, char **argv, struct mk_opts *o)
{
	static const struct option longopts[] = {
		{ "cases", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "classes", required_argument, NULL, 'c' },
		{ "bad", required_argument, NULL, 'b' },
		{ "bad-at", required_argument, NULL, 'a' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long v;
	int opt;

	o->cases = 8;
	o->size = 16;
	o->classes = 3;
	o->prefix = "case";
	o->nbad = 0;
	o->bad_at_corner = false;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (!parse_long(optarg, 1, MK_MAX_CASES, &v))
				usage_error("--cases \"%s\": expected a number from 1 to %d", optarg,
					    MK_MAX_CASES);
			o->cases = (size_t)v;
			break;
		case 's':
			if (!parse_long(optarg, MK_MIN_SIZE, MK_MAX_SIZE, &v))
				usage_error("--size \"%s\": expected a number from %d to %d", optarg,
					    MK_MIN_SIZE, MK_MAX_SIZE);
			o->size = (size_t)v;
			break;
		case 'c':
			if (!parse_long(optarg, MK_MIN_CLASSES, MK_MAX_CLASSES, &v))
				usage_error("--classes \"%s\": expected a number from %d to %d", optarg,
					    MK_MIN_CLASSES, MK_MAX_CLASSES);
			o->classes = (unsigned)v;
			break;
		case 'b': {
			struct mk_bad *bad;
			const char *eq = strrchr(optarg, '=');

			if (o->nbad == MK_MAX_BAD)
				usage_error("--bad: at most %d bad cases", MK_MAX_BAD);
			if (!eq || eq == optarg)
				usage_error("--bad \"%s\": expected CASE=VALUE", optarg);
			bad = &o->bad[o->nbad++];
			bad->spec = optarg;
			if (!parse_long(eq + 1, MK_MIN_VALUE, MK_MAX_VALUE, &bad->value))
				usage_error("--bad %s: VALUE must be a number from %ld to %ld", optarg,
					    MK_MIN_VALUE, MK_MAX_VALUE);
			bad->case_arg = strndup(optarg, (size_t)(eq - optarg));
			if (!bad->case_arg)
				out_of_memory();
			break;
		}
		case 'a':
			if (strcmp(optarg, "centre") == 0 || strcmp(optarg, "center") == 0)
				o->bad_at_corner = false;
			else if (strcmp(optarg, "corner") == 0)
				o->bad_at_corner = true;
			else
				usage_error("--bad-at \"%s\": expected centre or corner", optarg);
			break;
		case 'p':
			if (!valid_prefix(optarg))
				usage_error("--prefix \"%s\": use 1 to 100 letters, digits, '.', '_' "
					    "or '-'",
					    optarg);
			o->prefix = optarg;
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
	if (optind == argc)
		usage_error("missing DIR");
	if (argc - optind > 1)
		usage_error("one DIR expected, got \"%s\" too", argv[optind + 1]);
	o->dir = argv[optind];
	if (*o->dir == '\0')
		usage_error("DIR is empty");
	resolve_bad(o);
}

/* splitmix64: a small, well-mixed generator; identical on every platform, so
 * case k is the same file on every machine and for every --cases N > k. */
static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_unit(uint64_t *state)
{
	return (double)(rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform in [lo, hi] (lo <= hi). */
static size_t rng_range(uint64_t *state, size_t lo, size_t hi)
{
	return lo + (size_t)(rng_next(state) % (uint64_t)(hi - lo + 1));
}

/* Fills lab (S^3 class numbers, x fastest as NIfTI stores them) with spheres
 * of classes 1..C-1 on background 0, and img with a smooth blob, a brighter
 * value per class, and noise. */
static void make_case(size_t index, size_t S, unsigned classes, float *img, uint8_t *lab)
{
	uint64_t st = 0x6d6b636173657321ULL ^ ((uint64_t)index * 0x2545f4914f6cdd1dULL);
	size_t nspheres = classes - 1 < 3 ? 3 : classes - 1;
	double bx, by, bz, sigma = (double)S / 4.0;

	bx = rng_unit(&st) * (double)(S - 1);
	by = rng_unit(&st) * (double)(S - 1);
	bz = rng_unit(&st) * (double)(S - 1);

	for (size_t k = 0; k < nspheres; k++) {
		uint8_t cls = (uint8_t)(1 + k % (classes - 1));
		size_t rmin = S / 8 ? S / 8 : 1;
		size_t r = rng_range(&st, rmin, rmin + S / 8);
		size_t cx, cy, cz;

		if (2 * r + 1 > S)
			r = (S - 1) / 2;
		cx = rng_range(&st, r, S - 1 - r);
		cy = rng_range(&st, r, S - 1 - r);
		cz = rng_range(&st, r, S - 1 - r);
		for (size_t z = cz - r; z <= cz + r; z++)
			for (size_t y = cy - r; y <= cy + r; y++)
				for (size_t x = cx - r; x <= cx + r; x++) {
					double dx = (double)x - (double)cx, dy = (double)y - (double)cy,
					       dz = (double)z - (double)cz;
					if (dx * dx + dy * dy + dz * dz <= (double)(r * r))
						lab[(z * S + y) * S + x] = cls;
				}
	}

	for (size_t z = 0; z < S; z++)
		for (size_t y = 0; y < S; y++)
			for (size_t x = 0; x < S; x++) {
				size_t i = (z * S + y) * S + x;
				double dx = (double)x - bx, dy = (double)y - by, dz = (double)z - bz;
				double blob = exp(-(dx * dx + dy * dy + dz * dz) / (2 * sigma * sigma));
				double noise = rng_unit(&st) - 0.5;
				img[i] = (float)(100.0 * blob + 50.0 * lab[i] + 10.0 * noise);
			}
}

/* The bad cube: edge max(1, S/8), covering the centre voxel (S/2, S/2, S/2),
 * so any patch centred on the volume (torchtrain's crop) or covering it sees it;
 * or, at_corner, ending at voxel S-1 on every axis, where a random patch smaller
 * than the volume seldom reaches (what a one-patch probe misses) and which a
 * sliding window reaches last. */
static void bad_cube(size_t S, bool at_corner, size_t *lo, size_t *hi)
{
	size_t edge = S / 8 ? S / 8 : 1;

	*lo = at_corner ? S - edge : S / 2 - edge / 2;
	*hi = *lo + edge; /* exclusive */
}

static void set_geometry(nifti_image *nim)
{
	/* 1 mm isotropic, identity orientation in both qform and sform, so every
	 * reader (nibabel, SimpleITK, ITK) agrees on the geometry. */
	nim->dx = nim->dy = nim->dz = 1.0f;
	nim->pixdim[1] = nim->pixdim[2] = nim->pixdim[3] = 1.0f;
	nim->xyz_units = NIFTI_UNITS_MM;
	nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
	nim->quatern_b = nim->quatern_c = nim->quatern_d = 0.0f;
	nim->qoffset_x = nim->qoffset_y = nim->qoffset_z = 0.0f;
	nim->qfac = 1.0f;
	nim->qto_xyz = nifti_quatern_to_mat44(0, 0, 0, 0, 0, 0, 1, 1, 1, 1);
	nim->qto_ijk = nifti_mat44_inverse(nim->qto_xyz);
	nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
	nim->sto_xyz = nim->qto_xyz;
	nim->sto_ijk = nim->qto_ijk;
	nim->scl_slope = 0.0f; /* no scaling */
	nim->scl_inter = 0.0f;
}

/* Writes nim to path and reads it back: niftilib's writer reports failures
 * (full disk, truncated gzip stream) only on stderr and returns nothing, so
 * the read-back is how a failed write becomes an error here. */
static int write_nifti(nifti_image *nim, const char *path)
{
	nifti_image *back;
	size_t nbytes;
	int ret = -1;

	if (nifti_set_filenames(nim, path, 0, 1) != 0) {
		mk_error("%s: cannot name the NIfTI file", path);
		return -1;
	}
	nifti_image_write(nim);
	back = nifti_image_read(path, 1);
	if (!back || !back->data) {
		mk_error("%s: cannot write: reading it back failed", path);
		goto out;
	}
	nbytes = nim->nvox * (size_t)nim->nbyper;
	if (back->datatype != nim->datatype || back->nvox != nim->nvox ||
	    memcmp(back->data, nim->data, nbytes) != 0) {
		mk_error("%s: cannot write: the file read back differs", path);
		goto out;
	}
	ret = 0;
out:
	if (back)
		nifti_image_free(back);
	return ret;
}

/* A new S^3 volume of datatype dt with zeroed data; NULL on failure. */
static nifti_image *new_volume(size_t S, int dt)
{
	int dims[8] = { 3, (int)S, (int)S, (int)S, 1, 1, 1, 1 };
	nifti_image *nim = nifti_make_new_nim(dims, dt, 1);

	if (!nim || !nim->data)
		out_of_memory();
	set_geometry(nim);
	return nim;
}

/* The narrowest datatype that holds 0..C-1 and the bad value: uint8 when it
 * fits, int16 for negatives and values up to 32767, uint16 above. */
static int label_datatype(const struct mk_bad *bad)
{
	if (!bad || (bad->value >= 0 && bad->value <= 255))
		return DT_UINT8;
	if (bad->value >= -32768 && bad->value <= 32767)
		return DT_INT16;
	return DT_UINT16;
}

/* Stores value v at voxel i of a label volume of any datatype label_datatype() picks. */
static void put_label(nifti_image *lab, size_t i, long v)
{
	switch (lab->datatype) {
	case DT_UINT8:
		((uint8_t *)lab->data)[i] = (uint8_t)v;
		break;
	case DT_INT16:
		((int16_t *)lab->data)[i] = (int16_t)v;
		break;
	case DT_UINT16:
		((uint16_t *)lab->data)[i] = (uint16_t)v;
		break;
	default:
		assert(!"unexpected label datatype");
	}
}

/* Writes case index's image and label; bad (may be NULL) makes it a bad case. */
static int write_case(const struct mk_opts *o, size_t index, const struct mk_bad *bad,
		      const char *img_path, const char *lab_path)
{
	size_t S = o->size, nvox, nbytes;
	nifti_image *img = NULL, *lab = NULL;
	uint8_t *classes = NULL;
	int ret = -1;

	/* S is capped by MK_MAX_SIZE, but the product stays checked should that cap grow. */
	if (!mul_ok(S, S, &nvox) || !mul_ok(nvox, S, &nvox) ||
	    !mul_ok(nvox, sizeof(float), &nbytes)) {
		mk_error("--size %zu: volume too large", S);
		return -1;
	}
	classes = calloc(nvox, 1);
	if (!classes)
		out_of_memory();

	img = new_volume(S, DT_FLOAT32);
	lab = new_volume(S, label_datatype(bad));
	if ((size_t)img->nvox != nvox || (size_t)lab->nvox != nvox) {
		mk_error("%s: niftilib made %zu voxels, expected %zu", lab_path, (size_t)lab->nvox,
		      nvox);
		goto out;
	}
	make_case(index, S, o->classes, img->data, classes);
	for (size_t i = 0; i < nvox; i++)
		put_label(lab, i, classes[i]);
	if (bad) {
		size_t lo, hi;

		bad_cube(S, o->bad_at_corner, &lo, &hi);
		for (size_t z = lo; z < hi; z++)
			for (size_t y = lo; y < hi; y++)
				for (size_t x = lo; x < hi; x++)
					put_label(lab, (z * S + y) * S + x, bad->value);
	}

	if (write_nifti(img, img_path) != 0 || write_nifti(lab, lab_path) != 0)
		goto out;
	ret = 0;
out:
	free(classes);
	if (img)
		nifti_image_free(img);
	if (lab)
		nifti_image_free(lab);
	return ret;
}

/* dataset.json in nnU-Net v2 raw format; the caller frees the text with cJSON_free(). */
static char *dataset_json(const struct mk_opts *o)
{
	cJSON *root = cJSON_CreateObject(), *channels, *labels;
	char *text;

	if (!root)
		out_of_memory();
	channels = cJSON_AddObjectToObject(root, "channel_names");
	if (!channels || !cJSON_AddStringToObject(channels, "0", "CT"))
		out_of_memory();
	labels = cJSON_AddObjectToObject(root, "labels");
	if (!labels || !cJSON_AddNumberToObject(labels, "background", 0))
		out_of_memory();
	for (unsigned c = 1; c < o->classes; c++) {
		char name[16];

		snprintf(name, sizeof(name), "c%u", c);
		if (!cJSON_AddNumberToObject(labels, name, c))
			out_of_memory();
	}
	if (!cJSON_AddNumberToObject(root, "numTraining", (double)o->cases) ||
	    !cJSON_AddStringToObject(root, "file_ending", ".nii.gz"))
		out_of_memory();
	text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text)
		out_of_memory();
	return text;
}

/* Closes f, which was written to path; an earlier write error, a full disk or
 * a failed close is an error naming path. */
static int close_written(FILE *f, const char *path)
{
	bool failed = ferror(f) != 0;

	if (fclose(f) != 0)
		failed = true;
	if (failed) {
		mk_error("%s: cannot write: %s", path, strerror(errno ? errno : EIO));
		return -1;
	}
	return 0;
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		mk_error("%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	fputs(text, f);
	fputc('\n', f);
	return close_written(f, path);
}

/* Makes dir, or accepts it when it is an existing empty directory. *created
 * says whether this call made it (so a later failure can remove it again). */
static int prepare_dir(const char *dir, bool *created)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int ret = 0;

	*created = false;
	if (mkdir(dir, 0777) == 0) {
		*created = true;
		return 0;
	}
	if (errno != EEXIST) {
		mk_error("%s: cannot create: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		mk_error("%s: exists and is not a directory", dir);
		return -1;
	}
	d = opendir(dir);
	if (!d) {
		mk_error("%s: cannot read: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			mk_error("%s: exists and is not empty (it holds \"%s\"); mkcases writes only "
			      "into a new or empty directory",
			      dir, e->d_name);
			ret = -1;
			break;
		}
	}
	closedir(d);
	return ret;
}

static int make_subdir(const char *path)
{
	if (mkdir(path, 0777) != 0) {
		mk_error("%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static const struct mk_bad *find_bad(const struct mk_opts *o, size_t index)
{
	for (size_t b = 0; b < o->nbad; b++)
		if (o->bad[b].index == index)
			return &o->bad[b];
	return NULL;
}

int main(int argc, char **argv)
{
	struct mk_opts o;
	bool created = false;
	char *abs = NULL, *images = NULL, *labels = NULL, *cases_path = NULL,
	     *files_path = NULL, *json_path = NULL, *json = NULL;
	FILE *cases = NULL, *files = NULL;
	int rc = 1;

	parse_args(argc, argv, &o);
	/* files.txt is tab separated with one case per line: a path holding
	 * either character could not be read back. */
	if (strpbrk(o.dir, "\t\n"))
		usage_error("DIR \"%s\": a tab or newline in the path would break files.txt",
			    o.dir);

	if (prepare_dir(o.dir, &created) != 0)
		goto out;
	abs = realpath(o.dir, NULL);
	if (!abs) {
		mk_error("%s: cannot resolve: %s", o.dir, strerror(errno));
		goto out;
	}
	if (strpbrk(abs, "\t\n")) {
		mk_error("%s: its absolute path holds a tab or newline, which would break files.txt",
		      o.dir);
		goto out;
	}
	images = xasprintf("%s/imagesTr", abs);
	labels = xasprintf("%s/labelsTr", abs);
	cases_path = xasprintf("%s/cases.txt", abs);
	files_path = xasprintf("%s/files.txt", abs);
	json_path = xasprintf("%s/dataset.json", abs);
	if (make_subdir(images) != 0 || make_subdir(labels) != 0)
		goto out;

	cases = fopen(cases_path, "w");
	if (!cases) {
		mk_error("%s: cannot create: %s", cases_path, strerror(errno));
		goto out;
	}
	files = fopen(files_path, "w");
	if (!files) {
		mk_error("%s: cannot create: %s", files_path, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < o.cases; i++) {
		char *id = case_id(&o, i);
		char *img = xasprintf("%s/%s_0000.nii.gz", images, id);
		char *lab = xasprintf("%s/%s.nii.gz", labels, id);
		int r = write_case(&o, i, find_bad(&o, i), img, lab);

		if (r == 0) {
			fprintf(cases, "%s\n", id);
			fprintf(files, "%s\t%s\n", img, lab);
		}
		free(id);
		free(img);
		free(lab);
		if (r != 0)
			goto out;
	}
	{
		FILE *f = cases;

		cases = NULL;
		if (close_written(f, cases_path) != 0)
			goto out;
		f = files;
		files = NULL;
		if (close_written(f, files_path) != 0)
			goto out;
	}
	json = dataset_json(&o);
	if (write_text(json_path, json) != 0)
		goto out;

	printf("mkcases: wrote %zu case%s (%zux%zux%zu, %u classes) to %s", o.cases,
	       o.cases == 1 ? "" : "s", o.size, o.size, o.size, o.classes, abs);
	for (size_t b = 0; b < o.nbad; b++) {
		char *id = case_id(&o, o.bad[b].index);
		printf("%s %s=%ld", b ? "," : "; bad:", id, o.bad[b].value);
		free(id);
	}
	putchar('\n');
	if (fflush(stdout) != 0 || ferror(stdout)) {
		mk_error("stdout: cannot write: %s", strerror(errno ? errno : EIO));
		goto out;
	}
	rc = 0;
out:
	if (cases)
		fclose(cases);
	if (files)
		fclose(files);
	if (rc != 0 && created && abs)
		fprintf(stderr, "mkcases: %s is left as it is; remove it before running again\n",
			abs);
	if (json)
		cJSON_free(json);
	for (size_t b = 0; b < o.nbad; b++)
		free(o.bad[b].case_arg);
	free(abs);
	free(images);
	free(labels);
	free(cases_path);
	free(files_path);
	free(json_path);
	return rc;
}
