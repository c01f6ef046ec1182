/* cmd_compare: `distsweep compare A.h5[:SCALE] B.h5[:SCALE]`, two populations of
 * seeds (two scales of two files, or of one file) compared for one metric at
 * one test length: B - A of p_success, the mean and the mean of successful
 * runs, the W2 distance, bootstrap CIs and permutation p-values (src/compare.h;
 * docs/analysis.md "Comparing two populations"). Reads through results.h;
 * which runs count is the report's (ds_results_value). */
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "common.h"
#include "compare.h"
#include "h5check.h"
#include "results.h"
#include "stats.h"

enum { FMT_TABLE, FMT_CSV, FMT_JSON };

/* One side of the command line: a file and, optionally, a scale. */
typedef struct {
    char path[4096];
    const char *scale; /* NULL: every scale the two files share */
    char scale_buf[256];
    ds_results r;
    int open;
} cmp_side;

/* One compared pair's row. */
typedef struct {
    const char *a_scale, *b_scale, *pairing;
    ds_compare_result c;
} cmp_row;

/* The columns of a row in the CSV and JSON outputs (one table, so that they
 * cannot disagree); docs/analysis.md lists them. */
typedef enum { COL_TEXT, COL_SIZE, COL_NUMBER } col_kind;
typedef struct {
    const char *name;
    col_kind kind;
    size_t at;
} cmp_column;
#define COL(name, kind, field) {name, kind, offsetof(cmp_row, field)}
static const cmp_column cmp_columns[] = {
    COL("a_scale", COL_TEXT, a_scale),
    COL("b_scale", COL_TEXT, b_scale),
    COL("pairing", COL_TEXT, pairing),
    COL("n_a", COL_SIZE, c.n_a),
    COL("n_b", COL_SIZE, c.n_b),
    COL("p_success_a", COL_NUMBER, c.p_a),
    COL("p_success_b", COL_NUMBER, c.p_b),
    COL("d_p_success", COL_NUMBER, c.d_p.est),
    COL("d_p_success_lo", COL_NUMBER, c.d_p.lo),
    COL("d_p_success_hi", COL_NUMBER, c.d_p.hi),
    COL("p_value_p_success", COL_NUMBER, c.pv_p),
    COL("mean_a", COL_NUMBER, c.mean_a),
    COL("mean_b", COL_NUMBER, c.mean_b),
    COL("d_mean", COL_NUMBER, c.d_mean.est),
    COL("d_mean_lo", COL_NUMBER, c.d_mean.lo),
    COL("d_mean_hi", COL_NUMBER, c.d_mean.hi),
    COL("p_value_mean", COL_NUMBER, c.pv_mean),
    COL("mean_success_a", COL_NUMBER, c.ms_a),
    COL("mean_success_b", COL_NUMBER, c.ms_b),
    COL("d_mean_success", COL_NUMBER, c.d_ms.est),
    COL("d_mean_success_lo", COL_NUMBER, c.d_ms.lo),
    COL("d_mean_success_hi", COL_NUMBER, c.d_ms.hi),
    COL("w2", COL_NUMBER, c.w2.est),
    COL("w2_lo", COL_NUMBER, c.w2.lo),
    COL("w2_hi", COL_NUMBER, c.w2.hi),
    COL("p_value_w2", COL_NUMBER, c.pv_w2),
};
#undef COL
enum { N_CMP_COLUMNS = sizeof cmp_columns / sizeof cmp_columns[0] };

/* NaN -> null in JSON; +-inf cannot occur (finite values only). */
static void jnum(FILE *f, double v) {
    if (!isfinite(v)) fputs("null", f);
    else fprintf(f, "%.17g", v);
}

static void column_value(const cmp_row *w, int c, int json) {
    const void *p = (const char *)w + cmp_columns[c].at;
    char b[64];
    switch (cmp_columns[c].kind) {
    case COL_TEXT:
        if (json) ds_json_str(stdout, *(const char *const *)p);
        else fputs(*(const char *const *)p, stdout);
        break;
    case COL_SIZE: printf("%zu", *(const size_t *)p); break;
    case COL_NUMBER:
        if (json) jnum(stdout, *(const double *)p);
        else fputs(ds_fmt_fixed(b, sizeof b, *(const double *)p, 10), stdout);
        break;
    }
}

