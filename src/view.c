/* view: a subset of a dataset laid out as its trainer expects it, built in a
 * trial directory out of links and a few rewritten files; the contract and
 * the layouts are in include/casebisect/view.h.
 *
 * Design note: how a view stays inside its trial directory. The trial
 * directory is opened once, and everything is made relative to directory
 * descriptors that we opened on folders we had just made ourselves
 * (mkdirat, then openat with O_NOFOLLOW), with the *at calls: a name is
 * never resolved through a path string that somebody could have swapped for
 * a link in between. Files are created with O_CREAT|O_EXCL|O_NOFOLLOW, so an
 * existing file or link at that name is an error and never written through.
 * Links are checked after they are made, by a stat through them: a case file
 * that vanished since the dataset was read shows up as a dangling link, and
 * a dangling link in a view would be written *through* by nnU-Net's
 * unpacking (nnunet.md 3.4). list and msd views make no links, so their
 * files are stat()ed before anything is made. Removal unlinks each name
 * (unlinkat never follows a link) and opens only real folders, with
 * O_NOFOLLOW, so it removes links and never what they point to.
 *
 * Case IDs and link names are checked before any path is joined, even though
 * ds_load checks IDs too (defence in depth: a struct dataset can come from
 * anywhere).
 *
 * What a view holds is each format's own (its view_build op in
 * src/format_*.c); this file builds what they share: the trial directory,
 * links, new files, the lists and removal. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "casebisect/json.h"
#include "casebisect/path.h"
#include "casebisect/util.h"
#include "casebisect/view.h"
#include "format.h"

#define CASES_NAME "cases.txt"
#define FILES_NAME "files.txt"
/* Deeper than any trainer's output tree; bounds the descriptors held while
 * removing (one per level). */
#define REMOVE_DEPTH_MAX 64
#define WBUF_SIZE (64 * 1024)


char *vb_path_join3(const char *a, const char *b, const char *c)
{
	char *ab = cb_path_join(a, b);
	char *abc = cb_path_join(ab, c);

	free(ab);
	return abc;
}

