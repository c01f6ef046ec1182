/* cmd_export: `distsweep export OUT.h5 --scale S --seed K -o DIR` writes the
 * stored model of one run (run.save_models, src/modelfile.h) as a Hugging
 * Face GPT-NeoX model directory: config.json (GPTNeoXConfig),
 * model.safetensors (GPTNeoXForCausalLM's parameter names and layouts), a
 * word-level tokenizer over the task's tokens (tokenizer.json,
 * tokenizer_config.json, special_tokens_map.json) and a README naming the
 * sweep, scale, seed, metrics and commits.
 *
 * The mapping (docs/result-file.md "Export"): distsweep's model is GPT-NeoX
 * with library defaults (docs/spec-tasks.md §3), so every tensor maps one to
 * one, except query_key_value: distsweep stores q, k, v as three [d][d]
 * blocks (src/model.h), HF splits the fused output per head as
 * [head][q, k, v][head_dim], so rows are permuted (bias alike). RoPE needs
 * no permutation: both rotate the first rotary_ndims dims of each head with
 * rotate-half pairing (j with j + rot/2, src/backend_cpu.c rope_rotate;
 * HF's rotate_half) and the same frequencies base^(-2j/rot).
 * tests/models/test_models.py (ctest models.hf) proves the whole mapping on
 * the logits.
 *
 * Block llama is written as Qwen2ForCausalLM when q, k, v have biases (its
 * exact layout) and LlamaForCausalLM otherwise (transformers' Llama with
 * attention_bias would bias o_proj too), with the names src/hfmodel.h
 * reads: q/k/v_proj and gate/up_proj are row ranges of qkv_w and gate_up_w,
 * no permutation (HF's rotate_half is the block's pairing), no lm_head when
 * tied; tests/hf/test_hf.py (ctest hf.llama) checks logits and greedy EM. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h> /* access */

#include "cli.h"
#include "common.h"
#include "h5check.h"
#include "model.h"
#include "modelfile.h"
#include "safetensors.h"
#include "tasks.h"
#include "tokenizer.h"
#include "version.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: distsweep export OUT.h5 --scale S --seed K -o DIR\n\n"
            "Writes the stored model of run (scale S, seed K) of result file OUT.h5 as a\n"
            "Hugging Face GPT-NeoX directory (block llama: Qwen2 with q/k/v biases, else\n"
            "Llama): config.json, model.safetensors, tokenizer.json\n"
            "(+ tokenizer_config.json, special_tokens_map.json) and README.md, so that\n"
            "  AutoModelForCausalLM.from_pretrained(DIR) and AutoTokenizer.from_pretrained(DIR)\n"
            "load it. Models are stored for the seeds the sweep's run.save_models selects.\n\n"
            "  --scale S   a row of /scales (0, 1, ...) or a scale's name (d64_L2)\n"
            "  --seed K    a job seed\n"
            "  -o DIR      the directory to write (created; files in it are replaced)\n"
            "  --tokenizer FILE  a corpus task's tokenizer.json, copied into DIR (default: the\n"
            "              sweep's task.tokenizer, a relative one taken from OUT.h5's directory)\n"
            "exit codes: 0 written, 1 a damaged model file, 2 usage, or the run has no stored\n"
            "model, 4 DIR could not be written\n");
}

/* Opens DIR/name for writing. */
static FILE *open_out(const char *dir, const char *name, char *path, size_t n, ds_error *err) {
    snprintf(path, n, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        char cause[256];
        ds_strerror_lc(errno, cause, sizeof cause);
        ds_error_set(err, DS_EXIT_STORAGE, "%s: cannot create: %s", path, cause);
    }
    return f;
}

static int close_out(FILE *f, const char *path, ds_error *err) {
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        char cause[256];
        ds_strerror_lc(errno ? errno : EIO, cause, sizeof cause);
        return ds_error_set(err, DS_EXIT_STORAGE, "%s: cannot write: %s", path, cause);
    }
    return 0;
}

/* The id of the token printed as name, or -1. */
static int token_id(const ds_task_spec *t, const char *name) {
    const ds_task_ops *ops = ds_task_get(t);
    int V = ops->vocab_total(t);
    char b[32];
    for (int i = 0; i < V; i++) {
        ops->token_name(t, i, b, sizeof b);
        if (!strcmp(b, name)) return i;
    }
    return -1;
}