/* Splits "FILE[:SCALE]": the whole text is the path when such a file exists,
 * else the part after the last ':' is the scale. */
static int parse_side(const char *text, cmp_side *s) {
    memset(s, 0, sizeof *s);
    struct stat st;
    const char *colon = strrchr(text, ':');
    if (stat(text, &st) == 0 || !colon || strchr(colon, '/')) {
        if (strlen(text) >= sizeof s->path) return -1;
        snprintf(s->path, sizeof s->path, "%s", text);
        return 0;
    }
    size_t n = (size_t)(colon - text);
    if (n >= sizeof s->path || strlen(colon + 1) >= sizeof s->scale_buf || !colon[1]) return -1;
    memcpy(s->path, text, n);
    s->path[n] = 0;
    snprintf(s->scale_buf, sizeof s->scale_buf, "%s", colon + 1);
    s->scale = s->scale_buf;
    return 0;
}

/* A scale of result file r by row ("0") or name ("d64_L2"), or -1 with the
 * message of ds_cli_scale printed. */
static int find_scale(const ds_results *r, const char *path, const char *text) {
    int digits = text[0] != 0;
    for (const char *c = text; *c; c++) digits &= *c >= '0' && *c <= '9';
    if (digits && strlen(text) < 9 && atoi(text) < r->n_scales) return atoi(text);
    for (int i = 0; i < r->n_scales; i++)
        if (!strcmp(r->scale_name[i], text)) return i;
    fprintf(stderr, "distsweep compare: %s: no scale '%s' (scales:", path, text);
    for (int i = 0; i < r->n_scales; i++) fprintf(stderr, " %d=%s", i, r->scale_name[i]);
    fprintf(stderr, ")\n");
    return -1;
}

/* The counted values of a scale at length index l, with their seed values. */
static size_t values(const ds_results *r, int metric, int scale, int l, double *v, int64_t *seed) {
    size_t n = 0;
    for (int64_t s = 0; s < r->n_seeds; s++) {
        double x = ds_results_value(r, metric, scale, s, l);
        if (isfinite(x)) v[n] = x, seed[n] = r->seeds[s], n++;
    }
    return n;
}

/* Compares scale sa of A with scale sb of B into row. Paired when the two
 * counted seed sets are equal: b is then reordered to a's seed order. */
static void compare_pair(const cmp_side *A, int sa, int la, const cmp_side *B, int sb, int lb,
                         int metric, double tau, int resamples, int permutations, uint64_t key,
                         cmp_row *row) {
    size_t cap = (size_t)(A->r.n_seeds + B->r.n_seeds + 1);
    double *a = DS_MALLOC(cap * sizeof *a), *b = DS_MALLOC(cap * sizeof *b), *bb = DS_MALLOC(cap * sizeof *bb);
    int64_t *ka = DS_MALLOC(cap * sizeof *ka), *kb = DS_MALLOC(cap * sizeof *kb);
    size_t na = values(&A->r, metric, sa, la, a, ka), nb = values(&B->r, metric, sb, lb, b, kb);
    int paired = na == nb && na > 0;
    for (size_t i = 0; paired && i < na; i++) {
        size_t j = 0;
        while (j < nb && kb[j] != ka[i]) j++;
        if (j == nb) paired = 0;
        else bb[i] = b[j];
    }
    row->a_scale = A->r.scale_name[sa];
    row->b_scale = B->r.scale_name[sb];
    row->pairing = paired ? "paired" : "unpaired";
    ds_compare(a, na, paired ? bb : b, nb, paired, tau, ds_metric_lower_is_better(metric), resamples,
               permutations, key, &row->c);
    free(a), free(b), free(bb), free(ka), free(kb);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: distsweep compare A.h5[:SCALE] B.h5[:SCALE] [--metric em|error|minprob|token_acc|loss]\n"
            "                         [--length L] [--threshold T] [--format table|csv|json]\n"
            "                         [--resamples N] [--permutations N] [--seed K]\n\n"
            "Compares two populations of seeds, B against A: B - A of p_success, of the mean and\n"
            "of the mean of successful runs, and the W2 distance between the two distributions,\n"
            "each with a 95%% percentile-bootstrap CI (--resamples, default %d), and permutation\n"
            "p-values (--permutations, default %d; two-sided for the differences, W2* >= W2 for\n"
            "W2). PAIRED over seeds when both populations hold the same seeds (seed indices\n"
            "resampled jointly, swaps within pairs), unpaired otherwise. SCALE: a row or a name;\n"
            "two scales of one file: A.h5:d64_L2 A.h5:d64_L3. Without SCALE, every scale the two\n"
            "files share, matched by name, one row each. Metric, length and threshold default\n"
            "as `distsweep report` (the sweep's report block); both files must agree on them.\n"
            "--seed K keys the random draws (default the report's bootstrap key): the same\n"
            "command gives the same numbers. Statistics: docs/analysis.md.\n",
            DS_COMPARE_RESAMPLES, DS_COMPARE_PERMUTATIONS);
}

