/* report_md: report.md, from the facts (report_facts.h): what crashed,
 * which cases, how to reproduce it, and the trials, for people. */
#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "casebisect/json.h"
#include "format.h"
#include "casebisect/synth.h"
#include "report_facts.h"

/* How many IDs a title or a sentence names before "and N more". */
#define NAMES_SHOWN 3
/* How many trial numbers a table cell lists. */
#define TRIALS_SHOWN 12
/* Subsets this small are listed case by case in report.md. */
#define SUBSET_SHOWN 5
/* How many IDs a long list (open, undecided, the smallest failing subset)
 * names before "and N more": report.md stays under an issue tracker's
 * comment limit (GitHub's: 65,536 characters) whatever the dataset. */
#define LIST_SHOWN 20
/* How many rows the table of all trials shows (report.json has them all). */
#define TRIAL_ROWS_SHOWN 200
/* How many culprits get a row of their own (the table, the audit's lines). */
#define CULPRIT_ROWS_SHOWN 50

/* What each class means, in words, for people who do not know the names. */
static const char *class_words(enum cls_class k)
{
	switch (k) {
	case CLS_DEVICE_ASSERT:
		return "a CUDA kernel assertion failed on the GPU (most often a label value "
		       "outside the classes the network has)";
	case CLS_ILLEGAL_ACCESS:
		return "the GPU touched memory it must not (illegal or misaligned address, "
		       "launch failure)";
	case CLS_OOM:
		return "out of memory";
	case CLS_CUDNN_CUBLAS:
		return "a cuDNN or cuBLAS call failed";
	case CLS_NCCL:
		return "an NCCL error or a timeout between processes";
	case CLS_ENV_MISMATCH:
		return "the driver, the CUDA toolkit or the PyTorch build does not fit this GPU";
	case CLS_CPU_INDEX_ERROR:
		return "an index out of range, caught on the CPU (most often a label value "
		       "outside the classes the network has)";
	case CLS_DATA_ERROR:
		return "a case could not be read, or a data-loading worker died";
	case CLS_HOST_KILL:
		return "the process was killed from outside (the OOM killer, SIGKILL, Slurm)";
	case CLS_SEGFAULT:
		return "the process crashed (segmentation fault, bus error, abort)";
	case CLS_OTHER_ERROR:
		return "another error, or a non-zero exit";
	default:
		return "no failure";
	}
}

/* "a, b and c" of up to max IDs (all when max is 0), "and N more" after. */
static void md_ids(struct rep_buf *b, const struct dataset *ds, const size_t *idx, size_t n,
		   size_t max)
{
	size_t shown = max && n > max ? max : n, i;

	for (i = 0; i < shown; i++) {
		assert(idx[i] < ds->ncases);
		if (i)
			rep_buf_puts(b, i + 1 == n ? " and " : ", ");
		rep_md_code(b, ds->cases[idx[i]].id, false);
	}
	if (shown < n)
		rep_buf_printf(b, " and %zu more", n - shown);
}

static void md_trials(struct rep_buf *b, const struct rep_u64s *t)
{
	size_t i, shown = t->n > TRIALS_SHOWN ? TRIALS_SHOWN : t->n;

	for (i = 0; i < shown; i++)
		rep_buf_printf(b, "%s%llu", i ? ", " : "", (unsigned long long)t->v[i]);
	if (shown < t->n)
		rep_buf_printf(b, ", … (%zu in all)", t->n);
	if (!t->n)
		rep_buf_puts(b, "none");
}
static void md_duration(struct rep_buf *b, double s)
{
	unsigned long long t;

	if (!(s >= 0))
		s = 0;
	if (s < 60) {
		rep_buf_printf(b, "%.1f s", s);
		return;
	}
	t = (unsigned long long)(s + 0.5);
	if (t < 3600)
		rep_buf_printf(b, "%llu min %02llu s", t / 60, t % 60);
	else
		rep_buf_printf(b, "%llu h %02llu min", t / 3600, t / 60 % 60);
}

/* A path of the dataset as the user knows it: relative to the dataset's
 * folder when under it. */
static const char *shown_path(const struct dataset *ds, const char *path)
{
	const char *root = ds->root ? ds->root : "";
	size_t n = strlen(root);
	const struct ds_format_ops *ops = ds_format_ops(ds->format);
	unsigned flags = ops ? ops->flags : 0;
	struct stat st;

	/* A list or a datalist is a file: its folder is where paths start. */
	if ((flags & FMT_NEEDS_FILE) ||
	    (!(flags & FMT_NEEDS_FOLDER) && (stat(root, &st) || !S_ISDIR(st.st_mode)))) {
		const char *slash = strrchr(root, '/');

		n = slash ? (size_t)(slash - root) : 0;
	}
	if (n && !strncmp(path, root, n) && path[n] == '/' && path[n + 1])
		return path + n + 1;
	return path;
}

/* The chance that no culprit remains, as a percentage floored to a tenth,
 * so that it never reads 100%. */
