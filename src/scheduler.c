/* scheduler: see scheduler.h. This file sets up what every rank needs and
 * hands over to rank 0's half (src/sched_rank0.c) or a worker's
 * (src/sched_worker.c); src/sched_internal.h is what they share. */
#define _POSIX_C_SOURCE 200809L
#include "scheduler.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "modelfile.h"
#include "output.h"
#include "sched_internal.h"

void ds_sched_sleep(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

unsigned char *ds_sched_buf(ds_sched_common *c, size_t n) {
    if (n > c->cap_buf) {
        c->cap_buf = n + n / 2 + 256;
        c->buf = DS_REALLOC(c->buf, c->cap_buf);
    }
    return c->buf;
}

/* A message from rank src did not decode (messages.h): the ranks do not
 * speak the same protocol, most likely different builds. Nothing sensible
 * can follow, so the job ends here with the codec's words. */
void ds_sched_refuse(int src, const ds_error *e) {
    ds_die(DS_EXIT_ERROR, "rank %d sent %s", src, e->msg);
}

void ds_sched_result_record(const ds_sched_common *c, int scale, const ds_run_result *r,
                            ds_record *rec) {
    memset(rec, 0, sizeof *rec);
    rec->scale = scale;
    rec->n_len = c->s->task.n_eval_lengths;
    rec->r = *r;
}

int ds_sched_check_groups(const ds_sweep *s, int nranks, ds_error *err) {
    for (int i = 0; i < s->n_scales; i++) {
        int k = s->scales[i].ranks_per_job;
        if (k > 1 && k > nranks - 1)
            return ds_error_set(err, DS_EXIT_USAGE,
                                "scale #%d (width %d, depth %d) is trained by groups of %d ranks "
                                "(ranks_per_job), which are formed from the ranks besides rank 0: "
                                "this sweep has %d rank(s); run it with mpirun -np %d or more",
                                i, s->scales[i].d_model, s->scales[i].n_layers, k, nranks, k + 1);
    }
    return 0;
}

int ds_sched_run(const ds_sched_opts *o, ds_sched_stats *stats, ds_error *err) {
    ds_sched_common c;
    memset(&c, 0, sizeof c);
    memset(stats, 0, sizeof *stats);
    c.o = o, c.s = o->s, c.err = err;
    DS_MPI_CHECK(MPI_Comm_rank(o->comm, &c.rank));
    DS_MPI_CHECK(MPI_Comm_size(o->comm, &c.size));
    int fits = ds_output_path(o->out_path, DS_OUTPUT_CKPT_DIR, c.ckdir, sizeof c.ckdir) == 0;
    DS_ASSERT(fits); /* OUT is at most 4095 bytes (cmd_run.c) */
    ds_modelfile_dir(o->out_path, c.mdir, sizeof c.mdir);
    int64_t S = o->s->seeds.count;
    double t0 = ds_now();
    int rc;
    if ((rc = ds_sched_check_groups(o->s, c.size, err))) return rc; /* the same on every rank */
    if (c.rank == 0) {
        /* an adaptive sweep's axis may be longer, and grows (adapt_rounds) */
        DS_ASSERT(o->store && (ds_store_n_seeds(o->store) == S ||
                               (o->s->seeds.adaptive.enabled && ds_store_n_seeds(o->store) > S)));
        S = ds_store_n_seeds(o->store);
        if (mkdir(c.ckdir, 0755) != 0 && errno != EEXIST) {
            char cause[256];
            ds_strerror_lc(errno, cause, sizeof cause);
            ds_error_set(err, DS_EXIT_STORAGE, "%s: cannot create the checkpoint directory: %s",
                         c.ckdir, cause);
            /* still run the protocol so that the workers leave */
        }
        if (!err->code && o->s->run.save_models && mkdir(c.mdir, 0755) != 0 && errno != EEXIST) {
            char cause[256];
            ds_strerror_lc(errno, cause, sizeof cause);
            ds_error_set(err, DS_EXIT_STORAGE, "%s: cannot create the models directory: %s",
                         c.mdir, cause);
        }
    }
    /* Workers write checkpoints into the directory rank 0 just made. */
    DS_MPI_CHECK(MPI_Barrier(o->comm));
    /* Every rank's node, for groups on one node first. */
    uint64_t *node = NULL;
    {
        char name[MPI_MAX_PROCESSOR_NAME + 1] = "";
        int len = 0;
        DS_MPI_CHECK(MPI_Get_processor_name(name, &len));
        uint64_t h = ds_fnv1a64(name, (size_t)len, 1469598103934665603ULL);
        if (c.rank == 0) node = DS_MALLOC(sizeof *node * (size_t)c.size);
        DS_MPI_CHECK(MPI_Gather(&h, 1, MPI_UINT64_T, node, 1, MPI_UINT64_T, 0, o->comm));
    }
    if (c.rank == 0) rc = err->code ? err->code : ds_sched_rank0(&c, S, node, stats);
    else rc = ds_sched_worker(&c);
    stats->wall_s = ds_now() - t0;
    free(node);
    return rc;
}
