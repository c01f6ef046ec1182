/* stats: see stats.h. Formulas and references: docs/analysis.md. */
#include "stats.h"

#include <math.h>
#include <string.h>

#include "common.h"
#include "rng.h"

size_t ds_stats_finite(const double *x, size_t n, double *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) out[k++] = x[i];
    return k;
}

double ds_stats_mean(const double *x, size_t n) {
    if (n == 0) return NAN;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return s / (double)n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A sorted copy of x; the caller frees it. */
static double *sorted_copy(const double *x, size_t n) {
    double *s = DS_MALLOC((n ? n : 1) * sizeof *s);
    if (n) memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    return s;
}

double ds_stats_quantile_sorted(const double *s, size_t n, double q) {
    if (n == 0) return NAN;
    double h = q * (double)(n - 1);
    size_t lo = (size_t)floor(h);
    if (lo >= n - 1) return s[n - 1];
    double f = h - (double)lo;
    return s[lo] + f * (s[lo + 1] - s[lo]);
}

double ds_stats_median(const double *x, size_t n) {
    if (n == 0) return NAN;
    double *s = sorted_copy(x, n);
    double m = (n % 2) ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return m;
}

double ds_stats_std(const double *x, size_t n) {
    if (n == 0) return NAN;
    if (n == 1) return 0;
    double m = ds_stats_mean(x, n), ss = 0;
    for (size_t i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    return sqrt(ss / (double)(n - 1));
}

void ds_stats_histogram(const double *x, size_t n, double lo, double hi, int nbins,
                        int64_t *counts) {
    DS_ASSERT(nbins >= 1 && lo < hi);
    memset(counts, 0, (size_t)nbins * sizeof *counts);
    /* numpy's edges are linspace(lo, hi, nbins + 1) = lo + b * step with the
     * last one exactly hi; a value's bin is first estimated from the scaled
     * offset, then moved by one where rounding put it across an edge. */
    double step = (hi - lo) / nbins, norm = nbins / (hi - lo);
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        if (!isfinite(v) || v < lo || v > hi) continue;
        int b = (int)((v - lo) * norm);
        if (b >= nbins) b = nbins - 1; /* v == hi goes into the closed last bin */
        double e_lo = b * step + lo, e_hi = b + 1 == nbins ? hi : (b + 1) * step + lo;
        if (v < e_lo) b--;
        else if (v >= e_hi && b != nbins - 1) b++;
        counts[b]++;
    }
}

double ds_stats_scott_bandwidth(const double *x, size_t n) {
    if (n == 0) return NAN;
    return ds_stats_std(x, n) * pow((double)n, -0.2);
}

double ds_stats_kde_mode(const double *x, size_t n, double lo, double hi) {
    if (n == 0) return NAN;
    double h = ds_stats_scott_bandwidth(x, n);
    if (!(h > 0)) return x[0]; /* one value, or all equal */
    double best = -1, mode = lo;
    for (int g = 0; g < DS_KDE_GRID; g++) {
        double t = lo + (hi - lo) * g / (DS_KDE_GRID - 1), dens = 0;
        for (size_t i = 0; i < n; i++) {
            double z = (t - x[i]) / h;
            dens += exp(-0.5 * z * z);
        }
        if (dens > best) best = dens, mode = t;
    }
    return mode;
}

/* --- bootstrap ------------------------------------------------------------- */

void ds_stats_success(const double *x, size_t n, double tau, ds_ci *p, ds_ci *ms) {
    ds_stats_success_keyed(x, n, tau, DS_BOOT_SEED, p, ms);
}

void ds_stats_success_keyed(const double *x, size_t n, double tau, uint64_t key, ds_ci *p,
                            ds_ci *ms) {
    p->est = p->lo = p->hi = NAN;
    ms->est = ms->lo = ms->hi = NAN;
    if (n == 0) return;
    size_t ns = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] >= tau) ns++, sum += x[i];
    p->est = (double)ns / (double)n;
    if (ns) ms->est = sum / (double)ns;

    double *bp = DS_MALLOC(DS_BOOT_RESAMPLES * sizeof *bp);
    double *bm = DS_MALLOC(DS_BOOT_RESAMPLES * sizeof *bm);
    size_t nm = 0;
    for (size_t r = 0; r < DS_BOOT_RESAMPLES; r++) {
        ds_rng g;
        ds_rng_init(&g, key, DS_STATS_STREAM_BOOT, r);
        size_t k = 0;
        double s = 0;
        for (size_t i = 0; i < n; i++) {
            double v = x[ds_rng_range(&g, 0, (int64_t)n - 1)];
            if (v >= tau) k++, s += v;
        }
        bp[r] = (double)k / (double)n;
        if (k) bm[nm++] = s / (double)k;
    }
    qsort(bp, DS_BOOT_RESAMPLES, sizeof *bp, cmp_double);
    p->lo = ds_stats_quantile_sorted(bp, DS_BOOT_RESAMPLES, 0.025);
    p->hi = ds_stats_quantile_sorted(bp, DS_BOOT_RESAMPLES, 0.975);
    if (nm) {
        qsort(bm, nm, sizeof *bm, cmp_double);
        ms->lo = ds_stats_quantile_sorted(bm, nm, 0.025);
        ms->hi = ds_stats_quantile_sorted(bm, nm, 0.975);
    }
    free(bp);
    free(bm);
}

