/* reduce_search: find-all's adaptive group testing: a failing group split
 * into parts (cut by the plan with one slot), what its children's outcomes
 * say, and the next step of the search; see reduce.c's design note. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "casebisect/plan.h"
#include "casebisect/reduce.h"
#include "casebisect/util.h"
#include "reduce_int.h"

/* The plan for the culprits found so far: the one the options share when
 * it covers them, else the reducer's own, made anew past its levels. */
static const struct plan *plan_for(struct red *r)
{
	size_t j = r->nculprits;

	if (plan_covers(r->o.plan, r->o.n, j))
		return r->o.plan;
	if (!plan_covers(r->plan, r->o.n, j)) {
		plan_free(r->plan);
		r->plan = plan_new(r->o.n, j);
	}
	return r->plan;
}

/* With one slot, where a failing group of n cases is cut: the first part
 * is run, the second is inferred to fail when the first passes. The plan
 * (plan.h) sizes it from the posterior over the culprits left; after a
 * flake, or when the group holds cases a pass cleared, it is halved (the
 * posterior assumes every pass is true). */
static size_t cut_of(struct red *r, int g)
{
	size_t n = r->nodes[g].n, u, i, f = 0, *unk;
	const struct plan *p;

	if (n < 2)
		return n;
	unk = rd_unknown_cases(r, &u);
	for (i = 0; i < n; i++)
		f += rd_contains(unk, u, r->nodes[g].cases[i]);
	free(unk);
	if (r->flake_seen || f != n) {
		r->planned = 0;
		return n / 2;
	}
	p = plan_for(r);
	r->planned = plan_left(p, n, u, r->nculprits);
	r->planned_at = r->trials;
	return plan_cut(p, n, u, r->nculprits);
}

/* Splits failing group g into parts; with one slot the last part waits
 * until the others are known (it must fail when they all pass). With
 * several, into as many parts as its share of the slots (2 at least). */
void rd_split(struct red *r, int g)
{
	size_t share = r->nodes[g].share;
	size_t arity = r->o.slots > 1 && share > 2 ? share : 2, n = r->nodes[g].n, i, lo = 0;
	size_t cut = r->o.slots > 1 ? 0 : cut_of(r, g);
	uint64_t round = r->nodes[g].known + 1;
	bool wait = r->o.slots <= 1;

	/* With slots, a part below the search's root (the full set, or the
	 * unknown cases of a failing remainder) is one culprit's
	 * likely home: its share of slots runs that many parts and one more
	 * waits, inferred to fail when they all pass (a 3-way split for 2
	 * slots instead of a binary one). When a sibling fails, the waiting
	 * part is left to the final remainder, which covers every such part
	 * in one run. The root is cut into as many parts as slots: the whole
	 * set holds all the culprits, and a part left waiting there would
	 * hide one too often. */
	if (r->o.slots > 1 && r->nodes[g].parent >= 0 && n > arity) {
		arity++;
		wait = true;
	}
	/* (At the root too it was tried: at n=1024, P=8, k=4, 10.89 rounds
	 * against 9.77, since a part deferred there often holds a culprit and
	 * comes back in a remainder that fails.) */
	if (arity > n)
		arity = n;
	r->nodes[g].expanded = true;
	r->nodes[g].first_child = (int)r->nnodes;
	r->nodes[g].nchildren = (int)arity;
	for (i = 0; i < arity; i++) {
		size_t hi = cut && i == 0 ? cut : n * (i + 1) / arity;
		int c = rd_add_slice(r, K_GROUP, g, lo, hi - lo, g, round);

		if (wait && i == arity - 1 && arity > 1)
			r->nodes[c].st = ST_WAIT;
		if (r->flake_seen)
			r->nodes[c].need_pass = r->o.repeat;
		lo = hi;
	}
}

/* Starts (or restarts) the search on a set known to fail by the end of
 * round `known`. */
