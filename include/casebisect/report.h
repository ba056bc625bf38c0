/* report: what a run found, for people (report.md, pasted into an issue
 * tracker as it is) and for machines (report.json), and the repro bundle.
 * The only module that writes results; it renders from the journal, so
 * `casebisect report WORKDIR` gives the same report again. */
#ifndef CASEBISECT_REPORT_H
#define CASEBISECT_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "casebisect/classify.h"
#include "casebisect/dataset.h"
#include "casebisect/gpu.h"
#include "casebisect/journal.h"

/* report.json's schema_version; docs/report-schema.json describes it. */
#define REPORT_SCHEMA_VERSION 1

/*
 * Everything a report says. All borrowed; the run engine fills it from the
 * journal (what ran), run.json (what was asked) and the reducer's answer.
 *
 * Per culprit the report computes from the journal: the trials whose subset
 * holds it and no other culprit, how many of them FAILed (reproduction rate
 * = fails / runs), their numbers, and the evidence line of the first of
 * them. Trials that ended UNRESOLVED with a failure of another class or
 * fingerprint (reason "other_failure") are listed as "other failures seen",
 * grouped by class and fingerprint, with the smallest subset that showed
 * each, so a second bug or an OOM on large subsets is not lost.
 */
struct report_input {
	const char *workdir;            /* absolute */
	const struct dataset *ds;
	const char *verdict;            /* culprits_found, minimal_subset, dataset_wide,
					 * not_reproduced, not_data_dependent, undetermined */
	int exit_code;                  /* what run/resume exit with */
	const char *explanation;        /* what the verdict means and what to do next:
					 * one paragraph, "" when nothing to add */
	const struct cls_signature *target; /* NULL when there is none (not_reproduced) */
	enum cls_match match;           /* --match */
	const char *target_source;      /* "trial 1 (the full dataset)" or the --target-log path */
	const size_t *culprits;         /* indices into ds->cases; for minimal_subset
					 * the subset; for dataset_wide the cases tried */
	size_t nculprits;
	const size_t *undecided;        /* cases no trial could decide */
	size_t nundecided;
	const struct jrn_entry *trials; /* the journal, in file order */
	size_t ntrials;
	uint64_t rounds;                /* sequential rounds (the reducer's count) */
	uint64_t flakes;                /* passes later contradicted by a fail */
	double wall_s;                  /* the run's wall time, resumes included */
	const char *run_json;           /* run.json's text: dataset, command, env, options */
	const struct gpu_info *gpu;     /* the environment; NULL when not looked at */
	const char *env_cmd_output;     /* --env-cmd's output; NULL when none */
};

/*
 * Writes WORKDIR/report.json and WORKDIR/report.md (each to a temporary
 * file, then renamed, so a reader never sees half a report). Returns 0, or
 * -1 with a message in err naming the file.
 *
 * report.json: schema_version, verdict, exit_code, explanation, target
 * (class and the fields of `classify --json`, match level, source),
 * culprits (case, files, reproduction {fails, runs, rate}, failing_trials,
 * evidence), undecided, minimal_subset (for ddmin, else null), trials,
 * rounds, flakes, wall_s, gpu_s (summed trial durations), other_failures,
 * dataset (format, path, cases, digest), command, env, options, environment
 * (gpu facts, env_cmd output).
 */
int report_write(const struct report_input *in, char *err, size_t errlen);

/* The two texts report_write() writes; the caller frees them. */
char *report_json_text(const struct report_input *in);
char *report_md_text(const struct report_input *in);

/*
 * Writes WORKDIR/bundle/ and WORKDIR/bundle.tar.gz (libarchive): the
 * culprit cases' files, copied, in the dataset's own layout (nnU-Net raw and
 * preprocessed: a dataset.json trimmed to them; the plans and fingerprint
 * for preprocessed), command.txt and env.txt, repro.sh (reruns the failing
 * command on the bundle alone, with the trial's environment and the
 * placeholders pointing into the bundle), excerpt.log (the signature lines
 * of a failing trial), report.md, and README.md saying plainly that the
 * bundle holds patients' data. Nothing when there are no culprits (returns
 * 0). An existing bundle is replaced. Returns 0 or -1 with err.
 */
int report_bundle(const struct report_input *in, char *err, size_t errlen);

#endif
