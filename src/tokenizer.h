/* tokenizer: a minimal decoder of Hugging Face tokenizer.json files, for
 * `distsweep sample` on corpus sweeps (docs/tasks.md "Corpus").
 *
 * Owns the id -> bytes table read from the file's model.vocab (and
 * added_tokens). Decoding only, never encoding: tools/tokenize_corpus.py
 * encodes with the real library. Byte-level BPE (a "ByteLevel" decoder or
 * pre-tokenizer, GPT-2 style: every byte is one printable code point) is
 * mapped back through the inverse of GPT-2's bytes_to_unicode; any other
 * vocabulary is shown as its UTF-8 strings with SentencePiece's U+2581 as a
 * space. */
#ifndef DS_TOKENIZER_H
#define DS_TOKENIZER_H

#include <stdint.h>

#include "common.h"

typedef struct ds_tokenizer ds_tokenizer;

/* Reads path; 0 with *out (free with ds_tokenizer_free), or DS_EXIT_USAGE with
 * err naming the file and its problem. */
int ds_tokenizer_load(const char *path, ds_tokenizer **out, ds_error *err);

void ds_tokenizer_free(ds_tokenizer *t);

/* The bytes of token id (not NUL-terminated) and their count in *n; NULL
 * when the vocabulary has no such id. Valid until ds_tokenizer_free. */
const char *ds_tokenizer_piece(const ds_tokenizer *t, int32_t id, int *n);

/* Appends the text of tokens[0..n) to buf (cap bytes, NUL-terminated,
 * truncated); an unknown id shows as <id>. Returns the length written. */
int ds_tokenizer_decode(const ds_tokenizer *t, const int32_t *tokens, int n, char *buf, int cap);

#endif
