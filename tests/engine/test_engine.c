/* test_engine: packing, divergence isolation, checkpoint/resume bit-identity,
 * checkpoint refusal, and the metric definitions on hand-built logits.
 *
 * Training runs are tiny (count, vocab 20, d 64, 1 layer, batch 72 x 32: enough
 * rows for the CPU backend's row-chunked weight gradients) so
 * the whole file takes a few seconds. Final parameters are read from the
 * checkpoint a run writes when its hook stops it at the last step; running
 * the same pack again then resumes, trains nothing and evaluates. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../backend_util.h"
#include "../test.h"
#include "backend.h"
#include "checkpoint.h"
#include "engine.h"
#include "evaluate.h"
#include "model.h"
#include "optim.h"
#include "sweep.h"
#include "tasks.h"

static const char *SWEEP =
    "name: engine-test\n"
    "task: {kind: count, vocab: 20, train_length: [1, 4], eval_lengths: [3, 6]}\n"
    "model: {head_dim: 32, block: parallel, rotary_frac: 0.25}\n"
    "train: {steps: 20, batch: 72, context: 32, lr: 3.0e-3, warmup: 4, weight_decay: 0.1,\n"
    "        log_every: 5}\n"
    "seeds: {start: 0, count: 10}\n"
    "scales:\n"
    "  - {family: width, depth: 1, width: [64]}\n"
    "run: {checkpoint_every: 1000}\n";

static char dir[256];
/* train.precision of every run here (argv[1]: fp32, tf32 or bf16): the
 * pack, checkpoint and resume guarantees hold at every precision */
static ds_precision g_prec = DS_PREC_FP32;

typedef struct {
    int64_t stop_at;
} hookctx;

static int stop_hook(void *ctx, int64_t step, int R, const float *losses) {
    return step == ((hookctx *)ctx)->stop_at;
}

typedef struct {
    int calls, stop_at_call;
} callcount;

/* Stops on its stop_at_call-th call (1-based). */
static int count_hook(void *ctx, int64_t step, int R, const float *losses) {
    callcount *c = ctx;
    return ++c->calls == c->stop_at_call;
}

/* Runs the pack, stopping (checkpoint) at each of stops[], then to the end.
 * Returns the rc of the final call. */
static int train(const ds_sweep *s, const int64_t *seeds, int R, const char *ckpt,
                 const int64_t *stops, int nstops, ds_run_result *res, ds_error *err) {
    unlink(ckpt);
    for (int i = 0; i < nstops; i++) {
        hookctx h = {stops[i]};
        ds_train_opts o = {.backend = DS_BACKEND_CPU, .ckpt_path = ckpt, .hook = stop_hook, .hook_ctx = &h};
        int rc = ds_train_pack(s, 0, seeds, R, &o, res, err);
        if (rc != DS_EXIT_INTERRUPTED) return rc == 0 ? -1 : rc;
    }
    ds_train_opts o = {.backend = DS_BACKEND_CPU, .ckpt_path = ckpt};
    return ds_train_pack(s, 0, seeds, R, &o, res, err);
}

