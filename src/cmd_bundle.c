/* cmd_bundle: `casebisect bundle --synthetic WORKDIR`, the synthetic repro
 * of a finished run, made after the fact (src/bundle_synth.c), and its
 * sentence added to the run's report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casebisect/cli.h"
#include "casebisect/run.h"
#include "casebisect/synth.h"
#include "casebisect/util.h"

enum { OPT_SYNTHETIC = 1, OPT_NO_VERIFY };

static const struct cli_option bundle_options[] = {
	{ "synthetic", 0, CLI_ARG_NONE, OPT_SYNTHETIC, NULL,
	  "make WORKDIR/synthetic/: the culprits de-identified, and verify it" },
	{ "no-verify", 0, CLI_ARG_NONE, OPT_NO_VERIFY, NULL,
	  "do not run the verification trial (the repro is then not verified)" },
};

static const struct cli_command bundle_cmd = {
	.name = "bundle",
	.usage = "--synthetic [--no-verify] WORKDIR",
	.description =
		"Make a repro of the finished run in WORKDIR that carries no patient:\n"
		"WORKDIR/synthetic/synthetic-bundle.tar.gz, a repro bundle like the plain\n"
		"one (repro.sh, the command, casebisect's programs it runs; unpacked, the\n"
		"same files are in WORKDIR/synthetic/bundle/), whose dataset/ holds the\n"
		"culprit cases in the dataset's own layout, each NIfTI file rewritten with\n"
		"the same shape, datatype and spacing:\n"
		"image voxels replaced by noise, labels reduced to background plus the\n"
		"offending voxels the label audit found (the whole label where it found\n"
		"none), header text (descrip, aux_file, intent_name, db_name) and extensions\n"
		"cleared, the origin moved to 0 unless the audit found a geometry problem.\n"
		"\n"
		"Attach that archive to a public issue, never bundle.tar.gz (the patients'\n"
		"files); it runs anywhere: tar xzf synthetic-bundle.tar.gz && bash\n"
		"bundle/repro.sh.\n"
		"\n"
		"Then the verification trial does just that in a fresh folder: it unpacks\n"
		"the archive and runs its repro.sh (the run's own command). When it does\n"
		"not crash with the same signature, it is tried again keeping the images'\n"
		"voxels, then the whole labels and the origin too: what had to be kept is\n"
		"said, never dropped silently. README.md and synthetic.json in the folder\n"
		"say what was done to each file and how the trial ended, and report.md gets\n"
		"the sentence. `run --synthetic` does the same at the end of a run.\n"
		"\n"
		"Exits 0 when the synthetic repro crashes with the same signature (or\n"
		"--no-verify), 3 when it does not reproduce, 1 on an error (no culprits,\n"
		"case files that are not NIfTI, a preprocessed nnU-Net dataset whose raw\n"
		"images are not in $nnUNet_raw).\n"
		"\n"
		"For a preprocessed nnU-Net dataset (casebisect nnunet) the arrays cannot be\n"
		"de-identified: the bundle holds the culprits' raw cases from $nnUNet_raw\n"
		"alone, and its repro.sh runs nnUNetv2_plan_and_preprocess on them first\n"
		"(the verification trial: repro.sh --from-raw).",
	.example =
		"$ casebisect bundle --synthetic /scratch/triage\n"
		"synthetic: verification trial, keeping nothing (image voxels replaced by noise, ...)\n"
		"synthetic: FAIL (failure, cpu_index_error)\n"
		"/scratch/triage/synthetic: 2 cases\n"
		"synthetic repro verified: crashes with the same signature (cpu_index_error) with\n"
		"every case de-identified: ...\n"
		"synthetic: /scratch/triage/synthetic/synthetic-bundle.tar.gz\n"
		"  Its cases are de-identified: attach this one to a public issue, not bundle.tar.gz.",
	.options = bundle_options,
	.n_options = CB_ARRAY_SIZE(bundle_options),
};

static void say_line(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "%s\n", line);
}

enum cb_exit cmd_bundle(int argc, char **argv)
{
	struct synth_bundle_options o = { true, say_line, NULL };
	struct synth_result res;
	struct cli_parser p;
	const char *value;
	enum cb_exit ret = CB_EXIT_USAGE;
	bool synthetic = false;
	int id, r;

	cli_parser_init(&p, &bundle_cmd, argc, argv);
	while ((r = cli_next(&p, &id, &value)) > 0) {
		switch (id) {
		case CLI_OPT_HELP:
			cli_print_help(&bundle_cmd, stdout);
			ret = CB_EXIT_OK;
			goto out;
		case OPT_SYNTHETIC: synthetic = true; break;
		case OPT_NO_VERIFY: o.verify = false; break;
		}
	}
	if (r < 0)
		goto out;
	if (p.n_operands != 1) {
		ret = cli_usage_error(&bundle_cmd, "%s", p.n_operands ? "one WORKDIR, please" :
				      "no WORKDIR: casebisect bundle --synthetic WORKDIR");
		goto out;
	}
	if (!synthetic) {
		ret = cli_usage_error(&bundle_cmd, "say --synthetic: the plain bundle "
				      "(WORKDIR/bundle) is made by run and resume");
		goto out;
	}
	{
		/* the report, WORKDIR/synthetic, the report again (naming it) */
		struct cmd_progress cp;
		struct run_result rr;
		enum run_exit x;

		cmd_progress_init(&cp, RUN_EVENTS_JSON);
		x = run_synthetic_after(p.operands[0], &o, &cp.p, &rr, &res);
		run_result_release(&rr);
		if (x != RUN_EXIT_OK) {
			ret = CB_EXIT_ERROR; /* the progress told why */
			goto out;
		}
	}
	printf("%s: %zu case%s\n%s\nsynthetic: %s\n  %s\n", res.dir, res.ncases,
	       res.ncases == 1 ? "" : "s", res.summary, res.tarball, synth_share_note(&res));
	ret = res.verified && !res.reproduced ? CB_EXIT_NOT_REPRODUCED : CB_EXIT_OK;
out:
	cli_parser_release(&p);
	return ret;
}
