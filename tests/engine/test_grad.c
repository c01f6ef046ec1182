/* test_grad: the CPU model against an independent double-precision reference.
 *
 * The reference below is a plain scalar transcription of docs/spec-tasks.md §3 in
 * double (no shared code with backend_cpu.c but the flat layout offsets of
 * model.h). For tiny shapes, both block kinds and rotary fractions 0.5 and 1,
 * and a pack of 2 replicas with different weights and data:
 *   - the engine's float loss equals the reference loss (rel 1e-5);
 *   - every one of the engine's parameter gradients equals the reference's
 *     central finite difference in double (h = 1e-5); float roundoff in the
 *     engine's backward bounds the error to ~1e-6 of the gradient scale, we
 *     allow 1e-4 of the largest gradient + 1e-3 relative;
 * so each op's backward (embedding, LN, linear, RoPE, attention, GELU, CE) is
 * checked through the parameters it feeds. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../backend_util.h"
#include "../test.h"
#include "backend.h"
#include "model.h"
#include "optim.h"
#include "rng.h"

typedef struct {
    const ds_model *m;
    int B, T;
    const int32_t *tok;  /* [B][T+1] */
    const uint8_t *mask; /* [B][T+1] */
} refctx;

static void ref_ln(double *y, const double *x, const double *w, const double *b, int C, double eps) {
    double mu = 0, var = 0;
    for (int c = 0; c < C; c++) mu += x[c];
    mu /= C;
    for (int c = 0; c < C; c++) var += (x[c] - mu) * (x[c] - mu);
    var /= C;
    for (int c = 0; c < C; c++) y[c] = (x[c] - mu) / sqrt(var + eps) * w[c] + b[c];
}

static void ref_linear(double *y, const double *x, const double *W, const double *b, int C, int OC) {
    for (int o = 0; o < OC; o++) {
        double s = b ? b[o] : 0;
        for (int c = 0; c < C; c++) s += W[(size_t)o * C + c] * x[c];
        y[o] = s;
    }
}

