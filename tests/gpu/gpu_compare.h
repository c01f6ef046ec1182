/* gpu_compare: helpers shared by the CUDA backend tests: random host data,
 * device copies, and the error measure the tolerances are stated in.
 *
 * Error measure: max_i |gpu_i - cpu_i| / max_i |cpu_i| ("relative to the
 * tensor's scale"). Per-element relative error is meaningless for outputs
 * that are sums of cancelling terms (gradients near zero), while the scale
 * of the tensor bounds the size of the terms such sums are made of. */
#ifndef DS_GPU_COMPARE_H
#define DS_GPU_COMPARE_H

#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../backend_util.h"
#include "../test.h"
#include "backend.h"
#include "ds_cuda.h"
#include "rng.h"

static inline void gpu_skip_if_none(void) {
    if (ds_cuda_device_count() == 0) {
        printf("SKIPPED: no GPU visible\n");
        exit(77);
    }
}

/* uniform in [lo, hi) from a test-local Philox stream */
static inline void fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi) {
    ds_rng r;
    ds_rng_init(&r, seed, 99, 0);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)(ds_rng_u32(&r) * 2.3283064365386963e-10);
}

static inline void fill_tokens(int32_t *t, size_t n, uint64_t seed, int V) {
    ds_rng r;
    ds_rng_init(&r, seed, 98, 0);
    for (size_t i = 0; i < n; i++) t[i] = (int32_t)(ds_rng_u32(&r) % (uint32_t)V);
}

/* a device copy of host data */
static inline void *dev_from(ds_backend *g, const void *h, size_t bytes) {
    void *d = g->alloc(g, bytes);
    if (!d) {
        fprintf(stderr, "device allocation of %zu bytes failed\n", bytes);
        exit(1);
    }
    g->upload(g, d, h, bytes);
    return d;
}

static inline float *host_from(ds_backend *g, const void *d, size_t nfloats) {
    float *h = DS_MALLOC(sizeof(float) * (nfloats ? nfloats : 1));
    g->download(g, h, d, sizeof(float) * nfloats);
    return h;
}

/* max |a-b| / max |b| (b the CPU reference); NaN in either gives +inf */
static inline double scaled_err(const float *a, const float *b, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) != isnan(b[i])) return INFINITY;
        if (isnan(a[i])) continue;
        double d = fabs((double)a[i] - b[i]);
        md = d > md ? d : md;
        mb = fabs(b[i]) > mb ? fabs(b[i]) : mb;
    }
    return mb > 0 ? md / mb : md;
}

/* The median over the n / row chunks of `row` floats of each chunk's
 * max |a-b|, over max |b| (the scale of scaled_err). At tf32 and bf16 a few
 * rows may differ more than fp32 roundoff allows: where the CPU's and the
 * GPU's fp32 value of an element (a probability) differ by an ulp on either
 * side of a rounding boundary, the two round it one narrow ulp apart. Such
 * flips touch few rows, while a rounding done at the wrong place, or not at
 * all, touches nearly every row: the median tells them apart. */
static inline int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}
static inline double scaled_err_row_median(const float *a, const float *b, size_t n, size_t row) {
    double mb = 0;
    for (size_t i = 0; i < n; i++) mb = fabs(b[i]) > mb ? fabs(b[i]) : mb;
    size_t nr = n / row;
    double *e = (double *)malloc(sizeof(double) * (nr ? nr : 1));
    for (size_t r = 0; r < nr; r++) {
        double md = 0;
        for (size_t i = r * row; i < (r + 1) * row; i++) {
            double d = isnan(a[i]) != isnan(b[i]) ? INFINITY : isnan(a[i]) ? 0 : fabs((double)a[i] - b[i]);
            md = d > md ? d : md;
        }
        e[r] = mb > 0 ? md / mb : md;
    }
    qsort(e, nr, sizeof *e, cmp_double);
    double med = nr ? e[nr / 2] : 0;
    free(e);
    return med;
}

/* Compares a device result of n floats with the CPU's host result. */
#define CHECK_CLOSE(name, be, dptr, cpu, n, tol)                                           \
    do {                                                                                   \
        float *g_ = host_from((be), (dptr), (n));                                          \
        double e_ = scaled_err(g_, (cpu), (n));                                            \
        printf("  %-28s scaled error %.3g (tolerance %.1g)\n", (name), e_, (double)(tol)); \
        CHECK_MSG(e_ <= (tol), "%s: scaled error %g > %g", (name), e_, (double)(tol));     \
        free(g_);                                                                          \
    } while (0)

/* At tf32/bf16: most rows (chunks of `row` floats) within tol_rows and every
 * element within tol_max (the bound of a rounding flip, above). */
#define CHECK_CLOSE_ROWS(name, be, dptr, cpu, n, row, tol_rows, tol_max)                       \
    do {                                                                                       \
        float *g_ = host_from((be), (dptr), (n));                                              \
        double e_ = scaled_err(g_, (cpu), (n)), m_ = scaled_err_row_median(g_, (cpu), (n), (row)); \
        printf("  %-28s scaled error %.3g (tolerance %.1g), row median %.3g (tolerance %.1g)\n", \
               (name), e_, (double)(tol_max), m_, (double)(tol_rows));                         \
        CHECK_MSG(e_ <= (tol_max), "%s: scaled error %g > %g", (name), e_, (double)(tol_max)); \
        CHECK_MSG(m_ <= (tol_rows), "%s: row median %g > %g", (name), m_, (double)(tol_rows)); \
        free(g_);                                                                              \
    } while (0)

#endif
