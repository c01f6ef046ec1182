/* test_tasks: the count and addition tasks against docs/spec-tasks.md §1-2.
 *
 * Golden sequences written by hand from the spec, the documented draw order
 * re-implemented here from ds_rng, packing and mask invariants over many
 * random rows (each row parsed back into examples), evaluation-set sizes and
 * contents, and determinism (a key gives the same row whatever came before). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "task_impl.h"
#include "tasks.h"
#include "../test.h"

enum { BOS = 10, SEP = 11, EOS = 12, PAD = 13, PLUS = 14, HINT0 = 15 };

static ds_task_spec count_spec(int vocab, int lo, int hi) {
    ds_task_spec t;
    memset(&t, 0, sizeof t);
    t.kind = DS_TASK_COUNT;
    t.vocab = vocab;
    t.train_min = lo;
    t.train_max = hi;
    t.n_eval_lengths = 2;
    t.eval_lengths[0] = 60;
    t.eval_lengths[1] = 100;
    return t;
}

static ds_task_spec add_spec(int lo, int hi, int hints, int examples, uint64_t eval_seed) {
    ds_task_spec t;
    memset(&t, 0, sizeof t);
    t.kind = DS_TASK_ADDITION;
    t.train_min = lo;
    t.train_max = hi;
    t.n_eval_lengths = 1;
    t.eval_lengths[0] = 40;
    t.hint_tokens = hints;
    t.eval_examples = examples;
    t.eval_seed = eval_seed;
    return t;
}

static int same(const int32_t *a, const int32_t *b, int n) { return !memcmp(a, b, sizeof *a * (size_t)n); }
static int same8(const uint8_t *a, const uint8_t *b, int n) { return !memcmp(a, b, (size_t)n); }

/* ---- the interface: table, sizes, names -------------------------------- */

static void test_interface(void) {
    ds_task_spec c = count_spec(150, 1, 30), a = add_spec(1, 35, 41, 64000, 1234);
    const ds_task_ops *co = ds_task_get(&c), *ao = ds_task_get(&a);
    CHECK(co && !strcmp(co->name, "count"));
    CHECK(ao && !strcmp(ao->name, "addition"));
    ds_task_kind k = DS_TASK_COUNT;
    CHECK(ds_task_find("addition", &k) == ao && k == DS_TASK_ADDITION);
    CHECK(ds_task_find("count", &k) == co && k == DS_TASK_COUNT);
    CHECK(ds_task_find("counting", NULL) == NULL);
    CHECK(ds_task_find("", NULL) == NULL);
    ds_task_spec bad = c;
    bad.kind = (ds_task_kind)77;
    CHECK(ds_task_get(&bad) == NULL);

    CHECK(co->vocab_total(&c) == 154);
    CHECK(co->example_tokens(&c, 30) == 35);
    CHECK(co->eval_tokens(&c, 60) == 64);
    CHECK(co->eval_count(&c, 60) == 91);
    CHECK(co->eval_count(&c, 100) == 51);
    CHECK(co->eval_count(&c, 150) == 1);
    CHECK(co->eval_count(&c, 151) == 0);
    CHECK(ao->vocab_total(&a) == 15 + 41);
    CHECK(ao->example_tokens(&a, 35) == 6 * 36 + 4);
    CHECK(ao->eval_tokens(&a, 40) == 6 * 41 + 4);
    CHECK(ao->eval_count(&a, 40) == 64000);
    CHECK(ao->eval_count(&a, 41) == 0 && ao->eval_count(&a, 0) == 0);
    CHECK(co->eval_count(&c, 0) == 0);

    char b[16];
    co->token_name(&c, 0, b, sizeof b); CHECK(!strcmp(b, "0"));
    co->token_name(&c, 149, b, sizeof b); CHECK(!strcmp(b, "149"));
    co->token_name(&c, 150, b, sizeof b); CHECK(!strcmp(b, "$"));
    co->token_name(&c, 151, b, sizeof b); CHECK(!strcmp(b, ">"));
    co->token_name(&c, 152, b, sizeof b); CHECK(!strcmp(b, "."));
    co->token_name(&c, 153, b, sizeof b); CHECK(!strcmp(b, "*"));
    co->token_name(&c, 154, b, sizeof b); CHECK(b[0] == '?');
    ao->token_name(&a, 7, b, sizeof b); CHECK(!strcmp(b, "7"));
    ao->token_name(&a, 10, b, sizeof b); CHECK(!strcmp(b, "$"));
    ao->token_name(&a, 11, b, sizeof b); CHECK(!strcmp(b, ">"));
    ao->token_name(&a, 12, b, sizeof b); CHECK(!strcmp(b, "."));
    ao->token_name(&a, 13, b, sizeof b); CHECK(!strcmp(b, "*"));
    ao->token_name(&a, 14, b, sizeof b); CHECK(!strcmp(b, "+"));
    ao->token_name(&a, 15, b, sizeof b); CHECK(!strcmp(b, "a0"));
    ao->token_name(&a, 22, b, sizeof b); CHECK(!strcmp(b, "a7"));
    ao->token_name(&a, 55, b, sizeof b); CHECK(!strcmp(b, "a40"));
    ao->token_name(&a, 56, b, sizeof b); CHECK(b[0] == '?');
}

