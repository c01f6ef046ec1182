// attention: causal self-attention of the CUDA backend (scale 1/sqrt(hd)),
// forward and backward, on CUDA cores (the other way, batched tensor-core
// GEMMs, is attention_gemm.cuh; cuda_impl.att_gemm chooses). The forward saves the log-sum-exp of every score row,
// the backward recomputes the probabilities from it (no T x T storage).
//
// Two kernel sets. Tiled (hd <= 32*ATT_U): a block of 4 warps owns ATT_QT = 16
// rows of one (replica, batch row, head), each warp ATT_RW of them; the block
// stages 32-row tiles of the other side (K and V, or Q and dO) in shared
// memory (rows padded to hd+1 floats: a lane per row reads without bank
// conflicts), and lanes own output dims (d = lane + 32u). The forward is an
// online softmax over the key tiles. Wide heads: one warp per (replica, batch
// row, head, row); lanes own keys j = lane, lane+32, ... for the scores, then
// output dims, summing over keys in increasing j; shared memory holds the
// warp's probability row [T] and its query [hd].
//
// Backward, two kernels in each set (no atomics: each output row has one owner):
// (a) per query row i: D_i = dO_i . O_i (saved for (b)), dS_ij = P_ij (dO_i.v_j - D_i),
//     dq_i = scale sum_j dS_ij k_j.
// (b) per key row j: recompute P_ij and dS_ij for i >= j,
//     dv_j = sum_i P_ij dO_i, dk_j = scale sum_i dS_ij q_i.
// Every row's numbers depend only on its own (r, b, h): the same bits whatever R is.
//
// Precision P (template argument, docs/engine.md "Precision"): the op rounds
// Q, K, V (qkv) and dO into copies first (precision.cuh), and the kernels
// round the probabilities and dS where the CPU reference does, once their
// element-wise use is done: P = exp(s - lse) before P V and Pᵀ dO, dS before
// dS K and dSᵀ Q. D = dO . O takes the unrounded dO (an fp32 reduction). The
// CPU rounds the normalized probabilities, so at tf32 and bf16 the tiled
// forward takes two passes over the keys (the log-sum-exp first, then P V
// with P rounded) instead of the online softmax, whose running sums would
// round unnormalized values. At fp32 every rounding is the identity and the
// kernels are those of before.
#ifndef DS_ATTENTION_CUH
#define DS_ATTENTION_CUH

#include "attention_gemm.cuh"
#include "cuda_common.cuh"
#include "precision.cuh"

enum { ATT_WARPS = 4 }; // warps per block of the wide-head kernels

enum { ATT_RW = 4, ATT_QT = 4 * ATT_RW, ATT_KT = 32, ATT_U = 4 }; // tiled kernels

// The slice of a tiled block: block b owns ATT_QT consecutive rows (queries,
// or keys in the dk/dv kernel), tile b % nt of the (replica, batch row, head)
// slice b / nt.
struct att_block {
    int t0;            // first row of the tile
    long bh, rb;       // (r*B + b)*H + h, and r*B + b
    int h, C;          // head, model width H*hd
    const float *base; // row 0 of the slice in qkv, at head h: q at +0, k at +C, v at +2C
};
__device__ __forceinline__ att_block att_block_of(const float *qkv, int T, int H, int hd, int nt) {
    att_block a;
    int t = (int)(blockIdx.x % nt);
    a.bh = blockIdx.x / nt;
    a.h = (int)(a.bh % H);
    a.rb = a.bh / H;
    a.C = H * hd;
    a.t0 = t * ATT_QT;
    a.base = qkv + a.rb * T * 3 * a.C + a.h * hd;
    return a;
}

// The row of a warp-per-row kernel: g = (r*B + b)*H*T + h*T + t.
struct att_row {
    int t;       // the warp's row (query, or key in the dk/dv kernel)
    long bh, rb; // (r*B + b)*H + h, and r*B + b
    int h, C;    // head, model width H*hd
};
__device__ __forceinline__ att_row att_row_of(long g, int T, int H, int hd) {
    att_row a;
    a.t = (int)(g % T);
    a.bh = g / T;
    a.h = (int)(a.bh % H);
    a.rb = a.bh / H;
    a.C = H * hd;
    return a;
}

