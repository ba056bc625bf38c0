/* dataset: what the cases of a training dataset are. A dataset is read once,
 * fully checked and given a digest before any trial runs; the user's files
 * are never written. */
#ifndef CASEBISECT_DATASET_H
#define CASEBISECT_DATASET_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Formats (../shared/nnunet.md sections 1 and 3):
 *  - DS_NNUNET_PRE: nnUNet_preprocessed/DatasetXXX_Name/ with a plans JSON,
 *    dataset.json, dataset_fingerprint.json and one folder per data
 *    identifier. Cases are the identifiers in the configuration's data folder
 *    (<id>.b2nd + <id>_seg.b2nd + <id>.pkl, or <id>.npz (+ <id>.npy,
 *    <id>_seg.npy) + <id>.pkl).
 *  - DS_NNUNET_RAW: DatasetXXX_Name/ with dataset.json, imagesTr/
 *    {case}_{XXXX}{ending} and labelsTr/{case}{ending}, or dataset.json's
 *    "dataset" key listing each case's files.
 *  - DS_MSD: a Medical Segmentation Decathlon / MONAI datalist, a JSON file
 *    with a "training" list of {"image": ..., "label": ...} (paths relative to
 *    the JSON's folder, or absolute; "image" may be a list of channels).
 *  - DS_LIST: a text file, one case per line: an ID, optionally a tab and the
 *    case's files (tab separated); or a directory whose files are the cases
 *    (the ID is the file name without extensions, ".nii.gz" counting as one).
 * Detection (DS_AUTO): a folder with a plans JSON and dataset_fingerprint.json
 * is nnunet-pre; a folder with dataset.json and imagesTr/ or a "dataset" key
 * is nnunet-raw; a .json file with "training" is msd; other folders and text
 * files are list.
 * Each format's rules (detection, loading, its view, which files audit
 * reads) live in its own src/format_*.c, behind the ops table of
 * src/format.h; a new format is one such file, a value here and its row in
 * src/format.c.
 */
enum ds_format { DS_AUTO = 0, DS_NNUNET_PRE, DS_NNUNET_RAW, DS_MSD, DS_LIST };

struct ds_options {
	enum ds_format format;     /* DS_AUTO: detect */
	const char *configuration; /* nnunet-pre: "3d_fullres" when NULL */
	const char *plans;         /* nnunet-pre: plans identifier, "nnUNetPlans" when NULL
				    * (several plans files and NULL is an error that lists them) */
};

/* One case: its ID and its files, absolute paths, in a fixed order. */
struct ds_case {
	char *id;
	char **files;      /* images (channel order) first, then the label; for
			    * nnunet-pre: the data files (.b2nd/_seg.b2nd/.pkl, or
			    * .npz/.npy/_seg.npy/.pkl) that exist */
	size_t nfiles;
	int label;         /* index of the label file in files, -1 when none
			    * (list: the last file of a case with two or more) */
};

/* A JSON file the load read for its content (dataset.json, a plans JSON, a
 * datalist) and the hash of its bytes: run.json keeps them, so
 * that a resume refused for a changed dataset names the file. */
struct ds_content {
	char *name;        /* relative to the dataset folder, or the file name */
	char digest[17];
};

struct dataset {
	enum ds_format format;
	char *root;           /* absolute: the dataset folder, or the list/datalist file */
	char *dataset_json;   /* absolute path of its dataset.json, or NULL */
	char *labels_json;    /* dataset.json's "labels" object as compact JSON, or NULL */
	char digest[17];      /* see "The digest" below */
	struct ds_content *contents; /* the files whose bytes the digest covers */
	size_t ncontents;
	struct ds_case *cases; /* as listed (list file, datalist, "dataset" key), or
				* sorted by ID (cases found in folders) */
	size_t ncases;
	char **warnings;      /* messages worth showing that are not errors */
	size_t nwarnings;

