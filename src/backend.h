/* backend: the table of tensor operations the model is written against, and
 * the choice of its implementation.
 *
 * Owns (src/backend.c): the one meaning of `auto` (the kinds and their names:
 * backend_kind.h), the creation options and the factory that every
 * caller (engine, train, bench, run, tests) uses; the op list (DS_BACKEND_OPS)
 * from which the table's members, the op ids of the per-op timers and the
 * backends' table fills are all generated; the per-op timers themselves
 * (DISTSWEEP_CPU_OPTIMES / DISTSWEEP_CUDA_OPTIMES).
 *
 * The implementations (backend_cpu.c; kernels/backend_cuda.cu behind
 * kernels/ds_cuda.h) provide memory and the forward/backward pair of
 * every operation the transformer needs. The model, the optimizer and the
 * evaluation never touch tensor memory directly: they allocate buffers here,
 * move host data in and out with upload/download, and pass pointers into those
 * buffers to the ops. On the CPU the pointers are host memory; on a GPU they
 * are device addresses (pointer arithmetic on them is fine, dereferencing is
 * not).
 *
 * The replica dimension (docs/design.md §3): every op works on a whole pack of R
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

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "backend_kind.h" /* ds_backend_kind, its names and parser (apart, for the sweep) */
#include "common.h"
#include "devmem.h"    /* ds_devmem_shape (reserve) */
#include "precision.h" /* ds_precision (ds_backend_opts), DS_PREC_HD */

/* The one meaning of auto: DS_BACKEND_CUDA when this build has CUDA and a GPU
 * is visible, else DS_BACKEND_CPU. The choice and its reason are said once per
 * process on stderr ("distsweep: backend auto: cpu (no GPU visible)").
 * Other kinds are returned as they are. Asking whether a GPU is visible
 * initialises CUDA: cmd_run narrows CUDA_VISIBLE_DEVICES before calling it. */
ds_backend_kind ds_backend_resolve(ds_backend_kind kind);

/* Arguments of one AdamW update. The per-replica ones are backend memory
 * ([R] each), written by step_guard on the backend, so that an update needs
 * no transfer (docs/cuda.md "The step stays on the device"). */
typedef struct {
    float lr;              /* learning rate of this update, every replica */
    const float *gscale;   /* backend [R]: gradient scale from global-norm clipping, 1 if none */
    const uint8_t *active; /* backend [R]: 0: the replica is not updated at all (diverged) */
    float beta1, beta2, eps, weight_decay;
    float bc1, bc2;      /* bias corrections 1-beta1^t, 1-beta2^t, t = updates so far incl. this */
} ds_adamw_args;

typedef struct ds_backend ds_backend;

/* The op list, written once: X(name, parameter list) for every operation of
 * the table, in this order. It generates the table's members below, the op
 * ids and names of the per-op timers (DS_OP_<name>, ds_op_names) and both
 * backends' table fills (DS_BACKEND_SET_OPS). Each entry's comment is the
 * op's contract. */
