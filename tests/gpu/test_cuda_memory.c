/* The CUDA backend's memory model (src/devmem.h, docs/cuda.md "Memory model")
 * and exact causality on a GPU, against the CPU backend:
 *
 * 1. Long context: attention forward and backward at T = 2,048 (R = 2, B = 1,
 *    H = 2, hd = 32: 32 query blocks of 64), and a whole model (d 64, 1 layer,
 *    R = 2, batch 2 x 2,048) forward + backward, losses and gradients against
 *    the CPU. The old full-square scratch asked 256 T^2 (8 + 2 esz) bytes
 *    (12 GiB at fp32); the blocks stay under DS_DEVMEM_ATT_BUDGET.
 * 2. Many lengths: a pack's evaluation-like forwards at 153 distinct lengths
 *    T' = 1 ... 150 (4 rows) and 213, 320, 640 (fewer rows, longer than the
 *    capacity's T = 160, as evaluation allows), more shapes than the old
 *    MAX_PLANS = 128 allowed; every loss against the CPU, some gradients.
 * 3. Causality with non-finite values: a NaN and, separately, an Inf in the
 *    values, keys and queries of one position t0 (in the middle of a query
 *    block) of one batch row: every output and query gradient of an earlier
 *    position equals the CPU's and is finite (the keys' and values'
 *    gradients of earlier positions are non-finite on the CPU too: later
 *    rows reach them).
 *
 * The models are created with DISTSWEEP_CUDA_STRICT_MEM=1 (set here): a
 * buffer that would grow past what reserve() sized from src/devmem.h ends the
 * test (a sizing bug). argv[1]: fp32 (default), tf32 or bf16; the attention
 * path follows DISTSWEEP_CUDA_ATTENTION (ctest runs both). Tolerances: those
 * of test_cuda_ops / test_cuda_model widened by the unit roundoff u_p. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stdlib.h>

#include "gpu_compare.h"
#include "model.h"

static ds_precision PREC = DS_PREC_FP32;
static double UP = 0x1p-24;

static float *rnd(size_t n, uint64_t seed, float lo, float hi) {
    float *x = DS_MALLOC(sizeof(float) * n);
    fill_uniform(x, n, seed, lo, hi);
    return x;
}

/* max |a-b| / max |b| over rows [0, t0) of every (r, b) matrix of T rows of w floats */
static double err_before(const float *a, const float *b, int RB, int T, int t0, int w, int *nonfinite) {
    double md = 0, mb = 0;
    *nonfinite = 0;
    for (int m = 0; m < RB; m++)
        for (int t = 0; t < t0; t++)
            for (int c = 0; c < w; c++) {
                size_t i = ((size_t)m * T + t) * w + c;
                if (!isfinite(a[i])) (*nonfinite)++;
                double dd = fabs((double)a[i] - b[i]);
                md = dd > md ? dd : md;
                mb = fabs(b[i]) > mb ? fabs(b[i]) : mb;
            }
    return mb > 0 ? md / mb : md;
}

