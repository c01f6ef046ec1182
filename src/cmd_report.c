/* cmd_report: `distsweep report OUT.h5`, the distribution statistics of
 * docs/spec-tasks.md §7 for one metric at one test length, per family and scale, and
 * the seeds whose curves across a family are the most breakthrough-like and
 * the most linear. Reads through results.h (safe on a file still being
 * written); all statistics come from stats.h. Columns: docs/analysis.md. */
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adaptive.h"
#include "cli.h"
#include "common.h"
#include "dynamics.h"
#include "h5check.h"
#include "results.h"
#include "stats.h"

enum { FMT_TABLE, FMT_CSV, FMT_JSON };
enum { REPORT_BINS = 20 }; /* histogram bins in the JSON output */
/* Why one list stands for both rankings when a family has <= 3 scales
 * (ds_stats_b_equals_lin); tools/plot_sweep.py notes its one panel alike. */
#define DS_REPORT_SAME_NOTE \
    "breakthroughness and linearity coincide with 3 or fewer scales (at most 2 steps: " \
    "median = mean of the squared steps, so B = Lin)"

typedef struct {
    const char *path, *family;
    const char *metric_arg, *set_arg; /* --metric, --set: resolved once the file's kind is known */
    int metric, metric_set, length_value, length_set, top, format, tau_set;
    double tau;
    int dynamics, tb_set; /* --dynamics; --breakthrough-threshold given */
    double tb;            /* the breakthrough threshold (default tau) */
    /* where metric, length and tau come from, for the header: a flag, the
     * stored sweep's report block, or a default (ds_results_report_defaults) */
    char metric_why[64], length_why[160], tau_why[96];
} report_opts;

/* One scale's row. */
typedef struct {
    int scale;
    const char *family, *name; /* the family's name and the scale's (r->scale_name) */
    int64_t n_params, length;  /* the scale's parameters; the test length reported */
    int64_t n, n_diverged, n_pending, n_failed;
    int64_t n_unrequested; /* adaptive sweeps: seeds of the axis this scale never asked for */
    double mean, median, mode, std, w2, g1, g2, bc, dip, dip_p;
    ds_ci p, ms;
    double p_ci_w, ms_ci_w;  /* widths of p's and ms's intervals */
    double hist_lo, hist_hi; /* the histogram's range (the KDE grid's too) */
    int64_t hist[REPORT_BINS];
} scale_row;

/* The columns of a scale's row in the CSV and JSON outputs. The CSV header,
 * the CSV rows and the JSON scale objects are all written from this one
 * table, so that they cannot disagree; its order is the CSV's, and `json`
 * places a column among the JSON object's members (their order predates
 * the table, and files and scripts read both). docs/analysis.md lists them. */
typedef enum { COL_TEXT, COL_COUNT, COL_NUMBER } col_kind;
typedef struct {
    const char *name; /* CSV header and JSON key */
    col_kind kind;    /* the field's type: const char *, int64_t or double */
    size_t at;        /* offsetof the field in scale_row */
    int json;         /* position among the JSON object's members, from 1; 0: CSV only (the
                       * family and the length are the JSON's enclosing objects') */
} report_column;

#define COL(name, kind, field, json) {name, kind, offsetof(scale_row, field), json}
static const report_column report_columns[] = {
    COL("family", COL_TEXT, family, 0),
    COL("scale", COL_TEXT, name, 1),
    COL("n_params", COL_COUNT, n_params, 2),
    COL("length", COL_COUNT, length, 0),
    COL("n", COL_COUNT, n, 3),
    COL("n_diverged", COL_COUNT, n_diverged, 4),
    COL("n_pending", COL_COUNT, n_pending, 5),
    COL("n_failed", COL_COUNT, n_failed, 6),
    COL("mean", COL_NUMBER, mean, 10),
    COL("median", COL_NUMBER, median, 11),
    COL("mode", COL_NUMBER, mode, 12),
    COL("std", COL_NUMBER, std, 13),
    COL("p_success", COL_NUMBER, p.est, 14),
    COL("p_success_lo", COL_NUMBER, p.lo, 15),
    COL("p_success_hi", COL_NUMBER, p.hi, 16),
    COL("mean_success", COL_NUMBER, ms.est, 17),
    COL("mean_success_lo", COL_NUMBER, ms.lo, 18),
    COL("mean_success_hi", COL_NUMBER, ms.hi, 19),
    COL("w2_to_largest", COL_NUMBER, w2, 20),
    COL("skewness", COL_NUMBER, g1, 21),
    COL("kurtosis", COL_NUMBER, g2, 22),
    COL("bimodality_coefficient", COL_NUMBER, bc, 23),
    COL("dip", COL_NUMBER, dip, 24),
    COL("dip_p", COL_NUMBER, dip_p, 25),
    COL("p_success_ci_width", COL_NUMBER, p_ci_w, 8),
    COL("mean_success_ci_width", COL_NUMBER, ms_ci_w, 9),
    COL("n_unrequested", COL_COUNT, n_unrequested, 7),
};
#undef COL
enum { N_REPORT_COLUMNS = sizeof report_columns / sizeof report_columns[0] };

/* Dip nulls, one per sample size met (the sizes of a report are few). */
typedef struct {
    size_t n;
    double *null;
} dip_cache_entry;
typedef struct {
    dip_cache_entry *e;
    int count;
} dip_cache;

static const double *dip_null_for(dip_cache *c, size_t n) {
    for (int i = 0; i < c->count; i++)
        if (c->e[i].n == n) return c->e[i].null;
    c->e = DS_REALLOC(c->e, (size_t)(c->count + 1) * sizeof *c->e);
    c->e[c->count].n = n;
    c->e[c->count].null = DS_MALLOC(DS_DIP_SIMS * sizeof(double));
    ds_stats_dip_null(n, DS_DIP_SIMS, c->e[c->count].null);
    return c->e[c->count++].null;
}

/* The value a counted run contributes, or NaN (the rule: src/schema.h
 * ds_run_counted_value, through ds_results_value, shared with `status`). */
static double run_value(const ds_results *r, int metric, int scale, int64_t seed, int l) {
    return ds_results_value(r, metric, scale, seed, l);
}

/* The counted values of one scale, finite only; returns how many. */
static size_t scale_values(const ds_results *r, int metric, int scale, int l, double *out) {
    size_t n = 0;
    for (int64_t s = 0; s < r->n_seeds; s++) {
        double v = run_value(r, metric, scale, s, l);
        if (isfinite(v)) out[n++] = v;
    }
    return n;
}

static int lower_is_better(int metric) { return ds_metric_lower_is_better(metric); }

