/* safetensors: writing and reading float32 tensor files in the safetensors
 * format (https://huggingface.co/docs/safetensors: an 8-byte little-endian
 * header length N, N bytes of JSON {name: {"dtype", "shape",
 * "data_offsets": [begin, end]}, "__metadata__": {string: string}}, then the
 * raw little-endian tensor bytes, offsets relative to the end of the header).
 *
 * Owns the byte format only: which tensors and metadata a file holds is the
 * caller's (src/modelfile.c for the stored models, src/cmd_export.c for a
 * Hugging Face directory, src/hfmodel.c for one read). Every tensor written
 * here is F32; the header is padded with spaces to a multiple of 8 bytes (the
 * format allows trailing spaces), so every tensor starts 4-byte aligned. The
 * reader takes every dtype of the format (sizes checked against the offsets)
 * and converts F32, F16 and BF16 to float, exactly (ds_st_to_f32). */
#ifndef DS_SAFETENSORS_H
#define DS_SAFETENSORS_H

#include <stdint.h>

#include "common.h"

#define DS_ST_MAX_DIMS 4
#define DS_ST_NAME_MAX 128

/* One tensor to write: data points at prod(shape) floats in row-major order. */
typedef struct {
    char name[DS_ST_NAME_MAX];
    int ndim;
    int64_t shape[DS_ST_MAX_DIMS];
    const float *data;
} ds_st_tensor;

/* Writes the n tensors, in this order and back to back, with the metadata
 * pairs meta[0..2*n_meta) (key, value, key, value, ...) to path atomically:
 * PATH.tmp is written, fsync'd and renamed over PATH, and the directory is
 * fsync'd, so after a crash PATH is either absent, the old file, or the
 * complete new one. Returns 0, or DS_EXIT_STORAGE with err naming the file
 * and the cause (PATH.tmp removed, PATH untouched). */
int ds_st_write(const char *path, const ds_st_tensor *t, int n, const char *const *meta,
                int n_meta, ds_error *err);

/* A file read back: the header parsed, the data bytes in memory. */
typedef struct {
    int n;
    struct {
        char name[DS_ST_NAME_MAX];
        char dtype[12]; /* "F32", "BF16", "F8_E4M3", ... (ds_st_dtype_size) */
        int ndim;
        int64_t shape[DS_ST_MAX_DIMS];
        uint64_t begin, end; /* byte offsets into data */
    } *t;
    int n_meta;
    char (*meta_key)[64];
    char **meta_val;
    uint8_t *data; /* data_bytes bytes */
    uint64_t data_bytes;
} ds_st_file;

/* Reads path into f (zeroed first). header_only reads the header and checks
 * that the file's size is exactly what the header describes, leaving data
 * NULL. Errors (code DS_EXIT_ERROR, err naming the file and the problem;
 * f empty): a missing or unreadable file, a header that is not the JSON the
 * format defines, a tensor whose offsets or shape do not fit the file. */
int ds_st_read(const char *path, int header_only, ds_st_file *f, ds_error *err);
void ds_st_free(ds_st_file *f);

/* Bytes per element of a safetensors dtype name ("F32", "BF16", "I64", ...),
 * or 0 for a name the format does not define. */
int ds_st_dtype_size(const char *dtype);

/* IEEE binary16 / bfloat16 bits (as stored, host order) to the float of the
 * same value: exact (both are subsets of binary32), subnormals, signed zeros,
 * Inf and NaN included. */
float ds_st_f16_to_f32(uint16_t h);
float ds_st_bf16_to_f32(uint16_t b);

/* Converts tensor i of f (read with data) to prod(shape) floats in out.
 * Returns 0, or -1 when its dtype is not F32, F16 or BF16 (out untouched). */
int ds_st_to_f32(const ds_st_file *f, int i, float *out);

/* Index of the tensor named name in f, or -1. */
int ds_st_find(const ds_st_file *f, const char *name);
/* The metadata value of key, or NULL. */
const char *ds_st_meta(const ds_st_file *f, const char *key);

#endif
