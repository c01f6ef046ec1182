/* groupcomm: the group's gradient sum over MPI or NCCL (see groupcomm.h). */
#include "groupcomm.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef DISTSWEEP_HAVE_NCCL
#include <nccl.h>

#include "cuda_check.h"
#endif

struct ds_group {
    MPI_Comm comm; /* not owned */
    int rank, size;
    ds_backend *be; /* not owned */
    int on_device;  /* be's buffers are device memory */
    float *pad, *recv; /* host scratch [size * slice] of the mpi path, kept between calls */
    size_t cap;
    double *dall;   /* host scratch of ds_group_sum_host */
    size_t dcap;
#ifdef DISTSWEEP_HAVE_NCCL
    ncclComm_t nccl; /* NULL: the mpi path */
    float *dpad, *drecv; /* backend scratch of the nccl path */
    size_t dev_cap;
#endif
};

/* A GPU group without NCCL is said once per process, not once per pack.
 * This flag is the module's only mutable state. */
static int host_staging_said;

int ds_group_create(MPI_Comm comm, ds_backend_kind kind, ds_backend *be, ds_group **out,
                    ds_error *err) {
    *out = NULL;
    ds_group *g = DS_CALLOC(1, sizeof *g);
    g->comm = comm;
    g->be = be;
    g->on_device = kind == DS_BACKEND_CUDA;
    DS_MPI_CHECK(MPI_Comm_rank(comm, &g->rank));
    DS_MPI_CHECK(MPI_Comm_size(comm, &g->size));
#ifdef DISTSWEEP_HAVE_NCCL
    if (g->on_device) {
        ncclUniqueId id;
        ncclResult_t nr = ncclSuccess;
        if (g->rank == 0) nr = ncclGetUniqueId(&id);
        /* every member learns whether the id exists, so that none waits alone */
        int bad = nr != ncclSuccess;
        DS_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, comm));
        if (bad) {
            free(g);
            return ds_error_set(err, DS_EXIT_ERROR, "%s:%d: NCCL error in ncclGetUniqueId%s%s",
                                __FILE__, __LINE__, nr != ncclSuccess ? ": " : "",
                                nr != ncclSuccess ? ncclGetErrorString(nr) : " (on member 0)");
        }
        DS_MPI_CHECK(MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, comm));
        nr = ncclCommInitRank(&g->nccl, g->size, id, g->rank);
        if (nr != ncclSuccess) {
            free(g);
            return ds_error_set(err, DS_EXIT_ERROR, "%s:%d: NCCL error %d (%s) in ncclCommInitRank",
                                __FILE__, __LINE__, (int)nr, ncclGetErrorString(nr));
        }
    }
#endif
    if (g->on_device && !strcmp(ds_group_impl(g), "mpi") && !host_staging_said) {
        fprintf(stderr, "distsweep: this build has no NCCL: data-parallel groups reduce GPU "
                        "gradients with MPI through host memory (slower)\n");
        host_staging_said = 1;
    }
    *out = g;
    return 0;
}

void ds_group_free(ds_group *g) {
    if (!g) return;
#ifdef DISTSWEEP_HAVE_NCCL
    if (g->nccl) ncclCommDestroy(g->nccl);
    if (g->dpad) g->be->free(g->be, g->dpad);
    if (g->drecv) g->be->free(g->be, g->drecv);
#endif
    free(g->pad);
    free(g->recv);
    free(g->dall);
    free(g);
}

int ds_group_rank(const ds_group *g) { return g->rank; }
int ds_group_size(const ds_group *g) { return g->size; }

const char *ds_group_impl(const ds_group *g) {
#ifdef DISTSWEEP_HAVE_NCCL
    if (g->nccl) return "nccl";
#endif
    (void)g;
    return "mpi";
}

/* Elements of one member's slice of an n-element buffer. */
static size_t slice_of(const ds_group *g, size_t n) {
    size_t sl = (n + (size_t)g->size - 1) / (size_t)g->size;
    DS_ASSERT(sl <= INT_MAX); /* MPI and NCCL counts below */
    return sl;
}

/* The host path on buf[0..n) in host memory. */
static void host_sum(ds_group *g, float *buf, size_t n) {
    int k = g->size;
    size_t sl = slice_of(g, n), all = sl * (size_t)k;
    if (g->cap < all) {
        free(g->pad);
        free(g->recv);
        g->pad = DS_MALLOC(sizeof(float) * all);
        g->recv = DS_MALLOC(sizeof(float) * all);
        g->cap = all;
    }
    memcpy(g->pad, buf, sizeof(float) * n);
    memset(g->pad + n, 0, sizeof(float) * (all - n));
    /* slice j of every member to member j, in member order */
    DS_MPI_CHECK(MPI_Alltoall(g->pad, (int)sl, MPI_FLOAT, g->recv, (int)sl, MPI_FLOAT, g->comm));
    /* the pairwise tree of groupcomm.h, in place on the k gathered slices */
    for (int st = 1; st < k; st *= 2)
        for (int j = 0; j + st < k; j += 2 * st) {
            float *a = g->recv + (size_t)j * sl;
            const float *x = g->recv + (size_t)(j + st) * sl;
            for (size_t i = 0; i < sl; i++) a[i] = a[i] + x[i];
        }
    float *acc = g->recv;
    DS_MPI_CHECK(MPI_Allgather(acc, (int)sl, MPI_FLOAT, g->pad, (int)sl, MPI_FLOAT, g->comm));
    memcpy(buf, g->pad, sizeof(float) * n);
}

