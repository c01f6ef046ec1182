/* output: see output.h. */
#define _DEFAULT_SOURCE
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "h5util.h"
#include "journal.h"
#include "schema.h"
#include "store.h"

/* ---- names ------------------------------------------------------------------ */

/* The suffix of each member, indexed by ds_output_member. */
static const char *const member_suffix[DS_N_OUTPUT_MEMBERS] = {
    [DS_OUTPUT_FILE] = "",          [DS_OUTPUT_JOURNAL] = ".journal",
    [DS_OUTPUT_CKPT_DIR] = ".ckpt", [DS_OUTPUT_MODELS_DIR] = ".models",
    [DS_OUTPUT_LOCK] = ".lock",     [DS_OUTPUT_TMP] = ".tmp",
};

/* snprintf's result as 0 (it fitted) or -1 (truncated, or an encoding
 * error). */
static int fitted(int len, size_t n) { return len >= 0 && (size_t)len < n ? 0 : -1; }

/* a + b into buf (n bytes), as snprintf "%s%s" would, without the format
 * machinery (whose truncation warnings cannot see that a name's bounds are
 * checked here). */
static int concat(const char *a, const char *b, char *buf, size_t n) {
    size_t la = strlen(a), lb = strlen(b);
    if (!n) return -1;
    size_t ca = la < n - 1 ? la : n - 1, cb = lb < n - 1 - ca ? lb : n - 1 - ca;
    memmove(buf, a, ca);
    memcpy(buf + ca, b, cb);
    buf[ca + cb] = 0;
    return la + lb < n ? 0 : -1;
}

int ds_output_path(const char *out, ds_output_member which, char *buf, size_t n) {
    DS_ASSERT((int)which >= 0 && which < DS_N_OUTPUT_MEMBERS);
    return concat(out, member_suffix[which], buf, n);
}

int ds_output_aside_name(const char *out, ds_output_aside kind, time_t when, int k, char *buf,
                         size_t n) {
    char ts[32], dash[16] = "";
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
    if (k > 0) snprintf(dash, sizeof dash, "-%d", k);
    if (kind == DS_OUTPUT_ASIDE_DAMAGED) return fitted(snprintf(buf, n, "%s.damaged-%s%s", out, ts, dash), n);
    if (kind == DS_OUTPUT_ASIDE_ORPHAN) return fitted(snprintf(buf, n, "%s.orphan-%s%s", out, ts, dash), n);
    DS_ASSERT(kind == DS_OUTPUT_ASIDE_OLD);
    /* the old file keeps its extension, so that tools still take it for
     * HDF5: results/x.h5 -> results/x.old-<ts>.h5 */
    size_t len = strlen(out);
    int h5 = len > 3 && !strcmp(out + len - 3, ".h5");
    size_t base = h5 ? len - 3 : len;
    DS_ASSERT(base <= (size_t)INT_MAX);
    return fitted(snprintf(buf, n, "%.*s.old-%s%s%s", (int)base, out, ts, dash, h5 ? ".h5" : ""),
                  n);
}

int ds_output_stale_journal_name(const char *journal_path, long long when, char *buf, size_t n) {
    return fitted(snprintf(buf, n, "%s.stale-%lld", journal_path, when), n);
}

/* ---- probing an existing output ---------------------------------------------- */

static void dir_of(const char *path, char *dir, size_t n) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    snprintf(dir, n, "%s", dirname(tmp));
}

/* 0 when dataset `name` of f opens and reads back whole (into a scratch
 * buffer, in its own type), -1 otherwise. */
static int read_back(hid_t f, const char *name) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT), t = -1, sp = -1;
    int rc = -1;
    void *buf = NULL;
    if (d < 0) goto done;
    if ((t = H5Dget_type(d)) < 0 || (sp = H5Dget_space(d)) < 0) goto done;
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    size_t sz = H5Tget_size(t);
    if (n < 0 || !sz) goto done;
    buf = DS_MALLOC((size_t)(n ? n : 1) * sz);
    if (n == 0 || H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0) rc = 0;
done:
    free(buf);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (d >= 0) H5Dclose(d);
    return rc;
}

/* Advice after a refusal's reason: what a user can do about a file that is
 * not (or no longer readably) a result file. */
