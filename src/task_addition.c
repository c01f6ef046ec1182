/* task_addition: reverse-order addition with index hints (docs/spec-tasks.md §2).
 *
 * Digits 0..9 are ids 0..9, then `$`=10, `>`=11, `.`=12, `*`=13, `+`=14 and
 * the hints a0..a(H-1) = 15..15+H-1. Operands are written most-significant
 * digit first, each digit behind its hint; the sum, zero-padded to W digits,
 * least-significant digit first behind downward hints:
 *   034+028 (W=3, o=0) -> $ a0 0 a1 3 a2 4 + a0 0 a1 2 a2 8 > a2 2 a1 6 a0 0 .
 * Every answer token (hints and digits) and `.` are scored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "task_impl.h"

enum { TOK_BOS = 10, TOK_SEP = 11, TOK_EOS = 12, TOK_PAD = 13, TOK_PLUS = 14, TOK_HINT0 = 15 };

/* Operand widths up to this use the stack; wider ones (legal, never seen in
 * practice) use the heap. */
#define ADD_STACK_WIDTH 256

static int add_vocab_total(const ds_task_spec *t) { return TOK_HINT0 + t->hint_tokens; }

/* `length` = the longer operand's digit count; W = length + 1. */
static int add_example_tokens(const ds_task_spec *t, int length) { return 6 * (length + 1) + 4; }

static int add_eval_tokens(const ds_task_spec *t, int length) { return 6 * (length + 1) + 4; }

/* 0 when the operands (plus the carry digit) would need more hints than H. */
static int64_t add_eval_count(const ds_task_spec *t, int length) {
    return length >= 1 && length + 1 <= t->hint_tokens ? t->eval_examples : 0;
}

void ds_task_addition_write(const ds_task_spec *t, ds_task_writer *w, int W, int o,
                            const uint8_t *x, const uint8_t *y) {
    DS_ASSERT(W >= 1 && o >= 0 && o + W <= t->hint_tokens);
    ds_tw_put(w, TOK_BOS, 0);
    for (int i = 0; i < W; i++) {
        ds_tw_put(w, TOK_HINT0 + o + i, 0);
        ds_tw_put(w, x[i], 0);
    }
    ds_tw_put(w, TOK_PLUS, 0);
    for (int i = 0; i < W; i++) {
        ds_tw_put(w, TOK_HINT0 + o + i, 0);
        ds_tw_put(w, y[i], 0);
    }
    ds_tw_put(w, TOK_SEP, 0);
    int carry = 0;
    for (int i = W - 1; i >= 0; i--) { /* least-significant digit first */
        int s = x[i] + y[i] + carry;
        carry = s / 10;
        ds_tw_put(w, TOK_HINT0 + o + i, 1);
        ds_tw_put(w, s % 10, 1);
    }
    DS_ASSERT(carry == 0); /* the caller's padding digits x[0] = y[0] = 0 absorb it */
    ds_tw_put(w, TOK_EOS, 1);
}

/* Draws the n1 and n2 digits (uniform, leading zeros allowed; x's first, each
 * most-significant first) of two operands left-padded to W = max(n1,n2) + 1
 * digits, then writes the example with hint offset o. */
static void add_draw_write(const ds_task_spec *t, ds_rng *r, ds_task_writer *w, int n1, int n2,
                           int o) {
    int W = (n1 > n2 ? n1 : n2) + 1;
    DS_ASSERT(n1 >= 1 && n2 >= 1);
    uint8_t stack_digits[2 * ADD_STACK_WIDTH];
    uint8_t *x = W <= ADD_STACK_WIDTH ? stack_digits : DS_MALLOC(2 * (size_t)W);
    uint8_t *y = x + W;
    for (int i = 0; i < W; i++) x[i] = y[i] = 0;
    for (int i = W - n1; i < W; i++) x[i] = (uint8_t)ds_rng_range(r, 0, 9);
    for (int i = W - n2; i < W; i++) y[i] = (uint8_t)ds_rng_range(r, 0, 9);
    /* The padding digit is 0 in both operands, so the sum fits in W digits. */
    ds_task_addition_write(t, w, W, o, x, y);
    if (x != stack_digits) free(x);
}

