/* classify: a streaming classifier of a training run's output; the rules and
 * their precedence are documented in include/casebisect/classify.h.
 *
 * Design note. Bytes are cleaned (ANSI escapes and NULs removed) and split
 * into lines per stream; each line is handed, with a '\n', to one Hyperscan
 * stream that matches every rule at once, so matching costs one pass over
 * the bytes whatever the number of rules, and messages wrapped at a space
 * still match (rules use \s+ between words). Only lines that hit a rule are
 * looked at more closely, with PCRE2, to pull out the kernel, assertion,
 * exception and error code. Everything is kept in fixed-size records, so
 * memory does not grow with the input. */
#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include <hs/hs.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "casebisect/classify.h"
#include "casebisect/util.h"

/* Evidence strengths, strong to weak (the numbered list in classify.h). */
enum {
	S_ROOT = 70,
	S_LIB = 60,
	S_HOST = 50,
	S_HINT = 40,
	S_WORKER = 30,
	S_ECHO = 20,
	S_GENERIC = 10,
	S_ENV_WARN = 5,
	S_TRACEBACK = 4,
};

/* What a rule's hit means besides (or instead of) plain evidence. */
enum rule_kind {
	K_EVIDENCE = 0, /* the line is evidence of klass at strength */
	K_ASSERT,       /* a CUDA kernel assertion line: evidence + fields */
	K_ENV_WARN,     /* an environment warning */
	K_FRAME,        /* a Python traceback frame: File "x", line N */
	K_DATA_HINT,    /* code that reads case files (in a frame line) */
	K_TRACEBACK,    /* "Traceback (most recent call last):" */
	K_WORKER,       /* a worker process's traceback starts here */
	K_REMOTE,       /* the same, for a worker the main process re-raises */
	K_CHAIN,        /* the next traceback goes on with the one before */
	K_EXCEPTION,    /* an exception line: Name(Error|Exception): ... */
	K__COUNT
};

struct rule {
	const char *re;
	enum rule_kind kind;
	enum cls_class klass;
	int strength;
	unsigned flags; /* extra Hyperscan flags */
};

#define ML HS_FLAG_MULTILINE