static double ref_loss(const refctx *rc, const double *p) {
    const ds_model *m = rc->m;
    const ds_model_config *c = &m->cfg;
    int d = c->d, H = c->H, hd = c->hd, V = c->V, T = rc->T, rot = c->rot;
    double *x = calloc((size_t)T * d, sizeof(double)), *h = calloc((size_t)T * 4 * d, sizeof(double));
    double *qkv = calloc((size_t)T * 3 * d, sizeof(double)), *att = calloc((size_t)T * d, sizeof(double));
    double *a1 = calloc((size_t)T * d, sizeof(double)), *a2 = calloc((size_t)T * d, sizeof(double));
    double *ln = calloc(4 * (size_t)d, sizeof(double)), *logit = calloc(V, sizeof(double));
    double num = 0, den = 0;
    for (int b = 0; b < rc->B; b++) {
        const int32_t *tk = rc->tok + (size_t)b * (T + 1);
        const uint8_t *mk = rc->mask + (size_t)b * (T + 1);
        for (int t = 0; t < T; t++)
            for (int i = 0; i < d; i++) x[t * d + i] = p[m->wte + (size_t)tk[t] * d + i];
        for (int l = 0; l < c->L; l++) {
            const ds_layer_offsets *lo = &m->layer[l];
            for (int t = 0; t < T; t++) {
                ref_ln(ln, x + t * d, p + lo->ln1_w, p + lo->ln1_b, d, c->ln_eps);
                ref_linear(qkv + (size_t)t * 3 * d, ln, p + lo->qkv_w, p + lo->qkv_b, d, 3 * d);
                for (int part = 0; part < 2; part++)
                    for (int hh = 0; hh < H; hh++) {
                        double *v = qkv + (size_t)t * 3 * d + part * d + hh * hd, tmp[64];
                        memcpy(tmp, v, sizeof(double) * hd);
                        for (int j = 0; j < rot / 2; j++) {
                            double ang = t * pow(c->rope_base, -2.0 * j / rot);
                            v[j] = tmp[j] * cos(ang) - tmp[j + rot / 2] * sin(ang);
                            v[j + rot / 2] = tmp[j + rot / 2] * cos(ang) + tmp[j] * sin(ang);
                        }
                    }
            }
            for (int hh = 0; hh < H; hh++)
                for (int i = 0; i < T; i++) {
                    double sc[256], mx = -1e300, sum = 0;
                    for (int j = 0; j <= i; j++) {
                        double s = 0;
                        for (int e = 0; e < hd; e++)
                            s += qkv[(size_t)i * 3 * d + hh * hd + e] * qkv[(size_t)j * 3 * d + d + hh * hd + e];
                        sc[j] = s / sqrt((double)hd);
                        mx = sc[j] > mx ? sc[j] : mx;
                    }
                    for (int j = 0; j <= i; j++) sum += (sc[j] = exp(sc[j] - mx));
                    for (int e = 0; e < hd; e++) {
                        double o = 0;
                        for (int j = 0; j <= i; j++) o += sc[j] / sum * qkv[(size_t)j * 3 * d + 2 * d + hh * hd + e];
                        att[(size_t)i * d + hh * hd + e] = o;
                    }
                }
            for (int t = 0; t < T; t++) ref_linear(a1 + t * d, att + t * d, p + lo->attn_out_w, p + lo->attn_out_b, d, d);
            if (c->block == DS_BLOCK_SEQUENTIAL)
                for (int i = 0; i < T * d; i++) x[i] += a1[i];
            for (int t = 0; t < T; t++) {
                ref_ln(ln, x + t * d, p + lo->ln2_w, p + lo->ln2_b, d, c->ln_eps);
                ref_linear(h + (size_t)t * 4 * d, ln, p + lo->fc_w, p + lo->fc_b, d, 4 * d);
                for (int i = 0; i < 4 * d; i++) {
                    double u = h[(size_t)t * 4 * d + i];
                    h[(size_t)t * 4 * d + i] = 0.5 * u * (1 + erf(u / sqrt(2.0)));
                }
                ref_linear(a2 + t * d, h + (size_t)t * 4 * d, p + lo->fc_out_w, p + lo->fc_out_b, 4 * d, d);
            }
            for (int i = 0; i < T * d; i++) x[i] += a2[i] + (c->block == DS_BLOCK_PARALLEL ? a1[i] : 0);
        }
        for (int t = 0; t < T; t++) {
            if (!mk[t + 1]) continue;
            ref_ln(ln, x + t * d, p + m->lnf_w, p + m->lnf_b, d, c->ln_eps);
            ref_linear(logit, ln, p + m->head_w, NULL, d, V);
            double mx = logit[0], s = 0;
            for (int v = 1; v < V; v++) mx = logit[v] > mx ? logit[v] : mx;
            for (int v = 0; v < V; v++) s += exp(logit[v] - mx);
            num += mx + log(s) - logit[tk[t + 1]];
            den += 1;
        }
    }
    free(x); free(h); free(qkv); free(att); free(a1); free(a2); free(ln); free(logit);
    return den ? num / den : 0;
}

