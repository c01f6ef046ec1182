/* corpus: llm.c token shards, their validation, and the mixture's rows (see corpus.h). */
#define _POSIX_C_SOURCE 200809L
#include "corpus.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rng.h"

/* Philox counter word 1 of the Feistel rounds: a tag of its own, so these
 * draws never coincide with the rng.h streams' (whose word 2 is the stream). */
#define CORPUS_TAG 0x43525053u /* "CRPS" */
#define FEISTEL_ROUNDS 6

typedef struct {
    char *path;
    const uint8_t *map;    /* the whole file, mapped read-only */
    size_t map_len;
    int64_t n;             /* tokens */
    int tb;                /* token bytes: 2 or 4 */
    const uint8_t *mask;   /* the sidecar's bytes past its header, or NULL */
    size_t mask_len;       /* whole mapped sidecar */
    const uint8_t *mask_map;
} shard;

typedef struct {
    int n_shards;
    shard *shards;
    int64_t *first;        /* first[i]: global index of shard i's token 0; first[n] = total */
    int64_t n_tokens, n_chunks;
    int answer;
} source;

struct ds_corpus {
    int n;
    int context;
    int64_t n_chunks[DS_MAX_SOURCES];
    source src[DS_MAX_SOURCES];
};

/* ---- bijections ------------------------------------------------------------ */

/* Round function: `bits` pseudo-random bits of (half, round) under the key. */
static uint64_t feistel_f(uint64_t seed, uint32_t purpose, uint64_t index, int round,
                          uint64_t half, int bits) {
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t ctr[4] = {(uint32_t)half, CORPUS_TAG ^ ((uint32_t)round << 24) ^ (uint32_t)(half >> 32),
                       (uint32_t)index, (purpose << 16) | (uint32_t)((index >> 32) & 0xffff)};
    uint32_t out[4];
    ds_philox4x32_10(ctr, key, out);
    uint64_t v = ((uint64_t)out[1] << 32) | out[0];
    return bits >= 64 ? v : v & (((uint64_t)1 << bits) - 1);
}

uint64_t ds_corpus_perm(uint64_t n, uint64_t seed, uint32_t purpose, uint64_t index, uint64_t x) {
    DS_ASSERT(n >= 1 && x < n && purpose < 65536 && index < ((uint64_t)1 << 48));
    if (n == 1) return 0;
    int bits = 0;
    while (bits < 64 && ((uint64_t)1 << bits) < n) bits++;
    int h = (bits + 1) / 2; /* halves of h bits: the domain is 2^(2h) < 4n */
    if (h < 1) h = 1;
    DS_ASSERT(h <= 31);
    const uint64_t hmask = ((uint64_t)1 << h) - 1;
    uint64_t y = x;
    do { /* cycle-walking: the Feistel permutation of [0, 2^2h) iterated until it lands in [0, n) */
        uint64_t L = y >> h, R = y & hmask;
        for (int r = 0; r < FEISTEL_ROUNDS; r++) {
            uint64_t nl = R;
            R = L ^ feistel_f(seed, purpose, index, r, R, h);
            L = nl;
        }
        y = (L << h) | R;
    } while (y >= n);
    return y;
}

void ds_corpus_apportion(int n, const double *w, int *slots) {
    DS_ASSERT(n >= 1 && n <= DS_MAX_SOURCES);
    double rem[DS_MAX_SOURCES];
    int total = 0;
    for (int k = 0; k < n; k++) {
        double q = DS_CORPUS_BLOCK * w[k];
        slots[k] = (int)q;
        rem[k] = q - slots[k];
        total += slots[k];
    }
    DS_ASSERT(total <= DS_CORPUS_BLOCK);
    while (total < DS_CORPUS_BLOCK) {
        int best = -1; /* the largest remainder not yet given a slot; ties: the earlier */
        for (int k = 0; k < n; k++)
            if (rem[k] >= 0 && (best < 0 || rem[k] > rem[best])) best = k;
        DS_ASSERT(best >= 0); /* the weights sum to 1, so at most n slots are left */
        slots[best]++;
        rem[best] = -1;
        total++;
    }
}