#define DS_BACKEND_OPS(X)                                                                       \
    /* --- token embedding ------------------------------------------------- */                \
    /* out[r][n][:] = wte[r][tok[r][n]][:] */                                                   \
    X(encoder_fwd, (ds_backend *be, float *out, const int32_t *tok, const float *wte,          \
                    size_t ws, int R, int N, int C))                                            \
    /* dwte[r][tok[r][n]][:] += dout[r][n][:], rows in increasing n (fixed order); every     \
     * token is below V, the vocabulary (rows of wte) */                                        \
    X(encoder_bwd, (ds_backend *be, float *dwte, size_t ws, const float *dout,                 \
                    const int32_t *tok, int R, int N, int C, int V))                            \
    /* --- LayerNorm (eps given), per row of C ------------------------------- */              \
    /* out = (inp-mean)*rstd*w + b; saves mean, rstd [R][N] for the backward. */                \
    X(layernorm_fwd, (ds_backend *be, float *out, float *mean, float *rstd, const float *inp,  \
                      const float *w, const float *b, size_t ws, int R, int N, int C,          \
                      float eps))                                                               \
    /* dinp += , dw += , db += */                                                               \
    X(layernorm_bwd, (ds_backend *be, float *dinp, float *dw, float *db, size_t ws,            \
                      const float *dout, const float *inp, const float *w, const float *mean,  \
                      const float *rstd, int R, int N, int C))                                  \
    /* --- linear layer y = x W^T + b, W [OC][C] row-major (torch.nn.Linear) --- */            \
    /* out = ; b may be NULL */                                                                 \
    X(matmul_fwd, (ds_backend *be, float *out, const float *inp, const float *w,               \
                   const float *b, size_t ws, int R, int N, int C, int OC))                     \
    /* dinp = dout W ; dw += dout^T inp ; db += colsum(dout) (db may be NULL) */                \
    X(matmul_bwd, (ds_backend *be, float *dinp, float *dw, float *db, size_t ws,               \
                   const float *dout, const float *inp, const float *w, int R, int N, int C,   \
                   int OC))                                                                     \
    /* --- rotary embedding, in place on the q and k parts of qkv [R][B*T][3C] --- */           \
    /* GPT-NeoX rotate-half on the first `rot` dims of each head of size hd,                    \
     * angle = t * base^(-2j/rot), t = position in the row. */                                  \
    X(rope_fwd, (ds_backend *be, float *qkv, int R, int B, int T, int H, int hd, int rot,      \
                 float base))                                                                   \
    /* the inverse rotation, applied to dq, dk in place */                                      \
    X(rope_bwd, (ds_backend *be, float *dqkv, int R, int B, int T, int H, int hd, int rot,     \
                 float base))                                                                   \
    /* --- causal self-attention, scale 1/sqrt(hd) ---------------------------- */             \
    /* out [R][B*T][H*hd] = ; lse [R][B][H][T] = log-sum-exp of each score row,                 \
     * kept so the backward can recompute the probabilities (no T x T storage). */              \
    X(attention_fwd, (ds_backend *be, float *out, float *lse, const float *qkv, int R, int B,  \
                      int T, int H, int hd))                                                    \
    /* dqkv = (all three parts written) */                                                      \
    X(attention_bwd, (ds_backend *be, float *dqkv, const float *dout, const float *qkv,        \
                      const float *out, const float *lse, int R, int B, int T, int H, int hd)) \
    /* --- exact (erf) GELU, residual add ---------------------------------- */                \
    /* out = gelu(inp) */                                                                       \
    X(gelu_fwd, (ds_backend *be, float *out, const float *inp, size_t n))                      \
    /* dinp = gelu'(inp) * dout */                                                              \
    X(gelu_bwd, (ds_backend *be, float *dinp, const float *inp, const float *dout, size_t n))  \
    /* out = a + b */                                                                           \
    X(add, (ds_backend *be, float *out, const float *a, const float *b, size_t n))             \
    /* --- the llama block's ops (docs/engine.md "The llama block") ---------- */             \
    /* RMSNorm (weight only, eps given), per row of C: out = inp*rstd*w,                        \
     * rstd = 1/sqrt(mean(inp^2)+eps); saves rstd [R][N] for the backward */                    \
    X(rmsnorm_fwd, (ds_backend *be, float *out, float *rstd, const float *inp, const float *w, \
                    size_t ws, int R, int N, int C, float eps))                                 \
    /* dinp += , dw += */                                                                       \
    X(rmsnorm_bwd, (ds_backend *be, float *dinp, float *dw, size_t ws, const float *dout,      \
                    const float *inp, const float *w, const float *rstd, int R, int N, int C)) \
    /* SwiGLU over rows of 2F (gate then up): out[i][f] = silu(inp[i][f]) * inp[i][F+f],        \
     * silu(g) = g/(1+exp(-g)); rows = R*N */                                                   \
    X(swiglu_fwd, (ds_backend *be, float *out, const float *inp, size_t rows, int F))          \
    /* dinp = (both halves written) */                                                          \
    X(swiglu_bwd, (ds_backend *be, float *dinp, const float *inp, const float *dout,           \
                   size_t rows, int F))                                                         \
    /* grouped-query attention's key/value sharing: a row of inp [rows][(H+2K)hd] (q: H         \
     * heads, k, v: K heads each, K dividing H) becomes a row of out [rows][3H*hd] laid          \
     * out as the attention ops take it, q copied and kv head j repeated for q heads            \
     * j*H/K .. (j+1)*H/K-1 (torch.repeat_interleave) */                                        \
    X(kv_repeat_fwd, (ds_backend *be, float *out, const float *inp, size_t rows, int H, int K, \
                      int hd))                                                                  \
    /* dinp = : dq copied, dk and dv of kv head j the sum of its H/K heads' (in head            \
     * order) */                                                                                \
    X(kv_repeat_bwd, (ds_backend *be, float *dinp, const float *dout, size_t rows, int H,      \
                      int K, int hd))                                                           \
    /* --- softmax cross-entropy over V classes ------------------------------ */              \
    /* loss[r][n] = -log softmax(logits[r][n])[tgt[r][n]] */                                    \
    X(crossentropy_fwd, (ds_backend *be, float *loss, const float *logits, const int32_t *tgt, \
                         int R, int N, int V))                                                  \
    /* dlogits = (softmax - onehot) * weight[r][n]; dlogits may alias logits */                 \
    X(crossentropy_bwd, (ds_backend *be, float *dlogits, const float *logits,                  \
                         const int32_t *tgt, const float *weight, int R, int N, int V))         \
    /* per scored token: ce, probability of the target, and 1 if the target is                  \
     * the first argmax (the greedy prediction), else 0; all [R][N] */                          \
    X(token_stats, (ds_backend *be, float *ce, float *pcorrect, float *correct,                \
                    const float *logits, const int32_t *tgt, int R, int N, int V))              \
    /* --- reductions (fixed order, double accumulation) ---------------------- */             \
    /* out[r] = sum_n x[r][n] * w[r][n] over the n with w != 0   (backend out[R]) */            \
    X(weighted_sum, (ds_backend *be, double *out, const float *x, const float *w, int R,       \
                     size_t N))                                                                 \
    /* out[r] = sum_i x[r*stride + i]^2, i < n   (backend out[R]); a non-finite                 \
     * element makes it non-finite */                                                           \
    X(sumsq, (ds_backend *be, double *out, const float *x, size_t stride, size_t n, int R))    \
    /* --- per-replica control of an update (backend [R] each; src/optim.h) ---- */            \
    /* norm = (float)sqrt(sq[r]); active[r] = 0 when norm, or the loss (float)lsum[r],          \
     * is not finite; gscale[r] = clip/(norm+1e-6f) when clip > 0 and that is < 1,              \
     * else 1 (torch.nn.utils.clip_grad_norm_); loss[r] = (float)lsum[r] while                  \
     * active, NaN once not; gnorm[r] = norm. lsum NULL: the norm alone decides                 \
     * (loss then untouched); loss, gnorm may be NULL. */                                       \
    X(step_guard, (ds_backend *be, float *loss, float *gnorm, float *gscale, uint8_t *active,  \
                   const double *lsum, const double *sq, int R, float clip))                    \
    /* --- optimizer ------------------------------------------------------- */                \
    /* AdamW (torch.optim.AdamW's arithmetic, decoupled weight decay on every                   \
     * parameter) on P parameters of each replica, gradient g * gscale[r]. */                   \
    X(adamw, (ds_backend *be, float *p, const float *g, float *m, float *v, size_t P, int R,   \
              const ds_adamw_args *a))

