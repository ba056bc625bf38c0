/* Tests of the classifier: the corpus of real logs, chunking, noisy output,
 * precedence, exit statuses and fingerprints. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casebisect/classify.h"
#include "casebisect/util.h"

static const char *corpus_dir(void)
{
	const char *d = getenv("CASEBISECT_CORPUS");

	return d && *d ? d : "tests/corpus";
}

/* Classifies bytes fed in chunks of `chunk` bytes (0: whole). */
static void classify_chunked(const char *data, size_t len, size_t chunk,
			     const struct cls_exit *exit, struct cls_signature *out)
{
	struct cls *c = cls_new();
	size_t off = 0;

	if (!chunk)
		chunk = len ? len : 1;
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;

		cls_feed(c, CLS_STDERR, data + off, n);
		off += n;
	}
	cls_finish(c, exit);
	cls_result(c, out);
	cls_free(c);
}

static struct cls_signature sig_of(const char *text)
{
	struct cls_signature s;

	classify_chunked(text, strlen(text), 0, NULL, &s);
	return s;
}

static struct cls_signature sig_exit(const char *text, int code, int signal, bool by_us)
{
	struct cls_signature s;
	struct cls_exit e = { .known = true, .code = code, .signal = signal, .sent_by_us = by_us };

	classify_chunked(text, strlen(text), 0, &e, &s);
	return s;
}

static bool same_sig(const struct cls_signature *a, const struct cls_signature *b)
{
	return a->klass == b->klass && !strcmp(a->kernel, b->kernel) &&
	       !strcmp(a->assert_expr, b->assert_expr) && !strcmp(a->source, b->source) &&
	       !strcmp(a->exception, b->exception) && !strcmp(a->message, b->message) &&
	       !strcmp(a->error_code, b->error_code) && !strcmp(a->evidence, b->evidence) &&
	       a->line == b->line;
}

/* Each entry of index.json: the class, kernel and assertion it must give,
 * and the decisive line it must quote. A log dropped into the corpus with an
 * index entry is tested with no change here. */
Test(corpus, every_real_log_classifies_as_indexed)
{
	char path[4096];
	size_t len, i, n, failures = 0;
	char *json;
	cJSON *index;

	snprintf(path, sizeof(path), "%s/index.json", corpus_dir());
	json = cb_read_file(path, &len);
	cr_assert(json, "cannot read %s (set CASEBISECT_CORPUS)", path);
	index = cJSON_Parse(json);
	cr_assert(cJSON_IsArray(index), "%s is not a JSON array", path);
	n = (size_t)cJSON_GetArraySize(index);
	cr_assert(n >= 45, "expected the 45 real logs at least, found %zu", n);

	for (i = 0; i < n; i++) {
		cJSON *e = cJSON_GetArrayItem(index, (int)i);
		const char *file = cJSON_GetStringValue(cJSON_GetObjectItem(e, "file"));
		const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(e, "expected_class"));
		const char *kernel = cJSON_GetStringValue(cJSON_GetObjectItem(e, "kernel"));
		const char *expr = cJSON_GetStringValue(cJSON_GetObjectItem(e, "assert_expr"));
		const char *key = cJSON_GetStringValue(cJSON_GetObjectItem(e, "key_line"));
		struct cls_signature s;
		char *log;

		cr_assert(file && want, "index entry %zu lacks file or expected_class", i);
		snprintf(path, sizeof(path), "%s/logs/%s", corpus_dir(), file);
		log = cb_read_file(path, &len);
		cr_assert(log, "cannot read %s", path);
		classify_chunked(log, len, 0, NULL, &s);
		if (strcmp(cls_class_name(s.klass), want)) {
			cr_log_error("%s: class %s, expected %s", file, cls_class_name(s.klass), want);
			failures++;
		}
		if (kernel && strcmp(s.kernel, kernel)) {
			cr_log_error("%s: kernel '%s', expected '%s'", file, s.kernel, kernel);
			failures++;
		}
		if (expr && strcmp(s.assert_expr, expr)) {
			cr_log_error("%s: assert_expr '%s', expected '%s'", file, s.assert_expr, expr);
			failures++;
		}
		if (key && strcmp(s.evidence, key)) {
			cr_log_error("%s: decisive line\n  got:  %s\n  want: %s", file, s.evidence, key);
			failures++;
		}
		if (s.klass != CLS_NONE)
			cr_expect(s.line > 0, "%s: no line number for the evidence", file);
		free(log);
	}
	cJSON_Delete(index);
	free(json);
	cr_assert_eq(failures, 0, "%zu mismatches against index.json (see above)", failures);
}

