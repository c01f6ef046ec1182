/* hfmodel: a Hugging Face GPT-NeoX directory as distsweep's parameters (see hfmodel.h). */
#define _POSIX_C_SOURCE 200809L
#include "hfmodel.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "safetensors.h"
#include "tasks.h"

#define PATH_CAP (DS_INIT_PATH_MAX + 512)

/* HF's names of a GPT-NeoX layer's 12 tensors, in distsweep's order (model.h). */
static const char *const hf_layer[12] = {
    "input_layernorm.weight", "input_layernorm.bias", "attention.query_key_value.weight",
    "attention.query_key_value.bias", "attention.dense.weight", "attention.dense.bias",
    "post_attention_layernorm.weight", "post_attention_layernorm.bias",
    "mlp.dense_h_to_4h.weight", "mlp.dense_h_to_4h.bias", "mlp.dense_4h_to_h.weight",
    "mlp.dense_4h_to_h.bias"};

/* One tensor of the file: rows [row0, row0 + rows) of distsweep tensor
 * `tensor` (cols floats a row; ndim 1 for a vector), permuted from HF's
 * fused GPT-NeoX qkv order when perm. */
typedef struct {
    char name[DS_ST_NAME_MAX];
    int tensor, ndim, perm;
    int64_t row0, rows, cols;
} hf_slot;

/* The index of distsweep tensor `name` in pt[0..nt); asserts it exists. */
static int tensor_index(const ds_param_tensor *pt, int nt, const char *name) {
    for (int i = 0; i < nt; i++)
        if (!strcmp(pt[i].name, name)) return i;
    DS_ASSERT(!"no such tensor");
    return -1;
}

/* Appends a slot of `rows` rows of tensor tname (rows < 0: all of it). */
static void add_slot(hf_slot *sl, int *n, const ds_param_tensor *pt, int nt, const char *hname,
                     const char *tname, int64_t row0, int64_t rows) {
    hf_slot *x = &sl[(*n)++];
    int i = tensor_index(pt, nt, tname);
    snprintf(x->name, sizeof x->name, "%s", hname);
    x->tensor = i;
    x->ndim = pt[i].ndim;
    x->perm = 0;
    x->row0 = row0;
    x->rows = rows < 0 ? pt[i].shape[0] : rows;
    x->cols = pt[i].ndim == 2 ? pt[i].shape[1] : 1;
}

/* The file tensors of model mc from an HF directory of architecture c
 * (every tensor of the model covered exactly once, except head_w when the
 * file is tied and the model is not: ds_hf_load copies wte there). Returns
 * the count; sl holds at least 3 * (ds_model_tensors count) + 4. */
static int hf_slots(const ds_hf_config *c, const ds_model_config *mc, const ds_param_tensor *pt,
                    int nt, hf_slot *sl) {
    int n = 0;
    char hn[DS_ST_NAME_MAX], tn[48];
    if (c->arch == DS_HF_GPT_NEOX) {
        for (int i = 0; i < nt; i++) {
            if (i == 0) snprintf(hn, sizeof hn, "gpt_neox.embed_in.weight");
            else if (i == nt - 3) snprintf(hn, sizeof hn, "gpt_neox.final_layer_norm.weight");
            else if (i == nt - 2) snprintf(hn, sizeof hn, "gpt_neox.final_layer_norm.bias");
            else if (i == nt - 1) snprintf(hn, sizeof hn, "embed_out.weight");
            else snprintf(hn, sizeof hn, "gpt_neox.layers.%d.%s", (i - 1) / 12, hf_layer[(i - 1) % 12]);
            add_slot(sl, &n, pt, nt, hn, pt[i].name, 0, -1);
            sl[n - 1].perm = i >= 1 && i < nt - 3 && ((i - 1) % 12 == 2 || (i - 1) % 12 == 3);
        }
        return n;
    }
    int64_t d = mc->d, kv = (int64_t)mc->K * mc->hd, F = mc->F;
    add_slot(sl, &n, pt, nt, "model.embed_tokens.weight", "wte", 0, -1);
    for (int l = 0; l < mc->L; l++) {
        static const char *const qkv[3] = {"q_proj", "k_proj", "v_proj"};
        const int64_t row0[3] = {0, d, d + kv}, rows[3] = {d, kv, kv};
#define SLOT(hsuffix, tsuffix, r0, nr)                                                  \
        do {                                                                           \
            snprintf(hn, sizeof hn, "model.layers.%d.%s", l, hsuffix);                 \
            snprintf(tn, sizeof tn, "layers.%d.%s", l, tsuffix);                       \
            add_slot(sl, &n, pt, nt, hn, tn, r0, nr);                                  \
        } while (0)
        SLOT("input_layernorm.weight", "ln1_w", 0, -1);
        for (int k = 0; k < 3; k++) {
            char h2[48];
            snprintf(h2, sizeof h2, "self_attn.%s.weight", qkv[k]);
            SLOT(h2, "qkv_w", row0[k], rows[k]);
            if (mc->qkv_bias) {
                snprintf(h2, sizeof h2, "self_attn.%s.bias", qkv[k]);
                SLOT(h2, "qkv_b", row0[k], rows[k]);
            }
        }
        SLOT("self_attn.o_proj.weight", "attn_out_w", 0, -1);
        SLOT("post_attention_layernorm.weight", "ln2_w", 0, -1);
        SLOT("mlp.gate_proj.weight", "gate_up_w", 0, F);
        SLOT("mlp.up_proj.weight", "gate_up_w", F, F);
        SLOT("mlp.down_proj.weight", "down_w", 0, -1);
#undef SLOT
    }
    add_slot(sl, &n, pt, nt, "model.norm.weight", "lnf_w", 0, -1);
    if (!c->tie) add_slot(sl, &n, pt, nt, "lm_head.weight", "head_w", 0, -1);
    return n;
}

