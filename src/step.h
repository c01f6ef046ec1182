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
 *   - a data-parallel group of k ranks (ds_step_init's g): member j trains
 *     the sequences floor(j*B/k) .. floor((j+1)*B/k)-1. When k divides M,
 *     those are micro-batches j*M/k .. (j+1)*M/k-1, whose tree is a subtree
 *     of the one above, and the group adds its members' trees in the same
 *     pairwise order (groupcomm.h): the step is then bit-identical to the
 *     same step on one rank (on the CPU; docs/engine.md "Data-parallel groups"). Otherwise
 *     a member's rows are one micro-batch and the sum differs from one
 *     rank's in float rounding only.
 *   In both, the loss weights come from the whole batch's scored targets
 *   (added over the group), so every member takes the same update.
 *
 * The step is enqueued on the backend and its losses are read later, a
 * ring of steps at a time (ds_step_read), so that a GPU never waits for the
 * host inside a run of steps (docs/cuda.md "The step stays on the device").
 *
 * The model, its backend and the replicas' active flags belong to the caller. */
#ifndef DS_STEP_H
#define DS_STEP_H

#include <stdint.h>

#include "groupcomm.h"
#include "model.h"
#include "optim.h"
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
    uint8_t *active;       /* host [R] the replicas' flags as of the last read; not owned */
    ds_optim_ctl ctl;      /* backend: the update control (optim.h) */
    float *ring;           /* host_alloc [ring_cap][R] losses of the steps not yet read */
    int ring_cap, n_ring;
    int64_t ring_first;    /* step of ring[0] */
    long n_plain;          /* plain steps run (the second is captured, when graphs exist) */
    void *graph;           /* the captured plain pass, or NULL */
    int graph_B, graph_T;  /* its batch shape */
} ds_step;

/* Host seconds of the parts of one step. The backend may still be running
 * the step when ds_step_run returns (a GPU: backend.h), so on a GPU they are
 * the time to enqueue it, and throughput is the wall time around
 * ds_step_read (src/cmd_bench.c). With micro-batches, forward and backward
 * are their sums; a replayed graph (backend.h) counts all in forward. */
typedef struct {
    double data, forward, backward, optimizer;
} ds_step_times;

/* Prepares *st for steps of model m (R replicas of sweep s, seeds[r] the
 * data stream of replica r). g: NULL alone; else this rank is member
 * ds_group_rank(g) of group g (k = ds_group_size(g) <= batch, not owned): it
 * trains its share of every batch as above, and every step adds the group's
 * scored-target counts, loss sums and gradients (groupcomm.h) before the
 * divergence check and the update. active (host [R], the caller's) holds
 * the replicas' flags: 1 trains, 0 is frozen; ds_step_read keeps it up to
 * date. `ring` steps may run between two reads. The model must have room
 * for ds_step_rows(&s->train, k, rank) rows.
 *
 * Every buffer the steps need is allocated here (host batch, micro-batch
 * staging, the gradient tree's levels, the update control, the loss ring),
 * so that ds_step_run allocates nothing of the pack's size. Returns 0, or
 * DS_EXIT_ERROR with err->nomem = 1 and the message naming the buffer and its
 * bytes when one cannot be allocated; *st is then zeroed with nothing
 * allocated. Free with ds_step_free (harmless on a zeroed *st). */
int ds_step_init(ds_step *st, const ds_sweep *s, ds_model *m, const int64_t *seeds, int R,
                 ds_group *g, int nthreads, int verbose, uint8_t *active, int ring, ds_error *err);
void ds_step_free(ds_step *st);

/* The most rows one forward pass of member j of a group of k (k = 1, j = 0:
 * alone) takes: the model's capacity. */
int ds_step_rows(const ds_train_spec *tr, int k, int j);

/* Enqueues training step `step` (update `step` of the schedule) of every
 * active replica: its batch, forward, backward, the divergence check and the
 * clipped update, all on the backend, without waiting for it (the split
 * paths wait for each micro-batch's loss sum). A replica whose loss or
 * gradient norm is not finite is frozen before its update and never updated
 * again. Steps run in order, step = the last one + 1, at most `ring` of them
 * before a ds_step_read. times (may be NULL): this step's host parts. */
void ds_step_run(ds_step *st, int64_t step, ds_step_times *times);

/* Steps run since the last ds_step_read. */
int ds_step_pending(const ds_step *st);

/* Waits for the backend and returns n, the steps run since the last read:
 * *losses = host [n][R], the training loss of step *first + i of replica r
 * at [i*R + r], NaN once the replica is frozen (valid until the next
 * ds_step_run). The caller's active flags then say which replicas are
 * frozen; with verbose, each newly frozen one is said on stderr with its
 * step. */
int ds_step_read(ds_step *st, const float **losses, int64_t *first);

#endif
