/* backend_kind: the names of the backends (auto, cpu, cuda), apart from the
 * backend's op table (backend.h) so that the sweep (run.backend) and the
 * command line can name a backend without depending on the backend itself.
 * The one meaning of `auto` (ds_backend_resolve) stays in backend.h: it asks
 * CUDA whether a GPU is visible. */
#ifndef DS_BACKEND_KIND_H
#define DS_BACKEND_KIND_H

#include "common.h"

/* The backend kinds, as named in run.backend and --backend (the names are
 * ds_backend_kind_names[kind]). The values are stored nowhere. */
typedef enum { DS_BACKEND_AUTO = 0, DS_BACKEND_CPU = 1, DS_BACKEND_CUDA = 2 } ds_backend_kind;

/* "auto", "cpu", "cuda", then NULL: indexed by ds_backend_kind, and the list
 * sweep.c's enum checker words its FILE:LINE:COL errors with. */
extern const char *const ds_backend_kind_names[];

/* Parses a backend name (exactly one of ds_backend_kind_names) into *out.
 * Returns 0, or DS_EXIT_USAGE with err (may be NULL) set to "backend 'NAME'
 * is not one of auto, cpu, cuda"; *out is then untouched. The one parser of
 * backend names: sweep.c (run.backend), run, train and bench (--backend). */
int ds_backend_kind_parse(const char *name, ds_backend_kind *out, ds_error *err);

#endif
