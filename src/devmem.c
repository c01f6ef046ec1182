/* devmem: see devmem.h. */
#include "devmem.h"

#include "common.h"

static size_t zmax(size_t a, size_t b) { return a > b ? a : b; }

/* backward bytes per score element: fp32 S and dP, P and dS of esz bytes */
static size_t att_bpe(int esz, int bwd) { return bwd ? 8 + 2 * (size_t)esz : 4 + (size_t)esz; }

/* 4 regions rounded up to 256 bytes each: at most this much beyond the blocks */
enum { ATT_SLACK = 4 * 256 };

int ds_devmem_att_tq(int T, int esz) {
    DS_ASSERT(T >= 1 && (esz == 2 || esz == 4));
    int tq = T < DS_DEVMEM_ATT_TQ ? T : DS_DEVMEM_ATT_TQ;
    while (tq > 1 && (size_t)tq * T * att_bpe(esz, 1) + ATT_SLACK > DS_DEVMEM_ATT_BUDGET) tq /= 2;
    DS_ASSERT((size_t)tq * T * att_bpe(esz, 1) + ATT_SLACK <= DS_DEVMEM_ATT_BUDGET);
    return tq;
}

long ds_devmem_att_chunk(long RB, int T, int esz) {
    DS_ASSERT(RB >= 1);
    int tq = ds_devmem_att_tq(T, esz);
    size_t per = (size_t)tq * T * att_bpe(esz, 1);
    long n = (long)((DS_DEVMEM_ATT_BUDGET - ATT_SLACK) / per);
    if (n < 1) n = 1;
    return n < RB ? n : RB;
}

size_t ds_devmem_att_region(long n, int tq, int T, int esz) {
    return ((size_t)n * tq * T * esz + 255) / 256 * 256;
}

size_t ds_devmem_att_scratch(long RB, int T, int esz, int bwd) {
    if (RB < 1 || T < 1) return 0;
    int tq = ds_devmem_att_tq(T, esz);
    long n = ds_devmem_att_chunk(RB, T, esz);
    size_t f32 = ds_devmem_att_region(n, tq, T, 4), op = ds_devmem_att_region(n, tq, T, esz);
    return bwd ? 2 * f32 + 2 * op : f32 + op;
}

int ds_devmem_dw_split(int N, size_t E) {
    if (N < 2048 || !E) return 1;
    size_t maxnk = DS_DEVMEM_DW_MAXF / E;
    int lim = maxnk < DS_DEVMEM_DW_MAXNK ? (int)maxnk : DS_DEVMEM_DW_MAXNK;
    for (int nk = lim; nk >= 2; nk--)
        if (N % nk == 0 && N / nk >= 256) return nk;
    return 1;
}

int ds_devmem_enc_segments(int N, int C) {
    if (N < 1) return 1;
    int S = 4096 / C;
    S = S < 1 ? 1 : S > 64 ? 64 : S;
    S = S > N ? N : S;
    int seglen = (N + S - 1) / S;
    return (N + seglen - 1) / seglen;
}

size_t ds_devmem_gemm_ws(size_t ws2, int n) {
    /* a split-K workspace holds every matrix's partials; ws2 is for two */
    return (ws2 + 1) / 2 * (size_t)(n < 2 ? 2 : n);
}

int ds_devmem_gemm_subbatch(size_t ws2, int batch) {
    DS_ASSERT(batch >= 1 && ws2 <= DS_DEVMEM_LT_WS);
    if (ds_devmem_gemm_ws(ws2, batch) <= DS_DEVMEM_LT_WS) return batch;
    size_t per = (ws2 + 1) / 2;
    long n = (long)(DS_DEVMEM_LT_WS / per);
    if (n < 1) n = 1;
    return n < batch ? (int)n : batch;
}

/* The MLP's widths (ds_devmem_shape's F): fw of fc's output (4d, or llama
 * gate_up's 2F when wider), gw of fc_out's input (4d, or llama down's F);
 * src/model.c's mlp_widths, the widths of fch and fch_gelu. */
static void mlp_widths(const ds_devmem_shape *s, size_t *fw, size_t *gw) {
    size_t d = (size_t)s->d, F = s->F > 0 ? (size_t)s->F : 0;
    *fw = zmax(4 * d, 2 * F);
    *gw = zmax(4 * d, F);
}

