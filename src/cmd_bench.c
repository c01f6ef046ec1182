/* cmd_bench: `distsweep bench SWEEP.yaml --backend cpu|cuda|auto --scale S
 * --pack R` times training steps of one pack and prints steps/s, tokens/s and
 * achieved GFLOP/s (the sweep's flops_per_step convention: sweep.h), with the
 * host time split into data, forward, backward and optimizer. The steps are
 * the engine's own (ds_step_run, src/step.h) on seeds 0..R-1, their losses
 * read a ring at a time as the engine reads them. Throughput is wall time
 * from an idle backend to the last read, so on a GPU it counts what the
 * device ran, not what the host enqueued. With --mc FILE.bin it times instead
 * the scoring of a multiple-choice set by the pack (src/mceval.h): items/s
 * and seconds per seed. A figure-printing command, never a pass/fail test. */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cli.h"
#include "common.h"
#include "hfmodel.h"
#include "mceval.h"
#include "mcfile.h"
#include "model.h"
#include "step.h"
#include "sweep.h"

/* Steps between two reads of the losses: few, so that step_s_min (the
 * fastest read interval, per step) sees single disturbances. */
enum { BENCH_RING = 8 };

/* Waits for the steps run since the last read; returns how many. */
static int drain(ds_step *st) {
    const float *loss;
    int64_t first;
    return ds_step_read(st, &loss, &first);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: distsweep bench SWEEP.yaml [--backend cpu|cuda|auto] [--scale S] [--pack R]\n"
            "                       [--steps N] [--warmup-steps W] [--precision fp32|tf32|bf16]\n"
            "                       [--format text|json] [--mc FILE.bin]\n\n"
            "Times N training steps (after W untimed ones) of a pack of R replicas (seeds\n"
            "0..R-1) of scale S (a row of 'distsweep plan', 0, 1, ..., or a scale's name,\n"
            "d64_L2) with the sweep's batch and context: data, forward, backward,\n"
            "AdamW, the engine's own step. Prints steps/s, tokens/s and achieved GFLOP/s\n"
            "(training FLOPs as in 'distsweep plan').\n"
            "--backend: cpu (default), cuda (GPU 0), or auto (cuda when this build has CUDA\n"
            "and a GPU is visible, else cpu).\n"
            "Threads (cpu): OMP_NUM_THREADS; unset, all cores (split between the unbound MPI\n"
            "ranks of a node). OpenBLAS itself runs single-threaded on our tiles.\n"
            "--precision: of every matrix product (default: the sweep's train.precision;\n"
            "docs/engine.md \"Precision\"); tf32 and bf16 on the cpu backend (cuda: refused\n"
            "until verified on a GPU, docs/cuda.md).\n"
            "--mc FILE.bin: instead, time the pack's scoring of a multiple-choice set (src/mceval.h;\n"
            "tools/bench/bench_mc.sh makes a synthetic one): items/s and seconds per seed, the\n"
            "replicas at their initialization (the time does not depend on the values).\n"
            "defaults: --backend cpu --scale 0 --pack 1 --steps 5 --warmup-steps 1 --format text\n");
}

/* Times one scoring of the set in path by the pack m (see usage); prints the
 * figures. Returns 0 or an error code with err set (a bad file: DS_EXIT_USAGE). */
static int bench_mc(ds_model *m, const ds_sweep *s, int scale, const char *path, int json, ds_error *err) {
    ds_mc_set *set = NULL;
    int R = m->cfg.R, rc = ds_mc_load(path, m->cfg.V, s->train.context, &set, err);
    if (rc) return rc;
    float *acc = DS_MALLOC(sizeof(float) * R), *nll = DS_MALLOC(sizeof(float) * R);
    ds_mceval_out o = {acc, nll, NULL, NULL};
    /* the positions the forwards compute: an item of one-token choices is one row (src/mceval.h) */
    double positions = 0;
    for (int i = 0; i < set->n_items; i++) {
        int one = 1;
        for (int k = 0; k < set->K; k++) one &= set->cont_len[(size_t)i * set->K + k] == 1;
        for (int k = 0; k < (one ? 1 : set->K); k++)
            positions += set->ctx_len[i] + set->cont_len[(size_t)i * set->K + k] - 1;
    }
    double t0 = ds_now();
    rc = ds_mceval_score(m, set, 0, &o, NULL, NULL, err);
    double wall = ds_now() - t0;
    const ds_scale *sc = &s->scales[scale];
    if (!rc && json)
        printf("{\"backend\": \"%s\", \"scale\": %d, \"d_model\": %d, \"n_layers\": %d, \"vocab\": %d, "
               "\"pack\": %d, \"capacity\": [%d, %d], \"threads\": %d, \"items\": %d, \"choices\": %d, "
               "\"positions\": %.0f, \"seconds\": %.3f, \"items_per_s\": %.2f, \"seconds_per_seed\": %.3f, "
               "\"positions_per_s\": %.1f}\n", m->be->name, scale, sc->d_model, sc->n_layers, m->cfg.V, R,
               m->cfg.B, m->cfg.T, m->be->threads, set->n_items, set->K, positions, wall,
               R * set->n_items / wall, wall / R, R * positions / wall);
    else if (!rc)
        printf("bench --mc %s: scale %d (d=%d, L=%d, vocab %d), pack %d, capacity %d x %d, %d threads\n"
               "  %d items x %d choices, %.0f positions a seed scored: %.3f s, %.2f items/s (seed-items), "
               "%.3f s per seed, %.0f positions/s\n", m->be->name, scale, sc->d_model, sc->n_layers,
               m->cfg.V, R, m->cfg.B, m->cfg.T, m->be->threads, set->n_items, set->K, positions, wall,
               R * set->n_items / wall, wall / R, R * positions / wall);
    free(acc);
    free(nll);
    ds_mc_free(set);
    return rc;
}

