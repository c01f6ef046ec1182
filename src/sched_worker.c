/* sched_worker: a worker's half of the sweep loop (src/scheduler.h,
 * src/sched_internal.h): ask rank 0 for work, train what it assigns (alone,
 * or as a member of a data-parallel group), report results, failures and
 * progress, and leave on STOP. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <string.h>

#include "packplan.h"
#include "sched_internal.h"
#include "signals.h"

#define POLL_MAX_S 2e-3   /* a waiting worker backs off to this polling interval */
#define PROGRESS_EVERY_S 2.0

/* A worker's context: the shared part, then its own state. */
typedef struct {
    ds_sched_common cm;
    int got_stop;
    double last_sent_progress;
} worker_ctx_t;

static int worker_hook(void *ctx, int64_t step, int R, const float *losses) {
    worker_ctx_t *c = ctx;
    if (ds_signals_stop_requested()) return 1;
    int flag = 0, n = 0;
    MPI_Status st;
    DS_MPI_CHECK(MPI_Iprobe(0, DS_MSG_STOP, c->cm.o->comm, &flag, &st));
    if (flag) {
        DS_MPI_CHECK(MPI_Get_count(&st, MPI_BYTE, &n));
        unsigned char *b = ds_sched_buf(&c->cm, (size_t)n + 1);
        DS_MPI_CHECK(MPI_Recv(b, n, MPI_BYTE, 0, DS_MSG_STOP, c->cm.o->comm, MPI_STATUS_IGNORE));
        ds_error e = {0};
        if (ds_msg_stop_decode(b, (size_t)n, &e)) ds_sched_refuse(0, &e);
        c->got_stop = 1;
        return 1;
    }
    double now = ds_now();
    if (now - c->last_sent_progress >= PROGRESS_EVERY_S) {
        c->last_sent_progress = now;
        unsigned char m[DS_MSG_HEADER + 12];
        float mean = 0;
        for (int r = 0; r < R; r++) mean += losses[r];
        mean = R ? mean / (float)R : NAN;
        ds_msg_progress pm = {.step = step, .loss = mean};
        size_t n = ds_msg_progress_encode(&pm, m, sizeof m);
        DS_ASSERT(n <= sizeof m);
        DS_MPI_CHECK(MPI_Send(m, (int)n, MPI_BYTE, 0, DS_MSG_PROGRESS, c->cm.o->comm));
    }
    return 0;
}

static void send_failed(worker_ctx_t *c, int kind, const char *msg) {
    ds_msg_failed m;
    ds_msg_failed_set(&m, kind, msg); /* rank 0 keeps DS_MSG_TEXT_MAX - 1 bytes, as it always did */
    size_t n = ds_msg_failed_encode(&m, NULL, 0);
    ds_msg_failed_encode(&m, ds_sched_buf(&c->cm, n), n);
    DS_MPI_CHECK(MPI_Send(c->cm.buf, (int)n, MPI_BYTE, 0, DS_MSG_FAILED, c->cm.o->comm));
}

/* Asks rank 0 for work (and ends the previous pack, if any). */
static void send_request(worker_ctx_t *c) {
    unsigned char m[DS_MSG_HEADER];
    size_t n = ds_msg_request_encode(m, sizeof m);
    DS_MPI_CHECK(MPI_Send(m, (int)n, MPI_BYTE, 0, DS_MSG_REQUEST, c->cm.o->comm));
}

