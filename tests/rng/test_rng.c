/* Philox4x32-10 against the known-answer vectors published with Random123
 * (kat_vectors: philox4x32_10), and properties of the derived draws. */
#include <string.h>

#include "../test.h"
#include "rng.h"

static void kat(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1,
                uint32_t e0, uint32_t e1, uint32_t e2, uint32_t e3) {
    uint32_t ctr[4] = {c0, c1, c2, c3}, key[2] = {k0, k1}, out[4];
    ds_philox4x32_10(ctr, key, out);
    CHECK_MSG(out[0] == e0 && out[1] == e1 && out[2] == e2 && out[3] == e3,
              "got %08x %08x %08x %08x", out[0], out[1], out[2], out[3]);
}

int main(void) {
    kat(0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8);
    kat(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
        0x41c83b0e, 0xa20bc7c6, 0x6d5451fd);
    kat(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
        0x94fdcceb, 0x5001e420, 0x24126ea1);

    /* A key's stream does not depend on what was drawn before from other keys. */
    ds_rng a, b, c;
    ds_rng_init(&a, 42, DS_STREAM_TRAIN, 7);
    uint32_t first[9];
    for (int i = 0; i < 9; i++) first[i] = ds_rng_u32(&a);
    ds_rng_init(&c, 42, DS_STREAM_TRAIN, 6);
    for (int i = 0; i < 1000; i++) (void)ds_rng_u32(&c);
    ds_rng_init(&b, 42, DS_STREAM_TRAIN, 7);
    for (int i = 0; i < 9; i++) CHECK(ds_rng_u32(&b) == first[i]);

    /* Different streams and seeds give different words. */
    ds_rng_init(&b, 42, DS_STREAM_INIT, 7);
    CHECK(ds_rng_u32(&b) != first[0]);
    ds_rng_init(&b, 43, DS_STREAM_TRAIN, 7);
    CHECK(ds_rng_u32(&b) != first[0]);

    /* range covers exactly [lo, hi] and is roughly uniform. */
    int hist[7] = {0};
    ds_rng_init(&a, 1, DS_STREAM_TEST, 0);
    for (int i = 0; i < 70000; i++) {
        int64_t v = ds_rng_range(&a, 3, 9);
        CHECK(v >= 3 && v <= 9);
        if (v >= 3 && v <= 9) hist[v - 3]++;
    }
    for (int i = 0; i < 7; i++) CHECK_MSG(hist[i] > 9400 && hist[i] < 10600, "bin %d: %d", i, hist[i]);

    /* normal: mean ~0, variance ~1 over 100k draws (5-sigma bounds). */
    double s = 0, s2 = 0;
    int n = 100000;
    for (int i = 0; i < n; i++) {
        double x = ds_rng_normal(&a);
        s += x;
        s2 += x * x;
    }
    CHECK_NEAR(s / n, 0.0, 5.0 / sqrt(n));
    CHECK_NEAR(s2 / n, 1.0, 5.0 * sqrt(2.0 / n));
    TEST_MAIN_END();
}