/* The buffers older checkpoints save beside the parameters. */
static int ignored(const char *name) {
    static const char *const suffixes[] = {".attention.bias", ".attention.masked_bias",
                                           "rotary_emb.inv_freq"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t k = strlen(suffixes[i]);
        if (n >= k && !strcmp(name + n - k, suffixes[i])) return 1;
    }
    return 0;
}

void ds_hf_qkv_from_hf(const float *src, float *dst, int H, int hd, size_t cols) {
    size_t d = (size_t)H * hd;
    for (size_t part = 0; part < 3; part++)
        for (size_t h = 0; h < (size_t)H; h++)
            for (size_t j = 0; j < (size_t)hd; j++)
                memcpy(dst + (part * d + h * hd + j) * cols, src + ((h * 3 + part) * hd + j) * cols,
                       sizeof(float) * cols);
}

/* ---- config.json ----------------------------------------------------------------- */

/* Reads a small text file whole (NUL-terminated); NULL with errno set. */
static char *read_text(const char *path, size_t max) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct stat sb;
    char *t = NULL;
    if (fstat(fileno(f), &sb) == 0 && (size_t)sb.st_size <= max) {
        t = DS_MALLOC((size_t)sb.st_size + 1);
        size_t got = fread(t, 1, (size_t)sb.st_size, f);
        if (got != (size_t)sb.st_size) {
            free(t);
            t = NULL;
            errno = EIO;
        } else {
            t[got] = 0;
        }
    } else if (errno == 0) {
        errno = EFBIG;
    }
    fclose(f);
    return t;
}

/* Integer key of config.json in [lo, hi]; absent: def (< lo: required). */
static int cfg_int(const cJSON *root, const char *path, const char *key, int lo, int hi, int def,
                   int *out, ds_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) {
        if (def < lo) return ds_error_set(err, DS_EXIT_USAGE, "%s: no %s", path, key);
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi)
        return ds_error_set(err, DS_EXIT_USAGE, "%s: %s must be an integer in [%d, %d]", path, key,
                            lo, hi);
    *out = (int)v->valuedouble;
    return 0;
}

/* Number key in (0, inf); absent: def. */
static int cfg_num(const cJSON *root, const char *path, const char *key, double def, double *out,
                   ds_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return *out = def, 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || !(v->valuedouble > 0))
        return ds_error_set(err, DS_EXIT_USAGE, "%s: %s must be a positive number", path, key);
    *out = v->valuedouble;
    return 0;
}

