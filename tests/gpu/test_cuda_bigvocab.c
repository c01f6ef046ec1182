/* Large vocabularies on the CUDA backend (issue 26: Pythia's 50,304 and
 * Qwen2.5's 151,936): the embedding, the head and the cross-entropy at that
 * size, with token ids above 65,535 and V - 1.
 *
 * Without an argument (or fp32, tf32, bf16: both backends at that
 * precision, tolerances widened by the unit roundoff u_p as in
 * tests/gpu/test_cuda_model.c):
 * 1. Forward + backward of a pack of 2 against the CPU backend at V = 50,304
 *    and 151,936 (GPT-NeoX parallel block), and at 151,936 with block llama
 *    and tied embeddings (Qwen2.5's layout: the head's gradient and the
 *    embedding's add into one tensor); d 32, one layer, 2 rows of 9
 *    positions. The tolerances are test_cuda_model.c's: losses relative
 *    1e-5 + u_p (the log-sum-exp over V terms is a double sum on both
 *    backends), logits scaled error 1e-4 + u_p (products of 32 terms), the
 *    wte and head_w gradients 1e-3 + 8 u_p (fp32 sums in another order;
 *    a wrong row or offset gives errors of order 1). Row V - 1 of wte's
 *    gradient is compared on its own as well, at the same tolerance.
 * 2. One AdamW step (clipping on) from the same gradients on both (the CPU's
 *    uploaded into the GPU model, so that the step alone is compared): every
 *    parameter within scaled error 1e-6 (element-wise fp32 arithmetic, the
 *    GPU's FMA contraction: a few ulp of |p| and of lr; the clip factor from
 *    a double sum of squares in another order, equal to an ulp), then the
 *    losses of a forward pass after it as in 1.
 *
 * With the argument "big": two packs whose logits have more than 2^31
 * elements, on the GPU alone, so that any 32-bit product in an index over
 * them shows: R 8, B 2, T 1,023, V 151,936 (2.49e9 floats, 9.9 GB, as many
 * for their gradient, and the embedding backward's partial tables of
 * 64 x 8 x V x 32 = 2.49e9 floats), and R 1, B 16 (2.49e9 logits in one
 * replica: one GEMM's output and one crossentropy launch). In each, the loss, the evaluation's
 * cross-entropy and the logits' gradient of sampled rows (the last row of
 * the last replica, the row holding element 2^31, the first rows of the
 * first and last replicas) against the host's cross-entropy of the same
 * downloaded logits (double on both: relative 1e-6; the gradient within
 * scaled error 1e-6 of the row); the wte gradient of the last replica at
 * tokens V - 1, 65,536 and one unused token against the host's sum of the
 * embedding's output gradient over the positions holding them (sums of a
 * few hundred terms in another order: scaled error 1e-5; the unused row
 * exactly 0); and head_w's gradient rows 0 and V - 1 of the last replica
 * against the host's product of the downloaded dlogits and final norm
 * (2,046 or 16,368 terms: scaled error 1e-4). About 31 and 21 GB of device
 * memory, one pack at a time: where a pack cannot be allocated, it reports
 * SKIPPED with the allocation that failed (exit 77 when both did).
 *
 * Both set DISTSWEEP_CUDA_STRICT_MEM=1 (a request past the reservation of
 * src/devmem.h is fatal) and DISTSWEEP_CUDA_UNVERIFIED_BLOCK=1 (block llama
 * on cuda, as tests/gpu/test_cuda_llama.c). */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stdlib.h>

#include "gpu_compare.h"
#include "model.h"
#include "optim.h"
#include "sweep.h"

static ds_precision PREC = DS_PREC_FP32;
static double UP = 0;

static ds_backend *make(ds_backend_kind k) { return test_backend_prec(k, 0, PREC); }

/* The model of cfg on be; NULL where the pack's memory could not be
 * allocated and skip_nomem (its message printed), otherwise fatal. */
