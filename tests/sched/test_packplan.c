/* Tests of pack planning (src/packplan.c) without MPI or HDF5: the status
 * grid is a plain array and the checkpoint directory a temporary one.
 * Covered: automatic pack sizes; a fresh plan (every pending run in exactly
 * one pack, finished runs in none); the hand-out order; pack file names;
 * manifests written, read back and rebuilt as they were whatever the rank
 * count or pack size; stale and garbled manifests rejected and removed with
 * their checkpoints, their runs packed again, never in two packs. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "model.h"
#include "packplan.h"
#include "sweep.h"
#include "test.h"

enum { NSC = 3, S = 12, START = 100 };

static ds_sweep *load_sweep(void) {
    /* 3 scales x 12 seeds from 100: seeds 100..111 */
    static const char *yaml =
        "name: packplantest\n"
        "task: {kind: count, vocab: 100, train_length: [1, 10], eval_lengths: [10, 15, 20]}\n"
        "model: {head_dim: 64}\n"
        "train: {steps: 100, batch: 4, context: 64, lr: 1.0e-3, warmup: 10, log_every: 10}\n"
        "seeds: {start: 100, count: 12}\n"
        "scales:\n  - {family: width, depth: 1, width: [64, 128, 192]}\n"
        "output: x.h5\n";
    ds_sweep *s = NULL;
    ds_error err = {0};
    int rc = ds_sweep_load_text("packplantest.yaml", yaml, &s, &err);
    if (rc) {
        fprintf(stderr, "sweep: %s\n", err.msg);
        exit(1);
    }
    return s;
}

static size_t at(int scale, int64_t seed) { return (size_t)scale * S + (size_t)(seed - START); }

/* Every pending run is in exactly one live pack, no other run is in any, and
 * each pack holds seeds of its scale in ascending order (as planned). */
static void check_cover(const ds_packs *t, const uint8_t *status, const char *what) {
    int in[NSC * S] = {0};
    for (int i = 0; i < t->n; i++) {
        const ds_pack *p = &t->p[i];
        if (p->state == DS_PACK_DEAD) continue;
        CHECK_MSG(p->R >= 1 && p->scale >= 0 && p->scale < NSC, "%s: pack %d", what, i);
        for (int k = 0; k < p->R; k++) {
            CHECK_MSG(p->seeds[k] >= START && p->seeds[k] < START + S, "%s: seed %lld", what,
                      (long long)p->seeds[k]);
            if (p->seeds[k] >= START && p->seeds[k] < START + S) in[at(p->scale, p->seeds[k])]++;
        }
    }
    for (int r = 0; r < NSC * S; r++) {
        int want = status[r] == DS_RUN_PENDING;
        CHECK_MSG(in[r] == want, "%s: run (%d, %d) in %d pack(s), want %d", what, r / S,
                  START + r % S, in[r], want);
    }
}

static int n_files(const char *dir, const char *ext) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    size_t le = strlen(ext);
    while (d && (e = readdir(d))) {
        size_t L = strlen(e->d_name);
        n += L > le && !strcmp(e->d_name + L - le, ext);
    }
    if (d) closedir(d);
    return n;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void clear_dir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[DS_PACK_PATH_MAX];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d) closedir(d);
}

static int find_pack(const ds_packs *t, int scale, const int64_t *seeds, int R) {
    for (int i = 0; i < t->n; i++)
        if (t->p[i].state != DS_PACK_DEAD && t->p[i].scale == scale && t->p[i].R == R &&
            !memcmp(t->p[i].seeds, seeds, sizeof *seeds * (size_t)R))
            return i;
    return -1;
}

