/* optim: learning-rate schedule, clipping and AdamW (see optim.h). */
#include "optim.h"

#include <math.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

double ds_lr_at(const ds_train_spec *tr, int64_t t) {
    if (t < tr->warmup) return tr->lr * (double)t / (double)tr->warmup;
    if (tr->steps <= tr->warmup) return tr->lr;
    double prog = (double)(t - tr->warmup) / (double)(tr->steps - tr->warmup);
    if (prog > 1.0) prog = 1.0;
    return tr->lr * 0.5 * (1.0 + cos(M_PI * prog));
}

void ds_optim_step(ds_model *m, const ds_train_spec *tr, int64_t t, uint8_t *active, float *gnorm) {
    int R = m->cfg.R;
    double *sq = DS_MALLOC(sizeof(double) * R);
    float *lr = DS_MALLOC(sizeof(float) * R), *gs = DS_MALLOC(sizeof(float) * R);
    m->be->sumsq(m->be, sq, m->grads, m->P, m->P, R);
    float lr_t = (float)ds_lr_at(tr, t);
    for (int r = 0; r < R; r++) {
        /* norm in float, clip coefficient as torch.nn.utils.clip_grad_norm_ */
        float norm = (float)sqrt(sq[r]);
        if (gnorm) gnorm[r] = norm;
        if (!isfinite(norm)) active[r] = 0;
        gs[r] = 1.0f;
        if (tr->grad_clip > 0) {
            float coef = (float)tr->grad_clip / (norm + 1e-6f);
            if (coef < 1.0f) gs[r] = coef;
        }
        lr[r] = lr_t;
    }
    double step = (double)(t + 1);
    ds_adamw_args a = {
        .lr = lr, .gscale = gs, .active = active,
        .beta1 = (float)tr->beta1, .beta2 = (float)tr->beta2, .eps = (float)tr->adam_eps,
        .weight_decay = (float)tr->weight_decay,
        .bc1 = (float)(1.0 - pow(tr->beta1, step)), .bc2 = (float)(1.0 - pow(tr->beta2, step)),
    };
    m->be->adamw(m->be, m->params, m->grads, m->adam_m, m->adam_v, m->P, R, &a);
    free(sq);
    free(lr);
    free(gs);
}
