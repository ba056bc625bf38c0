/* gpu: the CUDA devices of this machine, asked of the CUDA runtime (or the
 * driver API) in a short-lived child process, and their health probe, one
 * child per device; see include/casebisect/gpu.h. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "casebisect/gpu.h"
#include "casebisect/util.h"

/*
 * Design note: why a child process.
 *
 * Loading libcudart and calling cudaGetDeviceCount() initialises the driver
 * in the calling process: it maps device memory, starts threads, and can
 * take seconds or, with a wedged GPU, never return. casebisect must keep
 * neither: its own process stays small and single-purpose, and a broken
 * driver must turn into an answer ("not available, timed out"), not a hang.
 * So gpu_discover() forks, the child loads the library and asks, writes
 * fixed-size records over a pipe and _exit()s; the parent polls the pipe
 * until the deadline, then kills and reaps the child by its pid. It never
 * waits for "any child" (waitpid(-1)), which would steal the exit of a trial
 * that libuv is waiting for. The health probe is built the same way, one
 * child per device: a probe creates a CUDA context and touches memory,
 * which is exactly what a wedged device never finishes.
 *
 * Before each call into the library the child sends a "stage" record (which
 * library, which call), so a timeout or a crash can say where it happened.
 *
 * fork() in a process with threads (libuv's pool) gives a child in which
 * only async-signal-safe calls are strictly allowed; dlopen() is not one.
 * glibc makes malloc and the loader usable after fork, and should a lock
 * inherited from another thread still block the child, the deadline ends
 * it like any hung driver. Calling gpu_discover() before the loop starts
 * threads avoids the question.
 *
 * A process stuck in the kernel (an ioctl into a wedged driver) does not die
 * of SIGKILL until the call returns. Blocking in waitpid() would then hang
 * casebisect after all, so reaping polls, gives up after REAP_GRACE_MS and
 * says so in the reason: a zombie left behind beats a hung supervisor.
 */

#define REAP_GRACE_MS 2000
#define STAGE_LEN 320
#define DRIVER_LIB "libcuda.so.1"

/* Record kinds on the pipe: a stage (STAGE_LEN bytes of text) or the
 * result (one struct gpu_info, the last record). */
enum { MSG_STAGE = 'S', MSG_RESULT = 'R' };

/* cudaDevAttrComputeCapabilityMajor/Minor in cuda_runtime_api.h's enum
 * cudaDeviceAttr, and the same numbers for CU_DEVICE_ATTRIBUTE_COMPUTE_
 * CAPABILITY_MAJOR/MINOR in cuda.h's CUdevice_attribute. */
enum { ATTR_CC_MAJOR = 75, ATTR_CC_MINOR = 76 };

/* The runtimes tried after $CASEBISECT_CUDART, newest first. */
static const char *const runtime_libs[] = {
	"libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0",
};

/*
 * The CUDA calls we use, as in cuda_runtime_api.h and cuda.h: cudaError_t,
 * CUresult, CUdevice and the attribute enums are all int in the C ABI.
 * cudaGetDeviceProperties() is not used: struct cudaDeviceProp changes
 * layout between versions. Members are named after the symbols they hold.
 */
struct cudart {
	int (*cudaGetDeviceCount)(int *count);
	int (*cudaDeviceGetAttribute)(int *value, int attr, int device);
	int (*cudaDriverGetVersion)(int *version);
	int (*cudaRuntimeGetVersion)(int *version);
	const char *(*cudaGetErrorName)(int error);   /* optional */
	const char *(*cudaGetErrorString)(int error); /* optional */
};

struct cudrv {
	int (*cuInit)(unsigned int flags);
	int (*cuDriverGetVersion)(int *version);
	int (*cuDeviceGetCount)(int *count);
	int (*cuDeviceGet)(int *device, int ordinal);
	int (*cuDeviceGetName)(char *name, int len, int device);
	int (*cuDeviceTotalMem_v2)(size_t *bytes, int device);
	int (*cuDeviceGetAttribute)(int *value, int attr, int device);
	int (*cuGetErrorName)(int error, const char **name);   /* optional */
	int (*cuGetErrorString)(int error, const char **text); /* optional */
};

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
static void error_parts(int code, bool driver, const char **name, const char **text)
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
static void error_text(char *buf, size_t len, int code, bool driver,
		       const char *name, const char *text)
{
	error_parts(code, driver, &name, &text);
	if (name && text)
		snprintf(buf, len, "%s (%s)", name, text);
	else if (name)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "error %d", code);
}

static void runtime_error(char *buf, size_t len, const struct cudart *rt, int code)
{
	error_text(buf, len, code, false,
		   rt->cudaGetErrorName ? rt->cudaGetErrorName(code) : NULL,
		   rt->cudaGetErrorString ? rt->cudaGetErrorString(code) : NULL);
}

static void driver_error(char *buf, size_t len, const struct cudrv *drv, int code)
{
	const char *name = NULL, *text = NULL;

	if (drv->cuGetErrorName && drv->cuGetErrorName(code, &name) != 0)
		name = NULL;
	if (drv->cuGetErrorString && drv->cuGetErrorString(code, &text) != 0)
		text = NULL;
	error_text(buf, len, code, true, name, text);
}

