#!/usr/bin/env python3
"""End-to-end tests of `distsweep run` / `status` with real mpirun, real HDF5
and real signals (tests/mpi/tests.cmake registers one ctest per scenario).

usage: sweeptest.py SCENARIO --bin distsweep --mpiexec mpirun --src SOURCE_DIR [--rounds N]

Scenarios use the synthetic job kind (--synthetic-job-seconds, src/synth.h),
whose results are pure functions of (scale, seed), unless they say "engine".
"""
import argparse
import hashlib
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
from procutil import JOURNAL_HEADER, SWEEP_ENV, check, children, failures, finish, sigkill  # noqa: E402

ENV = dict(SWEEP_ENV)
SEED_AXIS = ["runs/status", "runs/attempts", "runs/steps_done", "runs/final_loss", "runs/id_em",
             "metrics/em", "metrics/error", "metrics/minprob", "metrics/token_acc", "metrics/loss",
             "curves/train_loss"]
# what must be bit-identical between two sweeps (wall_s and rank differ by nature;
# attempts is compared where no failure was injected)
COMPARE = SEED_AXIS

A = None


def run(cmd, timeout=300, **kw):
    p = subprocess.run(cmd, env=kw.pop("env", ENV), capture_output=True, text=True, timeout=timeout, **kw)
    return p


def ds(args, np_=1, synth=None, timeout=300, extra_env=None):
    """Runs distsweep (under mpirun when np_ > 1); returns CompletedProcess."""
    cmd = [A.bin] + args
    if synth is not None:
        cmd += ["--synthetic-job-seconds", str(synth)]
    if np_ > 1:
        cmd = [A.mpiexec, "-np", str(np_), "--oversubscribe"] + cmd
    env = dict(ENV, **(extra_env or {}))
    return run(cmd, timeout=timeout, env=env)


def md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def load(path):
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        return {k: f[k][()] for k in SEED_AXIS + ["seeds", "runs/rank", "runs/wall_s"]}


def same(a, b, keys=COMPARE):
    ok = True
    for k in keys:
        x, y = a[k], b[k]
        eq = x.shape == y.shape and np.array_equal(x.view(np.uint8) if x.dtype.kind == "f" else x,
                                                    y.view(np.uint8) if y.dtype.kind == "f" else y)
        ok &= check(eq, f"dataset {k} differs")
    return ok


