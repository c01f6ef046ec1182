/* cmd_eval: `distsweep eval OUT.h5 --scale S --seed K [--length L] [--show N]`
 * evaluates a stored model (run.save_models, src/modelfile.h) with the engine
 * at any test length of its task, also lengths the sweep did not use, and
 * with --show decodes N examples per length greedily, so that a failure mode
 * can be seen at a glance. With `--mc FILE.bin [--items]` it scores the model
 * on multiple-choice sets instead (src/mcfile.h, src/mceval.h): mc_acc,
 * mc_nll, and with --items each item's chosen answer and the correct
 * choice's log-likelihood.
 *
 * The metrics are src/evaluate.c's (ds_evaluate_length), on a model of the
 * scale's shape with the sweep's activation capacity (batch x context-1
 * positions) and train.precision, so at a stored length on the backend that
 * trained the run they reproduce the stored metrics bit for bit (the CPU
 * backend's results depend neither on the pack size nor on the thread
 * count, docs/engine.md); the table says whether they do. A length whose
 * examples do not fit that capacity gets a larger batch (same rows). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cli.h"
#include "common.h"
#include "evaluate.h"
#include "h5check.h"
#include "mceval.h"
#include "mcfile.h"
#include "model.h"
#include "modelfile.h"
#include "tasks.h"

#define MAX_LENGTHS 64
#define MAX_MC 16

static void usage(FILE *f) {
    fprintf(f,
            "usage: distsweep eval OUT.h5 --scale S --seed K [--length L]... [--show N]\n"
            "                  [--backend auto|cpu|cuda] [--format table|json]\n"
            "       distsweep eval OUT.h5 --scale S --seed K --mc FILE.bin... [--items]\n"
            "                  [--backend auto|cpu|cuda] [--format table|json]\n\n"
            "Evaluates the stored model of run (scale S, seed K) of OUT.h5 (run.save_models)\n"
            "with the engine: the metrics of docs/spec-tasks.md §6 at each length, beside the\n"
            "stored ones where the sweep evaluated that length.\n\n"
            "  --scale S    a row of /scales (0, 1, ...) or a scale's name (d64_L2)\n"
            "  --seed K     a job seed\n"
            "  --length L   a test length (repeatable; any length the task can pose; default:\n"
            "               the file's eval lengths)\n"
            "  --show N     also decode N examples per length (evenly spread over the\n"
            "               evaluation set): the prompt, the expected answer, the model's\n"
            "               greedy answer, and a caret under its first wrong token\n"
            "  --mc FILE    score the model on a multiple-choice set instead (repeatable;\n"
            "               tools/make_mc_eval.py makes them, docs/tasks.md \"Multiple-choice\n"
            "               evaluation sets\"): mc_acc and mc_nll\n"
            "  --items      with --mc: also each item's chosen answer (-1: none), its label and\n"
            "               the correct choice's log-likelihood\n"
            "  --backend B  auto (default), cpu or cuda; the stored metrics are reproduced bit\n"
            "               for bit on the backend that trained the run\n"
            "  --format F   table (default) or json\n"
            "exit codes: 0 evaluated, 1 a damaged model file, 2 usage, a length the task\n"
            "cannot pose, a bad multiple-choice file, or the run has no stored model\n");
}

/* The first argmax of v[0..n) (as the backend's token_stats decides "correct"). */
static int argmax(const float *v, int n) {
    int am = 0;
    for (int j = 1; j < n; j++)
        if (v[j] > v[am]) am = j;
    return am;
}

