/* checkpoint: atomic save and verified load of a pack (see checkpoint.h). */
#define _POSIX_C_SOURCE 200809L
#include "checkpoint.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "schema.h" /* DS_N_METRICS */

/* Header fields after the magic and version, all int64. */
enum { H_D, H_L, H_V, H_H, H_R, H_P, H_BATCH, H_CONTEXT, H_STEPS, H_STEP, H_NCURVE, H_CURVECAP,
       H_NTRAJ, H_TRAJCAP, /* version 2 on; 0 in a version-1 file */
       H_N };
#define H_N_V1 H_NTRAJ

typedef struct {
    FILE *f;
    uint64_t h;
    int bad;
    int err_no; /* errno of the first failed write, or of the first read
                   that failed for an error (not the file's end) */
} ckfile;

static void w(ckfile *c, const void *p, size_t n) {
    if (c->bad || n == 0) return;
    if (fwrite(p, 1, n, c->f) != n) c->bad = 1, c->err_no = errno;
    c->h = ds_fnv1a64(p, n, c->h);
}

/* A checkpoint that cannot be written is the storage's failure, never the
 * run's (DS_EXIT_STORAGE): "checkpoint PATH: WHAT: no space left on device". */
static int save_error(ds_error *err, const char *path, const char *what, int err_no) {
    char cause[256];
    ds_strerror_lc(err_no ? err_no : EIO, cause, sizeof cause);
    return ds_error_set(err, DS_EXIT_STORAGE, "checkpoint %s: %s: %s", path, what, cause);
}

static void r(ckfile *c, void *p, size_t n) {
    if (c->bad || n == 0) return;
    if (fread(p, 1, n, c->f) != n) {
        c->bad = 1;
        if (ferror(c->f)) c->err_no = errno ? errno : EIO;
    } else {
        c->h = ds_fnv1a64(p, n, c->h);
    }
}

/* A refusal of ds_ckpt_load for the file's content: *damage (if damage is
 * not NULL) = why, in a few words; err = the whole message. */
