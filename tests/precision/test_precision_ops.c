/* Every matrix product of the CPU backend at tf32 and bf16 against a double
 * precision product of the rounded inputs (src/precision.h), with the bound
 * of an fp32 accumulation: |got - ref| <= (K + 2) * 2^-23 * sum |a_k b_k| for
 * a sum of K products (the standard gamma_K bound with a factor 2 of
 * slack). Attention's forward also rounds the probabilities P before P V; P
 * is computed in fp32 there and in double here, so a P that lies next to a
 * rounding boundary may round one ulp apart: 2u * sum_j P_j |v_j| more (u
 * the unit roundoff of the precision) per element, while the mean square
 * error must stay below (u/16)^2 (rare boundary cases only: an unrounded
 * operand would give about u/3). Attention's backward chains five
 * products of rounded operands; it is checked against the fp32 backend
 * within 16u in relative norm. Every check also asserts that the result
 * differs from fp32 (the rounded path was taken), and the bias gradient,
 * a sum rather than a product, stays bit-identical to fp32's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backend_util.h"
#include "precision.h"
#include "test.h"

static ds_backend *cpu(ds_precision p) { return test_backend_prec(DS_BACKEND_CPU, 2, p); }

static uint64_t rng = 88172645463325252ull;
static float uni(void) { /* [-1, 1) */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static float *randv(size_t n) {
    float *x = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) x[i] = uni();
    return x;
}
static float rd(ds_precision p, float x) { return ds_round(p, x); }

/* max over i of |a - b| / tol, and whether any element differs from c */
typedef struct {
    double worst;
    int differs;
} cmp;
static void note(cmp *c, double got, double ref, double tol, float fp32) {
    double e = fabs(got - ref) / tol;
    if (e > c->worst) c->worst = e;
    if ((float)got != fp32) c->differs = 1;
}
static void report(const char *what, ds_precision p, cmp c) {
    printf("%-22s %s: worst error %.3f of the bound%s\n", what, ds_precision_name(p), c.worst,
           c.differs ? "" : " (SAME AS FP32)");
    CHECK_MSG(c.worst <= 1.0, "%s %s: error %.3f x the bound", what, ds_precision_name(p), c.worst);
    CHECK_MSG(c.differs, "%s %s: identical to fp32: the rounding was not applied", what,
              ds_precision_name(p));
}

static void test_matmul(ds_precision p, int N) {
    enum { R = 2, C = 24, OC = 19 };
    size_t ws = (size_t)OC * C + OC + 5; /* replica stride of the parameters: weights, bias, pad */
    float *x = randv((size_t)R * N * C), *prm = randv(R * ws), *dout = randv((size_t)R * N * OC);
    ds_backend *be = cpu(p), *b32 = cpu(DS_PREC_FP32);
    float *out = malloc(sizeof(float) * R * N * OC), *out32 = malloc(sizeof(float) * R * N * OC);
    float *dinp = malloc(sizeof(float) * R * N * C), *dinp32 = malloc(sizeof(float) * R * N * C);
    float *g = calloc(R * ws, sizeof(float)), *g32 = calloc(R * ws, sizeof(float));
    const float *w = prm, *bias = prm + (size_t)OC * C;
    be->matmul_fwd(be, out, x, w, bias, ws, R, N, C, OC);
    b32->matmul_fwd(b32, out32, x, w, bias, ws, R, N, C, OC);
    be->matmul_bwd(be, dinp, g, g + (size_t)OC * C, ws, dout, x, w, R, N, C, OC);
    b32->matmul_bwd(b32, dinp32, g32, g32 + (size_t)OC * C, ws, dout, x, w, R, N, C, OC);
    cmp f = {0}, di = {0}, dw = {0};
    for (int r = 0; r < R; r++) {
        const float *wr = w + r * ws, *xr = x + (size_t)r * N * C, *gr = dout + (size_t)r * N * OC;
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) {
                double ref = bias[r * ws + o], mag = fabs(ref);
                for (int c = 0; c < C; c++) {
                    double t = (double)rd(p, xr[(size_t)n * C + c]) * rd(p, wr[(size_t)o * C + c]);
                    ref += t, mag += fabs(t);
                }
                size_t at = ((size_t)r * N + n) * OC + o;
                note(&f, out[at], ref, (C + 2) * 0x1p-23 * mag + 1e-30, out32[at]);
            }
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++) {
                double ref = 0, mag = 0;
                for (int o = 0; o < OC; o++) {
                    double t = (double)rd(p, gr[(size_t)n * OC + o]) * rd(p, wr[(size_t)o * C + c]);
                    ref += t, mag += fabs(t);
                }
                size_t at = ((size_t)r * N + n) * C + c;
                note(&di, dinp[at], ref, (OC + 2) * 0x1p-23 * mag + 1e-30, dinp32[at]);
            }
        for (int o = 0; o < OC; o++)
            for (int c = 0; c < C; c++) {
                double ref = 0, mag = 0;
                for (int n = 0; n < N; n++) {
                    double t = (double)rd(p, gr[(size_t)n * OC + o]) * rd(p, xr[(size_t)n * C + c]);
                    ref += t, mag += fabs(t);
                }
                size_t at = r * ws + (size_t)o * C + c;
                note(&dw, g[at], ref, (N + 2) * 0x1p-23 * mag + 1e-30, g32[at]);
            }
        CHECK_MSG(!memcmp(g + r * ws + (size_t)OC * C, g32 + r * ws + (size_t)OC * C, sizeof(float) * OC),
                  "%s: the bias gradient is not fp32's", ds_precision_name(p));
    }
    char what[64];
    snprintf(what, sizeof what, "matmul_fwd N=%d", N);
    report(what, p, f);
    snprintf(what, sizeof what, "matmul_bwd dinp N=%d", N);
    report(what, p, di);
    snprintf(what, sizeof what, "matmul_bwd dW N=%d", N);
    report(what, p, dw);
    be->destroy(be), b32->destroy(b32);
    free(x), free(prm), free(dout), free(out), free(out32), free(dinp), free(dinp32), free(g), free(g32);
}

