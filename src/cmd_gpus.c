/* cmd_gpus: `casebisect gpus [--json] [--probe] [--cudart PATH] [--timeout
 * DURATION]`, the CUDA devices of this machine, the versions of the driver
 * and runtime, and on demand a health probe of each device. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "casebisect/cli.h"
#include "casebisect/gpu.h"
#include "casebisect/json.h"
#include "casebisect/util.h"

/* Starting the driver on a box of eight GPUs without persistence mode can
 * take several seconds; a hung one is given up after this. */
#define DEFAULT_TIMEOUT_S 20.0
#define MAX_TIMEOUT_S 3600.0

enum { OPT_JSON = 1, OPT_PROBE, OPT_CUDART, OPT_TIMEOUT };

static const struct cli_option gpus_options[] = {
	{ "json", 0, CLI_ARG_NONE, OPT_JSON, NULL,
	  "one compact JSON object instead of text" },
	{ "probe", 0, CLI_ARG_NONE, OPT_PROBE, NULL,
	  "allocate, write and free 64 MiB on each device; exit 1 when one fails or hangs" },
	{ "cudart", 0, CLI_ARG_REQUIRED, OPT_CUDART, "PATH",
	  "ask this CUDA runtime library, and only it (default: search)" },
	{ "timeout", 0, CLI_ARG_REQUIRED, OPT_TIMEOUT, "DURATION",
	  "give up on a driver or a probe that does not answer (20s; at most 1h)" },
};

