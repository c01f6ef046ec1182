/* packplan: see packplan.h. */
#define _POSIX_C_SOURCE 200809L
#include "packplan.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"  /* ds_model_max_pack */
#include "output.h" /* ds_output_damaged_member_aside */
#include "schema.h" /* DS_RUN_PENDING */

int ds_packs_add(ds_packs *t, int scale, const int64_t *seeds, int R, double flops_per_step) {
    DS_ASSERT(R >= 1 && scale >= 0);
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->p = DS_REALLOC(t->p, sizeof *t->p * (size_t)t->cap);
    }
    ds_pack *p = &t->p[t->n];
    memset(p, 0, sizeof *p);
    p->scale = scale, p->R = R, p->state = DS_PACK_PENDING;
    p->seeds = DS_MALLOC(sizeof *p->seeds * (size_t)R);
    memcpy(p->seeds, seeds, sizeof *seeds * (size_t)R);
    p->cost = flops_per_step * (double)R;
    return t->n++;
}

void ds_packs_kill(ds_packs *t, int i) {
    DS_ASSERT(i >= 0 && i < t->n);
    free(t->p[i].seeds);
    t->p[i].seeds = NULL;
    t->p[i].state = DS_PACK_DEAD;
}

int ds_packs_next(const ds_packs *t) { return ds_packs_next_where(t, NULL, NULL); }

int ds_packs_next_where(const ds_packs *t, int (*ok)(const ds_pack *p, void *ctx), void *ctx) {
    int best = -1;
    for (int i = 0; i < t->n; i++) {
        const ds_pack *p = &t->p[i];
        if (p->state != DS_PACK_PENDING || (ok && !ok(p, ctx))) continue;
        if (best < 0) {
            best = i;
            continue;
        }
        const ds_pack *b = &t->p[best];
        if (p->cost > b->cost || (p->cost == b->cost && (p->scale < b->scale ||
            (p->scale == b->scale && p->seeds[0] < b->seeds[0]))))
            best = i;
    }
    return best;
}

int ds_packs_count(const ds_packs *t, ds_pack_state st) {
    int n = 0;
    for (int i = 0; i < t->n; i++) n += t->p[i].state == st;
    return n;
}

void ds_packs_free(ds_packs *t) {
    for (int i = 0; i < t->n; i++) free(t->p[i].seeds);
    free(t->p);
    memset(t, 0, sizeof *t);
}

int ds_pack_auto_size(int64_t pending, int nranks, ds_backend_kind backend) {
    DS_ASSERT(nranks >= 1);
    /* A CPU gains nothing from packing (it is compute-bound at R = 1) and
     * loses cache: d 64 x 4 layers, batch 16 x 64, one thread ran 39.7k
     * tokens/s at R = 2-8 and 28.4k at R = 16 (docs/engine.md). */
    int64_t cap = backend == DS_BACKEND_CUDA ? 64 : 8;
    int64_t p = (pending + 2 * (int64_t)nranks - 1) / (2 * (int64_t)nranks);
    if (p > cap) p = cap;
    if (p < 1) p = 1;
    return (int)p;
}

int ds_pack_fit(const ds_sweep *s, int scale, int P, double device_bytes) {
    DS_ASSERT(P >= 1 && scale >= 0 && scale < s->n_scales);
    if (device_bytes <= 0) return P;
    ds_model_config c = ds_model_config_from_sweep(s, scale, 1);
    int fit = ds_model_max_pack(&c, device_bytes, P);
    return fit >= 1 ? fit : 1;
}

void ds_pack_path(const char *ckdir, int scale, const int64_t *seeds, int R, const char *ext,
                  char *out, size_t n) {
    DS_ASSERT(R >= 1);
    uint64_t h = ds_fnv1a64(seeds, sizeof *seeds * (size_t)R, DS_FNV1A64_INIT);
    snprintf(out, n, "%s/s%d-%lld-r%d-%08x%s", ckdir, scale, (long long)seeds[0], R,
             (unsigned)(h & 0xffffffffu), ext);
}

void ds_pack_write_manifest(const char *ckdir, const ds_pack *p) {
    char path[DS_PACK_PATH_MAX], tmp[DS_PACK_PATH_MAX + 8];
    ds_pack_path(ckdir, p->scale, p->seeds, p->R, ".pack", path, sizeof path);
    struct stat sb;
    if (stat(path, &sb) == 0) return;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    fprintf(f, "distsweep-pack 1\n%d %d\n", p->scale, p->R);
    for (int i = 0; i < p->R; i++) fprintf(f, "%lld\n", (long long)p->seeds[i]);
    const char *what;
    int e;
    (void)ds_file_replace(f, tmp, path, 0, &what, &e); /* best effort: see ds_pack_write_manifest */
}