void ds_corpus_locate(int n, const int *slots, const int64_t *n_chunks, uint64_t seed,
                      uint64_t row, int *k_out, int64_t *chunk) {
    const uint64_t b = row / DS_CORPUS_BLOCK, s = row % DS_CORPUS_BLOCK;
    const uint64_t u = ds_corpus_perm(DS_CORPUS_BLOCK, seed, 0, b, s);
    int k = 0, S = 0;
    while (k < n && u >= (uint64_t)(S + slots[k])) S += slots[k++];
    DS_ASSERT(k < n && slots[k] > 0 && n_chunks[k] >= 1);
    const uint64_t j = b * (uint64_t)slots[k] + (u - (uint64_t)S);
    const uint64_t N = (uint64_t)n_chunks[k], e = j / N;
    *k_out = k;
    *chunk = (int64_t)ds_corpus_perm(N, seed, (uint32_t)k + 1, e, j % N);
}

/* ---- files -------------------------------------------------------------------- */

static int32_t le32(const uint8_t *p) {
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

/* Checks a mapped file's header; sets *count and *tb. */
static int check_header(const char *path, const uint8_t *p, size_t len, int mask, int64_t *count,
                        int *tb, ds_error *err) {
    if (len < DS_CORPUS_HEADER_BYTES)
        return ds_error_set(err, DS_EXIT_USAGE, "%s: truncated %s: %zu bytes, shorter than the "
                            "1024-byte header", path, mask ? "answer mask" : "token shard", len);
    int32_t magic = le32(p), version = le32(p + 4), n = le32(p + 8);
    if (mask) {
        if (magic != DS_CORPUS_MAGIC_MASK)
            return ds_error_set(err, DS_EXIT_USAGE, "%s: not an answer-mask file: magic %d, "
                                "expected %d", path, (int)magic, DS_CORPUS_MAGIC_MASK);
        if (version != DS_CORPUS_VERSION_MASK)
            return ds_error_set(err, DS_EXIT_USAGE, "%s: answer-mask version %d, expected %d",
                                path, (int)version, DS_CORPUS_VERSION_MASK);
        *tb = 1;
    } else if (magic == DS_CORPUS_MAGIC_U16) {
        if (version != DS_CORPUS_VERSION_U16)
            return ds_error_set(err, DS_EXIT_USAGE, "%s: shard version %d with magic %d, expected "
                                "version %d (uint16 tokens)", path, (int)version, (int)magic,
                                DS_CORPUS_VERSION_U16);
        *tb = 2;
    } else if (magic == DS_CORPUS_MAGIC_U32) {
        if (version != DS_CORPUS_VERSION_U32)
            return ds_error_set(err, DS_EXIT_USAGE, "%s: shard version %d with magic %d, expected "
                                "version %d (uint32 tokens)", path, (int)version, (int)magic,
                                DS_CORPUS_VERSION_U32);
        *tb = 4;
    } else {
        return ds_error_set(err, DS_EXIT_USAGE, "%s: not an llm.c token shard: magic %d, expected "
                            "%d (uint16 tokens) or %d (uint32 tokens)", path, (int)magic,
                            DS_CORPUS_MAGIC_U16, DS_CORPUS_MAGIC_U32);
    }
    if (n < 0)
        return ds_error_set(err, DS_EXIT_USAGE, "%s: negative token count %d in the header", path, (int)n);
    size_t want = DS_CORPUS_HEADER_BYTES + (size_t)n * (size_t)*tb;
    if (len != want)
        return ds_error_set(err, DS_EXIT_USAGE, "%s: %s: %zu bytes, the header's count of %d "
                            "%s needs %zu", path, len < want ? "truncated" : "trailing bytes",
                            len, (int)n, mask ? "mask bytes" : "tokens", want);
    *count = n;
    return 0;
}

/* Maps path whole (read-only); *p NULL for an empty file. */
static int map_file(const char *path, const uint8_t **p, size_t *len, ds_error *err) {
    int rc = DS_EXIT_USAGE;
    *p = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ds_error_set(err, DS_EXIT_USAGE, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: not a regular file", path);
        goto done;
    }
    *len = (size_t)st.st_size;
    if (*len) {
        void *m = mmap(NULL, *len, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            ds_error_set(err, DS_EXIT_USAGE, "%s: cannot map: %s", path, strerror(errno));
            *len = 0;
            goto done;
        }
        *p = m;
    }
    rc = 0;
done:
    close(fd);
    return rc;
}

int ds_corpus_read_header(const char *path, int mask, int64_t *count, int *token_bytes,
                          ds_error *err) {
    const uint8_t *p;
    size_t len;
    int rc = map_file(path, &p, &len, err);
    if (rc) return rc;
    rc = check_header(path, p, len, mask, count, token_bytes, err);
    if (p) munmap((void *)p, len);
    return rc;
}

/* The token at index i of a mapped shard. */
static inline uint32_t shard_token(const shard *sh, int64_t i) {
    const uint8_t *q = sh->map + DS_CORPUS_HEADER_BYTES + (size_t)i * (size_t)sh->tb;
    if (sh->tb == 2) return (uint32_t)q[0] | (uint32_t)q[1] << 8;
    return (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
}

/* Opens one shard (and its sidecar when answer): header, size, token scan. */
static int open_shard(shard *sh, int answer, int vocab, ds_error *err) {
    int64_t n;
    int rc = map_file(sh->path, &sh->map, &sh->map_len, err);
    if (!rc) rc = check_header(sh->path, sh->map, sh->map_len, 0, &n, &sh->tb, err);
    if (rc) return rc;
    sh->n = n;
    for (int64_t i = 0; i < n; i++) {
        uint32_t tok = shard_token(sh, i);
        if (tok >= (uint32_t)vocab)
            return ds_error_set(err, DS_EXIT_USAGE, "%s: token %lld is id %u, not below task.vocab "
                                "(%d)", sh->path, (long long)i, tok, vocab);
    }
    if (!answer) return 0;
    size_t plen = strlen(sh->path);
    char mpath[DS_SOURCE_PATH_MAX + 4200];
    if (plen > 4 && !strcmp(sh->path + plen - 4, ".bin"))
        snprintf(mpath, sizeof mpath, "%.*s.mask", (int)(plen - 4), sh->path);
    else snprintf(mpath, sizeof mpath, "%s.mask", sh->path);
    if (access(mpath, F_OK) != 0)
        return ds_error_set(err, DS_EXIT_USAGE, "%s: a `loss: answer` source needs the answer-mask "
                            "sidecar %s, which does not exist", sh->path, mpath);
    int64_t mn;
    int mtb;
    rc = map_file(mpath, &sh->mask_map, &sh->mask_len, err);
    if (!rc) rc = check_header(mpath, sh->mask_map, sh->mask_len, 1, &mn, &mtb, err);
    if (rc) return rc;
    if (mn != n)
        return ds_error_set(err, DS_EXIT_USAGE, "%s: the answer mask counts %lld tokens, its shard "
                            "%s has %lld", mpath, (long long)mn, sh->path, (long long)n);
    sh->mask = sh->mask_map + DS_CORPUS_HEADER_BYTES;
    return 0;
}

/* Source sp of the sweep file sweep_path (its path resolved by ds_sweep_resolve). */
static int open_source(source *src, const ds_source_spec *sp, const char *sweep_path, int vocab,
                       int context, ds_error *err) {
    char pattern[DS_SOURCE_PATH_MAX + 4200];
    ds_sweep_resolve(sweep_path, sp->path, pattern, sizeof pattern);
    glob_t g;
    memset(&g, 0, sizeof g);
    int grc = glob(pattern, 0, NULL, &g); /* sorted by name */
    int rc = DS_EXIT_USAGE;
    if (grc == GLOB_NOMATCH || (grc == 0 && g.gl_pathc == 0)) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: source '%s': no such file%s", pattern, sp->name,
                     strpbrk(sp->path, "*?[") ? " (the pattern matches nothing)" : "");
        goto done;
    }
    if (grc != 0) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: source '%s': cannot list the files", pattern, sp->name);
        goto done;
    }
    src->answer = sp->loss == DS_LOSS_ANSWER;
    src->n_shards = (int)g.gl_pathc;
    src->shards = DS_CALLOC((size_t)src->n_shards, sizeof *src->shards);
    src->first = DS_CALLOC((size_t)src->n_shards + 1, sizeof *src->first);
    for (int i = 0; i < src->n_shards; i++) {
        src->shards[i].path = strdup(g.gl_pathv[i]);
        DS_ASSERT(src->shards[i].path);
        if ((rc = open_shard(&src->shards[i], src->answer, vocab, err))) goto done;
        src->first[i + 1] = src->first[i] + src->shards[i].n;
    }
    src->n_tokens = src->first[src->n_shards];
    src->n_chunks = src->n_tokens >= 1 ? (src->n_tokens - 1) / (context - 1) : 0;
    if (src->n_chunks < 1) {
        rc = ds_error_set(err, DS_EXIT_USAGE, "%s: source '%s' has %lld tokens, fewer than one row "
                          "of train.context %d", pattern, sp->name, (long long)src->n_tokens, context);
        goto done;
    }
    rc = 0;