static void confidence_pct(struct rep_buf *b, double p_remains)
{
	double sure = floor((1 - p_remains) * 1000) / 10;

	if (sure >= 99.9)
		rep_buf_puts(b, "over 99.9%");
	else
		rep_buf_printf(b, "%.1f%%", sure < 0 ? 0 : sure);
}

/* The confidence sentence (report.md, the terminal); nothing for a verdict
 * that clears nothing. */
void rep_confidence_sentence(struct rep_buf *b, const struct rep_facts *f)
{
	const struct conf_result *c = &f->conf;
	bool subset = rep_verdict_is(f->in, "minimal_subset");

	if (!f->have_conf)
		return;
	rep_buf_puts(b, "Confidence: ");
	confidence_pct(b, c->p_remains);
	if (!c->cleared) {
		/* nothing cleared: nothing can hide there */
		rep_buf_puts(b, " (no case was cleared).");
		return;
	}
	if (subset)
		rep_buf_printf(b, " that no case among the %zu cleared crashes training on its own as "
			      "well. %llu of the %llu trial%s that held the whole subset passed",
			   c->cleared, (unsigned long long)c->false_passes,
			   (unsigned long long)c->known_trials, rep_plural(c->known_trials));
	else
		rep_buf_printf(b, " that no other case among the %zu cleared holds a culprit. %llu of "
			      "the %llu trial%s that held a culprit passed", c->cleared,
			   (unsigned long long)c->false_passes, (unsigned long long)c->known_trials,
			   rep_plural(c->known_trials));
	rep_buf_printf(b, " (a false pass), which leaves room for false passes about 1 time in %.0f; "
		      "every cleared case passed ", 1 / c->false_pass_rate);
	if (c->fewest_passes == 1)
		rep_buf_puts(b, "at least once");
	else
		rep_buf_printf(b, "at least %llu times", (unsigned long long)c->fewest_passes);
	rep_buf_printf(b, " without %s.", subset ? "the subset" : "a culprit");
	if (c->audit_used)
		rep_buf_printf(b, " The label audit flagged %zu of the %zu culprit%s it read and %zu of "
			      "the %zu cleared case%s it read.", c->audit_culprits_flagged,
			   c->audit_culprits_read, rep_plural(c->audit_culprits_read),
			   c->audit_cleared_flagged, c->audit_cleared_read,
			   rep_plural(c->audit_cleared_read));
	if (c->unexplained_fails)
		rep_buf_printf(b, " But %llu trial%s failed the same way without holding %s: a "
			      "culprit remains among the cases %s held.",
			   (unsigned long long)c->unexplained_fails, rep_plural(c->unexplained_fails),
			   subset ? "the whole subset" : "a culprit found",
			   c->unexplained_fails == 1 ? "it" : "they");
	rep_buf_puts(b, " A trainer that misses a bad case now and then (a random patch or batch) "
		    "lowers it; more runs of the cleared cases raise it (run with --confirm N, or with --flaky "
		    "when the trainer is known to sample at random).");
}

static void md_title(struct rep_buf *b, const struct rep_facts *f)
{
	const struct report_input *in = f->in;
	const char *klass = in->target ? cls_class_name(in->target->klass) : NULL;

	rep_buf_puts(b, "# ");
	if (rep_verdict_is(in, "culprits_found")) {
		rep_buf_printf(b, "Training crashes because of %zu case%s: ", f->ncul, rep_plural(f->ncul));
		md_ids(b, in->ds, in->culprits, in->nculprits, NAMES_SHOWN);
	} else if (rep_verdict_is(in, "minimal_subset")) {
		rep_buf_printf(b, "Training crashes only when these %zu cases are together: ", f->ncul);
		md_ids(b, in->ds, in->culprits, in->nculprits, NAMES_SHOWN);
	} else if (rep_verdict_is(in, "dataset_wide")) {
		rep_buf_puts(b, "Training crashes whatever cases it gets: no single case is to blame");
	} else if (rep_verdict_is(in, "not_reproduced")) {
		rep_buf_puts(b, "The crash did not happen again on the full dataset");
	} else if (rep_verdict_is(in, "not_data_dependent")) {
		rep_buf_puts(b, "The crash does not depend on the data");
	} else if (rep_verdict_is(in, "undetermined")) {
		rep_buf_puts(b, "No answer: casebisect could not decide which cases crash training");
	} else {
		rep_buf_puts(b, "casebisect: ");
		rep_md_verbatim(b, in->verdict, false, false);
	}
	if (klass && in->target->klass != CLS_NONE)
		rep_buf_printf(b, " (%s)", klass);
	rep_buf_printf(b, "\n\nVerdict: **%s** (casebisect exits %d).", in->verdict, in->exit_code);
	if (in->explanation && *in->explanation) {
		rep_buf_puts(b, " ");
		rep_md_verbatim(b, in->explanation, false, false);
	}
	rep_buf_puts(b, "\n\n");
	if (f->have_conf) {
		struct rep_buf c = { 0 };
		char *text;

		rep_confidence_sentence(&c, f);
		text = rep_buf_take(&c);
		rep_md_verbatim(b, text, false, false);
		rep_buf_puts(b, "\n\n");
		free(text);
	}
}

