/* test_mc: multiple-choice sets (src/mcfile.h) and their scoring (src/mceval.h).
 *   - a set written and read back is the same set (2- and 4-byte tokens)
 *   - every validation error of the reader, on crafted files: exit 2, the
 *     file, the item index where there is one, the problem
 *   - the batched scorer equals the one-row-at-a-time reference bit for bit
 *     for several packings (rows per batch, activation capacity), with items
 *     of one-token continuations (one row an item) and longer ones, a replica
 *     in a pack equals it alone, and the LLs equal a log-softmax of the
 *     model's logits computed here in double (the target offset). Shapes:
 *     width 64, vocabulary 64, rows of >= 20 tokens and at most 512
 *     positions per forward, so that every sgemm of the CPU backend has
 *     rows x out-features > 1,200 and OpenBLAS takes its regular path
 *     (src/mceval.h: its small-matrix kernel rounds differently)
 *   - ties go to the first maximum, NaN never wins, completion style divides
 *     by the normalizer
 *   - the scorer's own errors (a row over the capacity, a token over the
 *     vocabulary) and its stop callback */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h> /* openblas_get_corename */

#include "../test.h"
#include "backend.h"
#include "mceval.h"
#include "mcfile.h"
#include "model.h"
#include "rng.h"
#include "sweep.h"

static char g_dir[256];

/* a random set: n items, K choices, contexts of min_ctx..max_ctx tokens, continuations 1..max_cont */
static ds_mc_set *random_set(uint64_t seed, int n, int K, ds_mc_scoring sc, int vocab, int min_ctx,
                             int max_ctx, int max_cont) {
    ds_mc_set *s = ds_mc_new(K, sc, vocab);
    srand((unsigned)seed);
    int32_t ctx[256], cont[26][64];
    const int32_t *cp[26];
    int nc[26], norm[26];
    for (int i = 0; i < n; i++) {
        int n_ctx = min_ctx + rand() % (max_ctx - min_ctx + 1);
        for (int t = 0; t < n_ctx; t++) ctx[t] = rand() % vocab;
        for (int k = 0; k < K; k++) {
            nc[k] = 1 + rand() % max_cont;
            norm[k] = 1 + rand() % 20;
            for (int t = 0; t < nc[k]; t++) cont[k][t] = rand() % vocab;
            cp[k] = cont[k];
        }
        ds_mc_add(s, rand() % K, ctx, n_ctx, cp, nc, norm);
    }
    return s;
}

static int sets_equal(const ds_mc_set *a, const ds_mc_set *b) {
    if (a->n_items != b->n_items || a->K != b->K || a->scoring != b->scoring || a->vocab != b->vocab ||
        a->n_tokens != b->n_tokens || a->max_row != b->max_row)
        return 0;
    size_t n = (size_t)a->n_items, nk = n * a->K;
    return !memcmp(a->label, b->label, 4 * n) && !memcmp(a->ctx_len, b->ctx_len, 4 * n) &&
           !memcmp(a->cont_len, b->cont_len, 4 * nk) && !memcmp(a->cont_norm, b->cont_norm, 4 * nk) &&
           !memcmp(a->ctx_off, b->ctx_off, 8 * n) && !memcmp(a->cont_off, b->cont_off, 8 * nk) &&
           !memcmp(a->tokens, b->tokens, 4 * (size_t)a->n_tokens);
}

static void test_roundtrip(void) {
    char path[300];
    ds_error err = {0};
    for (int w = 2; w <= 4; w += 2) {
        int vocab = w == 2 ? 50000 : 151936;
        ds_mc_set *s = random_set(7 + w, 40, w == 2 ? 4 : 5, w == 2 ? DS_MC_LETTER : DS_MC_COMPLETION,
                                  vocab, 1, 30, 8);
        snprintf(path, sizeof path, "%s/rt%d.bin", g_dir, w);
        CHECK(ds_mc_write(path, s, w, &err) == 0);
        ds_mc_set *b = NULL;
        CHECK_MSG(ds_mc_load(path, 0, 0, &b, &err) == 0, "%s", err.msg);
        CHECK(b && sets_equal(s, b) && b->token_bytes == w && !strcmp(b->path, path));
        /* the exact bounds pass: model vocabulary = the file's, max tokens = the longest row */
        ds_mc_free(b);
        b = NULL;
        CHECK_MSG(ds_mc_load(path, vocab, s->max_row, &b, &err) == 0, "%s", err.msg);
        ds_mc_free(b);
        ds_mc_free(s);
    }
}