static const struct rule rules[] = {
	/* device_assert */
	{ "block:\\s*\\[[0-9, ]*\\],?\\s*thread:\\s*\\[[0-9, ]*\\],?\\s*Assertion\\s+`", K_ASSERT, CLS_DEVICE_ASSERT, S_ROOT, 0 },
	{ "\\.cuh?:[0-9]+:.*Assertion\\s+`[^`]*`\\s+failed", K_ASSERT, CLS_DEVICE_ASSERT, S_ROOT, 0 },
	{ "device-side\\s+assert(ion)?\\s+triggered", K_EVIDENCE, CLS_DEVICE_ASSERT, S_ROOT, 0 },
	{ "THCudaCheck\\s+FAIL.*error=59\\b", K_EVIDENCE, CLS_DEVICE_ASSERT, S_ROOT, 0 },
	{ "cuda\\s+runtime\\s+error\\s+\\(59\\)", K_EVIDENCE, CLS_DEVICE_ASSERT, S_ROOT, 0 },
	{ "cudaErrorAssert|CUDA_ERROR_ASSERT", K_EVIDENCE, CLS_DEVICE_ASSERT, S_ROOT, 0 },
	/* illegal_access */
	{ "illegal\\s+memory\\s+access", K_EVIDENCE, CLS_ILLEGAL_ACCESS, S_ROOT, 0 },
	{ "cudaErrorIllegalAddress|CUDA_ERROR_ILLEGAL_ADDRESS", K_EVIDENCE, CLS_ILLEGAL_ACCESS, S_ROOT, 0 },
	{ "misaligned\\s+address|cudaErrorMisalignedAddress|CUDA_ERROR_MISALIGNED_ADDRESS", K_EVIDENCE, CLS_ILLEGAL_ACCESS, S_ROOT, 0 },
	{ "unspecified\\s+launch\\s+failure|cudaErrorLaunchFailure|CUDA_ERROR_LAUNCH_FAILED", K_EVIDENCE, CLS_ILLEGAL_ACCESS, S_ROOT, 0 },
	{ "illegal\\s+instruction\\s+was\\s+encountered|cudaErrorIllegalInstruction", K_EVIDENCE, CLS_ILLEGAL_ACCESS, S_ROOT, 0 },
	{ "THCudaCheck\\s+FAIL.*error=77\\b|cuda\\s+runtime\\s+error\\s+\\(77\\)", K_EVIDENCE, CLS_ILLEGAL_ACCESS, S_ROOT, 0 },
	{ "Invalid\\s+__(global|shared|local)__\\s+(read|write)\\s+of\\s+size", K_EVIDENCE, CLS_ILLEGAL_ACCESS, S_ROOT, 0 },
	/* oom */
	{ "CUDA\\s+out\\s+of\\s+memory|OutOfMemoryError", K_EVIDENCE, CLS_OOM, S_ROOT, 0 },
	{ "CUDA\\s+error:\\s+out\\s+of\\s+memory|cudaErrorMemoryAllocation|CUDA_ERROR_OUT_OF_MEMORY", K_EVIDENCE, CLS_OOM, S_ROOT, 0 },
	{ "CUBLAS_STATUS_ALLOC_FAILED|CUDNN_STATUS_ALLOC_FAILED", K_EVIDENCE, CLS_OOM, S_ROOT, 0 },
	{ "DefaultCPUAllocator:\\s+can't\\s+allocate\\s+memory", K_EVIDENCE, CLS_OOM, S_ROOT, 0 },
	/* env_mismatch: hard errors */
	{ "no\\s+kernel\\s+image\\s+is\\s+available|cudaErrorNoKernelImageForDevice|CUDA_ERROR_NO_BINARY_FOR_GPU", K_EVIDENCE, CLS_ENV_MISMATCH, S_ROOT, 0 },
	/* Triton's and the driver's words when a cubin was built for another GPU or toolkit */
	{ "device\\s+kernel\\s+image\\s+is\\s+invalid|cudaErrorInvalidKernelImage|CUDA_ERROR_INVALID_IMAGE", K_EVIDENCE, CLS_ENV_MISMATCH, S_ROOT, 0 },
	{ "driver\\s+on\\s+your\\s+system\\s+is\\s+too\\s+old", K_EVIDENCE, CLS_ENV_MISMATCH, S_ROOT, 0 },
	{ "driver\\s+version\\s+is\\s+insufficient\\s+for\\s+CUDA\\s+runtime|cudaErrorInsufficientDriver", K_EVIDENCE, CLS_ENV_MISMATCH, S_ROOT, 0 },
	{ "Torch\\s+not\\s+compiled\\s+with\\s+CUDA\\s+enabled|Found\\s+no\\s+NVIDIA\\s+driver", K_EVIDENCE, CLS_ENV_MISMATCH, S_ROOT, 0 },
	{ "no\\s+CUDA-capable\\s+device\\s+is\\s+detected|No\\s+CUDA\\s+GPUs\\s+are\\s+available", K_EVIDENCE, CLS_ENV_MISMATCH, S_ROOT, 0 },
	{ "invalid\\s+device\\s+function|cudaErrorInvalidDeviceFunction", K_EVIDENCE, CLS_ENV_MISMATCH, S_ROOT, 0 },
	{ "PTX\\s+was\\s+compiled\\s+with\\s+an\\s+unsupported\\s+toolchain|unsupported\\s+display\\s+driver\\s+/\\s+cuda\\s+driver", K_EVIDENCE, CLS_ENV_MISMATCH, S_ROOT, 0 },
	{ "forward\\s+compatibility\\s+was\\s+attempted|CUDA\\s+unknown\\s+error\\s+-\\s+this\\s+may\\s+be\\s+due\\s+to", K_EVIDENCE, CLS_ENV_MISMATCH, S_ROOT, 0 },
	{ "lib(cudart|cublas|cudnn|nccl|cufft|cusparse|nvrtc|cuda)[A-Za-z0-9_]*\\.so[.0-9]*:\\s+cannot\\s+open\\s+shared\\s+object", K_EVIDENCE, CLS_ENV_MISMATCH, S_ROOT, 0 },
	{ "ImportError:.*undefined\\s+symbol:", K_EVIDENCE, CLS_ENV_MISMATCH, S_ROOT, 0 },
	/* env_mismatch: warnings, decisive only with a failure after them */
	{ "is\\s+not\\s+compatible\\s+with\\s+the\\s+current\\s+PyTorch\\s+installation", K_ENV_WARN, CLS_ENV_MISMATCH, S_ENV_WARN, 0 },
	{ "If\\s+you\\s+want\\s+to\\s+use\\s+the\\s+.*GPU\\s+with\\s+PyTorch|incompatible_device_warn", K_ENV_WARN, CLS_ENV_MISMATCH, S_ENV_WARN, 0 },
	{ "but\\s+CUDA\\s+is\\s+not\\s+available|UserWarning:\\s+CUDA\\s+initialization:", K_ENV_WARN, CLS_ENV_MISMATCH, S_ENV_WARN, 0 },
	{ "which\\s+is\\s+of\\s+cuda\\s+capability.*too\\s+old", K_ENV_WARN, CLS_ENV_MISMATCH, S_ENV_WARN, 0 },
	/* cudnn_cublas */
	{ "CUDNN_STATUS_[A-Z_]+|cuDNN\\s+error|cuDNN\\s+Frontend\\s+error", K_EVIDENCE, CLS_CUDNN_CUBLAS, S_LIB, 0 },
	{ "Unable\\s+to\\s+find\\s+a\\s+valid\\s+cuDNN\\s+algorithm|GET\\s+was\\s+unable\\s+to\\s+find\\s+an\\s+engine", K_EVIDENCE, CLS_CUDNN_CUBLAS, S_LIB, 0 },
	{ "CUBLAS_STATUS_[A-Z_]+|cublas\\s+runtime\\s+error|CUBLAS\\s+failure", K_EVIDENCE, CLS_CUDNN_CUBLAS, S_LIB, 0 },
	{ "CUFFT_[A-Z_]+_ERROR|CUSOLVER_STATUS_[A-Z_]+|CUSPARSE_STATUS_[A-Z_]+", K_EVIDENCE, CLS_CUDNN_CUBLAS, S_LIB, 0 },
	/* nccl */
	{ "NCCL\\s+error|nccl(Internal|UnhandledCuda|System|InvalidUsage|Remote|InvalidArgument)Error", K_EVIDENCE, CLS_NCCL, S_LIB, 0 },
	{ "Watchdog\\s+caught\\s+collective\\s+operation\\s+timeout|NCCL\\s+operations\\s+have\\s+failed\\s+or\\s+timed\\s+out", K_EVIDENCE, CLS_NCCL, S_LIB, 0 },
	{ "NCCL\\s+communicator\\s+was\\s+aborted|NCCL\\s+watchdog\\s+thread\\s+terminated", K_EVIDENCE, CLS_NCCL, S_LIB, 0 },
	/* cpu_index_error */
	{ "Target\\s+-?[0-9]+\\s+is\\s+out\\s+of\\s+bounds", K_EVIDENCE, CLS_CPU_INDEX_ERROR, S_HOST, 0 },
	{ "index\\s+-?[0-9]+\\s+is\\s+out\\s+of\\s+bounds\\s+for\\s+dimension", K_EVIDENCE, CLS_CPU_INDEX_ERROR, S_HOST, 0 },
	{ "Invalid\\s+index\\s+in\\s+(scatter|gather)", K_EVIDENCE, CLS_CPU_INDEX_ERROR, S_HOST, 0 },
	{ "Class\\s+values\\s+must\\s+be\\s+(smaller\\s+than\\s+num_classes|non-negative)", K_EVIDENCE, CLS_CPU_INDEX_ERROR, S_HOST, 0 },
	{ "index\\s+out\\s+of\\s+range\\s+in\\s+self|Assertion\\s+`cur_target\\s*>=\\s*0", K_EVIDENCE, CLS_CPU_INDEX_ERROR, S_HOST, 0 },
	/* data_error */
	{ "Unexpected\\s+labels\\s+found|could\\s+not\\s+find\\s+label\\s+file", K_EVIDENCE, CLS_DATA_ERROR, S_HOST, 0 },
	{ "ReadFile:\\s+operation\\s+canceled|not\\s+retrying\\s+Read\\(|Transport\\s+endpoint\\s+is\\s+not\\s+connected", K_EVIDENCE, CLS_DATA_ERROR, S_HOST, 0 },
	{ "Input/output\\s+error|Stale\\s+file\\s+handle", K_EVIDENCE, CLS_DATA_ERROR, S_HOST, 0 },
	{ "BadZipFile|File\\s+is\\s+not\\s+a\\s+zip\\s+file|UnpicklingError|pickle\\s+data\\s+was\\s+truncated", K_EVIDENCE, CLS_DATA_ERROR, S_HOST, 0 },
	{ "Compressed\\s+file\\s+ended\\s+before|ImageFileError|mmap\\s+length\\s+is\\s+greater\\s+than\\s+file\\s+size", K_EVIDENCE, CLS_DATA_ERROR, S_HOST, 0 },
	{ "Exception\\s+thrown\\s+in\\s+SimpleITK|ITK\\s+ERROR:", K_EVIDENCE, CLS_DATA_ERROR, S_HOST, 0 },
	{ "FileNotFoundError", K_EVIDENCE, CLS_DATA_ERROR, S_WORKER, 0 },
	/* host_kill */
	{ "killed\\s+by\\s+signal:\\s+Killed|oom_kill\\s+event|OOM\\s+Killed|Out\\s+of\\s+memory:\\s+Killed\\s+process|oom-kill", K_EVIDENCE, CLS_HOST_KILL, S_HOST, 0 },
	{ "^[ \\t]*Killed[ \\t]*$|line\\s+[0-9]+:\\s+[0-9]+\\s+Killed", K_EVIDENCE, CLS_HOST_KILL, S_HOST, ML },
	{ "CANCELLED.*DUE\\s+TO\\s+(TIME\\s+LIMIT|PREEMPTION|NODE\\s+FAILURE)", K_EVIDENCE, CLS_HOST_KILL, S_HOST, 0 },
	/* segfault */
	{ "Segmentation\\s+fault|killed\\s+by\\s+signal:\\s+(Bus\\s+error|Aborted)|Bus\\s+error\\s+\\(core\\s+dumped\\)", K_EVIDENCE, CLS_SEGFAULT, S_HOST, 0 },
	{ "Fatal\\s+Python\\s+error:\\s+(Segmentation|Bus|Aborted|Floating)|Aborted\\s+\\(core\\s+dumped\\)", K_EVIDENCE, CLS_SEGFAULT, S_HOST, 0 },
	{ "line\\s+[0-9]+:\\s+[0-9]+\\s+(Aborted|Bus\\s+error|Illegal\\s+instruction)|Received\\s+signal:\\s+SIG(SEGV|BUS|ABRT|IOT)", K_EVIDENCE, CLS_SEGFAULT, S_HOST, 0 },
	{ "Unexpected\\s+bus\\s+error\\s+encountered|insufficient\\s+shared\\s+memory", K_EVIDENCE, CLS_SEGFAULT, S_HINT, 0 },
	/* worker deaths and their echoes */
	{ "^.{0,80}Process\\s+[A-Za-z]*Process-[0-9]+(:[0-9]+)*:[ \\t]*$", K_WORKER, CLS_OTHER_ERROR, S_WORKER, ML },
	{ "multiprocessing\\.pool\\.RemoteTraceback|_RemoteTraceback:", K_REMOTE, CLS_OTHER_ERROR, S_WORKER, 0 },
	{ "Exception\\s+in\\s+background\\s+worker", K_WORKER, CLS_OTHER_ERROR, S_WORKER, 0 },
	{ "background\\s+workers\\s+are\\s+no\\s+longer\\s+alive|Abort\\s+event\\s+was\\s+set|Background\\s+workers\\s+died", K_EVIDENCE, CLS_DATA_ERROR, S_ECHO, 0 },
	{ "DataLoader\\s+worker\\s+\\(pid\\(s\\)[^)]*\\)\\s+exited\\s+unexpectedly", K_EVIDENCE, CLS_DATA_ERROR, S_ECHO, 0 },
	{ "probably\\s+due\\s+to\\s+a\\s+lack\\s+of\\s+memory", K_EVIDENCE, CLS_OTHER_ERROR, S_ECHO, 0 },
	/* anything else that fails */
	{ "(^|[^A-Za-z0-9_.])[A-Za-z_][A-Za-z0-9_.]*(Error|Exception|Interrupt|Exit)(:( |$)|[ \\t]*$)", K_EXCEPTION, CLS_OTHER_ERROR, S_GENERIC, ML },
	{ "terminate\\s+called\\s+after\\s+throwing|Fatal\\s+Python\\s+error:", K_EVIDENCE, CLS_OTHER_ERROR, S_GENERIC, 0 },
	{ "Traceback\\s+\\(most\\s+recent\\s+call\\s+last\\)", K_TRACEBACK, CLS_OTHER_ERROR, S_TRACEBACK, 0 },
	/* structure */
	{ "File\\s+\"[^\"]*\",\\s+line\\s+[0-9]+", K_FRAME, CLS_NONE, 0, 0 },
	/* Python's two links of a chain of tracebacks, and PyTorch's DataLoader, which
	 * re-raises a worker's exception ("Caught KeyError in DataLoader worker process
	 * 0.") and then prints the worker's traceback as "Original Traceback (most ..." */
	{ "During\\s+handling\\s+of\\s+the\\s+above\\s+exception|above\\s+exception\\s+was\\s+the\\s+direct\\s+cause|Original\\s+Traceback\\s+\\(most", K_CHAIN, CLS_NONE, 0, 0 },
	{ "read_images|read_seg|imageio|reader_writer|nibabel|SimpleITK|load_case|unpack_dataset|npyio|fingerprint|preprocess|blosc2|PIL/Image", K_DATA_HINT, CLS_NONE, 0, 0 },
};