/* An unfinished search (undetermined): what it had found when it stopped,
 * and how to go on. */
static void md_known_so_far(struct rep_buf *b, const struct rep_facts *f)
{
	const struct report_input *in = f->in;
	const struct jrn_entry *s = f->smallest_fail;

	if (!rep_verdict_is(in, "undetermined") || !s)
		return;
	rep_buf_puts(b, "## What is known so far\n\n- Culprits confirmed so far (each crashed "
		    "training alone): ");
	if (f->ncul)
		md_ids(b, in->ds, in->culprits, in->nculprits, LIST_SHOWN);
	else
		rep_buf_puts(b, "none yet");
	rep_buf_printf(b, ".\n- The smallest subset seen to crash training this way: %zu case%s "
		      "(trial %llu)", s->ncases, rep_plural(s->ncases), (unsigned long long)s->trial);
	if (f->nbundle) { /* the facts hold its cases: the bundle's */
		rep_buf_puts(b, ": ");
		md_ids(b, in->ds, f->bundle, f->nbundle, LIST_SHOWN);
		rep_buf_puts(b, ". The bundle is made from it");
	} else
		rep_buf_puts(b, ", the whole dataset: no bundle");
	rep_buf_printf(b, ".\n- Still open: %zu of %zu cases, neither confirmed nor in a trial "
		      "that passed", f->nopen, in->ds->ncases);
	if (f->nopen) {
		rep_buf_puts(b, ": ");
		md_ids(b, in->ds, f->open, f->nopen, LIST_SHOWN);
		if (f->nopen > LIST_SHOWN)
			rep_buf_puts(b, " (report.json's open_cases lists them all)");
	}
	rep_buf_printf(b, ".\n- To go on from here: `casebisect resume %s --max-trials N`, N counting "
		      "every trial, these %zu included (or a later `--deadline`).\n\n", in->workdir,
		   in->ntrials);
}

static void md_field(struct rep_buf *b, const char *name, const char *v)
{
	if (!*v)
		return;
	rep_buf_printf(b, "- %s: ", name);
	rep_md_code(b, v, false);
	rep_buf_puts(b, "\n");
}

/* Shown once each: the target's decisive line, then the culprits' first
 * failing trials' lines where they differ. */
static void md_evidence(struct rep_buf *b, const struct rep_facts *f)
{
	const struct report_input *in = f->in;
	const char **seen = xcalloc(f->ncul + 2, sizeof(*seen));
	size_t nseen = 0, i, k;

	if (*in->target->evidence) {
		rep_buf_puts(b, "The decisive line");
		if (in->target_source && *in->target_source) {
			rep_buf_puts(b, ", from ");
			rep_md_verbatim(b, in->target_source, false, false);
		}
		if (in->target->line)
			rep_buf_printf(b, ", %s line %llu",
				   in->target->stream == CLS_STDERR ? "stderr" : "stdout",
				   (unsigned long long)in->target->line);
		rep_buf_puts(b, ":\n\n");
		rep_md_block(b, in->target->evidence, "");
		seen[nseen++] = in->target->evidence;
	}
	for (i = 0; i < f->ncul && nseen <= NAMES_SHOWN; i++) {
		const struct jrn_entry *e = f->cul[i].first_fail;

		if (!e || !*e->evidence)
			continue;
		for (k = 0; k < nseen; k++)
			if (!strncmp(seen[k], e->evidence, sizeof(e->evidence) - 1))
				break;
		if (k < nseen)
			continue;
		rep_buf_printf(b, "In trial %llu (%zu case%s, with ", (unsigned long long)e->trial,
			   e->ncases, rep_plural(e->ncases));
		rep_md_code(b, f->cul[i].c->id, false);
		rep_buf_puts(b, "):\n\n");
		rep_md_block(b, e->evidence, "");
		seen[nseen++] = e->evidence;
	}
	free(seen);
}

/* The decisive traceback, bounded (report_trace.c); nothing when the log
 * adds no line to the decisive one. */
static void md_traceback(struct rep_buf *b, const struct rep_facts *f)
{
	struct rep_trace t;

	if (rep_trace_find(f, &t))
		return;
	if (t.last > t.first) {
		rep_buf_printf(b, "The traceback, from trial %llu's %s (lines %zu to %zu", (unsigned long long)t.trial, t.log,
			   t.first, t.last);
		if (t.last - t.first + 1 > REP_TRACE_LINES)
			rep_buf_printf(b, ", %d of them shown", REP_TRACE_LINES - 1);
		rep_buf_puts(b, "):\n\n");
		rep_md_block(b, t.text, "");
	}
	free(t.text);
}