static void check_config(ds_block_kind block, int rot) {
    ds_model_config c = {.R = 2, .B = 2, .T = 6, .d = 8, .L = 2, .H = 2, .hd = 4, .V = 7, .rot = rot,
                         .block = block, .rope_base = 10000.0f, .ln_eps = 1e-5f, .init_std = 0.02f};
    ds_backend *be = test_backend(DS_BACKEND_CPU, 2);
    ds_model *m = NULL;
    ds_error err = {0};
    CHECK(ds_model_create(&c, be, &m, &err) == 0);
    size_t P = m->P;
    CHECK(P == ds_model_param_count(8, 2, 7));
    int B = c.B, T = c.T;
    int32_t *tok = malloc(sizeof(int32_t) * c.R * B * (T + 1));
    uint8_t *mask = malloc((size_t)c.R * B * (T + 1));
    float **pf = malloc(sizeof(float *) * c.R);
    ds_rng rng;
    ds_rng_init(&rng, 7, DS_STREAM_TEST, (uint64_t)block * 10 + rot);
    for (int r = 0; r < c.R; r++) {
        pf[r] = malloc(sizeof(float) * P);
        for (size_t i = 0; i < P; i++) pf[r][i] = 0.4f * ds_rng_normal(&rng);
        for (int l = 0; l < c.L; l++) /* LN weights near 1 keep the signal sane */
            for (int i = 0; i < c.d; i++) {
                pf[r][m->layer[l].ln1_w + i] += 1.0f;
                pf[r][m->layer[l].ln2_w + i] += 1.0f;
            }
        ds_model_set_params(m, r, pf[r]);
        for (int i = 0; i < B * (T + 1); i++) {
            tok[(size_t)r * B * (T + 1) + i] = (int32_t)ds_rng_range(&rng, 0, c.V - 1);
            mask[(size_t)r * B * (T + 1) + i] = (i % (T + 1)) > 1 + r; /* differs per replica */
        }
    }
    float losses[2];
    ds_model_set_batch(m, tok, mask, B, T);
    ds_model_forward(m, losses);
    ds_model_backward(m);
    float *g = malloc(sizeof(float) * P);
    double *pd = malloc(sizeof(double) * P);
    for (int r = 0; r < c.R; r++) {
        refctx rc = {m, B, T, tok + (size_t)r * B * (T + 1), mask + (size_t)r * B * (T + 1)};
        for (size_t i = 0; i < P; i++) pd[i] = pf[r][i];
        double L0 = ref_loss(&rc, pd);
        CHECK_NEAR(losses[r], L0, 1e-5 * fabs(L0) + 1e-6);
        ds_model_get_grads(m, r, g);
        double gmax = 0;
        for (size_t i = 0; i < P; i++) gmax = fabs(g[i]) > gmax ? fabs(g[i]) : gmax;
        int bad = 0;
        double worst = 0;
        for (size_t i = 0; i < P; i++) {
            double h = 1e-5, keep = pd[i];
            pd[i] = keep + h;
            double lp = ref_loss(&rc, pd);
            pd[i] = keep - h;
            double lm = ref_loss(&rc, pd);
            pd[i] = keep;
            double fd = (lp - lm) / (2 * h), tol = 1e-4 * gmax + 1e-3 * fabs(fd);
            double e = fabs(g[i] - fd);
            if (e > worst) worst = e;
            if (e > tol && bad++ < 5)
                fprintf(stderr, "block %d rot %d replica %d param %zu: engine %.8g, finite diff %.8g\n",
                        block, rot, r, i, g[i], fd);
        }
        CHECK_MSG(bad == 0, "%d gradients off (block %d rot %d replica %d)", bad, block, rot, r);
        printf("block %s rot %d replica %d: loss %.6f (ref %.6f), max |grad| %.3g, worst abs err %.3g\n",
               block ? "sequential" : "parallel", rot, r, losses[r], L0, gmax, worst);
    }
    for (int r = 0; r < c.R; r++) free(pf[r]);
    free(pf); free(g); free(pd); free(tok); free(mask);
    ds_model_free(m);
    be->destroy(be);
}

/* The linear layer alone on long row counts (the row-chunked weight-gradient
 * path of the CPU backend, used from 2048 rows on) against double sums;
 * "+=" outputs start non-zero to check accumulation. */
