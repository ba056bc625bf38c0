/* bench_classify: throughput and memory of the streaming classifier on a long,
 * noisy, generated training log built around the real crash logs (a benchmark,
 * not a test: it prints numbers and PASS/FAIL against targets, and exits 0). */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"
#include "casebisect/classify.h"
#include "casebisect/util.h"

#define MIB ((size_t)1 << 20)
/* The stream is generated into one block that is reused, so the process's
 * own memory stays small whatever BENCH_MB says: peak RSS is the
 * classifier's, plus the libraries, plus this block. */
#define BLOCK_SIZE (1 * MIB)
/* No single generated event is longer than this (the long lines are); the
 * block has this much slack, and what spills over starts the next block. */
#define EVENT_MAX ((size_t)160 << 10)
#define FEED_CHUNK ((size_t)64 << 10)
#define SNIPPET_MAX ((size_t)32 << 10)

#define TARGET_MBS 200.0
#define TARGET_RSS_MB 16.0

struct line {
	const char *p;
	size_t n;        /* with its '\n' when it had one */
	size_t file_end; /* index one past the last line of its file */
};

struct corpus {
	const char *dir;
	size_t nfiles;
	char **data;
	struct line *lines;
	size_t nlines, alloc;
};

struct gen {
	uint64_t rng;
	int64_t usec;       /* the log's clock, microseconds since the epoch */
	unsigned epoch;
	unsigned iter;
	const struct corpus *corpus;
	char *buf;          /* BLOCK_SIZE + EVENT_MAX bytes */
	size_t len, cap;
	size_t used;        /* bytes of buf handed out by gen_next() */
	uint64_t snippets;  /* corpus snippets written */
	uint64_t long_lines;/* lines longer than CLS_LINE_MAX written */
};

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned rnd(struct gen *g, unsigned n)
{
	return (unsigned)(rng_next(&g->rng) % n);
}

static double rndf(struct gen *g)
{
	return (double)(rng_next(&g->rng) >> 11) / 9007199254740992.0;
}

static double peak_rss_mb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

/* ---- the corpus ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void corpus_add_file(struct corpus *co, char *p, size_t n)
{
	size_t first = co->nlines;
	const char *end = p + n, *s = p;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len = nl ? (size_t)(nl - s) + 1 : (size_t)(end - s);

		if (len <= SNIPPET_MAX) {
			if (co->nlines == co->alloc) {
				co->alloc = co->alloc ? co->alloc * 2 : 1024;
				co->lines = xrealloc(co->lines, co->alloc * sizeof(*co->lines));
			}
			co->lines[co->nlines].p = s;
			co->lines[co->nlines].n = len;
			co->nlines++;
		}
		s += len;
	}
	for (size_t i = first; i < co->nlines; i++)
		co->lines[i].file_end = co->nlines;
}

/* Reads every *.txt of dir/logs in name order; returns the number read. */
static size_t corpus_load(struct corpus *co, const char *dir)
{
	char path[4096];
	char **names = NULL;
	size_t nnames = 0;
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "%s/logs", dir);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);

		if (l > 4 && strcmp(e->d_name + l - 4, ".txt") == 0) {
			names = xrealloc(names, (nnames + 1) * sizeof(*names));
			names[nnames++] = xstrdup(e->d_name);
		}
	}
	closedir(d);
	qsort(names, nnames, sizeof(*names), cmp_str);
	co->data = xrealloc(co->data, (co->nfiles + nnames) * sizeof(*co->data));
	for (size_t i = 0; i < nnames; i++) {
		size_t len;
		char *p;

		snprintf(path, sizeof(path), "%s/logs/%s", dir, names[i]);
		p = cb_read_file(path, &len);
		if (p) {
			co->data[co->nfiles++] = p;
			corpus_add_file(co, p, len);
		} else {
			fprintf(stderr, "bench_classify: %s: cannot read: %s\n", path,
				strerror(errno));
		}
		free(names[i]);
	}
	free(names);
	if (co->nfiles)
		co->dir = dir;
	return co->nfiles;
}