/* snprintf for messages, where a cut tail is expected and harmless. */
static CB_PRINTF(3, 4) void format_cut(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

#define set_reason(info, ...) format_cut((info)->reason, sizeof((info)->reason), __VA_ARGS__)

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* ---- the child's query ---- */

/* What the child knows while it asks. */
struct query {
	int fd;                /* the pipe to the parent */
	struct gpu_info *info; /* the answer being built */
	char tried[384];       /* libraries that could not be used, ", "-separated */
	char skipped[256];     /* the first device that did not answer, or "" */
};

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(1); /* the parent is gone or gave up on us */
		p += n;
		len -= (size_t)n;
	}
}

/* Tells the parent where the child is about to be, before it goes there. */
static CB_PRINTF(2, 3) void stage(int fd, const char *fmt, ...)
{
	char rec[1 + STAGE_LEN];
	va_list ap;

	memset(rec, 0, sizeof(rec));
	rec[0] = MSG_STAGE;
	va_start(ap, fmt);
	vsnprintf(rec + 1, STAGE_LEN, fmt, ap);
	va_end(ap);
	write_all(fd, rec, sizeof(rec));
}

/* Sends the answer, the child's last record. */
static void send_result(int fd, const void *answer, size_t size)
{
	char rec = MSG_RESULT;

	write_all(fd, &rec, 1);
	write_all(fd, answer, size);
}

static void note_tried(struct query *q, const char *name, const char *missing)
{
	size_t used = strlen(q->tried);

	if (used + 1 >= sizeof(q->tried))
		return;
	snprintf(q->tried + used, sizeof(q->tried) - used, "%s%s%s%s%s",
		 used ? ", " : "", name, missing ? " (no " : "",
		 missing ? missing : "", missing ? ")" : "");
}

/* ISO C has no conversion from void * to a function pointer; POSIX
 * guarantees the representations agree, so the bytes are copied. */
static bool load_sym(uv_lib_t *lib, const char *name, void *fn, size_t size)
{
	void *p = NULL;

	assert(size == sizeof(p));
	if (uv_dlsym(lib, name, &p) < 0 || !p)
		return false;
	memcpy(fn, &p, sizeof(p));
	return true;
}

#define LOAD(lib, tab, sym) load_sym((lib), #sym, &(tab)->sym, sizeof((tab)->sym))

/* Fills *rt from lib. Returns NULL, or the name of a required call that
 * lib does not have. */
static const char *load_cudart(uv_lib_t *lib, struct cudart *rt)
{
	memset(rt, 0, sizeof(*rt));
	if (!LOAD(lib, rt, cudaGetDeviceCount))
		return "cudaGetDeviceCount";
	if (!LOAD(lib, rt, cudaDeviceGetAttribute))
		return "cudaDeviceGetAttribute";
	if (!LOAD(lib, rt, cudaDriverGetVersion))
		return "cudaDriverGetVersion";
	if (!LOAD(lib, rt, cudaRuntimeGetVersion))
		return "cudaRuntimeGetVersion";
	LOAD(lib, rt, cudaGetErrorName);
	LOAD(lib, rt, cudaGetErrorString);
	return NULL;
}

/* Fills *drv from lib, as load_cudart() does. */
static const char *load_cudrv(uv_lib_t *lib, struct cudrv *drv)
{
	memset(drv, 0, sizeof(*drv));
	if (!LOAD(lib, drv, cuInit))
		return "cuInit";
	if (!LOAD(lib, drv, cuDriverGetVersion))
		return "cuDriverGetVersion";
	if (!LOAD(lib, drv, cuDeviceGetCount))
		return "cuDeviceGetCount";
	if (!LOAD(lib, drv, cuDeviceGet))
		return "cuDeviceGet";
	if (!LOAD(lib, drv, cuDeviceGetName))
		return "cuDeviceGetName";
	if (!LOAD(lib, drv, cuDeviceTotalMem_v2))
		return "cuDeviceTotalMem_v2";
	if (!LOAD(lib, drv, cuDeviceGetAttribute))
		return "cuDeviceGetAttribute";
	LOAD(lib, drv, cuGetErrorName);
	LOAD(lib, drv, cuGetErrorString);
	return NULL;
}

/* Opens name as a CUDA runtime into *lib and *rt. false, with name noted
 * as tried and why filled, when it cannot be opened ("cannot load the CUDA
 * runtime: " and the loader's message) or lacks a call we need. */
static bool open_runtime(struct query *q, const char *name, uv_lib_t *lib,
			 struct cudart *rt, char *why, size_t len)
{
	const char *missing;

	if (uv_dlopen(name, lib) < 0) {
		const char *err = uv_dlerror(lib);

		note_tried(q, name, NULL);
		format_cut(why, len, "cannot load the CUDA runtime: %s",
			   err && *err ? err : name);
		uv_dlclose(lib); /* frees the error message */
		return false;
	}
	missing = load_cudart(lib, rt);
	if (missing) {
		note_tried(q, name, missing);
		format_cut(why, len, "cannot use the CUDA runtime: %s has no %s", name, missing);
		uv_dlclose(lib);
		return false;
	}
	return true;
}

/* Opens the driver API into *lib and *drv. false with why filled ("not
 * found") when it cannot be used. */
static bool open_driver(uv_lib_t *lib, struct cudrv *drv, char *why, size_t len)
{
	const char *missing;

	if (uv_dlopen(DRIVER_LIB, lib) < 0) {
		const char *err = uv_dlerror(lib);

		if (!err || strstr(err, "No such file"))
			snprintf(why, len, "%s not found", DRIVER_LIB);
		else
			snprintf(why, len, "%s cannot be loaded: %s", DRIVER_LIB, err);
		uv_dlclose(lib);
		return false;
	}
	missing = load_cudrv(lib, drv);
	if (missing) {
		snprintf(why, len, "%s has no %s", DRIVER_LIB, missing);
		uv_dlclose(lib);
		return false;
	}
	return true;
}