#define NRULES CB_ARRAY_SIZE(rules)
#define HIT_WORDS ((NRULES + 63) / 64)

/* Patterns compiled once and shared read-only by every classifier. */
enum {
	X_ASSERT_EXPR,  /* Assertion `expr` failed */
	X_KERNEL,       /* file.cu:N: kernel: block: [ */
	X_SOURCE,       /* path/file.cu:N */
	X_EXCEPTION,    /* Type: message */
	X_REPR,         /* Type('message') */
	X_THROWN,       /* instance of 'c10::Error' */
	X_WHAT,         /* what():  message */
	X_ERROR_CODE,   /* cudaErrorX, CUDNN_STATUS_X, error=59, ... */
	X_FRAME,        /* File "path", line N, in func */
	X__COUNT
};

static const char *const extract_re[X__COUNT] = {
	[X_ASSERT_EXPR] = "Assertion\\s+`(.*?)`\\s+failed",
	[X_KERNEL] = "\\.(?:cuh?|py):\\d+:\\s*(?:(.*?):\\s*)?block:\\s*\\[",
	[X_SOURCE] = "((?:[A-Za-z]:)?[^\\s:`'\"]*\\.(?:cuh?|py|cpp|cc|c|hpp|h)):(\\d+)",
	[X_EXCEPTION] = "(?:^|[^A-Za-z0-9_.])([A-Za-z_][A-Za-z0-9_.]*(?:Error|Exception|Interrupt|Exit))(?::\\s*(.*?)|\\s*)$",
	[X_REPR] = "(?:^|[^A-Za-z0-9_.])([A-Za-z_][A-Za-z0-9_.]*(?:Error|Exception))\\(['\"](.*?)['\"]\\)",
	[X_THROWN] = "instance\\s+of\\s+'([^']+)'",
	[X_WHAT] = "what\\(\\):\\s+(.*?)\\s*$",
	[X_ERROR_CODE] = "(cudaError[A-Za-z]+|CUDA_ERROR_[A-Z_]+|CUDNN_STATUS_[A-Z_]+|CUBLAS_STATUS_[A-Z_]+"
			 "|CUFFT_[A-Z_]+|CUSOLVER_STATUS_[A-Z_]+|nccl[A-Za-z]+Error|error=\\d+"
			 "|cuda runtime error \\(\\d+\\))",
	[X_FRAME] = "File\\s+\"([^\"]*)\",\\s+line\\s+\\d+(?:,\\s+in\\s+([^\\s*]+))?",
};

