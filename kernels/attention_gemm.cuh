// attention_gemm: causal self-attention on tensor cores, as batched cuBLASLt
// GEMMs with each head's T x T scores materialized in scratch, forward and
// backward. The alternative to the CUDA-core kernels of attention.cuh, chosen
// per backend (cuda_impl.att_gemm, DISTSWEEP_CUDA_ATTENTION: docs/cuda.md).
//
// Per head h, for a chunk of at most ATG_CHUNK (replica, batch row) matrices
// at a time (which bounds the scratch and is a batch count only: the GEMM
// plans are per shape, so the chunking never changes a bit), with Q, K, V the
// head's columns of the rounded qkv and every row-major [rows][cols] matrix
// seen by cuBLAS as its column-major transpose:
//   forward   S = scale Q Kᵀ (full square); per row i: softmax over keys
//             j <= i, lse_i saved, P rounded, zeros right of the diagonal;
//             O = P V.
//   backward  S again, dP = dO Vᵀ; per row: P = exp(S - lse_i), D_i = dO_i . O_i
//             (fp32 dO), dS = P (dP - D_i), P and dS rounded, zeros right of
//             the diagonal; dQ = scale dS K, dK = scale dSᵀ Q, dV = Pᵀ dO.
// The rounding points are those of the CPU reference (backend_cpu.c's
// attention, docs/engine.md "Precision"); the zeros make the full-square
// products the causal sums. Twice the FLOPs of a causal kernel, on tensor
// cores at tf32 and bf16 (at fp32 the GEMMs run on CUDA cores).
#ifndef DS_ATTENTION_GEMM_CUH
#define DS_ATTENTION_GEMM_CUH

#include "cuda_common.cuh"
#include "matmul.cuh"
#include "precision.cuh"

enum { ATG_CHUNK = 256, ATG_WARPS = 4 };

// A GEMM operand `off` elements further on.
static gemm_operand atg_at(gemm_operand a, size_t off) {
    a.p = (const char *)a.p + off * gemm_operand_bytes(a);
    return a;
}

// dst[i] = v rounded to P, as the GEMM operand type (bf16 elements at bf16).
template <int P> __device__ __forceinline__ void atg_store(void *dst, size_t i, float v) {
    v = prec_round<P>(v);
    if (P == DS_PREC_BF16) ((uint16_t *)dst)[i] = (uint16_t)(__float_as_uint(v) >> 16);
    else ((float *)dst)[i] = v;
}

// One warp per score row (m, i) of n matrices [T][T]: the causal softmax of
// S's row into P (rounded; zeros for j > i) and its log-sum-exp into
// lse[((rb0 + m) H + h) T + i], as softmax_causal_rows on the CPU.
template <int P>
__global__ void atg_softmax_fwd_k(void *Pout, float *lse, const float *S, int n, int T, int H,
                                  int h, long rb0) {
    long row = (long)blockIdx.x * ATG_WARPS + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= (long)n * T) return; // whole warps: row is the same on every lane
    long m = row / T;
    int i = (int)(row % T);
    const float *s = S + (size_t)row * T;
    float mx = -INFINITY;
    for (int j = lane; j <= i; j += 32) mx = fmaxf(mx, s[j]);
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int j = lane; j <= i; j += 32) sum += expf(s[j] - mx);
    sum = warp_sum(sum);
    float inv = 1.0f / sum;
    for (int j = lane; j < T; j += 32)
        atg_store<P>(Pout, (size_t)row * T + j, j <= i ? expf(s[j] - mx) * inv : 0.0f);
    if (lane == 0) lse[((size_t)(rb0 + m) * H + h) * T + i] = mx + logf(sum);
}

