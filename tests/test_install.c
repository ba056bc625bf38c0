/* test_install: casebisect as an installed tool meets its user: the man page
 * says what each command's --help says, bash completes commands, options
 * and their values from the binary, and --version names the build.
 * (`make install` itself is tested by tests/install.sh, run by make test.) */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "casebisect/util.h"

#include "helpers.h"

#define MAX_NAMES 128

struct names {
	char *v[MAX_NAMES];
	size_t n;
};

/* The first len bytes of p, as a string the caller frees. */
static char *cut(const char *p, size_t len)
{
	char *s = xmalloc(len + 1);

	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

static void names_add(struct names *s, const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strlen(s->v[i]) == len && memcmp(s->v[i], p, len) == 0)
			return;
	cr_assert_lt(s->n, MAX_NAMES);
	s->v[s->n++] = cut(p, len);
}

static bool names_has(const struct names *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return true;
	return false;
}

static void names_release(struct names *s)
{
	while (s->n)
		free(s->v[--s->n]);
}

/* The lines of a help's "NAME:" block (commands, options), up to a blank
 * line, as one string the caller frees. */
static char *help_block(const char *help, const char *name)
{
	char head[32];
	const char *p, *end;

	snprintf(head, sizeof(head), "\n%s:\n", name);
	p = strstr(help, head);
	cr_assert(p, "no '%s:' block in:\n%s", name, help);
	p += strlen(head);
	end = strstr(p, "\n\n");
	return cut(p, end ? (size_t)(end - p + 1) : strlen(p));
}

/* The commands `casebisect --help` lists, help itself left out. */
static void listed_commands(struct names *out)
{
	struct run r;
	char *block, *line;

	run(&r, "--help");
	cr_assert_eq(r.code, 0);
	block = help_block(r.out, "commands");
	for (line = block; *line; line = strchr(line, '\n') + 1) {
		size_t len = strcspn(line + 2, " \n");

		if (len != 4 || memcmp(line + 2, "help", 4) != 0)
			names_add(out, line + 2, len);
	}
	cr_assert_gt(out->n, 5, "commands:\n%s", block);
	free(block);
	run_release(&r);
}

/* The option names ("-j", "--jobs") of `casebisect CMD --help`: the words
 * that start with '-' before the help text of each options line. */
static void help_options(const char *cmd, struct names *out)
{
	struct run r;
	char *block, *line;

	run(&r, cmd, "--help");
	cr_assert_eq(r.code, 0, "%s --help: exit %d", cmd, r.code);
	block = help_block(r.out, "options");
	for (line = block; *line; line = strchr(line, '\n') + 1) {
		const char *p = line + 2;

		while (*p == '-') {
			size_t len = strcspn(p, " ,\n");

			names_add(out, p, len);
			p += len;
			if (*p == ',')
				p++;
			if (p[0] != ' ' || p[1] != '-')
				break; /* a value name, or the help text */
			p++;
		}
	}
	cr_assert_gt(out->n, 0, "%s: no options in:\n%s", cmd, block);
	free(block);
	run_release(&r);
}

static char *man_page(void)
{
	char *path = src_file("docs/casebisect.1");
	char *text = cb_read_file(path, NULL);

	cr_assert(text, "cannot read %s", path);
	free(path);
	return text;
}

/* The options the man page's section for cmd defines: the \fB...\fR words
 * of each .TP item's tag line, "\-" read as "-". Fails when the page has
 * no section for cmd. */
