/* cmd_sample: `distsweep sample SWEEP.yaml`, the decoded token streams of a
 * sweep's task exactly as the model sees them (docs/tasks.md).
 *
 * Training mode walks one job seed's packed training rows and prints their
 * examples one per line; --row R prints whole rows from R on; --eval prints
 * evaluation examples. Under each line a second line marks with ^ every token
 * that is a scored target (loss mask 1). Everything comes from tasks.h; this
 * file only formats. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mcfile.h"
#include "common.h"
#include "corpus.h"
#include "sweep.h"
#include "tasks.h"
#include "tokenizer.h"

#define SAMPLE_WIDTH 100 /* wrap decoded lines at about this many columns */

typedef struct {
    const char *path;
    int eval;
    int length;        /* 0 = not given */
    long long n;       /* -1 = not given */
    long long seed;    /* job seed; -1 = the sweep's first */
    long long row;     /* -1 = not given */
    const char *tokenizer; /* --tokenizer FILE (corpus); NULL = task.tokenizer */
    const char *scale;     /* --scale S: the condition whose data (a values family's mixture) */
    const char *set;       /* --set NAME: a corpus task's evaluation set for --eval */
} sample_opts;

static void sample_usage(FILE *f) {
    fprintf(f,
            "usage: distsweep sample SWEEP.yaml [--eval] [--length L] [-n N] [--seed K] [--row R]\n\n"
            "Prints decoded examples of the sweep's task exactly as the model sees them.\n"
            "Under each line, ^ marks the scored tokens (loss mask 1: the targets the model\n"
            "is trained and judged on predicting from everything before them); a line with\n"
            "no marker line under it holds no scored token.\n\n"
            "  (default)    training examples from the start of job seed K's stream, one per\n"
            "               line, the row each comes from named above it\n"
            "  --row R      N whole packed training rows (context tokens each) from row R on,\n"
            "               split at each `$`; a cut-off last example is marked (never scored)\n"
            "  --length L   training: force every example to length L (count: L numbers;\n"
            "               addition: both operands L digits); --eval: the test length\n"
            "               (default: the sweep's first eval length)\n"
            "  --eval       evaluation examples at --length, from example index R (--row, default 0)\n"
            "  -n N         how many examples (default 5) or, with --row, rows (default 1)\n"
            "  --seed K     training stream of job seed K (default: the sweep's first seed)\n"
            "  --tokenizer FILE  corpus tasks: decode rows with this tokenizer.json (default:\n"
            "               the sweep's task.tokenizer); a corpus sample prints whole rows:\n"
            "               their source, chunk, token ids and text\n"
            "  --eval --set NAME  corpus tasks: the items of evaluation set NAME (default: the\n"
            "               first of eval.multiple_choice), from item R (--row), decoded: the\n"
            "               prompt and each choice, the correct one marked\n"
            "  --scale S    the rows of scale S (a row or a name, d64_L2_news=0.8): a values\n"
            "               family's condition may change the data (a source's weight);\n"
            "               default: the sweep's own settings\n");
}

/* Parses an integer option value of at least min (ds_cli_int64), said on
 * stderr when it is not one; returns 0 on success. */
static int parse_count(const char *opt, const char *s, int64_t min, int64_t *out) {
    ds_error err = {0};
    if (ds_cli_int64(opt, s, min, INT64_MAX, out, &err)) {
        fprintf(stderr, "distsweep sample: %s\n", err.msg);
        return DS_EXIT_USAGE;
    }
    return 0;
}

