/* output: the output family of a sweep — the result file OUT (e.g. results/x.h5)
 * and the files beside it — and the decision of what `distsweep run` does with
 * what it finds there (docs/design.md §4, docs/result-file.md).
 *
 * Owns the names of the family, in one place:
 *   OUT              the result file (src/store.h writes it)
 *   OUT.journal      the journal (src/journal.h)
 *   OUT.ckpt/        checkpoints, manifests and group files (src/packplan.h)
 *   OUT.models/      stored models (src/modelfile.h)
 *   OUT.lock         the writer's flock (ds_output_lock)
 *   OUT.tmp          a new result file while it is built (ds_store_open)
 * and the names things are moved aside to, never deleted:
 *   --fresh          every member above but the lock, renamed onto the family
 *                    of OLD = OUT with ".old-<UTC time>[-k]" put before a
 *                    trailing ".h5" (results/x.old-20240101T120000Z.h5,
 *                    .h5.journal, .h5.ckpt, .h5.models)
 *   a damaged OUT    OUT.damaged-<UTC time>[-k]; its journal, checkpoints and
 *                    models stay, they rebuild it
 *   a damaged model  OUT.models/scale<S>-seed<K>.safetensors.damaged-<UTC
 *                    time>[-k] (a done run's stored model that fails its
 *                    check on resume; the run trains again: src/modelfile.c
 *                    ds_modelfile_reset_unusable)
 *   an orphan model  <model>.orphan-<UTC time>[-k] (a model file of no run:
 *                    `distsweep verify --repair`, src/cmd_verify.c)
 *   a stale journal  OUT.journal.stale-<unix time> (a journal of another
 *                    result file; src/journal.c)
 *   a damaged pack   OUT.ckpt/<stem>.ckpt.damaged-<UTC time>[-k] (a checkpoint
 *   file             that fails its checks: src/engine.c), and the same suffix
 *                    on a manifest <stem>.pack (src/packplan.c); the pack's
 *                    runs start over, nothing is charged to them
 *
 * Owns the policy of opening an output for a run (ds_output_open_for_run):
 * probing what is there without modifying it, the writer's lock, rebuilding
 * a damaged file from a journal of the same sweep, --fresh, and whether the
 * sweep stored in the file is continued by the sweep being run (the seed
 * axis only grows). The outcome is a code with its details; the messages of
 * refusals are set here, the command (src/cmd_run.c) prints them and says
 * what was moved. The HDF5 writing itself is src/store.h's. */
#ifndef DS_OUTPUT_H
#define DS_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common.h"
#include "sweep.h"

/* Room for any member's or moved-aside name of an OUT that fits in 4096
 * bytes (the longest suffix is ".old-<16>-<k>" + ".models", or
 * ".journal.stale-<20>"). */
#define DS_OUTPUT_PATH_MAX 4400

/* The members of an output family. */
typedef enum {
    DS_OUTPUT_FILE,       /* OUT */
    DS_OUTPUT_JOURNAL,    /* OUT.journal */
    DS_OUTPUT_CKPT_DIR,   /* OUT.ckpt */
    DS_OUTPUT_MODELS_DIR, /* OUT.models */
    DS_OUTPUT_LOCK,       /* OUT.lock */
    DS_OUTPUT_TMP,        /* OUT.tmp */
    DS_N_OUTPUT_MEMBERS
} ds_output_member;

/* The path of member `which` of the family of out, into buf (n bytes).
 * Returns 0, or -1 when it does not fit (buf then holds a truncated,
 * NUL-terminated prefix). */
int ds_output_path(const char *out, ds_output_member which, char *buf, size_t n);

/* The names things are moved aside to. */
typedef enum {
    DS_OUTPUT_ASIDE_OLD,     /* --fresh: OUT with .old-<ts>[-k] before a trailing .h5 */
    DS_OUTPUT_ASIDE_DAMAGED, /* a damaged OUT or stored model FILE: FILE.damaged-<ts>[-k] */
    DS_OUTPUT_ASIDE_ORPHAN,  /* a file of the family that belongs to no run (a stored model
                                of no run: `verify --repair`): FILE.orphan-<ts>[-k] */
} ds_output_aside;

/* The k-th candidate name (k = 0, 1, ...: "-k" is added from 1 on, for a
 * name already taken) to move out aside to at time `when`, written as
 * %Y%m%dT%H%M%SZ in UTC, into buf (n bytes). For DS_OUTPUT_ASIDE_OLD the name
 * is a new OUT whose members (ds_output_path) receive the old ones. Returns
 * 0, or -1 when it does not fit. */
int ds_output_aside_name(const char *out, ds_output_aside kind, time_t when, int k, char *buf,
                         size_t n);

/* The name a stale journal (one of another result file) at journal_path is
 * moved to at Unix time `when`: JOURNAL.stale-<when>. Returns 0, or -1 when
 * it does not fit. */
