// kv_repeat: grouped-query attention's shared key/value heads on the CUDA
// backend (backend.h): a row of q (H heads), k, v (K heads each) becomes the
// [3][H] heads the attention kernels take, and the gradient back. Written
// without a GPU: block llama is refused on cuda until tests/gpu has run these
// (src/backend.c ds_backend_supports_block).
#ifndef DS_KV_REPEAT_CUH
#define DS_KV_REPEAT_CUH

#include "cuda_common.cuh"

// one thread per output element of [rows][3][H][hd]
__global__ void kv_repeat_fwd_k(float *out, const float *inp, size_t rows, int H, int K, int hd) {
    size_t C = (size_t)H * hd, i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows * 3 * C) return;
    size_t row = i / (3 * C), e = i % (3 * C);
    int part = (int)(e / C), h = (int)(e % C / hd), k = (int)(e % hd);
    const float *x = inp + row * (size_t)(H + 2 * K) * hd;
    size_t src = part == 0 ? e : C + (size_t)(part - 1) * K * hd + (size_t)(h / (H / K)) * hd + k;
    out[i] = x[src];
}

// one thread per input element of [rows][H+2K][hd]: the group's heads in order
__global__ void kv_repeat_bwd_k(float *dinp, const float *dout, size_t rows, int H, int K, int hd) {
    size_t C = (size_t)H * hd, Ci = (size_t)(H + 2 * K) * hd;
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows * Ci) return;
    size_t row = i / Ci, e = i % Ci;
    const float *dy = dout + row * 3 * C;
    if (e < C) {
        dinp[i] = dy[e];
        return;
    }
    size_t kv = e - C;
    int part = 1 + (int)(kv / ((size_t)K * hd)), j = (int)(kv % ((size_t)K * hd) / hd);
    int k = (int)(kv % hd), G = H / K;
    const float *s = dy + part * C + (size_t)j * G * hd + k;
    float acc = s[0];
    for (int g = 1; g < G; g++) acc += s[(size_t)g * hd];
    dinp[i] = acc;
}

static void kv_repeat_fwd(ds_backend *be, float *out, const float *inp, size_t rows, int H, int K,
                          int hd) {
    OP_TIME(kv_repeat_fwd);
    size_t n = rows * 3 * (size_t)H * hd;
    if (!n) return;
    kv_repeat_fwd_k<<<cdiv(n, 256), 256, 0, ST(be)>>>(out, inp, rows, H, K, hd);
    CK_LAUNCH();
}

static void kv_repeat_bwd(ds_backend *be, float *dinp, const float *dout, size_t rows, int H,
                          int K, int hd) {
    OP_TIME(kv_repeat_bwd);
    size_t n = rows * (size_t)(H + 2 * K) * hd;
    if (!n) return;
    kv_repeat_bwd_k<<<cdiv(n, 256), 256, 0, ST(be)>>>(dinp, dout, rows, H, K, hd);
    CK_LAUNCH();
}

#endif
