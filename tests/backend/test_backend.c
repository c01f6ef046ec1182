/* The backend module (src/backend.c): one parser of backend names (also the
 * one sweep.c uses for run.backend), one meaning of auto (said once on
 * stderr), the factory with its options, and the op list that generates the
 * table, the op ids and the timer names. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../test.h"
#include "backend.h"
#include "sweep.h"
#ifdef DISTSWEEP_HAVE_CUDA
#include "ds_cuda.h"
#endif

/* What auto must mean in this build on this machine. */
static ds_backend_kind expected_auto(void) {
#ifdef DISTSWEEP_HAVE_CUDA
    return ds_cuda_device_count() > 0 ? DS_BACKEND_CUDA : DS_BACKEND_CPU;
#else
    return DS_BACKEND_CPU;
#endif
}

static void test_parse(void) {
    static const struct { const char *name; ds_backend_kind kind; } good[] = {
        {"auto", DS_BACKEND_AUTO}, {"cpu", DS_BACKEND_CPU}, {"cuda", DS_BACKEND_CUDA}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ds_backend_kind k = (ds_backend_kind)99;
        ds_error err = {0};
        CHECK(ds_backend_kind_parse(good[i].name, &k, &err) == 0);
        CHECK(k == good[i].kind);
        CHECK(err.code == 0);
        CHECK(!strcmp(ds_backend_kind_names[good[i].kind], good[i].name));
    }
    CHECK(ds_backend_kind_names[3] == NULL); /* sweep.c's enum checker needs the terminator */
    const char *bad[] = {"gpu", "CPU", "", "cpu ", "cud", "autocpu"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ds_backend_kind k = DS_BACKEND_CUDA;
        ds_error err = {0};
        CHECK_MSG(ds_backend_kind_parse(bad[i], &k, &err) == DS_EXIT_USAGE, "'%s'", bad[i]);
        CHECK_MSG(k == DS_BACKEND_CUDA, "'%s' changed *out", bad[i]);
        CHECK(err.code == DS_EXIT_USAGE);
        char want[64];
        snprintf(want, sizeof want, "'%s'", bad[i]);
        CHECK_MSG(strstr(err.msg, want) && strstr(err.msg, "auto, cpu, cuda"), "message: %s", err.msg);
    }
    ds_backend_kind k = DS_BACKEND_CPU;
    CHECK(ds_backend_kind_parse("tpu", &k, NULL) == DS_EXIT_USAGE); /* err may be NULL */
    CHECK(ds_backend_kind_parse(NULL, &k, NULL) == DS_EXIT_USAGE);
    CHECK(k == DS_BACKEND_CPU);
}

/* run.backend goes through the same parser; a bad one is a FILE:LINE:COL error. */
static void test_sweep_backend(void) {
    const char *base = "task: {kind: count, vocab: 20, train_length: [1, 4], eval_lengths: [4]}\n"
                       "train: {steps: 60, batch: 4, context: 32, lr: 3.0e-3, warmup: 5, log_every: 1}\n"
                       "seeds: {start: 0, count: 1}\n"
                       "scales:\n  - {family: width, depth: 1, width: [64]}\n";
    static const struct { const char *run; int ok; ds_backend_kind kind; const char *msg; } cases[] = {
        {"", 1, DS_BACKEND_AUTO, NULL},
        {"run: {backend: cpu}\n", 1, DS_BACKEND_CPU, NULL},
        {"run: {backend: cuda}\n", 1, DS_BACKEND_CUDA, NULL},
        {"run: {backend: auto}\n", 1, DS_BACKEND_AUTO, NULL},
        {"run: {backend: gpu}\n", 0, 0, "t.yaml:6:16: run.backend must be one of auto, cpu, cuda, "
                                        "found 'gpu' (did you mean 'cpu'?)"},
        {"run: {backend: [cpu]}\n", 0, 0, "t.yaml:6:16: run.backend must be one of auto, cpu, cuda"},
        {"run: {backend: ~}\n", 0, 0, "t.yaml:6:16: run.backend must be one of auto, cpu, cuda"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "%s%s", base, cases[i].run);
        ds_sweep *s = NULL;
        ds_error err = {0};
        int rc = ds_sweep_load_text("t.yaml", text, &s, &err);
        if (cases[i].ok) {
            CHECK_MSG(rc == 0, "case %zu: %s", i, err.msg);
            if (!rc) CHECK_MSG(s->run.backend == cases[i].kind, "case %zu: kind %d", i, (int)s->run.backend);
        } else {
            CHECK_MSG(rc == DS_EXIT_USAGE, "case %zu: rc %d", i, rc);
            CHECK_MSG(!strncmp(err.msg, cases[i].msg, strlen(cases[i].msg)), "case %zu: '%s'", i, err.msg);
        }
        ds_sweep_free(s);
    }
}

