// attention_gemm: causal self-attention on tensor cores, as batched cuBLASLt
// GEMMs with blocks of each head's scores materialized in scratch, forward and
// backward. The alternative to the CUDA-core kernels of attention.cuh, chosen
// per backend (cuda_impl.att_gemm, DISTSWEEP_CUDA_ATTENTION: docs/cuda.md).
//
// Memory (src/devmem.h, docs/cuda.md "Memory model"): the scores are computed
// in blocks of tq query rows (ds_devmem_att_tq: 64, from T only) against the
// keys 0..i1-1 they can see, for chunks of n (replica, batch row) matrices
// (ds_devmem_att_chunk: as many as DS_DEVMEM_ATT_BUDGET holds; a batch count
// only, so the chunking never changes a bit). The scratch is then at most the
// budget whatever T and the pack are.
//
// Causality, exactly (docs/cuda.md): for the query block [i0, i1), with Q, K,
// V the head's columns of the rounded qkv and every row-major [rows][cols]
// matrix seen by cuBLAS as its column-major transpose:
//   forward   S = scale Q[i0:i1] K[0:i1]ᵀ; per row i: softmax over keys
//             j <= i (the kernel reads no score right of the diagonal), lse_i
//             saved, P rounded;
//             O[i0:i1] = P[:, 0:i0] V[0:i0]  (a GEMM over past keys only)
//                      + the diagonal block's lower triangle, summed by a
//                        kernel over j = i0..i only.
//   backward  S again (the same GEMM: the same bits), dP = dO[i0:i1] V[0:i1]ᵀ;
//             per row: P = exp(S - lse_i), D_i = dO_i . O_i (fp32 dO),
//             dS = P (dP - D_i), P and dS rounded (j <= i only);
//             dQ[i0:i1] = scale dS[:, 0:i0] K[0:i0] + triangle,
//             dK[0:i0] += scale dS[:, 0:i0]ᵀ Q[i0:i1], dK[i0:i1] = triangle,
//             dV[0:i0] += P[:, 0:i0]ᵀ dO[i0:i1],     dV[i0:i1] = triangle.
// No product ever multiplies a masked (zero) probability by a value, key,
// query or output gradient of a position it must not see, so a non-finite
// number at a future position cannot reach an earlier row (0 x Inf = NaN in a
// full-square GEMM was the old leak). The rounding points are those of the
// CPU reference (backend_cpu.c's attention, docs/engine.md "Precision").
// The GEMMs do about the causal FLOPs (plus a block of tq per row); at fp32
// they run on CUDA cores, at tf32 and bf16 on tensor cores.
#ifndef DS_ATTENTION_GEMM_CUH
#define DS_ATTENTION_GEMM_CUH

#include "cuda_common.cuh"
#include "matmul.cuh"
#include "precision.cuh"

enum { ATG_WARPS = 4 };

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
// element i of an operand of precision P's GEMM type, as a float
template <int P> __device__ __forceinline__ float atg_load(const void *src, size_t i) {
    if (P == DS_PREC_BF16) return __uint_as_float((uint32_t)((const uint16_t *)src)[i] << 16);
    return ((const float *)src)[i];
}

// Score blocks: matrix b's row li (query i0 + li), key j at b tq T + li T + j.

// One warp per score row (b, li) of n blocks of m rows: the causal softmax of
// S's row over keys j <= i = i0 + li into P (rounded; only j <= i written: no
// later read looks right of the diagonal) and its log-sum-exp into
// lse[((rb0 + b) H + h) T + i], as softmax_causal_rows on the CPU.
template <int P>
__global__ void atg_softmax_fwd_k(void *Pout, float *lse, const float *S, int n, int m, int i0,
                                  int tq, int T, int H, int h, long rb0) {
    long row = (long)blockIdx.x * ATG_WARPS + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= (long)n * m) return; // whole warps: row is the same on every lane
    long b = row / m;
    int li = (int)(row % m), i = i0 + li;
    size_t r0 = ((size_t)b * tq + li) * T;
    const float *s = S + r0;
    float mx = -INFINITY;
    for (int j = lane; j <= i; j += 32) mx = fmaxf(mx, s[j]);
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int j = lane; j <= i; j += 32) sum += expf(s[j] - mx);
    sum = warp_sum(sum);
    float inv = 1.0f / sum;
    for (int j = lane; j <= i; j += 32) atg_store<P>(Pout, r0 + j, expf(s[j] - mx) * inv);
    if (lane == 0) lse[((size_t)(rb0 + b) * H + h) * T + i] = mx + logf(sum);
}

