/* Tests of the scheduler's message codecs (src/messages.c) without MPI: for
 * every message a round trip (encode, decode, equal), every prefix shorter
 * than the message refused, a wrong version byte and a wrong kind byte
 * refused (the version error naming both versions and the message), one byte
 * too many refused, and the counts out of range refused (R, k, the group's
 * ranks, FAILED's kind and text length); and the RESULT record's per-item
 * trailer (a round trip, the old bytes without it, the old layout's decoder
 * refusing it, malformed trailers refused). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "messages.h"
#include "test.h"

/* A decoder under test: 0 or an error, as ds_msg_*_decode. */
typedef int (*decode_fn)(const unsigned char *b, size_t n, ds_error *err);

static int dec_request(const unsigned char *b, size_t n, ds_error *e) {
    return ds_msg_request_decode(b, n, e);
}
static int dec_stop(const unsigned char *b, size_t n, ds_error *e) {
    return ds_msg_stop_decode(b, n, e);
}
static int dec_assign(const unsigned char *b, size_t n, ds_error *e) {
    ds_msg_assign a;
    int rc = ds_msg_assign_decode(b, n, &a, e);
    ds_msg_assign_free(&a);
    return rc;
}
static int dec_gassign(const unsigned char *b, size_t n, ds_error *e) {
    ds_msg_assign a;
    int rc = ds_msg_gassign_decode(b, n, &a, e);
    ds_msg_assign_free(&a);
    return rc;
}
static int dec_progress(const unsigned char *b, size_t n, ds_error *e) {
    ds_msg_progress m;
    return ds_msg_progress_decode(b, n, &m, e);
}
static int dec_result(const unsigned char *b, size_t n, ds_error *e) {
    ds_record rec;
    int rc = ds_msg_result_decode(b, n, &rec, e);
    if (!rc) ds_record_free(&rec);
    return rc;
}
static int dec_failed(const unsigned char *b, size_t n, ds_error *e) {
    ds_msg_failed m;
    return ds_msg_failed_decode(b, n, &m, e);
}
static int dec_stats(const unsigned char *b, size_t n, ds_error *e) {
    ds_msg_stats m;
    return ds_msg_stats_decode(b, n, &m, e);
}

/* The refusals every message shares, on its n-byte encoding msg of kind. */
static void check_refusals(const char *what, int kind, decode_fn dec, const unsigned char *msg,
                           size_t n) {
    unsigned char *b = malloc(n + 1);
    ds_error e = {0};
    memcpy(b, msg, n);
    CHECK_MSG(dec(b, n, &e) == 0, "%s: the message itself: %s", what, e.msg);
    CHECK_MSG(b[0] == DS_MSG_VERSION && b[1] == kind, "%s: header %d %d", what, b[0], b[1]);
    /* every shorter prefix, down to nothing */
    for (size_t m = 0; m < n; m++) {
        memset(&e, 0, sizeof e);
        int rc = dec(b, m, &e);
        CHECK_MSG(rc == DS_EXIT_ERROR && e.code == DS_EXIT_ERROR, "%s: %zu of %zu bytes accepted",
                  what, m, n);
        CHECK_MSG(strstr(e.msg, ds_msg_name(kind)) != NULL, "%s: prefix %zu: '%s'", what, m, e.msg);
    }
    /* one byte too many */
    b[n] = 0;
    memset(&e, 0, sizeof e);
    CHECK_MSG(dec(b, n + 1, &e) == DS_EXIT_ERROR, "%s: %zu bytes (one too many) accepted", what,
              n + 1);
    /* another version: the message says which, and what to do */
    b[0] = DS_MSG_VERSION + 1;
    memset(&e, 0, sizeof e);
    CHECK_MSG(dec(b, n, &e) == DS_EXIT_ERROR, "%s: version %d accepted", what, b[0]);
    char want[128];
    snprintf(want, sizeof want, "%s of message version %d; this build speaks version %d",
             ds_msg_name(kind), DS_MSG_VERSION + 1, DS_MSG_VERSION);
    CHECK_MSG(strstr(e.msg, want) && strstr(e.msg, "same distsweep build"), "%s: '%s'", what,
              e.msg);
    /* the version is checked before anything else: one byte is enough */
    memset(&e, 0, sizeof e);
    CHECK_MSG(dec(b, 1, &e) == DS_EXIT_ERROR && strstr(e.msg, "message version"), "%s: '%s'",
              what, e.msg);
    b[0] = 0;
    CHECK_MSG(dec(b, n, &e) == DS_EXIT_ERROR, "%s: version 0 accepted", what);
    b[0] = DS_MSG_VERSION;
    /* every other kind byte */
    for (int k = 0; k < 256; k++) {
        if (k == kind) continue;
        b[1] = (unsigned char)k;
        memset(&e, 0, sizeof e);
        int rc = dec(b, n, &e);
        CHECK_MSG(rc == DS_EXIT_ERROR, "%s: kind byte %d accepted", what, k);
        if (k == DS_MSG_RESULT)
            CHECK_MSG(strstr(e.msg, "wrong tag") && strstr(e.msg, "RESULT"), "%s: '%s'", what,
                      e.msg);
    }
    b[1] = (unsigned char)kind;
    CHECK_MSG(dec(b, n, &e) == 0, "%s: restored message refused", what);
    free(b);
}


