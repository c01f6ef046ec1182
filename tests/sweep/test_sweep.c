/* Unit tests of the sweep loader (src/sweep.c): the shipped sweeps, defaults,
 * scale families and their deduplication, parameter and FLOP counts, the
 * canonical hash and ds_sweep_diff. Usage: test_sweep SWEEPS_DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "model.h" /* the parameter layout that ds_scale_params must count */
#include "schema.h"
#include "sweep.h"
#include "tasks.h"

static const char *sweeps_dir;

static ds_sweep *load_file(const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", sweeps_dir, name);
    ds_sweep *s = NULL;
    ds_error err = {0};
    int rc = ds_sweep_load(path, &s, &err);
    CHECK_MSG(rc == 0 && s, "%s: %s", path, err.msg);
    return s;
}

static ds_sweep *load_text(const char *text) {
    ds_sweep *s = NULL;
    ds_error err = {0};
    int rc = ds_sweep_load_text("t.yaml", text, &s, &err);
    CHECK_MSG(rc == 0 && s, "%s", err.msg);
    return s;
}

/* text (as x.yaml) is refused with exit 2, no sweep, and a message holding needle */
static void refused(const char *text, const char *needle) {
    ds_error err = {0};
    ds_sweep *b = NULL;
    CHECK(ds_sweep_load_text("x.yaml", text, &b, &err) == DS_EXIT_USAGE && !b);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "%s", err.msg);
}

static int find_scale(const ds_sweep *s, int d, int L) {
    for (int i = 0; i < s->n_scales; i++)
        if (s->scales[i].d_model == d && s->scales[i].n_layers == L) return i;
    return -1;
}

static void test_count(void) {
    ds_sweep *s = load_file("count.yaml");
    if (!s) return;
    CHECK(!strcmp(s->name, "count"));
    CHECK(s->n_scales == 12);
    CHECK(s->n_families == 3);
    const char *names[3] = {"width", "depth", "params"};
    for (int i = 0; i < 3 && i < s->n_families; i++) {
        CHECK(!strcmp(s->families[i].name, names[i]));
        CHECK(s->families[i].n == 5);
    }
    /* docs/spec-tasks.md §3: count at depth 4. */
    int i64 = find_scale(s, 64, 4), i256 = find_scale(s, 256, 4), i512 = find_scale(s, 512, 4);
    CHECK(i64 >= 0 && i256 >= 0 && i512 >= 0);
    if (i64 >= 0) CHECK(s->scales[i64].n_params == 219776);
    if (i256 >= 0) CHECK_NEAR(s->scales[i256].n_params / 1e6, 3.24, 0.005);
    if (i512 >= 0) CHECK_NEAR(s->scales[i512].n_params / 1e6, 12.77, 0.005);
    if (i512 >= 0) CHECK(s->scales[i512].n_heads == 8);
    /* The params family at 3.2M (docs/spec-tasks.md §5). */
    const int want_w[5] = {512, 384, 256, 192, 128}, want_L[5] = {1, 2, 4, 7, 16};
    const ds_family *pf = &s->families[2];
    for (int j = 0; j < 5 && j < pf->n; j++) {
        CHECK(s->scales[pf->scale_idx[j]].d_model == want_w[j]);
        CHECK(s->scales[pf->scale_idx[j]].n_layers == want_L[j]);
    }
    /* (512, 4) is in the width and depth families and is one scale. */
    CHECK(s->families[0].scale_idx[4] == s->families[1].scale_idx[2]);
    /* FLOPs of d=64, L=4 by hand: tokens = 128*255, T = 255, V_tot = 154. */
    double tokens = 128.0 * 255, mm = 4 * 12.0 * 64 * 64 + 154.0 * 64;
    double fwd = 2 * mm * tokens + 4 * 4.0 * 255 * 64 * tokens;
    if (i64 >= 0) CHECK_NEAR(s->scales[i64].flops_per_step, 3 * fwd, 1.0);
    CHECK(s->train.steps == 10000 && s->train.batch == 128 && s->train.context == 256);
    CHECK(s->seeds.count == 250);
    CHECK(s->yaml_text && strstr(s->yaml_text, "family: params"));
    ds_sweep_free(s);
}

static void test_shipped(void) {
    ds_sweep *s = load_file("addition.yaml");
    if (s) {
        CHECK(s->task.kind == DS_TASK_ADDITION);
        CHECK(s->n_scales == 14 && s->n_families == 2);
        CHECK(s->task.hint_tokens == 41);
        CHECK(s->train.weight_decay == 0.0 && s->train.lr == 1e-4);
        CHECK(s->seeds.count == 200);
        ds_sweep_free(s);
    }
    s = load_file("smoke.yaml");
    if (s) {
        CHECK(s->task.vocab == 100 && s->n_scales >= 2);
        ds_sweep_free(s);
    }
    s = load_file("demo.yaml");
    if (s) {
        CHECK(s->n_scales == 3 && s->seeds.count == 16);
        for (int i = 0; i < s->n_scales; i++) CHECK(s->scales[i].n_layers == 2 + i);
        ds_sweep_free(s);
    }
}