static void md_what_crashed(struct rep_buf *b, const struct rep_facts *f)
{
	const struct report_input *in = f->in;
	const struct cls_signature *t = in->target;
	char fp[17], *exc;

	if (!t)
		return;
	rep_buf_printf(b, "## What crashed\n\n**%s**: %s.\n\n", cls_class_name(t->klass),
		   class_words(t->klass));
	exc = *t->message ? cb_fmt("%s%s%s", t->exception, *t->exception ? ": " : "", t->message)
			  : xstrdup(t->exception);
	md_field(b, "Exception", exc);
	free(exc);
	md_field(b, "Raised in", t->frame);
	md_field(b, "Kernel", t->kernel);
	md_field(b, "Assertion", t->assert_expr);
	md_field(b, "Source", t->source);
	md_field(b, "Error code", t->error_code);
	if (t->exit_known && t->exit_signal)
		rep_buf_printf(b, "- Exit: killed by signal %d\n", t->exit_signal);
	else if (t->exit_known)
		rep_buf_printf(b, "- Exit: code %d\n", t->exit_code);
	cls_fingerprint_hex(t, in->match, fp);
	rep_buf_printf(b, "- A trial counted as this crash when its failure matched at level `%s` "
		      "(fingerprint `%s`)\n\n", cls_match_name(in->match), fp);
	md_evidence(b, f);
	md_traceback(b, f);
}

static void md_files(struct rep_buf *b, const struct dataset *ds, const struct ds_case *c)
{
	size_t j;

	for (j = 0; j < c->nfiles; j++) {
		if (j)
			rep_buf_puts(b, "<br>");
		rep_md_code(b, shown_path(ds, c->files[j]), true);
	}
	if (!c->nfiles)
		rep_buf_puts(b, "(none listed)");
}

static void md_rate(struct rep_buf *b, uint64_t fails, uint64_t runs)
{
	rep_buf_printf(b, "%llu of %llu run%s", (unsigned long long)fails, (unsigned long long)runs,
		   rep_plural(runs));
}

static void md_which_cases(struct rep_buf *b, const struct rep_facts *f)
{
	const struct report_input *in = f->in;
	size_t i;

	if (!f->ncul)
		return;
	rep_buf_puts(b, "## Which cases\n\n");
	if (rep_verdict_is(in, "minimal_subset")) {
		rep_buf_printf(b, "These %zu cases crash training together; without any one of them it "
			      "does not. All of them together crashed in ", f->ncul);
		md_rate(b, f->all_fails, f->all_runs);
		rep_buf_puts(b, " (trials ");
		md_trials(b, &f->all_failing);
		rep_buf_puts(b, ").\n\n");
	} else if (rep_verdict_is(in, "dataset_wide")) {
		rep_buf_puts(b, "The crash came back on every subset tried, so no single case causes it. "
			    "The cases tried:\n\n");
	} else if (rep_verdict_is(in, "undetermined")) {
		rep_buf_printf(b, "Confirmed so far: training crashes with %s alone. The search did "
			      "not finish, so there may be more. ", f->ncul == 1 ? "this case" :
			   "each of these cases");
	} else {
		rep_buf_printf(b, "Training crashes with %s and not without. ",
			   f->ncul == 1 ? "this case" : "each of these cases");
	}
	rep_buf_puts(b, "Crashed: of the trials that held the case and no other culprit. Alone: of "
		    "the trials of the case by itself, what the bundle reruns. A trial that ended "
		    "unresolved counts in neither.\n\n");
	rep_buf_puts(b, "| Case | Files | Crashed | Alone | Failing trials |\n"
		    "| --- | --- | --- | --- | --- |\n");
	for (i = 0; i < f->ncul && i < CULPRIT_ROWS_SHOWN; i++) {
		const struct rep_culprit *c = &f->cul[i];

		rep_buf_puts(b, "| ");
		rep_md_code(b, c->c->id, true);
		rep_buf_puts(b, " | ");
		md_files(b, in->ds, c->c);
		rep_buf_puts(b, " | ");
		md_rate(b, c->fails, c->runs);
		rep_buf_puts(b, " | ");
		md_rate(b, c->alone_fails, c->alone_runs);
		rep_buf_puts(b, " | ");
		md_trials(b, &c->failing);
		rep_buf_puts(b, " |\n");
	}
	if (f->ncul > CULPRIT_ROWS_SHOWN)
		rep_buf_printf(b, "| ... and %zu more (report.json's culprits lists them all) | | | | |\n",
			   f->ncul - CULPRIT_ROWS_SHOWN);
	rep_buf_puts(b, "\nFiles are named relative to the dataset's folder; their contents are in "
		    "no report.\n\n");
}
static char *command_line(const struct rep_facts *f)
{
	const char **argv = rep_run_command(f);
	struct rep_buf b = { 0 };
	size_t i;

	for (i = 0; argv && argv[i]; i++) {
		if (i)
			rep_buf_puts(&b, " ");
		rep_sh_word(&b, argv[i]);
	}
	free(argv);
	return rep_buf_take(&b);
}