static void corpus_release(struct corpus *co)
{
	for (size_t i = 0; i < co->nfiles; i++)
		free(co->data[i]);
	free(co->data);
	free(co->lines);
}

/* ---- the generator ---- */

static void put(struct gen *g, const char *s, size_t n)
{
	if (n > g->cap - g->len) {
		fprintf(stderr, "bench_classify: generator overflow\n");
		abort();
	}
	memcpy(g->buf + g->len, s, n);
	g->len += n;
}

static void puts_(struct gen *g, const char *s)
{
	put(g, s, strlen(s));
}

CB_PRINTF(2, 3)
static void putf(struct gen *g, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(g->buf + g->len, g->cap - g->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= g->cap - g->len) {
		fprintf(stderr, "bench_classify: generator overflow\n");
		abort();
	}
	g->len += (size_t)n;
}

/* nnU-Net's "2024-07-20 23:28:10.494386: " prefix; the clock moves on. */
static void stamp(struct gen *g)
{
	char tbuf[32];
	time_t t;
	struct tm tm;

	g->usec += 1 + rnd(g, 400000);
	t = (time_t)(g->usec / 1000000);
	gmtime_r(&t, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%d %H:%M:%S", &tm);
	putf(g, "%s.%06d: ", tbuf, (int)(g->usec % 1000000));
}

static void gen_epoch(struct gen *g, const char *eol)
{
	double loss = -0.05 - 0.8 * (1.0 - 1.0 / (1.0 + g->epoch / 50.0)) + 0.05 * rndf(g);

	stamp(g);
	put(g, eol, strlen(eol));
	stamp(g);
	putf(g, "Epoch %u%s", g->epoch, eol);
	stamp(g);
	putf(g, "Current learning rate: %.5f%s", 0.01 * (1.0 - g->epoch / 1000.0), eol);
	stamp(g);
	putf(g, "train_loss %.4f%s", loss, eol);
	stamp(g);
	putf(g, "val_loss %.4f%s", loss + 0.1 * rndf(g), eol);
	stamp(g);
	put(g, "Pseudo dice [", 13);
	for (unsigned i = 0, n = 1 + rnd(g, 4); i < n; i++)
		putf(g, "%snp.float32(%.4f)", i ? ", " : "", 0.3 + 0.6 * rndf(g));
	putf(g, "]%s", eol);
	stamp(g);
	putf(g, "Epoch time: %.2f s%s", 40.0 + 30.0 * rndf(g), eol);
	if (rnd(g, 4) == 0) {
		stamp(g);
		putf(g, "Yayy! New best EMA pseudo Dice: %.4f%s", 0.5 + 0.4 * rndf(g), eol);
	}
	g->epoch++;
}

/* A tqdm bar redrawn with \r, in colour, ending in \n. */
static void gen_tqdm(struct gen *g)
{
	static const char *const part[] = { "", "\xe2\x96\x8f", "\xe2\x96\x8e",
		"\xe2\x96\x8d", "\xe2\x96\x8c", "\xe2\x96\x8b", "\xe2\x96\x8a", "\xe2\x96\x89" };
	unsigned total = 250, i = rnd(g, 50), updates = 5 + rnd(g, 20);
	bool val = rnd(g, 5) == 0;

	for (unsigned u = 0; u < updates && i <= total; u++) {
		unsigned eighths = i * 80 / total, cells = 0;

		putf(g, "\r%s %u:  %3u%%|\x1b[32m", val ? "validation" : "Epoch", g->epoch,
		     i * 100 / total);
		for (; cells < eighths / 8; cells++)
			puts_(g, "\xe2\x96\x88");
		if (cells < 10) {
			puts_(g, part[eighths % 8]);
			cells++;
		}
		for (; cells < 10; cells++)
			put(g, " ", 1);
		putf(g, "\x1b[0m| %u/%u [%02u:%02u<%02u:%02u, %5.2fit/s, loss=%.3f]", i, total,
		     i / 60, i % 60, (total - i) / 60, (total - i) % 60, 2.0 + 2.0 * rndf(g),
		     0.2 + 0.5 * rndf(g));
		i += 1 + rnd(g, 25);
	}
	put(g, "\n", 1);
}

static void gen_rank(struct gen *g)
{
	unsigned r = rnd(g, 4);

	switch (rnd(g, 3)) {
	case 0:
		putf(g, "[rank%u]:[W%02u%02u %02u:%02u:%02u.%06u Utils.hpp:135] Warning: "
		     "Environment variable NCCL_ASYNC_ERROR_HANDLING is deprecated; use "
		     "TORCH_NCCL_ASYNC_ERROR_HANDLING instead (function operator())\n",
		     r, 1 + rnd(g, 12), 1 + rnd(g, 28), rnd(g, 24), rnd(g, 60), rnd(g, 60),
		     rnd(g, 1000000));
		break;
	case 1:
		putf(g, "[rank%u]: ", r);
		stamp(g);
		putf(g, "train_loss %.4f\n", -0.5 * rndf(g));
		break;
	default:
		putf(g, "[rank%u]: iteration %u/250 loss %.4f lr %.5f grad_norm %.3f\n", r,
		     g->iter++ % 250, 0.3 * rndf(g), 0.01 * rndf(g), 10.0 * rndf(g));
		break;
	}
}

static void gen_warning(struct gen *g)
{
	switch (rnd(g, 3)) {
	case 0:
		puts_(g, "/opt/conda/lib/python3.10/site-packages/torch/optim/lr_scheduler.py:139: "
		      "UserWarning: Detected call of `lr_scheduler.step()` before "
		      "`optimizer.step()`. In PyTorch 1.1.0 and later, you should call them in "
		      "the opposite order: `optimizer.step()` before `lr_scheduler.step()`.  "
		      "Failure to do this will result in PyTorch skipping the first value of the "
		      "learning rate schedule. See more details at "
		      "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate\n"
		      "  warnings.warn(\"Detected call of `lr_scheduler.step()` before "
		      "`optimizer.step()`. \"\n");
		break;
	case 1:
		puts_(g, "/home/user/nnUNet/nnunetv2/training/nnUNetTrainer/nnUNetTrainer.py:164: "
		      "FutureWarning: `torch.cuda.amp.GradScaler(args...)` is deprecated. Please "
		      "use `torch.amp.GradScaler('cuda', args...)` instead.\n"
		      "  self.grad_scaler = GradScaler() if self.device.type == 'cuda' else None\n");
		break;
	default:
		putf(g, "/opt/conda/lib/python3.10/site-packages/torch/_dynamo/eval_frame.py:%u: "
		     "UserWarning: The given NumPy array is not writable, and PyTorch does not "
		     "support non-writable tensors. This means writing to this tensor will "
		     "result in undefined behavior. (Triggered internally at "
		     "../torch/csrc/utils/tensor_numpy.cpp:206.)\n"
		     "  return torch.from_numpy(data)\n", 600 + rnd(g, 50));
		break;
	}
}

/* Tracebacks a long run prints and survives: a DataLoader worker's
 * shutdown noise, a batchgenerators worker stopped at the end. */
static void gen_worker_tb(struct gen *g)
{
	if (rnd(g, 2)) {
		putf(g, "Exception ignored in: <function _MultiProcessingDataLoaderIter.__del__ "
		     "at 0x7f%010llx>\n"
		     "Traceback (most recent call last):\n"
		     "  File \"/opt/conda/lib/python3.10/site-packages/torch/utils/data/"
		     "dataloader.py\", line 1479, in __del__\n"
		     "    self._shutdown_workers()\n"
		     "  File \"/opt/conda/lib/python3.10/site-packages/torch/utils/data/"
		     "dataloader.py\", line 1443, in _shutdown_workers\n"
		     "    if self._persistent_workers or self._workers_status[worker_id]:\n"
		     "AttributeError: '_MultiProcessingDataLoaderIter' object has no attribute "
		     "'_workers_status'\n",
		     (unsigned long long)(rng_next(&g->rng) & 0xffffffffffULL));
	} else {
		putf(g, "Process Process-%u:\n"
		     "Traceback (most recent call last):\n"
		     "  File \"/opt/conda/lib/python3.10/multiprocessing/process.py\", line 314, "
		     "in _bootstrap\n"
		     "    self.run()\n"
		     "  File \"/opt/conda/lib/python3.10/multiprocessing/process.py\", line 108, "
		     "in run\n"
		     "    self._target(*self._args, **self._kwargs)\n"
		     "  File \"/opt/conda/lib/python3.10/site-packages/batchgenerators/dataloading/"
		     "nondet_multi_threaded_augmenter.py\", line 53, in producer\n"
		     "    sleep(0.01)\n"
		     "KeyboardInterrupt\n", 1 + rnd(g, 12));
	}
}

static void gen_misc(struct gen *g)
{
	switch (rnd(g, 6)) {
	case 0:
		stamp(g);
		putf(g, "predicting case_%05u\n", rnd(g, 1000));
		break;
	case 1:
		puts_(g, "using pin_memory on device 0\n");
		break;
	case 2:
		stamp(g);
		putf(g, "case_%05u, shape torch.Size([1, %u, %u, %u]), rank 0\n", rnd(g, 1000),
		     100 + rnd(g, 300), 200 + rnd(g, 312), 200 + rnd(g, 312));
		break;
	case 3:
		putf(g, "\x1b[1;33mWARNING\x1b[0m \x1b[2m%u\x1b[0m slow batch: %.2f s waiting "
		     "for the data loader\n", g->iter, 1.0 + 4.0 * rndf(g));
		break;
	case 4: { /* the plans block: one long line */
		unsigned n = 20 + rnd(g, 60);

		puts_(g, "This is the configuration used by this training:\nConfiguration name: "
		      "3d_fullres\n {");
		for (unsigned i = 0; i < n; i++)
			putf(g, "'patch_size': [%u, %u, %u], 'spacing': [%.1f, 0.8, 0.8], ",
			     64 + rnd(g, 64), 128 + rnd(g, 64), 128 + rnd(g, 64), 1.0 + rndf(g));
		puts_(g, "'batch_dice': True}\n");
		break;
	}
	default:
		stamp(g);
		puts_(g, "\n");
		break;
	}
}

/* A line longer than CLS_LINE_MAX: a printed tensor with no newline. */
static void gen_long_line(struct gen *g)
{
	size_t want = CLS_LINE_MAX + 4096 + rnd(g, 64 << 10), start = g->len;

	puts_(g, "tensor([");
	while (g->len - start < want)
		putf(g, "%.4f, ", rndf(g));
	puts_(g, "])\n");
	g->long_lines++;
}

/* 1 to 12 consecutive lines of one real crash log. */
static void gen_snippet(struct gen *g)
{
	const struct corpus *co = g->corpus;
	size_t i = rng_next(&g->rng) % co->nlines, n = 1 + rnd(g, 12), bytes = 0;

	for (; n && i < co->lines[i].file_end; n--, i++) {
		if (bytes + co->lines[i].n > SNIPPET_MAX)
			break;
		put(g, co->lines[i].p, co->lines[i].n);
		bytes += co->lines[i].n;
		if (co->lines[i].p[co->lines[i].n - 1] != '\n')
			put(g, "\n", 1); /* the last line of a file */
	}
	g->snippets++;
}

static void gen_event(struct gen *g)
{
	unsigned r = rnd(g, 100000);

	if (g->cap - g->len < EVENT_MAX) {
		fprintf(stderr, "bench_classify: generator overflow\n");
		abort();
	}
	if (r < 100 && g->corpus->nlines)
		gen_snippet(g);
	else if (r < 100)
		gen_misc(g);
	else if (r < 105)
		gen_long_line(g);
	else if (r < 30000)
		gen_tqdm(g);
	else if (r < 52000)
		gen_epoch(g, rnd(g, 10) ? "\n" : "\r\n");
	else if (r < 67000)
		gen_rank(g);
	else if (r < 77000)
		gen_warning(g);
	else if (r < 78000)
		gen_worker_tb(g);
	else
		gen_misc(g);
}

/* Returns the next n bytes of the stream (n <= BLOCK_SIZE), valid until
 * the next call. The stream does not depend on how it is asked for. */
static const char *gen_next(struct gen *g, size_t n)
{
	memmove(g->buf, g->buf + g->used, g->len - g->used);
	g->len -= g->used;
	while (g->len < n)
		gen_event(g);
	g->used = n;
	return g->buf;
}

static void gen_init(struct gen *g, const struct corpus *co, uint64_t seed)
{
	memset(g, 0, sizeof(*g));
	g->rng = seed;
	g->usec = 1721518090494386LL; /* 2024-07-20 23:28:10.494386 */
	g->corpus = co;
	g->cap = BLOCK_SIZE + EVENT_MAX;
	g->buf = xmalloc(g->cap);
}

static void gen_release(struct gen *g)
{
	free(g->buf);
	g->buf = NULL;
}

/* ---- the measurements ---- */

/* The baseline: split into lines with memchr, nothing else. carry is the
 * length of the open line; the sum keeps the work from being optimised
 * away. */
static uint64_t split_lines(const char *p, size_t n, size_t *carry, uint64_t *sum)
{
	const char *end = p + n;
	uint64_t lines = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (!nl) {
			*carry += (size_t)(end - p);
			break;
		}
		*sum += *carry + (size_t)(nl - p);
		*carry = 0;
		lines++;
		p = nl + 1;
	}
	return lines;
}

