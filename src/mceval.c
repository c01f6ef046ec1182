/* mceval: multiple-choice scoring of a pack (see mceval.h). */
#include "mceval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ds_mceval_reduce(const ds_mc_set *set, const double *ll, float *mc_acc, float *mc_nll,
                      int8_t *chosen, float *ll_correct) {
    int K = set->K, completion = set->scoring == DS_MC_COMPLETION;
    double nll = 0;
    long right = 0;
    for (int i = 0; i < set->n_items; i++) {
        const double *li = ll + (size_t)i * K;
        int best = -1;
        double bv = 0;
        for (int k = 0; k < K; k++) {
            double v = completion ? li[k] / set->cont_norm[(size_t)i * K + k] : li[k];
            /* strict >: the first maximum wins a tie; a NaN never wins */
            if (!isnan(v) && (best < 0 || v > bv)) best = k, bv = v;
        }
        int label = set->label[i];
        right += best == label;
        nll -= li[label];
        if (chosen) chosen[i] = (int8_t)best;
        if (ll_correct) ll_correct[i] = (float)li[label];
    }
    if (mc_acc) *mc_acc = (float)((double)right / set->n_items);
    if (mc_nll) *mc_nll = (float)(nll / set->n_items);
}

/* Checks that every row of set fits capacity cap (input positions) and that
 * every token is below V. Returns 0 or DS_EXIT_USAGE naming the item. */
static int check_set(const ds_mc_set *set, size_t cap, int V, ds_error *err) {
    int K = set->K;
    for (int i = 0; i < set->n_items; i++) {
        int64_t total = set->ctx_len[i];
        for (int k = 0; k < K; k++) {
            int n = set->ctx_len[i] + set->cont_len[(size_t)i * K + k];
            total += set->cont_len[(size_t)i * K + k];
            if ((size_t)(n - 1) > cap)
                return ds_error_set(err, DS_EXIT_USAGE, "%s: item %d: choice %d makes a row of %d tokens; "
                                    "the model's activations hold %zu positions", set->path, i, k, n, cap);
        }
        const int32_t *t = ds_mc_context(set, i); /* an item's tokens are contiguous */
        for (int64_t j = 0; j < total; j++)
            if (t[j] < 0 || t[j] >= V)
                return ds_error_set(err, DS_EXIT_USAGE, "%s: item %d: token id %d is not below the "
                                    "model's vocabulary of %d", set->path, i, (int)t[j], V);
    }
    return 0;
}

/* Writes row (item i, choice k) as n = ctx+cont tokens at dst (followed by
 * pad tokens 0 up to width), its mask (1 on the continuation's tokens) at
 * mdst; returns n. */
static int put_row(const ds_mc_set *set, int i, int k, int32_t *dst, uint8_t *mdst, int width) {
    int nc = set->ctx_len[i], nk = set->cont_len[(size_t)i * set->K + k], n = nc + nk;
    DS_ASSERT(n <= width);
    memcpy(dst, ds_mc_context(set, i), sizeof(int32_t) * nc);
    memcpy(dst + nc, ds_mc_continuation(set, i, k), sizeof(int32_t) * nk);
    memset(mdst, 0, (size_t)width);
    memset(mdst + nc, 1, (size_t)nk);
    for (int t = n; t < width; t++) dst[t] = 0;
    return n;
}

/* LL of a row from its per-position CE ce[0..]: target position t predicts
 * token t+1, so the continuation's tokens nc..n-1 are positions nc-1..n-2. */
static double row_ll(const float *ce, int nc, int n) {
    double s = 0;
    for (int t = nc - 1; t < n - 1; t++) s += ce[t];
    return -s;
}

/* Fills out from ll [R][n_items*K]. */
static void reduce_all(const ds_mc_set *set, int R, const double *ll, ds_mceval_out *out) {
    size_t nr = (size_t)set->n_items * set->K;
    for (int r = 0; r < R; r++)
        ds_mceval_reduce(set, ll + r * nr, out->mc_acc + r, out->mc_nll + r,
                         out->chosen ? out->chosen + (size_t)r * set->n_items : NULL,
                         out->ll_correct ? out->ll_correct + (size_t)r * set->n_items : NULL);
}

