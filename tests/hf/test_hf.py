#!/usr/bin/python3
"""model.init: populations started from a Hugging Face GPT-NeoX directory
(src/hfmodel.c), end to end with checkpoints that transformers makes in the test
(tests/hf/tests.cmake registers one ctest per scenario).

usage: test_hf.py SCENARIO --bin distsweep --tool hf_tool --src SOURCE_DIR --pydeps DIR

Scenarios:
  import    small random GPTNeoXForCausalLM models (both block kinds, rotary_pct 0.25
            and 1.0) saved by save_pretrained in fp32, fp16, bf16 and sharded form:
            distsweep's logits at step 0 (hf_tool logits: ds_hf_attach +
            ds_hf_init_pack, what the engine runs) on the count task's evaluation
            examples equal transformers' (LOGIT_TOL below); the half-precision
            checkpoints are compared with transformers running the same weights
            upcast to fp32
  reinit    reinit [{layer: -1, part: attention}, head]: every other tensor is bit-equal
            to the file's (read here with safetensors and mapped by this test's own
            de-interleave), every reinitialized one bit-equal to the seed's init from
            scratch (hf_tool scratch: ds_model_init_replica); seeds differ there;
            vary: data gives every seed the values of seeds.start, vary: weights not
  continue  the paper's pipeline in small: a count model trained by distsweep,
            exported, and a population continuing its training (train.schedule
            linear, warmup 0): the loss starts near the base's, far below a
            from-scratch run's (with the head reinitialized, far above it again);
            vary: weights trains every seed on seeds.start's
            data (identical runs without reinit), vary: both/data do not; a pack
            stopped (SIGTERM, exit 3) and resumed from its checkpoint ends as an
            uninterrupted one
  errors    each bad directory or sweep: exit 2, the file/tensor (or FILE:LINE:COL)
            named, no result file written, the directory's files unchanged
  llama     the llama block (issue 27): small random Qwen2ForCausalLM (q/k/v biases)
            and LlamaForCausalLM (none) models, 4 heads with 2 key/value heads, tied
            and untied, saved in fp32 and bf16: distsweep's step-0 logits equal
            transformers' (LOGIT_TOL); reinit [head] of a tied Qwen2 model: wte
            bit-equal to the file's embed_tokens, head_w the seed's from-scratch
            init, every other tensor the file's (this test's own mapping), the
            untie note once on stderr; bad directories (num_key_value_heads not
            dividing the heads, hidden_act gelu, a missing tensor, a Llama
            attention_bias) exit 2 naming file and key or tensor; count models of
            the llama block trained from scratch (Qwen2 layout untied, Llama layout
            tied), exported: transformers loads them (AutoModelForCausalLM, the
            class and keys of config.json), logits equal model_logits' (distsweep's
            forward of the stored model), greedy EM equals the stored EM
  sizes     bases of different sizes as conditions of one sweep (a values family over
            model.init.from with {from, width, depth} values): GPT-NeoX bases 32x2 (head
            size 16) and 64x3 (32), Qwen2 bases with head sizes 8 and 12 and MLPs 48 and 80,
            one tied: each condition's step-0 logits equal transformers' on its own base,
            its reinit is bit-equal at its shape, plan's and /scales' parameters are
            transformers' counts, a 2-rank run, verify judges the stored models by each
            base's config.json (and without the base says so, --repair refusing), export
            reads config.json only and writes the base's tensor names and shapes; six
            refusals at FILE:LINE:COL
"""
import argparse
import copy
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from procutil import SWEEP_ENV, check, failures, install_hf_deps  # noqa: E402

ENV = dict(SWEEP_ENV)
# As tests/models/test_models.py: both sides compute the same fp32 operations in
# different summation orders, and HF's rotary tables are fp32 where distsweep
# rounds double ones; a few ulps of the activations. 2e-5 x max(1, max |logit|) is
# far below any mapping error (a wrong qkv de-interleave moves logits by O(1)).
LOGIT_TOL = 2e-5

VOCAB = 12         # count task numbers; its vocab_total is VOCAB + 4
V_TOTAL = VOCAB + 4
D, L, H = 32, 2, 2
A = None


def run(cmd, timeout=300):
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def sweep_text(init="{from: base}", model_extra="", steps=20, seeds=2, width=D, depth=L,
               vocab=VOCAB, save=0, lr="1.0e-3", schedule="linear", warmup=0):
    model = f"model:\n  init: {init}\n{model_extra}" if init else f"model: {{head_dim: 16{model_extra}}}\n"
    return (f"task: {{kind: count, vocab: {vocab}, train_length: [1, 6], eval_lengths: [6, 9]}}\n"
            f"{model}"
            f"train: {{steps: {steps}, batch: 8, context: 32, lr: {lr}, warmup: {warmup}, "
            f"schedule: {schedule}, log_every: 5}}\n"
            f"seeds: {{start: 0, count: {seeds}}}\n"
            f"scales:\n  - {{family: points, points: [{{width: {width}, depth: {depth}}}]}}\n"
            f"run: {{backend: cpu, checkpoint_every: 0, save_models: {save or 'false'}}}\n")


def hf():
    install_hf_deps(A.pydeps)
    import torch  # noqa: F401
    import transformers
    return transformers


def make_model(parallel, rot, seed=1, d=D, nl=L, heads=H, vocab=V_TOTAL):
    """A random GPTNeoXForCausalLM whose every parameter (biases and LayerNorms too) is
    non-trivial, so that a wrong mapping of any of them shows."""
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM
    torch.manual_seed(seed)
    cfg = GPTNeoXConfig(vocab_size=vocab, hidden_size=d, num_hidden_layers=nl, num_attention_heads=heads,
                        intermediate_size=4 * d, rotary_pct=rot, rotary_emb_base=10000,
                        max_position_embeddings=64, use_parallel_residual=parallel,
                        layer_norm_eps=1e-5, tie_word_embeddings=False, hidden_act="gelu")
    m = GPTNeoXForCausalLM(cfg).eval()
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))
    return m


def save(m, path, form):
    import torch
    if form == "fp32":
        m.save_pretrained(path)
    elif form == "fp16":
        copy.deepcopy(m).to(torch.float16).save_pretrained(path)
    elif form == "bf16":
        copy.deepcopy(m).to(torch.bfloat16).save_pretrained(path)
    elif form == "sharded":
        m.save_pretrained(path, max_shard_size="40KB")
        shards = [f for f in os.listdir(path) if f.startswith("model-") and f.endswith(".safetensors")]
        check(len(shards) > 1 and os.path.exists(os.path.join(path, "model.safetensors.index.json")),
              f"sharded save made {shards}")
    return path