/* The device's name and memory from the driver API; left empty and 0
 * (unknown) when it does not answer. */
static void device_details(const struct cudrv *drv, int ordinal, struct gpu_device *d)
{
	int dev;

	if (drv->cuDeviceGet(&dev, ordinal) != 0)
		return;
	if (drv->cuDeviceGetName(d->name, (int)sizeof(d->name), dev) != 0)
		d->name[0] = '\0';
	d->name[sizeof(d->name) - 1] = '\0';
	if (drv->cuDeviceTotalMem_v2(&d->total_mem, dev) != 0)
		d->total_mem = 0;
}

static void note_skipped(struct query *q, const char *lib, int ordinal,
			 const char *call, const char *err)
{
	if (!q->skipped[0])
		format_cut(q->skipped, sizeof(q->skipped), "%s: device %d: %s failed: %s",
			   lib, ordinal, call, err);
}

/* After the devices were asked: available when one answered. A device that
 * did not answer is left out, and named in the reason as a note. */
static void finish_devices(struct query *q, const char *lib, int n)
{
	struct gpu_info *info = q->info;

	info->available = info->count > 0;
	if (q->skipped[0])
		set_reason(info, "%s", q->skipped);
	else if (n > GPU_MAX)
		set_reason(info, "%s: %d devices, only the first %d are listed",
			   lib, n, GPU_MAX);
}

/*
 * Asks the runtime in lib. Names and memory come from the driver API, found
 * in the same library first (a fake runtime brings its own) and then in
 * libcuda.so.1, which a working runtime has loaded already; without it they
 * stay unknown, as cudaMemGetInfo() would create a context on each device
 * and cudaGetDeviceProperties() is not ABI-stable.
 */
static void query_runtime(struct query *q, const char *name, uv_lib_t *lib,
			  const struct cudart *rt)
{
	struct gpu_info *info = q->info;
	const char *shown = base_name(name);
	char err_text[160], why[128];
	struct cudrv drv;
	uv_lib_t drv_lib;
	bool have_drv;
	int n = 0, err, i;

	cb_strlcpy(info->library, name, sizeof(info->library));
	stage(q->fd, "%s: cudaDriverGetVersion", shown);
	if (rt->cudaDriverGetVersion(&info->driver_version) != 0)
		info->driver_version = 0;
	stage(q->fd, "%s: cudaRuntimeGetVersion", shown);
	if (rt->cudaRuntimeGetVersion(&info->runtime_version) != 0)
		info->runtime_version = 0;
	stage(q->fd, "%s: cudaGetDeviceCount", shown);
	err = rt->cudaGetDeviceCount(&n);
	if (err) {
		runtime_error(err_text, sizeof(err_text), rt, err);
		set_reason(info, "%s: cudaGetDeviceCount failed: %s", shown, err_text);
		return;
	}
	if (n <= 0) {
		set_reason(info, "%s: no CUDA device (cudaGetDeviceCount found none)", shown);
		return;
	}

	have_drv = !load_cudrv(lib, &drv) || open_driver(&drv_lib, &drv, why, sizeof(why));
	if (have_drv) {
		stage(q->fd, "%s: cuInit", shown);
		have_drv = drv.cuInit(0) == 0;
	}
	for (i = 0; i < n && info->count < GPU_MAX; i++) {
		struct gpu_device *d = &info->dev[info->count];

		stage(q->fd, "%s: device %d", shown, i);
		err = rt->cudaDeviceGetAttribute(&d->cc_major, ATTR_CC_MAJOR, i);
		if (!err)
			err = rt->cudaDeviceGetAttribute(&d->cc_minor, ATTR_CC_MINOR, i);
		if (err) {
			runtime_error(err_text, sizeof(err_text), rt, err);
			note_skipped(q, shown, i, "cudaDeviceGetAttribute", err_text);
			memset(d, 0, sizeof(*d));
			continue;
		}
		d->index = i;
		if (have_drv)
			device_details(&drv, i, d);
		info->count++;
	}
	finish_devices(q, shown, n);
}

/* Asks the driver API alone: no runtime could be used. */
static void query_driver(struct query *q, const struct cudrv *drv)
{
	struct gpu_info *info = q->info;
	char err_text[160];
	int n = 0, err, i;

	cb_strlcpy(info->library, DRIVER_LIB, sizeof(info->library));
	info->driver_api = true;
	stage(q->fd, "%s: cuInit", DRIVER_LIB);
	err = drv->cuInit(0);
	if (err) {
		driver_error(err_text, sizeof(err_text), drv, err);
		set_reason(info, "%s: cuInit failed: %s", DRIVER_LIB, err_text);
		return;
	}
	stage(q->fd, "%s: cuDriverGetVersion", DRIVER_LIB);
	if (drv->cuDriverGetVersion(&info->driver_version) != 0)
		info->driver_version = 0;
	stage(q->fd, "%s: cuDeviceGetCount", DRIVER_LIB);
	err = drv->cuDeviceGetCount(&n);
	if (err) {
		driver_error(err_text, sizeof(err_text), drv, err);
		set_reason(info, "%s: cuDeviceGetCount failed: %s", DRIVER_LIB, err_text);
		return;
	}
	if (n <= 0) {
		set_reason(info, "%s: no CUDA device (cuDeviceGetCount found none)", DRIVER_LIB);
		return;
	}
	for (i = 0; i < n && info->count < GPU_MAX; i++) {
		struct gpu_device *d = &info->dev[info->count];
		int dev;

		stage(q->fd, "%s: device %d", DRIVER_LIB, i);
		err = drv->cuDeviceGet(&dev, i);
		if (!err)
			err = drv->cuDeviceGetAttribute(&d->cc_major, ATTR_CC_MAJOR, dev);
		if (!err)
			err = drv->cuDeviceGetAttribute(&d->cc_minor, ATTR_CC_MINOR, dev);
		if (err) {
			driver_error(err_text, sizeof(err_text), drv, err);
			note_skipped(q, DRIVER_LIB, i, "cuDeviceGetAttribute", err_text);
			memset(d, 0, sizeof(*d));
			continue;
		}
		d->index = i;
		device_details(drv, i, d);
		info->count++;
	}
	finish_devices(q, DRIVER_LIB, n);
}

