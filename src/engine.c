/* engine: the training loop of one pack (see engine.h).
 *
 * At step 0 every replica gets the spec's init for its seed, or with
 * model.init the base model read once for the pack with the reinit parts
 * drawn for its weight seed (src/hfmodel.h ds_hf_init_pack); a resume takes
 * the parameters from the checkpoint instead.
 *
 * Per step (step.c, shared with `distsweep bench`), for every replica r: rows
 * step*batch .. step*batch+batch-1 of the data seed of job seed seeds[r]
 * (ds_hf_data_seed: the job seed unless model.init.vary fixes it; a pure function of
 * the step, so resuming needs no data state), forward, divergence check,
 * backward, clipped AdamW. A replica whose
 * loss (or gradient norm) is not finite is frozen and marked diverged; the
 * others go on unaffected, since no op mixes replicas. After the last step
 * every eval length (and the largest training length, for id_em) is scored
 * by evaluate.c.
 *
 * Evaluation during training (train.eval_every = N > 0): after step k*N
 * (k = 1 .. steps/N) the leader evaluates every replica at the report's
 * length with the final evaluation's function (evaluate.h), before the hook
 * and any checkpoint of that step, so a checkpoint holds every point up to
 * its step and a resume never repeats or skips one. A replica diverged by
 * then gets the rule's values (schema.h), as its final metrics do. The
 * evaluation reads the model only, so training is unchanged by it.
 *
 * Loss curve: point k is the mean training loss of steps k*log_every ..
 * (k+1)*log_every-1 (NaN from the window where the replica diverged on). */
#define _POSIX_C_SOURCE 200809L
#include "engine.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "checkpoint.h"
#include "evaluate.h"
#include "groupcomm.h"
#include "hfmodel.h"
#include "mcfile.h" /* a set's n_items */
#include "model.h"
#include "modelfile.h"
#include "output.h"
#include "step.h"

/* The hook, asked between evaluation batches with the last training losses. */
typedef struct {
    const ds_train_opts *opts;
    int64_t step;
    int R;
    const float *losses;
} eval_stop_ctx;

static int eval_stop(void *ctx) {
    eval_stop_ctx *c = ctx;
    return c->opts->hook(c->opts->hook_ctx, c->step, c->R, c->losses);
}

/* Steps between two reads of the losses at most (src/step.h); with log_every
 * above it the losses are read mid-window. */
enum { RING_MAX = 64 };

/* The training-loss bookkeeping of the loop: the last loss and the window
 * sum of every replica, and the curve points, from the losses the step ring
 * gives back. */
typedef struct {
    int R;
    int64_t log_every, stop_at;
    int verbose;
    double t_log; /* when the last log line was said */
    ds_ckpt_state *st; /* last_loss, window, curve, n_curve, curve_cap */
} loss_log;

/* Reads the steps run since the last read and adds their losses, in step
 * order, to the window and the curve exactly as a read after every step would. */
static void absorb_losses(loss_log *lg, ds_step *sc) {
    const float *loss;
    int64_t first;
    int n = ds_step_read(sc, &loss, &first), R = lg->R;
    ds_ckpt_state *st = lg->st;
    for (int i = 0; i < n; i++) {
        const float *l = loss + (size_t)i * R;
        for (int r = 0; r < R; r++) {
            st->last_loss[r] = l[r];
            st->window[r] += l[r];
        }
        int64_t done = first + i + 1;
        if (done % lg->log_every || st->n_curve >= st->curve_cap) continue;
        int cap = st->curve_cap;
        for (int r = 0; r < R; r++) {
            st->curve[(size_t)r * cap + st->n_curve] = (float)(st->window[r] / lg->log_every);
            st->window[r] = 0;
        }
        st->n_curve++;
        if (lg->verbose) {
            double now = ds_now();
            fprintf(stderr, "step %lld/%lld  %.2f steps/s  loss", (long long)done,
                    (long long)lg->stop_at, lg->log_every / (now - lg->t_log));
            for (int r = 0; r < R && r < 16; r++)
                fprintf(stderr, " %.4f", st->curve[(size_t)r * cap + st->n_curve - 1]);
            fprintf(stderr, R > 16 ? " ...\n" : "\n");
            lg->t_log = now;
        }
    }
}