static void test_empty(void) {
    unsigned char b[8];
    memset(b, 0xee, sizeof b);
    CHECK(ds_msg_request_encode(b, 1) == DS_MSG_HEADER && b[0] == 0xee);
    CHECK(ds_msg_request_encode(b, sizeof b) == DS_MSG_HEADER);
    check_refusals("REQUEST", DS_MSG_REQUEST, dec_request, b, DS_MSG_HEADER);
    CHECK(ds_msg_stop_encode(b, sizeof b) == DS_MSG_HEADER);
    check_refusals("STOP", DS_MSG_STOP, dec_stop, b, DS_MSG_HEADER);
    /* a REQUEST is no STOP */
    ds_error e = {0};
    ds_msg_request_encode(b, sizeof b);
    CHECK(ds_msg_stop_decode(b, DS_MSG_HEADER, &e) == DS_EXIT_ERROR && strstr(e.msg, "STOP"));
}

static unsigned char *encode_assign(const ds_msg_assign *a, int group, size_t *n) {
    size_t need = group ? ds_msg_gassign_encode(a, NULL, 0) : ds_msg_assign_encode(a, NULL, 0);
    unsigned char *b = calloc(need + 16, 1);
    size_t got = group ? ds_msg_gassign_encode(a, b, need) : ds_msg_assign_encode(a, b, need);
    CHECK(got == need);
    *n = need;
    return b;
}

/* Decodes b as a (G)ASSIGN and compares it with want. */
static void check_assign_equal(const unsigned char *b, size_t n, int group,
                               const ds_msg_assign *want) {
    ds_msg_assign a;
    ds_error e = {0};
    int rc = group ? ds_msg_gassign_decode(b, n, &a, &e) : ds_msg_assign_decode(b, n, &a, &e);
    CHECK_MSG(rc == 0, "decode: %s", e.msg);
    if (rc) return;
    CHECK(a.scale == want->scale && a.R == want->R && a.pack_id == want->pack_id &&
          a.k == want->k);
    CHECK(!memcmp(a.seeds, want->seeds, sizeof *a.seeds * (size_t)a.R));
    if (group) CHECK(a.ranks && !memcmp(a.ranks, want->ranks, sizeof *a.ranks * (size_t)a.k));
    else CHECK(a.ranks == NULL);
    ds_msg_assign_free(&a);
}

/* The byte offset of field i (int32 scale, R, pack_id, k, ranks[0..]) of a (G)ASSIGN. */
static size_t field(int i) { return DS_MSG_HEADER + 4 * (size_t)i; }

/* Overwrites an int32 field of a copy of b and expects the decoder to refuse it. */
static void check_bad_field(const unsigned char *b, size_t n, int group, int i, int32_t v,
                            const char *want) {
    unsigned char *c = malloc(n);
    memcpy(c, b, n);
    memcpy(c + field(i), &v, 4);
    ds_error e = {0};
    int rc = group ? dec_gassign(c, n, &e) : dec_assign(c, n, &e);
    CHECK_MSG(rc == DS_EXIT_ERROR, "%s field %d = %d accepted", group ? "GASSIGN" : "ASSIGN", i,
              (int)v);
    CHECK_MSG(strstr(e.msg, group ? "GASSIGN" : "ASSIGN") && strstr(e.msg, want),
              "field %d = %d: '%s' (want '%s')", i, (int)v, e.msg, want);
    free(c);
}

