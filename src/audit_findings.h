/* audit_findings: the rules that turn what was read into findings (a label
 * value against the declared set as nnU-Net would store it, a label's
 * geometry against an image's, an image's NaN and Inf voxels, a file that
 * cannot be read), each with its one-line detail. Private to the audit
 * module (audit*.c). */
#ifndef CASEBISECT_AUDIT_FINDINGS_H
#define CASEBISECT_AUDIT_FINDINGS_H

#include <stddef.h>
#include <stdint.h>

#include "audit_labels.h"
#include "audit_nifti.h"
#include "audit_scan.h"

/* Appends a finding to c; detail is taken (owned by c from now on). Returns
 * it, for the caller to fill the value fields. */
struct aud_finding *aud_add_finding(struct aud_case *c, enum aud_severity sev,
				    enum aud_kind kind, size_t file, char *detail);

/* Findings for the values of c's label (file, its index in c->files): each
 * bad value alone up to a few per (severity, kind), the rest summed. Nothing
 * while d is not active. declared: d as text, for the details. */
void aud_value_findings(struct aud_case *c, size_t file, const struct aud_decl *d,
			const struct aud_vals *vals, const char *declared);

/* Shape, spacing and orientation of image file (img) against the label's
 * (lab). */
void aud_geometry_findings(struct aud_case *c, size_t file, const struct aud_hdr *lab,
			   const struct aud_hdr *img);

/* Silent findings for nan NaN and inf infinite voxels of image file. */
void aud_image_findings(struct aud_case *c, size_t file, uint64_t nan, uint64_t inf);

/* An unreadable finding for file, from p. */
void aud_unreadable(struct aud_case *c, size_t file, const struct aud_problem *p);

/* Sorts c's findings: by severity, then file, then kind. */
void aud_sort_findings(struct aud_case *c);

#endif
