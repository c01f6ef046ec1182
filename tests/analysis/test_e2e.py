#!/usr/bin/python3
"""End to end on a file written by the real store: `distsweep run` with the
scheduler's synthetic job kind (--synthetic-job-seconds: no training, metrics
are functions of scale and seed, seeds with seed % 11 == 10 diverge), then
`distsweep report`, tools/distsweep_h5.py and tools/plot_sweep.py on it.
Usage: test_e2e.py DISTSWEEP SOURCE_DIR"""
import json
import math
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

BIN, SRC = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(SRC, "tools"))
import distsweep_h5 as dh  # noqa: E402
import plot_sweep  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


tmp = tempfile.mkdtemp(prefix="ds_e2e_")
text = open(os.path.join(SRC, "sweeps", "smoke.yaml")).read()
text = re.sub(r"seeds:.*", "seeds: {start: 0, count: 24}", text)
text = re.sub(r"depth: \[1, 2\]", "depth: [1, 2, 3]", text)
text = re.sub(r"name: smoke", "name: e2e", text)
check("count: 24" in text and "[1, 2, 3]" in text, "sweep rewritten")
sweep = os.path.join(tmp, "e2e.yaml")
out = os.path.join(tmp, "e2e.h5")
with open(sweep, "w") as f:
    f.write(text)
p = subprocess.run([BIN, "run", sweep, "-o", out, "--quiet", "--synthetic-job-seconds", "0.05"],
                   capture_output=True, text=True, timeout=120)
check(p.returncode == 0, f"distsweep run: exit {p.returncode}: {p.stderr[-400:]}")

res = dh.load(out)
check(res.n_scales == 3 and res.n_seeds == 24, f"shape {res.n_scales} x {res.n_seeds}")
diverged = [int(s) for s in res.seeds if s % 11 == 10]
check(all((res.status[:, list(res.seeds).index(s)] == dh.DIVERGED).all() for s in diverged),
      "seeds 10 and 21 diverged")
for length in map(int, res.eval_lengths):
    li = res.length_index(length)
    d = json.loads(subprocess.run([BIN, "report", out, "--format", "json", "--length", str(length)],
                                  capture_output=True, text=True, check=True).stdout)
    check(d["done"] == 66 and d["diverged"] == 6, f"counts {d['done']} {d['diverged']}")
    fam = d["families"][0]
    check(fam["name"] == "depth" and [r["scale"] for r in fam["scales"]] == ["d64_L1", "d64_L2", "d64_L3"],
          "family")
    ref_last = res.counted("em", res.families["depth"][-1], li)
    for r, s in zip(fam["scales"], res.families["depth"]):
        v = res.counted("em", s, li)
        tag = f"L{length} {r['scale']}"
        check(r["n"] == 24 and r["n_diverged"] == 2 and len(v) == 24, f"{tag}: diverged runs count")
        check(sum(v == 0) >= 2, f"{tag}: diverged runs count as EM 0")
        check(math.isclose(r["mean"], v.mean(), abs_tol=1e-9), f"{tag} mean")
        check(math.isclose(r["median"], np.median(v), abs_tol=1e-9), f"{tag} median")
        check(math.isclose(r["p_success"], np.mean(v >= 0.5), abs_tol=1e-12), f"{tag} p_success")
        check(math.isclose(r["w2_to_largest"], dh.w2(v, ref_last), abs_tol=1e-9), f"{tag} W2")
    Y = res.curve_matrix("em", "depth", li)
    for t in fam["top_breakthrough"] + fam["top_linear"]:
        B, L = dh.breakthrough(Y[t["seed_index"]])
        check((t["B"] == "inf" and B == np.inf) or math.isclose(t["B"], B, rel_tol=1e-9), f"B of seed {t['seed']}")
        check(math.isclose(t["Lin"], L, rel_tol=1e-9), f"Lin of seed {t['seed']}")
    allB = np.array([dh.breakthrough(y)[0] for y in Y])
    check(fam["top_breakthrough"][0]["seed_index"] == int(dh.top_k(allB, 1)[0]), "the top breakthrough seed")

figs = plot_sweep.make_figures(res, length=int(res.eval_lengths[1]))
check(len(figs) == 6, f"figures {sorted(figs)}")
print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
