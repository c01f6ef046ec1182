/* backend: the table of tensor operations the model is written against.
 *
 * Owns nothing but the contract. A backend (backend_cpu.c; a CUDA backend
 * implements the same table) provides memory and the forward/backward pair of
 * every operation the transformer needs. The model, the optimizer and the
 * evaluation never touch tensor memory directly: they allocate buffers here,
 * move host data in and out with upload/download, and pass pointers into those
 * buffers to the ops. On the CPU the pointers are host memory; on a GPU they
 * are device addresses (pointer arithmetic on them is fine, dereferencing is
 * not).
 *
 * The replica dimension (DESIGN §3): every op works on a whole pack of R
 * replicas at once and the caller never loops over replicas.
 *   - parameters (and their gradients, Adam moments) of replica r live at
 *     w + r*ws: every weight argument comes with its replica stride ws (the
 *     flat parameter count P), so a GPU can run strided-batched GEMMs;
 *   - activations are contiguous [R][N][C] with N = B*T rows per replica;
 *   - per-replica scalars (losses, norms) are [R] float buffers.
 *
 * Determinism contract (what every backend must keep): the numbers of replica r
 * depend only on replica r's inputs, never on R, on the other replicas or on
 * the thread count, and every reduction has a fixed order. The CPU backend then
 * gives a replica in a pack the same bits as the same seed trained alone.
 *
 * Accumulation conventions are stated per op: "+=" ops add into their output
 * (gradients of parameters, the residual-stream gradient), "=" ops overwrite. */
#ifndef DS_BACKEND_H
#define DS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "sweep.h"

/* Per-replica arguments of one AdamW update (host memory; R entries each). */
typedef struct {
    const float *lr;     /* learning rate of this update (0 for a frozen replica) */
    const float *gscale; /* gradient scale from global-norm clipping, 1 if none */
    const uint8_t *active; /* 0: the replica is not updated at all (diverged) */
    float beta1, beta2, eps, weight_decay;
    float bc1, bc2;      /* bias corrections 1-beta1^t, 1-beta2^t, t = updates so far incl. this */
} ds_adamw_args;

typedef struct ds_backend ds_backend;
struct ds_backend {
    const char *name;
    int threads; /* host threads the ops use (CPU backend) */
    void *impl;  /* backend-private state */

    /* --- memory ------------------------------------------------------------ */
    /* A zero-filled buffer of `bytes` bytes, or NULL if out of memory. */
    void *(*alloc)(ds_backend *be, size_t bytes);
    void (*free)(ds_backend *be, void *p);
    void (*upload)(ds_backend *be, void *dst, const void *host_src, size_t bytes);
    void (*download)(ds_backend *be, void *host_dst, const void *src, size_t bytes);
    void (*zero)(ds_backend *be, void *p, size_t bytes);
    void (*copy)(ds_backend *be, void *dst, const void *src, size_t bytes); /* within the backend */
    void (*destroy)(ds_backend *be);

    /* --- token embedding ------------------------------------------------- */
    /* out[r][n][:] = wte[r][tok[r][n]][:] */
    void (*encoder_fwd)(ds_backend *be, float *out, const int32_t *tok, const float *wte,
                        size_t ws, int R, int N, int C);
    /* dwte[r][tok[r][n]][:] += dout[r][n][:], rows in increasing n (fixed order) */
    void (*encoder_bwd)(ds_backend *be, float *dwte, size_t ws, const float *dout,
                        const int32_t *tok, int R, int N, int C);

    /* --- LayerNorm (eps given), per row of C ------------------------------- */
    /* out = (inp-mean)*rstd*w + b; saves mean, rstd [R][N] for the backward. */
    void (*layernorm_fwd)(ds_backend *be, float *out, float *mean, float *rstd,
                          const float *inp, const float *w, const float *b, size_t ws,
                          int R, int N, int C, float eps);
    /* dinp += , dw += , db += */
    void (*layernorm_bwd)(ds_backend *be, float *dinp, float *dw, float *db, size_t ws,
                          const float *dout, const float *inp, const float *w,
                          const float *mean, const float *rstd, int R, int N, int C);

