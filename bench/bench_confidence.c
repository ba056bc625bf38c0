/* bench_confidence: is the report's confidence (confidence.h) calibrated?
 * Many simulated one-slot runs of the reducer against an oracle with false
 * passes; for each answered run, the chance the report states that a
 * culprit remains among the cleared cases, against whether one did. Rows
 * draw k from the search's prior (what the chance is calibrated for) and
 * fix k = 1, 2, 4 (what bench_reduce measures). The oracle misses culprits
 * either once per trial (bench_reduce's: a trial holding culprits passes
 * with chance fp) or per culprit (each escapes on its own with chance fp,
 * as the model assumes).
 *
 * Environment: BENCH_SEEDS (runs per row, default 1000), BENCH_N (only
 * that n). */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "casebisect/confidence.h"
#include "casebisect/plan.h"
#include "casebisect/reduce.h"
#include "casebisect/util.h"

#define K_MAX 12 /* k drawn from the prior is cut here (p(12) = 0.0007) */

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static double uniform(uint64_t *s)
{
	return (double)(next_rand(s) >> 11) / 9007199254740992.0;
}

struct oracle {
	bool *bad;
	double fp;
	bool per_culprit;
	uint64_t rng;
};

static bool oracle_fails(struct oracle *o, const size_t *cases, size_t n)
{
	size_t i, held = 0;

	for (i = 0; i < n; i++)
		held += o->bad[cases[i]];
	if (!held)
		return false;
	if (!o->per_culprit)
		return uniform(&o->rng) >= o->fp;
	for (i = 0; i < held; i++)
		if (uniform(&o->rng) >= o->fp)
			return true;
	return false;
}

/* The trials of one run, kept to be read once the answer is known. */
struct tlog {
	size_t **cases, *n;
	bool *fail;
	size_t count, cap;
};

static void tlog_add(struct tlog *l, const size_t *cases, size_t n, bool fail)
{
	if (l->count == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->cases = xrealloc(l->cases, l->cap * sizeof(*l->cases));
		l->n = xrealloc(l->n, l->cap * sizeof(*l->n));
		l->fail = xrealloc(l->fail, l->cap * sizeof(*l->fail));
	}
	l->cases[l->count] = xmalloc((n + 1) * sizeof(size_t));
	if (n)
		memcpy(l->cases[l->count], cases, n * sizeof(size_t));
	l->n[l->count] = n;
	l->fail[l->count++] = fail;
}

static void tlog_release(struct tlog *l)
{
	size_t i;

	for (i = 0; i < l->count; i++)
		free(l->cases[i]);
	free(l->cases);
	free(l->n);
	free(l->fail);
}

struct row {
	size_t runs, answered;
	double stated;     /* the chances stated, summed */
	size_t remained;   /* answered runs where a culprit was among the cleared */
	/* by stated chance: < 1%, 1-5%, 5-20%, >= 20% */
	size_t bin_runs[4], bin_remained[4];
	double bin_stated[4];
};

static size_t draw_k(uint64_t *rng)
{
	double total = 0, u;
	size_t k;

	for (k = 1; k <= K_MAX; k++)
		total += plan_prior(k);
	u = uniform(rng) * total;
	for (k = 1; k < K_MAX; k++) {
		u -= plan_prior(k);
		if (u < 0)
			break;
	}
	return k;
}

static void run_one(size_t n, size_t k, double fp, bool per_culprit, uint64_t seed,
		    const struct plan *plan, struct row *row)
{
	struct red_options ro = { .strategy = RED_FIND_ALL, .n = n, .slots = 1, .plan = plan };
	struct oracle o = { .fp = fp, .per_culprit = per_culprit, .rng = seed * 2654435761u + 7 };
	struct tlog log = { 0 };
	struct red_trial t;
	struct red_answer a;
	struct conf_result cr;
	struct conf *c;
	struct red *r;
	size_t i, all_n, got, guard = 0, bin;
	size_t *all;
	bool remained = false;

	if (!k)
		k = draw_k(&o.rng);
	o.bad = xcalloc(n, sizeof(*o.bad));
	for (i = 0; i < k; i++) {
		size_t x;

		do
			x = next_rand(&o.rng) % n;
		while (o.bad[x]);
		o.bad[x] = true;
	}
	/* the run command's full-set run (it failed: the search starts) and
	 * the empty-subset check */
	all = xmalloc(n * sizeof(*all));
	for (all_n = 0; all_n < n; all_n++)
		all[all_n] = all_n;
	tlog_add(&log, all, n, true);
	tlog_add(&log, all, 0, false);
	r = red_new(&ro);
	while (!red_done(r) && guard++ < 100000) {
		bool fail;

		got = red_ask(r, &t, 1);
		if (!got)
			break;
		fail = oracle_fails(&o, t.cases, t.n);
		tlog_add(&log, t.cases, t.n, fail);
		red_tell(r, t.id, fail ? RED_FAIL : RED_PASS);
	}
	red_answer(r, &a);
	row->runs++;
	if ((a.verdict == RED_CULPRITS_FOUND || a.verdict == RED_MINIMAL_SUBSET) && a.nculprits) {
		bool *blamed = xcalloc(n, sizeof(*blamed));

		c = conf_new(n, a.culprits, a.nculprits, a.undecided, a.nundecided,
			     a.verdict == RED_MINIMAL_SUBSET);
		for (i = 0; i < log.count; i++)
			conf_add(c, log.cases[i], log.n[i], log.fail[i]);
		conf_result(c, &cr);
		conf_free(c);
		for (i = 0; i < a.nculprits; i++)
			blamed[a.culprits[i]] = true;
		for (i = 0; i < a.nundecided; i++)
			blamed[a.undecided[i]] = true;
		for (i = 0; i < n; i++)
			remained |= o.bad[i] && !blamed[i];
		free(blamed);
		row->answered++;
		row->stated += cr.p_remains;
		row->remained += remained;
		bin = cr.p_remains < 0.01 ? 0 : cr.p_remains < 0.05 ? 1 : cr.p_remains < 0.2 ? 2 : 3;
		row->bin_runs[bin]++;
		row->bin_stated[bin] += cr.p_remains;
		row->bin_remained[bin] += remained;
		if (getenv("BENCH_TRACE"))
			fprintf(stderr, "seed %llu k=%zu found %zu: stated %.4f, %s (F %llu of K %llu)\n",
				(unsigned long long)seed, k, a.nculprits, cr.p_remains,
				remained ? "remained" : "none left",
				(unsigned long long)cr.false_passes, (unsigned long long)cr.known_trials);
	}
	red_free(r);
	tlog_release(&log);
	free(all);
	free(o.bad);
}