#define ADVICE_MOVE "; refusing to touch it (choose another output with -o, or move it away)"
#define ADVICE_NONE "; refusing to touch it"

/* Records a refusal: p->found, p->why (the reason), err (reason + advice). */
static int refuse(ds_output_probe *p, ds_error *err, ds_output_found found, int code,
                  const char *advice, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int refuse(ds_output_probe *p, ds_error *err, ds_output_found found, int code,
                  const char *advice, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->why, sizeof p->why, fmt, ap);
    va_end(ap);
    p->found = found;
    return ds_error_set(err, code, "%s%s", p->why, advice);
}

/* A file of evaluation sets: every /items/<set>/<dataset> that exists reads
 * back, with its group's n_items attribute (the datasets are optional: files
 * of sets made before them lack them, and the writer adds them). Sets
 * obj to the first object that does not read. */
static void probe_items(hid_t f, char *obj, size_t n) {
    htri_t has = H5Lexists(f, DS_ITEMS_GROUP, H5P_DEFAULT);
    hid_t g = -1;
    H5G_info_t gi = {0};
    if (has < 0 || (has > 0 && ((g = H5Gopen2(f, DS_ITEMS_GROUP, H5P_DEFAULT)) < 0 || H5Gget_info(g, &gi) < 0)))
        snprintf(obj, n, "group %s", DS_ITEMS_GROUP);
    for (hsize_t k = 0; has > 0 && !obj[0] && k < gi.nlinks; k++) {
        char name[128], full[320];
        int v;
        ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, k, name, sizeof name, H5P_DEFAULT);
        hid_t sg = len < 0 || (size_t)len >= sizeof name ? -1 : H5Gopen2(g, name, H5P_DEFAULT);
        if (sg < 0 || ds_h5_attr_int(sg, DS_ITEMS_N_ATTR, &v) != 1) {
            snprintf(obj, n, "group %s/%s", DS_ITEMS_GROUP, len < 0 ? "?" : name);
        }
        if (sg >= 0) H5Gclose(sg);
        for (int i = 0; i < DS_N_ITEM_DS && !obj[0]; i++) {
            snprintf(full, sizeof full, "%s/%s/%s", DS_ITEMS_GROUP, name, ds_item_dataset_at(i)->name);
            if (H5Lexists(f, full, H5P_DEFAULT) <= 0 || read_back(f, full)) snprintf(obj, n, "dataset %s", full);
        }
    }
    if (g >= 0) H5Gclose(g);
}

/* Every object of the schema (src/schema.h) in f reads back: the root
 * attributes, every seed-axis dataset (all of them: the writer opens each),
 * /seeds whole, the /scales columns, /eval_lengths and every dataset of
 * /families. An optional object (flops_per_step, the version strings) may be
 * absent, but whatever exists must read. Returns 0, or a refusal
 * (FOUND_DAMAGED, DS_EXIT_USAGE) naming the file and the first object that
 * does not read. HDF5 errors are silenced by the caller; reads are bounded by
 * the fapl's metadata read attempts (ds_h5_open_read). */