/* HF's rotary_pct: a fraction whose int(head_size * pct) (Python, float64)
 * is exactly distsweep's rotated dims. */
static double rotary_pct(int rot, int hd) {
    double p = (double)rot / hd;
    while ((int)(hd * p) < rot) p = nextafter(p, 1.0);
    return p;
}

/* config.json of model c; md: its condition's model section (ds_scale_model:
 * a condition's own base may have its own rope base and eps). */
static int write_config(const char *dir, const ds_model_config *c, const ds_sweep *s,
                        const ds_model_spec *md, ds_error *err) {
    char path[4400];
    FILE *f = open_out(dir, "config.json", path, sizeof path, err);
    if (!f) return err->code;
    int bos = token_id(&s->task, "$"), eos = token_id(&s->task, "."), pad = token_id(&s->task, "*");
    if (s->task.kind == DS_TASK_CORPUS) bos = eos = pad = s->task.eot; /* -1: none (null) */
    char sb[3][16];
    int ids[3] = {bos, eos, pad};
    for (int k = 0; k < 3; k++) {
        if (ids[k] >= 0) snprintf(sb[k], sizeof sb[k], "%d", ids[k]);
        else snprintf(sb[k], sizeof sb[k], "null");
    }
    int maxpos = s->train.context > 2048 ? s->train.context : 2048;
    if (c->block == DS_BLOCK_LLAMA) {
        /* Qwen2 when q, k, v have biases (its exact layout: transformers'
         * Llama with attention_bias would bias o_proj too), else Llama */
        int qwen = c->qkv_bias;
        fprintf(f,
                "{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"%s\",\n"
                "  \"vocab_size\": %d,\n  \"hidden_size\": %d,\n  \"num_hidden_layers\": %d,\n"
                "  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n"
                "  \"intermediate_size\": %d,\n  \"hidden_act\": \"silu\",\n"
                "  \"rope_theta\": %.17g,\n  \"rope_scaling\": null,\n"
                "  \"max_position_embeddings\": %d,\n  \"rms_norm_eps\": %.17g,\n"
                "  \"initializer_range\": %.17g,\n  \"tie_word_embeddings\": %s,\n"
                "  \"attention_bias\": %s,\n  \"attention_dropout\": 0.0,\n%s"
                "  \"use_cache\": true,\n  \"bos_token_id\": %s,\n  \"eos_token_id\": %s,\n"
                "  \"pad_token_id\": %s,\n  \"torch_dtype\": \"float32\",\n"
                "  \"transformers_version\": \"4.40.2\"\n}\n",
                qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM", qwen ? "qwen2" : "llama", c->V, c->d,
                c->L, c->H, c->K, c->F, md->rope_base, maxpos, md->ln_eps,
                md->init_std, c->tie ? "true" : "false", qwen ? "true" : "false",
                qwen ? "  \"use_sliding_window\": false,\n" : "  \"mlp_bias\": false,\n", sb[0],
                sb[1], sb[2]);
        return close_out(f, path, err);
    }
    fprintf(f,
            "{\n  \"architectures\": [\"GPTNeoXForCausalLM\"],\n  \"model_type\": \"gpt_neox\",\n"
            "  \"vocab_size\": %d,\n  \"hidden_size\": %d,\n  \"num_hidden_layers\": %d,\n"
            "  \"num_attention_heads\": %d,\n  \"intermediate_size\": %d,\n"
            "  \"hidden_act\": \"gelu\",\n  \"rotary_pct\": %.17g,\n  \"rotary_emb_base\": %.17g,\n"
            "  \"max_position_embeddings\": %d,\n  \"layer_norm_eps\": %.17g,\n"
            "  \"initializer_range\": %.17g,\n  \"use_parallel_residual\": %s,\n"
            "  \"tie_word_embeddings\": false,\n  \"attention_bias\": true,\n"
            "  \"attention_dropout\": 0.0,\n  \"hidden_dropout\": 0.0,\n  \"rope_scaling\": null,\n"
            "  \"use_cache\": true,\n  \"bos_token_id\": %s,\n  \"eos_token_id\": %s,\n"
            "  \"pad_token_id\": %s,\n  \"torch_dtype\": \"float32\",\n"
            "  \"transformers_version\": \"4.40.2\"\n}\n",
            c->V, c->d, c->L, c->H, 4 * c->d, rotary_pct(c->rot, c->hd), md->rope_base, maxpos,
            md->ln_eps, md->init_std, c->block == DS_BLOCK_PARALLEL ? "true" : "false",
            sb[0], sb[1], sb[2]);
    return close_out(f, path, err);
}