static void md_reproduce(struct rep_buf *b, const struct rep_facts *f)
{
	const struct report_input *in = f->in;
	const char *cwd = rep_run_str(f, "options", "cwd");
	char *line;
	const cJSON *env = rep_run_get(f, "env", NULL), *e;

	rep_buf_puts(b, "## How to reproduce\n\n");
	if (f->nbundle && rep_verdict_is(in, "undetermined"))
		rep_buf_printf(b, "On the smallest subset seen to crash (%zu case%s), from the bundle "
			      "(copies of their files, the command, its environment and casebisect's "
			      "own programs it runs), unpacked anywhere:\n\n",
			   f->nbundle, rep_plural(f->nbundle));
	else if (f->nbundle)
		rep_buf_printf(b, "On the %s alone, from the bundle (copies of %s files, the command, "
			      "its environment and casebisect's own programs it runs), unpacked "
			      "anywhere:\n\n", f->ncul == 1 ? "culprit" : "culprits",
			   f->ncul == 1 ? "its" : "their");
	if (f->nbundle) {
		rep_md_block(b, "tar xzf " TARBALL_NAME " && bash " BUNDLE_NAME "/repro.sh", "sh");
		rep_buf_puts(b, "`" TARBALL_NAME "` is in the work folder, beside `" BUNDLE_NAME "/` (the "
			    "same files). It holds copies "
			    "of the cases' image and label files, which may be patients' data: "
			    "attach it only where you have the right to share them.\n\n");
	}
	if ((line = synth_report_md(in->workdir))) /* bundle --synthetic, run --synthetic */
		rep_buf_puts(b, line);
	free(line);
	line = command_line(f);
	if (*line) {
		rep_buf_puts(b, "The command casebisect ran on each subset of the dataset (`{cases_file}`, "
			    "`{files_file}`, `{view}`, `{trial_dir}` and `{n}` stood for each trial's "
			    "own files)");
		if (cwd) {
			rep_buf_puts(b, ", in ");
			rep_md_code(b, cwd, false);
		}
		rep_buf_puts(b, ":\n\n");
		rep_md_block(b, line, "sh");
	}
	free(line);
	if (cJSON_IsArray(env) && cJSON_GetArraySize(env) > 0) {
		rep_buf_puts(b, "With `--env`:");
		cJSON_ArrayForEach(e, env) {
			if (!cJSON_IsString(e))
				continue;
			rep_buf_puts(b, " ");
			rep_md_code(b, e->valuestring, false);
		}
		rep_buf_puts(b, "\n\n");
	}
}

/* A CUDA version number (12040) as "12.4". */
static void md_cuda_version(struct rep_buf *b, int v)
{
	rep_buf_printf(b, "%d.%d", v / 1000, v % 1000 / 10);
}

static void md_gpu(struct rep_buf *b, const struct gpu_info *g)
{
	size_t i;

	if (!g) {
		rep_buf_puts(b, "- GPU: not looked at\n");
		return;
	}
	if (!g->available) {
		rep_buf_puts(b, "- GPU: no GPU available: ");
		rep_md_verbatim(b, *g->reason ? g->reason : "no reason given", false, false);
		rep_buf_puts(b, "\n");
		return;
	}
	for (i = 0; i < g->count; i++) {
		const struct gpu_device *d = &g->dev[i];

		rep_buf_printf(b, "- GPU %d: ", d->index);
		rep_md_verbatim(b, d->name, false, false);
		rep_buf_printf(b, ", %.1f GiB, compute capability %d.%d\n",
			   (double)d->total_mem / (1024.0 * 1024 * 1024), d->cc_major, d->cc_minor);
	}
	rep_buf_puts(b, "- CUDA:");
	if (g->driver_version) {
		rep_buf_puts(b, " the driver supports ");
		md_cuda_version(b, g->driver_version);
	}
	if (g->runtime_version) {
		rep_buf_printf(b, "%s runtime ", g->driver_version ? "," : "");
		md_cuda_version(b, g->runtime_version);
	}
	if (*g->library) {
		rep_buf_puts(b, " (");
		rep_md_code(b, g->library, false);
		rep_buf_puts(b, ")");
	}
	rep_buf_puts(b, "\n");
}

/* What casebisect found itself (sysinfo.h): OS, kernel, driver, the CUDA
 * runtime when md_gpu() did not show it, and the trainer's Python. */
