/* schema: see schema.h. */
#include "schema.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* ---- run status and metrics ------------------------------------------------ */

const char *ds_run_status_name(int status) {
    static const char *const names[DS_N_RUN_STATUS] = {"pending", "done", "failed", "diverged",
                                                                  "unrequested"};
    DS_ASSERT(status >= 0 && status < DS_N_RUN_STATUS);
    return names[status];
}

#define DS_METRIC_NAME_(id, name) name,
const char *const ds_metric_names[DS_N_METRICS] = {DS_METRIC_LIST(DS_METRIC_NAME_)};
#undef DS_METRIC_NAME_

int ds_metric_index(const char *name) {
    for (int i = 0; i < DS_N_METRICS; i++)
        if (!strcmp(name, ds_metric_names[i])) return i;
    return -1;
}

const char *ds_metric_name_of(ds_eval_kind k, int m) {
    DS_ASSERT(m >= 0 && m < DS_N_METRICS);
    if (k == DS_EVAL_LENGTHS) return ds_metric_names[m];
    return m == DS_M_MC_ACC ? "mc_acc" : m == DS_M_MC_NLL ? "mc_nll" : NULL;
}

int ds_metric_index_of(ds_eval_kind k, const char *name) {
    for (int m = 0; m < DS_N_METRICS; m++) {
        const char *n = ds_metric_name_of(k, m);
        if (n && !strcmp(n, name)) return m;
    }
    return -1;
}

const char *ds_metric_list_of(ds_eval_kind k, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = 0;
    for (int m = 0; m < DS_N_METRICS; m++) {
        const char *name = ds_metric_name_of(k, m);
        if (name && len < n) len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "", name);
    }
    return buf;
}

double ds_metric_max(int metric) {
    DS_ASSERT(metric >= 0 && metric < DS_N_METRICS);
    return ds_metric_lower_is_better(metric) ? INFINITY : 1.0;
}

void ds_run_result_free(ds_run_result *r) {
    if (!r) return;
    free(r->curve);
    free(r->traj);
    free(r->chosen);
    free(r->ll_correct);
    r->curve = NULL;
    r->traj = NULL;
    r->chosen = NULL;
    r->ll_correct = NULL;
    r->n_curve = 0;
    r->n_traj = 0;
    r->n_item_sets = 0;
}

/* ---- record encoding ------------------------------------------------------- */

#define FIXED_PAYLOAD (6 * 4 + 2 * 8 + 2 * 8 + 2 * 4)

/* Bytes of the trajectory trailer: 0 without one. */
static size_t traj_size(int n_traj) {
    return n_traj > 0 ? 4 + sizeof(float) * (size_t)n_traj * DS_N_METRICS : 0;
}

/* Bytes of the per-item trailer: 0 without one. */
static size_t items_size(const ds_run_result *r) {
    if (r->n_item_sets <= 0) return 0;
    return 8 + 4 * (size_t)r->n_item_sets + 5 * ds_run_items_at(r, r->n_item_sets);
}

size_t ds_record_size(const ds_record *rec) {
    return FIXED_PAYLOAD + sizeof(float) * ((size_t)rec->n_len * DS_N_METRICS +
                                            (size_t)(rec->r.n_curve > 0 ? rec->r.n_curve : 0)) +
           traj_size(rec->r.n_traj) + items_size(&rec->r);
}

static unsigned char *put(unsigned char *p, const void *v, size_t n) {
    memcpy(p, v, n);
    return p + n;
}
static const unsigned char *get(const unsigned char *p, void *v, size_t n) {
    memcpy(v, p, n);
    return p + n;
}