/* A group's members agree on an outcome: returns the largest member's rc
 * (so a storage failure outranks an interruption, which outranks an error:
 * the scheduler then charges the runs only when every member says error);
 * a member that itself succeeded gets err saying another member failed,
 * marked out of memory (err->nomem) when a member's failure was, so that
 * every member reports the pack's out of memory alike. Without a group, rc
 * itself. */
static int group_agree(const MPI_Comm *comm, int rc, ds_error *err) {
    if (!comm) return rc;
    int mine[2] = {rc, rc && err->nomem}, all[2];
    DS_MPI_CHECK(MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MAX, *comm));
    if (all[0] != rc && all[0] == DS_EXIT_ERROR && all[1])
        ds_error_nomem(err, "another member of this pack's data-parallel group ran out of "
                       "memory; see its message");
    else if (all[0] != rc)
        ds_error_set(err, all[0], "another member of this pack's data-parallel group failed "
                     "(exit code %d); see its message", all[0]);
    return all[0];
}

/* The state of a pack at step 0, as ds_train_pack sets it up. */
static void reset_state(ds_ckpt_state *st, int R) {
    st->step = 0, st->wall_s = 0, st->n_curve = 0, st->n_traj = 0;
    for (int i = 0; i < R * st->traj_cap * DS_N_METRICS; i++) st->traj[i] = NAN;
    for (int r = 0; r < R; r++) {
        st->active[r] = 1;
        st->last_loss[r] = NAN;
        st->window[r] = 0;
    }
    for (int i = 0; i < R * st->curve_cap; i++) st->curve[i] = NAN;
}

/* A pack's checkpoint that ds_ckpt_load refused as damaged (damage: why, on
 * this member; NULL where it read whole, was absent, or ckpt is NULL) is not the runs'
 * failure: the leader moves it aside (src/output.h) and says so in one line,
 * and the pack trains from its start. Returns 1 when any member of the group
 * (or the pack itself, without one) found it damaged: every member then
 * starts from step 0. The rename comes after every member has read the file.
 * A rename that fails is said in the line; the first checkpoint the pack
 * writes replaces the damaged file then. */
static int set_aside_damaged(const MPI_Comm *comm, int leader, const char *ckpt,
                             const char *damage) {
    int any = damage != NULL;
    if (comm) DS_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_MAX, *comm));
    if (!any || !leader || !ckpt) return any;
    char moved[DS_OUTPUT_PATH_MAX + 256];
    ds_error e = {0};
    if (ds_output_damaged_member_aside(ckpt, moved, sizeof moved, &e) == 0)
        fprintf(stderr, "distsweep: checkpoint %s is damaged (%s): moved to %s; the pack restarts "
                "from step 0\n", ckpt, damage ? damage : "refused by another member of its group",
                moved);
    else
        fprintf(stderr, "distsweep: checkpoint %s is damaged (%s) and was left in place (%s); the "
                "pack restarts from step 0\n", ckpt, damage ? damage : "refused by another member "
                "of its group", e.msg);
    return any;
}

