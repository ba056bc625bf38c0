/* test_journal: the trial journal and run.json as a resumed night sees them:
 * every trial comes back exactly as it was written, a crash mid-write costs
 * at most the trial being written, a damaged journal is refused by line, and
 * a run resumed with other settings is refused with what changed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "casebisect/journal.h"
#include "casebisect/util.h"
#include "helpers.h"

/* No .timeout: Criterion 2.4's timeout watchdog leaks 48 bytes in the
 * runner under --jobs 2, which LeakSanitizer turns into a failed run. The
 * loops below are bounded by themselves. */
TestSuite(journal, .init = tmpdir_setup, .fini = tmpdir_teardown);

/* ---- helpers ---- */

/* tmpdir/name; the caller frees it. */
static char *tpath(const char *name)
{
	return cb_path_join(tmpdir, name);
}

/* n case IDs, case_NNNNN from a number that depends on salt. */
static char **strings(size_t n, uint64_t salt)
{
	char **v = n ? xmalloc(n * sizeof(*v)) : NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		char buf[64];

		snprintf(buf, sizeof(buf), "case_%05llu", (unsigned long long)(salt * 31 + i));
		v[i] = xstrdup(buf);
	}
	return v;
}

/*
 * Trial t, the same every time it is asked for, so a replay can be checked
 * against what was written. ncases_max bounds the subset (large ones make a
 * crash mid-write likelier).
 */
static void make_entry(uint64_t t, size_t ncases_max, struct jrn_entry *e)
{
	static const char *const outcomes[] = {"PASS", "FAIL", "UNRESOLVED"};
	static const char *const classes[] = {"none", "device_assert", "oom"};
	static const char *const reasons[] = {"exit0", "failure", "timeout"};

	memset(e, 0, sizeof(*e));
	e->trial = t;
	e->ncases = ncases_max ? (size_t)(t * 7919 % ncases_max) : 0;
	e->ids = strings(e->ncases, t);
	cb_strlcpy(e->outcome, outcomes[t % 3], sizeof(e->outcome));
	cb_strlcpy(e->klass, classes[t % 3], sizeof(e->klass));
	if (t % 3)
		snprintf(e->fingerprint, sizeof(e->fingerprint), "%016llx",
			 (unsigned long long)(t * 0x9e3779b97f4a7c15ULL));
	cb_strlcpy(e->reason, reasons[t % 3], sizeof(e->reason));
	e->slot = (int)(t % 8);
	e->gpu = t % 4 == 0 ? -1 : (int)(t % 4);
	e->start = 1732665600.123 + (double)t * 61.7;
	e->duration_s = 0.1 * (double)t + 1.0 / 3.0;
	e->nsuspects = (size_t)(t % 3);
	e->suspects = strings(e->nsuspects, t + 1);
}

static void assert_strings_eq(char *const *a, size_t na, char *const *b, size_t nb,
			      const char *what, uint64_t t)
{
	size_t i;

	cr_assert_eq(na, nb, "trial %llu: %s: %zu strings, wrote %zu", (unsigned long long)t,
		     what, na, nb);
	for (i = 0; i < na; i++)
		cr_assert_str_eq(a[i], b[i], "trial %llu: %s[%zu]", (unsigned long long)t, what, i);
}

/* Every field, doubles to the bit. */
static void assert_entry_eq(const struct jrn_entry *got, const struct jrn_entry *want)
{
	unsigned long long t = (unsigned long long)want->trial;

	cr_assert_eq(got->trial, want->trial, "trial %llu came back as %llu", t,
		     (unsigned long long)got->trial);
	assert_strings_eq(got->ids, got->ncases, want->ids, want->ncases, "cases", want->trial);
	cr_assert_str_eq(got->outcome, want->outcome, "trial %llu", t);
	cr_assert_str_eq(got->klass, want->klass, "trial %llu", t);
	cr_assert_str_eq(got->fingerprint, want->fingerprint, "trial %llu", t);
	cr_assert_str_eq(got->reason, want->reason, "trial %llu", t);
	cr_assert_str_eq(got->phase, want->phase, "trial %llu", t);
	cr_assert_str_eq(got->evidence, want->evidence, "trial %llu", t);
	cr_assert_eq(got->slot, want->slot, "trial %llu", t);
	cr_assert_eq(got->gpu, want->gpu, "trial %llu", t);
	cr_assert(got->start == want->start, "trial %llu: start %.17g, wrote %.17g", t,
		  got->start, want->start);
	cr_assert(got->duration_s == want->duration_s, "trial %llu: duration %.17g, wrote %.17g",
		  t, got->duration_s, want->duration_s);
	assert_strings_eq(got->suspects, got->nsuspects, want->suspects, want->nsuspects,
			  "suspects", want->trial);
}

/* Appends trials from..to (made by make_entry) to the journal in tmpdir. */
static void append_trials(uint64_t from, uint64_t to, size_t ncases_max)
{
	char err[256] = "";
	struct jrn *j = jrn_open(tmpdir, err, sizeof(err));
	uint64_t t;

	cr_assert(j, "jrn_open: %s", err);
	for (t = from; t <= to; t++) {
		struct jrn_entry e;

		make_entry(t, ncases_max, &e);
		cr_assert_eq(jrn_append(j, &e, err, sizeof(err)), 0, "jrn_append: %s", err);
		jrn_entry_release(&e);
	}
	jrn_close(j);
}

/* Replays and checks that it holds exactly trials 1..n; returns the warning. */
static void assert_replays_trials(uint64_t n, size_t ncases_max, char *warning, size_t warnlen)
{
	struct jrn_entry *v = NULL;
	size_t nv = 99, i;
	char err[256] = "";

	cr_assert_eq(jrn_replay(tmpdir, NULL, &v, &nv, warning, warnlen, err, sizeof(err)), 0,
		     "jrn_replay: %s", err);
	cr_assert_eq(nv, n, "replayed %zu trials, expected %llu", nv, (unsigned long long)n);
	for (i = 0; i < nv; i++) {
		struct jrn_entry want;

		make_entry(i + 1, ncases_max, &want);
		assert_entry_eq(&v[i], &want);
		jrn_entry_release(&want);
	}
	jrn_entries_free(v, nv);
}