static void add_gen(const ds_task_spec *t, ds_rng *r, ds_task_writer *w) {
    DS_ASSERT(t->train_min >= 1 && t->train_min <= t->train_max);
    int n1 = (int)ds_rng_range(r, t->train_min, t->train_max);
    int n2 = (int)ds_rng_range(r, t->train_min, t->train_max);
    int W = (n1 > n2 ? n1 : n2) + 1;
    DS_ASSERT(W <= t->hint_tokens);
    int o = (int)ds_rng_range(r, 0, t->hint_tokens - W);
    add_draw_write(t, r, w, n1, n2, o);
}

static void add_train_row(const ds_task_spec *t, uint64_t seed, uint64_t row, int context,
                          int32_t *tokens, uint8_t *mask) {
    ds_task_pack_row(t, add_gen, seed, row, context, tokens, mask);
}

/* Example `index` at length L is keyed (eval_seed, DS_STREAM_EVAL, L<<32 | index):
 * the same for every job seed and scale, and independent across lengths. */
static void add_eval_example(const ds_task_spec *t, int length, int64_t index, int32_t *tokens,
                             uint8_t *mask) {
    DS_ASSERT(length >= 1 && length + 1 <= t->hint_tokens);
    DS_ASSERT(index >= 0 && index < t->eval_examples && index <= 0xFFFFFFFFll);
    ds_rng r;
    ds_rng_init(&r, t->eval_seed, DS_STREAM_EVAL, ((uint64_t)length << 32) | (uint64_t)index);
    int o = (int)ds_rng_range(&r, 0, t->hint_tokens - (length + 1));
    ds_task_writer w = {tokens, mask, 0, add_eval_tokens(t, length)};
    add_draw_write(t, &r, &w, length, length, o);
    DS_ASSERT(w.pos == w.cap);
}

static void add_token_name(const ds_task_spec *t, int32_t id, char *buf, int buflen) {
    static const char *special[] = {"$", ">", ".", "*", "+"};
    if (id >= 0 && id <= 9) snprintf(buf, (size_t)buflen, "%d", (int)id);
    else if (id >= TOK_BOS && id < TOK_HINT0) snprintf(buf, (size_t)buflen, "%s", special[id - TOK_BOS]);
    else if (id >= TOK_HINT0 && id < TOK_HINT0 + t->hint_tokens)
        snprintf(buf, (size_t)buflen, "a%d", (int)(id - TOK_HINT0));
    else snprintf(buf, (size_t)buflen, "?%d", (int)id);
}

/* "0034 + 0028 = 0062" (operands and sum as W-digit numbers, most significant
 * digit first), read back from the tokens; "?" if they are not an example. */
static void add_describe(const ds_task_spec *t, const int32_t *tok, int n, char *buf, int buflen) {
    int W = (n - 4) / 6;
    if (W < 1 || n != 6 * W + 4 || tok[1 + 2 * W] != TOK_PLUS || buflen < 3 * W + 8) {
        snprintf(buf, (size_t)buflen, "?");
        return;
    }
    int p = 0;
    for (int i = 0; i < W; i++) buf[p++] = (char)('0' + tok[2 + 2 * i] % 10);
    memcpy(buf + p, " + ", 3), p += 3;
    for (int i = 0; i < W; i++) buf[p++] = (char)('0' + tok[2 * W + 3 + 2 * i] % 10);
    memcpy(buf + p, " = ", 3), p += 3;
    for (int i = 0; i < W; i++) buf[p++] = (char)('0' + tok[6 * W + 2 - 2 * i] % 10);
    buf[p] = 0;
}

const ds_task_ops ds_task_addition_ops = {
    .name = "addition",
    .vocab_total = add_vocab_total,
    .example_tokens = add_example_tokens,
    .eval_tokens = add_eval_tokens,
    .eval_count = add_eval_count,
    .train_row = add_train_row,
    .eval_example = add_eval_example,
    .token_name = add_token_name,
    .describe = add_describe,
};
