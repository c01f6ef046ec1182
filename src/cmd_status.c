/* cmd_status: `distsweep status OUT.h5` — done/diverged/failed/pending runs
 * per scale, the report block's mean and success fraction so far, the recent
 * rate and an ETA. Read-only and safe while a sweep
 * writes the file (SWMR read through results.h), after it, and on a file
 * left behind by a killed writer. The rate comes from the journal beside the
 * file (each record carries the time rank 0 stored it). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "cli.h"
#include "common.h"
#include "h5check.h"
#include "packplan.h"
#include "journal.h"
#include "output.h"
#include "results.h"

/* The packs data-parallel groups train, from the group files in the
 * checkpoint directory (src/packplan.h): which ranks, which scale. A killed
 * sweep's files stay until it is run again, so they say "last assigned". */
static void print_groups(const char *path, const ds_results *r) {
    char dir[DS_OUTPUT_PATH_MAX];
    ds_output_path(path, DS_OUTPUT_CKPT_DIR, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    int shown = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n <= 6 || strcmp(e->d_name + n - 6, ".group")) continue;
        char file[DS_PACK_PATH_MAX];
        snprintf(file, sizeof file, "%s/%s", dir, e->d_name);
        int scale, R, k, ranks[64];
        if (ds_pack_read_group(file, &scale, &R, &k, ranks, 64) || scale >= r->n_scales) continue;
        if (!shown++) printf("data-parallel groups (last assigned; %s/*.group):\n", dir);
        printf("  ranks");
        for (int i = 0; i < k; i++) printf(" %d", ranks[i]);
        printf(" (leader %d) train %s, %d run(s): pack %.*s\n", ranks[0], r->scale_name[scale], R,
               (int)(n - 6), e->d_name);
    }
    closedir(d);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: distsweep status OUT.h5\n\n"
            "Per scale: runs done, diverged, failed and pending, and the mean and the\n"
            "success fraction of the runs counted so far at the report block's metric,\n"
            "length and threshold (docs/sweep-file.md \"report\"); the rate of the last\n"
            "hour (from OUT.h5.journal) and the time left at that rate. Safe while the\n"
            "sweep runs. Exit 0, or 2 if the file is missing or not a result file.\n");
}

static void fmt_hms(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 1e9) {
        snprintf(buf, n, "unknown");
        return;
    }
    long t = (long)(s + 0.5);
    snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
}