int ds_pack_read_manifest(const char *path, const ds_sweep *s, int *scale_out, int *R_out,
                          int64_t **seeds_out) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int version = 0, scale = -1, R = 0, ok = 0, ch;
    int64_t *seeds = NULL;
    if (fscanf(f, "distsweep-pack %d %d %d", &version, &scale, &R) == 3 && version == 1 &&
        scale >= 0 && scale < s->n_scales && R >= 1 && R <= 100000) {
        seeds = DS_MALLOC(sizeof *seeds * (size_t)R);
        ok = 1;
        for (int i = 0; i < R && ok; i++) {
            long long v;
            ok = fscanf(f, "%lld", &v) == 1 && v >= s->seeds.start &&
                 v < s->seeds.start + ds_sweep_max_seeds(s);
            seeds[i] = v;
        }
        while (ok && (ch = fgetc(f)) != EOF) ok = ch == ' ' || ch == '\n'; /* nothing after */
    }
    int io = ferror(f);
    fclose(f);
    if (!ok) {
        free(seeds);
        return io ? -1 : -2;
    }
    *scale_out = scale, *R_out = R, *seeds_out = seeds;
    return 0;
}

void ds_pack_write_group(const char *ckdir, const ds_pack *p, const int *ranks, int k) {
    char path[DS_PACK_PATH_MAX], tmp[DS_PACK_PATH_MAX + 8];
    ds_pack_path(ckdir, p->scale, p->seeds, p->R, ".group", path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    fprintf(f, "distsweep-group 1\n%d %d %d\n", p->scale, p->R, k);
    for (int i = 0; i < k; i++) fprintf(f, "%d\n", ranks[i]);
    const char *what;
    int e;
    (void)ds_file_replace(f, tmp, path, 0, &what, &e); /* best effort: see ds_pack_write_manifest */
}

int ds_pack_read_group(const char *path, int *scale, int *R, int *k, int *ranks, int max_k) {
    FILE *f = fopen(path, "r");
    int version = 0, ok = 0;
    if (f && fscanf(f, "distsweep-group %d %d %d %d", &version, scale, R, k) == 4 && version == 1 &&
        *scale >= 0 && *R >= 1 && *k >= 1 && *k <= max_k) {
        ok = 1;
        for (int i = 0; i < *k && ok; i++) ok = fscanf(f, "%d", &ranks[i]) == 1 && ranks[i] >= 0;
    }
    if (f) fclose(f);
    return ok ? 0 : -1;
}

void ds_pack_remove_groups(const char *ckdir) {
    DIR *d = opendir(ckdir);
    if (!d) return;
    struct dirent *e;
    char path[DS_PACK_PATH_MAX + 16];
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > 6 && !strcmp(e->d_name + n - 6, ".group")) {
            snprintf(path, sizeof path, "%s/%s", ckdir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

/* Removes <stem>.pack, <stem>.ckpt, <stem>.ckpt.tmp (a checkpoint write cut
 * short) and <stem>.group. */
static void remove_stem(const char *stem) {
    static const char *const ext[] = {".ckpt", ".ckpt.tmp", ".pack", ".group"};
    char path[DS_PACK_PATH_MAX + 16];
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        snprintf(path, sizeof path, "%s%s", stem, ext[i]);
        unlink(path);
    }
}

void ds_pack_remove_files(const char *ckdir, const ds_pack *p) {
    char stem[DS_PACK_PATH_MAX];
    ds_pack_path(ckdir, p->scale, p->seeds, p->R, "", stem, sizeof stem);
    remove_stem(stem);
}

/* Claims the runs of a manifest's pack in taken[] ([scale][S]): 1 if every
 * one is pending in the store and claimed by no earlier pack (nor twice by
 * this one), else 0 with taken[] as it was. */
static int take_runs(const ds_plan_opts *o, uint8_t *taken, int scale, const int64_t *seeds,
                     int R) {
    int64_t S = o->n_seeds ? o->n_seeds : o->s->seeds.count;
    int i = 0;
    for (; i < R; i++) {
        if (seeds[i] - o->s->seeds.start >= S) break; /* beyond the axis: not pending */
        size_t at = (size_t)scale * (size_t)S + (size_t)(seeds[i] - o->s->seeds.start);
        if (taken[at] || o->status[at] != DS_RUN_PENDING) break;
        taken[at] = 1;
    }
    if (i == R) return 1;
    while (i-- > 0) taken[(size_t)scale * (size_t)S + (size_t)(seeds[i] - o->s->seeds.start)] = 0;
    return 0;
}

/* A manifest that fails its checks (garbled, or naming other runs than its
 * file name's) is damaged, not stale: it is moved aside (src/output.h) with
 * one line on stderr; nothing is charged to its runs, which are planned
 * again. A rename that fails is said; the file is removed then. */
static void set_aside_manifest(const char *path, const char *damage) {
    char moved[DS_PACK_PATH_MAX + 256];
    ds_error e = {0};
    if (ds_output_damaged_member_aside(path, moved, sizeof moved, &e) == 0)
        fprintf(stderr, "distsweep: pack manifest %s is damaged (%s): moved to %s; its runs are "
                "planned again from step 0\n", path, damage, moved);
    else
        fprintf(stderr, "distsweep: pack manifest %s is damaged (%s) and is removed (%s); its runs "
                "are planned again from step 0\n", path, damage, e.msg);
}

int ds_pack_plan(const ds_plan_opts *o, ds_packs *t) {
    const ds_sweep *s = o->s;
    int64_t S = o->n_seeds ? o->n_seeds : s->seeds.count;
    size_t nrun = (size_t)s->n_scales * (size_t)S;
    DS_ASSERT(t->n == 0 && o->pack >= 0);
    uint8_t *taken = DS_CALLOC(nrun ? nrun : 1, 1);
    int rebuilt = 0;
    DIR *d = opendir(o->ckdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t L = strlen(e->d_name);
        if (L < 6 || strcmp(e->d_name + L - 5, ".pack")) continue;
        char path[DS_PACK_PATH_MAX];
        int k = snprintf(path, sizeof path, "%s/%s", o->ckdir, e->d_name);
        DS_ASSERT(k > 0 && (size_t)k < sizeof path);
        int scale, R;
        int64_t *seeds;
        int got = ds_pack_read_manifest(path, s, &scale, &R, &seeds);
        const char *damage = got == -2 ? "garbled" : NULL;
        if (got == 0) {
            char want[DS_PACK_PATH_MAX];
            ds_pack_path(o->ckdir, scale, seeds, R, ".pack", want, sizeof want);
            int ok = !strcmp(want, path);
            if (!ok) damage = "its runs do not match its name";
            ok = ok && take_runs(o, taken, scale, seeds, R);
            if (ok) ds_packs_add(t, scale, seeds, R, s->scales[scale].flops_per_step), rebuilt++;
            free(seeds);
            if (ok) continue;
        }
        if (damage) set_aside_manifest(path, damage);
        /* stale: some of its runs finished or are in another pack, or it is
         * damaged (set aside above): its files go, its pending runs are
         * planned afresh below */
        path[k - 5] = '\0';
        remove_stem(path);
    }
    if (d) closedir(d);

    int64_t pending = 0;
    for (size_t at = 0; at < nrun; at++) pending += o->status[at] == DS_RUN_PENDING && !taken[at];
    int P0 = o->pack > 0 ? o->pack : ds_pack_auto_size(pending, o->nranks, o->backend);
    int64_t *buf = DS_MALLOC(sizeof *buf * (size_t)P0);
    for (int sc = 0; sc < s->n_scales; sc++) {
        /* an automatic size fits the device; a size the user chose is kept
         * (a pack that does not fit fails and is retried smaller) */
        int P = o->pack > 0 ? P0 : ds_pack_fit(s, sc, P0, o->device_bytes);
        int n = 0;
        for (int64_t i = 0; i < S; i++) {
            size_t at = (size_t)sc * (size_t)S + (size_t)i;
            if (o->status[at] != DS_RUN_PENDING || taken[at]) continue;
            buf[n++] = s->seeds.start + i;
            if (n == P) ds_packs_add(t, sc, buf, n, s->scales[sc].flops_per_step), n = 0;
        }
        if (n) ds_packs_add(t, sc, buf, n, s->scales[sc].flops_per_step);
    }
    free(buf);
    free(taken);
    return rebuilt;
}