/* tokenizer.json: a word-level vocabulary of the task's token names, split on
 * whitespace; the specials ($ BOS, > separator, . EOS, * PAD) are special
 * added tokens. Unknown words map to the pad token "*". */
static int write_tokenizer(const char *dir, const ds_sweep *s, int context, ds_error *err) {
    const ds_task_ops *ops = ds_task_get(&s->task);
    int V = ops->vocab_total(&s->task), rc;
    char path[4400], b[32];
    static const char *special[] = {"$", ">", ".", "*"};
    FILE *f = open_out(dir, "tokenizer.json", path, sizeof path, err);
    if (!f) return err->code;
    fprintf(f, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n"
            "  \"added_tokens\": [");
    int first = 1;
    for (int k = 0; k < 4; k++) {
        int id = token_id(&s->task, special[k]);
        if (id < 0) continue;
        fprintf(f, "%s\n    {\"id\": %d, \"content\": ", first ? "" : ",", id);
        ds_json_str(f, special[k]);
        fprintf(f, ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
                "\"normalized\": false, \"special\": true}");
        first = 0;
    }
    fprintf(f, "\n  ],\n  \"normalizer\": null,\n  \"pre_tokenizer\": {\"type\": \"WhitespaceSplit\"},\n"
            "  \"post_processor\": null,\n  \"decoder\": null,\n"
            "  \"model\": {\"type\": \"WordLevel\", \"unk_token\": \"*\", \"vocab\": {");
    for (int i = 0; i < V; i++) {
        ops->token_name(&s->task, i, b, sizeof b);
        fprintf(f, "%s", i ? ", " : "");
        ds_json_str(f, b);
        fprintf(f, ": %d", i);
    }
    fprintf(f, "}}\n}\n");
    if ((rc = close_out(f, path, err))) return rc;

    const char *map = "\"bos_token\": \"$\", \"eos_token\": \".\", \"pad_token\": \"*\", \"unk_token\": \"*\"";
    if (!(f = open_out(dir, "special_tokens_map.json", path, sizeof path, err))) return err->code;
    fprintf(f, "{%s}\n", map);
    if ((rc = close_out(f, path, err))) return rc;
    if (!(f = open_out(dir, "tokenizer_config.json", path, sizeof path, err))) return err->code;
    /* no cleanup of spaces: " ." is a token boundary here, not English punctuation */
    fprintf(f, "{\"tokenizer_class\": \"PreTrainedTokenizerFast\", %s, "
            "\"clean_up_tokenization_spaces\": false, \"model_max_length\": %d}\n", map, context);
    return close_out(f, path, err);
}

/* A corpus task's tokenizer: tokenizer.json copied byte for byte from tok_path
 * (the tokenizer the shards were written with: tools/tokenize_corpus.py), and
 * tokenizer_config.json naming the end-of-text token (task.eot) as BOS, EOS
 * and PAD when the sweep gives one. */
static int write_corpus_tokenizer(const char *dir, const ds_sweep *s, const char *tok_path, int context,
                                  ds_error *err) {
    int rc = DS_EXIT_USAGE;
    char path[4400];
    FILE *in = NULL, *f = NULL;
    ds_tokenizer *tok = NULL;
    if ((rc = ds_tokenizer_load(tok_path, &tok, err))) goto done; /* a tokenizer.json, and eot's text */
    rc = DS_EXIT_USAGE;
    if (!(in = fopen(tok_path, "rb"))) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: cannot read: %s", tok_path, strerror(errno));
        goto done;
    }
    if (!(f = open_out(dir, "tokenizer.json", path, sizeof path, err))) {
        rc = err->code;
        goto done;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, f);
    rc = close_out(f, path, err);
    f = NULL;
    if (rc) goto done;
    if (!(f = open_out(dir, "tokenizer_config.json", path, sizeof path, err))) {
        rc = err->code;
        goto done;
    }
    fprintf(f, "{\"tokenizer_class\": \"PreTrainedTokenizerFast\", \"model_max_length\": %d", context);
    int len = 0;
    const char *eot = s->task.eot >= 0 ? ds_tokenizer_piece(tok, s->task.eot, &len) : NULL;
    if (eot) {
        char text[256];
        snprintf(text, sizeof text, "%.*s", len < 255 ? len : 255, eot);
        const char *keys[] = {"bos_token", "eos_token", "pad_token"};
        for (int k = 0; k < 3; k++) {
            fprintf(f, ", \"%s\": ", keys[k]);
            ds_json_str(f, text);
        }
    }
    fprintf(f, "}\n");
    rc = close_out(f, path, err);
    f = NULL;
