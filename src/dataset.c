/* dataset: finds the cases of a training dataset (nnU-Net raw or
 * preprocessed, an MSD/MONAI datalist, a case list), checks them all, and
 * gives the dataset a digest. Reads only: nothing here creates or writes a
 * file. See include/casebisect/dataset.h. This file holds what every format
 * shares (the loader's kit in src/format.h: folders, JSON, cases and their
 * files, dataset.json's checks; detection's order, the digest); each
 * format's own rules are its load op in src/format_*.c. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "casebisect/dataset.h"
#include "casebisect/util.h"
#include "format.h"

/* A case ID becomes file names in a view ("<id>_0000.nii.gz",
 * "<id>_seg.b2nd"); this leaves room for the longest suffix in NAME_MAX. */
#define DS_ID_MAX 200
/* More warnings than this say "... and N more" instead. */
#define DS_MAX_WARNINGS 50

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* ---- strings, messages, warnings ---- */

/* Copies s into dst (size > 0) with control bytes and bytes that are not
 * UTF-8 as \xNN, so that a message stays one line whatever a file or case
 * is called, and a terminal shows the name the user has to rename. */
static void escape_into(char *dst, size_t size, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, left = strlen(s);

	while (left && o + 1 < size) {
		size_t len = cb_utf8_seq_len(p, left);

		if (!len || *p < 0x20 || *p == 0x7f) {
			if (o + 4 >= size)
				break;
			snprintf(dst + o, 5, "\\x%02x", *p);
			o += 4;
			len = 1;
		} else {
			if (o + len >= size)
				break;
			memcpy(dst + o, p, len);
			o += len;
		}
		p += len;
		left -= len;
	}
	dst[o] = '\0';
}

/* Puts the message in l->err and returns -1. */
int ld_fail(struct ld *l, const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	s = cb_vfmt(f, ap);
	va_end(ap);
	if (l->errlen)
		escape_into(l->err, l->errlen, s);
	free(s);
	return -1;
}

void ld_warn(struct ld *l, const char *f, ...)
{
	struct dataset *ds = l->ds;
	va_list ap;
	char *s;
	size_t n;

	if (ds->nwarnings >= DS_MAX_WARNINGS) {
		l->nwarn_lost++;
		return;
	}
	va_start(ap, f);
	s = cb_vfmt(f, ap);
	va_end(ap);
	n = strlen(s) * 4 + 1;
	ds->warnings = xrealloc(ds->warnings, (ds->nwarnings + 1) * sizeof(*ds->warnings));
	ds->warnings[ds->nwarnings] = xmalloc(n);
	escape_into(ds->warnings[ds->nwarnings], n, s);
	ds->nwarnings++;
	free(s);
}

bool ld_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Removes "." components and repeated slashes from an absolute path, in
 * place. ".." stays: across a symlink it cannot be resolved by text. */
static void path_clean(char *p)
{
	char *r = p, *w = p;

	assert(*p == '/');
	while (*r) {
		if (r[0] == '/' && r[1] == '/') {
			r++;
			continue;
		}
		if (r[0] == '/' && r[1] == '.' && (r[2] == '/' || r[2] == '\0')) {
			r += 2;
			continue;
		}
		*w++ = *r++;
	}
	if (w == p)
		*w++ = '/';
	else if (w > p + 1 && w[-1] == '/')
		w--;
	*w = '\0';
}

/* An absolute path for p, which is absolute or relative to base (absolute). */
char *ld_path_resolve(const char *base, const char *p)
{
	char *r = p[0] == '/' ? xstrdup(p) : cb_path_join(base, p);

	path_clean(r);
	return r;
}

char *ld_dir_of(const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');

	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	return dir;
}

/* p shown relative to root when it lies under it. */
const char *ld_shown(const struct dataset *ds, const char *p)
{
	size_t n = strlen(ds->root);

	if (strncmp(p, ds->root, n) == 0 && p[n] == '/')
		return p + n + 1;
	return p;
}

/* The file name of a path, without its extension (".nii.gz" counts as one):
 * a case ID. The caller frees it. */
char *ld_strip_ext(const char *path)
{
	const char *base = strrchr(path, '/'), *dot;
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 7 && ld_ends_with(base, ".nii.gz")) {
		n -= 7;
	} else {
		dot = strrchr(base, '.');
		if (dot && dot != base)
			n = (size_t)(dot - base);
	}
	{
		char *id = xmalloc(n + 1);

		memcpy(id, base, n);
		id[n] = '\0';
		return id;
	}
}

