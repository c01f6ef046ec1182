/* A one-rank data-parallel group on the GPU (NCCL where built, else MPI
 * through the host) against the plain path: the GPU machines have one GPU
 * each and NCCL refuses two ranks on one device, so a group of one is what
 * a single machine can run; it goes through every call of the group's sum
 * (src/groupcomm.c: NCCL send/recv, the backend's add, NCCL all-gather).
 *
 * 1. ds_group_sum on a device buffer of a group of one: the bits unchanged.
 * 2. A pack of 2 seeds trained 40 steps on the cuda backend alone and as a
 *    group of one (MPI_COMM_SELF): bit-identical losses, metrics and curves.
 * A multi-GPU group runs only where a machine has several GPUs (mpirun -np 2
 * of tests/mpi groups_* with --backend cuda); none is available here. */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "gpu_compare.h"
#include "groupcomm.h"
#include "sweep.h"

static const char *SWEEP =
    "task: {kind: count, vocab: 30, train_length: [1, 5], eval_lengths: [5, 8]}\n"
    "model: {head_dim: 32}\n"
    "train: {steps: 40, batch: 8, context: 32, lr: 3.0e-3, warmup: 5, log_every: 10}\n"
    "seeds: {count: 2}\n"
    "scales: [{family: depth, width: 64, depth: [2]}]\n";

int main(int argc, char **argv) {
    gpu_skip_if_none();
    MPI_Init(&argc, &argv);
    MPI_Comm self = MPI_COMM_SELF;
    ds_error err = {0};

    /* 1. the sum of a group of one */
    ds_backend *be = test_backend(DS_BACKEND_CUDA, 0);
    ds_group *g = NULL;
    CHECK_MSG(ds_group_create(self, DS_BACKEND_CUDA, be, &g, &err) == 0, "%s", err.msg);
#ifdef DISTSWEEP_HAVE_NCCL
    CHECK(!strcmp(ds_group_impl(g), "nccl"));
#else
    CHECK(!strcmp(ds_group_impl(g), "mpi"));
#endif
    size_t n = 100003;
    float *h = malloc(sizeof(float) * n), *back = malloc(sizeof(float) * n);
    fill_uniform(h, n, 7, -3.0f, 3.0f);
    float *d = be->alloc(be, sizeof(float) * n);
    be->upload(be, d, h, sizeof(float) * n);
    ds_group_sum(g, d, n);
    be->download(be, back, d, sizeof(float) * n);
    CHECK_MSG(!memcmp(h, back, sizeof(float) * n), "a group of one changed the buffer");
    ds_group_free(g);
    be->free(be, d);
    be->destroy(be);
    free(h);
    free(back);

    /* 2. training alone and as a group of one */
    ds_sweep *s = NULL;
    CHECK_MSG(ds_sweep_load_text("nccl.yaml", SWEEP, &s, &err) == 0, "%s", err.msg);
    int64_t seeds[2] = {0, 1};
    ds_run_result a[2], b[2];
    ds_train_opts o = {.backend = DS_BACKEND_CUDA};
    CHECK_MSG(ds_train_pack(s, 0, seeds, 2, &o, a, &err) == 0, "%s", err.msg);
    o.group = &self;
    CHECK_MSG(ds_train_pack(s, 0, seeds, 2, &o, b, &err) == 0, "%s", err.msg);
    for (int r = 0; r < 2; r++) {
        CHECK(a[r].status == b[r].status && a[r].steps_done == b[r].steps_done);
        CHECK_MSG(!memcmp(&a[r].final_loss, &b[r].final_loss, sizeof(float)),
                  "seed %d: final loss %.9g alone, %.9g in a group of one", r, a[r].final_loss,
                  b[r].final_loss);
        CHECK(!memcmp(a[r].metrics, b[r].metrics, sizeof a[r].metrics));
        CHECK(a[r].n_curve == b[r].n_curve &&
              !memcmp(a[r].curve, b[r].curve, sizeof(float) * (size_t)a[r].n_curve));
        free(a[r].curve);
        free(b[r].curve);
    }
    ds_sweep_free(s);
    MPI_Finalize();
    TEST_MAIN_END();
}