static int parse_args(int argc, char **argv, sample_opts *o) {
    memset(o, 0, sizeof *o);
    o->n = o->seed = o->row = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int64_t v;
        if (!strcmp(a, "--eval")) o->eval = 1;
        else if (!strcmp(a, "--tokenizer")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "distsweep sample: --tokenizer needs a file\n");
                return DS_EXIT_USAGE;
            }
            o->tokenizer = argv[++i];
        } else if (!strcmp(a, "--set")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "distsweep sample: --set needs an evaluation set's name\n");
                return DS_EXIT_USAGE;
            }
            o->set = argv[++i];
        } else if (!strcmp(a, "--scale")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "distsweep sample: --scale needs a row or a scale's name\n");
                return DS_EXIT_USAGE;
            }
            o->scale = argv[++i];
        }
        else if (!strcmp(a, "--length") || !strcmp(a, "-n") || !strcmp(a, "--seed") ||
                 !strcmp(a, "--row")) {
            int min = !strcmp(a, "--length") || !strcmp(a, "-n") ? 1 : 0;
            if (parse_count(a, i + 1 < argc ? argv[i + 1] : NULL, min, &v)) return DS_EXIT_USAGE;
            i++;
            if (!strcmp(a, "--length")) {
                if (v > INT_MAX) v = INT_MAX; /* rejected below as too long for the task */
                o->length = (int)v;
            } else if (!strcmp(a, "-n")) o->n = v;
            else if (!strcmp(a, "--seed")) o->seed = v;
            else o->row = v;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "distsweep sample: unknown option '%s'\n", a);
            return DS_EXIT_USAGE;
        } else if (o->path) {
            fprintf(stderr, "distsweep sample: one sweep file expected, got '%s' and '%s'\n", o->path, a);
            return DS_EXIT_USAGE;
        } else o->path = a;
    }
    if (!o->path) {
        sample_usage(stderr);
        return DS_EXIT_USAGE;
    }
    if (o->eval && o->seed >= 0) {
        fprintf(stderr, "distsweep sample: --seed has no effect with --eval: every seed is scored on "
                        "the same evaluation examples\n");
        return DS_EXIT_USAGE;
    }
    return 0;
}

/* One wrapped output line of token names and the marker line under it. */
typedef struct {
    char tok[SAMPLE_WIDTH * 2 + 64];
    char mark[SAMPLE_WIDTH * 2 + 64];
    int len;
} line_pair;

static void flush_pair(line_pair *lp, const char *indent) {
    if (!lp->len) return;
    lp->tok[lp->len] = lp->mark[lp->len] = 0;
    printf("%s%s\n", indent, lp->tok);
    /* A line without scored tokens gets no marker line: blank marker lines
     * would only double the prompt's height. */
    int m = lp->len;
    while (m > 0 && lp->mark[m - 1] == ' ') m--;
    lp->mark[m] = 0;
    if (m) printf("%s%s\n", indent, lp->mark);
    lp->len = 0;
}

/* Prints tokens [lo, hi) wrapped at SAMPLE_WIDTH columns, each line followed by
 * a marker line with ^ under every scored token; `indent` starts every line. */
static void print_tokens(const ds_task_ops *op, const ds_task_spec *t, const int32_t *tok,
                         const uint8_t *mask, int lo, int hi, const char *indent) {
    line_pair lp = {.len = 0};
    for (int i = lo; i < hi; i++) {
        char name[32];
        op->token_name(t, tok[i], name, sizeof name);
        int w = (int)strlen(name);
        if (lp.len && lp.len + 1 + w > SAMPLE_WIDTH) flush_pair(&lp, indent);
        if (lp.len) lp.tok[lp.len] = lp.mark[lp.len] = ' ', lp.len++;
        memcpy(lp.tok + lp.len, name, (size_t)w);
        memset(lp.mark + lp.len, mask[i] ? '^' : ' ', (size_t)w);
        lp.len += w;
    }
    flush_pair(&lp, indent);
}

/* Every task's examples begin with `$` (and no other token prints as `$`). */
static int is_bos(const ds_task_ops *op, const ds_task_spec *t, int32_t id) {
    char name[32];
    op->token_name(t, id, name, sizeof name);
    return !strcmp(name, "$");
}

/* ": <the task's human reading>" into buf, or nothing when the task has none
 * or it does not fit (very wide operands). */
static void describe(const ds_task_ops *op, const ds_task_spec *t, const int32_t *tok, int n,
                     char *buf, int buflen) {
    buf[0] = 0;
    if (!op->describe) return;
    op->describe(t, tok, n, buf + 2, buflen - 2);
    if (!strcmp(buf + 2, "?")) buf[2] = 0;
    if (buf[2]) memcpy(buf, ": ", 2);
}

static int scored(const uint8_t *mask, int lo, int hi) {
    int n = 0;
    for (int i = lo; i < hi; i++) n += mask[i];
    return n;
}