static void check_matmul_long(int N) {
    int R = 2, C = 40, OC = 48;
    size_t ws = (size_t)OC * C + OC + 7; /* replica stride of a flat vector: W, b, slack */
    ds_backend *be = test_backend(DS_BACKEND_CPU, 2);
    float *x = malloc(sizeof(float) * R * N * C), *g = malloc(sizeof(float) * R * N * OC);
    float *p = malloc(sizeof(float) * R * ws), *dp = malloc(sizeof(float) * R * ws), *dp0 = malloc(sizeof(float) * R * ws);
    float *y = malloc(sizeof(float) * R * N * OC), *dx = malloc(sizeof(float) * R * N * C);
    ds_rng rng;
    ds_rng_init(&rng, 3, DS_STREAM_TEST, (uint64_t)N);
    for (size_t i = 0; i < (size_t)R * N * C; i++) x[i] = ds_rng_normal(&rng);
    for (size_t i = 0; i < (size_t)R * N * OC; i++) g[i] = ds_rng_normal(&rng);
    for (size_t i = 0; i < (size_t)R * ws; i++) {
        p[i] = ds_rng_normal(&rng);
        dp0[i] = dp[i] = ds_rng_normal(&rng);
    }
    be->matmul_fwd(be, y, x, p, p + (size_t)OC * C, ws, R, N, C, OC);
    be->matmul_bwd(be, dx, dp, dp + (size_t)OC * C, ws, g, x, p, R, N, C, OC);
    double worst_w = 0, worst_x = 0, worst_y = 0;
    for (int r = 0; r < R; r++) {
        const float *xr = x + (size_t)r * N * C, *gr = g + (size_t)r * N * OC, *pr = p + r * ws;
        for (int o = 0; o < OC; o++) {
            double sb = 0;
            for (int n = 0; n < N; n++) sb += gr[(size_t)n * OC + o];
            double e = fabs(dp[r * ws + (size_t)OC * C + o] - (dp0[r * ws + (size_t)OC * C + o] + sb));
            worst_w = e > worst_w ? e : worst_w;
            for (int c = 0; c < C; c++) {
                double s = 0;
                for (int n = 0; n < N; n++) s += (double)gr[(size_t)n * OC + o] * xr[(size_t)n * C + c];
                e = fabs(dp[r * ws + (size_t)o * C + c] - (dp0[r * ws + (size_t)o * C + c] + s));
                worst_w = e > worst_w ? e : worst_w;
            }
        }
        for (int n = 0; n < N; n += 37) {
            for (int c = 0; c < C; c++) {
                double s = 0;
                for (int o = 0; o < OC; o++) s += (double)gr[(size_t)n * OC + o] * pr[(size_t)o * C + c];
                double e = fabs(dx[((size_t)r * N + n) * C + c] - s);
                worst_x = e > worst_x ? e : worst_x;
            }
            for (int o = 0; o < OC; o++) {
                double s = pr[(size_t)OC * C + o];
                for (int c = 0; c < C; c++) s += (double)xr[(size_t)n * C + c] * pr[(size_t)o * C + c];
                double e = fabs(y[((size_t)r * N + n) * OC + o] - s);
                worst_y = e > worst_y ? e : worst_y;
            }
        }
    }
    /* sums of N (or 48, 40) unit-variance products: float error ~ sqrt(N) * 6e-8 * sqrt(N) */
    CHECK_MSG(worst_w < 2e-7 * N, "N=%d: weight/bias gradient off by %g", N, worst_w);
    CHECK_MSG(worst_x < 1e-4, "N=%d: input gradient off by %g", N, worst_x);
    CHECK_MSG(worst_y < 1e-4, "N=%d: output off by %g", N, worst_y);
    printf("linear layer, %d rows: worst abs error dW/db %.3g, dx %.3g, y %.3g\n", N, worst_w, worst_x, worst_y);
    free(x); free(g); free(p); free(dp); free(dp0); free(y); free(dx);
    be->destroy(be);
}

/* Causal attention alone on contexts longer than the CPU backend's query and
 * key blocks (one block, several, a ragged last one) against a double
 * transcription: out, the saved log-sum-exp, and dq, dk, dv for a random
 * upstream gradient, for a pack of 2 with 3 heads of hd 16 over B = 2. The
 * scores are O(1) and the probabilities sum to 1, so float roundoff bounds
 * each output near 1e-6 of its scale; we allow 2e-5 absolute. The backend's
 * AVX2 kernel and portable loops (DISTSWEEP_CPU_PORTABLE=avx2, =1) must give
 * the very same bits as the default (AVX-512) path. */
