/* sweep: loading and validating sweep files (docs/design.md §5, docs/spec-tasks.md).
 *
 * The file is read whole and parsed with libyaml's document API into a node
 * tree whose nodes carry their source marks; every key is then read through a
 * small set of typed accessors that report the first problem as
 * "FILE:LINE:COL: message" (1-based) and make the load fail with
 * DS_EXIT_USAGE. Nothing here touches any file but the one being read.
 *
 * Also owns the derived quantities of a scale (parameter count, FLOPs) and the
 * canonical experiment text behind yaml_hash and ds_sweep_diff. */
#define _POSIX_C_SOURCE 200809L
#include "sweep.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "corpus.h" /* ds_corpus_apportion: the slots of the mixture */
#include "schema.h" /* metric names and ranges (seeds.adaptive.metric, the report block) */
#include "tasks.h"

/* ---- scale arithmetic ------------------------------------------------------ */

int64_t ds_scale_params(int d_model, int n_layers, int vocab_total) {
    const int64_t d = d_model;
    return (int64_t)n_layers * (12 * d * d + 13 * d) + 2 * (int64_t)vocab_total * d + 2 * d;
}

int ds_model_mlp_hidden(const ds_model_spec *m, int d_model) {
    if (m->block != DS_BLOCK_LLAMA) return 4 * d_model;
    if (m->mlp_hidden > 0) return m->mlp_hidden;
    return (int)(64 * ((8 * (int64_t)d_model + 191) / 192));
}

int ds_model_kv_heads(const ds_model_spec *m, int d_model) {
    int H = d_model / m->head_dim;
    return m->block == DS_BLOCK_LLAMA && m->kv_heads > 0 ? m->kv_heads : H;
}

int64_t ds_block_params(const ds_model_spec *m, int d_model, int n_layers, int vocab_total) {
    if (m->block != DS_BLOCK_LLAMA) return ds_scale_params(d_model, n_layers, vocab_total);
    const int64_t d = d_model, V = vocab_total, F = ds_model_mlp_hidden(m, d_model);
    const int64_t kv = (int64_t)ds_model_kv_heads(m, d_model) * m->head_dim;
    int64_t layer = 2 * d + d * (d + 2 * kv) + (m->qkv_bias ? d + 2 * kv : 0) + d * d + 3 * d * F;
    return n_layers * layer + V * d + d + (m->tie_embeddings ? 0 : V * d);
}

double ds_block_flops_per_step(const ds_model_spec *m, int d_model, int n_layers, int vocab_total,
                               int batch, int context) {
    if (m->block != DS_BLOCK_LLAMA)
        return ds_scale_flops_per_step(d_model, n_layers, vocab_total, batch, context);
    const double d = d_model, L = n_layers, T = context - 1, tokens = (double)batch * T;
    const double F = ds_model_mlp_hidden(m, d_model);
    const double kv = (double)ds_model_kv_heads(m, d_model) * m->head_dim;
    const double matmul_weights = L * (d * (d + 2 * kv) + d * d + 3 * d * F) + (double)vocab_total * d;
    const double forward = 2.0 * matmul_weights * tokens + L * 4.0 * T * d * tokens;
    return 3.0 * forward;
}

/* The shortest %g text that reads back as exactly v (buf: 32 bytes). */
static const char *num(char *buf, double v) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    return buf;
}

#define SOURCE_KEY_PREFIX "task.sources."
#define SOURCE_KEY_SUFFIX ".weight"

/* The source name in a source-weight key "task.sources.<name>.weight" into
 * name (DS_NAME_MAX bytes): 1, or 0 when key is not of that form. */
static int source_key_name(const char *key, char *name) {
    size_t lp = strlen(SOURCE_KEY_PREFIX), ls = strlen(SOURCE_KEY_SUFFIX), n = strlen(key);
    if (n <= lp + ls || strncmp(key, SOURCE_KEY_PREFIX, lp) || strcmp(key + n - ls, SOURCE_KEY_SUFFIX))
        return 0;
    if (n - lp - ls >= DS_NAME_MAX) return 0;
    memcpy(name, key + lp, n - lp - ls);
    name[n - lp - ls] = 0;
    return 1;
}

/* The short name of a setting key in a condition's name (buf: DS_NAME_MAX
 * bytes): a source weight's source name, else the key's last part. */
static const char *setting_short(const char *key, char *buf) {
    if (source_key_name(key, buf)) return buf;
    const char *dot = strrchr(key, '.');
    return dot ? dot + 1 : key;
}

/* The last component of a directory path as written (trailing '/' dropped)
 * into buf (n bytes): a text setting's part of a condition's name. */
static const char *path_base(const char *path, char *buf, size_t n) {
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && path[start - 1] != '/') start--;
    snprintf(buf, n, "%.*s", (int)(len - start), path + start);
    return buf;
}

const char *ds_setting_str(const ds_setting *set, char *buf, size_t n) {
    if (set->text[0]) snprintf(buf, n, "%s", set->text);
    else {
        char v[32];
        snprintf(buf, n, "%s", num(v, set->value));
    }
    return buf;
}

void ds_scale_name(const ds_scale *sc, char *buf, size_t n) {
    int k = snprintf(buf, n, "d%d_L%d", sc->d_model, sc->n_layers);
    for (int i = 0; i < sc->n_settings && k >= 0 && (size_t)k < n; i++) {
        char v[DS_SETTING_TEXT_MAX], sh[DS_NAME_MAX];
        const ds_setting *set = &sc->settings[i];
        /* a base model (model.init.from): its directory's last component */
        k += snprintf(buf + k, n - (size_t)k, "_%s=%s", setting_short(set->key, sh),
                      set->text[0] ? path_base(set->text, v, sizeof v) : num(v, set->value));
    }
}

/* ---- settings a condition can change (`values` families) ---------------------------- */

/* One varying key: where its value lives in a sweep and its range (as the
 * key's own parse in parse_train/parse_model checks it). */
typedef struct {
    const char *key;
    double lo, hi;
    int lo_open, hi_open, integer;
    int text;           /* values are text (a directory), not numbers */
} setting_def;

static const setting_def setting_defs[] = {
    {"train.lr", 0, INFINITY, 1, 0, 0, 0},
    {"train.weight_decay", 0, INFINITY, 0, 0, 0, 0},
    {"train.grad_clip", 0, INFINITY, 0, 0, 0, 0},
    {"train.eps", 0, INFINITY, 1, 0, 0, 0},
    {"train.warmup", 0, 1e15, 0, 0, 1, 0},
    {"model.init_std", 0, INFINITY, 1, 0, 0, 0},
    /* the base model (model.init given): a Hugging Face directory per
     * condition, of the sweep's base's architecture (ds_hf_attach) */
    {"model.init.from", 0, 0, 0, 0, 0, 1},
    /* a corpus source's weight; the other sources share the rest in their own
     * proportions (setting_io) */
    {SOURCE_KEY_PREFIX "<name>" SOURCE_KEY_SUFFIX, 0, 1, 1, 1, 0, 0},
};
#define N_SETTING_DEFS ((int)(sizeof setting_defs / sizeof setting_defs[0]))
#define SOURCE_WEIGHT_DEF (&setting_defs[N_SETTING_DEFS - 1])

const char *ds_setting_key(int i) { return i >= 0 && i < N_SETTING_DEFS ? setting_defs[i].key : NULL; }

int ds_setting_is_text(const char *key) { return !strcmp(key, "model.init.from"); }

/* The index of the source whose weight key is `key` in s's corpus task with
 * two or more sources, or -1. */
static int source_of_key(const ds_sweep *s, const char *key) {
    char name[DS_NAME_MAX];
    if (s->task.kind != DS_TASK_CORPUS || s->task.n_sources < 2 || !source_key_name(key, name)) return -1;
    for (int k = 0; k < s->task.n_sources; k++)
        if (!strcmp(s->task.sources[k].name, name)) return k;
    return -1;
}

/* The definition of setting `key` in sweep s, or NULL when s has no such setting. */
static const setting_def *setting_find(const ds_sweep *s, const char *key) {
    for (int i = 0; i < N_SETTING_DEFS - 1; i++)
        if (!strcmp(setting_defs[i].key, key))
            return setting_defs[i].text && !s->model.init.enabled ? NULL : &setting_defs[i];
    return source_of_key(s, key) >= 0 ? SOURCE_WEIGHT_DEF : NULL;
}

/* Sets source k's weight of corpus task t to w, the others sharing 1 - w in
 * their own proportions, and the mixture's slots anew (ds_corpus_apportion).
 * Returns the index of a source left without a slot, or -1. */
static int set_source_weight(ds_task_spec *t, int k, double w) {
    double rest = 1.0 - t->sources[k].weight, ws[DS_MAX_SOURCES];
    for (int j = 0; j < t->n_sources; j++)
        ws[j] = j == k ? w : t->sources[j].weight * (1.0 - w) / rest;
    int slots[DS_MAX_SOURCES], empty = -1;
    ds_corpus_apportion(t->n_sources, ws, slots);
    for (int j = 0; j < t->n_sources; j++) {
        t->sources[j].weight = ws[j];
        t->sources[j].slots = slots[j];
        if (!slots[j] && empty < 0) empty = j;
    }
    return empty;
}

/* The value of key in s (a ds_setting_key, a source's weight by its name);
 * 1 when read or written, 0 when the key is not a setting of s. */
static int setting_io(ds_sweep *s, const char *key, double *v, int write) {
    int src = source_of_key(s, key);
    if (src >= 0) {
        if (!write) *v = s->task.sources[src].weight;
        else set_source_weight(&s->task, src, *v); /* a value without an empty source: parse_family */
        return 1;
    }
    double *slot = NULL;
    if (!strcmp(key, "train.lr")) slot = &s->train.lr;
    else if (!strcmp(key, "train.weight_decay")) slot = &s->train.weight_decay;
    else if (!strcmp(key, "train.grad_clip")) slot = &s->train.grad_clip;
    else if (!strcmp(key, "train.eps")) slot = &s->train.adam_eps;
    else if (!strcmp(key, "model.init_std")) slot = &s->model.init_std;
    else if (!strcmp(key, "train.warmup")) {
        if (write) s->train.warmup = (int64_t)*v;
        else *v = (double)s->train.warmup;
        return 1;
    }
    if (!slot) return 0;
    if (write) *slot = *v;
    else *v = *slot;
    return 1;
}

double ds_setting_base(const ds_sweep *s, const char *key) {
    DS_ASSERT(!ds_setting_is_text(key)); /* text settings: ds_scale_setting_text */
    double v = NAN;
    int ok = setting_io((ds_sweep *)s, key, &v, 0); /* a read: s is not written */
    DS_ASSERT(ok);
    return v;
}

double ds_scale_setting(const ds_sweep *s, int scale_idx, const char *key) {
    DS_ASSERT(scale_idx >= 0 && scale_idx < s->n_scales);
    const ds_scale *sc = &s->scales[scale_idx];
    for (int i = 0; i < sc->n_settings; i++)
        if (!strcmp(sc->settings[i].key, key)) return sc->settings[i].value;
    return ds_setting_base(s, key);
}

const char *ds_scale_setting_text(const ds_sweep *s, int scale_idx, const char *key) {
    DS_ASSERT(scale_idx >= 0 && scale_idx < s->n_scales && ds_setting_is_text(key));
    const ds_scale *sc = &s->scales[scale_idx];
    for (int i = 0; i < sc->n_settings; i++)
        if (!strcmp(sc->settings[i].key, key)) return sc->settings[i].text;
    return s->model.init.from;
}

