/* model: layout, init, forward and backward of the pack (see model.h). */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rng.h"
#include "tasks.h"

size_t ds_model_param_count(int d, int L, int V) {
    /* The formula's one home is the sweep's scale arithmetic, which must not
     * depend on the backend this header pulls in; ds_model_tensors asserts
     * that the layout below adds up to it (and tests/sweep checks a grid). */
    return (size_t)ds_scale_params(d, L, V);
}

/* The sweep's description of cfg's block, for the formulas of sweep.h. */
static ds_model_spec block_spec(const ds_model_config *c) {
    ds_model_spec s = {0};
    s.head_dim = c->hd;
    s.block = c->block;
    if (c->block == DS_BLOCK_LLAMA) {
        s.kv_heads = c->K;
        s.mlp_hidden = c->F;
        s.qkv_bias = c->qkv_bias;
        s.tie_embeddings = c->tie;
    }
    return s;
}

size_t ds_model_params(const ds_model_config *c) {
    ds_model_spec s = block_spec(c);
    return (size_t)ds_block_params(&s, c->d, c->L, c->V);
}

int ds_model_tensors(const ds_model_config *c, ds_param_tensor *out) {
    static const char *neox_names[12] = {"ln1_w", "ln1_b", "qkv_w", "qkv_b", "attn_out_w",
                                         "attn_out_b", "ln2_w", "ln2_b", "fc_w", "fc_b",
                                         "fc_out_w", "fc_out_b"};
    static const char *llama_names[7] = {"ln1_w", "qkv_w", "qkv_b", "attn_out_w", "ln2_w",
                                         "gate_up_w", "down_w"};
    int64_t d = c->d;
    int llama = c->block == DS_BLOCK_LLAMA;
    int64_t q = llama ? d + 2 * (int64_t)c->K * c->hd : 3 * d, F = c->F;
    /* shapes of the layer's tensors: [out][in] matrices, vectors; a {0, 0}
     * entry is a tensor the model does not have */
    const int64_t neox_shape[12][2] = {{d, 0}, {d, 0}, {3 * d, d}, {3 * d, 0}, {d, d}, {d, 0},
                                       {d, 0}, {d, 0}, {4 * d, d}, {4 * d, 0}, {d, 4 * d}, {d, 0}};
    const int64_t llama_shape[7][2] = {{d, 0}, {q, d}, {c->qkv_bias ? q : 0, 0}, {d, d},
                                       {d, 0}, {2 * F, d}, {d, F}};
    const char *const *layer_names = llama ? llama_names : neox_names;
    const int64_t(*layer_shape)[2] = llama ? llama_shape : neox_shape;
    int nl = llama ? 7 : 12;
    int n = 0;
    size_t o = 0;
#define DS_PT_ADD(nm, s0, s1)                                                              \
    do {                                                                                   \
        if (out) {                                                                         \
            ds_param_tensor *t = &out[n];                                                  \
            snprintf(t->name, sizeof t->name, "%s", nm);                                   \
            t->offset = o;                                                                 \
            t->ndim = (s1) ? 2 : 1;                                                        \
            t->shape[0] = (s0), t->shape[1] = (s1);                                        \
        }                                                                                  \
        o += (size_t)(s0) * (size_t)((s1) ? (s1) : 1);                                     \
        n++;                                                                               \
    } while (0)
    DS_PT_ADD("wte", c->V, d);
    for (int l = 0; l < c->L; l++)
        for (int k = 0; k < nl; k++) {
            char nm[32];
            if (!layer_shape[k][0]) continue;
            snprintf(nm, sizeof nm, "layers.%d.%s", l, layer_names[k]);
            DS_PT_ADD(nm, layer_shape[k][0], layer_shape[k][1]);
        }
    DS_PT_ADD("lnf_w", d, 0);
    if (!llama) DS_PT_ADD("lnf_b", d, 0);
    if (!llama || !c->tie) DS_PT_ADD("head_w", c->V, d);
#undef DS_PT_ADD
    DS_ASSERT(o == ds_model_params(c));
    DS_ASSERT(llama || o == ds_model_param_count(c->d, c->L, c->V));
    return n;
}

ds_model_config ds_model_config_from_sweep(const ds_sweep *s, int scale_idx, int R) {
    const ds_scale *sc = &s->scales[scale_idx];
    ds_model_spec md; /* the condition's: its own base's architecture, if any */
    ds_scale_model(s, scale_idx, &md);
    ds_model_config c = {0};
    c.R = R;
    c.B = s->train.batch;
    c.T = s->train.context - 1;
    c.d = sc->d_model;
    c.L = sc->n_layers;
    c.hd = md.head_dim;
    c.H = c.d / c.hd;
    c.V = ds_task_get(&s->task)->vocab_total(&s->task);
    c.rot = ((int)(md.rotary_frac * c.hd)) & ~1;
    c.block = md.block;
    if (c.block == DS_BLOCK_LLAMA) {
        c.K = ds_model_kv_heads(&md, c.d);
        c.F = ds_model_mlp_hidden(&md, c.d);
        c.qkv_bias = md.qkv_bias;
        c.tie = md.tie_embeddings;
    }
    c.rope_base = (float)md.rope_base;
    c.ln_eps = (float)md.ln_eps;
    c.init_std = (float)md.init_std;
    c.prec = s->train.precision;
    return c;
}

ds_devmem_shape ds_model_devmem_shape(const ds_model_config *c) {
    ds_devmem_shape s = {.R = c->R, .B = c->B, .T = c->T, .d = c->d, .L = c->L, .H = c->H,
                         .hd = c->hd, .V = c->V, .F = c->block == DS_BLOCK_LLAMA ? c->F : 0,
                         .P = ds_model_params(c)};
    return s;
}

