/* test_gpu: device discovery through a fake CUDA runtime (answers, errors,
 * a hang, a crash) and through whatever this machine has; --gpus parsing;
 * `casebisect gpus` end to end. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "casebisect/gpu.h"
#include "casebisect/util.h"
#include "helpers.h"

#define GIB ((size_t)1 << 30)

/* Static: each test runs in its own process, and a failed assert then
 * leaves nothing for the leak checker. */
static struct gpu_info info;

static const char *fake(void)
{
	const char *f = getenv("CASEBISECT_FAKE_CUDART");

	cr_assert(f && *f, "CASEBISECT_FAKE_CUDART is not set (run through `make test`)");
	return f;
}

/* Makes the fake runtime answer gpu_discover(), with these FAKE_CUDA_*
 * settings ("NAME=VALUE", NULL-terminated). */
static void use_fake(const char *setting, ...)
{
	va_list ap;

	cr_assert(setenv("CASEBISECT_CUDART", fake(), 1) == 0);
	va_start(ap, setting);
	for (; setting; setting = va_arg(ap, const char *))
		cr_assert(putenv((char *)setting) == 0);
	va_end(ap);
}

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The query's child must be reaped: this process has no child left. */
static void assert_no_children(void)
{
	errno = 0;
	cr_assert(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD,
		  "gpu_discover left a child process behind");
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void assert_contains(const char *s, const char *part)
{
	cr_assert(strstr(s, part), "expected \"%s\" in \"%s\"", part, s);
}

/* ---- gpu_discover ---- */

/*
 * With no fake, what this machine has answers: on a machine without NVIDIA
 * driver "not available" with a reason that says why and names the library
 * (this one has libcudart.so but no driver: cudaErrorInsufficientDriver; one
 * without any CUDA lists what was tried); on a GPU machine, its devices.
 */
Test(gpu, discover_this_machine)
{
	size_t i;

	cr_assert(setenv("CASEBISECT_CUDART", "/nonexistent/libcudart-missing.so", 1) == 0);
	gpu_discover(&info, 20000);
	assert_no_children();
	if (info.available) {
		cr_assert(info.count >= 1 && info.count <= GPU_MAX);
		cr_assert(info.library[0], "no library named for the answer");
		for (i = 0; i < info.count; i++)
			cr_assert(info.dev[i].cc_major >= 3, "device %zu: cc %d.%d", i,
				  info.dev[i].cc_major, info.dev[i].cc_minor);
		return;
	}
	cr_assert_eq(info.count, 0);
	cr_assert(info.reason[0], "not available, but no reason given");
	cr_assert(!strstr(info.reason, "timed out"), "reason: %s", info.reason);
	if (strstr(info.reason, "tried")) {
		assert_contains(info.reason, "/nonexistent/libcudart-missing.so");
		assert_contains(info.reason, "libcudart.so.12");
		assert_contains(info.reason, "libcuda.so.1");
	} else {
		/* A library answered: it is named, and so is its error. */
		cr_assert(strstr(info.reason, "libcudart") || strstr(info.reason, "libcuda.so.1"),
			  "reason names no library: %s", info.reason);
		cr_assert(strstr(info.reason, "cudaError") || strstr(info.reason, "CUDA_ERROR") ||
				  strstr(info.reason, "no CUDA device"),
			  "reason names no CUDA error: %s", info.reason);
	}
}

Test(gpu, fake_four_devices)
{
	size_t i;

	use_fake("FAKE_CUDA_DEVICES=4", "FAKE_CUDA_CC=8.6", "FAKE_CUDA_DRIVER=12080",
		 "FAKE_CUDA_RUNTIME=12040", NULL);
	gpu_discover(&info, 10000);
	assert_no_children();
	cr_assert(info.available, "reason: %s", info.reason);
	cr_assert_str_empty(info.reason);
	cr_assert_str_eq(info.library, fake());
	cr_assert_eq(info.driver_version, 12080);
	cr_assert_eq(info.runtime_version, 12040);
	cr_assert_eq(info.count, 4);
	for (i = 0; i < 4; i++) {
		char name[32];

		snprintf(name, sizeof(name), "Fake GPU %zu", i);
		cr_assert_eq(info.dev[i].index, (int)i);
		cr_assert_str_eq(info.dev[i].name, name);
		cr_assert_eq(info.dev[i].total_mem, (i + 1) * 16 * GIB);
		cr_assert_eq(info.dev[i].cc_major, 8);
		cr_assert_eq(info.dev[i].cc_minor, 6);
	}
}

Test(gpu, fake_error_is_named)
{
	use_fake("FAKE_CUDA_DEVICES=4", "FAKE_CUDA_FAIL=1", NULL);
	gpu_discover(&info, 10000);
	assert_no_children();
	cr_assert(!info.available);
	cr_assert_eq(info.count, 0);
	assert_contains(info.reason, "libfakecudart.so: cudaGetDeviceCount failed: "
				     "cudaErrorNoDevice (no CUDA-capable device is detected)");
}

Test(gpu, fake_insufficient_driver)
{
	use_fake("FAKE_CUDA_DEVICES=4", "FAKE_CUDA_FAIL=1", "FAKE_CUDA_ERROR=35", NULL);
	gpu_discover(&info, 10000);
	cr_assert(!info.available);
	assert_contains(info.reason, "cudaErrorInsufficientDriver");
}

Test(gpu, fake_unknown_error_code)
{
	use_fake("FAKE_CUDA_DEVICES=4", "FAKE_CUDA_FAIL=1", "FAKE_CUDA_ERROR=4242", NULL);
	gpu_discover(&info, 10000);
	cr_assert(!info.available);
	assert_contains(info.reason, "cudaGetDeviceCount failed: error 4242");
}

Test(gpu, fake_zero_devices)
{
	use_fake("FAKE_CUDA_DEVICES=0", NULL);
	gpu_discover(&info, 10000);
	assert_no_children();
	cr_assert(!info.available);
	cr_assert_eq(info.count, 0);
	assert_contains(info.reason, "cudaErrorNoDevice");
}

Test(gpu, fake_device_that_does_not_answer)
{
	use_fake("FAKE_CUDA_DEVICES=2", "FAKE_CUDA_CC=garbage", NULL);
	gpu_discover(&info, 10000);
	cr_assert(!info.available);
	cr_assert_eq(info.count, 0);
	assert_contains(info.reason, "device 0: cudaDeviceGetAttribute failed: cudaErrorInvalidValue");
}

Test(gpu, hang_ends_at_the_timeout)
{
	char dir[] = "/tmp/test_gpu.XXXXXX", pidfile[64], pidenv[96], *text;
	long long t0, elapsed;
	long pid;

	cr_assert(mkdtemp(dir));
	snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
	snprintf(pidenv, sizeof(pidenv), "FAKE_CUDA_PIDFILE=%s", pidfile);
	use_fake("FAKE_CUDA_DEVICES=4", "FAKE_CUDA_HANG=1", pidenv, NULL);

	t0 = now_ms();
	gpu_discover(&info, 500);
	elapsed = now_ms() - t0;

	text = cb_read_file(pidfile, NULL);
	unlink(pidfile);
	rmdir(dir);
	cr_assert(text, "the fake never ran: no pid file");
	pid = strtol(text, NULL, 10);
	free(text);
	cr_assert(elapsed >= 450 && elapsed < 5000, "gpu_discover took %lld ms", elapsed);
	cr_assert(!info.available);
	cr_assert_eq(info.count, 0);
	assert_contains(info.reason, "libfakecudart.so: cudaGetDeviceCount timed out after 500 ms");
	cr_assert(pid > 0 && pid != (long)getpid());
	errno = 0;
	cr_assert(kill((pid_t)pid, 0) == -1 && errno == ESRCH,
		  "the hung query process %ld still exists", pid);
	assert_no_children();
}

Test(gpu, crash_of_the_query_is_an_answer)
{
	use_fake("FAKE_CUDA_DEVICES=4", "FAKE_CUDA_CRASH=1", NULL);
	gpu_discover(&info, 10000);
	assert_no_children();
	cr_assert(!info.available);
	assert_contains(info.reason, "cudaGetDeviceCount crashed");
	assert_contains(info.reason, "signal 9");
}

Test(gpu, repeated_discovery_leaks_no_descriptor)
{
	int before, i;

	use_fake("FAKE_CUDA_DEVICES=1", NULL);
	before = count_fds();
	for (i = 0; i < 20; i++) {
		gpu_discover(&info, 10000);
		cr_assert(info.available, "reason: %s", info.reason);
	}
	cr_assert_eq(count_fds(), before);
	assert_no_children();
}

/* ---- gpu_select ---- */

static void make_info(const int *indices, size_t n)
{
	size_t i;

	memset(&info, 0, sizeof(info));
	info.available = n > 0;
	info.count = n;
	for (i = 0; i < n; i++) {
		info.dev[i].index = indices[i];
		snprintf(info.dev[i].name, sizeof(info.dev[i].name), "GPU %d", indices[i]);
	}
}

static const int four[] = { 0, 1, 2, 3 };

/* Selects spec; expects success and exactly the ordinals want[0..n). */
static void expect_selected(const char *spec, const int *want, size_t n_want)
{
	int out[GPU_MAX];
	char err[256] = "";
	size_t n = 99, i;

	cr_assert_eq(gpu_select(spec, &info, out, GPU_MAX, &n, err, sizeof(err)), 0,
		     "--gpus %s: %s", spec, err);
	cr_assert_eq(n, n_want, "--gpus %s: %zu devices", spec, n);
	for (i = 0; i < n; i++)
		cr_assert_eq(out[i], want[i], "--gpus %s: [%zu] = %d", spec, i, out[i]);
}

/* Expects an error for spec whose message contains each of parts. */
static void expect_error(const char *spec, const char *part, ...)
{
	int out[GPU_MAX];
	char err[256] = "";
	size_t n = 99;
	va_list ap;

	cr_assert_eq(gpu_select(spec, &info, out, GPU_MAX, &n, err, sizeof(err)), -1,
		     "--gpus '%s' was accepted", spec);
	cr_assert_eq(n, 0);
	assert_contains(err, "--gpus: ");
	va_start(ap, part);
	for (; part; part = va_arg(ap, const char *))
		assert_contains(err, part);
	va_end(ap);
}

Test(gpu_select, auto_none_and_lists)
{
	static const int some[] = { 0, 2, 3 }, one[] = { 2 };

	make_info(four, 4);
	expect_selected("auto", four, 4);
	expect_selected("none", NULL, 0);
	expect_selected("0,2,3", some, 3);
	expect_selected("2", one, 1);
}

Test(gpu_select, device_not_found_is_named)
{
	static const int gap[] = { 0, 1, 3 }, single[] = { 0 };

	make_info(four, 4);
	expect_error("0,5", "device 5 not found", "this machine has 0..3", NULL);
	make_info(gap, 3);
	expect_error("2", "device 2 not found", "this machine has 0, 1, 3", NULL);
	make_info(single, 1);
	expect_error("1", "device 1 not found", "this machine has only device 0", NULL);
}

Test(gpu_select, duplicates_and_garbage)
{
	make_info(four, 4);
	expect_error("1,2,1", "device 1 is listed twice", NULL);
	expect_error("0,x", "'x' is not a device number", NULL);
	expect_error("-1", "'-1' is not a device number", NULL);
	expect_error("1.5", "'1.5'", NULL);
	expect_error(" 1", "' 1'", NULL);
	expect_error("0,,1", "empty device number", NULL);
	expect_error("1,", "empty device number", NULL);
	expect_error("", "empty value", NULL);
	expect_error("Auto", "'Auto'", NULL);
	expect_error("99999999999", "out of range", NULL);
}

Test(gpu_select, without_devices)
{
	static const int listed[] = { 5, 7 };

	make_info(NULL, 0);
	expect_selected("auto", NULL, 0);
	expect_selected("none", NULL, 0);
	/* Nothing to check a list against: it is taken as given. */
	expect_selected("5,7", listed, 2);
	/* ... but it must still be a list. */
	expect_error("0,x", "'x'", NULL);
	expect_error("3,3", "listed twice", NULL);
}

Test(gpu_select, more_than_max)
{
	int out[2];
	char err[256] = "";
	size_t n = 99;

	make_info(four, 4);
	cr_assert_eq(gpu_select("0,1,2", &info, out, 2, &n, err, sizeof(err)), -1);
	cr_assert_eq(n, 0);
	assert_contains(err, "more than 2");
	cr_assert_eq(gpu_select("auto", &info, out, 2, &n, err, sizeof(err)), -1);
	cr_assert_eq(gpu_select("0,1", &info, out, 2, &n, err, sizeof(err)), 0);
	cr_assert_eq(n, 2);
}

/* ---- casebisect gpus ---- */

static struct run res;
static long long res_ms;

/* Runs the binary (tests/helpers.h) and keeps what it showed in res. */
#define run_bin(...)                                 \
	do {                                         \
		long long t0_ = now_ms();            \
		run_release(&res);                   \
		run(&res, __VA_ARGS__);              \
		res_ms = now_ms() - t0_;             \
	} while (0)

static const cJSON *field(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	cr_assert(v, "no \"%s\" in the JSON", key);
	return v;
}

Test(gpus_cmd, json_with_two_fake_devices)
{
	const cJSON *devs, *d;
	cJSON *obj;

	use_fake("FAKE_CUDA_DEVICES=2", "FAKE_CUDA_CC=8.0", NULL);
	run_bin("gpus", "--json", NULL);
	cr_assert_eq(res.code, 0, "stderr: %s", res.err);
	cr_assert_str_empty(res.err);
	cr_assert(strchr(res.out, '\n') == res.out + strlen(res.out) - 1,
		  "not one line: %s", res.out);
	obj = cJSON_Parse(res.out);
	cr_assert(obj, "not JSON: %s", res.out);
	cr_assert(cJSON_IsTrue(field(obj, "available")));
	cr_assert(cJSON_IsNull(field(obj, "reason")));
	cr_assert_str_eq(cJSON_GetStringValue(field(obj, "library")), fake());
	cr_assert_eq(field(obj, "driver_version")->valuedouble, 12040);
	cr_assert_eq(field(obj, "runtime_version")->valuedouble, 12010);
	devs = field(obj, "devices");
	cr_assert(cJSON_IsArray(devs));
	cr_assert_eq(cJSON_GetArraySize(devs), 2);
	d = cJSON_GetArrayItem(devs, 1);
	cr_assert_eq(field(d, "index")->valuedouble, 1);
	cr_assert_str_eq(cJSON_GetStringValue(field(d, "name")), "Fake GPU 1");
	cr_assert_eq(field(d, "total_mem")->valuedouble, (double)(32 * GIB));
	cr_assert_str_eq(cJSON_GetStringValue(field(d, "cc")), "8.0");
	cr_assert_eq(field(cJSON_GetArrayItem(devs, 0), "index")->valuedouble, 0);
	cJSON_Delete(obj);
}

Test(gpus_cmd, text_with_fake_devices)
{
	use_fake("FAKE_CUDA_DEVICES=2", NULL);
	run_bin("gpus", NULL);
	cr_assert_eq(res.code, 0, "stderr: %s", res.err);
	assert_contains(res.out, "driver:  CUDA 12.4\n");
	assert_contains(res.out, "runtime: CUDA 12.1 (");
	assert_contains(res.out, "GPU 0: Fake GPU 0, 16.0 GiB, compute capability 9.0\n");
	assert_contains(res.out, "GPU 1: Fake GPU 1, 32.0 GiB, compute capability 9.0\n");
}

Test(gpus_cmd, no_gpu_is_an_answer)
{
	cJSON *obj;

	use_fake("FAKE_CUDA_DEVICES=2", "FAKE_CUDA_FAIL=1", NULL);
	run_bin("gpus", NULL);
	cr_assert_eq(res.code, 0, "stderr: %s", res.err);
	cr_assert(strncmp(res.out, "no GPU available: ", 18) == 0, "stdout: %s", res.out);
	assert_contains(res.out, "cudaErrorNoDevice");

	run_bin("gpus", "--json", NULL);
	cr_assert_eq(res.code, 0);
	obj = cJSON_Parse(res.out);
	cr_assert(obj, "not JSON: %s", res.out);
	cr_assert(cJSON_IsFalse(field(obj, "available")));
	assert_contains(cJSON_GetStringValue(field(obj, "reason")), "cudaErrorNoDevice");
	cr_assert_eq(cJSON_GetArraySize(field(obj, "devices")), 0);
	cJSON_Delete(obj);
}

Test(gpus_cmd, timeout_option)
{
	use_fake("FAKE_CUDA_DEVICES=2", "FAKE_CUDA_HANG=1", NULL);
	run_bin("gpus", "--timeout", "0.3", NULL);
	cr_assert_eq(res.code, 0, "stderr: %s", res.err);
	assert_contains(res.out, "no GPU available: ");
	assert_contains(res.out, "timed out after 300 ms");
	cr_assert(res_ms < 5000, "took %lld ms", res_ms);
}

Test(gpus_cmd, help_and_usage_errors)
{
	run_bin("gpus", "--help", NULL);
	cr_assert_eq(res.code, 0);
	assert_contains(res.out, "usage: casebisect gpus");
	assert_contains(res.out, "--json");
	assert_contains(res.out, "example:");

	run_bin("gpus", "--timeout", "0", NULL);
	cr_assert_eq(res.code, 2);
	assert_contains(res.err, "invalid --timeout value '0'");
	run_bin("gpus", "--timeout", "soon", NULL);
	cr_assert_eq(res.code, 2);
	run_bin("gpus", "extra", NULL);
	cr_assert_eq(res.code, 2);
	assert_contains(res.err, "'extra'");
	run_bin("gpus", "--jsn", NULL);
	cr_assert_eq(res.code, 2);
	assert_contains(res.err, "--json");
}