done:
    if (in) fclose(in);
    if (f) fclose(f);
    ds_tokenizer_free(tok);
    return rc;
}

/* model.safetensors of block llama: Llama's / Qwen2's names (src/hfmodel.h,
 * the import's mapping inverted): q, k, v and gate, up are row ranges of
 * qkv_w (qkv_b) and gate_up_w, written as they lie; no lm_head when tied. */
static int write_llama_weights(const char *path, const ds_model_config *c, const float *params,
                               const char *const *meta, int n_meta, ds_error *err) {
    int nt = ds_model_tensors(c, NULL), n = 0;
    ds_param_tensor *pt = DS_MALLOC(sizeof *pt * (size_t)nt);
    ds_model_tensors(c, pt);
    int cap = 3 * nt + 4;
    ds_st_tensor *t = DS_CALLOC((size_t)cap, sizeof *t);
    int64_t d = c->d, kv = (int64_t)c->K * c->hd, F = c->F;
    for (int i = 0; i < nt; i++) {
        const char *nm = pt[i].name;
        int l = -1;
        char rest[32] = "";
        if (!strncmp(nm, "layers.", 7)) sscanf(nm, "layers.%d.%31s", &l, rest);
        /* pieces of this tensor: HF name, first row, rows */
        struct { char name[DS_ST_NAME_MAX]; int64_t row0, rows; } pc[3];
        int np = 1;
        pc[0].row0 = 0, pc[0].rows = pt[i].shape[0];
        if (!strcmp(nm, "wte")) snprintf(pc[0].name, sizeof pc[0].name, "model.embed_tokens.weight");
        else if (!strcmp(nm, "lnf_w")) snprintf(pc[0].name, sizeof pc[0].name, "model.norm.weight");
        else if (!strcmp(nm, "head_w")) snprintf(pc[0].name, sizeof pc[0].name, "lm_head.weight");
        else if (!strcmp(rest, "qkv_w") || !strcmp(rest, "qkv_b")) {
            static const char *const proj[3] = {"q_proj", "k_proj", "v_proj"};
            const int64_t r0[3] = {0, d, d + kv}, nr[3] = {d, kv, kv};
            np = 3;
            for (int k = 0; k < 3; k++) {
                snprintf(pc[k].name, sizeof pc[k].name, "model.layers.%d.self_attn.%s.%s", l, proj[k],
                         rest[4] == 'w' ? "weight" : "bias");
                pc[k].row0 = r0[k], pc[k].rows = nr[k];
            }
        } else if (!strcmp(rest, "gate_up_w")) {
            np = 2;
            snprintf(pc[0].name, sizeof pc[0].name, "model.layers.%d.mlp.gate_proj.weight", l);
            snprintf(pc[1].name, sizeof pc[1].name, "model.layers.%d.mlp.up_proj.weight", l);
            pc[0].rows = pc[1].rows = pc[1].row0 = F;
        } else {
            static const char *const one[][2] = {{"ln1_w", "input_layernorm.weight"},
                                                 {"attn_out_w", "self_attn.o_proj.weight"},
                                                 {"ln2_w", "post_attention_layernorm.weight"},
                                                 {"down_w", "mlp.down_proj.weight"}};
            int k = 0;
            while (k < 4 && strcmp(rest, one[k][0])) k++;
            DS_ASSERT(l >= 0 && k < 4); /* ds_model_tensors' llama names */
            snprintf(pc[0].name, sizeof pc[0].name, "model.layers.%d.%s", l, one[k][1]);
        }
        for (int k = 0; k < np; k++) {
            DS_ASSERT(n < cap);
            ds_st_tensor *x = &t[n++];
            memcpy(x->name, pc[k].name, sizeof x->name);
            x->ndim = pt[i].ndim;
            x->shape[0] = pc[k].rows;
            x->shape[1] = pt[i].shape[1];
            x->data = params + pt[i].offset + (size_t)pc[k].row0 * (size_t)(pt[i].ndim == 2 ? pt[i].shape[1] : 1);
        }
    }
    int rc = ds_st_write(path, t, n, meta, n_meta, err);
    free(pt);
    free(t);
    return rc;
}

