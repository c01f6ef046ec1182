/* cmd_verify: `distsweep verify OUT.h5 [--repair] [--sweep SWEEP.yaml]
 * [--format table|json]` — a scrub of an output family (docs/result-file.md
 * "Damaged files", "distsweep verify").
 *
 * Reads and checks every artifact and reports each damage as one finding
 * (artifact, what is wrong, whether --repair can fix it):
 *   - the result file: it opens (ds_h5_open_read: bounded retries), every
 *     root attribute and every dataset of the schema (src/schema.h) reads
 *     back whole with consistent shapes, and every run's rows equal its last
 *     journal record;
 *   - the journal: a readable header of this file and sweep, no bytes after
 *     the last whole record, every finished run of the file journaled;
 *   - the stored models of the done runs the sweep saves (ds_modelfile_check,
 *     the data's checksum included), and model files that
 *     belong to no run;
 *   - every checkpoint (ds_ckpt_check) and manifest (ds_pack_read_manifest)
 *     in OUT.h5.ckpt/.
 * With --repair, under the writer's lock, it sets the damaged checkpoints,
 * manifests, models and orphan models aside (renamed NAME.damaged-<UTC time>
 * or NAME.orphan-<UTC time>, never deleted), moves a damaged result file
 * aside and rebuilds it from the journal through the path `distsweep run`
 * takes (ds_output_open_for_run + ds_store_open), journals the finished runs
 * the journal lacks from the file, and turns the done runs whose model is
 * damaged back into pending runs (ds_modelfile_reset_unusable); then says
 * what `distsweep run` will train again. No training.
 *
 * Exit: 0 everything whole (or, with --repair, everything found repaired);
 * 1 damage found (with --repair: damage left that could not be repaired),
 * a sweep is running (its lock is held), or a repair failed; 2 usage, or
 * OUT is no result file at all (neither a distsweep HDF5 file nor a journal
 * beside it), or --repair without a loadable sweep; 4 a storage failure
 * while repairing. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "common.h"
#include "h5check.h"
#include "h5util.h"
#include "journal.h"
#include "hfmodel.h" /* model.init: the stored models' shapes */
#include "modelfile.h"
#include "output.h"
#include "packplan.h"
#include "results.h"
#include "store.h"

#define VF_PATH DS_OUTPUT_PATH_MAX

/* One damage: the artifact (a path, or PATH:/dataset), what is wrong, and
 * whether --repair fixes it (and how) or not (and why). aside: a file that
 * --repair renames to PATH<aside>-<time> (".damaged", ".orphan"), or NULL. */
typedef struct {
    char artifact[VF_PATH + 64];
    char what[2048];
    int repairable;
    char repair[VF_PATH + 512];
    const char *aside;
    int done; /* --repair did it */
} vf_finding;

typedef struct {
    const char *out;
    ds_sweep *s;            /* the file's sweep, or --sweep's; NULL if neither loads */
    char sweep_from[VF_PATH];
    /* model.init whose config.json cannot be read here: the stored models'
     * shapes are unknown, so they are not judged (why, else "") */
    char arch_unknown[sizeof ((ds_error *)0)->msg];
    ds_results res;         /* loaded when res_ok */
    int res_ok;
    int file_exists, file_damaged; /* structural damage of the result file (rebuild) */
    int not_ours;           /* HDF5 or not, but no distsweep format attribute */
    char file_created[64];
    /* the journal */
    char jpath[VF_PATH];
    int j_exists, j_ident;  /* ds_journal_identity: 0 v2, 1 v1, -1 damaged or none */
    char j_created[DS_JOURNAL_CREATED_MAX];
    uint64_t j_hash;
    ds_record *recs;
    int64_t n_recs;
    int j_usable;           /* its records belong to this file */
    /* finished runs of the file the journal lacks (re-journaled by --repair) */
    int64_t n_unjournaled;
    int *unj_scale;
    int64_t *unj_idx;
    int64_t checked_models, checked_ckpts, checked_manifests, kept_aside;
    vf_finding *f;
    int n_f, cap_f;
} vf_ctx;

static vf_finding *add(vf_ctx *c, const char *artifact, int repairable, const char *repair,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static vf_finding *add(vf_ctx *c, const char *artifact, int repairable, const char *repair,
                       const char *fmt, ...) {
    if (c->n_f == c->cap_f) {
        c->cap_f = c->cap_f ? 2 * c->cap_f : 16;
        c->f = DS_REALLOC(c->f, sizeof *c->f * (size_t)c->cap_f);
    }
    vf_finding *x = &c->f[c->n_f++];
    memset(x, 0, sizeof *x);
    snprintf(x->artifact, sizeof x->artifact, "%s", artifact);
    x->repairable = repairable;
    snprintf(x->repair, sizeof x->repair, "%s", repair);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->what, sizeof x->what, fmt, ap);
    va_end(ap);
    return x;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: distsweep verify OUT.h5 [--repair] [--sweep SWEEP.yaml] [--format table|json]\n\n"
            "Checks every artifact of a sweep's output: the result file (every attribute\n"
            "and dataset reads back; every run equals its journal record), the journal,\n"
            "the stored models (checksums; files of no run) and the checkpoints and\n"
            "manifests in OUT.h5.ckpt/. One line per damage: the artifact, what is wrong,\n"
            "whether --repair fixes it. Run it after copying a sweep between clusters.\n\n"
            "  --repair        under the writer's lock: set damaged checkpoints, manifests and\n"
            "                  models aside (renamed NAME.damaged-<time>; orphan models\n"
            "                  NAME.orphan-<time>), rebuild a damaged result file from its\n"
            "                  journal (the old one kept as OUT.h5.damaged-<time>), journal the\n"
            "                  runs the journal lacks, mark runs with a damaged model pending;\n"
            "                  then says what `distsweep run SWEEP.yaml` trains again\n"
            "  --sweep FILE    the sweep, for --repair when the file's stored sweep is unreadable\n"
            "  --format F      table (default) or json\n\n"
            "Exit 0 whole (with --repair: everything found was repaired), 1 damage found or\n"
            "left, a sweep running (OUT.h5.lock held) or a failed repair, 2 usage or OUT is\n"
            "no result file at all, 4 a storage failure while repairing.\n");
}

/* ---- the result file ----------------------------------------------------------- */

/* Reads dataset path of f whole. Returns 1 read (dims[0..*rank-1] set), 0
 * absent, -1 present but unreadable (why set). */