/* ---- crafted files ------------------------------------------------------------ */

static unsigned char *g_good;
static size_t g_good_n;

static void put32(unsigned char *p, int32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)((uint32_t)v >> (8 * i));
}

/* Writes the good file with the int32 at byte offset `at` set to v (at < 0:
 * unchanged), truncated to n bytes (0: whole) or with `extra` bytes appended. */
static void craft(const char *path, long at, int32_t v, size_t n, int extra) {
    unsigned char *b = malloc(g_good_n + 8);
    memcpy(b, g_good, g_good_n);
    if (at >= 0) put32(b + at, v);
    size_t len = n ? n : g_good_n;
    memset(b + g_good_n, 0, 8);
    if (extra) len = g_good_n + (size_t)extra;
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, len, f);
    fclose(f);
    free(b);
}

static void expect_bad(const char *what, long at, int32_t v, size_t n, int extra, int model_vocab,
                       int max_tokens, const char *needle, int item) {
    char path[300];
    snprintf(path, sizeof path, "%s/bad.bin", g_dir);
    craft(path, at, v, n, extra);
    ds_mc_set *s = (ds_mc_set *)1;
    ds_error err = {0};
    int rc = ds_mc_load(path, model_vocab, max_tokens, &s, &err);
    char it[32] = "";
    if (item >= 0) snprintf(it, sizeof it, "item %d", item);
    CHECK_MSG(rc == DS_EXIT_USAGE && s == NULL && strstr(err.msg, path) && strstr(err.msg, needle) &&
                  strstr(err.msg, it),
              "%s: rc %d, message '%s' (wanted '%s' and '%s')", what, rc, err.msg, needle, it);
    printf("  %-28s -> %s\n", what, err.msg);
}

static void test_validation(void) {
    /* 3 items, K 2, vocab 10: item i has label i%2, a context of 2 tokens and
     * continuations of 1 and 2 tokens */
    ds_mc_set *s = ds_mc_new(2, DS_MC_LETTER, 10);
    for (int i = 0; i < 3; i++) {
        int32_t ctx[2] = {1, 2}, c0[1] = {3}, c1[2] = {4, 5};
        const int32_t *cp[2] = {c0, c1};
        int nc[2] = {1, 2}, norm[2] = {1, 1};
        ds_mc_add(s, i % 2, ctx, 2, cp, nc, norm);
    }
    char path[300];
    ds_error err = {0};
    snprintf(path, sizeof path, "%s/good.bin", g_dir);
    CHECK(ds_mc_write(path, s, 2, &err) == 0);
    FILE *f = fopen(path, "rb");
    g_good = malloc(4096);
    g_good_n = fread(g_good, 1, 4096, f);
    fclose(f);
    /* header 1024 bytes; an item: 6 int32 (24 bytes) then 5 uint16 tokens (10 bytes) */
    CHECK(g_good_n == 1024 + 3 * 34);
    long item1 = 1024 + 34, item2 = 1024 + 68;
    {
        ds_mc_set *o = NULL;
        char nf[300];
        snprintf(nf, sizeof nf, "%s/none.bin", g_dir);
        CHECK(ds_mc_load(nf, 0, 0, &o, &err) == DS_EXIT_USAGE && strstr(err.msg, "cannot open") &&
              strstr(err.msg, nf) && !o);
    }
    expect_bad("header truncated", -1, 0, 1000, 0, 0, 0, "less than the 1024-byte header", -1);
    expect_bad("magic", 0, 20240520, 0, 0, 0, 0, "not a multiple-choice set (magic 20240520", -1);
    expect_bad("version", 4, 2, 0, 0, 0, 0, "version 2", -1);
    expect_bad("token width", 8, 3, 0, 0, 0, 0, "token width must be 2 or 4", -1);
    expect_bad("no items", 12, 0, 0, 0, 0, 0, "item count must be at least 1", -1);
    expect_bad("K 1", 16, 1, 0, 0, 0, 0, "choices per item must be 2..26", -1);
    expect_bad("K 27", 16, 27, 0, 0, 0, 0, "choices per item must be 2..26", -1);
    expect_bad("scoring", 20, 2, 0, 0, 0, 0, "scoring must be 0", -1);
    expect_bad("vocabulary 0", 24, 0, 0, 0, 0, 0, "vocabulary size", -1);
    expect_bad("vocabulary > uint16", 24, 70000, 0, 0, 0, 0, "vocabulary size", -1);
    expect_bad("reserved word", 4 * 100, 5, 0, 0, 0, 0, "int32 [100] is 5: reserved", -1);
    expect_bad("more items than data", 12, 4, 0, 0, 0, 0, "truncated at item 3 of 4", 3);
    expect_bad("record truncated", -1, 0, (size_t)item2 + 10, 0, 0, 0, "truncated at item 2", 2);
    expect_bad("tokens truncated", -1, 0, g_good_n - 1, 0, 0, 0, "truncated at item 2", 2);
    expect_bad("label K", item1, 2, 0, 0, 0, 0, "label 2 outside 0..1", 1);
    expect_bad("label -1", item1, -1, 0, 0, 0, 0, "label -1 outside 0..1", 1);
    expect_bad("empty context", item1 + 4, 0, 0, 0, 0, 0, "context of 0 tokens", 1);
    expect_bad("empty continuation", item2 + 12, 0, 0, 0, 0, 0, "continuation 1 has 0 tokens", 2);
    expect_bad("normalizer 0", item2 + 16, 0, 0, 0, 0, 0, "length 0 for acc_norm", 2);
    /* item 1's tokens start at item1 + 24: context 1 2, then 3, then 4 5 */
    {
        unsigned char save[2];
        memcpy(save, g_good + item1 + 24 + 6, 2);
        g_good[item1 + 24 + 6] = 10, g_good[item1 + 24 + 7] = 0; /* continuation 1's first token = 10 */
        expect_bad("token >= file vocabulary", -1, 0, 0, 0, 0, 0,
                   "token 0 of its continuation 1 is 10, not below the vocabulary in the file's header", 1);
        memcpy(g_good + item1 + 24 + 6, save, 2);
    }
    expect_bad("token >= model vocabulary", -1, 0, 0, 0, 5, 0,
               "token 1 of its continuation 1 is 5, not below the model's vocabulary of 5", 0);
    expect_bad("item too long", -1, 0, 0, 0, 0, 3, "= 4 tokens, more than the model's context of 3", 0);
    expect_bad("trailing bytes", -1, 0, 0, 2, 0, 0, "2 bytes after the last of its 3 items", -1);
    free(g_good);
    ds_mc_free(s);
}

