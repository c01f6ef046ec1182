/* task_count: the count task (docs/spec-tasks.md §1).
 *
 * Number tokens 0..V-1, then `$` = V, `>` = V+1, `.` = V+2, `*` = V+3. One
 * example of length L: `$ s e > s s+1 ... e .` with e = s+L-1; the L answer
 * numbers and `.` are scored. Evaluation at L enumerates every start s, each
 * example without its `.`. */
#include <stdio.h>

#include "common.h"
#include "task_impl.h"

static int count_vocab_total(const ds_task_spec *t) { return t->vocab + 4; }

static int count_example_tokens(const ds_task_spec *t, int length) { return length + 5; }

static int count_eval_tokens(const ds_task_spec *t, int length) { return length + 4; }

static int64_t count_eval_count(const ds_task_spec *t, int length) {
    return length >= 1 && length <= t->vocab ? (int64_t)(t->vocab - length + 1) : 0;
}

void ds_task_count_write(const ds_task_spec *t, ds_task_writer *w, int s, int length, int eos) {
    const int V = t->vocab;
    ds_tw_put(w, V, 0);
    ds_tw_put(w, s, 0);
    ds_tw_put(w, s + length - 1, 0);
    ds_tw_put(w, V + 1, 0);
    for (int i = 0; i < length; i++) ds_tw_put(w, s + i, 1);
    if (eos) ds_tw_put(w, V + 2, 1);
}

static void count_gen(const ds_task_spec *t, ds_rng *r, ds_task_writer *w) {
    DS_ASSERT(t->train_min >= 1 && t->train_min <= t->train_max && t->train_max <= t->vocab);
    int length = (int)ds_rng_range(r, t->train_min, t->train_max);
    int s = (int)ds_rng_range(r, 0, t->vocab - length);
    ds_task_count_write(t, w, s, length, 1);
}

static void count_train_row(const ds_task_spec *t, uint64_t seed, uint64_t row, int context,
                            int32_t *tokens, uint8_t *mask) {
    ds_task_pack_row(t, count_gen, seed, row, context, tokens, mask);
}

/* Example `index` at length L is the one that starts at s = index. */
static void count_eval_example(const ds_task_spec *t, int length, int64_t index, int32_t *tokens,
                               uint8_t *mask) {
    DS_ASSERT(index >= 0 && index < count_eval_count(t, length));
    ds_task_writer w = {tokens, mask, 0, count_eval_tokens(t, length)};
    ds_task_count_write(t, &w, (int)index, length, 0);
    DS_ASSERT(w.pos == w.cap);
}

static void count_token_name(const ds_task_spec *t, int32_t id, char *buf, int buflen) {
    static const char *special[] = {"$", ">", ".", "*"};
    if (id >= 0 && id < t->vocab) snprintf(buf, (size_t)buflen, "%d", (int)id);
    else if (id >= t->vocab && id < t->vocab + 4) snprintf(buf, (size_t)buflen, "%s", special[id - t->vocab]);
    else snprintf(buf, (size_t)buflen, "?%d", (int)id);
}

/* "count 5..9 (5 numbers)" */
static void count_describe(const ds_task_spec *t, const int32_t *tok, int n, char *buf, int buflen) {
    if (n >= 3) snprintf(buf, (size_t)buflen, "count %d..%d (%d numbers)", (int)tok[1], (int)tok[2],
                         (int)(tok[2] - tok[1] + 1));
    else snprintf(buf, (size_t)buflen, "?");
}

const ds_task_ops ds_task_count_ops = {
    .name = "count",
    .vocab_total = count_vocab_total,
    .example_tokens = count_example_tokens,
    .eval_tokens = count_eval_tokens,
    .eval_count = count_eval_count,
    .train_row = count_train_row,
    .eval_example = count_eval_example,
    .token_name = count_token_name,
    .describe = count_describe,
};