static void test_attention(ds_precision p) {
    enum { R = 1, B = 2, T = 37, H = 2, hd = 8, C = H * hd };
    size_t nq = (size_t)R * B * T * 3 * C, no = (size_t)R * B * T * C, nl = (size_t)R * B * H * T;
    float *qkv = randv(nq), *dout = randv(no);
    for (size_t i = 0; i < nq; i++) qkv[i] *= 2.0f; /* scores of a few units: a peaked softmax */
    ds_backend *be = cpu(p), *b32 = cpu(DS_PREC_FP32);
    float *out = malloc(sizeof(float) * no), *out32 = malloc(sizeof(float) * no);
    float *lse = malloc(sizeof(float) * nl), *lse32 = malloc(sizeof(float) * nl);
    float *dq = malloc(sizeof(float) * nq), *dq32 = malloc(sizeof(float) * nq);
    be->attention_fwd(be, out, lse, qkv, R, B, T, H, hd);
    b32->attention_fwd(b32, out32, lse32, qkv, R, B, T, H, hd);
    be->attention_bwd(be, dq, dout, qkv, out, lse, R, B, T, H, hd);
    b32->attention_bwd(b32, dq32, dout, qkv, out32, lse32, R, B, T, H, hd);
    double u = ds_precision_unit_roundoff(p), scale = 1.0 / sqrt((double)hd);
    cmp f = {0}, l = {0};
    double ms = 0; /* mean square of the relative error: the 2u allowance is for the
                    * rare P next to a boundary, so on average the error must be far
                    * below u (an unrounded V alone would give about u/3) */
    long cnt = 0;
    for (int b = 0; b < R * B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                const float *row = qkv + (size_t)b * T * 3 * C;
                double S[T], mx = -INFINITY, sum = 0, smag[T];
                for (int j = 0; j <= i; j++) {
                    double s = 0, m = 0;
                    for (int e = 0; e < hd; e++) {
                        double t = (double)rd(p, row[(size_t)i * 3 * C + h * hd + e]) *
                                   rd(p, row[(size_t)j * 3 * C + C + h * hd + e]);
                        s += t, m += fabs(t);
                    }
                    S[j] = s * scale, smag[j] = m * scale;
                    if (S[j] > mx) mx = S[j];
                }
                for (int j = 0; j <= i; j++) sum += exp(S[j] - mx);
                double lref = mx + log(sum), lmag = 0;
                for (int j = 0; j <= i; j++) lmag = fmax(lmag, smag[j]);
                size_t li = ((size_t)b * H + h) * T + i;
                note(&l, lse[li], lref, (hd + 2) * 0x1p-23 * lmag + 8 * 0x1p-23 * fabs(lref) + 1e-6, lse32[li]);
                for (int e = 0; e < hd; e++) {
                    double ref = 0, mag = 0;
                    for (int j = 0; j <= i; j++) {
                        double P = exp(S[j] - lref);
                        double v = rd(p, row[(size_t)j * 3 * C + 2 * C + h * hd + e]);
                        ref += (double)rd(p, (float)P) * v, mag += P * fabs(v);
                    }
                    size_t at = ((size_t)b * T + i) * C + h * hd + e;
                    /* the scores' own error moves P by up to (hd+2) 2^-23 |S| relative */
                    double tol = (2 * u + (T + hd + 4) * 0x1p-23 * (1 + lmag)) * mag + 1e-7;
                    note(&f, out[at], ref, tol, out32[at]);
                    ms += ((out[at] - ref) / mag) * ((out[at] - ref) / mag), cnt++;
                }
            }
    report("attention_fwd out", p, f);
    double rms = sqrt(ms / (double)cnt);
    printf("%-22s %s: rms relative error %.2e (bound u/16 = %.2e)\n", "attention_fwd out",
           ds_precision_name(p), rms, u / 16);
    CHECK_MSG(rms <= u / 16, "attention_fwd %s: rms error %.3e", ds_precision_name(p), rms);
    /* lse comes from fp32 scores of rounded q, k: it too differs from fp32 */
    report("attention_fwd lse", p, l);
    double num = 0, den = 0;
    int differs = 0;
    for (size_t i = 0; i < nq; i++) {
        num += ((double)dq[i] - dq32[i]) * ((double)dq[i] - dq32[i]);
        den += (double)dq32[i] * dq32[i];
        differs |= dq[i] != dq32[i];
    }
    double rel = sqrt(num / den);
    printf("%-22s %s: relative difference to fp32 %.2e (bound 16u = %.2e)\n", "attention_bwd dqkv",
           ds_precision_name(p), rel, 16 * u);
    CHECK_MSG(rel <= 16 * u, "attention_bwd %s: %.3e from fp32", ds_precision_name(p), rel);
    CHECK_MSG(differs && rel > 1e-7, "attention_bwd %s: identical to fp32", ds_precision_name(p));
    be->destroy(be), b32->destroy(b32);
    free(qkv), free(dout), free(out), free(out32), free(lse), free(lse32), free(dq), free(dq32);
}

int main(void) {
    for (int p = DS_PREC_TF32; p <= DS_PREC_BF16; p++) {
        test_matmul((ds_precision)p, 37);
        test_matmul((ds_precision)p, 2100); /* long N: the weight gradient's row chunks */
        test_attention((ds_precision)p);
    }
    TEST_MAIN_END();
}