/* Resolves metric, length and threshold for both files: a flag, else the
 * report defaults of each file, which must agree. Returns 0 or DS_EXIT_USAGE
 * (message printed). */
typedef struct {
    const char *metric_arg; /* --metric: its slot depends on the files' kind (src/schema.h) */
    const char *set_arg;    /* --set NAME: files of evaluation sets match their sets by name */
    int metric, metric_set, length, length_set, tau_set, la, lb;
    double tau;
    char metric_why[64], length_why[160], tau_why[96];
} cmp_opts;

static int resolve(cmp_side *A, cmp_side *B, cmp_opts *o) {
    ds_res_report ra, rb;
    ds_results_report_defaults(&A->r, &ra);
    ds_results_report_defaults(&B->r, &rb);
    if (A->r.n_lengths == 0 || B->r.n_lengths == 0) {
        fprintf(stderr, "distsweep compare: %s has no evaluation lengths\n",
                A->r.n_lengths ? B->path : A->path);
        return DS_EXIT_USAGE;
    }
    if (A->r.eval_kind != B->r.eval_kind) { /* test lengths against evaluation sets */
        fprintf(stderr, "distsweep compare: %s is evaluated on %s, %s on %s: no common metric\n", A->path,
                A->r.eval_kind == DS_EVAL_SETS ? "multiple-choice sets" : "test lengths", B->path,
                B->r.eval_kind == DS_EVAL_SETS ? "multiple-choice sets" : "test lengths");
        return DS_EXIT_USAGE;
    }
    const ds_eval_kind ek = A->r.eval_kind;
    if (o->metric_arg && (o->metric = ds_metric_index_of(ek, o->metric_arg)) < 0) {
        char names[128];
        fprintf(stderr, "distsweep compare: unknown metric '%s' (%s)\n", o->metric_arg,
                ds_metric_list_of(ek, names, sizeof names));
        return DS_EXIT_USAGE;
    }
    if (!o->metric_set) {
        if (ra.metric != rb.metric) {
            fprintf(stderr, "distsweep compare: different metrics: %s reports %s (%s), %s reports %s (%s); "
                            "pass --metric\n", A->path, ds_metric_name_of(ek, ra.metric), ra.metric_why, B->path,
                    ds_metric_name_of(ek, rb.metric), rb.metric_why);
            return DS_EXIT_USAGE;
        }
        o->metric = ra.metric;
        snprintf(o->metric_why, sizeof o->metric_why, "%s", ra.metric_why);
    } else {
        snprintf(o->metric_why, sizeof o->metric_why, "--metric");
    }
    if (!o->tau_set) {
        double ta = ra.metric == o->metric ? ra.threshold : 0.5;
        double tb = rb.metric == o->metric ? rb.threshold : 0.5;
        if (ta != tb) {
            fprintf(stderr, "distsweep compare: different thresholds: %s %g, %s %g; pass --threshold\n",
                    A->path, ta, B->path, tb);
            return DS_EXIT_USAGE;
        }
        o->tau = ta;
        snprintf(o->tau_why, sizeof o->tau_why, "%s",
                 ra.metric == o->metric ? ra.threshold_why : "default");
    } else {
        snprintf(o->tau_why, sizeof o->tau_why, "--threshold");
    }
    if (ek == DS_EVAL_SETS) { /* sets: by name in each file (their orders may differ) */
        if (o->length_set) {
            fprintf(stderr, "distsweep compare: --length is for test lengths: these files are evaluated on "
                            "multiple-choice sets (--set NAME)\n");
            return DS_EXIT_USAGE;
        }
        const char *na = ra.length_index >= 0 ? A->r.set_names[ra.length_index] : "";
        const char *nb = rb.length_index >= 0 ? B->r.set_names[rb.length_index] : "";
        if (!o->set_arg && strcmp(na, nb)) {
            fprintf(stderr, "distsweep compare: different sets: %s reports set %s (%s), %s set %s (%s); "
                            "pass --set\n", A->path, na, ra.length_why, B->path, nb, rb.length_why);
            return DS_EXIT_USAGE;
        }
        const char *name = o->set_arg ? o->set_arg : na;
        snprintf(o->length_why, sizeof o->length_why, "%s", o->set_arg ? "--set" : ra.length_why);
        const cmp_side *sides[2] = {A, B};
        int *idx[2] = {&o->la, &o->lb};
        for (int k = 0; k < 2; k++) {
            const ds_results *r = &sides[k]->r;
            if ((*idx[k] = ds_results_set_index(r, name)) < 0) {
                fprintf(stderr, "distsweep compare: no set %s in %s (sets:", name, sides[k]->path);
                for (int i = 0; i < r->n_lengths; i++) fprintf(stderr, " %s", r->set_names[i]);
                fprintf(stderr, ")\n");
                return DS_EXIT_USAGE;
            }
        }
        return 0;
    }
    if (o->set_arg) {
        fprintf(stderr, "distsweep compare: --set names a multiple-choice set; these files are evaluated "
                        "at test lengths (--length L)\n");
        return DS_EXIT_USAGE;
    }
    if (!o->length_set) {
        int a = ra.length_index >= 0 ? A->r.eval_lengths[ra.length_index] : -1;
        int b = rb.length_index >= 0 ? B->r.eval_lengths[rb.length_index] : -1;
        if (a != b) {
            fprintf(stderr, "distsweep compare: different lengths: %s reports length %d (%s), %s length %d "
                            "(%s); pass --length\n", A->path, a, ra.length_why, B->path, b, rb.length_why);
            return DS_EXIT_USAGE;
        }
        o->length = a;
        snprintf(o->length_why, sizeof o->length_why, "%s", ra.length_why);
    } else {
        snprintf(o->length_why, sizeof o->length_why, "--length");
    }
    const cmp_side *sides[2] = {A, B};
    int *idx[2] = {&o->la, &o->lb};
    for (int k = 0; k < 2; k++) {
        const ds_results *r = &sides[k]->r;
        if ((*idx[k] = ds_results_length_index(r, o->length)) < 0) {
            fprintf(stderr, "distsweep compare: length %d was not evaluated in %s (lengths:", o->length,
                    sides[k]->path);
            for (int i = 0; i < r->n_lengths; i++) fprintf(stderr, " %d", r->eval_lengths[i]);
            fprintf(stderr, ")\n");
            return DS_EXIT_USAGE;
        }
    }
    return 0;
}