static int probe_schema(hid_t f, const char *path, ds_output_probe *p, ds_error *err) {
    char obj[512] = "";
    const char *what = "cannot be read";
    hid_t g = -1;
    for (int a = 0; a < DS_N_ROOT_ATTRS && !obj[0]; a++) {
        const ds_root_attr *at = ds_root_attr_at(a);
        htri_t has = H5Aexists(f, at->name);
        /* the writer needs these (format, format_version and sweep_yaml
         * were read above, `created` names the journal) */
        int needed = a == DS_A_CREATED || a == DS_A_SWEEP_YAML || a == DS_A_FORMAT ||
                     a == DS_A_FORMAT_VERSION;
        if (has == 0 && !needed) continue;
        int ok = has > 0;
        if (ok && at->elem == DS_EL_I32) {
            int v;
            ok = ds_h5_attr_int(f, at->name, &v) == 1;
        } else if (ok) {
            char *v = ds_h5_attr_string(f, at->name);
            ok = v != NULL;
            free(v);
        }
        if (!ok) {
            snprintf(obj, sizeof obj, "attribute %s", at->name);
            if (has == 0) what = "is missing";
        }
    }
    /* the evaluation kind: a file of sets (/eval_sets) names its metric
     * datasets its own way and has no em, error, minprob, token_acc */
    htri_t sets = obj[0] ? 0 : H5Lexists(f, ds_eval_sets_dataset.path, H5P_DEFAULT);
    if (sets < 0 || (sets > 0 && read_back(f, ds_eval_sets_dataset.path)))
        snprintf(obj, sizeof obj, "dataset %s", ds_eval_sets_dataset.path);
    ds_eval_kind kind = sets > 0 ? DS_EVAL_SETS : DS_EVAL_LENGTHS;
    for (int i = 0; i < DS_N_SEED_DS && !obj[0]; i++) {
        const char *name = ds_seed_dataset_path(i, kind);
        if (!name) continue;
        htri_t has = H5Lexists(f, name, H5P_DEFAULT);
        if (has <= 0 || read_back(f, name)) {
            snprintf(obj, sizeof obj, "dataset %s", name);
            if (has == 0) what = "is missing";
        }
    }
    if (sets > 0 && !obj[0]) probe_items(f, obj, sizeof obj);
    const ds_fixed_dataset *fixed[DS_N_SCALE_COLS + 2];
    int n_fixed = 0;
    fixed[n_fixed++] = &ds_seeds_dataset;
    fixed[n_fixed++] = &ds_eval_lengths_dataset;
    for (int c = 0; c < DS_N_SCALE_COLS; c++) fixed[n_fixed++] = ds_scale_column(c);
    for (int i = 0; i < n_fixed && !obj[0]; i++) {
        htri_t has = H5Lexists(f, DS_SCALES_GROUP, H5P_DEFAULT);
        if (has > 0 || fixed[i] == &ds_seeds_dataset || fixed[i] == &ds_eval_lengths_dataset)
            has = H5Lexists(f, fixed[i]->path, H5P_DEFAULT);
        if (has == 0 && !fixed[i]->required) continue;
        if (has <= 0 || read_back(f, fixed[i]->path)) {
            snprintf(obj, sizeof obj, "dataset %s", fixed[i]->path);
            if (has == 0) what = "is missing";
        }
    }
    if (!obj[0]) {
        /* /families/<name>: every member of the group, by index */
        htri_t has = H5Lexists(f, DS_FAMILIES_GROUP, H5P_DEFAULT);
        H5G_info_t gi = {0};
        if (has < 0 || (has > 0 && ((g = H5Gopen2(f, DS_FAMILIES_GROUP, H5P_DEFAULT)) < 0 ||
                                    H5Gget_info(g, &gi) < 0)))
            snprintf(obj, sizeof obj, "group %s", DS_FAMILIES_GROUP);
        for (hsize_t k = 0; has > 0 && !obj[0] && k < gi.nlinks; k++) {
            char name[128], full[256];
            ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, k, name,
                                             sizeof name, H5P_DEFAULT);
            if (len < 0 || (size_t)len >= sizeof name) {
                snprintf(obj, sizeof obj, "group %s", DS_FAMILIES_GROUP);
                break;
            }
            snprintf(full, sizeof full, "%s/%s", DS_FAMILIES_GROUP, name);
            if (read_back(f, full)) snprintf(obj, sizeof obj, "dataset %s", full);
        }
    }
    if (g >= 0) H5Gclose(g);
    if (!obj[0]) return 0;
    return refuse(p, err, DS_OUTPUT_FOUND_DAMAGED, DS_EXIT_USAGE, "", "%s: %s %s (damaged?)", path,
                  obj, what);
}

