// adamw: the AdamW update of the CUDA backend.
#ifndef DS_ADAMW_CUH
#define DS_ADAMW_CUH

#include "cuda_common.cuh"

// AdamW: one fused kernel over R*P, per-replica lr/gscale/active uploaded as
// one small array. torch.optim.AdamW's order of operations.

__global__ void adamw_k(float *p, const float *g, float *m, float *v, size_t P, int R,
                        const float *lr, const float *gscale, const float *active, float beta1,
                        float beta2, float eps, float wd, float bc1, float sqrt_bc2) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= P * (size_t)R) return;
    int r = (int)(i / P);
    if (active[r] == 0.0f) return;
    float lrr = lr[r], step = lrr / bc1, decay = 1.0f - lrr * wd;
    float gi = g[i] * gscale[r];
    float pi = p[i] * decay;
    float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    float denom = sqrtf(vi) / sqrt_bc2 + eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - step * mi / denom;
}

static void adamw(ds_backend *be, float *p, const float *g, float *m, float *v, size_t P, int R,
                  const ds_adamw_args *a) {
    OP_TIME(adamw);
    if (!P || !R) return;
    float *h = (float *)DS_MALLOC(sizeof(float) * 3 * R);
    for (int r = 0; r < R; r++) {
        h[r] = a->lr[r];
        h[R + r] = a->gscale[r];
        h[2 * R + r] = a->active[r] ? 1.0f : 0.0f;
    }
    float *d = (float *)scratch(be, sizeof(float) * 3 * R);
    cu_upload(be, d, h, sizeof(float) * 3 * R);
    free(h);
    size_t n = P * (size_t)R;
    adamw_k<<<cdiv(n, 256), 256, 0, ST(be)>>>(p, g, m, v, P, R, d, d + R, d + 2 * R, a->beta1,
                                              a->beta2, a->eps, a->weight_decay, a->bc1,
                                              sqrtf(a->bc2));
    CK_LAUNCH();
}

#endif
