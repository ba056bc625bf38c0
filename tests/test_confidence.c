/* test_confidence: the chance a culprit remains among the cleared cases
 * (confidence.h), against sums worked out here by enumerating every set of
 * more culprits and taking f's Beta moments in closed form, and in the
 * directions a user relies on: more passes make it smaller, a false pass
 * or an unexplained fail makes it larger. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include <criterion/criterion.h>

#include "casebisect/confidence.h"
#include "casebisect/plan.h"

TestSuite(confidence);

/* E[f^s] under Beta(a, b). */
static double beta_moment(double a, double b, unsigned s)
{
	double m = 1;
	unsigned i;

	for (i = 0; i < s; i++)
		m *= (a + i) / (a + b + i);
	return m;
}

static double binom(double n, double k)
{
	return exp(lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1));
}

/* The chance by enumeration, for culprits_found with j culprits of n
 * cases and cleared cases (at most 16) with passes[i] passes each: the
 * odds sum, over every nonempty set S of cleared cases, prior odds(S)
 * times E[f^(sum of passes over S)]. */
static double by_hand(size_t n, size_t j, const unsigned *passes, size_t ncleared, unsigned fp,
		      unsigned known)
{
	double odds = 0, a = fp + 1.0, b = known - fp + 1.0;
	unsigned long set;

	for (set = 1; set < 1ul << ncleared; set++) {
		unsigned s = 0, sum = 0;
		size_t i;

		for (i = 0; i < ncleared; i++)
			if (set >> i & 1) {
				s++;
				sum += passes[i];
			}
		if (s > CONF_MORE_MAX)
			continue;
		odds += plan_prior(j + s) / plan_prior(j) * binom((double)n, (double)j) /
			binom((double)n, (double)(j + s)) * beta_moment(a, b, sum);
	}
	return odds / (1 + odds);
}

/* A search on 8 cases, case 0 the culprit: the full set fails, the halves
 * (the first fails), then quarters; 0 alone fails. Cases 4..7 pass once
 * in the second half, 2 and 3 in their quarter, 1 alone; then the rest
 * passes (the remainder): 4..7 twice, 1..3 twice. */
static struct conf *eight_cases(void)
{
	static const size_t all[] = { 0, 1, 2, 3, 4, 5, 6, 7 }, rest[] = { 1, 2, 3, 4, 5, 6, 7 };
	static const size_t first[] = { 0, 1, 2, 3 }, second[] = { 4, 5, 6, 7 };
	static const size_t q1[] = { 0, 1 }, q2[] = { 2, 3 }, zero[] = { 0 }, one[] = { 1 };
	size_t culprit = 0;
	struct conf *c = conf_new(8, &culprit, 1, NULL, 0, false);

	conf_add(c, all, 8, true);
	conf_add(c, first, 4, true);
	conf_add(c, second, 4, false);
	conf_add(c, q1, 2, true);
	conf_add(c, q2, 2, false);
	conf_add(c, zero, 1, true);
	conf_add(c, one, 1, false);
	conf_add(c, rest, 7, false);
	return c;
}

Test(confidence, matches_the_sum_over_every_set_of_more_culprits)
{
	static const unsigned passes[] = { 2, 2, 2, 2, 2, 2, 2 };
	struct conf *c = eight_cases();
	struct conf_result r;
	double want = by_hand(8, 1, passes, 7, 0, 4);

	conf_result(c, &r);
	cr_assert_eq(r.known_trials, 4, "the full set, the first half, the quarter, 0 alone");
	cr_assert_eq(r.false_passes, 0);
	cr_assert_eq(r.cleared, 7);
	cr_assert_eq(r.fewest_passes, 2);
	cr_assert_float_eq(r.false_pass_rate, 1.0 / 6, 1e-12, "Laplace: (0+1)/(4+2)");
	cr_assert_float_eq(r.p_remains, want, 1e-6 * want, "stated %.9f, by hand %.9f", r.p_remains,
			   want);
	cr_assert(r.p_remains > 0.01 && r.p_remains < 0.5, "%g", r.p_remains);
	conf_free(c);
}

