/* cmd_nnunet: `casebisect nnunet [options] DATASET [CONFIGURATION]`, the way
 * an nnU-Net v2 user starts. It finds the preprocessed dataset, checks what
 * nnU-Net would trip over, builds the probe-trainer command and its
 * environment, and hands everything to `casebisect run` (cmd_run.c), whose
 * options it takes too. ../shared/nnunet.md sections 3.4, 5 and 9. */
#include <dirent.h>
#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "casebisect/cli.h"
#include "casebisect/dataset.h"
#include "casebisect/gpu.h"
#include "casebisect/path.h"
#include "casebisect/run.h"
#include "casebisect/util.h"

/* Ids above run's, so that one table holds both. */
enum {
	OPT_DEVICE = 1000, OPT_TRAINER, OPT_FOLD, OPT_PLANS, OPT_PASSES,
};

#define PROBE_TRAINER "nnUNetTrainer_CasebisectProbe"
#define LAUNCHER "nnunet/casebisect-nnunet-train"
/* nnU-Net's KFold(n_splits=5) needs five cases (nnunet.md 3.3). */
#define KFOLD_MIN_CASES 5

static const struct cli_option nnunet_own_options[] = {
	{ "device", 0, CLI_ARG_REQUIRED, OPT_DEVICE, "cuda|cpu",
	  "nnU-Net's -device (default: cuda when a GPU is found, else cpu)" },
	{ "trainer", 0, CLI_ARG_REQUIRED, OPT_TRAINER, "NAME",
	  "your own trainer class instead of casebisect's probe (slower, less exact)" },
	{ "fold", 0, CLI_ARG_REQUIRED, OPT_FOLD, "F",
	  "with --trainer: the fold to train (default all)" },
	{ "plans", 0, CLI_ARG_REQUIRED, OPT_PLANS, "P", "the plans identifier (nnUNetPlans)" },
	{ "passes", 0, CLI_ARG_REQUIRED, OPT_PASSES, "N",
	  "probe trainer: passes over each subset (1; more for a flaky device)" },
};

static const char nnunet_description[] =
	"Find the cases of an nnU-Net v2 dataset that crash its training: 'run' with\n"
	"everything nnU-Net needs filled in.\n"
	"\n"
	"DATASET is the dataset's ID (501), its name (Dataset501_Liver) or its\n"
	"preprocessed folder; IDs and names are looked up in $nnUNet_preprocessed.\n"
	"CONFIGURATION defaults to 3d_fullres. Each trial trains on a subset, seen\n"
	"through links in WORKDIR (nnUNet_preprocessed, nnUNet_results and\n"
	"nnUNet_raw point there): your dataset, results and splits_final.json are\n"
	"never written.\n"
	"\n"
	"A trial runs casebisect's probe trainer (nnUNetTrainer_CasebisectProbe, a\n"
	"nnUNetTrainerNoDA): it sends every voxel of every case of its subset once\n"
	"through nnU-Net's own loss, as patches of the plans' patch size on the\n"
	"sliding-window grid, in batches, and names each batch's cases, so a bad\n"
	"label crashes it the way it crashes your training, wherever it lies in the\n"
	"case, and the crash names its suspects. It runs with the Python of the\n"
	"nnUNetv2_train on your PATH (activate your environment first), fold all,\n"
	"nnUNet_n_proc_DA=0, nnUNet_compile=f, --min-cases 1 (the control is one\n"
	"clean case, since nnU-Net needs one); --env and --min-cases override these.\n"
	"--trainer runs your own class instead (a trial passes at its first 'Epoch\n"
	"time:' line).\n"
	"\n"
	"The label audit reads gt_segmentations/ of the preprocessed folder (or\n"
	"$nnUNet_raw's labelsTr/) first, so a bad label is usually tried first.\n"
	"Every option of 'casebisect run' works here too; the options below the\n"
	"first five are run's. Exit status as for 'casebisect run'.\n"
	"\n"
	"The bundle's repro.sh runs the probe on the culprits; 'bash repro.sh\n"
	"--stock' runs nnU-Net's own nnUNetv2_train on them, '--from-raw' runs\n"
	"nnUNetv2_plan_and_preprocess on their raw cases first.";