/* ---- golden sequences, by hand from the spec ---------------------------- */

static void test_golden_count(void) {
    ds_task_spec c = count_spec(150, 1, 30);
    int32_t tok[16];
    uint8_t m[16];
    /* `$ 5 9 > 5 6 7 8 9 .` (L=5, 10 tokens), scored: 5 6 7 8 9 . */
    ds_task_writer w = {tok, m, 0, 16};
    ds_task_count_write(&c, &w, 5, 5, 1);
    const int32_t g[] = {150, 5, 9, 151, 5, 6, 7, 8, 9, 152};
    const uint8_t gm[] = {0, 0, 0, 0, 1, 1, 1, 1, 1, 1};
    CHECK(w.pos == 10 && same(tok, g, 10) && same8(m, gm, 10));
    char what[64];
    ds_task_get(&c)->describe(&c, tok, 10, what, sizeof what);
    CHECK(!strcmp(what, "count 5..9 (5 numbers)"));

    /* L=1 at the top of the vocabulary: `$ 149 149 > 149 .` */
    w.pos = 0;
    ds_task_count_write(&c, &w, 149, 1, 1);
    const int32_t g1[] = {150, 149, 149, 151, 149, 152};
    const uint8_t gm1[] = {0, 0, 0, 0, 1, 1};
    CHECK(w.pos == 6 && same(tok, g1, 6) && same8(m, gm1, 6));

    /* Evaluation at L=5, example 3: s = 3, no `.`: `$ 3 7 > 3 4 5 6 7` */
    const ds_task_ops *op = ds_task_get(&c);
    op->eval_example(&c, 5, 3, tok, m);
    const int32_t ge[] = {150, 3, 7, 151, 3, 4, 5, 6, 7};
    const uint8_t gme[] = {0, 0, 0, 0, 1, 1, 1, 1, 1};
    CHECK(same(tok, ge, 9) && same8(m, gme, 9));
    /* The last example at L=100 with V=150 starts at 50 and ends at 149. */
    int32_t big[104];
    uint8_t bm[104];
    op->eval_example(&c, 100, 50, big, bm);
    CHECK(big[0] == 150 && big[1] == 50 && big[2] == 149 && big[3] == 151 && big[4] == 50 &&
          big[103] == 149);
}