static void test_assign(void) {
    int64_t seeds[5] = {100, 101, 102, 7000000000LL, -3};
    int32_t ranks[3] = {2, 5, 9};
    ds_msg_assign a = {.scale = 3, .R = 5, .pack_id = 41, .k = 1, .seeds = seeds};
    size_t n;
    unsigned char *b = encode_assign(&a, 0, &n);
    CHECK(n == DS_MSG_HEADER + 12 + 8 * 5);
    CHECK(b[0] == DS_MSG_VERSION && b[1] == DS_MSG_ASSIGN);
    check_assign_equal(b, n, 0, &a);
    check_refusals("ASSIGN", DS_MSG_ASSIGN, dec_assign, b, n);
    check_bad_field(b, n, 0, 1, 0, "0 seeds");
    check_bad_field(b, n, 0, 1, -1, "-1 seeds");
    check_bad_field(b, n, 0, 1, DS_MSG_MAX_R + 1, "seeds");
    check_bad_field(b, n, 0, 1, 4, "counts make");    /* R disagrees with the length: too long */
    check_bad_field(b, n, 0, 1, 6, "truncated");      /* too short */
    check_bad_field(b, n, 0, 0, -1, "negative");
    check_bad_field(b, n, 0, 2, -5, "negative");
    /* an ASSIGN is not a GASSIGN */
    ds_error e = {0};
    CHECK(dec_gassign(b, n, &e) == DS_EXIT_ERROR && strstr(e.msg, "GASSIGN"));
    free(b);

    /* R = 1 and the largest scale and pack id round-trip too */
    ds_msg_assign one = {.scale = INT32_MAX, .R = 1, .pack_id = INT32_MAX, .k = 1, .seeds = seeds + 3};
    b = encode_assign(&one, 0, &n);
    check_assign_equal(b, n, 0, &one);
    free(b);

    ds_msg_assign g = {.scale = 0, .R = 5, .pack_id = 7, .k = 3, .ranks = ranks, .seeds = seeds};
    b = encode_assign(&g, 1, &n);
    CHECK(n == DS_MSG_HEADER + 16 + 4 * 3 + 8 * 5);
    CHECK(b[1] == DS_MSG_GASSIGN);
    check_assign_equal(b, n, 1, &g);
    check_refusals("GASSIGN", DS_MSG_GASSIGN, dec_gassign, b, n);
    check_bad_field(b, n, 1, 3, 1, "group of 1 ranks");
    check_bad_field(b, n, 1, 3, 0, "group of 0 ranks");
    check_bad_field(b, n, 1, 3, DS_MSG_MAX_K + 1, "ranks (2..");
    check_bad_field(b, n, 1, 3, 2, "counts make");
    check_bad_field(b, n, 1, 3, 4, "truncated");
    check_bad_field(b, n, 1, 1, 0, "0 seeds");
    check_bad_field(b, n, 1, 4, 0, "rank #0 is 0");     /* rank 0 is never a member */
    check_bad_field(b, n, 1, 4, -2, "rank #0 is -2");
    check_bad_field(b, n, 1, 5, 2, "rank #1 is 2");     /* not ascending: 2, 2, 9 */
    check_bad_field(b, n, 1, 6, 4, "rank #2 is 4");     /* 2, 5, 4 */
    CHECK(dec_assign(b, n, &e) == DS_EXIT_ERROR && strstr(e.msg, "an ASSIGN whose kind"));
    free(b);
}

static void test_progress(void) {
    ds_msg_progress m = {.step = 123456789012LL, .loss = 2.5f}, d;
    unsigned char b[64];
    size_t n = ds_msg_progress_encode(&m, b, sizeof b);
    CHECK(n == DS_MSG_HEADER + 12 && ds_msg_progress_encode(&m, NULL, 0) == n);
    ds_error e = {0};
    CHECK(ds_msg_progress_decode(b, n, &d, &e) == 0 && d.step == m.step && d.loss == m.loss);
    check_refusals("PROGRESS", DS_MSG_PROGRESS, dec_progress, b, n);
    ds_msg_progress nan_loss = {.step = 0, .loss = NAN};
    n = ds_msg_progress_encode(&nan_loss, b, sizeof b);
    CHECK(ds_msg_progress_decode(b, n, &d, &e) == 0 && isnan(d.loss) && d.step == 0);
}