/* Training mode. Whole rows (by_rows) or the first n complete examples. */
static void sample_train(const ds_sweep *s, const ds_task_spec *t, uint64_t seed, long long first_row,
                         long long n, int by_rows) {
    const ds_task_ops *op = ds_task_get(t);
    const int T = s->train.context;
    int32_t *tok = DS_MALLOC(sizeof *tok * (size_t)T);
    uint8_t *mask = DS_MALLOC((size_t)T);
    long long shown = 0;
    for (long long row = first_row; shown < n; row++) {
        op->train_row(t, seed, (uint64_t)row, T, tok, mask);
        if (by_rows)
            printf("row %lld of seed %llu: %d tokens, %d scored\n", row, (unsigned long long)seed, T,
                   scored(mask, 0, T));
        else
            printf("row %lld of seed %llu:\n", row, (unsigned long long)seed);
        int ex = 0;
        for (int lo = 0; lo < T && (by_rows || shown < n);) {
            int hi = lo + 1;
            while (hi < T && !is_bos(op, t, tok[hi])) hi++;
            /* Only the last example of a row can be cut off, and its tokens
             * are never scored; a complete one ends with a scored token. */
            int cut = hi == T && !mask[T - 1];
            if (cut && !by_rows) break; /* examples mode: complete examples only */
            char what[1024] = "";
            if (!cut) describe(op, t, tok + lo, hi - lo, what, sizeof what);
            printf("  example %d (%d tokens)%s%s\n", ex, hi - lo,
                   cut ? ", cut off at the row's end: not scored" : "", what);
            print_tokens(op, t, tok, mask, lo, hi, "    ");
            ex++;
            if (!by_rows) shown++;
            lo = hi;
        }
        if (by_rows) shown++;
    }
    free(tok);
    free(mask);
}

static void sample_eval(const ds_task_spec *t, int L, long long first, long long n) {
    const ds_task_ops *op = ds_task_get(t);
    const int T = op->eval_tokens(t, L);
    const int64_t count = op->eval_count(t, L);
    int32_t *tok = DS_MALLOC(sizeof *tok * (size_t)T);
    uint8_t *mask = DS_MALLOC((size_t)T);
    for (long long k = first; k < first + n && k < count; k++) {
        op->eval_example(t, L, k, tok, mask);
        char what[1024] = "";
        describe(op, t, tok, T, what, sizeof what);
        printf("  eval example %lld of %lld at length %d (%d tokens, %d scored)%s\n", k, (long long)count,
               L, T, scored(mask, 0, T), what);
        print_tokens(op, t, tok, mask, 0, T, "    ");
    }
    free(tok);
    free(mask);
}

/* Prints tokens[0..n) decoded (or as ids without a tokenizer) on lines of
 * `indent`, a line per line of text. */
static void print_decoded(const ds_tokenizer *tok, const int32_t *tokens, int n, const char *indent) {
    if (!tok) {
        printf("%s", indent);
        for (int i = 0; i < n; i++) printf("%s%d", i ? " " : "", (int)tokens[i]);
        printf("\n");
        return;
    }
    int cap = n * 64 + 64;
    char *text = DS_MALLOC((size_t)cap);
    ds_tokenizer_decode(tok, tokens, n, text, cap);
    for (char *line = text;;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        printf("%s%s\n", indent, line);
        if (!nl) break;
        line = nl + 1;
    }
    free(text);
}

/* Corpus mode, --eval: N items of evaluation set `set` (attached) from item
 * R: the prompt and each choice as the model is scored on them (src/mceval.h),
 * the correct one marked. */
static void sample_mc(const ds_task_spec *t, int set, const ds_tokenizer *tok, long long first,
                      long long n) {
    const ds_mc_set *st = t->mc_sets[set];
    static const char *const styles[] = {"letter", "completion"};
    printf("# evaluation set %s (%s): %d items of %d choices, scoring %s\n", t->mc[set].name,
           st->path, st->n_items, st->K, styles[st->scoring]);
    for (long long i = first; i < first + n && i < st->n_items; i++) {
        printf("item %lld (label %c):\n  prompt (%d tokens):\n", i, 'A' + st->label[i],
               st->ctx_len[i]);
        print_decoded(tok, ds_mc_context(st, (int)i), st->ctx_len[i], "    | ");
        for (int k = 0; k < st->K; k++) {
            printf("  choice %c%s (%d tokens):", 'A' + k, k == st->label[i] ? " (correct)" : "",
                   st->cont_len[(size_t)i * st->K + k]);
            print_decoded(tok, ds_mc_continuation(st, (int)i, k), st->cont_len[(size_t)i * st->K + k], " ");
        }
    }
}

/* Corpus mode: N whole rows of task t (a condition's mixture) from row R of
 * seed K, each with its source and chunk, its token ids with the scored ones
 * marked, and its text when a tokenizer is at hand (tok may be NULL). */