#ifdef DISTSWEEP_HAVE_NCCL
#define CKN(call)                                                                            \
    DS_GPU_CHECK_("NCCL", ncclResult_t, ncclSuccess, ncclGetErrorString, call, #call,        \
                  DS_GPU_DIE_, (void)0)

/* The nccl path: the same slices and the same float adds (the backend's add
 * op), on the device. NCCL runs on the legacy default stream; the backend's
 * stream is non-blocking, so both are synchronised around it. */
static void nccl_sum(ds_group *g, float *buf, size_t n) {
    ds_backend *be = g->be;
    int k = g->size;
    size_t sl = slice_of(g, n), all = sl * (size_t)k;
    if (g->dev_cap < all) {
        if (g->dpad) be->free(be, g->dpad);
        if (g->drecv) be->free(be, g->drecv);
        g->dpad = be->alloc(be, sizeof(float) * all);
        g->drecv = be->alloc(be, sizeof(float) * all);
        if (!g->dpad || !g->drecv)
            ds_die(DS_EXIT_ERROR, "groupcomm: out of GPU memory for the gradient sum (%zu floats)",
                   2 * all);
        g->dev_cap = all;
    }
    be->copy(be, g->dpad, buf, sizeof(float) * n);
    be->zero(be, g->dpad + n, sizeof(float) * (all - n));
    CK(cudaDeviceSynchronize());
    CKN(ncclGroupStart());
    for (int p = 0; p < k; p++) {
        CKN(ncclSend(g->dpad + (size_t)p * sl, sl, ncclFloat, p, g->nccl, 0));
        CKN(ncclRecv(g->drecv + (size_t)p * sl, sl, ncclFloat, p, g->nccl, 0));
    }
    CKN(ncclGroupEnd());
    CK(cudaStreamSynchronize(0));
    for (int st = 1; st < k; st *= 2)
        for (int j = 0; j + st < k; j += 2 * st)
            be->add(be, g->drecv + (size_t)j * sl, g->drecv + (size_t)j * sl,
                    g->drecv + (size_t)(j + st) * sl, sl);
    CK(cudaDeviceSynchronize());
    CKN(ncclAllGather(g->drecv, g->dpad, sl, ncclFloat, g->nccl, 0));
    CK(cudaStreamSynchronize(0));
    be->copy(be, buf, g->dpad, sizeof(float) * n);
}
#endif

void ds_group_sum(ds_group *g, float *buf, size_t n) {
    if (n == 0) return;
#ifdef DISTSWEEP_HAVE_NCCL
    /* even for one member: the same NCCL calls as a larger group (the
     * one-rank test on a one-GPU machine, tests/gpu/test_nccl_group.c) */
    if (g->nccl) {
        nccl_sum(g, buf, n);
        return;
    }
#endif
    if (g->size == 1) return;
    if (!g->on_device) {
        host_sum(g, buf, n);
        return;
    }
    /* a GPU backend without NCCL: through host memory */
    float *h = DS_MALLOC(sizeof(float) * n);
    g->be->download(g->be, h, buf, sizeof(float) * n);
    host_sum(g, h, n);
    g->be->upload(g->be, buf, h, sizeof(float) * n);
    free(h);
}

void ds_group_sum_host(ds_group *g, double *buf, size_t n) {
    if (g->size == 1 || n == 0) return;
    size_t all = n * (size_t)g->size;
    DS_ASSERT(n <= INT_MAX);
    if (g->dcap < all) {
        free(g->dall);
        g->dall = DS_MALLOC(sizeof(double) * all);
        g->dcap = all;
    }
    DS_MPI_CHECK(MPI_Allgather(buf, (int)n, MPI_DOUBLE, g->dall, (int)n, MPI_DOUBLE, g->comm));
    for (int st = 1; st < g->size; st *= 2)
        for (int j = 0; j + st < g->size; j += 2 * st)
            for (size_t i = 0; i < n; i++)
                g->dall[(size_t)j * n + i] = g->dall[(size_t)j * n + i] + g->dall[(size_t)(j + st) * n + i];
    memcpy(buf, g->dall, sizeof(double) * n);
}

int ds_group_max(ds_group *g, int v) {
    if (g->size == 1) return v;
    DS_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, g->comm));
    return v;
}
