/* cuda_check: checked CUDA calls for the .cu files in kernels/. DS_CUDA_TRY reports the
 * failing call with file, line and CUDA's error string into `err` and jumps
 * to the function's single cleanup label `fail`. */
#ifndef DS_CUDA_CHECK_H
#define DS_CUDA_CHECK_H

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

#endif