/* Boolean key; absent: def. */
static int cfg_bool(const cJSON *root, const char *path, const char *key, int def, int *out,
                    ds_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return *out = def, 0;
    if (!cJSON_IsBool(v)) return ds_error_set(err, DS_EXIT_USAGE, "%s: %s must be true or false", path, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

const char *ds_hf_arch_name(ds_hf_arch a) {
    return a == DS_HF_GPT_NEOX ? "GPT-NeoX" : a == DS_HF_LLAMA ? "Llama" : "Qwen2";
}

const char *ds_hf_arch_class(ds_hf_arch a) {
    return a == DS_HF_GPT_NEOX ? "GPTNeoXForCausalLM" : a == DS_HF_LLAMA ? "LlamaForCausalLM"
                                                                        : "Qwen2ForCausalLM";
}

/* The keys of a llama or qwen2 config.json (transformers' defaults where
 * absent: LlamaConfig's and Qwen2Config's, which agree but for rms_norm_eps
 * (1e-6 both in 4.40) and the biases). */
static int read_llama(const cJSON *root, const char *path, ds_hf_arch arch, ds_hf_config *c,
                      ds_error *err) {
    int sliding = 0, mlp_bias = 0, head_dim = 0;
    c->arch = arch;
    c->rotary_pct = 1;
    if (cfg_int(root, path, "hidden_size", 1, 1 << 16, -1, &c->d, err) ||
        cfg_int(root, path, "num_hidden_layers", 1, 4096, -1, &c->L, err) ||
        cfg_int(root, path, "num_attention_heads", 1, 4096, -1, &c->H, err) ||
        cfg_int(root, path, "num_key_value_heads", 1, 4096, c->H, &c->K, err) ||
        cfg_int(root, path, "vocab_size", 2, 1 << 30, -1, &c->V, err) ||
        cfg_int(root, path, "intermediate_size", 1, 1 << 30, -1, &c->F, err) ||
        cfg_num(root, path, "rope_theta", 10000, &c->rope_base, err) ||
        cfg_num(root, path, "rms_norm_eps", 1e-6, &c->ln_eps, err) ||
        cfg_bool(root, path, "tie_word_embeddings", 0, &c->tie, err) ||
        cfg_bool(root, path, "attention_bias", arch == DS_HF_QWEN2, &c->qkv_bias, err) ||
        cfg_bool(root, path, "use_sliding_window", 0, &sliding, err) ||
        cfg_bool(root, path, "mlp_bias", 0, &mlp_bias, err) ||
        cfg_int(root, path, "head_dim", 0, 1 << 16, 0, &head_dim, err))
        return DS_EXIT_USAGE;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu")))
        return ds_error_set(err, DS_EXIT_USAGE, "%s: hidden_act %s is not supported (distsweep's "
                            "llama block's MLP is SwiGLU with silu)", path,
                            cJSON_IsString(act) ? act->valuestring : "(not a string)");
    if (rs && !cJSON_IsNull(rs))
        return ds_error_set(err, DS_EXIT_USAGE, "%s: rope_scaling is set; distsweep's RoPE is unscaled", path);
    if (sliding)
        return ds_error_set(err, DS_EXIT_USAGE, "%s: use_sliding_window is true; distsweep's "
                            "attention is full causal attention", path);
    if (mlp_bias)
        return ds_error_set(err, DS_EXIT_USAGE, "%s: mlp_bias is true; distsweep's SwiGLU MLP has no "
                            "biases", path);
    if (arch == DS_HF_QWEN2) c->qkv_bias = 1; /* Qwen2 always has q, k, v biases */
    else if (c->qkv_bias)
        /* transformers' Llama puts attention_bias on o_proj too; distsweep's
         * llama block has q, k, v biases only (Qwen2's layout) */
        return ds_error_set(err, DS_EXIT_USAGE, "%s: attention_bias is true: transformers' Llama "
                            "then has a bias on o_proj too, which distsweep's llama block does not "
                            "have (it has Qwen2's q, k, v biases: save the model as Qwen2)", path);
    if (c->d % c->H)
        return ds_error_set(err, DS_EXIT_USAGE, "%s: hidden_size %d is not a multiple of "
                            "num_attention_heads %d", path, c->d, c->H);
    c->hd = c->d / c->H;
    if (head_dim && head_dim != c->hd)
        return ds_error_set(err, DS_EXIT_USAGE, "%s: head_dim %d is not hidden_size / "
                            "num_attention_heads (%d); distsweep's heads span the width", path,
                            head_dim, c->hd);
    if (c->H % c->K)
        return ds_error_set(err, DS_EXIT_USAGE, "%s: num_key_value_heads %d does not divide "
                            "num_attention_heads %d", path, c->K, c->H);
    if (c->hd % 2)
        return ds_error_set(err, DS_EXIT_USAGE, "%s: head size %d is odd (RoPE rotates pairs of "
                            "every head's dims)", path, c->hd);
    c->rot = c->hd;
    c->parallel = 0;
    return 0;
}

int ds_hf_read_config(const char *dir, ds_hf_config *c, ds_error *err) {
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s/config.json", dir);
    memset(c, 0, sizeof *c);
    int rc = DS_EXIT_USAGE, inter = 0, tied = 0, bias = 1;
    cJSON *root = NULL;
    errno = 0;
    char *text = read_text(path, 16 << 20);
    if (!text) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: cannot read (%s): model.init.from must be a Hugging "
                     "Face model directory", path, strerror(errno ? errno : EIO));
        goto done;
    }
    if (!(root = cJSON_Parse(text)) || !cJSON_IsObject(root)) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: not a JSON object", path);
        goto done;
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    const char *mts = cJSON_IsString(mt) ? mt->valuestring : "";
    if (strcmp(mts, "gpt_neox") && strcmp(mts, "llama") && strcmp(mts, "qwen2")) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: model_type %s%s%s is not supported (distsweep reads "
                     "gpt_neox, GPTNeoXForCausalLM; llama, LlamaForCausalLM; qwen2, "
                     "Qwen2ForCausalLM)", path, cJSON_IsString(mt) ? "'" : "",
                     cJSON_IsString(mt) ? mt->valuestring : "(missing)", cJSON_IsString(mt) ? "'" : "");
        goto done;
    }
    if (strcmp(mts, "gpt_neox")) {
        rc = read_llama(root, path, !strcmp(mts, "qwen2") ? DS_HF_QWEN2 : DS_HF_LLAMA, c, err);
        goto done;
    }
    c->arch = DS_HF_GPT_NEOX;
    if (cfg_int(root, path, "hidden_size", 1, 1 << 16, -1, &c->d, err) ||
        cfg_int(root, path, "num_hidden_layers", 1, 4096, -1, &c->L, err) ||
        cfg_int(root, path, "num_attention_heads", 1, 4096, -1, &c->H, err) ||
        cfg_int(root, path, "vocab_size", 2, 1 << 30, -1, &c->V, err) ||
        cfg_int(root, path, "intermediate_size", 1, 1 << 30, -1, &inter, err) ||
        cfg_num(root, path, "rotary_pct", 0.25, &c->rotary_pct, err) ||
        cfg_num(root, path, "rotary_emb_base", 10000, &c->rope_base, err) ||
        cfg_num(root, path, "layer_norm_eps", 1e-5, &c->ln_eps, err) ||
        cfg_bool(root, path, "use_parallel_residual", 1, &c->parallel, err) ||
        cfg_bool(root, path, "tie_word_embeddings", 0, &tied, err) ||
        cfg_bool(root, path, "attention_bias", 1, &bias, err))
        goto done;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "gelu"))) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: hidden_act %s is not supported (distsweep's MLP uses "
                     "gelu, the exact erf form)", path, cJSON_IsString(act) ? act->valuestring : "(not a string)");
        goto done;
    }
    if (tied) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: tie_word_embeddings is true; distsweep's head is untied", path);
        goto done;
    }
    if (!bias) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: attention_bias is false; distsweep's attention has biases", path);
        goto done;
    }
    if (rs && !cJSON_IsNull(rs)) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: rope_scaling is set; distsweep's RoPE is unscaled", path);
        goto done;
    }
    if (inter != 4 * c->d) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: intermediate_size %d is not 4 x hidden_size (%d); "
                     "distsweep's MLP is 4 x wide", path, inter, 4 * c->d);
        goto done;
    }
    if (c->d % c->H) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: hidden_size %d is not a multiple of "
                     "num_attention_heads %d", path, c->d, c->H);
        goto done;
    }
    c->hd = c->d / c->H;
    if (c->rotary_pct > 1) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: rotary_pct %g is above 1", path, c->rotary_pct);
        goto done;
    }
    c->rot = (int)(c->hd * c->rotary_pct); /* HF: int(head_size * rotary_pct) */
    if (c->rot % 2) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: rotary_pct %g of head size %d rotates %d dims, an odd "
                     "number (RoPE rotates pairs)", path, c->rotary_pct, c->hd, c->rot);
        goto done;
    }
    rc = 0;