static void test_auto_size(void) {
    CHECK(ds_pack_auto_size(0, 1, DS_BACKEND_CPU) == 1);
    CHECK(ds_pack_auto_size(1, 4, DS_BACKEND_CPU) == 1);
    CHECK(ds_pack_auto_size(10, 1, DS_BACKEND_CPU) == 5);  /* two packs for the one rank */
    CHECK(ds_pack_auto_size(16, 4, DS_BACKEND_CPU) == 2);
    CHECK(ds_pack_auto_size(17, 4, DS_BACKEND_CPU) == 3);  /* rounded up */
    CHECK(ds_pack_auto_size(100, 2, DS_BACKEND_CPU) == 8); /* the CPU's cap */
    CHECK(ds_pack_auto_size(100, 2, DS_BACKEND_CUDA) == 25);
    CHECK(ds_pack_auto_size(100000, 2, DS_BACKEND_CUDA) == 64); /* the GPU's cap */
    CHECK(ds_pack_auto_size((int64_t)1 << 40, 1, DS_BACKEND_AUTO) == 8);
}

static void test_order(void) {
    ds_packs t = {0};
    int64_t a[] = {104}, b[] = {108}, c[] = {102}, d[] = {100, 101}, e[] = {101}, f[] = {109};
    int ib = ds_packs_add(&t, 1, b, 1, 10.0);
    int ia = ds_packs_add(&t, 2, a, 1, 10.0);
    int ic = ds_packs_add(&t, 1, c, 1, 10.0);
    int id = ds_packs_add(&t, 0, d, 2, 5.0); /* cost 2 x 5 = 10 */
    int ie = ds_packs_add(&t, 2, e, 1, 20.0);
    int ifx = ds_packs_add(&t, 0, f, 1, 1.0);
    CHECK(t.p[id].cost == 10.0 && t.p[ie].cost == 20.0);
    /* most expensive first; equal cost: lower scale, then lower first seed */
    int want[] = {ie, id, ic, ib, ia, ifx};
    for (int k = 0; k < 6; k++) {
        int got = ds_packs_next(&t);
        CHECK_MSG(got == want[k], "hand-out %d: pack %d, want %d", k, got, want[k]);
        if (got < 0) break;
        t.p[got].state = DS_PACK_RUNNING;
    }
    CHECK(ds_packs_next(&t) == -1);
    CHECK(ds_packs_count(&t, DS_PACK_RUNNING) == 6 && ds_packs_count(&t, DS_PACK_PENDING) == 0);
    /* a pack back to pending is next again; a dead one never */
    t.p[ic].state = DS_PACK_PENDING;
    t.p[ia].state = DS_PACK_PENDING;
    CHECK(ds_packs_next(&t) == ic);
    ds_packs_kill(&t, ic);
    CHECK(t.p[ic].seeds == NULL && t.p[ic].state == DS_PACK_DEAD);
    CHECK(ds_packs_next(&t) == ia);
    /* equal keys: the lower index */
    int i1 = ds_packs_add(&t, 0, b, 1, 30.0), i2 = ds_packs_add(&t, 0, b, 1, 30.0);
    CHECK(ds_packs_next(&t) == i1 && i1 < i2);
    ds_packs_free(&t);
    CHECK(t.n == 0 && t.p == NULL);
}

static void test_names(const char *dir) {
    int64_t s1[] = {103, 104, 105}, s2[] = {104, 103, 105};
    char p1[DS_PACK_PATH_MAX], p2[DS_PACK_PATH_MAX], p3[DS_PACK_PATH_MAX], want[DS_PACK_PATH_MAX];
    ds_pack_path(dir, 1, s1, 3, ".ckpt", p1, sizeof p1);
    ds_pack_path(dir, 1, s1, 3, ".ckpt", p2, sizeof p2);
    CHECK(!strcmp(p1, p2)); /* the same on every rank */
    uint64_t h = ds_fnv1a64(s1, sizeof s1, DS_FNV1A64_INIT);
    snprintf(want, sizeof want, "%s/s1-103-r3-%08x.ckpt", dir, (unsigned)(h & 0xffffffffu));
    CHECK_MSG(!strcmp(p1, want), "%s, want %s", p1, want);
    ds_pack_path(dir, 1, s2, 3, ".ckpt", p3, sizeof p3); /* another seed order: another pack */
    CHECK(strcmp(p1, p3) != 0);
    ds_pack_path(dir, 1, s1, 2, "", p3, sizeof p3);
    CHECK(strncmp(p3, dir, strlen(dir)) == 0 && strstr(p3, "/s1-103-r2-") != NULL);
}