static int read_dataset(hid_t f, const char *path, ds_elem e, hsize_t *dims, int *rank,
                        char *why, size_t why_n) {
    int rc = -1;
    hid_t d = -1, sp = -1, mt = -1;
    void *buf = NULL;
    htri_t ex = H5Lexists(f, path, H5P_DEFAULT);
    if (ex == 0) return 0;
    if (ex < 0) {
        snprintf(why, why_n, "its link cannot be read (damaged metadata)");
        return -1;
    }
    if ((d = H5Dopen2(f, path, H5P_DEFAULT)) < 0) {
        snprintf(why, why_n, "cannot be opened (damaged object header?)");
        goto done;
    }
    if ((sp = H5Dget_space(d)) < 0 || (*rank = H5Sget_simple_extent_ndims(sp)) < 1 || *rank > 3 ||
        H5Sget_simple_extent_dims(sp, dims, NULL) < 0) {
        snprintf(why, why_n, "its shape cannot be read");
        goto done;
    }
    size_t n = 1;
    for (int i = 0; i < *rank; i++) n *= (size_t)dims[i];
    size_t el = e == DS_EL_STR32 ? 32 : ds_elem_size(e);
    mt = e == DS_EL_STR32 ? ds_h5_string_type(32) : H5Tcopy(ds_h5_memtype(e));
    if (mt < 0) {
        snprintf(why, why_n, "HDF5 type error");
        goto done;
    }
    buf = malloc(n ? n * el : 1);
    if (!buf) {
        snprintf(why, why_n, "out of memory reading it");
        goto done;
    }
    if (n && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        snprintf(why, why_n, "its data cannot be read (damaged chunk index or metadata)");
        goto done;
    }
    rc = 1;
done:
    free(buf);
    if (mt >= 0) H5Tclose(mt);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    return rc;
}

/* A finding on the result file: repairable when a journal of its sweep can
 * rebuild it. */
static void file_damage(vf_ctx *c, const char *object, const char *fmt, const char *detail) {
    char art[VF_PATH + 64];
    snprintf(art, sizeof art, "%s%s%s", c->out, object[0] ? ":" : "", object);
    /* without a sweep (the stored one unreadable, no --sweep) a version-2
     * journal is taken at its word; --repair needs --sweep then */
    int can = c->s ? ds_output_journal_of_sweep(c->out, c->s) : c->j_ident == 0;
    add(c, art, can,
        !can  ? "no journal of its sweep beside it to rebuild from"
        : c->s ? "rebuilt from the journal (the file kept as OUT.h5.damaged-<time>)"
               : "rebuilt from the journal with --sweep SWEEP.yaml (the stored sweep is unreadable)",
        fmt, detail);
    c->file_damaged = 1;
}

static herr_t family_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)info;
    vf_ctx *c = data;
    char path[512], why[256];
    snprintf(path, sizeof path, "%s/%s", DS_FAMILIES_GROUP, name);
    hsize_t dims[3];
    int rank = 0;
    if (read_dataset(g, name, DS_FAMILY_ELEM, dims, &rank, why, sizeof why) < 0)
        file_damage(c, path, "%s", why);
    return 0;
}

/* A file of evaluation sets: /eval_sets reads, and each set's item datasets
 * (optional: files made before them lack them) read whole as [n_scales,
 * S_status, n_items] with n_items the group's attribute. */
static void check_items_structure(vf_ctx *c, hid_t f, int64_t n_scales, int64_t S_status) {
    char why[256], path[256];
    hsize_t dims[3];
    int rank = 0;
    if (read_dataset(f, ds_eval_sets_dataset.path, ds_eval_sets_dataset.elem, dims, &rank, why, sizeof why) < 0) {
        file_damage(c, ds_eval_sets_dataset.path, "%s", why);
        return;
    }
    if (!c->res_ok || !c->res.set_names) return; /* the names: the loader's (damage said there) */
    htri_t grp = H5Lexists(f, DS_ITEMS_GROUP, H5P_DEFAULT);
    if (grp < 0) file_damage(c, DS_ITEMS_GROUP, "%s", "its link cannot be read (damaged metadata)");
    for (int j = 0; grp > 0 && j < c->res.n_lengths; j++) {
        snprintf(path, sizeof path, "%s/%s", DS_ITEMS_GROUP, c->res.set_names[j]);
        htri_t has = H5Lexists(f, path, H5P_DEFAULT);
        if (has < 0) file_damage(c, path, "%s", "its link cannot be read (damaged metadata)");
        if (has <= 0) continue;
        int n_items = -1;
        hid_t g = H5Gopen2(f, path, H5P_DEFAULT);
        if (g < 0 || ds_h5_attr_int(g, DS_ITEMS_N_ATTR, &n_items) != 1 || n_items < 1)
            file_damage(c, path, "%s", "its attribute n_items cannot be read (damaged)");
        if (g >= 0) H5Gclose(g);
        for (int i = 0; i < DS_N_ITEM_DS; i++) {
            const ds_item_dataset *it = ds_item_dataset_at(i);
            snprintf(path, sizeof path, "%s/%s/%s", DS_ITEMS_GROUP, c->res.set_names[j], it->name);
            int got = read_dataset(f, path, it->elem, dims, &rank, why, sizeof why);
            if (got < 0) file_damage(c, path, "%s", why);
            else if (got == 0) file_damage(c, path, "%s", "missing");
            else if (rank != 3 || (n_scales >= 0 && (int64_t)dims[0] != n_scales) ||
                     (S_status >= 0 && (int64_t)dims[1] != S_status) ||
                     (n_items > 0 && (int64_t)dims[2] != n_items))
                file_damage(c, path, "%s", "its shape does not fit the file's scales, seeds or n_items");
        }
    }
}

