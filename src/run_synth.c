/* run_synth: `run --synthetic`, the synthetic repro (include/casebisect/synth.h)
 * made at the end of a run, once the report and the plain bundle exist. */
#include <stdlib.h>

#include "casebisect/synth.h"
#include "run_internal.h"

static void say_line(void *ctx, const char *line)
{
	run_say(ctx, "%s", line);
}

int run_synthetic(struct run *r)
{
	struct synth_bundle_options o = { true, say_line, r };
	struct synth_result res;
	char err[2048];

	if (r->interrupted || (r->sup && sup_interrupted(r->sup)))
		return -1;
	/* The verification trial has a supervisor of its own: the run's,
	 * whose trials are all over, goes first. */
	if (r->sup) {
		sup_free(r->sup);
		r->sup = r->health.sup = NULL;
	}
	if (synth_bundle(r->c.workdir, &o, &res, err, sizeof(err)) < 0) {
		/* the plain bundle is there: a warning, not a failed run */
		run_notify(r, RUN_MSG_WARNING, "no synthetic repro: %s", err);
		return -1;
	}
	run_say(r, "synthetic: %s", res.dir);
	run_say(r, "%s", res.summary);
	return 0;
}
