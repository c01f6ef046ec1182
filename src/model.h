/* model: the transformer of docs/spec-tasks.md §3 for a pack of R replicas.
 *
 * Owns the pack's tensors on a backend: parameters, gradients and AdamW
 * moments [R][P] in the flat layout below, activations [R][B*T][...], and the
 * uploaded batch. Forward and backward are written once against the op table
 * of backend.h; the training loop (engine.c), the optimizer (optim.c) and the
 * evaluation (evaluate.c) drive it. The host functions below (set/get params,
 * set a batch, forward, backward, read logits and gradients) are also the
 * interface the PyTorch comparison tests use.
 *
 * Flat parameter layout of one replica (P floats, matrices row-major
 * [out][in], y = x W^T + b as torch.nn.Linear):
 *   wte[V][d]
 *   per layer l: ln1_w[d] ln1_b[d] qkv_w[3d][d] qkv_b[3d] attn_out_w[d][d]
 *                attn_out_b[d] ln2_w[d] ln2_b[d] fc_w[4d][d] fc_b[4d]
 *                fc_out_w[d][4d] fc_out_b[d]
 *   lnf_w[d] lnf_b[d] head_w[V][d]
 * P = L(12d^2 + 13d) + 2Vd + 2d. qkv rows: q 0..d-1, k d..2d-1, v 2d..3d-1;
 * head h uses dims h*hd..(h+1)*hd-1 of each.
 *
 * Block llama (docs/spec-tasks.md §3; K = kv heads, kv = K*hd, F = mlp_hidden):
 *   wte[V][d]
 *   per layer l: ln1_w[d] qkv_w[d+2kv][d] (qkv_b[d+2kv] when qkv_bias)
 *                attn_out_w[d][d] ln2_w[d] gate_up_w[2F][d] down_w[d][F]
 *   lnf_w[d] (head_w[V][d] unless tie_embeddings: the head is wte)
 * P = ds_block_params (sweep.h). ln1_w, ln2_w, lnf_w are RMSNorm weights; no
 * other biases. qkv rows: q 0..d-1 (H heads), k d..d+kv-1, v d+kv..d+2kv-1
 * (K heads each; q head h reads kv head h/(H/K)); gate_up rows: gate
 * 0..F-1, up F..2F-1, the MLP is down(silu(gate x) * up x). In
 * ds_layer_offsets gate_up_w and down_w are fc_w and fc_out_w, and the
 * tensors a block does not have are DS_NO_TENSOR.
 *
 * Row convention (as tasks.h): a batch row is T+1 tokens with a 0/1 target
 * mask; inputs are tokens[0..T-1], targets tokens[1..T], target t scored when
 * mask[t+1] = 1. The loss of replica r is sum(CE * mask) / sum(mask) over its
 * B rows (0 when nothing is scored). */
#ifndef DS_MODEL_H
#define DS_MODEL_H

#include <stdint.h>

#include "backend.h"
#include "sweep.h"

typedef struct {
    int R;            /* replicas in the pack */
    int B, T;         /* capacity: rows per replica and input positions per row */
    int d, L, H, hd;  /* width, depth, heads, head size (d = H*hd) */
    int V;            /* embedding/head rows (task vocab_total) */
    int rot;          /* rotated dims per head: rotary_frac*hd rounded down to even */
    ds_block_kind block;
    /* block llama only (others: unused, may be 0) */
    int K;            /* key/value heads, dividing H */
    int F;            /* SwiGLU hidden size (mlp_hidden) */
    int qkv_bias;     /* q, k, v have biases */
    int tie;          /* the head is wte */
    float rope_base, ln_eps, init_std;
    ds_precision prec; /* train.precision: only what ds_model_bytes counts of the GPU's rounding copies */
} ds_model_config;

/* The offset of a tensor a block does not have. */
#define DS_NO_TENSOR ((size_t)-1)

/* Offsets (in floats, inside one replica's flat vector) of the tensors of one layer. */
typedef struct {
    size_t ln1_w, ln1_b, qkv_w, qkv_b, attn_out_w, attn_out_b, ln2_w, ln2_b, fc_w, fc_b,
        fc_out_w, fc_out_b;
} ds_layer_offsets;