static void man_options(const char *page, const char *cmd, struct names *out)
{
	char head[64];
	const char *p, *end, *tag;

	snprintf(head, sizeof(head), "\n.SS \"casebisect %s\"\n", cmd);
	p = strstr(page, head);
	cr_assert(p, "the man page has no section for '%s'", cmd);
	p += strlen(head);
	end = p + strlen(p);
	if ((tag = strstr(p, "\n.SS ")) && tag < end)
		end = tag;
	if ((tag = strstr(p, "\n.SH ")) && tag < end)
		end = tag;
	for (tag = p; (tag = strstr(tag, "\n.TP\n")) && tag < end;) {
		const char *b, *eol;

		tag += 5;
		eol = strchr(tag, '\n');
		for (b = tag; (b = strstr(b, "\\fB")) && b < eol;) {
			char name[64];
			size_t n = 0;

			for (b += 3; b < eol && strncmp(b, "\\fR", 3) != 0; b++) {
				if (b[0] == '\\' && b[1] == '-')
					b++;
				if (n + 1 < sizeof(name))
					name[n++] = *b;
			}
			if (n && name[0] == '-')
				names_add(out, name, n);
		}
	}
}

Test(install, man_page_has_every_option_of_every_command)
{
	struct names cmds = { 0 };
	char *page = man_page();
	size_t i, j;

	listed_commands(&cmds);
	for (i = 0; i < cmds.n; i++) {
		struct names help = { 0 }, man = { 0 };

		help_options(cmds.v[i], &help);
		man_options(page, cmds.v[i], &man);
		for (j = 0; j < help.n; j++)
			cr_expect(names_has(&man, help.v[j]),
				  "'casebisect %s --help' shows %s, the man page's section does not "
				  "(make regenerates docs/casebisect.1)", cmds.v[i], help.v[j]);
		for (j = 0; j < man.n; j++)
			cr_expect(names_has(&help, man.v[j]),
				  "the man page gives 'casebisect %s' the option %s, which its --help "
				  "no longer shows", cmds.v[i], man.v[j]);
		names_release(&help);
		names_release(&man);
	}
	names_release(&cmds);
	free(page);
}

/* What the man page is made of: `casebisect help CMD` is CMD --help, for
 * every command. */
Test(install, help_command_is_dash_help)
{
	struct names cmds = { 0 };
	size_t i;

	listed_commands(&cmds);
	for (i = 0; i < cmds.n; i++) {
		struct run a, b;

		run(&a, "help", cmds.v[i]);
		run(&b, cmds.v[i], "--help");
		cr_expect_eq(a.code, 0, "help %s: exit %d", cmds.v[i], a.code);
		cr_expect_eq(b.code, 0, "%s --help: exit %d", cmds.v[i], b.code);
		cr_expect_str_eq(a.out, b.out, "'help %s' and '%s --help' differ", cmds.v[i],
				 cmds.v[i]);
		cr_expect(starts_with(a.out, "usage: casebisect "), "%s", a.out);
		run_release(&a);
		run_release(&b);
	}
	names_release(&cmds);
}

Test(install, man_page_has_no_command_that_is_gone)
{
	struct names cmds = { 0 };
	char *page = man_page();
	const char *p = page;

	listed_commands(&cmds);
	while ((p = strstr(p, "\n.SS \"casebisect "))) {
		size_t len;

		p += strlen("\n.SS \"casebisect ");
		len = strcspn(p, "\"");
		char *name = cut(p, len);

		cr_expect(names_has(&cmds, name), "the man page has a section for '%s', which "
			  "'casebisect --help' does not list", name);
		free(name);
	}
	cr_assert(strstr(page, "\n.SH EXIT STATUS\n") && strstr(page, "\n.SH ENVIRONMENT\n") &&
		  strstr(page, "\n.SH FILES\n"), "a section of the man page is missing");
	names_release(&cmds);
	free(page);
}