// One warp per row (m, i): P from the scores and lse, D_i = dO_i . O_i (fp32),
// dS = P (dP - D_i); P and dS rounded into Pout, dSout (zeros for j > i), as
// probs_from_lse and softmax_bwd_rows on the CPU.
template <int P>
__global__ void atg_softmax_bwd_k(void *Pout, void *dSout, const float *S, const float *dP,
                                  const float *lse, const float *dout, const float *out, int n,
                                  int T, int H, int h, int hd, long rb0) {
    long row = (long)blockIdx.x * ATG_WARPS + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= (long)n * T) return;
    long m = row / T;
    int i = (int)(row % T), C = H * hd;
    size_t o = ((size_t)(rb0 + m) * T + i) * C + (size_t)h * hd;
    float D = 0.0f;
    for (int k = lane; k < hd; k += 32) D += dout[o + k] * out[o + k];
    D = warp_sum(D);
    float l = lse[((size_t)(rb0 + m) * H + h) * T + i];
    const float *s = S + (size_t)row * T, *dp = dP + (size_t)row * T;
    for (int j = lane; j < T; j += 32) {
        float p = 0.0f, ds = 0.0f;
        if (j <= i) {
            p = expf(s[j] - l);
            ds = p * (dp[j] - D);
        }
        atg_store<P>(Pout, (size_t)row * T + j, p);
        atg_store<P>(dSout, (size_t)row * T + j, ds);
    }
}

// S = scale Q Kᵀ of head h for n (replica, row) matrices from rb0 on (row-major
// [T][T] each, full square) into S: the forward's scores and the backward's
// recomputation, which must be the same bits for exp(S - lse) to be the
// forward's probabilities. With Xc the column-major view of row-major X:
// Sc = scale Kcᵀ Qc.
static void atg_scores(ds_backend *be, float *S, gemm_operand q, long rb0, int n, int T, int H,
                       int hd, int h, float scale) {
    int C = H * hd;
    long long sqkv = (long long)T * 3 * C;
    size_t base = (size_t)rb0 * T * 3 * C + (size_t)h * hd;
    gemm(be, CUBLAS_OP_T, CUBLAS_OP_N, T, T, hd, scale, atg_at(q, base + C), 3 * C, sqkv,
         atg_at(q, base), 3 * C, sqkv, 0.0f, S, T, (long long)T * T, n);
}

// Bytes of n T x T matrices of `esz`-byte elements, rounded up to 256 (the
// scratch is carved into such regions, each aligned for the GEMMs).
static size_t atg_bytes(long n, int T, int esz) {
    return ((size_t)n * T * T * esz + 255) / 256 * 256;
}

template <int P>
static void atg_forward(ds_backend *be, float *out, float *lse, const float *qkv, int R, int B,
                        int T, int H, int hd) {
    int C = H * hd;
    long RB = (long)R * B, chunk = RB < ATG_CHUNK ? RB : ATG_CHUNK;
    float scale = 1.0f / sqrtf((float)hd);
    size_t nq = (size_t)RB * T * 3 * C, TT = (size_t)T * T;
    gemm_operand q = gemm_operand_flat(be, 0, qkv, nq);
    int esz = gemm_operand_bytes(q);
    char *sc = (char *)scratch(be, atg_bytes(chunk, T, 4) + atg_bytes(chunk, T, esz));
    float *S = (float *)sc;
    gemm_operand Pm = {sc + atg_bytes(chunk, T, 4), q.type, TT};
    long long sqkv = (long long)T * 3 * C;
    for (long rb0 = 0; rb0 < RB; rb0 += chunk) {
        int n = (int)(RB - rb0 < chunk ? RB - rb0 : chunk);
        for (int h = 0; h < H; h++) {
            size_t base = (size_t)rb0 * T * 3 * C + (size_t)h * hd;
            gemm_operand V = atg_at(q, base + 2 * C);
            atg_scores(be, S, q, rb0, n, T, H, hd, h, scale);
            atg_softmax_fwd_k<P><<<cdiv((size_t)n * T, ATG_WARPS), 32 * ATG_WARPS, 0, ST(be)>>>(
                (void *)Pm.p, lse, S, n, T, H, h, rb0);
            CK_LAUNCH();
            // Oc = Vc Pc
            gemm(be, CUBLAS_OP_N, CUBLAS_OP_N, hd, T, T, 1.0f, V, 3 * C, sqkv, Pm, T, (long long)TT,
                 0.0f, out + (size_t)rb0 * T * C + (size_t)h * hd, C, (long long)T * C, n);
        }
    }
}

