/* view: a subset of a dataset as its trainer expects to find it, built
 * inside a trial directory out of links and a few rewritten files. A view
 * never writes outside its trial directory and never writes through a link;
 * the user's dataset stays byte-for-byte and mtime-for-mtime unchanged. */
#ifndef CASEBISECT_VIEW_H
#define CASEBISECT_VIEW_H

#include <stddef.h>

#include "casebisect/dataset.h"

/*
 * What a view is, per format (all under TRIAL_DIR/view/; each built by its
 * format's view_build op in src/format_*.c):
 *  - nnunet-pre (nnunet.md 3.4, option A): pp/<dataset_name>/ with links to
 *    the plans JSON, dataset.json and dataset_fingerprint.json, and a real
 *    data folder (the configuration's data identifier) holding links to the
 *    subset's files only (with .npz data, the existing .npy files too, so
 *    nothing is unpacked again); env: nnUNet_preprocessed=<view>/pp,
 *    nnUNet_results=<view>/results (created), nnUNet_raw=<view>/raw (an
 *    empty folder); {view} is <view>/pp.
 *  - nnunet-raw: raw/<DatasetXXX_Name>/ with imagesTr/ and labelsTr/ of
 *    links and dataset.json rewritten (numTraining, and the "dataset" key
 *    cut to the subset when there is one); env: nnUNet_raw=<view>/raw,
 *    and nnUNet_preprocessed=<view>/pp and nnUNet_results=<view>/results
 *    (both created empty), so that a command that preprocesses and trains
 *    writes its output there and never into the user's own nnU-Net folders;
 *    {view} is the dataset folder.
 *  - msd: datalist.json, the user's JSON with "training" cut to the subset
 *    (paths made absolute); {view} is that file.
 *  - list: {view} is {cases_file}.
 * Every view also writes TRIAL_DIR/cases.txt (the subset's IDs, one per
 * line) and TRIAL_DIR/files.txt (each case's files, tab separated, one case
 * per line, same order): {cases_file} and {files_file}.
 */
struct view {
	char *cases_file;  /* absolute */
	char *files_file;  /* absolute */
	char *path;        /* {view}, absolute */
	char **env;        /* "K=V" the trial needs, NULL-terminated (may be empty) */
	size_t nenv;
};

/* Builds the view of ds->cases[subset[0..n)] in trial_dir (which exists and
 * is empty of a view). Returns 0, or -1 with a message in err naming the
 * file (a case file that vanished, a full disk); on error what was made in
 * trial_dir is removed. */
int view_build(struct view *v, const struct dataset *ds, const size_t *subset, size_t n,
	       const char *trial_dir, char *err, size_t errlen);

/* Frees what v holds (not the files). */
void view_release(struct view *v);

/* Removes TRIAL_DIR/view/ and the two lists (links only: never follows
 * one). Returns 0, or -1 with a message in err. */
int view_remove(const char *trial_dir, char *err, size_t errlen);

#endif