#define MINIMAL_COUNT                                                                  \
    "task: {kind: count, vocab: 150, train_length: [1, 30], eval_lengths: [60]}\n"     \
    "train: {steps: 1000, batch: 8, context: 128, lr: 0.001}\n"                        \
    "seeds: {count: 3}\n"                                                              \
    "scales: [{family: width, depth: 2, width: [64]}]\n"

static void test_defaults(void) {
    ds_sweep *s = load_text(MINIMAL_COUNT);
    if (!s) return;
    CHECK(!strcmp(s->name, "t"));
    CHECK(!strcmp(s->output, "results/t.h5"));
    CHECK(s->model.head_dim == 64 && s->model.block == DS_BLOCK_PARALLEL);
    CHECK(s->model.rotary_frac == 0.25 && s->model.rope_base == 10000);
    CHECK(s->model.init_std == 0.02 && s->model.ln_eps == 1e-5);
    CHECK(s->train.warmup == 500 && s->train.weight_decay == 0.1 && s->train.grad_clip == 1.0);
    CHECK(s->train.beta1 == 0.9 && s->train.beta2 == 0.999 && s->train.adam_eps == 1e-8);
    CHECK(s->train.precision == DS_PREC_FP32 && s->train.log_every == 100);
    CHECK(s->seeds.start == 0 && s->seeds.count == 3);
    CHECK(s->run.pack == 0 && s->run.checkpoint_every == 1000 && s->run.max_attempts == 2);
    CHECK(s->run.ranks_per_job == 1 && s->run.backend == DS_BACKEND_AUTO);
    CHECK(s->n_scales == 1 && s->scales[0].n_heads == 1);
    CHECK(s->scales[0].n_params == ds_scale_params(64, 2, 154));
    ds_sweep_free(s);

    s = load_text("task: {kind: addition, train_length: [1, 35], eval_lengths: [40, 20]}\n"
                  "train: {steps: 1000, batch: 8, context: 512, lr: 1e-4}\n"
                  "seeds: {count: 3}\n"
                  "scales: [{family: depth, width: 64, depth: [1]}]\n"
                  "run: {pack: 16, backend: cpu}\n");
    if (!s) return;
    CHECK(s->task.hint_tokens == 41 && s->task.eval_examples == 64000 && s->task.eval_seed == 1234);
    CHECK(s->train.weight_decay == 0.0);
    CHECK(s->run.pack == 16 && s->run.backend == DS_BACKEND_CPU);
    CHECK(ds_task_get(&s->task)->vocab_total(&s->task) == 15 + 41);
    ds_sweep_free(s);
}

static void test_families(void) {
    ds_sweep *s = load_text(
        "task: {kind: count, vocab: 150, train_length: [1, 30], eval_lengths: [60]}\n"
        "model: {head_dim: 32}\n"
        "train: {steps: 1000, batch: 8, context: 128, lr: 0.001}\n"
        "seeds: {count: 3}\n"
        "scales:\n"
        "  - {family: width, depth: 2, width: [32, 64, 96]}\n"
        "  - {family: depth, name: narrow, width: 64, depth: [3, 2, 1]}\n"
        "  - {family: points, points: [{width: 96, depth: 2}, {width: 128, depth: 5}]}\n"
        "  - {family: depth, width: 32, depth: [2]}\n");
    if (!s) return;
    /* (32,2) (64,2) (96,2) + (64,3) (64,1) + (128,5) = 6 distinct. */
    CHECK(s->n_scales == 6);
    CHECK(s->n_families == 4);
    CHECK(!strcmp(s->families[1].name, "narrow") && !strcmp(s->families[1].kind, "depth"));
    CHECK(!strcmp(s->families[2].name, "points") && s->families[2].n == 2);
    CHECK(!strcmp(s->families[3].name, "depth"));
    CHECK(s->families[1].scale_idx[1] == s->families[0].scale_idx[1]); /* (64,2) shared */
    CHECK(s->families[2].scale_idx[0] == s->families[0].scale_idx[2]); /* (96,2) shared */
    CHECK(s->families[3].scale_idx[0] == s->families[0].scale_idx[0]);
    CHECK(s->scales[s->families[2].scale_idx[1]].n_heads == 4);
    /* Families keep the order written. */
    CHECK(s->scales[s->families[1].scale_idx[0]].n_layers == 3);
    ds_sweep_free(s);

    /* A params target exactly between two widths goes to the smaller one. */
    int64_t p64 = ds_scale_params(64, 1, 154), p128 = ds_scale_params(128, 1, 154);
    CHECK((p64 + p128) % 2 == 0);
    char text[1024];
    snprintf(text, sizeof text,
             "task: {kind: count, vocab: 150, train_length: [1, 30], eval_lengths: [60]}\n"
             "train: {steps: 1000, batch: 8, context: 128, lr: 0.001}\n"
             "seeds: {count: 3}\n"
             "scales: [{family: params, params: %lld, depth: [1]},\n"
             "         {family: params, name: above, params: %lld, depth: [1]}]\n",
             (long long)((p64 + p128) / 2), (long long)((p64 + p128) / 2 + 1));
    s = load_text(text);
    if (!s) return;
    CHECK(s->scales[s->families[0].scale_idx[0]].d_model == 64);
    CHECK(s->scales[s->families[1].scale_idx[0]].d_model == 128);
    ds_sweep_free(s);
}

