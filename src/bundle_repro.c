/* bundle_repro: the bundle's repro.sh, which reruns the command on the
 * culprits alone with the trials' environment; the format's repro_view
 * hook (format.h) writes the part that sets $view. Every byte from the
 * dataset or the command goes inside single quotes (bundle.c's design
 * note says why). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bundle.h"

static void sh_quote(struct rep_buf *b, const char *s)
{
	rep_buf_puts(b, "'");
	for (; *s; s++) {
		if (*s == '\'')
			rep_buf_puts(b, "'\\''");
		else
			rep_buf_add(b, s, 1);
	}
	rep_buf_puts(b, "'");
}

/* One argument of the command, its placeholders replaced by the script's
 * variables of the same name (matched as sup_expand_argv() does: at each
 * position the first name that fits). */
static void sh_arg(struct rep_buf *b, const char *a)
{
	static const char *const names[] = { "trial_dir", "cases_file", "files_file", "view", "n" };
	const char *lit = a;
	bool any = false;
	size_t i, len;

	while (*a) {
		for (i = 0; i < CB_ARRAY_SIZE(names); i++) {
			len = strlen(names[i]);
			if (a[0] == '{' && !strncmp(a + 1, names[i], len) && a[len + 1] == '}')
				break;
		}
		if (i == CB_ARRAY_SIZE(names)) {
			a++;
			continue;
		}
		if (a > lit) {
			char *piece = xmalloc((size_t)(a - lit) + 1);

			memcpy(piece, lit, (size_t)(a - lit));
			piece[a - lit] = '\0';
			sh_quote(b, piece);
			free(piece);
		}
		rep_buf_printf(b, "\"${%s}\"", names[i]);
		a += len + 2;
		lit = a;
		any = true;
	}
	if (*lit || !any)
		sh_quote(b, lit);
}

/* "$data/"'rel' : a file of the bundle, found wherever it was moved. */
static void sh_data_path(struct rep_buf *b, const char *rel)
{
	rep_buf_puts(b, "\"$data/\"");
	sh_quote(b, rel);
}

static void repro_lists(struct rep_buf *b, const struct bundle *bd)
{
	size_t k, j;

	rep_buf_puts(b, "# {cases_file} and {files_file}: the cases, and their files in this bundle\n"
		    "cases_file=\"$tmp/cases.txt\"\n"
		    "files_file=\"$tmp/files.txt\"\n"
		    "{\n");
	for (k = 0; k < bd->fb.ncases; k++) {
		rep_buf_puts(b, "\tprintf '%s\\n' ");
		sh_quote(b, bd->fb.cases[k]->id);
		rep_buf_puts(b, "\n");
	}
	rep_buf_puts(b, "} >\"$cases_file\"\n{\n");
	for (k = 0; k < bd->fb.ncases; k++) {
		const struct ds_case *c = bd->fb.cases[k];

		rep_buf_puts(b, "\tprintf '");
		for (j = 0; j < c->nfiles; j++)
			rep_buf_puts(b, j ? "\\t%s" : "%s");
		rep_buf_puts(b, "\\n'");
		for (j = 0; j < c->nfiles; j++) {
			rep_buf_puts(b, " ");
			sh_data_path(b, bd->fb.rel[k][j]);
		}
		rep_buf_puts(b, "\n");
	}
	rep_buf_puts(b, "} >\"$files_file\"\n\n");
}

static void sh_text(struct fmt_sh *sh, const char *s)
{
	rep_buf_puts(sh->buf, s);
}

static void sh_quote_word(struct fmt_sh *sh, const char *s)
{
	sh_quote(sh->buf, s);
}

static void sh_data_file(struct fmt_sh *sh, const char *rel)
{
	sh_data_path(sh->buf, rel);
}

