/* h5check: checked HDF5 calls. HDF5 returns negative ids/status on failure;
 * DS_H5_CHECK reports the call, file and line and returns from the calling
 * function with err set, so that the caller's single cleanup path runs.
 * Use inside a function that has `ds_error *err` and a `fail:` label:
 *     hid_t f;
 *     DS_H5_TRY(f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT));
 */
#ifndef DS_H5CHECK_H
#define DS_H5CHECK_H

#include <hdf5.h>

#include "common.h"

#define DS_H5_TRY(expr)                                                                   \
    do {                                                                                  \
        if ((long long)(expr) < 0) {                                                      \
            ds_error_set(err, DS_EXIT_ERROR, "%s:%d: HDF5 call failed: %s", __FILE__,     \
                         __LINE__, #expr);                                                \
            goto fail;                                                                    \
        }                                                                                 \
    } while (0)

#endif
