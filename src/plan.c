/* plan: the one-slot search's choices by dynamic programming; the model
 * is in include/casebisect/plan.h. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "casebisect/plan.h"
#include "casebisect/util.h"

#define PLAN_LEVELS 10  /* culprit counts a table holds: j0 .. j0+9 */
#define PLAN_DECIDE 6   /* decisions use levels below this; above, lookahead */
#define EXACT_UP_TO 64  /* every size up to this is a grid point */
#define PER_DOUBLING 16 /* grid points per doubling above it */
#define TAIL 1e-7       /* posterior mass below this share of the top is dropped */

struct plan {
	size_t n, j0;
	size_t *grid, ng;  /* sizes 0 .. n, sorted */
	uint32_t *at;      /* at[x]: the index of the grid point at or below x */
	double *v;         /* V(grid[gi], grid[ri], j0+l) at (l*ng + gi)*ng + ri, grid[gi] >= 2 */
	double *v0;        /* V(0, grid[ui], j0+l) at l*ng + ui: no failing group */
	double *lf;        /* log x!, x = 0 .. n */
};

/* ---- the prior and the posterior ---- */

double plan_prior(size_t k)
{
	static const double table[] = { 0, 0.45, 0.33, 0.09, 0.09 };
	size_t last = sizeof(table) / sizeof(*table) - 1;

	if (k <= last)
		return table[k];
	return table[last] * ldexp(1.0, -(int)(k - last > 1000 ? 1000 : k - last));
}

/* log C(a, b) from a table of log factorials, or lgamma without one. */
static double lbinom(const double *lf, size_t a, size_t b)
{
	if (lf)
		return lf[a] - lf[b] - lf[a - b];
	return lgamma((double)a + 1) - lgamma((double)b + 1) - lgamma((double)(a - b) + 1);
}

static void posterior(const double *lf, size_t n, size_t j, size_t u, double *post, size_t *nm)
{
	double top = -HUGE_VAL, sum = 0;
	size_t m, count = 0;

	for (m = 0; m <= u && j + m <= PLAN_KMAX && j + m <= n; m++) {
		post[m] = j + m == 0 ? -HUGE_VAL
				     : log(plan_prior(j + m)) + lbinom(lf, u, m) - lbinom(lf, n, j + m);
		if (post[m] > top)
			top = post[m];
		count = m + 1;
	}
	for (m = 0; m < count; m++) {
		post[m] = post[m] - top < log(TAIL) ? 0 : exp(post[m] - top);
		sum += post[m];
	}
	while (count > 1 && post[count - 1] == 0)
		count--;
	for (m = 0; m < count; m++)
		post[m] = sum > 0 ? post[m] / sum : 0;
	*nm = count;
}

void plan_posterior(size_t n, size_t j, size_t u, double *post, size_t *nm)
{
	posterior(NULL, n, j, u, post, nm);
}

/* sum over m >= 1 of post[m] * C(u-x, m) / C(u, m): the chance that m
 * culprits among u cases all avoid x given ones, weighted. */
static double avoid(const double *post, size_t nm, size_t u, size_t x)
{
	double s = 0, ratio = 1;
	size_t m;

	for (m = 1; m < nm; m++) {
		if (x + m > u)
			break;
		ratio *= (double)(u - x - (m - 1)) / (double)(u - (m - 1));
		s += post[m] * ratio;
	}
	return s;
}

/* ---- the grid ---- */

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static void make_grid(struct plan *p)
{
	size_t n = p->n, cap = EXACT_UP_TO + 2 + (PER_DOUBLING + 2) * 65, k = 0, i, out;
	double x, step = exp2(1.0 / PER_DOUBLING);

	p->grid = xmalloc(cap * sizeof(*p->grid));
	for (i = 0; i <= n && i <= EXACT_UP_TO; i++)
		p->grid[k++] = i;
	for (x = EXACT_UP_TO * step; x < (double)n; x *= step)
		p->grid[k++] = (size_t)ceil(x);
	for (i = 1; i <= n; i *= 2) {
		p->grid[k++] = i;
		if (i <= n / 3)
			p->grid[k++] = 3 * i;
	}
	p->grid[k++] = n;
	qsort(p->grid, k, sizeof(*p->grid), cmp_size);
	for (i = out = 0; i < k; i++)
		if (!out || p->grid[i] != p->grid[out - 1])
			p->grid[out++] = p->grid[i];
	p->ng = out;
	p->at = xmalloc((n + 1) * sizeof(*p->at));
	for (i = k = 0; i <= n; i++) {
		while (k + 1 < out && p->grid[k + 1] <= i)
			k++;
		p->at[i] = (uint32_t)k;
	}
}

/* The grid point at or below x (x <= n). */
static size_t below(const struct plan *p, size_t x)
{
	return p->at[x];
}

