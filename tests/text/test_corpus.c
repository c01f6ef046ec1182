/* Unit tests of src/corpus.c and the corpus task: the keyed bijections
 * (exhaustive for small sizes), the apportionment and the mixture (exact per
 * block), sampling without replacement per epoch, rows as a pure function of
 * (seed, row) checked against a plain reference, shards spanning rows, and
 * the validation of crafted bad shards and sidecars. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corpus.h"
#include "sweep.h"
#include "tasks.h"
#include "../test.h"

static char g_dir[256];

/* Writes a shard (or a mask when magic is the mask's) with the given header
 * words and n elements of width tb from vals (NULL: zeros); extra: bytes cut
 * (negative) or added at the end. */
static void write_file(const char *name, int magic, int version, int count, int tb,
                       const uint32_t *vals, int n, int extra) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    int32_t h[256] = {0};
    h[0] = magic, h[1] = version, h[2] = count;
    fwrite(h, 4, 256, f); /* the test runs on little-endian machines */
    size_t bytes = (size_t)n * (size_t)tb;
    uint8_t *buf = calloc(bytes + 64, 1);
    for (int i = 0; i < n && vals; i++) {
        if (tb == 1) buf[i] = (uint8_t)vals[i];
        else if (tb == 2) { uint16_t v = (uint16_t)vals[i]; memcpy(buf + 2 * i, &v, 2); }
        else memcpy(buf + 4 * i, &vals[i], 4);
    }
    fwrite(buf, 1, (size_t)((long)bytes + extra), f);
    free(buf);
    fclose(f);
}

static void test_perm_bijective(void) {
    int bad = 0;
    for (uint64_t n = 1; n <= 300 && !bad; n++) {
        for (uint64_t seed = 0; seed < 3; seed++) {
            uint8_t *seen = calloc(n, 1);
            for (uint64_t x = 0; x < n; x++) {
                uint64_t y = ds_corpus_perm(n, seed, (uint32_t)(seed + 1), n * 7 + seed, x);
                if (y >= n || seen[y]) bad++;
                else seen[y] = 1;
            }
            free(seen);
        }
    }
    CHECK_MSG(!bad, "ds_corpus_perm is not a bijection of [0, n) for some n <= 300");
    /* the block size, and a few larger sizes */
    uint64_t sizes[] = {1024, 1025, 4096, 65537};
    for (int i = 0; i < 4; i++) {
        uint64_t n = sizes[i];
        uint8_t *seen = calloc(n, 1);
        int ok = 1;
        for (uint64_t x = 0; x < n; x++) {
            uint64_t y = ds_corpus_perm(n, 12345, 0, 99, x);
            if (y >= n || seen[y]) ok = 0;
            else seen[y] = 1;
        }
        free(seen);
        CHECK_MSG(ok, "not a bijection of [0, %llu)", (unsigned long long)n);
    }
    /* keys matter: two seeds, two indices, two purposes give other orders */
    int same_seed = 1, same_index = 1, same_purpose = 1;
    for (uint64_t x = 0; x < 1024; x++) {
        uint64_t a = ds_corpus_perm(1024, 1, 0, 0, x);
        same_seed &= a == ds_corpus_perm(1024, 2, 0, 0, x);
        same_index &= a == ds_corpus_perm(1024, 1, 0, 1, x);
        same_purpose &= a == ds_corpus_perm(1024, 1, 1, 0, x);
    }
    CHECK(!same_seed && !same_index && !same_purpose);
}

static void test_apportion(void) {
    int s[DS_MAX_SOURCES];
    double w1[] = {0.9, 0.1};
    ds_corpus_apportion(2, w1, s);
    CHECK(s[0] == 922 && s[1] == 102); /* 921.6 and 102.4: the larger remainder gets the slot */
    double w2[] = {1.0 / 3, 1.0 / 3, 1.0 / 3};
    ds_corpus_apportion(3, w2, s);
    CHECK(s[0] == 342 && s[1] == 341 && s[2] == 341); /* ties: the earlier source */
    double w3[] = {0.05, 0.95};
    ds_corpus_apportion(2, w3, s);
    CHECK(s[0] == 51 && s[1] == 973); /* 51.2, 972.8 */
    double w4[] = {1.0};
    ds_corpus_apportion(1, w4, s);
    CHECK(s[0] == 1024);
}

