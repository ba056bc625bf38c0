/* format: what one dataset format is, as one ops table per format (one file
 * each: format_nnunet_pre.c, format_nnunet_raw.c, format_msd.c,
 * format_list.c), the way halfempty registers its strategies. dataset.c,
 * view.c and audit.c keep what every format shares and call these ops; they
 * never test which format a dataset has.
 *
 * Private to src/: the public face of a format stays enum ds_format and
 * ds_format_name() in dataset.h (run.json and --format use those names).
 *
 * Adding a format: one new file that defines its `const struct ds_format_ops`
 * (and whatever it needs of the kits below), plus a value in enum ds_format
 * (dataset.h) and its row in the table of format.c's ds_format_ops(). Nothing
 * else: detection, loading, the view, audit's files and the repro bundle
 * read the table.
 *
 * The four kits after the table are the shared machinery the format files
 * build with: the loader's (dataset.c), the view builder's (view.c),
 * audit's (audit.c) and the bundle's (bundle.c). A helper two formats need goes in a kit, never in two
 * format files.
 */
#ifndef CASEBISECT_FORMAT_H
#define CASEBISECT_FORMAT_H

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "casebisect/audit.h"
#include "casebisect/dataset.h"
#include "casebisect/util.h"
#include "casebisect/view.h"

struct ld;
struct ld_names;
struct view_builder;

/*
 * The bundle side (bundle.c, bundle_repro.c): bundle.c fills one of these
 * per bundle; the format's hooks read the
 * culprits and write through the two writer functions, which name the file in
 * err themselves.
 */
struct fmt_bundle {
	const struct dataset *ds;
	const struct ds_case *const *cases; /* the culprits, in report order */
	size_t ncases;
	char ***rel;      /* rel[k][j]: case k's file j, relative to data (set by bundle_place) */
	const char *data; /* the bundle's dataset/ folder, absolute */
	/* fix[k]: culprit k's label file in the bundle, relative to data, or
	 * NULL (README.md's "label file to fix"); bundle.c sets the case's own
	 * label, a format's bundle_meta may put another (owned) in its place. */
	char **fix;
	/* data/rel gets text (len bytes); its folders are made. 0, or -1 with err. */
	int (*write)(struct fmt_bundle *bd, const char *rel, const char *text, size_t len);
	/* data/rel becomes a copy of src. 0, or -1 with err. */
	int (*copy)(struct fmt_bundle *bd, const char *src, const char *rel);
	/* data/rel becomes culprit k's file src (an image, or its label),
	 * which is not one of its files[] (nnunet-pre's raw NIfTI): a copy, or
	 * in a synthetic bundle a de-identified stand-in. 0, or -1 with err. */
	int (*copy_case)(struct fmt_bundle *bd, size_t k, bool label, const char *src,
			 const char *rel);
	/* A synthetic bundle of a format whose case files cannot be
	 * de-identified (nnunet-pre's arrays): they stay out, and the bundle
	 * holds and runs from the raw cases alone (copy_case); a format that
	 * cannot fails with err. */
	bool raw_only;
	char *err;
	size_t errlen;
};

/* repro.sh being written: appends s (shell text, as is) or a word quoted for
 * bash; data_path appends "$data/"'rel' (a bundle file wherever it moved). */
struct fmt_sh {
	void (*text)(struct fmt_sh *sh, const char *s);
	void (*word)(struct fmt_sh *sh, const char *s);
	void (*data_path)(struct fmt_sh *sh, const char *rel);
	void *buf;
};

/* What a format is, in yes-or-no answers the shared code asks. */
enum fmt_flags {
	FMT_NEEDS_FOLDER = 1 << 0, /* refuses a file: "--format X needs the dataset folder" */
	FMT_NEEDS_FILE = 1 << 1,   /* refuses a folder: "--format X needs the datalist JSON file" */
	FMT_READS_PLANS = 1 << 2,  /* --configuration and --plans mean something */
	FMT_VIEW_LINKS = 1 << 3,   /* the view links the case files: their names must be
				    * file names; without links view.c stat()s them first */
	FMT_VIEW_JSON = 1 << 4,    /* the view writes file paths into JSON: UTF-8 only */
	FMT_ENV_CARRIES_SUBSET = 1 << 5, /* the view's env alone points a trainer at the
					  * subset (nnU-Net); else the command needs a
					  * placeholder (run.c still checks this by format) */
	FMT_AUDIT_CHANNELS = 1 << 6, /* audit: the images' channels must match ds->nchannels */
};

