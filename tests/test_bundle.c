/* test_bundle: the repro bundle travels. A real toy run's bundle.tar.gz is
 * unpacked in a fresh folder, the run's dataset and work folder are
 * removed, and repro.sh runs as another user would start it (env -i, a
 * new $HOME, PATH=/usr/bin:/bin): it reproduces the crash with the
 * bundle's own copy of harness/toytrain (or one rebuilt from its carried
 * source), and nothing it runs names the checkout or the work folder. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "casebisect/util.h"
#include "helpers.h"

TestSuite(bundle, .init = tmpdir_setup, .fini = tmpdir_teardown);

/* A toy run of 8 cases (case_002 holds label 9) started in the checkout
 * with the trainer named relative to it, as the README's example does;
 * its bundle unpacked into tmpdir/elsewhere, and the dataset and the work
 * folder removed. Returns tmpdir/elsewhere/bundle. */
static char *unpacked_toy_bundle(void)
{
	static const char *const bad[] = { "case_002=9", NULL };
	char *ds = mkcases_in("ds", 8, bad), *wd = at("wd"), *src = src_file("");
	char *elsewhere = at("elsewhere"), *cmd, *b;
	struct run r;

	run(&r, "run", "--workdir", wd, "--gpus", "none", "--cwd", src, ds, "--", "harness/toytrain",
	    "--cases-file", "{cases_file}", "--files-file", "{files_file}");
	cr_assert_eq(r.code, 0, "exit %d\n%s\n%s", r.code, r.out, r.err);
	run_release(&r);
	mkdir_at("elsewhere");
	cmd = cb_fmt("cd '%s' && tar xzf '%s/bundle.tar.gz' && rm -rf '%s' '%s'", elsewhere, wd, wd,
		     ds);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	b = cb_path_join(elsewhere, "bundle");
	free(cmd);
	free(elsewhere);
	free(src);
	free(wd);
	free(ds);
	return b;
}

/* Fails when a file of the bundle that repro.sh reads or runs names path. */
static void assert_not_named(const char *bundle, const char *path, const char *what)
{
	char *cmd = cb_fmt("grep -rlF -e '%s' '%s/repro.sh' '%s/README.md' '%s/tools' '%s/dataset' "
			   ">/dev/null",
			   path, bundle, bundle, bundle, bundle);

	cr_assert_neq(system(cmd), 0, "the bundle names %s (%s): %s", what, path, cmd);
	free(cmd);
}

Test(bundle, toy_bundle_reproduces_the_crash_unpacked_elsewhere_as_another_user)
{
	char *b = unpacked_toy_bundle(), *log, *text, *klass, *src = src_file(""), *wd = at("wd");
	char *before = tree_snapshot(b), *after, *p;
	int rc = run_repro_as_stranger(b, &log);

	text = cb_read_file(log, NULL);
	cr_assert(text, "%s", log);
	cr_assert_eq(rc, 1, "repro.sh exits with toytrain's status for a bad label, not %d:\n%s", rc,
		     text);
	cr_assert(strstr(text, "case case_002: label value 9"), "%s", text);
	cr_assert(!strstr(text, "rebuilding"), "the carried binary runs here:\n%s", text);
	klass = class_of(log);
	cr_assert_str_eq(klass, "cpu_index_error");
	after = tree_snapshot(b);
	cr_assert_str_eq(after, before, "repro.sh wrote into the bundle");

	p = cb_path_join(b, "tools/toytrain.c");
	cr_assert(access(p, R_OK) == 0, "toytrain's source travels with it");
	free(p);
	p = cb_path_join(b, "README.md");
	free(text);
	text = cb_read_file(p, NULL);
	cr_assert(text && strstr(text, "- `tools/`: casebisect's own programs the command runs "
				       "(`tools/toytrain`)"), "%s", text);
	cr_assert(strstr(text, "- `case_002`: `dataset/ds/labelsTr/case_002.nii.gz`"),
		  "README.md names the label file to fix:\n%s", text);
	free(p);
	assert_not_named(b, src, "the checkout");
	assert_not_named(b, wd, "the work folder");

	free(after);
	free(before);
	free(klass);
	free(text);
	free(log);
	free(wd);
	free(src);
	free(b);
}

Test(bundle, a_toytrain_that_does_not_run_here_is_rebuilt_from_its_source)
{
	char *b = unpacked_toy_bundle(), *log, *text, *klass, *tool = cb_path_join(b, "tools/toytrain");
	int rc;

	/* As a binary of another system would: it does not start. */
	cr_assert_eq(unlink(tool), 0);
	free(write_file(b, "tools/toytrain", "\x7f" "ELF not for this machine\n"));
	cr_assert_eq(chmod(tool, 0755), 0);
	rc = run_repro_as_stranger(b, &log);
	text = cb_read_file(log, NULL);
	cr_assert(text);
	cr_assert(strstr(text, "does not run here: rebuilding it from tools/toytrain.c"), "%s", text);
	cr_assert_eq(rc, 1, "exit %d:\n%s", rc, text);
	cr_assert(strstr(text, "case case_002: label value 9"), "%s", text);
	klass = class_of(log);
	cr_assert_str_eq(klass, "cpu_index_error");
	free(klass);
	free(text);
	free(log);
	free(tool);
	free(b);
}
