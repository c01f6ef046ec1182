/* precision: the rounding rules of the matmul precisions (train.precision,
 * docs/engine.md "Precision"), written once for every backend.
 *
 * Owns the modes (ds_precision) and the definition of each mode's operand
 * rounding. fp32 leaves operands as they are.
 * tf32 keeps 10 of fp32's 23 mantissa bits, rounding to nearest with ties
 * away from zero (PTX cvt.rna.tf32.f32, what CUTLASS feeds tensor cores).
 * bf16 keeps 7, rounding to nearest with ties to even (__float2bfloat16_rn).
 * Both keep fp32's 8 exponent bits, so they round denormals like any other
 * value and overflow to infinity only above their largest finite value
 * (bf16 0x7f7f0000 = 3.38953139e38, tf32 0x7f7fe000 = 3.40277175e38); a NaN
 * stays a NaN (made quiet), an infinity stays itself, the sign is kept. The
 * results are fp32 values, exactly representable in the narrow format. */
#ifndef DS_PRECISION_H
#define DS_PRECISION_H

#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define DS_PREC_HD __host__ __device__ /* the CUDA kernels round with the same rule */
#else
#define DS_PREC_HD
#endif

#ifdef __cplusplus
extern "C" { /* kernels/ are compiled as CUDA C++ */
#endif

/* train.precision (docs/engine.md "Precision"). */
typedef enum { DS_PREC_FP32 = 0, DS_PREC_TF32 = 1, DS_PREC_BF16 = 2 } ds_precision;

/* The rule itself, on x's encoding u: keeps the top 32 - drop bits (drop 13
 * for tf32, 16 for bf16), rounded half away from zero (ties_even 0) or half
 * to even (1). Adding half an ulp of the narrow format to the magnitude
 * (sign-magnitude encoding) and truncating rounds half away from zero; adding
 * one less than half plus the kept lowest bit rounds half to even. A carry
 * out of the mantissa correctly bumps the exponent, up to infinity. A NaN is
 * made quiet and truncated. Inline here so that the CPU backend
 * (src/precision.c) and the CUDA kernels (kernels/precision.cuh) run this one
 * definition. */
static inline DS_PREC_HD uint32_t ds_round_bits(uint32_t u, int drop, int ties_even) {
    uint32_t keep = ~((1u << drop) - 1u);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) return (u | 0x00400000u) & keep;
    uint32_t half = 1u << (drop - 1);
    uint32_t add = ties_even ? half - 1u + ((u >> drop) & 1u) : half;
    return (u + add) & keep;
}
/* The drop and ties_even arguments of ds_round_bits for mode p (not fp32). */
#define DS_PREC_DROP(p) ((p) == DS_PREC_TF32 ? 13 : 16)
#define DS_PREC_TIES_EVEN(p) ((p) == DS_PREC_BF16)

float ds_round_tf32(float x);
float ds_round_bf16(float x);

/* x rounded to precision p (fp32: x itself). */
float ds_round(ds_precision p, float x);

/* dst[i] = ds_round(p, src[i]) for i < n; dst may equal src. */
void ds_round_array(ds_precision p, float *dst, const float *src, size_t n);

/* "fp32", "tf32" or "bf16". */
const char *ds_precision_name(ds_precision p);

/* The mode named `name` ("fp32", "tf32" or "bf16") into *out: 0, or -1 for
 * any other name (*out untouched). */
int ds_precision_parse(const char *name, ds_precision *out);

/* The unit roundoff of an operand of precision p: |round(x) - x| <= u |x|
 * for every finite x whose rounding does not overflow (2^-24, 2^-11, 2^-8). */
double ds_precision_unit_roundoff(ds_precision p);

#ifdef __cplusplus
}
#endif
#endif
