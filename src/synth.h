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
 * Seeds with seed % 11 == 10 diverge (unless DISTSWEEP_SYNTH_DIVERGE=0); the environment variable
 * DISTSWEEP_SYNTH_FAIL_SEED=N makes every pack holding seed N fail (a job error).
 *
 * Metrics have a known two-mode distribution per scale (docs/running.md,
 * "Synthetic jobs"): seed `seed` of scale i succeeds with probability p_i,
 * decided by one uniform keyed by (scale, seed), at every test length alike.
 * A successful seed's em, minprob and token_acc lie in [0.9, 1) and its
 * error and loss in [0, 0.1); a failed seed's the other way round. p_i is
 * i / (n_scales - 1) (0.5 for a single scale), or the i-th number of the
 * comma-separated list in DISTSWEEP_SYNTH_P (one per scale, each in [0, 1]).
 * A diverged seed keeps its metrics but counts as EM 0 (src/schema.h), so
 * p_i is the counted success probability exactly only with
 * DISTSWEEP_SYNTH_DIVERGE=0 (the adaptive tests' and benchmark's setting). */
#ifndef DS_SYNTH_H
#define DS_SYNTH_H

#include "engine.h"

/* The success probability p_i of every scale (p[s->n_scales]). Returns 0, or
 * DS_EXIT_USAGE when DISTSWEEP_SYNTH_P is set but is not n_scales numbers in
 * [0, 1] (err says so). */
int ds_synth_probs(const ds_sweep *s, double *p, ds_error *err);

/* Same contract as ds_train_pack; seconds = wall time of one whole pack. */
int ds_synth_pack(double seconds, const ds_sweep *s, int scale_idx, const int64_t *seeds, int R,
                  const ds_train_opts *opts, ds_run_result *results, ds_error *err);

#endif
