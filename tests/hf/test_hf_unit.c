/* test_hf_unit: the pieces of model.init that need no Hugging Face files
 * (ctest hf.unit): F16/BF16 -> F32 (every F16 value against its value
 * computed in double), the query_key_value de-interleave as the inverse of
 * cmd_export.c's permutation, the model.init keys and their canonical
 * text, the reinit mask and the weight/data seeds, and safetensors headers
 * that ds_st_read must refuse. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfmodel.h"
#include "safetensors.h"
#include "sweep.h"
#include "../test.h"

/* The value of binary16 bits h, from the definition. */
static double f16_value(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e ? ldexp(1.0 + m / 1024.0, e - 15) : ldexp(m, -24);
    return s ? -v : v;
}

/* ds_st_read on hand-written headers: one good file, and headers that are
 * not the format's JSON (a field or metadata key that is not a string, an
 * unterminated object, offsets that disagree with the shape, an unknown
 * dtype), each refused with DS_EXIT_ERROR. Under valgrind (or MSan) this
 * also checks that no refusal reads an unset field name: before jstr
 * cleared its output, `{"w":{7:...` compared an uninitialised field[]. */
static int st_try(const char *header, size_t data_bytes, ds_st_file *f, ds_error *err) {
    char path[] = "/tmp/ds_test_hf_st_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return -1;
    FILE *fp = fdopen(fd, "wb");
    uint64_t h = strlen(header);
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(h >> (8 * i));
    fwrite(le, 1, 8, fp);
    fwrite(header, 1, h, fp);
    for (size_t i = 0; i < data_bytes; i++) fputc(i == 3 ? 0x3f : i == 2 ? 0x80 : 0, fp); /* 1.0f */
    fclose(fp);
    int rc = ds_st_read(path, 0, f, err);
    remove(path);
    return rc;
}

static void test_st_headers(void) {
    ds_st_file f;
    ds_error err = {0};
    int rc = st_try("{\"__metadata__\":{\"k\":\"a\\u0041\"},\"w\":{\"dtype\":\"F32\",\"shape\":[1],"
                    "\"data_offsets\":[0,4]}}", 4, &f, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (!rc) {
        int i = ds_st_find(&f, "w");
        float v = 0;
        CHECK(f.n == 1 && i == 0 && ds_st_to_f32(&f, i, &v) == 0 && v == 1.0f);
        CHECK(ds_st_meta(&f, "k") && !strcmp(ds_st_meta(&f, "k"), "aA"));
        ds_st_free(&f);
    }
    static const char *const bad[] = {
        "{\"w\":{7:\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"__metadata__\":{5:\"x\"},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{7:{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}",
        "{\"w\":{\"dtype\":\"X9\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\\",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        memset(&err, 0, sizeof err);
        rc = st_try(bad[k], 4, &f, &err);
        CHECK_MSG(rc == DS_EXIT_ERROR && err.msg[0], "header %zu: rc %d", k, rc);
        if (!rc) ds_st_free(&f);
    }
}

static void test_f16(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ds_st_f16_to_f32((uint16_t)h);
        int e = (h >> 10) & 0x1f, m = h & 0x3ff;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        if (e == 0x1f) {
            bad += m ? !isnan(f) : !(isinf(f) && (f < 0) == (h >> 15));
        } else {
            bad += (double)f != f16_value((uint16_t)h) || (bits >> 31) != (h >> 15); /* -0 too */
        }
    }
    CHECK_MSG(bad == 0, "%d F16 values converted wrongly", bad);
    CHECK(ds_st_f16_to_f32(0x3c00) == 1.0f);
    CHECK(ds_st_f16_to_f32(0xc000) == -2.0f);
    CHECK(ds_st_f16_to_f32(0x0001) == ldexpf(1.0f, -24)); /* smallest subnormal */
    CHECK(ds_st_f16_to_f32(0x7bff) == 65504.0f);
}

