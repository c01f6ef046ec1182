#!/usr/bin/python3
"""Stored models (run.save_models), `distsweep export` and `distsweep eval`, end to end
with real training, real HDF5 files and real SIGKILLs (tests/models/tests.cmake
registers one ctest per scenario).

usage: test_models.py SCENARIO --bin distsweep --logits model_logits --mpiexec mpirun
                      --src SOURCE_DIR --pydeps DIR

Scenarios:
  hf      an exported seed of a trained tiny count sweep, for both block types and
          rotary fractions 0.25 and 1.0, gives the same logits in Hugging Face's
          GPTNeoXForCausalLM as distsweep's forward on the count evaluation examples
          (tolerance below), the same EM when HF's greedy generate answers the
          prompts, and its tokenizer round-trips; transformers is installed from
          PyPI into --pydeps with --no-deps (cached: a rerun does not reinstall)
  eval    `distsweep eval` at a stored run's lengths reproduces the stored metrics
          bit for bit, and evaluates a length the sweep did not use
  kill    SIGKILL mpirun or a rank at random moments of a sweep with save_models on,
          resume: never a done run without its model; the final file and models equal
          an uninterrupted sweep's; a deleted or damaged model runs again on resume, as
          do done runs that a raised save_models now selects
  errors  export/eval of a run without a stored model, of a pending run, of an
          unknown scale: clear message, exit 2, nothing written; a damaged model: exit 1;
          a bad run.save_models: FILE:LINE:COL, exit 2; --fresh moves the models aside
"""
import argparse
import json
import os
import random
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
from procutil import SWEEP_ENV, check, install_hf_deps, children, failures, finish, reap  # noqa: E402

ENV = dict(SWEEP_ENV)
# Logit tolerance: both sides compute in fp32 the same operations in different
# summation orders (distsweep's kernels vs torch's), and HF builds its rotary
# tables in fp32 where distsweep rounds double-precision ones: the differences
# are a few ulps of the activations (measured: at most 3e-6 on logits of
# magnitude ~7, 5e-7 relative). 2e-5 x max(1, max |logit|) leaves a factor 40 of
# margin and is far below any error of the mapping (a wrong qkv permutation or
# RoPE pairing moves logits by O(1)).
LOGIT_TOL = 2e-5

A = None


def run(cmd, timeout=300):
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)


def sweep_text(block="parallel", rot="0.25", seeds=3, steps=150, save=2, name="models-tiny",
               depths="[1, 2]"):
    with open(os.path.join(A.src, "tests/models/tiny.yaml")) as f:
        t = f.read()
    t = t.replace("model: {head_dim: 16, block: parallel, rotary_frac: 0.25}",
                  f"model: {{head_dim: 16, block: {block}, rotary_frac: {rot}}}")
    t = t.replace("seeds: {start: 0, count: 3}", f"seeds: {{start: 0, count: {seeds}}}")
    t = t.replace("train: {steps: 150,", f"train: {{steps: {steps},")
    t = t.replace("save_models: 2}", f"save_models: {save}}}")
    t = t.replace("name: models-tiny", f"name: {name}")
    t = t.replace("depth: [1, 2]", f"depth: {depths}")
    assert f"block: {block}" in t and f"save_models: {save}" in t
    return t


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def train(work, text, out="t.h5", np_=1):
    y = write(os.path.join(work, os.path.basename(out) + ".yaml"), text)
    out = os.path.join(work, out)
    cmd = [A.bin, y, "-o", out, "--quiet"]
    if np_ > 1:
        cmd = [A.mpiexec, "-np", str(np_), "--oversubscribe"] + cmd
    p = run(cmd)
    check(p.returncode == 0, f"training {y} failed ({p.returncode}): {p.stderr}")
    return y, out


def stored(out):
    with h5py.File(out, "r") as f:
        return {"status": f["runs/status"][()], "seeds": f["seeds"][()],
                "lengths": f["eval_lengths"][()],
                "metrics": {m: f["metrics/" + m][()] for m in ("em", "error", "minprob", "token_acc", "loss")}}


def tools():
    sys.path.insert(0, os.path.join(A.src, "tools"))
    import distsweep_h5
    return distsweep_h5


# ---- hf ---------------------------------------------------------------------------

def install_hf():
    """transformers, tokenizers and their pure-Python needs into --pydeps (tests/procutil.py)."""
    install_hf_deps(A.pydeps)


