/* hfmodel: reading a Hugging Face GPTNeoXForCausalLM directory into
 * distsweep's parameters (model.init.from, docs/sweep-file.md "model.init").
 *
 * A directory as save_pretrained writes it: config.json, and the weights as
 * model.safetensors or as shards named by model.safetensors.index.json's
 * weight_map; F32, F16 and BF16 tensors, converted to fp32 exactly. The
 * mapping is cmd_export.c's inverted: every tensor maps one to one
 * (gpt_neox.embed_in.weight -> wte, gpt_neox.layers.L.<name> -> layers.L.*,
 * gpt_neox.final_layer_norm.* -> lnf_*, embed_out.weight -> head_w), except
 * attention.query_key_value, whose rows HF orders [head][q, k, v][head_dim]
 * and distsweep [q, k, v][head][head_dim] (ds_hf_qkv_from_hf). The buffers
 * older checkpoints hold (attention.bias, attention.masked_bias,
 * rotary_emb.inv_freq) are ignored; any other tensor is an error.
 *
 * Owns no state: every call reads the directory afresh and never writes to
 * it. Every error is DS_EXIT_USAGE with err naming the file and, where there
 * is one, the tensor. */
#ifndef DS_HFMODEL_H
#define DS_HFMODEL_H

#include <stdint.h>

#include "common.h"
#include "model.h"
#include "sweep.h"

/* The architecture a config.json describes, in distsweep's terms. */
typedef struct {
    int d, L, H, hd, V; /* hidden_size, num_hidden_layers, num_attention_heads, head size, vocab_size */
    int rot;            /* rotated dims per head: int(hd * rotary_pct), Python's rule */
    double rotary_pct, rope_base, ln_eps;
    int parallel;       /* use_parallel_residual */
} ds_hf_config;

/* Reads DIR/config.json into c. Errors: no or unreadable config.json, not
 * JSON, model_type other than gpt_neox, a missing or out-of-range size,
 * an architecture distsweep's model is not (tie_word_embeddings true,
 * intermediate_size != 4 * hidden_size, hidden_act other than gelu,
 * attention_bias false, rope_scaling set, hidden_size not a multiple of
 * the heads, an odd number of rotated dims), each naming the key. */
int ds_hf_read_config(const char *dir, ds_hf_config *c, ds_error *err);

/* Reads every weight of DIR into params (ds_model_param_count floats of
 * configuration mc, distsweep's flat layout, model.h), whose d, L, H, hd
 * and V must be the config's. Errors: no safetensors weights, an index
 * that is not JSON with a weight_map, a shard that is missing, unreadable
 * or truncated, a tensor that is unknown, repeated, of another dtype than
 * F32/F16/BF16, mis-shaped or holding NaN/Inf, a tensor the model needs
 * that no file holds. params is undefined after an error. */
int ds_hf_load(const char *dir, const ds_model_config *mc, float *params, ds_error *err);

/* HF's fused query_key_value rows (3*H*hd rows of cols floats, row
 * (h*3 + part)*hd + j) to distsweep's (row (part*H + h)*hd + j): the
 * inverse of cmd_export.c's permutation. cols = d for the weight, 1 for the
 * bias. src and dst must not overlap. */
void ds_hf_qkv_from_hf(const float *src, float *dst, int H, int hd, size_t cols);

/* model.init.from of s: reads config.json, checks that the sweep agrees with
 * it and sets what it implies (model.head_dim, block, rotary_frac,
 * rope_base, ln_eps; the scales' n_heads), then reads every weight once to
 * check it (ds_hf_load; nothing is kept: the engine reads them again, once
 * per pack). Loading a sweep never reads DIR, so status and report read a
 * stored sweep on machines without it; the commands that build models from
 * a sweep (run, train, plan, bench) call this after loading, before they
 * write anything. Errors (DS_EXIT_USAGE): DIR's own (above), and
 * "FILE:LINE:COL: message" for a written model key that contradicts
 * config.json, a scale that is not the config's (hidden_size,
 * num_hidden_layers), a task whose vocabulary is not config's vocab_size
 * (distsweep's embedding and head have exactly the task's V rows), a
 * reinit layer the model does not have. Without model.init, or attached
 * already: 0, nothing read. The canonical text and yaml_hash do not change. */
int ds_hf_attach(ds_sweep *s, ds_error *err);

/* The seeds that key the reinitialized values and the training rows of job
 * seed `seed` (model.init.vary): seed itself, or seeds.start for the side
 * that vary keeps fixed. Without model.init both are seed. */
uint64_t ds_hf_weight_seed(const ds_sweep *s, int64_t seed);
uint64_t ds_hf_data_seed(const ds_sweep *s, int64_t seed);

/* keep[i] (one per tensor of ds_model_tensors(cfg), in its order) = 1 where
 * the tensor comes from the base model, 0 where model.init.reinit names it
 * (layer parts resolved against cfg->L, negative from the end; the layer
 * must exist: ds_hf_attach checked it). */
void ds_hf_keep_mask(const ds_init_spec *in, const ds_model_config *cfg, uint8_t *keep);

/* Replicas 0..R-1 of m at step 0 for job seeds seeds[]: without model.init
 * the spec's init (ds_model_init_replica); with it, the base model read
 * once (ds_hf_load) with the reinit parts drawn for weight seed
 * ds_hf_weight_seed (ds_model_init_replica_from). s must be attached.
 * Returns 0, or an error of ds_hf_load, or a nomem error for the host copy
 * of the base model. */
int ds_hf_init_pack(ds_model *m, const ds_sweep *s, const int64_t *seeds, int R, ds_error *err);

#endif
