/* report: what a run found, for people (report.md, pasted into an issue
 * tracker as it is) and for machines (report.json), and the repro bundle.
 * The only module that writes results; it renders from the journal, so
 * `casebisect report WORKDIR` gives the same report again. */
#ifndef CASEBISECT_REPORT_H
#define CASEBISECT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "casebisect/audit.h"
#include "casebisect/classify.h"
#include "casebisect/dataset.h"
#include "casebisect/gpu.h"
#include "casebisect/journal.h"
#include "casebisect/sysinfo.h"

/* report.json's schema_version; docs/report-schema.json describes it. */
#define REPORT_SCHEMA_VERSION 1

/*
 * Everything a report says. All borrowed; the run engine fills it from the
 * journal (what ran), run.json (what was asked) and the reducer's answer.
 *
 * Per culprit the report computes from the journal: the trials whose subset
 * holds it and no other culprit and that were decided (PASS or FAIL: an
 * UNRESOLVED trial says nothing either way, so it counts neither as a run
 * nor as a failure), how many of them FAILed (reproduction rate = fails /
 * runs; the full-dataset run counts when there is one culprit), their
 * numbers, and the evidence line of the first of them; and apart, the same
 * counts for the trials of the culprit alone ("alone": what the bundle
 * reruns). Trials that ended UNRESOLVED with a failure of another class or
 * fingerprint (reason "other_failure") are listed as "other failures seen",
 * grouped by class and fingerprint, with the smallest subset that showed
 * each, so a second bug or an OOM on large subsets is not lost.
 *
 * Trial logs are read (for the bundle's excerpt.log) from
 * WORKDIR/trials/NNNN/{stderr,stdout}.log, NNNN the trial number ("%04llu").
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
					 * the subset; for dataset_wide the cases tried;
					 * for undetermined those confirmed so far */
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
	const struct aud_result *audit; /* the label audit (run --prior audit); NULL: none ran.
					 * The report shows each culprit's findings, the
					 * culprits the audit missed and the cases it
					 * blamed that training cleared. */
	const char *pictures_md;        /* report.md's section on the culprits' pictures
					 * (pictures.h's pic_set.md), or NULL */
	const struct si_info *sys;      /* OS, driver, the trainer's Python (sysinfo.h);
					 * NULL when not looked at */
};

/*
 * Writes WORKDIR/report.json and WORKDIR/report.md (each to a temporary
 * file, then renamed, so a reader never sees half a report). Returns 0, or
 * -1 with a message in err naming the file.
 *
 * report.json (docs/report-schema.json is the exact shape): schema_version,
 * casebisect_version, verdict, exit_code, explanation, target (class and
 * the fields of `classify --json`, stream, exit_code, signal, match level,
 * taken_from: the target_source; null when there is none), culprits (case,
 * files, reproduction {fails, runs, rate}, alone {fails, runs, rate},
 * failing_trials, evidence), undecided (IDs), minimal_subset (for the
 * verdict minimal_subset: {cases, reproduction, failing_trials} of the
 * trials holding them all; else null), smallest_failing_subset (for
 * undetermined: {trial, size, cases, bundled} of the failing trial with
 * the fewest cases; else null), open_cases (for undetermined: the IDs
 * neither a culprit confirmed so far nor in a passing trial), cleared (cases ruled out: for
 * culprits_found and minimal_subset every case neither culprit nor
 * undecided, else the cases that passed in some trial), trials {total,
 * pass, fail, unresolved}, rounds, flakes, wall_s, gpu_s (summed trial
 * durations), other_failures ({class, fingerprint, count, trials,
 * smallest_subset {trial, size, cases}, evidence}), confidence (below),
 * trial_time {trials, median_s, longest_s, decisive: [{role, case, trial,
 * cases, outcome, duration_s}]: the full-dataset run, each culprit's first
 * failing run alone (the subset's smallest failing trial for
 * minimal_subset), and the largest pass without a culprit}, dataset (format, path,
 * cases, digest, configuration), command, env, options (run.json's, as
 * they are), environment (gpu: json_gpu_info() or null, env_cmd,
 * env_cmd_output, system: si_json() or null). Nothing in it depends on when it was rendered, so a
 * report rendered again from the same journal is the same.
 */
int report_write(const struct report_input *in, char *err, size_t errlen);

