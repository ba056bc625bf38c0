/* cmd_audit: `casebisect audit [--json] [--jobs N] [--images] [--labels LIST]
 * [--format F] [--configuration C] [--plans P] DATASET`: static label and
 * geometry checks of every case (the audit module), a table and a summary. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "casebisect/audit.h"
#include "casebisect/cli.h"
#include "casebisect/dataset.h"
#include "casebisect/json.h"
#include "casebisect/util.h"

enum { OPT_JSON = 1, OPT_JOBS, OPT_IMAGES, OPT_LABELS, OPT_FORMAT, OPT_CONFIGURATION,
       OPT_PLANS, OPT_ALL };

static const struct cli_option audit_options[] = {
	{ "json", 0, CLI_ARG_NONE, OPT_JSON, NULL,
	  "one JSON object instead of the table" },
	{ "jobs", 'j', CLI_ARG_REQUIRED, OPT_JOBS, "N",
	  "files read at once (default: the number of cores)" },
	{ "images", 0, CLI_ARG_NONE, OPT_IMAGES, NULL,
	  "also read the images' voxels: NaN and Inf per channel" },
	{ "labels", 'l', CLI_ARG_REQUIRED, OPT_LABELS, "LIST",
	  "the allowed label values, e.g. 0,1,2 or 0..4 (default: dataset.json)" },
	{ "format", 0, CLI_ARG_REQUIRED, OPT_FORMAT, "F",
	  "nnunet-pre, nnunet-raw, msd or list (default: detect)" },
	{ "configuration", 'c', CLI_ARG_REQUIRED, OPT_CONFIGURATION, "C",
	  "nnunet-pre: the configuration whose cases to audit (default 3d_fullres)" },
	{ "plans", 'p', CLI_ARG_REQUIRED, OPT_PLANS, "P",
	  "nnunet-pre: the plans identifier (default nnUNetPlans)" },
	{ "all", 'a', CLI_ARG_NONE, OPT_ALL, NULL,
	  "--json: list every case, not only those with findings" },
};

static const struct cli_command audit_cmd = {
	.name = "audit",
	.usage = "[--json] [--jobs N] [--images] [--labels LIST] [--format F] "
		 "[--configuration C] DATASET",
	.description =
		"Read every case's label file (and its images' headers) and report what\n"
		"will crash training or what nnU-Net would change silently, without a GPU.\n"
		"Labels come from labelsTr/ (nnunet-raw), gt_segmentations/ or the raw\n"
		"dataset under $nnUNet_raw (nnunet-pre), or each case's label file\n"
		"(msd, list). NIfTI-1 and NIfTI-2, .nii and .nii.gz, streamed: memory\n"
		"stays small whatever the volume size.\n"
		"\n"
		"Severities (exit status 1 when any crash or unreadable is found):\n"
		"  crash       a value outside {-1, 0..C-1, ignore} (C labels in\n"
		"              dataset.json): the loss indexes out of bounds\n"
		"  unreadable  truncated or corrupt file, bad header (dims <= 0 or\n"
		"              absurd, vox_offset past the end, no NIfTI magic)\n"
		"  geometry    label and image differ in shape, spacing or orientation;\n"
		"              channel count differs from channel_names\n"
		"  silent      nnU-Net changes it without a word: -1, uint16 values that\n"
		"              wrap to -1, non-integer floats, undeclared values of a\n"
		"              region-based dataset; NaN/Inf image voxels (--images)\n"
		"Value findings give the voxel count and bounding box (x y z voxel\n"
		"indices, inclusive).\n"
		"\n"
		"Without labels in dataset.json (a list or datalist) give --labels; with\n"
		"neither, the audit prints each case's value histogram and flags values\n"
		"found in few cases (at most a tenth) outside the run 0..m of common ones.\n"
		"\n"
		"Output: one row per case with findings (more findings of the case on the\n"
		"lines below it) and a summary line. --json prints {\"cases\": [{\"case\",\n"
		"\"files\", \"label\", \"findings\": [{\"severity\", \"kind\", \"file\",\n"
		"\"detail\", \"value\", \"voxels\", \"bbox\"}], \"values\": [[value, voxels]]}],\n"
		"\"summary\": {...}}; --all lists clean cases too (always listed when\n"
		"the histogram is all there is).\n"
		"\n"
		"Exits 0 when nothing is crash or unreadable, 1 when something is, 2 when\n"
		"the audit could not run (usage, a dataset it cannot read).",
	.example =
		"$ examples/mkcases --cases 8 --bad case_004=255 /tmp/ds\n"
		"$ casebisect audit /tmp/ds\n"
		"CASE      SEVERITY    FILE                      FINDING\n"
		"case_004  crash       labelsTr/case_004.nii.gz  undeclared: value 255: 8 voxels "
		"in x 7..8 y 7..8 z 7..8 (the loss indexes out of bounds; labels: 0..2)\n"
		"audit: 8 cases, 8 read, 16 files, 0.0 MB in 0.01 s, 2 jobs; labels 0..2 from "
		"dataset.json; findings: 1 crash, 0 unreadable, 0 geometry, 0 silent (1 case "
		"would crash or cannot be read)\n"
		"$ echo $?\n"
		"1\n"
		"\n"
		"$ casebisect audit --labels 0,1 --images --json files.txt",
	.options = audit_options,
	.n_options = CB_ARRAY_SIZE(audit_options),
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

static char *set_text(const struct aud_result *r)
{
	char *s = xstrdup(""), *t;
	size_t i, j;

	for (i = 0; i < r->ndeclared; i = j) {
		for (j = i + 1; j < r->ndeclared && r->declared[j] == r->declared[j - 1] + 1; j++)
			;
		t = j - i >= 3 ? cb_fmt("%s%s%" PRId64 "..%" PRId64, s, i ? "," : "",
					r->declared[i], r->declared[j - 1])
			       : cb_fmt("%s%s%" PRId64, s, i ? "," : "", r->declared[i]);
		if (j - i == 2) {
			free(t);
			t = cb_fmt("%s%s%" PRId64 ",%" PRId64, s, i ? "," : "", r->declared[i],
				   r->declared[i + 1]);
		}
		free(s);
		s = t;
	}
	if (!*s) {
		free(s);
		s = xstrdup("(none)");
	}
	return s;
}

static const char *mode_text(enum aud_mode m)
{
	switch (m) {
	case AUD_MODE_DECLARED: return "from dataset.json";
	case AUD_MODE_REGIONS: return "from dataset.json (region-based)";
	case AUD_MODE_LIST: return "from --labels";
	default: return "inferred from the majority of cases";
	}
}

static void print_value_histograms(const struct dataset *ds, const struct aud_result *r)
{
	size_t i, k, w = 4;

	for (i = 0; i < r->ncases; i++)
		if (strlen(r->cases[i].id) > w)
			w = strlen(r->cases[i].id);
	printf("%-*s  VALUES (value:voxels)\n", (int)w, "CASE");
	for (i = 0; i < r->ncases; i++) {
		const struct aud_case *c = &r->cases[i];

		printf("%-*s ", (int)w, c->id);
		if (c->skip_reason || (c->label >= 0 && !c->nvalues))
			fputs(" -", stdout);
		for (k = 0; k < c->nvalues; k++)
			printf(" %.9g:%" PRIu64, c->values[k].value, c->values[k].voxels);
		putchar('\n');
	}
	(void)ds;
	putchar('\n');
}

static void print_text(const struct dataset *ds, const struct aud_result *r)
{
	size_t i, k, wc = 4, wf = 4, skipped = 0;
	char *set = set_text(r);
	bool any = false;

	if (r->mode == AUD_MODE_HISTOGRAM)
		print_value_histograms(ds, r);
	for (i = 0; i < r->ncases; i++) {
		const struct aud_case *c = &r->cases[i];

		skipped += c->skip_reason != NULL;
		if (!c->nfindings && !c->skip_reason)
			continue;
		any = true;
		if (strlen(c->id) > wc)
			wc = strlen(c->id);
		for (k = 0; k < c->nfindings; k++)
			if (strlen(rel(ds, c->files[c->findings[k].file])) > wf)
				wf = strlen(rel(ds, c->files[c->findings[k].file]));
	}
	if (any)
		printf("%-*s  %-10s  %-*s  %s\n", (int)wc, "CASE", "SEVERITY", (int)wf, "FILE",
		       "FINDING");
	for (i = 0; i < r->ncases; i++) {
		const struct aud_case *c = &r->cases[i];

		if (c->skip_reason)
			printf("%-*s  %-10s  %-*s  %s\n", (int)wc, c->id, "skipped", (int)wf, "-",
			       c->skip_reason);
		for (k = 0; k < c->nfindings; k++) {
			const struct aud_finding *f = &c->findings[k];

			printf("%-*s  %-10s  %-*s  %s: %s\n", (int)wc, k ? "" : c->id,
			       aud_severity_name(f->severity), (int)wf, rel(ds, c->files[f->file]),
			       aud_kind_name(f->kind), f->detail);
		}
	}
	printf("audit: %zu case%s, %zu read", r->ncases, r->ncases == 1 ? "" : "s",
	       r->cases_read);
	if (skipped)
		printf(", %zu skipped", skipped);
	printf(", %zu file%s, %.1f MB in %.2f s, %u job%s; labels %s %s; findings: "
	       "%zu crash, %zu unreadable, %zu geometry, %zu silent",
	       r->files_read, r->files_read == 1 ? "" : "s", (double)r->bytes / 1e6, r->seconds,
	       r->jobs, r->jobs == 1 ? "" : "s", set, mode_text(r->mode), r->findings[AUD_CRASH],
	       r->findings[AUD_UNREADABLE], r->findings[AUD_GEOMETRY], r->findings[AUD_SILENT]);
	if (r->findings[AUD_CRASH] || r->findings[AUD_UNREADABLE])
		printf(" (%zu case%s would crash or cannot be read)",
		       r->cases_with[AUD_CRASH] + r->cases_with[AUD_UNREADABLE],
		       r->cases_with[AUD_CRASH] + r->cases_with[AUD_UNREADABLE] == 1 ? "" : "s");
	putchar('\n');
	free(set);
}

enum cb_exit cmd_audit(int argc, char **argv)
{
	struct ds_options dso = { 0 };
	struct aud_options o = { 0 };
	struct aud_result res;
	struct dataset ds;
	struct cli_parser p;
	enum cb_exit ret = CB_EXIT_OK;
	bool json = false, all = false;
	const char *value;
	char err[1024];
	size_t i;
	int id, r;

	cli_parser_init(&p, &audit_cmd, argc, argv);
	while ((r = cli_next(&p, &id, &value)) > 0) {
		switch (id) {
		case CLI_OPT_HELP:
			cli_print_help(&audit_cmd, stdout);
			goto out;
		case OPT_JSON:
			json = true;
			break;
		case OPT_ALL:
			all = true;
			break;
		case OPT_IMAGES:
			o.images = true;
			break;
		case OPT_JOBS: {
			unsigned long long n;

			if (cli_parse_count(value, 1024, &n) || n < 1) {
				ret = cli_usage_error(&audit_cmd, "--jobs '%s': expected a whole "
						      "number from 1 to 1024", value);
				goto out;
			}
			o.jobs = (unsigned)n;
			break;
		}
		case OPT_LABELS:
			o.labels = value;
			break;
		case OPT_FORMAT:
			if (cli_parse_format(&audit_cmd, value, &dso.format)) {
				ret = CB_EXIT_USAGE;
				goto out;
			}
			break;
		case OPT_CONFIGURATION:
			dso.configuration = value;
			break;
		case OPT_PLANS:
			dso.plans = value;
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
		ret = p.n_operands ? cli_usage_error(&audit_cmd, "audit takes one DATASET, not '%s' too",
						     p.operands[1])
				   : cli_usage_error(&audit_cmd, "audit needs a DATASET");
		goto out;
	}
	if (ds_load(&ds, p.operands[0], &dso, err, sizeof(err))) {
		cli_error("%s", err);
		ret = CB_EXIT_USAGE; /* as diff: 2 when the check itself cannot run */
		goto out;
	}
	if (aud_run(&ds, &o, &res, err, sizeof(err))) {
		/* only option values and dataset.json's labels fail here */
		if (o.labels)
			ret = cli_usage_error(&audit_cmd, "%s", err);
		else {
			cli_error("%s", err);
			ret = CB_EXIT_USAGE;
		}
		ds_release(&ds);
		goto out;
	}
	if (!res.cases_read) {
		cli_error("%s: nothing to audit: no case has a NIfTI file (.nii, .nii.gz)",
			  p.operands[0]);
		if (res.ncases && res.cases[0].skip_reason)
			fprintf(stderr, "hint: %s: %s\n", res.cases[0].id, res.cases[0].skip_reason);
		aud_result_release(&res);
		ds_release(&ds);
		ret = CB_EXIT_USAGE;
		goto out;
	}
	if (json) {
		char *text = json_finish(aud_json(&res, all || res.mode == AUD_MODE_HISTOGRAM), false);

		puts(text);
		free(text);
	} else {
		print_text(&ds, &res);
		for (i = 0; i < ds.nwarnings; i++)
			fprintf(stderr, "casebisect: warning: %s\n", ds.warnings[i]);
	}
	if (res.findings[AUD_CRASH] || res.findings[AUD_UNREADABLE])
		ret = CB_EXIT_ERROR;
	aud_result_release(&res);
	ds_release(&ds);
out:
	cli_parser_release(&p);
	return ret;
}