int ds_train_pack(const ds_sweep *sweep, int scale_idx, const int64_t *seeds, int R,
                  const ds_train_opts *opts, ds_run_result *results, ds_error *err) {
    DS_ASSERT(R >= 1 && scale_idx >= 0 && scale_idx < sweep->n_scales);
    /* the sweep as this condition trains it: its settings (a values family,
     * docs/sweep-file.md) over the sweep's; read for everything below */
    ds_sweep *cond = ds_sweep_condition(sweep, scale_idx);
    const ds_sweep *s = cond;
    int rc = DS_EXIT_ERROR;
    double t_start = ds_now();
    ds_backend *be = NULL;
    ds_model *m = NULL;
    const ds_train_spec *tr = &s->train;
    int B = tr->batch, ctx = tr->context;
    int64_t stop_at = tr->steps;
    if (opts && opts->max_steps > 0 && opts->max_steps < stop_at) stop_at = opts->max_steps;
    int64_t log_every = tr->log_every > 0 ? tr->log_every : 1;
    int curve_cap = (int)(tr->steps / log_every);
    const char *ckpt = opts ? opts->ckpt_path : NULL;
    int verbose = opts ? opts->verbose : 0;

    memset(results, 0, sizeof(*results) * R);
    uint8_t *active = DS_MALLOC(R);
    float *last = DS_MALLOC(sizeof(float) * R);
    double *window = DS_CALLOC(R, sizeof(double));
    float *curve = DS_MALLOC(sizeof(float) * R * (curve_cap ? curve_cap : 1));
    ds_step step_ctx = {0};
    ds_group *grp = NULL;
    float *metrics = NULL;
    int8_t *item_chosen[DS_MAX_EVAL_LENGTHS] = {0}; /* [set][R][n_items], evaluation sets only */
    float *item_ll[DS_MAX_EVAL_LENGTHS] = {0};
    int traj_cap = (int)ds_train_eval_points(tr);
    float *traj = traj_cap ? DS_MALLOC(sizeof(float) * R * traj_cap * DS_N_METRICS) : NULL;
    float *eval_buf = traj_cap ? DS_MALLOC(sizeof(float) * R * DS_N_METRICS) : NULL;
    for (int i = 0; i < R * traj_cap * DS_N_METRICS; i++) traj[i] = NAN;
    for (int r = 0; r < R; r++) {
        active[r] = 1;
        last[r] = NAN;
    }
    for (int i = 0; i < R * curve_cap; i++) curve[i] = NAN;
    ds_ckpt_state st = {.batch = B, .context = ctx, .steps = tr->steps,
                        .sweep_hash = s->yaml_hash, .seeds = seeds,
                        .step = 0, .wall_s = 0, .n_curve = 0, .curve_cap = curve_cap,
                        .active = active, .last_loss = last, .window = window, .curve = curve,
                        .n_traj = 0, .traj_cap = traj_cap, .traj = traj};

    /* A group member holds activations for its rows only, and with
     * micro-batches for one micro-batch's (src/step.h). */
    const MPI_Comm *gcomm = opts ? opts->group : NULL;
    int k = 1, member = 0;
    if (gcomm) {
        DS_MPI_CHECK(MPI_Comm_size(*gcomm, &k));
        DS_MPI_CHECK(MPI_Comm_rank(*gcomm, &member));
    }
    int leader = member == 0;
    ds_backend_opts bo = {.kind = opts ? opts->backend : DS_BACKEND_CPU,
                          .precision = s->train.precision};
    ds_model_config cfg = ds_model_config_from_sweep(s, scale_idx, R);
    cfg.B = ds_step_rows(tr, k, member);
    rc = ds_backend_create(&bo, &be, err);
    if (!rc) rc = ds_model_create(&cfg, be, &m, err);
    const char *damage = NULL;
    int loaded = 0;
    if (!rc && ckpt && access(ckpt, F_OK) == 0) {
        rc = ds_ckpt_load(ckpt, m, &st, &damage, err);
        loaded = !rc;
        if (damage && !(opts && opts->set_aside_damaged)) damage = NULL; /* refused */
        if (damage) rc = 0; /* set aside below, once every member has read it */
        if (loaded && verbose)
            fprintf(stderr, "distsweep: resuming %d replica(s) from %s at step %lld\n", R, ckpt,
                    (long long)st.step);
    }
    /* step 0: the spec's init, or model.init's base model with its reinit parts */
    if (!rc && !loaded) rc = ds_hf_init_pack(m, s, seeds, R, err);
    /* no member starts training unless every member can */
    if ((rc = group_agree(gcomm, rc, err))) goto done;
    if (set_aside_damaged(gcomm, leader, ckpt, damage)) {
        /* a member that read it whole starts over too (the group trains one state) */
        if (loaded) {
            reset_state(&st, R);
            rc = ds_hf_init_pack(m, s, seeds, R, err);
        }
        if ((rc = group_agree(gcomm, rc, err))) goto done;
    }
    if (gcomm) {
        rc = ds_group_create(*gcomm, ds_backend_resolve(bo.kind), be, &grp, err);
        if ((rc = group_agree(gcomm, rc, err))) goto done;
    }

    double t_loop = ds_now();
    int64_t step0 = st.step;
    /* the losses are read a ring at a time: at every log point, when the
     * ring is full, before a checkpoint and after the first step (src/step.h) */
    int ring = log_every < RING_MAX ? (int)log_every : RING_MAX;
    loss_log lg = {.R = R, .log_every = log_every, .stop_at = stop_at, .verbose = verbose,
                   .t_log = t_loop, .st = &st};
    rc = ds_step_init(&step_ctx, s, m, seeds, R, grp, be->threads, verbose, active, ring, err);
    if ((rc = group_agree(gcomm, rc, err))) goto done;
    for (int64_t step = st.step; step < stop_at; step++) {
        ds_step_run(&step_ctx, step, NULL);
        st.step = step + 1;
        /* ... and after the first step, so that the hook has losses at once */
        if (ds_step_pending(&step_ctx) == ring || st.step % log_every == 0 || st.step == stop_at ||
            st.step == step0 + 1)
            absorb_losses(&lg, &step_ctx);
        if (traj_cap && st.step % tr->eval_every == 0 && st.n_traj < traj_cap) {
            /* the leader evaluates; the others meet it at the next step's reduction */
            absorb_losses(&lg, &step_ctx); /* active[] as of this step */
            if (leader) {
                rc = ds_evaluate_length(m, &s->task, s->report.length, eval_buf, NULL, NULL, err);
                if (rc) goto done;
                for (int r = 0; r < R; r++)
                    for (int k = 0; k < DS_N_METRICS; k++)
                        traj[((size_t)r * traj_cap + st.n_traj) * DS_N_METRICS + k] =
                            active[r] ? eval_buf[(size_t)r * DS_N_METRICS + k]
                                      : ds_run_diverged_metric(k);
            }
            st.n_traj++;
        }
        /* the hook sees the losses last read (at most `ring` steps old) */
        int stop = opts && opts->hook && opts->hook(opts->hook_ctx, st.step, R, last);
        if (grp) stop = ds_group_max(grp, stop); /* a group stops together */
        int periodic = s->run.checkpoint_every > 0 && st.step % s->run.checkpoint_every == 0 &&
                       st.step < stop_at;
        if (stop || periodic) absorb_losses(&lg, &step_ctx);
        if (ckpt && (stop || periodic)) {
            double now = ds_now();
            st.wall_s += now - t_start;
            t_start = now;
            if (leader) rc = ds_ckpt_save(ckpt, m, &st, err);
            if ((rc = group_agree(gcomm, rc, err))) goto done;
        }
        if (stop) {
            if (verbose)
                fprintf(stderr, "distsweep: stopped at step %lld%s%s\n", (long long)st.step,
                        ckpt ? ", checkpoint " : " (no checkpoint)", ckpt ? ckpt : "");
            rc = DS_EXIT_INTERRUPTED;
            goto done;
        }
    }
    absorb_losses(&lg, &step_ctx);
    if (verbose && stop_at > step0)
        fprintf(stderr, "distsweep: %lld steps in %.1f s; evaluating\n", (long long)(stop_at - step0),
                ds_now() - t_loop);
    if (!leader) { /* the leader evaluates and reports for the group */
        rc = 0;
        goto done;
    }

    /* evaluation */
    const ds_task_spec *task = &s->task;
    int nL = task->n_eval_lengths;
    metrics = DS_MALLOC(sizeof(float) * (nL + 1) * R * DS_N_METRICS);
    int id_idx = -1;
    eval_stop_ctx esc = {opts, st.step, R, last};
    ds_eval_stop_fn stopf = opts && opts->hook ? eval_stop : NULL;
    /* A task without evaluation points (a corpus task without evaluation
     * sets) is not evaluated: its runs carry final_loss and the curve, and
     * id_em is NaN; so is a corpus task's id_em (no training length). */
    const int sets = ds_task_eval_kind(task) == DS_EVAL_SETS;
    for (int i = 0; i <= nL && nL > 0; i++) {
        int L = 0;
        if (sets) {
            if (i == nL) break;
        } else if (i < nL) {
            L = task->eval_lengths[i];
            if (L == task->train_max) id_idx = i;
        } else {
            if (id_idx >= 0) break;
            L = task->train_max;
            id_idx = nL;
        }
        float *out = metrics + (size_t)i * R * DS_N_METRICS;
        if (sets) { /* the set's per-item results of every replica: [R][n_items] */
            size_t ni = (size_t)task->mc_sets[i]->n_items;
            item_chosen[i] = malloc((size_t)R * ni);
            item_ll[i] = malloc(sizeof(float) * (size_t)R * ni);
            if (!item_chosen[i] || !item_ll[i]) {
                rc = ds_error_nomem(err, "the per-item results of multiple-choice set %s", task->mc[i].name);
                goto done;
            }
        }
        rc = sets ? ds_evaluate_set(m, task, i, out, item_chosen[i], item_ll[i], stopf, &esc, err)
                  : ds_evaluate_length(m, task, L, out, stopf, &esc, err);
        if (rc == DS_EXIT_INTERRUPTED) {
            /* the training state is complete: checkpoint it, evaluate again on resume */
            if (ckpt) {
                st.wall_s += ds_now() - t_start;
                int rc2 = ds_ckpt_save(ckpt, m, &st, err);
                if (rc2) {
                    rc = rc2;
                    goto done;
                }
            }
            if (verbose)
                fprintf(stderr, "distsweep: stopped during evaluation%s%s\n",
                        ckpt ? ", checkpoint " : " (no checkpoint)", ckpt ? ckpt : "");
            goto done;
        }
        if (rc) goto done;
    }
    /* Stored models before any result leaves: a run reported done has its
     * model on disk (src/modelfile.h). Diverged replicas hold no model. */
    if (opts && opts->models_dir) {
        float *host = DS_MALLOC(sizeof(float) * m->P);
        for (int r = 0; r < R && !rc; r++) {
            if (!active[r] || !ds_sweep_saves_model(s, seeds[r])) continue;
            char path[4400];
            ds_modelfile_path(opts->models_dir, scale_idx, seeds[r], path, sizeof path);
            ds_model_get_params(m, r, host);
            rc = ds_modelfile_save(path, s, scale_idx, seeds[r], st.step, host, err);
        }
        free(host);
        if (rc) goto done;
    }
    double wall = st.wall_s + (ds_now() - t_start);
    for (int r = 0; r < R; r++) {
        ds_run_result *res = &results[r];
        res->seed = seeds[r];
        res->status = active[r] ? DS_RUN_DONE : DS_RUN_DIVERGED;
        res->steps_done = st.step;
        res->wall_s = wall;
        res->final_loss = active[r] ? last[r] : NAN;
        for (int i = 0; i < nL; i++) {
            const float *mm = metrics + ((size_t)i * R + r) * DS_N_METRICS;
            /* a diverged run stores the rule's values, not its frozen model's (schema.h) */
            for (int k = 0; k < DS_N_METRICS; k++)
                res->metrics[i][k] = active[r] ? mm[k] : ds_run_diverged_metric(k);
        }
        res->id_em = nL == 0 || sets ? NAN
                   : active[r] ? metrics[((size_t)id_idx * R + r) * DS_N_METRICS + DS_M_EM]
                               : ds_run_diverged_metric(DS_M_EM);
        res->n_curve = st.n_curve;
        res->curve = DS_MALLOC(sizeof(float) * (st.n_curve ? st.n_curve : 1));
        memcpy(res->curve, curve + (size_t)r * curve_cap, sizeof(float) * st.n_curve);
        res->n_traj = st.n_traj;
        res->traj = NULL;
        if (st.n_traj) {
            res->traj = DS_MALLOC(sizeof(float) * st.n_traj * DS_N_METRICS);
            memcpy(res->traj, traj + (size_t)r * traj_cap * DS_N_METRICS,
                   sizeof(float) * st.n_traj * DS_N_METRICS);
        }
        /* per-item results: a done run's (a diverged one has none: the file's fill) */
        res->n_item_sets = 0;
        if (sets && active[r] && nL > 0) {
            for (int i = 0; i < nL; i++) res->n_items[i] = task->mc_sets[i]->n_items;
            res->n_item_sets = nL;
            size_t total = ds_run_items_at(res, nL);
            res->chosen = DS_MALLOC(total);
            res->ll_correct = DS_MALLOC(sizeof(float) * total);
            for (int i = 0; i < nL; i++) {
                size_t ni = (size_t)res->n_items[i], at = ds_run_items_at(res, i);
                memcpy(res->chosen + at, item_chosen[i] + (size_t)r * ni, ni);
                memcpy(res->ll_correct + at, item_ll[i] + (size_t)r * ni, sizeof(float) * ni);
            }
        }
    }
    rc = 0;
done:
    ds_step_free(&step_ctx); /* its tree buffers live on the backend */
    ds_group_free(grp);
    ds_model_free(m);
    if (be) be->destroy(be);
    free(active);
    free(last);
    free(window);
    free(curve);
    free(traj);
    free(eval_buf);
    free(metrics);
    for (int i = 0; i < DS_MAX_EVAL_LENGTHS; i++) free(item_chosen[i]), free(item_ll[i]);
    free(cond);
    return rc;
}
