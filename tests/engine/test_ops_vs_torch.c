/* test_ops_vs_torch: runs the llama block's ops of the CPU backend on random
 * inputs and writes inputs and results for test_ops_vs_torch.py, which
 * recomputes each in float64 PyTorch (docs/correctness.md).
 *
 *   test_ops_vs_torch OUT.bin fp32|tf32|bf16
 *
 * R = 2 replicas, weights at replica stride ws (with padding, as parameters
 * live in the flat vector), N = 37 rows:
 *   rmsnorm_fwd/bwd over C = 48 (eps 1e-5), dinp and dw starting from
 *     nonzero values (the += contract);
 *   swiglu_fwd/bwd with F = 40 (gate values up to +-8: silu's tails);
 *   kv_repeat_fwd/bwd with H = 4, K = 2, hd = 8;
 *   grouped-query attention as the model runs it: kv_repeat_fwd, rope_fwd,
 *     attention_fwd over B = 2 rows of T = 19, then attention_bwd, rope_bwd,
 *     kv_repeat_bwd (H = 4, K = 2, hd = 8, full rotary, base 10000).
 * Same record format as test_vs_torch.c ("DSTREF01"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

enum { R = 2, N = 37, C = 48, F = 40, H = 4, K = 2, HD = 8, BB = 2, TT = 19 };

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float uni(void) { /* [-1, 1) */
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static void fill(float *x, size_t n, float scale, float offset) {
    for (size_t i = 0; i < n; i++) x[i] = offset + scale * uni();
}

static int put(FILE *f, const char *name, int ndim, const int64_t *dims, const float *data) {
    uint32_t n = (uint32_t)strlen(name), dt = 0, nd = (uint32_t)ndim;
    size_t cnt = 1;
    for (int i = 0; i < ndim; i++) cnt *= (size_t)dims[i];
    if (fwrite(&n, 4, 1, f) != 1 || fwrite(name, 1, n, f) != n || fwrite(&dt, 4, 1, f) != 1 ||
        fwrite(&nd, 4, 1, f) != 1 || fwrite(dims, 8, (size_t)ndim, f) != (size_t)ndim ||
        fwrite(data, 4, cnt, f) != cnt)
        return -1;
    return 0;
}

