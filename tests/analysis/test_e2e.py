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
                   capture_output=True, text=True, timeout=600)
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

# --- the default length: the stored sweep (smoke: train 1..10, eval 10, 15,
# 20) has no report block, so report, status and the plots show length 15,
# the first beyond training, and say why; with 3 scales B = Lin: one list
WHY = "first eval length beyond train_length max 10"
d = json.loads(subprocess.run([BIN, "report", out, "--format", "json"], capture_output=True, text=True,
                              check=True).stdout)
check((d["metric"], d["length"], d["threshold"]) == ("em", 15, 0.5), f"default view {d['metric']} {d['length']}")
check((d["metric_source"], d["length_source"], d["threshold_source"]) == ("default", WHY, "default"),
      f"sources {d['metric_source']!r} {d['length_source']!r} {d['threshold_source']!r}")
check(d["families"][0]["b_equals_lin"] is True, "json: b_equals_lin with 3 scales")
ch = res.choose()
check((ch["metric"], ch["length"], ch["threshold"], ch["length_why"]) == ("em", 15, 0.5, WHY),
      f"python agrees with the report: {ch}")
t = subprocess.run([BIN, "report", out], capture_output=True, text=True, check=True)
check(f"length 15 ({WHY})" in t.stdout and t.stderr == "", f"table header: {t.stdout[:400]!r} {t.stderr!r}")
tops = [ln for ln in t.stdout.splitlines() if ln.startswith("top ")]
check(len(tops) == 1 and tops[0].startswith("top 5 breakthrough seeds = top 5 linear seeds (of 24 with")
      and tops[0].endswith(dh.B_EQUALS_LIN_NOTE), f"table: one list for B = Lin, with the note: {tops}")
t = subprocess.run([BIN, "report", out, "--length", "20"], capture_output=True, text=True, check=True)
check("length 20 (--length)" in t.stdout, "table header names the flag")
q = subprocess.run([BIN, "status", out], capture_output=True, text=True)
check(q.returncode == 0 and f"em at length 15 ({WHY}), success = em >= 0.5 (default)" in q.stdout,
      f"status header: {q.stdout[:300]!r}")
rows = {ln.split()[0]: ln.split() for ln in q.stdout.splitlines() if ln.startswith("d64_")}
for s in res.families["depth"]:
    v = res.counted("em", s, res.length_index(15))
    r = rows.get(res.scale_names[s], [])
    check(len(r) == 8 and math.isclose(float(r[6]), v.mean(), abs_tol=6e-4)
          and math.isclose(float(r[7]), np.mean(v >= 0.5), abs_tol=6e-4), f"status row {r}")

# --- a report block added to the finished sweep: the same experiment (nothing
# runs, exit 0); the file records the new text and report, status and the
# plots use it
with open(sweep, "a") as f:
    f.write("report: {metric: token_acc, length: 20, threshold: 0.9}\n")
p = subprocess.run([BIN, "run", sweep, "-o", out, "--quiet", "--synthetic-job-seconds", "0.05"],
                   capture_output=True, text=True, timeout=600)
check(p.returncode == 0, f"rerun with a report block: exit {p.returncode}: {p.stderr[-400:]}")
res2 = dh.load(out)
check("report: {metric: token_acc" in res2.attrs["sweep_yaml"], "the file records the new sweep text")
check(res2.attrs["sweep_hash"] == res.attrs["sweep_hash"], "the report block is not in the hash")
check((res2.status == res.status).all() and np.array_equal(res2.metrics["em"], res.metrics["em"], equal_nan=True),
      "no run changed")
d = json.loads(subprocess.run([BIN, "report", out, "--format", "json"], capture_output=True, text=True,
                              check=True).stdout)
check((d["metric"], d["length"], d["threshold"]) == ("token_acc", 20, 0.9)
      and (d["metric_source"], d["length_source"], d["threshold_source"])
      == ("report.metric", "report.length", "report.threshold"), f"report block used: {d['metric']} {d['length']}")
ch = res2.choose()
check((ch["metric"], ch["length"], ch["threshold"]) == ("token_acc", 20, 0.9), f"python reads the block: {ch}")
d = json.loads(subprocess.run([BIN, "report", out, "--format", "json", "--metric", "em"], capture_output=True,
                              text=True, check=True).stdout)
check(d["threshold"] == 0.5 and d["threshold_source"] == "default: report.threshold is for token_acc",
      f"a stored threshold belongs to its metric: {d['threshold']} {d['threshold_source']!r}")
q = subprocess.run([BIN, "status", out], capture_output=True, text=True)
check("token_acc at length 20 (report.length), success = token_acc >= 0.9 (report.threshold)" in q.stdout,
      f"status uses the block: {q.stdout[:300]!r}")

# A writer SIGKILLed while it holds the file open for writing outside SWMR mode (what
# distsweep's store does between its open and its switch to SWMR, src/store.c; a real
# HDF5 writer here, h5py, killed in that state) leaves the write flag in the superblock.
# status and report still read the file, with a note and nothing written; the Python
# loader says what to do; the next run recovers the file and changes no run.
import signal  # noqa: E402
q = subprocess.run([BIN, "status", out], capture_output=True, text=True)
def runs_lines(text):  # status without its clock-dependent "rate: ... ago" line
    return [ln for ln in text.splitlines() if not ln.startswith("rate:")]


status_before = runs_lines(q.stdout)
writer = subprocess.Popen([sys.executable, "-c",
                           "import h5py, sys, time\n"
                           f"f = h5py.File({out!r}, 'r+', libver='latest')\n"
                           "print('OPEN', flush=True)\n"
                           "time.sleep(60)\n"], stdout=subprocess.PIPE, text=True)
check(writer.stdout.readline().strip() == "OPEN", "the stand-in writer opened the file")
writer.send_signal(signal.SIGKILL)
writer.wait(timeout=10)
before = open(out, "rb").read()
q = subprocess.run([BIN, "status", out], capture_output=True, text=True)
check(q.returncode == 0 and "marked open for writing outside SWMR" in q.stderr,
      f"status after a killed writer: exit {q.returncode}: {q.stderr[-300:]}")
check(q.returncode == 0 and runs_lines(q.stdout) == status_before,
      f"status reads the same runs:\n{q.stdout}\nbefore:\n{status_before}")
q = subprocess.run([BIN, "report", out], capture_output=True, text=True)
check(q.returncode == 0 and "d64_L3" in q.stdout, f"report after a killed writer: exit {q.returncode}: {q.stderr[-300:]}")
check(open(out, "rb").read() == before, "status and report wrote nothing")
try:
    dh.load(out)
    check(False, "the Python loader opened a file h5py cannot open")
except OSError as e:
    check("the next `distsweep run` recovers it" in str(e), f"loader message: {e}")
p = subprocess.run([BIN, "run", sweep, "-o", out, "--quiet", "--synthetic-job-seconds", "0.05"],
                   capture_output=True, text=True, timeout=600)
check(p.returncode == 0, f"run after a killed writer: exit {p.returncode}: {p.stderr[-400:]}")
res3 = dh.load(out)
check((res3.status == res2.status).all() and np.array_equal(res3.metrics["em"], res2.metrics["em"], equal_nan=True)
      and np.array_equal(res3.runs["wall_s"], res2.runs["wall_s"], equal_nan=True), "recovered, and no run was rerun")
print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
