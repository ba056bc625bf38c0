/* bundle_tools: casebisect's own programs that the user's command runs
 * (harness/toytrain, the nnU-Net probe's launcher, ...), carried into the
 * bundle's tools/ folder, and repro.sh's lines that find them there.
 *
 * Design note: a program is recognised by its file name (toytrain,
 * casebisect-nnunet-train, ...) on an argument that names an existing file
 * by a path (absolute, or relative to the trials' folder), not by comparing
 * it with this casebisect's own helpers: a report written later by another
 * build, or an installed casebisect, still finds it. A binary travels with
 * its C source when that is found beside it (a checkout) or among the
 * helpers: the binary runs at once where the libraries match, and repro.sh
 * rebuilds it with cc into its temporary folder where it does not run. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "casebisect/path.h"

struct tool_kind {
	const char *name;      /* the program's file name */
	const char *dir;       /* where it goes in the bundle */
	const char *var;       /* repro.sh's variable */
	const char *beside[2]; /* files it needs beside it (a script's), or its source */
	const char *helper_dir; /* where casebisect's helpers keep them, under harness/ */
	const char *build;     /* NULL: a script, beside[] is required */
};

static const struct tool_kind kinds[] = {
	{ "toytrain", "tools", "toytrain", { "toytrain.c", NULL }, "",
	  "cc -O2 -I/usr/include/nifti -o \"$out\" \"$src\" -lniftiio -lznz -lz -lm" },
	{ "toytrain-cuda", "tools", "toytrain_cuda", { "toytrain.cu", "toytrain.c" }, "",
	  "nvcc -O2 -I/usr/include/nifti -o \"$out\" \"$src\" -lniftiio -lznz -lz -lm" },
	{ "torchtrain.py", "tools", "torchtrain", { NULL, NULL }, "", NULL },
	{ "casebisect-nnunet-train", "tools/nnunet", "nnunet_train",
	  { "casebisect_nnunet_probe.py", NULL }, "nnunet/", NULL },
};

/* The file arg names, absolute, when it names one by a path; or NULL. */
static char *arg_file(const char *arg, const char *cwd)
{
	char *abs;

	if (!strchr(arg, '/'))
		return NULL; /* found on PATH: the user's, not ours */
	if (arg[0] == '/')
		abs = xstrdup(arg);
	else if (cwd)
		abs = cb_path_join(cwd, arg);
	else
		return NULL;
	if (cb_is_file(abs))
		return abs;
	free(abs);
	return NULL;
}

/* name beside prog, else among casebisect's helpers; or NULL. */
static char *find_beside(const char *prog, const struct tool_kind *k, const char *name)
{
	char *dir = path_dir(prog), *p = cb_path_join(dir, name), *sub;

	free(dir);
	if (cb_is_file(p))
		return p;
	free(p);
	sub = cb_fmt("%s%s", k->helper_dir, name);
	p = cb_find_helper("harness", sub, R_OK);
	free(sub);
	return p;
}

/* Copies prog and what it needs of kind k into the bundle: t's rel, src_rel. */
static int carry(struct bundle *bd, const struct tool_kind *k, const char *prog,
		 struct bnd_tool *t)
{
	size_t i;
	int rc = 0;

	t->rel = cb_path_join(k->dir, k->name);
	if (bnd_copy(bd, prog, t->rel, 0777) < 0)
		return -1;
	for (i = 0; rc == 0 && i < CB_ARRAY_SIZE(k->beside) && k->beside[i]; i++) {
		char *src = find_beside(prog, k, k->beside[i]), *rel;

		if (!src) {
			if (!k->build) {
				cb_set_err(bd->fb.err, bd->fb.errlen, "%s: %s is not beside it: the bundle "
					   "cannot carry what it needs", prog, k->beside[i]);
				return -1;
			}
			break; /* a binary without its source still travels */
		}
		rel = cb_path_join(k->dir, k->beside[i]);
		rc = bnd_copy(bd, src, rel, 0666);
		if (i == 0 && k->build)
			t->src_rel = rel;
		else
			free(rel);
		free(src);
	}
	return rc;
}

