/* confidence: the chance a culprit remains among the cleared cases; the
 * model is in include/casebisect/confidence.h.
 *
 * Design note: why a quadrature. The odds are a polynomial in f averaged
 * over f's Beta. For one more culprit the average has a closed form
 * (E f^m = B(a+m, b) / B(a, b)), but sets of two and more multiply the
 * f^m_c of their cases, and the elementary symmetric polynomials that sum
 * them are cheapest to build at a given f. A midpoint rule over logit f
 * (8192 points on [-40, 40]) follows the Beta both when it is wide (few
 * trials) and when it is narrow near 0 (many trials, no false pass):
 * in logit f the density is smooth on a scale of 1/sqrt(K) or more,
 * against a step of 0.01. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "casebisect/confidence.h"
#include "casebisect/plan.h"
#include "casebisect/util.h"

#define QUAD_POINTS 8192
#define QUAD_LOGIT 40.0
/* Quadrature points weighing less than this share of the heaviest are
 * skipped: they cannot move the answer. */
#define QUAD_TAIL 1e-18

enum { CLEARED = 0, BLAMED, UNDECIDED };
enum { AUDIT_UNREAD = 0, AUDIT_CLEAN, AUDIT_CRASH };
#define SIGMA_POINTS 128 /* the quadrature over the audit's sensitivity */

struct conf {
	size_t n, nj;
	bool together;
	unsigned char *state;   /* per case: CLEARED, BLAMED, UNDECIDED */
	unsigned char *audit;   /* per case: AUDIT_UNREAD, AUDIT_CLEAN, AUDIT_CRASH */
	bool audited;
	uint32_t *passes;       /* m_c: passing trials without a culprit of J */
	uint64_t known, false_passes, unexplained;
	bool culprit_left;      /* an unexplained fail held a cleared case */
};

struct conf *conf_new(size_t n, const size_t *culprits, size_t nculprits, const size_t *undecided,
		      size_t nundecided, bool together)
{
	struct conf *c = xcalloc(1, sizeof(*c));
	size_t i;

	assert(nculprits >= 1 && nculprits <= n);
	c->n = n;
	c->nj = nculprits;
	c->together = together;
	c->state = xcalloc(n + 1, 1);
	c->audit = xcalloc(n + 1, 1);
	c->passes = xcalloc(n + 1, sizeof(*c->passes));
	for (i = 0; i < nundecided; i++) {
		assert(undecided[i] < n);
		c->state[undecided[i]] = UNDECIDED;
	}
	for (i = 0; i < nculprits; i++) {
		assert(culprits[i] < n);
		c->state[culprits[i]] = BLAMED;
	}
	return c;
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	free(c->state);
	free(c->audit);
	free(c->passes);
	free(c);
}

static void bump(uint32_t *v)
{
	if (*v < UINT32_MAX)
		(*v)++;
}

void conf_add(struct conf *c, const size_t *cases, size_t ncases, bool fail)
{
	size_t i, held = 0;

	for (i = 0; i < ncases; i++) {
		assert(cases[i] < c->n);
		held += c->state[cases[i]] == BLAMED;
	}
	if (c->together ? held == c->nj : held > 0) {
		c->known++;
		c->false_passes += !fail;
		return;
	}
	if (fail) {
		/* part of a subset may explain it (one of its cases crashes
		 * alone after all): that puts no culprit among the cleared */
		c->unexplained++;
		for (i = 0; i < ncases && !held; i++)
			c->culprit_left |= c->state[cases[i]] == CLEARED;
		return;
	}
	for (i = 0; i < ncases; i++)
		bump(&c->passes[cases[i]]);
}

void conf_audit(struct conf *c, size_t i, bool crashes)
{
	assert(i < c->n);
	c->audit[i] = crashes ? AUDIT_CRASH : AUDIT_CLEAN;
	c->audited = true;
}

/* Cleared cases that passed as often and that the audit saw alike weigh
 * the same: one group each. */
