/* results: see results.h. */
#include "results.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "h5check.h"

/* In DS_M_* order (engine.h). */
static const char *const metric_names[DS_N_METRICS] = {"em", "error", "minprob", "token_acc",
                                                       "loss"};

const char *ds_results_metric_name(int m) {
    DS_ASSERT(m >= 0 && m < DS_N_METRICS);
    return metric_names[m];
}

int ds_metric_index(const char *name) {
    for (int i = 0; i < DS_N_METRICS; i++)
        if (!strcmp(name, metric_names[i])) return i;
    return -1;
}

/* A string attribute of the root group (fixed or variable length), as a
 * malloc'd string; "" when absent. */
static char *attr_string(hid_t file, const char *name) {
    char *out = NULL;
    hid_t a = -1, ft = -1, mt = -1;
    if (H5Aexists(file, name) <= 0) goto done;
    if ((a = H5Aopen(file, name, H5P_DEFAULT)) < 0) goto done;
    if ((ft = H5Aget_type(a)) < 0 || H5Tget_class(ft) != H5T_STRING) goto done;
    if (H5Tis_variable_str(ft) > 0) {
        char *v = NULL;
        if ((mt = H5Tcopy(H5T_C_S1)) < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0) goto done;
        /* HDF5 converts no strings between character sets: read in the file's */
        if (H5Tset_cset(mt, H5Tget_cset(ft)) < 0) goto done;
        if (H5Aread(a, mt, &v) < 0 || !v) goto done;
        out = DS_MALLOC(strlen(v) + 1);
        strcpy(out, v);
        H5free_memory(v);
    } else {
        size_t n = H5Tget_size(ft);
        if ((mt = H5Tcopy(H5T_C_S1)) < 0 || H5Tset_size(mt, n + 1) < 0) goto done;
        if (H5Tset_cset(mt, H5Tget_cset(ft)) < 0) goto done;
        out = DS_CALLOC(n + 2, 1);
        if (H5Aread(a, mt, out) < 0) out[0] = 0;
    }
done:
    if (mt >= 0) H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
    if (a >= 0) H5Aclose(a);
    if (!out) out = DS_CALLOC(1, 1);
    return out;
}

/* Reads the dataset at path, of rank `rank`, into out, which has the shape
 * want[0..rank): the intersection of the stored and the wanted shapes is
 * copied, the rest of out is set to *fill (elsize bytes). Returns 1 when read,
 * 0 when absent (and !required), or an error code with err set. */
static int read_nd(ds_results *r, const char *path, hid_t memtype, size_t elsize, int rank,
                   const hsize_t *want, void *out, const void *fill, int required,
                   ds_error *err) {
    hid_t d = -1, sp = -1;
    int rc = DS_EXIT_USAGE;
    void *tmp = NULL;
    size_t total = 1;
    for (int i = 0; i < rank; i++) total *= want[i];
    for (size_t i = 0; i < total; i++) memcpy((char *)out + i * elsize, fill, elsize);

    if (H5Lexists(r->file, path, H5P_DEFAULT) <= 0) {
        if (!required) return 0;
        ds_error_set(err, DS_EXIT_USAGE, "not a distsweep result file: no dataset %s", path);
        goto fail;
    }
    DS_H5_TRY(d = H5Dopen2(r->file, path, H5P_DEFAULT));
    if (r->swmr) DS_H5_TRY(H5Drefresh(d));
    DS_H5_TRY(sp = H5Dget_space(d));
    hsize_t dims[8];
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd != rank) {
        ds_error_set(err, DS_EXIT_USAGE, "dataset %s has %d dimensions, expected %d", path, nd,
                     rank);
        goto fail;
    }
    DS_H5_TRY(H5Sget_simple_extent_dims(sp, dims, NULL));
    /* Only axes that can grow (the seed axis) may differ from want. */
    size_t stored = 1;
    for (int i = 0; i < rank; i++) stored *= dims[i];
    if (stored) {
        tmp = DS_MALLOC(stored * elsize);
        DS_H5_TRY(H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp));
        /* copy the intersection, row-major */
        size_t idx[8] = {0};
        for (size_t s = 0; s < stored; s++) {
            size_t o = 0, inside = 1;
            for (int i = 0; i < rank; i++) {
                if (idx[i] >= want[i]) inside = 0;
                o = o * want[i] + idx[i];
            }
            if (inside) memcpy((char *)out + o * elsize, (char *)tmp + s * elsize, elsize);
            for (int i = rank - 1; i >= 0; i--) {
                if (++idx[i] < dims[i]) break;
                idx[i] = 0;
            }
        }
    }
    rc = 1;