/* What makes id unsafe as a file name in a view, or NULL when nothing. */
const char *ld_id_problem(const char *id)
{
	const unsigned char *p;

	if (!*id)
		return "is empty";
	if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return "is a path component ('.' or '..')";
	if (id[0] == '-')
		return "starts with '-' (a command would read it as an option)";
	if (strlen(id) > DS_ID_MAX)
		return "is longer than 200 bytes";
	for (p = (const unsigned char *)id; *p; p++) {
		if (*p == '/')
			return "holds '/' (a case ID must be a plain file name)";
		if (*p < 0x20 || *p == 0x7f)
			return "holds a control character (newline, tab, ...)";
	}
	if (!cb_utf8_valid(id))
		return "is not valid UTF-8 (shown with \\xNN for the bad bytes; casebisect's "
		       "journal and reports are UTF-8 JSON)";
	return NULL;
}

bool ds_id_is_safe(const char *id)
{
	return id && !ld_id_problem(id);
}
/* ---- cases ---- */

/* Appends a case that takes id (owned) and room for nfiles files. The
 * pointer is valid until the next call. */
struct ds_case *ld_add_case(struct ld *l, char *id, size_t nfiles, size_t where)
{
	struct dataset *ds = l->ds;
	struct ds_case *c;

	if (ds->ncases == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		ds->cases = xrealloc(ds->cases, l->cap * sizeof(*ds->cases));
		l->fh = xrealloc(l->fh, l->cap * sizeof(*l->fh));
		l->where = xrealloc(l->where, l->cap * sizeof(*l->where));
	}
	c = &ds->cases[ds->ncases];
	c->id = id;
	c->files = nfiles ? xcalloc(nfiles, sizeof(*c->files)) : NULL;
	c->nfiles = 0;
	c->label = -1;
	l->fh[ds->ncases] = FNV_OFFSET;
	l->where[ds->ncases] = where;
	ds->ncases++;
	return c;
}

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;

	while (n--) {
		h ^= *p++;
		h *= FNV_PRIME;
	}
	return h;
}

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	return fnv(h, b, sizeof(b));
}

/* Records a JSON file the load read for its content, with the hash of its
 * bytes: it goes into the digest, and into run.json to name what changed. */
static void add_content(struct ld *l, const char *path, uint64_t h)
{
	struct dataset *ds = l->ds;
	const char *name = ld_shown(ds, path), *slash;
	struct ds_content *c;

	if (name == path && (slash = strrchr(path, '/')))
		name = slash + 1; /* the datalist or case list itself */
	ds->contents = xrealloc(ds->contents, (ds->ncontents + 1) * sizeof(*ds->contents));
	c = &ds->contents[ds->ncontents++];
	c->name = xstrdup(name);
	snprintf(c->digest, sizeof(c->digest), "%016llx", (unsigned long long)h);
}

/*
 * Checks one file of the last case: present, a regular file (or a folder),
 * readable; folds its size and mtime into the case's hash and appends path
 * (owned) to the case's files. name is the file relative to dirfd
 * (AT_FDCWD for an absolute path). Returns 0, or -1 with the problem in
 * l->prob for ld_file_failed(): messages are built only when a file fails,
 * since a dataset can have 100,000 of them.
 */
int ld_add_file(struct ld *l, int dirfd, const char *name, char *path)
{
	struct dataset *ds = l->ds;
	struct ds_case *c = &ds->cases[ds->ncases - 1];
	uint64_t *h = &l->fh[ds->ncases - 1];
	struct stat st;
	int e;

	c->files[c->nfiles++] = path; /* owned by the case from here */
	l->prob_missing = false;
	if (fstatat(dirfd, name, &st, 0) != 0) {
		e = errno;
		if (e == ENOENT) {
			char target[PATH_MAX];
			ssize_t n;

			n = readlinkat(dirfd, name, target, sizeof(target) - 1);
			if (n >= 0) {
				target[n] = '\0';
				snprintf(l->prob, sizeof(l->prob),
					 "broken symlink to '%s' (fix the link or remove the case)", target);
			} else {
				l->prob_missing = true;
			}
		} else if (e == ELOOP) {
			snprintf(l->prob, sizeof(l->prob),
				 "symlink loop (too many levels of symbolic links); fix the link");
		} else if (e == EACCES) {
			snprintf(l->prob, sizeof(l->prob),
				 "permission denied (a folder on its path cannot be searched; check "
				 "its permissions)");
		} else if (e == ENOTDIR) {
			snprintf(l->prob, sizeof(l->prob),
				 "not found (a part of its path is not a folder)");
		} else {
			snprintf(l->prob, sizeof(l->prob), "cannot stat: %s", strerror(e));
		}
		return -1;
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		snprintf(l->prob, sizeof(l->prob), "not a regular file (a trainer cannot read it)");
		return -1;
	}
	if (faccessat(dirfd, name, R_OK, 0) != 0) {
		snprintf(l->prob, sizeof(l->prob),
			 "not readable: %s (make it readable, e.g. chmod a+r)", strerror(errno));
		return -1;
	}
	*h = fnv_u64(*h, (uint64_t)st.st_size);
	*h = fnv_u64(*h, (uint64_t)st.st_mtim.tv_sec);
	*h = fnv_u64(*h, (uint64_t)st.st_mtim.tv_nsec);
	return 0;
}

