/* optim: the learning-rate schedule and the AdamW step of docs/spec-tasks.md §4.
 *
 * Owns the per-replica update logic: global gradient-norm clipping per
 * replica, divergence on a non-finite loss or gradient norm, and the call of
 * the backend's AdamW op with the schedule's learning rate. The moments live
 * in the model (ds_model.adam_m/v) so that a checkpoint is the model's state.
 *
 * The per-replica state of the update (ds_optim_ctl) lives on the backend and
 * is computed there (the step_guard op), so that a training step never waits
 * for the host (docs/cuda.md "The step stays on the device"). */
#ifndef DS_OPTIM_H
#define DS_OPTIM_H

#include <stdint.h>

#include "model.h"
#include "sweep.h"

/* Learning rate of update t (0-based) of a run of tr->steps updates:
 * lr * t/warmup for t < warmup (the first update has lr 0), then down to 0
 * at t = steps with p = (t-warmup)/(steps-warmup): train.schedule cosine
 * lr * 0.5 (1 + cos(pi p)), linear lr * (1 - p) (the second paper's
 * continued pretraining). With warmup 0 the first update has the full lr. */
double ds_lr_at(const ds_train_spec *tr, int64_t t);

/* The per-replica control of the updates of a pack, backend memory [R] each. */
typedef struct {
    ds_backend *be; /* not owned */
    int R;
    double *sq;     /* squared gradient norm of the last step */
    float *gscale;  /* its clipping factor */
    uint8_t *active; /* 0: frozen (diverged), never updated again */
    float *loss;    /* the last step's training loss, NaN once frozen */
} ds_optim_ctl;

/* Allocates c's buffers on be with active[r] (host) as the initial flags.
 * Returns 0, or DS_EXIT_ERROR with err set and err->nomem = 1 when the
 * backend is out of memory (c then holds nothing: ds_optim_ctl_free is a
 * no-op on it). */
int ds_optim_ctl_init(ds_optim_ctl *c, ds_backend *be, int R, const uint8_t *active, ds_error *err);
void ds_optim_ctl_free(ds_optim_ctl *c);

/* After a step's backward: the gradient norms of m->grads, the clipping
 * factors, and the freeze of every replica whose loss ((float)lsum[r], lsum
 * backend [R]; NULL: not checked) or gradient norm is not finite; c->loss
 * gets the step's losses. Enqueues backend ops only, with the same arguments
 * at every step (a graph may capture it: backend.h). */
void ds_optim_guard(ds_model *m, const ds_train_spec *tr, ds_optim_ctl *c, const double *lsum);

/* AdamW update t of every replica still active in c, its gradient scaled by
 * c->gscale. Enqueues one backend op. */
void ds_optim_apply(ds_model *m, const ds_train_spec *tr, int64_t t, const ds_optim_ctl *c);

/* Update t of every active replica of m from its current gradients, from
 * host memory (the tests' interface): guard without a loss, then apply.
 * active[r] (in/out): replicas with 0 are left untouched; a replica whose
 * gradient norm is not finite is set to 0 here (diverged) and not updated.
 * gnorm[r] (out, may be NULL): the gradient norm before clipping. */
void ds_optim_step(ds_model *m, const ds_train_spec *tr, int64_t t, uint8_t *active, float *gnorm);

#endif
