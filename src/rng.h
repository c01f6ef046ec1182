/* rng: counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
 *
 * Every random value in distsweep is a pure function of a key
 * (seed, stream, index): model init, training rows and evaluation examples can
 * be produced on any rank, in any order, on CPU or GPU, and give the same bits.
 * The 64-bit seed is the Philox key; the counter holds (index lo, index hi,
 * stream, draw), so one key yields 2^64 independent indices per stream and
 * 2^32 blocks of 4 words per index. */
#ifndef DS_RNG_H
#define DS_RNG_H

#include <stdint.h>

/* Streams: one per purpose, so that changing how many numbers one purpose
 * draws never shifts another. */
enum {
    DS_STREAM_INIT = 1,  /* parameter initialisation, index = parameter offset */
    DS_STREAM_TRAIN = 2, /* training rows, index = row number */
    DS_STREAM_EVAL = 3,  /* evaluation examples (keyed by eval_seed), index = example */
    DS_STREAM_TEST = 99, /* reserved for tests */
};

/* The raw block function: out = Philox4x32-10(ctr, key). */
void ds_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* A sequential reader over one (seed, stream, index) key: draws successive
 * 32-bit words from blocks 0, 1, 2, ... of that key. Cheap to create; used to
 * draw the variable number of values one example needs. */
typedef struct {
    uint32_t key[2];
    uint32_t ctr[4];
    uint32_t buf[4];
    int used; /* words of buf already consumed; 4 = need a new block */
} ds_rng;

void ds_rng_init(ds_rng *r, uint64_t seed, uint32_t stream, uint64_t index);
uint32_t ds_rng_u32(ds_rng *r);
/* Uniform integer in [lo, hi] inclusive (unbiased, rejection sampling). */
int64_t ds_rng_range(ds_rng *r, int64_t lo, int64_t hi);
/* Uniform float in (0, 1): 24 random bits, never 0 or 1. */
float ds_rng_uniform(ds_rng *r);
/* Standard normal by Box-Muller from two uniforms (float math in double). */
float ds_rng_normal(ds_rng *r);

#endif
