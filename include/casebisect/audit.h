/* audit: static checks of a dataset's label files (and, for geometry, its
 * image headers) with niftilib, in the libuv thread pool, before any GPU
 * runs: which cases will crash training, and why. */
#ifndef CASEBISECT_AUDIT_H
#define CASEBISECT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dataset;
struct cJSON;

/*
 * What is read. For each case (../shared/nnunet.md sections 1 and 3.2):
 *  - nnunet-raw, msd, list: the case's label file (ds_case.label) and its
 *    images (the other files), when they are NIfTI (.nii, .nii.gz); other
 *    files (.b2nd, .png, .nrrd...) are listed in aud_case.skipped_files.
 *  - nnunet-pre: gt_segmentations/<id><file_ending> in the preprocessed
 *    folder when present, else $nnUNet_raw/<folder name>/labelsTr/<id>..., and
 *    the raw imagesTr/<id>_XXXX<ending> when $nnUNet_raw holds them.
 * NIfTI-1 and NIfTI-2, plain or gzip'd, either byte order. Voxels are
 * streamed in slabs of AUD_SLAB bytes: a job holds one slab and one
 * histogram (at most 512 KiB, for 16-bit labels) whatever the volume size,
 * and a header is judged before any voxel is read.
 *
 * The declared set, in this order of precedence:
 *  1. --labels (aud_options.labels): exactly the values listed;
 *  2. dataset.json's "labels" (ds->labels_json): plain labels 0..C-1 and the
 *     ignore label, C the number of labels other than "ignore" (nnunet.md
 *     4.5: the loss indexes with the stored value, whatever was declared);
 *     region-based when any value is a list (then undeclared values only
 *     become background: never a crash);
 *  3. neither: every case's value histogram is read first; values found in
 *     more than a tenth of the cases read (and in at least 2 cases) are the
 *     common ones, and the inferred set is 0..m, the longest run from 0 of
 *     common values. Cases with values outside it are flagged (kind
 *     "rare_value"). A class that truly occurs in few cases is flagged too:
 *     give --labels then.
 *
 * How a label value v becomes a finding (nnU-Net reads labels as float32,
 * casts to int8 when the file's maximum is <= 127, else int16, the x86 way:
 * truncate, wrap modulo 2^8 / 2^16; NaN becomes 0):
 *   v declared                        nothing
 *   v == -1                           silent   minus_one   (becomes background)
 *   v wraps to -1 or a declared value silent   wrap        (65535 in uint16)
 *   v non-integer, truncates to one   silent   non_integer (1.5 -> 1)
 *   v NaN or infinite                 silent   not_finite
 *   region-based, v undeclared        silent   region_undeclared
 *   anything else                     crash    undeclared / wrap / non_integer
 *                                              / rare_value
 * Each value finding carries its voxel count and bounding box.
 *
 * Geometry (headers only): the label and each image differ in shape (dims
 * 1..3), spacing (relative difference > 1e-5, as np.allclose), or
 * orientation (direction cosines differ by > 1e-3; from the sform, else the
 * qform, else the axes); the images hold another number of channels than
 * dataset.json's channel_names (a 4D image counts dim[4] channels).
 *
 * Unreadable: the file cannot be opened; header short or not NIfTI (bad
 * sizeof_hdr or magic); dim[0] outside 1..7; a dim <= 0; an absurd size (an
 * axis > 2^31-1, or more than 2^40 bytes of voxels); a datatype that holds
 * no label (complex, RGB); vox_offset before the
 * header's end, or past the end of the file; fewer data bytes than the
 * header needs (truncated); a corrupt gzip stream.
 *
 * --images (aud_options.images): each float image file is streamed too;
 * NaN and Inf voxels are silent findings (image_nan, image_inf) per channel.
 */

/* Bytes of voxels one job reads at a time. */
#define AUD_SLAB (1u << 20)

/* Severities, most serious first in the order reports show them. */
enum aud_severity {
	AUD_CRASH = 0,      /* training will index out of bounds */
	AUD_UNREADABLE,     /* training cannot read the file */
	AUD_GEOMETRY,       /* label and image disagree */
	AUD_SILENT,         /* nnU-Net changes it without a word */
	AUD_NSEVERITIES
};

enum aud_kind {
	AUD_K_UNDECLARED = 0, /* value outside the declared set */
	AUD_K_RARE_VALUE,     /* outside the inferred set (no declared set) */
	AUD_K_MINUS_ONE,
	AUD_K_WRAP,
	AUD_K_NON_INTEGER,
	AUD_K_NOT_FINITE,
	AUD_K_REGION_UNDECLARED,
	AUD_K_TOO_MANY_VALUES, /* more than AUD_MAX_VALUES distinct values */
	AUD_K_SHAPE,
	AUD_K_SPACING,
	AUD_K_ORIENTATION,
	AUD_K_CHANNELS,
	AUD_K_IMAGE_NAN,
	AUD_K_IMAGE_INF,
	AUD_K_OPEN,           /* cannot open or read the file */
	AUD_K_BAD_HEADER,
	AUD_K_TRUNCATED,
	AUD_K_CORRUPT,
	AUD_NKINDS
};

/* Distinct label values kept per file; more are counted, not kept. */
#define AUD_MAX_VALUES 4096

/* One distinct label value of a file (after scl_slope/scl_inter). */
struct aud_value {
	double value;
	uint64_t voxels;
};

struct aud_finding {
	enum aud_severity severity;
	enum aud_kind kind;
	size_t file;          /* index in aud_case.files */
	char *detail;         /* one line, e.g. "value 255: 64 voxels in x 6..9 y 6..9
			       * z 6..9 (declared: 0..2)"; owned */
	/* Value findings (AUD_K_UNDECLARED .. AUD_K_REGION_UNDECLARED,
	 * AUD_K_IMAGE_*): otherwise has_value is false. */
	bool has_value;
	double value;         /* NaN for not_finite / image_nan */
	uint64_t voxels;
	bool has_bbox;        /* voxel indices, inclusive */
	int64_t lo[3], hi[3];
};

