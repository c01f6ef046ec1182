/* step: one training step of a pack (see step.h). */
#include "step.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfmodel.h"
#include "optim.h"
#include "tasks.h"

/* Member j of k's rows b0 .. b0+nb-1 and micro-batches (b0s/nbs may be
 * NULL: the count only). Returns the number of micro-batches. */
static int plan_rows(const ds_train_spec *tr, int k, int j, int *b0, int *nb, int *b0s, int *nbs) {
    int B = tr->batch, M = tr->micro_batches;
    DS_ASSERT(k >= 1 && k <= B && j >= 0 && j < k && M >= 1 && M <= B);
    *b0 = (int)((int64_t)j * B / k);
    *nb = (int)((int64_t)(j + 1) * B / k) - *b0;
    if (M % k) { /* its rows are one micro-batch */
        if (b0s) b0s[0] = *b0, nbs[0] = *nb;
        return 1;
    }
    int per = M / k;
    for (int i = 0; i < per && b0s; i++) {
        int c = j * per + i;
        b0s[i] = (int)((int64_t)c * B / M);
        nbs[i] = (int)((int64_t)(c + 1) * B / M) - b0s[i];
    }
    return per;
}

int ds_step_rows(const ds_train_spec *tr, int k, int j) {
    int b0, nb, n = plan_rows(tr, k, j, &b0, &nb, NULL, NULL);
    int *b0s = DS_MALLOC(sizeof(int) * (size_t)n), *nbs = DS_MALLOC(sizeof(int) * (size_t)n), most = 0;
    plan_rows(tr, k, j, &b0, &nb, b0s, nbs);
    for (int i = 0; i < n; i++) most = nbs[i] > most ? nbs[i] : most;
    free(b0s);
    free(nbs);
    return most;
}

/* Formats the error of a buffer of the step that could not be allocated. */
static int step_nomem(const ds_step *st, size_t bytes, const char *what, int host, ds_error *err) {
    char need[32];
    ds_fmt_bytes((double)bytes, need, sizeof need);
    if (host)
        return ds_error_nomem(err, "pack of %d replicas: cannot allocate %s of %s in host memory",
                              st->R, need, what);
    return ds_error_nomem(err, "pack of %d replicas: cannot allocate %s of %s on the %s backend",
                          st->R, need, what, st->m->be->name);
}

/* Plans st for member j of k and allocates what the plan needs: the
 * micro-batch staging (host) and the gradient tree's levels (backend), here
 * rather than at the first step, so that a pack that does not fit fails
 * before it trains (ds_step_run cannot fail). Returns 0 or a nomem error. */
static int plan(ds_step *st, int k, int j, ds_error *err) {
    const ds_train_spec *tr = &st->s->train;
    ds_backend *be = st->m->be;
    st->n_mb = plan_rows(tr, k, j, &st->b0, &st->nb, NULL, NULL);
    st->mb_b0 = DS_MALLOC(sizeof(int) * (size_t)st->n_mb);
    st->mb_nb = DS_MALLOC(sizeof(int) * (size_t)st->n_mb);
    plan_rows(tr, k, j, &st->b0, &st->nb, st->mb_b0, st->mb_nb);
    if (st->n_mb == 1) return 0;
    size_t n = (size_t)st->R * (size_t)ds_step_rows(tr, k, j) * (size_t)tr->context;
    if (!(st->ctok = ds_try_malloc(sizeof(int32_t) * n)))
        return step_nomem(st, sizeof(int32_t) * n, "micro-batch staging (tokens)", 1, err);
    if (!(st->cmask = ds_try_malloc(n)))
        return step_nomem(st, n, "micro-batch staging (masks)", 1, err);
    /* n_mb = 2^a pushes (a power of two: plan_rows) stack at most a+1 partial sums */
    int levels = 1;
    while ((1 << (levels - 1)) < st->n_mb) levels++;
    DS_ASSERT((1 << (levels - 1)) == st->n_mb && levels <= DS_STEP_MAX_LEVELS);
    size_t gb = sizeof(float) * (size_t)st->R * st->m->P;
    for (int i = 0; i < levels; i++)
        if (!(st->lvl[i] = be->alloc(be, gb)))
            return step_nomem(st, gb, "a micro-batch gradient partial sum", 0, err);
    return 0;
}

