/* cmd_plan: `distsweep plan SWEEP.yaml` prints the job grid of a sweep (its
 * families, distinct scales, parameter counts and training FLOPs) and an
 * estimate of its cost, without running or writing anything. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "hfmodel.h"
#include "mcfile.h"
#include "model.h" /* ds_model_bytes */
#include "modelfile.h"
#include "schema.h" /* ds_metric_names */
#include "corpus.h"
#include "sweep.h"
#include "tasks.h"

/* Peak dense throughput of an NVIDIA H100 SXM (TFLOP/s, no sparsity) for the
 * matmul precision a sweep asks for; the GPU-hour estimate assumes this GPU
 * unless --gpu-tflops says otherwise. */
static double h100_peak(ds_precision p) {
    switch (p) {
    case DS_PREC_TF32: return 494.7;
    case DS_PREC_BF16: return 989.4;
    default: return 66.9; /* fp32 on the CUDA cores */
    }
}

/* What the CUDA backend achieved on the reference GPU, by width: the best
 * pack's TFLOP/s (plan's FLOP count) in tools/bench/RESULTS.md, "GPU: the
 * CUDA backend" (H100 80GB HBM3, 2026-11-23, count sweep, depth 4). Only fp32
 * is measured: tf32 and bf16 are written but not yet verified on a GPU
 * (docs/cuda.md), so they have no row; a session that measures them adds
 * rows here and in RESULTS.md together. */
typedef struct {
    ds_precision prec;
    int d;
    double tflops;
} measured_rate;
static const measured_rate MEASURED[] = {
    {DS_PREC_FP32, 64, 11.1}, {DS_PREC_FP32, 256, 22.7}, {DS_PREC_FP32, 512, 31.8}};
enum { N_MEASURED = sizeof MEASURED / sizeof MEASURED[0] };
static const char MEASURED_SOURCE[] = "tools/bench/RESULTS.md, H100, 2026-11-23";

/* The measured rate at width d for precision p: linear in log d between the
 * measured widths, the nearest one outside them; *prec_used is p, or fp32
 * when p has no measurement (then the fp32 rates stand in). */
static double measured_tflops(ds_precision p, int d, ds_precision *prec_used) {
    int have = 0;
    for (int i = 0; i < N_MEASURED; i++) have |= MEASURED[i].prec == p;
    if (!have) p = DS_PREC_FP32;
    *prec_used = p;
    const measured_rate *lo = NULL, *hi = NULL; /* nearest measured widths <= d and >= d */
    for (int i = 0; i < N_MEASURED; i++) {
        const measured_rate *m = &MEASURED[i];
        if (m->prec != p) continue;
        if (m->d <= d && (!lo || m->d > lo->d)) lo = m;
        if (m->d >= d && (!hi || m->d < hi->d)) hi = m;
    }
    if (!lo) return hi->tflops;
    if (!hi || hi->d == lo->d) return lo->tflops;
    double t = (log((double)d) - log((double)lo->d)) / (log((double)hi->d) - log((double)lo->d));
    return lo->tflops + t * (hi->tflops - lo->tflops);
}

/* The GPU estimate: flat (peak x efficiency, when --gpu-tflops or
 * --efficiency is given) or at the measured rate of each scale's width. */
typedef struct {
    int flat;
    double peak, eff; /* flat */
} gpu_model;

/* Achieved TFLOP/s for scale i under model g; *prec_used as measured_tflops. */
static double scale_tflops(const ds_sweep *s, int i, const gpu_model *g, ds_precision *prec_used) {
    *prec_used = s->train.precision;
    if (g->flat) return g->peak * g->eff;
    return measured_tflops(s->train.precision, s->scales[i].d_model, prec_used);
}

/* GPU-hours of the sweep at its first-round seed count, under model g. */
static double sweep_gpu_hours(const ds_sweep *s, const gpu_model *g) {
    double h = 0;
    ds_precision used;
    for (int i = 0; i < s->n_scales; i++)
        h += s->scales[i].flops_per_step * (double)s->train.steps * (double)s->seeds.count /
             (scale_tflops(s, i, g, &used) * 1e12) / 3600.0;
    return h;
}

/* Bytes of a pack of one replica of scale i on the CUDA backend: tensors,
 * activations at the training batch and the backend's own memory
 * (ds_model_bytes, src/devmem.h); what one more replica adds is a little
 * less (the GEMM workspace and part of the scratch are per pack). */
