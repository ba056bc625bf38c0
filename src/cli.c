/* cli: the option parser, help and usage errors every subcommand shares;
 * see include/casebisect/cli.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "casebisect/cli.h"
#include "casebisect/util.h"

/* Names longer than this get no suggestion (keeps the distance table fixed). */
#define NAME_CMP_MAX 64

static void verror(const char *fmt, va_list ap)
{
	fflush(stdout);
	fputs("casebisect: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(fmt, ap);
	va_end(ap);
}

static void print_hint(const struct cli_command *cmd, const char *suggestion)
{
	fputs("hint: ", stderr);
	if (suggestion)
		fprintf(stderr, "did you mean '%s'? ", suggestion);
	fprintf(stderr, "see 'casebisect help %s'\n", cmd->name);
}

enum cb_exit cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(fmt, ap);
	va_end(ap);
	print_hint(cmd, NULL);
	return CB_EXIT_USAGE;
}

/* Optimal string alignment distance (Levenshtein plus adjacent swaps, so
 * "jsno" is one step from "json"). SIZE_MAX when either is too long. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[3][NAME_CMP_MAX + 1]; /* rows i-2, i-1, i, rotated */
	size_t i, j;

	if (la > NAME_CMP_MAX || lb > NAME_CMP_MAX)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++) {
		size_t *cur = d[i % 3], *prev = d[(i - 1) % 3], *prev2 = d[(i - 2) % 3];

		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t v = prev[j - 1] + cost;

			if (prev[j] + 1 < v)
				v = prev[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < v)
				v = prev2[j - 2] + 1;
			cur[j] = v;
		}
	}
	return d[la % 3][lb];
}

const char *cli_closest(const char *word, const char *const *candidates,
			size_t n)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX, wl = strlen(word), i;
	bool tie = false;

	if (!wl)
		return NULL;
	for (i = 0; i < n; i++) {
		size_t cl = strlen(candidates[i]), maxl = wl > cl ? wl : cl;
		size_t d, limit = maxl <= 4 ? 1 : maxl <= 8 ? 2 : 3;

		/* A prefix ("--mat" for "--match") is as good as one typo. */
		d = strncmp(candidates[i], word, wl) == 0 ? 1
			: edit_distance(word, candidates[i]);
		if (d > limit || d >= maxl)
			continue;
		if (d < best_d) {
			best = candidates[i];
			best_d = d;
			tie = false;
		} else if (d == best_d) {
			tie = true;
		}
	}
	return tie ? NULL : best;
}

void cli_parser_init(struct cli_parser *p, const struct cli_command *cmd,
		     int argc, char **argv)
{
	memset(p, 0, sizeof(*p));
	p->cmd = cmd;
	p->argc = argc;
	p->argv = argv;
	p->next = 1;
	p->operands = xcalloc(argc > 0 ? (size_t)argc : 1, sizeof(*p->operands));
}

void cli_parser_release(struct cli_parser *p)
{
	free(p->operands);
	p->operands = NULL;
	p->n_operands = 0;
}

/* "--jsn" -> "json": the closest of the command's long options and "help". */
static const char *closest_long(const struct cli_command *cmd, const char *name)
{
	const char *names[64];
	size_t n = 0, i;

	names[n++] = "help";
	for (i = 0; i < cmd->n_options && n < CB_ARRAY_SIZE(names); i++)
		if (cmd->options[i].name)
			names[n++] = cmd->options[i].name;
	return cli_closest(name, names, n);
}

static int unknown_option(struct cli_parser *p, const char *shown,
			  const char *long_name)
{
	const char *best = long_name ? closest_long(p->cmd, long_name) : NULL;
	char suggestion[NAME_CMP_MAX + 3];

	cli_error("unknown option '%s' for '%s'", shown, p->cmd->name);
	if (best)
		snprintf(suggestion, sizeof(suggestion), "--%s", best);
	print_hint(p->cmd, best ? suggestion : NULL);
	return -1;
}

static const struct cli_option *find_long(const struct cli_command *cmd,
					  const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < cmd->n_options; i++) {
		const char *o = cmd->options[i].name;

		if (o && strlen(o) == len && memcmp(o, name, len) == 0)
			return &cmd->options[i];
	}
	return NULL;
}

static const struct cli_option *find_short(const struct cli_command *cmd, char c)
{
	size_t i;

	for (i = 0; i < cmd->n_options; i++)
		if (cmd->options[i].short_name == c)
			return &cmd->options[i];
	return NULL;
}

