/* test_learn: the engine learns, and teacher-forced EM is greedy-decoding EM.
 *
 * A tiny count model (vocab 24, training lengths 1..5, d 64, 2 layers, batch
 * 32 x 48, 200 steps) must reach EM >= 0.9 at its training lengths 3 and 5
 * and in-distribution EM >= 0.9; the test fails otherwise (seconds of CPU).
 * Then its final weights (read back from the checkpoint) are decoded greedily,
 * token by token with the model API, at lengths 3, 5 and 7 (7 is beyond the
 * training lengths, so EM there is strictly between 0 and 1 or at least not
 * trivially 1): the greedy EM must equal the teacher-forced EM exactly.
 *
 *   test_engine_learn [fp32|tf32|bf16] [llama]
 *
 * llama: the same task and bounds with block llama (head_dim 16: 4 heads, 2
 * kv heads, qkv bias, tied embeddings, the default mlp_hidden 192). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../backend_util.h"
#include "../test.h"
#include "backend.h"
#include "checkpoint.h"
#include "engine.h"
#include "evaluate.h"
#include "model.h"
#include "sweep.h"
#include "tasks.h"

static const char *SWEEP =
    "name: learn-test\n"
    "task: {kind: count, vocab: 24, train_length: [1, 5], eval_lengths: [3, 5, 7]}\n"
    "model: {head_dim: 32, block: parallel, rotary_frac: 0.25}\n"
    "train: {steps: 200, batch: 32, context: 48, lr: 3.0e-3, warmup: 20, weight_decay: 0.1,\n"
    "        log_every: 20}\n"
    "seeds: {start: 0, count: 1}\n"
    "scales:\n"
    "  - {family: width, depth: 2, width: [64]}\n"
    "run: {checkpoint_every: 1000}\n";

static const char *LLAMA_SWEEP =
    "name: learn-test-llama\n"
    "task: {kind: count, vocab: 24, train_length: [1, 5], eval_lengths: [3, 5, 7]}\n"
    "model: {head_dim: 16, block: llama, kv_heads: 2, qkv_bias: true, tie_embeddings: true}\n"
    "train: {steps: 200, batch: 32, context: 48, lr: 3.0e-3, warmup: 20, weight_decay: 0.1,\n"
    "        log_every: 20}\n"
    "seeds: {start: 0, count: 1}\n"
    "scales:\n"
    "  - {family: width, depth: 2, width: [64]}\n"
    "run: {checkpoint_every: 1000}\n";

static int stop_at_end(void *ctx, int64_t step, int R, const float *losses) {
    return step == *(int64_t *)ctx;
}

/* EM of greedy decoding at length L: each example's prompt (up to its first
 * scored target) is extended one argmax token at a time. */
static double greedy_em(ds_model *m, const ds_task_spec *task, int L) {
    const ds_task_ops *ops = ds_task_get(task);
    int n = ops->eval_tokens(task, L), V = m->cfg.V;
    int E = (int)ops->eval_count(task, L);
    int32_t *ex = malloc(sizeof(int32_t) * E * n), *seq = malloc(sizeof(int32_t) * E * (n + 1));
    uint8_t *mk = malloc((size_t)E * n), *zero = calloc((size_t)E * (n + 1), 1);
    int *ok = malloc(sizeof(int) * E);
    float *logits = malloc(sizeof(float) * E * n * V);
    int k = 1;
    for (int e = 0; e < E; e++) ops->eval_example(task, L, e, ex + (size_t)e * n, mk + (size_t)e * n);
    while (!mk[k]) k++; /* first scored position: the same for every example */
    for (int e = 0; e < E; e++) {
        ok[e] = 1;
        for (int j = k; j < n; j++) CHECK(mk[(size_t)e * n + j]); /* answer runs to the end */
    }
    for (int cur = k; cur < n; cur++) { /* sequences hold cur tokens; predict token cur */
        for (int e = 0; e < E; e++) {
            memcpy(seq + (size_t)e * (cur + 1), ex + (size_t)e * n, sizeof(int32_t) * cur);
            seq[(size_t)e * (cur + 1) + cur] = 0; /* placeholder target, unscored */
        }
        /* teacher prefix up to the prompt, our own predictions after it */
        ds_model_set_batch(m, seq, zero, E, cur);
        ds_model_forward(m, NULL);
        ds_model_get_logits(m, 0, logits);
        for (int e = 0; e < E; e++) {
            const float *x = logits + ((size_t)e * cur + cur - 1) * V;
            int am = 0;
            for (int v = 1; v < V; v++)
                if (x[v] > x[am]) am = v;
            if (am != ex[(size_t)e * n + cur]) ok[e] = 0;
            /* continue from the model's own token */
            ex[(size_t)e * n + cur] = ok[e] ? ex[(size_t)e * n + cur] : am;
        }
    }
    int good = 0;
    for (int e = 0; e < E; e++) good += ok[e];
    free(ex); free(seq); free(mk); free(zero); free(ok); free(logits);
    return (double)good / E;
}

