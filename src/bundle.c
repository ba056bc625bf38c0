/* bundle: the repro bundle (WORKDIR/bundle and bundle.tar.gz): the
 * culprits' files copied in their dataset's layout (the format's hooks in
 * format_*.c place them and write the dataset's own files), the small
 * texts beside them, the swap into place and the tarball. repro.sh is
 * written in bundle_repro.c, excerpt.log in bundle_excerpt.c.
 *
 * Design note: the bundle. It is built in a fresh folder beside the old one
 * (mkdtemp, so 0700: it holds copies of patients' scans), then swapped in,
 * so a failed build never leaves half a bundle and never destroys the last
 * good one. The user's files are only ever opened O_RDONLY; each copy is
 * created O_EXCL|O_NOFOLLOW inside that fresh folder. repro.sh gets every
 * byte of a file name or argument inside single quotes, and the command's
 * placeholders are replaced when the script is written, not when it runs:
 * each argument becomes its literal pieces, quoted, glued to "${view}"-style
 * references, so a value that happens to contain "{n}" is never expanded
 * twice and nothing from the dataset is ever read by the shell as code. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>

#include "bundle.h"
#include "casebisect/json.h"
#include "casebisect/path.h"

#define COPY_CHUNK (1024 * 1024)

/* Creates path (never an existing name, never through a link) with data;
 * mode before the umask. Returns 0 or -1 with err. */