def read_logits(path):
    with open(path, "rb") as f:
        n, n_tok, V = np.frombuffer(f.read(12), dtype="<i4")
        tok = np.frombuffer(f.read(4 * n * n_tok), dtype="<i4").reshape(n, n_tok)
        mask = np.frombuffer(f.read(n * n_tok), dtype=np.uint8).reshape(n, n_tok)
        logits = np.frombuffer(f.read(), dtype="<f4").reshape(n, n_tok - 1, V)
    return tok, mask, logits


def count_names(vocab):
    return [str(i) for i in range(vocab)] + ["$", ">", ".", "*"]


def sc_hf(work):
    install_hf()
    import torch
    from transformers import AutoTokenizer, GenerationConfig, GPTNeoXForCausalLM
    import transformers
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    torch.manual_seed(0)
    names = count_names(24)
    for block in ("parallel", "sequential"):
        for rot in ("0.25", "1.0"):
            tag = f"{block}-rot{rot}"
            w = os.path.join(work, tag)
            os.makedirs(w)
            # depth 2, and more steps: a model that is right on some examples and
            # wrong on others, so that EM equality means something
            _, out = train(w, sweep_text(block, rot, seeds=1, steps=300, save=1, name=tag, depths="[2]"))
            st = stored(out)
            d = os.path.join(w, "hf")
            p = run([A.bin, "export", out, "--scale", "0", "--seed", "0", "-o", d])
            if not check(p.returncode == 0, f"{tag}: export failed: {p.stderr}"):
                continue
            cfg = json.load(open(os.path.join(d, "config.json")))
            check(cfg["use_parallel_residual"] == (block == "parallel"), f"{tag}: use_parallel_residual")
            model = GPTNeoXForCausalLM.from_pretrained(d).eval()
            check(model.gpt_neox.layers[0].attention.rotary_ndims == int(16 * float(rot)),
                  f"{tag}: HF rotates {model.gpt_neox.layers[0].attention.rotary_ndims} dims")
            tok = AutoTokenizer.from_pretrained(d)
            for li, L in enumerate(st["lengths"]):
                L = int(L)
                lf = os.path.join(w, f"logits{L}.bin")
                p = run([A.logits, out, "0", "0", str(L), lf])
                if not check(p.returncode == 0, f"{tag}: model_logits: {p.stderr}"):
                    continue
                x, mask, ref = read_logits(lf)
                with torch.no_grad():
                    hf = model(torch.tensor(x[:, :-1], dtype=torch.long)).logits.numpy()
                err = float(np.abs(hf - ref).max())
                bound = LOGIT_TOL * max(1.0, float(np.abs(ref).max()))
                print(f"{tag} L={L}: {x.shape[0]} examples, max |logit diff| {err:.3g} (bound {bound:.3g})")
                check(err <= bound, f"{tag} L={L}: logits differ by {err} > {bound}")
                # greedy answers with HF's generate; EM = every answer token right
                p0 = int(np.argmax(mask[0] != 0))  # the prompt: tokens before the first scored one
                k = x.shape[1] - p0
                gc = GenerationConfig(max_new_tokens=k, do_sample=False, num_beams=1,
                                      eos_token_id=None, bos_token_id=None, pad_token_id=cfg["pad_token_id"])
                with torch.no_grad():
                    g = model.generate(torch.tensor(x[:, :p0], dtype=torch.long),
                                       attention_mask=torch.ones(x.shape[0], p0, dtype=torch.long),
                                       generation_config=gc).numpy()
                check(g.shape[1] == x.shape[1], f"{tag} L={L}: generate made {g.shape[1] - p0} of {k} tokens")
                right = int((g[:, p0:] == x[:, p0:]).all(axis=1).sum())
                em = float(st["metrics"]["em"][0, 0, li])
                print(f"{tag} L={L}: HF greedy EM {right}/{x.shape[0]}, stored EM {em:.6f}")
                check(right == round(em * x.shape[0]), f"{tag} L={L}: HF greedy EM {right}/{x.shape[0]}, "
                      f"distsweep's {em}")
                # the tokenizer round-trips every example
                for row in x:
                    text = " ".join(names[t] for t in row)
                    ids = tok(text)["input_ids"]
                    if not check(ids == row.tolist(), f"{tag}: tokenizer: {text!r} -> {ids}"):
                        break
                    back = tok.decode(ids)
                    if not check(back == text, f"{tag}: decode: {back!r} != {text!r}"):
                        break
            check(tok.bos_token == "$" and tok.eos_token == "." and tok.pad_token == "*",
                  f"{tag}: special tokens {tok.bos_token} {tok.eos_token} {tok.pad_token}")
            readme = open(os.path.join(d, "README.md")).read()
            check(tag in readme and "seed 0" in readme and "| 6 |" in readme,
                  f"{tag}: README lacks the sweep, seed or metrics")