static void test_golden_addition(void) {
    ds_task_spec a = add_spec(1, 35, 41, 10, 1234);
    int32_t tok[64];
    uint8_t m[64];
    /* docs/spec-tasks.md §2: 034+028, W=3, o=0 ->
     * $ a0 0 a1 3 a2 4 + a0 0 a1 2 a2 8 > a2 2 a1 6 a0 0 . */
    const uint8_t x1[] = {0, 3, 4}, y1[] = {0, 2, 8};
    ds_task_writer w = {tok, m, 0, 64};
    ds_task_addition_write(&a, &w, 3, 0, x1, y1);
    const int32_t g1[] = {BOS, HINT0 + 0, 0, HINT0 + 1, 3, HINT0 + 2, 4,
                          PLUS, HINT0 + 0, 0, HINT0 + 1, 2, HINT0 + 2, 8,
                          SEP, HINT0 + 2, 2, HINT0 + 1, 6, HINT0 + 0, 0, EOS};
    const uint8_t gm1[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1};
    CHECK(w.pos == 22 && w.pos == 6 * 3 + 4);
    CHECK(same(tok, g1, 22) && same8(m, gm1, 22));
    char what[64];
    ds_task_get(&a)->describe(&a, tok, 22, what, sizeof what);
    CHECK(!strcmp(what, "034 + 028 = 062"));
    ds_task_get(&a)->describe(&a, tok, 21, what, sizeof what); /* not an example */
    CHECK(!strcmp(what, "?"));

    /* Carry out into the padding digit: 95+07 = 102 (n1 = n2 = 2, W = 3), o = 4:
     * $ a4 0 a5 9 a6 5 + a4 0 a5 0 a6 7 > a6 2 a5 0 a4 1 . */
    const uint8_t x2[] = {0, 9, 5}, y2[] = {0, 0, 7};
    w.pos = 0;
    ds_task_addition_write(&a, &w, 3, 4, x2, y2);
    const int32_t g2[] = {BOS, HINT0 + 4, 0, HINT0 + 5, 9, HINT0 + 6, 5,
                          PLUS, HINT0 + 4, 0, HINT0 + 5, 0, HINT0 + 6, 7,
                          SEP, HINT0 + 6, 2, HINT0 + 5, 0, HINT0 + 4, 1, EOS};
    CHECK(w.pos == 22 && same(tok, g2, 22) && same8(m, gm1, 22));
    ds_task_get(&a)->describe(&a, tok, 22, what, sizeof what);
    CHECK(!strcmp(what, "095 + 007 = 102"));

    /* A carry chain through every digit: 0999+0001 = 1000 (W = 4), o = 37 = H-W:
     * $ a37 0 a38 9 a39 9 a40 9 + a37 0 a38 0 a39 0 a40 1 > a40 0 a39 0 a38 0 a37 1 . */
    const uint8_t x3[] = {0, 9, 9, 9}, y3[] = {0, 0, 0, 1};
    w.pos = 0;
    ds_task_addition_write(&a, &w, 4, 37, x3, y3);
    const int32_t g3[] = {BOS,  HINT0 + 37, 0, HINT0 + 38, 9, HINT0 + 39, 9, HINT0 + 40, 9,
                          PLUS, HINT0 + 37, 0, HINT0 + 38, 0, HINT0 + 39, 0, HINT0 + 40, 1,
                          SEP,  HINT0 + 40, 0, HINT0 + 39, 0, HINT0 + 38, 0, HINT0 + 37, 1, EOS};
    CHECK(w.pos == 28 && same(tok, g3, 28));
    for (int i = 0; i < 28; i++) CHECK(m[i] == (i > 18));
    char b[8];
    ds_task_get(&a)->token_name(&a, tok[1], b, sizeof b); CHECK(!strcmp(b, "a37"));
}

/* ---- the documented draw order, re-implemented from ds_rng ------------- */

/* Count: per example L = range(train_min, train_max), then s = range(0, V-L). */
static void test_draw_order_count(void) {
    ds_task_spec c = count_spec(100, 3, 12);
    const ds_task_ops *op = ds_task_get(&c);
    int32_t tok[200], ref[200 + 32];
    uint8_t m[200];
    for (uint64_t row = 0; row < 50; row++) {
        op->train_row(&c, 42, row, 200, tok, m);
        ds_rng r;
        ds_rng_init(&r, 42, DS_STREAM_TRAIN, row);
        int n = 0;
        while (n < 200) {
            int L = (int)ds_rng_range(&r, 3, 12);
            int s = (int)ds_rng_range(&r, 0, 100 - L);
            ref[n++] = 100, ref[n++] = s, ref[n++] = s + L - 1, ref[n++] = 101;
            for (int i = 0; i < L; i++) ref[n++] = s + i;
            ref[n++] = 102;
        }
        CHECK_MSG(same(tok, ref, 200), "row %d", (int)row);
    }
}

