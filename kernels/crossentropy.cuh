// crossentropy: softmax cross-entropy of the CUDA backend (forward, backward) and the per-token statistics of the evaluation.
#ifndef DS_CROSSENTROPY_CUH
#define DS_CROSSENTROPY_CUH

#include "cuda_common.cuh"

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
    OP_TIME(crossentropy_fwd);
    long rows = (long)R * N;
    if (!rows) return;
    crossentropy_fwd_k<<<cdiv(rows, 8), 256, 0, ST(be)>>>(loss, logits, tgt, rows, V);
    CK_LAUNCH();
}
static void crossentropy_bwd(ds_backend *be, float *dlogits, const float *logits,
                             const int32_t *tgt, const float *weight, int R, int N, int V) {
    OP_TIME(crossentropy_bwd);
    long rows = (long)R * N;
    if (!rows) return;
    crossentropy_bwd_k<<<cdiv(rows, 8), 256, 0, ST(be)>>>(dlogits, logits, tgt, weight, rows, V);
    CK_LAUNCH();
}
static void token_stats(ds_backend *be, float *ce, float *pcorrect, float *correct,
                        const float *logits, const int32_t *tgt, int R, int N, int V) {
    OP_TIME(token_stats);
    long rows = (long)R * N;
    if (!rows) return;
    token_stats_k<<<cdiv(rows, 8), 256, 0, ST(be)>>>(ce, pcorrect, correct, logits, tgt, rows, V);
    CK_LAUNCH();
}

#endif