/* The structure of the result file: attributes and datasets of the schema. */
static void check_file_structure(vf_ctx *c, hid_t f) {
    char why[256];
    for (int a = 0; a < DS_N_ROOT_ATTRS; a++) {
        const ds_root_attr *ra = ds_root_attr_at(a);
        htri_t ex = H5Aexists(f, ra->name);
        char obj[128];
        snprintf(obj, sizeof obj, "/@%s", ra->name);
        if (ex < 0) {
            file_damage(c, obj, "%s", "the attribute cannot be read (damaged metadata)");
            continue;
        }
        if (ex == 0) {
            if (a != DS_A_PRECISION) file_damage(c, obj, "%s", "missing");
            continue;
        }
        if (ra->elem == DS_EL_VLSTR) {
            char *v = ds_h5_attr_string(f, ra->name);
            if (!v) file_damage(c, obj, "%s", "the attribute's value cannot be read");
            else if (a == DS_A_CREATED && !ds_journal_created_valid(v))
                file_damage(c, obj, "'%s' is not a creation time (damaged)", v);
            else if (a == DS_A_SWEEP_HASH && c->s && strcmp(c->sweep_from, "the file") == 0) {
                char h[32];
                snprintf(h, sizeof h, "%016" PRIx64, c->s->yaml_hash);
                if (strcmp(v, h)) file_damage(c, obj, "%s is not the hash of the stored sweep (damaged)", v);
            }
            free(v);
        } else {
            int v;
            if (ds_h5_attr_int(f, ra->name, &v) != 1) file_damage(c, obj, "%s", "cannot be read");
            else if (v != DS_FORMAT_VERSION) file_damage(c, obj, "format version %s, this build reads 1",
                                                         v > 0 ? "other than 1" : "damaged");
        }
    }
    hsize_t dims[3];
    int rank = 0;
    int64_t n_scales = -1, S = -1, E = -1;
    for (int k = 0; k < DS_N_SCALE_COLS; k++) {
        const ds_fixed_dataset *fd = ds_scale_column(k);
        int got = read_dataset(f, fd->path, fd->elem, dims, &rank, why, sizeof why);
        if (got < 0) file_damage(c, fd->path, "%s", why);
        else if (got == 0 && fd->required) file_damage(c, fd->path, "%s", "missing");
        else if (got == 1 && n_scales < 0) n_scales = (int64_t)dims[0];
        else if (got == 1 && (int64_t)dims[0] != n_scales) file_damage(c, fd->path, "%s", "its length differs from the other /scales columns");
    }
    const ds_fixed_dataset *fixed[2] = {&ds_seeds_dataset, &ds_eval_lengths_dataset};
    for (int k = 0; k < 2; k++) {
        int got = read_dataset(f, fixed[k]->path, fixed[k]->elem, dims, &rank, why, sizeof why);
        if (got < 0) file_damage(c, fixed[k]->path, "%s", why);
        else if (got == 0 && fixed[k]->required) file_damage(c, fixed[k]->path, "%s", "missing");
        else if (got == 1) *(k ? &E : &S) = (int64_t)dims[0];
    }
    htri_t fam = H5Lexists(f, DS_FAMILIES_GROUP, H5P_DEFAULT);
    if (fam < 0) file_damage(c, DS_FAMILIES_GROUP, "%s", "its link cannot be read (damaged metadata)");
    else if (fam > 0) {
        hid_t g = H5Gopen2(f, DS_FAMILIES_GROUP, H5P_DEFAULT);
        if (g < 0) file_damage(c, DS_FAMILIES_GROUP, "%s", "cannot be opened (damaged)");
        else {
            if (H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, family_cb, c) < 0)
                file_damage(c, DS_FAMILIES_GROUP, "%s", "its members cannot be listed (damaged)");
            H5Gclose(g);
        }
    }
    /* -1: not known (train.epochs: the steps are the data's, and verify reads no data) */
    int64_t n_log = c->s && c->s->train.log_every > 0 && c->s->train.steps > 0
                        ? c->s->train.steps / c->s->train.log_every : -1;
    int64_t S_status = -1;
    /* the evaluation kind: a file of sets names its metric datasets its own way */
    htri_t sets = H5Lexists(f, ds_eval_sets_dataset.path, H5P_DEFAULT);
    if (sets < 0) file_damage(c, ds_eval_sets_dataset.path, "%s", "its link cannot be read (damaged metadata)");
    ds_eval_kind kind = sets > 0 ? DS_EVAL_SETS : DS_EVAL_LENGTHS;
    for (int i = DS_N_SEED_DS - 1; i >= 0; i--) { /* /runs/status first */
        const ds_seed_dataset *sd = ds_seed_dataset_at(i);
        const char *path = ds_seed_dataset_path(i, kind);
        if (!path) continue; /* a slot the kind does not measure */
        int got = read_dataset(f, path, sd->elem, dims, &rank, why, sizeof why);
        if (got < 0) {
            file_damage(c, path, "%s", why);
            continue;
        }
        if (got == 0) {
            if (sd->required) file_damage(c, path, "%s", "missing");
            continue;
        }
        if (i == DS_D_STATUS) S_status = (int64_t)dims[1];
        int bad = rank != sd->rank || (n_scales >= 0 && (int64_t)dims[0] != n_scales) ||
                  (S_status >= 0 && (int64_t)dims[1] != S_status) ||
                  (sd->inner == DS_INNER_LENGTHS && E >= 0 && (int64_t)dims[2] != E) ||
                  (sd->inner == DS_INNER_LOG && n_log >= 0 && (int64_t)dims[2] != n_log) ||
                  (sd->inner == DS_INNER_EVAL && c->s &&
                   (int64_t)dims[2] != ds_train_eval_points(&c->s->train));
        if (bad) file_damage(c, path, "%s", "its shape does not fit the file's scales, seeds or lengths");
    }
    if (sets > 0) check_items_structure(c, f, n_scales, S_status);
    if (S >= 0 && S_status >= 0 && S != S_status)
        file_damage(c, ds_seeds_dataset.path, "%s", "its length differs from /runs/status's seed axis");
}

/* Opens and checks the result file; sets c->res from ds_results_open when
 * it loads. Returns 2 when OUT is no result file at all (and no journal is
 * beside it), else 0. */
