/* bundle: private to bundle*.c. The repro bundle being built: what the
 * format's hooks see (struct fmt_bundle, format.h) and what the bundle's
 * texts are written from (the facts). */
#ifndef CASEBISECT_BUNDLE_H
#define CASEBISECT_BUNDLE_H

#include "format.h"
#include "report_facts.h"

struct bundle {
	struct fmt_bundle fb; /* ds, the culprits' cases, rel, data, the writers */
	const struct rep_facts *f;
	char *dir; /* the new bundle, being built: WORKDIR/.bundle.new.XXXXXX */
};

/* repro.sh's text (bundle_repro.c); argv is run.json's command. The
 * caller frees it. */
char *rep_repro_text(const struct bundle *bd, const char **argv);

/* excerpt.log's text (bundle_excerpt.c); the caller frees it. */
char *rep_excerpt_text(const struct rep_facts *f);

#endif
