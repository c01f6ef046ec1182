#!/usr/bin/python3
"""tools/compare_results.py on synthetic result files with known
distributions (tools/make_synthetic_results.py): a file against itself (no
difference), against a copy where 3 failing seeds of the bimodal scale were
made to succeed (3 mode changes, p_success up by 3/n, W2 equal to the
closed form for equal-size samples), and a file that is not a result file."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

tools = sys.argv[1]
fails = 0


def check(cond, msg):
    global fails
    if not cond:
        fails += 1
        print("CHECK FAILED:", msg)


def cmp(a, b, *extra):
    p = subprocess.run([sys.executable, os.path.join(tools, "compare_results.py"), a, b, *extra],
                       capture_output=True, text=True)
    return p


work = tempfile.mkdtemp(prefix="ds-compare-")
try:
    a = os.path.join(work, "a.h5")
    subprocess.run([sys.executable, os.path.join(tools, "make_synthetic_results.py"), a,
                    "--seeds", "40"], check=True, capture_output=True)
    p = cmp(a, a, "--length", "40", "--format", "json")
    check(p.returncode == 0, p.stderr)
    same = json.loads(p.stdout)["scales"]
    check(len(same) == 6, f"{len(same)} scales")
    for r in same:
        check(r["w2"] == 0 and r["mode_changes"] == 0 and r["p_a"] == r["p_b"], f"self: {r}")

    b = os.path.join(work, "b.h5")
    shutil.copy(a, b)
    with h5py.File(b, "r+") as f:
        names = [n.decode() for n in f["scales/name"][()]]
        sc, li = names.index("d64_L2"), list(f["eval_lengths"][()]).index(40)
        em = f["metrics/em"][sc, :, li]
        st = f["runs/status"][sc]
        failing = [i for i in range(len(em)) if st[i] == 1 and em[i] < 0.5][:3]
        check(len(failing) == 3, "not 3 failing done seeds")
        em2 = em.copy()
        em2[failing] = 0.9
        f["metrics/em"][sc, :, li] = em2
        f.attrs["precision"] = "bf16"
        counted = (st == 1) | (st == 3)
        ea = np.where(st == 3, 0.0, em.astype(float))[counted]
        eb = np.where(st == 3, 0.0, em2.astype(float))[counted]
    p = cmp(a, b, "--length", "40", "--format", "json")
    check(p.returncode == 0, p.stderr)
    rows = {r["scale"]: r for r in json.loads(p.stdout)["scales"]}
    r = rows["d64_L2"]
    n = len(ea)
    check(r["mode_changes"] == 3 and r["n_both"] == n, f"mode changes: {r}")
    check(abs(r["p_b"] - r["p_a"] - 3 / n) < 1e-12, f"p_success: {r}")
    want = np.sqrt(np.mean((np.sort(ea) - np.sort(eb)) ** 2))
    check(abs(r["w2"] - want) < 1e-12, f"W2 {r['w2']} != {want}")
    check(sorted(r["changed_seeds"]) == sorted(int(x) for x in np.array(
        h5py.File(a, "r")["seeds"][()])[failing]), "changed seeds")
    for k, v in rows.items():
        if k != "d64_L2":
            check(v["w2"] == 0 and v["mode_changes"] == 0, f"{k} changed: {v}")
    t = cmp(a, b, "--length", "40")
    check(t.returncode == 0 and "(fp32)" in t.stdout and "(bf16)" in t.stdout and
          "3 of" in t.stdout, t.stdout)
    print(t.stdout)
    bad = os.path.join(work, "bad.h5")
    with open(bad, "w") as f:
        f.write("not hdf5")
    q = cmp(a, bad)
    check(q.returncode == 2 and "compare_results:" in q.stderr, f"bad file: {q.returncode} {q.stderr}")
finally:
    shutil.rmtree(work, True)
print(f"test_compare: {fails} failure(s)")
sys.exit(1 if fails else 0)