static int check_file(vf_ctx *c) {
    struct stat st;
    c->file_exists = stat(c->out, &st) == 0;
    if (!c->file_exists) {
        if (c->j_ident < 0) return 2;
        file_damage(c, "", "%s", "missing (its journal is there)");
        return 0;
    }
    if (!S_ISREG(st.st_mode)) return 2;
    if (H5Fis_hdf5(c->out) <= 0) {
        if (c->j_ident < 0) return 2;
        file_damage(c, "", "%s", "not readable as HDF5 (a torn or damaged superblock)");
        return 0;
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    int how = 0;
    hid_t f = fapl < 0 ? -1 : ds_h5_open_read(c->out, fapl, &how);
    if (f < 0) {
        if (fapl >= 0) H5Pclose(fapl);
        if (c->j_ident < 0) return 2;
        file_damage(c, "", "%s", "HDF5 cannot open it (cut short, or damaged metadata)");
        return 0;
    }
    char *fmt = ds_h5_attr_string(f, ds_attr_name(DS_A_FORMAT));
    int ours = fmt && !strcmp(fmt, DS_FORMAT_NAME);
    free(fmt);
    if (!ours && c->j_ident < 0) {
        H5Fclose(f);
        H5Pclose(fapl);
        c->not_ours = 1;
        return 2;
    }
    ds_error e = {0};
    c->res_ok = ds_results_open(&c->res, c->out, &e) == 0;
    if (c->res_ok && ds_results_read_items(&c->res, &e)) { /* the per-item rows, compared too */
        ds_results_close(&c->res);
        c->res_ok = 0;
    }
    if (c->res_ok) snprintf(c->file_created, sizeof c->file_created, "%s", c->res.created);
    /* the sweep: the file's when it loads, else --sweep's (set by the caller) */
    if (c->res_ok && !c->s) {
        ds_error se = {0};
        if (c->res.sweep_yaml && c->res.sweep_yaml[0] &&
            ds_sweep_load_text(c->out, c->res.sweep_yaml, &c->s, &se) == 0)
            snprintf(c->sweep_from, sizeof c->sweep_from, "the file");
        else
            file_damage(c, "/@sweep_yaml", "the stored sweep does not load: %s", se.msg);
    }
    check_file_structure(c, f);
    if (!c->res_ok && !c->file_damaged) file_damage(c, "", "%s", e.msg);
    H5Fclose(f);
    H5Pclose(fapl);
    return 0;
}

/* The sweep the stored models are judged by: c->s once its model.init (if
 * any) is attached, else NULL (no sweep, or a base not readable here). */
static const ds_sweep *model_sweep(const vf_ctx *c) {
    return c->s && !c->arch_unknown[0] ? c->s : NULL;
}

/* model.init: a stored model's shapes are its base's config.json's
 * (ds_hf_attach, config only: the weights are the stored model's). Where
 * the base cannot be read here the models are left unjudged, never taken
 * for damaged: a finding says so. */
static void attach_base(vf_ctx *c) {
    if (!c->s || !c->s->model.init.enabled) return;
    ds_error e = {0};
    c->s->model.init.quiet = 1;
    c->s->model.init.config_only = 1;
    if (ds_hf_attach(c->s, &e)) snprintf(c->arch_unknown, sizeof c->arch_unknown, "%s", e.msg);
}

/* ---- the journal --------------------------------------------------------------- */

static int same_f(float a, float b) {
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

/* Which of the run's rows in the file differ from record rec, or NULL. */
static const char *row_diff(const ds_results *r, int sc, int64_t i, const ds_record *rec) {
    size_t k = ds_res_run(r, sc, i);
    if (r->status[k] != rec->r.status) return "/runs/status";
    if (r->attempts[k] != rec->attempts) return "/runs/attempts";
    if (r->rank[k] != rec->rank) return "/runs/rank";
    if (r->steps_done[k] != rec->r.steps_done) return "/runs/steps_done";
    if (!same_f(r->wall_s[k], (float)rec->r.wall_s)) return "/runs/wall_s";
    if (!same_f(r->final_loss[k], rec->r.final_loss)) return "/runs/final_loss";
    if (!same_f(r->id_em[k], rec->r.id_em)) return "/runs/id_em";
    for (int m = 0; m < DS_N_METRICS; m++)
        for (int l = 0; l < r->n_lengths; l++) {
            float want = l < rec->n_len ? rec->r.metrics[l][m] : NAN;
            if (!same_f(ds_res_metric(r, m, sc, i, l), want)) return "/metrics";
        }
    for (int64_t p = 0; r->train_loss && p < r->n_log; p++) {
        float want = p < rec->r.n_curve ? rec->r.curve[p] : NAN;
        if (!same_f(r->train_loss[k * (size_t)r->n_log + (size_t)p], want)) return "/curves/train_loss";
    }
    for (int m = 0; m < DS_N_METRICS; m++)
        for (int64_t p = 0; r->traj[m] && p < r->n_eval; p++) {
            float want = p < rec->r.n_traj ? rec->r.traj[(size_t)p * DS_N_METRICS + m] : NAN;
            if (!same_f(r->traj[m][k * (size_t)r->n_eval + (size_t)p], want)) return "/trajectories";
        }
    /* per-item results (src/store.c record_item_row): the record's when it has
     * them at the file's size, else the fill (-1, NaN) */
    for (int j = 0; r->chosen && j < r->n_lengths; j++) {
        const int8_t *ch = ds_res_chosen(r, j, sc, i);
        const float *ll = ds_res_ll_correct(r, j, sc, i);
        if (!ch || !ll) continue;
        int has = rec->r.n_item_sets == r->n_lengths && rec->r.n_items[j] == r->n_items[j] &&
                  rec->r.chosen && rec->r.ll_correct;
        size_t at = has ? ds_run_items_at(&rec->r, j) : 0;
        for (int32_t t = 0; t < r->n_items[j]; t++) {
            if (ch[t] != (has ? rec->r.chosen[at + t] : -1)) return "/items/<set>/chosen";
            if (!same_f(ll[t], has ? rec->r.ll_correct[at + t] : (float)NAN)) return "/items/<set>/ll_correct";
        }
    }
    return NULL;
}

/* Bytes a v2 (or v1) journal with the records read should have. */
static int64_t journal_bytes(const vf_ctx *c) {
    int64_t b = 8 + DS_JOURNAL_CREATED_MAX + (c->j_ident == 0 ? 8 : 0);
    for (int64_t k = 0; k < c->n_recs; k++) b += 8 + (int64_t)ds_record_size(&c->recs[k]) + 8;
    return b;
}

static void check_journal(vf_ctx *c) {
    struct stat st;
    if (!c->j_exists) {
        if (c->res_ok) {
            add(c, c->jpath, 1, "a new journal of the file's finished runs", "missing");
            c->j_usable = 0;
        }
        return;
    }
    if (c->j_ident < 0) {
        add(c, c->jpath, c->res_ok, c->res_ok ? "moved aside as stale; a new one journals the file's runs"
                                              : "the result file is not readable either",
            "the header is damaged (no valid magic or creation time)");
        return;
    }
    ds_error e = {0};
    char created[DS_JOURNAL_CREATED_MAX];
    if (ds_journal_read(c->jpath, created, &c->recs, &c->n_recs, &e)) {
        add(c, c->jpath, 0, "", "%s", e.msg);
        return;
    }
    if (c->s && c->j_ident == 0 && c->j_hash != c->s->yaml_hash)
        add(c, c->jpath, c->res_ok, "moved aside as stale; a new one journals the file's runs",
            "a journal of another sweep (sweep hash %016" PRIx64 ", the sweep's %016" PRIx64 ")",
            c->j_hash, c->s->yaml_hash);
    else if (c->res_ok && strcmp(c->j_created, c->file_created))
        add(c, c->jpath, 1, "moved aside as stale; a new one journals the file's runs",
            "a journal of another result file (created %s, the file %s)", c->j_created,
            c->file_created);
    else
        c->j_usable = 1;
    if (stat(c->jpath, &st) == 0 && (int64_t)st.st_size != journal_bytes(c))
        add(c, c->jpath, 1, "cut off by the next open (the runs it held are taken from the file)",
            "%lld byte(s) after the last whole record (a torn or damaged tail)",
            (long long)((int64_t)st.st_size - journal_bytes(c)));
}

/* The file's rows against the journal's last record of each run. */
static void check_runs(vf_ctx *c) {
    if (!c->res_ok) return;
    ds_results *r = &c->res;
    int64_t cells = (int64_t)r->n_scales * r->n_seeds;
    int64_t *last = DS_MALLOC(sizeof *last * (size_t)(cells ? cells : 1));
    for (int64_t k = 0; k < cells; k++) last[k] = -1;
    int64_t n_missing = 0, n_diff = 0;
    char first_missing[256] = "", first_diff[512] = "";
    for (int64_t k = 0; c->j_usable && k < c->n_recs; k++) {
        const ds_record *rec = &c->recs[k];
        int64_t i = r->n_seeds ? rec->r.seed - r->seeds[0] : -1;
        if (rec->scale < 0 || rec->scale >= r->n_scales || i < 0 || i >= r->n_seeds ||
            r->seeds[i] != rec->r.seed) {
            if (!n_missing++)
                snprintf(first_missing, sizeof first_missing, "scale %d seed %lld", rec->scale,
                         (long long)rec->r.seed);
            continue;
        }
        last[ds_res_run(r, rec->scale, i)] = k;
    }
    for (int sc = 0; sc < r->n_scales; sc++)
        for (int64_t i = 0; i < r->n_seeds; i++) {
            size_t k = ds_res_run(r, sc, i);
            int finished = r->status[k] == DS_RUN_DONE || r->status[k] == DS_RUN_DIVERGED ||
                           r->status[k] == DS_RUN_FAILED;
            if (last[k] < 0) {
                if (!finished) continue;
                c->unj_scale = DS_REALLOC(c->unj_scale, sizeof(int) * (size_t)(c->n_unjournaled + 1));
                c->unj_idx = DS_REALLOC(c->unj_idx, sizeof(int64_t) * (size_t)(c->n_unjournaled + 1));
                c->unj_scale[c->n_unjournaled] = sc, c->unj_idx[c->n_unjournaled++] = i;
                continue;
            }
            const char *d = row_diff(r, sc, i, &c->recs[last[k]]);
            if (!d) continue;
            if (r->status[k] == DS_RUN_PENDING || r->status[k] == DS_RUN_UNREQUESTED) {
                /* a done run sent back to train again for its model (a resume
                 * or --repair found it unusable): pending by design */
                const ds_record *rec = &c->recs[last[k]];
                char dir[4200], mp[4400];
                ds_error me = {0};
                ds_modelfile_dir(c->out, dir, sizeof dir);
                ds_modelfile_path(dir, sc, rec->r.seed, mp, sizeof mp);
                if (r->status[k] == DS_RUN_PENDING && rec->r.status == DS_RUN_DONE && model_sweep(c) &&
                    ds_sweep_saves_model(c->s, rec->r.seed) &&
                    ds_modelfile_check(mp, c->s, sc, rec->r.seed, &me))
                    continue;
                if (!n_missing++)
                    snprintf(first_missing, sizeof first_missing, "scale %d seed %lld", sc,
                             (long long)r->seeds[i]);
            } else if (!n_diff++) {
                snprintf(first_diff, sizeof first_diff, "scale %d seed %lld: %s", sc,
                         (long long)r->seeds[i], d);
            }
        }
    free(last);
    if (n_missing)
        add(c, c->out, 1, "written in from the journal",
            "%lld run(s) of the journal are not in the file (first: %s)", (long long)n_missing,
            first_missing);
    if (n_diff)
        add(c, c->out, 1, "rewritten from the journal",
            "%lld run(s) differ from their journal record (first: %s)", (long long)n_diff, first_diff);
    if (c->n_unjournaled && c->j_exists && c->j_ident >= 0)
        add(c, c->jpath, 1, "journaled again from the file",
            "%lld finished run(s) of the file are not in the journal (first: scale %d seed %lld)",
            (long long)c->n_unjournaled, c->unj_scale[0],
            (long long)(r->seeds[0] + c->unj_idx[0]));
}

/* ---- models and checkpoints ---------------------------------------------------- */

static int set_aside_name(const char *name) {
    return strstr(name, ".damaged-") || strstr(name, ".orphan-");
}

static void check_models(vf_ctx *c) {
    if (!c->s || !c->s->run.save_models) return;
    char dir[4200], path[4400];
    ds_modelfile_dir(c->out, dir, sizeof dir);
    if (!model_sweep(c)) {
        add(c, dir, 0, "run verify where model.init.from's config.json is (beside the result file)",
            "stored models not checked: their shapes are model.init.from's, which cannot be read "
            "here (%s)", c->arch_unknown);
        return;
    }
    int n_scales = c->res_ok ? c->res.n_scales : c->s->n_scales;
    int64_t S = c->res_ok ? c->res.n_seeds : c->s->seeds.count, start = c->s->seeds.start;
    uint8_t *done = calloc((size_t)n_scales * (size_t)(S ? S : 1), 1);
    if (!done) ds_die(DS_EXIT_ERROR, "out of memory");
    if (c->res_ok) {
        for (size_t k = 0; k < (size_t)n_scales * (size_t)S; k++) done[k] = c->res.status[k] == DS_RUN_DONE;
    } else if (c->j_usable) { /* the runs a rebuild restores */
        for (int64_t k = 0; k < c->n_recs; k++) {
            int64_t i = c->recs[k].r.seed - start;
            if (c->recs[k].scale >= 0 && c->recs[k].scale < n_scales && i >= 0 && i < S)
                done[(size_t)c->recs[k].scale * (size_t)S + (size_t)i] = c->recs[k].r.status == DS_RUN_DONE;
        }
    }
    for (int sc = 0; sc < n_scales; sc++)
        for (int64_t i = 0; i < S; i++) {
            if (!done[(size_t)sc * (size_t)S + (size_t)i] || !ds_sweep_saves_model(c->s, start + i))
                continue;
            ds_modelfile_path(dir, sc, start + i, path, sizeof path);
            ds_error e = {0};
            c->checked_models++;
            if (!ds_modelfile_check(path, c->s, sc, start + i, &e)) continue; /* checksum too */
            vf_finding *x = add(c, path, 1, "set aside; the run goes back to pending and is trained again",
                                "%s", e.msg);
            if (access(path, F_OK) == 0) x->aside = ".damaged";
        }
    free(done);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        const char *nm = de->d_name;
        size_t L = strlen(nm);
        if (nm[0] == '.' || (L > 4 && !strcmp(nm + L - 4, ".tmp"))) continue;
        if (set_aside_name(nm)) {
            c->kept_aside++;
            continue;
        }
        int sc = -1;
        long long seed = -1;
        char back[256] = "";
        if (sscanf(nm, "scale%d-seed%lld.safetensors", &sc, &seed) == 2)
            snprintf(back, sizeof back, "scale%d-seed%lld.safetensors", sc, seed);
        int64_t i = seed - start;
        if (!strcmp(back, nm) && sc >= 0 && sc < n_scales && i >= 0 && i < S) continue;
        snprintf(path, sizeof path, "%s/%s", dir, nm);
        add(c, path, 1, "set aside (renamed NAME.orphan-<time>)",
            "belongs to no run of the file (scale or seed outside it, or not a model's name)")
            ->aside = ".orphan";
    }
    if (d) closedir(d);
}

static void check_ckpts(vf_ctx *c) {
    char dir[VF_PATH], path[VF_PATH + 300];
    ds_output_path(c->out, DS_OUTPUT_CKPT_DIR, dir, sizeof dir);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        const char *nm = de->d_name;
        size_t L = strlen(nm);
        if (set_aside_name(nm)) {
            c->kept_aside++;
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, nm);
        ds_error e = {0};
        if (L > 5 && !strcmp(nm + L - 5, ".ckpt")) {
            c->checked_ckpts++;
            if (ds_ckpt_check(path, &e))
                add(c, path, 1, "set aside; its pack trains from its start", "%s", e.msg)->aside =
                    ".damaged";
        } else if (L > 5 && !strcmp(nm + L - 5, ".pack") && c->s) {
            int sc, R;
            int64_t *seeds = NULL;
            c->checked_manifests++;
            if (ds_pack_read_manifest(path, c->s, &sc, &R, &seeds))
                add(c, path, 1, "set aside; its runs are packed afresh",
                    "the manifest cannot be read, is garbled, or names runs outside the sweep")
                    ->aside = ".damaged";
            free(seeds);
        }
    }
    if (d) closedir(d);
}