// Stages rows r0 .. r0+n-1 (hd floats each, `st` floats apart) of NSRC = 1 or
// 2 sources into shared memory (rows ld floats apart), zeros for rows >= T;
// the whole block takes part, both sources in one pass. A copy: no arithmetic.
template <int NSRC>
__device__ __forceinline__ void att_stage(float *d0, const float *s0, size_t st0, float *d1,
                                          const float *s1, size_t st1, int ld, int r0, int n,
                                          int T, int hd) {
    for (int x = threadIdx.x; x < n * hd; x += blockDim.x) {
        int rr = x / hd, d = x % hd, i = r0 + rr;
        d0[rr * ld + d] = i < T ? s0[(size_t)i * st0 + d] : 0.0f;
        if (NSRC == 2) d1[rr * ld + d] = i < T ? s1[(size_t)i * st1 + d] : 0.0f;
    }
}

// acc[u] += x_jj * tile[jj][lane + 32u] for jj = 0 .. jn-1 in order, where
// x_jj is lane jj's x (the weights of one row against a staged tile: P V in
// the forward, dS K for dq).
__device__ __forceinline__ void att_accumulate(float (&acc)[ATT_U], float x, const float *tile,
                                               int ld, int jn, int lane, int hd) {
    for (int jj = 0; jj < jn; jj++) {
        float xj = __shfl_sync(0xffffffffu, x, jj);
#pragma unroll
        for (int u = 0; u < ATT_U; u++) {
            int d = lane + 32 * u;
            if (d < hd) acc[u] += xj * tile[jj * ld + d];
        }
    }
}