static struct {
	hs_database_t *db;
	pcre2_code *re[X__COUNT];
	uint64_t kind_mask[K__COUNT][HIT_WORDS]; /* rules of each kind */
} shared;
static pthread_once_t shared_once = PTHREAD_ONCE_INIT;

static void shared_init(void)
{
	const char *exprs[NRULES];
	unsigned flags[NRULES], ids[NRULES];
	hs_compile_error_t *err = NULL;
	size_t i;

	for (i = 0; i < NRULES; i++) {
		exprs[i] = rules[i].re;
		flags[i] = rules[i].flags;
		ids[i] = (unsigned)i;
		shared.kind_mask[rules[i].kind][i / 64] |= (uint64_t)1 << (i % 64);
	}
	if (hs_compile_multi(exprs, flags, ids, (unsigned)NRULES, HS_MODE_STREAM,
			     NULL, &shared.db, &err) != HS_SUCCESS)
		die("classify: rule %d does not compile: %s", err ? err->expression : -1,
		    err ? err->message : "?");
	for (i = 0; i < X__COUNT; i++) {
		int code;
		PCRE2_SIZE off;

		shared.re[i] = pcre2_compile((PCRE2_SPTR)extract_re[i], PCRE2_ZERO_TERMINATED,
					     0, &code, &off, NULL);
		if (!shared.re[i])
			die("classify: extraction pattern %zu does not compile at %zu", i,
			    (size_t)off);
		(void)pcre2_jit_compile(shared.re[i], PCRE2_JIT_COMPLETE);
	}
}

/* One line's worth of evidence, with the fields it names. */
struct item {
	uint64_t seq; /* order over both streams; 0 = empty */
	uint64_t line;
	enum cls_stream stream;
	enum cls_class klass;
	int strength;
	char evidence[CLS_EVIDENCE_MAX];
	char exception[CLS_NAME_MAX];
	char message[CLS_TEXT_MAX];
	char error_code[CLS_NAME_MAX];
	char source[CLS_TEXT_MAX];
	char frame[CLS_TEXT_MAX];
	uint64_t chain; /* the traceback chain its exception ended; 0 = none */
};

/* What an assertion line names. */
struct assert_fields {
	bool seen;
	char kernel[CLS_NAME_MAX];
	char expr[CLS_TEXT_MAX];
	char source[CLS_TEXT_MAX];
};

enum esc_state { ESC_NONE, ESC_START, ESC_CSI, ESC_OSC, ESC_OSC_END };

struct stream_state {
	hs_stream_t *hs;
	char *buf; /* the current line, cleaned; CLS_LINE_MAX + 1 bytes */
	size_t len;
	uint64_t lineno;      /* 1-based number of the current line */
	bool after_cr;        /* last line ended at '\r': a '\n' now only counts */
	enum esc_state esc;
	bool after_frame;     /* the previous line was a traceback frame */
	size_t frame_col;     /* where "File" stood in it */
	uint64_t hits[HIT_WORDS];
	/* The line before, for the "what():" after "terminate called"; the
	 * two buffers swap roles at each line end, so nothing is copied. */
	char *prev;
	size_t prev_len;
};

struct cls {
	hs_scratch_t *scratch;
	pcre2_match_data *md;
	struct stream_state st[2];
	uint64_t seq;
	bool finished;
	struct cls_exit exit;
	cls_line_fn *hook;
	void *hook_ctx;

	struct item best[CLS__COUNT];    /* the strongest, earliest item per class */
	struct item exc[CLS__COUNT];     /* first exception line per class */
	struct item env_warning;         /* the first environment warning */
	struct assert_fields assertion;  /* the first kernel assertion */

	/* The traceback being read: does it pass through code that reads
	 * case files, and did a worker process print it? */
	bool tb_active, tb_data, tb_frames;
	struct item worker; /* its header line, class decided by tb_data */

	/* The innermost frame of the traceback being read, as file:function
	 * ("" when its exception line has taken it), and the chain of
	 * tracebacks it belongs to: a number, whether the next traceback goes
	 * on with it, and whether it began with a worker's RemoteTraceback
	 * (then the worker's exception names it: pinned once that ends). */
	char tb_frame[CLS_TEXT_MAX];
	uint64_t chain;
	bool chain_link, chain_remote, chain_pinned;
};

/* ---- small text helpers ---- */

static void trim_right(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'))
		s[--n] = '\0';
}

/* Runs extraction pattern x on text; returns the number of groups matched
 * (0 when no match). Group g is then at ovector[2g], ovector[2g+1]. */
static int extract(struct cls *c, int x, const char *text, size_t len)
{
	int rc = pcre2_match(shared.re[x], (PCRE2_SPTR)text, len, 0, 0, c->md, NULL);

	return rc > 0 ? rc : 0;
}

/* Copies group g of the last match into dst; false when the group is unset. */
static bool group(struct cls *c, const char *text, int g, char *dst, size_t size)
{
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);

	if (g >= (int)pcre2_get_ovector_count(c->md) || ov[2 * g] == PCRE2_UNSET)
		return false;
	cb_utf8_copy(dst, size, text + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
	trim_right(dst);
	return dst[0] != '\0';
}

/* ---- extraction ---- */

/* "void foo<T>(Args...) [with T = float]" -> "foo<T>"; "operator()" stays. */
static void tidy_kernel(char *k)
{
	char *p, *paren;

	if ((p = strstr(k, " [with ")))
		*p = '\0';
	if (!strncmp(k, "void ", 5))
		memmove(k, k + 5, strlen(k + 5) + 1);
	if (!strncmp(k, "operator()", 10))
		return;
	paren = strchr(k, '(');
	if (paren)
		*paren = '\0';
	trim_right(k);
}

