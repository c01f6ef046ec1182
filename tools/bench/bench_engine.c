/* bench_engine: times full training steps of the C engine (CPU backend) on the
 * count model, as tools/bench/bench_torch.py times PyTorch's.
 *
 *   bench_engine --d D [--layers 4 --head-dim 64 --vocab 150 --batch 128
 *                --context 256 --pack 1 --steps 5 --warmup-steps 2 --threads 0]
 *
 * One step = upload a batch of count rows, forward, backward, clipping and
 * AdamW through ds_optim_step: what the training loop does per step, without
 * evaluation or logging. Prints one JSON line (median and minimum step time
 * of the timed steps, per pack and per replica). --threads 0 = OpenMP default
 * (OMP_NUM_THREADS). Timings only: never a pass/fail test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "common.h"
#include "model.h"
#include "optim.h"
#include "tasks.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int d = 0, L = 4, hd = 64, vocab = 150, B = 128, ctx = 256, R = 1, steps = 5, warm = 2,
        threads = 0;
    for (int i = 1; i < argc; i++) {
        int *dst = NULL;
        if (!strcmp(argv[i], "--d")) dst = &d;
        else if (!strcmp(argv[i], "--layers")) dst = &L;
        else if (!strcmp(argv[i], "--head-dim")) dst = &hd;
        else if (!strcmp(argv[i], "--vocab")) dst = &vocab;
        else if (!strcmp(argv[i], "--batch")) dst = &B;
        else if (!strcmp(argv[i], "--context")) dst = &ctx;
        else if (!strcmp(argv[i], "--pack")) dst = &R;
        else if (!strcmp(argv[i], "--steps")) dst = &steps;
        else if (!strcmp(argv[i], "--warmup-steps")) dst = &warm;
        else if (!strcmp(argv[i], "--threads")) dst = &threads;
        if (!dst || i + 1 >= argc) {
            fprintf(stderr, "bench_engine: unknown or incomplete option '%s'\n", argv[i]);
            return DS_EXIT_USAGE;
        }
        *dst = atoi(argv[++i]);
    }
    if (d <= 0 || hd <= 0 || d % hd || L < 1 || B < 1 || ctx < 2 || R < 1 || steps < 1 || warm < 0) {
        fprintf(stderr, "bench_engine: need --d a positive multiple of --head-dim and positive sizes\n");
        return DS_EXIT_USAGE;
    }

    int rc = DS_EXIT_ERROR;
    ds_error err = {0};
    ds_model *m = NULL;
    int32_t *tokens = NULL;
    uint8_t *mask = NULL;
    double *times = NULL;
    ds_backend *be = ds_backend_cpu_create(threads);

    ds_task_spec ts = {0};
    ts.kind = DS_TASK_COUNT;
    ts.vocab = vocab;
    ts.train_min = 1;
    ts.train_max = 30;
    const ds_task_ops *ops = ds_task_get(&ts);
    ds_model_config c = {0};
    c.R = R; c.B = B; c.T = ctx - 1; c.d = d; c.L = L; c.hd = hd; c.H = d / hd;
    c.V = ops->vocab_total(&ts);
    c.rot = ((int)(0.25 * hd)) & ~1;
    c.block = DS_BLOCK_PARALLEL;
    c.rope_base = 10000.0f; c.ln_eps = 1e-5f; c.init_std = 0.02f;
    ds_train_spec tr = {0};
    tr.steps = 10000; tr.batch = B; tr.context = ctx; tr.lr = 1e-3; tr.warmup = 1;
    tr.weight_decay = 0.1; tr.grad_clip = 1.0; tr.beta1 = 0.9; tr.beta2 = 0.999; tr.adam_eps = 1e-8;

    if (ds_model_create(&c, be, &m, &err)) {
        fprintf(stderr, "bench_engine: %s\n", err.msg);
        goto done;
    }
    for (int r = 0; r < R; r++) ds_model_init_replica(m, r, (uint64_t)r);
    size_t nt = (size_t)R * B * ctx;
    tokens = malloc(nt * sizeof *tokens);
    mask = malloc(nt);
    times = malloc((size_t)steps * sizeof *times);
    uint8_t *active = malloc((size_t)R);
    if (!tokens || !mask || !times || !active) goto done;
    memset(active, 1, (size_t)R);
    float *losses = malloc((size_t)R * sizeof *losses);
    if (!losses) {
        free(active);
        goto done;
    }
    for (int s = 0; s < warm + steps; s++) {
        double t0 = ds_now();
        for (int r = 0; r < R; r++)
            for (int b = 0; b < B; b++) {
                size_t row = (size_t)r * B + (size_t)b;
                ops->train_row(&ts, (uint64_t)r, (uint64_t)s * B + (uint64_t)b, ctx,
                               tokens + row * ctx, mask + row * ctx);
            }
        ds_model_set_batch(m, tokens, mask, B, ctx - 1);
        ds_model_forward(m, losses);
        ds_model_backward(m);
        ds_optim_step(m, &tr, s, active, NULL);
        if (s >= warm) times[s - warm] = ds_now() - t0;
    }
    qsort(times, (size_t)steps, sizeof *times, cmp_double);
    double med = steps % 2 ? times[steps / 2] : 0.5 * (times[steps / 2 - 1] + times[steps / 2]);
    printf("{\"impl\": \"distsweep-cpu\", \"d\": %d, \"layers\": %d, \"params\": %zu, \"batch\": %d, "
           "\"context\": %d, \"pack\": %d, \"threads_env\": \"%s\", \"openblas_coretype\": \"%s\", "
           "\"step_s_median\": %.6f, \"step_s_min\": %.6f, \"replica_step_s_median\": %.6f, "
           "\"steps_timed\": %d, \"final_loss\": %.6f}\n",
           d, L, m->P, B, ctx, R, getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "",
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "", med, times[0], med / R,
           steps, (double)losses[0]);
    free(active);
    free(losses);
    rc = 0;
done:
    free(tokens);
    free(mask);
    free(times);
    if (m) ds_model_free(m);
    be->destroy(be);
    return rc;
}