def journal(path):
    """[(scale, seed, status, attempts)] of the valid records of a journal."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    # src/journal.h: version 2 adds the sweep hash (8 bytes) to version 1's header
    assert data[:8] in (b"DSJRNL01", b"DSJRNL02"), "journal magic"
    off = 8 + 48 + (8 if data[:8] == b"DSJRNL02" else 0)
    while off + 8 <= len(data):
        magic, n = struct.unpack_from("<II", data, off)
        if magic != 0x4A52534A or off + 16 + n > len(data):
            break
        scale, status, attempts, rank, n_len, n_curve = struct.unpack_from("<6i", data, off + 8)
        seed, = struct.unpack_from("<q", data, off + 8 + 24)
        out.append((scale, seed, status, attempts))
        off += 16 + n
    return out


def h5dump_ok(path):
    return run(["h5dump", "-H", path]).returncode == 0


def sweep_text(name="synth.yaml", **subst):
    text = open(os.path.join(A.src, "tests", "mpi", name)).read()
    for k, v in subst.items():
        text = re.sub(rf"(?m)^(\s*){k}:.*$", rf"\g<1>{k}: {v}", text)
    return text


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def reference(work, yaml, synth=0):
    ref = os.path.join(work, "ref.h5")
    if not os.path.exists(ref):
        p = ds([yaml, "-o", ref, "--quiet"], synth=synth)
        assert p.returncode == 0, p.stderr
    return load(ref)


# ---------------------------------------------------------------------------

def check_layout(path, n_scales, n_seeds, n_len, n_log, families):
    """Every object of docs/result-file.md with its documented type and shape."""
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        for k in ("format", "distsweep_version", "git_commit", "created", "sweep_name",
                  "sweep_yaml", "sweep_hash"):
            check(isinstance(f.attrs.get(k), str) and f.attrs[k] != "", f"attribute {k}")
        check(f.attrs["format"] == "distsweep" and f.attrs["format_version"] == 1, "format")
        check(re.fullmatch(r"[0-9a-f]{16}", f.attrs["sweep_hash"]) is not None, "sweep_hash")
        want = {"scales/name": ("S", (n_scales,)), "scales/d_model": ("i4", (n_scales,)),
                "scales/n_layers": ("i4", (n_scales,)), "scales/n_heads": ("i4", (n_scales,)),
                "scales/n_params": ("i8", (n_scales,)), "scales/flops_per_step": ("f8", (n_scales,)),
                "seeds": ("i8", (n_seeds,)), "eval_lengths": ("i4", (n_len,)),
                "runs/status": ("u1", (n_scales, n_seeds)), "runs/attempts": ("i4", (n_scales, n_seeds)),
                "runs/steps_done": ("i8", (n_scales, n_seeds)), "runs/wall_s": ("f4", (n_scales, n_seeds)),
                "runs/rank": ("i4", (n_scales, n_seeds)), "runs/final_loss": ("f4", (n_scales, n_seeds)),
                "runs/id_em": ("f4", (n_scales, n_seeds)),
                "curves/train_loss": ("f4", (n_scales, n_seeds, n_log))}
        for m in ("em", "error", "minprob", "token_acc", "loss"):
            want["metrics/" + m] = ("f4", (n_scales, n_seeds, n_len))
        for k, (dt, shape) in want.items():
            d = f[k]
            ok = d.shape == shape and (d.dtype.kind == "S" if dt == "S" else d.dtype == np.dtype(dt))
            check(ok, f"{k}: {d.dtype} {d.shape}, want {dt} {shape}")
            if len(shape) >= 2 or k == "seeds":
                check(d.maxshape[1 if len(shape) >= 2 else 0] is None and d.chunks is not None,
                      f"{k}: seed axis not chunked/unlimited")
        check(sorted(f["families"].keys()) == sorted(families), f"families {list(f['families'])}")
        check(f["scales/name"][0] == b"d64_L1", f"scale name {f['scales/name'][0]}")


def sc_ranks(work):
    """1, 2 and 4 ranks give bit-identical files (synthetic jobs, uneven packs)."""
    y = write(os.path.join(work, "s.yaml"), sweep_text())
    ref = None
    for n in (1, 2, 4):
        out = os.path.join(work, f"r{n}.h5")
        p = ds([y, "-o", out, "--quiet", "--pack", "3"], np_=n, synth=0.2)
        check(p.returncode == 0, f"{n} ranks: rc {p.returncode}: {p.stderr}")
        d = load(out)
        check((d["runs/status"] > 0).all(), f"{n} ranks: not every run finished")
        if n > 1:
            check(len(set(d["runs/rank"].ravel())) > 1, f"{n} ranks: all runs on one rank")
        check(h5dump_ok(out), "h5dump cannot open the finished file")
        check_layout(out, 3, 12, 3, 10, ["width"])
        if ref is None:
            ref = d
        else:
            same(ref, d)
        recs = journal(out + ".journal")
        check(len(recs) == d["runs/status"].size, f"{n} ranks: {len(recs)} journal records")


def sc_engine_ranks(work):
    """engine: 1, 2 and 4 ranks give bit-identical metrics on the CPU backend."""
    y = os.path.join(A.src, "tests", "mpi", "engine.yaml")
    ref = None
    for n in (1, 2, 4):
        out = os.path.join(work, f"e{n}.h5")
        p = ds([y, "-o", out, "--quiet"], np_=n, timeout=600)
        check(p.returncode == 0, f"{n} ranks: rc {p.returncode}: {p.stderr[-2000:]}")
        if p.returncode:
            return
        d = load(out)
        check((d["runs/status"] > 0).all(), f"{n} ranks: not every run finished")
        check(np.isfinite(d["metrics/loss"]).all(), "engine metrics are not finite")
        if ref is None:
            ref = d
        else:
            same(ref, d, [k for k in COMPARE])


def sc_engine_values(work):
    """engine: a values family (docs/sweep-file.md "values") on 2 ranks: one condition per
    value, /scales/<key> and the family's key/label stored, `report` and the plots show the
    varied value; each condition's runs are bit-identical to the plain sweep written with
    that value (the setting acts, and only it)."""
    base = open(os.path.join(A.src, "tests", "mpi", "engine.yaml")).read()
    base = base.replace("seeds: {start: 0, count: 4}", "seeds: {start: 0, count: 2}")
    fam = ("  - {family: values, name: lr, width: 64, depth: 2, key: train.lr,\n"
           "     values: [1.0e-3, 3.0e-3, 1.0e-2], label: learning rate}\n"
           "  - {family: values, name: wd, width: 64, depth: 1, key: train.weight_decay, values: [0.5]}\n")
    y = write(os.path.join(work, "v.yaml"), base.replace("output: engine.h5", fam + "output: engine.h5"))
    out = os.path.join(work, "v.h5")
    p = ds([y, "-o", out, "--quiet"], np_=2, timeout=600)
    if not check(p.returncode == 0, f"values sweep: rc {p.returncode}: {p.stderr[-2000:]}"):
        return
    with h5py.File(out, "r") as f:
        names = [x.decode() for x in f["scales/name"][()]]
        check(names == ["d64_L1", "d64_L2", "d64_L2_lr=0.001", "d64_L2_lr=0.01", "d64_L1_weight_decay=0.5"],
              f"condition names {names}")
        check(list(f["scales/train.lr"][()]) == [3e-3, 3e-3, 1e-3, 1e-2, 3e-3], "/scales/train.lr")
        check(list(f["scales/train.weight_decay"][()]) == [0.1, 0.1, 0.1, 0.1, 0.5], "/scales/train.weight_decay")
        a = f["families/lr"].attrs
        check(a["key"] == "train.lr" and a["label"] == "learning rate", f"family attrs {dict(a)}")
        check(list(f["families/lr"][()]) == [2, 1, 3], "family lr's conditions")
        check("key" not in f["families/depth"].attrs, "a depth family has no key")
    d = load(out)
    # each condition against the plain sweep with that value, trained alone
    for key, value, cond, scale in (("lr", "1.0e-2", 3, "d64_L2"), ("weight_decay", "0.5", 4, "d64_L1")):
        text = base.replace("output: engine.h5", "output: plain.h5")
        if key == "lr":
            text = text.replace("lr: 3.0e-3", f"lr: {value}")
        else:
            text = text.replace("warmup: 5,", f"warmup: 5, weight_decay: {value},")
        py = write(os.path.join(work, f"plain_{key}.yaml"), text)
        pout = os.path.join(work, f"plain_{key}.h5")
        p = ds([py, "-o", pout, "--quiet"], np_=1, timeout=600)
        if not check(p.returncode == 0, f"plain {key}: rc {p.returncode}: {p.stderr[-2000:]}"):
            return
        pd_ = load(pout)
        with h5py.File(pout, "r") as f:
            row = [x.decode() for x in f["scales/name"][()]].index(scale)
        for k in ("runs/final_loss", "metrics/em", "metrics/loss", "curves/train_loss"):
            check(np.array_equal(d[k][cond], pd_[k][row], equal_nan=True),
                  f"{key}={value}: {k} of the condition differs from the plain sweep's")
    # the varied value differs from the base: the runs differ
    check(not np.array_equal(d["runs/final_loss"][3], d["runs/final_loss"][1]), "lr had no effect")
    p = run([A.bin, "status", out])
    check(p.returncode == 0 and re.search(r"^d64_L1_weight_decay=0.5 +\d+ +2 ", p.stdout, re.M),
          f"status: {p.stdout[-1500:]}")
    # report: the family's values and label; json lists them
    p = run([A.bin, "report", out, "--family", "lr"])
    check(p.returncode == 0 and "learning rate: train.lr" in p.stdout and "d64_L2_lr=0.01" in p.stdout,
          f"report table: {p.stdout[-1500:]} {p.stderr[-500:]}")
    p = run([A.bin, "report", out, "--format", "json"])
    import json
    fams = {f_["name"]: f_ for f_ in json.loads(p.stdout)["families"]}
    check(fams["lr"].get("values") == [1e-3, 3e-3, 1e-2] and fams["lr"].get("key") == "train.lr",
          f"report json family lr: {fams['lr'].get('values')}")
    check("values" not in fams["depth"], "a depth family has no values")
    # the plots: a values family's x axis is its varied value with its label
    sys.path.insert(0, os.path.join(A.src, "tools"))
    import distsweep_h5 as dh
    res = dh.load(out)
    x, label, is_params = res.family_axis("lr")
    check(list(x) == [1e-3, 3e-3, 1e-2] and label == "learning rate" and not is_params,
          f"family_axis(lr) = {x}, {label}")
    plots = os.path.join(work, "plots")
    p = run([sys.executable, os.path.join(A.src, "tools", "plot_sweep.py"), "-o", plots, out, "--metric", "loss"])
    check(p.returncode == 0 and os.path.getsize(os.path.join(plots, "success_lr.png")) > 0,
          f"plot_sweep: {p.stderr[-1500:]}")


def sc_sigterm(work):
    """SIGTERM to a 1-rank sweep: exit 3 with checkpoints; resume -> identical."""
    y = write(os.path.join(work, "s.yaml"), sweep_text())
    ref = reference(work, y)
    out = os.path.join(work, "t.h5")
    for sig in (signal.SIGTERM, signal.SIGUSR1):
        if os.path.exists(out):
            os.remove(out), os.remove(out + ".journal"), shutil.rmtree(out + ".ckpt", True)
        p = subprocess.Popen([A.bin, y, "-o", out, "--quiet", "--synthetic-job-seconds", "0.4"],
                             env=ENV, stderr=subprocess.PIPE, text=True)
        # signal once the rank is inside a pack (its periodic checkpoint
        # exists): a fixed 1.2 s raced the start-up on a loaded machine
        deadline = time.time() + 30
        while time.time() < deadline and p.poll() is None:
            try:
                if any(f.endswith(".ckpt") for f in os.listdir(out + ".ckpt")):
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        p.send_signal(sig)
        err = p.communicate(timeout=60)[1]
        check(p.returncode == 3, f"signal {sig}: exit {p.returncode}, want 3: {err}")
        ck = [f for f in os.listdir(out + ".ckpt") if f.endswith(".ckpt")]
        check(len(ck) >= 1, f"signal {sig}: no checkpoint written")
        d = load(out)
        check((d["runs/status"] == 0).any(), "signal: sweep finished before the signal (test too slow?)")
        p = ds([y, "-o", out, "--quiet"], synth=0.1)
        check(p.returncode == 0, f"resume: rc {p.returncode}: {p.stderr}")
        same(ref, load(out))
        check(len(journal(out + ".journal")) == ref["runs/status"].size, "a run was stored twice")
        check(os.listdir(out + ".ckpt") == [], "checkpoints left after completion")


def sc_mpi_signal(work):
    """SIGUSR1 to mpirun reaches every rank: exit 3; resume on 3 ranks -> identical."""
    y = write(os.path.join(work, "s.yaml"), sweep_text())
    ref = reference(work, y)
    out = os.path.join(work, "m.h5")
    p = subprocess.Popen([A.mpiexec, "-np", "4", "--oversubscribe", A.bin, y, "-o", out, "--quiet",
                          "--synthetic-job-seconds", "1"], env=ENV, stderr=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    # signal once two ranks are inside packs (each writes a periodic checkpoint,
    # run.checkpoint_every 20 of 100 steps): a fixed delay raced the ranks'
    # start-up on a loaded machine (CI's 2 cores, ctest -j2)
    deadline = time.time() + 30
    while time.time() < deadline and p.poll() is None:
        try:
            if sum(f.endswith(".ckpt") for f in os.listdir(out + ".ckpt")) >= 2:
                break
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    p.send_signal(signal.SIGUSR1)
    err = p.communicate(timeout=60)[1]
    check(p.returncode == 3, f"mpirun exit {p.returncode}, want 3: {err[-1500:]}")
    ck = [f for f in os.listdir(out + ".ckpt") if f.endswith(".ckpt")]
    check(len(ck) >= 2, f"only {len(ck)} checkpoints: not every rank checkpointed")
    p = ds([y, "-o", out, "--quiet"], np_=3, synth=1)
    check(p.returncode == 0, f"resume: rc {p.returncode}: {p.stderr}")
    same(ref, load(out))
    # SIGTERM to one worker rank only: the whole sweep stops with 3
    out = os.path.join(work, "w.h5")
    p = subprocess.Popen([A.mpiexec, "-np", "3", "--oversubscribe", A.bin, y, "-o", out, "--quiet",
                          "--synthetic-job-seconds", "1"], env=ENV, stderr=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    time.sleep(2.5)
    ranks = children(p.pid)
    check(len(ranks) == 3, f"ranks {ranks}")
    os.kill(ranks[-1], signal.SIGTERM)
    err = p.communicate(timeout=60)[1]
    check(p.returncode == 3, f"worker SIGTERM: mpirun exit {p.returncode}, want 3: {err[-1500:]}")
    check((load(out)["runs/status"] == 0).any(), "worker SIGTERM: sweep finished anyway")
    p = ds([y, "-o", out, "--quiet"], np_=2, synth=0.2)
    check(p.returncode == 0, f"resume: rc {p.returncode}: {p.stderr}")
    same(ref, load(out))


def sc_stop_timeout(work):
    """A rank that never answers STOP (here: SIGSTOPped) does not hang rank 0:
    after DISTSWEEP_STOP_WAIT_S it closes the file and aborts the job with 3."""
    y = write(os.path.join(work, "s.yaml"), sweep_text())
    ref = reference(work, y)
    out = os.path.join(work, "h.h5")
    p = subprocess.Popen([A.mpiexec, "-np", "3", "--oversubscribe", A.bin, y, "-o", out, "--quiet",
                          "--synthetic-job-seconds", "1"], env=dict(ENV, DISTSWEEP_STOP_WAIT_S="3"),
                         stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    time.sleep(2.5)
    ranks = children(p.pid)
    check(len(ranks) == 3, f"ranks {ranks}")
    os.kill(ranks[2], signal.SIGSTOP)
    os.kill(ranks[0], signal.SIGUSR1)
    t = time.time()
    err = p.communicate(timeout=60)[1]
    check(p.returncode == 3, f"exit {p.returncode}, want 3: {err[-1500:]}")
    check(time.time() - t < 20, "rank 0 waited too long")
    check("did not answer STOP" in err, "no message about the silent rank")
    check(h5dump_ok(out), "file not closed before the abort")
    p = ds([y, "-o", out, "--quiet"], np_=2, synth=0.2)
    check(p.returncode == 0, f"resume: {p.stderr}")
    same(ref, load(out))


def sc_sigint_twice(work):
    """A second SIGINT exits at once with 3; the file is recovered and completed."""
    y = write(os.path.join(work, "s.yaml"), sweep_text())
    ref = reference(work, y)
    out = os.path.join(work, "i.h5")
    p = subprocess.Popen([A.bin, y, "-o", out, "--quiet", "--synthetic-job-seconds", "2"], env=ENV,
                         stderr=subprocess.PIPE, text=True)
    # once the first pack (2 s) is stored: a fixed sleep raced a loaded machine
    t0 = time.time()
    while p.poll() is None and time.time() - t0 < 60 and not (
            os.path.exists(out + ".journal") and os.path.getsize(out + ".journal") > JOURNAL_HEADER):
        time.sleep(0.02)
    time.sleep(0.2)  # past the two flushes that follow the journal append
    p.send_signal(signal.SIGINT)
    time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    t = time.time()
    err = p.communicate(timeout=60)[1]
    check(p.returncode == 3, f"exit {p.returncode}, want 3: {err}")
    check(time.time() - t < 1.0, "second SIGINT did not exit at once")
    d = load(out)  # SWMR-read open works on the unclosed file
    check((d["runs/status"] > 0).any(), "no run stored before the signals")
    q = run([A.bin, "status", out])
    check(q.returncode == 0 and "pending" in q.stdout, f"status of a killed writer's file: {q.stderr}")
    p = ds([y, "-o", out, "--quiet"], synth=0.1)
    check(p.returncode == 0, f"resume: {p.stderr}")
    same(ref, load(out))
    check(h5dump_ok(out), "h5dump cannot open the resumed file")


def sc_chaos(work):
    """SIGKILL a random rank or mpirun at a random moment, resume; repeat."""
    rng = random.Random(int(os.environ.get("DISTSWEEP_CHAOS_SEED", "12345")))
    y = write(os.path.join(work, "s.yaml"), sweep_text())
    ref = reference(work, y)
    total = ref["runs/status"].size
    kills = {"mpirun": 0, "rank0": 0, "worker": 0, "none": 0}
    n_done_before = 0
    for rnd in range(A.rounds):
        out = os.path.join(work, f"c{rnd}.h5")
        n = rng.choice([2, 3])
        killed_once = False
        before = None
        for attempt in range(8):
            cmd = [A.mpiexec, "-np", str(n), "--oversubscribe", A.bin, y, "-o", out, "--quiet",
                   "--synthetic-job-seconds", "0.15"]
            p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 text=True)
            if not killed_once:
                time.sleep(rng.uniform(0.3, 1.6))
                ranks = children(p.pid)
                target = rng.choice(["mpirun"] + ["rank"] * 2)
                if target == "rank" and ranks:
                    victim = rng.choice(ranks)
                    kills["rank0" if victim == ranks[0] else "worker"] += 1
                    os.kill(victim, signal.SIGKILL)
                elif p.poll() is None:
                    kills["mpirun"] += 1
                    p.kill()
                else:
                    kills["none"] += 1
                killed_once = True
                finish(p)
                sigkill(ranks)  # orphans of a killed mpirun
                time.sleep(0.2)
                if os.path.exists(out):
                    before = load(out)  # a killed writer's file opens SWMR-read
                continue
            err = p.communicate(timeout=120)[1]
            if p.returncode == 0:
                break
            check(False, f"round {rnd}: resume attempt exited {p.returncode}: {err[-1500:]}")
        d = load(out)
        check((d["runs/status"] > 0).all(), f"round {rnd}: sweep not complete")
        same(ref, d)
        if before is not None:
            # no finished run lost or run again: runs done at the kill keep
            # their rank and wall time (a rerun would write new ones)
            done = before["runs/status"] > 0
            for k in ("runs/rank", "runs/wall_s", "runs/status"):
                check(np.array_equal(before[k][done].view(np.uint8), d[k][done].view(np.uint8)),
                      f"round {rnd}: {k} of a run finished before the kill changed")
            n_done_before += int(done.sum())
        recs = journal(out + ".journal")
        keys = [(r[0], r[1]) for r in recs]
        check(len(keys) == len(set(keys)), f"round {rnd}: a run was stored twice in the journal")
        check(len(keys) == total, f"round {rnd}: {len(keys)} journal records for {total} runs")
        check((d["runs/attempts"] == 1).all(), f"round {rnd}: attempts != 1")
        check(h5dump_ok(out), f"round {rnd}: h5dump cannot open the file")
        with h5py.File(out, "r") as f:  # plain (non-SWMR) open works after a clean close
            check(f["runs/status"].shape == ref["runs/status"].shape, "shape")
        check(os.listdir(out + ".ckpt") == [], f"round {rnd}: checkpoints left")
        print(f"round {rnd}: ok ({n} ranks)", flush=True)
    print("kills:", kills, "runs finished before a kill and kept:", n_done_before)


def sc_engine_chaos(work):
    """engine: one kill -9 of mpirun mid-sweep with the real engine, resume -> identical."""
    y = os.path.join(A.src, "tests", "mpi", "engine.yaml")
    ref_path = os.path.join(work, "ref.h5")
    t = time.time()
    p = ds([y, "-o", ref_path, "--quiet"], np_=2, timeout=600)
    t_ref = time.time() - t
    check(p.returncode == 0, f"reference: {p.stderr[-2000:]}")
    if p.returncode:
        return
    ref = load(ref_path)
    out = os.path.join(work, "k.h5")
    p = subprocess.Popen([A.mpiexec, "-np", "2", "--oversubscribe", A.bin, y, "-o", out, "--quiet"],
                         env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.55 * t_ref)
    ranks = children(p.pid)
    p.kill()
    p.wait()
    sigkill(ranks)
    time.sleep(0.3)
    before = load(out)
    n_done = int((before["runs/status"] > 0).sum())
    check(n_done < before["runs/status"].size, "the kill came after the sweep finished")
    print(f"killed with {n_done} of {before['runs/status'].size} runs stored; checkpoints:",
          sorted(os.listdir(out + ".ckpt")))
    p = ds([y, "-o", out, "--quiet"], np_=2, timeout=600)
    check(p.returncode == 0, f"resume: {p.stderr[-2000:]}")
    d = load(out)
    same(ref, d)
    done = before["runs/status"] > 0
    check(np.array_equal(before["runs/wall_s"][done], d["runs/wall_s"][done]), "a stored run was rerun")
    recs = journal(out + ".journal")
    check(len(recs) == ref["runs/status"].size, "journal records != runs")


def sc_extend(work):
    """Raising seeds.count runs only the new seeds; the old rows stay as they were."""
    y6 = write(os.path.join(work, "s6.yaml"), sweep_text(seeds="{start: 0, count: 6}"))
    y9 = write(os.path.join(work, "s9.yaml"), sweep_text(seeds="{start: 0, count: 9}"))
    out = os.path.join(work, "x.h5")
    p = ds([y6, "-o", out, "--quiet"], np_=2, synth=0.05)
    check(p.returncode == 0, p.stderr)
    a = load(out)
    n_scales = a["runs/status"].shape[0]
    p = ds([y9, "-o", out], np_=2, synth=0.05)
    check(p.returncode == 0, p.stderr)
    check("extended the seed axis" in p.stderr, "no extension message: " + p.stderr)
    b = load(out)
    check(b["runs/status"].shape == (n_scales, 9), f"shape {b['runs/status'].shape}")
    check(list(b["seeds"]) == list(range(9)), f"seeds {b['seeds']}")
    for k in SEED_AXIS + ["runs/rank", "runs/wall_s"]:
        check(np.array_equal(a[k].view(np.uint8), b[k][:, :6].view(np.uint8)),
              f"{k}: an old run changed")
    recs = journal(out + ".journal")
    check(len(recs) == n_scales * 9, f"{len(recs)} journal records, want {n_scales * 9}")
    check(sorted(set(r[1] for r in recs[n_scales * 6:])) == [6, 7, 8], "the second run ran old seeds")
    p = ds([y9, "-o", os.path.join(work, "ref9.h5"), "--quiet"], synth=0)
    same(load(os.path.join(work, "ref9.h5")), b)
    # a smaller seeds.count is refused
    y4 = write(os.path.join(work, "s4.yaml"), sweep_text(seeds="{start: 0, count: 4}"))
    h = md5(out)
    p = ds([y4, "-o", out], synth=0)
    check(p.returncode == 2 and "seeds.count" in p.stderr, f"smaller count: {p.returncode} {p.stderr}")
    check(md5(out) == h, "refused file was modified")


def sc_refuse(work):
    """A changed sweep, a foreign or corrupt HDF5 file, a non-HDF5 file, an
    unwritable or missing directory: exit 2, nothing touched, nothing trained."""
    y = write(os.path.join(work, "s.yaml"), sweep_text())
    out = os.path.join(work, "o.h5")
    p = ds([y, "-o", out, "--quiet"], synth=0)
    check(p.returncode == 0, p.stderr)
    h = md5(out), md5(out + ".journal")
    y2 = write(os.path.join(work, "s2.yaml"), sweep_text(train="{steps: 100, batch: 4, context: 64, lr: 2.0e-3, warmup: 10, log_every: 10}"))
    p = ds([y2, "-o", out], synth=0)
    check(p.returncode == 2, f"changed sweep: exit {p.returncode}")
    check("train.lr" in p.stderr and "different sweep" in p.stderr, "message: " + p.stderr)
    check((md5(out), md5(out + ".journal")) == h, "refused file was modified")

    foreign = os.path.join(work, "foreign.h5")
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(10)
        f.attrs["format"] = "something-else"
    hf = md5(foreign)
    p = ds([y, "-o", foreign], synth=0)
    check(p.returncode == 2 and "not a distsweep result file" in p.stderr, f"foreign: {p.returncode} {p.stderr}")
    check(md5(foreign) == hf, "foreign file modified")
    check(not os.path.exists(foreign + ".journal") and not os.path.exists(foreign + ".ckpt"),
          "files created beside a foreign file")

    corrupt = os.path.join(work, "corrupt.h5")
    data = bytearray(open(out, "rb").read())
    data[600:4000] = os.urandom(3400)  # superblock intact, object headers destroyed
    open(corrupt, "wb").write(bytes(data))
    hc = md5(corrupt)
    p = ds([y, "-o", corrupt], synth=0)
    check(p.returncode == 2, f"corrupt: exit {p.returncode}: {p.stderr}")
    check(md5(corrupt) == hc, "corrupt file modified")

    text = os.path.join(work, "notes.h5")
    write(text, "not hdf5\n")
    p = ds([y, "-o", text], synth=0)
    check(p.returncode == 2 and "not an HDF5 file" in p.stderr, f"text: {p.returncode} {p.stderr}")
    check(open(text).read() == "not hdf5\n", "text file modified")

    for bad in ("/proc/sys/distsweep-test.h5", os.path.join(text, "x.h5")):
        t = time.time()
        p = ds([y, "-o", bad], np_=2, synth=5)
        check(p.returncode == 2 and "directory" in p.stderr, f"{bad}: {p.returncode} {p.stderr[-500:]}")
        check(time.time() - t < 4, "did not fail before training")

    # a missing output directory is created
    p = ds([y, "-o", os.path.join(work, "new", "dir", "n.h5"), "--quiet"], synth=0)
    check(p.returncode == 0 and os.path.exists(os.path.join(work, "new", "dir", "n.h5")),
          f"missing directory: {p.returncode} {p.stderr}")

    # --fresh moves everything aside, deletes nothing
    p = ds([y2, "-o", out, "--fresh", "--quiet"], synth=0)
    check(p.returncode == 0, f"--fresh: {p.stderr}")
    olds = [f for f in os.listdir(work) if f.startswith("o.old-")]
    check(any(f.endswith(".h5") for f in olds) and any(f.endswith(".journal") for f in olds),
          f"moved-aside files: {olds}")
    moved = [os.path.join(work, f) for f in olds if f.endswith(".h5")][0]
    check(md5(moved) == h[0], "moved-aside file differs from the old one")


def sc_failures(work):
    """A failing job is retried up to max_attempts then stored as failed (exit 1);
    --retry-failed runs it again."""
    y = write(os.path.join(work, "s.yaml"), sweep_text())
    out = os.path.join(work, "f.h5")
    p = ds([y, "-o", out, "--quiet"], np_=2, synth=0.05, extra_env={"DISTSWEEP_SYNTH_FAIL_SEED": "5"})
    check(p.returncode == 1 and "--retry-failed" in p.stderr, f"exit {p.returncode}: {p.stderr[-800:]}")
    # the closing line tells the truth: never "complete" while runs failed
    check("sweep complete" not in p.stderr and "3 failed, 0 pending" in p.stderr,
          f"closing line: {p.stderr[-800:]}")
    d = load(out)
    st = d["runs/status"]
    check((st[:, 5] == 2).all(), f"seed 5 not failed: {st[:, 5]}")
    check((d["runs/attempts"][:, 5] == 2).all(), "attempts of failed runs != max_attempts")
    check(((st > 0) & (st != 2)).sum() == st.size - st.shape[0], "other runs not finished")
    q = run([A.bin, "status", out])
    check(q.returncode == 0 and "failed" in q.stdout, q.stdout)
    p = ds([y, "-o", out, "--quiet"], synth=0)
    check(p.returncode == 1, "a resume without --retry-failed must not rerun failed runs")
    p = ds([y, "-o", out, "--quiet", "--retry-failed"], np_=2, synth=0.05)
    check(p.returncode == 0, f"--retry-failed: {p.stderr}")
    check(re.search(r"sweep complete: \d+ done, \d+ diverged, 0 failed, 0 pending", p.stderr),
          f"closing line: {p.stderr[-800:]}")
    ref = reference(work, y)
    d = load(out)
    same(ref, d, [k for k in COMPARE if k != "runs/attempts"])


def sc_status_live(work):
    """`distsweep status` and h5py (SWMR) read a file another process is writing."""
    y = write(os.path.join(work, "s.yaml"), sweep_text())
    out = os.path.join(work, "l.h5")
    p = subprocess.Popen([A.mpiexec, "-np", "2", "--oversubscribe", A.bin, y, "-o", out, "--quiet",
                          "--synthetic-job-seconds", "0.5", "--pack", "1"], env=ENV,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    second = None
    deadline = time.time() + 60
    while p.poll() is None and time.time() < deadline:
        time.sleep(0.7)
        if not os.path.exists(out):
            continue
        q = run([A.bin, "status", out])
        if q.returncode != 0:
            check(p.poll() is not None, f"status failed on a live file: {q.stderr}")
            continue
        m = re.search(r"^total\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", q.stdout, re.M)
        check(m is not None, "no total line: " + q.stdout)
        if m:
            seen.append(int(m.group(1)) + int(m.group(2)))
        if second is None and p.poll() is None:
            # a second writer is refused (the writer's lock), the live file untouched
            second = ds([y, "-o", out, "--quiet"], synth=0)
            check(second.returncode == 1 and "another distsweep is writing" in second.stderr,
                  f"second writer: {second.returncode} {second.stderr}")
        with h5py.File(out, "r", libver="latest", swmr=True) as f:
            st = f["runs/status"][()]
            em = f["metrics/em"][()]
            check(np.isfinite(em[st == 1]).all(), "a done run without metrics")
    err = p.communicate()[1]
    check(p.returncode == 0, f"sweep: {err}")
    live = [s for s in seen if 0 < s < 36]
    check(len(live) >= 2 and live == sorted(live), f"status never saw the sweep in progress: {seen}")
    q = run([A.bin, "status", out])
    check(q.returncode == 0 and "complete" in q.stdout and "runs/hour" in q.stdout, q.stdout)
    print(q.stdout)


def sc_progress(work):
    """The progress line gives an ETA from training progress before any run has finished."""
    text = sweep_text().replace("width: [64, 128, 192]", "width: [64]").replace("count: 12", "count: 4")
    y = write(os.path.join(work, "s.yaml"), text)
    out = os.path.join(work, "p.h5")
    # two packs of 2 seeds, one per rank, 14 s each; stderr is not a terminal,
    # so a plain line is printed at the start and then every 10 s
    p = ds([y, "-o", out, "--pack", "2"], np_=2, synth=14, timeout=120)
    check(p.returncode == 0, f"sweep: {p.stderr}")
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("[distsweep] 0/4 runs")]
    etas = [re.search(r"ETA (\d+):(\d+):(\d+)", ln) for ln in lines]
    secs = [int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3]) for m in etas if m]
    print("progress lines before the first result:", lines)
    # at t ~ 10 s of 14: about 4 s left (the first report of each pack only sets
    # its baseline, so the rate is measured over slightly less than the elapsed time)
    check(len(secs) >= 1 and all(1 <= t <= 10 for t in secs),
          f"no plausible ETA before the first run finished: {lines}")


# ---- adaptive seeds (seeds.adaptive, src/adaptive.h) -----------------------

TRUTH = "0,0.1,0.5,0.9,1"  # DISTSWEEP_SYNTH_P of the adaptive scenarios


def adaptive_text(**subst):
    return sweep_text("adaptive.yaml", **subst)


def requested(d):
    """Seeds each scale requested: the runs that are not unrequested (4)."""
    return [int((row != 4).sum()) for row in d["runs/status"]]


def adaptive_report(out):
    import json
    p = run([A.bin, "report", out, "--length", "15", "--format", "json"])
    check(p.returncode == 0, f"report: {p.stderr}")
    return json.loads(p.stdout)["adaptive"]


def adaptive_run(y, out, env, np_=3, synth=0.02):
    p = ds([y, "-o", out, "--quiet"], np_=np_, synth=synth, extra_env=env)
    check(p.returncode == 0, f"{out}: exit {p.returncode}: {p.stderr[-1500:]}")
    return load(out)


def check_allocation(d, rep, ci_width, mx, label):
    """Every scale stopped narrow enough or at max; the axis is the largest
    scale; requested seeds finished, the rest unrequested; report agrees."""
    st = d["runs/status"]
    req = requested(d)
    check(st.shape[1] == max(req), f"{label}: axis {st.shape[1]}, largest scale {max(req)}")
    for sc, n in enumerate(req):
        check(np.isin(st[sc, :n], [1, 3]).all() and (st[sc, n:] == 4).all(),
              f"{label}: scale {sc}: requested seeds not all finished, or a gap: {st[sc]}")
        r = rep["scales"][sc]
        check(r["requested"] == n and r["state"] in ("narrow", "max"), f"{label}: scale {sc}: {r}")
        check((r["width"] is not None and r["width"] <= ci_width + 1e-12) or n == mx,
              f"{label}: scale {sc}: width {r['width']} > {ci_width} below max ({n} seeds)")
        check(r["state"] != "max" or n == mx, f"{label}: scale {sc}: {r}")
    return req


def sc_adaptive(work):
    """An adaptive sweep on 3 ranks: every scale ends with its CI at most
    ci_width wide or at max, scales near p = 0.5 get more seeds than those
    near 0 or 1; status and plan show it; lowering ci_width or raising max
    continues the finished file (same sweep hash) to exactly what a fresh
    sweep with the new values gives; a bad adaptive block and dropping the
    block are refused with the file untouched."""
    env = {"DISTSWEEP_SYNTH_P": TRUTH, "DISTSWEEP_SYNTH_DIVERGE": "0"}
    y = write(os.path.join(work, "a.yaml"), adaptive_text())
    out = os.path.join(work, "a.h5")
    d = adaptive_run(y, out, env)
    req = check_allocation(d, adaptive_report(out), 0.3, 48, "first")
    print("seeds per scale (p = " + TRUTH + "):", req, flush=True)
    check(req[2] > max(req[0], req[4]) and req[2] >= max(req[1], req[3]),
          f"p = 0.5 should get the most seeds: {req}")
    check(req[0] == 8 and req[4] == 8, f"p = 0 and p = 1 stop after the first round: {req}")
    em = d["metrics/em"][:, :, 1]
    check((em[0, :req[0]] < 0.5).all() and (em[4, :req[4]] >= 0.5).all(), "synthetic truth p = 0, 1")
    # status: the per-scale seed counts
    p = run([A.bin, "status", out])
    lines = p.stdout.splitlines()
    head = next(i for i, l in enumerate(lines) if l.split()[:1] == ["scale"])
    rows = {l.split()[0]: l.split() for l in lines[head + 1:head + 6]}
    names = list(rows)
    check(p.returncode == 0 and "unrequested" in p.stdout and
          [int(rows[n][6]) for n in names] == req, f"status:\n{p.stdout}")
    # plan: least and most runs
    p = run([A.bin, "plan", y])
    check(re.search(r"adaptive: at least 40 runs, .* at most 240 runs", p.stdout) is not None,
          f"plan:\n{p.stdout}")
    # tools/: per-scale seed counts in the loader, the DataFrame, compare, the plots
    sys.path.insert(0, os.path.join(A.src, "tools"))
    import distsweep_h5 as dh
    res = dh.load(out)
    check([res.requested(s) for s in range(5)] == req, "distsweep_h5 requested")
    check([len(res.counted("em", s, 1)) for s in range(5)] == req, "distsweep_h5 counted")
    df = dh.to_dataframe(res)
    check(int((df.status == "unrequested").sum()) == (5 * max(req) - sum(req)) * 2, "DataFrame statuses")
    p = run([sys.executable, os.path.join(A.src, "tools", "distsweep_h5.py"), out])
    check(p.returncode == 0 and " seeds " in p.stdout, f"distsweep_h5 summary:\n{p.stdout}{p.stderr}")
    p = run([sys.executable, os.path.join(A.src, "tools", "compare_results.py"), out, out,
             "--length", "15", "--format", "json"])
    import json
    rows = json.loads(p.stdout) if p.returncode == 0 else []
    rows = rows["scales"] if isinstance(rows, dict) else rows
    check([r["n_a"] for r in rows] == req, f"compare_results n per scale: {p.stdout[:300]}{p.stderr}")
    p = run([sys.executable, os.path.join(A.src, "tools", "plot_sweep.py"), out, "-o",
             os.path.join(work, "plots"), "--length", "15", "--formats", "png"])
    check(p.returncode == 0 and os.listdir(os.path.join(work, "plots")), f"plot_sweep: {p.stderr[-800:]}")
    with h5py.File(out, "r") as f:
        hash0 = f.attrs["sweep_hash"]
    # continue: a lower ci_width, then a higher max
    for step, subst in enumerate([{"ci_width": "0.2"}, {"ci_width": "0.2", "max": "64"}]):
        y2 = write(os.path.join(work, f"c{step}.yaml"), adaptive_text(**subst))
        before = requested(load(out))
        d2 = adaptive_run(y2, out, env, np_=2)
        with h5py.File(out, "r") as f:
            check(f.attrs["sweep_hash"] == hash0, f"{subst}: sweep hash changed")
        mx = int(subst.get("max", 48))
        req2 = check_allocation(d2, adaptive_report(out), 0.2, mx, f"continued {subst}")
        check(req2 != before and all(a >= b for a, b in zip(req2, before)),
              f"{subst}: {before} -> {req2}: no scale continued")
        fresh = adaptive_run(y2, os.path.join(work, f"f{step}.h5"), env, np_=2)
        check(requested(fresh) == req2, f"{subst}: fresh sweep {requested(fresh)}, continued {req2}")
        same(fresh, d2, [k for k in COMPARE if k != "runs/attempts"])
        print(f"continued {subst}: {before} -> {req2}", flush=True)
    # refused, the file untouched: a bad adaptive block, and no block at all
    m = md5(out)
    bad = write(os.path.join(work, "bad.yaml"), adaptive_text(ci_width="-1"))
    p = ds([bad, "-o", out, "--quiet"], synth=0.02, extra_env=env)
    line = next(i + 1 for i, l in enumerate(open(bad).read().splitlines()) if "ci_width" in l)
    check(p.returncode == 2 and f"bad.yaml:{line}:15: seeds.adaptive.ci_width must be greater than 0"
          in p.stderr, f"bad block: exit {p.returncode}: {p.stderr}")
    fixed = write(os.path.join(work, "fixed.yaml"),
                  re.sub(r"(?ms)^  adaptive:.*?(?=^scales:)", "", adaptive_text()))
    p = ds([fixed, "-o", out, "--quiet"], synth=0.02, extra_env=env)
    check(p.returncode == 2 and "seeds.count" in p.stderr, f"no block: exit {p.returncode}: {p.stderr}")
    check(md5(out) == m, "a refused sweep changed the file")


def sc_adaptive_chaos(work):
    """SIGKILL rank 0 of an adaptive sweep at random moments (seeded), resume:
    the same seeds per scale and bit-identical results as an uninterrupted
    sweep, no run stored twice, no checkpoint left."""
    rng = random.Random(int(os.environ.get("DISTSWEEP_CHAOS_SEED", "18")))
    env = {"DISTSWEEP_SYNTH_P": "0,0.25,0.5,0.75,1"}  # diverging seeds too (EM 0)
    y = write(os.path.join(work, "a.yaml"), adaptive_text())
    ref = adaptive_run(y, os.path.join(work, "ref.h5"), env, np_=2, synth=0.1)
    kills = 0
    for rnd in range(3):
        out = os.path.join(work, f"k{rnd}.h5")
        for attempt in range(10):
            n = rng.choice([2, 3])
            cmd = [A.mpiexec, "-np", str(n), "--oversubscribe", A.bin, y, "-o", out, "--quiet",
                   "--synthetic-job-seconds", "0.1"]
            p = subprocess.Popen(cmd, env=dict(ENV, **env), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
            if attempt < 2:  # two kills per round, then let it finish
                time.sleep(rng.uniform(0.5, 2.0))
                ranks = children(p.pid)
                if ranks and p.poll() is None:
                    os.kill(ranks[0], signal.SIGKILL)  # rank 0, the writer
                    kills += 1
                finish(p)
                sigkill(ranks)
                time.sleep(0.2)
                continue
            err = p.communicate(timeout=120)[1]
            if p.returncode == 0:
                break
            check(False, f"round {rnd}: resume exited {p.returncode}: {err[-1500:]}")
        d = load(out)
        check(requested(d) == requested(ref), f"round {rnd}: seeds {requested(d)}, "
              f"uninterrupted {requested(ref)}")
        same(ref, d)
        keys = [(r[0], r[1]) for r in journal(out + ".journal")]
        check(len(keys) == len(set(keys)), f"round {rnd}: a run was stored twice")
        check(len(keys) == int(np.isin(ref["runs/status"], [1, 2, 3]).sum()),
              f"round {rnd}: {len(keys)} journal records")
        check(os.listdir(out + ".ckpt") == [], f"round {rnd}: checkpoints left")
        print(f"round {rnd}: ok, seeds per scale {requested(d)}", flush=True)
    print("rank-0 kills:", kills)
    check(kills >= 3, f"only {kills} kills landed")
# ---- data-parallel groups (docs/design.md §8; tests/mpi/groups.yaml) --------
# With train.micro_batches M and k dividing M, a group of k is bit-identical
# to one rank (src/step.h). Otherwise (M = 1, the default) it changes the
# order in which each gradient element's rows are summed (docs/engine.md
# "Data-parallel groups"), a few float roundings per step; the bound these tests hold such
# a group to over the groups.yaml sweep: every discrete outcome identical,
# every float within GROUP_REL relative (GROUP_ABS absolute near 0).
GROUP_EXACT = ["runs/status", "runs/attempts", "runs/steps_done", "runs/id_em", "metrics/em",
               "metrics/token_acc"]
GROUP_CLOSE = ["runs/final_loss", "metrics/loss", "metrics/error", "metrics/minprob",
               "curves/train_loss"]
GROUP_REL, GROUP_ABS = 1e-5, 1e-7


def groups_yaml(work, name, rpj=1, fam1="", fam2="", mb=1):
    text = open(os.path.join(A.src, "tests", "mpi", "groups.yaml")).read()
    text = text.replace("RPJ", str(rpj)).replace("FAM1", fam1).replace("FAM2", fam2)
    text = text.replace("MB", str(mb))
    return write(os.path.join(work, name), text)


def close(ref, d, what, scales=None):
    """GROUP_EXACT equal and GROUP_CLOSE within the bound (on the scales given)."""
    worst = 0.0
    for k in GROUP_EXACT + GROUP_CLOSE:
        x, y = ref[k], d[k]
        if scales is not None:
            x, y = x[scales], y[scales]
        if k in GROUP_EXACT:
            check(np.array_equal(x, y), f"{what}: {k} differs")
            continue
        fin = np.isfinite(x)
        check(np.array_equal(fin, np.isfinite(y)), f"{what}: {k}: NaNs differ")
        diff = np.abs(x[fin].astype(np.float64) - y[fin])
        lim = np.maximum(GROUP_REL * np.abs(x[fin]), GROUP_ABS)
        check((diff <= lim).all(), f"{what}: {k}: off by up to {diff.max():.3g} (bound {GROUP_REL} rel)")
        rel = diff / np.maximum(np.abs(x[fin]), GROUP_ABS)
        worst = max(worst, float(rel.max()) if rel.size else 0.0)
    return worst


def once(out, d, what):
    """Every run finished once: done, one attempt, one journal record each."""
    check((d["runs/status"] == 1).all(), f"{what}: not every run done")
    check((d["runs/attempts"] == 1).all(), f"{what}: a run was charged an attempt")
    recs = journal(out + ".journal")
    keys = [(r[0], r[1]) for r in recs]
    check(len(keys) == d["runs/status"].size and len(set(keys)) == len(keys),
          f"{what}: {len(keys)} journal records for {d['runs/status'].size} runs")


def sc_groups_same(work):
    """groups: with train.micro_batches 4, k = 2 and 4 give k = 1's results bit for bit."""
    ref = None
    for k, np_ in ((1, 1), (2, 3), (4, 5)):
        y = groups_yaml(work, f"g{k}.yaml", rpj=k, mb=4)
        out = os.path.join(work, f"g{k}.h5")
        t = time.time()
        p = ds([y, "-o", out, "--quiet"], np_=np_, timeout=600)
        check(p.returncode == 0, f"k={k}: rc {p.returncode}: {p.stderr[-2000:]}")
        if p.returncode:
            return
        d = load(out)
        once(out, d, f"k={k}")
        if k > 1:  # a group's leader reports: never rank 0, which trains alone
            check((d["runs/rank"] > 0).all(), f"k={k}: a grouped run reported by rank 0")
        if ref is None:
            ref = d
        else:
            ok = same(ref, d)
            print(f"k={k}: {time.time() - t:.1f} s, {'bit-identical' if ok else 'DIFFERENT'}", flush=True)
    # a group that cannot be formed is refused before anything is written
    y = groups_yaml(work, "g4.yaml", rpj=4)
    out = os.path.join(work, "small.h5")
    p = ds([y, "-o", out, "--quiet"], np_=3)
    check(p.returncode == 2 and "mpirun -np 5" in p.stderr and not os.path.exists(out),
          f"k=4 on 3 ranks: rc {p.returncode}: {p.stderr[-500:]}")