static ds_model *model_on(ds_backend *be, const ds_model_config *cfg, int skip_nomem) {
    ds_model *m = NULL;
    ds_error err = {0};
    if (ds_model_create(cfg, be, &m, &err)) {
        if (skip_nomem && err.nomem) {
            printf("SKIPPED: %s\n", err.msg);
            return NULL;
        }
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return m;
}

static ds_model_config small_cfg(int V, ds_block_kind block) {
    ds_model_config c = {0};
    c.R = 2;
    c.B = 2;
    c.T = 9;
    c.d = 32;
    c.L = 1;
    c.hd = 16;
    c.H = 2;
    c.V = V;
    c.rot = 16;
    c.block = block;
    if (block == DS_BLOCK_LLAMA) {
        c.K = 1;      /* grouped-query, as Qwen2.5 */
        c.F = 96;     /* 2F = 192 > 4d = 128: the wider MLP that src/devmem.c counts */
        c.qkv_bias = 1;
        c.tie = 1;
    }
    c.rope_base = 10000.0f;
    c.ln_eps = 1e-5f;
    c.init_std = 0.1f;
    c.prec = PREC;
    return c;
}

/* Tokens of R rows of B x (T+1): random below V, with V - 1, V - 2 and,
 * where V > 65,536, 65,535 and 65,536 as inputs (V - 1 twice within a group
 * of 16 positions: the embedding backward merges them) and V - 1 as a
 * target, in every replica. */
static void make_tokens(int32_t *tok, size_t nt, int R, int B, int T, int V, uint64_t seed) {
    fill_tokens(tok, nt, seed, V);
    for (int r = 0; r < R; r++) {
        int32_t *row = tok + (size_t)r * B * (T + 1);
        row[0] = V - 1;
        row[1] = V > 65536 ? 65535 : V - 3;
        row[2] = V > 65536 ? 65536 : V - 4;
        row[3] = V - 1;
        row[4] = V - 2;
        row[T] = V - 1; /* a target only */
    }
    tok[nt - 1] = V - 1; /* the last target of the last replica */
}

static void compare_grad(const char *name, const float *g, const float *c, size_t n, double tol) {
    double e = scaled_err(g, c, n);
    printf("    %-24s scaled error %.3g (tolerance %.1g)\n", name, e, tol);
    CHECK_MSG(e <= tol, "gradient %s: scaled error %g > %g", name, e, tol);
}

static void vs_cpu(int V, ds_block_kind block) {
    ds_model_config cfg = small_cfg(V, block);
    printf("V %d, %s block%s: forward, backward and one AdamW step vs the CPU\n", V,
           block == DS_BLOCK_LLAMA ? "llama" : "parallel", cfg.tie ? ", tied embeddings" : "");
    ds_backend *cb = make(DS_BACKEND_CPU), *gb = make(DS_BACKEND_CUDA);
    ds_model *mc = model_on(cb, &cfg, 0), *mg = model_on(gb, &cfg, 0);
    for (int r = 0; r < cfg.R; r++) {
        ds_model_init_replica(mc, r, 200 + r);
        ds_model_init_replica(mg, r, 200 + r);
    }
    int R = cfg.R, B = cfg.B, T = cfg.T, d = cfg.d;
    size_t nt = (size_t)R * B * (T + 1), P = mc->P, nl = (size_t)B * T * V, wn = (size_t)V * d;
    int32_t *tok = DS_MALLOC(sizeof(int32_t) * nt);
    uint8_t *mask = DS_MALLOC(nt);
    make_tokens(tok, nt, R, B, T, V, 31);
    for (size_t i = 0; i < nt; i++) mask[i] = i % 5 != 1; /* V - 1's target position stays scored */
    ds_model_set_batch(mc, tok, mask, B, T);
    ds_model_set_batch(mg, tok, mask, B, T);
    float lc[2], lg[2];
    ds_model_forward(mc, lc);
    ds_model_forward(mg, lg);
    ds_model_backward(mc);
    ds_model_backward(mg);
    float *hc = DS_MALLOC(sizeof(float) * (nl > P ? nl : P)), *hg = DS_MALLOC(sizeof(float) * (nl > P ? nl : P));
    for (int r = 0; r < R; r++) {
        printf("  replica %d: loss cpu %.8f gpu %.8f\n", r, lc[r], lg[r]);
        CHECK_MSG(fabs(lg[r] - lc[r]) <= (1e-5 + UP) * fabs(lc[r]), "loss of replica %d", r);
        ds_model_get_logits(mc, r, hc);
        ds_model_get_logits(mg, r, hg);
        double el = scaled_err(hg, hc, nl);
        printf("    %-24s scaled error %.3g (tolerance %.1g)\n", "logits", el, 1e-4 + UP);
        CHECK_MSG(el <= 1e-4 + UP, "logits of replica %d: scaled error %g", r, el);
        ds_model_get_grads(mc, r, hc);
        ds_model_get_grads(mg, r, hg);
        double tol = 1e-3 + 8 * UP;
        compare_grad(cfg.tie ? "wte (= head_w)" : "wte", hg + mc->wte, hc + mc->wte, wn, tol);
        compare_grad("wte row V-1", hg + mc->wte + (size_t)(V - 1) * d, hc + mc->wte + (size_t)(V - 1) * d,
                     (size_t)d, tol);
        if (!cfg.tie) compare_grad("head_w", hg + mc->head_w, hc + mc->head_w, wn, tol);
        compare_grad("all parameters", hg, hc, P, tol);
    }
    /* AdamW from the same gradients: the CPU's into the GPU model */
    for (int r = 0; r < R; r++) {
        ds_model_get_grads(mc, r, hc);
        gb->upload(gb, mg->grads + (size_t)r * P, hc, sizeof(float) * P);
    }
    ds_train_spec tr = {0};
    tr.steps = 10;
    tr.lr = 1e-3;
    tr.warmup = 0;
    tr.weight_decay = 0.1;
    tr.grad_clip = 1.0;
    tr.beta1 = 0.9;
    tr.beta2 = 0.95;
    tr.adam_eps = 1e-8;
    uint8_t ac[2] = {1, 1}, ag[2] = {1, 1};
    ds_optim_step(mc, &tr, 0, ac, NULL);
    ds_optim_step(mg, &tr, 0, ag, NULL);
    CHECK(ac[0] && ac[1] && ag[0] && ag[1]);
    for (int r = 0; r < R; r++) {
        ds_model_get_params(mc, r, hc);
        ds_model_get_params(mg, r, hg);
        double e = scaled_err(hg, hc, P);
        printf("  replica %d: parameters after one AdamW step: scaled error %.3g (tolerance 1e-06)\n", r, e);
        CHECK_MSG(e <= 1e-6, "AdamW step of replica %d: scaled error %g", r, e);
    }
    ds_model_forward(mc, lc);
    ds_model_forward(mg, lg);
    for (int r = 0; r < R; r++) {
        printf("  replica %d: loss after the step cpu %.8f gpu %.8f\n", r, lc[r], lg[r]);
        CHECK_MSG(fabs(lg[r] - lc[r]) <= (1e-5 + UP) * fabs(lc[r]), "loss after the step, replica %d", r);
    }
    free(hc); free(hg); free(tok); free(mask);
    ds_model_free(mc);
    ds_model_free(mg);
    cb->destroy(cb);
    gb->destroy(gb);
}

/* ------------------------------------------------------------------------ */
/* more than 2^31 logits */

/* The host's cross-entropy of one row of V logits at target t, in double
 * (the kernel's log-sum-exp is a double sum too), and its gradient
 * (softmax - onehot) * w into g. */
static double host_ce(const float *x, int V, int t, float w, float *g) {
    float mx = x[0];
    for (int j = 1; j < V; j++) mx = x[j] > mx ? x[j] : mx;
    double s = 0;
    for (int j = 0; j < V; j++) s += exp((double)x[j] - mx);
    double l = mx + log(s);
    for (int j = 0; j < V; j++) g[j] = (float)((exp((double)x[j] - l) - (j == t ? 1.0 : 0.0)) * w);
    return l - x[t];
}

/* One pack of R replicas of B rows of 1,023 positions at V = 151,936 (the
 * checks in the header); 77 where the pack does not fit the device. */
static int big(int R_, int B_) {
    ds_model_config cfg = small_cfg(151936, DS_BLOCK_PARALLEL);
    cfg.R = R_;
    cfg.B = B_;
    cfg.T = 1023;
    int R = cfg.R, B = cfg.B, T = cfg.T, V = cfg.V, d = cfg.d;
    size_t N = (size_t)B * T, rows = (size_t)R * N;
    printf("R %d, B %d, T %d, V %d: %zu logits (2^31 = %zu), %.1f GB\n", R, B, T, V, rows * V,
           (size_t)1 << 31, rows * V * 4.0 / 1e9);
    CHECK(rows * V > ((size_t)1 << 31));
    ds_backend *gb = make(DS_BACKEND_CUDA);
    ds_model *m = model_on(gb, &cfg, 1);
    if (!m) {
        gb->destroy(gb);
        return 77;
    }
    for (int r = 0; r < R; r++) ds_model_init_replica(m, r, 500 + r);
    size_t nt = (size_t)R * B * (T + 1);
    int32_t *tok = DS_MALLOC(sizeof(int32_t) * nt);
    uint8_t *mask = DS_MALLOC(nt);
    make_tokens(tok, nt, R, B, T, V, 41);
    memset(mask, 1, nt);
    ds_model_set_batch(m, tok, mask, B, T);
    float *loss = DS_MALLOC(sizeof(float) * R);
    ds_model_forward(m, loss);
    ds_model_backward(m);
    for (int r = 0; r < R; r++) CHECK_MSG(isfinite(loss[r]), "loss of replica %d: %g", r, loss[r]);
    /* the evaluation's statistics over the same logits */
    float *dstats = gb->alloc(gb, sizeof(float) * 3 * rows);
    CHECK(dstats != NULL);
    gb->token_stats(gb, dstats, dstats + rows, dstats + 2 * rows, m->act.logits, m->tgt, R, (int)N, V);
    float *tl = host_from(gb, m->act.tok_loss, rows), *ce = host_from(gb, dstats, rows);
    float *x = DS_MALLOC(sizeof(float) * V), *gx = DS_MALLOC(sizeof(float) * V), *hgx = DS_MALLOC(sizeof(float) * V);
    /* sampled rows: first, the one holding element 2^31, the last replica's first and last */
    size_t s31 = ((size_t)1 << 31) / V; /* (a pack of fewer logits: its middle row) */
    size_t sample[4] = {0, s31 < rows ? s31 : rows / 2, (size_t)(R - 1) * N, rows - 1};
    const float w = 1.0f / (float)N; /* every target scored */
    for (int k = 0; k < 4; k++) {
        size_t i = sample[k];
        int r = (int)(i / N), b = (int)(i % N / T), t = (int)(i % T);
        int tgt = tok[((size_t)r * B + b) * (T + 1) + t + 1];
        gb->download(gb, x, m->act.logits + i * V, sizeof(float) * V);
        gb->download(gb, gx, m->act.dlogits + i * V, sizeof(float) * V);
        double l = host_ce(x, V, tgt, w, hgx);
        double eg = scaled_err(gx, hgx, (size_t)V);
        printf("  row %zu (replica %d, logits from element %zu), target %d: loss gpu %.7f host %.7f, "
               "eval ce %.7f, dlogits scaled error %.3g\n", i, r, i * V, tgt, tl[i], l, ce[i], eg);
        CHECK_MSG(fabs(tl[i] - l) <= 1e-6 * fabs(l), "row %zu: loss %.9g, host %.9g", i, tl[i], l);
        CHECK_MSG(ce[i] == tl[i], "row %zu: token_stats ce %.9g, crossentropy_fwd %.9g", i, ce[i], tl[i]);
        CHECK_MSG(eg <= 1e-6, "row %zu: dlogits scaled error %g", i, eg);
    }
    /* the last replica's embedding gradient at V - 1, 65,536 and an unused token */
    float *pg = DS_MALLOC(sizeof(float) * m->P);
    ds_model_get_grads(m, R - 1, pg);
    int32_t *inp = DS_MALLOC(sizeof(int32_t) * N);
    gb->download(gb, inp, m->inp + (size_t)(R - 1) * N, sizeof(int32_t) * N);
    float *dres = host_from(gb, m->act.dres + (size_t)(R - 1) * N * d, N * (size_t)d);
    int32_t unused = -1;
    {
        uint8_t *seen = DS_CALLOC((size_t)V, 1);
        for (size_t n = 0; n < N; n++) seen[inp[n]] = 1;
        for (int v = V - 3; v >= 0 && unused < 0; v--)
            if (!seen[v]) unused = v;
        free(seen);
    }
    const int32_t probe[3] = {V - 1, 65536, unused};
    for (int k = 0; k < 3; k++) {
        float want[64] = {0};
        int count = 0;
        for (size_t n = 0; n < N; n++)
            if (inp[n] == probe[k]) {
                count++;
                for (int c = 0; c < d; c++) want[c] += dres[n * d + c];
            }
        const float *got = pg + m->wte + (size_t)probe[k] * d;
        double e = scaled_err(got, want, (size_t)d);
        printf("  wte gradient of the last replica, token %d (%d positions): scaled error %.3g\n",
               probe[k], count, e);
        if (count) {
            CHECK_MSG(e <= 1e-5, "wte gradient at token %d: scaled error %g", probe[k], e);
        } else {
            for (int c = 0; c < d; c++) CHECK_MSG(got[c] == 0.0f, "unused token %d: gradient %g", probe[k], got[c]);
        }
    }
    /* head_w's gradient rows 0 and V - 1 of the last replica: dlogits^T lnf */
    {
        float *lnf = host_from(gb, m->act.lnf + (size_t)(R - 1) * N * d, N * (size_t)d);
        float *col = DS_MALLOC(sizeof(float) * N);
        const int hv[2] = {0, V - 1};
        for (int k = 0; k < 2; k++) {
            for (size_t n = 0; n < N; n++)
                gb->download(gb, &col[n], m->act.dlogits + ((size_t)(R - 1) * N + n) * V + hv[k], sizeof(float));
            double want[64] = {0};
            for (size_t n = 0; n < N; n++)
                for (int c = 0; c < d; c++) want[c] += (double)col[n] * lnf[n * d + c];
            float wf[64];
            for (int c = 0; c < d; c++) wf[c] = (float)want[c];
            double e = scaled_err(pg + m->head_w + (size_t)hv[k] * d, wf, (size_t)d);
            printf("  head_w gradient of the last replica, row %d: scaled error %.3g\n", hv[k], e);
            CHECK_MSG(e <= 1e-4, "head_w gradient row %d: scaled error %g", hv[k], e);
        }
        free(lnf);
        free(col);
    }
    free(pg); free(inp); free(dres); free(tl); free(ce); free(x); free(gx); free(hgx);
    free(tok); free(mask); free(loss);
    gb->free(gb, dstats);
    ds_model_free(m);
    gb->destroy(gb);
    return 0;
}

int main(int argc, char **argv) {
    int big_case = argc > 1 && !strcmp(argv[1], "big");
    if (!big_case) {
        PREC = test_precision_arg(argc, argv);
        UP = PREC == DS_PREC_FP32 ? 0 : ds_precision_unit_roundoff(PREC);
    }
    gpu_skip_if_none();
    setenv("DISTSWEEP_CUDA_STRICT_MEM", "1", 1);
    setenv("DISTSWEEP_CUDA_UNVERIFIED_BLOCK", "1", 1); /* block llama on cuda (test_cuda_llama.c) */
    if (big_case) {
        /* 2^31 elements passed across replicas (and the embedding backward's
         * partial tables), then within one replica's logits (one GEMM output) */
        int skipped = big(8, 2) == 77;
        skipped += big(1, 16) == 77;
        if (skipped == 2) return 77;
        TEST_MAIN_END();
    }
    printf("precision: %s\n", ds_precision_name(PREC));
    vs_cpu(50304, DS_BLOCK_PARALLEL);
    vs_cpu(151936, DS_BLOCK_PARALLEL);
    vs_cpu(151936, DS_BLOCK_LLAMA);
    TEST_MAIN_END();
}