/* model.safetensors's path in dir (path: 4400 bytes) and its metadata pairs
 * (meta: 2 x WEIGHTS_META; steps, 32 bytes, holds the run's step count), the
 * same for either block's layout. */
enum { WEIGHTS_META = 5 };
static void weights_meta(const char *dir, const ds_cli_stored_run *run, char *path, char *steps,
                         const char **meta) {
    snprintf(path, 4400, "%s/model.safetensors", dir);
    snprintf(steps, 32, "%lld", (long long)run->steps);
    const char *m[2 * WEIGHTS_META] = {"format", "pt", "distsweep_sweep", run->s->name, "distsweep_scale",
                                       run->res.scale_name[run->scale], "distsweep_steps", steps,
                                       "distsweep_git_commit", run->res.git_commit};
    memcpy(meta, m, sizeof m);
}

/* model.safetensors: HF's names; query_key_value rows permuted from
 * distsweep's [q|k|v][head][dim] to HF's [head][q|k|v][dim]. */
static int write_weights(const char *dir, const ds_model_config *c, const ds_cli_stored_run *run,
                         ds_error *err) {
    if (c->block == DS_BLOCK_LLAMA) {
        char path[4400], steps[32];
        const char *meta[2 * WEIGHTS_META];
        weights_meta(dir, run, path, steps, meta);
        return write_llama_weights(path, c, run->params, meta, WEIGHTS_META, err);
    }
    int nt = ds_model_tensors(c, NULL), rc;
    ds_param_tensor *pt = DS_MALLOC(sizeof *pt * (size_t)nt);
    ds_model_tensors(c, pt);
    ds_st_tensor *t = DS_CALLOC((size_t)nt, sizeof *t);
    size_t d = (size_t)c->d, hd = (size_t)c->hd;
    float *perm = DS_MALLOC(sizeof(float) * (size_t)c->L * (3 * d * d + 3 * d));
    static const char *hf_layer[12] = {
        "input_layernorm.weight", "input_layernorm.bias", "attention.query_key_value.weight",
        "attention.query_key_value.bias", "attention.dense.weight", "attention.dense.bias",
        "post_attention_layernorm.weight", "post_attention_layernorm.bias",
        "mlp.dense_h_to_4h.weight", "mlp.dense_h_to_4h.bias", "mlp.dense_4h_to_h.weight",
        "mlp.dense_4h_to_h.bias"};
    for (int i = 0; i < nt; i++) {
        t[i].ndim = pt[i].ndim;
        t[i].shape[0] = pt[i].shape[0];
        t[i].shape[1] = pt[i].shape[1];
        t[i].data = run->params + pt[i].offset;
        if (i == 0) snprintf(t[i].name, sizeof t[i].name, "gpt_neox.embed_in.weight");
        else if (i == nt - 3) snprintf(t[i].name, sizeof t[i].name, "gpt_neox.final_layer_norm.weight");
        else if (i == nt - 2) snprintf(t[i].name, sizeof t[i].name, "gpt_neox.final_layer_norm.bias");
        else if (i == nt - 1) snprintf(t[i].name, sizeof t[i].name, "embed_out.weight");
        else {
            int l = (i - 1) / 12, k = (i - 1) % 12;
            snprintf(t[i].name, sizeof t[i].name, "gpt_neox.layers.%d.%s", l, hf_layer[k]);
            if (k == 2 || k == 3) {
                /* row (part, head, j) of distsweep -> row (head, part, j) of HF */
                size_t cols = k == 2 ? d : 1;
                float *dst = perm + (size_t)l * (3 * d * d + 3 * d) + (k == 3 ? 3 * d * d : 0);
                const float *src = run->params + pt[i].offset;
                for (size_t part = 0; part < 3; part++)
                    for (size_t h = 0; h < (size_t)c->H; h++)
                        for (size_t j = 0; j < hd; j++)
                            memcpy(dst + ((h * 3 + part) * hd + j) * cols,
                                   src + (part * d + h * hd + j) * cols, sizeof(float) * cols);
                t[i].data = dst;
            }
        }
    }
    char path[4400], steps[32];
    const char *meta[2 * WEIGHTS_META];
    weights_meta(dir, run, path, steps, meta);
    rc = ds_st_write(path, t, nt, meta, WEIGHTS_META, err);
    free(pt);
    free(t);
    free(perm);
    return rc;
}

