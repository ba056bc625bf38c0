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

struct conf {
	size_t n, nj;
	bool together;
	unsigned char *state;   /* per case: CLEARED, BLAMED, UNDECIDED */
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
		c->unexplained++;
		for (i = 0; i < ncases; i++)
			c->culprit_left |= c->state[cases[i]] == CLEARED;
		return;
	}
	for (i = 0; i < ncases; i++)
		bump(&c->passes[cases[i]]);
}

/* Cleared cases that passed as often weigh the same: one group each. */
struct group {
	uint32_t m;
	size_t count;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static size_t make_groups(const struct conf *c, struct group **out, uint64_t *fewest)
{
	uint32_t *m = xmalloc((c->n + 1) * sizeof(*m));
	struct group *g;
	size_t i, nm = 0, ng = 0;

	for (i = 0; i < c->n; i++)
		if (c->state[i] == CLEARED)
			m[nm++] = c->passes[i];
	qsort(m, nm, sizeof(*m), cmp_u32);
	g = xmalloc((nm + 1) * sizeof(*g));
	for (i = 0; i < nm; i++) {
		if (!ng || m[i] != g[ng - 1].m) {
			g[ng].m = m[i];
			g[ng].count = 0;
			ng++;
		}
		g[ng - 1].count++;
	}
	*fewest = nm ? m[0] : 0;
	free(m);
	*out = g;
	return ng;
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
	struct group *g;
	size_t ng, i, k, s, deg, j, n;
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
		memset(poly, 0, sizeof(poly));
		poly[0] = 1;
		for (i = 0; i < ng; i++)
			times_power(poly, deg, exp((double)g[i].m * lf), g[i].count);
		for (s = 1; s <= deg; s++)
			sum += prior[s] * poly[s];
		odds += w * sum;
	}
	odds /= wsum;
	out->p_remains = isfinite(odds) ? odds / (1 + odds) : 1;
	free(lw);
	free(g);
}
