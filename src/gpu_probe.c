/* gpu_probe: the health probe of CUDA devices, one child process per
 * device, all at once under one deadline; see include/casebisect/gpu.h. */
#include <assert.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <uv.h>

#include "casebisect/gpu.h"
#include "casebisect/util.h"
#include "gpu_child.h"
#include "gpu_cuda.h"
#include "gpu_select.h"

/* What a probe child is asked; copied into the child by fork(). */
struct probe_task {
	const char *library;
	bool driver_api;
	int device;
};

/* What it answers. */
struct probe_answer {
	bool ok;
	int code;
	double seconds;
	char name[64];
	char error[320];
};

/* The runtime's calls the probe makes (cuda_runtime_api.h). */
struct cudart_probe {
	int (*cudaSetDevice)(int device);
	int (*cudaMalloc)(void **ptr, size_t size);
	int (*cudaMemset)(void *ptr, int value, size_t count);
	int (*cudaDeviceSynchronize)(void);
	int (*cudaFree)(void *ptr);
	const char *(*cudaGetErrorName)(int error);   /* optional */
	const char *(*cudaGetErrorString)(int error); /* optional */
};

/* The same through the driver API (cuda.h): CUcontext is a pointer,
 * CUdeviceptr an unsigned long long on 64-bit hosts. */
struct cudrv_probe {
	int (*cuInit)(unsigned int flags);
	int (*cuDeviceGet)(int *device, int ordinal);
	int (*cuDevicePrimaryCtxRetain)(void **ctx, int device);
	int (*cuCtxSetCurrent)(void *ctx);
	int (*cuMemAlloc_v2)(unsigned long long *dptr, size_t bytes);
	int (*cuMemsetD8_v2)(unsigned long long dptr, unsigned char value, size_t n);
	int (*cuCtxSynchronize)(void);
	int (*cuMemFree_v2)(unsigned long long dptr);
	int (*cuGetErrorName)(int error, const char **name);   /* optional */
	int (*cuGetErrorString)(int error, const char **text); /* optional */
};

static const struct gpu_sym cudart_probe_syms[] = {
	GPU_SYM(struct cudart_probe, cudaSetDevice),
	GPU_SYM(struct cudart_probe, cudaMalloc),
	GPU_SYM(struct cudart_probe, cudaMemset),
	GPU_SYM(struct cudart_probe, cudaDeviceSynchronize),
	GPU_SYM(struct cudart_probe, cudaFree),
	GPU_SYM_OPTIONAL(struct cudart_probe, cudaGetErrorName),
	GPU_SYM_OPTIONAL(struct cudart_probe, cudaGetErrorString),
};

static const struct gpu_sym cudrv_probe_syms[] = {
	GPU_SYM(struct cudrv_probe, cuInit),
	GPU_SYM(struct cudrv_probe, cuDeviceGet),
	GPU_SYM(struct cudrv_probe, cuDevicePrimaryCtxRetain),
	GPU_SYM(struct cudrv_probe, cuCtxSetCurrent),
	GPU_SYM(struct cudrv_probe, cuMemAlloc_v2),
	GPU_SYM(struct cudrv_probe, cuMemsetD8_v2),
	GPU_SYM(struct cudrv_probe, cuCtxSynchronize),
	GPU_SYM(struct cudrv_probe, cuMemFree_v2),
	GPU_SYM_OPTIONAL(struct cudrv_probe, cuGetErrorName),
	GPU_SYM_OPTIONAL(struct cudrv_probe, cuGetErrorString),
};

/* Fill the tables from lib: NULL, or the name of a call lib lacks. */
static const char *load_cudart_probe(uv_lib_t *lib, struct cudart_probe *rt)
{
	return gpu_load_syms(lib, rt, sizeof(*rt), cudart_probe_syms,
			     CB_ARRAY_SIZE(cudart_probe_syms));
}