def sc_groups_mixed(work):
    """groups: one family grouped, one not, on 4 ranks, micro_batches 1 (a group's sum in
    another order): every run once; the ungrouped scale bit for bit as k = 1, the grouped
    one within the bound."""
    y1 = groups_yaml(work, "one.yaml")
    ref_out = os.path.join(work, "one.h5")
    p = ds([y1, "-o", ref_out, "--quiet"], np_=1, timeout=600)
    check(p.returncode == 0, f"reference: {p.stderr[-2000:]}")
    y = groups_yaml(work, "mixed.yaml", fam1=", ranks_per_job: 2")
    q = run([A.bin, "plan", y])
    check(q.returncode == 0 and "groups: scale(s) #0 trained data-parallel by groups of 2" in q.stdout,
          f"plan does not show the group: {q.stdout[-800:]}")
    out = os.path.join(work, "mixed.h5")
    p = ds([y, "-o", out, "--quiet"], np_=4, timeout=600)
    check(p.returncode == 0, f"mixed: rc {p.returncode}: {p.stderr[-2000:]}")
    if p.returncode:
        return
    ref, d = load(ref_out), load(out)
    once(out, d, "mixed")
    same({k: v[1:] for k, v in ref.items() if k in COMPARE}, {k: v[1:] for k, v in d.items() if k in COMPARE},
         [k for k in COMPARE])  # the ungrouped scale: bit for bit
    print("grouped scale: largest relative difference", close(ref, d, "mixed", scales=slice(0, 1)))
    check((d["runs/rank"][0] > 0).all(), "a grouped run reported by rank 0")