/* step_guard's arithmetic for replica r (the contract is its DS_BACKEND_OPS
 * entry), in float as torch.nn.utils.clip_grad_norm_: the one definition both
 * backends run (src/backend_cpu.c, kernels/reduce.cuh; sqrt and the division
 * are IEEE-rounded on both), so that the clip factor and the freeze have the
 * same bits on both for the same sums. */
static inline DS_PREC_HD void ds_step_guard_replica(float *loss, float *gnorm, float *gscale,
                                                    uint8_t *active, const double *lsum,
                                                    const double *sq, int r, float clip) {
    float norm = (float)sqrt(sq[r]), l = lsum ? (float)lsum[r] : 0.0f;
    uint8_t on = active[r] && isfinite(norm) && isfinite(l);
    active[r] = on;
    float gs = 1.0f;
    if (clip > 0) {
        float coef = clip / (norm + 1e-6f);
        if (coef < 1.0f) gs = coef;
    }
    gscale[r] = gs;
    if (gnorm) gnorm[r] = norm;
    if (loss && lsum) loss[r] = on ? l : NAN;
}

struct ds_backend {
    const char *name;
    int threads; /* host threads the ops use (CPU backend) */
    void *impl;  /* backend-private state */

    /* --- memory ------------------------------------------------------------ */
    /* Every op and transfer runs in the order it is called. The synchronous
     * transfers (upload, download) return when done; the _async ones return at
     * once, and `sync` waits for everything called before it. */
    /* A zero-filled buffer of `bytes` bytes, or NULL if out of memory. */
    void *(*alloc)(ds_backend *be, size_t bytes);
    void (*free)(ds_backend *be, void *p);
    void (*upload)(ds_backend *be, void *dst, const void *host_src, size_t bytes);
    void (*download)(ds_backend *be, void *host_dst, const void *src, size_t bytes);
    /* host_src may be changed or freed as soon as this returns (the backend
     * copies it first when the transfer is deferred) */
    void (*upload_async)(ds_backend *be, void *dst, const void *host_src, size_t bytes);
    /* host_dst must come from host_alloc; it holds the data after the next sync */
    void (*download_async)(ds_backend *be, void *host_dst, const void *src, size_t bytes);
    void (*sync)(ds_backend *be);
    /* Zero-filled host memory that download_async can write (pinned on a GPU),
     * or NULL if out of memory; free with host_free. */
    void *(*host_alloc)(ds_backend *be, size_t bytes);
    void (*host_free)(ds_backend *be, void *p);
    void (*zero)(ds_backend *be, void *p, size_t bytes);
    void (*copy)(ds_backend *be, void *dst, const void *src, size_t bytes); /* within the backend */
    void (*destroy)(ds_backend *be);
    /* Optional (NULL: the backend's ops need no memory of their own, as the
     * CPU's): makes room, up front, for what the ops ask at every shape of a
     * pack within capacity s (src/devmem.h: scratch, GEMM workspace, operand
     * rounding). Grows only (a backend may hold several packs). Returns 0, or
     * the bytes it could not allocate (out of memory, nothing else: the
     * caller reports the pack's failure, err.nomem) with *what naming them. */
    size_t (*reserve)(ds_backend *be, const ds_devmem_shape *s, const char **what);

