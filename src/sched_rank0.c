/* sched_rank0: rank 0's half of the sweep loop (src/scheduler.h,
 * src/sched_internal.h): the packs' lives, the workers' state table
 * (W_NEXT), absorbing and storing results, adaptive rounds, data-parallel
 * groups and the progress display. Rank 0 also trains packs itself
 * (train_own) and services messages from its between-steps hook. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "adaptive.h"
#include "packplan.h"
#include "sched_internal.h"
#include "signals.h"

#define STOP_WAIT_S 600.0 /* how long rank 0 waits for every rank to answer STOP */
/* Group commit: results are stored (journal fsync + HDF5 flush) once this many
 * are waiting or the oldest has waited this long. A result not yet stored is
 * not lost by a crash: its pack's checkpoint is only deleted after storing. */
#define BATCH_MAX 512
#define BATCH_WAIT_S 0.05

/* What rank 0 tracks of a running pack beside its entry in the pack table
 * (src/packplan.h); set when the pack is assigned. */
typedef struct {
    int received; /* results received */
    int64_t seen; /* last step counted in work_done (-1: none reported yet) */
    /* Its ranks (one, or a data-parallel group's k) and how they let it go:
     * the pack's fate is decided when the last one does (pack_released). */
    int held;     /* ranks still holding it */
    int stopped;  /* a rank gave it back on a stop signal or a storage failure */
    int errored;  /* a rank reported a job error */
    int any_error; /* ... one that was not an out-of-memory failure */
    int err_rank;
    char msg[512]; /* the first job error's text (a member's own before "another member") */
} pack_run_t;

typedef struct {
    int state;    /* W_* (the machine below); rank 0's own entry keeps W_NEW */
    int pack;     /* the pack it trains, while BUSY or STOPPING (rank 0: while training) */
    int64_t step;
    float loss;
    double busy_s, idle_s;
} worker_t;

/* Rank 0's context: the shared part, then its own tables. */
typedef struct {
    ds_sched_common cm;
    int64_t S;        /* the store's seed axis (grows with adaptive rounds) */
    ds_packs packs;   /* every pack of this invocation */
    pack_run_t *prun; /* [cap_prun]: entry pi valid while pack pi is running */
    int cap_prun;
    worker_t *w;
    uint8_t *inflight; /* [scale][S]: in a running pack */
    int32_t *fails;    /* [scale][S]: failed attempts in this invocation */
    ds_record *batch;
    int n_batch, cap_batch;
    double batch_t0; /* when the oldest result of the batch arrived */
    int *finished;     /* packs whose files go once the batch is stored */
    int n_finished, cap_finished;
    int stopping;
    int stats_missing; /* workers not yet LEFT */
    int store_failed;   /* a write of results or checkpoints failed: stopping, exit 4 */
    ds_error store_err; /* the first such failure, reported once at the end */
    double stop_t0;     /* when STOP went out */
    double stop_wait_s; /* STOP_WAIT_S, or DISTSWEEP_STOP_WAIT_S from the environment */
    ds_sched_stats *st;
    const uint64_t *node; /* [size]: a hash of each rank's processor name (groups: one node first) */
    double t0, last_progress;
    ds_adapt_state *adapt; /* [n_scales], adaptive sweeps only (src/adaptive.h) */
    double work_done; /* training FLOPs done in this invocation (ETA) */
    int64_t total_runs, finished_at_start;
    int tty;
} rank0_t;

static size_t run_at(const rank0_t *c, int scale, int64_t seed) {
    return (size_t)scale * (size_t)c->S + (size_t)(seed - c->cm.s->seeds.start);
}

static int add_pack(rank0_t *c, int scale, const int64_t *seeds, int R) {
    return ds_packs_add(&c->packs, scale, seeds, R, c->cm.s->scales[scale].flops_per_step);
}

static int count_packs(const rank0_t *c, ds_pack_state state) {
    return ds_packs_count(&c->packs, state);
}

/* Rebuilds packs from the manifests of a previous invocation, then packs the
 * remaining pending runs (src/packplan.h). */
static void plan_packs(rank0_t *c) {
    const ds_sweep *s = c->cm.s;
    size_t nrun = (size_t)s->n_scales * (size_t)c->S;
    uint8_t *status = DS_MALLOC(nrun ? nrun : 1);
    for (int sc = 0; sc < s->n_scales; sc++)
        for (int64_t i = 0; i < c->S; i++)
            status[run_at(c, sc, s->seeds.start + i)] = (uint8_t)ds_store_status(c->cm.o->store, sc, i);
    ds_pack_remove_groups(c->cm.ckdir); /* no group trains yet */
    ds_plan_opts po = {.s = s, .status = status, .n_seeds = c->S, .ckdir = c->cm.ckdir,
                       .pack = c->cm.o->pack > 0 ? c->cm.o->pack : s->run.pack, .nranks = c->cm.size,
                       .backend = c->cm.o->backend, .device_bytes = c->cm.o->device_bytes};
    ds_pack_plan(&po, &c->packs);
    free(status);
}

/* ---- rank 0: adaptive rounds (src/adaptive.h) ----------------------------- */

static void store_failure(rank0_t *c, const ds_error *e);

/* The runs of this invocation's grid that are requested (not unrequested). */
static int64_t requested_runs(const rank0_t *c) {
    int64_t n = 0;
    for (int sc = 0; sc < c->cm.s->n_scales; sc++)
        for (int64_t i = 0; i < c->S; i++)
            n += ds_store_status(c->cm.o->store, sc, i) != DS_RUN_UNREQUESTED;
    return n;
}