static void check_attention_long(int T) {
    int R = 2, B = 2, H = 3, hd = 16, C = H * hd;
    size_t nq = (size_t)R * B * T * 3 * C, no = (size_t)R * B * T * C;
    ds_backend *be = test_backend(DS_BACKEND_CPU, 2);
    float *qkv = malloc(sizeof(float) * nq), *dqkv = malloc(sizeof(float) * nq);
    float *out = malloc(sizeof(float) * no), *dout = malloc(sizeof(float) * no);
    float *lse = malloc(sizeof(float) * R * B * H * T);
    double *pr = malloc(sizeof(double) * T), *dp = malloc(sizeof(double) * T);
    double *dq = malloc(sizeof(double) * hd), *dk = calloc((size_t)T * hd, sizeof(double));
    double *dv = calloc((size_t)T * hd, sizeof(double));
    ds_rng rng;
    ds_rng_init(&rng, 5, DS_STREAM_TEST, (uint64_t)T);
    for (size_t i = 0; i < nq; i++) qkv[i] = 0.7f * ds_rng_normal(&rng);
    for (size_t i = 0; i < no; i++) dout[i] = ds_rng_normal(&rng);
    for (size_t i = 0; i < nq; i++) dqkv[i] = NAN; /* every entry must be written */
    be->attention_fwd(be, out, lse, qkv, R, B, T, H, hd);
    be->attention_bwd(be, dqkv, dout, qkv, out, lse, R, B, T, H, hd);
    double scale = 1.0 / sqrt((double)hd), worst_o = 0, worst_l = 0, worst_g = 0;
    for (int rb = 0; rb < R * B; rb++)
        for (int h = 0; h < H; h++) {
            const float *base = qkv + (size_t)rb * T * 3 * C;
            const float *dO = dout + (size_t)rb * T * C + h * hd;
            const float *dbase = dqkv + (size_t)rb * T * 3 * C;
            memset(dk, 0, sizeof(double) * T * hd);
            memset(dv, 0, sizeof(double) * T * hd);
            for (int i = 0; i < T; i++) {
                const float *q = base + (size_t)i * 3 * C + h * hd;
                double mx = -INFINITY, sum = 0, o[64] = {0}, D = 0;
                for (int j = 0; j <= i; j++) {
                    const float *k = base + (size_t)j * 3 * C + C + h * hd;
                    double s = 0;
                    for (int e = 0; e < hd; e++) s += (double)q[e] * k[e];
                    pr[j] = s * scale;
                    mx = pr[j] > mx ? pr[j] : mx;
                }
                for (int j = 0; j <= i; j++) sum += exp(pr[j] - mx);
                for (int j = 0; j <= i; j++) {
                    pr[j] = exp(pr[j] - mx) / sum;
                    const float *v = base + (size_t)j * 3 * C + 2 * C + h * hd;
                    for (int e = 0; e < hd; e++) o[e] += pr[j] * v[e];
                }
                double l = mx + log(sum), el = fabs(lse[((size_t)rb * H + h) * T + i] - l);
                worst_l = el > worst_l ? el : worst_l;
                for (int e = 0; e < hd; e++) {
                    double eo = fabs(out[((size_t)rb * T + i) * C + h * hd + e] - o[e]);
                    worst_o = eo > worst_o ? eo : worst_o;
                    D += dO[(size_t)i * C + e] * o[e];
                }
                memset(dq, 0, sizeof(double) * hd);
                for (int j = 0; j <= i; j++) {
                    const float *k = base + (size_t)j * 3 * C + C + h * hd, *v = k + C;
                    dp[j] = 0;
                    for (int e = 0; e < hd; e++) {
                        dp[j] += dO[(size_t)i * C + e] * (double)v[e];
                        dv[(size_t)j * hd + e] += pr[j] * dO[(size_t)i * C + e];
                    }
                    double ds = pr[j] * (dp[j] - D) * scale;
                    for (int e = 0; e < hd; e++) {
                        dq[e] += ds * k[e];
                        dk[(size_t)j * hd + e] += ds * q[e];
                    }
                }
                for (int e = 0; e < hd; e++) {
                    double eg = fabs(dbase[(size_t)i * 3 * C + h * hd + e] - dq[e]);
                    worst_g = eg > worst_g || isnan(eg) ? eg : worst_g;
                }
            }
            for (int j = 0; j < T; j++)
                for (int e = 0; e < hd; e++) {
                    double ek = fabs(dbase[(size_t)j * 3 * C + C + h * hd + e] - dk[(size_t)j * hd + e]);
                    double ev = fabs(dbase[(size_t)j * 3 * C + 2 * C + h * hd + e] - dv[(size_t)j * hd + e]);
                    worst_g = ek > worst_g || isnan(ek) ? ek : worst_g;
                    worst_g = ev > worst_g || isnan(ev) ? ev : worst_g;
                }
        }
    float *out2 = malloc(sizeof(float) * no), *lse2 = malloc(sizeof(float) * R * B * H * T);
    float *dqkv2 = malloc(sizeof(float) * nq);
    const char *paths[] = {"avx2", "1"}; /* the AVX2 kernel (where the CPU has it), the portable loops */
    for (int pi = 0; pi < 2; pi++) {
        setenv("DISTSWEEP_CPU_PORTABLE", paths[pi], 1);
        ds_backend *bp = test_backend(DS_BACKEND_CPU, 2);
        unsetenv("DISTSWEEP_CPU_PORTABLE");
        bp->attention_fwd(bp, out2, lse2, qkv, R, B, T, H, hd);
        bp->attention_bwd(bp, dqkv2, dout, qkv, out2, lse2, R, B, T, H, hd);
        CHECK_MSG(!memcmp(out, out2, sizeof(float) * no) &&
                      !memcmp(lse, lse2, sizeof(float) * R * B * H * T) &&
                      !memcmp(dqkv, dqkv2, sizeof(float) * nq),
                  "T=%d: attention with DISTSWEEP_CPU_PORTABLE=%s differs from the default path", T,
                  paths[pi]);
        bp->destroy(bp);
    }
    free(out2); free(lse2); free(dqkv2);
    CHECK_MSG(worst_o < 2e-5, "T=%d: attention output off by %g", T, worst_o);
    CHECK_MSG(worst_l < 2e-5, "T=%d: log-sum-exp off by %g", T, worst_l);
    CHECK_MSG(worst_g < 2e-5, "T=%d: dq/dk/dv off by %g", T, worst_g);
    printf("attention, T %d: worst abs error out %.3g, lse %.3g, dq/dk/dv %.3g\n", T, worst_o, worst_l, worst_g);
    free(qkv); free(dqkv); free(out); free(dout); free(lse);
    free(pr); free(dp); free(dq); free(dk); free(dv);
    be->destroy(be);
}