/* values families (docs/sweep-file.md "values"): one condition per value, the
 * sweep's own value is the plain scale, conditions enter the canonical text
 * (plain scales' lines unchanged), names carry the setting, and the
 * condition's copy of the sweep trains with the value. */
static void test_values_family(void) {
    const char *head =
        "task: {kind: count, vocab: 150, train_length: [1, 30], eval_lengths: [60]}\n"
        "model: {head_dim: 32}\n"
        "train: {steps: 1000, batch: 8, context: 128, lr: 0.001, warmup: 10}\n"
        "seeds: {count: 3}\n"
        "scales:\n"
        "  - {family: depth, width: 64, depth: [1, 2]}\n";
    char text[2048];
    snprintf(text, sizeof text, "%s%s", head,
             "  - {family: values, name: lr, width: 64, depth: 2, key: train.lr,\n"
             "     values: [0.0003, 0.001, 0.003], label: learning rate}\n"
             "  - {family: values, name: wu, width: 64, depth: 2, key: train.warmup, values: [0, 100]}\n"
             "  - {family: values, name: init, width: 64, depth: 1, key: model.init_std, values: [0.01]}\n");
    ds_sweep *s = load_text(text);
    if (!s) return;
    /* (64,1) (64,2) + lr 3e-4, 3e-3 (1e-3 is (64,2)) + warmup 0, 100 + init 0.01 at (64,1) */
    CHECK(s->n_scales == 7);
    const ds_family *lr = &s->families[1];
    CHECK(!strcmp(lr->kind, "values") && !strcmp(lr->key, "train.lr") &&
          !strcmp(lr->label, "learning rate") && lr->n == 3);
    CHECK(lr->scale_idx[1] == s->families[0].scale_idx[1]); /* the sweep's own lr: the plain scale */
    CHECK(!strcmp(s->families[2].label, "train.warmup")); /* label defaults to the key */
    const ds_scale *c0 = &s->scales[lr->scale_idx[0]];
    CHECK(c0->n_settings == 1 && !strcmp(c0->settings[0].key, "train.lr") && c0->settings[0].value == 0.0003);
    char name[64];
    ds_scale_name(c0, name, sizeof name);
    CHECK(!strcmp(name, "d64_L2_lr=0.0003"));
    ds_scale_name(&s->scales[s->families[3].scale_idx[0]], name, sizeof name);
    CHECK(!strcmp(name, "d64_L1_init_std=0.01"));
    /* the condition's copy trains with its values; the sweep keeps its own */
    ds_sweep *c = ds_sweep_condition(s, lr->scale_idx[2]);
    CHECK(c->train.lr == 0.003 && s->train.lr == 0.001 && c->yaml_text == s->yaml_text);
    free(c);
    c = ds_sweep_condition(s, s->families[2].scale_idx[1]);
    CHECK(c->train.warmup == 100 && c->train.lr == 0.001);
    free(c);
    c = ds_sweep_condition(s, s->families[3].scale_idx[0]);
    CHECK(c->model.init_std == 0.01);
    free(c);
    CHECK(ds_setting_base(s, "model.init_std") == 0.02);
    /* the canonical text names each condition's setting; the plain scales'
     * lines are those of a sweep without values families */
    char *canon = ds_sweep_canonical(s);
    CHECK(strstr(canon, "width 64, depth 2, train.lr 0.0003\n") != NULL);
    CHECK(strstr(canon, "scales[0]: width 64, depth 1\n") != NULL);
    uint64_t h = s->yaml_hash;
    free(canon);
    ds_sweep_free(s);
    /* another value is another experiment */
    snprintf(text, sizeof text, "%s%s", head,
             "  - {family: values, name: lr, width: 64, depth: 2, key: train.lr,\n"
             "     values: [0.0003, 0.001, 0.004], label: learning rate}\n"
             "  - {family: values, name: wu, width: 64, depth: 2, key: train.warmup, values: [0, 100]}\n"
             "  - {family: values, name: init, width: 64, depth: 1, key: model.init_std, values: [0.01]}\n");
    s = load_text(text);
    if (!s) return;
    CHECK(s->yaml_hash != h);
    ds_sweep_free(s);
    /* train.schedule: cosine by default, linear only when written, and then in the hash */
    const char *sched =
        "task: {kind: count, vocab: 150, train_length: [1, 30], eval_lengths: [60]}\n"
        "model: {head_dim: 32}\n"
        "train: {steps: 1000, batch: 8, context: 128, lr: 0.001, warmup: 0%s}\n"
        "seeds: {count: 3}\n"
        "scales: [{family: depth, width: 64, depth: [1, 2]}]\n";
    snprintf(text, sizeof text, sched, "");
    s = load_text(text);
    if (!s) return;
    CHECK(s->train.schedule == DS_SCHED_COSINE);
    uint64_t h_cos = s->yaml_hash;
    ds_sweep_free(s);
    snprintf(text, sizeof text, sched, ", schedule: cosine");
    s = load_text(text);
    if (!s) return;
    CHECK(s->yaml_hash == h_cos); /* the default written out: the same experiment */
    ds_sweep_free(s);
    snprintf(text, sizeof text, sched, ", schedule: linear");
    s = load_text(text);
    if (!s) return;
    CHECK(s->train.schedule == DS_SCHED_LINEAR && s->yaml_hash != h_cos);
    ds_sweep_free(s);
    /* the keys that can vary, in order */
    CHECK(!strcmp(ds_setting_key(0), "train.lr") && !strcmp(ds_setting_key(6), "model.init.from") &&
          !strcmp(ds_setting_key(7), "task.sources.<name>.weight") && ds_setting_key(8) == NULL);
    CHECK(ds_setting_is_text("model.init.from") && !ds_setting_is_text("train.lr"));
}

