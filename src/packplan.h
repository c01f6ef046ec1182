/* packplan: which runs go into which pack, and in which order rank 0 hands
 * the packs out (docs/design.md §7; docs/running.md, "What happens").
 *
 * Owns the pack table of one invocation (every pack with its state), the
 * plan that fills it — packs rebuilt from the manifests a previous
 * invocation left in the checkpoint directory, then the remaining pending
 * runs cut into packs of the pack size — the hand-out order (most expensive
 * first), the automatic pack size, and a pack's files in the checkpoint
 * directory: their names (a stem derived from the pack's seeds, so every
 * rank finds the same checkpoint), the manifest <stem>.pack, and removal of
 * <stem>.pack, <stem>.ckpt, <stem>.ckpt.tmp and <stem>.group.
 *
 * No MPI and no HDF5: the store's run statuses come in as a plain grid, so
 * tests/sched/test_packplan.c runs all of it without mpirun. The scheduler's
 * rank 0 (src/sched_rank0.c) moves packs between the states and trains them.
 *
 * Manifest (text, written once when the pack is first assigned):
 *   distsweep-pack 1
 *   <scale> <R>
 *   <seed>            R lines, the seed values in the pack's order
 * A manifest is used again only if it parses, names a scale and seeds of
 * the sweep whose stem is its file's name, and every one of its runs is still
 * pending and in no other rebuilt pack. One that fails the first checks is
 * damaged: it is moved aside to <stem>.pack.damaged-<UTC time>[-k] (src/output.h)
 * with one line on stderr. One whose runs are not all pending is stale (some
 * finished since). Either way its checkpoint and group file are removed and
 * its pending runs are planned afresh, nothing charged. */
#ifndef DS_PACKPLAN_H
#define DS_PACKPLAN_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h" /* ds_backend_kind */
#include "sweep.h"   /* ds_sweep */

/* Room for any pack file name built from a checkpoint directory below 4200 bytes. */
#define DS_PACK_PATH_MAX 4608

typedef enum {
    DS_PACK_PENDING, /* waiting to be handed out */
    DS_PACK_RUNNING, /* a rank trains it */
    DS_PACK_DONE,    /* every result arrived; its files go once they are stored */
    DS_PACK_DEAD,    /* finished and stored, or failed and replaced: seeds freed */
} ds_pack_state;

typedef struct {
    int scale, R;
    int64_t *seeds; /* R seed values, owned by the table; NULL once dead */
    double cost;    /* training FLOPs per step of the whole pack: R x flops_per_step */
    ds_pack_state state;
} ds_pack;

/* The pack table. Packs are never removed, so an index names one pack for
 * the whole invocation; pointers into p move when a pack is added. */
typedef struct {
    ds_pack *p;
    int n, cap;
} ds_packs;

/* Appends a pending pack of the R (>= 1) seeds given (copied) of scale,
 * costing flops_per_step per replica step; returns its index. */
int ds_packs_add(ds_packs *t, int scale, const int64_t *seeds, int R, double flops_per_step);

/* Pack i is finished with: state DS_PACK_DEAD, seeds freed. */
void ds_packs_kill(ds_packs *t, int i);

/* The pending pack to hand out next, or -1 when none is pending: the most
 * expensive (cost), ties broken by the lower scale, then the lower first
 * seed, then the lower index. */
int ds_packs_next(const ds_packs *t);

/* The same choice among the pending packs for which ok(p, ctx) is nonzero
 * (ok NULL: all of them): the scheduler's rank 0 takes only packs it can
 * train alone (src/sched_rank0.c). */
int ds_packs_next_where(const ds_packs *t, int (*ok)(const ds_pack *p, void *ctx), void *ctx);

/* How many packs are in state st. */
int ds_packs_count(const ds_packs *t, ds_pack_state st);

/* Frees every pack's seeds and the table; t is empty afterwards. */
void ds_packs_free(ds_packs *t);

/* The pack size used for `pending` runs on `nranks` ranks when run.pack is
 * auto: enough packs for every rank twice over, at least 1, at most 8 (CPU)
 * or 64 (GPU). */