int ds_output_probe_path(const char *path, ds_output_probe *p, ds_error *err) {
    memset(p, 0, sizeof *p);
    int rc = DS_EXIT_USAGE;
    hid_t f = -1, fapl = -1;
    char dir[4096];
    H5E_auto2_t old_fn;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

    dir_of(path, dir, sizeof dir);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        refuse(p, err, DS_OUTPUT_FOUND_BAD_DIR, DS_EXIT_USAGE, "",
               "%s: output directory '%s' does not exist (or is not a directory) and cannot be "
               "created", path, dir);
        goto done;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        refuse(p, err, DS_OUTPUT_FOUND_BAD_DIR, DS_EXIT_USAGE, "",
               "%s: output directory '%s' is not writable", path, dir);
        goto done;
    }
    if (stat(path, &st) != 0) {
        p->found = DS_OUTPUT_FOUND_NOTHING;
        rc = 0;
        goto done;
    }
    p->exists = 1;
    if (!S_ISREG(st.st_mode)) {
        refuse(p, err, DS_OUTPUT_FOUND_NOT_FILE, DS_EXIT_USAGE, "",
               "%s: exists and is not a regular file", path);
        goto done;
    }
    if (access(path, R_OK | W_OK) != 0) {
        refuse(p, err, DS_OUTPUT_FOUND_NO_ACCESS, DS_EXIT_USAGE, "",
               "%s: exists but is not readable and writable", path);
        goto done;
    }
    /* from here on a refusal of a regular, readable and writable file marks
     * it damaged: ours, if a journal of this sweep is beside it
     * (ds_output_journal_of_sweep) */
    p->damaged = 1;
    if (H5Fis_hdf5(path) <= 0) {
        refuse(p, err, DS_OUTPUT_FOUND_NOT_HDF5, DS_EXIT_USAGE, ADVICE_MOVE,
               "%s: exists and is not an HDF5 file", path);
        goto done;
    }
    if ((fapl = H5Pcreate(H5P_FILE_ACCESS)) < 0) goto h5fail;
    /* SWMR readers retry a metadata read whose checksum fails (a live writer
     * may be mid-write) 100 times with growing sleeps: minutes on a corrupt
     * file. A handful of retries covers a live writer's flush. */
    if (H5Pset_metadata_read_attempts(fapl, 8) < 0) goto h5fail;
    int how;
    f = ds_h5_open_read(path, fapl, &how); /* a killed writer's file too, unmodified */
    if (f < 0) {
        refuse(p, err, DS_OUTPUT_FOUND_DAMAGED, DS_EXIT_USAGE, ADVICE_NONE,
               "%s: an HDF5 file that HDF5 cannot open (corrupt?)", path);
        goto done;
    }
    if (H5Aexists(f, ds_attr_name(DS_A_FORMAT)) < 0) {
        refuse(p, err, DS_OUTPUT_FOUND_DAMAGED, DS_EXIT_USAGE, ADVICE_NONE,
               "%s: an HDF5 file whose metadata HDF5 cannot read (corrupt?)", path);
        goto done;
    }
    char *format = ds_h5_attr_string(f, ds_attr_name(DS_A_FORMAT));
    int ours = format && !strcmp(format, DS_FORMAT_NAME);
    free(format);
    /* A file without the format attribute stays "damaged": a foreign HDF5
     * file is never rebuilt, because only ours has a journal of this sweep
     * beside it (ds_output_journal_of_sweep), and it is moved aside, never
     * deleted. A file of another format version is whole. */
    if (!ours) {
        refuse(p, err, DS_OUTPUT_FOUND_FOREIGN, DS_EXIT_USAGE, ADVICE_MOVE,
               "%s: an HDF5 file that is not a distsweep result file (no format=\"distsweep\" "
               "attribute)", path);
        goto done;
    }
    int version = -1;
    if (ds_h5_attr_int(f, ds_attr_name(DS_A_FORMAT_VERSION), &version) < 0) version = -1;
    p->damaged = version < 0; /* no readable version: ours, damaged */
    if (version != DS_FORMAT_VERSION) {
        refuse(p, err, DS_OUTPUT_FOUND_VERSION, DS_EXIT_USAGE, "",
               "%s: distsweep result file of format_version %d; this build writes %d", path,
               version, DS_FORMAT_VERSION);
        goto done;
    }
    p->sweep_yaml = ds_h5_attr_string(f, ds_attr_name(DS_A_SWEEP_YAML));
    char *hash = ds_h5_attr_string(f, ds_attr_name(DS_A_SWEEP_HASH));
    p->sweep_hash = hash ? strtoull(hash, NULL, 16) : 0;
    free(hash);
    hid_t d = H5Dopen2(f, ds_seeds_dataset.path, H5P_DEFAULT);
    if (d >= 0) {
        hid_t sp = H5Dget_space(d);
        hsize_t dims[1] = {0};
        if (sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1) H5Sget_simple_extent_dims(sp, dims, NULL);
        p->n_seeds = (int64_t)dims[0];
        if (sp >= 0) H5Sclose(sp);
        H5Dclose(d);
    }
    p->damaged = 1; /* ours from here on: a refusal means damage */
    if (!p->sweep_yaml || d < 0) {
        refuse(p, err, DS_OUTPUT_FOUND_DAMAGED, DS_EXIT_USAGE, "",
               "%s: distsweep result file without sweep_yaml or /seeds", path);
        goto done;
    }
    /* The proof covers everything a resume relies on (schema.h's tables):
     * every object must read back here, where a failure still sends the file
     * to the rebuild, not later in the open or in a reader. Damaged raw
     * values of the seed-axis datasets are not caught here: the open's
     * comparison with the journal rewrites them. */
    if (probe_schema(f, path, p, err)) goto done;
    p->damaged = 0;
    p->found = DS_OUTPUT_FOUND_RESULT;
    rc = 0;
    goto done;
