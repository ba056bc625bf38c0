/* pictures: a PNG per culprit, the slice of its label that holds most of the
 * voxels that crash training, drawn with cairo (the only module that uses
 * it), for report.html and report.md. */
#ifndef CASEBISECT_PICTURES_H
#define CASEBISECT_PICTURES_H

#include <stddef.h>
#include <stdint.h>

struct report_input;

/* --pictures: what a culprit's picture shows. */
enum pic_mode {
	PIC_LABEL = 0,  /* the label alone (default): no patient image is read */
	PIC_IMAGE,      /* the label's offending voxels over the case's first image */
	PIC_NONE,       /* no picture at all */
};

/* "label", "image", "none" into *out: 0, or -1 for anything else. */
int pic_mode_parse(const char *s, enum pic_mode *out);
const char *pic_mode_name(enum pic_mode m);

/* What a picture is drawn like; the test reads pictures back with these. */
#define PIC_MAX_SIDE 512   /* the slice is scaled up by a whole factor to at most this */
#define PIC_MAX_SCALE 16
#define PIC_MIN_WIDTH 360  /* room for the caption */
#define PIC_CAPTION_H 44   /* the caption strip above the slice */
/* Offending voxels: pure red, in both modes. */
#define PIC_OFFEND_R 255
#define PIC_OFFEND_G 0
#define PIC_OFFEND_B 0

/* One culprit's picture. */
struct pic_item {
	size_t case_index;  /* into ds->cases */
	char *file;         /* relative to the work directory: "pictures/1-case_013.png" */
	int64_t z;          /* the slice drawn (the third voxel axis, k) */
	int64_t nz;
	uint64_t voxels;    /* offending voxels in that slice */
	uint64_t total;     /* offending voxels in the whole label */
	int width, height;  /* of the PNG, in pixels */
};

struct pic_set {
	enum pic_mode mode;
	struct pic_item *items;
	size_t nitems;
	char **warnings;    /* "case_013: labelsTr/case_013.nii.gz: cannot open: ..." */
	size_t nwarnings;
	char *md;           /* report.md's lines: a heading, one link per picture, the
			     * warnings; NULL when there is nothing to say */
};

/*
 * Draws WORKDIR/pictures/<n>-<case>.png for each culprit of in (in's
 * culprit order; n from 1; the case ID with characters other than
 * [A-Za-z0-9._-] as '_'), first removing the PNGs an earlier rendering
 * left there. The offending voxels are those of the values the label audit
 * (in->audit) calls a crash for that case; without an audit, or a culprit
 * without such a value, there is no picture (a warning says why).
 *
 * The slice: the axial one (fixed k, the NIfTI's third voxel axis), the one
 * holding most offending voxels (the first of equals), x to the right and
 * y upwards (row 0 at the top is j = ny-1). PIC_LABEL: background (0) black,
 * declared labels in grey levels, offending voxels PIC_OFFEND_*; no image
 * is opened. PIC_IMAGE: the case's first image, grey between the slice's
 * 1st and 99th percentiles, with the offending voxels PIC_OFFEND_*. In both
 * a yellow frame around the offending voxels and a caption above.
 *
 * A picture that cannot be drawn (unreadable file, cairo error, a disk that
 * is full) is a warning in out->warnings, never an error: the verdict does
 * not depend on it. With PIC_NONE nothing is read or written (an earlier
 * rendering's pictures are removed) and out is empty. out is the caller's;
 * free it with pic_set_release.
 */
void pic_draw(const struct report_input *in, enum pic_mode mode, struct pic_set *out);

void pic_set_release(struct pic_set *s);

#endif
