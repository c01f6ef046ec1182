/* compare: see compare.h. */
#include "compare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "rng.h"
#include "stats.h"

/* The three point statistics of one sample: success fraction, mean, mean of
 * the successful values (NaN without success). */
static void point(const double *x, size_t n, double tau, int lower, double *p, double *mean,
                  double *ms) {
    size_t k = 0;
    double s = 0, sk = 0;
    for (size_t i = 0; i < n; i++) {
        s += x[i];
        if (lower ? x[i] <= tau : x[i] >= tau) k++, sk += x[i];
    }
    *p = n ? (double)k / (double)n : NAN;
    *mean = n ? s / (double)n : NAN;
    *ms = k ? sk / (double)k : NAN;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The 95% percentile interval of v[0..n) (sorted in place); NaN for n = 0. */
static void interval(double *v, size_t n, ds_ci *ci) {
    ci->lo = ci->hi = NAN;
    if (!n) return;
    qsort(v, n, sizeof *v, cmp_double);
    ci->lo = ds_stats_quantile_sorted(v, n, 0.025);
    ci->hi = ds_stats_quantile_sorted(v, n, 0.975);
}

/* Does a permuted statistic reach the observed one? A relative tolerance, so
 * that the observed arrangement (summed in another order) counts as itself. */
static int reaches(double t, double obs) { return t >= obs - 1e-12 * fmax(1.0, fabs(obs)); }

void ds_compare(const double *a, size_t n_a, const double *b, size_t n_b, int paired, double tau,
                int lower, int resamples, int permutations, uint64_t key, ds_compare_result *o) {
    memset(o, 0, sizeof *o);
    o->paired = paired, o->n_a = n_a, o->n_b = n_b;
    o->p_a = o->p_b = o->mean_a = o->mean_b = o->ms_a = o->ms_b = NAN;
    o->d_p.est = o->d_p.lo = o->d_p.hi = NAN;
    o->d_mean = o->d_ms = o->w2 = o->d_p;
    o->pv_p = o->pv_mean = o->pv_w2 = NAN;
    if (n_a == 0 || n_b == 0 || resamples < 1 || permutations < 1 || (paired && n_a != n_b)) return;

    point(a, n_a, tau, lower, &o->p_a, &o->mean_a, &o->ms_a);
    point(b, n_b, tau, lower, &o->p_b, &o->mean_b, &o->ms_b);
    o->d_p.est = o->p_b - o->p_a;
    o->d_mean.est = o->mean_b - o->mean_a;
    o->d_ms.est = o->ms_b - o->ms_a;
    o->w2.est = ds_stats_w2(a, n_a, b, n_b);

    size_t R = (size_t)resamples, N = n_a + n_b;
    double *bp = DS_MALLOC(R * sizeof *bp), *bm = DS_MALLOC(R * sizeof *bm);
    double *bs = DS_MALLOC(R * sizeof *bs), *bw = DS_MALLOC(R * sizeof *bw);
    double *ra = DS_MALLOC(N * sizeof *ra), *rb = ra + n_a;
    size_t ns = 0;
    /* Bootstrap: resample r draws from key (key, BOOT, r): paired, n seed
     * indices used on both sides; unpaired, n_a indices of a then n_b of b. */
    for (size_t r = 0; r < R; r++) {
        ds_rng g;
        ds_rng_init(&g, key, DS_COMPARE_STREAM_BOOT, r);
        if (paired) {
            for (size_t i = 0; i < n_a; i++) {
                size_t j = (size_t)ds_rng_range(&g, 0, (int64_t)n_a - 1);
                ra[i] = a[j], rb[i] = b[j];
            }
        } else {
            for (size_t i = 0; i < n_a; i++) ra[i] = a[ds_rng_range(&g, 0, (int64_t)n_a - 1)];
            for (size_t i = 0; i < n_b; i++) rb[i] = b[ds_rng_range(&g, 0, (int64_t)n_b - 1)];
        }
        double pa, ma, sa, pb, mb, sb;
        point(ra, n_a, tau, lower, &pa, &ma, &sa);
        point(rb, n_b, tau, lower, &pb, &mb, &sb);
        bp[r] = pb - pa, bm[r] = mb - ma, bw[r] = ds_stats_w2(ra, n_a, rb, n_b);
        if (isfinite(sa) && isfinite(sb)) bs[ns++] = sb - sa;
    }
    interval(bp, R, &o->d_p);
    interval(bm, R, &o->d_mean);
    interval(bs, ns, &o->d_ms);
    interval(bw, R, &o->w2);

    /* Permutation test: permutation r draws from (key, PERM, r): paired, one
     * word per pair whose low bit swaps a[i] and b[i]; unpaired, a
     * Fisher-Yates shuffle of the pooled a ++ b, the first n_a going to A. */
    size_t hp = 0, hm = 0, hw = 0;
    double tp = fabs(o->d_p.est), tm = fabs(o->d_mean.est), tw = o->w2.est;
    for (size_t r = 0; r < (size_t)permutations; r++) {
        ds_rng g;
        ds_rng_init(&g, key, DS_COMPARE_STREAM_PERM, r);
        if (paired) {
            for (size_t i = 0; i < n_a; i++) {
                int swap = ds_rng_u32(&g) & 1;
                ra[i] = swap ? b[i] : a[i], rb[i] = swap ? a[i] : b[i];
            }
        } else {
            memcpy(ra, a, n_a * sizeof *a);
            memcpy(rb, b, n_b * sizeof *b);
            for (size_t i = N - 1; i > 0; i--) {
                size_t j = (size_t)ds_rng_range(&g, 0, (int64_t)i);
                double t = ra[i];
                ra[i] = ra[j], ra[j] = t;
            }
        }
        double pa, ma, sa, pb, mb, sb;
        point(ra, n_a, tau, lower, &pa, &ma, &sa);
        point(rb, n_b, tau, lower, &pb, &mb, &sb);
        hp += reaches(fabs(pb - pa), tp);
        hm += reaches(fabs(mb - ma), tm);
        hw += reaches(ds_stats_w2(ra, n_a, rb, n_b), tw);
    }
    o->pv_p = (1.0 + (double)hp) / (1.0 + permutations);
    o->pv_mean = (1.0 + (double)hm) / (1.0 + permutations);
    o->pv_w2 = (1.0 + (double)hw) / (1.0 + permutations);
    free(bp), free(bm), free(bs), free(bw), free(ra);
}
