/* h5check: checked HDF5 calls and the HDF5 library policy of this program.
 *
 * HDF5 returns negative ids/status on failure. DS_H5_TRY reads the cause off
 * HDF5's error stack at once (the next HDF5 call clears it), fills err and
 * jumps to the calling function's `fail:` label, so that its single cleanup
 * path runs. A failure whose innermost cause is a system call (HDF5 reports
 * "errno = N" there: ENOSPC, EDQUOT, EROFS, EIO, ...) is a storage failure,
 * DS_EXIT_STORAGE, with the cause in plain words; any other is DS_EXIT_ERROR
 * naming the call, file and line. Use inside a function that has
 * `ds_error *err` and a `fail:` label:
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
            ds_h5_fail(err, __FILE__, __LINE__, #expr);                                   \
            goto fail;                                                                    \
        }                                                                                 \
    } while (0)

/* Sets err from the current HDF5 error stack after `call` (at file:line)
 * failed; returns err->code. */
int ds_h5_fail(ds_error *err, const char *file, int line, const char *call);

/* The system error (errno) at the bottom of the current HDF5 error stack, or
 * 0 when the failure did not come from a system call. */
int ds_h5_errno(void);

/* Called once before any other HDF5 call of a command that opens a result
 * file (run, and the readers status, report, eval, export): HDF5 must not
 * close files at exit (after a failed write it crashes doing so, and a file
 * whose writes failed is left as a killed writer's file for the next run to
 * recover; after a read failed on damaged metadata, its close at exit loops
 * and prints "HDF5: infinite loop closing library"), and its diagnostic
 * stacks are printed only when DISTSWEEP_HDF5_DIAG is set to a value other
 * than 0 (errors reach the user as one message instead). */
void ds_h5_library_init(void);

/* True when DISTSWEEP_HDF5_DIAG asks for HDF5's own diagnostics. */
int ds_h5_diag(void);

#endif