fail:
    free(tmp);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    if (rc != 1 && err->code == 0) ds_error_set(err, DS_EXIT_USAGE, "cannot read %s", path);
    return rc == 1 ? 1 : err->code;
}

/* The first dimension(s) of a dataset; -1 with err set if absent. */
static int dataset_dims(ds_results *r, const char *path, int rank, hsize_t *dims,
                        ds_error *err) {
    hid_t d = -1, sp = -1;
    int rc = -1;
    if (H5Lexists(r->file, path, H5P_DEFAULT) <= 0) {
        ds_error_set(err, DS_EXIT_USAGE, "not a distsweep result file: no dataset %s", path);
        return -1;
    }
    DS_H5_TRY(d = H5Dopen2(r->file, path, H5P_DEFAULT));
    if (r->swmr) DS_H5_TRY(H5Drefresh(d));
    DS_H5_TRY(sp = H5Dget_space(d));
    if (H5Sget_simple_extent_ndims(sp) != rank) {
        ds_error_set(err, DS_EXIT_USAGE, "dataset %s does not have %d dimension(s)", path, rank);
        goto fail;
    }
    DS_H5_TRY(H5Sget_simple_extent_dims(sp, dims, NULL));
    rc = 0;
fail:
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    return rc;
}

static int cmp_family_params(const void *a, const void *b, void *ctx);

static herr_t collect_family(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    ds_results *r = op;
    r->families = DS_REALLOC(r->families, (size_t)(r->n_families + 1) * sizeof *r->families);
    ds_res_family *f = &r->families[r->n_families++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    return 0;
}

static int load_families(ds_results *r, ds_error *err) {
    int rc = DS_EXIT_USAGE;
    if (H5Lexists(r->file, "/families", H5P_DEFAULT) > 0) {
        hid_t g;
        DS_H5_TRY(g = H5Gopen2(r->file, "/families", H5P_DEFAULT));
        hsize_t idx = 0;
        herr_t it = H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, collect_family, r);
        if (it < 0) { /* creation order not tracked: name order */
            for (int i = 0; i < r->n_families; i++) free(r->families[i].scale);
            free(r->families), r->families = NULL, r->n_families = 0, idx = 0;
            it = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_family, r);
        }
        H5Gclose(g);
        DS_H5_TRY(it);
        for (int i = 0; i < r->n_families; i++) {
            ds_res_family *f = &r->families[i];
            char path[256];
            hsize_t dims[1];
            snprintf(path, sizeof path, "/families/%s", f->name);
            if (dataset_dims(r, path, 1, dims, err) < 0) goto fail;
            f->n = (int)dims[0];
            f->scale = DS_MALLOC((f->n ? (size_t)f->n : 1) * sizeof *f->scale);
            int32_t fill = -1;
            if (read_nd(r, path, H5T_NATIVE_INT, sizeof(int), 1, dims, f->scale, &fill, 1,
                        err) != 1)
                goto fail;
            for (int k = 0; k < f->n; k++)
                if (f->scale[k] < 0 || f->scale[k] >= r->n_scales) {
                    ds_error_set(err, DS_EXIT_USAGE, "family %s: scale index %d out of range",
                                 f->name, f->scale[k]);
                    goto fail;
                }
        }
    }
    if (r->n_families == 0) {
        r->families = DS_CALLOC(1, sizeof *r->families);
        r->n_families = 1;
        ds_res_family *f = &r->families[0];
        snprintf(f->name, sizeof f->name, "all");
        f->n = r->n_scales;
        f->scale = DS_MALLOC((f->n ? (size_t)f->n : 1) * sizeof *f->scale);
        for (int k = 0; k < f->n; k++) f->scale[k] = k;
        /* insertion sort by parameters: a handful of scales */
        for (int k = 1; k < f->n; k++)
            for (int j = k; j > 0 && cmp_family_params(&f->scale[j - 1], &f->scale[j], r) > 0; j--) {
                int t = f->scale[j];
                f->scale[j] = f->scale[j - 1], f->scale[j - 1] = t;
            }
    }
    rc = 0;
fail:
    return rc;
}

static int cmp_family_params(const void *a, const void *b, void *ctx) {
    const ds_results *r = ctx;
    int64_t x = r->n_params[*(const int *)a], y = r->n_params[*(const int *)b];
    return (x > y) - (x < y);
}

