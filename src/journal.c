/* journal: see journal.h. */
#define _POSIX_C_SOURCE 200809L
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "output.h" /* the stale journal's name */

#define JOURNAL_MAGIC "DSJRNL02"    /* written */
#define JOURNAL_MAGIC_V1 "DSJRNL01" /* read: no sweep hash */
#define RECORD_MAGIC 0x4a52534au
#define HEADER_V1 (8 + DS_JOURNAL_CREATED_MAX)
#define HEADER_V2 (HEADER_V1 + 8)
/* No sane record is larger: 64 lengths x 5 metrics, a 1M-point curve, a
 * trajectory and the per-item trailer of 64 sets of at most DS_MAX_SET_ITEMS
 * items (5 bytes each: 320 MiB). */
#define RECORD_MAX ((size_t)512 << 20)

struct ds_journal {
    int fd;
    char path[4200];
};

/* ---- the journal file ---------------------------------------------------- */

/* A failed read or write of the journal is the storage's failure
 * (DS_EXIT_STORAGE): "PATH: WHAT: no space left on device". */
static int journal_error(ds_error *err, const char *path, const char *what) {
    char cause[256];
    ds_strerror_lc(errno, cause, sizeof cause);
    return ds_error_set(err, DS_EXIT_STORAGE, "%s: %s: %s", path, what, cause);
}

