/* mcfile: multiple-choice evaluation set files (see mcfile.h). */
#define _POSIX_C_SOURCE 200809L
#include "mcfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ds_mc_scoring_names[2] = {"letter", "completion"};

/* little-endian words of the file, whatever the host's byte order */
static uint32_t rd_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static int32_t rd_i32(const unsigned char *p) { return (int32_t)rd_u32(p); }
static void wr_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Grows s to hold at least items items and tokens tokens. */
static void reserve(ds_mc_set *s, int items, int64_t tokens) {
    if (items > s->cap_items) {
        int c = s->cap_items ? s->cap_items : 64;
        while (c < items) c *= 2;
        size_t K = (size_t)s->K;
        s->label = DS_REALLOC(s->label, sizeof(int32_t) * c);
        s->ctx_len = DS_REALLOC(s->ctx_len, sizeof(int32_t) * c);
        s->ctx_off = DS_REALLOC(s->ctx_off, sizeof(int64_t) * c);
        s->cont_len = DS_REALLOC(s->cont_len, sizeof(int32_t) * c * K);
        s->cont_norm = DS_REALLOC(s->cont_norm, sizeof(int32_t) * c * K);
        s->cont_off = DS_REALLOC(s->cont_off, sizeof(int64_t) * c * K);
        s->cap_items = c;
    }
    if (tokens > s->cap_tokens) {
        int64_t c = s->cap_tokens ? s->cap_tokens : 4096;
        while (c < tokens) c *= 2;
        s->tokens = DS_REALLOC(s->tokens, sizeof(int32_t) * (size_t)c);
        s->cap_tokens = c;
    }
}

ds_mc_set *ds_mc_new(int K, ds_mc_scoring scoring, int vocab) {
    DS_ASSERT(K >= DS_MC_MIN_K && K <= DS_MC_MAX_K && vocab >= 1);
    DS_ASSERT(scoring == DS_MC_LETTER || scoring == DS_MC_COMPLETION);
    ds_mc_set *s = DS_CALLOC(1, sizeof *s);
    s->path = DS_CALLOC(1, 1);
    s->K = K;
    s->scoring = scoring;
    s->vocab = vocab;
    s->token_bytes = vocab <= 65536 ? 2 : 4;
    return s;
}

void ds_mc_add(ds_mc_set *s, int label, const int32_t *ctx, int n_ctx, const int32_t *const *cont,
               const int *n_cont, const int *norm) {
    int K = s->K, i = s->n_items;
    DS_ASSERT(label >= 0 && label < K && n_ctx >= 1);
    int64_t need = n_ctx;
    for (int k = 0; k < K; k++) {
        DS_ASSERT(n_cont[k] >= 1 && (!norm || norm[k] >= 1));
        need += n_cont[k];
    }
    reserve(s, i + 1, s->n_tokens + need);
    s->label[i] = label;
    s->ctx_len[i] = n_ctx;
    s->ctx_off[i] = s->n_tokens;
    for (int t = 0; t < n_ctx; t++) {
        DS_ASSERT(ctx[t] >= 0 && ctx[t] < s->vocab);
        s->tokens[s->n_tokens++] = ctx[t];
    }
    for (int k = 0; k < K; k++) {
        size_t j = (size_t)i * K + k;
        s->cont_len[j] = n_cont[k];
        s->cont_norm[j] = norm ? norm[k] : 1;
        s->cont_off[j] = s->n_tokens;
        for (int t = 0; t < n_cont[k]; t++) {
            DS_ASSERT(cont[k][t] >= 0 && cont[k][t] < s->vocab);
            s->tokens[s->n_tokens++] = cont[k][t];
        }
        if (n_ctx + n_cont[k] > s->max_row) s->max_row = n_ctx + n_cont[k];
    }
    s->n_items++;
}

void ds_mc_free(ds_mc_set *s) {
    if (!s) return;
    free(s->path);
    free(s->label);
    free(s->ctx_len);
    free(s->ctx_off);
    free(s->cont_len);
    free(s->cont_norm);
    free(s->cont_off);
    free(s->tokens);
    free(s);
}

/* Reads all of path into *buf (malloc'd), its size into *n. Returns 0 or
 * DS_EXIT_USAGE with err naming the file and the system error. */
static int read_all(const char *path, unsigned char **buf, size_t *n, ds_error *err) {
    char why[128];
    int rc = 0;
    *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        ds_strerror_lc(errno, why, sizeof why);
        return ds_error_set(err, DS_EXIT_USAGE, "%s: cannot open the multiple-choice set: %s", path, why);
    }
    size_t cap = 1 << 16, len = 0;
    unsigned char *b = DS_MALLOC(cap);
    for (;;) {
        if (len == cap) b = DS_REALLOC(b, cap *= 2);
        size_t got = fread(b + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        ds_strerror_lc(errno, why, sizeof why);
        rc = ds_error_set(err, DS_EXIT_USAGE, "%s: cannot read the multiple-choice set: %s", path, why);
        free(b);
        b = NULL;
    }
    fclose(f);
    *buf = b;
    *n = len;
    return rc;
}

