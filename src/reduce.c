/* reduce: adaptive group testing (find-all) and ddmin behind an ask/tell
 * interface; the model and the policies are documented in
 * include/casebisect/reduce.h.
 *
 * Design note. Every subset the reducer runs is a node: a sorted array of
 * cases with a kind (a group of the search, a case alone, the remainder, a
 * ddmin part) and what its runs showed. A failing group is split into
 * children; the search is the tree. Proposals are the nodes ready to run,
 * sorted by their cases, so they do not depend on the order in which
 * outcomes arrived. Results are also kept in a cache keyed by the case set,
 * so a subset is never run twice unless a policy asks for it.
 *
 * Rounds. A round is one batch of trials that could run at once: a node is
 * ready in the round after the outcomes it was made from are known (its
 * `round`), and it is placed, when proposed, in the first round from there
 * with a slot free (`ran`; at most `slots` trials a round). A node decided
 * without a run (inferred from its siblings, or from the cache) is known
 * when the outcomes it came from are, not a round later; a re-run of a
 * node waits for its last run. With one slot, rounds equal trials.
 *
 * Files. reduce.c: the nodes, what an outcome does to them, and the
 * ask/tell API; reduce_search.c: find-all's group testing (splits, the
 * plan's cuts, what a group's children say); reduce_ddmin.c: ddmin;
 * reduce_remainder.c: the remainder, suspects and flakes. What they share
 * (struct red, struct node) is in reduce_int.h. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "casebisect/plan.h"
#include "casebisect/reduce.h"
#include "casebisect/util.h"
#include "reduce_int.h"

static const char *const verdict_names[] = { "searching", "culprits_found", "minimal_subset",
					     "undetermined" };

const char *red_verdict_name(enum red_verdict v)
{
	return (unsigned)v < CB_ARRAY_SIZE(verdict_names) ? verdict_names[v] : "?";
}

/* ---- sets of cases (sorted arrays) ---- */

int rd_cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

bool rd_contains(const size_t *set, size_t n, size_t c)
{
	return n && bsearch(&c, set, n, sizeof(*set), rd_cmp_size) != NULL;
}

bool rd_same_set(const struct node *a, const size_t *cases, size_t n)
{
	return a->n == n && !memcmp(a->cases, cases, n * sizeof(*cases));
}

/* Is small a subset of big? Both sorted. */
bool rd_subset_of(const size_t *small, size_t ns, const size_t *big, size_t nb)
{
	size_t i = 0, j = 0;

	while (i < ns && j < nb) {
		if (small[i] == big[j])
			i++, j++;
		else if (small[i] > big[j])
			j++;
		else
			return false;
	}
	return i == ns;
}

/* ---- nodes ---- */

/* A new node without its cases yet. */
static int new_node(struct red *r, enum kind kind, int parent, uint64_t round)
{
	struct node *nd;

	if (r->nnodes == r->cap)
		r->nodes = xrealloc(r->nodes, (r->cap = 2 * r->cap + 16) * sizeof(*r->nodes));
	nd = &r->nodes[r->nnodes];
	memset(nd, 0, sizeof(*nd));
	nd->parent = parent;
	nd->kind = kind;
	nd->st = ST_PENDING;
	nd->need_pass = 1;
	nd->round = round;
	nd->known = round ? round - 1 : 0;
	nd->twin = -1;
	nd->first_child = -1;
	return (int)r->nnodes++;
}

int rd_add_node(struct red *r, enum kind kind, const size_t *cases, size_t n, int parent,
		uint64_t round)
{
	int id = new_node(r, kind, parent, round);
	struct node *nd = &r->nodes[id];

	nd->cases = xmalloc((n ? n : 1) * sizeof(*cases));
	memcpy(nd->cases, cases, n * sizeof(*cases));
	qsort(nd->cases, n, sizeof(*cases), rd_cmp_size);
	nd->n = n;
	return id;
}

/* A node of cases from..from+n of node src's (sorted, so the slice is),
 * sharing its array: a split's parts and a remainder's re-runs copied
 * them before, which made the reducer's memory a multiple of the dataset
 * (node arrays are never changed, and freed only by red_free). */
int rd_add_slice(struct red *r, enum kind kind, int src, size_t from, size_t n, int parent,
		 uint64_t round)
{
	size_t *base = r->nodes[src].cases;
	int id = new_node(r, kind, parent, round);

	assert(from + n <= r->nodes[src].n);
	r->nodes[id].cases = base + from;
	r->nodes[id].n = n;
	r->nodes[id].borrowed = true;
	return id;
}