/* ---- where a runtime may be ---- */

#define MAX_FOUND 64

/* Runtimes below a site-packages folder, as pip installs them: the CUDA 12
 * (and 11) wheel, the CUDA 13 wheels that share one lib folder, and the
 * copy older torch wheels bundle (libcudart-<hash>.so.11.0). */
static const char *const site_runtimes[] = {
	"nvidia/cuda_runtime/lib/libcudart.so*",
	"nvidia/cu[0-9]*/lib/libcudart.so*",
	"torch/lib/libcudart*.so*",
};

/* The libraries to try, in order; each string is owned. */
struct found {
	char *name[MAX_FOUND];
	size_t n;
};

static void found_add(struct found *f, const char *name)
{
	if (f->n < MAX_FOUND)
		f->name[f->n++] = xstrdup(name);
}

static void found_release(struct found *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		free(f->name[i]);
	f->n = 0;
}

/* dir with glob's special characters escaped, then rest (a pattern). */
static char *glob_under(const char *dir, const char *rest)
{
	size_t n = strlen(dir), i, k = 0;
	char *esc = xmalloc(2 * n + 1), *pattern;

	for (i = 0; i < n; i++) {
		if (strchr("*?[\\", dir[i]))
			esc[k++] = '\\';
		esc[k++] = dir[i];
	}
	esc[k] = '\0';
	pattern = cb_fmt("%s/%s", esc, rest);
	free(esc);
	return pattern;
}

/* Adds the files that match pattern, in glob's (sorted) order. */
static void find_glob(struct found *f, char *pattern)
{
	glob_t g;
	size_t i;

	if (glob(pattern, 0, NULL, &g) == 0)
		for (i = 0; i < g.gl_pathc; i++)
			found_add(f, g.gl_pathv[i]);
	globfree(&g);
	free(pattern);
}

/* Adds the runtimes below dir/site, where site is a pattern for the
 * site-packages folders below dir (PY_SITE, say). */
static void find_in_site(struct found *f, const char *dir, const char *site)
{
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(site_runtimes); i++) {
		char *rest = cb_fmt("%s/%s", site, site_runtimes[i]);

		find_glob(f, glob_under(dir, rest));
		free(rest);
	}
}

static const char *env_dir(const char *name)
{
	const char *v = getenv(name);

	return v && *v == '/' ? v : NULL;
}

#define PY_SITE "lib/python3.[0-9]*/site-packages"
#define PY_DIST "lib/python3.[0-9]*/dist-packages"

/* The runtimes to try, in gpu.h's order (steps 2 to 4). */
static void find_runtimes(struct found *f)
{
	const char *venv = env_dir("VIRTUAL_ENV"), *conda = env_dir("CONDA_PREFIX");
	const char *home = env_dir("HOME");
	size_t i;

	if (venv)
		find_in_site(f, venv, PY_SITE);
	if (conda) {
		find_glob(f, glob_under(conda, "lib/libcudart.so*"));
		find_in_site(f, conda, PY_SITE);
	}
	for (i = 0; i < CB_ARRAY_SIZE(runtime_libs); i++)
		found_add(f, runtime_libs[i]);
	find_in_site(f, "/usr/local", PY_DIST);
	find_in_site(f, "/usr/local", PY_SITE);
	find_in_site(f, "/usr/lib/python3", "dist-packages");
	if (home)
		find_in_site(f, home, ".local/" PY_SITE);
}

/* ---- the child: load, ask, report ---- */

/*
 * The order of gpu.h. A library named by --cudart (explicit) answers
 * alone, whatever it says, and so does one named by $CASEBISECT_CUDART
 * that loads (tests rely on it). Otherwise a runtime that finds no device
 * does not end the search: libcudart.so.13 on a driver made for CUDA 12
 * says cudaErrorInsufficientDriver while libcudart.so.12 or the driver API
 * would list the devices. The driver API has the last word.
 */
