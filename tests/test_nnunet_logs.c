/* test_nnunet_logs: what real nnU-Net (v2.8.1, PyTorch 2.15 from PyPI, on
 * the CPU) printed when a label held a value the dataset does not declare
 * (tests/logs/nnunet-2.8.1-*.log, captured for issue 8's study; see
 * tests/logs/README.md): the classifier names each, and a trial over the
 * probe trainer's output names the bad case from its CASEBISECT_BATCH line. */
#include <criterion/criterion.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "casebisect/util.h"
#include "helpers.h"

TestSuite(nnunet_logs, .init = tmpdir_setup, .fini = tmpdir_teardown);

static void assert_class(const char *name, const char *klass, const char *evidence)
{
	char *log = src_file(name);
	struct run r;

	run(&r, "classify", "--json", log);
	cr_assert_eq(r.code, 0, "%s", r.err);
	cr_assert(strstr(r.out, klass), "%s: %s", name, r.out);
	cr_assert(strstr(r.out, evidence), "%s: no '%s' in %s", name, evidence, r.out);
	run_release(&r);
	free(log);
}

/* The loss's one-hot scatter, in the stock trainer, with data-augmentation
 * workers (a second traceback from the results thread follows), and in
 * the probe trainer: one failure, one fingerprint. */
Test(nnunet_logs, the_bad_label_is_a_cpu_index_error_in_every_trainer)
{
	static const char *const logs[] = {
		"tests/logs/nnunet-2.8.1-cpu-stock-trainer.log",
		"tests/logs/nnunet-2.8.1-cpu-da-workers.log",
		"tests/logs/nnunet-2.8.1-cpu-probe-trainer.log",
	};
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(logs); i++) {
		assert_class(logs[i], "cpu_index_error",
			     "RuntimeError: index 7 is out of bounds for dimension 1 with size 3");
		assert_class(logs[i], "cpu_index_error", "b14e26f7e771a05a");
	}
}

/* nnUNetv2_plan_and_preprocess --verify_dataset_integrity refuses the
 * dataset: a data problem, not a GPU one. */
Test(nnunet_logs, verify_dataset_integrity_is_a_data_error)
{
	assert_class("tests/logs/nnunet-2.8.1-verify-dataset-integrity.log", "data_error",
		     "Some segmentation images contained unexpected labels");
}

/* nnunetv2 2.5.2 under PyTorch 2.15: nnU-Net's own LR scheduler fails
 * before any case is read. A Python error, not a CUDA or label one (the run
 * then finds it with no case at all: not_data_dependent). */
Test(nnunet_logs, an_old_nnunet_on_a_new_torch_is_an_other_error)
{
	assert_class("tests/logs/nnunet-2.5.2-torch-2.15-probe-lrscheduler.log", "other_error",
		     "TypeError: LRScheduler.__init__() takes from 2 to 3 positional arguments");
}

/* Replayed through a trial, the probe trainer's output names the bad case:
 * its last CASEBISECT_BATCH line before the crash holds case_004. */
Test(nnunet_logs, the_probe_trainers_batch_line_names_the_bad_case)
{
	char *log = src_file("tests/logs/nnunet-2.8.1-cpu-probe-trainer.log");
	struct run r;
	cJSON *o, *sus;

	run(&r, "trial", "--json", "--workdir", tmpdir, "--gpus", "none", "--", "/bin/sh", "-c",
	    "cat \"$0\" >&2; exit 1", log);
	cr_assert_eq(r.code, 0, "%s", r.err);
	o = cJSON_Parse(r.out);
	cr_assert(o, "%s", r.out);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "outcome")), "FAIL");
	sus = cJSON_GetObjectItem(o, "suspects");
	cr_assert_eq(cJSON_GetArraySize(sus), 2, "%s", r.out);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(sus, 0)), "case_004");
	cJSON_Delete(o);
	run_release(&r);
	free(log);
}