static void md_system(struct rep_buf *b, const struct rep_facts *f)
{
	const struct si_info *s = f->in->sys;
	const struct gpu_info *g = f->in->gpu;

	if (!s)
		return;
	rep_buf_puts(b, "- OS: ");
	rep_md_verbatim(b, *s->os ? s->os : "unknown", false, false);
	rep_buf_puts(b, "; kernel ");
	rep_md_verbatim(b, *s->kernel ? s->kernel : "unknown", false, false);
	rep_buf_puts(b, "\n- NVIDIA driver: ");
	rep_md_verbatim(b, *s->driver ? s->driver : "none found (no /proc/driver/nvidia/version)",
			false, false);
	rep_buf_puts(b, "\n");
	if (g && !g->available) {
		rep_buf_puts(b, "- CUDA runtime: ");
		if (g->runtime_version)
			md_cuda_version(b, g->runtime_version);
		else
			rep_buf_puts(b, "none found");
		rep_buf_puts(b, "\n");
	}
	if (!*s->python_exe) {
		rep_buf_puts(b, "- Python: not asked (the command is not a Python program)\n");
		return;
	}
	rep_buf_puts(b, "- Python (the trainer's, ");
	rep_md_code(b, s->python_exe, false);
	rep_buf_puts(b, "): ");
	rep_md_verbatim(b, *s->python ? s->python : "unknown", false, false);
	rep_buf_puts(b, "; PyTorch ");
	rep_md_verbatim(b, *s->torch ? s->torch : "not installed", false, false);
	if (*s->torch_cuda && strcmp(s->torch_cuda, "none")) {
		rep_buf_puts(b, " (CUDA ");
		rep_md_verbatim(b, s->torch_cuda, false, false);
		rep_buf_puts(b, ")");
	} else if (*s->torch_cuda)
		rep_buf_puts(b, " (a CPU build)");
	rep_buf_puts(b, "; nnU-Net ");
	rep_md_verbatim(b, *s->nnunet ? s->nnunet : "not installed", false, false);
	if (*s->note) {
		rep_buf_puts(b, " (");
		rep_md_verbatim(b, s->note, false, false);
		rep_buf_puts(b, ")");
	}
	rep_buf_puts(b, "\n");
}

static void md_environment(struct rep_buf *b, const struct rep_facts *f)
{
	const char **env = rep_trial_env_list(f), *env_cmd = rep_run_str(f, "options", "env_cmd");
	size_t i;

	rep_buf_puts(b, "## Environment\n\n");
	if (rep_run_str(f, "options", "command_line")) {
		rep_buf_puts(b, "casebisect " CASEBISECT_VERSION " ran as:\n\n");
		rep_md_block(b, rep_run_str(f, "options", "command_line"), "sh");
	}
	md_gpu(b, f->in->gpu);
	md_system(b, f);
	rep_buf_puts(b, "- Every trial ran with");
	for (i = 0; env[i]; i++) {
		rep_buf_puts(b, " ");
		rep_md_code(b, env[i], false);
	}
	rep_buf_puts(b, "\n\n");
	free(env);
	if (f->in->env_cmd_output) {
		rep_buf_puts(b, "What `--env-cmd`");
		if (env_cmd) {
			rep_buf_puts(b, " (");
			rep_md_code(b, env_cmd, false);
			rep_buf_puts(b, ")");
		}
		rep_buf_puts(b, " printed:\n\n");
		rep_md_block(b, f->in->env_cmd_output, "");
	}
}

static void md_decisive(struct rep_buf *b, const char *what, const char *id,
			const struct jrn_entry *e, bool *first)
{
	if (!e)
		return;
	rep_buf_puts(b, *first ? " The trials that decided the answer: " : "; ");
	*first = false;
	if (id)
		rep_md_code(b, id, false);
	rep_buf_printf(b, "%s ", what);
	md_duration(b, e->duration_s);
	rep_buf_printf(b, " (trial %llu)", (unsigned long long)e->trial);
}

/* How long one trial takes: what a user plans the night by. */
static void md_trial_time(struct rep_buf *b, const struct rep_facts *f)
{
	const struct report_input *in = f->in;
	bool first = true;
	char what[64];
	size_t i;

	if (!in->ntrials)
		return;
	rep_buf_puts(b, "- Trial time: median ");
	md_duration(b, f->median_s);
	rep_buf_printf(b, " over %zu trial%s, longest ", in->ntrials, rep_plural(in->ntrials));
	md_duration(b, f->longest_s);
	rep_buf_puts(b, ".");
	md_decisive(b, "the full dataset", NULL, f->full_set, &first);
	if (rep_verdict_is(in, "minimal_subset"))
		md_decisive(b, "the subset", NULL, f->subset_fail, &first);
	else
		for (i = 0; i < f->ncul && i < NAMES_SHOWN; i++)
			md_decisive(b, " alone", f->cul[i].c->id, f->cul[i].first_alone_fail, &first);
	if (!rep_verdict_is(in, "minimal_subset") && f->ncul > NAMES_SHOWN)
		rep_buf_printf(b, "; %zu more alone (report.json)", f->ncul - NAMES_SHOWN);
	if (rep_verdict_blames(in) && f->clean_pass) {
		snprintf(what, sizeof(what), "the largest pass without %s (%zu case%s)",
			 f->ncul == 1 ? "it" : "them", f->clean_pass->ncases,
			 rep_plural(f->clean_pass->ncases));
		md_decisive(b, what, NULL, f->clean_pass, &first);
	}
	rep_buf_puts(b, first ? "\n" : ".\n");
}