static void compute_row(const ds_results *r, const report_opts *o, int l, int scale,
                        int largest, dip_cache *dc, double *buf, double *buf2, scale_row *row) {
    memset(row, 0, sizeof *row);
    row->scale = scale;
    row->name = r->scale_name[scale];
    row->n_params = r->n_params[scale];
    row->length = r->eval_lengths[l];
    row->n_diverged = ds_results_count(r, scale, DS_RUN_DIVERGED);
    row->n_pending = ds_results_count(r, scale, DS_RUN_PENDING);
    row->n_unrequested = ds_results_count(r, scale, DS_RUN_UNREQUESTED);
    row->n_failed = ds_results_count(r, scale, DS_RUN_FAILED);
    size_t n = scale_values(r, o->metric, scale, l, buf);
    row->n = (int64_t)n;
    row->mean = ds_stats_mean(buf, n);
    row->median = ds_stats_median(buf, n);
    row->std = ds_stats_std(buf, n);
    /* bounded metrics live on [0,1]; error and loss are unbounded, so their
     * KDE grid spans the sample */
    double lo = 0, hi = 1;
    if (o->metric == DS_M_ERROR || o->metric == DS_M_LOSS) {
        lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < n; i++) lo = fmin(lo, buf[i]), hi = fmax(hi, buf[i]);
        if (n == 0) lo = 0, hi = 1;
        if (!(hi > lo)) hi = lo + 1;
    }
    row->mode = ds_stats_kde_mode(buf, n, lo, hi);
    row->hist_lo = lo, row->hist_hi = hi;
    ds_stats_histogram(buf, n, lo, hi, REPORT_BINS, row->hist);
    if (lower_is_better(o->metric)) {
        /* success is x <= tau: P(-x >= -tau), and the mean flips back */
        for (size_t i = 0; i < n; i++) buf2[i] = -buf[i];
        ds_stats_success(buf2, n, -o->tau, &row->p, &row->ms);
        ds_ci m = row->ms;
        row->ms.est = -m.est, row->ms.lo = -m.hi, row->ms.hi = -m.lo;
    } else {
        ds_stats_success(buf, n, o->tau, &row->p, &row->ms);
    }
    ds_stats_moments(buf, n, &row->g1, &row->g2, &row->bc);
    row->dip = ds_stats_dip(buf, n);
    row->dip_p = n ? ds_stats_dip_pvalue(row->dip, dip_null_for(dc, n), DS_DIP_SIMS) : NAN;
    size_t m = scale_values(r, o->metric, largest, l, buf2);
    row->w2 = ds_stats_w2(buf, n, buf2, m);
    row->p_ci_w = row->p.hi - row->p.lo;
    row->ms_ci_w = row->ms.hi - row->ms.lo;
}

/* --- output ------------------------------------------------------------------- */

/* A number for JSON: NaN -> null, +-inf -> "inf"/"-inf" (JSON has neither). */
static void jnum(FILE *f, double v) {
    if (isnan(v)) fputs("null", f);
    else if (isinf(v)) fputs(v > 0 ? "\"inf\"" : "\"-inf\"", f);
    else fprintf(f, "%.10g", v);
}

/* The CSV header line: every column's name. */
static void csv_header(void) {
    for (int c = 0; c < N_REPORT_COLUMNS; c++)
        printf("%s%s", c ? "," : "", report_columns[c].name);
    printf("\n");
}

/* Column c of row w as a CSV field (text as is, counts, numbers with 6 decimals)
 * or as a JSON value. */
static void column_value(const scale_row *w, int c, int json) {
    const report_column *col = &report_columns[c];
    const char *field = (const char *)w + col->at;
    char b[32];
    switch (col->kind) {
    case COL_TEXT:
        if (json) ds_json_str(stdout, *(const char *const *)(const void *)field);
        else fputs(*(const char *const *)(const void *)field, stdout);
        break;
    case COL_COUNT:
        printf("%lld", (long long)*(const int64_t *)(const void *)field);
        break;
    case COL_NUMBER: {
        double v = *(const double *)(const void *)field;
        if (json) jnum(stdout, v);
        else fputs(ds_fmt_fixed(b, sizeof b, v, 6), stdout);
        break;
    }
    }
}

/* One CSV row: every column, in the table's order. */
static void csv_row(const scale_row *w) {
    for (int c = 0; c < N_REPORT_COLUMNS; c++) {
        if (c) putchar(',');
        column_value(w, c, 0);
    }
    printf("\n");
}

/* The JSON members of a scale, "\"scale\": ..., \"n_params\": ...", in the
 * order of the columns' json positions. */
static void json_members(const scale_row *w) {
    int members = 0, written = 0;
    for (int c = 0; c < N_REPORT_COLUMNS; c++) members += report_columns[c].json > 0;
    for (int pos = 1;; pos++) {
        int c = 0;
        while (c < N_REPORT_COLUMNS && report_columns[c].json != pos) c++;
        if (c == N_REPORT_COLUMNS) break;
        printf("%s\"%s\": ", pos > 1 ? ", " : "", report_columns[c].name);
        column_value(w, c, 1);
        written++;
    }
    DS_ASSERT(written == members); /* the json positions are 1..members, each once */
}

typedef struct {
    int64_t seed;
    double B, Lin;
} seed_rank;