static double replica_bytes(const ds_sweep *s, int i) {
    ds_model_config c = ds_model_config_from_sweep(s, i, 1);
    return ds_model_bytes(&c);
}

/* The part of it that is the CUDA backend's own (scratch, GEMM workspace,
 * rounding copies: ds_model_devmem_bytes). */
static double replica_backend_bytes(const ds_sweep *s, int i) {
    ds_model_config c = ds_model_config_from_sweep(s, i, 1);
    return ds_model_devmem_bytes(&c);
}

static const char *prec_name(ds_precision p) {
    return p == DS_PREC_TF32 ? "tf32" : p == DS_PREC_BF16 ? "bf16" : "fp32";
}

/* run.save_models: how many runs of one scale store a model, and the bytes
 * of every stored model of the sweep (OUT.h5.models/, src/modelfile.h). */
static int64_t saved_per_scale(const ds_sweep *s) {
    return s->run.save_models < s->seeds.count ? s->run.save_models : s->seeds.count;
}

static double models_bytes(const ds_sweep *s) {
    double b = 0;
    for (int i = 0; i < s->n_scales; i++) b += ds_modelfile_bytes(s, i) * (double)saved_per_scale(s);
    return b;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: distsweep plan SWEEP.yaml [--format table|json] [--gpu-tflops X] [--efficiency E]\n\n"
            "Validates SWEEP.yaml and prints its job grid without running anything: the scale\n"
            "families in their order, each distinct scale (width, depth, heads, exact parameter\n"
            "count, training FLOPs per run, seeds) and totals (runs, FLOPs, GPU-hours).\n\n"
            "options:\n"
            "  --format table|json  output format (default table); json is one object with\n"
            "                       'scales', 'families', 'totals' (docs/sweep-file.md)\n"
            "  --gpu-tflops X       peak TFLOP/s of the GPU for a flat estimate (default: an\n"
            "                       H100 SXM, dense, at the sweep's precision: fp32 66.9, tf32\n"
            "                       494.7, bf16 989.4)\n"
            "  --efficiency E       fraction of that peak achieved, in (0, 1] (default 0.3)\n"
            "Without either, the estimate uses the CUDA backend's measured H100 rate for each\n"
            "scale's width at the sweep's precision (tools/bench/RESULTS.md; fp32's where that\n"
            "precision is not measured yet), and says so.\n\n"
            "A sweep-file error is printed as FILE:LINE:COL: message and exits 2.\n");
}

/* Parameter counts the way the papers quote them: 219776 -> "0.22M". */
static const char *millions(char *buf, double v) {
    if (v >= 1e9) snprintf(buf, 32, "%.2fB", v / 1e9);
    else if (v >= 1e4) snprintf(buf, 32, "%.2fM", v / 1e6);
    else snprintf(buf, 32, "%.0f", v);
    return buf;
}

/* What a family holds fixed, e.g. "depth 4", "width 512", "3.2M params". */
static void family_desc(const ds_sweep *s, const ds_family *f, char *buf, size_t n) {
    const ds_scale *first = &s->scales[f->scale_idx[0]];
    if (!strcmp(f->kind, "width")) snprintf(buf, n, "widths at depth %d", first->n_layers);
    else if (!strcmp(f->kind, "depth")) snprintf(buf, n, "depths at width %d", first->d_model);
    else if (!strcmp(f->kind, "params")) snprintf(buf, n, "depths at ~constant parameters");
    else if (!strcmp(f->kind, "values")) {
        int one = 1; /* one (width, depth); over model.init.from each base may have its own */
        for (int j = 1; j < f->n; j++)
            one &= s->scales[f->scale_idx[j]].d_model == first->d_model &&
                   s->scales[f->scale_idx[j]].n_layers == first->n_layers;
        if (one) snprintf(buf, n, "%s at width %d, depth %d", f->key, first->d_model, first->n_layers);
        else snprintf(buf, n, "%s, each at its base's width and depth", f->key);
    }
    else snprintf(buf, n, "explicit points");
}

/* The corpus task's line and one line per source: its tokens and chunks
 * (rows of train.context), its weight and slots of every block of 1024 rows,
 * and how many epochs of it train.steps x batch rows cover. Needs the data
 * attached. */
