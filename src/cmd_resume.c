/* cmd_resume: `casebisect resume WORKDIR`, go on with a run after Ctrl-C, a
 * crash of casebisect, kill -9 or a reboot (src/run.c: run_resume()). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "casebisect/cli.h"
#include "casebisect/run.h"
#include "casebisect/slurm.h"
#include "casebisect/util.h"

enum {
	OPT_MAX_TRIALS = 1, OPT_DEADLINE, OPT_JSON_EVENTS, OPT_JOBS, OPT_PER_GPU, OPT_GPUS,
	OPT_LAUNCHER, OPT_SLURM_ARGS, OPT_ON_EXIT,
};

static const struct cli_option resume_options[] = {
	{ "max-trials", 0, CLI_ARG_REQUIRED, OPT_MAX_TRIALS, "N",
	  "stop after N trials in all (journal included) with what is known" },
	{ "deadline", 0, CLI_ARG_REQUIRED, OPT_DEADLINE, "TIME",
	  "no new trial after TIME: HH:MM, or a DURATION from now (8h, 1h30m)" },
	{ "json-events", 0, CLI_ARG_NONE, OPT_JSON_EVENTS, NULL,
	  "print one JSON object per event instead of lines" },
	{ "jobs", 'j', CLI_ARG_REQUIRED, OPT_JOBS, "N", "trials at once from now on" },
	{ "per-gpu", 0, CLI_ARG_REQUIRED, OPT_PER_GPU, "N", "trials at once on each device" },
	{ "gpus", 0, CLI_ARG_REQUIRED, OPT_GPUS, "auto|none|LIST", "devices for the trials" },
	{ "launcher", 0, CLI_ARG_REQUIRED, OPT_LAUNCHER, "local|slurm",
	  "where trials run from now on" },
	{ "slurm-args", 0, CLI_ARG_REQUIRED, OPT_SLURM_ARGS, "ARGS",
	  "the srun options of every trial from now on (partition, account, ...)" },
	{ "on-exit", 0, CLI_ARG_REQUIRED, OPT_ON_EXIT, "CMD",
	  "the command run when the run ends, from now on (\"\": none)" },
};

static const struct cli_command resume_cmd = {
	.name = "resume",
	.usage = "[options] WORKDIR",
	.description =
		"Continue the run in WORKDIR where it stopped: after Ctrl-C, a crash of\n"
		"casebisect, kill -9 or a reboot. Every trial in WORKDIR/journal.jsonl\n"
		"counts as done and is never run again; trials that were running when\n"
		"casebisect stopped run again, after any of their processes still alive\n"
		"are ended (trials run in sessions of their own, so they outlive a killed\n"
		"casebisect). The options, the command and the dataset are those of the\n"
		"run (WORKDIR/run.json); a dataset that changed since is refused, since\n"
		"the journal's answers would no longer hold. --max-trials and --deadline\n"
		"may be given anew, and where trials run (--jobs, --per-gpu, --gpus,\n"
		"--launcher, --slurm-args: e.g. another partition), and --on-exit; what\n"
		"a trial is (the command, its options, the match level) stays as the\n"
		"run began, and so\n"
		"do the search's options (--strategy, --flaky, --repeat, --confirm...):\n"
		"the journal replays the search, which must propose what it did.\n"
		"An undetermined run (out of --max-trials or --deadline) goes on with a\n"
		"larger --max-trials N (every trial counts, the earlier ones too) or a\n"
		"later --deadline.\n"
		"\n"
		"Exit status as for 'casebisect run'.",
	.example =
		"$ casebisect run --workdir /scratch/triage DATASET -- COMMAND...\n"
		"^C\n"
		"casebisect: interrupted; finished trials are in the journal.\n"
		"hint: continue with 'casebisect resume /scratch/triage'\n"
		"$ casebisect resume /scratch/triage\n"
		"[03:12:40] journal: 9 finished trials, not run again",
	.options = resume_options,
	.n_options = CB_ARRAY_SIZE(resume_options),
};

enum cb_exit cmd_resume(int argc, char **argv)
{
	struct cli_parser p;
	const char *value;
	enum cb_exit ret = CB_EXIT_USAGE;
	enum run_events events = RUN_EVENTS_AUTO;
	struct run_overrides o = { 0, 0, NULL, -1, NULL, NULL };
	unsigned long long max_trials = 0, n;
	double deadline = 0;
	int id, r;

	cli_parser_init(&p, &resume_cmd, argc, argv);
	while ((r = cli_next(&p, &id, &value)) > 0) {
		switch (id) {
		case CLI_OPT_HELP:
			cli_print_help(&resume_cmd, stdout);
			ret = CB_EXIT_OK;
			goto out;
		case OPT_MAX_TRIALS:
			if (cli_parse_count(value, ULLONG_MAX, &max_trials)) {
				ret = cli_usage_error(&resume_cmd, "--max-trials '%s': expected a whole number",
						      value);
				goto out;
			}
			break;
		case OPT_DEADLINE:
			if (cli_parse_deadline(&resume_cmd, value, &deadline))
				goto out;
			break;
		case OPT_JSON_EVENTS: events = RUN_EVENTS_JSON; break;
		case OPT_JOBS:
		case OPT_PER_GPU:
			if (cli_parse_count(value, 100000, &n) || !n) {
				ret = cli_usage_error(&resume_cmd, "'%s': expected a whole number from 1",
						      value);
				goto out;
			}
			if (id == OPT_JOBS)
				o.jobs = (size_t)n;
			else
				o.per_gpu = (size_t)n;
			break;
		case OPT_GPUS: o.gpus = value; break;
		case OPT_LAUNCHER:
		{
			enum sup_launcher l;

			if (sup_launcher_parse(value, &l)) {
				ret = cli_usage_error(&resume_cmd, "--launcher '%s': expected local or slurm",
						      value);
				goto out;
			}
			o.launcher = (int)l;
			break;
		}
		case OPT_SLURM_ARGS: {
			char **words = NULL, err[256];
			size_t nw = 0;

			if (slurm_split_args(value, &words, &nw, err, sizeof(err))) {
				ret = cli_usage_error(&resume_cmd, "--slurm-args: %s", err);
				goto out;
			}
			slurm_words_free(words);
			o.slurm_args = value;
			break;
		}
		case OPT_ON_EXIT: o.on_exit = value; break;
		}
	}
	if (r < 0)
		goto out;
	if (p.n_operands != 1) {
		ret = cli_usage_error(&resume_cmd, "%s", p.n_operands ? "one WORKDIR, please" :
				      "no WORKDIR: casebisect resume WORKDIR");
		goto out;
	}
	{
		struct cmd_progress cp;
		struct run_result res;

		cmd_progress_init(&cp, events);
		ret = cmd_exit_of(run_resume(p.operands[0], max_trials, deadline, &o, &cp.p, &res));
		run_result_release(&res);
	}
out:
	cli_parser_release(&p);
	return ret;
}