/* Addition training: n1, n2, o, then x's n1 digits and y's n2 digits
 * (most significant first). Evaluation key (eval_seed, EVAL, L<<32 | index):
 * o, then L digits of x and L of y. */
static void test_draw_order_addition(void) {
    ds_task_spec a = add_spec(1, 8, 12, 20, 99);
    const ds_task_ops *op = ds_task_get(&a);
    int32_t tok[300], ref[300 + 64];
    uint8_t m[300];
    for (uint64_t row = 0; row < 30; row++) {
        op->train_row(&a, 5, row, 300, tok, m);
        ds_rng r;
        ds_rng_init(&r, 5, DS_STREAM_TRAIN, row);
        int n = 0;
        while (n < 300) {
            int n1 = (int)ds_rng_range(&r, 1, 8), n2 = (int)ds_rng_range(&r, 1, 8);
            int W = (n1 > n2 ? n1 : n2) + 1;
            int o = (int)ds_rng_range(&r, 0, 12 - W);
            int x[10] = {0}, y[10] = {0};
            for (int i = W - n1; i < W; i++) x[i] = (int)ds_rng_range(&r, 0, 9);
            for (int i = W - n2; i < W; i++) y[i] = (int)ds_rng_range(&r, 0, 9);
            long long xv = 0, yv = 0;
            for (int i = 0; i < W; i++) xv = xv * 10 + x[i], yv = yv * 10 + y[i];
            long long z = xv + yv;
            ref[n++] = BOS;
            for (int i = 0; i < W; i++) ref[n++] = HINT0 + o + i, ref[n++] = x[i];
            ref[n++] = PLUS;
            for (int i = 0; i < W; i++) ref[n++] = HINT0 + o + i, ref[n++] = y[i];
            ref[n++] = SEP;
            for (int j = 0; j < W; j++, z /= 10) ref[n++] = HINT0 + o + W - 1 - j, ref[n++] = (int)(z % 10);
            ref[n++] = EOS;
        }
        CHECK_MSG(same(tok, ref, 300), "row %d", (int)row);
    }
    for (int L = 1; L <= 11; L += 5) {
        for (int64_t k = 0; k < 20; k++) {
            int n = op->eval_tokens(&a, L);
            op->eval_example(&a, L, k, tok, m);
            ds_rng r;
            ds_rng_init(&r, 99, DS_STREAM_EVAL, ((uint64_t)L << 32) | (uint64_t)k);
            int W = L + 1, o = (int)ds_rng_range(&r, 0, 12 - W);
            CHECK(tok[1] == HINT0 + o && tok[2] == 0);
            for (int i = 1; i < W; i++) CHECK(tok[2 + 2 * i] == (int)ds_rng_range(&r, 0, 9));
            for (int i = 1; i < W; i++) CHECK(tok[2 * W + 3 + 2 * i] == (int)ds_rng_range(&r, 0, 9));
            CHECK(tok[n - 1] == EOS);
        }
    }
}

/* ---- packing and mask invariants ---------------------------------------- */

/* Parses a count row; returns the number of complete examples, or -1 after
 * reporting a violation. Lengths seen are tallied in hist. */
