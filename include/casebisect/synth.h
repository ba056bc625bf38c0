/* synth: de-identified stand-ins for a dataset's cases, so that a repro can
 * be shared without sharing a patient. synth_nifti() makes one NIfTI file
 * (pure: niftilib reads and writes it, nothing else is touched);
 * synth_bundle() makes WORKDIR/synthetic/ from a finished run and checks
 * that it still crashes (src/synth_bundle.c). */
#ifndef CASEBISECT_SYNTH_H
#define CASEBISECT_SYNTH_H

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

/* Does path end in ".nii" or ".nii.gz" (any case)? */
bool synth_name_is_nifti(const char *path);

#endif
