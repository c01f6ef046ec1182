/* rng: see rng.h. */
#include "rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void ds_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

void ds_rng_init(ds_rng *r, uint64_t seed, uint32_t stream, uint64_t index) {
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = (uint32_t)index;
    r->ctr[1] = (uint32_t)(index >> 32);
    r->ctr[2] = stream;
    r->ctr[3] = 0; /* block number within this key */
    r->used = 4;
}

uint32_t ds_rng_u32(ds_rng *r) {
    if (r->used == 4) {
        ds_philox4x32_10(r->ctr, r->key, r->buf);
        r->ctr[3]++;
        r->used = 0;
    }
    return r->buf[r->used++];
}

int64_t ds_rng_range(ds_rng *r, int64_t lo, int64_t hi) {
    uint64_t span = (uint64_t)(hi - lo) + 1; /* hi >= lo; spans up to 2^32 supported */
    if (span == 0 || span > 0xFFFFFFFFull) return lo + (int64_t)ds_rng_u32(r);
    /* Reject the top partial bucket so every value is equally likely. */
    uint64_t limit = (0x100000000ull / span) * span;
    uint64_t x;
    do {
        x = ds_rng_u32(r);
    } while (x >= limit);
    return lo + (int64_t)(x % span);
}

float ds_rng_uniform(ds_rng *r) {
    return ((float)(ds_rng_u32(r) >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

float ds_rng_normal(ds_rng *r) {
    double u1 = ds_rng_uniform(r);
    double u2 = ds_rng_uniform(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