static void test_manifest_io(const ds_sweep *s, const char *dir) {
    clear_dir(dir);
    ds_packs t = {0};
    int64_t seeds[] = {107, 101, 110};
    int i = ds_packs_add(&t, 2, seeds, 3, 1.0);
    ds_pack_write_manifest(dir, &t.p[i]);
    char path[DS_PACK_PATH_MAX];
    ds_pack_path(dir, 2, seeds, 3, ".pack", path, sizeof path);
    CHECK(exists(path));
    int scale = -1, R = 0;
    int64_t *got = NULL;
    CHECK(ds_pack_read_manifest(path, s, &scale, &R, &got) == 0);
    CHECK(scale == 2 && R == 3 && got && !memcmp(got, seeds, sizeof seeds));
    free(got);
    /* never rewritten once there */
    write_text(path, "distsweep-pack 1\n2 1\n107\n");
    ds_pack_write_manifest(dir, &t.p[i]);
    CHECK(ds_pack_read_manifest(path, s, &scale, &R, &got) == 0 && R == 1);
    free(got);
    CHECK(n_files(dir, ".tmp") == 0);

    /* garbled or outside the sweep */
    static const char *bad[] = {
        "",
        "distsweep-pack 2\n0 1\n100\n",         /* another version */
        "distsweep-pack 1\n3 1\n100\n",         /* scale out of range */
        "distsweep-pack 1\n-1 1\n100\n",
        "distsweep-pack 1\n0 0\n",              /* empty pack */
        "distsweep-pack 1\n0 2\n100\n",         /* truncated */
        "distsweep-pack 1\n0 2\n100\nx\n",
        "distsweep-pack 1\n0 1\n99\n",          /* seed below seeds.start */
        "distsweep-pack 1\n0 1\n112\n",         /* seed beyond the seed axis */
        "distsweep-pak 1\n0 1\n100\n",
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        write_text(path, bad[k]);
        got = NULL;
        CHECK_MSG(ds_pack_read_manifest(path, s, &scale, &R, &got) == -2 && got == NULL,
                  "accepted manifest %zu", k);
    }
    CHECK(ds_pack_read_manifest("/nonexistent/x.pack", s, &scale, &R, &got) == -1);

    /* files of a pack removed, nothing else */
    char ck[DS_PACK_PATH_MAX], tmp[DS_PACK_PATH_MAX], other[DS_PACK_PATH_MAX];
    ds_pack_path(dir, 2, seeds, 3, ".ckpt", ck, sizeof ck);
    ds_pack_path(dir, 2, seeds, 3, ".ckpt.tmp", tmp, sizeof tmp);
    int64_t os[] = {100};
    ds_pack_path(dir, 0, os, 1, ".ckpt", other, sizeof other);
    write_text(ck, "x"), write_text(tmp, "x"), write_text(other, "x");
    ds_pack_remove_files(dir, &t.p[i]);
    CHECK(!exists(path) && !exists(ck) && !exists(tmp) && exists(other));
    ds_packs_free(&t);
}

