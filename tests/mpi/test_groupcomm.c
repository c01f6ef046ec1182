/* groupcomm's MPI path under real mpirun (tests/mpi/tests.cmake: -np 2, 3
 * and 4): every member's buffer becomes the same bits, the sum of every
 * member's buffer in the tree groupcomm.h fixes, computed here from the
 * members' inputs (which every rank can generate); buffers shorter than the
 * group and not a multiple of it; the host sums of doubles and the max. */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "groupcomm.h"
#include "rng.h"
#include "test.h"

/* Member j's element i: magnitudes over many binades, so that the order of
 * the additions shows in the bits. */
static float input(int j, size_t i) {
    ds_rng r;
    ds_rng_init(&r, 99, 7, (uint64_t)j * 10000019u + i);
    float u = ds_rng_normal(&r);
    return ldexpf(u, (int)(i % 23) - 11);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, k;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &k);
    ds_backend *be = ds_backend_cpu_create(1, DS_PREC_FP32);
    ds_group *g = NULL;
    ds_error err = {0};
    CHECK_MSG(ds_group_create(MPI_COMM_WORLD, DS_BACKEND_CPU, be, &g, &err) == 0, "%s", err.msg);
    CHECK(ds_group_rank(g) == rank && ds_group_size(g) == k && !strcmp(ds_group_impl(g), "mpi"));
    const size_t ns[] = {1, 3, 1000, 30011};
    for (size_t t = 0; t < sizeof ns / sizeof *ns; t++) {
        size_t n = ns[t];
        float *buf = malloc(sizeof(float) * n);
        for (size_t i = 0; i < n; i++) buf[i] = input(rank, i);
        ds_group_sum(g, buf, n);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
            float x[64];
            for (int j = 0; j < k; j++) x[j] = input(j, i);
            for (int st = 1; st < k; st *= 2) /* groupcomm.h's pairwise tree */
                for (int j = 0; j + st < k; j += 2 * st) x[j] = x[j] + x[j + st];
            bad += memcmp(&x[0], &buf[i], sizeof x[0]) != 0;
        }
        CHECK_MSG(bad == 0, "rank %d, n %zu: %zu element(s) not the tree sum", rank, n, bad);
        if (k == 3) { /* the tree spelled out once: (x0 + x1) + x2 */
            float w = (input(0, 5) + input(1, 5)) + input(2, 5);
            CHECK(n <= 5 || !memcmp(&w, &buf[5], sizeof w));
        }
        free(buf);
    }
    double d[3] = {0.1 * (rank + 1), 1e16 * (rank % 2 ? -1 : 1), (double)rank};
    ds_group_sum_host(g, d, 3);
    double x[3][64];
    for (int j = 0; j < k; j++) x[0][j] = 0.1 * (j + 1), x[1][j] = 1e16 * (j % 2 ? -1 : 1), x[2][j] = j;
    for (int st = 1; st < k; st *= 2)
        for (int j = 0; j + st < k; j += 2 * st)
            for (int v = 0; v < 3; v++) x[v][j] = x[v][j] + x[v][j + st];
    double w[3] = {x[0][0], x[1][0], x[2][0]};
    CHECK_MSG(!memcmp(d, w, sizeof d), "rank %d: host sums %.17g %.17g %.17g", rank, d[0], d[1], d[2]);
    CHECK(ds_group_max(g, rank == k - 1 ? 7 : rank) == (k - 1 > 7 ? k - 1 : 7));
    ds_group_free(g);
    be->destroy(be);
    MPI_Finalize();
    TEST_MAIN_END();
}