int main(int argc, char **argv) {
    ds_precision prec;
    if (argc != 3 || ds_precision_parse(argv[2], &prec)) {
        fprintf(stderr, "usage: test_ops_vs_torch OUT.bin fp32|tf32|bf16\n");
        return DS_EXIT_USAGE;
    }
    ds_backend *be = ds_backend_cpu_create(2, prec);
    FILE *f = fopen(argv[1], "wb");
    if (!f) {
        perror(argv[1]);
        be->destroy(be);
        return DS_EXIT_ERROR;
    }
    int rc = fwrite("DSTREF01", 1, 8, f) != 8;
    const size_t ws = C + 7; /* replica stride of the weights */
    const size_t QC = (size_t)(H + 2 * K) * HD, C3 = 3 * (size_t)H * HD;

    /* RMSNorm */
    float *x = malloc(sizeof(float) * R * N * C), *w = malloc(sizeof(float) * R * ws);
    float *y = calloc((size_t)R * N * C, sizeof(float)), *rstd = calloc((size_t)R * N, sizeof(float));
    float *dy = malloc(sizeof(float) * R * N * C), *dx = malloc(sizeof(float) * R * N * C);
    float *dw = malloc(sizeof(float) * R * ws);
    fill(x, (size_t)R * N * C, 2.0f, 0.3f);
    fill(w, R * ws, 0.5f, 1.0f);
    fill(dy, (size_t)R * N * C, 1.0f, 0.0f);
    fill(dx, (size_t)R * N * C, 1.0f, 0.0f);
    fill(dw, R * ws, 1.0f, 0.0f);
    int64_t dx_dims[] = {R, N, C}, dw_dims[] = {R, (int64_t)ws}, dr_dims[] = {R, N};
    rc = rc || put(f, "rms_x", 3, dx_dims, x) || put(f, "rms_w", 2, dw_dims, w) ||
         put(f, "rms_dy", 3, dx_dims, dy) || put(f, "rms_dx0", 3, dx_dims, dx) ||
         put(f, "rms_dw0", 2, dw_dims, dw);
    be->rmsnorm_fwd(be, y, rstd, x, w, ws, R, N, C, 1e-5f);
    be->rmsnorm_bwd(be, dx, dw, ws, dy, x, w, rstd, R, N, C);
    rc = rc || put(f, "rms_y", 3, dx_dims, y) || put(f, "rms_rstd", 2, dr_dims, rstd) ||
         put(f, "rms_dx", 3, dx_dims, dx) || put(f, "rms_dw", 2, dw_dims, dw);

    /* SwiGLU */
    float *gu = malloc(sizeof(float) * R * N * 2 * F), *h = malloc(sizeof(float) * R * N * F);
    float *dh = malloc(sizeof(float) * R * N * F), *dgu = malloc(sizeof(float) * R * N * 2 * F);
    fill(gu, (size_t)R * N * 2 * F, 8.0f, 0.0f);
    fill(dh, (size_t)R * N * F, 1.0f, 0.0f);
    be->swiglu_fwd(be, h, gu, (size_t)R * N, F);
    be->swiglu_bwd(be, dgu, gu, dh, (size_t)R * N, F);
    int64_t dgu_dims[] = {R, N, 2 * F}, dh_dims[] = {R, N, F};
    rc = rc || put(f, "swi_in", 3, dgu_dims, gu) || put(f, "swi_dout", 3, dh_dims, dh) ||
         put(f, "swi_out", 3, dh_dims, h) || put(f, "swi_din", 3, dgu_dims, dgu);

    /* kv_repeat alone */
    float *qc = malloc(sizeof(float) * R * N * QC), *q3 = malloc(sizeof(float) * R * N * C3);
    float *dq3 = malloc(sizeof(float) * R * N * C3), *dqc = malloc(sizeof(float) * R * N * QC);
    fill(qc, (size_t)R * N * QC, 1.0f, 0.0f);
    fill(dq3, (size_t)R * N * C3, 1.0f, 0.0f);
    be->kv_repeat_fwd(be, q3, qc, (size_t)R * N, H, K, HD);
    be->kv_repeat_bwd(be, dqc, dq3, (size_t)R * N, H, K, HD);
    int64_t dqc_dims[] = {R, N, (int64_t)QC}, dq3_dims[] = {R, N, (int64_t)C3};
    rc = rc || put(f, "kv_in", 3, dqc_dims, qc) || put(f, "kv_dout", 3, dq3_dims, dq3) ||
         put(f, "kv_out", 3, dq3_dims, q3) || put(f, "kv_din", 3, dqc_dims, dqc);

    /* grouped-query attention as the model runs it */
    size_t M = (size_t)R * BB * TT, D = (size_t)H * HD;
    float *aq = malloc(sizeof(float) * M * QC), *a3 = malloc(sizeof(float) * M * C3);
    float *ao = malloc(sizeof(float) * M * D), *lse = malloc(sizeof(float) * M * H);
    float *ado = malloc(sizeof(float) * M * D), *ad3 = malloc(sizeof(float) * M * C3);
    float *adq = malloc(sizeof(float) * M * QC);
    fill(aq, M * QC, 1.5f, 0.0f);
    fill(ado, M * D, 1.0f, 0.0f);
    be->kv_repeat_fwd(be, a3, aq, M, H, K, HD);
    be->rope_fwd(be, a3, R, BB, TT, H, HD, HD, 10000.0f);
    be->attention_fwd(be, ao, lse, a3, R, BB, TT, H, HD);
    be->attention_bwd(be, ad3, ado, a3, ao, lse, R, BB, TT, H, HD);
    be->rope_bwd(be, ad3, R, BB, TT, H, HD, HD, 10000.0f);
    be->kv_repeat_bwd(be, adq, ad3, M, H, K, HD);
    int64_t aq_dims[] = {R, BB, TT, (int64_t)QC}, ao_dims[] = {R, BB, TT, (int64_t)D};
    rc = rc || put(f, "gqa_qkv", 4, aq_dims, aq) || put(f, "gqa_dout", 4, ao_dims, ado) ||
         put(f, "gqa_out", 4, ao_dims, ao) || put(f, "gqa_dqkv", 4, aq_dims, adq);

    if (fclose(f)) rc = 1;
    if (rc) fprintf(stderr, "test_ops_vs_torch: cannot write %s\n", argv[1]);
    free(x), free(w), free(y), free(rstd), free(dy), free(dx), free(dw);
    free(gu), free(h), free(dh), free(dgu), free(qc), free(q3), free(dq3), free(dqc);
    free(aq), free(a3), free(ao), free(lse), free(ado), free(ad3), free(adq);
    be->destroy(be);
    return rc ? DS_EXIT_ERROR : 0;
}
