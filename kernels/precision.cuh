// precision: the operand rounding of train.precision on the GPU (docs/engine.md
// "Precision"): the same rule as the CPU backend (ds_round_bits in
// src/precision.h, one definition), so that both backends round the same
// fp32 value to the same bits.
//
// The products then run on TF32 tensor cores (CUBLAS_COMPUTE_32F_FAST_TF32,
// matmul.cuh) or on CUDA cores (attention.cuh) with fp32 accumulation. A
// value already rounded to tf32 or bf16 is exactly representable in TF32,
// so the tensor core's own operand conversion (whatever its rounding) leaves
// it unchanged, each product of two such values is exact in fp32, and only
// the accumulation order separates the GPU from the CPU reference.
#ifndef DS_PRECISION_CUH
#define DS_PRECISION_CUH

#include "cuda_common.cuh"

// x rounded to precision P (a ds_precision; fp32: x itself).
template <int P> __device__ __forceinline__ float prec_round(float x) {
    if (P == DS_PREC_FP32) return x;
    return __uint_as_float(ds_round_bits(__float_as_uint(x), DS_PREC_DROP(P), DS_PREC_TIES_EVEN(P)));
}

// dst[r*E + e] = round(src[r*ws + e]) for r < R, e < E (ws = E: a flat array).
template <int P>
__global__ void prec_round_k(float *dst, const float *src, size_t ws, size_t E, int R) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= E * (size_t)R) return;
    size_t r = i / E, e = i % E;
    dst[i] = prec_round<P>(src[r * ws + e]);
}

// R blocks of E floats at stride ws, rounded to the backend's precision into
// rounding buffer `slot` (0 .. DS_CUDA_RND_SLOTS-1) and packed at stride E
// (*ws_out = E); at fp32 src itself (*ws_out = ws), no copy. A slot is reused
// by the next call that names it: an op uses each slot for one operand.
static const float *prec_rounded(ds_backend *be, int slot, const float *src, size_t ws, size_t E,
                                 int R, size_t *ws_out) {
    cuda_impl *im = IM(be);
    if (ws_out) *ws_out = ws;
    if (im->prec == DS_PREC_FP32 || !E || !R) return src;
    DS_ASSERT(slot >= 0 && slot < DS_CUDA_RND_SLOTS);
    size_t bytes = sizeof(float) * E * (size_t)R;
    if (im->rnd_bytes[slot] < bytes) {
        if (im->rnd[slot]) CK(cudaFree(im->rnd[slot])); // waits for the kernels that used it
        im->rnd[slot] = NULL;
        CK(cudaMalloc((void **)&im->rnd[slot], bytes));
        im->rnd_bytes[slot] = bytes;
    }
    float *dst = im->rnd[slot];
    size_t n = E * (size_t)R;
    if (im->prec == DS_PREC_TF32)
        prec_round_k<DS_PREC_TF32><<<cdiv(n, 256), 256, 0, ST(be)>>>(dst, src, ws, E, R);
    else
        prec_round_k<DS_PREC_BF16><<<cdiv(n, 256), 256, 0, ST(be)>>>(dst, src, ws, E, R);
    CK_LAUNCH();
    if (ws_out) *ws_out = E;
    return dst;
}

// n contiguous floats rounded into `slot` (src itself at fp32).
static const float *prec_rounded_flat(ds_backend *be, int slot, const float *src, size_t n) {
    return prec_rounded(be, slot, src, n, n, 1, NULL);
}

#endif