Test(confidence, uneven_passes_and_a_false_pass_match_the_sum_too)
{
	/* 12 cases, culprits 0 and 1; cleared cases passed 1, 2 or 3 times;
	 * one trial that held culprit 1 passed (a false pass) */
	static const size_t culprits[] = { 0, 1 };
	static const size_t p3[] = { 2, 3, 4 }, p2[] = { 2, 3, 4, 5, 6, 7 };
	static const size_t p1[] = { 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
	static const size_t with0[] = { 0, 5 }, with1[] = { 1, 2 };
	static const unsigned passes[] = { 3, 3, 3, 2, 2, 2, 1, 1, 1, 1 };
	struct conf *c = conf_new(12, culprits, 2, NULL, 0, false);
	struct conf_result r;
	double want;

	conf_add(c, p3, 3, false);
	conf_add(c, p2, 6, false);
	conf_add(c, p1, 10, false);
	conf_add(c, with0, 2, true);
	conf_add(c, with1, 2, false); /* false pass: says nothing about case 2 */
	conf_add(c, with1, 2, true);
	conf_add(c, culprits, 2, true);
	conf_result(c, &r);
	want = by_hand(12, 2, passes, 10, 1, 4);
	cr_assert_eq(r.false_passes, 1);
	cr_assert_eq(r.known_trials, 4);
	cr_assert_eq(r.fewest_passes, 1);
	cr_assert_float_eq(r.p_remains, want, 1e-6 * want, "stated %.9f, by hand %.9f", r.p_remains,
			   want);
	conf_free(c);
}

Test(confidence, more_passes_lower_it_and_a_false_pass_raises_it)
{
	static const size_t rest[] = { 1, 2, 3, 4, 5, 6, 7 }, zero[] = { 0 };
	struct conf *c = eight_cases();
	struct conf_result before, confirmed, flaky;

	conf_result(c, &before);
	conf_add(c, rest, 7, false);
	conf_add(c, rest, 7, false);
	conf_result(c, &confirmed);
	cr_assert(confirmed.p_remains < before.p_remains / 3,
		  "two more passes of the rest: %g, before %g", confirmed.p_remains, before.p_remains);
	conf_add(c, zero, 1, false);
	conf_result(c, &flaky);
	cr_assert_eq(flaky.false_passes, 1);
	cr_assert(flaky.p_remains > confirmed.p_remains,
		  "a false pass seen must lower the confidence: %g, before %g", flaky.p_remains,
		  confirmed.p_remains);
	conf_free(c);
}

/* With the label audit: it flagged the culprit (h = 1 of r = 1), and
 * read 6 of the 7 cleared cases, flagging case 7 (which training cleared)
 * and not 2..6; case 1 it could not read. By hand: a set with u flagged
 * and v clean cases weighs E[sigma^u (1-sigma)^v] / (alpha^u (1-alpha)^v),
 * sigma ~ Beta(2, 1), alpha = (1+1)/(6+2). */
Test(confidence, the_audit_weighs_what_it_flagged_and_what_it_found_clean)
{
	static const unsigned passes[] = { 2, 2, 2, 2, 2, 2, 2 }; /* cases 1..7 */
	struct conf *c = eight_cases();
	struct conf_result plain, r;
	double odds = 0, alpha = 2.0 / 8, want;
	unsigned long set;
	size_t i;

	conf_result(c, &plain);
	conf_audit(c, 0, true);
	for (i = 2; i < 8; i++)
		conf_audit(c, i, i == 7);
	conf_result(c, &r);
	cr_assert(r.audit_used);
	cr_assert_eq(r.audit_culprits_read, 1);
	cr_assert_eq(r.audit_culprits_flagged, 1);
	cr_assert_eq(r.audit_cleared_read, 6);
	cr_assert_eq(r.audit_cleared_flagged, 1);
	for (set = 1; set < 1ul << 7; set++) {
		unsigned s = 0, sum = 0, u = 0, v = 0;

		for (i = 0; i < 7; i++)
			if (set >> i & 1) {
				s++;
				sum += passes[i];
				u += i + 1 == 7;
				v += i + 1 >= 2 && i + 1 <= 6;
			}
		/* E[sigma^u (1-sigma)^v] under Beta(2, 1) = B(2+u, 1+v) / B(2, 1) */
		odds += plan_prior(1 + s) / plan_prior(1) * binom(8, 1) / binom(8, 1 + s) *
			beta_moment(1, 5, sum) *
			exp(lgamma(2.0 + u) + lgamma(1.0 + v) - lgamma(3.0 + u + v) - log(0.5)) /
			(pow(alpha, u) * pow(1 - alpha, v));
	}
	want = odds / (1 + odds);
	cr_assert_float_eq(r.p_remains, want, 1e-3 * want, "stated %.9f, by hand %.9f", r.p_remains,
			   want);
	cr_assert(r.p_remains < plain.p_remains, "an audit that found 5 cleared cases clean and "
		  "flagged the culprit: %g, without it %g", r.p_remains, plain.p_remains);
	conf_free(c);

	/* one that found every cleared case clean weighs more */
	c = eight_cases();
	for (i = 0; i < 8; i++)
		conf_audit(c, i, i == 0);
	conf_result(c, &r);
	cr_assert(r.p_remains < plain.p_remains / 2, "all clean: %g, without the audit %g",
		  r.p_remains, plain.p_remains);
	conf_free(c);
}

/* A fail is real (it showed the target's fingerprint): one that held no
 * culprit found but cleared cases puts a culprit among them. */
Test(confidence, a_fail_without_a_culprit_found_leaves_one_for_sure)
{
	static const size_t three[] = { 3 };
	struct conf *c = eight_cases();
	struct conf_result r;

	conf_add(c, three, 1, true);
	conf_result(c, &r);
	cr_assert_eq(r.unexplained_fails, 1);
	cr_assert_eq(r.p_remains, 1, "case 3 failed alone: %g", r.p_remains);
	conf_free(c);
}

Test(confidence, undecided_cases_are_not_cleared_and_a_subset_is_one_cause)
{
	static const size_t subset[] = { 0, 1 }, undecided[] = { 5 }, all[] = { 0, 1, 2, 3, 4, 5 };
	static const size_t only0[] = { 0, 2, 3, 4 }, only1[] = { 1, 2, 3, 4 }, part[] = { 0, 2 };
	struct conf *c = conf_new(6, subset, 2, undecided, 1, true);
	struct conf_result r;

	conf_add(c, all, 6, true);
	conf_add(c, subset, 2, true);
	conf_add(c, subset, 2, false); /* the whole subset passed: a false pass */
	conf_add(c, only0, 4, false);  /* part of it: should pass, clears 2..4 */
	conf_add(c, only1, 4, false);
	conf_result(c, &r);
	cr_assert_eq(r.cleared, 3, "cases 2, 3, 4: not the subset, not case 5");
	cr_assert_eq(r.known_trials, 3);
	cr_assert_eq(r.false_passes, 1);
	cr_assert_eq(r.fewest_passes, 2);
	cr_assert(r.p_remains > 0 && r.p_remains < 1, "%g", r.p_remains);
	/* case 0 and cleared case 2 failed: case 0 crashing alone explains it
	 * as well as a culprit among the cleared does */
	conf_add(c, part, 2, true);
	conf_result(c, &r);
	cr_assert_eq(r.unexplained_fails, 1);
	cr_assert(r.p_remains < 1, "%g", r.p_remains);
	conf_free(c);
}

Test(confidence, many_clean_passes_make_it_small_never_zero)
{
	static const size_t all[] = { 0, 1, 2, 3 }, rest[] = { 1, 2, 3 }, zero[] = { 0 };
	size_t culprit = 0, i;
	struct conf *c = conf_new(4, &culprit, 1, NULL, 0, false);
	struct conf_result r;

	conf_add(c, all, 4, true);
	for (i = 0; i < 40; i++) {
		conf_add(c, zero, 1, true);
		conf_add(c, rest, 3, false);
	}
	conf_result(c, &r);
	cr_assert(r.p_remains > 0 && r.p_remains < 1e-12, "%g", r.p_remains);
	conf_free(c);
}