int ds_sweep_resolve(const char *sweep_path, const char *path, char *out, size_t n) {
    const char *slash = sweep_path ? strrchr(sweep_path, '/') : NULL;
    int dir_len = path[0] == '/' || !slash ? 0 : (int)(slash - sweep_path);
    int k = dir_len ? snprintf(out, n, "%.*s/%s", dir_len, sweep_path, path) : snprintf(out, n, "%s", path);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

void ds_scale_model(const ds_sweep *s, int scale_idx, ds_model_spec *out) {
    DS_ASSERT(scale_idx >= 0 && scale_idx < s->n_scales);
    if (out != &s->model) *out = s->model;
    const ds_scale_arch *a = &s->scales[scale_idx].arch;
    if (!a->set) return;
    DS_ASSERT(s->model.init.enabled); /* only a condition's own base has one (ds_hf_attach) */
    out->head_dim = a->head_dim;
    out->kv_heads = a->kv_heads;
    out->mlp_hidden = a->mlp_hidden;
    out->qkv_bias = a->qkv_bias;
    out->tie_embeddings = a->tie_embeddings;
    out->rotary_frac = a->rotary_frac;
    out->rope_base = a->rope_base;
    out->ln_eps = a->ln_eps;
    out->init.untied = a->untied;
}

ds_sweep *ds_sweep_condition(const ds_sweep *s, int scale_idx) {
    DS_ASSERT(scale_idx >= 0 && scale_idx < s->n_scales);
    ds_sweep *c = DS_MALLOC(sizeof *c);
    memcpy(c, s, sizeof *c);
    ds_scale_model(s, scale_idx, &c->model); /* its own base's architecture, if any */
    const ds_scale *sc = &s->scales[scale_idx];
    for (int i = 0; i < sc->n_settings; i++) {
        if (sc->settings[i].text[0]) { /* model.init.from: this condition's base */
            ds_init_spec *in = &c->model.init;
            DS_ASSERT(in->enabled && ds_setting_is_text(sc->settings[i].key));
            snprintf(in->from, sizeof in->from, "%s", sc->settings[i].text);
            int fits = ds_sweep_resolve(s->path, in->from, in->dir, sizeof in->dir);
            DS_ASSERT(fits == 0); /* DS_SETTING_TEXT_MAX + the path's directory < DS_INIT_PATH_MAX */
            continue;
        }
        double v = sc->settings[i].value;
        int ok = setting_io(c, sc->settings[i].key, &v, 1);
        DS_ASSERT(ok);
    }
    return c;
}

double ds_scale_flops_per_step(int d_model, int n_layers, int vocab_total, int batch, int context) {
    const double d = d_model, L = n_layers, T = context - 1;
    const double tokens = (double)batch * T;
    const double matmul_weights = L * 12.0 * d * d + (double)vocab_total * d;
    const double forward = 2.0 * matmul_weights * tokens + L * 4.0 * T * d * tokens;
    return 3.0 * forward;
}

/* ---- parsing context and error reporting ----------------------------------- */

typedef struct {
    const char *file;      /* name used in messages */
    const char *text;      /* the file's bytes, for reader-error positions */
    yaml_document_t *doc;
    ds_error *err;
} yctx;

static yaml_node_t *node_at(yctx *c, int idx) { return yaml_document_get_node(c->doc, idx); }

static int fail_mark(yctx *c, yaml_mark_t m, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_mark(yctx *c, yaml_mark_t m, const char *fmt, ...) {
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ds_error_set(c->err, DS_EXIT_USAGE, "%s:%d:%d: %s", c->file, (int)m.line + 1,
                        (int)m.column + 1, msg);
}

/* The position of a node is where its text starts: the value for a scalar,
 * the first key (block) or the '{' (flow) of a mapping. */
#define FAIL(c, node, ...) fail_mark((c), (node)->start_mark, __VA_ARGS__)

static const char *scalar(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *v = scalar(n);
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

/* What a node is, for "found ..." in type errors. */
static const char *describe(const yaml_node_t *n, char *buf, size_t cap) {
    if (n->type == YAML_SEQUENCE_NODE) return "a list";
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    if (is_null(n)) return "nothing";
    const char *v = scalar(n);
    int quoted = n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    snprintf(buf, cap, "%s'%.40s%s'", quoted ? "the quoted string " : "", v,
             strlen(v) > 40 ? "..." : "");
    return buf;
}

/* Levenshtein distance, case-insensitive, for "did you mean" suggestions. */
static int edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int best = diag + cost;
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The candidate nearest to word if it is near enough to be a likely typo. */
static const char *suggest(const char *word, const char *const *cands) {
    const char *best = NULL;
    int best_d = 1 << 30;
    for (int i = 0; cands[i]; i++) {
        int d = edit_distance(word, cands[i]);
        if (d < best_d) best_d = d, best = cands[i];
    }
    if (!best) return NULL;
    int limit = ((int)strlen(best) + 2) / 3;
    if (limit < 1) limit = 1;
    if (limit > 3) limit = 3;
    return best_d <= limit ? best : NULL;
}

static void join(char *buf, size_t cap, const char *const *words) {
    buf[0] = 0;
    for (int i = 0; words[i]; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", words[i]);
    }
}

/* ---- typed accessors --------------------------------------------------------- */

static int need_mapping(yctx *c, yaml_node_t *n, const char *what) {
    char b[80];
    if (n->type != YAML_MAPPING_NODE)
        return FAIL(c, n, "%s must be a mapping, found %s", what, describe(n, b, sizeof b));
    return 0;
}

/* Checks that every key of map is a plain name from keys (NULL-terminated)
 * and appears once. */
static int check_keys(yctx *c, yaml_node_t *map, const char *what, const char *const *keys) {
    yaml_node_pair_t *p0 = map->data.mapping.pairs.start;
    int np = (int)(map->data.mapping.pairs.top - p0);
    for (int i = 0; i < np; i++) {
        yaml_node_t *k = node_at(c, p0[i].key);
        char b[80];
        if (k->type != YAML_SCALAR_NODE || is_null(k))
            return FAIL(c, k, "keys in %s must be names, found %s", what, describe(k, b, sizeof b));
        const char *name = scalar(k);
        int known = 0;
        for (int j = 0; keys[j]; j++) known |= !strcmp(keys[j], name);
        if (!known) {
            const char *s = suggest(name, keys);
            char list[512];
            join(list, sizeof list, keys);
            if (s) return FAIL(c, k, "unknown key '%s' in %s (did you mean '%s'?)", name, what, s);
            return FAIL(c, k, "unknown key '%s' in %s (valid keys: %s)", name, what, list);
        }
        for (int j = 0; j < i; j++) {
            yaml_node_t *kj = node_at(c, p0[j].key);
            if (kj->type == YAML_SCALAR_NODE && !strcmp(scalar(kj), name))
                return FAIL(c, k, "duplicate key '%s' in %s (first given at line %d, column %d)",
                            name, what, (int)kj->start_mark.line + 1, (int)kj->start_mark.column + 1);
        }
    }
    return 0;
}

/* The value of key in map, or NULL when absent. */
static yaml_node_t *get(yctx *c, yaml_node_t *map, const char *key) {
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(c, p->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp(scalar(k), key)) return node_at(c, p->value);
    }
    return NULL;
}

static int need_key(yctx *c, yaml_node_t *map, const char *what, const char *key, yaml_node_t **out) {
    *out = get(c, map, key);
    if (!*out) return FAIL(c, map, "missing required key '%s' in %s", key, what);
    return 0;
}

/* Numbers are plain scalars in decimal notation; quoted strings, hex, .inf
 * and friends are type errors. */
static int looks_numeric(const char *v, int *is_int) {
    const char *p = v;
    if (*p == '+' || *p == '-') p++;
    int digits = 0, dot = 0, exp = 0;
    *is_int = 1;
    for (; *p; p++) {
        if (isdigit((unsigned char)*p)) digits++;
        else if (*p == '.' && !dot && !exp) dot = 1, *is_int = 0;
        else if ((*p == 'e' || *p == 'E') && digits && !exp) {
            exp = 1, *is_int = 0;
            if (p[1] == '+' || p[1] == '-') p++;
            if (!isdigit((unsigned char)p[1])) return 0;
        } else return 0;
    }
    return digits > 0;
}

static int node_f64_raw(yctx *c, yaml_node_t *n, const char *path, const char *kind, double *out,
                        int *is_int) {
    char b[80];
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
        !looks_numeric(scalar(n), is_int))
        return FAIL(c, n, "%s must be %s, found %s", path, kind, describe(n, b, sizeof b));
    errno = 0;
    *out = strtod(scalar(n), NULL);
    if (errno == ERANGE || !isfinite(*out)) return FAIL(c, n, "%s is out of range: %s", path, scalar(n));
    return 0;
}

/* An integer in [lo, hi]. Written as an integer or as a number with an
 * integral value (1e4, 3.2e6). */
static int node_i64(yctx *c, yaml_node_t *n, const char *path, int64_t lo, int64_t hi, int64_t *out) {
    double v;
    int is_int;
    if (node_f64_raw(c, n, path, "an integer", &v, &is_int)) return DS_EXIT_USAGE;
    if (is_int) {
        errno = 0;
        long long x = strtoll(scalar(n), NULL, 10);
        if (errno == ERANGE) return FAIL(c, n, "%s is out of range: %s", path, scalar(n));
        *out = x;
    } else {
        if (v != floor(v)) return FAIL(c, n, "%s must be an integer, found %s", path, scalar(n));
        if (fabs(v) > 9.0e15) return FAIL(c, n, "%s is out of range: %s", path, scalar(n));
        *out = (int64_t)v;
    }
    if (*out < lo) return FAIL(c, n, "%s must be at least %lld, found %s", path, (long long)lo, scalar(n));
    if (*out > hi) return FAIL(c, n, "%s must be at most %lld, found %s", path, (long long)hi, scalar(n));
    return 0;
}

static int node_int(yctx *c, yaml_node_t *n, const char *path, int lo, int hi, int *out) {
    int64_t v;
    if (node_i64(c, n, path, lo, hi, &v)) return DS_EXIT_USAGE;
    *out = (int)v;
    return 0;
}

/* A finite number in the interval lo..hi; *_open says whether that end is
 * excluded. hi = INFINITY means no upper bound. */
static int node_f64(yctx *c, yaml_node_t *n, const char *path, double lo, int lo_open, double hi,
                    int hi_open, double *out) {
    int is_int;
    if (node_f64_raw(c, n, path, "a number", out, &is_int)) return DS_EXIT_USAGE;
    double v = *out;
    int bad = lo_open ? !(v > lo) : !(v >= lo);
    if (isfinite(hi)) bad |= hi_open ? !(v < hi) : !(v <= hi);
    if (!bad) return 0;
    if (!isfinite(hi))
        return FAIL(c, n, "%s must be %s %g, found %s", path, lo_open ? "greater than" : "at least", lo, scalar(n));
    return FAIL(c, n, "%s must be in %c%g, %g%c, found %s", path, lo_open ? '(' : '[', lo, hi,
                hi_open ? ')' : ']', scalar(n));
}

static int node_enum(yctx *c, yaml_node_t *n, const char *path, const char *const *names, int *out) {
    char b[80], list[256];
    join(list, sizeof list, names);
    if (n->type != YAML_SCALAR_NODE || is_null(n))
        return FAIL(c, n, "%s must be one of %s, found %s", path, list, describe(n, b, sizeof b));
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], scalar(n))) return *out = i, 0;
    const char *s = suggest(scalar(n), names);
    if (s) return FAIL(c, n, "%s must be one of %s, found '%s' (did you mean '%s'?)", path, list, scalar(n), s);
    return FAIL(c, n, "%s must be one of %s, found %s", path, list, describe(n, b, sizeof b));
}

/* A name used in file paths and HDF5 link names: [A-Za-z0-9._-], not starting
 * with '.', at most DS_NAME_MAX-1 characters. */
static int check_name(yctx *c, yaml_node_t *n, const char *path, char *out) {
    char b[80];
    if (n->type != YAML_SCALAR_NODE || is_null(n))
        return FAIL(c, n, "%s must be a name, found %s", path, describe(n, b, sizeof b));
    const char *v = scalar(n);
    size_t len = strlen(v);
    if (len >= DS_NAME_MAX)
        return FAIL(c, n, "%s is too long (%zu characters, at most %d)", path, len, DS_NAME_MAX - 1);
    for (size_t i = 0; i < len; i++)
        if (!(isalnum((unsigned char)v[i]) || v[i] == '_' || v[i] == '-' || (v[i] == '.' && i > 0)))
            return FAIL(c, n, "%s '%s' may only contain letters, digits, '_', '-' and '.' (not first)", path, v);
    memcpy(out, v, len + 1);
    return 0;
}

static int need_seq(yctx *c, yaml_node_t *n, const char *path, int min_items, int max_items) {
    char b[80];
    if (n->type != YAML_SEQUENCE_NODE)
        return FAIL(c, n, "%s must be a list, found %s", path, describe(n, b, sizeof b));
    int len = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (len < min_items) {
        if (min_items == max_items) return FAIL(c, n, "%s must be a list of %d items, found %d", path, min_items, len);
        return FAIL(c, n, "%s must not be empty", path);
    }
    if (len > max_items) {
        if (min_items == max_items) return FAIL(c, n, "%s must be a list of %d items, found %d", path, min_items, len);
        return FAIL(c, n, "%s has %d items, at most %d are allowed", path, len, max_items);
    }
    return 0;
}