static void check_schedule(void) {
    ds_train_spec tr = {.steps = 100, .lr = 1e-3, .warmup = 10};
    CHECK(ds_lr_at(&tr, 0) == 0.0);
    CHECK_NEAR(ds_lr_at(&tr, 5), 5e-4, 1e-15);
    CHECK_NEAR(ds_lr_at(&tr, 10), 1e-3, 1e-15);
    CHECK_NEAR(ds_lr_at(&tr, 55), 5e-4, 1e-12);
    CHECK_NEAR(ds_lr_at(&tr, 100), 0.0, 1e-15);
    tr.schedule = DS_SCHED_LINEAR;
    CHECK_NEAR(ds_lr_at(&tr, 5), 5e-4, 1e-15); /* warmup as before */
    CHECK_NEAR(ds_lr_at(&tr, 10), 1e-3, 1e-15);
    CHECK_NEAR(ds_lr_at(&tr, 65), 1e-3 * (1.0 - 55.0 / 90.0), 1e-15);
    CHECK_NEAR(ds_lr_at(&tr, 100), 0.0, 1e-15);
    tr.warmup = 0; /* continued training: the first update at the full lr */
    CHECK(ds_lr_at(&tr, 0) == 1e-3);
    CHECK_NEAR(ds_lr_at(&tr, 50), 5e-4, 1e-15);
}

int main(void) {
    check_schedule();
    check_matmul_long(1000);
    check_matmul_long(5000);
    check_attention_long(40);
    check_attention_long(150);
    check_config(DS_BLOCK_PARALLEL, 2);
    check_config(DS_BLOCK_PARALLEL, 4);
    check_config(DS_BLOCK_SEQUENTIAL, 2);
    check_config(DS_BLOCK_SEQUENTIAL, 4);
    TEST_MAIN_END();
}
