/* synth: de-identified stand-ins for a dataset's cases, so that a repro can
 * be shared without sharing a patient. synth_nifti() makes one NIfTI file
 * (pure: niftilib reads and writes it, nothing else is touched);
 * synth_bundle() makes WORKDIR/synthetic/ from a finished run and checks
 * that it still crashes (src/bundle_synth.c). */
#ifndef CASEBISECT_SYNTH_H
#define CASEBISECT_SYNTH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One offending label value to keep: the voxels that hold value (NaN: every
 * NaN or infinite voxel), inside the box when has_bbox (voxel indices of
 * dims 1..3, inclusive), as the audit reports them (aud_finding). */
struct synth_keep {
	double value;
	bool has_bbox;
	int64_t lo[3], hi[3];
};

enum synth_flags {
	SYNTH_LABEL = 1 << 0,       /* a label: reduced to background plus keep[] */
	SYNTH_ZEROS = 1 << 1,       /* an image's voxels become zeros, not noise */
	SYNTH_KEEP_VOXELS = 1 << 2, /* the voxels stay as they are (the crash needs
				     * them): only the header is cleaned */
	SYNTH_KEEP_ORIGIN = 1 << 3, /* the origin stays (geometry is the cause) */
};

struct synth_options {
	unsigned flags;                /* enum synth_flags */
	const struct synth_keep *keep; /* borrowed; nkeep 0 with SYNTH_LABEL: the
					* whole label is kept */
	size_t nkeep;
	uint64_t seed;                 /* the noise's; the same seed, the same noise */
};

/* What synth_nifti() did to the voxels. */
struct synth_stats {
	uint64_t voxels; /* in the file */
	uint64_t kept;   /* left as they were (a label's offending voxels) */
};

/*
 * Writes dst (".nii" or ".nii.gz": gzip'd when the name ends in ".gz"; an
 * existing file is replaced) from the NIfTI-1 or NIfTI-2 file src, read and
 * written with niftilib only (src is only read):
 *  1. same dims, datatype, spacing (pixdim), units, orientation (the qform's
 *     quaternion and the sform's rotation), scl_slope and scl_inter;
 *  2. the voxels:
 *     - SYNTH_KEEP_VOXELS: as they are;
 *     - SYNTH_LABEL: every voxel background (stored 0 after scaling where the
 *       datatype can hold it, else stored 0) except those that o->keep
 *       names, which keep their value; with nkeep 0 the label stays whole;
 *     - an image: noise (uniform, seeded by o->seed: whole numbers 0..99 in
 *       integer types, [0, 1) in float ones, random bytes in RGB), or zeros
 *       with SYNTH_ZEROS;
 *  3. descrip, aux_file, intent_name cleared; db_name and data_type written
 *     empty (niftilib writes them so); every extension dropped;
 *  4. the origin (qoffset, the sform's translation) moved to 0 unless
 *     SYNTH_KEEP_ORIGIN.
 * The written file is read back to check it is whole. Fills *st when st is
 * not NULL. Returns 0, or -1 with a message in err naming the file
 * ("/data/labelsTr/a.nii.gz: cannot read as NIfTI").
 */
int synth_nifti(const char *src, const char *dst, const struct synth_options *o,
		struct synth_stats *st, char *err, size_t errlen);

/* The synthetic bundle's folder in the work directory. */
#define SYNTH_DIR "synthetic"

struct synth_bundle_options {
	bool verify;   /* run the verification trial(s) */
	/* a line of progress ("synthetic: PASS (exit_0)"); may be NULL */
	void (*say)(void *ctx, const char *line);
	void *ctx;
};

/* What synth_bundle() made. */
struct synth_result {
	size_t ncases;
	bool verified;     /* a verification trial ran */
	bool reproduced;   /* ... and crashed with the run's signature */
	unsigned kept;     /* the rung kept: 0 nothing, 1 the images' voxels, 2 the
			    * images' voxels, the whole labels and the origin */
	char summary[1536];/* the sentence for report.md and the terminal:
			    * "synthetic repro verified: crashes with the same
			    * signature ..." or "... does not reproduce ..." */
	char dir[PATH_MAX];/* WORKDIR/synthetic */
	char tarball[PATH_MAX]; /* WORKDIR/synthetic/synthetic-bundle.tar.gz */
};

struct report_input;

/*
 * Makes WORKDIR/synthetic/ from the finished run in rin->workdir (rin: its
 * report's input, as report_bundle() takes it; its run.json and
 * report.json are read too; the dataset must still be where it was):
 *  1. bundle/ and synthetic-bundle.tar.gz: the plain repro bundle
 *     (report_bundle(), the same code: repro.sh, tools/, the command), its
 *     dataset/ holding the bundle's cases (the culprits) in the dataset's
 *     own layout, each NIfTI file through synth_nifti() in place of a copy:
 *     images as noise, labels reduced to the offending values and boxes of
 *     report.json's audit (the whole label where the audit found none or
 *     did not run), the origin kept only for a case with a geometry finding;
 *  2. with o->verify, the verification trial: the tarball unpacked in a
 *     fresh folder and its bundle/repro.sh run (the run's command and env
 *     on that dataset), with the run's limits and target (one device of
 *     its --gpus), logs in synthetic/verify/. FAIL (the same signature at
 *     the run's --match) is verified. Otherwise it tries again keeping the images' voxels,
 *     then also the whole labels and the origin; the first that reproduces
 *     is kept and the summary names what it kept. None: the fully
 *     de-identified one is kept, said not to reproduce;
 *  3. README.md and synthetic.json (summary, verified, reproduced, kept,
 *     files: what was done to each, trial: its outcome and signature).
 * Each attempt is built in WORKDIR/.synthetic.new.XXXXXX and only the
 * finished folder replaces WORKDIR/synthetic. The user's dataset is only
 * read. nnunet-pre: the bundle is raw_only (format.h): the culprits' raw
 * NIfTI cases from $nnUNet_raw, de-identified, and no preprocessed array;
 * repro.sh preprocesses them, and the verification runs repro.sh
 * --from-raw. Refused: no culprits, a case file that is not NIfTI, a
 * nnunet-pre dataset without its raw images. Blocking (it runs trials: SIGINT ends them). Returns 0 with
 * *res filled, or -1 with a message in err.
 */
int synth_bundle(const struct report_input *rin, const struct synth_bundle_options *o,
		 struct synth_result *res, char *err, size_t errlen);

/* The line on sharing res->tarball, for the terminal: attach it, not
 * bundle.tar.gz; or check it first, when it kept part of the patients'
 * files or does not reproduce. Static text. */
const char *synth_share_note(const struct synth_result *res);

/* report.md's paragraph on WORKDIR/synthetic (its summary), or NULL when
 * there is none; the caller frees it. */
char *synth_report_md(const char *workdir);

/* report.json's "synthetic": {path, summary, verified, reproduced, kept}
 * read from WORKDIR/synthetic/synthetic.json, or NULL when there is none.
 * The caller owns it. */
struct cJSON *synth_report_json(const char *workdir);

#endif