static void feed_chunks(struct cls *c, const char *p, size_t n)
{
	for (size_t off = 0; off < n; off += FEED_CHUNK)
		cls_feed(c, CLS_STDERR, p + off, n - off < FEED_CHUNK ? n - off : FEED_CHUNK);
}

static bool same_signature(const struct cls_signature *a, const struct cls_signature *b)
{
	return a->klass == b->klass && !strcmp(a->kernel, b->kernel) &&
	       !strcmp(a->assert_expr, b->assert_expr) && !strcmp(a->source, b->source) &&
	       !strcmp(a->exception, b->exception) && !strcmp(a->message, b->message) &&
	       !strcmp(a->error_code, b->error_code) && !strcmp(a->evidence, b->evidence) &&
	       a->line == b->line && (!a->line || a->stream == b->stream) &&
	       a->exit_known == b->exit_known && a->exit_code == b->exit_code &&
	       a->exit_signal == b->exit_signal;
}

/* Prints s on one line, cut at max bytes, control bytes as '?'. */
static void print_cut(const char *s, size_t max)
{
	size_t n = strlen(s);

	putchar('"');
	for (size_t i = 0; i < n && i < max; i++)
		putchar((unsigned char)s[i] < 0x20 ? '?' : s[i]);
	fputs(n > max ? "...\"" : "\"", stdout);
}

