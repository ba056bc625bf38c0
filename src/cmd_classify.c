/* cmd_classify: `casebisect classify [--json] [--match LEVEL] LOG...`, how
 * did each run end? One line per log, as text or as compact JSON. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "casebisect/classify.h"
#include "casebisect/cli.h"
#include "casebisect/util.h"

#define READ_CHUNK (64 * 1024)

enum { OPT_JSON = 1, OPT_MATCH };

static const struct cli_option classify_options[] = {
	{ "json", 0, CLI_ARG_NONE, OPT_JSON, NULL,
	  "one compact JSON object per line instead of text" },
	{ "match", 0, CLI_ARG_REQUIRED, OPT_MATCH, "LEVEL",
	  "fingerprint level: class, kernel (default) or exact" },
};

static const struct cli_command classify_cmd = {
	.name = "classify",
	.usage = "[--json] [--match class|kernel|exact] LOG...",
	.description =
		"Read the output of training runs and say how each one ended: the\n"
		"failure class (device_assert, illegal_access, oom, cudnn_cublas, nccl,\n"
		"env_mismatch, cpu_index_error, data_error, host_kill, segfault,\n"
		"other_error, or none), and where present the CUDA kernel, the failed\n"
		"assertion, the error code, the exception, the number of the decisive\n"
		"line, and a fingerprint: a hash of the fields of the --match level that\n"
		"stays the same when the same failure happens again. `-` reads stdin.\n"
		"\n"
		"Prints one line per LOG: `LOG: CLASS key=value...`, with only the\n"
		"fields that were found. With --json, one object per line with the\n"
		"fields file, class, kernel, assert_expr, source, exception, message,\n"
		"error_code, line, evidence and fingerprint (null where absent).\n"
		"\n"
		"Exits 0 when every LOG was read, 1 when one could not be (the others\n"
		"are still classified), 2 on a usage error.",
	.example =
		"$ casebisect classify examples/logs/oom.log examples/logs/clean.log\n"
		"examples/logs/oom.log: oom exception=torch.OutOfMemoryError line=60 fingerprint=d1b3a7e3eca7769d\n"
		"examples/logs/clean.log: none\n"
		"\n"
		"$ casebisect classify --json - < examples/logs/clean.log\n"
		"{\"file\":\"-\",\"class\":\"none\",\"kernel\":null,\"assert_expr\":null,\"source\":null,\"exception\":null,\"message\":null,\"error_code\":null,\"line\":null,\"evidence\":null,\"fingerprint\":\"a0bbf3f29f7ba2a2\"}\n"
		"\n"
		"Two runs failed the same way at a --match level when their fingerprints\n"
		"at that level are equal: with --match kernel, two device asserts in the\n"
		"same kernel with the same assertion match, whatever the block, thread\n"
		"or line.",
	.options = classify_options,
	.n_options = CB_ARRAY_SIZE(classify_options),
};

/*
 * Feeds one log to a fresh classifier and fills *sig. Returns 0, or -1 with
 * errno set when the log could not be opened or read (nothing is printed).
 */