/* The message of a failed ld_add_file(): what names the file; missing says
 * why it should be there, when it is not. Returns -1. */
int ld_file_failed(struct ld *l, const char *what, const char *missing)
{
	if (l->prob_missing)
		return ld_fail(l, "%s: not found (%s)", what, missing);
	return ld_fail(l, "%s: %s", what, l->prob);
}

int ld_relative_failed(struct ld *l, char *what, const char *abs, const char *start)
{
	char *missing = cb_fmt("looked for %s; fix the path: relative paths start at %s", abs,
			       start);

	ld_file_failed(l, what, missing);
	free(what);
	free(missing);
	return -1;
}

/* Why a file that readdir() listed can be missing a moment later. */
const char ld_vanished[] =
	"it ld_vanished while casebisect read the folder; is something writing to the dataset?";

/* ---- folders ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void ld_names_release(struct ld_names *nm)
{
	size_t i;

	for (i = 0; i < nm->n; i++)
		free(nm->v[i]);
	free(nm->v);
	free(nm->used);
	if (nm->d)
		closedir(nm->d);
	memset(nm, 0, sizeof(*nm));
	nm->fd = -1;
}

/* Reads the folder path (what names it in messages) into nm, sorted.
 * Returns 0; 1 when it does not exist (nothing in err); -1 with err. */
int ld_names_read(struct ld *l, const char *path, const char *what, struct ld_names *nm)
{
	size_t cap = 0;
	struct dirent *e;

	memset(nm, 0, sizeof(*nm));
	nm->fd = -1;
	nm->d = opendir(path);
	if (!nm->d) {
		int en = errno;

		if (en == ENOENT)
			return 1;
		if (en == EACCES)
			return ld_fail(l, "%s: cannot read folder: permission denied (make it readable, "
				       "e.g. chmod u+rx)", what);
		if (en == ELOOP)
			return ld_fail(l, "%s: symlink loop (too many levels of symbolic links); fix the link",
				       what);
		if (en == ENOTDIR)
			return ld_fail(l, "%s: not a folder", what);
		return ld_fail(l, "%s: cannot read folder: %s", what, strerror(en));
	}
	nm->fd = dirfd(nm->d);
	for (;;) {
		errno = 0;
		e = readdir(nm->d);
		if (!e)
			break;
		if (e->d_name[0] == '.')
			continue; /* ".", "..", and hidden files such as .DS_Store */
		if (nm->n == cap) {
			cap = cap ? cap * 2 : 64;
			nm->v = xrealloc(nm->v, cap * sizeof(*nm->v));
		}
		nm->v[nm->n++] = xstrdup(e->d_name);
	}
	if (errno) {
		int en = errno;

		ld_names_release(nm);
		return ld_fail(l, "%s: cannot read folder: %s", what, strerror(en));
	}
	if (nm->n)
		qsort(nm->v, nm->n, sizeof(*nm->v), cmp_str);
	nm->used = xcalloc(nm->n ? nm->n : 1, sizeof(*nm->used));
	return 0;
}

/* Index of name in nm, or -1. */
long ld_names_find(const struct ld_names *nm, const char *name)
{
	char **hit;

	if (!nm->n)
		return -1;
	hit = bsearch(&name, nm->v, nm->n, sizeof(*nm->v), cmp_str);
	return hit ? (long)(hit - nm->v) : -1;
}

/* ---- JSON ---- */