int bnd_tools_carry(struct bundle *bd, const char *const *argv)
{
	const char *cwd = rep_run_str(bd->f, "options", "cwd");
	size_t i, n, j, m;

	for (n = 0; argv[n]; n++)
		;
	bd->tools = xcalloc(n + 1, sizeof(*bd->tools));
	for (i = 0; i < n; i++) {
		char *prog = arg_file(argv[i], cwd);
		const struct tool_kind *k = NULL;
		struct bnd_tool *t = &bd->tools[bd->ntools];

		for (j = 0; prog && j < CB_ARRAY_SIZE(kinds) && !k; j++)
			if (!strcmp(path_base(prog), kinds[j].name))
				k = &kinds[j];
		if (!k) {
			free(prog);
			continue;
		}
		t->argi = i;
		t->var = k->var;
		t->build = k->build;
		/* The same program twice in one command travels once. */
		for (m = 0; m < bd->ntools && strcmp(bd->tools[m].var, k->var); m++)
			;
		if (m < bd->ntools) {
			t->rel = xstrdup(bd->tools[m].rel);
			t->src_rel = bd->tools[m].src_rel ? xstrdup(bd->tools[m].src_rel) : NULL;
		} else if (carry(bd, k, prog, t) < 0) {
			bd->ntools++;
			free(prog);
			return -1;
		}
		bd->ntools++;
		free(prog);
	}
	return 0;
}

const struct bnd_tool *bnd_tool_of(const struct bundle *bd, size_t argi)
{
	size_t i;

	for (i = 0; i < bd->ntools; i++)
		if (bd->tools[i].argi == argi)
			return &bd->tools[i];
	return NULL;
}

void bnd_repro_tools(struct rep_buf *b, const struct bundle *bd)
{
	size_t i, m;

	if (!bd->ntools)
		return;
	rep_buf_puts(b, "# casebisect's own programs the command runs, carried in tools/\n");
	for (i = 0; i < bd->ntools; i++) {
		const struct bnd_tool *t = &bd->tools[i];

		for (m = 0; m < i && strcmp(bd->tools[m].var, t->var); m++)
			;
		if (m < i)
			continue;
		rep_buf_printf(b, "%s=\"$here/\"", t->var);
		rep_sh_word(b, t->rel);
		rep_buf_puts(b, "\n");
		if (!t->build)
			continue;
		/* --help runs nothing: it says whether the binary loads here. */
		rep_buf_printf(b, "if ! \"$%s\" --help >/dev/null 2>&1; then\n", t->var);
		if (!t->src_rel) {
			rep_buf_printf(b, "\techo \"repro.sh: $%s does not run here, and the bundle has no "
				       "source to rebuild it from\" >&2\n\texit 127\nfi\n", t->var);
			continue;
		}
		rep_buf_printf(b, "\techo \"repro.sh: $%s does not run here: rebuilding it from ", t->var);
		rep_buf_puts(b, t->src_rel);
		rep_buf_printf(b, "\" >&2\n"
			       "\tsrc=\"$here/\"'%s' out=\"$tmp/tools/%s\"\n"
			       "\tmkdir -p -- \"$tmp/tools\" && %s || {\n"
			       "\t\techo \"repro.sh: cannot build it: install a C compiler and niftilib "
			       "(Debian: gcc libnifti-dev)\" >&2\n"
			       "\t\texit 127\n\t}\n"
			       "\t%s=$out\nfi\n",
			       t->src_rel, path_base(t->rel), t->build, t->var);
	}
	rep_buf_puts(b, "\n");
}

void bnd_tools_release(struct bundle *bd)
{
	size_t i;

	for (i = 0; i < bd->ntools; i++) {
		free(bd->tools[i].rel);
		free(bd->tools[i].src_rel);
	}
	free(bd->tools);
	bd->tools = NULL;
	bd->ntools = 0;
}