struct ds_format_ops {
	enum ds_format format;
	const char *name; /* "nnunet-raw": --format, run.json, `cases` */
	unsigned flags;   /* enum fmt_flags */

	/* -- detection and loading (dataset.c) -- */

	/* Is root this format? is_dir says whether it is a folder; top holds a
	 * folder's entries (empty for a file). Asked in enum order, first yes
	 * wins (DS_LIST says yes to anything). */
	bool (*detect)(const char *root, bool is_dir, const struct ld_names *top);
	/* Finds and checks the cases of l's dataset (ds->root, a folder when
	 * is_dir, with its entries in top): ld_add_case()/ld_add_file() for each
	 * case, ld_read_json() for each JSON file the cases depend on. The
	 * digest's inputs are what load declared: the cases' files through
	 * ld_add_file (sizes, mtimes) and the JSON files through ld_read_json
	 * (bytes); dataset.c hashes them. 0, or -1 with ld_fail(). */
	int (*load)(struct ld *l, bool is_dir, const struct ld_names *top);

	/* -- the trial view (view.c) -- */

	/* Builds TRIAL/view/ (or nothing) and sets v->path ({view}; NULL: the
	 * cases file) and v->env (NULL-terminated, may be empty). view.c has
	 * checked the subset and writes the lists after. 0, or -1 with err. */
	int (*view_build)(struct view_builder *b, struct view *v);

	/* -- audit (audit.c) -- */

	/* Something the audit_files hook needs for every case (nnunet-pre: the
	 * raw dataset's folder), computed once; audit frees it. NULL: none. */
	char *(*audit_begin)(const struct dataset *ds);
	/* Which files of case i audit reads: aud_case_add_file() for each, the
	 * label first, c->label = 0 when it was added, c->skip_reason when the
	 * label cannot be found. NULL: the case's own files, its label first. */
	void (*audit_files)(const struct dataset *ds, size_t i, const char *ctx, struct aud_case *c);
	/* Are there label files to audit? NULL: does any case have a NIfTI label. */
	bool (*audit_has_labels)(const struct dataset *ds);

	/* -- the repro bundle (bundle.c, bundle_repro.c); every format has all four -- */

	/* Where file j of culprit k goes, relative to bd->data (the caller
	 * checks it is safe and unique); the caller frees it. */
	char *(*bundle_place)(const struct fmt_bundle *bd, size_t k, size_t j);
	/* The dataset's own files beside the copied cases (dataset.json cut to
	 * the culprits, a datalist, cases.txt/files.txt). 0, or -1 with err. */
	int (*bundle_meta)(struct fmt_bundle *bd);
	/* The bundle's layout in README.md's words ("an nnU-Net raw dataset: ..."). */
	const char *bundle_words;
	/* repro.sh's part that sets $view (and the env the view needs) from the
	 * bundle's files; $data, $tmp, $cases_file and $files_file are set. */
	void (*repro_view)(struct fmt_sh *sh, const struct fmt_bundle *bd);
	/* Optional. repro.sh's words for what stands for ds->root: an argument
	 * of the command that names the dataset (or a file under it) is
	 * rewritten to it. false (nothing written): no counterpart, the
	 * argument stays as it was. */
	bool (*repro_root)(struct fmt_sh *sh, const struct fmt_bundle *bd);
	/* Optional. repro.sh's part just before the command (argv, run.json's):
	 * other ways to rerun it, chosen by repro.sh's first argument, each
	 * running and exiting; the default falls through to the command. It
	 * says which one runs. repro_words says the same in README.md. */
	void (*repro_modes)(struct fmt_sh *sh, const struct fmt_bundle *bd,
			    const char *const *argv);
	const char *repro_words;
	/* The two texts for a raw_only bundle (NULL: none can be made). */
	const char *bundle_words_raw, *repro_words_raw;
};

/* The five every format has, first in each table: its enum value and
 * name, detect, load and view_build. */
#define FMT_CORE(fmt, nm, det, ld, vb) \
	.format = (fmt), .name = (nm), .detect = (det), .load = (ld), .view_build = (vb)

/* The ops of format f, or NULL for DS_AUTO or a value that names no format. */
const struct ds_format_ops *ds_format_ops(enum ds_format f);

extern const struct ds_format_ops fmt_nnunet_pre;
extern const struct ds_format_ops fmt_nnunet_raw;
extern const struct ds_format_ops fmt_msd;
extern const struct ds_format_ops fmt_list;

/* ======== the loader's kit (dataset.c) ======== */