/* A corpus task's evaluation sets (docs/sweep-file.md "eval"): its evaluation
 * axis, named metrics mc_acc/mc_nll, report.set and seeds.adaptive.set by
 * name, threshold 0.25 by default; the sets enter the hash; misuse refused. */
static void test_eval_sets(void) {
    const char *fmt =
        "task: {kind: corpus, vocab: 64, sources: [{name: a, path: a.bin, weight: 1}]}\n"
        "eval: {multiple_choice: [{name: one, path: one.bin}, {name: two, path: %s, scoring: completion}]}\n"
        "train: {steps: 10, batch: 2, context: 16, lr: 0.001, warmup: 0, log_every: 5}\n"
        "seeds: {count: 4, adaptive: {metric: mc_nll, set: two, statistic: mean, ci_width: 0.1, max: 8}}\n"
        "scales: [{family: depth, width: 64, depth: [1]}]\n"
        "%s";
    char text[2048];
    snprintf(text, sizeof text, fmt, "two.bin", "report: {set: two, metric: mc_acc}\n");
    ds_sweep *s = load_text(text);
    if (!s) return;
    CHECK(s->task.n_mc == 2 && s->task.n_eval_lengths == 2 && s->task.eval_lengths[1] == 1);
    CHECK(!strcmp(s->task.mc[1].name, "two") && s->task.mc[1].scoring == 1 && s->task.mc[0].scoring == -1);
    CHECK(ds_task_eval_kind(&s->task) == DS_EVAL_SETS);
    CHECK(s->seeds.adaptive.metric == DS_M_MC_NLL && s->seeds.adaptive.length_idx == 1);
    CHECK(s->report.metric == DS_M_MC_ACC && s->report.length == 1 && s->report.threshold == 0.25);
    CHECK(!strcmp(ds_metric_name_of(DS_EVAL_SETS, DS_M_MC_ACC), "mc_acc") &&
          ds_metric_name_of(DS_EVAL_SETS, DS_M_ERROR) == NULL && ds_metric_index_of(DS_EVAL_SETS, "em") < 0);
    uint64_t h = s->yaml_hash;
    ds_sweep_free(s);
    snprintf(text, sizeof text, fmt, "other.bin", "");
    s = load_text(text);
    if (!s) return;
    CHECK(s->yaml_hash != h); /* a set's path is part of the experiment */
    ds_sweep_free(s);
    /* an unknown set, a length for a corpus task, an eval block for a synthetic task */
    static const char *const bad[][2] = {
        {"report: {set: three}\n", "report.set must be one of the evaluation sets one, two"},
        {"report: {length: 1}\n", "report.length: a corpus task is evaluated on its sets"},
        {"report: {metric: em}\n", "report.metric must be one of mc_acc, mc_nll"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, fmt, "two.bin", bad[i][0]);
        refused(text, bad[i][1]);
    }
    refused("task: {kind: count, vocab: 20, train_length: [1, 5], eval_lengths: [5]}\n"
            "eval: {multiple_choice: [{name: one, path: one.bin}]}\n"
            "train: {steps: 10, batch: 2, context: 16, lr: 0.001, log_every: 5}\n"
            "seeds: {count: 1}\nscales: [{family: depth, width: 64, depth: [1]}]\n",
            "x.yaml:2:7: eval.multiple_choice is for a corpus task");
}

/* train.epochs (docs/sweep-file.md "train"): a corpus task's length in epochs
 * of a source, steps 0 until attached, in the hash as the epochs; misuse
 * refused at its position. */
