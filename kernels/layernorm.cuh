// layernorm: LayerNorm of the CUDA backend, forward and backward.
#ifndef DS_LAYERNORM_CUH
#define DS_LAYERNORM_CUH

#include "cuda_common.cuh"
#include "reduce.cuh"

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
    OP_TIME(layernorm_fwd);
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
    OP_TIME(layernorm_bwd);
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

#endif