/* Where the cases came from, for the message about a duplicate ID. */
enum ld_source { SRC_FOLDER, SRC_LIST_FILE, SRC_LIST_DIR, SRC_MSD, SRC_DATASET_KEY };

/* A load in progress. The arrays beside ds->cases hold, per case, what the
 * checks after discovery need and ds does not keep. */
struct ld {
	struct dataset *ds;
	const struct ds_options *o;
	char *err;
	size_t errlen;
	size_t cap;        /* of ds->cases, fh and where */
	uint64_t *fh;      /* per case: hash of its files' sizes and mtimes */
	size_t *where;     /* per case: line number, list index, ... (messages) */
	size_t nwarn_lost; /* warnings past DS_MAX_WARNINGS */
	char prob[PATH_MAX + 128]; /* why ld_add_file() failed */
	bool prob_missing;         /* ... because the file is not there */
	enum ld_source src;
	const char *src_name; /* the file the cases came from, for messages */
};

/* A folder's entries (hidden ones left out), sorted by strcmp. */
struct ld_names {
	char **v;
	size_t n;
	bool *used;
	DIR *d;    /* kept open: its fd anchors fstatat() */
	int fd;
};

/* Puts the message (escaped to one line) in l->err and returns -1. */
int ld_fail(struct ld *l, const char *f, ...) CB_PRINTF(2, 3);
/* Adds a warning to l->ds (past DS_MAX_WARNINGS only counted). */
void ld_warn(struct ld *l, const char *f, ...) CB_PRINTF(2, 3);
bool ld_ends_with(const char *s, const char *suffix);
/* An absolute path for p, absolute or relative to base (absolute), with
 * "." and "//" removed; the caller frees it. */
char *ld_path_resolve(const char *base, const char *p);
/* The folder of an absolute file path ("/" for a file at the root); the
 * caller frees it. */
char *ld_dir_of(const char *path);
/* p shown relative to ds->root when it lies under it. */
const char *ld_shown(const struct dataset *ds, const char *p);
/* A file name without its extension (".nii.gz" counts as one): a case ID.
 * The caller frees it. */
char *ld_strip_ext(const char *path);
/* What makes id unsafe as a file name in a view, or NULL when nothing. */
const char *ld_id_problem(const char *id);
/* Appends a case that takes id (owned) and room for nfiles files; where
 * (a line, an index) is for messages. Valid until the next call. */
struct ds_case *ld_add_case(struct ld *l, char *id, size_t nfiles, size_t where);
/* Checks one file of the last case (name relative to dirfd, AT_FDCWD for an
 * absolute path), hashes its size and mtime, and appends path (owned).
 * 0, or -1 with the problem kept for ld_file_failed(). */
int ld_add_file(struct ld *l, int dirfd, const char *name, char *path);
/* The message of a failed ld_add_file(): what names the file; missing says
 * why it should be there, when it is not. Returns -1. */
int ld_file_failed(struct ld *l, const char *what, const char *missing);
/* ld_file_failed() for a file listed by a relative or absolute path,
 * resolved to abs: "looked for ABS; fix the path: relative paths start at
 * START". Takes what (frees it). Returns -1. */
int ld_relative_failed(struct ld *l, char *what, const char *abs, const char *start);
/* "missing" text for a file that readdir() listed a moment before. */
extern const char ld_vanished[];
/* Reads the folder path (what names it in messages) into nm, sorted.
 * 0; 1 when it does not exist (nothing in err); -1 with err. */
int ld_names_read(struct ld *l, const char *path, const char *what, struct ld_names *nm);
void ld_names_release(struct ld_names *nm);
/* Index of name in nm, or -1. */
long ld_names_find(const struct ld_names *nm, const char *name);
/* Reads a JSON object file into *out (the caller deletes it) and records
 * its bytes for the digest; missing completes "NAME: not found; ...". */
int ld_read_json(struct ld *l, const char *path, const char *missing, cJSON **out);
/* Is the folder dir an MSD Task folder (Task09_Spleen/): a dataset.json
 * with a "training" list and no "file_ending" (nnU-Net v2's has one)?
 * Then that file is its datalist (format_msd.c). */
bool fmt_msd_task_folder(const char *dir);
/* Reads ROOT/dataset.json of nnU-Net (raw, or the preprocessed copy) into
 * *doc (the caller deletes it) and sets ds->dataset_json; missing completes
 * "not found; ...". Checks the required keys and the labels, and sets
 * ds->nchannels, file_ending and labels_json. 0, or -1 with ld_fail(). */
