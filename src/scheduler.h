/* scheduler: the MPI sweep loop (docs/design.md §7): rank 0 hands out packs of
 * (scale, seeds) to every rank including itself, absorbs the results into the
 * store, retries failures, and stops everything cleanly on a signal.
 *
 * Owns the life of the packs (pending, running, done; which packs there are,
 * their order and their files in OUT.h5.ckpt/ are src/packplan.h's), the
 * workers' state as rank 0 sees it (the machine drawn in src/sched_rank0.c),
 * the protocol (which message when) and the progress display. Rank 0 trains
 * too and services messages from its between-steps hook with non-blocking
 * MPI only (MPI_THREAD_FUNNELED).
 *
 * The code: src/scheduler.c sets up every rank, src/sched_rank0.c is rank
 * 0's half, src/sched_worker.c a worker's, src/sched_internal.h what they
 * share. The messages (tags, directions, payloads, the version byte) and
 * their codecs are src/messages.h's; every message is sent and received as
 * MPI_BYTE on the communicator given.
 */
#ifndef DS_SCHEDULER_H
#define DS_SCHEDULER_H

#include <mpi.h>

#include "engine.h"
#include "store.h"
#include "sweep.h"

/* Trains one pack: ds_train_pack's contract, with a context first. */
typedef int (*ds_pack_fn)(void *ctx, const ds_sweep *s, int scale, const int64_t *seeds, int R,
                          const ds_train_opts *opts, ds_run_result *results, ds_error *err);

typedef struct {
    const ds_sweep *s;
    const char *out_path;  /* result file; checkpoints go to out_path + ".ckpt/" */
    ds_store *store;       /* rank 0 only; NULL elsewhere */
    ds_pack_fn run_pack;
    void *run_ctx;
    ds_backend_kind backend;
    MPI_Comm comm;         /* with MPI_ERRORS_RETURN */
    int pack;              /* pack size override (0 = sweep's run.pack, auto if 0) */
    int quiet;             /* no progress display */
    double device_bytes;   /* rank 0: memory an automatic pack must fit (ds_backend_device_bytes); 0 = no limit */
} ds_sched_opts;

typedef struct {
    int64_t stored;        /* runs stored by this invocation (done, diverged, failed) */
    int64_t failed_left;   /* runs with status failed when the loop ended */
    int64_t pending_left;  /* runs not finished when the loop ended */
    int64_t done_left, diverged_left; /* runs done / diverged when the loop ended */
    double wall_s;
    double store_s;        /* rank 0: time spent receiving and storing results */
    double busy_s, idle_s; /* summed over ranks: training time, waiting for work while work remained */
    int interrupted;       /* a stop signal ended the loop */
    int abandoned;         /* ranks that never answered STOP (dead): the caller must MPI_Abort */
} ds_sched_stats;

/* Whether nranks ranks can train every scale of s: a scale whose
 * ranks_per_job k is above 1 needs k workers besides rank 0 (groups are
 * formed from ranks 1..nranks-1; docs/design.md §8). Returns 0, or
 * DS_EXIT_USAGE with err naming the scale and the rank count it needs.
 * ds_sched_run checks it too; `run` asks first, before writing anything. */
int ds_sched_check_groups(const ds_sweep *s, int nranks, ds_error *err);

/* Runs the sweep loop on every rank of o->comm until every run is finished or
 * a stop signal arrives. Rank 0 must hold the open store. Returns 0 when all
 * runs are finished (done, diverged or failed), DS_EXIT_INTERRUPTED after a
 * signal (every rank has checkpointed), DS_EXIT_STORAGE when the result
 * file, the journal or a checkpoint could not be written (every rank was
 * stopped as on a signal and checkpointed where it could; no run was marked
 * failed or charged an attempt; err names the file and the cause), or
 * another error code with err set. Stats are valid on rank 0. */
int ds_sched_run(const ds_sched_opts *o, ds_sched_stats *stats, ds_error *err);

#endif