struct aud_case {
	const char *id;          /* borrowed from the dataset */
	char **files;            /* audited files, absolute: the label first when
				  * there is one, then the images; owned */
	size_t nfiles;
	int label;               /* index of the label in files, or -1 */
	char **skipped_files;    /* files that are not NIfTI; owned */
	size_t nskipped_files;
	char *skip_reason;       /* why nothing was read (no label file found), or NULL */
	struct aud_finding *findings; /* sorted by severity */
	size_t nfindings;
	struct aud_value *values; /* the label's histogram, ascending; empty when
				   * the label was unreadable */
	size_t nvalues;
	uint64_t bytes;          /* decoded bytes read (headers and voxels) */
};

enum aud_mode {
	AUD_MODE_DECLARED = 0,   /* dataset.json's labels */
	AUD_MODE_REGIONS,        /* dataset.json's labels, region-based */
	AUD_MODE_LIST,           /* --labels */
	AUD_MODE_HISTOGRAM,      /* neither: inferred from the majority */
};

struct aud_options {
	unsigned jobs;       /* files read at once; 0: the number of cores */
	bool images;         /* also stream float images: NaN / Inf */
	const char *labels;  /* "0,1,2": the declared set (wins over dataset.json),
			      * or NULL */
};

struct aud_result {
	struct aud_case *cases;  /* ds->cases' order, one each */
	size_t ncases;
	enum aud_mode mode;
	int64_t *declared;       /* the set checked against, ascending (the
				  * inferred one in histogram mode) */
	size_t ndeclared;
	bool has_ignore;
	int64_t ignore;
	size_t findings[AUD_NSEVERITIES]; /* counts over all cases */
	size_t cases_with[AUD_NSEVERITIES]; /* cases with at least one */
	size_t cases_read;       /* cases whose label (or images) were read */
	size_t files_read;
	uint64_t bytes;          /* decoded bytes read, all cases */
	double seconds;          /* wall clock */
	unsigned jobs;           /* as used */
};

/*
 * Audits every case of ds. Blocking: runs its own uv loop and queues up to
 * o->jobs cases at once on the libuv thread pool (its size is raised to the
 * jobs when the pool has not started yet; UV_THREADPOOL_SIZE, when set,
 * wins). Problems in files are findings, never errors. Returns 0 with *out
 * filled (free with aud_result_release), or -1 with a message in err when
 * the audit cannot run: a bad o->labels, labels_json that is not labels, an
 * event loop that cannot start (out of file descriptors, say).
 * ds must outlive *out (ids are borrowed).
 */
int aud_run(const struct dataset *ds, const struct aud_options *o, struct aud_result *out,
	    char *err, size_t errlen);

/* Frees what r holds (not r itself). */
void aud_result_release(struct aud_result *r);

/* Case i has a crash finding: a suspect for the reducer. */
bool aud_case_crashes(const struct aud_result *r, size_t i);

/* Case i was read and has no finding at all (of any severity): usable as a
 * control. */
bool aud_case_clean(const struct aud_result *r, size_t i);

/* Bit (1u << severity) set for each severity case i has. */
unsigned aud_case_severities(const struct aud_result *r, size_t i);

/* Does ds have label files the audit can read (what makes `run --prior audit`
 * the default)? Looks at names only. */
bool aud_dataset_has_labels(const struct dataset *ds);

/*
 * One axial slice (z fixed) of a volume, as aud_read_slices() hands it on.
 * v holds nx*ny values, x fastest, after scl_slope/scl_inter; borrowed,
 * valid during the call only.
 */
struct aud_slice {
	int64_t nx, ny, nz;      /* the volume's dims 1..3 */
	double pixdim[3];        /* spacing, 1 where the header has none */
	int64_t z;               /* this slice */
	const double *v;
};

/*
 * Reads the NIfTI file at path the way aud_run() reads a label (NIfTI-1
 * or -2, plain or gzip'd, either byte order; the same header checks),
 * streaming: fn(ctx, slice) for z = 0..nz-1 of its first 3D volume (a 4D
 * image: its first channel), one slice buffer at a time whatever the
 * volume's size. fn returns 0 to go on, anything else to stop reading
 * (then aud_read_slices returns 0). Integer and float datatypes only.
 * Returns 0, or -1 with a message in err that does not name the file
 * ("cannot open: Permission denied", "truncated: ...").
 */
int aud_read_slices(const char *path, int (*fn)(void *ctx, const struct aud_slice *s), void *ctx,
		    char *err, size_t errlen);

/* "crash", "silent", ...; "undeclared", "wrap", ... */
const char *aud_severity_name(enum aud_severity s);
const char *aud_kind_name(enum aud_kind k);

/*
 * The report as JSON (cJSON; include <cjson/cJSON.h> to use it):
 * {"cases": [{"case", "files", "findings": [{"severity", "kind", "file",
 * "detail", "value", "voxels", "bbox": {"min": [x,y,z], "max": [...]}}],
 * "values": [[value, voxels]...], "skipped"?: reason}],
 * "summary": {...}}. with all = false only cases with findings or a skip
 * reason are listed. The caller deletes it. Dies when out of memory.
 */
struct cJSON *aud_json(const struct aud_result *r, bool all);

/* One case's object, as in aud_json's "cases" (for the run's report). */
struct cJSON *aud_case_json(const struct aud_result *r, size_t i);

/* The "summary" object alone. */
struct cJSON *aud_summary_json(const struct aud_result *r);

#endif