static void free_seed_axis(ds_results *r) {
    free(r->seeds), free(r->status), free(r->attempts), free(r->rank), free(r->steps_done);
    free(r->wall_s), free(r->final_loss), free(r->id_em), free(r->train_loss);
    for (int m = 0; m < DS_N_METRICS; m++) free(r->metrics[m]), r->metrics[m] = NULL;
    r->seeds = NULL, r->status = NULL, r->attempts = r->rank = NULL, r->steps_done = NULL;
    r->wall_s = r->final_loss = r->id_em = r->train_loss = NULL;
}

int ds_results_refresh(ds_results *r, ds_error *err) {
    DS_ASSERT(err);
    int rc = DS_EXIT_USAGE;
    err->code = 0;
    free_seed_axis(r);
    /* Status first: everything a done run needs was written before it. */
    hsize_t sd[2];
    if (dataset_dims(r, "/runs/status", 2, sd, err) < 0) goto fail;
    if ((int)sd[0] != r->n_scales) {
        ds_error_set(err, DS_EXIT_USAGE, "/runs/status has %llu rows but /scales has %d",
                     (unsigned long long)sd[0], r->n_scales);
        goto fail;
    }
    r->n_seeds = (int64_t)sd[1];
    size_t S = (size_t)r->n_seeds, NS = (size_t)r->n_scales, n2 = (NS * S) > 0 ? NS * S : 1;
    hsize_t w2[2] = {NS, S}, w1[1] = {S};
    uint8_t u0 = DS_RUN_PENDING;
    r->status = DS_MALLOC(n2);
    if (read_nd(r, "/runs/status", H5T_NATIVE_UINT8, 1, 2, w2, r->status, &u0, 1, err) != 1)
        goto fail;
    int64_t i0 = 0;
    r->seeds = DS_MALLOC((S ? S : 1) * sizeof *r->seeds);
    if (read_nd(r, "/seeds", H5T_NATIVE_INT64, 8, 1, w1, r->seeds, &i0, 1, err) != 1) goto fail;

    float fnan = NAN;
    int32_t im1 = -1;
    int64_t lm1 = -1;
    r->attempts = DS_MALLOC(n2 * sizeof(int32_t));
    r->rank = DS_MALLOC(n2 * sizeof(int32_t));
    r->steps_done = DS_MALLOC(n2 * sizeof(int64_t));
    r->wall_s = DS_MALLOC(n2 * sizeof(float));
    r->final_loss = DS_MALLOC(n2 * sizeof(float));
    r->id_em = DS_MALLOC(n2 * sizeof(float));
    struct {
        const char *path;
        hid_t t;
        size_t sz;
        void *buf;
        const void *fill;
    } opt[] = {
        {"/runs/attempts", H5T_NATIVE_INT32, 4, r->attempts, &im1},
        {"/runs/rank", H5T_NATIVE_INT32, 4, r->rank, &im1},
        {"/runs/steps_done", H5T_NATIVE_INT64, 8, r->steps_done, &lm1},
        {"/runs/wall_s", H5T_NATIVE_FLOAT, 4, r->wall_s, &fnan},
        {"/runs/final_loss", H5T_NATIVE_FLOAT, 4, r->final_loss, &fnan},
        {"/runs/id_em", H5T_NATIVE_FLOAT, 4, r->id_em, &fnan},
    };
    for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++)
        if (read_nd(r, opt[i].path, opt[i].t, opt[i].sz, 2, w2, opt[i].buf, opt[i].fill, 0,
                    err) < 0 || err->code)
            goto fail;

    hsize_t w3[3] = {NS, S, (hsize_t)r->n_lengths};
    size_t n3 = NS * S * (size_t)r->n_lengths;
    for (int m = 0; m < DS_N_METRICS; m++) {
        char path[64];
        snprintf(path, sizeof path, "/metrics/%s", metric_names[m]);
        r->metrics[m] = DS_MALLOC((n3 ? n3 : 1) * sizeof(float));
        if (read_nd(r, path, H5T_NATIVE_FLOAT, 4, 3, w3, r->metrics[m], &fnan, 1, err) != 1)
            goto fail;
    }

    r->n_log = 0;
    if (H5Lexists(r->file, "/curves", H5P_DEFAULT) > 0 &&
        H5Lexists(r->file, "/curves/train_loss", H5P_DEFAULT) > 0) {
        hsize_t cd[3];
        if (dataset_dims(r, "/curves/train_loss", 3, cd, err) < 0) goto fail;
        r->n_log = (int64_t)cd[2];
        hsize_t wc[3] = {NS, S, cd[2]};
        size_t nc = NS * S * (size_t)cd[2];
        r->train_loss = DS_MALLOC((nc ? nc : 1) * sizeof(float));
        if (read_nd(r, "/curves/train_loss", H5T_NATIVE_FLOAT, 4, 3, wc, r->train_loss, &fnan,
                    1, err) != 1)
            goto fail;
    }
    rc = 0;
