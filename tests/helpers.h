/* helpers: what the end-to-end tests share: running the casebisect binary
 * and capturing what a user sees, and a temporary folder per test. */
#ifndef CASEBISECT_TEST_HELPERS_H
#define CASEBISECT_TEST_HELPERS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define MAX_ARGS 32

/* What a run of the binary showed. */
struct run {
	int code;  /* exit status */
	char *out; /* stdout, NUL-terminated */
	size_t out_len;
	char *err; /* stderr, NUL-terminated */
	size_t err_len;
};

/* How to start it: stdin bytes (NULL: /dev/null), where stdout goes (NULL:
 * captured; CLOSED: closed), the working directory (NULL: ours). */
struct how {
	const char *in;
	const char *out_path;
	const char *cwd;
};

/* stdout closed instead of captured (struct how.out_path). */
extern const char CLOSED[];
/* The default: no stdin, stdout captured, our working directory. */
extern const struct how plain;

/* $CASEBISECT_BIN: the binary under test. */
const char *bin(void);

/* Paths the caller frees: REL in the source tree ($CASEBISECT_SRC), a log
 * of the corpus ($CASEBISECT_CORPUS/logs/NAME), examples/logs/NAME. */
char *src_file(const char *rel);
char *corpus_file(const char *name);
char *example(const char *name);

void append(char **buf, size_t *len, const char *data, size_t n);

/* Runs the binary with the given arguments (NULL-terminated) and fills *r.
 * A crash of the tool fails the test: it is never an expected failure. */
void run_how(struct run *r, const struct how *how, ...);
#define run(r, ...) run_how(r, &plain, __VA_ARGS__, (char *)NULL)
void run_release(struct run *r);

size_t count_lines(const char *s);
/* Line i (0-based) of s, without its newline; the caller frees it. */
char *line_at(const char *s, size_t i);
bool starts_with(const char *s, const char *prefix);

/* A usage error as the user must see it: exit 2, nothing on stdout, one
 * line `casebisect: ...`, then one `hint:` line. */
void assert_usage_error(const struct run *r);

/* harness/toytrain in the source tree (not to be freed). */
const char *toy_path(void);

/* `casebisect run --workdir WD --gpus none OPTION... DS -- harness/toytrain
 * --cases-file {cases_file} --files-file {files_file}` into *r: the toy run
 * most tests begin with. The dataset comes last, after the options. */
#define run_toy(r, wd, ...)                                                                  \
	run(r, "run", "--workdir", wd, "--gpus", "none", __VA_ARGS__, "--", toy_path(),         \
	    "--cases-file", "{cases_file}", "--files-file", "{files_file}")

/* Takes the "[HH:MM:SS] " off the start of each line of text, in place: a
 * run's log lines carry their time when stdout is not a terminal. */
void strip_stamps(char *text);

/* Validates WORKDIR/report.json against docs/report-schema.json with
 * python3's jsonschema. */
void assert_schema_valid(const char *workdir);

/* nnUNetPlans.json for Dataset501_Liver as nnUNetv2_plan_and_preprocess
 * writes it, cut to what casebisect reads: 2d (data folder nnUNetPlans_2d),
 * 3d_fullres (nnUNetPlans_3d_fullres) and the cascade (inherits_from). */
extern const char nnunet_plans_json[];

/* tmpdir/rel (the caller frees it); mkdir of tmpdir/rel; tmpdir/rel
 * written with data (write_file). Each fails the test when it fails. */
char *at(const char *rel);
void mkdir_at(const char *rel);
void put(const char *rel, const char *data);

/* examples/mkcases into tmpdir/NAME: a raw dataset of `cases` cases with
 * the bad ones given ("case_004=7", NULL-terminated; may be NULL). The
 * caller frees the path. */
char *mkcases_in(const char *name, int cases, const char *const *bad);

/* The value of NAME in FILE, a `faketrain --env-dump` (one VAR=value a
 * line); NULL when it is not there. The caller frees it; an unreadable file
 * fails the test. */
char *dump_value(const char *file, const char *name);

/* The JSON file at path, parsed (the caller deletes it); fails the test when
 * it cannot be read or parsed. */
struct cJSON *read_json(const char *path);

/* Fails the test unless the file at path is valid UTF-8 and each of its
 * lines (or, with whole, the whole file) is JSON to a strict reader
 * (python3's json). */
void assert_strict_json(const char *path, bool whole);

/* The culprits of WORKDIR/report.json, space separated, in order (the
 * caller frees it); its verdict into verdict when that is not NULL. */
char *report_culprits(const char *workdir, char *verdict, size_t vsize);

/* Every entry under dir with its type, mode, size, mtime and a checksum of
 * its bytes (a link: its target), one a line: two snapshots differ when
 * anything was changed, created or removed. The caller frees it. */
char *tree_snapshot(const char *dir);

/* Runs bundle/repro.sh from the folder above it with nothing of our
 * environment: env -i, a fresh $HOME (tmpdir/home), PATH=/usr/bin:/bin.
 * Its output goes to tmpdir/repro.log (returned in *log; the caller frees
 * it); returns its exit status. */
int run_repro_as_stranger(const char *bundle, char **log);

/* The class `casebisect classify --json` gives the log (the caller frees it). */
char *class_of(const char *log);

/* A fresh folder per test (tmpdir), removed after it even when it failed:
 * use as .init = tmpdir_setup, .fini = tmpdir_teardown. (Give no .timeout:
 * Criterion 2.4's timeout watchdog leaks in its runner, which fails the
 * sanitized run; bound the test's own waits instead.) */
extern char tmpdir[64];
void tmpdir_setup(void);
void tmpdir_teardown(void);

/* Mounts a tmpfs of size bytes ("1m", "64k") at tmpdir/rel (made here),
 * for tests of a full disk; tmpdir_teardown() unmounts it. 0, or -1 with
 * errno (EPERM: not root; the test then skips, saying so). */
int mount_tmpfs(const char *rel, const char *size);

/* Writes the file path until only leave bytes of its filesystem stay
 * free (0: full, the next write fails with ENOSPC). */
void fill_up(const char *path, size_t leave);

/* Writes data to dir/name; returns the path, which the caller frees. */
char *write_file(const char *dir, const char *name, const char *data);

/* Starts argv (argv[0] a path; NULL-terminated) in the background, stdin
 * from /dev/null, stdout and stderr into the files named (exit 126: they
 * could not be opened; 127: argv[0] could not be run); returns its pid. */
pid_t spawn_argv(char *const *argv, const char *out_path, const char *err_path);

/* Fails the test when this process still has a child (who: what should
 * have reaped it, for the message). */
void assert_no_children(const char *who);

/* How many file descriptors this process has open (/proc/self/fd). */
int count_fds(void);

/* Fills argv (MAX_ARGS + 2 slots) with first and the NULL-terminated
 * arguments of ap, then NULL. */
void collect_args(char **argv, const char *first, va_list ap);

/* spawn_argv() of the binary with the given arguments (NULL-terminated). */
int spawn_bg(const char *out_path, const char *err_path, ...);

/* Waits for pid and returns its exit status; a death by signal fails. */
int wait_exit(int pid);

/* Is any process alive (not a zombie) whose environment holds the
 * variable assignment kv ("CASEBISECT_SUPERVISOR=123")? Returns its pid or 0. */
int process_with_env(const char *kv);

/* The seed of a randomized test: $CASEBISECT_TEST_SEED when set (to replay
 * a failure), else the time. Printed on stderr either way, so a failure
 * can be replayed. */
unsigned test_seed(void);

#endif