int ds_cmd_bench(int argc, char **argv) {
    if (ds_cli_wants_help(argc, argv)) {
        usage(stdout);
        return DS_EXIT_OK;
    }
    const char *path = NULL, *format = "text", *scale_arg = "0", *mc = NULL;
    int scale = 0, R = 1, steps = 5, warm = 1;
    ds_backend_kind kind = DS_BACKEND_CPU;
    int prec = -1; /* -1: the sweep's */
    ds_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        /* a timed step of a replica at least; warm-up steps may be none */
        if (!strcmp(a, "--pack") || !strcmp(a, "--steps") || !strcmp(a, "--warmup-steps")) {
            int *dst = !strcmp(a, "--pack") ? &R : !strcmp(a, "--steps") ? &steps : &warm;
            if (ds_cli_int(a, v, dst == &warm ? 0 : 1, INT_MAX, dst, &err)) {
                fprintf(stderr, "distsweep bench: %s\n", err.msg);
                return DS_EXIT_USAGE;
            }
            i++;
        } else if (!strcmp(a, "--scale") && v) {
            scale_arg = v; /* a row or a name: read once the sweep is loaded */
            i++;
        } else if (!strcmp(a, "--backend") && v) {
            ds_error perr = {0};
            if (ds_backend_kind_parse(v, &kind, &perr)) {
                fprintf(stderr, "distsweep bench: --backend: %s\n", perr.msg);
                return DS_EXIT_USAGE;
            }
            i++;
        } else if (!strcmp(a, "--precision") && v) {
            ds_precision pv;
            if (ds_precision_parse(v, &pv) == 0) prec = (int)pv;
            else {
                fprintf(stderr, "distsweep bench: --precision: '%s' is not fp32, tf32 or bf16\n", v);
                return DS_EXIT_USAGE;
            }
            i++;
        } else if (!strcmp(a, "--format") && v && (!strcmp(v, "text") || !strcmp(v, "json"))) {
            format = v;
            i++;
        } else if (!strcmp(a, "--mc") && v) {
            mc = v;
            i++;
        } else if (a[0] == '-' || path) {
            fprintf(stderr, "distsweep bench: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return DS_EXIT_USAGE;
        } else {
            path = a;
        }
    }
    if (!path) {
        usage(stderr);
        return DS_EXIT_USAGE;
    }
    ds_sweep *loaded = NULL;
    if (ds_sweep_load(path, &loaded, &err) || ds_hf_attach(loaded, &err)) { /* model.init's base */
        fprintf(stderr, "distsweep: %s\n", err.msg);
        ds_sweep_free(loaded);
        return err.code ? err.code : DS_EXIT_USAGE;
    }
    int rc = DS_EXIT_ERROR;
    ds_backend *be = NULL;
    ds_model *m = NULL;
    uint8_t *active = NULL;
    int64_t *seeds = NULL;
    ds_step st = {0};
    ds_sweep *s = NULL; /* the sweep as the scale's condition trains it (src/sweep.h) */
    if (ds_sweep_attach_data(loaded, &err)) { /* the corpus's shards */
        fprintf(stderr, "distsweep: %s\n", err.msg);
        rc = err.code;
        goto done;
    }
    if (ds_cli_scale(loaded, scale_arg, &scale, &err)) {
        fprintf(stderr, "distsweep bench: %s\n", err.msg);
        rc = DS_EXIT_USAGE;
        goto done;
    }
    s = ds_sweep_condition(loaded, scale);
    if (prec >= 0) s->train.precision = (ds_precision)prec;
    ds_backend_opts bo = {.kind = kind, .precision = s->train.precision};
    if ((rc = ds_backend_create(&bo, &be, &err))) goto fail;
    ds_model_config cfg = ds_model_config_from_sweep(s, scale, R);
    if ((rc = ds_model_create(&cfg, be, &m, &err))) goto fail;
    seeds = DS_MALLOC(sizeof(int64_t) * R);
    for (int r = 0; r < R; r++) seeds[r] = r;
    for (int r = 0; r < R; r++) ds_model_init_replica(m, r, (uint64_t)seeds[r]);
    if (mc) {
        if ((rc = bench_mc(m, s, scale, mc, !strcmp(format, "json"), &err))) goto fail;
        goto done;
    }
    int B = s->train.batch, ctx = s->train.context;
    active = DS_MALLOC(R);
    memset(active, 1, R);
    if ((rc = ds_step_init(&st, s, m, seeds, R, NULL, be->threads, 0, active, BENCH_RING, &err)))
        goto fail;
    double t[4] = {0}; /* data, forward, backward, optimizer: host time of each part */
    double tmin = INFINITY; /* fastest read interval, per step: the least disturbed */
    double t_begin = 0, t_read = 0; /* start of the timed steps; the last read */
    for (int step = 0; step < warm + steps; step++) {
        if (step == warm) { /* the timed steps start on an idle backend */
            drain(&st);
            t_begin = t_read = ds_now();
        }
        ds_step_times tt;
        ds_step_run(&st, step, &tt);
        if (step >= warm) {
            t[0] += tt.data;
            t[1] += tt.forward;
            t[2] += tt.backward;
            t[3] += tt.optimizer;
        }
        if (ds_step_pending(&st) == BENCH_RING || step + 1 == warm + steps) {
            int n = drain(&st);
            double now = ds_now();
            if (step >= warm && (now - t_read) / n < tmin) tmin = (now - t_read) / n;
            t_read = now;
        }
    }
    double total = ds_now() - t_begin, sps = steps / total; /* reads (waits) included */
    double tokens = (double)R * B * (ctx - 1) * sps;
    const ds_scale *sc = &s->scales[scale];
    double gflops = R * sc->flops_per_step * sps / 1e9;
    const char *core = openblas_get_corename();
    const char *env = getenv("OPENBLAS_CORETYPE");
    int nth = be->threads;
    if (!strcmp(format, "json")) {
        printf("{\"backend\": \"%s\", \"graphs\": %s, \"scale\": %d, \"d_model\": %d, \"n_layers\": %d, \"pack\": %d, "
               "\"batch\": %d, \"context\": %d, \"steps\": %d, \"threads\": %d, "
               "\"openblas_core\": \"%s\", \"openblas_coretype_env\": \"%s\", "
               "\"step_s\": %.6f, \"step_s_min\": %.6f, \"steps_per_s\": %.4f, "
               "\"tokens_per_s\": %.1f, \"gflops\": %.2f, "
               "\"data_s\": %.6f, \"forward_s\": %.6f, \"backward_s\": %.6f, \"optimizer_s\": %.6f}\n",
               be->name, be->capture_begin ? "true" : "false", scale, sc->d_model, sc->n_layers,
               R, B, ctx, steps, nth, core, env ? env : "", total / steps, tmin, sps, tokens, gflops, t[0] / steps, t[1] / steps,
               t[2] / steps, t[3] / steps);
    } else {
        printf("bench %s%s: scale %d (d=%d, L=%d, %lld params), pack %d, batch %d x %d, %d threads, "
               "OpenBLAS core %s%s%s%s\n",
               be->name, be->capture_begin ? " (graphs)" : "", scale, sc->d_model, sc->n_layers, (long long)sc->n_params, R, B, ctx, nth,
               core, env ? " (OPENBLAS_CORETYPE=" : "", env ? env : "", env ? ")" : "");
        printf("  %.4f s/step (fastest %.4f)  %.3f steps/s  %.0f tokens/s  %.1f GFLOP/s\n",
               total / steps, tmin, sps, tokens, gflops);
        printf("  per step: data %.4f s, forward %.4f s, backward %.4f s, optimizer %.4f s\n",
               t[0] / steps, t[1] / steps, t[2] / steps, t[3] / steps);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "distsweep: %s\n", err.msg);
done:
    ds_step_free(&st); /* before the model and backend its buffers live on */
    ds_model_free(m);
    if (be) be->destroy(be);
    free(seeds);
    free(active);
    free(s); /* the condition's copy; then the sweep it borrows from */
    ds_sweep_free(loaded);
    return rc;
}
