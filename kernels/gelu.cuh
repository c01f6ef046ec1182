// gelu: the exact GELU of the CUDA backend (forward and backward) and the residual add.
#ifndef DS_GELU_CUH
#define DS_GELU_CUH

#include "cuda_common.cuh"

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
    OP_TIME(gelu_fwd);
    if (!n) return;
    gelu_fwd_k<<<cdiv(n, 256), 256, 0, ST(be)>>>(out, inp, n);
    CK_LAUNCH();
}
static void gelu_bwd(ds_backend *be, float *dinp, const float *inp, const float *dout, size_t n) {
    OP_TIME(gelu_bwd);
    if (!n) return;
    gelu_bwd_k<<<cdiv(n, 256), 256, 0, ST(be)>>>(dinp, inp, dout, n);
    CK_LAUNCH();
}
static void add(ds_backend *be, float *out, const float *a, const float *b, size_t n) {
    OP_TIME(add);
    if (!n) return;
    add_k<<<cdiv(n, 256), 256, 0, ST(be)>>>(out, a, b, n);
    CK_LAUNCH();
}

#endif