/* Feeding one byte at a time, or in odd chunks, gives the same signature as
 * feeding the whole log, for every log of the corpus. */
Test(corpus, chunking_never_changes_the_signature)
{
	static const size_t chunks[] = { 1, 2, 3, 7, 64, 4093 };
	char path[4096];
	size_t len, i, j, n;
	char *json;
	cJSON *index;

	snprintf(path, sizeof(path), "%s/index.json", corpus_dir());
	json = cb_read_file(path, &len);
	cr_assert(json);
	index = cJSON_Parse(json);
	n = (size_t)cJSON_GetArraySize(index);
	for (i = 0; i < n; i++) {
		const char *file = cJSON_GetStringValue(
			cJSON_GetObjectItem(cJSON_GetArrayItem(index, (int)i), "file"));
		struct cls_signature whole, part;
		char *log;

		snprintf(path, sizeof(path), "%s/logs/%s", corpus_dir(), file);
		log = cb_read_file(path, &len);
		cr_assert(log);
		classify_chunked(log, len, 0, NULL, &whole);
		for (j = 0; j < CB_ARRAY_SIZE(chunks); j++) {
			classify_chunked(log, len, chunks[j], NULL, &part);
			cr_expect(same_sig(&whole, &part), "%s: chunks of %zu give %s, whole gives %s",
				  file, chunks[j], cls_class_name(part.klass),
				  cls_class_name(whole.klass));
		}
		free(log);
	}
	cJSON_Delete(index);
	free(json);
}

static const char *const assert_line =
	"../aten/src/ATen/native/cuda/ScatterGatherKernel.cu:365: operator(): block: [3047,0,0], "
	"thread: [32,0,0] Assertion `idx_dim >= 0 && idx_dim < index_size && \"index out of "
	"bounds\"` failed.";

Test(noise, crlf_cr_progress_bars_and_ansi_colours)
{
	char log[2048];
	struct cls_signature s;

	snprintf(log, sizeof(log),
		 "Epoch 0\r\n"
		 " 10%%|\x1b[32m#      \x1b[0m| 1/10\r 20%%|\x1b[32m##     \x1b[0m| 2/10\r"
		 "\x1b[1;31m%s\x1b[0m\r\n"
		 "\x1b]0;title\x07RuntimeError: CUDA error: device-side assert triggered\r\n",
		 assert_line);
	s = sig_of(log);
	cr_assert_str_eq((char *)cls_class_name(s.klass), "device_assert");
	cr_assert_str_eq(s.kernel, "operator()");
	cr_assert_str_eq(s.assert_expr, "idx_dim >= 0 && idx_dim < index_size && \"index out of bounds\"");
	cr_assert_str_eq(s.evidence, (char *)assert_line, "colour codes stay out of the evidence");
	cr_assert_eq(s.line, 2, "\\r\\n is one line end, a lone \\r is not a new line number");
	cr_assert_str_eq(s.exception, "RuntimeError");
}

Test(noise, prefixes_timestamps_and_worker_ids)
{
	struct cls_signature s = sig_of(
		"2024-07-20 23:28:10.494386: Epoch 3\n"
		"(WorkerDict pid=4242) [rank1]:[E923 11:14:11.615370309 ProcessGroupNCCL.cpp:1895] "
		"[PG ID 0 Rank 1] Process group watchdog thread terminated with exception: CUDA "
		"error: an illegal memory access was encountered\n"
		"(WorkerDict pid=4242) [rank1]:[E923 11:14:12] Some NCCL operations have failed or "
		"timed out.\n");

	cr_assert_str_eq((char *)cls_class_name(s.klass), "illegal_access",
		  "the CUDA error inside the NCCL watchdog message is the root");
	cr_assert_eq(s.line, 2);
}

Test(noise, message_wrapped_over_lines)
{
	struct cls_signature s = sig_of("step 10\n"
					"RuntimeError: CUDA error: an illegal memory\n"
					"access was encountered\n");

	cr_assert_str_eq((char *)cls_class_name(s.klass), "illegal_access");
	cr_assert_eq(s.line, 3, "the line where the message ends is the evidence");

	s = sig_of("torch.OutOfMemoryError: CUDA out\n  of memory. Tried to allocate 2.00 GiB\n");
	cr_assert_str_eq((char *)cls_class_name(s.klass), "oom");
}