static const char nnunet_example[] =
	"$ export nnUNet_preprocessed=/data/nnUNet_preprocessed\n"
	"$ casebisect nnunet --workdir /scratch/liver-triage 501\n"
	"nnunet: Dataset501_Liver (/data/nnUNet_preprocessed/Dataset501_Liver), 3d_fullres, "
	"plans nnUNetPlans,\n"
	"        131 cases, device cuda, trainer nnUNetTrainer_CasebisectProbe\n"
	"[02:10:11] trial 1 (target, 131 cases): FAIL (failure, device_assert) in 48.0 s\n"
	"...\n"
	"verdict: culprits_found\n"
	"  culprit: liver_17\n"
	"$ casebisect nnunet --device cpu --trainer nnUNetTrainer_100epochs --fold 0 \\\n"
	"    Dataset501_Liver 2d";

/* What the command line asked, before it becomes run's argv. */
struct nnunet_args {
	const char *dataset, *configuration, *device, *trainer, *fold, *plans, *passes;
	const char **fwd;       /* run's options, as "--name" [value] words */
	size_t nfwd;
	char **names;           /* the "--name" words, owned */
	size_t nnames;
	bool has_env[2];        /* indexes of nnunet_env[] the user gave with --env */
	bool pass_pattern, env_cmd, min_cases;
	const char *workdir;
};

/* Variables every trial gets unless --env names them (nnunet.md 5.4). */
static const char *const nnunet_env[] = {
	"nnUNet_n_proc_DA=0",   /* no worker processes: the probe visits cases in order */
	"OMP_NUM_THREADS=1",    /* what run_training.py's __main__ sets; cuda only */
};
/* The supervisor sets nnUNet_compile=f and PYTHONUNBUFFERED=1 for every
 * trial (supervise.h). */

/* The options table: ours, then run's but the three that nnunet sets
 * itself (--format, --configuration, --plans). Freed by the caller. */
static struct cli_option *merged_options(size_t *n)
{
	const struct cli_option *ro = cmd_run_spec.options;
	struct cli_option *o;
	size_t i, k = 0;

	o = xcalloc(CB_ARRAY_SIZE(nnunet_own_options) + cmd_run_spec.n_options, sizeof(*o));
	for (i = 0; i < CB_ARRAY_SIZE(nnunet_own_options); i++)
		o[k++] = nnunet_own_options[i];
	for (i = 0; i < cmd_run_spec.n_options; i++) {
		if (ro[i].name && (!strcmp(ro[i].name, "format") ||
				   !strcmp(ro[i].name, "configuration") || !strcmp(ro[i].name, "plans")))
			continue;
		o[k++] = ro[i];
	}
	*n = k;
	return o;
}

/* Does s hold only digits (a dataset ID, an integer fold)? */
static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/*
 * The preprocessed folder of DATASET: a path as given; else an ID (501) or a
 * name (Dataset501_Liver, or Dataset501) looked up in $nnUNet_preprocessed,
 * as nnU-Net's maybe_convert_to_dataset_name does. A malloc'd path, or NULL
 * after an error that says what to do.
 */
static char *find_dataset(const char *given)
{
	const char *pp = getenv("nnUNet_preprocessed");
	char prefix[64], *found = NULL, *list = NULL;
	const char *digits;
	size_t nfound = 0;
	struct dirent *de;
	DIR *d;

	if (strchr(given, '/')) {
		char *r = realpath(given, NULL);

		if (!r)
			cli_error("%s: %s", given, strerror(errno));
		return r;
	}
	if (!pp || !*pp) {
		cli_error("nnUNet_preprocessed is not set, so dataset '%s' cannot be looked up", given);
		fputs("hint: export nnUNet_preprocessed=/path/to/nnUNet_preprocessed (the folder "
		      "nnUNetv2_plan_and_preprocess wrote), or give the dataset's preprocessed folder "
		      "as a path (./Dataset501_Name)\n", stderr);
		return NULL;
	}
	digits = all_digits(given) ? given : !strncmp(given, "Dataset", 7) &&
		 all_digits(given + 7) ? given + 7 : NULL;
	prefix[0] = '\0';
	if (digits) {
		/* nnU-Net's IDs have at most 3 digits; allow 4 (Dataset1234_X). */
		long id = strlen(digits) <= 4 ? strtol(digits, NULL, 10) : -1;

		if (id < 0) {
			cli_error("'%s' is not an nnU-Net dataset ID (at most 4 digits)", given);
			return NULL;
		}
		snprintf(prefix, sizeof(prefix), "Dataset%03ld_", id);
	}
	if (!(d = opendir(pp))) {
		cli_error("nnUNet_preprocessed=%s: %s", pp, strerror(errno));
		fputs("hint: point nnUNet_preprocessed at the folder nnUNetv2_plan_and_preprocess "
		      "wrote\n", stderr);
		return NULL;
	}
	while ((de = readdir(d))) {
		bool hit = prefix[0] ? !strncmp(de->d_name, prefix, strlen(prefix))
				     : !strcmp(de->d_name, given);
		char *grown, *full;
		struct stat st;

		if (!hit)
			continue;
		full = cb_path_join(pp, de->d_name);
		if (stat(full, &st) || !S_ISDIR(st.st_mode)) {
			free(full); /* Dataset501_Liver.tar.gz beside the folder */
			continue;
		}
		nfound++;
		free(found);
		found = full;
		grown = cb_fmt("%s%s%s", list ? list : "", list ? ", " : "", de->d_name);
		free(list);
		list = grown;
	}
	closedir(d);
	if (nfound == 1) {
		free(list);
		return found;
	}
	free(found);
	if (nfound > 1)
		cli_error("several datasets in %s match '%s': %s; give the full name", pp, given, list);
	else {
		const char *raw = getenv("nnUNet_raw");

		cli_error("no dataset '%s' in nnUNet_preprocessed=%s", given, pp);
		fprintf(stderr, "hint: preprocess it first (nnUNetv2_plan_and_preprocess -d %s "
			"--verify_dataset_integrity)%s%s%s\n", digits ? digits : given,
			raw ? ", from nnUNet_raw=" : "", raw ? raw : "",
			raw ? "" : "; nnUNet_raw is not set either");
	}
	free(list);
	return NULL;
}

