/* results: a read-only loader of a distsweep result file (docs/design.md §6, format
 * version 1) into memory, for the commands that read results (report,
 * status) and for tests.
 *
 * Safe on a file that another process is still writing: it opens with
 * H5F_ACC_RDONLY | H5F_ACC_SWMR_READ (falling back to a plain read-only open
 * for files not written in SWMR mode), refreshes every dataset before reading
 * it, and reads /runs/status FIRST: the writer writes a run's status after
 * its data, so every run this loader sees as done or diverged has its
 * metrics. Datasets that grew along the seed axis between two reads are cut
 * to the seed count of /runs/status; shorter ones are padded with their fill
 * value (src/schema.h: what a pending run reads), so the arrays below
 * always have consistent shapes.
 *
 * Owns nothing on disk; the whole file is copied into memory (a sweep of
 * thousands of seeds is a few MB). */
#ifndef DS_RESULTS_H
#define DS_RESULTS_H

#include <hdf5.h>
#include <math.h> /* NAN */
#include <stdint.h>

#include "common.h"

/* The schema: metric indices and names (DS_M_*, ds_metric_names,
 * ds_metric_index), run status codes (DS_RUN_*) and the datasets read here,
 * the same the writer (src/store.c) uses. */
#include "schema.h"

typedef struct {
    char name[128];
    int n;      /* number of scales */
    int *scale; /* indices into the scale arrays, in the family's order */
    /* a values family (docs/sweep-file.md "values"): the key it varies, its
     * axis label and each member's value of the key (/scales/<key>); key ""
     * and axis NULL for the families of model sizes */
    char key[96];
    char label[64];
    double *axis;       /* NaN per member where the key's values are text */
    char (*axis_text)[256]; /* a text key (model.init.from, a string column): each
                             * member's value; NULL for numeric keys */
} ds_res_family;

typedef struct {
    hid_t file;
    int swmr;    /* opened with SWMR_READ */
    int damaged; /* set by a failed open or refresh: metadata HDF5 cannot read */

    /* root attributes (empty strings where absent) */
    int format_version;
    char *distsweep_version, *git_commit, *created, *sweep_name, *sweep_yaml, *sweep_hash;
    char *precision; /* train.precision of the runs ("fp32" for files made before it was stored) */

    /* /scales */
    int n_scales;
    char (*scale_name)[64];
    int32_t *d_model, *n_layers, *n_heads;
    int64_t *n_params;
    double *flops_per_step;

    /* /families, in file order; when the file has none, one family "all"
     * with every scale in order of n_params */
    int n_families;
    ds_res_family *families;

    /* /eval_lengths: the evaluation axis. A corpus task's file (/eval_sets
     * present) evaluates multiple-choice sets: eval_lengths holds their
     * indices, set_names their names, and its metric slots are named by
     * ds_metric_name_of(eval_kind, m) (src/schema.h) */
    int n_lengths;
    int32_t *eval_lengths;
    ds_eval_kind eval_kind;
    char (*set_names)[32]; /* [n_lengths] for sets, else NULL */

    /* The seed axis: everything below has n_seeds columns. Refreshed. */
    int64_t n_seeds;
    int64_t *seeds;                /* [S] */
    uint8_t *status;               /* [scale][S] */
    /* [scale][S]; a dataset the file lacks reads as its fill value
     * (src/schema.h: attempts and steps_done 0, rank -1, the floats NaN) */
    int32_t *attempts, *rank;
    int64_t *steps_done;
    float *wall_s, *final_loss, *id_em;
    float *metrics[DS_N_METRICS];  /* [scale][S][length], indexed by DS_M_* */
    int64_t n_log;
    float *train_loss; /* [scale][S][n_log], NULL if absent */
    /* /trajectories/<metric> (train.eval_every): [scale][S][n_eval] at the
     * report's length, indexed by DS_M_*; NULL where the file lacks it
     * (files of sweeps without the key, or made before it) */
    int64_t n_eval;
    float *traj[DS_N_METRICS];
    /* /items/<set>/{chosen, ll_correct} (a file of evaluation sets), read
     * only after ds_results_read_items (they are large: 5 bytes per item and
     * run; report and status do not need them), then on every refresh: per
     * set (index into set_names) its items (0 and NULL arrays where the file
     * lacks them: files of synthetic tasks, or of sets made before items);
     * [scale][S][n_items[j]], padded with -1 and NaN like the rest. */
    int want_items;
    int32_t *n_items;      /* [n_lengths] for sets, else NULL */
    int8_t **chosen;       /* [n_lengths] */
    float **ll_correct;    /* [n_lengths] */
} ds_results;