// One warp per row (b, li): P from the scores and lse, D_i = dO_i . O_i (fp32),
// dS = P (dP - D_i); P and dS rounded into Pout, dSout (j <= i only), as
// probs_from_lse and softmax_bwd_rows on the CPU.
template <int P>
__global__ void atg_softmax_bwd_k(void *Pout, void *dSout, const float *S, const float *dP,
                                  const float *lse, const float *dout, const float *out, int n,
                                  int m, int i0, int tq, int T, int H, int h, int hd, long rb0) {
    long row = (long)blockIdx.x * ATG_WARPS + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= (long)n * m) return;
    long b = row / m;
    int li = (int)(row % m), i = i0 + li, C = H * hd;
    size_t o = ((size_t)(rb0 + b) * T + i) * C + (size_t)h * hd;
    float D = 0.0f;
    for (int k = lane; k < hd; k += 32) D += dout[o + k] * out[o + k];
    D = warp_sum(D);
    float l = lse[((size_t)(rb0 + b) * H + h) * T + i];
    size_t r0 = ((size_t)b * tq + li) * T;
    const float *s = S + r0, *dp = dP + r0;
    for (int j = lane; j <= i; j += 32) {
        float p = expf(s[j] - l);
        atg_store<P>(Pout, r0 + j, p);
        atg_store<P>(dSout, r0 + j, p * (dp[j] - D));
    }
}

// The diagonal block's lower triangle, by rows: for each (b, li, c),
//   out[b][li][c] (+)= alpha sum_{j = i0}^{i0 + li} A[b][li][j] X[b][j][c]
// (O = P V, dQ = scale dS K): only keys j <= i are read. A: score blocks;
// X: row 0 of the head's columns (matrix stride sx, row stride ldx); out: row
// i0 (matrix stride so, row stride ldo); add: out already holds the GEMM of
// the keys before i0. One thread per output element, j in increasing order.
template <int P>
__global__ void atg_tri_rows_k(float *out, long long so, int ldo, int add, float alpha,
                               const void *A, const void *X, long long sx, int ldx, int n, int m,
                               int i0, int tq, int T, int hd) {
    long t = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (long)n * m * hd) return;
    int c = (int)(t % hd);
    long r = t / hd, b = r / m;
    int li = (int)(r % m);
    size_t a0 = ((size_t)b * tq + li) * T, x0 = (size_t)b * sx + c;
    float acc = 0.0f;
    for (int j = i0; j <= i0 + li; j++) acc += atg_load<P>(A, a0 + j) * atg_load<P>(X, x0 + (size_t)j * ldx);
    float *o = out + (size_t)b * so + (size_t)li * ldo + c;
    *o = add ? *o + alpha * acc : alpha * acc;
}

// The diagonal block's lower triangle, by columns: for each (b, lj, c),
//   out[b][lj][c] = alpha sum_{li = lj}^{m-1} A[b][li][i0 + lj] Y[b][li][c]
// (dK = scale dSᵀ Q, dV = Pᵀ dO): only queries i >= j are read. Y and out:
// row i0 (matrix strides sy, so; row strides ldy, ldo). Writes: the keys
// i0..i1-1 meet no earlier block; later blocks add their GEMMs.
template <int P>
__global__ void atg_tri_cols_k(float *out, long long so, int ldo, float alpha, const void *A,
                               const void *Y, long long sy, int ldy, int n, int m, int i0, int tq,
                               int T, int hd) {
    long t = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (long)n * m * hd) return;
    int c = (int)(t % hd);
    long r = t / hd, b = r / m;
    int lj = (int)(r % m);
    size_t a0 = (size_t)b * tq * T + (size_t)(i0 + lj), y0 = (size_t)b * sy + c;
    float acc = 0.0f;
    for (int li = lj; li < m; li++)
        acc += atg_load<P>(A, a0 + (size_t)li * T) * atg_load<P>(Y, y0 + (size_t)li * ldy);
    out[(size_t)b * so + (size_t)lj * ldo + c] = alpha * acc;
}