int ds_mc_load(const char *path, int model_vocab, int max_tokens, ds_mc_set **out, ds_error *err) {
    unsigned char *b = NULL;
    size_t n = 0;
    ds_mc_set *s = NULL;
    int rc;
    *out = NULL;
    if ((rc = read_all(path, &b, &n, err))) return rc;
    const size_t hb = 4 * DS_MC_HEADER_INTS;
    if (n < hb) {
        rc = ds_error_set(err, DS_EXIT_USAGE, "%s: truncated: %zu bytes, less than the %zu-byte header "
                          "of a multiple-choice set", path, n, hb);
        goto done;
    }
    int32_t h[DS_MC_HEADER_INTS];
    for (int i = 0; i < DS_MC_HEADER_INTS; i++) h[i] = rd_i32(b + 4 * i);
    if (h[0] != DS_MC_MAGIC) {
        rc = ds_error_set(err, DS_EXIT_USAGE, "%s: not a multiple-choice set (magic %d, expected %d; "
                          "tools/make_mc_eval.py writes them)", path, (int)h[0], DS_MC_MAGIC);
        goto done;
    }
    if (h[1] != DS_MC_VERSION) {
        rc = ds_error_set(err, DS_EXIT_USAGE, "%s: multiple-choice set version %d; this build reads "
                          "version %d", path, (int)h[1], DS_MC_VERSION);
        goto done;
    }
    const char *bad = NULL;
    int bad_at = 0;
    if (h[2] != 2 && h[2] != 4) bad = "token width must be 2 or 4 bytes", bad_at = 2;
    else if (h[3] < 1) bad = "the item count must be at least 1", bad_at = 3;
    else if (h[4] < DS_MC_MIN_K || h[4] > DS_MC_MAX_K) bad = "choices per item must be 2..26", bad_at = 4;
    else if (h[5] != DS_MC_LETTER && h[5] != DS_MC_COMPLETION) bad = "scoring must be 0 (letter) or 1 (completion)", bad_at = 5;
    else if (h[6] < 1 || (h[2] == 2 && h[6] > 65536)) bad = "vocabulary size out of range for the token width", bad_at = 6;
    for (int i = 7; i < DS_MC_HEADER_INTS && !bad; i++)
        if (h[i]) bad = "reserved header word is not 0", bad_at = i;
    if (bad) {
        rc = ds_error_set(err, DS_EXIT_USAGE, "%s: bad header: int32 [%d] is %d: %s", path, bad_at,
                          (int)h[bad_at], bad);
        goto done;
    }
    int K = h[4], W = h[2], n_items = h[3];
    s = ds_mc_new(K, (ds_mc_scoring)h[5], h[6]);
    free(s->path);
    s->path = strdup(path);
    DS_ASSERT(s->path);
    s->token_bytes = W;
    /* token ids are checked against the smaller of the two bounds */
    int vmodel = model_vocab > 0 && model_vocab <= s->vocab;
    int64_t vbound = vmodel ? model_vocab : s->vocab;
    size_t pos = hb;
    int32_t *lens = DS_MALLOC(sizeof(int32_t) * (2 + 2 * (size_t)K));
    int32_t **conts = DS_MALLOC(sizeof(int32_t *) * K);
    int32_t *toks = NULL;
    size_t toks_cap = 0;
    for (int i = 0; i < n_items && !rc; i++) {
        size_t rec = 4 * (2 + 2 * (size_t)K);
        if (n - pos < rec) {
            rc = ds_error_set(err, DS_EXIT_USAGE, "%s: truncated at item %d of %d (its %zu-byte record "
                              "needs %zu, %zu left)", path, i, n_items, rec, rec, n - pos);
            break;
        }
        for (size_t j = 0; j < 2 + 2 * (size_t)K; j++) lens[j] = rd_i32(b + pos + 4 * j);
        pos += rec;
        int label = lens[0], n_ctx = lens[1], *n_cont = lens + 2, *norm = lens + 2 + K;
        int64_t total = n_ctx, longest = 0;
        if (label < 0 || label >= K) {
            rc = ds_error_set(err, DS_EXIT_USAGE, "%s: item %d: label %d outside 0..%d", path, i, label, K - 1);
            break;
        }
        if (n_ctx < 1) {
            rc = ds_error_set(err, DS_EXIT_USAGE, "%s: item %d: context of %d tokens (at least 1 needed)",
                              path, i, n_ctx);
            break;
        }
        for (int k = 0; k < K && !rc; k++) {
            if (n_cont[k] < 1)
                rc = ds_error_set(err, DS_EXIT_USAGE, "%s: item %d: continuation %d has %d tokens (at "
                                  "least 1 needed)", path, i, k, n_cont[k]);
            else if (norm[k] < 1)
                rc = ds_error_set(err, DS_EXIT_USAGE, "%s: item %d: continuation %d has length %d for "
                                  "acc_norm (at least 1 needed)", path, i, k, norm[k]);
            total += n_cont[k];
            if (n_cont[k] > longest) longest = n_cont[k];
        }
        if (rc) break;
        if (max_tokens > 0 && n_ctx + longest > max_tokens) {
            rc = ds_error_set(err, DS_EXIT_USAGE, "%s: item %d: context of %d tokens + longest "
                              "continuation of %lld = %lld tokens, more than the model's context of %d",
                              path, i, n_ctx, (long long)longest, (long long)(n_ctx + longest), max_tokens);
            break;
        }
        if ((uint64_t)(n - pos) / (unsigned)W < (uint64_t)total) {
            rc = ds_error_set(err, DS_EXIT_USAGE, "%s: truncated at item %d of %d (its %lld tokens need "
                              "%lld bytes, %zu left)", path, i, n_items, (long long)total,
                              (long long)total * W, n - pos);
            break;
        }
        if ((size_t)total > toks_cap) toks = DS_REALLOC(toks, sizeof(int32_t) * (toks_cap = (size_t)total));
        for (int64_t t = 0; t < total; t++) {
            uint32_t v = W == 2 ? (uint32_t)b[pos] | (uint32_t)b[pos + 1] << 8 : rd_u32(b + pos);
            pos += (size_t)W;
            if ((int64_t)v >= vbound) {
                int64_t off = t;
                const char *where = "context";
                int k = -1;
                if (off >= n_ctx)
                    for (k = 0, off -= n_ctx, where = "continuation"; off >= n_cont[k]; off -= n_cont[k], k++) {
                    }
                char kk[32] = "";
                if (k >= 0) snprintf(kk, sizeof kk, " %d", k);
                rc = ds_error_set(err, DS_EXIT_USAGE, "%s: item %d: token %lld of its %s%s is %lu, not below "
                                  "the %s %lld", path, i, (long long)off, where, kk, (unsigned long)v,
                                  vmodel ? "model's vocabulary of" : "vocabulary in the file's header,",
                                  (long long)vbound);
                break;
            }
            toks[t] = (int32_t)v;
        }
        if (rc) break;
        int64_t o = n_ctx;
        for (int k = 0; k < K; k++) conts[k] = toks + o, o += n_cont[k];
        ds_mc_add(s, label, toks, n_ctx, (const int32_t *const *)conts, n_cont, norm);
    }
    if (!rc && pos != n)
        rc = ds_error_set(err, DS_EXIT_USAGE, "%s: %zu bytes after the last of its %d items (a damaged "
                          "file or a wrong item count)", path, n - pos, n_items);
    free(lens);
    free(conts);
    free(toks);
done:
    free(b);
    if (rc) ds_mc_free(s);
    else *out = s;
    return rc;
}