static int seq_len(const yaml_node_t *n) {
    return (int)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *seq_item(yctx *c, yaml_node_t *n, int i) {
    return node_at(c, n->data.sequence.items.start[i]);
}

/* ---- sections ------------------------------------------------------------------ */

static const char *const task_keys[] = {"kind", "vocab", "train_length", "eval_lengths",
                                        "hint_tokens", "eval_examples", "eval_seed",
                                        "tokenizer", "eot", "sources", NULL};
static const char *const source_keys[] = {"name", "path", "weight", "loss", NULL};
static const char *const loss_names[] = {"all", "answer", NULL};
static const char *const model_keys[] = {"head_dim", "block", "rotary_frac", "rope_base",
                                         "init_std", "ln_eps", "init", "kv_heads", "mlp_hidden",
                                         "qkv_bias", "tie_embeddings", NULL};
static const char *const train_keys[] = {"steps", "epochs", "batch", "context", "lr", "warmup",
                                         "weight_decay", "grad_clip", "betas", "eps",
                                         "precision", "log_every", "micro_batches", "eval_every",
                                         "schedule", NULL};
static const char *const seeds_keys[] = {"start", "count", "adaptive", NULL};
static const char *const adaptive_keys[] = {"metric", "length", "set", "statistic", "threshold",
                                            "ci_width", "step", "max", NULL};
static const char *const adapt_stat_names[] = {"p_success", "mean_success", "mean", NULL};
static const char *const run_keys[] = {"pack", "checkpoint_every", "max_attempts",
                                       "ranks_per_job", "backend", "save_models", NULL};
static const char *const report_keys[] = {"metric", "length", "set", "threshold", NULL};
static const char *const eval_keys[] = {"multiple_choice", NULL};
static const char *const mc_keys[] = {"name", "path", "scoring", NULL};
static const char *const top_keys[] = {"name", "task", "eval", "model", "train", "seeds",
                                       "scales", "output", "run", "report", NULL};

#define MAX_WIDTH 65536
#define MAX_DEPTH 1024
#define MAX_LENGTH 100000

/* A file path scalar of at most DS_SOURCE_PATH_MAX-1 bytes into out. */
static int node_path(yctx *c, yaml_node_t *n, const char *path, char *out) {
    char b[80];
    if (n->type != YAML_SCALAR_NODE || is_null(n) || !*scalar(n))
        return FAIL(c, n, "%s must be a file path, found %s", path, describe(n, b, sizeof b));
    if (strlen(scalar(n)) >= DS_SOURCE_PATH_MAX)
        return FAIL(c, n, "%s is too long (at most %d characters)", path, DS_SOURCE_PATH_MAX - 1);
    snprintf(out, DS_SOURCE_PATH_MAX, "%s", scalar(n));
    return 0;
}

/* The corpus task's keys (docs/sweep-file.md "task"): vocab, sources, and the
 * optional tokenizer and eot. Only the keys; the shards are opened by
 * ds_sweep_attach_data. */
static int parse_corpus_task(yctx *c, yaml_node_t *m, ds_task_spec *t) {
    static const char *const synthetic_only[] = {"train_length", "eval_lengths", "hint_tokens",
                                                 "eval_examples", "eval_seed", NULL};
    yaml_node_t *n, *srcs;
    for (int i = 0; synthetic_only[i]; i++)
        if ((n = get(c, m, synthetic_only[i])))
            return FAIL(c, n, "task.%s applies to the count and addition tasks, not corpus (a corpus "
                        "task has no evaluation lengths yet)", synthetic_only[i]);
    if (need_key(c, m, "task", "vocab", &n) || node_int(c, n, "task.vocab", 2, 1 << 30, &t->vocab))
        return DS_EXIT_USAGE;
    t->eot = -1;
    if ((n = get(c, m, "eot"))) {
        if (node_int(c, n, "task.eot", 0, 1 << 30, &t->eot)) return DS_EXIT_USAGE;
        if (t->eot >= t->vocab)
            return FAIL(c, n, "task.eot %d is not below task.vocab (%d)", t->eot, t->vocab);
    }
    if ((n = get(c, m, "tokenizer")) && node_path(c, n, "task.tokenizer", t->tokenizer))
        return DS_EXIT_USAGE;
    if (need_key(c, m, "task", "sources", &srcs) ||
        need_seq(c, srcs, "task.sources", 1, DS_MAX_SOURCES))
        return DS_EXIT_USAGE;
    t->n_sources = seq_len(srcs);
    double w[DS_MAX_SOURCES], sum = 0;
    yaml_node_t *wnode[DS_MAX_SOURCES];
    for (int k = 0; k < t->n_sources; k++) {
        ds_source_spec *sp = &t->sources[k];
        yaml_node_t *it = seq_item(c, srcs, k);
        char what[64], path[96];
        snprintf(what, sizeof what, "task.sources[%d]", k);
        if (need_mapping(c, it, what) || check_keys(c, it, what, source_keys)) return DS_EXIT_USAGE;
        snprintf(path, sizeof path, "%s.name", what);
        if (need_key(c, it, what, "name", &n) || check_name(c, n, path, sp->name)) return DS_EXIT_USAGE;
        for (int j = 0; j < k; j++)
            if (!strcmp(t->sources[j].name, sp->name))
                return FAIL(c, n, "task.sources names '%s' twice (sources %d and %d)", sp->name, j, k);
        snprintf(path, sizeof path, "%s.path", what);
        if (need_key(c, it, what, "path", &n) || node_path(c, n, path, sp->path)) return DS_EXIT_USAGE;
        snprintf(path, sizeof path, "%s.weight", what);
        if (need_key(c, it, what, "weight", &wnode[k]) ||
            node_f64(c, wnode[k], path, 0, 1, 1, 0, &sp->weight))
            return DS_EXIT_USAGE;
        int loss = DS_LOSS_ALL;
        snprintf(path, sizeof path, "%s.loss", what);
        if ((n = get(c, it, "loss")) && node_enum(c, n, path, loss_names, &loss)) return DS_EXIT_USAGE;
        sp->loss = (ds_loss_kind)loss;
        w[k] = sp->weight;
        sum += sp->weight;
    }
    if (fabs(sum - 1.0) > 1e-9)
        return FAIL(c, srcs, "the weights of task.sources sum to %.10g, not 1 (a weight is the "
                    "fraction of training rows from its source)", sum);
    int slots[DS_MAX_SOURCES];
    ds_corpus_apportion(t->n_sources, w, slots);
    for (int k = 0; k < t->n_sources; k++) {
        t->sources[k].slots = slots[k];
        if (!slots[k])
            return FAIL(c, wnode[k], "task.sources[%d].weight %g gives source '%s' no row of the "
                        "mixture's blocks of 1024 rows (largest-remainder apportionment); a weight of 1/1024 "
                        "or more always gets one",
                        k, w[k], t->sources[k].name);
    }
    return 0;
}

static int parse_task(yctx *c, yaml_node_t *m, ds_task_spec *t) {
    yaml_node_t *n;
    if (need_mapping(c, m, "task") || check_keys(c, m, "task", task_keys)) return DS_EXIT_USAGE;

    /* Task names come from the task table, so a new task needs no edit here. */
    const char *names[16];
    int nk = 0;
    for (int k = 0; k < 15; k++) {
        ds_task_spec probe = {.kind = (ds_task_kind)k};
        const ds_task_ops *ops = ds_task_get(&probe);
        if (!ops) break;
        names[nk++] = ops->name;
    }
    names[nk] = NULL;
    int kind;
    if (need_key(c, m, "task", "kind", &n) || node_enum(c, n, "task.kind", names, &kind)) return DS_EXIT_USAGE;
    t->kind = (ds_task_kind)kind;
    const int count = t->kind == DS_TASK_COUNT;
    if (t->kind == DS_TASK_CORPUS) return parse_corpus_task(c, m, t);
    static const char *const corpus_only[] = {"tokenizer", "eot", "sources", NULL};
    for (int i = 0; corpus_only[i]; i++)
        if ((n = get(c, m, corpus_only[i])))
            return FAIL(c, n, "task.%s applies to the corpus task only", corpus_only[i]);

    yaml_node_t *vocab = get(c, m, "vocab");
    if (count) {
        if (need_key(c, m, "task", "vocab", &vocab) || node_int(c, vocab, "task.vocab", 1, 1000000, &t->vocab))
            return DS_EXIT_USAGE;
    } else if (vocab) {
        return FAIL(c, vocab, "task.vocab applies to the count task only (%s has a fixed vocabulary)", names[kind]);
    }
    if (count) {
        static const char *const addition_only[] = {"hint_tokens", "eval_examples", "eval_seed", NULL};
        for (int i = 0; addition_only[i]; i++)
            if ((n = get(c, m, addition_only[i])))
                return FAIL(c, n, "task.%s applies to the addition task only", addition_only[i]);
    }

    yaml_node_t *tl;
    if (need_key(c, m, "task", "train_length", &tl) || need_seq(c, tl, "task.train_length", 2, 2) ||
        node_int(c, seq_item(c, tl, 0), "task.train_length[0]", 1, MAX_LENGTH, &t->train_min) ||
        node_int(c, seq_item(c, tl, 1), "task.train_length[1]", 1, MAX_LENGTH, &t->train_max))
        return DS_EXIT_USAGE;
    if (t->train_min > t->train_max)
        return FAIL(c, tl, "task.train_length [%d, %d] is not a range: the minimum exceeds the maximum",
                    t->train_min, t->train_max);
    if (count && t->train_max > t->vocab)
        return FAIL(c, seq_item(c, tl, 1),
                    "task.train_length maximum %d exceeds task.vocab (%d): a count of L numbers needs L number tokens",
                    t->train_max, t->vocab);

    yaml_node_t *el;
    if (need_key(c, m, "task", "eval_lengths", &el) ||
        need_seq(c, el, "task.eval_lengths", 1, DS_MAX_EVAL_LENGTHS))
        return DS_EXIT_USAGE;
    t->n_eval_lengths = seq_len(el);
    int eval_max = 0;
    for (int i = 0; i < t->n_eval_lengths; i++) {
        char path[64];
        snprintf(path, sizeof path, "task.eval_lengths[%d]", i);
        yaml_node_t *it = seq_item(c, el, i);
        if (node_int(c, it, path, 1, MAX_LENGTH, &t->eval_lengths[i])) return DS_EXIT_USAGE;
        for (int j = 0; j < i; j++)
            if (t->eval_lengths[j] == t->eval_lengths[i])
                return FAIL(c, it, "task.eval_lengths lists %d twice", t->eval_lengths[i]);
        if (count && t->eval_lengths[i] > t->vocab)
            return FAIL(c, it,
                        "evaluation length %d exceeds task.vocab (%d): a count of L numbers needs L number tokens",
                        t->eval_lengths[i], t->vocab);
        if (t->eval_lengths[i] > eval_max) eval_max = t->eval_lengths[i];
    }

    if (!count) {
        /* The widest operand, plus its carry digit, must have a hint per digit. */
        int widest = (eval_max > t->train_max ? eval_max : t->train_max) + 1;
        t->hint_tokens = widest;
        if ((n = get(c, m, "hint_tokens"))) {
            if (node_int(c, n, "task.hint_tokens", 1, 1000000, &t->hint_tokens)) return DS_EXIT_USAGE;
            if (t->hint_tokens < widest)
                return FAIL(c, n,
                            "task.hint_tokens (%d) must be at least %d: the widest operand has %d digits plus a carry digit",
                            t->hint_tokens, widest, widest - 1);
        }
        t->eval_examples = 64000;
        if ((n = get(c, m, "eval_examples")) &&
            node_int(c, n, "task.eval_examples", 1, 1000000000, &t->eval_examples))
            return DS_EXIT_USAGE;
        int64_t es = 1234;
        if ((n = get(c, m, "eval_seed")) && node_i64(c, n, "task.eval_seed", 0, INT64_MAX, &es))
            return DS_EXIT_USAGE;
        t->eval_seed = (uint64_t)es;
    }
    return 0;
}

static ds_srcpos pos_of(const yaml_node_t *n) {
    ds_srcpos p = {0, 0};
    if (n) p.line = (int)n->start_mark.line + 1, p.col = (int)n->start_mark.column + 1;
    return p;
}

/* model.init: from (a directory, resolved against the directory of the
 * sweep file c->file), reinit (a list of parts), vary. */
static int parse_init(yctx *c, yaml_node_t *m, ds_init_spec *in) {
    static const char *const init_keys[] = {"from", "reinit", "vary", NULL};
    static const char *const part_keys[] = {"layer", "part", NULL};
    static const char *const layer_parts[] = {"attention", "mlp", "block", NULL};
    static const char *const whole_parts[] = {"head", "final_norm", "embeddings", NULL};
    static const char *const varies[] = {"both", "weights", "data", NULL};
    char b[80];
    yaml_node_t *n, *from;
    if (need_mapping(c, m, "model.init") || check_keys(c, m, "model.init", init_keys) ||
        need_key(c, m, "model.init", "from", &from))
        return DS_EXIT_USAGE;
    if (from->type != YAML_SCALAR_NODE || is_null(from) || !*scalar(from))
        return FAIL(c, from, "model.init.from must be a directory path, found %s",
                    describe(from, b, sizeof b));
    const char *v = scalar(from);
    if (strlen(v) >= sizeof in->from || ds_sweep_resolve(c->file, v, in->dir, sizeof in->dir))
        return FAIL(c, from, "model.init.from is too long");
    snprintf(in->from, sizeof in->from, "%s", v);
    in->from_pos = pos_of(from);
    in->enabled = 1;
    int vary = 0;
    if ((n = get(c, m, "vary")) && node_enum(c, n, "model.init.vary", varies, &vary))
        return DS_EXIT_USAGE;
    in->vary = (ds_init_vary)vary;
    if (!(n = get(c, m, "reinit")) || is_null(n)) return 0;
    if (need_seq(c, n, "model.init.reinit", 0, DS_MAX_REINIT)) return DS_EXIT_USAGE;
    for (int i = 0; i < seq_len(n); i++) {
        yaml_node_t *it = seq_item(c, n, i), *ln, *pn;
        ds_reinit_part *p = &in->reinit[in->n_reinit];
        char path[64];
        snprintf(path, sizeof path, "model.init.reinit[%d]", i);
        p->pos = pos_of(it);
        int k = 0;
        if (it->type == YAML_MAPPING_NODE) {
            if (check_keys(c, it, path, part_keys) || need_key(c, it, path, "layer", &ln) ||
                need_key(c, it, path, "part", &pn) ||
                node_int(c, ln, "model.init.reinit[].layer", -4096, 4095, &p->layer) ||
                node_enum(c, pn, "model.init.reinit[].part", layer_parts, &k))
                return DS_EXIT_USAGE;
            p->kind = (ds_reinit_kind)k;
        } else {
            if (it->type != YAML_SCALAR_NODE || is_null(it))
                return FAIL(c, it, "%s must be {layer: I, part: attention|mlp|block}, head, "
                            "final_norm or embeddings, found %s", path, describe(it, b, sizeof b));
            if (node_enum(c, it, path, whole_parts, &k)) return DS_EXIT_USAGE;
            p->kind = (ds_reinit_kind)(DS_REINIT_HEAD + k);
        }
        for (int j = 0; j < in->n_reinit; j++)
            if (in->reinit[j].kind == p->kind &&
                (p->kind >= DS_REINIT_HEAD || in->reinit[j].layer == p->layer))
                return FAIL(c, it, "%s repeats model.init.reinit[%d]", path, j);
        in->n_reinit++;
    }
    return 0;
}

/* A YAML boolean (true/false, True/False, yes/no) into *out. */
static int node_bool(yctx *c, yaml_node_t *n, const char *path, int *out) {
    const char *v = n->type == YAML_SCALAR_NODE ? scalar(n) : NULL;
    if (v && (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "yes"))) *out = 1;
    else if (v && (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "no"))) *out = 0;
    else return FAIL(c, n, "%s must be true or false", path);
    return 0;
}

/* The llama block's own keys (defaults: kv_heads 0 = the heads, mlp_hidden
 * 0 = the rule, no qkv bias, untied); whether they apply to the block is
 * checked by parse_model, whether kv_heads divides every scale's heads by
 * check_width. */