/* The seed axis grew from c->S to S: the per-run tables follow. */
static void regrow_runs(rank0_t *c, int64_t S) {
    size_t n = (size_t)c->cm.s->n_scales * (size_t)S;
    uint8_t *inflight = DS_CALLOC(n, 1);
    int32_t *fails = DS_CALLOC(n, sizeof *fails);
    for (int sc = 0; sc < c->cm.s->n_scales; sc++)
        for (int64_t i = 0; i < c->S; i++) {
            size_t from = run_at(c, sc, c->cm.s->seeds.start + i);
            inflight[(size_t)sc * (size_t)S + (size_t)i] = c->inflight[from];
            fails[(size_t)sc * (size_t)S + (size_t)i] = c->fails[from];
        }
    free(c->inflight);
    free(c->fails);
    c->inflight = inflight, c->fails = fails, c->S = S;
}

/* Decides every scale whose requested runs are all finished (stored), asks
 * the store for the seeds the decisions add, and (after the start, when
 * plan_packs has already run) packs the new pending runs. At the start every
 * scale is replayed from round 0 over the stored runs, so a resumed sweep
 * requests what an uninterrupted one does. Nothing is decided while
 * stopping. A storage failure stops the sweep (store_failure). */
static void adapt_rounds(rank0_t *c, int at_start) {
    const ds_sweep *s = c->cm.s;
    if (!c->adapt || c->stopping || c->store_failed) return;
    int grew = 0;
    int64_t *before = DS_MALLOC(sizeof *before * (size_t)s->n_scales);
    uint8_t *status = DS_MALLOC((size_t)c->S + 1);
    double *value = DS_MALLOC(sizeof *value * ((size_t)c->S + 1));
    for (int sc = 0; sc < s->n_scales; sc++) {
        ds_adapt_state *a = &c->adapt[sc];
        before[sc] = a->requested;
        if (a->stopped) continue;
        /* cheap test first: a requested run still pending blocks the round */
        int blocked = 0;
        for (int64_t i = 0; i < a->requested && i < c->S && !blocked; i++)
            blocked = ds_store_status(c->cm.o->store, sc, i) == DS_RUN_PENDING;
        if (blocked) continue;
        for (int64_t i = 0; i < c->S; i++) {
            status[i] = (uint8_t)ds_store_status(c->cm.o->store, sc, i);
            value[i] = ds_store_counted_value(c->cm.o->store, sc, i);
        }
        grew |= ds_adapt_decide(s, sc, status, value, c->S, a);
    }
    free(status);
    free(value);
    if (grew || at_start) {
        int64_t *req = DS_MALLOC(sizeof *req * (size_t)s->n_scales);
        for (int sc = 0; sc < s->n_scales; sc++) req[sc] = c->adapt[sc].requested;
        ds_error e = {0};
        if (ds_store_set_requested(c->cm.o->store, req, &e)) {
            store_failure(c, &e);
        } else {
            if (ds_store_n_seeds(c->cm.o->store) > c->S) regrow_runs(c, ds_store_n_seeds(c->cm.o->store));
            c->total_runs = requested_runs(c);
            for (int sc = 0; sc < s->n_scales && !at_start; sc++) {
                if (req[sc] <= before[sc]) continue;
                /* the new round's seeds, packed as plan_packs packs (pack size, or auto) */
                int64_t n_new = req[sc] - before[sc];
                int P = c->cm.o->pack > 0 ? c->cm.o->pack : s->run.pack;
                if (P <= 0)
                    P = ds_pack_fit(s, sc, ds_pack_auto_size(n_new, c->cm.size, c->cm.o->backend),
                                    c->cm.o->device_bytes);
                int64_t *buf = DS_MALLOC(sizeof *buf * (size_t)P);
                int k = 0;
                for (int64_t i = before[sc]; i < req[sc]; i++) {
                    if (ds_store_status(c->cm.o->store, sc, i) != DS_RUN_PENDING) continue;
                    buf[k++] = s->seeds.start + i;
                    if (k == P) add_pack(c, sc, buf, k), k = 0;
                }
                if (k) add_pack(c, sc, buf, k);
                free(buf);
            }
        }
        free(req);
    }
    free(before);
}

/* ---- rank 0: absorbing results ------------------------------------------- */

static void batch_add(rank0_t *c, const ds_record *rec) {
    if (c->n_batch == 0) c->batch_t0 = ds_now();
    if (c->n_batch == c->cap_batch) {
        c->cap_batch = c->cap_batch ? 2 * c->cap_batch : 64;
        c->batch = DS_REALLOC(c->batch, sizeof *c->batch * (size_t)c->cap_batch);
    }
    c->batch[c->n_batch++] = *rec;
}

/* Pack pi reports reaching `step`: the steps since its last report count as
 * work done. The first report only sets the baseline, so the steps a resumed
 * pack restored from its checkpoint never count as work of this invocation. */
static void note_step(rank0_t *c, int pi, int64_t step) {
    const ds_pack *p = &c->packs.p[pi];
    if (p->state != DS_PACK_RUNNING) return;
    pack_run_t *pr = &c->prun[pi];
    if (step <= pr->seen) return;
    if (pr->seen >= 0) c->work_done += p->cost * (double)(step - pr->seen);
    pr->seen = step;
}

/* Steps of running pack pi counted as trained so far (0 before its first report). */
static int64_t reported_steps(const rank0_t *c, int pi) {
    DS_ASSERT(c->packs.p[pi].state == DS_PACK_RUNNING);
    return c->prun[pi].seen > 0 ? c->prun[pi].seen : 0;
}

/* Its runs are no longer in a running pack. */
static void release_runs(rank0_t *c, const ds_pack *p) {
    for (int i = 0; i < p->R; i++) c->inflight[run_at(c, p->scale, p->seeds[i])] = 0;
}

/* Training FLOPs still to do: pending packs in full (a checkpoint they may
 * resume from is not known here), running ones from their last report. */
