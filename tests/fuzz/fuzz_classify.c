/* fuzz_classify: libFuzzer target for the streaming classifier. It feeds each
 * input in a chunking chosen by the input and checks what classify.h promises. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casebisect/classify.h"
#include "casebisect/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

/* Undefined behaviour is a finding: stop at the first report, so libFuzzer
 * saves the input (the build does not pass -fno-sanitize-recover). */
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

/*
 * Input layout (the seeds are plain logs, so their first bytes become this
 * header and the rest is fed):
 *
 *   byte 0  bits 0-2  chunking pattern (see next_chunk)
 *           bit 3     first stream: 0 stdout, 1 stderr
 *           bits 4-5  streams: 0 one stream, 1 the payload split in two and
 *                     fed to both streams one after the other, 2 chunks
 *                     alternate between the streams (no whole-feed twin, so
 *                     only the invariants are checked), 3 as 0
 *           bit 6     zero-length feeds between chunks
 *           bit 7     feed the payload over and over (byte 4 says how
 *                     often), so lines beyond CLS_LINE_MAX come from the
 *                     short inputs libFuzzer starts with
 *   byte 1  exit status: low 3 bits pick the kind, bit 3 sent_by_us
 *   byte 2  pattern parameter (chunk size, PRNG seed, split point)
 *   byte 3  exit code or signal number; also picks the prefix to compare
 *   byte 4  repeats - 1 (0..63), when bit 7 of byte 0 is set
 *
 * Work per input is bounded: at most MAX_FED bytes fed three times, and at
 * most about 80 intermediate cls_result() calls.
 */
#define HDR 5
#define MAX_FED ((size_t)256 << 10)
#define MAX_RESULTS 64

#define CHECK(cond, what)                                                  \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "fuzz_classify: %s:%d: %s: %s\n",  \
				__FILE__, __LINE__, what, #cond);          \
			__builtin_trap();                                  \
		}                                                          \
	} while (0)

struct chunker {
	const uint8_t *buf;
	size_t start; /* the part of buf being fed: [start, len) */
	size_t len;
	size_t pos;
	unsigned pattern;
	unsigned param;
	uint64_t rng;
};

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64: deterministic, so a crash replays from its input. */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Sizes just below, at and above the powers of two a line buffer or a
 * hyperscan stream is likely to use. */
static const size_t edge_sizes[] = {
	2, 3, 7, 15, 16, 17, 63, 64, 65, 127, 255, 256, 257, 1023,
	4095, 4096, 4097, 65535, 65536, 65537,
};

/* Returns the size of the next chunk (> 0), or 0 at the end. */
static size_t next_chunk(struct chunker *ck)
{
	size_t left = ck->len - ck->pos, n = 1;

	if (!left)
		return 0;
	switch (ck->pattern) {
	case 0: /* one byte at a time */
		n = 1;
		break;
	case 1: /* fixed size 1..256 */
		n = (size_t)ck->param + 1;
		break;
	case 2: /* random sizes, log-uniform in 1..4096 */
		n = 1 + (size_t)(rng_next(&ck->rng) % ((size_t)1 << (rng_next(&ck->rng) % 13)));
		break;
	case 3: { /* cut around line ends and escapes: after each \r, before
		   * each \n and ESC, so \r\n and ANSI sequences straddle feeds */
		size_t i = ck->pos;

		if (ck->buf[i] == '\r') {
			n = 1;
			break;
		}
		for (i++; i < ck->len; i++)
			if (ck->buf[i] == '\r' || ck->buf[i] == '\n' ||
			    ck->buf[i] == 0x1b)
				break;
		if (i < ck->len && ck->buf[i] == '\r')
			i++;
		n = i - ck->pos;
		break;
	}
	case 4: /* two pieces, cut at a point taken from the parameter */
		if (ck->pos == ck->start)
			n = (ck->len - ck->start) * ck->param / 256;
		else
			n = left;
		if (!n)
			n = left;
		break;
	case 5: /* sizes read from the payload itself */
		n = (size_t)ck->buf[ck->pos] % 97 + 1;
		break;
	case 6: /* mostly small, now and then larger than CLS_LINE_MAX */
		if (rng_next(&ck->rng) % 16 == 0)
			n = CLS_LINE_MAX - 8 + rng_next(&ck->rng) % 16;
		else
			n = 1 + rng_next(&ck->rng) % 32;
		break;
	default: /* sizes around likely buffer boundaries */
		n = edge_sizes[(ck->param + rng_next(&ck->rng)) % CB_ARRAY_SIZE(edge_sizes)];
		break;
	}
	if (n > left)
		n = left;
	return n;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF.
 * Returns true when s[0..n) is valid. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += k + 1;
	}
	return true;
}

