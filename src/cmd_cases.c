/* cmd_cases: `casebisect cases [--json] [--format F] [--configuration C]
 * [--plans P] [--all] DATASET`, what casebisect sees in a dataset: its
 * format, cases, labels and digest, after every check a run makes. */
#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "casebisect/cli.h"
#include "casebisect/dataset.h"
#include "casebisect/json.h"
#include "casebisect/util.h"

/* Cases the text output shows without --all. */
#define SHOW_CASES 10

enum { OPT_JSON = 1, OPT_FORMAT, OPT_CONFIGURATION, OPT_PLANS, OPT_ALL };

static const struct cli_option cases_options[] = {
	{ "json", 0, CLI_ARG_NONE, OPT_JSON, NULL,
	  "one compact JSON object instead of text" },
	{ "format", 0, CLI_ARG_REQUIRED, OPT_FORMAT, "F",
	  "nnunet-pre, nnunet-raw, msd or list (default: detect)" },
	{ "configuration", 'c', CLI_ARG_REQUIRED, OPT_CONFIGURATION, "C",
	  "nnunet-pre: the configuration whose data to use (default 3d_fullres)" },
	{ "plans", 'p', CLI_ARG_REQUIRED, OPT_PLANS, "P",
	  "nnunet-pre: the plans identifier (default nnUNetPlans)" },
	{ "all", 'a', CLI_ARG_NONE, OPT_ALL, NULL,
	  "list every case, not the first 10" },
};

static const struct cli_command cases_cmd = {
	.name = "cases",
	.usage = "[--json] [--format F] [--configuration C] [--plans P] [--all] DATASET",
	.description =
		"Show what casebisect sees in DATASET, after the checks every run makes:\n"
		"the format, the number of cases, the labels declared in dataset.json,\n"
		"the digest (a hash of the sorted case IDs, each file's size and mtime,\n"
		"and the bytes of dataset.json, the plans and the datalist: it changes\n"
		"when any of them does; resume refuses a dataset whose digest changed),\n"
		"and the cases with their files. Use it to check detection before\n"
		"leaving a run overnight.\n"
		"\n"
		"DATASET is one of (detected in this order, or forced with --format):\n"
		"  nnunet-pre  nnUNet_preprocessed/DatasetXXX_Name/: a plans JSON,\n"
		"              dataset.json, dataset_fingerprint.json; the cases are in\n"
		"              the data folder of --configuration (.b2nd or .npz)\n"
		"  nnunet-raw  nnUNet_raw/DatasetXXX_Name/: dataset.json with imagesTr/\n"
		"              {case}_{XXXX}{ending} and labelsTr/{case}{ending}, or its\n"
		"              \"dataset\" key listing each case's files\n"
		"  msd         a datalist JSON with \"training\": [{\"image\", \"label\"}]\n"
		"  list        a text file, one case ID per line (optionally a tab and\n"
		"              the case's files), or a folder with one file per case\n"
		"\n"
		"The dataset is only read. Problems (a label without background 0, a\n"
		"case without its label or a channel, duplicate or unsafe case IDs, a\n"
		"missing file, a symlink loop) stop with one message that names the\n"
		"file and the fix; warnings (a label without an image, numTraining off)\n"
		"go to stderr, or into \"warnings\" with --json.\n"
		"\n"
		"With --json: one object {\"format\", \"root\", \"count\", \"labels\" (the\n"
		"object of dataset.json, or null), \"digest\", \"cases\": [{\"case\",\n"
		"\"files\"}], \"warnings\"}, files as absolute paths.\n"
		"\n"
		"Exits 0 when the dataset is usable, 1 when it is not (nothing on\n"
		"stdout), 2 on a usage error.",
	.example =
		"$ casebisect cases nnUNet_raw/Dataset501_Liver     # (your digest differs)\n"
		"format:  nnunet-raw\n"
		"root:    /data/nnUNet_raw/Dataset501_Liver\n"
		"cases:   131\n"
		"labels:  background=0 liver=1 tumor=2\n"
		"digest:  5f0c1d2e9a8b7c6d\n"
		"liver_0    imagesTr/liver_0_0000.nii.gz  labelsTr/liver_0.nii.gz\n"
		"liver_1    imagesTr/liver_1_0000.nii.gz  labelsTr/liver_1.nii.gz\n"
		"...\n"
		"... 121 more cases (--all lists them)\n"
		"\n"
		"$ casebisect cases nnUNet_preprocessed/Dataset501_Liver -c 3d_fullres\n"
		"format:  nnunet-pre\n"
		"...\n"
		"plans:   nnUNetPlans.json, configuration 3d_fullres, data nnUNetPlans_3d_fullres/\n"
		"\n"
		"$ casebisect cases nnUNet_raw/Dataset502_Broken\n"
		"casebisect: /data/nnUNet_raw/Dataset502_Broken/dataset.json: \"labels\" has no "
		"background (add \"background\": 0)",
	.options = cases_options,
	.n_options = CB_ARRAY_SIZE(cases_options),
};

/* A file shown relative to the dataset's folder (or the folder of its list
 * or datalist file) when it lies there. */
static const char *rel(const struct dataset *ds, const char *p)
{
	const char *base = ds->root, *slash = strrchr(base, '/');
	size_t n = strlen(base);

	if (strncmp(p, base, n) == 0 && p[n] == '/')
		return p + n + 1;
	n = slash ? (size_t)(slash - base) : 0;
	if (n && strncmp(p, base, n) == 0 && p[n] == '/')
		return p + n + 1;
	return p;
}

