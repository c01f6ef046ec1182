/* test_oom_paths: every allocation of a pack that can fail is reported as an
 * out-of-memory pack failure (err.nomem, code DS_EXIT_ERROR, the buffer and
 * its size named) and leaves nothing allocated.
 *
 * A CPU backend whose alloc and host_alloc fail at their n-th call, for n =
 * 1, 2, ... until the pack is built: ds_model_create, then ds_step_init with
 * micro-batches (so the gradient tree's levels are among the allocations).
 * After each failure the backend's live allocations must be back to zero.
 * The pack that is finally built then runs a step, so the counting wrapper
 * is known to be transparent. The real allocator under a real limit is
 * tests/engine/test_oom.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "backend.h"
#include "model.h"
#include "step.h"
#include "sweep.h"

static const char *SWEEP =
    "name: oom-paths\n"
    "task: {kind: count, vocab: 20, train_length: [1, 4], eval_lengths: [3]}\n"
    "model: {head_dim: 32}\n"
    "train: {steps: 4, batch: 8, context: 16, micro_batches: 4, lr: 1.0e-3, warmup: 1,\n"
    "        log_every: 1}\n"
    "seeds: {start: 0, count: 3}\n"
    "scales:\n"
    "  - {family: width, depth: 1, width: [64]}\n";

/* The wrapper's state: the real table's memory ops, the calls so far, the
 * call that fails (1-based; 0: none) and the allocations not yet freed. */
static ds_backend real;
static int calls, fail_at, live;

static void *w_alloc(ds_backend *be, size_t bytes) {
    if (++calls == fail_at) return NULL;
    live++;
    return real.alloc(be, bytes);
}
static void *w_host_alloc(ds_backend *be, size_t bytes) {
    if (++calls == fail_at) return NULL;
    live++;
    return real.host_alloc(be, bytes);
}
static void w_free(ds_backend *be, void *p) {
    if (p) live--;
    real.free(be, p);
}
static void w_host_free(ds_backend *be, void *p) {
    if (p) live--;
    real.host_free(be, p);
}

int main(void) {
    ds_sweep *s = NULL;
    ds_error err = {0};
    CHECK_MSG(ds_sweep_load_text("oom-paths.yaml", SWEEP, &s, &err) == 0, "%s", err.msg);
    ds_backend *be = ds_backend_cpu_create(1, DS_PREC_FP32);
    real = *be;
    be->alloc = w_alloc, be->host_alloc = w_host_alloc;
    be->free = w_free, be->host_free = w_host_free;
    const int R = 3;
    const int64_t seeds[3] = {0, 1, 2};
    uint8_t active[3];
    int failures_seen = 0, built = 0;
    for (fail_at = 1; fail_at < 200 && !built; fail_at++) {
        calls = 0, live = 0;
        memset(active, 1, sizeof active);
        ds_model_config cfg = ds_model_config_from_sweep(s, 0, R);
        cfg.B = ds_step_rows(&s->train, 1, 0);
        ds_model *m = NULL;
        ds_step st;
        memset(&st, 0xff, sizeof st); /* ds_step_init must set all of it */
        err = (ds_error){0};
        int rc = ds_model_create(&cfg, be, &m, &err);
        if (!rc) rc = ds_step_init(&st, s, m, seeds, R, NULL, 1, 0, active, 4, &err);
        else memset(&st, 0, sizeof st);
        if (rc) {
            failures_seen++;
            CHECK_MSG(rc == DS_EXIT_ERROR && err.code == DS_EXIT_ERROR && err.nomem == 1,
                      "failure at allocation %d: rc %d nomem %d: %s", fail_at, rc, err.nomem, err.msg);
            CHECK_MSG(strstr(err.msg, "pack of 3 replicas") && strstr(err.msg, "cannot allocate "),
                      "failure at allocation %d: message: %s", fail_at, err.msg);
            ds_step_free(&st); /* zeroed on failure: harmless */
            ds_model_free(m);
            CHECK_MSG(live == 0, "failure at allocation %d: %d allocations left", fail_at, live);
            continue;
        }
        built = 1;
        for (int64_t t = 0; t < 2; t++) ds_step_run(&st, t, NULL);
        const float *l;
        int64_t first;
        CHECK(ds_step_read(&st, &l, &first) == 2 && first == 0);
        for (int i = 0; i < 2 * R; i++) CHECK_MSG(l[i] > 0 && l[i] < 10, "loss %g", l[i]);
        ds_step_free(&st);
        ds_model_free(m);
        CHECK_MSG(live == 0, "built pack: %d allocations left", live);
    }
    CHECK(built);
    /* the model's buffers, the update control, the loss ring and log2(4)+1 levels */
    CHECK_MSG(failures_seen > 40, "only %d allocation points", failures_seen);
    printf("%d allocation points, each reported as out of memory with nothing left allocated\n",
           failures_seen);
    be->alloc = real.alloc, be->host_alloc = real.host_alloc;
    be->free = real.free, be->host_free = real.host_free;
    be->destroy(be);
    ds_sweep_free(s);
    return ds_test_failures ? 1 : 0;
}
