/* schema: the result schema (format version 1), in one place for the writer
 * and every reader.
 *
 * Owns:
 *   - the run status codes as stored in /runs/status, and their names;
 *   - the metric names and their order (the last axis of a run's metrics,
 *     and the datasets under /metrics);
 *   - ds_run_result (what the engine returns for one seed) and ds_record
 *     (a finished run as rank 0 stores it), with the byte encoding that the
 *     journal (src/journal.c) and the MPI RESULT message (src/messages.h)
 *     share;
 *   - the table of the HDF5 objects of a result file: every dataset with a
 *     seed axis (path, element type, rank, what the inner axis is, fill
 *     value, whether a reader requires it), the /scales columns, the other
 *     fixed datasets and the root attributes.
 * src/store.c writes from these tables and src/results.c reads with them;
 * tools/distsweep_h5.py and docs/result-file.md mirror them, and
 * tests/store/test_schema.py fails when either drifts from this file.
 * Nothing here touches HDF5: element types map to HDF5 types in src/h5util.h.
 *
 * Journal/RESULT payload (native little-endian; docs/result-file.md):
 *   int32 scale, status, attempts, rank, n_len, n_curve |
 *   int64 seed, steps_done | float64 wall_s, t_stored (Unix time) |
 *   float32 final_loss, id_em | float32 metrics[n_len][DS_N_METRICS] |
 *   float32 curve[n_curve] | [int32 n_traj | float32 traj[n_traj][DS_N_METRICS]] |
 *   [int32 DS_ITEMS_TAG | int32 n_sets | int32 n_items[n_sets] |
 *    float32 ll_correct[sum n_items] | int8 chosen[sum n_items]]
 * The first bracketed trailer (evaluation during training, train.eval_every)
 * is present only when n_traj > 0: a record without a trajectory is byte for
 * byte what builds before it wrote, so journals stay readable both ways
 * (journal version unchanged; a build before it cannot parse a sweep with
 * eval_every anyway). The second (per-item results of the evaluation sets,
 * docs/result-file.md "Evaluation sets") is present only when n_item_sets >
 * 0 (a done run of a sweep with eval.multiple_choice); n_sets = n_len, the
 * sets in the axis's order, each set's items in its file's order. Its tag is
 * negative, so a decoder of the older layout reads it as an n_traj <= 0 (or,
 * after a trajectory, as bytes beyond the record) and refuses the record;
 * a record without it is byte for byte what builds before it wrote.
 */
#ifndef DS_SCHEMA_H
#define DS_SCHEMA_H

#include <math.h> /* NAN */
#include <stddef.h>
#include <stdint.h>

#include "sweep.h" /* DS_MAX_EVAL_LENGTHS */

#define DS_FORMAT_NAME "distsweep" /* the root attribute `format` */
#define DS_FORMAT_VERSION 1        /* the root attribute `format_version` */

/* ---- run status and metrics ------------------------------------------------ */

/* Run status codes, as stored in /runs/status. DS_RUN_UNREQUESTED marks a
 * seed that an adaptive sweep (src/adaptive.h) has not asked of this scale
 * (the seed axis is as long as the most seeds any scale has): not pending,
 * never trained unless a later round of that scale requests it. Files from
 * before adaptive sweeps have no such code. */
enum { DS_RUN_PENDING = 0, DS_RUN_DONE = 1, DS_RUN_FAILED = 2, DS_RUN_DIVERGED = 3,
       DS_RUN_UNREQUESTED = 4, DS_N_RUN_STATUS };

/* "pending", "done", "failed", "diverged", "unrequested"; status must be a
 * code above. */
const char *ds_run_status_name(int status);

/* Metrics per test length (docs/spec-tasks.md §6; defined in src/evaluate.h),
 * in this order: DS_M_EM ... DS_M_LOSS index ds_metric_names and are the
 * order of /metrics/<name> in the file's tables. */
#define DS_METRIC_LIST(X) X(EM, "em") X(ERROR, "error") X(MINPROB, "minprob") \
    X(TOKEN_ACC, "token_acc") X(LOSS, "loss")
#define DS_METRIC_ENUM_(id, name) DS_M_##id,
enum { DS_METRIC_LIST(DS_METRIC_ENUM_) DS_N_METRICS };
#undef DS_METRIC_ENUM_
extern const char *const ds_metric_names[DS_N_METRICS]; /* "em", "error", ... */

/* The index of a metric name, or -1. */
int ds_metric_index(const char *name);

