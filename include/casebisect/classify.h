/* classify: how did a training run end? A streaming classifier that reads a
 * run's stdout and stderr as they arrive and names the failure it shows. */
#ifndef CASEBISECT_CLASSIFY_H
#define CASEBISECT_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Classes (../shared/DESIGN.md). CLS_NONE: no failure seen.
 */
enum cls_class {
	CLS_NONE = 0,
	CLS_DEVICE_ASSERT,   /* a CUDA kernel assertion: out-of-range label, index */
	CLS_ILLEGAL_ACCESS,  /* illegal address, misaligned address, launch failure */
	CLS_OOM,             /* CUDA (or host allocator) out of memory */
	CLS_CUDNN_CUBLAS,    /* cuDNN / cuBLAS status errors */
	CLS_NCCL,            /* NCCL errors and collective timeouts */
	CLS_ENV_MISMATCH,    /* driver / toolkit / PyTorch build does not fit the GPU */
	CLS_CPU_INDEX_ERROR, /* the same bad index, caught on the CPU */
	CLS_DATA_ERROR,      /* a case could not be read, or a data worker died */
	CLS_HOST_KILL,       /* killed from outside: OOM killer, SIGKILL, Slurm */
	CLS_SEGFAULT,        /* SIGSEGV / SIGBUS / SIGABRT without a known cause */
	CLS_OTHER_ERROR,     /* any other exception or non-zero exit */
	CLS__COUNT
};

/* How strictly two signatures must agree to count as the same failure. */
enum cls_match {
	CLS_MATCH_CLASS = 0, /* the class only */
	CLS_MATCH_KERNEL,    /* class + CUDA kernel + assertion expression; for
			      * Python failures (other_error, data_error) also
			      * the exception type and the raising frame */
	CLS_MATCH_EXACT,     /* kernel level + exception type + source file */
};

/* The two output streams of a run; each is split into lines on its own, so
 * bytes of one never complete a line of the other. */
enum cls_stream { CLS_STDOUT = 0, CLS_STDERR = 1 };

/* Text fields are NUL-terminated, "" when absent, and cut at their size
 * (cuts end on a UTF-8 boundary; invalid UTF-8 is replaced by U+FFFD). */
#define CLS_NAME_MAX 160
#define CLS_TEXT_MAX 640
#define CLS_EVIDENCE_MAX 4096

struct cls_signature {
	enum cls_class klass;
	char kernel[CLS_NAME_MAX];      /* "nll_loss2d_forward_kernel" */
	char assert_expr[CLS_TEXT_MAX]; /* "t >= 0 && t < n_classes" */
	char source[CLS_TEXT_MAX];      /* "../aten/src/ATen/native/cuda/Loss.cu:250" */
	char exception[CLS_NAME_MAX];   /* "RuntimeError", "c10::Error" */
	char message[CLS_TEXT_MAX];     /* the exception's message */
	char frame[CLS_TEXT_MAX];       /* "dice.py:forward": the frame that raised it */
	char error_code[CLS_NAME_MAX];  /* "cudaErrorIllegalAddress", "error=59" */
	char evidence[CLS_EVIDENCE_MAX];/* the decisive line, verbatim (ANSI removed) */
	uint64_t line;                  /* its 1-based line number; 0 when none */
	enum cls_stream stream;         /* the stream it came from */
	bool exit_known;                /* exit status given to cls_finish() */
	int exit_code;                  /* exit code, or -1 when killed by a signal */
	int exit_signal;                /* the signal, or 0 */
};

/* How the process ended, as far as the caller knows. */
struct cls_exit {
	bool known;          /* false: output only (a log file) */
	int code;            /* exit code when !signal */
	int signal;          /* terminating signal, 0 when it exited */
	bool sent_by_us;     /* the supervisor sent that signal to end the trial */
};

