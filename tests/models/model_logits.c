/* model_logits: distsweep's forward of a stored model on the evaluation
 * examples of one length, for tests/models/test_models.py to compare with
 * Hugging Face's GPTNeoXForCausalLM.
 *
 *   model_logits OUT.h5 SCALE SEED LENGTH OUT.bin
 *
 * OUT.bin: int32 n, n_tok, V; int32 tokens [n][n_tok]; uint8 mask [n][n_tok];
 * float32 logits [n][n_tok-1][V] (the teacher-forced forward of each example
 * alone at position 0, as src/evaluate.c runs it). Exit 0, or 1 with a message. */
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"
#include "cli.h" /* ds_cli_stored_run: the run as export and eval open it */
#include "h5check.h"
#include "model.h"
#include "modelfile.h"
#include "tasks.h"

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: model_logits OUT.h5 SCALE SEED LENGTH OUT.bin\n");
        return 2;
    }
    ds_h5_library_init();
    ds_cli_stored_run run;
    ds_error err = {0};
    ds_backend *be = NULL;
    ds_model *m = NULL;
    int rc = ds_cli_stored_run_open(argv[1], argv[2], atoll(argv[3]), &run, &err);
    if (rc) {
        fprintf(stderr, "model_logits: %s\n", err.msg);
        ds_cli_stored_run_close(&run);
        return 1;
    }
    const ds_task_spec *task = &run.s->task;
    const ds_task_ops *ops = ds_task_get(task);
    int L = atoi(argv[4]);
    int n = (int)ops->eval_count(task, L), n_tok = ops->eval_tokens(task, L), T = n_tok - 1;
    ds_model_config c = ds_model_config_from_sweep(run.s, run.scale, 1);
    c.B = n, c.T = T; /* every example in one batch */
    ds_backend_opts bo = {.kind = DS_BACKEND_CPU, .precision = run.s->train.precision};
    if (n < 1 || ds_backend_create(&bo, &be, &err) || ds_model_create(&c, be, &m, &err)) {
        fprintf(stderr, "model_logits: %s\n", n < 1 ? "length not posable" : err.msg);
        return 1;
    }
    ds_model_set_params(m, 0, run.params);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)n * n_tok);
    uint8_t *mask = malloc((size_t)n * n_tok);
    float *logits = malloc(sizeof(float) * (size_t)n * T * c.V);
    for (int e = 0; e < n; e++) ops->eval_example(task, L, e, tok + (size_t)e * n_tok, mask + (size_t)e * n_tok);
    ds_model_set_batch(m, tok, mask, n, T);
    ds_model_forward(m, NULL);
    ds_model_get_logits(m, 0, logits);
    FILE *f = fopen(argv[5], "wb");
    int32_t hdr[3] = {n, n_tok, c.V};
    int ok = f && fwrite(hdr, 4, 3, f) == 3 && fwrite(tok, 4, (size_t)n * n_tok, f) == (size_t)n * n_tok &&
             fwrite(mask, 1, (size_t)n * n_tok, f) == (size_t)n * n_tok &&
             fwrite(logits, 4, (size_t)n * T * c.V, f) == (size_t)n * T * c.V;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) fprintf(stderr, "model_logits: cannot write %s\n", argv[5]);
    free(tok);
    free(mask);
    free(logits);
    ds_model_free(m);
    be->destroy(be);
    ds_cli_stored_run_close(&run);
    return ok ? 0 : 1;
}