h5fail:
    rc = refuse(p, err, DS_OUTPUT_FOUND_H5_ERROR, DS_EXIT_ERROR, "", "%s: HDF5 error while probing",
                path);
done:
    if (f >= 0) H5Fclose(f);
    if (fapl >= 0) H5Pclose(fapl);
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
    if (rc) ds_output_probe_free(p);
    return rc;
}

void ds_output_probe_free(ds_output_probe *p) {
    free(p->sweep_yaml);
    p->sweep_yaml = NULL;
}

/* ---- the writer's lock, moving aside ------------------------------------------ */

int ds_output_lock(const char *out, int *fd, int *locked, ds_error *err) {
    char lp[DS_OUTPUT_PATH_MAX];
    ds_output_path(out, DS_OUTPUT_LOCK, lp, sizeof lp);
    if (locked) *locked = 0;
    *fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0)
        return ds_error_set(err, DS_EXIT_ERROR, "%s: cannot create the lock file: %s", lp,
                            strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        if (e == EWOULDBLOCK) {
            if (locked) *locked = 1;
            return ds_error_set(err, DS_EXIT_ERROR,
                                "%s: another distsweep is writing this file (%s is locked)", out,
                                lp);
        }
        return ds_error_set(err, DS_EXIT_ERROR, "%s: cannot lock: %s", lp, strerror(e));
    }
    return 0;
}

void ds_output_unlock(int fd) {
    if (fd >= 0) close(fd); /* closing releases the flock */
}

/* The members --fresh moves: everything that belongs to the results (the
 * stored models too: src/modelfile.h) but the lock, which stays the
 * writer's. */
static const ds_output_member moved_members[] = {DS_OUTPUT_FILE, DS_OUTPUT_JOURNAL,
                                                 DS_OUTPUT_CKPT_DIR, DS_OUTPUT_MODELS_DIR};

int ds_output_move_aside(const char *out, char *moved_to, size_t n, ds_error *err) {
    char target[DS_OUTPUT_PATH_MAX], from[DS_OUTPUT_PATH_MAX], to[DS_OUTPUT_PATH_MAX];
    time_t now = time(NULL);
    struct stat st;
    for (int k = 0;; k++) {
        ds_output_aside_name(out, DS_OUTPUT_ASIDE_OLD, now, k, target, sizeof target);
        ds_output_path(target, DS_OUTPUT_JOURNAL, to, sizeof to);
        if (stat(target, &st) != 0 && stat(to, &st) != 0) break;
    }
    for (size_t i = 0; i < sizeof moved_members / sizeof moved_members[0]; i++) {
        ds_output_path(out, moved_members[i], from, sizeof from);
        ds_output_path(target, moved_members[i], to, sizeof to);
        if (stat(from, &st) != 0) continue;
        if (rename(from, to) != 0)
            return ds_error_set(err, DS_EXIT_ERROR, "cannot move %s to %s: %s", from, to,
                                strerror(errno));
    }
    snprintf(moved_to, n, "%s", target);
    return 0;
}

int ds_output_set_aside(const char *path, ds_output_aside kind, char *moved_to, size_t n,
                        ds_error *err) {
    DS_ASSERT(kind == DS_OUTPUT_ASIDE_DAMAGED || kind == DS_OUTPUT_ASIDE_ORPHAN);
    time_t now = time(NULL);
    struct stat st;
    for (int k = 0;; k++) {
        ds_output_aside_name(path, kind, now, k, moved_to, n);
        if (stat(moved_to, &st) != 0) break;
    }
    if (rename(path, moved_to) != 0)
        return ds_error_set(err, DS_EXIT_ERROR, "cannot move %s to %s: %s", path, moved_to,
                            strerror(errno));
    return 0;
}

