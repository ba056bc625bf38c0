/* reduce_int: what the reducer's files (reduce.c, reduce_search.c,
 * reduce_ddmin.c, reduce_remainder.c) share: the nodes and the reducer's
 * state (reduce.c's design note), and their functions; private to them. */
#ifndef CASEBISECT_REDUCE_INT_H
#define CASEBISECT_REDUCE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "casebisect/plan.h"
#include "casebisect/reduce.h"

enum kind { K_GROUP, K_ALONE, K_PRIOR, K_REMAINDER, K_DDMIN };
/* ST_TOLD: a run of the remainder told, waiting for the runs beside it. */
enum status { ST_PENDING, ST_FLIGHT, ST_PASS, ST_FAIL, ST_UNDECIDED, ST_WAIT, ST_DEFERRED, ST_TOLD };

struct node {
	size_t *cases;
	size_t n;
	int parent;         /* the group it was split from, -1 for none */
	enum kind kind;
	enum status st;
	bool inferred;      /* ST_FAIL without a run: its sibling(s) passed */
	bool expanded;      /* a failing group already split or handed to ddmin */
	bool rechecked;     /* its passing children were run again once */
	bool fresh;         /* must really run: a re-run never comes from the cache */
	bool probe;         /* a group of unknown cases not known to fail */
	bool narrowed;      /* a search root of the unknown cases only */
	unsigned npass, nfail, nunres;
	unsigned need_pass; /* PASS runs before a pass is believed */
	int twin;           /* a second run of the remainder: the remainder's node, else -1 */
	size_t share;       /* with several slots: the parts a split of it makes */
	uint64_t round;     /* the earliest round its next run can be in */
	uint64_t ran;       /* the round its last run was in */
	uint64_t known;     /* the round by whose end its outcome is known */
	int first_child, nchildren;
	bool borrowed;      /* cases points into another node's (add_slice) */
	size_t *padded;     /* cases plus cleared ones, when min_cases asks; or NULL */
	size_t npadded;
};

struct red {
	struct red_options o;
	struct node *nodes;
	size_t nnodes, cap;
	size_t *culprits;
	size_t nculprits;
	bool flake_seen;    /* a pass was contradicted by a fail */
	bool searched;      /* a group of the search was run */
	int verify_first, verify_count; /* ddmin's set, each case alone */
	uint64_t flakes, trials, max_round;
	unsigned *per_round;  /* trials placed in each round */
	size_t nper_round;
	double case_runs;
	enum { PH_PRIORS, PH_SEARCH, PH_REMAINDER, PH_DONE } phase;
	bool dd_active;     /* a ddmin runs (inside the search, or as the strategy) */
	int remainder;      /* its node, -1 */
	bool minimal;       /* ddmin found a set of several cases that fail together */
	bool dd_done;       /* the running ddmin reached a 1-minimal set */
	bool out_of_trials;
	/* ddmin: the current failing set, granularity, and its round's nodes */
	size_t *dd;
	size_t ndd, granularity;
	int dd_first, dd_count;
	uint64_t dd_known;  /* when the ddmin's last round was known */
	/* the suspects the failing runs of the remainder named, sorted */
	size_t *rem_sus;
	size_t nrem_sus;
	/* red_answer's arrays */
	size_t *undecided;
	size_t nundecided;
	struct plan *plan;  /* its own plan (plan_for), made when first needed */
	double planned;     /* with one slot: the plan's trials left at its last choice */
	uint64_t planned_at; /* trials told then */
	/* the suspects of the outcome being told (red_tell_suspects) */
	const size_t *sus;
	size_t nsus;
};

/* Each function's contract is at its definition. */
int rd_cmp_size(const void *a, const void *b);
bool rd_contains(const size_t *set, size_t n, size_t c);
bool rd_subset_of(const size_t *small, size_t ns, const size_t *big, size_t nb);
/* Does node a hold exactly cases[0..n) (sorted)? */
bool rd_same_set(const struct node *a, const size_t *cases, size_t n);
int rd_add_node(struct red *r, enum kind kind, const size_t *cases, size_t n, int parent,
		uint64_t round);
int rd_add_slice(struct red *r, enum kind kind, int src, size_t from, size_t n, int parent,
		 uint64_t round);
void rd_add_culprit(struct red *r, size_t c);
void rd_split(struct red *r, int g);
void rd_ddmin_start(struct red *r, const size_t *cases, size_t n, uint64_t round);
void rd_ddmin_step(struct red *r);
size_t *rd_rest_of(struct red *r, size_t *n);
void rd_start_remainder(struct red *r, uint64_t round);
/* The runs the remainder needs when it starts now (the design note in
 * reduce_remainder.c). */
unsigned rd_remainder_runs(const struct red *r);
int rd_search_in(struct red *r, const size_t *cases, size_t n, uint64_t known);
bool rd_busy(const struct node *nd);
void rd_contradiction(struct red *r, int g, uint64_t known);
void rd_children_changed(struct red *r, int g);
void rd_advance(struct red *r);
void rd_note_flake(struct red *r, const struct node *failed);
void rd_mark_failed(struct red *r, struct node *nd);
void rd_remainder_told(struct red *r, int id, enum red_outcome o);
int rd_cmp_nodes(const void *a, const void *b, void *ctx);
bool rd_is_culprit(const struct red *r, size_t c);
size_t *rd_unknown_cases(const struct red *r, size_t *count);

#endif