int ds_output_stale_journal_name(const char *journal_path, long long when, char *buf, size_t n);

/* What a probe found at OUT. */
typedef enum {
    DS_OUTPUT_FOUND_NOTHING,   /* no file: a new one can be made */
    DS_OUTPUT_FOUND_RESULT,    /* a whole distsweep result file of this format version */
    DS_OUTPUT_FOUND_BAD_DIR,   /* the directory is missing, not a directory or not writable */
    DS_OUTPUT_FOUND_NOT_FILE,  /* OUT is not a regular file */
    DS_OUTPUT_FOUND_NO_ACCESS, /* OUT is not readable and writable */
    DS_OUTPUT_FOUND_NOT_HDF5,  /* not HDF5 (a torn superblock, or not ours at all) */
    DS_OUTPUT_FOUND_FOREIGN,   /* HDF5 without format="distsweep" */
    DS_OUTPUT_FOUND_VERSION,   /* ours, of another (or an unreadable) format_version */
    DS_OUTPUT_FOUND_DAMAGED,   /* HDF5 that HDF5 cannot open or read, or ours without its
                                  sweep or /seeds, or with any object of the schema that
                                  does not read back (a root attribute, a seed-axis dataset,
                                  /seeds whole, a /scales column, /eval_lengths, a dataset
                                  of /families) or a required one missing */
    DS_OUTPUT_FOUND_H5_ERROR,  /* the probe itself failed (an HDF5 property call) */
} ds_output_found;

/* What an existing output file is, found without modifying it. */
typedef struct {
    ds_output_found found;
    int exists;          /* something exists at the path */
    int64_t n_seeds;     /* length of its seed axis */
    uint64_t sweep_hash; /* its sweep_hash attribute */
    char *sweep_yaml;    /* its sweep_yaml attribute (malloc'd; free with ds_output_probe_free) */
    int damaged;         /* refused as unreadable: not HDF5 (a torn superblock), an HDF5 file
                            that cannot be opened or whose metadata cannot be read, one without
                            the format attribute (a foreign file is never rebuilt in practice:
                            only ours has a journal of its sweep beside it), or one of ours
                            without its sweep or a readable version; such a file is rebuilt
                            when a journal of the sweep is beside it (ds_output_open_for_run) */
    char why[2048];      /* a refusal's reason, "OUT: exists and is not an HDF5 file", without
                            the advice that err->msg adds ("; refusing to touch it ..."); as
                            long as ds_error's message */
} ds_output_probe;

/* Checks the output path before anything runs, touching nothing: the
 * directory must exist and be writable; an existing file must be a whole
 * distsweep result file of format version 1 (a live or killed writer's file
 * is fine). Returns 0 for FOUND_NOTHING and FOUND_RESULT. Refusals, all
 * DS_EXIT_USAGE and leaving the path untouched: every other `found` but
 * FOUND_H5_ERROR, which is DS_EXIT_ERROR; err->msg is p->why with its advice.
 * On a refusal p->sweep_yaml is freed, the other fields stay. */
int ds_output_probe_path(const char *out, ds_output_probe *p, ds_error *err);
void ds_output_probe_free(ds_output_probe *p);

/* Takes the writer's lock of the result file out: an exclusive flock on
 * OUT.lock (an empty file, created if needed and never deleted), held until
 * ds_output_unlock or the process dies. HDF5 gives up its own file lock in
 * SWMR-write mode, so without this a second `distsweep run` would "recover"
 * a live file. Errors, DS_EXIT_ERROR with *fd = -1: held by another open
 * file description (*locked = 1 when locked is not NULL), or the lock file
 * cannot be created or locked. */
int ds_output_lock(const char *out, int *fd, int *locked, ds_error *err);
/* Releases a lock of ds_output_lock; fd < 0 is a no-op. */
void ds_output_unlock(int fd);

/* Moves OUT, OUT.journal, OUT.ckpt and OUT.models (those that exist) onto
 * the family of the first free DS_OUTPUT_ASIDE_OLD name (free: neither it
 * nor its journal exists), never deleting anything; the lock stays. Sets
 * *moved_to (n bytes) to the new name of OUT. Errors: a rename fails ->
 * DS_EXIT_ERROR (the members moved before it stay moved). */
int ds_output_move_aside(const char *out, char *moved_to, size_t n, ds_error *err);

/* Renames the damaged file `out` of a family -- the result file OUT
 * (ds_output_probe.damaged), or a stored model of OUT.models/ that fails
 * ds_modelfile_check -- to the first free DS_OUTPUT_ASIDE_DAMAGED name beside
 * it, kept for inspection; nothing else moves (a result file's journal,
 * checkpoints and models stay and rebuild it). Sets *moved_to (n bytes).
 * Errors -> DS_EXIT_ERROR naming both names. */
int ds_output_set_damaged_aside(const char *out, char *moved_to, size_t n, ds_error *err);