int rd_search_in(struct red *r, const size_t *cases, size_t n, uint64_t known)
{
	int g = rd_add_node(r, K_GROUP, cases, n, -1, known + 1);

	r->nodes[g].st = ST_FAIL;
	r->nodes[g].known = known;
	r->nodes[g].share = r->o.slots;
	r->phase = PH_SEARCH;
	if (n == 1) /* a culprit by inference: it must still fail alone */
		rd_add_node(r, K_ALONE, cases, 1, g, known + 1);
	else
		rd_split(r, g);
	return g;
}

bool rd_busy(const struct node *nd)
{
	return nd->st == ST_PENDING || nd->st == ST_FLIGHT || nd->st == ST_WAIT;
}

/* Once per group: the parts of g that passed run again (each needs one
 * pass more), ready after round `known`. True when any does, so the caller
 * waits for them. */
static bool recheck_passing_parts(struct red *r, int g, uint64_t known)
{
	struct node *nd = &r->nodes[g];
	int i, again = 0;

	if (nd->rechecked)
		return false;
	nd->rechecked = true;
	for (i = 0; i < nd->nchildren; i++) {
		struct node *c = &r->nodes[nd->first_child + i];

		if (c->st == ST_PASS && c->npass) {
			c->st = ST_PENDING;
			c->need_pass = c->npass + 1;
			c->fresh = true;
			c->round = known + 1;
			again++;
		}
	}
	return again > 0;
}

/* A failing group whose parts all pass (known by the end of round
 * `known`): run the passing parts again once; when they still pass, the
 * group needs more than one case: ddmin. */
static void no_single_culprit(struct red *r, int g, uint64_t known)
{
	struct node *nd = &r->nodes[g];

	if (recheck_passing_parts(r, g, known))
		return;
	nd->expanded = true;
	if (nd->narrowed) {
		/* The remainder failed, yet none of its unknown cases does: a
		 * pass that cleared a culprit was false. Search all of it. */
		size_t n, *rest = rd_rest_of(r, &n);

		r->flake_seen = true;
		r->flakes++;
		if (n)
			rd_search_in(r, rest, n, known);
		free(rest);
		return;
	}
	rd_ddmin_start(r, nd->cases, nd->n, known + 1);
}

/* A group's parts all pass. When the group only failed by inference (its
 * sibling passed), that inference is void: the nearest group that really
 * failed is looked at again. */
void rd_contradiction(struct red *r, int g, uint64_t known)
{
	/* The nearest false pass is the likeliest: an inferred group's own
	 * passing parts run again before its inference is void. */
	if (g >= 0 && r->nodes[g].inferred && recheck_passing_parts(r, g, known))
		return;
	while (g >= 0 && r->nodes[g].inferred) {
		r->nodes[g].st = ST_PASS;
		r->nodes[g].inferred = false;
		g = r->nodes[g].parent;
	}
	if (g >= 0)
		no_single_culprit(r, g, known);
}