/* A row of the batched scorer's order: rows by length, longest first, then
 * by index (a total order, so qsort's instability cannot matter). */
typedef struct {
    int len;
    int row;
} row_key;

static int cmp_rows(const void *a, const void *b) {
    const row_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

int ds_mceval_score(ds_model *m, const ds_mc_set *set, int max_rows, ds_mceval_out *out,
                    ds_eval_stop_fn stop, void *stop_ctx, ds_error *err) {
    ds_backend *be = m->be;
    int R = m->cfg.R, K = set->K, V = m->cfg.V;
    size_t cap = (size_t)m->cfg.B * m->cfg.T, nr = (size_t)set->n_items * K;
    int rc = check_set(set, cap, V, err);
    if (rc) return rc;
    /* An item whose continuations are all one token (lm-eval's letter scoring)
     * has K rows with the same inputs, the context: its choice 0's row alone
     * gives every choice's LL, the CE of each choice's token at the context's
     * last position (K times fewer positions; the same bits as K rows, the CE
     * being per position). */
    uint8_t *one = DS_MALLOC((size_t)set->n_items);
    size_t n_rows = 0;
    for (int i = 0; i < set->n_items; i++) {
        one[i] = 1;
        for (int k = 0; k < K; k++) one[i] &= set->cont_len[(size_t)i * K + k] == 1;
        n_rows += one[i] ? 1 : (size_t)K;
    }
    row_key *keys = DS_MALLOC(sizeof(row_key) * n_rows);
    for (size_t j = 0, q = 0; j < nr; j++)
        if (j % K == 0 || !one[j / K]) {
            keys[q].row = (int)j;
            keys[q++].len = set->ctx_len[j / K] + set->cont_len[j];
        }
    qsort(keys, n_rows, sizeof *keys, cmp_rows);
    /* a batch of E rows of width T+1 tokens, E*T <= cap: at most 2*cap tokens a replica */
    size_t tok_n = (size_t)R * 2 * cap, nx = cap * (size_t)(K - 1);
    int32_t *tok = ds_try_malloc(sizeof(int32_t) * tok_n);
    uint8_t *mask = ds_try_malloc(tok_n);
    float *ce = ds_try_malloc(sizeof(float) * (size_t)R * cap);
    double *ll = ds_try_malloc(sizeof(double) * (size_t)R * nr);
    float *hx = ds_try_malloc(sizeof(float) * (size_t)R * nx);
    int32_t *htg = DS_MALLOC(sizeof(int32_t) * nx);
    int *srow = DS_MALLOC(sizeof(int) * cap);
    int32_t *d_tg = be->alloc(be, sizeof(int32_t) * nx);
    float *d_x = be->alloc(be, sizeof(float) * (size_t)R * nx);
    if (!tok || !mask || !ce || !ll || !hx || !d_tg || !d_x) {
        char need[32];
        ds_fmt_bytes((double)(sizeof(int32_t) + 1) * tok_n + sizeof(float) * (double)R * (cap + 2 * nx) +
                     sizeof(double) * (double)R * nr + sizeof(int32_t) * (double)nx, need, sizeof need);
        rc = ds_error_nomem(err, "pack of %d replicas: cannot allocate %s of multiple-choice batches, "
                            "statistics and log-likelihoods (host and %s backend)", R, need, be->name);
        goto done;
    }
    for (size_t p = 0; p < n_rows;) {
        if (stop && stop(stop_ctx)) {
            rc = DS_EXIT_INTERRUPTED;
            goto done;
        }
        int T = keys[p].len - 1; /* the batch's longest row: the first, rows sorted */
        size_t E = cap / (size_t)T;
        if (E > n_rows - p) E = n_rows - p;
        if (max_rows > 0 && E > (size_t)max_rows) E = (size_t)max_rows;
        DS_ASSERT(E >= 1);
        /* replica 0's rows, then copies for the others (every replica scores the same rows) */
        int ns = 0; /* rows of one-token items in this batch, and their other choices' tokens */
        for (size_t e = 0; e < E; e++) {
            int j = keys[p + e].row, i = j / K;
            put_row(set, i, j % K, tok + e * (T + 1), mask + e * (T + 1), T + 1);
            if (one[i]) {
                for (int k = 1; k < K; k++) htg[(size_t)ns * (K - 1) + k - 1] = ds_mc_continuation(set, i, k)[0];
                srow[ns++] = (int)e;
            }
        }
        size_t per = E * (size_t)(T + 1);
        for (int r = 1; r < R; r++) {
            memcpy(tok + r * per, tok, sizeof(int32_t) * per);
            memcpy(mask + r * per, mask, per);
        }
        ds_model_set_batch(m, tok, mask, (int)E, T);
        ds_model_forward_loss(m);
        size_t N = E * (size_t)T, nk = (size_t)ns * (K - 1);
        be->download(be, ce, m->act.tok_loss, sizeof(float) * R * N);
        if (ns) {
            be->upload(be, d_tg, htg, sizeof(int32_t) * nk);
            for (int r = 0; r < R; r++)
                for (int q = 0; q < ns; q++) {
                    int j = keys[p + srow[q]].row;
                    size_t pos = (size_t)r * N + (size_t)srow[q] * T + set->ctx_len[j / K] - 1;
                    for (int k = 1; k < K; k++) {
                        size_t x = (size_t)q * (K - 1) + k - 1;
                        be->crossentropy_fwd(be, d_x + r * nk + x, m->act.logits + pos * V, d_tg + x, 1, 1, V);
                    }
                }
            be->download(be, hx, d_x, sizeof(float) * R * nk);
        }
        for (int r = 0; r < R; r++) {
            for (size_t e = 0; e < E; e++) {
                int j = keys[p + e].row, i = j / K;
                ll[r * nr + j] = row_ll(ce + r * N + e * T, set->ctx_len[i], keys[p + e].len);
            }
            for (int q = 0; q < ns; q++) {
                int j = keys[p + srow[q]].row;
                for (int k = 1; k < K; k++) /* row_ll of a one-term sum */
                    ll[r * nr + j + k] = -(double)hx[r * nk + (size_t)q * (K - 1) + k - 1];
            }
        }
        p += E;
    }
    reduce_all(set, R, ll, out);
done:
    if (d_tg) be->free(be, d_tg);
    if (d_x) be->free(be, d_x);
    free(one);
    free(keys);
    free(tok);
    free(mask);
    free(ce);
    free(ll);
    free(hx);
    free(htg);
    free(srow);
    return rc;
}

int ds_mceval_score_reference(ds_model *m, const ds_mc_set *set, ds_mceval_out *out, ds_error *err) {
    ds_backend *be = m->be;
    int R = m->cfg.R, K = set->K;
    size_t cap = (size_t)m->cfg.B * m->cfg.T, nr = (size_t)set->n_items * K;
    int rc = check_set(set, cap, m->cfg.V, err);
    if (rc) return rc;
    size_t W = (size_t)set->max_row;
    int32_t *tok = ds_try_malloc(sizeof(int32_t) * R * W);
    uint8_t *mask = ds_try_malloc((size_t)R * W);
    float *ce = ds_try_malloc(sizeof(float) * R * W);
    double *ll = ds_try_malloc(sizeof(double) * R * nr);
    if (!tok || !mask || !ce || !ll) {
        rc = ds_error_nomem(err, "pack of %d replicas: cannot allocate the reference scorer's buffers", R);
        goto done;
    }
    for (int i = 0; i < set->n_items; i++)
        for (int k = 0; k < K; k++) {
            int n = set->ctx_len[i] + set->cont_len[(size_t)i * K + k];
            for (int r = 0; r < R; r++) put_row(set, i, k, tok + (size_t)r * n, mask + (size_t)r * n, n);
            ds_model_set_batch(m, tok, mask, 1, n - 1);
            ds_model_forward_loss(m);
            be->download(be, ce, m->act.tok_loss, sizeof(float) * R * (n - 1));
            for (int r = 0; r < R; r++)
                ll[r * nr + (size_t)i * K + k] = row_ll(ce + (size_t)r * (n - 1), set->ctx_len[i], n);
        }
    reduce_all(set, R, ll, out);
done:
    free(tok);
    free(mask);
    free(ce);
    free(ll);
    return rc;
}