/* "background=0 liver=1 tumor=2" from the labels' compact JSON. */
static void print_labels(const char *labels_json)
{
	cJSON *labels = labels_json ? cJSON_Parse(labels_json) : NULL;
	const cJSON *it;

	fputs("labels: ", stdout);
	if (!labels) {
		puts(" (none declared)");
		return;
	}
	for (it = labels->child; it; it = it->next) {
		char *v = cJSON_PrintUnformatted(it);
		char *k = cb_utf8_clean(it->string ? it->string : "");

		if (!v)
			die("out of memory printing JSON");
		printf(" %s=%s", k, cJSON_IsString(it) ? it->valuestring : v);
		free(k);
		free(v);
	}
	putchar('\n');
	cJSON_Delete(labels);
}

static void print_text(const struct dataset *ds, bool all)
{
	size_t i, j, n = all || ds->ncases <= SHOW_CASES ? ds->ncases : SHOW_CASES, w = 0;

	printf("format:  %s\n", ds_format_name(ds->format));
	printf("root:    %s\n", ds->root);
	printf("cases:   %zu\n", ds->ncases);
	print_labels(ds->labels_json);
	printf("digest:  %s\n", ds->digest);
	if (ds->format == DS_NNUNET_PRE)
		printf("plans:   %s, configuration %s, data %s/, dataset_name %s\n",
		       strrchr(ds->plans_file, '/') + 1, ds->configuration,
		       strrchr(ds->data_dir, '/') + 1, ds->dataset_name);
	for (i = 0; i < n; i++)
		if (strlen(ds->cases[i].id) > w)
			w = strlen(ds->cases[i].id);
	for (i = 0; i < n; i++) {
		const struct ds_case *c = &ds->cases[i];

		printf("%-*s", (int)w, c->id);
		for (j = 0; j < c->nfiles; j++)
			printf("  %s", rel(ds, c->files[j]));
		putchar('\n');
	}
	if (n < ds->ncases)
		printf("... %zu more case%s (--all lists them)\n", ds->ncases - n,
		       ds->ncases - n == 1 ? "" : "s");
}

/* Prints it compactly and deletes it. */
static void put_json(cJSON *it)
{
	char *text = cJSON_PrintUnformatted(it);

	cJSON_Delete(it);
	if (!text)
		die("out of memory printing JSON");
	fputs(text, stdout);
	free(text);
}

/*
 * One compact object, written piece by piece: a tree of 100,000 cases and
 * its text at once would cost several times the dataset's own memory.
 */
static void print_json(const struct dataset *ds)
{
	cJSON *labels = ds->labels_json ? cJSON_Parse(ds->labels_json) : NULL;
	size_t i, j;

	fputs("{\"format\":", stdout);
	put_json(json_string(ds_format_name(ds->format)));
	fputs(",\"root\":", stdout);
	put_json(json_string(ds->root));
	printf(",\"count\":%zu,\"labels\":", ds->ncases);
	if (labels)
		put_json(labels);
	else
		fputs("null", stdout);
	fputs(",\"digest\":", stdout);
	put_json(json_string(ds->digest));
	fputs(",\"cases\":[", stdout);
	for (i = 0; i < ds->ncases; i++) {
		const struct ds_case *c = &ds->cases[i];
		cJSON *co = cJSON_CreateObject(), *files;

		if (!co)
			die("out of memory building JSON");
		cJSON_AddItemToObject(co, "case", json_string(c->id));
		files = cJSON_AddArrayToObject(co, "files");
		if (!files)
			die("out of memory building JSON");
		for (j = 0; j < c->nfiles; j++)
			cJSON_AddItemToArray(files, json_string(c->files[j]));
		if (i)
			putchar(',');
		put_json(co);
	}
	fputs("],\"warnings\":[", stdout);
	for (i = 0; i < ds->nwarnings; i++) {
		if (i)
			putchar(',');
		put_json(json_string(ds->warnings[i]));
	}
	puts("]}");
}

enum cb_exit cmd_cases(int argc, char **argv)
{
	struct ds_options o = { 0 };
	struct dataset ds;
	struct cli_parser p;
	enum cb_exit ret = CB_EXIT_OK;
	bool json = false, all = false;
	const char *value;
	char err[1024];
	size_t i;
	int id, r;

	cli_parser_init(&p, &cases_cmd, argc, argv);
	while ((r = cli_next(&p, &id, &value)) > 0) {
		switch (id) {
		case CLI_OPT_HELP:
			cli_print_help(&cases_cmd, stdout);
			goto out;
		case OPT_JSON:
			json = true;
			break;
		case OPT_ALL:
			all = true;
			break;
		case OPT_FORMAT:
			if (cli_parse_format(&cases_cmd, value, &o.format)) {
				ret = CB_EXIT_USAGE;
				goto out;
			}
			break;
		case OPT_CONFIGURATION:
			o.configuration = value;
			break;
		case OPT_PLANS:
			o.plans = value;
			break;
		default:
			assert(!"option without a case");
		}
	}
	if (r < 0) {
		ret = CB_EXIT_USAGE;
		goto out;
	}
	if (p.n_operands != 1) {
		ret = p.n_operands ? cli_usage_error(&cases_cmd, "cases takes one DATASET, not '%s' too",
						     p.operands[1])
				   : cli_usage_error(&cases_cmd, "cases needs a DATASET");
		goto out;
	}
	if (ds_load(&ds, p.operands[0], &o, err, sizeof(err))) {
		cli_error("%s", err);
		ret = CB_EXIT_ERROR;
		goto out;
	}
	if (json) {
		print_json(&ds);
	} else {
		print_text(&ds, all);
		for (i = 0; i < ds.nwarnings; i++)
			fprintf(stderr, "casebisect: warning: %s\n", ds.warnings[i]);
	}
	ds_release(&ds);
out:
	cli_parser_release(&p);
	return ret;
}