static void sample_corpus(const ds_sweep *s, const ds_task_spec *t, const ds_tokenizer *tok,
                          uint64_t seed, long long first, long long n) {
    const ds_task_ops *op = ds_task_get(t);
    const int T = s->train.context;
    int32_t *ids = DS_MALLOC(sizeof *ids * (size_t)T);
    uint8_t *mask = DS_MALLOC((size_t)T);
    int slots[DS_MAX_SOURCES];
    int64_t nch[DS_MAX_SOURCES];
    for (int k = 0; k < t->n_sources; k++) {
        slots[k] = t->sources[k].slots;
        nch[k] = ds_corpus_source(t->corpus, k).n_chunks;
    }
    int cap = T * 64 + 64;
    char *text = DS_MALLOC((size_t)cap);
    for (long long row = first; row < first + n; row++) {
        int k;
        int64_t chunk;
        ds_corpus_locate(t->n_sources, slots, nch, seed, (uint64_t)row, &k, &chunk);
        int k2 = ds_corpus_row(t->corpus, slots, seed, (uint64_t)row, T, ids, mask);
        DS_ASSERT(k2 == k);
        printf("row %lld of seed %llu: source %s, chunk %lld of %lld (tokens %lld..%lld), %d tokens, "
               "%d scored\n", row, (unsigned long long)seed, t->sources[k].name, (long long)chunk,
               (long long)nch[k], (long long)chunk * (T - 1), (long long)chunk * (T - 1) + T - 1, T,
               scored(mask, 0, T));
        print_tokens(op, t, ids, mask, 0, T, "    ");
        if (!tok) continue;
        ds_tokenizer_decode(tok, ids, T, text, cap);
        printf("  text:\n");
        for (char *line = text, *nl;; line = nl + 1) {
            nl = strchr(line, '\n');
            if (nl) *nl = 0;
            printf("    | %s\n", line);
            if (!nl) break;
        }
    }
    free(text);
    free(ids);
    free(mask);
}