fail:
    if (rc) free_seed_axis(r);
    return rc;
}

static int load_scales(ds_results *r, ds_error *err) {
    int rc = DS_EXIT_USAGE;
    hid_t d = -1, ft = -1, mt = -1;
    hsize_t dims[1];
    if (dataset_dims(r, "/scales/name", 1, dims, err) < 0) goto fail;
    r->n_scales = (int)dims[0];
    size_t n = dims[0] ? dims[0] : 1;
    r->scale_name = DS_CALLOC(n, sizeof *r->scale_name);
    /* names: fixed-length (the layout) or variable-length strings */
    DS_H5_TRY(d = H5Dopen2(r->file, "/scales/name", H5P_DEFAULT));
    DS_H5_TRY(ft = H5Dget_type(d));
    if (H5Tget_class(ft) != H5T_STRING) {
        ds_error_set(err, DS_EXIT_USAGE, "/scales/name is not a string dataset");
        goto fail;
    }
    if (dims[0]) {
        if (H5Tis_variable_str(ft) > 0) {
            char **v = DS_CALLOC(n, sizeof *v);
            DS_H5_TRY(mt = H5Tcopy(H5T_C_S1));
            DS_H5_TRY(H5Tset_size(mt, H5T_VARIABLE));
            DS_H5_TRY(H5Tset_cset(mt, H5Tget_cset(ft)));
            herr_t s = H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
            for (size_t i = 0; i < dims[0]; i++) {
                if (s >= 0 && v[i]) snprintf(r->scale_name[i], 64, "%s", v[i]);
                if (v[i]) H5free_memory(v[i]);
            }
            free(v);
            DS_H5_TRY(s);
        } else {
            DS_H5_TRY(mt = H5Tcopy(H5T_C_S1));
            DS_H5_TRY(H5Tset_size(mt, 64)); /* longer names are truncated */
            DS_H5_TRY(H5Tset_strpad(mt, H5T_STR_NULLTERM));
            DS_H5_TRY(H5Tset_cset(mt, H5Tget_cset(ft)));
            DS_H5_TRY(H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, r->scale_name));
        }
    }
    r->d_model = DS_MALLOC(n * 4), r->n_layers = DS_MALLOC(n * 4), r->n_heads = DS_MALLOC(n * 4);
    r->n_params = DS_MALLOC(n * 8), r->flops_per_step = DS_MALLOC(n * 8);
    int32_t im1 = -1;
    int64_t lm1 = -1;
    double dnan = NAN;
    if (read_nd(r, "/scales/d_model", H5T_NATIVE_INT32, 4, 1, dims, r->d_model, &im1, 1, err) != 1 ||
        read_nd(r, "/scales/n_layers", H5T_NATIVE_INT32, 4, 1, dims, r->n_layers, &im1, 1, err) != 1 ||
        read_nd(r, "/scales/n_heads", H5T_NATIVE_INT32, 4, 1, dims, r->n_heads, &im1, 1, err) != 1 ||
        read_nd(r, "/scales/n_params", H5T_NATIVE_INT64, 8, 1, dims, r->n_params, &lm1, 1, err) != 1 ||
        read_nd(r, "/scales/flops_per_step", H5T_NATIVE_DOUBLE, 8, 1, dims, r->flops_per_step,
                &dnan, 0, err) < 0 || err->code)
        goto fail;
    rc = 0;
fail:
    if (mt >= 0) H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
    if (d >= 0) H5Dclose(d);
    return rc;
}