static void test_bf16(void) {
    CHECK(ds_st_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(ds_st_bf16_to_f32(0xc000) == -2.0f);
    CHECK(ds_st_bf16_to_f32(0x0001) == ldexpf(1.0f, -133));
    CHECK(isinf(ds_st_bf16_to_f32(0x7f80)) && isnan(ds_st_bf16_to_f32(0x7fc1)));
    /* every bf16 is the float with the same top 16 bits */
    int bad = 0;
    for (uint32_t b = 0; b < 65536; b++) {
        float f = ds_st_bf16_to_f32((uint16_t)b);
        uint32_t bits;
        memcpy(&bits, &f, 4);
        bad += bits != b << 16;
    }
    CHECK(bad == 0);
    CHECK(ds_st_dtype_size("F16") == 2 && ds_st_dtype_size("BF16") == 2 &&
          ds_st_dtype_size("F32") == 4 && ds_st_dtype_size("I64") == 8 &&
          ds_st_dtype_size("F33") == 0);
}

/* cmd_export.c's permutation: distsweep row (part, h, j) -> HF row (h, part, j). */
static void export_perm(const float *src, float *dst, int H, int hd, size_t cols) {
    size_t d = (size_t)H * hd;
    for (size_t part = 0; part < 3; part++)
        for (size_t h = 0; h < (size_t)H; h++)
            for (size_t j = 0; j < (size_t)hd; j++)
                memcpy(dst + ((h * 3 + part) * hd + j) * cols, src + (part * d + h * hd + j) * cols,
                       sizeof(float) * cols);
}

static void test_qkv(void) {
    /* H=2, hd=2, bias: HF [h0 q q, h0 k k, h0 v v, h1 q q, h1 k k, h1 v v] */
    const float hf[12] = {0, 1, 10, 11, 20, 21, 2, 3, 12, 13, 22, 23};
    const float want[12] = {0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23};
    float got[12];
    ds_hf_qkv_from_hf(hf, got, 2, 2, 1);
    CHECK(!memcmp(got, want, sizeof got));
    /* the inverse of export's permutation on a weight of 3 heads of 4, 12 columns */
    int H = 3, hd = 4, d = 12;
    size_t n = 3 * (size_t)d * d;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float)), *c = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) a[i] = (float)i;
    export_perm(a, b, H, hd, (size_t)d);
    ds_hf_qkv_from_hf(b, c, H, hd, (size_t)d);
    CHECK(!memcmp(a, c, n * sizeof(float)));
    CHECK(memcmp(a, b, n * sizeof(float))); /* it is a permutation, not the identity */
    free(a), free(b), free(c);
}

static const char *base_text =
    "task: {kind: count, vocab: 8, train_length: [1, 4], eval_lengths: [4, 6]}\n"
    "model:\n"
    "  init:\n"
    "    from: base\n"
    "    reinit: [{layer: -1, part: attention}, head, {layer: 0, part: block}]\n"
    "%s"
    "train: {steps: 10, batch: 2, context: 16, lr: 1.0e-3, warmup: 0, log_every: 5}\n"
    "seeds: {start: 3, count: 4}\n"
    "scales:\n  - {family: points, points: [{width: 32, depth: 2}]}\n";

static ds_sweep *load(const char *extra, const char *name, ds_error *err) {
    char text[2048];
    snprintf(text, sizeof text, base_text, extra);
    ds_sweep *s = NULL;
    if (ds_sweep_load_text(name, text, &s, err)) return NULL;
    return s;
}

