/* mceval: scoring a multiple-choice set (src/mcfile.h) with every replica of
 * a pack (docs/tasks.md "Multiple-choice evaluation sets").
 *
 * Owns the metric definitions. Each (item, choice) is one model row: the
 * context's tokens followed by the choice's continuation tokens, alone at
 * position 0 (rows never share attention, so no padding enters a scored
 * position). An item whose continuations are all one token (lm-eval's letter
 * scoring: " A" ... " D") has K rows with the same inputs, so the batched
 * scorer runs only choice 0's row and takes every choice's cross-entropy at
 * the context's last position from its logits (K times fewer positions, the
 * same numbers). The choice's log-likelihood is
 *   LL(i, k) = - sum over the continuation's tokens of the per-position
 *              cross-entropy the backend gives (ds_model_forward_loss's
 *              tok_loss), summed in double in token order.
 * Per item the chosen answer is
 *   letter style      the first k maximizing LL(i, k) (lm-eval's acc)
 *   completion style  the first k maximizing LL(i, k) / norm(i, k), norm the
 *                     choice text's length in characters (lm-eval's acc_norm)
 * (the style is the set's: the prompts were built for it). A NaN LL never
 * wins; an item whose LLs are all NaN chooses -1 (wrong). Per replica:
 *   mc_acc  fraction of items whose chosen answer is the label
 *   mc_nll  mean over items of -LL(i, label), in nats summed over the
 *           correct continuation's tokens (the paper's Figure 8)
 * and per item chosen (int8) and ll_correct = LL(i, label) (float).
 *
 * On the CPU backend one packing gives the same bits every time, whatever
 * OpenBLAS kernel runs.
 * With OpenBLAS's AVX-512 kernels (SkylakeX, Cooperlake) the batched scorer
 * and the reference scorer compute the same numbers, bit for bit, for any
 * packing of rows into batches, on the CPU backend where
 * each linear layer's sgemm takes OpenBLAS's regular path: its per-position
 * results then depend only on the row's own tokens (the attention and
 * element loops do by construction, docs/engine.md "Determinism"), every
 * sum runs in a fixed order, and the reduction is in item order
 * (tests/mc/test_mc.c checks it). The exception: OpenBLAS's small-matrix
 * sgemm kernel (0.3.21 SkylakeX: a tile whose rows x out-features is at most
 * 1,200, with at least 32 in-features) rounds differently from its regular
 * kernel, so a row that lands in such a tile (a forward of very few
 * positions at a width or vocabulary below 1,200: the reference's one-row
 * forwards, a batch's small remainder tile) can differ in the last bits.
 * With its AVX2 (Haswell, Zen) and SSE3 (Prescott) kernels a row's results
 * depend on where it lies in the GEMM (edge tiles sum in another order), so
 * packings agree within fp32 rounding only (1e-5 relative measured,
 * docs/tasks.md). Scores agree within fp32 rounding either way; the CUDA
 * backend does not claim bit identity across shapes. */
#ifndef DS_MCEVAL_H
#define DS_MCEVAL_H

#include <stdint.h>

#include "common.h"
#include "evaluate.h" /* ds_eval_stop_fn */
#include "mcfile.h"
#include "model.h"

/* What the scorers fill; caller-owned arrays, R = the pack's replicas. chosen
 * and ll_correct may be NULL (not wanted). */
typedef struct {
    float *mc_acc;      /* [R] */
    float *mc_nll;      /* [R] */
    int8_t *chosen;     /* [R][n_items]: 0..K-1, or -1 (every LL NaN) */
    float *ll_correct;  /* [R][n_items] */
} ds_mceval_out;

/* Scores every item of set with every replica of m, batched: the (item,
 * choice) rows (one an item for one-token choices, above) sorted by length
 * (longest first), as many per batch as the
 * model's activation capacity (cfg.B x cfg.T positions) holds at the
 * batch's longest row, and at most max_rows (0: no limit beyond the
 * capacity; tests use it to vary the packing). Returns 0; DS_EXIT_INTERRUPTED
 * when stop (may be NULL) returned nonzero between batches (out incomplete);
 * DS_EXIT_USAGE with err set when a row does not fit the capacity or a token
 * is not below the model's vocabulary (naming the set's file and the item);
 * DS_EXIT_ERROR with err->nomem = 1 when the buffers sized by the pack
 * (host or backend) cannot be allocated. */
int ds_mceval_score(ds_model *m, const ds_mc_set *set, int max_rows, ds_mceval_out *out,
                    ds_eval_stop_fn stop, void *stop_ctx, ds_error *err);

/* The plain reference: one row (all replicas) per forward, items and choices
 * in order, the same reduction. Same contract as ds_mceval_score. */
int ds_mceval_score_reference(ds_model *m, const ds_mc_set *set, ds_mceval_out *out, ds_error *err);

/* The reduction both scorers share, for one replica: ll[n_items * K] (double
 * log-likelihoods) to the item's chosen answer by set's scoring style and
 * the replica's mc_acc, mc_nll, and per item chosen / ll_correct (each may
 * be NULL). Public for tests (ties, NaN). */
void ds_mceval_reduce(const ds_mc_set *set, const double *ll, float *mc_acc, float *mc_nll,
                      int8_t *chosen, float *ll_correct);

#endif