static void print_sources(const ds_sweep *s) {
    const ds_task_spec *t = &s->task;
    const double rows = (double)s->train.steps * s->train.batch;
    printf(", vocab %d (token ids), ", t->vocab);
    if (t->eot >= 0) printf("eot id %d", t->eot);
    else printf("no eot id");
    if (!t->n_mc) printf(", no evaluation set (training loss only)");
    for (int i = 0; i < t->n_mc; i++) /* attached: the items are known */
        printf("%s%s (%d items of %d choices)", i ? ", " : ", evaluated on ", t->mc[i].name,
               t->mc_sets[i]->n_items, t->mc_sets[i]->K);
    for (int k = 0; k < t->n_sources; k++) {
        const ds_source_spec *sp = &t->sources[k];
        ds_corpus_source_info in = ds_corpus_source(t->corpus, k);
        double rows_k = rows * sp->slots / DS_CORPUS_BLOCK;
        printf("\n  source    %s (%s): %lld tokens in %d shard(s) of uint%d, %lld chunks of %d; weight "
               "%g (%d/1024 of rows), loss %s; %.3g epoch(s) in %lld steps", sp->name, sp->path,
               (long long)in.n_tokens, in.n_shards, 8 * in.token_bytes, (long long)in.n_chunks,
               s->train.context, sp->weight, sp->slots, sp->loss == DS_LOSS_ANSWER ? "answer" : "all",
               rows_k / (double)in.n_chunks, (long long)s->train.steps);
    }
    /* a values family over a source's weight: each condition's own mixture */
    for (int i = 0; i < s->n_scales; i++) {
        ds_sweep *cond = ds_sweep_condition(s, i);
        int differs = 0;
        for (int k = 0; k < t->n_sources; k++) differs |= cond->task.sources[k].slots != t->sources[k].slots;
        if (differs) {
            char name[2 * DS_SCALE_NAME_MAX];
            ds_scale_name(&s->scales[i], name, sizeof name);
            printf("\n  mixture   #%d %s:", i, name);
            for (int k = 0; k < t->n_sources; k++) {
                const ds_source_spec *sp = &cond->task.sources[k];
                double chunks = (double)ds_corpus_source(t->corpus, k).n_chunks;
                printf("%s %s %.4g (%d/1024, %.3g epoch(s))", k ? "," : "", sp->name, sp->weight, sp->slots,
                       rows * sp->slots / DS_CORPUS_BLOCK / chunks);
            }
        }
        free(cond);
    }
}

/* Forward FLOPs of evaluating one example at the report's length on scale i
 * (train.eval_every evaluates there): training's forward formula in the
 * condition's block (ds_block_flops_per_step / 3: a step is 3 forwards) on one
 * teacher-forced example, T = eval_tokens - 1 positions; GPT-NeoX:
 * 2 (L 12 d^2 + V_tot d) T + L 4 T d T (docs/sweep-file.md). */
static double eval_flops_per_example(const ds_sweep *s, int i) {
    const ds_task_ops *ops = ds_task_get(&s->task);
    ds_model_spec md; /* the condition's block and sizes */
    ds_scale_model(s, i, &md);
    return ds_block_flops_per_step(&md, s->scales[i].d_model, s->scales[i].n_layers,
                                   ops->vocab_total(&s->task), 1,
                                   ops->eval_tokens(&s->task, s->report.length)) / 3.0;
}

/* The evaluation cost of train.eval_every for scale i: FLOPs per run (points
 * x examples x forward per example); 0 when the option is off. */
static double eval_flops_per_run(const ds_sweep *s, int i) {
    const ds_task_ops *ops = ds_task_get(&s->task);
    int64_t points = ds_train_eval_points(&s->train);
    if (!points) return 0;
    return (double)points * (double)ops->eval_count(&s->task, s->report.length) *
           eval_flops_per_example(s, i);
}

/* The table's evaluation lines: points per run, examples per point, and the
 * evaluation FLOPs as a fraction of the training FLOPs per scale and in all.
 * Nothing when train.eval_every is off. */
