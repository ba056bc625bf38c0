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
	       !strcmp(a->frame, b->frame) &&
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

/* ---- Python failures at the kernel level ---- */

/* A real log from tests/logs, whole; the caller frees it. */
static char *real_log(const char *name)
{
	const char *src = getenv("CASEBISECT_SRC");
	char path[4096];
	char *log;

	snprintf(path, sizeof(path), "%s/tests/logs/%s", src ? src : ".", name);
	log = cb_read_file(path, NULL);
	cr_assert(log, "cannot read %s", path);
	return log;
}

/* text with every `from` replaced by `to`; the caller frees it. */
static char *replace_all(const char *text, const char *from, const char *to)
{
	size_t nf = strlen(from), nt = strlen(to), n = 0, o = 0;
	const char *p;
	char *out;

	for (p = text; (p = strstr(p, from)); p += nf)
		n++;
	out = xmalloc(strlen(text) + n * (nt > nf ? nt - nf : 0) + 1);
	for (p = text; *p;) {
		if (!strncmp(p, from, nf)) {
			memcpy(out + o, to, nt);
			o += nt;
			p += nf;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	return out;
}

static uint64_t kernel_fp(const struct cls_signature *s)
{
	return cls_fingerprint(s, CLS_MATCH_KERNEL);
}

/* A traceback as CPython prints it: FILE's FUNC at LINE raises EXC. */
static struct cls_signature raised(const char *file, int line, const char *func, const char *exc)
{
	char log[4096];

	snprintf(log, sizeof(log),
		 "epoch 0: train loss 0.61\n"
		 "Traceback (most recent call last):\n"
		 "  File \"/home/me/train.py\", line 88, in <module>\n"
		 "    main()\n"
		 "  File \"%s\", line %d, in %s\n"
		 "    seg = load_case(name)\n"
		 "%s\n",
		 file, line, func, exc);
	return sig_of(log);
}

Test(python_fingerprint, a_key_error_and_a_value_error_are_two_bugs)
{
	const char *f = "/opt/venv/lib/python3.11/site-packages/nnunetv2/training/dataloading/data_loader.py";
	struct cls_signature key = raised(f, 93, "load_case", "KeyError: 'case_017'");
	struct cls_signature value = raised(f, 93, "load_case", "ValueError: bad shape (1, 2)");
	struct cls_signature runtime = raised(f, 93, "load_case", "RuntimeError: no");

	cr_assert_eq(key.klass, CLS_DATA_ERROR, "load_case reads a case's files");
	cr_assert_eq(value.klass, CLS_DATA_ERROR);
	cr_assert_str_eq(key.exception, "KeyError");
	cr_assert_str_eq(key.frame, "data_loader.py:load_case");
	cr_assert_neq(kernel_fp(&key), kernel_fp(&value), "a run chasing the KeyError must not count the ValueError");
	cr_assert_neq(kernel_fp(&key), kernel_fp(&runtime));
	cr_assert_neq(kernel_fp(&value), kernel_fp(&runtime));
	cr_assert_eq(cls_fingerprint(&key, CLS_MATCH_CLASS), cls_fingerprint(&value, CLS_MATCH_CLASS),
		     "the class level still counts any other_error");
	cr_assert_neq(cls_fingerprint(&key, CLS_MATCH_EXACT), cls_fingerprint(&value, CLS_MATCH_EXACT));
}

Test(python_fingerprint, the_raising_function_counts_its_line_and_install_path_do_not)
{
	/* One bug: the first, then on another machine (conda, another
	 * Python, another version of the file, another message), from an
	 * editable install (`pip install -e .`), and on Windows. */
	static const struct {
		const char *file;
		int line;
		const char *exc;
	} same[] = {
		{ "/opt/venv/lib/python3.11/site-packages/nnunetv2/training/dataloading/data_loader.py",
		  93, "ValueError: bad shape (1, 2)" },
		{ "/home/user/miniconda3/envs/nn/lib/python3.10/dist-packages/nnunetv2/training/dataloading/data_loader.py",
		  131, "ValueError: bad shape (3, 4, 5)" },
		{ "/scratch/src/nnUNet/nnunetv2/training/dataloading/data_loader.py", 7, "ValueError: x" },
		{ "C:\\\\Users\\\\me\\\\miniconda3\\\\Lib\\\\site-packages\\\\nnunetv2\\\\training\\\\dataloading\\\\data_loader.py",
		  93, "ValueError: bad shape (1, 2)" },
	};
	struct cls_signature first = raised(same[0].file, same[0].line, "load_case", same[0].exc);
	/* the same exception from another function of the same file */
	struct cls_signature other = raised(same[0].file, same[0].line, "determine_shapes", same[0].exc);
	/* the file name alone would say nothing for a package's __init__.py */
	struct cls_signature init_a = raised("/opt/venv/lib/python3.11/site-packages/torch/autograd/__init__.py",
					     200, "backward", "ValueError: x");
	struct cls_signature init_b = raised("/opt/venv/lib/python3.11/site-packages/torch/optim/__init__.py",
					     200, "backward", "ValueError: x");
	size_t i;

	for (i = 1; i < CB_ARRAY_SIZE(same); i++) {
		struct cls_signature s = raised(same[i].file, same[i].line, "load_case", same[i].exc);

		cr_assert_str_eq(s.frame, "data_loader.py:load_case", "%s", same[i].file);
		cr_assert_eq(kernel_fp(&s), kernel_fp(&first),
			     "line numbers and install paths never count: %s", same[i].file);
	}
	cr_assert_neq(kernel_fp(&first), kernel_fp(&other), "another raising function is another bug");
	cr_assert_str_eq(init_a.frame, "autograd/__init__.py:backward");
	cr_assert_neq(kernel_fp(&init_a), kernel_fp(&init_b));
}

/* PyTorch re-raises a worker's exception in the main process from
 * torch/_utils.py's reraise, whatever the worker raised; the worker's own
 * frame follows in its "Original Traceback" (real output of PyTorch 2.15:
 * tests/logs/capture-torch-dataloader.sh). */
Test(python_fingerprint, dataloader_worker_errors_are_told_apart_by_their_original_frame)
{
	static const struct {
		const char *log, *exception, *frame, *message;
	} want[] = {
		{ "torch-dataloader-valueerror.log", "ValueError", "cases.py:read_label",
		  "case_002: label value 7 outside 0..2" },
		{ "torch-dataloader-valueerror-crop.log", "ValueError", "cases.py:crop_patch",
		  "patch 128^3 does not fit a label of shape (2, 3)" },
		{ "torch-dataloader-keyerror.log", "KeyError", "cases.py:read_label", "'case_002'" },
	};
	uint64_t fp[CB_ARRAY_SIZE(want)];
	size_t i, j;

	for (i = 0; i < CB_ARRAY_SIZE(want); i++) {
		char *log = real_log(want[i].log), *moved, *renumbered;
		struct cls_signature s = sig_of(log), t, u;

		cr_assert_eq(s.klass, CLS_OTHER_ERROR, "%s", want[i].log);
		cr_assert_str_eq(s.exception, want[i].exception, "%s", want[i].log);
		cr_assert_str_eq(s.frame, want[i].frame, "%s", want[i].log);
		cr_assert_str_eq(s.message, want[i].message, "%s", want[i].log);
		fp[i] = kernel_fp(&s);
		classify_chunked(log, strlen(log), 7, NULL, &t);
		cr_assert(same_sig(&s, &t), "%s: fed in chunks of 7 bytes", want[i].log);
		for (j = 0; j < i; j++)
			cr_assert_neq(fp[i], fp[j], "%s and %s", want[i].log, want[j].log);

		/* the same run on another machine, and with the code moved */
		moved = replace_all(log, "/root/.cache/casebisect/nnunet-2.8.1-torch-2.15.0/lib/python3.11/",
				    "/opt/conda/lib/python3.10/");
		t = sig_of(moved);
		cr_assert_eq(kernel_fp(&t), fp[i], "%s on another install", want[i].log);
		renumbered = replace_all(moved, ", line ", ", line 1");
		u = sig_of(renumbered);
		cr_assert_eq(kernel_fp(&u), fp[i], "%s with other line numbers", want[i].log);
		free(renumbered);
		free(moved);
		free(log);
	}
}

Test(python_fingerprint, a_chain_of_tracebacks_is_named_by_its_last_exception)
{
	static const char *const links[] = {
		"During handling of the above exception, another exception occurred:",
		"The above exception was the direct cause of the following exception:",
	};
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(links); i++) {
		char log[2048];
		struct cls_signature s, alone;

		snprintf(log, sizeof(log),
			 "Traceback (most recent call last):\n"
			 "  File \"/srv/proj/data.py\", line 12, in lookup\n"
			 "    return table[name]\n"
			 "KeyError: 'case_003'\n"
			 "\n%s\n\n"
			 "Traceback (most recent call last):\n"
			 "  File \"/srv/proj/train.py\", line 40, in <module>\n"
			 "    lookup('case_003')\n"
			 "  File \"/srv/proj/data.py\", line 14, in lookup\n"
			 "    raise ValueError(f'unknown case {name}')\n"
			 "ValueError: unknown case case_003\n",
			 links[i]);
		s = sig_of(log);
		alone = raised("/srv/proj/data.py", 14, "lookup", "ValueError: unknown case case_003");
		cr_assert_str_eq(s.exception, "ValueError", "%s", links[i]);
		cr_assert_str_eq(s.message, "unknown case case_003");
		cr_assert_str_eq(s.frame, "data.py:lookup");
		cr_assert_eq(kernel_fp(&s), kernel_fp(&alone), "%s", links[i]);
	}
}

/* multiprocessing prints the worker's traceback first, then re-raises it in
 * the main process from pool.py's get: the worker's frame counts. */
Test(python_fingerprint, a_pool_workers_remote_traceback_counts_where_the_worker_raised)
{
	struct cls_signature s[2];
	static const char *const func[2] = { "read_images", "read_seg" };
	size_t i;

	for (i = 0; i < 2; i++) {
		char log[4096];

		snprintf(log, sizeof(log),
			 "multiprocessing.pool.RemoteTraceback: \n"
			 "\"\"\"\n"
			 "Traceback (most recent call last):\n"
			 "  File \"/usr/lib/python3.10/multiprocessing/pool.py\", line 125, in worker\n"
			 "    result = (True, func(*args, **kwds))\n"
			 "  File \"/v/lib/python3.10/site-packages/nnunetv2/imageio/simpleitk_reader_writer.py\", line 74, in %s\n"
			 "    raise RuntimeError()\n"
			 "RuntimeError\n"
			 "\"\"\"\n"
			 "\n"
			 "The above exception was the direct cause of the following exception:\n"
			 "\n"
			 "Traceback (most recent call last):\n"
			 "  File \"/v/bin/nnUNetv2_plan_and_preprocess\", line 8, in <module>\n"
			 "    sys.exit(plan_and_preprocess_entry())\n"
			 "  File \"/usr/lib/python3.10/multiprocessing/pool.py\", line 774, in get\n"
			 "    raise self._value\n"
			 "RuntimeError\n",
			 func[i]);
		s[i] = sig_of(log);
		cr_assert_eq(s[i].klass, CLS_DATA_ERROR);
		cr_assert_str_eq(s[i].exception, "RuntimeError");
	}
	cr_assert_str_eq(s[0].frame, "simpleitk_reader_writer.py:read_images");
	cr_assert_neq(kernel_fp(&s[0]), kernel_fp(&s[1]));
}

/* The probe trainer's outer frames are its own (run_training, _probe_step),
 * the stock trainer's are nnU-Net's; the frame that raised is the same, so
 * one bug gives one fingerprint in both, whatever it is (real logs, with
 * the exception line swapped for a Python error). */
Test(python_fingerprint, the_probe_and_the_stock_trainer_raise_from_the_same_frame)
{
	char *stock = real_log("nnunet-2.8.1-cpu-stock-trainer.log");
	char *probe = real_log("nnunet-2.8.1-cpu-probe-trainer.log");
	const char *cpu = "RuntimeError: index 7 is out of bounds for dimension 1 with size 3";
	const char *py = "ValueError: one-hot needs a long tensor";
	char *s2 = replace_all(stock, cpu, py), *p2 = replace_all(probe, cpu, py);
	struct cls_signature s = sig_of(stock), p = sig_of(probe), s_py = sig_of(s2), p_py = sig_of(p2);

	cr_assert_eq(s.klass, CLS_CPU_INDEX_ERROR);
	cr_assert_eq(kernel_fp(&s), kernel_fp(&p));
	cr_assert_eq(s_py.klass, CLS_OTHER_ERROR);
	cr_assert_str_eq(s_py.frame, "dice.py:forward");
	cr_assert_str_eq(p_py.frame, "dice.py:forward");
	cr_assert_eq(kernel_fp(&s_py), kernel_fp(&p_py));
	free(s2);
	free(p2);
	free(stock);
	free(probe);
}

/* The CUDA classes and cpu_index_error keep their kernel-level fingerprint:
 * one bad label, whichever loss or frame met it first. */
Test(python_fingerprint, cuda_and_cpu_index_errors_ignore_the_frame)
{
	struct cls_signature ce = raised("/v/site-packages/torch/nn/functional.py", 3561, "cross_entropy",
					 "IndexError: Target 5 is out of bounds.");
	struct cls_signature sc = raised("/v/site-packages/nnunetv2/training/loss/dice.py", 88, "forward",
					 "RuntimeError: index 5 is out of bounds for dimension 1 with size 3");
	struct cls_signature da = raised("/v/site-packages/torch/nn/functional.py", 3561, "cross_entropy",
					 "RuntimeError: CUDA error: device-side assert triggered");
	struct cls_signature db = raised("/v/site-packages/nnunetv2/training/loss/dice.py", 88, "forward",
					 "RuntimeError: CUDA error: device-side assert triggered");

	cr_assert_eq(ce.klass, CLS_CPU_INDEX_ERROR);
	cr_assert_eq(kernel_fp(&ce), kernel_fp(&sc));
	cr_assert_eq(da.klass, CLS_DEVICE_ASSERT);
	cr_assert_eq(kernel_fp(&da), kernel_fp(&db));
}

Test(precedence, kernel_images_built_for_another_gpu_are_env_mismatch)
{
	static const char *const logs[] = {
		/* Triton, through torch.compile's inductor */
		"Traceback (most recent call last):\n"
		"  File \"/v/site-packages/triton/compiler/compiler.py\", line 418, in _init_handles\n"
		"    self.module, self.function, self.n_regs, self.n_spills = load_binary(\n"
		"RuntimeError: Triton Error [CUDA]: device kernel image is invalid\n",
		"torch._inductor.exc.InductorError: RuntimeError: Triton Error [CUDA]: device kernel "
		"image is invalid\n",
		/* the CUDA runtime: PyTorch built without this GPU's architecture */
		"RuntimeError: CUDA error: no kernel image is available for execution on the device\n"
		"CUDA kernel errors might be asynchronously reported at some other API call, so the "
		"stacktrace below might be incorrect.\n",
		"RuntimeError: CUDA error: device kernel image is invalid\n",
	};
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(logs); i++) {
		struct cls_signature s = sig_of(logs[i]);

		cr_assert_str_eq((char *)cls_class_name(s.klass), "env_mismatch", "%s", logs[i]);
	}
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
