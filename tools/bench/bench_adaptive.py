#!/usr/bin/env python3
"""Adaptive seeds against a fixed seed count on a synthetic sweep of known truth.

usage: bench_adaptive.py DISTSWEEP [--mpiexec mpirun] [--np 2] [--work DIR]

Five scales whose synthetic jobs (--synthetic-job-seconds, src/synth.h) succeed
with probabilities 0, 0.1, 0.5, 0.9 and 1 (DISTSWEEP_SYNTH_P, no divergence).
1. The adaptive sweep of the issue's example (32 seeds first, +16 per round,
   at most 256, until p_success's 95% CI is at most 0.10 wide): runs and, per
   scale, seeds and the CI width `distsweep report` prints (ci_w).
2. The fixed sweep: seeds.count 32, 48, ... (each step extends the same file,
   training only the new seeds) until its widest scale's CI is at most as
   wide as the adaptive sweep's widest: the fixed count that buys the same
   worst-case precision, and its runs.
Both widths come from `distsweep report` (the same bootstrap, key
DS_BOOT_SEED), so they compare like with like. Prints a Markdown table.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

SWEEP = """name: adaptive-bench
task: {kind: count, vocab: 100, train_length: [1, 10], eval_lengths: [10, 15]}
model: {head_dim: 64}
train: {steps: 10, batch: 4, context: 64, lr: 1.0e-3, warmup: 1, log_every: 5}
seeds:
  start: 0
  count: %d
%s
scales:
  - {family: width, depth: 1, width: [64, 128, 192, 256, 320]}
run: {pack: 16, checkpoint_every: 10, max_attempts: 2, backend: cpu}
"""
ADAPTIVE = """  adaptive: {metric: em, length: 15, statistic: p_success, threshold: 0.5,
             ci_width: 0.10, step: 16, max: 256}"""
TRUTH = "0,0.1,0.5,0.9,1"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("--mpiexec", default="mpirun")
    ap.add_argument("--np", type=int, default=2)
    ap.add_argument("--work", default=None)
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="bench-adaptive-")
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, DISTSWEEP_SYNTH_P=TRUTH, DISTSWEEP_SYNTH_DIVERGE="0",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")

    def sweep(name, count, adaptive):
        y = os.path.join(work, name + ".yaml")
        with open(y, "w") as f:
            f.write(SWEEP % (count, ADAPTIVE if adaptive else ""))
        out = os.path.join(work, name + ".h5")
        cmd = [a.mpiexec, "-np", str(a.np), "--oversubscribe", a.bin, y, "-o", out, "--quiet",
               "--synthetic-job-seconds", "0.005"]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if p.returncode:
            sys.exit(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr}")
        r = subprocess.run([a.bin, "report", out, "--length", "15", "--format", "json"],
                           capture_output=True, text=True, check=True)
        return json.loads(r.stdout)

    rep = sweep("adaptive", 32, True)
    rows = rep["families"][0]["scales"]
    ad_n = [r["n"] for r in rows]
    ad_w = [r["p_success_ci_width"] for r in rows]
    ad_p = [r["p_success"] for r in rows]
    worst = max(ad_w)
    fixed = None
    for count in range(32, 4097, 16):
        frep = sweep("fixed", count, False)
        fw = [r["p_success_ci_width"] for r in frep["families"][0]["scales"]]
        if max(fw) <= worst + 1e-12:
            fixed = (count, fw)
            break
    truth = [float(x) for x in TRUTH.split(",")]
    print(f"work: {work}")
    print("| scale | true p | adaptive: seeds | p_success | CI width | fixed: seeds | CI width |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for i, r in enumerate(rows):
        print(f"| {r['scale']} | {truth[i]:g} | {ad_n[i]} | {ad_p[i]:.3f} | {ad_w[i]:.3f} | "
              f"{fixed[0]} | {fixed[1][i]:.3f} |")
    print(f"| **runs** | | **{sum(ad_n)}** | | worst {worst:.3f} | **{5 * fixed[0]}** | "
          f"worst {max(fixed[1]):.3f} |")
    print(f"adaptive needs {sum(ad_n)} runs, the fixed count {fixed[0]} needs {5 * fixed[0]}: "
          f"{5 * fixed[0] / sum(ad_n):.2f}x as many for the same worst-case CI width")


if __name__ == "__main__":
    main()
