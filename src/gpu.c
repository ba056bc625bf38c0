/* gpu: the CUDA devices of this machine, asked of the CUDA runtime (or the
 * driver API) in a short-lived child process: where a runtime may be, which
 * library answers, and what it says of each device; see
 * include/casebisect/gpu.h. The child process is gpu_child.c's, the CUDA
 * calls' loading and error names gpu_cuda.c's, the health probe is in
 * gpu_probe.c and --gpus in gpu_select.c. */
#include <assert.h>
#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <uv.h>

#include "casebisect/gpu.h"
#include "casebisect/path.h"
#include "casebisect/util.h"
#include "gpu_child.h"
#include "gpu_cuda.h"

#define DRIVER_LIB "libcuda.so.1"

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


static const struct gpu_sym cudart_syms[] = {
	GPU_SYM(struct cudart, cudaGetDeviceCount),
	GPU_SYM(struct cudart, cudaDeviceGetAttribute),
	GPU_SYM(struct cudart, cudaDriverGetVersion),
	GPU_SYM(struct cudart, cudaRuntimeGetVersion),
	GPU_SYM_OPTIONAL(struct cudart, cudaGetErrorName),
	GPU_SYM_OPTIONAL(struct cudart, cudaGetErrorString),
};

static const struct gpu_sym cudrv_syms[] = {
	GPU_SYM(struct cudrv, cuInit),
	GPU_SYM(struct cudrv, cuDriverGetVersion),
	GPU_SYM(struct cudrv, cuDeviceGetCount),
	GPU_SYM(struct cudrv, cuDeviceGet),
	GPU_SYM(struct cudrv, cuDeviceGetName),
	GPU_SYM(struct cudrv, cuDeviceTotalMem_v2),
	GPU_SYM(struct cudrv, cuDeviceGetAttribute),
	GPU_SYM_OPTIONAL(struct cudrv, cuGetErrorName),
	GPU_SYM_OPTIONAL(struct cudrv, cuGetErrorString),
};

/* Fills *rt from lib. Returns NULL, or the name of a required call that
 * lib does not have. */
static const char *load_cudart(uv_lib_t *lib, struct cudart *rt)
{
	return gpu_load_syms(lib, rt, sizeof(*rt), cudart_syms, CB_ARRAY_SIZE(cudart_syms));
}

/* Fills *drv from lib, as load_cudart() does. */
static const char *load_cudrv(uv_lib_t *lib, struct cudrv *drv)
{
	return gpu_load_syms(lib, drv, sizeof(*drv), cudrv_syms, CB_ARRAY_SIZE(cudrv_syms));
}