// S = scale Q[i0:i0+m] K[0:i1]ᵀ of head h for n (replica, row) matrices from
// rb0 on, into score blocks (row stride T, matrix stride tq T): the forward's
// scores and the backward's recomputation, which must be the same bits for
// exp(S - lse) to be the forward's probabilities (the same call, the same
// plan). With Xc the column-major view of row-major X: Sc = scale Kcᵀ Qc.
static void atg_scores(ds_backend *be, float *S, gemm_operand q, long rb0, int n, int m, int i0,
                       int tq, int T, int H, int hd, int h, float scale) {
    int C = H * hd, i1 = i0 + m;
    long long sqkv = (long long)T * 3 * C;
    size_t base = (size_t)rb0 * T * 3 * C + (size_t)h * hd;
    gemm(be, CUBLAS_OP_T, CUBLAS_OP_N, i1, m, hd, scale, atg_at(q, base + C), 3 * C, sqkv,
         atg_at(q, base + (size_t)i0 * 3 * C), 3 * C, sqkv, 0.0f, S, T, (long long)tq * T, n);
}

template <int P>
static void atg_forward(ds_backend *be, float *out, float *lse, const float *qkv, int R, int B,
                        int T, int H, int hd) {
    int C = H * hd;
    long RB = (long)R * B;
    float scale = 1.0f / sqrtf((float)hd);
    size_t nq = (size_t)RB * T * 3 * C;
    gemm_operand q = gemm_operand_flat(be, 0, qkv, nq);
    int esz = gemm_operand_bytes(q);
    // the sizes of src/devmem.h, which the reservation counts
    int tq = ds_devmem_att_tq(T, esz);
    long chunk = ds_devmem_att_chunk(RB, T, esz); // the backward's chunks: the same score GEMMs
    size_t f32 = ds_devmem_att_region(chunk, tq, T, 4);
    char *sc = (char *)scratch(be, ds_devmem_att_scratch(RB, T, esz, 0));
    DS_ASSERT(f32 + ds_devmem_att_region(chunk, tq, T, esz) == ds_devmem_att_scratch(RB, T, esz, 0));
    float *S = (float *)sc;
    gemm_operand Pm = {sc + f32, q.type, (size_t)tq * T};
    long long sqkv = (long long)T * 3 * C, sS = (long long)tq * T, so = (long long)T * C;
    for (long rb0 = 0; rb0 < RB; rb0 += chunk) {
        int n = (int)(RB - rb0 < chunk ? RB - rb0 : chunk);
        for (int h = 0; h < H; h++) {
            size_t base = (size_t)rb0 * T * 3 * C + (size_t)h * hd;
            gemm_operand V = atg_at(q, base + 2 * C);
            for (int i0 = 0; i0 < T; i0 += tq) {
                int m = T - i0 < tq ? T - i0 : tq;
                float *o = out + ((size_t)rb0 * T + i0) * C + (size_t)h * hd;
                atg_scores(be, S, q, rb0, n, m, i0, tq, T, H, hd, h, scale);
                atg_softmax_fwd_k<P><<<cdiv((size_t)n * m, ATG_WARPS), 32 * ATG_WARPS, 0, ST(be)>>>(
                    (void *)Pm.p, lse, S, n, m, i0, tq, T, H, h, rb0);
                CK_LAUNCH();
                // the past keys: Oc = Vc[:, 0:i0] Pc[0:i0, :]
                if (i0 > 0)
                    gemm(be, CUBLAS_OP_N, CUBLAS_OP_N, hd, m, i0, 1.0f, V, 3 * C, sqkv, Pm, T, sS,
                         0.0f, o, C, so, n);
                atg_tri_rows_k<P><<<cdiv((size_t)n * m * hd, 256), 256, 0, ST(be)>>>(
                    o, so, C, i0 > 0, 1.0f, Pm.p, V.p, sqkv, 3 * C, n, m, i0, tq, T, hd);
                CK_LAUNCH();
            }
        }
    }
}