static void extract_assert(struct cls *c, const char *text, size_t len,
			   struct assert_fields *a)
{
	if (extract(c, X_ASSERT_EXPR, text, len))
		group(c, text, 1, a->expr, sizeof(a->expr));
	if (extract(c, X_KERNEL, text, len) && group(c, text, 1, a->kernel, sizeof(a->kernel)))
		tidy_kernel(a->kernel);
	if (extract(c, X_SOURCE, text, len)) {
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);

		cb_utf8_copy(a->source, sizeof(a->source), text + ov[2], ov[5] - ov[2]);
	}
	a->seen = true;
}

/* Exception type and message from this line, or from the line before it
 * for C++ aborts ("terminate called after throwing an instance of 'X'",
 * then "what():  message"). */
static void extract_exception(struct cls *c, const char *text, size_t len,
			      const char *prev, size_t prev_len, struct item *it)
{
	if (extract(c, X_WHAT, text, len)) {
		group(c, text, 1, it->message, sizeof(it->message));
		if (extract(c, X_THROWN, text, len))
			group(c, text, 1, it->exception, sizeof(it->exception));
		else if (prev && extract(c, X_THROWN, prev, prev_len))
			group(c, prev, 1, it->exception, sizeof(it->exception));
	} else if (extract(c, X_EXCEPTION, text, len)) {
		group(c, text, 1, it->exception, sizeof(it->exception));
		group(c, text, 2, it->message, sizeof(it->message));
	} else if (extract(c, X_REPR, text, len)) {
		group(c, text, 1, it->exception, sizeof(it->exception));
		group(c, text, 2, it->message, sizeof(it->message));
	} else if (extract(c, X_THROWN, text, len)) {
		group(c, text, 1, it->exception, sizeof(it->exception));
	}
	if (extract(c, X_ERROR_CODE, text, len))
		group(c, text, 1, it->error_code, sizeof(it->error_code));
	if (extract(c, X_SOURCE, text, len)) {
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);

		cb_utf8_copy(it->source, sizeof(it->source), text + ov[2], ov[5] - ov[2]);
	}
}

/*
 * The frame a traceback's `File "PATH", line N, in FUNC` line names, as
 * file:FUNC, into out.
 *
 * Design note: the file is its name alone (with its folder for __init__.py
 * and __main__.py, which say nothing alone). The rest of a path names the
 * machine, not the bug: the venv, conda or system prefix, the user's home
 * and the Python version all differ between the run that gave a target log
 * and the trials. Cutting at site-packages/ or dist-packages/ is not
 * enough: nnU-Net's README installs it editable (`pip install -e .`) for
 * custom trainers, so its files sit in a git checkout anywhere, and the
 * standard library and the user's own code have no site-packages at all.
 * The function beside the name tells same-named files apart; a clash makes
 * two rare bugs one, where a path in the hash would make one bug two on
 * two machines.
 */
