/* step: one training step of a pack, the code that the engine's loop
 * (src/engine.c) and `distsweep bench` (src/cmd_bench.c) both run, so that
 * the benchmark times exactly what a sweep trains.
 *
 * Owns the pack's host batch buffers ([R][rows][context] tokens and target
 * masks), the order of one step t — every replica's rows t*batch ..
 * t*batch+batch-1 of its seed's training stream (a pure function of (seed,
 * row): tasks.h), forward, backward, the divergence check on the loss, and
 * the clipped AdamW update t (optim.h) — and the two ways a batch's
 * gradient can be split:
 *
 *   - micro-batches (train.micro_batches = M, a power of two): micro-batch
 *     c is the sequences floor(c*B/M) .. floor((c+1)*B/M)-1; each is
 *     forward- and back-propagated on its own (activations for B/M rows
 *     only), its gradient and loss sum (double) kept apart, and the M are
 *     added in the pairwise tree ((g0 + g1) + (g2 + g3)) + ... (a stack of
 *     log2(M)+1 gradient buffers). M = 1 is the plain step: one forward and
 *     backward over the whole batch, the bits of every result file made
 *     before micro-batches existed.
 *   - a data-parallel group of k ranks (ds_step_set_group): member j trains
 *     the sequences floor(j*B/k) .. floor((j+1)*B/k)-1. When k divides M,
 *     those are micro-batches j*M/k .. (j+1)*M/k-1, whose tree is a subtree
 *     of the one above, and the group adds its members' trees in the same
 *     pairwise order (groupcomm.h): the step is then bit-identical to the
 *     same step on one rank (on the CPU; docs/engine.md "Groups"). Otherwise
 *     a member's rows are one micro-batch and the sum differs from one
 *     rank's in float rounding only.
 *   In both, the loss weights come from the whole batch's scored targets
 *   (added over the group), so every member takes the same update.
 *
 * The model, its backend and the replicas' active flags belong to the caller. */
#ifndef DS_STEP_H
#define DS_STEP_H

#include <stdint.h>

#include "groupcomm.h"
#include "model.h"
#include "sweep.h"

#define DS_STEP_MAX_LEVELS 24 /* gradient tree depth: micro-batches <= 2^20, +1 */

typedef struct {
    const ds_sweep *s;     /* not owned: batch, context, task, optimizer settings */
    ds_model *m;           /* not owned */
    const int64_t *seeds;  /* [R] job seed of each replica (its data stream); not owned */
    int R;
    int nthreads;          /* threads that generate the batch rows */
    int verbose;           /* say on stderr when a replica's loss diverges */
    int32_t *tok;          /* [R][nb][context] this rank's rows of the batch, owned */
    uint8_t *mask;         /* [R][nb][context], owned */
    ds_group *group;       /* not owned; NULL: alone */
    int b0, nb;            /* this rank's rows of every batch: b0 .. b0+nb-1 */
    int n_mb;              /* its micro-batches, rows mb_b0[i] .. mb_b0[i]+mb_nb[i]-1 */
    int *mb_b0, *mb_nb;
    int32_t *ctok;         /* [R][rows][context] one micro-batch's rows (n_mb > 1), owned */
    uint8_t *cmask;
    float *lvl[DS_STEP_MAX_LEVELS]; /* backend [R][P] partial sums of the gradient tree */
    double *dlvl;          /* host [levels][R] the same tree of the loss sums */
} ds_step;

/* Seconds of the parts of one step (host wall time; on a GPU, forward and
 * the optimizer end with a download, so they include the work enqueued
 * before it). With micro-batches, forward and backward are their sums. */
typedef struct {
    double data, forward, backward, optimizer;
} ds_step_times;

/* Prepares *st for steps of model m (R replicas of sweep s, seeds[r] the
 * data stream of replica r), alone. The model must have room for
 * ds_step_rows(&s->train, 1, 0) rows. Free with ds_step_free. */
void ds_step_init(ds_step *st, const ds_sweep *s, ds_model *m, const int64_t *seeds, int R,
                  int nthreads, int verbose);
void ds_step_free(ds_step *st);

/* This rank is member ds_group_rank(g) of group g (k = ds_group_size(g) <=
 * batch): it trains its share of every batch as above, and every step adds
 * the group's scored-target counts, loss sums and gradients (groupcomm.h)
 * before the divergence check and the update. The model must have room for
 * ds_step_rows(&s->train, k, rank) rows. */
void ds_step_set_group(ds_step *st, ds_group *g);

/* The most rows one forward pass of member j of a group of k (k = 1, j = 0:
 * alone) takes: the model's capacity. */
int ds_step_rows(const ds_train_spec *tr, int k, int j);

/* Runs training step `step` (update `step` of the schedule) of every active
 * replica. active[r] (in/out): 0 replicas are frozen (never updated again); a
 * replica whose loss or gradient norm is not finite is set to 0 here, before
 * its update. losses[r] (out): the step's training loss, NaN for a frozen
 * replica. times (may be NULL): this step's parts. */
void ds_step_run(ds_step *st, int64_t step, uint8_t *active, float *losses, ds_step_times *times);

#endif