/* Runs ds_backend_resolve(AUTO) twice with stderr in a file; returns what
 * was written there. */
static void resolve_twice_capturing(ds_backend_kind *k1, ds_backend_kind *k2, char *buf, size_t n) {
    char path[] = "/tmp/ds_test_backend_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    *k1 = ds_backend_resolve(DS_BACKEND_AUTO);
    *k2 = ds_backend_resolve(DS_BACKEND_AUTO);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    ssize_t got = read(fd, buf, n - 1);
    buf[got > 0 ? got : 0] = 0;
    close(fd);
    unlink(path);
}

static void test_auto(void) {
    CHECK(ds_backend_resolve(DS_BACKEND_CPU) == DS_BACKEND_CPU);
    CHECK(ds_backend_resolve(DS_BACKEND_CUDA) == DS_BACKEND_CUDA);
    ds_backend_kind k1, k2, want = expected_auto();
    char said[1024];
    resolve_twice_capturing(&k1, &k2, said, sizeof said);
    CHECK(k1 == want && k2 == want);
    char line[128];
    snprintf(line, sizeof line, "distsweep: backend auto: %s (", ds_backend_kind_names[want]);
    CHECK_MSG(!strncmp(said, line, strlen(line)), "stderr: '%s'", said);
    const char *nl = strchr(said, '\n');
    CHECK_MSG(nl && nl[1] == 0, "said more than one line: '%s'", said); /* once per process */
    if (want == DS_BACKEND_CPU) CHECK_MSG(strstr(said, "no GPU visible") || strstr(said, "built without CUDA"), "%s", said);
}

static void test_factory(void) {
    /* cpu with a thread count: every op and memory member is filled */
    ds_backend_opts o = {.kind = DS_BACKEND_CPU, .threads = 3};
    ds_backend *be = (ds_backend *)1;
    ds_error err = {0};
    CHECK(ds_backend_create(&o, &be, &err) == 0);
    CHECK(be && !strcmp(be->name, "cpu") && be->threads == 3);
#define CHECK_OP_(name, params) CHECK_MSG(be->name != NULL, "op %s not filled", #name);
    DS_BACKEND_OPS(CHECK_OP_)
#undef CHECK_OP_
    CHECK(be->alloc && be->free && be->upload && be->download && be->zero && be->copy && be->destroy);
    float *x = be->alloc(be, 64 * sizeof(float)), h[64];
    be->download(be, h, x, sizeof h);
    int zero = 1;
    for (int i = 0; i < 64; i++) zero &= h[i] == 0.0f;
    CHECK(zero); /* alloc is zero-filled */
    be->free(be, x);
    be->destroy(be);

    /* NULL options and {0}: auto, the same choice as ds_backend_resolve */
    ds_backend_kind want = expected_auto();
    if (want == DS_BACKEND_CPU) {
        be = NULL;
        CHECK(ds_backend_create(NULL, &be, &err) == 0 && be && !strcmp(be->name, "cpu"));
        if (be) be->destroy(be);
        ds_backend_opts z = {0};
        be = NULL;
        CHECK(ds_backend_create(&z, &be, &err) == 0 && be && !strcmp(be->name, "cpu") && be->threads > 0);
        if (be) be->destroy(be);
        /* cuda where there is none: an error naming the reason, *out NULL */
        ds_backend_opts c = {.kind = DS_BACKEND_CUDA};
        be = (ds_backend *)1;
        err.code = 0;
        CHECK(ds_backend_create(&c, &be, &err) == DS_EXIT_ERROR);
        CHECK(be == NULL && err.code == DS_EXIT_ERROR);
        CHECK_MSG(strstr(err.msg, "visible GPU") || strstr(err.msg, "not available in this build"), "%s", err.msg);
    } else {
        be = NULL;
        CHECK(ds_backend_create(NULL, &be, &err) == 0 && be && !strncmp(be->name, "cuda", 4));
        if (be) be->destroy(be);
    }
}

/* Precision support (src/backend.c): the cpu backend implements every mode;
 * the cuda backend's tf32 and bf16 are refused (exit 2, a message naming the
 * precision) until verified on a GPU, unless the verification variable is 1. */
