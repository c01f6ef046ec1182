#!/usr/bin/env python3
"""End-to-end tests of training on text (task kind corpus): real English text
(Debian's fortunes), a BPE tokenizer trained here with Hugging Face
`tokenizers`, shards written by tools/tokenize_corpus.py, the real binary under
real mpirun (tests/text/tests.cmake registers one ctest per scenario).

usage: test_corpus.py SCENARIO --bin distsweep --mpiexec mpirun --src SOURCE_DIR --pydeps DIR

  tool     the tool's shards: format, token counts, EOT between documents, the
           answer mask, a decode of the shards equal to the input text; bad
           JSONL input: exit 2 naming FILE:LINE, nothing written
  train    `distsweep train` of a tiny model: the loss falls; `distsweep sample`
           rows are identical across calls, differ between seeds, and decode
           (the C decoder) to the tokenizer's own decode; the fraction of rows
           from each source over the first K rows matches its weight (bound below)
  packs    a 2-rank `distsweep run` with run.pack 1 and with packs of 4: the
           seeds' final_loss and loss curves are bit-identical; SIGKILLed
           mid-way and resumed, the same bits again
  mix      a values family over task.sources.qa.weight (docs/sweep-file.md "values") on 2
           ranks: one condition per weight, named by it, /scales/task.sources.qa.weight
           stored; `sample --scale` of each condition draws qa rows at its weight (exact
           per block); each condition's runs are bit-identical to the plain sweep
           written with those weights (the other source takes the rest)
  mc       a corpus sweep with two multiple-choice sets (eval.multiple_choice; MMLU-layout
           CSVs from WordNet made by tests/mc/test_mc.py's builders, converted by
           tools/make_mc_eval.py in letter and completion scoring) on 2 ranks:
           /eval_sets, /metrics/mc_acc and mc_nll stored (and no em); each seed's stored
           mc_acc/mc_nll equal `distsweep eval --mc` of its stored model and an
           independent computation with transformers on the model `distsweep export`
           writes (tolerance: tests/mc/test_mc.py's LOGIT_TOL reasoning); `report`
           defaults to mc_acc at the first set with threshold 0.25, takes --set and
           --metric mc_nll, refuses em; tools/distsweep_h5.py loads the sets.
           Per item (issue 25): /items/<set>/chosen and ll_correct equal `eval --mc
           --items` of every seed bit for bit, mc_acc = mean(chosen == label) with the
           labels of tests/mc/test_mc.py read_set; distsweep_h5 items and items_frame;
           `verify` passes, finds a hand-edited item and --repair restores it from the
           journal, and rebuilds a torn file (the items' sizes from the journal); a rebuild from the journal and a SIGKILLed, resumed run give the
           same items
  pipeline docs/spec-tasks.md §9 end to end on 2 ranks: three small GPT-NeoX bases made by
           transformers, vocab_size 520 padded over the BPE's 512 (two 32 wide, one 64
           wide with 4 heads, a condition of its own size), a corpus sweep from them (model.init,
           reinit [{layer: -1, part: attention}, head], train.schedule linear, warmup 0,
           lr 1e-4), a values family over task.sources.qa.weight and one over
           model.init.from (the base as an axis), an MMLU-layout set from WordNet: every run
           done; /scales/model.init.from a string column; mc_acc/mc_nll per condition;
           the base_b condition's saved model is base_b's continued (nearer it than
           base_a); `report` shows both varied columns at threshold 0.25; `export` loads
           in transformers with the base's tensor names and its README names the base and
           the reinit parts; the wide condition's parameters are its own and its export
           has base_wide's shapes; plot_sweep draws both families; a base of another
           size written without its width and depth is refused at FILE:LINE:COL (exit 2,
           nothing written)
  pretrained  issue 26's pipeline from a base distsweep pretrained itself: a corpus sweep
           from scratch on the fortunes + qa mixture, one seed exported (`distsweep export`,
           the corpus's tokenizer); a population from that export (model.init, reinit
           [{layer: -1, part: attention}, head], linear schedule, warmup 0) over the qa
           weight 0.1, 0.25, 0.5 x 8 seeds, scored on an MMLU-layout set, on 2 ranks:
           every run done with mc_acc and mc_nll stored per seed; a run SIGKILLed mid-way
           and resumed equals the uninterrupted one bit for bit (losses, curves, mc_acc,
           mc_nll, per-item results); `report` shows each weight's distribution
  qwen     issue 27: the same pipeline from a small Qwen2-layout base (transformers'
           Qwen2ForCausalLM, random, the BPE's vocabulary, 4 heads with 2 KV heads, q/k/v
           biases, tied embeddings) on 2 ranks: reinit [{layer: -1, part: attention}, head]
           unties it (said once on stderr), the qa weight as the axis, every run done with
           mc_acc/mc_nll stored, `report` shows the weights, and an exported seed loads in
           transformers as Qwen2ForCausalLM, untied, with the base's tensor names
  epochs   train.epochs: {source: qa, count: 2}: `plan` and the run train
           ceil(ceil(2 N_qa / slots_qa) 1024 / batch) steps (N_qa the qa source's chunks,
           counted here from the shard's header), every seed sees at least 2 epochs of qa
           (counted from `sample`'s rows), `status`, `report` and `verify` work with the
           data moved away; a train.warmup longer than the steps is refused when attached
  bigvocab a tokenizer of 66,512 ids (the BPE plus 66,000 added tokens, some in the text):
           tools/tokenize_corpus.py writes uint32 shards (magic 20240801, version 7) holding
           ids above 65,535; `plan` states the memory of a pack; `distsweep train` of a
           model of that vocabulary (width 16, depth 1) trains on the CPU for a few steps
           with finite, falling loss; its peak resident memory is printed
  errors   a bad shard, a missing answer mask, weights not summing to 1: exit 2,
           the file (or FILE:LINE:COL) named, no result file

The fraction bound: the mixture is exact per block of B = 1024 rows (source k
owns n_k = largest-remainder(B * w_k) rows of every block, |n_k/B - w_k| <= 1/B),
so over K = q*B + m rows the count c_k of source k satisfies
|c_k - K*n_k/B| <= m * max(n_k/B, 1 - n_k/B) <= m (the partial block), and
c_k = K*n_k/B exactly when m = 0.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from procutil import SWEEP_ENV, check, children, failures, finish, install_hf_deps  # noqa: E402

A = None
FORTUNES = "/usr/share/games/fortunes"
ENV = dict(SWEEP_ENV)


def run(cmd, timeout=300, **kw):
    return subprocess.run(cmd, env=kw.pop("env", ENV), capture_output=True, text=True,
                          timeout=timeout, **kw)


def ds(args, np_=1, timeout=300):
    cmd = [A.bin] + args
    if np_ > 1:
        cmd = [A.mpiexec, "-np", str(np_), "--oversubscribe"] + cmd
    return run(cmd, timeout=timeout)


def tool(args):
    env = dict(ENV, PYTHONPATH=A.pydeps)
    return run([sys.executable, os.path.join(A.src, "tools", "tokenize_corpus.py")] + args, env=env)


def make_tokenizer(work):
    """A byte-level BPE of 512 ids trained on three fortune files; id 0 = <|endoftext|>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=512, special_tokens=["<|endoftext|>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train([os.path.join(FORTUNES, f) for f in ("computers", "science", "literature")], tr)
    path = os.path.join(work, "tokenizer.json")
    tok.save(path)
    return tok, path


def qa_items(n=400):
    """Question/answer items in the MMLU auxiliary style: the answer is the scored span."""
    words = [w for w in open(os.path.join(FORTUNES, "literature"), encoding="utf-8").read().split()
             if w.isalpha() and len(w) > 3][:n]
    return [{"question": f"Question: how many letters are in the word '{w}'? Answer:",
             "answer": str(len(w))} for w in words]


def read_shard(path):
    with open(path, "rb") as f:
        data = f.read()
    h = struct.unpack("<256i", data[:1024])
    dt = {20240520: "<u2", 20240801: "<u4", 20261206: "u1"}[h[0]]
    return h, np.frombuffer(data[1024:], dtype=dt)


def setup(work):
    """Tokenizer and two sources: fortunes (computers + science, plain text split on %)
    and qa (JSONL with an answer field, `loss: answer`)."""
    tok, tpath = make_tokenizer(work)
    os.makedirs(os.path.join(work, "data"))
    p = tool(["--tokenizer", tpath, "-o", os.path.join(work, "data", "fortunes"), "--split-on", "%",
              "--shard-tokens", "50000", os.path.join(FORTUNES, "computers"), os.path.join(FORTUNES, "science")])
    check(p.returncode == 0, f"tokenize fortunes: {p.returncode} {p.stderr}")
    jl = os.path.join(work, "qa.jsonl")
    with open(jl, "w") as f:
        for it in qa_items():
            f.write(json.dumps(it) + "\n")
    p = tool(["--tokenizer", tpath, "-o", os.path.join(work, "data", "qa"), "--text-field", "question",
              "--answer-field", "answer", jl])
    check(p.returncode == 0, f"tokenize qa: {p.returncode} {p.stderr}")
    return tok, tpath


def sweep_text(steps=80, seeds=4, pack=None, w=(0.75, 0.25), ckpt=20, depths="[1, 2]", context=33,
               extra_run=""):
    run_block = f"run: {{checkpoint_every: {ckpt}" + (f", pack: {pack}" if pack else "") + extra_run + "}\n"
    return f"""name: text
task:
  kind: corpus
  vocab: 512
  eot: 0
  tokenizer: tokenizer.json
  sources:
    - {{name: fortunes, path: "data/fortunes_*.bin", weight: {w[0]}}}
    - {{name: qa, path: "data/qa_*.bin", weight: {w[1]}, loss: answer}}
model: {{head_dim: 16}}
train: {{steps: {steps}, batch: 8, context: {context}, lr: 3.0e-3, warmup: 5, log_every: 10}}
seeds: {{start: 0, count: {seeds}}}
scales:
  - {{family: depth, width: 32, depth: {depths}}}
{run_block}"""


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


# ---- scenarios -------------------------------------------------------------------------

def sc_tool(work):
    tok, tpath = setup(work)
    shards = sorted(f for f in os.listdir(os.path.join(work, "data")) if f.startswith("fortunes_"))
    check(len(shards) >= 3 and all(f.endswith(".bin") for f in shards), f"fortunes shards: {shards}")
    ids = []
    for f in shards:
        h, t = read_shard(os.path.join(work, "data", f))
        check(h[0] == 20240520 and h[1] == 1 and h[2] == len(t), f"{f}: header {h[:3]}")
        check(len(t) <= 50000, f"{f}: {len(t)} tokens, more than --shard-tokens")
        ids += t.tolist()
    # the documents, decoded, are the fortunes between % lines, EOT after each
    docs = []
    for name in ("computers", "science"):
        text = open(os.path.join(FORTUNES, name), encoding="utf-8").read()
        docs += [d.strip("\n") + "\n" for d in re.split(r"^%\n", text, flags=re.M) if d.strip()]
    check(ids.count(0) == len(docs), f"{ids.count(0)} EOT tokens, {len(docs)} documents")
    first = ids[:ids.index(0)]
    check(tok.decode(first) == docs[0], f"the first document decodes to {tok.decode(first)!r}, not {docs[0]!r}")
    # the qa source and its mask: the answer's tokens and nothing else
    h, t = read_shard(os.path.join(work, "data", "qa_000000.bin"))
    hm, m = read_shard(os.path.join(work, "data", "qa_000000.mask"))
    check(hm[0] == 20261206 and hm[1] == 1 and hm[2] == h[2] == len(m), f"mask header {hm[:3]}")
    items = qa_items()
    ans = [tok.decode(t[i:j].tolist()) for i, j in spans(m)]
    check(ans == [" " + it["answer"] for it in items], f"masked spans decode to {ans[:5]}...")
    # bad input: exit 2 at FILE:LINE, nothing written
    bad = os.path.join(work, "bad.jsonl")
    write(bad, json.dumps({"question": "a", "answer": "b"}) + "\n" + json.dumps({"text": "x"}) + "\n")
    p = tool(["--tokenizer", tpath, "-o", os.path.join(work, "bad", "x"), "--text-field", "question", bad])
    check(p.returncode == 2 and f"{bad}:2: no string field 'question'" in p.stderr, f"bad JSONL: {p.returncode} {p.stderr}")
    check(not os.path.exists(os.path.join(work, "bad")), "bad input wrote files")


def spans(m):
    out, i = [], 0
    while i < len(m):
        if m[i]:
            j = i
            while j < len(m) and m[j]:
                j += 1
            out.append((i, j))
            i = j
        else:
            i += 1
    return out


def sample_rows(y, seed, first, n, extra=()):
    """[(source, ids, mask, text)] of rows first.. of `distsweep sample`."""
    p = ds(["sample", y, "--seed", str(seed), "--row", str(first), "-n", str(n)] + list(extra), timeout=120)
    check(p.returncode == 0, f"sample: {p.returncode} {p.stderr}")
    rows, cur = [], None
    for line in p.stdout.split("\n"):
        mo = re.match(r"row (\d+) of seed \d+: source (\w+), chunk", line)
        if mo:
            cur = {"source": mo.group(2), "ids": [], "text": []}
            rows.append(cur)
        elif cur is not None and line.startswith("    | "):
            cur["text"].append(line[6:])
        elif cur is not None and line.startswith("    ") and re.match(r"^[0-9<eot> ]+$", line[4:]):
            cur["ids"] += [0 if w == "<eot>" else int(w) for w in line[4:].split()]
    return p.stdout, rows


def sc_train(work):
    tok, _ = setup(work)
    y = write(os.path.join(work, "text.yaml"), sweep_text(steps=120, depths="[2]"))
    p = ds(["plan", y])
    check(p.returncode == 0 and "source    fortunes" in p.stdout and "source    qa" in p.stdout,
          f"plan: {p.returncode} {p.stdout} {p.stderr}")
    p = ds(["train", y, "--seeds", "0,1", "--format", "json", "--quiet"])
    check(p.returncode == 0, f"train: {p.returncode} {p.stderr}")
    res = json.loads(p.stdout)
    for r in res["runs"]:
        c = r["train_loss"]
        print(f"seed {r['seed']}: loss curve {['%.3f' % x for x in c]}")
        check(c[0] > c[-1] + 0.5, f"seed {r['seed']}: the loss does not fall: {c}")
        check(c[-1] < np.log(512) - 1, f"seed {r['seed']}: final loss {c[-1]} not well below ln(512)")

    # rows: pure function of (seed, row), different between seeds, decoded like HF does
    a, rows_a = sample_rows(y, 3, 100, 20)
    b, _ = sample_rows(y, 3, 100, 20)
    c, rows_c = sample_rows(y, 4, 100, 20)
    check(a == b, "two sample calls print different rows")
    check([r["ids"] for r in rows_a] != [r["ids"] for r in rows_c], "seeds 3 and 4 see the same rows")
    check(all(len(r["ids"]) == 33 for r in rows_a), "a row is not context tokens")
    for r in rows_a:
        want = tok.decode(r["ids"], skip_special_tokens=False)
        check("\n".join(r["text"]) == want, f"the C decoder gives {r['text']!r}, the tokenizer {want!r}")
    # one row against the shards directly: the row holds consecutive tokens of its source
    ids = np.concatenate([read_shard(os.path.join(work, "data", f))[1]
                          for f in sorted(os.listdir(os.path.join(work, "data")))
                          if f.startswith("fortunes_") and f.endswith(".bin")])
    for r in rows_a:
        if r["source"] == "fortunes":
            mo = [i for i in range(0, len(ids) - 32, 32) if ids[i:i + 33].tolist() == r["ids"]]
            check(len(mo) == 1, f"a fortunes row is not one chunk of the source ({len(mo)} matches)")

    # the fraction from each source over the first K rows (module docstring's bound)
    B, slots = 1024, {"fortunes": 768, "qa": 256}
    for K in (4096, 2500):
        _, rows = sample_rows(y, 0, 0, K)
        m = K % B
        for src, n_k in slots.items():
            got = sum(r["source"] == src for r in rows)
            want = K * n_k / B
            bound = m * max(n_k / B, 1 - n_k / B)
            print(f"K={K} {src}: {got} rows, expected {want:.1f} +- {bound:.1f} (weight {n_k / B})")
            check(abs(got - want) <= bound, f"K={K}: source {src} has {got} rows, expected {want} +- {bound}")
            if m == 0:
                check(got == want, f"K={K}: a whole number of blocks is not exact")


def load(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in ("runs/final_loss", "curves/train_loss", "runs/status")}


def same_bits(a, b, what):
    for k in ("runs/final_loss", "curves/train_loss"):
        check(a[k].shape == b[k].shape and np.array_equal(a[k].view(np.uint32), b[k].view(np.uint32)),
              f"{what}: {k} differs:\n{a[k]}\n{b[k]}")


def kill_and_resume(y, out, t_ref, n_kills, frac, seed, timeout=300, after_kill=None, resumed=None):
    """`distsweep run y -o out` on 2 ranks: n_kills times SIGKILLed (mpirun and its ranks) at
    a uniform frac=(lo, hi) of t_ref seconds (the uninterrupted run's time; seeded by
    DISTSWEEP_CHAOS_SEED, default seed), after_kill() called after each; then resumed until it
    completes, resumed(attempt, stderr) called on each resume. Every resume must end 0, 3 or
    at the lock. Returns the kills that landed (the run was still going)."""
    rng = random.Random(int(os.environ.get("DISTSWEEP_CHAOS_SEED", str(seed))))
    kills = 0
    for attempt in range(10):
        cmd = [A.mpiexec, "-np", "2", "--oversubscribe", A.bin, "run", y, "-o", out, "--quiet"]
        pr = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if attempt < n_kills:
            time.sleep(rng.uniform(*frac) * t_ref)
            if pr.poll() is None:
                for pid in children(pr.pid) + [pr.pid]:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                kills += 1
            finish(pr)
            if after_kill:
                after_kill()
            continue
        err = pr.communicate(timeout=timeout)[1]
        if resumed:
            resumed(attempt, err)
        if pr.returncode == 0:
            break
        check(pr.returncode == 3 or "lock" in err, f"resume {attempt}: exit {pr.returncode}: {err}")
    return kills


def make_mmlu_sets(work, mc, n_test, sets=(("letter", "mmlu.bin"),)):
    """MMLU-layout CSVs from WordNet (tests/mc/test_mc.py's builders: its module mc), each
    (scoring, file) of sets converted by tools/make_mc_eval.py with the test's tokenizer into
    work/file; True when every one was made."""
    mc.make_mmlu(work, mc.wordnet(), n_test=n_test, n_dev=0)
    csvs = [os.path.join(work, f"{s}_test.csv") for s in mc.SUBJECTS.values()]
    for scoring, out in sets:
        p = run([sys.executable, os.path.join(A.src, "tools", "make_mc_eval.py"), "--tokenizer",
                 os.path.join(work, "tokenizer.json"), "--format", "mmlu", "--scoring", scoring,
                 "-o", os.path.join(work, out)] + csvs, env=dict(ENV, PYTHONPATH=A.pydeps))
        if not check(p.returncode == 0, f"make_mc_eval {scoring}: {p.stderr}"):
            return False
    return True


def sc_packs(work):
    setup(work)
    alone = write(os.path.join(work, "alone.yaml"), sweep_text(steps=80, seeds=4, pack=1, ckpt=10))
    packed = write(os.path.join(work, "packed.yaml"), sweep_text(steps=80, seeds=4, pack=4, ckpt=10))
    t0 = time.time()
    p = ds(["run", alone, "-o", os.path.join(work, "alone.h5"), "--quiet"], np_=2)
    t_ref = time.time() - t0
    check(p.returncode == 0, f"run alone: {p.returncode} {p.stderr}")
    p = ds(["run", packed, "-o", os.path.join(work, "packed.h5"), "--quiet"], np_=2)
    check(p.returncode == 0, f"run packed: {p.returncode} {p.stderr}")
    a, b = load(os.path.join(work, "alone.h5")), load(os.path.join(work, "packed.h5"))
    check((a["runs/status"] == 1).all() and (b["runs/status"] == 1).all(), "not every run is done")
    same_bits(a, b, "packs of 1 vs packs of 4")
    check(len(np.unique(a["runs/final_loss"])) == a["runs/final_loss"].size, "two seeds end at the same loss")

    # SIGKILL mpirun mid-way, resume until done: the same bits
    out = os.path.join(work, "killed.h5")
    resumable = []

    def after_kill():
        ck = [f for f in os.listdir(out + ".ckpt") if f.endswith(".ckpt")] if os.path.isdir(out + ".ckpt") else []
        resumable.append(bool(ck))
        print(f"after kill {len(resumable)}: checkpoints {ck}")
    kills = kill_and_resume(packed, out, t_ref, 2, (0.4, 0.7), 2525, after_kill=after_kill)
    resumable = sum(resumable)
    check(kills >= 1 and resumable >= 1, f"no kill landed mid-training ({kills} kills, "
          f"{resumable} left checkpoints)")
    same_bits(b, load(out), "killed and resumed vs uninterrupted")


def sc_mix(work):
    setup(work)
    fam = ("  - {family: values, name: mix, width: 32, depth: 1, key: task.sources.qa.weight,\n"
           "     values: [0.125, 0.25, 0.5], label: qa fraction}\n")
    base = sweep_text(steps=40, seeds=2, ckpt=20, depths="[1]")
    y = write(os.path.join(work, "mix.yaml"), base.replace("run: {", fam + "run: {"))
    out = os.path.join(work, "mix.h5")
    p = ds(["run", y, "-o", out, "--quiet"], np_=2)
    if not check(p.returncode == 0, f"mix run: {p.returncode} {p.stderr}"):
        return
    with h5py.File(out, "r") as f:
        names = [x.decode() for x in f["scales/name"][()]]
        check(names == ["d32_L1", "d32_L1_qa=0.125", "d32_L1_qa=0.5"], f"condition names {names}")
        col = list(f["scales/task.sources.qa.weight"][()])
        check(col == [0.25, 0.125, 0.5], f"/scales/task.sources.qa.weight {col}")
        a = f["families/mix"].attrs
        check(a["key"] == "task.sources.qa.weight" and a["label"] == "qa fraction", f"attrs {dict(a)}")
        check(list(f["families/mix"][()]) == [1, 0, 2], "the family's conditions in order")
    d = load(out)
    check((d["runs/status"] == 1).all(), "not every run is done")
    for w, name, row in ((0.125, "d32_L1_qa=0.125", 1), (0.5, "d32_L1_qa=0.5", 2)):
        # the condition's rows: qa exactly round(1024 w) of the first 1024 (w*1024 is whole here)
        _, rows = sample_rows(y, 0, 0, 1024, extra=("--scale", name))
        n_qa = sum(r["source"] == "qa" for r in rows)
        check(len(rows) == 1024 and n_qa == int(1024 * w), f"{name}: {n_qa} qa rows of {len(rows)}")
        # the plain sweep with those weights: bit-identical runs
        py = write(os.path.join(work, f"plain{row}.yaml"), sweep_text(steps=40, seeds=2, ckpt=20, depths="[1]",
                                                                  w=(1 - w, w)))
        pout = os.path.join(work, f"plain{row}.h5")
        p = ds(["run", py, "-o", pout, "--quiet"], np_=1)
        if not check(p.returncode == 0, f"plain {w}: {p.returncode} {p.stderr}"):
            return
        pd_ = load(pout)
        for k in ("runs/final_loss", "curves/train_loss"):
            check(np.array_equal(d[k][row].view(np.uint32), pd_[k][0].view(np.uint32)),
                  f"{name}: {k} differs from the plain sweep with qa weight {w}")
    check(not np.array_equal(d["runs/final_loss"][1], d["runs/final_loss"][2]), "the weight had no effect")
    # a weight that leaves the other source no row of a block: FILE:LINE:COL, exit 2
    bad = write(os.path.join(work, "bad.yaml"), base.replace("run: {", fam.replace("0.5]", "0.9999]") + "run: {"))
    p = ds(["plan", bad])
    check(p.returncode == 2 and re.search(r"bad.yaml:\d+:\d+: .*source 'fortunes' gets weight", p.stderr),
          f"plan bad mix: {p.returncode} {p.stderr}")

SETS = (("mmlu", "mmlu.bin"), ("mmlu_c", "mmlu_c.bin"))


def read_items(path):
    """/items/<set>/{chosen, ll_correct} of each set, and each group's n_items attribute."""
    with h5py.File(path, "r") as f:
        return {name: (f[f"items/{name}/chosen"][()], f[f"items/{name}/ll_correct"][()],
                       int(f[f"items/{name}"].attrs["n_items"])) for name, _ in SETS}


def same_items(a, b, what):
    for name, _ in SETS:
        (ca, la, _), (cb, lb, _) = a[name], b[name]
        check(ca.shape == cb.shape and np.array_equal(ca, cb), f"{what}: /items/{name}/chosen differs")
        check(la.shape == lb.shape and np.array_equal(la.view(np.uint32), lb.view(np.uint32)),
              f"{what}: /items/{name}/ll_correct differs")


def check_items(work, y, out, mc, t_ref):
    """Per-item results (issue 25): stored = eval --mc --items for every seed, bit for bit;
    mc_acc = mean(chosen == label); the same after a SIGKILL and resume and after a rebuild
    from the journal; verify passes and finds a hand-edited item."""
    items = read_items(out)
    with h5py.File(out, "r") as f:
        acc = f["metrics/mc_acc"][()]
        status = f["runs/status"][()]
    for si, (name, setf) in enumerate(SETS):
        labels = np.array([it["label"] for it in mc.read_set(os.path.join(work, setf))["items"]])
        ch, ll, n_attr = items[name]
        check(ch.dtype == np.int8 and ll.dtype == np.float32 and ch.shape == (1, 3, len(labels)) and
              ll.shape == ch.shape and n_attr == len(labels),
              f"/items/{name}: {ch.dtype} {ch.shape}, {ll.dtype} {ll.shape}, n_items {n_attr} ({len(labels)} items)")
        for k in range(3):
            p = ds(["eval", out, "--scale", "0", "--seed", str(k), "--mc", os.path.join(work, setf),
                    "--items", "--format", "json"])
            if not check(p.returncode == 0, f"eval --mc --items: {p.stderr}"):
                return
            e = json.loads(p.stdout)["mc"][0]
            want_ll = np.array([np.nan if v is None else v for v in e["ll_correct"]], dtype=np.float32)
            check(status[0, k] == 1 and np.array_equal(ch[0, k], np.array(e["chosen"], dtype=np.int8)),
                  f"seed {k} {name}: stored chosen differs from eval --items")
            check(np.array_equal(ll[0, k].view(np.uint32), want_ll.view(np.uint32)),
                  f"seed {k} {name}: stored ll_correct differs from eval --items (bit for bit): "
                  f"{ll[0, k][:5]} vs {want_ll[:5]}")
            check(list(labels) == e["label"], f"{name}: labels of read_set and eval --items differ")
            right = int((ch[0, k] == labels).sum())
            check(np.float32(right / len(labels)) == acc[0, k, si],
                  f"seed {k} {name}: mc_acc {acc[0, k, si]} is not mean(chosen == label) = {right}/{len(labels)}")
    sys.path.insert(0, os.path.join(A.src, "tools"))
    import distsweep_h5 as dh
    res = dh.load(out)
    check(sorted(res.items) == ["mmlu", "mmlu_c"] and np.array_equal(res.items["mmlu"]["chosen"], items["mmlu"][0]),
          "distsweep_h5 loads the items")
    df = dh.items_frame(res, "mmlu", labels=os.path.join(work, "mmlu.bin"))
    n = items["mmlu"][0].shape[2]
    check(len(df) == 3 * n and list(df.columns[-4:]) == ["item", "chosen", "correct", "ll_correct"] and
          np.float32(df[df.seed == 1].correct.mean()) == acc[0, 1, 0], f"items_frame: {df.head()}")

    # verify: whole; a hand-edited item is a mismatch against the journal, --repair restores it
    p = ds(["verify", out, "--format", "json"])
    check(p.returncode == 0, f"verify: exit {p.returncode}: {p.stdout[-800:]} {p.stderr[-400:]}")
    vd = os.path.join(work, "verify")
    os.makedirs(vd)
    for suffix in ("", ".journal", ".models"):
        (shutil.copytree if suffix == ".models" else shutil.copy2)(out + suffix, os.path.join(vd, "mc.h5" + suffix))
    vout = os.path.join(vd, "mc.h5")
    with h5py.File(vout, "r+") as f:
        d = f["items/mmlu_c/ll_correct"]
        v = d[0, 2, 1]
        d[0, 2, 1] = v + np.float32(0.5)
        f["items/mmlu/chosen"][0, 0, 3] = (int(f["items/mmlu/chosen"][0, 0, 3]) + 1) % 4
    p = ds(["verify", vout, "--format", "json"])
    check(p.returncode == 1 and "differ from their journal record" in p.stdout and "/items/" in p.stdout,
          f"verify of a hand-edited item: exit {p.returncode}: {p.stdout[-800:]} {p.stderr[-400:]}")
    p = ds(["verify", vout, "--repair"])
    check(p.returncode == 0, f"verify --repair: exit {p.returncode}: {p.stdout[-800:]} {p.stderr[-400:]}")
    p = ds(["verify", vout])
    check(p.returncode == 0, f"verify after --repair: exit {p.returncode}: {p.stdout[-800:]}")
    same_items(items, read_items(vout), "hand-edited, repaired from the journal")
    # a torn superblock: verify --repair --sweep rebuilds the file from the journal without
    # reading the set files (n_items from the journal's records), the same items
    with open(vout, "r+b") as fh:
        fh.write(b"\0" * 4096)
    p = ds(["verify", vout, "--repair", "--sweep", y])
    check(p.returncode == 0 and "from its journal" in p.stderr,
          f"verify --repair of a torn file: exit {p.returncode}: {p.stdout[-800:]} {p.stderr[-400:]}")
    same_items(items, read_items(vout), "torn, rebuilt by verify --repair")

    # rebuilt from the journal (the file deleted; models kept): the same items
    rd = os.path.join(work, "rebuild")
    os.makedirs(rd)
    shutil.copy2(out + ".journal", os.path.join(rd, "mc.h5.journal"))
    shutil.copytree(out + ".models", os.path.join(rd, "mc.h5.models"))
    rout = os.path.join(rd, "mc.h5")
    p = ds(["run", y, "-o", rout], np_=2)
    check(p.returncode == 0 and "from its journal" in p.stderr, f"rebuild: {p.returncode} {p.stderr[-800:]}")
    same_items(items, read_items(rout), "rebuilt from the journal")

    # SIGKILLed mid-way and resumed: the same items
    kout = os.path.join(work, "killed.h5")
    # a file of sets resumes as it is (the probe knows its kind: no rebuild)
    kills = kill_and_resume(y, kout, t_ref, 1, (0.5, 0.8), 2525, resumed=lambda attempt, err: check(
        "damaged" not in err, f"resume {attempt} took the file of sets for damaged: {err}"))
    check(kills == 1, "the kill did not land")
    with h5py.File(kout, "r") as f:
        check((f["runs/status"][()] == 1).all(), "killed and resumed: not every run is done")
    same_items(items, read_items(kout), "killed and resumed")


def sc_mc(work):
    sys.path.insert(0, os.path.join(A.src, "tests", "mc"))
    import test_mc as mc  # the WordNet set builders and the independent HF scoring
    setup(work)
    if not make_mmlu_sets(work, mc, 10, (("letter", "mmlu.bin"), ("completion", "mmlu_c.bin"))):
        return
    ev = ("eval:\n  multiple_choice:\n    - {name: mmlu, path: mmlu.bin}\n"
          "    - {name: mmlu_c, path: mmlu_c.bin, scoring: completion}\n")
    text = sweep_text(steps=60, seeds=3, ckpt=20, depths="[1]", context=192, extra_run=", save_models: true")
    y = write(os.path.join(work, "mc.yaml"), text.replace("model: {", ev + "model: {"))
    out = os.path.join(work, "mc.h5")
    t0 = time.time()
    p = ds(["run", y, "-o", out, "--quiet"], np_=2)
    t_ref = time.time() - t0
    if not check(p.returncode == 0, f"mc run: {p.returncode} {p.stderr}"):
        return
    with h5py.File(out, "r") as f:
        check([x.decode() for x in f["eval_sets"][()]] == ["mmlu", "mmlu_c"], "/eval_sets")
        check(list(f["eval_lengths"][()]) == [0, 1], "/eval_lengths holds the sets' indices")
        check(sorted(f["metrics"]) == ["mc_acc", "mc_nll"], f"metrics {sorted(f['metrics'])}")
        acc, nll = f["metrics/mc_acc"][()], f["metrics/mc_nll"][()]
        check(np.isnan(f["runs/id_em"][()]).all(), "id_em is NaN for a corpus task")
    check(acc.shape == (1, 3, 2) and ((acc >= 0) & (acc <= 1)).all() and (nll > 0).all(),
          f"mc_acc {acc}, mc_nll {nll}")
    # the stored metrics are the scorer's: eval --mc of each stored model (pack of 1)
    for k in range(3):
        for si, setf in enumerate(("mmlu.bin", "mmlu_c.bin")):
            p = ds(["eval", out, "--scale", "0", "--seed", str(k), "--mc", os.path.join(work, setf),
                    "--format", "json"])
            if not check(p.returncode == 0, f"eval --mc: {p.stderr}"):
                return
            e = json.loads(p.stdout)
            got = e["mc"][0]
            # printed with 9 digits: the same float32 (the scorer's bits for any packing, mceval.h)
            check(np.float32(got["mc_acc"]) == acc[0, k, si] and np.float32(got["mc_nll"]) == nll[0, k, si],
                  f"seed {k} {setf}: eval --mc {got['mc_acc']}, {got['mc_nll']} vs stored {acc[0, k, si]}, {nll[0, k, si]}")
    check_items(work, y, out, mc, t_ref)
    # independently: transformers on the exported model scores the letter set the same
    exp = os.path.join(work, "export")
    p = ds(["export", out, "--scale", "0", "--seed", "1", "-o", exp])
    if not check(p.returncode == 0, f"export: {p.stderr}"):
        return
    import torch
    from transformers import AutoTokenizer, GPTNeoXForCausalLM
    model = GPTNeoXForCausalLM.from_pretrained(exp, torch_dtype=torch.float32).eval()
    hf_tok = AutoTokenizer.from_pretrained(exp)
    check(hf_tok.decode(hf_tok("Answer: B").input_ids) == "Answer: B", "the exported tokenizer round-trips")
    st = mc.read_set(os.path.join(work, "mmlu.bin"))
    lls, mx = mc.hf_lls(model, st)
    chosen = [int(np.argmax(l)) for l in lls]
    hf_acc = np.mean([c == it["label"] for c, it in zip(chosen, st["items"])])
    hf_nll = np.mean([-l[it["label"]] for l, it in zip(lls, st["items"])])
    tol = 2 * mc.LOGIT_TOL * max(1.0, max(max(m) for m in mx))
    check(np.float32(hf_acc) == acc[0, 1, 0], f"transformers mc_acc {hf_acc} vs stored {acc[0, 1, 0]}")
    check(abs(hf_nll - nll[0, 1, 0]) <= tol, f"transformers mc_nll {hf_nll} vs stored {nll[0, 1, 0]} (tol {tol:.3g})")
    # report: mc_acc at the first set, threshold 0.25 by default; --set, --metric mc_nll; em refused
    p = ds(["report", out])
    check(p.returncode == 0 and "metric mc_acc (default), set mmlu" in p.stdout and ">= 0.25" in p.stdout,
          f"report: {p.stdout[:600]} {p.stderr}")
    p = ds(["report", out, "--metric", "mc_nll", "--set", "mmlu_c", "--format", "json"])
    check(p.returncode == 0 and json.loads(p.stdout)["metric"] == "mc_nll", f"report mc_nll: {p.stderr}")
    p = ds(["report", out, "--metric", "em"])
    check(p.returncode == 2 and "mc_acc, mc_nll" in p.stderr, f"report --metric em: {p.returncode} {p.stderr}")
    # compare: sets by name; a test length refused
    p = ds(["compare", f"{out}:d32_L1", f"{out}:d32_L1", "--set", "mmlu_c", "--metric", "mc_nll"])
    check(p.returncode == 0 and "metric mc_nll (--metric), set mmlu_c (--set)" in p.stdout,
          f"compare on sets: {p.stdout[:800]} {p.stderr}")
    p = ds(["compare", out, out, "--length", "5"])
    check(p.returncode == 2 and "--set NAME" in p.stderr, f"compare --length on sets: {p.stderr}")
    p = ds(["report", out, "--set", "nope"])
    check(p.returncode == 2 and "mmlu mmlu_c" in p.stderr, f"report --set nope: {p.returncode} {p.stderr}")
    p = ds(["status", out])
    check(p.returncode == 0 and "mc_acc" in p.stdout, f"status: {p.stdout} {p.stderr}")
    # sample decodes items: item 0 of the letter set is lm-eval's prompt, its label marked
    st0 = mc.read_set(os.path.join(work, "mmlu.bin"))["items"][0]
    p = ds(["sample", y, "--eval", "--set", "mmlu", "-n", "1"])
    want = hf_tok.decode(st0["ctx"]).split("\n")
    check(p.returncode == 0 and all(f"    | {l}" in p.stdout for l in want) and
          f"choice {'ABCD'[st0['label']]} (correct)" in p.stdout, f"sample --eval: {p.stdout[:1500]} {p.stderr}")
    p = ds(["sample", y, "--eval", "--set", "nope"])
    check(p.returncode == 2 and "mmlu mmlu_c" in p.stderr, f"sample --set nope: {p.returncode} {p.stderr}")
    sys.path.insert(0, os.path.join(A.src, "tools"))
    import distsweep_h5 as dh
    res = dh.load(out)
    check(res.eval_sets == ["mmlu", "mmlu_c"] and sorted(res.metrics) == ["mc_acc", "mc_nll"] and
          np.array_equal(res.metrics["mc_acc"], acc), "distsweep_h5 loads the sets")
    ch = res.choose()
    check((ch["metric"], ch["threshold"], ch["length"]) == ("mc_acc", 0.25, 0), f"plots' defaults {ch}")
    plots = os.path.join(work, "plots")
    p = run([sys.executable, os.path.join(A.src, "tools", "plot_sweep.py"), "-o", plots, out])
    check(p.returncode == 0 and all(os.path.getsize(os.path.join(plots, f"{k}_depth.png")) > 0
                                    for k in ("hist", "violin", "kde_error")), f"plot_sweep: {p.stderr[-800:]}")
    p = run([sys.executable, os.path.join(A.src, "tools", "plot_sweep.py"), "-o", plots, out, "--metric", "em"])
    check(p.returncode == 2 and "mc_acc, mc_nll" in p.stderr, f"plot_sweep --metric em: {p.stderr[-300:]}")


def make_base(path, seed, vocab=512, d=32, layers=2, heads=2):
    """A random GPTNeoXForCausalLM of the tokenizer's vocabulary, saved by save_pretrained."""
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM
    torch.manual_seed(seed)
    cfg = GPTNeoXConfig(vocab_size=vocab, hidden_size=d, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=4 * d, rotary_pct=0.25,
                        max_position_embeddings=256, use_parallel_residual=True, layer_norm_eps=1e-5,
                        tie_word_embeddings=False, hidden_act="gelu")
    GPTNeoXForCausalLM(cfg).save_pretrained(path)
    return path


def st_tensors(path):
    from safetensors.numpy import load_file
    return load_file(os.path.join(path, "model.safetensors"))


def sc_pipeline(work):
    sys.path.insert(0, os.path.join(A.src, "tests", "mc"))
    import test_mc as mc
    setup(work)
    # vocab_size 520 over the tokenizer's 512 ids: a padded vocabulary, as Pythia's 50,304 over its
    # tokenizer's 50,277 (task.vocab is the padded size; the MMLU set's header says 512)
    make_base(os.path.join(work, "base_a"), 1, vocab=520)
    make_base(os.path.join(work, "base_b"), 2, vocab=520)
    make_base(os.path.join(work, "base_wide"), 3, vocab=520, d=64, heads=4)
    if not make_mmlu_sets(work, mc, 10):
        return
    hdr = np.fromfile(os.path.join(work, "mmlu.bin"), dtype="<i4", count=7)
    check(hdr[6] == 512, f"the MMLU set's vocabulary is the tokenizer's 512: {hdr}")
    text = """name: pipeline
task:
  kind: corpus
  vocab: 520
  eot: 0
  tokenizer: tokenizer.json
  sources:
    - {name: news, path: "data/fortunes_*.bin", weight: 0.75}
    - {name: qa, path: "data/qa_*.bin", weight: 0.25, loss: answer}
eval:
  multiple_choice:
    - {name: mmlu, path: mmlu.bin}
model:
  init: {from: base_a, reinit: [{layer: -1, part: attention}, head]}
train: {steps: 24, batch: 8, context: 192, lr: 1.0e-4, warmup: 0, schedule: linear, log_every: 4}
seeds: {start: 0, count: 3}
scales:
  - {family: values, name: mix, width: 32, depth: 2, key: task.sources.qa.weight, values: [0.1, 0.25, 0.5]}
  - {family: values, name: base, width: 32, depth: 2, key: model.init.from,
     values: [base_a, base_b, {from: base_wide, width: 64, depth: 2}]}
run: {save_models: 1}
"""
    y = write(os.path.join(work, "pipeline.yaml"), text)
    out = os.path.join(work, "pipeline.h5")
    p = ds(["plan", y])
    check(p.returncode == 0 and "model.init.from base_b" in p.stdout and "#3=base_b" in p.stdout and
          "#4=base_wide" in p.stdout and  # each weight's condition: its own mixture and epochs
          re.search(r"mixture   #0 d32_L2_qa=0\.1: news 0\.9 \(92\d/1024, [\d.e+-]+ epoch\(s\)\), "
                    r"qa 0\.1 \(10\d/1024, [\d.e+-]+ epoch\(s\)\)", p.stdout) and "mixture   #1" not in p.stdout,
          f"plan: {p.returncode} {p.stdout[-1500:]} {p.stderr}")
    p = ds(["run", y, "-o", out, "--quiet"], np_=2, timeout=600)
    if not check(p.returncode == 0, f"pipeline run: {p.returncode} {p.stderr}"):
        return
    with h5py.File(out, "r") as f:
        names = [x.decode() for x in f["scales/name"][()]]
        check(names == ["d32_L2_qa=0.1", "d32_L2", "d32_L2_qa=0.5", "d32_L2_from=base_b",
                        "d64_L2_from=base_wide"], f"names {names}")
        froms = [x.decode() for x in f["scales/model.init.from"][()]]
        check(froms == ["base_a", "base_a", "base_a", "base_b", "base_wide"], f"/scales/model.init.from {froms}")
        check(list(f["scales/task.sources.qa.weight"][()]) == [0.1, 0.25, 0.5, 0.25, 0.25], "qa weight column")
        # base_wide (64 wide, 4 heads) is its own architecture: 12Ld^2 + 13Ld + 2Vd + 2d
        d, nl, v = 64, 2, 520
        check(int(f["scales/n_params"][()][4]) == 12 * nl * d * d + 13 * nl * d + 2 * v * d + 2 * d,
              f"base_wide's parameters {f['scales/n_params'][()]}")
        check((f["runs/status"][()] == 1).all(), "not every run is done")
        acc, nll = f["metrics/mc_acc"][()], f["metrics/mc_nll"][()]
        check(acc.shape == (5, 3, 1) and np.isfinite(acc).all() and np.isfinite(nll).all() and (nll > 0).all(),
              f"mc_acc {acc.shape}, mc_nll {nll}")
        check(dict(f["families/base"].attrs)["key"] in ("model.init.from", b"model.init.from"), "base family key")
    import pandas as pd  # the string column reads as a table
    with h5py.File(out, "r") as f:
        df = pd.DataFrame({k: f["scales/" + k][()] for k in ("name", "model.init.from", "n_params")})
    check(df["model.init.from"].str.decode("utf-8").tolist()[3] == "base_b", f"pandas {df}")
    p = ds(["report", out])
    check(p.returncode == 0 and "base_b" in p.stdout and "model.init.from" in p.stdout and
          "task.sources.qa.weight" in p.stdout and ">= 0.25" in p.stdout, f"report: {p.stdout[:2000]} {p.stderr}")
    p = ds(["report", out, "--format", "json"])
    fams = {fm["name"]: fm for fm in json.loads(p.stdout)["families"]} if p.returncode == 0 else {}
    check(fams.get("base", {}).get("values") == ["base_a", "base_b", "base_wide"] and
          fams.get("mix", {}).get("values") == [0.1, 0.25, 0.5], f"report json: {p.stdout[:800]} {p.stderr}")
    # the base_b condition continued base_b: its untouched tensors (small lr, 24 steps) are
    # far nearer base_b's than base_a's
    exp = os.path.join(work, "export_b")
    p = ds(["export", out, "--scale", "d32_L2_from=base_b", "--seed", "0", "-o", exp])
    if not check(p.returncode == 0, f"export: {p.stderr}"):
        return
    ta, tb, te = (st_tensors(os.path.join(work, "base_a")), st_tensors(os.path.join(work, "base_b")),
                  st_tensors(exp))
    check(sorted(te) == sorted(k for k in tb if not k.endswith((".attention.bias", ".masked_bias",
                                                                     "inv_freq"))),
          f"export names {sorted(set(te) ^ set(tb))}")
    k = "gpt_neox.layers.0.mlp.dense_h_to_4h.weight"
    db, da = np.abs(te[k] - tb[k]).max(), np.abs(te[k] - ta[k]).max()
    check(db < 0.1 * da, f"{k}: max |export - base_b| {db}, |export - base_a| {da}")
    readme = open(os.path.join(exp, "README.md")).read()
    check("`base_b`" in readme and "layer -1 attention" in readme and "head" in readme and
          "model.init.from = base_b" in readme, f"README: {readme[:1200]}")
    import torch
    from transformers import GPTNeoXForCausalLM
    mdl = GPTNeoXForCausalLM.from_pretrained(exp, torch_dtype=torch.float32).eval()
    with torch.no_grad():
        lg = mdl(torch.tensor([[1, 2, 3, 4]])).logits
    check(lg.shape == (1, 4, 520) and torch.isfinite(lg).all(), "the export runs in transformers")
    plots = os.path.join(work, "plots")
    p = run([sys.executable, os.path.join(A.src, "tools", "plot_sweep.py"), "-o", plots, out])
    check(p.returncode == 0 and all(os.path.getsize(os.path.join(plots, f"success_{fm}.png")) > 0
                                    for fm in ("mix", "base")), f"plot_sweep: {p.stderr[-800:]}")
    # the wide base's condition: its export is base_wide's shape, and transformers runs it
    exp = os.path.join(work, "export_wide")
    p = ds(["export", out, "--scale", "d64_L2_from=base_wide", "--seed", "0", "-o", exp])
    if check(p.returncode == 0, f"export of the wide condition: {p.stderr}"):
        tw, te = st_tensors(os.path.join(work, "base_wide")), st_tensors(exp)
        check({k: v.shape for k, v in te.items()} == {k: v.shape for k, v in tw.items() if k in te} and
              len(te) == len([k for k in tw if not k.endswith((".attention.bias", ".masked_bias", "inv_freq"))]),
              f"export_wide's tensors {sorted(te)}")
        mdl = GPTNeoXForCausalLM.from_pretrained(exp, torch_dtype=torch.float32).eval()
        with torch.no_grad():
            lg = mdl(torch.tensor([[1, 2, 3, 4]])).logits
        check(lg.shape == (1, 4, 520) and torch.isfinite(lg).all(), "the wide export runs in transformers")
    # a base of another size written without its size: refused where the value is written
    bad = write(os.path.join(work, "bad.yaml"),
                text.replace("[base_a, base_b, {from: base_wide, width: 64, depth: 2}]", "[base_a, base_wide]"))
    bad_out = os.path.join(work, "bad.h5")
    p = ds(["run", bad, "-o", bad_out, "--quiet"])
    check(p.returncode == 2 and re.search(r"bad\.yaml:20:\d+: model\.init\.from base_wide", p.stderr) and
          "write the value as {from: base_wide, width: 64, depth: 2}" in p.stderr and
          not os.path.exists(bad_out), f"another size without its width: {p.returncode} {p.stderr}")


def sc_pretrained(work):
    sys.path.insert(0, os.path.join(A.src, "tests", "mc"))
    import test_mc as mc
    setup(work)
    if not make_mmlu_sets(work, mc, 10):
        return
    corpus = """task:
  kind: corpus
  vocab: 512
  eot: 0
  tokenizer: tokenizer.json
  sources:
    - {name: news, path: "data/fortunes_*.bin", weight: 0.75}
    - {name: qa, path: "data/qa_*.bin", weight: 0.25, loss: answer}
eval:
  multiple_choice:
    - {name: mmlu, path: mmlu.bin}
"""
    # 1. the base: pretrained here on the corpus, one seed, exported as a Hugging Face model
    pre = write(os.path.join(work, "pre.yaml"), "name: pre\n" + corpus + """model: {head_dim: 16}
train: {steps: 80, batch: 8, context: 192, lr: 3.0e-3, warmup: 8, log_every: 8}
seeds: {start: 0, count: 1}
scales:
  - {family: depth, width: 32, depth: [2]}
run: {save_models: true}
""")
    pre_out = os.path.join(work, "pre.h5")
    p = ds(["run", pre, "-o", pre_out, "--quiet"])
    if not check(p.returncode == 0, f"pretraining: {p.returncode} {p.stderr}"):
        return
    p = ds(["export", pre_out, "--scale", "0", "--seed", "0", "-o", os.path.join(work, "base")])
    if not check(p.returncode == 0, f"export of the base: {p.stderr}"):
        return
    # 2. the population from it
    pop = "name: pop\n" + corpus + """model:
  init: {from: base, reinit: [{layer: -1, part: attention}, head]}
train: {steps: 30, batch: 8, context: 192, lr: 1.0e-3, warmup: 0, schedule: linear, log_every: 5}
seeds: {start: 0, count: 8}
scales:
  - {family: values, name: mix, width: 32, depth: 2, key: task.sources.qa.weight, values: [0.1, 0.25, 0.5],
     label: qa fraction}
run: {checkpoint_every: 5, pack: 4}
"""
    y = write(os.path.join(work, "pop.yaml"), pop)
    ref = os.path.join(work, "ref.h5")
    t0 = time.time()
    p = ds(["run", y, "-o", ref, "--quiet"], np_=2, timeout=900)
    t_ref = time.time() - t0
    if not check(p.returncode == 0, f"population run: {p.returncode} {p.stderr}"):
        return
    keys = ("runs/status", "runs/final_loss", "curves/train_loss", "metrics/mc_acc", "metrics/mc_nll",
            "items/mmlu/chosen", "items/mmlu/ll_correct")
    def grab(path):
        with h5py.File(path, "r") as f:
            return {k: f[k][()] for k in keys}
    r = grab(ref)
    check((r["runs/status"] == 1).all() and r["metrics/mc_acc"].shape == (3, 8, 1) and
          np.isfinite(r["metrics/mc_nll"]).all(), f"population: status {r['runs/status']}")
    # a population: the seeds differ (reinit values and data order)
    check(len(np.unique(r["runs/final_loss"])) == r["runs/final_loss"].size, "two seeds end at the same loss")
    # continued training works: from the first loss point (a fresh head: about log V) the loss
    # falls well below it in 30 steps (that the start is the base's body: hf.continue, hf.reinit)
    c = r["curves/train_loss"]
    check((c[:, :, -1] < c[:, :, 0] - 0.3).all(), f"loss curves {c[:, :, [0, -1]]}")
    # 3. SIGKILL mid-way, resume until done: the same bits
    out = os.path.join(work, "killed.h5")
    kills = kill_and_resume(y, out, t_ref, 2, (0.3, 0.6), 2626, timeout=900)
    check(kills >= 1, "no kill landed mid-run")
    k = grab(out)
    for key in keys:
        a, b = r[key], k[key]
        same = a.shape == b.shape and (np.array_equal(a, b) if a.dtype.kind in "iu" else
                                       np.array_equal(a.view(np.uint32), b.view(np.uint32)))
        check(same, f"killed and resumed vs uninterrupted: {key} differs")
    # 4. report: each weight's distribution of mc_acc (threshold 0.25) and mc_nll
    p = ds(["report", ref])
    check(p.returncode == 0 and "qa fraction" in p.stdout and "d32_L2_qa=0.5" in p.stdout, f"report: {p.stderr}")
    print(p.stdout)
    print(ds(["report", ref, "--metric", "mc_nll", "--threshold", "1.5"]).stdout)


def sc_qwen(work):
    sys.path.insert(0, os.path.join(A.src, "tests", "mc"))
    import test_mc as mc
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM
    setup(work)
    torch.manual_seed(7)
    base = os.path.join(work, "qwen")
    Qwen2ForCausalLM(Qwen2Config(vocab_size=512, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=2, intermediate_size=64, max_position_embeddings=256,
                                 rms_norm_eps=1e-6, rope_theta=1e6, tie_word_embeddings=True,
                                 hidden_act="silu")).save_pretrained(base)
    if not make_mmlu_sets(work, mc, 6):
        return
    y = write(os.path.join(work, "qwen.yaml"), """name: qwenpop
task:
  kind: corpus
  vocab: 512
  eot: 0
  tokenizer: tokenizer.json
  sources:
    - {name: news, path: "data/fortunes_*.bin", weight: 0.75}
    - {name: qa, path: "data/qa_*.bin", weight: 0.25, loss: answer}
eval:
  multiple_choice:
    - {name: mmlu, path: mmlu.bin}
model:
  init: {from: qwen, reinit: [{layer: -1, part: attention}, head]}
train: {steps: 16, batch: 4, context: 192, lr: 1.0e-3, warmup: 0, schedule: linear, log_every: 4}
seeds: {start: 0, count: 4}
scales:
  - {family: values, name: mix, width: 32, depth: 2, key: task.sources.qa.weight, values: [0.1, 0.5]}
run: {save_models: 1, backend: cpu}
""")
    out = os.path.join(work, "qwen.h5")
    p = ds(["run", y, "-o", out, "--quiet"], np_=2, timeout=600)
    if not check(p.returncode == 0, f"qwen population: {p.returncode} {p.stderr}"):
        return
    check(p.stderr.count("so the model is untied") == 1,
          f"the untie note once: {p.stderr}")
    with h5py.File(out, "r") as f:
        check((f["runs/status"][()] == 1).all(), "not every run is done")
        acc, nll = f["metrics/mc_acc"][()], f["metrics/mc_nll"][()]
        check(acc.shape == (2, 4, 1) and np.isfinite(nll).all(), f"mc_acc {acc.shape}, mc_nll {nll}")
    p = ds(["report", out])
    check(p.returncode == 0 and "d32_L2_qa=0.1" in p.stdout and "mc_acc" in p.stdout, f"report: {p.stderr}")
    exp = os.path.join(work, "export")
    p = ds(["export", out, "--scale", "0", "--seed", "0", "-o", exp])
    if not check(p.returncode == 0, f"export: {p.stderr}"):
        return
    cfg = json.load(open(os.path.join(exp, "config.json")))
    check(cfg.get("architectures") == ["Qwen2ForCausalLM"] and cfg.get("tie_word_embeddings") is False,
          f"exported config {cfg}")
    m = AutoModelForCausalLM.from_pretrained(exp, torch_dtype=torch.float32).eval()
    names = set(m.state_dict())
    want = set(Qwen2ForCausalLM.from_pretrained(base).state_dict()) | {"lm_head.weight"}
    check(names == want, f"tensor names {sorted(names ^ want)}")
    with torch.no_grad():
        lg = m(torch.tensor([[1, 2, 3, 4]])).logits
    check(lg.shape == (1, 4, 512) and torch.isfinite(lg).all(), "the export runs in transformers")


def sc_epochs(work):
    setup(work)
    ctx, batch = 33, 8
    n_qa = sum((read_shard(os.path.join(work, "data", f))[1].size for f in sorted(os.listdir(os.path.join(work, "data")))
                if f.startswith("qa_") and f.endswith(".bin")))
    chunks = (n_qa - 1) // (ctx - 1)
    slots = 256  # weight 0.25 of a block of 1024 rows
    want = -(-(-(-2 * chunks // slots)) * 1024 // batch)
    text = sweep_text(steps=80, seeds=2, ckpt=20, depths="[1]").replace(
        "train: {steps: 80,", "train: {epochs: {source: qa, count: 2},")
    y = write(os.path.join(work, "epochs.yaml"), text)
    p = ds(["plan", y])
    check(p.returncode == 0 and f"{want} steps" in p.stdout, f"plan: want {want} steps: {p.stdout[:800]} {p.stderr}")
    out = os.path.join(work, "epochs.h5")
    p = ds(["run", y, "-o", out, "--quiet"])
    if not check(p.returncode == 0, f"run: {p.returncode} {p.stderr}"):
        return
    with h5py.File(out, "r") as f:
        check((f["runs/steps_done"][()] == want).all(), f"steps_done {f['runs/steps_done'][()]}, want {want}")
        check(f["curves/train_loss"].shape[2] == want // 10, "the curve has steps / log_every points")
    _, rows = sample_rows(y, 0, 0, want * batch)
    n = sum(r["source"] == "qa" for r in rows)
    check(n >= 2 * chunks, f"seed 0 saw {n} qa rows in {want} steps, fewer than 2 epochs ({2 * chunks})")
    # the stored sweep without its data: status, report and verify still read the file
    os.rename(os.path.join(work, "data"), os.path.join(work, "data.away"))
    for args in (["status", out], ["verify", out]):
        p = ds(args)
        check(p.returncode == 0, f"{args[0]} without the data: {p.returncode} {p.stdout[-500:]} {p.stderr}")
    os.rename(os.path.join(work, "data.away"), os.path.join(work, "data"))
    bad = write(os.path.join(work, "bad.yaml"), text.replace("warmup: 5,", f"warmup: {want + 1},"))
    p = ds(["run", bad, "-o", os.path.join(work, "bad.h5"), "--quiet"])
    check(p.returncode == 2 and "fewer than train.warmup" in p.stderr and re.search(r"bad\.yaml:\d+:\d+:", p.stderr)
          and not os.path.exists(os.path.join(work, "bad.h5")), f"warmup beyond the epochs: {p.returncode} {p.stderr}")


def sc_bigvocab(work):
    tok, _ = make_tokenizer(work)
    extra = [f"<x{i}>" for i in range(66000)]
    tok.add_tokens(extra)
    tpath = os.path.join(work, "tokenizer_big.json")
    tok.save(tpath)
    V = tok.get_vocab_size(with_added_tokens=True)
    check(V == 66512, f"vocabulary {V}")
    # fortunes with some of the highest ids between words, so that the shards hold ids > 65,535
    docs = open(os.path.join(FORTUNES, "computers"), encoding="utf-8", errors="replace").read().split("%")
    src = os.path.join(work, "big.txt")
    with open(src, "w") as f:
        f.write("%".join(d.replace(" the ", f" the <x{65990 + i % 10}> ") for i, d in enumerate(docs)))
    os.makedirs(os.path.join(work, "data"))
    p = tool(["--tokenizer", tpath, "-o", os.path.join(work, "data", "big"), "--split-on", "%", src])
    if not check(p.returncode == 0 and "uint32" in p.stdout + p.stderr, f"tokenize: {p.returncode} {p.stdout} {p.stderr}"):
        return
    h, ids = read_shard(os.path.join(work, "data", "big_000000.bin"))
    check((h[0], h[1]) == (20240801, 7) and ids.dtype == np.dtype("<u4") and int(ids.max()) > 65535 and
          int(ids.max()) < V, f"shard header {h[:3]}, max id {ids.max()}")
    text = f"""name: bigvocab
task:
  kind: corpus
  vocab: {V}
  eot: 0
  tokenizer: tokenizer_big.json
  sources:
    - {{name: big, path: "data/big_*.bin", weight: 1}}
model: {{head_dim: 16}}
train: {{steps: 6, batch: 4, context: 33, lr: 3.0e-3, warmup: 0, log_every: 1}}
seeds: {{start: 0, count: 2}}
scales:
  - {{family: depth, width: 16, depth: [1]}}
run: {{pack: 2}}
"""
    y = write(os.path.join(work, "big.yaml"), text)
    p = ds(["plan", y])
    check(p.returncode == 0 and re.search(r"memory: a pack of #0 2 replica\(s\) [0-9.]+ MiB", p.stdout),
          f"plan: {p.returncode} {p.stdout[-1200:]} {p.stderr}")
    print("\n".join(l for l in p.stdout.splitlines() if l.startswith("memory")))
    p = run(["/usr/bin/time", "-f", "maxrss_kb %M", A.bin, "train", y, "--seeds", "0,1", "--format", "json",
             "--quiet"], timeout=600)
    if not check(p.returncode == 0, f"train: {p.returncode} {p.stderr}"):
        return
    res = json.loads(p.stdout)
    runs = res["runs"] if isinstance(res, dict) and "runs" in res else res
    losses = [r["final_loss"] for r in runs]
    check(all(np.isfinite(l) and l < np.log(V) for l in losses), f"final losses {losses} (log V = {np.log(V):.3f})")
    rss = re.search(r"maxrss_kb (\d+)", p.stderr)
    print(f"bigvocab: V {V}, width 16, depth 1, pack of 2, batch 4 x context 33: final loss {losses}, "
          f"peak RSS {int(rss.group(1)) / 1024:.1f} MiB" if rss else "peak RSS: not measured")


def sc_errors(work):
    setup(work)
    data = os.path.join(work, "data")
    y = write(os.path.join(work, "text.yaml"), sweep_text())
    out = os.path.join(work, "out.h5")

    def refused(what, needle, np_=2):
        p = ds(["run", y, "-o", out, "--quiet"], np_=np_)
        check(p.returncode == 2, f"{what}: exit {p.returncode}, expected 2: {p.stderr}")
        check(needle in p.stderr, f"{what}: message {p.stderr!r} lacks {needle!r}")
        check(not os.path.exists(out), f"{what}: a result file was written")
        p = ds(["train", y, "--seeds", "0"])
        check(p.returncode == 2 and needle in p.stderr, f"{what} (train): exit {p.returncode} {p.stderr}")

    shard = os.path.join(data, "fortunes_000001.bin")
    good = open(shard, "rb").read()
    with open(shard, "wb") as f:
        f.write(good[:-7])
    refused("truncated shard", f"{shard}: truncated")
    with open(shard, "wb") as f:
        f.write(struct.pack("<i", 1234) + good[4:])
    refused("wrong magic", f"{shard}: not an llm.c token shard: magic 1234")
    toks = bytearray(good)
    toks[1024 + 2 * 10:1024 + 2 * 10 + 2] = struct.pack("<H", 600)
    with open(shard, "wb") as f:
        f.write(bytes(toks))
    refused("token beyond vocab", f"{shard}: token 10 is id 600, not below task.vocab (512)")
    with open(shard, "wb") as f:
        f.write(good)
    mask = os.path.join(data, "qa_000000.mask")
    os.rename(mask, mask + ".x")
    refused("missing mask", "needs the answer-mask sidecar")
    os.rename(mask + ".x", mask)

    write(y, sweep_text(w=(0.75, 0.3)))
    p = ds(["run", y, "-o", out, "--quiet"], np_=2)
    check(p.returncode == 2 and re.search(r"text\.yaml:\d+:\d+: the weights of task\.sources sum to 1\.05, not 1",
                                          p.stderr), f"weights: {p.returncode} {p.stderr}")
    check(not os.path.exists(out), "weights: a result file was written")
    # the sweep loads without its data: status of a stored corpus sweep elsewhere
    write(y, sweep_text(steps=20, seeds=1, depths="[1]"))
    p = ds(["run", y, "-o", out, "--quiet"], np_=2)
    check(p.returncode == 0, f"run: {p.returncode} {p.stderr}")
    shutil.rmtree(data)
    p = ds(["status", out])
    check(p.returncode == 0 and "complete" in p.stdout, f"status without the data: {p.returncode} {p.stdout} {p.stderr}")


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["tool", "train", "packs", "mix", "mc", "pipeline", "pretrained", "qwen", "epochs", "bigvocab", "errors"])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--mpiexec", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--pydeps", required=True)
    A = ap.parse_args()
    if not os.path.isdir(FORTUNES):
        print(f"{FORTUNES} is missing: install Debian's fortunes (tools/install-deps.sh)")
        return 1
    install_hf_deps(A.pydeps)
    work = tempfile.mkdtemp(prefix=f"ds_text_{A.scenario}_")
    try:
        globals()["sc_" + A.scenario](work)
    finally:
        if not failures():
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory kept: {work}")
    n = failures()
    print(f"{A.scenario}: {'FAILED, ' + str(n) + ' check(s)' if n else 'passed'}")
    return 1 if n else 0


if __name__ == "__main__":
    sys.exit(main())
