/* cli: what the subcommands share (see cli.h). */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfmodel.h"
#include "modelfile.h"

int ds_cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
    }
    return 0;
}

/* ---- option values --------------------------------------------------------------- */

/* "got 'TEXT'", or "got nothing" when the command line ended first. */
static const char *got(const char *text, char *buf, size_t n) {
    if (text) snprintf(buf, n, "got '%s'", text);
    else snprintf(buf, n, "got nothing");
    return buf;
}

/* The one integer parser: text as a whole, in [min, max] where the type's own
 * limits are [tmin, tmax] (a bound at the type's limit is not said). */
static int parse_integer(const char *option, const char *text, long long min, long long max,
                         long long tmin, long long tmax, long long *out, ds_error *err) {
    DS_ASSERT(option && min <= max && tmin <= min && max <= tmax);
    if (text && *text && !isspace((unsigned char)*text)) {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (!errno && !*end && v >= min && v <= max) {
            *out = v;
            return 0;
        }
    }
    char g[1100], range[96];
    if (min == tmin && max == tmax) range[0] = '\0';
    else if (max == tmax) snprintf(range, sizeof range, " >= %lld", min);
    else if (min == tmin) snprintf(range, sizeof range, " <= %lld", max);
    else snprintf(range, sizeof range, " from %lld to %lld", min, max);
    return ds_error_set(err, DS_EXIT_USAGE, "%s needs an integer%s, %s", option, range,
                        got(text, g, sizeof g));
}

int ds_cli_int(const char *option, const char *text, int min, int max, int *out, ds_error *err) {
    long long v;
    int rc = parse_integer(option, text, min, max, INT_MIN, INT_MAX, &v, err);
    if (!rc) *out = (int)v;
    return rc;
}

int ds_cli_int64(const char *option, const char *text, int64_t min, int64_t max, int64_t *out,
                 ds_error *err) {
    long long v;
    int rc = parse_integer(option, text, min, max, INT64_MIN, INT64_MAX, &v, err);
    if (!rc) *out = (int64_t)v;
    return rc;
}

int ds_cli_double(const char *option, const char *text, double lo, int lo_open, double hi,
                  double *out, ds_error *err) {
    DS_ASSERT(option && lo <= hi);
    if (text && *text && !isspace((unsigned char)*text)) {
        char *end;
        double v = strtod(text, &end);
        /* nan and inf are never an option's value: they would pass or fail
         * range checks by accident */
        if (!*end && isfinite(v) && (lo_open ? v > lo : v >= lo) && v <= hi) {
            *out = v;
            return 0;
        }
    }
    char g[1100], range[96];
    if (isinf(lo) && isinf(hi)) range[0] = '\0';
    else if (isinf(hi)) snprintf(range, sizeof range, " %s %g", lo_open ? ">" : ">=", lo);
    else if (isinf(lo)) snprintf(range, sizeof range, " <= %g", hi);
    else snprintf(range, sizeof range, " in %c%g, %g]", lo_open ? '(' : '[', lo, hi);
    return ds_error_set(err, DS_EXIT_USAGE, "%s needs a number%s, %s", option, range,
                        got(text, g, sizeof g));
}

int ds_cli_scale(const ds_sweep *s, const char *text, int *scale, ds_error *err) {
    DS_ASSERT(s);
    char name[32];
    if (text && *text) {
        /* a row: digits only (no sign, no blank), so that no name is ever read as a row */
        size_t k = strspn(text, "0123456789");
        if (!text[k] && k <= 9) {
            long v = strtol(text, NULL, 10);
            if (v < s->n_scales) {
                *scale = (int)v;
                return 0;
            }
        }
        for (int i = 0; i < s->n_scales; i++) {
            ds_scale_name(&s->scales[i], name, sizeof name);
            if (!strcmp(name, text)) {
                *scale = i;
                return 0;
            }
        }
    }
    char names[1024] = "";
    size_t used = 0;
    for (int i = 0; i < s->n_scales; i++) {
        char item[64];
        ds_scale_name(&s->scales[i], name, sizeof name);
        int w = snprintf(item, sizeof item, "%s%d=%s", i ? ", " : "", i, name);
        if (used + (size_t)w + sizeof ", ..." > sizeof names) { /* a long list ends in "..." */
            memcpy(names + used, ", ...", sizeof ", ...");
            break;
        }
        memcpy(names + used, item, (size_t)w + 1);
        used += (size_t)w;
    }
    return ds_error_set(err, DS_EXIT_USAGE, "%s: no scale '%s' (scales: %s)", s->path,
                        text ? text : "", names);
}