static const char *load_cudrv_probe(uv_lib_t *lib, struct cudrv_probe *drv)
{
	return gpu_load_syms(lib, drv, sizeof(*drv), cudrv_probe_syms,
			     CB_ARRAY_SIZE(cudrv_probe_syms));
}


/* Fills a with the error of a failed call: "cudaMalloc (64 MiB) failed:
 * cudaErrorMemoryAllocation (out of memory)". */
static void probe_call_failed(struct probe_answer *a, const char *call, int code, bool driver,
			      const char *name, const char *text)
{
	gpu_error_parts(code, driver, &name, &text);
	a->code = code;
	cb_strlcpy(a->name, name ? name : "", sizeof(a->name));
	if (name && text)
		cb_set_err(a->error, sizeof(a->error), "%s failed: %s (%s)", call, name, text);
	else if (name)
		cb_set_err(a->error, sizeof(a->error), "%s failed: %s", call, name);
	else
		cb_set_err(a->error, sizeof(a->error), "%s failed: error %d", call, code);
}

/* Opens the library for a probe; false with a->error filled when it
 * cannot be opened. */
static bool probe_open(int fd, const char *library, uv_lib_t *lib, struct probe_answer *a)
{
	gpu_child_stage(fd, "dlopen(%s)", library);
	if (uv_dlopen(library, lib) == 0)
		return true;
	cb_set_err(a->error, sizeof(a->error), "cannot load %s: %s", library,
		   uv_dlerror(lib) ? uv_dlerror(lib) : "unknown error");
	uv_dlclose(lib);
	return false;
}

/* The probe's calls, each announced as a stage before it is made, so a
 * hang is named after the call it is in. The library stays loaded: the
 * process ends right after, and unloading a runtime at exit is where some
 * drivers are slowest. */
static void probe_runtime(int fd, const struct probe_task *t, const struct cudart_probe *rt,
			  struct probe_answer *a)
{
	static const char mib[] = " (64 MiB)";
	char what[64];
	void *p = NULL;
	int err;

	snprintf(what, sizeof(what), "cudaSetDevice(%d)", t->device);
	gpu_child_stage(fd, "%s", what);
	err = rt->cudaSetDevice(t->device);
	if (!err) {
		snprintf(what, sizeof(what), "cudaMalloc%s", mib);
		gpu_child_stage(fd, "%s", what);
		err = rt->cudaMalloc(&p, GPU_PROBE_BYTES);
	}
	if (!err) {
		snprintf(what, sizeof(what), "cudaMemset%s", mib);
		gpu_child_stage(fd, "%s", what);
		err = rt->cudaMemset(p, 0xa5, GPU_PROBE_BYTES);
	}
	if (!err) {
		snprintf(what, sizeof(what), "cudaDeviceSynchronize");
		gpu_child_stage(fd, "%s", what);
		err = rt->cudaDeviceSynchronize();
	}
	if (!err) {
		snprintf(what, sizeof(what), "cudaFree");
		gpu_child_stage(fd, "%s", what);
		err = rt->cudaFree(p);
	}
	if (err) {
		probe_call_failed(a, what, err, false,
				  rt->cudaGetErrorName ? rt->cudaGetErrorName(err) : NULL,
				  rt->cudaGetErrorString ? rt->cudaGetErrorString(err) : NULL);
		return;
	}
	a->ok = true;
}

static void probe_driver(int fd, const struct probe_task *t, const struct cudrv_probe *drv,
			 struct probe_answer *a)
{
	static const char mib[] = " (64 MiB)";
	const char *name = NULL, *text = NULL;
	unsigned long long p = 0;
	void *ctx = NULL;
	char what[64];
	int err, dev = 0;

