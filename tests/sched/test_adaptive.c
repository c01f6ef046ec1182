/* Tests of the adaptive round rule (src/adaptive.c) without MPI or HDF5:
 * statuses and values are plain arrays. Covered: a scale whose values are
 * all equal stops after its first round; a scale near p = 0.5 grows by step
 * until its interval is narrow enough or it reaches max, each round's
 * decision recomputed here from the keyed bootstrap; a pending run blocks
 * the decision, a failed one does not (it has no value); deciding after
 * every single finished run, in any order, ends where one decision over the
 * final arrays ends (the decision is a pure function of the stored runs);
 * values beyond a round's seeds do not change it; keys differ per scale and
 * round; lower-is-better metrics and the mean statistic. */
#include <stdlib.h>
#include <string.h>

#include "adaptive.h"
#include "schema.h"
#include "rng.h"
#include "stats.h"
#include "sweep.h"
#include "test.h"

enum { MAXS = 96 };

static ds_sweep *load(const char *adaptive) {
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "name: adapttest\n"
             "task: {kind: count, vocab: 100, train_length: [1, 10], eval_lengths: [10, 15]}\n"
             "model: {head_dim: 64}\n"
             "train: {steps: 100, batch: 4, context: 64, lr: 1.0e-3, warmup: 10, log_every: 10}\n"
             "seeds: {start: 0, count: 16, adaptive: %s}\n"
             "scales:\n  - {family: width, depth: 1, width: [64, 128, 192]}\n"
             "output: x.h5\n", adaptive);
    ds_sweep *s = NULL;
    ds_error err = {0};
    if (ds_sweep_load_text("adapttest.yaml", yaml, &s, &err)) {
        fprintf(stderr, "sweep: %s\n", err.msg);
        exit(1);
    }
    return s;
}

/* Two-mode values: seed i succeeds (0.95) when a keyed uniform is below p. */
static void values(double p, int scale, double *v) {
    for (int i = 0; i < MAXS; i++) {
        ds_rng r;
        ds_rng_init(&r, (uint64_t)i, 77u + (uint32_t)scale, 0);
        v[i] = ds_rng_uniform(&r) < p ? 0.95 : 0.05;
    }
}

/* The width of round k's interval over the first n values, recomputed. */
static double width_at(const ds_sweep *s, int scale, int round, const double *v, int64_t n) {
    ds_ci p, ms;
    ds_stats_success_keyed(v, (size_t)n, 0.5, ds_adapt_key(s, scale, round), &p, &ms);
    return p.hi - p.lo;
}

static void test_constant_stops_first_round(void) {
    ds_sweep *s = load("{metric: em, length: 15, ci_width: 0.1, step: 8, max: 64}");
    uint8_t st[MAXS];
    double v[MAXS];
    memset(st, DS_RUN_UNREQUESTED, sizeof st);
    for (int i = 0; i < 16; i++) st[i] = DS_RUN_DONE, v[i] = 0.0;
    ds_adapt_state a = {0};
    CHECK(ds_adapt_decide(s, 0, st, v, MAXS, &a) == 1); /* the first round is a request too */
    CHECK(a.requested == 16 && a.stopped && a.round == 0 && a.n == 16);
    CHECK(a.est == 0 && a.hi - a.lo == 0);
    /* a stopped scale stays stopped */
    CHECK(ds_adapt_decide(s, 0, st, v, MAXS, &a) == 0 && a.requested == 16);
    ds_sweep_free(s);
}

