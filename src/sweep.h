/* sweep: the validated description of a sweep, loaded from a YAML sweep file.
 *
 * Owns the parsed, fully validated sweep (docs/design.md §5, docs/spec-tasks.md): task,
 * model, training hyperparameters, seeds, the distinct scales and the families
 * that are ordered views of them, output path and run options. Everything
 * downstream (plan, sample, train, scheduler, store) reads only this struct;
 * a ds_sweep that exists is valid, so no later module re-validates. */
#ifndef DS_SWEEP_H
#define DS_SWEEP_H

#include <stdint.h>

#include "backend_kind.h" /* ds_backend_kind (run.backend) */
#include "common.h"
#include "precision.h"    /* ds_precision (train.precision) */

#define DS_MAX_EVAL_LENGTHS 64
#define DS_MAX_SCALES 256
#define DS_MAX_FAMILIES 32
#define DS_NAME_MAX 64

typedef enum { DS_TASK_COUNT = 0, DS_TASK_ADDITION = 1, DS_TASK_CORPUS = 2 } ds_task_kind;
/* model.block: the GPT-NeoX blocks (parallel, sequential) and the llama block
 * (pre-norm sequential, RMSNorm, SwiGLU, grouped-query attention:
 * docs/spec-tasks.md §3). */
typedef enum { DS_BLOCK_PARALLEL = 0, DS_BLOCK_SEQUENTIAL = 1, DS_BLOCK_LLAMA = 2 } ds_block_kind;

/* A position in the sweep file, for error messages (1-based line and column). */
typedef struct {
    int line, col;
} ds_srcpos;

#define DS_MAX_SOURCES 16
#define DS_SOURCE_PATH_MAX 1024

typedef enum { DS_LOSS_ALL = 0, DS_LOSS_ANSWER = 1 } ds_loss_kind;

/* One source of a corpus task (docs/sweep-file.md "task"). */
typedef struct {
    char name[DS_NAME_MAX];
    char path[DS_SOURCE_PATH_MAX]; /* a shard or a glob, as written (relative: to the sweep
                                    * file's directory) */
    double weight;      /* the fraction of training rows (= tokens) from it */
    ds_loss_kind loss;  /* all (default) | answer (the .mask sidecars) */
    int slots;          /* rows of every block of 1024 it owns (src/corpus.h) */
} ds_source_spec;

struct ds_corpus; /* src/corpus.h */
struct ds_mc_set; /* src/mcfile.h */

/* One multiple-choice evaluation set of a corpus task (the sweep's
 * eval.multiple_choice, docs/sweep-file.md "eval"). */
typedef struct {
    char name[DS_NAME_MAX];
    char path[DS_SOURCE_PATH_MAX]; /* as written (relative: to the sweep file's directory) */
    int scoring;        /* -1: the file's; 0 letter, 1 completion: must be the file's */
    int n_items;        /* the set file's items: 0 until known (ds_sweep_attach_data; verify
                         * --repair takes it from the file or the journal); the third
                         * axis of /items/<name>/... (src/store.c) */
} ds_mc_spec;

typedef struct {
    ds_task_kind kind;
    int vocab;          /* count: number tokens 0..vocab-1; addition: unused (digits);
                         * corpus: the model's vocabulary (every token id < vocab) */
    int train_min;      /* training length range, inclusive */
    int train_max;
    int n_eval_lengths;
    int eval_lengths[DS_MAX_EVAL_LENGTHS];
    int hint_tokens;    /* addition: H; default max(eval_lengths, train_max) + 1 */
    int eval_examples;  /* addition: examples per test length; default 64000 */
    uint64_t eval_seed; /* addition: key of the evaluation set; default 1234 */
    /* corpus (docs/tasks.md "Corpus"); train_min = train_max = 0 and no eval lengths */
    int n_sources;
    ds_source_spec sources[DS_MAX_SOURCES];
    char tokenizer[DS_SOURCE_PATH_MAX]; /* task.tokenizer, "" when not given (sample only) */
    int eot;            /* task.eot, -1 when not given */
    /* eval.multiple_choice: a corpus task's evaluation sets. They are its
     * evaluation axis: n_eval_lengths = n_mc and eval_lengths[i] = i, so that
     * every per-point array (/metrics, the journal, the report) indexes sets
     * as it indexes test lengths (docs/result-file.md "Evaluation sets") */
    int n_mc;
    ds_mc_spec mc[DS_MAX_EVAL_LENGTHS];
    struct ds_mc_set *mc_sets[DS_MAX_EVAL_LENGTHS]; /* loaded by ds_sweep_attach_data, as corpus */
    /* The opened shards: NULL after ds_sweep_load, set by ds_sweep_attach_data
     * and owned by the sweep from then on (freed by ds_sweep_free). A copy of
     * the spec borrows it. */
    struct ds_corpus *corpus;
} ds_task_spec;