done:
    globfree(&g);
    return rc;
}

static void free_source(source *src) {
    for (int i = 0; i < src->n_shards; i++) {
        shard *sh = &src->shards[i];
        if (sh->map) munmap((void *)sh->map, sh->map_len);
        if (sh->mask_map) munmap((void *)sh->mask_map, sh->mask_len);
        free(sh->path);
    }
    free(src->shards);
    free(src->first);
    memset(src, 0, sizeof *src);
}

void ds_corpus_free(ds_corpus *c) {
    if (!c) return;
    for (int k = 0; k < c->n; k++) free_source(&c->src[k]);
    free(c);
}

int ds_corpus_open(const ds_task_spec *t, int context, const char *sweep_path, ds_corpus **out,
                   ds_error *err) {
    DS_ASSERT(t->kind == DS_TASK_CORPUS && t->n_sources >= 1 && t->n_sources <= DS_MAX_SOURCES);
    DS_ASSERT(context >= 2);
    *out = NULL;
    int rc = 0;
    ds_corpus *c = DS_CALLOC(1, sizeof *c);
    c->n = t->n_sources;
    c->context = context;
    for (int k = 0; k < c->n && !rc; k++) {
        rc = open_source(&c->src[k], &t->sources[k], sweep_path, t->vocab, context, err);
        c->n_chunks[k] = c->src[k].n_chunks;
    }
    if (rc) ds_corpus_free(c);
    else *out = c;
    return rc;
}