static void test_half_grows_until_narrow(void) {
    ds_sweep *s = load("{metric: em, length: 15, ci_width: 0.3, step: 8, max: 80}");
    uint8_t st[MAXS];
    double v[MAXS];
    values(0.5, 1, v);
    memset(st, DS_RUN_PENDING, sizeof st);
    ds_adapt_state a = {0};
    ds_adapt_decide(s, 1, st, v, MAXS, &a);
    CHECK(a.requested == 16 && !a.stopped); /* waiting for its first round */
    int rounds = 0;
    while (!a.stopped && rounds < 100) {
        int64_t n = a.requested;
        for (int64_t i = 0; i < n; i++) st[i] = DS_RUN_DONE;
        int round = a.round;
        ds_adapt_decide(s, 1, st, v, MAXS, &a);
        double w = width_at(s, 1, round, v, n);
        if (a.stopped) {
            CHECK(a.requested == n);
            CHECK_MSG(w <= 0.3 || n == 80, "stopped at %lld with width %g", (long long)n, w);
        } else {
            CHECK_MSG(w > 0.3 && a.requested == (n + 8 < 80 ? n + 8 : 80),
                      "round %d: width %g, %lld -> %lld", round, w, (long long)n,
                      (long long)a.requested);
        }
        rounds++;
    }
    CHECK_MSG(a.requested > 16, "p = 0.5 should need more than the first round (got %lld)",
              (long long)a.requested);
    CHECK(a.round == (int)((a.requested - 16) / 8 + ((a.requested - 16) % 8 != 0)));
    ds_sweep_free(s);
}

static void test_pending_blocks_failed_does_not(void) {
    ds_sweep *s = load("{metric: em, length: 15, ci_width: 0.05, step: 8, max: 64}");
    uint8_t st[MAXS];
    double v[MAXS];
    values(0.5, 0, v);
    memset(st, DS_RUN_UNREQUESTED, sizeof st);
    for (int i = 0; i < 16; i++) st[i] = DS_RUN_DONE;
    st[7] = DS_RUN_PENDING; /* e.g. being retried */
    ds_adapt_state a = {0};
    ds_adapt_decide(s, 0, st, v, MAXS, &a);
    CHECK(a.requested == 16 && a.round == 0 && a.n == 0);
    st[7] = DS_RUN_FAILED; /* given up: no value, does not block */
    v[7] = NAN;
    ds_adapt_decide(s, 0, st, v, MAXS, &a);
    CHECK(a.requested == 24 && a.round == 1 && a.n == 15);
    /* seeds the axis does not hold yet are pending */
    ds_adapt_state b = {0};
    for (int i = 16; i < 24; i++) st[i] = DS_RUN_DONE;
    ds_adapt_decide(s, 0, st, v, 20, &b);
    CHECK(b.requested == 24 && b.round == 1);
    ds_sweep_free(s);
}

static void test_pure_function(void) {
    ds_sweep *s = load("{metric: em, length: 15, ci_width: 0.25, step: 8, max: 96}");
    for (int scale = 0; scale < 3; scale++) {
        double v[MAXS];
        values(0.2 + 0.3 * scale, scale, v);
        /* incremental: runs finish one at a time in a shuffled order */
        uint8_t st[MAXS];
        memset(st, DS_RUN_PENDING, sizeof st);
        ds_adapt_state inc = {0};
        ds_adapt_decide(s, scale, st, v, MAXS, &inc);
        ds_rng g;
        ds_rng_init(&g, 5, 9, (uint64_t)scale);
        for (int guard = 0; guard < 10000 && !inc.stopped; guard++) {
            int64_t lo = 0;
            while (lo < inc.requested && st[lo] == DS_RUN_DONE) lo++;
            int64_t i = ds_rng_range(&g, lo, inc.requested - 1);
            while (st[i] == DS_RUN_DONE) i = i + 1 < inc.requested ? i + 1 : lo;
            st[i] = DS_RUN_DONE;
            ds_adapt_decide(s, scale, st, v, MAXS, &inc);
        }
        /* from scratch over the final statuses (a resume) */
        ds_adapt_state once = {0};
        ds_adapt_decide(s, scale, st, v, MAXS, &once);
        CHECK(inc.stopped && once.stopped);
        CHECK_MSG(inc.requested == once.requested && inc.round == once.round,
                  "scale %d: incremental %lld/%d, once %lld/%d", scale, (long long)inc.requested,
                  inc.round, (long long)once.requested, once.round);
        /* values beyond the seeds it requested change nothing */
        for (int64_t i = once.requested; i < MAXS; i++) v[i] = 0.95 - v[i], st[i] = DS_RUN_DONE;
        ds_adapt_state again = {0};
        ds_adapt_decide(s, scale, st, v, MAXS, &again);
        CHECK(again.requested == once.requested && again.lo == once.lo && again.hi == once.hi);
    }
    CHECK(ds_adapt_key(s, 0, 0) != ds_adapt_key(s, 0, 1));
    CHECK(ds_adapt_key(s, 0, 1) != ds_adapt_key(s, 1, 0));
    ds_sweep_free(s);
}

