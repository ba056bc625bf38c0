/* report_facts: private to the report's files (report.c, report_*.c,
 * bundle*.c). What the journal says, counted once (report_facts.c) for
 * every renderer (report.json in report_json.c, report.md in report_md.c,
 * the bundle in bundle*.c), and the text kit they write with
 * (report_text.c): a growable buffer, Markdown's and the shell's quoting.
 * The public face is include/casebisect/report.h. */
#ifndef CASEBISECT_REPORT_FACTS_H
#define CASEBISECT_REPORT_FACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "casebisect/confidence.h"
#include "casebisect/report.h"
#include "casebisect/util.h"

#ifndef CASEBISECT_VERSION
#define CASEBISECT_VERSION "unknown"
#endif

#define BUNDLE_NAME "bundle"
#define TARBALL_NAME "bundle.tar.gz"

/* ======== the text kit (report_text.c) ======== */

/* A growable text buffer; { 0 } is an empty one. */
struct rep_buf {
	char *s;
	size_t len, cap;
};

void rep_buf_add(struct rep_buf *b, const char *p, size_t n);
void rep_buf_puts(struct rep_buf *b, const char *s);
void rep_buf_printf(struct rep_buf *b, const char *fmt, ...) CB_PRINTF(2, 3);
/* The text (never NULL); the buffer is left empty. The caller frees it. */
char *rep_buf_take(struct rep_buf *b);

/* s as Markdown shows it verbatim: control bytes as \xNN (tabs and, in a
 * block, newlines kept), and in a table cell '|' escaped. */
void rep_md_verbatim(struct rep_buf *b, const char *s, bool block, bool in_table);
/* `s`, with a longer run of backticks around it when s holds some. */
void rep_md_code(struct rep_buf *b, const char *s, bool in_table);
/* A fenced code block, its fence longer than any backtick run in text. */
void rep_md_block(struct rep_buf *b, const char *text, const char *lang);
/* "" for 1, "s" for any other count. */
const char *rep_plural(uint64_t n);
/* An argument as a shell reads it back: bare when that is safe, else
 * single-quoted. */
void rep_sh_word(struct rep_buf *b, const char *s);

/* ======== logs (report_trace.c) ======== */

struct rep_facts;

/* The lines of a log; the pieces point into its text ('\n' and a '\r'
 * before it not included). */
struct rep_lines {
	const char **at;
	size_t *len;
	size_t n;
};

void rep_lines_split(struct rep_lines *l, const char *text, size_t size);
void rep_lines_release(struct rep_lines *l);
/* Does the line hold needle ("" never matches)? */
bool rep_line_has(const char *line, size_t len, const char *needle);

/* The most lines the decisive traceback shows in report.md. */
#define REP_TRACE_LINES 40

/* The decisive traceback out of a log's text: from the "Traceback (most
 * recent call last):" that the decisive line ends, and the two lines
 * before it up to an empty one (or, for a line before
 * a traceback, such as a CUDA assertion's, through the traceback that
 * follows; without one, the lines around it), at most REP_TRACE_LINES
 * lines: a longer one keeps its head and its end, with a line saying how
 * many were left out between. The decisive line is the one numbered line
 * (1-based) when it holds the evidence, else the last that does. NULL when
 * no line does; else the text (the caller frees it) and, in first and
 * last, the lines it spans. */
char *rep_trace_excerpt(const char *text, size_t size, uint64_t line, const char *evidence,
			size_t *first, size_t *last);

struct rep_trace {
	char *text;           /* rep_trace_excerpt()'s; the caller frees it */
	uint64_t trial;       /* the trial whose log it is */
	const char *log;      /* "stderr.log" or "stdout.log" */
	size_t first, last;   /* the lines of that log it spans */
};

/* The decisive traceback of the target, from the log of the trial it was
 * taken from (the first failing target run): 0, or -1 when there is no
 * target, trial or log line to show. */
int rep_trace_find(const struct rep_facts *f, struct rep_trace *t);

/* ======== the facts (report_facts.c) ======== */

struct rep_u64s {
	uint64_t *v;
	size_t n, cap;
};

struct rep_culprit {
	const struct ds_case *c;
	uint64_t runs, fails;             /* decided trials with it and no other culprit */
	uint64_t alone_runs, alone_fails; /* decided trials of it alone */
	struct rep_u64s failing;
	const struct jrn_entry *first_fail; /* its evidence */
	const struct jrn_entry *first_alone_fail; /* what the bundle reruns, timed */
};

/* One "other failure": UNRESOLVED trials with reason other_failure of one
 * class and fingerprint. Strings are borrowed from the journal. */
struct rep_other {
	const char *klass, *fingerprint;
	struct rep_u64s trials;
	const struct jrn_entry *smallest; /* the first with the fewest cases */
};