# ---- eval -------------------------------------------------------------------------

def sc_eval(work):
    _, out = train(work, sweep_text(), np_=2)
    st = stored(out)
    n = 0
    for sc in range(2):
        for si, seed in enumerate(st["seeds"][:2]):
            p = run([A.bin, "eval", out, "--scale", str(sc), "--seed", str(seed), "--format", "json",
                     "--length", "6", "--length", "9", "--length", "12"])
            if not check(p.returncode == 0, f"eval scale {sc} seed {seed}: {p.stderr}"):
                continue
            r = json.loads(p.stdout)
            for li, e in enumerate(r["lengths"][:2]):
                for m in ("em", "error", "minprob", "token_acc", "loss"):
                    want = st["metrics"][m][sc, si, li]
                    got = np.float32(e[m]) if e[m] is not None else np.float32(np.nan)
                    check(got.tobytes() == want.tobytes(), f"eval scale {sc} seed {seed} L {e['length']} "
                          f"{m}: {got!r} != stored {want!r}")
                check(e["matches_stored"] is True, f"eval says it does not match: {e}")
                n += 1
            e12 = r["lengths"][2]
            check(e12["length"] == 12 and e12["stored"] is None and e12["examples"] == 24 - 12 + 1
                  and 0 <= e12["em"] <= 1, f"length 12 (not in the sweep): {e12}")
    check(n == 8, f"{n} (run, length) pairs compared")
    p = run([A.bin, "eval", out, "--scale", "d32_L2", "--seed", "1", "--length", "9", "--show", "3"])
    check(p.returncode == 0 and "identical" in p.stdout and p.stdout.count("  greedy ") == 3
          and "expected" in p.stdout, f"eval --show: {p.returncode} {p.stdout} {p.stderr}")
    p = run([A.bin, "eval", out, "--scale", "0", "--seed", "0", "--length", "25"])
    check(p.returncode == 2 and "cannot pose" in p.stderr, f"eval at length 25 > vocab: {p.returncode} {p.stderr}")


# ---- kill -------------------------------------------------------------------------


def invariant(out, dh, saved, where):
    """Every done run whose seed is saved has a complete, verified model."""
    if not os.path.exists(out):
        return 0
    try:
        with h5py.File(out, "r", libver="latest", swmr=True) as f:
            status = f["runs/status"][()]
            seeds = f["seeds"][()]
    except OSError as e:
        # killed before the writer switched to SWMR (creating, recovering): the
        # next resume repairs the file; the check waits for a readable state
        print(f"{where}: file not readable yet ({e})")
        return 0
    n = 0
    for sc in range(status.shape[0]):
        for si in range(status.shape[1]):
            if status[sc, si] != 1 or seeds[si] >= saved:
                continue
            try:
                dh.load_model(out, sc, int(seeds[si]))
                n += 1
            except (OSError, ValueError, dh.NotDistsweep) as e:
                check(False, f"{where}: done run (scale {sc}, seed {seeds[si]}) without its model: {e}")
    return n


def models_equal(a, b, dh, runs):
    for sc, seed in runs:
        pa, _ = dh.load_model(a, sc, seed)
        pb, _ = dh.load_model(b, sc, seed)
        check(all(np.array_equal(pa[k].view(np.uint32), pb[k].view(np.uint32)) for k in pa),
              f"model (scale {sc}, seed {seed}) differs from the uninterrupted sweep's")