/* Feeds the first `total` bytes of the stream to a new classifier, one
 * byte per cls_feed() when bytewise, else in 64 KiB chunks; returns the
 * seconds spent in cls_feed(), adds its CPU seconds to *cpu, fills *out. */
static double run_slice(const struct corpus *co, uint64_t seed, size_t total, bool bytewise,
			struct cls_signature *out, double *cpu)
{
	struct gen g;
	struct cls *c = cls_new();
	double t = 0, t0, c0;

	gen_init(&g, co, seed);
	for (size_t done = 0; done < total; ) {
		size_t n = total - done < BLOCK_SIZE ? total - done : BLOCK_SIZE;
		const char *p = gen_next(&g, n);

		t0 = bench_clock(CLOCK_MONOTONIC);
		c0 = bench_clock(CLOCK_THREAD_CPUTIME_ID);
		if (bytewise) {
			for (size_t i = 0; i < n; i++)
				cls_feed(c, CLS_STDERR, p + i, 1);
		} else {
			feed_chunks(c, p, n);
		}
		t += bench_clock(CLOCK_MONOTONIC) - t0;
		*cpu += bench_clock(CLOCK_THREAD_CPUTIME_ID) - c0;
		done += n;
	}
	cls_finish(c, NULL);
	cls_result(c, out);
	cls_free(c);
	gen_release(&g);
	return t;
}

