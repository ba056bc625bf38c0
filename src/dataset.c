/* dataset: finds the cases of a training dataset (nnU-Net raw or
 * preprocessed, an MSD/MONAI datalist, a case list), checks them all, and
 * gives the dataset a digest. Reads only: nothing here creates or writes a
 * file. See include/casebisect/dataset.h. */
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

/* A case ID becomes file names in a view ("<id>_0000.nii.gz",
 * "<id>_seg.b2nd"); this leaves room for the longest suffix in NAME_MAX. */
#define DS_ID_MAX 200
/* More warnings than this say "... and N more" instead. */
#define DS_MAX_WARNINGS 50
/* How many example names a warning about many files shows. */
#define DS_EXAMPLES 3

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* Where the cases came from, for the message about a duplicate ID. */
enum ld_source { SRC_FOLDER, SRC_LIST_FILE, SRC_LIST_DIR, SRC_MSD, SRC_DATASET_KEY };

/* A load in progress. The arrays beside ds->cases hold, per case, what the
 * checks after discovery need and ds does not keep. */
struct ld {
	struct dataset *ds;
	const struct ds_options *o;
	char *err;
	size_t errlen;
	size_t cap;        /* of ds->cases, fh and where */
	uint64_t *fh;      /* per case: hash of its files' sizes and mtimes */
	size_t *where;     /* per case: line number, list index, ... (messages) */
	size_t nwarn_lost; /* warnings past DS_MAX_WARNINGS */
	char prob[PATH_MAX + 128]; /* why add_file() failed */
	bool prob_missing;         /* ... because the file is not there */
	enum ld_source src;
	const char *src_name; /* the file the cases came from, for messages */
};

/* A folder's entries (hidden ones left out), sorted by strcmp. */
struct names {
	char **v;
	size_t n;
	bool *used;
	DIR *d;    /* kept open: its fd anchors fstatat() */
	int fd;
};

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
static int fail(struct ld *l, const char *f, ...) CB_PRINTF(2, 3);
static int fail(struct ld *l, const char *f, ...)
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

static void warn(struct ld *l, const char *f, ...) CB_PRINTF(2, 3);
static void warn(struct ld *l, const char *f, ...)
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

static bool ends_with(const char *s, const char *suffix)
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
static char *path_resolve(const char *base, const char *p)
{
	char *r = p[0] == '/' ? xstrdup(p) : cb_path_join(base, p);

	path_clean(r);
	return r;
}

/* p shown relative to root when it lies under it. */
static const char *shown(const struct dataset *ds, const char *p)
{
	size_t n = strlen(ds->root);

	if (strncmp(p, ds->root, n) == 0 && p[n] == '/')
		return p + n + 1;
	return p;
}

/* The file name of a path, without its extension (".nii.gz" counts as one):
 * a case ID. The caller frees it. */
static char *strip_ext(const char *path)
{
	const char *base = strrchr(path, '/'), *dot;
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 7 && ends_with(base, ".nii.gz")) {
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
static const char *id_problem(const char *id)
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
	return id && !id_problem(id);
}

static const char *const format_names[] = {
	[DS_AUTO] = "auto",
	[DS_NNUNET_PRE] = "nnunet-pre",
	[DS_NNUNET_RAW] = "nnunet-raw",
	[DS_MSD] = "msd",
	[DS_LIST] = "list",
};

const char *ds_format_name(enum ds_format f)
{
	if ((size_t)f >= CB_ARRAY_SIZE(format_names))
		return "unknown";
	return format_names[f];
}

int ds_format_parse(const char *name, enum ds_format *out)
{
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(format_names); i++) {
		if (strcmp(name, format_names[i]) == 0) {
			*out = (enum ds_format)i;
			return 0;
		}
	}
	return -1;
}

/* ---- cases ---- */

/* Appends a case that takes id (owned) and room for nfiles files. The
 * pointer is valid until the next call. */
static struct ds_case *add_case(struct ld *l, char *id, size_t nfiles, size_t where)
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
	const char *name = shown(ds, path), *slash;
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
 * l->prob for file_failed(): messages are built only when a file fails,
 * since a dataset can have 100,000 of them.
 */
static int add_file(struct ld *l, int dirfd, const char *name, char *path)
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

/* The message of a failed add_file(): what names the file; missing says
 * why it should be there, when it is not. Returns -1. */
static int file_failed(struct ld *l, const char *what, const char *missing)
{
	if (l->prob_missing)
		return fail(l, "%s: not found (%s)", what, missing);
	return fail(l, "%s: %s", what, l->prob);
}

/* Why a file that readdir() listed can be missing a moment later. */
static const char vanished[] =
	"it vanished while casebisect read the folder; is something writing to the dataset?";