	snprintf(what, sizeof(what), "cuInit");
	gpu_child_stage(fd, "%s", what);
	err = drv->cuInit(0);
	if (!err) {
		snprintf(what, sizeof(what), "cuDeviceGet(%d)", t->device);
		gpu_child_stage(fd, "%s", what);
		err = drv->cuDeviceGet(&dev, t->device);
	}
	if (!err) {
		snprintf(what, sizeof(what), "cuDevicePrimaryCtxRetain");
		gpu_child_stage(fd, "%s", what);
		err = drv->cuDevicePrimaryCtxRetain(&ctx, dev);
	}
	if (!err) {
		snprintf(what, sizeof(what), "cuCtxSetCurrent");
		gpu_child_stage(fd, "%s", what);
		err = drv->cuCtxSetCurrent(ctx);
	}
	if (!err) {
		snprintf(what, sizeof(what), "cuMemAlloc%s", mib);
		gpu_child_stage(fd, "%s", what);
		err = drv->cuMemAlloc_v2(&p, GPU_PROBE_BYTES);
	}
	if (!err) {
		snprintf(what, sizeof(what), "cuMemsetD8%s", mib);
		gpu_child_stage(fd, "%s", what);
		err = drv->cuMemsetD8_v2(p, 0xa5, GPU_PROBE_BYTES);
	}
	if (!err) {
		snprintf(what, sizeof(what), "cuCtxSynchronize");
		gpu_child_stage(fd, "%s", what);
		err = drv->cuCtxSynchronize();
	}
	if (!err) {
		snprintf(what, sizeof(what), "cuMemFree");
		gpu_child_stage(fd, "%s", what);
		err = drv->cuMemFree_v2(p);
	}
	if (err) {
		if (drv->cuGetErrorName && drv->cuGetErrorName(err, &name) != 0)
			name = NULL;
		if (drv->cuGetErrorString && drv->cuGetErrorString(err, &text) != 0)
			text = NULL;
		probe_call_failed(a, what, err, true, name, text);
		return;
	}
	a->ok = true;
}

/* The runtime's calls, or the driver API's when discovery said so or the
 * library has no runtime (a gpu_info read back from JSON does not know
 * driver_api, but its library is libcuda.so.1). */
static void probe_task_run(int fd, const void *arg)
{
	const struct probe_task *t = arg;
	struct cudart_probe rt;
	struct cudrv_probe drv;
	struct probe_answer a;
	struct timespec t0;
	const char *rt_missing = NULL, *drv_missing;
	uv_lib_t lib;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&a, 0, sizeof(a));
	if (probe_open(fd, t->library, &lib, &a)) {
		if (!t->driver_api && !(rt_missing = load_cudart_probe(&lib, &rt)))
			probe_runtime(fd, t, &rt, &a);
		else if (!(drv_missing = load_cudrv_probe(&lib, &drv)))
			probe_driver(fd, t, &drv, &a);
		else
			cb_set_err(a.error, sizeof(a.error), "cannot probe: %s has no %s",
				   t->library, rt_missing ? rt_missing : drv_missing);
	}
	a.seconds = gpu_seconds_since(&t0);
	gpu_child_answer(fd, &a, sizeof(a));
}