int ds_cmd_sample(int argc, char **argv) {
    if (ds_cli_wants_help(argc, argv)) {
        sample_usage(stdout);
        return DS_EXIT_OK;
    }
    sample_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;

    ds_sweep *s = NULL;
    ds_error err = {0};
    rc = ds_sweep_load(o.path, &s, &err);
    if (!rc) rc = ds_sweep_attach_data(s, &err); /* the corpus's shards */
    if (rc) {
        fprintf(stderr, "distsweep: %s\n", err.msg);
        ds_sweep_free(s);
        return rc;
    }
    ds_task_spec t = s->task;
    if (o.scale) { /* the condition's task: its mixture where it changes a source's weight */
        int idx;
        if (ds_cli_scale(s, o.scale, &idx, &err)) {
            fprintf(stderr, "distsweep sample: %s\n", err.msg);
            ds_sweep_free(s);
            return DS_EXIT_USAGE;
        }
        ds_sweep *cond = ds_sweep_condition(s, idx);
        t = cond->task; /* borrows s's attached data, as cond did */
        free(cond);
    }
    const ds_task_ops *op = ds_task_get(&t);
    DS_ASSERT(op);
    if (o.set && (t.kind != DS_TASK_CORPUS || !o.eval)) {
        fprintf(stderr, "distsweep sample: --set names a corpus task's evaluation set, with --eval\n");
        rc = DS_EXIT_USAGE;
        goto done;
    }
    if (t.kind == DS_TASK_CORPUS) {
        if (o.length || (o.eval && !t.n_mc)) {
            fprintf(stderr, "distsweep sample: %s: a corpus task has no test lengths%s\n",
                    o.length ? "--length" : "--eval", t.n_mc ? "" : " and this sweep no evaluation set "
                    "(eval.multiple_choice)");
            rc = DS_EXIT_USAGE;
            goto done;
        }
        int set = 0;
        if (o.set) {
            set = -1;
            for (int i = 0; i < t.n_mc; i++)
                if (!strcmp(t.mc[i].name, o.set)) set = i;
            if (set < 0) {
                fprintf(stderr, "distsweep sample: no evaluation set '%s' (sets:", o.set);
                for (int i = 0; i < t.n_mc; i++) fprintf(stderr, " %s", t.mc[i].name);
                fprintf(stderr, ")\n");
                rc = DS_EXIT_USAGE;
                goto done;
            }
        }
        ds_tokenizer *tok = NULL;
        char tpath[DS_SOURCE_PATH_MAX + 4200] = "";
        if (o.tokenizer) snprintf(tpath, sizeof tpath, "%s", o.tokenizer);
        else if (t.tokenizer[0]) /* relative to the sweep file, like the sources */
            ds_sweep_resolve(o.path, t.tokenizer, tpath, sizeof tpath);
        if (tpath[0] && (rc = ds_tokenizer_load(tpath, &tok, &err))) {
            fprintf(stderr, "distsweep: %s\n", err.msg);
            goto done;
        }
        if (o.eval) {
            sample_mc(&t, set, tok, o.row >= 0 ? o.row : 0, o.n >= 0 ? o.n : 3);
            ds_tokenizer_free(tok);
            goto done;
        }
        uint64_t seed = o.seed >= 0 ? (uint64_t)o.seed : (uint64_t)s->seeds.start;
        printf("# %s: task corpus, %d token ids, sources", o.path, t.vocab);
        for (int k = 0; k < t.n_sources; k++)
            printf("%s %s (weight %g, %d/1024 of rows%s)", k ? "," : "", t.sources[k].name,
                   t.sources[k].weight, t.sources[k].slots,
                   t.sources[k].loss == DS_LOSS_ANSWER ? ", loss on answers only" : "");
        printf("\n# ^ marks a scored target (loss mask 1)%s\n",
               tok ? "" : "; no tokenizer (task.tokenizer or --tokenizer): ids only");
        printf("# training rows of seed %llu: context %d\n", (unsigned long long)seed, s->train.context);
        sample_corpus(s, &t, tok, seed, o.row >= 0 ? o.row : 0, o.n >= 0 ? o.n : o.row >= 0 ? 1 : 3);
        ds_tokenizer_free(tok);
        goto done;
    }

    int L = o.length ? o.length : (o.eval ? t.eval_lengths[0] : 0);
    if (L && op->eval_count(&t, L) == 0) {
        fprintf(stderr, "distsweep sample: --length %d is not a length the %s task of %s can pose%s\n",
                L, op->name, o.path,
                t.kind == DS_TASK_COUNT ? " (more numbers than the vocabulary)"
                                        : " (more digits than hint tokens, counting the carry)");
        rc = DS_EXIT_USAGE;
        goto done;
    }
    printf("# %s: task %s, %d token ids", o.path, op->name, op->vocab_total(&t));
    if (t.kind == DS_TASK_COUNT) printf(" (numbers 0..%d, then $ > . *)", t.vocab - 1);
    else printf(" (digits 0..9, $ > . * +, hints a0..a%d)", t.hint_tokens - 1);
    printf("\n# ^ marks a scored target (loss mask 1)\n");

    if (o.eval) {
        long long first = o.row >= 0 ? o.row : 0, n = o.n >= 0 ? o.n : 5;
        int64_t count = op->eval_count(&t, L);
        if (first >= count) {
            fprintf(stderr, "distsweep sample: --row %lld: there are %lld evaluation examples at length %d\n",
                    first, (long long)count, L);
            rc = DS_EXIT_USAGE;
            goto done;
        }
        printf("# evaluation at length %d: %lld examples", L, (long long)count);
        if (t.kind == DS_TASK_ADDITION)
            printf(" drawn from eval_seed %llu (the same for every seed and scale)",
                   (unsigned long long)t.eval_seed);
        else printf(" (every start 0..%d)", t.vocab - L);
        printf("\n");
        sample_eval(&t, L, first, n);
    } else {
        if (L) {
            /* Forcing a length: the stream of a task whose range is just L. */
            if (op->example_tokens(&t, L) > s->train.context) {
                fprintf(stderr, "distsweep sample: --length %d: one example is %d tokens, more than "
                                "the context of %d\n", L, op->example_tokens(&t, L), s->train.context);
                rc = DS_EXIT_USAGE;
                goto done;
            }
            t.train_min = t.train_max = L;
        }
        uint64_t seed = o.seed >= 0 ? (uint64_t)o.seed : (uint64_t)s->seeds.start;
        int by_rows = o.row >= 0;
        long long n = o.n >= 0 ? o.n : by_rows ? 1 : 5;
        printf("# training stream of seed %llu: context %d, example length %d..%d%s\n",
               (unsigned long long)seed, s->train.context, t.train_min, t.train_max,
               L ? " (forced by --length)" : "");
        sample_train(s, &t, seed, by_rows ? o.row : 0, n, by_rows);
    }
done:
    ds_sweep_free(s);
    return rc;
}