void rd_add_culprit(struct red *r, size_t c)
{
	if (rd_is_culprit(r, c))
		return;
	r->culprits = xrealloc(r->culprits, (r->nculprits + 1) * sizeof(*r->culprits));
	r->culprits[r->nculprits++] = c;
}

/* ---- outcomes (the search's groups in reduce_search.c, ddmin in
 * reduce_ddmin.c, the remainder in reduce_remainder.c) ---- */

static void decide(struct red *r, int id, enum red_outcome o);

/* nd failed: when a run of the same set passed before, that pass was
 * false (a flake seen); else note_flake judges it against what is known. */
void rd_mark_failed(struct red *r, struct node *nd)
{
	nd->st = ST_FAIL;
	if (nd->npass) {
		r->flakes++;
		r->flake_seen = true;
	} else {
		rd_note_flake(r, nd);
	}
}

/* (Nodes move when the array grows: keep indices, not pointers, across
 * anything that adds nodes.) */
static void on_fail(struct red *r, int id)
{
	struct node *nd = &r->nodes[id];
	enum kind kind = nd->kind;
	int parent = nd->parent;

	rd_mark_failed(r, nd);
	switch (kind) {
	case K_GROUP:
		if (nd->n == 1)
			rd_add_culprit(r, nd->cases[0]);
		else if (r->o.slots <= 1 || parent < 0)
			rd_split(r, id);
		/* else split with the others when the search is idle:
		 * split_failing() */
		if (parent >= 0)
			rd_children_changed(r, parent);
		break;
	case K_ALONE:
	case K_PRIOR:
		rd_add_culprit(r, nd->cases[0]);
		break;
	case K_REMAINDER:
		break; /* remainder_told() */
	case K_DDMIN:
		rd_ddmin_step(r);
		break;
	}
	rd_advance(r);
}

static void on_pass(struct red *r, int id)
{
	struct node *nd = &r->nodes[id];
	enum kind kind = nd->kind;
	int parent = nd->parent;

	nd->npass++;
	if (nd->npass < nd->need_pass) {
		nd->st = ST_PENDING; /* believed after need_pass passes */
		nd->round = nd->known + 1;
		return;
	}
	nd->st = ST_PASS;
	switch (kind) {
	case K_GROUP:
		if (parent >= 0)
			rd_children_changed(r, parent);
		break;
	case K_ALONE: {
		/* An inferred culprit that passes alone: this pass may be false
		 * (it is run again, once), the inference came from a sibling's
		 * pass, which may be false, or the crash needs more than one
		 * case. Every inference on the way up is void; the nearest
		 * group that really failed is looked at again. */
		if (!nd->rechecked) {
			nd->rechecked = true;
			nd->st = ST_PENDING;
			nd->need_pass = nd->npass + 1;
			nd->fresh = true;
			nd->round = nd->known + 1;
			return;
		}
		rd_contradiction(r, parent, nd->known);
		break;
	}
	case K_REMAINDER: /* remainder_told() */
	case K_PRIOR:
		break;
	case K_DDMIN:
		rd_ddmin_step(r);
		break;
	}
	rd_advance(r);
}

/* Node id (not the remainder) ended UNRESOLVED more often than retries
 * allow: nothing is known of its cases, and the search goes on without
 * them. */
static void on_undecided(struct red *r, int id)
{
	struct node *nd = &r->nodes[id];
	enum kind kind = nd->kind;
	int parent = nd->parent;

	nd->st = ST_UNDECIDED;
	if (kind == K_GROUP && parent >= 0)
		rd_children_changed(r, parent);
	if (kind == K_DDMIN)
		rd_ddmin_step(r);
	rd_advance(r);
}

static void decide(struct red *r, int id, enum red_outcome o)
{
	if (o == RED_FAIL)
		on_fail(r, id);
	else
		on_pass(r, id);
}

/* ---- public API ---- */

struct red *red_new(const struct red_options *o)
{
	struct red *r = xcalloc(1, sizeof(*r));
	size_t i;

	r->o = *o;
	if (!r->o.repeat)
		r->o.repeat = 2;
	if (r->o.retries == RED_NO_RETRIES)
		r->o.retries = 0;
	else if (!r->o.retries)
		r->o.retries = 1;
	r->remainder = -1;
	r->verify_count = -1;
	if (o->strategy == RED_DDMIN) {
		size_t *all = xmalloc((o->n ? o->n : 1) * sizeof(*all));

		for (i = 0; i < o->n; i++)
			all[i] = i;
		r->phase = PH_SEARCH;
		rd_ddmin_start(r, all, o->n, 1);
		free(all);
		rd_advance(r);
		return r;
	}
	r->phase = PH_PRIORS;
	for (i = 0; i < o->nprior; i++)
		if (o->prior[i] < o->n)
			rd_add_node(r, K_PRIOR, &o->prior[i], 1, -1, 1);
	rd_advance(r); /* round 0: the full-set run the caller made */
	return r;
}

