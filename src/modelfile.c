/* modelfile: the stored models of a sweep (see modelfile.h). */
#include "modelfile.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"
#include "output.h"
#include "safetensors.h"
#include "store.h"
#include "version.h"

void ds_modelfile_dir(const char *out_path, char *buf, size_t n) {
    ds_output_path(out_path, DS_OUTPUT_MODELS_DIR, buf, n);
}

void ds_modelfile_path(const char *dir, int scale, int64_t seed, char *buf, size_t n) {
    snprintf(buf, n, "%s/scale%d-seed%lld.safetensors", dir, scale, (long long)seed);
}

double ds_modelfile_bytes(const ds_sweep *s, int scale) {
    ds_model_config c = ds_model_config_from_sweep(s, scale, 1);
    /* the header: about 110 bytes per tensor and 700 of metadata */
    return 4.0 * (double)ds_model_params(&c) + 110.0 * (12.0 * c.L + 4) + 700.0;
}

/* The metadata values of run (scale, seed), in the order of meta_keys. */
enum { MK_FORMAT, MK_VERSION, MK_SWEEP_NAME, MK_SWEEP_HASH, MK_SCALE, MK_SEED, MK_STEPS, MK_D,
       MK_L, MK_H, MK_HD, MK_V, MK_BLOCK, MK_ROT, MK_ROPE_BASE, MK_LN_EPS, MK_DS_VERSION,
       MK_GIT, MK_CHECKSUM, MK_N };
static const char *const meta_keys[MK_N] = {
    "format", "format_version", "sweep_name", "sweep_hash", "scale", "seed", "steps", "d_model",
    "n_layers", "n_heads", "head_dim", "vocab_total", "block", "rotary_dims", "rope_base",
    "ln_eps", "distsweep_version", "git_commit", "checksum_fnv1a64"};

/* Every value but steps and the checksum, which the caller sets. */
static void meta_values(const ds_sweep *s, int scale, int64_t seed, char val[MK_N][128]) {
    ds_model_config c = ds_model_config_from_sweep(s, scale, 1);
    snprintf(val[MK_FORMAT], 128, "%s", DS_MODELFILE_FORMAT);
    snprintf(val[MK_VERSION], 128, "%d", DS_MODELFILE_VERSION);
    snprintf(val[MK_SWEEP_NAME], 128, "%s", s->name);
    snprintf(val[MK_SWEEP_HASH], 128, "%016llx", (unsigned long long)s->yaml_hash);
    snprintf(val[MK_SCALE], 128, "%d", scale);
    snprintf(val[MK_SEED], 128, "%lld", (long long)seed);
    val[MK_STEPS][0] = 0;
    snprintf(val[MK_D], 128, "%d", c.d);
    snprintf(val[MK_L], 128, "%d", c.L);
    snprintf(val[MK_H], 128, "%d", c.H);
    snprintf(val[MK_HD], 128, "%d", c.hd);
    snprintf(val[MK_V], 128, "%d", c.V);
    snprintf(val[MK_BLOCK], 128, "%s", c.block == DS_BLOCK_LLAMA ? "llama"
                                       : c.block == DS_BLOCK_SEQUENTIAL ? "sequential" : "parallel");
    snprintf(val[MK_ROT], 128, "%d", c.rot);
    ds_model_spec md; /* the condition's: its own base's, if any */
    ds_scale_model(s, scale, &md);
    snprintf(val[MK_ROPE_BASE], 128, "%.17g", md.rope_base);
    snprintf(val[MK_LN_EPS], 128, "%.17g", md.ln_eps);
    snprintf(val[MK_DS_VERSION], 128, "%s", DS_VERSION);
    snprintf(val[MK_GIT], 128, "%s", DS_GIT_COMMIT);
    val[MK_CHECKSUM][0] = 0;
}