static int report_family(const ds_results *r, const report_opts *o, int l,
                         const ds_res_family *fam, dip_cache *dc, int first_family) {
    size_t S = (size_t)r->n_seeds;
    double *buf = DS_MALLOC((S ? S : 1) * sizeof *buf), *buf2 = DS_MALLOC((S ? S : 1) * sizeof *buf2);
    scale_row *rows = DS_CALLOC(fam->n ? (size_t)fam->n : 1, sizeof *rows);
    int largest = fam->n ? fam->scale[fam->n - 1] : -1;
    for (int k = 0; k < fam->n; k++) {
        compute_row(r, o, l, fam->scale[k], largest, dc, buf, buf2, &rows[k]);
        rows[k].family = fam->name;
    }

    /* curves of each seed along the family */
    double *Bv = DS_MALLOC((S ? S : 1) * sizeof *Bv), *Lv = DS_MALLOC((S ? S : 1) * sizeof *Lv);
    double *curve = DS_MALLOC((fam->n ? (size_t)fam->n : 1) * (S ? S : 1) * sizeof *curve);
    double *neg = DS_MALLOC((fam->n ? (size_t)fam->n : 1) * sizeof *neg);
    for (size_t s = 0; s < S; s++) {
        double *y = curve + s * (size_t)fam->n;
        for (int k = 0; k < fam->n; k++) y[k] = run_value(r, o->metric, fam->scale[k], (int64_t)s, l);
        int complete = 1;
        for (int k = 0; k < fam->n; k++) complete &= isfinite(y[k]) != 0;
        if (complete) {
            /* on -x for error and loss, so that a positive B is an improvement */
            int flip = lower_is_better(o->metric);
            for (int k = 0; k < fam->n; k++) neg[k] = flip ? -y[k] : y[k];
            ds_stats_breakthrough(neg, (size_t)fam->n, &Bv[s], &Lv[s]);
        } else {
            Bv[s] = Lv[s] = NAN;
        }
    }
    size_t K = (size_t)o->top;
    size_t *topB = DS_MALLOC((K ? K : 1) * sizeof *topB), *topL = DS_MALLOC((K ? K : 1) * sizeof *topL);
    size_t nB = ds_stats_top_k(Bv, S, K, topB), nL = ds_stats_top_k(Lv, S, K, topL);
    size_t ncomplete = 0;
    for (size_t s = 0; s < S; s++) ncomplete += !isnan(Bv[s]);

    char b[16][32];
    if (o->format == FMT_TABLE) {
        printf("\nfamily %s (%d scales; W2 to %s)\n", fam->name, fam->n,
               largest >= 0 ? r->scale_name[largest] : "-");
        /* a values family's second column is its varied value, headed by its
         * label (docs/sweep-file.md "values"); names as wide as the longest */
        int nw = 12;
        for (int k = 0; k < fam->n; k++)
            if ((int)strlen(r->scale_name[fam->scale[k]]) > nw) nw = (int)strlen(r->scale_name[fam->scale[k]]);
        if (fam->axis) printf("%s: %s\n", fam->label, fam->key);
        /* the label whole up to 24 characters; the parameter column keeps its 10 */
        int vw = fam->axis ? (int)strlen(fam->label) : 10;
        vw = vw < 10 ? 10 : vw > 24 ? 24 : vw;
        printf("%-*s %*.*s %4s %3s %3s %6s %6s %6s %6s %22s %22s %6s %6s %6s %6s %5s\n", nw, "scale", vw, vw,
               fam->axis ? fam->label : "params", "n", "div", "pend", "mean", "median", "mode", "std",
               "p_success [95% CI]", "mean_success [95% CI]", "W2", "BC", "dip_p", "ci_w", "unreq");
        for (int k = 0; k < fam->n; k++) {
            scale_row *w = &rows[k];
            char pcol[64], mcol[64];
            snprintf(pcol, sizeof pcol, "%s [%s,%s]", ds_fmt_fixed(b[0], 32, w->p.est, 2),
                     ds_fmt_fixed(b[1], 32, w->p.lo, 2), ds_fmt_fixed(b[2], 32, w->p.hi, 2));
            snprintf(mcol, sizeof mcol, "%s [%s,%s]", ds_fmt_fixed(b[3], 32, w->ms.est, 3),
                     ds_fmt_fixed(b[4], 32, w->ms.lo, 3), ds_fmt_fixed(b[5], 32, w->ms.hi, 3));
            char second[32];
            if (fam->axis_text) snprintf(second, sizeof second, "%s", fam->axis_text[k]); /* a base model */
            else if (fam->axis) snprintf(second, sizeof second, "%g", fam->axis[k]);
            else snprintf(second, sizeof second, "%lld", (long long)r->n_params[w->scale]);
            printf("%-*s %*s %4lld %3lld %4lld %6s %6s %6s %6s %22s %22s %6s %6s %6s %6s %5lld\n",
                   nw, r->scale_name[w->scale], vw, second, (long long)w->n,
                   (long long)w->n_diverged, (long long)w->n_pending, ds_fmt_fixed(b[6], 32, w->mean, 3),
                   ds_fmt_fixed(b[7], 32, w->median, 3), ds_fmt_fixed(b[8], 32, w->mode, 3),
                   ds_fmt_fixed(b[9], 32, w->std, 3), pcol, mcol, ds_fmt_fixed(b[10], 32, w->w2, 3),
                   ds_fmt_fixed(b[11], 32, w->bc, 3), ds_fmt_fixed(b[12], 32, w->dip_p, 3),
                   ds_fmt_fixed(b[13], 32, w->p_ci_w, 3), (long long)w->n_unrequested);
        }
        /* with <= 3 scales B = Lin (stats.h), so the two lists are one */
        int same = ds_stats_b_equals_lin((size_t)fam->n);
        for (int which = 0; which < 2 - same; which++) {
            size_t *top = which ? topL : topB, nt = which ? nL : nB;
            if (same)
                printf("top %zu breakthrough seeds = top %zu linear seeds (of %zu with a complete "
                       "curve): %s\n", nt, nt, ncomplete, DS_REPORT_SAME_NOTE);
            else
                printf("top %zu %s seeds (of %zu with a complete curve):\n", nt,
                       which ? "linear" : "breakthrough", ncomplete);
            for (size_t i = 0; i < nt; i++) {
                size_t s = top[i];
                printf("  seed %-8lld B %8s  Lin %8s  curve", (long long)r->seeds[s],
                       ds_fmt_fixed(b[0], 32, Bv[s], 3), ds_fmt_fixed(b[1], 32, Lv[s], 3));
                for (int k = 0; k < fam->n; k++)
                    printf(" %s", ds_fmt_fixed(b[2], 32, curve[s * (size_t)fam->n + (size_t)k], 3));
                printf("\n");
            }
        }
    } else if (o->format == FMT_CSV) {
        for (int k = 0; k < fam->n; k++) csv_row(&rows[k]);
    } else {
        printf("%s\n    {\"name\": ", first_family ? "" : ",");
        ds_json_str(stdout, fam->name);
        printf(", \"largest\": ");
        ds_json_str(stdout, largest >= 0 ? r->scale_name[largest] : "");
        printf(", \"complete_curves\": %zu, \"b_equals_lin\": %s", ncomplete,
               ds_stats_b_equals_lin((size_t)fam->n) ? "true" : "false");
        if (fam->axis) { /* a values family: its key, label and each member's value */
            printf(", \"key\": ");
            ds_json_str(stdout, fam->key);
            printf(", \"label\": ");
            ds_json_str(stdout, fam->label);
            printf(", \"values\": [");
            for (int k = 0; k < fam->n; k++) {
                printf("%s", k ? ", " : "");
                if (fam->axis_text) ds_json_str(stdout, fam->axis_text[k]);
                else jnum(stdout, fam->axis[k]);
            }
            printf("]");
        }
        printf(",\n     \"scales\": [");
        for (int k = 0; k < fam->n; k++) {
            scale_row *w = &rows[k];
            printf("%s\n      {", k ? "," : "");
            json_members(w);
            printf(", \"histogram\": {\"lo\": ");
            jnum(stdout, w->hist_lo);
            printf(", \"hi\": ");
            jnum(stdout, w->hist_hi);
            printf(", \"counts\": [");
            for (int i = 0; i < REPORT_BINS; i++)
                printf("%s%lld", i ? ", " : "", (long long)w->hist[i]);
            printf("]}}");
        }
        printf("]");
        for (int which = 0; which < 2; which++) {
            size_t *top = which ? topL : topB, nt = which ? nL : nB;
            printf(",\n     \"%s\": [", which ? "top_linear" : "top_breakthrough");
            for (size_t i = 0; i < nt; i++) {
                size_t s = top[i];
                printf("%s{\"seed\": %lld, \"seed_index\": %zu, \"B\": ", i ? ", " : "",
                       (long long)r->seeds[s], s);
                jnum(stdout, Bv[s]);
                printf(", \"Lin\": ");
                jnum(stdout, Lv[s]);
                printf(", \"curve\": [");
                for (int k = 0; k < fam->n; k++) {
                    if (k) printf(", ");
                    jnum(stdout, curve[s * (size_t)fam->n + (size_t)k]);
                }
                printf("]}");
            }
            printf("]");
        }
        printf("}");
    }
    free(topB), free(topL), free(curve), free(neg), free(Bv), free(Lv), free(rows), free(buf), free(buf2);
    return 0;
}