/* 1-based line and column of offset off in text. */
static void line_col(const char *text, size_t off, size_t *line, size_t *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off && text[i]; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

/* Offset of a "\u0000" escape inside a JSON string of text, or -1: cJSON
 * would cut the string there, and no name may hold a NUL. */
static long find_nul_escape(const char *text)
{
	bool in_str = false;
	const char *p;

	for (p = text; *p; p++) {
		if (!in_str) {
			in_str = *p == '"';
			continue;
		}
		if (*p == '"') {
			in_str = false;
		} else if (*p == '\\') {
			if (p[1] == 'u' && strncmp(p + 2, "0000", 4) == 0)
				return (long)(p - text);
			if (p[1])
				p++;
		}
	}
	return -1;
}

/*
 * Reads and parses the JSON file at path into *out. missing completes the
 * message when it does not exist ("NAME: not found; <missing>"). Every JSON
 * file a load reads says what the cases mean, so its bytes go into the
 * digest (add_content).
 */
int ld_read_json(struct ld *l, const char *path, const char *missing, cJSON **out)
{
	const char *end = NULL;
	size_t len, line, col;
	char *text;
	long nul;
	cJSON *j;

	*out = NULL;
	text = cb_read_file(path, &len);
	if (!text) {
		int e = errno;

		if (e == ENOENT)
			return ld_fail(l, "%s: not found; %s", path, missing);
		if (e == ELOOP)
			return ld_fail(l, "%s: symlink loop (too many levels of symbolic links); fix the link",
				       path);
		if (e == EACCES)
			return ld_fail(l, "%s: cannot read: permission denied (make it readable, e.g. "
				       "chmod a+r)", path);
		return ld_fail(l, "%s: cannot read: %s", path, strerror(e));
	}
	if (strlen(text) != len) {
		line_col(text, strlen(text), &line, &col);
		free(text);
		return ld_fail(l, "%s:%zu:%zu: not valid JSON (a NUL byte; is this a text file?)", path,
			       line, col);
	}
	j = cJSON_ParseWithOpts(text, &end, 1);
	if (!j) {
		size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
		char near[24];
		size_t k;

		line_col(text, off, &line, &col);
		for (k = 0; k < sizeof(near) - 1 && text[off + k] && text[off + k] != '\n'; k++)
			near[k] = text[off + k];
		near[k] = '\0';
		free(text);
		if (!k)
			return ld_fail(l, "%s:%zu:%zu: not valid JSON (unexpected end of the file); fix the "
				       "syntax there", path, line, col);
		return ld_fail(l, "%s:%zu:%zu: not valid JSON (near '%s'); fix the syntax there", path,
			       line, col, near);
	}
	nul = find_nul_escape(text);
	if (nul >= 0) {
		line_col(text, (size_t)nul, &line, &col);
		free(text);
		cJSON_Delete(j);
		return ld_fail(l, "%s:%zu:%zu: a string holds \\u0000 (a NUL character), which no case "
			       "ID or file name can hold; remove it", path, line, col);
	}
	if (!cJSON_IsObject(j)) {
		free(text);
		cJSON_Delete(j);
		return ld_fail(l, "%s: the top level is not a JSON object ({...})", path);
	}
	add_content(l, path, fnv(FNV_OFFSET, text, len));
	free(text);
	*out = j;
	return 0;
}

/* Is the number item an integer in int range? Sets *v. */
static bool json_int(const cJSON *it, long *v)
{
	double d;

	if (!cJSON_IsNumber(it))
		return false;
	d = it->valuedouble;
	if (!(d >= INT_MIN && d <= INT_MAX) || floor(d) != d)
		return false;
	*v = (long)d;
	return true;
}

/* A short text of a JSON value for messages; the caller frees it. */
static char *json_text(const cJSON *it)
{
	char *s = cJSON_PrintUnformatted(it);

	if (!s)
		die("out of memory printing JSON");
	if (strlen(s) > 40) {
		s[37] = '.';
		s[38] = '.';
		s[39] = '.';
		s[40] = '\0';
	}
	return s;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/* A name (a case ID, a label's name) and its place, sorted by name, then
 * place: repeats are found by sorting, since a dataset can hold 100,000 cases
 * and dataset.json 200,000 labels. */
struct id_at {
	const char *id;
	size_t i;
};

static int cmp_id_at(const void *a, const void *b)
{
	const struct id_at *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	if (c)
		return c;
	return (x->i > y->i) - (x->i < y->i);
}

/* A label's plain value and its place in "labels", sorted the same way. */
struct value_at {
	long v;
	size_t i;
};

static int cmp_value_at(const void *a, const void *b)
{
	const struct value_at *x = a, *y = b;

	if (x->v != y->v)
		return (x->v > y->v) - (x->v < y->v);
	return (x->i > y->i) - (x->i < y->i);
}

/*
 * For each of the n labels in items: twin[i], the first label before it with
 * the same name, and first_value[i], the first label before it with the same
 * plain value (a single integer, "ignore" left out); n (no such label) when
 * none. The checks then report the same repeat a pairwise scan would.
 */
static void label_repeats(const cJSON *const *items, size_t n, size_t *twin, size_t *first_value)
{
	struct id_at *k = xmalloc((n ? n : 1) * sizeof(*k));
	struct value_at *vk = xmalloc((n ? n : 1) * sizeof(*vk));
	size_t i, m = 0, first = 0;

	for (i = 0; i < n; i++) {
		k[i].id = items[i]->string;
		k[i].i = i;
		twin[i] = first_value[i] = n;
	}
	qsort(k, n, sizeof(*k), cmp_id_at);
	for (i = 0; i < n; i++) {
		if (i && strcmp(k[i].id, k[i - 1].id) == 0)
			twin[k[i].i] = k[first].i;
		else
			first = i;
	}
	for (i = 0; i < n; i++) {
		long v;

		if (strcmp(items[i]->string, "ignore") != 0 && !cJSON_IsArray(items[i]) &&
		    json_int(items[i], &v)) {
			vk[m].v = v;
			vk[m++].i = i;
		}
	}
	qsort(vk, m, sizeof(*vk), cmp_value_at);
	for (i = 0; i < m; i++) {
		if (i && vk[i].v == vk[i - 1].v)
			first_value[vk[i].i] = vk[first].i;
		else
			first = i;
	}
	free(k);
	free(vk);
}

/*
 * nnU-Net's rules for "labels" (nnunet.md section 1): name -> integer, or
 * a list of integers for a region; "background" is 0; "ignore" is a single
 * integer above every other value; plain values do not repeat; regions need
 * "regions_class_order". Values that are not consecutive are a warning.
 */
static int check_labels(struct ld *l, const cJSON *doc, const char *path)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(doc, "labels");
	const cJSON *it, *m, *bg = NULL, *ign = NULL, **items = NULL;
	long *vals = NULL, v, max = LONG_MIN;
	size_t nvals = 0, cap = 0, i, n = 0, at, *twin = NULL, *first_value = NULL;
	bool regions = false;
	int ret = -1;

	if (!cJSON_IsObject(labels)) {
		ret = ld_fail(l, "%s: \"labels\" is not an object (write it as {\"background\": 0, "
			      "\"tumor\": 1, ...})", path);
		goto out;
	}
	for (it = labels->child; it; it = it->next)
		n++;
	items = xmalloc((n ? n : 1) * sizeof(*items));
	twin = xmalloc((n ? n : 1) * sizeof(*twin));
	first_value = xmalloc((n ? n : 1) * sizeof(*first_value));
	for (it = labels->child, i = 0; it; it = it->next)
		items[i++] = it;
	label_repeats(items, n, twin, first_value);
	for (at = 0; at < n; at++) {
		it = items[at];
		if (twin[at] < n) {
			ret = ld_fail(l, "%s: \"labels\": \"%s\" appears twice (JSON keeps only the "
				      "last one; remove one)", path, it->string);
			goto out;
		}
		if (strcmp(it->string, "background") == 0)
			bg = it;
		else if (strcmp(it->string, "ignore") == 0)
			ign = it;
		if (cJSON_IsArray(it)) {
			if (it == bg || it == ign) {
				ret = ld_fail(l, "%s: \"labels\": \"%s\" must be a single integer, not a list",
					      path, it->string);
				goto out;
			}
			regions = true;
			if (!it->child) {
				ret = ld_fail(l, "%s: \"labels\": region \"%s\" is an empty list (list its "
					      "label values, e.g. [1, 2])", path, it->string);
				goto out;
			}
			for (m = it->child; m; m = m->next) {
				if (!json_int(m, &v)) {
					char *t = json_text(m);

					ld_fail(l, "%s: \"labels\": region \"%s\" holds %s, not an integer "
						"label value", path, it->string, t);
					free(t);
					goto out;
				}
				if (nvals == cap) {
					cap = cap ? cap * 2 : 16;
					vals = xrealloc(vals, cap * sizeof(*vals));
				}
				vals[nvals++] = v;
			}
			continue;
		}
		if (!json_int(it, &v)) {
			char *t = json_text(it);

			ld_fail(l, "%s: \"labels\": \"%s\" is %s; a label value must be an integer "
				"(e.g. \"%s\": 1)", path, it->string, t, it->string);
			free(t);
			goto out;
		}
		if (it == ign)
			continue;
		if (first_value[at] < n) {
			ret = ld_fail(l, "%s: \"labels\": value %ld of \"%s\" repeats label \"%s\" "
				      "(give each label its own value)", path, v, it->string,
				      items[first_value[at]]->string);
			goto out;
		}
		if (nvals == cap) {
			cap = cap ? cap * 2 : 16;
			vals = xrealloc(vals, cap * sizeof(*vals));
		}
		vals[nvals++] = v;
	}
	if (!bg) {
		ret = ld_fail(l, "%s: \"labels\" has no background (add \"background\": 0)", path);
		goto out;
	}
	if (json_int(bg, &v) && v != 0) {
		ret = ld_fail(l, "%s: \"labels\": \"background\" is %ld, but nnU-Net's background must be "
			      "0 (set \"background\": 0 and relabel the masks)", path, v);
		goto out;
	}
	for (i = 0; i < nvals; i++)
		if (vals[i] > max)
			max = vals[i];
	if (ign && json_int(ign, &v) && v <= max) {
		ret = ld_fail(l, "%s: \"labels\": the ignore label %ld is not the highest (labels go up "
			      "to %ld; nnU-Net needs \"ignore\": %ld)", path, v, max, max + 1);
		goto out;
	}
	if (regions && !cJSON_GetObjectItemCaseSensitive(doc, "regions_class_order")) {
		ret = ld_fail(l, "%s: \"labels\" has regions (lists of values) but no "
			      "\"regions_class_order\" (add it: one label value per region, in order)",
			      path);
		goto out;
	}
	qsort(vals, nvals, sizeof(*vals), cmp_long);
	for (i = 0, v = 0; i < nvals; i++) {
		if (i && vals[i] == vals[i - 1])
			continue;
		if (vals[i] != v) {
			ld_warn(l, "%s: \"labels\" are not consecutive (%ld is missing, up to %ld); "
				"nnU-Net expects 0, 1, 2, ... and gives the network one output per "
				"label", path, v, max);
			break;
		}
		v++;
	}
	ret = 0;
out:
	free(vals);
	free(items);
	free(twin);
	free(first_value);
	return ret;
}

/*
 * dataset.json of nnU-Net (raw, or the copy in a preprocessed folder): the
 * required keys, the labels, and what ds keeps of them.
 */
static int check_dataset_json(struct ld *l, const cJSON *doc, const char *path)
{
	struct dataset *ds = l->ds;
	static const char *const required[] = { "channel_names", "labels", "numTraining",
						"file_ending" };
	const cJSON *ch, *fe, *nt;
	char missing[128] = "";
	size_t nmissing = 0, i;
	long v;

	for (i = 0; i < CB_ARRAY_SIZE(required); i++) {
		const char *k = required[i];

		if (cJSON_GetObjectItemCaseSensitive(doc, k))
			continue;
		if (i == 0 && cJSON_GetObjectItemCaseSensitive(doc, "modality"))
			continue; /* the older name of channel_names */
		snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s\"%s\"",
			 nmissing ? ", " : "", k);
		nmissing++;
	}
	if (nmissing && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "training")))
		return ld_fail(l, "%s: an MSD Task dataset.json (a \"training\" list, no "
			       "\"file_ending\"), not nnU-Net v2's: pass dataset.json or --format msd",
			       path);
	if (nmissing)
		return ld_fail(l, "%s: missing required key%s %s (nnU-Net needs \"channel_names\", "
			       "\"labels\", \"numTraining\" and \"file_ending\")", path,
			       nmissing > 1 ? "s" : "", missing);
	ch = cJSON_GetObjectItemCaseSensitive(doc, "channel_names");
	if (!ch)
		ch = cJSON_GetObjectItemCaseSensitive(doc, "modality");
	if (!cJSON_IsObject(ch) || !ch->child)
		return ld_fail(l, "%s: \"%s\" must be an object with one entry per channel (e.g. "
			       "{\"0\": \"CT\"})", path, ch->string);
	ds->nchannels = (size_t)cJSON_GetArraySize(ch);
	fe = cJSON_GetObjectItemCaseSensitive(doc, "file_ending");
	if (!cJSON_IsString(fe) || fe->valuestring[0] != '.' || strchr(fe->valuestring, '/'))
		return ld_fail(l, "%s: \"file_ending\" must be a string such as \".nii.gz\"", path);
	ds->file_ending = xstrdup(fe->valuestring);
	nt = cJSON_GetObjectItemCaseSensitive(doc, "numTraining");
	if (!json_int(nt, &v) || v < 0)
		return ld_fail(l, "%s: \"numTraining\" must be a whole number (the number of training "
			       "cases)", path);
	if (check_labels(l, doc, path))
		return -1;
	ds->labels_json = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(doc, "labels"));
	if (!ds->labels_json)
		die("out of memory printing JSON");
	return 0;
}

