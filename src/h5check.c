/* h5check: see h5check.h. */
#define _POSIX_C_SOURCE 200809L
#include "h5check.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int err_no;
    char desc[512]; /* innermost description */
} h5_cause;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
    (void)n;
    h5_cause *c = data;
    if (!e->desc) return 0;
    /* H5FD sec2 writes "... errno = 28, error message = '...' ..." */
    const char *p = strstr(e->desc, "errno = ");
    if (p) c->err_no = atoi(p + 8);
    snprintf(c->desc, sizeof c->desc, "%s", e->desc); /* walking downward: the last is innermost */
    return 0;
}

static void read_cause(h5_cause *c) {
    memset(c, 0, sizeof *c);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, c);
}

int ds_h5_errno(void) {
    h5_cause c;
    read_cause(&c);
    return c.err_no;
}

int ds_h5_fail(ds_error *err, const char *file, int line, const char *call) {
    h5_cause c;
    read_cause(&c);
    if (c.err_no > 0) {
        char cause[256];
        ds_strerror_lc(c.err_no, cause, sizeof cause);
        if (ds_h5_diag())
            return ds_error_set(err, DS_EXIT_STORAGE, "%s (%s:%d: %s)", cause, file, line, call);
        return ds_error_set(err, DS_EXIT_STORAGE, "%s", cause);
    }
    return ds_error_set(err, DS_EXIT_ERROR, "%s:%d: HDF5 call failed: %s%s%s", file, line, call,
                        c.desc[0] ? ": " : "", c.desc);
}

int ds_h5_diag(void) {
    const char *v = getenv("DISTSWEEP_HDF5_DIAG");
    return v && *v && strcmp(v, "0") != 0;
}

void ds_h5_library_init(void) {
    H5dont_atexit();
    if (!ds_h5_diag()) H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}