/* ---- a stored run ---------------------------------------------------------------- */

void ds_cli_stored_run_close(ds_cli_stored_run *r) {
    ds_results_close(&r->res);
    ds_sweep_free(r->s);
    free(r->params);
    memset(r, 0, sizeof *r);
}

int ds_cli_stored_run_open(const char *path, const char *scale_arg, int64_t seed,
                           ds_cli_stored_run *out, ds_error *err) {
    memset(out, 0, sizeof *out);
    ds_results *res = &out->res;
    int rc = ds_results_open(res, path, err);
    if (rc) return rc;
    ds_error e2 = {0};
    if (ds_sweep_load_text(path, res->sweep_yaml, &out->s, &e2))
        return ds_error_set(err, DS_EXIT_USAGE, "%s: the sweep stored in the file does not load: %s",
                            path, e2.msg);
    /* model.init: the architecture is config.json's (the stored text says "from
     * config.json"); init.from resolves against the result file's directory.
     * The stored model holds the weights: the base's config.json is enough */
    out->s->model.init.config_only = 1;
    if (ds_hf_attach(out->s, &e2))
        return ds_error_set(err, DS_EXIT_USAGE, "%s: the sweep starts from model.init.from '%s', "
                            "whose config.json gives the model's architecture: run this beside it "
                            "(%s)", path, out->s->model.init.from, e2.msg);
    if (out->s->n_scales != res->n_scales)
        return ds_error_set(err, DS_EXIT_USAGE, "%s: the stored sweep has %d scale(s), /scales %d",
                            path, out->s->n_scales, res->n_scales);
    if ((rc = ds_cli_scale(out->s, scale_arg, &out->scale, err))) return rc;
    out->seed = seed;
    out->seed_idx = -1;
    for (int64_t i = 0; i < res->n_seeds; i++)
        if (res->seeds[i] == seed) out->seed_idx = i;
    if (out->seed_idx < 0)
        return ds_error_set(err, DS_EXIT_USAGE, "%s: no seed %lld (the file has seeds %lld..%lld)",
                            path, (long long)seed, res->n_seeds ? (long long)res->seeds[0] : 0LL,
                            res->n_seeds ? (long long)res->seeds[res->n_seeds - 1] : -1LL);
    int status = res->status[ds_res_run(res, out->scale, out->seed_idx)];
    if (status != DS_RUN_DONE)
        return ds_error_set(err, DS_EXIT_USAGE, "%s: run (scale %s, seed %lld) is %s, not done: it "
                            "has no model", path, res->scale_name[out->scale], (long long)seed,
                            status >= 0 && status < DS_N_RUN_STATUS ? ds_run_status_name(status)
                                                                     : "of an unknown status");
    char dir[4200];
    ds_modelfile_dir(path, dir, sizeof dir);
    ds_modelfile_path(dir, out->scale, seed, out->model_path, sizeof out->model_path);
    FILE *f = fopen(out->model_path, "rb");
    if (!f)
        return ds_error_set(err, DS_EXIT_USAGE, "%s: run (scale %s, seed %lld) has no stored model "
                            "(%s: %s). Models are kept only for the seeds run.save_models selects "
                            "(docs/sweep-file.md); set it and run the sweep again to train and "
                            "store them", path, res->scale_name[out->scale], (long long)seed,
                            out->model_path, strerror(errno));
    fclose(f);
    return ds_modelfile_load(out->model_path, out->s, out->scale, seed, &out->params, &out->steps,
                             err);
}
