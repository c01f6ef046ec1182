/* stats: the distribution statistics of docs/spec-tasks.md §7, over the seeds of one
 * scale (and one test length), and the curve statistics of one seed across the
 * scales of a family.
 *
 * Depends on libc, libm and rng.h only (rng.h for the seeded bootstrap and the
 * dip p-value simulation), so that every number in a report is reproducible
 * bit for bit from the same input. Formulas and references: docs/analysis.md.
 *
 * Conventions shared by every function here:
 * - NaN marks a run that has no value (pending, failed): functions that take
 *   a sample skip non-finite NaN entries; ds_stats_finite() does it explicitly.
 *   ±inf is kept where it is meaningful (breakthroughness) and is otherwise
 *   treated like NaN (sample statistics).
 * - A statistic that is undefined for the given sample (the mean of nothing,
 *   the skewness of a constant) is NaN, never a made-up number. */
#ifndef DS_STATS_H
#define DS_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Copies the finite entries of x[0..n) to out (which may alias x) in order;
 * returns how many there were. */
size_t ds_stats_finite(const double *x, size_t n, double *out);

/* Arithmetic mean; NaN for n = 0. */
double ds_stats_mean(const double *x, size_t n);
/* Median (mean of the two middle values for even n); NaN for n = 0.
 * Does not modify x. */
double ds_stats_median(const double *x, size_t n);
/* Sample standard deviation with Bessel's correction (ddof = 1, numpy's
 * np.std(x, ddof=1)); 0 for n = 1, NaN for n = 0. */
double ds_stats_std(const double *x, size_t n);
/* Linear-interpolation quantile, q in [0,1] (numpy's default "linear"
 * method) of an ascending array; NaN for n = 0. */
double ds_stats_quantile_sorted(const double *sorted, size_t n, double q);

/* numpy.histogram(x, bins=nbins, range=(lo, hi)): nbins equal bins, each
 * half-open [a, b) except the last, which is closed; values outside [lo, hi]
 * and non-finite values are not counted. Requires nbins >= 1 and lo < hi. */
void ds_stats_histogram(const double *x, size_t n, double lo, double hi, int nbins,
                        int64_t *counts);

/* Scott's bandwidth of scipy.stats.gaussian_kde: std(ddof=1) * n^(-1/5). */
double ds_stats_scott_bandwidth(const double *x, size_t n);

/* The number of grid points ds_stats_kde_mode evaluates on [lo, hi]. */
#define DS_KDE_GRID 2001

/* Mode: the argmax of a Gaussian KDE with Scott's bandwidth evaluated on
 * DS_KDE_GRID equally spaced points of [lo, hi] (both ends included; on [0,1]
 * the spacing is 0.0005); the first grid point on ties. A sample with zero
 * spread (n = 1 or all equal) has no bandwidth: its mode is that value.
 * NaN for n = 0. */
double ds_stats_kde_mode(const double *x, size_t n, double lo, double hi);

/* A point estimate with its 95% percentile-bootstrap interval. */
typedef struct {
    double est, lo, hi;
} ds_ci;

/* The bootstrap of ds_stats_success: resamples and their random key. */
#define DS_BOOT_RESAMPLES 1000
#define DS_BOOT_SEED 0x6473626f6f74ULL /* "dsboot" */

/* Success at threshold tau: p = P(x >= tau) and the mean of the successful
 * values, each with a 95% CI from DS_BOOT_RESAMPLES percentile-bootstrap
 * resamples of the n values (with replacement; resample r draws its indices
 * from the Philox key (DS_BOOT_SEED, stream DS_STATS_STREAM_BOOT, index r),
 * so the intervals are reproducible). The interval is the 2.5% and 97.5%
 * linear-interpolation quantiles of the resampled statistic. A resample with
 * no success has no mean and is left out of the mean's interval; with no
 * success at all, mean_success is NaN. NaN values must already be removed;
 * n = 0 gives all NaN. */
void ds_stats_success(const double *x, size_t n, double tau, ds_ci *p_success,
                      ds_ci *mean_success);

/* ds_stats_success with the bootstrap keyed by `key` instead of DS_BOOT_SEED
 * (same stream and resample indices): ds_stats_success(x, ...) is
 * ds_stats_success_keyed(x, ..., DS_BOOT_SEED, ...). src/adaptive.c keys each
 * decision by (sweep, scale, round). */
