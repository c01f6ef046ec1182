/* task_impl: private helpers shared by the task implementations (task_*.c).
 *
 * Owns the bounded token writer and the packing loop, so that every task packs
 * training rows by the same rule (docs/spec-tasks.md §1): examples are concatenated
 * until the next one would overflow; that one is cut at the row's end and its
 * tokens get mask 0. Not part of the public interface (tasks.h). */
#ifndef DS_TASK_IMPL_H
#define DS_TASK_IMPL_H

#include <stdint.h>

#include "rng.h"
#include "tasks.h"

/* Writes tokens into a buffer of `cap` slots; tokens past the end are counted
 * in `pos` but dropped, so a generator never has to know where the row ends. */
typedef struct {
    int32_t *tokens;
    uint8_t *mask;
    int pos;
    int cap;
} ds_task_writer;

static inline void ds_tw_put(ds_task_writer *w, int32_t token, uint8_t scored) {
    if (w->pos < w->cap) {
        w->tokens[w->pos] = token;
        w->mask[w->pos] = scored;
    }
    w->pos++;
}

/* Draws one training example from r and writes it (with its mask) to w. */
typedef void (*ds_task_gen_fn)(const ds_task_spec *t, ds_rng *r, ds_task_writer *w);

/* Fills tokens/mask[context] with examples from gen, drawn in order from the
 * rng stream (seed, DS_STREAM_TRAIN, row); the example that overflows is
 * truncated and masked out. */
void ds_task_pack_row(const ds_task_spec *t, ds_task_gen_fn gen, uint64_t seed, uint64_t row,
                      int context, int32_t *tokens, uint8_t *mask);

/* Writes the count example `$ s e > s s+1 ... e` with e = s+length-1, then `.`
 * when eos; scored: the answer numbers and `.`. */
void ds_task_count_write(const ds_task_spec *t, ds_task_writer *w, int s, int length, int eos);

/* Writes the addition example of the W-digit operands x and y (digits, most
 * significant first, x[0] = y[0] = 0 so the sum fits) with hint offset o:
 * `$ a_o x_0 ... + a_o y_0 ... > a_(o+W-1) z_0 ... a_o z_(W-1) .`; scored:
 * everything after `>`. */
void ds_task_addition_write(const ds_task_spec *t, ds_task_writer *w, int W, int o,
                            const uint8_t *x, const uint8_t *y);

/* The task kinds (one file each). */
extern const ds_task_ops ds_task_count_ops;
extern const ds_task_ops ds_task_addition_ops;
extern const ds_task_ops ds_task_corpus_ops;

#endif