double ds_model_devmem_bytes(const ds_model_config *c) {
    ds_devmem_shape s = ds_model_devmem_shape(c);
    ds_devmem_opts o = {.esz = c->prec == DS_PREC_BF16 ? 2 : 4, .rounding = c->prec != DS_PREC_FP32,
                        .att_gemm = -1};
    return (double)ds_devmem_bytes(&s, &o);
}

double ds_model_bytes(const ds_model_config *c) {
    double RN = (double)c->R * c->B * c->T, d = c->d;
    double P = (double)ds_model_params(c);
    double act = c->L * (15.0 * d + c->H + 4 + (c->block == DS_BLOCK_SEQUENTIAL ? d : 0)) + 16.0 * d + 2.0 * c->V + 8;
    if (c->block == DS_BLOCK_LLAMA) {
        /* per layer: res, res_mid, ln1, qkv 3d, atty, ln2, fch 2F|4d, fch_gelu F|4d,
         * 4 statistics and H lse; then the scratch (backward_scratch) and the rest */
        double F = c->F, fw = 2 * F > 4 * d ? 2 * F : 4 * d, gw = F > 4 * d ? F : 4 * d;
        double qc = c->K < c->H ? 2.0 * (d + 2.0 * c->K * c->hd) : 0;
        act = c->L * (8.0 * d + fw + gw + c->H + 4) + 7.0 * d + fw + gw + qc + 2.0 * c->V + 8;
    }
    return 4.0 * (4.0 * c->R * P + act * RN) + ds_model_devmem_bytes(c);
}