void ds_devmem_round_bytes(const ds_devmem_shape *s, const ds_devmem_opts *o, size_t out[3]) {
    out[0] = out[1] = out[2] = 0;
    if (!o->rounding) return;
    size_t R = (size_t)s->R, N = (size_t)s->B * s->T, d = (size_t)s->d, V = (size_t)s->V, fw, gw;
    mlp_widths(s, &fw, &gw);
    /* qkv 3d x d, out d x d, fc 4d x d (llama gate_up 2F x d), fc_out d x 4d
     * (llama down d x F), head V x d */
    size_t maxE = zmax(fw * d, V * d);
    out[0] = 4 * R * zmax(maxE, N * 3 * d);
    out[1] = 4 * R * N * gw;
    out[2] = 4 * R * N * zmax(fw, V);
}

size_t ds_devmem_scratch_bytes(const ds_devmem_shape *s, const ds_devmem_opts *o) {
    size_t R = (size_t)s->R, N = (size_t)s->B * s->T, d = (size_t)s->d, V = (size_t)s->V;
    size_t b = 0;
    /* attention, GEMM path: the backward at the training shapes; the forward
     * at any B' x T' <= B x T has n*tq*T' <= R*N*TQ score elements */
    if (o->att_gemm != 0) {
        b = zmax(b, ds_devmem_att_scratch((long)R * s->B, s->T, o->esz, 1));
        size_t fwd = R * N * DS_DEVMEM_ATT_TQ * att_bpe(o->esz, 0) + ATT_SLACK;
        b = zmax(b, fwd < DS_DEVMEM_ATT_BUDGET ? fwd : DS_DEVMEM_ATT_BUDGET);
    }
    /* attention, CUDA-core kernels: D = dO.O per (replica, row, head, position) */
    if (o->att_gemm != 1) b = zmax(b, 4 * R * N * (size_t)s->H);
    /* row-split weight gradients: nk partial products of every replica, at
     * any N' <= N (micro-batches): nk <= min(64, 4M / E, N' / 256) */
    size_t F = (size_t)(s->F > 0 ? s->F : 0);
    /* qkv, out, fc, fc_out, head; llama's gate_up 2F x d and down d x F
     * (their own nk: a smaller weight may take more chunks) */
    size_t E[7] = {3 * d * d, d * d, 4 * d * d, 4 * d * d, V * d, 2 * F * d, F * d};
    for (int i = 0; i < 7; i++) {
        if (!E[i]) continue; /* no llama MLP */
        size_t nk = DS_DEVMEM_DW_MAXNK;
        if (DS_DEVMEM_DW_MAXF / E[i] < nk) nk = DS_DEVMEM_DW_MAXF / E[i];
        if (N / 256 < nk) nk = N / 256;
        if (N >= 2048 && nk >= 2) b = zmax(b, 4 * E[i] * nk * R);
    }
    /* bias gradients (widest: fc, 4d) and LayerNorm weight/bias gradients */
    size_t nch = (N + DS_DEVMEM_COL_ROWS - 1) / DS_DEVMEM_COL_ROWS;
    b = zmax(b, 4 * R * nch * 4 * d);
    b = zmax(b, 2 * 4 * R * nch * d);
    /* encoder backward: S segments' partial tables of V x d, at any N' <= N:
     * S <= min(64, max(1, 4096 / d), N) */
    size_t S = 4096 / d < 1 ? 1 : 4096 / d > 64 ? 64 : 4096 / d;
    b = zmax(b, 4 * (S < N ? S : N) * R * V * d);
    /* weighted_sum over N, sumsq over P: per-(replica, chunk) doubles */
    size_t n = zmax(N, s->P);
    b = zmax(b, 8 * R * ((n + DS_DEVMEM_RED_CHUNK - 1) / DS_DEVMEM_RED_CHUNK));
    return zmax(b, DS_DEVMEM_SCRATCH_MIN);
}

size_t ds_devmem_bytes(const ds_devmem_shape *s, const ds_devmem_opts *o) {
    size_t r[3];
    ds_devmem_round_bytes(s, o, r);
    return ds_devmem_scratch_bytes(s, o) + DS_DEVMEM_LT_WS + r[0] + r[1] + r[2];
}