/* Opens and loads the result file at path into r (zeroed first). Errors:
 * a missing or unreadable file, or one that is not a distsweep result file
 * (no format="distsweep" attribute, an unknown format_version, a missing or
 * misshapen dataset) -> DS_EXIT_USAGE with a message naming the file and the
 * problem; r is then empty and needs no close. A file whose metadata HDF5
 * cannot read (damaged) fails within bounded time (DS_H5_READ_ATTEMPTS,
 * src/h5util.h) with a message naming the dataset, group or attribute and
 * what to do ("OUT.h5: /seeds cannot be read (damaged metadata?); `distsweep
 * run SWEEP.yaml` ... rebuilds the file from OUT.h5.journal ..."). err must not be NULL
 * (here and in refresh). */
int ds_results_open(ds_results *r, const char *path, ds_error *err);

/* Re-reads the seed axis (seeds, runs, metrics, curves) from the open file,
 * picking up runs finished since the last read. */
int ds_results_refresh(ds_results *r, ds_error *err);

/* Reads the per-item datasets of a file of evaluation sets into r (above),
 * and keeps them read on every refresh. A file of another kind, or without
 * them, leaves the arrays NULL. Returns 0 or an error code with err set. */
int ds_results_read_items(ds_results *r, ds_error *err);

/* Frees everything and closes the file; safe on a zeroed struct. */
void ds_results_close(ds_results *r);

/* Index helpers. */
static inline size_t ds_res_run(const ds_results *r, int scale, int64_t seed) {
    return (size_t)scale * (size_t)r->n_seeds + (size_t)seed;
}
/* NaN for a slot the file's evaluation kind does not measure (not stored). */
static inline float ds_res_metric(const ds_results *r, int metric, int scale, int64_t seed,
                                  int length) {
    if (!r->metrics[metric]) return (float)NAN;
    return r->metrics[metric][ds_res_run(r, scale, seed) * (size_t)r->n_lengths + (size_t)length];
}

/* Run (scale, seed)'s items of set j (NULL when the file has none): chosen
 * and ll_correct start here and hold r->n_items[j] entries. */
static inline const int8_t *ds_res_chosen(const ds_results *r, int j, int scale, int64_t seed) {
    if (!r->chosen || !r->chosen[j]) return NULL;
    return r->chosen[j] + ds_res_run(r, scale, seed) * (size_t)r->n_items[j];
}
static inline const float *ds_res_ll_correct(const ds_results *r, int j, int scale, int64_t seed) {
    if (!r->ll_correct || !r->ll_correct[j]) return NULL;
    return r->ll_correct[j] + ds_res_run(r, scale, seed) * (size_t)r->n_items[j];
}

/* The family with this name, or NULL. */
const ds_res_family *ds_results_family(const ds_results *r, const char *name);
/* The index of an evaluation length, or -1. */
int ds_results_length_index(const ds_results *r, int length);
/* The index of the evaluation set named `name` (a file of evaluation sets), or -1. */
int ds_results_set_index(const ds_results *r, const char *name);
/* Evaluation point l in words, for headers: "length 15", or "set mmlu" in a
 * file of evaluation sets. buf needs DS_RES_POINT_NAME_MAX bytes. */
#define DS_RES_POINT_NAME_MAX 64
const char *ds_results_point_name(const ds_results *r, int l, char *buf);
/* Number of runs of a scale with the given status. */
int64_t ds_results_count(const ds_results *r, int scale, int status);

/* The value a run contributes to the statistics of docs/analysis.md ("Which
 * runs count"), or NaN when it does not count: done runs with their value (NaN
 * if missing), diverged runs with EM 0 (docs/spec-tasks.md §6) and their
 * stored value for the other metrics (usually NaN); pending and failed runs
 * never. */
double ds_results_value(const ds_results *r, int metric, int scale, int64_t seed, int length);

/* What `report` and `status` show when not told otherwise: the `report:`
 * block of the sweep text stored in the file (root attribute sweep_yaml,
 * loaded with src/sweep.h), each key defaulting as docs/sweep-file.md
 * "report" says (metric em, threshold 0.5, length ds_report_default_length).
 * The *_why strings say where each value comes from ("report.length",
 * "default", "first eval length beyond train_length max 10", ...), for the
 * commands' headers. A stored text that does not load (a file written by
 * another tool, or by a version whose sweep keys differ) gets the defaults
 * with the largest eval length, and note says why; else note is "". */
typedef struct {
    int metric;        /* DS_M_* */
    int length_index;  /* into eval_lengths; -1 only when the file has none */
    double threshold;
    char metric_why[64], length_why[160], threshold_why[64];
    char note[1200];
} ds_res_report;
void ds_results_report_defaults(const ds_results *r, ds_res_report *out);

#endif
