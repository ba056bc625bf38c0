/* test_cli: the command line as a user meets it: help, version, errors and
 * exit codes, option parsing, and `casebisect classify` end to end. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
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

Test(cli, help_lists_commands)
{
	static const char *const ways[] = { "--help", "-h", "help" };
	struct run first, r;
	size_t i;

	run(&first, "--help");
	cr_assert_eq(first.code, 0);
	cr_assert_eq(first.err_len, 0, "stderr: %s", first.err);
	cr_assert(strstr(first.out, "\n  classify "), "classify not listed:\n%s", first.out);
	cr_assert(strstr(first.out, "usage: casebisect"), "%s", first.out);
	for (i = 1; i < CB_ARRAY_SIZE(ways); i++) {
		run(&r, ways[i]);
		cr_assert_eq(r.code, 0, "%s: exit %d", ways[i], r.code);
		cr_assert_str_eq(r.out, first.out, "%s differs from --help", ways[i]);
		run_release(&r);
	}
	run_release(&first);
}

Test(cli, help_of_classify_has_usage_and_example)
{
	struct run r, r2, r3;

	run(&r, "help", "classify");
	cr_assert_eq(r.code, 0);
	cr_assert_eq(r.err_len, 0, "stderr: %s", r.err);
	cr_assert(starts_with(r.out, "usage: casebisect classify "), "%s", r.out);
	cr_assert(strstr(r.out, "--json"), "%s", r.out);
	cr_assert(strstr(r.out, "--match"), "%s", r.out);
	cr_assert(strstr(r.out, "\nexample:\n  $ casebisect classify "), "no example:\n%s", r.out);

	run(&r2, "classify", "--help");
	cr_assert_eq(r2.code, 0);
	cr_assert_str_eq(r2.out, r.out);
	/* Help wins wherever it stands, even next to an operand. */
	run(&r3, "classify", "some.log", "-h");
	cr_assert_eq(r3.code, 0);
	cr_assert_str_eq(r3.out, r.out);
	run_release(&r);
	run_release(&r2);
	run_release(&r3);
}

Test(cli, no_command_is_usage_error)
{
	struct run r;

	run_how(&r, &plain, (char *)NULL);
	assert_usage_error(&r);
	cr_assert(starts_with(r.err, "usage: casebisect"), "%s", r.err);
	run_release(&r);
}

Test(cli, unknown_command)
{
	struct run r;

	run(&r, "frobnicate", "x.log");
	assert_usage_error(&r);
	cr_assert(starts_with(r.err, "casebisect: 'frobnicate' is not a casebisect command\n"),
		  "%s", r.err);
	run_release(&r);

	run(&r, "clasify", "x.log");
	assert_usage_error(&r);
	cr_assert(strstr(r.err, "hint: did you mean 'classify'?"), "%s", r.err);
	run_release(&r);

	run(&r, "help", "frobnicate");
	assert_usage_error(&r);
	cr_assert(strstr(r.err, "'frobnicate' is not a casebisect command"), "%s", r.err);
	run_release(&r);
}

Test(cli, unknown_global_option)
{
	struct run r;

	run(&r, "--verison");
	assert_usage_error(&r);
	cr_assert(starts_with(r.err, "casebisect: unknown option '--verison'\n"), "%s", r.err);
	cr_assert(strstr(r.err, "did you mean '--version'?"), "%s", r.err);
	run_release(&r);
}

Test(cli, unknown_option_suggests_closest)
{
	char *log = example("oom.log");
	struct run r;

	run(&r, "classify", "--jsn", log);
	assert_usage_error(&r);
	cr_assert(starts_with(r.err, "casebisect: unknown option '--jsn' for 'classify'\n"),
		  "%s", r.err);
	cr_assert(strstr(r.err, "hint: did you mean '--json'?"), "%s", r.err);
	cr_assert(strstr(r.err, "'casebisect help classify'"), "%s", r.err);
	run_release(&r);

	/* After an operand, and with a value attached: the name is shown. */
	run(&r, "classify", log, "--mach=class");
	assert_usage_error(&r);
	cr_assert(strstr(r.err, "unknown option '--mach' for 'classify'"), "%s", r.err);
	cr_assert(strstr(r.err, "did you mean '--match'?"), "%s", r.err);
	run_release(&r);

	/* Nothing close: no guess, but still the hint. */
	run(&r, "classify", "-q", log);
	assert_usage_error(&r);
	cr_assert(strstr(r.err, "unknown option '-q'"), "%s", r.err);
	cr_assert(!strstr(r.err, "did you mean"), "%s", r.err);
	run_release(&r);
	free(log);
}

