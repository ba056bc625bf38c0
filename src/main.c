/* main: casebisect's entry point. Finds the subcommand, runs it, and turns
 * its result into the exit status in one place, after checking stdout. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "casebisect/cli.h"
#include "casebisect/util.h"
#include "version.h" /* CASEBISECT_GIT: made by the Makefile, "" outside git */

#ifndef CASEBISECT_VERSION
#define CASEBISECT_VERSION "unknown"
#endif

struct command {
	const char *name;
	const char *summary; /* one line for `casebisect --help` */
	enum cb_exit (*fn)(int argc, char **argv);
};

/* The implemented subcommands, in the order --help lists them. Adding one
 * is one line here plus its src/cmd_NAME.c (declared in cli.h). */
static const struct command commands[] = {
	{ "run", "find the cases that crash your training (the main job)", cmd_run },
	{ "resume", "continue a run after Ctrl-C, a crash or a reboot", cmd_resume },
	{ "report", "render a run's report again from its journal", cmd_report },
	{ "bundle", "a de-identified repro of a run's culprits (--synthetic), verified", cmd_bundle },
	{ "nnunet", "run on an nnU-Net v2 dataset with casebisect's probe trainer", cmd_nnunet },
	{ "demo", "the whole thing on a bundled example (64 cases, two bad)", cmd_demo },
	{ "cases", "what casebisect sees in a dataset: format, cases, labels, digest", cmd_cases },
	{ "audit", "check every label file without a GPU: values, geometry, corruption", cmd_audit },
	{ "classify", "how did a training run end? read its log", cmd_classify },
	{ "gpus", "the CUDA devices of this machine, with driver and runtime versions", cmd_gpus },
	{ "trial", "run a command once the way casebisect runs a trial", cmd_trial },
};

static const char usage_line[] = "usage: casebisect [--version] [--help] COMMAND [ARGS...]\n";

static void print_overview(FILE *f)
{
	size_t i;

	fputs(usage_line, f);
	fputs("\ncasebisect finds which training cases crash GPU training: it reruns the\n"
	      "training command on subsets of the dataset and reads how each run ended.\n"
	      "\ncommands:\n", f);
	for (i = 0; i < CB_ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "  %-12s %s\n", "help", "show the help of a command");
	fputs("\n'casebisect help COMMAND' or 'casebisect COMMAND --help' shows a\n"
	      "command's options and a worked example.\n", f);
}

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static enum cb_exit unknown_command(const char *name)
{
	const char *names[CB_ARRAY_SIZE(commands) + 1];
	const char *best;
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(commands); i++)
		names[i] = commands[i].name;
	names[i] = "help";
	best = cli_closest(name, names, CB_ARRAY_SIZE(names));
	cli_error("'%s' is not a casebisect command", name);
	if (best)
		fprintf(stderr, "hint: did you mean '%s'? see 'casebisect --help'\n", best);
	else
		fputs("hint: see 'casebisect --help' for the commands\n", stderr);
	return CB_EXIT_USAGE;
}

static enum cb_exit unknown_global_option(const char *opt)
{
	static const char *const names[] = { "--help", "--version" };
	const char *best = cli_closest(opt, names, CB_ARRAY_SIZE(names));

	cli_error("unknown option '%s'", opt);
	if (best)
		fprintf(stderr, "hint: did you mean '%s'? see 'casebisect --help'\n", best);
	else
		fputs("hint: see 'casebisect --help'\n", stderr);
	return CB_EXIT_USAGE;
}

static bool is_help_opt(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* `casebisect help [COMMAND]`: a command's help is what COMMAND --help
 * prints; `help --help` and `help COMMAND --help` mean the same. */
static enum cb_exit help(int argc, char **argv)
{
	const struct command *cmd;
	char help_opt[] = "--help";
	char *sub_argv[3];

	if (argc < 2 || strcmp(argv[1], "help") == 0 || is_help_opt(argv[1])) {
		print_overview(stdout);
		return CB_EXIT_OK;
	}
	if (argc > 2 && !(argc == 3 && is_help_opt(argv[2]))) {
		cli_error("'help' takes one COMMAND, not '%s'", argv[2]);
		fputs("hint: see 'casebisect --help'\n", stderr);
		return CB_EXIT_USAGE;
	}
	cmd = find_command(argv[1]);
	if (!cmd)
		return unknown_command(argv[1]);
	sub_argv[0] = argv[1];
	sub_argv[1] = help_opt;
	sub_argv[2] = NULL;
	return cmd->fn(2, sub_argv);
}

static enum cb_exit dispatch(int argc, char **argv)
{
	const struct command *cmd;
	const char *arg;

	if (argc < 2) {
		fputs(usage_line, stderr);
		fputs("hint: see 'casebisect --help' for the commands\n", stderr);
		return CB_EXIT_USAGE;
	}
	arg = argv[1];
	if (is_help_opt(arg)) {
		print_overview(stdout);
		return CB_EXIT_OK;
	}
	if (strcmp(arg, "--version") == 0) {
		if (CASEBISECT_GIT[0])
			puts("casebisect " CASEBISECT_VERSION " (git " CASEBISECT_GIT ")");
		else
			puts("casebisect " CASEBISECT_VERSION);
		return CB_EXIT_OK;
	}
	if (strcmp(arg, "help") == 0)
		return help(argc - 1, argv + 1);
	if (arg[0] == '-')
		return unknown_global_option(arg);
	cmd = find_command(arg);
	if (!cmd)
		return unknown_command(arg);
	return cmd->fn(argc - 1, argv + 1);
}

/*
 * A closed stdout must be an error, yet a log opened later would take fd 1
 * and printf would write into it. So a closed 0, 1 or 2 is reopened on
 * /dev/null read-only: reads see EOF, writes fail, and the failed write is
 * reported by finish_stdout() (git's sanitize_stdfds does the first half).
 */
static void sanitize_std_fds(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		if (open("/dev/null", O_RDONLY) < 0)
			die("cannot open /dev/null: %s", strerror(errno));
	}
}

/*
 * jq's rule: output that did not arrive is a failure, not silent
 * truncation. A full disk or a closed stdout turns success into
 * CB_EXIT_ERROR; a command that already failed keeps its own code.
 */
static enum cb_exit finish_stdout(enum cb_exit ret)
{
	int err = 0;
	int failed;

	errno = 0;
	failed = fflush(stdout) != 0;
	if (failed)
		err = errno;
	else if (ferror(stdout))
		failed = 1; /* an earlier write failed; its errno is gone */
	errno = 0;
	if (fclose(stdout) != 0 && !failed) {
		failed = 1;
		err = errno;
	}
	if (!failed)
		return ret;
	/* Not cli_error(): it flushes stdout, which is closed now. */
	if (err)
		fprintf(stderr, "casebisect: cannot write standard output: %s\n",
			strerror(err));
	else
		fputs("casebisect: cannot write standard output\n", stderr);
	return ret == CB_EXIT_OK ? CB_EXIT_ERROR : ret;
}

int main(int argc, char **argv)
{
	enum cb_exit ret;

	sanitize_std_fds();
	ret = dispatch(argc, argv);
	return (int)finish_stdout(ret);
}