int ds_output_set_damaged_aside(const char *out, char *moved_to, size_t n, ds_error *err) {
    return ds_output_set_aside(out, DS_OUTPUT_ASIDE_DAMAGED, moved_to, n, err);
}

int ds_output_journal_of_sweep(const char *out, const ds_sweep *s) {
    char jpath[DS_OUTPUT_PATH_MAX], created[DS_JOURNAL_CREATED_MAX];
    uint64_t hash = 0;
    ds_output_path(out, DS_OUTPUT_JOURNAL, jpath, sizeof jpath);
    return ds_journal_identity(jpath, created, &hash) == 0 && hash == s->yaml_hash;
}

/* ---- opening for a run -------------------------------------------------------- */

/* Creates the missing directories above path (like mkdir -p); failures are
 * left for ds_output_probe_path to report. */
static void make_parent_dirs(const char *path) {
    char d[4096];
    snprintf(d, sizeof d, "%s", path);
    char *slash = strrchr(d, '/');
    if (!slash || slash == d) return;
    *slash = 0;
    for (char *p = d + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        mkdir(d, 0755);
        *p = '/';
    }
    mkdir(d, 0755);
}

/* A file found damaged after the probe (res->why says how), with a journal
 * of the sweep beside it and the writer's lock held: moves it aside and
 * decides REBUILD. Returns 0, or DS_EXIT_ERROR when the rename fails. */
static int rebuild_damaged(const char *out, ds_output_open_result *res, ds_error *err) {
    char moved[DS_OUTPUT_PATH_MAX];
    res->damaged = 1;
    res->probe_found = DS_OUTPUT_FOUND_DAMAGED;
    int rc = ds_output_set_damaged_aside(out, moved, sizeof moved, err);
    if (rc) return rc;
    snprintf(res->damaged_to, sizeof res->damaged_to, "%s", moved);
    res->decision = DS_OUTPUT_REBUILD;
    return 0;
}