void ds_stats_mean_ci(const double *x, size_t n, uint64_t key, ds_ci *mean) {
    mean->est = mean->lo = mean->hi = NAN;
    if (n == 0) return;
    mean->est = ds_stats_mean(x, n);
    double *bm = DS_MALLOC(DS_BOOT_RESAMPLES * sizeof *bm);
    for (size_t r = 0; r < DS_BOOT_RESAMPLES; r++) {
        ds_rng g;
        ds_rng_init(&g, key, DS_STATS_STREAM_BOOT, r);
        double s = 0;
        for (size_t i = 0; i < n; i++) s += x[ds_rng_range(&g, 0, (int64_t)n - 1)];
        bm[r] = s / (double)n;
    }
    qsort(bm, DS_BOOT_RESAMPLES, sizeof *bm, cmp_double);
    mean->lo = ds_stats_quantile_sorted(bm, DS_BOOT_RESAMPLES, 0.025);
    mean->hi = ds_stats_quantile_sorted(bm, DS_BOOT_RESAMPLES, 0.975);
    free(bm);
}

/* --- curves across scales --------------------------------------------------- */

/* a / b with the conventions of §7: 0/0 = 0, nonzero/0 = +-inf. */
static double ratio0(double a, double b) {
    if (b == 0) return a == 0 ? 0.0 : (a > 0 ? INFINITY : -INFINITY);
    return a / b;
}

int ds_stats_b_equals_lin(size_t k) { return k <= 3; }

void ds_stats_breakthrough(const double *y, size_t k, double *B, double *Lin) {
    *B = *Lin = 0;
    for (size_t i = 0; i < k; i++)
        if (isnan(y[i])) {
            *B = *Lin = NAN;
            return;
        }
    if (k < 2) return;
    size_t imax = 0, imin = 0;
    for (size_t i = 1; i < k; i++) {
        if (y[i] > y[imax]) imax = i;
        if (y[i] < y[imin]) imin = i;
    }
    double range = y[imax] - y[imin];
    double I = imax > imin ? range : (imax < imin ? -range : 0.0);
    double *d2 = DS_MALLOC((k - 1) * sizeof *d2);
    for (size_t i = 0; i + 1 < k; i++) d2[i] = (y[i + 1] - y[i]) * (y[i + 1] - y[i]);
    double med = ds_stats_median(d2, k - 1), mean = ds_stats_mean(d2, k - 1);
    free(d2);
    *B = ratio0(I, sqrt(med));
    *Lin = ratio0(I, sqrt(mean));
}

typedef struct {
    double v;
    size_t i;
} ds_vi;

static int cmp_vi_desc(const void *a, const void *b) {
    const ds_vi *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? 1 : -1;
    return (x->i > y->i) - (x->i < y->i);
}

size_t ds_stats_top_k(const double *v, size_t n, size_t k, size_t *idx) {
    ds_vi *a = DS_MALLOC((n ? n : 1) * sizeof *a);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i])) a[m].v = v[i], a[m].i = i, m++;
    qsort(a, m, sizeof *a, cmp_vi_desc);
    if (k > m) k = m;
    for (size_t i = 0; i < k; i++) idx[i] = a[i].i;
    free(a);
    return k;
}

/* --- Wasserstein-2 ------------------------------------------------------------ */