static void test_supports(void) {
    ds_error err = {0};
    unsetenv("DISTSWEEP_CUDA_UNVERIFIED_PRECISION");
    for (int p = DS_PREC_FP32; p <= DS_PREC_BF16; p++)
        CHECK(ds_backend_supports(DS_BACKEND_CPU, (ds_precision)p, &err) == 0);
    CHECK(ds_backend_supports(DS_BACKEND_CUDA, DS_PREC_FP32, &err) == 0);
    CHECK(ds_backend_supports(DS_BACKEND_CUDA, DS_PREC_BF16, &err) == DS_EXIT_USAGE);
    CHECK_MSG(strstr(err.msg, "bf16") && strstr(err.msg, "cuda"), "%s", err.msg);
    setenv("DISTSWEEP_CUDA_UNVERIFIED_PRECISION", "0", 1);
    CHECK(ds_backend_supports(DS_BACKEND_CUDA, DS_PREC_TF32, &err) == DS_EXIT_USAGE);
    setenv("DISTSWEEP_CUDA_UNVERIFIED_PRECISION", "1", 1);
    CHECK(ds_backend_supports(DS_BACKEND_CUDA, DS_PREC_TF32, &err) == 0);
    CHECK(ds_backend_supports(DS_BACKEND_CUDA, DS_PREC_BF16, &err) == 0);
    unsetenv("DISTSWEEP_CUDA_UNVERIFIED_PRECISION");
    /* block llama: every block on the cpu; on cuda refused until verified */
    unsetenv("DISTSWEEP_CUDA_UNVERIFIED_BLOCK");
    for (int b = DS_BLOCK_PARALLEL; b <= DS_BLOCK_LLAMA; b++)
        CHECK(ds_backend_supports_block(DS_BACKEND_CPU, b, &err) == 0);
    CHECK(ds_backend_supports_block(DS_BACKEND_CUDA, DS_BLOCK_SEQUENTIAL, &err) == 0);
    CHECK(ds_backend_supports_block(DS_BACKEND_CUDA, DS_BLOCK_LLAMA, &err) == DS_EXIT_USAGE);
    CHECK_MSG(strstr(err.msg, "llama") && strstr(err.msg, "cuda"), "%s", err.msg);
    setenv("DISTSWEEP_CUDA_UNVERIFIED_BLOCK", "1", 1);
    CHECK(ds_backend_supports_block(DS_BACKEND_CUDA, DS_BLOCK_LLAMA, &err) == 0);
    unsetenv("DISTSWEEP_CUDA_UNVERIFIED_BLOCK");
#ifdef DISTSWEEP_HAVE_CUDA
    /* the attention switch is refused before a sweep starts, not per pack */
    setenv("DISTSWEEP_CUDA_ATTENTION", "flash", 1);
    CHECK(ds_backend_supports(DS_BACKEND_CUDA, DS_PREC_FP32, &err) == DS_EXIT_USAGE);
    CHECK_MSG(strstr(err.msg, "DISTSWEEP_CUDA_ATTENTION='flash'"), "%s", err.msg);
    CHECK(ds_backend_supports(DS_BACKEND_CPU, DS_PREC_FP32, &err) == 0); /* the cpu ignores it */
    for (const char *v = "gemm"; v; v = !strcmp(v, "gemm") ? "tiled" : NULL) {
        setenv("DISTSWEEP_CUDA_ATTENTION", v, 1);
        CHECK(ds_backend_supports(DS_BACKEND_CUDA, DS_PREC_FP32, &err) == 0);
    }
    unsetenv("DISTSWEEP_CUDA_ATTENTION");
#endif
}

