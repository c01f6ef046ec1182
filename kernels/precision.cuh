// precision: the operand rounding of train.precision on the GPU (docs/engine.md
// "Precision"): the same rule as the CPU backend (ds_round_bits in
// src/precision.h, one definition), so that both backends round the same
// fp32 value to the same bits.
//
// The linear layers then run on tensor cores (matmul.cuh): tf32 on TF32
// tensor cores (CUBLAS_COMPUTE_32F_FAST_TF32) from rounded floats, which
// they take exactly whatever their own operand conversion; bf16 on bf16
// tensor cores from bf16 elements (CUDA_R_16BF, the rounded float's top 16
// bits). Attention's products run on CUDA cores from rounded floats
// (attention.cuh). Accumulation is fp32 everywhere, each product of two
// rounded values is exact in fp32, and only the accumulation order separates
// the GPU from the CPU reference.
#ifndef DS_PRECISION_CUH
#define DS_PRECISION_CUH

#include "cuda_common.cuh"

// x rounded to precision P (a ds_precision; fp32: x itself).
template <int P> __device__ __forceinline__ float prec_round(float x) {
    if (P == DS_PREC_FP32) return x;
    return __uint_as_float(ds_round_bits(__float_as_uint(x), DS_PREC_DROP(P), DS_PREC_TIES_EVEN(P)));
}

// dst[r*E + e] = round(src[r*ws + e]) for r < R, e < E (ws = E: a flat
// array), as floats, or with BF16OUT as bf16 (the top 16 bits of the rounded
// float: the rounding has cleared the low 16, NaNs stay quiet NaNs).
template <int P, int BF16OUT>
__global__ void prec_round_k(void *dst, const float *src, size_t ws, size_t E, int R) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= E * (size_t)R) return;
    size_t r = i / E, e = i % E;
    float v = prec_round<P>(src[r * ws + e]);
    if (BF16OUT) ((uint16_t *)dst)[i] = (uint16_t)(__float_as_uint(v) >> 16);
    else ((float *)dst)[i] = v;
}

// Rounding buffer `slot` (0 .. DS_CUDA_RND_SLOTS-1) with room for `bytes`.
static void *rnd_slot(cuda_impl *im, int slot, size_t bytes) {
    DS_ASSERT(slot >= 0 && slot < DS_CUDA_RND_SLOTS);
    if (im->rnd_bytes[slot] < bytes) {
        forbid_in_capture(im, "an operand rounding buffer grew");
        grew_past_reserve(im, "operand rounding buffer", im->rnd_bytes[slot], bytes);
        if (im->rnd[slot]) CK(cudaFree(im->rnd[slot])); // waits for the kernels that used it
        im->rnd[slot] = NULL;
        CK(cudaMalloc(&im->rnd[slot], bytes));
        im->rnd_bytes[slot] = bytes;
    }
    return im->rnd[slot];
}

// R blocks of E floats at stride ws rounded to the backend's precision into
// rounding buffer `slot`, packed at stride E. bf16_out: as bf16 elements
// (only at bf16). A slot is reused by the next call that names it: an op uses
// each slot for one operand.
static void *round_into(ds_backend *be, int slot, const float *src, size_t ws, size_t E, int R,
                        int bf16_out) {
    cuda_impl *im = IM(be);
    DS_ASSERT(im->prec != DS_PREC_FP32 && (!bf16_out || im->prec == DS_PREC_BF16));
    size_t n = E * (size_t)R;
    void *dst = rnd_slot(im, slot, n * (bf16_out ? 2 : 4));
    if (im->prec == DS_PREC_TF32)
        prec_round_k<DS_PREC_TF32, 0><<<cdiv(n, 256), 256, 0, ST(be)>>>(dst, src, ws, E, R);
    else if (bf16_out)
        prec_round_k<DS_PREC_BF16, 1><<<cdiv(n, 256), 256, 0, ST(be)>>>(dst, src, ws, E, R);
    else
        prec_round_k<DS_PREC_BF16, 0><<<cdiv(n, 256), 256, 0, ST(be)>>>(dst, src, ws, E, R);
    CK_LAUNCH();
    return dst;
}

// The fp32 operands of a CUDA-core product (attention.cuh): R blocks of E
// floats at stride ws rounded into `slot` and packed at stride E (*ws_out =
// E); at fp32 src itself (*ws_out = ws), no copy.
static const float *prec_rounded(ds_backend *be, int slot, const float *src, size_t ws, size_t E,
                                 int R, size_t *ws_out) {
    if (ws_out) *ws_out = ws;
    if (IM(be)->prec == DS_PREC_FP32 || !E || !R) return src;
    if (ws_out) *ws_out = E;
    return (const float *)round_into(be, slot, src, ws, E, R, 0);
}

// n contiguous floats rounded into `slot` (src itself at fp32).
static const float *prec_rounded_flat(ds_backend *be, int slot, const float *src, size_t n) {
    return prec_rounded(be, slot, src, n, n, 1, NULL);
}

// An operand of a tensor-core GEMM (matmul.cuh): its element type, and
// elements, at stride ws (elements) between replicas.
typedef struct {
    const void *p;
    cudaDataType_t type; // CUDA_R_32F, or CUDA_R_16BF at bf16
    size_t ws;
} gemm_operand;

// Bytes per element of an operand.
static inline int gemm_operand_bytes(gemm_operand a) { return a.type == CUDA_R_16BF ? 2 : 4; }

// R blocks of E floats at stride ws as a GEMM operand of the backend's
// precision: fp32 as they are; tf32 rounded floats (TF32 tensor cores take
// them exactly); bf16 as bf16 elements, half the bytes, for bf16 tensor cores
// with fp32 accumulation (a bf16 x bf16 product is exact in fp32).
static gemm_operand gemm_operand_of(ds_backend *be, int slot, const float *src, size_t ws,
                                    size_t E, int R) {
    cuda_impl *im = IM(be);
    if (im->prec == DS_PREC_FP32 || !E || !R) return (gemm_operand){src, CUDA_R_32F, ws};
    int bf = im->prec == DS_PREC_BF16;
    return (gemm_operand){round_into(be, slot, src, ws, E, R, bf), bf ? CUDA_R_16BF : CUDA_R_32F, E};
}

// n contiguous floats as a GEMM operand (one block).
static gemm_operand gemm_operand_flat(ds_backend *be, int slot, const float *src, size_t n) {
    return gemm_operand_of(be, slot, src, n, n, 1);
}

#endif