static void md_ruled_out(struct rep_buf *b, const struct rep_facts *f)
{
	const struct report_input *in = f->in;
	const struct dataset *ds = in->ds;

	rep_buf_puts(b, "## What was ruled out\n\n");
	if (rep_verdict_blames(in))
		rep_buf_printf(b, "- %zu of %zu cases cleared: training does not crash this way "
			      "without the culprit%s.\n", f->cleared, ds->ncases, rep_plural(f->ncul));
	else
		rep_buf_printf(b, "- %zu of %zu cases passed in at least one trial.\n", f->cleared,
			   ds->ncases);
	rep_buf_printf(b, "- %zu trial%s: %llu passed, %llu failed this way, %llu unresolved; "
		      "%llu round%s.\n", in->ntrials, rep_plural(in->ntrials), (unsigned long long)f->pass,
		   (unsigned long long)f->fail, (unsigned long long)f->unresolved,
		   (unsigned long long)in->rounds, rep_plural(in->rounds));
	if (f->skipped)
		rep_buf_printf(b, "- %llu of the unresolved trials skipped: the command exited 125, "
			      "as in 'git bisect run' (this subset cannot be tested).\n",
			   (unsigned long long)f->skipped);
	rep_buf_puts(b, "- GPU time ");
	md_duration(b, f->gpu_s);
	rep_buf_puts(b, " (the trials' durations added up); wall time ");
	md_duration(b, in->wall_s);
	rep_buf_puts(b, ".\n");
	md_trial_time(b, f);
	if (in->flakes)
		rep_buf_printf(b, "- %llu flaky pass%s: a subset passed, and failed another time. The "
			      "crash does not happen on every run; the rates above say how often.\n",
			   (unsigned long long)in->flakes, in->flakes == 1 ? "" : "es");
	else
		rep_buf_puts(b, "- No flaky passes: no pass was contradicted by a failure later.\n");
	rep_buf_puts(b, "- Dataset: ");
	rep_md_code(b, ds->root ? ds->root : "", false);
	rep_buf_printf(b, " (%s, %zu case%s, digest `%s`).\n\n", ds_format_name(ds->format), ds->ncases,
		   rep_plural(ds->ncases), ds->digest);
}

static void md_others(struct rep_buf *b, const struct rep_facts *f)
{
	size_t i, j, k, c;

	if (!f->nother)
		return;
	rep_buf_puts(b, "## Other failures seen along the way\n\n"
		    "These trials failed, but not the way the target did, so they were counted as "
		    "unresolved, not as the crash. A second bug, or memory running out on large "
		    "subsets, shows here.\n\n"
		    "| Class | Fingerprint | Trials | Smallest subset | Trial numbers |\n"
		    "| --- | --- | --- | --- | --- |\n");
	for (i = 0; i < f->nother && i < LIST_SHOWN; i++) {
		const struct rep_other *o = &f->other[i];
		const struct jrn_entry *s = o->smallest;

		rep_buf_printf(b, "| %s | ", o->klass);
		rep_md_code(b, o->fingerprint, true);
		rep_buf_printf(b, " | %zu | %zu case%s", o->trials.n, s->ncases, rep_plural(s->ncases));
		if (s->ncases && s->ncases <= SUBSET_SHOWN) {
			rep_buf_puts(b, ": ");
			for (j = 0, k = 0; j < s->nranges; j++)
				for (c = s->ranges[j].first; c <= s->ranges[j].last; c++) {
					if (k++)
						rep_buf_puts(b, ", ");
					rep_md_code(b, f->in->ds->cases[c].id, true);
				}
		}
		rep_buf_printf(b, " (trial %llu) | ", (unsigned long long)s->trial);
		md_trials(b, &o->trials);
		rep_buf_puts(b, " |\n");
	}
	if (f->nother > LIST_SHOWN)
		rep_buf_printf(b, "| ... and %zu more (report.json's other_failures) | | | | |\n",
			   f->nother - LIST_SHOWN);
	rep_buf_puts(b, "\n");
	for (i = 0; i < f->nother && i < NAMES_SHOWN; i++) {
		const struct rep_other *o = &f->other[i];

		if (!*o->smallest->evidence)
			continue;
		rep_buf_printf(b, "%s, trial %llu:\n\n", o->klass, (unsigned long long)o->smallest->trial);
		rep_md_block(b, o->smallest->evidence, "");
	}
}

/* Every trial, folded away: where it ran and how it ended. */
static void md_trial_log(struct rep_buf *b, const struct rep_facts *f)
{
	const struct report_input *in = f->in;
	size_t i;

	if (!in->ntrials)
		return;
	rep_buf_printf(b, "<details><summary>All %zu trials</summary>\n\n", in->ntrials);
	rep_buf_puts(b, "| Trial | Phase | Cases | Outcome | Reason | Class | Time | Where |\n"
		    "| --- | --- | --- | --- | --- | --- | --- | --- |\n");
	for (i = 0; i < in->ntrials && i < TRIAL_ROWS_SHOWN; i++) {
		const struct jrn_entry *e = &in->trials[i];

		rep_buf_printf(b, "| %llu | %s | %zu | %s | %s | %s | ", (unsigned long long)e->trial,
			   e->phase[0] ? e->phase : "-", e->ncases, e->outcome, e->reason,
			   e->klass);
		md_duration(b, e->duration_s);
		rep_buf_puts(b, " | ");
		if (e->node[0])
			rep_md_code(b, e->node, true);
		if (e->gpu >= 0)
			rep_buf_printf(b, "%sGPU %d", e->node[0] ? " " : "", e->gpu);
		if (!e->node[0] && e->gpu < 0)
			rep_buf_puts(b, "CPU");
		rep_buf_puts(b, " |\n");
	}
	if (in->ntrials > TRIAL_ROWS_SHOWN)
		rep_buf_printf(b, "\n... and %zu more (report.json's trial_log has every trial).\n",
			   in->ntrials - TRIAL_ROWS_SHOWN);
	rep_buf_puts(b, "\n</details>\n\n");
}

