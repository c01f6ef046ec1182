#!/usr/bin/python3
"""`distsweep report` on synthetic result files with known distributions
(tools/make_synthetic_results.py): the known p_success, dip verdicts, counts,
top seeds, agreement with the Python loader, the output formats, reading a file
that is still being written, and the usage errors.
Usage: test_report.py DISTSWEEP TOOLS_DIR"""
import csv
import io
import json
import math
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

BIN, TOOLS = sys.argv[1], sys.argv[2]
sys.path.insert(0, TOOLS)
import distsweep_h5 as dh  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def report(*args, rc=0):
    p = subprocess.run([BIN, "report", *args], capture_output=True, text=True)
    check(p.returncode == rc, f"report {args}: exit {p.returncode}, want {rc}; stderr: {p.stderr.strip()}")
    return p


def synth(path, *args):
    subprocess.run([sys.executable, os.path.join(TOOLS, "make_synthetic_results.py"), path, *args],
                   check=True, capture_output=True)


tmp = tempfile.mkdtemp(prefix="ds_report_")
fn = os.path.join(tmp, "syn.h5")
synth(fn, "--pending", "4", "--legacy-text")  # the fallback header below
res = dh.load(fn)

for length in (60, 20):
    args = [fn, "--format", "json"] + (["--length", str(length)] if length != 60 else [])
    d = json.loads(report(*args).stdout)
    check(d["length"] == length and d["metric"] == "em" and d["threshold"] == 0.5, "defaults")
    check((d["done"], d["diverged"], d["failed"], d["pending"]) == (234, 1, 1, 4), f"run counts {d}")
    fam = {f["name"]: f for f in d["families"]}
    check(list(fam) == ["depth", "width"], f"families {list(fam)}")
    rows = {r["scale"]: r for r in fam["depth"]["scales"]}
    check(list(rows) == ["d64_L1", "d64_L2", "d64_L3", "d64_L4"], "depth family order")
    L1, L2, L3, L4 = (rows[k] for k in ("d64_L1", "d64_L2", "d64_L3", "d64_L4"))
    # counts: the diverged run counts (as EM 0), failed and pending ones do not
    check(L2["n"] == 40 and L2["n_diverged"] == 1, f"d64_L2 counts {L2['n']} {L2['n_diverged']}")
    check(L3["n"] == 39 and L3["n_failed"] == 1, "d64_L3: the failed run is not counted")
    check(L4["n"] == 36 and L4["n_pending"] == 4, "d64_L4: pending runs are not counted")
    # known success probabilities
    check(L1["p_success"] == 0 and L1["mean_success"] is None, "d64_L1 p = 0, no successful mean")
    check(L2["p_success"] == 0.5, f"d64_L2 p = 0.5 (got {L2['p_success']})")
    check(L3["p_success"] == 1 and L4["p_success"] == 1, "d64_L3/L4 p = 1")
    check(L2["p_success_lo"] < 0.5 < L2["p_success_hi"] and L2["p_success_hi"] - L2["p_success_lo"] < 0.45,
          f"d64_L2 CI [{L2['p_success_lo']}, {L2['p_success_hi']}]")
    check(L2["mean_success_lo"] <= L2["mean_success"] <= L2["mean_success_hi"], "mean_success CI")
    # the dip verdicts: d64_L2 bimodal, the others unimodal at the 5% level
    check(L2["dip_p"] < 0.01, f"d64_L2 dip p {L2['dip_p']} (bimodal)")
    for r in (L1, L3, L4):
        check(r["dip_p"] > 0.05, f"{r['scale']} dip p {r['dip_p']} (unimodal)")
    check(L2["bimodality_coefficient"] > 5 / 9, "d64_L2 BC > 5/9")
    w = {r["scale"]: r for r in fam["width"]["scales"]}
    check(w["d32_L2"]["p_success"] == 0 and w["d128_L2"]["p_success"] == 1, "width family p")
    check(w["d32_L2"]["dip_p"] > 0.05 and w["d128_L2"]["dip_p"] > 0.05, "width unimodal")
    # the statistics against the Python loader and numpy
    li = res.length_index(length)
    for name, r in rows.items():
        s = res.scale_names.index(name)
        v = res.counted("em", s, li)
        check(len(v) == r["n"], f"{name} n vs loader")
        check(math.isclose(r["mean"], v.mean(), abs_tol=1e-9), f"{name} mean")
        check(math.isclose(r["median"], np.median(v), abs_tol=1e-9), f"{name} median")
        check(math.isclose(r["std"], v.std(ddof=1), abs_tol=1e-9), f"{name} std")
        check(math.isclose(r["w2_to_largest"], dh.w2(v, res.counted("em", 3, li)), abs_tol=1e-9), f"{name} W2")
        h = r["histogram"]
        check(h["lo"] == 0 and h["hi"] == 1 and
              h["counts"] == np.histogram(v, bins=20, range=(0, 1))[0].tolist(), f"{name} histogram")
    check(L4["w2_to_largest"] == 0, "W2 of the largest scale to itself")
    # the planted curves
    tb, tl = fam["depth"]["top_breakthrough"], fam["depth"]["top_linear"]
    check(len(tb) == 5 and len(tl) == 5, "top 5 by default")
    check(tb[0]["seed"] == 1003 and tb[0]["B"] == "inf", f"top breakthrough {tb[0]}")
    check(tl[0]["seed"] == 1005 and math.isclose(tl[0]["Lin"], 3, abs_tol=1e-6), f"top linear {tl[0]}")
    check(fam["depth"]["complete_curves"] == 36,  # seeds 36-39 pending at d64_L4 (39 also failed at L3)
           f"complete curves {fam['depth']['complete_curves']}")
    check(all(a["Lin"] >= b["Lin"] for a, b in zip(tl, tl[1:])), "top linear sorted")