int ld_nnunet_dataset_json(struct ld *l, const char *missing, cJSON **doc)
{
	struct dataset *ds = l->ds;

	ds->dataset_json = cb_path_join(ds->root, "dataset.json");
	if (ld_read_json(l, ds->dataset_json, missing, doc))
		return -1;
	return check_dataset_json(l, *doc, ds->dataset_json);
}

void ld_check_num_training(struct ld *l, const cJSON *doc, const char *path)
{
	long v;

	if (json_int(cJSON_GetObjectItemCaseSensitive(doc, "numTraining"), &v) &&
	    (size_t)v != l->ds->ncases)
		ld_warn(l, "%s: \"numTraining\" is %ld but %zu cases were found (nnU-Net's "
			"--verify_dataset_integrity would stop here; set it to %zu)", path, v,
			l->ds->ncases, l->ds->ncases);
}

/* ---- detection, digest, the whole load ---- */

/* The first format, in enum order, that claims the dataset (list claims
 * anything, so NULL only for a table without it). */
static const struct ds_format_ops *detect(const struct ld *l, const struct stat *st,
					  const struct ld_names *top)
{
	const struct ds_format_ops *ops;
	int f;

	for (f = DS_AUTO + 1; (ops = ds_format_ops((enum ds_format)f)); f++)
		if (ops->detect(l->ds->root, S_ISDIR(st->st_mode), top))
			return ops;
	return NULL;
}