Test(cli, option_values)
{
	char *log = example("oom.log");
	struct run a, b;

	run(&a, "classify", "--match", "class", log);
	run(&b, "classify", log, "--match=class");
	cr_assert_eq(a.code, 0, "stderr: %s", a.err);
	cr_assert_str_eq(a.out, b.out);
	run_release(&a);
	run_release(&b);

	run(&a, "classify", log, "--match");
	assert_usage_error(&a);
	cr_assert(strstr(a.err, "'--match' needs a value"), "%s", a.err);
	run_release(&a);

	run(&a, "classify", "--json=yes", log);
	assert_usage_error(&a);
	cr_assert(strstr(a.err, "'--json' takes no value"), "%s", a.err);
	run_release(&a);
	free(log);
}

Test(cli, option_after_operand)
{
	char *log = example("nnunet-label-255.log");
	struct run before, after;

	run(&before, "classify", "--json", log);
	run(&after, "classify", log, "--json");
	cr_assert_eq(before.code, 0, "stderr: %s", before.err);
	cr_assert_eq(after.code, 0, "stderr: %s", after.err);
	cr_assert_eq(before.out[0], '{', "not JSON: %s", before.out);
	cr_assert_str_eq(before.out, after.out);
	run_release(&before);
	run_release(&after);
	free(log);
}

Test(cli, dashdash_ends_options, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
	char *odd = write_file(tmpdir, "--json", "");
	char *log = write_file(tmpdir, "plain.log", "");
	struct how in_dir = { .cwd = tmpdir };
	struct run r;

	/* After `--`, "--json" is a file name, and options no longer count. */
	run_how(&r, &in_dir, "classify", "--", "--json", (char *)NULL);
	cr_assert_eq(r.code, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "--json: none\n");
	run_release(&r);

	run_how(&r, &in_dir, "classify", "plain.log", "--", "-h", (char *)NULL);
	cr_assert_eq(r.code, 1, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "plain.log: none\n");
	cr_assert(strstr(r.err, "cannot read '-h': No such file or directory"), "%s", r.err);
	run_release(&r);

	/* Options before `--` still count. */
	run_how(&r, &in_dir, "classify", "--json", "--", "plain.log", (char *)NULL);
	cr_assert_eq(r.code, 0, "stderr: %s", r.err);
	cr_assert(starts_with(r.out, "{\"file\":\"plain.log\","), "%s", r.out);
	run_release(&r);

	free(odd);
	free(log);
}

Test(cli, missing_log_is_error_and_others_still_classified)
{
	char *a = example("clean.log"), *b = example("oom.log");
	const char *missing = "/nonexistent/casebisect/run.log";
	struct run r;

	run(&r, "classify", a, missing, b);
	cr_assert_eq(r.code, 1, "exit %d", r.code);
	cr_assert_eq(count_lines(r.out), 2, "stdout:\n%s", r.out);
	cr_assert(!strstr(r.out, missing), "the failed log got output:\n%s", r.out);
	cr_assert(starts_with(r.out, a), "%s", r.out);
	cr_assert(strstr(r.out, b), "%s", r.out);
	cr_assert_str_eq(r.err, "casebisect: cannot read '/nonexistent/casebisect/run.log':"
				" No such file or directory\n");
	run_release(&r);
	free(a);
	free(b);
}

Test(cli, directory_is_read_error, .init = tmpdir_setup, .fini = tmpdir_teardown)
{
	struct run r;

	run(&r, "classify", tmpdir);
	cr_assert_eq(r.code, 1);
	cr_assert_eq(r.out_len, 0, "%s", r.out);
	cr_assert(strstr(r.err, "cannot read '"), "%s", r.err);
	cr_assert(strstr(r.err, tmpdir), "does not name the directory: %s", r.err);
	run_release(&r);
}

Test(cli, no_log_is_usage_error)
{
	struct run r;

	run(&r, "classify", "--json");
	assert_usage_error(&r);
	cr_assert(strstr(r.err, "LOG"), "%s", r.err);
	run_release(&r);
}

Test(cli, invalid_match_is_usage_error)
{
	char *log = example("oom.log");
	struct run r;

	run(&r, "classify", "--match", "fuzzy", log);
	assert_usage_error(&r);
	cr_assert(strstr(r.err, "'fuzzy'"), "%s", r.err);
	cr_assert(strstr(r.err, "class") && strstr(r.err, "kernel") && strstr(r.err, "exact"),
		  "does not name the valid values: %s", r.err);
	run_release(&r);
	free(log);
}

/* Reads a whole file; a test that cannot read its fixture fails. */
static char *read_or_fail(const char *path)
{
	char *text = cb_read_file(path, NULL);

	cr_assert(text, "cannot read %s", path);
	return text;
}

