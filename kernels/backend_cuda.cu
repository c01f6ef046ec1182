// backend_cuda: the op table of backend.h on an NVIDIA GPU (cuBLASLt + kernels).
//
// Owns device memory (cudaMalloc), one stream, one cuBLAS handle (its math
// mode follows the precision; the GEMMs themselves go through the cuBLASLt
// handle and the per-shape algorithm plans below), a cuBLASLt workspace and a
// growable device scratch buffer per backend. Every op is enqueued on the
// backend's stream; upload/download synchronize it, so host code sees the
// results of every op enqueued before a download.
//
// Determinism: no float atomics anywhere. Every reduction has a fixed order
// (warp shuffles in a fixed tree, per-chunk partial sums added in order by a
// second kernel); chunk, segment and tile sizes come from the shapes, never
// from R; and every GEMM shape runs one cuBLASLt algorithm whatever the batch
// count (gemm_plan). So a GPU run is bit-identical from run to run and a
// replica in a pack equals the same seed alone (tests/gpu checks both).
// Results are not bit-identical to the CPU backend (different summation
// orders, FMA contraction, CUDA's expf/erff): tests/gpu states the
// tolerances.
//
// Errors: the ops return void, so a failing CUDA or cuBLAS call inside an op
// reports file, line and the error string and ends the process via ds_die
// (docs/cuda.md). Creation reports through ds_error instead.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_check.h"
#include "ds_cuda.h"

extern "C" {
#include "backend.h"
}

// Fatal checks for the void ops (creation uses DS_CUDA_TRY / DS_CUBLAS_TRY).
#define CK(call)                                                                            \
    do {                                                                                    \
        cudaError_t ck_rc_ = (call);                                                        \
        if (ck_rc_ != cudaSuccess)                                                          \
            ds_die(DS_EXIT_ERROR, "%s:%d: CUDA error %d (%s) in %s", __FILE__, __LINE__,    \
                   (int)ck_rc_, cudaGetErrorString(ck_rc_), #call);                         \
    } while (0)
#define CKB(call)                                                                           \
    do {                                                                                    \
        cublasStatus_t ckb_rc_ = (call);                                                    \
        if (ckb_rc_ != CUBLAS_STATUS_SUCCESS)                                               \
            ds_die(DS_EXIT_ERROR, "%s:%d: cuBLAS error %d (%s) in %s", __FILE__, __LINE__,  \
                   (int)ckb_rc_, cublasGetStatusString(ckb_rc_), #call);                    \
    } while (0)
// After every kernel launch: a bad launch configuration is reported where it happened.
#define CK_LAUNCH() CK(cudaGetLastError())

// A GEMM shape's cuBLASLt algorithm, chosen once per (shape, alignment) and
// then used for every batch count, so a replica's arithmetic (tiles, split-K,
// reduction scheme, vector width) never depends on R. cuBLAS's own
// heuristic chooses per call: with R = 1 a stride that is not a multiple of
// 16 bytes does not matter and it takes a vectorized kernel, with R > 1 it
// must take another, so a replica alone and in a pack got different bits.
// Here the alignment the algorithm may assume is that of the base pointer
// AND the stride, whatever R is, and the heuristic is asked for a batched
// algorithm (batch count 2), which then runs for any batch count.
typedef struct {
    int opa, opb, m, n, k, lda, ldb, ldc;
    int align[3]; // bytes: A, B, C
    cublasLtMatmulAlgo_t algo;
    size_t ws; // workspace bytes per matrix
} gemm_plan;

enum { MAX_PLANS = 128, N_OPS = 21 };

static const char *const op_names[N_OPS] = {
    "encoder_fwd", "encoder_bwd", "layernorm_fwd", "layernorm_bwd", "matmul_fwd", "matmul_bwd",
    "rope_fwd", "rope_bwd", "attention_fwd", "attention_bwd", "gelu_fwd", "gelu_bwd", "add",
    "crossentropy_fwd", "crossentropy_bwd", "token_stats", "weighted_sum", "sumsq", "adamw",
    "upload", "download"};

typedef struct {
    int device, tf32;
    cudaStream_t stream;
    cublasHandle_t blas;
    cublasLtHandle_t lt;
    gemm_plan plans[MAX_PLANS];
    int nplans;
    void *lt_ws; // cuBLASLt workspace
    size_t lt_ws_bytes;
    void *scratch; // device scratch for two-stage reductions and per-call arrays
    size_t scratch_bytes;
    // DISTSWEEP_CUDA_OPTIMES=1: every op synchronizes and its wall time is
    // summed here; printed to stderr by destroy (a profiling aid: the
    // synchronizations slow the step down)
    int warned_batch;
    int optimes;
    double op_s[N_OPS];
    long op_n[N_OPS];
} cuda_impl;

#define IM(be) ((cuda_impl *)(be)->impl)
#define ST(be) (IM(be)->stream)

static inline unsigned cdiv(size_t a, size_t b) { return (unsigned)((a + b - 1) / b); }

// Per-op timing (DISTSWEEP_CUDA_OPTIMES=1): a scope guard that synchronizes
// the stream at both ends and adds the elapsed wall time to op `id`.
struct op_timer {
    ds_backend *be;
    int id;
    double t0;
    op_timer(ds_backend *b, int i) : be(b), id(i), t0(0) {
        if (IM(be)->optimes) {
            CK(cudaStreamSynchronize(ST(be)));
            t0 = ds_now();
        }
    }
    ~op_timer() {
        if (IM(be)->optimes) {
            CK(cudaStreamSynchronize(ST(be)));
            IM(be)->op_s[id] += ds_now() - t0;
            IM(be)->op_n[id]++;
        }
    }
};
#define OP_TIME(id) op_timer op_timer_(be, (id))

// Device scratch of at least `bytes` bytes. Growing frees the old buffer:
// cudaFree waits for the device, so no enqueued kernel still uses it.
static void *scratch(ds_backend *be, size_t bytes) {
    cuda_impl *im = IM(be);
    if (im->scratch_bytes < bytes) {
        if (im->scratch) CK(cudaFree(im->scratch));
        im->scratch = NULL;
        size_t n = bytes < ((size_t)1 << 20) ? ((size_t)1 << 20) : bytes;
        CK(cudaMalloc(&im->scratch, n));
        im->scratch_bytes = n;
    }
    return im->scratch;
}

// ---------------------------------------------------------------------------
// warp reductions: a fixed butterfly, so every lane ends with the same bits

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// ---------------------------------------------------------------------------
// memory

static void *cu_alloc(ds_backend *be, size_t bytes) {
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        (void)cudaGetLastError(); // out of memory is reported by the caller, not fatal here
        return NULL;
    }
    CK(cudaMemsetAsync(p, 0, bytes ? bytes : 1, ST(be)));
    return p;
}
static void cu_free(ds_backend *be, void *p) {
    if (p) CK(cudaFree(p));
}
static void cu_upload(ds_backend *be, void *dst, const void *src, size_t n) {
    OP_TIME(19);
    if (!n) return;
    CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, ST(be)));
    CK(cudaStreamSynchronize(ST(be)));
}
static void cu_download(ds_backend *be, void *dst, const void *src, size_t n) {
    OP_TIME(20);
    if (!n) return;
    CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, ST(be)));
    CK(cudaStreamSynchronize(ST(be)));
}
static void cu_zero(ds_backend *be, void *p, size_t n) {
    if (n) CK(cudaMemsetAsync(p, 0, n, ST(be)));
}
static void cu_copy(ds_backend *be, void *dst, const void *src, size_t n) {
    if (n) CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, ST(be)));
}
static void cu_destroy(ds_backend *be) {
    if (!be) return;
    cuda_impl *im = IM(be);
    if (im) {
        if (im->stream) cudaStreamSynchronize(im->stream);
        if (im->optimes) {
            double tot = 0;
            for (int i = 0; i < N_OPS; i++) tot += im->op_s[i];
            fprintf(stderr, "cuda op times (DISTSWEEP_CUDA_OPTIMES, synchronized per op):\n");
            for (int i = 0; i < N_OPS; i++)
                if (im->op_n[i])
                    fprintf(stderr, "  %-18s %8ld calls %10.4f s %5.1f%%\n", op_names[i], im->op_n[i],
                            im->op_s[i], tot > 0 ? 100 * im->op_s[i] / tot : 0.0);
        }
        if (im->scratch) cudaFree(im->scratch);
        if (im->lt_ws) cudaFree(im->lt_ws);
        if (im->lt) cublasLtDestroy(im->lt);
        if (im->blas) cublasDestroy(im->blas);
        if (im->stream) cudaStreamDestroy(im->stream);
        free(im);
    }
    free(be);
}

// ---------------------------------------------------------------------------
// token embedding