static void frame_of(struct cls *c, const char *text, size_t len, char *out, size_t size)
{
	PCRE2_SIZE *ov;
	const char *path, *base, *p;
	char tmp[CLS_TEXT_MAX];
	size_t n = 0, plen, blen;

	out[0] = '\0';
	if (!extract(c, X_FRAME, text, len))
		return;
	ov = pcre2_get_ovector_pointer(c->md);
	path = text + ov[2];
	plen = ov[3] - ov[2];
	base = path;
	for (p = path; p < path + plen; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	blen = (size_t)(path + plen - base);
	if (base > path && blen == 11 &&
	    (!memcmp(base, "__init__.py", 11) || !memcmp(base, "__main__.py", 11))) {
		for (p = base - 1; p > path && p[-1] != '/' && p[-1] != '\\'; p--)
			;
		base = p;
	}
	for (p = base; p < path + plen && n + 1 < sizeof(tmp); p++)
		tmp[n++] = *p == '\\' ? '/' : *p;
	if (ov[4] != PCRE2_UNSET && n + 1 < sizeof(tmp)) {
		size_t flen = ov[5] - ov[4];

		tmp[n++] = ':';
		if (flen > sizeof(tmp) - 1 - n)
			flen = sizeof(tmp) - 1 - n;
		memcpy(tmp + n, text + ov[4], flen);
		n += flen;
	}
	cb_utf8_copy(out, size, tmp, n);
}

static void fill_item(struct item *it, struct cls *c, struct stream_state *st,
		      enum cls_class klass, int strength, const char *text, size_t len)
{
	memset(it, 0, sizeof(*it));
	it->seq = c->seq;
	it->line = st->lineno;
	it->stream = (enum cls_stream)(st - c->st);
	it->klass = klass;
	it->strength = strength;
	cb_utf8_copy(it->evidence, sizeof(it->evidence), text, len);
}

/* Keeps it as the best item of its class when it is stronger (or as strong
 * and earlier: a worker's header is offered when its traceback ends), or as the
 * class's first exception line when that is still missing. */
static void offer(struct cls *c, const struct item *it)
{
	struct item *b = &c->best[it->klass];

	if (!b->seq || it->strength > b->strength ||
	    (it->strength == b->strength && it->seq < b->seq))
		*b = *it;
	if (it->exception[0] && !c->exc[it->klass].seq)
		c->exc[it->klass] = *it;
}

/* A new chain of tracebacks starts (remote: with a worker's RemoteTraceback,
 * which the main process re-raises after it). */
static void chain_start(struct cls *c, bool remote)
{
	c->chain++;
	c->chain_link = false;
	c->chain_remote = remote;
	c->chain_pinned = false;
	c->tb_frame[0] = '\0';
}

/* The exception line ex ended a traceback of the current chain. Python's
 * last exception names the chain, so every item of an other_error or
 * data_error that belongs to it takes ex's exception, message and frame,
 * until a worker's re-raised exception has named it. */
static void chain_end(struct cls *c, const struct item *ex)
{
	struct item *const items[] = {
		&c->best[CLS_OTHER_ERROR], &c->exc[CLS_OTHER_ERROR],
		&c->best[CLS_DATA_ERROR], &c->exc[CLS_DATA_ERROR], &c->worker,
	};
	size_t i;

	if (c->chain_pinned)
		return;
	for (i = 0; i < CB_ARRAY_SIZE(items); i++) {
		struct item *it = items[i];

		if (!it->seq || it->chain != ex->chain)
			continue;
		cb_strlcpy(it->exception, ex->exception, sizeof(it->exception));
		cb_strlcpy(it->message, ex->message, sizeof(it->message));
		cb_strlcpy(it->frame, ex->frame, sizeof(it->frame));
	}
	c->chain_pinned = c->chain_remote;
}

/* The worker traceback ends: its header becomes evidence, of a data error
 * when its frames read case files. */
static void close_worker(struct cls *c)
{
	if (c->worker.seq) {
		c->worker.klass = c->tb_data ? CLS_DATA_ERROR : CLS_OTHER_ERROR;
		offer(c, &c->worker);
		c->worker.seq = 0;
	}
	c->tb_active = c->tb_data = c->tb_frames = false;
}

/* Is this line the code line printed under a traceback frame? It is indented
 * deeper than the frame's "File". */
static bool is_source_line(const struct stream_state *st, const char *text, size_t len)
{
	return st->frame_col < len && (text[st->frame_col] == ' ' || text[st->frame_col] == '\t');
}

static bool any_hit(const struct stream_state *st)
{
	size_t w;

	for (w = 0; w < HIT_WORDS; w++)
		if (st->hits[w])
			return true;
	return false;
}

static bool has_kind(const struct stream_state *st, enum rule_kind kind)
{
	size_t w;

	for (w = 0; w < HIT_WORDS; w++)
		if (st->hits[w] & shared.kind_mask[kind][w])
			return true;
	return false;
}

/* ---- one line ---- */

static void on_line(struct cls *c, struct stream_state *st, const char *text, size_t len,
		    const char *prev, size_t prev_len)
{
	size_t w, r, best_rule = NRULES;
	bool after_frame = st->after_frame;
	struct item it;

	c->seq++;
	st->after_frame = false;
	if (!any_hit(st))
		return; /* most lines: progress, losses, warnings */
	if (after_frame && is_source_line(st, text, len))
		return;
	if (has_kind(st, K_FRAME)) {
		const char *f = memmem(text, len, "File", 4);

		st->after_frame = true;
		st->frame_col = f ? (size_t)(f - text) : 0;
		if (c->tb_active) {
			c->tb_frames = true;
			if (has_kind(st, K_DATA_HINT))
				c->tb_data = true;
		}
		/* every frame line, in a traceback or not: a log cut from a
		 * thread may start in the middle of one */
		frame_of(c, text, len, c->tb_frame, sizeof(c->tb_frame));
		return;
	}
	if (has_kind(st, K_WORKER) || has_kind(st, K_REMOTE)) {
		close_worker(c);
		chain_start(c, has_kind(st, K_REMOTE));
		fill_item(&c->worker, c, st, CLS_OTHER_ERROR, S_WORKER, text, len);
		c->worker.chain = c->chain;
		c->tb_active = true;
		return;
	}
	if (has_kind(st, K_CHAIN))
		c->chain_link = true;
	if (has_kind(st, K_TRACEBACK) && !(c->worker.seq && !c->tb_frames)) {
		/* A new traceback; inside a worker's report the first one
		 * belongs to the worker. */
		if (!c->worker.seq) {
			c->tb_data = false;
			c->tb_frames = false;
		}
		c->tb_active = true;
		if (c->chain_link)
			c->chain_link = false;
		else
			chain_start(c, false);
		c->tb_frame[0] = '\0';
	}

	for (w = 0; w < HIT_WORDS; w++) {
		uint64_t bits = st->hits[w];

		while (bits) {
			r = w * 64 + (size_t)__builtin_ctzll(bits);
			bits &= bits - 1;
			if (rules[r].klass == CLS_NONE)
				continue;
			if (best_rule == NRULES || rules[r].strength > rules[best_rule].strength)
				best_rule = r;
		}
	}
	if (best_rule == NRULES)
		return;

	if (rules[best_rule].kind == K_ENV_WARN) {
		if (!c->env_warning.seq) {
			fill_item(&c->env_warning, c, st, CLS_ENV_MISMATCH, S_ENV_WARN, text, len);
			offer(c, &c->env_warning);
		}
		return;
	}

	{
		enum cls_class klass = rules[best_rule].klass;
		int strength = rules[best_rule].strength;
		bool exception_line = has_kind(st, K_EXCEPTION);
		/* the exception line a traceback ends in */
		bool ends_tb = exception_line && c->tb_frame[0];
		const struct item *b = &c->best[klass];

		if (rules[best_rule].kind == K_EXCEPTION && c->tb_data && strength < S_WORKER) {
			/* An exception raised while reading a case's files. */
			klass = CLS_DATA_ERROR;
			strength = S_WORKER;
			b = &c->best[klass];
		}
		if (klass == CLS_DEVICE_ASSERT && has_kind(st, K_ASSERT) && !c->assertion.seen)
			extract_assert(c, text, len, &c->assertion);
		if (ends_tb || !b->seq || strength > b->strength ||
		    (exception_line && !c->exc[klass].seq)) {
			fill_item(&it, c, st, klass, strength, text, len);
			extract_exception(c, text, len, prev, prev_len, &it);
			if (ends_tb) {
				cb_strlcpy(it.frame, c->tb_frame, sizeof(it.frame));
				it.chain = c->chain;
				c->tb_frame[0] = '\0';
				chain_end(c, &it);
			}
			offer(c, &it);
		}
		if (exception_line && c->tb_frames)
			close_worker(c); /* the traceback ends at its exception */
	}
}

/* ---- Hyperscan ---- */

static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
		    unsigned int flags, void *ctx)
{
	struct stream_state *st = ctx;

	(void)from;
	(void)to;
	(void)flags;
	st->hits[id / 64] |= (uint64_t)1 << (id % 64);
	return 0;
}

/* The current line ends (line_end: at \n or \r; else it was cut at
 * CLS_LINE_MAX and goes on). */
static void end_line(struct cls *c, struct stream_state *st, bool line_end)
{
	size_t scan = st->len;
	char *tmp;

	memset(st->hits, 0, sizeof(st->hits));
	if (line_end)
		st->buf[scan++] = '\n';
	if (hs_scan_stream(st->hs, st->buf, (unsigned)scan, 0, c->scratch, on_match, st) !=
	    HS_SUCCESS)
		die("classify: hs_scan_stream failed");
	on_line(c, st, st->buf, st->len, st->prev, st->prev_len);
	if (c->hook)
		c->hook(c->hook_ctx, (enum cls_stream)(st - c->st), st->buf, st->len);
	tmp = st->prev;
	st->prev = st->buf;
	st->prev_len = st->len;
	st->buf = tmp;
	st->len = 0;
}

/* ---- public API ---- */

struct cls *cls_new(void)
{
	struct cls *c;
	int i;