/* The same for any file of the family and a name kind (DAMAGED or ORPHAN):
 * renames path to the first free name of that kind beside it. */
int ds_output_set_aside(const char *path, ds_output_aside kind, char *moved_to, size_t n,
                        ds_error *err);

/* 1 when OUT.journal is a journal of sweep s (its header's sweep hash is
 * s's: src/journal.h, version 2), so that a damaged or missing OUT can be
 * rebuilt from it (ds_store_open); else 0. Reads only. */
int ds_output_journal_of_sweep(const char *out, const ds_sweep *s);

/* How a run opens its output. */
typedef struct {
    int fresh; /* --fresh: move whatever is there aside and start over */
} ds_output_opts;

/* The decision of ds_output_open_for_run. */
typedef enum {
    /* the run goes on (return 0) */
    DS_OUTPUT_NEW,          /* no file: ds_store_open makes one */
    DS_OUTPUT_RESUME,       /* a result file whose sweep s continues (same experiment,
                               seeds.count not smaller): resume, extend the seed axis */
    DS_OUTPUT_REBUILD,      /* no usable file but a journal of sweep s: ds_store_open
                               makes the file again from it (a damaged file was moved
                               aside first when damaged_to is set) */
    /* refusals (return != 0); nothing was moved unless fresh_to is set */
    DS_OUTPUT_REFUSED_FOUND,       /* the probe refused what it found (probe_found says what;
                                      a damaged file without a journal of this sweep) */
    DS_OUTPUT_REFUSED_LOCKED,      /* another writer holds OUT.lock */
    DS_OUTPUT_REFUSED_STORED_SWEEP, /* the sweep stored in the file does not load */
    DS_OUTPUT_REFUSED_OTHER_SWEEP, /* the file was made by another sweep (diff), or holds
                                      more seeds than a fixed sweep's seeds.count */
    DS_OUTPUT_FAILED,              /* a system error: the lock file, a rename */
} ds_output_decision;

/* What ds_output_open_for_run found, decided and did. */
typedef struct {
    ds_output_decision decision;
    ds_output_found probe_found; /* the first probe's finding */
    int lock_fd;                 /* the writer's lock, held on success; else -1 */
    int damaged;                 /* the first probe found OUT damaged */
    char why[2048];              /* the first probe's reason (ds_output_probe.why): what
                                    is damaged, for REBUILD's message */
    char damaged_to[DS_OUTPUT_PATH_MAX]; /* REBUILD: the damaged file's new name, or "" */
    char fresh_to[DS_OUTPUT_PATH_MAX];   /* --fresh: OUT's old family's new name, or "" when
                                            there was nothing to move */
    char journal[DS_OUTPUT_PATH_MAX];    /* OUT.journal */
    char diff[1024];             /* REFUSED_OTHER_SWEEP: the first differing setting */
} ds_output_open_result;

/* Rank 0, before ds_store_open: makes the missing directories above out,
 * probes out (touching nothing), decides, and then, for a run that goes on,
 * takes the writer's lock, moves a damaged file aside when a journal of
 * sweep s is beside it (rebuild) or, with o->fresh, moves whatever family is
 * there aside (even a foreign or damaged file), and checks that the stored
 * sweep loads (a stored text that does not load, or does not hash to its
 * sweep_hash, is damage: rebuilt when a journal of sweep s is beside it,
 * else REFUSED_STORED_SWEEP), that the definitional datasets hold what s
 * defines (ds_store_check_definition; only beside a journal of s, which
 * rebuilds a file where they do not) and that s continues it: the same experiment (ds_sweep_diff)
 * with, for a fixed sweep, a seeds.count not below the file's seed axis
 * (the axis grows, never shrinks; an adaptive sweep's axis is its largest
 * scale and its seeds.count is compared with the stored one). A file that is
 * refused before the lock gets nothing beside it. Returns 0 with res->lock_fd
 * held (release it with ds_output_unlock after the store is closed), or the
 * exit code (DS_EXIT_USAGE for what the user can fix by choosing another
 * output or sweep, DS_EXIT_ERROR otherwise) with res->decision saying which
 * refusal, err->msg the complete message, and the lock released. */
int ds_output_open_for_run(const ds_sweep *s, const char *out, const ds_output_opts *o,
                           ds_output_open_result *res, ds_error *err);

/* Renames path, a damaged member of OUT.ckpt/ (a checkpoint or a manifest
 * that fails its checks), to the first free PATH.damaged-<UTC time>[-k] (the
 * names of ds_output_aside_name's DS_OUTPUT_ASIDE_DAMAGED) and writes that
 * name into moved_to (n bytes, DS_OUTPUT_PATH_MAX is enough for a path below
 * 4096 bytes). Returns 0, or DS_EXIT_ERROR with err naming both files when
 * the rename fails (path is then where it was). */
int ds_output_damaged_member_aside(const char *path, char *moved_to, size_t n, ds_error *err);

#endif