static int refuse(ds_error *err, const char **damage, const char *why, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int refuse(ds_error *err, const char **damage, const char *why, const char *fmt, ...) {
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (damage) *damage = why;
    return ds_error_set(err, DS_EXIT_ERROR, "%s", msg);
}

/* A read that failed for an error of the storage, not the file's end: the
 * storage's failure (DS_EXIT_STORAGE), the file is not judged. */
static int read_error(ds_error *err, const char *path, int err_no) {
    char cause[256];
    ds_strerror_lc(err_no ? err_no : EIO, cause, sizeof cause);
    return ds_error_set(err, DS_EXIT_STORAGE, "checkpoint %s: cannot read: %s", path, cause);
}

/* The sweep hash folded to the 32-bit word after the version; never 0,
 * which marks a file written before the tag existed. */
static uint32_t sweep_tag(uint64_t h) {
    uint32_t t = (uint32_t)(h ^ (h >> 32));
    return t ? t : 1;
}

/* Reads the head every checkpoint starts with — magic, format version and
 * sweep tag, the int64 header, the wall time — from c (just opened), hashing
 * what the checksum covers. The one reader of that layout, for ds_ckpt_load
 * (which then checks it against its pack) and ds_ckpt_check (against itself).
 * Returns 0; a refusal of the content (DS_EXIT_ERROR, *damage set); or a
 * read error of the storage (DS_EXIT_STORAGE). */
static int read_head(ckfile *c, const char *path, uint32_t ver[2], int64_t hd[H_N], double *wall,
                     const char **damage, ds_error *err) {
    char magic[8];
    size_t got = fread(magic, 1, 8, c->f);
    if (got != 8 && ferror(c->f)) return read_error(err, path, errno);
    if (got != 8 || memcmp(magic, DS_CKPT_MAGIC, 8) != 0)
        return refuse(err, damage, "bad magic", "checkpoint %s: not a distsweep checkpoint (bad magic)",
                      path);
    r(c, ver, sizeof(uint32_t) * 2);
    if (c->err_no) return read_error(err, path, c->err_no);
    /* a version that reads right byte-swapped was written by a machine of
     * the other byte order (the format is the writer's native order, little-
     * endian on every supported CPU): said, never misread */
    if (!c->bad && ver[0] != DS_CKPT_VERSION && ver[0] != 1 &&
        (__builtin_bswap32(ver[0]) == DS_CKPT_VERSION || __builtin_bswap32(ver[0]) == 1))
        return refuse(err, damage, "other byte order",
                      "checkpoint %s: written by a machine of the other byte order; this build "
                      "reads little-endian checkpoints only", path);
    if (c->bad || (ver[0] != DS_CKPT_VERSION && ver[0] != 1))
        return refuse(err, damage, c->bad ? "truncated" : "unknown format version",
                      "checkpoint %s: format version %u, this build reads 1 and %d", path,
                      c->bad ? 0 : ver[0], DS_CKPT_VERSION);
    hd[H_NTRAJ] = hd[H_TRAJCAP] = 0; /* version 1: no trajectory */
    r(c, hd, sizeof(int64_t) * (ver[0] == 1 ? H_N_V1 : H_N));
    r(c, wall, sizeof *wall);
    if (c->err_no) return read_error(err, path, c->err_no);
    if (c->bad) return refuse(err, damage, "truncated", "checkpoint %s: truncated header", path);
    return 0;
}

int ds_ckpt_save(const char *path, const ds_model *m, const ds_ckpt_state *st, ds_error *err) {
    int rc = DS_EXIT_ERROR, R = m->cfg.R;
    size_t P = m->P;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    float *buf = NULL;
    ckfile c = {fopen(tmp, "wb"), DS_FNV1A64_INIT, 0, 0};
    if (!c.f) {
        rc = save_error(err, tmp, "cannot create", errno);
        goto done;
    }
    if (fwrite(DS_CKPT_MAGIC, 1, 8, c.f) != 8) c.bad = 1, c.err_no = errno;
    uint32_t ver[2] = {DS_CKPT_VERSION, sweep_tag(st->sweep_hash)};
    w(&c, ver, sizeof ver);
    int64_t hd[H_N] = {m->cfg.d, m->cfg.L, m->cfg.V, m->cfg.H, R, (int64_t)P, st->batch, st->context,
                       st->steps, st->step, st->n_curve, st->curve_cap, st->n_traj,
                       st->traj_cap};
    w(&c, hd, sizeof hd);
    w(&c, &st->wall_s, sizeof(double));
    w(&c, st->seeds, sizeof(int64_t) * R);
    w(&c, st->active, R);
    w(&c, st->last_loss, sizeof(float) * R);
    w(&c, st->window, sizeof(double) * R);
    w(&c, st->curve, sizeof(float) * R * st->curve_cap);
    w(&c, st->traj, sizeof(float) * R * st->traj_cap * DS_N_METRICS);
    buf = DS_MALLOC(sizeof(float) * P);
    const float *tensors[3] = {m->params, m->adam_m, m->adam_v};
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < R; i++) {
            m->be->download(m->be, buf, tensors[t] + (size_t)i * P, sizeof(float) * P);
            w(&c, buf, sizeof(float) * P);
        }
    uint64_t h = c.h;
    if (!c.bad && fwrite(&h, 1, 8, c.f) != 8) c.bad = 1, c.err_no = errno;
    const char *what;
    FILE *written = c.f;
    c.f = NULL; /* ds_file_replace closes it */
    int e = c.bad ? (c.err_no ? c.err_no : EIO) : 0;
    if (ds_file_replace(written, tmp, path, e, &what, &e) != 0) {
        rc = save_error(err, strcmp(what, "cannot write") ? path : tmp, what, e);
        goto done;
    }
    rc = 0;
done:
    if (c.f) {
        fclose(c.f);
        remove(tmp);
    }
    free(buf);
    return rc;
}