static int parse_model_llama(yctx *c, yaml_node_t *m, ds_model_spec *md) {
    yaml_node_t *n;
    if (((n = get(c, m, "kv_heads")) && node_int(c, n, "model.kv_heads", 1, MAX_WIDTH, &md->kv_heads)) ||
        ((n = get(c, m, "mlp_hidden")) &&
         node_int(c, n, "model.mlp_hidden", 1, 16 * MAX_WIDTH, &md->mlp_hidden)) ||
        ((n = get(c, m, "qkv_bias")) && node_bool(c, n, "model.qkv_bias", &md->qkv_bias)) ||
        ((n = get(c, m, "tie_embeddings")) && node_bool(c, n, "model.tie_embeddings", &md->tie_embeddings)))
        return DS_EXIT_USAGE;
    return 0;
}

/* Parses the model section; m may be NULL (all defaults). */
static int parse_model(yctx *c, yaml_node_t *m, ds_model_spec *md) {
    md->head_dim = 64;
    md->block = DS_BLOCK_PARALLEL;
    md->rotary_frac = 0.25;
    md->rope_base = 10000;
    md->init_std = 0.02;
    md->ln_eps = 1e-5;
    memset(&md->init, 0, sizeof md->init);
    md->kv_heads = md->mlp_hidden = md->qkv_bias = md->tie_embeddings = 0; /* llama's keys */
    if (!m) return 0;
    if (need_mapping(c, m, "model") || check_keys(c, m, "model", model_keys)) return DS_EXIT_USAGE;
    yaml_node_t *n, *hd = get(c, m, "head_dim"), *rf = get(c, m, "rotary_frac");
    ds_init_spec *in = &md->init;
    if ((n = get(c, m, "init")) && parse_init(c, n, in)) return DS_EXIT_USAGE;
    if (in->enabled) {
        /* config.json implies these (ds_hf_attach, src/hfmodel.h): where written, they are checked there */
        in->pos_head_dim = pos_of(hd);
        in->pos_block = pos_of(get(c, m, "block"));
        in->pos_rotary_frac = pos_of(rf);
        in->pos_rope_base = pos_of(get(c, m, "rope_base"));
        in->pos_ln_eps = pos_of(get(c, m, "ln_eps"));
        in->pos_kv_heads = pos_of(get(c, m, "kv_heads"));
        in->pos_mlp_hidden = pos_of(get(c, m, "mlp_hidden"));
        in->pos_qkv_bias = pos_of(get(c, m, "qkv_bias"));
        in->pos_tie_embeddings = pos_of(get(c, m, "tie_embeddings"));
        if (!hd) md->head_dim = 1; /* unknown until attached: every width is a multiple */
    }

    static const char *const blocks[] = {"parallel", "sequential", "llama", NULL};
    int block = 0;
    if (parse_model_llama(c, m, md)) return DS_EXIT_USAGE;
    if ((hd && node_int(c, hd, "model.head_dim", 1, 4096, &md->head_dim)) ||
        ((n = get(c, m, "block")) && node_enum(c, n, "model.block", blocks, &block)) ||
        (rf && node_f64(c, rf, "model.rotary_frac", 0, 1, 1, 0, &md->rotary_frac)) ||
        ((n = get(c, m, "rope_base")) && node_f64(c, n, "model.rope_base", 1, 1, INFINITY, 0, &md->rope_base)) ||
        ((n = get(c, m, "init_std")) && node_f64(c, n, "model.init_std", 0, 1, INFINITY, 0, &md->init_std)) ||
        ((n = get(c, m, "ln_eps")) && node_f64(c, n, "model.ln_eps", 0, 1, INFINITY, 0, &md->ln_eps)))
        return DS_EXIT_USAGE;
    md->block = (ds_block_kind)block;
    if (md->block == DS_BLOCK_LLAMA) {
        /* the llama block rotates every dim of a head (Llama, Qwen2) */
        if (rf && md->rotary_frac != 1)
            return FAIL(c, rf, "model.rotary_frac %g: block llama rotates every dim of a head "
                        "(rotary_frac 1, its default)", md->rotary_frac);
        md->rotary_frac = 1;
    } else if (!in->enabled || get(c, m, "block")) {
        /* (with model.init and no model.block, config.json decides the block:
         * ds_hf_attach checks these keys against it) */
        static const char *const llama_only[] = {"kv_heads", "mlp_hidden", "qkv_bias",
                                                 "tie_embeddings", NULL};
        for (int i = 0; llama_only[i]; i++)
            if ((n = get(c, m, llama_only[i])))
                return FAIL(c, n, "model.%s applies to block llama only (this model's block is %s)",
                            llama_only[i], blocks[block]);
    }
    /* RoPE rotates dims in pairs (j, j + r/2), so r must be an even integer
     * (with init.from and no head_dim, config.json's head size is checked
     * when attached). */
    double r = md->rotary_frac * md->head_dim;
    if ((!in->enabled || hd) && (r != floor(r) || ((int64_t)r) % 2)) {
        yaml_node_t *at = rf ? rf : hd ? hd : m;
        return FAIL(c, at,
                    "model.rotary_frac %g of model.head_dim %d rotates %g dims per head: it must be an even whole number",
                    md->rotary_frac, md->head_dim, r);
    }
    return 0;
}

/* train.epochs: {source: NAME, count: E} (a corpus task): E > 0 epochs of
 * that source; the steps are resolved when the data is attached. */
static int parse_epochs(yctx *c, yaml_node_t *m, const ds_task_spec *task, ds_train_spec *tr) {
    static const char *const keys[] = {"source", "count", NULL};
    yaml_node_t *sn, *cn;
    if (task->kind != DS_TASK_CORPUS)
        return FAIL(c, m, "train.epochs counts the epochs of a corpus task's source; task %s trains "
                    "train.steps", ds_task_get(task)->name);
    if (need_mapping(c, m, "train.epochs") || check_keys(c, m, "train.epochs", keys) ||
        need_key(c, m, "train.epochs", "source", &sn) || need_key(c, m, "train.epochs", "count", &cn) ||
        node_f64(c, cn, "train.epochs.count", 0, 1, 1e6, 0, &tr->epochs))
        return DS_EXIT_USAGE;
    tr->epochs_source = -1;
    for (int k = 0; sn->type == YAML_SCALAR_NODE && k < task->n_sources; k++)
        if (!strcmp(scalar(sn), task->sources[k].name)) tr->epochs_source = k;
    if (tr->epochs_source < 0) {
        char b[80];
        return FAIL(c, sn, "train.epochs.source %s is not one of task.sources", describe(sn, b, sizeof b));
    }
    tr->epochs_pos.line = (int)m->start_mark.line + 1;
    tr->epochs_pos.col = (int)m->start_mark.column + 1;
    return 0;
}

/* The train section. Optional keys get the defaults of docs/spec-tasks.md §4; the
 * weight decay default depends on the task (0.1 count, 0 addition and corpus). */
static int parse_train(yctx *c, yaml_node_t *m, const ds_task_spec *task, ds_train_spec *tr) {
    if (need_mapping(c, m, "train") || check_keys(c, m, "train", train_keys)) return DS_EXIT_USAGE;
    yaml_node_t *n, *steps = get(c, m, "steps"), *epochs = get(c, m, "epochs"), *batch, *ctx, *lr;
    if (steps && epochs)
        return FAIL(c, epochs, "train.epochs and train.steps both given: the training length is one of them");
    if (!epochs && need_key(c, m, "train", "steps", &steps)) return DS_EXIT_USAGE;
    if (need_key(c, m, "train", "batch", &batch) ||
        need_key(c, m, "train", "context", &ctx) || need_key(c, m, "train", "lr", &lr))
        return DS_EXIT_USAGE;
    tr->steps = 0;
    tr->epochs = 0;
    if (epochs && parse_epochs(c, epochs, task, tr)) return DS_EXIT_USAGE;
    if ((steps && node_i64(c, steps, "train.steps", 1, (int64_t)1 << 40, &tr->steps)) ||
        node_int(c, batch, "train.batch", 1, 1 << 20, &tr->batch) ||
        node_int(c, ctx, "train.context", 2, 1 << 20, &tr->context) ||
        node_f64(c, lr, "train.lr", 0, 1, INFINITY, 0, &tr->lr))
        return DS_EXIT_USAGE;

    tr->warmup = 500;
    tr->weight_decay = task->kind == DS_TASK_COUNT ? 0.1 : 0.0;
    tr->grad_clip = 1.0;
    tr->beta1 = 0.9;
    tr->beta2 = 0.999;
    tr->adam_eps = 1e-8;
    tr->precision = DS_PREC_FP32;
    tr->log_every = 100;
    tr->micro_batches = 1;
    static const char *const precisions[] = {"fp32", "tf32", "bf16", NULL};
    int prec = 0;
    yaml_node_t *warm = get(c, m, "warmup"), *le = get(c, m, "log_every");
    if ((warm && node_i64(c, warm, "train.warmup", 0, INT64_MAX, &tr->warmup)) ||
        ((n = get(c, m, "weight_decay")) && node_f64(c, n, "train.weight_decay", 0, 0, INFINITY, 0, &tr->weight_decay)) ||
        ((n = get(c, m, "grad_clip")) && node_f64(c, n, "train.grad_clip", 0, 0, INFINITY, 0, &tr->grad_clip)) ||
        ((n = get(c, m, "eps")) && node_f64(c, n, "train.eps", 0, 1, INFINITY, 0, &tr->adam_eps)) ||
        ((n = get(c, m, "precision")) && node_enum(c, n, "train.precision", precisions, &prec)) ||
        (le && node_i64(c, le, "train.log_every", 1, INT64_MAX, &tr->log_every)))
        return DS_EXIT_USAGE;
    tr->precision = (ds_precision)prec;
    static const char *const schedules[] = {"cosine", "linear", NULL};
    int sched = DS_SCHED_COSINE;
    if ((n = get(c, m, "schedule")) && node_enum(c, n, "train.schedule", schedules, &sched))
        return DS_EXIT_USAGE;
    tr->schedule = (ds_schedule)sched;
    if ((n = get(c, m, "betas"))) {
        if (need_seq(c, n, "train.betas", 2, 2) ||
            node_f64(c, seq_item(c, n, 0), "train.betas[0]", 0, 0, 1, 1, &tr->beta1) ||
            node_f64(c, seq_item(c, n, 1), "train.betas[1]", 0, 0, 1, 1, &tr->beta2))
            return DS_EXIT_USAGE;
    }
    if ((n = get(c, m, "micro_batches"))) {
        if (node_int(c, n, "train.micro_batches", 1, 1 << 20, &tr->micro_batches)) return DS_EXIT_USAGE;
        /* a power of two: the gradient tree of step.h then has groups of
         * k (a power of two dividing it) as its subtrees */
        if (tr->micro_batches & (tr->micro_batches - 1))
            return FAIL(c, n, "train.micro_batches %d is not a power of two (1, 2, 4, 8, ...)",
                        tr->micro_batches);
        if (tr->micro_batches > tr->batch)
            return FAIL(c, n, "train.micro_batches %d is more than train.batch (%d): a micro-batch "
                        "is at least one sequence", tr->micro_batches, tr->batch);
    }
    if (!steps) steps = epochs; /* the training length, for the messages below */
    if (tr->epochs > 0) { /* the steps are the data's: checked when attached (ds_sweep_attach_data) */
        if (get(c, m, "eval_every"))
            return FAIL(c, get(c, m, "eval_every"), "train.eval_every with train.epochs: not yet");
    } else if (tr->warmup > tr->steps)
        return FAIL(c, warm ? warm : steps, "train.warmup (%lld) exceeds train.steps (%lld)",
                    (long long)tr->warmup, (long long)tr->steps);
    if ((n = get(c, m, "eval_every"))) {
        if (node_i64(c, n, "train.eval_every", 0, INT64_MAX, &tr->eval_every)) return DS_EXIT_USAGE;
        if (tr->eval_every > 0 && task->n_eval_lengths == 0)
            return FAIL(c, n, "train.eval_every needs evaluation lengths; a %s task has none",
                        ds_task_get(task)->name);
        if (tr->eval_every >= tr->steps)
            return FAIL(c, n, "train.eval_every (%lld) must be less than train.steps (%lld): the "
                        "final evaluation already scores the end of training",
                        (long long)tr->eval_every, (long long)tr->steps);
    }
    if (tr->epochs == 0 && tr->log_every > tr->steps)
        return FAIL(c, le ? le : steps,
                    "train.log_every (%lld) exceeds train.steps (%lld): the loss curve would be empty",
                    (long long)tr->log_every, (long long)tr->steps);

    /* The longest example of either kind must fit in one row. */
    const ds_task_ops *ops = ds_task_get(task);
    DS_ASSERT(ops);
    int need = ops->example_tokens(task, task->train_max);
    if (need > tr->context)
        return FAIL(c, ctx,
                    "train.context %d is too short for the longest training example (length %d: %d tokens)",
                    tr->context, task->train_max, need);
    for (int i = 0; i < task->n_eval_lengths; i++) {
        int L = task->eval_lengths[i];
        need = ops->eval_tokens(task, L);
        if (need > tr->context)
            return FAIL(c, ctx,
                        "train.context %d is too short for the longest evaluation example (length %d: %d tokens)",
                        tr->context, L, need);
    }
    return 0;
}

/* Reads the evaluation set named by node n (a corpus task's
 * eval.multiple_choice name) into *idx, its index on the evaluation axis. */
