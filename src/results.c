/* results: see results.h. */
#define _POSIX_C_SOURCE 200809L
#include "results.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "h5check.h"
#include "h5util.h"
#include "journal.h"
#include "sweep.h"
#include "tasks.h" /* the task name of a sweep without evaluation */

/* Sets err to say that `what` (a dataset, group or attribute of the file)
 * cannot be read, and marks r damaged: HDF5 fails a read this way on a
 * metadata block whose checksum or structure is wrong (once its bounded
 * retries, DS_H5_READ_ATTEMPTS, are spent), or on the storage's error, which
 * is named when HDF5 reports one. Returns -1. */
static int unreadable(ds_results *r, const char *what, ds_error *err) {
    int e = ds_h5_errno();
    r->damaged = 1;
    if (e > 0) {
        char cause[256];
        ds_strerror_lc(e, cause, sizeof cause);
        ds_error_set(err, DS_EXIT_USAGE, "%s cannot be read: %s", what, cause);
    } else {
        ds_error_set(err, DS_EXIT_USAGE, "%s cannot be read (damaged metadata?)", what);
    }
    return -1;
}

/* A checked HDF5 call of a reader: on failure, `what` is named unreadable and
 * the calling function's `fail:` cleanup runs (r and err in scope). */
#define READ_TRY(expr, what)                                                              \
    do {                                                                                  \
        if ((long long)(expr) < 0) {                                                      \
            unreadable(r, what, err);                                                     \
            goto fail;                                                                    \
        }                                                                                 \
    } while (0)

/* The string attribute `name` of the root group as a malloc'd string, ""
 * when absent (or not a string); NULL with err set when the root group's
 * metadata cannot be read. */
static char *root_attr(ds_results *r, const char *name, ds_error *err) {
    char what[160];
    snprintf(what, sizeof what, "the root attribute '%s'", name);
    htri_t has = H5Aexists(r->file, name);
    if (has < 0) {
        unreadable(r, what, err);
        return NULL;
    }
    char *out = has ? ds_h5_attr_string(r->file, name) : NULL;
    if (has && !out) {
        /* absent type aside, an attribute that does not open is damaged */
        hid_t a = H5Aopen(r->file, name, H5P_DEFAULT);
        if (a < 0) {
            unreadable(r, what, err);
            return NULL;
        }
        H5Aclose(a);
    }
    return out ? out : DS_CALLOC(1, 1);
}

/* Does the object at absolute path exist? Every group on the way is checked
 * first (H5Lexists fails, pushing an HDF5 error, below a missing group).
 * Returns 1 or 0; -1 with err set naming the link that cannot be read (a
 * damaged group). */
static int link_exists(ds_results *r, const char *path, ds_error *err) {
    char part[256];
    for (const char *p = strchr(path + 1, '/');; p = strchr(p + 1, '/')) {
        size_t n = p ? (size_t)(p - path) : strlen(path);
        if (n >= sizeof part) return 0;
        memcpy(part, path, n);
        part[n] = 0;
        htri_t has = H5Lexists(r->file, part, H5P_DEFAULT);
        if (has < 0) return unreadable(r, part, err);
        if (!has) return 0;
        if (!p) return 1;
    }
}

/* Reads the dataset at path, of rank `rank`, into out, which has the shape
 * want[0..rank): the intersection of the stored and the wanted shapes is
 * copied, the rest of out is set to *fill (elsize bytes). Returns 1 when read,
 * 0 when absent (and !required), or -1 with err set. */
