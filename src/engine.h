/* engine: train and evaluate one pack (R seeds of one scale) to completion.
 *
 * The single entry point that `distsweep train`, the MPI scheduler and the
 * benchmarks call. It owns the model state of the pack for the duration of the
 * call, resumes from a checkpoint when one exists, checkpoints every
 * run.checkpoint_every steps and whenever the between-steps hook asks to stop,
 * and fills one ds_run_result per replica. */
#ifndef DS_ENGINE_H
#define DS_ENGINE_H

#include <mpi.h>
#include <stdint.h>

#include "common.h"
#include "schema.h" /* ds_run_result, DS_RUN_* status codes, DS_M_* metrics */
#include "sweep.h"

/* Called between training steps with the step just finished and the R
 * training losses last read from the backend (NaN for diverged replicas;
 * they are read after the first step, every log_every steps and at least
 * every 64, so they may be that many steps old: src/step.h), and again between
 * evaluation batches with the last step and losses (the same step repeats).
 * Return nonzero to stop: the engine then writes a checkpoint and returns
 * DS_EXIT_INTERRUPTED (a stop during evaluation resumes straight into the
 * evaluation). The scheduler services MPI here. */
typedef int (*ds_step_hook)(void *ctx, int64_t step, int R, const float *losses);

typedef struct {
    ds_backend_kind backend;  /* cpu or cuda (auto resolved by the caller) */
    const char *ckpt_path;    /* checkpoint file of this pack, or NULL for none */
    int64_t max_steps;        /* stop after this many steps (0 = sweep's train.steps) */
    ds_step_hook hook;        /* may be NULL */
    void *hook_ctx;
    int verbose;              /* print progress lines to stderr */
    /* Data-parallel group (docs/design.md §8), or NULL to train alone: the
     * communicator of the k ranks that train this pack together, member j
     * = rank j of it (the caller creates and frees it). Every member calls
     * ds_train_pack with the same pack and options and trains rows
     * ds_step_group_rows(batch, k, j) of every batch (src/step.h); the
     * members agree at every step on stopping, so that they stop together.
     * Member 0 (the leader) alone writes the checkpoint, evaluates and fills
     * results; the others return 0 with results zeroed once training is
     * done. Every member returns the same code on a failure of any member
     * that it can see (setup, checkpoint writes); a member that dies takes
     * the job with it (the MPI launcher ends it). */
    const MPI_Comm *group;
    /* run.save_models: the directory (OUT.h5.models) where the final
     * parameters of every replica that finishes done and whose seed the
     * sweep selects (ds_sweep_saves_model) are stored, before this call
     * returns its results (src/modelfile.h); NULL stores none. */
    const char *models_dir;
    /* What a checkpoint at ckpt_path that ds_ckpt_load refuses as damaged
     * (src/checkpoint.h) does. 1 (`distsweep run`'s packs): it is moved aside
     * to CKPT.damaged-<UTC time>[-k] with one line on stderr and the pack
     * trains from step 0, returning as a fresh pack would (nothing for the
     * scheduler to charge). 0 (`train --checkpoint FILE`: the user's file,
     * where a refusal is more likely the wrong file or an edited sweep): the
     * pack fails with DS_EXIT_ERROR and err saying why, the file untouched. */
    int set_aside_damaged;
} ds_train_opts;

/* Trains seeds[0..R-1] of scale scale_idx of sweep s, evaluates, stores the
 * models opts->models_dir asks for, and fills results[0..R-1]. Returns 0 on
 * completion, DS_EXIT_INTERRUPTED if the hook asked to stop (checkpoint
 * written when ckpt_path is set), DS_EXIT_STORAGE if a model could not be
 * written (no results then: the pack runs again), or another code with err
 * set on failure. A pack whose memory cannot be allocated (model, step,
 * evaluation, checkpoint read: docs/engine.md "Out of memory") returns
 * DS_EXIT_ERROR with err->nomem = 1, everything it had allocated freed: a
 * smaller pack may fit. */
int ds_train_pack(const ds_sweep *s, int scale_idx, const int64_t *seeds, int R,
                  const ds_train_opts *opts, ds_run_result *results, ds_error *err);

#endif
