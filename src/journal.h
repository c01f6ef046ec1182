/* journal: the append-only, checksummed record of finished runs beside a
 * result file (OUT.h5.journal), and the byte encoding of one run result that
 * the journal and the MPI RESULT message share.
 *
 * Owns the journal file. It is a write-ahead log: rank 0 appends a run's
 * record and fsyncs it before the run's rows are written into the HDF5 file,
 * so after a crash a resume can restore every run the journal holds (DESIGN
 * §6). A torn record at the end (a crash inside write()) is detected by its
 * length or checksum and cut off when the journal is reopened.
 *
 * File format (native little-endian, x86-64/aarch64):
 *   header  : "DSJRNL01" (8 bytes) | created (48 bytes, NUL-padded): the
 *             `created` root attribute of the result file it belongs to
 *   record* : uint32 magic 0x4a52534a | uint32 n (payload bytes) | payload[n]
 *             | uint64 FNV-1a-64 of the payload
 *   payload : int32 scale, status, attempts, rank, n_len, n_curve |
 *             int64 seed, steps_done | float64 wall_s, t_stored (Unix time) |
 *             float32 final_loss, id_em | float32 metrics[n_len][5] |
 *             float32 curve[n_curve]
 */
#ifndef DS_JOURNAL_H
#define DS_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "engine.h"

#define DS_JOURNAL_CREATED_MAX 48

/* One finished run: where it belongs and what it produced. */
typedef struct {
    int32_t scale;    /* row of /scales */
    int32_t attempts; /* attempts it took (1 = first try) */
    int32_t rank;     /* MPI rank that trained it */
    int32_t n_len;    /* evaluation lengths in r.metrics */
    double t_stored;  /* Unix time rank 0 stored it (0 in RESULT messages) */
    ds_run_result r;  /* r.status is DS_RUN_DONE, DS_RUN_DIVERGED or DS_RUN_FAILED */
} ds_record;

/* Bytes needed to encode rec. */
size_t ds_record_size(const ds_record *rec);
/* Encodes rec into buf (ds_record_size bytes); returns the size. */
size_t ds_record_encode(const ds_record *rec, unsigned char *buf);
/* Decodes n bytes into rec (rec->r.curve newly allocated, or NULL when empty).
 * Returns 0, or -1 if the bytes are not a well-formed record. */
int ds_record_decode(const unsigned char *buf, size_t n, ds_record *rec);
/* Frees rec->r.curve. */
void ds_record_free(ds_record *rec);

typedef struct ds_journal ds_journal;

/* Opens (creating if absent) the journal at path for appending, for the
 * result file whose `created` attribute is `created`. Reads every valid
 * record into *recs and *n_recs (caller frees each with ds_record_free, then the
 * array), cuts off a torn tail. A journal that belongs to another result file
 * (different `created`) is renamed to PATH.stale-UNIXTIME and a new one is
 * started; *stale_moved is then 1. Errors: cannot open/read/write ->
 * DS_EXIT_STORAGE, naming the journal and the cause. */
int ds_journal_open(const char *path, const char *created, ds_journal **out, ds_record **recs,
                    int64_t *n_recs, int *stale_moved, ds_error *err);

/* Appends the encoded records (written with one write() call), then fsyncs.
 * A failed write or fsync -> DS_EXIT_STORAGE; a partial write is cut off. */
int ds_journal_append(ds_journal *j, const ds_record *recs, int n, ds_error *err);

void ds_journal_close(ds_journal *j);

/* Reads every valid record of the journal at path without modifying it (for
 * tests and tools). Returns 0, or 1 with err set. */
int ds_journal_read(const char *path, char *created_out, ds_record **recs, int64_t *n_recs,
                    ds_error *err);

#endif