	pthread_once(&shared_once, shared_init);
	c = xcalloc(1, sizeof(*c));
	if (hs_alloc_scratch(shared.db, &c->scratch) != HS_SUCCESS)
		die("classify: cannot allocate Hyperscan scratch");
	c->md = pcre2_match_data_create(8, NULL);
	if (!c->md)
		die("out of memory");
	for (i = 0; i < 2; i++) {
		struct stream_state *st = &c->st[i];

		if (hs_open_stream(shared.db, 0, &st->hs) != HS_SUCCESS)
			die("classify: cannot open a Hyperscan stream");
		/* + the '\n' given to Hyperscan */
		st->buf = xmalloc(CLS_LINE_MAX + 1);
		st->prev = xmalloc(CLS_LINE_MAX + 1);
		st->lineno = 1;
	}
	return c;
}

void cls_free(struct cls *c)
{
	int i;

	if (!c)
		return;
	for (i = 0; i < 2; i++) {
		if (c->st[i].hs)
			hs_close_stream(c->st[i].hs, c->scratch, NULL, NULL);
		free(c->st[i].buf);
		free(c->st[i].prev);
	}
	hs_free_scratch(c->scratch);
	pcre2_match_data_free(c->md);
	free(c);
}

/* Bytes that end a line, start an escape sequence, or are dropped. */
static const bool special[256] = { ['\n'] = true, ['\r'] = true, [0x1b] = true, [0] = true };

/* The end of the run of plain bytes at p: the first special byte, or lim.
 * All special bytes are control characters, so SSE2 looks at 16 bytes at a
 * time for any byte <= 0x1f and only those few go through the table. */
static const unsigned char *plain_run(const unsigned char *p, const unsigned char *lim)
{
#if defined(__SSE2__)
	const __m128i ctl = _mm_set1_epi8(0x1f);

	while (lim - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned mask = (unsigned)_mm_movemask_epi8(
			_mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));

		while (mask) {
			unsigned i = (unsigned)__builtin_ctz(mask);

			if (special[p[i]])
				return p + i;
			mask &= mask - 1;
		}
		p += 16;
	}
#endif
	while (p < lim && !special[*p])
		p++;
	return p;
}

void cls_feed(struct cls *c, enum cls_stream stream, const void *data, size_t n)
{
	struct stream_state *st = &c->st[stream == CLS_STDOUT ? 0 : 1];
	const unsigned char *p = data, *end = p + n;

	assert(!c->finished);
	while (p < end) {
		unsigned char b;

		if (st->esc == ESC_NONE && !special[*p]) {
			/* Fast path: copy a run of plain bytes at once. */
			const unsigned char *q;
			size_t room = CLS_LINE_MAX - st->len;
			const unsigned char *lim = (size_t)(end - p) > room ? p + room : end;

			q = plain_run(p, lim);
			memcpy(st->buf + st->len, p, (size_t)(q - p));
			st->len += (size_t)(q - p);
			st->after_cr = false;
			p = q;
			if (st->len == CLS_LINE_MAX)
				end_line(c, st, false);
			continue;
		}
		b = *p++;
		switch (st->esc) {
		case ESC_NONE:
			break;
		case ESC_START:
			st->esc = b == '[' ? ESC_CSI : b == ']' ? ESC_OSC : ESC_NONE;
			continue;
		case ESC_CSI:
			/* parameter bytes up to the final byte, in one go */
			while ((b < 0x40 || b > 0x7e) && b != '\n' && b != '\r') {
				if (p == end)
					return; /* it goes on in the next chunk */
				b = *p++;
			}
			if (b == '\n' || b == '\r')
				break; /* a broken sequence must not eat lines */
			st->esc = ESC_NONE;
			continue;
		case ESC_OSC:
			if (b == 0x07)
				st->esc = ESC_NONE;
			else if (b == 0x1b)
				st->esc = ESC_OSC_END;
			else if (b == '\n')
				break;
			continue;
		case ESC_OSC_END:
			st->esc = ESC_NONE;
			continue;
		}
		st->esc = ESC_NONE;
		if (b == '\n') {
			if (st->after_cr)
				st->after_cr = false;
			else
				end_line(c, st, true);
			st->lineno++;
			continue;
		}
		st->after_cr = false;
		if (b == '\r') {
			end_line(c, st, true);
			st->after_cr = true;
			continue;
		}
		if (b == 0x1b) {
			st->esc = ESC_START;
			continue;
		}
		if (b == 0)
			continue;
		st->buf[st->len++] = (char)b;
		if (st->len == CLS_LINE_MAX)
			end_line(c, st, false);
	}
}

void cls_finish(struct cls *c, const struct cls_exit *exit)
{
	int i;

	if (c->finished)
		return;
	for (i = 0; i < 2; i++)
		if (c->st[i].len)
			end_line(c, &c->st[i], true);
	if (exit)
		c->exit = *exit;
	c->finished = true;
}

bool cls_failed(const struct cls *c)
{
	size_t k;

	if (c->worker.seq)
		return true;
	for (k = 1; k < CLS__COUNT; k++)
		if (c->best[k].seq && c->best[k].strength > S_ENV_WARN)
			return true;
	return false;
}

void cls_set_line_hook(struct cls *c, cls_line_fn *fn, void *ctx)
{
	c->hook = fn;
	c->hook_ctx = ctx;
}

/* The class an exit status shows on its own. */
static enum cls_class exit_class(const struct cls_exit *e)
{
	int sig = e->signal;

	if (!e->known || (sig && e->sent_by_us))
		return CLS_NONE;
	if (!sig && e->code > 128 && e->code < 128 + 65)
		sig = e->code - 128; /* a shell reports a child's death so */
	switch (sig) {
	case 0:
		return e->code ? CLS_OTHER_ERROR : CLS_NONE;
	case SIGKILL:
	case SIGTERM:
	case SIGHUP:
	case SIGINT:
		return CLS_HOST_KILL;
	case SIGSEGV:
	case SIGBUS:
	case SIGABRT:
	case SIGILL:
	case SIGFPE:
		return CLS_SEGFAULT;
	default:
		return CLS_OTHER_ERROR;
	}
}

/* May an environment warning before it turn this class into env_mismatch? */
static bool env_can_explain(enum cls_class k)
{
	return (k >= CLS_DEVICE_ASSERT && k <= CLS_NCCL) || k == CLS_SEGFAULT ||
	       k == CLS_OTHER_ERROR;
}

static void copy_item(struct cls_signature *out, const struct item *it)
{
	cb_strlcpy(out->evidence, it->evidence, sizeof(out->evidence));
	out->line = it->line;
	out->stream = it->stream;
}

