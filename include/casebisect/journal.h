/* journal: every finished trial, made permanent before anyone acts on it,
 * so an interrupted night resumes where it stopped. WORKDIR/journal.jsonl
 * holds one JSON object per trial; WORKDIR/run.json what was asked. */
#ifndef CASEBISECT_JOURNAL_H
#define CASEBISECT_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A run of consecutive cases of the dataset: indices first..last, both in. */
struct jrn_range {
	size_t first, last;
};

/*
 * A trial's subset on disk. "case_ranges": [[first,last], ...], the subset
 * as runs of dataset indices (the dataset's case order, which run.json's
 * digest pins), in the subset's own order; a million-case trial is one
 * short line, not 11 MB of IDs. A subset of at most JRN_IDS_MAX cases also
 * keeps "cases": its IDs, for a human reading the file. "case_order" is a
 * digest of the dataset's IDs in order: the dataset digest does not cover
 * the order of a case list, and indices read in another order would name
 * other cases, so replay refuses a line whose order differs. A journal written
 * before case_ranges holds only "cases" (every ID): it still replays, the
 * IDs turned into ranges through the dataset (struct jrn_names).
 */
#define JRN_IDS_MAX 64

/* One finished trial, as the journal keeps it. Strings and arrays are owned
 * by the struct (jrn_entry_release frees them); "" when absent. */
struct jrn_entry {
	uint64_t trial;         /* trial number, from 1 */
	char phase[16];         /* "target" (a full-set run), "control", "sample"
				 * (a dataset-wide check), "search" (the reducer's) */
	size_t ncases;          /* how many cases the subset holds */
	struct jrn_range *ranges; /* the subset as index runs; NULL when only ids
				 * were given (a journal read without names) */
	size_t nranges;
	char **ids;             /* the subset's IDs, ncases of them, or NULL
				 * (not kept past JRN_IDS_MAX cases) */
	char case_order[17];    /* the dataset's order the ranges index; "" none */
	char outcome[16];       /* "PASS", "FAIL", "UNRESOLVED" */
	char klass[32];         /* classifier class, "none" when none */
	char fingerprint[17];   /* at the run's --match level */
	char reason[32];        /* supervise's reason name */
	char evidence[512];     /* the decisive line of a failure, cut; "" when none */
	int slot;
	int gpu;                /* -1: none; --launcher slurm: Slurm's index */
	char node[64];          /* --launcher slurm: the node; "" (not written) otherwise */
	double start;           /* Unix time, seconds */
	double duration_s;
	char **suspects;        /* from the batch line; may be empty */
	size_t nsuspects;
};

struct jrn;

/*
 * Opens (creating it when missing) WORKDIR/journal.jsonl for appending,
 * holding an exclusive lock on it until jrn_close (a second casebisect on
 * WORKDIR gets NULL: "... in use by another casebisect"). A torn last line
 * is cut off first, and jrn_warning() then says so as jrn_replay() would
 * have. Returns NULL with a message in err naming the file.
 */
struct jrn *jrn_open(const char *workdir, char *err, size_t errlen);

/* What jrn_open had to do that the user should hear of ("journal.jsonl:
 * line 42 is torn (a crash mid-write?): dropped"), or "" (owned by j). */
const char *jrn_warning(const struct jrn *j);

/*
 * Appends e as one line: "case_ranges" from e->ranges (when e->ids is NULL
 * too: an empty subset), "cases" from e->ids when given, written whole with one write(2) and fsync'd before
 * it returns, so a crash leaves at most a torn last line. Returns 0, or a
 * negative code of error.h with a message in err: CB_ENOSPACE for a full
 * disk (an error, never silent), CB_EIO, CB_EFAIL.
 */
int jrn_append(struct jrn *j, const struct jrn_entry *e, char *err, size_t errlen);

/* Closes the journal (NULL is a no-op). */
void jrn_close(struct jrn *j);

/* The dataset's case IDs, in its order, for turning IDs into indices;
 * order is jrn_names_order()'s digest of them ("" until it is filled). */
struct jrn_names {
	const char *(*id)(const void *ctx, size_t i);
	const void *ctx;
	size_t n;
	char order[17];
};

/* Fills nm->order: FNV-1a 64 of the IDs in order, each ended by '\n'. */
void jrn_names_order(struct jrn_names *nm);

/*
 * Reads WORKDIR/journal.jsonl: fills *entries (an array the caller frees
 * with jrn_entries_free) in file order. With names, every entry leaves with
 * ranges (an old entry's IDs looked up: an ID not in the dataset, or a range
 * past its end, is an error naming the line) and with ids only up to
 * JRN_IDS_MAX cases, so memory follows the trials, not cases x trials.
 * Without names (NULL) entries keep what the line holds. A torn last line (no newline at the
 * end of the file, or not valid JSON on the last line) is dropped and
 * reported in *warning ("journal.jsonl: line 42 is torn (a crash
 * mid-write?): dropped"); any other malformed line is an error naming its
 * number. A missing journal is an empty one. Returns 0 or -1 with err.
 */
int jrn_replay(const char *workdir, const struct jrn_names *names, struct jrn_entry **entries,
	       size_t *n, char *warning, size_t warnlen, char *err, size_t errlen);

/* e's subset as ranges built from subset[0..n) (dataset indices, any
 * order), and ids and case_order from names, ids only when n <=
 * JRN_IDS_MAX (names may be NULL). */
void jrn_entry_set_cases(struct jrn_entry *e, const size_t *subset, size_t n,
			 const struct jrn_names *names);

/* Whether e's subset is subset[0..n), in that order (e has ranges). */
bool jrn_entry_same(const struct jrn_entry *e, const size_t *subset, size_t n);

void jrn_entry_release(struct jrn_entry *e);
void jrn_entries_free(struct jrn_entry *entries, size_t n);

/*
 * WORKDIR/run.json: everything resume needs and nothing else. Fields are
 * given as a JSON text (an object) by the caller, who owns its shape; the
 * journal writes it atomically (temp file, fsync, rename) and checks it on
 * resume.
 *
 * jrn_write_run() writes run_json as WORKDIR/run.json. Returns 0 or -1.
 * jrn_check_run() compares run_json with the stored one: 0 when equal on
 * every key; -1 with err listing what changed, one "key: was X, now Y" per
 * change (the dataset's "digest" first when it changed: "the dataset
 * changed since this run started (digest was ..., now ...): start a new run
 * with a new --workdir"). Missing run.json: -1 ("not a casebisect work
 * directory"). Keys in ignore (NULL-terminated, may be NULL) are not compared.
 */
int jrn_write_run(const char *workdir, const char *run_json, char *err, size_t errlen);
int jrn_check_run(const char *workdir, const char *run_json, const char *const *ignore,
		  char *err, size_t errlen);

/* The stored run.json text (the caller frees it), or NULL with err. */
char *jrn_read_run(const char *workdir, char *err, size_t errlen);

#endif