/* Looks at group g's children after one of them was decided. */
void rd_children_changed(struct red *r, int g)
{
	struct node *p = &r->nodes[g];
	int i, fails = 0, passes = 0, waiting = -1, open = 0, undecided = 0;
	uint64_t known = 0;

	for (i = 0; i < p->nchildren; i++) {
		const struct node *c = &r->nodes[p->first_child + i];

		if ((c->st == ST_FAIL || c->st == ST_PASS || c->st == ST_UNDECIDED) &&
		    c->known > known)
			known = c->known;
		if (c->st == ST_FAIL)
			fails++;
		else if (c->st == ST_PASS)
			passes++;
		else if (c->st == ST_WAIT)
			waiting = p->first_child + i;
		else if (c->st == ST_UNDECIDED)
			undecided++;
		else if (c->st != ST_DEFERRED)
			open++;
	}
	if (waiting >= 0 && !open) {
		struct node *w = &r->nodes[waiting];

		if (!fails && undecided) {
			/* A part ended UNRESOLVED, so the failure may lie in it
			 * or here: this part runs (the search goes on around a
			 * subset the trainer skips, as git bisect's does). */
			w->st = ST_PENDING;
			w->round = known + 1;
		} else if (!fails && passes == p->nchildren - 1) {
			/* the others passed: it must fail */
			w->st = ST_FAIL;
			w->inferred = true;
			w->known = known; /* when its siblings' passes were */
			if (w->n == 1) {
				/* a culprit by inference: it must still fail alone */
				int a = rd_add_node(r, K_ALONE, w->cases, 1, waiting, known + 1);

				(void)a;
			} else if (r->o.slots <= 1) {
				rd_split(r, waiting);
			}
			/* else split with the others: split_failing() */
		} else {
			/* A sibling failed, so nothing is known of this part. It is
			 * not run now: the remainder trial at the end covers it with
			 * every other part left unknown, in one run. */
			w->st = ST_DEFERRED;
		}
		return;
	}
	if (!open && waiting < 0 && !fails && passes == r->nodes[g].nchildren)
		rd_contradiction(r, g, known);
}

/* The search tree has nothing left to run: culprits are known. */
static bool search_idle(const struct red *r)
{
	size_t i;

	if (r->dd_active)
		return false;
	for (i = 0; i < r->nnodes; i++)
		if (r->nodes[i].kind != K_DDMIN && rd_busy(&r->nodes[i]))
			return false;
	return true;
}

/* Did the set cases[0..n) stay UNRESOLVED before? (The same probe
 * proposed again would too, and the next step after it would be it.) */
static bool undecided_set(const struct red *r, const size_t *cases, size_t n)
{
	size_t i;

	for (i = 0; i < r->nnodes; i++)
		if (r->nodes[i].st == ST_UNDECIDED && rd_same_set(&r->nodes[i], cases, n))
			return true;
	return false;
}

/* The search is idle: every culprit it knew of is found. With one slot,
 * the plan (plan.h) says whether the remainder runs (it answers "more?"
 * and confirms the answer in one trial) or, when more culprits are
 * likely, a probe of some unknown cases asks for the next one, as in
 * Hwang's generalized binary splitting. With several slots, after a flake
 * or a minimal subset, the remainder runs. */
static void next_step(struct red *r, uint64_t round)
{
	size_t u = 0, *unk = NULL, a = 0;
	int p;

	if (r->o.slots <= 1 && !r->flake_seen && !r->minimal && r->nculprits >= 1) {
		unk = rd_unknown_cases(r, &u);
		if (u > 0) {
			const struct plan *pl = plan_for(r);

			a = plan_probe(pl, u, r->nculprits);
			r->planned = plan_left(pl, 0, u, r->nculprits);
			r->planned_at = r->trials;
		}
	}
	if (!a || a >= u || undecided_set(r, unk, a)) {
		free(unk);
		rd_start_remainder(r, round);
		return;
	}
	p = rd_add_node(r, K_GROUP, unk, a, -1, round);
	r->nodes[p].probe = true;
	free(unk);
}

/* Design note. With several slots, a group's parts run in one round and
 * those that fail are split in the next. When several fail and each took
 * every slot, their parts would need several rounds where one would do. So
 * failing groups are split only when the search is idle (no trial of it in
 * flight: they ran in the same round, so this costs no round), all at once,
 * and the slots are divided among them, each 2 parts at least. The split
 * then depends on the set of outcomes, never on the order they arrived.
 * Returns whether there was one to split. */