Test(noise, nul_bytes_and_invalid_utf8)
{
	static const char log[] = "garbage \xff\xfe\xc3\x28 \0\0 more\n"
				  "Runtime\0Error: CUDA error: device-side assert triggered \xff\n";
	struct cls_signature s;
	const unsigned char *p;

	classify_chunked(log, sizeof(log) - 1, 0, NULL, &s);
	cr_assert_str_eq((char *)cls_class_name(s.klass), "device_assert",
		  "NUL bytes are dropped before matching");
	cr_assert_str_eq(s.exception, "RuntimeError");
	/* the evidence is valid UTF-8: 0xff became U+FFFD */
	cr_assert(strstr(s.evidence, "\xef\xbf\xbd"), "invalid byte replaced by U+FFFD");
	for (p = (const unsigned char *)s.evidence; *p; p++)
		cr_assert(*p != 0xff);
}

Test(noise, interleaved_processes_on_two_streams)
{
	struct cls *c = cls_new();
	struct cls_signature s;

	/* stdout's half line must not be glued to stderr's bytes */
	cls_feed(c, CLS_STDOUT, "epoch 1 loss 0.3 device-side", 28);
	cls_feed(c, CLS_STDERR, "RuntimeError: ", 14);
	cls_feed(c, CLS_STDOUT, " assert? no, a word\n", 20);
	cls_feed(c, CLS_STDERR, "CUDA error: an illegal memory access was encountered\n", 53);
	cls_finish(c, NULL);
	cls_result(c, &s);
	cr_assert_str_eq((char *)cls_class_name(s.klass), "illegal_access");
	cr_assert_eq((int)s.stream, (int)CLS_STDERR);
	cr_assert_str_eq(s.evidence,
		     "RuntimeError: CUDA error: an illegal memory access was encountered");
	cls_free(c);
}

Test(noise, a_100_MB_line_is_cut_and_reading_goes_on)
{
	struct cls *c = cls_new();
	struct cls_signature s;
	size_t chunk = 1 << 20, i;
	char *junk = xmalloc(chunk);

	memset(junk, 'x', chunk);
	for (i = 0; i < 100; i++)
		cls_feed(c, CLS_STDERR, junk, chunk);
	cls_feed(c, CLS_STDERR, "\nepoch 1\n", 9);
	cls_feed(c, CLS_STDERR, assert_line, strlen(assert_line));
	cls_feed(c, CLS_STDERR, "\n", 1);
	cls_result(c, &s);
	cr_assert_str_eq((char *)cls_class_name(s.klass), "device_assert",
		  "seen before cls_finish: complete lines count at once");
	cr_assert_eq(s.line, 3);
	cls_finish(c, NULL);
	cls_free(c);
	free(junk);
}

Test(precedence, assertion_after_the_python_exception_refines_it)
{
	char log[2048];
	struct cls_signature s;

	snprintf(log, sizeof(log),
		 "[rank0]: RuntimeError: CUDA error: device-side assert triggered\n"
		 "[rank0]: CUDA kernel errors might be asynchronously reported at some other API call\n"
		 "\n"
		 "../aten/src/ATen/native/cuda/NLLLoss2d.cu:103: nll_loss2d_forward_kernel: block: "
		 "[5,0,0], thread: [996,0,0] Assertion `t >= 0 && t < n_classes` failed.\n");
	s = sig_of(log);
	cr_assert_str_eq((char *)cls_class_name(s.klass), "device_assert");
	cr_assert_str_eq(s.kernel, "nll_loss2d_forward_kernel");
	cr_assert_str_eq(s.assert_expr, "t >= 0 && t < n_classes");
	cr_assert_str_eq(s.source, "../aten/src/ATen/native/cuda/NLLLoss2d.cu:103");
	cr_assert_str_eq(s.exception, "RuntimeError");
	cr_assert_str_eq(s.message, "CUDA error: device-side assert triggered");
}