/* --- training dynamics (--dynamics) --------------------------------------------- */

/* One scale of `report --dynamics`: its counted seeds (the report's rule at
 * the trajectory's length), each one's breakthrough point (-1: censored;
 * a diverged run always), final value and mode, and their summary. */
typedef struct {
    int scale;
    size_t n, n_diverged;
    int64_t *seed_index, *point;
    int *success, *diverged;
    double *final;
    double *S; /* survival after each evaluation point */
    ds_dyn_summary sum;
} dyn_row;

/* The evaluation schedule of a file's trajectories, from its stored sweep. */
typedef struct {
    int64_t every, steps, n_points;
    int length; /* the length the trajectories were evaluated at (report.length) */
} dyn_schedule;

/* Fills w for one scale: metric o->metric at length index l, breakthrough
 * at o->tb, final mode at o->tau (docs/analysis.md "Training dynamics"). */
static void dyn_compute(const ds_results *r, const report_opts *o, int l, int scale,
                        int64_t n_points, dyn_row *w) {
    size_t S = (size_t)r->n_seeds ? (size_t)r->n_seeds : 1;
    int lower = lower_is_better(o->metric);
    w->scale = scale;
    w->n = w->n_diverged = 0;
    w->seed_index = DS_MALLOC(S * sizeof *w->seed_index);
    w->point = DS_MALLOC(S * sizeof *w->point);
    w->success = DS_MALLOC(S * sizeof *w->success);
    w->diverged = DS_MALLOC(S * sizeof *w->diverged);
    w->final = DS_MALLOC(S * sizeof *w->final);
    w->S = DS_MALLOC((n_points ? (size_t)n_points : 1) * sizeof *w->S);
    const float *traj = r->traj[o->metric];
    for (int64_t s = 0; s < r->n_seeds; s++) {
        double v = run_value(r, o->metric, scale, s, l);
        if (!isfinite(v)) continue; /* not counted (report's rule) */
        size_t i = w->n++;
        int div = r->status[ds_res_run(r, scale, s)] == DS_RUN_DIVERGED;
        w->seed_index[i] = s;
        w->diverged[i] = div;
        w->n_diverged += (size_t)div;
        w->final[i] = v;
        w->success[i] = ds_dyn_success(v, o->tau, lower);
        w->point[i] = div ? -1
                          : ds_dyn_breakthrough(traj + ds_res_run(r, scale, s) * (size_t)n_points,
                                                n_points, o->tb, lower);
    }
    ds_dyn_summarize(w->point, w->success, w->n, n_points, w->S, &w->sum);
}

static void dyn_free(dyn_row *w) {
    free(w->seed_index), free(w->point), free(w->success), free(w->diverged), free(w->final);
    free(w->S);
}

/* A quantile (a point, -1 = not reached) as a step, for the table and CSV. */
static const char *dyn_step_text(char *b, size_t bs, int64_t point, size_t n, int64_t every,
                                 int csv) {
    if (!n) snprintf(b, bs, "nan");
    else if (point < 0) snprintf(b, bs, csv ? "not_reached" : "not reached");
    else snprintf(b, bs, "%lld", (long long)((point + 1) * every));
    return b;
}

/* The same in JSON: null when not reached (or no seed). */
static void dyn_step_json(int64_t point, int64_t every) {
    if (point < 0) printf("null");
    else printf("%lld", (long long)((point + 1) * every));
}

/* The CSV columns of a --dynamics row (docs/analysis.md). */
static void dyn_csv_header(void) {
    printf("family,scale,n_params,length,n,n_broke,n_censored,n_diverged,q25,median,q75,"
           "split_step,n_early,early_success,early_fraction,n_late,late_success,late_fraction,"
           "p_value\n");
}

static void dyn_table_family(const ds_results *r, const ds_res_family *fam, const dyn_row *rows,
                             const dyn_schedule *ev) {
    char b[8][32];
    printf("\nfamily %s (%d scales)\n", fam->name, fam->n);
    printf("%-12s %4s %5s %4s %3s %11s %11s %11s %8s %9s %9s %8s\n", "scale", "n", "broke", "cens",
           "div", "q25", "median", "q75", "split", "early", "late", "fisher_p");
    for (int k = 0; k < fam->n; k++) {
        const dyn_row *w = &rows[k];
        const ds_dyn_summary *u = &w->sum;
        char early[32], late[32];
        snprintf(early, sizeof early, "%zu/%zu", u->early_success, u->n_early);
        snprintf(late, sizeof late, "%zu/%zu", u->late_success, u->n_late);
        printf("%-12s %4zu %5zu %4zu %3zu %11s %11s %11s %8s %9s %9s %8s\n",
               r->scale_name[w->scale], u->n, u->n_broke, u->n - u->n_broke, w->n_diverged,
               dyn_step_text(b[0], 32, u->q25, u->n, ev->every, 0),
               dyn_step_text(b[1], 32, u->q50, u->n, ev->every, 0),
               dyn_step_text(b[2], 32, u->q75, u->n, ev->every, 0),
               ds_fmt_fixed(b[3], 32, (u->split + 1) * (double)ev->every, 1), early, late,
               ds_fmt_fixed(b[4], 32, u->p_value, 3));
    }
    /* the survival curves, at most about 20 rows */
    int64_t stride = (ev->n_points + 19) / 20;
    printf("survival S(t): fraction of the counted seeds not yet broken through after step t%s\n",
           stride > 1 ? " (every few evaluation points, and the last)" : "");
    printf("%8s", "step");
    for (int k = 0; k < fam->n; k++) printf(" %12s", r->scale_name[rows[k].scale]);
    printf("\n");
    for (int64_t p = 0; p < ev->n_points; p++) {
        if ((p + 1) % stride && p != ev->n_points - 1) continue;
        printf("%8lld", (long long)((p + 1) * ev->every));
        for (int k = 0; k < fam->n; k++) printf(" %12s", ds_fmt_fixed(b[0], 32, rows[k].S[p], 3));
        printf("\n");
    }
}