struct rep_facts {
	const struct report_input *in;
	struct rep_culprit *cul;
	size_t ncul;
	struct rep_other *other;
	size_t nother;
	uint64_t pass, fail, unresolved;
	uint64_t skipped;       /* of unresolved: the command exited 125 (skip) */
	double gpu_s;
	size_t cleared;
	/* every culprit together (minimal_subset): decided trials holding all */
	uint64_t all_runs, all_fails;
	struct rep_u64s all_failing;
	/* how sure the answer is (culprits_found, minimal_subset) */
	bool have_conf;
	struct conf_result conf;
	/* a trial's time: the median and longest of all trials, and the
	 * trials that decided the answer */
	double median_s, longest_s;
	const struct jrn_entry *full_set;   /* the first target run */
	const struct jrn_entry *subset_fail; /* minimal_subset: its smallest failing trial */
	const struct jrn_entry *clean_pass; /* the largest pass without a culprit */
	cJSON *run; /* run.json parsed; NULL when absent or not JSON */
	/* What an unfinished search leaves (verdict undetermined): the FAIL
	 * trial with the fewest cases (the first of a tie; NULL: none failed),
	 * and the open cases, neither a culprit nor in a passing trial (empty
	 * for the other verdicts). */
	const struct jrn_entry *smallest_fail;
	size_t *open, nopen;
	/* The cases the bundle copies (dataset indices): the culprits, or for
	 * undetermined the smallest failing subset when it is smaller than the
	 * dataset; nbundle 0: no bundle. */
	size_t *bundle, nbundle;
};

/* Counts what in says; rep_facts_release() frees it. */
void rep_facts_init(struct rep_facts *f, const struct report_input *in);
void rep_facts_release(struct rep_facts *f);

bool rep_is_outcome(const struct jrn_entry *e, const char *o);
bool rep_verdict_is(const struct report_input *in, const char *v);
/* Does the verdict blame the culprits (and so clear every other case)? */
bool rep_verdict_blames(const struct report_input *in);
/* Did the audit blame case i although training cleared it? */
bool rep_audit_blamed(const struct report_input *in, size_t i);

/* run.json's key (a path of two keys at most: "options", "cwd"). */
const cJSON *rep_run_get(const struct rep_facts *f, const char *key, const char *sub);
const char *rep_run_str(const struct rep_facts *f, const char *key, const char *sub);
bool rep_run_true(const struct rep_facts *f, const char *key, const char *sub);
/* run.json's "command" as a NULL-terminated array of borrowed strings
 * (the caller frees the array), or NULL when there is none. */
const char **rep_run_command(const struct rep_facts *f);
/* The variables the trials got, in order: ours, then run.json's "env".
 * A NULL-terminated array of borrowed strings the caller frees. */
const char **rep_trial_env_list(const struct rep_facts *f);

/* The cases of trial e as dataset indices, in its order; the caller frees
 * them. */
size_t *rep_entry_cases(const struct jrn_entry *e);

/* ======== the renderers ======== */

/* report.json's text (report_json.c); the caller frees it. */
char *rep_json_text(const struct rep_facts *f);
/* report.md's text, valid UTF-8 (report_md.c); the caller frees it. */
char *rep_md_text(const struct rep_facts *f);
/* The sentence of report.md on how sure the answer is; nothing when the
 * verdict clears no case (report_md.c). */
void rep_confidence_sentence(struct rep_buf *b, const struct rep_facts *f);

/* Builds WORKDIR/bundle and bundle.tar.gz (bundle.c); 0, or -1 with err. */
int rep_bundle_write(const struct rep_facts *f, char *err, size_t errlen);

/* Where rep_bundle_write_to() puts a bundle, and how it makes the cases'
 * files: the plain bundle copies them; the synthetic one (bundle_synth.c)
 * writes de-identified stand-ins. Strings are borrowed. */
struct rep_bundle_dest {
	const char *dir;     /* the bundle's folder (replaced): WORKDIR/bundle */
	const char *tarball; /* its archive (entries under bundle/): WORKDIR/bundle.tar.gz */
	const char *scratch; /* where it is built (.bundle.new.XXXXXX): WORKDIR */
	/* Makes case c's file src (one of its files, or another of its images
	 * or its label, as the format's copy_case gives them) at dst, a new
	 * name whose folders exist; NULL: a copy. 0, or -1 with err. */
	int (*put)(void *ctx, const struct ds_case *c, const char *src, bool label,
		   const char *dst, char *err, size_t errlen);
	void *ctx;
	/* fmt_bundle's raw_only: the case files stay out (format.h) */
	bool raw_only;
	/* README.md's opening paragraph in place of the warning that the bundle
	 * holds patients' files; NULL: the warning. */
	const char *readme_note;
};

/* The same bundle at d (bundle.c); 0, or -1 with err. */
int rep_bundle_write_to(const struct rep_facts *f, const struct rep_bundle_dest *d, char *err,
			size_t errlen);
/* Removes path and all under it, never following a link (bundle.c). */
int rep_remove_tree(const char *path, char *err, size_t errlen);

#endif