static int parse_long(struct cli_parser *p, const char *arg, int *id,
		      const char **value)
{
	const char *name = arg + 2;
	const char *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	const struct cli_option *o = find_long(p->cmd, name, len);
	char shown[NAME_CMP_MAX + 3];

	if (!o && len == 4 && memcmp(name, "help", 4) == 0 && !eq) {
		*id = CLI_OPT_HELP;
		*value = NULL;
		return 1;
	}
	if (!o) {
		char bare[NAME_CMP_MAX + 1];

		/* Show "--jsn" for "--jsn=1": the value is not the mistake. */
		snprintf(shown, sizeof(shown), "--%.*s", (int)len, name);
		if (len > NAME_CMP_MAX)
			return unknown_option(p, shown, NULL);
		memcpy(bare, name, len);
		bare[len] = '\0';
		return unknown_option(p, shown, bare);
	}
	*id = o->id;
	*value = NULL;
	if (o->arg == CLI_ARG_NONE) {
		if (eq) {
			cli_error("option '--%s' takes no value", o->name);
			print_hint(p->cmd, NULL);
			return -1;
		}
		return 1;
	}
	if (eq) {
		*value = eq + 1;
		return 1;
	}
	if (p->next >= p->argc) {
		cli_error("option '--%s' needs a value (%s)", o->name,
			  o->argname ? o->argname : "VALUE");
		print_hint(p->cmd, NULL);
		return -1;
	}
	*value = p->argv[p->next++];
	return 1;
}

/* One letter of a bundle such as "-h" or "-mkernel"; p->bundle points at it. */
static int parse_short(struct cli_parser *p, int *id, const char **value)
{
	char c = *p->bundle++;
	const struct cli_option *o = find_short(p->cmd, c);
	char shown[3] = { '-', c, '\0' };

	if (!*p->bundle)
		p->bundle = NULL;
	*value = NULL;
	if (!o && c == 'h') {
		*id = CLI_OPT_HELP;
		return 1;
	}
	if (!o)
		return unknown_option(p, shown, NULL);
	*id = o->id;
	if (o->arg == CLI_ARG_NONE)
		return 1;
	if (p->bundle) {
		*value = p->bundle;
		p->bundle = NULL;
		return 1;
	}
	if (p->next >= p->argc) {
		cli_error("option '-%c' needs a value (%s)", c,
			  o->argname ? o->argname : "VALUE");
		print_hint(p->cmd, NULL);
		return -1;
	}
	*value = p->argv[p->next++];
	return 1;
}

int cli_next(struct cli_parser *p, int *id, const char **value)
{
	if (p->bundle)
		return parse_short(p, id, value);
	while (p->next < p->argc) {
		const char *arg = p->argv[p->next++];

		if (p->saw_dashdash || arg[0] != '-' || arg[1] == '\0') {
			p->operands[p->n_operands++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			p->saw_dashdash = true;
			p->dashdash = p->n_operands;
			continue;
		}
		if (arg[1] == '-')
			return parse_long(p, arg, id, value);
		p->bundle = arg + 1;
		return parse_short(p, id, value);
	}
	if (!p->saw_dashdash)
		p->dashdash = p->n_operands;
	return 0;
}

/* Prints text indented by `indent` spaces, each line on its own. */
static void print_indented(FILE *f, const char *text, int indent)
{
	while (*text) {
		const char *nl = strchr(text, '\n');
		int len = nl ? (int)(nl - text) : (int)strlen(text);

		if (len)
			fprintf(f, "%*s%.*s\n", indent, "", len, text);
		else
			fputc('\n', f);
		text += len + (nl != NULL);
	}
}

void cli_print_help(const struct cli_command *cmd, FILE *f)
{
	size_t i;

	fprintf(f, "usage: casebisect %s %s\n\n", cmd->name, cmd->usage);
	print_indented(f, cmd->description, 0);
	fputs("\noptions:\n", f);
	for (i = 0; i <= cmd->n_options; i++) {
		const struct cli_option *o = i < cmd->n_options ? &cmd->options[i] : NULL;
		char left[96];
		int n = 0;

		if (!o) {
			fprintf(f, "  %-24s %s\n", "-h, --help", "show this help");
			break;
		}
		if (o->short_name)
			n = snprintf(left, sizeof(left), "-%c%s", o->short_name,
				     o->name ? ", " : "");
		if (o->name && n >= 0 && (size_t)n < sizeof(left))
			n += snprintf(left + n, sizeof(left) - (size_t)n, "--%s", o->name);
		if (o->arg == CLI_ARG_REQUIRED && n >= 0 && (size_t)n < sizeof(left))
			snprintf(left + n, sizeof(left) - (size_t)n, " %s",
				 o->argname ? o->argname : "VALUE");
		fprintf(f, "  %-24s %s\n", left, o->help);
	}
	if (cmd->example && *cmd->example) {
		fputs("\nexample:\n", f);
		print_indented(f, cmd->example, 2);
	}
}

const struct cli_option *cli_find_option(const struct cli_command *cmd, int id)
{
	size_t i;

	for (i = 0; i < cmd->n_options; i++)
		if (cmd->options[i].id == id)
			return &cmd->options[i];
	return NULL;
}

/* One "NUMBER UNIT" of a duration ("1.5h"): digits with an optional
 * fraction, no sign or exponent. Returns the characters read, 0 when none. */
static size_t duration_part(const char *v, double *n, char *unit)
{
	size_t len = strspn(v, "0123456789."), used;
	char num[64], *end;

	if (!len || len >= sizeof(num) || !strchr("dhms", v[len]) || !v[len])
		return 0;
	memcpy(num, v, len);
	num[len] = '\0';
	*n = strtod(num, &end);
	used = (size_t)(end - num);
	if (used != len)
		return 0; /* "1.2.3", "." */
	*unit = v[len];
	return len + 1;
}

/* "600", "0.5", "90m", "1h30m", "45s", "2d", "1.5h": a plain number is
 * seconds; otherwise parts with units d, h, m, s, each at most once and
 * largest first (Go's and systemd's spelling, without "30m1h"). */
int cli_parse_seconds(const char *v, double *out)
{
	static const char units[] = "dhms";
	static const double unit_s[] = { 86400, 3600, 60, 1 };
	const char *last = NULL; /* in units[]: the last unit seen */
	double total = 0, n;
	char *end, unit;
	size_t used;

	errno = 0;
	total = strtod(v, &end);
	if (!errno && end != v && !*end) {
		if (!isfinite(total) || total < 0)
			return -1;
		*out = total;
		return 0;
	}
	total = 0;
	if (!*v)
		return -1;
	while (*v) {
		const char *u;

		if (!(used = duration_part(v, &n, &unit)))
			return -1;
		u = strchr(units, unit);
		if (last && u <= last)
			return -1; /* "30m1h", "1h1h" */
		last = u;
		total += n * unit_s[u - units];
		v += used;
	}
	if (!isfinite(total))
		return -1;
	*out = total;
	return 0;
}

int cli_parse_bytes(const char *v, size_t *out)
{
	char *end;
	unsigned long long n;
	unsigned shift = 0;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || end == v || *v == '-')
		return -1;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift)
		end++;
	if (*end || n > (SIZE_MAX >> shift))
		return -1;
	*out = (size_t)(n << shift);
	return 0;
}

