/* cmd_demo: `casebisect demo [--workdir DIR]`, the whole thing on a bundled
 * example: a synthetic nnU-Net raw dataset with two bad label files, and the
 * toy trainer (its CUDA build on a GPU, else its CPU build). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "casebisect/cli.h"
#include "casebisect/gpu.h"
#include "casebisect/proc_capture.h"
#include "casebisect/run.h"
#include "casebisect/util.h"

enum { OPT_WORKDIR = 1 };

static const struct cli_option demo_options[] = {
	{ "workdir", 0, CLI_ARG_REQUIRED, OPT_WORKDIR, "DIR",
	  "where the dataset, trials and report go (default ./casebisect-demo-DATE-TIME)" },
};

static const struct cli_command demo_cmd = {
	.name = "demo",
	.usage = "[--workdir DIR]",
	.description =
		"Run casebisect end to end on a bundled example. The demo writes a small\n"
		"synthetic nnU-Net raw dataset into DIR/dataset (64 cases, NIfTI files,\n"
		"labels {0,1,2} declared; two label files hold the value 7, as a mask saved\n"
		"with a stray value would), then runs 'casebisect run' on it with the toy\n"
		"trainer from harness/: its CUDA build when a GPU is present (a real\n"
		"device-side assert in a gather kernel), else its CPU build (the same\n"
		"bounds check on the CPU, classified cpu_index_error). It prints the\n"
		"verdict, where the report is, and the wall time and trials it took.\n"
		"\n"
		"Exit status as for 'casebisect run' (0 when the culprits were found).",
	.example =
		"$ casebisect demo --workdir /tmp/demo\n"
		"...\n"
		"verdict: culprits_found\n"
		"  culprit: case_013\n"
		"  culprit: case_042\n"
		"...\n"
		"trials: 5, wall time 0.7 s\n"
		"report: /tmp/demo/report.md\n"
		"...\n"
		"demo: 5 trials in 0.8 s",
	.options = demo_options,
	.n_options = CB_ARRAY_SIZE(demo_options),
};

static const char *const demo_bad[] = { "case_013=7", "case_042=7" };

/* Runs argv to its end (stdout dropped, stderr through, in our process
 * group so that a Ctrl-C stops it too); 0 when it exited 0. */
static int run_to_end(char **argv)
{
	struct proc_capture pc = PROC_CAPTURE_INIT;
	char err[512];
	int rc;

	pc.argv = (const char *const *)argv;
	pc.flags = PROC_INHERIT_STDERR | PROC_FOREGROUND;
	rc = proc_capture_run(&pc, err, sizeof(err));
	proc_capture_release(&pc);
	if (rc)
		cli_error("%s", err);
	return rc || pc.status != 0 ? -1 : 0;
}

static size_t journal_trials(const char *workdir)
{
	char *path = cb_path_join(workdir, "journal.jsonl"), *text = cb_read_file(path, NULL), *p;
	size_t n = 0;

	for (p = text; p && *p; p++)
		n += *p == '\n';
	free(text);
	free(path);
	return n;
}

enum cb_exit cmd_demo(int argc, char **argv)
{
	struct cli_parser p;
	struct run_config c;
	struct gpu_info *gpu = NULL;
	const char *value, *wd_opt = NULL;
	char *workdir = NULL, *dataset = NULL, *mkcases = NULL, *toy = NULL, *toy_cuda = NULL;
	char name[64], *gen[16];
	const char *cmd[8];
	enum cb_exit ret = CB_EXIT_USAGE;
	struct timespec t0, t1;
	int id, r;
	size_t k = 0, i;

	cli_parser_init(&p, &demo_cmd, argc, argv);
	while ((r = cli_next(&p, &id, &value)) > 0) {
		if (id == CLI_OPT_HELP) {
			cli_print_help(&demo_cmd, stdout);
			ret = CB_EXIT_OK;
			goto out;
		}
		if (id == OPT_WORKDIR)
			wd_opt = value;
	}
	if (r < 0)
		goto out;
	if (p.n_operands) {
		ret = cli_usage_error(&demo_cmd, "demo takes no operands, not '%s'", p.operands[0]);
		goto out;
	}
	ret = CB_EXIT_ERROR;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!wd_opt) {
		time_t now = time(NULL);
		struct tm tm;

		localtime_r(&now, &tm);
		strftime(name, sizeof(name), "casebisect-demo-%Y%m%d-%H%M%S", &tm);
		wd_opt = name;
	}
	if (mkdir(wd_opt, 0755)) {
		cli_error("cannot create --workdir '%s': %s", wd_opt, strerror(errno));
		if (errno == EEXIST)
			fputs("hint: give a folder that does not exist yet\n", stderr);
		goto out;
	}
	workdir = realpath(wd_opt, NULL);
	mkcases = cb_find_helper("examples", "mkcases", X_OK);
	toy = cb_find_helper("harness", "toytrain", X_OK);
	toy_cuda = cb_find_helper("harness", "toytrain-cuda", X_OK);
	if (!workdir || !mkcases || !toy) {
		cli_error("the demo's helpers are missing (examples/mkcases, harness/toytrain)");
		fputs("hint: run 'make' in the source tree, or 'make install'\n", stderr);
		goto out;
	}
	dataset = cb_path_join(workdir, "dataset");
	gen[k++] = mkcases;
	gen[k++] = (char *)"--cases";
	gen[k++] = (char *)"64";
	for (i = 0; i < CB_ARRAY_SIZE(demo_bad); i++) {
		gen[k++] = (char *)"--bad";
		gen[k++] = (char *)demo_bad[i];
	}
	gen[k++] = dataset;
	gen[k] = NULL;
	cmd_say("demo: writing a synthetic nnU-Net raw dataset of 64 cases to %s", dataset);
	if (run_to_end(gen)) {
		cli_error("could not write the demo dataset with %s", mkcases);
		goto out;
	}

	gpu = xmalloc(sizeof(*gpu));
	gpu_discover(gpu, 20000);
	run_config_init(&c);
	k = 0;
	if (gpu->available && toy_cuda) {
		cmd[k++] = toy_cuda;
		cmd_say("demo: GPU found (%s): the toy trainer's CUDA build", gpu->dev[0].name);
	} else {
		cmd[k++] = toy;
		c.gpus = "none";
		c.jobs = 2;
		cmd_say("demo: %s: the toy trainer's CPU build, 2 trials at once",
			gpu->available ? "no CUDA build of the toy trainer (nvcc was missing)" :
			"no GPU");
	}
	cmd[k++] = "--cases-file";
	cmd[k++] = "{cases_file}";
	cmd[k++] = "--files-file";
	cmd[k++] = "{files_file}";
	cmd[k] = NULL;
	c.dataset = dataset;
	c.command = cmd;
	c.workdir = workdir;
	c.workdir_exists_ok = true;
	ret = cmd_run_start(&c);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cmd_say("demo: %zu trials in %.1f s", journal_trials(workdir),
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
out:
	free(gpu);
	free(workdir);
	free(dataset);
	free(mkcases);
	free(toy);
	free(toy_cuda);
	cli_parser_release(&p);
	return ret;
}