    /* --- linear layer y = x W^T + b, W [OC][C] row-major (torch.nn.Linear) --- */
    /* out = ; b may be NULL */
    void (*matmul_fwd)(ds_backend *be, float *out, const float *inp, const float *w,
                       const float *b, size_t ws, int R, int N, int C, int OC);
    /* dinp = dout W ; dw += dout^T inp ; db += colsum(dout) (db may be NULL) */
    void (*matmul_bwd)(ds_backend *be, float *dinp, float *dw, float *db, size_t ws,
                       const float *dout, const float *inp, const float *w, int R, int N,
                       int C, int OC);

    /* --- rotary embedding, in place on the q and k parts of qkv [R][B*T][3C] --- */
    /* GPT-NeoX rotate-half on the first `rot` dims of each head of size hd,
     * angle = t * base^(-2j/rot), t = position in the row. */
    void (*rope_fwd)(ds_backend *be, float *qkv, int R, int B, int T, int H, int hd, int rot,
                     float base);
    /* the inverse rotation, applied to dq, dk in place */
    void (*rope_bwd)(ds_backend *be, float *dqkv, int R, int B, int T, int H, int hd, int rot,
                     float base);

    /* --- causal self-attention, scale 1/sqrt(hd) ---------------------------- */
    /* out [R][B*T][H*hd] = ; lse [R][B][H][T] = log-sum-exp of each score row,
     * kept so the backward can recompute the probabilities (no T x T storage). */
    void (*attention_fwd)(ds_backend *be, float *out, float *lse, const float *qkv, int R,
                          int B, int T, int H, int hd);
    /* dqkv = (all three parts written) */
    void (*attention_bwd)(ds_backend *be, float *dqkv, const float *dout, const float *qkv,
                          const float *out, const float *lse, int R, int B, int T, int H,
                          int hd);

    /* --- exact (erf) GELU, residual add ---------------------------------- */
    void (*gelu_fwd)(ds_backend *be, float *out, const float *inp, size_t n);        /* = */
    void (*gelu_bwd)(ds_backend *be, float *dinp, const float *inp, const float *dout,
                     size_t n);                                                      /* = */
    void (*add)(ds_backend *be, float *out, const float *a, const float *b, size_t n); /* = a+b */

    /* --- softmax cross-entropy over V classes ------------------------------ */
    /* loss[r][n] = -log softmax(logits[r][n])[tgt[r][n]] */
    void (*crossentropy_fwd)(ds_backend *be, float *loss, const float *logits,
                             const int32_t *tgt, int R, int N, int V);
    /* dlogits = (softmax - onehot) * weight[r][n]; dlogits may alias logits */
    void (*crossentropy_bwd)(ds_backend *be, float *dlogits, const float *logits,
                             const int32_t *tgt, const float *weight, int R, int N, int V);
    /* per scored token: ce, probability of the target, and 1 if the target is
     * the first argmax (the greedy prediction), else 0; all [R][N] */
    void (*token_stats)(ds_backend *be, float *ce, float *pcorrect, float *correct,
                        const float *logits, const int32_t *tgt, int R, int N, int V);

    /* --- reductions (fixed order, double accumulation) ---------------------- */
    /* out[r] = sum_n x[r][n] * w[r][n]   (host out[R]) */
    void (*weighted_sum)(ds_backend *be, double *host_out, const float *x, const float *w,
                         int R, size_t N);
    /* out[r] = sum_i x[r*stride + i]^2, i < n   (host out[R]); a non-finite
     * element makes it non-finite */
    void (*sumsq)(ds_backend *be, double *host_out, const float *x, size_t stride, size_t n,
                  int R);

    /* --- optimizer ------------------------------------------------------- */
    /* AdamW (torch.optim.AdamW's arithmetic, decoupled weight decay on every
     * parameter) on P parameters of each replica, gradient g * gscale[r]. */
    void (*adamw)(ds_backend *be, float *p, const float *g, float *m, float *v, size_t P,
                  int R, const ds_adamw_args *a);
};

/* Creates the backend of the given kind (DS_BACKEND_CPU; DS_BACKEND_CUDA when
 * built with CUDA and a GPU is visible). Returns 0, or an error code with err
 * set. Free with be->destroy(be). */
int ds_backend_create(ds_backend_kind kind, ds_backend **out, ds_error *err);

/* The CPU backend: fp32, OpenBLAS sgemm (single-threaded, called on fixed
 * tiles) + OpenMP over replicas, rows and tiles. nthreads <= 0: OpenMP default. */
ds_backend *ds_backend_cpu_create(int nthreads);

#endif
