/* synth: see synth.h. */
#define _POSIX_C_SOURCE 200809L
#include "synth.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rng.h"

#define CKPT_MAGIC "DSSYNCK1"

/* A deterministic uniform in [0,1) keyed by (scale, seed, what, i). */
static float u01(int scale, int64_t seed, uint32_t what, uint64_t i) {
    ds_rng r;
    ds_rng_init(&r, (uint64_t)seed, 0x5000u + what + 64u * (uint32_t)scale, i);
    return ds_rng_uniform(&r);
}

int ds_synth_probs(const ds_sweep *s, double *p, ds_error *err) {
    for (int i = 0; i < s->n_scales; i++)
        p[i] = s->n_scales > 1 ? (double)i / (double)(s->n_scales - 1) : 0.5;
    const char *env = getenv("DISTSWEEP_SYNTH_P");
    if (!env || !*env) return 0;
    const char *q = env;
    for (int i = 0; i < s->n_scales; i++) {
        char *end;
        errno = 0;
        double v = strtod(q, &end);
        if (end == q || errno || !(v >= 0 && v <= 1) || (*end != ',' && *end != 0) ||
            (*end == 0) != (i == s->n_scales - 1))
            return ds_error_set(err, DS_EXIT_USAGE, "DISTSWEEP_SYNTH_P='%s': needs %d numbers in "
                                "[0, 1] separated by commas, one per scale", env, s->n_scales);
        p[i] = v;
        q = end + 1;
    }
    return 0;
}

/* A metric value of the two-mode distribution: u in [0,1) placed in the
 * success mode or the failure mode of metric m (docs/running.md). */
static float two_mode(int success, int m, float u) {
    int high = success != (m == DS_M_ERROR || m == DS_M_LOSS);
    return high ? 0.9f + 0.1f * u : 0.1f * u;
}

static float loss_at(int scale, int64_t seed, int64_t step, int64_t steps) {
    double t = (double)step / (double)(steps > 0 ? steps : 1);
    return (float)(4.0 * exp(-3.0 * t * (1.0 + 0.5 * scale)) + 0.05 + 0.02 * u01(scale, seed, 1, (uint64_t)step));
}

typedef struct {
    char magic[8];
    int32_t R, scale;
    int64_t step;
    uint64_t seeds_hash;
    uint64_t sum;
} ckpt_t;

static uint64_t seeds_hash(const int64_t *seeds, int R) {
    return ds_fnv1a64(seeds, sizeof *seeds * (size_t)R, DS_FNV1A64_INIT);
}

static int save_ckpt(const char *path, int scale, const int64_t *seeds, int R, int64_t step,
                     ds_error *err) {
    ckpt_t c;
    memset(&c, 0, sizeof c);
    memcpy(c.magic, CKPT_MAGIC, 8);
    c.R = R, c.scale = scale, c.step = step, c.seeds_hash = seeds_hash(seeds, R);
    c.sum = ds_fnv1a64(&c, offsetof(ckpt_t, sum), DS_FNV1A64_INIT);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    char cause[256];
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        ds_strerror_lc(errno, cause, sizeof cause);
        return ds_error_set(err, DS_EXIT_STORAGE, "checkpoint %s: cannot create: %s", tmp, cause);
    }
    int e = fwrite(&c, sizeof c, 1, f) != 1 ? (errno ? errno : EIO) : 0;
    const char *what;
    if (ds_file_replace(f, tmp, path, e, &what, &e) != 0) {
        /* the storage's failure, not the run's, as in ds_ckpt_save */
        ds_strerror_lc(e, cause, sizeof cause);
        return ds_error_set(err, DS_EXIT_STORAGE, "checkpoint %s: %s: %s", path, what, cause);
    }
    return 0;
}

/* The step to resume from (0 without a usable checkpoint). */
static int64_t load_ckpt(const char *path, int scale, const int64_t *seeds, int R) {
    ckpt_t c;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int ok = fread(&c, sizeof c, 1, f) == 1;
    fclose(f);
    if (!ok || memcmp(c.magic, CKPT_MAGIC, 8) || c.R != R || c.scale != scale ||
        c.seeds_hash != seeds_hash(seeds, R) ||
        c.sum != ds_fnv1a64(&c, offsetof(ckpt_t, sum), DS_FNV1A64_INIT))
        return 0;
    return c.step;
}

