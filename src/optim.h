/* optim: the learning-rate schedule and the AdamW step of docs/spec-tasks.md §4.
 *
 * Owns the per-replica update logic: global gradient-norm clipping per
 * replica, divergence on a non-finite gradient norm, and the call of the
 * backend's AdamW op with the schedule's learning rate. The moments live in
 * the model (ds_model.adam_m/v) so that a checkpoint is the model's state. */
#ifndef DS_OPTIM_H
#define DS_OPTIM_H

#include <stdint.h>

#include "model.h"
#include "sweep.h"

/* Learning rate of update t (0-based) of a run of tr->steps updates:
 * lr * t/warmup for t < warmup (the first update has lr 0), then cosine
 * lr * 0.5 (1 + cos(pi (t-warmup)/(steps-warmup))) down to 0. */
double ds_lr_at(const ds_train_spec *tr, int64_t t);

/* Update t of every active replica of m from its current gradients.
 * active[r] (in/out): replicas with 0 are left untouched; a replica whose
 * gradient norm is not finite is set to 0 here (diverged) and not updated.
 * gnorm[r] (out, may be NULL): the gradient norm before clipping. */
void ds_optim_step(ds_model *m, const ds_train_spec *tr, int64_t t, uint8_t *active, float *gnorm);

#endif