static int classify_log(const char *path, char *buf, struct cls_signature *sig)
{
	struct cls *c = NULL;
	int fd = -1, ret = -1, saved;
	bool is_stdin = strcmp(path, "-") == 0;

	fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	c = cls_new();
	for (;;) {
		ssize_t n = read(fd, buf, READ_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out; /* a directory fails here, with EISDIR */
		if (n == 0)
			break;
		cls_feed(c, CLS_STDERR, buf, (size_t)n);
	}
	cls_finish(c, NULL);
	cls_result(c, sig);
	ret = 0;
out:
	saved = errno;
	cls_free(c);
	if (fd >= 0 && !is_stdin)
		close(fd);
	errno = saved;
	return ret;
}

/* A value needs quotes when it is empty or would not read back as one word. */
static bool needs_quotes(const char *v)
{
	if (!*v)
		return true;
	for (; *v; v++)
		if ((unsigned char)*v <= ' ' || *v == '"' || *v == '=' ||
		    *v == '\\' || *v == 0x7f)
			return true;
	return false;
}

/* Prints " key=value", the value in double quotes with \" \\ \t \n and \xNN
 * escapes when it needs them (logfmt's convention). */
static void print_field(FILE *f, const char *key, const char *v)
{
	fprintf(f, " %s=", key);
	if (!needs_quotes(v)) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	for (; *v; v++) {
		unsigned char ch = (unsigned char)*v;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch < ' ' || ch == 0x7f)
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void print_text(const char *file, const struct cls_signature *sig,
		       enum cls_match level)
{
	char fp[17];

	printf("%s: %s", file, cls_class_name(sig->klass));
	if (sig->klass == CLS_NONE) {
		putchar('\n');
		return;
	}
	if (sig->kernel[0])
		print_field(stdout, "kernel", sig->kernel);
	if (sig->assert_expr[0])
		print_field(stdout, "assert", sig->assert_expr);
	if (sig->error_code[0])
		print_field(stdout, "error_code", sig->error_code);
	if (sig->exception[0])
		print_field(stdout, "exception", sig->exception);
	if (sig->line)
		printf(" line=%llu", (unsigned long long)sig->line);
	cls_fingerprint_hex(sig, level, fp);
	printf(" fingerprint=%s\n", fp);
}

/* The length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static size_t utf8_seq_len(const unsigned char *s)
{
	size_t n, i;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* A file name is bytes; JSON wants UTF-8. Returns a copy with each invalid
 * byte replaced by U+FFFD; the caller frees it. */
static char *utf8_clean(const char *s)
{
	size_t len = strlen(s), i = 0, o = 0;
	char *out;

	if (len > (SIZE_MAX - 1) / 3)
		die("file name too long");
	out = xmalloc(len * 3 + 1);
	while (s[i]) {
		size_t n = utf8_seq_len((const unsigned char *)s + i);

		if (n) {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	out[o] = '\0';
	return out;
}

/* Adds key: the string, or null when it is empty. */
static void add_str(cJSON *obj, const char *key, const char *v)
{
	if (!(*v ? cJSON_AddStringToObject(obj, key, v) : cJSON_AddNullToObject(obj, key)))
		die("out of memory building JSON");
}

static void print_json(const char *file, const struct cls_signature *sig,
		       enum cls_match level)
{
	cJSON *obj = cJSON_CreateObject();
	char *name = utf8_clean(file), *text = NULL;
	char fp[17];

	if (!obj)
		die("out of memory building JSON");
	cls_fingerprint_hex(sig, level, fp);
	add_str(obj, "file", name);
	add_str(obj, "class", cls_class_name(sig->klass));
	add_str(obj, "kernel", sig->kernel);
	add_str(obj, "assert_expr", sig->assert_expr);
	add_str(obj, "source", sig->source);
	add_str(obj, "exception", sig->exception);
	add_str(obj, "message", sig->message);
	add_str(obj, "error_code", sig->error_code);
	if (!(sig->line ? cJSON_AddNumberToObject(obj, "line", (double)sig->line)
			: cJSON_AddNullToObject(obj, "line")))
		die("out of memory building JSON");
	add_str(obj, "evidence", sig->evidence);
	add_str(obj, "fingerprint", fp);
	text = cJSON_PrintUnformatted(obj);
	if (!text)
		die("out of memory printing JSON");
	puts(text);
	cJSON_free(text);
	cJSON_Delete(obj);
	free(name);
}

enum cb_exit cmd_classify(int argc, char **argv)
{
	struct cli_parser p;
	struct cls_signature *sig = NULL;
	enum cls_match level = CLS_MATCH_KERNEL;
	enum cb_exit ret = CB_EXIT_OK;
	bool json = false;
	char *buf = NULL;
	const char *value;
	size_t i;
	int id, r;

	cli_parser_init(&p, &classify_cmd, argc, argv);
	while ((r = cli_next(&p, &id, &value)) > 0) {
		switch (id) {
		case CLI_OPT_HELP:
			cli_print_help(&classify_cmd, stdout);
			goto out;
		case OPT_JSON:
			json = true;
			break;
		case OPT_MATCH:
			if (cls_match_parse(value, &level) < 0) {
				ret = cli_usage_error(&classify_cmd,
						      "invalid --match value '%s' (valid: class, kernel, exact)",
						      value);
				goto out;
			}
			break;
		default:
			assert(!"option without a case");
		}
	}
	if (r < 0) {
		ret = CB_EXIT_USAGE;
		goto out;
	}
	if (!p.n_operands) {
		ret = cli_usage_error(&classify_cmd, "classify needs at least one LOG");
		goto out;
	}

	/* A signature is about 7 KiB and the chunk 64 KiB: heap, not stack. */
	buf = xmalloc(READ_CHUNK);
	sig = xmalloc(sizeof(*sig));
	for (i = 0; i < p.n_operands; i++) {
		const char *file = p.operands[i];

		if (classify_log(file, buf, sig) < 0) {
			cli_error("cannot read '%s': %s", file, strerror(errno));
			ret = CB_EXIT_ERROR;
			continue;
		}
		if (json)
			print_json(file, sig, level);
		else
			print_text(file, sig, level);
	}
out:
	free(sig);
	free(buf);
	cli_parser_release(&p);
	return ret;
}
