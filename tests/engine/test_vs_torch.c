/* test_vs_torch: runs the C engine on a tiny pack and writes everything the
 * PyTorch comparison (test_vs_torch.py, docs/correctness.md) needs.
 *
 *   test_vs_torch OUT.bin parallel|sequential ROTARY_FRAC [VOCAB]
 *   test_vs_torch OUT.bin llama KV_HEADS QKV_BIAS TIE
 *
 * A pack of R = 2 replicas, d 64, head_dim 32, 2 layers, count task with
 * vocab 30 (34 token ids; VOCAB, e.g. 50300 for Pythia's 50,304 ids, a large
 * vocabulary whose count rows span its ids), B 3 rows of T+1 = 33 tokens (llama: head_dim 16,
 * so 4 heads, KV_HEADS of them for keys and values, mlp_hidden 96, full
 * rotary, QKV_BIAS and TIE 0 or 1):
 *   replica 0: the engine's own init of seed 7 (ds_model_init_replica);
 *   replica 1: O(1) weights set with ds_model_set_params (Philox, test stream).
 * One forward + backward (loss, logits, flat gradients), then 10 AdamW steps
 * through ds_optim_step (lr 1e-3, warmup 2, cosine to 10, wd 0.1, clip 3),
 * each on fresh rows, recording weights before every step, gradients and
 * losses. Each replica trains on its own rows of the real count generator.
 *
 * Output: magic "DSTREF01", then records (u32 name length, name, u32 dtype
 * 0=f32 1=i32 2=f64, u32 ndim, i64 dims, data), little endian. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "model.h"
#include "optim.h"
#include "rng.h"
#include "tasks.h"

enum { R = 2, B = 3, T = 32, D = 64, HD = 32, NL = 2, VOCAB = 30, STEPS = 10 };

static int put(FILE *f, const char *name, int dtype, int ndim, const int64_t *dims,
               const void *data) {
    uint32_t n = (uint32_t)strlen(name), dt = (uint32_t)dtype, nd = (uint32_t)ndim;
    size_t cnt = 1, esz = dtype == 2 ? 8 : 4;
    for (int i = 0; i < ndim; i++) cnt *= (size_t)dims[i];
    if (fwrite(&n, 4, 1, f) != 1 || fwrite(name, 1, n, f) != n || fwrite(&dt, 4, 1, f) != 1 ||
        fwrite(&nd, 4, 1, f) != 1 || fwrite(dims, 8, (size_t)ndim, f) != (size_t)ndim ||
        fwrite(data, esz, cnt, f) != cnt)
        return -1;
    return 0;
}

/* O(1) weights for replica 1: matrices N(0, 1/fan_in), embeddings N(0, 1),
 * LN weights 1 + N(0, 0.2^2), other vectors N(0, 0.1^2). */
static void o1_params(const ds_model *m, float *w) {
    const ds_model_config *c = &m->cfg;
    ds_rng rng;
    ds_rng_init(&rng, 12345, DS_STREAM_TEST, 0);
    size_t d = (size_t)c->d;
    for (size_t i = 0; i < m->P; i++) w[i] = 0.1f * ds_rng_normal(&rng); /* biases */
#define FILL(off, n, expr) for (size_t i_ = 0; i_ < (size_t)(n); i_++) w[(off) + i_] = (expr)
    FILL(m->wte, (size_t)c->V * d, ds_rng_normal(&rng));
    for (int l = 0; l < c->L; l++) {
        const ds_layer_offsets *o = &m->layer[l];
        FILL(o->ln1_w, d, 1.0f + 0.2f * ds_rng_normal(&rng));
        FILL(o->ln2_w, d, 1.0f + 0.2f * ds_rng_normal(&rng));
        if (c->block == DS_BLOCK_LLAMA) {
            size_t q = d + 2 * (size_t)c->K * c->hd, F = (size_t)c->F;
            FILL(o->qkv_w, q * d, ds_rng_normal(&rng) / sqrtf((float)d));
            FILL(o->attn_out_w, d * d, ds_rng_normal(&rng) / sqrtf((float)d));
            FILL(o->fc_w, 2 * F * d, ds_rng_normal(&rng) / sqrtf((float)d));
            FILL(o->fc_out_w, F * d, ds_rng_normal(&rng) / sqrtf((float)F));
            continue;
        }
        FILL(o->qkv_w, 3 * d * d, ds_rng_normal(&rng) / sqrtf((float)d));
        FILL(o->attn_out_w, d * d, ds_rng_normal(&rng) / sqrtf((float)d));
        FILL(o->fc_w, 4 * d * d, ds_rng_normal(&rng) / sqrtf((float)d));
        FILL(o->fc_out_w, 4 * d * d, ds_rng_normal(&rng) / sqrtf(4.0f * (float)d));
    }
    FILL(m->lnf_w, d, 1.0f + 0.2f * ds_rng_normal(&rng));
    if (m->head_w != m->wte) FILL(m->head_w, (size_t)c->V * d, ds_rng_normal(&rng) / sqrtf((float)d));
#undef FILL
}