static void test_fresh_plan(const ds_sweep *s, const char *dir) {
    clear_dir(dir);
    uint8_t st[NSC * S];
    memset(st, DS_RUN_PENDING, sizeof st);
    st[at(0, 100)] = DS_RUN_DONE, st[at(0, 105)] = DS_RUN_FAILED, st[at(2, 111)] = DS_RUN_DIVERGED;
    ds_plan_opts o = {.s = s, .status = st, .ckdir = dir, .pack = 5, .nranks = 2,
                      .backend = DS_BACKEND_CPU};
    ds_packs t = {0};
    CHECK(ds_pack_plan(&o, &t) == 0);
    check_cover(&t, st, "fresh, pack 5");
    /* scale 0: 10 pending -> 5 + 5; scales 1: 12 -> 5 + 5 + 2; 2: 11 -> 5 + 5 + 1 */
    CHECK_MSG(t.n == 8, "%d packs", t.n);
    int64_t w0[] = {101, 102, 103, 104, 106}, w1[] = {110, 111}, w2[] = {110};
    CHECK(find_pack(&t, 0, w0, 5) >= 0 && find_pack(&t, 1, w1, 2) >= 0 &&
          find_pack(&t, 2, w2, 1) >= 0);
    for (int i = 0; i < t.n; i++)
        CHECK(t.p[i].state == DS_PACK_PENDING &&
              t.p[i].cost == s->scales[t.p[i].scale].flops_per_step * t.p[i].R);
    ds_packs_free(&t);

    /* automatic: 33 pending on 2 ranks -> ceil(33 / 4) = 9, capped at 8 on a CPU */
    o.pack = 0;
    CHECK(ds_pack_plan(&o, &t) == 0);
    check_cover(&t, st, "fresh, auto");
    for (int i = 0; i < t.n; i++) CHECK(t.p[i].R <= 8);
    CHECK(t.p[0].R == 8);
    ds_packs_free(&t);
    /* on 16 ranks: ceil(33 / 32) = 2 */
    o.nranks = 16;
    ds_pack_plan(&o, &t);
    check_cover(&t, st, "fresh, auto, 16 ranks");
    CHECK(t.p[0].R == 2 && t.n == 5 + 6 + 6);
    ds_packs_free(&t);
    /* automatic within a device's memory (ds_pack_fit): each scale's packs
     * are the largest ds_model_bytes fits, whatever the rank count asks */
    o.nranks = 1;
    o.backend = DS_BACKEND_CUDA; /* 33 pending on 1 rank: 17 */
    int want[NSC];
    double mem = 0;
    for (int sc = 0; sc < NSC; sc++) {
        ds_model_config c = ds_model_config_from_sweep(s, sc, 3);
        double b3 = ds_model_bytes(&c); /* what 3 replicas of the largest scale need */
        if (b3 > mem) mem = b3;
    }
    o.device_bytes = mem;
    for (int sc = 0; sc < NSC; sc++) {
        ds_model_config c = ds_model_config_from_sweep(s, sc, 1);
        want[sc] = ds_model_max_pack(&c, mem, 17);
        CHECK_MSG(want[sc] >= 3 && want[sc] < 17, "scale %d fits %d", sc, want[sc]);
        CHECK(ds_pack_fit(s, sc, 17, mem) == want[sc] && ds_pack_fit(s, sc, 17, 0) == 17);
        CHECK(ds_pack_fit(s, sc, 2, mem) == 2); /* never larger than asked */
    }
    CHECK(ds_pack_fit(s, 0, 17, 1.0) == 1); /* nothing fits: one seed, which fails as any pack */
    ds_pack_plan(&o, &t);
    check_cover(&t, st, "fresh, auto, device memory");
    for (int i = 0; i < t.n; i++) CHECK(t.p[i].R <= want[t.p[i].scale]);
    for (int sc = 0; sc < NSC; sc++) {
        int biggest = 0;
        for (int i = 0; i < t.n; i++)
            if (t.p[i].scale == sc && t.p[i].R > biggest) biggest = t.p[i].R;
        CHECK_MSG(biggest == want[sc], "scale %d: packs of %d, want %d", sc, biggest, want[sc]);
    }
    ds_packs_free(&t);
    /* a pack size the user chose is kept */
    o.pack = 17;
    ds_pack_plan(&o, &t);
    CHECK(t.p[0].R > want[t.p[0].scale]);
    ds_packs_free(&t);
    o.pack = 0, o.device_bytes = 0, o.backend = DS_BACKEND_CPU;
    /* nothing pending, no directory */
    memset(st, DS_RUN_DONE, sizeof st);
    o.ckdir = "/nonexistent/ds-packplan";
    CHECK(ds_pack_plan(&o, &t) == 0 && t.n == 0);
    ds_packs_free(&t);
}

