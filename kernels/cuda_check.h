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

/* One checked call of library `lib` whose status type is `type` and whose
 * success value is `ok`; `str` turns a status into text, `text` is the call
 * as written (stringized by the public macros, before macro expansion).
 * `on_fail` is what happens after the report is made. */
#define DS_GPU_CHECK_(lib, type, ok, str, call, text, report, on_fail)                    \
    do {                                                                                  \
        type ds_gpu_rc_ = (call);                                                         \
        if (ds_gpu_rc_ != (ok)) {                                                         \
            report("%s:%d: " lib " error %d (%s) in %s", __FILE__, __LINE__,              \
                   (int)ds_gpu_rc_, str(ds_gpu_rc_), text);                               \
            on_fail;                                                                      \
        }                                                                                 \
    } while (0)
#define DS_GPU_SET_ERR_(...) ds_error_set(err, DS_EXIT_ERROR, __VA_ARGS__)
#define DS_GPU_DIE_(...) ds_die(DS_EXIT_ERROR, __VA_ARGS__)

/* For functions with a ds_error *err and a cleanup label `fail`. */
#define DS_CUDA_TRY(call) \
    DS_GPU_CHECK_("CUDA", cudaError_t, cudaSuccess, cudaGetErrorString, call, #call, DS_GPU_SET_ERR_, goto fail)
#define DS_CUBLAS_TRY(call)                                                         \
    DS_GPU_CHECK_("cuBLAS", cublasStatus_t, CUBLAS_STATUS_SUCCESS, cublasGetStatusString, \
                  call, #call, DS_GPU_SET_ERR_, goto fail)

/* Fatal checks for the void ops. */
#define CK(call) \
    DS_GPU_CHECK_("CUDA", cudaError_t, cudaSuccess, cudaGetErrorString, call, #call, DS_GPU_DIE_, (void)0)
#define CKB(call)                                                                   \
    DS_GPU_CHECK_("cuBLAS", cublasStatus_t, CUBLAS_STATUS_SUCCESS, cublasGetStatusString, \
                  call, #call, DS_GPU_DIE_, (void)0)
/* After every kernel launch: a bad launch configuration is reported where it happened. */
#define CK_LAUNCH() CK(cudaGetLastError())

#endif