static void md_undecided(struct rep_buf *b, const struct rep_facts *f)
{
	const struct report_input *in = f->in;

	if (!in->nundecided)
		return;
	rep_buf_printf(b, "## Undecided cases\n\nNo trial could decide %s %zu case%s (the trials "
		      "that held %s ended unresolved): ", in->nundecided == 1 ? "this" : "these",
		   in->nundecided, rep_plural(in->nundecided), in->nundecided == 1 ? "it" : "them");
	md_ids(b, in->ds, in->undecided, in->nundecided, LIST_SHOWN);
	rep_buf_puts(b, ".\n\n");
}

/* What the label audit said about the culprits, and where it was wrong. */
static void md_audit(struct rep_buf *b, const struct rep_facts *f)
{
	const struct report_input *in = f->in;
	const struct aud_result *a = in->audit;
	size_t i, k, nmissed = 0, nblamed = 0;

	if (!a)
		return;
	rep_buf_printf(b, "## What the label audit saw\n\n");
	rep_buf_printf(b, "The audit read the label files of %zu cases before any training: %zu with "
		   "values that crash training, %zu unreadable.\n\n", a->cases_read,
		   a->cases_with[AUD_CRASH], a->cases_with[AUD_UNREADABLE]);
	for (i = 0; i < in->nculprits; i++) {
		const struct aud_case *c = &a->cases[in->culprits[i]];

		nmissed += !aud_case_crashes(a, in->culprits[i]);
		if (i >= CULPRIT_ROWS_SHOWN)
			continue;
		rep_buf_puts(b, "- ");
		rep_md_code(b, c->id, false);
		if (!c->nfindings)
			rep_buf_puts(b, ": nothing found");
		for (k = 0; k < c->nfindings && k < 3; k++) {
			rep_buf_printf(b, "%s%s: ", k ? "; " : ": ",
				   aud_severity_name(c->findings[k].severity));
			rep_md_code(b, c->findings[k].detail, false);
		}
		rep_buf_puts(b, "\n");
	}
	if (in->nculprits > CULPRIT_ROWS_SHOWN)
		rep_buf_printf(b, "- ... and %zu more (report.json's audit.culprits)\n",
			   in->nculprits - CULPRIT_ROWS_SHOWN);
	for (i = 0; i < in->ds->ncases; i++)
		nblamed += rep_audit_blamed(in, i);
	if (in->nculprits)
		rep_buf_puts(b, "\n");
	if (nmissed)
		rep_buf_printf(b, "The audit missed %zu culprit%s: training crashes with %s, but %s "
			   "labels hold no value the audit calls a crash (the cause may be "
			   "elsewhere: images, geometry, or the trainer).\n\n", nmissed,
			   nmissed == 1 ? "" : "s", nmissed == 1 ? "it" : "them",
			   nmissed == 1 ? "its" : "their");
	if (nblamed) {
		rep_buf_printf(b, "The audit blamed %zu case%s that training cleared: ", nblamed,
			   nblamed == 1 ? "" : "s");
		for (i = 0, k = 0; i < in->ds->ncases && k < 20; i++)
			if (rep_audit_blamed(in, i)) {
				rep_buf_puts(b, k++ ? ", " : "");
				rep_md_code(b, in->ds->cases[i].id, false);
			}
		rep_buf_puts(b, nblamed > 20 ? ", ...\n\n" : "\n\n");
	}
}

char *rep_md_text(const struct rep_facts *f)
{
	struct rep_buf b = { 0 };
	char *raw, *clean;

	md_title(&b, f);
	md_known_so_far(&b, f);
	md_what_crashed(&b, f);
	md_which_cases(&b, f);
	md_audit(&b, f);
	if (f->in->pictures_md) /* pictures.c writes it: links into pictures/ */
		rep_buf_puts(&b, f->in->pictures_md);
	md_reproduce(&b, f);
	md_environment(&b, f);
	md_ruled_out(&b, f);
	md_others(&b, f);
	md_undecided(&b, f);
	md_trial_log(&b, f);
	rep_buf_puts(&b, "---\n_Written by casebisect " CASEBISECT_VERSION "; report.json says the "
		     "same for programs._\n");
	/* File names and logs are bytes; an issue tracker wants UTF-8. */
	raw = rep_buf_take(&b);
	clean = cb_utf8_clean(raw);
	free(raw);
	return clean;
}

