/* checkpoint: one binary file holding everything needed to resume a pack.
 *
 * Owns the on-disk format (docs/engine.md): magic "DSCKPT01", format version,
 * a 32-bit tag of the sweep's hash (the word after the version; 0 in files
 * written before it, which are not checked), the identity of the pack (d, L,
 * V, H, R, P, batch, context, steps, the R
 * seeds), the training position (next step; the data position is a pure
 * function of it), wall time so far, per-replica active flags, last losses,
 * the partial loss window and the loss curve so far, then parameters and the
 * AdamW moments [R][P] each, and an FNV-1a 64 checksum of everything after the
 * magic. Writes go to PATH.tmp, are fsync'd and renamed over PATH, so a crash
 * leaves either the old or the new checkpoint, never a torn one. */
#ifndef DS_CHECKPOINT_H
#define DS_CHECKPOINT_H

#include <stdint.h>

#include "common.h"
#include "model.h"

#define DS_CKPT_MAGIC "DSCKPT01"
/* Version 2 added the evaluation points of train.eval_every (two header
 * fields, n_traj and traj_cap, and the trajectory [R][traj_cap][DS_N_METRICS]
 * after the curve). Version-1 files are read as before where the pack has no
 * trajectory (traj_cap 0); for a pack with one they are refused as made for
 * a different pack, so `run` sets them aside and the pack restarts. */
#define DS_CKPT_VERSION 2

/* The training state beside the model's tensors. Arrays are host memory the
 * caller owns: seeds/active/last_loss/window [R], curve [R][curve_cap]. */
typedef struct {
    int batch, context;
    int64_t steps;        /* train.steps (the schedule's length) */
    uint64_t sweep_hash;  /* the sweep's yaml_hash (src/sweep.h): every other hyperparameter */
    const int64_t *seeds;
    int64_t step;         /* steps done = next step to run */
    double wall_s;        /* training wall time accumulated so far */
    int n_curve, curve_cap;
    uint8_t *active;
    float *last_loss;
    double *window;       /* sum of the losses of the unfinished log window */
    float *curve;
    int n_traj, traj_cap; /* evaluation points done, and train.steps / train.eval_every */
    float *traj;          /* [R][traj_cap][DS_N_METRICS] (NULL when traj_cap is 0) */
} ds_ckpt_state;

/* Writes m's parameters and moments and st to path atomically. Returns 0 or
 * DS_EXIT_STORAGE with err naming the file and the cause (a full disk is the
 * storage's failure, not the run's); the previous checkpoint at path, if
 * any, is left as it was and PATH.tmp is removed. */
int ds_ckpt_save(const char *path, const ds_model *m, const ds_ckpt_state *st, ds_error *err);

/* Reads path into m and st. Nothing is installed until the whole file has
 * been read and verified: on any refusal m and st are unchanged.
 *
 * Returns 0, or:
 * - DS_EXIT_ERROR with *damage (if damage is not NULL) set to a few words
 *   saying why, when the file's content cannot be trusted: a wrong magic,
 *   version or size ("truncated", trailing bytes), a checksum mismatch, a
 *   training position outside the schedule, and a checkpoint of another pack
 *   (d, L, V, H, R, P, batch, context, steps, curve capacity or a seed
 *   differs from st's and m's) or of other hyperparameters (the sweep tag,
 *   where the file has one). Such a file is damaged: `run` sets it aside and
 *   trains the pack from its start (src/engine.c). err says what differs.
 * - DS_EXIT_ERROR with *damage NULL: path does not exist (ENOENT), or the
 *   pack's host buffer for the tensors cannot be allocated (err->nomem).
 * - DS_EXIT_STORAGE with *damage NULL: opening or reading failed with an
 *   error of the storage (EIO, EACCES, ...): the file is not judged. */
int ds_ckpt_load(const char *path, ds_model *m, ds_ckpt_state *st, const char **damage,
                 ds_error *err);

/* Checks the checkpoint at path on its own, read only and without a model
 * (`distsweep verify`): the magic, the format version, a header whose sizes
 * are sane and whose training position lies within the schedule, a file
 * exactly as long as the header says, and the checksum. Does not check that
 * it belongs to a pack of the sweep (the manifest beside it says which:
 * src/packplan.h). Returns 0, or DS_EXIT_ERROR with err saying what is
 * wrong ("checkpoint PATH: truncated (N bytes, the header says M)"). */
int ds_ckpt_check(const char *path, ds_error *err);

#endif