void red_free(struct red *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nnodes; i++) {
		if (!r->nodes[i].borrowed)
			free(r->nodes[i].cases);
		free(r->nodes[i].padded);
	}
	free(r->nodes);
	free(r->culprits);
	free(r->dd);
	free(r->undecided);
	free(r->per_round);
	free(r->rem_sus);
	plan_free(r->plan);
	free(r);
}

int rd_cmp_nodes(const void *a, const void *b, void *ctx)
{
	const struct red *r = ctx;
	const struct node *x = &r->nodes[*(const int *)a], *y = &r->nodes[*(const int *)b];
	size_t i, n = x->n < y->n ? x->n : y->n;

	for (i = 0; i < n; i++)
		if (x->cases[i] != y->cases[i])
			return x->cases[i] < y->cases[i] ? -1 : 1;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	/* the same cases: the remainder and its twins, in the order made */
	return *(const int *)a - *(const int *)b;
}

/* A pending node whose set was already decided: take that, no trial. */
static bool from_cache(struct red *r, int id)
{
	struct node *nd = &r->nodes[id];
	size_t i;

	if (nd->npass || nd->nfail || nd->kind == K_REMAINDER || nd->need_pass > 1 || nd->fresh)
		return false;
	for (i = 0; i < r->nnodes; i++) {
		const struct node *o = &r->nodes[i];

		if ((int)i == id || !rd_same_set(o, nd->cases, nd->n) || o->inferred)
			continue;
		/* A set that stayed UNRESOLVED through its retries (a trainer
		 * that exits 125 for it, say) is not run again when a later
		 * step proposes it: each try would end the same, and a search
		 * that comes back to it would never end. */
		if (o->st == ST_UNDECIDED && o->kind != K_REMAINDER && o->nunres > r->o.retries) {
			nd->nunres = o->nunres;
			if (o->known > nd->known)
				nd->known = o->known;
			on_undecided(r, id);
			return true;
		}
		if (!(o->st == ST_FAIL && o->nfail) && !(o->st == ST_PASS && o->npass >= nd->need_pass))
			continue;
		/* known when the outcome it takes and what made it are */
		if (o->known > nd->known)
			nd->known = o->known;
		if (o->st == ST_FAIL) {
			nd->nfail++;
			decide(r, id, RED_FAIL);
			return true;
		}
		if (o->st == ST_PASS) {
			nd->npass = o->npass - 1;
			decide(r, id, RED_PASS);
			return true;
		}
	}
	return false;
}

bool rd_is_culprit(const struct red *r, size_t c)
{
	size_t i;

	for (i = 0; i < r->nculprits; i++)
		if (r->culprits[i] == c)
			return true;
	return false;
}

/* The cases neither cleared (in a set believed to pass) nor culprits,
 * sorted; the caller frees them. */
size_t *rd_unknown_cases(const struct red *r, size_t *count)
{
	unsigned char *out = xcalloc(r->o.n ? r->o.n : 1, 1);
	size_t *u = xmalloc((r->o.n ? r->o.n : 1) * sizeof(*u)), i, j, k = 0;

	for (i = 0; i < r->nnodes; i++) {
		const struct node *nd = &r->nodes[i];

		if (nd->st == ST_PASS && nd->npass)
			for (j = 0; j < nd->n; j++)
				out[nd->cases[j]] = 1;
	}
	for (i = 0; i < r->nculprits; i++)
		out[r->culprits[i]] = 1;
	for (i = 0; i < r->o.n; i++)
		if (!out[i])
			u[k++] = i;
	free(out);
	*count = k;
	return u;
}

/* Trainers that need a few cases get small subsets padded with cleared
 * cases, the smallest first, so the outcome still speaks of the subset. */
/* What a trial runs, in order: the cases not cleared yet first, then the
 * cleared ones the subset holds (a remainder does), then, for min_cases,
 * cleared cases as padding. A trainer that visits its cases in this order
 * (the probe trainer follows {cases_file}) meets a culprit early, so a
 * failing trial stops soon and costs little GPU time. */