static void attention_case(ds_backend *c, ds_backend *g, int R, int B, int T, int H, int hd, int t0,
                           float bad) {
    int C = H * hd;
    size_t nq = (size_t)R * B * T * 3 * C, no = (size_t)R * B * T * C, nl = (size_t)R * B * H * T;
    printf(" attention R=%d B=%d T=%d H=%d hd=%d", R, B, T, H, hd);
    float *qkv = rnd(nq, 40 + T, -1.5f, 1.5f);
    if (t0 >= 0) {
        /* replica 0, batch row 0, position t0: q, k and v all non-finite */
        printf(", %g at position %d", bad, t0);
        for (int k = 0; k < 3 * C; k++) qkv[(size_t)t0 * 3 * C + k] = bad;
    }
    printf("\n");
    float *out = DS_MALLOC(sizeof(float) * no), *lse = DS_MALLOC(sizeof(float) * nl);
    c->attention_fwd(c, out, lse, qkv, R, B, T, H, hd);
    float *dq = dev_from(g, qkv, sizeof(float) * nq);
    float *dout = g->alloc(g, sizeof(float) * no), *dlse = g->alloc(g, sizeof(float) * nl);
    g->attention_fwd(g, dout, dlse, dq, R, B, T, H, hd);
    float *go = rnd(no, 31, -1, 1), *dgo = dev_from(g, go, sizeof(float) * no);
    float *gq = DS_MALLOC(sizeof(float) * nq), *dgq = g->alloc(g, sizeof(float) * nq);
    c->attention_bwd(c, gq, go, qkv, out, lse, R, B, T, H, hd);
    g->upload(g, dout, out, sizeof(float) * no);
    g->upload(g, dlse, lse, sizeof(float) * nl);
    g->attention_bwd(g, dgq, dgo, dq, dout, dlse, R, B, T, H, hd);
    /* the forward again on the GPU for its own output (the backward took the CPU's) */
    g->attention_fwd(g, dout, dlse, dq, R, B, T, H, hd);
    double tf = 2e-5 + UP, tb = 2e-5 + 2 * UP;
    if (t0 < 0) {
        /* everything (scaled_err: a NaN on one side only is +inf) */
        if (PREC == DS_PREC_FP32) {
            CHECK_CLOSE("attention_fwd out", g, dout, out, no, tf);
            CHECK_CLOSE("attention_bwd dqkv", g, dgq, gq, nq, tb);
        } else {
            CHECK_CLOSE_ROWS("attention_fwd out", g, dout, out, no, (size_t)hd, 2e-5, tf);
            CHECK_CLOSE_ROWS("attention_bwd dqkv", g, dgq, gq, nq, (size_t)hd, 2e-5, tb);
        }
        CHECK_CLOSE("attention_fwd lse", g, dlse, lse, nl, 2e-5);
    }
    if (t0 >= 0) {
        /* rows before t0 of every matrix: equal to the CPU's and finite */
        float *ho = host_from(g, dout, no), *hq = host_from(g, dgq, nq);
        int nf = 0, nfq = 0;
        double eo = err_before(ho, out, R * B, T, t0, C, &nf);
        /* the query gradient: columns 0..C-1 of each row of dqkv */
        double eq = 0, mq = 0, mb = 0;
        for (int m = 0; m < R * B; m++)
            for (int t = 0; t < t0; t++)
                for (int k = 0; k < C; k++) {
                    size_t i = ((size_t)m * T + t) * 3 * C + k;
                    if (!isfinite(hq[i])) nfq++;
                    double dd = fabs((double)hq[i] - gq[i]);
                    mq = dd > mq ? dd : mq;
                    mb = fabs(gq[i]) > mb ? fabs(gq[i]) : mb;
                }
        eq = mb > 0 ? mq / mb : mq;
        printf("  rows before %d: out error %.3g (%d non-finite), dq error %.3g (%d non-finite)\n", t0,
               eo, nf, eq, nfq);
        CHECK_MSG(nf == 0 && nfq == 0, "a non-finite value at position %d reached earlier rows", t0);
        CHECK_MSG(eo <= tf && eq <= tb, "rows before %d differ from the CPU: %g %g", t0, eo, eq);
        free(ho);
        free(hq);
    }
    free(qkv); free(out); free(lse); free(go); free(gq);
    g->free(g, dq); g->free(g, dout); g->free(g, dlse); g->free(g, dgo); g->free(g, dgq);
}

static ds_model *model_on(ds_backend *be, const ds_model_config *cfg) {
    ds_model *m = NULL;
    ds_error err = {0};
    if (ds_model_create(cfg, be, &m, &err)) {
        fprintf(stderr, "model: %s\n", err.msg);
        exit(1);
    }
    return m;
}

static ds_model_config small_cfg(int R, int B, int T) {
    ds_model_config c = {.R = R, .B = B, .T = T, .d = 64, .L = 1, .H = 2, .hd = 32, .V = 19,
                         .rot = 8, .block = DS_BLOCK_PARALLEL, .rope_base = 10000.0f,
                         .ln_eps = 1e-5f, .init_std = 0.1f, .prec = PREC};
    return c;
}

