// swiglu: the SwiGLU of the llama block's MLP on the CUDA backend, forward and
// backward (backend.h). Written without a GPU: block llama is refused on cuda
// until tests/gpu has run these (src/backend.c ds_backend_supports_block).
#ifndef DS_SWIGLU_CUH
#define DS_SWIGLU_CUH

#include "cuda_common.cuh"

// one thread per (row, f): rows of 2F inputs (gate then up), F outputs
__global__ void swiglu_fwd_k(float *out, const float *inp, size_t rows, int F) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows * F) return;
    size_t row = i / F;
    int f = (int)(i % F);
    const float *x = inp + row * 2 * F;
    float g = x[f], s = 1.0f / (1.0f + expf(-g));
    out[i] = g * s * x[F + f];
}

__global__ void swiglu_bwd_k(float *dinp, const float *inp, const float *dout, size_t rows, int F) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows * F) return;
    size_t row = i / F;
    int f = (int)(i % F);
    const float *x = inp + row * 2 * F;
    float *dx = dinp + row * 2 * F;
    float g = x[f], u = x[F + f], s = 1.0f / (1.0f + expf(-g)), dy = dout[i];
    dx[f] = dy * u * (s * (1.0f + g * (1.0f - s)));
    dx[F + f] = dy * (g * s);
}

static void swiglu_fwd(ds_backend *be, float *out, const float *inp, size_t rows, int F) {
    OP_TIME(swiglu_fwd);
    size_t n = rows * (size_t)F;
    if (!n) return;
    swiglu_fwd_k<<<cdiv(n, 256), 256, 0, ST(be)>>>(out, inp, rows, F);
    CK_LAUNCH();
}

static void swiglu_bwd(ds_backend *be, float *dinp, const float *inp, const float *dout,
                       size_t rows, int F) {
    OP_TIME(swiglu_bwd);
    size_t n = rows * (size_t)F;
    if (!n) return;
    swiglu_bwd_k<<<cdiv(n, 256), 256, 0, ST(be)>>>(dinp, inp, dout, rows, F);
    CK_LAUNCH();
}

#endif