static const struct cli_command gpus_cmd = {
	.name = "gpus",
	.usage = "[--json] [--probe] [--cudart PATH] [--timeout DURATION]",
	.description =
		"List the CUDA devices of this machine, as the trials will see them:\n"
		"each device's index (the CUDA ordinal, as in CUDA_VISIBLE_DEVICES),\n"
		"name, memory and compute capability, and the CUDA versions of the\n"
		"driver and of the runtime library that answered.\n"
		"\n"
		"The CUDA runtime is loaded at run time, in a separate process, so a\n"
		"driver that hangs costs at most --timeout seconds. Libraries tried, in\n"
		"order, until one finds a device: the runtime of the active Python\n"
		"environment, where pip and conda keep it ($VIRTUAL_ENV and\n"
		"$CONDA_PREFIX: lib/python3.X/site-packages/nvidia/cuda_runtime/lib,\n"
		"nvidia/cu13/lib and torch/lib, and $CONDA_PREFIX/lib); libcudart.so,\n"
		".13, .12, .11.0 on the loader's path; the same pip folders of the\n"
		"system's and the user's Python (/usr/local/lib/python3.X,\n"
		"/usr/lib/python3/dist-packages, ~/.local/lib/python3.X); then the\n"
		"driver API, libcuda.so.1. --cudart PATH asks that library alone.\n"
		"CUDA_VISIBLE_DEVICES is honoured, as by any CUDA program.\n"
		"\n"
		"--probe checks that each device works: in a separate process per\n"
		"device, all at once, it calls cudaSetDevice, cudaMalloc of 64 MiB,\n"
		"cudaMemset, cudaDeviceSynchronize and cudaFree (the driver API's\n"
		"equivalents when only the driver answered), and reports each device\n"
		"ok, failed (with the CUDA error's name and text) or hung (no answer\n"
		"within --timeout seconds: the probe process is killed).\n"
		"\n"
		"No GPU is an answer, not an error: the command prints\n"
		"`no GPU available: REASON` and exits 0. With --json it prints one\n"
		"object with the fields available, reason, library, driver_version,\n"
		"runtime_version (CUDA versions as numbers, 12040 for 12.4; null when\n"
		"unknown) and devices, each with index, name, total_mem (bytes) and\n"
		"cc, and with --probe a probe object: ok (true or false), state (ok,\n"
		"failed or hung), error (the message, null when ok), error_name (the\n"
		"CUDA error's name, null when none) and seconds.\n"
		"\n"
		"Exits 0 whether or not a GPU was found; 1 when --probe found a device\n"
		"that failed or hung, or --cudart names a file that does not exist; 2\n"
		"on a usage error.",
	.example =
		"$ casebisect gpus                # a box with two H100s (figures illustrative)\n"
		"driver:  CUDA 12.4\n"
		"runtime: CUDA 12.4 (/home/me/venv/lib/python3.11/site-packages/nvidia/cuda_runtime/lib/libcudart.so.12)\n"
		"GPU 0: NVIDIA H100 80GB HBM3, 79.2 GiB, compute capability 9.0\n"
		"GPU 1: NVIDIA H100 80GB HBM3, 79.2 GiB, compute capability 9.0\n"
		"\n"
		"$ casebisect gpus --probe --timeout 10   # the same box; device 1 is full\n"
		"driver:  CUDA 12.4\n"
		"runtime: CUDA 12.4 (/home/me/venv/lib/python3.11/site-packages/nvidia/cuda_runtime/lib/libcudart.so.12)\n"
		"GPU 0: NVIDIA H100 80GB HBM3, 79.2 GiB, compute capability 9.0\n"
		"  probe: ok (0.41 s)\n"
		"GPU 1: NVIDIA H100 80GB HBM3, 79.2 GiB, compute capability 9.0\n"
		"  probe: failed (0.39 s): cudaMalloc (64 MiB) failed: cudaErrorMemoryAllocation (out of memory)\n"
		"probe: 1 of 2 devices not healthy (1 failed)\n"
		"$ echo $?\n"
		"1\n"
		"\n"
		"$ casebisect gpus --probe --timeout 5 --cudart /opt/conda/envs/seg/lib/libcudart.so.12\n"
		"driver:  CUDA 12.4\n"
		"runtime: CUDA 12.1 (/opt/conda/envs/seg/lib/libcudart.so.12)\n"
		"GPU 0: NVIDIA A100-SXM4-40GB, 39.4 GiB, compute capability 8.0\n"
		"  probe: hung: cudaDeviceSynchronize did not return within 5 s; the probe process was killed\n"
		"probe: 1 of 1 device not healthy (1 hung)\n"
		"\n"
		"$ casebisect gpus                # a CUDA toolkit, but no NVIDIA driver\n"
		"no GPU available: no NVIDIA driver (libcuda.so.1 not found); libcudart.so: cudaGetDeviceCount failed: cudaErrorInsufficientDriver (CUDA driver version is insufficient for CUDA runtime version)\n"
		"\n"
		"$ casebisect gpus --json         # the same machine\n"
		"{\"available\":false,\"reason\":\"no NVIDIA driver (libcuda.so.1 not found); libcudart.so: cudaGetDeviceCount failed: cudaErrorInsufficientDriver (CUDA driver version is insufficient for CUDA runtime version)\",\"library\":null,\"driver_version\":null,\"runtime_version\":null,\"devices\":[]}\n"
		"\n"
		"With a GPU and --probe, each element of devices reads like\n"
		"{\"index\":0,\"name\":\"NVIDIA H100 80GB HBM3\",\"total_mem\":85045379072,\"cc\":\"9.0\",\n"
		" \"probe\":{\"ok\":true,\"state\":\"ok\",\"error\":null,\"error_name\":null,\"seconds\":0.41}}.",
	.options = gpus_options,
	.n_options = CB_ARRAY_SIZE(gpus_options),
};

/* "12.4" for 12040; "unknown" for 0. */
static void version_text(int v, char *buf, size_t len)
{
	if (v <= 0)
		snprintf(buf, len, "unknown");
	else
		snprintf(buf, len, "%d.%d", v / 1000, (v % 1000) / 10);
}

static const char *const state_words[] = {
	[GPU_PROBE_OK] = "ok",
	[GPU_PROBE_FAILED] = "failed",
	[GPU_PROBE_HUNG] = "hung",
};

/* The probe of device index, or NULL when it was not probed. */
static const struct gpu_probe_result *probe_of(const struct gpu_probe_result *probes,
					       size_t n, int index)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (probes[i].device == index)
			return &probes[i];
	return NULL;
}