/* Where x falls between grid points i and i+1: x = grid[i] + w * gap. */
static size_t bracket(const struct plan *p, size_t x, double *w)
{
	size_t i = below(p, x);

	if (p->grid[i] == x || i + 1 == p->ng) {
		*w = 0;
		return i;
	}
	*w = (double)(x - p->grid[i]) / (double)(p->grid[i + 1] - p->grid[i]);
	return i;
}

/* ---- the values ---- */

static double *v_at(const struct plan *p, size_t l, size_t gi, size_t ri)
{
	return &p->v[(l * p->ng + gi) * p->ng + ri];
}

/* V(0, u, j0+l); past the last level, 0: the lookahead stops there. */
static double value0(const struct plan *p, size_t l, size_t u)
{
	double w;
	size_t i;

	if (l >= PLAN_LEVELS)
		return 0;
	i = bracket(p, u, &w);
	return w ? (1 - w) * p->v0[l * p->ng + i] + w * p->v0[l * p->ng + i + 1]
		 : p->v0[l * p->ng + i];
}

/* V(g, r, j0+l): a failing group of g >= 2, r other unknown cases. */
static double value(const struct plan *p, size_t l, size_t g, size_t r)
{
	double wg, wr, a, b;
	size_t gi = bracket(p, g, &wg), ri = bracket(p, r, &wr);

	a = wr ? (1 - wr) * *v_at(p, l, gi, ri) + wr * *v_at(p, l, gi, ri + 1) : *v_at(p, l, gi, ri);
	if (!wg)
		return a;
	b = wr ? (1 - wr) * *v_at(p, l, gi + 1, ri) + wr * *v_at(p, l, gi + 1, ri + 1)
	       : *v_at(p, l, gi + 1, ri);
	return (1 - wg) * a + wg * b;
}

/* One trial of t cases of a failing group of g (g >= 2) among u unknown,
 * at level l: 1 + the expected trials after it. `post` is the posterior
 * for u; fg = avoid(g), den = P(the group holds a culprit), weighted. */
static double try_part(const struct plan *p, size_t l, const double *post, size_t nm, size_t g,
		       size_t u, size_t t, double fg, double den)
{
	double clean = den > 0 ? (avoid(post, nm, u, t) - fg) / den : 0.5;
	double vf = t == 1 ? value0(p, l + 1, u - 1) : value(p, l, t, u - t);
	double vp = g - t == 1 ? 1 + value0(p, l + 1, u - g) : value(p, l, g - t, u - g);

	return 1 + (1 - clean) * vf + clean * vp;
}

/* One trial of t of the u unknown cases, no failing group (t = u: the
 * remainder, whose pass ends the search). */
static double try_probe(const struct plan *p, size_t l, const double *post, size_t nm, size_t u,
			size_t t)
{
	double clean = post[0] + avoid(post, nm, u, t), vf, vp;

	if (t == u) {
		vf = u == 1 ? value0(p, l + 1, 0) : value(p, l, u, 0);
		vp = 0;
	} else {
		vf = t == 1 ? value0(p, l + 1, u - 1) : value(p, l, t, u - t);
		vp = value0(p, l, u - t);
	}
	return 1 + (1 - clean) * vf + clean * vp;
}

/* A value past the states that exist (more unknown cases than n - j),
 * for interpolating up to the edge: the line through the two values
 * before it, v[(i-1)*stride] and v[(i-2)*stride] (stride 1 along the
 * other unknown cases, ng along the group size). V is smooth there (about
 * log2 of the unknown cases), so across one grid gap the line is within a
 * thousandth of a trial; a flat copy instead makes every state with
 * nothing cleared look cheaper than it is, and tips the choices there. */
static double extrapolate(const struct plan *p, const double *v, size_t i, size_t stride)
{
	double a = v[(i - 1) * stride];

	if (i < 2)
		return a;
	return a + (a - v[(i - 2) * stride]) * (double)(p->grid[i] - p->grid[i - 1]) /
			   (double)(p->grid[i - 1] - p->grid[i - 2]);
}

/* The part of a group (grid index gi) that passes with even odds: the
 * best first part lies within a factor of 2 of it (one that passes much
 * less or much more often than not says too little), so the solver tries
 * only those. */
static size_t even_odds(const struct plan *p, const double *post, size_t nm, size_t u, size_t gi,
			double fg, double den)
{
	size_t lo = 1, hi = gi - 1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (den > 0 && (avoid(post, nm, u, p->grid[mid]) - fg) / den > 0.5)
			lo = mid + 1;
		else
			hi = mid;
	}
	return p->grid[lo];
}

/* Level l from level l+1: groups by size, smallest first (a trial only
 * leads to a smaller group, or to no group), then no group by u. A
 * candidate part whose outcome would be read between grid points not yet
 * solved (a part under a grid gap) is skipped: such thin parts are never
 * the best. */
