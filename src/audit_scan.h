/* audit_scan: streaming a label file's voxels into its value histogram
 * (the fast paths for 8- and 16-bit labels, a hash of values for wider
 * types, bounding boxes of the values the declared set does not hold), and
 * a float image's into its NaN and Inf counts. A scan holds one slab of
 * AUD_SLAB bytes and one histogram, whatever the volume's size. Private to
 * the audit module (audit*.c). */
#ifndef CASEBISECT_AUDIT_SCAN_H
#define CASEBISECT_AUDIT_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit_labels.h"
#include "audit_nifti.h"

/* A distinct label value once scanned, with its box. */
struct aud_val {
	double value;
	uint64_t voxels;
	bool boxed;
	int64_t lo[3], hi[3];
};

/* A label file's distinct values, ascending (NaN last). v owned. */
struct aud_vals {
	struct aud_val *v;
	size_t n;
	uint64_t overflow;  /* voxels whose values were not kept */
};

/* Grows v's box to hold lo..hi. */
void aud_val_merge_box(struct aud_val *v, const int64_t lo[3], const int64_t hi[3]);

/*
 * Streams the voxels of an open label file (header read by aud_hdr_read())
 * through a histogram; boxes are kept for the values d does not hold when
 * d->active. buf: AUD_SLAB bytes. 0 with *vals filled (the caller frees
 * vals->v), or -1 with p filled.
 */
int aud_scan_label(struct aud_nfile *f, const struct aud_hdr *h, const struct aud_decl *d,
		   unsigned char *buf, struct aud_vals *vals, struct aud_problem *p);

/* Counts the NaN and Inf voxels of an open float32/float64 image (header
 * read). buf: AUD_SLAB bytes. 0, or -1 with p filled. */
int aud_scan_image(struct aud_nfile *f, const struct aud_hdr *h, unsigned char *buf,
		   uint64_t *nan, uint64_t *inf, struct aud_problem *p);

#endif