void ds_stats_success_keyed(const double *x, size_t n, double tau, uint64_t key, ds_ci *p_success,
                            ds_ci *mean_success);

/* The mean with its 95% percentile-bootstrap interval: DS_BOOT_RESAMPLES
 * resamples drawn as in ds_stats_success_keyed (key, stream
 * DS_STATS_STREAM_BOOT, index r). NaN values must already be removed; n = 0
 * gives all NaN. */
void ds_stats_mean_ci(const double *x, size_t n, uint64_t key, ds_ci *mean);

/* Random streams of this module (Philox stream ids, disjoint from rng.h's). */
enum { DS_STATS_STREAM_BOOT = 0x5301, DS_STATS_STREAM_DIP = 0x5302 };

/* Breakthroughness and linearity of one curve y[0..k) (a seed's metric over a
 * family's scales in order of parameters), docs/spec-tasks.md §7:
 *   D_i = y[i+1] - y[i],  I = sign(argmax - argmin) * (max - min)
 *   (first index of the max and of the min on ties),
 *   B = I / sqrt(median D^2),  Lin = I / sqrt(mean D^2),
 * 0/0 gives 0 and nonzero/0 gives +-inf. k < 2 gives B = Lin = 0. Any NaN in y
 * gives NaN for both (the curve is incomplete). */
void ds_stats_breakthrough(const double *y, size_t k, double *B, double *Lin);

/* 1 when B = Lin for every curve of k points: with k <= 3 a curve has at most
 * two steps, and the median of two (or one) squares is their mean. The report
 * and tools/plot_sweep.py then show one ranking, saying so. */
int ds_stats_b_equals_lin(size_t k);

/* Indices of the k largest values of v[0..n) in descending order, NaN last and
 * never selected; ties keep the lower index first (a stable sort). Returns how
 * many were written (min(k, number of non-NaN values)). */
size_t ds_stats_top_k(const double *v, size_t n, size_t k, size_t *idx);

/* Wasserstein-2 distance between the empirical distributions of a[0..n) and
 * b[0..m), computed exactly from their quantile functions:
 *   W2^2 = integral_0^1 (Qa(t) - Qb(t))^2 dt,
 * where Qa is the step function a_(i) on ((i-1)/n, i/n]; the integral is a
 * finite sum over the merged breakpoints {i/n} and {j/m} (compared as
 * integers i*m and j*n, so no breakpoint is lost to rounding). NaN if either
 * sample is empty. Does not modify its inputs. */
double ds_stats_w2(const double *a, size_t n, const double *b, size_t m);

/* Bias-corrected sample skewness G1 and excess kurtosis G2 (scipy.stats.skew
 * and kurtosis with bias=False) and the bimodality coefficient
 *   BC = (G1^2 + 1) / (G2 + 3 (n-1)^2 / ((n-2)(n-3))),
 * which exceeds 5/9 (its value for a uniform distribution) for bimodal or
 * heavily skewed samples. Needs n >= 4 and non-zero variance; NaN otherwise. */
void ds_stats_moments(const double *x, size_t n, double *G1, double *G2, double *BC);

/* Hartigan's dip statistic of a sample (Hartigan & Hartigan 1985, algorithm
 * AS 217 with Maechler's corrections as in R's diptest): the sup distance
 * between the empirical CDF and the closest unimodal CDF. In [1/(2n), 1/4];
 * n < 2 or all values equal gives 1/(2n) (n = 0 gives NaN). Does not modify x. */
double ds_stats_dip(const double *x, size_t n);
/* The same on an ascending array, without allocating besides 4 index arrays. */
double ds_stats_dip_sorted(const double *sorted, size_t n);

/* Monte-Carlo null distribution of the dip for sample size n: sims dips of
 * sorted uniform samples drawn from the Philox key (DS_BOOT_SEED, stream
 * DS_STATS_STREAM_DIP, index = simulation number), sorted ascending into
 * out[0..sims). Reproducible; reusable for every sample of size n. */
void ds_stats_dip_null(size_t n, size_t sims, double *out);

/* Dip test p-value against a null from ds_stats_dip_null: (1 + #{null >= d}) /
 * (1 + sims), never 0. */
double ds_stats_dip_pvalue(double dip, const double *null_sorted, size_t sims);

/* The number of simulations `distsweep report` uses for the dip p-value. */
#define DS_DIP_SIMS 2000

#endif
