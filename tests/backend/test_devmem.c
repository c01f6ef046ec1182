/* devmem: the sizing of the CUDA backend's own memory (src/devmem.h), pure
 * host arithmetic, checked without a GPU:
 *   - attention's score scratch stays under DS_DEVMEM_ATT_BUDGET at T = 64 ...
 *     4,096 and packs of 1 ... 512 (forward and backward, fp32/tf32 and bf16),
 *     its chunk and block sizes are those the kernels use (the region sums
 *     atg_forward/atg_backward assert), the block size depends on T only;
 *   - the scratch reservation covers every request of every op at the pack's
 *     shapes (the kernels ask ds_devmem_att_scratch, dw_split, ...);
 *   - block llama's wider MLP (2F > 4d) is counted: its rounding buffers
 *     and row-split partials, checked against sizes computed here;
 *   - GEMM sub-batches keep the workspace under DS_DEVMEM_LT_WS;
 *   - ds_model_bytes counts ds_devmem_bytes and grows with the context as the
 *     formula says, and `distsweep plan` prints it (checked by
 *     tests/sweep/test_plan_cli.py on the JSON 'bytes_per_replica'). */
#include <stdio.h>
#include <string.h>

#include "devmem.h"
#include "model.h"

static int fails;
#define CHECK(c)                                                                      \
    do {                                                                              \
        if (!(c)) {                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);     \
            fails++;                                                                  \
        }                                                                             \
    } while (0)