static int read_nd(ds_results *r, const char *path, hid_t memtype, size_t elsize, int rank,
                   const hsize_t *want, void *out, const void *fill, int required,
                   ds_error *err) {
    hid_t d = -1, sp = -1;
    int rc = DS_EXIT_USAGE;
    void *tmp = NULL;
    size_t total = 1;
    for (int i = 0; i < rank; i++) total *= want[i];
    for (size_t i = 0; i < total; i++) memcpy((char *)out + i * elsize, fill, elsize);

    int has = link_exists(r, path, err);
    if (has < 0) goto fail;
    if (!has) {
        if (!required) return 0;
        ds_error_set(err, DS_EXIT_USAGE, "not a distsweep result file: no dataset %s", path);
        goto fail;
    }
    READ_TRY(d = H5Dopen2(r->file, path, H5P_DEFAULT), path);
    if (r->swmr) READ_TRY(H5Drefresh(d), path);
    READ_TRY(sp = H5Dget_space(d), path);
    hsize_t dims[8];
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd != rank) {
        ds_error_set(err, DS_EXIT_USAGE, "dataset %s has %d dimensions, expected %d", path, nd,
                     rank);
        goto fail;
    }
    READ_TRY(H5Sget_simple_extent_dims(sp, dims, NULL), path);
    /* Only axes that can grow (the seed axis) may differ from want. */
    size_t stored = 1;
    for (int i = 0; i < rank; i++) stored *= dims[i];
    if (stored) {
        tmp = DS_MALLOC(stored * elsize);
        READ_TRY(H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp), path);
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
    if (rc != 1 && err->code == 0) unreadable(r, path, err);
    return rc == 1 ? 1 : -1; /* not err->code: DS_EXIT_ERROR is 1 */
}