/* ---- repair -------------------------------------------------------------------- */

/* Sets path aside under the family's name for `suffix` (".damaged" or
 * ".orphan": src/output.h ds_output_set_aside). */
static int rename_aside(const char *path, const char *suffix, char *to, size_t n, ds_error *err) {
    ds_output_aside kind = !strcmp(suffix, ".orphan") ? DS_OUTPUT_ASIDE_ORPHAN : DS_OUTPUT_ASIDE_DAMAGED;
    return ds_output_set_aside(path, kind, to, n, err);
}

/* A record of run (sc, i) from the rows of the loaded file. */
static void record_from_file(const ds_results *r, int sc, int64_t i, ds_record *rec) {
    size_t k = ds_res_run(r, sc, i);
    memset(rec, 0, sizeof *rec);
    rec->scale = sc;
    rec->attempts = r->attempts[k];
    rec->rank = r->rank[k];
    rec->n_len = r->n_lengths;
    rec->r.seed = r->seeds[i];
    rec->r.status = r->status[k];
    rec->r.steps_done = r->steps_done[k];
    rec->r.wall_s = r->wall_s[k];
    rec->r.final_loss = r->final_loss[k];
    rec->r.id_em = r->id_em[k];
    for (int l = 0; l < r->n_lengths && l < DS_MAX_EVAL_LENGTHS; l++)
        for (int m = 0; m < DS_N_METRICS; m++) rec->r.metrics[l][m] = ds_res_metric(r, m, sc, i, l);
    if (r->train_loss && r->n_log > 0) {
        rec->r.n_curve = (int)r->n_log;
        rec->r.curve = DS_MALLOC(sizeof(float) * (size_t)r->n_log);
        memcpy(rec->r.curve, r->train_loss + k * (size_t)r->n_log, sizeof(float) * (size_t)r->n_log);
    }
    int items = r->chosen && r->n_lengths > 0 &&
                (r->status[k] == DS_RUN_DONE) && r->chosen[0];
    for (int j = 0; items && j < r->n_lengths; j++) items = r->chosen[j] && r->ll_correct[j];
    if (items) { /* a done run's items as the file holds them */
        for (int j = 0; j < r->n_lengths; j++) rec->r.n_items[j] = r->n_items[j];
        rec->r.n_item_sets = r->n_lengths;
        size_t total = ds_run_items_at(&rec->r, r->n_lengths);
        rec->r.chosen = DS_MALLOC(total);
        rec->r.ll_correct = DS_MALLOC(sizeof(float) * total);
        for (int j = 0; j < r->n_lengths; j++) {
            size_t at = ds_run_items_at(&rec->r, j), ni = (size_t)r->n_items[j];
            memcpy(rec->r.chosen + at, ds_res_chosen(r, j, sc, i), ni);
            memcpy(rec->r.ll_correct + at, ds_res_ll_correct(r, j, sc, i), sizeof(float) * ni);
        }
    }
    if (r->n_eval > 0 && r->traj[0]) {
        rec->r.n_traj = (int)r->n_eval;
        rec->r.traj = DS_MALLOC(sizeof(float) * (size_t)r->n_eval * DS_N_METRICS);
        for (int64_t p = 0; p < r->n_eval; p++)
            for (int m = 0; m < DS_N_METRICS; m++)
                rec->r.traj[(size_t)p * DS_N_METRICS + m] =
                    r->traj[m] ? r->traj[m][k * (size_t)r->n_eval + (size_t)p] : NAN;
    }
}

