/* ds_cuda: the plain C interface to distsweep's CUDA code (the .cu files in kernels/).
 *
 * Host code includes only this header; it never sees CUDA types. Every
 * function returns 0 on success or an error code with err filled (file, line
 * and the CUDA error string), so a CUDA failure in a job is reported to the
 * scheduler rather than aborting the rank (docs/design.md §7). Built only when CMake
 * finds a CUDA toolkit (DISTSWEEP_HAVE_CUDA). */
#ifndef DS_CUDA_H
#define DS_CUDA_H

#include <stdint.h>

#include "common.h"
#include "precision.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices. 0 when there is no GPU or no driver
 * (cudaErrorNoDevice / cudaErrorInsufficientDriver are "no GPU", not errors). */
int ds_cuda_device_count(void);

/* Writes a one-line description of device dev ("NVIDIA H100 80GB HBM3, sm_90,
 * 79.1 GiB") into buf. Returns 0 or an error code with err set. */
int ds_cuda_device_name(int dev, char *buf, int buflen, ds_error *err);

/* Free memory of the current device in bytes (cudaMemGetInfo), what a pack
 * can still allocate; 0 when it cannot be read. */
double ds_cuda_device_free_bytes(void);

/* Fills out[0..4n-1] with Philox4x32-10 blocks for counters
 * (index lo, index hi, stream, block) for index = first .. first+n-1, block 0,
 * under the 64-bit seed: the same words rng.h's ds_rng_u32 draws first from
 * each of those keys on the CPU. Runs on the current device. */
int ds_cuda_philox_blocks(uint64_t seed, uint32_t stream, uint64_t first, int64_t n,
                          uint32_t *out, ds_error *err);

/* The CUDA backend of backend.h (kernels/backend_cuda.cu) on device `device`:
 * its own stream and cuBLAS handle; every matrix product's operands rounded
 * to `precision` as docs/engine.md "Precision" defines (fp32: as they are,
 * on CUDA cores; tf32: rounded, then TF32 tensor cores for the linear
 * layers; bf16: bf16 operands on bf16 tensor cores; fp32 accumulation
 * everywhere). Returns 0, or an error code with err set
 * (no GPU visible, CUDA or cuBLAS initialisation failed). Free with
 * be->destroy(be). A CUDA error inside an op ends the process via ds_die
 * with file and line (the ops return void). */
typedef struct ds_backend ds_backend;

/* Checks the CUDA backend's environment switches that take a value
 * (DISTSWEEP_CUDA_ATTENTION: unset, gemm or tiled; docs/cuda.md). Returns 0,
 * or DS_EXIT_USAGE with err naming the bad value. ds_backend_supports calls
 * it, so that a sweep is refused before any run starts. */
int ds_cuda_check_env(ds_error *err);

int ds_backend_cuda_create(int device, ds_precision precision, ds_backend **out, ds_error *err);

#ifdef __cplusplus
}
#endif
#endif