int cli_parse_log_bytes(const struct cli_command *cmd, const char *name, const char *value,
			size_t *out)
{
	size_t n;

	if (cli_parse_bytes(value, &n))
		return cli_usage_error(cmd, "--%s '%s': expected a size, e.g. 1048576, 64K or 1M",
				       name, value);
	if (n > CLI_LOG_BYTES_MAX)
		return cli_usage_error(cmd, "--%s '%s': at most 1G (%zu bytes)", name, value,
				       CLI_LOG_BYTES_MAX);
	*out = n;
	return 0;
}

int cli_parse_duration(const struct cli_command *cmd, const char *name, const char *value,
		       double *out)
{
	double d;

	if (cli_parse_seconds(value, &d))
		return cli_usage_error(cmd, "--%s '%s': expected a duration such as %s", name,
				       value, CLI_DURATION_EXAMPLES);
	if (d > CLI_SECONDS_MAX)
		return cli_usage_error(cmd, "--%s '%s': at most %d seconds (%d days)", name, value,
				       CLI_SECONDS_MAX, CLI_SECONDS_MAX / 86400);
	*out = d;
	return 0;
}

/* "8h", "1h30m", "3600": seconds from now; "07:30": the next 07:30. */
int cli_parse_deadline(const struct cli_command *cmd, const char *v, double *out)
{
	int h, m;
	char tail;
	double secs;

	if (sscanf(v, "%d:%d%c", &h, &m, &tail) == 2 && h >= 0 && h < 24 && m >= 0 && m < 60) {
		time_t now = time(NULL), t;
		struct tm tm;

		localtime_r(&now, &tm);
		tm.tm_hour = h;
		tm.tm_min = m;
		tm.tm_sec = 0;
		t = mktime(&tm);
		if (t <= now)
			t += 24 * 3600;
		*out = (double)t;
		return 0;
	}
	if (cli_parse_seconds(v, &secs))
		return cli_usage_error(cmd, "--deadline '%s': expected HH:MM or a duration such as "
				       "%s", v, CLI_DURATION_EXAMPLES);
	if (secs > CLI_SECONDS_MAX)
		return cli_usage_error(cmd, "--deadline '%s': at most %d days from now", v,
				       CLI_SECONDS_MAX / 86400);
	*out = (double)time(NULL) + secs;
	return 0;
}

int cli_parse_format(const struct cli_command *cmd, const char *value, enum ds_format *out)
{
	if (!ds_format_parse(value, out))
		return 0;
	return cli_usage_error(cmd, "--format '%s': expected nnunet-pre, nnunet-raw, msd, list "
			       "or auto", value);
}

int cli_parse_count(const char *v, unsigned long long max, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(v, &end, 10);
	return errno || end == v || *end || *v == '-' || *out > max ? -1 : 0;
}