int main(void) {
    const int Ts[] = {64, 65, 128, 255, 256, 512, 1000, 1024, 2048, 2049, 4096};
    const int Rs[] = {1, 2, 3, 8, 64, 100, 256, 512};
    const int Bs[] = {1, 16, 32};
    const int eszs[] = {4, 2};
    /* attention: under the budget, blocks from T only, chunks are batch counts */
    for (size_t a = 0; a < sizeof Ts / sizeof *Ts; a++)
        for (size_t e = 0; e < 2; e++) {
            int T = Ts[a], esz = eszs[e];
            int tq = ds_devmem_att_tq(T, esz);
            CHECK(tq == (T < DS_DEVMEM_ATT_TQ ? T : DS_DEVMEM_ATT_TQ));
            for (size_t r = 0; r < sizeof Rs / sizeof *Rs; r++)
                for (size_t b = 0; b < sizeof Bs / sizeof *Bs; b++)
                    for (int bwd = 0; bwd < 2; bwd++) {
                        long RB = (long)Rs[r] * Bs[b];
                        long n = ds_devmem_att_chunk(RB, T, esz);
                        size_t sc = ds_devmem_att_scratch(RB, T, esz, bwd);
                        CHECK(n >= 1 && n <= RB);
                        CHECK(sc <= DS_DEVMEM_ATT_BUDGET);
                        /* what the kernels carve: regions of n blocks of tq x T */
                        size_t f = ds_devmem_att_region(n, tq, T, 4), o = ds_devmem_att_region(n, tq, T, esz);
                        CHECK(sc == (bwd ? 2 * f + 2 * o : f + o));
                        CHECK(sc >= (size_t)n * tq * T * (bwd ? 8 + 2 * esz : 4 + esz));
                        /* the largest chunk: one more matrix would not fit */
                        if (n < RB)
                            CHECK((size_t)(n + 1) * tq * T * (8 + 2 * esz) > DS_DEVMEM_ATT_BUDGET - 1024);
                    }
        }
    /* the old fixed chunk of 256 matrices asked 256 T^2 (8 + 2 esz) bytes: 3 GiB
     * at T = 1024 and 12 GiB at T = 2048 (fp32); now the budget */
    CHECK(ds_devmem_att_scratch(256, 2048, 4, 1) <= DS_DEVMEM_ATT_BUDGET);
    CHECK(ds_devmem_att_tq(1 << 20, 4) < DS_DEVMEM_ATT_TQ); /* long enough: smaller blocks */
    CHECK((size_t)ds_devmem_att_tq(1 << 20, 4) * (1 << 20) * 16 <= DS_DEVMEM_ATT_BUDGET);

    /* GEMM workspace: sub-batches that fit, whatever the batch */
    const size_t ws2s[] = {0, 256, 1 << 20, (size_t)5 << 20, DS_DEVMEM_LT_WS};
    const int batches[] = {1, 2, 3, 64, 512, 16384, 32768};
    for (size_t i = 0; i < sizeof ws2s / sizeof *ws2s; i++)
        for (size_t j = 0; j < sizeof batches / sizeof *batches; j++) {
            int sub = ds_devmem_gemm_subbatch(ws2s[i], batches[j]);
            CHECK(sub >= 1 && sub <= batches[j]);
            CHECK(ds_devmem_gemm_ws(ws2s[i], sub) <= DS_DEVMEM_LT_WS);
            if (ds_devmem_gemm_ws(ws2s[i], batches[j]) <= DS_DEVMEM_LT_WS) CHECK(sub == batches[j]);
        }

    /* the row split (moved here from kernels/matmul.cuh, unchanged) */
    CHECK(ds_devmem_dw_split(2047, 4096) == 1);
    CHECK(ds_devmem_dw_split(32640, 64 * 64) == 64); /* count sweep d 64: 64 chunks of 510 rows */
    for (int N = 2048; N < 40000; N += 997)
        for (size_t E = 64; E <= ((size_t)8 << 20); E *= 4) {
            int nk = ds_devmem_dw_split(N, E);
            CHECK(nk >= 1 && nk <= DS_DEVMEM_DW_MAXNK && N % nk == 0);
            if (nk > 1) CHECK(N / nk >= 256 && (size_t)nk * E <= DS_DEVMEM_DW_MAXF);
        }

    /* the reservation covers every op's request at the pack's shapes */
    for (size_t a = 0; a < sizeof Ts / sizeof *Ts; a++)
        for (size_t r = 0; r < sizeof Rs / sizeof *Rs; r++)
            for (size_t e = 0; e < 2; e++) {
                int T = Ts[a], R = Rs[r], esz = eszs[e], d = 64, H = 4, B = 4, V = 104;
                size_t N = (size_t)B * T;
                ds_devmem_shape s = {.R = R, .B = B, .T = T, .d = d, .L = 4, .H = H, .hd = 16,
                                     .V = V, .P = ds_model_param_count(d, 4, V)};
                for (int att = 0; att < 2; att++) {
                    ds_devmem_opts o = {esz, esz == 2, att};
                    size_t sb = ds_devmem_scratch_bytes(&s, &o);
                    if (att) {
                        CHECK(ds_devmem_att_scratch((long)R * B, T, esz, 1) <= sb);
                        /* evaluation: any B' x T' within the capacity, forward */
                        for (int Bp = 1; Bp <= B; Bp++)
                            CHECK(ds_devmem_att_scratch((long)R * Bp, (int)(N / Bp), esz, 0) <= sb);
                    } else {
                        CHECK(4 * (size_t)R * N * H <= sb);
                    }
                    size_t E[5] = {3 * (size_t)d * d, (size_t)d * d, 4 * (size_t)d * d, 4 * (size_t)d * d, (size_t)V * d};
                    /* the backward at any N' <= N (micro-batches) */
                    for (int Np = 1; Np <= (int)N; Np += Np < 4096 ? 1 : 7) {
                        for (int i = 0; i < 5; i++) {
                            int nk = ds_devmem_dw_split(Np, E[i]);
                            if (nk > 1) CHECK(4 * E[i] * (size_t)nk * R <= sb);
                        }
                        CHECK(4 * (size_t)ds_devmem_enc_segments(Np, d) * R * V * d <= sb);
                    }
                    size_t rb[3];
                    ds_devmem_round_bytes(&s, &o, rb);
                    if (o.rounding) {
                        CHECK(rb[0] >= 4 * (size_t)R * N * 3 * d && rb[1] >= 4 * (size_t)R * N * 4 * d &&
                              rb[2] >= 4 * (size_t)R * N * V);
                    } else {
                        CHECK(rb[0] + rb[1] + rb[2] == 0);
                    }
                    CHECK(ds_devmem_bytes(&s, &o) == sb + DS_DEVMEM_LT_WS + rb[0] + rb[1] + rb[2]);
                }
            }

    /* block llama's MLP (gate_up 2F x d, down d x F) wider than the 4d of the
     * GPT-NeoX blocks: the rounding buffers and the row-split scratch grow
     * by what its products ask, computed here from the shapes */
    for (size_t r = 0; r < sizeof Rs / sizeof *Rs; r++) {
        int R = Rs[r], d = 64, B = 4, T = 1024, V = 104, F = 1024; /* 2F = 2048 > 4d = 256 */
        size_t N = (size_t)B * T, E_gu = 2 * (size_t)F * d, E_down = (size_t)F * d;
        ds_model_config c = {.R = R, .B = B, .T = T, .d = d, .L = 4, .H = 4, .hd = 16, .V = V,
                             .rot = 16, .block = DS_BLOCK_LLAMA, .K = 2, .F = F,
                             .prec = DS_PREC_TF32};
        ds_devmem_shape sl = ds_model_devmem_shape(&c), sn = sl;
        CHECK(sl.F == F);
        sn.F = 0; /* the same shapes counted with the 4d MLP */
        c.block = DS_BLOCK_PARALLEL;
        CHECK(ds_model_devmem_shape(&c).F == 0); /* F is llama's alone */
        for (int att = 0; att < 2; att++) {
            ds_devmem_opts o = {4, 1, att};
            size_t rl[3], rn[3];
            ds_devmem_round_bytes(&sl, &o, rl);
            ds_devmem_round_bytes(&sn, &o, rn);
            /* slot 0: the largest weight or qkv: N x 3d here (786,432 > 2F x d = 131,072) */
            CHECK(rl[0] == 4 * (size_t)R * N * 3 * d && rn[0] == rl[0]);
            /* slot 1: down's input, N x F; slot 2: gate_up's output gradient, N x 2F (> V) */
            CHECK(rl[1] == 4 * (size_t)R * N * F && rn[1] == 4 * (size_t)R * N * 4 * d);
            CHECK(rl[2] == 4 * (size_t)R * N * 2 * F && rn[2] == 4 * (size_t)R * N * 4 * d);
            /* the scratch: gate_up's and down's row-split partials (N = 4096: nk chunks
             * of the kernel's own rule), the largest request here */
            size_t sbl = ds_devmem_scratch_bytes(&sl, &o), sbn = ds_devmem_scratch_bytes(&sn, &o);
            size_t pgu = 4 * E_gu * (size_t)ds_devmem_dw_split((int)N, E_gu) * R;
            size_t pdn = 4 * E_down * (size_t)ds_devmem_dw_split((int)N, E_down) * R;
            CHECK(ds_devmem_dw_split((int)N, E_gu) > 1 && pgu > sbn);
            CHECK(sbl == (sbn > pgu ? sbn : pgu) && pdn <= sbl);
            /* and at every N' <= N (micro-batches) */
            for (int Np = 2048; Np <= (int)N; Np += 61)
                CHECK(4 * E_gu * (size_t)ds_devmem_dw_split(Np, E_gu) * R <= sbl &&
                      4 * E_down * (size_t)ds_devmem_dw_split(Np, E_down) * R <= sbl);
            /* the total grows by exactly those differences */
            CHECK(ds_devmem_bytes(&sl, &o) ==
                  ds_devmem_bytes(&sn, &o) + (sbl - sbn) + 4 * (size_t)R * N * (F - 4 * d) +
                      4 * (size_t)R * N * (2 * F - 4 * d));
        }
    }

    /* ds_model_bytes counts it, and grows with the context as the formula says */
    double prev = 0;
    for (int T = 64; T <= 4096; T *= 2) {
        ds_model_config c = {.R = 1, .B = 16, .T = T, .d = 64, .L = 4, .H = 4, .hd = 16, .V = 104,
                             .rot = 16, .prec = DS_PREC_FP32};
        double b = ds_model_bytes(&c), dev = ds_model_devmem_bytes(&c);
        ds_devmem_shape s = ds_model_devmem_shape(&c);
        ds_devmem_opts o = {4, 0, -1};
        CHECK(dev == (double)ds_devmem_bytes(&s, &o));
        CHECK(b > dev && b > prev);
        printf("T %5d: %.1f MiB per replica (of which the backend's own %.1f MiB)\n", T, b / 1048576.0,
               dev / 1048576.0);
        prev = b;
    }
    /* the largest pack that fits a device, from the same count */
    {
        ds_model_config c = {.R = 1, .B = 128, .T = 256, .d = 64, .L = 4, .H = 1, .hd = 64, .V = 154,
                             .rot = 16, .prec = DS_PREC_FP32};
        double gpu = 80e9;
        int R = ds_model_max_pack(&c, gpu, 4096);
        ds_model_config a = c, b = c;
        a.R = R, b.R = R + 1;
        CHECK(R >= 1 && ds_model_bytes(&a) <= gpu && ds_model_bytes(&b) > gpu);
        CHECK(ds_model_max_pack(&c, 1e6, 4096) == 0);
        CHECK(ds_model_max_pack(&c, 1e15, 512) == 512);
        c.T = 2048;
        int R2 = ds_model_max_pack(&c, gpu, 4096);
        CHECK(R2 >= 1 && R2 < R);
        printf("count d 64, batch 128: at most %d replicas per pack in 80 GB at T 256, %d at T 2048\n", R, R2);
    }
    if (fails) {
        fprintf(stderr, "%d check(s) failed\n", fails);
        return 1;
    }
    printf("devmem sizing: all checks passed\n");
    return 0;
}