/* The output of a shell command (run by sh -c), and its exit status. */
static char *shell_output(const char *command, int *status)
{
	FILE *f = popen(command, "r");
	char *buf = NULL;
	size_t len = 0;
	char chunk[4096];
	size_t n;

	cr_assert(f, "popen failed");
	append(&buf, &len, "", 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		append(&buf, &len, chunk, n);
	*status = pclose(f);
	return buf;
}

Test(install, man_page_renders_without_warnings)
{
	char *page = src_file("docs/casebisect.1");
	char *command = cb_fmt("groff -man -Tutf8 -ww -z '%s' 2>&1", page);
	char *out;
	int status;

	cr_assert_eq(access("/usr/bin/groff", X_OK), 0,
		     "groff is not installed (make deps installs groff-base)");
	out = shell_output(command, &status);
	cr_expect_eq(status, 0);
	cr_expect_str_empty(out, "groff warns about docs/casebisect.1:\n%s", out);
	free(out);
	free(command);
	free(page);
}

/* The space-separated words of s into out. */
static void split_words(const char *s, struct names *out)
{
	while (*s) {
		size_t len = strcspn(s, " ");

		if (len)
			names_add(out, s, len);
		s += len + (s[len] == ' ');
	}
}

/* Fails unless line i of out is want. */
static void expect_line(const char *out, size_t i, const char *want)
{
	char *line = line_at(out, i);

	cr_expect_str_eq(line, want, "completion answer %zu", i);
	free(line);
}

/* Runs the completion for each line of cases ("WORD WORD ..." after the
 * program's name, the last word the one completed, '' for an empty one)
 * and returns its answers, one line each: the words of COMPREPLY. */
static char *complete(const char *cases)
{
	char *script = src_file("docs/casebisect.bash-completion");
	char *command = cb_fmt(
		"bash -c 'source \"$0\" || exit 1\n"
		"complete -p casebisect || exit 1\n"
		"while read -r line; do eval \"COMP_WORDS=(\\\"\\$1\\\" $line)\"\n"
		"  COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _casebisect\n"
		"  echo \"${COMPREPLY[*]}\"; done' '%s' '%s' <<'EOF'\n%sEOF\n",
		script, bin(), cases);
	char *out;
	int status;

	out = shell_output(command, &status);
	cr_assert_eq(status, 0, "bash failed:\n%s", out);
	free(command);
	free(script);
	return out;
}

Test(install, completion_completes_commands_options_and_values,
     .init = tmpdir_setup, .fini = tmpdir_teardown)
{
	char *out, *cases, *dirs, *files, *base = at(""), *all = xstrdup("");
	struct names cmds = { 0 };
	size_t i;

	listed_commands(&cmds);
	for (i = 0; i < cmds.n; i++) {
		char *more = cb_fmt("%s%s ", all, cmds.v[i]);

		free(all);
		all = more;
	}
	names_release(&cmds);
	cases = cb_fmt("%shelp", all);
	free(all);
	all = cases;

	mkdir_at("data-dir");
	put("data-file", "");
	cases = cb_fmt("''\n"
		       "r\n"
		       "help au\n"
		       "run --for\n"
		       "run --format ''\n"
		       "cases --format nnunet-\n"
		       "report --format ''\n"
		       "run --gpus ''\n"
		       "run --match k\n"
		       "audit -\n"
		       "run --workdir %s/data-\n"
		       "classify %s/data-\n",
		       base, base);
	out = complete(cases);
	cr_assert(starts_with(out, "complete -F _casebisect casebisect\n"),
		  "complete -p:\n%s", out);
	expect_line(out, 1, all);
	expect_line(out, 2, "run resume report");
	expect_line(out, 3, "audit");
	expect_line(out, 4, "--format");
	expect_line(out, 5, "nnunet-pre nnunet-raw msd list");
	expect_line(out, 6, "nnunet-pre nnunet-raw");
	expect_line(out, 7, "md json");
	expect_line(out, 8, "auto none");
	expect_line(out, 9, "kernel");
	expect_line(out, 10, "--json -j --jobs --images -l --labels --format -c --configuration "
			 "-p --plans -a --all -h --help");
	/* A directory option completes directories only; operands, files too. */
	dirs = line_at(out, 11);
	files = line_at(out, 12);
	cr_expect(strstr(dirs, "data-dir") && !strstr(dirs, "data-file"), "--workdir: %s", dirs);
	cr_expect(strstr(files, "data-dir") && strstr(files, "data-file"), "operand: %s", files);
	free(dirs);
	free(files);
	free(out);
	free(cases);
	free(base);
	free(all);
}

/* The values completion knows by heart (the options whose help names them
 * in prose) must each be in that option's help line, for every command
 * that has the option: the list cannot fall behind --help unnoticed. */
Test(install, completion_values_are_in_the_help)
{
	static const char *const opts[] = { "--format", "--match", "--strategy", "--prior",
					    "--device" };
	struct names cmds = { 0 };
	size_t i, j;

	listed_commands(&cmds);
	for (i = 0; i < cmds.n; i++) {
		struct run h;

		run(&h, cmds.v[i], "--help");
		for (j = 0; j < CB_ARRAY_SIZE(opts); j++) {
			char *key = cb_fmt("  %s ", opts[j]), *line, *cases, *out, *w;
			struct names vals = { 0 };
			size_t k;
			const char *at_opt = strstr(h.out, key);

			if (!at_opt) {
				free(key);
				continue;
			}
			line = cut(at_opt, strcspn(at_opt, "\n"));
			cases = cb_fmt("%s %s ''\n", cmds.v[i], opts[j]);
			out = complete(cases);
			w = line_at(out, 1);
			split_words(w, &vals);
			cr_expect_gt(vals.n, 0, "%s %s: no values completed", cmds.v[i], opts[j]);
			for (k = 0; k < vals.n; k++)
				cr_expect(strstr(line, vals.v[k]), "completion offers '%s' for '%s %s', "
					  "which its help does not name: %s", vals.v[k], cmds.v[i],
					  opts[j], line);
			names_release(&vals);
			free(w);
			free(out);
			free(cases);
			free(line);
			free(key);
		}
		run_release(&h);
	}
	names_release(&cmds);
}

Test(install, completed_formats_are_accepted)
{
	char *out = complete("cases --format ''\n"), *w = line_at(out, 1);
	struct names formats = { 0 };
	size_t i;

	split_words(w, &formats);
	cr_assert_eq(formats.n, 4, "formats: %s", w);
	for (i = 0; i < formats.n; i++) {
		struct run r;

		run(&r, "cases", "--format", formats.v[i], "/nonexistent/casebisect-dataset");
		cr_expect_eq(r.code, 1, "--format %s: exit %d (a format the parser refuses?)\n%s",
			     formats.v[i], r.code, r.err);
		run_release(&r);
	}
	names_release(&formats);
	free(w);
	free(out);
}

/* "casebisect 0.1.0", and " (git DESCRIBE)" when built from a checkout:
 * the commit checked out now, since make rebuilds main.o when it changes. */
Test(install, version_names_the_commit)
{
	struct run r;
	char *git = src_file(".git"), *command, *head;
	unsigned major, minor, patch;
	int used = 0, status;

	run(&r, "--version");
	cr_assert_eq(r.code, 0);
	cr_assert_eq(r.err_len, 0, "stderr: %s", r.err);
	cr_assert_eq(sscanf(r.out, "casebisect %u.%u.%u%n", &major, &minor, &patch, &used), 3,
		     "%s", r.out);
	if (access(git, F_OK) != 0) {
		cr_expect_str_eq(r.out + used, "\n", "outside git: %s", r.out);
		goto out;
	}
	command = cb_fmt("git -C \"$CASEBISECT_SRC\" rev-parse --short=7 HEAD 2>/dev/null");
	head = shell_output(command, &status);
	free(command);
	cr_assert_eq(status, 0, "git rev-parse failed");
	head[strcspn(head, "\n")] = '\0';
	cr_expect(starts_with(r.out + used, " (git "), "no commit in: %s", r.out);
	cr_expect(strstr(r.out + used, head), "--version names another commit than %s: %s",
		  head, r.out);
	cr_expect_eq(r.out[r.out_len - 1], '\n');
	cr_expect_eq(r.out[r.out_len - 2], ')', "%s", r.out);
	cr_expect_eq(count_lines(r.out), 1);
	free(head);
out:
	free(git);
	run_release(&r);
}