/* The targets, on the rows with k drawn from the prior and one miss per
 * trial (bench_reduce's oracle): at 10% false passes the stated chance is
 * within 1.5 points (or two standard errors of the measured share, when
 * that is more) of how often a culprit remained; with fewer false passes
 * it may be cautious but never below the share measured. */
static const char *target(const struct row *row, bool graded, double fp)
{
	double stated, missed, se;

	if (!graded || !row->answered)
		return "";
	stated = row->stated / (double)row->answered;
	missed = (double)row->remained / (double)row->answered;
	se = sqrt((missed > 0.01 ? missed : 0.01) * (1 - missed) / (double)row->answered);
	if (fp >= 0.1)
		return fabs(stated - missed) <= (2 * se > 0.015 ? 2 * se : 0.015) ? "=~ PASS" : "=~ FAIL";
	return stated + 2 * se >= missed ? ">= PASS" : ">= FAIL";
}

static void pct(double num, size_t den)
{
	if (den)
		printf(" %6.2f%%", 100 * num / (double)den);
	else
		printf(" %7s", "-");
}

int main(void)
{
	static const size_t ns[] = { 128, 1024 }, ks[] = { 0, 1, 2, 4 };
	static const double fps[] = { 0.1, 0.02, 0 };
	size_t seeds = bench_env_size("BENCH_SEEDS", 1000, 1, 1000000);
	size_t only_n = bench_env_size("BENCH_N", 0, 1, 1000000);
	size_t a, b, d, e, s;
	double t0 = bench_now();

	printf("bench_confidence: one slot, find-all, default options, %zu runs per row.\n"
	       "stated: the mean chance the report gives that a culprit remains among the\n"
	       "cleared cases; missed: how often one did (answered runs only). k=prior: k\n"
	       "drawn from the search's prior, what the chance is calibrated for.\n\n", seeds);
	printf("%5s %5s %4s %11s | %8s %8s %8s | %-9s | %s\n", "n", "k", "fp", "oracle", "answered",
	       "stated", "missed", "target",
	       "by stated chance <1% / 1-5% / 5-20% / >=20%: runs stated missed");
	for (a = 0; a < CB_ARRAY_SIZE(ns); a++) {
		struct plan *plan;

		if (only_n && ns[a] != only_n)
			continue;
		plan = plan_new(ns[a], 0);
		for (d = 0; d < CB_ARRAY_SIZE(fps); d++)
			for (e = 0; e < 2; e++)
				for (b = 0; b < CB_ARRAY_SIZE(ks); b++) {
					struct row row = { 0 };
					char kname[8];
					size_t x;

					/* per culprit, and with no false pass at all: the
					 * prior's rows only */
					if ((e || fps[d] == 0) && ks[b])
						continue;
					if (e && fps[d] == 0)
						continue;
					for (s = 1; s <= seeds; s++)
						run_one(ns[a], ks[b], fps[d], e, s, plan, &row);
					snprintf(kname, sizeof(kname), ks[b] ? "%zu" : "prior", ks[b]);
					printf("%5zu %5s %4.2f %11s | %8zu", ns[a], kname, fps[d],
					       e ? "per culprit" : "per trial", row.answered);
					pct(row.stated, row.answered);
					pct((double)row.remained, row.answered);
					printf(" | %-9s |", target(&row, ks[b] == 0 && !e, fps[d]));
					for (x = 0; x < 4; x++) {
						printf(" %zu", row.bin_runs[x]);
						if (row.bin_runs[x]) {
							printf(" %.1f%% %.1f%%",
							       100 * row.bin_stated[x] / (double)row.bin_runs[x],
							       100 * (double)row.bin_remained[x] /
								       (double)row.bin_runs[x]);
						}
						printf("%s", x < 3 ? " /" : "\n");
					}
				}
		plan_free(plan);
	}
	printf("\n%.1f s\n", bench_now() - t0);
	return 0;
}
