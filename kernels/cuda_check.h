/* cuda_check: the checked CUDA and cuBLAS calls of the .cu/.cuh files in kernels/,
 * each reporting the failing call with file, line and the library's error string.
 *
 * Two kinds, by what the caller can do with a failure:
 *   - DS_CUDA_TRY / DS_CUBLAS_TRY, for functions that return an error code
 *     (creation, ds_cuda.h): fill `err` and jump to the function's single
 *     cleanup label `fail`;
 *   - CK / CKB / CK_LAUNCH, for the backend's ops, which return void
 *     (src/backend.h): end the process via ds_die (docs/cuda.md, Errors). */
#ifndef DS_CUDA_CHECK_H
#define DS_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "common.h"

#define DS_CUDA_TRY(call)                                                                 \
    do {                                                                                  \
        cudaError_t ds_cuda_rc_ = (call);                                                 \
        if (ds_cuda_rc_ != cudaSuccess) {                                                 \
            ds_error_set(err, DS_EXIT_ERROR, "%s:%d: CUDA error %d (%s) in %s", __FILE__, \
                         __LINE__, (int)ds_cuda_rc_, cudaGetErrorString(ds_cuda_rc_),     \
                         #call);                                                          \
            goto fail;                                                                    \
        }                                                                                 \
    } while (0)

#define DS_CUBLAS_TRY(call)                                                                 \
    do {                                                                                    \
        cublasStatus_t ds_cublas_rc_ = (call);                                              \
        if (ds_cublas_rc_ != CUBLAS_STATUS_SUCCESS) {                                       \
            ds_error_set(err, DS_EXIT_ERROR, "%s:%d: cuBLAS error %d (%s) in %s", __FILE__, \
                         __LINE__, (int)ds_cublas_rc_, cublasGetStatusString(ds_cublas_rc_), \
                         #call);                                                            \
            goto fail;                                                                      \
        }                                                                                   \
    } while (0)

/* Fatal checks for the void ops. */
#define CK(call)                                                                            \
    do {                                                                                    \
        cudaError_t ck_rc_ = (call);                                                        \
        if (ck_rc_ != cudaSuccess)                                                          \
            ds_die(DS_EXIT_ERROR, "%s:%d: CUDA error %d (%s) in %s", __FILE__, __LINE__,    \
                   (int)ck_rc_, cudaGetErrorString(ck_rc_), #call);                         \
    } while (0)
#define CKB(call)                                                                           \
    do {                                                                                    \
        cublasStatus_t ckb_rc_ = (call);                                                    \
        if (ckb_rc_ != CUBLAS_STATUS_SUCCESS)                                               \
            ds_die(DS_EXIT_ERROR, "%s:%d: cuBLAS error %d (%s) in %s", __FILE__, __LINE__,  \
                   (int)ckb_rc_, cublasGetStatusString(ckb_rc_), #call);                    \
    } while (0)
/* After every kernel launch: a bad launch configuration is reported where it happened. */
#define CK_LAUNCH() CK(cudaGetLastError())

#endif