/* A raw dataset (nnUNet_raw/Dataset501_Liver: imagesTr/, no plans) given
 * where the preprocessed one belongs: says how to make that, and returns
 * -1; else 0. */
static int refuse_raw(const char *root)
{
	char *images = cb_path_join(root, "imagesTr"), *plans = cb_path_join(root, "nnUNetPlans.json");
	const char *name = path_base(root);
	struct stat st;
	bool raw = !stat(images, &st) && S_ISDIR(st.st_mode) && stat(plans, &st);
	int id = -1;

	free(images);
	free(plans);
	if (!raw)
		return 0;
	if (sscanf(name, "Dataset%d_", &id) != 1)
		id = -1;
	cli_error("%s: a raw nnU-Net dataset (imagesTr/, no nnUNetPlans.json), not its "
		  "preprocessed data", root);
	if (id >= 0)
		fprintf(stderr, "hint: run 'nnUNetv2_plan_and_preprocess -d %d "
			"--verify_dataset_integrity' (with nnUNet_raw and nnUNet_preprocessed set), "
			"then 'casebisect nnunet %d'\n", id, id);
	else
		fputs("hint: run 'nnUNetv2_plan_and_preprocess -d ID --verify_dataset_integrity' "
		      "(with nnUNet_raw and nnUNet_preprocessed set), then give the preprocessed "
		      "folder; 'casebisect run' also takes the raw folder\n", stderr);
	return -1;
}

/* With --trainer and an integer fold: what nnU-Net would do silently. A
 * trial's view holds no splits_final.json (the user's names cases a subset
 * lacks), so nnU-Net makes its own 5-fold split of each subset. */
static int check_fold(const struct nnunet_args *a, const struct dataset *ds)
{
	if (!strcmp(a->fold, "all"))
		return 0;
	if (atoi(a->fold) >= KFOLD_MIN_CASES) {
		cli_error("fold %s: each trial gets nnU-Net's own 5-fold split of its subset "
			  "(casebisect never gives a trial your splits_final.json), so nnU-Net would "
			  "silently train on a random 80:20 split instead", a->fold);
		fputs("hint: use a fold from 0 to 4, or --fold all\n", stderr);
		return -1;
	}
	if (ds->ncases < KFOLD_MIN_CASES) {
		cli_error("fold %s needs at least %d cases (nnU-Net's 5-fold split) and %s has %zu",
			  a->fold, KFOLD_MIN_CASES, ds->root, ds->ncases);
		fputs("hint: use --fold all\n", stderr);
		return -1;
	}
	return 0;
}

static void push(struct nnunet_args *a, const char *word)
{
	a->fwd[a->nfwd++] = word;
}

