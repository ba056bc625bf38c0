/* cmd_report: `casebisect report WORKDIR [--format md|json]`, render a run's
 * report again from its journal (src/run.c: run_report()). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "casebisect/cli.h"
#include "casebisect/run.h"
#include "casebisect/util.h"

enum { OPT_FORMAT = 1 };

static const struct cli_option report_options[] = {
	{ "format", 0, CLI_ARG_REQUIRED, OPT_FORMAT, "md|json", "what to print (default md)" },
};

static const struct cli_command report_cmd = {
	.name = "report",
	.usage = "[--format md|json] WORKDIR",
	.description =
		"Render the report of the run in WORKDIR again from its journal, print it,\n"
		"and rewrite WORKDIR/report.md and report.json. Nothing runs: a run that\n"
		"is not finished gives verdict undetermined with what is known so far\n"
		"(go on with 'casebisect resume WORKDIR'). The dataset must still be where\n"
		"it was. After a culprit was fixed (its file changed) a warning names the\n"
		"changed files and the report is rendered as the trials ran; after one\n"
		"was removed, the report stays the one the run wrote.\n"
		"\n"
		"Exits 0, or 1 when WORKDIR is not a casebisect work directory.",
	.example =
		"$ casebisect report /scratch/triage --format json | jq .culprits[].case\n"
		"\"case_013\"\n"
		"\"case_042\"",
	.options = report_options,
	.n_options = CB_ARRAY_SIZE(report_options),
};

enum cb_exit cmd_report(int argc, char **argv)
{
	struct cli_parser p;
	const char *value, *format = "md";
	enum cb_exit ret = CB_EXIT_USAGE;
	int id, r;

	cli_parser_init(&p, &report_cmd, argc, argv);
	while ((r = cli_next(&p, &id, &value)) > 0) {
		switch (id) {
		case CLI_OPT_HELP:
			cli_print_help(&report_cmd, stdout);
			ret = CB_EXIT_OK;
			goto out;
		case OPT_FORMAT:
			if (strcmp(value, "md") && strcmp(value, "json")) {
				ret = cli_usage_error(&report_cmd, "--format '%s': expected md or json",
						      value);
				goto out;
			}
			format = value;
			break;
		}
	}
	if (r < 0)
		goto out;
	if (p.n_operands != 1) {
		ret = cli_usage_error(&report_cmd, "%s", p.n_operands ? "one WORKDIR, please" :
				      "no WORKDIR: casebisect report WORKDIR");
		goto out;
	}
	{
		/* stdout is the report's: warnings go to stderr */
		struct cmd_progress cp;
		struct run_result res;

		cmd_progress_init(&cp, RUN_EVENTS_JSON);
		ret = cmd_exit_of(run_report(p.operands[0], &cp.p, &res));
		if (ret == CB_EXIT_OK) {
			char *path = cb_fmt("%s/report.%s", res.workdir,
					    strcmp(format, "json") ? "md" : "json");
			char *text = cb_read_file(path, NULL);

			if (text) {
				fputs(text, stdout);
				free(text);
			} else {
				cli_error("cannot read '%s': %s", path, strerror(errno));
				ret = CB_EXIT_ERROR;
			}
			free(path);
		}
		run_result_release(&res);
	}
out:
	cli_parser_release(&p);
	return ret;
}
