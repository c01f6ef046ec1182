/* backend_cpu: the reference implementation of backend.h on the CPU.
 *
 * fp32 tensors in host memory, OpenBLAS sgemm for the linear layers, a small
 * FMA kernel for the attention products (mk_gemm), OpenMP for the
 * parallelism. OpenBLAS is pinned to one thread and every product runs on a
 * fixed tile (a block of rows, a block of a weight gradient, one attention
 * head) that does not depend on the thread count or on R; OpenMP hands the
 * tiles of all replicas to the threads (GEMM tiles and attention tasks
 * dynamically, so that a core slowed by a neighbour does not hold the other
 * up: which thread computes a tile never changes its bits). So each output
 * element is computed by the same code on the same operands whatever R and
 * the thread count are: a replica's bits never depend on its pack.
 * Reductions run in a fixed order with double accumulators.
 *
 * Forward and backward of each op sit side by side (llm.c style). */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "backend.h"

/* Lets GCC if-convert the selects in the loops below (clamps, signs) so that
 * they vectorize; no value changes (no reassociation, no contraction). */
#pragma GCC optimize("no-trapping-math")

/* The per-row and per-element loops, compiled for x86-64-v4 (AVX-512),
 * x86-64-v3 (AVX2 + FMA) and baseline x86-64 and picked at load time (the
 * build's baseline is SSE2). No FMA contraction (-ffp-contract=off, set by
 * CMakeLists.txt for every architecture) and no reassociation; the fused
 * multiply-adds that exp and erf ask for are fmaf calls, exact in every build
 * (hardware FMA in the two fast clones, libm's fmaf in the baseline one): the
 * same bits on each.
 * On aarch64 the baseline already has 128-bit NEON with a fused multiply-add
 * (fmaf is one instruction), so one build vectorizes these loops; SVE clones
 * ("arch=armv8-a+sve") are left out until an Arm machine measures that they
 * pay (docs/engine.md "aarch64"). Other architectures: the plain loops. */
#if defined(__x86_64__) && defined(__GNUC__)
#define DS_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DS_CLONES
#endif

enum { MK_PATH_AUTO, MK_PATH_AVX2, MK_PATH_PORTABLE }; /* attention kernel choice (mk_gemm) */

typedef struct {
    int nthreads;
    /* per-thread scratch, kept between calls: a fresh malloc of this size
     * would be an mmap whose pages fault in on every call */
    float **scratch;
    size_t *scratch_n;
    float *shared;      /* one buffer for a whole parallel region (weight-gradient partials) */
    size_t shared_n;
    /* DISTSWEEP_CPU_OPTIMES=1: wall time and calls of each op, printed to
     * stderr by destroy (a profiling aid; backend.h) */
    ds_op_times optimes;
    /* DISTSWEEP_CPU_PORTABLE=1 (or =avx2): the attention products on the
     * portable (or AVX2) path even where a faster one runs, for the test
     * that all paths give the same bits */
    int mk_path;
    /* train.precision: every product's inputs are rounded to it first
     * (src/precision.h); the rounded operands of the linear layers live in
     * these buffers, kept between calls like the scratch */
    ds_precision prec;
    float *rnd[3];
    size_t rnd_n[3];
} cpu_impl;

/* Start and end of an op's timed span (nothing unless optimes). */
static inline double op_begin(ds_backend *be) {
    return ((cpu_impl *)be->impl)->optimes.on ? ds_now() : 0.0;
}
static inline void op_end(ds_backend *be, int id, double t0) {
    ds_op_times_add(&((cpu_impl *)be->impl)->optimes, id, t0);
}

#define NT(be) (((cpu_impl *)(be)->impl)->nthreads)

/* Scratch of at least n floats for OpenMP thread `tid` (called inside the region). */
/* *buf grown to at least n floats (contents not kept), *cap its size: the
 * buffers the backend keeps between calls. */
static float *grown(float **buf, size_t *cap, size_t n) {
    if (*cap < n) {
        free(*buf);
        *buf = malloc(sizeof(float) * n);
        DS_ASSERT(*buf);
        *cap = n;
    }
    return *buf;
}

static float *scratch(ds_backend *be, int tid, size_t n) {
    cpu_impl *im = be->impl;
    DS_ASSERT(tid < im->nthreads);
    return grown(&im->scratch[tid], &im->scratch_n[tid], n);
}

enum {
    COL_TILE = 64,  /* channels of one column-reduction tile */
    SUM_CHUNK = 8192,
};

static int cdiv(long a, long b) { return (int)((a + b - 1) / b); }

/* Rows of one forward/dinp sgemm tile for N rows: an eighth of N in 64-row
 * steps, within [512, 4096]. Each tile re-packs W, so long tiles pay less
 * packing; eight tiles keep a lone replica's threads busy. A function of N
 * only, never of R or the thread count (the determinism contract above). */
static int row_tile(int N) {
    int t = cdiv(cdiv(N, 8), 64) * 64;
    return t < 512 ? 512 : t > 4096 ? 4096 : t;
}

/* Scratch of at least n floats shared by all threads (called outside regions). */
static float *shared_scratch(ds_backend *be, size_t n) {
    cpu_impl *im = be->impl;
    return grown(&im->shared, &im->shared_n, n);
}

/* ---- precision (docs/engine.md "Precision") --------------------------------- */

/* A copy of src[0..n) rounded to the backend's precision in buffer `slot`
 * (0..2), or src itself at fp32. Element-wise, so the bits do not depend on
 * the thread count or on R. */
static const float *rounded(ds_backend *be, int slot, const float *src, size_t n) {
    cpu_impl *im = be->impl;
    if (im->prec == DS_PREC_FP32) return src;
    float *dst = grown(&im->rnd[slot], &im->rnd_n[slot], n);
    long nch = (long)((n + SUM_CHUNK - 1) / SUM_CHUNK);
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (long c = 0; c < nch; c++) {
        size_t i0 = (size_t)c * SUM_CHUNK, i1 = i0 + SUM_CHUNK < n ? i0 + SUM_CHUNK : n;
        ds_round_array(im->prec, dst + i0, src + i0, i1 - i0);
    }
    return dst;
}

/* The weights of R replicas (stride ws, OC*C each) rounded into `slot`,
 * packed at stride OC*C (*ws_out), or w itself (stride ws) at fp32. */
static const float *rounded_weights(ds_backend *be, int slot, const float *w, size_t ws, int R,
                                    size_t OCC, size_t *ws_out) {
    cpu_impl *im = be->impl;
    *ws_out = ws;
    if (im->prec == DS_PREC_FP32) return w;
    float *dst = grown(&im->rnd[slot], &im->rnd_n[slot], (size_t)R * OCC);
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (int r = 0; r < R; r++) ds_round_array(im->prec, dst + (size_t)r * OCC, w + r * ws, OCC);
    *ws_out = OCC;
    return dst;
}

/* exp without a libm call, so loops over it vectorize (Cephes expf
 * polynomial, within 2 ulp of expf on [-87, 88]; clamped outside), with a
 * fused multiply-add per step. The same arithmetic in every lane and every
 * build: no ISA-dependent results. */
static inline float ds_expf(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = fmaf(n, -0.693359375f, x);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500E-4f;
    p = fmaf(p, r, 1.3981999507E-3f);
    p = fmaf(p, r, 8.3334519073E-3f);
    p = fmaf(p, r, 4.1665795894E-2f);
    p = fmaf(p, r, 1.6666665459E-1f);
    p = fmaf(p, r, 5.0000001201E-1f);
    p = fmaf(p * r, r, r + 1.0f);
    union {
        int32_t i;
        float f;
    } e;
    e.i = ((int32_t)n + 127) << 23;
    return p * e.f;
}

/* erf(x) by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7, float
 * roundoff size for GELU, whose output is 0.5 x (1 + erf)), given e =
 * exp(-x^2), which the GELU backward needs too. Vectorizable; fabsf and
 * copysignf rather than selects on x < 0, which GCC if-converts by
 * computing the polynomial (and its division) for both signs. */
static inline float ds_erff(float x, float e) {
    float ax = fabsf(x);
    float t = 1.0f / fmaf(0.3275911f, ax, 1.0f);
    float p = fmaf(1.061405429f, t, -1.453152027f);
    p = fmaf(p, t, 1.421413741f);
    p = fmaf(p, t, -0.284496736f);
    p = fmaf(p, t, 0.254829592f);
    float y = fmaf(-(p * t), e, 1.0f);
    return copysignf(y, x);
}

/* Sums in 8 fixed lanes then across them: one order on every ISA, and the
 * compiler can keep the lanes in a vector register. */