template <int P>
static void atg_backward(ds_backend *be, float *dqkv, const float *dout, const float *qkv,
                         const float *out, const float *lse, int R, int B, int T, int H, int hd) {
    int C = H * hd;
    long RB = (long)R * B, chunk = RB < ATG_CHUNK ? RB : ATG_CHUNK;
    float scale = 1.0f / sqrtf((float)hd);
    size_t nq = (size_t)RB * T * 3 * C, nd = (size_t)RB * T * C, TT = (size_t)T * T;
    gemm_operand q = gemm_operand_flat(be, 0, qkv, nq);
    gemm_operand d = gemm_operand_flat(be, 1, dout, nd);
    int esz = gemm_operand_bytes(q);
    size_t f32 = atg_bytes(chunk, T, 4), op = atg_bytes(chunk, T, esz);
    char *sc = (char *)scratch(be, 2 * f32 + 2 * op);
    float *S = (float *)sc, *dP = (float *)(sc + f32);
    gemm_operand Pm = {sc + 2 * f32, q.type, TT}, dS = {sc + 2 * f32 + op, q.type, TT};
    long long sqkv = (long long)T * 3 * C, sdo = (long long)T * C;
    for (long rb0 = 0; rb0 < RB; rb0 += chunk) {
        int n = (int)(RB - rb0 < chunk ? RB - rb0 : chunk);
        for (int h = 0; h < H; h++) {
            size_t base = (size_t)rb0 * T * 3 * C + (size_t)h * hd;
            size_t dbase = (size_t)rb0 * T * C + (size_t)h * hd;
            gemm_operand Q = atg_at(q, base), K = atg_at(q, base + C), V = atg_at(q, base + 2 * C);
            gemm_operand dO = atg_at(d, dbase);
            atg_scores(be, S, q, rb0, n, T, H, hd, h, scale);
            // with Xc the column-major view of row-major X: dPc = Vcᵀ dOc
            gemm(be, CUBLAS_OP_T, CUBLAS_OP_N, T, T, hd, 1.0f, V, 3 * C, sqkv, dO, C, sdo, 0.0f, dP,
                 T, (long long)TT, n);
            atg_softmax_bwd_k<P><<<cdiv((size_t)n * T, ATG_WARPS), 32 * ATG_WARPS, 0, ST(be)>>>(
                (void *)Pm.p, (void *)dS.p, S, dP, lse, dout, out, n, T, H, h, hd, rb0);
            CK_LAUNCH();
            float *dq = dqkv + base, *dk = dq + C, *dv = dq + 2 * C;
            // dQc = scale Kc dSc, dKc = scale Qc dScᵀ, dVc = dOc Pcᵀ
            gemm(be, CUBLAS_OP_N, CUBLAS_OP_N, hd, T, T, scale, K, 3 * C, sqkv, dS, T, (long long)TT,
                 0.0f, dq, 3 * C, sqkv, n);
            gemm(be, CUBLAS_OP_N, CUBLAS_OP_T, hd, T, T, scale, Q, 3 * C, sqkv, dS, T, (long long)TT,
                 0.0f, dk, 3 * C, sqkv, n);
            gemm(be, CUBLAS_OP_N, CUBLAS_OP_T, hd, T, T, 1.0f, dO, C, sdo, Pm, T, (long long)TT, 0.0f,
                 dv, 3 * C, sqkv, n);
        }
    }
}

static void attention_gemm_fwd(ds_backend *be, float *out, float *lse, const float *qkv, int R,
                               int B, int T, int H, int hd) {
    switch (IM(be)->prec) {
    case DS_PREC_TF32: atg_forward<DS_PREC_TF32>(be, out, lse, qkv, R, B, T, H, hd); break;
    case DS_PREC_BF16: atg_forward<DS_PREC_BF16>(be, out, lse, qkv, R, B, T, H, hd); break;
    default: atg_forward<DS_PREC_FP32>(be, out, lse, qkv, R, B, T, H, hd); break;
    }
}

static void attention_gemm_bwd(ds_backend *be, float *dqkv, const float *dout, const float *qkv,
                               const float *out, const float *lse, int R, int B, int T, int H,
                               int hd) {
    switch (IM(be)->prec) {
    case DS_PREC_TF32: atg_backward<DS_PREC_TF32>(be, dqkv, dout, qkv, out, lse, R, B, T, H, hd); break;
    case DS_PREC_BF16: atg_backward<DS_PREC_BF16>(be, dqkv, dout, qkv, out, lse, R, B, T, H, hd); break;
    default: atg_backward<DS_PREC_FP32>(be, dqkv, dout, qkv, out, lse, R, B, T, H, hd); break;
    }
}

#endif