/* Finds duplicate IDs and hashes the sorted IDs with their files' hashes. */
static int digest(struct ld *l)
{
	struct dataset *ds = l->ds;
	struct id_at *v = xmalloc(ds->ncases * sizeof(*v));
	uint64_t h = FNV_OFFSET;
	size_t i;
	int ret = -1;

	for (i = 0; i < ds->ncases; i++) {
		v[i].id = ds->cases[i].id;
		v[i].i = i;
	}
	qsort(v, ds->ncases, sizeof(*v), cmp_id_at);
	for (i = 0; i < ds->ncases; i++) {
		size_t a, b;

		if (i && strcmp(v[i].id, v[i - 1].id) == 0) {
			a = l->where[v[i - 1].i];
			b = l->where[v[i].i];
			switch (l->src) {
			case SRC_LIST_FILE:
				ld_fail(l, "%s: lines %zu and %zu both hold case \"%s\" (list each case "
					"once)", l->src_name, a, b, v[i].id);
				break;
			case SRC_MSD:
				ld_fail(l, "%s: training[%zu] and training[%zu] are both case \"%s\" (the "
					"case ID is the label's file name without its extension; give each "
					"label its own name)", l->src_name, a, b, v[i].id);
				break;
			case SRC_LIST_DIR:
				ld_fail(l, "%s: %s and %s are both case \"%s\" (the case ID is the file "
					"name without its extension; rename one)", l->src_name,
					ld_shown(ds, ds->cases[v[i - 1].i].files[0]),
					ld_shown(ds, ds->cases[v[i].i].files[0]), v[i].id);
				break;
			case SRC_DATASET_KEY:
				ld_fail(l, "%s: \"dataset\" lists case \"%s\" twice (JSON keeps only one "
					"of them; remove one)", l->src_name, v[i].id);
				break;
			case SRC_FOLDER:
				ld_fail(l, "%s: case \"%s\" appears twice", l->src_name, v[i].id);
				break;
			}
			goto out;
		}
		h = fnv(h, v[i].id, strlen(v[i].id) + 1);
		h = fnv_u64(h, l->fh[v[i].i]);
	}
	for (i = 0; i < ds->ncontents; i++) {
		h = fnv(h, ds->contents[i].name, strlen(ds->contents[i].name) + 1);
		h = fnv(h, ds->contents[i].digest, strlen(ds->contents[i].digest));
	}
	snprintf(ds->digest, sizeof(ds->digest), "%016llx", (unsigned long long)h);
	ret = 0;
out:
	free(v);
	return ret;
}

