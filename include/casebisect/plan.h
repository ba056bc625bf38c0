/* plan: the one-slot search's choices, planned by dynamic programming.
 * Pure arithmetic (no I/O); used by reduce.
 *
 * With one slot, find-all is nested group testing: at any time there is at
 * most one failing group, g cases known to hold a culprit, among u unknown
 * cases (neither cleared by a pass nor culprits; the group's are among
 * them), with j culprits found. The next trial is either the first part of
 * the group, t of its cases (the rest waits: inferred to fail when the part
 * passes, back to unknown when it fails), or, with no failing group, t
 * unknown cases: a probe, or with t = u the remainder, whose pass ends the
 * search. A culprit found by a part of one case that failed has run alone;
 * one only inferred (the last case of a group) costs one trial more.
 *
 * Under a prior p(k) on the number of culprits, every k-set that fits the
 * outcomes so far is equally likely (each failing trial is explained by a
 * culprit it holds), so (g, u, j) is the whole state: P(m more culprits
 * among the u) is proportional to p(j+m) C(u,m) / C(n,j+m), and the
 * chance a part is clean follows from it. plan_new solves the Bellman
 * equation for the expected trials left, V(g, u, j), with these
 * transitions; plan_cut and plan_probe take the trial that minimizes it.
 * Between trials within a thousandth of a trial of each other, the one
 * with the least expected GPU time wins (a trial of s cases costs s/n of
 * a pass over the dataset, a failing one half). Weighing GPU time more
 * buys little: the remainders (a whole pass each) and the first large
 * trials are most of it, and the trial targets leave no room (with a
 * hundredth of a trial as the tie: 2.25/2.88/3.74 passes instead of
 * 2.27/2.91/3.79, and 14.00/24.03/42.81 trials, over two targets).
 *
 * Why not a rule of thumb. Cutting for even odds (one bit per trial) is
 * within a few tenths of a trial of the optimum, but the targets are
 * within a few tenths too: the optimum gains from group sizes that end in
 * a part of one case that fails (3*2^m cases split best: 0.415 of a trial
 * wasted per culprit instead of 0.5) and from asking "more culprits?"
 * with a probe or the remainder at the right moment.
 *
 * The prior p(1..4) = 0.45, 0.33, 0.09, 0.09, then halving: one bad case
 * is the usual crash, two are common (a bad export touches a pair), more
 * are rarer. Not knowing k costs about log2(1/p(k)) trials, so the prior
 * trades trials between k: at n = 1024 the trials, over 2000 seeds (with the
 * full-set run and the empty check) are 13.93 / 23.92 / 42.86 for k = 1 /
 * 2 / 4, against targets of 14 / 24 / 43 (exact expectations under 2^-k: 13.74 /
 * 24.07 / 43.27; cutting for even odds instead cost 0.1 more each).
 * (Found by solving this equation over a grid of priors: none meets all
 * three by more than about a tenth of a trial.)
 *
 * The table. V is kept on a grid of sizes (every size up to 64, then 16
 * per doubling, and every 2^m and 3*2^m), interpolated between grid
 * points, for j0 .. j0+9 culprits found (decisions use the first 6, the
 * rest is lookahead); past them the reducer makes a new plan. Small
 * sizes, where the choices matter most, are exact. Building it costs
 * about 0.6 s for n = 1024, 2 s for 100,000 and 3.3 s for 10^6 (one
 * core), and 1 to 20 MB; each choice then loops over every size (10 ms
 * for 100,000 cases). */
#ifndef CASEBISECT_PLAN_H
#define CASEBISECT_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#define PLAN_KMAX 64 /* culprits beyond those found that the posterior counts */

struct plan;

/* A plan for n cases, deciding for j0 .. j0+5 culprits found. Plans are
 * read-only once made: one can serve many reducers of the same n (the
 * bench and the tests share one; see red_options.plan). */
struct plan *plan_new(size_t n, size_t j0);
void plan_free(struct plan *p);

/* Can p decide for n cases with j culprits found? Else make a new one. */
bool plan_covers(const struct plan *p, size_t n, size_t j);

/* A failing group of g cases (g >= 2), all unknown, among u unknown cases,
 * j culprits found: how many of the group's cases to run first (1..g-1). */
size_t plan_cut(const struct plan *p, size_t g, size_t u, size_t j);

/* No failing group, u >= 1 unknown cases, j culprits found: how many
 * unknown cases to run (u: the remainder). */
size_t plan_probe(const struct plan *p, size_t u, size_t j);

/* The expected trials left (the state as for plan_cut; g = 0: no failing
 * group): an ETA. */
double plan_left(const struct plan *p, size_t g, size_t u, size_t j);

/* The prior weight of k culprits (unnormalized), and the posterior of the
 * number of culprits among u unknown cases with j found of n:
 * post[m], m = 0 .. *nm-1, sums to 1 (post has PLAN_KMAX+1 entries). */
double plan_prior(size_t k);
void plan_posterior(size_t n, size_t j, size_t u, double *post, size_t *nm);

#endif
