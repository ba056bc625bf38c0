/* test_util: how a file of the work directory is written (cb_write_atomic)
 * when the disk is full, and what a kill leaves that resume clears away. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "casebisect/error.h"
#include "casebisect/util.h"
#include "helpers.h"

TestSuite(util, .init = tmpdir_setup, .fini = tmpdir_teardown);

/* The names in dir, sorted, space separated (the caller frees it). */
static char *names_in(const char *dir)
{
	struct dirent **list;
	int n = scandir(dir, &list, NULL, alphasort), i;
	char *s = xstrdup("");

	cr_assert(n >= 0, "%s: %s", dir, strerror(errno));
	for (i = 0; i < n; i++) {
		if (strcmp(list[i]->d_name, ".") && strcmp(list[i]->d_name, "..")) {
			char *t = cb_fmt("%s%s%s", s, *s ? " " : "", list[i]->d_name);

			free(s);
			s = t;
		}
		free(list[i]);
	}
	free(list);
	return s;
}

/* A full disk: the write fails naming the file and the reason, the old
 * file is whole, and no temporary is left; with space again it works. */
Test(util, write_atomic_on_a_full_disk_keeps_the_old_file)
{
	char *mnt, *path, *filler, err[4200] = "", *text, *names, *want, *big;

	if (mount_tmpfs("mnt", "256k") < 0)
		cr_skip_test("cannot mount a tmpfs here (%s): the full-disk test needs root",
			     strerror(errno));
	mnt = at("mnt");
	path = cb_path_join(mnt, "result.json");
	filler = cb_path_join(mnt, "filler");
	big = xcalloc(1, 64 * 1024);
	cr_assert_eq(cb_write_atomic(path, "old\n", 4, CB_WRITE_DURABLE, err, sizeof(err)), 0, "%s", err);
	fill_up(filler, 0);

	memset(big, 'x', 64 * 1024 - 1);
	cr_assert_eq(cb_write_atomic(path, big, strlen(big), CB_WRITE_DURABLE, err, sizeof(err)), -1);
	want = cb_fmt("%s: cannot write: No space left on device", path);
	cr_assert_str_eq(err, want);
	text = cb_read_file(path, NULL);
	cr_assert_str_eq(text, "old\n", "the old file was damaged");
	free(text);
	names = names_in(mnt);
	cr_assert_str_eq(names, "filler result.json", "a temporary file was left");
	free(names);

	cr_assert_eq(unlink(filler), 0);
	cr_assert_eq(cb_write_atomic(path, big, strlen(big), CB_WRITE_DURABLE, err, sizeof(err)), 0, "%s", err);
	text = cb_read_file(path, NULL);
	cr_assert_str_eq(text, big);
	free(text);
	free(want);
	free(big);
	free(filler);
	free(path);
	free(mnt);
}

/* put() of "BASE.tmp.PID.N", the name of a temporary file. */
static void put_tmp(const char *base, int pid, const char *n, const char *data)
{
	char *name = cb_fmt("%s.tmp.%d.%s", base, pid, n);

	put(name, data);
	free(name);
}

/* Only the temporaries of a writer that is gone are removed: not a live
 * one's (ours), not a name that merely looks alike, not a folder. */
Test(util, remove_tmp_leftovers_takes_only_a_dead_writers_files)
{
	pid_t dead = fork();
	char *names, *want;

	cr_assert(dead >= 0);
	if (!dead)
		_exit(0);
	cr_assert_eq(waitpid(dead, NULL, 0), dead);
	put("report.md", "kept\n");
	put_tmp("report.md", (int)dead, "0", "half");
	put_tmp("bundle.tar.gz", (int)dead, "12", "half");
	put_tmp("wall.json", (int)getpid(), "3", "being written");
	put("notes.tmp.txt", "the user's");
	put_tmp("a", (int)dead, "x", "not one");
	names = cb_fmt("d.tmp.%d.1", (int)dead);
	mkdir_at(names);
	free(names);

	cr_assert_eq(cb_remove_tmp_leftovers(tmpdir), 2);
	names = names_in(tmpdir);
	want = cb_fmt("a.tmp.%d.x d.tmp.%d.1 notes.tmp.txt report.md wall.json.tmp.%d.3",
		      (int)dead, (int)dead, (int)getpid());
	cr_assert_str_eq(names, want);
	free(want);
	free(names);
}

/* Every error code has a name of its own and a message: a code added to
 * CB_ERRNO_MAP without one, or two codes sharing a name, would show the
 * user the wrong words. -1 stays CB_EFAIL, the code of a plain failure. */
Test(util, every_error_code_has_its_own_name_and_a_message)
{
	int a, b;

	cr_assert_eq(CB_EFAIL, -1);
	cr_assert_gt(CB_ERR_COUNT, 1);
	for (a = -1; a >= -CB_ERR_COUNT; a--) {
		cr_assert(cb_err_name(a)[0] == 'E' && cb_err_name(a)[1], "code %d: no name", a);
		cr_assert(strlen(cb_strerror(a)) > 0, "%s: no message", cb_err_name(a));
		cr_assert_str_neq(cb_strerror(a), "unknown error", "%s", cb_err_name(a));
		for (b = a - 1; b >= -CB_ERR_COUNT; b--)
			cr_assert_str_neq(cb_err_name(a), cb_err_name(b), "codes %d and %d", a, b);
	}
	cr_assert_str_eq(cb_err_name(CB_ENOSPACE), "ENOSPACE");
	cr_assert_str_eq(cb_strerror(0), "success");
	cr_assert_str_eq(cb_strerror(-CB_ERR_COUNT - 1), "unknown error");
	cr_assert_str_eq(cb_err_name(7), "EUNKNOWN");
	cr_assert_eq(cb_err_from_errno(ENOSPC), CB_ENOSPACE);
	cr_assert_eq(cb_err_from_errno(EDQUOT), CB_ENOSPACE);
	cr_assert_eq(cb_err_from_errno(EIO), CB_EIO);
	cr_assert_eq(cb_err_from_errno(EFBIG), CB_EFAIL);
}