/* Builds run's argv and runs it. */
static enum cb_exit hand_to_run(struct nnunet_args *a, const struct dataset *ds,
				const char *launcher)
{
	const char **argv = xcalloc(a->nfwd + 64, sizeof(*argv));
	char *passes_env = NULL, *versions = NULL, *min_cases = NULL;
	int n = 0;
	size_t i;
	enum cb_exit ret;

	argv[n++] = "run";
	argv[n++] = "--format";
	argv[n++] = "nnunet-pre";
	argv[n++] = "--configuration";
	argv[n++] = a->configuration;
	argv[n++] = "--plans";
	argv[n++] = a->plans;
	for (i = 0; i < CB_ARRAY_SIZE(nnunet_env); i++) {
		if (a->has_env[i] || (i == 1 && strcmp(a->device, "cuda")))
			continue;
		argv[n++] = "--env";
		argv[n++] = nnunet_env[i];
	}
	if (a->passes) {
		passes_env = cb_fmt("CASEBISECT_PASSES=%s", a->passes);
		argv[n++] = "--env";
		argv[n++] = passes_env;
	}
	if (a->trainer && !a->pass_pattern) {
		/* A stock trainer prints this at the end of its first epoch. */
		argv[n++] = "--pass-pattern";
		argv[n++] = "Epoch time: ";
	}
	if (!a->min_cases) {
		/* nnU-Net trains on one case at least (so the control is one
		 * clean case, not the empty subset), and on 5 for an integer
		 * fold's split */
		min_cases = cb_fmt("%d", a->trainer && strcmp(a->fold, "all") ? KFOLD_MIN_CASES : 1);
		argv[n++] = "--min-cases";
		argv[n++] = min_cases;
	}
	if (!a->env_cmd && launcher) {
		versions = cb_fmt("'%s' --versions", launcher);
		argv[n++] = "--env-cmd";
		argv[n++] = versions;
	}
	for (i = 0; i < a->nfwd; i++)
		argv[n++] = a->fwd[i];
	argv[n++] = ds->root;
	argv[n++] = "--";
	if (a->trainer) {
		argv[n++] = "nnUNetv2_train";
	} else {
		argv[n++] = launcher;
		argv[n++] = "--cases-file";
		argv[n++] = "{cases_file}";
	}
	argv[n++] = ds->dataset_name;
	argv[n++] = a->configuration;
	argv[n++] = a->trainer ? a->fold : "all";
	argv[n++] = "-tr";
	argv[n++] = a->trainer ? a->trainer : PROBE_TRAINER;
	argv[n++] = "-p";
	argv[n++] = a->plans;
	argv[n++] = "-device";
	argv[n++] = a->device;
	if (a->trainer)
		argv[n++] = "--disable_checkpointing";
	argv[n] = NULL;
	ret = cmd_run(n, (char **)argv);
	free(passes_env);
	free(versions);
	free(min_cases);
	free(argv);
	return ret;
}

enum cb_exit cmd_nnunet(int argc, char **argv)
{
	struct cli_command spec = cmd_run_spec;
	struct nnunet_args a = { 0 };
	struct cli_parser p;
	struct cli_option *opts;
	struct dataset ds;
	const char *value;
	char *root = NULL, *launcher = NULL, err[1200];
	enum cb_exit ret = CB_EXIT_USAGE;
	bool have_ds = false;
	int id, r;