static void append_raw(const char *name, const char *data, size_t len)
{
	char *path = tpath(name);
	FILE *f = fopen(path, "ab");

	cr_assert(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
	free(path);
}

static off_t file_size(const char *name)
{
	char *path = tpath(name);
	struct stat st;
	off_t size = -1;

	if (stat(path, &st) == 0)
		size = st.st_size;
	free(path);
	return size;
}

/* Replays a journal that must be refused; returns nothing, checks err. */
static void assert_replay_refused(const char *want_in_err)
{
	struct jrn_entry *v = (struct jrn_entry *)1;
	size_t nv = 99;
	char err[256] = "", warning[256] = "x";

	cr_assert_eq(jrn_replay(tmpdir, NULL, &v, &nv, warning, sizeof(warning), err, sizeof(err)), -1,
		     "a damaged journal was accepted (wanted: %s)", want_in_err);
	cr_assert(strstr(err, want_in_err), "err: %s\nwanted: %s", err, want_in_err);
	cr_assert(strstr(err, "journal.jsonl"), "err does not name the file: %s", err);
	cr_assert_null(v);
	cr_assert_eq(nv, 0);
	cr_assert_str_empty(warning);
}

/* ---- the journal ---- */

Test(journal, entries_replay_exactly_as_written)
{
	char warning[256] = "x";

	append_trials(1, 60, 40);
	assert_replays_trials(60, 40, warning, sizeof(warning));
	cr_assert_str_empty(warning, "warning on a whole journal: %s", warning);
}

Test(journal, a_line_is_one_compact_object_with_null_for_absent)
{
	static const char want[] =
		"{\"trial\":1,\"phase\":\"search\",\"cases\":[\"case_001\",\"case \\\"17\\\"\\t\xc3\xa9\"],"
		"\"outcome\":\"PASS\",\"class\":\"none\",\"fingerprint\":null,"
		"\"reason\":\"exit0\",\"evidence\":null,\"slot\":0,\"gpu\":null,\"start\":1732665600.123,"
		"\"duration_s\":12.5,\"suspects\":[]}\n";
	char *cases[] = {"case_001", "case \"17\"\t\xc3\xa9"};
	struct jrn_entry e = {0}, *v = NULL;
	char err[256] = "", warning[256] = "", *path, *text;
	size_t nv = 0;
	struct jrn *j;

	e.trial = 1;
	cb_strlcpy(e.phase, "search", sizeof(e.phase));
	e.ids = cases;
	e.ncases = 2;
	cb_strlcpy(e.outcome, "PASS", sizeof(e.outcome));
	cb_strlcpy(e.klass, "none", sizeof(e.klass));
	cb_strlcpy(e.reason, "exit0", sizeof(e.reason));
	e.gpu = -1;
	e.start = 1732665600.123;
	e.duration_s = 12.5;
	j = jrn_open(tmpdir, err, sizeof(err));
	cr_assert(j, "%s", err);
	cr_assert_eq(jrn_append(j, &e, err, sizeof(err)), 0, "%s", err);
	jrn_close(j);

	path = tpath("journal.jsonl");
	text = cb_read_file(path, NULL);
	cr_assert_str_eq(text, want);
	free(text);
	free(path);

	cr_assert_eq(jrn_replay(tmpdir, NULL, &v, &nv, warning, sizeof(warning), err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(nv, 1);
	assert_entry_eq(&v[0], &e);
	jrn_entries_free(v, nv);
}

/* ---- subsets as index ranges ---- */

/* A dataset of n cases named id_0 .. id_<n-1>, for struct jrn_names. */
static char **names_v;

static const char *name_at(const void *ctx, size_t i)
{
	(void)ctx;
	return names_v[i];
}

static struct jrn_names make_names(size_t n)
{
	struct jrn_names nm = { name_at, NULL, n, "" };
	size_t i;

	names_v = xcalloc(n + 1, sizeof(*names_v));
	for (i = 0; i < n; i++)
		names_v[i] = cb_fmt("id_%zu", i);
	return nm;
}

static void free_names(size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names_v[i]);
	free(names_v);
	names_v = NULL;
}

/* Replay against nm is refused with an error holding want. */
static void assert_refused_with(const struct jrn_names *nm, const char *want)
{
	struct jrn_entry *v = NULL;
	char err[256] = "", warning[256];
	size_t nv = 0;

	cr_assert_eq(jrn_replay(tmpdir, nm, &v, &nv, warning, sizeof(warning), err, sizeof(err)),
		     -1, "replayed, wanted: %s", want);
	cr_assert(strstr(err, want), "error '%s', wanted '%s'", err, want);
}

static void fill_entry(struct jrn_entry *e, uint64_t trial)
{
	memset(e, 0, sizeof(*e));
	e->trial = trial;
	cb_strlcpy(e->phase, "search", sizeof(e->phase));
	cb_strlcpy(e->outcome, "FAIL", sizeof(e->outcome));
	cb_strlcpy(e->klass, "none", sizeof(e->klass));
	cb_strlcpy(e->reason, "failure", sizeof(e->reason));
	e->gpu = -1;
	e->start = 1732665600;
}

/* A subset of 100,000 cases is one short line of ranges, in its own order;
 * a small one keeps its IDs beside them; both come back the same. */
Test(journal, a_subset_is_written_as_index_ranges_and_replays_the_same)
{
	size_t n = 100000, i, *big = xmalloc(n * sizeof(*big));
	size_t small[] = { 7, 8, 9, 3, 5 };
	struct jrn_names nm = make_names(n);
	struct jrn_entry e[2], *v = NULL;
	char *swap;
	char err[256] = "", warning[256] = "", *path = tpath("journal.jsonl"), *text;
	size_t nv = 0, len = 0;
	struct jrn *j = jrn_open(tmpdir, err, sizeof(err));

	cr_assert(j, "%s", err);
	jrn_names_order(&nm);
	for (i = 0; i < n; i++) /* all but case 500, which comes last */
		big[i] = i < 500 ? i : i + 1 < n ? i + 1 : 500;
	fill_entry(&e[0], 1);
	jrn_entry_set_cases(&e[0], big, n, &nm);
	cr_assert_null(e[0].ids, "IDs kept for %zu cases", n);
	fill_entry(&e[1], 2);
	jrn_entry_set_cases(&e[1], small, CB_ARRAY_SIZE(small), &nm);
	for (i = 0; i < 2; i++)
		cr_assert_eq(jrn_append(j, &e[i], err, sizeof(err)), 0, "%s", err);
	jrn_close(j);

	text = cb_read_file(path, &len);
	cr_assert(strstr(text, "\"case_ranges\":[[0,499],[501,99999],[500,500]]"), "%s", text);
	cr_assert(strstr(text, "\"case_ranges\":[[7,9],[3,3],[5,5]],"
			       "\"cases\":[\"id_7\",\"id_8\",\"id_9\",\"id_3\",\"id_5\"]"),
		  "%s", text);
	cr_assert_lt(len, 1024, "journal of %zu bytes", len);

	cr_assert_eq(jrn_replay(tmpdir, &nm, &v, &nv, warning, sizeof(warning), err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(nv, 2);
	cr_assert_eq(v[0].ncases, n);
	cr_assert(jrn_entry_same(&v[0], big, n));
	cr_assert_not(jrn_entry_same(&v[0], big, n - 1));
	cr_assert(jrn_entry_same(&v[1], small, CB_ARRAY_SIZE(small)));
	cr_assert_str_eq(v[1].ids[3], "id_3");
	big[7] = 8;
	cr_assert_not(jrn_entry_same(&v[0], big, n));
	jrn_entries_free(v, nv);
	/* the same IDs in another order (a reordered case list, which the
	 * dataset's digest does not see): the indices would name other cases */
	swap = names_v[0];
	names_v[0] = names_v[1];
	names_v[1] = swap;
	jrn_names_order(&nm);
	assert_refused_with(&nm, "line 1: the dataset's cases are in another order than when this "
			      "trial ran");
	for (i = 0; i < 2; i++)
		jrn_entry_release(&e[i]);
	free(text);
	free(path);
	free(big);
	free_names(n);
}

/* A journal from before case_ranges lists every ID: replayed against the
 * dataset, its entries get the same ranges (and no IDs past
 * JRN_IDS_MAX), and an ID the dataset lacks is an error naming the line. */
Test(journal, an_old_journal_of_ids_replays_as_ranges)
{
	size_t n = 200, i, want[100];
	struct jrn_names nm = make_names(n);
	struct jrn_entry *v = NULL;
	char err[256] = "", warning[256] = "", *line;
	size_t nv = 0;
	char *ids = xstrdup("");

	for (i = 0; i < 100; i++) {
		char *next = cb_fmt("%s%s\"id_%zu\"", ids, i ? "," : "", 199 - i);

		free(ids);
		ids = next;
		want[i] = 199 - i;
	}
	line = cb_fmt("{\"trial\":1,\"cases\":[%s],\"outcome\":\"PASS\",\"class\":\"none\","
		      "\"fingerprint\":null,\"reason\":\"exit0\",\"slot\":0,\"gpu\":null,"
		      "\"start\":1,\"duration_s\":2,\"suspects\":[]}\n",
		      ids);
	append_raw("journal.jsonl", line, strlen(line));
	cr_assert_eq(jrn_replay(tmpdir, &nm, &v, &nv, warning, sizeof(warning), err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(nv, 1);
	cr_assert_eq(v[0].ncases, 100);
	cr_assert(jrn_entry_same(&v[0], want, 100));
	cr_assert_null(v[0].ids, "100 IDs kept");
	jrn_entries_free(v, nv);
	/* the same journal read without the dataset keeps what it holds */
	cr_assert_eq(jrn_replay(tmpdir, NULL, &v, &nv, warning, sizeof(warning), err, sizeof(err)),
		     0, "%s", err);
	cr_assert_str_eq(v[0].ids[0], "id_199");
	cr_assert_null(v[0].ranges);
	jrn_entries_free(v, nv);

	nm.n = 150; /* a dataset without id_199 .. id_150 */
	assert_refused_with(&nm, "line 1: case \"id_199\" is not in the dataset");
	free(line);
	free(ids);
	free_names(n);
}

/* A long old line (a large trial's every ID) is read without a JSON tree of
 * its IDs: the same ranges, escaped IDs too, an unknown ID named, and a
 * damaged line still a damaged line. */
Test(journal, a_long_old_line_of_ids_replays_as_ranges)
{
	size_t n = 20000, i;
	struct jrn_names nm = make_names(n);
	struct jrn_entry *v = NULL;
	char err[256] = "", warning[256] = "", *line, *path = tpath("journal.jsonl");
	size_t nv = 0, *want = xmalloc(n * sizeof(*want)), cap = 16 * n + 64, len = 0;
	char *ids = xmalloc(cap);
	static const char rest[] = "\"outcome\":\"FAIL\",\"class\":\"none\","
		"\"fingerprint\":null,\"reason\":\"failure\",\"slot\":0,\"gpu\":null,\"start\":1,"
		"\"duration_s\":2,\"suspects\":[\"id_7\"]}\n";

	free(names_v[3]);
	names_v[3] = xstrdup("id \"3\"\t");
	for (i = 0; i < n; i++) { /* 0..9999 backwards, then 10000.. in order */
		size_t c = i < n / 2 ? n / 2 - 1 - i : i;

		want[i] = c;
		len += (size_t)snprintf(ids + len, cap - len, "%s\"%s\"", i ? ", " : "",
				       c == 3 ? "id \\\"3\\\"\\t" : names_v[c]);
	}
	line = cb_fmt("{\"trial\":1,\"phase\":\"search\",\"cases\":[%s],%s", ids, rest);
	cr_assert_gt(strlen(line), 64 * 1024);
	append_raw("journal.jsonl", line, strlen(line));
	cr_assert_eq(jrn_replay(tmpdir, &nm, &v, &nv, warning, sizeof(warning), err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(nv, 1);
	cr_assert_eq(v[0].ncases, n);
	cr_assert_eq(v[0].nranges, n / 2 + 1);
	cr_assert(jrn_entry_same(&v[0], want, n));
	cr_assert_str_eq(v[0].outcome, "FAIL");
	cr_assert_str_eq(v[0].suspects[0], "id_7");
	jrn_entries_free(v, nv);

	/* damaged after its IDs, in the middle: an error; last: torn */
	free(line);
	line = cb_fmt("{\"trial\":2,\"phase\":\"search\",\"cases\":[%s],\"outcome\"::\n", ids);
	append_raw("journal.jsonl", line, strlen(line));
	cr_assert_eq(jrn_replay(tmpdir, &nm, &v, &nv, warning, sizeof(warning), err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(nv, 1);
	cr_assert(strstr(warning, "line 2 is torn"), "%s", warning);
	jrn_entries_free(v, nv);
	append_raw("journal.jsonl", line, strlen(line));
	assert_refused_with(&nm, "line 2: not valid JSON");

	/* an ID the dataset lacks */
	unlink(path);
	free(line);
	line = cb_fmt("{\"trial\":1,\"cases\":[%s, \"nobody\"],%s", ids, rest);
	append_raw("journal.jsonl", line, strlen(line));
	assert_refused_with(&nm, "line 1: case \"nobody\" is not in the dataset");
	free(line);
	free(ids);
	free(want);
	free(path);
	free_names(n);
}

Test(journal, bad_case_ranges_are_refused_naming_the_line)
{
	static const char *const bad[] = { "[[5,4]]", "[[1]]", "[[-1,3]]", "[[0,1.5]]", "{}",
					   "[[0,\"1\"]]" };
	struct jrn_names nm = make_names(10);
	size_t i;

	for (i = 0; i <= CB_ARRAY_SIZE(bad); i++) {
		char *path = tpath("journal.jsonl");
		char *line = cb_fmt("{\"trial\":1,\"case_ranges\":%s,\"outcome\":\"PASS\","
				    "\"class\":\"none\",\"fingerprint\":null,\"reason\":\"exit0\","
				    "\"slot\":0,\"gpu\":null,\"start\":1,\"duration_s\":2,"
				    "\"suspects\":[]}\n{}\n",
				    i < CB_ARRAY_SIZE(bad) ? bad[i] : "[[0,10]]");

		unlink(path);
		append_raw("journal.jsonl", line, strlen(line));
		assert_refused_with(&nm, i < CB_ARRAY_SIZE(bad) ?
			"line 1: \"case_ranges\" is not an array of [first,last] index pairs" :
			"line 1: case index 10 is past the dataset's 10 cases");
		free(line);
		free(path);
	}
	free_names(10);
}

Test(journal, a_missing_journal_replays_empty)
{
	struct jrn_entry *v = (struct jrn_entry *)1;
	size_t nv = 99;
	char err[256] = "", warning[256] = "x", *missing = tpath("no-such-dir");

	cr_assert_eq(jrn_replay(tmpdir, NULL, &v, &nv, warning, sizeof(warning), err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(nv, 0);
	cr_assert_str_empty(warning);
	jrn_entries_free(v, nv);
	cr_assert_eq(jrn_replay(missing, NULL, &v, &nv, warning, sizeof(warning), err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(nv, 0);
	free(missing);
}

Test(journal, a_torn_last_line_without_newline_is_dropped_with_a_warning)
{
	static const char *const tails[] = {
		"{\"trial\":4,\"cases\":[\"case_0", /* half an object */
		"{\"trial\":4}",                      /* whole, but no newline */
		"\0\0\0\0\0\0\0\0",                   /* a power loss's zeros */
	};
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(tails); i++) {
		char warning[256] = "", *path = tpath("journal.jsonl");
		size_t len = i == 2 ? 8 : strlen(tails[i]);

		unlink(path);
		free(path);
		append_trials(1, 3, 5);
		append_raw("journal.jsonl", tails[i], len);
		assert_replays_trials(3, 5, warning, sizeof(warning));
		cr_assert(strstr(warning, "journal.jsonl: line 4 is torn (a crash mid-write?): dropped"),
			  "tail %zu: warning: '%s'", i, warning);
	}
}

Test(journal, a_last_line_that_is_not_json_is_dropped_with_a_warning)
{
	char warning[256] = "";

	append_trials(1, 3, 5);
	append_raw("journal.jsonl", "{\"trial\":4,\"ca\n", 15);
	assert_replays_trials(3, 5, warning, sizeof(warning));
	cr_assert(strstr(warning, "line 4 is torn"), "warning: '%s'", warning);
}

Test(journal, a_malformed_line_in_the_middle_is_an_error_naming_it)
{
	static const struct {
		const char *line, *err;
	} bad[] = {
		{"{\"trial\":4,\"ca\n", "line 4: not valid JSON"},
		{"\n", "line 4: not valid JSON"},
		{"{\"trial\":4} {\"trial\":5}\n", "line 4: not valid JSON"},
		{"[1,2]\n", "line 4: not a JSON object"},
		{"{\"trial\":4}\n", "line 4: \"cases\" is missing"},
		{"{\"trial\":0,\"cases\":[]}\n", "line 4: \"trial\" is not a whole number"},
		{"{\"trial\":4.5,\"cases\":[]}\n", "line 4: \"trial\" is not a whole number"},
		{"{\"trial\":4,\"cases\":[1],\"outcome\":\"PASS\"}\n",
		 "line 4: \"cases\" is not an array of strings"},
		{"{\"trial\":4,\"cases\":[],\"outcome\":\"MAYBE\"}\n",
		 "line 4: \"outcome\" is \"MAYBE\", not PASS, FAIL or UNRESOLVED"},
		{"{\"trial\":4,\"cases\":[],\"outcome\":\"PASS\",\"class\":\"none\","
		 "\"fingerprint\":\"0123456789abcdef0\"}\n",
		 "line 4: \"fingerprint\" is longer than 16 bytes"},
		{"{\"trial\":4,\"cases\":[],\"outcome\":\"PASS\",\"class\":\"none\","
		 "\"fingerprint\":null,\"reason\":\"exit0\",\"slot\":0,\"gpu\":-2}\n",
		 "line 4: \"gpu\" is not a whole number"},
		{"{\"trial\":4,\"cases\":[],\"outcome\":\"PASS\",\"class\":\"none\","
		 "\"fingerprint\":null,\"reason\":\"exit0\",\"slot\":0,\"gpu\":null,"
		 "\"start\":\"yesterday\"}\n",
		 "line 4: \"start\" is not a number"},
	};
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(bad); i++) {
		char *path = tpath("journal.jsonl"), *text, *good;

		unlink(path);
		append_trials(1, 3, 5);
		/* A whole line after it, written raw: jrn_open would rightly
		 * cut a bad last line. */
		text = cb_read_file(path, NULL);
		good = line_at(text, 0);
		append_raw("journal.jsonl", bad[i].line, strlen(bad[i].line));
		append_raw("journal.jsonl", good, strlen(good));
		append_raw("journal.jsonl", "\n", 1);
		assert_replay_refused(bad[i].err);
		free(good);
		free(text);
		free(path);
	}
}

Test(journal, appending_after_a_replay_continues_the_file)
{
	char warning[256] = "";

	append_trials(1, 4, 9);
	assert_replays_trials(4, 9, warning, sizeof(warning));
	append_trials(5, 7, 9);
	assert_replays_trials(7, 9, warning, sizeof(warning));
	cr_assert_str_empty(warning);
}

/* Resuming after a crash: the torn line must not glue onto the next trial. */
Test(journal, appending_after_a_torn_line_replaces_it)
{
	static const char *const tails[] = {"{\"trial\":5,\"cases\":[\"ca", "{\"trial\":5,\"ca\n",
					    "\n"};
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(tails); i++) {
		char warning[256] = "", *path = tpath("journal.jsonl");

		unlink(path);
		free(path);
		append_trials(1, 4, 9);
		append_raw("journal.jsonl", tails[i], strlen(tails[i]));
		assert_replays_trials(4, 9, warning, sizeof(warning));
		cr_assert(strstr(warning, "line 5 is torn"), "tail %zu: warning '%s'", i, warning);
		append_trials(5, 6, 9);
		assert_replays_trials(6, 9, warning, sizeof(warning));
		cr_assert_str_empty(warning, "tail %zu: the torn line is still there: %s", i,
				    warning);
	}
}

/* jrn_open cuts a torn line before any replay can see it, so it says which
 * line it dropped as replay would; a whole journal gets no warning. */
Test(journal, open_says_which_torn_line_it_dropped)
{
	static const char *const tails[] = {"{\"trial\":5,\"cases\":[\"ca", "{\"trial\":5,\"ca\n",
					    "\n"};
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(tails); i++) {
		char err[256] = "", *path = tpath("journal.jsonl");
		struct jrn *j;

		unlink(path);
		free(path);
		append_trials(1, 4, 9);
		append_raw("journal.jsonl", tails[i], strlen(tails[i]));
		j = jrn_open(tmpdir, err, sizeof(err));
		cr_assert(j, "%s", err);
		cr_assert(strstr(jrn_warning(j),
				 "journal.jsonl: line 5 is torn (a crash mid-write?): dropped"),
			  "tail %zu: warning '%s'", i, jrn_warning(j));
		jrn_close(j);
		j = jrn_open(tmpdir, err, sizeof(err));
		cr_assert(j, "%s", err);
		cr_assert_str_empty(jrn_warning(j), "tail %zu: dropped twice", i);
		jrn_close(j);
	}
}

/* Valid JSON of the wrong shape is damage, not a crash: kept, and refused. */
Test(journal, a_last_line_of_the_wrong_shape_is_an_error_and_open_keeps_it)
{
	char err[256] = "";
	off_t before;
	struct jrn *j;

	append_trials(1, 2, 5);
	append_raw("journal.jsonl", "{\"trial\":3}\n", 12);
	before = file_size("journal.jsonl");
	j = jrn_open(tmpdir, err, sizeof(err));
	cr_assert(j, "%s", err);
	jrn_close(j);
	cr_assert_eq(file_size("journal.jsonl"), before, "jrn_open cut a whole line");
	assert_replay_refused("line 3: \"cases\" is missing");
}

Test(journal, open_names_the_file_when_it_cannot_be_made)
{
	char err[256] = "", *file = write_file(tmpdir, "not-a-dir", "x");
	size_t n = strlen(file) + 32;
	char *want = xmalloc(n);

	/* A parent that is a regular file fails even for root. */
	cr_assert_null(jrn_open(file, err, sizeof(err)));
	snprintf(want, n, "%s/journal.jsonl: cannot open: ", file);
	cr_assert(strstr(err, want), "err: %s", err);
	free(want);
	free(file);
}

Test(journal, open_refuses_a_link_and_never_writes_through_it)
{
	char err[256] = "", *target = write_file(tmpdir, "precious", "keep me\n");
	char *link = tpath("journal.jsonl"), *text;

	cr_assert_eq(symlink(target, link), 0);
	cr_assert_null(jrn_open(tmpdir, err, sizeof(err)));
	cr_assert(strstr(err, "journal.jsonl: is a symbolic link"), "err: %s", err);
	text = cb_read_file(target, NULL);
	cr_assert_str_eq(text, "keep me\n");
	free(text);
	free(target);
	free(link);
}

Test(journal, a_second_writer_on_the_same_workdir_is_refused)
{
	char err[256] = "";
	struct jrn *a = jrn_open(tmpdir, err, sizeof(err)), *b;

	cr_assert(a, "%s", err);
	b = jrn_open(tmpdir, err, sizeof(err));
	cr_assert_null(b, "two writers on one journal");
	cr_assert(strstr(err, "journal.jsonl: in use by another casebisect"), "err: %s", err);
	jrn_close(a);
	b = jrn_open(tmpdir, err, sizeof(err));
	cr_assert(b, "not released on close: %s", err);
	jrn_close(b);
	jrn_close(NULL);
}

/*
 * A write that fails halfway (the file size limit stands in for a full disk:
 * it fails for root too) is an error naming the file, and is undone: the
 * next append and the replay see no torn line.
 */
Test(journal, a_failed_write_is_an_error_and_leaves_no_torn_line)
{
	char err[256] = "", warning[256] = "";
	struct jrn_entry big, next;
	struct rlimit old, lim;
	struct jrn *j;
	off_t size;

	append_trials(1, 2, 5);
	size = file_size("journal.jsonl");
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	j = jrn_open(tmpdir, err, sizeof(err));
	cr_assert(j, "%s", err);
	make_entry(3, 5000, &big); /* a line of tens of kB */
	lim = old;
	lim.rlim_cur = (rlim_t)size + 100;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	cr_assert_eq(jrn_append(j, &big, err, sizeof(err)), -1, "a failed write returned 0");
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	cr_assert(strstr(err, "journal.jsonl: cannot write trial 3: "), "err: %s", err);
	cr_assert_eq(file_size("journal.jsonl"), size, "the half-written line was left");
	jrn_entry_release(&big);

	make_entry(3, 5, &next);
	cr_assert_eq(jrn_append(j, &next, err, sizeof(err)), 0, "%s", err);
	jrn_entry_release(&next);
	jrn_close(j);
	assert_replays_trials(3, 5, warning, sizeof(warning));
	cr_assert_str_empty(warning);
}

/*
 * A writer that dies inside write(2), deterministically: with a file size
 * limit halfway through its line and SIGXFSZ left at its default, the
 * kernel writes the first half and then kills it. The half line is dropped
 * with a warning, and the next run writes that trial again.
 */
Test(journal, a_writer_killed_inside_write_leaves_one_torn_line)
{
	char warning[256] = "";
	int status;
	pid_t pid;

	append_trials(1, 3, 50);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct rlimit none = {0, 0}, lim;
		struct jrn_entry e;
		char err[256];
		struct jrn *j = jrn_open(tmpdir, err, sizeof(err));

		if (!j)
			_exit(3);
		signal(SIGXFSZ, SIG_DFL);
		setrlimit(RLIMIT_CORE, &none);
		make_entry(4, 50, &e);
		getrlimit(RLIMIT_FSIZE, &lim);
		lim.rlim_cur = (rlim_t)file_size("journal.jsonl") + 40;
		if (setrlimit(RLIMIT_FSIZE, &lim) < 0)
			_exit(4);
		jrn_append(j, &e, err, sizeof(err));
		_exit(5); /* not reached: SIGXFSZ ends it inside write(2) */
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ,
		  "the writer was not killed mid-write (status 0x%x)", status);

	assert_replays_trials(3, 50, warning, sizeof(warning));
	cr_assert(strstr(warning, "journal.jsonl: line 4 is torn (a crash mid-write?): dropped"),
		  "warning: '%s'", warning);
	append_trials(4, 5, 50);
	assert_replays_trials(5, 50, warning, sizeof(warning));
	cr_assert_str_empty(warning);
}

/*
 * A child appends trials in a loop (resuming from a replay, as `resume`
 * does) and is SIGKILLed at a random moment; again and again. Every replay
 * must hold exactly the trials 1..n in order, whole, with at most the one
 * torn line dropped. Large subsets make a kill inside write(2) likely.
 */
#define KILL_ROUNDS 8
#define KILL_CASES 20000

static void child_appends_forever(void)
{
	struct jrn_entry *v = NULL, e;
	size_t nv = 0;
	char err[256], warning[256];
	struct jrn *j;
	uint64_t t;

	if (jrn_replay(tmpdir, NULL, &v, &nv, warning, sizeof(warning), err, sizeof(err)) < 0)
		_exit(3);
	jrn_entries_free(v, nv);
	j = jrn_open(tmpdir, err, sizeof(err));
	if (!j)
		_exit(4);
	for (t = nv + 1;; t++) {
		make_entry(t, KILL_CASES, &e);
		if (jrn_append(j, &e, err, sizeof(err)) < 0)
			_exit(5);
		jrn_entry_release(&e);
	}
}

Test(journal, a_writer_killed_mid_write_leaves_a_journal_that_replays)
{
	size_t round, torn = 0;
	char warning[256];
	struct jrn_entry *v = NULL;
	size_t nv = 0, last = 0;
	char err[256] = "";
	unsigned seed = test_seed();

	srand(seed);
	for (round = 0; round < KILL_ROUNDS; round++) {
		off_t start = file_size("journal.jsonl") > 0 ? file_size("journal.jsonl") : 0;
		struct timespec ms = {0, 1000 * 1000};
		int status, i;
		pid_t pid = fork();

		cr_assert(pid >= 0);
		if (pid == 0)
			child_appends_forever();
		/* Wait until it wrote something, then a little more at random. */
		for (i = 0; i < 10000 && file_size("journal.jsonl") <= start; i++)
			nanosleep(&ms, NULL);
		ms.tv_nsec = (long)(rand() % 20000) * 1000;
		nanosleep(&ms, NULL);
		cr_assert_eq(kill(pid, SIGKILL), 0);
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			  "the writer stopped by itself (status 0x%x)", status);

		cr_assert_eq(jrn_replay(tmpdir, NULL, &v, &nv, warning, sizeof(warning), err,
					sizeof(err)),
			     0, "round %zu (CASEBISECT_TEST_SEED=%u): %s", round, seed, err);
		jrn_entries_free(v, nv);
		cr_assert_geq(nv, last, "round %zu (CASEBISECT_TEST_SEED=%u) lost trials: %zu after %zu",
			      round, seed, nv, last);
		last = nv;
		if (warning[0])
			torn++;
		assert_replays_trials(nv, KILL_CASES, warning, sizeof(warning));
	}
	cr_assert_gt(last, KILL_ROUNDS / 2, "the writer hardly wrote: %zu trials", last);
	cr_log_info("killed a writer %d times: %zu trials, %zu torn lines dropped", KILL_ROUNDS,
		    last, torn);
}

/* A long night: 100,000 trials replay in seconds, also under the
 * sanitizers (a quadratic replay would take hours), and open and append
 * still work on such a file. */
Test(journal, a_journal_of_100000_trials_replays)
{
	char *path = tpath("journal.jsonl"), err[256] = "", warning[256] = "";
	struct jrn_entry *v = NULL, e;
	FILE *f = fopen(path, "w");
	struct timespec t0, t1;
	double secs;
	size_t nv = 0, i;
	struct jrn *j;

	cr_assert(f);
	for (i = 1; i <= 100000; i++)
		fprintf(f,
			"{\"trial\":%zu,\"cases\":[\"case_%05zu\",\"case_%05zu\"],"
			"\"outcome\":\"PASS\",\"class\":\"none\",\"fingerprint\":null,"
			"\"reason\":\"exit0\",\"slot\":%zu,\"gpu\":null,\"start\":%zu.25,"
			"\"duration_s\":1.5,\"suspects\":[]}\n",
			i, i, i + 1, i % 8, 1732665600 + i);
	cr_assert_eq(fclose(f), 0);
	j = jrn_open(tmpdir, err, sizeof(err));
	cr_assert(j, "%s", err);
	make_entry(100001, 3, &e);
	cr_assert_eq(jrn_append(j, &e, err, sizeof(err)), 0, "%s", err);
	jrn_close(j);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(jrn_replay(tmpdir, NULL, &v, &nv, warning, sizeof(warning), err, sizeof(err)), 0,
		     "%s", err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_assert_lt(secs, 60.0, "replaying 100,000 trials took %.1f s", secs);
	cr_assert_eq(nv, 100001);
	cr_assert_str_empty(warning);
	for (i = 0; i < 100000; i++) {
		cr_assert_eq(v[i].trial, i + 1);
		cr_assert_eq(v[i].ncases, 2);
		cr_assert(v[i].start == (double)(1732665600 + i + 1) + 0.25);
	}
	assert_entry_eq(&v[100000], &e);
	jrn_entry_release(&e);
	jrn_entries_free(v, nv);
	free(path);
}

/* ---- run.json ---- */

static const char run_json[] =
	"{\"dataset\":\"/data/Dataset017\",\"digest\":\"0123456789abcdef\","
	"\"command\":[\"nnUNetv2_train\",\"17\",\"3d_fullres\",\"0\"],"
	"\"env\":{\"nnUNet_raw\":\"/data\",\"CUDA_HOME\":\"/usr/local/cuda\"},"
	"\"strategy\":\"find-all\",\"seed\":1,\"repeat\":1,\"deadline\":null}";

static cJSON *parse(const char *text)
{
	cJSON *o = cJSON_Parse(text);

	cr_assert(o, "not JSON: %s", text);
	return o;
}

/* run_json with key set to the JSON value v (NULL: removed); caller frees. */
static char *run_with(const char *key, const char *v)
{
	cJSON *o = parse(run_json);
	char *text;

	cJSON_DeleteItemFromObjectCaseSensitive(o, key);
	if (v)
		cJSON_AddItemToObject(o, key, parse(v));
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

static void write_run(const char *text)
{
	char err[256] = "";

	cr_assert_eq(jrn_write_run(tmpdir, text, err, sizeof(err)), 0, "jrn_write_run: %s", err);
}

static void assert_check_refused(const char *text, const char *const *ignore, char *err,
				 size_t errlen)
{
	cr_assert_eq(jrn_check_run(tmpdir, text, ignore, err, errlen), -1,
		     "a changed run was accepted:\n%s", text);
}

/* How many entries of tmpdir begin with "run.json.tmp". */
static size_t run_json_temporaries(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	size_t n = 0;

	cr_assert(d);
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, "run.json.tmp", 12);
	closedir(d);
	return n;
}

Test(journal, run_json_round_trips_and_leaves_no_temporary)
{
	char err[256] = "", *text;
	cJSON *a, *b;

	write_run(run_json);
	text = jrn_read_run(tmpdir, err, sizeof(err));
	cr_assert(text, "%s", err);
	a = parse(run_json);
	b = parse(text);
	cr_assert(cJSON_Compare(a, b, true), "run.json came back as:\n%s", text);
	cr_assert_eq(run_json_temporaries(), 0, "a run.json.tmp.* was left behind");
	cJSON_Delete(a);
	cJSON_Delete(b);
	free(text);

	/* Written again: replaced whole. */
	text = run_with("seed", "2");
	write_run(text);
	cr_assert_eq(jrn_check_run(tmpdir, text, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(run_json_temporaries(), 0, "a run.json.tmp.* was left behind");
	free(text);
}

/* Links planted at the temporary names the next writes of this process
 * would take (run.json.tmp.PID.N): each is passed by, none written through. */
Test(journal, run_json_is_written_past_stale_temporaries_and_never_through_a_link)
{
	char err[256] = "", *tmp, name[64];
	char *target = write_file(tmpdir, "precious", "keep me\n"), *text;
	int i;

	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "run.json.tmp.%ld.%d", (long)getpid(), i);
		tmp = tpath(name);
		cr_assert_eq(symlink(target, tmp), 0);
		free(tmp);
	}
	write_run(run_json);
	text = cb_read_file(target, NULL);
	cr_assert_str_eq(text, "keep me\n", "written through a planted link");
	free(text);
	cr_assert_eq(run_json_temporaries(), 40, "a planted link was removed or a temporary left");
	cr_assert_eq(jrn_check_run(tmpdir, run_json, NULL, err, sizeof(err)), 0, "%s", err);

	cr_assert_eq(jrn_write_run(tmpdir, "[1,2]", err, sizeof(err)), -1);
	cr_assert(strstr(err, "not a JSON object"), "err: %s", err);
	cr_assert_eq(jrn_write_run(tmpdir, "{\"a\":", err, sizeof(err)), -1);
	free(target);
}

Test(journal, check_run_passes_the_same_settings_in_any_order)
{
	char err[256] = "";
	static const char reordered[] =
		"{\"deadline\":null,\"repeat\":1.0,\"seed\":1,\"strategy\":\"find-all\","
		"\"env\":{\"CUDA_HOME\":\"/usr/local/cuda\",\"nnUNet_raw\":\"/data\"},"
		"\"command\":[\"nnUNetv2_train\",\"17\",\"3d_fullres\",\"0\"],"
		"\"digest\":\"0123456789abcdef\",\"dataset\":\"/data/Dataset017\"}";

	write_run(run_json);
	cr_assert_eq(jrn_check_run(tmpdir, run_json, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(jrn_check_run(tmpdir, reordered, NULL, err, sizeof(err)), 0, "%s", err);
}

Test(journal, check_run_refuses_a_changed_dataset_first)
{
	char err[1024] = "", *text, *both;
	cJSON *o;

	write_run(run_json);
	o = parse(run_json);
	cJSON_ReplaceItemInObjectCaseSensitive(o, "digest", cJSON_CreateString("fedcba9876543210"));
	cJSON_ReplaceItemInObjectCaseSensitive(o, "seed", cJSON_CreateNumber(7));
	both = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	text = run_with("digest", "\"fedcba9876543210\"");

	assert_check_refused(text, NULL, err, sizeof(err));
	cr_assert_str_eq(err, "the dataset changed since this run started (digest was "
			      "0123456789abcdef, now fedcba9876543210): start a new run with a "
			      "new --workdir");
	/* With another change too: the digest still comes first. */
	assert_check_refused(both, NULL, err, sizeof(err));
	cr_assert(starts_with(err, "the dataset changed since this run started (digest was "
				   "0123456789abcdef, now fedcba9876543210)"),
		  "err: %s", err);
	cr_assert(strstr(err, "\nseed: was 1, now 7"), "err: %s", err);
	free(text);
	free(both);
}

Test(journal, check_run_lists_every_changed_option)
{
	char err[1024] = "", *text;
	cJSON *o = parse(run_json), *env;

	write_run(run_json);
	cJSON_ReplaceItemInObjectCaseSensitive(o, "seed", cJSON_CreateNumber(2));
	cJSON_ReplaceItemInObjectCaseSensitive(o, "strategy", cJSON_CreateString("ddmin"));
	cJSON_DeleteItemFromObjectCaseSensitive(o, "repeat");
	cJSON_AddNumberToObject(o, "confirm", 3);
	env = cJSON_GetObjectItemCaseSensitive(o, "env");
	cJSON_ReplaceItemInObjectCaseSensitive(env, "nnUNet_raw", cJSON_CreateString("/mnt"));
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);

	assert_check_refused(text, NULL, err, sizeof(err));
	cr_assert_str_eq(err, "env.nnUNet_raw: was \"/data\", now \"/mnt\"\n"
			      "strategy: was \"find-all\", now \"ddmin\"\n"
			      "seed: was 1, now 2\n"
			      "repeat: was 1, now (absent)\n"
			      "confirm: was (absent), now 3");
	free(text);
}

Test(journal, check_run_skips_the_ignored_keys_only)
{
	static const char *const ignore[] = {"deadline", "env.CUDA_HOME", NULL};
	static const char *const ignore_digest[] = {"digest", NULL};
	char err[512] = "", *text, *seed;
	cJSON *o = parse(run_json), *env;

	write_run(run_json);
	cJSON_ReplaceItemInObjectCaseSensitive(o, "deadline", cJSON_CreateString("07:00"));
	env = cJSON_GetObjectItemCaseSensitive(o, "env");
	cJSON_ReplaceItemInObjectCaseSensitive(env, "CUDA_HOME", cJSON_CreateString("/opt/cuda"));
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	cr_assert_eq(jrn_check_run(tmpdir, text, ignore, err, sizeof(err)), 0, "%s", err);
	assert_check_refused(text, NULL, err, sizeof(err));
	cr_assert(strstr(err, "deadline: was null, now \"07:00\""), "err: %s", err);
	free(text);

	seed = run_with("seed", "5");
	assert_check_refused(seed, ignore, err, sizeof(err));
	cr_assert_str_eq(err, "seed: was 1, now 5");
	free(seed);

	text = run_with("digest", "\"fedcba9876543210\"");
	cr_assert_eq(jrn_check_run(tmpdir, text, ignore_digest, err, sizeof(err)), 0, "%s", err);
	free(text);
}

Test(journal, check_run_cuts_a_long_list_at_a_whole_line)
{
	cJSON *was = parse("{}"), *now = parse("{}");
	char err[200] = "", *a, *b;
	int i;

	for (i = 0; i < 40; i++) {
		char key[32];

		snprintf(key, sizeof(key), "option%02d", i);
		cJSON_AddNumberToObject(was, key, i);
		cJSON_AddNumberToObject(now, key, i + 1000);
	}
	a = cJSON_PrintUnformatted(was);
	b = cJSON_PrintUnformatted(now);
	write_run(a);
	assert_check_refused(b, NULL, err, sizeof(err));
	cr_assert(starts_with(err, "option00: was 0, now 1000\noption01: was 1, now 1001\n"),
		  "err: %s", err);
	cr_assert(strstr(err, " more)") && err[strlen(err) - 1] == ')', "err: %s", err);
	cr_assert_lt(strlen(err), sizeof(err));
	cJSON_Delete(was);
	cJSON_Delete(now);
	free(a);
	free(b);
}

Test(journal, a_folder_without_run_json_is_not_a_work_directory)
{
	char err[256] = "", *missing = tpath("nope");

	cr_assert_eq(jrn_check_run(tmpdir, run_json, NULL, err, sizeof(err)), -1);
	cr_assert(strstr(err, "not a casebisect work directory"), "err: %s", err);
	cr_assert(starts_with(err, tmpdir), "err does not name the folder: %s", err);
	cr_assert_null(jrn_read_run(tmpdir, err, sizeof(err)));
	cr_assert(strstr(err, "not a casebisect work directory"), "err: %s", err);
	cr_assert_eq(jrn_check_run(missing, run_json, NULL, err, sizeof(err)), -1);
	cr_assert(strstr(err, "not a casebisect work directory"), "err: %s", err);
	free(missing);
}

Test(journal, a_damaged_run_json_is_refused)
{
	char err[256] = "", *path = write_file(tmpdir, "run.json", "{\"digest\":\"01");

	cr_assert_eq(jrn_check_run(tmpdir, run_json, NULL, err, sizeof(err)), -1);
	cr_assert(strstr(err, "run.json: not a JSON object (the file is damaged)"), "err: %s",
		  err);
	cr_assert_null(jrn_read_run(tmpdir, err, sizeof(err)));
	free(path);
}