/* The part that sets $view: the format's (format.h). */
static void repro_view(struct rep_buf *b, const struct bundle *bd)
{
	struct fmt_sh sh = { sh_text, sh_quote_word, sh_data_file, b };

	ds_format_ops(bd->fb.ds->format)->repro_view(&sh, &bd->fb);
}

/* Where the dataset path in arg begins (its start, or after "--opt="), and
 * the rest of it after the dataset's root, when arg names the root or a
 * file under it; else NULL. The caller frees it. */
static char *root_suffix(const char *arg, const char *cwd, const char *root, size_t *at)
{
	const char *eq = strchr(arg, '='), *path;
	char *abs, *rest = NULL;
	size_t len = strlen(root);

	*at = arg[0] == '-' && eq ? (size_t)(eq + 1 - arg) : 0;
	path = arg + *at;
	if (!strncmp(path, root, len) && (path[len] == '\0' || path[len] == '/'))
		return xstrdup(path + len); /* as written, a trailing '/' kept */
	if (path[0] == '/' || !cwd || !strchr(path, '/'))
		return NULL;
	abs = ld_path_resolve(cwd, path);
	if (!strncmp(abs, root, len) && (abs[len] == '\0' || abs[len] == '/'))
		rest = xstrdup(abs + len);
	free(abs);
	return rest;
}

/* An argument naming the dataset, the bundle's counterpart in its place
 * (the format's repro_root); false when it names something else. */
static bool sh_root_arg(struct rep_buf *b, const struct bundle *bd, const char *a, const char *cwd)
{
	const struct ds_format_ops *ops = ds_format_ops(bd->fb.ds->format);
	struct fmt_sh sh = { sh_text, sh_quote_word, sh_data_file, b };
	struct rep_buf expr = { 0 };
	struct fmt_sh esh = { sh_text, sh_quote_word, sh_data_file, &expr };
	char *rest = NULL;
	size_t at;

	if (!ops->repro_root || !(rest = root_suffix(a, cwd, bd->fb.ds->root, &at)) ||
	    !ops->repro_root(&esh, &bd->fb)) {
		free(rep_buf_take(&expr));
		free(rest);
		return false;
	}
	if (at) {
		char *opt = strndup(a, at);

		sh_quote(b, opt);
		free(opt);
	}
	sh.text(&sh, expr.s);
	if (*rest)
		sh_quote(b, rest);
	free(rep_buf_take(&expr));
	free(rest);
	return true;
}

/* Can bash export this "K=V" as it is? */
static bool env_name_ok(const char *kv)
{
	const char *p = kv;

	if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_'))
		return false;
	for (p++; *p && *p != '='; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_' ||
		      (*p >= '0' && *p <= '9')))
			return false;
	return *p == '=';
}

static void repro_env(struct rep_buf *b, const struct rep_facts *f)
{
	const char **env = rep_trial_env_list(f);
	size_t i;

	rep_buf_puts(b, "# the environment of the trials (env.txt); CUDA_VISIBLE_DEVICES is yours "
		    "to choose\n");
	if (rep_run_true(f, "options", "no_blocking"))
		rep_buf_puts(b, "unset CUDA_LAUNCH_BLOCKING\n");
	for (i = 0; env[i]; i++) {
		if (env_name_ok(env[i])) {
			rep_buf_puts(b, "export ");
			sh_quote(b, env[i]);
			rep_buf_puts(b, "\n");
		} else {
			/* A comment must not end early: no newline of it may get out. */
			rep_buf_puts(b, "# not a variable bash can export, left out: ");
			rep_md_verbatim(b, env[i], false, false);
			rep_buf_puts(b, "\n");
		}
	}
	rep_buf_puts(b, "\n");
	free(env);
}

/* Does s name a file or folder of the user's by a relative path (one that
 * is there, when the trials' folder is known)? */
static bool is_relative_path(const char *s, const char *cwd)
{
	char *p;
	bool there;

	if (s[0] == '/' || !strchr(s, '/'))
		return false;
	if (!cwd)
		return true;
	p = cb_path_join(cwd, s);
	there = access(p, F_OK) == 0;
	free(p);
	return there;
}