double ds_stats_w2(const double *a, size_t n, const double *b, size_t m) {
    if (n == 0 || m == 0) return NAN;
    double *sa = sorted_copy(a, n), *sb = sorted_copy(b, m);
    /* Walk the merged breakpoints t = i/n and t = j/m in units of 1/(n m):
     * i/n = i*m/(n m). On ((i)/n, (i+1)/n] Qa = sa[i]; likewise Qb. */
    unsigned long long N = n, M = m, t = 0, end = N * M;
    size_t i = 0, j = 0;
    double acc = 0;
    while (t < end) {
        unsigned long long ta = (i + 1) * M, tb = (j + 1) * N;
        unsigned long long next = ta < tb ? ta : tb;
        double d = sa[i] - sb[j];
        acc += d * d * (double)(next - t);
        t = next;
        if (ta == next) i++;
        if (tb == next) j++;
    }
    free(sa);
    free(sb);
    return sqrt(acc / (double)end);
}

/* --- moments and bimodality coefficient -------------------------------------- */

void ds_stats_moments(const double *x, size_t n, double *G1, double *G2, double *BC) {
    *G1 = *G2 = *BC = NAN;
    if (n < 4) return;
    double mean = ds_stats_mean(x, n), m2 = 0, m3 = 0, m4 = 0;
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - mean;
        m2 += d * d, m3 += d * d * d, m4 += d * d * d * d;
    }
    m2 /= n, m3 /= n, m4 /= n;
    /* A constant sample (up to rounding of the mean) has no shape. */
    if (!(m2 > 1e-28 * (mean * mean + 1e-300))) return;
    double dn = (double)n;
    double g1 = m3 / pow(m2, 1.5), g2 = m4 / (m2 * m2) - 3.0;
    *G1 = g1 * sqrt(dn * (dn - 1)) / (dn - 2);
    *G2 = ((dn + 1) * g2 + 6) * (dn - 1) / ((dn - 2) * (dn - 3));
    *BC = (*G1 * *G1 + 1) / (*G2 + 3 * (dn - 1) * (dn - 1) / ((dn - 2) * (dn - 3)));
}

/* --- Hartigan's dip ----------------------------------------------------------- */

/* The dip in units of 1/n (as AS 217 computes it before halving), for x[1..n]
 * ascending (1-based: x points one before the first element). The four index
 * arrays hold n + 1 entries each.
 *
 * Outline (Hartigan 1985): mn[j] / mj[k] link each point to the previous /
 * next vertex of the greatest convex minorant (GCM) / least concave majorant
 * (LCM) of the empirical CDF. Starting with the modal interval [low, high] =
 * [x1, xn], collect the GCM vertices left of high and the LCM vertices right
 * of low, find the largest vertical distance d between the two; if d is not
 * larger than the dip found so far, stop. Otherwise the dip is at least the
 * largest deviation of the ECDF from the GCM on [low, new low] and from the
 * LCM on [new high, high]; narrow the modal interval and repeat. */
