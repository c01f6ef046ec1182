/* store: the HDF5 result file of a sweep (docs/design.md §6, format version 1) and
 * its journal, as written by rank 0.
 *
 * Owns the contents of OUT.h5 and OUT.h5.journal while a sweep runs (their
 * names, the lock, and what a run does with what it finds at OUT, probing,
 * moving aside and refusing, are src/output.h's): creates the file with
 * every object (atomically, through OUT.h5.tmp + rename), recovers a file
 * left behind by a killed writer, extends the seed axis when seeds.count
 * grows, replays journal records that never reached the file, then switches
 * to SWMR so that readers can follow the sweep. Each finished run is first
 * appended to the journal (fsync'd), then its data rows and finally its
 * /runs/status entry are written and the file is flushed: a reader never
 * sees a done run without its metrics, and killing the process at any moment
 * loses no finished run. A write that fails (full disk, read-only file
 * system, I/O error) stops all writing and is reported as DS_EXIT_STORAGE;
 * the next open repairs the file from the journal. The layout is in
 * docs/result-file.md; the paths, types and fill values written come from
 * the schema tables of src/schema.h. */
#ifndef DS_STORE_H
#define DS_STORE_H

#include <stdint.h>

#include "common.h"
#include "journal.h"
#include "sweep.h"

typedef struct ds_store ds_store;

/* What ds_store_open did, for the log. */
typedef struct {
    int created;        /* a new file was made */
    int recovered;      /* the file was left by a killed writer and was recovered */
    int64_t old_seeds;  /* seed axis length before (== new unless extended) */
    int64_t new_seeds;
    int64_t replayed;   /* runs rewritten from the journal (the file lacked or differed) */
    int64_t repaired;   /* of those, runs the file already marked finished */
    int64_t reset;      /* runs marked done/diverged without data nor a journal record:
                           back to pending, they run again */
    int stale_journal;  /* a journal of another file was moved aside */
    int rebuilt;        /* the file was missing and was made again from a journal of this
                           sweep (its runs are counted in replayed) */
} ds_store_info;

/* Opens the result file for sweep s at path, creating it if absent (from
 * PATH.journal when that is a journal of sweep s: the new file takes the
 * journal's `created`, and its seed axis grows to hold every record). The
 * caller has accepted the path and the stored sweep (ds_output_open_for_run:
 * same definition, or the same with a larger seeds.count) and holds the
 * writer's lock. The axis has at least seeds.count
 * seeds; an adaptive sweep's may be longer (and is grown to hold every
 * journal record), a fixed sweep's unrequested seeds become pending. Every run whose rows differ from
 * its last journal record is rewritten from it; a run marked done or
 * diverged whose data are missing and that the journal lacks goes back to
 * pending. retry_failed turns failed runs back into pending ones. Leaves the
 * file in SWMR-write mode. Errors: a failed write or flush of the file or the
 * journal -> DS_EXIT_STORAGE ("PATH: cannot ...: no space left on device");
 * a file that does not match the sweep -> DS_EXIT_USAGE; others -> 1. */
int ds_store_open(const ds_sweep *s, const char *path, int retry_failed, ds_store **out,
                  ds_store_info *info, ds_error *err);

/* Reads the definitional datasets of the result file at path (read-only,
 * bounded like every reader: ds_h5_open_read) and compares them with what
 * sweep s defines, as a new file of s would hold them: /seeds (start,
 * start + 1, ... over the file's own axis), /eval_lengths, every /scales
 * column (flops_per_step may be absent) and /families/<name> of each family
 * of s. Touches nothing. Returns 0 when all match; 1 when one reads but
 * differs, -1 when one does not read (or the file does not open), with why
 * (n bytes) naming the file and that dataset. ds_output_open_for_run sends
 * such a file to the rebuild when a journal of s is beside it. */
int ds_store_check_definition(const ds_sweep *s, const char *path, char *why, size_t n);

/* The seed axis and the status of a run (seed index = seed - seeds.start). */
int64_t ds_store_n_seeds(const ds_store *st);
int ds_store_status(const ds_store *st, int scale, int64_t seed_idx);
int32_t ds_store_attempts(const ds_store *st, int scale, int64_t seed_idx);
/* Adaptive sweeps: the counted value (ds_run_counted_value, src/schema.h) of
 * the run for seeds.adaptive's metric and length, as stored. */
double ds_store_counted_value(const ds_store *st, int scale, int64_t seed_idx);
/* Runs with a status, over all scales (or one scale when scale >= 0). */
int64_t ds_store_count(const ds_store *st, int scale, int status);

/* Adaptive sweeps (src/adaptive.h): scale sc asks for seeds [0, requested[sc]).
 * Grows the seed axis to the largest request if needed (every scale's new
 * seeds are DS_RUN_UNREQUESTED unless it asked for them), turns unrequested
 * seeds below a scale's request into pending ones and pending seeds at or
 * beyond it into unrequested ones (finished runs are never touched), then
 * flushes. These statuses are not journaled: they are recomputed from the
 * finished runs at every start. A failed write -> DS_EXIT_STORAGE, the store
 * broken as in ds_store_put. */
int ds_store_set_requested(ds_store *st, const int64_t *requested, ds_error *err);

/* Stores n finished runs: stamps their t_stored, one journal append +
 * fsync, then every run's data rows and an H5Fflush, then their statuses and
 * a second H5Fflush (a status never reaches the disk before its rows).
 * Records whose seed lies outside the sweep are an error (code 1, nothing
 * written). Any failed write -> DS_EXIT_STORAGE naming the file and the
 * cause; the store is then broken: later puts fail at once, and close leaves
 * the file as a killed writer would (every run the file may lack is in the
 * journal, or still has its pack's checkpoint). */
int ds_store_put(ds_store *st, ds_record *recs, int n, ds_error *err);

/* Turns n finished runs (scale[k], seed index idx[k]) back into pending
 * ones, which the sweep then runs again: /runs/status only (their rows stay
 * until the rerun overwrites them), then a durable flush. For runs the
 * caller found unusable although the file marks them done (a stored model
 * that is missing or damaged: src/cmd_run.c). The journal keeps their old
 * records, so a later open restores and the caller resets them again until
 * the rerun's record supersedes them. Errors as ds_store_put. */
int ds_store_reset_runs(ds_store *st, const int *scale, const int64_t *idx, int n, ds_error *err);

/* Closes the file (clearing the SWMR status flags, so h5dump can open it);
 * a broken store's file is not touched (see ds_store_put). */
int ds_store_close(ds_store *st, ds_error *err);

/* The current time as ISO 8601 UTC with microseconds. */
void ds_iso8601_now(char *buf, size_t n);

#endif
