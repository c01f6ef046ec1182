/* Every op of the CUDA backend against the CPU backend on random inputs:
 * R = 3 replicas, odd sizes, weights at a replica stride ws larger than the
 * tensor (as in the model's flat parameter vector), "+=" outputs pre-filled
 * with random values (the accumulation is checked too) and "=" outputs
 * pre-filled with garbage (every element must be written).
 *
 * Tolerances, in the scaled error of gpu_compare.h (max abs difference over
 * max abs reference). fp32 has unit roundoff u = 2^-24 = 6e-8. A length-K
 * reduction summed in another order (cuBLAS's tiles, warp trees, FMA
 * contraction) differs by about sqrt(K) u sum|terms| for random signs, and
 * with random-sign terms sum|terms| is about sqrt(K) times the output
 * scale, so the scaled error is about K u: 6e-6 for K = 97. The reductions
 * below are checked at 1e-5 (K <= 97), attention (two chained reductions of
 * length T <= 70 plus exp) at 2e-5; elementwise ops differ by a few ulp
 * (CUDA's expf/erff against the CPU's Cephes expf and A&S erf, abs error
 * 1.5e-7) and are checked at 2e-6; the double-accumulated reductions
 * (cross-entropy's log-sum-exp, weighted_sum, sumsq) at 1e-6 / 1e-12. The
 * embedding backward adds a token's rows in groups of 16 before adding them
 * to the gradient (a few terms per sum here): 1e-6.
 *
 * argv[1] = tf32 or bf16 runs every op with both backends at that precision
 * (docs/engine.md "Precision"; the element-wise ops are the fp32 ones). Both
 * round the same operands to the same bits (one rule, src/precision.h), and
 * a product of two rounded values is exact in fp32, so the products again
 * differ only in the order of fp32 accumulation:
 * - the linear layers run on TF32 tensor cores, whose fp32 accumulation
 *   truncates rather than rounds (Fasi et al. 2021, "Numerical behavior of
 *   NVIDIA tensor cores"): twice the fp32 tolerances. A rounding missed or
 *   misplaced gives a scaled error of about the unit roundoff u_p (4.9e-4 at
 *   tf32, 3.9e-3 at bf16), 20 to 400 times that.
 * - attention: its probabilities come from CUDA's expf and the CPU's Cephes
 *   expf, an ulp or two apart; now and then the two round one probability
 *   (or one dS) to neighbouring narrow values. One such flip moves one term
 *   of a row's sum by at most u_p times the largest term: every element
 *   within fp32's 2e-5 plus u_p (forward) or 2 u_p (backward, where dS and P
 *   flip), and the median row (one head's hd outputs at one position)
 *   within fp32's 2e-5, which a rounding done wrongly exceeds in every row. */
#include <stdlib.h>

#include "gpu_compare.h"

enum { R = 3 };

/* the precision of both backends (argv[1]) and its unit roundoff */
static ds_precision PREC = DS_PREC_FP32;
static double UP = 0x1p-24;

static float *rnd(size_t n, uint64_t seed, float lo, float hi) {
    float *x = DS_MALLOC(sizeof(float) * n);
    fill_uniform(x, n, seed, lo, hi);
    return x;
}
static float *dup(const float *x, size_t n) {
    float *y = DS_MALLOC(sizeof(float) * n);
    memcpy(y, x, sizeof(float) * n);
    return y;
}
/* a device buffer of n floats filled with garbage (NaN bits) */
static float *dev_garbage(ds_backend *g, size_t n) {
    float *h = DS_MALLOC(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) h[i] = NAN;
    float *d = dev_from(g, h, sizeof(float) * n);
    free(h);
    return d;
}