def rank_pids(mpirun_pid):
    """{MPI rank: pid} of mpirun's children (Open MPI's OMPI_COMM_WORLD_RANK)."""
    out = {}
    for pid in children(mpirun_pid):
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        for e in env:
            if e.startswith(b"OMPI_COMM_WORLD_RANK="):
                out[int(e.split(b"=")[1])] = pid
    return out


def sc_groups_kill(work):
    """groups: SIGKILL a group member mid-pack; the resume completes, nothing lost or rerun,
    results bit for bit those of an uninterrupted sweep (one rank, micro_batches 4)."""
    y = groups_yaml(work, "k.yaml", rpj=2, mb=4)
    ref_out = os.path.join(work, "ref.h5")
    p = ds([groups_yaml(work, "ref.yaml", mb=4), "-o", ref_out, "--quiet"], np_=1, timeout=600)
    check(p.returncode == 0, f"reference: {p.stderr[-2000:]}")
    if p.returncode:
        return
    ref = load(ref_out)
    out = os.path.join(work, "k.h5")
    ck = out + ".ckpt"
    p = subprocess.Popen([A.mpiexec, "-np", "3", "--oversubscribe", A.bin, y, "-o", out, "--quiet"],
                         env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # wait for the second pack's checkpoint: one pack stored, one part-trained
    victim, deadline, group_line, stem = None, time.time() + 300, "", ""
    while time.time() < deadline and p.poll() is None:
        done = os.path.exists(out + ".journal") and len(journal(out + ".journal")) >= 2
        groups = [f for f in os.listdir(ck)] if os.path.isdir(ck) else []
        stems = [f[:-6] for f in groups if f.endswith(".group") and f[:-6] + ".ckpt" in groups]
        if done and stems:
            q = run([A.bin, "status", out])
            m = re.search(r"ranks (\d+) (\d+) \(leader (\d+)\) train .*pack (\S+)", q.stdout)
            if m and m.group(4) in stems:
                group_line, stem = m.group(0), m.group(4)
                victim = rank_pids(p.pid).get(int(m.group(2)))
                break
        time.sleep(0.05)
    check(victim is not None, f"no group with a checkpoint seen in status ({group_line!r})")
    if victim is None:
        p.kill()
        return
    print("status:", group_line, "; killing the member, pid", victim, flush=True)
    os.kill(victim, signal.SIGKILL)
    try:
        err = p.communicate(timeout=60)[1]
    except subprocess.TimeoutExpired:
        check(False, "mpirun did not end after a group member was killed")
        p.kill()
        err = p.communicate()[1]
    check(p.returncode != 0, f"the killed sweep exited {p.returncode}: {err[-400:]}")
    sigkill(rank_pids(p.pid).values())
    time.sleep(0.2)
    before = load(out)
    n_done = int((before["runs/status"] > 0).sum())
    check(0 < n_done < before["runs/status"].size, f"{n_done} runs stored at the kill")
    if stem + ".ckpt" not in os.listdir(ck):  # the pack finished between status and the kill
        print("note: the group's pack finished before the kill; resuming the rest", flush=True)
    p = ds([y, "-o", out, "--quiet"], np_=3, timeout=600)
    check(p.returncode == 0, f"resume: {p.stderr[-2000:]}")
    d = load(out)
    same(ref, d)
    once(out, d, "resumed")
    done = before["runs/status"] > 0
    check(np.array_equal(before["runs/wall_s"][done], d["runs/wall_s"][done]), "a stored run was rerun")
    check(os.listdir(ck) == [], f"files left in the checkpoint directory: {os.listdir(ck)}")


SCENARIOS = {k[3:]: v for k, v in globals().items() if k.startswith("sc_")}


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--bin", required=True)
    ap.add_argument("--mpiexec", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--keep", action="store_true")
    A = ap.parse_args()
    work = tempfile.mkdtemp(prefix=f"ds-{A.scenario}-")
    t = time.time()
    try:
        SCENARIOS[A.scenario](work)
    finally:
        if not A.keep and not failures():
            shutil.rmtree(work, True)
    print(f"{A.scenario}: {failures()} failure(s) in {time.time() - t:.1f} s" + (f" (kept {work})" if failures() else ""))
    sys.exit(1 if failures() else 0)


if __name__ == "__main__":
    main()