ds_corpus_source_info ds_corpus_source(const ds_corpus *c, int k) {
    DS_ASSERT(k >= 0 && k < c->n);
    const source *s = &c->src[k];
    ds_corpus_source_info i = {s->n_shards, s->n_tokens, s->n_chunks, s->shards[0].tb};
    return i;
}

int ds_corpus_context(const ds_corpus *c) { return c->context; }

/* Copies tokens [g, g+n) of the source (its shards concatenated) and, with
 * mask, their answer-mask bytes. */
static void source_copy(const source *src, int64_t g, int n, int32_t *tokens, uint8_t *mask) {
    DS_ASSERT(g >= 0 && g + n <= src->n_tokens);
    /* the shard holding g: the last i with first[i] <= g */
    int lo = 0, hi = src->n_shards - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (src->first[mid] <= g) lo = mid;
        else hi = mid - 1;
    }
    int i = lo, done = 0;
    while (done < n) {
        const shard *sh = &src->shards[i];
        int64_t off = g + done - src->first[i];
        if (off >= sh->n) { /* past this shard (or an empty one) */
            i++;
            DS_ASSERT(i < src->n_shards);
            continue;
        }
        int64_t take = sh->n - off;
        if (take > n - done) take = n - done;
        for (int64_t q = 0; q < take; q++) {
            tokens[done + q] = (int32_t)shard_token(sh, off + q);
            if (mask) mask[done + q] = sh->mask[off + q] ? 1 : 0;
        }
        done += (int)take;
    }
}

int ds_corpus_row(const ds_corpus *c, const int *slots, uint64_t seed, uint64_t row, int context,
                  int32_t *tokens, uint8_t *mask) {
    DS_ASSERT(context == c->context);
    int k;
    int64_t chunk;
    ds_corpus_locate(c->n, slots, c->n_chunks, seed, row, &k, &chunk);
    const source *src = &c->src[k];
    source_copy(src, chunk * (int64_t)(context - 1), context, tokens, src->answer ? mask : NULL);
    if (!src->answer) memset(mask, 1, (size_t)context);
    mask[0] = 0;
    return k;
}