done:
    cJSON_Delete(root);
    free(text);
    return rc;
}

/* ---- weights --------------------------------------------------------------------- */

/* The weight files of dir: model.safetensors, else the distinct files of
 * model.safetensors.index.json's weight_map (names without '/'). *files is
 * n paths, freed with free(). */
static int weight_files(const char *dir, char (**files)[PATH_CAP], int *n, ds_error *err) {
    char path[PATH_CAP];
    struct stat sb;
    *files = NULL;
    *n = 0;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (stat(path, &sb) == 0) {
        *files = DS_MALLOC(sizeof **files);
        snprintf((*files)[0], PATH_CAP, "%s", path);
        *n = 1;
        return 0;
    }
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    errno = 0;
    char *text = read_text(path, 64 << 20);
    if (!text) {
        char bin[PATH_CAP];
        snprintf(bin, sizeof bin, "%s/pytorch_model.bin", dir);
        return ds_error_set(err, DS_EXIT_USAGE, "%s: no model.safetensors or "
                            "model.safetensors.index.json (save_pretrained's safetensors "
                            "weights)%s", dir, stat(bin, &sb) == 0 ? "; pytorch_model.bin is "
                            "not read: save the model again with safe_serialization" : "");
    }
    int rc = DS_EXIT_USAGE;
    cJSON *root = cJSON_Parse(text);
    const cJSON *map = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(map)) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: not JSON with a weight_map object", path);
        goto done;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, map) {
        if (!cJSON_IsString(e) || !*e->valuestring || strchr(e->valuestring, '/') ||
            strlen(e->valuestring) + strlen(dir) + 2 > PATH_CAP) {
            ds_error_set(err, DS_EXIT_USAGE, "%s: weight_map[\"%s\"] is not a file name in the "
                         "directory", path, e->string);
            goto done;
        }
        char f[PATH_CAP];
        int len = snprintf(f, sizeof f, "%s/%s", dir, e->valuestring);
        DS_ASSERT(len > 0 && len < PATH_CAP); /* checked above */
        int seen = 0;
        for (int i = 0; i < *n && !seen; i++) seen = !strcmp((*files)[i], f);
        if (seen) continue;
        *files = DS_REALLOC(*files, sizeof **files * (size_t)(*n + 1));
        memcpy((*files)[(*n)++], f, PATH_CAP);
    }
    if (!*n) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: the weight_map names no file", path);
        goto done;
    }
    rc = 0;
done:
    if (rc) {
        free(*files);
        *files = NULL;
        *n = 0;
    }
    cJSON_Delete(root);
    free(text);
    return rc;
}

static void shape_str(int ndim, const int64_t *shape, char *buf, size_t n) {
    int k = snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k > 0 && (size_t)k < n; i++)
        k += snprintf(buf + k, n - (size_t)k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k > 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, "]");
}

/* Takes the tensors of one read file into params; seen[] marks the slots
 * found so far. */
static int take_file(const char *path, const ds_st_file *f, const ds_hf_config *c,
                     const ds_model_config *mc, const ds_param_tensor *pt, const hf_slot *sl,
                     int ns, uint8_t *seen, float *params, ds_error *err) {
    int rc = 0;
    float *tmp = NULL;
    for (int k = 0; k < f->n && !rc; k++) {
        const char *name = f->t[k].name;
        if (ignored(name)) continue;
        if (c->arch != DS_HF_GPT_NEOX && c->tie && !strcmp(name, "lm_head.weight"))
            continue; /* a tied model's head is embed_tokens; some writers save it anyway */
        int j = -1;
        for (int q = 0; q < ns && j < 0; q++)
            if (!strcmp(sl[q].name, name)) j = q;
        if (j < 0) {
            rc = ds_error_set(err, DS_EXIT_USAGE, "%s: tensor %s is not a parameter of distsweep's "
                              "%s model (%s of config.json)", path, name, ds_hf_arch_name(c->arch),
                              ds_hf_arch_class(c->arch));
            break;
        }
        if (seen[j]) {
            rc = ds_error_set(err, DS_EXIT_USAGE, "%s: tensor %s is given twice", path, name);
            break;
        }
        const char *dt = f->t[k].dtype;
        if (strcmp(dt, "F32") && strcmp(dt, "F16") && strcmp(dt, "BF16")) {
            rc = ds_error_set(err, DS_EXIT_USAGE, "%s: tensor %s has dtype %s (distsweep reads F32, "
                              "F16 and BF16)", path, name, dt);
            break;
        }
        const hf_slot *x = &sl[j];
        int64_t want_shape[2] = {x->rows, x->cols};
        int ok = f->t[k].ndim == x->ndim;
        for (int d = 0; ok && d < x->ndim; d++) ok = f->t[k].shape[d] == want_shape[d];
        if (!ok) {
            char got[96], want[96];
            shape_str(f->t[k].ndim, f->t[k].shape, got, sizeof got);
            shape_str(x->ndim, want_shape, want, sizeof want);
            rc = ds_error_set(err, DS_EXIT_USAGE, "%s: tensor %s has shape %s, config.json's model "
                              "needs %s", path, name, got, want);
            break;
        }
        size_t n = (size_t)x->rows * (size_t)x->cols;
        float *dst = params + pt[x->tensor].offset + (size_t)x->row0 * (size_t)x->cols;
        if (x->perm) dst = tmp = DS_REALLOC(tmp, n * sizeof(float));
        int conv = ds_st_to_f32(f, k, dst);
        DS_ASSERT(conv == 0); /* the dtype was checked above */
        for (size_t e = 0; e < n; e++)
            if (!isfinite(dst[e])) {
                rc = ds_error_set(err, DS_EXIT_USAGE, "%s: tensor %s holds %s at element %zu", path,
                                  name, isnan(dst[e]) ? "NaN" : "Inf", e);
                break;
            }
        if (!rc && x->perm)
            ds_hf_qkv_from_hf(tmp, params + pt[x->tensor].offset, mc->H, mc->hd, (size_t)x->cols);
        seen[j] = 1;
    }
    free(tmp);
    return rc;
}