/* model.init (docs/sweep-file.md "model.init"): the replicas start from a
 * Hugging Face GPT-NeoX, Llama or Qwen2 model directory (src/hfmodel.h)
 * instead of the spec's init, with parts reinitialized per seed by the
 * spec's init rule. */
typedef enum {
    DS_REINIT_ATTENTION = 0, /* layer l: qkv_w qkv_b attn_out_w attn_out_b (HF's attention.*, self_attn.*) */
    DS_REINIT_MLP,           /* layer l: fc_w fc_b fc_out_w fc_out_b, llama gate_up_w down_w (HF's mlp.*) */
    DS_REINIT_BLOCK,         /* layer l: all its tensors, both norms included */
    DS_REINIT_HEAD,          /* head_w (embed_out, lm_head); a tied base is untied */
    DS_REINIT_FINAL_NORM,    /* lnf_w lnf_b (final_layer_norm, model.norm) */
    DS_REINIT_EMBEDDINGS     /* wte (embed_in) */
} ds_reinit_kind;

typedef struct {
    ds_reinit_kind kind;
    int layer;          /* layer parts: as written, negative from the end (-1 = last) */
    ds_srcpos pos;
} ds_reinit_part;

/* What a seed changes (init.vary): both the reinitialized values and the data
 * order (default), only the values (data from seeds.start), only the data
 * order (values from seeds.start). */
typedef enum { DS_VARY_BOTH = 0, DS_VARY_WEIGHTS, DS_VARY_DATA } ds_init_vary;

#define DS_MAX_REINIT 32
#define DS_INIT_PATH_MAX 2048

typedef struct {
    int enabled;                  /* model.init is given */
    char from[DS_INIT_PATH_MAX];  /* init.from as written (the canonical text's) */
    char dir[DS_INIT_PATH_MAX];   /* resolved against the sweep file's directory */
    ds_srcpos from_pos;
    int n_reinit;
    ds_reinit_part reinit[DS_MAX_REINIT];
    ds_init_vary vary;
    /* where the model keys that config.json implies were written (line 0:
     * not written), for ds_hf_attach's contradiction errors */
    ds_srcpos pos_head_dim, pos_block, pos_rotary_frac, pos_rope_base, pos_ln_eps;
    /* the llama block's (a llama or qwen2 config.json implies them too) */
    ds_srcpos pos_kv_heads, pos_mlp_hidden, pos_qkv_bias, pos_tie_embeddings;
    /* set by ds_hf_attach (src/hfmodel.h) once config.json and the weights are read
     * and the sweep agrees with them: head_dim, block, rotary_frac,
     * rope_base, ln_eps and the scales' n_heads are then the config's */
    int attached;
    /* set by ds_hf_attach: the base's head is its embeddings (tie_word_embeddings)
     * and the model is untied (the head reinitialized, or model.tie_embeddings
     * false written): head_w starts as a copy of wte, or the seed's init */
    int untied;
    /* ds_hf_attach prints no note on stderr (the other ranks of a run: rank 0 says it) */
    int quiet;
    /* ds_hf_attach reads config.json only, not the weights: for the commands
     * that never start a model from the base (verify, export and eval of a
     * stored model), which then need only the config beside the result file */
    int config_only;
} ds_init_spec;

typedef struct {
    int head_dim;       /* default 64 (with init.from and not written: 1 until
                         * ds_hf_attach sets config.json's) */
    ds_block_kind block;/* default parallel */
    double rotary_frac; /* default 0.25 */
    double rope_base;   /* default 10000 */
    double init_std;    /* default 0.02 */
    double ln_eps;      /* default 1e-5 (LayerNorm's eps; llama: RMSNorm's) */
    /* block llama only (given for another block: an error) */
    int kv_heads;       /* key/value heads; 0 (default): as many as the heads */
    int mlp_hidden;     /* SwiGLU intermediate size; 0 (default): ds_model_mlp_hidden's rule */
    int qkv_bias;       /* biases on q, k, v; default 0 */
    int tie_embeddings; /* the head uses wte; default 0 */
    ds_init_spec init;
} ds_model_spec;