static void dyn_csv_family(const ds_results *r, const ds_res_family *fam, const dyn_row *rows,
                           const dyn_schedule *ev) {
    char b[8][32];
    for (int k = 0; k < fam->n; k++) {
        const dyn_row *w = &rows[k];
        const ds_dyn_summary *u = &w->sum;
        printf("%s,%s,%lld,%d,%zu,%zu,%zu,%zu,%s,%s,%s,%s,%zu,%zu,%s,%zu,%zu,%s,%s\n", fam->name,
               r->scale_name[w->scale], (long long)r->n_params[w->scale], ev->length, u->n,
               u->n_broke, u->n - u->n_broke, w->n_diverged,
               dyn_step_text(b[0], 32, u->q25, u->n, ev->every, 1),
               dyn_step_text(b[1], 32, u->q50, u->n, ev->every, 1),
               dyn_step_text(b[2], 32, u->q75, u->n, ev->every, 1),
               ds_fmt_fixed(b[3], 32, (u->split + 1) * (double)ev->every, 6), u->n_early, u->early_success,
               ds_fmt_fixed(b[4], 32, u->n_early ? (double)u->early_success / (double)u->n_early : NAN, 6),
               u->n_late, u->late_success,
               ds_fmt_fixed(b[5], 32, u->n_late ? (double)u->late_success / (double)u->n_late : NAN, 6),
               ds_fmt_fixed(b[6], 32, u->p_value, 6));
    }
}

static void dyn_json_family(const ds_results *r, const ds_res_family *fam, const dyn_row *rows,
                            const dyn_schedule *ev, int first) {
    printf("%s\n    {\"name\": ", first ? "" : ",");
    ds_json_str(stdout, fam->name);
    printf(", \"scales\": [");
    for (int k = 0; k < fam->n; k++) {
        const dyn_row *w = &rows[k];
        const ds_dyn_summary *u = &w->sum;
        printf("%s\n      {\"scale\": ", k ? "," : "");
        ds_json_str(stdout, r->scale_name[w->scale]);
        printf(", \"n_params\": %lld, \"n\": %zu, \"n_broke\": %zu, \"n_censored\": %zu, "
               "\"n_diverged\": %zu, \"q25\": ",
               (long long)r->n_params[w->scale], u->n, u->n_broke, u->n - u->n_broke,
               w->n_diverged);
        dyn_step_json(u->q25, ev->every);
        printf(", \"median\": ");
        dyn_step_json(u->q50, ev->every);
        printf(", \"q75\": ");
        dyn_step_json(u->q75, ev->every);
        printf(", \"split_step\": ");
        jnum(stdout, (u->split + 1) * (double)ev->every);
        printf(", \"n_early\": %zu, \"early_success\": %zu, \"early_fraction\": ", u->n_early,
               u->early_success);
        jnum(stdout, u->n_early ? (double)u->early_success / (double)u->n_early : NAN);
        printf(", \"n_late\": %zu, \"late_success\": %zu, \"late_fraction\": ", u->n_late,
               u->late_success);
        jnum(stdout, u->n_late ? (double)u->late_success / (double)u->n_late : NAN);
        printf(", \"p_value\": ");
        jnum(stdout, u->p_value);
        printf(",\n       \"survival\": [");
        for (int64_t p = 0; p < ev->n_points; p++) {
            if (p) printf(", ");
            jnum(stdout, w->S[p]);
        }
        printf("],\n       \"seeds\": [");
        for (size_t i = 0; i < w->n; i++) {
            int64_t p = w->point[i];
            printf("%s{\"seed\": %lld, \"seed_index\": %lld, \"step\": %lld, \"censored\": %s, "
                   "\"diverged\": %s, \"final\": ",
                   i ? ", " : "", (long long)r->seeds[w->seed_index[i]],
                   (long long)w->seed_index[i],
                   (long long)((p >= 0 ? p + 1 : ev->n_points) * ev->every),
                   p < 0 ? "true" : "false", w->diverged[i] ? "true" : "false");
            jnum(stdout, w->final[i]);
            printf(", \"success\": %s}", w->success[i] ? "true" : "false");
        }
        printf("]}");
    }
    printf("]}");
}

/* The schedule of r's trajectories, from the sweep text stored in the file
 * (train.eval_every, train.steps, report.length); refuses (DS_EXIT_USAGE,
 * message on stderr) a file without trajectories, whose sweep text does not
 * load, or whose trajectories do not match it. */
static int dyn_schedule_of(const ds_results *r, const report_opts *o, dyn_schedule *ev) {
    if (!r->traj[o->metric] || r->n_eval <= 0) {
        fprintf(stderr, "distsweep report: %s has no trajectories (its sweep did not set "
                        "train.eval_every): --dynamics needs evaluation during training\n", o->path);
        return DS_EXIT_USAGE;
    }
    ds_sweep *s = NULL;
    ds_error e = {0};
    if (!r->sweep_yaml || !*r->sweep_yaml || ds_sweep_load_text("sweep_yaml", r->sweep_yaml, &s, &e)) {
        fprintf(stderr, "distsweep report: %s: the stored sweep text does not load (%s), so the "
                        "steps of the evaluation points are unknown: --dynamics needs it\n",
                o->path, e.msg[0] ? e.msg : "empty");
        return DS_EXIT_USAGE;
    }
    ev->every = s->train.eval_every;
    ev->steps = s->train.steps;
    ev->n_points = ds_train_eval_points(&s->train);
    ev->length = s->report.length;
    ds_sweep_free(s);
    if (ev->every <= 0 || ev->n_points != r->n_eval) {
        fprintf(stderr, "distsweep report: %s: the trajectories hold %lld points but the stored "
                        "sweep's train.eval_every %lld and train.steps %lld give %lld\n",
                o->path, (long long)r->n_eval, (long long)ev->every, (long long)ev->steps,
                (long long)ev->n_points);
        return DS_EXIT_USAGE;
    }
    return 0;
}

/* `report --dynamics`: per family and scale, the breakthrough-step
 * distribution, survival curve and early/late test (docs/analysis.md
 * "Training dynamics"), in o->format. l is the length index chosen like the
 * report's; a length other than the trajectories' is refused. Returns an
 * exit code; on refusal nothing is on stdout. */
