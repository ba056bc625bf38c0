/* gpu: the CUDA devices of this machine, found through the CUDA runtime (or
 * the driver API) loaded with dlopen at run time. No library, no driver or no
 * device is a normal answer ("not available"), never a build dependency. */
#ifndef CASEBISECT_GPU_H
#define CASEBISECT_GPU_H

#include <stdbool.h>
#include <stddef.h>

#define GPU_MAX 64

struct gpu_device {
	int index;              /* the CUDA device ordinal */
	char name[256];         /* "NVIDIA H100 80GB HBM3" */
	size_t total_mem;       /* bytes */
	int cc_major, cc_minor; /* compute capability */
};

struct gpu_info {
	bool available;          /* at least one device answered */
	bool driver_api;         /* the driver API answered (library is libcuda.so.1) */
	char reason[256];        /* when !available: why, in words */
	char library[512];       /* the library that answered ("libcudart.so.12") */
	int driver_version;      /* CUDA version the driver supports, e.g. 12040; 0 unknown */
	int runtime_version;     /* of the runtime library; 0 when the driver API answered */
	size_t count;
	struct gpu_device dev[GPU_MAX];
};

/*
 * Fills *info. The query runs in a short-lived child process, so the
 * driver's state (and its memory) never enters casebisect, and a driver that
 * hangs costs at most timeout_ms (then: not available, reason says so).
 *
 * Libraries tried, in order, until one finds a device (python3.X stands
 * for any minor version, as the glob python3.[0-9]* finds it):
 *   1. $CASEBISECT_CUDART when set (tests use a fake; one that loads
 *      answers alone, whatever it says);
 *   2. the runtime of the active Python environment, the one the trainer
 *      will load, where pip and conda keep it: below
 *      $VIRTUAL_ENV/lib/python3.X/site-packages and
 *      $CONDA_PREFIX/lib/python3.X/site-packages, the files
 *      nvidia/cuda_runtime/lib/libcudart.so* (CUDA 12 wheels),
 *      nvidia/cuNN/lib/libcudart.so* (CUDA 13 wheels) and
 *      torch/lib/libcudart*.so* (older torch wheels bundle it); and
 *      $CONDA_PREFIX/lib/libcudart.so*;
 *   3. libcudart.so, libcudart.so.13, .12, .11.0 on the loader's path;
 *   4. the same pip files below the system's and the user's Python:
 *      /usr/local/lib/python3.X/dist-packages and site-packages,
 *      /usr/lib/python3/dist-packages, ~/.local/lib/python3.X/site-packages;
 *   5. the driver API, libcuda.so.1.
 * Folders are found with glob() alone: nothing is walked or executed.
 */
void gpu_discover(struct gpu_info *info, int timeout_ms);

/*
 * gpu_discover(), but when cudart is not NULL only that library is asked
 * (a path, or a name for the loader: `--cudart PATH`), whatever it says.
 * When it cannot be loaded, info is not available and reason says why
 * ("cannot load the CUDA runtime: /x/libcudart.so.12: cannot open shared
 * object file: No such file or directory"). cudart NULL: gpu_discover().
 */
void gpu_discover_from(struct gpu_info *info, const char *cudart, int timeout_ms);

/* How a device's health probe ended. */
enum gpu_probe_state {
	GPU_PROBE_OK = 0, /* every call succeeded */
	GPU_PROBE_FAILED, /* a CUDA call returned an error, or the probe could
			   * not run or crashed */
	GPU_PROBE_HUNG,   /* no answer within the timeout; the probe process
			   * was killed */
};

/* What the probe of one device found. */
struct gpu_probe_result {
	int device;                /* the ordinal probed */
	enum gpu_probe_state state;
	double seconds;            /* how long it took; the timeout when hung */
	int error_code;            /* the CUDA error of a failed call, else 0 */
	char error_name[64];       /* its name ("cudaErrorMemoryAllocation"), or "" */
	char error[320];           /* in words when not ok, else "": "cudaMalloc
				    * (64 MiB) failed: cudaErrorMemoryAllocation
				    * (out of memory)" */
};

/* The bytes the probe allocates and writes on each device. */
#define GPU_PROBE_BYTES ((size_t)64 << 20)

/*
 * Health-probes devices[0..n) of info (found by gpu_discover()) at once,
 * each in its own child process, as discovery asks: with the library that
 * answered discovery, the probe calls cudaSetDevice, cudaMalloc of
 * GPU_PROBE_BYTES, cudaMemset, cudaDeviceSynchronize and cudaFree (through
 * the driver API when info->driver_api, or when the library has no runtime
 * calls, as libcuda.so.1 has none: cuInit, cuDeviceGet,
 * cuDevicePrimaryCtxRetain, cuCtxSetCurrent, cuMemAlloc_v2, cuMemsetD8_v2,
 * cuCtxSynchronize, cuMemFree_v2). Every probe has the same deadline,
 * timeout_ms from the call; a probe still running then is killed and
 * reaped, and is GPU_PROBE_HUNG, named after the call it was in. Blocks for
 * at most timeout_ms plus a short grace to reap. Fills out[0..n), which the
 * caller owns. A device info does not list, or info not available, is
 * GPU_PROBE_FAILED with a reason.
 */
void gpu_probe_devices(const struct gpu_info *info, const int *devices, size_t n,
		       int timeout_ms, struct gpu_probe_result *out);

/*
 * Probes one device as gpu_probe_devices() does (the run engine asks this
 * of a device whose trials end in infrastructure errors). Returns 0 when it
 * is healthy, or -1 when the probe failed or hung, with the reason in err
 * (errlen bytes; may be NULL): "device 1: cudaDeviceSynchronize did not
 * return within 5 s; the probe process was killed". The ordinal is as
 * this process sees it (through its CUDA_VISIBLE_DEVICES), as in info.
 * Like discovery it blocks and forks: call it between trials, not from a
 * callback that must return at once (run.c runs it on libuv's thread pool;
 * see the design note in gpu_child.c).
 */
int gpu_probe(const struct gpu_info *info, int device, int timeout_ms, char *err,
	      size_t errlen);

/*
 * Turns a --gpus value into device ordinals: "auto" (every device found;
 * none when not available), "none" (no device), or a list "0,2,3". A list is
 * checked against info when info->available (an ordinal not found is an
 * error naming it), and taken as given otherwise. Fills out[0..*n).
 * Returns 0, or -1 with a message in err ("--gpus: device 5 not found; this
 * machine has 0..3").
 */
int gpu_select(const char *spec, const struct gpu_info *info, int *out, size_t max,
	       size_t *n, char *err, size_t errlen);

#endif
