/* test_stats: hand-computed values for every statistic of src/stats. The
 * comparison with NumPy/SciPy on random inputs is test_stats_ref.py. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "../test.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_basic(void) {
    double x[] = {3, NAN, 1, INFINITY, 2, 4};
    double f[6];
    size_t n = ds_stats_finite(x, 6, f);
    CHECK(n == 4);
    CHECK_NEAR(ds_stats_mean(f, n), 2.5, 1e-15);
    CHECK_NEAR(ds_stats_median(f, n), 2.5, 1e-15);
    CHECK(f[0] == 3 && f[3] == 4); /* median does not sort its input */
    CHECK_NEAR(ds_stats_median(f, 3), 2, 1e-15);
    CHECK_NEAR(ds_stats_std(f, n), sqrt(5.0 / 3.0), 1e-15);
    CHECK(ds_stats_std(f, 1) == 0);
    CHECK(isnan(ds_stats_mean(f, 0)) && isnan(ds_stats_median(f, 0)) && isnan(ds_stats_std(f, 0)));
    double s[] = {0, 1, 2, 3};
    CHECK_NEAR(ds_stats_quantile_sorted(s, 4, 0.5), 1.5, 1e-15);
    CHECK_NEAR(ds_stats_quantile_sorted(s, 4, 0.025), 0.075, 1e-15);
    CHECK(ds_stats_quantile_sorted(s, 4, 1.0) == 3);
}

static void test_histogram(void) {
    double x[] = {0, 0.1, 0.25, 0.5, 0.99, 1.0, -0.1, 1.1, NAN};
    int64_t h[4];
    ds_stats_histogram(x, N(x), 0, 1, 4, h);
    /* bins [0,.25) [.25,.5) [.5,.75) [.75,1]: the upper edge is in the last bin */
    CHECK(h[0] == 2 && h[1] == 1 && h[2] == 1 && h[3] == 2);
}

static void test_mode(void) {
    /* two clusters, the larger one at 0.8: the KDE peak is near 0.8 */
    double x[] = {0.1, 0.12, 0.8, 0.79, 0.81, 0.8, 0.82};
    double m = ds_stats_kde_mode(x, N(x), 0, 1);
    CHECK(fabs(m - 0.8) < 0.03);
    /* the mode is a grid point */
    CHECK_NEAR(m * (DS_KDE_GRID - 1), round(m * (DS_KDE_GRID - 1)), 1e-9);
    double c[] = {0.3, 0.3, 0.3};
    CHECK(ds_stats_kde_mode(c, 3, 0, 1) == 0.3);
    CHECK(ds_stats_kde_mode(c, 1, 0, 1) == 0.3);
    CHECK(isnan(ds_stats_kde_mode(c, 0, 0, 1)));
    /* symmetric sample: the peak is the centre, up to the grid spacing */
    double sym[] = {0.2, 0.4, 0.5, 0.6, 0.8};
    CHECK(fabs(ds_stats_kde_mode(sym, 5, 0, 1) - 0.5) <= 0.5 / (DS_KDE_GRID - 1) + 1e-12);
    /* a Scott bandwidth by hand: std(ddof=1) * n^(-1/5) */
    CHECK_NEAR(ds_stats_scott_bandwidth(sym, 5), ds_stats_std(sym, 5) * pow(5, -0.2), 1e-15);
}

static void test_success(void) {
    double x[20];
    for (int i = 0; i < 20; i++) x[i] = i < 5 ? 0.0 : (i < 15 ? 0.6 : 1.0);
    ds_ci p, ms, p2, ms2;
    ds_stats_success(x, 20, 0.5, &p, &ms);
    CHECK_NEAR(p.est, 0.75, 1e-15);
    CHECK_NEAR(ms.est, (10 * 0.6 + 5 * 1.0) / 15, 1e-15);
    CHECK(p.lo < p.est && p.est < p.hi && p.lo > 0.4 && p.hi <= 1.0);
    CHECK(ms.lo < ms.est && ms.est < ms.hi && ms.lo >= 0.6 && ms.hi <= 1.0);
    /* the interval width is about 2 * 1.96 * sqrt(p(1-p)/n) = 0.38 */
    CHECK(fabs((p.hi - p.lo) - 0.38) < 0.08);
    ds_stats_success(x, 20, 0.5, &p2, &ms2);
    CHECK(!memcmp(&p, &p2, sizeof p) && !memcmp(&ms, &ms2, sizeof ms)); /* reproducible */
    /* the threshold is inclusive: x >= tau */
    ds_stats_success(x, 20, 0.6, &p, &ms);
    CHECK_NEAR(p.est, 0.75, 1e-15);
    /* nothing succeeds: p = 0 with a degenerate interval, no mean */
    ds_stats_success(x, 5, 0.5, &p, &ms);
    CHECK(p.est == 0 && p.lo == 0 && p.hi == 0 && isnan(ms.est) && isnan(ms.lo));
    ds_stats_success(x, 0, 0.5, &p, &ms);
    CHECK(isnan(p.est) && isnan(ms.est));
}

