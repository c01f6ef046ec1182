/* devmem: the device memory of a pack beyond its tensors, as pure host
 * arithmetic: the one formula for every size the CUDA backend allocates for
 * its ops (the kernels' headers in kernels/ call these functions for what they ask, and the
 * backend's reserve() sizes its buffers with them up front), and the one that
 * ds_model_bytes (src/model.h) counts, so that `distsweep plan` and the pack
 * sizing know a pack's memory before anything is allocated (docs/cuda.md
 * "Memory model").
 *
 * Plain C, no CUDA: compiled into the CPU build too and tested there
 * (tests/backend/test_devmem.c).
 *
 * What lives on the device besides the model's tensors (src/model.c):
 *   - one scratch buffer, shared by the ops in turn (never two at once), of
 *     ds_devmem_scratch_bytes: the largest of attention's score blocks (at
 *     most DS_DEVMEM_ATT_BUDGET whatever T is), the row-split weight
 *     gradients' partial products, the column sums' partials, the encoder's
 *     segment partials, the reductions' partials;
 *   - the cuBLASLt workspace, DS_DEVMEM_LT_WS bytes, fixed: a GEMM's
 *     algorithm is chosen among those that fit it and a batch whose split-K
 *     partials would not fit runs in sub-batches (ds_devmem_gemm_subbatch);
 *   - at tf32/bf16, three operand-rounding buffers (ds_devmem_round_bytes).
 * The GEMM plan cache is host memory (a growable array), not counted here. */
#ifndef DS_DEVMEM_H
#define DS_DEVMEM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Attention's score blocks: at most this many bytes of scratch, whatever T
 * and the pack are (as long as one block of one row fits: T <= 16M). */
#define DS_DEVMEM_ATT_BUDGET ((size_t)256 << 20)
/* Query rows per attention block (fewer only where a block of T keys would
 * not fit the budget). */
#define DS_DEVMEM_ATT_TQ 64
/* The cuBLASLt workspace: the whole of it, one buffer per backend. */
#define DS_DEVMEM_LT_WS ((size_t)32 << 20)
/* The row-split weight gradient (kernels/matmul.cuh): at most this many
 * chunks, and nk * E floats at most DS_DEVMEM_DW_MAXF. */
#define DS_DEVMEM_DW_MAXNK 64
#define DS_DEVMEM_DW_MAXF ((size_t)4 << 20)
/* Rows per column-sum partial (kernels/reduce.cuh COL_ROWS) and elements per
 * reduction chunk (RED_CHUNK). */
#define DS_DEVMEM_COL_ROWS 64
/* The smallest scratch buffer (kernels/cuda_common.cuh scratch()). */
#define DS_DEVMEM_SCRATCH_MIN ((size_t)1 << 20)
#define DS_DEVMEM_RED_CHUNK 65536

/* The shapes of a pack at its capacity (ds_model_config: B rows of T
 * positions per replica; evaluation runs any B' x T' with B'T' <= BT). */
typedef struct {
    int R, B, T, d, L, H, hd, V;
    /* block llama's MLP hidden width (mlp_hidden): gate_up is 2F x d, down
     * d x F, and F may exceed 4d; 0 for the GPT-NeoX blocks (fc 4d x d,
     * fc_out d x 4d). The MLP's products are counted at widths max(4d, 2F)
     * and max(4d, F), the widths of the model's fch and fch_gelu. */
    int F;
    size_t P; /* parameters per replica */
} ds_devmem_shape;

/* What the backend does: operand bytes of the attention GEMMs (4, or 2 at
 * bf16), whether products' operands are rounded into copies (tf32, bf16),
 * and which attention runs (1: tensor-core GEMMs, 0: CUDA-core kernels, -1:
 * either, counted as the larger). */
typedef struct {
    int esz;
    int rounding;
    int att_gemm;
} ds_devmem_opts;

/* Query rows per attention block at T keys: DS_DEVMEM_ATT_TQ (T if smaller),
 * halved while one block of one matrix (backward: fp32 S and dP, P and dS of
 * esz bytes) would not fit the budget. Depends on T and esz only, never on
 * the pack: the block's GEMM shapes and so every replica's bits are the same
 * alone and in a pack. */
int ds_devmem_att_tq(int T, int esz);

/* (replica, batch row) matrices per chunk of attention at T keys, of RB:
 * as many as the budget holds of the backward's four score blocks (at least
 * 1, at most RB). The forward uses the same chunks, so that its scores and
 * the backward's recomputation are the same GEMM calls. A batch count only. */
long ds_devmem_att_chunk(long RB, int T, int esz);

/* One region of n blocks of tq x T elements of esz bytes, rounded up to 256
 * bytes (the scratch is carved into such regions, each aligned for GEMMs). */
size_t ds_devmem_att_region(long n, int tq, int T, int esz);

/* The scratch attention's GEMM path asks for at RB matrices of T positions:
 * forward 1 fp32 region + 1 operand region, backward 2 + 2, of
 * ds_devmem_att_chunk matrices each. At most DS_DEVMEM_ATT_BUDGET. */
size_t ds_devmem_att_scratch(long RB, int T, int esz, int bwd);

/* Row chunks of a weight gradient over N rows of an E-element weight
 * (kernels/matmul.cuh): nk equal chunks of N/nk >= 256 rows, nk divides N,
 * nk <= 64, nk*E <= 4M floats; 1 (no split) below N = 2048. */
int ds_devmem_dw_split(int N, size_t E);

/* Segments of the encoder backward over N rows of width C
 * (kernels/encoder.cuh): 4096/C clamped to [1, 64] and to N, then made
 * N / ceil(N / S). */
int ds_devmem_enc_segments(int N, int C);

/* Matrices per cuBLASLt call for a batch of `batch` whose algorithm needs
 * ws2 bytes of workspace for a batch of two (the plan's figure): all of
 * them when their split-K partials fit DS_DEVMEM_LT_WS, else the most that
 * fit (at least 1: the plan was chosen with ws2 <= DS_DEVMEM_LT_WS). */
int ds_devmem_gemm_subbatch(size_t ws2, int batch);

/* Workspace bytes of one call of n matrices (the plan's ws2 per two). */
size_t ds_devmem_gemm_ws(size_t ws2, int n);

/* Bytes of the three operand-rounding buffers at these shapes (0 without
 * rounding): slot 0 weights (the largest of 4d x d, llama's 2F x d and the
 * head's V x d) and attention's qkv, slot 1 inputs (widest: fc_out's 4d or
 * llama down's F) and attention's dO, slot 2 output gradients (widest: fc's
 * 4d, llama gate_up's 2F or the logits' V), 4 bytes per element (bf16 GEMM
 * operands take 2, the CUDA-core attention's fp32 copies 4). */
void ds_devmem_round_bytes(const ds_devmem_shape *s, const ds_devmem_opts *o, size_t out[3]);

/* The scratch buffer: the largest request of any op at any shape within
 * the capacity (training shapes for the backward, any B'T' <= BT forward). */
size_t ds_devmem_scratch_bytes(const ds_devmem_shape *s, const ds_devmem_opts *o);

/* Everything above: scratch + GEMM workspace + rounding buffers. */
size_t ds_devmem_bytes(const ds_devmem_shape *s, const ds_devmem_opts *o);

#ifdef __cplusplus
}
#endif
#endif