/* ---- folders ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_release(struct names *nm)
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
static int names_read(struct ld *l, const char *path, const char *what, struct names *nm)
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
			return fail(l, "%s: cannot read folder: permission denied (make it readable, "
				    "e.g. chmod u+rx)", what);
		if (en == ELOOP)
			return fail(l, "%s: symlink loop (too many levels of symbolic links); fix the link",
				    what);
		if (en == ENOTDIR)
			return fail(l, "%s: not a folder", what);
		return fail(l, "%s: cannot read folder: %s", what, strerror(en));
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

		names_release(nm);
		return fail(l, "%s: cannot read folder: %s", what, strerror(en));
	}
	if (nm->n)
		qsort(nm->v, nm->n, sizeof(*nm->v), cmp_str);
	nm->used = xcalloc(nm->n ? nm->n : 1, sizeof(*nm->used));
	return 0;
}

/* Index of name in nm, or -1. */
static long names_find(const struct names *nm, const char *name)
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
static int read_json(struct ld *l, const char *path, const char *missing, cJSON **out)
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
			return fail(l, "%s: not found; %s", path, missing);
		if (e == ELOOP)
			return fail(l, "%s: symlink loop (too many levels of symbolic links); fix the link",
				    path);
		if (e == EACCES)
			return fail(l, "%s: cannot read: permission denied (make it readable, e.g. "
				    "chmod a+r)", path);
		return fail(l, "%s: cannot read: %s", path, strerror(e));
	}
	if (strlen(text) != len) {
		line_col(text, strlen(text), &line, &col);
		free(text);
		return fail(l, "%s:%zu:%zu: not valid JSON (a NUL byte; is this a text file?)", path,
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
			return fail(l, "%s:%zu:%zu: not valid JSON (unexpected end of the file); fix the "
				    "syntax there", path, line, col);
		return fail(l, "%s:%zu:%zu: not valid JSON (near '%s'); fix the syntax there", path,
			    line, col, near);
	}
	nul = find_nul_escape(text);
	if (nul >= 0) {
		line_col(text, (size_t)nul, &line, &col);
		free(text);
		cJSON_Delete(j);
		return fail(l, "%s:%zu:%zu: a string holds \\u0000 (a NUL character), which no case "
			    "ID or file name can hold; remove it", path, line, col);
	}
	if (!cJSON_IsObject(j)) {
		free(text);
		cJSON_Delete(j);
		return fail(l, "%s: the top level is not a JSON object ({...})", path);
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
		ret = fail(l, "%s: \"labels\" is not an object (write it as {\"background\": 0, "
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
			ret = fail(l, "%s: \"labels\": \"%s\" appears twice (JSON keeps only the "
				   "last one; remove one)", path, it->string);
			goto out;
		}
		if (strcmp(it->string, "background") == 0)
			bg = it;
		else if (strcmp(it->string, "ignore") == 0)
			ign = it;
		if (cJSON_IsArray(it)) {
			if (it == bg || it == ign) {
				ret = fail(l, "%s: \"labels\": \"%s\" must be a single integer, not a list",
					   path, it->string);
				goto out;
			}
			regions = true;
			if (!it->child) {
				ret = fail(l, "%s: \"labels\": region \"%s\" is an empty list (list its "
					   "label values, e.g. [1, 2])", path, it->string);
				goto out;
			}
			for (m = it->child; m; m = m->next) {
				if (!json_int(m, &v)) {
					char *t = json_text(m);

					fail(l, "%s: \"labels\": region \"%s\" holds %s, not an integer "
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

			fail(l, "%s: \"labels\": \"%s\" is %s; a label value must be an integer "
			     "(e.g. \"%s\": 1)", path, it->string, t, it->string);
			free(t);
			goto out;
		}
		if (it == ign)
			continue;
		if (first_value[at] < n) {
			ret = fail(l, "%s: \"labels\": value %ld of \"%s\" repeats label \"%s\" "
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
		ret = fail(l, "%s: \"labels\" has no background (add \"background\": 0)", path);
		goto out;
	}
	if (json_int(bg, &v) && v != 0) {
		ret = fail(l, "%s: \"labels\": \"background\" is %ld, but nnU-Net's background must be "
			   "0 (set \"background\": 0 and relabel the masks)", path, v);
		goto out;
	}
	for (i = 0; i < nvals; i++)
		if (vals[i] > max)
			max = vals[i];
	if (ign && json_int(ign, &v) && v <= max) {
		ret = fail(l, "%s: \"labels\": the ignore label %ld is not the highest (labels go up "
			   "to %ld; nnU-Net needs \"ignore\": %ld)", path, v, max, max + 1);
		goto out;
	}
	if (regions && !cJSON_GetObjectItemCaseSensitive(doc, "regions_class_order")) {
		ret = fail(l, "%s: \"labels\" has regions (lists of values) but no "
			   "\"regions_class_order\" (add it: one label value per region, in order)",
			   path);
		goto out;
	}
	qsort(vals, nvals, sizeof(*vals), cmp_long);
	for (i = 0, v = 0; i < nvals; i++) {
		if (i && vals[i] == vals[i - 1])
			continue;
		if (vals[i] != v) {
			warn(l, "%s: \"labels\" are not consecutive (%ld is missing, up to %ld); "
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
	if (nmissing)
		return fail(l, "%s: missing required key%s %s (nnU-Net needs \"channel_names\", "
			    "\"labels\", \"numTraining\" and \"file_ending\")", path,
			    nmissing > 1 ? "s" : "", missing);
	ch = cJSON_GetObjectItemCaseSensitive(doc, "channel_names");
	if (!ch)
		ch = cJSON_GetObjectItemCaseSensitive(doc, "modality");
	if (!cJSON_IsObject(ch) || !ch->child)
		return fail(l, "%s: \"%s\" must be an object with one entry per channel (e.g. "
			    "{\"0\": \"CT\"})", path, ch->string);
	ds->nchannels = (size_t)cJSON_GetArraySize(ch);
	fe = cJSON_GetObjectItemCaseSensitive(doc, "file_ending");
	if (!cJSON_IsString(fe) || fe->valuestring[0] != '.' || strchr(fe->valuestring, '/'))
		return fail(l, "%s: \"file_ending\" must be a string such as \".nii.gz\"", path);
	ds->file_ending = xstrdup(fe->valuestring);
	nt = cJSON_GetObjectItemCaseSensitive(doc, "numTraining");
	if (!json_int(nt, &v) || v < 0)
		return fail(l, "%s: \"numTraining\" must be a whole number (the number of training "
			    "cases)", path);
	if (check_labels(l, doc, path))
		return -1;
	ds->labels_json = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(doc, "labels"));
	if (!ds->labels_json)
		die("out of memory printing JSON");
	return 0;
}

static void check_num_training(struct ld *l, const cJSON *doc, const char *path)
{
	long v;

	if (json_int(cJSON_GetObjectItemCaseSensitive(doc, "numTraining"), &v) &&
	    (size_t)v != l->ds->ncases)
		warn(l, "%s: \"numTraining\" is %ld but %zu cases were found (nnU-Net's "
		     "--verify_dataset_integrity would stop here; set it to %zu)", path, v,
		     l->ds->ncases, l->ds->ncases);
}

/* ---- nnunet-raw ---- */

/* Python's os.path.expandvars, as nnU-Net applies it to the "dataset"
 * key: $NAME and ${NAME} become the variable's value; unset ones stay. */
static char *expand_vars(const char *s)
{
	size_t cap = strlen(s) + 1, n = 0;
	char *out = xmalloc(cap);

	while (*s) {
		const char *name = NULL, *val;
		size_t len = 0, skip = 0;

		if (s[0] == '$' && s[1] == '{') {
			const char *close = strchr(s + 2, '}');

			if (close) {
				name = s + 2;
				len = (size_t)(close - name);
				skip = len + 3;
			}
		} else if (s[0] == '$' && (s[1] == '_' || (s[1] >= 'A' && s[1] <= 'Z') ||
					   (s[1] >= 'a' && s[1] <= 'z'))) {
			name = s + 1;
			while (name[len] == '_' || (name[len] >= 'A' && name[len] <= 'Z') ||
			       (name[len] >= 'a' && name[len] <= 'z') ||
			       (name[len] >= '0' && name[len] <= '9'))
				len++;
			skip = len + 1;
		}
		val = NULL;
		if (name && len) {
			char *key = xmalloc(len + 1);

			memcpy(key, name, len);
			key[len] = '\0';
			val = getenv(key);
			free(key);
		}
		if (!val) {
			val = s;
			skip = 1;
			len = 1;
		} else {
			len = strlen(val);
		}
		if (n + len + 1 > cap) {
			cap = (n + len + 1) * 2;
			out = xrealloc(out, cap);
		}
		memcpy(out + n, val, len);
		n += len;
		s += skip;
	}
	out[n] = '\0';
	return out;
}

/* dataset.json's "dataset" key: {case: {"images": [...], "label": ...}}. */
static int load_raw_dataset_key(struct ld *l, const cJSON *dkey, const char *path)
{
	struct dataset *ds = l->ds;
	const cJSON *c;
	size_t k = 0;

	l->src = SRC_DATASET_KEY;
	if (!cJSON_IsObject(dkey))
		return fail(l, "%s: \"dataset\" must be an object {case: {\"images\": [...], "
			    "\"label\": ...}}", path);
	for (c = dkey->child; c; c = c->next, k++) {
		const cJSON *images = cJSON_GetObjectItemCaseSensitive(c, "images");
		const cJSON *label = cJSON_GetObjectItemCaseSensitive(c, "label");
		const char *why = id_problem(c->string);
		const cJSON *im;
		size_t nimg, j;

		if (why)
			return fail(l, "%s: \"dataset\": case ID \"%s\" %s; rename the case", path,
				    c->string, why);
		if (!cJSON_IsObject(c))
			return fail(l, "%s: \"dataset\": case \"%s\" must be {\"images\": [...], "
				    "\"label\": ...}", path, c->string);
		if (!cJSON_IsArray(images) || !images->child)
			return fail(l, "%s: \"dataset\": case \"%s\" has no \"images\" list (one file "
				    "per channel)", path, c->string);
		if (!cJSON_IsString(label))
			return fail(l, "%s: \"dataset\": case \"%s\" has no \"label\" file (every "
				    "training case needs one)", path, c->string);
		nimg = (size_t)cJSON_GetArraySize(images);
		if (nimg != ds->nchannels)
			return fail(l, "%s: \"dataset\": case \"%s\" lists %zu image%s but "
				    "\"channel_names\" declares %zu channel%s", path, c->string, nimg,
				    nimg == 1 ? "" : "s", ds->nchannels, ds->nchannels == 1 ? "" : "s");
		add_case(l, xstrdup(c->string), nimg + 1, k);
		for (im = images->child, j = 0; ; im = im->next, j++) {
			const cJSON *f = im ? im : label;
			char *exp, *abs;

			if (!cJSON_IsString(f) || !f->valuestring[0])
				return fail(l, "%s: \"dataset\": case \"%s\": %s must be a file path",
					    path, c->string, im ? "each image" : "\"label\"");
			exp = expand_vars(f->valuestring);
			abs = path_resolve(ds->root, exp);
			free(exp);
			if (add_file(l, AT_FDCWD, abs, abs)) {
				char *missing = cb_fmt("listed for case \"%s\" in %s's \"dataset\" key; "
						    "fix the path", c->string, path);

				file_failed(l, shown(ds, abs), missing);
				free(missing);
				return -1;
			}
			if (!im)
				break;
		}
		ds->cases[ds->ncases - 1].label = (int)nimg;
	}
	if (!ds->ncases)
		return fail(l, "%s: \"dataset\" lists no cases; nothing to train on", path);
	return 0;
}

/* One channel file of imagesTr: its name, the case ID's length, the channel. */
struct raw_img {
	const char *name;
	size_t idlen;
	size_t ch;
};

static int cmp_raw_img(const void *a, const void *b)
{
	const struct raw_img *x = a, *y = b;
	size_t n = x->idlen < y->idlen ? x->idlen : y->idlen;
	int c = memcmp(x->name, y->name, n);

	if (c)
		return c;
	if (x->idlen != y->idlen)
		return x->idlen < y->idlen ? -1 : 1;
	return (x->ch > y->ch) - (x->ch < y->ch);
}

/* imagesTr/{case}_{XXXX}{ending} and labelsTr/{case}{ending}. */
static int load_raw_folders(struct ld *l)
{
	struct dataset *ds = l->ds;
	const char *ending = ds->file_ending;
	size_t elen = strlen(ending), nimg = 0, i, j, nother = 0, norphan = 0;
	struct names im, lb;
	struct raw_img *img = NULL;
	char *imdir = cb_path_join(ds->root, "imagesTr"), *lbdir = cb_path_join(ds->root, "labelsTr");
	const char *other = NULL;
	int r, ret = -1;

	memset(&lb, 0, sizeof(lb));
	r = names_read(l, imdir, "imagesTr/", &im);
	if (r == 1) {
		fail(l, "%s: not found; a nnU-Net raw dataset keeps its images in "
		     "imagesTr/{case}_{XXXX}%s (or lists its files under dataset.json's "
		     "\"dataset\" key)", imdir, ending);
		goto out_nolb;
	}
	if (r)
		goto out_nolb;
	r = names_read(l, lbdir, "labelsTr/", &lb);
	if (r == 1) {
		fail(l, "%s: not found; a nnU-Net raw dataset keeps its labels in "
		     "labelsTr/{case}%s", lbdir, ending);
		goto out;
	}
	if (r)
		goto out;

	img = xmalloc((im.n ? im.n : 1) * sizeof(*img));
	for (i = 0; i < im.n; i++) {
		const char *name = im.v[i];
		size_t n = strlen(name), base;
		const char *d;

		if (!ends_with(name, ending) || n == elen) {
			if (!nother++)
				other = name;
			continue;
		}
		base = n - elen;
		d = name + base - 4;
		if (base < 6 || d[-1] != '_' || d[0] < '0' || d[0] > '9' || d[1] < '0' ||
		    d[1] > '9' || d[2] < '0' || d[2] > '9' || d[3] < '0' || d[3] > '9') {
			fail(l, "imagesTr/%s: not named {case}_{XXXX}%s (nnU-Net reads the channel "
			     "from the 4 digits before the ending; rename it, e.g. to %.*s_0000%s)",
			     name, ending, (int)base, name, ending);
			goto out;
		}
		img[nimg].name = name;
		img[nimg].idlen = base - 5;
		img[nimg].ch = (size_t)((d[0] - '0') * 1000 + (d[1] - '0') * 100 +
					(d[2] - '0') * 10 + (d[3] - '0'));
		nimg++;
	}
	if (nother)
		warn(l, "imagesTr/: %zu file%s not ending in %s ignored (e.g. %s)", nother,
		     nother == 1 ? "" : "s", ending, other);
	if (!nimg) {
		fail(l, "%s: no images named {case}_{XXXX}%s; nothing to train on", imdir, ending);
		goto out;
	}
	qsort(img, nimg, sizeof(*img), cmp_raw_img);

	for (i = 0; i < nimg; i = j) {
		size_t idlen = img[i].idlen, nch, k;
		char *id, *lname;
		const char *why;
		long at;

		for (j = i; j < nimg && img[j].idlen == idlen &&
			    memcmp(img[j].name, img[i].name, idlen) == 0; j++)
			;
		nch = j - i;
		id = xmalloc(idlen + 1);
		memcpy(id, img[i].name, idlen);
		id[idlen] = '\0';
		why = id_problem(id);
		if (why) {
			fail(l, "imagesTr/%s: case ID \"%s\" %s; rename the case's files", img[i].name,
			     id, why);
			free(id);
			goto out;
		}
		/* The first channel number that is not where it should be: a gap
		 * below nchannels is a missing file, anything else is one too many. */
		for (k = 0; k < nch && img[i + k].ch == k; k++)
			;
		if (k < ds->nchannels && (k < nch || nch < ds->nchannels)) {
			fail(l, "imagesTr/%s_%04zu%s: missing (channel %zu of case \"%s\"; "
			     "\"channel_names\" declares %zu channel%s, so each case needs %s_0000%s "
			     "to %s_%04zu%s)", id, k, ending, k, id, ds->nchannels,
			     ds->nchannels == 1 ? "" : "s", id, ending, id, ds->nchannels - 1, ending);
			free(id);
			goto out;
		}
		if (nch > ds->nchannels) {
			fail(l, "imagesTr/%s: channel %zu, but \"channel_names\" declares %zu channel%s "
			     "(remove the file, or declare the channel in dataset.json)",
			     img[i + ds->nchannels].name, img[i + ds->nchannels].ch, ds->nchannels,
			     ds->nchannels == 1 ? "" : "s");
			free(id);
			goto out;
		}
		lname = cb_fmt("%s%s", id, ending);
		at = names_find(&lb, lname);
		if (at < 0) {
			fail(l, "labelsTr/%s: missing; case \"%s\" has images (imagesTr/%s) but no "
			     "label (add the label, or move the case's images out of imagesTr/)", lname,
			     id, img[i].name);
			free(lname);
			free(id);
			goto out;
		}
		lb.used[at] = true;
		free(lname);
		add_case(l, id, nch + 1, 0);
		for (k = 0; k <= nch; k++) {
			bool is_label = k == nch;
			const char *name = is_label ? lb.v[at] : img[i + k].name;

			if (add_file(l, is_label ? lb.fd : im.fd, name,
				     cb_path_join(is_label ? lbdir : imdir, name))) {
				char *what = cb_fmt("%s/%s", is_label ? "labelsTr" : "imagesTr", name);

				file_failed(l, what, vanished);
				free(what);
				goto out;
			}
		}
		ds->cases[ds->ncases - 1].label = (int)nch;
	}
	for (i = 0; i < lb.n; i++) {
		char *id;

		if (lb.used[i] || !ends_with(lb.v[i], ending))
			continue;
		if (norphan++ >= DS_EXAMPLES)
			continue;
		id = xstrdup(lb.v[i]);
		id[strlen(id) - elen] = '\0';
		warn(l, "labelsTr/%s: no image for this label (expected imagesTr/%s_0000%s); ignored",
		     lb.v[i], id, ending);
		free(id);
	}
	if (norphan > DS_EXAMPLES)
		warn(l, "labelsTr/: %zu more labels without images; ignored", norphan - DS_EXAMPLES);
	ret = 0;
out:
	names_release(&lb);
out_nolb:
	names_release(&im);
	free(img);
	free(imdir);
	free(lbdir);
	return ret;
}

static int load_raw(struct ld *l)
{
	struct dataset *ds = l->ds;
	cJSON *doc = NULL;
	const cJSON *dkey;
	int ret = -1;

	ds->dataset_json = cb_path_join(ds->root, "dataset.json");
	l->src_name = ds->dataset_json;
	if (read_json(l, ds->dataset_json,
		      "a nnU-Net raw dataset needs one (nnunetv2's generate_dataset_json writes "
		      "it), or pass --format list", &doc))
		goto out;
	if (check_dataset_json(l, doc, ds->dataset_json))
		goto out;
	dkey = cJSON_GetObjectItemCaseSensitive(doc, "dataset");
	if (dkey ? load_raw_dataset_key(l, dkey, ds->dataset_json) : load_raw_folders(l))
		goto out;
	check_num_training(l, doc, ds->dataset_json);
	ret = 0;
out:
	cJSON_Delete(doc);
	return ret;
}

/* ---- nnunet-pre ---- */

static bool is_plans_name(const char *name)
{
	return ends_with(name, ".json") && strstr(name, "Plans");
}

/* Picks the plans file: --plans, else nnUNetPlans.json, else the only one. */
static int pick_plans(struct ld *l, const struct names *top, char **out)
{
	struct dataset *ds = l->ds;
	char list[512] = "";
	size_t n = 0, i;
	const char *only = NULL;

	for (i = 0; i < top->n; i++) {
		if (!is_plans_name(top->v[i]))
			continue;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%.*s", n ? ", " : "",
			 (int)(strlen(top->v[i]) - 5), top->v[i]);
		only = top->v[i];
		n++;
	}
	if (l->o->plans) {
		const char *p = l->o->plans;
		char *name = ends_with(p, ".json") ? xstrdup(p) : cb_fmt("%s.json", p);

		if (!*p || strchr(p, '/') || names_find(top, name) < 0) {
			fail(l, "%s: no plans \"%s\" (%s.json not found; available: %s); pick one "
			     "with --plans", ds->root, p, p, n ? list : "none");
			free(name);
			return -1;
		}
		*out = cb_path_join(ds->root, name);
		free(name);
		return 0;
	}
	if (names_find(top, "nnUNetPlans.json") >= 0) {
		if (n > 1)
			warn(l, "%s: using nnUNetPlans (the default) of several plans files (%s); "
			     "pick another with --plans", ds->root, list);
		*out = cb_path_join(ds->root, "nnUNetPlans.json");
		return 0;
	}
	if (n == 1) {
		*out = cb_path_join(ds->root, only);
		return 0;
	}
	if (!n)
		return fail(l, "%s: no plans file (nnUNetPlans.json); run nnUNetv2_plan_and_preprocess "
			    "for this dataset, or pass the right folder", ds->root);
	return fail(l, "%s: several plans files and no nnUNetPlans.json: %s; pick one with "
		    "--plans", ds->root, list);
}

/* configurations.<cfg>.data_identifier, following "inherits_from". */
static int data_identifier(struct ld *l, const cJSON *plans, const char *cfg, const char **out)
{
	const char *path = l->ds->plans_file;
	const cJSON *cfgs = cJSON_GetObjectItemCaseSensitive(plans, "configurations");
	const cJSON *c, *di, *inh, *it;
	const char *name = cfg;
	char list[512] = "";
	int hops, max;

	if (!cJSON_IsObject(cfgs) || !cfgs->child)
		return fail(l, "%s: no \"configurations\"; is this an nnU-Net v2 plans file?", path);
	for (it = cfgs->child; it; it = it->next)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 it == cfgs->child ? "" : ", ", it->string);
	c = cJSON_GetObjectItemCaseSensitive(cfgs, cfg);
	if (!c)
		return fail(l, "%s: no configuration \"%s\" (available: %s); pick one of "
			    "those", path, cfg, list);
	max = cJSON_GetArraySize(cfgs);
	for (hops = 0; ; hops++) {
		if (!cJSON_IsObject(c))
			return fail(l, "%s: configurations.%s is not an object", path, name);
		di = cJSON_GetObjectItemCaseSensitive(c, "data_identifier");
		if (di) {
			if (!cJSON_IsString(di) || id_problem(di->valuestring))
				return fail(l, "%s: configurations.%s.data_identifier must be a folder "
					    "name such as \"nnUNetPlans_3d_fullres\"", path, name);
			*out = di->valuestring;
			return 0;
		}
		inh = cJSON_GetObjectItemCaseSensitive(c, "inherits_from");
		if (!inh)
			return fail(l, "%s: configuration \"%s\" has no \"data_identifier\" (nor "
				    "\"inherits_from\" a configuration that has one)", path, cfg);
		if (!cJSON_IsString(inh))
			return fail(l, "%s: configurations.%s.inherits_from must be a configuration "
				    "name", path, name);
		if (hops >= max)
			return fail(l, "%s: configuration \"%s\": \"inherits_from\" goes round in a "
				    "loop; end it at a configuration with a \"data_identifier\"", path,
				    cfg);
		c = cJSON_GetObjectItemCaseSensitive(cfgs, inh->valuestring);
		if (!c)
			return fail(l, "%s: configurations.%s.inherits_from: \"%s\" is not a "
				    "configuration (available: %s)", path, name, inh->valuestring, list);
		name = inh->valuestring;
	}
}

/* The data folder's cases: <id>.b2nd + <id>_seg.b2nd + <id>.pkl, or <id>.npz
 * (+ <id>.npy, <id>_seg.npy) + <id>.pkl. */
static int load_pre_data(struct ld *l)
{
	struct dataset *ds = l->ds;
	const char *dd = shown(ds, ds->data_dir);
	size_t nb2nd = 0, nnpz = 0, nstray = 0, norphan = 0, i;
	const char *stray = NULL, *orphan = NULL;
	struct names nm;
	bool b2nd;
	int r, ret = -1;

	{
		char *what = cb_fmt("%s/", dd);

		r = names_read(l, ds->data_dir, what, &nm);
		free(what);
	}
	if (r == 1)
		return fail(l, "%s: not found; configuration \"%s\" of %s keeps its data there "
			    "(run nnUNetv2_preprocess with -c %s, or pick another configuration)",
			    ds->data_dir, ds->configuration, shown(ds, ds->plans_file),
			    ds->configuration);
	if (r)
		return -1;
	for (i = 0; i < nm.n; i++) {
		const char *n = nm.v[i];

		if (ends_with(n, "_seg.b2nd") || ends_with(n, ".npy") || ends_with(n, ".pkl"))
			continue;
		if (ends_with(n, ".b2nd"))
			nb2nd++;
		else if (ends_with(n, ".npz"))
			nnpz++;
		else if (!nstray++)
			stray = n;
	}
	if (nstray)
		warn(l, "%s/: %zu file%s that nnU-Net does not expect (e.g. %s); the views leave "
		     "them out, but nnU-Net training in this folder would stop on them", dd, nstray,
		     nstray == 1 ? "" : "s", stray);
	if (!nb2nd && !nnpz) {
		fail(l, "%s: no preprocessed cases (no <case>.b2nd or <case>.npz); run "
		     "nnUNetv2_preprocess with -c %s", ds->data_dir, ds->configuration);
		goto out;
	}
	b2nd = nb2nd > 0;
	if (nb2nd && nnpz)
		warn(l, "%s/: holds both .b2nd and .npz cases; using the .b2nd ones (nnU-Net v2.6+)",
		     dd);
	for (i = 0; i < nm.n; i++) {
		const char *n = nm.v[i];
		static const char *const b2nd_parts[] = { ".b2nd", "_seg.b2nd", ".pkl" };
		static const char *const npz_parts[] = { ".npz", ".npy", "_seg.npy", ".pkl" };
		const char *const *parts = b2nd ? b2nd_parts : npz_parts;
		size_t nparts = b2nd ? 3 : 4, p, idlen;
		char *id;
		const char *why;

		if (b2nd ? !ends_with(n, ".b2nd") || ends_with(n, "_seg.b2nd") : !ends_with(n, ".npz"))
			continue;
		idlen = strlen(n) - strlen(parts[0]);
		id = xmalloc(idlen + 1);
		memcpy(id, n, idlen);
		id[idlen] = '\0';
		why = id_problem(id);
		if (why) {
			fail(l, "%s/%s: case ID \"%s\" %s; rename the case", dd, n, id, why);
			free(id);
			goto out;
		}
		add_case(l, id, nparts, 0);
		for (p = 0; p < nparts; p++) {
			char *name = cb_fmt("%s%s", id, parts[p]), *what;
			long at = names_find(&nm, name);
			bool optional = !b2nd && (p == 1 || p == 2);

			if (at < 0) {
				if (optional) {
					free(name);
					continue;
				}
				fail(l, "%s/%s: missing; case \"%s\" has %s but nnU-Net also needs "
				     "%s%s (run nnUNetv2_preprocess again, or remove the case's files)",
				     dd, name, id, n, id, parts[p]);
				free(name);
				goto out;
			}
			nm.used[at] = true;
			r = add_file(l, nm.fd, name, cb_path_join(ds->data_dir, name));
			if (r) {
				what = cb_fmt("%s/%s", dd, name);
				file_failed(l, what, vanished);
				free(what);
			}
			free(name);
			if (r)
				goto out;
		}
		{
			struct ds_case *c = &ds->cases[ds->ncases - 1];

			/* The label: _seg.b2nd, or _seg.npy, or the .npz that holds "seg". */
			c->label = b2nd ? 1 : 0;
			if (!b2nd && c->nfiles >= 3 && ends_with(c->files[c->nfiles - 2], "_seg.npy"))
				c->label = (int)c->nfiles - 2;
		}
	}
	for (i = 0; i < nm.n; i++) {
		const char *n = nm.v[i];

		if (nm.used[i])
			continue;
		if (ends_with(n, ".pkl") || (b2nd && ends_with(n, "_seg.b2nd")) ||
		    (!b2nd && ends_with(n, ".npy")))
			if (!norphan++)
				orphan = n;
	}
	if (norphan)
		warn(l, "%s/: %zu file%s of no case (e.g. %s: its data file is missing); ignored", dd,
		     norphan, norphan == 1 ? "" : "s", orphan);
	ret = 0;
out:
	names_release(&nm);
	return ret;
}

static int load_pre(struct ld *l, const struct names *top)
{
	struct dataset *ds = l->ds;
	const char *cfg = l->o->configuration ? l->o->configuration : "3d_fullres";
	cJSON *plans = NULL, *dj = NULL;
	const cJSON *dn;
	const char *di = NULL;
	int ret = -1;

	if (pick_plans(l, top, &ds->plans_file))
		goto out;
	if (read_json(l, ds->plans_file, "pick another with --plans", &plans))
		goto out;
	dn = cJSON_GetObjectItemCaseSensitive(plans, "dataset_name");
	if (!cJSON_IsString(dn) || id_problem(dn->valuestring)) {
		fail(l, "%s: no \"dataset_name\" (a folder name such as \"Dataset501_Liver\"); "
		     "is this an nnU-Net v2 plans file?", ds->plans_file);
		goto out;
	}
	ds->dataset_name = xstrdup(dn->valuestring);
	ds->configuration = xstrdup(cfg);
	if (data_identifier(l, plans, cfg, &di))
		goto out;
	ds->data_dir = cb_path_join(ds->root, di);

	ds->dataset_json = cb_path_join(ds->root, "dataset.json");
	if (read_json(l, ds->dataset_json,
		      "nnUNetv2_train reads the dataset.json of the preprocessed folder "
		      "(nnUNetv2_plan_and_preprocess copies it there)", &dj))
		goto out;
	if (check_dataset_json(l, dj, ds->dataset_json))
		goto out;
	ds->fingerprint_file = cb_path_join(ds->root, "dataset_fingerprint.json");
	{
		struct stat st;

		if (stat(ds->fingerprint_file, &st) != 0 && errno == ENOENT) {
			fail(l, "%s: not found; nnUNetv2_train needs it (nnUNetv2_plan_and_preprocess "
			     "or nnUNetv2_extract_fingerprint writes it)", ds->fingerprint_file);
			goto out;
		}
		if (stat(ds->fingerprint_file, &st) != 0 || access(ds->fingerprint_file, R_OK) != 0) {
			fail(l, "%s: cannot read: %s (nnUNetv2_train needs it)", ds->fingerprint_file,
			     strerror(errno));
			goto out;
		}
	}
	if (load_pre_data(l))
		goto out;
	ret = 0;
out:
	cJSON_Delete(plans);
	cJSON_Delete(dj);
	return ret;
}

/* ---- msd ---- */

static int load_msd(struct ld *l)
{
	struct dataset *ds = l->ds;
	const char *path = ds->root;
	char *dir = xstrdup(path), *slash;
	cJSON *doc = NULL;
	const cJSON *tr, *el, *labels, *mod;
	size_t k = 0;
	int ret = -1;

	l->src = SRC_MSD;
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	if (read_json(l, path, "pass the datalist JSON", &doc))
		goto out;
	ds->dataset_json = xstrdup(path);
	tr = cJSON_GetObjectItemCaseSensitive(doc, "training");
	if (!tr && cJSON_GetObjectItemCaseSensitive(doc, "file_ending")) {
		fail(l, "%s: an nnU-Net dataset.json, not a datalist (no \"training\" list); pass "
		     "the dataset's folder instead", path);
		goto out;
	}
	if (!cJSON_IsArray(tr)) {
		fail(l, "%s: no \"training\" list; an MSD/MONAI datalist holds \"training\": "
		     "[{\"image\": ..., \"label\": ...}, ...]", path);
		goto out;
	}
	labels = cJSON_GetObjectItemCaseSensitive(doc, "labels");
	if (labels) {
		ds->labels_json = cJSON_PrintUnformatted(labels);
		if (!ds->labels_json)
			die("out of memory printing JSON");
	}
	mod = cJSON_GetObjectItemCaseSensitive(doc, "modality");
	if (!mod)
		mod = cJSON_GetObjectItemCaseSensitive(doc, "channel_names");
	if (cJSON_IsObject(mod) && mod->child)
		ds->nchannels = (size_t)cJSON_GetArraySize(mod);
	for (el = tr->child; el; el = el->next, k++) {
		const cJSON *image = cJSON_GetObjectItemCaseSensitive(el, "image");
		const cJSON *label = cJSON_GetObjectItemCaseSensitive(el, "label");
		const cJSON *im;
		size_t nimg, j;
		const char *why;
		char *id;

		if (!cJSON_IsObject(el)) {
			fail(l, "%s: training[%zu] is not an object {\"image\": ..., \"label\": ...}",
			     path, k);
			goto out;
		}
		if (!cJSON_IsString(label) || !label->valuestring[0]) {
			fail(l, "%s: training[%zu] has no \"label\" file (each training case needs "
			     "{\"image\": ..., \"label\": ...})", path, k);
			goto out;
		}
		if (cJSON_IsString(image) && image->valuestring[0]) {
			nimg = 1;
		} else if (cJSON_IsArray(image) && image->child) {
			nimg = (size_t)cJSON_GetArraySize(image);
		} else {
			fail(l, "%s: training[%zu] has no \"image\" (a file path, or a list of one per "
			     "channel)", path, k);
			goto out;
		}
		id = strip_ext(label->valuestring);
		why = id_problem(id);
		if (why) {
			fail(l, "%s: training[%zu]: case ID \"%s\" (from the label's file name \"%s\") "
			     "%s; rename the label file", path, k, id, label->valuestring, why);
			free(id);
			goto out;
		}
		add_case(l, id, nimg + 1, k);
		im = cJSON_IsArray(image) ? image->child : image;
		for (j = 0; j <= nimg; j++) {
			const cJSON *f = j < nimg ? im : label;
			char *abs, *what, *missing;

			if (!cJSON_IsString(f) || !f->valuestring[0]) {
				fail(l, "%s: training[%zu].image[%zu] must be a file path", path, k, j);
				goto out;
			}
			abs = path_resolve(dir, f->valuestring);
			if (add_file(l, AT_FDCWD, abs, abs)) {
				if (j < nimg && cJSON_IsArray(image))
					what = cb_fmt("%s: training[%zu].image[%zu] \"%s\"", path, k, j,
						   f->valuestring);
				else
					what = cb_fmt("%s: training[%zu].%s \"%s\"", path, k,
						   j < nimg ? "image" : "label", f->valuestring);
				missing = cb_fmt("looked for %s; fix the path: relative paths start at "
					      "the datalist's folder", abs);
				file_failed(l, what, missing);
				free(what);
				free(missing);
				goto out;
			}
			if (j < nimg && cJSON_IsArray(image))
				im = im->next;
		}
		ds->cases[ds->ncases - 1].label = (int)nimg;
	}
	if (!ds->ncases) {
		fail(l, "%s: \"training\" is empty; nothing to train on", path);
		goto out;
	}
	if (!ds->nchannels)
		ds->nchannels = ds->cases[0].nfiles - 1;
	if (cJSON_GetObjectItemCaseSensitive(doc, "numTraining"))
		check_num_training(l, doc, path);
	ret = 0;
out:
	free(dir);
	cJSON_Delete(doc);
	return ret;
}

/* ---- list ---- */

static int load_list_file(struct ld *l)
{
	struct dataset *ds = l->ds;
	const char *path = ds->root;
	char *dir = xstrdup(path), *slash, *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	FILE *f;
	int ret = -1;

	l->src = SRC_LIST_FILE;
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	f = fopen(path, "r");
	if (!f) {
		fail(l, "%s: cannot read: %s", path, strerror(errno));
		goto out_nof;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		char *p, *tab, *id;
		size_t nf = 0;
		const char *why;

		lineno++;
		if ((size_t)n != strlen(line)) {
			fail(l, "%s:%zu: a NUL byte; a case list is a text file with one case ID per "
			     "line", path, lineno);
			goto out;
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		if (!*p || line[0] == '#')
			continue;
		for (p = line; (p = strchr(p, '\t')); p++)
			nf++;
		tab = strchr(line, '\t');
		if (tab)
			*tab = '\0';
		why = id_problem(line);
		if (!why && (line[0] == ' ' || line[strlen(line) - 1] == ' '))
			why = "starts or ends with a space";
		if (why) {
			fail(l, "%s:%zu: case ID \"%s\" %s%s", path, lineno, line, why,
			     strchr(line, '/') || strchr(line, ' ')
				     ? " (each line is a case ID, then a tab and the case's files)"
				     : "; rename the case");
			goto out;
		}
		id = xstrdup(line);
		add_case(l, id, nf, lineno);
		for (p = tab ? tab + 1 : NULL; p;) {
			char *next = strchr(p, '\t'), *abs, *what, *missing;

			if (next)
				*next = '\0';
			if (*p) {
				abs = path_resolve(dir, p);
				if (add_file(l, AT_FDCWD, abs, abs)) {
					what = cb_fmt("%s:%zu: \"%s\"", path, lineno, p);
					missing = cb_fmt("looked for %s; fix the path: relative paths start "
						      "at the list's folder", abs);
					file_failed(l, what, missing);
					free(what);
					free(missing);
					goto out;
				}
			}
			p = next ? next + 1 : NULL;
		}
		{
			struct ds_case *c = &ds->cases[ds->ncases - 1];

			/* images first, then the label: with two files or more, the last. */
			c->label = c->nfiles >= 2 ? (int)c->nfiles - 1 : -1;
		}
	}
	if (ferror(f)) {
		fail(l, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if (!ds->ncases) {
		fail(l, "%s: no cases (one case ID per line, optionally a tab and its files; lines "
		     "starting with # are comments)", path);
		goto out;
	}
	ret = 0;
out:
	fclose(f);
out_nof:
	free(line);
	free(dir);
	return ret;
}

static int load_list_dir(struct ld *l, const struct names *top)
{
	struct dataset *ds = l->ds;
	size_t i, nsub = 0, ndataset = 0;
	const char *sub = NULL;

	l->src = SRC_LIST_DIR;
	for (i = 0; i < top->n; i++) {
		const char *name = top->v[i];
		struct stat st;
		const char *why;
		char *id;

		if (fstatat(top->fd, name, &st, 0) == 0 && S_ISDIR(st.st_mode)) {
			if (!nsub++)
				sub = name;
			ndataset += strncmp(name, "Dataset", 7) == 0;
			continue;
		}
		id = strip_ext(name);
		why = id_problem(id);
		if (why) {
			fail(l, "%s/%s: case ID \"%s\" %s; rename the file", ds->root, name, id, why);
			free(id);
			return -1;
		}
		add_case(l, id, 1, i);
		if (add_file(l, top->fd, name, cb_path_join(ds->root, name)))
			return file_failed(l, name, vanished);
	}
	if (!ds->ncases) {
		if (ndataset)
			fail(l, "%s: no cases, but folders such as %s; pass one dataset folder (e.g. "
			     "%s/%s), not the nnUNet_raw or nnUNet_preprocessed root", ds->root, sub,
			     ds->root, sub);
		else
			fail(l, "%s: no cases (a case-list folder holds one file per case; for "
			     "nnU-Net, pass the dataset folder with dataset.json)", ds->root);
		return -1;
	}
	if (nsub)
		warn(l, "%s: %zu subfolder%s ignored (e.g. %s); the cases are the files", ds->root,
		     nsub, nsub == 1 ? "" : "s", sub);
	return 0;
}

/* ---- detection, digest, the whole load ---- */

static int detect(struct ld *l, const struct stat *st, const struct names *top,
		  enum ds_format *f)
{
	const char *root = l->ds->root;
	size_t i;

	if (!S_ISDIR(st->st_mode)) {
		if (ends_with(root, ".json"))
			*f = DS_MSD;
		else
			*f = DS_LIST;
		return 0;
	}
	if (names_find(top, "dataset_fingerprint.json") >= 0) {
		*f = DS_NNUNET_PRE;
		return 0;
	}
	for (i = 0; i < top->n; i++) {
		if (is_plans_name(top->v[i])) {
			*f = DS_NNUNET_PRE;
			return 0;
		}
	}
	if (names_find(top, "dataset.json") >= 0 || names_find(top, "imagesTr") >= 0) {
		*f = DS_NNUNET_RAW;
		return 0;
	}
	*f = DS_LIST;
	return 0;
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
				fail(l, "%s: lines %zu and %zu both hold case \"%s\" (list each case "
				     "once)", l->src_name, a, b, v[i].id);
				break;
			case SRC_MSD:
				fail(l, "%s: training[%zu] and training[%zu] are both case \"%s\" (the "
				     "case ID is the label's file name without its extension; give each "
				     "label its own name)", l->src_name, a, b, v[i].id);
				break;
			case SRC_LIST_DIR:
				fail(l, "%s: %s and %s are both case \"%s\" (the case ID is the file "
				     "name without its extension; rename one)", l->src_name,
				     shown(ds, ds->cases[v[i - 1].i].files[0]),
				     shown(ds, ds->cases[v[i].i].files[0]), v[i].id);
				break;
			case SRC_DATASET_KEY:
				fail(l, "%s: \"dataset\" lists case \"%s\" twice (JSON keeps only one "
				     "of them; remove one)", l->src_name, v[i].id);
				break;
			case SRC_FOLDER:
				fail(l, "%s: case \"%s\" appears twice", l->src_name, v[i].id);
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

/* Every case file's path is UTF-8 (IDs are checked by id_problem()), so
 * that cases, audit and run refuse the same datasets before anything is
 * made. */
static int check_utf8_paths(struct ld *l)
{
	struct dataset *ds = l->ds;
	size_t i, j;

	for (i = 0; i < ds->ncases; i++)
		for (j = 0; j < ds->cases[i].nfiles; j++)
			if (!cb_utf8_valid(ds->cases[i].files[j]))
				return fail(l, "%s: %s", shown(ds, ds->cases[i].files[j]), not_utf8);
	return 0;
}

int ds_load(struct dataset *ds, const char *path, const struct ds_options *o, char *err,
	    size_t errlen)
{
	static const struct ds_options defaults = { 0 };
	struct ld l = { 0 };
	struct names top = { .fd = -1 };
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
		return fail(&l, "no dataset given (a folder, a datalist JSON or a case list)");
	real = realpath(path, NULL);
	if (!real) {
		int e = errno;

		if (e == ENOENT)
			return fail(&l, "%s: not found (a dataset folder, a datalist JSON or a case "
				    "list)", path);
		if (e == ELOOP)
			return fail(&l, "%s: symlink loop (too many levels of symbolic links); fix the "
				    "link", path);
		if (e == EACCES)
			return fail(&l, "%s: permission denied (a folder on its path cannot be "
				    "searched; check its permissions)", path);
		return fail(&l, "%s: %s", path, strerror(e));
	}
	ds->root = xstrdup(real);
	free(real);
	l.src_name = ds->root;
	if (!cb_utf8_valid(ds->root)) {
		fail(&l, "%s: %s", ds->root, not_utf8);
		goto out;
	}
	if (stat(ds->root, &st) != 0) {
		fail(&l, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		int r = names_read(&l, ds->root, ds->root, &top);

		if (r == 1)
			fail(&l, "%s: vanished while casebisect read it", ds->root);
		if (r)
			goto out;
	}
	if (f == DS_AUTO && detect(&l, &st, &top, &f))
		goto out;
	ds->format = f;
	if ((f == DS_NNUNET_PRE || f == DS_NNUNET_RAW) && !S_ISDIR(st.st_mode)) {
		fail(&l, "%s: not a folder; --format %s needs the dataset folder", ds->root,
		     ds_format_name(f));
		goto out;
	}
	if (f == DS_MSD && S_ISDIR(st.st_mode)) {
		fail(&l, "%s: a folder; --format msd needs the datalist JSON file", ds->root);
		goto out;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		fail(&l, "%s: not a regular file or a folder", ds->root);
		goto out;
	}
	if (f != DS_NNUNET_PRE && (l.o->configuration || l.o->plans))
		warn(&l, "%s%s%s apply to nnU-Net preprocessed datasets only; ignored for this %s "
		     "dataset", l.o->configuration ? "--configuration" : "",
		     l.o->configuration && l.o->plans ? " and " : "", l.o->plans ? "--plans" : "",
		     ds_format_name(f));
	switch (f) {
	case DS_NNUNET_PRE:
		ret = load_pre(&l, &top);
		break;
	case DS_NNUNET_RAW:
		ret = load_raw(&l);
		break;
	case DS_MSD:
		ret = load_msd(&l);
		break;
	case DS_LIST:
		ret = S_ISDIR(st.st_mode) ? load_list_dir(&l, &top) : load_list_file(&l);
		break;
	case DS_AUTO:
	default:
		fail(&l, "%s: unknown dataset format", ds->root);
		ret = -1;
		break;
	}
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
	names_release(&top);
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