static void test_encoder(ds_backend *c, ds_backend *g) {
    int N = 97, C = 37, V = 29;
    size_t ws = (size_t)V * C + 11;
    float *wte = rnd(R * ws, 1, -1, 1);
    int32_t tok[R * 97];
    fill_tokens(tok, R * N, 2, V);
    float *out = DS_MALLOC(sizeof(float) * R * N * C);
    c->encoder_fwd(c, out, tok, wte, ws, R, N, C);
    float *dwte = dev_from(g, wte, sizeof(float) * R * ws), *dout = dev_garbage(g, R * N * C);
    int32_t *dtok = dev_from(g, tok, sizeof tok);
    g->encoder_fwd(g, dout, dtok, dwte, ws, R, N, C);
    CHECK_CLOSE("encoder_fwd", g, dout, out, (size_t)R * N * C, 0.0);
    /* backward: += into a non-zero gradient; repeated tokens are frequent (N > V) */
    float *grad = rnd(R * ws, 3, -1, 1), *dgrad = dev_from(g, grad, sizeof(float) * R * ws);
    float *go = rnd((size_t)R * N * C, 4, -1, 1), *dgo = dev_from(g, go, sizeof(float) * R * N * C);
    c->encoder_bwd(c, grad, ws, go, tok, R, N, C, V);
    g->encoder_bwd(g, dgrad, ws, dgo, dtok, R, N, C, V);
    CHECK_CLOSE("encoder_bwd (+=)", g, dgrad, grad, R * ws, 1e-6);
    free(wte); free(out); free(grad); free(go);
    g->free(g, dwte); g->free(g, dout); g->free(g, dtok); g->free(g, dgrad); g->free(g, dgo);
}

static void test_layernorm(ds_backend *c, ds_backend *g) {
    int N = 97, C = 37;
    size_t ws = 2 * C + 5, nx = (size_t)R * N * C;
    float *x = rnd(nx, 5, -2, 3), *wb = rnd(R * ws, 6, 0.5f, 1.5f);
    float *out = DS_MALLOC(sizeof(float) * nx), *mean = DS_MALLOC(sizeof(float) * R * N),
          *rstd = DS_MALLOC(sizeof(float) * R * N);
    c->layernorm_fwd(c, out, mean, rstd, x, wb, wb + C, ws, R, N, C, 1e-5f);
    float *dx = dev_from(g, x, sizeof(float) * nx), *dwb = dev_from(g, wb, sizeof(float) * R * ws);
    float *dout = dev_garbage(g, nx), *dmean = dev_garbage(g, R * N), *drstd = dev_garbage(g, R * N);
    g->layernorm_fwd(g, dout, dmean, drstd, dx, dwb, dwb + C, ws, R, N, C, 1e-5f);
    CHECK_CLOSE("layernorm_fwd out", g, dout, out, nx, 1e-5);
    CHECK_CLOSE("layernorm_fwd mean", g, dmean, mean, (size_t)R * N, 1e-5);
    CHECK_CLOSE("layernorm_fwd rstd", g, drstd, rstd, (size_t)R * N, 1e-5);
    /* backward from the CPU's saved statistics on both sides */
    float *go = rnd(nx, 7, -1, 1), *dinp = rnd(nx, 8, -1, 1), *gw = rnd(R * ws, 9, -1, 1);
    float *dgo = dev_from(g, go, sizeof(float) * nx), *ddinp = dev_from(g, dinp, sizeof(float) * nx),
          *dgw = dev_from(g, gw, sizeof(float) * R * ws);
    g->upload(g, dmean, mean, sizeof(float) * R * N);
    g->upload(g, drstd, rstd, sizeof(float) * R * N);
    c->layernorm_bwd(c, dinp, gw, gw + C, ws, go, x, wb, mean, rstd, R, N, C);
    g->layernorm_bwd(g, ddinp, dgw, dgw + C, ws, dgo, dx, dwb, dmean, drstd, R, N, C);
    CHECK_CLOSE("layernorm_bwd dinp (+=)", g, ddinp, dinp, nx, 1e-5);
    CHECK_CLOSE("layernorm_bwd dw,db (+=)", g, dgw, gw, R * ws, 1e-5);
    free(x); free(wb); free(out); free(mean); free(rstd); free(go); free(dinp); free(gw);
    g->free(g, dx); g->free(g, dwb); g->free(g, dout); g->free(g, dmean); g->free(g, drstd);
    g->free(g, dgo); g->free(g, ddinp); g->free(g, dgw);
}

/* N = 97: one product per replica; N = 4096: the weight gradient is split
 * into 16 row chunks of 256 (dw_split), summed in order (tolerance 3e-5: a
 * length-4096 reduction, about sqrt(K/2) u = 3e-6 typical, max over 6,000
 * elements). */