def sc_kill(work):
    dh = tools()
    text = sweep_text(seeds=4, steps=150, save=3)
    t0 = time.time()
    _, ref = train(work, text, out="ref.h5", np_=2)
    t_ref = time.time() - t0
    saved_runs = [(sc, k) for sc in range(2) for k in range(3)]
    check(invariant(ref, dh, 3, "reference") == 6, "reference: 6 stored models")
    check(not os.path.exists(dh.model_path(ref, 0, 3)), "seed 3 is not selected, yet has a model")
    rng = random.Random(int(os.environ.get("DISTSWEEP_CHAOS_SEED", "4242")))
    y = write(os.path.join(work, "k.yaml"), text)
    out = os.path.join(work, "k.h5")
    kills, checked = 0, 0
    for attempt in range(12):
        cmd = [A.mpiexec, "-np", "2", "--oversubscribe", A.bin, y, "-o", out, "--quiet"]
        p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if attempt < 4:
            # a moment inside the sweep (each resume has less left to do)
            time.sleep(rng.uniform(0.3, 0.8) * t_ref / (1 + attempt))
            ranks = children(p.pid)
            if p.poll() is None:
                victim = rng.choice(ranks + [p.pid]) if ranks else p.pid
                os.kill(victim, signal.SIGKILL)
                kills += 1
            finish(p)
            reap(out)
            checked += invariant(out, dh, 3, f"after kill {kills}")
            continue
        err = p.communicate(timeout=300)[1]
        if p.returncode == 0:
            break
        check(p.returncode == 3 or "lock" in err, f"resume {attempt}: exit {p.returncode}: {err}")
    print(f"{kills} kills; {checked} stored models of done runs verified between them")
    check(kills >= 3, "fewer than 3 kills landed")
    check(checked > 0, "no kill landed after a run was done")
    a, b = stored(ref), stored(out)
    check(np.array_equal(a["status"], b["status"]) and (b["status"] == 1).all(), "the killed sweep is not complete")
    for m in a["metrics"]:
        check(np.array_equal(a["metrics"][m].view(np.uint32), b["metrics"][m].view(np.uint32)),
              f"metrics/{m} differ from the uninterrupted sweep's")
    check(invariant(out, dh, 3, "end") == 6, "6 stored models at the end")
    models_equal(ref, out, dh, saved_runs)
    tmp = [f for f in os.listdir(out + ".models") if not f.endswith(".safetensors")]
    check(not tmp, f"files left in the models directory: {tmp}")

    # a deleted and a damaged model: the resume runs both again, to the same bits
    os.remove(dh.model_path(out, 0, 1))
    with open(dh.model_path(out, 1, 2), "r+b") as f:
        f.truncate(os.path.getsize(dh.model_path(out, 1, 2)) - 4)
    p = run([A.bin, y, "-o", out])
    check(p.returncode == 0 and "2 done run(s) have no usable stored model" in p.stderr
          and "they run again" in p.stderr and "2 run(s) stored now" in p.stderr,
          f"resume with a missing and a torn model: {p.returncode} {p.stderr}")
    models_equal(ref, out, dh, [(0, 1), (1, 2)])
    b = stored(out)
    for m in a["metrics"]:
        check(np.array_equal(a["metrics"][m].view(np.uint32), b["metrics"][m].view(np.uint32)),
              f"metrics/{m} differ after the reruns")
    # save_models raised to every seed later: the done runs of the new seeds train again
    y2 = write(os.path.join(work, "k2.yaml"), text.replace("save_models: 3}", "save_models: true}"))
    p = run([A.bin, y2, "-o", out])
    check(p.returncode == 0 and "2 done run(s) have no usable stored model" in p.stderr,
          f"save_models raised to every seed: {p.returncode} {p.stderr}")
    check(invariant(out, dh, 4, "save_models: true") == 8, "8 stored models after save_models: true")


# ---- errors -----------------------------------------------------------------------

