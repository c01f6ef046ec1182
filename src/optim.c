/* optim: learning-rate schedule, clipping and AdamW (see optim.h). */
#include "optim.h"

#include <math.h>
#include <stdlib.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

double ds_lr_at(const ds_train_spec *tr, int64_t t) {
    if (t < tr->warmup) return tr->lr * (double)t / (double)tr->warmup;
    if (tr->steps <= tr->warmup) return tr->lr;
    double prog = (double)(t - tr->warmup) / (double)(tr->steps - tr->warmup);
    if (prog > 1.0) prog = 1.0;
    if (tr->schedule == DS_SCHED_LINEAR) return tr->lr * (1.0 - prog);
    return tr->lr * 0.5 * (1.0 + cos(M_PI * prog));
}

int ds_optim_ctl_init(ds_optim_ctl *c, ds_backend *be, int R, const uint8_t *active, ds_error *err) {
    DS_ASSERT(R >= 1);
    *c = (ds_optim_ctl){.be = be, .R = R};
    c->sq = be->alloc(be, sizeof(double) * (size_t)R);
    c->gscale = be->alloc(be, sizeof(float) * (size_t)R);
    c->active = be->alloc(be, (size_t)R);
    c->loss = be->alloc(be, sizeof(float) * (size_t)R);
    if (!c->sq || !c->gscale || !c->active || !c->loss) {
        char need[32];
        ds_fmt_bytes((double)R * (sizeof(double) + 2 * sizeof(float) + 1), need, sizeof need);
        ds_optim_ctl_free(c);
        return ds_error_nomem(err, "pack of %d replicas: cannot allocate %s of update control "
                              "(norms, clip factors, flags, losses) on the %s backend", R, need,
                              be->name);
    }
    be->upload(be, c->active, active, (size_t)R);
    return 0;
}

void ds_optim_ctl_free(ds_optim_ctl *c) {
    if (!c || !c->be) return;
    ds_backend *be = c->be;
    if (c->sq) be->free(be, c->sq);
    if (c->gscale) be->free(be, c->gscale);
    if (c->active) be->free(be, c->active);
    if (c->loss) be->free(be, c->loss);
    *c = (ds_optim_ctl){0};
}

/* ds_optim_guard, with the gradient norms also into gnorm (backend [R], may be NULL). */
static void guard(ds_model *m, const ds_train_spec *tr, ds_optim_ctl *c, const double *lsum,
                  float *gnorm) {
    ds_backend *be = m->be;
    DS_ASSERT(c->R == m->cfg.R);
    be->sumsq(be, c->sq, m->grads, m->P, m->P, c->R);
    be->step_guard(be, c->loss, gnorm, c->gscale, c->active, lsum, c->sq, c->R, (float)tr->grad_clip);
}

void ds_optim_guard(ds_model *m, const ds_train_spec *tr, ds_optim_ctl *c, const double *lsum) {
    guard(m, tr, c, lsum, NULL);
}

void ds_optim_apply(ds_model *m, const ds_train_spec *tr, int64_t t, const ds_optim_ctl *c) {
    double step = (double)(t + 1);
    ds_adamw_args a = {
        .lr = (float)ds_lr_at(tr, t), .gscale = c->gscale, .active = c->active,
        .beta1 = (float)tr->beta1, .beta2 = (float)tr->beta2, .eps = (float)tr->adam_eps,
        .weight_decay = (float)tr->weight_decay,
        .bc1 = (float)(1.0 - pow(tr->beta1, step)), .bc2 = (float)(1.0 - pow(tr->beta2, step)),
    };
    m->be->adamw(m->be, m->params, m->grads, m->adam_m, m->adam_v, m->P, c->R, &a);
}

void ds_optim_step(ds_model *m, const ds_train_spec *tr, int64_t t, uint8_t *active, float *gnorm) {
    ds_backend *be = m->be;
    int R = m->cfg.R;
    ds_optim_ctl c = {0};
    ds_error err = {0};
    if (ds_optim_ctl_init(&c, be, R, active, &err)) ds_die(DS_EXIT_ERROR, "%s", err.msg);
    float *dnorm = gnorm ? be->alloc(be, sizeof(float) * (size_t)R) : NULL;
    if (gnorm && !dnorm) ds_die(DS_EXIT_ERROR, "optim: out of backend memory");
    guard(m, tr, &c, NULL, dnorm);
    ds_optim_apply(m, tr, t, &c);
    be->download(be, active, c.active, (size_t)R);
    if (gnorm) be->download(be, gnorm, dnorm, sizeof(float) * (size_t)R);
    if (dnorm) be->free(be, dnorm);
    ds_optim_ctl_free(&c);
}