/* A printable copy of s for messages: control bytes as \n, \t or \xNN. */
void vb_quote(char *dst, size_t size, const char *s)
{
	size_t o = 0;

	for (; *s && o + 5 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\n') {
			dst[o++] = '\\';
			dst[o++] = 'n';
		} else if (c == '\t') {
			dst[o++] = '\\';
			dst[o++] = 't';
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(dst + o, size - o, "\\x%02x", c);
		} else {
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* A single path component we may create: not empty, ".", ".." or with '/'. */
bool vb_name_is_safe(const char *s)
{
	return *s && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strchr(s, '/') &&
	       !has_control(s);
}

/* The rule of ds_id_is_safe (dataset.h: a plain file name, no leading '-'),
 * kept here so that a view checks IDs itself whatever built the struct
 * dataset, and without depending on dataset.c. */
static bool id_is_safe(const char *id)
{
	return vb_name_is_safe(id) && id[0] != '-';
}

/* ---- removing, without ever following a link ---- */

static int remove_dir(int dfd, const char *name, const char *shown, int depth, char *err,
		      size_t errlen);

/* Removes name in dfd (parent names dfd in messages): a folder with all it
 * holds, anything else by unlinking the name itself, which never follows a
 * link. A name that is not there is no error. Unlinking first and asking
 * only when that fails keeps it to one system call per link. */
static int remove_at(int dfd, const char *parent, const char *name, int depth, char *err,
		     size_t errlen)
{
	struct stat st;
	char *shown;
	int rc;

	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	shown = cb_path_join(parent, name);
	if ((errno == EISDIR || errno == EPERM) &&
	    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
		rc = remove_dir(dfd, name, shown, depth, err, errlen);
	} else {
		cb_set_err(err, errlen, "%s: cannot remove: %s", shown, strerror(errno));
		rc = -1;
	}
	free(shown);
	return rc;
}

static int remove_dir(int dfd, const char *name, const char *shown, int depth, char *err,
		      size_t errlen)
{
	int fd, pass;
	DIR *d;
	struct dirent *e;

	if (depth >= REMOVE_DEPTH_MAX) {
		cb_set_err(err, errlen, "%s: cannot remove: more than %d folders deep", shown,
			REMOVE_DEPTH_MAX);
		return -1;
	}
	/* Entries removed while readdir runs may or may not be returned again;
	 * a second pass catches what the first one missed. */
	for (pass = 0; pass < 3; pass++) {
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				return 0;
			cb_set_err(err, errlen, "%s: cannot open: %s", shown, strerror(errno));
			return -1;
		}
		d = fdopendir(fd);
		if (!d) {
			cb_set_err(err, errlen, "%s: cannot read: %s", shown, strerror(errno));
			close(fd);
			return -1;
		}
		while ((errno = 0, e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if (remove_at(fd, shown, e->d_name, depth + 1, err, errlen) < 0) {
				closedir(d);
				return -1;
			}
		}
		if (errno) {
			cb_set_err(err, errlen, "%s: cannot read: %s", shown, strerror(errno));
			closedir(d);
			return -1;
		}
		closedir(d);
		if (unlinkat(dfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
			return 0;
		if (errno != ENOTEMPTY && errno != EEXIST)
			break;
	}
	cb_set_err(err, errlen, "%s: cannot remove: %s", shown, strerror(errno));
	return -1;
}

static int open_trial_dir(const char *trial_dir, char *err, size_t errlen)
{
	int fd = open(trial_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		cb_set_err(err, errlen, "%s: cannot open the trial directory: %s", trial_dir,
			strerror(errno));
	return fd;
}

int view_remove(const char *trial_dir, char *err, size_t errlen)
{
	static const char *const names[] = { VIEW_DIR, CASES_NAME, FILES_NAME };
	int tfd = open_trial_dir(trial_dir, err, errlen);
	int rc = 0;
	size_t i;

	if (tfd < 0)
		return -1;
	for (i = 0; i < CB_ARRAY_SIZE(names) && rc == 0; i++)
		rc = remove_at(tfd, trial_dir, names[i], 0, err, errlen);
	close(tfd);
	return rc;
}

/* ---- making things, never through a link ---- */

/* mkdirat + open of what we made: the descriptor, or -1 with err set. rel
 * names dfd relative to the trial dir ("" for the trial dir), for messages. */
int vb_make_dir(struct view_builder *b, int dfd, const char *rel, const char *name)
{
	int fd = -1;

	if (mkdirat(dfd, name, 0777) == 0)
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		cb_set_err(b->err, b->errlen, "%s%s%s/%s: cannot create: %s", b->tdir, *rel ? "/" : "",
			rel, name, strerror(errno));
	return fd;
}

/* TRIAL/view/ and in it pp/, results/ and raw/ (the nnU-Net roots): their
 * descriptors in fds[0..3), view/'s in *vfd; -1 with err set. */
int vb_make_nnunet_dirs(struct view_builder *b, int *vfd, int fds[3])
{
	static const char *const names[] = { "pp", "results", "raw" };
	size_t i;

	*vfd = vb_make_dir(b, b->tfd, "", VIEW_DIR);
	if (*vfd < 0)
		return -1;
	b->made_view = true;
	b->vfd = *vfd;
	for (i = 0; i < 3; i++) {
		fds[i] = vb_make_dir(b, *vfd, VIEW_DIR, names[i]);
		if (fds[i] < 0)
			return -1;
	}
	return 0;
}

void vb_close_fds(int *fds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* The env of the nnU-Net views: nnUNet_raw, nnUNet_preprocessed and
 * nnUNet_results at TRIAL/view/{raw,pp,results}, in the order given. */
void vb_nnunet_env(struct view *v, const struct view_builder *b, const char *const keys[3])
{
	size_t i;

	v->nenv = 3;
	v->env = xcalloc(4, sizeof(*v->env));
	for (i = 0; i < 3; i++) {
		const char *dir = !strcmp(keys[i], "nnUNet_raw") ? "raw"
				  : !strcmp(keys[i], "nnUNet_results") ? "results" : "pp";
		size_t len = strlen(keys[i]) + strlen(b->tdir) + strlen(dir) + 8;

		v->env[i] = xmalloc(len);
		snprintf(v->env[i], len, "%s=%s/" VIEW_DIR "/%s", keys[i], b->tdir, dir);
	}
}

/* The message for a file of the dataset that cannot be reached (e is
 * errno; id the case, or NULL for the dataset's own files). */
static void vanished(struct view_builder *b, const char *file, int e, const char *id)
{
	char qf[512], qid[256];

	vb_quote(qf, sizeof(qf), file);
	vb_quote(qid, sizeof(qid), id ? id : "");
	cb_set_err(b->err, b->errlen, "%s: %s%s%s%s (%s since the dataset was read?)", qf,
		e == ENOENT ? "missing" : strerror(e), id ? ", a file of case \"" : "", qid,
		id ? "\"" : "", e == ENOENT ? "deleted or moved" : "changed");
}

/*
 * A link's target, made short. ext4 keeps a symlink's target inside the
 * inode only when it is under 60 bytes; a longer one costs a data block,
 * and 30,000 such links took 7 s where short ones take 0.4 s. So each
 * folder the view links into is linked once, as view/s/<k> -> the folder
 * (its path as the dataset gave it), and a file's link says
 * "../../../s/<k>/<name>": relative, inside the view, and resolving to the
 * same file. Falls back to the absolute target when that would not be
 * shorter, for links outside view/, or past SRC_DIRS_MAX folders.
 */
#define SRC_DIRS_MAX 64
static const char *short_target(struct view_builder *b, const char *target, const char *shown_dir,
				char *buf, size_t size)
{
	const char *slash = strrchr(target, '/'), *p;
	size_t depth = 0, k, dlen, len = 0;
	char name[32];

	if (b->vfd < 0 || !slash || slash == target || strncmp(shown_dir, VIEW_DIR "/", 5))
		return target;
	for (p = shown_dir; *p; p++)
		depth += *p == '/';
	dlen = (size_t)(slash - target);
	for (k = 0; k < b->nsrc; k++)
		if (strlen(b->srcdirs[k]) == dlen && !strncmp(b->srcdirs[k], target, dlen))
			break;
	if (k == b->nsrc) {
		char *dir;

		if (b->nsrc == SRC_DIRS_MAX)
			return target;
		if (b->sfd < 0) {
			if (mkdirat(b->vfd, "s", 0777) < 0)
				return target;
			b->sfd = openat(b->vfd, "s", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (b->sfd < 0)
				return target;
		}
		dir = xmalloc(dlen + 1);
		memcpy(dir, target, dlen);
		dir[dlen] = '\0';
		snprintf(name, sizeof(name), "%zu", k);
		if (symlinkat(dir, b->sfd, name) < 0) {
			free(dir);
			return target;
		}
		b->srcdirs = xrealloc(b->srcdirs, (b->nsrc + 1) * sizeof(*b->srcdirs));
		b->srcdirs[b->nsrc++] = dir;
	}
	while (depth-- && len + 3 < size)
		len += (size_t)snprintf(buf + len, size - len, "../");
	if (len >= size || (size_t)snprintf(buf + len, size - len, "s/%zu%s", k, slash) >= size - len ||
	    strlen(buf) >= strlen(target))
		return target;
	return buf;
}

/* Links name in dfd to target (absolute) and checks that the link leads to
 * something: a file that vanished leaves a dangling link, which is an
 * error. shown_dir names dfd in messages (relative to the trial dir).
 * Returns 0, -1 with err set, or -EEXIST (err not set) when name is taken. */
int vb_make_link(struct view_builder *b, int dfd, const char *target, const char *name,
		 const char *shown_dir, const char *id)
{
	struct stat st;
	char buf[4096];

	if (symlinkat(short_target(b, target, shown_dir, buf, sizeof(buf)), dfd, name) < 0) {
		if (errno == EEXIST)
			return -EEXIST;
		cb_set_err(b->err, b->errlen, "%s/%s/%s: cannot create the link to %s: %s", b->tdir,
			shown_dir, name, target, strerror(errno));
		return -1;
	}
	if (fstatat(dfd, name, &st, 0) < 0) {
		vanished(b, target, errno, id);
		return -1;
	}
	return 0;
}

int vb_make_link_unique(struct view_builder *b, int dfd, const char *target, const char *name,
			const char *shown_dir, const char *id)
{
	int rc = vb_make_link(b, dfd, target, name, shown_dir, id);

	if (rc == -EEXIST) {
		cb_set_err(b->err, b->errlen, "%s/%s/%s: two files of the subset have this name "
			"(the second is %s)", b->tdir, shown_dir, name, target);
		return -1;
	}
	return rc;
}

/* A new file name in dfd (never an existing one, never through a link). */
static int create_file(struct view_builder *b, int dfd, const char *name, const char *shown)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);

	if (fd < 0)
		cb_set_err(b->err, b->errlen, "%s: cannot create: %s", shown, strerror(errno));
	return fd;
}

static int close_checked(struct view_builder *b, int fd, const char *shown, int rc)
{
	if (close(fd) < 0 && rc == 0) {
		cb_set_err(b->err, b->errlen, "%s: cannot write: %s", shown, strerror(errno));
		return -1;
	}
	return rc;
}

int vb_write_new_file(struct view_builder *b, int dfd, const char *name, const char *shown,
		      const char *data, size_t len)
{
	int fd = create_file(b, dfd, name, shown), rc = 0;

	if (fd < 0)
		return -1;
	if (cb_write_all(fd, data, len) < 0) {
		cb_set_err(b->err, b->errlen, "%s: cannot write: %s", shown, strerror(errno));
		rc = -1;
	}
	return close_checked(b, fd, shown, rc);
}

/* A write buffer for the two lists: memory stays WBUF_SIZE whatever n. */
struct wbuf {
	int fd;
	int error; /* errno of the first failed write */
	size_t len;
	char buf[WBUF_SIZE];
};

static void wb_flush(struct wbuf *w)
{
	if (!w->error && w->len && cb_write_all(w->fd, w->buf, w->len) < 0)
		w->error = errno;
	w->len = 0;
}

static void wb_put(struct wbuf *w, const char *s, size_t n)
{
	while (n) {
		size_t room = sizeof(w->buf) - w->len, k = n < room ? n : room;

		memcpy(w->buf + w->len, s, k);
		w->len += k;
		s += k;
		n -= k;
		if (w->len == sizeof(w->buf))
			wb_flush(w);
	}
}

static void wb_str(struct wbuf *w, const char *s)
{
	wb_put(w, s, strlen(s));
}

static int write_lists(struct view_builder *b)
{
	struct wbuf *w = xmalloc(sizeof(*w));
	char *cases = cb_path_join(b->tdir, CASES_NAME), *files = cb_path_join(b->tdir, FILES_NAME);
	int rc = -1, which;

	for (which = 0; which < 2; which++) {
		const char *shown = which ? files : cases;
		size_t i, j;

		w->fd = create_file(b, b->tfd, which ? FILES_NAME : CASES_NAME, shown);
		if (w->fd < 0)
			goto out;
		if (which)
			b->made_files = true;
		else
			b->made_cases = true;
		w->error = 0;
		w->len = 0;
		for (i = 0; i < b->n; i++) {
			const struct ds_case *c = &b->ds->cases[b->subset[i]];

			if (!which) {
				wb_str(w, c->id);
			} else {
				for (j = 0; j < c->nfiles; j++) {
					if (j)
						wb_put(w, "\t", 1);
					wb_str(w, c->files[j]);
				}
			}
			wb_put(w, "\n", 1);
		}
		wb_flush(w);
		if (w->error) {
			cb_set_err(b->err, b->errlen, "%s: cannot write: %s", shown,
				strerror(w->error));
			close(w->fd);
			goto out;
		}
		if (close_checked(b, w->fd, shown, 0) < 0)
			goto out;
	}
	rc = 0;
out:
	free(cases);
	free(files);
	free(w);
	return rc;
}

/* ---- checks before anything is made ---- */

/* Why file f cannot go into a view made by ops, or NULL. */
static const char *file_problem(const struct ds_format_ops *ops, const char *f)
{
	if (f[0] != '/')
		return "not an absolute path";
	if (strpbrk(f, "\t\n"))
		return "a tab or a newline in the name, which files.txt cannot hold";
	if ((ops->flags & FMT_VIEW_JSON) && !cb_utf8_valid(f))
		return "not valid UTF-8, which JSON cannot hold";
	if ((ops->flags & FMT_VIEW_LINKS) && !vb_name_is_safe(path_base(f)))
		return "no file name a link can take";
	return NULL;
}

/* Every ID safe, every file path absolute and fit for the lists (and for
 * JSON where it goes into JSON), no case twice; list and msd views make no
 * links, so their files are checked for existence here. */
static int check_subset(struct view_builder *b, const struct ds_format_ops *ops)
{
	const struct dataset *ds = b->ds;
	unsigned char *seen = xcalloc(ds->ncases / 8 + 1, 1);
	bool stat_files = !(ops->flags & FMT_VIEW_LINKS);
	char q[256];
	size_t i, j;
	int rc = -1;

	for (i = 0; i < b->n; i++) {
		size_t k = b->subset[i];
		const struct ds_case *c;

		assert(k < ds->ncases);
		assert(!(seen[k / 8] & (1u << (k % 8))) && "a case twice in a subset");
		seen[k / 8] |= (unsigned char)(1u << (k % 8));
		c = &ds->cases[k];
		if (!c->id || !id_is_safe(c->id)) {
			vb_quote(q, sizeof(q), c->id ? c->id : "");
			cb_set_err(b->err, b->errlen, "case ID \"%s\": refused: an ID must be a plain "
				"file name (not empty, not \".\" or \"..\", no '/', no leading '-', no "
				"control characters)", q);
			goto out;
		}
		assert(c->label < (int)c->nfiles);
		for (j = 0; j < c->nfiles; j++) {
			const char *f = c->files[j], *why = file_problem(ops, f);
			struct stat st;

			if (!why && stat_files && stat(f, &st) < 0) {
				vanished(b, f, errno, c->id);
				goto out;
			}
			if (why) {
				vb_quote(q, sizeof(q), f);
				cb_set_err(b->err, b->errlen, "%s: %s, a file of case \"%s\"", q, why,
					c->id);
				goto out;
			}
		}
	}
	rc = 0;
out:
	free(seen);
	return rc;
}

/* ---- JSON rewriting ---- */

void vb_json_oom(const void *p)
{
	if (!p)
		die("out of memory building JSON");
}

cJSON *vb_read_json(struct view_builder *b, const char *path)
{
	size_t len;
	char *text = cb_read_file(path, &len);
	cJSON *root;

	if (!text) {
		cb_set_err(b->err, b->errlen, "%s: cannot read: %s", path, strerror(errno));
		return NULL;
	}
	root = cJSON_ParseWithLength(text, len);
	if (!root || !cJSON_IsObject(root)) {
		cb_set_err(b->err, b->errlen, "%s: not a JSON object (changed since the dataset was "
			"read?)", path);
		cJSON_Delete(root);
		root = NULL;
	}
	free(text);
	return root;
}

void vb_json_set(cJSON *obj, const char *key, cJSON *item)
{
	vb_json_oom(item);
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item);
	else
		cJSON_AddItemToObject(obj, key, item);
}

cJSON *vb_json_str(const char *s)
{
	cJSON *item = cJSON_CreateString(s);

	vb_json_oom(item);
	return item;
}

void vb_json_push(cJSON *arr, cJSON *item)
{
	vb_json_oom(item);
	cJSON_AddItemToArray(arr, item);
}


/* Lexically tidies an absolute path in place: "//" and "/./" go, and so
 * does a trailing '/'. ".." stays (it depends on links). */
void vb_tidy_path(char *p)
{
	char *r = p, *w = p;

	while (*r) {
		if (r[0] == '/' && (r[1] == '/' || (r[1] == '.' && (r[2] == '/' || !r[2])))) {
			r += r[1] == '/' ? 1 : 2;
			continue;
		}
		*w++ = *r++;
	}
	if (w > p + 1 && w[-1] == '/')
		w--;
	if (w == p)
		*w++ = '/';
	*w = '\0';
}


/* ---- the views ---- */


/* The trial directory as an absolute path without trailing '/'. */
static char *abs_trial_dir(const char *trial_dir, char *err, size_t errlen)
{
	char *p;

	if (trial_dir[0] != '/') {
		p = realpath(trial_dir, NULL);
		if (!p)
			cb_set_err(err, errlen, "%s: cannot resolve the trial directory: %s", trial_dir,
				strerror(errno));
		return p;
	}
	p = xstrdup(trial_dir);
	vb_tidy_path(p);
	return p;
}

int view_build(struct view *v, const struct dataset *ds, const size_t *subset, size_t n,
	       const char *trial_dir, char *err, size_t errlen)
{
	struct view_builder b = { 0 };
	const struct ds_format_ops *ops;
	char scratch[256];
	int rc = -1;

	assert(v && ds && trial_dir && (subset || !n));
	memset(v, 0, sizeof(*v));
	b.ds = ds;
	b.subset = subset;
	b.n = n;
	b.err = err;
	b.errlen = errlen;
	b.tfd = -1;
	b.vfd = b.sfd = -1;
	ops = ds_format_ops(ds->format);
	assert(ops && "view_build: a dataset without a format");
	if (check_subset(&b, ops) < 0)
		return -1;
	b.tdir = abs_trial_dir(trial_dir, err, errlen);
	if (!b.tdir)
		return -1;
	b.tfd = open_trial_dir(trial_dir, err, errlen);
	if (b.tfd < 0)
		goto out;

	rc = ops->view_build(&b, v);
	if (rc == 0)
		rc = write_lists(&b);
	if (rc == 0) {
		v->cases_file = cb_path_join(b.tdir, CASES_NAME);
		v->files_file = cb_path_join(b.tdir, FILES_NAME);
		if (!v->path)
			v->path = xstrdup(v->cases_file);
	}
out:
	if (rc < 0) {
		/* Undo only what this call made; the first error is the one told. */
		view_release(v);
		if (b.tfd >= 0) {
			if (b.made_view)
				remove_at(b.tfd, b.tdir, VIEW_DIR, 0, scratch, sizeof(scratch));
			if (b.made_cases)
				unlinkat(b.tfd, CASES_NAME, 0);
			if (b.made_files)
				unlinkat(b.tfd, FILES_NAME, 0);
		}
	}
	if (b.tfd >= 0)
		close(b.tfd);
	if (b.sfd >= 0)
		close(b.sfd);
	while (b.nsrc)
		free(b.srcdirs[--b.nsrc]);
	free(b.srcdirs);
	free(b.tdir);
	return rc;
}

void view_release(struct view *v)
{
	size_t i;

	if (!v)
		return;
	free(v->cases_file);
	free(v->files_file);
	free(v->path);
	if (v->env)
		for (i = 0; v->env[i]; i++)
			free(v->env[i]);
	free(v->env);
	memset(v, 0, sizeof(*v));
}