Test(cli, dash_reads_stdin)
{
	char *log = example("nnunet-label-255.log");
	char *text = read_or_fail(log);
	struct how piped = { .in = text };
	struct run from_file, from_stdin;
	const char *rest;

	run(&from_file, "classify", log);
	run_how(&from_stdin, &piped, "classify", "-", (char *)NULL);
	cr_assert_eq(from_stdin.code, 0, "stderr: %s", from_stdin.err);
	cr_assert(starts_with(from_stdin.out, "-: "), "%s", from_stdin.out);
	/* The same verdict as the file, only named "-". */
	rest = from_file.out + strlen(log);
	cr_assert_str_eq(from_stdin.out + 1, rest);
	run_release(&from_file);
	run_release(&from_stdin);
	free(text);
	free(log);
}

static const char *const json_fields[] = {
	"file", "class", "kernel", "assert_expr", "source", "exception",
	"message", "frame", "error_code", "line", "evidence", "fingerprint",
};

/* Parses one --json line and checks its shape; the caller deletes it. */
static cJSON *parse_json_line(const char *line)
{
	cJSON *obj = cJSON_Parse(line), *item;
	size_t i = 0;

	cr_assert(obj && cJSON_IsObject(obj), "not a JSON object: %s", line);
	cJSON_ArrayForEach(item, obj) {
		cr_assert(i < CB_ARRAY_SIZE(json_fields), "extra field %s", item->string);
		cr_assert_str_eq(item->string, json_fields[i], "field %zu", i);
		if (strcmp(item->string, "line") == 0)
			cr_assert(cJSON_IsNull(item) || (cJSON_IsNumber(item) && item->valuedouble >= 1),
				  "line: %s", line);
		else
			cr_assert(cJSON_IsNull(item) ||
				  (cJSON_IsString(item) && item->valuestring[0]),
				  "%s is neither null nor a non-empty string", item->string);
		i++;
	}
	cr_assert_eq(i, CB_ARRAY_SIZE(json_fields), "%zu fields in %s", i, line);
	item = cJSON_GetObjectItemCaseSensitive(obj, "fingerprint");
	cr_assert(cJSON_IsString(item) && strlen(item->valuestring) == 16 &&
		  strspn(item->valuestring, "0123456789abcdef") == 16,
		  "fingerprint: %s", line);
	cr_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(obj, "class")));
	return obj;
}

Test(cli, json_has_exactly_the_fields)
{
	static const char *const names[] = {
		"nnunet-label-255.log", "oom.log", "worker-died.log", "clean.log",
	};
	char *paths[CB_ARRAY_SIZE(names)];
	struct run r;
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(names); i++)
		paths[i] = example(names[i]);
	run(&r, "classify", "--json", paths[0], paths[1], paths[2], paths[3]);
	cr_assert_eq(r.code, 0, "stderr: %s", r.err);
	cr_assert_eq(r.err_len, 0, "stderr: %s", r.err);
	cr_assert_eq(count_lines(r.out), CB_ARRAY_SIZE(names), "%s", r.out);
	for (i = 0; i < CB_ARRAY_SIZE(names); i++) {
		char *line = line_at(r.out, i);
		cJSON *obj = parse_json_line(line);

		cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(obj, "file")->valuestring,
				 paths[i]);
		cJSON_Delete(obj);
		free(line);
		free(paths[i]);
	}
	run_release(&r);
}

Test(cli, json_file_name_stays_valid_utf8, .init = tmpdir_setup,
     .fini = tmpdir_teardown)
{
	char *log = write_file(tmpdir, "caf\xe9.log", "");
	struct run r;
	cJSON *obj;

	run(&r, "classify", "--json", log);
	cr_assert_eq(r.code, 0, "stderr: %s", r.err);
	obj = parse_json_line(r.out);
	cr_assert(strstr(cJSON_GetObjectItemCaseSensitive(obj, "file")->valuestring,
			 "caf\xef\xbf\xbd.log"), "%s", r.out);
	cJSON_Delete(obj);
	run_release(&r);
	free(log);
}

Test(cli, full_stdout_is_error)
{
	char *log = example("oom.log");
	struct how full = { .out_path = "/dev/full" };
	struct run r;

	run_how(&r, &full, "classify", log, (char *)NULL);
	cr_assert_eq(r.code, 1, "exit %d; stderr: %s", r.code, r.err);
	cr_assert(strstr(r.err, "cannot write standard output"), "%s", r.err);
	run_release(&r);

	run_how(&r, &full, "--help", (char *)NULL);
	cr_assert_eq(r.code, 1, "exit %d; stderr: %s", r.code, r.err);
	run_release(&r);
	free(log);
}