/* Decodes N examples of length L greedily and prints them (see usage). */
static void show_examples(ds_model *m, const ds_task_spec *task, int L, int N) {
    const ds_task_ops *ops = ds_task_get(task);
    int n_tok = ops->eval_tokens(task, L), V = m->cfg.V;
    int64_t count = ops->eval_count(task, L);
    if (N > count) N = (int)count;
    int32_t *ex = DS_MALLOC(sizeof(int32_t) * (size_t)N * n_tok);
    int32_t *gen = DS_MALLOC(sizeof(int32_t) * (size_t)N * n_tok);
    uint8_t *mask = DS_MALLOC((size_t)n_tok);
    int64_t *index = DS_MALLOC(sizeof(int64_t) * (size_t)N);
    int p = n_tok;
    for (int e = 0; e < N; e++) {
        index[e] = N > 1 ? (int64_t)((double)e * (double)(count - 1) / (N - 1) + 0.5) : 0;
        ops->eval_example(task, L, index[e], ex + (size_t)e * n_tok, mask);
        for (int i = 0; i < n_tok; i++)
            if (mask[i]) {
                if (i < p) p = i; /* the prompt: every token before the first scored one */
                break;
            }
    }
    /* greedy decoding, a chunk of examples at a time, one forward per new token */
    size_t cap = (size_t)m->cfg.B * m->cfg.T;
    int E = (int)(cap / (size_t)n_tok);
    if (E < 1) E = 1;
    int32_t *rows = DS_MALLOC(sizeof(int32_t) * (size_t)E * (n_tok + 1));
    uint8_t *rmask = DS_CALLOC((size_t)E * (n_tok + 1), 1);
    float *logits = DS_MALLOC(sizeof(float) * cap * V);
    memcpy(gen, ex, sizeof(int32_t) * (size_t)N * n_tok);
    for (int e0 = 0; e0 < N; e0 += E) {
        int ne = N - e0 < E ? N - e0 : E;
        for (int cur = p; cur < n_tok; cur++) {
            /* rows of cur known tokens and a placeholder target: inputs 0..cur-1 */
            for (int e = 0; e < ne; e++) {
                memcpy(rows + (size_t)e * (cur + 1), gen + (size_t)(e0 + e) * n_tok, sizeof(int32_t) * cur);
                rows[(size_t)e * (cur + 1) + cur] = 0;
            }
            ds_model_set_batch(m, rows, rmask, ne, cur);
            ds_model_forward(m, NULL);
            ds_model_get_logits(m, 0, logits);
            for (int e = 0; e < ne; e++)
                gen[(size_t)(e0 + e) * n_tok + cur] = argmax(logits + ((size_t)e * cur + cur - 1) * V, V);
        }
    }
    int w = 1;
    char b[32];
    for (int i = 0; i < V; i++) {
        ops->token_name(task, i, b, sizeof b);
        if ((int)strlen(b) > w) w = (int)strlen(b);
    }
    int right = 0;
    for (int e = 0; e < N; e++) {
        const int32_t *x = ex + (size_t)e * n_tok, *g = gen + (size_t)e * n_tok;
        int wrong = -1;
        for (int i = p; i < n_tok && wrong < 0; i++)
            if (g[i] != x[i]) wrong = i;
        right += wrong < 0;
        char desc[256] = "";
        if (ops->describe) {
            strcpy(desc, " (");
            ops->describe(task, x, n_tok, desc + 2, (int)sizeof desc - 4);
            strcat(desc, ")");
        }
        printf("\nlength %d, example %lld of %lld%s: ", L, (long long)index[e], (long long)count, desc);
        if (wrong < 0) printf("greedy answer correct\n");
        else printf("greedy answer wrong from answer token %d (expected %s", wrong - p + 1,
                    (ops->token_name(task, x[wrong], b, sizeof b), b));
        if (wrong >= 0) printf(", got %s)\n", (ops->token_name(task, g[wrong], b, sizeof b), b));
        printf("  prompt    ");
        for (int i = 0; i < p; i++) printf("%s%s", i ? " " : "", (ops->token_name(task, x[i], b, sizeof b), b));
        printf("\n  expected ");
        for (int i = p; i < n_tok; i++) printf(" %*s", w, (ops->token_name(task, x[i], b, sizeof b), b));
        printf("\n  greedy   ");
        for (int i = p; i < n_tok; i++) printf(" %*s", w, (ops->token_name(task, g[i], b, sizeof b), b));
        printf("\n");
        if (wrong >= 0) printf("           %*s^\n", (wrong - p) * (w + 1) + w, "");
    }
    printf("\nlength %d: %d of %d shown examples answered exactly by greedy decoding\n", L, right, N);
    free(ex);
    free(gen);
    free(mask);
    free(index);
    free(rows);
    free(rmask);
    free(logits);
}

static void json_num(float v) {
    if (isfinite(v)) printf("%.9g", (double)v);
    else printf("null");
}

/* Scores the model of run on the n multiple-choice sets mc[] (--mc) and
 * prints them (see usage). Returns 0 or an error code with err set: a bad
 * file (DS_EXIT_USAGE, naming the file and item), a backend or model that
 * cannot be made. */