static int check_count_row(const ds_task_spec *t, const int32_t *tok, const uint8_t *m, int T,
                           int *hist) {
    const int V = t->vocab;
    int p = 0, complete = 0;
    if (T > 0 && (tok[0] != V || m[0] != 0)) return -1;
    while (p < T) {
        if (tok[p] != V) return -1; /* every example starts with `$` */
        int L = -1;
        if (p + 2 < T) {
            int s = tok[p + 1], e = tok[p + 2];
            if (s < 0 || e >= V || e < s) return -1;
            L = e - s + 1;
            if (L < t->train_min || L > t->train_max) return -1;
        }
        int len = L > 0 ? L + 5 : T - p + 1; /* unknown length: surely truncated */
        int full = p + len <= T;
        for (int i = p; i < p + len && i < T; i++) {
            int k = i - p; /* offset in the example */
            int32_t want = k == 0 ? V : k == 1 ? tok[p + 1] : k == 2 ? tok[p + 2] : k == 3 ? V + 1
                         : k < len - 1 ? tok[p + 1] + (k - 4) : V + 2;
            if (tok[i] != want) return -1;
            int scored = full && k >= 4;
            if (m[i] != scored) return -1;
        }
        if (full) {
            complete++;
            hist[L]++;
        }
        p += len;
    }
    return complete;
}

static void test_count_rows(void) {
    ds_task_spec c = count_spec(150, 1, 30);
    const ds_task_ops *op = ds_task_get(&c);
    enum { T = 256, ROWS = 3000 };
    static int32_t tok[T + 8];
    static uint8_t m[T + 8];
    int hist[31] = {0}, truncated = 0, exact = 0;
    long long scored = 0, tokens = 0;
    double s_frac = 0;
    int s_n = 0;
    for (int row = 0; row < ROWS; row++) {
        tok[T] = -7, m[T] = 7; /* sentinels: nothing written past the row */
        op->train_row(&c, 1000 + (row % 3), (uint64_t)row, T, tok, m);
        CHECK(tok[T] == -7 && m[T] == 7);
        int n = check_count_row(&c, tok, m, T, hist);
        CHECK_MSG(n >= 1, "row %d does not parse", row);
        /* Truncated tail: the last `$` starts an example that does not end
         * with a scored `.` at T-1. */
        if (tok[T - 1] == 152 && m[T - 1]) exact++;
        else {
            truncated++;
            CHECK(m[T - 1] == 0);
        }
        for (int i = 0; i < T; i++) {
            scored += m[i], tokens++;
            if (tok[i] == 150 && i + 2 < T && tok[i + 2] - tok[i + 1] + 1 < 150)
                s_frac += (double)tok[i + 1] / (150 - (tok[i + 2] - tok[i + 1] + 1)), s_n++;
        }
    }
    for (int L = 1; L <= 30; L++) CHECK_MSG(hist[L] > 100, "length %d seen %d times", L, hist[L]);
    CHECK(truncated > exact); /* most rows end mid-example */
    CHECK(scored > tokens / 2 && scored < tokens);
    CHECK_NEAR(s_frac / s_n, 0.5, 0.02); /* start uniform on 0..V-L */

    /* A row exactly one example long is fully scored; one token more and
     * that token is a masked `$`. A context shorter than one example is one
     * truncated, unscored example. */
    ds_task_spec c5 = count_spec(150, 5, 5);
    op->train_row(&c5, 1, 0, 10, tok, m);
    CHECK(tok[0] == 150 && tok[9] == 152 && m[9] == 1 && m[4] == 1 && m[3] == 0);
    op->train_row(&c5, 1, 0, 11, tok, m);
    CHECK(tok[10] == 150 && m[10] == 0 && m[9] == 1);
    op->train_row(&c5, 1, 0, 7, tok, m);
    for (int i = 0; i < 7; i++) CHECK(m[i] == 0);
    CHECK(tok[0] == 150 && tok[3] == 151 && tok[4] == tok[1] && tok[6] == tok[1] + 2);
    op->train_row(&c5, 1, 0, 1, tok, m);
    CHECK(tok[0] == 150 && m[0] == 0);
}

