/* The rounding rules of src/precision.h against hand-computed encodings:
 * ties (to even for bf16, away from zero for tf32), values just off a tie,
 * signed zeros, denormals, the largest finite values and overflow, Inf, NaN;
 * and ds_round_array against the scalar functions on every bit pattern of a
 * sample (in place and out of place). */
#include <stdint.h>
#include <string.h>

#include "precision.h"
#include "test.h"

static uint32_t b(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}
static float f(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

#define EXPECT_BITS(got, want)                                                          \
    CHECK_MSG(b(got) == (uint32_t)(want), "%s = 0x%08x, want 0x%08x", #got, b(got),     \
              (unsigned)(want))

int main(void) {
    /* exact values stay */
    EXPECT_BITS(ds_round_bf16(1.0f), 0x3f800000);
    EXPECT_BITS(ds_round_tf32(1.0f), 0x3f800000);
    EXPECT_BITS(ds_round_bf16(-0.0f), 0x80000000);
    EXPECT_BITS(ds_round_tf32(0.0f), 0x00000000);
    EXPECT_BITS(ds_round_bf16(f(0x40490000)), 0x40490000); /* 3.140625, 7-bit mantissa */

    /* bf16, ties to even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 */
    EXPECT_BITS(ds_round_bf16(1.0f + 0x1p-8f), 0x3f800000);
    /* 1 + 3*2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even) */
    EXPECT_BITS(ds_round_bf16(1.0f + 3 * 0x1p-8f), 0x3f820000);
    EXPECT_BITS(ds_round_bf16(-(1.0f + 3 * 0x1p-8f)), 0xbf820000);
    /* just above and below a tie */
    EXPECT_BITS(ds_round_bf16(f(0x3f808001)), 0x3f810000);
    EXPECT_BITS(ds_round_bf16(f(0x3f807fff)), 0x3f800000);
    /* pi = 0x40490fdb -> 0x40490000 (below the tie) */
    EXPECT_BITS(ds_round_bf16(3.14159265f), 0x40490000);

    /* tf32, ties away from zero: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 */
    EXPECT_BITS(ds_round_tf32(1.0f + 0x1p-11f), 0x3f802000);
    EXPECT_BITS(ds_round_tf32(-(1.0f + 0x1p-11f)), 0xbf802000);
    /* and 1 + 3*2^-11 rounds away too (not to even) */
    EXPECT_BITS(ds_round_tf32(1.0f + 3 * 0x1p-11f), 0x3f804000);
    EXPECT_BITS(ds_round_tf32(f(0x3f800fff)), 0x3f800000);
    EXPECT_BITS(ds_round_tf32(3.14159265f), 0x40490000); /* 0x40490fdb: 0xfdb below the tie 0x1000 */
    EXPECT_BITS(ds_round_tf32(f(0x40491fdb)), 0x40492000); /* 0x1fdb above it */

    /* carry into the exponent: the largest mantissa rounds up to the next power of 2 */
    EXPECT_BITS(ds_round_bf16(f(0x3fffffff)), 0x40000000);
    EXPECT_BITS(ds_round_tf32(f(0x3fffffff)), 0x40000000);

    /* denormals: rounded like any value, on the same bit grid */
    EXPECT_BITS(ds_round_bf16(f(0x00000001)), 0x00000000);
    EXPECT_BITS(ds_round_bf16(f(0x00008000)), 0x00000000); /* tie, even = 0 */
    EXPECT_BITS(ds_round_bf16(f(0x00018000)), 0x00020000); /* tie, odd 1 -> even 2 */
    EXPECT_BITS(ds_round_bf16(f(0x00008001)), 0x00010000);
    EXPECT_BITS(ds_round_tf32(f(0x00001000)), 0x00002000); /* tie, away */
    EXPECT_BITS(ds_round_tf32(f(0x00000fff)), 0x00000000);
    EXPECT_BITS(ds_round_bf16(f(0x807fffff)), 0x80800000); /* largest denormal -> smallest normal */

    /* the largest finite values stay; above them, overflow to infinity */
    EXPECT_BITS(ds_round_bf16(f(0x7f7f0000)), 0x7f7f0000);
    EXPECT_BITS(ds_round_tf32(f(0x7f7fe000)), 0x7f7fe000);
    EXPECT_BITS(ds_round_bf16(f(0x7f7f7fff)), 0x7f7f0000); /* below the tie */
    EXPECT_BITS(ds_round_bf16(f(0x7f7f8000)), 0x7f800000); /* tie to even = Inf */
    EXPECT_BITS(ds_round_bf16(f(0x7f7fffff)), 0x7f800000); /* FLT_MAX */
    EXPECT_BITS(ds_round_tf32(f(0x7f7fffff)), 0x7f800000);
    EXPECT_BITS(ds_round_tf32(f(0xff7ff000)), 0xff800000); /* -: tie away = -Inf */
    EXPECT_BITS(ds_round_tf32(f(0x7f7fefff)), 0x7f7fe000);

    /* infinities stay, NaNs stay NaN (quiet), even one whose payload is all dropped bits */
    EXPECT_BITS(ds_round_bf16(f(0x7f800000)), 0x7f800000);
    EXPECT_BITS(ds_round_tf32(f(0xff800000)), 0xff800000);
    EXPECT_BITS(ds_round_bf16(f(0x7f800001)), 0x7fc00000);
    EXPECT_BITS(ds_round_tf32(f(0xff800001)), 0xffc00000);
    EXPECT_BITS(ds_round_bf16(f(0x7fc00000)), 0x7fc00000);
    CHECK(ds_round(DS_PREC_FP32, f(0x7f800001)) != ds_round(DS_PREC_FP32, f(0x7f800001)));

    /* the unit roundoff bound holds on a sweep of values */
    for (uint32_t u = 0x00800000; u < 0x7f000000; u += 0x00012345) {
        float x = f(u);
        double e16 = (double)ds_round_bf16(x) - (double)x, e32 = (double)ds_round_tf32(x) - (double)x;
        CHECK_MSG(e16 <= 0x1p-8 * x && -e16 <= 0x1p-8 * x, "bf16 roundoff at 0x%08x", u);
        CHECK_MSG(e32 <= 0x1p-11 * x && -e32 <= 0x1p-11 * x, "tf32 roundoff at 0x%08x", u);
    }

    /* the array form agrees with the scalar one, in place and not */
    enum { N = 4099 };
    static float src[N], dst[N], inplace[N];
    for (int p = DS_PREC_FP32; p <= DS_PREC_BF16; p++) {
        uint32_t s = 12345u;
        for (int i = 0; i < N; i++) {
            s = s * 1664525u + 1013904223u;
            memcpy(&src[i], &s, 4);
        }
        memcpy(inplace, src, sizeof src);
        ds_round_array((ds_precision)p, dst, src, N);
        ds_round_array((ds_precision)p, inplace, inplace, N);
        int bad = 0;
        for (int i = 0; i < N; i++) {
            float want = ds_round((ds_precision)p, src[i]);
            bad += memcmp(&dst[i], &want, 4) != 0 || memcmp(&inplace[i], &want, 4) != 0;
        }
        CHECK_MSG(bad == 0, "%s: %d of %d array elements differ", ds_precision_name((ds_precision)p),
                  bad, N);
    }
    CHECK(ds_precision_unit_roundoff(DS_PREC_BF16) == 0x1p-8);
    TEST_MAIN_END();
}