static double work_left(const rank0_t *c) {
    double left = 0, steps = (double)c->cm.s->train.steps;
    for (int i = 0; i < c->packs.n; i++) {
        const ds_pack *p = &c->packs.p[i];
        if (p->state == DS_PACK_PENDING) left += p->cost * steps;
        else if (p->state == DS_PACK_RUNNING) left += p->cost * (steps - (double)reported_steps(c, i));
    }
    return left;
}

/* Pack pi goes back to pending (its rank stopped on a signal): its runs are
 * free to be assigned again, its checkpoint stays for the resume. */
static void unassign_pack(rank0_t *c, int pi) {
    ds_pack *p = &c->packs.p[pi];
    release_runs(c, p);
    p->state = DS_PACK_PENDING;
}

/* Every result of pack pi arrived: its files go once they are stored. */
static void finish_pack(rank0_t *c, int pi) {
    ds_pack *p = &c->packs.p[pi];
    /* the steps after its last report (all of them for a short pack) */
    c->work_done += p->cost * (double)(c->cm.s->train.steps - reported_steps(c, pi));
    p->state = DS_PACK_DONE;
    release_runs(c, p);
    if (c->n_finished == c->cap_finished) {
        c->cap_finished = c->cap_finished ? 2 * c->cap_finished : 64;
        c->finished = DS_REALLOC(c->finished, sizeof *c->finished * (size_t)c->cap_finished);
    }
    c->finished[c->n_finished++] = pi;
}

static void begin_stop(rank0_t *c);

/* The results or a checkpoint could not be written (disk full, read-only,
 * I/O error): stop the sweep as on a signal. No run is marked failed or
 * charged an attempt; the first failure is the message of the exit. */
static void store_failure(rank0_t *c, const ds_error *e) {
    if (!c->store_failed) {
        c->store_failed = 1;
        c->store_err = *e;
        c->store_err.code = DS_EXIT_STORAGE;
    }
    begin_stop(c);
}

/* Stores the batch (one journal fsync, two flushes), then removes the
 * checkpoints of packs that are now entirely in the file. */
static int flush_batch(rank0_t *c) {
    int rc = 0;
    if (c->n_batch && !c->store_failed) {
        double t = ds_now();
        ds_error e = {0};
        rc = ds_store_put(c->cm.o->store, c->batch, c->n_batch, &e);
        c->st->store_s += ds_now() - t;
        if (!rc) c->st->stored += c->n_batch;
        else if (rc == DS_EXIT_STORAGE) store_failure(c, &e);
        else *c->cm.err = e; /* a run outside the sweep: a bug, not the disk */
    }
    /* After a storage failure results are dropped: their packs keep their
     * manifests and checkpoints, and the resume trains them again. */
    for (int i = 0; i < c->n_batch; i++) ds_record_free(&c->batch[i]);
    c->n_batch = 0;
    if (c->store_failed) return rc == DS_EXIT_STORAGE ? 0 : rc;
    if (!rc) {
        for (int i = 0; i < c->n_finished; i++) {
            ds_pack_remove_files(c->cm.ckdir, &c->packs.p[c->finished[i]]);
            ds_packs_kill(&c->packs, c->finished[i]);
        }
        c->n_finished = 0;
    }
    return rc;
}

/* A pack failed: count the attempt of each of its runs; runs out of attempts
 * are stored as failed, the others go back as smaller packs. A pack of
 * several seeds whose memory could not be allocated (nomem) is not the
 * runs' fault: it goes back as two halves with nothing charged, until a
 * pack of one seed fails, which counts as any failure (docs/design.md §7). */
static void fail_pack(rank0_t *c, int pi, int rank, const char *msg, int nomem) {
    const ds_pack *p = &c->packs.p[pi];
    int scale = p->scale;
    int charge = !(nomem && p->R > 1);
    fprintf(stderr, "distsweep: pack of %d run(s) of scale %d (seeds %lld..) failed on rank %d: %s%s\n",
            p->R, p->scale, (long long)p->seeds[0], rank, msg,
            charge ? "" : " (out of memory: retried as two smaller packs, no attempt charged)");
    int64_t *retry = DS_MALLOC(sizeof *retry * (size_t)p->R);
    int n = 0;
    for (int i = 0; i < p->R; i++) {
        size_t at = run_at(c, p->scale, p->seeds[i]);
        c->inflight[at] = 0;
        if (!charge) {
            retry[n++] = p->seeds[i];
            continue;
        }
        c->fails[at]++;
        if (c->fails[at] < c->cm.s->run.max_attempts) {
            retry[n++] = p->seeds[i];
            continue;
        }
        ds_record rec;
        memset(&rec, 0, sizeof rec);
        rec.scale = p->scale, rec.attempts = c->fails[at], rec.rank = rank;
        rec.n_len = c->cm.s->task.n_eval_lengths;
        rec.r.seed = p->seeds[i];
        rec.r.status = DS_RUN_FAILED;
        rec.r.final_loss = rec.r.id_em = NAN;
        for (int l = 0; l < DS_MAX_EVAL_LENGTHS; l++)
            for (int m = 0; m < DS_N_METRICS; m++) rec.r.metrics[l][m] = NAN;
        batch_add(c, &rec);
    }
    ds_pack_remove_files(c->cm.ckdir, p);
    ds_packs_kill(&c->packs, pi);
    /* retry in two halves: a smaller pack may fit where the big one did not */
    int half = (n + 1) / 2;
    if (n > 0) add_pack(c, scale, retry, half);
    if (n > half) add_pack(c, scale, retry + half, n - half);
    free(retry);
}

static void send_stop(rank0_t *c, int r) {
    unsigned char m[DS_MSG_HEADER];
    size_t n = ds_msg_stop_encode(m, sizeof m);
    DS_MPI_CHECK(MPI_Send(m, (int)n, MPI_BYTE, r, DS_MSG_STOP, c->cm.o->comm));
}

