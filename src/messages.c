/* messages: see messages.h. */
#include "messages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ds_msg_name(int kind) {
    switch (kind) {
    case DS_MSG_REQUEST: return "REQUEST";
    case DS_MSG_ASSIGN: return "ASSIGN";
    case DS_MSG_PROGRESS: return "PROGRESS";
    case DS_MSG_RESULT: return "RESULT";
    case DS_MSG_FAILED: return "FAILED";
    case DS_MSG_STOP: return "STOP";
    case DS_MSG_STATS: return "STATS";
    case DS_MSG_GASSIGN: return "GASSIGN";
    }
    return "unknown";
}

/* "an ASSIGN", "a RESULT": how errors name a message. */
static const char *art(int kind) { return kind == DS_MSG_ASSIGN ? "an" : "a"; }

/* ---- bytes in and out -------------------------------------------------------- */

/* Writing: the caller has checked that the whole message fits. */
static unsigned char *put(unsigned char *p, const void *v, size_t n) {
    memcpy(p, v, n);
    return p + n;
}
static unsigned char *put_header(unsigned char *p, int kind) {
    p[0] = DS_MSG_VERSION;
    p[1] = (unsigned char)kind;
    return p + DS_MSG_HEADER;
}

/* Reading: the caller has checked that n covers what it reads. */
static const unsigned char *get(const unsigned char *p, void *v, size_t n) {
    memcpy(v, p, n);
    return p + n;
}

static int truncated(int kind, size_t n, size_t want, ds_error *err) {
    return ds_error_set(err, DS_EXIT_ERROR, "a truncated %s (%zu bytes, at least %zu expected)",
                        ds_msg_name(kind), n, want);
}

/* Checks the header of n bytes b as a message of `kind` at least `min` bytes
 * long (header included). The version comes first: a build with another
 * version may lay out or number everything else differently. */
static int check_header(const unsigned char *b, size_t n, int kind, size_t min, ds_error *err) {
    if (n >= 1 && b[0] != DS_MSG_VERSION)
        return ds_error_set(err, DS_EXIT_ERROR,
                            "%s %s of message version %d; this build speaks version %d: every "
                            "rank must run the same distsweep build",
                            art(kind), ds_msg_name(kind), b[0], DS_MSG_VERSION);
    if (n < DS_MSG_HEADER) return truncated(kind, n, min, err);
    if (b[1] != kind)
        return ds_error_set(err, DS_EXIT_ERROR,
                            "%s %s whose kind byte says %s (%d): a message sent under the wrong tag",
                            art(kind), ds_msg_name(kind), ds_msg_name(b[1]), b[1]);
    if (n < min) return truncated(kind, n, min, err);
    return 0;
}

/* A message whose counts make it `want` bytes arrived as n. */
static int wrong_length(int kind, size_t n, size_t want, ds_error *err) {
    if (n < want) return truncated(kind, n, want, err);
    return ds_error_set(err, DS_EXIT_ERROR, "%s %s of %zu bytes where its counts make %zu",
                        art(kind), ds_msg_name(kind), n, want);
}

/* ---- REQUEST and STOP ---------------------------------------------------------- */

static size_t encode_empty(int kind, unsigned char *buf, size_t cap) {
    if (cap >= DS_MSG_HEADER) put_header(buf, kind);
    return DS_MSG_HEADER;
}

static int decode_empty(int kind, const unsigned char *b, size_t n, ds_error *err) {
    int rc = check_header(b, n, kind, DS_MSG_HEADER, err);
    if (!rc && n != DS_MSG_HEADER) rc = wrong_length(kind, n, DS_MSG_HEADER, err);
    return rc;
}

size_t ds_msg_request_encode(unsigned char *buf, size_t cap) {
    return encode_empty(DS_MSG_REQUEST, buf, cap);
}
int ds_msg_request_decode(const unsigned char *b, size_t n, ds_error *err) {
    return decode_empty(DS_MSG_REQUEST, b, n, err);
}
size_t ds_msg_stop_encode(unsigned char *buf, size_t cap) {
    return encode_empty(DS_MSG_STOP, buf, cap);
}
int ds_msg_stop_decode(const unsigned char *b, size_t n, ds_error *err) {
    return decode_empty(DS_MSG_STOP, b, n, err);
}

/* ---- ASSIGN and GASSIGN -------------------------------------------------------- */

/* Bytes of an (G)ASSIGN with R seeds and, for a GASSIGN, k ranks. */
static size_t assign_size(int group, size_t k, size_t R) {
    return DS_MSG_HEADER + 4 * (group ? 4 + k : 3) + 8 * R;
}