struct group {
	uint32_t m;
	unsigned audit;
	size_t count;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static size_t make_groups(const struct conf *c, struct group **out, uint64_t *fewest)
{
	uint64_t *key = xmalloc((c->n + 1) * sizeof(*key));
	struct group *g;
	size_t i, nk = 0, ng = 0;

	for (i = 0; i < c->n; i++)
		if (c->state[i] == CLEARED)
			key[nk++] = (uint64_t)c->passes[i] << 8 | c->audit[i];
	qsort(key, nk, sizeof(*key), cmp_u64);
	g = xmalloc((nk + 1) * sizeof(*g));
	for (i = 0; i < nk; i++) {
		if (!ng || key[i] != ((uint64_t)g[ng - 1].m << 8 | g[ng - 1].audit)) {
			g[ng].m = (uint32_t)(key[i] >> 8);
			g[ng].audit = (unsigned)(key[i] & 0xff);
			g[ng].count = 0;
			ng++;
		}
		g[ng - 1].count++;
	}
	*fewest = nk ? key[0] >> 8 : 0;
	free(key);
	*out = g;
	return ng;
}

/* The audit's evidence, at the points of a quadrature over its
 * sensitivity sigma (the chance it flags a culprit; Beta(h+1, r-h+1) from
 * the h of the r culprits it read that it flagged): a cleared case it
 * flagged is sigma/alpha times likelier a culprit, one it found clean
 * (1-sigma)/(1-alpha), alpha the share of the cleared cases it read that
 * it flagged (Laplace; many cases, so taken at its mean). Without an audit
 * (or for a subset, one cause of several cases): one point, no evidence. */
struct sigma {
	double w[SIGMA_POINTS], crash[SIGMA_POINTS], clean[SIGMA_POINTS];
	size_t n;
};

static void sigma_points(const struct conf *c, struct conf_result *out, struct sigma *sg)
{
	double alpha, top = -HUGE_VAL, sum = 0, h, miss;
	size_t i;

	sg->n = 1;
	sg->w[0] = sg->crash[0] = sg->clean[0] = 1;
	if (!c->audited || c->together)
		return;
	for (i = 0; i < c->n; i++) {
		if (c->audit[i] == AUDIT_UNREAD)
			continue;
		if (c->state[i] == BLAMED) {
			out->audit_culprits_read++;
			out->audit_culprits_flagged += c->audit[i] == AUDIT_CRASH;
		} else if (c->state[i] == CLEARED) {
			out->audit_cleared_read++;
			out->audit_cleared_flagged += c->audit[i] == AUDIT_CRASH;
		}
	}
	out->audit_used = true;
	alpha = ((double)out->audit_cleared_flagged + 1) / ((double)out->audit_cleared_read + 2);
	h = (double)out->audit_culprits_flagged;
	miss = (double)(out->audit_culprits_read - out->audit_culprits_flagged);
	sg->n = SIGMA_POINTS;
	for (i = 0; i < SIGMA_POINTS; i++) {
		double sigma = ((double)i + 0.5) / SIGMA_POINTS;

		sg->w[i] = h * log(sigma) + miss * log1p(-sigma);
		if (sg->w[i] > top)
			top = sg->w[i];
		sg->crash[i] = sigma / alpha;
		sg->clean[i] = (1 - sigma) / (1 - alpha);
	}
	for (i = 0; i < SIGMA_POINTS; i++)
		sum += sg->w[i] = exp(sg->w[i] - top);
	for (i = 0; i < SIGMA_POINTS; i++)
		sg->w[i] /= sum;
}

static double lbinom(double a, double b)
{
	return lgamma(a + 1) - lgamma(b + 1) - lgamma(a - b + 1);
}

/* poly[0..deg] *= (1 + L z)^count, truncated at deg. */
static void times_power(double *poly, size_t deg, double l, size_t count)
{
	double co[CONF_MORE_MAX + 1];
	size_t s, t, top = count < deg ? count : deg;

	co[0] = 1;
	for (t = 1; t <= top; t++)
		co[t] = co[t - 1] * (double)(count - t + 1) / (double)t * l;
	for (s = deg; s > 0; s--) {
		double sum = poly[s];

		for (t = 1; t <= top && t <= s; t++)
			sum += poly[s - t] * co[t];
		poly[s] = sum;
	}
}

void conf_result(const struct conf *c, struct conf_result *out)
{
	double prior[CONF_MORE_MAX + 1], poly[CONF_MORE_MAX + 1];
	double a, b, top = -HUGE_VAL, odds = 0, wsum = 0, *lw;
	struct sigma sg;
	struct group *g;
	size_t ng, i, k, q, s, deg, j, n;
	uint64_t fewest;

	memset(out, 0, sizeof(*out));
	out->known_trials = c->known;
	out->false_passes = c->false_passes;
	out->unexplained_fails = c->unexplained;
	out->false_pass_rate = ((double)c->false_passes + 1) / ((double)c->known + 2);
	ng = make_groups(c, &g, &fewest);
	for (i = 0; i < ng; i++)
		out->cleared += g[i].count;
	out->fewest_passes = fewest;
	sigma_points(c, out, &sg);
	if (!out->cleared || c->culprit_left) {
		out->p_remains = out->cleared ? 1 : 0;
		free(g);
		return;
	}

	/* the prior odds of s more culprits in one given set of s cases */
	j = c->together ? 1 : c->nj;
	n = c->together ? c->n - c->nj + 1 : c->n;
	deg = out->cleared < CONF_MORE_MAX ? out->cleared : CONF_MORE_MAX;
	for (s = 1; s <= deg; s++)
		prior[s] = exp(log(plan_prior(j + s)) - log(plan_prior(j)) + lbinom((double)n, (double)j) -
			       lbinom((double)n, (double)(j + s)));

	a = (double)c->false_passes + 1;
	b = (double)(c->known - c->false_passes) + 1;
	lw = xmalloc(QUAD_POINTS * sizeof(*lw));
	for (k = 0; k < QUAD_POINTS; k++) {
		double t = -QUAD_LOGIT + 2 * QUAD_LOGIT * ((double)k + 0.5) / QUAD_POINTS;

		/* Beta(a, b) in logit f: f^a (1-f)^b (the Jacobian is f(1-f)) */
		lw[k] = -a * log1p(exp(-t)) - b * log1p(exp(t));
		if (lw[k] > top)
			top = lw[k];
	}
	for (k = 0; k < QUAD_POINTS; k++) {
		double t = -QUAD_LOGIT + 2 * QUAD_LOGIT * ((double)k + 0.5) / QUAD_POINTS;
		double w = exp(lw[k] - top), lf = -log1p(exp(-t)), sum = 0;

		wsum += w;
		if (w < QUAD_TAIL)
			continue;
		for (q = 0; q < sg.n; q++) {
			if (sg.w[q] < QUAD_TAIL)
				continue;
			memset(poly, 0, sizeof(poly));
			poly[0] = 1;
			for (i = 0; i < ng; i++) {
				double l = exp((double)g[i].m * lf);

				if (g[i].audit == AUDIT_CRASH)
					l *= sg.crash[q];
				else if (g[i].audit == AUDIT_CLEAN)
					l *= sg.clean[q];
				times_power(poly, deg, l, g[i].count);
			}
			for (s = 1; s <= deg; s++)
				sum += sg.w[q] * prior[s] * poly[s];
		}
		odds += w * sum;
	}
	odds /= wsum;
	out->p_remains = isfinite(odds) ? odds / (1 + odds) : 1;
	free(lw);
	free(g);
}