static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads the whole file into memory; *n its size. */
static int slurp(int fd, unsigned char **data, size_t *n) {
    struct stat st;
    if (fstat(fd, &st) < 0) return -1;
    *n = (size_t)st.st_size;
    *data = DS_MALLOC(*n);
    size_t got = 0;
    while (got < *n) {
        ssize_t r = pread(fd, *data + got, *n - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            free(*data);
            *data = NULL;
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

/* The header size of the journal in data[0..n) (its version), or 0 when it
 * does not start with a whole header of either version. */
static size_t header_size(const unsigned char *data, size_t n) {
    if (n >= HEADER_V2 && memcmp(data, JOURNAL_MAGIC, 8) == 0) return HEADER_V2;
    if (n >= HEADER_V1 && memcmp(data, JOURNAL_MAGIC_V1, 8) == 0) return HEADER_V1;
    return 0;
}

int ds_journal_created_valid(const char *s) {
    /* ds_iso8601_now's form (src/store.h): YYYY-MM-DDTHH:MM:SS.ffffffZ */
    static const char form[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    size_t n = strnlen(s, DS_JOURNAL_CREATED_MAX);
    if (n != sizeof form - 1) return 0;
    for (size_t i = 0; i < n; i++) {
        int digit = s[i] >= '0' && s[i] <= '9';
        if (form[i] == 'd' ? !digit : s[i] != form[i]) return 0;
    }
    int mon = (s[5] - '0') * 10 + (s[6] - '0'), day = (s[8] - '0') * 10 + (s[9] - '0');
    int hour = (s[11] - '0') * 10 + (s[12] - '0'), min = (s[14] - '0') * 10 + (s[15] - '0');
    int sec = (s[17] - '0') * 10 + (s[18] - '0');
    return mon >= 1 && mon <= 12 && day >= 1 && day <= 31 && hour <= 23 && min <= 59 &&
           sec <= 60;
}

/* Copies the `created` field of a header (data: at least HEADER_V1 bytes)
 * into out[DS_JOURNAL_CREATED_MAX]; returns whether it is valid
 * (ds_journal_created_valid). */
static int header_created(const unsigned char *data, char *out) {
    memcpy(out, data + 8, DS_JOURNAL_CREATED_MAX);
    out[DS_JOURNAL_CREATED_MAX - 1] = 0;
    return ds_journal_created_valid(out);
}

/* Parses records from data[header..n); returns the end offset of the last
 * valid record. */
static size_t parse_records(const unsigned char *data, size_t n, ds_record **recs,
                            int64_t *n_recs) {
    size_t off = header_size(data, n), cap = 0;
    *recs = NULL;
    *n_recs = 0;
    while (off + 8 <= n) {
        uint32_t magic, len;
        memcpy(&magic, data + off, 4);
        memcpy(&len, data + off + 4, 4);
        if (magic != RECORD_MAGIC || len > RECORD_MAX || off + 8 + (size_t)len + 8 > n) break;
        uint64_t sum;
        memcpy(&sum, data + off + 8 + len, 8);
        if (sum != ds_fnv1a64(data + off + 8, len, DS_FNV1A64_INIT)) break;
        ds_record rec;
        if (ds_record_decode(data + off + 8, len, &rec) < 0) break;
        if ((size_t)*n_recs == cap) {
            cap = cap ? 2 * cap : 64;
            *recs = DS_REALLOC(*recs, cap * sizeof **recs);
        }
        (*recs)[(*n_recs)++] = rec;
        off += 8 + (size_t)len + 8;
    }
    return off;
}

static void free_records(ds_record *recs, int64_t n) {
    for (int64_t i = 0; i < n; i++) ds_record_free(&recs[i]);
    free(recs);
}

int ds_journal_read(const char *path, char *created_out, ds_record **recs, int64_t *n_recs,
                    ds_error *err) {
    unsigned char *data = NULL;
    size_t n = 0;
    int fd = open(path, O_RDONLY);
    *recs = NULL;
    *n_recs = 0;
    if (fd < 0) return ds_error_set(err, DS_EXIT_ERROR, "%s: %s", path, strerror(errno));
    if (slurp(fd, &data, &n) < 0) {
        ds_error_set(err, DS_EXIT_ERROR, "%s: cannot read: %s", path, strerror(errno));
        close(fd);
        return DS_EXIT_ERROR;
    }
    close(fd);
    if (!header_size(data, n)) {
        free(data);
        return ds_error_set(err, DS_EXIT_ERROR, "%s: not a distsweep journal", path);
    }
    char created[DS_JOURNAL_CREATED_MAX];
    if (!header_created(data, created)) {
        free(data);
        return ds_error_set(err, DS_EXIT_ERROR,
                            "%s: damaged journal header (its `created` is not an ISO 8601 time)",
                            path);
    }
    if (created_out) memcpy(created_out, created, sizeof created);
    parse_records(data, n, recs, n_recs);
    free(data);
    return 0;
}

int ds_journal_identity(const char *path, char *created_out, uint64_t *sweep_hash) {
    unsigned char h[HEADER_V2];
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t got = pread(fd, h, sizeof h, 0);
    close(fd);
    if (got < 0 || !header_size(h, (size_t)got)) return -1;
    /* a damaged `created` is a damaged header: never copied into a file */
    if (!header_created(h, created_out)) {
        created_out[0] = 0;
        return -1;
    }
    if (header_size(h, (size_t)got) != HEADER_V2) return 1;
    *sweep_hash = 0;
    for (int i = 0; i < 8; i++) *sweep_hash |= (uint64_t)h[HEADER_V1 + i] << (8 * i);
    return 0;
}

static int write_header(int fd, const char *created, uint64_t sweep_hash) {
    unsigned char h[HEADER_V2];
    memset(h, 0, sizeof h);
    memcpy(h, JOURNAL_MAGIC, 8);
    strncpy((char *)h + 8, created, DS_JOURNAL_CREATED_MAX - 1);
    for (int i = 0; i < 8; i++) h[HEADER_V1 + i] = (unsigned char)(sweep_hash >> (8 * i));
    if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0) return -1;
    if (write_all(fd, h, sizeof h) < 0) return -1;
    return fsync(fd);
}

int ds_journal_open(const char *path, const char *created, uint64_t sweep_hash, ds_journal **out,
                    ds_record **recs, int64_t *n_recs, int *stale_moved, ds_error *err) {
    unsigned char *data = NULL;
    size_t n = 0;
    ds_journal *j = DS_CALLOC(1, sizeof *j);
    *out = NULL;
    *recs = NULL;
    *n_recs = 0;
    *stale_moved = 0;
    snprintf(j->path, sizeof j->path, "%s", path);
    j->fd = open(path, O_RDWR | O_CREAT, 0644);
    if (j->fd < 0) {
        journal_error(err, path, "cannot open the journal");
        goto fail;
    }
    if (slurp(j->fd, &data, &n) < 0) {
        journal_error(err, path, "cannot read the journal");
        goto fail;
    }
    int ours = header_size(data, n) &&
               strncmp((const char *)data + 8, created, DS_JOURNAL_CREATED_MAX - 1) == 0;
    if (n > 0 && !ours) {
        /* A journal of an earlier result file (moved or deleted by hand):
         * never replay it into this one, never delete it either. */
        char aside[DS_OUTPUT_PATH_MAX];
        ds_output_stale_journal_name(path, (long long)time(NULL), aside, sizeof aside);
        close(j->fd);
        j->fd = -1;
        if (rename(path, aside) < 0) {
            journal_error(err, path, "cannot move a foreign journal aside");
            goto fail;
        }
        *stale_moved = 1;
        j->fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (j->fd < 0) {
            journal_error(err, path, "cannot create the journal");
            goto fail;
        }
        n = 0;
    }
    if (n == 0) {
        if (write_header(j->fd, created, sweep_hash) < 0) {
            journal_error(err, path, "cannot write the journal");
            goto fail;
        }
    } else {
        size_t end = parse_records(data, n, recs, n_recs);
        if (end < n) {
            /* Torn tail from a crash inside write(): cut it so appends
             * continue a well-formed log. */
            if (ftruncate(j->fd, (off_t)end) < 0 || fsync(j->fd) < 0) {
                journal_error(err, path, "cannot cut the torn tail of the journal");
                goto fail;
            }
        }
    }
    if (lseek(j->fd, 0, SEEK_END) < 0) {
        journal_error(err, path, "cannot seek in the journal");
        goto fail;
    }
    free(data);
    *out = j;
    return 0;
fail:
    free(data);
    free_records(*recs, *n_recs);
    *recs = NULL;
    *n_recs = 0;
    if (j->fd >= 0) close(j->fd);
    free(j);
    return err->code;
}

int ds_journal_append(ds_journal *j, const ds_record *recs, int n, ds_error *err) {
    size_t total = 0;
    for (int i = 0; i < n; i++) total += 16 + ds_record_size(&recs[i]);
    unsigned char *buf = DS_MALLOC(total), *p = buf;
    for (int i = 0; i < n; i++) {
        uint32_t magic = RECORD_MAGIC, len = (uint32_t)ds_record_size(&recs[i]);
        memcpy(p, &magic, 4);
        memcpy(p + 4, &len, 4);
        ds_record_encode(&recs[i], p + 8);
        uint64_t sum = ds_fnv1a64(p + 8, len, DS_FNV1A64_INIT);
        memcpy(p + 8 + len, &sum, 8);
        p += 16 + len;
    }
    int rc = 0;
    off_t end = lseek(j->fd, 0, SEEK_CUR);
    if (end < 0 || write_all(j->fd, buf, total) < 0 || fsync(j->fd) < 0) {
        rc = journal_error(err, j->path, "cannot append to the journal");
        /* A partial write (disk full) leaves a torn record: cut it now, so
         * that the journal ends at a record boundary (a reopen would cut it
         * too). Records that were complete but not fsync'd stay: they are
         * correct, and a resume replays them. */
        if (end >= 0 && ftruncate(j->fd, end) == 0) lseek(j->fd, end, SEEK_SET);
    }
    free(buf);
    return rc;
}

void ds_journal_close(ds_journal *j) {
    if (!j) return;
    if (j->fd >= 0) close(j->fd);
    free(j);
}