static size_t encode_assign(int kind, const ds_msg_assign *a, unsigned char *buf, size_t cap) {
    int group = kind == DS_MSG_GASSIGN;
    DS_ASSERT(a->R >= 1 && a->R <= DS_MSG_MAX_R && a->scale >= 0 && a->pack_id >= 0 && a->seeds);
    DS_ASSERT(group ? a->k >= 2 && a->k <= DS_MSG_MAX_K && a->ranks : a->k == 1);
    size_t need = assign_size(group, (size_t)a->k, (size_t)a->R);
    if (need > cap) return need;
    unsigned char *p = put_header(buf, kind);
    p = put(p, &a->scale, 4);
    p = put(p, &a->R, 4);
    p = put(p, &a->pack_id, 4);
    if (group) {
        p = put(p, &a->k, 4);
        p = put(p, a->ranks, 4 * (size_t)a->k);
    }
    p = put(p, a->seeds, 8 * (size_t)a->R);
    DS_ASSERT((size_t)(p - buf) == need);
    return need;
}

static int decode_assign(int kind, const unsigned char *b, size_t n, ds_msg_assign *a,
                         ds_error *err) {
    int group = kind == DS_MSG_GASSIGN;
    memset(a, 0, sizeof *a);
    a->k = 1;
    int rc = check_header(b, n, kind, assign_size(group, 0, 0), err);
    if (rc) return rc;
    const unsigned char *p = b + DS_MSG_HEADER;
    p = get(p, &a->scale, 4);
    p = get(p, &a->R, 4);
    p = get(p, &a->pack_id, 4);
    if (group) p = get(p, &a->k, 4);
    const char *what = art(kind), *name = ds_msg_name(kind);
    if (a->R < 1 || a->R > DS_MSG_MAX_R)
        rc = ds_error_set(err, DS_EXIT_ERROR, "%s %s of %d seeds (1..%d allowed)", what, name,
                          (int)a->R, DS_MSG_MAX_R);
    else if (group && (a->k < 2 || a->k > DS_MSG_MAX_K))
        rc = ds_error_set(err, DS_EXIT_ERROR, "a GASSIGN for a group of %d ranks (2..%d allowed)",
                          (int)a->k, DS_MSG_MAX_K);
    else if (a->scale < 0 || a->pack_id < 0)
        rc = ds_error_set(err, DS_EXIT_ERROR, "%s %s of scale %d, pack %d (negative)", what,
                          name, (int)a->scale, (int)a->pack_id);
    else if (n != assign_size(group, (size_t)a->k, (size_t)a->R))
        rc = wrong_length(kind, n, assign_size(group, (size_t)a->k, (size_t)a->R), err);
    if (!rc && group) {
        a->ranks = DS_MALLOC(4 * (size_t)a->k);
        p = get(p, a->ranks, 4 * (size_t)a->k);
        for (int i = 0; i < a->k && !rc; i++)
            if (a->ranks[i] < 1 || (i > 0 && a->ranks[i] <= a->ranks[i - 1]))
                rc = ds_error_set(err, DS_EXIT_ERROR,
                                  "a GASSIGN whose ranks are not ascending ranks above 0 "
                                  "(rank #%d is %d)", i, (int)a->ranks[i]);
    }
    if (!rc) {
        a->seeds = DS_MALLOC(8 * (size_t)a->R);
        p = get(p, a->seeds, 8 * (size_t)a->R);
        DS_ASSERT((size_t)(p - b) == n);
    }
    if (rc) ds_msg_assign_free(a); /* the one cleanup: a failed decode leaves nothing */
    return rc;
}

size_t ds_msg_assign_encode(const ds_msg_assign *a, unsigned char *buf, size_t cap) {
    return encode_assign(DS_MSG_ASSIGN, a, buf, cap);
}
int ds_msg_assign_decode(const unsigned char *b, size_t n, ds_msg_assign *a, ds_error *err) {
    return decode_assign(DS_MSG_ASSIGN, b, n, a, err);
}
size_t ds_msg_gassign_encode(const ds_msg_assign *a, unsigned char *buf, size_t cap) {
    return encode_assign(DS_MSG_GASSIGN, a, buf, cap);
}
int ds_msg_gassign_decode(const unsigned char *b, size_t n, ds_msg_assign *a, ds_error *err) {
    return decode_assign(DS_MSG_GASSIGN, b, n, a, err);
}

void ds_msg_assign_free(ds_msg_assign *a) {
    free(a->ranks);
    free(a->seeds);
    a->ranks = NULL;
    a->seeds = NULL;
}

/* ---- PROGRESS ------------------------------------------------------------------ */

#define PROGRESS_SIZE (DS_MSG_HEADER + 8 + 4)

size_t ds_msg_progress_encode(const ds_msg_progress *m, unsigned char *buf, size_t cap) {
    if (PROGRESS_SIZE > cap) return PROGRESS_SIZE;
    unsigned char *p = put_header(buf, DS_MSG_PROGRESS);
    p = put(p, &m->step, 8);
    put(p, &m->loss, 4);
    return PROGRESS_SIZE;
}

