// backend_cuda: the op table of backend.h on an NVIDIA GPU (cuBLAS + kernels).
//
// Owns device memory (cudaMalloc), one cuBLAS handle and one stream per
// backend, and a growable device scratch buffer. Every op is enqueued on the
// backend's stream; upload/download synchronize it, so host code sees the
// results of every op enqueued before a download.
//
// Determinism: no float atomics anywhere. Every reduction has a fixed order
// (warp shuffles in a fixed tree, per-chunk partial sums added in order by a
// second kernel), and the work of replica r never depends on the others, so a
// GPU run is bit-identical from run to run and (given cuBLAS picks the same
// GEMM kernel per replica whatever the batch count: tests/gpu checks it) a
// replica in a pack equals the same seed alone. Results are not bit-identical
// to the CPU backend (different summation orders, FMA contraction, CUDA's
// expf/erff): tests/gpu states the tolerances.
//
// Errors: the ops return void, so a failing CUDA or cuBLAS call inside an op
// reports file, line and the error string and ends the process via ds_die
// (docs/cuda.md). Creation reports through ds_error instead.
#include <cublas_v2.h>
#include <math.h>
#include <stdio.h>
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

typedef struct {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    void *scratch; // device scratch for two-stage reductions and per-call arrays
    size_t scratch_bytes;
} cuda_impl;

#define IM(be) ((cuda_impl *)(be)->impl)
#define ST(be) (IM(be)->stream)

static inline unsigned cdiv(size_t a, size_t b) { return (unsigned)((a + b - 1) / b); }

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
    if (!n) return;
    CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, ST(be)));
    CK(cudaStreamSynchronize(ST(be)));
}
static void cu_download(ds_backend *be, void *dst, const void *src, size_t n) {
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
        if (im->scratch) cudaFree(im->scratch);
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
    long total = (long)R * N * C;
    if (!total) return;
    encoder_fwd_k<<<cdiv(total, 256), 256, 0, ST(be)>>>(out, tok, wte, ws, N, C, total);
    CK_LAUNCH();
}

// One thread per (replica, channel) walks the tokens in order, ENC_G rows at a
// time: rows of the group with the same token are first added together (in
// increasing n), then each distinct row of dwte gets one read-modify-write.
// The group's loads are independent, so the thread does not wait for one
// memory round trip per token. Fixed order, no atomics; not the CPU's
// order (it adds row by row), so equal to it only to rounding.
enum { ENC_G = 16 };
__global__ void encoder_bwd_k(float *dwte, size_t ws, const float *dout, const int32_t *tok, int R,
                              int N, int C) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long)R * C) return;
    int r = (int)(i / C), c = (int)(i % C);
    float *dw = dwte + (size_t)r * ws + c;
    const float *d = dout + (size_t)r * N * C + c;
    const int32_t *tk = tok + (size_t)r * N;
    for (int n0 = 0; n0 < N; n0 += ENC_G) {
        int t[ENC_G];
        float a[ENC_G], cur[ENC_G];
#pragma unroll
        for (int k = 0; k < ENC_G; k++) {
            t[k] = n0 + k < N ? tk[n0 + k] : -1;
            a[k] = n0 + k < N ? d[(size_t)(n0 + k) * C] : 0.0f;
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
            if (t[k] >= 0) cur[k] = dw[(size_t)t[k] * C];
#pragma unroll
        for (int k = 0; k < ENC_G; k++)
            if (t[k] >= 0) dw[(size_t)t[k] * C] = cur[k] + a[k];
    }
}

static void encoder_bwd(ds_backend *be, float *dwte, size_t ws, const float *dout,
                        const int32_t *tok, int R, int N, int C) {
    long total = (long)R * C;
    if (!total || !N) return;
    encoder_bwd_k<<<cdiv(total, 64), 64, 0, ST(be)>>>(dwte, ws, dout, tok, R, N, C);
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

__global__ void bias_add_k(float *out, const float *b, size_t ws, int N, int OC, long total) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int o = (int)(i % OC);
    int r = (int)(i / ((long)N * OC));
    out[i] += b[(size_t)r * ws + o];
}