/* ---- rank 0: the workers' state machine ----------------------------------
 *
 * Each worker (rank > 0) as rank 0 sees it, changed only by worker_event:
 *
 *   NEW --REQUEST--> PARKED --ASSIGN--> BUSY --STOP!--> STOPPING
 *    ^                 ^                 |  |               |
 *    |                 +----REQUEST------+  |               | REQUEST, FAILED
 *    +------------FAILED error--------------+               v
 *                    NEW, PARKED --STOP!-----------------> DONE --STATS--> LEFT
 *                    PARKED, BUSY --FAILED stop, STOP!---> DONE
 *
 * The whole machine, next state by event and state ("-": cannot happen in
 * the protocol, asserted; "!": rank 0 sends STOP to the worker):
 *
 *   event (from)          NEW      PARKED   BUSY       STOPPING   DONE   LEFT
 *   REQUEST (worker)      PARKED   -        PARKED e   DONE e     DONE   -
 *   ASSIGN (rank 0)       -        BUSY     -          -          -      -
 *   FAILED error (worker) -        -        NEW f      DONE f     DONE   -
 *   FAILED stop (worker)  -        PARKED   PARKED u   DONE u     DONE   -
 *   STOP (rank 0)         DONE!    DONE!    STOPPING!  STOPPING   DONE   LEFT
 *   STATS (worker)        -        -        -          -          LEFT   -
 *
 * e: its pack ended: finished if every result arrived, else failed;
 * f: its pack failed (each run charged an attempt); u: its pack goes back to
 * pending (a stop signal or a storage failure; nothing charged). For a pack
 * of a data-parallel group these are its members' outcomes, and the pack's
 * fate is decided when the last member's arrives (pack_released, below).
 * PARKED is never kept while the sweep stops: a worker entering it then
 * gets STOP at once (DONE!); a FAILED stop is always followed by
 * begin_stop, so it too ends in DONE!.
 * NEW: a REQUEST is expected next (at the start, and between a FAILED error
 * and the REQUEST that follows it). DONE: STOP was sent or the worker's
 * pack ended after it; STATS is its last message. LEFT: STATS arrived.
 * Messages from one worker arrive in the order it sent them: REQUEST first;
 * after an ASSIGN, PROGRESS..., then RESULT x R + REQUEST, FAILED error +
 * REQUEST, or FAILED stop; FAILED stop also when a signal reaches it idle;
 * STATS after STOP. DONE also takes what was in flight when STOP went out
 * (a first REQUEST; the REQUEST after a FAILED error) or when rank 0 took
 * the worker's pack back (a FAILED stop that crossed an ASSIGN: that pack's
 * RESULTs are ignored, its REQUEST or FAILED change nothing). */
enum { W_NEW, W_PARKED, W_BUSY, W_STOPPING, W_DONE, W_LEFT, W_N, W_BAD = -1 };
enum { EV_REQUEST, EV_ASSIGN, EV_FAILED_ERROR, EV_FAILED_STOP, EV_STOP, EV_STATS, EV_N };

static const signed char W_NEXT[EV_N][W_N] = {
    /*                  NEW     PARKED    BUSY        STOPPING    DONE    LEFT */
    [EV_REQUEST]      = {W_PARKED, W_BAD, W_PARKED,   W_DONE,     W_DONE, W_BAD},
    [EV_ASSIGN]       = {W_BAD, W_BUSY,   W_BAD,      W_BAD,      W_BAD,  W_BAD},
    [EV_FAILED_ERROR] = {W_BAD, W_BAD,    W_NEW,      W_DONE,     W_DONE, W_BAD},
    [EV_FAILED_STOP]  = {W_BAD, W_PARKED, W_PARKED,   W_DONE,     W_DONE, W_BAD},
    [EV_STOP]         = {W_DONE, W_DONE,  W_STOPPING, W_STOPPING, W_DONE, W_LEFT},
    [EV_STATS]        = {W_BAD, W_BAD,    W_BAD,      W_BAD,      W_LEFT, W_BAD},
};
static const char *const W_NAME[W_N] = {"NEW", "PARKED", "BUSY", "STOPPING", "DONE", "LEFT"};
static const char *const EV_NAME[EV_N] = {"REQUEST", "ASSIGN", "FAILED error", "FAILED stop",
                                          "STOP", "STATS"};

/* A worker in this state trains a pack (its w->pack). */
static int holds_pack(int state) { return state == W_BUSY || state == W_STOPPING; }

/* Applies event ev to worker r > 0 by the table above: sends STOP where the
 * table says so, records pack pi on ASSIGN (pi is -1 otherwise), and dies
 * on an event the protocol does not allow in the worker's state. Returns the
 * pack the worker stopped holding with this event, or -1: the caller decides
 * its fate (finish, fail or unassign it). */
static int worker_event(rank0_t *c, int r, int ev, int pi) {
    DS_ASSERT(r > 0 && r < c->cm.size && ev >= 0 && ev < EV_N);
    worker_t *w = &c->w[r];
    int from = w->state, to = W_NEXT[ev][from];
    if (to == W_BAD)
        ds_die(DS_EXIT_ERROR, "%s:%d: assertion failed: rank %d: %s in state %s", __FILE__,
               __LINE__, r, EV_NAME[ev], W_NAME[from]);
    DS_ASSERT((ev == EV_ASSIGN) == (pi >= 0) && !(ev == EV_ASSIGN && c->stopping));
    int released = holds_pack(from) && !holds_pack(to) ? w->pack : -1;
    if (ev == EV_STOP && to != from) send_stop(c, r);
    if (ev == EV_ASSIGN) w->pack = pi;
    w->state = to;
    if (to == W_PARKED && c->stopping) worker_event(c, r, EV_STOP, -1);
    return released;
}

