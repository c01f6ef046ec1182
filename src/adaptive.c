/* adaptive: see adaptive.h. */
#include "adaptive.h"

#include <math.h>
#include <string.h>

#include "schema.h"
#include "stats.h"

uint64_t ds_adapt_key(const ds_sweep *s, int scale, int round) {
    uint64_t v[3] = {s->yaml_hash, (uint64_t)scale, (uint64_t)round};
    return ds_fnv1a64(v, sizeof v, DS_FNV1A64_INIT);
}

/* The statistic of the counted values x[0..n) with its interval, keyed. */
static void statistic(const ds_adaptive_spec *a, double *x, size_t n, uint64_t key, ds_ci *out) {
    ds_ci p, ms;
    if (a->statistic == DS_ADAPT_MEAN) {
        ds_stats_mean_ci(x, n, key, out);
        return;
    }
    if (ds_metric_lower_is_better(a->metric)) {
        /* success is x <= tau, as in `report` (src/cmd_report.c) */
        for (size_t i = 0; i < n; i++) x[i] = -x[i];
        ds_stats_success_keyed(x, n, -a->threshold, key, &p, &ms);
        ms = (ds_ci){-ms.est, -ms.hi, -ms.lo};
    } else {
        ds_stats_success_keyed(x, n, a->threshold, key, &p, &ms);
    }
    *out = a->statistic == DS_ADAPT_P_SUCCESS ? p : ms;
}

int ds_adapt_decide(const ds_sweep *s, int scale, const uint8_t *status, const double *value,
                    int64_t n_seeds, ds_adapt_state *st) {
    const ds_adaptive_spec *a = &s->seeds.adaptive;
    DS_ASSERT(a->enabled);
    int64_t before = st->requested;
    if (st->requested == 0) {
        memset(st, 0, sizeof *st);
        st->requested = s->seeds.count < a->max ? s->seeds.count : a->max;
        st->est = st->lo = st->hi = NAN;
    }
    double *x = NULL;
    while (!st->stopped) {
        int64_t n = st->requested;
        if (n > n_seeds) break; /* seeds the file does not hold yet are pending */
        int finished = 1;
        for (int64_t i = 0; i < n && finished; i++)
            finished = status[i] == DS_RUN_DONE || status[i] == DS_RUN_DIVERGED ||
                       status[i] == DS_RUN_FAILED;
        if (!finished) break;
        if (!x) x = DS_MALLOC(sizeof *x * (size_t)(n_seeds ? n_seeds : 1));
        size_t k = ds_stats_finite(value, (size_t)n, x);
        ds_ci ci;
        statistic(a, x, k, ds_adapt_key(s, scale, st->round), &ci);
        st->n = (int64_t)k, st->est = ci.est, st->lo = ci.lo, st->hi = ci.hi;
        /* an undefined interval (no value; mean_success without a success)
         * never counts as narrow: the scale goes on to max */
        if ((isfinite(ci.lo) && isfinite(ci.hi) && ci.hi - ci.lo <= a->ci_width) || n >= a->max) {
            st->stopped = 1;
            break;
        }
        st->requested = n + a->step < a->max ? n + a->step : a->max;
        st->round++;
    }
    free(x);
    return st->requested > before;
}