/* Parses an addition row, checking every complete example's sum. */
static int check_add_row(const ds_task_spec *t, const int32_t *tok, const uint8_t *m, int T,
                         int *widths) {
    const int H = t->hint_tokens;
    int p = 0, complete = 0;
    while (p < T) {
        if (tok[p] != BOS || m[p] != 0) return -1;
        /* Width from the first operand: pairs until `+` (or the row's end). */
        int W = 0;
        while (p + 1 + 2 * W < T && tok[p + 1 + 2 * W] != PLUS) W++;
        int len = 6 * W + 4;
        if (p + len > T) { /* truncated: nothing scored, tokens in range */
            for (int i = p; i < T; i++)
                if (m[i] != 0 || tok[i] < 0 || tok[i] >= HINT0 + H) return -1;
            return complete;
        }
        if (W - 1 < t->train_min || W - 1 > t->train_max) return -1;
        const int32_t *e = tok + p;
        int o = e[1] - HINT0;
        if (o < 0 || o + W > H) return -1;
        for (int i = 0; i < W; i++) {
            if (e[1 + 2 * i] != HINT0 + o + i || e[2 * W + 2 + 2 * i] != HINT0 + o + i) return -1;
            int xd = e[2 + 2 * i], yd = e[2 * W + 3 + 2 * i];
            if (xd < 0 || xd > 9 || yd < 0 || yd > 9) return -1;
        }
        if (e[1 + 2 * W] != PLUS || e[4 * W + 2] != SEP || e[6 * W + 3] != EOS) return -1;
        if (e[2] != 0 || e[2 * W + 3] != 0) return -1; /* the padding digits */
        /* Every answer is the true sum, by schoolbook addition (operands may
         * be longer than any integer type). */
        int carry = 0;
        for (int j = 0; j < W; j++) {
            int i = W - 1 - j; /* answer pair j holds significance of operand digit i */
            int sum = e[2 + 2 * i] + e[2 * W + 3 + 2 * i] + carry;
            carry = sum / 10;
            if (e[4 * W + 3 + 2 * j] != HINT0 + o + i || e[4 * W + 4 + 2 * j] != sum % 10) return -1;
        }
        if (carry != 0) return -1;
        for (int k = 0; k < len; k++)
            if (m[p + k] != (k > 4 * W + 2)) return -1;
        widths[W]++;
        complete++;
        p += len;
    }
    return complete;
}

static void test_addition_rows(void) {
    ds_task_spec a = add_spec(1, 15, 20, 10, 1234);
    const ds_task_ops *op = ds_task_get(&a);
    enum { T = 512, ROWS = 6000 };
    static int32_t tok[T + 8];
    static uint8_t m[T + 8];
    int widths[20] = {0};
    int hint_lo = 1000, hint_hi = -1;
    for (int row = 0; row < ROWS; row++) {
        tok[T] = -7, m[T] = 7;
        op->train_row(&a, 77, (uint64_t)row, T, tok, m);
        CHECK(tok[T] == -7 && m[T] == 7);
        int n = check_add_row(&a, tok, m, T, widths);
        CHECK_MSG(n >= 1, "addition row %d does not parse", row);
        for (int i = 0; i < T; i++)
            if (tok[i] >= HINT0) {
                if (tok[i] < hint_lo) hint_lo = tok[i];
                if (tok[i] > hint_hi) hint_hi = tok[i];
            }
    }
    for (int W = 2; W <= 16; W++) CHECK_MSG(widths[W] > 50, "width %d seen %d times", W, widths[W]);
    CHECK(widths[0] == 0 && widths[1] == 0 && widths[17] == 0);
    /* W = max(n1, n2) + 1 with independent uniform n: P(W-1 = 15) = 29/225. */
    int total = 0;
    for (int W = 0; W < 20; W++) total += widths[W];
    CHECK_NEAR((double)widths[16] / total, 29.0 / 225.0, 0.02);
    CHECK(hint_lo == HINT0 && hint_hi == HINT0 + 19); /* offsets reach both ends */

    /* train_min raises both operand lengths' lower bound. */
    ds_task_spec a5 = add_spec(5, 6, 7, 10, 1234);
    int w5[20] = {0};
    for (int row = 0; row < 100; row++) {
        op->train_row(&a5, 3, (uint64_t)row, 200, tok, m);
        CHECK(check_add_row(&a5, tok, m, 200, w5) >= 1);
    }
    CHECK(w5[6] > 0 && w5[7] > 0 && w5[6] + w5[7] >= 100 * 3);
    for (int W = 0; W < 6; W++) CHECK(w5[W] == 0);

    /* Operands wider than the generator's stack buffer (it switches to the
     * heap) are still exact sums. */
    ds_task_spec wide = add_spec(300, 300, 301, 4, 1234);
    enum { TW = 6 * 301 + 4 + 100 };
    static int32_t wt[TW];
    static uint8_t wm[TW];
    static int ww[302];
    for (int row = 0; row < 5; row++) {
        op->train_row(&wide, 8, (uint64_t)row, TW, wt, wm);
        CHECK(check_add_row(&wide, wt, wm, TW, ww) == 1);
        CHECK(wt[6 * 301 + 4] == BOS && wm[TW - 1] == 0); /* then a cut-off example */
    }
    CHECK(ww[301] == 5);
    for (int k = 0; k < 4; k++) {
        op->eval_example(&wide, 300, k, wt, wm);
        CHECK(check_add_row(&wide, wt, wm, op->eval_tokens(&wide, 300), ww) == 1);
    }
}