static void test_lower_is_better_and_mean(void) {
    /* error: success is x <= 0.5; all 0.05 -> p = 1, a zero-width interval */
    ds_sweep *s = load("{metric: error, length: 10, ci_width: 0.1, step: 8, max: 64}");
    CHECK(s->seeds.adaptive.metric == DS_M_ERROR && s->seeds.adaptive.length_idx == 0);
    uint8_t st[MAXS];
    double v[MAXS];
    memset(st, DS_RUN_DONE, sizeof st);
    for (int i = 0; i < MAXS; i++) v[i] = 0.05;
    ds_adapt_state a = {0};
    ds_adapt_decide(s, 0, st, v, MAXS, &a);
    CHECK(a.stopped && a.requested == 16 && a.est == 1.0);
    ds_sweep_free(s);
    /* mean of a 0/1 sample of p = 0.5: the interval narrows as 1/sqrt(n) */
    s = load("{metric: em, length: 15, statistic: mean, ci_width: 0.2, step: 16, max: 96}");
    values(0.5, 2, v);
    ds_adapt_state m = {0};
    ds_adapt_decide(s, 2, st, v, MAXS, &m);
    ds_ci ci;
    ds_stats_mean_ci(v, (size_t)m.requested, ds_adapt_key(s, 2, m.round), &ci);
    CHECK(m.stopped && (ci.hi - ci.lo <= 0.2 || m.requested == 96));
    CHECK(m.requested > 16 && m.lo == ci.lo && m.hi == ci.hi);
    ds_sweep_free(s);
}

/* The keyed bootstraps of src/stats.c: DS_BOOT_SEED's is report's, and on a
 * 0/1 sample the mean's resamples are p_success's (the same indices). */
static void test_keyed_bootstrap(void) {
    double v[MAXS];
    values(0.3, 1, v);
    for (int i = 0; i < MAXS; i++) v[i] = v[i] > 0.5;
    ds_ci a, am, b, bm, m;
    ds_stats_success(v, 40, 0.5, &a, &am);
    ds_stats_success_keyed(v, 40, 0.5, DS_BOOT_SEED, &b, &bm);
    CHECK(a.est == b.est && a.lo == b.lo && a.hi == b.hi && am.lo == bm.lo);
    ds_stats_mean_ci(v, 40, 1234, &m);
    ds_stats_success_keyed(v, 40, 0.5, 1234, &b, &bm);
    CHECK(m.est == b.est && m.lo == b.lo && m.hi == b.hi);
    CHECK(m.lo < m.est && m.est < m.hi);
    ds_stats_success_keyed(v, 40, 0.5, 1235, &b, &bm);
    CHECK(b.est == m.est); /* another key: the same estimate */
    for (int i = 0; i < 10; i++) v[i] = 0.25;
    ds_stats_mean_ci(v, 10, 7, &m);
    CHECK(m.est == 0.25 && m.lo == 0.25 && m.hi == 0.25);
    ds_stats_mean_ci(v, 0, 7, &m);
    CHECK(isnan(m.est) && isnan(m.lo) && isnan(m.hi));
}

int main(void) {
    test_keyed_bootstrap();
    test_constant_stops_first_round();
    test_half_grows_until_narrow();
    test_pending_blocks_failed_does_not();
    test_pure_function();
    test_lower_is_better_and_mean();
    TEST_MAIN_END();
}
