/* Tests of the result store and its journal (src/store.c, src/journal.c) on
 * real HDF5 files: create, write, reopen; a writer killed with SIGKILL after
 * a journal append that never reached the file (recovery + replay); a torn
 * journal tail; seed-axis extension; a journal of another file. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "journal.h"
#include "output.h"
#include "results.h"
#include "store.h"
#include "sweep.h"
#include "test.h"

static const char *yaml(int count) {
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "name: storetest\n"
             "task: {kind: count, vocab: 100, train_length: [1, 10], eval_lengths: [10, 15, 20]}\n"
             "train: {steps: 100, batch: 4, context: 64, lr: 1.0e-3, warmup: 10, log_every: 10}\n"
             "seeds: {start: 0, count: %d}\n"
             "scales:\n  - {family: width, depth: 1, width: [64, 128]}\n"
             "output: x.h5\n",
             count);
    return buf;
}

static ds_record rec_for(int scale, int64_t seed) {
    ds_record r;
    memset(&r, 0, sizeof r);
    r.scale = scale, r.attempts = 1, r.rank = 3, r.n_len = 3;
    r.r.seed = seed;
    r.r.status = DS_RUN_DONE;
    r.r.steps_done = 100;
    r.r.wall_s = 1.5;
    r.r.final_loss = 0.25f + (float)seed;
    r.r.id_em = 0.5f;
    for (int l = 0; l < 3; l++)
        for (int m = 0; m < DS_N_METRICS; m++) r.r.metrics[l][m] = (float)(100 * scale + 10 * seed + l) + 0.125f * (float)m;
    r.r.n_curve = 10;
    r.r.curve = malloc(10 * sizeof(float));
    for (int k = 0; k < 10; k++) r.r.curve[k] = (float)k / 7.0f + (float)seed;
    return r;
}

static void put1(ds_store *st, int scale, int64_t seed) {
    ds_record r = rec_for(scale, seed);
    ds_error err = {0};
    CHECK_MSG(ds_store_put(st, &r, 1, &err) == 0, "%s", err.msg);
    ds_record_free(&r);
}

static void check_run(const char *path, int scale, int64_t seed) {
    ds_results r;
    ds_error err = {0};
    if (ds_results_open(&r, path, &err)) {
        CHECK_MSG(0, "results_open: %s", err.msg);
        return;
    }
    ds_record want = rec_for(scale, seed);
    size_t at = ds_res_run(&r, scale, seed);
    CHECK(r.status[at] == DS_RUN_DONE);
    for (int l = 0; l < 3; l++)
        for (int m = 0; m < DS_N_METRICS; m++)
            CHECK(ds_res_metric(&r, m, scale, seed, l) == want.r.metrics[l][m]);
    CHECK(r.final_loss[at] == want.r.final_loss);
    CHECK(r.rank[at] == 3 && r.attempts[at] == 1 && r.steps_done[at] == 100);
    CHECK(r.n_log == 10);
    for (int k = 0; k < 10; k++) CHECK(r.train_loss[at * 10 + (size_t)k] == want.r.curve[k]);
    ds_record_free(&want);
    ds_results_close(&r);
}

static off_t fsize(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 ? sb.st_size : -1;
}

int main(void) {
    char dir[] = "/tmp/ds-store-XXXXXX", path[256], jpath[300], path2[256], j2[300], cmd[1200];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/out.h5", dir);
    snprintf(jpath, sizeof jpath, "%s.journal", path);
    ds_sweep *s4 = NULL, *s6 = NULL;
    ds_error err = {0};
    CHECK_MSG(ds_sweep_load_text("t4.yaml", yaml(4), &s4, &err) == 0, "%s", err.msg);
    CHECK_MSG(ds_sweep_load_text("t6.yaml", yaml(6), &s6, &err) == 0, "%s", err.msg);
    if (!s4 || !s6) return 1;

    /* probe of a new path */
    ds_output_probe pr;
    CHECK(ds_output_probe_path(path, &pr, &err) == 0 && !pr.exists);

    /* create, write two runs, close */
    ds_store *st = NULL;
    ds_store_info info;
    CHECK_MSG(ds_store_open(s4, path, 0, &st, &info, &err) == 0, "%s", err.msg);
    CHECK(info.created && !info.recovered && info.new_seeds == 4);
    CHECK(ds_store_count(st, -1, DS_RUN_PENDING) == 8);
    put1(st, 0, 0);
    put1(st, 1, 3);
    CHECK(ds_store_status(st, 1, 3) == DS_RUN_DONE);
    CHECK(ds_store_close(st, &err) == 0);
    check_run(path, 0, 0);
    check_run(path, 1, 3);
    CHECK(ds_output_probe_path(path, &pr, &err) == 0 && pr.exists && pr.n_seeds == 4 &&
          pr.sweep_hash == s4->yaml_hash && pr.sweep_yaml && strstr(pr.sweep_yaml, "storetest"));
    ds_output_probe_free(&pr);

    /* a writer killed after a journal append that never reached the file */
    pid_t pid = fork();
    if (pid == 0) {
        ds_store *w = NULL;
        ds_store_info wi;
        ds_error e = {0};
        if (ds_store_open(s4, path, 0, &w, &wi, &e)) _exit(9);
        ds_record r = rec_for(0, 1);
        if (ds_store_put(w, &r, 1, &e)) _exit(9);
        ds_journal *j;
        ds_record *recs;
        int64_t n;
        int stale;
        char created[64];
        ds_record_free(&r);
        /* the journal of the open file, appended to directly */
        ds_record *old;
        int64_t nold;
        if (ds_journal_read(jpath, created, &old, &nold, &e)) _exit(9);
        if (ds_journal_open(jpath, created, 0, &j, &recs, &n, &stale, &e)) _exit(9);
        r = rec_for(0, 2);
        r.t_stored = 1.0;
        if (ds_journal_append(j, &r, 1, &e)) _exit(9);
        raise(SIGKILL);
        _exit(8);
    }
    int wst;
    waitpid(pid, &wst, 0);
    CHECK(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);
    /* the killed writer's file: readable SWMR, refused by plain h5dump */
    snprintf(cmd, sizeof cmd, "h5dump -H %s >/dev/null 2>&1", path);
    CHECK(system(cmd) != 0);
    CHECK(ds_output_probe_path(path, &pr, &err) == 0 && pr.exists);
    ds_output_probe_free(&pr);
    CHECK_MSG(ds_store_open(s4, path, 0, &st, &info, &err) == 0, "%s", err.msg);
    CHECK(!info.created && info.recovered == 1);
    CHECK_MSG(info.replayed == 1, "replayed %lld", (long long)info.replayed);
    CHECK(ds_store_status(st, 0, 1) == DS_RUN_DONE && ds_store_status(st, 0, 2) == DS_RUN_DONE);
    CHECK(ds_store_count(st, -1, DS_RUN_DONE) == 4);
    CHECK(ds_store_close(st, &err) == 0);
    CHECK(system(cmd) == 0); /* closed cleanly: h5dump opens it */
    check_run(path, 0, 1);
    check_run(path, 0, 2);
    check_run(path, 0, 0);

    /* a torn record at the journal's end is cut off */
    off_t before = fsize(jpath);
    FILE *f = fopen(jpath, "ab");
    fwrite("JSRJ\x40\0\0\0garbage", 1, 15, f);
    fclose(f);
    CHECK_MSG(ds_store_open(s4, path, 0, &st, &info, &err) == 0, "%s", err.msg);
    CHECK(info.replayed == 0 && fsize(jpath) == before);
    ds_record *recs;
    int64_t n;
    char created[64];
    CHECK(ds_journal_read(jpath, created, &recs, &n, &err) == 0 && n == 4);
    for (int64_t k = 0; k < n; k++) ds_record_free(&recs[k]);
    free(recs);
    CHECK(ds_store_close(st, &err) == 0);

    /* seed extension 4 -> 6: old runs kept, new ones pending */
    CHECK_MSG(ds_store_open(s6, path, 0, &st, &info, &err) == 0, "%s", err.msg);
    CHECK(info.old_seeds == 4 && info.new_seeds == 6 && ds_store_n_seeds(st) == 6);
    CHECK(ds_store_count(st, -1, DS_RUN_DONE) == 4 && ds_store_count(st, -1, DS_RUN_PENDING) == 8);
    put1(st, 1, 5);
    CHECK(ds_store_close(st, &err) == 0);
    check_run(path, 1, 5);
    check_run(path, 1, 3);
    {
        ds_results r;
        CHECK(ds_results_open(&r, path, &err) == 0);
        CHECK(r.n_seeds == 6 && r.seeds[5] == 5);
        CHECK(isnan(ds_res_metric(&r, DS_M_EM, 0, 5, 0)));
        ds_results_close(&r);
    }
    /* shrinking is refused */
    CHECK(ds_store_open(s4, path, 0, &st, &info, &err) == DS_EXIT_USAGE);

    /* a journal of another file (another `created`; here of another sweep too)
     * is moved aside, never replayed */
    snprintf(path2, sizeof path2, "%s/other.h5", dir);
    snprintf(j2, sizeof j2, "%s.journal", path2);
    {
        ds_journal *j = NULL;
        ds_record *recs = NULL;
        int64_t n = 0;
        int stale = 0;
        ds_error e = {0};
        CHECK(ds_journal_open(j2, "2020-01-01T00:00:00Z", s4->yaml_hash ^ 1, &j, &recs, &n, &stale, &e) == 0);
        ds_journal_close(j);
        free(recs);
    }
    CHECK(!ds_output_journal_of_sweep(path2, s4));
    CHECK_MSG(ds_store_open(s4, path2, 0, &st, &info, &err) == 0, "%s", err.msg);
    CHECK(info.created && !info.rebuilt && info.stale_journal && info.replayed == 0);
    CHECK(ds_store_count(st, -1, DS_RUN_DONE) == 0);
    CHECK(ds_store_close(st, &err) == 0);

    /* a missing file beside a journal of this sweep is made again from it:
     * every run of the journal restored (src/store.h, ds_store_open) */
    {
        char path3[512], j3[560];
        snprintf(path3, sizeof path3, "%s/again.h5", dir);
        snprintf(j3, sizeof j3, "%s.journal", path3);
        snprintf(cmd, sizeof cmd, "cp %s %s", jpath, j3);
        CHECK(system(cmd) == 0);
        CHECK(ds_output_journal_of_sweep(path3, s4));
        CHECK_MSG(ds_store_open(s4, path3, 0, &st, &info, &err) == 0, "%s", err.msg);
        CHECK(info.created && info.rebuilt && !info.stale_journal && info.replayed > 0);
        if (!st) return 1;
        int64_t done_again = ds_store_count(st, -1, DS_RUN_DONE) + ds_store_count(st, -1, DS_RUN_DIVERGED);
        /* the original holds 6 seeds now (extended above): so must the rebuilt one */
        int64_t n_again = ds_store_n_seeds(st);
        CHECK(ds_store_close(st, &err) == 0);
        CHECK_MSG(ds_store_open(s6, path, 0, &st, &info, &err) == 0, "%s", err.msg);
        if (!st) return 1;
        CHECK(n_again == ds_store_n_seeds(st));
        int64_t done_orig = ds_store_count(st, -1, DS_RUN_DONE) + ds_store_count(st, -1, DS_RUN_DIVERGED);
        CHECK(ds_store_close(st, &err) == 0);
        CHECK_MSG(done_again == done_orig && done_orig > 0, "rebuilt %lld of %lld finished runs",
                  (long long)done_again, (long long)done_orig);
    }

    /* A journal header's `created` is validated like any other input: the
     * header has no checksum, and a damaged one was copied verbatim into a
     * rebuilt file ("2026-12-o5T..."). */
    CHECK(ds_journal_created_valid("2026-12-05T22:10:01.194323Z"));
    CHECK(ds_journal_created_valid("2026-12-31T23:59:60.000000Z"));
    CHECK(!ds_journal_created_valid("2026-12-o5T22:10:01.194323Z"));
    CHECK(!ds_journal_created_valid("2026-13-05T22:10:01.194323Z"));
    CHECK(!ds_journal_created_valid("2026-12-00T22:10:01.194323Z"));
    CHECK(!ds_journal_created_valid("2026-12-05T24:10:01.194323Z"));
    CHECK(!ds_journal_created_valid("2026-12-05 22:10:01.194323Z"));
    CHECK(!ds_journal_created_valid("2026-12-05T22:10:01.194323"));
    CHECK(!ds_journal_created_valid("2026-12-05T22:10:01.194323Zx"));
    CHECK(!ds_journal_created_valid("2020-01-01T00:00:00Z"));
    CHECK(!ds_journal_created_valid(""));
    {
        /* a journal of this sweep with one digit of `created` damaged: no
         * rebuild from it (its header is damaged), and the new file's
         * `created` is a fresh, valid one; the journal is kept aside */
        char path4[512], j4[560], jc[DS_JOURNAL_CREATED_MAX];
        uint64_t h = 0;
        snprintf(path4, sizeof path4, "%s/dated.h5", dir);
        snprintf(j4, sizeof j4, "%s.journal", path4);
        snprintf(cmd, sizeof cmd, "cp %s %s", jpath, j4);
        CHECK(system(cmd) == 0);
        CHECK(ds_journal_identity(j4, jc, &h) == 0 && ds_journal_created_valid(jc));
        FILE *fp = fopen(j4, "r+b");
        CHECK(fp && fseek(fp, 8 + 9, SEEK_SET) == 0 && fputc('o', fp) == 'o' && fclose(fp) == 0);
        CHECK(ds_journal_identity(j4, jc, &h) == -1 && jc[0] == 0);
        CHECK(!ds_output_journal_of_sweep(path4, s4));
        ds_record *recs = NULL;
        int64_t n = 0;
        ds_error e = {0};
        CHECK(ds_journal_read(j4, jc, &recs, &n, &e) != 0 && strstr(e.msg, "damaged journal header"));
        CHECK_MSG(ds_store_open(s4, path4, 0, &st, &info, &err) == 0, "%s", err.msg);
        CHECK(info.created && !info.rebuilt && info.stale_journal && info.replayed == 0);
        CHECK(ds_store_close(st, &err) == 0);
        CHECK(ds_journal_identity(j4, jc, &h) == 0 && ds_journal_created_valid(jc));
    }

    /* move aside keeps everything */
    char moved[512];
    CHECK(ds_output_move_aside(path, moved, sizeof moved, &err) == 0);
    CHECK(fsize(path) < 0 && fsize(moved) > 0);
    snprintf(cmd, sizeof cmd, "%s.journal", moved);
    CHECK(fsize(cmd) > 0);

    ds_sweep_free(s4);
    ds_sweep_free(s6);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (!ds_test_failures) CHECK(system(cmd) == 0);
    TEST_MAIN_END();
}