Test(precedence, cuda_error_outranks_worker_death_echoes)
{
	struct cls_signature s = sig_of(
		"Exception in thread Thread-4 (results_loop):\n"
		"Traceback (most recent call last):\n"
		"  File \"/x/batchgenerators/dataloading/nondet_multi_threaded_augmenter.py\", line 103, in results_loop\n"
		"    raise RuntimeError(\"One or more background workers are no longer alive. Exiting.\"\n"
		"RuntimeError: One or more background workers are no longer alive. Exiting. Please check the print statements above for the actual error message\n"
		"RuntimeError: Abort event was set. So someone died and we should end this madness.\n"
		"Prediction on device was unsuccessful, probably due to a lack of memory. Moving results arrays to CPU\n"
		"torch.AcceleratorError: CUDA error: an illegal memory access was encountered\n");

	cr_assert_str_eq((char *)cls_class_name(s.klass), "illegal_access");
	cr_assert_str_eq(s.exception, "torch.AcceleratorError");
	cr_assert_eq(s.line, 8);
}

Test(precedence, worker_echo_alone_is_a_data_error_not_the_quoted_source)
{
	struct cls_signature s = sig_of(
		"Traceback (most recent call last):\n"
		"  File \"/x/multi_threaded_augmenter.py\", line 92, in results_loop\n"
		"    raise RuntimeError(\"One or more background workers are no longer alive. Exiting.\"\n"
		"RuntimeError: One or more background workers are no longer alive. Exiting.\n");

	cr_assert_str_eq((char *)cls_class_name(s.klass), "data_error");
	cr_assert_eq(s.line, 4, "the raise in the source line is not the evidence");
}

Test(precedence, nnunet_lack_of_memory_alone_is_not_oom)
{
	struct cls_signature s = sig_of(
		"Prediction on device was unsuccessful, probably due to a lack of memory. "
		"Moving results arrays to CPU\n");

	cr_assert_neq((int)s.klass, (int)CLS_OOM);
	cr_assert_str_eq((char *)cls_class_name(s.klass), "other_error");

	s = sig_of("Prediction on device was unsuccessful, probably due to a lack of memory.\n"
		   "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.\n");
	cr_assert_str_eq((char *)cls_class_name(s.klass), "oom");
}

Test(precedence, environment_warning_then_failure_is_env_mismatch)
{
	static const char warn[] =
		"/venv/lib/python3.10/site-packages/torch/cuda/__init__.py:215: UserWarning: \n"
		"NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the current PyTorch installation.\n";
	char log[2048];
	struct cls_signature s;

	snprintf(log, sizeof(log), "%sRuntimeError: CUDA error: device-side assert triggered\n", warn);
	s = sig_of(log);
	cr_assert_str_eq((char *)cls_class_name(s.klass), "env_mismatch");
	cr_assert_eq(s.line, 2, "the warning is the decisive line");
	cr_assert_str_eq(s.exception, "RuntimeError", "the failure is still named");

	s = sig_exit(warn, 0, 0, false);
	cr_assert_str_eq((char *)cls_class_name(s.klass), "none",
		  "a warning and a clean exit is not a failure");
	s = sig_exit(warn, 1, 0, false);
	cr_assert_str_eq((char *)cls_class_name(s.klass), "env_mismatch");

	/* a data problem is not explained by the environment */
	snprintf(log, sizeof(log), "%sIndexError: Target 5 is out of bounds.\n", warn);
	s = sig_of(log);
	cr_assert_str_eq((char *)cls_class_name(s.klass), "cpu_index_error");
}

/* The messages current PyTorch prints for an out-of-range label on the CPU
 * (tests/logs/torch-cpu-*.log were captured from real PyTorch runs). */
Test(precedence, pytorch_cpu_index_errors)
{
	const char *src = getenv("CASEBISECT_SRC");
	static const char *const files[] = { "torch-cpu-cross-entropy.log",
					     "torch-cpu-scatter.log" };
	char path[4096];
	size_t i, len;

	for (i = 0; i < CB_ARRAY_SIZE(files); i++) {
		struct cls_signature s;
		char *log;

		snprintf(path, sizeof(path), "%s/tests/logs/%s", src ? src : ".", files[i]);
		log = cb_read_file(path, &len);
		cr_assert(log, "cannot read %s", path);
		classify_chunked(log, len, 0, NULL, &s);
		cr_expect_str_eq((char *)cls_class_name(s.klass), "cpu_index_error", "%s", files[i]);
		free(log);
	}
	cr_assert_str_eq((char *)cls_class_name(sig_of("IndexError: Target 5 is out of bounds.\n").klass),
		     "cpu_index_error");
	cr_assert_str_eq((char *)cls_class_name(sig_of(
		"RuntimeError: index 5 is out of bounds for dimension 1 with size 3\n").klass),
		     "cpu_index_error");
	cr_assert_str_eq((char *)cls_class_name(sig_of(
		"IndexError: index 189 is out of bounds for axis 0 with size 189\n").klass),
		     "other_error", "numpy's axis errors are not label errors");
}

