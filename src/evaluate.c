/* evaluate: teacher-forced evaluation metrics (see evaluate.h). */
#include "evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mceval.h"
#include "tasks.h"

void ds_metric_acc_example(ds_metric_acc *a, const float *ce, const float *pcorrect,
                           const float *correct, const uint8_t *scored, int T) {
    int all = 1, n = 0;
    float mx = -INFINITY, mn = INFINITY;
    for (int t = 0; t < T; t++) {
        if (!scored[t]) continue;
        n++;
        /* a NaN loss is the worst possible one: max/min keep it */
        if (!(ce[t] <= mx)) mx = ce[t];
        if (!(pcorrect[t] >= mn)) mn = pcorrect[t];
        if (correct[t] == 0.0f) all = 0;
        a->tok_correct += correct[t];
        a->tok_ce += ce[t];
    }
    a->n_tokens += n;
    a->n_examples++;
    a->em += all;
    if (n) {
        a->error += mx;
        a->minprob += mn;
    } else {
        a->minprob += 1.0;
    }
}

void ds_metric_acc_finish(const ds_metric_acc *a, float *out) {
    double ne = a->n_examples, nt = a->n_tokens;
    out[DS_M_EM] = ne ? (float)(a->em / ne) : NAN;
    out[DS_M_ERROR] = ne ? (float)(a->error / ne) : NAN;
    out[DS_M_MINPROB] = ne ? (float)(a->minprob / ne) : NAN;
    out[DS_M_TOKEN_ACC] = nt ? (float)(a->tok_correct / nt) : NAN;
    out[DS_M_LOSS] = nt ? (float)(a->tok_ce / nt) : NAN;
}

int ds_evaluate_length(ds_model *m, const ds_task_spec *task, int L, float *out,
                       ds_eval_stop_fn stop, void *stop_ctx, ds_error *err) {
    const ds_task_ops *ops = ds_task_get(task);
    ds_backend *be = m->be;
    int R = m->cfg.R, V = m->cfg.V;
    int n_tok = ops->eval_tokens(task, L), T = n_tok - 1;
    int64_t count = ops->eval_count(task, L);
    size_t cap = (size_t)m->cfg.B * m->cfg.T;
    if (T < 1 || (size_t)T > cap)
        return ds_error_set(err, DS_EXIT_ERROR,
                            "evaluate: examples of length %d (%d tokens) do not fit the model's "
                            "activations (%zu positions)", L, n_tok, cap);
    int E = (int)(cap / T);
    if (E > count) E = (int)count;
    size_t N = (size_t)E * T;
    /* sized by the pack (R x the model's capacity): a failure is the pack's
     * out of memory, reported, not fatal */
    size_t tok_n = (size_t)R * E * n_tok, stat_b = sizeof(float) * (size_t)R * N;
    int32_t *ex_tok = DS_MALLOC(sizeof(int32_t) * E * n_tok);
    uint8_t *ex_mask = DS_MALLOC((size_t)E * n_tok);
    int32_t *tok = ds_try_malloc(sizeof(int32_t) * tok_n);
    uint8_t *mask = ds_try_malloc(tok_n);
    float *ce = ds_try_malloc(stat_b), *pc = ds_try_malloc(stat_b), *cor = ds_try_malloc(stat_b);
    float *d_stats = be->alloc(be, 3 * stat_b);
    ds_metric_acc *acc = DS_CALLOC(R, sizeof *acc);
    int rc = 0;
    if (!d_stats) {
        char need[32];
        ds_fmt_bytes(3.0 * stat_b, need, sizeof need);
        rc = ds_error_nomem(err, "pack of %d replicas: cannot allocate %s of evaluation "
                            "statistics on the %s backend", R, need, be->name);
        goto done;
    }
    if (!tok || !mask || !ce || !pc || !cor) {
        char need[32];
        ds_fmt_bytes((double)(sizeof(int32_t) + 1) * tok_n + 3.0 * stat_b, need, sizeof need);
        rc = ds_error_nomem(err, "pack of %d replicas: cannot allocate %s of evaluation batches "
                            "and statistics in host memory", R, need);
        goto done;
    }
    for (int64_t e0 = 0; e0 < count; e0 += E) {
        if (stop && stop(stop_ctx)) {
            rc = DS_EXIT_INTERRUPTED;
            break;
        }
        int ne = count - e0 < E ? (int)(count - e0) : E;
        for (int e = 0; e < ne; e++)
            ops->eval_example(task, L, e0 + e, ex_tok + (size_t)e * n_tok, ex_mask + (size_t)e * n_tok);
        for (int r = 0; r < R; r++) {
            memcpy(tok + (size_t)r * ne * n_tok, ex_tok, sizeof(int32_t) * ne * n_tok);
            memcpy(mask + (size_t)r * ne * n_tok, ex_mask, (size_t)ne * n_tok);
        }
        ds_model_set_batch(m, tok, mask, ne, T);
        ds_model_forward(m, NULL);
        size_t n = (size_t)ne * T;
        float *dce = d_stats, *dpc = d_stats + R * n, *dcor = d_stats + 2 * R * n;
        be->token_stats(be, dce, dpc, dcor, m->act.logits, m->tgt, R, (int)n, V);
        be->download(be, ce, dce, sizeof(float) * R * n);
        be->download(be, pc, dpc, sizeof(float) * R * n);
        be->download(be, cor, dcor, sizeof(float) * R * n);
        for (int r = 0; r < R; r++)
            for (int e = 0; e < ne; e++) {
                size_t o = (size_t)r * n + (size_t)e * T;
                ds_metric_acc_example(&acc[r], ce + o, pc + o, cor + o, ex_mask + (size_t)e * n_tok + 1, T);
            }
    }
    for (int r = 0; r < R; r++) ds_metric_acc_finish(&acc[r], out + (size_t)r * DS_N_METRICS);
done:
    if (d_stats) be->free(be, d_stats);
    free(ex_tok);
    free(ex_mask);
    free(tok);
    free(mask);
    free(ce);
    free(pc);
    free(cor);
    free(acc);
    return rc;
}

int ds_evaluate_set(ds_model *m, const ds_task_spec *task, int i, float *out, int8_t *chosen,
                    float *ll_correct, ds_eval_stop_fn stop,
                    void *stop_ctx, ds_error *err) {
    DS_ASSERT(ds_task_eval_kind(task) == DS_EVAL_SETS && i >= 0 && i < task->n_mc);
    DS_ASSERT(task->mc_sets[i]); /* ds_sweep_attach_data before an evaluation */
    const int R = m->cfg.R;
    float *acc = malloc(sizeof(float) * (size_t)R), *nll = malloc(sizeof(float) * (size_t)R);
    if (!acc || !nll) {
        free(acc);
        free(nll);
        return ds_error_nomem(err, "the scores of multiple-choice set %s", task->mc[i].name);
    }
    ds_mceval_out o = {.mc_acc = acc, .mc_nll = nll, .chosen = chosen, .ll_correct = ll_correct};
    int rc = ds_mceval_score(m, task->mc_sets[i], 0, &o, stop, stop_ctx, err);
    for (int r = 0; r < R && !rc; r++) {
        float *row = out + (size_t)r * DS_N_METRICS;
        for (int k = 0; k < DS_N_METRICS; k++) row[k] = NAN;
        row[DS_M_MC_ACC] = acc[r];
        row[DS_M_MC_NLL] = nll[r];
    }
    free(acc);
    free(nll);
    return rc;
}