static int report_dynamics(const ds_results *r, const report_opts *o, int l,
                           const ds_res_family *only) {
    dyn_schedule ev;
    int rc = dyn_schedule_of(r, o, &ev);
    if (rc) return rc;
    if (r->eval_lengths[l] != ev.length) {
        fprintf(stderr, "distsweep report: %s stores trajectories at length %d only (the sweep's "
                        "report.length); --dynamics cannot use length %d\n",
                o->path, ev.length, r->eval_lengths[l]);
        return DS_EXIT_USAGE;
    }
    const char *mname = ds_metric_name_of(r->eval_kind, o->metric), *cmp = lower_is_better(o->metric) ? "<=" : ">=";
    if (o->format == FMT_TABLE) {
        printf("%s: sweep '%s', precision %s; dynamics: %lld evaluation points (train.eval_every "
               "%lld, steps %lld..%lld) at length %d\n",
               o->path, r->sweep_name, r->precision, (long long)ev.n_points, (long long)ev.every,
               (long long)ev.every, (long long)(ev.n_points * ev.every), ev.length);
        printf("metric %s (%s), length %d (%s), success = %s %s %g (%s), breakthrough: %s %s %g "
               "(%s)\n", mname, o->metric_why, ev.length, o->length_why, mname, cmp, o->tau,
               o->tau_why, mname, cmp, o->tb, o->tb_set ? "--breakthrough-threshold" : "= success");
        printf("breakthrough step: the first evaluation from which the metric stays %s %g to the "
               "end; never: censored at step %lld (so are diverged runs)\n",
               cmp, o->tb, (long long)(ev.n_points * ev.every));
        printf("q25/median/q75: Kaplan-Meier quantiles of the breakthrough step; early/late: "
               "successes/seeds among those that broke through at or before / after the median "
               "breakthrough step of those seeds (split); fisher_p: two-sided Fisher exact test\n");
    } else if (o->format == FMT_CSV) {
        dyn_csv_header();
    } else {
        printf("{\"file\": ");
        ds_json_str(stdout, o->path);
        printf(", \"sweep_name\": ");
        ds_json_str(stdout, r->sweep_name);
        printf(", \"precision\": ");
        ds_json_str(stdout, r->precision);
        printf(", \"metric\": \"%s\", \"length\": %d, \"success\": \"%s\", \"threshold\": ", mname,
               ev.length, cmp);
        jnum(stdout, o->tau);
        printf(", \"breakthrough_threshold\": ");
        jnum(stdout, o->tb);
        printf(", \"metric_source\": ");
        ds_json_str(stdout, o->metric_why);
        printf(", \"length_source\": ");
        ds_json_str(stdout, o->length_why);
        printf(", \"threshold_source\": ");
        ds_json_str(stdout, o->tau_why);
        printf(", \"eval_every\": %lld, \"train_steps\": %lld, \"steps\": [", (long long)ev.every,
               (long long)ev.steps);
        for (int64_t p = 0; p < ev.n_points; p++)
            printf("%s%lld", p ? ", " : "", (long long)((p + 1) * ev.every));
        printf("],\n \"families\": [");
    }
    int first = 1;
    for (int i = 0; i < r->n_families; i++) {
        const ds_res_family *fam = &r->families[i];
        if (only && only != fam) continue;
        dyn_row *rows = DS_CALLOC(fam->n ? (size_t)fam->n : 1, sizeof *rows);
        for (int k = 0; k < fam->n; k++) dyn_compute(r, o, l, fam->scale[k], ev.n_points, &rows[k]);
        if (o->format == FMT_TABLE) dyn_table_family(r, fam, rows, &ev);
        else if (o->format == FMT_CSV) dyn_csv_family(r, fam, rows, &ev);
        else dyn_json_family(r, fam, rows, &ev, first);
        for (int k = 0; k < fam->n; k++) dyn_free(&rows[k]);
        free(rows);
        first = 0;
    }
    if (o->format == FMT_JSON) printf("]}\n");
    return DS_EXIT_OK;
}

/* --- adaptive seeds ------------------------------------------------------------- */

/* An adaptive sweep (seeds.adaptive in the file's sweep_yaml): every scale's
 * allocation as the scheduler decides it (src/adaptive.h, replayed over the
 * stored runs): seeds requested, the statistic and its interval at the last
 * decision (keyed by sweep, scale and round, so not report's own CI columns),
 * and whether the scale stopped narrow enough, at max, or waits for a
 * round. Nothing for a fixed sweep or a sweep text that does not load. */
static void report_adaptive(const ds_results *r, int format, int *printed) {
    ds_sweep *s = NULL;
    ds_error e = {0};
    *printed = 0;
    if (!r->sweep_yaml || !*r->sweep_yaml || ds_sweep_load_text("sweep_yaml", r->sweep_yaml, &s, &e))
        return;
    const ds_adaptive_spec *a = &s->seeds.adaptive;
    if (!a->enabled || s->n_scales != r->n_scales || a->length_idx >= r->n_lengths) {
        ds_sweep_free(s);
        return;
    }
    static const char *const stat_names[] = {"p_success", "mean_success", "mean"};
    uint8_t *st = DS_MALLOC((size_t)r->n_seeds + 1);
    double *v = DS_MALLOC(sizeof *v * ((size_t)r->n_seeds + 1));
    char b[4][32];
    if (format == FMT_TABLE)
        printf("\nadaptive seeds: %s of %s at length %d, threshold %g, ci_width %g, step %lld, "
               "max %lld (interval of the last decision)\n%-12s %9s %4s %8s %18s %7s  %s\n",
               stat_names[a->statistic], ds_metric_name_of(r->eval_kind, a->metric), a->length,
               a->statistic == DS_ADAPT_MEAN ? NAN : a->threshold, a->ci_width,
               (long long)a->step, (long long)a->max, "scale", "requested", "n", "estimate",
               "95% CI", "width", "state");
    else if (format == FMT_JSON)
        printf(",\n \"adaptive\": {\"statistic\": \"%s\", \"metric\": \"%s\", \"length\": %d, "
               "\"threshold\": %.10g, \"ci_width\": %.10g, \"step\": %lld, \"max\": %lld, \"scales\": [",
               stat_names[a->statistic], ds_metric_name_of(r->eval_kind, a->metric), a->length, a->threshold,
               a->ci_width, (long long)a->step, (long long)a->max);
    for (int sc = 0; sc < r->n_scales; sc++) {
        for (int64_t i = 0; i < r->n_seeds; i++) {
            st[i] = r->status[ds_res_run(r, sc, i)];
            v[i] = ds_run_counted_value(st[i], a->metric, ds_res_metric(r, a->metric, sc, i, a->length_idx));
        }
        ds_adapt_state as = {0};
        ds_adapt_decide(s, sc, st, v, r->n_seeds, &as);
        const char *state = !as.stopped ? "waiting" : as.hi - as.lo <= a->ci_width ? "narrow" : "max";
        if (format == FMT_TABLE) {
            char ci[64];
            snprintf(ci, sizeof ci, "[%s,%s]", ds_fmt_fixed(b[0], 32, as.lo, 3), ds_fmt_fixed(b[1], 32, as.hi, 3));
            printf("%-12s %9lld %4lld %8s %18s %7s  %s", r->scale_name[sc], (long long)as.requested,
                   (long long)as.n, ds_fmt_fixed(b[2], 32, as.est, 3), ci, ds_fmt_fixed(b[3], 32, as.hi - as.lo, 3),
                   state);
            if (!as.stopped) printf(" for round %d", as.round);
            printf("\n");
        } else if (format == FMT_JSON) {
            printf("%s\n   {\"scale\": ", sc ? "," : "");
            ds_json_str(stdout, r->scale_name[sc]);
            printf(", \"requested\": %lld, \"n\": %lld, \"round\": %d, \"estimate\": ",
                   (long long)as.requested, (long long)as.n, as.round);
            jnum(stdout, as.est);
            printf(", \"lo\": ");
            jnum(stdout, as.lo);
            printf(", \"hi\": ");
            jnum(stdout, as.hi);
            printf(", \"width\": ");
            jnum(stdout, as.hi - as.lo);
            printf(", \"state\": \"%s\"}", state);
        }
    }
    if (format == FMT_JSON) printf("]}");
    *printed = 1;
    free(st);
    free(v);
    ds_sweep_free(s);
}