/* The mixture: every block of 1024 rows holds exactly slots[k] rows of
 * source k, and each source's rows run through its chunks without
 * replacement inside an epoch (so chunk counts differ by at most one). */
static void test_mixture(void) {
    int slots[3] = {700, 300, 24};
    int64_t nch[3] = {5000, 7, 1};
    const int blocks = 6;
    int64_t *cnt7 = calloc(7, sizeof *cnt7);
    int exact = 1;
    for (uint64_t seed = 0; seed < 2; seed++) {
        memset(cnt7, 0, 7 * sizeof *cnt7);
        for (int b = 0; b < blocks; b++) {
            int per[3] = {0, 0, 0};
            for (int s = 0; s < DS_CORPUS_BLOCK; s++) {
                int k;
                int64_t c;
                ds_corpus_locate(3, slots, nch, seed, (uint64_t)b * DS_CORPUS_BLOCK + s, &k, &c);
                per[k]++;
                CHECK(c >= 0 && c < nch[k]);
                if (k == 1) cnt7[c]++;
            }
            for (int k = 0; k < 3; k++) exact &= per[k] == slots[k];
        }
        int64_t lo = cnt7[0], hi = cnt7[0];
        for (int c = 0; c < 7; c++) lo = cnt7[c] < lo ? cnt7[c] : lo, hi = cnt7[c] > hi ? cnt7[c] : hi;
        /* 6 blocks x 300 rows = 1800 = 257 epochs of 7 + 1: counts 257 and 258 */
        CHECK_MSG(hi - lo <= 1 && lo == 257, "chunk counts %lld..%lld", (long long)lo, (long long)hi);
    }
    CHECK_MSG(exact, "a block's rows per source differ from its slots");
    free(cnt7);
    /* one epoch of the 7-chunk source is a permutation of its chunks: the
     * rows with j = 0..6 (found by scanning block 0 in slot order of u) */
    int64_t first[7];
    int n = 0;
    for (int s = 0; s < DS_CORPUS_BLOCK && n < 300; s++) {
        int k;
        int64_t c;
        ds_corpus_locate(3, slots, nch, 5, (uint64_t)s, &k, &c);
        uint64_t u = ds_corpus_perm(DS_CORPUS_BLOCK, 5, 0, 0, (uint64_t)s);
        if (k == 1 && u - 700 < 7) first[u - 700] = c, n++;
    }
    CHECK(n == 7);
    int seen[7] = {0};
    for (int i = 0; i < 7; i++) seen[first[i]]++;
    for (int i = 0; i < 7; i++) CHECK(seen[i] == 1);
}

/* A two-source corpus in g_dir: a.bin (uint16, ids = i % 500, two shards of
 * 1000 and 37 tokens) and b (uint32, one shard of 300 tokens, ids 1000 + i,
 * with a mask marking every third token). */
static ds_sweep *corpus_sweep(const char *extra_task, int context, ds_error *err, int *rc) {
    char text[4096], name[512];
    snprintf(text, sizeof text,
             "task:\n  kind: corpus\n  vocab: 2000\n  eot: 0\n%s  sources:\n"
             "    - {name: a, path: \"a_*.bin\", weight: 0.75}\n"
             "    - {name: b, path: \"b_000000.bin\", weight: 0.25, loss: answer}\n"
             "model: {head_dim: 16}\n"
             "train: {steps: 10, batch: 4, context: %d, lr: 1.0e-3, warmup: 1, log_every: 5}\n"
             "seeds: {start: 0, count: 2}\n"
             "scales:\n  - {family: depth, width: 32, depth: [1]}\n",
             extra_task, context);
    snprintf(name, sizeof name, "%s/sweep.yaml", g_dir);
    ds_sweep *s = NULL;
    *rc = ds_sweep_load_text(name, text, &s, err);
    return s;
}