__global__ void encoder_fwd_k(float *out, const int32_t *tok, const float *wte, size_t ws, int N,
                              int C, long total) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x; // over R*N*C
    if (i >= total) return;
    long row = i / C;
    int c = (int)(i % C), r = (int)(row / N);
    out[i] = wte[(size_t)r * ws + (size_t)tok[row] * C + c];
}

static void encoder_fwd(ds_backend *be, float *out, const int32_t *tok, const float *wte, size_t ws,
                        int R, int N, int C) {
    OP_TIME(0);
    long total = (long)R * N * C;
    if (!total) return;
    encoder_fwd_k<<<cdiv(total, 256), 256, 0, ST(be)>>>(out, tok, wte, ws, N, C, total);
    CK_LAUNCH();
}

// Embedding backward without atomics. The rows of replica r are cut into S
// fixed segments (S = 4096/C in [1, 64]: at least 4096 threads per replica).
// Stage 1: one thread per (segment, replica, channel) walks its segment's
// rows in order, ENC_G at a time: rows of the group with the same token are
// added together first (increasing n), then each distinct token gets one
// read-modify-write of the segment's partial table [S][R][V][C] (the group's
// loads are independent, so the thread does not wait one memory round trip
// per row). Stage 2: dwte[r][v][c] += the S partials in segment order.
// V is not an argument of the op: it is the largest token + 1, found on the
// device and read back (one small synchronizing download per call).
// Fixed order throughout; not the CPU's order (it adds row by row), so equal
// to it only to rounding.
enum { ENC_G = 16 };

__global__ void max_token_k(int32_t *out, const int32_t *tok, long n) {
    __shared__ int32_t sh[256];
    int32_t mx = 0;
    for (long i = threadIdx.x; i < n; i += 256) mx = max(mx, tok[i]);
    sh[threadIdx.x] = mx;
    __syncthreads();
    for (int s = 128; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] = max(sh[threadIdx.x], sh[threadIdx.x + s]);
        __syncthreads();
    }
    if (threadIdx.x == 0) *out = sh[0];
}

__global__ void encoder_bwd_partial_k(float *part, const float *dout, const int32_t *tok, int R,
                                      int N, int C, int V, int S, int seglen) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x; // over S*R*C
    if (i >= (long)S * R * C) return;
    int c = (int)(i % C);
    long sr = i / C;
    int r = (int)(sr % R), sg = (int)(sr / R);
    float *pw = part + (size_t)sr * V * C + c;
    const float *d = dout + (size_t)r * N * C + c;
    const int32_t *tk = tok + (size_t)r * N;
    int nb = sg * seglen, ne = min(N, nb + seglen);
    for (int n0 = nb; n0 < ne; n0 += ENC_G) {
        int t[ENC_G];
        float a[ENC_G], cur[ENC_G];
#pragma unroll
        for (int k = 0; k < ENC_G; k++) {
            t[k] = n0 + k < ne ? tk[n0 + k] : -1;
            a[k] = n0 + k < ne ? d[(size_t)(n0 + k) * C] : 0.0f;
        }
#pragma unroll
        for (int k = 1; k < ENC_G; k++) {
            bool merged = false;
#pragma unroll
            for (int j = 0; j < k; j++)
                if (!merged && t[k] >= 0 && t[j] == t[k]) {
                    a[j] += a[k];
                    merged = true;
                }
            if (merged) t[k] = -1;
        }
#pragma unroll
        for (int k = 0; k < ENC_G; k++)
            if (t[k] >= 0) cur[k] = pw[(size_t)t[k] * C];
#pragma unroll
        for (int k = 0; k < ENC_G; k++)
            if (t[k] >= 0) pw[(size_t)t[k] * C] = cur[k] + a[k];
    }
}

__global__ void encoder_bwd_final_k(float *dwte, size_t ws, const float *part, int R, int V, int C,
                                    int S) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x; // over R*V*C
    if (i >= (long)R * V * C) return;
    long vc = i % ((long)V * C);
    int r = (int)(i / ((long)V * C));
    float acc = 0.0f;
    for (int sg = 0; sg < S; sg++) acc += part[((size_t)sg * R + r) * V * C + vc];
    dwte[(size_t)r * ws + vc] += acc;
}

static void encoder_bwd(ds_backend *be, float *dwte, size_t ws, const float *dout,
                        const int32_t *tok, int R, int N, int C) {
    OP_TIME(1);
    if (!R || !N || !C) return;
    int32_t *dmax = (int32_t *)scratch(be, sizeof(int32_t)), vmax = 0;
    max_token_k<<<1, 256, 0, ST(be)>>>(dmax, tok, (long)R * N);
    CK_LAUNCH();
    CK(cudaMemcpyAsync(&vmax, dmax, sizeof vmax, cudaMemcpyDeviceToHost, ST(be)));
    CK(cudaStreamSynchronize(ST(be)));
    int V = vmax + 1;
    long lanes = (long)R * C;
    // S from C and N only, never from R: a replica's order of additions is
    // the same alone and in a pack
    int S = 4096 / C;
    S = S < 1 ? 1 : S > 64 ? 64 : S;
    S = S > N ? N : S;
    int seglen = (int)cdiv(N, S);
    S = (int)cdiv(N, seglen);
    size_t pn = (size_t)S * R * V * C;
    float *part = (float *)scratch(be, sizeof(float) * pn);
    CK(cudaMemsetAsync(part, 0, sizeof(float) * pn, ST(be)));
    encoder_bwd_partial_k<<<cdiv((size_t)S * lanes, 128), 128, 0, ST(be)>>>(part, dout, tok, R, N,
                                                                            C, V, S, seglen);
    CK_LAUNCH();
    encoder_bwd_final_k<<<cdiv((size_t)R * V * C, 256), 256, 0, ST(be)>>>(dwte, ws, part, R, V, C,
                                                                          S);
    CK_LAUNCH();
}

// ---------------------------------------------------------------------------
// column sums (bias and LayerNorm weight gradients), two fixed-order stages:
// stage 1: partial[r][chunk][c] = float sum over the chunk's rows in order;
// stage 2: dst[r*ws + c] += (float) double sum of the partials in chunk order.

enum { COL_ROWS = 64 }; // rows per stage-1 chunk

// mode 0: partial = sum dout. mode 1 (LayerNorm): partial0 = sum dout*xhat,
// partial1 = sum dout.
template <int MODE>
__global__ void colsum_partial_k(float *part0, float *part1, const float *dout, const float *inp,
                                 const float *mean, const float *rstd, int N, int C, int nch) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    int ch = blockIdx.y, r = blockIdx.z;
    if (c >= C) return;
    int n0 = ch * COL_ROWS, n1 = min(N, n0 + COL_ROWS);
    float a0 = 0.0f, a1 = 0.0f;
    for (int n = n0; n < n1; n++) {
        size_t i = (size_t)r * N + n;
        float g = dout[i * C + c];
        if (MODE == 1) {
            float xh = (inp[i * C + c] - mean[i]) * rstd[i];
            a0 += g * xh;
            a1 += g;
        } else {
            a0 += g;
        }
    }
    size_t o = ((size_t)r * nch + ch) * C + c;
    part0[o] = a0;
    if (MODE == 1) part1[o] = a1;
}

__global__ void colsum_final_k(float *dst, size_t ws, const float *part, int R, int C, int nch) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long)R * C) return;
    int r = (int)(i / C), c = (int)(i % C);
    double s = 0.0;
    for (int ch = 0; ch < nch; ch++) s += part[((size_t)r * nch + ch) * C + c];
    dst[(size_t)r * ws + c] += (float)s;
}

// ---------------------------------------------------------------------------
// LayerNorm: one warp per row, lanes over channels, butterfly sums

__global__ void layernorm_fwd_k(float *out, float *mean, float *rstd, const float *inp,
                                const float *w, const float *b, size_t ws, int R, int N, int C,
                                float eps) {
    long row = (long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= (long)R * N) return;
    int r = (int)(row / N);
    const float *x = inp + row * C, *wr = w + (size_t)r * ws, *br = b + (size_t)r * ws;
    float s = 0.0f;
    for (int c = lane; c < C; c += 32) s += x[c];
    float m = warp_sum(s) / C;
    float v = 0.0f;
    for (int c = lane; c < C; c += 32) v += (x[c] - m) * (x[c] - m);
    float var = warp_sum(v) / C;
    float rs = 1.0f / sqrtf(var + eps);
    float *y = out + row * C;
    for (int c = lane; c < C; c += 32) y[c] = (x[c] - m) * rs * wr[c] + br[c];
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = rs;
    }
}

