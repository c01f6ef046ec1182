/* store: see store.h. */
#define _DEFAULT_SOURCE
#include "store.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "h5check.h"
#include "h5util.h"
#include "output.h"
#include "schema.h"
#include "version.h"

/* The seed-axis datasets are src/schema.h's table, indexed DS_D_*, written
 * in that order (/runs/status last: the run's commit mark). */
/* The path of seed-axis dataset i in a file of sweep s (its evaluation kind's
 * name for a metric), NULL when such a file does not store it. */
static const char *seed_path(const ds_sweep *s, int i) {
    return ds_seed_dataset_path(i, ds_task_eval_kind(&s->task));
}
static hid_t ds_memtype(int i) { return ds_h5_memtype(ds_seed_dataset_at(i)->elem); }
static int is_3d(int i) { return ds_seed_dataset_at(i)->rank == 3; }

struct ds_store {
    const ds_sweep *s;
    char path[4096];
    hid_t file;
    hid_t d[DS_N_SEED_DS];
    hid_t space[DS_N_SEED_DS]; /* file dataspaces, cached: extents only change before SWMR */
    hid_t seeds;
    int n_scales, n_len;
    int64_t n_seeds, n_log;
    uint8_t *status;   /* mirror of /runs/status [scale][seed] */
    int32_t *attempts; /* mirror of /runs/attempts */
    float *avalue;     /* adaptive sweeps: mirror of the adaptive metric at the adaptive length */
    ds_journal *journal;
    void *rowbuf;      /* scratch: one run's row of the widest dataset */
    /* /items/<set>/{chosen, ll_correct} (src/schema.h DS_I_*): n_sets is the
     * sweep's sets (0 for a synthetic task); a set whose datasets the file
     * lacks (made before them, its size unknown) has item_d -1: not written */
    int n_sets;
    int32_t n_items[DS_MAX_EVAL_LENGTHS];
    hid_t item_d[DS_MAX_EVAL_LENGTHS][DS_N_ITEM_DS];
    hid_t item_space[DS_MAX_EVAL_LENGTHS][DS_N_ITEM_DS];
    void *itembuf;     /* scratch: one run's fill row of the largest set (4 bytes an item) */
    int broken;        /* an HDF5 write failed: the file is left alone (storage_error) */
    int stopped;       /* a journal append failed: no more writes, the file is closed */
};

void ds_iso8601_now(char *buf, size_t n) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char s[32];
    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%06ldZ", s, (long)tv.tv_usec);
}

static int64_t n_log_points(const ds_sweep *s) {
    return s->train.log_every > 0 ? s->train.steps / s->train.log_every : 0;
}

/* Inner (per-run) length of seed-axis dataset i of sweep s: 0 for [scale,
 * seed] ones. */
static int64_t seed_ds_inner(const ds_sweep *s, int i) {
    switch (ds_seed_dataset_at(i)->inner) {
    case DS_INNER_LENGTHS: return s->task.n_eval_lengths;
    case DS_INNER_LOG: return n_log_points(s);
    case DS_INNER_EVAL: return ds_train_eval_points(&s->train);
    default: return 0;
    }
}
static int64_t inner_len(const ds_store *st, int i) { return seed_ds_inner(st->s, i); }

/* A file made before /trajectories existed lacks those datasets; a sweep
 * without train.eval_every (the only one such a file can belong to: the key
 * is in the sweep's hash) writes nothing there, so they stay absent and are
 * skipped (st->d[i] < 0). */
static int optional_absent(const ds_store *st, int i) { return st->d[i] < 0; }

/* The sets of sweep s with per-item datasets: its evaluation sets (0 for a
 * synthetic task, or a corpus task without eval.multiple_choice). */
static int n_item_sets(const ds_sweep *s) {
    return ds_task_eval_kind(&s->task) == DS_EVAL_SETS ? s->task.n_mc : 0;
}

/* "/items/<set j's name>" (i < 0) or "/items/<name>/<item dataset i>". */
static void item_path(const ds_sweep *s, int j, int i, char *buf, size_t n) {
    if (i < 0) snprintf(buf, n, "%s/%s", DS_ITEMS_GROUP, s->task.mc[j].name);
    else snprintf(buf, n, "%s/%s/%s", DS_ITEMS_GROUP, s->task.mc[j].name, ds_item_dataset_at(i)->name);
}

/* ---- creating a new file -------------------------------------------------- */

/* Sets the variable-length UTF-8 string attribute `name` of obj to value. An
 * existing one of that type is overwritten in place, never deleted and made
 * again: a writer killed in between would leave the file without it (the
 * sweep text is what a resume validates against, src/output.c). */
static int write_attr_str(hid_t obj, const char *name, const char *value, ds_error *err) {
    hid_t t = -1, sp = -1, a = -1, old_t = -1;
    int rc = DS_EXIT_ERROR;
    DS_H5_TRY(t = H5Tcopy(H5T_C_S1));
    DS_H5_TRY(H5Tset_size(t, H5T_VARIABLE));
    DS_H5_TRY(H5Tset_cset(t, H5T_CSET_UTF8));
    if (H5Aexists(obj, name) > 0) {
        DS_H5_TRY(a = H5Aopen(obj, name, H5P_DEFAULT));
        DS_H5_TRY(old_t = H5Aget_type(a));
        if (!(H5Tget_class(old_t) == H5T_STRING && H5Tis_variable_str(old_t) > 0)) {
            /* another type (not written by this version): replace it */
            H5Aclose(a);
            a = -1;
            DS_H5_TRY(H5Adelete(obj, name));
        }
    }
    if (a < 0) {
        DS_H5_TRY(sp = H5Screate(H5S_SCALAR));
        DS_H5_TRY(a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT));
    }
    DS_H5_TRY(H5Awrite(a, t, &value));
    rc = 0;
fail:
    if (old_t >= 0) H5Tclose(old_t);
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    return rc;
}

static int write_attr_i32(hid_t obj, const char *name, int32_t v, ds_error *err) {
    hid_t sp = -1, a = -1;
    int rc = DS_EXIT_ERROR;
    DS_H5_TRY(sp = H5Screate(H5S_SCALAR));
    DS_H5_TRY(a = H5Acreate2(obj, name, ds_h5_filetype(DS_EL_I32), sp, H5P_DEFAULT, H5P_DEFAULT));
    DS_H5_TRY(H5Awrite(a, ds_h5_memtype(DS_EL_I32), &v));
    rc = 0;
fail:
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    return rc;
}