int ds_msg_progress_decode(const unsigned char *b, size_t n, ds_msg_progress *m, ds_error *err) {
    memset(m, 0, sizeof *m);
    int rc = check_header(b, n, DS_MSG_PROGRESS, PROGRESS_SIZE, err);
    if (!rc && n != PROGRESS_SIZE) rc = wrong_length(DS_MSG_PROGRESS, n, PROGRESS_SIZE, err);
    if (rc) return rc;
    const unsigned char *p = get(b + DS_MSG_HEADER, &m->step, 8);
    get(p, &m->loss, 4);
    return 0;
}

/* ---- RESULT -------------------------------------------------------------------- */

size_t ds_msg_result_encode(const ds_record *rec, unsigned char *buf, size_t cap) {
    size_t need = DS_MSG_HEADER + ds_record_size(rec);
    if (need > cap) return need;
    ds_record_encode(rec, put_header(buf, DS_MSG_RESULT));
    return need;
}

int ds_msg_result_decode(const unsigned char *b, size_t n, ds_record *rec, ds_error *err) {
    memset(rec, 0, sizeof *rec);
    int rc = check_header(b, n, DS_MSG_RESULT, DS_MSG_HEADER, err);
    if (rc) return rc;
    if (ds_record_decode(b + DS_MSG_HEADER, n - DS_MSG_HEADER, rec) < 0) {
        ds_record_free(rec); /* NULL when it refused: nothing was allocated */
        return ds_error_set(err, DS_EXIT_ERROR,
                            "a RESULT of %zu bytes that is not a run record (truncated, or "
                            "counts out of range)", n);
    }
    return 0;
}

/* ---- FAILED -------------------------------------------------------------------- */

#define FAILED_FIXED (DS_MSG_HEADER + 4 + 4)

void ds_msg_failed_set(ds_msg_failed *m, int kind, const char *text) {
    DS_ASSERT(kind >= 0 && kind < DS_MSG_N_FAIL);
    m->kind = kind;
    snprintf(m->text, sizeof m->text, "%s", text);
}

size_t ds_msg_failed_encode(const ds_msg_failed *m, unsigned char *buf, size_t cap) {
    DS_ASSERT(m->kind >= 0 && m->kind < DS_MSG_N_FAIL);
    /* NUL-terminated, as ds_msg_failed_set makes it */
    const char *end = memchr(m->text, '\0', sizeof m->text);
    DS_ASSERT(end != NULL);
    uint32_t len = (uint32_t)(end - m->text);
    size_t need = FAILED_FIXED + len;
    if (need > cap) return need;
    unsigned char *p = put_header(buf, DS_MSG_FAILED);
    p = put(p, &m->kind, 4);
    p = put(p, &len, 4);
    put(p, m->text, len);
    return need;
}

int ds_msg_failed_decode(const unsigned char *b, size_t n, ds_msg_failed *m, ds_error *err) {
    memset(m, 0, sizeof *m);
    int rc = check_header(b, n, DS_MSG_FAILED, FAILED_FIXED, err);
    if (rc) return rc;
    uint32_t len;
    const unsigned char *p = get(b + DS_MSG_HEADER, &m->kind, 4);
    p = get(p, &len, 4);
    if (m->kind < 0 || m->kind >= DS_MSG_N_FAIL)
        rc = ds_error_set(err, DS_EXIT_ERROR, "a FAILED of kind %d (0..%d allowed)", (int)m->kind,
                          DS_MSG_N_FAIL - 1);
    else if (len >= DS_MSG_TEXT_MAX)
        rc = ds_error_set(err, DS_EXIT_ERROR, "a FAILED with a text of %u bytes (below %d allowed)",
                          (unsigned)len, DS_MSG_TEXT_MAX);
    else if (n != FAILED_FIXED + (size_t)len)
        rc = wrong_length(DS_MSG_FAILED, n, FAILED_FIXED + (size_t)len, err);
    if (rc) {
        memset(m, 0, sizeof *m);
        return rc;
    }
    memcpy(m->text, p, len);
    m->text[len] = '\0';
    return 0;
}

/* ---- STATS --------------------------------------------------------------------- */

#define STATS_SIZE (DS_MSG_HEADER + 8 + 8)

size_t ds_msg_stats_encode(const ds_msg_stats *m, unsigned char *buf, size_t cap) {
    if (STATS_SIZE > cap) return STATS_SIZE;
    unsigned char *p = put_header(buf, DS_MSG_STATS);
    p = put(p, &m->busy_s, 8);
    put(p, &m->idle_s, 8);
    return STATS_SIZE;
}

int ds_msg_stats_decode(const unsigned char *b, size_t n, ds_msg_stats *m, ds_error *err) {
    memset(m, 0, sizeof *m);
    int rc = check_header(b, n, DS_MSG_STATS, STATS_SIZE, err);
    if (!rc && n != STATS_SIZE) rc = wrong_length(DS_MSG_STATS, n, STATS_SIZE, err);
    if (rc) return rc;
    const unsigned char *p = get(b + DS_MSG_HEADER, &m->busy_s, 8);
    get(p, &m->idle_s, 8);
    return 0;
}
