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

/* Compares a device result of n floats with the CPU's host result. */
#define CHECK_CLOSE(name, be, dptr, cpu, n, tol)                                           \
    do {                                                                                   \
        float *g_ = host_from((be), (dptr), (n));                                          \
        double e_ = scaled_err(g_, (cpu), (n));                                            \
        printf("  %-28s scaled error %.3g (tolerance %.1g)\n", (name), e_, (double)(tol)); \
        CHECK_MSG(e_ <= (tol), "%s: scaled error %g > %g", (name), e_, (double)(tol));     \
        free(g_);                                                                          \
    } while (0)

#endif