/*
 * Precedence: which line decides the class.
 *
 * Every line that says something is an item of evidence with a class and a
 * strength. The strongest evidence wins; among equals, the earliest line.
 * Strengths, from strong to weak:
 *
 *  1. Root CUDA errors: a kernel assertion line (`Assertion `...` failed.`),
 *     "device-side assert triggered", "illegal memory access",
 *     "misaligned address", "unspecified launch failure", THC error=59/77,
 *     "CUDA out of memory" / OutOfMemoryError, and hard environment errors
 *     ("no kernel image is available", Triton's and the driver's "device
 *     kernel image is invalid", "driver ... too old", "Torch not compiled
 *     with CUDA enabled"). A CUDA error named inside an NCCL
 *     watchdog message is a root error, not an NCCL one.
 *  2. Library errors that usually echo a root error when one exists: cuDNN
 *     and cuBLAS status errors, NCCL errors and collective timeouts.
 *  3. Host-side causes: CPU index errors ("Target 5 is out of bounds",
 *     "index 5 is out of bounds for dimension 1"), unreadable or undeclared
 *     data (nnU-Net's "Unexpected labels", a missing label file, a failed
 *     read), a worker killed by SIGKILL (host_kill) or SIGSEGV/SIGBUS
 *     (segfault), the OOM killer, "Segmentation fault".
 *  4. Environment warnings (a GPU not supported by this PyTorch build, CUDA
 *     not available) and vaguer signal hints ("unexpected bus error").
 *  5. A worker process's traceback ("Process SpawnProcess-N:", a pool's
 *     RemoteTraceback, "Exception in background worker"): data_error when
 *     its frames read case files (image readers, preprocessing,
 *     fingerprinting), else other_error.
 *  6. Echoes that only say something died elsewhere: "background workers
 *     are no longer alive", "Abort event was set" (data_error when nothing
 *     stronger is seen); nnU-Net's "probably due to a lack of memory" (it is
 *     printed for any GPU error, so alone it is other_error, never oom).
 *  7. Any other exception line, "terminate called after throwing", or a
 *     traceback header: other_error.
 *
 * Then:
 *  - An environment warning (level 4) seen before the winning failure turns
 *    a GPU failure (classes device_assert .. nccl, segfault, other_error)
 *    into env_mismatch, with the warning as the decisive line. A warning
 *    with no failure after it is env_mismatch only when the exit is unknown
 *    or non-zero.
 *  - A device assertion line refines device_assert whenever it arrives
 *    (kernel, assertion, source), even after the Python exception.
 *  - Source lines under a traceback frame (`File "x.py", line N, in f` and
 *    the code line after it) are never evidence: they quote the message
 *    text (`raise RuntimeError("... no longer alive ...")`).
 *  - The exception and the frame that raised it come from the traceback
 *    that ends in the exception line: its innermost `File "...", line N,
 *    in FUNC` line, kept as file:FUNC (the frame). Chained tracebacks
 *    ("During handling of the above exception ...", "The above exception
 *    was the direct cause ...") are one failure; for other_error and
 *    data_error its last exception names it, as Python's last line does.
 *    A worker's exception re-raised in the main process counts where the
 *    worker raised it: PyTorch's DataLoader prints the worker's "Original
 *    Traceback" after its own re-raise (torch/_utils.py, reraise), so it is
 *    last anyway; multiprocessing prints the worker's RemoteTraceback
 *    first, and the main process's re-raise after it does not count.
 *  - The exit status counts only when the output shows no failure: SIGKILL
 *    (or exit 137) is host_kill; SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE
 *    (or 128+those) segfault; any other non-zero exit other_error; 0 none.
 *    A signal the supervisor sent (sent_by_us) is never evidence.
 *
 * Lines end at \n, \r\n or a lone \r (progress bars). ANSI escape sequences
 * and NUL bytes are removed before matching. A line longer than
 * CLS_LINE_MAX is cut into pieces of that size that are matched alone (the
 * rest of a 100 MB line costs time, never memory). Matching runs across
 * line ends, so a message wrapped at a space is still found; the line where
 * it ends is the evidence. Memory is constant whatever is fed.
 */
#define CLS_LINE_MAX 65536

struct cls;

/* Classifies the whole log at path ("-": stdin) into *sig as one stream
 * without an exit status (src/classify_file.c); 0, or -1 with errno set
 * when it cannot be read. */
int cls_read_file(const char *path, struct cls_signature *sig);

/* Returns a new classifier; free it with cls_free(). Aborts when out of
 * memory. */
struct cls *cls_new(void);

/* Feeds len bytes of one stream, any chunking: feeding a log one byte at a
 * time gives the same result as feeding it whole. */
void cls_feed(struct cls *c, enum cls_stream stream, const void *buf, size_t len);

/* Ends both streams (a last line without a newline counts) and applies the
 * exit status, which may be NULL (unknown). No cls_feed() after this. */
void cls_finish(struct cls *c, const struct cls_exit *exit);

/* Fills *out with what was seen so far: complete lines only, until
 * cls_finish(). Can be called at any moment, any number of times. */
void cls_result(const struct cls *c, struct cls_signature *out);

/* Has any failure been seen yet (complete lines only)? An environment
 * warning alone, or a bare traceback header, is not a failure. Cheap: for
 * deciding when to look closer with cls_result(). */
bool cls_failed(const struct cls *c);

/* Called with every complete line (or CLS_LINE_MAX piece) of either stream,
 * cleaned as the classifier sees it, right after the classifier took it in.
 * line is not NUL-terminated and only valid during the call. */
typedef void cls_line_fn(void *ctx, enum cls_stream stream, const char *line, size_t len);

/* Sets (fn NULL: clears) the line hook: how a caller watches for its own
 * markers without splitting lines again. */
void cls_set_line_hook(struct cls *c, cls_line_fn *fn, void *ctx);

/* Frees c and everything it holds; NULL is a no-op. */
void cls_free(struct cls *c);

/* A stable 64-bit FNV-1a hash over the fields of the given level. Block and
 * thread indices, addresses, sizes and line numbers never enter it: source
 * counts as its file name without directory or line, digits in an
 * assertion expression count as one '#', and the frame is file:function.
 * At the kernel level other_error and data_error add the exception type
 * and the frame, so a KeyError and a ValueError differ, and so does one
 * ValueError raised in two functions. The CUDA classes and cpu_index_error
 * do not: a bad label reaches the loss through cross_entropy or through the
 * Dice loss's scatter as the trainer goes, and it is one bug. */
uint64_t cls_fingerprint(const struct cls_signature *s, enum cls_match level);

/* The fingerprint as 16 lowercase hex digits plus NUL. */
void cls_fingerprint_hex(const struct cls_signature *s, enum cls_match level,
			 char out[17]);

/* Names as printed in reports and JSON ("device_assert", "kernel"). */
const char *cls_class_name(enum cls_class k);
const char *cls_match_name(enum cls_match m);

/* Parse a name; return 0, or -1 when it names nothing. */
int cls_class_parse(const char *name, enum cls_class *out);
int cls_match_parse(const char *name, enum cls_match *out);

#endif
