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

float ds_round_tf32(float x) { return from_bits(ds_round_bits(bits(x), 13, 0)); }
float ds_round_bf16(float x) { return from_bits(ds_round_bits(bits(x), 16, 1)); }

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
    int drop = DS_PREC_DROP(p), even = DS_PREC_TIES_EVEN(p);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, src + i, 4);
        u = ds_round_bits(u, drop, even);
        memcpy(dst + i, &u, 4);
    }
}

const char *ds_precision_name(ds_precision p) {
    return p == DS_PREC_TF32 ? "tf32" : p == DS_PREC_BF16 ? "bf16" : "fp32";
}

int ds_precision_parse(const char *name, ds_precision *out) {
    for (int p = DS_PREC_FP32; p <= DS_PREC_BF16; p++)
        if (!strcmp(name, ds_precision_name((ds_precision)p))) {
            *out = (ds_precision)p;
            return 0;
        }
    return -1;
}

double ds_precision_unit_roundoff(ds_precision p) {
    return p == DS_PREC_TF32 ? 0x1p-11 : p == DS_PREC_BF16 ? 0x1p-8 : 0x1p-24;
}