static int eval_set_named(yctx *c, yaml_node_t *n, const char *path, const ds_task_spec *t, int *idx) {
    char b[80], list[DS_MAX_EVAL_LENGTHS * (DS_NAME_MAX + 2)] = "";
    for (int i = 0; n->type == YAML_SCALAR_NODE && i < t->n_mc; i++)
        if (!strcmp(scalar(n), t->mc[i].name)) {
            *idx = i;
            return 0;
        }
    for (int i = 0; i < t->n_mc; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", t->mc[i].name);
    if (!t->n_mc) return FAIL(c, n, "%s: the sweep has no evaluation set (eval.multiple_choice)", path);
    return FAIL(c, n, "%s must be one of the evaluation sets %s, found %s", path, list, describe(n, b, sizeof b));
}

/* The names of the metrics evaluation kind k measures, NULL-terminated
 * (names: DS_N_METRICS + 1 slots). */
static void metric_names_of(ds_eval_kind k, const char **names) {
    int n = 0;
    for (int i = 0; i < DS_N_METRICS; i++)
        if (ds_metric_name_of(k, i)) names[n++] = ds_metric_name_of(k, i);
    names[n] = NULL;
}

/* seeds.adaptive (docs/sweep-file.md "seeds.adaptive"); needs the task for
 * the test length and seeds.count for the defaults and the bounds. */
static int parse_adaptive(yctx *c, yaml_node_t *m, const ds_task_spec *t, ds_seed_spec *sd) {
    ds_adaptive_spec *a = &sd->adaptive;
    yaml_node_t *n;
    char b[80], list[256];
    if (need_mapping(c, m, "seeds.adaptive") || check_keys(c, m, "seeds.adaptive", adaptive_keys))
        return DS_EXIT_USAGE;
    a->enabled = 1;
    a->statistic = DS_ADAPT_P_SUCCESS;
    a->threshold = 0.5;
    a->step = sd->count;
    if (need_key(c, m, "seeds.adaptive", "metric", &n)) return DS_EXIT_USAGE;
    const ds_eval_kind ek = ds_task_eval_kind(t);
    if (n->type != YAML_SCALAR_NODE || is_null(n) || (a->metric = ds_metric_index_of(ek, scalar(n))) < 0) {
        const char *names[DS_N_METRICS + 1];
        metric_names_of(ek, names);
        join(list, sizeof list, names);
        const char *s = n->type == YAML_SCALAR_NODE ? suggest(scalar(n), names) : NULL;
        if (s) return FAIL(c, n, "seeds.adaptive.metric must be one of %s, found '%s' (did you mean '%s'?)",
                           list, scalar(n), s);
        return FAIL(c, n, "seeds.adaptive.metric must be one of %s, found %s", list, describe(n, b, sizeof b));
    }
    if (ek == DS_EVAL_SETS) { /* a corpus task: an evaluation set by name, its index the "length" */
        if (need_key(c, m, "seeds.adaptive", "set", &n) ||
            eval_set_named(c, n, "seeds.adaptive.set", t, &a->length))
            return DS_EXIT_USAGE;
        a->length_idx = a->length;
    } else {
        if ((n = get(c, m, "set")))
            return FAIL(c, n, "seeds.adaptive.set names a corpus task's evaluation set; task %s has "
                        "seeds.adaptive.length", ds_task_get(t)->name);
        if (need_key(c, m, "seeds.adaptive", "length", &n) ||
            node_int(c, n, "seeds.adaptive.length", 1, MAX_LENGTH, &a->length))
            return DS_EXIT_USAGE;
        a->length_idx = -1;
        for (int i = 0; i < t->n_eval_lengths; i++)
            if (t->eval_lengths[i] == a->length) a->length_idx = i;
        if (a->length_idx < 0)
            return FAIL(c, n, "seeds.adaptive.length %d is not one of task.eval_lengths", a->length);
    }
    int st = 0;
    if ((n = get(c, m, "statistic")) && node_enum(c, n, "seeds.adaptive.statistic", adapt_stat_names, &st))
        return DS_EXIT_USAGE;
    a->statistic = (ds_adapt_stat)st;
    if ((n = get(c, m, "threshold"))) {
        if (a->statistic == DS_ADAPT_MEAN)
            return FAIL(c, n, "seeds.adaptive.threshold applies to p_success and mean_success, not mean");
        if (node_f64(c, n, "seeds.adaptive.threshold", -INFINITY, 0, INFINITY, 0, &a->threshold))
            return DS_EXIT_USAGE;
    }
    if (need_key(c, m, "seeds.adaptive", "ci_width", &n) ||
        node_f64(c, n, "seeds.adaptive.ci_width", 0, 1, INFINITY, 0, &a->ci_width))
        return DS_EXIT_USAGE;
    if ((n = get(c, m, "step")) && node_i64(c, n, "seeds.adaptive.step", 1, 1 << 30, &a->step))
        return DS_EXIT_USAGE;
    if (need_key(c, m, "seeds.adaptive", "max", &n) ||
        node_i64(c, n, "seeds.adaptive.max", 1, 1 << 30, &a->max))
        return DS_EXIT_USAGE;
    if (a->max < sd->count)
        return FAIL(c, n, "seeds.adaptive.max (%lld) is smaller than seeds.count (%lld), the first round",
                    (long long)a->max, (long long)sd->count);
    return 0;
}

static int parse_seeds(yctx *c, yaml_node_t *m, const ds_task_spec *t, ds_seed_spec *sd) {
    yaml_node_t *n;
    if (need_mapping(c, m, "seeds") || check_keys(c, m, "seeds", seeds_keys)) return DS_EXIT_USAGE;
    sd->start = 0;
    if ((n = get(c, m, "start")) && node_i64(c, n, "seeds.start", 0, (int64_t)1 << 52, &sd->start))
        return DS_EXIT_USAGE;
    if (need_key(c, m, "seeds", "count", &n) || node_i64(c, n, "seeds.count", 1, 1 << 30, &sd->count))
        return DS_EXIT_USAGE;
    memset(&sd->adaptive, 0, sizeof sd->adaptive);
    if ((n = get(c, m, "adaptive")) && !is_null(n)) return parse_adaptive(c, n, t, sd);
    return 0;
}

static int parse_run(yctx *c, yaml_node_t *m, ds_run_spec *r, int batch) {
    r->pack = 0;
    r->checkpoint_every = 1000;
    r->max_attempts = 2;
    r->ranks_per_job = 1;
    r->backend = DS_BACKEND_AUTO;
    r->save_models = 0;
    if (!m) return 0;
    if (need_mapping(c, m, "run") || check_keys(c, m, "run", run_keys)) return DS_EXIT_USAGE;
    yaml_node_t *n;
    if ((n = get(c, m, "pack"))) {
        if (n->type == YAML_SCALAR_NODE && !strcmp(scalar(n), "auto")) r->pack = 0;
        else if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                 (isdigit((unsigned char)scalar(n)[0]) || scalar(n)[0] == '-'))
            { if (node_int(c, n, "run.pack", 1, 1 << 20, &r->pack)) return DS_EXIT_USAGE; }
        else {
            char b[80];
            return FAIL(c, n, "run.pack must be a positive integer or 'auto', found %s", describe(n, b, sizeof b));
        }
    }
    if (((n = get(c, m, "checkpoint_every")) && node_i64(c, n, "run.checkpoint_every", 0, INT64_MAX, &r->checkpoint_every)) ||
        ((n = get(c, m, "max_attempts")) && node_int(c, n, "run.max_attempts", 1, 1000, &r->max_attempts)) ||
        ((n = get(c, m, "ranks_per_job")) && node_int(c, n, "run.ranks_per_job", 1, 1 << 20, &r->ranks_per_job)))
        return DS_EXIT_USAGE;
    /* The backend module parses the name (backend.h); a name it refuses is
     * worded here, at the node's FILE:LINE:COL, from its list of names. */
    if ((n = get(c, m, "backend")) &&
        (n->type != YAML_SCALAR_NODE || is_null(n) ||
         ds_backend_kind_parse(scalar(n), &r->backend, NULL))) {
        int unused;
        node_enum(c, n, "run.backend", ds_backend_kind_names, &unused);
        return DS_EXIT_USAGE;
    }
    /* save_models: true | false | N (the first N seeds of every scale) */
    if ((n = get(c, m, "save_models"))) {
        const char *v = n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
                            ? scalar(n) : NULL;
        if (v && (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "yes"))) r->save_models = INT64_MAX;
        else if (v && (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "no"))) r->save_models = 0;
        else if (v && (isdigit((unsigned char)v[0]) || v[0] == '-')) {
            if (node_i64(c, n, "run.save_models", 1, INT64_MAX - 1, &r->save_models)) return DS_EXIT_USAGE;
        } else {
            char b[80];
            return FAIL(c, n, "run.save_models must be true, false or a number of seeds (the "
                        "first N of every scale), found %s", describe(n, b, sizeof b));
        }
    }
    /* every member of a group trains at least one sequence of each batch */
    if (r->ranks_per_job > batch)
        return FAIL(c, get(c, m, "ranks_per_job"),
                    "run.ranks_per_job %d is more than train.batch (%d): each rank of a group "
                    "trains whole sequences of every batch", r->ranks_per_job, batch);
    return 0;
}

int ds_report_default_length(const ds_task_spec *t, int *beyond) {
    int largest = 0;
    if (t->kind == DS_TASK_CORPUS) { /* its evaluation sets: the first */
        if (beyond) *beyond = 0;
        return 0;
    }
    for (int i = 0; i < t->n_eval_lengths; i++) {
        if (t->eval_lengths[i] > t->train_max) {
            if (beyond) *beyond = 1;
            return t->eval_lengths[i];
        }
        if (t->eval_lengths[i] > largest) largest = t->eval_lengths[i];
    }
    if (beyond) *beyond = 0;
    return largest;
}

/* The report section (m may be NULL: all defaults). Needs the task: the
 * length must be one of task.eval_lengths. The threshold must lie in the
 * metric's range (src/schema.h ds_metric_max); a threshold given without a
 * metric is checked against the default metric, em. */
static int parse_report(yctx *c, yaml_node_t *m, const ds_task_spec *t, ds_report_spec *r) {
    memset(r, 0, sizeof *r);
    r->metric = DS_M_EM; /* mc_acc for evaluation sets: the same slot */
    r->length = ds_report_default_length(t, NULL);
    /* multiple-choice accuracy: success is beating the random guess of four
     * choices, the second paper's line (Figure 7) */
    r->threshold = ds_task_eval_kind(t) == DS_EVAL_SETS ? 0.25 : 0.5;
    if (!m) return 0;
    const ds_eval_kind ek = ds_task_eval_kind(t);
    if (need_mapping(c, m, "report") || check_keys(c, m, "report", report_keys)) return DS_EXIT_USAGE;
    yaml_node_t *n;
    if ((n = get(c, m, "metric"))) {
        const char *names[DS_N_METRICS + 1];
        metric_names_of(ek, names);
        int which;
        if (node_enum(c, n, "report.metric", names, &which)) return DS_EXIT_USAGE;
        r->metric = ds_metric_index_of(ek, names[which]);
        r->metric_set = 1;
    }
    if ((n = get(c, m, "set"))) { /* a corpus task's evaluation set */
        if (ek != DS_EVAL_SETS)
            return FAIL(c, n, "report.set names a corpus task's evaluation set; task %s has report.length",
                        ds_task_get(t)->name);
        if (eval_set_named(c, n, "report.set", t, &r->length)) return DS_EXIT_USAGE;
        r->length_set = 1;
    }
    if ((n = get(c, m, "length")) && ek == DS_EVAL_SETS)
        return FAIL(c, n, "report.length: a corpus task is evaluated on its sets: report.set names one");
    if ((n = get(c, m, "length"))) {
        if (node_int(c, n, "report.length", 1, MAX_LENGTH, &r->length)) return DS_EXIT_USAGE;
        int found = 0;
        char list[DS_MAX_EVAL_LENGTHS * 8] = "";
        for (int i = 0; i < t->n_eval_lengths; i++) {
            found |= t->eval_lengths[i] == r->length;
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%s%d", i ? ", " : "", t->eval_lengths[i]);
        }
        if (!found)
            return FAIL(c, n, "report.length %d is not one of task.eval_lengths [%s]", r->length, list);
        r->length_set = 1;
    }
    if ((n = get(c, m, "threshold"))) {
        if (node_f64(c, n, "report.threshold", -INFINITY, 0, INFINITY, 0, &r->threshold)) return DS_EXIT_USAGE;
        double hi = ds_metric_max(r->metric);
        if (!(r->threshold >= 0 && r->threshold <= hi)) {
            if (isfinite(hi))
                return FAIL(c, n, "report.threshold %s is outside [0, %g], the range of %s", scalar(n), hi,
                            ds_metric_name_of(ek, r->metric));
            return FAIL(c, n, "report.threshold %s is negative: %s is at least 0", scalar(n),
                        ds_metric_name_of(ek, r->metric));
        }
        r->threshold_set = 1;
    }
    return 0;
}

/* ---- scales and families ---------------------------------------------------------- */

/* Whether two conditions are the same runs: same scale, same settings. */
static int same_condition(const ds_scale *a, int d, int L, int n_set, const ds_setting *set) {
    if (a->d_model != d || a->n_layers != L || a->n_settings != n_set) return 0;
    for (int i = 0; i < n_set; i++)
        if (strcmp(a->settings[i].key, set[i].key) || strcmp(a->settings[i].text, set[i].text) ||
            (!set[i].text[0] && a->settings[i].value != set[i].value))
            return 0;
    return 1;
}

/* Index of condition (d, L, set[0..n_set)), appended if new; -1 when the
 * sweep is full. set is sorted by key and holds no value equal to the
 * sweep's own. */