static int write_new(const char *path, const char *data, size_t len, mode_t mode, char *err,
		     size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

	if (fd < 0) {
		cb_set_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	if (cb_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		cb_set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (close(fd) < 0) {
		cb_set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}


static int make_dir(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0777) == 0 || errno == EEXIST)
		return 0;
	cb_set_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
	return -1;
}

/* Copies the user's file src to dst (a new name). src is only read, and
 * must be a regular file: a FIFO or a device would hang or never end. */
static int copy_file(const char *src, const char *dst, mode_t mode, char *err, size_t errlen)
{
	int in = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), out = -1, rc = -1;
	char *chunk = NULL;
	struct stat st;
	ssize_t n;

	if (in < 0 || fstat(in, &st) < 0) {
		cb_set_err(err, errlen, "%s: cannot read: %s", src, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		cb_set_err(err, errlen, "%s: not a regular file: not copied", src);
		goto out;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (out < 0) {
		cb_set_err(err, errlen, "%s: cannot create: %s", dst, strerror(errno));
		goto out;
	}
	chunk = xmalloc(COPY_CHUNK);
	while ((n = read(in, chunk, COPY_CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cb_set_err(err, errlen, "%s: cannot read: %s", src, strerror(errno));
			goto out;
		}
		if (cb_write_all(out, chunk, (size_t)n) < 0) {
			cb_set_err(err, errlen, "%s: cannot write: %s", dst, strerror(errno));
			goto out;
		}
	}
	if (close(out) < 0) {
		out = -1;
		cb_set_err(err, errlen, "%s: cannot write: %s", dst, strerror(errno));
		goto out;
	}
	out = -1;
	rc = 0;
out:
	free(chunk);
	if (out >= 0)
		close(out);
	if (in >= 0)
		close(in);
	return rc;
}

/* ---- the kit of the formats' bundle hooks (format.h) ---- */

bool bnd_rel_taken(const struct fmt_bundle *bd, size_t k, size_t j, const char *rel)
{
	size_t a, b;

	for (a = 0; a <= k; a++)
		for (b = 0; b < (a == k ? j : bd->cases[a]->nfiles); b++)
			if (bd->rel[a][b] && !strcmp(bd->rel[a][b], rel))
				return true;
	return false;
}

char *bnd_place_under(const struct fmt_bundle *bd, size_t k, size_t j, const char *base)
{
	const struct ds_case *c = bd->cases[k];
	char *rel = path_under(base, c->files[j]);

	return rel ? rel : cb_fmt("external/%s/%s", c->id, path_base(c->files[j]));
}

/* data/rel becomes text; its folders are made (fmt_bundle's write). */
static int bundle_write(struct fmt_bundle *bd, const char *rel, const char *text, size_t len)
{
	char *path = cb_path_join(bd->data, rel);
	int rc = cb_make_parents(bd->data, rel, bd->err, bd->errlen);

	if (rc == 0)
		rc = write_new(path, text, len, 0666, bd->err, bd->errlen);
	free(path);
	return rc;
}

/* base/rel (its folders made) becomes a copy of src. */
static int copy_under(const char *base, const char *rel, const char *src, mode_t mode, char *err,
		      size_t errlen)
{
	char *dst = cb_path_join(base, rel);
	int rc = cb_make_parents(base, rel, err, errlen);

	if (rc == 0)
		rc = copy_file(src, dst, mode, err, errlen);
	free(dst);
	return rc;
}

/* data/rel becomes a copy of src (fmt_bundle's copy). */
static int bundle_copy(struct fmt_bundle *bd, const char *src, const char *rel)
{
	return copy_under(bd->data, rel, src, 0666, bd->err, bd->errlen);
}

/* fmt_bundle's copy_case: a copy, or the destination's put. */
static int bundle_copy_case(struct fmt_bundle *fb, size_t k, bool label, const char *src,
			    const char *rel)
{
	const struct bundle *bd = (const struct bundle *)fb; /* fb is its first member */
	char *dst;
	int rc;

	if (!bd->dest->put)
		return bundle_copy(fb, src, rel);
	if (cb_make_parents(fb->data, rel, fb->err, fb->errlen) < 0)
		return -1;
	dst = cb_path_join(fb->data, rel);
	rc = bd->dest->put(bd->dest->ctx, fb->cases[k], src, label, dst, fb->err, fb->errlen);
	free(dst);
	return rc;
}

int bnd_copy(struct bundle *bd, const char *src, const char *rel, mode_t mode)
{
	return copy_under(bd->dir, rel, src, mode, bd->fb.err, bd->fb.errlen);
}

/* ---- the culprits' files ---- */

/* Where each culprit's files go, relative to bundle/dataset/. */
static int place_files(struct fmt_bundle *bd)
{
	const struct ds_format_ops *ops = ds_format_ops(bd->ds->format);
	size_t k, j;

	if (!ops || !ops->bundle_place) {
		cb_set_err(bd->err, bd->errlen, "%s: a dataset without a format", bd->ds->root);
		return -1;
	}
	bd->rel = xcalloc(bd->ncases + 1, sizeof(*bd->rel));
	bd->fix = xcalloc(bd->ncases + 1, sizeof(*bd->fix));
	for (k = 0; k < bd->ncases; k++) {
		const struct ds_case *c = bd->cases[k];

		bd->rel[k] = xcalloc(c->nfiles + 1, sizeof(**bd->rel));
		for (j = 0; j < c->nfiles; j++) {
			char *rel = ops->bundle_place(bd, k, j);

			bd->rel[k][j] = rel;
			if (!path_rel_is_safe(rel) || bnd_rel_taken(bd, k, j, rel)) {
				cb_set_err(bd->err, bd->errlen, "%s: cannot place it in the bundle as "
					   "\"%s\" (%s)", c->files[j], rel, path_rel_is_safe(rel)
					   ? "another file of the culprits has that name"
					   : "not a safe path");
				return -1;
			}
		}
		if (c->label >= 0)
			bd->fix[k] = xstrdup(bd->rel[k][c->label]);
	}
	return 0;
}

/* Each culprit's files, copied or made by the destination's put. */
static int copy_cases(struct bundle *b)
{
	struct fmt_bundle *bd = &b->fb;
	size_t k, j;

	for (k = 0; k < bd->ncases && !b->dest->raw_only; k++) {
		const struct ds_case *c = bd->cases[k];

		for (j = 0; j < c->nfiles; j++)
			if (bundle_copy_case(bd, k, (int)j == c->label, c->files[j], bd->rel[k][j]) < 0)
				return -1;
	}
	return 0;
}

/* ---- the dataset's own files, for the formats (format.h) ---- */

int bnd_write_json(struct fmt_bundle *bd, const char *rel, const cJSON *root)
{
	char *text = json_line(root, true);
	int rc = bd->write(bd, rel, text, strlen(text));

	free(text);
	return rc;
}

int bnd_dataset_json(struct fmt_bundle *bd, const char *rel_dir, bool rewrite)
{
	cJSON *root = json_read_file(bd->ds->dataset_json, bd->err, bd->errlen), *key, *out;
	char *rel;
	size_t k, j, skip = strlen(rel_dir) + 1;
	int rc;

	if (!root)
		return -1;
	vb_json_set(root, "numTraining", cJSON_CreateNumber((double)bd->ncases));
	key = cJSON_GetObjectItemCaseSensitive(root, "dataset");
	if (cJSON_IsObject(key)) {
		out = json_object();
		for (k = 0; k < bd->ncases; k++) {
			const struct ds_case *c = bd->cases[k];
			cJSON *user = cJSON_GetObjectItemCaseSensitive(key, c->id), *entry, *images;

			entry = cJSON_IsObject(user) ? cJSON_Duplicate(user, true) : json_object();
			vb_json_oom(entry);
			if (rewrite) {
				images = cJSON_CreateArray();
				vb_json_oom(images);
				for (j = 0; j < c->nfiles; j++)
					if ((int)j != c->label)
						cJSON_AddItemToArray(images,
								     json_string(bd->rel[k][j] + skip));
				vb_json_set(entry, "images", images);
				if (c->label >= 0)
					vb_json_set(entry, "label",
						     json_string(bd->rel[k][c->label] + skip));
			}
			cJSON_AddItemToObject(out, c->id, entry);
		}
		vb_json_set(root, "dataset", out);
	}
	rel = cb_path_join(rel_dir, "dataset.json");
	rc = bnd_write_json(bd, rel, root);
	free(rel);
	cJSON_Delete(root);
	return rc;
}

/* The dataset's own files beside the cases, as its format has them. */
static int write_meta(struct fmt_bundle *bd)
{
	const struct ds_format_ops *ops = ds_format_ops(bd->ds->format);

	if (!ops || !ops->bundle_meta) {
		cb_set_err(bd->err, bd->errlen, "%s: a dataset without a format", bd->ds->root);
		return -1;
	}
	return ops->bundle_meta(bd);
}

static int write_text(struct bundle *bd, const char *name, const char *text, mode_t mode)
{
	char *path = cb_path_join(bd->dir, name);
	int rc = write_new(path, text, strlen(text), mode, bd->fb.err, bd->fb.errlen);

	free(path);
	return rc;
}

/* ---- the bundle's small texts ---- */

static char *lines_text(const char **v)
{
	struct rep_buf b = { 0 };
	size_t i;

	for (i = 0; v && v[i]; i++)
		rep_buf_printf(&b, "%s\n", v[i]);
	return rep_buf_take(&b);
}

/* README.md's line on the programs carried, when there are some. */
static void readme_tools(struct rep_buf *b, const struct bundle *bd)
{
	size_t i, m;

	if (bd->ntools) {
		rep_buf_puts(b, "- `tools/`: casebisect's own programs the command runs (");
		for (i = 0; i < bd->ntools; i++) {
			for (m = 0; m < i && strcmp(bd->tools[m].rel, bd->tools[i].rel); m++)
				;
			if (m < i)
				continue;
			rep_buf_puts(b, i ? ", " : "");
			rep_md_code(b, bd->tools[i].rel, false);
		}
		rep_buf_puts(b, "), with what they need beside them; repro.sh runs them from here, and "
			    "rebuilds a binary from its source (cc) where the one carried does not "
			    "run.\n");
	}
}

/* README.md's parts that depend on the format and the cases: repro.sh's
 * other modes, the label files to fix. */
static void readme_more(struct rep_buf *b, const struct bundle *bd)
{
	const struct ds_format_ops *ops = ds_format_ops(bd->fb.ds->format);
	const char *words = bd->fb.raw_only ? ops->repro_words_raw : ops->repro_words;
	size_t k;
	bool any = false;

	if (words)
		rep_buf_printf(b, "\n## The ways repro.sh runs\n\n%s\n", words);
	/* a synthetic bundle's labels are stand-ins: the user fixes their own */
	for (k = 0, any = false; !bd->dest->readme_note && k < bd->fb.ncases; k++)
		any = any || bd->fb.fix[k];
	if (!any)
		return;
	rep_buf_puts(b, "\n## The label file to fix\n\nEach case's label file, as this bundle holds "
		    "it (report.md says what the audit found in it); fix the same file in your "
		    "dataset:\n\n");
	for (k = 0; k < bd->fb.ncases; k++) {
		if (!bd->fb.fix[k])
			continue;
		rep_buf_puts(b, "- ");
		rep_md_code(b, bd->fb.cases[k]->id, false);
		rep_buf_puts(b, ": ");
		{
			char *rel = cb_path_join("dataset", bd->fb.fix[k]);

			rep_md_code(b, rel, false);
			free(rel);
		}
		rep_buf_puts(b, "\n");
	}
}

static char *readme_text(const struct bundle *bd)
{
	const struct rep_facts *f = bd->f;
	struct rep_buf b = { 0 };
	size_t i;

	if (bd->dest->readme_note)
		rep_buf_printf(&b, "# casebisect repro bundle (synthetic)\n\n%s\n\nThe case%s: ",
			       bd->dest->readme_note, rep_plural(bd->fb.ncases));
	else
		rep_buf_printf(&b, "# casebisect repro bundle\n\n"
			       "This bundle contains copies of the image and label files of %zu "
			       "training case%s, which may be patients' data. Do not attach it to an "
			       "issue or put it anywhere public unless you have the right to share "
			       "these files.\n\nThe case%s: ", bd->fb.ncases,
			       rep_plural(bd->fb.ncases), rep_plural(bd->fb.ncases));
	for (i = 0; i < bd->fb.ncases; i++) {
		if (i)
			rep_buf_puts(&b, ", ");
		rep_md_code(&b, bd->fb.cases[i]->id, false);
	}
	/* undetermined: the smallest failing subset; of one case, a culprit */
	if (rep_verdict_is(f->in, "undetermined") && bd->fb.ncases == 1)
		rep_buf_printf(&b, ".\n\nThe search did not finish: this case crashed training on its "
			       "own (trial %llu), and other culprits may remain in the dataset",
			       (unsigned long long)f->smallest_fail->trial);
	else if (rep_verdict_is(f->in, "undetermined"))
		rep_buf_printf(&b, ".\n\nThe search did not finish: these are the cases of the "
			       "smallest subset seen to crash training (trial %llu), not culprits; "
			       "fewer of them may be enough", (unsigned long long)f->smallest_fail->trial);
	rep_buf_printf(&b, ".\n\n"
		       "## What is in it\n\n"
		       "- `dataset/`: the cases' files, %s, in the dataset's own layout (%s).\n"
		       "- `repro.sh`: reruns the command that crashed, on these cases alone, with "
		       "the environment of casebisect's trials: `bash repro.sh`, from any folder, "
		       "as any user (`tar xzf %s && bash bundle/repro.sh`). It runs in a "
		       "temporary folder, never writes into this one, and exits with the command's "
		       "status.\n"
		       "- `command.txt`: the command, one argument per line, as given to casebisect "
		       "(`{cases_file}`, `{files_file}`, `{view}`, `{trial_dir}`, `{n}` stand for "
		       "each trial's own files).\n"
		       "- `env.txt`: the variables every trial got.\n"
		       "- `excerpt.log`: the lines around the decisive error in a failing trial's "
		       "logs.\n"
		       "- `report.md`: the report of the whole run.\n",
		       bd->dest->put ? "de-identified" : "copied",
		       bd->fb.raw_only ? ds_format_ops(bd->fb.ds->format)->bundle_words_raw
				       : ds_format_ops(bd->fb.ds->format)->bundle_words,
		       path_base(bd->dest->tarball));
	readme_tools(&b, bd);
	rep_buf_puts(&b, "\nreport.md, excerpt.log, command.txt and env.txt hold case IDs, file names "
		     "and log lines, never the contents of a file: when the data must not leave, "
		     "share those four.\n");
	readme_more(&b, bd);
	return rep_buf_take(&b);
}

/* ---- building, swapping and packing ---- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* Removes path and all under it, never following a link (FTW_PHYS). */
int rep_remove_tree(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) < 0 && errno == ENOENT)
		return 0;
	if (!S_ISDIR(st.st_mode) ? unlink(path) == 0
				 : nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0)
		return 0;
	cb_set_err(err, errlen, "%s: cannot remove: %s", path, strerror(errno));
	return -1;
}

/* Puts the new bundle in place of the old one: the old one is moved aside
 * first (a folder can only be renamed onto an empty one), then removed. */
static int swap_in(const char *dir, const char *final, const char *scratch, char *err,
		   size_t errlen)
{
	char *aside = cb_path_join(scratch, ".bundle.old.XXXXXX");
	struct stat st;
	int rc = -1;
	bool moved = false;

	if (lstat(final, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			if (unlink(final) < 0) {
				cb_set_err(err, errlen, "%s: cannot remove: %s", final, strerror(errno));
				goto out;
			}
		} else if (!mkdtemp(aside) || rename(final, aside) < 0) {
			cb_set_err(err, errlen, "%s: cannot move the old bundle aside: %s", final,
				   strerror(errno));
			rmdir(aside);
			goto out;
		} else {
			moved = true;
		}
	}
	if (rename(dir, final) < 0) {
		cb_set_err(err, errlen, "%s: cannot put the bundle in place: %s", final, strerror(errno));
		if (moved)
			rename(aside, final);
		goto out;
	}
	rc = moved ? rep_remove_tree(aside, err, errlen) : 0;
out:
	free(aside);
	return rc;
}

struct tar {
	struct archive *a;
	const char *path; /* for messages */
	char *err;
	size_t errlen;
};

static int tar_fail(struct tar *t, const char *what)
{
	/* libarchive's own text for a failed write is "Write error": the
	 * errno behind it says what the user can do. */
	int e = archive_errno(t->a);

	cb_set_err(t->err, t->errlen, "%s: %s: %s", t->path, what, e > 0 ? strerror(e)
		   : archive_error_string(t->a) ? archive_error_string(t->a) : "failed");
	return -1;
}

static int tar_data(struct tar *t, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = 0;
	char *chunk = xmalloc(COPY_CHUNK);
	ssize_t n;

	if (fd < 0) {
		cb_set_err(t->err, t->errlen, "%s: cannot read: %s", path, strerror(errno));
		free(chunk);
		return -1;
	}
	while (rc == 0 && (n = read(fd, chunk, COPY_CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cb_set_err(t->err, t->errlen, "%s: cannot read: %s", path, strerror(errno));
			rc = -1;
		} else if (archive_write_data(t->a, chunk, (size_t)n) != n) {
			rc = tar_fail(t, "cannot write");
		}
	}
	close(fd);
	free(chunk);
	return rc;
}

/* Adds dir/rel and, for a folder, all under it (sorted, so the archive
 * lists in a stable order) as bundle/rel. Modes are normalised: the
 * archive carries no owner and no umask of this machine. */
static int tar_add(struct tar *t, const char *dir, const char *rel)
{
	char *path = *rel ? cb_path_join(dir, rel) : xstrdup(dir);
	char *name = *rel ? cb_path_join(BUNDLE_NAME, rel) : xstrdup(BUNDLE_NAME);
	struct archive_entry *e = archive_entry_new();
	struct dirent **list = NULL;
	struct stat st;
	int rc = -1, n = 0, i;

	if (!e)
		die("out of memory");
	if (lstat(path, &st) < 0) {
		cb_set_err(t->err, t->errlen, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		rc = 0; /* nothing else is made in a bundle */
		goto out;
	}
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, S_ISDIR(st.st_mode) ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, S_ISDIR(st.st_mode) || (st.st_mode & 0100) ? 0755 : 0644);
	archive_entry_set_size(e, S_ISREG(st.st_mode) ? st.st_size : 0);
	archive_entry_set_mtime(e, st.st_mtime, 0);
	if (archive_write_header(t->a, e) < ARCHIVE_WARN) {
		rc = tar_fail(t, "cannot write");
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		rc = tar_data(t, path);
		goto out;
	}
	n = scandir(path, &list, NULL, alphasort);
	if (n < 0) {
		cb_set_err(t->err, t->errlen, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
	for (i = 0; i < n; i++) {
		const char *d = list[i]->d_name;
		char *sub;

		if (rc == 0 && strcmp(d, ".") && strcmp(d, "..")) {
			sub = *rel ? cb_path_join(rel, d) : xstrdup(d);
			rc = tar_add(t, dir, sub);
			free(sub);
		}
		free(list[i]);
	}
	free(list);
out:
	archive_entry_free(e);
	free(path);
	free(name);
	return rc;
}

/* The archive final of dir, through a temporary name. */
static int write_tarball(const char *dir, const char *final, char *err, size_t errlen)
{
	char *tmp;
	/* 0600: the archive holds copies of patients' scans. */
	int fd = cb_tmp_open(final, 0600, &tmp, err, errlen), rc = -1;
	struct tar t = { archive_write_new(), final, err, errlen };

	if (!t.a)
		die("out of memory");
	if (fd < 0)
		goto out;
	if (archive_write_add_filter_gzip(t.a) != ARCHIVE_OK ||
	    archive_write_set_format_pax_restricted(t.a) != ARCHIVE_OK ||
	    archive_write_open_fd(t.a, fd) != ARCHIVE_OK) {
		tar_fail(&t, "cannot start the archive");
		goto out;
	}
	if (tar_add(&t, dir, "") < 0)
		goto out;
	if (archive_write_close(t.a) != ARCHIVE_OK) {
		tar_fail(&t, "cannot write");
		goto out;
	}
	rc = cb_tmp_commit(fd, &tmp, final, CB_WRITE_DURABLE, err, errlen);
	fd = -1;
out:
	archive_write_free(t.a);
	if (fd >= 0)
		cb_tmp_abandon(fd, &tmp);
	return rc;
}

static int write_texts(struct bundle *bd)
{
	const char **argv = rep_run_command(bd->f), **env = rep_trial_env_list(bd->f);
	char *texts[6] = { 0 };
	static const char *const names[6] = { "command.txt", "env.txt", "repro.sh",
					      "excerpt.log", "report.md", "README.md" };
	size_t i;
	int rc = 0;

	if (!argv || bnd_tools_carry(bd, argv) < 0) {
		if (!argv)
			cb_set_err(bd->fb.err, bd->fb.errlen,
				   "run.json holds no command: no repro.sh to write");
		free(argv);
		free(env);
		return -1;
	}
	texts[0] = lines_text(argv);
	texts[1] = lines_text(env);
	texts[2] = rep_repro_text(bd, argv);
	texts[3] = rep_excerpt_text(bd->f);
	texts[4] = rep_md_text(bd->f);
	texts[5] = readme_text(bd);
	for (i = 0; i < 6; i++) {
		if (rc == 0)
			rc = write_text(bd, names[i], texts[i], i == 2 ? 0777 : 0666);
		free(texts[i]);
	}
	free(argv);
	free(env);
	return rc;
}

static void bundle_release(struct bundle *bd)
{
	size_t k, j;

	if (bd->fb.rel) {
		for (k = 0; k < bd->fb.ncases; k++) {
			for (j = 0; bd->fb.rel[k] && j < bd->fb.cases[k]->nfiles; j++)
				free(bd->fb.rel[k][j]);
			free(bd->fb.rel[k]);
		}
		free(bd->fb.rel);
	}
	for (k = 0; bd->fb.fix && k < bd->fb.ncases; k++)
		free(bd->fb.fix[k]);
	free(bd->fb.fix);
	bnd_tools_release(bd);
	free((void *)bd->fb.cases);
	free(bd->dir);
	free((void *)bd->fb.data);
}

int rep_bundle_write(const struct rep_facts *f, char *err, size_t errlen)
{
	char *dir = cb_path_join(f->in->workdir, BUNDLE_NAME);
	char *tarball = cb_path_join(f->in->workdir, TARBALL_NAME);
	struct rep_bundle_dest d = { dir, tarball, f->in->workdir, NULL, NULL, false, NULL };
	int rc = rep_bundle_write_to(f, &d, err, errlen);

	free(dir);
	free(tarball);
	return rc;
}

int rep_bundle_write_to(const struct rep_facts *f, const struct rep_bundle_dest *d, char *err,
			size_t errlen)
{
	const struct report_input *in = f->in;
	const struct ds_case **cases = xcalloc(f->nbundle + 1, sizeof(*cases));
	struct bundle bd = { 0 };
	char *data, scratch[256];
	size_t k;
	int rc = -1;

	for (k = 0; k < f->nbundle; k++)
		cases[k] = &in->ds->cases[f->bundle[k]];
	bd.f = f;
	bd.dest = d;
	bd.fb.ds = in->ds;
	bd.fb.cases = cases;
	bd.fb.ncases = f->nbundle;
	bd.fb.write = bundle_write;
	bd.fb.copy = bundle_copy;
	bd.fb.copy_case = bundle_copy_case;
	bd.fb.raw_only = d->raw_only;
	bd.fb.err = err;
	bd.fb.errlen = errlen;
	bd.dir = cb_path_join(d->scratch, ".bundle.new.XXXXXX");
	if (!mkdtemp(bd.dir)) {
		cb_set_err(err, errlen, "%s: cannot create: %s", bd.dir, strerror(errno));
		free(bd.dir);
		bd.dir = NULL;
		goto out;
	}
	data = cb_path_join(bd.dir, "dataset");
	bd.fb.data = data;
	if (make_dir(data, err, errlen) < 0 || place_files(&bd.fb) < 0 || copy_cases(&bd) < 0 ||
	    write_meta(&bd.fb) < 0 || write_texts(&bd) < 0 ||
	    swap_in(bd.dir, d->dir, d->scratch, err, errlen) < 0)
		goto out;
	rc = write_tarball(d->dir, d->tarball, err, errlen);
	if (rc < 0)
		unlink(d->tarball); /* an archive of the last bundle would not match this one */
out:
	/* After a failure, what was half built goes; the old bundle stays. */
	if (rc < 0 && bd.dir)
		rep_remove_tree(bd.dir, scratch, sizeof(scratch));
	bundle_release(&bd);
	return rc;
}