static void pad(struct red *r, int id)
{
	struct node *nd = &r->nodes[id];
	size_t want = r->o.min_cases, c, k = 0, i, ncl = 0;
	bool *cl = xcalloc(r->o.n + 1, sizeof(*cl));

	free(nd->padded);
	nd->padded = NULL;
	for (i = 0; i < r->nnodes; i++) {
		const struct node *o = &r->nodes[i];

		if (o->st == ST_PASS && o->npass)
			for (c = 0; c < o->n; c++)
				cl[o->cases[c]] = true;
	}
	for (i = 0; i < nd->n; i++)
		ncl += cl[nd->cases[i]];
	if (nd->n >= want && (!ncl || ncl == nd->n)) {
		free(cl);
		return;
	}
	nd->padded = xmalloc((nd->n > want ? nd->n : want) * sizeof(*nd->padded));
	for (i = 0; i < nd->n; i++)
		if (!cl[nd->cases[i]])
			nd->padded[k++] = nd->cases[i];
	for (i = 0; i < nd->n; i++)
		if (cl[nd->cases[i]])
			nd->padded[k++] = nd->cases[i];
	for (c = 0; c < r->o.n && k < want; c++)
		if (cl[c] && !rd_contains(nd->cases, nd->n, c) && !rd_is_culprit(r, c))
			nd->padded[k++] = c;
	nd->npadded = k;
	free(cl);
}

/* Puts a run of node id in the first round, from the one it is ready in,
 * with a slot free. */
static void place(struct red *r, int id)
{
	struct node *nd = &r->nodes[id];
	size_t slots = r->o.slots > 1 ? r->o.slots : 1, at = (size_t)nd->round;

	for (;; at++) {
		if (at >= r->nper_round) {
			size_t grow = 2 * at + 16;

			r->per_round = xrealloc(r->per_round, grow * sizeof(*r->per_round));
			memset(r->per_round + r->nper_round, 0,
			       (grow - r->nper_round) * sizeof(*r->per_round));
			r->nper_round = grow;
		}
		if (r->per_round[at] < slots)
			break;
	}
	r->per_round[at]++;
	nd->ran = at;
}

size_t red_ask(struct red *r, struct red_trial *out, size_t max)
{
	int *ready = NULL;
	size_t nready = 0, i, k = 0;
	bool again = true;

	if (r->out_of_trials)
		return 0;

	while (again) {
		again = false;
		for (i = 0; i < r->nnodes; i++)
			if (r->nodes[i].st == ST_PENDING && from_cache(r, (int)i))
				again = true;
	}
	if (r->o.max_trials && r->trials >= r->o.max_trials) {
		r->out_of_trials = true;
		return 0;
	}
	for (i = 0; i < r->nnodes; i++)
		if (r->nodes[i].st == ST_PENDING) {
			ready = xrealloc(ready, (nready + 1) * sizeof(*ready));
			ready[nready++] = (int)i;
		}
	if (nready)
		qsort_r(ready, nready, sizeof(*ready), rd_cmp_nodes, r);
	for (i = 0; i < nready && k < max; i++) {
		struct node *nd = &r->nodes[ready[i]];

		if (r->o.max_trials && r->trials + k >= r->o.max_trials)
			break;
		nd->st = ST_FLIGHT;
		place(r, ready[i]);
		pad(r, ready[i]);
		nd = &r->nodes[ready[i]];
		out[k].id = (uint64_t)ready[i] + 1;
		out[k].cases = nd->padded ? nd->padded : nd->cases;
		out[k].n = nd->padded ? nd->npadded : nd->n;
		out[k].confirm = nd->kind == K_REMAINDER;
		k++;
	}
	free(ready);
	return k;
}

void red_tell(struct red *r, uint64_t id, enum red_outcome o)
{
	struct node *nd;

	if (!id || id > r->nnodes)
		die("reduce: told about trial %llu, which was never proposed", (unsigned long long)id);
	nd = &r->nodes[id - 1];
	if (nd->st != ST_FLIGHT)
		die("reduce: trial %llu was not in flight", (unsigned long long)id);
	r->trials++;
	r->case_runs += o == RED_FAIL ? (double)nd->n / 2 : (double)nd->n;
	nd->known = nd->ran;
	r->searched |= nd->kind == K_GROUP;
	if (nd->ran > r->max_round)
		r->max_round = nd->ran;
	if (nd->kind == K_REMAINDER) {
		rd_remainder_told(r, (int)id - 1, o);
		return;
	}
	if (o == RED_UNRESOLVED) {
		nd->nunres++;
		if (nd->nunres > r->o.retries) {
			on_undecided(r, (int)id - 1);
		} else {
			nd->st = ST_PENDING;
			nd->round = nd->ran + 1;
		}
		return;
	}
	if (o == RED_FAIL)
		nd->nfail++;
	decide(r, (int)id - 1, o);
}