/* Pack pi starts running on `held` ranks: its runs are in flight, its manifest written. */
static void start_pack(rank0_t *c, int pi, int held) {
    ds_pack *p = &c->packs.p[pi];
    DS_ASSERT(p->state == DS_PACK_PENDING);
    for (int i = 0; i < p->R; i++) {
        size_t at = run_at(c, p->scale, p->seeds[i]);
        DS_ASSERT(!c->inflight[at]); /* never two running copies of a run */
        c->inflight[at] = 1;
    }
    if (c->packs.n > c->cap_prun) {
        c->cap_prun = c->packs.cap;
        c->prun = DS_REALLOC(c->prun, sizeof *c->prun * (size_t)c->cap_prun);
    }
    p->state = DS_PACK_RUNNING;
    c->prun[pi] = (pack_run_t){.received = 0, .seen = -1, .held = held};
    ds_pack_write_manifest(c->cm.ckdir, p);
}

static void assign(rank0_t *c, int r, int pi) {
    start_pack(c, pi, 1);
    if (r == 0) return;
    const ds_pack *p = &c->packs.p[pi];
    ds_msg_assign a = {.scale = p->scale, .R = p->R, .pack_id = pi, .k = 1, .seeds = p->seeds};
    size_t n = ds_msg_assign_encode(&a, NULL, 0);
    ds_msg_assign_encode(&a, ds_sched_buf(&c->cm, n), n);
    DS_MPI_CHECK(MPI_Send(c->cm.buf, (int)n, MPI_BYTE, r, DS_MSG_ASSIGN, c->cm.o->comm));
    worker_event(c, r, EV_ASSIGN, pi);
}

/* Stops the sweep (once): every worker not told yet gets STOP, in rank order. */
static void begin_stop(rank0_t *c) {
    if (c->stopping) return;
    c->stopping = 1;
    c->stop_t0 = ds_now();
    for (int r = 1; r < c->cm.size; r++) worker_event(c, r, EV_STOP, -1);
}

/* ---- rank 0: data-parallel groups (docs/design.md §8) --------------------
 *
 * A pack of a scale with ranks_per_job k > 1 is trained by a group of k
 * workers (never rank 0, which schedules and writes between its own steps:
 * a collective there would tie the sweep to the group's slowest member).
 * Groups are formed when the pack is handed out, from parked workers, k on
 * one node if one has them, else the lowest k; each member gets GASSIGN
 * (scale, R, pack, k, the ranks, the seeds), makes the group's communicator
 * with MPI_Comm_create_group (collective over the members only) and trains
 * its share of every batch (src/engine.h). Each member is a BUSY worker of
 * the machine above holding the pack; the leader (the lowest rank) sends
 * the RESULTs, and every member's REQUEST or FAILED lets the pack go. When
 * the last member has let it go, pack_released decides its fate as for a
 * one-rank pack. A member that dies ends the job (the launcher kills the
 * others, as for any rank): nothing is charged, and the resume trains the
 * pack again from its checkpoint. */

static int pack_k(const rank0_t *c, const ds_pack *p) { return c->cm.s->scales[p->scale].ranks_per_job; }

static int ungrouped(const ds_pack *p, void *ctx) { return pack_k(ctx, p) == 1; }

/* Fills ranks[0..k-1] (ascending) with parked workers for a pack of group
 * size k: k of one node if a node has that many parked, else the k lowest.
 * Returns 0 when fewer than k workers are parked. */
static int pick_workers(const rank0_t *c, int k, int *ranks) {
    int n = 0;
    for (int r = 1; r < c->cm.size; r++) n += c->w[r].state == W_PARKED;
    if (n < k) return 0;
    for (int r = 1; r < c->cm.size; r++) { /* a node with k parked, the lowest rank's first */
        if (c->w[r].state != W_PARKED) continue;
        int m = 0;
        for (int q = r; q < c->cm.size && m < k; q++)
            if (c->w[q].state == W_PARKED && c->node[q] == c->node[r]) ranks[m++] = q;
        if (m == k) return 1;
    }
    int m = 0;
    for (int r = 1; r < c->cm.size && m < k; r++)
        if (c->w[r].state == W_PARKED) ranks[m++] = r;
    return 1;
}

/* Hands pack pi to the group of k workers ranks[] (ascending; ranks[0] leads). */
static void assign_group(rank0_t *c, int pi, const int *ranks, int k) {
    start_pack(c, pi, k);
    const ds_pack *p = &c->packs.p[pi];
    ds_pack_write_group(c->cm.ckdir, p, ranks, k);
    int32_t *r32 = DS_MALLOC(sizeof *r32 * (size_t)k);
    for (int i = 0; i < k; i++) r32[i] = ranks[i];
    ds_msg_assign a = {.scale = p->scale, .R = p->R, .pack_id = pi, .k = k, .ranks = r32,
                       .seeds = p->seeds};
    size_t n = ds_msg_gassign_encode(&a, NULL, 0);
    ds_msg_gassign_encode(&a, ds_sched_buf(&c->cm, n), n);
    free(r32);
    for (int i = 0; i < k; i++) {
        DS_MPI_CHECK(MPI_Send(c->cm.buf, (int)n, MPI_BYTE, ranks[i], DS_MSG_GASSIGN, c->cm.o->comm));
        worker_event(c, ranks[i], EV_ASSIGN, pi);
    }
}

/* How a rank let its pack go (the `e`, `f` and `u` of the table above);
 * REL_NOMEM is an error (`f`) that was an out-of-memory failure. */
enum { REL_END, REL_ERROR, REL_NOMEM, REL_STOP };

/* Rank src let pack pi go; once the last of its ranks has, the pack is
 * given back (any stop: nothing charged), failed (any job error: each run
 * charged an attempt), finished (every result arrived) or failed for
 * missing results. For a one-rank pack this is its rank's outcome. */
