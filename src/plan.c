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
#define TIE 1e-3        /* trials this close are even: the GPU time decides */

/* What a search expects to spend from a state on: trials, and GPU time
 * in passes over the dataset (a trial of s cases costs s/n, a failing one
 * half that: it stops at the crash). */
struct cost {
	double trials, gpu;
};

struct plan {
	size_t n, j0;
	size_t *grid, ng;  /* sizes 0 .. n, sorted */
	uint32_t *at;      /* at[x]: the index of the grid point at or below x */
	struct cost *v;    /* V(grid[gi], grid[ri], j0+l) at (l*ng + gi)*ng + ri, grid[gi] >= 2 */
	struct cost *v0;   /* V(0, grid[ui], j0+l) at l*ng + ui: no failing group */
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

/* plan_posterior's work: post[m] ~ p(j+m) C(u,m) / C(n,j+m) for m up to
 * PLAN_KMAX, normalized, the tail under TAIL of the top dropped. */
static void posterior(const double *lf, size_t n, size_t j, size_t u, double *post, size_t *nm)
{
	double top = -HUGE_VAL, sum = 0;
	size_t m, count = 0;

	for (m = 0; m <= u && m <= PLAN_KMAX && j + m <= n; m++) {
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

/* The sizes V is kept at (every size to EXACT_UP_TO, PER_DOUBLING a
 * doubling above, every 2^m and 3*2^m, and n), and at[] to find them. */
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

static struct cost *v_at(const struct plan *p, size_t l, size_t gi, size_t ri)
{
	return &p->v[(l * p->ng + gi) * p->ng + ri];
}

/* (1-w) a + w b */
static struct cost mix(struct cost a, struct cost b, double w)
{
	return (struct cost){ (1 - w) * a.trials + w * b.trials, (1 - w) * a.gpu + w * b.gpu };
}

/* V(0, u, j0+l); past the last level, nothing: the lookahead stops there. */
static struct cost value0(const struct plan *p, size_t l, size_t u)
{
	const struct cost *row = &p->v0[l * p->ng];
	double w;
	size_t i;

	if (l >= PLAN_LEVELS)
		return (struct cost){ 0, 0 };
	i = bracket(p, u, &w);
	return w ? mix(row[i], row[i + 1], w) : row[i];
}

/* V(g, r, j0+l): a failing group of g >= 2, r other unknown cases. */
static struct cost value(const struct plan *p, size_t l, size_t g, size_t r)
{
	double wg, wr;
	size_t gi = bracket(p, g, &wg), ri = bracket(p, r, &wr);
	struct cost a = wr ? mix(*v_at(p, l, gi, ri), *v_at(p, l, gi, ri + 1), wr) : *v_at(p, l, gi, ri);

	if (!wg)
		return a;
	return mix(a, wr ? mix(*v_at(p, l, gi + 1, ri), *v_at(p, l, gi + 1, ri + 1), wr)
			 : *v_at(p, l, gi + 1, ri),
		   wg);
}

/* One trial of s cases that passes with chance `clean`, then vp or vf. */
static struct cost trial(const struct plan *p, size_t s, double clean, struct cost vf,
			 struct cost vp)
{
	double size = (double)s / (double)p->n;

	return (struct cost){ 1 + (1 - clean) * vf.trials + clean * vp.trials,
			      size * (clean + (1 - clean) / 2) + (1 - clean) * vf.gpu +
				      clean * vp.gpu };
}

/* The candidate to take: the fewest trials, and among those within TIE of
 * them the least GPU time. */
static size_t pick(const struct cost *c, size_t count)
{
	size_t i, best = 0;
	double fewest = HUGE_VAL;

	for (i = 0; i < count; i++)
		if (c[i].trials < fewest)
			fewest = c[i].trials;
	for (i = 0; i < count; i++)
		if (c[i].trials <= fewest + TIE && (c[best].trials > fewest + TIE || c[i].gpu < c[best].gpu))
			best = i;
	return best;
}

/* What the posterior says in one state: u unknown cases, j culprits
 * found, a failing group of g of them (0: none). */
struct odds {
	double post[PLAN_KMAX + 1];
	size_t nm, u, g;
	double fg, den; /* avoid(g), and P(the group holds a culprit), weighted */
};

/* Posteriors solve_level() computed, by u (one level: j is fixed). Many
 * states share a u (g + r), and the posterior (64 logs and exps) was a
 * third of building a plan; the values are the same either way. */
#define POST_CACHE 1024
struct post_slot {
	size_t u;   /* SIZE_MAX: empty */
	size_t nm;
	double post[PLAN_KMAX + 1];
};

static void odds_at(const struct plan *p, size_t j, size_t u, size_t g, struct odds *o,
		    struct post_slot *cache)
{
	struct post_slot *slot = cache ? &cache[u % POST_CACHE] : NULL;

	if (!slot) {
		posterior(p->lf, p->n, j, u, o->post, &o->nm);
	} else {
		if (slot->u != u) {
			posterior(p->lf, p->n, j, u, slot->post, &slot->nm);
			slot->u = u;
		}
		memcpy(o->post, slot->post, slot->nm * sizeof(*o->post));
		o->nm = slot->nm;
	}
	o->u = u;
	o->g = g;
	o->fg = avoid(o->post, o->nm, u, g);
	o->den = avoid(o->post, o->nm, u, 0) - o->fg;
}

/* P(t cases hold no culprit): the group's first t, knowing the group holds
 * one; with no group, t of the unknown cases. */
static double clean_of(const struct odds *o, size_t t)
{
	if (!o->g)
		return o->post[0] + avoid(o->post, o->nm, o->u, t);
	return o->den > 0 ? (avoid(o->post, o->nm, o->u, t) - o->fg) / o->den : 0.5;
}

/* One trial of the first t cases of the failing group (o->g >= 2), at
 * level l, and what follows it. An inferred culprit runs alone: one trial
 * of one case, which fails. */
static struct cost try_part(const struct plan *p, size_t l, const struct odds *o, size_t t)
{
	size_t g = o->g, u = o->u;
	double clean = clean_of(o, t);
	struct cost vf = t == 1 ? value0(p, l + 1, u - 1) : value(p, l, t, u - t), vp;

	if (g - t == 1)
		vp = trial(p, 1, 0, value0(p, l + 1, u - g), value0(p, l + 1, u - g));
	else
		vp = value(p, l, g - t, u - g);
	return trial(p, t, clean, vf, vp);
}

/* One trial of t of the o->u unknown cases, no failing group (t = u: the
 * remainder, all cases but the culprits, whose pass ends the search). */
static struct cost try_probe(const struct plan *p, size_t l, const struct odds *o, size_t t)
{
	size_t u = o->u;
	double clean = clean_of(o, t);
	struct cost vf = t == 1 ? value0(p, l + 1, u - 1) : value(p, l, t, u - t);

	if (t == u)
		return trial(p, p->n - p->j0 - l, clean, u == 1 ? vf : value(p, l, u, 0),
			     (struct cost){ 0, 0 });
	return trial(p, t, clean, vf, value0(p, l, u - t));
}

/* A value past the states that exist (more unknown cases than n - j),
 * for interpolating up to the edge: the line through the two values
 * before it, v[(i-1)*stride] and v[(i-2)*stride] (stride 1 along the
 * other unknown cases, ng along the group size). V is smooth there (about
 * log2 of the unknown cases), so across one grid gap the line is within a
 * thousandth of a trial; a flat copy instead makes every state with
 * nothing cleared look cheaper than it is, and tips the choices there. */
static struct cost extrapolate(const struct plan *p, const struct cost *v, size_t i, size_t stride)
{
	struct cost a = v[(i - 1) * stride], b;
	double w;

	if (i < 2)
		return a;
	b = v[(i - 2) * stride];
	w = (double)(p->grid[i] - p->grid[i - 1]) / (double)(p->grid[i - 1] - p->grid[i - 2]);
	return (struct cost){ a.trials + (a.trials - b.trials) * w, a.gpu + (a.gpu - b.gpu) * w };
}

/* The part of a group (grid index gi) that passes with even odds: the
 * best first part lies within a factor of 2 of it (one that passes much
 * less or much more often than not says too little), so the solver tries
 * only those. */
static size_t even_odds(const struct plan *p, const struct odds *o, size_t gi)
{
	size_t lo = 1, hi = gi - 1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (o->den > 0 && clean_of(o, p->grid[mid]) > 0.5)
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
static void solve_level(struct plan *p, size_t l, struct cost *cand, struct post_slot *cache)
{
	struct odds o;
	size_t gi, ri, ti, j = p->j0 + l, count;

	for (gi = 0; gi < POST_CACHE; gi++)
		cache[gi].u = SIZE_MAX;

	for (gi = 0; gi < p->ng; gi++) {
		size_t g = p->grid[gi];

		if (g < 2)
			continue;
		for (ri = 0; ri < p->ng; ri++) {
			size_t r = p->grid[ri], u = g + r, even;

			if (g > p->n - j && gi > 2) { /* no such group: along g */
				*v_at(p, l, gi, ri) = extrapolate(p, v_at(p, l, 0, ri), gi, p->ng);
				continue;
			}
			if (u > p->n - j) { /* no such state: along r */
				*v_at(p, l, gi, ri) = ri ? extrapolate(p, v_at(p, l, gi, 0), ri, 1)
							 : (struct cost){ 0, 0 };
				continue;
			}
			odds_at(p, j, u, g, &o, cache);
			even = even_odds(p, &o, gi);
			count = 0;
			for (ti = below(p, even / 2); ti < gi && p->grid[ti] <= 2 * even; ti++) {
				size_t t = p->grid[ti], rest = below(p, g - t);

				if (t == 0 || (p->grid[rest] != g - t && rest + 1 >= gi))
					continue;
				cand[count++] = try_part(p, l, &o, t);
			}
			*v_at(p, l, gi, ri) = count ? cand[pick(cand, count)] : (struct cost){ 0, 0 };
		}
	}
	for (ri = 0; ri < p->ng; ri++) {
		size_t u = p->grid[ri];

		if (u > p->n - j) {
			p->v0[l * p->ng + ri] = extrapolate(p, &p->v0[l * p->ng], ri, 1);
			continue;
		}
		if (u == 0) { /* the remainder, all cleared: it passes */
			p->v0[l * p->ng] = (struct cost){ 1, (double)(p->n - j) / (double)p->n };
			continue;
		}
		odds_at(p, j, u, 0, &o, cache);
		count = 0;
		for (ti = 1; ti <= ri; ti++) {
			size_t t = p->grid[ti], rest = below(p, u - t);

			if (t < u && p->grid[rest] != u - t && rest + 1 >= ri)
				continue;
			cand[count++] = try_probe(p, l, &o, t);
		}
		p->v0[l * p->ng + ri] = cand[pick(cand, count)];
	}
}

struct plan *plan_new(size_t n, size_t j0)
{
	struct plan *p = xcalloc(1, sizeof(*p));
	struct post_slot *cache = xmalloc(POST_CACHE * sizeof(*cache));
	struct cost *cand;
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
	cand = xmalloc(p->ng * sizeof(*cand));
	for (l = PLAN_LEVELS; l-- > 0;)
		if (j0 + l <= n)
			solve_level(p, l, cand, cache);
	free(cand);
	free(cache);
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
	size_t l = j - p->j0, t, cut;
	struct cost *cand;
	struct odds o;

	if (g < 2)
		return g;
	odds_at(p, j, u, g, &o, NULL);
	cand = xmalloc((g - 1) * sizeof(*cand));
	for (t = 1; t < g; t++)
		cand[t - 1] = try_part(p, l, &o, t);
	cut = pick(cand, g - 1) + 1;
	free(cand);
	return cut;
}

size_t plan_probe(const struct plan *p, size_t u, size_t j)
{
	size_t l = j - p->j0, t, size;
	struct cost *cand = xmalloc(u * sizeof(*cand));
	struct odds o;

	odds_at(p, j, u, 0, &o, NULL);
	for (t = 1; t <= u; t++)
		cand[t - 1] = try_probe(p, l, &o, t);
	size = pick(cand, u) + 1;
	free(cand);
	return size;
}

double plan_left(const struct plan *p, size_t g, size_t u, size_t j)
{
	size_t l = j - p->j0;

	return (g >= 2 ? value(p, l, g, u - g) : value0(p, l, u)).trials;
}