static int eval_mc(const ds_cli_stored_run *run, const char *h5, int64_t seed, ds_backend_kind kind,
                   const char *const *mc, int n, int json, int items, ds_error *err) {
    const ds_sweep *s = run->s;
    const ds_results *res = &run->res;
    ds_backend *be = NULL;
    ds_model *m = NULL;
    ds_mc_set **sets = DS_CALLOC((size_t)n, sizeof *sets);
    int8_t *chosen = NULL;
    float *llc = NULL;
    int rc = 0;
    ds_model_config c = ds_model_config_from_sweep(s, run->scale, 1);
    /* every file is checked before anything is evaluated: rows of at most
     * train.context tokens (the model's rows), tokens below its vocabulary */
    for (int i = 0; i < n; i++)
        if ((rc = ds_mc_load(mc[i], c.V, s->train.context, &sets[i], err))) goto done;
    if ((rc = ds_backend_supports(kind, s->train.precision, err))) goto done;
    ds_backend_opts bo = {.kind = kind, .precision = s->train.precision};
    if ((rc = ds_backend_create(&bo, &be, err)) || (rc = ds_model_create(&c, be, &m, err))) goto done;
    ds_model_set_params(m, 0, run->params);
    if (json)
        printf("{\"file\": \"%s\", \"scale\": %d, \"scale_name\": \"%s\", \"seed\": %lld, "
               "\"steps\": %lld, \"backend\": \"%s\", \"mc\": [", h5, run->scale,
               res->scale_name[run->scale], (long long)seed, (long long)run->steps, ds_backend_kind_names[kind]);
    else
        printf("%s: scale %s (#%d), seed %lld, %lld steps; stored model %s; backend %s, "
               "train.precision %s\n\n%-40s %7s %3s %-10s %10s %10s\n", h5, res->scale_name[run->scale],
               run->scale, (long long)seed, (long long)run->steps, run->model_path,
               ds_backend_kind_names[kind], ds_precision_name(s->train.precision), "multiple-choice set",
               "items", "K", "scoring", "mc_acc", "mc_nll");
    for (int i = 0; i < n; i++) {
        const ds_mc_set *set = sets[i];
        float acc, nll;
        chosen = DS_REALLOC(chosen, (size_t)set->n_items);
        llc = DS_REALLOC(llc, sizeof(float) * (size_t)set->n_items);
        ds_mceval_out o = {&acc, &nll, chosen, llc};
        if ((rc = ds_mceval_score(m, set, 0, &o, NULL, NULL, err))) {
            if (json) printf("]}\n");
            goto done;
        }
        const char *sc = ds_mc_scoring_names[set->scoring];
        if (json) {
            printf("%s{\"path\": \"%s\", \"items\": %d, \"choices\": %d, \"scoring\": \"%s\", "
                   "\"mc_acc\": ", i ? ", " : "", set->path, set->n_items, set->K, sc);
            json_num(acc);
            printf(", \"mc_nll\": ");
            json_num(nll);
            if (items) {
                printf(", \"chosen\": [");
                for (int j = 0; j < set->n_items; j++) printf("%s%d", j ? ", " : "", chosen[j]);
                printf("], \"label\": [");
                for (int j = 0; j < set->n_items; j++) printf("%s%d", j ? ", " : "", (int)set->label[j]);
                printf("], \"ll_correct\": [");
                for (int j = 0; j < set->n_items; j++) {
                    if (j) printf(", ");
                    json_num(llc[j]);
                }
                printf("]");
            }
            printf("}");
        } else {
            printf("%-40s %7d %3d %-10s %10.6g %10.6g\n", set->path, set->n_items, set->K, sc, (double)acc,
                   (double)nll);
            if (items) {
                printf("\n%8s %7s %6s %14s\n", "item", "chosen", "label", "ll_correct");
                for (int j = 0; j < set->n_items; j++)
                    printf("%8d %7d %6d %14.7g%s\n", j, chosen[j], (int)set->label[j], (double)llc[j],
                           chosen[j] == set->label[j] ? "" : "  wrong");
                printf("\n");
            }
        }
    }
    if (json) printf("]}\n");
done:
    for (int i = 0; i < n; i++) ds_mc_free(sets[i]);
    free(sets);
    free(chosen);
    free(llc);
    ds_model_free(m);
    if (be) be->destroy(be);
    return rc;
}

