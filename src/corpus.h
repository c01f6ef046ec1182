/* corpus: token corpora in llm.c's shard format and the training rows of a
 * mixture of them (docs/tasks.md "Corpus").
 *
 * Owns the memory-mapped shards of every source of a `task: {kind: corpus}`
 * sweep, their validation, the keyed bijections that order the data, and the
 * map (seed, row) -> (source, chunk) -> tokens and loss mask. A row is a pure
 * function of (seed, row) and the shards, so resume, any rank and any pack
 * give the same rows.
 *
 * Shard format (llm.c): a header of 256 int32 little-endian words, [0] magic,
 * [1] version, [2] token count n; then n tokens: magic 20240520 / version 1
 * with uint16 tokens, or magic 20240801 / version 7 with uint32 tokens.
 * Answer-mask sidecar (`loss: answer`): for shard X.bin the file X.mask, the
 * same header with magic 20261206 / version 1 and the shard's n, then n
 * uint8, 1 where the token is part of an answer span (a scored target).
 *
 * Ownership: ds_corpus_open makes a ds_corpus that the caller owns and frees
 * with ds_corpus_free; ds_sweep_attach_data (sweep.h) stores it in
 * ds_task_spec.corpus, and then the sweep owns it (ds_sweep_free frees it).
 * A ds_corpus is read-only after opening: any number of threads may call
 * ds_corpus_row at once. */
#ifndef DS_CORPUS_H
#define DS_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "sweep.h"

#define DS_CORPUS_MAGIC_U16 20240520
#define DS_CORPUS_VERSION_U16 1
#define DS_CORPUS_MAGIC_U32 20240801
#define DS_CORPUS_VERSION_U32 7
#define DS_CORPUS_MAGIC_MASK 20261206
#define DS_CORPUS_VERSION_MASK 1
#define DS_CORPUS_HEADER_BYTES 1024
/* Rows per mixture block: source k owns slots[k] of every block. */
#define DS_CORPUS_BLOCK 1024

typedef struct ds_corpus ds_corpus;

/* One source as opened: what `plan` prints. */
typedef struct {
    int n_shards;
    int64_t n_tokens; /* over all shards */
    int64_t n_chunks; /* N_k = floor((n_tokens - 1) / (context - 1)) */
    int token_bytes;  /* 2 or 4 (of the first shard) */
} ds_corpus_source_info;

/* A keyed bijection of [0, n) (n >= 1): a balanced Feistel network on the
 * smallest even number of bits >= 2 holding n, with 6 rounds whose round
 * function is Philox4x32-10 (rng.h) keyed by seed and counted by (half,
 * round, purpose, index), walked in cycles until the value falls below n.
 * Requires x < n, purpose < 65536 and index < 2^48. */
uint64_t ds_corpus_perm(uint64_t n, uint64_t seed, uint32_t purpose, uint64_t index, uint64_t x);

/* The slots of every block of DS_CORPUS_BLOCK rows that each of the n
 * sources gets: largest-remainder apportionment of DS_CORPUS_BLOCK*w[k]
 * (the floors, then one more slot to the largest remainders, ties to the
 * earlier source). slots[] sums to DS_CORPUS_BLOCK. */
void ds_corpus_apportion(int n, const double *w, int *slots);

/* Where row `row` of seed `seed` comes from: source *k and chunk *chunk of
 * it, given the sources' slots (apportionment above) and chunk counts
 * n_chunks[k] >= 1 (a source with 0 slots is never chosen). The reference
 * definition of the data order (docs/tasks.md "Corpus"). */
void ds_corpus_locate(int n, const int *slots, const int64_t *n_chunks, uint64_t seed,
                      uint64_t row, int *k, int64_t *chunk);

/* Opens and validates the sources of task t (kind corpus) for rows of
 * `context` tokens; relative source paths resolve against the directory of
 * sweep_path. Every shard is mapped, its size, magic and version checked, and
 * every token scanned against t->vocab; a `loss: answer` source's sidecars
 * likewise. On success returns 0 with *out set; on failure DS_EXIT_USAGE
 * (bad or missing data, the message names the file) or DS_EXIT_ERROR, with
 * nothing allocated. */
int ds_corpus_open(const ds_task_spec *t, int context, const char *sweep_path, ds_corpus **out,
                   ds_error *err);

void ds_corpus_free(ds_corpus *c);

/* Facts about source k of an opened corpus. */
ds_corpus_source_info ds_corpus_source(const ds_corpus *c, int k);

/* The context the corpus was opened for. */
int ds_corpus_context(const ds_corpus *c);

/* Fills tokens/mask[context] with training row `row` of seed `seed` of the
 * mixture whose source k owns slots[k] rows of every block (the task spec's
 * ds_source_spec.slots: a condition of a values family that varies a source's
 * weight has its own, so the mixture is the caller's, not the opened data's).
 * tasks.h's row convention: mask[0] = 0. context must be the one opened for.
 * Returns the source index of the row. */
int ds_corpus_row(const ds_corpus *c, const int *slots, uint64_t seed, uint64_t row, int context,
                  int32_t *tokens, uint8_t *mask);

/* Reads a shard (or a mask sidecar when mask is 1) file's header: returns 0
 * with *count and *token_bytes (1 for a mask) set, or DS_EXIT_USAGE with the
 * problem in err, naming the file. For tools and tests. */
int ds_corpus_read_header(const char *path, int mask, int64_t *count, int *token_bytes,
                          ds_error *err);

#endif
