/* util: allocation that never returns NULL, and the fatal-error exit every
 * module shares. Out of memory is not a condition casebisect recovers from. */
#ifndef CASEBISECT_UTIL_H
#define CASEBISECT_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#if defined(__GNUC__)
#define CB_NORETURN __attribute__((noreturn))
#define CB_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CB_NORETURN
#define CB_PRINTF(f, a)
#endif

/* Prints "casebisect: fatal: <message>" to stderr and exits with status 1. */
CB_NORETURN void die(const char *fmt, ...) CB_PRINTF(1, 2);

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

/* dir/name, without doubling a '/' that ends dir; the caller frees it. */
char *cb_path_join(const char *dir, const char *name);

/* A file that ships with casebisect (a helper program, the nnU-Net probe
 * trainer): sub/name beside this executable in the source tree (one folder
 * up for a sanitizer build in build-san/), or PREFIX/libexec/casebisect/name
 * after `make install`. mode is access()'s (X_OK, R_OK). A malloc'd
 * absolute path, or NULL when there is none. */
char *cb_find_helper(const char *sub, const char *name, int mode);

/* Formats a message into err (errlen bytes); nothing when err is NULL. */
void cb_set_err(char *err, size_t errlen, const char *fmt, ...) CB_PRINTF(3, 4);

#define CB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#include "casebisect/banned.h"

#endif