static void test_matmul(ds_backend *c, ds_backend *g, int with_bias, int N) {
    int C = 37, OC = 53;
    double tol = (N > 1000 ? 3e-5 : 1e-5) * (PREC == DS_PREC_FP32 ? 1 : 2);
    printf(" matmul N=%d C=%d OC=%d%s\n", N, C, OC, with_bias ? " with bias" : "");
    size_t ws = (size_t)OC * C + OC + 7, nx = (size_t)R * N * C, ny = (size_t)R * N * OC;
    float *x = rnd(nx, 10, -1, 1), *w = rnd(R * ws, 11, -0.5f, 0.5f);
    const float *b = with_bias ? w + (size_t)OC * C : NULL;
    float *y = DS_MALLOC(sizeof(float) * ny);
    c->matmul_fwd(c, y, x, w, b, ws, R, N, C, OC);
    float *dx = dev_from(g, x, sizeof(float) * nx), *dw = dev_from(g, w, sizeof(float) * R * ws);
    float *dy = dev_garbage(g, ny);
    g->matmul_fwd(g, dy, dx, dw, with_bias ? dw + (size_t)OC * C : NULL, ws, R, N, C, OC);
    CHECK_CLOSE(with_bias ? "matmul_fwd (bias)" : "matmul_fwd (no bias)", g, dy, y, ny, tol);
    float *go = rnd(ny, 12, -1, 1), *gw = rnd(R * ws, 13, -1, 1), *gin = DS_MALLOC(sizeof(float) * nx);
    float *dgo = dev_from(g, go, sizeof(float) * ny), *dgw = dev_from(g, gw, sizeof(float) * R * ws);
    float *dgin = dev_garbage(g, nx);
    c->matmul_bwd(c, gin, gw, with_bias ? gw + (size_t)OC * C : NULL, ws, go, x, w, R, N, C, OC);
    g->matmul_bwd(g, dgin, dgw, with_bias ? dgw + (size_t)OC * C : NULL, ws, dgo, dx, dw, R, N, C, OC);
    CHECK_CLOSE("matmul_bwd dinp (=)", g, dgin, gin, nx, tol);
    CHECK_CLOSE("matmul_bwd dw,db (+=)", g, dgw, gw, R * ws, tol);
    free(x); free(w); free(y); free(go); free(gw); free(gin);
    g->free(g, dx); g->free(g, dw); g->free(g, dy); g->free(g, dgo); g->free(g, dgw); g->free(g, dgin);
}

/* Shapes: hd <= 128 runs the tiled kernels (16-row query tiles, 32-row key
 * tiles: T = 37 and 70 end in partial tiles), hd > 128 the warp-per-row ones. */
static void test_rope_attention(ds_backend *c, ds_backend *g, int B, int T, int H, int hd, int rot) {
    int C = H * hd;
    printf(" attention B=%d T=%d H=%d hd=%d rot=%d\n", B, T, H, hd, rot);
    size_t nq = (size_t)R * B * T * 3 * C, no = (size_t)R * B * T * C, nl = (size_t)R * B * H * T;
    char name[64];
    float *qkv = rnd(nq, 20 + rot + hd, -1.5f, 1.5f);
    float *dq = dev_from(g, qkv, sizeof(float) * nq);
    c->rope_fwd(c, qkv, R, B, T, H, hd, rot, 10000.0f);
    g->rope_fwd(g, dq, R, B, T, H, hd, rot, 10000.0f);
    snprintf(name, sizeof name, "rope_fwd rot %d", rot);
    CHECK_CLOSE(name, g, dq, qkv, nq, 2e-6);
    g->upload(g, dq, qkv, sizeof(float) * nq);
    float *out = DS_MALLOC(sizeof(float) * no), *lse = DS_MALLOC(sizeof(float) * nl);
    c->attention_fwd(c, out, lse, qkv, R, B, T, H, hd);
    float *dout = dev_garbage(g, no), *dlse = dev_garbage(g, nl);
    g->attention_fwd(g, dout, dlse, dq, R, B, T, H, hd);
    if (PREC == DS_PREC_FP32) CHECK_CLOSE("attention_fwd out", g, dout, out, no, 2e-5);
    else CHECK_CLOSE_ROWS("attention_fwd out", g, dout, out, no, (size_t)hd, 2e-5, 2e-5 + UP);
    CHECK_CLOSE("attention_fwd lse", g, dlse, lse, nl, 2e-5);
    /* backward from the CPU's out and lse on both sides */
    g->upload(g, dout, out, sizeof(float) * no);
    g->upload(g, dlse, lse, sizeof(float) * nl);
    float *go = rnd(no, 30, -1, 1), *dgo = dev_from(g, go, sizeof(float) * no);
    float *gq = DS_MALLOC(sizeof(float) * nq), *dgq = dev_garbage(g, nq);
    c->attention_bwd(c, gq, go, qkv, out, lse, R, B, T, H, hd);
    g->attention_bwd(g, dgq, dgo, dq, dout, dlse, R, B, T, H, hd);
    if (PREC == DS_PREC_FP32) CHECK_CLOSE("attention_bwd dqkv (=)", g, dgq, gq, nq, 2e-5);
    else CHECK_CLOSE_ROWS("attention_bwd dqkv (=)", g, dgq, gq, nq, (size_t)hd, 2e-5, 2e-5 + 2 * UP);
    g->upload(g, dgq, gq, sizeof(float) * nq);
    c->rope_bwd(c, gq, R, B, T, H, hd, rot, 10000.0f);
    g->rope_bwd(g, dgq, R, B, T, H, hd, rot, 10000.0f);
    snprintf(name, sizeof name, "rope_bwd rot %d", rot);
    CHECK_CLOSE(name, g, dgq, gq, nq, 2e-6);
    free(qkv); free(out); free(lse); free(go); free(gq);
    g->free(g, dq); g->free(g, dout); g->free(g, dlse); g->free(g, dgo); g->free(g, dgq);
}