int ds_step_init(ds_step *st, const ds_sweep *s, ds_model *m, const int64_t *seeds, int R,
                 ds_group *g, int nthreads, int verbose, uint8_t *active, int ring, ds_error *err) {
    size_t n = (size_t)R * s->train.batch * s->train.context;
    ds_backend *be = m->be;
    int rc = 0;
    DS_ASSERT(R == m->cfg.R && ring >= 1);
    memset(st, 0, sizeof *st);
    st->s = s;
    st->m = m;
    st->seeds = seeds;
    st->R = R;
    st->nthreads = nthreads > 0 ? nthreads : 1;
    st->verbose = verbose;
    st->active = active;
    st->ring_cap = ring;
    st->group = g;
    /* room for a whole batch, whatever share of it this rank trains */
    if (!(st->tok = ds_try_malloc(sizeof(int32_t) * n))) {
        rc = step_nomem(st, sizeof(int32_t) * n, "the step's host batch (tokens)", 1, err);
        goto fail;
    }
    if (!(st->mask = ds_try_malloc(n))) {
        rc = step_nomem(st, n, "the step's host batch (masks)", 1, err);
        goto fail;
    }
    st->dlvl = DS_MALLOC(sizeof(double) * (size_t)R * DS_STEP_MAX_LEVELS); /* R-sized */
    if ((rc = ds_optim_ctl_init(&st->ctl, be, R, active, err))) goto fail;
    if (!(st->ring = be->host_alloc(be, sizeof(float) * (size_t)ring * R))) {
        rc = step_nomem(st, sizeof(float) * (size_t)ring * R, "the steps' loss ring", 1, err);
        goto fail;
    }
    if ((rc = plan(st, g ? ds_group_size(g) : 1, g ? ds_group_rank(g) : 0, err))) goto fail;
    return 0;
fail:
    ds_step_free(st); /* st->m is set: frees what was allocated, leaves st zeroed */
    return rc;
}

void ds_step_free(ds_step *st) {
    if (!st || !st->m) return;
    ds_backend *be = st->m->be;
    if (st->graph) be->graph_free(be, st->graph);
    if (st->ring) be->host_free(be, st->ring);
    ds_optim_ctl_free(&st->ctl);
    for (int i = 0; i < DS_STEP_MAX_LEVELS; i++)
        if (st->lvl[i]) st->m->be->free(st->m->be, st->lvl[i]);
    free(st->tok);
    free(st->mask);
    free(st->mb_b0);
    free(st->mb_nb);
    free(st->ctok);
    free(st->cmask);
    free(st->dlvl);
    memset(st, 0, sizeof *st);
}

/* Fills the host batch [R][nb][context] of `step`: row b of replica r is row
 * step*B + b0 + b of the training stream of seeds[r]'s data seed
 * (ds_hf_data_seed: seeds[r] itself unless model.init.vary fixes it;
 * B = train.batch). */
static void make_batch(const ds_step *st, int64_t step) {
    const ds_sweep *s = st->s;
    const ds_task_ops *ops = ds_task_get(&s->task);
    int B = s->train.batch, nb = st->nb, ctx = s->train.context, R = st->R;
#pragma omp parallel for schedule(static) num_threads(st->nthreads)
    for (int i = 0; i < R * nb; i++) {
        int r = i / nb, b = i % nb;
        ops->train_row(&s->task, ds_hf_data_seed(s, st->seeds[r]), (uint64_t)step * B + st->b0 + b, ctx,
                       st->tok + (size_t)i * ctx, st->mask + (size_t)i * ctx);
    }
}

/* Pushes the gradient of the micro-batch just back-propagated (m->grads)
 * and its loss sums onto the trees' stacks, adding equal-sized neighbours:
 * after 2^a pushes the bottom holds the pairwise tree of them (step.h). */
static void push_partial(ds_step *st, const double *ls, int *top, int *size) {
    ds_backend *be = st->m->be;
    size_t n = (size_t)st->R * st->m->P;
    int R = st->R;
    DS_ASSERT(*top < DS_STEP_MAX_LEVELS && st->lvl[*top]); /* allocated by plan */
    be->copy(be, st->lvl[*top], st->m->grads, sizeof(float) * n);
    memcpy(st->dlvl + (size_t)*top * R, ls, sizeof(double) * R);
    size[(*top)++] = 1;
    while (*top >= 2 && size[*top - 1] == size[*top - 2]) {
        int a = *top - 2, b = *top - 1;
        be->add(be, st->lvl[a], st->lvl[a], st->lvl[b], n);
        for (int r = 0; r < R; r++) st->dlvl[(size_t)a * R + r] += st->dlvl[(size_t)b * R + r];
        size[a] *= 2;
        (*top)--;
    }
}

/* The step's forward and backward over this rank's micro-batches; leaves
 * the (group's) whole-batch gradient in m->grads and loss sums in ls. */