static void print_eval_cost(const ds_sweep *s) {
    const ds_task_ops *ops = ds_task_get(&s->task);
    int64_t points = ds_train_eval_points(&s->train);
    if (!points) return;
    int len = s->report.length;
    double ev = 0, tr = 0;
    printf("evaluation: train.eval_every %lld: %lld points per run at length %d (report.length), "
           "%lld examples of %d tokens per point, forward only; evaluation FLOPs / training FLOPs:",
           (long long)s->train.eval_every, (long long)points, len,
           (long long)ops->eval_count(&s->task, len), ops->eval_tokens(&s->task, len));
    for (int i = 0; i < s->n_scales; i++) {
        double e = eval_flops_per_run(s, i), t = s->scales[i].flops_per_step * (double)s->train.steps;
        ev += e, tr += t;
        printf("%s #%d %.3g%%", i ? "," : "", i, 100 * e / t);
    }
    printf("; in all %.3e FLOPs, %.3g%% of training (not in the GPU-hours above)\n",
           ev * (double)s->seeds.count, 100 * ev / tr);
}

static void print_table(const ds_sweep *s, const gpu_model *g) {
    const ds_task_ops *ops = ds_task_get(&s->task);
    const int vtot = ops->vocab_total(&s->task);
    const int64_t seeds = s->seeds.count;
    char h1[32];

    printf("sweep %s (%s)\n", s->name, s->path);
    printf("  task      %s", ops->name);
    if (s->task.kind == DS_TASK_CORPUS) {
        print_sources(s);
    } else {
        if (s->task.kind == DS_TASK_COUNT) printf(", vocab %d", s->task.vocab);
        else printf(", hint tokens %d, %d eval examples per length", s->task.hint_tokens, s->task.eval_examples);
        printf(" (%d token ids), train lengths %d..%d, eval lengths", vtot, s->task.train_min, s->task.train_max);
        for (int i = 0; i < s->task.n_eval_lengths; i++) printf("%s%d", i ? "," : " ", s->task.eval_lengths[i]);
    }
    printf("\n  train     %lld steps x batch %d x context %d, lr %g%s, warmup %lld, wd %g, %s\n",
           (long long)s->train.steps, s->train.batch, s->train.context, s->train.lr,
           s->train.schedule == DS_SCHED_LINEAR ? " (linear decay)" : "",
           (long long)s->train.warmup, s->train.weight_decay, prec_name(s->train.precision));
    printf("  seeds     %lld (%lld..%lld) per scale\n", (long long)seeds, (long long)s->seeds.start,
           (long long)(s->seeds.start + seeds - 1));
    const ds_adaptive_spec *ad = &s->seeds.adaptive;
    char at_name[DS_NAME_MAX + 16]; /* the adaptive rule's length, or its evaluation set */
    if (s->task.n_mc)
        snprintf(at_name, sizeof at_name, "%s", s->task.mc[ad->length_idx >= 0 ? ad->length_idx : 0].name);
    else snprintf(at_name, sizeof at_name, "%d", ad->length);
    if (ad->enabled)
        printf("  adaptive  %lld first, +%lld per round up to %lld per scale, until the 95%% CI of "
               "%s of %s at %s%s is at most %g wide\n",
               (long long)seeds, (long long)ad->step, (long long)ad->max,
               ad->statistic == DS_ADAPT_P_SUCCESS ? "p_success" :
               ad->statistic == DS_ADAPT_MEAN_SUCCESS ? "mean_success" : "mean",
               ds_metric_name_of(ds_task_eval_kind(&s->task), ad->metric),
               s->task.n_mc ? "set " : "length ", at_name, ad->ci_width);
    printf("  output    %s\n\n", s->output);

    printf("families (%d, over %d distinct scales):\n", s->n_families, s->n_scales);
    for (int i = 0; i < s->n_families; i++) {
        const ds_family *f = &s->families[i];
        char desc[160];
        family_desc(s, f, desc, sizeof desc);
        printf("  %-10s %d scales, %s:", f->name, f->n, desc);
        for (int j = 0; j < f->n; j++) {
            const ds_scale *sc = &s->scales[f->scale_idx[j]];
            if (f->key[0]) /* a values family: each condition's value of the key */
            {
                if (ds_setting_is_text(f->key)) /* a base model: its directory */
                    printf(" #%d=%s", f->scale_idx[j], ds_scale_setting_text(s, f->scale_idx[j], f->key));
                else
                    printf(" #%d=%g", f->scale_idx[j], ds_scale_setting(s, f->scale_idx[j], f->key));
            }
            else
                printf(" #%d=%dx%d", f->scale_idx[j], sc->d_model, sc->n_layers);
        }
        printf("\n");
    }

    printf("\nscales:\n  %3s %6s %6s %6s %14s %8s %12s %12s %7s %5s\n", "#", "width", "depth", "heads",
           "params", "", "FLOPs/step", "FLOPs/run", "seeds", "ranks");
    double total_flops = 0;
    for (int i = 0; i < s->n_scales; i++) {
        const ds_scale *sc = &s->scales[i];
        double per_run = sc->flops_per_step * (double)s->train.steps;
        total_flops += per_run * (double)seeds;
        printf("  %3d %6d %6d %6d %14lld %8s %12.3e %12.3e %7lld %5d", i, sc->d_model, sc->n_layers,
               sc->n_heads, (long long)sc->n_params, millions(h1, (double)sc->n_params),
               sc->flops_per_step, per_run, (long long)seeds, sc->ranks_per_job);
        for (int k = 0; k < sc->n_settings; k++) /* a condition: what it changes */
        {
            char v[DS_SETTING_TEXT_MAX];
            printf("%s%s %s", k ? ", " : "  ", sc->settings[k].key, ds_setting_str(&sc->settings[k], v, sizeof v));
        }
        printf("\n");
    }
    /* data-parallel groups (docs/design.md §8): which scales, what they need */
    int kmax = 1;
    for (int i = 0; i < s->n_scales; i++)
        if (s->scales[i].ranks_per_job > kmax) kmax = s->scales[i].ranks_per_job;
    for (int k = 2; k <= kmax; k++) {
        int n = 0;
        for (int i = 0; i < s->n_scales; i++) n += s->scales[i].ranks_per_job == k;
        if (!n) continue;
        printf("groups: scale(s)");
        for (int i = 0; i < s->n_scales; i++)
            if (s->scales[i].ranks_per_job == k) printf(" #%d", i);
        printf(" trained data-parallel by groups of %d ranks, formed from ranks 1..N-1 (one node "
               "first): with N ranks, (N-1)/%d groups at a time\n", k, k);
    }
    if (kmax > 1)
        printf("groups: this sweep needs mpirun -np %d or more; rank 0 trains ungrouped packs only\n",
               kmax + 1);
    int64_t runs = (int64_t)s->n_scales * seeds;
    double gpu_hours = sweep_gpu_hours(s, g);
    printf("\ntotals: %d scales x %lld seeds = %lld runs, %.3e training FLOPs (%.3g PFLOP/s-days)\n",
           s->n_scales, (long long)seeds, (long long)runs, total_flops, total_flops / (1e15 * 86400));
    if (g->flat) {
        printf("estimate: %.3g GPU-hours at %.0f%% of %.1f TFLOP/s (--gpu-tflops/--efficiency)\n",
               gpu_hours, 100 * g->eff, g->peak);
    } else {
        ds_precision used;
        measured_tflops(s->train.precision, s->scales[0].d_model, &used);
        printf("estimate: %.3g GPU-hours at the CUDA backend's measured %s rate per width (%s:",
               gpu_hours, prec_name(used), MEASURED_SOURCE);
        /* each distinct width once, in increasing order */
        int last = 0;
        for (;;) {
            int next = 0, at = -1;
            for (int i = 0; i < s->n_scales; i++)
                if (s->scales[i].d_model > last && (!next || s->scales[i].d_model < next))
                    next = s->scales[i].d_model, at = i;
            if (!next) break;
            printf("%s d %d %.1f", last ? "," : "", next, scale_tflops(s, at, g, &used));
            last = next;
        }
        printf(" TFLOP/s)\n");
        if (used != s->train.precision)
            printf("estimate: %s is not measured on a GPU yet (docs/cuda.md): fp32's measured rates "
                   "stand in; --gpu-tflops X --efficiency E gives a flat estimate instead\n",
                   prec_name(s->train.precision));
    }
    if (ad->enabled) {
        /* every scale stops after its first round, or every scale reaches max */
        double scale_max = (double)ds_sweep_max_seeds(s) / (double)seeds;
        printf("adaptive: at least %lld runs, %.3g GPU-hours (every scale stops after its first "
               "round); at most %lld runs, %.3g GPU-hours (every scale reaches max %lld)\n",
               (long long)runs, gpu_hours, (long long)(s->n_scales * ds_sweep_max_seeds(s)),
               gpu_hours * scale_max, (long long)ds_sweep_max_seeds(s));
    }
    if (s->train.precision != DS_PREC_FP32)
        printf("note: the cuda backend refuses train.precision %s until its implementation is "
               "verified on a GPU (docs/cuda.md): this sweep runs on the cpu backend, and a GPU "
               "estimate is hypothetical\n",
               ds_precision_name(s->train.precision));
    if (s->run.pack > 0) {
        int64_t packs_per_scale = (seeds + s->run.pack - 1) / s->run.pack;
        printf("packs: %d seeds each, %lld per scale, %lld in all\n", s->run.pack,
               (long long)packs_per_scale, (long long)(packs_per_scale * s->n_scales));
    } else {
        printf("packs: sized automatically at run time (run.pack: auto)\n");
    }
    printf("memory: per replica on the cuda backend at batch %d x context %d (docs/cuda.md "
           "\"Memory model\"):", s->train.batch, s->train.context);
    for (int i = 0; i < s->n_scales; i++) {
        char b[32];
        ds_fmt_bytes(replica_bytes(s, i), b, sizeof b);
        printf("%s #%d %s", i ? "," : "", i, b);
    }
    printf("\nmemory: the largest pack in 80 GB (an H100; ds_model_max_pack):");
    for (int i = 0; i < s->n_scales; i++) {
        ds_model_config c = ds_model_config_from_sweep(s, i, 1);
        printf("%s #%d %d", i ? "," : "", i, ds_model_max_pack(&c, 80e9, 4096));
    }
    /* a pack's own memory (ds_model_bytes at R replicas; an upper bound on
     * the cpu backend): run.pack's, or under auto a pack of every seed, capped
     * by the largest in 80 GB; with a large vocabulary the embedding, head and
     * logits dominate it (docs/sweep-file.md "Large vocabularies") */
    printf("\nmemory: a pack of");
    for (int i = 0; i < s->n_scales; i++) {
        ds_model_config c = ds_model_config_from_sweep(s, i, 1);
        int64_t R = s->run.pack > 0 ? s->run.pack : seeds;
        int cap = ds_model_max_pack(&c, 80e9, 4096);
        if (s->run.pack <= 0 && cap > 0 && R > cap) R = cap;
        if (R < 1) R = 1;
        c = ds_model_config_from_sweep(s, i, (int)R);
        char b[32];
        ds_fmt_bytes(ds_model_bytes(&c), b, sizeof b);
        printf("%s #%d %lld replica(s) %s", i ? "," : "", i, (long long)R, b);
    }
    printf(" (%s)\n", s->run.pack > 0 ? "run.pack" : "auto: every seed, at most the largest pack in 80 GB");
    if (s->run.save_models)
        printf("stored models: %lld run(s) of each scale (run.save_models), %.3g GB of fp32 "
               "parameters beside the result file (%s.models/)\n",
               (long long)saved_per_scale(s), models_bytes(s) / 1e9, s->output);
    else
        printf("stored models: none (run.save_models: false)\n");
    print_eval_cost(s);
    printf("FLOPs count training matmuls and attention only (3 x forward; docs/sweep-file.md), not evaluation.\n");
}

