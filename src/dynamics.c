/* dynamics: breakthrough times of seed trajectories, their Kaplan-Meier
 * summary and the early/late Fisher test. Contracts in dynamics.h;
 * definitions in docs/analysis.md "Training dynamics". */
#include "dynamics.h"

#include <math.h>
#include <stdlib.h>

#include "common.h"
#include "stats.h"

int ds_dyn_success(double x, double tau, int lower_is_better) {
    if (isnan(x)) return 0;
    return lower_is_better ? x <= tau : x >= tau;
}

int64_t ds_dyn_breakthrough(const float *y, int64_t n, double tau, int lower_is_better) {
    int64_t k = n;
    /* walk back from the last point while the points succeed */
    while (k > 0 && ds_dyn_success((double)y[k - 1], tau, lower_is_better)) k--;
    return k < n ? k : -1;
}

/* The number of seeds that broke through at or before point k. */
static size_t broke_by(const int64_t *point, size_t n, int64_t k) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += point[i] >= 0 && point[i] <= k;
    return c;
}

void ds_dyn_survival(const int64_t *point, size_t n, int64_t n_points, double *S) {
    for (int64_t k = 0; k < n_points; k++)
        S[k] = n ? 1.0 - (double)broke_by(point, n, k) / (double)n : NAN;
}

int64_t ds_dyn_quantile(const int64_t *point, size_t n, int64_t n_points, int q_num, int q_den) {
    DS_ASSERT(q_num > 0 && q_den >= q_num);
    if (!n) return -1;
    for (int64_t k = 0; k < n_points; k++)
        if ((uint64_t)broke_by(point, n, k) * (uint64_t)q_den >= (uint64_t)q_num * (uint64_t)n)
            return k;
    return -1;
}

/* log C(n, k) */
static double log_choose(int64_t n, int64_t k) {
    return lgamma((double)n + 1) - lgamma((double)k + 1) - lgamma((double)(n - k) + 1);
}

double ds_dyn_fisher(int64_t a, int64_t b, int64_t c, int64_t d) {
    DS_ASSERT(a >= 0 && b >= 0 && c >= 0 && d >= 0);
    int64_t r1 = a + b, r2 = c + d, c1 = a + c, N = r1 + r2;
    if (r1 == 0 || r2 == 0) return NAN;
    /* X = a ~ hypergeometric: r1 draws from N holding c1 successes */
    int64_t lo = c1 - r2 > 0 ? c1 - r2 : 0, hi = c1 < r1 ? c1 : r1;
    double lden = log_choose(N, r1);
    double pobs = exp(log_choose(c1, a) + log_choose(N - c1, r1 - a) - lden);
    double p = 0;
    for (int64_t x = lo; x <= hi; x++) {
        double px = exp(log_choose(c1, x) + log_choose(N - c1, r1 - x) - lden);
        if (px <= pobs * (1 + 1e-7)) p += px;
    }
    return p < 1 ? p : 1;
}

/* The early/late split of the seeds that broke through (point >= 0) at their
 * median point, and the Fisher test of their final modes; out->n_broke set. */
static void early_late(const int64_t *point, const int *success, size_t n, ds_dyn_summary *out) {
    double *t = DS_MALLOC((n ? n : 1) * sizeof *t);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (point[i] >= 0) t[m++] = (double)point[i];
    out->n_broke = m;
    out->split = ds_stats_median(t, m);
    out->n_early = out->early_success = out->n_late = out->late_success = 0;
    for (size_t i = 0; i < n && m; i++) {
        if (point[i] < 0) continue;
        if ((double)point[i] <= out->split) out->n_early++, out->early_success += success[i] != 0;
        else out->n_late++, out->late_success += success[i] != 0;
    }
    out->p_value = ds_dyn_fisher((int64_t)out->early_success,
                                 (int64_t)(out->n_early - out->early_success),
                                 (int64_t)out->late_success,
                                 (int64_t)(out->n_late - out->late_success));
    free(t);
}

void ds_dyn_summarize(const int64_t *point, const int *success, size_t n, int64_t n_points,
                      double *S, ds_dyn_summary *out) {
    out->n = n;
    ds_dyn_survival(point, n, n_points, S);
    out->q25 = ds_dyn_quantile(point, n, n_points, 1, 4);
    out->q50 = ds_dyn_quantile(point, n, n_points, 1, 2);
    out->q75 = ds_dyn_quantile(point, n, n_points, 3, 4);
    early_late(point, success, n, out);
}