int ds_results_open(ds_results *r, const char *path, ds_error *err) {
    DS_ASSERT(err);
    err->code = 0, err->msg[0] = 0;
    memset(r, 0, sizeof *r);
    r->file = -1;
    int rc = DS_EXIT_USAGE;
    hid_t fapl = -1;
    /* Expected failures (no file, not HDF5, not SWMR) become our messages,
     * not HDF5's error stack on stderr. */
    H5E_auto2_t old_fn;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

    if (access(path, R_OK) != 0) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: cannot read the result file (no such file or no permission)", path);
        goto fail;
    }
    if (H5Fis_hdf5(path) <= 0) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: not an HDF5 file, so not a distsweep result file",
                     path);
        goto fail;
    }
    DS_H5_TRY(fapl = H5Pcreate(H5P_FILE_ACCESS));
    r->file = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl);
    r->swmr = r->file >= 0;
    if (r->file < 0) r->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (r->file < 0) {
        ds_error_set(err, DS_EXIT_USAGE,
                     "%s: HDF5 cannot open the file read-only (left behind by a killed writer? "
                     "see docs: h5clear -s)", path);
        goto fail;
    }
    char *format = attr_string(r->file, "format");
    int is_ds = !strcmp(format, "distsweep");
    free(format);
    if (!is_ds) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: not a distsweep result file (no format=\"distsweep\" attribute)", path);
        goto fail;
    }
    if (H5Aexists(r->file, "format_version") > 0) {
        hid_t a;
        DS_H5_TRY(a = H5Aopen(r->file, "format_version", H5P_DEFAULT));
        herr_t s = H5Aread(a, H5T_NATIVE_INT, &r->format_version);
        H5Aclose(a);
        DS_H5_TRY(s);
    }
    if (r->format_version != 1) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: format_version %d is not supported (this build reads 1)",
                     path, r->format_version);
        goto fail;
    }
    r->distsweep_version = attr_string(r->file, "distsweep_version");
    r->git_commit = attr_string(r->file, "git_commit");
    r->created = attr_string(r->file, "created");
    r->sweep_name = attr_string(r->file, "sweep_name");
    r->sweep_yaml = attr_string(r->file, "sweep_yaml");
    r->sweep_hash = attr_string(r->file, "sweep_hash");

    if (load_scales(r, err)) goto fail;
    hsize_t ed[1];
    if (dataset_dims(r, "/eval_lengths", 1, ed, err) < 0) goto fail;
    r->n_lengths = (int)ed[0];
    r->eval_lengths = DS_MALLOC((ed[0] ? ed[0] : 1) * sizeof *r->eval_lengths);
    int32_t im1 = -1;
    if (read_nd(r, "/eval_lengths", H5T_NATIVE_INT32, 4, 1, ed, r->eval_lengths, &im1, 1, err) != 1)
        goto fail;
    if (load_families(r, err)) goto fail;
    if (ds_results_refresh(r, err)) goto fail;
    rc = 0;
fail:
    if (fapl >= 0) H5Pclose(fapl);
    if (rc) {
        /* name the file in messages from the helpers */
        if (err && !strstr(err->msg, path)) {
            char m[sizeof err->msg];
            memcpy(m, err->msg, sizeof m);
            int k = snprintf(err->msg, sizeof err->msg, "%.1000s: ", path);
            snprintf(err->msg + k, sizeof err->msg - (size_t)k, "%.1000s", m);
        }
        if (err) err->code = DS_EXIT_USAGE;
        ds_results_close(r);
    }
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
    return rc;
}

void ds_results_close(ds_results *r) {
    free_seed_axis(r);
    free(r->distsweep_version), free(r->git_commit), free(r->created);
    free(r->sweep_name), free(r->sweep_yaml), free(r->sweep_hash);
    free(r->scale_name), free(r->d_model), free(r->n_layers), free(r->n_heads);
    free(r->n_params), free(r->flops_per_step), free(r->eval_lengths);
    for (int i = 0; i < r->n_families; i++) free(r->families[i].scale);
    free(r->families);
    if (r->file > 0) H5Fclose(r->file);
    memset(r, 0, sizeof *r);
    r->file = -1;
}

const ds_res_family *ds_results_family(const ds_results *r, const char *name) {
    for (int i = 0; i < r->n_families; i++)
        if (!strcmp(r->families[i].name, name)) return &r->families[i];
    return NULL;
}

int ds_results_length_index(const ds_results *r, int length) {
    for (int i = 0; i < r->n_lengths; i++)
        if (r->eval_lengths[i] == length) return i;
    return -1;
}

int64_t ds_results_count(const ds_results *r, int scale, int status) {
    int64_t c = 0;
    for (int64_t s = 0; s < r->n_seeds; s++)
        if (r->status[ds_res_run(r, scale, s)] == status) c++;
    return c;
}
