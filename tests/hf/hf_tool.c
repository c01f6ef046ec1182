/* hf_tool: what tests/hf/test_hf.py needs of a sweep with model.init, through
 * the functions the engine uses (ds_hf_attach, ds_hf_init_pack).
 *
 *   hf_tool logits SWEEP LENGTH OUT.bin   replica 0 of seed seeds.start at
 *       step 0 (the base model where nothing is reinitialized): its logits on
 *       the count evaluation examples of LENGTH, in model_logits' format
 *       (tests/models/model_logits.c)
 *   hf_tool params SWEEP SEED OUT.bin     the step-0 parameters of job seed SEED
 *   hf_tool scratch SWEEP SEED OUT.bin    the spec's init of SEED (a model
 *       trained from scratch), same configuration
 *
 * params/scratch OUT.bin: int64 P, then P float32 in the flat layout
 * (src/model.h). An optional last argument SCALE (an index, default 0) takes
 * that condition of the sweep (ds_sweep_condition: its own base, if any, and
 * its architecture). Exit 0; 2 with distsweep's message when the sweep or the
 * directory is refused; 1 otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "hfmodel.h"
#include "model.h"
#include "tasks.h"

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: hf_tool logits|params|scratch SWEEP LENGTH|SEED OUT.bin [SCALE]\n");
        return 1;
    }
    const char *what = argv[1];
    ds_error err = {0};
    ds_sweep *s = NULL;
    ds_backend *be = NULL;
    ds_model *m = NULL;
    int rc = ds_sweep_load(argv[2], &s, &err);
    if (!rc) rc = ds_hf_attach(s, &err);
    if (rc) {
        fprintf(stderr, "hf_tool: %s\n", err.msg);
        ds_sweep_free(s);
        return rc;
    }
    int scale = argc == 6 ? atoi(argv[5]) : 0;
    if (scale < 0 || scale >= s->n_scales) {
        fprintf(stderr, "hf_tool: no scale %d (the sweep has %d)\n", scale, s->n_scales);
        ds_sweep_free(s);
        return 1;
    }
    ds_sweep *cond = ds_sweep_condition(s, scale); /* borrows s: freed before it */
    const ds_task_spec *task = &s->task;
    const ds_task_ops *ops = ds_task_get(task);
    int logits = !strcmp(what, "logits");
    int L = logits ? atoi(argv[3]) : 0;
    int64_t seed = logits ? s->seeds.start : atoll(argv[3]);
    int n = logits ? (int)ops->eval_count(task, L) : 1, n_tok = logits ? ops->eval_tokens(task, L) : 2;
    ds_model_config c = ds_model_config_from_sweep(cond, scale, 1);
    c.B = n, c.T = n_tok - 1;
    ds_backend_opts bo = {.kind = DS_BACKEND_CPU, .precision = s->train.precision};
    if (ds_backend_create(&bo, &be, &err) || ds_model_create(&c, be, &m, &err)) {
        fprintf(stderr, "hf_tool: %s\n", err.msg);
        return 1;
    }
    if (!strcmp(what, "scratch")) ds_model_init_replica(m, 0, (uint64_t)seed);
    else if ((rc = ds_hf_init_pack(m, cond, &seed, 1, &err))) {
        fprintf(stderr, "hf_tool: %s\n", err.msg);
        return rc;
    }
    FILE *f = fopen(argv[4], "wb");
    int ok = f != NULL;
    if (logits) {
        int32_t *tok = malloc(sizeof(int32_t) * (size_t)n * n_tok);
        uint8_t *mask = malloc((size_t)n * n_tok);
        size_t nl = (size_t)n * (n_tok - 1) * c.V;
        float *lg = malloc(sizeof(float) * nl);
        for (int e = 0; e < n; e++)
            ops->eval_example(task, L, e, tok + (size_t)e * n_tok, mask + (size_t)e * n_tok);
        ds_model_set_batch(m, tok, mask, n, n_tok - 1);
        ds_model_forward(m, NULL);
        ds_model_get_logits(m, 0, lg);
        int32_t hdr[3] = {n, n_tok, c.V};
        ok = ok && fwrite(hdr, 4, 3, f) == 3 && fwrite(tok, 4, (size_t)n * n_tok, f) == (size_t)n * n_tok &&
             fwrite(mask, 1, (size_t)n * n_tok, f) == (size_t)n * n_tok && fwrite(lg, 4, nl, f) == nl;
        free(tok), free(mask), free(lg);
    } else {
        int64_t P = (int64_t)m->P;
        float *p = malloc(sizeof(float) * m->P);
        ds_model_get_params(m, 0, p);
        ok = ok && fwrite(&P, 8, 1, f) == 1 && fwrite(p, 4, m->P, f) == m->P;
        free(p);
    }
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) fprintf(stderr, "hf_tool: cannot write %s\n", argv[4]);
    ds_model_free(m);
    be->destroy(be);
    free(cond);
    ds_sweep_free(s);
    return ok ? 0 : 1;
}
