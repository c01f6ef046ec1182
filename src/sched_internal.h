/* sched_internal: what the scheduler's two halves share; not an interface
 * for other modules (src/scheduler.h is).
 *
 * ds_sched_run (src/scheduler.c) sets up what every rank needs (the
 * checkpoint and models directories, each rank's node), then rank 0 runs
 * ds_sched_rank0 (src/sched_rank0.c: the packs, the workers' state table,
 * results, adaptive rounds, groups, the progress display; it trains packs
 * too) and every other rank ds_sched_worker (src/sched_worker.c). The two
 * halves talk only through the messages of src/messages.h. Each has its own
 * context struct and embeds a copy of ds_sched_common in it.
 */
#ifndef DS_SCHED_INTERNAL_H
#define DS_SCHED_INTERNAL_H

#include <stdint.h>

#include "messages.h"
#include "schema.h"
#include "scheduler.h"

#define DS_SCHED_POLL_S 100e-6 /* how often a rank with nothing to do looks for messages */

/* What both halves hold. */
typedef struct {
    const ds_sched_opts *o;
    const ds_sweep *s;
    int rank, size;     /* in o->comm */
    char ckdir[4200];   /* OUT.h5.ckpt: checkpoints, manifests, group files (src/packplan.h) */
    char mdir[4200];    /* OUT.h5.models (run.save_models, src/modelfile.h) */
    unsigned char *buf; /* messages in and out (ds_sched_buf); its owner frees it */
    size_t cap_buf;
    ds_error *err;      /* ds_sched_run's */
} ds_sched_common;

/* Sleeps s >= 0 seconds. */
void ds_sched_sleep(double s);

/* Grows c->buf to n bytes at least and returns it (it may move). */
unsigned char *ds_sched_buf(ds_sched_common *c, size_t n);

/* A message from rank src did not decode (e from a messages.h decoder):
 * prints "rank SRC sent <e's message>" and ends the process with
 * DS_EXIT_ERROR; the MPI launcher ends the job. */
void ds_sched_refuse(int src, const ds_error *e) __attribute__((noreturn));

/* Fills rec with run r of `scale` (rec->r = *r, sharing its curve; n_len
 * from the sweep); rank, attempts and t_stored are 0 for the caller to set. */
void ds_sched_result_record(const ds_sched_common *c, int scale, const ds_run_result *r,
                            ds_record *rec);

/* Rank 0's loop (c->rank 0, the store open in c->o): S is the store's seed
 * axis, node[c->size] a hash of each rank's processor name (not kept past
 * the call). Returns what ds_sched_run returns; st is filled but wall_s. */
int ds_sched_rank0(const ds_sched_common *c, int64_t S, const uint64_t *node,
                   ds_sched_stats *st);

/* A worker's loop (c->rank > 0) until STOP: 0, or DS_EXIT_INTERRUPTED when
 * a stop signal reached this process. */
int ds_sched_worker(const ds_sched_common *c);

#endif
