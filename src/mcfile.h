/* mcfile: multiple-choice evaluation sets (docs/tasks.md "Multiple-choice
 * evaluation sets"), the binary files tools/make_mc_eval.py writes.
 *
 * Owns the file format and its validation. A file is, all integers
 * little-endian:
 *   header  256 x int32: [0] magic 20261207, [1] version 1, [2] token width in
 *           bytes (2: uint16 tokens, 4: uint32 tokens), [3] n_items (>= 1),
 *           [4] K, choices per item (2..26, the same for every item), [5] the
 *           scoring style the prompts were built for (0 letter, 1 completion),
 *           [6] the tokenizer's vocabulary size (every token id is below it),
 *           [7..255] 0
 *   items   n_items times: int32 label (0..K-1), int32 context length (>= 1
 *           token), K x int32 continuation lengths (>= 1 token each), K x
 *           int32 continuation normalizers (>= 1; the length lm-eval's
 *           acc_norm divides by: the choice text's length in characters,
 *           Python's len(), without the leading space; src/mceval.h), then
 *           the context's tokens and the K continuations' tokens, each
 *           token of the header's width
 *   nothing after the last item.
 * The set is small (MMLU's test split: 14,042 items, a few MB): the reader
 * reads the whole file and keeps every token as int32. */
#ifndef DS_MCFILE_H
#define DS_MCFILE_H

#include <stdint.h>

#include "common.h"

#define DS_MC_MAGIC 20261207
#define DS_MC_VERSION 1
#define DS_MC_HEADER_INTS 256
#define DS_MC_MIN_K 2
#define DS_MC_MAX_K 26

typedef enum { DS_MC_LETTER = 0, DS_MC_COMPLETION = 1 } ds_mc_scoring;

extern const char *const ds_mc_scoring_names[2]; /* "letter", "completion" */

typedef struct ds_mc_set {
    char *path;          /* the file it was read from ("" for a set built in memory) */
    int token_bytes;     /* header [2]: 2 or 4 */
    int n_items, K;
    ds_mc_scoring scoring;
    int vocab;           /* header [6] */
    int32_t *label;      /* [n_items] */
    int32_t *ctx_len;    /* [n_items] */
    int32_t *cont_len;   /* [n_items][K] */
    int32_t *cont_norm;  /* [n_items][K] acc_norm's divisor */
    int64_t *ctx_off;    /* [n_items] offset of the context in tokens */
    int64_t *cont_off;   /* [n_items][K] offset of each continuation in tokens */
    int32_t *tokens;     /* [n_tokens] */
    int64_t n_tokens;
    int max_row;         /* tokens of the longest context + continuation of any item */
    int cap_items;       /* allocated items (ds_mc_add) */
    int64_t cap_tokens;  /* allocated tokens (ds_mc_add) */
} ds_mc_set;

/* Reads and validates the set in file path. model_vocab > 0: every token
 * id must be below it (the model's vocabulary); max_tokens > 0: every
 * item's context + longest continuation must have at most max_tokens tokens
 * (the model's context). Checked: the file can be read, the header (magic,
 * version, width, counts, K, scoring, vocabulary, reserved words 0), each
 * item (truncation, label range, zero-length context or continuation, a
 * normalizer < 1, token ids against the header's vocabulary and
 * model_vocab, the length bound), and nothing after the last item. Returns
 * 0 with *out a set to free with ds_mc_free, or DS_EXIT_USAGE with *out
 * NULL and err naming the file, the item index where there is one, and the
 * problem. */
int ds_mc_load(const char *path, int model_vocab, int max_tokens, ds_mc_set **out, ds_error *err);

/* An empty set built in memory (tests, benchmarks): K choices per item (2..26),
 * vocab the token-id bound; path "" . Free with ds_mc_free. */
ds_mc_set *ds_mc_new(int K, ds_mc_scoring scoring, int vocab);

/* Appends an item to s: label in 0..K-1, the context's n_ctx >= 1 tokens,
 * and K continuations cont[k] of n_cont[k] >= 1 tokens with normalizers
 * norm[k] >= 1 (NULL: each 1). Tokens must be in 0..vocab-1 (asserted). */
void ds_mc_add(ds_mc_set *s, int label, const int32_t *ctx, int n_ctx, const int32_t *const *cont,
               const int *n_cont, const int *norm);

/* Writes s to path in the format above with token_bytes 2 or 4 (2 needs
 * vocab <= 65,536). Returns 0 or DS_EXIT_ERROR with err naming the file and
 * the system error. */
int ds_mc_write(const char *path, const ds_mc_set *s, int token_bytes, ds_error *err);

void ds_mc_free(ds_mc_set *s);

/* The tokens of item i's context (ctx_len[i] of them) and of its choice k
 * (cont_len[i*K+k] of them). */
static inline const int32_t *ds_mc_context(const ds_mc_set *s, int i) { return s->tokens + s->ctx_off[i]; }
static inline const int32_t *ds_mc_continuation(const ds_mc_set *s, int i, int k) {
    return s->tokens + s->cont_off[(int64_t)i * s->K + k];
}

#endif
