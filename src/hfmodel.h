/* hfmodel: reading a Hugging Face GPTNeoXForCausalLM, LlamaForCausalLM or
 * Qwen2ForCausalLM directory into distsweep's parameters (model.init.from,
 * docs/sweep-file.md "model.init").
 *
 * A directory as save_pretrained writes it: config.json, and the weights as
 * model.safetensors or as shards named by model.safetensors.index.json's
 * weight_map; F32, F16 and BF16 tensors, converted to fp32 exactly.
 *
 * GPT-NeoX (model_type gpt_neox, the parallel and sequential blocks): the
 * mapping is cmd_export.c's inverted: every tensor maps one to one
 * (gpt_neox.embed_in.weight -> wte, gpt_neox.layers.L.<name> -> layers.L.*,
 * gpt_neox.final_layer_norm.* -> lnf_*, embed_out.weight -> head_w), except
 * attention.query_key_value, whose rows HF orders [head][q, k, v][head_dim]
 * and distsweep [q, k, v][head][head_dim] (ds_hf_qkv_from_hf). The buffers
 * older checkpoints hold (attention.bias, attention.masked_bias,
 * rotary_emb.inv_freq) are ignored; any other tensor is an error.
 *
 * Llama and Qwen2 (model_type llama, qwen2: block llama, src/model.h): rows
 * are copied as they are, into place: model.embed_tokens -> wte;
 * model.layers.L.input_layernorm -> ln1_w; self_attn.q_proj, k_proj,
 * v_proj (weight, and bias where the model has them) -> rows 0..d-1,
 * d..d+kv-1, d+kv..d+2kv-1 of qkv_w (qkv_b); self_attn.o_proj ->
 * attn_out_w; post_attention_layernorm -> ln2_w; mlp.gate_proj, up_proj ->
 * rows 0..F-1, F..2F-1 of gate_up_w; mlp.down_proj -> down_w; model.norm
 * -> lnf_w; lm_head -> head_w (absent when tie_word_embeddings: then the
 * head is wte, or, when the model is untied (model.init unties a
 * reinitialized head), head_w starts as a copy of wte). No permutation:
 * q_proj's rows are [head][head_dim] as distsweep's, HF's rotate_half pairs
 * dim j with j + head_dim/2 as the llama block does, with the same
 * frequencies rope_theta^(-2j/head_dim), and q head h reads kv head
 * h / (H/K) in both (repeat_kv). rotary_emb.inv_freq is ignored.
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

/* The architecture of a directory (config.json's model_type). */
typedef enum { DS_HF_GPT_NEOX = 0, DS_HF_LLAMA, DS_HF_QWEN2 } ds_hf_arch;

/* "GPT-NeoX", "Llama", "Qwen2"; the transformers class of each. */
const char *ds_hf_arch_name(ds_hf_arch a);
const char *ds_hf_arch_class(ds_hf_arch a);

/* The architecture a config.json describes, in distsweep's terms. */
typedef struct {
    ds_hf_arch arch;
    int d, L, H, hd, V; /* hidden_size, num_hidden_layers, num_attention_heads, head size, vocab_size */
    int rot;            /* rotated dims per head: int(hd * rotary_pct), Python's rule (llama: hd) */
    double rotary_pct, rope_base, ln_eps; /* llama: 1, rope_theta, rms_norm_eps */
    int parallel;       /* use_parallel_residual (llama: 0) */
    /* llama and qwen2 only */
    int K, F;           /* num_key_value_heads, intermediate_size */
    int qkv_bias, tie;  /* q/k/v biases (qwen2 always, llama attention_bias), tie_word_embeddings */
} ds_hf_config;

/* Reads DIR/config.json into c. Errors: no or unreadable config.json, not
 * JSON, model_type other than gpt_neox, llama, qwen2, a missing or
 * out-of-range size, an architecture distsweep's model is not, each naming
 * the key. gpt_neox: tie_word_embeddings true, intermediate_size != 4 *
 * hidden_size, hidden_act other than gelu, attention_bias false, an odd
 * number of rotated dims. llama/qwen2: hidden_act other than silu,
 * num_key_value_heads not dividing num_attention_heads, head_dim other
 * than hidden_size / heads, use_sliding_window or mlp_bias true, a Llama
 * attention_bias true (transformers' Llama then biases o_proj as well).
 * Both: rope_scaling set, hidden_size not a multiple of the heads. */
int ds_hf_read_config(const char *dir, ds_hf_config *c, ds_error *err);

/* Reads every weight of DIR into params (ds_model_params floats of
 * configuration mc, distsweep's flat layout, model.h), whose block and
 * shapes must be the config's (what ds_hf_attach sets; llama: mc->tie may
 * be 0 for a tied file, then head_w is a copy of wte). Errors: no safetensors weights, an index
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
 * rope_base, ln_eps; llama/qwen2 also kv_heads, mlp_hidden, qkv_bias,
 * tie_embeddings; the scales' n_heads, n_params, flops_per_step), then reads every weight once to
 * check it (ds_hf_load; nothing is kept: the engine reads them again, once
 * per pack). Loading a sweep never reads DIR, so status and report read a
 * stored sweep on machines without it; the commands that build models from
 * a sweep (run, train, plan, bench) call this after loading, before they
 * write anything (with in->config_only, set by the commands that only read
 * stored models, the weights are not read). Errors (DS_EXIT_USAGE): DIR's own (above), and
 * "FILE:LINE:COL: message" for a written model key that contradicts
 * config.json, a scale that is not the config's (hidden_size,
 * num_hidden_layers), a task whose vocabulary is not config's vocab_size
 * (distsweep's embedding and head have exactly the task's V rows), a
 * reinit layer the model does not have, a llama key (kv_heads, ...) with a
 * gpt_neox directory. A condition with its own base (a values family over
 * model.init.from) is checked the same way against its own config.json
 * (written keys, reinit layers; its (width, depth) must be that config's)
 * and must share the block and vocab_size of model.init.from; its
 * architecture goes to its ds_scale.arch (set 1; the plain scales' stay
 * 0), so bases of different sizes are conditions of one sweep. The untie rule: when config.json ties the head
 * (tie_word_embeddings) and model.init.reinit names the head (or
 * model.tie_embeddings false is written), the model is untied: tie_embeddings
 * 0, in->untied 1, and unless in->quiet one note on stderr says so;
 * model.tie_embeddings true written with the head reinitialized is an
 * error. Without model.init, or attached already: 0, nothing read. The
 * canonical text and yaml_hash do not change. */
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