static void solve_level(struct plan *p, size_t l)
{
	double post[PLAN_KMAX + 1];
	size_t gi, ri, ti, nm, j = p->j0 + l;

	for (gi = 0; gi < p->ng; gi++) {
		size_t g = p->grid[gi];

		if (g < 2)
			continue;
		for (ri = 0; ri < p->ng; ri++) {
			size_t r = p->grid[ri], u = g + r;
			double best = HUGE_VAL, fg, den;
			size_t even;

			if (g > p->n - j && gi > 2) { /* no such group: along g */
				*v_at(p, l, gi, ri) = extrapolate(p, v_at(p, l, 0, ri), gi, p->ng);
				continue;
			}
			if (u > p->n - j) { /* no such state: along r */
				*v_at(p, l, gi, ri) = ri ? extrapolate(p, v_at(p, l, gi, 0), ri, 1) : 0;
				continue;
			}
			posterior(p->lf, p->n, j, u, post, &nm);
			fg = avoid(post, nm, u, g);
			den = avoid(post, nm, u, 0) - fg;
			even = even_odds(p, post, nm, u, gi, fg, den);
			for (ti = below(p, even / 2); ti < gi && p->grid[ti] <= 2 * even; ti++) {
				size_t t = p->grid[ti], rest = below(p, g - t);
				double val;

				if (t == 0)
					continue;
				if (p->grid[rest] != g - t && rest + 1 >= gi)
					continue;
				val = try_part(p, l, post, nm, g, u, t, fg, den);
				if (val < best)
					best = val;
			}
			*v_at(p, l, gi, ri) = best == HUGE_VAL ? 0 : best;
		}
	}
	for (ri = 0; ri < p->ng; ri++) {
		size_t u = p->grid[ri];
		double best = HUGE_VAL;

		if (u > p->n - j) {
			p->v0[l * p->ng + ri] = extrapolate(p, &p->v0[l * p->ng], ri, 1);
			continue;
		}
		if (u == 0) {
			p->v0[l * p->ng] = 1; /* the remainder alone: it passes */
			continue;
		}
		posterior(p->lf, p->n, j, u, post, &nm);
		for (ti = 1; ti <= ri; ti++) {
			size_t t = p->grid[ti], rest = below(p, u - t);
			double val;

			if (t < u && p->grid[rest] != u - t && rest + 1 >= ri)
				continue;
			val = try_probe(p, l, post, nm, u, t);
			if (val < best)
				best = val;
		}
		p->v0[l * p->ng + ri] = best;
	}
}

struct plan *plan_new(size_t n, size_t j0)
{
	struct plan *p = xcalloc(1, sizeof(*p));
	size_t x, l;

	p->n = n;
	p->j0 = j0;
	make_grid(p);
	p->lf = xmalloc((n + 1) * sizeof(*p->lf));
	p->lf[0] = 0;
	for (x = 1; x <= n; x++)
		p->lf[x] = p->lf[x - 1] + log((double)x);
	p->v = xcalloc(PLAN_LEVELS * p->ng * p->ng, sizeof(*p->v));
	p->v0 = xcalloc(PLAN_LEVELS * p->ng, sizeof(*p->v0));
	for (l = PLAN_LEVELS; l-- > 0;)
		if (j0 + l <= n)
			solve_level(p, l);
	return p;
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	free(p->grid);
	free(p->at);
	free(p->v);
	free(p->v0);
	free(p->lf);
	free(p);
}

bool plan_covers(const struct plan *p, size_t n, size_t j)
{
	return p && p->n == n && j >= p->j0 && j < p->j0 + PLAN_DECIDE;
}

size_t plan_cut(const struct plan *p, size_t g, size_t u, size_t j)
{
	double post[PLAN_KMAX + 1], best = HUGE_VAL, fg, den;
	size_t l = j - p->j0, nm, t, cut = 1;

	if (g < 2)
		return g;
	posterior(p->lf, p->n, j, u, post, &nm);
	fg = avoid(post, nm, u, g);
	den = avoid(post, nm, u, 0) - fg;
	for (t = 1; t < g; t++) {
		double val = try_part(p, l, post, nm, g, u, t, fg, den);

		if (val < best) {
			best = val;
			cut = t;
		}
	}
	return cut;
}

size_t plan_probe(const struct plan *p, size_t u, size_t j)
{
	double post[PLAN_KMAX + 1], best = HUGE_VAL;
	size_t l = j - p->j0, nm, t, size = u;

	posterior(p->lf, p->n, j, u, post, &nm);
	for (t = 1; t <= u; t++) {
		double val = try_probe(p, l, post, nm, u, t);

		if (val < best) {
			best = val;
			size = t;
		}
	}
	return size;
}

double plan_left(const struct plan *p, size_t g, size_t u, size_t j)
{
	size_t l = j - p->j0;

	if (g >= 2)
		return value(p, l, g, u - g);
	return value0(p, l, u);
}