typedef struct {
    float *res;          /* [L+1][R][N][d] residual stream entering each layer, and the last */
    float *res_mid;      /* [L][R][N][d] sequential blocks: stream between attention and MLP */
    float *ln1, *ln1_mean, *ln1_rstd;   /* [L][R][N][d], [L][R][N] */
    float *qkv;          /* [L][R][N][3d], q and k rotated in place (llama: kv heads repeated) */
    float *atty, *lse;   /* [L][R][N][d], [L][R][B][H][T] */
    float *ln2, *ln2_mean, *ln2_rstd;
    float *fch, *fch_gelu; /* [L][R][N][4d] (llama: gate|up [2F] and SwiGLU output [F]) */
    float *lnf, *lnf_mean, *lnf_rstd;
    float *logits;       /* [R][N][V] */
    float *tok_loss;     /* [R][N] per-position CE */
    /* scratch of the backward pass (one layer at a time) */
    float *branch;       /* [R][N][d] attention projection / MLP output in forward */
    float *dres, *dln, *datty, *dqkv, *dfch, *dfch_gelu, *dlogits;
    float *qkvc, *dqkvc; /* llama with K < H: [R][N][d+2kv], q|k|v before kv_repeat */
} ds_activations;

typedef struct {
    ds_model_config cfg;
    ds_backend *be;      /* not owned */
    size_t P;            /* parameters per replica */
    size_t wte, lnf_w, lnf_b, head_w; /* offsets */
    ds_layer_offsets *layer; /* [L] */
    float *params, *grads, *adam_m, *adam_v; /* backend [R][P] */
    ds_activations act;
    int32_t *inp, *tgt;  /* backend [R][N] */
    float *weight;       /* backend [R][N]: mask / sum(mask) of the replica */
    float *mask;         /* backend [R][N]: 0/1 */
    double *loss_sum;    /* backend [R]: weighted loss sums of the last forward with a loss */
    int cur_B, cur_T;    /* shape of the batch last set */
    int32_t *h_inp, *h_tgt; /* host staging of the batch, [R][N] */
    float *h_weight, *h_mask;
} ds_model;

/* One tensor of the flat layout above, by its canonical name: "wte",
 * "layers.<l>.<ln1_w|ln1_b|qkv_w|qkv_b|attn_out_w|attn_out_b|ln2_w|ln2_b|fc_w|fc_b|
 * fc_out_w|fc_out_b>", "lnf_w", "lnf_b", "head_w" (the names of the stored
 * models, docs/result-file.md, and of tools/distsweep_h5.py); block llama:
 * "layers.<l>.<ln1_w|qkv_w|qkv_b|attn_out_w|ln2_w|gate_up_w|down_w>",
 * "lnf_w", "head_w" (qkv_b, head_w only when the model has them). */
typedef struct {
    char name[32];
    size_t offset; /* floats into the replica's flat vector */
    int ndim;
    int64_t shape[2];
} ds_param_tensor;

/* The tensors of the layout in layout order (offsets increasing, back to
 * back, covering all P floats): 12L + 4 of them (llama: 6L + 2, plus L with
 * qkv_bias, plus 1 untied). Fills out when not NULL;
 * returns the count. The one definition of the layout: ds_model_create
 * takes its offsets from it. */
int ds_model_tensors(const ds_model_config *cfg, ds_param_tensor *out);

/* Parameters per replica of a GPT-NeoX block model of width d, depth L,
 * vocabulary V: P above, which is ds_scale_params (sweep.h), the formula's one
 * definition. */
size_t ds_model_param_count(int d, int L, int V);

/* Parameters per replica of cfg's model, any block: ds_block_params (sweep.h). */
size_t ds_model_params(const ds_model_config *cfg);

/* The model of scale scale_idx of sweep s for R replicas, with capacity for
 * one training batch (train.batch rows of train.context-1 positions). */
ds_model_config ds_model_config_from_sweep(const ds_sweep *s, int scale_idx, int R);

/* Bytes of backend memory a pack of this configuration allocates (parameters,
 * gradients, Adam moments, activations), within a few percent, plus the
 * memory of the CUDA backend's ops (src/devmem.h: scratch, GEMM workspace,
 * operand rounding at cfg->prec, either attention), which its reserve()
 * allocates at ds_model_create; an upper bound on the CPU backend, which has
 * no such memory. What `plan` prints and a scheduler can use to choose R. */