template <int P>
static void atg_backward(ds_backend *be, float *dqkv, const float *dout, const float *qkv,
                         const float *out, const float *lse, int R, int B, int T, int H, int hd) {
    int C = H * hd;
    long RB = (long)R * B;
    float scale = 1.0f / sqrtf((float)hd);
    size_t nq = (size_t)RB * T * 3 * C, nd = (size_t)RB * T * C;
    gemm_operand q = gemm_operand_flat(be, 0, qkv, nq);
    gemm_operand d = gemm_operand_flat(be, 1, dout, nd);
    int esz = gemm_operand_bytes(q);
    int tq = ds_devmem_att_tq(T, esz);
    long chunk = ds_devmem_att_chunk(RB, T, esz);
    size_t f32 = ds_devmem_att_region(chunk, tq, T, 4), op = ds_devmem_att_region(chunk, tq, T, esz);
    char *sc = (char *)scratch(be, ds_devmem_att_scratch(RB, T, esz, 1));
    DS_ASSERT(2 * f32 + 2 * op == ds_devmem_att_scratch(RB, T, esz, 1));
    float *S = (float *)sc, *dP = (float *)(sc + f32);
    size_t TQ = (size_t)tq * T;
    gemm_operand Pm = {sc + 2 * f32, q.type, TQ}, dS = {sc + 2 * f32 + op, q.type, TQ};
    long long sqkv = (long long)T * 3 * C, sdo = (long long)T * C, sS = (long long)TQ;
    for (long rb0 = 0; rb0 < RB; rb0 += chunk) {
        int n = (int)(RB - rb0 < chunk ? RB - rb0 : chunk);
        for (int h = 0; h < H; h++) {
            size_t base = (size_t)rb0 * T * 3 * C + (size_t)h * hd;
            size_t dbase = (size_t)rb0 * T * C + (size_t)h * hd;
            gemm_operand K = atg_at(q, base + C), V = atg_at(q, base + 2 * C);
            float *dq = dqkv + base, *dk = dq + C, *dv = dq + 2 * C;
            for (int i0 = 0; i0 < T; i0 += tq) {
                int m = T - i0 < tq ? T - i0 : tq, i1 = i0 + m;
                size_t r3 = (size_t)i0 * 3 * C;
                gemm_operand Qb = atg_at(q, base + r3), dOb = atg_at(d, dbase + (size_t)i0 * C);
                atg_scores(be, S, q, rb0, n, m, i0, tq, T, H, hd, h, scale);
                // with Xc the column-major view of row-major X: dPc = Vc[:, 0:i1]ᵀ dOc
                gemm(be, CUBLAS_OP_T, CUBLAS_OP_N, i1, m, hd, 1.0f, V, 3 * C, sqkv, dOb, C, sdo, 0.0f,
                     dP, T, sS, n);
                atg_softmax_bwd_k<P><<<cdiv((size_t)n * m, ATG_WARPS), 32 * ATG_WARPS, 0, ST(be)>>>(
                    (void *)Pm.p, (void *)dS.p, S, dP, lse, dout, out, n, m, i0, tq, T, H, h, hd, rb0);
                CK_LAUNCH();
                unsigned g = cdiv((size_t)n * m * hd, 256);
                // dQ: the past keys by a GEMM (dQc = scale Kc dSc), then the triangle
                if (i0 > 0)
                    gemm(be, CUBLAS_OP_N, CUBLAS_OP_N, hd, m, i0, scale, K, 3 * C, sqkv, dS, T, sS,
                         0.0f, dq + r3, 3 * C, sqkv, n);
                atg_tri_rows_k<P><<<g, 256, 0, ST(be)>>>(dq + r3, sqkv, 3 * C, i0 > 0, scale, dS.p,
                                                         K.p, sqkv, 3 * C, n, m, i0, tq, T, hd);
                CK_LAUNCH();
                // dK, dV of the block's own keys: the triangle (written first:
                // no earlier block reaches them); of the past keys: added
                atg_tri_cols_k<P><<<g, 256, 0, ST(be)>>>(dk + r3, sqkv, 3 * C, scale, dS.p, Qb.p,
                                                         sqkv, 3 * C, n, m, i0, tq, T, hd);
                CK_LAUNCH();
                atg_tri_cols_k<P><<<g, 256, 0, ST(be)>>>(dv + r3, sqkv, 3 * C, 1.0f, Pm.p, dOb.p,
                                                         sdo, C, n, m, i0, tq, T, hd);
                CK_LAUNCH();
                if (i0 > 0) {
                    // dKc[:, 0:i0] += scale Qc dSc[0:i0, :]ᵀ, dVc[:, 0:i0] += dOc Pc[0:i0, :]ᵀ
                    gemm(be, CUBLAS_OP_N, CUBLAS_OP_T, hd, i0, m, scale, Qb, 3 * C, sqkv, dS, T, sS,
                         1.0f, dk, 3 * C, sqkv, n);
                    gemm(be, CUBLAS_OP_N, CUBLAS_OP_T, hd, i0, m, 1.0f, dOb, C, sdo, Pm, T, sS, 1.0f,
                         dv, 3 * C, sqkv, n);
                }
            }
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