int ds_pack_auto_size(int64_t pending, int nranks, ds_backend_kind backend);

/* An automatic pack size P for scale `scale` of s, cut to the largest pack
 * whose memory (ds_model_bytes, src/model.h: parameters, optimizer,
 * activations and the backend's own scratch) fits in device_bytes; at least
 * 1 (a seed that does not fit alone fails as any pack does). device_bytes 0:
 * P unchanged. */
int ds_pack_fit(const ds_sweep *s, int scale, int P, double device_bytes);

/* What ds_pack_plan plans from. */
typedef struct {
    const ds_sweep *s;       /* scales (flops_per_step), seeds.start, seeds.count */
    const uint8_t *status;   /* [n_scales][n_seeds] row-major: DS_RUN_* (engine.h) of each run */
    int64_t n_seeds;         /* the seed axis; 0 = seeds.count (an adaptive sweep's may be longer) */
    const char *ckdir;       /* checkpoint directory; may not exist (no manifests) */
    int pack;                /* pack size; 0 = automatic (ds_pack_auto_size) */
    int nranks;              /* for the automatic size */
    ds_backend_kind backend; /* for the automatic size */
    double device_bytes;     /* automatic size: each scale's packs fit this (ds_pack_fit); 0 = no limit */
} ds_plan_opts;

/* Fills the empty table t with a pending pack for every pending run: first
 * the packs of the valid manifests in o->ckdir (as they were, whatever the
 * rank count or pack size now; the stale ones are removed there with their
 * checkpoints), then, scale by scale in seed order, the pending runs no
 * manifest holds, o->pack (or the automatic size for their number) at a
 * time, the last pack of a scale taking the rest. No run is in two packs.
 * Returns the number of packs rebuilt from manifests. */
int ds_pack_plan(const ds_plan_opts *o, ds_packs *t);

/* out = "<ckdir>/s<scale>-<first seed>-r<R>-<hash of the seeds><ext>", e.g.
 * ext ".ckpt" for the pack's checkpoint: the same name on every rank. */
void ds_pack_path(const char *ckdir, int scale, const int64_t *seeds, int R, const char *ext,
                  char *out, size_t n);

/* Writes <stem>.pack for pack p unless it exists (through a temporary file
 * and rename, so a manifest is whole or absent). Best effort: without it a
 * resume starts the pack over, slower but still correct. */
void ds_pack_write_manifest(const char *ckdir, const ds_pack *p);

/* Reads the manifest at path against sweep s: on success returns 0 with
 * *scale, *R and *seeds (malloc'd, R values) set; -1 when the file cannot
 * be opened or read (an error of the storage); -2 when it is damaged:
 * garbled, bytes after the last seed, or a scale or a seed outside the sweep
 * (a seed may lie up to ds_sweep_max_seeds). Nothing is allocated on
 * failure. Whether the seeds match the file's name and its runs are still
 * pending is ds_pack_plan's check. */
int ds_pack_read_manifest(const char *path, const ds_sweep *s, int *scale, int *R,
                          int64_t **seeds);

/* The group file <stem>.group of a pack trained by a data-parallel group
 * (docs/design.md §8), for `distsweep status`: written by rank 0 when it
 * assigns the pack to the group (whole or absent, as the manifest), removed
 * with the pack's other files, and every one of them removed when a sweep
 * starts (no group trains then). Text:
 *   distsweep-group 1
 *   <scale> <R> <k>
 *   <rank>            k lines, the group's ranks, its leader first
 * Best effort, like the manifest: status only reports it. */
void ds_pack_write_group(const char *ckdir, const ds_pack *p, const int *ranks, int k);

/* Reads a group file: 0 with *scale, *R, *k and ranks[0..k-1] (at most
 * max_k) set, or -1 when it cannot be read or is garbled. */
int ds_pack_read_group(const char *path, int *scale, int *R, int *k, int *ranks, int max_k);

/* Removes every <stem>.group in ckdir (the start of a sweep). */
void ds_pack_remove_groups(const char *ckdir);

/* Removes pack p's manifest, checkpoint and any half-written checkpoint. */
void ds_pack_remove_files(const char *ckdir, const ds_pack *p);

#endif
