/* backend_util: how a test binary gets a backend: through ds_backend_create
 * (src/backend.h), the factory every caller uses, ending the binary with the
 * factory's message when it fails. */
#ifndef DS_TEST_BACKEND_UTIL_H
#define DS_TEST_BACKEND_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#include "backend.h"

/* A backend of `kind` (threads: CPU threads, <= 0 for the default) whose
 * products are computed at precision p. */
static inline ds_backend *test_backend_prec(ds_backend_kind kind, int threads, ds_precision p) {
    ds_backend_opts o = {.kind = kind, .threads = threads, .precision = p};
    ds_backend *be = NULL;
    ds_error err = {0};
    if (ds_backend_create(&o, &be, &err)) {
        fprintf(stderr, "test: %s\n", err.msg);
        exit(1);
    }
    return be;
}

/* The precision a test binary is run at: argv[1] when given (fp32, tf32 or
 * bf16; anything else ends the binary with a usage message, exit 2), else fp32. */
static inline ds_precision test_precision_arg(int argc, char **argv) {
    ds_precision p = DS_PREC_FP32;
    if (argc > 1 && ds_precision_parse(argv[1], &p) != 0) {
        fprintf(stderr, "usage: %s [fp32|tf32|bf16]\n", argv[0]);
        exit(2);
    }
    return p;
}

/* The same at fp32. */
static inline ds_backend *test_backend(ds_backend_kind kind, int threads) {
    return test_backend_prec(kind, threads, DS_PREC_FP32);
}

#endif
