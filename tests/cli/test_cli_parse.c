/* cli.parse: ds_cli_int, ds_cli_int64, ds_cli_double and ds_cli_scale
 * (src/cli.h): the values every command accepts, the ones it refuses, and
 * the one wording of the refusal. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../test.h"
#include "cli.h"

/* The refusal of text for an int option in [min, max]: DS_EXIT_USAGE, *out
 * untouched, err exactly `want`. */
static void int_refused(const char *text, int min, int max, const char *want) {
    int out = 12345;
    ds_error err = {0};
    CHECK_MSG(ds_cli_int("--opt", text, min, max, &out, &err) == DS_EXIT_USAGE, "'%s'",
              text ? text : "(null)");
    CHECK_MSG(out == 12345, "'%s' changed *out to %d", text ? text : "(null)", out);
    CHECK_MSG(err.code == DS_EXIT_USAGE && !strcmp(err.msg, want), "'%s': got \"%s\", want \"%s\"",
              text ? text : "(null)", err.msg, want);
}

static void test_int(void) {
    ds_error err = {0};
    int v = -1;
    CHECK(ds_cli_int("--pack", "1", 1, 100000, &v, &err) == 0 && v == 1);
    CHECK(ds_cli_int("--pack", "100000", 1, 100000, &v, &err) == 0 && v == 100000);
    CHECK(ds_cli_int("--pack", "007", 1, 100000, &v, &err) == 0 && v == 7);
    CHECK(ds_cli_int("--pack", "+3", 1, 100000, &v, &err) == 0 && v == 3);
    CHECK(ds_cli_int("--length", "-4", INT_MIN, INT_MAX, &v, &err) == 0 && v == -4);
    CHECK(ds_cli_int("--length", "2147483647", INT_MIN, INT_MAX, &v, &err) == 0 && v == INT_MAX);
    CHECK(ds_cli_int("--length", "-2147483648", INT_MIN, INT_MAX, &v, &err) == 0 && v == INT_MIN);
    /* ranges, said the same way by every command */
    int_refused("0", 1, 100000, "--opt needs an integer from 1 to 100000, got '0'");
    int_refused("100001", 1, 100000, "--opt needs an integer from 1 to 100000, got '100001'");
    int_refused("-1", 0, INT_MAX, "--opt needs an integer >= 0, got '-1'");
    int_refused("9", INT_MIN, 8, "--opt needs an integer <= 8, got '9'");
    int_refused("x", INT_MIN, INT_MAX, "--opt needs an integer, got 'x'");
    /* beyond int, trailing junk, blanks, empty, no value, not decimal */
    int_refused("2147483648", INT_MIN, INT_MAX, "--opt needs an integer, got '2147483648'");
    int_refused("99999999999999999999", 1, 5, "--opt needs an integer from 1 to 5, got '99999999999999999999'");
    int_refused("3x", 1, 5, "--opt needs an integer from 1 to 5, got '3x'");
    int_refused("3 ", 1, 5, "--opt needs an integer from 1 to 5, got '3 '");
    int_refused(" 3", 1, 5, "--opt needs an integer from 1 to 5, got ' 3'");
    int_refused("3.0", 1, 5, "--opt needs an integer from 1 to 5, got '3.0'");
    int_refused("0x3", 1, 5, "--opt needs an integer from 1 to 5, got '0x3'");
    int_refused("", 1, 5, "--opt needs an integer from 1 to 5, got ''");
    int_refused(NULL, 1, 5, "--opt needs an integer from 1 to 5, got nothing");
    /* err may be NULL */
    CHECK(ds_cli_int("--opt", "x", 1, 5, &v, NULL) == DS_EXIT_USAGE);
}

