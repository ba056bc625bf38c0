/* util: allocation wrappers and die(); see include/casebisect/util.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "casebisect/util.h"

void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("casebisect: fatal: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("out of memory allocating %zu bytes", n);
	return p;
}

void *xcalloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);

	if (!p)
		die("out of memory allocating %zu x %zu bytes", count, size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		die("out of memory allocating %zu bytes", n);
	return q;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = xmalloc(n);

	memcpy(p, s, n);
	return p;
}

size_t cb_strlcpy(char *dst, const char *src, size_t dstsize)
{
	size_t len = strlen(src);
	size_t n = len < dstsize - 1 ? len : dstsize - 1;

	memcpy(dst, src, n);
	dst[n] = '\0';
	return len;
}

char *cb_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;
	int err;

	if (!f)
		return NULL;
	do {
		if (cap - n < 4096)
			buf = xrealloc(buf, cap = cap ? 2 * cap : 65536);
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
	} while (got);
	if (ferror(f)) {
		err = errno ? errno : EIO;
		fclose(f);
		free(buf);
		errno = err;
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

size_t cb_utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if (c == 0xe0 && s[1] < 0xa0)
		return 0; /* overlong */
	if (c == 0xed && s[1] > 0x9f)
		return 0; /* surrogate */
	if (c == 0xf0 && s[1] < 0x90)
		return 0;
	if (c == 0xf4 && s[1] > 0x8f)
		return 0;
	return len;
}

bool cb_utf8_valid(const char *s)
{
	size_t n = strlen(s), i = 0;

	while (i < n) {
		size_t len = cb_utf8_seq_len((const unsigned char *)s + i, n - i);

		if (!len)
			return false;
		i += len;
	}
	return true;
}

void cb_utf8_copy(char *dst, size_t size, const char *src, size_t n)
{
	static const char repl[] = "\xef\xbf\xbd";
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, o = 0;

	while (i < n) {
		size_t len = cb_utf8_seq_len(s + i, n - i);
		const char *from = len ? src + i : repl;
		size_t outlen = len ? len : 3;

		if (o + outlen >= size)
			break;
		memcpy(dst + o, from, outlen);
		o += outlen;
		i += len ? len : 1;
	}
	dst[o] = '\0';
}

char *cb_utf8_clean(const char *s)
{
	size_t len = strlen(s);
	char *out;

	if (len > (SIZE_MAX - 1) / 3)
		die("string too long");
	out = xmalloc(len * 3 + 1);
	cb_utf8_copy(out, len * 3 + 1, s, len);
	return out;
}

char *cb_path_join(const char *dir, const char *name)
{
	size_t ld = strlen(dir), ln = strlen(name);
	char *p;

	while (ld > 0 && dir[ld - 1] == '/')
		ld--;
	p = xmalloc(ld + ln + 2);
	memcpy(p, dir, ld);
	p[ld] = '/';
	memcpy(p + ld + 1, name, ln + 1);
	return p;
}

void cb_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

char *cb_vfmt(const char *fmt, va_list ap)
{
	va_list cp;
	char probe[1];
	int n;
	char *s;

	va_copy(cp, ap);
	n = vsnprintf(probe, sizeof(probe), fmt, cp);
	va_end(cp);
	if (n < 0)
		die("cannot format a message");
	s = xmalloc((size_t)n + 1);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

char *cb_fmt(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = cb_vfmt(fmt, ap);
	va_end(ap);
	return s;
}

/* The folder of this executable. */
static char *exe_dir(void)
{
	char *exe = realpath("/proc/self/exe", NULL), *slash;

	if (!exe)
		return xstrdup(".");
	slash = strrchr(exe, '/');
	*slash = '\0';
	return exe;
}

char *cb_find_helper(const char *sub, const char *name, int mode)
{
	char *dir = exe_dir(), *p = NULL;
	int i;

	for (i = 0; i < 3 && !p; i++) {
		p = i == 0 ? cb_fmt("%s/%s/%s", dir, sub, name)
		  : i == 1 ? cb_fmt("%s/../%s/%s", dir, sub, name)
			   : cb_fmt("%s/../libexec/casebisect/%s", dir, name);
		if (access(p, mode)) {
			free(p);
			p = NULL;
		}
	}
	free(dir);
	if (p) {
		/* "bin/../libexec/..." would end up in run.json and reports. */
		char *real = realpath(p, NULL);

		if (real) {
			free(p);
			p = real;
		}
	}
	return p;
}