def read_logits(path):
    with open(path, "rb") as f:
        n, n_tok, V = np.frombuffer(f.read(12), dtype="<i4")
        tok = np.frombuffer(f.read(4 * n * n_tok), dtype="<i4").reshape(n, n_tok)
        f.read(n * n_tok)
        logits = np.frombuffer(f.read(), dtype="<f4").reshape(n, n_tok - 1, V)
    return tok, logits


def read_params(path):
    with open(path, "rb") as f:
        P = int(np.frombuffer(f.read(8), dtype="<i8")[0])
        p = np.frombuffer(f.read(), dtype="<f4")
    check(p.size == P, f"{path}: {p.size} floats, header says {P}")
    return p


LAYER = [("ln1_w", "input_layernorm.weight"), ("ln1_b", "input_layernorm.bias"),
         ("qkv_w", "attention.query_key_value.weight"), ("qkv_b", "attention.query_key_value.bias"),
         ("attn_out_w", "attention.dense.weight"), ("attn_out_b", "attention.dense.bias"),
         ("ln2_w", "post_attention_layernorm.weight"), ("ln2_b", "post_attention_layernorm.bias"),
         ("fc_w", "mlp.dense_h_to_4h.weight"), ("fc_b", "mlp.dense_h_to_4h.bias"),
         ("fc_out_w", "mlp.dense_4h_to_h.weight"), ("fc_out_b", "mlp.dense_4h_to_h.bias")]


def layout(d=D, nl=L, V=V_TOTAL):
    """[(distsweep name, HF name, offset, shape)] of the flat layout (src/model.h)."""
    shapes = {"ln1_w": (d,), "ln1_b": (d,), "qkv_w": (3 * d, d), "qkv_b": (3 * d,), "attn_out_w": (d, d),
              "attn_out_b": (d,), "ln2_w": (d,), "ln2_b": (d,), "fc_w": (4 * d, d), "fc_b": (4 * d,),
              "fc_out_w": (d, 4 * d), "fc_out_b": (d,)}
    out, o = [], 0

    def add(name, hname, shape):
        nonlocal o
        out.append((name, hname, o, shape))
        o += int(np.prod(shape))
    add("wte", "gpt_neox.embed_in.weight", (V, d))
    for l in range(nl):
        for k, hk in LAYER:
            add(f"layers.{l}.{k}", f"gpt_neox.layers.{l}.{hk}", shapes[k])
    add("lnf_w", "gpt_neox.final_layer_norm.weight", (d,))
    add("lnf_b", "gpt_neox.final_layer_norm.bias", (d,))
    add("head_w", "embed_out.weight", (V, d))
    return out


