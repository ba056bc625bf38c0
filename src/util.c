/* util: allocation wrappers, die(), writing files atomically; see include/casebisect/util.h. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "casebisect/util.h"

static void (*die_hook)(void);

void cb_at_die(void (*hook)(void))
{
	die_hook = hook;
}

void die(const char *fmt, ...)
{
	void (*hook)(void) = die_hook;
	va_list ap;

	fflush(stdout);
	fputs("casebisect: fatal: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	die_hook = NULL; /* a die() inside the hook must not loop */
	if (hook)
		hook();
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

bool cb_is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int cb_make_parents(const char *base, const char *rel, char *err, size_t errlen)
{
	char *path = cb_path_join(base, rel), *s;
	int rc = 0;

	for (s = path + strlen(base) + 1; *s && rc == 0; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(path, 0777) < 0 && errno != EEXIST) {
			cb_set_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
			rc = -1;
		}
		*s = '/';
	}
	free(path);
	return rc;
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

int cb_write_all(int fd, const void *data, size_t n)
{
	const char *p = data;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int cb_tmp_open(const char *path, mode_t mode, char **tmp, char *err, size_t errlen)
{
	static unsigned counter;
	int fd = -1, tries;

	*tmp = NULL;
	for (tries = 0; tries < 100 && fd < 0; tries++) {
		free(*tmp);
		*tmp = cb_fmt("%s.tmp.%ld.%u", path, (long)getpid(), counter++);
		fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		cb_set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
		free(*tmp);
		*tmp = NULL;
	}
	return fd;
}

void cb_tmp_abandon(int fd, char **tmp)
{
	int saved = errno;

	if (fd >= 0)
		close(fd);
	if (*tmp)
		unlink(*tmp);
	free(*tmp);
	*tmp = NULL;
	errno = saved;
}

int cb_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0, saved;

	if (fd < 0 || (fsync(fd) < 0 && errno != EINVAL))
		rc = -1;
	saved = errno;
	if (fd >= 0)
		close(fd);
	errno = saved;
	return rc;
}

/* cb_fsync_dir() of the folder that holds path. */
static int sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = !slash ? xstrdup(".") : slash == path ? xstrdup("/")
		  : cb_fmt("%.*s", (int)(slash - path), path);
	int rc = cb_fsync_dir(dir), saved = errno;

	free(dir);
	errno = saved;
	return rc;
}

int cb_tmp_commit(int fd, char **tmp, const char *path, enum cb_write_flags flags, char *err,
		  size_t errlen)
{
	if ((flags & CB_WRITE_DURABLE) && fsync(fd) < 0) {
		cb_set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
		cb_tmp_abandon(fd, tmp);
		return -1;
	}
	if (close(fd) < 0 || rename(*tmp, path) < 0) {
		cb_set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
		cb_tmp_abandon(-1, tmp);
		return -1;
	}
	free(*tmp);
	*tmp = NULL;
	if ((flags & CB_WRITE_DURABLE) && sync_parent(path) < 0) {
		cb_set_err(err, errlen, "%s: cannot sync its folder: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int cb_write_atomic(const char *path, const void *data, size_t len, enum cb_write_flags flags,
		    char *err, size_t errlen)
{
	char *tmp;
	int fd = cb_tmp_open(path, 0666, &tmp, err, errlen);

	if (fd < 0)
		return -1;
	if (cb_write_all(fd, data, len) < 0) {
		cb_set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
		cb_tmp_abandon(fd, &tmp);
		return -1;
	}
	return cb_tmp_commit(fd, &tmp, path, flags, err, errlen);
}

/* Is name "NAME.tmp.PID.N" (cb_tmp_open()'s)? Its PID into *pid. */
static bool tmp_name(const char *name, long *pid)
{
	const char *p = strstr(name, ".tmp."), *next;
	char *end;

	if (!p)
		return false;
	while ((next = strstr(p + 1, ".tmp.")))
		p = next; /* the last one: NAME may hold ".tmp." too */
	p += 5;
	if (!isdigit((unsigned char)*p))
		return false;
	*pid = strtol(p, &end, 10);
	if (*end != '.' || !isdigit((unsigned char)end[1]))
		return false;
	for (p = end + 1; isdigit((unsigned char)*p); p++)
		;
	return *p == '\0';
}

size_t cb_remove_tmp_leftovers(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;
	long pid;

	while (d && (e = readdir(d))) {
		struct stat st;
		char *path;

		if (!tmp_name(e->d_name, &pid) || pid <= 0 || pid == (long)getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno == EPERM)
			continue; /* not one, or its writer is alive */
		path = cb_path_join(dir, e->d_name);
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && unlink(path) == 0)
			n++;
		free(path);
	}
	if (d)
		closedir(d);
	return n;
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

/* Bare when every byte is safe ({placeholders} too: no brace expansion
 * without a comma or ".."). */
char *cb_sh_word(const char *s)
{
	const char *p;
	bool bare = *s != '\0';
	size_t n = 3;
	char *out, *o;

	for (p = s; *p; p++) {
		bare = bare && strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789_@%+=:,./{}-", *p) != NULL;
		n += *p == '\'' ? 4 : 1;
	}
	if (bare)
		return xstrdup(s);
	o = out = xmalloc(n);
	*o++ = '\'';
	for (p = s; *p; p++) {
		if (*p == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else
			*o++ = *p;
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}

char *cb_sh_join(const char *const *argv, size_t n)
{
	char *line = xstrdup(""), *w, *next;
	size_t i;

	for (i = 0; i < n; i++) {
		w = cb_sh_word(argv[i]);
		next = cb_fmt("%s%s%s", line, i ? " " : "", w);
		free(w);
		free(line);
		line = next;
	}
	return line;
}

char *cb_own_command_line(void)
{
	size_t len, n = 0, i;
	char *text = cb_read_file("/proc/self/cmdline", &len), *line;
	const char **argv;

	if (!text || !len) {
		free(text);
		return NULL;
	}
	argv = xcalloc(len + 1, sizeof(*argv));
	/* NUL-separated arguments, the last NUL-terminated */
	for (i = 0; i < len; i += strlen(text + i) + 1)
		argv[n++] = text + i;
	line = cb_sh_join(argv, n);
	free(argv);
	free(text);
	return line;
}