double ds_model_bytes(const ds_model_config *cfg);

/* The largest pack (R, at most max_r) of cfg's other shapes whose
 * ds_model_bytes fits in `bytes` (a device's memory); 0 when not even one
 * replica fits. What pack sizing can use before anything is allocated
 * (ds_model_bytes grows with R). */
int ds_model_max_pack(const ds_model_config *cfg, double bytes, int max_r);

/* The part of ds_model_bytes that is the backend's own (ds_devmem_bytes of
 * the pack's shapes at cfg->prec, either attention). */
double ds_model_devmem_bytes(const ds_model_config *cfg);

/* The pack's shapes at capacity, as src/devmem.h takes them. */
ds_devmem_shape ds_model_devmem_shape(const ds_model_config *cfg);

/* Allocates a pack on backend be (which must outlive it). Parameters start at
 * zero: call ds_model_init_replica or ds_model_set_params. Returns 0, or
 * DS_EXIT_ERROR with err set: an inconsistent config, or a buffer of the pack
 * (backend or host staging) that could not be allocated, with err->nomem = 1
 * and the message naming the buffer and its size; *out is then NULL and
 * nothing stays allocated. */
int ds_model_create(const ds_model_config *cfg, ds_backend *be, ds_model **out, ds_error *err);
void ds_model_free(ds_model *m);

/* Spec init of replica r from job seed `seed`: every weight matrix
 * N(0, init_std^2) drawn with rng stream DS_STREAM_INIT at index = offset in
 * the flat vector; biases 0, LayerNorm (RMSNorm) weights 1. Resets r's Adam
 * moments. */
void ds_model_init_replica(ds_model *m, int r, uint64_t seed);

/* The same init, then every tensor i of ds_model_tensors with keep[i] = 1
 * copied from base (P host floats, the flat layout): a model started from
 * another (model.init, src/hfmodel.h) whose other tensors are exactly the
 * spec's init for seed, tensor by tensor (the init draws by flat offset).
 * base and keep both NULL: ds_model_init_replica. Resets r's Adam moments. */
void ds_model_init_replica_from(ds_model *m, int r, uint64_t seed, const float *base,
                                const uint8_t *keep);

/* Copies replica r's P parameters from / to host memory. */
void ds_model_set_params(ds_model *m, int r, const float *host);
void ds_model_get_params(const ds_model *m, int r, float *host);
/* Replica r's P-float gradient of the last ds_model_backward. */
void ds_model_get_grads(const ds_model *m, int r, float *host);

/* Uploads a batch: tokens and mask are host [R][B][T+1] (rows as tasks.h
 * produces them), B*T <= cfg.B*cfg.T (evaluation uses more, shorter rows). */
void ds_model_set_batch(ds_model *m, const int32_t *tokens, const uint8_t *mask, int B, int T);

/* The same, for a share of a larger batch (a data-parallel group member's
 * rows, src/step.c): the loss normalisation uses scored[r], the scored
 * targets of replica r in the whole batch, instead of this share's count.
 * scored NULL is ds_model_set_batch. */
void ds_model_set_batch_norm(ds_model *m, const int32_t *tokens, const uint8_t *mask, int B, int T,
                             const double *scored);

/* Forward pass over the batch last set. If losses is not NULL, fills the R
 * training losses (NaN/Inf propagate, they mark divergence). Logits stay on
 * the backend for ds_model_get_logits / backward / evaluation. */
void ds_model_forward(ds_model *m, float *losses);

/* The same forward; sums[r] (host, not NULL) gets replica r's loss in
 * double before its rounding to float: the part of a group member, whose
 * parts the group adds (src/step.c). */
void ds_model_forward_sums(ds_model *m, double *sums);

/* The same forward, its R loss sums left in m->loss_sum (backend memory):
 * nothing is read back, so a GPU need not wait (src/step.c). */
void ds_model_forward_loss(ds_model *m);

/* Zeroes the gradients and back-propagates the loss of the last forward. */
void ds_model_backward(ds_model *m);

/* Replica r's logits of the last forward, host [B][T][V]. */
void ds_model_get_logits(const ds_model *m, int r, float *host);

#endif