static double dip_units(const double *x, size_t n, size_t *mn, size_t *mj, size_t *gcm,
                        size_t *lcm) {
    if (n < 2 || x[n] == x[1]) return 1.0;
    mn[1] = 1;
    for (size_t j = 2; j <= n; j++) {
        mn[j] = j - 1;
        for (;;) {
            size_t a = mn[j], b = mn[a];
            if (a == 1 || (x[j] - x[a]) * (double)(a - b) < (x[a] - x[b]) * (double)(j - a))
                break;
            mn[j] = b;
        }
    }
    mj[n] = n;
    for (size_t k = n - 1; k >= 1; k--) {
        mj[k] = k + 1;
        for (;;) {
            size_t a = mj[k], b = mj[a];
            /* (x[k]-x[a])*(a-b) < (x[a]-x[b])*(k-a), with a - b and k - a
             * negative: written with signed differences. */
            if (a == n ||
                (x[k] - x[a]) * ((double)a - (double)b) < (x[a] - x[b]) * ((double)k - (double)a))
                break;
            mj[k] = b;
        }
    }

    double dip = 1.0; /* the minimum possible, 1/(2n) after halving */
    size_t low = 1, high = n;
    for (;;) {
        size_t icx = 1, icv = 1;
        gcm[1] = high;
        while (gcm[icx] > low) gcm[icx + 1] = mn[gcm[icx]], icx++;
        lcm[1] = low;
        while (lcm[icv] < high) lcm[icv + 1] = mj[lcm[icv]], icv++;

        /* Largest distance between the GCM and the LCM on [low, high]; ig/ih
         * remember where it was attained. */
        size_t ig = icx, ih = icv, ix = icx - 1, iv = 2;
        double d = 0;
        if (icx != 2 || icv != 2) {
            do {
                size_t g = gcm[ix], l = lcm[iv];
                double dx;
                if (g > l) { /* next vertex is on the LCM: distance of the GCM there */
                    size_t g1 = gcm[ix + 1];
                    dx = ((double)l - (double)g1 + 1) -
                         (x[l] - x[g1]) * ((double)g - (double)g1) / (x[g] - x[g1]);
                    iv++;
                    if (dx >= d) d = dx, ig = ix + 1, ih = iv - 1;
                } else { /* next vertex is on the GCM: distance of the LCM there */
                    size_t l1 = lcm[iv - 1];
                    dx = (x[g] - x[l1]) * ((double)l - (double)l1) / (x[l] - x[l1]) -
                         ((double)g - (double)l1 - 1);
                    ix--;
                    if (dx >= d) d = dx, ig = ix + 1, ih = iv;
                }
                if (ix < 1) ix = 1;
                if (iv > icv) iv = icv;
            } while (gcm[ix] != lcm[iv]);
        } else {
            d = 1.0;
        }
        if (d < dip) break;

        /* Dip of the GCM on [low, gcm[ig]] and of the LCM on [lcm[ih], high]. */
        double dl = 0, du = 0;
        for (size_t j = ig; j < icx; j++) {
            double tmax = 1.0;
            size_t jb = gcm[j + 1], je = gcm[j];
            if (je - jb > 1 && x[je] != x[jb]) {
                double c = (double)(je - jb) / (x[je] - x[jb]);
                for (size_t r = jb; r <= je; r++) {
                    double t = (double)(r - jb + 1) - (x[r] - x[jb]) * c;
                    if (t > tmax) tmax = t;
                }
            }
            if (tmax > dl) dl = tmax;
        }
        for (size_t k = ih; k < icv; k++) {
            double tmax = 1.0;
            size_t kb = lcm[k], ke = lcm[k + 1];
            if (ke - kb > 1 && x[ke] != x[kb]) {
                double c = (double)(ke - kb) / (x[ke] - x[kb]);
                for (size_t r = kb; r <= ke; r++) {
                    double t = (x[r] - x[kb]) * c - ((double)r - (double)kb - 1);
                    if (t > tmax) tmax = t;
                }
            }
            if (tmax > du) du = tmax;
        }
        double dnew = dl > du ? dl : du;
        if (dnew > dip) dip = dnew;
        /* Without this test the cycle can repeat forever (Maechler 1994). */
        if (low == gcm[ig] && high == lcm[ih]) break;
        low = gcm[ig];
        high = lcm[ih];
    }
    return dip;
}

double ds_stats_dip_sorted(const double *s, size_t n) {
    if (n == 0) return NAN;
    size_t *w = DS_MALLOC(4 * (n + 1) * sizeof *w);
    double d = dip_units(s - 1, n, w, w + (n + 1), w + 2 * (n + 1), w + 3 * (n + 1));
    free(w);
    return d / (2.0 * (double)n);
}

double ds_stats_dip(const double *x, size_t n) {
    if (n == 0) return NAN;
    double *s = sorted_copy(x, n);
    double d = ds_stats_dip_sorted(s, n);
    free(s);
    return d;
}

void ds_stats_dip_null(size_t n, size_t sims, double *out) {
    DS_ASSERT(n >= 1);
    double *u = DS_MALLOC((n + 1) * sizeof *u);
    size_t *w = DS_MALLOC(4 * (n + 1) * sizeof *w);
    for (size_t r = 0; r < sims; r++) {
        /* Sorted uniforms without sorting: normalised partial sums of n + 1
         * standard exponentials are the order statistics of n uniforms. */
        ds_rng g;
        ds_rng_init(&g, DS_BOOT_SEED, DS_STATS_STREAM_DIP, r);
        double s = 0;
        for (size_t i = 0; i <= n; i++) {
            s += -log((double)ds_rng_uniform(&g));
            u[i] = s;
        }
        for (size_t i = 0; i < n; i++) u[i] /= s;
        out[r] = dip_units(u - 1, n, w, w + (n + 1), w + 2 * (n + 1), w + 3 * (n + 1)) /
                 (2.0 * (double)n);
    }
    qsort(out, sims, sizeof *out, cmp_double);
    free(u);
    free(w);
}

double ds_stats_dip_pvalue(double dip, const double *null_sorted, size_t sims) {
    if (isnan(dip) || sims == 0) return NAN;
    /* first index with null >= dip (a tiny relative slack absorbs rounding:
     * equal samples must give equal dips) */
    double thr = dip * (1 - 1e-12);
    size_t lo = 0, hi = sims;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (null_sorted[mid] >= thr) hi = mid;
        else lo = mid + 1;
    }
    return (double)(1 + sims - lo) / (double)(1 + sims);
}