/* train.schedule: the learning rate after warmup (src/optim.h ds_lr_at). */
typedef enum { DS_SCHED_COSINE = 0, DS_SCHED_LINEAR = 1 } ds_schedule;

typedef struct {
    int64_t steps;      /* with train.epochs: 0 until ds_sweep_attach_data resolves it */
    /* train.epochs (a corpus task, docs/sweep-file.md "train"): train at least `epochs`
     * epochs of source epochs_source instead of a number of steps; 0 when train.steps is
     * given. Resolved into steps by ds_sweep_attach_data (the source's size is the data's) */
    double epochs;
    int epochs_source;  /* index into task.sources */
    ds_srcpos epochs_pos; /* where train.epochs is written, for the attach step's messages */
    int batch;          /* rows per step per replica */
    int context;        /* tokens per row (model sees context-1 inputs) */
    double lr;
    int64_t warmup;
    ds_schedule schedule; /* default cosine */
    double weight_decay;
    double grad_clip;   /* global-norm clip per replica; 0 = off */
    double beta1, beta2, adam_eps;
    ds_precision precision;
    int64_t log_every;  /* training-loss curve point every log_every steps */
    int micro_batches;  /* each batch trained as this many micro-batches of whole sequences
                         * whose gradients are added in a fixed tree (src/step.h); a power of
                         * two, 1 by default */
    int64_t eval_every; /* evaluation during training (docs/engine.md): every replica is
                         * evaluated at the report's length every eval_every steps; 0 = off.
                         * When on, 0 < eval_every < steps, and the trajectory has
                         * ds_train_eval_points points */
} ds_train_spec;

/* Evaluation points of a run's trajectory: steps / eval_every (0 when off). */
static inline int64_t ds_train_eval_points(const ds_train_spec *tr) {
    return tr->eval_every > 0 ? tr->steps / tr->eval_every : 0;
}

/* seeds.adaptive (docs/sweep-file.md "seeds.adaptive"; decided by src/adaptive.h):
 * seeds.count is the first round of every scale, then a scale gets `step`
 * more seeds per round until the 95% bootstrap CI of `statistic` of `metric`
 * at test length `length` is at most ci_width wide, or it has `max`. */
typedef enum { DS_ADAPT_P_SUCCESS = 0, DS_ADAPT_MEAN_SUCCESS, DS_ADAPT_MEAN } ds_adapt_stat;
typedef struct {
    int enabled;        /* the block is present */
    int metric;         /* DS_M_* (src/schema.h) */
    int length;         /* a task.eval_lengths value */
    int length_idx;     /* its index in task.eval_lengths */
    ds_adapt_stat statistic; /* default p_success */
    double threshold;   /* tau of p_success / mean_success; default 0.5 */
    double ci_width;    /* stop once the CI is at most this wide */
    int64_t step;       /* seeds added per round; default seeds.count */
    int64_t max;        /* seeds per scale at most */
} ds_adaptive_spec;

typedef struct {
    int64_t start;
    int64_t count;      /* seeds start .. start+count-1 (adaptive: the first round) */
    ds_adaptive_spec adaptive;
} ds_seed_spec;

#define DS_MAX_SETTINGS 4
#define DS_SETTING_KEY_MAX 96

#define DS_SETTING_TEXT_MAX 256

/* A setting a condition changes from the sweep's value (a `values` family,
 * docs/sweep-file.md "values"): the sweep-file key as written (train.lr) and
 * the value. The keys that can vary are ds_setting_keys' (sweep.c); a value
 * equal to the sweep's own is no setting, so the condition is the plain scale.
 * Numeric keys hold `value` (text ""); the one text key, model.init.from (the
 * base model as a sweep axis), holds `text` (the directory as written; value
 * NaN). pos: where the value is written in the sweep file (first family that
 * names it), for attach's errors; not part of the condition's identity. */
typedef struct {
    char key[DS_SETTING_KEY_MAX];
    double value;
    char text[DS_SETTING_TEXT_MAX];
    ds_srcpos pos;
} ds_setting;

