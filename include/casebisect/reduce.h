/* reduce: which subsets to try next. Pure logic (no I/O, no clock): the
 * caller asks for subsets to run and tells their outcomes back, in any order. */
#ifndef CASEBISECT_REDUCE_H
#define CASEBISECT_REDUCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct plan;

/*
 * The model: one bad case is usually enough to crash training, so a subset
 * FAILs when it holds at least one culprit. A FAIL with the target
 * signature is real; a PASS may be false (the bad voxel was not sampled).
 *
 * --strategy find-all (RED_FIND_ALL): adaptive group testing. The full set
 * is known to fail. A failing group is split into `arity` parts (2 with one
 * slot: the second part of a failing group whose first part passed must
 * fail, and is not run; with P slots, the failing groups of a round share
 * the P slots, each 2 at least, so all slots stay busy; below the full
 * set, a group with s slots is cut into s+1 parts, s run and the last
 * inferred to fail when they all pass, left to the final remainder when a
 * sibling fails);
 * parts that fail are split again, parts that pass are cleared,
 * until every failing part is a single case: a culprit. Each culprit must
 * FAIL alone (one trial when it was only inferred, as the last unknown
 * case of a failing remainder is), and the dataset minus
 * the culprits must PASS (`confirm` times); when it fails, the search goes
 * on in the cases no pass cleared (in all of it when those turn out clean:
 * a false pass cleared a culprit). With one slot, a plan (plan.h: dynamic
 * programming under a prior on the number of culprits, from the set of
 * outcomes only) sizes each trial, as Hwang's generalized binary splitting
 * does with a known number: how much of a failing group runs first (a
 * third to a half, less when several culprits may hide in it), and, once a
 * culprit is known, whether the remainder runs or a probe of unknown cases
 * asks for the next culprit first. A failing group whose parts all pass (after
 * a re-run: see flakiness) has no single culprit: ddmin inside it finds a
 * 1-minimal failing subset, reported instead (verdict minimal_subset) once
 * each of its cases passed alone twice (3 times after a flake): a culprit
 * that passed alone by chance would otherwise come out with a neighbour.
 *
 * --strategy ddmin (RED_DDMIN): Zeller's ddmin with complements, every
 * subset and complement of a round proposed at once.
 *
 * Priors: suspects are tried first, alone; with a right prior the search
 * costs one trial per culprit and one of the rest.
 *
 * Flakiness (adaptive; the user does not know the rate): a PASS that
 * contradicts what is known (a failing group whose parts all pass, an
 * inferred culprit that passes alone) is run again, nearest first: the
 * culprit alone, then the parts of an inferred group, then those of the
 * group that really failed above it. Once a flake has been
 * seen (a subset that passed later fails), passes that clear cases are
 * repeated `repeat` times and the final remainder runs `confirm` times (3
 * unless set). With several slots the remainder's runs go out at once, in
 * one round, and after a search it runs twice even before a flake (the
 * slots are free then, so it costs no round). UNRESOLVED is retried `retries` times, never counted as PASS;
 * cases it leaves undecided are reported.
 *
 * `flaky` (the user knows the trainer samples at random: run --flaky):
 * every remainder must pass 3 times, as after a flake, from the start.
 * Without it, nearly every wrong answer under false passes is a remainder
 * that ran once, before any flake was seen, while it still held a
 * culprit: its false pass cleared the culprit and ended the search. With
 * it, such a pass is followed by runs that fail (a flake seen, and the
 * search goes on). At n=1024, one slot, 10% false passes: the exact set
 * 100/99.9/99.8% of the time for k=1/2/4 (default: 100/95.5/91.1%), for
 * 2 trials more per search without flakes (two passes over the dataset)
 * and 1.6-1.7x the clean trials at 10% (bench/README.md). Passes that
 * clear part of a group stay single until a flake is seen: a false one
 * leaves a culprit outside the cases searched, which a later remainder
 * (confirmed) finds. Off, the search proposes what it did before the
 * option existed (tests/test_reduce.c pins the trial sequence).
 *
 * A cache: no subset is run twice except on purpose (repeats, confirmation).
 * Stopping: after max_trials trials the search ends with what is known.
 * Determinism: proposals are sorted by their cases, so the same outcomes
 * give the same proposals however the trials interleaved; a journal replays
 * the search exactly.
 */