/* The first dimension(s) of a dataset; -1 with err set if absent. */
static int dataset_dims(ds_results *r, const char *path, int rank, hsize_t *dims,
                        ds_error *err) {
    hid_t d = -1, sp = -1;
    int rc = -1;
    int has = link_exists(r, path, err);
    if (has < 0) return -1;
    if (!has) {
        ds_error_set(err, DS_EXIT_USAGE, "not a distsweep result file: no dataset %s", path);
        return -1;
    }
    READ_TRY(d = H5Dopen2(r->file, path, H5P_DEFAULT), path);
    if (r->swmr) READ_TRY(H5Drefresh(d), path);
    READ_TRY(sp = H5Dget_space(d), path);
    if (H5Sget_simple_extent_ndims(sp) != rank) {
        ds_error_set(err, DS_EXIT_USAGE, "dataset %s does not have %d dimension(s)", path, rank);
        goto fail;
    }
    READ_TRY(H5Sget_simple_extent_dims(sp, dims, NULL), path);
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

/* A values family's key and label (attributes of /families/<name>) and its
 * members' values of the key (/scales/<key>); nothing for other families. */
static int load_family_axis(ds_results *r, const char *path, ds_res_family *f, ds_error *err) {
    int rc = DS_EXIT_USAGE;
    hid_t d = -1;
    char *key = NULL, *label = NULL;
    double *col = NULL;
    READ_TRY(d = H5Dopen2(r->file, path, H5P_DEFAULT), path);
    htri_t has;
    READ_TRY(has = H5Aexists(d, "key"), path);
    if (has) {
        key = ds_h5_attr_string(d, "key");
        label = ds_h5_attr_string(d, "label");
        if (!key || !*key || strlen(key) >= sizeof f->key) {
            ds_error_set(err, DS_EXIT_USAGE, "%s: attribute key is not a setting's key", path);
            goto fail;
        }
        snprintf(f->key, sizeof f->key, "%s", key);
        snprintf(f->label, sizeof f->label, "%s", label && *label ? label : key);
        char cpath[192];
        hsize_t dims[1];
        snprintf(cpath, sizeof cpath, DS_SCALES_GROUP "/%s", key);
        if (dataset_dims(r, cpath, 1, dims, err) < 0) goto fail;
        if (dims[0] != (hsize_t)r->n_scales) {
            ds_error_set(err, DS_EXIT_USAGE, "%s has %llu values for %d scales", cpath,
                         (unsigned long long)dims[0], r->n_scales);
            goto fail;
        }
        hid_t cd = -1, ct = -1;
        H5T_class_t cls = H5T_NO_CLASS;
        READ_TRY(cd = H5Dopen2(r->file, cpath, H5P_DEFAULT), cpath);
        if ((ct = H5Dget_type(cd)) >= 0) cls = H5Tget_class(ct);
        if (ct >= 0) H5Tclose(ct);
        H5Dclose(cd);
        f->axis = DS_MALLOC((f->n ? (size_t)f->n : 1) * sizeof *f->axis);
        if (cls == H5T_STRING) { /* a text key: model.init.from's directories */
            char(*txt)[256] = DS_CALLOC(r->n_scales ? (size_t)r->n_scales : 1, sizeof *txt);
            char empty[256] = {0};
            hid_t st = ds_h5_string_type(256);
            int ok = st >= 0 && read_nd(r, cpath, st, 256, 1, dims, txt, empty, 1, err) == 1;
            if (st >= 0) H5Tclose(st);
            if (!ok) {
                free(txt);
                goto fail;
            }
            f->axis_text = DS_CALLOC(f->n ? (size_t)f->n : 1, sizeof *f->axis_text);
            for (int k = 0; k < f->n; k++) {
                memcpy(f->axis_text[k], txt[f->scale[k]], 255);
                f->axis_text[k][255] = 0;
                f->axis[k] = NAN;
            }
            free(txt);
        } else {
            col = DS_MALLOC((r->n_scales ? (size_t)r->n_scales : 1) * sizeof *col);
            double fill = NAN;
            if (read_nd(r, cpath, H5T_NATIVE_DOUBLE, sizeof(double), 1, dims, col, &fill, 1, err) != 1)
                goto fail;
            for (int k = 0; k < f->n; k++) f->axis[k] = col[f->scale[k]];
        }
    }
    rc = 0;
fail:
    if (d >= 0) H5Dclose(d);
    free(key);
    free(label);
    free(col);
    return rc;
}

static int load_families(ds_results *r, ds_error *err) {
    int rc = DS_EXIT_USAGE;
    int has = link_exists(r, DS_FAMILIES_GROUP, err);
    if (has < 0) goto fail;
    if (has) {
        hid_t g;
        READ_TRY(g = H5Gopen2(r->file, DS_FAMILIES_GROUP, H5P_DEFAULT), DS_FAMILIES_GROUP);
        hsize_t idx = 0;
        herr_t it = H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, collect_family, r);
        if (it < 0) { /* creation order not tracked: name order */
            for (int i = 0; i < r->n_families; i++) free(r->families[i].scale);
            free(r->families), r->families = NULL, r->n_families = 0, idx = 0;
            it = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_family, r);
        }
        H5Gclose(g);
        READ_TRY(it, DS_FAMILIES_GROUP);
        for (int i = 0; i < r->n_families; i++) {
            ds_res_family *f = &r->families[i];
            char path[256];
            hsize_t dims[1];
            snprintf(path, sizeof path, DS_FAMILIES_GROUP "/%s", f->name);
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
            if (load_family_axis(r, path, f, err)) goto fail;
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
    for (int m = 0; m < DS_N_METRICS; m++) free(r->traj[m]), r->traj[m] = NULL;
    for (int j = 0; r->chosen && j < r->n_lengths; j++) free(r->chosen[j]), r->chosen[j] = NULL;
    for (int j = 0; r->ll_correct && j < r->n_lengths; j++) free(r->ll_correct[j]), r->ll_correct[j] = NULL;
    r->seeds = NULL, r->status = NULL, r->attempts = r->rank = NULL, r->steps_done = NULL;
    r->wall_s = r->final_loss = r->id_em = r->train_loss = NULL;
}

/* Hands buf, the array of seed-axis dataset i (src/schema.h), to its field
 * of r. */
static void set_seed_field(ds_results *r, int i, void *buf) {
    switch (i) {
    case DS_D_STEPS: r->steps_done = buf; break;
    case DS_D_WALL: r->wall_s = buf; break;
    case DS_D_RANK: r->rank = buf; break;
    case DS_D_FINAL: r->final_loss = buf; break;
    case DS_D_IDEM: r->id_em = buf; break;
    case DS_D_ATTEMPTS: r->attempts = buf; break;
    case DS_D_CURVE: r->train_loss = buf; break;
    case DS_D_STATUS: r->status = buf; break;
    default:
        if (i >= DS_D_TRAJ0) {
            r->traj[i - DS_D_TRAJ0] = buf;
            break;
        }
        r->metrics[i - DS_D_METRIC0] = buf; break;
    }
}

/* Reads seed-axis dataset i with n_seeds columns into its field of r, padded
 * with its fill value. A dataset whose inner axis is its own (the curve) is
 * left NULL when absent. Returns 0 or an error code with err set. */
static int read_seed_dataset(ds_results *r, int i, ds_error *err) {
    const ds_seed_dataset *d0 = ds_seed_dataset_at(i);
    ds_seed_dataset dd = *d0; /* its path in a file of this evaluation kind */
    dd.path = ds_seed_dataset_path(i, r->eval_kind);
    const ds_seed_dataset *d = &dd;
    if (!d->path) return 0; /* a slot this kind does not measure: left NULL (NaN to readers) */
    hsize_t want[3] = {(hsize_t)r->n_scales, (hsize_t)r->n_seeds, 1};
    if (d->inner == DS_INNER_LENGTHS) want[2] = (hsize_t)r->n_lengths;
    if (d->inner == DS_INNER_LOG || d->inner == DS_INNER_EVAL) {
        int has = d->inner == DS_INNER_EVAL ? link_exists(r, "/trajectories", err) : 1;
        if (has > 0) has = link_exists(r, d->path, err);
        if (has < 0) return err->code;
        if (!d->required && !has) return 0;
        hsize_t dims[3];
        if (dataset_dims(r, d->path, 3, dims, err) < 0) return err->code;
        want[2] = dims[2];
        if (d->inner == DS_INNER_LOG) r->n_log = (int64_t)dims[2];
        else if (dims[2] == 0) return 0; /* a sweep without eval_every: no trajectory */
        else r->n_eval = (int64_t)dims[2];
    }
    size_t el = ds_elem_size(d->elem), n = (size_t)(want[0] * want[1] * want[2]);
    char fill[8];
    ds_seed_fill(i, fill);
    void *buf = DS_MALLOC((n ? n : 1) * el);
    set_seed_field(r, i, buf); /* owned by r from here: free_seed_axis frees it */
    if (read_nd(r, d->path, ds_h5_memtype(d->elem), el, d->rank, want, buf, fill, d->required,
                err) < 0)
        return err->code;
    return 0;
}

/* Reads set j's item datasets (when the file has them) with n_seeds columns,
 * padded with their fills. Returns 0 or an error code with err set. */
static int read_item_set(ds_results *r, int j, ds_error *err) {
    char grp[256], path[320];
    snprintf(grp, sizeof grp, "%s/%s", DS_ITEMS_GROUP, r->set_names[j]);
    int has = link_exists(r, grp, err);
    if (has <= 0) return has < 0 ? err->code : 0;
    for (int i = 0; i < DS_N_ITEM_DS; i++) {
        const ds_item_dataset *it = ds_item_dataset_at(i);
        snprintf(path, sizeof path, "%s/%s", grp, it->name);
        hsize_t dims[3];
        if (dataset_dims(r, path, 3, dims, err) < 0) return err->code;
        if (i == 0) r->n_items[j] = (int32_t)dims[2];
        else if ((int32_t)dims[2] != r->n_items[j])
            return ds_error_set(err, DS_EXIT_USAGE, "%s has %llu items, %s/%s %d", path,
                                (unsigned long long)dims[2], grp, ds_item_dataset_at(0)->name, r->n_items[j]);
        hsize_t want[3] = {(hsize_t)r->n_scales, (hsize_t)r->n_seeds, dims[2]};
        size_t el = ds_elem_size(it->elem), n = (size_t)(want[0] * want[1] * want[2]);
        char fill[8];
        ds_item_fill(i, fill);
        void *buf = DS_MALLOC((n ? n : 1) * el);
        if (i == DS_I_CHOSEN) r->chosen[j] = buf; /* owned by r: free_seed_axis frees it */
        else r->ll_correct[j] = buf;
        if (read_nd(r, path, ds_h5_memtype(it->elem), el, 3, want, buf, fill, 1, err) < 0) return err->code;
    }
    return 0;
}

int ds_results_refresh(ds_results *r, ds_error *err) {
    DS_ASSERT(err);
    int rc = DS_EXIT_USAGE;
    err->code = 0;
    free_seed_axis(r);
    /* Status first: everything a done run needs was written before it. */
    const char *status_path = ds_seed_dataset_at(DS_D_STATUS)->path;
    hsize_t sd[2];
    if (dataset_dims(r, status_path, 2, sd, err) < 0) goto fail;
    if ((int)sd[0] != r->n_scales) {
        ds_error_set(err, DS_EXIT_USAGE, "%s has %llu rows but /scales has %d", status_path,
                     (unsigned long long)sd[0], r->n_scales);
        goto fail;
    }
    r->n_seeds = (int64_t)sd[1];
    if (read_seed_dataset(r, DS_D_STATUS, err)) goto fail;
    const ds_fixed_dataset *sds = &ds_seeds_dataset;
    size_t S = (size_t)r->n_seeds;
    hsize_t w1[1] = {S};
    int64_t i0 = 0;
    r->seeds = DS_MALLOC((S ? S : 1) * sizeof *r->seeds);
    if (read_nd(r, sds->path, ds_h5_memtype(sds->elem), sizeof *r->seeds, 1, w1, r->seeds, &i0,
                1, err) != 1)
        goto fail;
    r->n_log = 0;
    r->n_eval = 0;
    for (int i = 0; i < DS_N_SEED_DS; i++)
        if (i != DS_D_STATUS && read_seed_dataset(r, i, err)) goto fail;
    if (r->eval_kind == DS_EVAL_SETS && r->want_items) {
        if (!r->chosen) {
            size_t E = (size_t)(r->n_lengths ? r->n_lengths : 1);
            r->n_items = DS_CALLOC(E, sizeof *r->n_items);
            r->chosen = DS_CALLOC(E, sizeof *r->chosen);
            r->ll_correct = DS_CALLOC(E, sizeof *r->ll_correct);
        }
        for (int j = 0; j < r->n_lengths; j++)
            if (read_item_set(r, j, err)) goto fail;
    }
    rc = 0;
fail:
    if (rc) free_seed_axis(r);
    return rc;
}

int ds_results_read_items(ds_results *r, ds_error *err) {
    if (r->want_items) return 0;
    r->want_items = 1;
    return ds_results_refresh(r, err);
}

/* Hands buf, the array of /scales column c (src/schema.h), to its field of
 * r. */
static void set_scale_field(ds_results *r, int c, void *buf) {
    switch (c) {
    case DS_SC_D_MODEL: r->d_model = buf; break;
    case DS_SC_N_LAYERS: r->n_layers = buf; break;
    case DS_SC_N_HEADS: r->n_heads = buf; break;
    case DS_SC_N_PARAMS: r->n_params = buf; break;
    case DS_SC_FLOPS: r->flops_per_step = buf; break;
    default: DS_ASSERT(0 && "names are read as strings");
    }
}

/* Reads /scales: the names (fixed or variable-length strings) set n_scales;
 * every other column is read with n_scales entries. */
static int load_scales(ds_results *r, ds_error *err) {
    int rc = DS_EXIT_USAGE;
    hid_t d = -1, ft = -1, mt = -1;
    hsize_t dims[1];
    const char *name_path = ds_scale_column(DS_SC_NAME)->path;
    if (dataset_dims(r, name_path, 1, dims, err) < 0) goto fail;
    r->n_scales = (int)dims[0];
    size_t n = dims[0] ? dims[0] : 1;
    r->scale_name = DS_CALLOC(n, sizeof *r->scale_name);
    /* names: fixed-length (the layout) or variable-length strings */
    READ_TRY(d = H5Dopen2(r->file, name_path, H5P_DEFAULT), name_path);
    READ_TRY(ft = H5Dget_type(d), name_path);
    if (H5Tget_class(ft) != H5T_STRING) {
        ds_error_set(err, DS_EXIT_USAGE, "%s is not a string dataset", name_path);
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
            READ_TRY(s, name_path);
        } else {
            DS_H5_TRY(mt = H5Tcopy(H5T_C_S1));
            DS_H5_TRY(H5Tset_size(mt, 64)); /* longer names are truncated */
            DS_H5_TRY(H5Tset_strpad(mt, H5T_STR_NULLTERM));
            DS_H5_TRY(H5Tset_cset(mt, H5Tget_cset(ft)));
            READ_TRY(H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, r->scale_name), name_path);
        }
    }
    for (int c = 0; c < DS_N_SCALE_COLS; c++) {
        const ds_fixed_dataset *col = ds_scale_column(c);
        if (c == DS_SC_NAME) continue; /* read above */
        size_t el = ds_elem_size(col->elem);
        void *buf = DS_MALLOC(n * el);
        set_scale_field(r, c, buf);
        /* padding of a column shorter than the names (a damaged file) */
        int32_t im1 = -1;
        int64_t lm1 = -1;
        double dnan = NAN;
        const void *pad = col->elem == DS_EL_F64 ? (const void *)&dnan
                          : col->elem == DS_EL_I64 ? (const void *)&lm1 : (const void *)&im1;
        if (read_nd(r, col->path, ds_h5_memtype(col->elem), el, 1, dims, buf, pad, col->required,
                    err) < 0)
            goto fail;
    }
    rc = 0;