static void test_elementwise(ds_backend *c, ds_backend *g) {
    size_t n = 3 * 1001 + 17;
    float *x = rnd(n, 40, -6, 6), *y = rnd(n, 41, -1, 1), *o = DS_MALLOC(sizeof(float) * n);
    float *dx = dev_from(g, x, sizeof(float) * n), *dy = dev_from(g, y, sizeof(float) * n),
          *dz = dev_garbage(g, n);
    c->gelu_fwd(c, o, x, n);
    g->gelu_fwd(g, dz, dx, n);
    CHECK_CLOSE("gelu_fwd", g, dz, o, n, 2e-6);
    c->gelu_bwd(c, o, x, y, n);
    g->gelu_bwd(g, dz, dx, dy, n);
    CHECK_CLOSE("gelu_bwd", g, dz, o, n, 2e-6);
    c->add(c, o, x, y, n);
    g->add(g, dz, dx, dy, n);
    CHECK_CLOSE("add", g, dz, o, n, 0.0);
    g->add(g, dx, dx, dy, n); /* in place, as the model's residual stream */
    CHECK_CLOSE("add in place", g, dx, o, n, 0.0);
    free(x); free(y); free(o);
    g->free(g, dx); g->free(g, dy); g->free(g, dz);
}

static void test_crossentropy(ds_backend *c, ds_backend *g) {
    int N = 97, V = 29;
    size_t nl = (size_t)R * N * V, nr = (size_t)R * N;
    float *lg = rnd(nl, 50, -4, 4);
    /* row 5 of replica 0: a tie for the maximum (first argmax wins); row 6: the
     * target is the maximum */
    int32_t tgt[R * 97];
    fill_tokens(tgt, nr, 51, V);
    lg[5 * V + 3] = lg[5 * V + 7] = 9.0f;
    tgt[5] = 7;
    lg[6 * V + tgt[6]] = 9.0f;
    float *wt = rnd(nr, 52, 0, 1);
    float *dl = dev_from(g, lg, sizeof(float) * nl), *dw = dev_from(g, wt, sizeof(float) * nr);
    int32_t *dt = dev_from(g, tgt, sizeof tgt);
    float *loss = DS_MALLOC(sizeof(float) * nr), *dloss = dev_garbage(g, nr);
    c->crossentropy_fwd(c, loss, lg, tgt, R, N, V);
    g->crossentropy_fwd(g, dloss, dl, dt, R, N, V);
    CHECK_CLOSE("crossentropy_fwd", g, dloss, loss, nr, 1e-6);
    float *ce = DS_MALLOC(sizeof(float) * 3 * nr), *dce = dev_garbage(g, 3 * nr);
    c->token_stats(c, ce, ce + nr, ce + 2 * nr, lg, tgt, R, N, V);
    g->token_stats(g, dce, dce + nr, dce + 2 * nr, dl, dt, R, N, V);
    CHECK_CLOSE("token_stats ce", g, dce, ce, nr, 1e-6);
    CHECK_CLOSE("token_stats pcorrect", g, dce + nr, ce + nr, nr, 1e-6);
    CHECK_CLOSE("token_stats correct", g, dce + 2 * nr, ce + 2 * nr, nr, 0.0);
    float *h = host_from(g, dce + 2 * nr, nr);
    CHECK(h[5] == 0.0f && h[6] == 1.0f); /* the tie goes to index 3, not the target 7 */
    free(h);
    /* backward, aliasing the logits as the model does */
    float *gl = dup(lg, nl);
    c->crossentropy_bwd(c, gl, gl, tgt, wt, R, N, V);
    g->crossentropy_bwd(g, dl, dl, dt, dw, R, N, V);
    CHECK_CLOSE("crossentropy_bwd (aliased)", g, dl, gl, nl, 1e-6);
    free(lg); free(wt); free(loss); free(ce); free(gl);
    g->free(g, dl); g->free(g, dw); g->free(g, dt); g->free(g, dloss); g->free(g, dce);
}