int ds_model_max_pack(const ds_model_config *cfg, double bytes, int max_r) {
    ds_model_config c = *cfg;
    int lo = 0, hi = max_r; /* fits(lo) (or lo = 0), and the answer is in [lo, hi] */
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        c.R = mid;
        if (ds_model_bytes(&c) <= bytes) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

/* The pack's allocations in order, each stopping at the first failure:
 * *failed then names it ("activations (qkv)") and its bytes, for the error. */
typedef struct {
    ds_model *m;
    const char *failed; /* NULL: none failed yet */
    size_t failed_bytes;
    int failed_host;    /* the failed one was host memory */
} pack_alloc;

static void *balloc(pack_alloc *pa, size_t bytes, const char *what) {
    if (pa->failed) return NULL;
    void *p = pa->m->be->alloc(pa->m->be, bytes);
    if (!p) pa->failed = what, pa->failed_bytes = bytes, pa->failed_host = 0;
    return p;
}

static void *halloc(pack_alloc *pa, size_t bytes, const char *what) {
    if (pa->failed) return NULL;
    void *p = ds_try_malloc(bytes);
    if (!p) pa->failed = what, pa->failed_bytes = bytes, pa->failed_host = 1;
    return p;
}

/* m's offsets from the layout (ds_model_tensors), by name; DS_NO_TENSOR for
 * what the block does not have, and with tied embeddings head_w = wte. */
static void set_offsets(ds_model *m) {
    static const char *const names[] = {"ln1_w", "ln1_b", "qkv_w", "qkv_b", "attn_out_w",
                                        "attn_out_b", "ln2_w", "ln2_b", "fc_w", "fc_b",
                                        "fc_out_w", "fc_out_b", "gate_up_w", "down_w"};
    const ds_model_config *c = &m->cfg;
    m->wte = m->lnf_w = m->lnf_b = m->head_w = DS_NO_TENSOR;
    for (int l = 0; l < c->L; l++) {
        ds_layer_offsets *lo = &m->layer[l];
        size_t *f[] = {&lo->ln1_w, &lo->ln1_b, &lo->qkv_w, &lo->qkv_b, &lo->attn_out_w,
                       &lo->attn_out_b, &lo->ln2_w, &lo->ln2_b, &lo->fc_w, &lo->fc_b,
                       &lo->fc_out_w, &lo->fc_out_b};
        for (int k = 0; k < 12; k++) *f[k] = DS_NO_TENSOR;
    }
    int nt = ds_model_tensors(c, NULL);
    ds_param_tensor *pt = DS_MALLOC(sizeof *pt * (size_t)nt);
    ds_model_tensors(c, pt);
    for (int i = 0; i < nt; i++) {
        const char *nm = pt[i].name;
        int l, pos = 0;
        if (sscanf(nm, "layers.%d.%n", &l, &pos) == 1 && pos > 0) {
            DS_ASSERT(l >= 0 && l < c->L);
            ds_layer_offsets *lo = &m->layer[l];
            size_t *f[] = {&lo->ln1_w, &lo->ln1_b, &lo->qkv_w, &lo->qkv_b, &lo->attn_out_w,
                           &lo->attn_out_b, &lo->ln2_w, &lo->ln2_b, &lo->fc_w, &lo->fc_b,
                           &lo->fc_out_w, &lo->fc_out_b, &lo->fc_w, &lo->fc_out_w};
            int k = 0;
            while (k < 14 && strcmp(nm + pos, names[k])) k++;
            DS_ASSERT(k < 14);
            *f[k] = pt[i].offset;
        } else if (!strcmp(nm, "wte")) m->wte = pt[i].offset;
        else if (!strcmp(nm, "lnf_w")) m->lnf_w = pt[i].offset;
        else if (!strcmp(nm, "lnf_b")) m->lnf_b = pt[i].offset;
        else if (!strcmp(nm, "head_w")) m->head_w = pt[i].offset;
        else DS_ASSERT(!"unknown tensor");
    }
    if (c->block == DS_BLOCK_LLAMA && c->tie) m->head_w = m->wte;
    const ds_param_tensor *last = &pt[nt - 1];
    DS_ASSERT(last->offset + (size_t)(last->shape[0] * (last->ndim == 2 ? last->shape[1] : 1)) == m->P);
    DS_ASSERT(m->wte != DS_NO_TENSOR && m->lnf_w != DS_NO_TENSOR && m->head_w != DS_NO_TENSOR);
    free(pt);
}

int ds_model_create(const ds_model_config *cfg, ds_backend *be, ds_model **out, ds_error *err) {
    *out = NULL;
    const ds_model_config *c = cfg;
    if (c->R < 1 || c->B < 1 || c->T < 1 || c->d < 1 || c->L < 1 || c->H < 1 || c->V < 2 ||
        c->H * c->hd != c->d || c->rot < 0 || c->rot > c->hd || c->rot % 2)
        return ds_error_set(err, DS_EXIT_ERROR,
                            "model: inconsistent configuration (R=%d B=%d T=%d d=%d L=%d H=%d "
                            "hd=%d V=%d rot=%d)",
                            c->R, c->B, c->T, c->d, c->L, c->H, c->hd, c->V, c->rot);
    if (c->block == DS_BLOCK_LLAMA && (c->K < 1 || c->H % c->K || c->F < 1))
        return ds_error_set(err, DS_EXIT_ERROR,
                            "model: inconsistent llama configuration (H=%d K=%d F=%d)", c->H, c->K,
                            c->F);
    if (!strncmp(be->name, "cuda", 4)) { /* cmd_run and eval said so before; train, bench here */
        int rc = ds_backend_supports_block(DS_BACKEND_CUDA, c->block, err);
        if (rc) return rc;
    }
    ds_model *m = DS_CALLOC(1, sizeof *m);
    m->cfg = *cfg;
    m->be = be;
    int d = c->d, L = c->L, V = c->V, R = c->R;
    m->P = ds_model_params(c);
    m->layer = DS_CALLOC(L, sizeof *m->layer);
    set_offsets(m);

    size_t N = (size_t)c->B * c->T, RN = (size_t)R * N, F = sizeof(float);
    pack_alloc pa = {.m = m};
    size_t pbytes = (size_t)R * m->P * F;
    m->params = balloc(&pa, pbytes, "parameters");
    m->grads = balloc(&pa, pbytes, "gradients");
    m->adam_m = balloc(&pa, pbytes, "Adam moments (m)");
    m->adam_v = balloc(&pa, pbytes, "Adam moments (v)");
    ds_activations *a = &m->act;
    int llama = c->block == DS_BLOCK_LLAMA;
    /* widths of the MLP's buffers: 4d, or llama's gate|up and SwiGLU output
     * when wider; qkv stays 3d (llama's are after kv_repeat) */
    size_t fw = 4 * (size_t)d, gw = 4 * (size_t)d;
    if (llama && 2 * (size_t)c->F > fw) fw = 2 * (size_t)c->F;
    if (llama && (size_t)c->F > gw) gw = (size_t)c->F;
    a->res = balloc(&pa, (L + 1) * RN * d * F, "activations (residual stream)");
    if (c->block != DS_BLOCK_PARALLEL) a->res_mid = balloc(&pa, L * RN * d * F, "activations (res_mid)");
    a->ln1 = balloc(&pa, L * RN * d * F, "activations (ln1)");
    a->ln1_mean = balloc(&pa, L * RN * F, "activations (ln1_mean)");
    a->ln1_rstd = balloc(&pa, L * RN * F, "activations (ln1_rstd)");
    a->qkv = balloc(&pa, L * RN * 3 * d * F, "activations (qkv)");
    a->atty = balloc(&pa, L * RN * d * F, "activations (atty)");
    a->lse = balloc(&pa, L * RN * c->H * F, "activations (lse)");
    a->ln2 = balloc(&pa, L * RN * d * F, "activations (ln2)");
    a->ln2_mean = balloc(&pa, L * RN * F, "activations (ln2_mean)");
    a->ln2_rstd = balloc(&pa, L * RN * F, "activations (ln2_rstd)");
    a->fch = balloc(&pa, L * RN * fw * F, "activations (fch)");
    a->fch_gelu = balloc(&pa, L * RN * gw * F, "activations (fch_gelu)");
    a->lnf = balloc(&pa, RN * d * F, "activations (lnf)");
    a->lnf_mean = balloc(&pa, RN * F, "activations (lnf_mean)");
    a->lnf_rstd = balloc(&pa, RN * F, "activations (lnf_rstd)");
    a->logits = balloc(&pa, RN * V * F, "activations (logits)");
    a->tok_loss = balloc(&pa, RN * F, "activations (tok_loss)");
    a->branch = balloc(&pa, RN * d * F, "backward scratch (branch)");
    a->dres = balloc(&pa, RN * d * F, "backward scratch (dres)");
    a->dln = balloc(&pa, RN * d * F, "backward scratch (dln)");
    a->datty = balloc(&pa, RN * d * F, "backward scratch (datty)");
    a->dqkv = balloc(&pa, RN * 3 * d * F, "backward scratch (dqkv)");
    a->dfch = balloc(&pa, RN * fw * F, "backward scratch (dfch)");
    a->dfch_gelu = balloc(&pa, RN * gw * F, "backward scratch (dfch_gelu)");
    if (llama && c->K < c->H) {
        size_t qc = (size_t)d + 2 * (size_t)c->K * c->hd;
        a->qkvc = balloc(&pa, RN * qc * F, "scratch (qkv before kv_repeat)");
        a->dqkvc = balloc(&pa, RN * qc * F, "backward scratch (dqkv before kv_repeat)");
    }
    a->dlogits = balloc(&pa, RN * V * F, "backward scratch (dlogits)");
    m->inp = balloc(&pa, RN * sizeof(int32_t), "batch (inputs)");
    m->tgt = balloc(&pa, RN * sizeof(int32_t), "batch (targets)");
    m->weight = balloc(&pa, RN * F, "batch (loss weights)");
    m->mask = balloc(&pa, RN * F, "batch (mask)");
    m->loss_sum = balloc(&pa, (size_t)R * sizeof(double), "loss sums");
    m->h_inp = halloc(&pa, RN * sizeof(int32_t), "host batch staging (inputs)");
    m->h_tgt = halloc(&pa, RN * sizeof(int32_t), "host batch staging (targets)");
    m->h_weight = halloc(&pa, RN * F, "host batch staging (loss weights)");
    m->h_mask = halloc(&pa, RN * F, "host batch staging (mask)");
    if (!pa.failed && be->reserve) {
        /* the backend's own memory for the ops at these shapes (src/devmem.h),
         * allocated now so that no op allocates during a step */
        ds_devmem_shape sh = ds_model_devmem_shape(c);
        const char *what = NULL;
        size_t miss = be->reserve(be, &sh, &what);
        if (miss) pa.failed = what, pa.failed_bytes = miss, pa.failed_host = 0;
    }
    if (pa.failed) {
        char need[32], all[32];
        ds_fmt_bytes((double)pa.failed_bytes, need, sizeof need);
        ds_fmt_bytes(ds_model_bytes(cfg), all, sizeof all);
        char where[64];
        if (pa.failed_host) snprintf(where, sizeof where, "in host memory");
        else snprintf(where, sizeof where, "on the %s backend", be->name);
        const char *what = pa.failed; /* a string literal: outlives m */
        ds_model_free(m); /* frees what was allocated: the pointers after the failure are NULL */
        return ds_error_nomem(err, "pack of %d replicas (d=%d, L=%d, batch %d x %d): cannot "
                              "allocate %s of %s %s (the pack needs about %s in all)",
                              R, d, L, c->B, c->T, need, what, where, all);
    }
    *out = m;
    return 0;
}

void ds_model_free(ds_model *m) {
    if (!m) return;
    ds_backend *be = m->be;
    void *bufs[] = {m->params, m->grads, m->adam_m, m->adam_v, m->act.res, m->act.res_mid,
                    m->act.ln1, m->act.ln1_mean, m->act.ln1_rstd, m->act.qkv, m->act.atty,
                    m->act.lse, m->act.ln2, m->act.ln2_mean, m->act.ln2_rstd, m->act.fch,
                    m->act.fch_gelu, m->act.lnf, m->act.lnf_mean, m->act.lnf_rstd,
                    m->act.logits, m->act.tok_loss, m->act.branch, m->act.dres, m->act.dln,
                    m->act.datty, m->act.dqkv, m->act.dfch, m->act.dfch_gelu, m->act.dlogits,
                    m->act.qkvc, m->act.dqkvc,
                    m->inp, m->tgt, m->weight, m->mask, m->loss_sum};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->free(be, bufs[i]);
    free(m->h_inp);
    free(m->h_tgt);
    free(m->h_weight);
    free(m->h_mask);
    free(m->layer);
    free(m);
}

/* ------------------------------------------------------------------------ */
/* parameters */

static void fill_normal(float *p, size_t off, size_t n, uint64_t seed, float std) {
    for (size_t i = 0; i < n; i++) {
        ds_rng r;
        ds_rng_init(&r, seed, DS_STREAM_INIT, off + i);
        p[off + i] = std * ds_rng_normal(&r);
    }
}

/* The llama block's weights (wte drawn by the caller): RMSNorm weights 1,
 * matrices N(0, init_std^2), the q, k, v biases 0 (already). */
static void init_llama(const ds_model *m, float *p, uint64_t seed) {
    const ds_model_config *c = &m->cfg;
    size_t d = (size_t)c->d, q = d + 2 * (size_t)c->K * c->hd, F = (size_t)c->F;
    float std = c->init_std;
    for (int l = 0; l < c->L; l++) {
        const ds_layer_offsets *lo = &m->layer[l];
        for (size_t i = 0; i < d; i++) p[lo->ln1_w + i] = p[lo->ln2_w + i] = 1.0f;
        fill_normal(p, lo->qkv_w, q * d, seed, std);
        fill_normal(p, lo->attn_out_w, d * d, seed, std);
        fill_normal(p, lo->fc_w, 2 * F * d, seed, std);
        fill_normal(p, lo->fc_out_w, F * d, seed, std);
    }
    for (size_t i = 0; i < d; i++) p[m->lnf_w + i] = 1.0f;
    if (!c->tie) fill_normal(p, m->head_w, (size_t)c->V * d, seed, std);
}

/* The spec's init of one replica for seed, into host p (P floats). */
static void init_host(const ds_model *m, uint64_t seed, float *p) {
    int d = m->cfg.d, V = m->cfg.V;
    float std = m->cfg.init_std;
    memset(p, 0, m->P * sizeof(float)); /* biases 0 */
    fill_normal(p, m->wte, (size_t)V * d, seed, std);
    if (m->cfg.block == DS_BLOCK_LLAMA) {
        init_llama(m, p, seed);
        return;
    }
    for (int l = 0; l < m->cfg.L; l++) {
        const ds_layer_offsets *lo = &m->layer[l];
        for (int c = 0; c < d; c++) p[lo->ln1_w + c] = p[lo->ln2_w + c] = 1.0f;
        fill_normal(p, lo->qkv_w, 3 * (size_t)d * d, seed, std);
        fill_normal(p, lo->attn_out_w, (size_t)d * d, seed, std);
        fill_normal(p, lo->fc_w, 4 * (size_t)d * d, seed, std);
        fill_normal(p, lo->fc_out_w, 4 * (size_t)d * d, seed, std);
    }
    for (int c = 0; c < d; c++) p[m->lnf_w + c] = 1.0f;
    fill_normal(p, m->head_w, (size_t)V * d, seed, std);
}

void ds_model_init_replica(ds_model *m, int r, uint64_t seed) {
    ds_model_init_replica_from(m, r, seed, NULL, NULL);
}

void ds_model_init_replica_from(ds_model *m, int r, uint64_t seed, const float *base,
                                const uint8_t *keep) {
    DS_ASSERT(r >= 0 && r < m->cfg.R && (!base == !keep));
    float *p = DS_MALLOC(m->P * sizeof(float));
    init_host(m, seed, p);
    if (base) {
        int nt = ds_model_tensors(&m->cfg, NULL);
        ds_param_tensor *pt = DS_MALLOC(sizeof *pt * (size_t)nt);
        ds_model_tensors(&m->cfg, pt);
        for (int i = 0; i < nt; i++) {
            size_t n = (size_t)pt[i].shape[0] * (size_t)(pt[i].ndim == 2 ? pt[i].shape[1] : 1);
            if (keep[i]) memcpy(p + pt[i].offset, base + pt[i].offset, n * sizeof(float));
        }
        free(pt);
    }
    ds_model_set_params(m, r, p);
    size_t bytes = m->P * sizeof(float);
    m->be->zero(m->be, m->adam_m + (size_t)r * m->P, bytes);
    m->be->zero(m->be, m->adam_v + (size_t)r * m->P, bytes);
    free(p);
}

void ds_model_set_params(ds_model *m, int r, const float *host) {
    DS_ASSERT(r >= 0 && r < m->cfg.R);
    m->be->upload(m->be, m->params + (size_t)r * m->P, host, m->P * sizeof(float));
}

void ds_model_get_params(const ds_model *m, int r, float *host) {
    DS_ASSERT(r >= 0 && r < m->cfg.R);
    m->be->download(m->be, host, m->params + (size_t)r * m->P, m->P * sizeof(float));
}

void ds_model_get_grads(const ds_model *m, int r, float *host) {
    DS_ASSERT(r >= 0 && r < m->cfg.R);
    m->be->download(m->be, host, m->grads + (size_t)r * m->P, m->P * sizeof(float));
}

/* ------------------------------------------------------------------------ */
/* batch */

void ds_model_set_batch(ds_model *m, const int32_t *tokens, const uint8_t *mask, int B, int T) {
    ds_model_set_batch_norm(m, tokens, mask, B, T, NULL);
}

void ds_model_set_batch_norm(ds_model *m, const int32_t *tokens, const uint8_t *mask, int B, int T,
                             const double *scored_all) {
    DS_ASSERT(B >= 1 && T >= 1 && (size_t)B * T <= (size_t)m->cfg.B * m->cfg.T);
    int R = m->cfg.R;
    size_t N = (size_t)B * T;
    int32_t *inp = m->h_inp, *tgt = m->h_tgt;
    float *w = m->h_weight, *mk = m->h_mask;
    for (int r = 0; r < R; r++) {
        long scored = 0;
        for (int b = 0; b < B; b++) {
            const int32_t *row = tokens + ((size_t)r * B + b) * (T + 1);
            const uint8_t *mrow = mask + ((size_t)r * B + b) * (T + 1);
            for (int t = 0; t < T; t++) {
                size_t i = (size_t)r * N + (size_t)b * T + t;
                DS_ASSERT(row[t] >= 0 && row[t] < m->cfg.V && row[t + 1] >= 0 && row[t + 1] < m->cfg.V);
                inp[i] = row[t];
                tgt[i] = row[t + 1];
                mk[i] = mrow[t + 1] ? 1.0f : 0.0f;
                scored += mrow[t + 1] != 0;
            }
        }
        if (scored_all) scored = (long)scored_all[r];
        float inv = scored ? 1.0f / (float)scored : 0.0f;
        for (size_t n = 0; n < N; n++) w[(size_t)r * N + n] = mk[(size_t)r * N + n] * inv;
    }
    ds_backend *be = m->be;
    /* asynchronous: a GPU may still be running the last step (backend.h) */
    be->upload_async(be, m->inp, inp, R * N * sizeof(int32_t));
    be->upload_async(be, m->tgt, tgt, R * N * sizeof(int32_t));
    be->upload_async(be, m->weight, w, R * N * sizeof(float));
    be->upload_async(be, m->mask, mk, R * N * sizeof(float));
    m->cur_B = B;
    m->cur_T = T;
}

/* ------------------------------------------------------------------------ */
/* forward */

/* Activation pointer of layer l in a per-layer array of `width` floats per row. */
#define LAYER(buf, l, width) ((buf) + (size_t)(l) * RNmax * (width))

/* Row widths of the MLP's activations fch and fch_gelu (and their
 * gradients): 4d, or llama's 2F and F when wider (ds_model_create allocates
 * these; a layer's slice is LAYER(buf, l, width)). */
static void mlp_widths(const ds_model_config *c, size_t *fw, size_t *gw) {
    *fw = *gw = 4 * (size_t)c->d;
    if (c->block == DS_BLOCK_LLAMA && 2 * (size_t)c->F > *fw) *fw = 2 * (size_t)c->F;
    if (c->block == DS_BLOCK_LLAMA && (size_t)c->F > *gw) *gw = (size_t)c->F;
}

/* Layer l of a llama model, forward: x = res[l] to res[l+1] through
 * mid = x + o(attn(rope(qkv(rms1 x)))), out = mid + down(swiglu(gate_up(rms2 mid)))
 * (docs/engine.md "The llama block"). */
static void llama_layer_fwd(ds_model *m, int l) {
    ds_backend *be = m->be;
    const ds_model_config *c = &m->cfg;
    ds_activations *a = &m->act;
    const ds_layer_offsets *lo = &m->layer[l];
    int R = c->R, B = m->cur_B, T = m->cur_T, d = c->d, H = c->H, K = c->K, hd = c->hd, F = c->F;
    int N = B * T, qc = d + 2 * K * hd;
    size_t RNmax = (size_t)R * c->B * c->T, RN = (size_t)R * N, ws = m->P, fw, gw;
    mlp_widths(c, &fw, &gw);
    const float *p = m->params;
    float *x = LAYER(a->res, l, d), *xo = LAYER(a->res, l + 1, d), *mid = LAYER(a->res_mid, l, d);
    float *ln1 = LAYER(a->ln1, l, d), *qkv = LAYER(a->qkv, l, 3 * d);
    float *atty = LAYER(a->atty, l, d), *lse = LAYER(a->lse, l, H);
    float *ln2 = LAYER(a->ln2, l, d), *fch = LAYER(a->fch, l, fw), *fchg = LAYER(a->fch_gelu, l, gw);
    const float *qkv_b = lo->qkv_b == DS_NO_TENSOR ? NULL : p + lo->qkv_b;
    be->rmsnorm_fwd(be, ln1, LAYER(a->ln1_rstd, l, 1), x, p + lo->ln1_w, ws, R, N, d, c->ln_eps);
    if (K < H) { /* grouped-query: the K kv heads repeated for the attention ops */
        be->matmul_fwd(be, a->qkvc, ln1, p + lo->qkv_w, qkv_b, ws, R, N, d, qc);
        be->kv_repeat_fwd(be, qkv, a->qkvc, RN, H, K, hd);
    } else {
        be->matmul_fwd(be, qkv, ln1, p + lo->qkv_w, qkv_b, ws, R, N, d, 3 * d);
    }
    be->rope_fwd(be, qkv, R, B, T, H, hd, c->rot, c->rope_base);
    be->attention_fwd(be, atty, lse, qkv, R, B, T, H, hd);
    be->matmul_fwd(be, a->branch, atty, p + lo->attn_out_w, NULL, ws, R, N, d, d);
    be->add(be, mid, x, a->branch, RN * d);
    be->rmsnorm_fwd(be, ln2, LAYER(a->ln2_rstd, l, 1), mid, p + lo->ln2_w, ws, R, N, d, c->ln_eps);
    be->matmul_fwd(be, fch, ln2, p + lo->fc_w, NULL, ws, R, N, d, 2 * F);
    be->swiglu_fwd(be, fchg, fch, RN, F);
    be->matmul_fwd(be, a->branch, fchg, p + lo->fc_out_w, NULL, ws, R, N, F, d);
    be->add(be, xo, mid, a->branch, RN * d);
}

/* Layer l of a llama model, backward: a->dres holds the gradient of the
 * layer's output and leaves holding that of its input; parameter gradients
 * are added (the op contracts' +=). */
static void llama_layer_bwd(ds_model *m, int l) {
    ds_backend *be = m->be;
    const ds_model_config *c = &m->cfg;
    ds_activations *a = &m->act;
    const ds_layer_offsets *lo = &m->layer[l];
    int R = c->R, B = m->cur_B, T = m->cur_T, d = c->d, H = c->H, K = c->K, hd = c->hd, F = c->F;
    int N = B * T, qc = d + 2 * K * hd;
    size_t RNmax = (size_t)R * c->B * c->T, RN = (size_t)R * N, ws = m->P, fw, gw;
    mlp_widths(c, &fw, &gw);
    const float *p = m->params;
    float *g = m->grads;
    float *x = LAYER(a->res, l, d), *mid = LAYER(a->res_mid, l, d);
    float *ln1 = LAYER(a->ln1, l, d), *qkv = LAYER(a->qkv, l, 3 * d);
    float *atty = LAYER(a->atty, l, d), *lse = LAYER(a->lse, l, H);
    float *ln2 = LAYER(a->ln2, l, d), *fch = LAYER(a->fch, l, fw), *fchg = LAYER(a->fch_gelu, l, gw);
    float *gqkv_b = lo->qkv_b == DS_NO_TENSOR ? NULL : g + lo->qkv_b;
    /* MLP branch: dres is the gradient of out = mid + down(...) */
    be->matmul_bwd(be, a->dfch_gelu, g + lo->fc_out_w, NULL, ws, a->dres, fchg, p + lo->fc_out_w,
                   R, N, F, d);
    be->swiglu_bwd(be, a->dfch, fch, a->dfch_gelu, RN, F);
    be->matmul_bwd(be, a->dln, g + lo->fc_w, NULL, ws, a->dfch, ln2, p + lo->fc_w, R, N, d, 2 * F);
    be->rmsnorm_bwd(be, a->dres, g + lo->ln2_w, ws, a->dln, mid, p + lo->ln2_w,
                    LAYER(a->ln2_rstd, l, 1), R, N, d);
    /* attention branch: dres is now the gradient of mid = x + o(...) */
    be->matmul_bwd(be, a->datty, g + lo->attn_out_w, NULL, ws, a->dres, atty, p + lo->attn_out_w,
                   R, N, d, d);
    be->attention_bwd(be, a->dqkv, a->datty, qkv, atty, lse, R, B, T, H, hd);
    be->rope_bwd(be, a->dqkv, R, B, T, H, hd, c->rot, c->rope_base);
    if (K < H) {
        be->kv_repeat_bwd(be, a->dqkvc, a->dqkv, RN, H, K, hd);
        be->matmul_bwd(be, a->dln, g + lo->qkv_w, gqkv_b, ws, a->dqkvc, ln1, p + lo->qkv_w, R, N, d,
                       qc);
    } else {
        be->matmul_bwd(be, a->dln, g + lo->qkv_w, gqkv_b, ws, a->dqkv, ln1, p + lo->qkv_w, R, N, d,
                       3 * d);
    }
    be->rmsnorm_bwd(be, a->dres, g + lo->ln1_w, ws, a->dln, x, p + lo->ln1_w,
                    LAYER(a->ln1_rstd, l, 1), R, N, d);
}

/* The forward pass; with want_loss, m->loss_sum gets the R weighted loss sums. */
static void forward(ds_model *m, int want_loss) {
    ds_backend *be = m->be;
    const ds_model_config *c = &m->cfg;
    ds_activations *a = &m->act;
    int R = c->R, B = m->cur_B, T = m->cur_T, d = c->d, H = c->H, hd = c->hd, V = c->V;
    int N = B * T;
    size_t RNmax = (size_t)R * c->B * c->T, RN = (size_t)R * N, ws = m->P;
    const float *p = m->params;
    DS_ASSERT(B > 0);

    be->encoder_fwd(be, a->res, m->inp, p + m->wte, ws, R, N, d);
    for (int l = 0; l < c->L; l++) {
        if (c->block == DS_BLOCK_LLAMA) {
            llama_layer_fwd(m, l);
            continue;
        }
        const ds_layer_offsets *lo = &m->layer[l];
        float *x = LAYER(a->res, l, d), *xo = LAYER(a->res, l + 1, d);
        float *ln1 = LAYER(a->ln1, l, d), *qkv = LAYER(a->qkv, l, 3 * d);
        float *atty = LAYER(a->atty, l, d), *lse = LAYER(a->lse, l, H);
        float *ln2 = LAYER(a->ln2, l, d), *fch = LAYER(a->fch, l, 4 * d);
        float *fchg = LAYER(a->fch_gelu, l, 4 * d);
        /* attention branch */
        be->layernorm_fwd(be, ln1, LAYER(a->ln1_mean, l, 1), LAYER(a->ln1_rstd, l, 1), x,
                          p + lo->ln1_w, p + lo->ln1_b, ws, R, N, d, c->ln_eps);
        be->matmul_fwd(be, qkv, ln1, p + lo->qkv_w, p + lo->qkv_b, ws, R, N, d, 3 * d);
        be->rope_fwd(be, qkv, R, B, T, H, hd, c->rot, c->rope_base);
        be->attention_fwd(be, atty, lse, qkv, R, B, T, H, hd);
        be->matmul_fwd(be, a->branch, atty, p + lo->attn_out_w, p + lo->attn_out_b, ws, R, N, d, d);
        /* MLP input: the block's input (parallel) or the stream after attention */
        float *mlp_in = x;
        if (c->block == DS_BLOCK_SEQUENTIAL) {
            mlp_in = LAYER(a->res_mid, l, d);
            be->add(be, mlp_in, x, a->branch, RN * d);
        } else {
            be->add(be, xo, x, a->branch, RN * d);
        }
        be->layernorm_fwd(be, ln2, LAYER(a->ln2_mean, l, 1), LAYER(a->ln2_rstd, l, 1), mlp_in,
                          p + lo->ln2_w, p + lo->ln2_b, ws, R, N, d, c->ln_eps);
        be->matmul_fwd(be, fch, ln2, p + lo->fc_w, p + lo->fc_b, ws, R, N, d, 4 * d);
        be->gelu_fwd(be, fchg, fch, RN * 4 * d);
        be->matmul_fwd(be, a->branch, fchg, p + lo->fc_out_w, p + lo->fc_out_b, ws, R, N, 4 * d, d);
        if (c->block == DS_BLOCK_SEQUENTIAL)
            be->add(be, xo, mlp_in, a->branch, RN * d);
        else
            be->add(be, xo, xo, a->branch, RN * d);
    }
    float *xl = LAYER(a->res, c->L, d);
    if (c->block == DS_BLOCK_LLAMA)
        be->rmsnorm_fwd(be, a->lnf, a->lnf_rstd, xl, p + m->lnf_w, ws, R, N, d, c->ln_eps);
    else
        be->layernorm_fwd(be, a->lnf, a->lnf_mean, a->lnf_rstd, xl, p + m->lnf_w, p + m->lnf_b, ws,
                          R, N, d, c->ln_eps);
    be->matmul_fwd(be, a->logits, a->lnf, p + m->head_w, NULL, ws, R, N, d, V);
    if (want_loss) {
        be->crossentropy_fwd(be, a->tok_loss, a->logits, m->tgt, R, N, V);
        be->weighted_sum(be, m->loss_sum, a->tok_loss, m->weight, R, N);
    }
}

void ds_model_forward(ds_model *m, float *losses) {
    if (!losses) {
        forward(m, 0);
        return;
    }
    int R = m->cfg.R;
    double *s = DS_MALLOC(sizeof(double) * R);
    ds_model_forward_sums(m, s);
    for (int r = 0; r < R; r++) losses[r] = (float)s[r];
    free(s);
}

void ds_model_forward_sums(ds_model *m, double *sums) {
    forward(m, 1);
    m->be->download(m->be, sums, m->loss_sum, sizeof(double) * (size_t)m->cfg.R);
}

void ds_model_forward_loss(ds_model *m) { forward(m, 1); }

/* ------------------------------------------------------------------------ */
/* backward */

void ds_model_backward(ds_model *m) {
    ds_backend *be = m->be;
    const ds_model_config *c = &m->cfg;
    ds_activations *a = &m->act;
    int R = c->R, B = m->cur_B, T = m->cur_T, d = c->d, H = c->H, hd = c->hd, V = c->V;
    int N = B * T;
    size_t RNmax = (size_t)R * c->B * c->T, RN = (size_t)R * N, ws = m->P;
    const float *p = m->params;
    float *g = m->grads;

    be->zero(be, g, (size_t)R * m->P * sizeof(float));
    be->zero(be, a->dres, RN * d * sizeof(float));
    be->crossentropy_bwd(be, a->dlogits, a->logits, m->tgt, m->weight, R, N, V);
    /* with tied embeddings head_w is wte: the head's gradient is added here,
     * the embedding's by encoder_bwd at the end */
    be->matmul_bwd(be, a->dln, g + m->head_w, NULL, ws, a->dlogits, a->lnf, p + m->head_w, R, N, d, V);
    if (c->block == DS_BLOCK_LLAMA)
        be->rmsnorm_bwd(be, a->dres, g + m->lnf_w, ws, a->dln, LAYER(a->res, c->L, d), p + m->lnf_w,
                        a->lnf_rstd, R, N, d);
    else
        be->layernorm_bwd(be, a->dres, g + m->lnf_w, g + m->lnf_b, ws, a->dln,
                          LAYER(a->res, c->L, d), p + m->lnf_w, a->lnf_mean, a->lnf_rstd, R, N, d);
    for (int l = c->L - 1; l >= 0; l--) {
        if (c->block == DS_BLOCK_LLAMA) {
            llama_layer_bwd(m, l);
            continue;
        }
        const ds_layer_offsets *lo = &m->layer[l];
        float *x = LAYER(a->res, l, d);
        float *ln1 = LAYER(a->ln1, l, d), *qkv = LAYER(a->qkv, l, 3 * d);
        float *atty = LAYER(a->atty, l, d), *lse = LAYER(a->lse, l, H);
        float *ln2 = LAYER(a->ln2, l, d), *fch = LAYER(a->fch, l, 4 * d);
        float *fchg = LAYER(a->fch_gelu, l, 4 * d);
        float *mlp_in = c->block == DS_BLOCK_SEQUENTIAL ? LAYER(a->res_mid, l, d) : x;
        /* dres holds the gradient of the block's output. Both branch outputs
         * are added to the stream, so both take dres as their output gradient;
         * in a parallel block the attention projection must read it before
         * the LayerNorm backwards add into it. */
        if (c->block == DS_BLOCK_PARALLEL)
            be->matmul_bwd(be, a->datty, g + lo->attn_out_w, g + lo->attn_out_b, ws, a->dres, atty,
                           p + lo->attn_out_w, R, N, d, d);
        /* MLP branch */
        be->matmul_bwd(be, a->dfch_gelu, g + lo->fc_out_w, g + lo->fc_out_b, ws, a->dres, fchg,
                       p + lo->fc_out_w, R, N, 4 * d, d);
        be->gelu_bwd(be, a->dfch, fch, a->dfch_gelu, RN * 4 * d);
        be->matmul_bwd(be, a->dln, g + lo->fc_w, g + lo->fc_b, ws, a->dfch, ln2, p + lo->fc_w, R, N,
                       d, 4 * d);
        be->layernorm_bwd(be, a->dres, g + lo->ln2_w, g + lo->ln2_b, ws, a->dln, mlp_in,
                          p + lo->ln2_w, LAYER(a->ln2_mean, l, 1), LAYER(a->ln2_rstd, l, 1), R, N, d);
        /* attention branch (sequential: dres is now the gradient of the mid stream) */
        if (c->block == DS_BLOCK_SEQUENTIAL)
            be->matmul_bwd(be, a->datty, g + lo->attn_out_w, g + lo->attn_out_b, ws, a->dres, atty,
                           p + lo->attn_out_w, R, N, d, d);
        be->attention_bwd(be, a->dqkv, a->datty, qkv, atty, lse, R, B, T, H, hd);
        be->rope_bwd(be, a->dqkv, R, B, T, H, hd, c->rot, c->rope_base);
        be->matmul_bwd(be, a->dln, g + lo->qkv_w, g + lo->qkv_b, ws, a->dqkv, ln1, p + lo->qkv_w, R,
                       N, d, 3 * d);
        be->layernorm_bwd(be, a->dres, g + lo->ln1_w, g + lo->ln1_b, ws, a->dln, x, p + lo->ln1_w,
                          LAYER(a->ln1_mean, l, 1), LAYER(a->ln1_rstd, l, 1), R, N, d);
    }
    be->encoder_bwd(be, g + m->wte, ws, a->dres, m->inp, R, N, d, m->cfg.V);
}

void ds_model_get_logits(const ds_model *m, int r, float *host) {
    DS_ASSERT(r >= 0 && r < m->cfg.R);
    size_t N = (size_t)m->cur_B * m->cur_T;
    m->be->download(m->be, host, m->act.logits + (size_t)r * N * m->cfg.V, N * m->cfg.V * sizeof(float));
}