size_t ds_record_encode(const ds_record *rec, unsigned char *buf) {
    DS_ASSERT(rec->n_len >= 0 && rec->n_len <= DS_MAX_EVAL_LENGTHS);
    int32_t i32[6] = {rec->scale, rec->r.status, rec->attempts, rec->rank, rec->n_len,
                      rec->r.n_curve > 0 ? rec->r.n_curve : 0};
    unsigned char *p = buf;
    p = put(p, i32, sizeof i32);
    p = put(p, &rec->r.seed, 8);
    p = put(p, &rec->r.steps_done, 8);
    p = put(p, &rec->r.wall_s, 8);
    p = put(p, &rec->t_stored, 8);
    p = put(p, &rec->r.final_loss, 4);
    p = put(p, &rec->r.id_em, 4);
    for (int l = 0; l < rec->n_len; l++) p = put(p, rec->r.metrics[l], 4 * DS_N_METRICS);
    if (i32[5] > 0) p = put(p, rec->r.curve, 4 * (size_t)i32[5]);
    if (rec->r.n_traj > 0) {
        int32_t nt = rec->r.n_traj;
        p = put(p, &nt, 4);
        p = put(p, rec->r.traj, 4 * (size_t)nt * DS_N_METRICS);
    }
    if (rec->r.n_item_sets > 0) {
        DS_ASSERT(rec->r.n_item_sets == rec->n_len && rec->r.chosen && rec->r.ll_correct);
        int32_t head[2] = {DS_ITEMS_TAG, rec->r.n_item_sets};
        size_t total = ds_run_items_at(&rec->r, rec->r.n_item_sets);
        p = put(p, head, sizeof head);
        p = put(p, rec->r.n_items, 4 * (size_t)rec->r.n_item_sets);
        p = put(p, rec->r.ll_correct, 4 * total);
        p = put(p, rec->r.chosen, total);
    }
    DS_ASSERT((size_t)(p - buf) == ds_record_size(rec));
    return (size_t)(p - buf);
}

int ds_record_decode(const unsigned char *buf, size_t n, ds_record *rec) {
    memset(rec, 0, sizeof *rec);
    if (n < FIXED_PAYLOAD) return -1;
    int32_t i32[6];
    const unsigned char *p = buf;
    p = get(p, i32, sizeof i32);
    if (i32[4] < 0 || i32[4] > DS_MAX_EVAL_LENGTHS || i32[5] < 0) return -1;
    rec->scale = i32[0];
    rec->r.status = i32[1];
    rec->attempts = i32[2];
    rec->rank = i32[3];
    rec->n_len = i32[4];
    rec->r.n_curve = i32[5];
    size_t base = ds_record_size(rec); /* without a trailer */
    int32_t v = 0;
    if (n >= base + 4) memcpy(&v, buf + base, 4);
    if (n > base && v != DS_ITEMS_TAG) { /* the trajectory trailer */
        if (n < base + 4) return -1;
        if (v <= 0 || (size_t)v > (n - base - 4) / (4 * DS_N_METRICS)) return -1;
        rec->r.n_traj = v;
        base = ds_record_size(rec);
        v = 0;
        if (n >= base + 4) memcpy(&v, buf + base, 4);
    }
    if (n > base) { /* the per-item trailer */
        int32_t ns;
        if (v != DS_ITEMS_TAG || n < base + 8) goto bad;
        memcpy(&ns, buf + base + 4, 4);
        if (ns <= 0 || ns != rec->n_len || n < base + 8 + 4 * (size_t)ns) goto bad;
        memcpy(rec->r.n_items, buf + base + 8, 4 * (size_t)ns);
        for (int j = 0; j < ns; j++)
            if (rec->r.n_items[j] <= 0 || rec->r.n_items[j] > DS_MAX_SET_ITEMS) goto bad;
        rec->r.n_item_sets = ns;
    }
    if (ds_record_size(rec) != n) goto bad;
    p = get(p, &rec->r.seed, 8);
    p = get(p, &rec->r.steps_done, 8);
    p = get(p, &rec->r.wall_s, 8);
    p = get(p, &rec->t_stored, 8);
    p = get(p, &rec->r.final_loss, 4);
    p = get(p, &rec->r.id_em, 4);
    for (int l = 0; l < DS_MAX_EVAL_LENGTHS; l++)
        for (int m = 0; m < DS_N_METRICS; m++) rec->r.metrics[l][m] = NAN;
    for (int l = 0; l < rec->n_len; l++) p = get(p, rec->r.metrics[l], 4 * DS_N_METRICS);
    rec->r.curve = NULL;
    if (rec->r.n_curve > 0) {
        rec->r.curve = DS_MALLOC(4 * (size_t)rec->r.n_curve);
        p = get(p, rec->r.curve, 4 * (size_t)rec->r.n_curve);
    }
    rec->r.traj = NULL;
    if (rec->r.n_traj > 0) {
        p += 4;
        rec->r.traj = DS_MALLOC(4 * (size_t)rec->r.n_traj * DS_N_METRICS);
        p = get(p, rec->r.traj, 4 * (size_t)rec->r.n_traj * DS_N_METRICS);
    }
    rec->r.chosen = NULL;
    rec->r.ll_correct = NULL;
    if (rec->r.n_item_sets > 0) {
        size_t total = ds_run_items_at(&rec->r, rec->r.n_item_sets);
        p += 8 + 4 * (size_t)rec->r.n_item_sets;
        rec->r.ll_correct = DS_MALLOC(4 * total);
        rec->r.chosen = DS_MALLOC(total);
        p = get(p, rec->r.ll_correct, 4 * total);
        p = get(p, rec->r.chosen, total);
    }
    DS_ASSERT((size_t)(p - buf) == n);
    return 0;
bad:
    rec->r.n_traj = 0;
    rec->r.n_item_sets = 0;
    return -1;
}