static void test_epochs(void) {
    const char *fmt =
        "task: {kind: corpus, vocab: 64, sources: [{name: a, path: a.bin, weight: 0.5},"
        " {name: b, path: b.bin, weight: 0.5}]}\n"
        "train: {%s, batch: 2, context: 16, lr: 0.001, warmup: 0, log_every: 5}\n"
        "seeds: {count: 2}\n"
        "scales: [{family: depth, width: 64, depth: [1]}%s]\n";
    char text[2048];
    snprintf(text, sizeof text, fmt, "epochs: {source: b, count: 2}", "");
    ds_sweep *s = load_text(text);
    if (!s) return;
    CHECK(s->train.epochs == 2 && s->train.epochs_source == 1 && s->train.steps == 0);
    char *canon = ds_sweep_canonical(s);
    CHECK(strstr(canon, "train.epochs: 2 of b\n") && !strstr(canon, "train.steps"));
    free(canon);
    ds_sweep_free(s);
    static const char *const bad[][3] = {
        {"steps: 10, epochs: {source: b, count: 2}", "", "train.epochs and train.steps both given"},
        {"epochs: {source: c, count: 2}", "", "train.epochs.source 'c' is not one of task.sources"},
        {"epochs: {source: b, count: 0}", "", "train.epochs.count must be in (0, 1e+06], found 0"},
        {"epochs: {source: b, count: 1}",
         ", {family: values, width: 64, depth: 1, key: task.sources.b.weight, values: [0.25]}",
         "each condition would train its own number of steps"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, fmt, bad[i][0], bad[i][1]);
        refused(text, bad[i][2]);
    }
    refused("task: {kind: count, vocab: 20, train_length: [1, 5], eval_lengths: [5]}\n"
            "train: {epochs: {source: a, count: 1}, batch: 2, context: 16, lr: 0.001}\n"
            "seeds: {count: 1}\nscales: [{family: depth, width: 64, depth: [1]}]\n",
            "train.epochs counts the epochs of a corpus task's source");
}

/* ds_scale_params (the sweep's, used by plan and /scales/n_params) counts
 * exactly the floats of the model's layout (ds_model_tensors), so that the
 * two can never drift apart: summed tensor by tensor here, not through the
 * formula. */
static void test_params_match_layout(void) {
    static const int widths[] = {8, 32, 64, 96, 384, 1024, 4096};
    static const int depths[] = {1, 2, 3, 7, 16, 48};
    static const int vocabs[] = {2, 7, 56, 154, 50304};
    enum { MAX_TENSORS = 1 + 12 * 48 + 3 };
    static ds_param_tensor t[MAX_TENSORS];
    for (size_t i = 0; i < sizeof widths / sizeof *widths; i++)
        for (size_t j = 0; j < sizeof depths / sizeof *depths; j++)
            for (size_t k = 0; k < sizeof vocabs / sizeof *vocabs; k++) {
                ds_model_config c = {.R = 1, .B = 1, .T = 1, .d = widths[i], .L = depths[j],
                                     .H = 1, .hd = widths[i], .V = vocabs[k]};
                int n = ds_model_tensors(&c, t);
                CHECK(n == 1 + 12 * c.L + 3);
                int64_t floats = 0;
                for (int q = 0; q < n; q++) {
                    CHECK(t[q].offset == (size_t)floats); /* back to back */
                    floats += t[q].shape[0] * (t[q].ndim == 2 ? t[q].shape[1] : 1);
                }
                CHECK_MSG(floats == ds_scale_params(c.d, c.L, c.V), "d %d L %d V %d: layout %lld",
                          c.d, c.L, c.V, (long long)floats);
                CHECK((size_t)floats == ds_model_param_count(c.d, c.L, c.V));
            }
}

/* Block llama: ds_block_params counts its layout (every combination of kv
 * heads, qkv bias and tying over a grid, summed tensor by tensor), the
 * defaults (kv_heads = heads, mlp_hidden 64*ceil(8d/192), no bias, untied,
 * full rotary), the FLOPs, and the canonical text: the llama keys appear only
 * for llama, so the other blocks' hashes are those of before. */
