/* dataset_manifest: which case files a changed dataset changed. run writes
 * the manifest (each case file's path, size and mtime) into the work
 * directory; a resume refused for a changed dataset compares it with the
 * dataset now and names the files that changed, went or came. See
 * ds_manifest() in include/casebisect/dataset.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "casebisect/dataset.h"
#include "casebisect/util.h"

struct mf_line {
	const char *id, *path;
	long long size, mtime;
};

/* A growing string: appends cost their own length, not the whole. */
struct mf_buf {
	char *s;
	size_t len, cap;
};

static void mf_addf(struct mf_buf *b, const char *fmt, ...) CB_PRINTF(2, 3);

static void mf_addf(struct mf_buf *b, const char *fmt, ...)
{
	va_list ap;
	char *piece;
	size_t n;

	va_start(ap, fmt);
	piece = cb_vfmt(fmt, ap);
	va_end(ap);
	n = strlen(piece);
	if (b->len + n + 1 > b->cap) {
		b->cap = 2 * (b->len + n + 1);
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, piece, n + 1);
	b->len += n;
	free(piece);
}

static int cmp_mf_path(const void *a, const void *b)
{
	return strcmp(((const struct mf_line *)a)->path, ((const struct mf_line *)b)->path);
}

char *ds_manifest(const struct dataset *ds)
{
	struct mf_buf out = { xstrdup(""), 0, 1 };
	size_t i, j;

	for (i = 0; i < ds->ncases; i++)
		for (j = 0; j < ds->cases[i].nfiles; j++) {
			const char *f = ds->cases[i].files[j];
			struct stat st;
			long long size = -1, mtime = -1;

			if (!stat(f, &st)) {
				size = (long long)st.st_size;
				mtime = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
			}
			mf_addf(&out, "%s\t%s\t%lld\t%lld\n", ds->cases[i].id, f, size, mtime);
		}
	return out.s;
}

/* text's lines as mf_lines pointing into it (its tabs and newlines become
 * NULs), sorted by path; malformed lines are skipped. */
static struct mf_line *mf_parse(char *text, size_t *n)
{
	struct mf_line *v = NULL;
	char *line, *save = NULL;

	*n = 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[4], *p = line;
		int k;

		for (k = 0; k < 4 && p; k++) {
			f[k] = p;
			p = strchr(p, '\t');
			if (p)
				*p++ = '\0';
		}
		if (k < 4)
			continue;
		v = xrealloc(v, (*n + 1) * sizeof(*v));
		v[*n].id = f[0];
		v[*n].path = f[1];
		v[*n].size = strtoll(f[2], NULL, 10);
		v[*n].mtime = strtoll(f[3], NULL, 10);
		(*n)++;
	}
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_mf_path);
	return v;
}

char *ds_manifest_diff(const struct dataset *ds, const char *manifest, size_t max)
{
	char *was_text = xstrdup(manifest), *now_text = ds_manifest(ds);
	struct mf_buf out = { xstrdup(""), 0, 1 };
	size_t nw, nn, i = 0, j = 0, shown = 0, more = 0, cut;
	struct mf_line *w = mf_parse(was_text, &nw), *n = mf_parse(now_text, &nn);
	char *dir = xstrdup(ds->root);
	struct stat st;

	/* paths are shown from the dataset's folder (an msd root is its JSON) */
	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		char *slash = strrchr(dir, '/');

		if (slash && slash != dir)
			*slash = '\0';
	}
	cut = strlen(dir);
	while (i < nw || j < nn) {
		int c = i >= nw ? 1 : j >= nn ? -1 : strcmp(w[i].path, n[j].path);
		const struct mf_line *l = c <= 0 ? &w[i] : &n[j];
		const char *shown_path = !strncmp(l->path, dir, cut) && l->path[cut] == '/' ?
						 l->path + cut + 1 : l->path;
		char *what = NULL;

		if (c < 0)
			what = cb_fmt("%s: gone (case %s)", shown_path, w[i].id);
		else if (c > 0)
			what = cb_fmt("%s: new (case %s)", shown_path, n[j].id);
		else if (w[i].size != n[j].size)
			what = cb_fmt("%s: changed (size %lld -> %lld)", shown_path, w[i].size,
				      n[j].size);
		else if (w[i].mtime != n[j].mtime)
			what = cb_fmt("%s: modified (same size, a new mtime)", shown_path);
		i += c <= 0;
		j += c >= 0;
		if (!what)
			continue;
		if (shown < max)
			mf_addf(&out, "%s%s", shown++ ? "\n" : "", what);
		else
			more++;
		free(what);
	}
	if (more)
		mf_addf(&out, "\n(and %zu more)", more);
	free(dir);
	free(w);
	free(n);
	free(was_text);
	free(now_text);
	return out.s;
}