    /* --- graphs (NULL members: the backend has none; src/step.c then calls
     * the ops every step). Between capture_begin and capture_end the ops are
     * recorded, not run; graph_launch runs the recorded ops again, with the
     * arguments they had, in one submission. What is captured may not
     * allocate, free or call a synchronous transfer. */
    void (*capture_begin)(ds_backend *be);
    void *(*capture_end)(ds_backend *be); /* the graph, ready to launch */
    void (*graph_launch)(ds_backend *be, void *graph);
    void (*graph_free)(ds_backend *be, void *graph);

    /* --- the operations: one member per DS_BACKEND_OPS entry (contracts there) */
#define DS_OP_MEMBER_(name, params) void(*name) params;
    DS_BACKEND_OPS(DS_OP_MEMBER_)
#undef DS_OP_MEMBER_
};

/* A backend's table fill: sets every op member of *be to the function of the
 * same name, which the including file defines (static) for every op. */
#define DS_OP_SET_(name, params) (be_)->name = name;
#define DS_BACKEND_SET_OPS(be)                                                                  \
    do {                                                                                        \
        ds_backend *be_ = (be);                                                                 \
        DS_BACKEND_OPS(DS_OP_SET_)                                                              \
    } while (0)

/* ---- per-op timers ------------------------------------------------------- */

/* Op ids: DS_OP_<name> for every op in list order, then the two transfers
 * (timed by the CUDA backend only: they synchronize its stream). */
