/* Tests of the one-slot plan: its Bellman equation worked by hand on two
 * cases, its posterior, and the choices a user would see in the trials. */
#include <criterion/criterion.h>
#include <math.h>

#include "casebisect/plan.h"
#include "casebisect/util.h"

/* Two cases, the full set failing. Trial 1 runs case a alone. It fails
 * unless the one culprit is b: P(pass) = P(k=1)/2. A fail makes a a
 * culprit that ran alone; then the remainder {b} runs, and when it fails
 * b (alone too) is the second and the empty remainder runs. A pass makes b
 * a culprit only inferred: it runs alone, then the remainder {a}. */
Test(plan, two_cases_by_hand)
{
	double p1 = plan_prior(1), p2 = plan_prior(2);
	double one = p1 / (p1 + p2);                    /* P(k=1) */
	double b_clean = (p1 / 2) / (p1 / 2 + p2);      /* after a failed alone */
	double after_fail = 1 + (1 - b_clean) * 1;      /* the remainder {b}, maybe {} */
	double want = 1 + (1 - one / 2) * after_fail + one / 2 * 2;
	struct plan *p = plan_new(2, 0);

	cr_assert_eq(plan_cut(p, 2, 2, 0), 1);
	cr_assert_eq(plan_probe(p, 1, 1), 1, "one unknown case left: the remainder");
	cr_assert_float_eq(plan_left(p, 2, 2, 0), want, 1e-9, "%.6f, by hand %.6f",
			   plan_left(p, 2, 2, 0), want);
	cr_assert_float_eq(plan_left(p, 0, 1, 1), after_fail, 1e-9);
	plan_free(p);
}

Test(plan, posterior_sums_to_one_and_more_unknown_cases_hide_more)
{
	double post[PLAN_KMAX + 1], last = 1, sum;
	size_t u, m, nm;

	for (u = 1; u <= 1000; u *= 10) {
		plan_posterior(1024, 1, u, post, &nm);
		for (sum = 0, m = 0; m < nm; m++)
			sum += post[m];
		cr_assert_float_eq(sum, 1, 1e-9);
		cr_assert_lt(post[0], last, "u=%zu: P(no more) %.4f", u, post[0]);
		last = post[0];
	}
	plan_posterior(1024, 0, 1024, post, &nm);
	cr_assert_eq(post[0], 0, "the full set fails: at least one culprit");
	/* a dataset-wide failure: 100 culprits found already */
	plan_posterior(1024, 100, 500, post, &nm);
	for (sum = 0, m = 0; m < nm; m++)
		sum += post[m];
	cr_assert(nm > 1 && fabs(sum - 1) < 1e-9, "j=100: %zu terms, sum %.6f", nm, sum);
}

/* Past PLAN_KMAX culprits found, a plan still decides. */
Test(plan, decides_with_many_culprits_found)
{
	struct plan *p = plan_new(300, 80);
	size_t cut = plan_cut(p, 40, 150, 80), probe = plan_probe(p, 150, 80);

	cr_assert(cut >= 1 && cut < 40, "cut %zu", cut);
	cr_assert(probe >= 1 && probe <= 150, "probe %zu", probe);
	cr_assert(isfinite(plan_left(p, 40, 150, 80)));
	plan_free(p);
}

/* Where one culprit is all but certain, a group is cut so that the search
 * ends on a part of one case that fails (it ran alone: no extra trial),
 * which 3*2^m cases allow best; where several may hide, the first part is
 * smaller than half. */
Test(plan, cuts_follow_the_culprits_likely)
{
	struct plan *p = plan_new(1024, 0);
	size_t cut;

	cr_assert_eq(plan_cut(p, 3, 1024, 0), 1);
	cr_assert_eq(plan_cut(p, 6, 1024, 0), 3);
	cr_assert_eq(plan_cut(p, 12, 1024, 0), 6);
	cut = plan_cut(p, 1024, 1024, 0);
	cr_assert(cut > 1024 / 4 && cut < 1024 / 2, "the full set: first part %zu", cut);
	cr_assert_eq(plan_probe(p, 5, 1), 5, "5 cases left after one culprit: the remainder");
	cr_assert_lt(plan_probe(p, 1000, 1), 1000,
		     "1000 cases unknown after a culprit: another is likely, probe first");
	plan_free(p);
}

/* A plan decides for six counts of culprits found; the reducer makes a
 * new one past them, and a plan for other n never covers. */
Test(plan, covers_its_own_n_and_counts_only)
{
	struct plan *p = plan_new(100, 2);

	cr_assert(plan_covers(p, 100, 2));
	cr_assert(plan_covers(p, 100, 7));
	cr_assert_not(plan_covers(p, 100, 8));
	cr_assert_not(plan_covers(p, 100, 1));
	cr_assert_not(plan_covers(p, 101, 2));
	cr_assert_not(plan_covers(NULL, 100, 2));
	plan_free(p);
}