static void test_result(void) {
    float curve[4] = {3.0f, 2.0f, 1.5f, 1.25f};
    ds_record rec;
    memset(&rec, 0, sizeof rec);
    rec.scale = 2, rec.attempts = 1, rec.rank = 3, rec.n_len = 2;
    rec.r.seed = 1234, rec.r.status = DS_RUN_DONE, rec.r.steps_done = 500, rec.r.wall_s = 12.5;
    rec.r.final_loss = 0.75f, rec.r.id_em = 0.5f, rec.r.n_curve = 4, rec.r.curve = curve;
    for (int l = 0; l < 2; l++)
        for (int m = 0; m < DS_N_METRICS; m++) rec.r.metrics[l][m] = (float)(l * 10 + m);
    size_t n = ds_msg_result_encode(&rec, NULL, 0);
    CHECK(n == DS_MSG_HEADER + ds_record_size(&rec));
    unsigned char *b = calloc(n + 1, 1);
    CHECK(ds_msg_result_encode(&rec, b, n) == n);
    /* the payload after the header is schema.h's, byte for byte */
    unsigned char *raw = malloc(ds_record_size(&rec));
    ds_record_encode(&rec, raw);
    CHECK(!memcmp(b + DS_MSG_HEADER, raw, ds_record_size(&rec)));
    free(raw);
    ds_record d;
    ds_error e = {0};
    CHECK_MSG(ds_msg_result_decode(b, n, &d, &e) == 0, "%s", e.msg);
    CHECK(d.scale == 2 && d.rank == 3 && d.n_len == 2 && d.r.seed == 1234 && d.r.steps_done == 500 &&
          d.r.status == DS_RUN_DONE && d.r.wall_s == 12.5 && d.r.final_loss == 0.75f &&
          d.r.n_curve == 4 && d.r.curve && !memcmp(d.r.curve, curve, sizeof curve) &&
          d.r.metrics[1][DS_M_LOSS] == (float)(10 + DS_M_LOSS) && isnan(d.r.metrics[2][0]));
    ds_record_free(&d);
    check_refusals("RESULT", DS_MSG_RESULT, dec_result, b, n);
    /* n_len out of range inside the record: the first int32 fields are scale,
     * status, attempts, rank, n_len */
    int32_t bad = DS_MAX_EVAL_LENGTHS + 1;
    memcpy(b + DS_MSG_HEADER + 16, &bad, 4);
    CHECK(dec_result(b, n, &e) == DS_EXIT_ERROR && strstr(e.msg, "RESULT"));
    free(b);
}

/* Would the decoder of the record layout before the per-item trailer (the
 * trajectory trailer only, as src/schema.c decoded it) accept these n bytes?
 * fixed = the bytes before any trailer. */
static int old_layout_accepts(const unsigned char *p, size_t n, size_t fixed) {
    if (n == fixed) return 1;
    int32_t nt;
    if (n < fixed + 4) return 0;
    memcpy(&nt, p + fixed, 4);
    if (nt <= 0 || (size_t)nt > (n - fixed - 4) / (4 * DS_N_METRICS)) return 0;
    return fixed + 4 + 4 * (size_t)nt * DS_N_METRICS == n;
}

/* The per-item trailer (evaluation sets): a round trip with and without a
 * trajectory before it; a record without it is the old bytes; the old
 * layout's decoder refuses one with it; malformed trailers are refused. */
