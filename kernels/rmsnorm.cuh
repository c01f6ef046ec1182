// rmsnorm: RMSNorm (weight only) of the CUDA backend, forward and backward
// (the llama block; backend.h). Written without a GPU: block llama is refused
// on cuda until tests/gpu has run these (src/backend.c ds_backend_supports_block).
#ifndef DS_RMSNORM_CUH
#define DS_RMSNORM_CUH

#include "cuda_common.cuh"
#include "reduce.cuh"

// one warp per row, lanes over channels, butterfly sums (as layernorm.cuh)

__global__ void rmsnorm_fwd_k(float *out, float *rstd, const float *inp, const float *w, size_t ws,
                              int R, int N, int C, float eps) {
    long row = (long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= (long)R * N) return;
    int r = (int)(row / N);
    const float *x = inp + row * C, *wr = w + (size_t)r * ws;
    float s = 0.0f;
    for (int c = lane; c < C; c += 32) s += x[c] * x[c];
    float rs = 1.0f / sqrtf(warp_sum(s) / C + eps);
    float *y = out + row * C;
    for (int c = lane; c < C; c += 32) y[c] = x[c] * rs * wr[c];
    if (lane == 0) rstd[row] = rs;
}

static void rmsnorm_fwd(ds_backend *be, float *out, float *rstd, const float *inp, const float *w,
                        size_t ws, int R, int N, int C, float eps) {
    OP_TIME(rmsnorm_fwd);
    long rows = (long)R * N;
    if (!rows) return;
    rmsnorm_fwd_k<<<cdiv(rows, 8), 256, 0, ST(be)>>>(out, rstd, inp, w, ws, R, N, C, eps);
    CK_LAUNCH();
}

// dx += rs * (g - xh * mean(g * xh)), g = dy * w, xh = x * rs
__global__ void rmsnorm_bwd_dinp_k(float *dinp, const float *dout, const float *inp,
                                   const float *w, const float *rstd, size_t ws, int R, int N,
                                   int C) {
    long row = (long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= (long)R * N) return;
    int r = (int)(row / N);
    const float *x = inp + row * C, *g = dout + row * C, *wr = w + (size_t)r * ws;
    float rs = rstd[row], agx = 0.0f;
    for (int c = lane; c < C; c += 32) agx += (g[c] * wr[c]) * (x[c] * rs);
    float mgx = warp_sum(agx) / C;
    float *dx = dinp + row * C;
    for (int c = lane; c < C; c += 32) dx[c] += (g[c] * wr[c] - (x[c] * rs) * mgx) * rs;
}

// stage 1 of the weight gradient: part[r][chunk][c] = sum over the chunk's
// rows, in order, of dout * x * rstd (stage 2 is reduce.cuh's colsum_final_k)
__global__ void rmsnorm_dw_partial_k(float *part, const float *dout, const float *inp,
                                     const float *rstd, int N, int C, int nch) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    int ch = blockIdx.y, r = blockIdx.z;
    if (c >= C) return;
    int n0 = ch * COL_ROWS, n1 = min(N, n0 + COL_ROWS);
    float a = 0.0f;
    for (int n = n0; n < n1; n++) {
        size_t i = (size_t)r * N + n;
        a += dout[i * C + c] * (inp[i * C + c] * rstd[i]);
    }
    part[((size_t)r * nch + ch) * C + c] = a;
}

static void rmsnorm_bwd(ds_backend *be, float *dinp, float *dw, size_t ws, const float *dout,
                        const float *inp, const float *w, const float *rstd, int R, int N, int C) {
    OP_TIME(rmsnorm_bwd);
    long rows = (long)R * N;
    if (!rows) return;
    rmsnorm_bwd_dinp_k<<<cdiv(rows, 8), 256, 0, ST(be)>>>(dinp, dout, inp, w, rstd, ws, R, N, C);
    CK_LAUNCH();
    int nch = (int)cdiv(N, COL_ROWS);
    size_t pn = (size_t)R * nch * C;
    float *part = (float *)scratch(be, pn * sizeof(float)); // within layernorm_bwd's 2 pn
    dim3 grid(cdiv(C, 64), nch, R);
    rmsnorm_dw_partial_k<<<grid, 64, 0, ST(be)>>>(part, dout, inp, rstd, N, C, nch);
    CK_LAUNCH();
    colsum_final_k<<<cdiv((size_t)R * C, 128), 128, 0, ST(be)>>>(dw, ws, part, R, C, nch);
    CK_LAUNCH();
}

#endif
