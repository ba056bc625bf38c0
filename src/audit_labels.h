/* audit_labels: the declared set of label values an audit checks against:
 * from --labels, from dataset.json's "labels", or inferred from the
 * majority of the cases' histograms (audit.h says which wins, and how).
 * Private to the audit module (audit*.c). */
#ifndef CASEBISECT_AUDIT_LABELS_H
#define CASEBISECT_AUDIT_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "casebisect/audit.h"

struct aud_decl {
	enum aud_mode mode;
	int64_t *v;          /* values that are fine, ascending */
	size_t n;
	bool active;         /* false: histogram pass 1, nothing is judged */
};

/* Adds v to d->v (*cap its allocated length; unsorted until
 * aud_decl_sort()). */
void aud_decl_add(struct aud_decl *d, int64_t v, size_t *cap);

/* Sorts d->v and drops repeated values. */
void aud_decl_sort(struct aud_decl *d);

/* Is v a whole number that fits an int64_t? */
bool aud_is_int64(double v);

/* Is k (or v, when it is a whole number) in d? d sorted. */
bool aud_decl_has_int(const struct aud_decl *d, int64_t k);
bool aud_decl_has(const struct aud_decl *d, double v);

/* dataset.json's "labels" (json, its text): plain 0..C-1 plus ignore, or
 * region-based (then d->mode is AUD_MODE_REGIONS). Sets r->has_ignore and
 * r->ignore. 0, or -1 with a message in err; d->v is the caller's to free
 * either way. */
int aud_decl_from_json(struct aud_decl *d, struct aud_result *r, const char *json, char *err,
		       size_t errlen);

/* --labels "0,1,2" or "0..4,255". 0, or -1 with a message in err (and
 * d->v freed). */
int aud_decl_from_list(struct aud_decl *d, const char *list, char *err, size_t errlen);

/* "0..2, 255": v[0..n) as findings show it (v ascending). Owned by the
 * caller. */
char *aud_decl_text(const int64_t *v, size_t n);

/* Histogram mode: replaces d's values with the set inferred from the
 * values of r's cases whose label was read (label_read[i]), as audit.h
 * describes. */
void aud_decl_infer(struct aud_decl *d, const struct aud_result *r, const bool *label_read);

#endif