static void test_result_items(void) {
    int8_t chosen[7] = {0, 3, -1, 2, 1, 1, 0};
    float ll[7] = {-1.5f, -0.25f, NAN, -3.0f, -2.0f, -0.125f, -7.5f};
    float traj[2 * DS_N_METRICS];
    for (int k = 0; k < 2 * DS_N_METRICS; k++) traj[k] = (float)k;
    for (int with_traj = 0; with_traj < 2; with_traj++) {
        ds_record rec;
        memset(&rec, 0, sizeof rec);
        rec.scale = 1, rec.attempts = 1, rec.rank = 2, rec.n_len = 2;
        rec.r.seed = 7, rec.r.status = DS_RUN_DONE, rec.r.steps_done = 60;
        if (with_traj) rec.r.n_traj = 2, rec.r.traj = traj;
        size_t fixed = ds_record_size(&rec) - (with_traj ? 4 + sizeof traj : 0);
        size_t plain = ds_record_size(&rec);
        unsigned char *before = malloc(plain);
        ds_record_encode(&rec, before);
        rec.r.n_item_sets = 2, rec.r.n_items[0] = 4, rec.r.n_items[1] = 3;
        rec.r.chosen = chosen, rec.r.ll_correct = ll;
        size_t n = ds_record_size(&rec);
        CHECK(n == plain + 8 + 2 * 4 + 7 * 5);
        unsigned char *b = malloc(n + 1);
        CHECK(ds_record_encode(&rec, b) == n);
        CHECK_MSG(!memcmp(b, before, plain), "with_traj %d: the bytes before the trailer changed", with_traj);
        CHECK_MSG(!old_layout_accepts(b, n, fixed), "with_traj %d: the old layout accepts items", with_traj);
        CHECK(old_layout_accepts(before, plain, fixed));
        ds_record d;
        CHECK(ds_record_decode(b, n, &d) == 0);
        CHECK(d.r.n_item_sets == 2 && d.r.n_items[0] == 4 && d.r.n_items[1] == 3 && d.r.chosen &&
              !memcmp(d.r.chosen, chosen, 7) && d.r.ll_correct && !memcmp(d.r.ll_correct, ll, sizeof ll) &&
              d.r.n_traj == rec.r.n_traj && (!with_traj || !memcmp(d.r.traj, traj, sizeof traj)));
        ds_record_free(&d);
        CHECK(ds_record_decode(before, plain, &d) == 0 && d.r.n_item_sets == 0 && !d.r.chosen);
        ds_record_free(&d);
        /* cut inside the trailer, one byte too many */
        for (size_t m = plain + 1; m < n; m++)
            CHECK_MSG(ds_record_decode(b, m, &d) == -1, "with_traj %d: %zu of %zu bytes accepted", with_traj, m, n);
        b[n] = 0;
        CHECK(ds_record_decode(b, n + 1, &d) == -1);
        /* n_sets other than n_len; a set of no items; another tag */
        int32_t v = 1;
        memcpy(b + plain + 4, &v, 4);
        CHECK(ds_record_decode(b, n, &d) == -1);
        v = 2;
        memcpy(b + plain + 4, &v, 4);
        int32_t z = 0, four = 4;
        memcpy(b + plain + 8, &z, 4);
        CHECK(ds_record_decode(b, n, &d) == -1);
        memcpy(b + plain + 8, &four, 4);
        int32_t tag = -5;
        memcpy(b + plain, &tag, 4);
        CHECK(ds_record_decode(b, n, &d) == -1);
        tag = DS_ITEMS_TAG;
        memcpy(b + plain, &tag, 4);
        CHECK(ds_record_decode(b, n, &d) == 0);
        ds_record_free(&d);
        free(b);
        free(before);
    }
}