static void check_text(const char *field, size_t size, const char *what)
{
	const char *nul = memchr(field, '\0', size);

	CHECK(nul != NULL, what);
	CHECK(utf8_valid((const unsigned char *)field, (size_t)(nul - field)), what);
}

/* What every signature must satisfy, finished or not. total is the number
 * of bytes fed so far (both streams). */
static void check_signature(const struct cls_signature *s, size_t total)
{
	const char *name;
	enum cls_class back;

	CHECK((unsigned)s->klass < CLS__COUNT, "class out of range");
	check_text(s->kernel, sizeof(s->kernel), "kernel not NUL-terminated UTF-8");
	check_text(s->assert_expr, sizeof(s->assert_expr), "assert_expr not NUL-terminated UTF-8");
	check_text(s->source, sizeof(s->source), "source not NUL-terminated UTF-8");
	check_text(s->exception, sizeof(s->exception), "exception not NUL-terminated UTF-8");
	check_text(s->message, sizeof(s->message), "message not NUL-terminated UTF-8");
	check_text(s->frame, sizeof(s->frame), "frame not NUL-terminated UTF-8");
	check_text(s->error_code, sizeof(s->error_code), "error_code not NUL-terminated UTF-8");
	check_text(s->evidence, sizeof(s->evidence), "evidence not NUL-terminated UTF-8");

	/* A decisive line is a line that said something, and it was fed. */
	CHECK((s->line == 0) == (s->evidence[0] == '\0'), "line 0 iff no evidence");
	CHECK(s->line <= (uint64_t)total + 1, "line number beyond the bytes fed");
	if (s->line)
		CHECK(s->stream == CLS_STDOUT || s->stream == CLS_STDERR, "bad stream");

	name = cls_class_name(s->klass);
	CHECK(name != NULL && name[0] != '\0', "class without a name");
	CHECK(cls_class_parse(name, &back) == 0 && back == s->klass, "class name does not parse back");
}

static void check_fingerprints(const struct cls_signature *s)
{
	static const enum cls_match levels[] = {
		CLS_MATCH_CLASS, CLS_MATCH_KERNEL, CLS_MATCH_EXACT,
	};
	struct cls_signature t;

	for (size_t i = 0; i < CB_ARRAY_SIZE(levels); i++) {
		char hex[17], want[17];
		uint64_t fp = cls_fingerprint(s, levels[i]);
		const char *mname = cls_match_name(levels[i]);
		enum cls_match back;

		memset(hex, 'x', sizeof(hex));
		cls_fingerprint_hex(s, levels[i], hex);
		CHECK(hex[16] == '\0', "fingerprint hex not 16 digits + NUL");
		for (int j = 0; j < 16; j++)
			CHECK((hex[j] >= '0' && hex[j] <= '9') || (hex[j] >= 'a' && hex[j] <= 'f'),
			      "fingerprint hex not lowercase hex");
		snprintf(want, sizeof(want), "%016llx", (unsigned long long)fp);
		CHECK(strcmp(hex, want) == 0, "fingerprint hex differs from cls_fingerprint");
		CHECK(cls_fingerprint(s, levels[i]) == fp, "fingerprint not stable");
		CHECK(mname != NULL && cls_match_parse(mname, &back) == 0 && back == levels[i],
		      "match name does not parse back");
	}

	/* Line numbers never enter a fingerprint; fields outside a level do
	 * not either (CLASS: the class; KERNEL: + kernel and assertion, and
	 * for a Python failure exception type and frame; EXACT: + exception
	 * type and source). */
	memcpy(&t, s, sizeof(t));
	t.line = s->line + 12345;
	t.message[0] = t.error_code[0] = t.evidence[0] = '\0';
	CHECK(cls_fingerprint(&t, CLS_MATCH_EXACT) == cls_fingerprint(s, CLS_MATCH_EXACT),
	      "EXACT fingerprint depends on line/message/error_code/evidence");
	t.source[0] = '\0';
	if (s->klass != CLS_OTHER_ERROR && s->klass != CLS_DATA_ERROR)
		t.exception[0] = t.frame[0] = '\0';
	CHECK(cls_fingerprint(&t, CLS_MATCH_KERNEL) == cls_fingerprint(s, CLS_MATCH_KERNEL),
	      "KERNEL fingerprint depends on fields outside its level");
	t.exception[0] = t.frame[0] = '\0';
	t.kernel[0] = t.assert_expr[0] = '\0';
	CHECK(cls_fingerprint(&t, CLS_MATCH_CLASS) == cls_fingerprint(s, CLS_MATCH_CLASS),
	      "CLASS fingerprint depends on more than the class");
}

