/* groupcomm: the gradient reduction of a data-parallel group (docs/design.md
 * §8): the k ranks that train one pack together, each on its share of every
 * batch, add their partial gradients here so that every member holds the same
 * sum and takes the same optimizer step.
 *
 * Owns the group's view of its MPI communicator (given by the caller, who
 * creates and frees it: src/sched_worker.c) and, for a GPU backend in a build
 * with NCCL, the NCCL communicator created from it. Two implementations
 * behind one interface:
 *   - "mpi": buffers in host memory (the CPU backend), or a GPU backend's
 *     buffers staged through the host when this build has no NCCL (said
 *     once per process on stderr);
 *   - "nccl": a GPU backend's buffers reduced on the device, one NCCL
 *     communicator per group.
 *
 * The order of the sum is fixed and the same in both: the buffer is cut into
 * k equal slices, member j gathers slice j of every member's buffer and adds
 * them as floats in the pairwise tree of the members: at stride s = 1, 2,
 * 4, ..., x_i += x_(i+s) for every i that is a multiple of 2s, so x_0 ends
 * as ((x_0 + x_1) + (x_2 + x_3)) + ... for k a power of two; then every
 * member gathers every slice. So the result is a function of the k partial
 * buffers alone (never of an algorithm choice of MPI or NCCL, or of the
 * network), the same bits on every member and in every run with the same k;
 * and it is the top of the tree in which a step adds its micro-batches'
 * gradients (src/step.h), which makes a group bit-identical to one rank.
 * k = 1 leaves the buffer as it is. */
#ifndef DS_GROUPCOMM_H
#define DS_GROUPCOMM_H

#include <mpi.h>
#include <stddef.h>

#include "backend.h"

typedef struct ds_group ds_group;

/* The group of every rank of comm (member j = rank j of comm), reducing
 * buffers of backend be of kind `kind` (cpu or cuda; be must outlive the
 * group). Collective over comm (the NCCL communicator is created here).
 * Returns 0 with *out set, or DS_EXIT_ERROR with err set. */
int ds_group_create(MPI_Comm comm, ds_backend_kind kind, ds_backend *be, ds_group **out,
                    ds_error *err);
void ds_group_free(ds_group *g);

int ds_group_rank(const ds_group *g); /* 0 .. size-1; member 0 is the group's leader */
int ds_group_size(const ds_group *g);
const char *ds_group_impl(const ds_group *g); /* "mpi" or "nccl" */

/* buf: n floats of backend memory, the same n on every member. Replaces
 * every member's buffer by the sum of all members' buffers in the order
 * above. Collective; errors end the process (the checked-call macros). */
void ds_group_sum(ds_group *g, float *buf, size_t n);

/* The same sum for n doubles in host memory (per-replica loss sums and
 * scored-token counts), added in the same tree in double. Collective. */
void ds_group_sum_host(ds_group *g, double *buf, size_t n);

/* The largest of every member's v (stop flags, exit codes), on every
 * member. Collective. */
int ds_group_max(ds_group *g, int v);

#endif
