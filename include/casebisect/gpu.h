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
 * Libraries tried, in order: $CASEBISECT_CUDART when set (tests use a fake),
 * libcudart.so, libcudart.so.13, .12, .11.0, then the driver API libcuda.so.1.
 */
void gpu_discover(struct gpu_info *info, int timeout_ms);

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
