/* toytrain.cu: the CUDA build of toytrain. The program is toytrain.c, included
 * below; this file supplies its loss step: a kernel that gathers logits[label]
 * behind the device assert of PyTorch's nll_loss kernel, so a bad label ends
 * a run on a GPU with a real device-side assert. */
#define TOYTRAIN_CUDA 1
#include "toytrain.c"

#include <assert.h>
#include <cuda_runtime.h>

#define TT_THREADS 256

/* The error of the failed step, for backend_report(). */
static cudaError_t last_error = cudaSuccess;

/* One thread per voxel: nll[i] = lse - logits[t] and a count per class. The
 * assert is the one in PyTorch's nll_loss_forward kernels (ATen's Loss.cu);
 * when it fails, the CUDA context is lost and every later CUDA call of this
 * process returns cudaErrorAssert. */
static __global__ void toy_nll_loss_forward_kernel(const long long *target, size_t n,
						   const double *logits, double lse,
						   int n_classes, double *nll,
						   unsigned long long *counts)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	long long t;

	if (i >= n)
		return;
	t = target[i];
	assert(t >= 0 && t < n_classes);
	nll[i] = lse - logits[t];
	atomicAdd(&counts[t], 1ULL);
}

/* PyTorch's words for a failed CUDA call, as its check macro prints them. */
static void print_cuda_error(cudaError_t err)
{
	fprintf(stderr,
		"RuntimeError: CUDA error: %s\n"
		"CUDA kernel errors might be asynchronously reported at some other API call, "
		"so the stacktrace below might be incorrect.\n"
		"For debugging consider passing CUDA_LAUNCH_BLOCKING=1\n"
		"Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.\n",
		cudaGetErrorString(err));
}

static void backend_init(void)
{
	int count = 0, dev = 0, runtime = 0, driver = 0;
	cudaDeviceProp prop;
	cudaError_t err = cudaGetDeviceCount(&count);

	if (err == cudaSuccess && count == 0)
		err = cudaErrorNoDevice;
	if (err == cudaSuccess)
		err = cudaGetDevice(&dev);
	if (err == cudaSuccess)
		err = cudaGetDeviceProperties(&prop, dev);
	if (err != cudaSuccess) {
		fprintf(stderr, "toytrain: CUDA build: no usable CUDA device\n");
		print_cuda_error(err);
		exit(1);
	}
	cudaRuntimeGetVersion(&runtime);
	cudaDriverGetVersion(&driver);
	fprintf(stderr,
		"toytrain: CUDA build: device %d of %d, %s (compute capability %d.%d); "
		"CUDA runtime %d.%d, driver %d.%d\n",
		dev, count, prop.name, prop.major, prop.minor, runtime / 1000, runtime % 1000 / 10,
		driver / 1000, driver % 1000 / 10);
}

/* Runs the kernel over n targets; the sum of nll into *sum and the counts
 * into counts[]. Returns the first CUDA error. The launch is asynchronous:
 * a failed assert surfaces at the copy that follows (at once, under
 * CUDA_LAUNCH_BLOCKING=1), as it does in PyTorch. */
static cudaError_t run_kernel(const long long *target, size_t n, unsigned classes,
			      const double *logits, double lse, double *sum, size_t *counts)
{
	long long *d_target = NULL;
	double *d_logits = NULL, *d_nll = NULL, *nll = NULL;
	unsigned long long *d_counts = NULL, *c = NULL;
	cudaError_t err;

#define TRY(call)                          \
	do {                               \
		err = (call);              \
		if (err != cudaSuccess)    \
			goto out;          \
	} while (0)
	nll = (double *)xrealloc(NULL, n * sizeof(*nll));
	c = (unsigned long long *)xrealloc(NULL, classes * sizeof(*c));
	TRY(cudaMalloc((void **)&d_target, n * sizeof(*d_target)));
	TRY(cudaMalloc((void **)&d_nll, n * sizeof(*d_nll)));
	TRY(cudaMalloc((void **)&d_logits, classes * sizeof(*d_logits)));
	TRY(cudaMalloc((void **)&d_counts, classes * sizeof(*d_counts)));
	TRY(cudaMemcpy(d_target, target, n * sizeof(*target), cudaMemcpyHostToDevice));
	TRY(cudaMemcpy(d_logits, logits, classes * sizeof(*logits), cudaMemcpyHostToDevice));
	TRY(cudaMemset(d_counts, 0, classes * sizeof(*d_counts)));
	toy_nll_loss_forward_kernel<<<(unsigned)((n + TT_THREADS - 1) / TT_THREADS), TT_THREADS>>>(
		d_target, n, d_logits, lse, (int)classes, d_nll, d_counts);
	TRY(cudaGetLastError());
	TRY(cudaMemcpy(nll, d_nll, n * sizeof(*nll), cudaMemcpyDeviceToHost));
	TRY(cudaMemcpy(c, d_counts, classes * sizeof(*c), cudaMemcpyDeviceToHost));
#undef TRY
	*sum = 0;
	for (size_t i = 0; i < n; i++)
		*sum += nll[i];
	for (unsigned k = 0; k < classes; k++)
		counts[k] = (size_t)c[k];
out:
	/* After a failed assert these fail too; nothing is left to save. */
	cudaFree(d_target);
	cudaFree(d_nll);
	cudaFree(d_logits);
	cudaFree(d_counts);
	free(nll);
	free(c);
	return err;
}

static int backend_step(const long long *target, size_t n, unsigned classes,
			const double *logits, double lse, double *nll, size_t *counts,
			size_t *bad)
{
	cudaError_t err;

	if (n > (size_t)UINT_MAX * TT_THREADS)
		fatal("%zu voxels in one label: too many for one kernel launch", n);
	err = run_kernel(target, n, classes, logits, lse, nll, counts);
	if (err == cudaSuccess)
		return TT_OK;
	last_error = err;
	if (err == cudaErrorAssert) {
		/* The device says only that some thread's assert failed; the host
		 * still holds the targets, so it names the first bad voxel, as the
		 * CPU build does. */
		for (size_t i = 0; i < n; i++)
			if (target[i] < 0 || target[i] >= (long long)classes) {
				*bad = i;
				return TT_OUT_OF_BOUNDS;
			}
	}
	print_cuda_error(err);
	exit(1);
}

static void backend_report(long long target)
{
	(void)target; /* the device does not say which value it was */
	print_cuda_error(last_error);
}
