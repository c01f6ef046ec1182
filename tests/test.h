/* test.h: a minimal assertion harness. A test binary counts failures and
 * exits non-zero if any check failed; each failure prints file and line. */
#ifndef DS_TEST_H
#define DS_TEST_H
#include <math.h>
#include <stdio.h>

static int ds_test_failures = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ds_test_failures++;                                                       \
        }                                                                             \
    } while (0)

#define CHECK_MSG(cond, ...)                                                          \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
            ds_test_failures++;                                                       \
        }                                                                             \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                         \
    do {                                                                              \
        double a_ = (a), b_ = (b);                                                    \
        if (!(fabs(a_ - b_) <= (tol))) {                                              \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g, tol %g\n", \
                    __FILE__, __LINE__, #a, a_, #b, b_, (double)(tol));               \
            ds_test_failures++;                                                       \
        }                                                                             \
    } while (0)

#define TEST_MAIN_END()                                                               \
    do {                                                                              \
        if (ds_test_failures) fprintf(stderr, "%d check(s) failed\n", ds_test_failures); \
        else printf("all checks passed\n");                                           \
        return ds_test_failures ? 1 : 0;                                              \
    } while (0)
#endif