static void write_good(void) {
    uint32_t *v = malloc(sizeof *v * 1100);
    for (int i = 0; i < 1037; i++) v[i] = (uint32_t)(i % 500);
    write_file("a_000000.bin", DS_CORPUS_MAGIC_U16, 1, 1000, 2, v, 1000, 0);
    write_file("a_000001.bin", DS_CORPUS_MAGIC_U16, 1, 37, 2, v + 1000, 37, 0);
    for (int i = 0; i < 300; i++) v[i] = 1000 + (uint32_t)i;
    write_file("b_000000.bin", DS_CORPUS_MAGIC_U32, 7, 300, 4, v, 300, 0);
    for (int i = 0; i < 300; i++) v[i] = i % 3 == 0;
    write_file("b_000000.mask", DS_CORPUS_MAGIC_MASK, 1, 300, 1, v, 300, 0);
    free(v);
}

static void test_rows(void) {
    write_good();
    ds_error err = {0};
    int rc;
    ds_sweep *s = corpus_sweep("", 17, &err, &rc);
    CHECK_MSG(rc == 0, "load: %s", err.msg);
    if (rc) return;
    CHECK(s->task.corpus == NULL); /* loading opens nothing */
    CHECK(ds_task_get(&s->task)->vocab_total(&s->task) == 2000);
    rc = ds_sweep_attach_data(s, &err);
    CHECK_MSG(rc == 0, "attach: %s", err.msg);
    if (rc) {
        ds_sweep_free(s);
        return;
    }
    CHECK(ds_sweep_attach_data(s, &err) == 0); /* again: nothing */
    ds_corpus_source_info ia = ds_corpus_source(s->task.corpus, 0), ib = ds_corpus_source(s->task.corpus, 1);
    CHECK(ia.n_shards == 2 && ia.n_tokens == 1037 && ia.n_chunks == 1036 / 16 && ia.token_bytes == 2);
    CHECK(ib.n_shards == 1 && ib.n_tokens == 300 && ib.n_chunks == 299 / 16 && ib.token_bytes == 4);
    CHECK(s->task.sources[0].slots == 768 && s->task.sources[1].slots == 256);

    const ds_task_ops *op = ds_task_get(&s->task);
    int32_t tok[17], tok2[17];
    uint8_t mask[17], mask2[17];
    int64_t nch[2] = {ia.n_chunks, ib.n_chunks};
    int slots[2] = {768, 256}, ok = 1, differ = 0, from_b = 0;
    for (uint64_t row = 0; row < 3000; row++) {
        op->train_row(&s->task, 7, row, 17, tok, mask);
        op->train_row(&s->task, 7, row, 17, tok2, mask2);
        ok &= !memcmp(tok, tok2, sizeof tok) && !memcmp(mask, mask2, sizeof mask);
        op->train_row(&s->task, 8, row, 17, tok2, mask2);
        differ |= memcmp(tok, tok2, sizeof tok) != 0;
        /* the reference: the chunk's tokens, from the values written */
        int k;
        int64_t c;
        ds_corpus_locate(2, slots, nch, 7, row, &k, &c);
        for (int i = 0; i < 17; i++) {
            int64_t g = c * 16 + i;
            int32_t want = k == 0 ? (int32_t)(g % 500) : (int32_t)(1000 + g);
            uint8_t wm = i == 0 ? 0 : k == 0 ? 1 : (g % 3 == 0);
            ok &= tok[i] == want && mask[i] == wm;
        }
        from_b += k;
    }
    CHECK_MSG(ok, "a row differs from its reference or between two calls");
    CHECK(differ);
    /* 3000 rows = 2 whole blocks (512 rows of b) + 952 rows of block 2 */
    CHECK(from_b >= 512 && from_b <= 512 + 256);
    /* (chunk 62 of a, tokens 992..1008, spans its two shards: among the rows above) */
    ds_sweep_free(s);

    /* a wrong context is refused by the row function only through the assert;
     * a corpus too short for the context is refused at attach */
    s = corpus_sweep("", 400, &err, &rc);
    CHECK(rc == 0);
    rc = ds_sweep_attach_data(s, &err);
    CHECK_MSG(rc == DS_EXIT_USAGE && strstr(err.msg, "fewer than one row"), "%s", err.msg);
    ds_sweep_free(s);

    /* the canonical text names the sources; synthetic attach is a no-op */
    s = corpus_sweep("", 17, &err, &rc);
    char *canon = ds_sweep_canonical(s);
    CHECK(strstr(canon, "task.sources[1]: name b, path \"b_000000.bin\", weight 0.25, loss answer\n"));
    CHECK(strstr(canon, "task.vocab: 2000\ntask.eot: 0\n"));
    CHECK(!strstr(canon, "eval_lengths"));
    free(canon);
    ds_sweep_free(s);
}