int ld_nnunet_dataset_json(struct ld *l, const char *missing, cJSON **doc);
/* Warns when "numTraining" is not the number of cases found. */
void ld_check_num_training(struct ld *l, const cJSON *doc, const char *path);

/* ======== the view builder's kit (view.c) ======== */

#define VIEW_DIR "view"

/* What one view_build() call has made, so that an error can undo it. */
struct view_builder {
	const struct dataset *ds;
	const size_t *subset;
	size_t n;
	int tfd;        /* the trial directory */
	char *tdir;     /* its absolute path, no trailing '/' */
	bool made_view, made_cases, made_files;
	char *err;
	size_t errlen;
	/* Short link targets (see view.c's short_target()): view/'s descriptor
	 * while the nnU-Net layouts are built, view/s/'s, and the source
	 * folders linked there as s/0, s/1, ... */
	int vfd, sfd;
	char **srcdirs;
	size_t nsrc;
};

char *vb_path_join3(const char *a, const char *b, const char *c);
/* A printable copy of s for messages: control bytes as \n, \t or \xNN. */
void vb_quote(char *dst, size_t size, const char *s);
/* A single path component we may create: not empty, ".", ".." or with '/'. */
bool vb_name_is_safe(const char *s);
/* Tidies an absolute path in place: "//", "/./" and a trailing '/' go. */
void vb_tidy_path(char *p);
/* mkdirat + open of what was made: the descriptor, or -1 with err set. rel
 * names dfd relative to the trial dir ("" for the trial dir). */
int vb_make_dir(struct view_builder *b, int dfd, const char *rel, const char *name);
/* TRIAL/view/ and in it pp/, results/ and raw/: their descriptors in
 * fds[0..3), view/'s in *vfd; -1 with err set. */
int vb_make_nnunet_dirs(struct view_builder *b, int *vfd, int fds[3]);
void vb_close_fds(int *fds, size_t n);
/* v->env: nnUNet_raw, nnUNet_preprocessed and nnUNet_results at
 * TRIAL/view/{raw,pp,results}, in the order of keys. */
void vb_nnunet_env(struct view *v, const struct view_builder *b, const char *const keys[3]);
/* Links name in dfd to target (absolute) and checks that the link leads
 * somewhere. 0, -1 with err set, or -EEXIST (err not set) when name is taken. */
int vb_make_link(struct view_builder *b, int dfd, const char *target, const char *name,
		 const char *shown_dir, const char *id);
/* vb_make_link, a taken name being an error too. */
int vb_make_link_unique(struct view_builder *b, int dfd, const char *target, const char *name,
			const char *shown_dir, const char *id);
/* A new file name in dfd holding data (never through a link). 0 or -1. */
int vb_write_new_file(struct view_builder *b, int dfd, const char *name, const char *shown,
		      const char *data, size_t len);
/* A JSON object file of the dataset, or NULL with err set. */
cJSON *vb_read_json(struct view_builder *b, const char *path);
/* cJSON helpers that die on out of memory. */
void vb_json_oom(const void *p);
void vb_json_set(cJSON *obj, const char *key, cJSON *item);
cJSON *vb_json_str(const char *s);
void vb_json_push(cJSON *arr, cJSON *item);

/* ======== the bundle's kit (bundle.c) ======== */

/* Has a file before file j of culprit k (in bd->rel) been placed at rel? */
bool bnd_rel_taken(const struct fmt_bundle *bd, size_t k, size_t j, const char *rel);
/* Where file j of culprit k goes when the dataset's files are named
 * relative to base (msd, list): the same relative path when it lies under
 * base, else external/<id>/<name>. The caller frees it. */
char *bnd_place_under(const struct fmt_bundle *bd, size_t k, size_t j, const char *base);
/* data/rel gets root, printed indented. 0, or -1 with err. */
int bnd_write_json(struct fmt_bundle *bd, const char *rel, const cJSON *root);
/* REL_DIR/dataset.json of nnU-Net cut to the culprits: numTraining, and
 * the "dataset" key (when there is one) with the culprits' entries only;
 * with paths rewritten to the bundle's files when rewrite (raw: the
 * entries name imagesTr/ and labelsTr/ files relative to the dataset
 * folder). Reads ds->dataset_json. 0, or -1 with err. */
int bnd_dataset_json(struct fmt_bundle *bd, const char *rel_dir, bool rewrite);

/* ======== audit's kit (audit.c) ======== */

/* Appends path (owned) to c's files, or to its skipped files when it is not
 * NIfTI. */
void aud_case_add_file(struct aud_case *c, char *path);

#endif