void ds_record_free(ds_record *rec) {
    free(rec->r.curve);
    free(rec->r.traj);
    free(rec->r.chosen);
    free(rec->r.ll_correct);
    rec->r.curve = NULL;
    rec->r.traj = NULL;
    rec->r.chosen = NULL;
    rec->r.ll_correct = NULL;
}

/* ---- the objects of a result file ------------------------------------------ */

size_t ds_elem_size(ds_elem e) {
    switch (e) {
    case DS_EL_U8: case DS_EL_I8: return 1;
    case DS_EL_I32: case DS_EL_F32: return 4;
    case DS_EL_I64: case DS_EL_F64: return 8;
    case DS_EL_STR32: return 32;
    case DS_EL_VLSTR: return sizeof(char *);
    }
    DS_ASSERT(0);
    return 0;
}

#define DS_METRIC_DS_(id, name) {"/metrics/" name, DS_EL_F32, 3, DS_INNER_LENGTHS, DS_FILL_NAN, 1},
#define DS_TRAJ_DS_(id, name) {"/trajectories/" name, DS_EL_F32, 3, DS_INNER_EVAL, DS_FILL_NAN, 0},
static const ds_seed_dataset seed_ds[DS_N_SEED_DS] = {
    [DS_D_STEPS] = {"/runs/steps_done", DS_EL_I64, 2, DS_INNER_NONE, DS_FILL_ZERO, 0},
    [DS_D_WALL] = {"/runs/wall_s", DS_EL_F32, 2, DS_INNER_NONE, DS_FILL_NAN, 0},
    [DS_D_RANK] = {"/runs/rank", DS_EL_I32, 2, DS_INNER_NONE, DS_FILL_MINUS1, 0},
    [DS_D_FINAL] = {"/runs/final_loss", DS_EL_F32, 2, DS_INNER_NONE, DS_FILL_NAN, 0},
    [DS_D_IDEM] = {"/runs/id_em", DS_EL_F32, 2, DS_INNER_NONE, DS_FILL_NAN, 0},
    [DS_D_ATTEMPTS] = {"/runs/attempts", DS_EL_I32, 2, DS_INNER_NONE, DS_FILL_ZERO, 0},
    DS_METRIC_LIST(DS_METRIC_DS_)
    [DS_D_CURVE] = {"/curves/train_loss", DS_EL_F32, 3, DS_INNER_LOG, DS_FILL_NAN, 0},
    DS_METRIC_LIST(DS_TRAJ_DS_)
    [DS_D_STATUS] = {"/runs/status", DS_EL_U8, 2, DS_INNER_NONE, DS_FILL_ZERO, 1},
};
#undef DS_METRIC_DS_
#undef DS_TRAJ_DS_

const ds_seed_dataset *ds_seed_dataset_at(int i) {
    DS_ASSERT(i >= 0 && i < DS_N_SEED_DS);
    return &seed_ds[i];
}

const char *ds_seed_dataset_path(int i, ds_eval_kind k) {
    const char *p = ds_seed_dataset_at(i)->path;
    if (k == DS_EVAL_LENGTHS) return p;
    /* the per-metric datasets under another kind's names */
    static const char *const sets_paths[2][DS_N_METRICS] = {
        {[DS_M_MC_ACC] = "/metrics/mc_acc", [DS_M_MC_NLL] = "/metrics/mc_nll"},
        {[DS_M_MC_ACC] = "/trajectories/mc_acc", [DS_M_MC_NLL] = "/trajectories/mc_nll"}};
    if (i >= DS_D_METRIC0 && i < DS_D_METRIC0 + DS_N_METRICS) return sets_paths[0][i - DS_D_METRIC0];
    if (i >= DS_D_TRAJ0 && i < DS_D_TRAJ0 + DS_N_METRICS) return sets_paths[1][i - DS_D_TRAJ0];
    return p;
}