void red_tell_suspects(struct red *r, uint64_t id, enum red_outcome o, const size_t *suspects,
		       size_t n)
{
	r->sus = suspects;
	r->nsus = o == RED_FAIL ? n : 0;
	red_tell(r, id, o);
	r->sus = NULL;
	r->nsus = 0;
}

void red_stop(struct red *r)
{
	r->out_of_trials = true;
}

void red_estimate(const struct red *r, double *trials, double *rounds)
{
	double t = 0, deepest = 0, slots = r->o.slots > 1 ? (double)r->o.slots : 1, runs;
	size_t i;

	*trials = *rounds = 0;
	if (red_done(r))
		return;
	/* With one slot and nothing doubted, the plan's expectation at its
	 * last choice (which runs the remainder once; o.flaky, --confirm run
	 * it more), less the trials since. */
	if (r->o.slots <= 1 && r->planned > 0 && !r->flake_seen && !r->minimal && !r->dd_active) {
		t = r->planned + (double)rd_remainder_runs(r) - 1 -
		    (double)(r->trials - r->planned_at);
		*trials = *rounds = t > 1 ? t : 1;
		return;
	}
	for (i = 0; i < r->nnodes; i++) {
		const struct node *nd = &r->nodes[i];
		double depth = 0, m = (double)nd->n;

		if (nd->kind == K_REMAINDER)
			continue; /* its runs, the confirmation, below */
		if (!rd_busy(nd) && !(nd->st == ST_FAIL && nd->n > 1 && !nd->expanded))
			continue;
		while (m > 1) {
			m /= r->o.slots > 1 ? (double)r->o.slots : 2;
			depth++;
		}
		if (nd->st == ST_WAIT || nd->kind == K_REMAINDER)
			depth = 0;
		t += nd->kind == K_GROUP ? depth : 1;
		if (depth + 1 > deepest)
			deepest = depth + 1;
	}
	/* the confirmation: the remainder's runs still to come */
	if (r->phase == PH_REMAINDER && r->remainder >= 0) {
		const struct node *m = &r->nodes[r->remainder];

		runs = m->need_pass > m->npass ? (double)(m->need_pass - m->npass) : 0;
		t += runs;
		if (ceil(runs / slots) > deepest)
			deepest = ceil(runs / slots);
	} else if (r->phase != PH_DONE) {
		runs = rd_remainder_runs(r);
		t += runs;
		deepest += ceil(runs / slots);
	}
	*trials = t;
	*rounds = deepest;
}

bool red_done(const struct red *r)
{
	size_t i;

	if (r->out_of_trials) {
		for (i = 0; i < r->nnodes; i++)
			if (r->nodes[i].st == ST_FLIGHT)
				return false;
		return true;
	}
	return r->phase == PH_DONE;
}

void red_answer(struct red *r, struct red_answer *a)
{
	size_t i, j;

	memset(a, 0, sizeof(*a));
	if (r->nculprits)
		qsort(r->culprits, r->nculprits, sizeof(*r->culprits), rd_cmp_size);
	a->culprits = r->culprits;
	a->nculprits = r->nculprits;
	/* The cases of the sets left UNRESOLVED (an undecided remainder's
	 * too), each once, in order, but for culprits and cases a pass
	 * cleared: those no trial could decide. */
	r->nundecided = 0;
	if (r->o.n) {
		size_t nunk, *unk = rd_unknown_cases(r, &nunk);
		unsigned char *in = xcalloc(r->o.n, 1);

		for (i = 0; i < r->nnodes; i++) {
			const struct node *nd = &r->nodes[i];

			if (nd->st == ST_UNDECIDED)
				for (j = 0; j < nd->n; j++)
					in[nd->cases[j]] = 1;
		}
		r->undecided = xrealloc(r->undecided, (nunk ? nunk : 1) * sizeof(size_t));
		for (i = 0; i < nunk; i++)
			if (in[unk[i]])
				r->undecided[r->nundecided++] = unk[i];
		free(in);
		free(unk);
	}
	a->undecided = r->undecided;
	a->nundecided = r->nundecided;
	a->trials = r->trials;
	a->rounds = r->max_round;
	a->flakes = r->flakes;
	a->case_runs = r->case_runs;
	if (!red_done(r))
		a->verdict = RED_SEARCHING;
	else if (r->out_of_trials || r->nundecided ||
		 (r->remainder >= 0 && r->nodes[r->remainder].st == ST_UNDECIDED))
		a->verdict = RED_UNDETERMINED;
	else
		a->verdict = r->minimal ? RED_MINIMAL_SUBSET : RED_CULPRITS_FOUND;
}