static void test_breakthrough(void) {
    double ramp[] = {0, .25, .5, .75, 1}, jump[] = {0, 0, 1, 1, 1}, flat[] = {.5, .5, .5};
    double B, L;
    ds_stats_breakthrough(ramp, 5, &B, &L);
    CHECK_NEAR(B, 4, 1e-12);
    CHECK_NEAR(L, 4, 1e-12);
    ds_stats_breakthrough(jump, 5, &B, &L);
    CHECK(isinf(B) && B > 0);
    CHECK_NEAR(L, 2, 1e-12);
    ds_stats_breakthrough(flat, 3, &B, &L);
    CHECK(B == 0 && L == 0);
    /* falling curve: argmax before argmin gives a negative sign */
    double fall[] = {1, .5, 0};
    ds_stats_breakthrough(fall, 3, &B, &L);
    CHECK_NEAR(B, -2, 1e-12);
    CHECK_NEAR(L, -2, 1e-12);
    /* ties: first index of max (1) and of min (0): I = +0.9 */
    double tie[] = {0.1, 1.0, 0.1, 1.0};
    ds_stats_breakthrough(tie, 4, &B, &L);
    CHECK_NEAR(B, 1, 1e-12);
    CHECK_NEAR(L, 1, 1e-12);
    double nan[] = {0, NAN, 1};
    ds_stats_breakthrough(nan, 3, &B, &L);
    CHECK(isnan(B) && isnan(L));
    ds_stats_breakthrough(ramp, 1, &B, &L);
    CHECK(B == 0 && L == 0);

    double v[] = {1, INFINITY, NAN, 3, 3, -INFINITY, 2};
    size_t idx[7];
    size_t k = ds_stats_top_k(v, 7, 4, idx);
    CHECK(k == 4 && idx[0] == 1 && idx[1] == 3 && idx[2] == 4 && idx[3] == 6);
    CHECK(ds_stats_top_k(v, 7, 99, idx) == 6 && idx[5] == 5);
}

static void test_w2(void) {
    double a[] = {0, 1}, b[] = {0, 0.5, 1};
    /* Qa = 0 on (0,1/2], 1 on (1/2,1]; Qb = 0, .5, 1 on thirds.
     * (Qa-Qb)^2: 0 on (0,1/3], .25 on (1/3,1/2], .25 on (1/2,2/3], 0 after:
     * integral = .25 * 1/3 = 1/12. */
    CHECK_NEAR(ds_stats_w2(a, 2, b, 3), sqrt(1.0 / 12), 1e-15);
    CHECK_NEAR(ds_stats_w2(b, 3, a, 2), sqrt(1.0 / 12), 1e-15);
    double c[] = {3, 1, 2}, d[] = {2, 3, 4};
    CHECK_NEAR(ds_stats_w2(c, 3, d, 3), 1, 1e-15);
    CHECK(c[0] == 3); /* inputs untouched */
    double p[] = {0.5};
    CHECK_NEAR(ds_stats_w2(p, 1, a, 2), 0.5, 1e-15);
    CHECK(isnan(ds_stats_w2(a, 0, b, 3)));
}

static void test_moments(void) {
    double x[] = {0, 0, 0, 1, 1, 1};
    double G1, G2, BC;
    ds_stats_moments(x, 6, &G1, &G2, &BC);
    /* symmetric two-point sample: G1 = 0; g2 = -2, G2 = ((7)(-2)+6)*5/(4*3) = -10/3;
     * BC = 1 / (-10/3 + 3*25/12) = 12/35: the small-sample correction keeps
     * six points below the 5/9 line; forty of them are well above it. */
    CHECK_NEAR(G1, 0, 1e-12);
    CHECK_NEAR(G2, -10.0 / 3, 1e-12);
    CHECK_NEAR(BC, 1 / (-10.0 / 3 + 75.0 / 12), 1e-12);
    CHECK(BC < 5.0 / 9);
    double y[40];
    for (int i = 0; i < 40; i++) y[i] = i % 2;
    ds_stats_moments(y, 40, &G1, &G2, &BC);
    CHECK(BC > 0.85 && BC < 0.9); /* 1 / (-76*39/1406 + 3*39*39/1406) = 0.879 */
    double c[] = {2, 2, 2, 2, 2};
    ds_stats_moments(c, 5, &G1, &G2, &BC);
    CHECK(isnan(G1) && isnan(BC));
    ds_stats_moments(x, 3, &G1, &G2, &BC);
    CHECK(isnan(BC));
}

static void test_dip(void) {
    double two[20], even[40];
    for (int i = 0; i < 20; i++) two[i] = i < 10 ? 0 : 1;
    for (int i = 0; i < 40; i++) even[i] = i / 39.0;
    CHECK_NEAR(ds_stats_dip(two, 20), 0.25, 1e-12);
    CHECK_NEAR(ds_stats_dip(even, 40), 1.0 / 80, 1e-12);
    double one[] = {0.3, 0.3, 0.3, 0.3};
    CHECK_NEAR(ds_stats_dip(one, 4), 1.0 / 8, 1e-15);
    CHECK(isnan(ds_stats_dip(one, 0)));
    /* the null of size 40, and p-values at both extremes */
    double null[DS_DIP_SIMS];
    ds_stats_dip_null(40, DS_DIP_SIMS, null);
    for (int i = 1; i < DS_DIP_SIMS; i++) CHECK(null[i - 1] <= null[i]);
    CHECK(null[0] >= 1.0 / 80 - 1e-15 && null[DS_DIP_SIMS - 1] < 0.25);
    double p_bi = ds_stats_dip_pvalue(ds_stats_dip(two, 20), null, DS_DIP_SIMS);
    double p_un = ds_stats_dip_pvalue(ds_stats_dip(even, 40), null, DS_DIP_SIMS);
    CHECK_NEAR(p_bi, 1.0 / (DS_DIP_SIMS + 1), 1e-15);
    CHECK(p_un == 1.0);
    double mid = null[DS_DIP_SIMS / 2];
    CHECK(fabs(ds_stats_dip_pvalue(mid, null, DS_DIP_SIMS) - 0.5) < 0.02);
}

int main(void) {
    test_basic();
    test_histogram();
    test_mode();
    test_success();
    test_breakthrough();
    test_w2();
    test_moments();
    test_dip();
    TEST_MAIN_END();
}