def file_params(path, d=D, nl=L, heads=H):
    """The flat fp32 vector of an HF directory's single model.safetensors, mapped here
    independently of src/hfmodel.c: query_key_value rows [head][q,k,v][hd] -> [q,k,v][head][hd]."""
    from safetensors.numpy import load_file
    t = load_file(os.path.join(path, "model.safetensors"))
    parts = []
    for name, hname, _, shape in layout(d, nl):
        x = t[hname].astype(np.float32)
        if name.endswith("qkv_w") or name.endswith("qkv_b"):
            cols = x.shape[1] if x.ndim == 2 else 1
            x = x.reshape(heads, 3, d // heads, cols).transpose(1, 0, 2, 3).reshape(shape)
        parts.append(x.reshape(-1))
    return np.concatenate(parts)


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


# ---- import -----------------------------------------------------------------------

def sc_import(work):
    hf()
    import torch
    from transformers import GPTNeoXForCausalLM
    cases = [(True, 0.25, ["fp32", "fp16", "sharded", "bf16"]), (False, 1.0, ["fp32", "fp16", "sharded"])]
    for parallel, rot, forms in cases:
        m = make_model(parallel, rot)
        for form in forms:
            tag = f"{'par' if parallel else 'seq'}_rot{rot}_{form}"
            d = os.path.join(work, tag)
            os.makedirs(d)
            save(m, os.path.join(d, "base"), form)
            y = write(os.path.join(d, "s.yaml"), sweep_text())
            ref_model = GPTNeoXForCausalLM.from_pretrained(os.path.join(d, "base"),
                                                           torch_dtype=torch.float32).eval()
            for length in ("6", "9"):
                out = os.path.join(d, f"logits{length}.bin")
                p = run([A.tool, "logits", y, length, out])
                if not check(p.returncode == 0, f"{tag}: hf_tool logits failed ({p.returncode}): {p.stderr}"):
                    continue
                tok, ours = read_logits(out)
                with torch.no_grad():
                    ref = ref_model(torch.tensor(tok[:, :-1], dtype=torch.long)).logits.numpy()
                err = float(np.abs(ref - ours).max())
                tol = LOGIT_TOL * max(1.0, float(np.abs(ref).max()))
                check(err <= tol, f"{tag}: length {length}: max |logit difference| {err:.3g} > {tol:.3g}")
                print(f"{tag}: length {length}: {tok.shape[0]} examples of {tok.shape[1]} tokens, max "
                      f"|logit diff| {err:.2e} (tol {tol:.2e}, max |logit| {np.abs(ref).max():.2f})")


# ---- llama / qwen2 ---------------------------------------------------------------

KV = 2  # key/value heads of 4 (GQA)
LH = 4
FF = 48  # intermediate_size


def make_llama(qwen, tied, seed=3, d=D, nl=L, heads=LH, ff=FF):
    """A random Qwen2ForCausalLM or LlamaForCausalLM of the count task's vocabulary,
    every parameter (norms and biases too) non-trivial."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(seed)
    kw = dict(vocab_size=V_TOTAL, hidden_size=d, num_hidden_layers=nl, num_attention_heads=heads,
              num_key_value_heads=KV, intermediate_size=ff, max_position_embeddings=64,
              rms_norm_eps=1e-6, rope_theta=1e6 if qwen else 5e5, tie_word_embeddings=tied,
              hidden_act="silu")
    m = (Qwen2ForCausalLM(Qwen2Config(**kw)) if qwen else
         LlamaForCausalLM(LlamaConfig(attention_bias=False, **kw))).eval()
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))
    return m


def llama_layout(bias, tied, d=D, nl=L, V=V_TOTAL):
    """[(distsweep name, [HF names concatenated by rows], offset, shape)] of block llama
    (src/model.h), written here independently of src/hfmodel.c."""
    kv, out, o = KV * (d // LH), [], 0

    def add(name, hnames, shape):
        nonlocal o
        out.append((name, hnames, o, shape))
        o += int(np.prod(shape))
    add("wte", ["model.embed_tokens.weight"], (V, d))
    for l in range(nl):
        pre = f"model.layers.{l}."
        add(f"layers.{l}.ln1_w", [pre + "input_layernorm.weight"], (d,))
        add(f"layers.{l}.qkv_w", [pre + f"self_attn.{x}_proj.weight" for x in "qkv"], (d + 2 * kv, d))
        if bias:
            add(f"layers.{l}.qkv_b", [pre + f"self_attn.{x}_proj.bias" for x in "qkv"], (d + 2 * kv,))
        add(f"layers.{l}.attn_out_w", [pre + "self_attn.o_proj.weight"], (d, d))
        add(f"layers.{l}.ln2_w", [pre + "post_attention_layernorm.weight"], (d,))
        add(f"layers.{l}.gate_up_w", [pre + "mlp.gate_proj.weight", pre + "mlp.up_proj.weight"], (2 * FF, d))
        add(f"layers.{l}.down_w", [pre + "mlp.down_proj.weight"], (d, FF))
    add("lnf_w", ["model.norm.weight"], (d,))
    if not tied:
        add("head_w", ["lm_head.weight"], (V, d))
    return out


def sc_llama(work):
    hf()
    import torch
    from transformers import AutoModelForCausalLM
    from safetensors.numpy import load_file
    # -- import: logits at step 0 equal transformers'
    for qwen in (True, False):
        for tied in (True, False):
            m = make_llama(qwen, tied)
            for form in ("fp32", "bf16"):
                tag = f"{'qwen2' if qwen else 'llama'}_{'tied' if tied else 'untied'}_{form}"
                d = os.path.join(work, tag)
                os.makedirs(d)
                save(m, os.path.join(d, "base"), form)
                from safetensors import safe_open
                with safe_open(os.path.join(d, "base", "model.safetensors"), "pt") as f:
                    keys = set(f.keys())
                check(("lm_head.weight" in keys) != tied, f"{tag}: lm_head.weight saved: {'lm_head.weight' in keys}")
                y = write(os.path.join(d, "s.yaml"), sweep_text())
                ref_model = AutoModelForCausalLM.from_pretrained(os.path.join(d, "base"),
                                                                 torch_dtype=torch.float32).eval()
                for length in ("6", "9"):
                    out = os.path.join(d, f"logits{length}.bin")
                    p = run([A.tool, "logits", y, length, out])
                    if not check(p.returncode == 0, f"{tag}: hf_tool logits failed ({p.returncode}): {p.stderr}"):
                        continue
                    check("untied" not in p.stderr, f"{tag}: an untie note without reinit: {p.stderr}")
                    tok, ours = read_logits(out)
                    with torch.no_grad():
                        ref = ref_model(torch.tensor(tok[:, :-1], dtype=torch.long)).logits.numpy()
                    err = float(np.abs(ref - ours).max())
                    tol = LOGIT_TOL * max(1.0, float(np.abs(ref).max()))
                    check(err <= tol, f"{tag}: length {length}: max |logit difference| {err:.3g} > {tol:.3g}")
                    print(f"{tag}: length {length}: {tok.shape[0]} examples, max |logit diff| {err:.2e} "
                          f"(tol {tol:.2e}, max |logit| {np.abs(ref).max():.2f})")
    # -- reinit of the head of a tied Qwen2 model: untied, the embeddings kept
    d = os.path.join(work, "reinit")
    os.makedirs(d)
    save(make_llama(True, True), os.path.join(d, "base"), "fp32")
    st = load_file(os.path.join(d, "base", "model.safetensors"))
    y = write(os.path.join(d, "s.yaml"), sweep_text(init="{from: base, reinit: [head]}", seeds=3, save=1))
    for seed in (0, 1):
        out = os.path.join(d, f"params_{seed}.bin")
        p = run([A.tool, "params", y, str(seed), out])
        if not check(p.returncode == 0, f"reinit: hf_tool params failed: {p.stderr}"):
            return
        notes = [ln for ln in p.stderr.splitlines() if "untied" in ln]
        check(len(notes) == 1 and "base/config.json" in notes[0] and "head" in notes[0],
              f"reinit: wanted one untie note on stderr, got: {p.stderr!r}")
        got = read_params(out)
        sc = tool_params(y, "scratch", seed, d)
        lay = llama_layout(True, False)
        check(got.size == lay[-1][2] + int(np.prod(lay[-1][3])), f"reinit: {got.size} parameters")
        for name, hnames, off, shape in lay:
            n = int(np.prod(shape))
            ours = got[off:off + n]
            if name == "head_w":
                check(np.array_equal(bits(ours), bits(sc[off:off + n])),
                      f"reinit seed {seed}: head_w is not the seed's from-scratch init")
                check(not np.array_equal(ours, st["model.embed_tokens.weight"].reshape(-1)),
                      f"reinit seed {seed}: head_w is the embeddings")
            else:
                want = np.concatenate([st[h].astype(np.float32) for h in hnames], axis=0).reshape(-1)
                check(np.array_equal(bits(ours), bits(want)), f"reinit seed {seed}: {name} is not the file's")
        if seed == 0:
            head0 = got[lay[-1][2]:]
        else:
            check(not np.array_equal(head0, got[lay[-1][2]:]), "reinit: seeds 0 and 1 drew the same head")
    # the run: the note once (rank 0), the canonical text says the rule
    out = os.path.join(d, "out.h5")
    p = run([A.bin, y, "-o", out, "--quiet"])
    check(p.returncode == 0, f"reinit: run failed: {p.stderr}")
    check(p.stderr.count("untied") == 1, f"reinit: the untie note {p.stderr.count('untied')} times: {p.stderr}")
    # the export names the base, the reinitialized head and the untying
    hd = os.path.join(d, "hf")
    p = run([A.bin, "export", out, "--scale", "0", "--seed", "0", "-o", hd])
    if check(p.returncode == 0, f"reinit: export failed: {p.stderr}"):
        readme = open(os.path.join(hd, "README.md")).read()
        cfg = json.load(open(os.path.join(hd, "config.json")))
        check("`base`" in readme and " head (seed varies" in readme and "- untied:" in readme and
              "fresh init" in readme, f"reinit: README: {readme[:1200]}")
        check(cfg["architectures"] == ["Qwen2ForCausalLM"] and cfg["tie_word_embeddings"] is False,
              f"reinit: exported config {cfg}")
    # -- bad directories: exit 2, file and key or tensor named
    good = os.path.join(work, "qwen2_untied_fp32", "base")

    def variant(name, cfg=None, drop=None):
        dd = os.path.join(work, "bad_" + name, "base")
        shutil.copytree(good, dd)
        if cfg:
            c = json.load(open(os.path.join(dd, "config.json")))
            c.update(cfg)
            json.dump(c, open(os.path.join(dd, "config.json"), "w"))
        if drop:
            from safetensors.numpy import save_file
            t = load_file(os.path.join(dd, "model.safetensors"))
            t.pop(drop)
            save_file(t, os.path.join(dd, "model.safetensors"), metadata={"format": "pt"})
        return dd
    for name, dd, want in [
        ("kv", variant("kv", cfg={"num_key_value_heads": 3}),
         "base/config.json: num_key_value_heads 3 does not divide num_attention_heads 4"),
        ("act", variant("act", cfg={"hidden_act": "gelu"}), "base/config.json: hidden_act gelu is not supported"),
        ("llama_bias", variant("llama_bias", cfg={"model_type": "llama", "attention_bias": True}),
         "base/config.json: attention_bias is true"),
        ("missing", variant("missing", drop="model.layers.1.mlp.up_proj.weight"),
         "base: no tensor model.layers.1.mlp.up_proj.weight"),
        ("kv_key", good, "s.yaml:4:13: model.kv_heads 4 contradicts"),
    ]:
        y = write(os.path.join(os.path.dirname(dd), f"s_{name}.yaml"),
                  sweep_text(model_extra="  kv_heads: 4\n" if name == "kv_key" else ""))
        if name == "kv_key":
            want = want.replace("s.yaml", f"s_{name}.yaml")
        o = os.path.join(os.path.dirname(dd), f"out_{name}.h5")
        p = run([A.bin, y, "-o", o, "--quiet"])
        check(p.returncode == 2 and want in p.stderr,
              f"{name}: exit {p.returncode}, wanted 2 and '{want}' in: {p.stderr.strip()}")
        check(not os.path.exists(o), f"{name}: a result file was written")
        print(f"{name}: {p.stderr.strip()}")
    # -- export of llama-block models trained from scratch
    for bias, tied in ((True, False), (False, True)):
        tag = f"export_{'qwen2' if bias else 'llama'}_{'tied' if tied else 'untied'}"
        w = os.path.join(work, tag)
        os.makedirs(w)
        extra = (f", block: llama, kv_heads: {KV}, mlp_hidden: {FF}, qkv_bias: {str(bias).lower()}, "
                 f"tie_embeddings: {str(tied).lower()}, rope_base: 100000")
        text = sweep_text(init=None, model_extra=extra, steps=300, seeds=1, save=1, lr="3.0e-3",
                          warmup=10, schedule="cosine").replace("head_dim: 16", "head_dim: 8")
        # lengths just past training's too, where a small model is right on some examples only
        text = text.replace("eval_lengths: [6, 9]", "eval_lengths: [6, 7, 8, 9]")
        y = write(os.path.join(w, "s.yaml"), text)
        out = os.path.join(w, "t.h5")
        p = run([A.bin, y, "-o", out, "--quiet"], timeout=900)
        if not check(p.returncode == 0, f"{tag}: training failed: {p.stderr}"):
            continue
        hd = os.path.join(w, "hf")
        p = run([A.bin, "export", out, "--scale", "0", "--seed", "0", "-o", hd])
        if not check(p.returncode == 0, f"{tag}: export failed: {p.stderr}"):
            continue
        cfg = json.load(open(os.path.join(hd, "config.json")))
        want_cls = "Qwen2ForCausalLM" if bias else "LlamaForCausalLM"
        check(cfg["architectures"] == [want_cls] and cfg["num_key_value_heads"] == KV and
              cfg["intermediate_size"] == FF and cfg["tie_word_embeddings"] == tied and
              cfg["attention_bias"] == bias and cfg["rope_theta"] == 100000 and cfg["rms_norm_eps"] == 1e-5,
              f"{tag}: config.json {cfg}")
        names = set(load_file(os.path.join(hd, "model.safetensors")))
        want_names = {h for _, hs, _, _ in llama_layout(bias, tied) for h in hs}
        check(names == want_names, f"{tag}: tensor names {sorted(names ^ want_names)} differ")
        model = AutoModelForCausalLM.from_pretrained(hd).eval()
        check(type(model).__name__ == want_cls, f"{tag}: loaded as {type(model).__name__}")
        with h5py.File(out, "r") as f:
            lengths, em = f["eval_lengths"][()], f["metrics/em"][()]
        for li, length in enumerate(lengths):
            lf = os.path.join(w, f"logits{length}.bin")
            p = run([A.logits, out, "0", "0", str(int(length)), lf])
            if not check(p.returncode == 0, f"{tag}: model_logits: {p.stderr}"):
                continue
            with open(lf, "rb") as f:
                n, n_tok, V = np.frombuffer(f.read(12), dtype="<i4")
                x = np.frombuffer(f.read(4 * n * n_tok), dtype="<i4").reshape(n, n_tok)
                mask = np.frombuffer(f.read(n * n_tok), dtype=np.uint8).reshape(n, n_tok)
                ref = np.frombuffer(f.read(), dtype="<f4").reshape(n, n_tok - 1, V)
            with torch.no_grad():
                hl = model(torch.tensor(x[:, :-1], dtype=torch.long)).logits.numpy()
            err = float(np.abs(hl - ref).max())
            bound = LOGIT_TOL * max(1.0, float(np.abs(ref).max()))
            check(err <= bound, f"{tag} L={length}: logits differ by {err} > {bound}")
            p0 = int(np.argmax(mask[0] != 0))
            from transformers import GenerationConfig
            gc = GenerationConfig(max_new_tokens=x.shape[1] - p0, do_sample=False, num_beams=1,
                                  eos_token_id=None, bos_token_id=None, pad_token_id=cfg["pad_token_id"])
            with torch.no_grad():
                g = model.generate(torch.tensor(x[:, :p0], dtype=torch.long),
                                   attention_mask=torch.ones(x.shape[0], p0, dtype=torch.long),
                                   generation_config=gc).numpy()
            # transformers stops once every row has emitted the eos token ".", which no
            # answer holds: such a row is wrong, as distsweep's argmax there is too
            check(g.shape[1] <= x.shape[1], f"{tag} L={length}: generate made {g.shape[1] - p0} tokens")
            g = np.concatenate([g, np.full((g.shape[0], x.shape[1] - g.shape[1]), -1)], axis=1)
            right = int((g[:, p0:] == x[:, p0:]).all(axis=1).sum())
            stored_em = float(em[0, 0, li])
            print(f"{tag} L={length}: max |logit diff| {err:.3g} (bound {bound:.3g}); HF greedy EM "
                  f"{right}/{x.shape[0]}, stored EM {stored_em:.4f}")
            check(right == round(stored_em * x.shape[0]), f"{tag} L={length}: HF greedy EM {right}, stored {stored_em}")
        readme = open(os.path.join(hd, "README.md")).read()
        check(want_cls in readme and (", tied head" in readme) == tied, f"{tag}: README model line: {readme[:600]}")


# ---- reinit -----------------------------------------------------------------------

REINIT = "{from: base, reinit: [{layer: -1, part: attention}, head]%s}"
REINIT_NAMES = {f"layers.{L - 1}.{k}" for k in ("qkv_w", "qkv_b", "attn_out_w", "attn_out_b")} | {"head_w"}


def tool_params(y, what, seed, work):
    out = os.path.join(work, f"{what}_{seed}.bin")
    p = run([A.tool, what, y, str(seed), out])
    check(p.returncode == 0, f"hf_tool {what} {y} {seed} failed: {p.stderr}")
    return read_params(out) if p.returncode == 0 else None


def sc_reinit(work):
    hf()
    m = make_model(True, 0.25)
    for form in ("fp32", "fp16"):
        d = os.path.join(work, form)
        os.makedirs(d)
        save(m, os.path.join(d, "base"), form)
        base = file_params(os.path.join(d, "base"))
        y = write(os.path.join(d, "s.yaml"), sweep_text(init=REINIT % "", seeds=4))
        got = {}
        for seed in (0, 1):
            p = tool_params(y, "params", seed, d)
            sc = tool_params(y, "scratch", seed, d)
            if p is None or sc is None:
                return
            got[seed] = p
            for name, hname, off, shape in layout():
                n = int(np.prod(shape))
                ours, theirs, scratch = p[off:off + n], base[off:off + n], sc[off:off + n]
                if name in REINIT_NAMES:
                    check(np.array_equal(bits(ours), bits(scratch)),
                          f"{form} seed {seed}: reinitialized {name} is not the seed's init from scratch")
                    check(not np.array_equal(ours, theirs), f"{form} seed {seed}: {name} kept the file's values")
                else:
                    check(np.array_equal(bits(ours), bits(theirs)),
                          f"{form} seed {seed}: {name} ({hname}) is not bit-equal to the file")
        off = layout()[-1][2]
        check(not np.array_equal(got[0][off:], got[1][off:]), f"{form}: seeds 0 and 1 drew the same head")
        print(f"reinit {form}: untouched tensors bit-equal to the file, reinitialized ones to the "
              f"seed's init, for seeds 0 and 1")
    # vary: data keeps seeds.start's values; vary: weights draws each seed's
    d = os.path.join(work, "fp32")
    for vary, same in (("data", True), ("weights", False)):
        y = write(os.path.join(d, f"vary_{vary}.yaml"), sweep_text(init=REINIT % f", vary: {vary}", seeds=4))
        p0, p3 = tool_params(y, "params", 0, d), tool_params(y, "params", 3, d)
        if p0 is None or p3 is None:
            return
        check(np.array_equal(bits(p0), bits(p3)) == same,
              f"vary: {vary}: seeds 0 and 3 {'differ' if same else 'are equal'}")


# ---- continue ---------------------------------------------------------------------

def curves(out):
    with h5py.File(out, "r") as f:
        return f["curves/train_loss"][()][0], f["metrics/loss"][()][0]


def sc_continue(work):
    # 1. a base model: a count model trained by distsweep, exported to HF
    y = write(os.path.join(work, "pre.yaml"),
              sweep_text(init=None, steps=300, seeds=1, save=1, lr="3.0e-3", schedule="cosine", warmup=10))
    pre = os.path.join(work, "pre.h5")
    p = run([A.bin, y, "-o", pre, "--quiet"], timeout=600)
    if not check(p.returncode == 0, f"pretraining failed: {p.stderr}"):
        return
    base_curve, _ = curves(pre)
    base_last = float(base_curve[0][-1])
    p = run([A.bin, "export", pre, "--scale", "0", "--seed", "0", "-o", os.path.join(work, "base")])
    if not check(p.returncode == 0, f"export failed: {p.stderr}"):
        return
    # 2. populations from it, and one from scratch
    firsts = {}
    for name, init in (("scratch", None), ("keep", "{from: base}"),
                       ("reinit", "{from: base, reinit: [{layer: -1, part: attention}, head]}"),
                       ("weights", "{from: base, vary: weights}"),
                       ("data", "{from: base, reinit: [head], vary: data}")):
        y = write(os.path.join(work, f"{name}.yaml"), sweep_text(init=init, steps=20, seeds=2, save=1))
        out = os.path.join(work, f"{name}.h5")
        p = run([A.bin, y, "-o", out, "--quiet"])
        if not check(p.returncode == 0, f"{name}: run failed ({p.returncode}): {p.stderr}"):
            return
        c, loss = curves(out)
        firsts[name] = c
        print(f"{name}: loss curve seed 0 {np.round(c[0], 3).tolist()}, seed 1 {np.round(c[1], 3).tolist()}")
    print(f"base model's last training-loss point {base_last:.4f}")
    # a seed of the population exports (the stored sweep attaches the base beside the file)
    # with the base and its reinitialized parts in its README; status and report read the file
    exp = os.path.join(work, "exported")
    p = run([A.bin, "export", os.path.join(work, "reinit.h5"), "--scale", "0", "--seed", "0", "-o", exp])
    if check(p.returncode == 0, f"export of a population seed: {p.stderr}"):
        readme = open(os.path.join(exp, "README.md")).read()
        check("started from the Hugging Face model `base`" in readme and "layer -1 attention, head" in readme,
              f"export README does not name the base and the reinit parts: {readme[:800]}")
    for cmd in ("status", "report"):
        p = run([A.bin, cmd, os.path.join(work, "reinit.h5")])
        check(p.returncode == 0, f"{cmd} of a population file: {p.returncode} {p.stderr}")
    s0, k0 = float(firsts["scratch"][0][0]), float(firsts["keep"][0][0])
    check(k0 < 0.5 * s0, f"continued training starts at loss {k0:.4f}, not far below scratch's {s0:.4f}")
    check(k0 < base_last + 0.5, f"continued training starts at loss {k0:.4f}, not near the base's {base_last:.4f}")
    # a reinitialized head forgets the base's answers: the loss starts near scratch's again
    r0 = float(firsts["reinit"][0][0])
    check(r0 > 2 * k0, f"with the top attention and head reinitialized the loss starts at {r0:.4f}, "
                       f"as low as without ({k0:.4f})")
    # vary: weights without reinit: every seed has the same weights and seeds.start's data
    w = firsts["weights"]
    check(np.array_equal(bits(w[0]), bits(w[1])), "vary: weights: seeds 0 and 1 trained differently")
    # keep (vary both, nothing reinitialized): same weights, different data
    check(not np.array_equal(firsts["keep"][0], firsts["keep"][1]), "vary: both: seeds 0 and 1 saw the same data")
    check(not np.array_equal(firsts["data"][0], firsts["data"][1]), "vary: data: seeds 0 and 1 saw the same data")
    # 3. a stop and a resume from the checkpoint (parameters from it, not from the base) end
    # exactly as an uninterrupted pack
    y = write(os.path.join(work, "resume.yaml"),
              sweep_text(init="{from: base, reinit: [{layer: -1, part: attention}, head]}", steps=1500)
              .replace("checkpoint_every: 0", "checkpoint_every: 10"))
    cmd = [A.bin, "train", y, "--seeds", "0,1", "--format", "json", "--quiet"]
    ref = run(cmd)
    if not check(ref.returncode == 0, f"train: {ref.stderr}"):
        return
    ck = os.path.join(work, "resume.ckpt")
    p = subprocess.Popen(cmd + ["--checkpoint", ck], env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None and not os.path.exists(ck):
        time.sleep(0.02)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    check(p.returncode == 3 and os.path.exists(ck), f"stop: exit {p.returncode} (want 3): {err}")
    res = run(cmd + ["--checkpoint", ck])
    check(res.returncode == 0, f"resume: {res.stderr}")

    def metrics(text):
        j = json.loads(text)
        for r in j.get("runs", []):
            r.pop("wall_s", None)
        j.pop("wall_s", None)
        return j
    check(res.returncode == 0 and metrics(res.stdout) == metrics(ref.stdout),
          f"resumed pack differs from the uninterrupted one:\n{res.stdout}\n{ref.stdout}")


# ---- errors -----------------------------------------------------------------------

def dir_hashes(path):
    out = {}
    for root, _, files in os.walk(path):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                out[os.path.relpath(os.path.join(root, f), path)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def sc_errors(work):
    hf()
    from safetensors.numpy import load_file, save_file
    m = make_model(True, 0.25)
    good = save(m, os.path.join(work, "good"), "fp32")
    sharded = save(m, os.path.join(work, "good_sharded"), "sharded")

    def variant(name, edit):
        d = os.path.join(work, name, "base")
        shutil.copytree(good, d)
        edit(d)
        return d

    def edit_config(**kv):
        def f(d):
            p = os.path.join(d, "config.json")
            c = json.load(open(p))
            c.update(kv)
            json.dump(c, open(p, "w"))
        return f

    def edit_tensors(fn):
        def f(d):
            p = os.path.join(d, "model.safetensors")
            t = load_file(p)
            fn(t)
            save_file(t, p, metadata={"format": "pt"})
        return f

    def nan(t):
        t["gpt_neox.layers.0.attention.dense.weight"][3, 5] = np.nan

    def truncate(d):
        p = os.path.join(d, "model.safetensors")
        data = open(p, "rb").read()
        open(p, "wb").write(data[:-100])

    cases = [
        ("no_config", lambda d: os.remove(os.path.join(d, "config.json")), "base/config.json: cannot read"),
        ("no_weights", lambda d: os.remove(os.path.join(d, "model.safetensors")),
         "base: no model.safetensors or model.safetensors.index.json"),
        ("model_type", edit_config(model_type="mistral"), "base/config.json: model_type 'mistral' is not supported"),
        ("intermediate", edit_config(intermediate_size=3 * D), "base/config.json: intermediate_size 96 is not 4 x"),
        ("tied", edit_config(tie_word_embeddings=True), "base/config.json: tie_word_embeddings is true"),
        ("dtype", edit_tensors(lambda t: t.update({"embed_out.weight": t["embed_out.weight"].astype(np.float64)})),
         "base/model.safetensors: tensor embed_out.weight has dtype F64"),
        ("missing", edit_tensors(lambda t: t.pop("embed_out.weight")), "base: no tensor embed_out.weight"),
        ("shape", edit_tensors(lambda t: t.update({"embed_out.weight": t["embed_out.weight"][:-1]})),
         "base/model.safetensors: tensor embed_out.weight has shape [15, 32], config.json's model needs [16, 32]"),
        ("unknown", edit_tensors(lambda t: t.update({"gpt_neox.extra.weight": np.zeros(3, np.float32)})),
         "base/model.safetensors: tensor gpt_neox.extra.weight is not a parameter"),
        ("nan", edit_tensors(nan), "base/model.safetensors: tensor gpt_neox.layers.0.attention.dense.weight holds NaN"),
        ("truncated", truncate, "base/model.safetensors: "),
    ]
    dirs = []
    for name, edit, want in cases:
        dirs.append((name, variant(name, edit), sweep_text(), want))
    # a missing shard
    d = os.path.join(work, "shard", "base")
    shutil.copytree(sharded, d)
    shard = sorted(f for f in os.listdir(d) if f.startswith("model-"))[-1]
    os.remove(os.path.join(d, shard))
    dirs.append(("shard", d, sweep_text(), f"base/{shard}: cannot open"))
    # the sweep against a good directory (FILE:LINE:COL)
    for name, text, want in [
        ("layer", sweep_text(init="{from: base, reinit: [{layer: 2, part: mlp}]}"),
         "s.yaml:3:31: model.init.reinit[0]: layer 2 does not exist"),
        ("block", sweep_text(model_extra="  block: sequential\n"),
         "s.yaml:4:10: model.block sequential contradicts"),
        ("head_dim", sweep_text(model_extra="  head_dim: 8\n"), "s.yaml:4:13: model.head_dim 8 contradicts"),
        ("scale", sweep_text(width=64), "s.yaml:7:5: scale width 64, depth 2 is not the model of model.init.from"),
        ("vocab", sweep_text(vocab=13), "s.yaml:3:16: the task's vocabulary is 17 tokens"),
    ]:
        d = os.path.join(work, name, "base")
        shutil.copytree(good, d)
        dirs.append((name, d, text, want))
    for name, d, text, want in dirs:
        y = write(os.path.join(os.path.dirname(d), "s.yaml"), text)
        out = os.path.join(os.path.dirname(d), "out.h5")
        before = dir_hashes(d)
        for cmd in ([A.bin, y, "-o", out, "--quiet"], [A.bin, "plan", y]):
            p = run(cmd)
            check(p.returncode == 2 and want in p.stderr,
                  f"{name}: {' '.join(cmd[1:2])}: exit {p.returncode}, wanted 2 and '{want}' in: {p.stderr.strip()}")
        check(not os.path.exists(out) and not os.path.exists(out + ".journal"), f"{name}: a result file was written")
        check(dir_hashes(d) == before, f"{name}: the model directory changed")
        print(f"{name}: {p.stderr.strip()}")


# ---- bases of different sizes ------------------------------------------------------

def sizes_text(init, values, family_wd="", extra_model=""):
    return ("task: {kind: count, vocab: 12, train_length: [1, 6], eval_lengths: [6, 9]}\n"
            f"model:\n  init: {init}\n{extra_model}"
            "train: {steps: 12, batch: 8, context: 32, lr: 1.0e-3, warmup: 0, schedule: linear, log_every: 4}\n"
            "seeds: {start: 0, count: 3}\n"
            f"scales:\n  - {{family: values, name: base, {family_wd}key: model.init.from, values: {values}}}\n"
            "run: {backend: cpu, checkpoint_every: 0, save_models: true}\n")


def hf_count(m):
    return sum(p.numel() for p in m.parameters())


def step0_logits(y, scale, ref_dir, tag, work):
    """hf_tool's step-0 logits of condition `scale` against transformers on ref_dir."""
    import torch
    from transformers import AutoModelForCausalLM
    ref_model = AutoModelForCausalLM.from_pretrained(ref_dir, torch_dtype=torch.float32).eval()
    out = os.path.join(work, f"logits_{tag}.bin")
    p = run([A.tool, "logits", y, "9", out, str(scale)])
    if not check(p.returncode == 0, f"{tag}: hf_tool logits failed ({p.returncode}): {p.stderr}"):
        return p
    tok, ours = read_logits(out)
    with torch.no_grad():
        ref = ref_model(torch.tensor(tok[:, :-1], dtype=torch.long)).logits.numpy()
    err = float(np.abs(ref - ours).max())
    tol = LOGIT_TOL * max(1.0, float(np.abs(ref).max()))
    check(ours.shape == ref.shape and err <= tol, f"{tag}: max |logit difference| {err:.3g} > {tol:.3g}")
    print(f"{tag}: step-0 logits of condition {scale} equal transformers' on its own base: max "
          f"|diff| {err:.2e} (tol {tol:.2e})")
    return p


def sc_sizes(work):
    hf()
    import torch
    from transformers import AutoModelForCausalLM
    # GPT-NeoX bases of two sizes and head sizes: a (32 wide, 2 layers, 2 heads of 16, 4 rotated
    # dims), b (64, 3, 2 heads of 32, 8 rotated dims)
    ma, mb = make_model(True, 0.25, seed=1), make_model(True, 0.25, seed=2, d=64, nl=3, heads=2)
    save(ma, os.path.join(work, "a"), "fp32")
    save(mb, os.path.join(work, "b"), "fp32")
    vals = "[a, {from: b, width: 64, depth: 3}]"
    y = write(os.path.join(work, "plain.yaml"), sizes_text("{from: a}", vals, "width: 32, depth: 2, "))
    step0_logits(y, 0, os.path.join(work, "a"), "neox_a", work)
    step0_logits(y, 1, os.path.join(work, "b"), "neox_b", work)
    # reinit: condition b's untouched tensors are b's file, bit for bit; its reinitialized ones
    # (layer -1 = its layer 2) the seed's init from scratch at b's shape
    y = write(os.path.join(work, "reinit.yaml"),
              sizes_text("{from: a, reinit: [{layer: -1, part: attention}, head]}", vals, "width: 32, depth: 2, "))
    base_b = file_params(os.path.join(work, "b"), 64, 3, 2)
    reinit_b = {f"layers.2.{k}" for k in ("qkv_w", "qkv_b", "attn_out_w", "attn_out_b")} | {"head_w"}
    for seed in (0, 1):
        got, scr = (os.path.join(work, f"{w}_b_{seed}.bin") for w in ("params", "scratch"))
        p1 = run([A.tool, "params", y, str(seed), got, "1"])
        p2 = run([A.tool, "scratch", y, str(seed), scr, "1"])
        if not check(p1.returncode == 0 and p2.returncode == 0, f"hf_tool params/scratch: {p1.stderr} {p2.stderr}"):
            return
        got, scr = read_params(got), read_params(scr)
        check(got.size == base_b.size == hf_count(mb), f"condition b: {got.size} parameters, b has {hf_count(mb)}")
        for name, hname, off, shape in layout(64, 3):
            n = int(np.prod(shape))
            want = scr if name in reinit_b else base_b
            check(np.array_equal(bits(got[off:off + n]), bits(want[off:off + n])),
                  f"condition b seed {seed}: {name} is not {'the seed init' if name in reinit_b else 'the file'}")
    print("condition b: untouched tensors bit-equal to b's file, layer 2 attention and head the seed's init")
    # plan and a two-rank run: each condition's own parameters, FLOPs and memory
    p = run([A.bin, "plan", y])
    rows = {int(r[0]): r for r in (ln.split() for ln in p.stdout.splitlines()) if len(r) > 9 and r[0] in "01"}
    check(p.returncode == 0 and "model.init.from, each at its base's width and depth" in p.stdout and
          [rows.get(i, [""] * 5)[1:5] for i in (0, 1)] ==
          [["32", "2", "2", str(hf_count(ma))], ["64", "3", "2", str(hf_count(mb))]] and
          rows[1][-1] == "b" and re.search(r"memory: per replica .*#0 [\d.]+ MiB, #1 [\d.]+ MiB", p.stdout),
          f"plan: each condition's width, depth, heads and parameters: {p.returncode} {p.stdout[-1500:]} {p.stderr}")
    out = os.path.join(work, "sizes.h5")
    p = run([A.mpiexec, "-np", "2", "--oversubscribe", A.bin, "run", y, "-o", out, "--quiet"], timeout=600)
    if not check(p.returncode == 0, f"run: {p.returncode} {p.stderr}"):
        return
    with h5py.File(out, "r") as f:
        names = [x.decode() for x in f["scales/name"][()]]
        check(names == ["d32_L2", "d64_L3_from=b"], f"names {names}")
        check(list(f["scales/n_params"][()]) == [hf_count(ma), hf_count(mb)],
              f"/scales/n_params {list(f['scales/n_params'][()])}, transformers {hf_count(ma)}, {hf_count(mb)}")
        check((f["runs/status"][()] == 1).all(), "not every run is done")
        loss = f["metrics/loss"][()]
        check(np.isfinite(loss).all(), f"loss {loss}")
    # verify judges each stored model by its own base's shapes (config.json, read beside the
    # result file); without the base it says so and leaves them alone, and --repair refuses
    models = os.path.join(work, "sizes.h5.models")
    p = run([A.bin, "verify", out])
    check(p.returncode == 0 and "6 model(s)" in p.stdout, f"verify: {p.returncode} {p.stdout} {p.stderr}")
    os.rename(os.path.join(work, "b"), os.path.join(work, "b_away"))
    before = dir_hashes(work)
    p = run([A.bin, "verify", out])
    check(p.returncode == 1 and "stored models not checked" in p.stdout and "b/config.json" in p.stdout,
          f"verify without base b: {p.returncode} {p.stdout} {p.stderr}")
    p = run([A.bin, "verify", out, "--repair"])
    check(p.returncode == 2 and "nothing was changed" in p.stderr, f"verify --repair without b: {p.returncode} {p.stderr}")
    check(dir_hashes(work) == before and len(os.listdir(models)) == 6,
          f"verify without the base changed files: {sorted(os.listdir(models))}")
    os.rename(os.path.join(work, "b_away"), os.path.join(work, "b"))
    # export reads the base's config.json only (the weights are the stored model's)
    os.rename(os.path.join(work, "b", "model.safetensors"), os.path.join(work, "b_weights"))
    exp = os.path.join(work, "export_b")
    p = run([A.bin, "export", out, "--scale", "d64_L3_from=b", "--seed", "2", "-o", exp])
    os.rename(os.path.join(work, "b_weights"), os.path.join(work, "b", "model.safetensors"))
    if not check(p.returncode == 0, f"export (b's weights moved away): {p.stderr}"):
        return
    from safetensors.numpy import load_file
    tb, te = load_file(os.path.join(work, "b", "model.safetensors")), load_file(os.path.join(exp, "model.safetensors"))
    check({k: v.shape for k, v in te.items()} ==
          {k: v.shape for k, v in tb.items() if not k.endswith((".attention.bias", ".masked_bias", "inv_freq"))},
          f"export's tensors {sorted(te)} are not b's")
    cfg = json.load(open(os.path.join(exp, "config.json")))
    check((cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg["rotary_pct"]) ==
          (64, 3, 2, 0.25), f"export config {cfg}")
    readme = open(os.path.join(exp, "README.md")).read()
    check("`b`" in readme and "d_model 64, 3 layer(s), 2 head(s) of 32" in readme, f"README {readme[:900]}")
    mdl = AutoModelForCausalLM.from_pretrained(exp, torch_dtype=torch.float32).eval()
    with torch.no_grad():
        lg = mdl(torch.tensor([[1, 2, 3, 4]])).logits
    check(lg.shape == (1, 4, V_TOTAL) and torch.isfinite(lg).all(), "the export of condition b runs in transformers")
    # Qwen2 bases of two sizes, head sizes and MLPs, one tied and one not: logits at step 0;
    # reinit [head] unties the tied one only (one note, naming its config.json)
    qa = make_llama(True, True, seed=4)                               # 32 wide, 4 heads of 8, MLP 48
    qb = make_llama(True, False, seed=5, d=48, nl=3, heads=4, ff=80)  # 48 wide, 4 heads of 12, MLP 80
    save(qa, os.path.join(work, "qa"), "fp32")
    save(qb, os.path.join(work, "qb"), "bf16")
    vals = "[{from: qa, width: 32, depth: 2}, {from: qb, width: 48, depth: 3}]"
    y = write(os.path.join(work, "qwen.yaml"), sizes_text("{from: qa}", vals))
    step0_logits(y, 0, os.path.join(work, "qa"), "qwen_qa", work)
    step0_logits(y, 1, os.path.join(work, "qb"), "qwen_qb", work)
    y = write(os.path.join(work, "qwen_head.yaml"), sizes_text("{from: qa, reinit: [head]}", vals))
    p = run([A.tool, "params", y, "0", os.path.join(work, "q.bin"), "1"])
    notes = [ln for ln in p.stderr.splitlines() if "untied" in ln]
    check(p.returncode == 0 and len(notes) == 1 and "qa/config.json" in notes[0], f"untie notes: {p.stderr!r}")
    check(p.returncode == 0 and read_params(os.path.join(work, "q.bin")).size == hf_count(qb),
          "condition qb's parameter count")
    p = run([A.bin, "plan", y])
    rows = {int(r[0]): r for r in (ln.split() for ln in p.stdout.splitlines()) if len(r) > 9 and r[0] in "01"}
    check(p.returncode == 0 and [rows.get(i, [""] * 5)[1:5] for i in (0, 1)] ==
          [["32", "2", "4", str(hf_count(qa) + qa.lm_head.weight.numel())], ["48", "3", "4", str(hf_count(qb))]],
          f"qwen plan (qa untied: its head counted): {p.stdout[-1200:]} {p.stderr}")
    # what is refused: exit 2 at the value's (or key's) FILE:LINE:COL, nothing written
    save(make_model(True, 0.25, seed=6, vocab=V_TOTAL + 4), os.path.join(work, "v20"), "fp32")
    bad = [
        ("no_size", sizes_text("{from: a}", "[a, b]", "width: 32, depth: 2, "),
         r"no_size\.yaml:\d+:\d+: model\.init\.from b: the condition is width 32, depth 2, but .*b/config\.json has "
         r"hidden_size 64, num_hidden_layers 3; write the value as \{from: b, width: 64, depth: 3\}"),
        ("no_wd", sizes_text("{from: a}", "[a, {from: b}]"),
         r"no_wd\.yaml:\d+:\d+: scales\[0\]\.values\[0\] \(model\.init\.from\) has no width and depth"),
        ("block", sizes_text("{from: a}", "[a, {from: qa, width: 32, depth: 2}]", "width: 32, depth: 2, "),
         r"block\.yaml:\d+:\d+: model\.init\.from qa: .*qa/config\.json is Qwen2ForCausalLM.*share one block"),
        ("vocab", sizes_text("{from: a}", "[a, {from: v20, width: 32, depth: 2}]", "width: 32, depth: 2, "),
         r"vocab\.yaml:\d+:\d+: model\.init\.from v20: .*vocab_size 20"),
        ("layer", sizes_text("{from: b, reinit: [{layer: 2, part: mlp}]}", "[b, {from: a, width: 32, depth: 2}]",
                             "width: 64, depth: 3, "),
         r"layer\.yaml:\d+:\d+: model\.init\.reinit\[0\]: layer 2 does not exist: .*/a/config\.json has 2 layer"),
        ("head_dim", sizes_text("{from: a}", "[a, {from: b, width: 64, depth: 3}]", "width: 32, depth: 2, ",
                                "  head_dim: 16\n"),
         r"head_dim\.yaml:\d+:\d+: model\.head_dim 16 contradicts .*/b/config\.json"),
    ]
    for name, text, pattern in bad:
        y = write(os.path.join(work, name + ".yaml"), text)
        o = os.path.join(work, name + ".h5")
        p = run([A.bin, "run", y, "-o", o, "--quiet"])
        check(p.returncode == 2 and re.search(pattern, p.stderr) and not os.path.exists(o),
              f"{name}: exit {p.returncode}, {p.stderr.strip()!r}")
        print(f"{name}: {p.stderr.strip()}")


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["import", "reinit", "continue", "errors", "llama", "sizes"])
    ap.add_argument("--mpiexec", default="mpirun")
    ap.add_argument("--bin", required=True)
    ap.add_argument("--tool", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--pydeps", required=True)
    ap.add_argument("--logits", help="tests/models/model_logits (scenario llama)")
    A = ap.parse_args()
    work = tempfile.mkdtemp(prefix=f"ds_hf_{A.scenario}_")
    try:
        globals()["sc_" + A.scenario](work)
    finally:
        if failures() == 0:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory kept: {work}")
    print(f"hf.{A.scenario}: {'FAILED' if failures() else 'ok'} ({failures()} failed checks)")
    return 1 if failures() else 0


if __name__ == "__main__":
    sys.exit(main())