static void matmul_fwd(ds_backend *be, float *out, const float *inp, const float *w,
                       const float *b, size_t ws, int R, int N, int C, int OC) {
    if (!R || !N) return;
    const float one = 1.0f, zero = 0.0f;
    // out^T [OC][N] = W [OC][C] (col-major view of row-major W^T) x inp^T [C][N]
    CKB(cublasSgemmStridedBatched(IM(be)->blas, CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, &one, w, C,
                                  (long long)ws, inp, C, (long long)N * C, &zero, out, OC,
                                  (long long)N * OC, R));
    if (b) {
        long total = (long)R * N * OC;
        bias_add_k<<<cdiv(total, 256), 256, 0, ST(be)>>>(out, b, ws, N, OC, total);
        CK_LAUNCH();
    }
}

static void matmul_bwd(ds_backend *be, float *dinp, float *dw, float *db, size_t ws,
                       const float *dout, const float *inp, const float *w, int R, int N, int C,
                       int OC) {
    if (!R || !N) return;
    const float one = 1.0f, zero = 0.0f;
    cublasHandle_t h = IM(be)->blas;
    if (dinp) // dinp^T [C][N] = W^T x dout^T
        CKB(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, &one, w, C,
                                      (long long)ws, dout, OC, (long long)N * OC, &zero, dinp, C,
                                      (long long)N * C, R));
    // dW^T [C][OC] += inp^T [C][N] x dout [N][OC]
    CKB(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, &one, inp, C,
                                  (long long)N * C, dout, OC, (long long)N * OC, &one, dw, C,
                                  (long long)ws, R));
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
    rope_apply(be, qkv, R, B, T, H, hd, rot, base, 1.0f);
}
static void rope_bwd(ds_backend *be, float *dqkv, int R, int B, int T, int H, int hd, int rot,
                     float base) {
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

static void attention_fwd(ds_backend *be, float *out, float *lse, const float *qkv, int R, int B,
                          int T, int H, int hd) {
    long rows = (long)R * B * H * T;
    if (!rows) return;
    size_t smem = sizeof(float) * ATT_WARPS * (size_t)(T + hd);
    if (smem > 48 * 1024)
        CK(cudaFuncSetAttribute(attention_fwd_k, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                (int)smem));
    attention_fwd_k<<<cdiv(rows, ATT_WARPS), 32 * ATT_WARPS, smem, ST(be)>>>(
        out, lse, qkv, B, T, H, hd, 1.0f / sqrtf((float)hd), rows);
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
    long rows = (long)R * B * H * T;
    if (!rows) return;
    float scale = 1.0f / sqrtf((float)hd);
    float *Dsave = (float *)scratch(be, sizeof(float) * (size_t)rows);
    size_t smq = sizeof(float) * ATT_WARPS * (size_t)(T + 2 * hd);
    size_t smkv = sizeof(float) * ATT_WARPS * (size_t)(2 * T + 2 * hd);
    if (smq > 48 * 1024)
        CK(cudaFuncSetAttribute(attention_bwd_q_k, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                (int)smq));
    if (smkv > 48 * 1024)
        CK(cudaFuncSetAttribute(attention_bwd_kv_k, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                (int)smkv));
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
    if (!n) return;
    gelu_fwd_k<<<cdiv(n, 256), 256, 0, ST(be)>>>(out, inp, n);
    CK_LAUNCH();
}
static void gelu_bwd(ds_backend *be, float *dinp, const float *inp, const float *dout, size_t n) {
    if (!n) return;
    gelu_bwd_k<<<cdiv(n, 256), 256, 0, ST(be)>>>(dinp, inp, dout, n);
    CK_LAUNCH();
}
static void add(ds_backend *be, float *out, const float *a, const float *b, size_t n) {
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
    long rows = (long)R * N;
    if (!rows) return;
    crossentropy_fwd_k<<<cdiv(rows, 8), 256, 0, ST(be)>>>(loss, logits, tgt, rows, V);
    CK_LAUNCH();
}
static void crossentropy_bwd(ds_backend *be, float *dlogits, const float *logits,
                             const int32_t *tgt, const float *weight, int R, int N, int V) {
    long rows = (long)R * N;
    if (!rows) return;
    crossentropy_bwd_k<<<cdiv(rows, 8), 256, 0, ST(be)>>>(dlogits, logits, tgt, weight, rows, V);
    CK_LAUNCH();
}
static void token_stats(ds_backend *be, float *ce, float *pcorrect, float *correct,
                        const float *logits, const int32_t *tgt, int R, int N, int V) {
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
    reduce_to_host<0>(be, out, x, w, N, N, R);
}
static void sumsq(ds_backend *be, double *out, const float *x, size_t stride, size_t n, int R) {
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