/* A first invocation on 4 ranks assigns some packs (writing their manifests)
 * and finishes some runs; the next invocation, on another rank count or pack
 * size, must rebuild exactly the packs whose runs are all still pending. */
static void test_resume(const ds_sweep *s, const char *dir) {
    clear_dir(dir);
    uint8_t st[NSC * S];
    memset(st, DS_RUN_PENDING, sizeof st);
    ds_plan_opts o = {.s = s, .status = st, .ckdir = dir, .pack = 0, .nranks = 4,
                      .backend = DS_BACKEND_CPU};
    ds_packs first = {0};
    ds_pack_plan(&o, &first); /* 36 pending on 4 ranks: packs of 5 */
    CHECK(first.n > 0 && first.p[0].R == 5);
    /* three packs were assigned (and checkpointed); one of them then finished one run */
    int assigned[3] = {ds_packs_next(&first), -1, -1};
    first.p[assigned[0]].state = DS_PACK_RUNNING;
    assigned[1] = ds_packs_next(&first);
    first.p[assigned[1]].state = DS_PACK_RUNNING;
    assigned[2] = ds_packs_next(&first);
    char ck[3][DS_PACK_PATH_MAX];
    for (int k = 0; k < 3; k++) {
        const ds_pack *p = &first.p[assigned[k]];
        ds_pack_write_manifest(dir, p);
        ds_pack_path(dir, p->scale, p->seeds, p->R, ".ckpt", ck[k], sizeof ck[k]);
        write_text(ck[k], "checkpoint");
    }
    CHECK(n_files(dir, ".pack") == 3);
    const ds_pack *gone = &first.p[assigned[2]];
    st[at(gone->scale, gone->seeds[1])] = DS_RUN_DONE; /* stale from now on */
    st[at(0, 111)] = DS_RUN_DONE;                        /* in no manifest */

    for (int variant = 0; variant < 3; variant++) {
        /* 1 rank auto, 2 ranks pack 7, 8 ranks pack 1 */
        static const int nr[] = {1, 2, 8}, pk[] = {0, 7, 1};
        o.nranks = nr[variant], o.pack = pk[variant];
        ds_packs t = {0};
        int rebuilt = ds_pack_plan(&o, &t);
        CHECK_MSG(rebuilt == 2, "variant %d: %d rebuilt", variant, rebuilt);
        check_cover(&t, st, "resume");
        for (int k = 0; k < 2; k++) {
            const ds_pack *p = &first.p[assigned[k]];
            CHECK_MSG(find_pack(&t, p->scale, p->seeds, p->R) >= 0,
                      "variant %d: pack %d not rebuilt", variant, k);
            CHECK(exists(ck[k]));
        }
        /* the stale manifest and its checkpoint are gone */
        CHECK(find_pack(&t, gone->scale, gone->seeds, gone->R) < 0);
        CHECK(!exists(ck[2]) && n_files(dir, ".pack") == 2);
        /* the others are cut to the pack size of this invocation */
        for (int i = rebuilt; i < t.n; i++)
            CHECK(t.p[i].R <= (o.pack ? o.pack : 8));
        if (variant == 0) CHECK(t.p[rebuilt].R == 8); /* 25 pending on 1 rank: capped at 8 */
        ds_packs_free(&t);
    }
    ds_packs_free(&first);
}

/* dir/name, written with text (text NULL: only the name). */
static const char *in_dir(const char *dir, const char *name, const char *text) {
    static char path[DS_PACK_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (text) write_text(path, text);
    return path;
}

/* Writes text (if not NULL) at <dir>/<stem of the pack><ext>; returns that path. */
static const char *at_stem(const char *dir, int scale, const int64_t *seeds, int R,
                           const char *ext, const char *text) {
    static char path[DS_PACK_PATH_MAX];
    ds_pack_path(dir, scale, seeds, R, ext, path, sizeof path);
    if (text) write_text(path, text);
    return path;
}

/* How many names in dir contain part. */
static int n_containing(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) n += strstr(e->d_name, part) != NULL;
    if (d) closedir(d);
    return n;
}