void cls_result(const struct cls *c, struct cls_signature *out)
{
	const struct item *win = NULL, *exc;
	struct item worker;
	size_t k;

	memset(out, 0, sizeof(*out));
	out->exit_known = c->exit.known;
	out->exit_code = c->exit.signal ? -1 : c->exit.code;
	out->exit_signal = c->exit.signal;

	/* A worker traceback still open counts as it stands. */
	worker = c->worker;
	if (worker.seq)
		worker.klass = c->tb_data ? CLS_DATA_ERROR : CLS_OTHER_ERROR;

	for (k = 1; k < CLS__COUNT; k++) {
		const struct item *b = &c->best[k];

		if (!b->seq)
			continue;
		if (!win || b->strength > win->strength ||
		    (b->strength == win->strength && b->seq < win->seq))
			win = b;
	}
	if (worker.seq && (!win || worker.strength > win->strength ||
			   (worker.strength == win->strength && worker.seq < win->seq)))
		win = &worker;

	if (win && win->strength == S_ENV_WARN && c->exit.known && !c->exit.signal &&
	    c->exit.code == 0)
		win = NULL; /* a warning, and the run went fine */

	if (!win) {
		out->klass = exit_class(&c->exit);
		if (out->klass != CLS_NONE && c->env_warning.seq &&
		    env_can_explain(out->klass)) {
			out->klass = CLS_ENV_MISMATCH;
			copy_item(out, &c->env_warning);
		}
		return;
	}

	out->klass = win->klass;
	copy_item(out, win);
	cb_strlcpy(out->exception, win->exception, sizeof(out->exception));
	cb_strlcpy(out->message, win->message, sizeof(out->message));
	cb_strlcpy(out->error_code, win->error_code, sizeof(out->error_code));
	cb_strlcpy(out->source, win->source, sizeof(out->source));
	cb_strlcpy(out->frame, win->frame, sizeof(out->frame));
	exc = &c->exc[win->klass];
	if (!out->exception[0] && exc->seq) {
		cb_strlcpy(out->exception, exc->exception, sizeof(out->exception));
		cb_strlcpy(out->message, exc->message, sizeof(out->message));
		cb_strlcpy(out->frame, exc->frame, sizeof(out->frame));
		if (!out->error_code[0])
			cb_strlcpy(out->error_code, exc->error_code, sizeof(out->error_code));
	}
	if (win->klass == CLS_DEVICE_ASSERT && c->assertion.seen) {
		cb_strlcpy(out->kernel, c->assertion.kernel, sizeof(out->kernel));
		cb_strlcpy(out->assert_expr, c->assertion.expr, sizeof(out->assert_expr));
		if (c->assertion.source[0])
			cb_strlcpy(out->source, c->assertion.source, sizeof(out->source));
	}
	if (env_can_explain(win->klass) && c->env_warning.seq &&
	    c->env_warning.seq < win->seq) {
		out->klass = CLS_ENV_MISMATCH;
		copy_item(out, &c->env_warning);
	}
}

/* ---- fingerprints and names ---- */

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	h ^= 0xff; /* field separator */
	h *= 0x100000001b3ULL;
	return h;
}

uint64_t cls_fingerprint(const struct cls_signature *s, enum cls_match level)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const char *name = cls_class_name(s->klass);

	h = fnv(h, name, strlen(name));
	if (level >= CLS_MATCH_KERNEL) {
		char expr[CLS_TEXT_MAX];
		size_t i, o = 0;

		h = fnv(h, s->kernel, strlen(s->kernel));
		/* digits (sizes, temporaries) never enter: a run counts as '#' */
		for (i = 0; s->assert_expr[i] && o + 1 < sizeof(expr); i++) {
			bool digit = s->assert_expr[i] >= '0' && s->assert_expr[i] <= '9';

			if (digit && o && expr[o - 1] == '#')
				continue;
			expr[o++] = digit ? '#' : s->assert_expr[i];
		}
		h = fnv(h, expr, o);
		/* A Python failure has no kernel: what raised it stands in. */
		if (s->klass == CLS_OTHER_ERROR || s->klass == CLS_DATA_ERROR) {
			h = fnv(h, s->exception, strlen(s->exception));
			h = fnv(h, s->frame, strlen(s->frame));
		}
	}
	if (level >= CLS_MATCH_EXACT) {
		const char *file = s->source, *p;
		size_t n;

		for (p = s->source; *p; p++)
			if (*p == '/' || *p == '\\')
				file = p + 1;
		n = strcspn(file, ":");
		h = fnv(h, s->exception, strlen(s->exception));
		h = fnv(h, file, n);
	}
	return h;
}

void cls_fingerprint_hex(const struct cls_signature *s, enum cls_match level, char out[17])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t h = cls_fingerprint(s, level);
	int i;

	for (i = 15; i >= 0; i--, h >>= 4)
		out[i] = hex[h & 15];
	out[16] = '\0';
}

static const char *const class_names[CLS__COUNT] = {
	[CLS_NONE] = "none",
	[CLS_DEVICE_ASSERT] = "device_assert",
	[CLS_ILLEGAL_ACCESS] = "illegal_access",
	[CLS_OOM] = "oom",
	[CLS_CUDNN_CUBLAS] = "cudnn_cublas",
	[CLS_NCCL] = "nccl",
	[CLS_ENV_MISMATCH] = "env_mismatch",
	[CLS_CPU_INDEX_ERROR] = "cpu_index_error",
	[CLS_DATA_ERROR] = "data_error",
	[CLS_HOST_KILL] = "host_kill",
	[CLS_SEGFAULT] = "segfault",
	[CLS_OTHER_ERROR] = "other_error",
};

static const char *const match_names[] = { "class", "kernel", "exact" };

const char *cls_class_name(enum cls_class k)
{
	return (unsigned)k < CLS__COUNT ? class_names[k] : "?";
}

const char *cls_match_name(enum cls_match m)
{
	return (unsigned)m < CB_ARRAY_SIZE(match_names) ? match_names[m] : "?";
}

int cls_class_parse(const char *name, enum cls_class *out)
{
	size_t k;

	for (k = 0; k < CLS__COUNT; k++)
		if (!strcmp(name, class_names[k])) {
			*out = (enum cls_class)k;
			return 0;
		}
	return -1;
}

int cls_match_parse(const char *name, enum cls_match *out)
{
	size_t m;

	for (m = 0; m < CB_ARRAY_SIZE(match_names); m++)
		if (!strcmp(name, match_names[m])) {
			*out = (enum cls_match)m;
			return 0;
		}
	return -1;
}
