/* tasks: the task table and the packing rule shared by every task
 * (docs/spec-tasks.md §1-2). The tasks themselves live in task_<kind>.c. */
#include "tasks.h"

#include <stddef.h>
#include <string.h>

#include "common.h"
#include "task_impl.h"

/* Indexed by ds_task_kind. A third task: one file task_<kind>.c defining
 * ds_task_<kind>_ops, its declaration in task_impl.h and one line here. */
static const struct {
    ds_task_kind kind;
    const ds_task_ops *ops;
} task_table[] = {
    {DS_TASK_COUNT, &ds_task_count_ops},
    {DS_TASK_ADDITION, &ds_task_addition_ops},
    {DS_TASK_CORPUS, &ds_task_corpus_ops},
};

const ds_task_ops *ds_task_get(const ds_task_spec *t) {
    for (size_t i = 0; i < sizeof task_table / sizeof task_table[0]; i++)
        if (task_table[i].kind == t->kind) return task_table[i].ops;
    return NULL;
}

const ds_task_ops *ds_task_find(const char *name, ds_task_kind *kind) {
    for (size_t i = 0; i < sizeof task_table / sizeof task_table[0]; i++) {
        if (!strcmp(task_table[i].ops->name, name)) {
            if (kind) *kind = task_table[i].kind;
            return task_table[i].ops;
        }
    }
    return NULL;
}

void ds_task_pack_row(const ds_task_spec *t, ds_task_gen_fn gen, uint64_t seed, uint64_t row,
                      int context, int32_t *tokens, uint8_t *mask) {
    DS_ASSERT(context > 0);
    ds_rng r;
    ds_rng_init(&r, seed, DS_STREAM_TRAIN, row);
    ds_task_writer w = {tokens, mask, 0, context};
    while (w.pos < context) {
        int start = w.pos;
        gen(t, &r, &w);
        DS_ASSERT(w.pos > start); /* every example has at least one token */
        if (w.pos > context) /* cut at the row's end: never scored */
            for (int i = start; i < context; i++) mask[i] = 0;
    }
}