int ds_ckpt_load(const char *path, ds_model *m, ds_ckpt_state *st, const char **damage,
                 ds_error *err) {
    int rc = DS_EXIT_ERROR, R = m->cfg.R;
    size_t P = m->P;
    float *tens = NULL, *curve = NULL, *last = NULL, *traj = NULL;
    int64_t *seeds = NULL;
    uint8_t *active = NULL;
    double *window = NULL;
    if (damage) *damage = NULL;
    ckfile c = {fopen(path, "rb"), DS_FNV1A64_INIT, 0, 0};
    if (!c.f) {
        int e = errno;
        rc = e == ENOENT ? ds_error_set(err, DS_EXIT_ERROR, "checkpoint %s: cannot open: %s", path,
                                        strerror(e))
                         : read_error(err, path, e);
        goto done;
    }
    uint32_t ver[2];
    int64_t hd[H_N];
    double wall;
    if ((rc = read_head(&c, path, ver, hd, &wall, damage, err))) goto done;
    rc = DS_EXIT_ERROR;
    if (ver[1] && ver[1] != sweep_tag(st->sweep_hash)) {
        refuse(err, damage, "made with other hyperparameters",
               "checkpoint %s: made with other hyperparameters (sweep hash tag %08x in the "
               "file, %08x here): remove it or train from scratch", path, ver[1],
               sweep_tag(st->sweep_hash));
        goto done;
    }
    int64_t want[H_N] = {m->cfg.d, m->cfg.L, m->cfg.V, m->cfg.H, R, (int64_t)P, st->batch,
                         st->context, st->steps, 0, 0, st->curve_cap, 0, st->traj_cap};
    static const char *names[H_N] = {"d_model", "n_layers", "vocabulary", "n_heads", "replicas",
                                     "parameters", "train.batch", "train.context", "train.steps",
                                     "step", "curve points", "curve capacity", "evaluation points",
                                     "evaluation capacity (train.steps / train.eval_every)"};
    if (ver[0] == 1 && st->traj_cap > 0) {
        refuse(err, damage, "made before evaluation during training",
               "checkpoint %s: format version 1 holds no evaluation points (train.eval_every)",
               path);
        goto done;
    }
    for (int i = 0; i < H_N; i++) {
        if (i == H_STEP || i == H_NCURVE || i == H_NTRAJ) continue;
        if (hd[i] != want[i]) {
            refuse(err, damage, "made for a different pack",
                   "checkpoint %s: made for a different pack: %s is %lld in the file, %lld here",
                   path, names[i], (long long)hd[i], (long long)want[i]);
            goto done;
        }
    }
    if (hd[H_STEP] < 0 || hd[H_STEP] > st->steps || hd[H_NCURVE] < 0 || hd[H_NCURVE] > st->curve_cap ||
        hd[H_NTRAJ] < 0 || hd[H_NTRAJ] > st->traj_cap) {
        refuse(err, damage, "bad training position", "checkpoint %s: corrupt training position",
               path);
        goto done;
    }
    seeds = DS_MALLOC(sizeof(int64_t) * R);
    active = DS_MALLOC(R);
    last = DS_MALLOC(sizeof(float) * R);
    window = DS_MALLOC(sizeof(double) * R);
    curve = DS_MALLOC(sizeof(float) * R * (st->curve_cap ? st->curve_cap : 1));
    r(&c, seeds, sizeof(int64_t) * R);
    for (int i = 0; i < R && !c.bad; i++)
        if (seeds[i] != st->seeds[i]) {
            refuse(err, damage, "made for a different pack",
                   "checkpoint %s: made for a different pack: replica %d has seed %lld in the "
                   "file, %lld here", path, i, (long long)seeds[i], (long long)st->seeds[i]);
            goto done;
        }
    r(&c, active, R);
    r(&c, last, sizeof(float) * R);
    r(&c, window, sizeof(double) * R);
    r(&c, curve, sizeof(float) * R * st->curve_cap);
    size_t traj_n = (size_t)R * (size_t)st->traj_cap * DS_N_METRICS;
    traj = DS_MALLOC(sizeof(float) * (traj_n ? traj_n : 1));
    r(&c, traj, sizeof(float) * traj_n);
    /* the pack's parameters and moments (3 R P floats): a failure is the
     * pack's out of memory, reported, not fatal */
    if (!(tens = ds_try_malloc(sizeof(float) * 3 * R * P))) {
        char need[32];
        ds_fmt_bytes(4.0 * 3 * R * (double)P, need, sizeof need);
        ds_error_nomem(err, "pack of %d replicas: cannot allocate %s in host memory to read "
                       "checkpoint %s", R, need, path);
        goto done;
    }
    r(&c, tens, sizeof(float) * 3 * R * P);
    uint64_t stored, h = c.h;
    r(&c, &stored, sizeof stored);
    int extra = c.bad ? EOF : fgetc(c.f);
    if (c.err_no || (extra == EOF && ferror(c.f))) {
        rc = read_error(err, path, c.err_no ? c.err_no : errno);
        goto done;
    }
    if (c.bad) {
        refuse(err, damage, "truncated", "checkpoint %s: truncated", path);
        goto done;
    }
    if (stored != h || extra != EOF) {
        refuse(err, damage, "checksum mismatch", "checkpoint %s: checksum mismatch (file corrupt)",
               path);
        goto done;
    }
    /* verified: install */
    float *dst[3] = {m->params, m->adam_m, m->adam_v};
    for (int t = 0; t < 3; t++)
        m->be->upload(m->be, dst[t], tens + (size_t)t * R * P, sizeof(float) * R * P);
    st->step = hd[H_STEP];
    st->n_curve = (int)hd[H_NCURVE];
    st->wall_s = wall;
    memcpy(st->active, active, R);
    memcpy(st->last_loss, last, sizeof(float) * R);
    memcpy(st->window, window, sizeof(double) * R);
    memcpy(st->curve, curve, sizeof(float) * R * st->curve_cap);
    st->n_traj = (int)hd[H_NTRAJ];
    if (traj_n) memcpy(st->traj, traj, sizeof(float) * traj_n);
    rc = 0;
done:
    if (c.f) fclose(c.f);
    free(tens);
    free(curve);
    free(traj);
    free(last);
    free(seeds);
    free(active);
    free(window);
    return rc;
}