static void print_json(const ds_sweep *s, const gpu_model *g) {
    const ds_task_ops *ops = ds_task_get(&s->task);
    const int64_t seeds = s->seeds.count;
    printf("{\n  \"name\": ");
    ds_json_str(stdout, s->name);
    printf(",\n  \"path\": ");
    ds_json_str(stdout, s->path);
    printf(",\n  \"task\": ");
    ds_json_str(stdout, ops->name);
    printf(",\n  \"vocab_total\": %d,\n", ops->vocab_total(&s->task));
    if (s->task.kind == DS_TASK_CORPUS) {
        const double rows = (double)s->train.steps * s->train.batch;
        printf("  \"sources\": [");
        for (int k = 0; k < s->task.n_sources; k++) {
            const ds_source_spec *sp = &s->task.sources[k];
            ds_corpus_source_info in = ds_corpus_source(s->task.corpus, k);
            printf("%s\n    {\"name\": ", k ? "," : "");
            ds_json_str(stdout, sp->name);
            printf(", \"path\": ");
            ds_json_str(stdout, sp->path);
            printf(", \"weight\": %.15g, \"slots\": %d, \"loss\": \"%s\", \"tokens\": %lld, "
                   "\"shards\": %d, \"chunks\": %lld, \"epochs\": %.6g}", sp->weight, sp->slots,
                   sp->loss == DS_LOSS_ANSWER ? "answer" : "all", (long long)in.n_tokens, in.n_shards,
                   (long long)in.n_chunks, rows * sp->slots / DS_CORPUS_BLOCK / (double)in.n_chunks);
        }
        printf("\n  ],\n");
    }
    printf("  \"eval_lengths\": [");
    for (int i = 0; i < s->task.n_eval_lengths; i++) printf("%s%d", i ? ", " : "", s->task.eval_lengths[i]);
    printf("],\n  \"steps\": %lld,\n  \"batch\": %d,\n  \"context\": %d,\n", (long long)s->train.steps,
           s->train.batch, s->train.context);
    printf("  \"seeds\": {\"start\": %lld, \"count\": %lld},\n", (long long)s->seeds.start, (long long)seeds);
    printf("  \"output\": ");
    ds_json_str(stdout, s->output);
    printf(",\n  \"yaml_hash\": \"%016llx\",\n", (unsigned long long)s->yaml_hash);
    printf("  \"scales\": [\n");
    double total_flops = 0;
    for (int i = 0; i < s->n_scales; i++) {
        const ds_scale *sc = &s->scales[i];
        double per_run = sc->flops_per_step * (double)s->train.steps;
        total_flops += per_run * (double)seeds;
        ds_precision used;
        printf("    {\"index\": %d, \"width\": %d, \"depth\": %d, \"heads\": %d, \"params\": %lld, "
               "\"flops_per_step\": %.17g, \"flops_per_run\": %.17g, \"seeds\": %lld, "
               "\"ranks_per_job\": %d, \"gpu_tflops\": %g, \"bytes_per_replica\": %.17g, "
               "\"backend_bytes_per_replica\": %.17g, \"eval_flops_per_run\": %.17g}%s\n",
               i, sc->d_model, sc->n_layers, sc->n_heads, (long long)sc->n_params, sc->flops_per_step,
               per_run, (long long)seeds, sc->ranks_per_job, scale_tflops(s, i, g, &used),
               replica_bytes(s, i), replica_backend_bytes(s, i), eval_flops_per_run(s, i),
               i + 1 < s->n_scales ? "," : "");
    }
    printf("  ],\n  \"families\": {");
    for (int i = 0; i < s->n_families; i++) {
        const ds_family *f = &s->families[i];
        printf("%s\n    ", i ? "," : "");
        ds_json_str(stdout, f->name);
        printf(": [");
        for (int j = 0; j < f->n; j++) printf("%s%d", j ? ", " : "", f->scale_idx[j]);
        printf("]");
    }
    printf("\n  },\n  \"family_kinds\": {");
    for (int i = 0; i < s->n_families; i++) {
        printf("%s", i ? ", " : "");
        ds_json_str(stdout, s->families[i].name);
        printf(": ");
        ds_json_str(stdout, s->families[i].kind);
    }
    int64_t runs = (int64_t)s->n_scales * seeds;
    double gpu_hours = sweep_gpu_hours(s, g);
    ds_precision used = s->train.precision;
    if (!g->flat) measured_tflops(s->train.precision, s->scales[0].d_model, &used);
    /* gpu_tflops: the sweep's mean achieved rate; efficiency: that over the peak */
    double mean_tflops = gpu_hours > 0 ? total_flops / (gpu_hours * 3600.0) / 1e12 : 0;
    printf("},\n  \"totals\": {\"scales\": %d, \"runs\": %lld, \"flops\": %.17g, \"gpu_hours\": %.6g, "
           "\"gpu_tflops\": %g, \"efficiency\": %g, \"rates\": \"%s\", \"rates_precision\": \"%s\", "
           "\"saved_models\": %lld, \"saved_model_bytes\": %.17g}",
           s->n_scales, (long long)runs, total_flops, gpu_hours, mean_tflops,
           g->flat ? g->eff : mean_tflops / h100_peak(s->train.precision), g->flat ? "flat" : "measured",
           prec_name(used), (long long)(saved_per_scale(s) * s->n_scales), models_bytes(s));
    if (s->seeds.adaptive.enabled) {
        /* totals above: the first round; the most: every scale at max */
        double k = (double)ds_sweep_max_seeds(s) / (double)seeds;
        printf(",\n  \"adaptive\": {\"min_runs\": %lld, \"min_gpu_hours\": %.6g, \"max_runs\": %lld, "
               "\"max_gpu_hours\": %.6g, \"step\": %lld, \"max\": %lld, \"ci_width\": %g}",
               (long long)runs, gpu_hours, (long long)(s->n_scales * ds_sweep_max_seeds(s)),
               gpu_hours * k, (long long)s->seeds.adaptive.step, (long long)s->seeds.adaptive.max,
               s->seeds.adaptive.ci_width);
    }
    /* train.eval_every's cost (docs/sweep-file.md "distsweep plan"); null when off */
    int64_t points = ds_train_eval_points(&s->train);
    if (points) {
        double ev = 0;
        for (int i = 0; i < s->n_scales; i++) ev += eval_flops_per_run(s, i) * (double)seeds;
        printf(",\n  \"evaluation\": {\"eval_every\": %lld, \"points_per_run\": %lld, \"length\": %d, "
               "\"examples_per_point\": %lld, \"tokens_per_example\": %d, \"flops\": %.17g, "
               "\"fraction_of_training\": %.17g}",
               (long long)s->train.eval_every, (long long)points, s->report.length,
               (long long)ds_task_get(&s->task)->eval_count(&s->task, s->report.length),
               ds_task_get(&s->task)->eval_tokens(&s->task, s->report.length), ev,
               total_flops > 0 ? ev / total_flops : 0);
    } else {
        printf(",\n  \"evaluation\": null");
    }
    printf("\n}\n");
}