/* ---- evaluation sets --------------------------------------------------- */

static void test_count_eval(void) {
    ds_task_spec c = count_spec(150, 1, 30);
    const ds_task_ops *op = ds_task_get(&c);
    const int lengths[] = {60, 100, 1, 150};
    const int64_t sizes[] = {91, 51, 150, 1};
    for (int li = 0; li < 4; li++) {
        int L = lengths[li], n = op->eval_tokens(&c, L);
        CHECK(op->eval_count(&c, L) == sizes[li]);
        int32_t *all = calloc((size_t)sizes[li] * (size_t)n, sizeof *all);
        uint8_t *m = calloc((size_t)n, 1);
        for (int64_t k = 0; k < sizes[li]; k++) {
            int32_t *tok = all + k * n;
            op->eval_example(&c, L, k, tok, m);
            CHECK(tok[0] == 150 && tok[1] == k && tok[2] == k + L - 1 && tok[3] == 151);
            for (int i = 0; i < L; i++) CHECK(tok[4 + i] == k + i && m[4 + i] == 1);
            CHECK(m[0] == 0 && m[1] == 0 && m[2] == 0 && m[3] == 0);
            for (int64_t j = 0; j < k; j++) CHECK(!same(tok, all + j * n, n)); /* distinct */
        }
        free(all);
        free(m);
    }
}

