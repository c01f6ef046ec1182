#!/usr/bin/python3
"""Multiple-choice evaluation end to end on real text: tools/make_mc_eval.py, `distsweep eval
--mc` and an independent computation with Hugging Face transformers (tests/mc/tests.cmake).

usage: test_mc.py SCENARIO --bin distsweep --src SOURCE_DIR --pydeps DIR

Scenarios:
  hf      a byte-level BPE tokenizer trained here with `tokenizers` on WordNet glosses
          (wordnet-base) and fortunes; MMLU-layout CSVs made from WordNet ("Which word means:
          <gloss>?", the true lemma and 3 distractors of the same lexicographer file; one file
          per subject, dev files for --shots 2) and a CommonsenseQA-layout JSONL (5 choices),
          converted with the tool in both scoring modes (K = 4 and K = 5); a count sweep whose
          vocabulary is the tokenizer's (task.vocab = V - 4), trained briefly with
          run.save_models; distsweep's per-item correct-choice LL, chosen answers, mc_acc and
          mc_nll equal GPTNeoXForCausalLM's on the exported model (tolerance below); the tool's
          prompt of an item is lm-eval's string exactly, and its tokens are the tokenizer's
  errors  bad inputs: the tool on a CSV row without 4 choices, an answer outside A-D, JSONL
          lines without the fields or with 4 choices (FILE:LINE, exit 2, nothing written);
          eval --mc on a truncated file, a token over the model's vocabulary, an item longer
          than the model's context (the file and the item, exit 2)
"""
import argparse
import csv
import glob
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from procutil import SWEEP_ENV, check, failures, install_hf_deps  # noqa: E402

# Log-likelihood tolerance. Both sides compute the forward in fp32, in different summation
# orders; tests/models/test_models.py measures the logits within 2e-5 x max(1, max |logit|)
# (LOGIT_TOL there, a factor 40 above the measured differences). A token's log-probability is
# logit[target] - logsumexp(logits): each term moves by at most that logit bound, so the
# log-probability by at most twice it; an LL sums the continuation's n tokens (1 for a letter,
# a few for a completion): bound 2 n LOGIT_TOL max(1, max |logit|). A wrong target offset or a
# wrong token moves an LL by O(1).
LOGIT_TOL = 2e-5
A = None
ENV = dict(SWEEP_ENV)


def run(cmd, timeout=600, env=None):
    return subprocess.run(cmd, env=env or ENV, capture_output=True, text=True, timeout=timeout)


def tool(*args):
    env = dict(ENV, PYTHONPATH=A.pydeps)
    return run([sys.executable, os.path.join(A.src, "tools/make_mc_eval.py")] + list(args), env=env)


# ---- data -------------------------------------------------------------------------------

# lexicographer files of WordNet's nouns (wndb(5WN) "lex_filenum"), as subjects
SUBJECTS = {5: "animals", 13: "food_and_drink", 20: "plants"}


def wordnet():
    """{lex_filenum: [(lemma, gloss)]} of single-word nouns with a gloss."""
    out = {k: [] for k in SUBJECTS}
    seen = set()
    with open("/usr/share/wordnet/data.noun", encoding="latin-1") as f:
        for line in f:
            if line.startswith("  ") or "|" not in line:
                continue
            head, gloss = line.split("|", 1)
            fields = head.split()
            lex, word = int(fields[1]), fields[4]
            gloss = gloss.split(";")[0].strip()
            if lex in out and word.isalpha() and word.islower() and word not in seen and 10 < len(gloss) < 90:
                seen.add(word)
                out[lex].append((word, gloss))
    return out


def corpus_texts(wn):
    texts = [f"{w}: {g}." for items in wn.values() for w, g in items]
    with open("/usr/share/wordnet/data.noun", encoding="latin-1") as f:
        for i, line in enumerate(f):
            if "|" in line and i % 3 == 0:
                texts.append(line.split("|", 1)[1].strip())
    for p in sorted(glob.glob("/usr/share/games/fortunes/*")):
        if "." not in os.path.basename(p):
            with open(p, encoding="utf-8", errors="replace") as f:
                texts.extend(t.strip() for t in f.read().split("\n%\n") if t.strip())
    return texts


def train_tokenizer(texts, path, vocab=1024):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<|endoftext|>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, tr)
    tok.save(path)
    return tok