/*
 * Confidence. A pass may be false (a trainer that samples missed the bad
 * voxels), so an answer is never certain, and the report never presents it
 * as if it were: report.json's confidence {p_culprit_remains, cleared,
 * false_pass_rate, false_passes_seen, trials_with_known_culprit,
 * unexplained_fails, fewest_passes, model} and a sentence beside the
 * verdict in report.md and on the terminal ("Confidence: 97.3% that no
 * other case among the 1022 cleared holds a culprit. False passes: 0 of the
 * 14 trials that held a culprit passed (taken as about 1 in 16), and every
 * cleared case passed 1 time or more without a culprit. ..."). The chance
 * is confidence.h's: from the journal (the trials that held a blamed
 * culprit and passed are the false passes seen; how often each cleared
 * case passed without one) and the search's prior on the number of
 * culprits. The percentage is floored to a tenth and never reads 100%.
 *
 * Per verdict: culprits_found, the chance that a further culprit is among
 * the cleared cases; minimal_subset, that a cleared case crashes training
 * on its own as well (the subset counts as one cause). dataset_wide,
 * not_reproduced, not_data_dependent and undetermined state none (null):
 * the first blames no case and clears none, the next two ran no search,
 * and an unfinished search has cases no trial decided, so its passes do
 * not make an answer to be sure of.
 *
 * Still to come: a run with --flaky (issue 15, 3b: the user knows the
 * trainer samples at random) confirms the clearing passes; the chance
 * counts those passes as it is, but the sentence should then name
 * --flaky where it now suggests --confirm N.
 *
 * The sentence for the terminal: NULL when the verdict states none; the
 * caller frees it.
 */
char *report_confidence_text(const struct report_input *in);

/* The two texts report_write() writes; the caller frees them. */
char *report_json_text(const struct report_input *in);
char *report_md_text(const struct report_input *in);

/*
 * Writes WORKDIR/bundle/ and WORKDIR/bundle.tar.gz (libarchive, gzip, pax;
 * entries under bundle/): the culprit cases' files, copied (never linked;
 * the user's files are only read), under bundle/dataset/ in the dataset's
 * own layout:
 *  - nnunet-raw: DatasetXXX_Name/{imagesTr,labelsTr}/ (the user's file
 *    names; a clash falls back to nnU-Net's names) and dataset.json with
 *    numTraining and the "dataset" key (when present) cut to them;
 *  - nnunet-pre: <dataset_name>/ with the plans JSON and
 *    dataset_fingerprint.json as they are, dataset.json cut as above, and
 *    the data folder with the culprits' files;
 *  - msd: datalist.json with "training" cut to them, paths relative to it
 *    ("validation" and "test" emptied: their files are not in the bundle);
 *  - list: cases.txt and files.txt (paths relative to bundle/dataset/).
 * Files under the datalist's or list's folder keep their relative path;
 * others go to external/<case>/<name>. Beside dataset/: command.txt (one
 * argument per line, placeholders as given), env.txt (the variables every
 * trial got: ours, then run.json's "env"), repro.sh, excerpt.log (the lines
 * around the decisive line of a failing trial's stderr.log and stdout.log,
 * preferring trials of culprits only, then the smallest), report.md, and
 * README.md saying plainly that the bundle holds patients' data.
 *
 * repro.sh (`bash bundle/repro.sh`, from any folder) writes cases.txt and
 * files.txt with absolute paths into a temporary folder, presents the
 * bundle as the view does ({view}, nnU-Net's variables: what the command
 * writes goes to the temporary folder), exports env.txt's variables, fills
 * in {cases_file} {files_file} {view} {trial_dir} (the temporary folder)
 * and {n}, changes to options.cwd when set and present, runs the command
 * and exits with its status.
 *
 * For the verdict undetermined the bundle holds the smallest failing subset
 * seen instead (when it is smaller than the dataset): the culprits
 * confirmed so far are in it, as a culprit's failing run alone is a subset
 * of one case. Its README and repro.sh count the bundle's own cases.
 *
 * Nothing when there is nothing to bundle (returns 0; report_has_bundle()
 * says which). An existing bundle is
 * replaced only once the new one is complete; on error the old one stays.
 * The bundle folder is 0700 and the archive 0600. Returns 0 or -1 with err.
 */
int report_bundle(const struct report_input *in, char *err, size_t errlen);

/* Will report_bundle() write a bundle: are there culprits, or (undetermined)
 * a failing subset smaller than the dataset? */
bool report_has_bundle(const struct report_input *in);

/* Removes what a report_write() or report_bundle() killed halfway left in
 * workdir: the half-built bundle folders (.bundle.new.*, .bundle.old.*,
 * copies of patients' scans) and temporary files (report.json.tmp.*,
 * bundle.tar.gz.tmp.*: cb_remove_tmp_leftovers()). Only for a caller that
 * holds the work directory's lock (no other casebisect is writing there).
 * Returns how many were removed. */
size_t report_remove_leftovers(const char *workdir);

#endif