/* The whole checkpoint file in memory. */
static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    if (fread(b, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return b;
}

static void spit(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

/* Offset of replica r's parameters in a checkpoint of R replicas (format of checkpoint.h). */
static size_t params_offset(int R, int curve_cap, size_t P, int r) {
    return 8 + 8 + 14 * 8 + 8 + (size_t)R * (8 + 1 + 4 + 8) + (size_t)R * curve_cap * 4 +
           (size_t)r * P * 4;
}

static void recompute_checksum(unsigned char *b, size_t n) {
    uint64_t h = ds_fnv1a64(b + 8, n - 16, DS_FNV1A64_INIT);
    memcpy(b + n - 8, &h, 8);
}

/* How many names in d start with prefix. */
static int n_aside(const char *d, const char *prefix) {
    DIR *dd = opendir(d);
    struct dirent *e;
    int n = 0;
    while (dd && (e = readdir(dd))) n += !strncmp(e->d_name, prefix, strlen(prefix));
    if (dd) closedir(dd);
    return n;
}

/* Removes the files set aside in d (NAME.damaged-<time>). */
static void remove_aside(const char *d) {
    DIR *dd = opendir(d);
    struct dirent *e;
    char path[600];
    while (dd && (e = readdir(dd))) {
        if (!strstr(e->d_name, ".damaged-")) continue;
        snprintf(path, sizeof path, "%s/%s", d, e->d_name);
        unlink(path);
    }
    if (dd) closedir(dd);
}

static int same_result(const ds_run_result *a, const ds_run_result *b, int nL) {
    return a->seed == b->seed && a->status == b->status && a->steps_done == b->steps_done &&
           !memcmp(&a->final_loss, &b->final_loss, 4) && !memcmp(&a->id_em, &b->id_em, 4) &&
           !memcmp(a->metrics, b->metrics, sizeof(float) * nL * DS_N_METRICS) &&
           a->n_curve == b->n_curve && !memcmp(a->curve, b->curve, sizeof(float) * a->n_curve);
}

static void test_training(void) {
    ds_sweep *s = NULL;
    ds_error err = {0};
    CHECK(ds_sweep_load_text("engine-test.yaml", SWEEP, &s, &err) == 0);
    if (!s) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    s->train.precision = g_prec;
    int nL = s->task.n_eval_lengths, cap = 20 / 5;
    size_t P = s->scales[0].n_params;
    char ck_pack[300], ck_one[300], ck_resume[300], ck_div[300];
    snprintf(ck_pack, sizeof ck_pack, "%s/pack.ckpt", dir);
    snprintf(ck_one, sizeof ck_one, "%s/one.ckpt", dir);
    snprintf(ck_resume, sizeof ck_resume, "%s/resume.ckpt", dir);
    snprintf(ck_div, sizeof ck_div, "%s/div.ckpt", dir);

    /* A: a pack of 4; B: seed 7 alone. */
    int64_t pack[4] = {3, 5, 7, 9}, one[1] = {7}, end[1] = {20};
    ds_run_result A[4], B[1], C[1], D[4];
    CHECK(train(s, pack, 4, ck_pack, end, 1, A, &err) == 0);
    CHECK(train(s, one, 1, ck_one, end, 1, B, &err) == 0);
    size_t na, nb;
    unsigned char *fa = slurp(ck_pack, &na), *fb = slurp(ck_one, &nb);
    CHECK(fa && fb);
    CHECK(!memcmp(fa + params_offset(4, cap, P, 2), fb + params_offset(1, cap, P, 0), P * 4));
    CHECK(same_result(&A[2], &B[0], nL));
    CHECK(A[2].status == DS_RUN_DONE && A[2].n_curve == 4 && A[2].steps_done == 20);
    CHECK(!same_result(&A[1], &B[0], nL)); /* sanity: other seeds differ */
    if (g_prec != DS_PREC_FP32) {
        /* the rounded path is taken: the same seed at fp32 ends elsewhere */
        ds_run_result F[1];
        char ck_f[300];
        snprintf(ck_f, sizeof ck_f, "%s/fp32.ckpt", dir);
        s->train.precision = DS_PREC_FP32;
        CHECK(train(s, one, 1, ck_f, end, 1, F, &err) == 0);
        s->train.precision = g_prec;
        CHECK_MSG(!same_result(&F[0], &B[0], nL) && F[0].final_loss != B[0].final_loss,
                  "%s trains exactly as fp32", ds_precision_name(g_prec));
        printf("seed 7 after 20 steps: final loss fp32 %.7f, %s %.7f\n", F[0].final_loss,
               ds_precision_name(g_prec), B[0].final_loss);
        ds_run_result_free(&F[0]);
        unlink(ck_f);
    }
    printf("pack of 4 vs alone: seed 7 em@3 %.3f em@6 %.3f loss %.4f, curve %.3f .. %.3f\n",
           A[2].metrics[0][DS_M_EM], A[2].metrics[1][DS_M_EM], A[2].final_loss, A[2].curve[0],
           A[2].curve[3]);

    /* B1: seed 7 alone on one thread: the thread count changes no bit either. */
    {
        int nth = omp_get_max_threads();
        ds_run_result B1[1];
        omp_set_num_threads(1);
        CHECK(train(s, one, 1, ck_one, end, 1, B1, &err) == 0);
        omp_set_num_threads(nth);
        size_t n1;
        unsigned char *f1 = slurp(ck_one, &n1);
        CHECK(f1 && n1 == nb && !memcmp(f1 + params_offset(1, cap, P, 0), fb + params_offset(1, cap, P, 0), 3 * P * 4));
        CHECK(same_result(&B1[0], &B[0], nL));
        ds_run_result_free(&B1[0]);
        free(f1);
    }

    /* C: seed 7 alone, stopped at 7 (mid log window) and 13, resumed each time. */
    int64_t stops[3] = {7, 13, 20};
    CHECK(train(s, one, 1, ck_resume, stops, 3, C, &err) == 0);
    size_t nc;
    unsigned char *fc = slurp(ck_resume, &nc);
    CHECK(fc && nc == nb);
    CHECK(!memcmp(fc + params_offset(1, cap, P, 0), fb + params_offset(1, cap, P, 0), 3 * P * 4));
    CHECK(same_result(&C[0], &B[0], nL));

    /* E: a stop during the evaluation: checkpoint, exit "interrupted"; the
     * resumed call evaluates again and gives the same bits. */
    {
        callcount cc = {0, 20 + 2}; /* 20 training steps, then the 2nd evaluation batch */
        ds_train_opts oe = {.backend = DS_BACKEND_CPU, .ckpt_path = ck_resume, .hook = count_hook, .hook_ctx = &cc};
        ds_run_result E[1];
        unlink(ck_resume);
        CHECK(ds_train_pack(s, 0, one, 1, &oe, E, &err) == DS_EXIT_INTERRUPTED);
        CHECK(cc.calls == 22);
        oe.hook = NULL;
        CHECK(ds_train_pack(s, 0, one, 1, &oe, E, &err) == 0);
        CHECK(same_result(&E[0], &B[0], nL));
        ds_run_result_free(&E[0]);
    }

    /* D: the pack again, but seed 5's weights blown up at step 10. */
    int64_t ten[1] = {10};
    hookctx h = {10};
    ds_train_opts o = {.backend = DS_BACKEND_CPU, .ckpt_path = ck_div, .hook = stop_hook, .hook_ctx = &h};
    unlink(ck_div);
    CHECK(ds_train_pack(s, 0, pack, 4, &o, D, &err) == DS_EXIT_INTERRUPTED);
    (void)ten;
    size_t nd;
    unsigned char *fd = slurp(ck_div, &nd);
    float *w = (float *)(fd + params_offset(4, cap, P, 1));
    for (size_t i = 0; i < P; i++) w[i] = 1e30f;
    recompute_checksum(fd, nd);
    spit(ck_div, fd, nd);
    int64_t rest[1] = {20};
    h.stop_at = rest[0];
    CHECK(ds_train_pack(s, 0, pack, 4, &o, D, &err) == DS_EXIT_INTERRUPTED);
    free(fd);
    fd = slurp(ck_div, &nd);
    o.hook = NULL;
    CHECK(ds_train_pack(s, 0, pack, 4, &o, D, &err) == 0);
    CHECK(D[1].status == DS_RUN_DIVERGED);
    CHECK(isnan(D[1].final_loss) && D[1].metrics[0][DS_M_EM] == 0.0f && D[1].id_em == 0.0f);
    CHECK(isnan(D[1].curve[3]) && D[1].curve[0] == A[1].curve[0]);
    for (int r = 0; r < 4; r++) {
        if (r == 1) continue;
        CHECK_MSG(same_result(&D[r], &A[r], nL), "replica %d disturbed by a diverged neighbour", r);
        CHECK(!memcmp(fd + params_offset(4, cap, P, r), fa + params_offset(4, cap, P, r), P * 4));
    }

    /* Refusals (ds_ckpt_load): a corrupt byte, a different pack, a different
     * schedule, a missing file. A damaged file says why in a few words and
     * leaves the model and the state as they were. */
    fc[nc / 2] ^= 1;
    spit(ck_resume, fc, nc);
    {
        ds_backend_opts bo = {.kind = DS_BACKEND_CPU, .precision = s->train.precision};
        ds_backend *be = NULL;
        ds_model *m = NULL;
        ds_model_config cfg = ds_model_config_from_sweep(s, 0, 1);
        CHECK(ds_backend_create(&bo, &be, &err) == 0 && ds_model_create(&cfg, be, &m, &err) == 0);
        ds_model_init_replica(m, 0, 7);
        float *before = malloc(P * 4), *after = malloc(P * 4), curve[4] = {1, 2, 3, 4}, last = 0.5f;
        uint8_t act = 1;
        double win = 0.25;
        ds_model_get_params(m, 0, before);
        ds_ckpt_state st = {.batch = s->train.batch, .context = s->train.context,
                            .steps = s->train.steps, .sweep_hash = s->yaml_hash, .seeds = one,
                            .curve_cap = cap, .active = &act, .last_loss = &last, .window = &win,
                            .curve = curve};
        const char *why = "x";
        CHECK(ds_ckpt_load(ck_resume, m, &st, &why, &err) == DS_EXIT_ERROR);
        CHECK_MSG(why && !strcmp(why, "checksum mismatch"), "%s", why ? why : "(not damaged)");
        CHECK_MSG(strstr(err.msg, ck_resume) && strstr(err.msg, "checksum"), "%s", err.msg);
        ds_model_get_params(m, 0, after);
        CHECK(!memcmp(before, after, P * 4) && st.step == 0 && st.n_curve == 0 && act == 1 &&
              last == 0.5f && win == 0.25 && curve[3] == 4);
        int64_t other[1] = {8};
        st.seeds = other;
        CHECK(ds_ckpt_load(ck_one, m, &st, &why, &err) == DS_EXIT_ERROR);
        CHECK(why && !strcmp(why, "made for a different pack"));
        CHECK_MSG(strstr(err.msg, "seed 7 in the file, 8 here") != NULL, "%s", err.msg);
        st.seeds = one, st.steps = 30;
        CHECK(ds_ckpt_load(ck_one, m, &st, &why, &err) == DS_EXIT_ERROR);
        CHECK(why && !strcmp(why, "made for a different pack"));
        CHECK_MSG(strstr(err.msg, "train.steps is 20 in the file, 30 here") != NULL, "%s", err.msg);
        st.steps = s->train.steps;
        char missing[320];
        snprintf(missing, sizeof missing, "%s/missing.ckpt", dir);
        /* a checkpoint of a machine of the other byte order (its version
         * reads right byte-swapped) is refused as such, and is damage */
        {
            size_t nbo;
            unsigned char *bo = slurp(ck_one, &nbo);
            char ck_bo[320];
            snprintf(ck_bo, sizeof ck_bo, "%s/byteorder.ckpt", dir);
            uint32_t v;
            memcpy(&v, bo + 8, 4);
            v = __builtin_bswap32(v);
            memcpy(bo + 8, &v, 4);
            spit(ck_bo, bo, nbo);
            free(bo);
            CHECK(ds_ckpt_load(ck_bo, m, &st, &why, &err) == DS_EXIT_ERROR);
            CHECK(why && !strcmp(why, "other byte order"));
            CHECK_MSG(strstr(err.msg, "other byte order") != NULL, "%s", err.msg);
            CHECK(ds_ckpt_check(ck_bo, &err) == DS_EXIT_ERROR &&
                  strstr(err.msg, "other byte order") != NULL);
            CHECK(ds_ckpt_check(ck_one, &err) == 0);
            unlink(ck_bo);
        }
        CHECK(ds_ckpt_load(missing, m, &st, &why, &err) == DS_EXIT_ERROR && why == NULL);
        /* a read that fails (here EISDIR: a directory opens, but does not
         * read) is the storage's, and the file is not judged */
        CHECK(ds_ckpt_load(dir, m, &st, &why, &err) == DS_EXIT_STORAGE && why == NULL);
        CHECK_MSG(strstr(err.msg, "cannot read") != NULL, "%s", err.msg);
        ds_model_get_params(m, 0, after);
        CHECK(!memcmp(before, after, P * 4) && st.step == 0);
        CHECK(ds_ckpt_load(ck_one, m, &st, &why, &err) == 0 && why == NULL && st.step == 20);
        free(before);
        free(after);
        ds_model_free(m);
        be->destroy(be);
    }

    /* ... ds_train_pack as `train --checkpoint` refuses it, untouched; as
     * `run` (set_aside_damaged) it sets it aside (PATH.damaged-<time>) and
     * trains the pack from its start: the same bits as a fresh pack. */
    ds_train_opts o2 = {.backend = DS_BACKEND_CPU, .ckpt_path = ck_resume};
    ds_run_result X[4];
    CHECK(ds_train_pack(s, 0, one, 1, &o2, X, &err) == DS_EXIT_ERROR);
    CHECK_MSG(strstr(err.msg, "checksum") != NULL, "%s", err.msg);
    CHECK(access(ck_resume, F_OK) == 0 && n_aside(dir, "resume.ckpt.damaged-") == 0);
    o2.set_aside_damaged = 1;
    CHECK(ds_train_pack(s, 0, one, 1, &o2, X, &err) == 0);
    CHECK(same_result(&X[0], &B[0], nL));
    ds_run_result_free(&X[0]);
    CHECK(access(ck_resume, F_OK) != 0);
    CHECK(n_aside(dir, "resume.ckpt.damaged-") == 1);
    fa[0] = 'X';
    spit(ck_pack, fa, na);
    o2.ckpt_path = ck_pack;
    CHECK(ds_train_pack(s, 0, pack, 4, &o2, X, &err) == 0);
    for (int r = 0; r < 4; r++) {
        CHECK_MSG(same_result(&X[r], &A[r], nL), "replica %d after a bad magic", r);
        ds_run_result_free(&X[r]);
    }
    CHECK(n_aside(dir, "pack.ckpt.damaged-") == 1);
    remove_aside(dir);

    for (int r = 0; r < 4; r++) {
        ds_run_result_free(&A[r]);
        ds_run_result_free(&D[r]);
    }
    ds_run_result_free(&B[0]);
    ds_run_result_free(&C[0]);
    free(fa);
    free(fb);
    free(fc);
    free(fd);
    unlink(ck_pack);
    unlink(ck_one);
    unlink(ck_resume);
    unlink(ck_div);
    ds_sweep_free(s);
}

/* Two examples of three positions, V = 3; logits are log-probabilities, so
 * the expected metrics are written with the probabilities themselves. */
static void test_metrics(void) {
    ds_backend *be = test_backend(DS_BACKEND_CPU, 1);
    /* rows: probabilities over 3 tokens; target id */
    const float probs[6][3] = {
        {0.25f, 0.5f, 0.25f}, /* ex 0, t0: target 1, p .5, argmax right */
        {0.5f, 0.25f, 0.25f}, /* ex 0, t1: target 1, p .25, argmax wrong */
        {0.1f, 0.1f, 0.8f},   /* ex 0, t2: unscored, wrong: must not count */
        {0.7f, 0.2f, 0.1f},   /* ex 1, t0: target 0, p .7 */
        {0.05f, 0.05f, 0.9f}, /* ex 1, t1: target 2, p .9 */
        {0.2f, 0.3f, 0.5f},   /* ex 1, t2: target 2, p .5 */
    };
    const int32_t tgt[6] = {1, 1, 0, 0, 2, 2};
    const uint8_t scored[6] = {1, 1, 0, 1, 1, 1};
    float logits[18];
    for (int i = 0; i < 6; i++)
        for (int v = 0; v < 3; v++) logits[i * 3 + v] = logf(probs[i][v]) + 0.3f * i; /* shift-invariant */
    float *dl = be->alloc(be, sizeof logits), *ds = be->alloc(be, sizeof(float) * 18);
    int32_t *dt = be->alloc(be, sizeof tgt);
    be->upload(be, dl, logits, sizeof logits);
    be->upload(be, dt, tgt, sizeof tgt);
    be->token_stats(be, ds, ds + 6, ds + 12, dl, dt, 1, 6, 3);
    float st[18];
    be->download(be, st, ds, sizeof st);
    ds_metric_acc acc = {0};
    ds_metric_acc_example(&acc, st, st + 6, st + 12, scored, 3);
    ds_metric_acc_example(&acc, st + 3, st + 9, st + 15, scored + 3, 3);
    float m[DS_N_METRICS];
    ds_metric_acc_finish(&acc, m);
    CHECK_NEAR(m[DS_M_EM], 0.5, 1e-7);
    CHECK_NEAR(m[DS_M_ERROR], 0.5 * (log(4.0) + log(2.0)), 1e-5); /* max CE: -ln .25 and -ln .5 */
    CHECK_NEAR(m[DS_M_MINPROB], 0.5 * (0.25 + 0.5), 1e-6);
    CHECK_NEAR(m[DS_M_TOKEN_ACC], 4.0 / 5.0, 1e-7);
    CHECK_NEAR(m[DS_M_LOSS], -(log(0.5) + log(0.25) + log(0.7) + log(0.9) + log(0.5)) / 5, 1e-5);
    be->free(be, dl);
    be->free(be, ds);
    be->free(be, dt);
    be->destroy(be);
}

/* The engine's step runs on the backend and its losses are read a ring of
 * up to 64 steps at a time (src/step.h, src/engine.c). Against the host
 * path, one synchronous step at a time (ds_model_forward's losses,
 * ds_optim_step's clipping and freeze on the host), its loss curve and last
 * loss must be the same bits, here with log_every 70 > 64 so that the ring is
 * also read in the middle of a window. */
static void test_ring_matches_host_steps(void) {
    static const char *RING_SWEEP =
        "name: ring-test\n"
        "task: {kind: count, vocab: 20, train_length: [1, 4], eval_lengths: [3]}\n"
        "model: {head_dim: 32, block: parallel, rotary_frac: 0.25}\n"
        "train: {steps: 140, batch: 6, context: 24, lr: 3.0e-3, warmup: 10, grad_clip: 0.5,\n"
        "        log_every: 70}\n"
        "seeds: {start: 0, count: 3}\n"
        "scales:\n"
        "  - {family: width, depth: 1, width: [64]}\n";
    ds_sweep *s = NULL;
    ds_error err = {0};
    CHECK(ds_sweep_load_text("ring-test.yaml", RING_SWEEP, &s, &err) == 0);
    if (!s) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    s->train.precision = g_prec;
    enum { R = 3 };
    int64_t seeds[R] = {4, 11, 2};
    ds_run_result res[R];
    ds_train_opts o = {.backend = DS_BACKEND_CPU};
    CHECK(ds_train_pack(s, 0, seeds, R, &o, res, &err) == 0);

    ds_backend_opts bo = {.kind = DS_BACKEND_CPU, .precision = g_prec};
    ds_backend *be = NULL;
    ds_model *m = NULL;
    CHECK(ds_backend_create(&bo, &be, &err) == 0);
    ds_model_config cfg = ds_model_config_from_sweep(s, 0, R);
    CHECK(ds_model_create(&cfg, be, &m, &err) == 0);
    for (int r = 0; r < R; r++) ds_model_init_replica(m, r, (uint64_t)seeds[r]);
    const ds_task_ops *ops = ds_task_get(&s->task);
    int B = s->train.batch, ctx = s->train.context;
    int32_t *tok = malloc(sizeof(int32_t) * R * B * ctx);
    uint8_t *mask = malloc((size_t)R * B * ctx), active[R] = {1, 1, 1};
    float loss[R], curve[R][2], last[R];
    double window[R] = {0};
    for (int64_t t = 0; t < s->train.steps; t++) {
        for (int r = 0; r < R; r++)
            for (int b = 0; b < B; b++)
                ops->train_row(&s->task, (uint64_t)seeds[r], (uint64_t)t * B + b, ctx,
                               tok + ((size_t)r * B + b) * ctx, mask + ((size_t)r * B + b) * ctx);
        ds_model_set_batch(m, tok, mask, B, ctx - 1);
        ds_model_forward(m, loss);
        ds_model_backward(m);
        for (int r = 0; r < R; r++)
            if (!isfinite(loss[r])) active[r] = 0;
        ds_optim_step(m, &s->train, t, active, NULL);
        for (int r = 0; r < R; r++) {
            last[r] = active[r] ? loss[r] : NAN;
            window[r] += last[r];
            if ((t + 1) % 70 == 0) {
                curve[r][t / 70] = (float)(window[r] / 70);
                window[r] = 0;
            }
        }
    }
    for (int r = 0; r < R; r++) {
        CHECK_MSG(res[r].status == DS_RUN_DONE && res[r].n_curve == 2, "ring replica %d", r);
        CHECK_MSG(!memcmp(&res[r].final_loss, &last[r], sizeof(float)), "replica %d last loss %.9g "
                  "(ring) vs %.9g (host steps)", r, res[r].final_loss, last[r]);
        CHECK_MSG(!memcmp(res[r].curve, curve[r], sizeof curve[r]), "replica %d curve %.9g %.9g "
                  "(ring) vs %.9g %.9g", r, res[r].curve[0], res[r].curve[1], curve[r][0], curve[r][1]);
        printf("ring vs host steps, replica %d: last loss %.7f, curve %.7f %.7f\n", r, last[r],
               curve[r][0], curve[r][1]);
    }
    for (int r = 0; r < R; r++) ds_run_result_free(&res[r]);
    free(tok);
    free(mask);
    ds_model_free(m);
    be->destroy(be);
    ds_sweep_free(s);
}

/* Block llama (grouped-query: 2 kv heads of 4, qkv bias, tied embeddings):
 * seed 7 in a pack of 3 equals seed 7 alone, and a run stopped at step 8 and
 * resumed from its checkpoint ends with the same bits. */
static void test_llama_pack(void) {
    static const char *LLAMA_SWEEP =
        "name: engine-llama\n"
        "task: {kind: count, vocab: 20, train_length: [1, 4], eval_lengths: [3, 6]}\n"
        "model: {head_dim: 16, block: llama, kv_heads: 2, qkv_bias: true, tie_embeddings: true}\n"
        "train: {steps: 16, batch: 72, context: 32, lr: 3.0e-3, warmup: 4, weight_decay: 0.1,\n"
        "        log_every: 4}\n"
        "seeds: {start: 0, count: 10}\n"
        "scales:\n"
        "  - {family: width, depth: 1, width: [64]}\n"
        "run: {checkpoint_every: 1000}\n";
    ds_sweep *s = NULL;
    ds_error err = {0};
    CHECK(ds_sweep_load_text("engine-llama.yaml", LLAMA_SWEEP, &s, &err) == 0);
    if (!s) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    s->train.precision = g_prec;
    int nL = s->task.n_eval_lengths, cap = 16 / 4;
    size_t P = s->scales[0].n_params;
    char ck_pack[300], ck_one[300], ck_resume[300];
    snprintf(ck_pack, sizeof ck_pack, "%s/llama-pack.ckpt", dir);
    snprintf(ck_one, sizeof ck_one, "%s/llama-one.ckpt", dir);
    snprintf(ck_resume, sizeof ck_resume, "%s/llama-resume.ckpt", dir);
    int64_t pack[3] = {5, 7, 9}, one[1] = {7}, end[1] = {16}, stops[2] = {8, 16};
    ds_run_result A[3], B[1], C[1];
    CHECK(train(s, pack, 3, ck_pack, end, 1, A, &err) == 0);
    CHECK(train(s, one, 1, ck_one, end, 1, B, &err) == 0);
    CHECK(train(s, one, 1, ck_resume, stops, 2, C, &err) == 0);
    size_t na, nb, nc;
    unsigned char *fa = slurp(ck_pack, &na), *fb = slurp(ck_one, &nb), *fc = slurp(ck_resume, &nc);
    CHECK(fa && fb && fc);
    if (fa && fb && fc) {
        CHECK(!memcmp(fa + params_offset(3, cap, P, 1), fb + params_offset(1, cap, P, 0), P * 4));
        CHECK(nb == nc && !memcmp(fb + params_offset(1, cap, P, 0), fc + params_offset(1, cap, P, 0), P * 4));
    }
    CHECK(same_result(&A[1], &B[0], nL));
    CHECK(same_result(&C[0], &B[0], nL));
    CHECK(A[1].status == DS_RUN_DONE && A[1].steps_done == 16 && isfinite(A[1].final_loss));
    CHECK(!same_result(&A[0], &B[0], nL)); /* sanity: other seeds differ */
    printf("llama pack of 3 vs alone vs resumed: seed 7 loss %.5f, curve %.3f .. %.3f\n",
           A[1].final_loss, A[1].curve[0], A[1].curve[3]);
    for (int r = 0; r < 3; r++) ds_run_result_free(&A[r]);
    ds_run_result_free(&B[0]);
    ds_run_result_free(&C[0]);
    free(fa), free(fb), free(fc);
    unlink(ck_pack), unlink(ck_one), unlink(ck_resume);
    ds_sweep_free(s);
}

int main(int argc, char **argv) {
    g_prec = test_precision_arg(argc, argv);
    snprintf(dir, sizeof dir, "/tmp/ds_engine_test_%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd)) return 1;
    test_metrics();
    test_ring_matches_host_steps();
    test_training();
    test_llama_pack();
    rmdir(dir);
    TEST_MAIN_END();
}