static int add_scale(ds_sweep *s, int d, int L, int vocab_total, int n_set, const ds_setting *set) {
    DS_ASSERT(n_set >= 0 && n_set <= DS_MAX_SETTINGS);
    for (int i = 0; i < s->n_scales; i++)
        if (same_condition(&s->scales[i], d, L, n_set, set)) return i;
    if (s->n_scales == DS_MAX_SCALES) return -1;
    ds_scale *sc = &s->scales[s->n_scales];
    memset(sc, 0, sizeof *sc);
    sc->n_settings = n_set;
    for (int i = 0; i < n_set; i++) sc->settings[i] = set[i];
    sc->d_model = d;
    sc->n_layers = L;
    sc->n_heads = d / s->model.head_dim;
    sc->n_params = ds_block_params(&s->model, d, L, vocab_total);
    sc->flops_per_step = ds_block_flops_per_step(&s->model, d, L, vocab_total, s->train.batch,
                                                 s->train.context);
    sc->ranks_per_job = 0; /* set by its families or run.ranks_per_job once parsed */
    return s->n_scales++;
}

static int check_width(yctx *c, yaml_node_t *n, const char *path, const ds_sweep *s, int *d) {
    if (node_int(c, n, path, 1, MAX_WIDTH, d)) return DS_EXIT_USAGE;
    if (*d % s->model.head_dim)
        return FAIL(c, n, "%s %d is not a multiple of model.head_dim (%d)", path, *d, s->model.head_dim);
    int H = *d / s->model.head_dim, K = s->model.kv_heads;
    if (s->model.block == DS_BLOCK_LLAMA && K > 0 && H % K)
        return FAIL(c, n, "%s %d has %d heads of model.head_dim %d: model.kv_heads %d must divide them",
                    path, *d, H, s->model.head_dim, K);
    return 0;
}

/* The multiple of head_dim whose parameter count is nearest the target;
 * ties go to the smaller width (llama with kv_heads: among the widths whose
 * heads kv_heads divides). */
static int width_for_params(double target, int L, const ds_model_spec *md, int vocab_total) {
    int head_dim = md->head_dim, best = head_dim;
    double best_err = INFINITY;
    for (int d = head_dim; d <= MAX_WIDTH; d += head_dim) {
        if (md->block == DS_BLOCK_LLAMA && md->kv_heads > 0 && (d / head_dim) % md->kv_heads)
            continue; /* llama: only widths whose heads model.kv_heads divides */
        double err = fabs((double)ds_block_params(md, d, L, vocab_total) - target);
        if (err < best_err) best_err = err, best = d;
        else break; /* the count grows with d, so the error only grows from here */
    }
    return best;
}

static int parse_family(yctx *c, yaml_node_t *m, int idx, ds_sweep *s, int vocab_total) {
    char what[48], path[96];
    snprintf(what, sizeof what, "scales[%d]", idx);
    if (need_mapping(c, m, what)) return DS_EXIT_USAGE;
    static const char *const kinds[] = {"width", "depth", "params", "points", "values", NULL};
    static const char *const keys_by_kind[5][9] = {
        {"family", "name", "depth", "width", "ranks_per_job", NULL},
        {"family", "name", "width", "depth", "ranks_per_job", NULL},
        {"family", "name", "params", "depth", "ranks_per_job", NULL},
        {"family", "name", "points", "ranks_per_job", NULL},
        {"family", "name", "width", "depth", "key", "values", "label", "ranks_per_job", NULL},
    };
    yaml_node_t *fk, *n;
    int kind;
    snprintf(path, sizeof path, "%s.family", what);
    if (need_key(c, m, what, "family", &fk) || node_enum(c, fk, path, kinds, &kind)) return DS_EXIT_USAGE;
    char fwhat[80];
    snprintf(fwhat, sizeof fwhat, "%s (a %s family)", what, kinds[kind]);
    if (check_keys(c, m, fwhat, keys_by_kind[kind])) return DS_EXIT_USAGE;

    if (s->n_families == DS_MAX_FAMILIES)
        return FAIL(c, m, "too many scale families (at most %d)", DS_MAX_FAMILIES);
    ds_family *f = &s->families[s->n_families];
    memset(f, 0, sizeof *f);
    snprintf(f->kind, sizeof f->kind, "%s", kinds[kind]);
    snprintf(f->name, sizeof f->name, "%s", kinds[kind]);
    f->pos.line = (int)m->start_mark.line + 1;
    f->pos.col = (int)m->start_mark.column + 1;
    yaml_node_t *name_node = get(c, m, "name");
    snprintf(path, sizeof path, "%s.name", what);
    if (name_node && check_name(c, name_node, path, f->name)) return DS_EXIT_USAGE;
    for (int i = 0; i < s->n_families; i++)
        if (!strcmp(s->families[i].name, f->name))
            return FAIL(c, name_node ? name_node : fk,
                        "family name '%s' is already used by scales[%d] (line %d); give one of them a different name",
                        f->name, i, s->families[i].pos.line);

    /* Each kind: a fixed coordinate and a list of the varying one; a values
     * family: a fixed scale and a list of one setting's values. */
    int fixed = 0, fixed_depth = 0;
    double target = 0;
    yaml_node_t *list;
    const setting_def *sd = NULL;
    const char *list_key = kind == 0 ? "width" : kind == 3 ? "points" : kind == 4 ? "values" : "depth";
    if (kind == 4) {
        yaml_node_t *kn;
        if (need_key(c, m, fwhat, "key", &kn)) return DS_EXIT_USAGE;
        if (kn->type != YAML_SCALAR_NODE || !(sd = setting_find(s, scalar(kn)))) {
            char list_buf[256], dbuf[64];
            const char *keys_list[N_SETTING_DEFS + 1] = {NULL};
            for (int i = 0; i < N_SETTING_DEFS; i++) keys_list[i] = setting_defs[i].key;
            join(list_buf, sizeof list_buf, keys_list);
            return FAIL(c, kn, "%s.key %s is not a setting a values family can vary (one of: %s)",
                        what, describe(kn, dbuf, sizeof dbuf), list_buf);
        }
        snprintf(f->key, sizeof f->key, "%s", scalar(kn)); /* a source weight's key names its source */
        snprintf(f->label, sizeof f->label, "%s", scalar(kn));
        yaml_node_t *ln = get(c, m, "label");
        if (ln) {
            if (ln->type != YAML_SCALAR_NODE || !*scalar(ln) || strlen(scalar(ln)) >= sizeof f->label)
                return FAIL(c, ln, "%s.label must be a text of 1 to %d characters", what,
                            (int)sizeof f->label - 1);
            snprintf(f->label, sizeof f->label, "%s", scalar(ln));
        }
        /* the scale: required, except over model.init.from, where each value
         * may give its own base's (width, depth) */
        yaml_node_t *wn = get(c, m, "width"), *dn = get(c, m, "depth");
        if (!sd->text && (need_key(c, m, fwhat, "width", &wn) || need_key(c, m, fwhat, "depth", &dn)))
            return DS_EXIT_USAGE;
        snprintf(path, sizeof path, "%s.width", what);
        if (wn && check_width(c, wn, path, s, &fixed)) return DS_EXIT_USAGE;
        snprintf(path, sizeof path, "%s.depth", what);
        if (dn && node_int(c, dn, path, 1, MAX_DEPTH, &fixed_depth)) return DS_EXIT_USAGE;
    } else if (kind == 0) {
        snprintf(path, sizeof path, "%s.depth", what);
        if (need_key(c, m, fwhat, "depth", &n) || node_int(c, n, path, 1, MAX_DEPTH, &fixed)) return DS_EXIT_USAGE;
    } else if (kind == 1) {
        snprintf(path, sizeof path, "%s.width", what);
        if (need_key(c, m, fwhat, "width", &n) || check_width(c, n, path, s, &fixed)) return DS_EXIT_USAGE;
    } else if (kind == 2) {
        snprintf(path, sizeof path, "%s.params", what);
        if (need_key(c, m, fwhat, "params", &n) || node_f64(c, n, path, 0, 1, 1e13, 0, &target))
            return DS_EXIT_USAGE;
    }
    snprintf(path, sizeof path, "%s.%s", what, list_key);
    if (need_key(c, m, fwhat, list_key, &list) || need_seq(c, list, path, 1, DS_MAX_SCALES))
        return DS_EXIT_USAGE;

    int d = 0, L = 0;
    for (int i = 0; i < seq_len(list); i++) {
        yaml_node_t *it = seq_item(c, list, i);
        char ipath[128];
        snprintf(ipath, sizeof ipath, "%s[%d]", path, i);
        ds_setting set = {{0}, 0, {0}, pos_of(it)};
        int n_set = 0;
        if (kind == 4 && sd->text) {
            /* a base model per value: a directory as written, or {from: DIR,
             * width: d, depth: L} for a base of its own size */
            d = fixed;
            L = fixed_depth;
            char b[80], p2[160];
            yaml_node_t *dir = it;
            if (it->type == YAML_MAPPING_NODE) {
                static const char *const base_keys[] = {"from", "width", "depth", NULL};
                yaml_node_t *wn, *dn;
                if (check_keys(c, it, ipath, base_keys) || need_key(c, it, ipath, "from", &dir))
                    return DS_EXIT_USAGE;
                snprintf(p2, sizeof p2, "%s.width", ipath);
                if ((wn = get(c, it, "width")) && check_width(c, wn, p2, s, &d)) return DS_EXIT_USAGE;
                snprintf(p2, sizeof p2, "%s.depth", ipath);
                if ((dn = get(c, it, "depth")) && node_int(c, dn, p2, 1, MAX_DEPTH, &L)) return DS_EXIT_USAGE;
            }
            if (dir->type != YAML_SCALAR_NODE || is_null(dir) || !*scalar(dir))
                return FAIL(c, dir, "%s (%s) must be a directory path or {from: DIR, width: d, depth: L}, "
                            "found %s", ipath, f->key, describe(dir, b, sizeof b));
            if (strlen(scalar(dir)) >= sizeof set.text)
                return FAIL(c, dir, "%s (%s) is longer than %d characters", ipath, f->key,
                            (int)sizeof set.text - 1);
            if (!d || !L)
                return FAIL(c, it, "%s (%s) has no %s: give the family width and depth, or the value "
                            "as {from: %s, width: d, depth: L} (its config.json's hidden_size and "
                            "num_hidden_layers)", ipath, f->key, !d && !L ? "width and depth" : !d ? "width" : "depth",
                            scalar(dir));
            snprintf(set.key, sizeof set.key, "%s", f->key);
            snprintf(set.text, sizeof set.text, "%s", scalar(dir));
            set.value = NAN;
            n_set = strcmp(set.text, s->model.init.from) != 0; /* the sweep's own base: the plain scale */
        } else if (kind == 4) {
            d = fixed;
            L = fixed_depth;
            if (node_f64(c, it, ipath, sd->lo, sd->lo_open, sd->hi, sd->hi_open, &set.value)) return DS_EXIT_USAGE;
            if (sd->integer && set.value != floor(set.value))
                return FAIL(c, it, "%s (%s) must be a whole number", ipath, f->key);
            if (sd == SOURCE_WEIGHT_DEF && s->train.epochs > 0)
                return FAIL(c, it, "%s: a source's weight as an axis with train.epochs: each condition "
                            "would train its own number of steps (not yet)", f->key);
            if (!strcmp(f->key, "train.warmup") && s->train.epochs == 0 && set.value > (double)s->train.steps)
                return FAIL(c, it, "%s: train.warmup %.0f exceeds train.steps (%lld)", ipath, set.value,
                            (long long)s->train.steps);
            if (sd == SOURCE_WEIGHT_DEF) { /* every source keeps a row of each block */
                ds_task_spec t = s->task;
                int empty = set_source_weight(&t, source_of_key(s, f->key), set.value);
                if (empty >= 0)
                    return FAIL(c, it, "%s: with %s = %g source '%s' gets weight %g, no row of the "
                                "mixture's blocks of 1024 rows", ipath, f->key, set.value,
                                t.sources[empty].name, t.sources[empty].weight);
            }
            snprintf(set.key, sizeof set.key, "%s", f->key);
            n_set = set.value != ds_setting_base(s, f->key); /* the sweep's own value: the plain scale */
        } else if (kind == 0) {
            L = fixed;
            if (check_width(c, it, ipath, s, &d)) return DS_EXIT_USAGE;
        } else if (kind == 1 || kind == 2) {
            if (node_int(c, it, ipath, 1, MAX_DEPTH, &L)) return DS_EXIT_USAGE;
            d = kind == 1 ? fixed : width_for_params(target, L, &s->model, vocab_total);
        } else {
            static const char *const point_keys[] = {"width", "depth", NULL};
            yaml_node_t *wn, *dn;
            char p2[160];
            if (need_mapping(c, it, ipath) || check_keys(c, it, ipath, point_keys) ||
                need_key(c, it, ipath, "width", &wn) || need_key(c, it, ipath, "depth", &dn))
                return DS_EXIT_USAGE;
            snprintf(p2, sizeof p2, "%s.width", ipath);
            if (check_width(c, wn, p2, s, &d)) return DS_EXIT_USAGE;
            snprintf(p2, sizeof p2, "%s.depth", ipath);
            if (node_int(c, dn, p2, 1, MAX_DEPTH, &L)) return DS_EXIT_USAGE;
        }
        int si = add_scale(s, d, L, vocab_total, n_set, &set);
        if (si < 0) return FAIL(c, it, "too many distinct scales (at most %d)", DS_MAX_SCALES);
        char cname[2 * DS_SCALE_NAME_MAX];
        ds_scale_name(&s->scales[si], cname, sizeof cname);
        if (strlen(cname) >= DS_SCALE_NAME_MAX)
            return FAIL(c, it, "the condition's name %s is longer than %d characters (/scales/name)",
                        cname, DS_SCALE_NAME_MAX - 1);
        for (int j = 0; j < s->n_scales; j++) { /* e.g. two bases a/x and b/x: both "from=x" */
            char other[2 * DS_SCALE_NAME_MAX];
            ds_scale_name(&s->scales[j], other, sizeof other);
            if (j != si && !strcmp(other, cname))
                return FAIL(c, it, "%s gives a condition named %s, the name of another condition; "
                            "the names (/scales/name, --scale) must differ (for model.init.from: "
                            "the directories' last components)", ipath, cname);
        }
        for (int j = 0; j < f->n; j++)
            if (f->scale_idx[j] == si) {
                yaml_node_t *first = seq_item(c, list, j);
                if (kind == 4) {
                    char v[DS_SETTING_TEXT_MAX];
                    return FAIL(c, it, "%s repeats the value %s of %s (first at line %d, column %d)",
                                ipath, ds_setting_str(&set, v, sizeof v), f->key, (int)first->start_mark.line + 1,
                                (int)first->start_mark.column + 1);
                }
                return FAIL(c, it, "%s repeats the scale width %d, depth %d (first at line %d, column %d)",
                            what, d, L, (int)first->start_mark.line + 1, (int)first->start_mark.column + 1);
            }
        f->scale_idx[f->n++] = si;
    }
    /* A scale is trained once, so by one group size: a family's own value
     * applies to its scales, and two families that give one scale
     * different values are refused. */
    yaml_node_t *kn = get(c, m, "ranks_per_job");
    if (kn) {
        snprintf(path, sizeof path, "%s.ranks_per_job", what);
        if (node_int(c, kn, path, 1, 1 << 20, &f->ranks_per_job)) return DS_EXIT_USAGE;
        if (f->ranks_per_job > s->train.batch)
            return FAIL(c, kn, "%s %d is more than train.batch (%d): each rank of a group trains "
                        "whole sequences of every batch", path, f->ranks_per_job, s->train.batch);
        for (int j = 0; j < f->n; j++)
            for (int i = 0; i < s->n_families; i++) {
                const ds_family *o = &s->families[i];
                for (int q = 0; o->ranks_per_job && o->ranks_per_job != f->ranks_per_job && q < o->n; q++)
                    if (o->scale_idx[q] == f->scale_idx[j]) {
                        const ds_scale *sc = &s->scales[f->scale_idx[j]];
                        return FAIL(c, kn, "%s %d conflicts with ranks_per_job %d of family '%s' "
                                    "(line %d) for the scale width %d, depth %d, which both name: "
                                    "a scale is trained by one group size", path, f->ranks_per_job,
                                    o->ranks_per_job, o->name, o->pos.line, sc->d_model, sc->n_layers);
                    }
            }
        for (int j = 0; j < f->n; j++) s->scales[f->scale_idx[j]].ranks_per_job = f->ranks_per_job;
    }
    s->n_families++;
    return 0;
}