fail:
    if (mt >= 0) H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
    if (d >= 0) H5Dclose(d);
    return rc;
}

/* Appends to err's message what to do about the damaged file at path: `distsweep run`
 * rebuilds a result file from a version-2 journal beside it (docs/result-file.md
 * "The journal"); without one only a copy can restore it. */
static void advise_rebuild(const char *path, ds_error *err) {
    char jpath[4200], created[DS_JOURNAL_CREATED_MAX];
    uint64_t hash = 0;
    snprintf(jpath, sizeof jpath, "%s.journal", path);
    size_t k = strlen(err->msg);
    if (ds_journal_identity(jpath, created, &hash) == 0)
        snprintf(err->msg + k, sizeof err->msg - k,
                 "; `distsweep run SWEEP.yaml` (its sweep file) rebuilds the file from %.1000s "
                 "and keeps the damaged one aside", jpath);
    else
        snprintf(err->msg + k, sizeof err->msg - k,
                 "; there is no usable journal (%.1000s) to rebuild it from: restore the file "
                 "from a copy", jpath);
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
    int how;
    r->file = ds_h5_open_read(path, fapl, &how);
    r->swmr = r->file >= 0 && how == DS_H5_OPEN_SWMR;
    if (r->file >= 0 && how == DS_H5_OPEN_FLAG_IGNORED)
        fprintf(stderr, "distsweep: note: %s is marked open for writing outside SWMR (a "
                        "writer killed while it opened the file, or one opening it now); read "
                        "as it stands (the next `distsweep run` recovers a killed writer's "
                        "file)\n", path);
    if (r->file < 0) {
        r->damaged = 1;
        ds_error_set(err, DS_EXIT_USAGE, "%s: HDF5 cannot open the file read-only (its superblock "
                     "or root group is damaged?)", path);
        goto fail;
    }
    char *format = root_attr(r, ds_attr_name(DS_A_FORMAT), err);
    if (!format) goto fail;
    int is_ds = !strcmp(format, DS_FORMAT_NAME);
    free(format);
    if (!is_ds) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: not a distsweep result file (no format=\"distsweep\" attribute)", path);
        goto fail;
    }
    READ_TRY(ds_h5_attr_int(r->file, ds_attr_name(DS_A_FORMAT_VERSION), &r->format_version),
             "the root attribute 'format_version'");
    if (r->format_version != DS_FORMAT_VERSION) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: format_version %d is not supported (this build reads %d)",
                     path, r->format_version, DS_FORMAT_VERSION);
        goto fail;
    }
    if (!(r->distsweep_version = root_attr(r, ds_attr_name(DS_A_DISTSWEEP_VERSION), err)) ||
        !(r->git_commit = root_attr(r, ds_attr_name(DS_A_GIT_COMMIT), err)) ||
        !(r->created = root_attr(r, ds_attr_name(DS_A_CREATED), err)) ||
        !(r->sweep_name = root_attr(r, ds_attr_name(DS_A_SWEEP_NAME), err)) ||
        !(r->sweep_yaml = root_attr(r, ds_attr_name(DS_A_SWEEP_YAML), err)) ||
        !(r->sweep_hash = root_attr(r, ds_attr_name(DS_A_SWEEP_HASH), err)) ||
        !(r->precision = root_attr(r, ds_attr_name(DS_A_PRECISION), err)))
        goto fail;
    if (!r->precision[0]) { /* files made before the attribute */
        free(r->precision);
        r->precision = strdup("fp32");
    }

    if (load_scales(r, err)) goto fail;
    const ds_fixed_dataset *el = &ds_eval_lengths_dataset;
    hsize_t ed[1];
    if (dataset_dims(r, el->path, 1, ed, err) < 0) goto fail;
    r->n_lengths = (int)ed[0];
    r->eval_lengths = DS_MALLOC((ed[0] ? ed[0] : 1) * sizeof *r->eval_lengths);
    int32_t im1 = -1;
    if (read_nd(r, el->path, ds_h5_memtype(el->elem), sizeof *r->eval_lengths, 1, ed,
                r->eval_lengths, &im1, 1, err) != 1)
        goto fail;
    {
        int has = link_exists(r, ds_eval_sets_dataset.path, err);
        if (has < 0) goto fail;
        r->eval_kind = has ? DS_EVAL_SETS : DS_EVAL_LENGTHS;
        if (has) {
            hsize_t sd1[1];
            if (dataset_dims(r, ds_eval_sets_dataset.path, 1, sd1, err) < 0) goto fail;
            if (sd1[0] != ed[0]) {
                ds_error_set(err, DS_EXIT_USAGE, "%s has %llu names for %llu evaluation points",
                             ds_eval_sets_dataset.path, (unsigned long long)sd1[0], (unsigned long long)ed[0]);
                goto fail;
            }
            r->set_names = DS_CALLOC(ed[0] ? ed[0] : 1, sizeof *r->set_names);
            hid_t st = ds_h5_string_type(32);
            char empty[32] = {0};
            int ok = st >= 0 && read_nd(r, ds_eval_sets_dataset.path, st, 32, 1, sd1, r->set_names, empty,
                                        1, err) == 1;
            if (st >= 0) H5Tclose(st);
            if (!ok) goto fail;
            for (hsize_t k = 0; k < sd1[0]; k++) r->set_names[k][31] = 0;
        }
    }
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
        if (r->damaged) advise_rebuild(path, err);
        if (err) err->code = DS_EXIT_USAGE;
        ds_results_close(r);
    }
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
    return rc;
}