enum red_strategy { RED_FIND_ALL = 0, RED_DDMIN };
enum red_outcome { RED_PASS = 0, RED_FAIL, RED_UNRESOLVED };
enum red_verdict {
	RED_SEARCHING = 0,   /* not done */
	RED_CULPRITS_FOUND,  /* culprits[] each fail alone, the rest passes */
	RED_MINIMAL_SUBSET,  /* culprits[] fail together, no single one does */
	RED_UNDETERMINED,    /* out of trials, or undecided cases remain */
};

struct red_options {
	enum red_strategy strategy;
	size_t n;               /* cases are 0 .. n-1 */
	size_t slots;           /* trials at once (1 when 0): sets the split arity */
	const size_t *prior;    /* suspects to try first, alone (may be NULL) */
	size_t nprior;
	unsigned repeat;        /* after a flake: runs of each clearing pass (2 when 0) */
	unsigned confirm;       /* runs of the final remainder (0: 1; 2 at once with
				 * several slots after a search; 3 after a flake
				 * or with `flaky`) */
	bool flaky;             /* the trainer is known to pass falsely: see
				 * flakiness (changes the proposals) */
	unsigned retries;       /* re-runs of an UNRESOLVED subset (default 1; use
				 * RED_NO_RETRIES for none) */
	uint64_t max_trials;    /* 0: no limit */
	size_t min_cases;       /* a smaller subset is padded with cases already
				 * cleared (they keep the outcome attributable), as
				 * far as there are such cases; 0: no padding */
	const struct plan *plan; /* with one slot: a plan (plan.h) for n cases to
				 * share, or NULL: the reducer makes its own when
				 * it first needs one (about 0.5 s for n = 1024) */
};

#define RED_NO_RETRIES ((unsigned)-1)

/* A subset to run, owned by the reducer and valid until its outcome is told:
 * the cases not cleared yet (sorted), then the cleared cases it holds (a
 * remainder does), then (with min_cases) the cleared cases that pad it. A
 * trainer that visits cases in this order (the probe trainer follows
 * {cases_file}) meets the suspects first, so a crash comes early. */
struct red_trial {
	uint64_t id;
	const size_t *cases;
	size_t n;
	bool confirm;           /* a run of the final remainder: the confirmation */
};

struct red_answer {
	enum red_verdict verdict;
	size_t *culprits;       /* owned by the reducer; valid until the next call */
	size_t nculprits;
	size_t *undecided;      /* cases no trial could decide (UNRESOLVED) */
	size_t nundecided;
	uint64_t trials;        /* trials told so far */
	uint64_t rounds;        /* batches of at most `slots` trials that could run at
				 * once, each after the outcomes it needs (with
				 * one slot: the trials) */
	uint64_t flakes;        /* passes later contradicted by a fail */
	double case_runs;       /* cases run summed over trials (GPU time, in case-runs) */
};

struct red;

/* A new reducer; aborts when out of memory. The full set is known to fail
 * (the caller ran it). */
struct red *red_new(const struct red_options *o);
void red_free(struct red *r);

/* Fills out[0..max) with subsets to run now; returns how many. 0 with
 * !red_done(): waiting for outcomes. A trial stays in flight (not proposed
 * again) until told. */
size_t red_ask(struct red *r, struct red_trial *out, size_t max);

/* The outcome of trial id. */
void red_tell(struct red *r, uint64_t id, enum red_outcome outcome);

/* The same, with the cases the trainer named in its last CASEBISECT_BATCH
 * line before a FAIL (ignored for other outcomes). When a remainder (the
 * dataset minus the culprits found) fails, the suspects it names that were
 * not run alone yet are run alone before any split: a trainer that names
 * its batch turns the search into one failing remainder and one trial
 * alone per culprit (about 0.5k + 2 passes over the dataset for k
 * culprits, instead of a binary search's). A replay must pass the same
 * suspects (the journal keeps them). */
void red_tell_suspects(struct red *r, uint64_t id, enum red_outcome outcome,
		       const size_t *suspects, size_t n);

bool red_done(const struct red *r);

/* Ends the search with what is known (a --deadline passed, say): nothing
 * more is proposed; trials in flight may still be told. */
void red_stop(struct red *r);

/* A best guess of the trials and rounds still to come, for an ETA: with one
 * slot and no flake seen, the plan's expectation (plan.h) at its last
 * choice less the trials since; else a binary search in each open failing
 * group, the culprits still to run alone, and the remainder's runs. Both
 * count every run of the confirmation (--confirm, --flaky). 0 and 0 when
 * done. */
void red_estimate(const struct red *r, double *trials, double *rounds);

/* What is known now (the final answer once red_done()). */
void red_answer(struct red *r, struct red_answer *a);

const char *red_verdict_name(enum red_verdict v);

#endif