static inline float sum_fixed(const float *x, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += x[i + j];
    for (; i < n; i++) acc[i & 7] += x[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Largest of x[0..n-1] (-inf for n = 0; NaNs are passed over, as by a
 * scalar `x > m ? x : m` scan). max is exact, so the 16 lanes give the
 * scalar scan's value; they only break its 4-cycle dependency chain. */
static inline float max_lanes(const float *x, int n) {
    float acc[16];
    for (int j = 0; j < 16; j++) acc[j] = -INFINITY;
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
    for (; i < n; i++) acc[i & 15] = x[i] > acc[i & 15] ? x[i] : acc[i & 15];
    float m = -INFINITY;
    for (int j = 0; j < 16; j++) m = acc[j] > m ? acc[j] : m;
    return m;
}

static inline float dot_fixed(const float *x, const float *y, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += x[i + j] * y[i + j];
    for (; i < n; i++) acc[i & 7] += x[i] * y[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* ------------------------------------------------------------------------ */
/* memory */

static void *cpu_alloc(ds_backend *be, size_t bytes) {
    (void)be;
    return calloc(bytes ? bytes : 1, 1);
}
static void cpu_free(ds_backend *be, void *p) { free(p); }
static void cpu_upload(ds_backend *be, void *dst, const void *src, size_t n) { memcpy(dst, src, n); }
static void cpu_download(ds_backend *be, void *dst, const void *src, size_t n) { memcpy(dst, src, n); }
/* the CPU runs every op when it is called: nothing is ever deferred */
static void cpu_sync(ds_backend *be) { (void)be; }
static void cpu_host_free(ds_backend *be, void *p) { free(p); }
static void cpu_copy(ds_backend *be, void *dst, const void *src, size_t n) { memmove(dst, src, n); }
static void cpu_zero(ds_backend *be, void *p, size_t n) { memset(p, 0, n); }
static void cpu_destroy(ds_backend *be) {
    if (!be) return;
    cpu_impl *im = be->impl;
    char header[80];
    snprintf(header, sizeof header, "cpu op times (DISTSWEEP_CPU_OPTIMES, %d threads):", im->nthreads);
    ds_op_times_print(&im->optimes, header);
    for (int i = 0; i < im->nthreads; i++) free(im->scratch[i]);
    free(im->scratch);
    free(im->scratch_n);
    free(im->shared);
    for (int i = 0; i < 3; i++) free(im->rnd[i]);
    free(be->impl);
    free(be);
}

/* ------------------------------------------------------------------------ */
/* token embedding */

static void encoder_fwd(ds_backend *be, float *out, const int32_t *tok, const float *wte, size_t ws,
                        int R, int N, int C) {
    double t0 = op_begin(be);
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (long i = 0; i < (long)R * N; i++) {
        int r = (int)(i / N);
        memcpy(out + i * C, wte + r * ws + (size_t)tok[i] * C, sizeof(float) * C);
    }
    op_end(be, DS_OP_encoder_fwd, t0);
}

static void encoder_bwd(ds_backend *be, float *dwte, size_t ws, const float *dout,
                        const int32_t *tok, int R, int N, int C, int V) {
    double t0 = op_begin(be);
    (void)V; /* rows are addressed by token; the CUDA backend sizes its partial tables by V */
    /* Parallel over channel blocks: every dwte element sums its rows in order. */
    int nc = cdiv(C, COL_TILE);
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (int t = 0; t < R * nc; t++) {
        int r = t / nc, c0 = (t % nc) * COL_TILE, c1 = c0 + COL_TILE < C ? c0 + COL_TILE : C;
        float *dw = dwte + r * ws;
        const float *d = dout + (size_t)r * N * C;
        const int32_t *tk = tok + (size_t)r * N;
        for (int n = 0; n < N; n++) {
            float *row = dw + (size_t)tk[n] * C;
            const float *dr = d + (size_t)n * C;
            for (int c = c0; c < c1; c++) row[c] += dr[c];
        }
    }
    op_end(be, DS_OP_encoder_bwd, t0);
}

/* ------------------------------------------------------------------------ */
/* LayerNorm */

/* One row: y = (x - mean) * rstd * w + b. */
DS_CLONES static void layernorm_fwd_row(float *y, float *mean, float *rstd, const float *x,
                                        const float *w, const float *b, int C, float eps) {
    float m = sum_fixed(x, C) / C;
    float acc[8] = {0};
    int c = 0;
    for (; c + 8 <= C; c += 8)
        for (int j = 0; j < 8; j++) acc[j] += (x[c + j] - m) * (x[c + j] - m);
    for (; c < C; c++) acc[c & 7] += (x[c] - m) * (x[c] - m);
    float var = sum_fixed(acc, 8) / C;
    float rs = 1.0f / sqrtf(var + eps);
#pragma omp simd
    for (int c2 = 0; c2 < C; c2++) y[c2] = (x[c2] - m) * rs * w[c2] + b[c2];
    *mean = m;
    *rstd = rs;
}

static void layernorm_fwd(ds_backend *be, float *out, float *mean, float *rstd, const float *inp,
                          const float *w, const float *b, size_t ws, int R, int N, int C,
                          float eps) {
    double t0 = op_begin(be);
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (long i = 0; i < (long)R * N; i++) {
        int r = (int)(i / N);
        layernorm_fwd_row(out + i * C, mean + i, rstd + i, inp + i * C, w + r * ws, b + r * ws, C,
                          eps);
    }
    op_end(be, DS_OP_layernorm_fwd, t0);
}

/* Rows per float partial sum of a column reduction; partials are added in
 * double, so long columns keep their precision. */
enum { ROW_CHUNK = 256 };

/* One row's input gradient, added into dx. */
DS_CLONES static void layernorm_bwd_row(float *dx, const float *x, const float *g, const float *w,
                                        float m, float rs, int C) {
    float ag[8] = {0}, agx[8] = {0}; /* sums of dxhat and dxhat*xhat, fixed lanes */
    int c = 0;
    for (; c + 8 <= C; c += 8)
        for (int j = 0; j < 8; j++) {
            float xh = (x[c + j] - m) * rs, dxh = g[c + j] * w[c + j];
            ag[j] += dxh;
            agx[j] += dxh * xh;
        }
    for (; c < C; c++) {
        float xh = (x[c] - m) * rs, dxh = g[c] * w[c];
        ag[c & 7] += dxh;
        agx[c & 7] += dxh * xh;
    }
    float mg = sum_fixed(ag, 8) / C, mgx = sum_fixed(agx, 8) / C;
#pragma omp simd
    for (int c2 = 0; c2 < C; c2++) {
        float xh = (x[c2] - m) * rs, dxh = g[c2] * w[c2];
        dx[c2] += (dxh - mg - xh * mgx) * rs;
    }
}

/* Weight and bias gradients of rows n0..n1-1, all C channels, into aw[C] and
 * ab[C] (doubles, overwritten): float partials of ROW_CHUNK rows added in
 * double, rows in order. Rows are read whole (up to 1024 channels a pass). */
DS_CLONES static void layernorm_bwd_rows(double *aw, double *ab, const float *dout, const float *inp,
                                         const float *mean, const float *rstd, int n0, int n1,
                                         int C) {
    enum { W = 1024 };
    for (int c0 = 0; c0 < C; c0 += W) {
        int nc = C - c0 < W ? C - c0 : W;
        for (int c = 0; c < nc; c++) aw[c0 + c] = ab[c0 + c] = 0.0;
        for (int k0 = n0; k0 < n1; k0 += ROW_CHUNK) {
            float pw[W], pb[W];
            int k1 = k0 + ROW_CHUNK < n1 ? k0 + ROW_CHUNK : n1;
            for (int c = 0; c < nc; c++) pw[c] = pb[c] = 0.0f;
            for (int n = k0; n < k1; n++) {
                const float *x = inp + (size_t)n * C + c0, *g = dout + (size_t)n * C + c0;
                float m = mean[n], rs = rstd[n];
#pragma omp simd
                for (int c = 0; c < nc; c++) {
                    pw[c] += g[c] * ((x[c] - m) * rs);
                    pb[c] += g[c];
                }
            }
            for (int c = 0; c < nc; c++) {
                aw[c0 + c] += pw[c];
                ab[c0 + c] += pb[c];
            }
        }
    }
}

enum { LN_CHUNK = 8 * ROW_CHUNK }; /* rows of one weight-gradient task */

static void layernorm_bwd(ds_backend *be, float *dinp, float *dw, float *db, size_t ws,
                          const float *dout, const float *inp, const float *w, const float *mean,
                          const float *rstd, int R, int N, int C) {
    double t0 = op_begin(be);
    /* weight and bias gradients: fixed row chunks into double partials
     * [R][nk][2][C], then summed in chunk order */
    int nk = cdiv(N, LN_CHUNK);
    double *part = (double *)shared_scratch(be, 2 * (size_t)R * nk * 2 * C);
#pragma omp parallel num_threads(NT(be))
    {
        /* input gradient: per row */
#pragma omp for schedule(static) nowait
        for (long i = 0; i < (long)R * N; i++) {
            int r = (int)(i / N);
            layernorm_bwd_row(dinp + i * C, inp + i * C, dout + i * C, w + r * ws, mean[i], rstd[i], C);
        }
#pragma omp for schedule(static)
        for (int t = 0; t < R * nk; t++) {
            int r = t / nk, n0 = (t % nk) * LN_CHUNK, n1 = n0 + LN_CHUNK < N ? n0 + LN_CHUNK : N;
            size_t off = (size_t)r * N;
            double *pt = part + (size_t)t * 2 * C;
            layernorm_bwd_rows(pt, pt + C, dout + off * C, inp + off * C, mean + off, rstd + off, n0,
                               n1, C);
        }
#pragma omp for schedule(static)
        for (long rc = 0; rc < (long)R * C; rc++) {
            int r = (int)(rc / C), c = (int)(rc % C);
            double aw = 0.0, ab = 0.0;
            for (int k = 0; k < nk; k++) {
                const double *pt = part + ((size_t)r * nk + k) * 2 * C;
                aw += pt[c];
                ab += pt[C + c];
            }
            dw[r * ws + c] += (float)aw;
            db[r * ws + c] += (float)ab;
        }
    }
    op_end(be, DS_OP_layernorm_bwd, t0);
}

/* ------------------------------------------------------------------------ */
/* linear layers */

static void matmul_fwd(ds_backend *be, float *out, const float *inp, const float *w,
                       const float *b, size_t ws, int R, int N, int C, int OC) {
    double t0 = op_begin(be);
    int rt = row_tile(N), nt = cdiv(N, rt);
    size_t bs = ws; /* the bias keeps the parameters' stride */
    inp = rounded(be, 0, inp, (size_t)R * N * C);
    w = rounded_weights(be, 1, w, ws, R, (size_t)OC * C, &ws);
#pragma omp parallel for schedule(dynamic) num_threads(NT(be))
    for (int t = 0; t < R * nt; t++) {
        int r = t / nt, n0 = (t % nt) * rt, rows = N - n0 < rt ? N - n0 : rt;
        const float *x = inp + ((size_t)r * N + n0) * C;
        float *y = out + ((size_t)r * N + n0) * OC;
        /* With a bias the tile starts as bias rows and sgemm adds into it
         * (beta 1): one pass over the output instead of OpenBLAS zeroing it
         * (beta 0) and a second pass adding the bias. */
        if (b)
            for (int n = 0; n < rows; n++) memcpy(y + (size_t)n * OC, b + r * bs, sizeof(float) * OC);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, OC, C, 1.0f, x, C, w + r * ws,
                    C, b ? 1.0f : 0.0f, y, OC);
    }
    op_end(be, DS_OP_matmul_fwd, t0);
}

/* acc[o] += sum over N rows of g[n*ld + o], o < no <= COL_TILE: float
 * partials of ROW_CHUNK rows added in double, rows in order. */
DS_CLONES static void colsum_add(double *acc, const float *g, int N, int ld, int no) {
    for (int n0 = 0; n0 < N; n0 += ROW_CHUNK) {
        float part[COL_TILE] = {0};
        int n1 = n0 + ROW_CHUNK < N ? n0 + ROW_CHUNK : N;
        for (int n = n0; n < n1; n++)
#pragma omp simd
            for (int o = 0; o < no; o++) part[o] += g[(size_t)n * ld + o];
        for (int o = 0; o < no; o++) acc[o] += part[o];
    }
}

/* acc[0..OC-1] = column sums of N rows of g (row stride OC), the same sums
 * as colsum_add's but over whole rows (up to 1024 columns a pass): rows are
 * read contiguously instead of a 64-column slice of each row per pass. */
DS_CLONES static void colsums(double *acc, const float *g, int N, int OC) {
    enum { W = 1024 };
    for (int o0 = 0; o0 < OC; o0 += W) {
        int no = OC - o0 < W ? OC - o0 : W;
        for (int o = 0; o < no; o++) acc[o0 + o] = 0.0;
        for (int n0 = 0; n0 < N; n0 += ROW_CHUNK) {
            float part[W];
            int n1 = n0 + ROW_CHUNK < N ? n0 + ROW_CHUNK : N;
            for (int o = 0; o < no; o++) part[o] = 0.0f;
            for (int n = n0; n < n1; n++)
#pragma omp simd
                for (int o = 0; o < no; o++) part[o] += g[(size_t)n * OC + o0 + o];
            for (int o = 0; o < no; o++) acc[o0 + o] += part[o];
        }
    }
}

/* Weight gradient dW[r] += dout[r]^T inp[r] over N rows, and the bias
 * gradient db[r] += column sums of dout[r] if db is given. Long N (training
 * batches): nk fixed row chunks, each a full OC x C product into its own
 * partial buffer (every operand is packed once) and its column sums while
 * the chunk is still in cache, then the partials added in chunk order. Short
 * N: tiles along the longer side of W, and the bias by column tiles. Both
 * choices depend on the shapes only, never on R or the thread count. */
static void matmul_dw(ds_backend *be, float *dw, float *db, size_t ws, const float *dout,
                      const float *dsum, const float *inp, int R, int N, int C, int OC) {
    /* dout and inp are the product's (rounded) operands, dsum the fp32
     * gradient whose column sums are the bias gradient (no product) */
    int nk = N / 1024 < 8 ? N / 1024 : 8;
    if (nk >= 2) {
        int kc = cdiv(cdiv(N, nk), 64) * 64;
        nk = cdiv(N, kc);
        size_t WC = (size_t)OC * C, WCe = (WC + 1) / 2 * 2; /* doubles after it stay aligned */
        float *part = shared_scratch(be, (size_t)nk * WCe + 2 * (size_t)nk * OC);
        double *pdb = (double *)(part + (size_t)nk * WCe); /* [nk][OC] bias partials */
        for (int r = 0; r < R; r++) {
            const float *g = dout + (size_t)r * N * OC, *x = inp + (size_t)r * N * C;
            float *dwr = dw + r * ws;
#pragma omp parallel num_threads(NT(be))
            {
#pragma omp for schedule(dynamic)
                for (int k = 0; k < nk; k++) {
                    int n0 = k * kc, rows = N - n0 < kc ? N - n0 : kc;
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, rows, 1.0f,
                                g + (size_t)n0 * OC, OC, x + (size_t)n0 * C, C, 0.0f,
                                part + (size_t)k * WCe, C);
                    if (db) colsums(pdb + (size_t)k * OC, dsum + (size_t)r * N * OC + (size_t)n0 * OC, rows, OC);
                }
                long nb = (long)((WC + SUM_CHUNK - 1) / SUM_CHUNK);
#pragma omp for schedule(static)
                for (long bk = 0; bk < nb; bk++) {
                    size_t e0 = (size_t)bk * SUM_CHUNK, e1 = e0 + SUM_CHUNK < WC ? e0 + SUM_CHUNK : WC;
                    for (int k = 0; k < nk; k++) {
                        const float *pk = part + (size_t)k * WCe;
#pragma omp simd
                        for (size_t e = e0; e < e1; e++) dwr[e] += pk[e];
                    }
                }
            }
            if (db)
                for (int o = 0; o < OC; o++) {
                    double acc = 0.0;
                    for (int k = 0; k < nk; k++) acc += pdb[(size_t)k * OC + o];
                    db[r * ws + o] += (float)acc;
                }
        }
        return;
    }
    int split_oc = OC >= C;
    int tile = (split_oc ? OC : C) <= 512 ? 64 : 128;
    int to = split_oc ? cdiv(OC, tile) : 1, tc = split_oc ? 1 : cdiv(C, tile);
    int wo = split_oc ? tile : OC, wc = split_oc ? C : tile;
    int tb = db ? cdiv(OC, COL_TILE) : 0;
#pragma omp parallel num_threads(NT(be))
    {
#pragma omp for schedule(static) nowait
        for (int t = 0; t < R * to * tc; t++) {
            int r = t / (to * tc), o0 = (t / tc % to) * wo, c0 = (t % tc) * wc;
            int no = OC - o0 < wo ? OC - o0 : wo, nc = C - c0 < wc ? C - c0 : wc;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, no, nc, N, 1.0f,
                        dout + (size_t)r * N * OC + o0, OC, inp + (size_t)r * N * C + c0, C, 1.0f,
                        dw + r * ws + (size_t)o0 * C + c0, C);
        }
#pragma omp for schedule(static)
        for (int t = 0; t < R * tb; t++) {
            int r = t / tb, o0 = (t % tb) * COL_TILE, no = OC - o0 < COL_TILE ? OC - o0 : COL_TILE;
            double acc[COL_TILE] = {0};
            colsum_add(acc, dsum + (size_t)r * N * OC + o0, N, OC, no);
            for (int o = 0; o < no; o++) db[r * ws + o0 + o] += (float)acc[o];
        }
    }
}

static void matmul_bwd(ds_backend *be, float *dinp, float *dw, float *db, size_t ws,
                       const float *dout, const float *inp, const float *w, int R, int N, int C,
                       int OC) {
    double t0 = op_begin(be);
    const float *dout_r = rounded(be, 0, dout, (size_t)R * N * OC);
    const float *inp_r = rounded(be, 1, inp, (size_t)R * N * C);
    size_t wws;
    w = rounded_weights(be, 2, w, ws, R, (size_t)OC * C, &wws);
    matmul_dw(be, dw, db, ws, dout_r, dout, inp_r, R, N, C, OC);
    if (dinp) {
        int rt = row_tile(N), nt = cdiv(N, rt);
#pragma omp parallel for schedule(dynamic) num_threads(NT(be))
        for (int t = 0; t < R * nt; t++) {
            int r = t / nt, n0 = (t % nt) * rt, rows = N - n0 < rt ? N - n0 : rt;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, C, OC, 1.0f,
                        dout_r + ((size_t)r * N + n0) * OC, OC, w + r * wws, C, 0.0f,
                        dinp + ((size_t)r * N + n0) * C, C);
        }
    }
    op_end(be, DS_OP_matmul_bwd, t0);
}

