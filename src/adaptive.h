/* adaptive: how many seeds each scale of an adaptive sweep gets
 * (seeds.adaptive, docs/sweep-file.md "seeds.adaptive").
 *
 * Owns the round rule: a scale starts with seeds.count seeds (round 0); once
 * every seed it requested is finished (done, diverged or failed: a run that
 * is still pending or being retried blocks the decision), the 95% bootstrap
 * interval of the statistic over its counted values decides: at most
 * ci_width wide, or max seeds reached, and the scale stops; otherwise it
 * requests min(n + step, max) seeds and the next round waits for them. The
 * bootstrap is report's (src/stats.h ds_stats_success_keyed /
 * ds_stats_mean_ci) keyed by (sweep hash, scale, round), and round k looks
 * only at the first n_k seeds, so the number of seeds a scale requests is a
 * pure function of the stored runs: an interrupted and resumed sweep requests
 * exactly the seeds an uninterrupted one does.
 *
 * No MPI, no HDF5: statuses and values come in as plain arrays
 * (tests/sched/test_adaptive.c); src/sched_rank0.c calls it on rank 0. */
#ifndef DS_ADAPTIVE_H
#define DS_ADAPTIVE_H

#include <stdint.h>

#include "sweep.h"

/* One scale's allocation so far. Zero it before the first decision; later
 * decisions continue from it (the rounds already decided stay decided). */
typedef struct {
    int64_t requested; /* seeds [0, requested) of the scale are requested */
    int round;         /* the round now open (0: the first) */
    int stopped;       /* the last decision stopped the scale (narrow enough, or max) */
    int64_t n;         /* counted values at the last decision (0 before any) */
    double est, lo, hi;/* the statistic and its interval at the last decision (NaN before) */
} ds_adapt_state;

/* Decides the rounds of one scale as far as the finished runs allow.
 * status[i] (DS_RUN_*) and value[i] belong to seed index i (seed start + i),
 * for 0 <= i < n_seeds; value[i] is the run's counted value of the adaptive
 * metric at the adaptive length (ds_run_counted_value in src/schema.h; NaN
 * when it has none). Seeds at or beyond n_seeds count as pending. s must have
 * seeds.adaptive enabled. Returns 1 when st->requested grew, else 0. */
int ds_adapt_decide(const ds_sweep *s, int scale, const uint8_t *status, const double *value,
                    int64_t n_seeds, ds_adapt_state *st);

/* The bootstrap key of the decision of `round` of `scale` in sweep s. */
uint64_t ds_adapt_key(const ds_sweep *s, int scale, int round);

#endif