static void test_int64(void) {
    ds_error err = {0};
    int64_t v = 0;
    CHECK(ds_cli_int64("--seed", "9223372036854775807", INT64_MIN, INT64_MAX, &v, &err) == 0 &&
          v == INT64_MAX);
    CHECK(ds_cli_int64("--seed", "-9223372036854775808", INT64_MIN, INT64_MAX, &v, &err) == 0 &&
          v == INT64_MIN);
    CHECK(ds_cli_int64("--steps", "5000000000", 1, INT64_MAX, &v, &err) == 0 && v == 5000000000LL);
    v = 77;
    CHECK(ds_cli_int64("--seed", "9223372036854775808", INT64_MIN, INT64_MAX, &v, &err) ==
          DS_EXIT_USAGE && v == 77);
    CHECK(!strcmp(err.msg, "--seed needs an integer, got '9223372036854775808'"));
    CHECK(ds_cli_int64("--steps", "0", 1, INT64_MAX, &v, &err) == DS_EXIT_USAGE && v == 77);
    CHECK(!strcmp(err.msg, "--steps needs an integer >= 1, got '0'"));
    CHECK(ds_cli_int64("--row", "1e3", 0, INT64_MAX, &v, &err) == DS_EXIT_USAGE && v == 77);
}

static void double_refused(const char *text, double lo, int lo_open, double hi, const char *want) {
    double out = 42;
    ds_error err = {0};
    CHECK_MSG(ds_cli_double("--x", text, lo, lo_open, hi, &out, &err) == DS_EXIT_USAGE, "'%s'",
              text ? text : "(null)");
    CHECK_MSG(out == 42, "'%s' changed *out", text ? text : "(null)");
    CHECK_MSG(!strcmp(err.msg, want), "'%s': got \"%s\", want \"%s\"", text ? text : "(null)",
              err.msg, want);
}

static void test_double(void) {
    ds_error err = {0};
    double v = 0;
    CHECK(ds_cli_double("--efficiency", "1", 0, 1, 1, &v, &err) == 0 && v == 1);
    CHECK(ds_cli_double("--efficiency", "0.25", 0, 1, 1, &v, &err) == 0 && v == 0.25);
    CHECK(ds_cli_double("--gpu-tflops", "1e3", 0, 1, 1e9, &v, &err) == 0 && v == 1000);
    CHECK(ds_cli_double("--threshold", "-0.5", -INFINITY, 0, INFINITY, &v, &err) == 0 && v == -0.5);
    CHECK(ds_cli_double("--synthetic-job-seconds", "0", 0, 0, INFINITY, &v, &err) == 0 && v == 0);
    /* the message tests/sweep/test_plan_cli.py expects of plan --efficiency */
    double_refused("1.5", 0, 1, 1, "--x needs a number in (0, 1], got '1.5'");
    double_refused("0", 0, 1, 1, "--x needs a number in (0, 1], got '0'");
    double_refused("-1", 0, 0, 1, "--x needs a number in [0, 1], got '-1'");
    double_refused("-0.1", 0, 0, INFINITY, "--x needs a number >= 0, got '-0.1'");
    double_refused("0", 0, 1, INFINITY, "--x needs a number > 0, got '0'");
    double_refused("2", -INFINITY, 0, 1, "--x needs a number <= 1, got '2'");
    double_refused("abc", -INFINITY, 0, INFINITY, "--x needs a number, got 'abc'");
    double_refused("0.5x", -INFINITY, 0, INFINITY, "--x needs a number, got '0.5x'");
    double_refused(" 0.5", -INFINITY, 0, INFINITY, "--x needs a number, got ' 0.5'");
    double_refused("", -INFINITY, 0, INFINITY, "--x needs a number, got ''");
    double_refused(NULL, -INFINITY, 0, INFINITY, "--x needs a number, got nothing");
    /* never nan or inf, whatever the range */
    double_refused("nan", -INFINITY, 0, INFINITY, "--x needs a number, got 'nan'");
    double_refused("inf", 0, 0, INFINITY, "--x needs a number >= 0, got 'inf'");
    double_refused("-inf", -INFINITY, 0, INFINITY, "--x needs a number, got '-inf'");
    double_refused("1e999", -INFINITY, 0, INFINITY, "--x needs a number, got '1e999'");
}