static void test_failed(void) {
    ds_msg_failed m, d;
    ds_msg_failed_set(&m, DS_MSG_FAIL_STORAGE, "x.ckpt: cannot write: no space left on device");
    unsigned char b[2 * DS_MSG_TEXT_MAX];
    size_t n = ds_msg_failed_encode(&m, b, sizeof b);
    CHECK(n == DS_MSG_HEADER + 8 + strlen(m.text));
    ds_error e = {0};
    CHECK(ds_msg_failed_decode(b, n, &d, &e) == 0 && d.kind == DS_MSG_FAIL_STORAGE &&
          !strcmp(d.text, m.text));
    check_refusals("FAILED", DS_MSG_FAILED, dec_failed, b, n);
    /* an empty text */
    ds_msg_failed_set(&m, DS_MSG_FAIL_INTERRUPTED, "");
    n = ds_msg_failed_encode(&m, b, sizeof b);
    CHECK(n == DS_MSG_HEADER + 8);
    CHECK(ds_msg_failed_decode(b, n, &d, &e) == 0 && d.kind == DS_MSG_FAIL_INTERRUPTED &&
          d.text[0] == 0);
    check_refusals("FAILED (empty)", DS_MSG_FAILED, dec_failed, b, n);
    /* a long text is cut to DS_MSG_TEXT_MAX - 1 bytes by the sender */
    char lng[3000];
    memset(lng, 'a', sizeof lng - 1);
    lng[sizeof lng - 1] = 0;
    ds_msg_failed_set(&m, DS_MSG_FAIL_ERROR, lng);
    n = ds_msg_failed_encode(&m, b, sizeof b);
    CHECK(n == DS_MSG_HEADER + 8 + DS_MSG_TEXT_MAX - 1);
    CHECK(ds_msg_failed_decode(b, n, &d, &e) == 0 && strlen(d.text) == DS_MSG_TEXT_MAX - 1);
    /* kind out of range */
    ds_msg_failed_set(&m, DS_MSG_FAIL_ERROR, "boom");
    n = ds_msg_failed_encode(&m, b, sizeof b);
    int32_t k = DS_MSG_N_FAIL;
    memcpy(b + DS_MSG_HEADER, &k, 4);
    char want[64];
    snprintf(want, sizeof want, "FAILED of kind %d", DS_MSG_N_FAIL);
    CHECK(ds_msg_failed_decode(b, n, &d, &e) == DS_EXIT_ERROR && strstr(e.msg, want));
    /* every kind in range round-trips, out of memory included */
    for (int kind = 0; kind < DS_MSG_N_FAIL; kind++) {
        ds_msg_failed_set(&m, kind, "cannot allocate 1.0 GiB of activations");
        n = ds_msg_failed_encode(&m, b, sizeof b);
        CHECK(ds_msg_failed_decode(b, n, &d, &e) == 0 && d.kind == kind);
    }
    ds_msg_failed_set(&m, DS_MSG_FAIL_ERROR, "boom");
    n = ds_msg_failed_encode(&m, b, sizeof b);
    k = -1;
    memcpy(b + DS_MSG_HEADER, &k, 4);
    CHECK(ds_msg_failed_decode(b, n, &d, &e) == DS_EXIT_ERROR);
    k = DS_MSG_FAIL_ERROR;
    memcpy(b + DS_MSG_HEADER, &k, 4);
    /* a length that disagrees with the bytes, and one over the limit */
    uint32_t len = 3;
    memcpy(b + DS_MSG_HEADER + 4, &len, 4);
    CHECK(ds_msg_failed_decode(b, n, &d, &e) == DS_EXIT_ERROR && strstr(e.msg, "counts make"));
    len = DS_MSG_TEXT_MAX;
    memcpy(b + DS_MSG_HEADER + 4, &len, 4);
    CHECK(ds_msg_failed_decode(b, sizeof b, &d, &e) == DS_EXIT_ERROR && strstr(e.msg, "text of"));
    len = 4;
    memcpy(b + DS_MSG_HEADER + 4, &len, 4);
    CHECK(ds_msg_failed_decode(b, n, &d, &e) == 0 && !strcmp(d.text, "boom"));
}

static void test_stats(void) {
    ds_msg_stats m = {.busy_s = 1234.5, .idle_s = 0.25}, d;
    unsigned char b[64];
    size_t n = ds_msg_stats_encode(&m, b, sizeof b);
    CHECK(n == DS_MSG_HEADER + 16 && ds_msg_stats_encode(&m, b, 3) == n);
    ds_error e = {0};
    CHECK(ds_msg_stats_decode(b, n, &d, &e) == 0 && d.busy_s == m.busy_s && d.idle_s == m.idle_s);
    check_refusals("STATS", DS_MSG_STATS, dec_stats, b, n);
}

int main(void) {
    CHECK(DS_MSG_GASSIGN <= 255); /* every tag fits the kind byte */
    CHECK(!strcmp(ds_msg_name(DS_MSG_GASSIGN), "GASSIGN") && !strcmp(ds_msg_name(7), "unknown"));
    test_empty();
    test_assign();
    test_progress();
    test_result();
    test_result_items();
    test_failed();
    test_stats();
    TEST_MAIN_END();
}