int ds_output_open_for_run(const ds_sweep *s, const char *out, const ds_output_opts *o,
                           ds_output_open_result *res, ds_error *err) {
    ds_output_probe p = {0};
    ds_sweep *old = NULL;
    struct stat sb;
    int rc, locked = 0;
    memset(res, 0, sizeof *res);
    res->lock_fd = -1;
    res->decision = DS_OUTPUT_FAILED;
    ds_output_path(out, DS_OUTPUT_JOURNAL, res->journal, sizeof res->journal);

    make_parent_dirs(out); /* results/ of the default output may not exist yet */
    /* read-only checks first: a refused file gets nothing beside it */
    rc = ds_output_probe_path(out, &p, err);
    res->probe_found = p.found;
    res->damaged = p.damaged;
    snprintf(res->why, sizeof res->why, "%s", p.why);
    ds_output_probe_free(&p); /* probed again below, after any move */
    /* a damaged file (a torn write after a power loss, a disk error) whose
     * journal belongs to this sweep is rebuilt from the journal: nothing
     * finished is lost. Without such a journal it is refused, untouched.
     * --fresh moves even a foreign or damaged file aside. */
    int rebuild = rc && p.damaged && !o->fresh && ds_output_journal_of_sweep(out, s);
    if (rc && !rebuild && !(o->fresh && p.exists)) {
        if (p.damaged && !o->fresh && stat(res->journal, &sb) == 0) {
            /* say why the journal beside it does not help */
            size_t len = strlen(err->msg);
            snprintf(err->msg + len, sizeof err->msg - len,
                     " (it cannot be rebuilt from %.900s: a journal of another sweep, or from a "
                     "version without the sweep's hash)", res->journal);
        }
        res->decision = DS_OUTPUT_REFUSED_FOUND;
        goto done;
    }
    err->code = 0;
    if ((rc = ds_output_lock(out, &res->lock_fd, &locked, err))) {
        res->decision = locked ? DS_OUTPUT_REFUSED_LOCKED : DS_OUTPUT_FAILED;
        goto done;
    }
    /* the names are kept once the move is done: the caller says what moved */
    char moved[DS_OUTPUT_PATH_MAX];
    if (rebuild) {
        if ((rc = ds_output_set_damaged_aside(out, moved, sizeof moved, err))) goto done;
        snprintf(res->damaged_to, sizeof res->damaged_to, "%s", moved);
    }
    if (o->fresh && (stat(out, &sb) == 0 || stat(res->journal, &sb) == 0)) {
        if ((rc = ds_output_move_aside(out, moved, sizeof moved, err))) goto done;
        snprintf(res->fresh_to, sizeof res->fresh_to, "%s", moved);
    }
    if ((rc = ds_output_probe_path(out, &p, err))) {
        res->decision = DS_OUTPUT_REFUSED_FOUND;
        goto done;
    }
    if (!p.exists) {
        /* ds_store_open rebuilds a missing file from a journal of this sweep
         * (a damaged one just moved aside, or deleted by hand) */
        res->decision = ds_output_journal_of_sweep(out, s) ? DS_OUTPUT_REBUILD : DS_OUTPUT_NEW;
        goto done;
    }
    ds_error e2 = {0};
    int loads = !ds_sweep_load_text(out, p.sweep_yaml, &old, &e2);
    /* A stored text that does not load, or that is not the text its stored
     * sweep_hash was taken of, is damage when a journal of this sweep is
     * beside the file: the journal rebuilds it. Without one it is refused. */
    int journal = ds_output_journal_of_sweep(out, s);
    if ((!loads || (p.sweep_hash && old->yaml_hash != p.sweep_hash)) && journal) {
        snprintf(res->why, sizeof res->why, "%.1000s: the sweep stored in the file %s (%.600s%s"
                 "attribute %s damaged?)", out, loads ? "does not match its sweep_hash" :
                 "does not load", loads ? "" : e2.msg, loads ? "" : "; ",
                 ds_attr_name(DS_A_SWEEP_YAML));
        rc = rebuild_damaged(out, res, err);
        goto done;
    }
    if (!loads) {
        res->decision = DS_OUTPUT_REFUSED_STORED_SWEEP;
        rc = ds_error_set(err, DS_EXIT_USAGE,
                          "%s: the sweep stored in the file does not load (%s); use --fresh to "
                          "start over", out, e2.msg);
        goto done;
    }
    /* the file's seed axis is the truth about its seed count, and the axis
     * only grows: ds_sweep_diff refuses a smaller seeds.count. An adaptive
     * sweep's axis is its largest scale, and seeds.count (its first round) is
     * compared with the stored sweep's. ds_store_open keeps a check of its
     * own for callers that skip this one. */
    if (!s->seeds.adaptive.enabled) old->seeds.count = p.n_seeds;
    if (ds_sweep_diff(old, s, res->diff, sizeof res->diff)) {
        res->decision = DS_OUTPUT_REFUSED_OTHER_SWEEP;
        rc = ds_error_set(err, DS_EXIT_USAGE,
                          "%s was made by a different sweep: %s. Use the original sweep file, "
                          "another -o, or --fresh to start over (the old file is moved aside, not "
                          "deleted)", out, res->diff);
        goto done;
    }
    /* The definitional datasets hold what the sweep defines: raw values the
     * probe reads back but that a damage changed are damage too, rebuilt
     * from a journal of this sweep (without one the file is resumed as it
     * is, as before). */
    if (journal && ds_store_check_definition(s, out, res->why, sizeof res->why)) {
        rc = rebuild_damaged(out, res, err);
        goto done;
    }
    res->decision = DS_OUTPUT_RESUME;
done:
    ds_sweep_free(old);
    ds_output_probe_free(&p);
    if (rc) {
        ds_output_unlock(res->lock_fd);
        res->lock_fd = -1;
    }
    DS_ASSERT(rc ? res->decision > DS_OUTPUT_REBUILD : res->decision <= DS_OUTPUT_REBUILD);
    return rc;
}

/* ---- damaged members of OUT.ckpt/ ---------------------------------------------- */

int ds_output_damaged_member_aside(const char *path, char *moved_to, size_t n, ds_error *err) {
    /* the same name a damaged OUT gets: PATH.damaged-<UTC time>[-k] */
    return ds_output_set_damaged_aside(path, moved_to, n, err);
}
