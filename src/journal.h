/* journal: the append-only, checksummed record of finished runs beside a
 * result file (OUT.h5.journal). The payload of a record is the encoding of a
 * ds_record that src/schema.h owns (the MPI RESULT message is the same).
 *
 * Owns the journal file. It is a write-ahead log: rank 0 appends a run's
 * record and fsyncs it before the run's rows are written into the HDF5 file,
 * so after a crash a resume can restore every run the journal holds
 * (docs/design.md §6). A torn record at the end (a crash inside write()) is detected by its
 * length or checksum and cut off when the journal is reopened.
 *
 * File format (native little-endian, x86-64/aarch64):
 *   header  : "DSJRNL02" (8 bytes) | created (48 bytes, NUL-padded): the
 *             `created` root attribute of the result file it belongs to |
 *             uint64 sweep_hash: the file's sweep hash (src/sweep.h), so that
 *             a damaged result file can be rebuilt from its journal for the
 *             same sweep only (src/output.h, ds_output_journal_of_sweep). Journals
 *             of version 1 ("DSJRNL01", no hash) are still read and appended
 *             to; they cannot rebuild a file.
 *   record* : uint32 magic 0x4a52534a | uint32 n (payload bytes) | payload[n]
 *             | uint64 FNV-1a-64 of the payload
 *   payload : ds_record_encode (src/schema.h)
 */
#ifndef DS_JOURNAL_H
#define DS_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "schema.h" /* ds_record and its payload encoding */

#define DS_JOURNAL_CREATED_MAX 48

typedef struct ds_journal ds_journal;

/* Opens (creating if absent) the journal at path for appending, for the
 * result file whose `created` attribute is `created` and whose sweep hash is
 * sweep_hash (written into a new journal's header). Reads every valid
 * record into *recs and *n_recs (caller frees each with ds_record_free, then the
 * array), cuts off a torn tail. A journal that belongs to another result file
 * (different `created`) is renamed to PATH.stale-UNIXTIME (the name is
 * src/output.h's, ds_output_stale_journal_name) and a new one is
 * started; *stale_moved is then 1. Errors: cannot open/read/write ->
 * DS_EXIT_STORAGE, naming the journal and the cause. */
int ds_journal_open(const char *path, const char *created, uint64_t sweep_hash, ds_journal **out,
                    ds_record **recs, int64_t *n_recs, int *stale_moved, ds_error *err);

/* Appends the encoded records (written with one write() call), then fsyncs.
 * A failed write or fsync -> DS_EXIT_STORAGE; a partial write is cut off. */
int ds_journal_append(ds_journal *j, const ds_record *recs, int n, ds_error *err);

void ds_journal_close(ds_journal *j);

/* Whether s (at most DS_JOURNAL_CREATED_MAX bytes read) is a `created` time
 * as ds_iso8601_now writes it: YYYY-MM-DDTHH:MM:SS.ffffffZ, digits where
 * digits belong, month 1-12, day 1-31, hour 0-23, minute 0-59, second 0-60.
 * The header has no checksum: a header whose `created` fails this is damaged
 * (ds_journal_identity, ds_journal_read). */
int ds_journal_created_valid(const char *s);

/* The header of the journal at path, read only: its `created` (into
 * created_out[DS_JOURNAL_CREATED_MAX]) and sweep hash. Returns 0, 1 for a
 * version-1 journal (no hash; *sweep_hash untouched), -1 when there is no
 * readable journal header: none, a damaged magic, or a `created` that is not
 * valid (ds_journal_created_valid; created_out is then ""). A journal with -1 rebuilds no file, and the open of a file
 * (ds_journal_open) moves it aside as stale: its `created` is not the
 * file's. */
int ds_journal_identity(const char *path, char *created_out, uint64_t *sweep_hash);

/* Reads every valid record of the journal at path without modifying it (for
 * tests and tools). Returns 0, or 1 with err set (no journal header, or a
 * damaged one: ds_journal_identity). */
int ds_journal_read(const char *path, char *created_out, ds_record **recs, int64_t *n_recs,
                    ds_error *err);

#endif