/* What a sweep's evaluation points are, and so what its metric slots are
 * named (docs/result-file.md "Evaluation sets"): the test lengths of a
 * synthetic task, measured by em, error, minprob, token_acc and loss; or the
 * multiple-choice sets of a corpus task (eval.multiple_choice), measured by
 * mc_acc in em's slot (an item is an exact match when its chosen answer is
 * right: higher is better, a diverged run scores 0) and mc_nll in loss's
 * (the mean NLL of the correct choice: lower is better, NaN when diverged);
 * the other three slots are not measured there, not stored and not named.
 * One slot vector serves both, so the journal, the messages, the
 * checkpoints and the statistics are the same code. */
typedef enum { DS_EVAL_LENGTHS = 0, DS_EVAL_SETS = 1 } ds_eval_kind;
#define DS_M_MC_ACC DS_M_EM
#define DS_M_MC_NLL DS_M_LOSS

/* The evaluation kind of a task (sets: a corpus task). */
static inline ds_eval_kind ds_task_eval_kind(const ds_task_spec *t) {
    return t->kind == DS_TASK_CORPUS ? DS_EVAL_SETS : DS_EVAL_LENGTHS;
}
/* The name of metric slot m under kind k, NULL when k does not measure it. */
const char *ds_metric_name_of(ds_eval_kind k, int m);
/* The slot named `name` under kind k, or -1. */
int ds_metric_index_of(ds_eval_kind k, const char *name);
/* The names kind k measures, ", "-separated into buf (n bytes), for messages. */
const char *ds_metric_list_of(ds_eval_kind k, char *buf, size_t n);

/* error and loss: lower is better, so success at tau is x <= tau. */
static inline int ds_metric_lower_is_better(int metric) {
    return metric == DS_M_ERROR || metric == DS_M_LOSS;
}

/* The value of `metric` of a diverged run: the one home of the rule "a
 * diverged run is a legitimate sample that scores EM 0" (docs/spec-tasks.md
 * §6). A model whose loss went non-finite is taken to get nothing right, so
 * the metrics where higher is better (em, minprob, token_acc, all in [0, 1])
 * get their worst value 0; error and loss have no worst value (they are
 * unbounded above), so they are NaN, and a NaN never counts. The engine
 * stores exactly these for a diverged run (and id_em 0); readers apply the
 * em part of it through ds_run_counted_value. */
static inline float ds_run_diverged_metric(int metric) {
    return ds_metric_lower_is_better(metric) ? NAN : 0.0f;
}

/* The value a run counts with in the distribution statistics (`report`,
 * adaptive decisions; docs/analysis.md), or NaN when it does not count: a
 * done run counts with its stored value v; a diverged one with EM 0
 * (ds_run_diverged_metric) whatever the file stores, and with its stored
 * value for the other metrics; every other status does not count. Only em
 * is overridden on reading because only em has always been overridden: on
 * files the engine wrote the other stored values already are the rule's
 * (0, 0, NaN, NaN), while writers that keep a diverged run's metrics (the
 * synthetic job kind of the tests, src/synth.h; NaN from
 * tools/make_synthetic_results.py) have always been read as stored. */
static inline double ds_run_counted_value(int status, int metric, float v) {
    if (status == DS_RUN_DIVERGED && metric == DS_M_EM) return (double)ds_run_diverged_metric(DS_M_EM);
    if (status != DS_RUN_DONE && status != DS_RUN_DIVERGED) return (double)NAN;
    return (double)v;
}

/* The largest value a metric takes: 1 for em, minprob and token_acc (all in
 * [0, 1]), INFINITY for error and loss (in [0, inf)). */
double ds_metric_max(int metric);

/* ---- one run's result and its record --------------------------------------- */

/* The result of one (scale, seed) run, as the engine returns it. */
typedef struct {
    int64_t seed;
    int status;               /* DS_RUN_DONE or DS_RUN_DIVERGED */
    int64_t steps_done;
    double wall_s;
    float final_loss;         /* last training loss (NaN if diverged) */
    float metrics[DS_MAX_EVAL_LENGTHS][DS_N_METRICS]; /* [length index][metric] */
    float id_em;              /* in-distribution EM at the largest training length */
    int n_curve;              /* training-loss curve points (every log_every steps) */
    float *curve;             /* [n_curve], owned; free with ds_run_result_free */
    int n_traj;               /* evaluation points (train.eval_every; 0 when off) */
    float *traj;              /* [n_traj][DS_N_METRICS] at the report length, owned */
    /* Per-item results of the evaluation sets (a done run of a sweep with
     * eval.multiple_choice; n_item_sets 0 otherwise, a diverged run
     * included): set j's n_items[j] items start at ds_run_items_at(r, j) in
     * both arrays, sets in the evaluation axis's order. */
    int n_item_sets;
    int32_t n_items[DS_MAX_EVAL_LENGTHS];
    int8_t *chosen;           /* [sum n_items]: the chosen answer, -1 none; owned */
    float *ll_correct;        /* [sum n_items]: the correct choice's log-likelihood; owned */
} ds_run_result;