/* Reads the value of option argv[*i] (either "--opt=value" or "--opt value"). */
static const char *opt_value(int argc, char **argv, int *i, const char *opt) {
    size_t len = strlen(opt);
    if (strncmp(argv[*i], opt, len)) return NULL;
    if (argv[*i][len] == '=') return argv[*i] + len + 1;
    if (argv[*i][len]) return NULL;
    if (*i + 1 >= argc) return "";
    return argv[++*i];
}

/* A number in (0, hi] for option opt (ds_cli_double), said on stderr when not. */
static int parse_positive(const char *v, const char *opt, double hi, double *out) {
    ds_error err = {0};
    if (ds_cli_double(opt, v, 0, 1, hi, out, &err)) {
        fprintf(stderr, "distsweep plan: %s\n", err.msg);
        return DS_EXIT_USAGE;
    }
    return 0;
}

int ds_cmd_plan(int argc, char **argv) {
    if (ds_cli_wants_help(argc, argv)) {
        usage(stdout);
        return DS_EXIT_OK;
    }
    const char *path = NULL, *format = "table", *v;
    double gpu_tflops = 0, eff = 0;
    for (int i = 1; i < argc; i++) {
        if ((v = opt_value(argc, argv, &i, "--format"))) {
            format = v;
            if (strcmp(format, "table") && strcmp(format, "json")) {
                fprintf(stderr, "distsweep plan: --format must be table or json, got '%s'\n", format);
                return DS_EXIT_USAGE;
            }
        } else if ((v = opt_value(argc, argv, &i, "--gpu-tflops"))) {
            if (parse_positive(v, "--gpu-tflops", 1e9, &gpu_tflops)) return DS_EXIT_USAGE;
        } else if ((v = opt_value(argc, argv, &i, "--efficiency"))) {
            if (parse_positive(v, "--efficiency", 1, &eff)) return DS_EXIT_USAGE;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "distsweep plan: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return DS_EXIT_USAGE;
        } else if (!path) {
            path = argv[i];
        } else {
            fprintf(stderr, "distsweep plan: one sweep file at a time (got '%s' and '%s')\n", path, argv[i]);
            return DS_EXIT_USAGE;
        }
    }
    if (!path) {
        usage(stderr);
        return DS_EXIT_USAGE;
    }

    ds_sweep *s = NULL;
    ds_error err = {0};
    if (ds_sweep_load(path, &s, &err) || ds_hf_attach(s, &err) /* model.init's architecture */ ||
        ds_sweep_attach_data(s, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        ds_sweep_free(s);
        return err.code;
    }
    gpu_model g = {.flat = gpu_tflops > 0 || eff > 0,
                   .peak = gpu_tflops > 0 ? gpu_tflops : h100_peak(s->train.precision),
                   .eff = eff > 0 ? eff : 0.3};
    if (!strcmp(format, "json")) print_json(s, &g);
    else print_table(s, &g);
    ds_sweep_free(s);
    return DS_EXIT_OK;
}