/* A small fixed dataset written in one go. */
static int write_small(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hsize_t n,
                       const void *data, ds_error *err) {
    hid_t sp = -1, d = -1;
    int rc = DS_EXIT_ERROR;
    hsize_t dims[1] = {n};
    DS_H5_TRY(sp = H5Screate_simple(1, dims, NULL));
    DS_H5_TRY(d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (n) DS_H5_TRY(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
    rc = 0;
fail:
    if (d >= 0) H5Dclose(d);
    if (sp >= 0) H5Sclose(sp);
    return rc;
}

/* Creates a dataset at path in loc with a seed axis: [n_scales, S] (rank 2)
 * or [n_scales, S, inner], chunked and unlimited along the seed axis (and
 * along inner when it is 0), every element `fill` (elem's memory type) until
 * written. The one layout of /runs, /metrics, /curves, /trajectories and
 * /items. */
static int create_axis_ds(hid_t loc, const char *path, ds_elem elem, const void *fill, int rank,
                          int n_scales, int64_t S, int64_t inner, ds_error *err) {
    hid_t sp = -1, dcpl = -1, d = -1;
    int rc = DS_EXIT_ERROR;
    DS_ASSERT(rank == 2 || rank == 3);
    hsize_t dims[3] = {(hsize_t)n_scales, (hsize_t)S, (hsize_t)inner};
    hsize_t maxd[3] = {(hsize_t)n_scales, H5S_UNLIMITED, inner ? (hsize_t)inner : H5S_UNLIMITED};
    /* Chunks of one scale and a few dozen seeds, at most ~64 KiB, so that a
     * single run's row touches one chunk that stays in the chunk cache. */
    hsize_t in = inner ? (hsize_t)inner : 1;
    hsize_t cs = 65536 / (ds_elem_size(elem) * in);
    if (cs > 64) cs = 64;
    if (cs < 1) cs = 1;
    hsize_t chunk[3] = {1, cs, in};
    DS_H5_TRY(sp = H5Screate_simple(rank, dims, maxd));
    DS_H5_TRY(dcpl = H5Pcreate(H5P_DATASET_CREATE));
    DS_H5_TRY(H5Pset_chunk(dcpl, rank, chunk));
    DS_H5_TRY(H5Pset_fill_value(dcpl, ds_h5_memtype(elem), fill));
    DS_H5_TRY(H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC));
    DS_H5_TRY(d = H5Dcreate2(loc, path, ds_h5_filetype(elem), sp, H5P_DEFAULT, dcpl, H5P_DEFAULT));
    rc = 0;
fail:
    if (d >= 0) H5Dclose(d);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
    return rc;
}

/* Creates seed-axis dataset i (the table of src/schema.h) at path with S seeds. */
static int create_seed_ds(hid_t file, const char *path, int i, int n_scales, int64_t S,
                          int64_t inner, ds_error *err) {
    char fill[8];
    ds_seed_fill(i, fill);
    return create_axis_ds(file, path, ds_seed_dataset_at(i)->elem, fill, is_3d(i) ? 3 : 2, n_scales, S,
                          inner, err);
}

/* Creates set j's group /items/<name> (attribute n_items) and its item
 * datasets with S seeds and n_items items, chunked (one scale, as many seeds
 * as fit 64 KiB, at least one) and unlimited along the seed axis, filled with
 * their fill values; /items first when f lacks it. */
static int create_item_set(hid_t f, const ds_sweep *s, int j, int n_scales, int64_t S,
                           int32_t n_items, ds_error *err) {
    hid_t g = -1;
    int rc = DS_EXIT_ERROR;
    char path[256];
    DS_ASSERT(n_items > 0);
    htri_t has;
    DS_H5_TRY(has = H5Lexists(f, DS_ITEMS_GROUP, H5P_DEFAULT));
    if (!has) {
        DS_H5_TRY(g = H5Gcreate2(f, DS_ITEMS_GROUP, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        H5Gclose(g);
        g = -1;
    }
    item_path(s, j, -1, path, sizeof path);
    DS_H5_TRY(g = H5Gcreate2(f, path, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (write_attr_i32(g, DS_ITEMS_N_ATTR, n_items, err)) goto fail;
    for (int i = 0; i < DS_N_ITEM_DS; i++) {
        const ds_item_dataset *it = ds_item_dataset_at(i);
        char fill[8];
        ds_item_fill(i, fill);
        if (create_axis_ds(g, it->name, it->elem, fill, 3, n_scales, S, n_items, err)) goto fail;
    }
    rc = 0;
fail:
    if (g >= 0) H5Gclose(g);
    return rc;
}

/* Sweep s's items of set j as the file must hold them: s->task.mc[j].n_items
 * (known once the sweep's data are attached, src/sweep.h), or an error that
 * names the file and the set when it is not known. */
static int known_items(const ds_sweep *s, const char *path, int j, ds_error *err) {
    if (s->task.mc[j].n_items > 0) return 0;
    return ds_error_set(err, DS_EXIT_USAGE,
                        "%s: the number of items of evaluation set '%s' (%s) is not known: its set "
                        "file was not read (ds_sweep_attach_data)", path, s->task.mc[j].name,
                        s->task.mc[j].path);
}

static hid_t latest_fapl(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

/* Writes the columns of /scales (src/schema.h's ds_scale_column) for sweep s
 * into file f, whose group /scales exists. */
/* The columns of /scales for sweep s, in memory: col[c] (c < DS_N_SCALE_COLS)
 * a zeroed array of max(n_scales, 1) elements of column c's type, the
 * caller frees each. What write_scales writes and
 * ds_store_check_definition compares with. */
static void scale_columns(const ds_sweep *s, void *col[DS_N_SCALE_COLS]) {
    int N = s->n_scales;
    size_t n = N ? (size_t)N : 1;
    for (int c = 0; c < DS_N_SCALE_COLS; c++)
        col[c] = DS_CALLOC(n, ds_elem_size(ds_scale_column(c)->elem));
    char (*names)[32] = col[DS_SC_NAME];
    int32_t *dm = col[DS_SC_D_MODEL], *nl = col[DS_SC_N_LAYERS], *nh = col[DS_SC_N_HEADS];
    int64_t *np = col[DS_SC_N_PARAMS];
    double *fl = col[DS_SC_FLOPS];
    for (int i = 0; i < N; i++) {
        ds_scale_name(&s->scales[i], names[i], sizeof names[i]);
        dm[i] = s->scales[i].d_model;
        nl[i] = s->scales[i].n_layers;
        nh[i] = s->scales[i].n_heads;
        np[i] = s->scales[i].n_params;
        fl[i] = s->scales[i].flops_per_step;
    }
}

static int write_scales(hid_t f, const ds_sweep *s, ds_error *err) {
    int rc = DS_EXIT_ERROR, N = s->n_scales;
    hid_t str = -1;
    void *col[DS_N_SCALE_COLS];
    scale_columns(s, col);
    DS_H5_TRY(str = ds_h5_string_type(ds_elem_size(DS_EL_STR32)));
    for (int c = 0; c < DS_N_SCALE_COLS; c++) {
        const ds_fixed_dataset *d = ds_scale_column(c);
        int is_str = d->elem == DS_EL_STR32;
        if (write_small(f, d->path, is_str ? str : ds_h5_filetype(d->elem),
                        is_str ? str : ds_h5_memtype(d->elem), (hsize_t)N, col[c], err))
            goto fail;
    }
    /* a column per key that a values family varies: every condition's value
     * of it (the sweep's own where the condition does not change it), so
     * that /scales reads as one table of the conditions (docs/result-file.md) */
    for (int i = 0; i < s->n_families; i++) {
        const char *key = s->families[i].key;
        int seen = !key[0];
        for (int j = 0; j < i && !seen; j++) seen = !strcmp(s->families[j].key, key);
        if (seen) continue;
        char path[DS_SETTING_KEY_MAX + 16];
        snprintf(path, sizeof path, "%s/%s", DS_SCALES_GROUP, key);
        if (ds_setting_is_text(key)) { /* model.init.from: the directories as written */
            char(*t)[DS_SETTING_TEXT_MAX] = DS_CALLOC((size_t)(N ? N : 1), sizeof *t);
            for (int k = 0; k < N; k++) snprintf(t[k], sizeof t[k], "%s", ds_scale_setting_text(s, k, key));
            hid_t tt = ds_h5_string_type(DS_SETTING_TEXT_MAX);
            int wrc = tt < 0 ? ds_error_set(err, DS_EXIT_ERROR, "%s: cannot make a string type", path)
                             : write_small(f, path, tt, tt, (hsize_t)N, t, err);
            if (tt >= 0) H5Tclose(tt);
            free(t);
            if (wrc) goto fail;
            continue;
        }
        double v[DS_MAX_SCALES];
        for (int k = 0; k < N; k++) v[k] = ds_scale_setting(s, k, key);
        if (write_small(f, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, (hsize_t)N, v, err)) goto fail;
    }
    rc = 0;
fail:
    for (int c = 0; c < DS_N_SCALE_COLS; c++) free(col[c]);
    if (str >= 0) H5Tclose(str);
    return rc;
}

/* Creates the groups of the seed-axis datasets (/runs, /metrics, /curves) in
 * file f, in the order the table first names them. */
static int create_seed_groups(hid_t f, const ds_sweep *s, ds_error *err) {
    int rc = DS_EXIT_ERROR;
    hid_t g = -1;
    for (int i = 0; i < DS_N_SEED_DS; i++) {
        char grp[64];
        const char *p = seed_path(s, i);
        if (!p) continue;
        snprintf(grp, sizeof grp, "%.*s", (int)(strrchr(p, '/') - p), p);
        htri_t has;
        DS_H5_TRY(has = H5Lexists(f, grp, H5P_DEFAULT));
        if (has) continue;
        DS_H5_TRY(g = H5Gcreate2(f, grp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        H5Gclose(g);
        g = -1;
    }
    rc = 0;
fail:
    if (g >= 0) H5Gclose(g);
    return rc;
}

/* Writes a complete new result file at tmp_path; sets created to its
 * `created` attribute: given_created when not NULL (a file rebuilt from its
 * journal takes the journal's, so that the journal is its own), else now. */
static int create_file(const ds_sweep *s, const char *tmp_path, const char *given_created,
                       char *created, ds_error *err) {
    hid_t f = -1, fapl = -1, g = -1, sp = -1, d = -1, dcpl = -1, str_t = -1;
    int rc = DS_EXIT_ERROR;
    int N = s->n_scales;
    int64_t S = s->seeds.count;
    char hash[64];
    DS_H5_TRY(fapl = latest_fapl());
    DS_H5_TRY(f = H5Fcreate(tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl));

    if (given_created) snprintf(created, DS_JOURNAL_CREATED_MAX, "%s", given_created);
    else ds_iso8601_now(created, DS_JOURNAL_CREATED_MAX);
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)s->yaml_hash);
    {
        const char *value[DS_N_ROOT_ATTRS] = {
            [DS_A_FORMAT] = DS_FORMAT_NAME, [DS_A_DISTSWEEP_VERSION] = DS_VERSION,
            [DS_A_GIT_COMMIT] = DS_GIT_COMMIT, [DS_A_CREATED] = created,
            [DS_A_SWEEP_NAME] = s->name, [DS_A_SWEEP_YAML] = s->yaml_text ? s->yaml_text : "",
            [DS_A_SWEEP_HASH] = hash, [DS_A_PRECISION] = ds_precision_name(s->train.precision)};
        for (int a = 0; a < DS_N_ROOT_ATTRS; a++) {
            const ds_root_attr *at = ds_root_attr_at(a);
            if (a == DS_A_FORMAT_VERSION ? write_attr_i32(f, at->name, DS_FORMAT_VERSION, err)
                                         : write_attr_str(f, at->name, value[a], err))
                goto fail;
        }
    }

    DS_H5_TRY(g = H5Gcreate2(f, DS_SCALES_GROUP, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Gclose(g);
    g = -1;
    if (write_scales(f, s, err)) goto fail;

    DS_H5_TRY(g = H5Gcreate2(f, DS_FAMILIES_GROUP, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    for (int i = 0; i < s->n_families; i++) {
        int32_t idx[DS_MAX_SCALES];
        for (int k = 0; k < s->families[i].n; k++) idx[k] = s->families[i].scale_idx[k];
        if (write_small(g, s->families[i].name, ds_h5_filetype(DS_FAMILY_ELEM),
                        ds_h5_memtype(DS_FAMILY_ELEM), (hsize_t)s->families[i].n, idx, err))
            goto fail;
        if (s->families[i].key[0]) { /* a values family: its axis (docs/result-file.md) */
            DS_H5_TRY(d = H5Dopen2(g, s->families[i].name, H5P_DEFAULT));
            if (write_attr_str(d, "key", s->families[i].key, err) ||
                write_attr_str(d, "label", s->families[i].label, err))
                goto fail;
            H5Dclose(d);
            d = -1;
        }
    }
    H5Gclose(g);
    g = -1;

    {
        const ds_fixed_dataset *el = &ds_eval_lengths_dataset;
        int32_t v[DS_MAX_EVAL_LENGTHS];
        for (int i = 0; i < s->task.n_eval_lengths; i++) v[i] = s->task.eval_lengths[i];
        if (write_small(f, el->path, ds_h5_filetype(el->elem), ds_h5_memtype(el->elem),
                        (hsize_t)s->task.n_eval_lengths, v, err))
            goto fail;
    }
    if (ds_task_eval_kind(&s->task) == DS_EVAL_SETS) { /* the sets' names: the kind's mark */
        char names[DS_MAX_EVAL_LENGTHS][32];
        memset(names, 0, sizeof names);
        for (int i = 0; i < s->task.n_mc; i++) snprintf(names[i], 32, "%s", s->task.mc[i].name);
        DS_H5_TRY(str_t = ds_h5_string_type(32));
        if (write_small(f, ds_eval_sets_dataset.path, str_t, str_t, (hsize_t)s->task.n_mc, names, err))
            goto fail;
    }

    /* /seeds: extendable */
    {
        const ds_fixed_dataset *sd = &ds_seeds_dataset;
        hsize_t dims[1] = {(hsize_t)S}, maxd[1] = {H5S_UNLIMITED}, chunk[1] = {256};
        int64_t *seeds = DS_MALLOC((size_t)(S ? S : 1) * 8);
        for (int64_t i = 0; i < S; i++) seeds[i] = s->seeds.start + i;
        int bad = (sp = H5Screate_simple(1, dims, maxd)) < 0 ||
                  (dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0 || H5Pset_chunk(dcpl, 1, chunk) < 0 ||
                  (d = H5Dcreate2(f, sd->path, ds_h5_filetype(sd->elem), sp, H5P_DEFAULT, dcpl,
                                  H5P_DEFAULT)) < 0 ||
                  (S && H5Dwrite(d, ds_h5_memtype(sd->elem), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                 seeds) < 0);
        free(seeds);
        if (bad) {
            ds_h5_fail(err, __FILE__, __LINE__, "write /seeds");
            goto fail;
        }
    }

    if (create_seed_groups(f, s, err)) goto fail;
    for (int i = 0; i < DS_N_SEED_DS; i++)
        if (seed_path(s, i) && create_seed_ds(f, seed_path(s, i), i, N, S, seed_ds_inner(s, i), err))
            goto fail;
    for (int j = 0; j < n_item_sets(s); j++)
        if (known_items(s, tmp_path, j, err) ||
            create_item_set(f, s, j, N, S, s->task.mc[j].n_items, err))
            goto fail;
    DS_H5_TRY(H5Fflush(f, H5F_SCOPE_GLOBAL));
    rc = 0;
fail:
    if (d >= 0) H5Dclose(d);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
    if (g >= 0) H5Gclose(g);
    if (str_t >= 0) H5Tclose(str_t);
    if (f >= 0 && H5Fclose(f) < 0 && !rc) rc = ds_h5_fail(err, __FILE__, __LINE__, "H5Fclose");
    if (fapl >= 0) H5Pclose(fapl);
    return rc;
}

/* ---- opening, recovering, extending --------------------------------------- */

/* Clears the status flags a killed SWMR writer left in the superblock, the
 * way `h5clear -s --increment=0` does (docs/result-file.md): without
 * skip_eof_check and H5Fincrement_filesize the stored end-of-allocation may
 * be stale and the file would be truncated. */
static int recover_file(const char *path, ds_error *err) {
    hid_t fapl = -1, f = -1;
    int rc = DS_EXIT_ERROR;
    hbool_t yes = 1;
    DS_H5_TRY(fapl = latest_fapl());
    DS_H5_TRY(H5Pset(fapl, "clear_status_flags", &yes));
    DS_H5_TRY(H5Pset(fapl, "skip_eof_check", &yes));
    DS_H5_TRY(H5Pset(fapl, "null_fsm_addr", &yes));
    DS_H5_TRY(f = H5Fopen(path, H5F_ACC_RDWR, fapl));
    DS_H5_TRY(H5Fincrement_filesize(f, 0));
    DS_H5_TRY(H5Fclose(f));
    f = -1;
    rc = 0;
fail:
    if (f >= 0) H5Fclose(f);
    if (fapl >= 0) H5Pclose(fapl);
    if (rc && err->code != DS_EXIT_STORAGE)
        ds_error_set(err, DS_EXIT_ERROR,
                     "%s: cannot recover the file left by a killed writer (is another distsweep "
                     "writing it?)", path);
    return rc;
}

static int extend_seeds(ds_store *st, int64_t new_S, ds_error *err) {
    int rc = DS_EXIT_ERROR;
    hid_t fs = -1, ms = -1;
    for (int i = 0; i < DS_N_SEED_DS; i++) {
        if (optional_absent(st, i)) continue;
        hsize_t dims[3] = {(hsize_t)st->n_scales, (hsize_t)new_S, (hsize_t)inner_len(st, i)};
        DS_H5_TRY(H5Dset_extent(st->d[i], dims));
    }
    for (int j = 0; j < st->n_sets; j++)
        for (int i = 0; i < DS_N_ITEM_DS; i++) {
            if (st->item_d[j][i] < 0) continue;
            hsize_t dims[3] = {(hsize_t)st->n_scales, (hsize_t)new_S, (hsize_t)st->n_items[j]};
            DS_H5_TRY(H5Dset_extent(st->item_d[j][i], dims));
        }
    hsize_t nd[1] = {(hsize_t)new_S};
    DS_H5_TRY(H5Dset_extent(st->seeds, nd));
    int64_t n_new = new_S - st->n_seeds;
    int64_t *vals = DS_MALLOC((size_t)n_new * 8);
    for (int64_t k = 0; k < n_new; k++) vals[k] = st->s->seeds.start + st->n_seeds + k;
    hsize_t off[1] = {(hsize_t)st->n_seeds}, cnt[1] = {(hsize_t)n_new};
    int bad = (fs = H5Dget_space(st->seeds)) < 0 ||
              H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL) < 0 ||
              (ms = H5Screate_simple(1, cnt, NULL)) < 0 ||
              H5Dwrite(st->seeds, ds_h5_memtype(ds_seeds_dataset.elem), ms, fs, H5P_DEFAULT,
                       vals) < 0;
    free(vals);
    if (bad) {
        ds_h5_fail(err, __FILE__, __LINE__, "extend /seeds");
        goto fail;
    }
    rc = 0;
fail:
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    return rc;
}

/* Opens each set's item datasets the file has (item_d -1 where it lacks
 * them) and takes its n_items from their shape when the sweep does not know
 * it; a file whose sets hold another number of items than the sweep's set
 * files is refused (DS_EXIT_USAGE: the set file changed). */
static int open_items(ds_store *st, ds_error *err) {
    htri_t grp = st->n_sets ? H5Lexists(st->file, DS_ITEMS_GROUP, H5P_DEFAULT) : 0;
    if (grp < 0) return ds_error_set(err, DS_EXIT_ERROR, "%s: cannot read %s", st->path, DS_ITEMS_GROUP);
    for (int j = 0; j < st->n_sets; j++) {
        char path[256];
        item_path(st->s, j, -1, path, sizeof path);
        htri_t has = grp > 0 ? H5Lexists(st->file, path, H5P_DEFAULT) : 0;
        if (has < 0) return ds_error_set(err, DS_EXIT_ERROR, "%s: cannot read %s", st->path, path);
        for (int i = 0; i < DS_N_ITEM_DS; i++) {
            st->item_d[j][i] = -1;
            if (!has) continue; /* a file made before items: created by ds_store_open, or skipped */
            item_path(st->s, j, i, path, sizeof path);
            st->item_d[j][i] = H5Dopen2(st->file, path, H5P_DEFAULT);
            if (st->item_d[j][i] < 0)
                return ds_error_set(err, DS_EXIT_ERROR, "%s: missing dataset %s", st->path, path);
            hid_t sp = H5Dget_space(st->item_d[j][i]);
            hsize_t dims[3] = {0, 0, 0};
            int r = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
            if (r == 3) H5Sget_simple_extent_dims(sp, dims, NULL);
            if (sp >= 0) H5Sclose(sp);
            if (r != 3 || dims[0] != (hsize_t)st->n_scales || dims[2] < 1 ||
                (st->n_items[j] > 0 && dims[2] != (hsize_t)st->n_items[j]))
                return ds_error_set(err, DS_EXIT_USAGE,
                                    "%s: dataset %s has %s, the sweep's set file %s has %d items "
                                    "(was the set file changed?)", st->path, path,
                                    r == 3 ? "another number of items" : "a shape that is not [scale, seed, item]",
                                    st->s->task.mc[j].path, (int)st->n_items[j]);
            st->n_items[j] = (int32_t)dims[2];
        }
    }
    return 0;
}

static int open_datasets(ds_store *st, ds_error *err) {
    for (int i = 0; i < DS_N_SEED_DS; i++) {
        const ds_seed_dataset *sd = ds_seed_dataset_at(i);
        const char *path = seed_path(st->s, i);
        if (!path) { /* a metric slot the sweep's evaluation does not measure */
            st->d[i] = -1;
            continue;
        }
        if (sd->inner == DS_INNER_EVAL && inner_len(st, i) == 0) {
            /* the group first: a missing one makes H5Lexists of the path fail */
            htri_t has = H5Lexists(st->file, "/trajectories", H5P_DEFAULT);
            if (has > 0) has = H5Lexists(st->file, path, H5P_DEFAULT);
            if (has == 0) { /* a file from before trajectories: see optional_absent */
                st->d[i] = -1;
                continue;
            }
        }
        st->d[i] = H5Dopen2(st->file, path, H5P_DEFAULT);
        if (st->d[i] < 0)
            return ds_error_set(err, DS_EXIT_ERROR, "%s: missing dataset %s", st->path, path);
    }
    st->seeds = H5Dopen2(st->file, ds_seeds_dataset.path, H5P_DEFAULT);
    if (st->seeds < 0) return ds_error_set(err, DS_EXIT_ERROR, "%s: missing /seeds", st->path);
    return open_items(st, err);
}

static void close_datasets(ds_store *st) {
    for (int i = 0; i < DS_N_SEED_DS; i++) {
        if (st->space[i] >= 0) H5Sclose(st->space[i]);
        if (st->d[i] >= 0) H5Dclose(st->d[i]);
        st->space[i] = st->d[i] = -1;
    }
    if (st->seeds >= 0) H5Dclose(st->seeds);
    st->seeds = -1;
    for (int j = 0; j < st->n_sets; j++)
        for (int i = 0; i < DS_N_ITEM_DS; i++) {
            if (st->item_space[j][i] >= 0) H5Sclose(st->item_space[j][i]);
            if (st->item_d[j][i] >= 0) H5Dclose(st->item_d[j][i]);
            st->item_space[j][i] = st->item_d[j][i] = -1;
        }
}

/* Checks that dataset shapes match the sweep (a file of this sweep always
 * does; anything else means it was edited by hand). */
static int check_shapes(ds_store *st, ds_error *err) {
    for (int i = 0; i < DS_N_SEED_DS; i++) {
        if (optional_absent(st, i)) continue;
        hid_t sp = H5Dget_space(st->d[i]);
        hsize_t dims[3] = {0, 0, 0};
        int r = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
        if (r == (is_3d(i) ? 3 : 2)) H5Sget_simple_extent_dims(sp, dims, NULL);
        if (sp >= 0) H5Sclose(sp);
        if (r != (is_3d(i) ? 3 : 2) || dims[0] != (hsize_t)st->n_scales ||
            dims[1] != (hsize_t)st->n_seeds || (is_3d(i) && dims[2] != (hsize_t)inner_len(st, i)))
            return ds_error_set(err, DS_EXIT_USAGE,
                                "%s: dataset %s has a shape that does not match the sweep",
                                st->path, seed_path(st->s, i));
    }
    for (int j = 0; j < st->n_sets; j++)
        for (int i = 0; i < DS_N_ITEM_DS; i++) {
            if (st->item_d[j][i] < 0) continue;
            hid_t sp = H5Dget_space(st->item_d[j][i]);
            hsize_t dims[3] = {0, 0, 0};
            if (sp >= 0) H5Sget_simple_extent_dims(sp, dims, NULL), H5Sclose(sp);
            if (dims[1] != (hsize_t)st->n_seeds) {
                char path[256];
                item_path(st->s, j, i, path, sizeof path);
                return ds_error_set(err, DS_EXIT_USAGE, "%s: dataset %s has a shape that does not "
                                    "match the sweep", st->path, path);
            }
        }
    return 0;
}

static int write_row(ds_store *st, int i, int scale, int64_t idx, const void *data,
                     ds_error *err) {
    int rc = DS_EXIT_ERROR;
    hid_t ms = -1;
    hsize_t inner = (hsize_t)inner_len(st, i);
    hsize_t off[3] = {(hsize_t)scale, (hsize_t)idx, 0}, cnt[3] = {1, 1, inner};
    if (is_3d(i) && inner == 0) return 0;
    DS_H5_TRY(H5Sselect_hyperslab(st->space[i], H5S_SELECT_SET, off, NULL, cnt, NULL));
    hsize_t mdims[1] = {is_3d(i) ? inner : 1};
    DS_H5_TRY(ms = H5Screate_simple(1, mdims, NULL));
    DS_H5_TRY(H5Dwrite(st->d[i], ds_memtype(i), ms, st->space[i], H5P_DEFAULT, data));
    rc = 0;
fail:
    if (ms >= 0) H5Sclose(ms);
    return rc;
}

/* Bytes per element of seed-axis dataset i in memory, and elements per run. */
static size_t elem_size(int i) { return ds_elem_size(ds_seed_dataset_at(i)->elem); }
static size_t row_elems(const ds_store *st, int i) {
    if (!seed_path(st->s, i)) return 0; /* a metric slot the sweep's evaluation does not measure */
    return is_3d(i) ? (size_t)inner_len(st, i) : 1;
}
static size_t row_bytes(const ds_store *st, int i) { return elem_size(i) * row_elems(st, i); }

/* The row that record rec puts into seed-axis dataset i, in memory type
 * (row_bytes(st, i) bytes at out). Writing and verifying use this one
 * definition, so a stored run and its journal record compare bit for bit. */
static void record_row(const ds_store *st, const ds_record *rec, int i, void *out) {
    const ds_run_result *r = &rec->r;
    float *f = out;
    switch (i) {
    case DS_D_STEPS: memcpy(out, &r->steps_done, 8); break;
    case DS_D_WALL: f[0] = (float)r->wall_s; break;
    case DS_D_RANK: memcpy(out, &rec->rank, 4); break;
    case DS_D_FINAL: f[0] = r->final_loss; break;
    case DS_D_IDEM: f[0] = r->id_em; break;
    case DS_D_ATTEMPTS: memcpy(out, &rec->attempts, 4); break;
    case DS_D_STATUS: *(uint8_t *)out = (uint8_t)r->status; break;
    case DS_D_CURVE:
        for (int64_t k = 0; k < st->n_log; k++)
            f[k] = (r->curve && k < r->n_curve) ? r->curve[k] : NAN;
        break;
    default:
        if (i >= DS_D_TRAJ0) { /* a trajectory */
            int m = i - DS_D_TRAJ0;
            int64_t n = inner_len(st, i);
            for (int64_t k = 0; k < n; k++)
                f[k] = (r->traj && k < r->n_traj) ? r->traj[(size_t)k * DS_N_METRICS + m] : NAN;
            break;
        }
        /* a metric */
        for (int l = 0; l < st->n_len; l++)
            f[l] = l < rec->n_len ? r->metrics[l][i - DS_D_METRIC0] : NAN;
    }
}

static int record_in_sweep(const ds_store *st, const ds_record *rec) {
    int64_t idx = rec->r.seed - st->s->seeds.start;
    return rec->scale >= 0 && rec->scale < st->n_scales && idx >= 0 && idx < st->n_seeds;
}

/* Set j's row of item dataset i that record rec puts in the file
 * (st->n_items[j] elements in memory type): the record's items when it has
 * them at the file's size, else the fill (a diverged or failed run, or a
 * record made before items). Writing and verifying use this one definition. */
static const void *record_item_row(ds_store *st, const ds_record *rec, int j, int i) {
    const ds_run_result *r = &rec->r;
    if (r->n_item_sets == st->n_sets && r->n_items[j] == st->n_items[j] && r->chosen && r->ll_correct) {
        size_t at = ds_run_items_at(r, j);
        return i == DS_I_CHOSEN ? (const void *)(r->chosen + at) : (const void *)(r->ll_correct + at);
    }
    size_t es = ds_elem_size(ds_item_dataset_at(i)->elem);
    unsigned char *b = st->itembuf;
    for (int32_t k = 0; k < st->n_items[j]; k++) ds_item_fill(i, b + (size_t)k * es);
    return b;
}

/* Writes run rec's rows of every set's item datasets the file has. */
static int write_run_items(ds_store *st, const ds_record *rec, int64_t idx, ds_error *err) {
    int rc = DS_EXIT_ERROR;
    hid_t ms = -1;
    for (int j = 0; j < st->n_sets; j++)
        for (int i = 0; i < DS_N_ITEM_DS; i++) {
            if (st->item_d[j][i] < 0) continue;
            hsize_t off[3] = {(hsize_t)rec->scale, (hsize_t)idx, 0};
            hsize_t cnt[3] = {1, 1, (hsize_t)st->n_items[j]};
            const void *row = record_item_row(st, rec, j, i);
            DS_H5_TRY(H5Sselect_hyperslab(st->item_space[j][i], H5S_SELECT_SET, off, NULL, cnt, NULL));
            DS_H5_TRY(ms = H5Screate_simple(1, &cnt[2], NULL));
            DS_H5_TRY(H5Dwrite(st->item_d[j][i], ds_h5_memtype(ds_item_dataset_at(i)->elem), ms,
                               st->item_space[j][i], H5P_DEFAULT, row));
            H5Sclose(ms);
            ms = -1;
        }
    rc = 0;
fail:
    if (ms >= 0) H5Sclose(ms);
    return rc;
}

/* Writes every row of a run but its status (the commit mark). */
static int write_run_data(ds_store *st, const ds_record *rec, ds_error *err) {
    DS_ASSERT(record_in_sweep(st, rec));
    int64_t idx = rec->r.seed - st->s->seeds.start;
    for (int i = 0; i < DS_D_STATUS; i++) {
        if (row_elems(st, i) == 0) continue;
        record_row(st, rec, i, st->rowbuf);
        if (write_row(st, i, rec->scale, idx, st->rowbuf, err)) return err->code;
    }
    if (write_run_items(st, rec, idx, err)) return err->code;
    return 0;
}

static int write_status(ds_store *st, int scale, int64_t idx, int status, ds_error *err) {
    uint8_t v = (uint8_t)status;
    return write_row(st, DS_D_STATUS, scale, idx, &v, err);
}

static void set_mirror(ds_store *st, int scale, int64_t idx, int status, int32_t attempts) {
    size_t at = (size_t)scale * (size_t)st->n_seeds + (size_t)idx;
    st->status[at] = (uint8_t)status;
    st->attempts[at] = attempts;
}

/* A write failed: from now on nothing touches the file (HDF5's state after a
 * failed write is not to be trusted; see ds_store_close). Wraps err's cause
 * as "PATH: cannot DOING: CAUSE", code DS_EXIT_STORAGE. */
static int storage_error(ds_store *st, ds_error *err, const char *doing) {
    char cause[sizeof err->msg];
    snprintf(cause, sizeof cause, "%s", err->code ? err->msg : "HDF5 error");
    st->broken = 1;
    return ds_error_set(err, DS_EXIT_STORAGE, "%s: cannot %s: %s", st->path, doing, cause);
}

/* H5Fflush hands HDF5's caches to the kernel; fsync puts them on the disk,
 * so that the order of the two phases below also holds after a power loss
 * or a file system that turns read-only (ext4 errors=remount-ro drops the
 * dirty pages it could not write). */
static int flush_durably(ds_store *st, ds_error *err) {
    int *fd = NULL;
    int rc = DS_EXIT_ERROR;
    DS_H5_TRY(H5Fflush(st->file, H5F_SCOPE_LOCAL));
    DS_H5_TRY(H5Fget_vfd_handle(st->file, H5P_DEFAULT, (void **)&fd));
    if (fd && fsync(*fd) != 0) {
        char cause[256];
        ds_strerror_lc(errno, cause, sizeof cause);
        return ds_error_set(err, DS_EXIT_STORAGE, "%s", cause);
    }
    rc = 0;
fail:
    return rc;
}

/* Stores runs in two flushed phases: every data row, flush, then every
 * status, flush. HDF5 writes its chunk cache in an order of its own, so a
 * single flush could put a status on disk and fail on the rows it commits
 * (seen on a full disk: done runs with NaN metrics). */
static int write_runs(ds_store *st, const ds_record *recs, int n, ds_error *err) {
    for (int k = 0; k < n; k++)
        if (write_run_data(st, &recs[k], err))
            return storage_error(st, err, "write run data to the result file");
    if (flush_durably(st, err)) return storage_error(st, err, "write the result file");
    for (int k = 0; k < n; k++)
        if (write_status(st, recs[k].scale, recs[k].r.seed - st->s->seeds.start, recs[k].r.status,
                         err))
            return storage_error(st, err, "write the status of a run to the result file");
    if (flush_durably(st, err)) return storage_error(st, err, "write the result file");
    for (int k = 0; k < n; k++) {
        set_mirror(st, recs[k].scale, recs[k].r.seed - st->s->seeds.start, recs[k].r.status,
                   recs[k].attempts);
        if (st->avalue) {
            const ds_adaptive_spec *a = &st->s->seeds.adaptive;
            st->avalue[(size_t)recs[k].scale * (size_t)st->n_seeds +
                       (size_t)(recs[k].r.seed - st->s->seeds.start)] =
                recs[k].r.metrics[a->length_idx][a->metric];
        }
    }
    return 0;
}

static int cache_spaces(ds_store *st, ds_error *err) {
    for (int i = 0; i < DS_N_SEED_DS; i++) {
        if (st->space[i] >= 0) H5Sclose(st->space[i]);
        st->space[i] = -1;
        if (optional_absent(st, i)) continue;
        st->space[i] = H5Dget_space(st->d[i]);
        if (st->space[i] < 0)
            return ds_error_set(err, DS_EXIT_ERROR, "%s: H5Dget_space failed", st->path);
    }
    for (int j = 0; j < st->n_sets; j++)
        for (int i = 0; i < DS_N_ITEM_DS; i++) {
            if (st->item_space[j][i] >= 0) H5Sclose(st->item_space[j][i]);
            st->item_space[j][i] = -1;
            if (st->item_d[j][i] < 0) continue;
            st->item_space[j][i] = H5Dget_space(st->item_d[j][i]);
            if (st->item_space[j][i] < 0)
                return ds_error_set(err, DS_EXIT_ERROR, "%s: H5Dget_space failed", st->path);
        }
    return 0;
}

/* Every seed-axis dataset read whole into memory (replay and verification). */
typedef struct {
    void *rows[DS_N_SEED_DS];
    void *items[DS_MAX_EVAL_LENGTHS][DS_N_ITEM_DS]; /* NULL where the file lacks the set's */
} file_rows;

static void free_rows(file_rows *fr) {
    for (int i = 0; i < DS_N_SEED_DS; i++) free(fr->rows[i]);
    for (int j = 0; j < DS_MAX_EVAL_LENGTHS; j++)
        for (int i = 0; i < DS_N_ITEM_DS; i++) free(fr->items[j][i]);
}

/* Bytes of one run's row of set j's item dataset i. */
static size_t item_row_bytes(const ds_store *st, int j, int i) {
    return ds_elem_size(ds_item_dataset_at(i)->elem) * (size_t)st->n_items[j];
}

static int read_rows(ds_store *st, file_rows *fr, ds_error *err) {
    size_t n = (size_t)st->n_scales * (size_t)st->n_seeds;
    int rc = DS_EXIT_ERROR;
    memset(fr, 0, sizeof *fr);
    for (int i = 0; i < DS_N_SEED_DS; i++) {
        fr->rows[i] = DS_MALLOC(n * row_bytes(st, i) + 8);
        if (n * row_elems(st, i) == 0) continue;
        DS_H5_TRY(H5Dread(st->d[i], ds_memtype(i), H5S_ALL, H5S_ALL, H5P_DEFAULT, fr->rows[i]));
    }
    for (int j = 0; j < st->n_sets; j++)
        for (int i = 0; i < DS_N_ITEM_DS; i++) {
            if (st->item_d[j][i] < 0) continue;
            fr->items[j][i] = DS_MALLOC(n * item_row_bytes(st, j, i) + 8);
            if (n == 0) continue;
            DS_H5_TRY(H5Dread(st->item_d[j][i], ds_h5_memtype(ds_item_dataset_at(i)->elem), H5S_ALL,
                              H5S_ALL, H5P_DEFAULT, fr->items[j][i]));
        }
    rc = 0;
fail:
    return rc;
}

/* Does the file hold exactly what record rec says of run `at`? */
static int file_matches(ds_store *st, const file_rows *fr, size_t at, const ds_record *rec) {
    for (int i = 0; i < DS_N_SEED_DS; i++) {
        size_t b = row_bytes(st, i);
        if (b == 0) continue;
        record_row(st, rec, i, st->rowbuf);
        if (memcmp(st->rowbuf, (const char *)fr->rows[i] + at * b, b) != 0) return 0;
    }
    for (int j = 0; j < st->n_sets; j++)
        for (int i = 0; i < DS_N_ITEM_DS; i++) {
            if (!fr->items[j][i]) continue;
            size_t b = item_row_bytes(st, j, i);
            if (memcmp(record_item_row(st, rec, j, i), (const char *)fr->items[j][i] + at * b, b) != 0)
                return 0;
        }
    return 1;
}

/* Does a run the file marks done or diverged have its data? (Every finished
 * run has steps, an attempt, a rank and finite em, minprob and token_acc at
 * every length: the engine stores 0 for a diverged run, docs/spec-tasks.md
 * §6. error and loss may be NaN legitimately.) */
static int file_run_complete(const ds_store *st, const file_rows *fr, size_t at) {
    const int64_t *steps = fr->rows[DS_D_STEPS];
    const int32_t *att = fr->rows[DS_D_ATTEMPTS], *rank = fr->rows[DS_D_RANK];
    if (steps[at] <= 0 || att[at] < 1 || rank[at] < 0) return 0;
    static const int need[] = {DS_M_EM, DS_M_MINPROB, DS_M_TOKEN_ACC};
    for (size_t k = 0; k < sizeof need / sizeof need[0]; k++) {
        if (!row_elems(st, DS_D_METRIC0 + need[k])) continue; /* not measured: sets (mc_acc is em's) */
        const float *m = (const float *)fr->rows[DS_D_METRIC0 + need[k]] + at * (size_t)st->n_len;
        for (int l = 0; l < st->n_len; l++)
            if (!isfinite(m[l])) return 0;
    }
    return 1;
}

/* Reads the file once (setting the status and attempts mirrors), then:
 * resume distrusts what it cannot prove. The journal is written before the
 * file, so for each run the journal's last record wins wherever the file
 * differs from it in any byte; a run the file marks done or diverged without
 * its data and without a journal record goes back to pending (it runs
 * again). Written in the two phases of write_runs. */
static int replay_and_verify(ds_store *st, const ds_record *recs, int64_t n_recs,
                             ds_store_info *info, ds_error *err) {
    size_t n = (size_t)st->n_scales * (size_t)st->n_seeds;
    int32_t *last = DS_MALLOC((n ? n : 1) * sizeof *last);
    ds_record *fix = DS_MALLOC((n ? n : 1) * sizeof *fix);
    size_t *reset = DS_MALLOC((n ? n : 1) * sizeof *reset);
    int64_t n_fix = 0, n_reset = 0;
    file_rows fr;
    int rc = read_rows(st, &fr, err);
    if (rc) goto done;
    /* the mirrors of /runs/status and /runs/attempts, from the same read */
    st->status = DS_MALLOC(n ? n : 1);
    st->attempts = DS_MALLOC((n ? n : 1) * sizeof *st->attempts);
    memcpy(st->status, fr.rows[DS_D_STATUS], n * row_bytes(st, DS_D_STATUS));
    memcpy(st->attempts, fr.rows[DS_D_ATTEMPTS], n * row_bytes(st, DS_D_ATTEMPTS));
    if (st->s->seeds.adaptive.enabled) {
        const ds_adaptive_spec *a = &st->s->seeds.adaptive;
        const float *m = fr.rows[DS_D_METRIC0 + a->metric];
        st->avalue = DS_MALLOC((n ? n : 1) * sizeof *st->avalue);
        for (size_t k = 0; k < n; k++) st->avalue[k] = m[k * (size_t)st->n_len + (size_t)a->length_idx];
    }
    for (size_t k = 0; k < n; k++) last[k] = -1;
    for (int64_t k = 0; k < n_recs; k++)
        if (record_in_sweep(st, &recs[k]))
            last[(size_t)recs[k].scale * (size_t)st->n_seeds +
                 (size_t)(recs[k].r.seed - st->s->seeds.start)] = (int32_t)k;
    for (size_t k = 0; k < n; k++) {
        int status = st->status[k];
        if (last[k] >= 0) {
            if (file_matches(st, &fr, k, &recs[last[k]])) continue;
            fix[n_fix++] = recs[last[k]]; /* shallow: recs outlive this function */
            if (status != DS_RUN_PENDING) info->repaired++;
        } else if ((status == DS_RUN_DONE || status == DS_RUN_DIVERGED) &&
                   !file_run_complete(st, &fr, k)) {
            reset[n_reset++] = k;
        }
    }
    if (n_fix && (rc = write_runs(st, fix, (int)n_fix, err))) goto done;
    for (int64_t k = 0; k < n_reset; k++) {
        int scale = (int)(reset[k] / (size_t)st->n_seeds);
        int64_t idx = (int64_t)(reset[k] % (size_t)st->n_seeds);
        if ((rc = write_status(st, scale, idx, DS_RUN_PENDING, err))) {
            rc = storage_error(st, err, "write the status of a run to the result file");
            goto done;
        }
        st->status[reset[k]] = DS_RUN_PENDING;
    }
    info->replayed = n_fix;
    info->reset = n_reset;
    rc = 0;
done:
    free_rows(&fr);
    free(last);
    free(fix);
    free(reset);
    return rc;
}

/* Before SWMR: creates the item datasets of each set the file lacks (a file
 * of sets made before items) when the sweep knows the set's size, opens
 * them, and sizes st->itembuf for the largest set. A set of unknown size
 * stays without them (not written; readers read no items there). */
static int ensure_items(ds_store *st, ds_error *err) {
    int32_t widest = 1;
    for (int j = 0; j < st->n_sets; j++) {
        if (st->item_d[j][0] < 0 && st->n_items[j] > 0) {
            if (create_item_set(st->file, st->s, j, st->n_scales, st->n_seeds, st->n_items[j], err))
                return err->code ? err->code : DS_EXIT_ERROR;
            close_datasets(st);
            if (open_datasets(st, err)) return err->code;
        }
        if (st->n_items[j] > widest) widest = st->n_items[j];
    }
    free(st->itembuf);
    st->itembuf = DS_MALLOC(4 * (size_t)widest);
    return 0;
}

int ds_store_open(const ds_sweep *s, const char *path, int retry_failed, ds_store **out,
                  ds_store_info *info, ds_error *err) {
    ds_store *st = DS_CALLOC(1, sizeof *st);
    hid_t fapl = -1;
    ds_record *recs = NULL;
    int64_t n_recs = 0;
    char tmp[DS_OUTPUT_PATH_MAX], created[DS_JOURNAL_CREATED_MAX] = "", jpath[DS_OUTPUT_PATH_MAX];
    const char *doing = "open the result file"; /* for a storage failure's message */
    struct stat sb;
    int rc = DS_EXIT_ERROR;
    H5E_auto2_t old_fn;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);

    memset(info, 0, sizeof *info);
    st->s = s;
    st->file = st->seeds = -1;
    for (int i = 0; i < DS_N_SEED_DS; i++) st->d[i] = st->space[i] = -1;
    st->n_sets = n_item_sets(s);
    for (int j = 0; j < DS_MAX_EVAL_LENGTHS; j++) {
        st->n_items[j] = j < st->n_sets ? s->task.mc[j].n_items : 0;
        for (int i = 0; i < DS_N_ITEM_DS; i++) st->item_d[j][i] = st->item_space[j][i] = -1;
    }
    snprintf(st->path, sizeof st->path, "%s", path);
    st->n_scales = s->n_scales;
    st->n_len = s->task.n_eval_lengths;
    st->n_log = n_log_points(s);
    {
        size_t w = 8;
        for (int i = 0; i < DS_N_SEED_DS; i++)
            if (row_bytes(st, i) > w) w = row_bytes(st, i);
        st->rowbuf = DS_MALLOC(w);
    }

    ds_output_path(path, DS_OUTPUT_JOURNAL, jpath, sizeof jpath);
    if (stat(path, &sb) != 0) {
        /* Build the whole file under a temporary name, then rename: a crash
         * never leaves a half-made result file. A journal of this sweep
         * beside a missing file (one damaged and moved aside, or deleted by
         * hand) rebuilds it: the new file takes the journal's `created`, so
         * the journal is its own and every run in it is restored below. */
        char jcreated[DS_JOURNAL_CREATED_MAX];
        uint64_t jhash = 0;
        info->rebuilt = ds_journal_identity(jpath, jcreated, &jhash) == 0 && jhash == s->yaml_hash;
        doing = "create the result file";
        ds_output_path(path, DS_OUTPUT_TMP, tmp, sizeof tmp);
        if (create_file(s, tmp, info->rebuilt ? jcreated : NULL, created, err)) {
            unlink(tmp);
            goto fail;
        }
        if (rename(tmp, path) != 0) {
            char cause[256];
            ds_strerror_lc(errno, cause, sizeof cause);
            ds_error_set(err, DS_EXIT_STORAGE, "rename %s: %s", tmp, cause);
            unlink(tmp);
            goto fail;
        }
        info->created = 1;
    }

    doing = "open the result file for writing";
    DS_H5_TRY(fapl = latest_fapl());
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    st->file = H5Fopen(path, H5F_ACC_RDWR, fapl);
    if (st->file < 0) {
        /* Left behind by a killed writer (status flags set), or locked by a
         * live one: recovery fails in the latter case (file lock). */
        if (recover_file(path, err)) goto fail;
        info->recovered = 1;
        st->file = H5Fopen(path, H5F_ACC_RDWR, fapl);
    }
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
    if (st->file < 0) {
        ds_error_set(err, DS_EXIT_ERROR, "%s: cannot open for writing (is another distsweep "
                     "writing it?)", path);
        goto fail;
    }
    char *c = ds_h5_attr_string(st->file, ds_attr_name(DS_A_CREATED));
    if (!c) {
        ds_error_set(err, DS_EXIT_ERROR, "%s: no 'created' attribute", path);
        goto fail;
    }
    snprintf(created, sizeof created, "%s", c);
    free(c);
    if (open_datasets(st, err)) goto fail;
    {
        hid_t sp = H5Dget_space(st->seeds);
        hsize_t dims[1] = {0};
        if (sp < 0 || H5Sget_simple_extent_dims(sp, dims, NULL) != 1) {
            if (sp >= 0) H5Sclose(sp);
            ds_error_set(err, DS_EXIT_ERROR, "%s: /seeds is not 1-D", path);
            goto fail;
        }
        H5Sclose(sp);
        st->n_seeds = (int64_t)dims[0];
    }
    doing = "add the per-item datasets to the result file";
    if (ensure_items(st, err)) goto fail;
    if (check_shapes(st, err)) goto fail;
    info->old_seeds = st->n_seeds;
    if (s->seeds.count < st->n_seeds && !s->seeds.adaptive.enabled) {
        /* Defensive: ds_output_open_for_run decides and reports this (the
         * file's axis as the stored seeds.count in its sweep diff) before
         * the file is opened; an adaptive sweep's axis is as long as its
         * largest scale. */
        ds_error_set(err, DS_EXIT_USAGE,
                     "%s: holds %lld seeds but the sweep has seeds.count %lld; the seed axis can "
                     "grow, never shrink", path, (long long)st->n_seeds, (long long)s->seeds.count);
        rc = DS_EXIT_USAGE;
        goto fail;
    }
    if (s->seeds.count > st->n_seeds) {
        doing = "extend the seed axis of the result file";
        if (extend_seeds(st, s->seeds.count, err)) goto fail;
        st->n_seeds = s->seeds.count;
    }
    info->new_seeds = st->n_seeds;
    {
        /* The caller accepted this sweep: record it as the file's sweep. The
         * text is rewritten when it differs even where the hash does not: a
         * changed report block or seeds.count (outside the hash, src/sweep.h)
         * is what `report`, `status` and the plots read back. */
        doing = "record the sweep in the result file";
        char h[32];
        snprintf(h, sizeof h, "%016llx", (unsigned long long)s->yaml_hash);
        char *old = ds_h5_attr_string(st->file, ds_attr_name(DS_A_SWEEP_HASH));
        /* the text too: settings outside the hash (seeds.count,
         * seeds.adaptive, run.*, the report block) change it, and `report` replays the adaptive
         * decisions of the text stored (src/cmd_report.c) */
        char *old_yaml = ds_h5_attr_string(st->file, ds_attr_name(DS_A_SWEEP_YAML));
        const char *yaml = s->yaml_text ? s->yaml_text : "";
        if (!old || strcmp(old, h) || !old_yaml || strcmp(old_yaml, yaml)) {
            if (write_attr_str(st->file, ds_attr_name(DS_A_SWEEP_YAML), yaml, err) ||
                write_attr_str(st->file, ds_attr_name(DS_A_SWEEP_HASH), h, err)) {
                free(old);
                free(old_yaml);
                goto fail;
            }
        }
        free(old);
        free(old_yaml);
    }
    doing = "read the result file";
    if (cache_spaces(st, err)) goto fail;

    doing = NULL; /* the journal's messages name the journal */
    if (ds_journal_open(jpath, created, s->yaml_hash, &st->journal, &recs, &n_recs, &info->stale_journal, err))
        goto fail;
    if (s->seeds.adaptive.enabled || info->rebuilt) {
        /* A journal record past the axis: the axis grew (an adaptive round,
         * or seeds added to the file being rebuilt) but the extension never
         * reached the disk, or the file is new. Grow it again, or the run
         * would be lost. */
        int64_t need = st->n_seeds;
        for (int64_t k = 0; k < n_recs; k++)
            if (recs[k].scale >= 0 && recs[k].scale < st->n_scales &&
                recs[k].r.seed - s->seeds.start + 1 > need && recs[k].r.seed >= s->seeds.start)
                need = recs[k].r.seed - s->seeds.start + 1;
        if (need > st->n_seeds) {
            doing = "extend the seed axis of the result file";
            if (extend_seeds(st, need, err)) goto fail;
            st->n_seeds = need;
            info->new_seeds = need;
            if (cache_spaces(st, err)) goto fail;
        }
    }
    doing = "restore runs from the journal into the result file";
    if (replay_and_verify(st, recs, n_recs, info, err)) goto fail;
    if (!s->seeds.adaptive.enabled) {
        /* a fixed sweep asks every scale for every seed of the axis */
        doing = "write the status of a run to the result file";
        for (int sc = 0; sc < st->n_scales; sc++)
            for (int64_t i = 0; i < st->n_seeds; i++) {
                size_t at = (size_t)sc * (size_t)st->n_seeds + (size_t)i;
                if (st->status[at] != DS_RUN_UNREQUESTED) continue;
                if (write_status(st, sc, i, DS_RUN_PENDING, err)) goto fail;
                st->status[at] = DS_RUN_PENDING;
            }
    }
    if (retry_failed) {
        for (int sc = 0; sc < st->n_scales; sc++)
            for (int64_t i = 0; i < st->n_seeds; i++) {
                size_t at = (size_t)sc * (size_t)st->n_seeds + (size_t)i;
                if (st->status[at] != DS_RUN_FAILED) continue;
                if (write_status(st, sc, i, DS_RUN_PENDING, err)) goto fail;
                st->status[at] = DS_RUN_PENDING;
            }
    }
    doing = "write the result file";
    if (flush_durably(st, err)) goto fail;

    /* SWMR: every object exists now; close them, switch, reopen. */
    close_datasets(st);
    doing = "switch the result file to SWMR writing";
    DS_H5_TRY(H5Fstart_swmr_write(st->file));
    if (open_datasets(st, err) || cache_spaces(st, err)) goto fail;
    rc = 0;
    *out = st;
    goto done;
fail:
    if (!err->code) ds_error_set(err, rc ? rc : DS_EXIT_ERROR, "%s: cannot open result file", path);
    /* a failed HDF5 write breaks the store; a journal failure (doing NULL)
     * leaves the file sound, and it is closed normally */
    if (err->code == DS_EXIT_STORAGE && doing && !st->broken) storage_error(st, err, doing);
    rc = err->code;
    {
        ds_error ignore = {0};
        ds_store_close(st, &ignore);
    }
    *out = NULL;
done:
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
    for (int64_t k = 0; k < n_recs; k++) ds_record_free(&recs[k]);
    free(recs);
    if (fapl >= 0) H5Pclose(fapl);
    return rc;
}

/* ---- the definition stored in a file ---------------------------------------- */

/* 0 when 1-D dataset `name` of f reads whole in memory type mtype (esz
 * bytes an element) as exactly n elements whose bytes are want's (a fixed
 * string column too: the writer wrote zero-padded buffers, and a string
 * type read in its own type is not converted); 1 when it reads but differs;
 * -1 when it does not read. */
static int same_1d(hid_t f, const char *name, hid_t mtype, size_t esz, hsize_t n,
                   const void *want) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT), sp = -1;
    hsize_t dims[1] = {0};
    int rc = -1;
    unsigned char *buf = NULL;
    if (d < 0 || (sp = H5Dget_space(d)) < 0 || H5Sget_simple_extent_ndims(sp) != 1 ||
        H5Sget_simple_extent_dims(sp, dims, NULL) != 1)
        goto done;
    rc = 1;
    if (dims[0] != n) goto done;
    buf = DS_CALLOC(n ? (size_t)n : 1, esz);
    if (n && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        rc = -1;
        goto done;
    }
    rc = n && memcmp(buf, want, (size_t)n * esz) != 0;
done:
    free(buf);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    return rc;
}

int ds_store_check_definition(const ds_sweep *s, const char *path, char *why, size_t n) {
    hid_t fapl = -1, f = -1, str = -1, sp = -1, d = -1;
    void *col[DS_N_SCALE_COLS] = {0};
    int64_t *seeds = NULL;
    int rc = -1, how;
    const char *bad = "the file";
    char fam[160];
    H5E_auto2_t old_fn;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if ((fapl = H5Pcreate(H5P_FILE_ACCESS)) < 0 || (f = ds_h5_open_read(path, fapl, &how)) < 0 ||
        (str = ds_h5_string_type(ds_elem_size(DS_EL_STR32))) < 0)
        goto done;
    /* /seeds: start, start + 1, ... over the file's own axis */
    bad = ds_seeds_dataset.path;
    hsize_t S = 0;
    if ((d = H5Dopen2(f, bad, H5P_DEFAULT)) < 0 || (sp = H5Dget_space(d)) < 0 ||
        H5Sget_simple_extent_ndims(sp) != 1 || H5Sget_simple_extent_dims(sp, &S, NULL) != 1)
        goto done;
    seeds = DS_MALLOC((size_t)(S ? S : 1) * sizeof *seeds);
    for (hsize_t i = 0; i < S; i++) seeds[i] = s->seeds.start + (int64_t)i;
    if ((rc = same_1d(f, bad, ds_h5_memtype(DS_EL_I64), 8, S, seeds))) goto done;
    bad = ds_eval_lengths_dataset.path;
    int32_t el[DS_MAX_EVAL_LENGTHS];
    for (int i = 0; i < s->task.n_eval_lengths; i++) el[i] = s->task.eval_lengths[i];
    if ((rc = same_1d(f, bad, ds_h5_memtype(DS_EL_I32), 4, (hsize_t)s->task.n_eval_lengths, el)))
        goto done;
    scale_columns(s, col);
    for (int c = 0; c < DS_N_SCALE_COLS; c++) {
        const ds_fixed_dataset *fd = ds_scale_column(c);
        bad = fd->path;
        /* an optional column (flops_per_step) of an older file may be absent */
        if (!fd->required && H5Lexists(f, fd->path, H5P_DEFAULT) == 0) continue;
        int is_str = fd->elem == DS_EL_STR32;
        if ((rc = same_1d(f, fd->path, is_str ? str : ds_h5_memtype(fd->elem),
                          ds_elem_size(fd->elem), (hsize_t)s->n_scales, col[c])))
            goto done;
    }
    for (int i = 0; i < s->n_families; i++) {
        int32_t idx[DS_MAX_SCALES];
        for (int k = 0; k < s->families[i].n; k++) idx[k] = s->families[i].scale_idx[k];
        snprintf(fam, sizeof fam, "%s/%s", DS_FAMILIES_GROUP, s->families[i].name);
        bad = fam;
        if ((rc = same_1d(f, fam, ds_h5_memtype(DS_FAMILY_ELEM), 4, (hsize_t)s->families[i].n,
                          idx)))
            goto done;
    }
    rc = 0;
done:
    if (rc)
        snprintf(why, n, "%.3000s: %s %s", path, bad,
                 rc < 0 ? "cannot be read (damaged?)"
                        : "does not hold what the sweep defines (damaged?)");
    for (int c = 0; c < DS_N_SCALE_COLS; c++) free(col[c]);
    free(seeds);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    if (str >= 0) H5Tclose(str);
    if (f >= 0) H5Fclose(f);
    if (fapl >= 0) H5Pclose(fapl);
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
    return rc;
}

int64_t ds_store_n_seeds(const ds_store *st) { return st->n_seeds; }

int ds_store_status(const ds_store *st, int scale, int64_t seed_idx) {
    DS_ASSERT(scale >= 0 && scale < st->n_scales && seed_idx >= 0 && seed_idx < st->n_seeds);
    return st->status[(size_t)scale * (size_t)st->n_seeds + (size_t)seed_idx];
}

int32_t ds_store_attempts(const ds_store *st, int scale, int64_t seed_idx) {
    DS_ASSERT(scale >= 0 && scale < st->n_scales && seed_idx >= 0 && seed_idx < st->n_seeds);
    return st->attempts[(size_t)scale * (size_t)st->n_seeds + (size_t)seed_idx];
}

double ds_store_counted_value(const ds_store *st, int scale, int64_t seed_idx) {
    DS_ASSERT(st->avalue && scale >= 0 && scale < st->n_scales && seed_idx >= 0 &&
              seed_idx < st->n_seeds);
    size_t at = (size_t)scale * (size_t)st->n_seeds + (size_t)seed_idx;
    return ds_run_counted_value(st->status[at], st->s->seeds.adaptive.metric, st->avalue[at]);
}

int64_t ds_store_count(const ds_store *st, int scale, int status) {
    int64_t n = 0;
    for (int sc = 0; sc < st->n_scales; sc++) {
        if (scale >= 0 && sc != scale) continue;
        for (int64_t i = 0; i < st->n_seeds; i++)
            n += st->status[(size_t)sc * (size_t)st->n_seeds + (size_t)i] == status;
    }
    return n;
}

/* Grows the seed axis to new_S in SWMR-write mode: the datasets, /seeds, the
 * mirrors (re-laid out for the new row length) and the cached dataspaces.
 * The new columns are unrequested for every scale, in the mirror; in the
 * file they read pending (the fill) until ds_store_set_requested writes
 * them. */
static int grow_axis(ds_store *st, int64_t new_S, ds_error *err) {
    int64_t S = st->n_seeds;
    if (extend_seeds(st, new_S, err) || cache_spaces(st, err)) return err->code ? err->code : 1;
    size_t n = (size_t)st->n_scales * (size_t)new_S;
    uint8_t *status = DS_MALLOC(n ? n : 1);
    int32_t *attempts = DS_CALLOC(n ? n : 1, sizeof *attempts);
    float *avalue = DS_MALLOC((n ? n : 1) * sizeof *avalue);
    for (int sc = 0; sc < st->n_scales; sc++)
        for (int64_t i = 0; i < new_S; i++) {
            size_t to = (size_t)sc * (size_t)new_S + (size_t)i, from = (size_t)sc * (size_t)S + (size_t)i;
            status[to] = i < S ? st->status[from] : DS_RUN_UNREQUESTED;
            attempts[to] = i < S ? st->attempts[from] : 0;
            avalue[to] = i < S && st->avalue ? st->avalue[from] : NAN;
        }
    free(st->status);
    free(st->attempts);
    free(st->avalue);
    st->status = status, st->attempts = attempts, st->avalue = avalue;
    st->n_seeds = new_S;
    return 0;
}

int ds_store_set_requested(ds_store *st, const int64_t *requested, ds_error *err) {
    DS_ASSERT(st->s->seeds.adaptive.enabled);
    if (st->broken || st->stopped)
        return ds_error_set(err, DS_EXIT_STORAGE, "%s: not written since an earlier failure",
                            st->path);
    int64_t need = st->n_seeds, S0 = st->n_seeds;
    for (int sc = 0; sc < st->n_scales; sc++)
        if (requested[sc] > need) need = requested[sc];
    if (need > st->n_seeds && grow_axis(st, need, err))
        return storage_error(st, err, "extend the seed axis of the result file");
    int wrote = need > S0;
    for (int sc = 0; sc < st->n_scales; sc++)
        for (int64_t i = 0; i < st->n_seeds; i++) {
            size_t at = (size_t)sc * (size_t)st->n_seeds + (size_t)i;
            int now = st->status[at], want = now;
            if (i < requested[sc] && now == DS_RUN_UNREQUESTED) want = DS_RUN_PENDING;
            if (i >= requested[sc] && now == DS_RUN_PENDING) want = DS_RUN_UNREQUESTED;
            /* a new column's file status is the fill (pending) whatever the mirror says */
            if (want == now && !(i >= S0 && want == DS_RUN_UNREQUESTED)) continue;
            if (write_status(st, sc, i, want, err))
                return storage_error(st, err, "write the status of a run to the result file");
            st->status[at] = (uint8_t)want;
            wrote = 1;
        }
    if (wrote && flush_durably(st, err)) return storage_error(st, err, "write the result file");
    return 0;
}

int ds_store_put(ds_store *st, ds_record *recs, int n, ds_error *err) {
    if (n <= 0) return 0;
    if (st->broken || st->stopped)
        return ds_error_set(err, DS_EXIT_STORAGE, "%s: not written since an earlier failure",
                            st->path);
    for (int k = 0; k < n; k++)
        if (!record_in_sweep(st, &recs[k]))
            return ds_error_set(err, DS_EXIT_ERROR, "%s: run (scale %d, seed %lld) is not in the "
                                "sweep", st->path, recs[k].scale, (long long)recs[k].r.seed);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    for (int k = 0; k < n; k++) recs[k].t_stored = (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
    if (ds_journal_append(st->journal, recs, n, err)) {
        st->stopped = 1; /* the journal is its own message; nothing reached the file */
        return err->code;
    }
    return write_runs(st, recs, n, err);
}

int ds_store_reset_runs(ds_store *st, const int *scale, const int64_t *idx, int n, ds_error *err) {
    if (n <= 0) return 0;
    if (st->broken || st->stopped)
        return ds_error_set(err, DS_EXIT_STORAGE, "%s: not written since an earlier failure",
                            st->path);
    for (int k = 0; k < n; k++) {
        DS_ASSERT(scale[k] >= 0 && scale[k] < st->n_scales && idx[k] >= 0 && idx[k] < st->n_seeds);
        if (write_status(st, scale[k], idx[k], DS_RUN_PENDING, err))
            return storage_error(st, err, "write the status of a run to the result file");
        set_mirror(st, scale[k], idx[k], DS_RUN_PENDING,
                   st->attempts[(size_t)scale[k] * (size_t)st->n_seeds + (size_t)idx[k]]);
    }
    if (flush_durably(st, err)) return storage_error(st, err, "write the result file");
    return 0;
}

int ds_store_close(ds_store *st, ds_error *err) {
    if (!st) return 0;
    int rc = 0;
    if (st->broken) {
        /* After a failed write HDF5 may fail again and crash while closing
         * (seen on a full disk), and a second flush could put later metadata
         * over the gap the failed one left. Leave the file as a killed
         * writer leaves it: what reached the disk is consistent (SWMR
         * ordering), the next run recovers it (docs/result-file.md), and the
         * journal holds every run the file may lack. HDF5 does not close it
         * at exit either (ds_h5_library_init). */
        st->file = -1;
        for (int i = 0; i < DS_N_SEED_DS; i++) st->d[i] = st->space[i] = -1;
        for (int j = 0; j < st->n_sets; j++)
            for (int i = 0; i < DS_N_ITEM_DS; i++) st->item_d[j][i] = st->item_space[j][i] = -1;
        st->seeds = -1;
    }
    close_datasets(st);
    if (st->file >= 0 && H5Fclose(st->file) < 0)
        rc = ds_h5_fail(err, __FILE__, __LINE__, "H5Fclose");
    ds_journal_close(st->journal);
    free(st->status);
    free(st->attempts);
    free(st->avalue);
    free(st->rowbuf);
    free(st->itembuf);
    free(st);
    return rc;
}
