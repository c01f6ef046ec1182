/* engine: train and evaluate one pack (R seeds of one scale) to completion.
 *
 * The single entry point that `distsweep train`, the MPI scheduler and the
 * benchmarks call. It owns the model state of the pack for the duration of the
 * call, resumes from a checkpoint when one exists, checkpoints every
 * run.checkpoint_every steps and whenever the between-steps hook asks to stop,
 * and fills one ds_run_result per replica. */
#ifndef DS_ENGINE_H
#define DS_ENGINE_H

#include <stdint.h>

#include "common.h"
#include "sweep.h"

/* Metrics per test length (spec/tasks.md §6), in this order. */
enum { DS_M_EM = 0, DS_M_ERROR, DS_M_MINPROB, DS_M_TOKEN_ACC, DS_M_LOSS, DS_N_METRICS };
extern const char *const ds_metric_names[DS_N_METRICS]; /* "em", "error", ... */

/* Run status codes, as stored in /runs/status (DESIGN §6). */
enum { DS_RUN_PENDING = 0, DS_RUN_DONE = 1, DS_RUN_FAILED = 2, DS_RUN_DIVERGED = 3 };

/* The result of one (scale, seed) run. */
typedef struct {
    int64_t seed;
    int status;               /* DS_RUN_DONE or DS_RUN_DIVERGED */
    int64_t steps_done;
    double wall_s;
    float final_loss;         /* last training loss (NaN if diverged) */
    float metrics[DS_MAX_EVAL_LENGTHS][DS_N_METRICS]; /* [length index][metric] */
    float id_em;              /* in-distribution EM at the largest training length */
    int n_curve;              /* training-loss curve points (every log_every steps) */
    float *curve;             /* [n_curve], owned; free with ds_run_result_free */
} ds_run_result;

void ds_run_result_free(ds_run_result *r);

/* Called between training steps with the step just finished and the R
 * current training losses (NaN for diverged replicas), and again between
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
} ds_train_opts;

/* Trains seeds[0..R-1] of scale scale_idx of sweep s, evaluates, and fills
 * results[0..R-1]. Returns 0 on completion, DS_EXIT_INTERRUPTED if the hook
 * asked to stop (checkpoint written when ckpt_path is set), or another code
 * with err set on failure. */
int ds_train_pack(const ds_sweep *s, int scale_idx, const int64_t *seeds, int R,
                  const ds_train_opts *opts, ds_run_result *results, ds_error *err);

#endif