/* forward (+ backward) of both models at B x T, losses (and gradients) compared */
static void model_pass(ds_model *mc, ds_model *mg, int B, int T, int backward, uint64_t seed) {
    int R = mc->cfg.R;
    size_t nt = (size_t)R * B * (T + 1);
    int32_t *tok = DS_MALLOC(sizeof(int32_t) * nt);
    uint8_t *mask = DS_MALLOC(nt);
    fill_tokens(tok, nt, seed, mc->cfg.V);
    for (size_t i = 0; i < nt; i++) mask[i] = (tok[i] % 3) != 0;
    ds_model_set_batch(mc, tok, mask, B, T);
    ds_model_set_batch(mg, tok, mask, B, T);
    float lc[8], lg[8];
    ds_model_forward(mc, lc);
    ds_model_forward(mg, lg);
    for (int r = 0; r < R; r++)
        CHECK_MSG(fabs(lg[r] - lc[r]) <= (1e-5 + UP) * fabs(lc[r]),
                  "B %d T %d replica %d: loss cpu %.8f gpu %.8f", B, T, r, lc[r], lg[r]);
    if (backward) {
        ds_model_backward(mc);
        ds_model_backward(mg);
        float *hc = DS_MALLOC(sizeof(float) * mc->P), *hg = DS_MALLOC(sizeof(float) * mc->P);
        for (int r = 0; r < R; r++) {
            ds_model_get_grads(mc, r, hc);
            ds_model_get_grads(mg, r, hg);
            double e = scaled_err(hg, hc, mc->P);
            printf("  replica %d: loss cpu %.8f gpu %.8f, gradient scaled error %.3g\n", r, lc[r], lg[r], e);
            CHECK_MSG(e <= 1e-3 + 8 * UP, "gradients of replica %d: %g", r, e);
        }
        free(hc);
        free(hg);
    }
    free(tok);
    free(mask);
}

int main(int argc, char **argv) {
    PREC = test_precision_arg(argc, argv);
    UP = ds_precision_unit_roundoff(PREC);
    gpu_skip_if_none();
    setenv("DISTSWEEP_CUDA_STRICT_MEM", "1", 1);
    ds_backend *c = test_backend_prec(DS_BACKEND_CPU, 0, PREC), *g = test_backend_prec(DS_BACKEND_CUDA, 0, PREC);
    printf("precision: %s (backends %s, %s)\n", ds_precision_name(PREC), c->name, g->name);

    printf("1. long context\n");
    attention_case(c, g, 2, 1, 2048, 2, 32, -1, 0);
    {
        ds_model_config cfg = small_cfg(2, 2, 2048);
        ds_model *mc = model_on(c, &cfg), *mg = model_on(g, &cfg);
        for (int r = 0; r < cfg.R; r++) {
            ds_model_init_replica(mc, r, 7 + r);
            ds_model_init_replica(mg, r, 7 + r);
        }
        model_pass(mc, mg, 2, 2048, 1, 3);
        ds_model_free(mc);
        ds_model_free(mg);
    }

    printf("2. many lengths (153 shapes, more than the old 128 plans)\n");
    {
        ds_model_config cfg = small_cfg(2, 4, 160);
        ds_model *mc = model_on(c, &cfg), *mg = model_on(g, &cfg);
        for (int r = 0; r < cfg.R; r++) {
            ds_model_init_replica(mc, r, 11 + r);
            ds_model_init_replica(mg, r, 11 + r);
        }
        for (int T = 1; T <= 150; T++) model_pass(mc, mg, 4, T, T % 50 == 0, 100 + T);
        const int longer[] = {213, 320, 640};
        for (int k = 0; k < 3; k++) model_pass(mc, mg, 640 / longer[k], longer[k], 0, 300 + k);
        printf("  153 lengths: losses checked\n");
        ds_model_free(mc);
        ds_model_free(mg);
    }

    printf("3. causality with non-finite values\n");
    attention_case(c, g, 2, 2, 200, 2, 32, 100, NAN);
    attention_case(c, g, 2, 2, 200, 2, 32, 100, INFINITY);
    attention_case(c, g, 1, 1, 70, 1, 32, 3, INFINITY);
    g->destroy(g);
    c->destroy(c);
    TEST_MAIN_END();
}