static int parse_scales(yctx *c, yaml_node_t *n, ds_sweep *s) {
    if (need_seq(c, n, "scales", 1, DS_MAX_FAMILIES)) return DS_EXIT_USAGE;
    int vocab_total = ds_task_get(&s->task)->vocab_total(&s->task);
    for (int i = 0; i < seq_len(n); i++)
        if (parse_family(c, seq_item(c, n, i), i, s, vocab_total)) return DS_EXIT_USAGE;
    return 0;
}

/* ---- whole file ----------------------------------------------------------------------- */

/* The default sweep name: the file name without directory and .yaml/.yml. */
static void default_name(const char *path, char *out) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 5 && !strcmp(base + len - 5, ".yaml")) len -= 5;
    else if (len > 4 && !strcmp(base + len - 4, ".yml")) len -= 4;
    size_t o = 0;
    for (size_t i = 0; i < len && o < DS_NAME_MAX - 1; i++) {
        char ch = base[i];
        int ok = isalnum((unsigned char)ch) || ch == '_' || ch == '-' || (ch == '.' && o > 0);
        out[o++] = ok ? ch : '_';
    }
    out[o] = 0;
    if (!o) snprintf(out, DS_NAME_MAX, "sweep");
}

/* The eval block (docs/sweep-file.md "eval"): a corpus task's multiple-choice
 * sets, which become its evaluation axis (ds_task_spec.mc). Only the keys;
 * the files are read by ds_sweep_attach_data. */
static int parse_eval(yctx *c, yaml_node_t *m, ds_task_spec *t) {
    if (!m) return 0;
    yaml_node_t *list, *n;
    if (need_mapping(c, m, "eval") || check_keys(c, m, "eval", eval_keys)) return DS_EXIT_USAGE;
    if (t->kind != DS_TASK_CORPUS)
        return FAIL(c, m, "eval.multiple_choice is for a corpus task; task %s is evaluated at its "
                    "task.eval_lengths", ds_task_get(t)->name);
    if (need_key(c, m, "eval", "multiple_choice", &list) ||
        need_seq(c, list, "eval.multiple_choice", 1, DS_MAX_EVAL_LENGTHS))
        return DS_EXIT_USAGE;
    static const char *const scorings[] = {"letter", "completion", NULL};
    for (int i = 0; i < seq_len(list); i++) {
        yaml_node_t *it = seq_item(c, list, i);
        char what[64], path[96];
        snprintf(what, sizeof what, "eval.multiple_choice[%d]", i);
        if (need_mapping(c, it, what) || check_keys(c, it, what, mc_keys)) return DS_EXIT_USAGE;
        ds_mc_spec *sp = &t->mc[i];
        memset(sp, 0, sizeof *sp);
        snprintf(path, sizeof path, "%s.name", what);
        if (need_key(c, it, what, "name", &n) || check_name(c, n, path, sp->name)) return DS_EXIT_USAGE;
        for (int j = 0; j < i; j++)
            if (!strcmp(t->mc[j].name, sp->name))
                return FAIL(c, n, "%s '%s' is the name of eval.multiple_choice[%d] too", path, sp->name, j);
        snprintf(path, sizeof path, "%s.path", what);
        if (need_key(c, it, what, "path", &n) || node_path(c, n, path, sp->path)) return DS_EXIT_USAGE;
        sp->scoring = -1;
        snprintf(path, sizeof path, "%s.scoring", what);
        if ((n = get(c, it, "scoring")) && node_enum(c, n, path, scorings, &sp->scoring)) return DS_EXIT_USAGE;
        t->eval_lengths[i] = i;
    }
    t->n_mc = t->n_eval_lengths = seq_len(list);
    return 0;
}

static int parse_root(yctx *c, yaml_node_t *root, ds_sweep *s) {
    char b[80];
    if (root->type != YAML_MAPPING_NODE)
        return FAIL(c, root, "a sweep file must be a mapping with keys task, train, seeds and scales; found %s",
                    describe(root, b, sizeof b));
    if (check_keys(c, root, "the sweep file", top_keys)) return DS_EXIT_USAGE;
    yaml_node_t *n, *task, *train, *seeds, *scales;
    if (need_key(c, root, "the sweep file", "task", &task) ||
        need_key(c, root, "the sweep file", "train", &train) ||
        need_key(c, root, "the sweep file", "seeds", &seeds) ||
        need_key(c, root, "the sweep file", "scales", &scales))
        return DS_EXIT_USAGE;
    default_name(s->path, s->name);
    if ((n = get(c, root, "name")) && check_name(c, n, "name", s->name)) return DS_EXIT_USAGE;
    if (parse_task(c, task, &s->task) || parse_eval(c, get(c, root, "eval"), &s->task) ||
        parse_model(c, get(c, root, "model"), &s->model) ||
        parse_train(c, train, &s->task, &s->train) || parse_seeds(c, seeds, &s->task, &s->seeds) ||
        parse_scales(c, scales, s) || parse_run(c, get(c, root, "run"), &s->run, s->train.batch) ||
        parse_report(c, get(c, root, "report"), &s->task, &s->report))
        return DS_EXIT_USAGE;
    for (int i = 0; i < s->n_scales; i++)
        if (!s->scales[i].ranks_per_job) s->scales[i].ranks_per_job = s->run.ranks_per_job;
    snprintf(s->output, sizeof s->output, "results/%s.h5", s->name);
    if ((n = get(c, root, "output"))) {
        if (n->type != YAML_SCALAR_NODE || is_null(n))
            return FAIL(c, n, "output must be a file path, found %s", describe(n, b, sizeof b));
        if (strlen(scalar(n)) >= sizeof s->output) return FAIL(c, n, "output path is too long");
        snprintf(s->output, sizeof s->output, "%s", scalar(n));
    }
    return 0;
}

/* Line and column (0-based) of a byte offset, for reader errors that carry
 * only an offset. */
static yaml_mark_t mark_of_offset(const char *text, size_t len, size_t off) {
    yaml_mark_t m = {0, 0, 0};
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') m.line++, m.column = 0;
        else m.column++;
    }
    return m;
}

