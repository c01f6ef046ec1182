// reduce: the CUDA backend's fixed-order reductions: the column sums behind the
// bias and LayerNorm weight gradients (layernorm.cuh, matmul.cuh use them),
// the per-replica sums to device doubles (weighted_sum, sumsq), and the
// per-replica update control that reads them (step_guard).
#ifndef DS_REDUCE_CUH
#define DS_REDUCE_CUH

#include "cuda_common.cuh"

// ---------------------------------------------------------------------------
// column sums (bias and LayerNorm weight gradients), two fixed-order stages:
// stage 1: partial[r][chunk][c] = float sum over the chunk's rows in order;
// stage 2: dst[r*ws + c] += (float) double sum of the partials in chunk order.

enum { COL_ROWS = DS_DEVMEM_COL_ROWS }; // rows per stage-1 chunk (src/devmem.h counts them)

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
// reductions to device doubles: stage 1 per (chunk, replica) block, a fixed
// shared-memory tree; stage 2 one thread per replica adds the chunks in order.

enum { RED_THREADS = 256, RED_CHUNK = DS_DEVMEM_RED_CHUNK };

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
static void reduce_to(ds_backend *be, double *out, const float *x, const float *w, size_t stride,
                      size_t n, int R) {
    if (!R) return;
    int nch = n ? (int)cdiv(n, RED_CHUNK) : 1;
    double *part = (double *)scratch(be, sizeof(double) * (size_t)R * nch);
    dim3 grid(nch, R);
    reduce_partial_k<MODE><<<grid, RED_THREADS, 0, ST(be)>>>(part, x, w, stride, n, nch);
    CK_LAUNCH();
    reduce_final_k<<<cdiv(R, 64), 64, 0, ST(be)>>>(out, part, R, nch);
    CK_LAUNCH();
}

static void weighted_sum(ds_backend *be, double *out, const float *x, const float *w, int R,
                         size_t N) {
    OP_TIME(weighted_sum);
    reduce_to<0>(be, out, x, w, N, N, R);
}
static void sumsq(ds_backend *be, double *out, const float *x, size_t stride, size_t n, int R) {
    OP_TIME(sumsq);
    reduce_to<1>(be, out, x, NULL, stride, n, R);
}

// ---------------------------------------------------------------------------
// step_guard: one thread per replica, the arithmetic the CPU backend runs
// (ds_step_guard_replica, src/backend.h)

__global__ void step_guard_k(float *loss, float *gnorm, float *gscale, uint8_t *active,
                             const double *lsum, const double *sq, int R, float clip) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r < R) ds_step_guard_replica(loss, gnorm, gscale, active, lsum, sq, r, clip);
}

static void step_guard(ds_backend *be, float *loss, float *gnorm, float *gscale, uint8_t *active,
                       const double *lsum, const double *sq, int R, float clip) {
    OP_TIME(step_guard);
    if (!R) return;
    step_guard_k<<<cdiv(R, 64), 64, 0, ST(be)>>>(loss, gnorm, gscale, active, lsum, sq, R, clip);
    CK_LAUNCH();
}

#endif