/* --- command line --------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: distsweep report OUT.h5 [--metric em|error|minprob|token_acc|loss]\n"
            "                        [--length L] [--threshold TAU] [--family F] [--top K]\n"
            "                        [--format table|csv|json]\n"
            "       distsweep report OUT.h5 --dynamics [--metric M] [--threshold TAU]\n"
            "                        [--breakthrough-threshold TB] [--family F]\n"
            "                        [--format table|csv|json]\n\n"
            "Distribution statistics across seeds (docs/spec-tasks.md §7) of one metric at one test\n"
            "length, per family and scale: runs counted (done; diverged count with EM 0),\n"
            "mean, median, KDE mode, std, p_success = P(x >= TAU) and the mean of the\n"
            "successful runs with 95%% bootstrap CIs, the Wasserstein-2 distance to the\n"
            "largest scale of the family, the bimodality coefficient and the dip test\n"
            "p-value; then the top-K breakthrough and linear seeds of each family.\n"
            "For error and loss (lower is better) success is x <= TAU and breakthroughness\n"
            "and linearity are computed on -x, so that positive means improving.\n"
            "Works on a file that a sweep is still writing. Metric, length and threshold\n"
            "come from the flags, else from the report block of the sweep stored in the\n"
            "file, else the defaults: em, the first eval length beyond the largest\n"
            "training length (else the largest), 0.5; the header says which applies.\n"
            "Also every family, --top 5, --format table.\n\n"
            "--dynamics: from the trajectories of train.eval_every (stored at the sweep's\n"
            "report length only), per scale each counted seed's breakthrough step (the first\n"
            "evaluation from which the metric stays >= TB, default TAU, to the end; never:\n"
            "censored at the last evaluation, as are diverged runs), the Kaplan-Meier\n"
            "quartiles and survival curve of that step, and whether the seeds that broke\n"
            "through early (at or before the median) end in the success mode (>= TAU) more\n"
            "often than the late ones (two-sided Fisher exact test).\n"
            "Details: docs/analysis.md.\n");
}

int ds_cmd_report(int argc, char **argv) {
    if (ds_cli_wants_help(argc, argv)) {
        usage(stdout);
        return DS_EXIT_OK;
    }
    report_opts o = {.metric = DS_M_EM, .tau = 0.5, .top = 5, .format = FMT_TABLE};
    ds_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = !strcmp(a, "--metric") || !strcmp(a, "--length") || !strcmp(a, "--threshold") ||
                    !strcmp(a, "--family") || !strcmp(a, "--top") || !strcmp(a, "--format") ||
                    !strcmp(a, "--set") || !strcmp(a, "--breakthrough-threshold");
        if (takes && !v) {
            fprintf(stderr, "distsweep report: %s needs a value\n", a);
            return DS_EXIT_USAGE;
        }
        if (!strcmp(a, "--dynamics")) {
            o.dynamics = 1;
            continue; /* takes no value */
        } else if (!strcmp(a, "--breakthrough-threshold")) {
            if (ds_cli_double(a, v, -INFINITY, 0, INFINITY, &o.tb, &err)) goto bad_value;
            o.tb_set = 1;
        } else if (!strcmp(a, "--metric")) {
            o.metric_arg = v; /* its slot depends on the file (src/schema.h ds_eval_kind) */
            o.metric_set = 1;
        } else if (!strcmp(a, "--set")) {
            o.set_arg = v;
            o.length_set = 1;
        } else if (!strcmp(a, "--length")) {
            /* any integer: one the file did not evaluate is refused by name below */
            if (ds_cli_int(a, v, INT_MIN, INT_MAX, &o.length_value, &err)) goto bad_value;
            o.length_set = 1;
        } else if (!strcmp(a, "--threshold")) {
            if (ds_cli_double(a, v, -INFINITY, 0, INFINITY, &o.tau, &err)) goto bad_value;
            o.tau_set = 1;
        } else if (!strcmp(a, "--family")) {
            o.family = v;
        } else if (!strcmp(a, "--top")) {
            if (ds_cli_int(a, v, 0, INT_MAX, &o.top, &err)) goto bad_value;
        } else if (!strcmp(a, "--format")) {
            if (!strcmp(v, "table")) o.format = FMT_TABLE;
            else if (!strcmp(v, "csv")) o.format = FMT_CSV;
            else if (!strcmp(v, "json")) o.format = FMT_JSON;
            else {
                fprintf(stderr, "distsweep report: unknown format '%s' (table, csv, json)\n", v);
                return DS_EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "distsweep report: unknown option '%s'\n", a);
            usage(stderr);
            return DS_EXIT_USAGE;
        } else if (!o.path) {
            o.path = a;
            continue;
        } else {
            fprintf(stderr, "distsweep report: unexpected argument '%s'\n", a);
            return DS_EXIT_USAGE;
        }
        i++;
        continue;
    bad_value:
        fprintf(stderr, "distsweep report: %s\n", err.msg);
        return DS_EXIT_USAGE;
    }
    if (!o.path) {
        usage(stderr);
        return DS_EXIT_USAGE;
    }
    if (o.tb_set && !o.dynamics) {
        fprintf(stderr, "distsweep report: --breakthrough-threshold needs --dynamics\n");
        return DS_EXIT_USAGE;
    }

    ds_h5_library_init(); /* no close at exit: it loops after a damaged read */
    ds_results r;
    if (ds_results_open(&r, o.path, &err)) {
        fprintf(stderr, "distsweep report: %s\n", err.msg);
        return err.code ? err.code : DS_EXIT_USAGE;
    }
    int rc = DS_EXIT_USAGE;
    dip_cache dc = {0};
    int l = -1;
    if (r.n_lengths == 0) {
        fprintf(stderr, "distsweep report: %s has no evaluation lengths\n", o.path);
        goto done;
    }
    if (o.metric_arg && (o.metric = ds_metric_index_of(r.eval_kind, o.metric_arg)) < 0) {
        char names[128];
        fprintf(stderr, "distsweep report: unknown metric '%s' (%s%s)\n", o.metric_arg,
                r.eval_kind == DS_EVAL_SETS ? "a file of evaluation sets: " : "",
                ds_metric_list_of(r.eval_kind, names, sizeof names));
        goto done;
    }
    if (o.set_arg || (o.length_set && r.eval_kind == DS_EVAL_SETS)) {
        /* a corpus task's file is evaluated on named sets, not lengths */
        int found = o.set_arg ? ds_results_set_index(&r, o.set_arg) : -1;
        if (found < 0) {
            fprintf(stderr, "distsweep report: %s%s%s: the evaluation sets of %s are", o.set_arg ? "no set " : "",
                    o.set_arg ? o.set_arg : "--length", o.set_arg ? "" : " is for test lengths", o.path);
            for (int i = 0; r.set_names && i < r.n_lengths; i++) fprintf(stderr, " %s", r.set_names[i]);
            fprintf(stderr, "%s (--set NAME)\n", r.set_names ? "" : " none");
            goto done;
        }
        o.length_value = r.eval_lengths[found];
    }
    /* Flags override the stored sweep's report block, which overrides the
     * defaults (docs/analysis.md "Which metric, length and threshold"). */
    ds_res_report rep;
    ds_results_report_defaults(&r, &rep);
    if (o.metric_set) snprintf(o.metric_why, sizeof o.metric_why, "--metric");
    else o.metric = rep.metric, snprintf(o.metric_why, sizeof o.metric_why, "%s", rep.metric_why);
    if (o.tau_set) {
        snprintf(o.tau_why, sizeof o.tau_why, "--threshold");
    } else if (o.metric == rep.metric) {
        o.tau = rep.threshold;
        snprintf(o.tau_why, sizeof o.tau_why, "%s", rep.threshold_why);
    } else {
        /* a stored threshold belongs to the stored metric */
        o.tau = 0.5;
        if (strcmp(rep.threshold_why, "default"))
            snprintf(o.tau_why, sizeof o.tau_why, "default: report.threshold is for %s",
                     ds_metric_name_of(r.eval_kind, rep.metric));
        else
            snprintf(o.tau_why, sizeof o.tau_why, "default");
    }
    if (o.length_set) {
        if ((l = ds_results_length_index(&r, o.length_value)) < 0) {
            fprintf(stderr, "distsweep report: length %d was not evaluated in %s (lengths:", o.length_value,
                    o.path);
            for (int i = 0; i < r.n_lengths; i++) fprintf(stderr, " %d", r.eval_lengths[i]);
            fprintf(stderr, ")\n");
            goto done;
        }
        snprintf(o.length_why, sizeof o.length_why, o.set_arg ? "--set" : "--length");
    } else {
        l = rep.length_index;
        snprintf(o.length_why, sizeof o.length_why, "%s", rep.length_why);
    }
    if (rep.note[0] && !(o.metric_set && o.length_set && o.tau_set))
        fprintf(stderr, "distsweep report: note: %s; defaults used\n", rep.note);
    const ds_res_family *only = NULL;
    if (o.family && !(only = ds_results_family(&r, o.family))) {
        fprintf(stderr, "distsweep report: no family '%s' in %s (families:", o.family, o.path);
        for (int i = 0; i < r.n_families; i++) fprintf(stderr, " %s", r.families[i].name);
        fprintf(stderr, ")\n");
        goto done;
    }
    if (o.dynamics) {
        if (!o.tb_set) o.tb = o.tau;
        rc = report_dynamics(&r, &o, l, only);
        goto done;
    }

    int64_t counts[DS_N_RUN_STATUS] = {0};
    for (int sc = 0; sc < r.n_scales; sc++)
        for (int st = 0; st < DS_N_RUN_STATUS; st++) counts[st] += ds_results_count(&r, sc, st);
    const char *mname = ds_metric_name_of(r.eval_kind, o.metric);
    if (o.format == FMT_TABLE) {
        printf("%s: sweep '%s', precision %s, %d scales x %lld seeds: %lld done, %lld diverged, "
               "%lld failed, %lld pending",
               o.path, r.sweep_name, r.precision, r.n_scales, (long long)r.n_seeds,
               (long long)counts[1], (long long)counts[3], (long long)counts[2],
               (long long)counts[0]);
        /* an adaptive sweep: scales have different seed counts (n per row) */
        if (counts[DS_RUN_UNREQUESTED])
            printf(", %lld unrequested (adaptive seeds)", (long long)counts[DS_RUN_UNREQUESTED]);
        printf("\n");
        char at[DS_RES_POINT_NAME_MAX];
        ds_results_point_name(&r, l, at);
        printf("metric %s (%s), %s (%s), success = %s %s %g (%s)\n", mname, o.metric_why, at,
               o.length_why, mname, lower_is_better(o.metric) ? "<=" : ">=", o.tau, o.tau_why);
        printf("n counts done and diverged runs%s\n",
               o.metric == DS_M_EM ? (r.eval_kind == DS_EVAL_SETS ? " (diverged = mc_acc 0)" : " (diverged = EM 0)")
                                   : "");
        printf("CIs: 95%% percentile bootstrap, %d resamples (ci_w: width of p_success's); dip_p: "
               "Hartigan's dip test, %d uniform simulations\n",
               DS_BOOT_RESAMPLES, DS_DIP_SIMS);
    } else if (o.format == FMT_CSV) {
        csv_header();
    } else {
        printf("{\"file\": ");
        ds_json_str(stdout, o.path);
        printf(", \"sweep_name\": ");
        ds_json_str(stdout, r.sweep_name);
        printf(", \"precision\": ");
        ds_json_str(stdout, r.precision);
        printf(", \"metric\": \"%s\", \"length\": %d, \"success\": \"%s\", \"threshold\": ", mname,
               r.eval_lengths[l], lower_is_better(o.metric) ? "<=" : ">=");
        jnum(stdout, o.tau);
        printf(", \"metric_source\": ");
        ds_json_str(stdout, o.metric_why);
        printf(", \"length_source\": ");
        ds_json_str(stdout, o.length_why);
        printf(", \"threshold_source\": ");
        ds_json_str(stdout, o.tau_why);
        printf(", \"n_seeds\": %lld, \"done\": %lld, \"diverged\": %lld, \"failed\": %lld, "
               "\"pending\": %lld, \"unrequested\": %lld, \"bootstrap_resamples\": %d, "
               "\"dip_simulations\": %d,\n \"families\": [",
               (long long)r.n_seeds, (long long)counts[1], (long long)counts[3],
               (long long)counts[2], (long long)counts[0], (long long)counts[DS_RUN_UNREQUESTED],
               DS_BOOT_RESAMPLES, DS_DIP_SIMS);
    }
    int first = 1;
    for (int i = 0; i < r.n_families; i++) {
        if (only && only != &r.families[i]) continue;
        report_family(&r, &o, l, &r.families[i], &dc, first);
        first = 0;
    }
    if (o.format == FMT_JSON) printf("]");
    int adaptive = 0;
    if (o.format != FMT_CSV) report_adaptive(&r, o.format, &adaptive);
    if (o.format == FMT_JSON) printf("}\n");
    rc = DS_EXIT_OK;
done:
    for (int i = 0; i < dc.count; i++) free(dc.e[i].null);
    free(dc.e);
    ds_results_close(&r);
    return rc;
}