/* Hand-made manifests: overlapping, duplicated, garbled and misnamed ones. A
 * damaged one (garbled, or naming other runs than its name says) is moved
 * aside to NAME.damaged-<time>, its checkpoint removed, its runs planned. */
static void test_bad_manifests(const ds_sweep *s, const char *dir) {
    clear_dir(dir);
    uint8_t st[NSC * S];
    memset(st, DS_RUN_PENDING, sizeof st);
    int64_t a[] = {103, 104}, b[] = {104, 105}, c2[] = {106, 106}, d[] = {100, 101, 102},
            e[] = {107};
    /* two manifests sharing run (1, 104): exactly one is kept */
    at_stem(dir, 1, a, 2, ".pack", "distsweep-pack 1\n1 2\n103\n104\n");
    at_stem(dir, 1, b, 2, ".pack", "distsweep-pack 1\n1 2\n104\n105\n");
    at_stem(dir, 1, b, 2, ".ckpt", "x");
    at_stem(dir, 2, c2, 2, ".pack", "distsweep-pack 1\n2 2\n106\n106\n"); /* a seed twice */
    at_stem(dir, 0, d, 3, ".pack", "distsweep-pack 1\n0 3\n100\n");       /* garbled */
    at_stem(dir, 0, d, 3, ".ckpt", "x");
    /* parses, but its name is another pack's (a byte flipped in a seed) */
    at_stem(dir, 2, e, 1, ".pack", "distsweep-pack 1\n2 1\n108\n");
    at_stem(dir, 2, e, 1, ".ckpt", "x");
    in_dir(dir, "f.pack", "distsweep-pack 1\n0 1\n109\nx"); /* bytes after the last seed */
    in_dir(dir, "notes.txt", "x"); /* not a pack's file: left alone */
    ds_plan_opts o = {.s = s, .status = st, .ckdir = dir, .pack = 4, .nranks = 1,
                      .backend = DS_BACKEND_CPU};
    ds_packs t = {0};
    int rebuilt = ds_pack_plan(&o, &t);
    CHECK_MSG(rebuilt == 1, "%d rebuilt", rebuilt);
    check_cover(&t, st, "bad manifests");
    CHECK((find_pack(&t, 1, a, 2) >= 0) != (find_pack(&t, 1, b, 2) >= 0));
    CHECK(exists(at_stem(dir, 1, b, 2, ".ckpt", NULL)) == (find_pack(&t, 1, b, 2) >= 0));
    CHECK(find_pack(&t, 2, c2, 2) < 0);
    CHECK(n_files(dir, ".pack") == 1);
    CHECK(!exists(at_stem(dir, 0, d, 3, ".ckpt", NULL)));
    CHECK(!exists(at_stem(dir, 2, e, 1, ".ckpt", NULL)));
    CHECK(!exists(at_stem(dir, 2, c2, 2, ".pack", NULL)));
    /* the damaged three are kept aside; the stale one (c) is not damaged */
    CHECK_MSG(n_containing(dir, ".pack.damaged-") == 3, "%d set aside",
              n_containing(dir, ".pack.damaged-"));
    CHECK(n_containing(dir, "f.pack.damaged-") == 1);
    CHECK(exists(in_dir(dir, "notes.txt", NULL)));
    ds_packs_free(&t);
    /* planned again: the aside names are not manifests */
    ds_packs t2 = {0};
    CHECK(ds_pack_plan(&o, &t2) == 1);
    CHECK(n_containing(dir, ".pack.damaged-") == 3);
    ds_packs_free(&t2);
}

int main(void) {
    char dir[] = "/tmp/ds-packplan-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    ds_sweep *s = load_sweep();
    CHECK(s->n_scales == NSC && s->seeds.count == S && s->seeds.start == START);
    test_auto_size();
    test_order();
    test_names(dir);
    test_manifest_io(s, dir);
    test_fresh_plan(s, dir);
    test_resume(s, dir);
    test_bad_manifests(s, dir);
    clear_dir(dir);
    rmdir(dir);
    ds_sweep_free(s);
    TEST_MAIN_END();
}