static void split_pass(ds_step *st, double *ls, ds_step_times *tm) {
    const ds_train_spec *tr = &st->s->train;
    int R = st->R, ctx = tr->context;
    double *scored = DS_MALLOC(sizeof(double) * R);
    for (int r = 0; r < R; r++) { /* targets t are scored by mask[t+1] (model.h) */
        long n = 0;
        const uint8_t *mk = st->mask + (size_t)r * st->nb * ctx;
        for (int b = 0; b < st->nb; b++)
            for (int t = 1; t < ctx; t++) n += mk[(size_t)b * ctx + t] != 0;
        scored[r] = (double)n;
    }
    if (st->group) ds_group_sum_host(st->group, scored, (size_t)R); /* whole integers: exact */
    int top = 0, size[DS_STEP_MAX_LEVELS];
    for (int i = 0; i < st->n_mb; i++) {
        const int32_t *tok = st->tok;
        const uint8_t *mask = st->mask;
        int rows = st->mb_nb[i], off = st->mb_b0[i] - st->b0;
        if (st->n_mb > 1) { /* replica r's rows off .. off+rows-1, contiguous */
            for (int r = 0; r < R; r++) {
                size_t src = ((size_t)r * st->nb + off) * ctx, dst = (size_t)r * rows * ctx;
                memcpy(st->ctok + dst, st->tok + src, sizeof(int32_t) * rows * ctx);
                memcpy(st->cmask + dst, st->mask + src, (size_t)rows * ctx);
            }
            tok = st->ctok, mask = st->cmask;
        }
        double t0 = ds_now();
        ds_model_set_batch_norm(st->m, tok, mask, rows, ctx - 1, scored);
        ds_model_forward_sums(st->m, ls);
        double t1 = ds_now();
        ds_model_backward(st->m);
        tm->forward += t1 - t0;
        tm->backward += ds_now() - t1;
        if (st->n_mb > 1) push_partial(st, ls, &top, size);
    }
    if (st->n_mb > 1) {
        DS_ASSERT(top == 1); /* a power of two of micro-batches: one tree */
        st->m->be->copy(st->m->be, st->m->grads, st->lvl[0], sizeof(float) * R * st->m->P);
        memcpy(ls, st->dlvl, sizeof(double) * R);
    }
    double t2 = ds_now();
    if (st->group) {
        ds_group_sum(st->group, st->m->grads, (size_t)R * st->m->P);
        ds_group_sum_host(st->group, ls, (size_t)R);
    }
    tm->backward += ds_now() - t2;
    free(scored);
}

/* The plain step's forward, backward and update guard, with the same
 * arguments every step: on a backend with graphs (backend.h) the second
 * such step is captured and every later one replays it. The first runs as
 * it is, so that every lazily sized backend buffer (scratch, rounding
 * copies, GEMM plans) has its final size before a capture records its
 * address. */
static void plain_pass(ds_step *st, ds_step_times *tm) {
    ds_model *m = st->m;
    ds_backend *be = m->be;
    double t0 = ds_now();
    if (st->graph) {
        DS_ASSERT(m->cur_B == st->graph_B && m->cur_T == st->graph_T);
        be->graph_launch(be, st->graph);
        tm->forward = ds_now() - t0; /* one launch: no split */
        return;
    }
    int capture = be->capture_begin && st->n_plain == 1;
    if (capture) be->capture_begin(be);
    ds_model_forward_loss(m);
    double t1 = ds_now();
    ds_model_backward(m);
    ds_optim_guard(m, &st->s->train, &st->ctl, m->loss_sum);
    if (capture) {
        st->graph = be->capture_end(be);
        st->graph_B = m->cur_B, st->graph_T = m->cur_T;
        be->graph_launch(be, st->graph);
    }
    tm->forward = t1 - t0;
    tm->backward = ds_now() - t1;
}

void ds_step_run(ds_step *st, int64_t step, ds_step_times *times) {
    const ds_train_spec *tr = &st->s->train;
    ds_backend *be = st->m->be;
    int R = st->R;
    ds_step_times tm = {0};
    DS_ASSERT(st->n_ring < st->ring_cap); /* ds_step_read first */
    if (!st->n_ring) st->ring_first = step;
    DS_ASSERT(step == st->ring_first + st->n_ring);
    double t0 = ds_now();
    make_batch(st, step);
    if (!st->group && st->n_mb == 1) { /* the plain step */
        ds_model_set_batch(st->m, st->tok, st->mask, tr->batch, tr->context - 1);
        tm.data = ds_now() - t0;
        plain_pass(st, &tm);
        st->n_plain++;
    } else {
        tm.data = ds_now() - t0;
        double *ls = DS_MALLOC(sizeof(double) * R);
        split_pass(st, ls, &tm);
        be->upload_async(be, st->m->loss_sum, ls, sizeof(double) * R);
        free(ls);
        /* after the backward: it changes nothing for a frozen replica, whose
         * update is skipped */
        ds_optim_guard(st->m, tr, &st->ctl, st->m->loss_sum);
    }
    double t3 = ds_now();
    ds_optim_apply(st->m, tr, step, &st->ctl);
    be->download_async(be, st->ring + (size_t)st->n_ring * R, st->ctl.loss, sizeof(float) * R);
    st->n_ring++;
    tm.optimizer = ds_now() - t3;
    if (times) *times = tm;
}

int ds_step_pending(const ds_step *st) { return st->n_ring; }

int ds_step_read(ds_step *st, const float **losses, int64_t *first) {
    int n = st->n_ring, R = st->R;
    *losses = st->ring;
    *first = st->ring_first;
    if (!n) return 0;
    st->m->be->sync(st->m->be);
    /* step_guard's loss is finite exactly while the replica is active */
    for (int i = 0; i < n; i++) {
        for (int r = 0; r < R; r++) {
            float l = st->ring[(size_t)i * R + r];
            if (st->active[r] && !isfinite(l)) {
                st->active[r] = 0;
                if (st->verbose)
                    fprintf(stderr, "distsweep: seed %lld diverged at step %lld (loss or gradient "
                            "norm not finite)\n", (long long)st->seeds[r],
                            (long long)(st->ring_first + i));
            }
        }
    }
    st->n_ring = 0;
    return n;
}
