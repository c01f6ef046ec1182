/* Tests of the output family (src/output.c): every member's and moved-aside
 * name from the one function that makes them, and each decision of
 * ds_output_open_for_run on real files in a temporary directory (result files
 * made with the store API): a new file, a resume, another sweep refused,
 * fewer seeds refused, a file that is not HDF5 and a foreign HDF5 file
 * refused untouched, a damaged file with a journal of this sweep rebuilt,
 * without one refused untouched, a stored sweep that does not load, --fresh
 * moving every member aside, and a lock held elsewhere. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "modelfile.h"
#include "output.h"
#include "store.h"
#include "sweep.h"
#include "test.h"

static const char *yaml(int count, const char *lr) {
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "name: outputtest\n"
             "task: {kind: count, vocab: 100, train_length: [1, 10], eval_lengths: [10, 15, 20]}\n"
             "train: {steps: 100, batch: 4, context: 64, lr: %s, warmup: 10, log_every: 10}\n"
             "seeds: {start: 0, count: %d}\n"
             "scales:\n  - {family: width, depth: 1, width: [64, 128]}\n"
             "output: x.h5\n",
             lr, count);
    return buf;
}

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

static char *member(const char *out, ds_output_member m) {
    static char buf[4][DS_OUTPUT_PATH_MAX];
    static int k;
    char *b = buf[k++ % 4];
    CHECK(ds_output_path(out, m, b, DS_OUTPUT_PATH_MAX) == 0);
    return b;
}

/* The whole file at p (malloc'd, *n bytes), or NULL. */
static unsigned char *slurp(const char *p, size_t *n) {
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

static int same_bytes(const char *p, const unsigned char *want, size_t n) {
    size_t m = 0;
    unsigned char *b = slurp(p, &m);
    int same = b && m == n && !memcmp(b, want, n);
    free(b);
    return same;
}

static void spit(const char *p, const void *data, size_t n) {
    FILE *f = fopen(p, "wb");
    CHECK(f && fwrite(data, 1, n, f) == n);
    if (f) fclose(f);
}

/* Entries of dir whose name starts with prefix. */
static int n_entries(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += !strncmp(e->d_name, prefix, strlen(prefix));
    if (d) closedir(d);
    return n;
}

/* A result file of sweep s at path with runs (0, 0) and (1, 1) done (and so
 * a journal beside it). */
static void make_result(const ds_sweep *s, const char *path) {
    ds_store *st = NULL;
    ds_store_info info;
    ds_error err = {0};
    CHECK_MSG(ds_store_open(s, path, 0, &st, &info, &err) == 0, "%s", err.msg);
    if (!st) return;
    for (int k = 0; k < 2; k++) {
        ds_record r;
        memset(&r, 0, sizeof r);
        r.scale = k, r.attempts = 1, r.rank = 0, r.n_len = 3;
        r.r.seed = k;
        r.r.status = DS_RUN_DONE;
        r.r.steps_done = 100;
        r.r.wall_s = 1;
        r.r.final_loss = 0.5f, r.r.id_em = 1;
        for (int l = 0; l < 3; l++)
            for (int m = 0; m < DS_N_METRICS; m++) r.r.metrics[l][m] = 0.25f * (float)(l + m);
        CHECK_MSG(ds_store_put(st, &r, 1, &err) == 0, "%s", err.msg);
    }
    CHECK_MSG(ds_store_close(st, &err) == 0, "%s", err.msg);
}

/* Opens path for a run of s; returns the code, fills res and err. */
static int open_run(const ds_sweep *s, const char *path, int fresh, ds_output_open_result *res,
                    ds_error *err) {
    ds_output_opts o = {.fresh = fresh};
    memset(err, 0, sizeof *err);
    return ds_output_open_for_run(s, path, &o, res, err);
}

static void test_names(void) {
    const char *out = "/data/r.h5";
    static const char *const want[DS_N_OUTPUT_MEMBERS] = {
        [DS_OUTPUT_FILE] = "/data/r.h5",           [DS_OUTPUT_JOURNAL] = "/data/r.h5.journal",
        [DS_OUTPUT_CKPT_DIR] = "/data/r.h5.ckpt",  [DS_OUTPUT_MODELS_DIR] = "/data/r.h5.models",
        [DS_OUTPUT_LOCK] = "/data/r.h5.lock",      [DS_OUTPUT_TMP] = "/data/r.h5.tmp"};
    char buf[DS_OUTPUT_PATH_MAX];
    for (int m = 0; m < DS_N_OUTPUT_MEMBERS; m++) {
        CHECK(ds_output_path(out, (ds_output_member)m, buf, sizeof buf) == 0);
        CHECK_MSG(!strcmp(buf, want[m]), "member %d: '%s'", m, buf);
    }
    /* too small: -1 and a terminated prefix; exactly enough: 0 */
    char small[11];
    CHECK(ds_output_path(out, DS_OUTPUT_JOURNAL, small, sizeof small) == -1 && !strcmp(small, out));
    CHECK(ds_output_path(out, DS_OUTPUT_FILE, small, sizeof small) == 0 && !strcmp(small, out));
    ds_modelfile_dir(out, buf, sizeof buf);
    CHECK(!strcmp(buf, "/data/r.h5.models"));

    /* 1700000000 is 2023-11-14 22:13:20 UTC */
    const time_t t = 1700000000;
    CHECK(ds_output_aside_name(out, DS_OUTPUT_ASIDE_OLD, t, 0, buf, sizeof buf) == 0);
    CHECK_MSG(!strcmp(buf, "/data/r.old-20231114T221320Z.h5"), "%s", buf);
    CHECK(ds_output_aside_name(out, DS_OUTPUT_ASIDE_OLD, t, 2, buf, sizeof buf) == 0);
    CHECK_MSG(!strcmp(buf, "/data/r.old-20231114T221320Z-2.h5"), "%s", buf);
    CHECK(ds_output_aside_name("/data/res", DS_OUTPUT_ASIDE_OLD, t, 0, buf, sizeof buf) == 0);
    CHECK_MSG(!strcmp(buf, "/data/res.old-20231114T221320Z"), "%s", buf);
    CHECK(ds_output_aside_name(out, DS_OUTPUT_ASIDE_DAMAGED, t, 0, buf, sizeof buf) == 0);
    CHECK_MSG(!strcmp(buf, "/data/r.h5.damaged-20231114T221320Z"), "%s", buf);
    CHECK(ds_output_aside_name(out, DS_OUTPUT_ASIDE_DAMAGED, t, 1, buf, sizeof buf) == 0);
    CHECK_MSG(!strcmp(buf, "/data/r.h5.damaged-20231114T221320Z-1"), "%s", buf);
    CHECK(ds_output_aside_name(out, DS_OUTPUT_ASIDE_DAMAGED, t, 0, small, sizeof small) == -1);
    CHECK(ds_output_aside_name("/data/r.h5.models/scale0-seed3.safetensors", DS_OUTPUT_ASIDE_ORPHAN,
                               t, 2, buf, sizeof buf) == 0);
    CHECK_MSG(!strcmp(buf, "/data/r.h5.models/scale0-seed3.safetensors.orphan-20231114T221320Z-2"),
              "%s", buf);
    /* an old family's members are the members of the old name */
    CHECK(ds_output_aside_name(out, DS_OUTPUT_ASIDE_OLD, t, 0, buf, sizeof buf) == 0);
    CHECK(!strcmp(member(buf, DS_OUTPUT_MODELS_DIR), "/data/r.old-20231114T221320Z.h5.models"));
    CHECK(ds_output_stale_journal_name(want[DS_OUTPUT_JOURNAL], 1700000000LL, buf, sizeof buf) == 0);
    CHECK_MSG(!strcmp(buf, "/data/r.h5.journal.stale-1700000000"), "%s", buf);
}

int main(void) {
    char dir[] = "/tmp/ds-output-XXXXXX", path[512], cmd[1200];
    CHECK(mkdtemp(dir) != NULL);
    ds_sweep *s4 = NULL, *s6 = NULL, *lr = NULL;
    ds_error err = {0};
    CHECK_MSG(ds_sweep_load_text("t4.yaml", yaml(4, "1.0e-3"), &s4, &err) == 0, "%s", err.msg);
    CHECK_MSG(ds_sweep_load_text("t6.yaml", yaml(6, "1.0e-3"), &s6, &err) == 0, "%s", err.msg);
    CHECK_MSG(ds_sweep_load_text("lr.yaml", yaml(4, "2.0e-3"), &lr, &err) == 0, "%s", err.msg);
    if (!s4 || !s6 || !lr) return 1;
    ds_output_open_result res;
    char want[4096];

    test_names();

    /* a new file, in a directory that does not exist yet: made, nothing else */
    snprintf(path, sizeof path, "%s/sub/new.h5", dir);
    CHECK_MSG(open_run(s4, path, 0, &res, &err) == 0, "%s", err.msg);
    CHECK(res.decision == DS_OUTPUT_NEW && res.probe_found == DS_OUTPUT_FOUND_NOTHING);
    CHECK(res.lock_fd >= 0 && exists(member(path, DS_OUTPUT_LOCK)));
    CHECK(!exists(path) && !exists(member(path, DS_OUTPUT_JOURNAL)));
    CHECK(!strcmp(res.journal, member(path, DS_OUTPUT_JOURNAL)));
    {
        /* while it is held, another open (another open file description)
         * is refused, and so is a bare lock */
        ds_output_open_result r2;
        CHECK(open_run(s4, path, 0, &r2, &err) == DS_EXIT_ERROR);
        CHECK(r2.decision == DS_OUTPUT_REFUSED_LOCKED && r2.lock_fd == -1);
        snprintf(want, sizeof want, "%s: another distsweep is writing this file (%s.lock is locked)",
                 path, path);
        CHECK_MSG(!strcmp(err.msg, want), "%s", err.msg);
        int fd = -1, locked = 0;
        CHECK(ds_output_lock(path, &fd, &locked, &err) == DS_EXIT_ERROR && fd == -1 && locked);
        ds_output_unlock(res.lock_fd);
        CHECK(ds_output_lock(path, &fd, &locked, &err) == 0 && fd >= 0 && !locked);
        ds_output_unlock(fd);
    }

    /* a whole result file: resumed by its sweep, and by the same sweep with
     * more seeds; fewer seeds or another sweep is refused, untouched, the
     * lock given back */
    snprintf(path, sizeof path, "%s/whole.h5", dir);
    make_result(s4, path);
    CHECK_MSG(open_run(s4, path, 0, &res, &err) == 0, "%s", err.msg);
    CHECK(res.decision == DS_OUTPUT_RESUME && res.probe_found == DS_OUTPUT_FOUND_RESULT &&
          !res.damaged && !res.damaged_to[0] && !res.fresh_to[0] && res.lock_fd >= 0);
    ds_output_unlock(res.lock_fd);
    CHECK_MSG(open_run(s6, path, 0, &res, &err) == 0, "%s", err.msg);
    CHECK(res.decision == DS_OUTPUT_RESUME);
    ds_output_unlock(res.lock_fd);
    {
        size_t n = 0;
        unsigned char *before = slurp(path, &n);
        CHECK(open_run(lr, path, 0, &res, &err) == DS_EXIT_USAGE);
        CHECK(res.decision == DS_OUTPUT_REFUSED_OTHER_SWEEP && res.lock_fd == -1);
        CHECK_MSG(!strcmp(res.diff, "train.lr: 0.001 in the result file, 0.002 in the sweep file"),
                  "%s", res.diff);
        snprintf(want, sizeof want,
                 "%s was made by a different sweep: %s. Use the original sweep file, another -o, "
                 "or --fresh to start over (the old file is moved aside, not deleted)", path,
                 res.diff);
        CHECK_MSG(!strcmp(err.msg, want), "%s", err.msg);
        CHECK(before && same_bytes(path, before, n));
        int fd = -1;
        CHECK(ds_output_lock(path, &fd, NULL, &err) == 0); /* given back */
        ds_output_unlock(fd);
        free(before);

        /* the file's axis grows to 6 seeds; a sweep of 4 then asks to shrink it */
        ds_store *st = NULL;
        ds_store_info info;
        CHECK_MSG(ds_store_open(s6, path, 0, &st, &info, &err) == 0, "%s", err.msg);
        if (st) CHECK(ds_store_close(st, &err) == 0);
        CHECK(open_run(s4, path, 0, &res, &err) == DS_EXIT_USAGE);
        CHECK(res.decision == DS_OUTPUT_REFUSED_OTHER_SWEEP);
        CHECK_MSG(!strcmp(res.diff, "seeds.count: 6 in the result file, 4 in the sweep file "
                                    "(seeds can be added, not removed)"), "%s", res.diff);
    }

    /* not HDF5: refused untouched, nothing made beside it */
    snprintf(path, sizeof path, "%s/junk.h5", dir);
    {
        const char junk[] = "not an HDF5 file\n";
        spit(path, junk, sizeof junk - 1);
        CHECK(open_run(s4, path, 0, &res, &err) == DS_EXIT_USAGE);
        CHECK(res.decision == DS_OUTPUT_REFUSED_FOUND && res.probe_found == DS_OUTPUT_FOUND_NOT_HDF5 &&
              res.damaged && res.lock_fd == -1);
        snprintf(want, sizeof want, "%s: exists and is not an HDF5 file", path);
        CHECK_MSG(!strcmp(res.why, want), "%s", res.why);
        snprintf(want, sizeof want, "%s: exists and is not an HDF5 file; refusing to touch it "
                 "(choose another output with -o, or move it away)", path);
        CHECK_MSG(!strcmp(err.msg, want), "%s", err.msg);
        CHECK(same_bytes(path, (const unsigned char *)junk, sizeof junk - 1));
        CHECK(n_entries(dir, "junk.") == 1); /* no lock, no journal, nothing moved */
    }

    /* a foreign HDF5 file: refused untouched */
    snprintf(path, sizeof path, "%s/foreign.h5", dir);
    {
        hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        CHECK(f >= 0 && H5Fclose(f) >= 0);
        size_t n = 0;
        unsigned char *before = slurp(path, &n);
        CHECK(open_run(s4, path, 0, &res, &err) == DS_EXIT_USAGE);
        CHECK(res.decision == DS_OUTPUT_REFUSED_FOUND && res.probe_found == DS_OUTPUT_FOUND_FOREIGN);
        snprintf(want, sizeof want, "%s: an HDF5 file that is not a distsweep result file (no "
                 "format=\"distsweep\" attribute); refusing to touch it (choose another output "
                 "with -o, or move it away)", path);
        CHECK_MSG(!strcmp(err.msg, want), "%s", err.msg);
        CHECK(before && same_bytes(path, before, n) && n_entries(dir, "foreign.") == 1);
        free(before);
    }

    /* a damaged file (its first 4 KiB zeroed) */
    snprintf(path, sizeof path, "%s/dmg.h5", dir);
    make_result(s4, path);
    size_t n_dmg = 0;
    unsigned char *dmg = slurp(path, &n_dmg);
    CHECK(dmg && n_dmg > 4096);
    if (!dmg) return 1;
    memset(dmg, 0, 4096);
    spit(path, dmg, n_dmg);
    char jsaved[600];
    snprintf(jsaved, sizeof jsaved, "%s/dmg.journal.saved", dir);
    snprintf(cmd, sizeof cmd, "cp %s %s", member(path, DS_OUTPUT_JOURNAL), jsaved);
    CHECK(system(cmd) == 0);
    {
        /* without a journal: refused, untouched */
        CHECK(unlink(member(path, DS_OUTPUT_JOURNAL)) == 0);
        CHECK(open_run(s4, path, 0, &res, &err) == DS_EXIT_USAGE);
        CHECK(res.decision == DS_OUTPUT_REFUSED_FOUND && res.damaged && !res.damaged_to[0]);
        CHECK(same_bytes(path, dmg, n_dmg) && n_entries(dir, "dmg.h5") == 1);
        /* with a journal of another sweep: refused, and the message says why
         * that journal does not help */
        ds_journal *j = NULL;
        ds_record *recs = NULL;
        int64_t n = 0;
        int stale = 0;
        CHECK(ds_journal_open(member(path, DS_OUTPUT_JOURNAL), "2020-01-01T00:00:00Z",
                              s4->yaml_hash ^ 1, &j, &recs, &n, &stale, &err) == 0);
        ds_journal_close(j);
        free(recs);
        CHECK(open_run(s4, path, 0, &res, &err) == DS_EXIT_USAGE);
        CHECK(res.decision == DS_OUTPUT_REFUSED_FOUND);
        snprintf(want, sizeof want, "%s: exists and is not an HDF5 file; refusing to touch it "
                 "(choose another output with -o, or move it away) (it cannot be rebuilt from "
                 "%s.journal: a journal of another sweep, or from a version without the sweep's "
                 "hash)", path, path);
        CHECK_MSG(!strcmp(err.msg, want), "%s", err.msg);
        CHECK(same_bytes(path, dmg, n_dmg) && n_entries(dir, "dmg.h5") == 2);
    }
    {
        /* with the journal of this sweep: moved aside, rebuilt */
        snprintf(cmd, sizeof cmd, "cp %s %s", jsaved, member(path, DS_OUTPUT_JOURNAL));
        CHECK(system(cmd) == 0);
        CHECK(ds_output_journal_of_sweep(path, s4));
        CHECK_MSG(open_run(s4, path, 0, &res, &err) == 0, "%s", err.msg);
        CHECK(res.decision == DS_OUTPUT_REBUILD && res.probe_found == DS_OUTPUT_FOUND_NOT_HDF5 &&
              res.damaged && res.lock_fd >= 0 && !res.fresh_to[0]);
        snprintf(want, sizeof want, "%s: exists and is not an HDF5 file", path);
        CHECK_MSG(!strcmp(res.why, want), "%s", res.why);
        snprintf(want, sizeof want, "%s.damaged-", path);
        CHECK(!strncmp(res.damaged_to, want, strlen(want)));
        CHECK(same_bytes(res.damaged_to, dmg, n_dmg) && !exists(path));
        CHECK(exists(member(path, DS_OUTPUT_JOURNAL)));
        ds_store *st = NULL;
        ds_store_info info;
        CHECK_MSG(ds_store_open(s4, path, 0, &st, &info, &err) == 0, "%s", err.msg);
        if (st) {
            CHECK(info.created && info.rebuilt && info.replayed == 2);
            CHECK(ds_store_status(st, 0, 0) == DS_RUN_DONE && ds_store_status(st, 1, 1) == DS_RUN_DONE);
            CHECK(ds_store_close(st, &err) == 0);
        }
        ds_output_unlock(res.lock_fd);
        /* a missing file beside the journal of this sweep: rebuilt too */
        CHECK(unlink(path) == 0);
        CHECK_MSG(open_run(s4, path, 0, &res, &err) == 0, "%s", err.msg);
        CHECK(res.decision == DS_OUTPUT_REBUILD && !res.damaged_to[0]);
        ds_output_unlock(res.lock_fd);
    }
    free(dmg);

    /* a refusal that is not damage (OUT a directory) is never "rebuilt",
     * even beside a journal of this sweep */
    snprintf(path, sizeof path, "%s/isdir.h5", dir);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(cmd, sizeof cmd, "cp %s %s", jsaved, member(path, DS_OUTPUT_JOURNAL));
    CHECK(system(cmd) == 0);
    CHECK(ds_output_journal_of_sweep(path, s4));
    CHECK(open_run(s4, path, 0, &res, &err) == DS_EXIT_USAGE);
    CHECK(res.decision == DS_OUTPUT_REFUSED_FOUND && res.probe_found == DS_OUTPUT_FOUND_NOT_FILE &&
          !res.damaged && !res.damaged_to[0]);
    snprintf(want, sizeof want, "%s: exists and is not a regular file", path);
    CHECK_MSG(!strcmp(err.msg, want), "%s", err.msg);
    CHECK(n_entries(dir, "isdir.h5") == 2); /* itself and its journal: nothing moved or made */

    /* a stored sweep that no longer loads (its text edited by hand, or
     * damaged): refused without a journal of this sweep beside it; rebuilt
     * from one (the damaged file kept aside) */
    snprintf(path, sizeof path, "%s/edited.h5", dir);
    make_result(s4, path);
    {
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), a = -1, t = -1;
        const char *text = "name: edited\n";
        CHECK(f >= 0 && (a = H5Aopen(f, "sweep_yaml", H5P_DEFAULT)) >= 0 &&
              (t = H5Aget_type(a)) >= 0 && H5Awrite(a, t, &text) >= 0);
        if (t >= 0) H5Tclose(t);
        if (a >= 0) H5Aclose(a);
        if (f >= 0) H5Fclose(f);
        char jaway[700];
        snprintf(jaway, sizeof jaway, "%s.away", member(path, DS_OUTPUT_JOURNAL));
        CHECK(rename(member(path, DS_OUTPUT_JOURNAL), jaway) == 0);
        CHECK(open_run(s4, path, 0, &res, &err) == DS_EXIT_USAGE);
        CHECK(res.decision == DS_OUTPUT_REFUSED_STORED_SWEEP && res.lock_fd == -1);
        snprintf(want, sizeof want, "%s: the sweep stored in the file does not load (", path);
        CHECK_MSG(!strncmp(err.msg, want, strlen(want)) &&
                  strstr(err.msg, "); use --fresh to start over"), "%s", err.msg);
        CHECK(rename(jaway, member(path, DS_OUTPUT_JOURNAL)) == 0);
        CHECK_MSG(open_run(s4, path, 0, &res, &err) == 0, "%s", err.msg);
        CHECK(res.decision == DS_OUTPUT_REBUILD && res.damaged && res.damaged_to[0] &&
              strstr(res.why, "does not load") && access(res.damaged_to, F_OK) == 0 &&
              access(path, F_OK) != 0);
        ds_output_unlock(res.lock_fd);
    }

    /* a stored sweep text that loads but is not the one its sweep_hash was
     * taken of (a damaged hash or text), beside a journal of this sweep:
     * rebuilt */
    snprintf(path, sizeof path, "%s/hashed.h5", dir);
    make_result(s4, path);
    {
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), a = -1, t = -1;
        const char *text = "0000000000000001";
        CHECK(f >= 0 && (a = H5Aopen(f, "sweep_hash", H5P_DEFAULT)) >= 0 &&
              (t = H5Aget_type(a)) >= 0 && H5Awrite(a, t, &text) >= 0);
        if (t >= 0) H5Tclose(t);
        if (a >= 0) H5Aclose(a);
        if (f >= 0) H5Fclose(f);
        CHECK_MSG(open_run(s4, path, 0, &res, &err) == 0, "%s", err.msg);
        CHECK(res.decision == DS_OUTPUT_REBUILD && res.damaged_to[0] &&
              strstr(res.why, "does not match its sweep_hash"));
        ds_output_unlock(res.lock_fd);
    }

    /* a definitional dataset missing (here /eval_lengths; a damaged one
     * does not read back, tests/faults/damage.py): damage, named in the
     * probe's reason; rebuilt beside a journal of this sweep */
    snprintf(path, sizeof path, "%s/noeval.h5", dir);
    make_result(s4, path);
    {
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        CHECK(f >= 0 && H5Ldelete(f, "/eval_lengths", H5P_DEFAULT) >= 0);
        if (f >= 0) H5Fclose(f);
        ds_output_probe pr;
        CHECK(ds_output_probe_path(path, &pr, &err) == DS_EXIT_USAGE);
        CHECK_MSG(pr.found == DS_OUTPUT_FOUND_DAMAGED && pr.damaged &&
                  strstr(pr.why, "dataset /eval_lengths is missing"), "%s", pr.why);
        CHECK_MSG(open_run(s4, path, 0, &res, &err) == 0, "%s", err.msg);
        CHECK(res.decision == DS_OUTPUT_REBUILD && res.damaged_to[0] &&
              strstr(res.why, "/eval_lengths"));
        ds_output_unlock(res.lock_fd);
    }

    /* --fresh: every member moved onto an old family, the lock stays */
    snprintf(path, sizeof path, "%s/fr.h5", dir);
    make_result(s4, path);
    {
        char inner[700];
        CHECK(mkdir(member(path, DS_OUTPUT_CKPT_DIR), 0755) == 0);
        CHECK(mkdir(member(path, DS_OUTPUT_MODELS_DIR), 0755) == 0);
        snprintf(inner, sizeof inner, "%s/p.ckpt", member(path, DS_OUTPUT_CKPT_DIR));
        spit(inner, "c", 1);
        snprintf(inner, sizeof inner, "%s/m.safetensors", member(path, DS_OUTPUT_MODELS_DIR));
        spit(inner, "m", 1);
        CHECK_MSG(open_run(s4, path, 1, &res, &err) == 0, "%s", err.msg);
        CHECK(res.decision == DS_OUTPUT_NEW && res.lock_fd >= 0 && !res.damaged_to[0]);
        snprintf(want, sizeof want, "%s/fr.old-", dir);
        size_t fl = strlen(res.fresh_to);
        CHECK_MSG(!strncmp(res.fresh_to, want, strlen(want)) && fl > 3 &&
                  !strcmp(res.fresh_to + fl - 3, ".h5"), "%s", res.fresh_to);
        const ds_output_member moved[] = {DS_OUTPUT_FILE, DS_OUTPUT_JOURNAL, DS_OUTPUT_CKPT_DIR,
                                          DS_OUTPUT_MODELS_DIR};
        for (int i = 0; i < 4; i++) {
            CHECK_MSG(!exists(member(path, moved[i])), "member %d stayed", (int)moved[i]);
            CHECK_MSG(exists(member(res.fresh_to, moved[i])), "member %d not moved", (int)moved[i]);
        }
        snprintf(inner, sizeof inner, "%s/m.safetensors", member(res.fresh_to, DS_OUTPUT_MODELS_DIR));
        CHECK(exists(inner));
        snprintf(inner, sizeof inner, "%s/p.ckpt", member(res.fresh_to, DS_OUTPUT_CKPT_DIR));
        CHECK(exists(inner));
        CHECK(exists(member(path, DS_OUTPUT_LOCK)) && !exists(member(res.fresh_to, DS_OUTPUT_LOCK)));
        ds_output_unlock(res.lock_fd);
        /* --fresh moves even a file it would refuse (here not HDF5), onto
         * another old name */
        char first[DS_OUTPUT_PATH_MAX];
        snprintf(first, sizeof first, "%s", res.fresh_to);
        spit(path, "x", 1);
        CHECK_MSG(open_run(s4, path, 1, &res, &err) == 0, "%s", err.msg);
        CHECK(res.decision == DS_OUTPUT_NEW && res.fresh_to[0] && strcmp(res.fresh_to, first));
        CHECK(same_bytes(res.fresh_to, (const unsigned char *)"x", 1) && exists(first));
        ds_output_unlock(res.lock_fd);
        /* a journal without its file (which it would rebuild): moved too */
        spit(member(path, DS_OUTPUT_JOURNAL), "j", 1);
        CHECK_MSG(open_run(s4, path, 1, &res, &err) == 0, "%s", err.msg);
        CHECK(res.decision == DS_OUTPUT_NEW && res.fresh_to[0] && !exists(res.fresh_to) &&
              exists(member(res.fresh_to, DS_OUTPUT_JOURNAL)) &&
              !exists(member(path, DS_OUTPUT_JOURNAL)));
        ds_output_unlock(res.lock_fd);
        /* nothing there: nothing moved */
        CHECK_MSG(open_run(s4, path, 1, &res, &err) == 0, "%s", err.msg);
        CHECK(res.decision == DS_OUTPUT_NEW && !res.fresh_to[0]);
        ds_output_unlock(res.lock_fd);
    }

    /* a bad directory */
    CHECK(open_run(s4, "/proc/ds-no-such/x.h5", 0, &res, &err) == DS_EXIT_USAGE);
    CHECK(res.decision == DS_OUTPUT_REFUSED_FOUND && res.probe_found == DS_OUTPUT_FOUND_BAD_DIR);

    ds_sweep_free(s4);
    ds_sweep_free(s6);
    ds_sweep_free(lr);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (!ds_test_failures) CHECK(system(cmd) == 0);
    TEST_MAIN_END();
}