/* Whether the values of setting `key` are text (model.init.from), not numbers. */
int ds_setting_is_text(const char *key);

/* The model keys a base model's config.json implies (ds_hf_attach,
 * src/hfmodel.h). The sweep's own base (model.init.from) sets them in
 * ds_model_spec; a condition of a values family over model.init.from whose
 * base is its own carries them here (set 1), so that bases of different
 * sizes (a 0.5B beside a 1.5B) are conditions of one sweep: ds_scale_model
 * applies them, and through it ds_sweep_condition and
 * ds_model_config_from_sweep. The block is the same for every base. */
typedef struct {
    int set;
    int head_dim, kv_heads, mlp_hidden, qkv_bias, tie_embeddings;
    double rotary_frac, rope_base, ln_eps;
    int untied;         /* ds_init_spec.untied of this base */
} ds_scale_arch;

/* One distinct condition: a (width, depth) model scale and the settings it
 * changes (none for the scales of width/depth/params/points families). The
 * name keeps the word "scale" (/scales, --scale) that result files and the
 * command line already use. */
typedef struct {
    int d_model;
    int n_layers;
    int n_heads;
    int64_t n_params;       /* docs/spec-tasks.md §3 formula */
    double flops_per_step;  /* training FLOPs of one replica step (forward + backward) */
    int ranks_per_job;      /* ranks of the data-parallel group that trains its packs (1: one
                             * rank): its families' ranks_per_job, else run.ranks_per_job */
    int n_settings;         /* 0 for a plain scale; settings sorted by key */
    ds_setting settings[DS_MAX_SETTINGS];
    ds_scale_arch arch;     /* its own base's architecture, once attached (set 0: the sweep's) */
} ds_scale;

/* A family: a name and an ordered list of indices into sweep.scales. */
typedef struct {
    char name[DS_NAME_MAX];
    char kind[16];      /* width | depth | params | points | values */
    char key[DS_SETTING_KEY_MAX]; /* values: the key it varies; "" for the other kinds */
    char label[DS_NAME_MAX];      /* values: the axis label (`label:`, default the key) */
    int n;
    int scale_idx[DS_MAX_SCALES];
    int ranks_per_job;  /* the family's own ranks_per_job; 0 when not given */
    ds_srcpos pos;
} ds_family;

typedef struct {
    int pack;               /* replicas per pack; 0 = auto */
    int64_t checkpoint_every;
    int max_attempts;
    int ranks_per_job;      /* data-parallel group size of every scale whose families do not
                             * set one (ds_scale.ranks_per_job); 1 = one rank per pack */
    ds_backend_kind backend;
    /* run.save_models: the final fp32 parameters of the first save_models
     * seeds (seeds.start .. start+save_models-1) of every scale are stored
     * (OUT.h5.models/, docs/result-file.md); 0 = none (false, the default),
     * INT64_MAX = every seed (true). Outside the sweep hash, like all run.*. */
    int64_t save_models;
} ds_run_spec;

/* The `report:` block (docs/sweep-file.md "report"): what `distsweep report`,
 * `distsweep status` and tools/plot_sweep.py show when not told otherwise.
 * Analysis, not training: it is left out of the canonical text and the hash,
 * so changing it never changes which experiment a result file holds. */
typedef struct {
    int metric;         /* index into ds_metric_names (src/schema.h); default em */
    int length;         /* one of task.eval_lengths; default ds_report_default_length */
    double threshold;   /* success threshold (x >= tau, or x <= tau for error and loss); default 0.5 */
    int metric_set, length_set, threshold_set; /* 1 where the sweep file gives the key */
} ds_report_spec;

typedef struct {
    char path[4096];        /* the sweep file as given */
    char name[DS_NAME_MAX];
    char *yaml_text;        /* the whole file, owned; stored as provenance */
    uint64_t yaml_hash;     /* hash of the canonical sweep definition */

    ds_task_spec task;
    ds_model_spec model;
    ds_train_spec train;
    ds_seed_spec seeds;
    int n_scales;
    ds_scale scales[DS_MAX_SCALES];
    int n_families;
    ds_family families[DS_MAX_FAMILIES];
    char output[4096];      /* result file path; default results/<name>.h5 */
    ds_run_spec run;
    ds_report_spec report;
} ds_sweep;

