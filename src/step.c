/* step: one training step of a pack (see step.h). */
#include "step.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "optim.h"
#include "tasks.h"

void ds_step_init(ds_step *st, const ds_sweep *s, ds_model *m, const int64_t *seeds, int R,
                  int nthreads, int verbose) {
    size_t n = (size_t)R * s->train.batch * s->train.context;
    st->s = s;
    st->m = m;
    st->seeds = seeds;
    st->R = R;
    st->nthreads = nthreads > 0 ? nthreads : 1;
    st->verbose = verbose;
    st->tok = DS_MALLOC(sizeof(int32_t) * n);
    st->mask = DS_MALLOC(n);
}

void ds_step_free(ds_step *st) {
    if (!st) return;
    free(st->tok);
    free(st->mask);
    st->tok = NULL;
    st->mask = NULL;
}

/* Fills the host batch [R][B][context] of `step`: row b of replica r is row
 * step*B + b of seed seeds[r]'s training stream. */
static void make_batch(const ds_step *st, int64_t step) {
    const ds_sweep *s = st->s;
    const ds_task_ops *ops = ds_task_get(&s->task);
    int B = s->train.batch, ctx = s->train.context, R = st->R;
#pragma omp parallel for schedule(static) num_threads(st->nthreads)
    for (int i = 0; i < R * B; i++) {
        int r = i / B, b = i % B;
        ops->train_row(&s->task, (uint64_t)st->seeds[r], (uint64_t)step * B + b, ctx,
                       st->tok + (size_t)i * ctx, st->mask + (size_t)i * ctx);
    }
}

void ds_step_run(ds_step *st, int64_t step, uint8_t *active, float *losses, ds_step_times *times) {
    const ds_train_spec *tr = &st->s->train;
    double t0 = ds_now();
    make_batch(st, step);
    ds_model_set_batch(st->m, st->tok, st->mask, tr->batch, tr->context - 1);
    double t1 = ds_now();
    ds_model_forward(st->m, losses);
    for (int r = 0; r < st->R; r++) {
        if (active[r] && !isfinite(losses[r])) {
            active[r] = 0;
            if (st->verbose)
                fprintf(stderr, "distsweep: seed %lld diverged at step %lld (loss %g)\n",
                        (long long)st->seeds[r], (long long)step, losses[r]);
        }
    }
    double t2 = ds_now();
    ds_model_backward(st->m);
    double t3 = ds_now();
    ds_optim_step(st->m, tr, step, active, NULL);
    for (int r = 0; r < st->R; r++)
        if (!active[r]) losses[r] = NAN;
    double t4 = ds_now();
    if (times) *times = (ds_step_times){t1 - t0, t2 - t1, t3 - t2, t4 - t3};
}
