/* backend_kind: the backends' names (see backend_kind.h). */
#include "backend_kind.h"

#include <string.h>

const char *const ds_backend_kind_names[] = {"auto", "cpu", "cuda", NULL};

int ds_backend_kind_parse(const char *name, ds_backend_kind *out, ds_error *err) {
    for (int k = 0; name && ds_backend_kind_names[k]; k++)
        if (!strcmp(name, ds_backend_kind_names[k])) {
            *out = (ds_backend_kind)k;
            return 0;
        }
    return ds_error_set(err, DS_EXIT_USAGE, "backend '%s' is not one of auto, cpu, cuda",
                        name ? name : "");
}
