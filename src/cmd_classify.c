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

#include "casebisect/classify.h"
#include "casebisect/cli.h"
#include "casebisect/json.h"
#include "casebisect/util.h"

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
		"assertion, the error code, the exception and the Python frame that\n"
		"raised it (file:function), the number of the decisive line, and a\n"
		"fingerprint: a hash of the fields of the --match level that stays the\n"
		"same when the same failure happens again. `-` reads stdin.\n"
		"\n"
		"Prints one line per LOG: `LOG: CLASS key=value...`, with only the\n"
		"fields that were found. With --json, one object per line with the\n"
		"fields file, class, kernel, assert_expr, source, exception, message,\n"
		"frame, error_code, line, evidence and fingerprint (null where absent).\n"
		"\n"
		"Exits 0 when every LOG was read, 1 when one could not be (the others\n"
		"are still classified), 2 on a usage error.",
	.example =
		"$ casebisect classify examples/logs/oom.log examples/logs/clean.log\n"
		"examples/logs/oom.log: oom exception=torch.OutOfMemoryError frame=unet_decoder.py:forward line=60 fingerprint=d1b3a7e3eca7769d\n"
		"examples/logs/clean.log: none\n"
		"\n"
		"$ casebisect classify --json - < examples/logs/clean.log\n"
		"{\"file\":\"-\",\"class\":\"none\",\"kernel\":null,\"assert_expr\":null,\"source\":null,\"exception\":null,\"message\":null,\"frame\":null,\"error_code\":null,\"line\":null,\"evidence\":null,\"fingerprint\":\"a0bbf3f29f7ba2a2\"}\n"
		"\n"
		"Two runs failed the same way at a --match level when their fingerprints\n"
		"at that level are equal: with --match kernel, two device asserts in the\n"
		"same kernel with the same assertion match, whatever the block, thread\n"
		"or line; two Python errors (other_error, data_error) match when they\n"
		"have the same exception type and were raised by the same function of\n"
		"a file of the same name, whatever the line or the install path.",
	.options = classify_options,
	.n_options = CB_ARRAY_SIZE(classify_options),
};

/*
 * Feeds one log to a fresh classifier and fills *sig. Returns 0, or -1 with
 * errno set when the log could not be opened or read (nothing is printed).
 */
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

void cmd_print_signature(FILE *f, const struct cls_signature *sig, int level)
{
	char fp[17];

	fputs(cls_class_name(sig->klass), f);
	if (sig->klass == CLS_NONE)
		return;
	if (sig->kernel[0])
		print_field(f, "kernel", sig->kernel);
	if (sig->assert_expr[0])
		print_field(f, "assert", sig->assert_expr);
	if (sig->error_code[0])
		print_field(f, "error_code", sig->error_code);
	if (sig->exception[0])
		print_field(f, "exception", sig->exception);
	if (sig->frame[0])
		print_field(f, "frame", sig->frame);
	if (sig->line)
		fprintf(f, " line=%llu", (unsigned long long)sig->line);
	cls_fingerprint_hex(sig, (enum cls_match)level, fp);
	fprintf(f, " fingerprint=%s", fp);
}

static void print_text(const char *file, const struct cls_signature *sig,
		       enum cls_match level)
{
	printf("%s: ", file);
	cmd_print_signature(stdout, sig, level);
	putchar('\n');
}

static void print_json(const char *file, const struct cls_signature *sig,
		       enum cls_match level)
{
	cJSON *obj = json_object();
	char *text;

	json_add_str(obj, "file", file);
	json_add_str(obj, "class", cls_class_name(sig->klass));
	json_add_signature(obj, sig, level);
	text = json_finish(obj, false);
	puts(text);
	free(text);
}

enum cb_exit cmd_classify(int argc, char **argv)
{
	struct cli_parser p;
	struct cls_signature *sig = NULL;
	enum cls_match level = CLS_MATCH_KERNEL;
	enum cb_exit ret = CB_EXIT_OK;
	bool json = false;
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

	/* A signature is about 7 KiB: heap, not stack. */
	sig = xmalloc(sizeof(*sig));
	for (i = 0; i < p.n_operands; i++) {
		const char *file = p.operands[i];

		if (cls_read_file(file, sig) < 0) {
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
	cli_parser_release(&p);
	return ret;
}