/* The sweep's evaluation sets' sizes (the third axis of /items/<set>/..., which
 * a rebuilt file needs: verify does not read the set files) from the file
 * when it loaded, else from a journal record that carries items. Sets left
 * unknown make ds_store_open refuse to create a file, naming the set. */
static void sets_items_known(vf_ctx *c) {
    if (!c->s || ds_task_eval_kind(&c->s->task) != DS_EVAL_SETS) return;
    ds_task_spec *t = &c->s->task;
    for (int j = 0; j < t->n_mc; j++) {
        if (t->mc[j].n_items > 0) continue;
        if (c->res_ok && c->res.n_items && j < c->res.n_lengths && c->res.n_items[j] > 0 &&
            !strcmp(c->res.set_names[j], t->mc[j].name))
            t->mc[j].n_items = c->res.n_items[j];
        for (int64_t k = 0; k < c->n_recs && t->mc[j].n_items <= 0; k++)
            if (c->j_usable && c->recs[k].r.n_item_sets == t->n_mc) t->mc[j].n_items = c->recs[k].r.n_items[j];
    }
}

/* train.epochs: the steps are the data's, which verify does not read; a
 * finished run's steps_done (journal or file) is them. 0 when none is known. */
static int64_t epochs_steps_known(const vf_ctx *c) {
    for (int64_t k = 0; c->j_usable && k < c->n_recs; k++)
        if (c->recs[k].r.status == DS_RUN_DONE) return c->recs[k].r.steps_done;
    if (c->res_ok)
        for (int sc = 0; sc < c->res.n_scales; sc++)
            for (int64_t i = 0; i < c->res.n_seeds; i++) {
                size_t k = ds_res_run(&c->res, sc, i);
                if (c->res.status[k] == DS_RUN_DONE) return c->res.steps_done[k];
            }
    return 0;
}