static int run_worker(worker_ctx_t *c) {
    double busy = 0, idle = 0, t_req;
    int told_signal = 0;
    double poll = DS_SCHED_POLL_S;
    send_request(c);
    t_req = ds_now();
    while (!c->got_stop) {
        int flag = 0, n = 0;
        MPI_Status st;
        DS_MPI_CHECK(MPI_Iprobe(0, MPI_ANY_TAG, c->cm.o->comm, &flag, &st));
        if (!flag) {
            if (ds_signals_stop_requested() && !told_signal) {
                send_failed(c, DS_MSG_FAIL_INTERRUPTED, "signal");
                told_signal = 1;
            }
            /* Open MPI's blocking receive spins; a sleeping poll leaves the
             * cores to the ranks that train (many ranks share a node). */
            ds_sched_sleep(poll);
            poll = poll * 1.5 < POLL_MAX_S ? poll * 1.5 : POLL_MAX_S;
            continue;
        }
        poll = DS_SCHED_POLL_S;
        DS_MPI_CHECK(MPI_Get_count(&st, MPI_BYTE, &n));
        unsigned char *b = ds_sched_buf(&c->cm, (size_t)n + 8);
        DS_MPI_CHECK(MPI_Recv(b, n, MPI_BYTE, 0, st.MPI_TAG, c->cm.o->comm, MPI_STATUS_IGNORE));
        ds_error e = {0};
        if (st.MPI_TAG == DS_MSG_STOP) {
            if (ds_msg_stop_decode(b, (size_t)n, &e)) ds_sched_refuse(0, &e);
            c->got_stop = 1;
            break;
        }
        int group = st.MPI_TAG == DS_MSG_GASSIGN;
        if (st.MPI_TAG != DS_MSG_ASSIGN && !group) continue;
        ds_msg_assign a;
        if (group ? ds_msg_gassign_decode(b, (size_t)n, &a, &e)
                  : ds_msg_assign_decode(b, (size_t)n, &a, &e))
            ds_sched_refuse(0, &e);
        idle += ds_now() - t_req;
        int scale = a.scale, R = a.R, pack_id = a.pack_id, k = a.k;
        /* what the codec cannot know: this sweep's scales, this job's ranks */
        DS_ASSERT(scale < c->cm.s->n_scales && k < c->cm.size &&
                  (!group || a.ranks[k - 1] < c->cm.size));
        int64_t *seeds = a.seeds;
        /* a group's communicator, made by its members alone (the tag keeps
         * concurrent groups' creations apart) */
        MPI_Comm gcomm = MPI_COMM_NULL;
        int leader = 1;
        if (group) {
            int *ranks = DS_MALLOC(sizeof *ranks * (size_t)k);
            for (int i = 0; i < k; i++) ranks[i] = a.ranks[i];
            leader = ranks[0] == c->cm.rank;
            MPI_Group world, sub;
            DS_MPI_CHECK(MPI_Comm_group(c->cm.o->comm, &world));
            DS_MPI_CHECK(MPI_Group_incl(world, k, ranks, &sub));
            DS_MPI_CHECK(MPI_Comm_create_group(c->cm.o->comm, sub, pack_id % 32768, &gcomm));
            DS_MPI_CHECK(MPI_Group_free(&sub));
            DS_MPI_CHECK(MPI_Group_free(&world));
            free(ranks);
        }
        char ck[DS_PACK_PATH_MAX];
        ds_pack_path(c->cm.ckdir, scale, seeds, R, ".ckpt", ck, sizeof ck);
        ds_train_opts to = {.backend = c->cm.o->backend, .ckpt_path = ck, .hook = worker_hook,
                            .hook_ctx = c, .group = group ? &gcomm : NULL, .set_aside_damaged = 1,
                            .models_dir = c->cm.s->run.save_models ? c->cm.mdir : NULL};
        ds_run_result *res = DS_CALLOC((size_t)R, sizeof *res);
        ds_error jerr = {0};
        double t = ds_now();
        int rc = c->cm.o->run_pack(c->cm.o->run_ctx, c->cm.s, scale, seeds, R, &to, res, &jerr);
        busy += ds_now() - t;
        if (group) DS_MPI_CHECK(MPI_Comm_free(&gcomm));
        if (rc == 0) {
            /* a group's leader reports its runs; every member asks for more */
            for (int i = 0; i < R && leader; i++) {
                ds_record rec;
                ds_sched_result_record(&c->cm, scale, &res[i], &rec);
                rec.rank = c->cm.rank;
                size_t sz = ds_msg_result_encode(&rec, NULL, 0);
                ds_msg_result_encode(&rec, ds_sched_buf(&c->cm, sz), sz);
                DS_MPI_CHECK(MPI_Send(c->cm.buf, (int)sz, MPI_BYTE, 0, DS_MSG_RESULT, c->cm.o->comm));
            }
            send_request(c);
            t_req = ds_now();
        } else if (rc == DS_EXIT_INTERRUPTED) {
            send_failed(c, DS_MSG_FAIL_INTERRUPTED, "interrupted");
            told_signal = 1;
        } else if (rc == DS_EXIT_STORAGE) {
            /* not the runs' fault: rank 0 stops the sweep and sends STOP */
            send_failed(c, DS_MSG_FAIL_STORAGE, jerr.msg);
        } else {
            send_failed(c, jerr.nomem ? DS_MSG_FAIL_NOMEM : DS_MSG_FAIL_ERROR,
                        jerr.msg[0] ? jerr.msg : "pack failed");
            send_request(c);
            t_req = ds_now();
        }
        for (int i = 0; i < R; i++) ds_run_result_free(&res[i]);
        free(res);
        ds_msg_assign_free(&a); /* seeds */
    }
    ds_msg_stats sm = {.busy_s = busy, .idle_s = idle};
    unsigned char m[DS_MSG_HEADER + 16];
    size_t n = ds_msg_stats_encode(&sm, m, sizeof m);
    DS_ASSERT(n <= sizeof m);
    DS_MPI_CHECK(MPI_Send(m, (int)n, MPI_BYTE, 0, DS_MSG_STATS, c->cm.o->comm));
    return ds_signals_stop_requested() ? DS_EXIT_INTERRUPTED : 0;
}

int ds_sched_worker(const ds_sched_common *cm) {
    worker_ctx_t c;
    memset(&c, 0, sizeof c);
    c.cm = *cm;
    int rc = run_worker(&c);
    free(c.cm.buf);
    return rc;
}