static void test_reductions(ds_backend *c, ds_backend *g) {
    size_t N = 70001; /* more than one GPU chunk */
    float *x = rnd(R * N, 60, -2, 2), *w = rnd(R * N, 61, 0, 1);
    for (size_t i = 0; i < R * N; i += 7) w[i] = 0.0f;
    x[14] = NAN; /* masked out (w[14] == 0): must not reach the sum, as on the CPU */
    float *dx = dev_from(g, x, sizeof(float) * R * N), *dw = dev_from(g, w, sizeof(float) * R * N);
    double sc[R], sg[R], *dsum = g->alloc(g, sizeof(double) * R);
    c->weighted_sum(c, sc, x, w, R, N);
    g->weighted_sum(g, dsum, dx, dw, R, N);
    g->download(g, sg, dsum, sizeof sg);
    for (int r = 0; r < R; r++) {
        printf("  weighted_sum[%d] cpu %.17g gpu %.17g\n", r, sc[r], sg[r]);
        CHECK_MSG(fabs(sg[r] - sc[r]) <= 1e-12 * fabs(sc[r]) + 1e-9, "weighted_sum replica %d", r);
    }
    x[14] = 1.5f;
    g->upload(g, dx, x, sizeof(float) * R * N);
    size_t n = N - 1000; /* a prefix of each replica's stride, as the optimizer's P */
    c->sumsq(c, sc, x, N, n, R);
    g->sumsq(g, dsum, dx, N, n, R);
    g->download(g, sg, dsum, sizeof sg);
    for (int r = 0; r < R; r++) {
        printf("  sumsq[%d] cpu %.17g gpu %.17g\n", r, sc[r], sg[r]);
        CHECK_MSG(fabs(sg[r] - sc[r]) <= 1e-12 * sc[r], "sumsq replica %d", r);
    }
    x[N + 3] = INFINITY; /* a non-finite element makes that replica's sum non-finite */
    g->upload(g, dx, x, sizeof(float) * R * N);
    g->sumsq(g, dsum, dx, N, n, R);
    g->download(g, sg, dsum, sizeof sg);
    CHECK(isfinite(sg[0]) && !isfinite(sg[1]) && isfinite(sg[2]));
    free(x); free(w);
    g->free(g, dx); g->free(g, dw); g->free(g, dsum);
}

/* step_guard on the same sums: the same bits as the CPU (IEEE sqrt and
 * division on both), with every way to freeze. */