/* ---- scoring ------------------------------------------------------------------ */

static const char *SWEEP =
    "name: mc-test\n"
    "task: {kind: count, vocab: 60, train_length: [1, 4], eval_lengths: [3]}\n"
    "model: {head_dim: 16, block: %s, rotary_frac: 0.25}\n"
    "train: {steps: 10, batch: %d, context: 40, lr: 3.0e-3, warmup: 1, log_every: 5}\n"
    "seeds: {start: 0, count: 3}\n"
    "scales:\n"
    "  - {family: width, depth: 2, width: [64]}\n";

typedef struct {
    ds_sweep *s;
    ds_backend *be;
    ds_model *m;
} pack;

static int pack_make(pack *p, const char *block, int batch, int R, const int64_t *seeds) {
    char text[1024];
    ds_error err = {0};
    memset(p, 0, sizeof *p);
    snprintf(text, sizeof text, SWEEP, block, batch);
    ds_backend_opts bo = {.kind = DS_BACKEND_CPU, .precision = DS_PREC_FP32};
    if (ds_sweep_load_text("mc-test.yaml", text, &p->s, &err) || ds_backend_create(&bo, &p->be, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    ds_model_config cfg = ds_model_config_from_sweep(p->s, 0, R);
    if (ds_model_create(&cfg, p->be, &p->m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    /* a larger init than the spec's 0.02, so that choices differ clearly */
    for (int r = 0; r < R; r++) {
        ds_model_init_replica(p->m, r, (uint64_t)seeds[r]);
        float *w = malloc(sizeof(float) * p->m->P);
        ds_model_get_params(p->m, r, w);
        for (size_t i = 0; i < p->m->P; i++) w[i] *= 8.0f;
        ds_model_set_params(p->m, r, w);
        free(w);
    }
    return 0;
}

static void pack_free(pack *p) {
    ds_model_free(p->m);
    if (p->be) p->be->destroy(p->be);
    ds_sweep_free(p->s);
}

typedef struct {
    float acc[8], nll[8];
    int8_t *chosen;
    float *llc;
    ds_mceval_out o;
} result;

static void res_init(result *r, int R, int n) {
    memset(r, 0, sizeof *r);
    r->chosen = calloc((size_t)R * n, 1);
    r->llc = calloc((size_t)R * n, sizeof(float));
    r->o = (ds_mceval_out){r->acc, r->nll, r->chosen, r->llc};
}

static void res_free(result *r) {
    free(r->chosen);
    free(r->llc);
}

/* replica ra of a vs replica rb of b, bit for bit */
static int res_bits(const result *a, int ra, const result *b, int rb, int n) {
    return !memcmp(&a->acc[ra], &b->acc[rb], 4) && !memcmp(&a->nll[ra], &b->nll[rb], 4) &&
           !memcmp(a->chosen + (size_t)ra * n, b->chosen + (size_t)rb * n, (size_t)n) &&
           !memcmp(a->llc + (size_t)ra * n, b->llc + (size_t)rb * n, 4 * (size_t)n);
}

/* Whether this OpenBLAS gives a row's sgemm results independent of where
 * the row lies in the product (src/mceval.h): its SkylakeX and Cooperlake
 * kernels at these shapes do (checked here, 2026-12-05/06); the AVX2 ones
 * (Haswell, Zen) and SSE3 (Prescott) do not: a batch's rows there land in
 * edge tiles whose micro-kernels sum in another order. */
static int ROWS_BITWISE = 1;

/* The largest relative difference of replica ra of a and rb of b over
 * ll_correct and mc_nll, or INFINITY where mc_acc or a chosen answer differ
 * (random models with 8x the init: no near-ties at these sizes). */
static double res_diff(const result *a, int ra, const result *b, int rb, int n) {
    if (a->acc[ra] != b->acc[rb] ||
        memcmp(a->chosen + (size_t)ra * n, b->chosen + (size_t)rb * n, (size_t)n))
        return INFINITY;
    double worst = fabs((double)a->nll[ra] - b->nll[rb]) / fmax(1.0, fabs((double)a->nll[ra]));
    for (int i = 0; i < n; i++) {
        double x = a->llc[(size_t)ra * n + i], y = b->llc[(size_t)rb * n + i];
        worst = fmax(worst, fabs(x - y) / fmax(1.0, fabs(x)));
    }
    return worst;
}

/* MC_TOL: scores of another packing where rows are not bitwise (above):
 * the logits differ by fp32 rounding of sums in another order (a few ulp of
 * activations made large by the 8x init, through 2 layers), LLs of at most
 * 6 tokens. Measured 2026-12-06: 1.0e-5 with OpenBLAS's Haswell and Zen
 * kernels, 4.2e-6 with Prescott; 1e-4 leaves a 10x margin, while a row or an
 * offset mixed up moves them by O(1). */
#define MC_TOL 1e-4
static double worst_packing = 0;

/* replica ra of a vs rb of b: bit for bit where rows are bitwise, else within MC_TOL */
static int res_same(const result *a, int ra, const result *b, int rb, int n) {
    if (ROWS_BITWISE) return res_bits(a, ra, b, rb, n);
    double d = res_diff(a, ra, b, rb, n);
    worst_packing = fmax(worst_packing, d);
    return d <= MC_TOL;
}

static int stop_after(void *ctx) { return --*(int *)ctx < 0; }

static void test_scoring(const char *block, int K, ds_mc_scoring sc, int max_cont) {
    enum { R = 3, N = 23 };
    int64_t seeds[R] = {5, 9, 2};
    pack p;
    if (pack_make(&p, block, 4, R, seeds)) {
        CHECK(0);
        return;
    }
    int V = p.m->cfg.V; /* 64 */
    ds_mc_set *set = random_set(100 + K, N, K, sc, V, 19, 30, max_cont);
    ds_error err = {0};
    result ref;
    res_init(&ref, R, N);
    CHECK_MSG(ds_mceval_score_reference(p.m, set, &ref.o, &err) == 0, "%s", err.msg);
    printf("  %s K=%d %s, continuations of 1..%d tokens: mc_acc %.4f %.4f %.4f, mc_nll %.4f %.4f %.4f\n", block, K,
           ds_mc_scoring_names[sc], max_cont, ref.acc[0], ref.acc[1], ref.acc[2], ref.nll[0], ref.nll[1], ref.nll[2]);
    CHECK(ref.acc[0] != ref.acc[1] || ref.nll[0] != ref.nll[1]); /* the replicas differ */
    /* packings: rows per batch 1, 2, 3, 7, as many as fit */
    int rows[] = {1, 2, 3, 7, 0};
    for (int i = 0; i < 5; i++) {
        result b, again;
        res_init(&b, R, N);
        res_init(&again, R, N);
        CHECK_MSG(ds_mceval_score(p.m, set, rows[i], &b.o, NULL, NULL, &err) == 0, "%s", err.msg);
        CHECK_MSG(ds_mceval_score(p.m, set, rows[i], &again.o, NULL, NULL, &err) == 0, "%s", err.msg);
        for (int r = 0; r < R; r++) {
            CHECK_MSG(res_same(&ref, r, &b, r, N), "%s K=%d max_rows %d replica %d differs from the "
                      "reference", block, K, rows[i], r);
            /* one packing: bit for bit on every kernel (a resume's evaluation, eval --mc) */
            CHECK_MSG(res_bits(&b, r, &again, r, N), "%s K=%d max_rows %d replica %d: two scorings "
                      "differ", block, K, rows[i], r);
        }
        res_free(&b);
        res_free(&again);
    }
    /* another activation capacity (batch 9 rows of 39 positions), each replica alone */
    for (int r = 0; r < R; r++) {
        pack q;
        if (pack_make(&q, block, 9, 1, &seeds[r])) {
            CHECK(0);
            break;
        }
        result b;
        res_init(&b, 1, N);
        CHECK_MSG(ds_mceval_score(q.m, set, 0, &b.o, NULL, NULL, &err) == 0, "%s", err.msg);
        CHECK_MSG(res_same(&ref, r, &b, 0, N), "%s K=%d replica %d alone with capacity 9x39 differs",
                  block, K, r);
        res_free(&b);
        pack_free(&q);
    }
    /* the LL of the correct choice from the logits, in double (1-row forwards) */
    float *logits = malloc(sizeof(float) * 64 * V);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        int k = set->label[i], nc = set->ctx_len[i], n = nc + set->cont_len[(size_t)i * K + k];
        int32_t *tok = malloc(sizeof(int32_t) * R * n);
        uint8_t *mask = calloc((size_t)R * n, 1);
        for (int r = 0; r < R; r++) {
            memcpy(tok + r * n, ds_mc_context(set, i), 4 * (size_t)nc);
            memcpy(tok + r * n + nc, ds_mc_continuation(set, i, k), 4 * (size_t)(n - nc));
            mask[r * n + n - 1] = 1;
        }
        ds_model_set_batch(p.m, tok, mask, 1, n - 1);
        ds_model_forward(p.m, NULL);
        for (int r = 0; r < R; r++) {
            ds_model_get_logits(p.m, r, logits);
            double ll = 0;
            for (int t = nc - 1; t < n - 1; t++) {
                const float *x = logits + (size_t)t * V;
                double mx = x[0], s = 0;
                for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
                for (int v = 0; v < V; v++) s += exp(x[v] - mx);
                ll += x[tok[r * n + t + 1]] - mx - log(s);
            }
            double d = fabs(ll - ref.llc[(size_t)r * N + i]) / (1 + fabs(ll));
            worst = d > worst ? d : worst;
        }
        free(tok);
        free(mask);
    }
    printf("  LL vs double log-softmax of the logits: max relative difference %.3g\n", worst);
    CHECK(worst < 1e-5);
    free(logits);
    /* stop between batches */
    result b;
    res_init(&b, R, N);
    int left = 1;
    CHECK(ds_mceval_score(p.m, set, 2, &b.o, stop_after, &left, &err) == DS_EXIT_INTERRUPTED);
    res_free(&b);
    res_free(&ref);
    ds_mc_free(set);
    pack_free(&p);
}

static void test_scorer_errors(void) {
    int64_t seeds[1] = {1};
    pack p;
    if (pack_make(&p, "parallel", 1, 1, seeds)) {
        CHECK(0);
        return;
    }
    ds_error err = {0};
    float acc, nll;
    ds_mceval_out o = {&acc, &nll, NULL, NULL};
    /* capacity 1 x 39 positions: a row of 41 tokens does not fit */
    ds_mc_set *s = ds_mc_new(2, DS_MC_LETTER, 64);
    int32_t ctx[40] = {0}, c0[1] = {1}, c1[1] = {2};
    const int32_t *cp[2] = {c0, c1};
    int nc[2] = {1, 1};
    ds_mc_add(s, 0, ctx, 3, cp, nc, NULL);
    ds_mc_add(s, 1, ctx, 40, cp, nc, NULL);
    CHECK(ds_mceval_score(p.m, s, 0, &o, NULL, NULL, &err) == DS_EXIT_USAGE &&
          strstr(err.msg, "item 1: choice 0 makes a row of 41 tokens"));
    CHECK(ds_mceval_score_reference(p.m, s, &o, &err) == DS_EXIT_USAGE && strstr(err.msg, "item 1"));
    ds_mc_free(s);
    /* a token over the model's vocabulary of 64 */
    s = ds_mc_new(2, DS_MC_LETTER, 70);
    int32_t big[1] = {66};
    const int32_t *cq[2] = {c0, big};
    ds_mc_add(s, 0, ctx, 3, cp, nc, NULL);
    ds_mc_add(s, 0, ctx, 3, cq, nc, NULL);
    CHECK(ds_mceval_score(p.m, s, 0, &o, NULL, NULL, &err) == DS_EXIT_USAGE &&
          strstr(err.msg, "item 1: token id 66 is not below the model's vocabulary of 64"));
    ds_mc_free(s);
    pack_free(&p);
}

static void test_reduce(void) {
    ds_mc_set *s = ds_mc_new(4, DS_MC_LETTER, 10);
    int32_t ctx[1] = {1}, c[1] = {2};
    const int32_t *cp[4] = {c, c, c, c};
    int nc[4] = {1, 1, 1, 1}, norm[4] = {1, 4, 2, 8};
    for (int i = 0; i < 4; i++) ds_mc_add(s, i == 3 ? 2 : 1, ctx, 1, cp, nc, norm);
    double ll[16] = {
        -2, -1, -1, -3,             /* tie between 1 and 2: the first, 1 (right) */
        -1, -1, -1, -1,             /* all equal: 0 (wrong) */
        NAN, -5, -4, NAN,           /* NaN never wins: 2 (wrong) */
        NAN, NAN, NAN, NAN,         /* nothing: -1 (wrong) */
    };
    int8_t ch[4];
    float llc[4], acc, nll;
    ds_mceval_reduce(s, ll, &acc, &nll, ch, llc);
    CHECK(ch[0] == 1 && ch[1] == 0 && ch[2] == 2 && ch[3] == -1);
    CHECK(acc == 0.25f && isnan(nll) && llc[0] == -1.0f && llc[1] == -1.0f && llc[2] == -5.0f && isnan(llc[3]));
    ds_mceval_reduce(s, ll, &acc, &nll, NULL, NULL); /* outputs per item optional */
    /* completion style: LL / norm: item 0 -> -2, -0.25, -0.5, -0.375: 1 (right); item 1 -> -1,
     * -0.25, -0.5, -0.125: 3; item 2 -> NaN, -1.25, -2, NaN: 1 (right); the mean NLL of
     * the first two items: 1 */
    s->scoring = DS_MC_COMPLETION;
    ds_mceval_reduce(s, ll, &acc, &nll, ch, llc);
    CHECK(ch[0] == 1 && ch[1] == 3 && ch[2] == 1 && ch[3] == -1 && acc == 0.5f);
    s->n_items = 2;
    ds_mceval_reduce(s, ll, &acc, &nll, ch, llc);
    CHECK(acc == 0.5f && nll == 1.0f);
    s->n_items = 4;
    ds_mc_free(s);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/ds_mc_test_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    const char *core = openblas_get_corename();
    ROWS_BITWISE = core && (!strcmp(core, "SkylakeX") || !strcmp(core, "Cooperlake"));
    printf("OpenBLAS core %s: packings compared %s\n", core ? core : "?",
           ROWS_BITWISE ? "bit for bit" : "within 1e-4 relative (rows not bitwise on this kernel)");
    printf("round trip\n");
    test_roundtrip();
    printf("validation\n");
    test_validation();
    printf("reduction (ties, NaN, acc_norm)\n");
    test_reduce();
    printf("scoring: batched vs reference\n");
    test_scoring("parallel", 4, DS_MC_LETTER, 1);       /* every item one row (one-token choices) */
    test_scoring("sequential", 5, DS_MC_COMPLETION, 6); /* K rows an item */
    test_scoring("parallel", 3, DS_MC_LETTER, 2);       /* both kinds in one batch */
    if (!ROWS_BITWISE) printf("  largest relative difference of another packing: %.2e\n", worst_packing);
    printf("scorer errors\n");
    test_scorer_errors();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (!ds_test_failures && system(cmd) != 0) return 1;
    TEST_MAIN_END();
}