/* Loads and validates a sweep file. On success returns 0 and *out holds a new
 * sweep (free with ds_sweep_free). On failure returns DS_EXIT_USAGE and err
 * holds "FILE:LINE:COL: message"; nothing is allocated. */
int ds_sweep_load(const char *path, ds_sweep **out, ds_error *err);

/* Same, from text in memory; name is used in messages as the file name. */
int ds_sweep_load_text(const char *name, const char *text, ds_sweep **out, ds_error *err);

/* Frees s and everything it owns, the attached data included. */
void ds_sweep_free(ds_sweep *s);

/* Opens the data a task trains on, where the task has any (corpus: the
 * shards, validated; synthetic tasks: nothing, returns 0). Loading a sweep
 * never touches data files, so status/report read a stored sweep on machines
 * without them; every command that makes training rows (train, run, sample,
 * bench, plan) calls this after loading. Relative paths resolve against the
 * directory of s->path. Returns 0, or DS_EXIT_USAGE with err naming the file
 * and its problem. Calling it again on an attached sweep does nothing. */
int ds_sweep_attach_data(ds_sweep *s, ds_error *err);

/* The most seeds a scale of s can have: seeds.count, or seeds.adaptive.max
 * when that is larger. */
static inline int64_t ds_sweep_max_seeds(const ds_sweep *s) {
    const ds_adaptive_spec *a = &s->seeds.adaptive;
    return a->enabled && a->max > s->seeds.count ? a->max : s->seeds.count;
}

/* Whether run.save_models selects job seed `seed` (any scale). */
int ds_sweep_saves_model(const ds_sweep *s, int64_t seed);

/* Parameter count of a scale (docs/spec-tasks.md §3): L(12d^2 + 13d) + 2 V_tot d + 2d.
 * The one definition of the formula: the model's P (ds_model_param_count,
 * model.h) is this; ds_model_tensors asserts its layout adds up to it, and
 * tests/sweep compares the two over a grid of (d, L, V). */
int64_t ds_scale_params(int d_model, int n_layers, int vocab_total);

/* Width of the MLP's hidden layer at width d: 4d for the GPT-NeoX blocks; for
 * llama model.mlp_hidden, or by default Llama's rule 2/3 of 4d rounded up to
 * a multiple of 64 (64 * ceil(8d / 192)). */
int ds_model_mlp_hidden(const ds_model_spec *m, int d_model);

/* Key/value heads at width d: model.kv_heads for llama when given, else the
 * heads (d / head_dim). */
int ds_model_kv_heads(const ds_model_spec *m, int d_model);

/* Parameter count of width d, depth L, vocabulary V in model m's block: the
 * one formula of every block. GPT-NeoX blocks: ds_scale_params. llama (hq =
 * d, hkv = kv_heads*head_dim, F = mlp_hidden):
 *   L(2d + d(d + 2hkv) + [d + 2hkv if qkv_bias] + d^2 + 3dF) + Vd + d + [Vd untied]
 * (the layout of src/model.h; ds_model_tensors asserts it adds up to this). */
int64_t ds_block_params(const ds_model_spec *m, int d_model, int n_layers, int vocab_total);

/* ds_scale_flops_per_step in model m's block: GPT-NeoX blocks that; llama
 * counts its own matmul weights, L(d(d + 2hkv) + d^2 + 3dF) + Vd per token
 * (with tied embeddings the head's product is still a product), and the same
 * attention term. */
double ds_block_flops_per_step(const ds_model_spec *m, int d_model, int n_layers, int vocab_total,
                               int batch, int context);

/* The name of a scale, "d<d_model>_L<n_layers>" (d64_L2), followed for a
 * condition by "_<short>=<value>" per setting (d64_L2_lr=0.0003; <short> is
 * the key's last part, or the source's name for a source weight): what
 * /scales/name stores and what --scale accepts besides a row (src/cli.h).
 * At most DS_SCALE_NAME_MAX-1 characters (the loader refuses a condition
 * whose name would be longer). */
#define DS_SCALE_NAME_MAX 32
void ds_scale_name(const ds_scale *sc, char *buf, size_t n);

/* Key i of the settings a `values` family can vary (docs/sweep-file.md
 * "values"), NULL past the last: settings that change what a run computes but
 * no tensor shape or stored array length. */
