#!/usr/bin/env python3
"""train.eval_every (issue 28; ctest engine.eval_every): evaluation during
training keeps every promise of docs/engine.md, on real sweeps of the CPU
engine (tests/faults/faults.yaml: 2 scales x 4 seeds, here 300 steps with a
point every 50, so 6 points per run):

  - the option changes nothing else: every other dataset (final metrics,
    losses, curves, statuses) is bit-identical to the same sweep without it;
  - the last point of each run's trajectory equals its stored final metrics
    at the report length, bit for bit, for every metric;
  - packing does not change a trajectory: packs of 1 and of 2 give the same
    bits;
  - a sweep killed with SIGKILL while a pack holds a checkpoint past an
    evaluation point, then resumed, gives the same trajectories bit for bit
    (the points before the checkpoint come back from it).

usage: test_eval_every.py --bin distsweep --src SOURCE_DIR
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from procutil import JOURNAL_HEADER, SWEEP_ENV, check, failures  # noqa: E402

ENV = dict(SWEEP_ENV, OMP_NUM_THREADS="1")
ENV.pop("DISTSWEEP_HDF5_DIAG", None)
STEPS, EVERY = 300, 50
METRICS = ["em", "error", "minprob", "token_acc", "loss"]


def sweep_text(src, every):
    text = open(os.path.join(src, "tests", "faults", "faults.yaml")).read()
    text = text.replace("steps: 60,", f"steps: {STEPS},")
    if every:
        text = text.replace("log_every: 1}", f"log_every: 1, eval_every: {every}}}")
    assert f"steps: {STEPS}," in text and (not every or "eval_every" in text)
    return text


def run(binary, work, name, every, extra=()):
    y = os.path.join(work, name + ".yaml")
    with open(y, "w") as f:
        f.write(sweep_text(A.src, every))
    out = os.path.join(work, name + ".h5")
    p = subprocess.run([binary, y, "-o", out, "--quiet", *extra], env=ENV, capture_output=True,
                       text=True, timeout=600)
    check(p.returncode == 0, f"{name}: exit {p.returncode}: {p.stderr[-1500:]}")
    return y, out


def load(path):
    data = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda k, o: data.__setitem__(k, o[()]) if isinstance(o, h5py.Dataset)
                     else None)
    return data


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def killed_and_resumed(work):
    """Runs the eval_every sweep, SIGKILLs it once a run is stored and the pack
    in flight has a checkpoint past its first evaluation point, resumes it."""
    y = os.path.join(work, "k.yaml")
    with open(y, "w") as f:
        f.write(sweep_text(A.src, EVERY))
    out = os.path.join(work, "k.h5")
    for attempt in range(3):
        for suffix in ("", ".journal", ".lock"):
            if os.path.exists(out + suffix):
                os.remove(out + suffix)
        subprocess.run(["rm", "-rf", out + ".ckpt"])
        p = subprocess.Popen([A.bin, y, "-o", out, "--quiet"], env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        killed = False
        step = -1
        deadline = time.time() + 120
        while time.time() < deadline and p.poll() is None:
            try:
                stored = os.path.getsize(out + ".journal") > JOURNAL_HEADER
                ck = [c for c in os.listdir(out + ".ckpt") if c.endswith(".ckpt")]
            except OSError:
                stored, ck = False, []
            # a checkpoint is written every 20 steps: once one exists at least
            # 3 checkpoints after the pack started, a point (step 50) is in it
            # the checkpoint's header (docs/engine.md "Checkpoint format"):
            # magic, 2 x uint32, then int64 d L V H R P batch context steps step
            step = -1
            for c in ck:
                try:
                    with open(os.path.join(out + ".ckpt", c), "rb") as f:
                        head = f.read(16 + 8 * 10)
                    step = max(step, int.from_bytes(head[16 + 8 * 9:], "little", signed=True))
                except OSError:
                    pass
            if stored and step > EVERY:
                    os.kill(p.pid, signal.SIGKILL)
                    killed = True
                    break
            time.sleep(0.005)
        p.wait()
        if killed:
            break
    check(killed, "never caught a pack with a checkpoint past its first point (too fast?)")
    r = subprocess.run([A.bin, y, "-o", out, "--quiet"], env=ENV, capture_output=True, text=True,
                       timeout=600)
    check(r.returncode == 0, f"resume: exit {r.returncode}: {r.stderr[-1500:]}")
    return out


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--src", required=True)
    A = ap.parse_args()
    work = tempfile.mkdtemp(prefix="eval_every.")
    _, plain = run(A.bin, work, "plain", 0)
    _, b2 = run(A.bin, work, "pack2", EVERY)
    _, b1 = run(A.bin, work, "pack1", EVERY, ["--pack", "1"])
    P, T2, T1 = load(plain), load(b2), load(b1)
    n_points = STEPS // EVERY
    traj = {m: T2[f"trajectories/{m}"] for m in METRICS}
    for m in METRICS:
        check(traj[m].shape == (2, 4, n_points), f"trajectories/{m} shape {traj[m].shape}")
    # the option changes nothing else
    for k in sorted(P):
        if k in ("runs/wall_s", "runs/rank") or k.startswith("trajectories/"):
            continue  # (without the option the trajectories hold no point)
        check(k in T2 and same(P[k], T2[k]), f"{k} differs with eval_every")
    # the last point is the final evaluation at the report length
    with h5py.File(b2, "r") as f:
        lengths = list(f["eval_lengths"][()])
    length = 8  # faults.yaml: the first eval length beyond train_length's maximum (5)
    li = lengths.index(length)
    for m in METRICS:
        check(same(traj[m][:, :, -1], T2[f"metrics/{m}"][:, :, li]),
              f"trajectories/{m}: last point differs from metrics/{m} at length {length}")
        check(not np.isnan(traj[m][..., :]).all(), f"trajectories/{m} all NaN")
    # loss falls along the trajectory (a real evaluation, not a copy of the end)
    check((traj["loss"][:, :, 0] > traj["loss"][:, :, -1]).all(), "loss did not fall between points")
    # packing
    for m in METRICS:
        check(same(traj[m], T1[f"trajectories/{m}"]), f"trajectories/{m}: pack 1 != pack 2")
    # kill -9 and resume
    K = load(killed_and_resumed(work))
    for k in sorted(T2):
        if k in ("runs/wall_s", "runs/rank"):
            continue
        check(k in K and same(T2[k], K[k]), f"{k}: killed and resumed != uninterrupted")
    if failures():
        print(f"{failures()} failure(s)", file=sys.stderr)
        return 1
    print(f"eval_every: {n_points} points x 8 runs; unchanged finals, last point = final, "
          "pack-independent, identical after kill -9 and resume")
    return 0


if __name__ == "__main__":
    sys.exit(main())