static void test_addition_eval(void) {
    ds_task_spec a = add_spec(1, 35, 41, 300, 1234);
    const ds_task_ops *op = ds_task_get(&a);
    const int L = 40, n = op->eval_tokens(&a, L);
    CHECK(n == 250 && op->eval_count(&a, L) == 300);
    int32_t *set1 = calloc(300 * (size_t)n, sizeof *set1), *set2 = calloc(300 * (size_t)n, sizeof *set2);
    uint8_t *m1 = calloc(300 * (size_t)n, 1), *m2 = calloc(300 * (size_t)n, 1);
    int32_t row[512];
    uint8_t rm[512];
    /* Job seed 0 and job seed 9 both evaluate on this set; training rows of
     * either seed in between must not change it (no hidden state). */
    for (int k = 0; k < 300; k++) {
        op->train_row(&a, 0, (uint64_t)k, 512, row, rm);
        op->eval_example(&a, L, k, set1 + k * n, m1 + k * n);
    }
    for (int k = 299; k >= 0; k--) {
        op->train_row(&a, 9, (uint64_t)k * 7, 512, row, rm);
        op->eval_example(&a, L, k, set2 + k * n, m2 + k * n);
    }
    CHECK(same(set1, set2, 300 * n) && same8(m1, m2, 300 * n));
    int widths[64] = {0}, distinct = 1;
    for (int k = 0; k < 300; k++) {
        int32_t *e = set1 + k * n;
        ds_task_spec wide = a; /* the row checker bounds W by train_max */
        wide.train_max = 40;
        CHECK_MSG(check_add_row(&wide, e, m1 + k * n, n, widths) == 1, "eval example %d", k);
        CHECK(e[n - 1] == EOS && m1[k * n + n - 1] == 1);
        for (int j = 0; j < k && distinct; j++) distinct = !same(e, set1 + j * n, n);
    }
    CHECK(widths[41] == 300); /* n1 = n2 = L, W = L+1 */
    CHECK(distinct);
    /* Another eval_seed is another set; another length is independent. */
    ds_task_spec b = a;
    b.eval_seed = 1235;
    int32_t other[512];
    uint8_t om[512];
    int differ = 0;
    for (int k = 0; k < 20; k++) {
        op->eval_example(&b, L, k, other, om);
        differ += !same(other, set1 + k * n, n);
    }
    CHECK(differ == 20);
    op->eval_example(&a, 30, 0, other, om);
    CHECK(op->eval_tokens(&a, 30) == 6 * 31 + 4 && other[6 * 31 + 3] == EOS);
    free(set1), free(set2), free(m1), free(m2);
}

/* ---- determinism ------------------------------------------------------- */

static void shuffle(int *v, int n, uint64_t seed) {
    ds_rng r;
    ds_rng_init(&r, seed, DS_STREAM_TEST, 0);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)ds_rng_range(&r, 0, i), x = v[i];
        v[i] = v[j], v[j] = x;
    }
}

static void test_determinism(void) {
    ds_task_spec specs[2] = {count_spec(150, 1, 30), add_spec(1, 35, 41, 64, 1234)};
    const int contexts[2] = {256, 512};
    enum { N = 200 };
    for (int s = 0; s < 2; s++) {
        const ds_task_spec *t = &specs[s];
        const ds_task_ops *op = ds_task_get(t);
        int T = contexts[s];
        int32_t *ref = malloc(sizeof *ref * (size_t)N * (size_t)T);
        uint8_t *refm = malloc((size_t)N * (size_t)T);
        for (int r = 0; r < N; r++) op->train_row(t, 31, (uint64_t)r, T, ref + r * T, refm + r * T);
        int order[N];
        for (int i = 0; i < N; i++) order[i] = i;
        shuffle(order, N, 17 + (uint64_t)s);
        int32_t tok[512];
        uint8_t m[512];
        int bad = 0, differ = 0;
        for (int i = 0; i < N; i++) {
            int r = order[i];
            /* unrelated work in between: other seeds, other rows, eval */
            op->train_row(t, 32, (uint64_t)r, T, tok, m);
            differ += !same(tok, ref + r * T, T);
            op->eval_example(t, s == 0 ? 60 : 40, i % 50, tok, m);
            op->train_row(t, 31, (uint64_t)r, T, tok, m);
            bad += !same(tok, ref + r * T, T) || !same8(m, refm + r * T, T);
        }
        CHECK_MSG(bad == 0, "task %d: %d rows changed with generation order", s, bad);
        CHECK(differ == N); /* another seed is another stream */
        /* Rows of one seed differ from each other. */
        CHECK(!same(ref, ref + T, T) && !same(ref + 5 * T, ref + 6 * T, T));
        /* A row is the same whatever the context: the shorter is a prefix
         * (masks agree except where the shorter row truncates). */
        op->train_row(t, 31, 3, T / 2, tok, m);
        CHECK(same(tok, ref + 3 * T, T / 2));
        free(ref);
        free(refm);
    }
}

int main(void) {
    test_interface();
    test_golden_count();
    test_golden_addition();
    test_draw_order_count();
    test_draw_order_addition();
    test_count_rows();
    test_addition_rows();
    test_count_eval();
    test_addition_eval();
    test_determinism();
    TEST_MAIN_END();
}