static void test_scale(void) {
    ds_sweep *s = NULL;
    ds_error err = {0};
    int rc = ds_sweep_load_text(
        "t.yaml",
        "task: {kind: count, vocab: 150, train_length: [1, 30], eval_lengths: [60]}\n"
        "train: {steps: 1000, batch: 8, context: 128, lr: 0.001}\n"
        "seeds: {count: 3}\n"
        "scales:\n"
        "  - {family: width, depth: 2, width: [64, 128]}\n"
        "  - {family: depth, width: 64, depth: [1, 12]}\n",
        &s, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK(s->n_scales == 4); /* d64_L2 d128_L2 d64_L1 d64_L12 */
    char name[32];
    ds_scale_name(&s->scales[1], name, sizeof name);
    CHECK(!strcmp(name, "d128_L2"));
    int sc = -1;
    /* rows */
    CHECK(ds_cli_scale(s, "0", &sc, &err) == 0 && sc == 0);
    CHECK(ds_cli_scale(s, "3", &sc, &err) == 0 && sc == 3);
    CHECK(ds_cli_scale(s, "03", &sc, &err) == 0 && sc == 3);
    /* names */
    CHECK(ds_cli_scale(s, "d128_L2", &sc, &err) == 0 && sc == 1);
    CHECK(ds_cli_scale(s, "d64_L1", &sc, &err) == 0 && sc == 2);
    CHECK(ds_cli_scale(s, "d64_L12", &sc, &err) == 0 && sc == 3);
    /* neither: one message, naming the file and every scale */
    const char *bad[] = {"4", "-1", "+1", " 1", "1 ", "1x", "", "d64_l1", "D64_L1", "d64_L3", "d64", NULL};
    for (int i = 0; bad[i]; i++) {
        sc = -7;
        CHECK_MSG(ds_cli_scale(s, bad[i], &sc, &err) == DS_EXIT_USAGE && sc == -7, "'%s'", bad[i]);
        char want[256];
        snprintf(want, sizeof want,
                 "t.yaml: no scale '%s' (scales: 0=d64_L2, 1=d128_L2, 2=d64_L1, 3=d64_L12)", bad[i]);
        CHECK_MSG(!strcmp(err.msg, want), "got \"%s\", want \"%s\"", err.msg, want);
    }
    CHECK(ds_cli_scale(s, NULL, &sc, &err) == DS_EXIT_USAGE);
    ds_sweep_free(s);

    /* many scales: the list in the message is cut with "...", never overflows */
    char text[8192];
    int n = snprintf(text, sizeof text,
                     "task: {kind: count, vocab: 150, train_length: [1, 30], eval_lengths: [60]}\n"
                     "train: {steps: 1000, batch: 8, context: 128, lr: 0.001}\n"
                     "seeds: {count: 3}\n"
                     "scales:\n  - {family: depth, width: 64, depth: [");
    for (int L = 1; L <= 200; L++) n += snprintf(text + n, sizeof text - (size_t)n, "%s%d", L > 1 ? ", " : "", L);
    snprintf(text + n, sizeof text - (size_t)n, "]}\n");
    rc = ds_sweep_load_text("many.yaml", text, &s, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK(ds_cli_scale(s, "d64_L200", &sc, &err) == 0 && sc == 199);
    CHECK(ds_cli_scale(s, "199", &sc, &err) == 0 && sc == 199);
    CHECK(ds_cli_scale(s, "200", &sc, &err) == DS_EXIT_USAGE);
    size_t len = strlen(err.msg);
    CHECK(!strncmp(err.msg, "many.yaml: no scale '200' (scales: 0=d64_L1, 1=d64_L2", 52));
    CHECK(len > 5 && !strcmp(err.msg + len - 6, ", ...)"));
    ds_sweep_free(s);
}

int main(void) {
    test_int();
    test_int64();
    test_double();
    test_scale();
    TEST_MAIN_END();
}