static void test_op_list(void) {
    CHECK(DS_N_TIMED_OPS == 28); /* 26 ops (6 of the llama block) + upload + download */
    CHECK(!strcmp(ds_op_names[DS_OP_encoder_fwd], "encoder_fwd"));
    CHECK(!strcmp(ds_op_names[DS_OP_attention_bwd], "attention_bwd"));
    CHECK(!strcmp(ds_op_names[DS_OP_adamw], "adamw"));
    CHECK(!strcmp(ds_op_names[DS_OP_rmsnorm_fwd], "rmsnorm_fwd"));
    CHECK(!strcmp(ds_op_names[DS_OP_kv_repeat_bwd], "kv_repeat_bwd"));
    CHECK(DS_OP_step_guard == 24 && DS_OP_adamw == 25 && DS_OP_upload == 26 && DS_OP_download == 27);
    for (int i = 0; i < DS_N_TIMED_OPS; i++) {
        CHECK_MSG(ds_op_names[i] && ds_op_names[i][0], "op %d has no name", i);
        for (int j = 0; j < i; j++) CHECK_MSG(strcmp(ds_op_names[i], ds_op_names[j]), "op %d", i);
    }
    ds_op_times t;
    unsetenv("DS_TEST_OPTIMES");
    ds_op_times_init(&t, "DS_TEST_OPTIMES");
    CHECK(!t.on);
    ds_op_times_add(&t, DS_OP_add, ds_now());
    CHECK(t.n[DS_OP_add] == 0); /* off: nothing counted */
    setenv("DS_TEST_OPTIMES", "0", 1);
    ds_op_times_init(&t, "DS_TEST_OPTIMES");
    CHECK(!t.on);
    setenv("DS_TEST_OPTIMES", "1", 1);
    ds_op_times_init(&t, "DS_TEST_OPTIMES");
    CHECK(t.on);
    ds_op_times_add(&t, DS_OP_add, ds_now() - 1.0);
    ds_op_times_add(&t, DS_OP_add, ds_now());
    CHECK(t.n[DS_OP_add] == 2 && t.s[DS_OP_add] >= 1.0 && t.n[DS_OP_sumsq] == 0);
}

/* step_guard (backend.h) on hand-made sums: the clip factor as
 * torch.nn.utils.clip_grad_norm_ computes it in float, and each way to
 * freeze: a non-finite loss, a non-finite norm, already frozen. */
static void test_step_guard(void) {
    ds_backend *be = ds_backend_cpu_create(1, DS_PREC_FP32);
    enum { G = 6 };
    double lsum[G] = {2.5, 1e-3, INFINITY, 3.0, NAN, 0.7};
    double sq[G] = {0.25, 1e6, 1.0, NAN, 1.0, 16.0};
    uint8_t act[G] = {1, 1, 1, 1, 1, 0};
    float loss[G], gs[G], norm[G];
    be->step_guard(be, loss, norm, gs, act, lsum, sq, G, 1.0f);
    CHECK(act[0] && act[1] && !act[2] && !act[3] && !act[4] && !act[5]);
    CHECK(gs[0] == 1.0f && norm[0] == 0.5f);                   /* under the clip: 1 */
    CHECK(norm[1] == 1000.0f && gs[1] == 1.0f / (1000.0f + 1e-6f)); /* clipped */
    CHECK(loss[0] == 2.5f && loss[1] == (float)1e-3);
    CHECK(isnan(loss[2]) && isnan(loss[3]) && isnan(loss[4]) && isnan(loss[5]));
    /* no clip: 1 whatever the norm; no loss: the norm alone decides, loss untouched */
    uint8_t act2[2] = {1, 1};
    double sq2[2] = {1e6, INFINITY};
    float loss2[2] = {7.0f, 7.0f};
    be->step_guard(be, loss2, NULL, gs, act2, NULL, sq2, 2, 0.0f);
    CHECK(act2[0] && !act2[1] && gs[0] == 1.0f && loss2[0] == 7.0f && loss2[1] == 7.0f);
    be->destroy(be);
}

/* The asynchronous transfers' contract as every backend keeps it: the
 * source of upload_async may change at once, host_alloc is zeroed, a
 * download_async has landed after sync. */
static void test_async_transfers(void) {
    ds_backend *be = ds_backend_cpu_create(1, DS_PREC_FP32);
    float src[4] = {1, 2, 3, 4}, *dev = be->alloc(be, sizeof src), *host = be->host_alloc(be, sizeof src);
    CHECK(host && host[0] == 0.0f && host[3] == 0.0f);
    be->upload_async(be, dev, src, sizeof src);
    src[0] = -1; /* after the call: must not reach dev */
    be->download_async(be, host, dev, sizeof src);
    be->sync(be);
    CHECK(host[0] == 1.0f && host[3] == 4.0f);
    CHECK(!be->capture_begin && !be->graph_launch); /* the CPU runs ops as called: no graphs */
    be->host_free(be, host);
    be->free(be, dev);
    be->destroy(be);
}

int main(void) {
    test_parse();
    test_sweep_backend();
    test_auto(); /* before the factory's auto cases: the line is said once per process */
    test_factory();
    test_supports();
    test_op_list();
    test_step_guard();
    test_async_transfers();
    TEST_MAIN_END();
}