static void test_step_guard(ds_backend *c, ds_backend *g) {
    enum { G = 6 };
    double lsum[G] = {2.5, 1e-3, INFINITY, 3.0, NAN, 0.7};
    double sq[G] = {4.0, 1e6, 1.0, NAN, 1.0, 1e-30};
    uint8_t act[G] = {1, 1, 1, 1, 1, 0}, act_g[G];
    float loss[G], gs[G], norm[G], loss_g[G], gs_g[G], norm_g[G];
    double *dl = dev_from(g, lsum, sizeof lsum), *dq = dev_from(g, sq, sizeof sq);
    uint8_t *da = dev_from(g, act, sizeof act);
    float *dloss = g->alloc(g, sizeof loss), *dgs = g->alloc(g, sizeof gs), *dn = g->alloc(g, sizeof norm);
    c->step_guard(c, loss, norm, gs, act, lsum, sq, G, 1.0f);
    g->step_guard(g, dloss, dn, dgs, da, dl, dq, G, 1.0f);
    g->download(g, loss_g, dloss, sizeof loss_g);
    g->download(g, gs_g, dgs, sizeof gs_g);
    g->download(g, norm_g, dn, sizeof norm_g);
    g->download(g, act_g, da, sizeof act_g);
    CHECK(memcmp(act, act_g, G) == 0 && memcmp(gs, gs_g, sizeof gs) == 0 &&
          memcmp(norm, norm_g, sizeof norm) == 0);
    for (int r = 0; r < G; r++)
        CHECK_MSG(isnan(loss[r]) ? isnan(loss_g[r]) : loss[r] == loss_g[r], "step_guard loss %d", r);
    CHECK(act[0] && act[1] && !act[2] && !act[3] && !act[4] && !act[5]);
    g->free(g, dl); g->free(g, dq); g->free(g, da); g->free(g, dloss); g->free(g, dgs); g->free(g, dn);
}

static void test_adamw(ds_backend *c, ds_backend *g) {
    size_t P = 4099;
    float *p = rnd(R * P, 70, -1, 1), *gr = rnd(R * P, 71, -0.1f, 0.1f), *m = rnd(R * P, 72, -0.01f, 0.01f),
          *v = rnd(R * P, 73, 0, 1e-4f);
    float *dp = dev_from(g, p, sizeof(float) * R * P), *dg = dev_from(g, gr, sizeof(float) * R * P),
          *dm = dev_from(g, m, sizeof(float) * R * P), *dv = dev_from(g, v, sizeof(float) * R * P);
    float *p0 = dup(p, R * P);
    float gs[R] = {1.0f, 0.25f, 1.0f};
    uint8_t act[R] = {1, 1, 0};
    float *dgs = dev_from(g, gs, sizeof gs);
    uint8_t *dact = dev_from(g, act, sizeof act);
    ds_adamw_args a = {2e-3f, gs, act, 0.9f, 0.999f, 1e-8f, 0.1f, 1.0f - 0.9f * 0.9f * 0.9f,
                       1.0f - 0.999f * 0.999f * 0.999f};
    c->adamw(c, p, gr, m, v, P, R, &a);
    a.gscale = dgs, a.active = dact;
    g->adamw(g, dp, dg, dm, dv, P, R, &a);
    g->free(g, dgs); g->free(g, dact);
    CHECK_CLOSE("adamw p", g, dp, p, R * P, 2e-6);
    CHECK_CLOSE("adamw m", g, dm, m, R * P, 2e-6);
    CHECK_CLOSE("adamw v", g, dv, v, R * P, 2e-6);
    float *h = host_from(g, dp + 2 * P, P);
    CHECK(memcmp(h, p0 + 2 * P, sizeof(float) * P) == 0); /* inactive replica untouched */
    free(h);
    free(p); free(gr); free(m); free(v); free(p0);
    g->free(g, dp); g->free(g, dg); g->free(g, dm); g->free(g, dv);
}

int main(int argc, char **argv) {
    PREC = test_precision_arg(argc, argv);
    UP = ds_precision_unit_roundoff(PREC);
    gpu_skip_if_none();
    ds_error err = {0};
    ds_backend *c = test_backend_prec(DS_BACKEND_CPU, 0, PREC), *g = test_backend_prec(DS_BACKEND_CUDA, 0, PREC);
    char name[256];
    if (ds_cuda_device_name(0, name, sizeof name, &err) == 0) printf("device: %s\n", name);
    printf("precision: %s (backends %s, %s)\n", ds_precision_name(PREC), c->name, g->name);
    test_encoder(c, g);
    test_layernorm(c, g);
    test_matmul(c, g, 1, 97);
    test_matmul(c, g, 0, 97);
    test_matmul(c, g, 1, 4096);
    test_rope_attention(c, g, 3, 37, 3, 20, 8);
    test_rope_attention(c, g, 3, 37, 3, 20, 20);
    test_rope_attention(c, g, 2, 70, 2, 64, 16);
    test_rope_attention(c, g, 1, 37, 1, 136, 8);
    test_elementwise(c, g);
    test_crossentropy(c, g);
    test_reductions(c, g);
    test_step_guard(c, g);
    test_adamw(c, g);
    g->destroy(g);
    c->destroy(c);
    TEST_MAIN_END();
}