def question(gloss):
    return f"Which word means: {gloss}?"


def make_mmlu(work, wn, n_test=8, n_dev=2, seed=1):
    """<subject>_test.csv and <subject>_dev.csv per subject; returns {subject: (test rows, dev rows)}."""
    rng = random.Random(seed)
    out = {}
    for lex, subject in SUBJECTS.items():
        items = wn[lex][:]
        rng.shuffle(items)
        rows = []
        for w, g in items[: n_test + n_dev]:
            others = rng.sample([x for x, _ in items if x != w], 3)
            lab = rng.randrange(4)
            choices = others[:lab] + [w] + others[lab:]
            rows.append([question(g)] + choices + ["ABCD"[lab]])
        test, dev = rows[:n_test], rows[n_test:]
        for name, rs in (("test", test), ("dev", dev)):
            with open(os.path.join(work, f"{subject}_{name}.csv"), "w", newline="") as f:
                csv.writer(f).writerows(rs)
        out[subject] = (test, dev)
    return out


def make_csqa(work, wn, n=12, seed=2):
    rng = random.Random(seed)
    items = [x for v in wn.values() for x in v]
    rng.shuffle(items)
    path = os.path.join(work, "csqa.jsonl")
    with open(path, "w") as f:
        for i, (w, g) in enumerate(items[:n]):
            others = rng.sample([x for x, _ in items if x != w], 4)
            lab = rng.randrange(5)
            choices = others[:lab] + [w] + others[lab:]
            f.write(json.dumps({"id": f"q{i}", "question": {"question_concept": w, "stem": question(g),
                                "choices": [{"label": "ABCDE"[k], "text": c} for k, c in enumerate(choices)]},
                                "answerKey": "ABCDE"[lab]}) + "\n")
    return path


def read_set(path):
    """The items of a multiple-choice set file, read here independently of src/mcfile.c."""
    with open(path, "rb") as f:
        b = f.read()
    h = struct.unpack_from("<256i", b, 0)
    assert h[0] == 20261207 and h[1] == 1, h[:2]
    width, n, K, scoring, vocab = h[2], h[3], h[4], h[5], h[6]
    dt = "<u2" if width == 2 else "<u4"
    pos, items = 1024, []
    for _ in range(n):
        rec = struct.unpack_from(f"<{2 + 2 * K}i", b, pos)
        pos += 4 * (2 + 2 * K)
        lab, nc, lens, norms = rec[0], rec[1], rec[2:2 + K], rec[2 + K:]
        total = nc + sum(lens)
        t = np.frombuffer(b, dtype=dt, count=total, offset=pos).astype(np.int64)
        pos += width * total
        conts, o = [], nc
        for L in lens:
            conts.append(t[o:o + L].tolist())
            o += L
        items.append({"label": lab, "ctx": t[:nc].tolist(), "conts": conts, "norms": list(norms)})
    assert pos == len(b)
    return {"K": K, "scoring": scoring, "vocab": vocab, "items": items}


SWEEP = """name: mc-model
task: {{kind: count, vocab: {vocab}, train_length: [1, 6], eval_lengths: [6]}}
model: {{head_dim: 16, block: parallel, rotary_frac: 0.25}}
train: {{steps: 30, batch: 4, context: {context}, lr: 3.0e-3, warmup: 5, log_every: 10}}
seeds: {{start: 0, count: 2}}
scales:
  - {{family: depth, width: 32, depth: [2]}}
run: {{pack: auto, checkpoint_every: 50, max_attempts: 2, backend: cpu, save_models: 2}}
"""


def train_model(work, V, context):
    y = os.path.join(work, "mc.yaml")
    with open(y, "w") as f:
        f.write(SWEEP.format(vocab=V - 4, context=context))
    out = os.path.join(work, "mc.h5")
    p = run([A.bin, y, "-o", out, "--quiet"])
    check(p.returncode == 0, f"training failed ({p.returncode}): {p.stderr}")
    return out


def setup(work):
    install_hf_deps(A.pydeps)
    wn = wordnet()
    tok = train_tokenizer(corpus_texts(wn), os.path.join(work, "tokenizer.json"))
    V = tok.get_vocab_size(with_added_tokens=True)
    print(f"tokenizer: {V} tokens; WordNet nouns per subject: " +
          ", ".join(f"{SUBJECTS[k]} {len(v)}" for k, v in wn.items()))
    return wn, tok, V


