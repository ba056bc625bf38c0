/* bundle: private to bundle*.c. The repro bundle being built: what the
 * format's hooks see (struct fmt_bundle, format.h) and what the bundle's
 * texts are written from (the facts). */
#ifndef CASEBISECT_BUNDLE_H
#define CASEBISECT_BUNDLE_H

#include <sys/types.h>

#include "format.h"
#include "report_facts.h"

/* One of casebisect's own programs that the command runs (harness/toytrain,
 * the nnU-Net launcher, ...), carried in the bundle's tools/ folder so that
 * repro.sh needs nothing of the machine casebisect ran on. */
struct bnd_tool {
	size_t argi;     /* the command's argument that names it */
	const char *var; /* repro.sh's variable holding its path: "toytrain" */
	char *rel;       /* its copy, relative to the bundle: "tools/toytrain" */
	char *src_rel;   /* its C source beside it, to rebuild it, or NULL */
	const char *build; /* shell: builds "$out" from "$src" (NULL: a script) */
};

struct bundle {
	struct fmt_bundle fb; /* ds, the culprits' cases, rel, data, the writers */
	const struct rep_facts *f;
	const struct rep_bundle_dest *dest;
	char *dir; /* the new bundle, being built: WORKDIR/.bundle.new.XXXXXX */
	struct bnd_tool *tools; /* bundle_tools.c */
	size_t ntools;
};

/* dir/rel becomes a copy of src (mode before the umask); its folders are
 * made (bundle.c). 0, or -1 with fb.err. */
int bnd_copy(struct bundle *bd, const char *src, const char *rel, mode_t mode);

/* ---- casebisect's own programs (bundle_tools.c) ---- */

/* Finds the arguments of argv (run.json's command) that name one of
 * casebisect's programs and copies each, with what it needs beside it (its
 * source, the probe trainer), into tools/. 0, or -1 with fb.err. */
int bnd_tools_carry(struct bundle *bd, const char *const *argv);
/* The program argument argi names, or NULL. */
const struct bnd_tool *bnd_tool_of(const struct bundle *bd, size_t argi);
/* repro.sh's part that sets each tool's variable, rebuilding a binary from
 * its carried source into $tmp when the carried one does not run. */
void bnd_repro_tools(struct rep_buf *b, const struct bundle *bd);
void bnd_tools_release(struct bundle *bd);

/* repro.sh's text (bundle_repro.c); argv is run.json's command. The
 * caller frees it. */
char *rep_repro_text(const struct bundle *bd, const char **argv);

/* excerpt.log's text (bundle_excerpt.c); the caller frees it. */
char *rep_excerpt_text(const struct rep_facts *f);

#endif
