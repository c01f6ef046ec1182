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
    st->group = NULL;
    st->b0 = 0;
    st->nb = s->train.batch;
}

void ds_step_group_rows(int B, int k, int j, int *b0, int *nb) {
    DS_ASSERT(k >= 1 && k <= B && j >= 0 && j < k);
    *b0 = (int)((int64_t)j * B / k);
    *nb = (int)((int64_t)(j + 1) * B / k) - *b0;
}

void ds_step_set_group(ds_step *st, ds_group *g, int b0, int nb) {
    DS_ASSERT(b0 >= 0 && nb >= 1 && b0 + nb <= st->s->train.batch);
    st->group = g;
    st->b0 = b0;
    st->nb = nb;
}

void ds_step_free(ds_step *st) {
    if (!st) return;
    free(st->tok);
    free(st->mask);
    st->tok = NULL;
    st->mask = NULL;
}

/* Fills the host batch [R][nb][context] of `step`: row b of replica r is row
 * step*B + b0 + b of seed seeds[r]'s training stream (B = train.batch; b0 0
 * and nb B when training alone). */
static void make_batch(const ds_step *st, int64_t step) {
    const ds_sweep *s = st->s;
    const ds_task_ops *ops = ds_task_get(&s->task);
    int B = s->train.batch, nb = st->nb, ctx = s->train.context, R = st->R;
#pragma omp parallel for schedule(static) num_threads(st->nthreads)
    for (int i = 0; i < R * nb; i++) {
        int r = i / nb, b = i % nb;
        ops->train_row(&s->task, (uint64_t)st->seeds[r], (uint64_t)step * B + st->b0 + b, ctx,
                       st->tok + (size_t)i * ctx, st->mask + (size_t)i * ctx);
    }
}

/* A group member's batch and forward: the whole batch's scored-target
 * counts and loss sums, added over the group, so that every member's
 * weights and losses are those of the whole batch. */
static void group_forward(ds_step *st, float *losses) {
    const ds_train_spec *tr = &st->s->train;
    int R = st->R, ctx = tr->context;
    double *v = DS_MALLOC(sizeof(double) * R);
    for (int r = 0; r < R; r++) {
        long n = 0;
        const uint8_t *mk = st->mask + (size_t)r * st->nb * ctx;
        for (int b = 0; b < st->nb; b++)
            for (int t = 1; t < ctx; t++) n += mk[(size_t)b * ctx + t] != 0;
        v[r] = (double)n;
    }
    ds_group_sum_host(st->group, v, (size_t)R);
    ds_model_set_batch_norm(st->m, st->tok, st->mask, st->nb, ctx - 1, v);
    ds_model_forward_sums(st->m, v);
    ds_group_sum_host(st->group, v, (size_t)R);
    for (int r = 0; r < R; r++) losses[r] = (float)v[r];
    free(v);
}

void ds_step_run(ds_step *st, int64_t step, uint8_t *active, float *losses, ds_step_times *times) {
    const ds_train_spec *tr = &st->s->train;
    double t0 = ds_now();
    make_batch(st, step);
    double t1 = ds_now();
    if (st->group) {
        group_forward(st, losses);
    } else {
        ds_model_set_batch(st->m, st->tok, st->mask, tr->batch, tr->context - 1);
        t1 = ds_now();
        ds_model_forward(st->m, losses);
    }
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
    if (st->group) ds_group_sum(st->group, st->m->grads, (size_t)st->R * st->m->P);
    double t3 = ds_now();
    ds_optim_step(st->m, tr, step, active, NULL);
    for (int r = 0; r < st->R; r++)
        if (!active[r]) losses[r] = NAN;
    double t4 = ds_now();
    if (times) *times = (ds_step_times){t1 - t0, t2 - t1, t3 - t2, t4 - t3};
}