def sc_errors(work):
    dh = tools()
    _, out = train(work, sweep_text(save=1))
    d = os.path.join(work, "x")
    p = run([A.bin, "export", out, "--scale", "0", "--seed", "2", "-o", d])
    check(p.returncode == 2 and "has no stored model" in p.stderr and "run.save_models" in p.stderr
          and not os.path.exists(d), f"export of a run without a model: {p.returncode} {p.stderr}")
    p = run([A.bin, "eval", out, "--scale", "0", "--seed", "1"])
    check(p.returncode == 2 and "has no stored model" in p.stderr, f"eval without a model: {p.stderr}")
    p = run([A.bin, "export", out, "--scale", "d99_L9", "--seed", "0", "-o", d])
    check(p.returncode == 2 and "no scale 'd99_L9'" in p.stderr and "d32_L1" in p.stderr,
          f"unknown scale: {p.stderr}")
    p = run([A.bin, "export", out, "--scale", "0", "--seed", "7", "-o", d])
    check(p.returncode == 2 and "no seed 7" in p.stderr, f"seed outside the file: {p.stderr}")
    p = run([A.bin, "export", out, "--scale", "0", "-o", d])
    check(p.returncode == 2 and "usage" in p.stderr, f"no --seed: {p.stderr}")
    # a pending run (its status rewritten by hand)
    with h5py.File(out, "r+") as f:
        f["runs/status"][1, 0] = 0
    p = run([A.bin, "export", out, "--scale", "1", "--seed", "0", "-o", d])
    check(p.returncode == 2 and "is pending, not done" in p.stderr, f"pending run: {p.stderr}")
    # a flipped bit in the data: the checksum finds it
    path = dh.model_path(out, 0, 0)
    with open(path, "r+b") as f:
        f.seek(-10, 2)
        b = f.read(1)
        f.seek(-10, 2)
        f.write(bytes([b[0] ^ 1]))
    p = run([A.bin, "export", out, "--scale", "0", "--seed", "0", "-o", d])
    check(p.returncode == 1 and "checksum mismatch" in p.stderr, f"damaged model: {p.returncode} {p.stderr}")
    # run.save_models that is neither a boolean nor a count: FILE:LINE:COL, exit 2
    bad = write(os.path.join(work, "bad.yaml"), sweep_text().replace("save_models: 2}", "save_models: some}"))
    p = run([A.bin, "plan", bad])
    check(p.returncode == 2 and re.search(r"bad\.yaml:\d+:\d+: run\.save_models must be true, false or "
                                          r"a number of seeds", p.stderr), f"bad save_models: {p.stderr}")
    # synthetic jobs train no model: refused before anything is written
    o6 = os.path.join(work, "synth.h5")
    p = run([A.bin, bad.replace("bad.yaml", "t.h5.yaml"), "-o", o6, "--synthetic-job-seconds", "0.01"])
    check(p.returncode == 2 and "synthetic jobs train no model" in p.stderr and not os.path.exists(o6),
          f"save_models with synthetic jobs: {p.returncode} {p.stderr}")
    # --fresh moves the models aside with the results, and starts over
    y = os.path.join(work, "t.h5.yaml")
    n_models = len(os.listdir(out + ".models"))
    p = run([A.bin, y, "-o", out, "--fresh"])
    moved = [f for f in os.listdir(work) if f.startswith("t.old-") and f.endswith(".h5.models")]
    check(p.returncode == 0 and len(moved) == 1 and n_models == 2 and
          len(os.listdir(os.path.join(work, moved[0]))) == n_models and
          len(os.listdir(out + ".models")) == 2, f"--fresh: {p.stderr} {moved}")
    # extension: seeds.count 3 -> 4 with save_models 4: the new seed stores its model, and the
    # done seeds 1 and 2 that the raised selection now covers train again and store theirs
    y4 = write(os.path.join(work, "t4.yaml"), sweep_text(seeds=4, save=4))
    p = run([A.bin, y4, "-o", out])
    check(p.returncode == 0 and "extended the seed axis" in p.stderr and
          "4 done run(s) have no usable stored model" in p.stderr and
          "6 run(s) stored now" in p.stderr and len(os.listdir(out + ".models")) == 8,
          f"extension with save_models: {p.returncode} {p.stderr} {os.listdir(out + '.models')}")
    check(invariant(out, dh, 4, "extension") == 8, "8 verified models after the extension")
    # a model that cannot be written is a storage failure: exit 4, no run stored without it
    y5 = write(os.path.join(work, "s5.yaml"), sweep_text())
    o5 = os.path.join(work, "s5.h5")
    write(o5 + ".models", "a file where the models directory should be\n")
    p = run([A.bin, y5, "-o", o5])
    check(p.returncode == 4 and "s5.h5.models/scale" in p.stderr and "not a directory" in p.stderr,
          f"models directory unwritable: {p.returncode} {p.stderr}")
    with h5py.File(o5, "r") as f:
        check((f["runs/status"][()] == 0).all(), "runs stored although their models could not be written")
    os.remove(o5 + ".models")
    p = run([A.bin, y5, "-o", o5])
    check(p.returncode == 0 and invariant(o5, dh, 2, "after the storage failure") == 4,
          f"resume after the storage failure: {p.returncode} {p.stderr}")
    p = run([A.bin, "plan", os.path.join(A.src, "tests/models/tiny.yaml")])
    check(p.returncode == 0 and "stored models: 2 run(s) of each scale" in p.stdout, f"plan: {p.stdout}")


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["hf", "eval", "kill", "errors"])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--logits")
    ap.add_argument("--mpiexec", default="mpirun")
    ap.add_argument("--src", required=True)
    ap.add_argument("--pydeps")
    A = ap.parse_args()
    work = tempfile.mkdtemp(prefix=f"ds_models_{A.scenario}_")
    try:
        globals()["sc_" + A.scenario](work)
    finally:
        if failures() == 0:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory kept: {work}")
    print(f"models.{A.scenario}: {'FAILED' if failures() else 'ok'} ({failures()} failed checks)")
    return 1 if failures() else 0


if __name__ == "__main__":
    sys.exit(main())