# ---- hf ---------------------------------------------------------------------------------

def expected_mmlu_prompt(subject, dev, row, shots):
    """lm-eval's MMLU prompt, written out here by hand from its template (see
    tools/make_mc_eval.py for the files it comes from)."""
    s = f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"
    for d in dev[:shots]:
        s += f"{d[0]}\nA. {d[1]}\nB. {d[2]}\nC. {d[3]}\nD. {d[4]}\nAnswer: {d[5]}\n\n"
    return s + f"{row[0]}\nA. {row[1]}\nB. {row[2]}\nC. {row[3]}\nD. {row[4]}\nAnswer:"


def hf_lls(model, st):
    """[item][choice] summed log-softmax (double, from HF's fp32 logits) of the continuation
    tokens, and [item][choice] max |logit| over the row."""
    import torch
    lls, mx = [], []
    for it in st["items"]:
        rows = [it["ctx"] + c for c in it["conts"]]
        n = max(len(r) for r in rows)
        x = torch.tensor([r + [0] * (n - len(r)) for r in rows], dtype=torch.long)  # right padding: causal
        with torch.no_grad():
            logits = model(x).logits.double()
        lp = torch.log_softmax(logits, dim=-1)
        nc = len(it["ctx"])
        li, mi = [], []
        for k, r in enumerate(rows):
            li.append(float(sum(lp[k, t, r[t + 1]] for t in range(nc - 1, len(r) - 1))))
            mi.append(float(logits[k, : len(r) - 1].abs().max()))
        lls.append(li)
        mx.append(mi)
    return lls, mx


