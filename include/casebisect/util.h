/* util: allocation that never returns NULL, the fatal-error exit every
 * module shares, and the one way files of the work directory are written.
 * Out of memory is not a condition casebisect recovers from. */
#ifndef CASEBISECT_UTIL_H
#define CASEBISECT_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#if defined(__GNUC__)
#define CB_NORETURN __attribute__((noreturn))
#define CB_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CB_NORETURN
#define CB_PRINTF(f, a)
#endif

/* Prints "casebisect: fatal: <message>" to stderr, runs the hook set by
 * cb_at_die() (once), and exits with status 1. */
CB_NORETURN void die(const char *fmt, ...) CB_PRINTF(1, 2);

/* Sets what die() does before it exits (NULL: nothing): the supervisor
 * ends its running trials there, so that no fatal error (out of memory
 * included) leaves a trainer running. The hook must not allocate much:
 * it may run because memory ran out. */
void cb_at_die(void (*hook)(void));

/* malloc/calloc/realloc/strdup that die() instead of returning NULL.
 * The caller owns and frees what they return. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Copies at most dstsize-1 bytes of src and NUL-terminates (dstsize > 0).
 * Returns strlen(src), so a result >= dstsize means it was cut. */
size_t cb_strlcpy(char *dst, const char *src, size_t dstsize);

/* Reads the whole file at path into a NUL-terminated buffer the caller
 * frees; *len (may be NULL) gets its length. NULL with errno set when it
 * cannot be read. For small files (tests, fixtures): it holds all in memory. */
char *cb_read_file(const char *path, size_t *len);

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 when
 * the bytes there are not one (overlong forms and surrogates included). */
size_t cb_utf8_seq_len(const unsigned char *s, size_t n);

/* Whether the string s is valid UTF-8 throughout. */
bool cb_utf8_valid(const char *s);

/* Copies n bytes of src into dst (size > 0 bytes) as valid UTF-8: each
 * invalid byte becomes U+FFFD, and a cut never splits a character. */
void cb_utf8_copy(char *dst, size_t size, const char *src, size_t n);

/* A valid UTF-8 copy of the string s (invalid bytes become U+FFFD); the
 * caller frees it. */
char *cb_utf8_clean(const char *s);

/* A new string formatted as by printf; the caller frees it. */
char *cb_fmt(const char *fmt, ...) CB_PRINTF(1, 2);
char *cb_vfmt(const char *fmt, va_list ap) CB_PRINTF(1, 0);

/* An argument as a shell reads it back: bare when that is safe, else
 * single-quoted; the caller frees it. */
char *cb_sh_word(const char *s);
/* argv[0..n) as one shell line of cb_sh_word()s; the caller frees it. */
char *cb_sh_join(const char *const *argv, size_t n);
/* This process's own command line (/proc/self/cmdline) as cb_sh_join()
 * writes it, or NULL when it cannot be read; the caller frees it. */
char *cb_own_command_line(void);

/* dir/name, without doubling a '/' that ends dir; the caller frees it. */
char *cb_path_join(const char *dir, const char *name);
/* Is path a regular file (links followed)? */
bool cb_is_file(const char *path);
/* Makes the folders of rel (a relative file path, "a/b/file") under base,
 * which exists; folders already there are fine. Made for casebisect's own
 * 0700 folders, where no one else can plant a link. 0, or -1 with err set. */
int cb_make_parents(const char *base, const char *rel, char *err, size_t errlen);

/* A file that ships with casebisect (a helper program, the nnU-Net probe
 * trainer): sub/name beside this executable in the source tree (one folder
 * up for a sanitizer build in build-san/), or PREFIX/libexec/casebisect/name
 * after `make install`. mode is access()'s (X_OK, R_OK). A malloc'd
 * absolute path, or NULL when there is none. */
char *cb_find_helper(const char *sub, const char *name, int mode);

/*
 * Writing a file of the work directory. Every such file is replaced in one
 * step, so that a kill, a crash or a full disk leaves the old file or the
 * new one, never half of one (a resume reads them back):
 *
 *  1. cb_tmp_open() creates a new file beside path, "PATH.tmp.PID.N"
 *     (O_EXCL|O_NOFOLLOW: never an existing name, never through a planted
 *     link; mode before the umask) and returns its descriptor, or -1.
 *  2. The caller writes to it (cb_write_all(), or a library given the fd).
 *  3. cb_tmp_commit() closes it and renames it over path; with
 *     CB_WRITE_DURABLE it fsyncs the file before and the folder after, so
 *     that the new file also outlives a power cut. cb_tmp_abandon() closes
 *     and removes it instead. Either takes the descriptor and frees *tmp.
 *
 * cb_write_atomic() does the three steps for data in memory (mode 0666).
 * Each returns 0, or -1 with a message in err that names path (never the
 * temporary name) and the reason: "WORKDIR/report.md: cannot write: No
 * space left on device"; the temporary file is gone then.
 *
 * Design note: durable or not. The two fsyncs cost about a millisecond on
 * an idle disk and tens on a busy one, per file. What resume needs after a
 * power cut (run.json, search.json, a finished trial's result.json, the
 * report) is durable; the files written for every trial that resume does
 * not need after a reboot (command.txt, env.txt, pgid: no process outlives
 * a reboot; wall.json: a clock) are only atomic, which a crash or kill of
 * casebisect cannot break either, since the page cache outlives it.
 */
enum cb_write_flags {
	CB_WRITE_DURABLE = 1 << 0,
};

int cb_tmp_open(const char *path, mode_t mode, char **tmp, char *err, size_t errlen);
int cb_tmp_commit(int fd, char **tmp, const char *path, enum cb_write_flags flags, char *err,
		  size_t errlen);
void cb_tmp_abandon(int fd, char **tmp);
int cb_write_atomic(const char *path, const void *data, size_t len, enum cb_write_flags flags,
		    char *err, size_t errlen);

/* Writes all n bytes to fd (again after EINTR and short writes). 0, or -1
 * with errno set. */
int cb_write_all(int fd, const void *data, size_t n);

/* fsync(2) of the folder dir, so that names made in it last; a filesystem
 * that cannot sync folders (EINVAL) counts as done. 0, or -1 with errno. */
int cb_fsync_dir(const char *dir);

/* Removes the temporary files of step 1 above that a killed casebisect
 * left in dir (names "NAME.tmp.PID.N" whose process is gone); how many. */
size_t cb_remove_tmp_leftovers(const char *dir);

/* Formats a message into err (errlen bytes); nothing when err is NULL. */
void cb_set_err(char *err, size_t errlen, const char *fmt, ...) CB_PRINTF(3, 4);

#define CB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#include "casebisect/banned.h"

#endif