static void print_probe(const struct gpu_probe_result *r)
{
	switch (r->state) {
	case GPU_PROBE_OK:
		printf("  probe: ok (%.2f s)\n", r->seconds);
		break;
	case GPU_PROBE_FAILED:
		printf("  probe: failed (%.2f s): %s\n", r->seconds, r->error);
		break;
	case GPU_PROBE_HUNG:
		printf("  probe: hung: %s\n", r->error);
		break;
	}
}

/* "probe: all 2 devices ok", or "probe: 2 of 3 devices not healthy (1
 * failed, 1 hung)". */
static void print_probe_summary(const struct gpu_probe_result *probes, size_t n)
{
	size_t failed = 0, hung = 0, i;

	for (i = 0; i < n; i++) {
		failed += probes[i].state == GPU_PROBE_FAILED;
		hung += probes[i].state == GPU_PROBE_HUNG;
	}
	if (!failed && !hung) {
		if (n == 1)
			puts("probe: 1 device ok");
		else
			printf("probe: all %zu devices ok\n", n);
		return;
	}
	printf("probe: %zu of %zu device%s not healthy (", failed + hung, n, n == 1 ? "" : "s");
	if (failed)
		printf("%zu failed%s", failed, hung ? ", " : "");
	if (hung)
		printf("%zu hung", hung);
	puts(")");
}

static void print_text(const struct gpu_info *info, const struct gpu_probe_result *probes,
		       size_t n_probes)
{
	char v[32];
	size_t i;

	if (!info->available) {
		printf("no GPU available: %s\n", info->reason);
		return;
	}
	version_text(info->driver_version, v, sizeof(v));
	printf("driver:  CUDA %s\n", v);
	if (info->runtime_version) {
		version_text(info->runtime_version, v, sizeof(v));
		printf("runtime: CUDA %s (%s)\n", v, info->library);
	} else {
		printf("runtime: none (asked the driver API, %s)\n", info->library);
	}
	for (i = 0; i < info->count; i++) {
		const struct gpu_device *d = &info->dev[i];
		const struct gpu_probe_result *r = probe_of(probes, n_probes, d->index);

		printf("GPU %d: %s, ", d->index, d->name[0] ? d->name : "(name unknown)");
		if (d->total_mem)
			printf("%.1f GiB, ", (double)d->total_mem / (1024.0 * 1024.0 * 1024.0));
		else
			fputs("memory unknown, ", stdout);
		printf("compute capability %d.%d\n", d->cc_major, d->cc_minor);
		if (r)
			print_probe(r);
	}
	if (info->reason[0])
		printf("note: %s\n", info->reason);
	if (probes)
		print_probe_summary(probes, n_probes);
}

/* Adds "probe": {ok, state, error, error_name, seconds} to each device of
 * obj (json_gpu_info()'s) that was probed. */
static void add_probes(cJSON *obj, const struct gpu_probe_result *probes, size_t n)
{
	cJSON *devs = cJSON_GetObjectItemCaseSensitive(obj, "devices"), *dev;

	cJSON_ArrayForEach(dev, devs) {
		const cJSON *index = cJSON_GetObjectItemCaseSensitive(dev, "index");
		const struct gpu_probe_result *r;
		cJSON *p;

		if (!cJSON_IsNumber(index) || !(r = probe_of(probes, n, (int)index->valuedouble)))
			continue;
		p = json_object();
		cJSON_AddItemToObject(dev, "probe", p);
		if (!cJSON_AddBoolToObject(p, "ok", r->state == GPU_PROBE_OK))
			die("out of memory building JSON");
		json_add_str(p, "state", state_words[r->state]);
		json_add_str(p, "error", r->state == GPU_PROBE_OK ? "" : r->error);
		json_add_str(p, "error_name", r->error_name);
		/* Milliseconds are what a reader can use; more digits are noise. */
		json_add_num(p, "seconds", round(r->seconds * 1000.0) / 1000.0, true);
	}
}