static void test_llama(void) {
    static const int widths[] = {64, 128, 384};
    static const int depths[] = {1, 3};
    static const int vocabs[] = {7, 154};
    enum { MAX_TENSORS = 1 + 7 * 3 + 2 };
    static ds_param_tensor t[MAX_TENSORS];
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < 2; j++)
            for (size_t k = 0; k < 2; k++)
                for (int kv = 1; kv <= 2; kv++)
                    for (int bias = 0; bias <= 1; bias++)
                        for (int tie = 0; tie <= 1; tie++) {
                            int d = widths[i];
                            ds_model_spec ms = {.head_dim = 32, .block = DS_BLOCK_LLAMA,
                                                .kv_heads = kv, .mlp_hidden = j ? 100 : 0,
                                                .qkv_bias = bias, .tie_embeddings = tie};
                            ds_model_config c = {.R = 1, .B = 1, .T = 1, .d = d, .L = depths[j],
                                                 .H = d / 32, .hd = 32, .V = vocabs[k],
                                                 .block = DS_BLOCK_LLAMA, .K = kv,
                                                 .F = ds_model_mlp_hidden(&ms, d),
                                                 .qkv_bias = bias, .tie = tie};
                            int n = ds_model_tensors(&c, t);
                            CHECK(n == 1 + (6 + bias) * c.L + 1 + !tie);
                            int64_t floats = 0;
                            for (int q = 0; q < n; q++) {
                                CHECK(t[q].offset == (size_t)floats);
                                floats += t[q].shape[0] * (t[q].ndim == 2 ? t[q].shape[1] : 1);
                            }
                            CHECK_MSG(floats == ds_block_params(&ms, d, c.L, c.V),
                                      "llama d %d L %d V %d kv %d bias %d tie %d: layout %lld", d,
                                      c.L, c.V, kv, bias, tie, (long long)floats);
                            CHECK((size_t)floats == ds_model_params(&c));
                        }
    /* the other blocks: the GPT-NeoX formula, whatever the llama fields hold */
    ds_model_spec neox = {.head_dim = 64, .block = DS_BLOCK_SEQUENTIAL, .kv_heads = 3};
    CHECK(ds_block_params(&neox, 128, 2, 154) == ds_scale_params(128, 2, 154));
    CHECK(ds_block_flops_per_step(&neox, 128, 2, 154, 8, 65) ==
          ds_scale_flops_per_step(128, 2, 154, 8, 65));
    CHECK(ds_model_mlp_hidden(&neox, 128) == 512);

    ds_sweep *p = load_text(MINIMAL_COUNT);
    ds_sweep *s = load_text(MINIMAL_COUNT "model: {block: llama, head_dim: 16}\n");
    if (!s || !p) return;
    const ds_model_spec *m = &s->model;
    CHECK(m->block == DS_BLOCK_LLAMA && m->rotary_frac == 1.0 && m->kv_heads == 0 &&
          m->mlp_hidden == 0 && !m->qkv_bias && !m->tie_embeddings);
    CHECK(ds_model_kv_heads(m, 64) == 4 && ds_model_mlp_hidden(m, 64) == 192);
    CHECK(ds_model_mlp_hidden(m, 96) == 256 && ds_model_mlp_hidden(m, 768) == 2048);
    /* d 64, L 2, V 154, 4 heads = 4 kv heads, F 192:
     * L(2d + d*3d + d^2 + 3*d*F) + 2Vd + d */
    int64_t want = 2 * (2 * 64 + 64 * 192 + 64 * 64 + 3 * 64 * 192) + 2 * 154 * 64 + 64;
    CHECK_MSG(s->scales[0].n_params == want, "%lld", (long long)s->scales[0].n_params);
    double T = 127, tok = 8 * T;
    double fwd = 2.0 * (2 * (64.0 * 192 + 64 * 64 + 3 * 64 * 192) + 154 * 64) * tok + 2 * 4 * T * 64 * tok;
    CHECK(fabs(s->scales[0].flops_per_step - 3 * fwd) <= 1e-9 * fwd);
    char *cp = ds_sweep_canonical(p), *cs = ds_sweep_canonical(s);
    CHECK(!strstr(cp, "kv_heads") && !strstr(cp, "tie_embeddings"));
    CHECK(strstr(cs, "model.block: llama\nmodel.rotary_frac: 1\n"));
    CHECK(strstr(cs, "model.kv_heads: 0\nmodel.mlp_hidden: 0\nmodel.qkv_bias: false\n"
                     "model.tie_embeddings: false\n"));
    free(cp);
    free(cs);
    ds_sweep *g = load_text(MINIMAL_COUNT "model: {block: llama, head_dim: 16, kv_heads: 2, "
                                          "mlp_hidden: 100, qkv_bias: true, tie_embeddings: true}\n");
    if (g) {
        CHECK(g->yaml_hash != s->yaml_hash);
        /* 2 kv heads of 16: L(2d + d(d + 64) + (d + 64) + d^2 + 3*d*100) + Vd + d (tied) */
        int64_t wg = 2 * (2 * 64 + 64 * 128 + 128 + 64 * 64 + 3 * 64 * 100) + 154 * 64 + 64;
        CHECK_MSG(g->scales[0].n_params == wg, "%lld", (long long)g->scales[0].n_params);
        ds_model_config c = ds_model_config_from_sweep(g, 0, 1);
        CHECK(c.K == 2 && c.F == 100 && c.qkv_bias && c.tie && c.rot == 16 && c.H == 4);
        ds_sweep_free(g);
    }
    /* a params family picks only widths whose heads kv_heads divides */
    ds_sweep *q = load_text("task: {kind: count, vocab: 150, train_length: [1, 30], eval_lengths: [60]}\n"
                  "train: {steps: 1000, batch: 8, context: 128, lr: 0.001}\n"
                  "seeds: {count: 3}\n"
                  "model: {block: llama, head_dim: 16, kv_heads: 4}\n"
                  "scales: [{family: params, params: 100000, depth: [1, 2, 3]}]\n");
    if (q) {
        for (int i = 0; i < q->n_scales; i++)
            CHECK_MSG(q->scales[i].n_heads % 4 == 0, "width %d", q->scales[i].d_model);
        ds_sweep_free(q);
    }
    ds_sweep_free(s);
    ds_sweep_free(p);
}