static void layernorm_fwd(ds_backend *be, float *out, float *mean, float *rstd, const float *inp,
                          const float *w, const float *b, size_t ws, int R, int N, int C,
                          float eps) {
    OP_TIME(2);
    long rows = (long)R * N;
    if (!rows) return;
    layernorm_fwd_k<<<cdiv(rows, 8), 256, 0, ST(be)>>>(out, mean, rstd, inp, w, b, ws, R, N, C,
                                                      eps);
    CK_LAUNCH();
}

__global__ void layernorm_bwd_dinp_k(float *dinp, const float *dout, const float *inp,
                                     const float *w, const float *mean, const float *rstd,
                                     size_t ws, int R, int N, int C) {
    long row = (long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= (long)R * N) return;
    int r = (int)(row / N);
    const float *x = inp + row * C, *g = dout + row * C, *wr = w + (size_t)r * ws;
    float m = mean[row], rs = rstd[row];
    float ag = 0.0f, agx = 0.0f;
    for (int c = lane; c < C; c += 32) {
        float xh = (x[c] - m) * rs, dxh = g[c] * wr[c];
        ag += dxh;
        agx += dxh * xh;
    }
    float mg = warp_sum(ag) / C, mgx = warp_sum(agx) / C;
    float *dx = dinp + row * C;
    for (int c = lane; c < C; c += 32) {
        float xh = (x[c] - m) * rs, dxh = g[c] * wr[c];
        dx[c] += (dxh - mg - xh * mgx) * rs;
    }
}

static void layernorm_bwd(ds_backend *be, float *dinp, float *dw, float *db, size_t ws,
                          const float *dout, const float *inp, const float *w, const float *mean,
                          const float *rstd, int R, int N, int C) {
    OP_TIME(3);
    long rows = (long)R * N;
    if (!rows) return;
    layernorm_bwd_dinp_k<<<cdiv(rows, 8), 256, 0, ST(be)>>>(dinp, dout, inp, w, mean, rstd, ws, R,
                                                           N, C);
    CK_LAUNCH();
    int nch = (int)cdiv(N, COL_ROWS);
    size_t pn = (size_t)R * nch * C;
    float *part = (float *)scratch(be, 2 * pn * sizeof(float));
    dim3 grid(cdiv(C, 64), nch, R);
    colsum_partial_k<1><<<grid, 64, 0, ST(be)>>>(part, part + pn, dout, inp, mean, rstd, N, C, nch);
    CK_LAUNCH();
    colsum_final_k<<<cdiv((size_t)R * C, 128), 128, 0, ST(be)>>>(dw, ws, part, R, C, nch);
    CK_LAUNCH();
    colsum_final_k<<<cdiv((size_t)R * C, 128), 128, 0, ST(be)>>>(db, ws, part + pn, R, C, nch);
    CK_LAUNCH();
}

// ---------------------------------------------------------------------------
// linear layers: cuBLAS is column-major, so a row-major [N][C] matrix is its
// [C][N] column-major transpose (the llm.c formulation), strided over R.

// Lt descriptors of one call (cheap host objects, made per call).
typedef struct {
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
} lt_descs;

static void lt_descs_make(cuda_impl *im, lt_descs *d, cublasOperation_t opa, cublasOperation_t opb,
                          int m, int n, int k, int lda, long long sa, int ldb, long long sb, int ldc,
                          long long sc, int batch) {
    CKB(cublasLtMatmulDescCreate(&d->op, im->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F,
                                 CUDA_R_32F));
    CKB(cublasLtMatmulDescSetAttribute(d->op, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa));
    CKB(cublasLtMatmulDescSetAttribute(d->op, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb));
    CKB(cublasLtMatrixLayoutCreate(&d->a, CUDA_R_32F, opa == CUBLAS_OP_N ? m : k,
                                   opa == CUBLAS_OP_N ? k : m, lda));
    CKB(cublasLtMatrixLayoutCreate(&d->b, CUDA_R_32F, opb == CUBLAS_OP_N ? k : n,
                                   opb == CUBLAS_OP_N ? n : k, ldb));
    CKB(cublasLtMatrixLayoutCreate(&d->c, CUDA_R_32F, m, n, ldc));
    cublasLtMatrixLayout_t L[3] = {d->a, d->b, d->c};
    long long st[3] = {sa, sb, sc};
    for (int i = 0; i < 3; i++) {
        CKB(cublasLtMatrixLayoutSetAttribute(L[i], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch,
                                             sizeof batch));
        int64_t s64 = st[i];
        CKB(cublasLtMatrixLayoutSetAttribute(L[i], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                             &s64, sizeof s64));
    }
}
static void lt_descs_free(lt_descs *d) {
    cublasLtMatrixLayoutDestroy(d->a);
    cublasLtMatrixLayoutDestroy(d->b);
    cublasLtMatrixLayoutDestroy(d->c);
    cublasLtMatmulDescDestroy(d->op);
}

enum { LT_MAX_WS = 32 << 20 }; // workspace the heuristic may ask for, per matrix

// Largest power of two <= 16 dividing both the address and the stride in bytes.
static int align_of(const void *p, long long stride) {
    uintptr_t x = (uintptr_t)p | (uintptr_t)(stride * 4);
    int a = 16;
    while (a > 4 && (x & (uintptr_t)(a - 1))) a >>= 1;
    return a;
}

static const gemm_plan *gemm_plan_for(cuda_impl *im, cublasOperation_t opa, cublasOperation_t opb,
                                      int m, int n, int k, int lda, long long sa, int ldb,
                                      long long sb, int ldc, long long sc, const int align[3]) {
    for (int i = 0; i < im->nplans; i++) {
        const gemm_plan *p = &im->plans[i];
        if (p->opa == opa && p->opb == opb && p->m == m && p->n == n && p->k == k &&
            p->lda == lda && p->ldb == ldb && p->ldc == ldc && p->align[0] == align[0] &&
            p->align[1] == align[1] && p->align[2] == align[2])
            return p;
    }
    DS_ASSERT(im->nplans < MAX_PLANS);
    gemm_plan *p = &im->plans[im->nplans];
    lt_descs d;
    lt_descs_make(im, &d, opa, opb, m, n, k, lda, sa, ldb, sb, ldc, sc, 2); // a batched algorithm
    cublasLtMatmulPreference_t pref;
    CKB(cublasLtMatmulPreferenceCreate(&pref));
    size_t maxws = LT_MAX_WS;
    uint32_t al[4] = {(uint32_t)align[0], (uint32_t)align[1], (uint32_t)align[2], (uint32_t)align[2]};
    CKB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &maxws,
                                             sizeof maxws));
    CKB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al[0],
                                             sizeof al[0]));
    CKB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al[1],
                                             sizeof al[1]));
    CKB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al[2],
                                             sizeof al[2]));
    CKB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al[3],
                                             sizeof al[3]));
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    CKB(cublasLtMatmulAlgoGetHeuristic(im->lt, d.op, d.a, d.b, d.c, d.c, pref, 1, &res, &found));
    if (!found)
        ds_die(DS_EXIT_ERROR, "%s:%d: cuBLASLt has no algorithm for a %dx%dx%d fp32 GEMM", __FILE__,
               __LINE__, m, n, k);
    cublasLtMatmulPreferenceDestroy(pref);
    lt_descs_free(&d);
    p->opa = opa; p->opb = opb; p->m = m; p->n = n; p->k = k;
    p->lda = lda; p->ldb = ldb; p->ldc = ldc;
    for (int i = 0; i < 3; i++) p->align[i] = align[i];
    p->algo = res.algo;
    p->ws = res.workspaceSize; // for a batch of 2
    im->nplans++;
    return p;
}

