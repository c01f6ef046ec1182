/* stats_driver: reads one request per line on stdin and prints one JSON object
 * per line with what src/stats computes, so that tests/stats/test_stats_ref.py
 * can compare every statistic with NumPy/SciPy. Requests:
 *   sample TAU LO HI v1 v2 ...   sample statistics of the finite values
 *   w2 a1 a2 ... | b1 b2 ...     Wasserstein-2 of two samples
 *   curve y1 y2 ...              breakthroughness and linearity
 *   dipnull N SIMS               the dip null quantiles 0.5, 0.95, 0.99
 * Values are anything strtod reads ("nan", "inf" included). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "stats.h"

static void num(const char *key, double v, int last) {
    if (isnan(v)) printf("\"%s\": NaN", key);
    else if (isinf(v)) printf("\"%s\": %sInfinity", key, v < 0 ? "-" : "");
    else printf("\"%s\": %.17g", key, v);
    fputs(last ? "}\n" : ", ", stdout);
}

/* Parses whitespace-separated numbers from s until end or "|"; returns count
 * and sets *rest past the "|" (or NULL). */
static size_t parse(char *s, double *out, char **rest) {
    size_t n = 0;
    *rest = NULL;
    for (char *tok = strtok(s, " \t\n"); tok; tok = strtok(NULL, " \t\n")) {
        if (!strcmp(tok, "|")) {
            *rest = tok + strlen(tok) + 1;
            break;
        }
        out[n++] = strtod(tok, NULL);
    }
    return n;
}

int main(void) {
    static char line[1 << 20];
    static double a[1 << 16], b[1 << 16];
    while (fgets(line, sizeof line, stdin)) {
        char *rest, cmd[32];
        if (sscanf(line, "%31s", cmd) != 1) continue;
        char *args = line + strlen(cmd) + (line[strlen(cmd)] ? 1 : 0);
        while (*args == ' ') args++;
        if (!strcmp(cmd, "sample")) {
            size_t n = parse(args, a, &rest);
            double tau = a[0], lo = a[1], hi = a[2];
            n = ds_stats_finite(a + 3, n - 3, b);
            ds_ci p, ms;
            ds_stats_success(b, n, tau, &p, &ms);
            double G1, G2, BC;
            ds_stats_moments(b, n, &G1, &G2, &BC);
            int64_t h[10];
            ds_stats_histogram(b, n, lo, hi, 10, h);
            printf("{\"n\": %zu, \"hist\": [", n);
            for (int i = 0; i < 10; i++) printf("%lld%s", (long long)h[i], i < 9 ? ", " : "], ");
            num("mean", ds_stats_mean(b, n), 0);
            num("median", ds_stats_median(b, n), 0);
            num("std", ds_stats_std(b, n), 0);
            num("bw", n ? ds_stats_scott_bandwidth(b, n) : NAN, 0);
            num("mode", ds_stats_kde_mode(b, n, lo, hi), 0);
            num("p", p.est, 0), num("p_lo", p.lo, 0), num("p_hi", p.hi, 0);
            num("ms", ms.est, 0), num("ms_lo", ms.lo, 0), num("ms_hi", ms.hi, 0);
            num("G1", G1, 0), num("G2", G2, 0), num("BC", BC, 0);
            num("dip", ds_stats_dip(b, n), 1);
        } else if (!strcmp(cmd, "w2")) {
            size_t n = parse(args, a, &rest), m = 0;
            if (rest) m = parse(rest, b, &rest);
            printf("{");
            num("w2", ds_stats_w2(a, n, b, m), 1);
        } else if (!strcmp(cmd, "curve")) {
            size_t n = parse(args, a, &rest);
            double B, L;
            ds_stats_breakthrough(a, n, &B, &L);
            printf("{");
            num("B", B, 0);
            num("Lin", L, 1);
        } else if (!strcmp(cmd, "dipnull")) {
            size_t n = parse(args, a, &rest);
            if (n != 2) ds_die(2, "dipnull N SIMS");
            size_t nn = (size_t)a[0], sims = (size_t)a[1];
            double *null = DS_MALLOC(sims * sizeof *null);
            ds_stats_dip_null(nn, sims, null);
            printf("{");
            num("q50", ds_stats_quantile_sorted(null, sims, 0.5), 0);
            num("q95", ds_stats_quantile_sorted(null, sims, 0.95), 0);
            num("q99", ds_stats_quantile_sorted(null, sims, 0.99), 1);
            free(null);
        } else {
            ds_die(2, "stats_driver: unknown request '%s'", cmd);
        }
        fflush(stdout);
    }
    return 0;
}