/* Fills r from how child c ended and what it answered. */
static void probe_result(struct gpu_probe_result *r, const struct gpu_child *c,
			 struct probe_answer *a, int timeout_ms)
{
	if (c->end == GPU_GOT_RESULT) {
		a->name[sizeof(a->name) - 1] = '\0';
		a->error[sizeof(a->error) - 1] = '\0';
		r->state = a->ok ? GPU_PROBE_OK : GPU_PROBE_FAILED;
		r->seconds = a->seconds;
		r->error_code = a->ok ? 0 : a->code;
		if (!a->ok) {
			cb_strlcpy(r->error_name, a->name, sizeof(r->error_name));
			cb_strlcpy(r->error, a->error[0] ? a->error : "the probe failed",
				   sizeof(r->error));
		}
		return;
	}
	r->seconds = c->seconds;
	if (c->end == GPU_TIMED_OUT) {
		r->state = GPU_PROBE_HUNG;
		r->seconds = timeout_ms / 1000.0;
		cb_set_err(r->error, sizeof(r->error),
			   "%s did not return within %g s; the probe process was killed",
			   c->where, timeout_ms / 1000.0);
	} else if (c->reaped == GPU_REAPED && WIFSIGNALED(c->status)) {
		cb_set_err(r->error, sizeof(r->error),
			   "the probe process was killed by signal %d (%s) in %s",
			   WTERMSIG(c->status), strsignal(WTERMSIG(c->status)), c->where);
	} else if (c->reaped == GPU_REAPED && WIFEXITED(c->status)) {
		cb_set_err(r->error, sizeof(r->error),
			   "the probe process exited with status %d in %s, without an answer",
			   WEXITSTATUS(c->status), c->where);
	} else {
		cb_set_err(r->error, sizeof(r->error),
			   "the probe process ended in %s without an answer", c->where);
	}
	gpu_child_note_left_behind(c, "probe", r->error, sizeof(r->error));
}

/*
 * All probes start at once and share one deadline, so a box whose eight
 * devices all hang answers in one timeout, not eight. Reading the answers
 * one child after the other is enough: the others run meanwhile, and
 * their few records wait in their pipes. Hung children are all killed
 * before any is reaped, so their graces overlap.
 */
void gpu_probe_devices(const struct gpu_info *info, const int *devices, size_t n,
		       int timeout_ms, struct gpu_probe_result *out)
{
	struct gpu_child *kids;
	struct probe_answer *answers;
	struct timespec deadline;
	struct probe_task task;
	char err[128];
	size_t i;

	assert(info && (devices || !n) && (out || !n));
	assert(timeout_ms > 0);
	kids = xcalloc(n ? n : 1, sizeof(*kids));
	answers = xcalloc(n ? n : 1, sizeof(*answers));
	deadline = gpu_deadline_after(timeout_ms);
	for (i = 0; i < n; i++) {
		struct gpu_probe_result *r = &out[i];

		memset(r, 0, sizeof(*r));
		r->device = devices[i];
		r->state = GPU_PROBE_FAILED;
		if (!info->available) {
			cb_set_err(r->error, sizeof(r->error), "no GPU available: %s",
				   info->reason[0] ? info->reason : "no device found");
			continue;
		}
		if (!gpu_has_device(info, devices[i])) {
			char have[128];

			gpu_describe_devices(info, have, sizeof(have));
			cb_set_err(r->error, sizeof(r->error), "device %d not found; this machine has %s",
				   devices[i], have);
			continue;
		}
		task.library = info->library;
		task.driver_api = info->driver_api;
		task.device = devices[i];
		if (gpu_child_start(&kids[i], probe_task_run, &task, "the probe's start", err,
				    sizeof(err)) < 0)
			cb_set_err(r->error, sizeof(r->error), "cannot start the probe: %s", err);
	}
	for (i = 0; i < n; i++)
		if (kids[i].pid > 0)
			gpu_child_collect(&kids[i], &deadline, &answers[i], sizeof(answers[i]));
	for (i = 0; i < n; i++)
		if (kids[i].pid > 0 && kids[i].end != GPU_GOT_RESULT)
			kill(kids[i].pid, SIGKILL);
	for (i = 0; i < n; i++) {
		if (kids[i].pid <= 0)
			continue;
		gpu_child_reap(&kids[i], &deadline);
		probe_result(&out[i], &kids[i], &answers[i], timeout_ms);
	}
	free(answers);
	free(kids);
}

int gpu_probe(const struct gpu_info *info, int device, int timeout_ms, char *err,
	      size_t errlen)
{
	struct gpu_probe_result r;

	gpu_probe_devices(info, &device, 1, timeout_ms, &r);
	if (r.state == GPU_PROBE_OK)
		return 0;
	cb_set_err(err, errlen, "device %d: %s", device, r.error);
	return -1;
}