// C[b] = alpha op(A[b]) op(B[b]) + beta C[b] for b < batch (column-major, as
// cuBLAS), with the batch-of-one algorithm of the shape.
static void gemm(ds_backend *be, cublasOperation_t opa, cublasOperation_t opb, int m, int n, int k,
                 const float *A, int lda, long long sa, const float *B, int ldb, long long sb,
                 float beta, float *C, int ldc, long long sc, int batch) {
    cuda_impl *im = IM(be);
    int align[3] = {align_of(A, sa), align_of(B, sb), align_of(C, sc)};
    const gemm_plan *p = gemm_plan_for(im, opa, opb, m, n, k, lda, sa, ldb, sb, ldc, sc, align);
    // a split-K workspace holds every matrix's partials (p->ws is for two)
    size_t ws = (p->ws + 1) / 2 * (size_t)(batch < 2 ? 2 : batch);
    if (ws > im->lt_ws_bytes) {
        if (im->lt_ws) CK(cudaFree(im->lt_ws));
        im->lt_ws = NULL;
        CK(cudaMalloc(&im->lt_ws, ws));
        im->lt_ws_bytes = ws;
    }
    lt_descs d;
    lt_descs_make(im, &d, opa, opb, m, n, k, lda, sa, ldb, sb, ldc, sc, batch);
    const float one = 1.0f;
    cublasStatus_t st = cublasLtMatmul(im->lt, d.op, &one, A, d.a, B, d.b, &beta, C, d.c, C, d.c,
                                       &p->algo, im->lt_ws, ws, ST(be));
    if (st == CUBLAS_STATUS_NOT_SUPPORTED) {
        // The batch-of-one algorithm refuses this batch: let cuBLAS choose for
        // the batch (still deterministic run to run, but a replica's bits may
        // then depend on R). Said once per backend.
        if (!im->warned_batch) {
            fprintf(stderr, "distsweep: cuda: the %dx%dx%d GEMM algorithm of a single replica does "
                            "not run batched (%d); replicas of this pack may differ in the last bits "
                            "from the same seeds run alone\n", m, n, k, batch);
            im->warned_batch = 1;
        }
        cublasLtMatmulPreference_t pref;
        CKB(cublasLtMatmulPreferenceCreate(&pref));
        size_t maxws = im->lt_ws_bytes;
        CKB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                 &maxws, sizeof maxws));
        cublasLtMatmulHeuristicResult_t res;
        int found = 0;
        CKB(cublasLtMatmulAlgoGetHeuristic(im->lt, d.op, d.a, d.b, d.c, d.c, pref, 1, &res, &found));
        cublasLtMatmulPreferenceDestroy(pref);
        DS_ASSERT(found);
        st = cublasLtMatmul(im->lt, d.op, &one, A, d.a, B, d.b, &beta, C, d.c, C, d.c, &res.algo,
                            im->lt_ws, im->lt_ws_bytes, ST(be));
    }
    CKB(st);
    lt_descs_free(&d);
}

__global__ void bias_add_k(float *out, const float *b, size_t ws, int N, int OC, long total) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int o = (int)(i % OC);
    int r = (int)(i / ((long)N * OC));
    out[i] += b[(size_t)r * ws + o];
}

static void matmul_fwd(ds_backend *be, float *out, const float *inp, const float *w,
                       const float *b, size_t ws, int R, int N, int C, int OC) {
    OP_TIME(4);
    if (!R || !N) return;
    // out^T [OC][N] = W [OC][C] (col-major view of row-major W^T) x inp^T [C][N]
    gemm(be, CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, w, C, (long long)ws, inp, C, (long long)N * C,
         0.0f, out, OC, (long long)N * OC, R);
    if (b) {
        long total = (long)R * N * OC;
        bias_add_k<<<cdiv(total, 256), 256, 0, ST(be)>>>(out, b, ws, N, OC, total);
        CK_LAUNCH();
    }
}

// Row split of a weight gradient over N rows: a lone replica's dW is an
// OC x C output with a long reduction (N = 32,640 in the count sweep), which
// a GEMM without split-K runs on a handful of blocks. nk equal chunks of
// kc = N/nk >= 256 rows (nk divides N, nk <= 64, nk * OC * C <= 4M floats)
// give nk independent products; their sum in chunk order is the gradient.
// nk depends on N and the weight's size only, never on R.
static int dw_split(int N, size_t E) {
    if (N < 2048) return 1;
    size_t maxnk = ((size_t)4 << 20) / E;
    int lim = maxnk < 64 ? (int)maxnk : 64;
    for (int nk = lim; nk >= 2; nk--)
        if (N % nk == 0 && N / nk >= 256) return nk;
    return 1;
}

__global__ void dw_sum_k(float *dw, size_t ws, const float *part, int R, int nk, size_t E) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; // over R*E
    if (i >= E * R) return;
    size_t r = i / E, e = i % E;
    const float *p = part + r * nk * E + e;
    float acc = p[0];
    for (int k = 1; k < nk; k++) acc += p[(size_t)k * E];
    dw[r * ws + e] += acc;
}

static void matmul_bwd(ds_backend *be, float *dinp, float *dw, float *db, size_t ws,
                       const float *dout, const float *inp, const float *w, int R, int N, int C,
                       int OC) {
    OP_TIME(5);
    if (!R || !N) return;
    if (dinp) // dinp^T [C][N] = W^T x dout^T
        gemm(be, CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, w, C, (long long)ws, dout, OC,
             (long long)N * OC, 0.0f, dinp, C, (long long)N * C, R);
    // dW^T [C][OC] += inp^T [C][N] x dout [N][OC]
    size_t E = (size_t)OC * C;
    int nk = dw_split(N, E);
    if (nk > 1) {
        // nk partial products over equal row chunks (kc*nk == N, so one stride
        // walks both the chunks and the replicas), then added in chunk order
        int kc = N / nk;
        float *part = (float *)scratch(be, sizeof(float) * E * nk * R);
        gemm(be, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, kc, inp, C, (long long)kc * C, dout, OC,
             (long long)kc * OC, 0.0f, part, C, (long long)E, R * nk);
        dw_sum_k<<<cdiv(E * R, 256), 256, 0, ST(be)>>>(dw, ws, part, R, nk, E);
        CK_LAUNCH();
    } else {
        gemm(be, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, inp, C, (long long)N * C, dout, OC,
             (long long)N * OC, 1.0f, dw, C, (long long)ws, R);
    }
    if (db) {
        int nch = (int)cdiv(N, COL_ROWS);
        float *part = (float *)scratch(be, (size_t)R * nch * OC * sizeof(float));
        dim3 grid(cdiv(OC, 64), nch, R);
        colsum_partial_k<0><<<grid, 64, 0, ST(be)>>>(part, NULL, dout, NULL, NULL, NULL, N, OC, nch);
        CK_LAUNCH();
        colsum_final_k<<<cdiv((size_t)R * OC, 128), 128, 0, ST(be)>>>(db, ws, part, R, OC, nch);
        CK_LAUNCH();
    }
}

// ---------------------------------------------------------------------------
// rotary embedding: one thread per (row, part, head, pair j). The angle is
// computed in double and rounded once, as the CPU's table.

__global__ void rope_k(float *qkv, int T, int H, int hd, int rot, float base, float sign,
                       long total) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x; // over R*B*T * 2 * H * half
    if (i >= total) return;
    int half = rot / 2, C = H * hd;
    int j = (int)(i % half);
    long rest = i / half;
    int h = (int)(rest % H);
    rest /= H;
    int part = (int)(rest % 2);
    long row = rest / 2;
    int t = (int)(row % T);
    double ang = t * pow((double)base, -2.0 * j / rot);
    float c = (float)cos(ang), s = sign * (float)sin(ang);
    float *x = qkv + row * 3 * C + part * C + h * hd;
    float a = x[j], bb = x[j + half];
    x[j] = a * c - bb * s;
    x[j + half] = bb * c + a * s;
}

static void rope_apply(ds_backend *be, float *qkv, int R, int B, int T, int H, int hd, int rot,
                       float base, float sign) {
    if (rot <= 0) return;
    long total = (long)R * B * T * 2 * H * (rot / 2);
    if (!total) return;
    rope_k<<<cdiv(total, 256), 256, 0, ST(be)>>>(qkv, T, H, hd, rot, base, sign, total);
    CK_LAUNCH();
}
static void rope_fwd(ds_backend *be, float *qkv, int R, int B, int T, int H, int hd, int rot,
                     float base) {
    OP_TIME(6);
    rope_apply(be, qkv, R, B, T, H, hd, rot, base, 1.0f);
}
static void rope_bwd(ds_backend *be, float *dqkv, int R, int B, int T, int H, int hd, int rot,
                     float base) {
    OP_TIME(7);
    rope_apply(be, dqkv, R, B, T, H, hd, rot, base, -1.0f);
}

// ---------------------------------------------------------------------------
// causal attention: one warp per (replica, batch row, head, query row i).
// Lanes own keys j = lane, lane+32, ... <= i for the scores; then lanes own
// output dims and sum over keys in increasing j. Shared memory holds the
// warp's probability row [T] and its query [hd].

enum { ATT_WARPS = 4 };

