/* results_probe: opens a result file with ds_results_open and prints, for
 * each line read on stdin, a refresh's view: "S=<seeds> done=<n> pending=<n>
 * em_sum=<sum of finite EM>". Lets test_results.py check that one open
 * handle picks up runs a live writer commits later (ds_results_refresh). */
#include <math.h>
#include <stdio.h>

#include "results.h"

static void show(const ds_results *r) {
    int64_t done = 0, pending = 0;
    double sum = 0;
    for (int s = 0; s < r->n_scales; s++) {
        done += ds_results_count(r, s, DS_RUN_DONE);
        pending += ds_results_count(r, s, DS_RUN_PENDING);
        for (int64_t k = 0; k < r->n_seeds; k++)
            for (int l = 0; l < r->n_lengths; l++) {
                float v = ds_res_metric(r, DS_M_EM, s, k, l);
                if (isfinite(v)) sum += v;
            }
    }
    printf("S=%lld done=%lld pending=%lld em_sum=%.4f swmr=%d families=%d lengths=%d\n",
           (long long)r->n_seeds, (long long)done, (long long)pending, sum, r->swmr,
           r->n_families, r->n_lengths);
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    ds_results r;
    ds_error err = {0};
    if (ds_results_open(&r, argv[1], &err)) {
        printf("error %d: %s\n", err.code, err.msg);
        return err.code;
    }
    show(&r);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (ds_results_refresh(&r, &err)) {
            printf("error %d: %s\n", err.code, err.msg);
            break;
        }
        show(&r);
    }
    ds_results_close(&r);
    return 0;
}