# --family, --top, --metric, --threshold
d = json.loads(report(fn, "--format", "json", "--family", "width", "--top", "2", "--metric", "error").stdout)
check([f["name"] for f in d["families"]] == ["width"] and len(d["families"][0]["top_linear"]) == 2, "--family/--top")
check(d["metric"] == "error" and d["families"][0]["scales"][1]["n"] == 39, "error: the diverged run has no error")
# error: lower is better, so success is error <= tau and B, Lin are taken on -error
d = json.loads(report(fn, "--format", "json", "--metric", "error", "--threshold", "1").stdout)
check(d["success"] == "<=", "error: success is <=")
dep = d["families"][0]
li = res.length_index(60)
for r in dep["scales"]:
    v = res.counted("error", res.scale_names.index(r["scale"]), li)
    check(math.isclose(r["p_success"], np.mean(v <= 1), abs_tol=1e-12), f"error p_success {r['scale']}")
check(all(t["B"] == "inf" or t["B"] > 0 for t in dep["top_breakthrough"]), "error: falling curves rank first")
check(dep["scales"][3]["p_success"] == 1 and dep["scales"][0]["p_success"] == 0, "error p at L1 / L4")
d = json.loads(report(fn, "--format", "json", "--threshold", "0.0").stdout)
check(all(r["p_success"] == 1 for f in d["families"] for r in f["scales"] if r["n"]), "threshold 0 -> p = 1")

# table and CSV
t = report(fn).stdout
check("family depth" in t and "top 5 breakthrough seeds" in t and "seed 1003" in t, "table content")
rows = list(csv.DictReader(io.StringIO(report(fn, "--format", "csv").stdout)))
check(len(rows) == 7 and rows[1]["scale"] == "d64_L2" and float(rows[1]["p_success"]) == 0.5, "csv rows")

# with 3 scales (width) B = Lin: one list and the note; with 4 (depth) both lists
NOTE = dh.B_EQUALS_LIN_NOTE
wsec = t[t.index("family width"):]
dsec = t[t.index("family depth"):t.index("family width")]
wtops = [ln for ln in wsec.splitlines() if ln.startswith("top ")]
dtops = [ln for ln in dsec.splitlines() if ln.startswith("top ")]
check(len(wtops) == 1 and wtops[0].startswith("top 5 breakthrough seeds = top 5 linear seeds (of")
      and wtops[0].endswith(NOTE), f"width: one list with the B = Lin note {wtops}")
check(NOTE not in dsec and len(dtops) == 2 and dtops[0].startswith("top 5 breakthrough seeds (of")
      and dtops[1].startswith("top 5 linear seeds (of"), f"depth: two lists {dtops}")
d = json.loads(report(fn, "--format", "json").stdout)
check([f["b_equals_lin"] for f in d["families"]] == [False, True], "json b_equals_lin")
# the synthetic file's stored text is no sweep: the largest length, said in the header and on stderr
p = report(fn)
check("metric em (default), length 60 (the largest eval length: the stored sweep text does not load), "
      "success = em >= 0.5 (default)" in p.stdout, f"fallback header {p.stdout[:300]!r}")
check("note: the sweep text stored in the file does not load" in p.stderr, f"fallback note {p.stderr!r}")
p = report(fn, "--metric", "em", "--length", "20", "--threshold", "0.4")
check("metric em (--metric), length 20 (--length), success = em >= 0.4 (--threshold)" in p.stdout
      and p.stderr == "", f"flags named, no note: {p.stdout[:300]!r} {p.stderr!r}")

# a stored sweep text: the default rule and the report block, as the Python side chooses
SWEEP = ("name: syn\ntask: {kind: count, vocab: 100, train_length: [1, %d], eval_lengths: [20, 40, 60]}\n"
         "model: {head_dim: 32}\ntrain: {steps: 200, batch: 8, context: 128, lr: 1.0e-3, warmup: 10, log_every: 20}\n"
         "seeds: {count: 40}\nscales:\n  - {family: depth, width: 64, depth: [1, 2, 3, 4]}\n"
         "  - {family: width, depth: 2, width: [32, 64, 128]}\n%s")