int ds_cmd_status(int argc, char **argv) {
    if (ds_cli_wants_help(argc, argv)) {
        usage(stdout);
        return DS_EXIT_OK;
    }
    if (argc != 2 || argv[1][0] == '-') {
        usage(stderr);
        return DS_EXIT_USAGE;
    }
    const char *path = argv[1];
    ds_h5_library_init(); /* no close at exit: it loops after a damaged read */
    ds_results r;
    ds_error err = {0};
    if (ds_results_open(&r, path, &err)) {
        fprintf(stderr, "distsweep: %s\n", err.msg);
        return err.code ? err.code : DS_EXIT_USAGE;
    }
    printf("%s: sweep '%s', %d scale(s) x %lld seed(s), precision %s, created %s (distsweep %s, "
           "git %s)%s\n",
           path, r.sweep_name, r.n_scales, (long long)r.n_seeds, r.precision, r.created,
           r.distsweep_version, r.git_commit, r.swmr ? "" : "");
    /* The report block's view of the runs so far (src/results.h
     * ds_results_report_defaults): the mean and the success fraction at the
     * length that shows the phenomenon, without the report's bootstrap. */
    ds_res_report rep;
    ds_results_report_defaults(&r, &rep);
    const char *mname = ds_metric_name_of(r.eval_kind, rep.metric);
    int lower = ds_metric_lower_is_better(rep.metric);
    if (rep.length_index >= 0) {
        char at[DS_RES_POINT_NAME_MAX]; /* a test length, or a corpus task's evaluation set */
        ds_results_point_name(&r, rep.length_index, at);
        printf("%s at %s (%s), success = %s %s %g (%s); `distsweep report` for the statistics\n", mname,
               at, rep.length_why, mname, lower ? "<=" : ">=", rep.threshold, rep.threshold_why);
    }
    if (rep.note[0]) printf("note: %s; defaults used\n", rep.note);
    /* An adaptive sweep's scales have their own seed counts: two more
     * columns, the seeds a scale requested and the rest of the axis. */
    int adaptive = 0;
    for (int sc = 0; sc < r.n_scales; sc++) adaptive |= ds_results_count(&r, sc, DS_RUN_UNREQUESTED) > 0;
    int nw = 14; /* as wide as the longest name (a values family's d64_L2_lr=0.0003) */
    for (int sc = 0; sc < r.n_scales; sc++)
        if ((int)strlen(r.scale_name[sc]) > nw) nw = (int)strlen(r.scale_name[sc]);
    printf("%-*s %12s %8s %9s %7s %8s", nw, "scale", "params", "done", "diverged", "failed",
           "pending");
    if (adaptive) printf(" %6s %11s", "seeds", "unrequested");
    printf(" %8s %9s\n", "mean", "p_success");
    int64_t tot[DS_N_RUN_STATUS] = {0};
    for (int sc = 0; sc < r.n_scales; sc++) {
        int64_t c[DS_N_RUN_STATUS];
        for (int k = 0; k < DS_N_RUN_STATUS; k++) c[k] = ds_results_count(&r, sc, k), tot[k] += c[k];
        double sum = 0;
        int64_t n = 0, ok = 0;
        for (int64_t i = 0; rep.length_index >= 0 && i < r.n_seeds; i++) {
            double v = ds_results_value(&r, rep.metric, sc, i, rep.length_index);
            if (!isfinite(v)) continue;
            sum += v, n++;
            ok += lower ? v <= rep.threshold : v >= rep.threshold;
        }
        char mean[32] = "-", psucc[32] = "-";
        if (n) {
            snprintf(mean, sizeof mean, "%.3f", sum / (double)n);
            snprintf(psucc, sizeof psucc, "%.3f", (double)ok / (double)n);
        }
        printf("%-*s %12lld %8lld %9lld %7lld %8lld", nw, r.scale_name[sc],
               (long long)r.n_params[sc], (long long)c[DS_RUN_DONE],
               (long long)c[DS_RUN_DIVERGED], (long long)c[DS_RUN_FAILED],
               (long long)c[DS_RUN_PENDING]);
        if (adaptive)
            printf(" %6lld %11lld", (long long)(r.n_seeds - c[DS_RUN_UNREQUESTED]),
                   (long long)c[DS_RUN_UNREQUESTED]);
        printf(" %8s %9s\n", mean, psucc);
    }
    printf("%-*s %12s %8lld %9lld %7lld %8lld", nw, "total", "", (long long)tot[DS_RUN_DONE],
           (long long)tot[DS_RUN_DIVERGED], (long long)tot[DS_RUN_FAILED],
           (long long)tot[DS_RUN_PENDING]);
    if (adaptive)
        printf(" %6lld %11lld", (long long)((int64_t)r.n_scales * r.n_seeds - tot[DS_RUN_UNREQUESTED]),
               (long long)tot[DS_RUN_UNREQUESTED]);
    printf("\n");

    /* Rate: runs stored during the last hour of journal activity. */
    char jpath[DS_OUTPUT_PATH_MAX], created[DS_JOURNAL_CREATED_MAX];
    ds_output_path(path, DS_OUTPUT_JOURNAL, jpath, sizeof jpath);
    ds_record *recs = NULL;
    int64_t n = 0;
    ds_error jerr = {0};
    if (ds_journal_read(jpath, created, &recs, &n, &jerr) == 0 && !strcmp(created, r.created) &&
        n > 0) {
        double last = recs[n - 1].t_stored, first = last;
        int64_t k = 0;
        for (int64_t i = n - 1; i >= 0 && recs[i].t_stored >= last - 3600.0; i--)
            first = recs[i].t_stored, k++;
        struct timeval tv;
        gettimeofday(&tv, NULL);
        double now = (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
        double span = last - first;
        char ago[32], eta[32];
        fmt_hms(now - last, ago, sizeof ago);
        if (k >= 2 && span > 0) {
            double rate = (double)(k - 1) / span * 3600.0;
            fmt_hms(tot[DS_RUN_PENDING] / rate * 3600.0, eta, sizeof eta);
            printf("rate: %.1f runs/hour (last %lld runs); ", rate, (long long)k);
            if (tot[DS_RUN_PENDING] > 0) printf("ETA %s at that rate; ", eta);
        } else {
            printf("rate: not enough runs yet; ");
        }
        printf("last run stored %s ago\n", ago);
    } else {
        printf("rate: unknown (no journal %s beside the file)\n", jpath);
    }
    for (int64_t i = 0; i < n; i++) ds_record_free(&recs[i]);
    free(recs);
    print_groups(path, &r);
    if (tot[DS_RUN_PENDING] == 0)
        printf("complete%s\n", tot[DS_RUN_FAILED] ? " (with failed runs: --retry-failed reruns them)" : "");
    ds_results_close(&r);
    return DS_EXIT_OK;
}
