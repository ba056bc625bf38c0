/* format_list: a case list, as a text file (one case per line: an ID,
 * optionally a tab and its files, tab separated) or a folder whose files are
 * the cases. The view is the lists themselves ({view} is {cases_file}). See
 * format.h for the ops and dataset.h for the format. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "casebisect/path.h"
#include "casebisect/util.h"
#include "format.h"

/* ---- detect ---- */

/* Anything no other format claims: a folder of case files, or a text file. */
static bool detect_list(const char *root, bool is_dir, const struct ld_names *top)
{
	(void)root;
	(void)is_dir;
	(void)top;
	return true;
}

/* ---- load ---- */

static int load_list_file(struct ld *l)
{
	struct dataset *ds = l->ds;
	const char *path = ds->root;
	char *dir = ld_dir_of(path), *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	FILE *f;
	int ret = -1;

	l->src = SRC_LIST_FILE;
	f = fopen(path, "r");
	if (!f) {
		ld_fail(l, "%s: cannot read: %s", path, strerror(errno));
		goto out_nof;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		char *p, *tab, *id;
		size_t nf = 0;
		const char *why;

		lineno++;
		if ((size_t)n != strlen(line)) {
			ld_fail(l, "%s:%zu: a NUL byte; a case list is a text file with one case ID per "
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
		why = ld_id_problem(line);
		if (!why && (line[0] == ' ' || line[strlen(line) - 1] == ' '))
			why = "starts or ends with a space";
		if (why) {
			ld_fail(l, "%s:%zu: case ID \"%s\" %s%s", path, lineno, line, why,
				strchr(line, '/') || strchr(line, ' ')
					? " (each line is a case ID, then a tab and the case's files)"
					: "; rename the case");
			goto out;
		}
		id = xstrdup(line);
		ld_add_case(l, id, nf, lineno);
		for (p = tab ? tab + 1 : NULL; p;) {
			char *next = strchr(p, '\t'), *abs;

			if (next)
				*next = '\0';
			if (*p) {
				abs = ld_path_resolve(dir, p);
				if (ld_add_file(l, AT_FDCWD, abs, abs)) {
					ld_relative_failed(l, cb_fmt("%s:%zu: \"%s\"", path, lineno, p),
							   abs, "the list's folder");
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
		ld_fail(l, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if (!ds->ncases) {
		ld_fail(l, "%s: no cases (one case ID per line, optionally a tab and its files; lines "
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

static int load_list_dir(struct ld *l, const struct ld_names *top)
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
		id = ld_strip_ext(name);
		why = ld_id_problem(id);
		if (why) {
			ld_fail(l, "%s/%s: case ID \"%s\" %s; rename the file", ds->root, name, id, why);
			free(id);
			return -1;
		}
		ld_add_case(l, id, 1, i);
		if (ld_add_file(l, top->fd, name, cb_path_join(ds->root, name)))
			return ld_file_failed(l, name, ld_vanished);
	}
	if (!ds->ncases) {
		if (ndataset)
			ld_fail(l, "%s: no cases, but folders such as %s; pass one dataset folder (e.g. "
				"%s/%s), not the nnUNet_raw or nnUNet_preprocessed root", ds->root, sub,
				ds->root, sub);
		else
			ld_fail(l, "%s: no cases (a case-list folder holds one file per case; for "
				"nnU-Net, pass the dataset folder with dataset.json)", ds->root);
		return -1;
	}
	if (nsub)
		ld_warn(l, "%s: %zu subfolder%s ignored (e.g. %s); the cases are the files", ds->root,
			nsub, nsub == 1 ? "" : "s", sub);
	return 0;
}

static int load_list(struct ld *l, bool is_dir, const struct ld_names *top)
{
	return is_dir ? load_list_dir(l, top) : load_list_file(l);
}

/* ---- view: nothing beyond cases.txt and files.txt ---- */

static int build_list(struct view_builder *b, struct view *v)
{
	(void)b;
	v->env = xcalloc(1, sizeof(*v->env));
	return 0;
}

/* ---- the repro bundle ---- */

/* Where the file is under the list's folder (the folder itself, for a
 * folder of cases), the same relative path; else external/<id>/<name>. */
static char *list_bundle_place(const struct fmt_bundle *bd, size_t k, size_t j)
{
	const struct dataset *ds = bd->ds;
	struct stat st;
	char *base, *rel;

	if (stat(ds->root, &st) == 0 && S_ISDIR(st.st_mode))
		base = xstrdup(ds->root);
	else
		base = path_dir(ds->root);
	rel = bnd_place_under(bd, k, j, base);
	free(base);
	return rel;
}

/* cases.txt (IDs) and files.txt (each case's files, tab separated,
 * relative to the bundle's dataset folder). */
static int list_bundle_meta(struct fmt_bundle *bd)
{
	char *ctext = NULL, *ftext = NULL;
	size_t clen = 0, flen = 0, k, j;
	FILE *cases = open_memstream(&ctext, &clen), *files = open_memstream(&ftext, &flen);
	int rc;

	if (!cases || !files)
		die("out of memory");
	for (k = 0; k < bd->ncases; k++) {
		const struct ds_case *c = bd->cases[k];

		fprintf(cases, "%s\n", c->id);
		for (j = 0; j < c->nfiles; j++)
			fprintf(files, "%s%s", j ? "\t" : "", bd->rel[k][j]);
		fputs("\n", files);
	}
	if (fclose(cases) != 0 || fclose(files) != 0)
		die("out of memory");
	rc = bd->write(bd, "cases.txt", ctext, clen);
	if (rc == 0)
		rc = bd->write(bd, "files.txt", ftext, flen);
	free(ctext);
	free(ftext);
	return rc;
}

static void list_repro_view(struct fmt_sh *sh, const struct fmt_bundle *bd)
{
	(void)bd;
	sh->text(sh, "# {view}: for a list of cases, the cases file\n"
		     "view=\"$cases_file\"\n\n");
}

/* A folder of cases: the bundle's dataset folder holds them at the same
 * paths. A list file has no counterpart (the bundle's lists are its own). */
static bool list_repro_root(struct fmt_sh *sh, const struct fmt_bundle *bd)
{
	struct stat st;

	if (stat(bd->ds->root, &st) != 0 || !S_ISDIR(st.st_mode))
		return false;
	sh->text(sh, "\"$data\"");
	return true;
}

const struct ds_format_ops fmt_list = {
	FMT_CORE(DS_LIST, "list", detect_list, load_list, build_list),
	.bundle_place = list_bundle_place,
	.bundle_meta = list_bundle_meta,
	.bundle_words = "cases.txt (the IDs) and files.txt (each case's files, relative to "
			"dataset/)",
	.repro_view = list_repro_view,
	.repro_root = list_repro_root,
};