def compare(tag, st, ds, lls, mx):
    """distsweep's eval --mc --items JSON entry ds against the HF log-likelihoods."""
    items, K = st["items"], st["K"]
    n = len(items)
    check(ds["items"] == n and ds["choices"] == K, f"{tag}: {ds['items']} items, {ds['choices']} choices")
    worst, near, right, nll = 0.0, 0, 0, 0.0
    for i, it in enumerate(items):
        lab = it["label"]
        tol = [2 * len(c) * LOGIT_TOL * max(1.0, m) for c, m in zip(it["conts"], mx[i])]
        d = abs(ds["ll_correct"][i] - lls[i][lab])
        worst = max(worst, d / tol[lab])
        check(d <= tol[lab], f"{tag} item {i}: LL {ds['ll_correct'][i]} vs HF {lls[i][lab]} (tol {tol[lab]})")
        score = [lls[i][k] / it["norms"][k] if st["scoring"] == 1 else lls[i][k] for k in range(K)]
        stol = [tol[k] / it["norms"][k] if st["scoring"] == 1 else tol[k] for k in range(K)]
        best = int(np.argmax(score))  # first maximum, as distsweep
        margin = min(score[best] - score[k] - stol[best] - stol[k] for k in range(K) if k != best) \
            if K > 1 else 1
        if margin <= 0:
            near += 1  # a near-tie within the tolerance: either answer is right
        else:
            check(ds["chosen"][i] == best, f"{tag} item {i}: distsweep chose {ds['chosen'][i]}, HF {best}")
        check(ds["label"][i] == lab, f"{tag} item {i}: label {ds['label'][i]} != {lab}")
        right += best == lab
        nll -= lls[i][lab]
    acc, nll = right / n, nll / n
    print(f"{tag}: {n} items, mc_acc {ds['mc_acc']:.4f} (HF {acc:.4f}), mc_nll {ds['mc_nll']:.6f} (HF {nll:.6f}); "
          f"worst LL difference {worst:.3f} of its tolerance; {near} near-tie(s)")
    check(abs(ds["mc_acc"] - acc) <= near / n + 1e-7, f"{tag}: mc_acc {ds['mc_acc']} vs HF {acc}")
    ntol = max(2 * max(len(c) for c in it["conts"]) * LOGIT_TOL * max(1.0, max(m)) for it, m in zip(items, mx))
    check(abs(ds["mc_nll"] - nll) <= ntol + 1e-6 * abs(nll), f"{tag}: mc_nll {ds['mc_nll']} vs HF {nll}")
    # the comparison means something: the LLs depend on the item, and (completion style) the
    # chosen answers vary (a model trained on the count task answers every "Answer:" with the
    # same letter: the letter's LL hardly depends on the question)
    check(len(set(ds["ll_correct"])) > n // 2, f"{tag}: LLs hardly vary: {ds['ll_correct']}")
    if st["scoring"] == 1:
        check(ds["chosen"] != [ds["chosen"][0]] * n, f"{tag}: every item chose the same answer")


def sc_hf(work):
    wn, tok, V = setup(work)
    mm = make_mmlu(work, wn)
    csqa = make_csqa(work, wn)
    tj = os.path.join(work, "tokenizer.json")
    tests = [os.path.join(work, f"{s}_test.csv") for s in mm]
    devs = [os.path.join(work, f"{s}_dev.csv") for s in mm]
    sets = {}
    for fmt, scoring in (("mmlu", "letter"), ("mmlu", "completion"), ("csqa", "letter"), ("csqa", "completion")):
        tag = f"{fmt}-{scoring}"
        out, texts = os.path.join(work, tag + ".bin"), os.path.join(work, tag + ".jsonl")
        args = ["--tokenizer", tj, "--format", fmt, "--scoring", scoring, "--texts", texts]
        if fmt == "mmlu":  # the order of the usage line: the --dev list ends at -o
            args += ["--shots", "2", "--dev"] + devs + ["-o", out] + tests
        else:
            args += ["-o", out, csqa]
        p = tool(*args)
        if not check(p.returncode == 0, f"make_mc_eval {tag}: {p.stderr}"):
            continue
        print(p.stdout.strip())
        if fmt == "mmlu":
            for s in mm:
                check(f"{s}: 8 items" in p.stdout, f"{tag}: no count for subject {s}: {p.stdout}")
        sets[tag] = (out, [json.loads(x) for x in open(texts)])
    if not check(len(sets) == 4, "not every set was made"):
        return
    # the prompt of an item is lm-eval's string exactly
    subject = list(mm)[1]  # food_and_drink: the subject's _ becomes a space
    test, dev = mm[subject]
    texts = [t for t in sets["mmlu-letter"][1] if t["source"].endswith(f"{subject}_test.csv")]
    want = expected_mmlu_prompt(subject, dev, test[3], 2)
    check(texts[3]["context"] == want, f"mmlu prompt:\n{texts[3]['context']!r}\nexpected\n{want!r}")
    check(texts[3]["continuations"] == [" A", " B", " C", " D"], f"continuations {texts[3]['continuations']}")
    check("about food and drink.\n\n" in want, "the subject's underscores")
    print("an MMLU prompt with 2 shots, as lm-eval writes it:\n" + want)
    t = sets["csqa-letter"][1][0]
    check(t["context"].startswith("Question: Which word means: ") and "\nE. " in t["context"] and
          t["context"].endswith("\nAnswer:"), f"csqa prompt {t['context']!r}")
    t = sets["mmlu-completion"][1][0]
    check(t["context"].startswith("The following are questions (with answers) about animals.\n\n") and
          t["context"].endswith("Answer:") and "\nA. " not in t["context"].split("\n\n")[-1],
          f"mmlu completion prompt {t['context']!r}")
    # tokens: the file's are the tokenizer's (context decodes back; lm-eval's pair encoding)
    longest = 0
    for tag, (path, texts) in sets.items():
        st = read_set(path)
        check(st["vocab"] == V and st["K"] == (4 if tag.startswith("mmlu") else 5), f"{tag}: header")
        for it, tx in zip(st["items"], texts):
            ok = tok.decode(it["ctx"]) == tx["context"] and \
                all(tok.decode(it["ctx"] + c) == tx["context"] + s for c, s in zip(it["conts"], tx["continuations"]))
            if not check(ok, f"{tag}: tokens do not decode to the prompt of {tx['source']}:{tx['line']}"):
                break
            check(it["norms"] == [len(s) - 1 for s in tx["continuations"]], f"{tag}: acc_norm lengths {it['norms']}")
            longest = max(longest, len(it["ctx"]) + max(len(c) for c in it["conts"]))
    context = longest + 8
    print(f"longest row {longest} tokens: the model's context {context}")
    out = train_model(work, V, context)
    hf = os.path.join(work, "hf")
    p = run([A.bin, "export", out, "--scale", "0", "--seed", "0", "-o", hf])
    if not check(p.returncode == 0, f"export: {p.stderr}"):
        return
    import torch
    from transformers import GPTNeoXForCausalLM
    torch.manual_seed(0)
    model = GPTNeoXForCausalLM.from_pretrained(hf).eval()
    check(model.config.vocab_size == V, f"exported vocabulary {model.config.vocab_size} != {V}")
    for tag, (path, _) in sets.items():
        p = run([A.bin, "eval", out, "--scale", "0", "--seed", "0", "--mc", path, "--items", "--format", "json"])
        if not check(p.returncode == 0, f"eval --mc {tag}: {p.stderr}"):
            continue
        ds = json.loads(p.stdout)["mc"][0]
        st = read_set(path)
        lls, mx = hf_lls(model, st)
        compare(tag, st, ds, lls, mx)
    # the table, two sets at once, and another seed scores differently
    p = run([A.bin, "eval", out, "--scale", "0", "--seed", "1", "--mc", sets["mmlu-letter"][0],
             "--mc", sets["csqa-completion"][0]])
    check(p.returncode == 0 and "mmlu-letter.bin" in p.stdout and "csqa-completion.bin" in p.stdout and
          "mc_acc" in p.stdout and " 24   4 letter" in p.stdout and " 12   5 completion" in p.stdout,
          f"eval --mc table: {p.returncode} {p.stdout} {p.stderr}")
    print(p.stdout)
    a = json.loads(run([A.bin, "eval", out, "--scale", "0", "--seed", "0", "--mc", sets["mmlu-letter"][0],
                        "--format", "json"]).stdout)["mc"][0]
    b = json.loads(run([A.bin, "eval", out, "--scale", "0", "--seed", "1", "--mc", sets["mmlu-letter"][0],
                        "--format", "json"]).stdout)["mc"][0]
    check(a["mc_nll"] != b["mc_nll"] and "chosen" not in a, f"seeds 0 and 1: {a} {b}")


# ---- errors -----------------------------------------------------------------------------

def sc_errors(work):
    wn, tok, V = setup(work)
    mm = make_mmlu(work, wn, n_test=3, n_dev=1)
    tj = os.path.join(work, "tokenizer.json")
    good = os.path.join(work, "animals_test.csv")
    rows = list(csv.reader(open(good, newline="")))

    def bad_csv(name, rows_):
        path = os.path.join(work, name)
        with open(path, "w", newline="") as f:
            csv.writer(f).writerows(rows_)
        return path

    cases = [
        ("short_test.csv", rows[:1] + [rows[1][:5]], r"short_test.csv:2: expected a question, 4 choices and an "
         "answer letter (6 fields), got 5"),
        ("letter_test.csv", rows[:2] + [rows[2][:5] + ["E"]], "letter_test.csv:3: answer 'E' is not one of A, B, C, D"),
    ]
    for name, rs, msg in cases:
        path = bad_csv(name, rs)
        out = os.path.join(work, "x.bin")
        p = tool("--tokenizer", tj, "--format", "mmlu", "-o", out, path)
        check(p.returncode == 2 and msg in p.stderr and not os.path.exists(out) and
              not os.path.exists(out + ".tmp"), f"tool on {name}: {p.returncode} {p.stderr}")
        print(f"tool, {name}: {p.stderr.strip()}")
    p = tool("--tokenizer", tj, "--format", "mmlu", "--shots", "2", "--dev", os.path.join(work, "animals_dev.csv"),
             "-o", os.path.join(work, "x.bin"), good)
    check(p.returncode == 2 and "--shots 2 needs 2 dev items of 'animals'" in p.stderr, f"too few shots: {p.stderr}")
    js = os.path.join(work, "bad.jsonl")
    ok = {"id": "a", "question": {"stem": "Which?", "choices": [{"label": x, "text": x.lower()} for x in "ABCDE"]},
          "answerKey": "B"}
    four = json.loads(json.dumps(ok))
    four["question"]["choices"] = four["question"]["choices"][:4]
    for line, (bad, msg) in enumerate([({"id": "b", "question": "Which?", "answerKey": "A"},
                                        "bad.jsonl:2: needs the fields question.stem"),
                                       (four, "bad.jsonl:2: needs 5 choices labelled A-E"),
                                       (dict(ok, answerKey="F"), "bad.jsonl:2: answerKey 'F' is not one of")]):
        with open(js, "w") as f:
            f.write(json.dumps(ok) + "\n" + json.dumps(bad) + "\n")
        p = tool("--tokenizer", tj, "--format", "csqa", "-o", os.path.join(work, "x.bin"), js)
        check(p.returncode == 2 and msg in p.stderr, f"tool on JSONL case {line}: {p.returncode} {p.stderr}")
        print(f"tool, JSONL case {line}: {p.stderr.strip()}")
    # eval --mc: a truncated file, a token over the model's vocabulary, an item over its context
    st = os.path.join(work, "ok.bin")
    p = tool("--tokenizer", tj, "--format", "mmlu", "-o", st, good)
    if not check(p.returncode == 0, f"tool: {p.stderr}"):
        return
    s = read_set(st)
    longest = max(len(it["ctx"]) + max(len(c) for c in it["conts"]) for it in s["items"])
    out = train_model(work, V, longest + 2)
    b = open(st, "rb").read()
    tr = os.path.join(work, "trunc.bin")
    open(tr, "wb").write(b[:-3])
    p = run([A.bin, "eval", out, "--scale", "0", "--seed", "0", "--mc", tr])
    check(p.returncode == 2 and "trunc.bin: truncated at item 2 of 3" in p.stderr and not p.stdout,
          f"eval --mc truncated: {p.returncode} {p.stderr}")
    print(f"eval, truncated: {p.stderr.strip()}")
    # item 1's first context token set to V (header vocabulary raised to V + 1: a bigger tokenizer)
    hb = bytearray(b)
    struct.pack_into("<i", hb, 24, V + 1)
    it0 = s["items"][0]
    K = 4
    pos = 1024 + 4 * (2 + 2 * K) + 2 * (len(it0["ctx"]) + sum(len(c) for c in it0["conts"]))
    struct.pack_into("<H", hb, pos + 4 * (2 + 2 * K), V)
    vb = os.path.join(work, "vocab.bin")
    open(vb, "wb").write(bytes(hb))
    p = run([A.bin, "eval", out, "--scale", "0", "--seed", "0", "--mc", vb])
    check(p.returncode == 2 and f"vocab.bin: item 1: token 0 of its context is {V}, not below the model's "
          f"vocabulary of {V}" in p.stderr, f"eval --mc token >= V: {p.returncode} {p.stderr}")
    print(f"eval, token over the vocabulary: {p.stderr.strip()}")
    long_rows = rows[:2] + [[rows[2][0] + " " + " ".join(["lengthy"] * (longest + 10))] + rows[2][1:]]
    lp = bad_csv("long_test.csv", long_rows)
    lb = os.path.join(work, "long.bin")
    p = tool("--tokenizer", tj, "--format", "mmlu", "-o", lb, lp)
    check(p.returncode == 0, f"tool on the long item: {p.stderr}")
    p = run([A.bin, "eval", out, "--scale", "0", "--seed", "0", "--mc", lb, "--format", "json"])
    check(p.returncode == 2 and "long.bin: item 2: context of" in p.stderr and
          f"more than the model's context of {longest + 2}" in p.stderr and not p.stdout,
          f"eval --mc item too long: {p.returncode} {p.stderr}")
    print(f"eval, item too long: {p.stderr.strip()}")
    p = run([A.bin, "eval", out, "--scale", "0", "--seed", "0", "--mc", os.path.join(work, "none.bin")])
    check(p.returncode == 2 and "none.bin: cannot open" in p.stderr, f"eval --mc missing: {p.stderr}")
    p = run([A.bin, "eval", out, "--scale", "0", "--seed", "0", "--mc", st, "--length", "3"])
    check(p.returncode == 2 and "give one or the other" in p.stderr, f"--mc with --length: {p.stderr}")


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["hf", "errors"])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--pydeps", required=True)
    A = ap.parse_args()
    work = tempfile.mkdtemp(prefix=f"ds_mc_{A.scenario}_")
    try:
        globals()["sc_" + A.scenario](work)
    finally:
        if failures() == 0:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory kept: {work}")
    print(f"mc.{A.scenario}: {'FAILED' if failures() else 'ok'} ({failures()} failed checks)")
    return 1 if failures() else 0


if __name__ == "__main__":
    sys.exit(main())
