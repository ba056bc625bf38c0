/* cli: what every subcommand shares: the exit codes, a table-driven option
 * parser (options before or after operands, up to `--`), help and errors. */
#ifndef CASEBISECT_CLI_H
#define CASEBISECT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "casebisect/dataset.h"
#include "casebisect/util.h"

/*
 * Exit codes, the only list of them (../shared/DESIGN.md, "Command line").
 * A subcommand returns one; main() turns it into the process's status.
 */
enum cb_exit {
	CB_EXIT_OK = 0,             /* done; for run/resume: answered */
	CB_EXIT_ERROR = 1,          /* bad input, I/O error, unreadable log */
	CB_EXIT_USAGE = 2,          /* bad command line */
	CB_EXIT_NOT_REPRODUCED = 3, /* the failure did not reproduce */
	CB_EXIT_NOT_DATA = 4,       /* the failure is not data-dependent */
	CB_EXIT_INTERRUPTED = 5,    /* interrupted; resumable */
	CB_EXIT_UNDETERMINED = 6,   /* out of trials or time, or too unresolved */
};

/*
 * A subcommand is a function from its arguments to an exit code.
 * argv[0] is the command's name ("classify"); argv[argc] is NULL.
 * Each lives in its own src/cmd_NAME.c; main.c's table lists them.
 */
enum cb_exit cmd_cases(int argc, char **argv);
enum cb_exit cmd_audit(int argc, char **argv);
enum cb_exit cmd_classify(int argc, char **argv);
enum cb_exit cmd_gpus(int argc, char **argv);
enum cb_exit cmd_trial(int argc, char **argv);
enum cb_exit cmd_run(int argc, char **argv);
enum cb_exit cmd_resume(int argc, char **argv);
enum cb_exit cmd_report(int argc, char **argv);
enum cb_exit cmd_demo(int argc, char **argv);
enum cb_exit cmd_nnunet(int argc, char **argv);
enum cb_exit cmd_bundle(int argc, char **argv);

/* run's options and help (cmd_run.c): `casebisect nnunet` takes them all
 * and hands them on to run. */
struct cli_command;
extern const struct cli_command cmd_run_spec;

/* Checks the value of one of run's options (id from cmd_run_spec's table)
 * as run does, without touching anything: nnunet checks what it hands on
 * before its slow steps. CB_EXIT_OK, or CB_EXIT_USAGE after a usage error
 * of cmd is printed. */
enum cb_exit cmd_run_check_option(const struct cli_command *cmd, int id, const char *value);

/* A run on the terminal (src/cmd_progress.c): the engine's progress
 * (run.h) rendered as lines with a status line on a terminal, time-stamped
 * lines otherwise, or one JSON object per line (RUN_EVENTS_JSON, the
 * verdict included); errors and hints on stderr. */
#include "casebisect/run.h"

struct cmd_progress {
	struct run_progress p;          /* hand &cp->p to the engine */
	enum run_events mode;
	bool tty, status_shown;
	bool status_ok;                 /* a terminal that can take a status line back */
};

void cmd_progress_init(struct cmd_progress *cp, enum run_events events);

/* One line on stdout, time-stamped ("[HH:MM:SS] ") when stdout is not a
 * terminal, as every line of a run's log is: the lines run, nnunet and
 * demo print before the engine starts. */
void cmd_say(const char *fmt, ...) CB_PRINTF(1, 2);

/* A run's exit status: main() exits with it. */
enum cb_exit cmd_exit_of(enum run_exit e);

/* run_start(c) rendered as c->events says (run, nnunet and demo). */
enum cb_exit cmd_run_start(const struct run_config *c);


/* Prints "CLASS key=value... fingerprint=HEX" (no newline), as classify
 * prints it after "LOG: "; level is the fingerprint's. */
void cmd_print_signature(FILE *f, const struct cls_signature *sig, int level);

/* Whether an option takes a value. */
enum cli_arg {
	CLI_ARG_NONE = 0,   /* --json */
	CLI_ARG_REQUIRED,   /* --match LEVEL, --match=LEVEL, -m LEVEL, -mLEVEL */
};

/*
 * One option of a subcommand. A table of these (a const array) describes
 * all of a command's options; `-h` and `--help` are always known and need
 * no entry.
 */
struct cli_option {
	const char *name;    /* long name without dashes ("match"), or NULL */
	char short_name;     /* 'm', or 0 for none */
	enum cli_arg arg;
	int id;              /* what cli_next() reports; > 0 */
	const char *argname; /* "LEVEL": shown in the help */
	const char *help;    /* one line for the help's option list */
};

/* The id cli_next() reports for -h / --help. */
#define CLI_OPT_HELP (-1)

/*
 * How a subcommand presents itself: its help is built from this, and its
 * errors name it. All strings are static.
 */
struct cli_command {
	const char *name;        /* "classify" */
	const char *usage;       /* "[--json] [--match LEVEL] LOG..." */
	const char *description; /* paragraphs, '\n'-separated, no trailing '\n' */
	const char *example;     /* a worked example: lines as typed and seen */
	const struct cli_option *options;
	size_t n_options;
};