int ds_mc_write(const char *path, const ds_mc_set *s, int token_bytes, ds_error *err) {
    DS_ASSERT(token_bytes == 2 || token_bytes == 4);
    DS_ASSERT(token_bytes == 4 || s->vocab <= 65536);
    int K = s->K, rc = 0;
    char why[128];
    FILE *f = fopen(path, "wb");
    if (!f) {
        ds_strerror_lc(errno, why, sizeof why);
        return ds_error_set(err, DS_EXIT_ERROR, "%s: cannot create: %s", path, why);
    }
    unsigned char hdr[4 * DS_MC_HEADER_INTS] = {0};
    int32_t h[7] = {DS_MC_MAGIC, DS_MC_VERSION, token_bytes, s->n_items, K, (int32_t)s->scoring, s->vocab};
    for (int i = 0; i < 7; i++) wr_u32(hdr + 4 * i, (uint32_t)h[i]);
    int ok = fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr;
    unsigned char *rec = DS_MALLOC(4 * (2 + 2 * (size_t)K));
    for (int i = 0; i < s->n_items && ok; i++) {
        wr_u32(rec, (uint32_t)s->label[i]);
        wr_u32(rec + 4, (uint32_t)s->ctx_len[i]);
        int64_t total = s->ctx_len[i];
        for (int k = 0; k < K; k++) {
            wr_u32(rec + 8 + 4 * k, (uint32_t)s->cont_len[(size_t)i * K + k]);
            wr_u32(rec + 8 + 4 * (K + k), (uint32_t)s->cont_norm[(size_t)i * K + k]);
            total += s->cont_len[(size_t)i * K + k];
        }
        ok = fwrite(rec, 1, 4 * (2 + 2 * (size_t)K), f) == 4 * (2 + 2 * (size_t)K);
        /* an item's tokens are contiguous: context, then its continuations in order */
        const int32_t *t = ds_mc_context(s, i);
        for (int64_t j = 0; j < total && ok; j++) {
            unsigned char w[4];
            wr_u32(w, (uint32_t)t[j]);
            ok = fwrite(w, 1, (size_t)token_bytes, f) == (size_t)token_bytes;
        }
    }
    free(rec);
    int e = ok ? 0 : errno;
    if (fclose(f) != 0 && ok) ok = 0, e = errno;
    if (!ok) {
        ds_strerror_lc(e ? e : EIO, why, sizeof why);
        rc = ds_error_set(err, DS_EXIT_ERROR, "%s: cannot write: %s", path, why);
    }
    return rc;
}