static void check_same(const struct cls_signature *a, const struct cls_signature *b,
		       const char *what)
{
	CHECK(a->klass == b->klass, what);
	CHECK(strcmp(a->kernel, b->kernel) == 0, what);
	CHECK(strcmp(a->assert_expr, b->assert_expr) == 0, what);
	CHECK(strcmp(a->source, b->source) == 0, what);
	CHECK(strcmp(a->exception, b->exception) == 0, what);
	CHECK(strcmp(a->message, b->message) == 0, what);
	CHECK(strcmp(a->frame, b->frame) == 0, what);
	CHECK(strcmp(a->error_code, b->error_code) == 0, what);
	CHECK(strcmp(a->evidence, b->evidence) == 0, what);
	CHECK(a->line == b->line, what);
	if (a->line)
		CHECK(a->stream == b->stream, what);
	CHECK(a->exit_known == b->exit_known, what);
	CHECK(a->exit_code == b->exit_code, what);
	CHECK(a->exit_signal == b->exit_signal, what);
}

/* Fills *out through cls_result() into a poisoned struct, so a field the
 * classifier forgets to fill shows up as a difference. */
static void result(const struct cls *c, struct cls_signature *out, unsigned char poison)
{
	memset(out, poison, sizeof(*out));
	cls_result(c, out);
}

static void make_exit(uint8_t kind, uint8_t value, struct cls_exit *ex, bool *given)
{
	static const int sigs[] = { 9, 11, 7, 6, 4, 8, 15, 2, 1, 13 };

	memset(ex, 0, sizeof(*ex));
	*given = true;
	ex->sent_by_us = kind & 8;
	switch (kind & 7) {
	case 0:
		*given = false; /* NULL */
		break;
	case 1: /* a struct that says "unknown" */
		ex->known = false;
		ex->code = value;
		break;
	case 2:
		ex->known = true;
		ex->code = 0;
		break;
	case 3:
		ex->known = true;
		ex->code = value;
		break;
	case 4: /* shell-style 128+signal */
		ex->known = true;
		ex->code = 128 + sigs[value % CB_ARRAY_SIZE(sigs)];
		break;
	case 5:
	case 6:
		ex->known = true;
		ex->signal = sigs[value % CB_ARRAY_SIZE(sigs)];
		ex->code = 0;
		break;
	default:
		ex->known = true;
		ex->signal = 1 + value % 64;
		ex->code = value;
		break;
	}
}

/* What the exit fields and the exit rules promise once finished. */
static void check_exit(const struct cls_signature *s, const struct cls_exit *ex)
{
	bool known = ex && ex->known;

	CHECK(s->exit_known == known, "exit_known differs from the exit given");
	if (!known)
		return;
	if (ex->signal) {
		CHECK(s->exit_code == -1, "exit_code not -1 after a signal");
		CHECK(s->exit_signal == ex->signal, "exit_signal differs");
		/* A signal counts when the output shows nothing, unless we sent it. */
		if (!ex->sent_by_us)
			CHECK(s->klass != CLS_NONE, "signal not sent by us, yet class none");
	} else {
		CHECK(s->exit_code == ex->code, "exit_code differs");
		CHECK(s->exit_signal == 0, "exit_signal set without a signal");
		/* 128+signal may be the shell reporting our own signal. */
		if (ex->code != 0 && !ex->sent_by_us)
			CHECK(s->klass != CLS_NONE, "non-zero exit, yet class none");
	}
}

/* Feeds the payload in one piece per stream, as the twin of a chunked run. */
static struct cls *feed_whole(const uint8_t *p, size_t n, size_t split,
			      enum cls_stream first)
{
	struct cls *c = cls_new();

