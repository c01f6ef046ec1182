/* The GPU's Philox4x32-10 gives the same bits as the CPU's rng.c for a
 * million keys, including indices above 2^32 (the high counter word). */
#include <string.h>

#include "../test.h"
#include "ds_cuda.h"
#include "rng.h"

static void compare(uint64_t seed, uint32_t stream, uint64_t first, int64_t n) {
    uint32_t *gpu = DS_MALLOC((size_t)n * 4 * sizeof(uint32_t));
    ds_error err = {0};
    int rc = ds_cuda_philox_blocks(seed, stream, first, n, gpu, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    int64_t mismatches = 0;
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        ds_rng r;
        ds_rng_init(&r, seed, stream, first + (uint64_t)i);
        for (int w = 0; w < 4; w++)
            if (ds_rng_u32(&r) != gpu[4 * i + w]) mismatches++;
    }
    CHECK_MSG(mismatches == 0, "seed %llu: %lld of %lld words differ", (unsigned long long)seed,
              (long long)mismatches, (long long)(4 * n));
    free(gpu);
}

int main(void) {
    int n = ds_cuda_device_count();
    if (n == 0) {
        printf("SKIPPED: no GPU visible\n");
        return 77;
    }
    char name[256];
    ds_error err = {0};
    CHECK(ds_cuda_device_name(0, name, sizeof name, &err) == 0);
    printf("device 0 of %d: %s\n", n, name);
    compare(0, DS_STREAM_INIT, 0, 1 << 20);
    compare(0xDEADBEEFCAFEF00DULL, DS_STREAM_TRAIN, 0xFFFFFF00ULL, 1 << 20);
    TEST_MAIN_END();
}