Test(cli, closed_stdout_is_error)
{
	char *log = example("oom.log");
	struct how closed = { .out_path = CLOSED };
	struct run r;

	run_how(&r, &closed, "classify", log, (char *)NULL);
	cr_assert_eq(r.code, 1, "exit %d; stderr: %s", r.code, r.err);
	cr_assert(strstr(r.err, "cannot write standard output"), "%s", r.err);
	run_release(&r);
	free(log);
}

/* --- The bundled examples (need the real classifier, src/classify.c). --- */

static cJSON *classify_example_json(const char *name)
{
	char *log = example(name);
	struct run r;
	cJSON *obj;

	run(&r, "classify", "--json", log);
	cr_assert_eq(r.code, 0, "stderr: %s", r.err);
	obj = parse_json_line(r.out);
	run_release(&r);
	free(log);
	return obj;
}

static const char *field(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

Test(examples, label_255_is_device_assert)
{
	cJSON *obj = classify_example_json("nnunet-label-255.log");

	cr_assert_str_eq(field(obj, "class"), "device_assert");
	cr_assert_str_eq(field(obj, "assert_expr"),
			 "idx_dim >= 0 && idx_dim < index_size && \"index out of bounds\"");
	cJSON_Delete(obj);
}

Test(examples, oom_is_oom)
{
	cJSON *obj = classify_example_json("oom.log");

	cr_assert_str_eq(field(obj, "class"), "oom");
	cJSON_Delete(obj);
}

Test(examples, worker_died_is_data_error)
{
	cJSON *obj = classify_example_json("worker-died.log");

	cr_assert_str_eq(field(obj, "class"), "data_error");
	cJSON_Delete(obj);
}

Test(examples, clean_is_none)
{
	cJSON *obj = classify_example_json("clean.log");

	cr_assert_str_eq(field(obj, "class"), "none");
	cr_assert_null(field(obj, "evidence"));
	cr_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(obj, "line")));
	cJSON_Delete(obj);
}

/* The worked example in `help classify` is what the tool prints. */
Test(examples, help_example_is_true)
{
	char *clean = example("clean.log");
	char *text = read_or_fail(clean);
	struct how in_src = { .cwd = getenv("CASEBISECT_SRC") };
	struct how piped = { .in = text, .cwd = in_src.cwd };
	struct run help, r;
	size_t i;

	run(&help, "help", "classify");
	run_how(&r, &in_src, "classify", "examples/logs/oom.log", "examples/logs/clean.log",
		(char *)NULL);
	cr_assert_eq(r.code, 0, "stderr: %s", r.err);
	for (i = 0; i < count_lines(r.out); i++) {
		char *line = line_at(r.out, i);

		cr_assert(strstr(help.out, line), "help does not show:\n%s\nhelp:\n%s",
			  line, help.out);
		free(line);
	}
	run_release(&r);
	run_how(&r, &piped, "classify", "--json", "-", (char *)NULL);
	cr_assert_eq(r.code, 0, "stderr: %s", r.err);
	r.out[strcspn(r.out, "\n")] = '\0';
	cr_assert(strstr(help.out, r.out), "help does not show:\n%s", r.out);
	run_release(&r);
	run_release(&help);
	free(text);
	free(clean);
}

Test(examples, text_line_format)
{
	char *clean = example("clean.log"), *bad = example("nnunet-label-255.log");
	const char *a, *e, *l, *f;
	struct run r;
	char *line, *none_line;
	size_t n;

	run(&r, "classify", clean, bad);
	cr_assert_eq(r.code, 0, "stderr: %s", r.err);
	none_line = line_at(r.out, 0);
	line = line_at(r.out, 1);
	n = strlen(clean);
	cr_assert(starts_with(none_line, clean) && strcmp(none_line + n, ": none") == 0,
		  "%s", none_line);
	cr_assert(starts_with(line, bad), "%s", line);
	cr_assert(starts_with(line + strlen(bad), ": device_assert "), "%s", line);
	/* Values with spaces are quoted; fields come in a fixed order. */
	a = strstr(line, " assert=\"idx_dim >= 0 && idx_dim < index_size && "
			 "\\\"index out of bounds\\\"\"");
	e = strstr(line, " exception=RuntimeError");
	l = strstr(line, " line=");
	f = strstr(line, " fingerprint=");
	cr_assert(a && e && l && f, "%s", line);
	cr_assert(a < e && e < l && l < f, "fields out of order: %s", line);
	cr_assert_eq(strlen(f + strlen(" fingerprint=")), 16, "%s", line);
	free(line);
	free(none_line);
	run_release(&r);
	free(clean);
	free(bad);
}