int ds_hf_load(const char *dir, const ds_model_config *mc, float *params, ds_error *err) {
    ds_hf_config c;
    int rc = ds_hf_read_config(dir, &c, err);
    if (rc) return rc;
    DS_ASSERT((c.arch == DS_HF_GPT_NEOX) == (mc->block != DS_BLOCK_LLAMA));
    DS_ASSERT(c.arch == DS_HF_GPT_NEOX || (mc->K == c.K && mc->F == c.F && mc->qkv_bias == c.qkv_bias &&
                                           (!mc->tie || c.tie)));
    int nt = ds_model_tensors(mc, NULL), n_files = 0;
    ds_param_tensor *pt = DS_MALLOC(sizeof *pt * (size_t)nt);
    hf_slot *sl = DS_MALLOC(sizeof *sl * (size_t)(3 * nt + 4));
    char(*files)[PATH_CAP] = NULL;
    ds_model_tensors(mc, pt);
    int ns = hf_slots(&c, mc, pt, nt, sl);
    DS_ASSERT(ns <= 3 * nt + 4);
    uint8_t *seen = DS_CALLOC((size_t)ns, 1);
    if ((rc = weight_files(dir, &files, &n_files, err))) goto done;
    for (int k = 0; k < n_files && !rc; k++) {
        ds_st_file f;
        if ((rc = ds_st_read(files[k], 0, &f, err))) {
            err->code = rc = DS_EXIT_USAGE; /* the reader's message names the file */
            break;
        }
        rc = take_file(files[k], &f, &c, mc, pt, sl, ns, seen, params, err);
        ds_st_free(&f);
    }
    for (int i = 0; i < ns && !rc; i++)
        if (!seen[i])
            rc = ds_error_set(err, DS_EXIT_USAGE, "%s: no tensor %s in %s%s", dir, sl[i].name,
                              n_files == 1 ? "model.safetensors" : "the shards of ",
                              n_files == 1 ? "" : "model.safetensors.index.json");
    if (!rc && c.arch != DS_HF_GPT_NEOX && c.tie && !mc->tie) {
        /* a tied file into an untied model (model.init unties it): the head
         * starts as the embeddings it was */
        int w = tensor_index(pt, nt, "wte"), h = tensor_index(pt, nt, "head_w");
        memcpy(params + pt[h].offset, params + pt[w].offset,
               sizeof(float) * (size_t)pt[w].shape[0] * (size_t)pt[w].shape[1]);
    }
done:
    free(files);
    free(pt);
    free(sl);
    free(seen);
    return rc;
}

/* ---- the sweep ------------------------------------------------------------------- */