Test(exit_status, counts_only_when_the_output_shows_no_failure)
{
	cr_assert_str_eq((char *)cls_class_name(sig_exit("epoch 1\n", 0, SIGKILL, false).klass), "host_kill");
	cr_assert_str_eq((char *)cls_class_name(sig_exit("epoch 1\n", 0, SIGSEGV, false).klass), "segfault");
	cr_assert_str_eq((char *)cls_class_name(sig_exit("epoch 1\n", 0, SIGBUS, false).klass), "segfault");
	cr_assert_str_eq((char *)cls_class_name(sig_exit("epoch 1\n", 137, 0, false).klass), "host_kill");
	cr_assert_str_eq((char *)cls_class_name(sig_exit("epoch 1\n", 1, 0, false).klass), "other_error");
	cr_assert_str_eq((char *)cls_class_name(sig_exit("epoch 1\n", 0, 0, false).klass), "none");
	cr_assert_str_eq((char *)cls_class_name(sig_exit("epoch 1\n", 0, SIGKILL, true).klass), "none",
		  "the supervisor's own kill is never evidence");
	cr_assert_str_eq((char *)cls_class_name(sig_exit(
		"terminate called after throwing an instance of 'c10::Error'\n"
		"  what():  CUDA error: device-side assert triggered\n", 0, SIGABRT, false).klass),
		     "device_assert", "a device assert ending in SIGABRT stays device_assert");

	struct cls_signature s = sig_exit("", 0, SIGKILL, false);
	cr_assert(s.exit_known);
	cr_assert_eq(s.exit_signal, SIGKILL);
	cr_assert_eq(s.exit_code, -1);
}

Test(fingerprint, ignores_indices_lines_and_paths_but_not_the_kernel)
{
	struct cls_signature a = sig_of(
		"/opt/conda/aten/src/ATen/native/cuda/Loss.cu:240: nll_loss_forward_reduce_cuda_kernel_2d: "
		"block: [0,0,0], thread: [5,0,0] Assertion `t >= 0 && t < n_classes` failed.\n"
		"RuntimeError: CUDA error: device-side assert triggered\n");
	struct cls_signature b = sig_of(
		"step 7\nstep 8\n"
		"C:\\cb\\aten\\src\\ATen\\native\\cuda\\Loss.cu:250: nll_loss_forward_reduce_cuda_kernel_2d: "
		"block: [3,0,0], thread: [97,0,0] Assertion `t >= 0 && t < n_classes` failed.\n"
		"RuntimeError: CUDA error: device-side assert triggered\n");
	struct cls_signature other = sig_of(assert_line);
	struct cls_signature ia = sig_of("RuntimeError: CUDA error: an illegal memory access was encountered\n");
	char hex[17];
	size_t i;

	for (i = CLS_MATCH_CLASS; i <= CLS_MATCH_EXACT; i++)
		cr_assert_eq(cls_fingerprint(&a, (enum cls_match)i), cls_fingerprint(&b, (enum cls_match)i),
			  "level %s", cls_match_name((enum cls_match)i));
	cr_assert_eq(cls_fingerprint(&a, CLS_MATCH_CLASS), cls_fingerprint(&other, CLS_MATCH_CLASS));
	cr_assert_neq(cls_fingerprint(&a, CLS_MATCH_KERNEL), cls_fingerprint(&other, CLS_MATCH_KERNEL));
	cr_assert_neq(cls_fingerprint(&a, CLS_MATCH_CLASS), cls_fingerprint(&ia, CLS_MATCH_CLASS));
	cls_fingerprint_hex(&a, CLS_MATCH_KERNEL, hex);
	cr_assert_eq(strlen(hex), 16);
	cr_assert_eq(strspn(hex, "0123456789abcdef"), 16);
}

Test(names, round_trip)
{
	size_t k;

	for (k = 0; k < CLS__COUNT; k++) {
		enum cls_class back;

		cr_assert_eq(cls_class_parse(cls_class_name((enum cls_class)k), &back), 0);
		cr_assert_eq((int)back, (int)k);
	}
	enum cls_match m;
	cr_assert_eq(cls_match_parse("exact", &m), 0);
	cr_assert_eq((int)m, (int)CLS_MATCH_EXACT);
	cr_assert_eq(cls_match_parse("kernal", &m), -1);
}