static void test_sweep_keys(void) {
    ds_error err = {0};
    ds_sweep *s = load("    vary: weights\n", "dir/sub/s.yaml", &err);
    CHECK_MSG(s, "%s", err.msg);
    if (!s) return;
    const ds_init_spec *in = &s->model.init;
    CHECK(in->enabled && !in->attached && !strcmp(in->from, "base") && !strcmp(in->dir, "dir/sub/base"));
    CHECK(in->n_reinit == 3 && in->reinit[0].kind == DS_REINIT_ATTENTION && in->reinit[0].layer == -1 &&
          in->reinit[1].kind == DS_REINIT_HEAD && in->reinit[2].kind == DS_REINIT_BLOCK);
    CHECK(in->vary == DS_VARY_WEIGHTS);
    CHECK(s->model.head_dim == 1); /* config.json's, once attached */
    char *canon = ds_sweep_canonical(s);
    CHECK(strstr(canon, "model.head_dim: from config.json\n") != NULL);
    CHECK(strstr(canon, "model.init.from: base\nmodel.init.reinit: [layer -1 attention, head, "
                        "layer 0 block]\nmodel.init.vary: weights\n") != NULL);
    /* the same sweep elsewhere (a stored sweep loads under the result file's name) hashes alike */
    ds_sweep *t = load("    vary: weights\n", "/elsewhere/out.h5", &err);
    CHECK(t && t->yaml_hash == s->yaml_hash && !strcmp(t->model.init.dir, "/elsewhere/base"));
    /* weight and data seeds */
    CHECK(ds_hf_weight_seed(s, 5) == 5 && ds_hf_data_seed(s, 5) == 3);
    s->model.init.vary = DS_VARY_DATA;
    CHECK(ds_hf_weight_seed(s, 5) == 3 && ds_hf_data_seed(s, 5) == 5);
    s->model.init.vary = DS_VARY_BOTH;
    CHECK(ds_hf_weight_seed(s, 5) == 5 && ds_hf_data_seed(s, 5) == 5);
    /* the reinit mask: layer 1 attention, head, all of layer 0 */
    ds_model_config c = {.d = 32, .L = 2, .V = 12, .H = 2, .hd = 16};
    int nt = ds_model_tensors(&c, NULL);
    uint8_t keep[64];
    CHECK(nt == 28);
    ds_hf_keep_mask(in, &c, keep);
    for (int i = 0; i < nt; i++) {
        int l = i >= 1 && i < nt - 3 ? (i - 1) / 12 : -1, k = (i - 1) % 12;
        int re = (l == 0) || (l == 1 && k >= 2 && k <= 5) || i == nt - 1;
        CHECK_MSG(keep[i] == !re, "tensor %d", i);
    }
    /* the untie rule is in the text whenever the head is reinitialized */
    CHECK(strstr(canon, "model.init.vary: weights\nmodel.init.untie: the head is reinitialized, so a "
                        "tied base is untied (model.tie_embeddings false, the embeddings kept)\n") != NULL);
    /* the llama block's mask: layer 1 attention (qkv_w, qkv_b, attn_out_w), head, all of layer 0 */
    ds_model_config lc = {.d = 32, .L = 2, .V = 12, .H = 4, .hd = 8, .block = DS_BLOCK_LLAMA,
                          .K = 2, .F = 48, .qkv_bias = 1, .tie = 0};
    ds_param_tensor lpt[32];
    int lnt = ds_model_tensors(&lc, lpt);
    CHECK(lnt == 2 * 7 + 3);
    ds_hf_keep_mask(in, &lc, keep);
    for (int i = 0; i < lnt; i++) {
        const char *nm = lpt[i].name;
        int re = !strncmp(nm, "layers.0.", 9) || !strcmp(nm, "head_w") ||
                 !strcmp(nm, "layers.1.qkv_w") || !strcmp(nm, "layers.1.qkv_b") ||
                 !strcmp(nm, "layers.1.attn_out_w");
        CHECK_MSG(keep[i] == !re, "llama tensor %s", nm);
    }
    free(canon);
    ds_sweep_free(s);
    ds_sweep_free(t);

    /* with model.init and no model.block, the llama keys wait for config.json
     * (ds_hf_attach checks them: tests/hf/test_hf.py llama) */
    ds_sweep *k = load("  kv_heads: 2\n  tie_embeddings: false\n", "s.yaml", &err);
    CHECK_MSG(k && k->model.init.pos_kv_heads.line == 6 && k->model.init.pos_tie_embeddings.line == 7,
              "%s", err.msg);
    if (k) {
        char *kc = ds_sweep_canonical(k);
        CHECK(strstr(kc, "model.kv_heads: 2\nmodel.tie_embeddings: false\n") && !strstr(kc, "mlp_hidden"));
        free(kc);
    }
    ds_sweep_free(k);
    /* without model.init they are an error for a GPT-NeoX block, as before */
    k = NULL;
    CHECK(ds_sweep_load_text("s.yaml", "task: {kind: count, vocab: 8, train_length: [1, 4], eval_lengths: [4]}\n"
                             "model: {head_dim: 16, kv_heads: 1}\n"
                             "train: {steps: 10, batch: 2, context: 16, lr: 1.0e-3}\n"
                             "seeds: {start: 0, count: 1}\n"
                             "scales:\n  - {family: points, points: [{width: 32, depth: 1}]}\n",
                             &k, &err) == DS_EXIT_USAGE &&
          strstr(err.msg, "model.kv_heads applies to block llama only"));
    ds_sweep_free(k);

    /* bad keys: FILE:LINE:COL */
    static const struct {
        const char *extra, *want;
    } bad[] = {
        {"    vary: sometimes\n", "s.yaml:6:11: model.init.vary must be one of both, weights, data"},
        {"    reinit: [head, head]\n", "s.yaml:5:20: model.init.reinit[1] repeats model.init.reinit[0]"},
        {"    reinit: [{layer: 1, part: ffn}]\n", "s.yaml:5:31: model.init.reinit[].part must be one of attention, mlp, block"},
        {"    reinit: [tail]\n", "s.yaml:5:14: model.init.reinit[0] must be one of head, final_norm, embeddings"},
        {"    size: 3\n", "s.yaml:6:5: unknown key 'size' in model.init"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[2048];
        /* a reinit line replaces the base's */
        snprintf(text, sizeof text, base_text, bad[i].extra);
        if (strstr(bad[i].extra, "reinit")) {
            char *r = strstr(text, "    reinit: [{layer: -1");
            char *e = strchr(r, '\n');
            memmove(r, e + 1, strlen(e + 1) + 1);
        }
        ds_sweep *x = NULL;
        ds_error e2 = {0};
        int rc = ds_sweep_load_text("s.yaml", text, &x, &e2);
        CHECK_MSG(rc == DS_EXIT_USAGE && strstr(e2.msg, bad[i].want), "case %zu: got '%s'", i, e2.msg);
        ds_sweep_free(x);
    }
}

int main(void) {
    test_f16();
    test_bf16();
    test_qkv();
    test_sweep_keys();
    test_st_headers();
    TEST_MAIN_END();
}