/* ------------------------------------------------------------------------ */
/* rotary position embedding (GPT-NeoX rotate-half on the first rot dims) */

/* x[j], x[j + half] rotated by the angle with cosine c[j], sine sign*s[j]. */
DS_CLONES static void rope_rotate(float *x, const float *c, const float *s, float sign, int half) {
#pragma omp simd
    for (int j = 0; j < half; j++) {
        float a = x[j], b = x[j + half], sn = sign * s[j];
        x[j] = a * c[j] - b * sn;
        x[j + half] = b * c[j] + a * sn;
    }
}

static void rope_apply(ds_backend *be, float *qkv, int R, int B, int T, int H, int hd, int rot,
                       float base, float sign) {
    if (rot <= 0) return;
    int half = rot / 2, C = H * hd;
    /* cos and sin tables [T][half], in double then rounded once */
    float *cs = malloc(sizeof(float) * 2 * (size_t)T * half), *sn = cs + (size_t)T * half;
    DS_ASSERT(cs);
    for (int t = 0; t < T; t++)
        for (int j = 0; j < half; j++) {
            double ang = t * pow((double)base, -2.0 * j / rot);
            cs[(size_t)t * half + j] = (float)cos(ang);
            sn[(size_t)t * half + j] = (float)sin(ang);
        }
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (long i = 0; i < (long)R * B * T; i++) {
        int t = (int)(i % T);
        float *row = qkv + i * 3 * C;
        for (int part = 0; part < 2; part++) /* q, then k */
            for (int h = 0; h < H; h++)
                rope_rotate(row + part * C + h * hd, cs + (size_t)t * half, sn + (size_t)t * half, sign,
                            half);
    }
    free(cs);
}