int main(void)
{
	static const uint64_t seed = 0x6361736562697365ULL; /* "casebise" */
	const char *env_dir = getenv("CASEBISECT_CORPUS");
	size_t total_mb = bench_env_size("BENCH_MB", 1024, 1, (size_t)-1 >> 21), byte_mb = bench_env_size("BENCH_BYTE_MB", 16, 1, (size_t)-1 >> 21);
	size_t total = total_mb * MIB, carry = 0;
	uint64_t lines = 0, sum = 0;
	double t_base = 0, cpu_base = 0, t_cls = 0, cpu_cls = 0, t_byte, cpu_byte, t0, c0;
	double rss_setup, rss_new, rss_run, rss_end;
	double mb = (double)total / (double)MIB, base_mbs, cls_mbs, byte_mbs, wall_mbs;
	struct corpus co;
	struct gen g;
	struct cls *c;
	struct cls_signature sig, sig1, sig64;
	char hex[17];
	bool same;

	memset(&co, 0, sizeof(co));
	if (env_dir && *env_dir && !corpus_load(&co, env_dir))
		fprintf(stderr, "bench_classify: CASEBISECT_CORPUS: no logs in \"%s/logs\"\n",
			env_dir);
	if (!co.nfiles && !corpus_load(&co, "../shared/corpus") &&
	    !corpus_load(&co, "tests/corpus"))
		fprintf(stderr, "bench_classify: no corpus logs found (CASEBISECT_CORPUS, "
			"../shared/corpus, tests/corpus): noise only\n");

	printf("bench_classify: %zu MB of generated training log around %zu corpus logs "
	       "from %s (1 MB = 2^20 bytes)\n", total_mb, co.nfiles, co.dir ? co.dir : "(none)");
	if (fflush(stdout))
		die("stdout: cannot write: %s", strerror(errno));

	/* (a) and (b) on the same bytes: each block is generated (not timed),
	 * split into lines by the baseline, then fed to the classifier. */
	gen_init(&g, &co, seed);
	memset(g.buf, 0, g.cap);
	rss_setup = peak_rss_mb();
	c = cls_new();
	rss_new = peak_rss_mb();
	for (size_t done = 0; done < total; ) {
		size_t n = total - done < BLOCK_SIZE ? total - done : BLOCK_SIZE;
		const char *p = gen_next(&g, n);

		t0 = bench_clock(CLOCK_MONOTONIC);
		c0 = bench_clock(CLOCK_THREAD_CPUTIME_ID);
		lines += split_lines(p, n, &carry, &sum);
		t_base += bench_clock(CLOCK_MONOTONIC) - t0;
		cpu_base += bench_clock(CLOCK_THREAD_CPUTIME_ID) - c0;

		t0 = bench_clock(CLOCK_MONOTONIC);
		c0 = bench_clock(CLOCK_THREAD_CPUTIME_ID);
		feed_chunks(c, p, n);
		t_cls += bench_clock(CLOCK_MONOTONIC) - t0;
		cpu_cls += bench_clock(CLOCK_THREAD_CPUTIME_ID) - c0;
		done += n;
	}
	t0 = bench_clock(CLOCK_MONOTONIC);
	c0 = bench_clock(CLOCK_THREAD_CPUTIME_ID);
	cls_finish(c, NULL);
	cls_result(c, &sig);
	t_cls += bench_clock(CLOCK_MONOTONIC) - t0;
	cpu_cls += bench_clock(CLOCK_THREAD_CPUTIME_ID) - c0;
	rss_run = peak_rss_mb();
	cls_free(c);
	gen_release(&g);

	/* One byte at a time over the first BENCH_BYTE_MB of the same stream,
	 * then (not timed) 64 KiB feeds of the same bytes to compare. One
	 * classifier lives at a time. */
	cpu_byte = 0;
	t_byte = run_slice(&co, seed, byte_mb * MIB, true, &sig1, &cpu_byte);
	t0 = 0;
	run_slice(&co, seed, byte_mb * MIB, false, &sig64, &t0);
	same = same_signature(&sig1, &sig64);
	rss_end = peak_rss_mb();

	/* Rates are per CPU second of this thread ("on one core"), so that a
	 * busy machine slows the numbers less; wall-clock rates are printed
	 * beside them. */
	base_mbs = mb / cpu_base;
	cls_mbs = mb / cpu_cls;
	wall_mbs = mb / t_cls;
	byte_mbs = (double)byte_mb / cpu_byte;
	printf("  input                     %.1f MB, %llu lines, %llu corpus snippets, "
	       "%llu lines > %d bytes\n", mb, (unsigned long long)lines,
	       (unsigned long long)g.snippets, (unsigned long long)g.long_lines, CLS_LINE_MAX);
	printf("  (a) baseline memchr split %8.1f MB/s   (%.3f s cpu, %.3f s wall; checksum %llu)\n",
	       base_mbs, cpu_base, t_base, (unsigned long long)(sum % 1000));
	printf("  (b) classifier, 64 KiB    %8.1f MB/s   (%.3f s cpu, %.3f s wall: %.1f MB/s wall)\n",
	       cls_mbs, cpu_cls, t_cls, wall_mbs);
	printf("  ratio classifier/baseline %8.4f      (the classifier costs %.1fx a bare line "
	       "split)\n", cls_mbs / base_mbs, base_mbs / cls_mbs);
	printf("  classifier, 1-byte feeds  %8.1f MB/s   (%zu MB, %.3f s cpu, %.3f s wall; %.2fx "
	       "the 64 KiB rate)\n", byte_mbs, byte_mb, cpu_byte, t_byte, byte_mbs / cls_mbs);
	printf("  1-byte vs 64 KiB feeds    %s\n", same ? "same signature" :
	       "DIFFERENT signatures (a bug: any chunking must give the same result)");
	if (!same) {
		printf("    1-byte: %s line %llu  ", cls_class_name(sig1.klass),
		       (unsigned long long)sig1.line);
		print_cut(sig1.evidence, 120);
		printf("\n    64 KiB: %s line %llu  ", cls_class_name(sig64.klass),
		       (unsigned long long)sig64.line);
		print_cut(sig64.evidence, 120);
		putchar('\n');
	}
	printf("  peak RSS after the run    %.1f MB   (%.1f MB before cls_new, %.1f MB after it; "
	       "%.1f MB at the end)\n", rss_run, rss_setup, rss_new, rss_end);
	cls_fingerprint_hex(&sig, CLS_MATCH_EXACT, hex);
	printf("  class found               %s  (line %llu of %s, exact fingerprint %s)\n",
	       cls_class_name(sig.klass), (unsigned long long)sig.line,
	       sig.stream == CLS_STDERR ? "stderr" : "stdout", hex);
	if (sig.kernel[0] || sig.assert_expr[0]) {
		printf("    kernel %s  assertion ", sig.kernel);
		print_cut(sig.assert_expr, 100);
		putchar('\n');
	}
	if (sig.evidence[0]) {
		printf("    evidence ");
		print_cut(sig.evidence, 160);
		putchar('\n');
	}
	printf("%s  throughput: classifier %.1f MB/s %s %.0f MB/s on one core\n",
	       cls_mbs >= TARGET_MBS ? "PASS" : "FAIL", cls_mbs,
	       cls_mbs >= TARGET_MBS ? ">=" : "<", TARGET_MBS);
	printf("%s  memory: peak RSS %.1f MB %s %.0f MB for %.0f MB of input%s\n",
	       rss_run < TARGET_RSS_MB ? "PASS" : "FAIL", rss_run,
	       rss_run < TARGET_RSS_MB ? "<" : ">=", TARGET_RSS_MB, mb,
	       total_mb < 1024 ? " (the target is for 1024 MB: set BENCH_MB=1024)" : "");

	corpus_release(&co);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "bench_classify: stdout: cannot write: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
