// adamw: the AdamW update of the CUDA backend.
#ifndef DS_ADAMW_CUH
#define DS_ADAMW_CUH

#include "cuda_common.cuh"

// AdamW: one fused kernel over R*P; the per-replica clip factor and active
// flag are device arrays (written by step_guard, reduce.cuh), the rest
// arguments, so an update needs no transfer. torch.optim.AdamW's order of
// operations.

__global__ void adamw_k(float *p, const float *g, float *m, float *v, size_t P, int R, float lr,
                        const float *gscale, const uint8_t *active, float beta1, float beta2,
                        float eps, float wd, float bc1, float sqrt_bc2) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= P * (size_t)R) return;
    int r = (int)(i / P);
    if (!active[r]) return;
    float step = lr / bc1, decay = 1.0f - lr * wd;
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
    size_t n = P * (size_t)R;
    adamw_k<<<cdiv(n, 256), 256, 0, ST(be)>>>(p, g, m, v, P, R, a->lr, a->gscale, a->active,
                                              a->beta1, a->beta2, a->eps, a->weight_decay, a->bc1,
                                              sqrtf(a->bc2));
    CK_LAUNCH();
}

#endif