static int syntax_error(yctx *c, yaml_parser_t *p, size_t len) {
    yaml_mark_t m = p->problem_mark;
    if (p->error == YAML_READER_ERROR) {
        m = mark_of_offset(c->text, len, p->problem_offset);
        return fail_mark(c, m, "not a YAML text file: %s", p->problem ? p->problem : "unreadable");
    }
    if (p->context)
        return fail_mark(c, m, "YAML syntax error: %s (%s at line %d, column %d)",
                         p->problem ? p->problem : "invalid YAML", p->context,
                         (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    return fail_mark(c, m, "YAML syntax error: %s", p->problem ? p->problem : "invalid YAML");
}

static int load_mem(const char *name, const char *text, size_t len, ds_sweep **out, ds_error *err) {
    *out = NULL;
    int rc = DS_EXIT_USAGE, have_doc = 0;
    yaml_parser_t parser;
    yaml_document_t doc;
    ds_sweep *s = DS_CALLOC(1, sizeof *s);
    yctx c = {name, text, &doc, err};
    snprintf(s->path, sizeof s->path, "%s", name);
    yaml_mark_t origin = {0, 0, 0};

    if (!yaml_parser_initialize(&parser)) ds_die(DS_EXIT_ERROR, "libyaml: cannot initialize parser");
    if (memchr(text, 0, len)) {
        yaml_mark_t m = mark_of_offset(text, len, (size_t)((const char *)memchr(text, 0, len) - text));
        fail_mark(&c, m, "not a YAML text file: it contains a NUL byte");
        goto done;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        syntax_error(&c, &parser, len);
        goto done;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        fail_mark(&c, origin, "empty sweep file: expected a mapping with keys task, train, seeds and scales");
        goto done;
    }
    /* A second document would be silently ignored by the parse above. */
    {
        yaml_document_t extra;
        if (!yaml_parser_load(&parser, &extra)) {
            syntax_error(&c, &parser, len);
            goto done;
        }
        yaml_node_t *xr = yaml_document_get_root_node(&extra);
        yaml_mark_t xm = extra.start_mark;
        yaml_document_delete(&extra);
        if (xr) {
            fail_mark(&c, xm, "a sweep file holds one YAML document; found a second one");
            goto done;
        }
    }
    if (parse_root(&c, root, s)) goto done;

    s->yaml_text = DS_MALLOC(len + 1);
    memcpy(s->yaml_text, text, len);
    s->yaml_text[len] = 0;
    char *canon = ds_sweep_canonical(s);
    s->yaml_hash = ds_fnv1a64(canon, strlen(canon), DS_FNV1A64_INIT);
    free(canon);
    *out = s;
    s = NULL;
    rc = 0;
done:
    if (have_doc) yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (s) ds_sweep_free(s);
    return rc;
}

int ds_sweep_load_text(const char *name, const char *text, ds_sweep **out, ds_error *err) {
    return load_mem(name, text, strlen(text), out, err);
}

int ds_sweep_load(const char *path, ds_sweep **out, ds_error *err) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return ds_error_set(err, DS_EXIT_USAGE, "%s: cannot open sweep file: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return ds_error_set(err, DS_EXIT_USAGE, "%s: is a directory, not a sweep file", path);
    if (st.st_size > (64 << 20))
        return ds_error_set(err, DS_EXIT_USAGE, "%s: too large for a sweep file (%lld bytes)", path,
                            (long long)st.st_size);
    FILE *f = fopen(path, "rb");
    if (!f) return ds_error_set(err, DS_EXIT_USAGE, "%s: cannot open sweep file: %s", path, strerror(errno));
    size_t cap = (size_t)st.st_size + 1, len = 0, got;
    char *text = DS_MALLOC(cap);
    while ((got = fread(text + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) text = DS_REALLOC(text, cap *= 2);
    }
    int rc;
    if (ferror(f)) rc = ds_error_set(err, DS_EXIT_USAGE, "%s: cannot read sweep file: %s", path, strerror(errno));
    else rc = load_mem(path, text, len, out, err);
    fclose(f);
    free(text);
    return rc;
}

/* train.epochs into steps, once the source's size is known: whole blocks of
 * 1024 rows, as many as hold count x N_k rows of source k (it owns slots_k of
 * each block, src/corpus.h), so that every seed sees at least that many
 * epochs; then the checks parse_train leaves for this moment. */
static int resolve_epochs(ds_sweep *s, ds_error *err) {
    ds_train_spec *tr = &s->train;
    const ds_source_spec *sp = &s->task.sources[tr->epochs_source];
    double rows_k = ceil(tr->epochs * (double)ds_corpus_source(s->task.corpus, tr->epochs_source).n_chunks);
    double blocks = ceil(rows_k / (double)sp->slots);
    double steps = ceil(blocks * DS_CORPUS_BLOCK / (double)tr->batch);
    if (steps > (double)((int64_t)1 << 40))
        return ds_error_set(err, DS_EXIT_USAGE, "%s:%d:%d: train.epochs %g of %s is %.3g steps, too many",
                            s->path, tr->epochs_pos.line, tr->epochs_pos.col, tr->epochs, sp->name, steps);
    tr->steps = (int64_t)steps;
    if (tr->warmup > tr->steps || tr->log_every > tr->steps)
        return ds_error_set(err, DS_EXIT_USAGE, "%s:%d:%d: train.epochs %g of %s is %lld steps, fewer than "
                            "train.%s (%lld)", s->path, tr->epochs_pos.line, tr->epochs_pos.col, tr->epochs,
                            sp->name, (long long)tr->steps, tr->warmup > tr->steps ? "warmup" : "log_every",
                            (long long)(tr->warmup > tr->steps ? tr->warmup : tr->log_every));
    return 0;
}

int ds_sweep_attach_data(ds_sweep *s, ds_error *err) {
    const ds_task_ops *ops = ds_task_get(&s->task);
    DS_ASSERT(ops);
    if (!ops->attach) return 0;
    int rc = ops->attach(&s->task, s->train.context, s->path, err);
    if (!rc && s->train.epochs > 0) rc = resolve_epochs(s, err);
    return rc;
}

void ds_sweep_free(ds_sweep *s) {
    if (!s) return;
    const ds_task_ops *ops = ds_task_get(&s->task);
    if (ops && ops->detach) ops->detach(&s->task);
    free(s->yaml_text);
    free(s);
}

/* ---- canonical text and diff --------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        DS_ASSERT(k >= 0);
        if (b->len + (size_t)k < b->cap) {
            b->len += (size_t)k;
            return;
        }
        b->cap = 2 * (b->cap + (size_t)k);
        b->p = DS_REALLOC(b->p, b->cap);
    }
}


int ds_sweep_saves_model(const ds_sweep *s, int64_t seed) {
    return seed >= s->seeds.start && seed - s->seeds.start < s->run.save_models;
}

char *ds_sweep_canonical(const ds_sweep *s) {
    static const char *const blocks[] = {"parallel", "sequential", "llama"};
    static const char *const precs[] = {"fp32", "tf32", "bf16"};
    sbuf b = {DS_MALLOC(1024), 0, 1024};
    b.p[0] = 0;
    char x[32], y[32];
    const ds_task_spec *t = &s->task;
    const ds_task_ops *ops = ds_task_get(t);
    DS_ASSERT(ops);
    sb_printf(&b, "task.kind: %s\n", ops->name);
    if (t->kind == DS_TASK_CORPUS) {
        /* the paths as written (not resolved): the data, not where it lies; the
         * tokenizer only decodes for display */
        static const char *const losses[] = {"all", "answer"};
        sb_printf(&b, "task.vocab: %d\n", t->vocab);
        if (t->eot >= 0) sb_printf(&b, "task.eot: %d\n", t->eot);
        else sb_printf(&b, "task.eot: none\n");
        sb_printf(&b, "task.sources: %d\n", t->n_sources);
        for (int k = 0; k < t->n_sources; k++)
            sb_printf(&b, "task.sources[%d]: name %s, path \"%s\", weight %s, loss %s\n", k,
                      t->sources[k].name, t->sources[k].path, num(x, t->sources[k].weight),
                      losses[t->sources[k].loss]);
        /* only with sets: corpus sweeps without them keep their hash */
        for (int i = 0; i < t->n_mc; i++)
            sb_printf(&b, "eval.multiple_choice[%d]: name %s, path \"%s\"%s\n", i, t->mc[i].name,
                      t->mc[i].path, t->mc[i].scoring < 0 ? "" : t->mc[i].scoring ? ", scoring completion"
                                                                                   : ", scoring letter");
    } else {
        if (t->kind == DS_TASK_COUNT) sb_printf(&b, "task.vocab: %d\n", t->vocab);
        sb_printf(&b, "task.train_length: [%d, %d]\n", t->train_min, t->train_max);
        sb_printf(&b, "task.eval_lengths: [");
        for (int i = 0; i < t->n_eval_lengths; i++) sb_printf(&b, "%s%d", i ? ", " : "", t->eval_lengths[i]);
        sb_printf(&b, "]\n");
    }
    if (t->kind == DS_TASK_ADDITION) {
        sb_printf(&b, "task.hint_tokens: %d\n", t->hint_tokens);
        sb_printf(&b, "task.eval_examples: %d\n", t->eval_examples);
        sb_printf(&b, "task.eval_seed: %llu\n", (unsigned long long)t->eval_seed);
    }
    const ds_model_spec *m = &s->model;
    const ds_init_spec *in = &m->init;
    /* With model.init the keys config.json implies are its, unless written
     * (then attach checked them equal): the lines say "from config.json", so
     * that the text is the same before and after ds_hf_attach and on
     * machines without the directory. The base model is named by its path
     * as written; its files' bytes are not in the text (docs/sweep-file.md). */
    if (in->enabled && !in->pos_head_dim.line) sb_printf(&b, "model.head_dim: from config.json\n");
    else sb_printf(&b, "model.head_dim: %d\n", m->head_dim);
    if (in->enabled && !in->pos_block.line) sb_printf(&b, "model.block: from config.json\n");
    else sb_printf(&b, "model.block: %s\n", blocks[m->block]);
    if (in->enabled && !in->pos_rotary_frac.line) sb_printf(&b, "model.rotary_frac: from config.json\n");
    else sb_printf(&b, "model.rotary_frac: %s\n", num(x, m->rotary_frac));
    if (in->enabled && !in->pos_rope_base.line) sb_printf(&b, "model.rope_base: from config.json\n");
    else sb_printf(&b, "model.rope_base: %s\n", num(x, m->rope_base));
    sb_printf(&b, "model.init_std: %s\n", num(x, m->init_std));
    if (in->enabled && !in->pos_ln_eps.line) sb_printf(&b, "model.ln_eps: from config.json\n");
    else sb_printf(&b, "model.ln_eps: %s\n", num(x, m->ln_eps));
    if (in->enabled) {
        static const char *const parts[] = {"attention", "mlp", "block", "head", "final_norm",
                                            "embeddings"};
        static const char *const varies[] = {"both", "weights", "data"};
        sb_printf(&b, "model.init.from: %s\n", in->from);
        sb_printf(&b, "model.init.reinit: [");
        for (int i = 0; i < in->n_reinit; i++) {
            const ds_reinit_part *p = &in->reinit[i];
            if (p->kind < DS_REINIT_HEAD) sb_printf(&b, "%slayer %d %s", i ? ", " : "", p->layer, parts[p->kind]);
            else sb_printf(&b, "%s%s", i ? ", " : "", parts[p->kind]);
        }
        sb_printf(&b, "]\nmodel.init.vary: %s\n", varies[in->vary]);
        int head = 0;
        for (int i = 0; i < in->n_reinit; i++) head |= in->reinit[i].kind == DS_REINIT_HEAD;
        /* the untie rule (docs/sweep-file.md "model.init"); only with head
         * reinitialized, so other sweeps' hashes stay */
        if (head) sb_printf(&b, "model.init.untie: the head is reinitialized, so a tied base is untied "
                            "(model.tie_embeddings false, the embeddings kept)\n");
    }
    /* only for llama: the other blocks' hashes stay. With model.init and no
     * model.block the block is config.json's: its lines are implied, and so
     * are the keys not written (the text is the same before and after attach) */
    if (m->block == DS_BLOCK_LLAMA && (!in->enabled || in->pos_block.line)) {
        int fc = in->enabled;
        if (fc && !in->pos_kv_heads.line) sb_printf(&b, "model.kv_heads: from config.json\n");
        else sb_printf(&b, "model.kv_heads: %d\n", m->kv_heads);
        if (fc && !in->pos_mlp_hidden.line) sb_printf(&b, "model.mlp_hidden: from config.json\n");
        else sb_printf(&b, "model.mlp_hidden: %d\n", m->mlp_hidden);
        if (fc && !in->pos_qkv_bias.line) sb_printf(&b, "model.qkv_bias: from config.json\n");
        else sb_printf(&b, "model.qkv_bias: %s\n", m->qkv_bias ? "true" : "false");
        if (fc && !in->pos_tie_embeddings.line) sb_printf(&b, "model.tie_embeddings: from config.json\n");
        else sb_printf(&b, "model.tie_embeddings: %s\n", m->tie_embeddings ? "true" : "false");
    } else if (in->enabled) {
        /* the block is config.json's: the llama keys written (checked against
         * it when attached) are part of the experiment, the others implied */
        if (in->pos_kv_heads.line) sb_printf(&b, "model.kv_heads: %d\n", m->kv_heads);
        if (in->pos_mlp_hidden.line) sb_printf(&b, "model.mlp_hidden: %d\n", m->mlp_hidden);
        if (in->pos_qkv_bias.line) sb_printf(&b, "model.qkv_bias: %s\n", m->qkv_bias ? "true" : "false");
        if (in->pos_tie_embeddings.line)
            sb_printf(&b, "model.tie_embeddings: %s\n", m->tie_embeddings ? "true" : "false");
    }
    const ds_train_spec *tr = &s->train;
    if (tr->epochs > 0) /* the data's size decides the steps: the setting is the experiment */
        sb_printf(&b, "train.epochs: %s of %s\n", num(x, tr->epochs), t->sources[tr->epochs_source].name);
    else
        sb_printf(&b, "train.steps: %lld\n", (long long)tr->steps);
    sb_printf(&b, "train.batch: %d\n", tr->batch);
    sb_printf(&b, "train.context: %d\n", tr->context);
    sb_printf(&b, "train.lr: %s\n", num(x, tr->lr));
    sb_printf(&b, "train.warmup: %lld\n", (long long)tr->warmup);
    sb_printf(&b, "train.weight_decay: %s\n", num(x, tr->weight_decay));
    sb_printf(&b, "train.grad_clip: %s\n", num(x, tr->grad_clip));
    sb_printf(&b, "train.betas: [%s, %s]\n", num(x, tr->beta1), num(y, tr->beta2));
    sb_printf(&b, "train.eps: %s\n", num(x, tr->adam_eps));
    sb_printf(&b, "train.precision: %s\n", precs[tr->precision]);
    sb_printf(&b, "train.log_every: %lld\n", (long long)tr->log_every);
    /* only when set: the files made before the key existed keep their hash */
    if (tr->micro_batches != 1) sb_printf(&b, "train.micro_batches: %d\n", tr->micro_batches);
    if (tr->schedule != DS_SCHED_COSINE) sb_printf(&b, "train.schedule: linear\n"); /* likewise */
    /* likewise; with it the report's length is the trajectory's, so part of
     * the experiment */
    if (tr->eval_every > 0)
        sb_printf(&b, "train.eval_every: %lld at length %d\n", (long long)tr->eval_every,
                  s->report.length);
    sb_printf(&b, "seeds.start: %lld\n", (long long)s->seeds.start);
    sb_printf(&b, "scales: %d distinct\n", s->n_scales);
    for (int i = 0; i < s->n_scales; i++) {
        const ds_scale *sc = &s->scales[i];
        sb_printf(&b, "scales[%d]: width %d, depth %d", i, sc->d_model, sc->n_layers);
        /* only conditions have settings: the plain scales' lines are unchanged */
        for (int k = 0; k < sc->n_settings; k++) { /* a base model: its path as written */
            char v[DS_SETTING_TEXT_MAX];
            sb_printf(&b, ", %s %s", sc->settings[k].key, ds_setting_str(&sc->settings[k], v, sizeof v));
        }
        sb_printf(&b, "\n");
    }
    sb_printf(&b, "families: %d\n", s->n_families);
    for (int i = 0; i < s->n_families; i++) {
        const ds_family *f = &s->families[i];
        sb_printf(&b, "families[%d].name: %s\nfamilies[%d].scales: [", i, f->name, i);
        for (int j = 0; j < f->n; j++) sb_printf(&b, "%s%d", j ? ", " : "", f->scale_idx[j]);
        sb_printf(&b, "]\n");
    }
    return b.p;
}

/* Copies line `*pos` of text (without '\n') into out and advances *pos. */
static int next_line(const char *text, size_t *pos, char *out, size_t cap) {
    if (!text[*pos]) return 0;
    const char *nl = strchr(text + *pos, '\n');
    size_t len = nl ? (size_t)(nl - (text + *pos)) : strlen(text + *pos);
    size_t k = len < cap - 1 ? len : cap - 1;
    memcpy(out, text + *pos, k);
    out[k] = 0;
    *pos += len + (nl ? 1 : 0);
    return 1;
}

int ds_sweep_diff(const ds_sweep *a, const ds_sweep *b, char *buf, size_t n) {
    char *ca = ds_sweep_canonical(a), *cb = ds_sweep_canonical(b);
    size_t pa = 0, pb = 0;
    char la[512], lb[512];
    int differ = 0;
    for (;;) {
        int ha = next_line(ca, &pa, la, sizeof la), hb = next_line(cb, &pb, lb, sizeof lb);
        if (!ha && !hb) break;
        if (ha && hb && !strcmp(la, lb)) continue;
        /* Lines are "key: value"; the canonical layouts of two sweeps line
         * up until their first difference, which is a count or a value. */
        differ = 1;
        char *va = ha ? strstr(la, ": ") : NULL, *vb = hb ? strstr(lb, ": ") : NULL;
        if (va && vb && va - la == vb - lb && !strncmp(la, lb, (size_t)(va - la))) {
            *va = 0;
            snprintf(buf, n, "%s: %s in the result file, %s in the sweep file", la, va + 2, vb + 2);
        } else {
            snprintf(buf, n, "the sweep definitions differ: '%s' in the result file, '%s' in the sweep file",
                     ha ? la : "(nothing)", hb ? lb : "(nothing)");
        }
        break;
    }
    if (!differ && b->seeds.count < a->seeds.count) {
        differ = 1;
        snprintf(buf, n,
                 "seeds.count: %lld in the result file, %lld in the sweep file (seeds can be added, not removed)",
                 (long long)a->seeds.count, (long long)b->seeds.count);
    }
    if (!differ && n) buf[0] = 0;
    free(ca);
    free(cb);
    return differ;
}
