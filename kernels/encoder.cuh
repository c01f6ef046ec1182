// encoder: the token embedding of the CUDA backend, forward and backward.
#ifndef DS_ENCODER_CUH
#define DS_ENCODER_CUH

#include "cuda_common.cuh"

__global__ void encoder_fwd_k(float *out, const int32_t *tok, const float *wte, size_t ws, int N,
                              int C, long total) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x; // over R*N*C
    if (i >= total) return;
    long row = i / C;
    int c = (int)(i % C), r = (int)(row / N);
    out[i] = wte[(size_t)r * ws + (size_t)tok[row] * C + c];
}

static void encoder_fwd(ds_backend *be, float *out, const int32_t *tok, const float *wte, size_t ws,
                        int R, int N, int C) {
    OP_TIME(encoder_fwd);
    long total = (long)R * N * C;
    if (!total) return;
    encoder_fwd_k<<<cdiv(total, 256), 256, 0, ST(be)>>>(out, tok, wte, ws, N, C, total);
    CK_LAUNCH();
}

// Embedding backward without atomics. The rows of replica r are cut into S
// fixed segments (S = 4096/C in [1, 64]: at least 4096 threads per replica).
// Stage 1: one thread per (segment, replica, channel) walks its segment's
// rows in order, ENC_G at a time: rows of the group with the same token are
// added together first (increasing n), then each distinct token gets one
// read-modify-write of the segment's partial table [S][R][V][C] (the group's
// loads are independent, so the thread does not wait one memory round trip
// per row). Stage 2: dwte[r][v][c] += the S partials in segment order.
// V is the vocabulary (the op's argument; it used to be found on the device
// as the largest token + 1 and read back, a synchronization inside every
// step). Rows that no token names get 0 added: +0 + 0 is +0, so no bit moves.
// Fixed order throughout; not the CPU's order (it adds row by row), so equal
// to it only to rounding.
enum { ENC_G = 16 };

__global__ void encoder_bwd_partial_k(float *part, const float *dout, const int32_t *tok, int R,
                                      int N, int C, int V, int S, int seglen) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x; // over S*R*C
    if (i >= (long)S * R * C) return;
    int c = (int)(i % C);
    long sr = i / C;
    int r = (int)(sr % R), sg = (int)(sr / R);
    float *pw = part + (size_t)sr * V * C + c;
    const float *d = dout + (size_t)r * N * C + c;
    const int32_t *tk = tok + (size_t)r * N;
    int nb = sg * seglen, ne = min(N, nb + seglen);
    for (int n0 = nb; n0 < ne; n0 += ENC_G) {
        int t[ENC_G];
        float a[ENC_G], cur[ENC_G];
#pragma unroll
        for (int k = 0; k < ENC_G; k++) {
            t[k] = n0 + k < ne ? tk[n0 + k] : -1;
            a[k] = n0 + k < ne ? d[(size_t)(n0 + k) * C] : 0.0f;
        }
#pragma unroll
        for (int k = 1; k < ENC_G; k++) {
            bool merged = false;
#pragma unroll
            for (int j = 0; j < k; j++)
                if (!merged && t[k] >= 0 && t[j] == t[k]) {
                    a[j] += a[k];
                    merged = true;
                }
            if (merged) t[k] = -1;
        }
#pragma unroll
        for (int k = 0; k < ENC_G; k++)
            if (t[k] >= 0) cur[k] = pw[(size_t)t[k] * C];
#pragma unroll
        for (int k = 0; k < ENC_G; k++)
            if (t[k] >= 0) pw[(size_t)t[k] * C] = cur[k] + a[k];
    }
}

__global__ void encoder_bwd_final_k(float *dwte, size_t ws, const float *part, int R, int V, int C,
                                    int S) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x; // over R*V*C
    if (i >= (long)R * V * C) return;
    long vc = i % ((long)V * C);
    int r = (int)(i / ((long)V * C));
    float acc = 0.0f;
    for (int sg = 0; sg < S; sg++) acc += part[((size_t)sg * R + r) * V * C + vc];
    dwte[(size_t)r * ws + vc] += acc;
}

static void encoder_bwd(ds_backend *be, float *dwte, size_t ws, const float *dout,
                        const int32_t *tok, int R, int N, int C, int V) {
    OP_TIME(encoder_bwd);
    if (!R || !N || !C || V <= 0) return;
    long lanes = (long)R * C;
    // S from C and N only, never from R: a replica's order of additions is
    // the same alone and in a pack
    // (src/devmem.h: the one formula, which the scratch reservation counts)
    int S = ds_devmem_enc_segments(N, C);
    int seglen = (int)cdiv(N, S);
    size_t pn = (size_t)S * R * V * C;
    float *part = (float *)scratch(be, sizeof(float) * pn);
    CK(cudaMemsetAsync(part, 0, sizeof(float) * pn, ST(be)));
    encoder_bwd_partial_k<<<cdiv((size_t)S * lanes, 128), 128, 0, ST(be)>>>(part, dout, tok, R, N,
                                                                            C, V, S, seglen);
    CK_LAUNCH();
    encoder_bwd_final_k<<<cdiv((size_t)R * V * C, 256), 256, 0, ST(be)>>>(dwte, ws, part, R, V, C,
                                                                          S);
    CK_LAUNCH();
}

#endif