static void query(struct query *q, const char *explicit_lib)
{
	struct gpu_info *info = q->info;
	const char *env = getenv("CASEBISECT_CUDART");
	int (*asked[MAX_FOUND])(int *);
	char first[sizeof(info->reason)] = "", why[sizeof(info->reason)];
	struct found f = { .n = 0 };
	size_t n_asked = 0, i, j;
	struct cudart rt;
	struct cudrv drv;
	uv_lib_t lib;

	if (explicit_lib) {
		if (open_runtime(q, explicit_lib, &lib, &rt, why, sizeof(why)))
			query_runtime(q, explicit_lib, &lib, &rt);
		else
			set_reason(info, "%s", why);
		return;
	}
	if (env && *env && open_runtime(q, env, &lib, &rt, why, sizeof(why))) {
		query_runtime(q, env, &lib, &rt);
		return;
	}
	stage(q->fd, "looking for the CUDA runtime");
	find_runtimes(&f);
	for (i = 0; i < f.n; i++) {
		if (!open_runtime(q, f.name[i], &lib, &rt, why, sizeof(why)))
			continue;
		/* libcudart.so is often a link to libcudart.so.13, and a
		 * folder may hold a file and its links: ask each once. */
		for (j = 0; j < n_asked && asked[j] != rt.cudaGetDeviceCount; j++)
			;
		if (j < n_asked)
			continue;
		asked[n_asked++] = rt.cudaGetDeviceCount;
		query_runtime(q, f.name[i], &lib, &rt);
		if (info->available)
			goto out;
		if (!first[0])
			cb_strlcpy(first, info->reason, sizeof(first));
		memset(info, 0, sizeof(*info));
		q->skipped[0] = '\0';
	}
	if (open_driver(&lib, &drv, why, sizeof(why))) {
		query_driver(q, &drv);
		goto out;
	}
	note_tried(q, DRIVER_LIB, NULL);
	if (first[0])
		set_reason(info, "no NVIDIA driver (%s); %s", why, first);
	else
		set_reason(info, "no CUDA runtime or driver found (tried %s)", q->tried);
out:
	found_release(&f);
}

/* Hold no descriptor of the parent's, not even stdout and stderr: a pipe
 * that a hung (or unkillable) child keeps open never reaches EOF, and
 * whoever reads a trial's output or casebisect's own would wait for it.
 * The library's chatter, if any, is lost; its error codes are what we
 * report. Returns the pipe to the parent, now fd 3. */
static int child_fds(int fd)
{
	int null;

	if (fd != 3) {
		if (dup2(fd, 3) < 0)
			_exit(1);
		fd = 3;
	}
	close_range(4, ~0U, 0); /* best effort: ENOSYS before Linux 5.9 */
	null = open("/dev/null", O_RDWR);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
		_exit(1);
	if (null > 3)
		close(null);
	return fd;
}

/* What a child does once its descriptors are set: asks, sends stage
 * records and at last its answer (send_result), and returns. */
typedef void (*child_task)(int fd, const void *arg);

static void discover_task(int fd, const void *arg)
{
	static struct gpu_info info; /* the child's own copy; no stack worry */
	struct query q;

	memset(&info, 0, sizeof(info));
	memset(&q, 0, sizeof(q));
	q.fd = fd;
	q.info = &info;
	query(&q, arg);
	send_result(fd, &info, sizeof(info));
}

/* ---- the parent: wait, read, reap ---- */

static struct timespec deadline_after(int ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Milliseconds until t, rounded up; 0 when it has passed. */
static int ms_left(const struct timespec *t)
{
	struct timespec now;
	long long ns;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (long long)(t->tv_sec - now.tv_sec) * 1000000000LL + (t->tv_nsec - now.tv_nsec);
	if (ns <= 0)
		return 0;
	ns = (ns + 999999) / 1000000;
	return ns > INT_MAX ? INT_MAX : (int)ns;
}

enum read_end { READ_DONE, READ_EOF, READ_TIMEOUT };

/* Reads exactly len bytes unless EOF, an error or the deadline comes first. */
static enum read_end read_full(int fd, void *buf, size_t len, const struct timespec *deadline)
{
	char *p = buf;

	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, ms_left(deadline));
		ssize_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return READ_EOF;
		if (r == 0)
			return READ_TIMEOUT;
		n = read(fd, p, len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return READ_EOF;
		p += n;
		len -= (size_t)n;
	}
	return READ_DONE;
}

enum collect_end { GOT_RESULT, NO_RESULT, TIMED_OUT };

/* Reads the child's records until its answer, size bytes into answer;
 * where holds the last stage. */
static enum collect_end collect(int fd, const struct timespec *deadline,
				void *answer, size_t size, char *where)
{
	char kind, text[STAGE_LEN];
	enum read_end r;

	for (;;) {
		r = read_full(fd, &kind, 1, deadline);
		if (r == READ_DONE && kind == MSG_STAGE) {
			r = read_full(fd, text, sizeof(text), deadline);
			if (r == READ_DONE) {
				text[sizeof(text) - 1] = '\0';
				memcpy(where, text, sizeof(text));
				continue;
			}
		} else if (r == READ_DONE && kind == MSG_RESULT) {
			r = read_full(fd, answer, size, deadline);
			if (r == READ_DONE)
				return GOT_RESULT;
		} else if (r == READ_DONE) {
			return NO_RESULT; /* cannot happen: we wrote it */
		}
		return r == READ_TIMEOUT ? TIMED_OUT : NO_RESULT;
	}
}

static void nap(long *us)
{
	struct timespec t = { .tv_sec = 0, .tv_nsec = *us * 1000L };

	nanosleep(&t, NULL);
	if (*us < 10000)
		*us *= 2;
}

enum reap_end {
	REAPED,     /* *status holds how it ended */
	GONE,       /* reaped by the kernel (SIGCHLD ignored); status unknown */
	LEFT_BEHIND /* did not die within REAP_GRACE_MS of SIGKILL */
};