/* The negative tag that opens a record's per-item trailer (above). */
#define DS_ITEMS_TAG ((int32_t)-0x4d435449) /* -"ITCM" */
/* The most items an evaluation set may have (2^20; MMLU has 14,042): bounds
 * a record's size (64 sets x 5 bytes an item: 320 MiB at most, src/journal.c
 * RECORD_MAX) and what a decoder allocates; a larger set is refused when the
 * sweep's data are attached. */
#define DS_MAX_SET_ITEMS (1 << 20)

/* Offset of set j's first item in r->chosen and r->ll_correct (0 <= j <=
 * n_item_sets; j = n_item_sets gives the total). */
static inline size_t ds_run_items_at(const ds_run_result *r, int j) {
    size_t off = 0;
    for (int t = 0; t < j; t++) off += (size_t)r->n_items[t];
    return off;
}

/* Frees r->curve, r->traj, r->chosen and r->ll_correct, zeroes n_curve,
 * n_traj and n_item_sets (safe on a zeroed result or NULL). */
void ds_run_result_free(ds_run_result *r);

/* One finished run: where it belongs and what it produced. */
typedef struct {
    int32_t scale;    /* row of /scales */
    int32_t attempts; /* attempts it took (1 = first try) */
    int32_t rank;     /* MPI rank that trained it */
    int32_t n_len;    /* evaluation lengths in r.metrics */
    double t_stored;  /* Unix time rank 0 stored it (0 in RESULT messages) */
    ds_run_result r;  /* r.status is DS_RUN_DONE, DS_RUN_DIVERGED or DS_RUN_FAILED */
} ds_record;

/* Bytes needed to encode rec (the payload above). */
size_t ds_record_size(const ds_record *rec);
/* Encodes rec into buf (ds_record_size bytes); returns the size. */
size_t ds_record_encode(const ds_record *rec, unsigned char *buf);
/* Decodes n bytes into rec (rec->r.curve, rec->r.traj, rec->r.chosen and
 * rec->r.ll_correct newly allocated, or NULL when empty; metrics beyond
 * n_len are NaN). Returns 0, or -1 if the bytes are not a well-formed
 * payload (an item trailer whose n_sets is not n_len, a set of no items or
 * more than DS_MAX_SET_ITEMS, or sizes that do not add up included). */
int ds_record_decode(const unsigned char *buf, size_t n, ds_record *rec);
/* Frees rec->r.curve, rec->r.traj, rec->r.chosen and rec->r.ll_correct
 * (n_curve, n_traj, n_item_sets are left as they were). */
void ds_record_free(ds_record *rec);

/* ---- the objects of a result file ------------------------------------------ */

/* Element types of the file's datasets. In the file numbers are
 * little-endian, strings fixed-length and NUL-terminated. */
typedef enum {
    DS_EL_U8, DS_EL_I8, DS_EL_I32, DS_EL_I64, DS_EL_F32, DS_EL_F64,
    DS_EL_STR32, /* fixed 32-byte string */
    DS_EL_VLSTR, /* variable-length UTF-8 string (attributes) */
} ds_elem;

/* Bytes of one element in memory (DS_EL_STR32: 32; DS_EL_VLSTR: a char *). */
size_t ds_elem_size(ds_elem e);

/* The datasets with a seed axis, in the order a run's rows are written:
 * /runs/status comes last because it is the run's commit mark. */
enum {
    DS_D_STEPS = 0, DS_D_WALL, DS_D_RANK, DS_D_FINAL, DS_D_IDEM, DS_D_ATTEMPTS,
    DS_D_METRIC0, /* DS_D_METRIC0 + m for metric m */
    DS_D_CURVE = DS_D_METRIC0 + DS_N_METRICS,
    DS_D_TRAJ0, /* DS_D_TRAJ0 + m: /trajectories/<metric m> */
    DS_D_STATUS = DS_D_TRAJ0 + DS_N_METRICS,
    DS_N_SEED_DS
};

/* What the third axis of a rank-3 seed-axis dataset runs over. */
typedef enum {
    DS_INNER_NONE,    /* rank 2: [n_scales, S] */
    DS_INNER_LENGTHS, /* [n_scales, S, E]: one per /eval_lengths entry */
    DS_INNER_LOG,     /* [n_scales, S, n_log]: n_log = train.steps / train.log_every */
    DS_INNER_EVAL,    /* [n_scales, S, n_eval]: n_eval = train.steps / train.eval_every (0 if off) */
} ds_inner;

/* What a run that never wrote a dataset reads there (the HDF5 fill value;
 * readers pad a dataset shorter than /runs/status with it too). */
