/* cmd_gpus: `casebisect gpus [--json] [--timeout SECONDS]`, the CUDA
 * devices of this machine and the versions of the driver and runtime. */
#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "casebisect/cli.h"
#include "casebisect/gpu.h"
#include "casebisect/json.h"
#include "casebisect/util.h"

/* Starting the driver on a box of eight GPUs without persistence mode can
 * take several seconds; a hung one is given up after this. */
#define DEFAULT_TIMEOUT_S 20.0
#define MAX_TIMEOUT_S 3600.0

enum { OPT_JSON = 1, OPT_TIMEOUT };

static const struct cli_option gpus_options[] = {
	{ "json", 0, CLI_ARG_NONE, OPT_JSON, NULL,
	  "one compact JSON object instead of text" },
	{ "timeout", 0, CLI_ARG_REQUIRED, OPT_TIMEOUT, "SECONDS",
	  "give up on a driver that does not answer (default 20)" },
};

static const struct cli_command gpus_cmd = {
	.name = "gpus",
	.usage = "[--json] [--timeout SECONDS]",
	.description =
		"List the CUDA devices of this machine, as the trials will see them:\n"
		"each device's index (the CUDA ordinal, as in CUDA_VISIBLE_DEVICES),\n"
		"name, memory and compute capability, and the CUDA versions of the\n"
		"driver and of the runtime library that answered.\n"
		"\n"
		"The CUDA runtime is loaded at run time (libcudart.so, .13, .12, .11.0,\n"
		"then the driver API libcuda.so.1) in a separate process, so a driver\n"
		"that hangs costs at most --timeout seconds. CUDA_VISIBLE_DEVICES is\n"
		"honoured, as by any CUDA program.\n"
		"\n"
		"No GPU is an answer, not an error: the command prints\n"
		"`no GPU available: REASON` and exits 0. With --json it prints one\n"
		"object with the fields available, reason, library, driver_version,\n"
		"runtime_version (CUDA versions as numbers, 12040 for 12.4; null when\n"
		"unknown) and devices, each with index, name, total_mem (bytes) and\n"
		"cc.\n"
		"\n"
		"Exits 0 whether or not a GPU was found, 2 on a usage error.",
	.example =
		"$ casebisect gpus                # a box with two H100s (figures illustrative)\n"
		"driver:  CUDA 12.4\n"
		"runtime: CUDA 12.4 (libcudart.so)\n"
		"GPU 0: NVIDIA H100 80GB HBM3, 79.2 GiB, compute capability 9.0\n"
		"GPU 1: NVIDIA H100 80GB HBM3, 79.2 GiB, compute capability 9.0\n"
		"\n"
		"$ casebisect gpus                # a CUDA toolkit, but no NVIDIA driver\n"
		"no GPU available: no NVIDIA driver (libcuda.so.1 not found); libcudart.so: cudaGetDeviceCount failed: cudaErrorInsufficientDriver (CUDA driver version is insufficient for CUDA runtime version)\n"
		"\n"
		"$ casebisect gpus --json         # the same machine\n"
		"{\"available\":false,\"reason\":\"no NVIDIA driver (libcuda.so.1 not found); libcudart.so: cudaGetDeviceCount failed: cudaErrorInsufficientDriver (CUDA driver version is insufficient for CUDA runtime version)\",\"library\":null,\"driver_version\":null,\"runtime_version\":null,\"devices\":[]}\n"
		"\n"
		"With a GPU, each element of devices reads like\n"
		"{\"index\":0,\"name\":\"NVIDIA H100 80GB HBM3\",\"total_mem\":85045379072,\"cc\":\"9.0\"}.",
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

static void print_text(const struct gpu_info *info)
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

		printf("GPU %d: %s, ", d->index, d->name[0] ? d->name : "(name unknown)");
		if (d->total_mem)
			printf("%.1f GiB, ", (double)d->total_mem / (1024.0 * 1024.0 * 1024.0));
		else
			fputs("memory unknown, ", stdout);
		printf("compute capability %d.%d\n", d->cc_major, d->cc_minor);
	}
	if (info->reason[0])
		printf("note: %s\n", info->reason);
}

static void print_json(const struct gpu_info *info)
{
	char *text = json_finish(json_gpu_info(info), false);

	puts(text);
	free(text);
}

/* SECONDS: a positive decimal number up to an hour. */
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

enum cb_exit cmd_gpus(int argc, char **argv)
{
	struct gpu_info *info = NULL;
	struct cli_parser p;
	enum cb_exit ret = CB_EXIT_OK;
	int timeout_ms = (int)(DEFAULT_TIMEOUT_S * 1000), id, r;
	bool json = false;
	const char *value;

	cli_parser_init(&p, &gpus_cmd, argc, argv);
	while ((r = cli_next(&p, &id, &value)) > 0) {
		switch (id) {
		case CLI_OPT_HELP:
			cli_print_help(&gpus_cmd, stdout);
			goto out;
		case OPT_JSON:
			json = true;
			break;
		case OPT_TIMEOUT:
			if (parse_timeout(value, &timeout_ms) < 0) {
				ret = cli_usage_error(&gpus_cmd,
						      "invalid --timeout value '%s' (seconds, more than 0, at most 3600)",
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

	/* About 19 KiB: heap, not stack. */
	info = xmalloc(sizeof(*info));
	gpu_discover(info, timeout_ms);
	if (json)
		print_json(info);
	else
		print_text(info);
out:
	free(info);
	cli_parser_release(&p);
	return ret;
}
