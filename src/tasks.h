/* tasks: the token streams every job trains and is judged on (docs/spec-tasks.md §1-2).
 *
 * Owns token vocabularies, single examples, packed training rows with loss
 * masks, and evaluation sets. Every row and example is a pure function of its
 * key (seed, row index) or (eval_seed, length, example index), via rng.h, so
 * any rank can produce any of them in any order.
 *
 * Row convention: a training row is `context` tokens; the model's inputs are
 * tokens[0 .. T-2] and its targets tokens[1 .. T-1]. mask[i] (0/1) says
 * whether token i is a scored *target*; mask[0] is always 0. So the target of
 * input position t is tokens[t+1], scored when mask[t+1] is 1.
 *
 * Adding a task is one new file implementing ds_task_ops and one line in
 * tasks.c's table. */
#ifndef DS_TASKS_H
#define DS_TASKS_H

#include <stdint.h>

#include "sweep.h"

typedef struct {
    const char *name; /* the sweep file's task.kind */
    /* Size of the embedding/output tables: number tokens + specials (+ hints). */
    int (*vocab_total)(const ds_task_spec *t);
    /* Tokens of one training example whose answer has `length` numbers/digits
     * (including BOS and EOS); used to validate `context`. */
    int (*example_tokens)(const ds_task_spec *t, int length);
    /* Tokens of one evaluation example at test length L (as evaluated). */
    int (*eval_tokens)(const ds_task_spec *t, int length);
    /* Number of evaluation examples at test length L; 0 exactly when L is not
     * a length this task can pose (count: L > vocab; addition: L + 1 > H). */
    int64_t (*eval_count)(const ds_task_spec *t, int length);
    /* Fills tokens/mask[context] with training row `row` of job seed `seed`. */
    void (*train_row)(const ds_task_spec *t, uint64_t seed, uint64_t row, int context,
                      int32_t *tokens, uint8_t *mask);
    /* Fills tokens/mask[eval_tokens(L)] with evaluation example `index` at length L. */
    void (*eval_example)(const ds_task_spec *t, int length, int64_t index, int32_t *tokens,
                         uint8_t *mask);
    /* Writes the printable name of token id into buf (e.g. "57", "$", "a3"). */
    void (*token_name)(const ds_task_spec *t, int32_t id, char *buf, int buflen);
    /* Optional (may be NULL): a one-line human reading of one complete example
     * tokens[0..n) as produced above, e.g. "034 + 028 = 062"; for display only. */
    void (*describe)(const ds_task_spec *t, const int32_t *tokens, int n, char *buf, int buflen);
    /* Optional (NULL for the synthetic tasks): opens the data of t for rows of
     * `context` tokens, relative paths against sweep_path's directory, and
     * stores it in t (ds_sweep_attach_data, sweep.h); 0 or DS_EXIT_USAGE. */
    int (*attach)(ds_task_spec *t, int context, const char *sweep_path, ds_error *err);
    /* Optional: frees what attach stored in t. */
    void (*detach)(ds_task_spec *t);
} ds_task_ops;

/* The operations of the task kind in t. Never NULL for a validated sweep. */
const ds_task_ops *ds_task_get(const ds_task_spec *t);

/* The task named `name` (a sweep file's task.kind, e.g. "count"), storing its
 * kind in *kind when kind is not NULL; NULL if no task has that name. */
const ds_task_ops *ds_task_find(const char *name, ds_task_kind *kind);

#endif