/* --repair. Returns the exit code; *retrain the runs a `distsweep run` will
 * train (pending after the repair). */
static int repair(vf_ctx *c, int64_t *retrain, int64_t *n_pending_packs, ds_error *err) {
    int rc = 0, lock = -1, locked = 0;
    ds_store *store = NULL;
    ds_output_open_result res = {.lock_fd = -1};
    char to[VF_PATH + 400];
    /* the writer cannot open a file a reader holds: keep the rows, close the file */
    if (c->res_ok && c->res.file >= 0) {
        H5Fclose(c->res.file);
        c->res.file = -1;
    }
    if ((rc = ds_output_lock(c->out, &lock, &locked, err))) {
        if (locked)
            ds_error_set(err, DS_EXIT_ERROR, "%s: a sweep is running (%s.lock is held): stop it "
                         "before --repair", c->out, c->out);
        goto done;
    }
    for (int k = 0; k < c->n_f; k++) {
        vf_finding *x = &c->f[k];
        if (!x->aside || access(x->artifact, F_OK) != 0) continue;
        if ((rc = rename_aside(x->artifact, x->aside, to, sizeof to, err))) goto done;
        x->done = 1;
        snprintf(x->repair, sizeof x->repair, "set aside as %s", to);
        if (strstr(x->what, "checkpoint")) (*n_pending_packs)++;
    }
    int rebuild = c->file_damaged && ds_output_journal_of_sweep(c->out, c->s);
    if (c->file_damaged && !rebuild) goto done; /* nothing of the file can be repaired */
    if (rebuild && c->file_exists) {
        if ((rc = ds_output_set_damaged_aside(c->out, to, sizeof to, err))) goto done;
        fprintf(stderr, "distsweep: moved the damaged %s to %s\n", c->out, to);
    }
    sets_items_known(c);
    if (c->s->train.epochs > 0 && c->s->train.steps == 0) {
        /* a rebuilt file's curves are steps / log_every long */
        if (!(c->s->train.steps = epochs_steps_known(c))) {
            rc = ds_error_set(err, DS_EXIT_USAGE, "%s: the sweep trains train.epochs of a source and no "
                              "finished run says how many steps that is: `distsweep run` (with the data) "
                              "repairs it", c->out);
            goto done;
        }
    }
    /* the open of `distsweep run` (it takes the lock itself) */
    ds_output_unlock(lock);
    lock = -1;
    ds_output_opts oo = {0};
    if ((rc = ds_output_open_for_run(c->s, c->out, &oo, &res, err))) goto done;
    ds_store_info info;
    if ((rc = ds_store_open(c->s, c->out, 0, &store, &info, err))) goto done;
    if (info.rebuilt) fprintf(stderr, "distsweep: made %s again from its journal\n", c->out);
    if (info.replayed)
        fprintf(stderr, "distsweep: restored %lld run(s) from the journal\n", (long long)info.replayed);
    if (info.stale_journal)
        fprintf(stderr, "distsweep: moved a journal of another result file aside (%s.stale-*)\n", c->jpath);
    /* the finished runs the journal lacks, journaled from the file's rows */
    if (!rebuild && c->res_ok && c->n_unjournaled) {
        ds_record *recs = DS_MALLOC(sizeof *recs * (size_t)c->n_unjournaled);
        int n = 0;
        for (int64_t k = 0; k < c->n_unjournaled; k++)
            if (ds_store_status(store, c->unj_scale[k], c->unj_idx[k]) != DS_RUN_PENDING)
                record_from_file(&c->res, c->unj_scale[k], c->unj_idx[k], &recs[n++]);
        rc = n ? ds_store_put(store, recs, n, err) : 0;
        for (int k = 0; k < n; k++) ds_record_free(&recs[k]);
        free(recs);
        if (rc) goto done;
        if (n) fprintf(stderr, "distsweep: journaled %d run(s) from %s\n", n, c->out);
    }
    int n_models = 0;
    char first[sizeof err->msg];
    /* the models are judged only where their shapes are known (attach_base) */
    if (model_sweep(c) &&
        (rc = ds_modelfile_reset_unusable(c->s, c->out, store, &n_models, first, sizeof first, err)))
        goto done;
    if (n_models)
        fprintf(stderr, "distsweep: %d done run(s) have no usable stored model (first: %s): "
                "marked pending\n", n_models, first);
    *retrain = ds_store_count(store, -1, DS_RUN_PENDING);
    for (int k = 0; k < c->n_f; k++) c->f[k].done |= c->f[k].repairable;
done:
    if (store) {
        ds_error ce = {0};
        int crc = ds_store_close(store, &ce);
        if (crc && !rc) rc = crc, *err = ce;
    }
    ds_output_unlock(res.lock_fd);
    ds_output_unlock(lock);
    return rc;
}

/* ---- output -------------------------------------------------------------------- */

