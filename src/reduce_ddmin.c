/* reduce_ddmin: ddmin inside the reducer, for failures that need several
 * cases together (a 1-minimal failing set); see reduce.c's design note. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "casebisect/plan.h"
#include "casebisect/reduce.h"
#include "casebisect/util.h"
#include "reduce_int.h"

static void ddmin_round(struct red *r, uint64_t round)
{
	size_t g = r->granularity, i, lo = 0;

	r->dd_first = (int)r->nnodes;
	r->dd_count = 0;
	for (i = 0; i < g; i++) {
		size_t hi = r->ndd * (i + 1) / g;

		rd_add_node(r, K_DDMIN, r->dd + lo, hi - lo, -1, round);
		r->dd_count++;
		lo = hi;
	}
	if (g > 2) {
		lo = 0;
		for (i = 0; i < g; i++) {
			size_t hi = r->ndd * (i + 1) / g, k = 0, j;
			size_t *comp = xmalloc(r->ndd * sizeof(*comp));

			for (j = 0; j < r->ndd; j++)
				if (j < lo || j >= hi)
					comp[k++] = r->dd[j];
			rd_add_node(r, K_DDMIN, comp, k, -1, round);
			free(comp);
			r->dd_count++;
			lo = hi;
		}
	}
}

void rd_ddmin_start(struct red *r, const size_t *cases, size_t n, uint64_t round)
{
	free(r->dd);
	r->dd = xmalloc((n ? n : 1) * sizeof(*r->dd));
	memcpy(r->dd, cases, n * sizeof(*cases));
	r->ndd = n;
	r->granularity = n < 2 ? n : 2;
	r->dd_active = true;
	r->dd_done = false;
	r->dd_count = 0;
	r->dd_known = round - 1;
	if (n <= 1) {
		r->dd_done = true;
		return;
	}
	ddmin_round(r, round);
}

/* The ddmin round is complete: pick the next set or stop at 1-minimal. */
void rd_ddmin_step(struct red *r)
{
	int i, g = (int)r->granularity;
	uint64_t round = 0;

	for (i = 0; i < r->dd_count; i++) {
		const struct node *nd = &r->nodes[r->dd_first + i];

		if (nd->st == ST_PENDING || nd->st == ST_FLIGHT || nd->st == ST_WAIT)
			return;
		if (nd->known > round)
			round = nd->known;
	}
	r->dd_known = round;
	for (i = 0; i < r->dd_count; i++) {
		const struct node *nd = &r->nodes[r->dd_first + i];

		if (nd->st == ST_FAIL) {
			memcpy(r->dd, nd->cases, nd->n * sizeof(*nd->cases));
			r->ndd = nd->n;
			r->granularity = i < g ? 2 : (size_t)(g - 1 > 2 ? g - 1 : 2);
			break;
		}
	}
	if (i == r->dd_count) {
		if (r->granularity >= r->ndd) {
			r->dd_done = true;
			r->dd_count = 0;
			return;
		}
		r->granularity = 2 * r->granularity < r->ndd ? 2 * r->granularity : r->ndd;
	}
	if (r->ndd <= 1) {
		r->dd_done = true;
		r->dd_count = 0;
		return;
	}
	if (r->granularity > r->ndd)
		r->granularity = r->ndd;
	ddmin_round(r, round + 1);
}