static void pack_released(rank0_t *c, int pi, int src, int how, const char *msg) {
    pack_run_t *pr = &c->prun[pi];
    DS_ASSERT(pr->held > 0);
    pr->held--;
    if (how == REL_STOP) pr->stopped = 1;
    if (how == REL_ERROR) pr->any_error = 1;
    if (how == REL_ERROR || how == REL_NOMEM) {
        /* a member's own error is the message, not another member's echo of it */
        int echo = !strncmp(msg, "another member", 14);
        if (!pr->errored || (!strncmp(pr->msg, "another member", 14) && !echo)) {
            snprintf(pr->msg, sizeof pr->msg, "%s", msg);
            pr->err_rank = src;
        }
        pr->errored = 1;
    }
    if (pr->held > 0) return;
    if (pr->stopped) unassign_pack(c, pi);
    else if (pr->errored) fail_pack(c, pi, pr->err_rank, pr->msg, !pr->any_error);
    else if (pr->received == c->packs.p[pi].R) finish_pack(c, pi);
    else fail_pack(c, pi, src, "worker finished without sending every result", 0);
}

/* Hands pending packs to parked workers, most expensive first; a grouped
 * pack first in line waits for k parked workers, and the parked ones wait
 * with it (rank 0 meanwhile trains ungrouped packs). Stops every worker
 * when nothing is left. */
static void dispatch(rank0_t *c) {
    if (c->stopping) return;
    int *ranks = DS_MALLOC(sizeof *ranks * (size_t)c->cm.size);
    for (;;) {
        int pi = ds_packs_next(&c->packs);
        if (pi < 0) break;
        int k = pack_k(c, &c->packs.p[pi]);
        if (!pick_workers(c, k, ranks)) break;
        if (k == 1) assign(c, ranks[0], pi);
        else assign_group(c, pi, ranks, k);
    }
    free(ranks);
    if (count_packs(c, DS_PACK_PENDING) == 0 && count_packs(c, DS_PACK_RUNNING) == 0)
        for (int r = 1; r < c->cm.size; r++)
            if (c->w[r].state == W_PARKED || c->w[r].state == W_NEW)
                worker_event(c, r, EV_STOP, -1);
}

static void fmt_hms(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 1e8) {
        snprintf(buf, n, "--:--:--");
        return;
    }
    long t = (long)(s + 0.5);
    snprintf(buf, n, "%02ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
}

