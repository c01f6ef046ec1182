/* synth: a synthetic job kind for the scheduler's tests and benchmarks.
 *
 * Behaves like ds_train_pack (engine.h) from the scheduler's point of view
 * without training anything: a pack runs train.steps steps of fixed duration
 * (seconds / steps each), calls the between-steps hook after every step,
 * checkpoints every run.checkpoint_every steps and when the hook asks to
 * stop, resumes from its checkpoint, and produces metrics, losses and a
 * curve that are pure functions of (scale, seed, step) — so any schedule,
 * rank count or sequence of kills and resumes must give bit-identical files.
 * Selected by `distsweep run --synthetic-job-seconds X` (hidden option).
 * Seeds with seed % 11 == 10 diverge; the environment variable
 * DISTSWEEP_SYNTH_FAIL_SEED=N makes every pack holding seed N fail (a job error). */
#ifndef DS_SYNTH_H
#define DS_SYNTH_H

#include "engine.h"

/* Same contract as ds_train_pack; seconds = wall time of one whole pack. */
int ds_synth_pack(double seconds, const ds_sweep *s, int scale_idx, const int64_t *seeds, int R,
                  const ds_train_opts *opts, ds_run_result *results, ds_error *err);

#endif