int ds_cmd_verify(int argc, char **argv) {
    if (ds_cli_wants_help(argc, argv)) {
        usage(stdout);
        return DS_EXIT_OK;
    }
    const char *out = NULL, *sweep_path = NULL, *format = "table";
    int do_repair = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--repair")) do_repair = 1;
        else if (!strcmp(argv[i], "--sweep") && i + 1 < argc) sweep_path = argv[++i];
        else if (!strcmp(argv[i], "--format") && i + 1 < argc) format = argv[++i];
        else if (argv[i][0] != '-' && !out) out = argv[i];
        else {
            fprintf(stderr, "distsweep verify: unknown or incomplete argument '%s'\n", argv[i]);
            usage(stderr);
            return DS_EXIT_USAGE;
        }
    }
    int json = !strcmp(format, "json");
    if (!out || (!json && strcmp(format, "table"))) {
        if (out) fprintf(stderr, "distsweep verify: --format needs table or json, got '%s'\n", format);
        usage(stderr);
        return DS_EXIT_USAGE;
    }
    ds_h5_library_init(); /* no close at exit: it loops after a damaged read */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    vf_ctx c;
    memset(&c, 0, sizeof c);
    c.out = out;
    c.res.file = -1;
    int rc = DS_EXIT_OK;
    ds_error err = {0};
    if (sweep_path) {
        if (ds_sweep_load(sweep_path, &c.s, &err)) {
            fprintf(stderr, "distsweep verify: %s\n", err.msg);
            return DS_EXIT_USAGE;
        }
        snprintf(c.sweep_from, sizeof c.sweep_from, "%s", sweep_path);
    }
    /* a running sweep: its files change under the scrub */
    char lockpath[VF_PATH];
    ds_output_path(out, DS_OUTPUT_LOCK, lockpath, sizeof lockpath);
    int lfd = open(lockpath, O_RDONLY);
    if (lfd >= 0) {
        int busy = flock(lfd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
        close(lfd); /* releases it */
        if (busy) {
            fprintf(stderr, "distsweep verify: %s: a sweep is running (%s is held): verify it "
                    "when it has stopped\n", out, lockpath);
            ds_sweep_free(c.s);
            return DS_EXIT_ERROR;
        }
    }
    ds_output_path(out, DS_OUTPUT_JOURNAL, c.jpath, sizeof c.jpath);
    c.j_exists = access(c.jpath, F_OK) == 0;
    c.j_ident = ds_journal_identity(c.jpath, c.j_created, &c.j_hash);
    if (check_file(&c) == 2) {
        fprintf(stderr, "distsweep verify: %s: %s\n", out,
                c.not_ours ? "not a distsweep result file (no format attribute) and no journal "
                             "beside it"
                           : "no result file here (missing or not HDF5) and no journal beside it");
        rc = DS_EXIT_USAGE;
        goto done;
    }
    attach_base(&c);
    check_journal(&c);
    check_runs(&c);
    check_models(&c);
    check_ckpts(&c);
    if (!c.s) {
        char md[4200];
        ds_modelfile_dir(out, md, sizeof md);
        if (access(md, F_OK) == 0 || c.checked_ckpts)
            add(&c, out, 0, "give the sweep with --sweep SWEEP.yaml",
                "the stored sweep is unreadable: stored models and manifests not checked");
    }

    int64_t retrain = -1, packs = 0;
    int n_bad = c.n_f, n_fixable = 0;
    for (int k = 0; k < c.n_f; k++) n_fixable += c.f[k].repairable;
    if (do_repair && c.n_f) {
        if (!c.s) {
            fprintf(stderr, "distsweep verify: %s: --repair needs the sweep and the file's stored "
                    "sweep (sweep_yaml) is unreadable: give it with --sweep SWEEP.yaml\n", out);
            rc = DS_EXIT_USAGE;
            goto done;
        }
        if (c.arch_unknown[0]) { /* the models' shapes, and the file's, are the base's */
            fprintf(stderr, "distsweep verify: %s: --repair needs model.init.from's config.json, "
                    "which gives the stored models' and the file's shapes: run it where the base "
                    "model is (%s); nothing was changed\n", out, c.arch_unknown);
            rc = DS_EXIT_USAGE;
            goto done;
        }
        int r2 = repair(&c, &retrain, &packs, &err);
        if (r2) {
            fprintf(stderr, "distsweep verify: %s\n", err.msg);
            rc = r2;
        }
    }
    int n_left = 0;
    for (int k = 0; k < c.n_f; k++) n_left += !c.f[k].done;
    if (!rc) rc = (do_repair ? n_left : n_bad) ? DS_EXIT_ERROR : DS_EXIT_OK;
    if (json) {
        printf("{\"file\": ");
        ds_json_str(stdout, out);
        printf(", \"whole\": %s, \"findings\": [", n_bad ? "false" : "true");
        for (int k = 0; k < c.n_f; k++) {
            printf("%s\n  {\"artifact\": ", k ? "," : "");
            ds_json_str(stdout, c.f[k].artifact);
            printf(", \"problem\": ");
            ds_json_str(stdout, c.f[k].what);
            printf(", \"repairable\": %s, \"repair\": ", c.f[k].repairable ? "true" : "false");
            ds_json_str(stdout, c.f[k].repair);
            printf(", \"repaired\": %s}", c.f[k].done ? "true" : "false");
        }
        printf("],\n \"checked\": {\"runs_in_journal\": %lld, \"models\": %lld, \"checkpoints\": "
               "%lld, \"manifests\": %lld, \"kept_aside\": %lld}, \"repair\": %s",
               (long long)c.n_recs, (long long)c.checked_models, (long long)c.checked_ckpts,
               (long long)c.checked_manifests, (long long)c.kept_aside,
               do_repair && c.n_f ? "true" : "false");
        if (retrain >= 0) printf(", \"will_train\": %lld", (long long)retrain);
        printf(", \"exit\": %d}\n", rc);
    } else {
        for (int k = 0; k < c.n_f; k++)
            printf("damaged  %s: %s [%s: %s]\n", c.f[k].artifact, c.f[k].what,
                   c.f[k].done ? "repaired" : c.f[k].repairable ? "repairable" : "not repairable",
                   c.f[k].repair);
        if (!n_bad)
            printf("%s: whole (%lld journal record(s), %lld model(s), %lld checkpoint(s), %lld "
                   "manifest(s) checked%s)\n", out, (long long)c.n_recs, (long long)c.checked_models,
                   (long long)c.checked_ckpts, (long long)c.checked_manifests,
                   c.kept_aside ? "; copies set aside earlier are kept" : "");
        else if (!do_repair)
            printf("%s: %d damaged artifact(s), %d repairable with --repair, %d not\n", out, n_bad,
                   n_fixable, n_bad - n_fixable);
        else
            printf("%s: %d damaged artifact(s), %d repaired, %d left\n", out, n_bad, n_bad - n_left,
                   n_left);
        if (retrain >= 0)
            printf("next: `distsweep run %s` trains %lld pending run(s)%s\n",
                   strcmp(c.sweep_from, "the file") ? c.sweep_from : "SWEEP.yaml",
                   (long long)retrain, packs ? " (packs whose checkpoint was set aside from their start)" : "");
    }
done:
    for (int64_t k = 0; k < c.n_recs; k++) ds_record_free(&c.recs[k]);
    free(c.recs);
    free(c.unj_scale);
    free(c.unj_idx);
    free(c.f);
    if (c.res_ok) ds_results_close(&c.res);
    ds_sweep_free(c.s);
    return rc;
}