// Dynamic shared memory above the default 48 KB must be asked for per kernel.
static void set_smem(const void *f, size_t bytes) {
    if (bytes > 48 * 1024)
        CK(cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
}

// ---------------------------------------------------------------------------
// tiled kernels

// forward: out and lse of ATT_QT query rows, online softmax over the key tiles
// (fp32), or the log-sum-exp first and then P V with P rounded (tf32, bf16).
template <int P>
__global__ void __launch_bounds__(128) attention_fwd_tiled_k(float *out, float *lse,
                                                             const float *qkv, int T, int H,
                                                             int hd, float scale, int nqt) {
    extern __shared__ float sm[];
    int ld = hd + 1, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    float *Ks = sm, *Vs = Ks + ATT_KT * ld, *Qs = Vs + ATT_KT * ld;
    const att_block a = att_block_of(qkv, T, H, hd, nqt);
    const long bh = a.bh, rb = a.rb;
    const int h = a.h, C = a.C, i0 = a.t0;
    const float *base = a.base;
    att_stage<1>(Qs, base, 3 * C, NULL, NULL, 0, hd, i0, ATT_QT, T, hd);
    float m[ATT_RW], l[ATT_RW], acc[ATT_RW][ATT_U];
#pragma unroll
    for (int rr = 0; rr < ATT_RW; rr++) {
        m[rr] = -INFINITY;
        l[rr] = 0.0f;
#pragma unroll
        for (int u = 0; u < ATT_U; u++) acc[rr][u] = 0.0f;
    }
    int ilast = min(T, i0 + ATT_QT) - 1;
    // fp32: one online pass (the V accumulation rescaled as the maximum grows).
    // tf32/bf16: this pass only finds each row's maximum and sum; the second
    // pass below accumulates the rounded, normalized probabilities.
    for (int j0 = 0; j0 <= ilast; j0 += ATT_KT) {
        __syncthreads();
        att_stage<2>(Ks, base + C, 3 * C, Vs, base + 2 * C, 3 * C, ld, j0, ATT_KT, T, hd);
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
            if (P == DS_PREC_FP32) {
                int jn = min(ATT_KT, i - j0 + 1);
#pragma unroll
                for (int u = 0; u < ATT_U; u++) acc[rr][u] *= corr;
                att_accumulate(acc[rr], p, Vs, ld, jn, lane, hd);
            }
        }
    }
    if (P != DS_PREC_FP32) {
        // P = round(exp(s - m) / l), the CPU's normalized probabilities, then P V
        for (int j0 = 0; j0 <= ilast; j0 += ATT_KT) {
            __syncthreads();
            att_stage<2>(Ks, base + C, 3 * C, Vs, base + 2 * C, 3 * C, ld, j0, ATT_KT, T, hd);
            __syncthreads();
#pragma unroll
            for (int rr = 0; rr < ATT_RW; rr++) {
                int q = warp * ATT_RW + rr, i = i0 + q;
                if (i >= T || j0 > i) continue; // warp-uniform
                int j = j0 + lane;
                float p = 0.0f;
                if (j <= i) {
                    float a = 0.0f;
                    for (int d = 0; d < hd; d++) a += Qs[q * hd + d] * Ks[lane * ld + d];
                    p = prec_round<P>(expf(a * scale - m[rr]) * (1.0f / l[rr]));
                }
                att_accumulate(acc[rr], p, Vs, ld, min(ATT_KT, i - j0 + 1), lane, hd);
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < ATT_RW; rr++) {
        int i = i0 + warp * ATT_RW + rr;
        if (i >= T) continue;
        float inv = P == DS_PREC_FP32 ? 1.0f / l[rr] : 1.0f; // normalized already otherwise
        float *o = out + (rb * T + i) * C + h * hd;
#pragma unroll
        for (int u = 0; u < ATT_U; u++) {
            int d = lane + 32 * u;
            if (d < hd) o[d] = acc[rr][u] * inv;
        }
        if (lane == 0) lse[bh * T + i] = m[rr] + logf(l[rr]);
    }
}

// dq of ATT_QT query rows; saves D_i = dO_i . O_i (of the unrounded dO, dout32)
// for the key kernel. dout is dO as the products take it (rounded at tf32/bf16).
template <int P>
__global__ void __launch_bounds__(128) attention_bwd_q_tiled_k(float *dqkv, float *Dsave,
                                                               const float *dout,
                                                               const float *dout32, const float *qkv,
                                                               const float *out, const float *lse,
                                                               int T, int H, int hd, float scale,
                                                               int nqt) {
    extern __shared__ float sm[];
    int ld = hd + 1, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    float *Ks = sm, *Vs = Ks + ATT_KT * ld, *Qs = Vs + ATT_KT * ld, *dOs = Qs + ATT_QT * hd;
    const att_block a = att_block_of(qkv, T, H, hd, nqt);
    const long bh = a.bh, rb = a.rb;
    const int h = a.h, C = a.C, i0 = a.t0;
    const float *base = a.base;
    const float *dO = dout + rb * T * C + h * hd, *O = out + rb * T * C + h * hd;
    const float *dO32 = dout32 + rb * T * C + h * hd;
    att_stage<2>(Qs, base, 3 * C, dOs, dO, C, hd, i0, ATT_QT, T, hd);
    float D[ATT_RW], li[ATT_RW], acc[ATT_RW][ATT_U];
#pragma unroll
    for (int rr = 0; rr < ATT_RW; rr++) {
        int i = i0 + warp * ATT_RW + rr;
        float dd = 0.0f;
        if (i < T)
            for (int d = lane; d < hd; d += 32) dd += dO32[(size_t)i * C + d] * O[(size_t)i * C + d];
        D[rr] = warp_sum(dd);
        li[rr] = i < T ? lse[bh * T + i] : 0.0f;
        if (i < T && lane == 0) Dsave[bh * T + i] = D[rr];
#pragma unroll
        for (int u = 0; u < ATT_U; u++) acc[rr][u] = 0.0f;
    }
    int ilast = min(T, i0 + ATT_QT) - 1;
    for (int j0 = 0; j0 <= ilast; j0 += ATT_KT) {
        __syncthreads();
        att_stage<2>(Ks, base + C, 3 * C, Vs, base + 2 * C, 3 * C, ld, j0, ATT_KT, T, hd);
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
                ds = prec_round<P>(p * (dp - D[rr]));
            }
            int jn = min(ATT_KT, i - j0 + 1);
            att_accumulate(acc[rr], ds, Ks, ld, jn, lane, hd);
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
template <int P>
__global__ void __launch_bounds__(128) attention_bwd_kv_tiled_k(float *dqkv, const float *Dsave,
                                                                const float *dout,
                                                                const float *qkv, const float *lse,
                                                                int T, int H, int hd, float scale,
                                                                int nqt) {
    extern __shared__ float sm[];
    int ld = hd + 1, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    float *Qs = sm, *dOs = Qs + ATT_KT * ld, *Kk = dOs + ATT_KT * ld, *Vk = Kk + ATT_QT * hd;
    float *ls = Vk + ATT_QT * hd, *Ds = ls + ATT_KT;
    const att_block a = att_block_of(qkv, T, H, hd, nqt);
    const long bh = a.bh, rb = a.rb;
    const int h = a.h, C = a.C, j0 = a.t0;
    const float *base = a.base;
    const float *dO = dout + rb * T * C + h * hd;
    att_stage<2>(Kk, base + C, 3 * C, Vk, base + 2 * C, 3 * C, hd, j0, ATT_QT, T, hd);
    float dk[ATT_RW][ATT_U], dv[ATT_RW][ATT_U];
#pragma unroll
    for (int rr = 0; rr < ATT_RW; rr++)
#pragma unroll
        for (int u = 0; u < ATT_U; u++) dk[rr][u] = dv[rr][u] = 0.0f;
    for (int q0 = j0; q0 < T; q0 += ATT_KT) {
        __syncthreads();
        att_stage<2>(Qs, base, 3 * C, dOs, dO, C, ld, q0, ATT_KT, T, hd);
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
                ds = prec_round<P>(p * (dp - Ds[lane]));
                p = prec_round<P>(p);
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

// ---------------------------------------------------------------------------
// wide-head kernels (hd > 32*ATT_U): one warp per row

template <int P>
__global__ void attention_fwd_k(float *out, float *lse, const float *qkv, int B, int T, int H,
                                int hd, float scale, long rows) {
    extern __shared__ float sm[];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    long g = (long)blockIdx.x * ATT_WARPS + warp; // (r*B + b)*H*T + h*T + i
    float *p = sm + (size_t)warp * (T + hd), *qs = p + T;
    if (g >= rows) return;
    const att_row a = att_row_of(g, T, H, hd);
    const int i = a.t, h = a.h, C = a.C;
    const long rb = a.rb;
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
    if (P != DS_PREC_FP32) { // the CPU's normalized probabilities, rounded, before P V
        for (int j = lane; j <= i; j += 32) p[j] = prec_round<P>(p[j] * inv);
        __syncwarp();
        inv = 1.0f;
    }
    float *o = out + (rb * T + i) * C + h * hd;
    for (int d = lane; d < hd; d += 32) {
        float acc = 0.0f;
        for (int j = 0; j <= i; j++) acc += p[j] * v[(size_t)j * 3 * C + d];
        o[d] = acc * inv;
    }
    if (lane == 0) lse[g] = mx + logf(sum);
}

template <int P>
__global__ void attention_bwd_q_k(float *dqkv, float *Dsave, const float *dout,
                                  const float *dout32, const float *qkv, const float *out, const float *lse, int B, int T, int H, int hd,
                                  float scale, long rows) {
    extern __shared__ float sm[];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    long g = (long)blockIdx.x * ATT_WARPS + warp;
    float *ds = sm + (size_t)warp * (T + 2 * hd), *qs = ds + T, *dos = qs + hd;
    if (g >= rows) return;
    const att_row a = att_row_of(g, T, H, hd);
    const int i = a.t, h = a.h, C = a.C;
    const long rb = a.rb;
    const float *base = qkv + rb * T * 3 * C;
    const float *k = base + C + h * hd, *v = base + 2 * C + h * hd;
    const float *dOi = dout + (rb * T + i) * C + h * hd, *Oi = out + (rb * T + i) * C + h * hd;
    const float *dO32i = dout32 + (rb * T + i) * C + h * hd;
    float dd = 0.0f;
    for (int d = lane; d < hd; d += 32) {
        qs[d] = base[(size_t)i * 3 * C + h * hd + d];
        dos[d] = dOi[d];
        dd += dO32i[d] * Oi[d];
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
        ds[j] = prec_round<P>(pr * (dp - D));
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

template <int P>
__global__ void attention_bwd_kv_k(float *dqkv, const float *Dsave, const float *dout,
                                   const float *qkv, const float *lse, int B, int T, int H, int hd,
                                   float scale, long rows) {
    extern __shared__ float sm[];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    long g = (long)blockIdx.x * ATT_WARPS + warp; // key row j of (rb, h)
    float *pp = sm + (size_t)warp * (2 * T + 2 * hd), *ds = pp + T, *ks = ds + T, *vs = ks + hd;
    if (g >= rows) return;
    const att_row a = att_row_of(g, T, H, hd);
    const int j = a.t, h = a.h, C = a.C;
    const long bh = a.bh, rb = a.rb;
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
        pp[i] = prec_round<P>(pr);
        ds[i] = prec_round<P>(pr * (dp - Dv[i]));
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

// ---------------------------------------------------------------------------
// the ops

// The launches of one precision P (the ops below pick P at run time).
template <int P>
static void attention_fwd_p(ds_backend *be, float *out, float *lse, const float *qkv, int R, int B,
                            int T, int H, int hd) {
    long rows = (long)R * B * H * T;
    float scale = 1.0f / sqrtf((float)hd);
    if (hd <= 32 * ATT_U) {
        int nqt = (int)cdiv(T, ATT_QT);
        size_t smem = sizeof(float) * (2 * ATT_KT * (size_t)(hd + 1) + ATT_QT * (size_t)hd);
        set_smem((const void *)attention_fwd_tiled_k<P>, smem);
        attention_fwd_tiled_k<P><<<(unsigned)((long)R * B * H * nqt), 128, smem, ST(be)>>>(
            out, lse, qkv, T, H, hd, scale, nqt);
        CK_LAUNCH();
        return;
    }
    // wide heads: one warp per query row
    size_t smem = sizeof(float) * ATT_WARPS * (size_t)(T + hd);
    set_smem((const void *)attention_fwd_k<P>, smem);
    attention_fwd_k<P><<<cdiv(rows, ATT_WARPS), 32 * ATT_WARPS, smem, ST(be)>>>(out, lse, qkv, B, T,
                                                                              H, hd, scale, rows);
    CK_LAUNCH();
}

template <int P>
static void attention_bwd_p(ds_backend *be, float *dqkv, const float *dout, const float *dout32,
                            const float *qkv, const float *out, const float *lse, int R, int B,
                            int T, int H, int hd) {
    long rows = (long)R * B * H * T;
    float scale = 1.0f / sqrtf((float)hd);
    float *Dsave = (float *)scratch(be, sizeof(float) * (size_t)rows);
    if (hd <= 32 * ATT_U) {
        int nqt = (int)cdiv(T, ATT_QT);
        unsigned grid = (unsigned)((long)R * B * H * nqt);
        size_t smq = sizeof(float) * (2 * ATT_KT * (size_t)(hd + 1) + 2 * ATT_QT * (size_t)hd);
        size_t smkv = smq + sizeof(float) * 2 * ATT_KT;
        set_smem((const void *)attention_bwd_q_tiled_k<P>, smq);
        set_smem((const void *)attention_bwd_kv_tiled_k<P>, smkv);
        attention_bwd_q_tiled_k<P><<<grid, 128, smq, ST(be)>>>(dqkv, Dsave, dout, dout32, qkv, out,
                                                              lse, T, H, hd, scale, nqt);
        CK_LAUNCH();
        attention_bwd_kv_tiled_k<P><<<grid, 128, smkv, ST(be)>>>(dqkv, Dsave, dout, qkv, lse, T, H,
                                                                hd, scale, nqt);
        CK_LAUNCH();
        return;
    }
    // wide heads: one warp per query row, then one per key row
    size_t smq = sizeof(float) * ATT_WARPS * (size_t)(T + 2 * hd);
    size_t smkv = sizeof(float) * ATT_WARPS * (size_t)(2 * T + 2 * hd);
    set_smem((const void *)attention_bwd_q_k<P>, smq);
    set_smem((const void *)attention_bwd_kv_k<P>, smkv);
    unsigned grid = cdiv(rows, ATT_WARPS);
    attention_bwd_q_k<P><<<grid, 32 * ATT_WARPS, smq, ST(be)>>>(dqkv, Dsave, dout, dout32, qkv, out,
                                                                lse, B, T, H, hd, scale, rows);
    CK_LAUNCH();
    attention_bwd_kv_k<P><<<grid, 32 * ATT_WARPS, smkv, ST(be)>>>(dqkv, Dsave, dout, qkv, lse, B, T,
                                                                  H, hd, scale, rows);
    CK_LAUNCH();
}

static void attention_fwd(ds_backend *be, float *out, float *lse, const float *qkv, int R, int B,
                          int T, int H, int hd) {
    OP_TIME(attention_fwd);
    if (!((long)R * B * H * T)) return;
    if (IM(be)->att_gemm) { // tensor cores (attention_gemm.cuh)
        attention_gemm_fwd(be, out, lse, qkv, R, B, T, H, hd);
        return;
    }
    // Q, K, V as the products take them (rounded at tf32/bf16, qkv itself at fp32)
    const float *q = prec_rounded_flat(be, 0, qkv, (size_t)R * B * T * 3 * H * hd);
    switch (IM(be)->prec) {
    case DS_PREC_TF32: attention_fwd_p<DS_PREC_TF32>(be, out, lse, q, R, B, T, H, hd); break;
    case DS_PREC_BF16: attention_fwd_p<DS_PREC_BF16>(be, out, lse, q, R, B, T, H, hd); break;
    default: attention_fwd_p<DS_PREC_FP32>(be, out, lse, q, R, B, T, H, hd); break;
    }
}

static void attention_bwd(ds_backend *be, float *dqkv, const float *dout, const float *qkv,
                          const float *out, const float *lse, int R, int B, int T, int H, int hd) {
    OP_TIME(attention_bwd);
    if (!((long)R * B * H * T)) return;
    if (IM(be)->att_gemm) {
        attention_gemm_bwd(be, dqkv, dout, qkv, out, lse, R, B, T, H, hd);
        return;
    }
    // Q, K, V and dO as the products take them; D = dO . O takes the fp32 dout
    const float *q = prec_rounded_flat(be, 0, qkv, (size_t)R * B * T * 3 * H * hd);
    const float *dr = prec_rounded_flat(be, 1, dout, (size_t)R * B * T * H * hd);
    switch (IM(be)->prec) {
    case DS_PREC_TF32:
        attention_bwd_p<DS_PREC_TF32>(be, dqkv, dr, dout, q, out, lse, R, B, T, H, hd);
        break;
    case DS_PREC_BF16:
        attention_bwd_p<DS_PREC_BF16>(be, dqkv, dr, dout, q, out, lse, R, B, T, H, hd);
        break;
    default: attention_bwd_p<DS_PREC_FP32>(be, dqkv, dr, dout, q, out, lse, R, B, T, H, hd); break;
    }
}

#endif