/* Waits for pid until the deadline, then kills it and waits a little more. */
static enum reap_end reap(pid_t pid, const struct timespec *deadline, int *status)
{
	struct timespec give_up = { 0, 0 };
	bool killed = false;
	long us = 100;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return REAPED;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return GONE;
		if (!killed && ms_left(deadline) == 0) {
			kill(pid, SIGKILL);
			killed = true;
			give_up = deadline_after(REAP_GRACE_MS);
			us = 100;
		} else if (killed && ms_left(&give_up) == 0) {
			return LEFT_BEHIND;
		}
		nap(&us);
	}
}

/* A child process that asks for us, as the parent sees it. */
struct child {
	pid_t pid;             /* 0: not started */
	int fd;                /* the read end of its pipe; -1 once closed */
	char where[STAGE_LEN]; /* its last stage */
	enum collect_end end;
	enum reap_end reaped;
	int status;            /* how it ended, when reaped == REAPED */
	double seconds;        /* from its start until its answer or the deadline */
	struct timespec start;
};

/* Starts task(arg) in a child whose first stage is what. 0, or -1 with err
 * filled ("fork: Resource temporarily unavailable"). */
static int child_start(struct child *c, child_task task, const void *arg,
		       const char *what, char *err, size_t errlen)
{
	int fds[2];

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	cb_strlcpy(c->where, what, sizeof(c->where));
	if (pipe2(fds, O_CLOEXEC) < 0) {
		format_cut(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	c->pid = fork();
	if (c->pid < 0) {
		format_cut(err, errlen, "fork: %s", strerror(errno));
		c->pid = 0;
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (c->pid == 0) {
		close(fds[0]);
		task(child_fds(fds[1]), arg);
		_exit(0);
	}
	close(fds[1]);
	c->fd = fds[0];
	return 0;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Reads c's answer (size bytes) until the deadline, and closes its pipe. */
static void child_collect(struct child *c, const struct timespec *deadline,
			  void *answer, size_t size)
{
	c->end = collect(c->fd, deadline, answer, size, c->where);
	c->seconds = seconds_since(&c->start);
	close(c->fd);
	c->fd = -1;
}

/* Appends "; NOUN process PID did not exit after SIGKILL" to buf when c
 * was left behind. */
static void note_left_behind(const struct child *c, const char *noun, char *buf, size_t len)
{
	size_t used = strlen(buf);

	if (c->reaped == LEFT_BEHIND && used + 1 < len)
		snprintf(buf + used, len - used, "; %s process %ld did not exit after SIGKILL",
			 noun, (long)c->pid);
}

/* ---- discovery ---- */

void gpu_discover(struct gpu_info *info, int timeout_ms)
{
	gpu_discover_from(info, NULL, timeout_ms);
}

void gpu_discover_from(struct gpu_info *info, const char *cudart, int timeout_ms)
{
	struct timespec deadline;
	struct child c;
	char err[128];
	size_t i;

	assert(info);
	assert(timeout_ms > 0);
	memset(info, 0, sizeof(*info));
	deadline = deadline_after(timeout_ms);
	if (child_start(&c, discover_task, cudart, "the CUDA query", err, sizeof(err)) < 0) {
		set_reason(info, "cannot ask for GPUs: %s", err);
		return;
	}
	child_collect(&c, &deadline, info, sizeof(*info));
	c.reaped = reap(c.pid, &deadline, &c.status);

	if (c.end == GOT_RESULT) {
		/* Same program, same layout; still, a string must end in its
		 * buffer. A child slow to exit after answering does not matter. */
		info->reason[sizeof(info->reason) - 1] = '\0';
		info->library[sizeof(info->library) - 1] = '\0';
		if (info->count > GPU_MAX)
			info->count = GPU_MAX;
		for (i = 0; i < info->count; i++)
			info->dev[i].name[sizeof(info->dev[i].name) - 1] = '\0';
		return;
	}
	memset(info, 0, sizeof(*info));
	if (c.end == TIMED_OUT)
		set_reason(info, "%s timed out after %d ms (a hung driver?)", c.where, timeout_ms);
	else if (c.reaped == REAPED && WIFSIGNALED(c.status))
		set_reason(info, "%s crashed: the query process was killed by signal %d (%s)",
			   c.where, WTERMSIG(c.status), strsignal(WTERMSIG(c.status)));
	else if (c.reaped == REAPED && WIFEXITED(c.status))
		set_reason(info, "%s failed: the query process exited with status %d",
			   c.where, WEXITSTATUS(c.status));
	else
		set_reason(info, "%s failed: the query process ended without an answer", c.where);
	note_left_behind(&c, "query", info->reason, sizeof(info->reason));
}

/* ---- --gpus ---- */

static CB_PRINTF(3, 4) int select_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static bool has_device(const struct gpu_info *info, int index)
{
	size_t i;

	for (i = 0; i < info->count; i++)
		if (info->dev[i].index == index)
			return true;
	return false;
}

/* "0..3", "only 0", or "0, 1, 3": the ordinals info lists. */
static void describe_devices(const struct gpu_info *info, char *buf, size_t len)
{
	bool contiguous = true;
	size_t i, used = 0;

	buf[0] = '\0';
	if (info->count == 1) {
		snprintf(buf, len, "only device %d", info->dev[0].index);
		return;
	}
	for (i = 1; i < info->count; i++)
		if (info->dev[i].index != info->dev[i - 1].index + 1)
			contiguous = false;
	if (contiguous) {
		snprintf(buf, len, "%d..%d", info->dev[0].index,
			 info->dev[info->count - 1].index);
		return;
	}
	for (i = 0; i < info->count && used + 1 < len; i++) {
		int w = snprintf(buf + used, len - used, "%s%d", i ? ", " : "",
				 info->dev[i].index);

		if (w < 0)
			break;
		used += (size_t)w;
	}
}

int gpu_select(const char *spec, const struct gpu_info *info, int *out, size_t max,
	       size_t *n, char *err, size_t errlen)
{
	static const char expected[] = "expected auto, none or a list such as 0,2,3";
	const char *p = spec;
	size_t i, k = 0;

	assert(spec && info && n);
	*n = 0;
	if (strcmp(spec, "none") == 0)
		return 0;
	if (strcmp(spec, "auto") == 0) {
		if (!info->available)
			return 0;
		if (info->count > max)
			return select_error(err, errlen, "--gpus: %zu devices found, more than %zu",
					    info->count, max);
		for (i = 0; i < info->count; i++)
			out[i] = info->dev[i].index;
		*n = info->count;
		return 0;
	}
	if (!*spec)
		return select_error(err, errlen, "--gpus: empty value (%s)", expected);
	for (;;) {
		size_t len = strcspn(p, ",");
		long v = 0;

		if (!len)
			return select_error(err, errlen, "--gpus: empty device number in '%s' (%s)",
					    spec, expected);
		for (i = 0; i < len; i++) {
			if (p[i] < '0' || p[i] > '9')
				return select_error(err, errlen,
						    "--gpus: '%.*s' is not a device number (%s)",
						    (int)len, p, expected);
			v = v * 10 + (p[i] - '0');
			if (v > INT_MAX)
				return select_error(err, errlen,
						    "--gpus: device '%.*s' is out of range",
						    (int)len, p);
		}
		for (i = 0; i < k; i++)
			if (out[i] == (int)v)
				return select_error(err, errlen, "--gpus: device %ld is listed twice", v);
		if (info->available && !has_device(info, (int)v)) {
			char have[128];

			describe_devices(info, have, sizeof(have));
			return select_error(err, errlen, "--gpus: device %ld not found; this machine has %s",
					    v, have);
		}
		if (k == max)
			return select_error(err, errlen, "--gpus: more than %zu devices listed", max);
		out[k++] = (int)v;
		p += len;
		if (!*p)
			break;
		p++; /* the comma */
	}
	*n = k;
	return 0;
}

/* ---- the health probe ---- */

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

static const char *load_cudart_probe(uv_lib_t *lib, struct cudart_probe *rt)
{
	memset(rt, 0, sizeof(*rt));
	if (!LOAD(lib, rt, cudaSetDevice))
		return "cudaSetDevice";
	if (!LOAD(lib, rt, cudaMalloc))
		return "cudaMalloc";
	if (!LOAD(lib, rt, cudaMemset))
		return "cudaMemset";
	if (!LOAD(lib, rt, cudaDeviceSynchronize))
		return "cudaDeviceSynchronize";
	if (!LOAD(lib, rt, cudaFree))
		return "cudaFree";
	LOAD(lib, rt, cudaGetErrorName);
	LOAD(lib, rt, cudaGetErrorString);
	return NULL;
}

static const char *load_cudrv_probe(uv_lib_t *lib, struct cudrv_probe *drv)
{
	memset(drv, 0, sizeof(*drv));
	if (!LOAD(lib, drv, cuInit))
		return "cuInit";
	if (!LOAD(lib, drv, cuDeviceGet))
		return "cuDeviceGet";
	if (!LOAD(lib, drv, cuDevicePrimaryCtxRetain))
		return "cuDevicePrimaryCtxRetain";
	if (!LOAD(lib, drv, cuCtxSetCurrent))
		return "cuCtxSetCurrent";
	if (!LOAD(lib, drv, cuMemAlloc_v2))
		return "cuMemAlloc_v2";
	if (!LOAD(lib, drv, cuMemsetD8_v2))
		return "cuMemsetD8_v2";
	if (!LOAD(lib, drv, cuCtxSynchronize))
		return "cuCtxSynchronize";
	if (!LOAD(lib, drv, cuMemFree_v2))
		return "cuMemFree_v2";
	LOAD(lib, drv, cuGetErrorName);
	LOAD(lib, drv, cuGetErrorString);
	return NULL;
}

/* Fills a with the error of a failed call: "cudaMalloc (64 MiB) failed:
 * cudaErrorMemoryAllocation (out of memory)". */
static void probe_call_failed(struct probe_answer *a, const char *call, int code, bool driver,
			      const char *name, const char *text)
{
	error_parts(code, driver, &name, &text);
	a->code = code;
	cb_strlcpy(a->name, name ? name : "", sizeof(a->name));
	if (name && text)
		format_cut(a->error, sizeof(a->error), "%s failed: %s (%s)", call, name, text);
	else if (name)
		format_cut(a->error, sizeof(a->error), "%s failed: %s", call, name);
	else
		format_cut(a->error, sizeof(a->error), "%s failed: error %d", call, code);
}

/* Opens the library for a probe; false with a->error filled when it
 * cannot be opened. */
static bool probe_open(int fd, const char *library, uv_lib_t *lib, struct probe_answer *a)
{
	stage(fd, "dlopen(%s)", library);
	if (uv_dlopen(library, lib) == 0)
		return true;
	format_cut(a->error, sizeof(a->error), "cannot load %s: %s", library,
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
	stage(fd, "%s", what);
	err = rt->cudaSetDevice(t->device);
	if (!err) {
		snprintf(what, sizeof(what), "cudaMalloc%s", mib);
		stage(fd, "%s", what);
		err = rt->cudaMalloc(&p, GPU_PROBE_BYTES);
	}
	if (!err) {
		snprintf(what, sizeof(what), "cudaMemset%s", mib);
		stage(fd, "%s", what);
		err = rt->cudaMemset(p, 0xa5, GPU_PROBE_BYTES);
	}
	if (!err) {
		snprintf(what, sizeof(what), "cudaDeviceSynchronize");
		stage(fd, "%s", what);
		err = rt->cudaDeviceSynchronize();
	}
	if (!err) {
		snprintf(what, sizeof(what), "cudaFree");
		stage(fd, "%s", what);
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
	stage(fd, "%s", what);
	err = drv->cuInit(0);
	if (!err) {
		snprintf(what, sizeof(what), "cuDeviceGet(%d)", t->device);
		stage(fd, "%s", what);
		err = drv->cuDeviceGet(&dev, t->device);
	}
	if (!err) {
		snprintf(what, sizeof(what), "cuDevicePrimaryCtxRetain");
		stage(fd, "%s", what);
		err = drv->cuDevicePrimaryCtxRetain(&ctx, dev);
	}
	if (!err) {
		snprintf(what, sizeof(what), "cuCtxSetCurrent");
		stage(fd, "%s", what);
		err = drv->cuCtxSetCurrent(ctx);
	}
	if (!err) {
		snprintf(what, sizeof(what), "cuMemAlloc%s", mib);
		stage(fd, "%s", what);
		err = drv->cuMemAlloc_v2(&p, GPU_PROBE_BYTES);
	}
	if (!err) {
		snprintf(what, sizeof(what), "cuMemsetD8%s", mib);
		stage(fd, "%s", what);
		err = drv->cuMemsetD8_v2(p, 0xa5, GPU_PROBE_BYTES);
	}
	if (!err) {
		snprintf(what, sizeof(what), "cuCtxSynchronize");
		stage(fd, "%s", what);
		err = drv->cuCtxSynchronize();
	}
	if (!err) {
		snprintf(what, sizeof(what), "cuMemFree");
		stage(fd, "%s", what);
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
			format_cut(a.error, sizeof(a.error), "cannot probe: %s has no %s",
				   t->library, rt_missing ? rt_missing : drv_missing);
	}
	a.seconds = seconds_since(&t0);
	send_result(fd, &a, sizeof(a));
}

/* Fills r from how child c ended and what it answered. */
static void probe_result(struct gpu_probe_result *r, const struct child *c,
			 struct probe_answer *a, int timeout_ms)
{
	if (c->end == GOT_RESULT) {
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
	if (c->end == TIMED_OUT) {
		r->state = GPU_PROBE_HUNG;
		r->seconds = timeout_ms / 1000.0;
		format_cut(r->error, sizeof(r->error),
			   "%s did not return within %g s; the probe process was killed",
			   c->where, timeout_ms / 1000.0);
	} else if (c->reaped == REAPED && WIFSIGNALED(c->status)) {
		format_cut(r->error, sizeof(r->error),
			   "the probe process was killed by signal %d (%s) in %s",
			   WTERMSIG(c->status), strsignal(WTERMSIG(c->status)), c->where);
	} else if (c->reaped == REAPED && WIFEXITED(c->status)) {
		format_cut(r->error, sizeof(r->error),
			   "the probe process exited with status %d in %s, without an answer",
			   WEXITSTATUS(c->status), c->where);
	} else {
		format_cut(r->error, sizeof(r->error),
			   "the probe process ended in %s without an answer", c->where);
	}
	note_left_behind(c, "probe", r->error, sizeof(r->error));
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
	struct child *kids;
	struct probe_answer *answers;
	struct timespec deadline;
	struct probe_task task;
	char err[128];
	size_t i;

	assert(info && (devices || !n) && (out || !n));
	assert(timeout_ms > 0);
	kids = xcalloc(n ? n : 1, sizeof(*kids));
	answers = xcalloc(n ? n : 1, sizeof(*answers));
	deadline = deadline_after(timeout_ms);
	for (i = 0; i < n; i++) {
		struct gpu_probe_result *r = &out[i];

		memset(r, 0, sizeof(*r));
		r->device = devices[i];
		r->state = GPU_PROBE_FAILED;
		if (!info->available) {
			format_cut(r->error, sizeof(r->error), "no GPU available: %s",
				   info->reason[0] ? info->reason : "no device found");
			continue;
		}
		if (!has_device(info, devices[i])) {
			char have[128];

			describe_devices(info, have, sizeof(have));
			format_cut(r->error, sizeof(r->error), "device %d not found; this machine has %s",
				   devices[i], have);
			continue;
		}
		task.library = info->library;
		task.driver_api = info->driver_api;
		task.device = devices[i];
		if (child_start(&kids[i], probe_task_run, &task, "the probe's start", err,
				sizeof(err)) < 0)
			format_cut(r->error, sizeof(r->error), "cannot start the probe: %s", err);
	}
	for (i = 0; i < n; i++)
		if (kids[i].pid > 0)
			child_collect(&kids[i], &deadline, &answers[i], sizeof(answers[i]));
	for (i = 0; i < n; i++)
		if (kids[i].pid > 0 && kids[i].end != GOT_RESULT)
			kill(kids[i].pid, SIGKILL);
	for (i = 0; i < n; i++) {
		if (kids[i].pid <= 0)
			continue;
		kids[i].reaped = reap(kids[i].pid, &deadline, &kids[i].status);
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