int ds_cmd_compare(int argc, char **argv) {
    if (ds_cli_wants_help(argc, argv)) {
        usage(stdout);
        return DS_EXIT_OK;
    }
    cmp_opts o = {.metric = DS_M_EM, .tau = 0.5};
    int format = FMT_TABLE, resamples = DS_COMPARE_RESAMPLES, permutations = DS_COMPARE_PERMUTATIONS;
    int64_t key = (int64_t)DS_BOOT_SEED;
    const char *args[2] = {0};
    int nargs = 0;
    ds_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = !strcmp(a, "--metric") || !strcmp(a, "--length") || !strcmp(a, "--threshold") ||
                    !strcmp(a, "--set") ||
                    !strcmp(a, "--format") || !strcmp(a, "--resamples") ||
                    !strcmp(a, "--permutations") || !strcmp(a, "--seed");
        if (takes && !v) {
            fprintf(stderr, "distsweep compare: %s needs a value\n", a);
            return DS_EXIT_USAGE;
        }
        if (!strcmp(a, "--metric")) {
            o.metric_arg = v; /* checked once the files' kind is known (resolve) */
            o.metric_set = 1;
        } else if (!strcmp(a, "--set")) {
            o.set_arg = v;
        } else if (!strcmp(a, "--length")) {
            if (ds_cli_int(a, v, INT_MIN, INT_MAX, &o.length, &err)) goto bad_value;
            o.length_set = 1;
        } else if (!strcmp(a, "--threshold")) {
            if (ds_cli_double(a, v, -INFINITY, 0, INFINITY, &o.tau, &err)) goto bad_value;
            o.tau_set = 1;
        } else if (!strcmp(a, "--resamples")) {
            if (ds_cli_int(a, v, 1, 1000000, &resamples, &err)) goto bad_value;
        } else if (!strcmp(a, "--permutations")) {
            if (ds_cli_int(a, v, 1, 1000000, &permutations, &err)) goto bad_value;
        } else if (!strcmp(a, "--seed")) {
            if (ds_cli_int64(a, v, 0, INT64_MAX, &key, &err)) goto bad_value;
        } else if (!strcmp(a, "--format")) {
            if (!strcmp(v, "table")) format = FMT_TABLE;
            else if (!strcmp(v, "csv")) format = FMT_CSV;
            else if (!strcmp(v, "json")) format = FMT_JSON;
            else {
                fprintf(stderr, "distsweep compare: unknown format '%s' (table, csv, json)\n", v);
                return DS_EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "distsweep compare: unknown option '%s'\n", a);
            usage(stderr);
            return DS_EXIT_USAGE;
        } else if (nargs < 2) {
            args[nargs++] = a;
            continue;
        } else {
            fprintf(stderr, "distsweep compare: unexpected argument '%s'\n", a);
            return DS_EXIT_USAGE;
        }
        i++;
        continue;
    bad_value:
        fprintf(stderr, "distsweep compare: %s\n", err.msg);
        return DS_EXIT_USAGE;
    }
    if (nargs < 2) {
        usage(stderr);
        return DS_EXIT_USAGE;
    }

    int rc = DS_EXIT_USAGE;
    cmp_side *side = DS_MALLOC(2 * sizeof *side);
    cmp_row *rows = NULL;
    int nrows = 0;
    memset(side, 0, 2 * sizeof *side);
    for (int k = 0; k < 2; k++)
        if (parse_side(args[k], &side[k])) {
            fprintf(stderr, "distsweep compare: '%s' is not FILE or FILE:SCALE\n", args[k]);
            goto done;
        }
    ds_h5_library_init();
    for (int k = 0; k < 2; k++) {
        if (ds_results_open(&side[k].r, side[k].path, &err)) {
            fprintf(stderr, "distsweep compare: %s\n", err.msg);
            rc = err.code ? err.code : DS_EXIT_USAGE;
            goto done;
        }
        side[k].open = 1;
    }
    /* one side naming a scale: the other compares the scale of that name */
    if (!side[0].scale != !side[1].scale) {
        int k = side[0].scale ? 1 : 0;
        side[k].scale = side[1 - k].scale;
    }
    if ((rc = resolve(&side[0], &side[1], &o))) goto done;
    rc = DS_EXIT_USAGE;

    rows = DS_MALLOC((size_t)(side[0].r.n_scales + 1) * sizeof *rows);
    if (side[0].scale) {
        int sa = find_scale(&side[0].r, side[0].path, side[0].scale);
        int sb = sa < 0 ? -1 : find_scale(&side[1].r, side[1].path, side[1].scale);
        if (sb < 0) goto done;
        compare_pair(&side[0], sa, o.la, &side[1], sb, o.lb, o.metric, o.tau, resamples, permutations,
                     (uint64_t)key, &rows[nrows++]);
    } else {
        for (int sa = 0; sa < side[0].r.n_scales; sa++)
            for (int sb = 0; sb < side[1].r.n_scales; sb++)
                if (!strcmp(side[0].r.scale_name[sa], side[1].r.scale_name[sb]))
                    compare_pair(&side[0], sa, o.la, &side[1], sb, o.lb, o.metric, o.tau, resamples,
                                 permutations, (uint64_t)key, &rows[nrows++]);
        if (!nrows) {
            fprintf(stderr, "distsweep compare: %s and %s share no scale name; name one each "
                            "(A.h5:SCALE B.h5:SCALE)\n", side[0].path, side[1].path);
            goto done;
        }
    }

    const char *mname = ds_metric_name_of(side[0].r.eval_kind, o.metric);
    const char *op = ds_metric_lower_is_better(o.metric) ? "<=" : ">=";
    if (format == FMT_TABLE) {
        for (int k = 0; k < 2; k++)
            printf("%s: %s: sweep '%s', precision %s\n", k ? "B" : "A", side[k].path, side[k].r.sweep_name,
                   side[k].r.precision);
        char at[DS_RES_POINT_NAME_MAX]; /* a test length, or a multiple-choice set by name */
        ds_results_point_name(&side[0].r, o.la, at);
        printf("metric %s (%s), %s (%s), success = %s %s %g (%s)\n", mname, o.metric_why, at,
               o.length_why, mname, op, o.tau, o.tau_why);
        printf("differences are B - A; [lo, hi]: 95%% percentile bootstrap, %d resamples; p: permutation "
               "test, %d permutations (two-sided; W2: W2* >= W2); key %lld\n",
               resamples, permutations, (long long)key);
        printf("paired: both hold the same seeds (seeds resampled jointly, swapped within pairs)\n\n");
        for (int i = 0; i < nrows; i++) {
            const cmp_row *w = &rows[i];
            const ds_compare_result *c = &w->c;
            char b[6][32];
            printf("%s vs %s: %s, n_a %zu, n_b %zu\n", w->a_scale, w->b_scale, w->pairing, c->n_a, c->n_b);
#define F4(i, v) ds_fmt_fixed(b[i], 32, v, 4)
#define LINE(label, va, vb, ci, pv)                                                                   \
    printf("  %-14s A %-8s B %-8s B-A %-8s [%s, %s]  p %s\n", label, F4(0, va), F4(1, vb),           \
           F4(2, (ci).est), F4(3, (ci).lo), F4(4, (ci).hi), F4(5, pv))
            LINE("p_success", c->p_a, c->p_b, c->d_p, c->pv_p);
            LINE("mean", c->mean_a, c->mean_b, c->d_mean, c->pv_mean);
            LINE("mean_success", c->ms_a, c->ms_b, c->d_ms, NAN);
#undef LINE
            printf("  %-14s %-22s    %-8s [%s, %s]  p %s\n", "W2", "", F4(2, c->w2.est), F4(3, c->w2.lo),
                   F4(4, c->w2.hi), F4(5, c->pv_w2));
#undef F4
        }
    } else if (format == FMT_CSV) {
        for (int c = 0; c < N_CMP_COLUMNS; c++) printf("%s%s", c ? "," : "", cmp_columns[c].name);
        printf("\n");
        for (int i = 0; i < nrows; i++) {
            for (int c = 0; c < N_CMP_COLUMNS; c++) {
                if (c) putchar(',');
                column_value(&rows[i], c, 0);
            }
            printf("\n");
        }
    } else {
        printf("{");
        for (int k = 0; k < 2; k++) {
            printf("%s\"%s\": {\"file\": ", k ? ", " : "", k ? "b" : "a");
            ds_json_str(stdout, side[k].path);
            printf(", \"sweep_name\": ");
            ds_json_str(stdout, side[k].r.sweep_name);
            printf(", \"precision\": ");
            ds_json_str(stdout, side[k].r.precision);
            printf("}");
        }
        printf(", \"metric\": \"%s\", \"length\": %d, \"success\": \"%s\", \"threshold\": ", mname, o.length, op);
        jnum(stdout, o.tau);
        printf(", \"metric_source\": ");
        ds_json_str(stdout, o.metric_why);
        printf(", \"length_source\": ");
        ds_json_str(stdout, o.length_why);
        printf(", \"threshold_source\": ");
        ds_json_str(stdout, o.tau_why);
        printf(", \"resamples\": %d, \"permutations\": %d, \"seed\": %lld,\n \"rows\": [", resamples,
               permutations, (long long)key);
        for (int i = 0; i < nrows; i++) {
            printf("%s\n  {", i ? "," : "");
            for (int c = 0; c < N_CMP_COLUMNS; c++) {
                printf("%s\"%s\": ", c ? ", " : "", cmp_columns[c].name);
                column_value(&rows[i], c, 1);
            }
            printf("}");
        }
        printf("]}\n");
    }
    rc = DS_EXIT_OK;
done:
    for (int k = 0; k < 2; k++)
        if (side[k].open) ds_results_close(&side[k].r);
    free(side);
    free(rows);
    return rc;
}