static void sleep_s(double s) {
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int ds_synth_pack(double seconds, const ds_sweep *s, int scale_idx, const int64_t *seeds, int R,
                  const ds_train_opts *opts, ds_run_result *results, ds_error *err) {
    DS_ASSERT(R >= 1 && scale_idx >= 0 && scale_idx < s->n_scales);
    double t0 = ds_now();
    int64_t steps = opts->max_steps > 0 ? opts->max_steps : s->train.steps;
    int64_t step = opts->ckpt_path ? load_ckpt(opts->ckpt_path, scale_idx, seeds, R) : 0;
    double dt = seconds / (double)(steps > 0 ? steps : 1);
    const char *fail = getenv("DISTSWEEP_SYNTH_FAIL_SEED");
    float *losses = DS_MALLOC(sizeof(float) * (size_t)R);
    /* Sleep to absolute deadlines so that a pack lasts `seconds` whatever the
     * hook costs (the benchmark measures the scheduler, not nanosleep). */
    double start = ds_now() - dt * (double)step;
    while (step < steps) {
        sleep_s(start + dt * (double)(step + 1) - ds_now());
        step++;
        for (int r = 0; r < R; r++) losses[r] = loss_at(scale_idx, seeds[r], step, steps);
        if (fail && *fail)
            for (int r = 0; r < R; r++)
                if (seeds[r] == strtoll(fail, NULL, 10)) {
                    free(losses);
                    return ds_error_set(err, DS_EXIT_ERROR, "synthetic failure of seed %lld at "
                                        "step %lld (DISTSWEEP_SYNTH_FAIL_SEED)",
                                        (long long)seeds[r], (long long)step);
                }
        int stop = opts->hook ? opts->hook(opts->hook_ctx, step, R, losses) : 0;
        int ce = s->run.checkpoint_every > 0 && step % s->run.checkpoint_every == 0 && step < steps;
        if ((stop || ce) && opts->ckpt_path &&
            save_ckpt(opts->ckpt_path, scale_idx, seeds, R, step, err)) {
            free(losses);
            return err->code;
        }
        if (stop && step < steps) {
            free(losses);
            return DS_EXIT_INTERRUPTED;
        }
    }
    free(losses);
    double *p = DS_MALLOC(sizeof *p * (size_t)s->n_scales);
    if (ds_synth_probs(s, p, err)) {
        free(p);
        return err->code;
    }
    const char *dv = getenv("DISTSWEEP_SYNTH_DIVERGE");
    int diverge = !(dv && !strcmp(dv, "0"));
    int64_t n_log = s->train.log_every > 0 ? steps / s->train.log_every : 0;
    for (int r = 0; r < R; r++) {
        ds_run_result *res = &results[r];
        memset(res, 0, sizeof *res);
        res->seed = seeds[r];
        res->steps_done = steps;
        res->wall_s = ds_now() - t0;
        int success = u01(scale_idx, seeds[r], 10, 0) < p[scale_idx];
        int diverged = diverge && seeds[r] % 11 == 10;
        res->status = diverged ? DS_RUN_DIVERGED : DS_RUN_DONE;
        res->final_loss = diverged ? NAN : loss_at(scale_idx, seeds[r], steps, steps);
        for (int l = 0; l < DS_MAX_EVAL_LENGTHS; l++)
            for (int m = 0; m < DS_N_METRICS; m++)
                res->metrics[l][m] =
                    l < s->task.n_eval_lengths
                        ? two_mode(success, m, u01(scale_idx, seeds[r], 2 + (uint32_t)m, (uint64_t)l))
                        : NAN;
        res->id_em = u01(scale_idx, seeds[r], 9, 0);
        res->n_curve = (int)n_log;
        res->curve = n_log ? DS_MALLOC(sizeof(float) * (size_t)n_log) : NULL;
        for (int64_t k = 0; k < n_log; k++)
            res->curve[k] = diverged && k == n_log - 1
                                ? NAN
                                : loss_at(scale_idx, seeds[r], (k + 1) * s->train.log_every, steps);
    }
    free(p);
    return 0;
}