/* The command's arguments: casebisect's programs as the bundle's copies
 * ($toytrain), the dataset as the bundle's, the rest as given; it runs in
 * the temporary folder unless one of the rest is a relative path (a file
 * of the user's, not carried). The format's other modes come first. */
static void repro_command(struct rep_buf *b, const struct bundle *bd, const char **argv,
			  const char *cwd)
{
	struct rep_buf cmd = { 0 };
	bool relative = false;
	size_t i;

	for (i = 0; argv[i]; i++) {
		const struct bnd_tool *t = bnd_tool_of(bd, i);

		if (i)
			rep_buf_puts(&cmd, " \\\n\t");
		if (t)
			rep_buf_printf(&cmd, "\"$%s\"", t->var);
		else if (!sh_root_arg(&cmd, bd, argv[i], cwd)) {
			relative = relative || is_relative_path(argv[i], cwd);
			sh_arg(&cmd, argv[i]);
		}
	}
	if (relative) {
		rep_buf_puts(b, "# The command names relative paths of your own: they are found from the "
			     "folder the\n# trials ran in when it is here, else from the folder you "
			     "run this script from.\n");
		if (cwd) {
			rep_buf_puts(b, "if [ -d ");
			sh_quote(b, cwd);
			rep_buf_puts(b, " ]; then cd -- ");
			sh_quote(b, cwd);
			rep_buf_puts(b, " || exit 1; fi\n\n");
		}
	} else {
		rep_buf_puts(b, "# it runs in the temporary folder: what it writes goes there\n"
			     "cd -- \"$tmp\" || exit 1\n\n");
	}
	{
		struct fmt_sh sh = { sh_text, sh_quote_word, sh_data_file, b };
		const struct ds_format_ops *ops = ds_format_ops(bd->fb.ds->format);

		if (ops->repro_modes)
			ops->repro_modes(&sh, &bd->fb, (const char *const *)argv);
	}
	rep_buf_puts(b, "# the command, as the trials ran it\n");
	rep_buf_add(b, cmd.s ? cmd.s : "", cmd.len);
	free(rep_buf_take(&cmd));
}

char *rep_repro_text(const struct bundle *bd, const char **argv)
{
	const struct rep_facts *f = bd->f;
	const char *cwd = rep_run_str(f, "options", "cwd");
	struct rep_buf b = { 0 };

	rep_buf_printf(&b, "#!/usr/bin/env bash\n"
		       "# repro.sh: reruns the command that crashed training, on the %zu case%s "
		       "of this bundle\n"
		       "# alone, with the environment casebisect's trials had. Run it from "
		       "anywhere:\n#     bash repro.sh\n"
		       "# It exits with the command's exit status. What the command writes goes to "
		       "a\n# temporary folder, removed at the end.\n"
		       "set -u\n\n"
		       "here=$(cd -- \"$(dirname -- \"${BASH_SOURCE[0]}\")\" && pwd -P) || exit 1\n"
		       "data=\"$here/dataset\"\n"
		       "tmp=$(mktemp -d \"${TMPDIR:-/tmp}/casebisect-repro.XXXXXX\") || exit 1\n"
		       "trap 'rm -rf -- \"$tmp\"' EXIT\n"
		       "trap 'exit 130' INT\n"
		       "trap 'exit 143' TERM\n\n",
		   bd->fb.ncases, rep_plural(bd->fb.ncases));
	repro_lists(&b, bd);
	repro_env(&b, f);
	bnd_repro_tools(&b, bd);
	repro_view(&b, bd);
	rep_buf_printf(&b, "trial_dir=\"$tmp\"\nn=%zu\n\n", bd->fb.ncases);
	repro_command(&b, bd, argv, cwd);
	rep_buf_puts(&b, "\nexit $?\n");
	return rep_buf_take(&b);
}

