/* cmd_train: `distsweep train SWEEP.yaml --scale S --seeds 0,1,2` trains one
 * pack of seeds of one scale in this process (no MPI, no result file) and
 * prints progress and each seed's final metrics; the scheduler runs the same
 * ds_train_pack. SIGINT/SIGTERM/SIGUSR1 stop at the next step boundary and, with
 * --checkpoint, save the pack (exit 3); running the same command again
 * resumes from that file. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "backend.h"
#include "engine.h"
#include "hfmodel.h"
#include "signals.h"
#include "sweep.h"

#define MAX_SEEDS 1024

static void usage(FILE *f) {
    fprintf(f,
            "usage: distsweep train SWEEP.yaml --scale S --seeds S1,S2,... [options]\n\n"
            "Trains the seeds as one pack (lock-step replicas) of scale S (a row of\n"
            "'distsweep plan' or a scale's name), then evaluates every eval length and\n"
            "prints the metrics.\n\n"
            "options:\n"
            "  --scale S          a row of the scale table (0, 1, ...) or a scale's name\n"
            "                     (d64_L2); default 0\n"
            "  --seeds LIST       comma-separated job seeds, or A-B for a range (default 0)\n"
            "  --steps N          train N steps instead of train.steps (the schedule is\n"
            "                     rescaled to N; warmup is kept if smaller than N, else N/10)\n"
            "  --checkpoint FILE  resume from FILE if it exists; write it every\n"
            "                     run.checkpoint_every steps and on a stop signal (exit 3)\n"
            "  --backend B        auto, cpu or cuda (default: the sweep's run.backend); auto\n"
            "                     is cuda when this build has CUDA and a GPU is visible,\n"
            "                     else cpu\n"
            "  --format text|json final metrics as text (default) or one JSON object\n"
            "  --quiet            no progress lines\n");
}

static int parse_seeds(const char *s, int64_t *out, int *n) {
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long long a = strtoll(p, &end, 10), b;
        if (end == p || errno) return -1;
        b = a;
        if (*end == '-') {
            p = end + 1;
            b = strtoll(p, &end, 10);
            if (end == p || b < a) return -1;
        }
        for (long long v = a; v <= b; v++) {
            if (*n >= MAX_SEEDS) return -1;
            out[(*n)++] = v;
        }
        if (*end == ',') end++;
        else if (*end) return -1;
        p = end;
    }
    return *n ? 0 : -1;
}

static int stop_hook(void *ctx, int64_t step, int R, const float *losses) {
    (void)ctx; (void)step; (void)R; (void)losses;
    return ds_signals_stop_requested() != 0;
}

static void json_float(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fprintf(f, "null");
}

int ds_cmd_train(int argc, char **argv) {
    if (ds_cli_wants_help(argc, argv)) {
        usage(stdout);
        return DS_EXIT_OK;
    }
    const char *path = NULL, *ckpt = NULL, *format = "text", *scale_arg = "0";
    int scale = 0, quiet = 0, nseeds = 1;
    int64_t steps = 0;
    ds_error err = {0};
    int64_t seeds[MAX_SEEDS] = {0};
    ds_backend_kind backend = DS_BACKEND_AUTO;
    int backend_set = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--scale") && v) {
            scale_arg = v; /* a row or a name: read once the sweep is loaded */
            i++;
        } else if (!strcmp(a, "--seeds") && v) {
            if (parse_seeds(v, seeds, &nseeds)) goto bad_value;
            i++;
        } else if (!strcmp(a, "--steps")) {
            if (ds_cli_int64(a, v, 1, INT64_MAX, &steps, &err)) {
                fprintf(stderr, "distsweep train: %s\n", err.msg);
                return DS_EXIT_USAGE;
            }
            i++;
        } else if (!strcmp(a, "--checkpoint") && v) {
            ckpt = v;
            i++;
        } else if (!strcmp(a, "--format") && v) {
            if (strcmp(v, "text") && strcmp(v, "json")) goto bad_value;
            format = v;
            i++;
        } else if (!strcmp(a, "--backend") && v) {
            if (ds_backend_kind_parse(v, &backend, NULL)) goto bad_value;
            backend_set = 1;
            i++;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-' || path) {
            fprintf(stderr, "distsweep train: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return DS_EXIT_USAGE;
        } else {
            path = a;
        }
        continue;
    bad_value:
        fprintf(stderr, "distsweep train: bad value '%s' for %s\n", v, a);
        return DS_EXIT_USAGE;
    }
    if (!path) {
        usage(stderr);
        return DS_EXIT_USAGE;
    }
    ds_sweep *s = NULL;
    if (ds_sweep_load(path, &s, &err) || ds_hf_attach(s, &err)) { /* model.init's base */
        fprintf(stderr, "distsweep: %s\n", err.msg);
        ds_sweep_free(s);
        return err.code ? err.code : DS_EXIT_USAGE;
    }
    int rc = DS_EXIT_OK;
    ds_run_result *res = NULL;
    if ((rc = ds_sweep_attach_data(s, &err))) { /* the corpus's shards, validated */
        fprintf(stderr, "distsweep: %s\n", err.msg);
        goto done;
    }
    if (ds_cli_scale(s, scale_arg, &scale, &err)) {
        fprintf(stderr, "distsweep train: %s\n", err.msg);
        rc = DS_EXIT_USAGE;
        goto done;
    }
    if (steps > 0) {
        s->train.steps = steps;
        if (s->train.warmup >= steps) s->train.warmup = steps / 10;
    }
    /* auto (backend.h) is resolved once here, not per pack */
    backend = ds_backend_resolve(backend_set ? backend : s->run.backend);
    res = DS_CALLOC(nseeds, sizeof *res);
    ds_signals_install();
    const ds_scale *sc = &s->scales[scale];
    if (!quiet)
        fprintf(stderr, "distsweep train: %s scale %d (d=%d, L=%d, %lld params), %d seed(s), %lld steps\n",
                s->name, scale, sc->d_model, sc->n_layers, (long long)sc->n_params, nseeds,
                (long long)s->train.steps);
    ds_train_opts opts = {.backend = backend, .ckpt_path = ckpt, .hook = stop_hook, .verbose = !quiet};
    rc = ds_train_pack(s, scale, seeds, nseeds, &opts, res, &err);
    if (rc == DS_EXIT_INTERRUPTED) {
        fprintf(stderr, "distsweep train: interrupted%s%s\n", ckpt ? "; resume with the same command, checkpoint " : " (no --checkpoint: progress lost)", ckpt ? ckpt : "");
        goto done;
    }
    if (rc) {
        fprintf(stderr, "distsweep: %s\n", err.msg);
        goto done;
    }
    int nL = s->task.n_eval_lengths;
    const ds_eval_kind ek = ds_task_eval_kind(&s->task); /* sets: mc_acc, mc_nll per set */
    if (!strcmp(format, "json")) {
        printf("{\"sweep\": \"%s\", \"scale\": %d, \"d_model\": %d, \"n_layers\": %d, \"n_params\": %lld, "
               "\"steps\": %lld, \"eval_lengths\": [", s->name, scale, sc->d_model, sc->n_layers,
               (long long)sc->n_params, (long long)s->train.steps);
        for (int i = 0; i < nL; i++) printf("%s%d", i ? ", " : "", s->task.eval_lengths[i]);
        if (ek == DS_EVAL_SETS) {
            printf("], \"eval_sets\": [");
            for (int i = 0; i < nL; i++) printf("%s\"%s\"", i ? ", " : "", s->task.mc[i].name);
        }
        printf("], \"runs\": [");
        for (int r = 0; r < nseeds; r++) {
            ds_run_result *x = &res[r];
            printf("%s\n  {\"seed\": %lld, \"status\": \"%s\", \"steps_done\": %lld, \"wall_s\": %.3f, "
                   "\"final_loss\": ", r ? "," : "", (long long)x->seed,
                   x->status == DS_RUN_DONE ? "done" : "diverged", (long long)x->steps_done, x->wall_s);
            json_float(stdout, x->final_loss);
            printf(", \"id_em\": ");
            json_float(stdout, x->id_em);
            for (int k = 0; k < DS_N_METRICS; k++) {
                if (!ds_metric_name_of(ek, k)) continue;
                printf(", \"%s\": [", ds_metric_name_of(ek, k));
                for (int i = 0; i < nL; i++) {
                    if (i) printf(", ");
                    json_float(stdout, x->metrics[i][k]);
                }
                printf("]");
            }
            printf(", \"train_loss\": [");
            for (int i = 0; i < x->n_curve; i++) {
                if (i) printf(", ");
                json_float(stdout, x->curve[i]);
            }
            printf("]}");
        }
        printf("\n]}\n");
    } else {
        for (int r = 0; r < nseeds; r++) {
            ds_run_result *x = &res[r];
            if (ek == DS_EVAL_SETS) { /* a corpus task: its sets, if any */
                printf("seed %lld: %s after %lld steps, final loss %.4f, %.1f s\n", (long long)x->seed,
                       x->status == DS_RUN_DONE ? "done" : "DIVERGED", (long long)x->steps_done,
                       x->final_loss, x->wall_s);
                if (nL) printf("  %-16s %9s %9s\n", "set", "mc_acc", "mc_nll");
                for (int i = 0; i < nL; i++)
                    printf("  %-16s %9.4f %9.4f\n", s->task.mc[i].name, x->metrics[i][DS_M_MC_ACC],
                           x->metrics[i][DS_M_MC_NLL]);
                continue;
            }
            printf("seed %lld: %s after %lld steps, final loss %.4f, in-distribution EM (L=%d) %.3f, %.1f s\n",
                   (long long)x->seed, x->status == DS_RUN_DONE ? "done" : "DIVERGED",
                   (long long)x->steps_done, x->final_loss, s->task.train_max, x->id_em, x->wall_s);
            printf("  %6s", "length");
            for (int k = 0; k < DS_N_METRICS; k++) printf(" %9s", ds_metric_names[k]);
            printf("\n");
            for (int i = 0; i < nL; i++) {
                printf("  %6d", s->task.eval_lengths[i]);
                for (int k = 0; k < DS_N_METRICS; k++) printf(" %9.4f", x->metrics[i][k]);
                printf("\n");
            }
        }
    }
done:
    if (res)
        for (int r = 0; r < nseeds; r++) ds_run_result_free(&res[r]);
    free(res);
    ds_sweep_free(s);
    return rc;
}