/* ds_ckpt_check: the file's own consistency, without a model or a pack to
 * compare with: the magic, the version, a header whose sizes are sane and
 * whose training position lies inside it, a file exactly as long as the
 * header says, and the checksum over everything after the magic. Reads the
 * file once, in blocks; allocates nothing that depends on the file. */
int ds_ckpt_check(const char *path, ds_error *err) {
    int rc = DS_EXIT_ERROR;
    ckfile c = {fopen(path, "rb"), DS_FNV1A64_INIT, 0, 0};
    if (!c.f) {
        ds_error_set(err, DS_EXIT_ERROR, "checkpoint %s: cannot open: %s", path, strerror(errno));
        goto done;
    }
    uint32_t ver[2];
    int64_t hd[H_N];
    double wall;
    if (read_head(&c, path, ver, hd, &wall, NULL, err)) {
        err->code = DS_EXIT_ERROR; /* unreadable, for a scrub, is not whole either */
        goto done;
    }
    /* sizes: every dimension positive and bounded so that the products below
     * cannot overflow (a pack of 2^20 replicas of 2^36 parameters is far
     * beyond any file this build writes) */
    int sane = 1;
    for (int i = H_D; i <= H_STEPS; i++) sane &= hd[i] > 0;
    sane &= hd[H_R] <= (1 << 20) && hd[H_P] <= ((int64_t)1 << 36) && hd[H_CURVECAP] >= 0 &&
            hd[H_CURVECAP] <= ((int64_t)1 << 32) && hd[H_TRAJCAP] >= 0 &&
            hd[H_TRAJCAP] <= ((int64_t)1 << 32);
    if (!sane || hd[H_STEP] < 0 || hd[H_STEP] > hd[H_STEPS] || hd[H_NCURVE] < 0 ||
        hd[H_NCURVE] > hd[H_CURVECAP] || hd[H_NTRAJ] < 0 || hd[H_NTRAJ] > hd[H_TRAJCAP]) {
        ds_error_set(err, DS_EXIT_ERROR, "checkpoint %s: corrupt header (sizes or training position)",
                     path);
        goto done;
    }
    int64_t R = hd[H_R], P = hd[H_P];
    int64_t body = R * 8 + R + R * 4 + R * 8 + R * 4 * hd[H_CURVECAP] +
                   R * 4 * hd[H_TRAJCAP] * DS_N_METRICS + 3 * R * P * 4;
    int64_t head = 8 + (int64_t)sizeof ver + 8 * (ver[0] == 1 ? H_N_V1 : H_N) + 8;
    int64_t want = head + body + 8;
    if (fseeko(c.f, 0, SEEK_END) != 0) {
        ds_error_set(err, DS_EXIT_ERROR, "checkpoint %s: cannot read: %s", path, strerror(errno));
        goto done;
    }
    int64_t size = (int64_t)ftello(c.f);
    if (size != want) {
        ds_error_set(err, DS_EXIT_ERROR, "checkpoint %s: %s (%lld bytes, the header says %lld)",
                     path, size < want ? "truncated" : "trailing bytes", (long long)size,
                     (long long)want);
        goto done;
    }
    if (fseeko(c.f, (off_t)head, SEEK_SET) != 0) {
        ds_error_set(err, DS_EXIT_ERROR, "checkpoint %s: cannot read: %s", path, strerror(errno));
        goto done;
    }
    unsigned char buf[1 << 16];
    for (int64_t left = body; left > 0 && !c.bad;) {
        size_t k = left < (int64_t)sizeof buf ? (size_t)left : sizeof buf;
        r(&c, buf, k);
        left -= (int64_t)k;
    }
    uint64_t stored, h = c.h;
    if (c.bad || fread(&stored, 1, 8, c.f) != 8) {
        ds_error_set(err, DS_EXIT_ERROR, "checkpoint %s: truncated", path);
        goto done;
    }
    if (stored != h) {
        ds_error_set(err, DS_EXIT_ERROR, "checkpoint %s: checksum mismatch (file corrupt)", path);
        goto done;
    }
    rc = 0;
done:
    if (c.f) fclose(c.f);
    return rc;
}