int ds_modelfile_save(const char *path, const ds_sweep *s, int scale, int64_t seed, int64_t steps,
                      const float *params, ds_error *err) {
    ds_model_config c = ds_model_config_from_sweep(s, scale, 1);
    int nt = ds_model_tensors(&c, NULL);
    ds_param_tensor *pt = DS_MALLOC(sizeof *pt * (size_t)nt);
    ds_st_tensor *t = DS_MALLOC(sizeof *t * (size_t)nt);
    ds_model_tensors(&c, pt);
    for (int i = 0; i < nt; i++) {
        snprintf(t[i].name, sizeof t[i].name, "%s", pt[i].name);
        t[i].ndim = pt[i].ndim;
        t[i].shape[0] = pt[i].shape[0];
        t[i].shape[1] = pt[i].shape[1];
        t[i].data = params + pt[i].offset;
    }
    size_t P = ds_model_params(&c);
    char val[MK_N][128];
    meta_values(s, scale, seed, val);
    snprintf(val[MK_STEPS], 128, "%lld", (long long)steps);
    snprintf(val[MK_CHECKSUM], 128, "%016llx",
             (unsigned long long)ds_fnv1a64(params, P * sizeof(float), DS_FNV1A64_INIT));
    const char *meta[2 * MK_N];
    for (int k = 0; k < MK_N; k++) meta[2 * k] = meta_keys[k], meta[2 * k + 1] = val[k];
    int rc = ds_st_write(path, t, nt, meta, MK_N, err);
    free(pt);
    free(t);
    return rc;
}

/* Checks f (read from path) against run (scale, seed) of s. */
static int verify_header(const char *path, const ds_st_file *f, const ds_sweep *s, int scale,
                         int64_t seed, ds_error *err) {
    char val[MK_N][128];
    meta_values(s, scale, seed, val);
    for (int k = 0; k < MK_N; k++) {
        /* the sweep's name, the build and the steps may differ; the rest names the model */
        if (k == MK_SWEEP_NAME || k == MK_STEPS || k == MK_DS_VERSION || k == MK_GIT ||
            k == MK_CHECKSUM)
            continue;
        const char *v = ds_st_meta(f, meta_keys[k]);
        if (!v || strcmp(v, val[k]))
            return ds_error_set(err, DS_EXIT_ERROR,
                                "%s: not the stored model of this run: %s is %s%s%s in the file, "
                                "%s for scale %d seed %lld of this sweep", path, meta_keys[k],
                                v ? "'" : "", v ? v : "missing", v ? "'" : "", val[k], scale,
                                (long long)seed);
    }
    if (!ds_st_meta(f, meta_keys[MK_CHECKSUM]) || !ds_st_meta(f, meta_keys[MK_STEPS]))
        return ds_error_set(err, DS_EXIT_ERROR, "%s: no checksum or steps in its metadata", path);
    ds_model_config c = ds_model_config_from_sweep(s, scale, 1);
    int nt = ds_model_tensors(&c, NULL);
    ds_param_tensor *pt = DS_MALLOC(sizeof *pt * (size_t)nt);
    ds_model_tensors(&c, pt);
    int rc = 0;
    if (f->n != nt) {
        rc = ds_error_set(err, DS_EXIT_ERROR, "%s: %d tensors, the model has %d", path, f->n, nt);
        goto done;
    }
    for (int i = 0; i < nt && !rc; i++) {
        int k = ds_st_find(f, pt[i].name);
        int ok = k >= 0 && f->t[k].ndim == pt[i].ndim && !strcmp(f->t[k].dtype, "F32") &&
                 f->t[k].begin == 4 * (uint64_t)pt[i].offset;
        for (int d = 0; ok && d < pt[i].ndim; d++) ok = f->t[k].shape[d] == pt[i].shape[d];
        if (!ok)
            rc = ds_error_set(err, DS_EXIT_ERROR, "%s: tensor %s is %s", path, pt[i].name,
                              k < 0 ? "missing" : "not of the model's shape and place");
    }
done:
    free(pt);
    return rc;
}