static void print_json(const struct gpu_info *info, const struct gpu_probe_result *probes,
		       size_t n_probes)
{
	cJSON *obj = json_gpu_info(info);
	char *text;

	if (probes)
		add_probes(obj, probes, n_probes);
	text = json_finish(obj, false);
	puts(text);
	free(text);
}

/* DURATION: more than 0, up to an hour ("20", "1.5", "30s", "1m"). */
static int parse_timeout(const char *s, int *ms)
{
	double v;

	if (cli_parse_seconds(s, &v) || v <= 0 || v > MAX_TIMEOUT_S)
		return -1;
	*ms = (int)(v * 1000.0 + 0.5);
	if (*ms < 1)
		*ms = 1;
	return 0;
}

/* Probes every device info lists; the caller frees the array. */
static struct gpu_probe_result *probe_all(const struct gpu_info *info, int timeout_ms,
					  size_t *n)
{
	struct gpu_probe_result *probes;
	int devices[GPU_MAX];
	size_t i;

	*n = info->available ? info->count : 0;
	probes = xcalloc(*n ? *n : 1, sizeof(*probes));
	for (i = 0; i < *n; i++)
		devices[i] = info->dev[i].index;
	if (*n)
		gpu_probe_devices(info, devices, *n, timeout_ms, probes);
	return probes;
}

enum cb_exit cmd_gpus(int argc, char **argv)
{
	struct gpu_probe_result *probes = NULL;
	struct gpu_info *info = NULL;
	struct cli_parser p;
	enum cb_exit ret = CB_EXIT_OK;
	int timeout_ms = (int)(DEFAULT_TIMEOUT_S * 1000), id, r;
	bool json = false, probe = false;
	const char *value, *cudart = NULL;
	size_t n_probes = 0, i;
	struct stat st;

	cli_parser_init(&p, &gpus_cmd, argc, argv);
	while ((r = cli_next(&p, &id, &value)) > 0) {
		switch (id) {
		case CLI_OPT_HELP:
			cli_print_help(&gpus_cmd, stdout);
			goto out;
		case OPT_JSON:
			json = true;
			break;
		case OPT_PROBE:
			probe = true;
			break;
		case OPT_CUDART:
			if (!*value) {
				ret = cli_usage_error(&gpus_cmd, "--cudart: empty path");
				goto out;
			}
			cudart = value;
			break;
		case OPT_TIMEOUT:
			if (parse_timeout(value, &timeout_ms) < 0) {
				ret = cli_usage_error(&gpus_cmd, "--timeout '%s': expected a duration "
						      "above 0 and at most 1h, such as 20, 30s or 2m",
						      value);
				goto out;
			}
			break;
		default:
			assert(!"option without a case");
		}
	}
	if (r < 0) {
		ret = CB_EXIT_USAGE;
		goto out;
	}
	if (p.n_operands) {
		ret = cli_usage_error(&gpus_cmd, "gpus takes no operands, not '%s'",
				      p.operands[0]);
		goto out;
	}
	/* A name without a slash is for the loader to find; a path must
	 * exist, or the answer would be "no GPU" for a typo. */
	if (cudart && strchr(cudart, '/') && stat(cudart, &st) < 0) {
		cli_error("--cudart '%s': %s", cudart, strerror(errno));
		ret = CB_EXIT_ERROR;
		goto out;
	}

	/* About 19 KiB: heap, not stack. */
	info = xmalloc(sizeof(*info));
	gpu_discover_from(info, cudart, timeout_ms);
	if (probe) {
		probes = probe_all(info, timeout_ms, &n_probes);
		for (i = 0; i < n_probes; i++)
			if (probes[i].state != GPU_PROBE_OK)
				ret = CB_EXIT_ERROR;
	}
	if (json)
		print_json(info, probes, n_probes);
	else
		print_text(info, probes, n_probes);
out:
	free(probes);
	free(info);
	cli_parser_release(&p);
	return ret;
}
