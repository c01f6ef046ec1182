/* evaluate: the per-job metrics of docs/spec-tasks.md §6 from one teacher-forced pass.
 *
 * Owns the metric definitions. For each test length L the task's evaluation
 * examples (all of length eval_tokens(L), each alone at position 0) are run
 * through the model in batches; per scored position the backend reports the
 * token's cross-entropy, the probability of the correct token and whether the
 * correct token is the (first) argmax, and the host reduces per example:
 *   em        fraction of examples with every scored position correct
 *   error     mean over examples of the max per-token CE over scored positions
 *   minprob   mean over examples of the min probability of the correct token
 *   token_acc fraction of scored tokens correct
 *   loss      mean CE over all scored tokens
 * Teacher forcing gives the greedy-decoding EM exactly: an example is an exact
 * match iff every answer token is the argmax given the correct prefix, which
 * is what greedy decoding reproduces token by token. */
#ifndef DS_EVALUATE_H
#define DS_EVALUATE_H

#include <stdint.h>

#include "common.h" /* ds_error */
#include "model.h"  /* ds_model */
#include "schema.h" /* DS_N_METRICS, the order of ds_metric_names */
#include "sweep.h"  /* ds_task_spec */

/* Running sums over examples of one (replica, length). */
typedef struct {
    double em, error, minprob, tok_correct, tok_ce;
    long n_examples, n_tokens;
} ds_metric_acc;

/* Adds one example of T target positions: ce/pcorrect/correct per position,
 * scored[t] != 0 for the scored ones. */
void ds_metric_acc_example(ds_metric_acc *a, const float *ce, const float *pcorrect,
                           const float *correct, const uint8_t *scored, int T);
/* out[DS_N_METRICS] in ds_metric_names order; NaN when nothing was added. */
void ds_metric_acc_finish(const ds_metric_acc *a, float *out);

/* Asked between evaluation batches; nonzero abandons the evaluation. */
typedef int (*ds_eval_stop_fn)(void *ctx);

/* Evaluates every replica of m at test length L of task. out is [R][DS_N_METRICS].
 * Returns 0; DS_EXIT_INTERRUPTED if stop (may be NULL) returned nonzero
 * between batches (out is then incomplete); or DS_EXIT_ERROR with err set if
 * an example does not fit the model's activation capacity, or with
 * err->nomem = 1 if the evaluation's buffers (sized by the pack) cannot be
 * allocated. */
int ds_evaluate_length(ds_model *m, const ds_task_spec *task, int L, float *out,
                       ds_eval_stop_fn stop, void *stop_ctx, ds_error *err);

/* Scores every replica of m on multiple-choice set i of a corpus task
 * (task->mc_sets[i], attached by ds_sweep_attach_data; src/mceval.h): out is
 * [R][DS_N_METRICS] with mc_acc in slot DS_M_MC_ACC, mc_nll in DS_M_MC_NLL
 * and NaN in the slots sets do not measure (src/schema.h "ds_eval_kind");
 * chosen and ll_correct, when not NULL, get each replica's per-item results,
 * [R][n_items] of the set (ds_mceval_out). Returns as ds_evaluate_length
 * (DS_EXIT_USAGE when an item does not fit the model's capacity:
 * ds_mceval_score). */
int ds_evaluate_set(ds_model *m, const ds_task_spec *task, int i, float *out, int8_t *chosen,
                    float *ll_correct, ds_eval_stop_fn stop,
                    void *stop_ctx, ds_error *err);

#endif