const char *ds_setting_key(int i);

/* The value of setting `key` (a ds_setting_key) in sweep s, not counting
 * any condition. */
double ds_setting_base(const ds_sweep *s, const char *key);

/* The value of setting `key` that condition scale_idx of s trains with: its
 * own where it changes the key, else the sweep's. */
double ds_scale_setting(const ds_sweep *s, int scale_idx, const char *key);

/* The text value of text setting `key` (ds_setting_is_text) that condition
 * scale_idx of s trains with: its own where it changes the key, else the
 * sweep's (model.init.from as written). Borrowed from s. */
const char *ds_scale_setting_text(const ds_sweep *s, int scale_idx, const char *key);

/* A condition's setting k as text into buf (n bytes): the text of a text
 * setting, else the shortest %g that reads back as the value. */
const char *ds_setting_str(const ds_setting *set, char *buf, size_t n);

/* The sweep as condition `scale_idx` of s trains: a copy of s with the
 * condition's settings applied (train.lr, ...). Everything that trains a
 * condition reads its settings from this copy (src/engine.c, cmd_bench.c).
 * A condition of model.init.from gets that base: model.init.from as written,
 * model.init.dir resolved against the sweep file's directory and, once
 * attached, the base's architecture (ds_scale_model).
 * The copy borrows s's yaml_text and attached data (ds_sweep_attach_data):
 * free it with free(), never ds_sweep_free, and before s. */
ds_sweep *ds_sweep_condition(const ds_sweep *s, int scale_idx);

/* A path written in the sweep file sweep_path (a source, an evaluation set,
 * a tokenizer, model.init.from) as a file name: absolute as is, relative
 * against the sweep file's directory (sweep_path without one, or NULL: as
 * is; docs/tasks.md "Corpus", docs/sweep-file.md "model.init"). Returns 0,
 * or -1 when it does not fit in n bytes (out is then truncated). */
int ds_sweep_resolve(const char *sweep_path, const char *path, char *out, size_t n);

/* The model section condition scale_idx of s is trained with: s->model, with
 * the condition's own base's architecture (ds_scale.arch) where it has one. */
void ds_scale_model(const ds_sweep *s, int scale_idx, ds_model_spec *out);

/* Training FLOPs of one optimizer step of one replica: 3 x the forward pass
 * (backward = 2 x forward). Forward = 2 x (matmul weights: L*12d^2 + head
 * V_tot*d) x tokens + attention scores and values 4*T*d per token per layer,
 * counted over the full T x T square (the PaLM/MFU convention), with
 * T = context-1 and tokens = batch*T. Embedding lookups, norms and
 * element-wise work are not counted. */
double ds_scale_flops_per_step(int d_model, int n_layers, int vocab_total, int batch, int context);

/* The default report length of a task: the first of task.eval_lengths (in
 * the order written) beyond the largest training length, where the
 * out-of-distribution phenomenon shows; when no eval length lies beyond it,
 * the largest eval length. *beyond (may be NULL) is set to 1 in the first
 * case, 0 in the second. tools/distsweep_h5.py (Results.report_settings)
 * mirrors this rule for the plots. */
int ds_report_default_length(const ds_task_spec *t, int *beyond);

/* The canonical text of the experiment a sweep defines: one "key: value" line
 * per setting with every default filled in, the distinct scales and the
 * families. Leaves out what cannot change a run's result: the sweep's name
 * (by default the file name, which may change), seeds.count (the seed axis
 * only grows), seeds.adaptive (it decides how many seeds a scale gets, never
 * what a run computes), output, run.*, the families' ranks_per_job (a group
 * trains the same runs: docs/design.md §8) and report.* (analysis settings).
 * Two sweeps with the same canonical text train the same runs; yaml_hash is
 * its FNV-1a 64 hash. Free with free(). */
char *ds_sweep_canonical(const ds_sweep *s);

/* Compares the sweep stored in a result file (old) with a sweep file (new).
 * Returns 0 when new continues old's experiment (identical canonical text and
 * seeds.count not smaller), else 1 with buf (n bytes) holding the first
 * differing setting, e.g. "train.lr: 0.001 in the result file, 0.0001 in the
 * sweep file". */
int ds_sweep_diff(const ds_sweep *old_sweep, const ds_sweep *new_sweep, char *buf, size_t n);

#endif
