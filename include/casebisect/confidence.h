/* confidence: how sure an answer is. The chance that a culprit remains
 * among the cases a search cleared, from its trials, the false-pass rate
 * they show and the search's prior. Pure arithmetic (no I/O); the report
 * states it (report.h), the calibration bench checks it
 * (bench/bench_confidence.c).
 *
 * Why it is needed. A pass clears every case it held, but a trainer that
 * samples (a patch, a batch) can miss a bad case: a false pass. The search
 * repeats and confirms to catch them (reduce.h), yet with one slot and 10%
 * false passes it still misses a culprit in a few runs in a hundred. An
 * answer is never certain; this says how far to trust it.
 *
 * The model. A trial that holds a culprit fails unless the trainer missed
 * it, with chance f per culprit (each bad case escapes on its own); a
 * trial that holds none passes. The answer blamed the culprits J (for the
 * verdict minimal_subset: the subset, all together, as one cause).
 *
 *  1. The false-pass rate, from the run. A decided trial that held a
 *     culprit of J (all of the subset) should have failed: of K such
 *     trials, the F that passed are the false passes seen. Under a uniform
 *     prior f is Beta(F+1, K-F+1): its mean is (F+1)/(K+2) (Laplace), and
 *     the confidence is averaged over the whole of it, not worked out at
 *     the mean: 0 false passes in 14 trials does not show that f is 0, nor
 *     1/16, and the average keeps that doubt (E[f^m] > (E f)^m).
 *  2. Each cleared case c (neither blamed nor undecided) passed in m_c
 *     trials that held no culprit of J. Were c a culprit too, each of them
 *     was a false pass: the journal is f^m_c times as likely (the trials
 *     that held a culprit of J weigh the same either way).
 *  3. The prior is the search's (plan.h): p(k) = 0.45, 0.33, 0.09, 0.09,
 *     then halving, every k-set of the n cases alike, so a set S of s more
 *     culprits has prior odds p(j+s) C(n,j) / (p(j) C(n,j+s)) against J
 *     alone (j = |J|; the subset of minimal_subset counts as one case).
 *  4. The label audit, when the run had one: it flagged h of the r culprits
 *     it read, so its sensitivity sigma is Beta(h+1, r-h+1); it flagged a
 *     share alpha (Laplace) of the cleared cases it read. A cleared case it
 *     found clean is a culprit with likelihood (1-sigma)/(1-alpha) (it
 *     would have missed it), one it flagged sigma/alpha; averaged over
 *     sigma. An audit that flags every culprit makes the cleared cases it
 *     found clean much less likely to hide one; one that missed the
 *     culprits (a bug not in the label values) changes little. Not for
 *     minimal_subset (the audit judges cases one by one).
 *  5. The odds that more culprits remain are the sum over sets S of cleared
 *     cases (up to CONF_MORE_MAX of them) of prior odds(S) times the
 *     product of f^m_c over S, averaged over f's Beta; the chance is
 *     odds / (1 + odds). The sums are elementary symmetric polynomials of
 *     the cases' likelihoods (cases grouped by m_c and what the audit
 *     said), at each point of a quadrature over logit f (and sigma).
 *
 * Fails. A failing trial is taken as real, as the search takes it (it
 * showed the target's fingerprint): one that held no culprit of J but
 * cleared cases says a culprit is among them, and the chance is 1 (such a
 * trial is "unexplained"; a search that answers has none as a rule: a
 * failing remainder sends it on). One that held part of a minimal subset
 * is unexplained too, but one of the subset's cases crashing alone
 * explains it as well: it moves nothing.
 *
 * What it leaves out. Sets of more than CONF_MORE_MAX more culprits.
 * The batch's suspects (a case the crash's last CASEBISECT_BATCH line
 * named) change which cases the search tries first, not how likely a case
 * is to be bad here. The chance is calibrated over the prior's mix of k (the bench draws
 * k from it): for a run whose k the user knows to be 1 it is pessimistic.
 */
#ifndef CASEBISECT_CONFIDENCE_H
#define CASEBISECT_CONFIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* More culprits than this beyond J are not counted (their prior odds are
 * below 1e-9 of the rest for any run a search can answer). */
#define CONF_MORE_MAX 8

struct conf;

/* What the trials say, and the chance a culprit remains. */
struct conf_result {
	double p_remains;           /* chance a culprit remains among the cleared */
	double false_pass_rate;     /* f's posterior mean, (F+1)/(K+2) */
	uint64_t false_passes;      /* F: passes of trials that held a culprit of J */
	uint64_t known_trials;      /* K: decided trials that held a culprit of J */
	uint64_t unexplained_fails; /* fails of trials that held none (p_remains is 1
				     * when one held a cleared case) */
	size_t cleared;             /* cases neither blamed nor undecided */
	uint64_t fewest_passes;     /* the least m_c over the cleared cases (0: none) */
	bool audit_used;            /* the label audit's evidence counted (conf_audit) */
	size_t audit_culprits_read, audit_culprits_flagged; /* of J */
	size_t audit_cleared_read, audit_cleared_flagged;
};

/*
 * 1. conf_new: n cases (0 .. n-1), the blamed culprits J (indices, copied)
 *    and the undecided cases (not counted as cleared; may be NULL when
 *    nundecided is 0); together: J crashes only as a whole (minimal_subset).
 * 2. conf_add: every decided trial (PASS or FAIL; an UNRESOLVED one says
 *    nothing), its cases (indices below n; copied as counts, not kept).
 *    conf_audit, for each case the label audit read (run --prior audit):
 *    whether it found values that crash training.
 * 3. conf_result: the numbers above (may be called again after more adds).
 * 4. conf_free.
 * Aborts when out of memory.
 */
struct conf *conf_new(size_t n, const size_t *culprits, size_t nculprits, const size_t *undecided,
		      size_t nundecided, bool together);
void conf_add(struct conf *c, const size_t *cases, size_t ncases, bool fail);
void conf_audit(struct conf *c, size_t i, bool crashes);
void conf_result(const struct conf *c, struct conf_result *out);
void conf_free(struct conf *c);

#endif