/* Why a path that is not UTF-8 is refused, after the name shown with \xNN. */
static const char not_utf8[] =
	"not valid UTF-8 (the bytes shown as \\xNN); rename the file or folder that holds "
	"them: the work directory's journal and reports are UTF-8 JSON, and a run would "
	"stop midway";

/* Every case file's path is UTF-8 (IDs are checked by ld_id_problem()), so
 * that cases, audit and run refuse the same datasets before anything is
 * made. */
static int check_utf8_paths(struct ld *l)
{
	struct dataset *ds = l->ds;
	size_t i, j;

	for (i = 0; i < ds->ncases; i++)
		for (j = 0; j < ds->cases[i].nfiles; j++)
			if (!cb_utf8_valid(ds->cases[i].files[j]))
				return ld_fail(l, "%s: %s", ld_shown(ds, ds->cases[i].files[j]), not_utf8);
	return 0;
}

int ds_load(struct dataset *ds, const char *path, const struct ds_options *o, char *err,
	    size_t errlen)
{
	static const struct ds_options defaults = { 0 };
	struct ld l = { 0 };
	struct ld_names top = { .fd = -1 };
	const struct ds_format_ops *ops;
	enum ds_format f;
	struct stat st;
	char *real;
	int ret = -1;

	memset(ds, 0, sizeof(*ds));
	if (errlen)
		err[0] = '\0';
	l.ds = ds;
	l.o = o ? o : &defaults;
	l.err = err;
	l.errlen = errlen;
	f = l.o->format;

	if (!path || !*path)
		return ld_fail(&l, "no dataset given (a folder, a datalist JSON or a case list)");
	real = realpath(path, NULL);
	if (!real) {
		int e = errno;

		if (e == ENOENT)
			return ld_fail(&l, "%s: not found (a dataset folder, a datalist JSON or a case "
				       "list)", path);
		if (e == ELOOP)
			return ld_fail(&l, "%s: symlink loop (too many levels of symbolic links); fix the "
				       "link", path);
		if (e == EACCES)
			return ld_fail(&l, "%s: permission denied (a folder on its path cannot be "
				       "searched; check its permissions)", path);
		return ld_fail(&l, "%s: %s", path, strerror(e));
	}
	ds->root = xstrdup(real);
	free(real);
	l.src_name = ds->root;
	if (!cb_utf8_valid(ds->root)) {
		ld_fail(&l, "%s: %s", ds->root, not_utf8);
		goto out;
	}
	if (stat(ds->root, &st) != 0) {
		ld_fail(&l, "%s: %s", path, strerror(errno));
		goto out;
	}
	/* An MSD Task folder: its dataset.json is the datalist. */
	if (S_ISDIR(st.st_mode) && (f == DS_AUTO || f == DS_MSD) &&
	    fmt_msd_task_folder(ds->root)) {
		char *json = cb_path_join(ds->root, "dataset.json");

		free(ds->root);
		ds->root = json;
		l.src_name = ds->root;
		if (stat(ds->root, &st) != 0) {
			ld_fail(&l, "%s: %s", ds->root, strerror(errno));
			goto out;
		}
	}
	if (S_ISDIR(st.st_mode)) {
		int r = ld_names_read(&l, ds->root, ds->root, &top);

		if (r == 1)
			ld_fail(&l, "%s: ld_vanished while casebisect read it", ds->root);
		if (r)
			goto out;
	}
	ops = f == DS_AUTO ? detect(&l, &st, &top) : ds_format_ops(f);
	if (!ops) {
		ld_fail(&l, "%s: unknown dataset format", ds->root);
		goto out;
	}
	f = ops->format;
	ds->format = f;
	if ((ops->flags & FMT_NEEDS_FOLDER) && !S_ISDIR(st.st_mode)) {
		ld_fail(&l, "%s: not a folder; --format %s needs the dataset folder", ds->root,
			ops->name);
		goto out;
	}
	if ((ops->flags & FMT_NEEDS_FILE) && S_ISDIR(st.st_mode)) {
		ld_fail(&l, "%s: a folder; --format %s needs the datalist JSON file", ds->root,
			ops->name);
		goto out;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		ld_fail(&l, "%s: not a regular file or a folder", ds->root);
		goto out;
	}
	if (!(ops->flags & FMT_READS_PLANS) && (l.o->configuration || l.o->plans))
		ld_warn(&l, "%s%s%s apply to nnU-Net preprocessed datasets only; ignored for this %s "
			"dataset", l.o->configuration ? "--configuration" : "",
			l.o->configuration && l.o->plans ? " and " : "", l.o->plans ? "--plans" : "",
			ops->name);
	ret = ops->load(&l, S_ISDIR(st.st_mode), &top);
	if (ret)
		goto out;
	ret = check_utf8_paths(&l);
	if (ret)
		goto out;
	ret = digest(&l);
	if (ret)
		goto out;
	if (l.nwarn_lost) {
		ds->warnings = xrealloc(ds->warnings, (ds->nwarnings + 1) * sizeof(*ds->warnings));
		ds->warnings[ds->nwarnings++] = cb_fmt("... and %zu more warnings", l.nwarn_lost);
	}
out:
	ld_names_release(&top);
	free(l.fh);
	free(l.where);
	if (ret) {
		ds_release(ds);
		ret = -1;
	}
	return ret;
}

void ds_release(struct dataset *ds)
{
	size_t i, j;

	if (!ds)
		return;
	for (i = 0; i < ds->ncases; i++) {
		for (j = 0; j < ds->cases[i].nfiles; j++)
			free(ds->cases[i].files[j]);
		free(ds->cases[i].files);
		free(ds->cases[i].id);
	}
	free(ds->cases);
	for (i = 0; i < ds->ncontents; i++)
		free(ds->contents[i].name);
	free(ds->contents);
	for (i = 0; i < ds->nwarnings; i++)
		free(ds->warnings[i]);
	free(ds->warnings);
	free(ds->root);
	free(ds->dataset_json);
	free(ds->labels_json);
	free(ds->dataset_name);
	free(ds->plans_file);
	free(ds->fingerprint_file);
	free(ds->data_dir);
	free(ds->configuration);
	free(ds->file_ending);
	memset(ds, 0, sizeof(*ds));
}
