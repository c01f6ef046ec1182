// rng_cuda: Philox4x32-10 on the GPU, bit-identical to src/rng.c, so that
// device-side init and data generation can reproduce the CPU's streams.
#include "cuda_check.h"
#include "ds_cuda.h"

__device__ __forceinline__ void philox4x32_10(uint4 &c, uint2 k) {
    #pragma unroll
    for (int round = 0; round < 10; round++) {
        uint32_t hi0 = __umulhi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
        uint32_t hi1 = __umulhi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
        c = make_uint4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k.x += 0x9E3779B9u;
        k.y += 0xBB67AE85u;
    }
}

__global__ void philox_blocks_kernel(uint2 key, uint32_t stream, uint64_t first, int64_t n,
                                     uint4 *out) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    uint64_t index = first + (uint64_t)i;
    uint4 c = make_uint4((uint32_t)index, (uint32_t)(index >> 32), stream, 0u);
    philox4x32_10(c, key);
    out[i] = c;
}

extern "C" int ds_cuda_device_count(void) {
    int n = 0;
    cudaError_t rc = cudaGetDeviceCount(&n);
    if (rc != cudaSuccess) {
        (void)cudaGetLastError(); /* clear the sticky "no driver" error */
        return 0;
    }
    return n;
}

extern "C" int ds_cuda_device_name(int dev, char *buf, int buflen, ds_error *err) {
    cudaDeviceProp p;
    DS_CUDA_TRY(cudaGetDeviceProperties(&p, dev));
    snprintf(buf, (size_t)buflen, "%s, sm_%d%d, %.1f GiB", p.name, p.major, p.minor,
             (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    return 0;
fail:
    return err ? err->code : DS_EXIT_ERROR;
}

extern "C" double ds_cuda_device_free_bytes(void) {
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        cudaGetLastError(); /* "cannot be read" is an answer, not a sticky error */
        return 0;
    }
    return (double)free_b;
}

extern "C" int ds_cuda_philox_blocks(uint64_t seed, uint32_t stream, uint64_t first, int64_t n,
                                     uint32_t *out, ds_error *err) {
    uint4 *d_out = NULL;
    int rc = 0;
    const int threads = 256;
    uint2 key = make_uint2((uint32_t)seed, (uint32_t)(seed >> 32));
    DS_ASSERT(n >= 0);
    if (n == 0) return 0;
    DS_CUDA_TRY(cudaMalloc(&d_out, (size_t)n * sizeof(uint4)));
    philox_blocks_kernel<<<(unsigned)((n + threads - 1) / threads), threads>>>(key, stream, first,
                                                                               n, d_out);
    DS_CUDA_TRY(cudaGetLastError());
    DS_CUDA_TRY(cudaMemcpy(out, d_out, (size_t)n * sizeof(uint4), cudaMemcpyDeviceToHost));
    goto done;
fail:
    rc = err ? err->code : DS_EXIT_ERROR;
done:
    if (d_out) cudaFree(d_out);
    return rc;
}