static int write_readme(const char *dir, const ds_model_config *c, const ds_cli_stored_run *run,
                        const char *h5, ds_error *err) {
    char path[4400];
    FILE *f = open_out(dir, "README.md", path, sizeof path, err);
    if (!f) return err->code;
    const ds_results *r = &run->res;
    const ds_sweep *s = run->s;
    ds_model_spec md; /* the condition's (its own base's architecture, if any) */
    ds_scale_model(s, run->scale, &md);
    fprintf(f, "# distsweep model: sweep `%s`, scale `%s`, seed %lld\n\n", s->name,
            r->scale_name[run->scale], (long long)run->seed);
    fprintf(f, "Exported by `distsweep export` (distsweep %s, git %s) from `%s`, a result file\n"
            "written by distsweep git %s (created %s, sweep_hash %s).\n\n", DS_VERSION,
            DS_GIT_COMMIT, h5, r->git_commit, r->created, r->sweep_hash);
    const char *cls = c->block != DS_BLOCK_LLAMA ? "GPTNeoXForCausalLM"
                      : c->qkv_bias ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
    if (c->block == DS_BLOCK_LLAMA)
        fprintf(f, "- model: %s (distsweep's llama block), d_model %d, %d layer(s), %d head(s) of %d "
                "with %d key/value head(s), SwiGLU MLP of %d, %s, RMSNorm eps %g, rotary base %g, "
                "%s head, %lld parameters\n", c->qkv_bias ? "Qwen2" : "Llama",
                c->d, c->L, c->H, c->hd, c->K, c->F, c->qkv_bias ? "q/k/v biases" : "no biases",
                md.ln_eps, md.rope_base, c->tie ? "tied" : "untied",
                (long long)r->n_params[run->scale]);
    else
        fprintf(f, "- model: GPT-NeoX, d_model %d, %d layer(s), %d head(s) of %d, %s block, "
                "rotary dims %d of %d (base %g), LayerNorm eps %g, untied head, %lld parameters\n",
                c->d, c->L, c->H, c->hd, c->block == DS_BLOCK_PARALLEL ? "parallel" : "sequential",
                c->rot, c->hd, md.rope_base, md.ln_eps,
                (long long)r->n_params[run->scale]);
    if (s->model.init.enabled) {
        /* model.init: the base and what each seed drew afresh (docs/sweep-file.md) */
        static const char *const parts[] = {"attention", "mlp", "block", "head", "final_norm",
                                            "embeddings"};
        static const char *const varies[] = {"both", "weights", "data"};
        const ds_init_spec *in = &s->model.init;
        ds_sweep *base = ds_sweep_condition(s, run->scale); /* a condition's own base */
        fprintf(f, "- started from the Hugging Face model `%s` (model.init.from), continued by training; "
                "reinitialized for this seed by distsweep's init rule:", base->model.init.from);
        free(base);
        for (int i = 0; i < in->n_reinit; i++) {
            const ds_reinit_part *p = &in->reinit[i];
            if (p->kind < DS_REINIT_HEAD) fprintf(f, "%s layer %d %s", i ? "," : "", p->layer, parts[p->kind]);
            else fprintf(f, "%s %s", i ? "," : "", parts[p->kind]);
        }
        fprintf(f, "%s (seed varies: %s)\n", in->n_reinit ? "" : " nothing", varies[in->vary]);
        if (md.init.untied) {
            int head = 0;
            for (int i = 0; i < in->n_reinit; i++) head |= in->reinit[i].kind == DS_REINIT_HEAD;
            fprintf(f, "- untied: the base ties its head to its embeddings (tie_word_embeddings); %s, "
                    "so this model is untied (tie_word_embeddings false): its embeddings are the "
                    "base's, continued by training, and its head (lm_head) started from %s\n",
                    head ? "the head is reinitialized" : "model.tie_embeddings is false",
                    head ? "this seed's fresh init, not from the embeddings" : "a copy of the embeddings");
        }
    }
    if (s->task.kind == DS_TASK_CORPUS) { /* text: its sources, and how to use it */
        const ds_task_spec *t = &s->task;
        const ds_scale *sc = &s->scales[run->scale];
        fprintf(f, "- task: corpus, vocabulary %d, trained for %lld steps (train.precision %s), "
                "seed %lld, on the mixture", t->vocab, (long long)run->steps,
                r->precision && r->precision[0] ? r->precision : "fp32", (long long)run->seed);
        ds_sweep *cond = ds_sweep_condition(s, run->scale); /* a values family's weights */
        for (int k = 0; k < t->n_sources; k++)
            fprintf(f, "%s `%s` (%s, weight %g%s)", k ? "," : "", t->sources[k].name,
                    t->sources[k].path, cond->task.sources[k].weight,
                    t->sources[k].loss == DS_LOSS_ANSWER ? ", loss on the answer spans" : "");
        free(cond);
        for (int k = 0; k < sc->n_settings; k++)
        {
            char v[DS_SETTING_TEXT_MAX];
            fprintf(f, "%s%s = %s", k ? ", " : "; this condition sets ", sc->settings[k].key,
                    ds_setting_str(&sc->settings[k], v, sizeof v));
        }
        fprintf(f, "\n\nThe tokenizer is the corpus's own (task.tokenizer). In transformers:\n\n"
                "```python\nfrom transformers import AutoTokenizer, %s\n"
                "tok = AutoTokenizer.from_pretrained(DIR)\nmodel = %s.from_pretrained(DIR)\n"
                "ids = tok(\"Some text\", return_tensors=\"pt\").input_ids\n"
                "print(tok.decode(model.generate(ids, max_new_tokens=20, do_sample=False)[0]))\n```\n", cls, cls);
        return close_out(f, path, err);
    }
    fprintf(f, "- task: %s", s->task.kind == DS_TASK_COUNT ? "count" : "addition");
    if (s->task.kind == DS_TASK_COUNT) fprintf(f, " (vocab %d)", s->task.vocab);
    fprintf(f, ", trained on lengths %d..%d for %lld steps (train.precision %s), seed %lld\n\n",
            s->task.train_min, s->task.train_max, (long long)run->steps,
            r->precision && r->precision[0] ? r->precision : "fp32", (long long)run->seed);
    fprintf(f, "Metrics stored for this run (docs/spec-tasks.md §6; teacher-forced, equal to greedy EM):\n\n"
            "| length | em | error | minprob | token_acc | loss |\n|---|---|---|---|---|---|\n");
    for (int l = 0; l < r->n_lengths; l++) {
        fprintf(f, "| %d |", r->eval_lengths[l]);
        for (int m = 0; m < DS_N_METRICS; m++)
            fprintf(f, " %.4g |", ds_res_metric(r, m, run->scale, run->seed_idx, l));
        fprintf(f, "\n");
    }
    /* a prompt of the task, from its first evaluation example at the first eval length */
    const ds_task_ops *ops = ds_task_get(&s->task);
    int L0 = s->task.eval_lengths[0], n_tok = ops->eval_tokens(&s->task, L0), p = n_tok;
    int32_t *tok = DS_MALLOC(sizeof(int32_t) * (size_t)n_tok);
    uint8_t *mask = DS_MALLOC((size_t)n_tok);
    ops->eval_example(&s->task, L0, 0, tok, mask);
    for (int i = n_tok - 1; i >= 0; i--)
        if (mask[i]) p = i;
    char prompt[4096] = "", b[32];
    for (int i = 0; i < p && strlen(prompt) + 40 < sizeof prompt; i++) {
        ops->token_name(&s->task, tok[i], b, sizeof b);
        snprintf(prompt + strlen(prompt), sizeof prompt - strlen(prompt), "%s%s", i ? " " : "", b);
    }
    fprintf(f, "\nTokens are words separated by spaces (`$` BOS, `>` separator, `.` EOS, `*` PAD;\n"
            "docs/spec-tasks.md §1-2 of distsweep). An evaluation prompt is the example up to its\n"
            "answer, alone at position 0; the model answers greedily. At length %d:\n\n"
            "```python\nfrom transformers import AutoTokenizer, %s\n"
            "tok = AutoTokenizer.from_pretrained(DIR)\nmodel = %s.from_pretrained(DIR)\n"
            "ids = tok(\"%s\", return_tensors=\"pt\").input_ids\n"
            "print(tok.decode(model.generate(ids, max_new_tokens=%d, do_sample=False)[0]))\n```\n",
            L0, cls, cls, prompt, n_tok - p);
    free(tok);
    free(mask);
    return close_out(f, path, err);
}