__global__ void attention_fwd_k(float *out, float *lse, const float *qkv, int B, int T, int H,
                                int hd, float scale, long rows) {
    extern __shared__ float sm[];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    long g = (long)blockIdx.x * ATT_WARPS + warp; // (r*B + b)*H*T + h*T + i
    float *p = sm + (size_t)warp * (T + hd), *qs = p + T;
    if (g >= rows) return;
    int i = (int)(g % T);
    long bh = g / T;
    int h = (int)(bh % H);
    long rb = bh / H;
    int C = H * hd;
    const float *base = qkv + rb * T * 3 * C;
    const float *q = base + (size_t)i * 3 * C + h * hd, *k = base + C + h * hd,
                *v = base + 2 * C + h * hd;
    for (int d = lane; d < hd; d += 32) qs[d] = q[d];
    __syncwarp();
    float mx = -INFINITY;
    for (int j = lane; j <= i; j += 32) {
        const float *kj = k + (size_t)j * 3 * C;
        float s = 0.0f;
        for (int d = 0; d < hd; d++) s += qs[d] * kj[d];
        s *= scale;
        p[j] = s;
        mx = fmaxf(mx, s);
    }
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int j = lane; j <= i; j += 32) {
        float e = expf(p[j] - mx);
        p[j] = e;
        sum += e;
    }
    sum = warp_sum(sum);
    __syncwarp();
    float inv = 1.0f / sum;
    float *o = out + (rb * T + i) * C + h * hd;
    for (int d = lane; d < hd; d += 32) {
        float acc = 0.0f;
        for (int j = 0; j <= i; j++) acc += p[j] * v[(size_t)j * 3 * C + d];
        o[d] = acc * inv;
    }
    if (lane == 0) lse[g] = mx + logf(sum);
}


// Tiled kernels (hd <= 32*ATT_U): a block of 4 warps owns ATT_QT = 16 rows
// of one (replica, batch row, head), each warp ATT_RW of them; the block
// stages 32-row tiles of the other side (K and V, or Q and dO) in shared
// memory (rows padded to hd+1 floats: a lane per row reads without bank
// conflicts), and lanes own output dims (d = lane + 32u). The forward is an
// online softmax over the key tiles. Every row's numbers depend only on its
// own (r, b, h): the same bits whatever R is.
enum { ATT_RW = 4, ATT_QT = 4 * ATT_RW, ATT_KT = 32, ATT_U = 4 };