/* "FILE:LINE:COL: " of a position in the sweep file. */
static int fail_at(ds_error *err, const ds_sweep *s, ds_srcpos p, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(ds_error *err, const ds_sweep *s, ds_srcpos p, const char *fmt, ...) {
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ds_error_set(err, DS_EXIT_USAGE, "%s:%d:%d: %s", s->path, p.line, p.col, msg);
}

/* The family that holds scale i, for an error's position. */
static const ds_family *family_of(const ds_sweep *s, int i) {
    for (int f = 0; f < s->n_families; f++)
        for (int j = 0; j < s->families[f].n; j++)
            if (s->families[f].scale_idx[j] == i) return &s->families[f];
    return NULL;
}

/* A rotary_frac whose distsweep rotated dims ((int)(frac * hd) & ~1,
 * model.c) are exactly rot. */
static double frac_for(int rot, int hd) {
    double p = (double)rot / hd;
    while ((int)(hd * p) < rot) p = nextafter(p, 1.0);
    return p;
}

/* What base config c (DIR/config.json at cfgp) implies for sweep s's model,
 * into a (set 1): checks every model key s writes against c (an error at the
 * key's FILE:LINE:COL naming cfgp) and that every reinit layer exists in c.
 * The untie rule: a tied base (tie_word_embeddings) is untied when the head
 * is reinitialized or model.tie_embeddings false is written. */
static int base_arch(const ds_sweep *s, const ds_hf_config *c, const char *cfgp, ds_scale_arch *a,
                     ds_error *err) {
    const ds_init_spec *in = &s->model.init;
    const ds_model_spec *md = &s->model;
    int llama = c->arch != DS_HF_GPT_NEOX, head_reinit = 0;
    for (int i = 0; i < in->n_reinit; i++) head_reinit |= in->reinit[i].kind == DS_REINIT_HEAD;
    if (in->pos_head_dim.line && md->head_dim != c->hd)
        return fail_at(err, s, in->pos_head_dim, "model.head_dim %d contradicts %s (hidden_size %d / "
                       "num_attention_heads %d = %d); leave it out", md->head_dim, cfgp, c->d, c->H, c->hd);
    static const char *const blocks[] = {"parallel", "sequential", "llama"};
    ds_block_kind block = llama ? DS_BLOCK_LLAMA : c->parallel ? DS_BLOCK_PARALLEL : DS_BLOCK_SEQUENTIAL;
    if (in->pos_block.line && md->block != block)
        return fail_at(err, s, in->pos_block, "model.block %s contradicts %s (%s: block %s); leave "
                       "it out", blocks[md->block], cfgp, llama ? ds_hf_arch_class(c->arch) :
                       c->parallel ? "use_parallel_residual true" : "use_parallel_residual false",
                       blocks[block]);
    if (in->pos_rotary_frac.line && md->rotary_frac * c->hd != c->rot)
        return fail_at(err, s, in->pos_rotary_frac, "model.rotary_frac %g contradicts %s (%s%g: %d of "
                       "%d dims); leave it out", md->rotary_frac, cfgp, llama ? "full rotary, " :
                       "rotary_pct ", c->rotary_pct, c->rot, c->hd);
    if (in->pos_rope_base.line && md->rope_base != c->rope_base)
        return fail_at(err, s, in->pos_rope_base, "model.rope_base %g contradicts %s (%s %g); leave it "
                       "out", md->rope_base, cfgp, llama ? "rope_theta" : "rotary_emb_base", c->rope_base);
    if (in->pos_ln_eps.line && md->ln_eps != c->ln_eps)
        return fail_at(err, s, in->pos_ln_eps, "model.ln_eps %g contradicts %s (%s %g); leave it out",
                       md->ln_eps, cfgp, llama ? "rms_norm_eps" : "layer_norm_eps", c->ln_eps);
    /* the llama block's keys: implied by a llama/qwen2 config.json, meaningless for gpt_neox */
    const ds_srcpos *lk[4] = {&in->pos_kv_heads, &in->pos_mlp_hidden, &in->pos_qkv_bias,
                              &in->pos_tie_embeddings};
    static const char *const lkn[4] = {"kv_heads", "mlp_hidden", "qkv_bias", "tie_embeddings"};
    for (int k = 0; k < 4 && !llama; k++)
        if (lk[k]->line)
            return fail_at(err, s, *lk[k], "model.%s applies to block llama only; %s is gpt_neox "
                           "(GPTNeoXForCausalLM); leave it out", lkn[k], cfgp);
    if (llama && in->pos_kv_heads.line && md->kv_heads != c->K)
        return fail_at(err, s, in->pos_kv_heads, "model.kv_heads %d contradicts %s "
                       "(num_key_value_heads %d); leave it out", md->kv_heads, cfgp, c->K);
    if (llama && in->pos_mlp_hidden.line && md->mlp_hidden != c->F)
        return fail_at(err, s, in->pos_mlp_hidden, "model.mlp_hidden %d contradicts %s "
                       "(intermediate_size %d); leave it out", md->mlp_hidden, cfgp, c->F);
    if (llama && in->pos_qkv_bias.line && md->qkv_bias != c->qkv_bias)
        return fail_at(err, s, in->pos_qkv_bias, "model.qkv_bias %s contradicts %s (%s); leave it "
                       "out", md->qkv_bias ? "true" : "false", cfgp, c->arch == DS_HF_QWEN2 ?
                       "Qwen2 has q, k, v biases" : "attention_bias false");
    if (llama && in->pos_tie_embeddings.line && md->tie_embeddings && !c->tie)
        return fail_at(err, s, in->pos_tie_embeddings, "model.tie_embeddings true contradicts %s "
                       "(tie_word_embeddings false: its head is not its embeddings); leave it out",
                       cfgp);
    if (llama && in->pos_tie_embeddings.line && md->tie_embeddings && head_reinit)
        return fail_at(err, s, in->pos_tie_embeddings, "model.tie_embeddings true with the head "
                       "reinitialized: reinitializing a tied head unties it (the embeddings stay "
                       "pretrained); leave model.tie_embeddings out");
    for (int i = 0; i < in->n_reinit; i++) {
        const ds_reinit_part *p = &in->reinit[i];
        if (p->kind < DS_REINIT_HEAD && (p->layer >= c->L || p->layer < -c->L))
            return fail_at(err, s, p->pos, "model.init.reinit[%d]: layer %d does not exist: %s has "
                           "%d layer(s) (0..%d, or -%d..-1 from the end)", i, p->layer, cfgp, c->L,
                           c->L - 1, c->L);
    }
    memset(a, 0, sizeof *a);
    a->set = 1;
    a->head_dim = c->hd;
    a->rotary_frac = frac_for(c->rot, c->hd);
    a->rope_base = c->rope_base;
    a->ln_eps = c->ln_eps;
    if (llama) {
        a->kv_heads = c->K;
        a->mlp_hidden = c->F;
        a->qkv_bias = c->qkv_bias;
        /* the untie rule: a reinitialized head is the head alone (written false: untied too) */
        a->tie_embeddings = c->tie && !head_reinit && !in->pos_tie_embeddings.line;
        a->untied = c->tie && !a->tie_embeddings;
        if (a->untied && !in->quiet)
            fprintf(stderr, "distsweep: note: %s ties its head to its embeddings "
                    "(tie_word_embeddings); %s, so the model is untied: the head %s, the embeddings "
                    "stay pretrained (model.tie_embeddings false)\n", cfgp,
                    head_reinit ? "model.init.reinit names the head" : "model.tie_embeddings is false",
                    head_reinit ? "gets each seed's fresh init" : "starts as a copy of them");
    } else {
        /* gpt_neox keeps the parse's defaults of the llama keys */
        a->kv_heads = md->kv_heads;
        a->mlp_hidden = md->mlp_hidden;
        a->qkv_bias = md->qkv_bias;
        a->tie_embeddings = md->tie_embeddings;
    }
    return 0;
}

/* The index of scale i's own base among its settings (a values family over
 * model.init.from), or -1 when it trains from model.init.from. */
static int own_base(const ds_scale *sc) {
    for (int k = 0; k < sc->n_settings; k++)
        if (sc->settings[k].text[0]) return k;
    return -1;
}

/* Condition i's own base (setting k, config cc at cfgp) against the sweep's
 * base ref: the same architecture class, block and vocabulary (a condition
 * is trained by the sweep's backend and task), and the condition's (width,
 * depth) the config's; errors at the value's FILE:LINE:COL. */
static int check_condition_base(const ds_sweep *s, int i, int k, const ds_hf_config *cc,
                                const char *cfgp, const ds_hf_config *ref, ds_error *err) {
    const ds_scale *sc = &s->scales[i];
    const ds_setting *set = &sc->settings[k];
    if (cc->arch != ref->arch || cc->parallel != ref->parallel)
        return fail_at(err, s, set->pos, "%s %s: %s is %s%s, model.init.from (%s) %s%s: the bases of a "
                       "values family over model.init.from share one block", set->key, set->text, cfgp,
                       ds_hf_arch_class(cc->arch), cc->arch ? "" : cc->parallel ? " (parallel)" : " (sequential)",
                       s->model.init.from, ds_hf_arch_class(ref->arch),
                       ref->arch ? "" : ref->parallel ? " (parallel)" : " (sequential)");
    if (cc->V != ref->V)
        return fail_at(err, s, set->pos, "%s %s: %s has vocab_size %d, model.init.from (%s) %d: the "
                       "bases share the task's vocabulary", set->key, set->text, cfgp, cc->V,
                       s->model.init.from, ref->V);
    if (sc->d_model != cc->d || sc->n_layers != cc->L)
        return fail_at(err, s, set->pos, "%s %s: the condition is width %d, depth %d, but %s has "
                       "hidden_size %d, num_hidden_layers %d; write the value as {from: %s, width: %d, "
                       "depth: %d}", set->key, set->text, sc->d_model, sc->n_layers, cfgp, cc->d, cc->L,
                       set->text, cc->d, cc->L);
    return 0;
}

int ds_hf_attach(ds_sweep *s, ds_error *err) {
    ds_init_spec *in = &s->model.init;
    if (!in->enabled || in->attached) return 0;
    ds_hf_config c;
    int rc = ds_hf_read_config(in->dir, &c, err);
    if (rc) return rc;
    char cfgp[PATH_CAP];
    snprintf(cfgp, sizeof cfgp, "%s/config.json", in->dir);
    ds_model_spec *md = &s->model;
    ds_scale_arch own;
    if ((rc = base_arch(s, &c, cfgp, &own, err))) return rc;
    int V = ds_task_get(&s->task)->vocab_total(&s->task);
    if (V != c.V)
        return fail_at(err, s, in->from_pos, "the task's vocabulary is %d tokens, %s has vocab_size "
                       "%d: distsweep's embedding and head have exactly the task's vocabulary, so the "
                       "two must be equal", V, cfgp, c.V);
    /* what config.json implies: the sweep's model */
    md->block = c.arch != DS_HF_GPT_NEOX ? DS_BLOCK_LLAMA : c.parallel ? DS_BLOCK_PARALLEL : DS_BLOCK_SEQUENTIAL;
    md->head_dim = own.head_dim;
    md->rotary_frac = own.rotary_frac;
    md->rope_base = own.rope_base;
    md->ln_eps = own.ln_eps;
    md->kv_heads = own.kv_heads;
    md->mlp_hidden = own.mlp_hidden;
    md->qkv_bias = own.qkv_bias;
    md->tie_embeddings = own.tie_embeddings;
    in->untied = own.untied;
    /* each condition: the sweep's base, at its (width, depth), or its own
     * (a values family over model.init.from), whose architecture it keeps */
    for (int i = 0; i < s->n_scales; i++) {
        ds_scale *sc = &s->scales[i];
        int k = own_base(sc);
        if (k < 0) {
            memset(&sc->arch, 0, sizeof sc->arch);
            if (sc->d_model == c.d && sc->n_layers == c.L) continue;
            const ds_family *f = family_of(s, i);
            ds_srcpos p = f ? f->pos : in->from_pos;
            return fail_at(err, s, p, "scale width %d, depth %d is not the model of model.init.from: %s "
                           "has hidden_size %d, num_hidden_layers %d; every scale must be that one "
                           "(e.g. {family: points, points: [{width: %d, depth: %d}]})", sc->d_model,
                           sc->n_layers, cfgp, c.d, c.L, c.d, c.L);
        }
        ds_sweep *cond = ds_sweep_condition(s, i); /* its model.init.dir */
        ds_hf_config cc;
        char ccp[PATH_CAP];
        snprintf(ccp, sizeof ccp, "%s/config.json", cond->model.init.dir);
        rc = ds_hf_read_config(cond->model.init.dir, &cc, err);
        free(cond);
        if (rc || (rc = check_condition_base(s, i, k, &cc, ccp, &c, err)) ||
            (rc = base_arch(s, &cc, ccp, &sc->arch, err)))
            return rc;
    }
    for (int i = 0; i < s->n_scales; i++) {
        ds_scale *sc = &s->scales[i];
        ds_model_spec ms; /* the block's formulas, now that each condition's model is known */
        ds_scale_model(s, i, &ms);
        sc->n_heads = sc->d_model / ms.head_dim;
        sc->n_params = ds_block_params(&ms, sc->d_model, sc->n_layers, V);
        sc->flops_per_step = ds_block_flops_per_step(&ms, sc->d_model, sc->n_layers, V,
                                                     s->train.batch, s->train.context);
    }
    /* every weight of every base a condition trains from, once, so that bad
     * files stop the command before it writes (nothing is kept: the engine
     * reads them again per pack) */
    int plain_read = 0;
    for (int i = 0; i < s->n_scales && !rc && !in->config_only; i++) {
        int own_dir = own_base(&s->scales[i]) >= 0;
        if (!own_dir && plain_read++) continue; /* the sweep's base: read once */
        ds_model_config mc = ds_model_config_from_sweep(s, i, 1);
        DS_ASSERT(own_dir || (mc.rot == c.rot && mc.hd == c.hd && mc.H == c.H));
        size_t P = ds_model_params(&mc);
        float *params = ds_try_malloc(P * sizeof(float));
        ds_sweep *cond = ds_sweep_condition(s, i); /* its model.init.dir */
        if (!params)
            rc = ds_error_set(err, DS_EXIT_ERROR, "%s: cannot allocate %zu bytes to read the model",
                              cond->model.init.dir, P * sizeof(float));
        else rc = ds_hf_load(cond->model.init.dir, &mc, params, err);
        free(cond);
        free(params);
    }
    if (!rc) in->attached = 1;
    return rc;
}

uint64_t ds_hf_weight_seed(const ds_sweep *s, int64_t seed) {
    const ds_init_spec *in = &s->model.init;
    return (uint64_t)(in->enabled && in->vary == DS_VARY_DATA ? s->seeds.start : seed);
}

uint64_t ds_hf_data_seed(const ds_sweep *s, int64_t seed) {
    const ds_init_spec *in = &s->model.init;
    return (uint64_t)(in->enabled && in->vary == DS_VARY_WEIGHTS ? s->seeds.start : seed);
}

void ds_hf_keep_mask(const ds_init_spec *in, const ds_model_config *cfg, uint8_t *keep) {
    int nt = ds_model_tensors(cfg, NULL), L = cfg->L;
    ds_param_tensor *pt = DS_MALLOC(sizeof *pt * (size_t)nt);
    ds_model_tensors(cfg, pt);
    memset(keep, 1, (size_t)nt);
    static const char *const attn[] = {"qkv_w", "qkv_b", "attn_out_w", "attn_out_b", NULL};
    static const char *const mlp[] = {"fc_w", "fc_b", "fc_out_w", "fc_out_b", "gate_up_w", "down_w", NULL};
    for (int i = 0; i < in->n_reinit; i++) {
        const ds_reinit_part *p = &in->reinit[i];
        int l = p->layer < 0 ? L + p->layer : p->layer;
        DS_ASSERT(p->kind >= DS_REINIT_HEAD || (l >= 0 && l < L)); /* ds_hf_attach checked it */
        char prefix[32];
        snprintf(prefix, sizeof prefix, "layers.%d.", l);
        size_t pl = strlen(prefix);
        for (int t = 0; t < nt; t++) {
            const char *nm = pt[t].name;
            int hit = 0;
            if (p->kind == DS_REINIT_EMBEDDINGS) hit = !strcmp(nm, "wte");
            else if (p->kind == DS_REINIT_HEAD) hit = !strcmp(nm, "head_w");
            else if (p->kind == DS_REINIT_FINAL_NORM) hit = !strcmp(nm, "lnf_w") || !strcmp(nm, "lnf_b");
            else if (!strncmp(nm, prefix, pl)) {
                const char *const *set = p->kind == DS_REINIT_ATTENTION ? attn : p->kind == DS_REINIT_MLP ? mlp : NULL;
                hit = !set;
                for (int k = 0; set && set[k] && !hit; k++) hit = !strcmp(nm + pl, set[k]);
            }
            if (hit) keep[t] = 0;
        }
    }
    free(pt);
}

int ds_hf_init_pack(ds_model *m, const ds_sweep *s, const int64_t *seeds, int R, ds_error *err) {
    DS_ASSERT(R == m->cfg.R);
    const ds_init_spec *in = &s->model.init;
    if (!in->enabled) {
        for (int r = 0; r < R; r++) ds_model_init_replica(m, r, (uint64_t)seeds[r]);
        return 0;
    }
    DS_ASSERT(in->attached); /* ds_hf_attach before any model of the sweep */
    int rc = 0, nt = ds_model_tensors(&m->cfg, NULL);
    uint8_t *keep = DS_MALLOC((size_t)nt);
    float *base = ds_try_malloc(m->P * sizeof(float));
    if (!base) {
        char b[32];
        ds_fmt_bytes((double)m->P * sizeof(float), b, sizeof b);
        rc = ds_error_nomem(err, "cannot allocate %s in host memory for the base model of %s", b, in->dir);
        goto done;
    }
    if ((rc = ds_hf_load(in->dir, &m->cfg, base, err))) goto done;
    ds_hf_keep_mask(in, &m->cfg, keep);
    for (int r = 0; r < R; r++)
        ds_model_init_replica_from(m, r, ds_hf_weight_seed(s, seeds[r]), base, keep);
done:
    free(base);
    free(keep);
    return rc;
}