int ds_cmd_eval(int argc, char **argv) {
    if (ds_cli_wants_help(argc, argv)) {
        usage(stdout);
        return DS_EXIT_OK;
    }
    const char *h5 = NULL, *scale = NULL, *format = "table";
    int64_t seed = 0;
    int have_seed = 0, show = 0, n_len = 0, rc = 0, lengths[MAX_LENGTHS], n_mc = 0, items = 0;
    const char *mc[MAX_MC];
    ds_backend_kind kind = DS_BACKEND_AUTO;
    ds_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--scale") && next) scale = next, i++;
        else if (!strcmp(a, "--seed")) {
            if (ds_cli_int64(a, next, INT64_MIN, INT64_MAX, &seed, &err)) goto bad_value;
            have_seed = 1, i++;
        } else if (!strcmp(a, "--length")) {
            if (n_len == MAX_LENGTHS) {
                fprintf(stderr, "distsweep eval: at most %d --length options\n", MAX_LENGTHS);
                return DS_EXIT_USAGE;
            }
            if (ds_cli_int(a, next, 1, 1000000, &lengths[n_len], &err)) goto bad_value;
            n_len++, i++;
        } else if (!strcmp(a, "--show")) {
            if (ds_cli_int(a, next, 0, 100000, &show, &err)) goto bad_value;
            i++;
        } else if (!strcmp(a, "--mc") && next) {
            if (n_mc == MAX_MC) {
                fprintf(stderr, "distsweep eval: at most %d --mc options\n", MAX_MC);
                return DS_EXIT_USAGE;
            }
            mc[n_mc++] = next, i++;
        } else if (!strcmp(a, "--items")) {
            items = 1;
        } else if (!strcmp(a, "--backend") && next) {
            if (ds_backend_kind_parse(next, &kind, &err)) {
                fprintf(stderr, "distsweep eval: %s\n", err.msg);
                return DS_EXIT_USAGE;
            }
            i++;
        } else if (!strcmp(a, "--format") && next) {
            format = next, i++;
            if (strcmp(format, "table") && strcmp(format, "json")) {
                fprintf(stderr, "distsweep eval: --format must be table or json, got '%s'\n", format);
                return DS_EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "distsweep eval: unknown option or missing value '%s'\n", a);
            usage(stderr);
            return DS_EXIT_USAGE;
        } else if (!h5) h5 = a;
        else {
            fprintf(stderr, "distsweep eval: unexpected argument '%s'\n", a);
            return DS_EXIT_USAGE;
        }
        continue;
    bad_value:
        fprintf(stderr, "distsweep eval: %s\n", err.msg);
        return DS_EXIT_USAGE;
    }
    if (!h5 || !scale || !have_seed) {
        usage(stderr);
        return DS_EXIT_USAGE;
    }
    if (n_mc && (n_len || show)) {
        fprintf(stderr, "distsweep eval: --mc scores multiple-choice sets; --length and --show "
                        "evaluate the task: give one or the other\n");
        return DS_EXIT_USAGE;
    }
    if (items && !n_mc) {
        fprintf(stderr, "distsweep eval: --items needs --mc\n");
        return DS_EXIT_USAGE;
    }
    int json = !strcmp(format, "json");
    ds_h5_library_init();
    ds_cli_stored_run run;
    ds_backend *be = NULL;
    ds_model *m = NULL;
    float *metrics = NULL;
    if ((rc = ds_cli_stored_run_open(h5, scale, seed, &run, &err))) goto done;
    if (n_mc) {
        rc = eval_mc(&run, h5, seed, ds_backend_resolve(kind), mc, n_mc, json, items, &err);
        goto done;
    }
    const ds_sweep *s = run.s;
    const ds_task_ops *ops = ds_task_get(&s->task);
    if (!n_len) {
        n_len = run.res.n_lengths < MAX_LENGTHS ? run.res.n_lengths : MAX_LENGTHS;
        for (int i = 0; i < n_len; i++) lengths[i] = run.res.eval_lengths[i];
    }
    ds_model_config c = ds_model_config_from_sweep(s, run.scale, 1);
    for (int i = 0; i < n_len; i++) {
        if (ops->eval_count(&s->task, lengths[i]) <= 0) {
            rc = ds_error_set(&err, DS_EXIT_USAGE, "length %d: the %s task of this sweep cannot "
                              "pose it (docs/spec-tasks.md §1-2)", lengths[i], ops->name);
            goto done;
        }
        int need = ops->eval_tokens(&s->task, lengths[i]);
        if ((size_t)need > (size_t)c.B * c.T) c.B = (need + c.T - 1) / c.T;
    }
    kind = ds_backend_resolve(kind);
    if ((rc = ds_backend_supports(kind, s->train.precision, &err)) ||
        (rc = ds_backend_supports_block(kind, s->model.block, &err)))
        goto done;
    ds_backend_opts bo = {.kind = kind, .precision = s->train.precision};
    if ((rc = ds_backend_create(&bo, &be, &err)) || (rc = ds_model_create(&c, be, &m, &err))) goto done;
    ds_model_set_params(m, 0, run.params);

    metrics = DS_MALLOC(sizeof(float) * DS_N_METRICS * (size_t)n_len);
    for (int i = 0; i < n_len; i++)
        if ((rc = ds_evaluate_length(m, &s->task, lengths[i], metrics + (size_t)i * DS_N_METRICS,
                                     NULL, NULL, &err)))
            goto done;
    const ds_results *r = &run.res;
    if (json) {
        printf("{\"file\": \"%s\", \"scale\": %d, \"scale_name\": \"%s\", \"seed\": %lld, "
               "\"steps\": %lld, \"backend\": \"%s\", \"lengths\": [", h5, run.scale,
               r->scale_name[run.scale], (long long)seed, (long long)run.steps, ds_backend_kind_names[kind]);
    } else {
        printf("%s: scale %s (#%d), seed %lld, %lld steps; stored model %s; backend %s, "
               "train.precision %s\n\n", h5, r->scale_name[run.scale], run.scale, (long long)seed,
               (long long)run.steps, run.model_path, ds_backend_kind_names[kind],
               ds_precision_name(s->train.precision));
        printf("%7s %8s", "length", "examples");
        for (int k = 0; k < DS_N_METRICS; k++) printf(" %10s", ds_metric_names[k]);
        printf("  stored metrics\n");
    }
    for (int i = 0; i < n_len; i++) {
        const float *mm = metrics + (size_t)i * DS_N_METRICS;
        int li = ds_results_length_index(r, lengths[i]);
        int same = li >= 0;
        float st[DS_N_METRICS];
        for (int k = 0; k < DS_N_METRICS && li >= 0; k++) {
            st[k] = ds_res_metric(r, k, run.scale, run.seed_idx, li);
            same &= !memcmp(&st[k], &mm[k], sizeof(float)); /* bit for bit, NaN included */
        }
        long long n_ex = (long long)ops->eval_count(&s->task, lengths[i]);
        if (json) {
            printf("%s{\"length\": %d, \"examples\": %lld", i ? ", " : "", lengths[i], n_ex);
            for (int k = 0; k < DS_N_METRICS; k++) {
                printf(", \"%s\": ", ds_metric_names[k]);
                json_num(mm[k]);
            }
            printf(", \"stored\": ");
            if (li < 0) printf("null");
            else {
                printf("{");
                for (int k = 0; k < DS_N_METRICS; k++) {
                    printf("%s\"%s\": ", k ? ", " : "", ds_metric_names[k]);
                    json_num(st[k]);
                }
                printf("}");
            }
            printf(", \"matches_stored\": %s}", li < 0 ? "null" : same ? "true" : "false");
        } else {
            printf("%7d %8lld", lengths[i], n_ex);
            for (int k = 0; k < DS_N_METRICS; k++) printf(" %10.6g", (double)mm[k]);
            if (li < 0) printf("  (length not in the sweep)\n");
            else if (same) printf("  identical\n");
            else {
                printf("  differ:");
                for (int k = 0; k < DS_N_METRICS; k++) printf(" %.6g", (double)st[k]);
                printf("\n");
            }
        }
    }
    if (json) printf("]}\n");
    if (show > 0 && !json)
        for (int i = 0; i < n_len; i++) show_examples(m, &s->task, lengths[i], show);
done:
    if (rc) fprintf(stderr, "distsweep eval: %s\n", err.msg);
    free(metrics);
    ds_model_free(m);
    if (be) be->destroy(be);
    ds_cli_stored_run_close(&run);
    return rc;
}
