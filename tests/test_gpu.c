/* test_gpu: device discovery through a fake CUDA runtime (answers, errors,
 * a hang, a crash), where pip and conda keep the runtime, and through
 * whatever this machine has; the health probe (ok, failed, hung, crashed);
 * --gpus parsing; `casebisect gpus` end to end. */
#include <dirent.h>
#include <ftw.h>
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
	assert_no_children("gpu_discover");
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
	assert_no_children("gpu_discover");
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
	assert_no_children("gpu_discover");
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
	assert_no_children("gpu_discover");
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
	assert_no_children("gpu_discover");
}

Test(gpu, crash_of_the_query_is_an_answer)
{
	use_fake("FAKE_CUDA_DEVICES=4", "FAKE_CUDA_CRASH=1", NULL);
	gpu_discover(&info, 10000);
	assert_no_children("gpu_discover");
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
	assert_no_children("gpu_discover");
}

/* ---- where the runtime is found ---- */

/* A scratch folder per test that needs one (removed by the test). */
static char scratch[64];

static void scratch_setup(void)
{
	cb_strlcpy(scratch, "/tmp/test_gpu.XXXXXX", sizeof(scratch));
	cr_assert(mkdtemp(scratch));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void scratch_teardown(void)
{
	if (scratch[0])
		nftw(scratch, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Makes the folders of rel below scratch and links the fake runtime at
 * scratch/rel; returns that path (static). */
static const char *plant_fake(const char *rel)
{
	static char path[512];
	char *p;

	snprintf(path, sizeof(path), "%s/%s", scratch, rel);
	for (p = path + strlen(scratch) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		cr_assert(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", path,
			  strerror(errno));
		*p = '/';
	}
	cr_assert(symlink(fake(), path) == 0, "symlink %s: %s", path, strerror(errno));
	return path;
}

/* No fake named, no environment active: the search alone answers. */
static void search_only(void)
{
	cr_assert(unsetenv("CASEBISECT_CUDART") == 0);
	cr_assert(unsetenv("VIRTUAL_ENV") == 0);
	cr_assert(unsetenv("CONDA_PREFIX") == 0);
	cr_assert(putenv((char *)"FAKE_CUDA_DEVICES=2") == 0);
}

/* Expects the runtime at path (below scratch) to have answered. */
static void expect_found(const char *path)
{
	gpu_discover(&info, 10000);
	assert_no_children("gpu_discover");
	cr_assert(info.available, "reason: %s", info.reason);
	cr_assert_str_eq(info.library, path);
	cr_assert_eq(info.count, 2);
	cr_assert_str_eq(info.dev[1].name, "Fake GPU 1");
}

TestSuite(gpu_find, .init = scratch_setup, .fini = scratch_teardown);

Test(gpu_find, pip_runtime_in_the_virtualenv)
{
	const char *path = plant_fake("venv/lib/python3.11/site-packages/nvidia/cuda_runtime/lib/"
				      "libcudart.so.12");
	char *venv = cb_path_join(scratch, "venv");

	search_only();
	cr_assert(setenv("VIRTUAL_ENV", venv, 1) == 0);
	free(venv);
	expect_found(path);
}

Test(gpu_find, cuda13_wheel_in_the_conda_env)
{
	const char *path = plant_fake("conda/lib/python3.12/site-packages/nvidia/cu13/lib/"
				      "libcudart.so.13");
	char *conda = cb_path_join(scratch, "conda");

	search_only();
	cr_assert(setenv("CONDA_PREFIX", conda, 1) == 0);
	free(conda);
	expect_found(path);
}

Test(gpu_find, conda_lib_folder)
{
	const char *path = plant_fake("conda/lib/libcudart.so.12");
	char *conda = cb_path_join(scratch, "conda");

	search_only();
	cr_assert(setenv("CONDA_PREFIX", conda, 1) == 0);
	free(conda);
	expect_found(path);
}

Test(gpu_find, runtime_bundled_in_torch_lib)
{
	const char *path = plant_fake("venv/lib/python3.9/site-packages/torch/lib/"
				      "libcudart-d0da41ae.so.11.0");
	char *venv = cb_path_join(scratch, "venv");

	search_only();
	cr_assert(setenv("VIRTUAL_ENV", venv, 1) == 0);
	free(venv);
	expect_found(path);
}

Test(gpu_find, folder_names_are_not_patterns)
{
	/* A virtualenv whose name holds glob's special characters. */
	const char *path = plant_fake("my[env]*?/lib/python3.10/site-packages/nvidia/"
				      "cuda_runtime/lib/libcudart.so.12");
	char *venv = cb_path_join(scratch, "my[env]*?");

	search_only();
	cr_assert(setenv("VIRTUAL_ENV", venv, 1) == 0);
	free(venv);
	expect_found(path);
}

Test(gpu_find, explicit_library_answers_alone)
{
	/* A fake named by CASEBISECT_CUDART that cannot load would let the
	 * search go on; an explicit library is asked instead of either. */
	cr_assert(setenv("CASEBISECT_CUDART", "/nonexistent/libcudart-missing.so", 1) == 0);
	cr_assert(putenv((char *)"FAKE_CUDA_DEVICES=3") == 0);
	gpu_discover_from(&info, fake(), 10000);
	assert_no_children("gpu_discover");
	cr_assert(info.available, "reason: %s", info.reason);
	cr_assert_str_eq(info.library, fake());
	cr_assert_eq(info.count, 3);
}

Test(gpu_find, explicit_library_that_cannot_load)
{
	cr_assert(unsetenv("CASEBISECT_CUDART") == 0);
	gpu_discover_from(&info, "/nonexistent/libcudart.so.12", 10000);
	cr_assert(!info.available);
	cr_assert_str_empty(info.library);
	cr_assert(starts_with(info.reason, "cannot load the CUDA runtime: "
					   "/nonexistent/libcudart.so.12: "),
		  "reason: %s", info.reason);
	/* It answered alone: nothing else was tried. */
	cr_assert(!strstr(info.reason, "tried") && !strstr(info.reason, "libcuda.so.1"),
		  "reason: %s", info.reason);

	gpu_discover_from(&info, "libc.so.6", 10000);
	cr_assert(!info.available);
	assert_contains(info.reason, "cannot use the CUDA runtime: libc.so.6 has no "
				     "cudaGetDeviceCount");
}

/* ---- the health probe ---- */

/* Discovers the fake's devices (settings as for use_fake()). */
#define fake_devices(...)                                               \
	do {                                                            \
		use_fake(__VA_ARGS__, NULL);                            \
		gpu_discover(&info, 10000);                             \
		cr_assert(info.available, "reason: %s", info.reason);   \
	} while (0)

TestSuite(gpu_probe, .init = scratch_setup, .fini = scratch_teardown);

Test(gpu_probe, healthy_device)
{
	char err[512] = "untouched";

	fake_devices("FAKE_CUDA_DEVICES=2");
	cr_assert_eq(gpu_probe(&info, 0, 10000, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(gpu_probe(&info, 1, 10000, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(err, "untouched");
	assert_no_children("gpu_discover");
}

Test(gpu_probe, allocation_fails_on_one_device)
{
	struct gpu_probe_result r[2];
	static const int both[] = { 0, 1 };
	char err[512];

	fake_devices("FAKE_CUDA_DEVICES=2", "FAKE_CUDA_PROBE_OOM=1");
	cr_assert_eq(gpu_probe(&info, 0, 10000, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(gpu_probe(&info, 1, 10000, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "device 1: cudaMalloc (64 MiB) failed: cudaErrorMemoryAllocation "
			      "(out of memory)");

	gpu_probe_devices(&info, both, 2, 10000, r);
	cr_assert_eq(r[0].device, 0);
	cr_assert_eq(r[0].state, GPU_PROBE_OK);
	cr_assert_str_empty(r[0].error);
	cr_assert_str_empty(r[0].error_name);
	cr_assert(r[0].seconds >= 0 && r[0].seconds < 10);
	cr_assert_eq(r[1].device, 1);
	cr_assert_eq(r[1].state, GPU_PROBE_FAILED);
	cr_assert_eq(r[1].error_code, 2);
	cr_assert_str_eq(r[1].error_name, "cudaErrorMemoryAllocation");
	assert_no_children("gpu_discover");
}

Test(gpu_probe, illegal_address_at_synchronize)
{
	char err[512];

	fake_devices("FAKE_CUDA_DEVICES=3", "FAKE_CUDA_PROBE_ILLEGAL=0,2");
	cr_assert_eq(gpu_probe(&info, 2, 10000, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "device 2: cudaDeviceSynchronize failed: cudaErrorIllegalAddress "
			      "(an illegal memory access was encountered)");
	cr_assert_eq(gpu_probe(&info, 1, 10000, err, sizeof(err)), 0, "%s", err);
}

Test(gpu_probe, hang_is_killed_at_the_timeout)
{
	char pidfile[96], pidenv[128], err[512], *text;
	long long t0, elapsed;
	long pid;

	snprintf(pidfile, sizeof(pidfile), "%s/pid", scratch);
	snprintf(pidenv, sizeof(pidenv), "FAKE_CUDA_PROBE_PIDFILE=%s", pidfile);
	fake_devices("FAKE_CUDA_DEVICES=2", "FAKE_CUDA_PROBE_HANG=1", pidenv);

	t0 = now_ms();
	cr_assert_eq(gpu_probe(&info, 1, 500, err, sizeof(err)), -1);
	elapsed = now_ms() - t0;

	snprintf(pidfile, sizeof(pidfile), "%s/pid.1", scratch);
	text = cb_read_file(pidfile, NULL);
	cr_assert(text, "the probe never chose device 1: no pid file");
	pid = strtol(text, NULL, 10);
	free(text);
	cr_assert_str_eq(err, "device 1: cudaDeviceSynchronize did not return within 0.5 s; "
			      "the probe process was killed");
	cr_assert(elapsed >= 450 && elapsed < 5000, "gpu_probe took %lld ms", elapsed);
	cr_assert(pid > 0 && pid != (long)getpid());
	errno = 0;
	cr_assert(kill((pid_t)pid, 0) == -1 && errno == ESRCH,
		  "the hung probe process %ld still exists", pid);
	assert_no_children("gpu_discover");
}

Test(gpu_probe, devices_are_probed_at_once)
{
	static const int all[] = { 0, 1, 2, 3 };
	struct gpu_probe_result r[4];
	long long t0, elapsed;
	size_t i;

	fake_devices("FAKE_CUDA_DEVICES=4", "FAKE_CUDA_PROBE_HANG=0,1,3");
	t0 = now_ms();
	gpu_probe_devices(&info, all, 4, 600, r);
	elapsed = now_ms() - t0;
	/* One after the other, three hangs would take 1.8 s. */
	cr_assert(elapsed >= 550 && elapsed < 1500, "took %lld ms", elapsed);
	for (i = 0; i < 4; i++) {
		cr_assert_eq(r[i].device, (int)i);
		cr_assert_eq(r[i].state, i == 2 ? GPU_PROBE_OK : GPU_PROBE_HUNG, "device %zu: %s", i,
			     r[i].error);
	}
	cr_assert_float_eq(r[0].seconds, 0.6, 1e-9);
	assert_contains(r[3].error, "cudaDeviceSynchronize did not return within 0.6 s");
	assert_no_children("gpu_discover");
}

Test(gpu_probe, crash_is_a_failure)
{
	struct gpu_probe_result r;
	static const int one[] = { 0 };

	fake_devices("FAKE_CUDA_DEVICES=1", "FAKE_CUDA_PROBE_CRASH=all");
	gpu_probe_devices(&info, one, 1, 10000, &r);
	cr_assert_eq(r.state, GPU_PROBE_FAILED);
	cr_assert_str_eq(r.error, "the probe process was killed by signal 9 (Killed) in "
				  "cudaMemset (64 MiB)");
	assert_no_children("gpu_discover");
}

Test(gpu_probe, through_the_driver_api)
{
	char err[512];

	/* As when only libcuda.so.1 answered; the fake has both APIs. */
	fake_devices("FAKE_CUDA_DEVICES=3", "FAKE_CUDA_PROBE_OOM=0", "FAKE_CUDA_PROBE_ILLEGAL=1");
	info.driver_api = true;
	info.runtime_version = 0;
	cr_assert_eq(gpu_probe(&info, 0, 10000, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "device 0: cuMemAlloc (64 MiB) failed: CUDA_ERROR_OUT_OF_MEMORY "
			      "(out of memory)");
	cr_assert_eq(gpu_probe(&info, 1, 10000, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "device 1: cuCtxSynchronize failed: CUDA_ERROR_ILLEGAL_ADDRESS "
			      "(an illegal memory access was encountered)");
	cr_assert_eq(gpu_probe(&info, 2, 10000, err, sizeof(err)), 0, "%s", err);
}

Test(gpu_probe, device_not_found_or_no_gpu)
{
	char err[512];

	fake_devices("FAKE_CUDA_DEVICES=2");
	cr_assert_eq(gpu_probe(&info, 7, 10000, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "device 7: device 7 not found; this machine has 0..1");

	use_fake("FAKE_CUDA_FAIL=1", NULL);
	gpu_discover(&info, 10000);
	cr_assert(!info.available);
	cr_assert_eq(gpu_probe(&info, 0, 10000, err, sizeof(err)), -1);
	assert_contains(err, "device 0: no GPU available: ");
	assert_contains(err, "cudaErrorNoDevice");
	assert_no_children("gpu_discover");
}

Test(gpu_probe, repeated_probes_leak_no_descriptor)
{
	int before, i;

	fake_devices("FAKE_CUDA_DEVICES=2", "FAKE_CUDA_PROBE_OOM=1");
	before = count_fds();
	for (i = 0; i < 20; i++) {
		cr_assert_eq(gpu_probe(&info, 0, 10000, NULL, 0), 0);
		cr_assert_eq(gpu_probe(&info, 1, 10000, NULL, 0), -1);
	}
	cr_assert_eq(count_fds(), before);
	assert_no_children("gpu_discover");
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
	assert_contains(res.err, "--timeout '0': expected a duration above 0");
	run_bin("gpus", "--timeout", "soon", NULL);
	cr_assert_eq(res.code, 2);
	run_bin("gpus", "extra", NULL);
	cr_assert_eq(res.code, 2);
	assert_contains(res.err, "'extra'");
	run_bin("gpus", "--jsn", NULL);
	cr_assert_eq(res.code, 2);
	assert_contains(res.err, "--json");
}

/* ---- casebisect gpus --probe, --cudart ---- */

/* The text from the first line that starts with line_start to the end. */
static const char *from_line(const char *text, const char *line_start)
{
	const char *p = text;

	while (p && !starts_with(p, line_start))
		if ((p = strchr(p, '\n')))
			p++;
	cr_assert(p, "no line \"%s\" in:\n%s", line_start, text);
	return p;
}

Test(gpus_cmd, probe_all_ok)
{
	use_fake("FAKE_CUDA_DEVICES=2", NULL);
	run_bin("gpus", "--probe", NULL);
	cr_assert_eq(res.code, 0, "stdout: %s\nstderr: %s", res.out, res.err);
	cr_assert_str_empty(res.err);
	assert_contains(res.out, "GPU 0: Fake GPU 0, 16.0 GiB, compute capability 9.0\n"
				 "  probe: ok (");
	assert_contains(res.out, "GPU 1: Fake GPU 1, 32.0 GiB, compute capability 9.0\n"
				 "  probe: ok (");
	cr_assert(strcmp(from_line(res.out, "probe: "), "probe: all 2 devices ok\n") == 0,
		  "stdout: %s", res.out);
}

Test(gpus_cmd, probe_failures_exit_1)
{
	use_fake("FAKE_CUDA_DEVICES=3", "FAKE_CUDA_PROBE_OOM=1", "FAKE_CUDA_PROBE_ILLEGAL=2", NULL);
	run_bin("gpus", "--probe", NULL);
	cr_assert_eq(res.code, 1, "stdout: %s\nstderr: %s", res.out, res.err);
	assert_contains(res.out, "GPU 0: Fake GPU 0, 16.0 GiB, compute capability 9.0\n"
				 "  probe: ok (");
	assert_contains(res.out, "GPU 1: Fake GPU 1, 32.0 GiB, compute capability 9.0\n"
				 "  probe: failed (");
	assert_contains(res.out, " s): cudaMalloc (64 MiB) failed: cudaErrorMemoryAllocation "
				 "(out of memory)\nGPU 2: ");
	assert_contains(res.out, "  probe: failed (");
	assert_contains(res.out, " s): cudaDeviceSynchronize failed: cudaErrorIllegalAddress "
				 "(an illegal memory access was encountered)\n");
	cr_assert_str_eq(from_line(res.out, "probe: "),
			 "probe: 2 of 3 devices not healthy (2 failed)\n");
}

Test(gpus_cmd, probe_json)
{
	const cJSON *devs, *p;
	cJSON *obj;

	use_fake("FAKE_CUDA_DEVICES=2", "FAKE_CUDA_PROBE_OOM=1", NULL);
	run_bin("gpus", "--probe", "--json", NULL);
	cr_assert_eq(res.code, 1, "stdout: %s\nstderr: %s", res.out, res.err);
	obj = cJSON_Parse(res.out);
	cr_assert(obj, "not JSON: %s", res.out);
	devs = field(obj, "devices");
	cr_assert_eq(cJSON_GetArraySize(devs), 2);

	p = field(cJSON_GetArrayItem(devs, 0), "probe");
	cr_assert(cJSON_IsTrue(field(p, "ok")));
	cr_assert_str_eq(cJSON_GetStringValue(field(p, "state")), "ok");
	cr_assert(cJSON_IsNull(field(p, "error")));
	cr_assert(cJSON_IsNull(field(p, "error_name")));
	cr_assert(cJSON_IsNumber(field(p, "seconds")) && field(p, "seconds")->valuedouble >= 0);

	p = field(cJSON_GetArrayItem(devs, 1), "probe");
	cr_assert(cJSON_IsFalse(field(p, "ok")));
	cr_assert_str_eq(cJSON_GetStringValue(field(p, "state")), "failed");
	cr_assert_str_eq(cJSON_GetStringValue(field(p, "error")),
			 "cudaMalloc (64 MiB) failed: cudaErrorMemoryAllocation (out of memory)");
	cr_assert_str_eq(cJSON_GetStringValue(field(p, "error_name")), "cudaErrorMemoryAllocation");
	cr_assert(cJSON_IsNumber(field(p, "seconds")));
	cJSON_Delete(obj);

	/* Without --probe, no probe field. */
	run_bin("gpus", "--json", NULL);
	cr_assert_eq(res.code, 0);
	obj = cJSON_Parse(res.out);
	cr_assert(obj, "not JSON: %s", res.out);
	cr_assert(!cJSON_HasObjectItem(cJSON_GetArrayItem(field(obj, "devices"), 1), "probe"));
	cJSON_Delete(obj);
}

Test(gpus_cmd, probe_hang_is_killed, .init = scratch_setup, .fini = scratch_teardown)
{
	const cJSON *p;
	char pidenv[128], pidfile[96], *text;
	cJSON *obj;
	long pid;

	snprintf(pidenv, sizeof(pidenv), "FAKE_CUDA_PROBE_PIDFILE=%s/pid", scratch);
	use_fake("FAKE_CUDA_DEVICES=2", "FAKE_CUDA_PROBE_HANG=0", pidenv, NULL);
	run_bin("gpus", "--probe", "--timeout", "0.5", NULL);
	cr_assert_eq(res.code, 1, "stdout: %s\nstderr: %s", res.out, res.err);
	cr_assert(res_ms < 5000, "took %lld ms", res_ms);
	assert_contains(res.out, "GPU 0: Fake GPU 0, 16.0 GiB, compute capability 9.0\n"
				 "  probe: hung: cudaDeviceSynchronize did not return within 0.5 s; "
				 "the probe process was killed\n");
	assert_contains(res.out, "GPU 1: Fake GPU 1, 32.0 GiB, compute capability 9.0\n"
				 "  probe: ok (");
	cr_assert_str_eq(from_line(res.out, "probe: "),
			 "probe: 1 of 2 devices not healthy (1 hung)\n");

	snprintf(pidfile, sizeof(pidfile), "%s/pid.0", scratch);
	text = cb_read_file(pidfile, NULL);
	cr_assert(text, "the probe never chose device 0");
	pid = strtol(text, NULL, 10);
	free(text);
	errno = 0;
	cr_assert(pid > 0 && kill((pid_t)pid, 0) == -1 && errno == ESRCH,
		  "the hung probe process %ld still exists", pid);

	run_bin("gpus", "--probe", "--json", "--timeout", "0.3", NULL);
	cr_assert_eq(res.code, 1);
	obj = cJSON_Parse(res.out);
	cr_assert(obj, "not JSON: %s", res.out);
	p = field(cJSON_GetArrayItem(field(obj, "devices"), 0), "probe");
	cr_assert(cJSON_IsFalse(field(p, "ok")));
	cr_assert_str_eq(cJSON_GetStringValue(field(p, "state")), "hung");
	cr_assert_eq(field(p, "seconds")->valuedouble, 0.3);
	assert_contains(cJSON_GetStringValue(field(p, "error")), "did not return within 0.3 s");
	cJSON_Delete(obj);
}

Test(gpus_cmd, probe_without_a_gpu_is_an_answer)
{
	use_fake("FAKE_CUDA_DEVICES=2", "FAKE_CUDA_FAIL=1", NULL);
	run_bin("gpus", "--probe", NULL);
	cr_assert_eq(res.code, 0, "stderr: %s", res.err);
	cr_assert(starts_with(res.out, "no GPU available: "), "stdout: %s", res.out);
}

Test(gpus_cmd, cudart_option)
{
	cJSON *obj;

	/* CASEBISECT_CUDART names nothing usable: only --cudart can answer. */
	cr_assert(setenv("CASEBISECT_CUDART", "/nonexistent/libcudart-missing.so", 1) == 0);
	cr_assert(putenv((char *)"FAKE_CUDA_DEVICES=1") == 0);
	run_bin("gpus", "--json", "--cudart", fake(), NULL);
	cr_assert_eq(res.code, 0, "stderr: %s", res.err);
	obj = cJSON_Parse(res.out);
	cr_assert(obj, "not JSON: %s", res.out);
	cr_assert(cJSON_IsTrue(field(obj, "available")));
	cr_assert_str_eq(cJSON_GetStringValue(field(obj, "library")), fake());
	cJSON_Delete(obj);

	/* And the probe uses the library that answered. */
	run_bin("gpus", "--probe", "--cudart", fake(), NULL);
	cr_assert_eq(res.code, 0, "stdout: %s\nstderr: %s", res.out, res.err);
	assert_contains(res.out, "  probe: ok (");

	run_bin("gpus", "--cudart", "/nonexistent/libcudart.so.12", NULL);
	cr_assert_eq(res.code, 1);
	cr_assert_str_empty(res.out);
	assert_contains(res.err, "--cudart '/nonexistent/libcudart.so.12': No such file or directory");

	run_bin("gpus", "--cudart", "libc.so.6", NULL);
	cr_assert_eq(res.code, 0);
	assert_contains(res.out, "no GPU available: cannot use the CUDA runtime: libc.so.6 has no "
				 "cudaGetDeviceCount");

	run_bin("gpus", "--cudart=", NULL);
	assert_usage_error(&res);
	assert_contains(res.err, "--cudart");
	run_bin("gpus", "--cudart", NULL);
	assert_usage_error(&res);
}

Test(gpus_cmd, help_names_probe_and_cudart)
{
	run_bin("gpus", "--help", NULL);
	cr_assert_eq(res.code, 0);
	assert_contains(res.out, "usage: casebisect gpus [--json] [--probe] [--cudart PATH] "
				 "[--timeout DURATION]");
	assert_contains(res.out, "--probe ");
	assert_contains(res.out, "--cudart PATH ");
	assert_contains(res.out, "cudaMalloc of 64 MiB");
	assert_contains(res.out, "1 when --probe found a device\nthat failed or hung");
	assert_contains(res.out, "$ casebisect gpus --probe");
	assert_contains(res.out, "site-packages");
}
