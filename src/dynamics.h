/* dynamics: the statistics of `distsweep report --dynamics` (docs/analysis.md
 * "Training dynamics"): when each seed's metric trajectory (train.eval_every,
 * /trajectories in docs/result-file.md) breaks through a threshold for good,
 * the distribution of those breakthrough times per condition (Kaplan-Meier
 * quantiles and survival curve, with right-censoring at the last evaluation
 * point only), and whether the seeds that broke through early end in the
 * success mode more or less often than those that broke through late (a
 * two-sided Fisher exact test).
 *
 * Times are evaluation-point indices k = 0 .. n_points-1 here (point k is the
 * evaluation after step (k+1)*eval_every); the caller turns them into steps.
 * A seed that never breaks through has point -1 (censored at the last point).
 *
 * Depends on libc, libm and stats.h only; no global state, no randomness:
 * the same inputs give the same numbers bit for bit. */
#ifndef DS_DYNAMICS_H
#define DS_DYNAMICS_H

#include <stddef.h>
#include <stdint.h>

/* Whether value x is a success at threshold tau: x >= tau, or x <= tau when
 * lower_is_better (error, loss). NaN is never a success. */
int ds_dyn_success(double x, double tau, int lower_is_better);

/* The breakthrough point of one trajectory y[0..n): the smallest k such that
 * y[j] is a success (ds_dyn_success) for every j in [k, n); -1 when y[n-1] is
 * not a success (the seed never breaks through: right-censored), and for
 * n = 0. */
int64_t ds_dyn_breakthrough(const float *y, int64_t n, double tau, int lower_is_better);

/* The survival curve over n seeds with breakthrough points point[0..n) (-1 =
 * censored): S[k] = 1 - #{i : 0 <= point[i] <= k} / n for k = 0 ..
 * n_points-1, the fraction not yet broken through after evaluation point k.
 * With censoring only at the last point this is the Kaplan-Meier estimate.
 * n = 0 gives NaN everywhere. Requires point[i] < n_points. */
void ds_dyn_survival(const int64_t *point, size_t n, int64_t n_points, double *S);

/* The Kaplan-Meier q-quantile of the breakthrough point, q = q_num / q_den in
 * (0, 1]: the smallest k with #{i : 0 <= point[i] <= k} >= q * n (compared
 * in integers: count * q_den >= q_num * n), i.e. the first point at which
 * the survival curve falls to 1 - q or below (lifelines' convention for the
 * median survival time). -1 when it is not reached by the last point (too
 * many seeds censored) and for n = 0. */
int64_t ds_dyn_quantile(const int64_t *point, size_t n, int64_t n_points, int q_num, int q_den);

/* Two-sided Fisher exact test of the 2x2 table [[a, b], [c, d]] (all >= 0):
 * with the margins fixed, X = a is hypergeometric, and p is the sum of
 * P(X = x) over every x whose probability is at most P(X = a) * (1 + 1e-7)
 * (the tolerance of R's fisher.test), at most 1. An empty row (a + b = 0 or
 * c + d = 0: a group without seeds) gives NaN; an empty column (every seed
 * in one mode) leaves one possible table and gives 1. */
double ds_dyn_fisher(int64_t a, int64_t b, int64_t c, int64_t d);

/* One condition's summary. */
typedef struct {
    size_t n, n_broke;     /* counted seeds; of them, broke through */
    int64_t q25, q50, q75; /* KM quartiles as points, -1 = not reached */
    double split;          /* median point of the seeds that broke through (ds_stats_median;
                            * may be k + 0.5), NaN when none did */
    size_t n_early, early_success; /* broke through at point <= split; of them, final success */
    size_t n_late, late_success;   /* broke through at point > split; of them, final success */
    double p_value;                /* ds_dyn_fisher([[early_success, n_early - early_success],
                                    * [late_success, n_late - late_success]]) */
} ds_dyn_summary;

/* Summarises n counted seeds: point[i] their breakthrough points (-1 =
 * censored), success[i] whether their final metric is in the success mode.
 * Fills S[0..n_points) with ds_dyn_survival and out with the quartiles and
 * the early/late split (docs/analysis.md "Training dynamics"). Allocates and
 * frees its scratch. */
void ds_dyn_summarize(const int64_t *point, const int *success, size_t n, int64_t n_points,
                      double *S, ds_dyn_summary *out);

#endif