void ds_results_close(ds_results *r) {
    free_seed_axis(r);
    free(r->distsweep_version), free(r->git_commit), free(r->created);
    free(r->sweep_name), free(r->sweep_yaml), free(r->sweep_hash), free(r->precision);
    free(r->scale_name), free(r->d_model), free(r->n_layers), free(r->n_heads);
    free(r->n_params), free(r->flops_per_step), free(r->eval_lengths), free(r->set_names);
    free(r->n_items), free(r->chosen), free(r->ll_correct);
    for (int i = 0; i < r->n_families; i++) free(r->families[i].scale), free(r->families[i].axis), free(r->families[i].axis_text);
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

int ds_results_set_index(const ds_results *r, const char *name) {
    for (int i = 0; r->set_names && i < r->n_lengths; i++)
        if (!strcmp(r->set_names[i], name)) return i;
    return -1;
}

const char *ds_results_point_name(const ds_results *r, int l, char *buf) {
    DS_ASSERT(l >= 0 && l < r->n_lengths);
    if (r->eval_kind == DS_EVAL_SETS) snprintf(buf, DS_RES_POINT_NAME_MAX, "set %s", r->set_names[l]);
    else snprintf(buf, DS_RES_POINT_NAME_MAX, "length %d", r->eval_lengths[l]);
    return buf;
}

int64_t ds_results_count(const ds_results *r, int scale, int status) {
    int64_t c = 0;
    for (int64_t s = 0; s < r->n_seeds; s++)
        if (r->status[ds_res_run(r, scale, s)] == status) c++;
    return c;
}

double ds_results_value(const ds_results *r, int metric, int scale, int64_t seed, int length) {
    return ds_run_counted_value(r->status[ds_res_run(r, scale, seed)], metric,
                                ds_res_metric(r, metric, scale, seed, length));
}

void ds_results_report_defaults(const ds_results *r, ds_res_report *out) {
    memset(out, 0, sizeof *out);
    out->metric = DS_M_EM;
    out->threshold = 0.5;
    snprintf(out->metric_why, sizeof out->metric_why, "default");
    snprintf(out->threshold_why, sizeof out->threshold_why, "default");
    out->length_index = -1;
    int largest = -1;
    for (int i = 0; i < r->n_lengths; i++)
        if (largest < 0 || r->eval_lengths[i] > r->eval_lengths[largest]) largest = i;

    ds_sweep *s = NULL;
    ds_error err = {0};
    if (ds_sweep_load_text("sweep_yaml", r->sweep_yaml ? r->sweep_yaml : "", &s, &err)) {
        out->length_index = largest;
        snprintf(out->length_why, sizeof out->length_why,
                 "the largest eval length: the stored sweep text does not load");
        snprintf(out->note, sizeof out->note, "the sweep text stored in the file does not load (%.1000s)",
                 err.msg);
        return;
    }
    const ds_report_spec *rp = &s->report;
    out->metric = rp->metric;
    out->threshold = rp->threshold;
    if (rp->metric_set) snprintf(out->metric_why, sizeof out->metric_why, "report.metric");
    if (rp->threshold_set) snprintf(out->threshold_why, sizeof out->threshold_why, "report.threshold");
    int beyond = 0;
    ds_report_default_length(&s->task, &beyond);
    out->length_index = ds_results_length_index(r, rp->length);
    if (r->n_lengths == 0) {
        /* a task without evaluation (corpus): nothing to pick, nothing to note */
        snprintf(out->length_why, sizeof out->length_why, "no evaluation lengths (%s task)",
                 ds_task_get(&s->task)->name);
    } else if (out->length_index < 0) {
        /* the stored sweep and /eval_lengths disagree: only a hand-edited file */
        out->length_index = largest;
        snprintf(out->length_why, sizeof out->length_why,
                 "the largest eval length: the stored sweep's length %d is not in /eval_lengths",
                 rp->length);
        snprintf(out->note, sizeof out->note,
                 "the stored sweep's report length %d was not evaluated in this file", rp->length);
    } else if (rp->length_set) {
        snprintf(out->length_why, sizeof out->length_why,
                 r->eval_kind == DS_EVAL_SETS ? "report.set" : "report.length");
    } else if (r->eval_kind == DS_EVAL_SETS) {
        snprintf(out->length_why, sizeof out->length_why, "the first evaluation set");
    } else if (beyond) {
        snprintf(out->length_why, sizeof out->length_why,
                 "first eval length beyond train_length max %d", s->task.train_max);
    } else {
        snprintf(out->length_why, sizeof out->length_why,
                 "no eval length beyond train_length max %d: the largest", s->task.train_max);
    }
    ds_sweep_free(s);
}