static void rope_fwd(ds_backend *be, float *qkv, int R, int B, int T, int H, int hd, int rot,
                     float base) {
    double t0 = op_begin(be);
    rope_apply(be, qkv, R, B, T, H, hd, rot, base, 1.0f);
    op_end(be, DS_OP_rope_fwd, t0);
}
/* The rotation is orthogonal, so its backward is the rotation by -angle. */
static void rope_bwd(ds_backend *be, float *dqkv, int R, int B, int T, int H, int hd, int rot,
                     float base) {
    double t0 = op_begin(be);
    rope_apply(be, dqkv, R, B, T, H, hd, rot, base, -1.0f);
    op_end(be, DS_OP_rope_bwd, t0);
}

/* ------------------------------------------------------------------------ */
/* causal attention: one (replica, row, head) per task. Query rows go in
 * blocks of ATT_BLK, each against the keys up to its last row only, which
 * skips most of the masked upper triangle; the probabilities are recomputed
 * from the saved log-sum-exp in the backward (nothing T x T is kept between
 * forward and backward; the backward's T x T scratch is per thread). A
 * block's scores are 64 rows (with OpenBLAS's products, 64 measured faster
 * than 32 or 128 at T 256; the kernel below trims the causal triangle per 4
 * rows either way). */

enum { ATT_BLK = 64 };

/* The attention products: small (hd = 64, up to T keys), strided, many per
 * step, where OpenBLAS's per-call packing and small-matrix paths ran at about
 * a third of its large-GEMM rate. One kernel serves all six:
 *
 *   C[m][n] = alpha * sum_k A(m, k) B[k][n]
 *
 * for m < M, n < N, with A(m, k) = A[m*ar + k*ak] (any strides: A is read a
 * scalar at a time, so A or its transpose costs the same), B rows of stride
 * ldb, C rows of stride ldc. Rows go in tiles of MK_MR; causal limits, per
 * tile of rows m0..m0+MK_MR-1, the columns (MK_CAUSAL_N) or the terms
 * (MK_CAUSAL_K) to fewer than diag + m0 + MK_MR: what a causal block needs,
 * rows at global position diag + m. Each sum runs k = 0, 1, ... from 0 with
 * one fused multiply-add per term, and alpha multiplies the sum: the AVX-512
 * and AVX2 kernels and the portable loops (fmaf) give the same bits, and no
 * result depends on R or the thread count. */
enum { MK_MR = 4, MK_NR = 64, MK_KC = 128 };
enum { MK_DENSE, MK_CAUSAL_N, MK_CAUSAL_K };

static inline void mk_limits(int causal, int diag, int m0, int N, int K, int *nlim, int *klim) {
    int lim = diag + m0 + MK_MR;
    *nlim = causal == MK_CAUSAL_N && lim < N ? lim : N;
    *klim = causal == MK_CAUSAL_K && lim < K ? lim : K;
}

/* The same sums with C's row as the accumulators, vectorized along n (each
 * element still adds its terms in k order): hardware FMA in the x86-64-v3/v4
 * clones, libm's fmaf in the baseline one. C must not overlap A or B. */