void ds_seed_fill(int i, void *out) {
    const ds_seed_dataset *d = ds_seed_dataset_at(i);
    double v = d->fill == DS_FILL_NAN ? NAN : d->fill == DS_FILL_MINUS1 ? -1.0 : 0.0;
    switch (d->elem) {
    case DS_EL_U8: *(uint8_t *)out = (uint8_t)v; break;
    case DS_EL_I32: { int32_t x = (int32_t)v; memcpy(out, &x, 4); break; }
    case DS_EL_I64: { int64_t x = (int64_t)v; memcpy(out, &x, 8); break; }
    case DS_EL_F32: { float x = (float)v; memcpy(out, &x, 4); break; }
    case DS_EL_F64: memcpy(out, &v, 8); break;
    default: DS_ASSERT(0);
    }
}

static const ds_item_dataset item_ds[DS_N_ITEM_DS] = {
    [DS_I_CHOSEN] = {"chosen", DS_EL_I8, DS_FILL_MINUS1},
    [DS_I_LL_CORRECT] = {"ll_correct", DS_EL_F32, DS_FILL_NAN},
};

const ds_item_dataset *ds_item_dataset_at(int i) {
    DS_ASSERT(i >= 0 && i < DS_N_ITEM_DS);
    return &item_ds[i];
}

void ds_item_fill(int i, void *out) {
    if (i == DS_I_CHOSEN) *(int8_t *)out = -1;
    else {
        float x = NAN;
        memcpy(out, &x, 4);
    }
}

static const ds_fixed_dataset scale_cols[DS_N_SCALE_COLS] = {
    [DS_SC_NAME] = {"/scales/name", DS_EL_STR32, "n_scales", 1},
    [DS_SC_D_MODEL] = {"/scales/d_model", DS_EL_I32, "n_scales", 1},
    [DS_SC_N_LAYERS] = {"/scales/n_layers", DS_EL_I32, "n_scales", 1},
    [DS_SC_N_HEADS] = {"/scales/n_heads", DS_EL_I32, "n_scales", 1},
    [DS_SC_N_PARAMS] = {"/scales/n_params", DS_EL_I64, "n_scales", 1},
    [DS_SC_FLOPS] = {"/scales/flops_per_step", DS_EL_F64, "n_scales", 0},
};

const ds_fixed_dataset *ds_scale_column(int c) {
    DS_ASSERT(c >= 0 && c < DS_N_SCALE_COLS);
    return &scale_cols[c];
}

const ds_fixed_dataset ds_seeds_dataset = {"/seeds", DS_EL_I64, "S", 1};
const ds_fixed_dataset ds_eval_lengths_dataset = {"/eval_lengths", DS_EL_I32, "E", 1};
const ds_fixed_dataset ds_eval_sets_dataset = {"/eval_sets", DS_EL_STR32, "E", 0};

static const ds_root_attr root_attrs[DS_N_ROOT_ATTRS] = {
    [DS_A_FORMAT] = {"format", DS_EL_VLSTR},
    [DS_A_FORMAT_VERSION] = {"format_version", DS_EL_I32},
    [DS_A_DISTSWEEP_VERSION] = {"distsweep_version", DS_EL_VLSTR},
    [DS_A_GIT_COMMIT] = {"git_commit", DS_EL_VLSTR},
    [DS_A_CREATED] = {"created", DS_EL_VLSTR},
    [DS_A_SWEEP_NAME] = {"sweep_name", DS_EL_VLSTR},
    [DS_A_SWEEP_YAML] = {"sweep_yaml", DS_EL_VLSTR},
    [DS_A_SWEEP_HASH] = {"sweep_hash", DS_EL_VLSTR},
    [DS_A_PRECISION] = {"precision", DS_EL_VLSTR}, /* absent in files made before it: fp32 */
};

const ds_root_attr *ds_root_attr_at(int a) {
    DS_ASSERT(a >= 0 && a < DS_N_ROOT_ATTRS);
    return &root_attrs[a];
}
