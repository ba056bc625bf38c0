/* gpu_cuda: loading CUDA calls by name, and CUDA error names; see
 * src/gpu_cuda.h. */
#include "gpu_cuda.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "casebisect/util.h"

/*
 * The errors a device query or probe meets, for libraries that cannot name
 * them (cudaGetErrorName is missing, or too old for the code). The runtime
 * and the driver share these numbers; one list, so names and texts agree.
 */
#define GPU_ERROR_MAP(X)                                                        \
	X(1, "cudaErrorInvalidValue", "CUDA_ERROR_INVALID_VALUE",              \
	  "invalid argument")                                                  \
	X(2, "cudaErrorMemoryAllocation", "CUDA_ERROR_OUT_OF_MEMORY",          \
	  "out of memory")                                                     \
	X(3, "cudaErrorInitializationError", "CUDA_ERROR_NOT_INITIALIZED",     \
	  "initialization error")                                              \
	X(34, "cudaErrorStubLibrary", "CUDA_ERROR_STUB_LIBRARY",               \
	  "CUDA driver is a stub library")                                     \
	X(35, "cudaErrorInsufficientDriver", NULL,                             \
	  "CUDA driver version is insufficient for CUDA runtime version")      \
	X(36, "cudaErrorCallRequiresNewerDriver",                              \
	  "CUDA_ERROR_CALL_REQUIRES_NEWER_DRIVER",                             \
	  "API call is not supported in the installed CUDA driver")            \
	X(46, "cudaErrorDevicesUnavailable", "CUDA_ERROR_DEVICE_UNAVAILABLE",  \
	  "CUDA-capable device(s) is/are busy or unavailable")                 \
	X(100, "cudaErrorNoDevice", "CUDA_ERROR_NO_DEVICE",                    \
	  "no CUDA-capable device is detected")                                \
	X(101, "cudaErrorInvalidDevice", "CUDA_ERROR_INVALID_DEVICE",          \
	  "invalid device ordinal")                                            \
	X(304, "cudaErrorOperatingSystem", "CUDA_ERROR_OPERATING_SYSTEM",      \
	  "OS call failed or operation not supported on this OS")              \
	X(802, "cudaErrorSystemNotReady", "CUDA_ERROR_SYSTEM_NOT_READY",       \
	  "system not yet initialized")                                        \
	X(803, "cudaErrorSystemDriverMismatch",                                \
	  "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",                                 \
	  "system has unsupported display driver / cuda driver combination")   \
	X(700, "cudaErrorIllegalAddress", "CUDA_ERROR_ILLEGAL_ADDRESS",        \
	  "an illegal memory access was encountered")                          \
	X(710, "cudaErrorAssert", "CUDA_ERROR_ASSERT",                         \
	  "device-side assert triggered")                                      \
	X(719, "cudaErrorLaunchFailure", "CUDA_ERROR_LAUNCH_FAILED",           \
	  "unspecified launch failure")                                        \
	X(804, "cudaErrorCompatNotSupportedOnDevice",                          \
	  "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",                         \
	  "forward compatibility was attempted on non supported HW")           \
	X(999, "cudaErrorUnknown", "CUDA_ERROR_UNKNOWN", "unknown error")

struct gpu_error {
	int code;
	const char *runtime_name, *driver_name, *text;
};

#define GPU_ERROR_ROW(code, rt, drv, text) { code, rt, drv, text },
static const struct gpu_error gpu_errors[] = { GPU_ERROR_MAP(GPU_ERROR_ROW) };
#undef GPU_ERROR_ROW

static const struct gpu_error *find_error(int code)
{
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(gpu_errors); i++)
		if (gpu_errors[i].code == code)
			return &gpu_errors[i];
	return NULL;
}

/* The name and text of code: those the library gave (may be NULL), else
 * our list's, else NULL. */
void gpu_error_parts(int code, bool driver, const char **name, const char **text)
{
	const struct gpu_error *e = find_error(code);

	if (!*name && e)
		*name = driver ? e->driver_name : e->runtime_name;
	if (!*text && e)
		*text = e->text;
}

/* "cudaErrorNoDevice (no CUDA-capable device is detected)", from the names
 * the library gave (may be NULL) or our list; "error 12345" when neither
 * knows the code. */
void gpu_error_text(char *buf, size_t len, int code, bool driver,
		       const char *name, const char *text)
{
	gpu_error_parts(code, driver, &name, &text);
	if (name && text)
		snprintf(buf, len, "%s (%s)", name, text);
	else if (name)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "error %d", code);
}

/* ISO C has no conversion from void * to a function pointer; POSIX
 * guarantees the representations agree, so the bytes are copied. */
const char *gpu_load_syms(uv_lib_t *lib, void *tab, size_t size, const struct gpu_sym *syms,
			  size_t n)
{
	size_t i;

	memset(tab, 0, size);
	for (i = 0; i < n; i++) {
		void *p = NULL;

		assert(syms[i].offset + sizeof(p) <= size);
		if (uv_dlsym(lib, syms[i].name, &p) < 0 || !p) {
			if (!syms[i].optional)
				return syms[i].name;
			continue;
		}
		memcpy((char *)tab + syms[i].offset, &p, sizeof(p));
	}
	return NULL;
}
