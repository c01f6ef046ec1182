/* step: one training step of a pack, the code that the engine's loop
 * (src/engine.c) and `distsweep bench` (src/cmd_bench.c) both run, so that
 * the benchmark times exactly what a sweep trains.
 *
 * Owns the pack's host batch buffers ([R][batch][context] tokens and target
 * masks) and the order of one step t: every replica's rows t*batch ..
 * t*batch+batch-1 of its seed's training stream (a pure function of (seed,
 * row): tasks.h), forward, the divergence check on the loss, backward, and
 * the clipped AdamW update t (optim.h). The model, its backend and the
 * replicas' active flags belong to the caller. */
#ifndef DS_STEP_H
#define DS_STEP_H

#include <stdint.h>

#include "groupcomm.h"
#include "model.h"
#include "sweep.h"

typedef struct {
    const ds_sweep *s;     /* not owned: batch, context, task, optimizer settings */
    ds_model *m;           /* not owned */
    const int64_t *seeds;  /* [R] job seed of each replica (its data stream); not owned */
    int R;
    int nthreads;          /* threads that generate the batch rows */
    int verbose;           /* say on stderr when a replica's loss diverges */
    int32_t *tok;          /* [R][batch][context], owned */
    uint8_t *mask;         /* [R][batch][context], owned */
    /* Data-parallel group (ds_step_set_group): this member trains rows
     * b0 .. b0+nb-1 of every batch; NULL: alone, all rows (b0 0, nb batch). */
    ds_group *group;       /* not owned */
    int b0, nb;
} ds_step;

/* Seconds of the parts of one step (host wall time; on a GPU, forward and
 * the optimizer end with a download, so they include the work enqueued
 * before it). */
typedef struct {
    double data, forward, backward, optimizer;
} ds_step_times;

/* Prepares *st for steps of model m (R replicas of sweep s, seeds[r] the
 * data stream of replica r). Free with ds_step_free. */
void ds_step_init(ds_step *st, const ds_sweep *s, ds_model *m, const int64_t *seeds, int R,
                  int nthreads, int verbose);
void ds_step_free(ds_step *st);

/* The share of every batch a member of group g trains: rows b0 .. b0+nb-1
 * (whole sequences; ds_step_group_rows). Each step then adds the members'
 * scored-token counts, loss sums and gradients over the group (groupcomm.h)
 * before the divergence check and the update, so that every member takes
 * the same step on the whole batch's gradient. The model must have room for
 * nb rows. */
void ds_step_set_group(ds_step *st, ds_group *g, int b0, int nb);

/* Member j of a group of k's rows of a batch of B (k <= B): the contiguous
 * block b0 = j*B/k .. (j+1)*B/k - 1, so the members' blocks in member order
 * are the batch in order. */
void ds_step_group_rows(int B, int k, int j, int *b0, int *nb);

/* Runs training step `step` (update `step` of the schedule) of every active
 * replica. active[r] (in/out): 0 replicas are frozen (never updated again); a
 * replica whose loss or gradient norm is not finite is set to 0 here, before
 * its update. losses[r] (out): the step's training loss, NaN for a frozen
 * replica. times (may be NULL): this step's parts. */
void ds_step_run(ds_step *st, int64_t step, uint8_t *active, float *losses, ds_step_times *times);

#endif