enum {
#define DS_OP_ID_(name, params) DS_OP_##name,
    DS_BACKEND_OPS(DS_OP_ID_)
#undef DS_OP_ID_
    DS_OP_upload,
    DS_OP_download,
    DS_N_TIMED_OPS
};
extern const char *const ds_op_names[DS_N_TIMED_OPS]; /* "encoder_fwd", ..., "download" */

/* Wall time and calls per op, kept by a backend when its environment variable
 * (DISTSWEEP_CPU_OPTIMES, DISTSWEEP_CUDA_OPTIMES) is set and not "0": a
 * profiling aid, printed by the backend's destroy. */
typedef struct {
    int on;
    double s[DS_N_TIMED_OPS];
    long n[DS_N_TIMED_OPS];
} ds_op_times;

/* Zeroes *t and switches it on when getenv(env) is set, non-empty and not "0". */
void ds_op_times_init(ds_op_times *t, const char *env);
/* Adds one call of op `id` that began at ds_now() == t0 (nothing unless on). */
void ds_op_times_add(ds_op_times *t, int id, double t0);
/* When on: `header` (one line, printed as given) and a line per op called
 * (calls, seconds, share of the total), on stderr. */
void ds_op_times_print(const ds_op_times *t, const char *header);

/* ---- creation ------------------------------------------------------------ */

/* How to create a backend. {0} is auto, device 0, default threads. */
typedef struct {
    ds_backend_kind kind; /* auto is resolved by ds_backend_resolve */
    int device;           /* CUDA device index among the visible ones */
    int threads;          /* CPU host threads; <= 0: OMP_NUM_THREADS, else the cores
                           * (split between the unbound MPI ranks of a node) */
    ds_precision precision; /* of every matrix product (train.precision; docs/engine.md
                             * "Precision"); {0} is fp32 */
} ds_backend_opts;

/* Whether a backend of this kind (auto resolved) implements precision p;
 * returns 0, or DS_EXIT_USAGE with err saying what is missing. Callers check
 * before any training starts, so that a run is never charged for it. */
int ds_backend_supports(ds_backend_kind kind, ds_precision p, ds_error *err);

/* Whether a backend of this kind (auto resolved) runs model.block `block` (a
 * ds_block_kind, src/sweep.h); returns 0, or DS_EXIT_USAGE with err saying
 * why not. The llama block's CUDA ops (kernels/rmsnorm.cuh, swiglu.cuh,
 * kv_repeat.cuh) were written without a GPU: cuda refuses the block until
 * tests/gpu has run them, unless DISTSWEEP_CUDA_UNVERIFIED_BLOCK=1 (what
 * those tests and tools/gpu_check.sh set). Callers check it beside
 * ds_backend_supports, before anything is written; ds_model_create checks it
 * again for the backend it is given. */
int ds_backend_supports_block(ds_backend_kind kind, int block, ds_error *err);

/* The memory a pack of this process may use on backend kind, in bytes: the
 * current GPU's free memory for cuda (initialises CUDA: call it after the
 * GPU is selected), 0 = "no known limit" for cpu (a limited address space is
 * met by the out-of-memory contract instead, docs/engine.md). What automatic
 * pack sizing fits packs into (src/packplan.h ds_pack_fit). */
double ds_backend_device_bytes(ds_backend_kind kind);

/* Creates the backend opts asks for (NULL: auto, device 0, default threads):
 * auto as ds_backend_resolve says, cpu always, cuda when built with CUDA and
 * the device is visible. Returns 0 with *out set, or an error code with err
 * set and *out NULL. Free with be->destroy(be). */
int ds_backend_create(const ds_backend_opts *opts, ds_backend **out, ds_error *err);

/* The CPU backend (backend_cpu.c): OpenBLAS sgemm (single-threaded, called on
 * fixed tiles) + OpenMP over replicas, rows and tiles; every product's inputs
 * rounded to `precision` first (the reference implementation of tf32 and
 * bf16). nthreads <= 0: the default above. Callers use ds_backend_create;
 * this is its cpu case. */
ds_backend *ds_backend_cpu_create(int nthreads, ds_precision precision);

#endif
