// rope: the rotary embedding of the CUDA backend, forward and backward.
#ifndef DS_ROPE_CUH
#define DS_ROPE_CUH

#include "cuda_common.cuh"

// rotary embedding: one thread per (row, part, head, pair j). The angle is
// computed in double and rounded once, as the CPU's table.

__global__ void rope_k(float *qkv, int T, int H, int hd, int rot, float base, float sign,
                       long total) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x; // over R*B*T * 2 * H * half
    if (i >= total) return;
    int half = rot / 2, C = H * hd;
    int j = (int)(i % half);
    long rest = i / half;
    int h = (int)(rest % H);
    rest /= H;
    int part = (int)(rest % 2);
    long row = rest / 2;
    int t = (int)(row % T);
    double ang = t * pow((double)base, -2.0 * j / rot);
    float c = (float)cos(ang), s = sign * (float)sin(ang);
    float *x = qkv + row * 3 * C + part * C + h * hd;
    float a = x[j], bb = x[j + half];
    x[j] = a * c - bb * s;
    x[j + half] = bb * c + a * s;
}

static void rope_apply(ds_backend *be, float *qkv, int R, int B, int T, int H, int hd, int rot,
                       float base, float sign) {
    if (rot <= 0) return;
    long total = (long)R * B * T * 2 * H * (rot / 2);
    if (!total) return;
    rope_k<<<cdiv(total, 256), 256, 0, ST(be)>>>(qkv, T, H, hd, rot, base, sign, total);
    CK_LAUNCH();
}
static void rope_fwd(ds_backend *be, float *qkv, int R, int B, int T, int H, int hd, int rot,
                     float base) {
    OP_TIME(rope_fwd);
    rope_apply(be, qkv, R, B, T, H, hd, rot, base, 1.0f);
}
static void rope_bwd(ds_backend *be, float *dqkv, int R, int B, int T, int H, int hd, int rot,
                     float base) {
    OP_TIME(rope_bwd);
    rope_apply(be, dqkv, R, B, T, H, hd, rot, base, -1.0f);
}

#endif