static void progress(rank0_t *c, int force) {
    if (c->cm.o->quiet) return;
    double now = ds_now();
    if (!force && now - c->last_progress < (c->tty ? 1.0 : 10.0)) return;
    c->last_progress = now;
    int64_t done = c->finished_at_start + c->st->stored;
    double el = now - c->t0, rate = el > 0 ? (double)c->st->stored / el : 0;
    /* ETA from training FLOPs, not finished runs: packs train for hours
     * before their first run finishes, and scales differ in cost */
    double wrate = el > 0 ? c->work_done / el : 0;
    char eta[32], line[512];
    fmt_hms(wrate > 0 ? work_left(c) / wrate : -1, eta, sizeof eta);
    int k = snprintf(line, sizeof line, "[distsweep] %lld/%lld runs, %.1f runs/h, ETA %s, losses",
                     (long long)done, (long long)c->total_runs, rate * 3600.0, eta);
    int shown = 0;
    for (int r = 0; r < c->cm.size && shown < 8 && k < (int)sizeof line - 24; r++) {
        if (!(c->w[r].loss == c->w[r].loss) || c->w[r].step <= 0) continue;
        k += snprintf(line + k, sizeof line - (size_t)k, " r%d:%.3f", r, c->w[r].loss);
        shown++;
    }
    if (!shown) snprintf(line + k, sizeof line - (size_t)k, " -");
    if (c->tty) fprintf(stderr, "\r%-100s", line);
    else fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

static void on_result(rank0_t *c, int src, const unsigned char *b, int n) {
    ds_record rec;
    worker_t *w = &c->w[src];
    ds_error e = {0};
    if (ds_msg_result_decode(b, (size_t)n, &rec, &e)) ds_sched_refuse(src, &e);
    if (!holds_pack(w->state)) {
        /* the RESULTs of a pack rank 0 took back (the table's DONE) */
        fprintf(stderr, "distsweep: malformed or unexpected RESULT from rank %d ignored\n", src);
        ds_record_free(&rec);
        return;
    }
    const ds_pack *p = &c->packs.p[w->pack];
    int in = 0;
    for (int i = 0; i < p->R; i++) in |= p->seeds[i] == rec.r.seed;
    if (!in || rec.scale != p->scale) {
        fprintf(stderr, "distsweep: RESULT for a run not in rank %d's pack ignored\n", src);
        ds_record_free(&rec);
        return;
    }
    rec.rank = src;
    rec.attempts = c->fails[run_at(c, rec.scale, rec.r.seed)] + 1;
    batch_add(c, &rec);
    c->prun[w->pack].received++;
}

static void on_request(rank0_t *c, int src, const unsigned char *b, int n) {
    ds_error e = {0};
    if (ds_msg_request_decode(b, (size_t)n, &e)) ds_sched_refuse(src, &e);
    int pi = worker_event(c, src, EV_REQUEST, -1);
    if (pi >= 0) pack_released(c, pi, src, REL_END, "");
    c->w[src].loss = NAN, c->w[src].step = 0; /* no pack, no current loss */
}

static void on_failed(rank0_t *c, int src, const unsigned char *b, int n) {
    ds_msg_failed m;
    ds_error e = {0};
    if (ds_msg_failed_decode(b, (size_t)n, &m, &e)) ds_sched_refuse(src, &e);
    int kind = m.kind;
    const char *msg = m.text;
    if (kind != DS_MSG_FAIL_INTERRUPTED && kind != DS_MSG_FAIL_STORAGE) {
        int pi = worker_event(c, src, EV_FAILED_ERROR, -1);
        if (pi >= 0)
            pack_released(c, pi, src, kind == DS_MSG_FAIL_NOMEM ? REL_NOMEM : REL_ERROR, msg);
        return;
    }
    /* a signal reached that rank, or its disk failed: the whole sweep
     * stops, and the worker waits for STOP */
    int pi = worker_event(c, src, EV_FAILED_STOP, -1);
    if (pi >= 0) pack_released(c, pi, src, REL_STOP, "");
    if (kind == DS_MSG_FAIL_STORAGE) {
        ds_error e = {0};
        ds_error_set(&e, DS_EXIT_STORAGE, "%s", msg);
        store_failure(c, &e);
    }
    begin_stop(c);
    DS_ASSERT(c->w[src].state == W_DONE);
}

/* Rank 0: receives and handles every message waiting; stores the results
 * when the group-commit batch is due (or at once when force is set). */
static int service_ex(rank0_t *c, int force) {
    for (;;) {
        int flag = 0, n = 0;
        MPI_Status st;
        DS_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, c->cm.o->comm, &flag, &st));
        if (!flag) break;
        DS_MPI_CHECK(MPI_Get_count(&st, MPI_BYTE, &n));
        unsigned char *b = ds_sched_buf(&c->cm, (size_t)n + 1);
        DS_MPI_CHECK(MPI_Recv(b, n, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, c->cm.o->comm,
                              MPI_STATUS_IGNORE));
        int src = st.MPI_SOURCE;
        DS_ASSERT(src > 0 && src < c->cm.size);
        switch (st.MPI_TAG) {
        case DS_MSG_REQUEST: on_request(c, src, b, n); break;
        case DS_MSG_RESULT: on_result(c, src, b, n); break;
        case DS_MSG_FAILED: on_failed(c, src, b, n); break;
        case DS_MSG_PROGRESS: {
            ds_msg_progress m;
            ds_error e = {0};
            if (ds_msg_progress_decode(b, (size_t)n, &m, &e)) ds_sched_refuse(src, &e);
            c->w[src].step = m.step, c->w[src].loss = m.loss;
            if (holds_pack(c->w[src].state)) note_step(c, c->w[src].pack, c->w[src].step);
            break;
        }
        case DS_MSG_STATS: {
            worker_event(c, src, EV_STATS, -1);
            c->stats_missing--;
            ds_msg_stats m;
            ds_error e = {0};
            if (ds_msg_stats_decode(b, (size_t)n, &m, &e)) ds_sched_refuse(src, &e);
            c->st->busy_s += m.busy_s, c->st->idle_s += m.idle_s;
            break;
        }
        default:
            fprintf(stderr, "distsweep: message with unknown tag %d from rank %d ignored\n",
                    st.MPI_TAG, src);
        }
    }
    if (ds_signals_stop_requested()) begin_stop(c);
    if (c->adapt && !c->stopping && c->n_batch > 0 && count_packs(c, DS_PACK_PENDING) == 0) {
        /* Nothing left to hand out: store now, so that a round these results
         * complete adds its packs before dispatch finds no work and stops
         * the workers. */
        int rc = flush_batch(c);
        if (rc) return rc;
        adapt_rounds(c, 0);
    }
    /* New work first: the workers train while rank 0 waits for the fsync. */
    dispatch(c);
    if (force || c->stopping || c->n_batch >= BATCH_MAX ||
        (c->n_batch > 0 && ds_now() - c->batch_t0 >= BATCH_WAIT_S)) {
        int rc = flush_batch(c);
        if (rc) return rc;
        adapt_rounds(c, 0);
    }
    progress(c, 0);
    return 0;
}

static int service(rank0_t *c) { return service_ex(c, 0); }

static int rank0_hook(void *ctx, int64_t step, int R, const float *losses) {
    rank0_t *c = ctx;
    float m = 0;
    for (int r = 0; r < R; r++) m += losses[r];
    c->w[0].step = step, c->w[0].loss = R ? m / (float)R : NAN;
    note_step(c, c->w[0].pack, step);
    if (service(c)) return 1; /* store error: stop; the loop reports it */
    return c->stopping;
}

/* Rank 0 trains pack pi itself. */
static int train_own(rank0_t *c, int pi) {
    const ds_pack *p = &c->packs.p[pi];
    assign(c, 0, pi);
    c->w[0].pack = pi;
    char ck[DS_PACK_PATH_MAX];
    ds_pack_path(c->cm.ckdir, p->scale, p->seeds, p->R, ".ckpt", ck, sizeof ck);
    ds_train_opts to = {.backend = c->cm.o->backend, .ckpt_path = ck, .hook = rank0_hook,
                        .hook_ctx = c, .set_aside_damaged = 1,
                        .models_dir = c->cm.s->run.save_models ? c->cm.mdir : NULL};
    ds_run_result *res = DS_CALLOC((size_t)p->R, sizeof *res);
    ds_error jerr = {0};
    int scale = p->scale, R = p->R;
    int64_t *seeds = DS_MALLOC(sizeof *seeds * (size_t)R);
    memcpy(seeds, p->seeds, sizeof *seeds * (size_t)R);
    double t = ds_now();
    int rc = c->cm.o->run_pack(c->cm.o->run_ctx, c->cm.s, scale, seeds, R, &to, res, &jerr);
    c->w[0].busy_s += ds_now() - t;
    if (c->cm.err->code) {
        rc = c->cm.err->code; /* a bug found inside the hook (ds_store_put); pack left for the resume */
    } else if (rc == 0) {
        for (int i = 0; i < R; i++) {
            ds_record rec;
            ds_sched_result_record(&c->cm, scale, &res[i], &rec);
            rec.rank = 0;
            rec.attempts = c->fails[run_at(c, scale, seeds[i])] + 1;
            res[i].curve = NULL; /* the batch owns it (and the trajectory, the items) now */
            res[i].traj = NULL;
            res[i].chosen = NULL;
            res[i].ll_correct = NULL;
            batch_add(c, &rec);
        }
        finish_pack(c, pi);
        rc = service(c);
    } else if (rc == DS_EXIT_INTERRUPTED || rc == DS_EXIT_STORAGE) {
        unassign_pack(c, pi);
        if (rc == DS_EXIT_STORAGE) store_failure(c, &jerr);
        begin_stop(c);
        rc = 0;
    } else {
        fail_pack(c, pi, 0, jerr.msg, jerr.nomem);
        rc = service(c);
    }
    for (int i = 0; i < R; i++) ds_run_result_free(&res[i]);
    free(res);
    free(seeds);
    c->w[0].loss = NAN, c->w[0].step = 0;
    return rc;
}