static void test_errors(void) {
    ds_sweep *s = (ds_sweep *)1;
    ds_error err = {0};
    int rc = ds_sweep_load_text("x.yaml", MINIMAL_COUNT "bogus: 1\n", &s, &err);
    CHECK(rc == DS_EXIT_USAGE && err.code == DS_EXIT_USAGE && s == NULL);
    CHECK_MSG(!strcmp(err.msg, "x.yaml:5:1: unknown key 'bogus' in the sweep file (valid keys: name, "
                               "task, eval, model, train, seeds, scales, output, run, report)"), "%s", err.msg);
    rc = ds_sweep_load("/nonexistent/dir/s.yaml", &s, &err);
    CHECK(rc == DS_EXIT_USAGE && s == NULL);
    CHECK(!strcmp(err.msg, "/nonexistent/dir/s.yaml: cannot open sweep file: No such file or directory"));
}

static ds_sweep *variant(const char *from, const char *to) {
    char text[2048];
    const char *base = MINIMAL_COUNT "output: a.h5\n";
    const char *at = strstr(base, from);
    DS_ASSERT(at);
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - base), base, to, at + strlen(from));
    return load_text(text);
}

static void test_diff(void) {
    char msg[512];
    ds_sweep *a = variant("lr: 0.001", "lr: 0.001");
    ds_sweep *same = variant("lr: 0.001", "lr: 1.0e-3, warmup: 500, betas: [0.9, 0.999]");
    ds_sweep *lr = variant("lr: 0.001", "lr: 0.0001");
    ds_sweep *more = variant("count: 3", "count: 10");
    ds_sweep *fewer = variant("count: 3", "count: 2");
    ds_sweep *start = variant("count: 3", "start: 5, count: 3");
    ds_sweep *out = variant("output: a.h5", "output: b.h5\nrun: {pack: 4, max_attempts: 5}");
    ds_sweep *scale = variant("width: [64]", "width: [64, 128]");
    ds_sweep *evl = variant("eval_lengths: [60]", "eval_lengths: [60, 70]");
    ds_sweep *named = variant("output: a.h5", "output: a.h5\nname: renamed");
    ds_sweep *fam = variant("family: width,", "family: width, name: w,");
    if (!a || !same || !lr || !more || !fewer || !start || !out || !scale || !evl || !named || !fam) return;

    CHECK(ds_sweep_diff(a, a, msg, sizeof msg) == 0 && msg[0] == 0);
    /* Defaults written out are the same experiment, with the same hash. */
    CHECK(ds_sweep_diff(a, same, msg, sizeof msg) == 0);
    CHECK(a->yaml_hash == same->yaml_hash);
    CHECK(ds_sweep_diff(a, lr, msg, sizeof msg) == 1);
    CHECK_MSG(!strcmp(msg, "train.lr: 0.001 in the result file, 0.0001 in the sweep file"), "%s", msg);
    CHECK(a->yaml_hash != lr->yaml_hash);
    /* More seeds extend the file; fewer would drop runs. */
    CHECK(ds_sweep_diff(a, more, msg, sizeof msg) == 0);
    CHECK(a->yaml_hash == more->yaml_hash);
    CHECK(ds_sweep_diff(a, fewer, msg, sizeof msg) == 1);
    CHECK_MSG(!strcmp(msg, "seeds.count: 3 in the result file, 2 in the sweep file (seeds can be added, "
                           "not removed)"), "%s", msg);
    CHECK(ds_sweep_diff(a, start, msg, sizeof msg) == 1);
    CHECK_MSG(!strcmp(msg, "seeds.start: 0 in the result file, 5 in the sweep file"), "%s", msg);
    /* output and run.* do not change results. */
    CHECK(ds_sweep_diff(a, out, msg, sizeof msg) == 0);
    CHECK(a->yaml_hash == out->yaml_hash);
    CHECK(ds_sweep_diff(a, scale, msg, sizeof msg) == 1);
    CHECK_MSG(!strcmp(msg, "scales: 1 distinct in the result file, 2 distinct in the sweep file"), "%s", msg);
    CHECK(ds_sweep_diff(a, evl, msg, sizeof msg) == 1);
    CHECK_MSG(!strcmp(msg, "task.eval_lengths: [60] in the result file, [60, 70] in the sweep file"), "%s", msg);

    /* The sweep's name does not define the experiment; family names do. */
    CHECK(!strcmp(named->name, "renamed"));
    CHECK(ds_sweep_diff(a, named, msg, sizeof msg) == 0 && a->yaml_hash == named->yaml_hash);
    CHECK(ds_sweep_diff(a, fam, msg, sizeof msg) == 1);
    CHECK_MSG(!strcmp(msg, "families[0].name: width in the result file, w in the sweep file"), "%s", msg);

    /* The canonical text is the stored sweep re-loaded: loading yaml_text again
     * gives the same hash. */
    ds_sweep *again = load_text(lr->yaml_text);
    if (again) CHECK(again->yaml_hash == lr->yaml_hash);
    ds_sweep_free(again);
    ds_sweep *all[] = {a, same, lr, more, fewer, start, out, scale, evl, named, fam};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ds_sweep_free(all[i]);
}

/* ranks_per_job: a family's own value for its scales, run.ranks_per_job for
 * the others, one shared scale taking the value of the family that gives
 * one; none of it enters the canonical hash. */