__global__ void __launch_bounds__(128) attention_fwd_tiled_k(float *out, float *lse,
                                                             const float *qkv, int T, int H,
                                                             int hd, float scale, int nqt) {
    extern __shared__ float sm[];
    int ld = hd + 1, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    float *Ks = sm, *Vs = Ks + ATT_KT * ld, *Qs = Vs + ATT_KT * ld;
    int qt = (int)(blockIdx.x % nqt);
    long bh = blockIdx.x / nqt;
    int h = (int)(bh % H);
    long rb = bh / H;
    int C = H * hd, i0 = qt * ATT_QT;
    const float *base = qkv + rb * T * 3 * C + h * hd;
    for (int x = threadIdx.x; x < ATT_QT * hd; x += blockDim.x) {
        int rr = x / hd, d = x % hd, i = i0 + rr;
        Qs[x] = i < T ? base[(size_t)i * 3 * C + d] : 0.0f;
    }
    float m[ATT_RW], l[ATT_RW], acc[ATT_RW][ATT_U];
#pragma unroll
    for (int rr = 0; rr < ATT_RW; rr++) {
        m[rr] = -INFINITY;
        l[rr] = 0.0f;
#pragma unroll
        for (int u = 0; u < ATT_U; u++) acc[rr][u] = 0.0f;
    }
    int ilast = min(T, i0 + ATT_QT) - 1;
    for (int j0 = 0; j0 <= ilast; j0 += ATT_KT) {
        __syncthreads();
        for (int x = threadIdx.x; x < ATT_KT * hd; x += blockDim.x) {
            int jj = x / hd, d = x % hd, j = j0 + jj;
            Ks[jj * ld + d] = j < T ? base[(size_t)j * 3 * C + C + d] : 0.0f;
            Vs[jj * ld + d] = j < T ? base[(size_t)j * 3 * C + 2 * C + d] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int rr = 0; rr < ATT_RW; rr++) {
            int q = warp * ATT_RW + rr, i = i0 + q;
            if (i >= T || j0 > i) continue; // warp-uniform
            int j = j0 + lane;
            float s = -INFINITY;
            if (j <= i) {
                float a = 0.0f;
                for (int d = 0; d < hd; d++) a += Qs[q * hd + d] * Ks[lane * ld + d];
                s = a * scale;
            }
            float mnew = fmaxf(m[rr], warp_max(s));
            float p = j <= i ? expf(s - mnew) : 0.0f;
            float corr = expf(m[rr] - mnew);
            l[rr] = l[rr] * corr + warp_sum(p);
            m[rr] = mnew;
            int jn = min(ATT_KT, i - j0 + 1);
#pragma unroll
            for (int u = 0; u < ATT_U; u++) acc[rr][u] *= corr;
            for (int jj = 0; jj < jn; jj++) {
                float pj = __shfl_sync(0xffffffffu, p, jj);
#pragma unroll
                for (int u = 0; u < ATT_U; u++) {
                    int d = lane + 32 * u;
                    if (d < hd) acc[rr][u] += pj * Vs[jj * ld + d];
                }
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < ATT_RW; rr++) {
        int i = i0 + warp * ATT_RW + rr;
        if (i >= T) continue;
        float inv = 1.0f / l[rr];
        float *o = out + (rb * T + i) * C + h * hd;
#pragma unroll
        for (int u = 0; u < ATT_U; u++) {
            int d = lane + 32 * u;
            if (d < hd) o[d] = acc[rr][u] * inv;
        }
        if (lane == 0) lse[bh * T + i] = m[rr] + logf(l[rr]);
    }
}

// dq of ATT_QT query rows; saves D_i = dO_i . O_i for the key kernel.
__global__ void __launch_bounds__(128) attention_bwd_q_tiled_k(float *dqkv, float *Dsave,
                                                               const float *dout, const float *qkv,
                                                               const float *out, const float *lse,
                                                               int T, int H, int hd, float scale,
                                                               int nqt) {
    extern __shared__ float sm[];
    int ld = hd + 1, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    float *Ks = sm, *Vs = Ks + ATT_KT * ld, *Qs = Vs + ATT_KT * ld, *dOs = Qs + ATT_QT * hd;
    int qt = (int)(blockIdx.x % nqt);
    long bh = blockIdx.x / nqt;
    int h = (int)(bh % H);
    long rb = bh / H;
    int C = H * hd, i0 = qt * ATT_QT;
    const float *base = qkv + rb * T * 3 * C + h * hd;
    const float *dO = dout + rb * T * C + h * hd, *O = out + rb * T * C + h * hd;
    for (int x = threadIdx.x; x < ATT_QT * hd; x += blockDim.x) {
        int rr = x / hd, d = x % hd, i = i0 + rr;
        Qs[x] = i < T ? base[(size_t)i * 3 * C + d] : 0.0f;
        dOs[x] = i < T ? dO[(size_t)i * C + d] : 0.0f;
    }
    float D[ATT_RW], li[ATT_RW], acc[ATT_RW][ATT_U];
#pragma unroll
    for (int rr = 0; rr < ATT_RW; rr++) {
        int i = i0 + warp * ATT_RW + rr;
        float dd = 0.0f;
        if (i < T)
            for (int d = lane; d < hd; d += 32) dd += dO[(size_t)i * C + d] * O[(size_t)i * C + d];
        D[rr] = warp_sum(dd);
        li[rr] = i < T ? lse[bh * T + i] : 0.0f;
        if (i < T && lane == 0) Dsave[bh * T + i] = D[rr];
#pragma unroll
        for (int u = 0; u < ATT_U; u++) acc[rr][u] = 0.0f;
    }
    int ilast = min(T, i0 + ATT_QT) - 1;
    for (int j0 = 0; j0 <= ilast; j0 += ATT_KT) {
        __syncthreads();
        for (int x = threadIdx.x; x < ATT_KT * hd; x += blockDim.x) {
            int jj = x / hd, d = x % hd, j = j0 + jj;
            Ks[jj * ld + d] = j < T ? base[(size_t)j * 3 * C + C + d] : 0.0f;
            Vs[jj * ld + d] = j < T ? base[(size_t)j * 3 * C + 2 * C + d] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int rr = 0; rr < ATT_RW; rr++) {
            int q = warp * ATT_RW + rr, i = i0 + q;
            if (i >= T || j0 > i) continue;
            int j = j0 + lane;
            float ds = 0.0f;
            if (j <= i) {
                float a = 0.0f, dp = 0.0f;
                for (int d = 0; d < hd; d++) {
                    a += Qs[q * hd + d] * Ks[lane * ld + d];
                    dp += dOs[q * hd + d] * Vs[lane * ld + d];
                }
                float p = expf(a * scale - li[rr]);
                ds = p * (dp - D[rr]);
            }
            int jn = min(ATT_KT, i - j0 + 1);
            for (int jj = 0; jj < jn; jj++) {
                float dj = __shfl_sync(0xffffffffu, ds, jj);
#pragma unroll
                for (int u = 0; u < ATT_U; u++) {
                    int d = lane + 32 * u;
                    if (d < hd) acc[rr][u] += dj * Ks[jj * ld + d];
                }
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < ATT_RW; rr++) {
        int i = i0 + warp * ATT_RW + rr;
        if (i >= T) continue;
        float *dq = dqkv + (rb * T + i) * 3 * C + h * hd;
#pragma unroll
        for (int u = 0; u < ATT_U; u++) {
            int d = lane + 32 * u;
            if (d < hd) dq[d] = acc[rr][u] * scale;
        }
    }
}

// dk, dv of ATT_QT key rows, over the query tiles at and after them.
__global__ void __launch_bounds__(128) attention_bwd_kv_tiled_k(float *dqkv, const float *Dsave,
                                                                const float *dout,
                                                                const float *qkv, const float *lse,
                                                                int T, int H, int hd, float scale,
                                                                int nqt) {
    extern __shared__ float sm[];
    int ld = hd + 1, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    float *Qs = sm, *dOs = Qs + ATT_KT * ld, *Kk = dOs + ATT_KT * ld, *Vk = Kk + ATT_QT * hd;
    float *ls = Vk + ATT_QT * hd, *Ds = ls + ATT_KT;
    int kt = (int)(blockIdx.x % nqt);
    long bh = blockIdx.x / nqt;
    int h = (int)(bh % H);
    long rb = bh / H;
    int C = H * hd, j0 = kt * ATT_QT;
    const float *base = qkv + rb * T * 3 * C + h * hd;
    const float *dO = dout + rb * T * C + h * hd;
    for (int x = threadIdx.x; x < ATT_QT * hd; x += blockDim.x) {
        int rr = x / hd, d = x % hd, j = j0 + rr;
        Kk[x] = j < T ? base[(size_t)j * 3 * C + C + d] : 0.0f;
        Vk[x] = j < T ? base[(size_t)j * 3 * C + 2 * C + d] : 0.0f;
    }
    float dk[ATT_RW][ATT_U], dv[ATT_RW][ATT_U];
#pragma unroll
    for (int rr = 0; rr < ATT_RW; rr++)
#pragma unroll
        for (int u = 0; u < ATT_U; u++) dk[rr][u] = dv[rr][u] = 0.0f;
    for (int q0 = j0; q0 < T; q0 += ATT_KT) {
        __syncthreads();
        for (int x = threadIdx.x; x < ATT_KT * hd; x += blockDim.x) {
            int ii = x / hd, d = x % hd, i = q0 + ii;
            Qs[ii * ld + d] = i < T ? base[(size_t)i * 3 * C + d] : 0.0f;
            dOs[ii * ld + d] = i < T ? dO[(size_t)i * C + d] : 0.0f;
        }
        if (threadIdx.x < ATT_KT) {
            int i = q0 + threadIdx.x;
            ls[threadIdx.x] = i < T ? lse[bh * T + i] : 0.0f;
            Ds[threadIdx.x] = i < T ? Dsave[bh * T + i] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int rr = 0; rr < ATT_RW; rr++) {
            int kr = warp * ATT_RW + rr, j = j0 + kr;
            if (j >= T) continue; // warp-uniform; q0 <= j0 <= j, so the tile has rows i >= j
            int i = q0 + lane;
            float p = 0.0f, ds = 0.0f;
            if (i < T && i >= j) {
                float a = 0.0f, dp = 0.0f;
                for (int d = 0; d < hd; d++) {
                    a += Qs[lane * ld + d] * Kk[kr * hd + d];
                    dp += dOs[lane * ld + d] * Vk[kr * hd + d];
                }
                p = expf(a * scale - ls[lane]);
                ds = p * (dp - Ds[lane]);
            }
            int ia = max(0, j - q0), ib = min(ATT_KT, T - q0);
            for (int ii = ia; ii < ib; ii++) {
                float pi = __shfl_sync(0xffffffffu, p, ii), di = __shfl_sync(0xffffffffu, ds, ii);
#pragma unroll
                for (int u = 0; u < ATT_U; u++) {
                    int d = lane + 32 * u;
                    if (d < hd) {
                        dv[rr][u] += pi * dOs[ii * ld + d];
                        dk[rr][u] += di * Qs[ii * ld + d];
                    }
                }
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < ATT_RW; rr++) {
        int j = j0 + warp * ATT_RW + rr;
        if (j >= T) continue;
        float *dkp = dqkv + (rb * T + j) * 3 * C + C + h * hd, *dvp = dkp + C;
#pragma unroll
        for (int u = 0; u < ATT_U; u++) {
            int d = lane + 32 * u;
            if (d < hd) {
                dkp[d] = dk[rr][u] * scale;
                dvp[d] = dv[rr][u];
            }
        }
    }
}

static void set_smem(const void *f, size_t bytes) {
    if (bytes > 48 * 1024)
        CK(cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
}

static void attention_fwd(ds_backend *be, float *out, float *lse, const float *qkv, int R, int B,
                          int T, int H, int hd) {
    OP_TIME(8);
    long rows = (long)R * B * H * T;
    if (!rows) return;
    float scale = 1.0f / sqrtf((float)hd);
    if (hd <= 32 * ATT_U) {
        int nqt = (int)cdiv(T, ATT_QT);
        size_t smem = sizeof(float) * (2 * ATT_KT * (size_t)(hd + 1) + ATT_QT * (size_t)hd);
        set_smem((const void *)attention_fwd_tiled_k, smem);
        attention_fwd_tiled_k<<<(unsigned)((long)R * B * H * nqt), 128, smem, ST(be)>>>(
            out, lse, qkv, T, H, hd, scale, nqt);
        CK_LAUNCH();
        return;
    }
    // wide heads: one warp per query row
    size_t smem = sizeof(float) * ATT_WARPS * (size_t)(T + hd);
    set_smem((const void *)attention_fwd_k, smem);
    attention_fwd_k<<<cdiv(rows, ATT_WARPS), 32 * ATT_WARPS, smem, ST(be)>>>(out, lse, qkv, B, T, H,
                                                                           hd, scale, rows);
    CK_LAUNCH();
}

// Backward, two kernels (no atomics: each output row has one owner).
// (a) per query row i: D_i = dO_i . O_i (saved for (b)), dS_ij = P_ij (dO_i.v_j - D_i),
//     dq_i = scale sum_j dS_ij k_j.
// (b) per key row j: recompute P_ij and dS_ij for i >= j,
//     dv_j = sum_i P_ij dO_i, dk_j = scale sum_i dS_ij q_i.
__global__ void attention_bwd_q_k(float *dqkv, float *Dsave, const float *dout, const float *qkv,
                                  const float *out, const float *lse, int B, int T, int H, int hd,
                                  float scale, long rows) {
    extern __shared__ float sm[];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    long g = (long)blockIdx.x * ATT_WARPS + warp;
    float *ds = sm + (size_t)warp * (T + 2 * hd), *qs = ds + T, *dos = qs + hd;
    if (g >= rows) return;
    int i = (int)(g % T);
    long bh = g / T;
    int h = (int)(bh % H);
    long rb = bh / H;
    int C = H * hd;
    const float *base = qkv + rb * T * 3 * C;
    const float *k = base + C + h * hd, *v = base + 2 * C + h * hd;
    const float *dOi = dout + (rb * T + i) * C + h * hd, *Oi = out + (rb * T + i) * C + h * hd;
    float dd = 0.0f;
    for (int d = lane; d < hd; d += 32) {
        qs[d] = base[(size_t)i * 3 * C + h * hd + d];
        dos[d] = dOi[d];
        dd += dOi[d] * Oi[d];
    }
    float D = warp_sum(dd);
    __syncwarp();
    float li = lse[g];
    for (int j = lane; j <= i; j += 32) {
        const float *kj = k + (size_t)j * 3 * C, *vj = v + (size_t)j * 3 * C;
        float s = 0.0f, dp = 0.0f;
        for (int d = 0; d < hd; d++) {
            s += qs[d] * kj[d];
            dp += dos[d] * vj[d];
        }
        float pr = expf(s * scale - li);
        ds[j] = pr * (dp - D);
    }
    __syncwarp();
    float *dq = dqkv + (rb * T + i) * 3 * C + h * hd;
    for (int d = lane; d < hd; d += 32) {
        float acc = 0.0f;
        for (int j = 0; j <= i; j++) acc += ds[j] * k[(size_t)j * 3 * C + d];
        dq[d] = acc * scale;
    }
    if (lane == 0) Dsave[g] = D;
}

__global__ void attention_bwd_kv_k(float *dqkv, const float *Dsave, const float *dout,
                                   const float *qkv, const float *lse, int B, int T, int H, int hd,
                                   float scale, long rows) {
    extern __shared__ float sm[];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    long g = (long)blockIdx.x * ATT_WARPS + warp; // key row j of (rb, h)
    float *pp = sm + (size_t)warp * (2 * T + 2 * hd), *ds = pp + T, *ks = ds + T, *vs = ks + hd;
    if (g >= rows) return;
    int j = (int)(g % T);
    long bh = g / T;
    int h = (int)(bh % H);
    long rb = bh / H;
    int C = H * hd;
    const float *base = qkv + rb * T * 3 * C;
    const float *q = base + h * hd;
    const float *dO = dout + rb * T * C + h * hd;
    const float *l = lse + bh * T, *Dv = Dsave + bh * T;
    for (int d = lane; d < hd; d += 32) {
        ks[d] = base[(size_t)j * 3 * C + C + h * hd + d];
        vs[d] = base[(size_t)j * 3 * C + 2 * C + h * hd + d];
    }
    __syncwarp();
    for (int i = j + lane; i < T; i += 32) {
        const float *qi = q + (size_t)i * 3 * C, *dOi = dO + (size_t)i * C;
        float s = 0.0f, dp = 0.0f;
        for (int d = 0; d < hd; d++) {
            s += qi[d] * ks[d];
            dp += dOi[d] * vs[d];
        }
        float pr = expf(s * scale - l[i]);
        pp[i] = pr;
        ds[i] = pr * (dp - Dv[i]);
    }
    __syncwarp();
    float *dk = dqkv + (rb * T + j) * 3 * C + C + h * hd, *dv = dk + C;
    for (int d = lane; d < hd; d += 32) {
        float ak = 0.0f, av = 0.0f;
        for (int i = j; i < T; i++) {
            ak += ds[i] * q[(size_t)i * 3 * C + d];
            av += pp[i] * dO[(size_t)i * C + d];
        }
        dk[d] = ak * scale;
        dv[d] = av;
    }
}

static void attention_bwd(ds_backend *be, float *dqkv, const float *dout, const float *qkv,
                          const float *out, const float *lse, int R, int B, int T, int H, int hd) {
    OP_TIME(9);
    long rows = (long)R * B * H * T;
    if (!rows) return;
    float scale = 1.0f / sqrtf((float)hd);
    float *Dsave = (float *)scratch(be, sizeof(float) * (size_t)rows);
    if (hd <= 32 * ATT_U) {
        int nqt = (int)cdiv(T, ATT_QT);
        unsigned grid = (unsigned)((long)R * B * H * nqt);
        size_t smq = sizeof(float) * (2 * ATT_KT * (size_t)(hd + 1) + 2 * ATT_QT * (size_t)hd);
        size_t smkv = smq + sizeof(float) * 2 * ATT_KT;
        set_smem((const void *)attention_bwd_q_tiled_k, smq);
        set_smem((const void *)attention_bwd_kv_tiled_k, smkv);
        attention_bwd_q_tiled_k<<<grid, 128, smq, ST(be)>>>(dqkv, Dsave, dout, qkv, out, lse, T, H,
                                                           hd, scale, nqt);
        CK_LAUNCH();
        attention_bwd_kv_tiled_k<<<grid, 128, smkv, ST(be)>>>(dqkv, Dsave, dout, qkv, lse, T, H, hd,
                                                             scale, nqt);
        CK_LAUNCH();
        return;
    }
    // wide heads: one warp per query row, then one per key row
    size_t smq = sizeof(float) * ATT_WARPS * (size_t)(T + 2 * hd);
    size_t smkv = sizeof(float) * ATT_WARPS * (size_t)(2 * T + 2 * hd);
    set_smem((const void *)attention_bwd_q_k, smq);
    set_smem((const void *)attention_bwd_kv_k, smkv);
    unsigned grid = cdiv(rows, ATT_WARPS);
    attention_bwd_q_k<<<grid, 32 * ATT_WARPS, smq, ST(be)>>>(dqkv, Dsave, dout, qkv, out, lse, B,
                                                             T, H, hd, scale, rows);
    CK_LAUNCH();
    attention_bwd_kv_k<<<grid, 32 * ATT_WARPS, smkv, ST(be)>>>(dqkv, Dsave, dout, qkv, lse, B, T,
                                                               H, hd, scale, rows);
    CK_LAUNCH();
}

// ---------------------------------------------------------------------------
// GELU (exact, erf) and residual add

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT2PI 0.39894228040143267794f

__global__ void gelu_fwd_k(float *out, const float *inp, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float x = inp[i];
    out[i] = 0.5f * x * (1.0f + erff(x * INV_SQRT2));
}
__global__ void gelu_bwd_k(float *dinp, const float *inp, const float *dout, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float x = inp[i], u = x * INV_SQRT2;
    float g = 0.5f * (1.0f + erff(u)) + x * INV_SQRT2PI * expf(-u * u);
    dinp[i] = g * dout[i];
}
__global__ void add_k(float *out, const float *a, const float *b, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = a[i] + b[i];
}

static void gelu_fwd(ds_backend *be, float *out, const float *inp, size_t n) {
    OP_TIME(10);
    if (!n) return;
    gelu_fwd_k<<<cdiv(n, 256), 256, 0, ST(be)>>>(out, inp, n);
    CK_LAUNCH();
}
static void gelu_bwd(ds_backend *be, float *dinp, const float *inp, const float *dout, size_t n) {
    OP_TIME(11);
    if (!n) return;
    gelu_bwd_k<<<cdiv(n, 256), 256, 0, ST(be)>>>(dinp, inp, dout, n);
    CK_LAUNCH();
}
static void add(ds_backend *be, float *out, const float *a, const float *b, size_t n) {
    OP_TIME(12);
    if (!n) return;
    add_k<<<cdiv(n, 256), 256, 0, ST(be)>>>(out, a, b, n);
    CK_LAUNCH();
}

// ---------------------------------------------------------------------------
// softmax cross-entropy: one warp per row; log-sum-exp in double as the CPU

__device__ double row_lse_warp(const float *x, int V, int lane) {
    float mx = -INFINITY;
    for (int j = lane; j < V; j += 32) mx = fmaxf(mx, x[j]);
    mx = warp_max(mx);
    // fmaxf drops NaN; the CPU's loop keeps x[0] if it is NaN. A NaN anywhere
    // makes the double sum NaN below either way.
    double s = 0.0;
    for (int j = lane; j < V; j += 32) s += exp((double)x[j] - mx);
    s = warp_sum_d(s);
    return mx + log(s);
}

__global__ void crossentropy_fwd_k(float *loss, const float *logits, const int32_t *tgt, long rows,
                                   int V) {
    long row = (long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= rows) return;
    const float *x = logits + row * V;
    double l = row_lse_warp(x, V, lane);
    if (lane == 0) loss[row] = (float)(l - x[tgt[row]]);
}

// dlogits may alias logits: every lane has finished reading the row (the
// shuffles of the reduction order it) before any lane writes its own entries.
__global__ void crossentropy_bwd_k(float *dlogits, const float *logits, const int32_t *tgt,
                                   const float *weight, long rows, int V) {
    long row = (long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= rows) return;
    const float *x = logits + row * V;
    float *dx = dlogits + row * V;
    double l = row_lse_warp(x, V, lane);
    float w = weight[row];
    int t = tgt[row];
    for (int j = lane; j < V; j += 32) {
        float p = (float)exp((double)x[j] - l);
        dx[j] = (p - (j == t ? 1.0f : 0.0f)) * w;
    }
}

__global__ void token_stats_k(float *ce, float *pcorrect, float *correct, const float *logits,
                              const int32_t *tgt, long rows, int V) {
    long row = (long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= rows) return;
    const float *x = logits + row * V;
    double l = row_lse_warp(x, V, lane);
    // first argmax over the non-NaN entries (the CPU's strict '>' scan)
    float bv = 0.0f;
    int bi = -1;
    for (int j = lane; j < V; j += 32) {
        float xv = x[j];
        if (xv == xv && (bi < 0 || xv > bv)) {
            bv = xv;
            bi = j;
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (oi >= 0 && (bi < 0 || ov > bv || (ov == bv && oi < bi))) {
            bv = ov;
            bi = oi;
        }
    }
    if (lane == 0) {
        int t = tgt[row];
        float x0 = x[0];
        int am = (x0 != x0 || bi < 0) ? 0 : bi; // the CPU's scan starts at x[0] and never leaves a NaN
        ce[row] = (float)(l - x[t]);
        pcorrect[row] = (float)exp((double)x[t] - l);
        correct[row] = (am == t && x[am] == x[am]) ? 1.0f : 0.0f;
    }
}

static void crossentropy_fwd(ds_backend *be, float *loss, const float *logits, const int32_t *tgt,
                             int R, int N, int V) {
    OP_TIME(13);
    long rows = (long)R * N;
    if (!rows) return;
    crossentropy_fwd_k<<<cdiv(rows, 8), 256, 0, ST(be)>>>(loss, logits, tgt, rows, V);
    CK_LAUNCH();
}
static void crossentropy_bwd(ds_backend *be, float *dlogits, const float *logits,
                             const int32_t *tgt, const float *weight, int R, int N, int V) {
    OP_TIME(14);
    long rows = (long)R * N;
    if (!rows) return;
    crossentropy_bwd_k<<<cdiv(rows, 8), 256, 0, ST(be)>>>(dlogits, logits, tgt, weight, rows, V);
    CK_LAUNCH();
}
static void token_stats(ds_backend *be, float *ce, float *pcorrect, float *correct,
                        const float *logits, const int32_t *tgt, int R, int N, int V) {
    OP_TIME(15);
    long rows = (long)R * N;
    if (!rows) return;
    token_stats_k<<<cdiv(rows, 8), 256, 0, ST(be)>>>(ce, pcorrect, correct, logits, tgt, rows, V);
    CK_LAUNCH();
}

// ---------------------------------------------------------------------------
// reductions to host doubles: stage 1 per (chunk, replica) block, a fixed
// shared-memory tree; stage 2 one thread per replica adds the chunks in order.

enum { RED_THREADS = 256, RED_CHUNK = 65536 };

__device__ double block_sum_d(double v, double *sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = RED_THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    return sh[0];
}

// mode 0: sum x*w over entries with w != 0 (masked NaNs stay out, as on the
// CPU); mode 1: sum x^2.
template <int MODE>
__global__ void reduce_partial_k(double *part, const float *x, const float *w, size_t stride,
                                 size_t n, int nch) {
    __shared__ double sh[RED_THREADS];
    int ch = blockIdx.x, r = blockIdx.y;
    size_t i0 = (size_t)ch * RED_CHUNK, i1 = i0 + RED_CHUNK < n ? i0 + RED_CHUNK : n;
    const float *xr = x + (size_t)r * stride;
    double s = 0.0;
    for (size_t i = i0 + threadIdx.x; i < i1; i += RED_THREADS) {
        float xv = xr[i];
        if (MODE == 0) {
            float wv = w[(size_t)r * stride + i];
            if (wv != 0.0f) s += (double)xv * wv;
        } else {
            s += (double)xv * xv;
        }
    }
    double t = block_sum_d(s, sh);
    if (threadIdx.x == 0) part[(size_t)r * nch + ch] = t;
}

__global__ void reduce_final_k(double *out, const double *part, int R, int nch) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= R) return;
    double s = 0.0;
    for (int c = 0; c < nch; c++) s += part[(size_t)r * nch + c];
    out[r] = s;
}

template <int MODE>
static void reduce_to_host(ds_backend *be, double *host_out, const float *x, const float *w,
                           size_t stride, size_t n, int R) {
    if (!R) return;
    int nch = n ? (int)cdiv(n, RED_CHUNK) : 1;
    double *part = (double *)scratch(be, sizeof(double) * ((size_t)R * nch + R));
    double *out = part + (size_t)R * nch;
    dim3 grid(nch, R);
    reduce_partial_k<MODE><<<grid, RED_THREADS, 0, ST(be)>>>(part, x, w, stride, n, nch);
    CK_LAUNCH();
    reduce_final_k<<<cdiv(R, 64), 64, 0, ST(be)>>>(out, part, R, nch);
    CK_LAUNCH();
    cu_download(be, host_out, out, sizeof(double) * R);
}

static void weighted_sum(ds_backend *be, double *out, const float *x, const float *w, int R,
                         size_t N) {
    OP_TIME(16);
    reduce_to_host<0>(be, out, x, w, N, N, R);
}
static void sumsq(ds_backend *be, double *out, const float *x, size_t stride, size_t n, int R) {
    OP_TIME(17);
    reduce_to_host<1>(be, out, x, NULL, stride, n, R);
}

// ---------------------------------------------------------------------------
// AdamW: one fused kernel over R*P, per-replica lr/gscale/active uploaded as
// one small array. torch.optim.AdamW's order of operations.

__global__ void adamw_k(float *p, const float *g, float *m, float *v, size_t P, int R,
                        const float *lr, const float *gscale, const float *active, float beta1,
                        float beta2, float eps, float wd, float bc1, float sqrt_bc2) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= P * (size_t)R) return;
    int r = (int)(i / P);
    if (active[r] == 0.0f) return;
    float lrr = lr[r], step = lrr / bc1, decay = 1.0f - lrr * wd;
    float gi = g[i] * gscale[r];
    float pi = p[i] * decay;
    float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    float denom = sqrtf(vi) / sqrt_bc2 + eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - step * mi / denom;
}

static void adamw(ds_backend *be, float *p, const float *g, float *m, float *v, size_t P, int R,
                  const ds_adamw_args *a) {
    OP_TIME(18);
    if (!P || !R) return;
    float *h = (float *)DS_MALLOC(sizeof(float) * 3 * R);
    for (int r = 0; r < R; r++) {
        h[r] = a->lr[r];
        h[R + r] = a->gscale[r];
        h[2 * R + r] = a->active[r] ? 1.0f : 0.0f;
    }
    float *d = (float *)scratch(be, sizeof(float) * 3 * R);
    cu_upload(be, d, h, sizeof(float) * 3 * R);
    free(h);
    size_t n = P * (size_t)R;
    adamw_k<<<cdiv(n, 256), 256, 0, ST(be)>>>(p, g, m, v, P, R, d, d + R, d + 2 * R, a->beta1,
                                              a->beta2, a->eps, a->weight_decay, a->bc1,
                                              sqrtf(a->bc2));
    CK_LAUNCH();
}

// ---------------------------------------------------------------------------

#define DS_CUBLAS_TRY(call)                                                                 \
    do {                                                                                    \
        cublasStatus_t ds_cublas_rc_ = (call);                                              \
        if (ds_cublas_rc_ != CUBLAS_STATUS_SUCCESS) {                                       \
            ds_error_set(err, DS_EXIT_ERROR, "%s:%d: cuBLAS error %d (%s) in %s", __FILE__, \
                         __LINE__, (int)ds_cublas_rc_, cublasGetStatusString(ds_cublas_rc_), \
                         #call);                                                            \
            goto fail;                                                                      \
        }                                                                                   \
    } while (0)

extern "C" int ds_backend_cuda_create(int device, int tf32, ds_backend **out, ds_error *err) {
    *out = NULL;
    ds_backend *be = NULL;
    cuda_impl *im = NULL;
    if (ds_cuda_device_count() <= device)
        return ds_error_set(err, DS_EXIT_ERROR,
                            "the cuda backend needs a visible GPU (device %d), and %d are visible",
                            device, ds_cuda_device_count());
    be = (ds_backend *)DS_CALLOC(1, sizeof *be);
    im = (cuda_impl *)DS_CALLOC(1, sizeof *im);
    be->impl = im;
    im->device = device;
    DS_CUDA_TRY(cudaSetDevice(device));
    DS_CUDA_TRY(cudaStreamCreateWithFlags(&im->stream, cudaStreamNonBlocking));
    DS_CUBLAS_TRY(cublasCreate(&im->blas));
    DS_CUBLAS_TRY(cublasSetStream(im->blas, im->stream));
    // fp32 by default: CUBLAS_DEFAULT_MATH never uses TF32 tensor cores.
    DS_CUBLAS_TRY(cublasSetMathMode(im->blas, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    DS_CUBLAS_TRY(cublasLtCreate(&im->lt));
    im->tf32 = tf32;
    {
        const char *e = getenv("DISTSWEEP_CUDA_OPTIMES");
        im->optimes = e && *e && strcmp(e, "0");
    }
    be->name = tf32 ? "cuda-tf32" : "cuda";
    be->alloc = cu_alloc;
    be->free = cu_free;
    be->upload = cu_upload;
    be->download = cu_download;
    be->zero = cu_zero;
    be->copy = cu_copy;
    be->destroy = cu_destroy;
    be->encoder_fwd = encoder_fwd;
    be->encoder_bwd = encoder_bwd;
    be->layernorm_fwd = layernorm_fwd;
    be->layernorm_bwd = layernorm_bwd;
    be->matmul_fwd = matmul_fwd;
    be->matmul_bwd = matmul_bwd;
    be->rope_fwd = rope_fwd;
    be->rope_bwd = rope_bwd;
    be->attention_fwd = attention_fwd;
    be->attention_bwd = attention_bwd;
    be->gelu_fwd = gelu_fwd;
    be->gelu_bwd = gelu_bwd;
    be->add = add;
    be->crossentropy_fwd = crossentropy_fwd;
    be->crossentropy_bwd = crossentropy_bwd;
    be->token_stats = token_stats;
    be->weighted_sum = weighted_sum;
    be->sumsq = sumsq;
    be->adamw = adamw;
    *out = be;
    return 0;
fail:
    cu_destroy(be);
    return err ? err->code : DS_EXIT_ERROR;
}