DS_CLONES static void mk_gemm_portable(float *C, int ldc, const float *A, long ar, long ak,
                                       const float *B, int ldb, int M, int N, int K, float alpha,
                                       int causal, int diag) {
    for (int m0 = 0; m0 < M; m0 += MK_MR) {
        int nlim, klim;
        mk_limits(causal, diag, m0, N, K, &nlim, &klim);
        for (int m = m0; m < M && m < m0 + MK_MR; m++) {
            float *c = C + (size_t)m * ldc;
            for (int n = 0; n < nlim; n++) c[n] = 0.0f;
            for (int k = 0; k < klim; k++) {
                float a = A[m * ar + k * ak];
                const float *b = B + (size_t)k * ldb;
#pragma omp simd
                for (int n = 0; n < nlim; n++) c[n] = fmaf(a, b[n], c[n]);
            }
#pragma omp simd
            for (int n = 0; n < nlim; n++) c[n] = alpha * c[n];
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* One tile of MK_MR rows x nn <= 4 vectors of columns over the terms
 * kc..k1-1: a[r] the start of row r's A, cr[r] its C row at the tile's first
 * column, b the B row of term kc at that column. The accumulators start at 0
 * (kc == 0) or from C, where the previous chunk left them (a float stored and
 * reloaded is the same float, so the sums are those of one pass); the last
 * chunk multiplies by alpha. Only rows r < mm are stored. */
typedef void mk_tile_fn(const float *const *a, long ak, float *const *cr, const float *b,
                        int ldb, int kc, int k1, int nn, int mm, float alpha, int last);

/* The tile's loop, for vectors VEC of W floats; LD(p, v) and ST(p, v, x) load
 * and store vector v of a row. Instantiated twice per ISA: plain for full
 * tiles, with lane masks for ragged ones (masked-off lanes neither load nor
 * store), so that no mask is in the inner loop of a full tile. */
#define MK_TILE(VEC, W, ZERO, SET1, FMADD, MUL, LD, ST)                                 \
    do {                                                                                \
        VEC c[MK_MR][4];                                                                \
        _Pragma("GCC unroll 4") for (int r = 0; r < MK_MR; r++)                         \
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++)                         \
                c[r][v] = kc ? LD(cr[r] + W * v, v) : ZERO();                           \
        for (int k = kc; k < k1; k++, b += ldb) {                                       \
            VEC b0 = LD(b, 0), b1 = LD(b + W, 1);                                       \
            VEC b2 = LD(b + 2 * W, 2), b3 = LD(b + 3 * W, 3);                           \
            _Pragma("GCC unroll 4") for (int r = 0; r < MK_MR; r++) {                   \
                VEC x = SET1(a[r][k * ak]);                                             \
                c[r][0] = FMADD(x, b0, c[r][0]);                                        \
                c[r][1] = FMADD(x, b1, c[r][1]);                                        \
                c[r][2] = FMADD(x, b2, c[r][2]);                                        \
                c[r][3] = FMADD(x, b3, c[r][3]);                                        \
            }                                                                           \
        }                                                                               \
        VEC va = SET1(alpha);                                                           \
        /* constant indices, so c stays in registers */                                 \
        _Pragma("GCC unroll 4") for (int r = 0; r < MK_MR; r++) {                       \
            if (r >= mm) break;                                                         \
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++)                         \
                ST(cr[r] + W * v, v, last ? MUL(va, c[r][v]) : c[r][v]);                \
        }                                                                               \
    } while (0)

#define MK_LD512(p, v) _mm512_loadu_ps(p)
#define MK_ST512(p, v, x) _mm512_storeu_ps(p, x)
#define MK_MLD512(p, v) _mm512_maskz_loadu_ps(mk[v], p)
#define MK_MST512(p, v, x) _mm512_mask_storeu_ps(p, mk[v], x)
__attribute__((target("avx512f,fma"), always_inline)) static inline void
mk_tile_avx512(const float *const *a, long ak, float *const *cr, const float *b, int ldb, int kc,
               int k1, int nn, int mm, float alpha, int last) {
    if (nn == 64) {
        MK_TILE(__m512, 16, _mm512_setzero_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_mul_ps,
                MK_LD512, MK_ST512);
        return;
    }
    __mmask16 mk[4];
    for (int v = 0; v < 4; v++) {
        int lanes = nn - 16 * v;
        mk[v] = lanes >= 16 ? (__mmask16)0xFFFF : lanes <= 0 ? 0 : (__mmask16)((1u << lanes) - 1);
    }
    MK_TILE(__m512, 16, _mm512_setzero_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_mul_ps,
            MK_MLD512, MK_MST512);
}

/* AVX2 + FMA (AMD Zen 2/3 and older Intel parts): tiles of 4 x 32 columns. */
#define MK_LD256(p, v) _mm256_loadu_ps(p)
#define MK_ST256(p, v, x) _mm256_storeu_ps(p, x)
#define MK_MLD256(p, v) _mm256_maskload_ps(p, mk[v])
#define MK_MST256(p, v, x) _mm256_maskstore_ps(p, mk[v], x)
__attribute__((target("avx2,fma"), always_inline)) static inline void
mk_tile_avx2(const float *const *a, long ak, float *const *cr, const float *b, int ldb, int kc,
             int k1, int nn, int mm, float alpha, int last) {
    if (nn == 32) {
        MK_TILE(__m256, 8, _mm256_setzero_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_mul_ps,
                MK_LD256, MK_ST256);
        return;
    }
    __m256i mk[4];
    for (int v = 0; v < 4; v++)
        mk[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(nn - 8 * v),
                                   _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    MK_TILE(__m256, 8, _mm256_setzero_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_mul_ps,
            MK_MLD256, MK_MST256);
}
#undef MK_TILE
#undef MK_LD512
#undef MK_ST512
#undef MK_MLD512
#undef MK_MST512
#undef MK_LD256
#undef MK_ST256
#undef MK_MLD256
#undef MK_MST256

/* Panels of nr columns (4 vectors of the tile's width), each swept in
 * chunks of MK_KC terms (32 KB of B at 64 columns, which stays in L1 while
 * every row tile uses it), one tile per MK_MR rows; ragged rows repeat the
 * last row's operand, which the tile does not store. Inlined into one
 * function per ISA below, with the tile inlined into it (a call per tile
 * cost 3 % of the attention time). */
__attribute__((always_inline)) static inline void
mk_gemm_tiled(mk_tile_fn *tile, int nr, float *C, int ldc, const float *A, long ar, long ak,
              const float *B, int ldb, int M, int N, int K, float alpha, int causal, int diag) {
    for (int n0 = 0; n0 < N; n0 += nr)
        for (int kc = 0; kc < K; kc += MK_KC)
            for (int m0 = 0; m0 < M; m0 += MK_MR) {
                int nlim, klim, mm = M - m0 < MK_MR ? M - m0 : MK_MR;
                mk_limits(causal, diag, m0, N, K, &nlim, &klim);
                int k1 = kc + MK_KC < klim ? kc + MK_KC : klim;
                if (n0 >= nlim || kc >= k1) continue;
                const float *a[MK_MR];
                float *cr[MK_MR];
                for (int r = 0; r < MK_MR; r++) {
                    int rr = r < mm ? r : mm - 1;
                    a[r] = A + (m0 + rr) * ar;
                    cr[r] = C + (size_t)(m0 + rr) * ldc + n0;
                }
                tile(a, ak, cr, B + (size_t)kc * ldb + n0, ldb, kc, k1,
                     nlim - n0 < nr ? nlim - n0 : nr, mm, alpha, k1 == klim);
            }
}

__attribute__((target("avx512f,fma"))) static void
mk_gemm_avx512(float *C, int ldc, const float *A, long ar, long ak, const float *B, int ldb, int M,
               int N, int K, float alpha, int causal, int diag) {
    mk_gemm_tiled(mk_tile_avx512, MK_NR, C, ldc, A, ar, ak, B, ldb, M, N, K, alpha, causal, diag);
}

__attribute__((target("avx2,fma"))) static void
mk_gemm_avx2(float *C, int ldc, const float *A, long ar, long ak, const float *B, int ldb, int M,
             int N, int K, float alpha, int causal, int diag) {
    mk_gemm_tiled(mk_tile_avx2, MK_NR / 2, C, ldc, A, ar, ak, B, ldb, M, N, K, alpha, causal, diag);
}
#endif

static void mk_gemm(ds_backend *be, float *C, int ldc, const float *A, long ar, long ak,
                    const float *B, int ldb, int M, int N, int K, float alpha, int causal, int diag) {
#if defined(__x86_64__) && defined(__GNUC__)
    int path = ((cpu_impl *)be->impl)->mk_path;
    if (path == MK_PATH_AUTO && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("fma")) {
        mk_gemm_avx512(C, ldc, A, ar, ak, B, ldb, M, N, K, alpha, causal, diag);
        return;
    }
    if ((path == MK_PATH_AUTO || path == MK_PATH_AVX2) && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma")) {
        mk_gemm_avx2(C, ldc, A, ar, ak, B, ldb, M, N, K, alpha, causal, diag);
        return;
    }
#endif
    mk_gemm_portable(C, ldc, A, ar, ak, B, ldb, M, N, K, alpha, causal, diag);
}

/* dst[e*ldt + t] = src[t*ld + e] for t < T, e < hd: a head's keys (or
 * values) transposed, so that score rows are vectors along the keys. By 16
 * rows at a time: each store run is one cache line, the 16 source rows stay
 * in L1. */
static void transpose_head(float *dst, int ldt, const float *src, int ld, int T, int hd) {
    for (int t0 = 0; t0 < T; t0 += 16) {
        int t1 = t0 + 16 < T ? t0 + 16 : T;
        for (int e = 0; e < hd; e++)
            for (int t = t0; t < t1; t++) dst[(size_t)e * ldt + t] = src[(size_t)t * ld + e];
    }
}

/* dst[t*hd + e] = src[t*ld + e]: a head's rows packed densely. The strides of
 * the qkv rows (3C floats) and of transposes of T = 2^k keys map a column of
 * rows onto a few L1 sets; packed rows and padded transposes spread them. */
static void pack_head(float *dst, const float *src, int ld, int T, int hd) {
    for (int t = 0; t < T; t++) memcpy(dst + (size_t)t * hd, src + (size_t)t * ld, sizeof(float) * hd);
}

/* rows x cols of X (row stride ld) rounded in place to prec: the operands of
 * attention's products (docs/engine.md "Precision"); nothing at fp32. */
static void round_rows(ds_precision prec, float *X, size_t ld, int rows, int cols) {
    if (prec == DS_PREC_FP32) return;
    for (int i = 0; i < rows; i++) ds_round_array(prec, X + (size_t)i * ld, X + (size_t)i * ld, (size_t)cols);
}

/* Row stride of a transposed head: T rounded up to 16 floats, plus 16 (not a
 * multiple of 4 KB for the usual T). */
static int transposed_ld(int T) { return (T + 15) / 16 * 16 + 16; }

/* Rows i0..i0+rows-1 of a block of scores S [rows][cols] (cols = i0+rows):
 * causal softmax in place (row i over keys 0..i, zeros after), and the
 * log-sum-exp of each row into l[i]. */
DS_CLONES static void softmax_causal_rows(float *S, float *l, int i0, int rows, int cols) {
    for (int ii = 0; ii < rows; ii++) {
        int i = i0 + ii;
        float *s = S + (size_t)ii * cols, mx = max_lanes(s, i + 1);
#pragma omp simd
        for (int j = 0; j <= i; j++) s[j] = ds_expf(s[j] - mx);
        float sum = sum_fixed(s, i + 1);
        float inv = 1.0f / sum;
#pragma omp simd
        for (int j = 0; j <= i; j++) s[j] *= inv;
        for (int j = i + 1; j < cols; j++) s[j] = 0.0f;
        l[i] = mx + logf(sum);
    }
}

/* The probabilities again from the scores in P (rows of stride ld) and the
 * saved log-sum-exp; zeros right of the diagonal up to cols. */
DS_CLONES static void probs_from_lse(float *P, const float *l, int i0, int rows, int cols, int ld) {
    for (int ii = 0; ii < rows; ii++) {
        int i = i0 + ii;
        float *p = P + (size_t)ii * ld, li = l[i];
#pragma omp simd
        for (int j = 0; j <= i; j++) p[j] = ds_expf(p[j] - li);
        for (int j = i + 1; j < cols; j++) p[j] = 0.0f;
    }
}

/* dS = P * (dP - rowsum(dO * O)), in place in dP (P, dP rows of stride ld;
 * dO, O rows of stride C). */
DS_CLONES static void softmax_bwd_rows(float *dP, const float *P, const float *dO, const float *O,
                                       int C, int hd, int i0, int rows, int cols, int ld) {
    for (int ii = 0; ii < rows; ii++) {
        int i = i0 + ii;
        float D = dot_fixed(dO + (size_t)i * C, O + (size_t)i * C, hd);
        const float *p = P + (size_t)ii * ld;
        float *dp = dP + (size_t)ii * ld;
#pragma omp simd
        for (int j = 0; j <= i; j++) dp[j] = p[j] * (dp[j] - D);
        for (int j = i + 1; j < cols; j++) dp[j] = 0.0f;
    }
}

static void attention_fwd(ds_backend *be, float *out, float *lse, const float *qkv, int R, int B,
                          int T, int H, int hd) {
    double t0 = op_begin(be);
    int C = H * hd, ldt = transposed_ld(T);
    float scale = 1.0f / sqrtf((float)hd);
    ds_precision prec = ((cpu_impl *)be->impl)->prec;
#pragma omp parallel num_threads(NT(be))
    {
        float *S = scratch(be, omp_get_thread_num(), (size_t)ATT_BLK * T + (size_t)hd * ldt + 2 * (size_t)T * hd);
        float *Kt = S + (size_t)ATT_BLK * T, *V = Kt + (size_t)hd * ldt, *Qp = V + (size_t)T * hd;
#pragma omp for schedule(dynamic, 4)
        for (long task = 0; task < (long)R * B * H; task++) {
            long rb = task / H;
            int h = (int)(task % H);
            const float *base = qkv + rb * T * 3 * C;
            const float *q = base + h * hd;
            long qld = 3 * C; /* Q is read in place at fp32, packed and rounded otherwise */
            float *o = out + rb * T * C + h * hd;
            float *l = lse + task * T;
            transpose_head(Kt, ldt, base + C + h * hd, 3 * C, T, hd);
            pack_head(V, base + 2 * C + h * hd, 3 * C, T, hd);
            if (prec != DS_PREC_FP32) {
                pack_head(Qp, q, 3 * C, T, hd);
                round_rows(prec, Qp, hd, T, hd);
                round_rows(prec, Kt, ldt, hd, T);
                round_rows(prec, V, hd, T, hd);
                q = Qp, qld = hd;
            }
            for (int i0 = 0; i0 < T; i0 += ATT_BLK) {
                int i1 = i0 + ATT_BLK < T ? i0 + ATT_BLK : T, rows = i1 - i0, cols = i1;
                /* S = scale Q K^T, then the causal softmax; O = P V (P rounded
                 * as a product's input; the log-sum-exp is of the fp32 scores) */
                mk_gemm(be, S, cols, q + (size_t)i0 * qld, qld, 1, Kt, ldt, rows, cols, hd,
                        scale, MK_CAUSAL_N, i0);
                softmax_causal_rows(S, l, i0, rows, cols);
                round_rows(prec, S, cols, rows, cols);
                mk_gemm(be, o + (size_t)i0 * C, C, S, cols, 1, V, hd, rows, hd, cols, 1.0f,
                        MK_CAUSAL_K, i0);
            }
        }
    }
    op_end(be, DS_OP_attention_fwd, t0);
}

/* Per (replica, row, head): the probabilities P and then dS of the whole
 * causal square are kept in two T x T scratch matrices (block lower triangle
 * only, in L2 for the usual contexts): by query blocks S, dP and dQ (keys up
 * to each row), then by key blocks dV and dK (query rows from the block's
 * first key on), each block's sum in one product. Q, K and dO are packed and
 * K, V transposed once per task (pack_head, transpose_head). */
static void attention_bwd(ds_backend *be, float *dqkv, const float *dout, const float *qkv,
                          const float *out, const float *lse, int R, int B, int T, int H, int hd) {
    double t0 = op_begin(be);
    int C = H * hd, ldt = transposed_ld(T);
    float scale = 1.0f / sqrtf((float)hd);
    ds_precision prec = ((cpu_impl *)be->impl)->prec;
#pragma omp parallel num_threads(NT(be))
    {
        size_t TT = (size_t)T * T, TH = (size_t)T * hd, HL = (size_t)hd * ldt;
        float *P = scratch(be, omp_get_thread_num(), 2 * TT + 2 * HL + 3 * TH), *dS = P + TT;
        float *Kt = dS + TT, *Vt = Kt + HL, *Q = Vt + HL, *K = Q + TH, *dOp = K + TH;
#pragma omp for schedule(dynamic, 4)
        for (long task = 0; task < (long)R * B * H; task++) {
            long rb = task / H;
            int h = (int)(task % H);
            const float *base = qkv + rb * T * 3 * C;
            const float *q = base + h * hd, *k = base + C + h * hd, *v = base + 2 * C + h * hd;
            const float *dO = dout + rb * T * C + h * hd, *O = out + rb * T * C + h * hd;
            float *dbase = dqkv + rb * T * 3 * C;
            float *dq = dbase + h * hd, *dk = dbase + C + h * hd, *dv = dbase + 2 * C + h * hd;
            const float *l = lse + task * T;
            transpose_head(Kt, ldt, k, 3 * C, T, hd);
            transpose_head(Vt, ldt, v, 3 * C, T, hd);
            pack_head(Q, q, 3 * C, T, hd);
            pack_head(K, k, 3 * C, T, hd);
            pack_head(dOp, dO, C, T, hd);
            /* the products' operands rounded (nothing at fp32); P and dS are
             * rounded once their element-wise use is done, below */
            round_rows(prec, Kt, ldt, hd, T);
            round_rows(prec, Vt, ldt, hd, T);
            round_rows(prec, Q, hd, T, hd);
            round_rows(prec, K, hd, T, hd);
            round_rows(prec, dOp, hd, T, hd);
            for (int i0 = 0; i0 < T; i0 += ATT_BLK) { /* query blocks: keys 0..i1-1 */
                int i1 = i0 + ATT_BLK < T ? i0 + ATT_BLK : T, rows = i1 - i0;
                float *Pb = P + (size_t)i0 * T, *dSb = dS + (size_t)i0 * T;
                mk_gemm(be, Pb, T, Q + (size_t)i0 * hd, hd, 1, Kt, ldt, rows, i1, hd, scale,
                        MK_CAUSAL_N, i0);
                probs_from_lse(Pb, l, i0, rows, i1, T);
                /* dP = dO V^T, then dS = P (dP - D); dQ = scale dS K */
                mk_gemm(be, dSb, T, dOp + (size_t)i0 * hd, hd, 1, Vt, ldt, rows, i1, hd, 1.0f,
                        MK_CAUSAL_N, i0);
                softmax_bwd_rows(dSb, Pb, dO, O, C, hd, i0, rows, i1, T);
                round_rows(prec, Pb, T, rows, i1); /* for dV below */
                round_rows(prec, dSb, T, rows, i1);
                mk_gemm(be, dq + (size_t)i0 * 3 * C, 3 * C, dSb, T, 1, K, hd, rows, hd, i1, scale,
                        MK_CAUSAL_K, i0);
            }
            for (int j0 = 0; j0 < T; j0 += ATT_BLK) { /* key blocks: query rows j0..T-1 */
                int j1 = j0 + ATT_BLK < T ? j0 + ATT_BLK : T, keys = j1 - j0, qrows = T - j0;
                /* dV = P^T dO ; dK = scale dS^T Q (entries above the diagonal are zeros) */
                const float *Pj = P + (size_t)j0 * T + j0, *dSj = dS + (size_t)j0 * T + j0;
                mk_gemm(be, dv + (size_t)j0 * 3 * C, 3 * C, Pj, 1, T, dOp + (size_t)j0 * hd, hd,
                        keys, hd, qrows, 1.0f, MK_DENSE, 0);
                mk_gemm(be, dk + (size_t)j0 * 3 * C, 3 * C, dSj, 1, T, Q + (size_t)j0 * hd, hd,
                        keys, hd, qrows, scale, MK_DENSE, 0);
            }
        }
    }
    op_end(be, DS_OP_attention_bwd, t0);
}

/* ------------------------------------------------------------------------ */
/* GELU (exact, erf), residual add */

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT2PI 0.39894228040143267794f

DS_CLONES static void gelu_fwd_range(float *out, const float *inp, size_t i0, size_t i1) {
#pragma omp simd
    for (size_t i = i0; i < i1; i++) {
        float x = inp[i], u = x * INV_SQRT2;
        out[i] = 0.5f * x * (1.0f + ds_erff(u, ds_expf(-u * u)));
    }
}

DS_CLONES static void gelu_bwd_range(float *dinp, const float *inp, const float *dout, size_t i0,
                                     size_t i1) {
#pragma omp simd
    for (size_t i = i0; i < i1; i++) {
        float x = inp[i], u = x * INV_SQRT2, e = ds_expf(-u * u); /* e = exp(-x^2/2) */
        float g = 0.5f * (1.0f + ds_erff(u, e)) + x * INV_SQRT2PI * e;
        dinp[i] = g * dout[i];
    }
}

static void gelu_fwd(ds_backend *be, float *out, const float *inp, size_t n) {
    double t0 = op_begin(be);
    long nch = (long)((n + SUM_CHUNK - 1) / SUM_CHUNK);
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (long c = 0; c < nch; c++) {
        size_t i0 = (size_t)c * SUM_CHUNK, i1 = i0 + SUM_CHUNK < n ? i0 + SUM_CHUNK : n;
        gelu_fwd_range(out, inp, i0, i1);
    }
    op_end(be, DS_OP_gelu_fwd, t0);
}

static void gelu_bwd(ds_backend *be, float *dinp, const float *inp, const float *dout, size_t n) {
    double t0 = op_begin(be);
    long nch = (long)((n + SUM_CHUNK - 1) / SUM_CHUNK);
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (long c = 0; c < nch; c++) {
        size_t i0 = (size_t)c * SUM_CHUNK, i1 = i0 + SUM_CHUNK < n ? i0 + SUM_CHUNK : n;
        gelu_bwd_range(dinp, inp, dout, i0, i1);
    }
    op_end(be, DS_OP_gelu_bwd, t0);
}

static void add(ds_backend *be, float *out, const float *a, const float *b, size_t n) {
    double t0 = op_begin(be);
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
    op_end(be, DS_OP_add, t0);
}

/* ------------------------------------------------------------------------ */
/* the llama block: RMSNorm, SwiGLU, the key/value heads of grouped-query
 * attention (docs/engine.md "The llama block") */

/* One row: y = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps). */
DS_CLONES static void rmsnorm_fwd_row(float *y, float *rstd, const float *x, const float *w, int C,
                                      float eps) {
    float acc[8] = {0};
    int c = 0;
    for (; c + 8 <= C; c += 8)
        for (int j = 0; j < 8; j++) acc[j] += x[c + j] * x[c + j];
    for (; c < C; c++) acc[c & 7] += x[c] * x[c];
    float ms = sum_fixed(acc, 8) / C;
    float rs = 1.0f / sqrtf(ms + eps);
#pragma omp simd
    for (int c2 = 0; c2 < C; c2++) y[c2] = x[c2] * rs * w[c2];
    *rstd = rs;
}

static void rmsnorm_fwd(ds_backend *be, float *out, float *rstd, const float *inp, const float *w,
                        size_t ws, int R, int N, int C, float eps) {
    double t0 = op_begin(be);
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (long i = 0; i < (long)R * N; i++) {
        int r = (int)(i / N);
        rmsnorm_fwd_row(out + i * C, rstd + i, inp + i * C, w + r * ws, C, eps);
    }
    op_end(be, DS_OP_rmsnorm_fwd, t0);
}

/* One row's input gradient, added into dx: with xh = x*rs and g = dy*w,
 * dx = rs * (g - xh * mean(g*xh)). */
DS_CLONES static void rmsnorm_bwd_row(float *dx, const float *x, const float *dy, const float *w,
                                      float rs, int C) {
    float agx[8] = {0};
    int c = 0;
    for (; c + 8 <= C; c += 8)
        for (int j = 0; j < 8; j++) agx[j] += (dy[c + j] * w[c + j]) * (x[c + j] * rs);
    for (; c < C; c++) agx[c & 7] += (dy[c] * w[c]) * (x[c] * rs);
    float mgx = sum_fixed(agx, 8) / C;
#pragma omp simd
    for (int c2 = 0; c2 < C; c2++) {
        float xh = x[c2] * rs, g = dy[c2] * w[c2];
        dx[c2] += (g - xh * mgx) * rs;
    }
}

/* Weight gradient of rows n0..n1-1, all C channels, into aw[C] (doubles,
 * overwritten): float partials of ROW_CHUNK rows added in double, rows in
 * order (as layernorm_bwd_rows). */
DS_CLONES static void rmsnorm_bwd_rows(double *aw, const float *dout, const float *inp,
                                       const float *rstd, int n0, int n1, int C) {
    enum { W = 1024 };
    for (int c0 = 0; c0 < C; c0 += W) {
        int nc = C - c0 < W ? C - c0 : W;
        for (int c = 0; c < nc; c++) aw[c0 + c] = 0.0;
        for (int k0 = n0; k0 < n1; k0 += ROW_CHUNK) {
            float pw[W];
            int k1 = k0 + ROW_CHUNK < n1 ? k0 + ROW_CHUNK : n1;
            for (int c = 0; c < nc; c++) pw[c] = 0.0f;
            for (int n = k0; n < k1; n++) {
                const float *x = inp + (size_t)n * C + c0, *g = dout + (size_t)n * C + c0;
                float rs = rstd[n];
#pragma omp simd
                for (int c = 0; c < nc; c++) pw[c] += g[c] * (x[c] * rs);
            }
            for (int c = 0; c < nc; c++) aw[c0 + c] += pw[c];
        }
    }
}

static void rmsnorm_bwd(ds_backend *be, float *dinp, float *dw, size_t ws, const float *dout,
                        const float *inp, const float *w, const float *rstd, int R, int N, int C) {
    double t0 = op_begin(be);
    /* weight gradient: fixed row chunks into double partials [R][nk][C],
     * then summed in chunk order */
    int nk = cdiv(N, LN_CHUNK);
    double *part = (double *)shared_scratch(be, 2 * (size_t)R * nk * C);
#pragma omp parallel num_threads(NT(be))
    {
#pragma omp for schedule(static) nowait
        for (long i = 0; i < (long)R * N; i++) {
            int r = (int)(i / N);
            rmsnorm_bwd_row(dinp + i * C, inp + i * C, dout + i * C, w + r * ws, rstd[i], C);
        }
#pragma omp for schedule(static)
        for (int t = 0; t < R * nk; t++) {
            int r = t / nk, n0 = (t % nk) * LN_CHUNK, n1 = n0 + LN_CHUNK < N ? n0 + LN_CHUNK : N;
            size_t off = (size_t)r * N;
            rmsnorm_bwd_rows(part + (size_t)t * C, dout + off * C, inp + off * C, rstd + off, n0,
                             n1, C);
        }
#pragma omp for schedule(static)
        for (long rc = 0; rc < (long)R * C; rc++) {
            int r = (int)(rc / C), c = (int)(rc % C);
            double aw = 0.0;
            for (int k = 0; k < nk; k++) aw += part[((size_t)r * nk + k) * C + c];
            dw[r * ws + c] += (float)aw;
        }
    }
    op_end(be, DS_OP_rmsnorm_bwd, t0);
}

/* silu(g) = g * sigmoid(g); out = silu(gate) * up, one row of 2F inputs. */
DS_CLONES static void swiglu_fwd_row(float *out, const float *in, int F) {
#pragma omp simd
    for (int f = 0; f < F; f++) {
        float g = in[f], s = 1.0f / (1.0f + ds_expf(-g));
        out[f] = g * s * in[F + f];
    }
}

/* d gate = dout * up * s * (1 + g (1 - s)), d up = dout * silu(g). */
DS_CLONES static void swiglu_bwd_row(float *din, const float *in, const float *dout, int F) {
#pragma omp simd
    for (int f = 0; f < F; f++) {
        float g = in[f], u = in[F + f], s = 1.0f / (1.0f + ds_expf(-g));
        din[f] = dout[f] * u * (s * (1.0f + g * (1.0f - s)));
        din[F + f] = dout[f] * (g * s);
    }
}

static void swiglu_fwd(ds_backend *be, float *out, const float *inp, size_t rows, int F) {
    double t0 = op_begin(be);
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (size_t i = 0; i < rows; i++) swiglu_fwd_row(out + i * F, inp + i * 2 * F, F);
    op_end(be, DS_OP_swiglu_fwd, t0);
}

static void swiglu_bwd(ds_backend *be, float *dinp, const float *inp, const float *dout,
                       size_t rows, int F) {
    double t0 = op_begin(be);
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (size_t i = 0; i < rows; i++)
        swiglu_bwd_row(dinp + i * 2 * F, inp + i * 2 * F, dout + i * F, F);
    op_end(be, DS_OP_swiglu_bwd, t0);
}

static void kv_repeat_fwd(ds_backend *be, float *out, const float *inp, size_t rows, int H, int K,
                          int hd) {
    double t0 = op_begin(be);
    DS_ASSERT(K >= 1 && H % K == 0);
    size_t C = (size_t)H * hd, Ci = (size_t)(H + 2 * K) * hd, G = (size_t)(H / K);
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (size_t i = 0; i < rows; i++) {
        const float *x = inp + i * Ci;
        float *y = out + i * 3 * C;
        memcpy(y, x, sizeof(float) * C);
        for (int h = 0; h < H; h++) {
            size_t j = (size_t)h / G; /* the kv head of q head h */
            memcpy(y + C + (size_t)h * hd, x + C + j * hd, sizeof(float) * hd);
            memcpy(y + 2 * C + (size_t)h * hd, x + C + (size_t)K * hd + j * hd, sizeof(float) * hd);
        }
    }
    op_end(be, DS_OP_kv_repeat_fwd, t0);
}

static void kv_repeat_bwd(ds_backend *be, float *dinp, const float *dout, size_t rows, int H,
                          int K, int hd) {
    double t0 = op_begin(be);
    DS_ASSERT(K >= 1 && H % K == 0);
    size_t C = (size_t)H * hd, Ci = (size_t)(H + 2 * K) * hd;
    int G = H / K;
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (size_t i = 0; i < rows; i++) {
        const float *dy = dout + i * 3 * C;
        float *dx = dinp + i * Ci;
        memcpy(dx, dy, sizeof(float) * C);
        for (int part = 1; part <= 2; part++) /* k, then v */
            for (int j = 0; j < K; j++) {
                float *o = dx + C + (size_t)(part - 1) * K * hd + (size_t)j * hd;
                const float *s = dy + part * C + (size_t)j * G * hd;
                for (int e = 0; e < hd; e++) {
                    float acc = s[e];
                    for (int g = 1; g < G; g++) acc += s[(size_t)g * hd + e];
                    o[e] = acc;
                }
            }
    }
    op_end(be, DS_OP_kv_repeat_bwd, t0);
}

/* ------------------------------------------------------------------------ */
/* softmax cross-entropy */

/* log-sum-exp of one row of V logits */
static double row_lse(const float *x, int V) {
    float mx = x[0];
    for (int j = 1; j < V; j++) mx = x[j] > mx ? x[j] : mx;
    double s = 0;
    for (int j = 0; j < V; j++) s += exp((double)x[j] - mx);
    return mx + log(s);
}

/* Sum of exp(x[j] - mx) over a row, mx = its largest entry (returned in
 * *mx): float exps (ds_expf), summed in 8 double lanes then across them,
 * one order on every ISA. e, if given, receives the exps. */
DS_CLONES static double row_expsum(const float *x, float *e, int V, float *mx) {
    float m = max_lanes(x, V);
    double acc[8] = {0};
    int j = 0;
    for (; j + 8 <= V; j += 8)
        for (int l = 0; l < 8; l++) {
            float v = ds_expf(x[j + l] - m);
            if (e) e[j + l] = v;
            acc[l] += v;
        }
    for (; j < V; j++) {
        float v = ds_expf(x[j] - m);
        if (e) e[j] = v;
        acc[j & 7] += v;
    }
    *mx = m;
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static void crossentropy_fwd(ds_backend *be, float *loss, const float *logits, const int32_t *tgt,
                             int R, int N, int V) {
    double t0 = op_begin(be);
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (long i = 0; i < (long)R * N; i++) {
        const float *x = logits + i * V;
        float mx;
        double s = row_expsum(x, NULL, V, &mx);
        loss[i] = (float)(mx + log(s) - x[tgt[i]]);
    }
    op_end(be, DS_OP_crossentropy_fwd, t0);
}

/* dlogits = (softmax - onehot) * weight, the softmax as exp(x - max) / sum. */
static void crossentropy_bwd(ds_backend *be, float *dlogits, const float *logits,
                             const int32_t *tgt, const float *weight, int R, int N, int V) {
    double t0 = op_begin(be);
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (long i = 0; i < (long)R * N; i++) {
        const float *x = logits + i * V;
        float *dx = dlogits + i * V, mx, w = weight[i];
        float inv = (float)(1.0 / row_expsum(x, dx, V, &mx));
        for (int j = 0; j < V; j++) dx[j] = dx[j] * inv * w;
        dx[tgt[i]] -= w;
    }
    op_end(be, DS_OP_crossentropy_bwd, t0);
}

static void token_stats(ds_backend *be, float *ce, float *pcorrect, float *correct,
                        const float *logits, const int32_t *tgt, int R, int N, int V) {
    double t0 = op_begin(be);
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (long i = 0; i < (long)R * N; i++) {
        const float *x = logits + i * V;
        double l = row_lse(x, V);
        int am = 0;
        for (int j = 1; j < V; j++)
            if (x[j] > x[am]) am = j;
        ce[i] = (float)(l - x[tgt[i]]);
        pcorrect[i] = (float)exp((double)x[tgt[i]] - l);
        /* a NaN row has no prediction: never correct */
        correct[i] = (am == tgt[i] && x[am] == x[am]) ? 1.0f : 0.0f;
    }
    op_end(be, DS_OP_token_stats, t0);
}

/* ------------------------------------------------------------------------ */
/* reductions */

static void weighted_sum(ds_backend *be, double *out, const float *x, const float *w, int R,
                         size_t N) {
    double t0 = op_begin(be);
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (int r = 0; r < R; r++) {
        double s = 0;
        for (size_t n = 0; n < N; n++)
            if (w[r * N + n] != 0.0f) s += (double)x[r * N + n] * w[r * N + n];
        out[r] = s;
    }
    op_end(be, DS_OP_weighted_sum, t0);
}

static void sumsq(ds_backend *be, double *out, const float *x, size_t stride, size_t n, int R) {
    double t0 = op_begin(be);
    size_t nch = (n + SUM_CHUNK - 1) / SUM_CHUNK;
    double *part = malloc(sizeof(double) * nch * R);
    DS_ASSERT(part);
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (long t = 0; t < (long)(nch * R); t++) {
        size_t r = t / nch, c = t % nch, i0 = c * SUM_CHUNK, i1 = i0 + SUM_CHUNK < n ? i0 + SUM_CHUNK : n;
        const float *xr = x + r * stride;
        double s = 0;
        for (size_t i = i0; i < i1; i++) s += (double)xr[i] * xr[i];
        part[t] = s;
    }
    for (int r = 0; r < R; r++) {
        double s = 0;
        for (size_t c = 0; c < nch; c++) s += part[r * nch + c];
        out[r] = s;
    }
    free(part);
    op_end(be, DS_OP_sumsq, t0);
}

/* ------------------------------------------------------------------------ */
/* per-replica update control (ds_step_guard_replica, backend.h) */

static void step_guard(ds_backend *be, float *loss, float *gnorm, float *gscale, uint8_t *active,
                       const double *lsum, const double *sq, int R, float clip) {
    double t0 = op_begin(be);
    for (int r = 0; r < R; r++) ds_step_guard_replica(loss, gnorm, gscale, active, lsum, sq, r, clip);
    op_end(be, DS_OP_step_guard, t0);
}

/* ------------------------------------------------------------------------ */
/* AdamW, torch.optim.AdamW's order of operations */

static void adamw(ds_backend *be, float *p, const float *g, float *m, float *v, size_t P, int R,
                  const ds_adamw_args *a) {
    double t0 = op_begin(be);
    size_t nch = (P + SUM_CHUNK - 1) / SUM_CHUNK;
    float sqrt_bc2 = sqrtf(a->bc2);
#pragma omp parallel for schedule(static) num_threads(NT(be))
    for (long t = 0; t < (long)(nch * R); t++) {
        size_t r = t / nch, c = t % nch, i0 = c * SUM_CHUNK, i1 = i0 + SUM_CHUNK < P ? i0 + SUM_CHUNK : P;
        if (!a->active[r]) continue;
        float lr = a->lr, gs = a->gscale[r], step = lr / a->bc1;
        float decay = 1.0f - lr * a->weight_decay;
        float *pr = p + r * P, *mr = m + r * P, *vr = v + r * P;
        const float *gr = g + r * P;
        for (size_t i = i0; i < i1; i++) {
            float gi = gr[i] * gs;
            pr[i] *= decay;
            mr[i] = a->beta1 * mr[i] + (1.0f - a->beta1) * gi;
            vr[i] = a->beta2 * vr[i] + (1.0f - a->beta2) * gi * gi;
            float denom = sqrtf(vr[i]) / sqrt_bc2 + a->eps;
            pr[i] -= step * mr[i] / denom;
        }
    }
    op_end(be, DS_OP_adamw, t0);
}

/* ------------------------------------------------------------------------ */
/* OpenBLAS kernel choice.
 *
 * OpenBLAS picks its kernels once, when the library loads, from
 * OPENBLAS_CORETYPE or its own CPU detection, and both can leave our sgemms on
 * kernels far below what the core can do:
 *   - the machines' environment sets OPENBLAS_CORETYPE=Haswell, forcing AVX2
 *     kernels on AVX-512 cores (training steps 15-27% slower);
 *   - OpenBLAS 0.3.21 does not know newer cores (Sapphire Rapids under a
 *     hypervisor, reported as "Intel(R) Xeon(R) Processor") and falls back to
 *     Prescott, its SSE3 kernels: steps 2.2x slower (docs/engine.md).
 * So a process whose OpenBLAS (already loaded and initialised: libraries'
 * constructors run before the executable's) chose a kernel class below what
 * the CPU supports, with OPENBLAS_CORETYPE unset or Haswell, re-executes itself
 * once (before main, before MPI) with OPENBLAS_CORETYPE set to the best class
 * the CPU has. Any other OPENBLAS_CORETYPE is the user's choice and kept, and
 * DISTSWEEP_KEEP_OPENBLAS_CORETYPE=1 keeps whatever OpenBLAS chose. glibc
 * passes argc/argv/envp to constructors. */

/* 3 AVX-512 + BF16, 2 AVX-512, 1 AVX2, 0 older or unknown kernels. */
static int openblas_core_class(const char *core) {
    static const struct { const char *name; int cls; } known[] = {
        {"Cooperlake", 3}, {"SapphireRapids", 3}, {"SkylakeX", 2},
        {"Haswell", 1},    {"Zen", 1}};
    for (size_t i = 0; core && i < sizeof known / sizeof known[0]; i++)
        if (!strcasecmp(core, known[i].name)) return known[i].cls;
    return 0;
}

/* The OPENBLAS_CORETYPE of the best kernel class this CPU runs, or NULL. */
static const char *best_openblas_coretype(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512bf16")) return "Cooperlake";
    if (__builtin_cpu_supports("avx512f")) return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

__attribute__((constructor)) static void ds_openblas_coretype_fix(int argc, char **argv, char **envp) {
    const char *ct = getenv("OPENBLAS_CORETYPE");
    if ((ct && strcmp(ct, "Haswell")) || getenv("DISTSWEEP_KEEP_OPENBLAS_CORETYPE") ||
        getenv("DISTSWEEP_REEXECED") || !argv || argc < 1)
        return;
    const char *want = best_openblas_coretype();
    if (!want || openblas_core_class(openblas_get_corename()) >= openblas_core_class(want)) return;
    char saved[64];
    snprintf(saved, sizeof saved, "%s", ct ? ct : "");
    setenv("OPENBLAS_CORETYPE", want, 1);
    setenv("DISTSWEEP_REEXECED", "1", 1);
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the kernels OpenBLAS chose */
    if (ct) setenv("OPENBLAS_CORETYPE", saved, 1);
    else unsetenv("OPENBLAS_CORETYPE");
    unsetenv("DISTSWEEP_REEXECED");
}

/* Threads when the caller does not say: OMP_NUM_THREADS if set; else, for
 * one of several unbound MPI ranks on this node, the node's cores split
 * between them (each would otherwise start a thread per core and
 * oversubscribe them); else OpenMP's default (the cores of the binding). Results do not depend on
 * the thread count. */
static int default_threads(void) {
    if (getenv("OMP_NUM_THREADS")) return omp_get_max_threads();
    const char *names[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        int n = v ? atoi(v) : 0;
        /* only when unbound: a rank bound to some cores already has its share */
        if (n > 1 && omp_get_num_procs() >= sysconf(_SC_NPROCESSORS_ONLN)) {
            int t = omp_get_num_procs() / n;
            return t < 1 ? 1 : t;
        }
    }
    return omp_get_max_threads();
}

/* ------------------------------------------------------------------------ */

ds_backend *ds_backend_cpu_create(int nthreads, ds_precision precision) {
    ds_backend *be = DS_CALLOC(1, sizeof *be);
    cpu_impl *im = DS_CALLOC(1, sizeof *im);
    im->nthreads = nthreads > 0 ? nthreads : default_threads();
    im->prec = precision;
    ds_op_times_init(&im->optimes, "DISTSWEEP_CPU_OPTIMES");
    const char *pt = getenv("DISTSWEEP_CPU_PORTABLE");
    im->mk_path = !pt || !*pt || !strcmp(pt, "0") ? MK_PATH_AUTO
                  : !strcmp(pt, "avx2")           ? MK_PATH_AVX2
                                                  : MK_PATH_PORTABLE;
    im->scratch = DS_CALLOC(im->nthreads, sizeof(float *));
    im->scratch_n = DS_CALLOC(im->nthreads, sizeof(size_t));
    /* Our tiles are the parallelism; OpenBLAS's own threads would fight OpenMP's
     * and make the work split depend on the thread count. */
    openblas_set_num_threads(1);
    be->name = precision == DS_PREC_TF32 ? "cpu-tf32" : precision == DS_PREC_BF16 ? "cpu-bf16" : "cpu";
    be->threads = im->nthreads;
    be->impl = im;
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->upload = cpu_upload;
    be->download = cpu_download;
    be->upload_async = cpu_upload;
    be->download_async = cpu_download;
    be->sync = cpu_sync;
    be->host_alloc = cpu_alloc;
    be->host_free = cpu_host_free;
    be->zero = cpu_zero; /* no graphs: capture_begin and the rest stay NULL */
    be->copy = cpu_copy;
    be->destroy = cpu_destroy;
    DS_BACKEND_SET_OPS(be);
    return be;
}