int main(int argc, char **argv) {
    ds_sweep *s = NULL;
    ds_error err = {0};
    int llama = argc > 1 && !strcmp(argv[argc - 1], "llama");
    if (llama) argc--;
    if (ds_sweep_load_text("learn-test.yaml", llama ? LLAMA_SWEEP : SWEEP, &s, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    /* argv[1]: train.precision (fp32, tf32, bf16): each mode must learn the task */
    s->train.precision = test_precision_arg(argc, argv);
    printf("precision %s, block %s\n", ds_precision_name(s->train.precision),
           llama ? "llama" : "parallel");
    char ckpt[256];
    snprintf(ckpt, sizeof ckpt, "/tmp/ds_learn_test_%d.ckpt", (int)getpid());
    unlink(ckpt);
    int64_t seeds[1] = {11}, end = s->train.steps;
    ds_run_result res[1];
    double t0 = ds_now();
    ds_train_opts o = {.backend = DS_BACKEND_CPU, .ckpt_path = ckpt, .hook = stop_at_end, .hook_ctx = &end};
    CHECK(ds_train_pack(s, 0, seeds, 1, &o, res, &err) == DS_EXIT_INTERRUPTED);
    o.hook = NULL;
    CHECK(ds_train_pack(s, 0, seeds, 1, &o, res, &err) == 0);
    printf("trained %lld steps in %.1f s: final loss %.4f, id_em %.3f, em %.3f %.3f %.3f\n",
           (long long)res[0].steps_done, ds_now() - t0, res[0].final_loss, res[0].id_em,
           res[0].metrics[0][DS_M_EM], res[0].metrics[1][DS_M_EM], res[0].metrics[2][DS_M_EM]);
    CHECK(res[0].status == DS_RUN_DONE);
    CHECK_MSG(res[0].metrics[0][DS_M_EM] >= 0.9f, "EM at length 3 is %.3f", res[0].metrics[0][DS_M_EM]);
    CHECK_MSG(res[0].metrics[1][DS_M_EM] >= 0.9f, "EM at length 5 is %.3f", res[0].metrics[1][DS_M_EM]);
    CHECK(res[0].id_em == res[0].metrics[1][DS_M_EM]);
    CHECK(res[0].curve[res[0].n_curve - 1] < 0.5f * res[0].curve[0]);

    /* the trained weights, decoded greedily */
    ds_backend_opts bo = {.kind = DS_BACKEND_CPU, .precision = s->train.precision};
    ds_backend *be = NULL;
    CHECK(ds_backend_create(&bo, &be, &err) == 0);
    ds_model_config cfg = ds_model_config_from_sweep(s, 0, 1);
    ds_model *m = NULL;
    CHECK(ds_model_create(&cfg, be, &m, &err) == 0);
    int cap = (int)(s->train.steps / s->train.log_every);
    uint8_t act;
    float last, *curve = malloc(sizeof(float) * cap);
    double win;
    ds_ckpt_state st = {.batch = s->train.batch, .context = s->train.context, .steps = s->train.steps,
                        .sweep_hash = s->yaml_hash, .seeds = seeds, .curve_cap = cap, .active = &act, .last_loss = &last,
                        .window = &win, .curve = curve};
    CHECK(ds_ckpt_load(ckpt, m, &st, NULL, &err) == 0);
    for (int i = 0; i < s->task.n_eval_lengths; i++) {
        int L = s->task.eval_lengths[i];
        float tf[DS_N_METRICS];
        CHECK(ds_evaluate_length(m, &s->task, L, tf, NULL, NULL, &err) == 0);
        CHECK(!memcmp(tf, res[0].metrics[i], sizeof tf)); /* same weights, same bits */
        double g = greedy_em(m, &s->task, L);
        printf("length %d: teacher-forced EM %.6f, greedy EM %.6f\n", L, tf[DS_M_EM], g);
        CHECK_NEAR(tf[DS_M_EM], g, 1e-6);
    }
    ds_model_free(m);
    be->destroy(be);
    free(curve);
    ds_run_result_free(&res[0]);
    unlink(ckpt);
    ds_sweep_free(s);
    TEST_MAIN_END();
}