static int run_rank0(rank0_t *c) {
    const ds_sweep *s = c->cm.s;
    c->w = DS_CALLOC((size_t)c->cm.size, sizeof *c->w);
    for (int r = 0; r < c->cm.size; r++) c->w[r].loss = NAN;
    size_t nrun = (size_t)s->n_scales * (size_t)c->S;
    c->inflight = DS_CALLOC(nrun ? nrun : 1, 1);
    c->fails = DS_CALLOC(nrun ? nrun : 1, sizeof *c->fails);
    c->stats_missing = c->cm.size - 1;
    const char *sw = ds_env("DISTSWEEP_STOP_WAIT_S", "DS_STOP_WAIT_S");
    c->stop_wait_s = sw && atof(sw) > 0 ? atof(sw) : STOP_WAIT_S;
    c->total_runs = (int64_t)nrun;
    if (s->seeds.adaptive.enabled) {
        c->adapt = DS_CALLOC((size_t)s->n_scales, sizeof *c->adapt);
        adapt_rounds(c, 1);
    }
    for (int sc = 0; sc < s->n_scales; sc++)
        for (int64_t i = 0; i < c->S; i++) {
            int stt = ds_store_status(c->cm.o->store, sc, i);
            c->finished_at_start += stt != DS_RUN_PENDING && stt != DS_RUN_UNREQUESTED;
        }
    plan_packs(c);
    c->tty = isatty(2);
    c->t0 = ds_now();
    int rc = 0;
    if (ds_signals_stop_requested()) begin_stop(c);
    while (!rc) {
        int idle_end = c->stopping || (count_packs(c, DS_PACK_PENDING) == 0 && count_packs(c, DS_PACK_RUNNING) == 0);
        if ((rc = service_ex(c, idle_end))) break;
        if (c->stopping || (count_packs(c, DS_PACK_PENDING) == 0 && count_packs(c, DS_PACK_RUNNING) == 0)) {
            if (!c->stopping) begin_stop(c); /* all finished: STOP reaches everyone */
            if (c->stats_missing == 0) break;
            if (ds_now() - c->stop_t0 > c->stop_wait_s) {
                /* a rank died without the launcher ending the job (srun
                 * --kill-on-bad-exit=0): do not wait for it forever */
                fprintf(stderr, "distsweep: %d rank(s) did not answer STOP within %.0f s; "
                        "leaving without them\n", c->stats_missing, c->stop_wait_s);
                c->st->abandoned = c->stats_missing;
                break;
            }
            ds_sched_sleep(DS_SCHED_POLL_S);
            continue;
        }
        int pi = ds_packs_next_where(&c->packs, ungrouped, c);
        if (pi >= 0) rc = train_own(c, pi);
        else ds_sched_sleep(DS_SCHED_POLL_S);
    }
    if (rc) {
        /* An internal error: stop the workers, wait for them, report. */
        ds_error keep = *c->cm.err;
        begin_stop(c);
        double deadline = ds_now() + 60;
        while (c->stats_missing > 0 && ds_now() < deadline) {
            c->cm.err->code = 0;
            service(c);
            ds_sched_sleep(DS_SCHED_POLL_S);
        }
        *c->cm.err = keep;
    }
    progress(c, 1);
    if (c->tty && !c->cm.o->quiet) fputc('\n', stderr);
    c->st->interrupted = c->stopping && count_packs(c, DS_PACK_PENDING) > 0;
    c->st->busy_s += c->w[0].busy_s;
    for (int sc = 0; sc < s->n_scales; sc++)
        for (int64_t i = 0; i < c->S; i++) {
            int stt = ds_store_status(c->cm.o->store, sc, i);
            c->st->pending_left += stt == DS_RUN_PENDING;
            c->st->failed_left += stt == DS_RUN_FAILED;
            c->st->done_left += stt == DS_RUN_DONE;
            c->st->diverged_left += stt == DS_RUN_DIVERGED;
        }
    ds_packs_free(&c->packs);
    free(c->prun);
    free(c->w);
    free(c->cm.buf);
    free(c->inflight);
    free(c->fails);
    free(c->adapt);
    free(c->batch);
    free(c->finished);
    if (rc) return rc;
    if (c->store_failed) {
        *c->cm.err = c->store_err;
        return DS_EXIT_STORAGE;
    }
    if (c->st->interrupted || ds_signals_stop_requested()) return DS_EXIT_INTERRUPTED;
    return 0;
}

int ds_sched_rank0(const ds_sched_common *cm, int64_t S, const uint64_t *node,
                   ds_sched_stats *st) {
    rank0_t c;
    memset(&c, 0, sizeof c);
    c.cm = *cm, c.S = S, c.node = node, c.st = st;
    return run_rank0(&c);
}