for name, text, want in (
        ("beyond", SWEEP % (30, ""), ("em", 40, 0.5, "default", "first eval length beyond train_length max 30", "default")),
        ("none_beyond", SWEEP % (60, ""),
         ("em", 60, 0.5, "default", "no eval length beyond train_length max 60: the largest", "default")),
        ("block", SWEEP % (30, "report: {metric: error, length: 20, threshold: 2.5}\n"),
         ("error", 20, 2.5, "report.metric", "report.length", "report.threshold")),
        ("block_length_only", SWEEP % (30, "report:\n  length: 60\n"),
         ("em", 60, 0.5, "default", "report.length", "default")),
        # a hand-edited stored block that no longer validates: the file's text does not load
        ("bad_block", SWEEP % (30, "report: {length: 12}\n"),
         ("em", 60, 0.5, "default", "the largest eval length: the stored sweep text does not load", "default"))):
    g = os.path.join(tmp, name + ".h5")
    synth(g)
    with h5py.File(g, "r+") as f:
        f.attrs["sweep_yaml"] = text
    p = report(g, "--format", "json")
    d = json.loads(p.stdout)
    got = (d["metric"], d["length"], d["threshold"], d["metric_source"], d["length_source"], d["threshold_source"])
    check(got == want, f"{name}: report chose {got}, want {want}")
    check(("note:" in p.stderr) == (name == "bad_block"), f"{name}: note {p.stderr!r}")
    if name == "bad_block":
        check("report.length 12 is not one of task.eval_lengths" in p.stderr, f"bad_block: why {p.stderr!r}")
    else:
        ch = dh.load(g).choose()
        check((ch["metric"], ch["length"], ch["threshold"], ch["length_why"]) == (want[0], want[1], want[2], want[4]),
              f"{name}: python chose {ch}")
    fam = {f["name"]: f for f in d["families"]}
    li = res.length_index(want[1])
    v = res.counted(want[0], res.scale_names.index("d64_L2"), li)
    lower = want[0] in dh.LOWER_IS_BETTER
    r = [x for x in fam["depth"]["scales"] if x["scale"] == "d64_L2"][0]
    check(math.isclose(r["p_success"], np.mean(v <= want[2] if lower else v >= want[2]), abs_tol=1e-12),
          f"{name}: p_success at the chosen view")
    q = subprocess.run([BIN, "status", g], capture_output=True, text=True)
    rel = "<=" if lower else ">="
    check(q.returncode == 0 and f"{want[0]} at length {want[1]} ({want[4]}), success = {want[0]} {rel} {want[2]:g} "
          f"({want[5]})" in q.stdout, f"{name}: status header {q.stdout[:300]!r}")
    row = [ln.split() for ln in q.stdout.splitlines() if ln.startswith("d64_L2 ")][0]
    check(math.isclose(float(row[6]), v.mean(), abs_tol=6e-4) and
          math.isclose(float(row[7]), np.mean(v <= want[2] if lower else v >= want[2]), abs_tol=6e-4),
          f"{name}: status mean and p_success {row}")
    check(("note: " in q.stdout) == (name == "bad_block"), f"{name}: status note")

# a file still being written (SWMR): d64_L4 appears once the writer has written it
live = os.path.join(tmp, "live.h5")
w = subprocess.Popen([sys.executable, os.path.join(TOOLS, "make_synthetic_results.py"), live, "--live", "3"],
                     stdout=subprocess.PIPE, text=True)
check(w.stdout.readline().strip() == "READY", "live writer ready")
d = json.loads(report(live, "--format", "json", "--family", "depth").stdout)
r4 = d["families"][0]["scales"][3]
check(r4["n"] == 0 and r4["n_pending"] == 40 and d["families"][0]["scales"][1]["p_success"] == 0.5,
      f"live read: d64_L4 pending {r4}")
check(w.wait(timeout=30) == 0, "live writer finished")
d = json.loads(report(live, "--format", "json", "--family", "depth").stdout)
check(d["families"][0]["scales"][3]["n"] == 40, "after the writer: d64_L4 counted")

# nothing counted yet: every statistic is null (NaN), no top seeds, exit 0
empty = os.path.join(tmp, "empty.h5")
synth(empty)
with h5py.File(empty, "r+") as f:
    f["runs/status"][...] = 0
d = json.loads(report(empty, "--format", "json").stdout)
r = d["families"][0]["scales"][0]
check(d["pending"] == 240 and r["n"] == 0 and r["mean"] is None and r["p_success"] is None and r["dip_p"] is None,
      f"empty file: {r}")
check(d["families"][0]["top_breakthrough"] == [], "empty file: no top seeds")

# usage errors: exit 2, a message naming the problem, nothing on stdout
notds = os.path.join(tmp, "other.h5")
with h5py.File(notds, "w") as f:
    f["x"] = np.arange(3)
for args, msg in (([os.path.join(tmp, "missing.h5")], "cannot read"), ([__file__], "not an HDF5 file"),
                  ([notds], "not a distsweep result file"), ([fn, "--metric", "bleu"], "unknown metric"),
                  ([fn, "--length", "61"], "length 61 was not evaluated"), ([fn, "--family", "nope"], "no family"),
                  ([fn, "--format", "xml"], "unknown format"), ([fn, "--bogus"], "unknown option"), ([], "usage")):
    p = report(*args, rc=2)
    check(msg in p.stderr and p.stdout == "", f"report {args}: stderr {p.stderr!r}")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