	/* nnunet-pre */
	char *dataset_name;   /* the plans' "dataset_name" (the view's folder name) */
	char *plans_file;     /* absolute */
	char *fingerprint_file;
	char *data_dir;       /* the configuration's data folder, absolute */
	char *configuration;

	/* nnunet-raw and msd: what the view rewrites */
	char *file_ending;    /* ".nii.gz" */
	size_t nchannels;     /* from channel_names / modality */
};

/*
 * The digest: 16 hex digits that change when a trial could mean something
 * else, so that resume refuses a changed dataset. It hashes
 *  - the sorted case IDs;
 *  - each case file's size and mtime (seconds and nanoseconds), in the
 *    case's file order;
 *  - the bytes of every file read for its content (struct ds_content):
 *    dataset.json (nnunet-raw, nnunet-pre), the plans JSON (nnunet-pre),
 *    the datalist (msd). Any edit counts, even one that only reformats
 *    the JSON or reorders the datalist.
 * It does not cover:
 *  - the bytes of case files: an edit that keeps a file's size and mtime
 *    (a copy with touch -r, a clock set back) goes unseen; reading every
 *    image would cost minutes on a large dataset;
 *  - the bytes of a case list (list): its IDs are hashed sorted, so
 *    reordering the lines keeps the digest; its file columns only through
 *    the files' sizes and mtimes;
 *  - dataset_fingerprint.json (nnUNetv2_train copies it to its output but
 *    does not train from it), files no case names (a label without an
 *    image, ignored), the trainer and its environment.
 */

/*
 * Reads and checks the dataset at path. Returns 0, or -1 with one message in
 * err that names the file and the fix, e.g.
 *   "/data/Dataset501_Liver/dataset.json:12:5: not valid JSON (expected ',' or '}')"
 *   "labelsTr/case_017.nii.gz: no image for this label (expected imagesTr/case_017_0000.nii.gz)"
 * Checked: dataset.json present and well-formed with its required keys,
 * labels with background 0 and the ignore label the highest, every case with
 * its label and all its channels, no duplicate IDs, at least one case, IDs
 * that cannot escape a directory (no '/', no "..", no leading '-', no control
 * characters, valid UTF-8), every file name valid UTF-8 (the work
 * directory's JSON is UTF-8, so such a name would break a run midway; the
 * message shows the bytes as \xNN and says to rename the file), every file
 * present and readable, symlink loops and unreadable folders. Nothing is
 * created. On error *ds holds nothing to release.
 */
int ds_load(struct dataset *ds, const char *path, const struct ds_options *o, char *err,
	    size_t errlen);

/* Frees what ds holds (not ds itself). */
void ds_release(struct dataset *ds);

/* The files of ds's cases as the digest sees them, one a line:
 * "ID<TAB>PATH<TAB>SIZE<TAB>MTIME_NS" (a work directory keeps it, so that
 * a changed dataset can name its files). The caller frees it. */
char *ds_manifest(const struct dataset *ds);

/* The case files that differ between manifest (an earlier ds_manifest())
 * and ds now, one a line, at most max lines and then "(and N more)":
 * "labelsTr/case_004.nii.gz: changed (size 1234 -> 1300)", ": modified
 * (same size)", ": gone (case case_007)", ": new (case case_009)". Paths
 * are shown relative to the dataset's folder. "" when no case file
 * changed (the JSON files are run.json's to compare). The caller frees it. */
char *ds_manifest_diff(const struct dataset *ds, const char *manifest, size_t max);

/* "nnunet-pre", "nnunet-raw", "msd", "list" ("auto" for DS_AUTO). */
const char *ds_format_name(enum ds_format f);

/* Parses a --format value; 0, or -1 when it names no format. */
int ds_format_parse(const char *name, enum ds_format *out);

/* Is id safe as a file name inside a view (see ds_load; also at most 200
 * bytes, so that "<id>_0000.nii.gz" fits a file name)? */
bool ds_id_is_safe(const char *id);

#endif