static void runtime_error(char *buf, size_t len, const struct cudart *rt, int code)
{
	gpu_error_text(buf, len, code, false,
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
	gpu_error_text(buf, len, code, true, name, text);
}


#define set_reason(info, ...) cb_set_err((info)->reason, sizeof((info)->reason), __VA_ARGS__)

/* ---- the child's query ---- */

/* What the child knows while it asks. */
struct query {
	int fd;                /* the pipe to the parent */
	struct gpu_info *info; /* the answer being built */
	char tried[384];       /* libraries that could not be used, ", "-separated */
	char skipped[256];     /* the first device that did not answer, or "" */
};

static void note_tried(struct query *q, const char *name, const char *missing)
{
	size_t used = strlen(q->tried);

	if (used + 1 >= sizeof(q->tried))
		return;
	snprintf(q->tried + used, sizeof(q->tried) - used, "%s%s%s%s%s",
		 used ? ", " : "", name, missing ? " (no " : "",
		 missing ? missing : "", missing ? ")" : "");
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
		cb_set_err(why, len, "cannot load the CUDA runtime: %s",
			   err && *err ? err : name);
		uv_dlclose(lib); /* frees the error message */
		return false;
	}
	missing = load_cudart(lib, rt);
	if (missing) {
		note_tried(q, name, missing);
		cb_set_err(why, len, "cannot use the CUDA runtime: %s has no %s", name, missing);
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
		cb_set_err(q->skipped, sizeof(q->skipped), "%s: device %d: %s failed: %s",
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
	const char *shown = path_base(name);
	char err_text[160], why[128];
	struct cudrv drv;
	uv_lib_t drv_lib;
	bool have_drv;
	int n = 0, err, i;

	cb_strlcpy(info->library, name, sizeof(info->library));
	gpu_child_stage(q->fd, "%s: cudaDriverGetVersion", shown);
	if (rt->cudaDriverGetVersion(&info->driver_version) != 0)
		info->driver_version = 0;
	gpu_child_stage(q->fd, "%s: cudaRuntimeGetVersion", shown);
	if (rt->cudaRuntimeGetVersion(&info->runtime_version) != 0)
		info->runtime_version = 0;
	gpu_child_stage(q->fd, "%s: cudaGetDeviceCount", shown);
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
		gpu_child_stage(q->fd, "%s: cuInit", shown);
		have_drv = drv.cuInit(0) == 0;
	}
	for (i = 0; i < n && info->count < GPU_MAX; i++) {
		struct gpu_device *d = &info->dev[info->count];

		gpu_child_stage(q->fd, "%s: device %d", shown, i);
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
	gpu_child_stage(q->fd, "%s: cuInit", DRIVER_LIB);
	err = drv->cuInit(0);
	if (err) {
		driver_error(err_text, sizeof(err_text), drv, err);
		set_reason(info, "%s: cuInit failed: %s", DRIVER_LIB, err_text);
		return;
	}
	gpu_child_stage(q->fd, "%s: cuDriverGetVersion", DRIVER_LIB);
	if (drv->cuDriverGetVersion(&info->driver_version) != 0)
		info->driver_version = 0;
	gpu_child_stage(q->fd, "%s: cuDeviceGetCount", DRIVER_LIB);
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

		gpu_child_stage(q->fd, "%s: device %d", DRIVER_LIB, i);
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
	gpu_child_stage(q->fd, "looking for the CUDA runtime");
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

static void discover_task(int fd, const void *arg)
{
	static struct gpu_info info; /* the child's own copy; no stack worry */
	struct query q;

	memset(&info, 0, sizeof(info));
	memset(&q, 0, sizeof(q));
	q.fd = fd;
	q.info = &info;
	query(&q, arg);
	gpu_child_answer(fd, &info, sizeof(info));
}

/* ---- discovery ---- */

void gpu_discover(struct gpu_info *info, int timeout_ms)
{
	gpu_discover_from(info, NULL, timeout_ms);
}

void gpu_discover_from(struct gpu_info *info, const char *cudart, int timeout_ms)
{
	struct timespec deadline;
	struct gpu_child c;
	char err[128];
	size_t i;

	assert(info);
	assert(timeout_ms > 0);
	memset(info, 0, sizeof(*info));
	deadline = gpu_deadline_after(timeout_ms);
	if (gpu_child_start(&c, discover_task, cudart, "the CUDA query", err, sizeof(err)) < 0) {
		set_reason(info, "cannot ask for GPUs: %s", err);
		return;
	}
	gpu_child_collect(&c, &deadline, info, sizeof(*info));
	gpu_child_reap(&c, &deadline);

	if (c.end == GPU_GOT_RESULT) {
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
	if (c.end == GPU_TIMED_OUT)
		set_reason(info, "%s timed out after %d ms (a hung driver?)", c.where, timeout_ms);
	else if (c.reaped == GPU_REAPED && WIFSIGNALED(c.status))
		set_reason(info, "%s crashed: the query process was killed by signal %d (%s)",
			   c.where, WTERMSIG(c.status), strsignal(WTERMSIG(c.status)));
	else if (c.reaped == GPU_REAPED && WIFEXITED(c.status))
		set_reason(info, "%s failed: the query process exited with status %d",
			   c.where, WEXITSTATUS(c.status));
	else
		set_reason(info, "%s failed: the query process ended without an answer", c.where);
	gpu_child_note_left_behind(&c, "query", info->reason, sizeof(info->reason));
}