typedef enum { DS_FILL_ZERO, DS_FILL_MINUS1, DS_FILL_NAN } ds_fill;

typedef struct {
    const char *path; /* absolute, e.g. "/runs/steps_done" */
    ds_elem elem;
    int rank;         /* 2 or 3; the seed axis is axis 1, unlimited */
    ds_inner inner;
    ds_fill fill;
    int required;     /* a reader refuses a file without it */
} ds_seed_dataset;

/* Seed-axis dataset i (0 <= i < DS_N_SEED_DS). Its path is the lengths
 * kind's; ds_seed_dataset_path gives it per evaluation kind. */
const ds_seed_dataset *ds_seed_dataset_at(int i);

/* The path of seed-axis dataset i in a file of evaluation kind k:
 * /metrics/<name> and /trajectories/<name> by ds_metric_name_of, NULL for a
 * slot k does not measure (not stored); the others as ds_seed_dataset_at. */
const char *ds_seed_dataset_path(int i, ds_eval_kind k);

/* Writes dataset i's fill value in its memory type (ds_elem_size bytes) to
 * out. */
void ds_seed_fill(int i, void *out);

/* The other datasets: fixed 1-D columns of /scales, /seeds (1-D, unlimited)
 * and /eval_lengths; the groups /families (an int32 [k] per family) and
 * /runs, /metrics, /curves. */
enum { DS_SC_NAME = 0, DS_SC_D_MODEL, DS_SC_N_LAYERS, DS_SC_N_HEADS, DS_SC_N_PARAMS,
       DS_SC_FLOPS, DS_N_SCALE_COLS };
typedef struct {
    const char *path; /* e.g. "/scales/d_model", "/seeds" */
    ds_elem elem;
    const char *dim;  /* its one axis: "n_scales", "S", "E" */
    int required;     /* a reader refuses a file without it */
} ds_fixed_dataset;

#define DS_SCALES_GROUP "/scales"
/* /scales column c (0 <= c < DS_N_SCALE_COLS). */
const ds_fixed_dataset *ds_scale_column(int c);

/* /eval_sets: a file of evaluation kind sets names its sets, in the order of
 * its evaluation axis (fixed 32-byte strings, [E]); its presence is how a
 * reader knows the kind (absent: lengths). */
extern const ds_fixed_dataset ds_eval_sets_dataset;
extern const ds_fixed_dataset ds_seeds_dataset;        /* /seeds, int64 [S] */
extern const ds_fixed_dataset ds_eval_lengths_dataset; /* /eval_lengths, int32 [E] */
#define DS_FAMILIES_GROUP "/families"                  /* /families/<name>: int32 [k] */
#define DS_FAMILY_ELEM DS_EL_I32

/* The per-item datasets of a file of evaluation kind sets (docs/result-file.md
 * "Evaluation sets"): for each set, the group /items/<set name> (its int32
 * attribute n_items) holds /items/<set name>/<name> of shape
 * [n_scales, S, n_items], chunked and unlimited along the seed axis (axis 1)
 * like the seed-axis datasets, written with a run's other rows (before its
 * status). Absent in files of synthetic tasks, and in files of sets made
 * before them (readers then have no items). */
#define DS_ITEMS_GROUP "/items"
#define DS_ITEMS_N_ATTR "n_items"
enum { DS_I_CHOSEN = 0, DS_I_LL_CORRECT, DS_N_ITEM_DS };
typedef struct {
    const char *name; /* "chosen", "ll_correct" */
    ds_elem elem;     /* DS_EL_I8, DS_EL_F32 */
    ds_fill fill;     /* what a run without items reads: -1, NaN */
} ds_item_dataset;
/* Item dataset i (0 <= i < DS_N_ITEM_DS). */
const ds_item_dataset *ds_item_dataset_at(int i);
/* Writes item dataset i's fill value in its memory type to out. */
void ds_item_fill(int i, void *out);

/* Root attributes, in the order they are written. */
enum { DS_A_FORMAT = 0, DS_A_FORMAT_VERSION, DS_A_DISTSWEEP_VERSION, DS_A_GIT_COMMIT,
       DS_A_CREATED, DS_A_SWEEP_NAME, DS_A_SWEEP_YAML, DS_A_SWEEP_HASH, DS_A_PRECISION,
       DS_N_ROOT_ATTRS };
typedef struct {
    const char *name;
    ds_elem elem; /* DS_EL_VLSTR, or DS_EL_I32 for format_version */
} ds_root_attr;

/* Root attribute a (0 <= a < DS_N_ROOT_ATTRS), and its name. */
const ds_root_attr *ds_root_attr_at(int a);
static inline const char *ds_attr_name(int a) { return ds_root_attr_at(a)->name; }

#endif