/* Rows first_row.. of each replica (seed 100 + r) into tokens/mask [R][B][T+1],
 * and the model's view of them into inputs/targets/maskf [R][B][T]. */
static void make_batch(const ds_task_spec *ts, uint64_t first_row, int32_t *tokens, uint8_t *mask,
                       int32_t *inputs, int32_t *targets, float *maskf) {
    const ds_task_ops *ops = ds_task_get(ts);
    for (int r = 0; r < R; r++)
        for (int b = 0; b < B; b++) {
            size_t row = (size_t)r * B + (size_t)b;
            int32_t *tk = tokens + row * (T + 1);
            uint8_t *mk = mask + row * (T + 1);
            ops->train_row(ts, 100 + (uint64_t)r, first_row + (uint64_t)b, T + 1, tk, mk);
            for (int t = 0; t < T; t++) {
                inputs[row * T + (size_t)t] = tk[t];
                targets[row * T + (size_t)t] = tk[t + 1];
                maskf[row * T + (size_t)t] = (float)mk[t + 1];
            }
        }
}

int main(int argc, char **argv) {
    int llama = argc == 6 && !strcmp(argv[2], "llama");
    if (!llama && ((argc != 4 && argc != 5) || (strcmp(argv[2], "parallel") && strcmp(argv[2], "sequential")))) {
        fprintf(stderr, "usage: test_vs_torch OUT.bin parallel|sequential ROTARY_FRAC [VOCAB]\n"
                        "       test_vs_torch OUT.bin llama KV_HEADS QKV_BIAS TIE\n");
        return DS_EXIT_USAGE;
    }
    double rf = llama ? 1.0 : atof(argv[3]);
    int hd = llama ? 16 : HD;
    int rc = DS_EXIT_ERROR;
    ds_error err = {0};
    ds_backend *be = NULL;
    ds_model *m = NULL;
    FILE *f = NULL;
    float *buf = NULL;

    ds_task_spec ts = {0};
    ts.kind = DS_TASK_COUNT;
    ts.vocab = !llama && argc == 5 ? atoi(argv[4]) : VOCAB;
    if (ts.vocab < 8) {
        fprintf(stderr, "test_vs_torch: VOCAB %s: at least 8\n", argv[4]);
        return DS_EXIT_USAGE;
    }
    ts.train_min = 1;
    ts.train_max = 6;
    ds_model_config c = {0};
    c.R = R; c.B = B; c.T = T; c.d = D; c.L = NL; c.hd = hd; c.H = D / hd;
    c.V = ds_task_get(&ts)->vocab_total(&ts);
    c.rot = ((int)(rf * hd)) & ~1;
    c.block = llama ? DS_BLOCK_LLAMA : strcmp(argv[2], "parallel") ? DS_BLOCK_SEQUENTIAL : DS_BLOCK_PARALLEL;
    if (llama) {
        c.K = atoi(argv[3]);
        c.qkv_bias = atoi(argv[4]);
        c.tie = atoi(argv[5]);
        c.F = 96;
    }
    c.rope_base = 10000.0f; c.ln_eps = 1e-5f; c.init_std = 0.02f;
    ds_train_spec tr = {0};
    tr.steps = STEPS; tr.batch = B; tr.context = T + 1; tr.lr = 1e-3; tr.warmup = 2;
    tr.weight_decay = 0.1;
    tr.grad_clip = 3.0; /* gradient norms here run 2..4: some steps clipped, some not */
    tr.beta1 = 0.9; tr.beta2 = 0.999; tr.adam_eps = 1e-8;

    ds_backend_opts bo = {.kind = DS_BACKEND_CPU};
    if (ds_backend_create(&bo, &be, &err) || ds_model_create(&c, be, &m, &err)) {
        fprintf(stderr, "test_vs_torch: %s\n", err.msg);
        goto done;
    }
    const size_t P = m->P, V = (size_t)c.V;
    if (P != ds_model_params(&c) || (!llama && P != ds_model_param_count(D, NL, c.V))) {
        fprintf(stderr, "test_vs_torch: P mismatch\n");
        goto done;
    }
    /* everything recorded, in one arena of 4-byte elements (floats and int32) */
    size_t n_bt = (size_t)R * B * T, n_tok = (size_t)R * B * (T + 1);
    size_t need = 2 * R * P + n_bt * V + (2 * STEPS + 1) * R * P + 3 * (STEPS + 1) * n_bt +
                  n_tok * 2 + STEPS * R + R;
    buf = calloc(need, sizeof(float));
    if (!buf) goto done;
    float *p0 = buf, *grads = p0 + R * P, *logits = grads + R * P;
    float *sp = logits + n_bt * V, *sg = sp + (STEPS + 1) * R * P;
    float *maskf = sg + STEPS * R * P, *sl = maskf + (STEPS + 1) * n_bt, *loss = sl + STEPS * R;
    int32_t *inputs = (int32_t *)(loss + R), *targets = inputs + (STEPS + 1) * n_bt;
    int32_t *tokens = targets + (STEPS + 1) * n_bt;
    uint8_t *mask = (uint8_t *)(tokens + n_tok); /* n_tok bytes inside the last n_tok slots */

    ds_model_init_replica(m, 0, 7);
    ds_model_init_replica(m, 1, 8);
    o1_params(m, p0 + P);
    ds_model_set_params(m, 1, p0 + P);
    ds_model_get_params(m, 0, p0);

    /* forward + backward on rows 0..B-1 */
    make_batch(&ts, 0, tokens, mask, inputs, targets, maskf);
    ds_model_set_batch(m, tokens, mask, B, T);
    ds_model_forward(m, loss);
    ds_model_backward(m);
    for (int r = 0; r < R; r++) {
        ds_model_get_logits(m, r, logits + (size_t)r * B * T * V);
        ds_model_get_grads(m, r, grads + (size_t)r * P);
    }

    /* 10 AdamW steps on rows (s+1)*B .. */
    uint8_t active[R] = {1, 1};
    float gnorm[R];
    for (int s = 0; s < STEPS; s++) {
        size_t o = (size_t)(s + 1) * n_bt;
        make_batch(&ts, (uint64_t)(s + 1) * B, tokens, mask, inputs + o, targets + o, maskf + o);
        for (int r = 0; r < R; r++) ds_model_get_params(m, r, sp + ((size_t)s * R + r) * P);
        ds_model_set_batch(m, tokens, mask, B, T);
        ds_model_forward(m, sl + (size_t)s * R);
        ds_model_backward(m);
        for (int r = 0; r < R; r++) ds_model_get_grads(m, r, sg + ((size_t)s * R + r) * P);
        ds_optim_step(m, &tr, s, active, gnorm);
        if (!active[0] || !active[1]) {
            fprintf(stderr, "test_vs_torch: a replica diverged at step %d\n", s);
            goto done;
        }
    }
    for (int r = 0; r < R; r++) ds_model_get_params(m, r, sp + ((size_t)STEPS * R + r) * P);

    f = fopen(argv[1], "wb");
    if (!f) {
        perror(argv[1]);
        goto done;
    }
    double cfgv[] = {c.V, D, hd, NL, (double)c.block, rf, c.rope_base,
                     c.ln_eps, R, B, T, tr.lr, tr.weight_decay, (double)tr.warmup,
                     (double)tr.steps, tr.grad_clip, tr.beta1, tr.beta2, tr.adam_eps, STEPS,
                     c.K, c.F, c.qkv_bias, c.tie};
    int64_t dcfg[] = {(int64_t)(sizeof cfgv / sizeof cfgv[0])};
    int64_t dRP[] = {R, (int64_t)P}, dRBT[] = {R, B, T}, dR[] = {R};
    int64_t dlog[] = {R, B, T, (int64_t)V}, dS[] = {STEPS, R, B, T};
    int64_t dSR[] = {STEPS, R}, dSRP[] = {STEPS, R, (int64_t)P}, dS1RP[] = {STEPS + 1, R, (int64_t)P};
    if (fwrite("DSTREF01", 1, 8, f) != 8 || put(f, "config", 2, 1, dcfg, cfgv) ||
        put(f, "params0", 0, 2, dRP, p0) || put(f, "inputs", 1, 3, dRBT, inputs) ||
        put(f, "targets", 1, 3, dRBT, targets) || put(f, "mask", 0, 3, dRBT, maskf) ||
        put(f, "loss", 0, 1, dR, loss) || put(f, "logits", 0, 4, dlog, logits) ||
        put(f, "grads", 0, 2, dRP, grads) || put(f, "step_inputs", 1, 4, dS, inputs + n_bt) ||
        put(f, "step_targets", 1, 4, dS, targets + n_bt) ||
        put(f, "step_mask", 0, 4, dS, maskf + n_bt) || put(f, "step_loss", 0, 2, dSR, sl) ||
        put(f, "step_grads", 0, 3, dSRP, sg) || put(f, "step_params", 0, 3, dS1RP, sp)) {
        perror(argv[1]);
        goto done;
    }
    if (fclose(f)) {
        f = NULL;
        perror(argv[1]);
        goto done;
    }
    f = NULL;
    rc = 0;
done:
    if (f) fclose(f);
    free(buf);
    if (m) ds_model_free(m);
    if (be) be->destroy(be);
    return rc;
}