static void test_ranks_per_job(void) {
    const char *head = "task: {kind: count, vocab: 150, train_length: [1, 30], eval_lengths: [30]}\n"
                       "train: {steps: 1000, batch: 8, context: 128, lr: 0.001}\n"
                       "seeds: {count: 3}\n";
    char text[1024];
    snprintf(text, sizeof text, "%s%s", head,
             "scales:\n"
             "  - {family: depth, width: 64, depth: [1, 2], ranks_per_job: 4}\n"
             "  - {family: width, depth: 2, width: [64, 128]}\n"
             "  - {family: width, name: big, depth: 3, width: [128]}\n"
             "run: {ranks_per_job: 2}\n");
    ds_sweep *s = load_text(text);
    if (!s) return;
    CHECK(s->run.ranks_per_job == 2);
    CHECK(s->scales[find_scale(s, 64, 1)].ranks_per_job == 4);
    CHECK(s->scales[find_scale(s, 64, 2)].ranks_per_job == 4); /* named by depth and width */
    CHECK(s->scales[find_scale(s, 128, 2)].ranks_per_job == 2);
    CHECK(s->scales[find_scale(s, 128, 3)].ranks_per_job == 2);
    CHECK(s->families[0].ranks_per_job == 4 && s->families[1].ranks_per_job == 0);
    snprintf(text, sizeof text, "%s%s", head,
             "scales:\n"
             "  - {family: depth, width: 64, depth: [1, 2]}\n"
             "  - {family: width, depth: 2, width: [64, 128]}\n"
             "  - {family: width, name: big, depth: 3, width: [128]}\n");
    ds_sweep *s1 = load_text(text);
    if (s1) {
        CHECK(s1->yaml_hash == s->yaml_hash);
        for (int i = 0; i < s1->n_scales; i++) CHECK(s1->scales[i].ranks_per_job == 1);
        ds_sweep_free(s1);
    }
    ds_sweep_free(s);
}

/* The report block: defaults (the first eval length beyond the training
 * maximum, else the largest), given values, and that it is not part of the
 * experiment (hash and diff). */
static void test_report(void) {
    ds_sweep *demo = load_file("demo.yaml"); /* train 1..10, eval 10, 15, 20 */
    if (demo) {
        int beyond = -1;
        CHECK(ds_report_default_length(&demo->task, &beyond) == 15 && beyond == 1);
        CHECK(demo->report.length == 15 && demo->report.metric == DS_M_EM && demo->report.threshold == 0.5);
        CHECK(!demo->report.metric_set && !demo->report.length_set && !demo->report.threshold_set);
        ds_sweep_free(demo);
    }
    /* the first beyond in the order written, not the smallest */
    ds_sweep *s = variant("eval_lengths: [60]", "eval_lengths: [20, 50, 40, 30]");
    if (s) {
        int beyond = -1;
        CHECK(ds_report_default_length(&s->task, &beyond) == 50 && beyond == 1);
        ds_sweep_free(s);
    }
    /* nothing beyond train max 30: the largest */
    s = variant("eval_lengths: [60]", "eval_lengths: [10, 30, 20]");
    if (s) {
        int beyond = -1;
        CHECK(ds_report_default_length(&s->task, &beyond) == 30 && beyond == 0);
        CHECK(s->report.length == 30);
        ds_sweep_free(s);
    }
    ds_sweep *a = variant("lr: 0.001", "lr: 0.001");
    ds_sweep *r = variant("eval_lengths: [60]",
                          "eval_lengths: [40, 60]}\nreport: {metric: error, threshold: 2.5, length: 40");
    ds_sweep *b = variant("eval_lengths: [60]", "eval_lengths: [40, 60]");
    ds_sweep *r2 = variant("eval_lengths: [60]", "eval_lengths: [40, 60]}\nreport: {metric: minprob");
    if (a && r && b && r2) {
        CHECK(r->report.metric == DS_M_ERROR && r->report.length == 40 && r->report.threshold == 2.5);
        CHECK(r->report.metric_set && r->report.length_set && r->report.threshold_set);
        CHECK(r2->report.metric == DS_M_MINPROB && r2->report.length == 40 && !r2->report.length_set);
        char msg[512];
        /* analysis settings: the same experiment, the same hash */
        CHECK(ds_sweep_diff(b, r, msg, sizeof msg) == 0 && b->yaml_hash == r->yaml_hash);
        CHECK(ds_sweep_diff(r, r2, msg, sizeof msg) == 0 && r->yaml_hash == r2->yaml_hash);
        char *c = ds_sweep_canonical(r);
        CHECK(!strstr(c, "report"));
        free(c);
        CHECK(a->yaml_hash != r->yaml_hash); /* the eval lengths did change */
    }
    ds_sweep_free(a), ds_sweep_free(r), ds_sweep_free(b), ds_sweep_free(r2);
}

int main(int argc, char **argv) {
    sweeps_dir = argc > 1 ? argv[1] : "sweeps";
    test_count();
    test_shipped();
    test_defaults();
    test_families();
    test_values_family();
    test_eval_sets();
    test_epochs();
    test_params_match_layout();
    test_llama();
    test_errors();
    test_diff();
    test_ranks_per_job();
    test_report();
    TEST_MAIN_END();
}
