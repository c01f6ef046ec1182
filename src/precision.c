/* precision: see precision.h. */
#include "precision.h"

#include <stdint.h>
#include <string.h>

static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}
static float from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* Keeps the top 32 - drop bits of x's encoding, rounded as the mode says.
 * Adding half an ulp of the narrow format to the magnitude (sign-magnitude
 * encoding) and truncating rounds half away from zero; adding one less than
 * half plus the kept lowest bit rounds half to even. A carry out of the
 * mantissa correctly bumps the exponent, up to infinity. */
static inline uint32_t round_bits(uint32_t u, int drop, int ties_even) {
    uint32_t keep = ~((1u << drop) - 1u);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) /* NaN: quiet, truncated */
        return (u | 0x00400000u) & keep;
    uint32_t half = 1u << (drop - 1);
    uint32_t add = ties_even ? half - 1u + ((u >> drop) & 1u) : half;
    return (u + add) & keep;
}

float ds_round_tf32(float x) { return from_bits(round_bits(bits(x), 13, 0)); }
float ds_round_bf16(float x) { return from_bits(round_bits(bits(x), 16, 1)); }

float ds_round(ds_precision p, float x) {
    switch (p) {
    case DS_PREC_TF32: return ds_round_tf32(x);
    case DS_PREC_BF16: return ds_round_bf16(x);
    default: return x;
    }
}

void ds_round_array(ds_precision p, float *dst, const float *src, size_t n) {
    if (p == DS_PREC_FP32) {
        if (dst != src) memmove(dst, src, n * sizeof *dst);
        return;
    }
    int drop = p == DS_PREC_TF32 ? 13 : 16, even = p == DS_PREC_BF16;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, src + i, 4);
        u = round_bits(u, drop, even);
        memcpy(dst + i, &u, 4);
    }
}

const char *ds_precision_name(ds_precision p) {
    return p == DS_PREC_TF32 ? "tf32" : p == DS_PREC_BF16 ? "bf16" : "fp32";
}

double ds_precision_unit_roundoff(ds_precision p) {
    return p == DS_PREC_TF32 ? 0x1p-11 : p == DS_PREC_BF16 ? 0x1p-8 : 0x1p-24;
}