/*
 * The parser. Steps, as in every subcommand:
 *
 *   1. cli_parser_init(&p, &spec, argc, argv);
 *   2. while ((r = cli_next(&p, &id, &value)) > 0) switch (id) { ... }
 *      r == 0: all arguments seen; r < 0: a usage error, already printed
 *      on stderr (return CB_EXIT_USAGE). On CLI_OPT_HELP the command
 *      prints cli_print_help() on stdout and returns CB_EXIT_OK.
 *   3. use p.operands[0 .. p.n_operands - 1]: in their order on the command
 *      line, options removed; those after a `--` start at index p.dashdash
 *      (== p.n_operands when there was none).
 *   4. cli_parser_release(&p).
 *
 * Rules (git's, without unique-prefix abbreviation): options may stand
 * before, between or after operands; `--` ends the options and everything
 * after it is an operand, even when it starts with '-'; `-` alone is an
 * operand (stdin). Short options bundle (`-ab`), and a short option with a
 * value takes the rest of its word or the next word. A long option takes a
 * value as `--name=value` or `--name value`.
 *
 * A usage error is one line `casebisect: ...` naming the option and the
 * command, then one `hint:` line: the closest known option when one is
 * close, and where to read the help.
 */
struct cli_parser {
	/* Read-only for the caller. */
	const char **operands; /* owned by the parser; the strings are argv's */
	size_t n_operands;
	size_t dashdash;       /* index in operands of the first after `--` */
	bool saw_dashdash;

	/* Private. */
	const struct cli_command *cmd;
	int argc;
	char **argv;
	int next;              /* next argv index to look at */
	const char *bundle;    /* rest of a short-option bundle, or NULL */
};

/* Fills p to parse argv[1 .. argc-1] for cmd (argv[0] is the command's
 * name). cmd and argv must outlive p. */
void cli_parser_init(struct cli_parser *p, const struct cli_command *cmd,
		     int argc, char **argv);

/* Finds the next option. Returns 1 and sets *id (the option's id, or
 * CLI_OPT_HELP) and *value (its value, or NULL when it takes none; points
 * into argv); 0 when no options are left; -1 after printing a usage error. */
int cli_next(struct cli_parser *p, int *id, const char **value);

/* Frees what p holds (not p itself). */
void cli_parser_release(struct cli_parser *p);

/* The entry of cmd's table whose id is id, or NULL. */
const struct cli_option *cli_find_option(const struct cli_command *cmd, int id);

/* Prints cmd's full help (usage, description, options, example) to f. */
void cli_print_help(const struct cli_command *cmd, FILE *f);

/* Prints "casebisect: <message>" and "hint: see 'casebisect help NAME'" on
 * stderr and returns CB_EXIT_USAGE, for usage errors a command finds itself
 * (a bad option value, a missing operand). */
enum cb_exit cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
	CB_PRINTF(2, 3);

/* Parses a duration: a plain number is seconds ("600", "0.5"); else parts
 * with units d, h, m, s, largest first, each at most once ("90m",
 * "1h30m", "45s", "2d", "1.5h"). Finite and not negative, no cap. 0, or -1
 * when it is not one. Options take durations through cli_parse_duration(). */
int cli_parse_seconds(const char *v, double *out);

/* What a usage error about a duration shows as examples. */
#define CLI_DURATION_EXAMPLES "600 (seconds), 45s, 90m, 1h30m or 2d"

/*
 * The longest duration any option takes, in seconds: 30 days. Longer is
 * refused, not clamped: timers count milliseconds in 64 bits, and a value
 * such as 1e23 overflowed that conversion and fired at once; no training
 * that someone waits on for an answer runs a month.
 */
#define CLI_SECONDS_MAX (30 * 24 * 3600)

/* Parses the value of the duration option --name ("600", "90m"), from 0 to
 * CLI_SECONDS_MAX. 0, or, after a usage error naming the option is
 * printed, CB_EXIT_USAGE. */
int cli_parse_duration(const struct cli_command *cmd, const char *name, const char *value,
		       double *out);

/* Parses --format for a command that reads a dataset. 0, or, after the
 * usage error is printed, CB_EXIT_USAGE. */
int cli_parse_format(const struct cli_command *cmd, const char *value, enum ds_format *out);

/* Parses a whole number for an option ("8"), at most max. 0, or -1 when
 * it is not one. */
int cli_parse_count(const char *v, unsigned long long max, unsigned long long *out);

/* Parses a size for an option ("1048576", "64K", "1M", "2G"). 0, or -1
 * when it is not one. */
int cli_parse_bytes(const char *v, size_t *out);

/*
 * The most --log-head and --log-tail each take: 1 GiB. Larger is refused,
 * not clamped: the tail is one buffer per stream and trial, allocated when
 * the head is full, so 1000G failed only then, mid-run, as "out of memory";
 * a log worth reading is far smaller.
 */
#define CLI_LOG_BYTES_MAX ((size_t)1 << 30)

/* Parses the value of the log size option --name ("64K", "1M"), at most
 * CLI_LOG_BYTES_MAX. 0, or, after a usage error naming the option is
 * printed, CB_EXIT_USAGE. */
int cli_parse_log_bytes(const struct cli_command *cmd, const char *name, const char *value,
			size_t *out);

/* Parses a --deadline: "07:30" (the next 07:30, local time) or a duration
 * from now (cli_parse_seconds(): "90m", "1h30m", "3600"; at most
 * CLI_SECONDS_MAX). Sets *out to a Unix time; 0, or, after a usage error
 * naming --deadline is printed, CB_EXIT_USAGE. */
int cli_parse_deadline(const struct cli_command *cmd, const char *v, double *out);

/* Prints "casebisect: <message>" on stderr. */
void cli_error(const char *fmt, ...) CB_PRINTF(1, 2);

/*
 * Returns the candidate closest to word (a mistyped command or option
 * name), or NULL when none is close enough to be a useful suggestion or
 * two are equally close. A candidate that word is a prefix of counts as
 * close. The result is one of candidates[].
 */
const char *cli_closest(const char *word, const char *const *candidates,
			size_t n);

#endif