/* Reads path whole into f (the caller frees it with ds_st_free, also on an
 * error) and checks it against run (scale, seed) of s: the header
 * (verify_header) and the FNV-1a 64 checksum of the data. Returns 0 or
 * DS_EXIT_ERROR with err naming the file and the problem. */
static int read_verified(const char *path, const ds_sweep *s, int scale, int64_t seed,
                         ds_st_file *f, ds_error *err) {
    int rc = ds_st_read(path, 0, f, err);
    if (rc) return rc;
    if ((rc = verify_header(path, f, s, scale, seed, err))) return rc;
    char sum[32];
    snprintf(sum, sizeof sum, "%016llx",
             (unsigned long long)ds_fnv1a64(f->data, f->data_bytes, DS_FNV1A64_INIT));
    if (strcmp(sum, ds_st_meta(f, meta_keys[MK_CHECKSUM])))
        return ds_error_set(err, DS_EXIT_ERROR, "%s: checksum mismatch (file corrupt): the data "
                            "hash to %s, the header says %s", path, sum,
                            ds_st_meta(f, meta_keys[MK_CHECKSUM]));
    return 0;
}

int ds_modelfile_check(const char *path, const ds_sweep *s, int scale, int64_t seed, ds_error *err) {
    ds_st_file f;
    int rc = read_verified(path, s, scale, seed, &f, err);
    ds_st_free(&f);
    return rc;
}

int ds_modelfile_load(const char *path, const ds_sweep *s, int scale, int64_t seed, float **params,
                      int64_t *steps, ds_error *err) {
    *params = NULL;
    ds_st_file f;
    int rc = read_verified(path, s, scale, seed, &f, err);
    if (!rc) {
        if (steps) *steps = strtoll(ds_st_meta(&f, meta_keys[MK_STEPS]), NULL, 10);
        *params = (float *)f.data; /* the data section is exactly the P floats, in layout order */
        f.data = NULL;
    }
    ds_st_free(&f);
    return rc;
}

int ds_modelfile_reset_unusable(const ds_sweep *s, const char *out, ds_store *store,
                                int *n_reset, char *first, size_t first_n, ds_error *err) {
    *n_reset = 0;
    if (first_n) first[0] = 0;
    if (!s->run.save_models) return 0;
    char dir[4200], path[4400];
    ds_modelfile_dir(out, dir, sizeof dir);
    int64_t S = ds_store_n_seeds(store);
    int n = 0, cap = 0, *scale = NULL, rc = 0;
    int64_t *idx = NULL;
    for (int sc = 0; sc < s->n_scales; sc++)
        for (int64_t i = 0; i < S; i++) {
            if (ds_store_status(store, sc, i) != DS_RUN_DONE ||
                !ds_sweep_saves_model(s, s->seeds.start + i))
                continue;
            ds_modelfile_path(dir, sc, s->seeds.start + i, path, sizeof path);
            ds_error e = {0};
            if (!ds_modelfile_check(path, s, sc, s->seeds.start + i, &e)) continue;
            if (!n && first_n) snprintf(first, first_n, "%s", e.msg);
            struct stat sb;
            if (stat(path, &sb) == 0) {
                /* there but damaged (torn, a flipped bit, another run's):
                 * kept aside, never deleted; the run trains again */
                char aside[sizeof path + 64];
                if ((rc = ds_output_set_damaged_aside(path, aside, sizeof aside, err))) goto done;
                fprintf(stderr, "distsweep: damaged stored model: %s; moved it to %s, the run "
                        "trains again\n", e.msg, aside);
            }
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                scale = DS_REALLOC(scale, sizeof *scale * (size_t)cap);
                idx = DS_REALLOC(idx, sizeof *idx * (size_t)cap);
            }
            scale[n] = sc, idx[n] = i, n++;
        }
    rc = ds_store_reset_runs(store, scale, idx, n, err);
    if (!rc) *n_reset = n;
done:
    free(scale);
    free(idx);
    return rc;
}