/* Attaching a corpus whose files were damaged names the file and its problem. */
static void expect_attach_error(const char *what, const char *needle) {
    ds_error err = {0};
    int rc;
    ds_sweep *s = corpus_sweep("", 17, &err, &rc);
    CHECK(rc == 0);
    rc = ds_sweep_attach_data(s, &err);
    CHECK_MSG(rc == DS_EXIT_USAGE && strstr(err.msg, needle), "%s: rc %d, message '%s' lacks '%s'",
              what, rc, err.msg, needle);
    ds_sweep_free(s);
}

static void test_validation(void) {
    uint32_t v[400];
    for (int i = 0; i < 400; i++) v[i] = (uint32_t)i;
    char p[600];

    write_good();
    write_file("a_000001.bin", DS_CORPUS_MAGIC_U16, 1, 37, 2, v, 37, -3);
    expect_attach_error("truncated", "a_000001.bin: truncated");

    write_good();
    write_file("a_000001.bin", DS_CORPUS_MAGIC_U16, 1, 37, 2, v, 37, 5);
    expect_attach_error("trailing", "a_000001.bin: trailing bytes");

    write_good();
    write_file("a_000000.bin", 12345, 1, 37, 2, v, 37, 0);
    expect_attach_error("magic", "a_000000.bin: not an llm.c token shard: magic 12345");

    write_good();
    write_file("a_000000.bin", DS_CORPUS_MAGIC_U16, 7, 37, 2, v, 37, 0);
    expect_attach_error("version", "a_000000.bin: shard version 7 with magic 20240520");

    write_good();
    write_file("b_000000.bin", DS_CORPUS_MAGIC_U32, 1, 300, 4, v, 300, 0);
    expect_attach_error("version32", "b_000000.bin: shard version 1 with magic 20240801");

    write_good();
    v[20] = 2000;
    write_file("b_000000.bin", DS_CORPUS_MAGIC_U32, 7, 300, 4, v, 300, 0);
    v[20] = 20;
    expect_attach_error("vocab", "b_000000.bin: token 20 is id 2000, not below task.vocab (2000)");

    write_good();
    snprintf(p, sizeof p, "%s/b_000000.mask", g_dir);
    unlink(p);
    expect_attach_error("mask missing", "needs the answer-mask sidecar");

    write_good();
    write_file("b_000000.mask", DS_CORPUS_MAGIC_MASK, 1, 299, 1, v, 299, 0);
    expect_attach_error("mask count", "b_000000.mask: the answer mask counts 299 tokens");

    write_good();
    write_file("b_000000.mask", DS_CORPUS_MAGIC_U16, 1, 300, 1, v, 300, 0);
    expect_attach_error("mask magic", "b_000000.mask: not an answer-mask file");

    write_good();
    snprintf(p, sizeof p, "%s/b_000000.bin", g_dir);
    unlink(p);
    expect_attach_error("missing", "b_000000.bin: source 'b': no such file");

    write_good();
    snprintf(p, sizeof p, "%s/a_000000.bin", g_dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/a_000001.bin", g_dir);
    unlink(p);
    expect_attach_error("glob", "source 'a': no such file (the pattern matches nothing)");

    /* header reader */
    write_good();
    int64_t n;
    int tb;
    ds_error err = {0};
    snprintf(p, sizeof p, "%s/b_000000.bin", g_dir);
    CHECK(ds_corpus_read_header(p, 0, &n, &tb, &err) == 0 && n == 300 && tb == 4);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/ds_corpus_test.XXXXXX");
    CHECK(mkdtemp(g_dir) != NULL);
    test_perm_bijective();
    test_apportion();
    test_mixture();
    test_rows();
    test_validation();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    TEST_MAIN_END();
}
