/* compare: the statistics of `distsweep compare` (docs/analysis.md "Comparing two
 * populations"): differences B - A of p_success, of the mean and of the mean
 * of successful runs, and the W2 distance between two per-seed samples, each
 * with a 95% percentile-bootstrap interval, and permutation-test p-values.
 *
 * Paired or unpaired: when both populations hold the same seeds, a[i] and b[i]
 * are the values of one seed (i = 0..n-1) and the bootstrap resamples seed
 * indices jointly, the permutation test swaps a[i] and b[i] within each pair
 * (MultiBERTs' Multi-Bootstrap, Sellam et al. 2022); otherwise a[0..n) and
 * b[0..m) are independent samples, each resampled on its own, and the test
 * permutes the pooled values.
 *
 * Depends on libc, libm, rng.h and stats.h only. Every random draw comes from
 * the Philox key (key, stream DS_COMPARE_STREAM_*, index = resample or
 * permutation number), so the same inputs and key give the same numbers bit
 * for bit. */
#ifndef DS_COMPARE_H
#define DS_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h" /* ds_ci */

/* Philox streams of this module, disjoint from rng.h's and stats.h's. */
enum { DS_COMPARE_STREAM_BOOT = 0x5311, DS_COMPARE_STREAM_PERM = 0x5312 };

/* Defaults of `distsweep compare`. */
#define DS_COMPARE_RESAMPLES 1000
#define DS_COMPARE_PERMUTATIONS 5000

typedef struct {
    int paired;
    size_t n_a, n_b;
    double p_a, p_b, mean_a, mean_b, ms_a, ms_b; /* each population's point estimates */
    ds_ci d_p, d_mean, d_ms, w2;                 /* B - A (W2: distance), 95% percentile CIs */
    /* permutation p-values: two-sided for the differences of p_success and of the
     * mean (|T*| >= |T|), one-sided for W2 (W2* >= W2); (1 + hits) / (1 + P) */
    double pv_p, pv_mean, pv_w2;
} ds_compare_result;

/* Compares sample a[0..n_a) with b[0..n_b) (finite values only). paired
 * requires n_a == n_b, a[i] and b[i] being one seed's. Success is x >= tau,
 * or x <= tau when lower_is_better (then mean_success is the mean of the
 * values <= tau). resamples >= 1 bootstrap resamples, permutations >= 1
 * permutations, keyed by key. A resample in which either side has no success
 * is left out of d_ms's interval; d_ms is NaN when either sample has no
 * success. An empty sample gives all NaN. Pure; allocates and frees its
 * scratch. */
void ds_compare(const double *a, size_t n_a, const double *b, size_t n_b, int paired, double tau,
                int lower_is_better, int resamples, int permutations, uint64_t key,
                ds_compare_result *out);

#endif