int ds_cmd_export(int argc, char **argv) {
    if (ds_cli_wants_help(argc, argv)) {
        usage(stdout);
        return DS_EXIT_OK;
    }
    const char *h5 = NULL, *scale = NULL, *dir = NULL, *tok_arg = NULL;
    int64_t seed = 0;
    int have_seed = 0, rc;
    ds_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--scale") && next) scale = next, i++;
        else if (!strcmp(argv[i], "--seed")) {
            if (ds_cli_int64(argv[i], next, INT64_MIN, INT64_MAX, &seed, &err)) {
                fprintf(stderr, "distsweep export: %s\n", err.msg);
                return DS_EXIT_USAGE;
            }
            have_seed = 1, i++;
        } else if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && next) dir = next, i++;
        else if (!strcmp(argv[i], "--tokenizer") && next) tok_arg = next, i++;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "distsweep export: unknown option or missing value '%s'\n", argv[i]);
            usage(stderr);
            return DS_EXIT_USAGE;
        } else if (!h5) h5 = argv[i];
        else {
            fprintf(stderr, "distsweep export: unexpected argument '%s'\n", argv[i]);
            return DS_EXIT_USAGE;
        }
    }
    if (!h5 || !scale || !have_seed || !dir) {
        usage(stderr);
        return DS_EXIT_USAGE;
    }
    ds_h5_library_init();
    ds_cli_stored_run run;
    if ((rc = ds_cli_stored_run_open(h5, scale, seed, &run, &err))) goto done;
    char tok_path[8192] = "";
    if (run.s->task.kind == DS_TASK_CORPUS) {
        /* the corpus's own tokenizer: --tokenizer, else task.tokenizer (a relative
         * one from the result file's directory, where the stored sweep lives) */
        const char *t = tok_arg ? tok_arg : run.s->task.tokenizer;
        if (!*t) {
            rc = ds_error_set(&err, DS_EXIT_USAGE, "%s: the sweep names no task.tokenizer: give "
                              "--tokenizer FILE (the tokenizer.json its shards were written with)", h5);
            goto done;
        }
        if (tok_arg) snprintf(tok_path, sizeof tok_path, "%s", t);
        else ds_sweep_resolve(h5, t, tok_path, sizeof tok_path); /* the stored sweep's rule */
        if (access(tok_path, R_OK) != 0) {
            rc = ds_error_set(&err, DS_EXIT_USAGE, "%s: the tokenizer %s cannot be read (%s): give "
                              "--tokenizer FILE", h5, tok_path, strerror(errno));
            goto done;
        }
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        char cause[256];
        ds_strerror_lc(errno, cause, sizeof cause);
        rc = ds_error_set(&err, DS_EXIT_STORAGE, "%s: cannot create the directory: %s", dir, cause);
        goto done;
    }
    ds_model_config c = ds_model_config_from_sweep(run.s, run.scale, 1);
    ds_model_spec md;
    ds_scale_model(run.s, run.scale, &md);
    if ((rc = write_config(dir, &c, run.s, &md, &err)) ||
        (rc = write_weights(dir, &c, &run, &err)) ||
        (rc = run.s->task.kind == DS_TASK_CORPUS
                  ? write_corpus_tokenizer(dir, run.s, tok_path, run.s->train.context - 1, &err)
                  : write_tokenizer(dir, run.s, run.s->train.context - 1, &err)) ||
        (rc = write_readme(dir, &c, &run, h5, &err)))
        goto done;
    fprintf(stderr, "distsweep: exported scale %s seed %lld (%lld steps) of %s to %s/\n",
            run.res.scale_name[run.scale], (long long)seed, (long long)run.steps, h5, dir);
done:
    if (rc) fprintf(stderr, "distsweep export: %s\n", err.msg);
    ds_cli_stored_run_close(&run);
    return rc;
}
