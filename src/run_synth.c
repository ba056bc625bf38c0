/* run_synth: `run --synthetic` and `bundle --synthetic`, the synthetic
 * repro (include/casebisect/synth.h) made at the end of a run or after it,
 * once the report and the plain bundle exist. */
#include <stdlib.h>
#include <string.h>

#include "casebisect/synth.h"
#include "run_internal.h"

static void say_line(void *ctx, const char *line)
{
	run_say(ctx, "%s", line);
}

int run_synthetic(struct run *r, const struct report_input *in)
{
	struct synth_bundle_options o = { true, say_line, r };
	struct synth_result own, *res = r->synth_out ? r->synth_out : &own;
	char err[2048];

	if (r->interrupted || (r->sup && sup_interrupted(r->sup)))
		return -1;
	if (r->synth_opts)
		o = *r->synth_opts;
	/* The verification trial has a supervisor of its own: the run's,
	 * whose trials are all over, goes first. */
	if (r->sup) {
		sup_free(r->sup);
		r->sup = r->health.sup = NULL;
	}
	if (synth_bundle(in, &o, res, err, sizeof(err)) < 0) {
		/* after a run the plain bundle is there: a warning, not a failed run */
		if (r->synth_out) {
			r->synth_failed = true;
			run_notify(r, RUN_MSG_ERROR, "%s", err);
		} else {
			run_notify(r, RUN_MSG_WARNING, "no synthetic repro: %s", err);
		}
		return -1;
	}
	if (!r->synth_out) {
		run_say(r, "synthetic: %s", res->dir);
		run_say(r, "%s", res->summary);
	}
	free(r->res->synthetic);
	free(r->res->synthetic_note);
	r->res->synthetic = xstrdup(res->tarball);
	r->res->synthetic_note = xstrdup(synth_share_note(res));
	return 0;
}