	spec.name = "nnunet";
	spec.usage = "[options] DATASET [CONFIGURATION]";
	spec.description = nnunet_description;
	spec.example = nnunet_example;
	spec.options = opts = merged_options(&spec.n_options);
	a.fwd = xcalloc((size_t)argc * 2 + 1, sizeof(*a.fwd));
	a.names = xcalloc((size_t)argc + 1, sizeof(*a.names));
	a.fold = "all";
	a.plans = "nnUNetPlans";
	cli_parser_init(&p, &spec, argc, argv);
	while ((r = cli_next(&p, &id, &value)) > 0) {
		const struct cli_option *o;
		size_t i;

		switch (id) {
		case CLI_OPT_HELP:
			cli_print_help(&spec, stdout);
			ret = CB_EXIT_OK;
			goto out;
		case OPT_DEVICE:
			if (strcmp(value, "cuda") && strcmp(value, "cpu")) {
				ret = cli_usage_error(&spec, "--device '%s': expected cuda or cpu", value);
				goto out;
			}
			a.device = value;
			break;
		case OPT_TRAINER: a.trainer = value; break;
		case OPT_FOLD:
			if (strcmp(value, "all") && (!all_digits(value) || strlen(value) > 3)) {
				ret = cli_usage_error(&spec, "--fold '%s': expected all or a fold number "
						      "from 0 to 4", value);
				goto out;
			}
			a.fold = value;
			break;
		case OPT_PLANS: a.plans = value; break;
		case OPT_PASSES:
			if (!all_digits(value) || strlen(value) > 4 || atoi(value) < 1) {
				ret = cli_usage_error(&spec, "--passes '%s': expected a whole number "
						      "from 1", value);
				goto out;
			}
			a.passes = value;
			break;
		default:
			/* One of run's: handed on as it was given, and checked now,
			 * before the slow steps (a GPU probe, the dataset). */
			if (cmd_run_check_option(&spec, id, value))
				goto out;
			o = cli_find_option(&spec, id);
			a.names[a.nnames] = cb_fmt("--%s", o->name);
			push(&a, a.names[a.nnames++]);
			if (value)
				push(&a, value);
			if (!strcmp(o->name, "pass-pattern"))
				a.pass_pattern = true;
			if (!strcmp(o->name, "env-cmd"))
				a.env_cmd = true;
			if (!strcmp(o->name, "min-cases"))
				a.min_cases = true;
			if (!strcmp(o->name, "env"))
				for (i = 0; i < CB_ARRAY_SIZE(nnunet_env); i++)
					if (!strncmp(value, nnunet_env[i],
						     (size_t)(strchr(nnunet_env[i], '=') - nnunet_env[i]) + 1))
						a.has_env[i] = true;
			break;
		}
	}
	if (r < 0)
		goto out;
	if (p.saw_dashdash || p.n_operands < 1 || p.n_operands > 2) {
		ret = cli_usage_error(&spec, "%s", p.saw_dashdash ?
				      "no '--' here: casebisect builds the nnUNetv2_train command "
				      "(use 'casebisect run' for a command of your own)" :
				      p.n_operands < 1 ? "no DATASET (an ID such as 501, or a name)" :
				      "expected DATASET [CONFIGURATION]");
		goto out;
	}
	if (a.passes && a.trainer) {
		ret = cli_usage_error(&spec, "--passes is for the probe trainer, not --trainer");
		goto out;
	}
	if (strcmp(a.fold, "all") && !a.trainer) {
		ret = cli_usage_error(&spec, "--fold %s: the probe trainer trains on every case of "
				      "a subset (fold all); a fold only means something with "
				      "--trainer", a.fold);
		goto out;
	}
	a.dataset = p.operands[0];
	a.configuration = p.n_operands > 1 ? p.operands[1] : "3d_fullres";
	ret = CB_EXIT_ERROR;
	if (!strcmp(a.configuration, "3d_cascade_fullres")) {
		cli_error("3d_cascade_fullres trains on 3d_lowres predictions that a subset does not "
			  "have");
		fputs("hint: search with 3d_lowres or 3d_fullres; the labels are the same\n", stderr);
		goto out;
	}
	if (!(root = find_dataset(a.dataset)) || refuse_raw(root))
		goto out;
	{
		struct ds_options dso = { DS_NNUNET_PRE, a.configuration, a.plans };

		if (ds_load(&ds, root, &dso, err, sizeof(err))) {
			cli_error("%s", err);
			goto out;
		}
		have_ds = true;
	}
	if (a.trainer && check_fold(&a, &ds))
		goto out;
	if (!run_command_runnable("nnUNetv2_train", NULL, NULL)) {
		cli_error("nnUNetv2_train is not on PATH");
		fputs("hint: activate the environment nnU-Net is installed in (conda activate ..., "
		      "or . VENV/bin/activate); casebisect runs nnU-Net with its Python\n", stderr);
		goto out;
	}
	if (!a.trainer && !(launcher = cb_find_helper("harness", LAUNCHER, X_OK))) {
		cli_error("casebisect's nnU-Net launcher is missing (harness/%s)", LAUNCHER);
		fputs("hint: run casebisect from its source tree after 'make', or 'make install'\n",
		      stderr);
		goto out;
	}
	if (!a.device) {
		struct gpu_info *gpu = xmalloc(sizeof(*gpu));

		gpu_discover(gpu, 20000);
		a.device = gpu->available ? "cuda" : "cpu";
		if (!gpu->available)
			cmd_say("nnunet: no GPU (%s): training on the CPU (-device cpu)", gpu->reason);
		free(gpu);
	}
	cmd_say("nnunet: %s (%s), %s, plans %s,", ds.dataset_name, ds.root, a.configuration,
		a.plans);
	cmd_say("        %zu cases, device %s, trainer %s", ds.ncases, a.device,
		a.trainer ? a.trainer : PROBE_TRAINER);
	ret = hand_to_run(&a, &ds, launcher);
out:
	if (have_ds)
		ds_release(&ds);
	for (size_t i = 0; i < a.nnames; i++)
		free(a.names[i]);
	free(a.names);
	free(root);
	free(launcher);
	free(opts);
	free(a.fwd);
	cli_parser_release(&p);
	return ret;
}