static bool split_failing(struct red *r)
{
	int *f = NULL;
	size_t nf = 0, i, slots = r->o.slots, left;

	for (i = 0; i < r->nnodes; i++) {
		const struct node *c = &r->nodes[i];

		if (c->kind == K_GROUP && c->st == ST_FAIL && c->n > 1 && !c->expanded) {
			f = xrealloc(f, (nf + 1) * sizeof(*f));
			f[nf++] = (int)i;
		}
	}
	if (nf)
		qsort_r(f, nf, sizeof(*f), rd_cmp_nodes, r);
	/* 2 parts each, then each slot left to the group that needs the most
	 * rounds at its share (log n / log share): a large group gets more */
	for (i = 0; i < nf; i++)
		r->nodes[f[i]].share = 2;
	for (left = slots > 2 * nf ? slots - 2 * nf : 0; left; left--) {
		size_t best = 0;
		double most = -1;

		for (i = 0; i < nf; i++) {
			const struct node *c = &r->nodes[f[i]];
			double need = log((double)c->n) / log((double)c->share);

			if (c->share < c->n && need > most + 1e-9) {
				most = need;
				best = i;
			}
		}
		if (most < 0)
			break;
		r->nodes[f[best]].share++;
	}
	for (i = 0; i < nf; i++) {
		/* the split waited for every outcome so far */
		r->nodes[f[i]].known = r->max_round;
		rd_split(r, f[i]);
	}
	free(f);
	return nf > 0;
}

/* Moves the search on after an outcome. A step taken when the search is
 * idle depends on every outcome, so it is ready the round after the last
 * one told. */
void rd_advance(struct red *r)
{
	uint64_t round = r->max_round;

	if (r->phase == PH_PRIORS && search_idle(r)) {
		if (r->nculprits)
			rd_start_remainder(r, round + 1);
		else {
			size_t *all = xmalloc((r->o.n ? r->o.n : 1) * sizeof(*all)), i;

			for (i = 0; i < r->o.n; i++)
				all[i] = i;
			rd_search_in(r, all, r->o.n, round);
			free(all);
		}
	}
	if (r->dd_active && r->dd_done && !r->dd_count) {
		size_t i;

		/* ddmin ended at a 1-minimal failing subset. In find-all, a set
		 * of several cases may still hide a single culprit behind a false
		 * pass: each case is run alone first. */
		r->dd_active = false;
		if (r->ndd > 1 && r->o.strategy == RED_FIND_ALL && r->verify_count < 0) {
			r->verify_first = (int)r->nnodes;
			r->verify_count = (int)r->ndd;
			for (i = 0; i < r->ndd; i++) {
				int v = rd_add_node(r, K_PRIOR, &r->dd[i], 1, -1, r->dd_known + 1);

				r->nodes[v].fresh = true;
				/* A pass alone here says the set fails only
				 * together, the rarer answer, and a culprit that
				 * passed alone by chance before may do so again:
				 * believed after 2 passes, one more than a clearing
				 * pass needs after a flake. */
				r->nodes[v].need_pass = r->flake_seen ? r->o.repeat + 1 : 2;
			}
			r->dd_active = true; /* until the verification is told */
			r->dd_done = false;
		} else {
			size_t before = r->nculprits;

			for (i = 0; i < r->ndd; i++)
				rd_add_culprit(r, r->dd[i]);
			if (r->ndd > 1 && r->nculprits > before)
				r->minimal = true;
			r->verify_count = -1;
			if (r->o.strategy == RED_DDMIN)
				r->phase = PH_DONE;
		}
	}
	if (r->dd_active && r->verify_count > 0) {
		int i, found = 0;

		for (i = 0; i < r->verify_count; i++) {
			const struct node *v = &r->nodes[r->verify_first + i];

			if (rd_busy(v))
				return;
			found += v->st == ST_FAIL;
		}
		r->dd_active = false;
		r->verify_count = -1;
		if (!found) {
			/* no case fails alone: they fail together */
			size_t j;

			for (j = 0; j < r->ndd; j++)
				rd_add_culprit(r, r->dd[j]);
			r->minimal = true;
		}
	}
	if (r->phase == PH_SEARCH && search_idle(r) && !(r->o.slots > 1 && split_failing(r)))
		next_step(r, round + 1);
}