	cls_feed(c, first, p, split);
	if (split < n)
		cls_feed(c, (enum cls_stream)!first, p + split, n - split);
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cls_signature chunked, whole, again, at_cut, prefix;
	struct cls_exit ex;
	struct chunker ck;
	struct cls *c, *w;
	uint8_t *buf;
	size_t n, split, fed = 0, cut, cut_fed = 0, nresults = 0, since = 0;
	enum cls_stream first;
	unsigned mode;
	bool zero_feeds, given, have_cut = false;
	int reps;

	if (size < HDR)
		return 0;
	mode = (data[0] >> 4) & 3;
	first = (data[0] & 8) ? CLS_STDERR : CLS_STDOUT;
	zero_feeds = data[0] & 0x40;
	reps = 1;
	if ((data[0] & 0x80) && size > HDR) {
		reps = 1 + data[4] % 64;
		if ((size_t)reps * (size - HDR) > MAX_FED)
			reps = (int)(MAX_FED / (size - HDR));
		if (reps < 1)
			reps = 1;
	}
	make_exit(data[1], data[3], &ex, &given);

	/* The payload, repeated when asked; one buffer so chunks may span
	 * the repeats. */
	n = (size - HDR) * (size_t)reps;
	buf = xmalloc(n);
	for (int r = 0; r < reps; r++)
		memcpy(buf + (size_t)r * (size - HDR), data + HDR, size - HDR);

	split = n;
	if (mode == 1)
		split = n * data[2] / 256;
	cut = n * data[3] / 256;

	memset(&ck, 0, sizeof(ck));
	ck.buf = buf;
	ck.len = n;
	ck.pattern = data[0] & 7;
	ck.param = data[2];
	ck.rng = (uint64_t)data[2] << 8 | data[3];

	/* The chunked run, with cls_result() now and then on the way. In
	 * mode 1 chunks never cross the split point between the streams. */
	c = cls_new();
	for (int part = 0; part < 2; part++) {
		size_t k, nchunks = 0;

		ck.start = ck.pos = part ? split : 0;
		ck.len = part ? n : split;
		while ((k = next_chunk(&ck)) != 0) {
			enum cls_stream st = part ? (enum cls_stream)!first : first;

			if (mode == 2 && nchunks++ % 2)
				st = (enum cls_stream)!first;
			cls_feed(c, st, buf + ck.pos, k);
			if (zero_feeds)
				cls_feed(c, st, buf + ck.pos, 0);
			ck.pos += k;
			fed += k;
			since += k;
			if (nresults < 8 ||
			    (since >= n / MAX_RESULTS && nresults < 8 + MAX_RESULTS)) {
				result(c, &chunked, 0xa5);
				check_signature(&chunked, fed);
				nresults++;
				since = 0;
			}
			/* Remember the result at the first chunk boundary past
			 * the cut: a fresh classifier fed that prefix whole
			 * must agree. */
			if (!have_cut && fed >= cut && mode != 2) {
				result(c, &at_cut, 0x3c);
				cut_fed = fed;
				have_cut = true;
			}
		}
	}

	result(c, &again, 0x11);
	result(c, &chunked, 0x22);
	check_same(&chunked, &again, "cls_result() changed between two calls");
	cls_finish(c, given ? &ex : NULL);
	result(c, &chunked, 0xa5);
	result(c, &again, 0x5a);
	check_same(&chunked, &again, "cls_result() after cls_finish() not stable");
	check_signature(&chunked, n);
	check_exit(&chunked, given ? &ex : NULL);
	check_fingerprints(&chunked);

	if (mode != 2) {
		/* The same bytes whole: identical signature. */
		w = feed_whole(buf, n, split, first);
		cls_finish(w, given ? &ex : NULL);
		result(w, &whole, 0x5a);
		check_same(&chunked, &whole, "chunked feeding differs from feeding whole");
		for (int lv = CLS_MATCH_CLASS; lv <= CLS_MATCH_EXACT; lv++)
			CHECK(cls_fingerprint(&chunked, (enum cls_match)lv) ==
			      cls_fingerprint(&whole, (enum cls_match)lv),
			      "fingerprint differs between chunked and whole");
		cls_free(w);

		/* The prefix up to the cut, unfinished: identical too. */
		if (have_cut) {
			w = feed_whole(buf, cut_fed, split < cut_fed ? split : cut_fed, first);
			result(w, &prefix, 0x96);
			check_signature(&prefix, cut_fed);
			check_same(&at_cut, &prefix,
				   "unfinished result after chunks differs from the prefix fed whole");
			cls_free(w);
		}
	}

	cls_free(c);
	free(buf);
	return 0;
}
