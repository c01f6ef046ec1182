/* modelfile: the stored models of a sweep (run.save_models), one file per run.
 *
 * Owns OUT.h5.models/ and its files (docs/result-file.md "Stored models"):
 * scale<S>-seed<K>.safetensors holds the final fp32 parameters of run
 * (scale S, job seed K) as the tensors of src/model.h's flat layout under
 * their canonical names (ds_model_tensors), back to back in layout order, so
 * the data section is exactly the replica's P floats. The __metadata__
 * names the file (format "distsweep-model", format_version 1), the sweep
 * (name, sweep_hash), the run (scale, seed, steps), the model's shape
 * (d_model, n_layers, n_heads, head_dim, vocab_total, block, rotary_dims,
 * rope_base, ln_eps), the build (distsweep_version, git_commit) and an FNV-1a
 * 64 checksum of the data bytes.
 *
 * The worker that trained the run writes the file atomically (safetensors.h:
 * temporary name, fsync, rename, directory fsync) before it reports the run,
 * so a run the result file marks done always has its model when the sweep
 * saves it; a resume checks each one (ds_modelfile_check, the checksum too),
 * moves a damaged one aside (src/output.h names it) and runs again the done
 * runs whose model is missing or damaged. */
#ifndef DS_MODELFILE_H
#define DS_MODELFILE_H

#include <stdint.h>

#include "common.h"
#include "sweep.h"

#define DS_MODELFILE_FORMAT "distsweep-model"
#define DS_MODELFILE_VERSION 1

/* The directory of the stored models of result file out_path: OUT.h5.models
 * (src/output.h names the family). */
void ds_modelfile_dir(const char *out_path, char *buf, size_t n);
/* The file of run (scale, seed) in models directory dir. */
void ds_modelfile_path(const char *dir, int scale, int64_t seed, char *buf, size_t n);

/* Bytes of one stored model of scale `scale` of s (header included, within a
 * few hundred bytes): what `distsweep plan` adds up. */
double ds_modelfile_bytes(const ds_sweep *s, int scale);

/* Writes the P parameters (model.h layout) of run (scale, seed) of sweep s,
 * trained for `steps` steps, to path atomically. Returns 0 or
 * DS_EXIT_STORAGE with err naming the file and the cause. */
int ds_modelfile_save(const char *path, const ds_sweep *s, int scale, int64_t seed, int64_t steps,
                      const float *params, ds_error *err);

/* Checks the file of run (scale, seed) of s as a load would: it exists, its
 * header parses, it is a model of this sweep's definition (sweep_hash),
 * scale, seed and shape, with every tensor of the layout at its offset, the
 * file's size is what the header says (a torn file), and its data match the
 * header's checksum (a flipped bit): the data are read whole, once, and
 * freed. A resume checks each done run's model with it (src/cmd_run.c), so
 * a sweep that says "complete" holds no model that a load would refuse.
 * Returns 0 or DS_EXIT_ERROR with err saying what is wrong. */
int ds_modelfile_check(const char *path, const ds_sweep *s, int scale, int64_t seed, ds_error *err);

/* ds_modelfile_check, then reads the data and verifies its checksum.
 * On success *params is a malloc'd vector of the P floats (free it) and,
 * when steps is not NULL, *steps the steps trained. Errors: DS_EXIT_ERROR
 * with err naming the file and the problem; *params NULL. */
int ds_modelfile_load(const char *path, const ds_sweep *s, int scale, int64_t seed, float **params,
                      int64_t *steps, ds_error *err);

/* The resume's trust in stored models (`distsweep run`, and `distsweep
 * verify --repair`): when s saves models, checks the model of every run that
 * store marks done and whose seed run.save_models selects, in the models
 * directory of result file out, with ds_modelfile_check (its data checksum
 * included), and turns those that fail back into pending runs
 * (ds_store_reset_runs), which the sweep then trains again. A model file
 * that exists but fails is kept aside (ds_output_set_damaged_aside: NAME.damaged-<UTC
 * time>[-k]) with one line on stderr naming it. Sets *n_reset to the runs
 * reset and first (first_n bytes) to the first one's reason ("" when none).
 * Returns 0, or the error of the rename or of ds_store_reset_runs. */
struct ds_store;
int ds_modelfile_reset_unusable(const ds_sweep *s, const char *out, struct ds_store *store,
                                int *n_reset, char *first, size_t first_n, ds_error *err);

#endif
