#!/usr/bin/env python3
"""Damaged pack checkpoints and manifests (issue 24; ctest faults.ckpt_damage).

A real sweep (tests/faults/faults.yaml cut to `run.max_attempts: 1`, 300
steps so that a pack runs long enough to be caught with a checkpoint) is
SIGKILLed (kill -9 of the distsweep process, 1 rank) once a run is stored and
a pack's checkpoint exists. Then, each in its own copy of that output
directory, the checkpoint or the manifest of the pack in flight is mutated
(byte flips in the payload, in a seed and in the header, truncations, a
zeroed 4 KiB block, appended bytes, a training position outside the schedule
with the checksum made right again, ...) and the sweep resumed with the same
command. Each resume must:
  - exit 0, every run done with attempts 1 (nothing charged to the runs:
    with max_attempts 1 a charge would mark them failed);
  - store results equal bit for bit to an undamaged, uninterrupted sweep's
    (every dataset with a seed axis but runs/wall_s and runs/rank, as
    tools/same_results.py compares);
  - keep the damaged file aside as <name>.damaged-<UTC time>[-k] holding the
    mutated bytes, and say so in exactly one line (docs/engine.md,
    "Checkpoint format"; docs/result-file.md, "Damaged files").
A control resume of the undamaged copy must do the same with no such line.

With --mpiexec, the same for a pack a data-parallel group trains
(tests/mpi/groups.yaml, ranks_per_job 2 on 3 ranks, micro_batches 4): mpirun
SIGKILLed (and every rank) while the group's checkpoint exists, a byte of its
payload flipped, the sweep resumed on 3 ranks: every member reads the damaged
file, the group starts over, the leader sets it aside and says so once; the
results equal a 1-rank sweep's bit for bit.

usage: ckpt_damage.py --bin distsweep --src SOURCE_DIR [--mpiexec mpirun] [--keep]
"""
import argparse
import glob
import os
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
from procutil import JOURNAL_HEADER, SWEEP_ENV, check, failures, reap  # noqa: E402

ENV = dict(SWEEP_ENV)
ENV.pop("DISTSWEEP_HDF5_DIAG", None)
A = None
COMPARE = None  # set in main(): the schema's seed-axis datasets but wall_s and rank
STAMP = r"\.damaged-\d{8}T\d{6}Z(-\d+)?$"

# checkpoint layout (src/checkpoint.c, docs/engine.md): magic 8, version and
# sweep tag uint32 x 2, then int64 x 12: d, L, V, H, R, P, batch, context,
# steps, step, n_curve, curve_cap; wall time float64; seeds int64 x R; ...;
# FNV-1a 64 of every byte after the magic, last
OFF_STEP = 16 + 8 * 9
OFF_NCURVE = 16 + 8 * 10
OFF_SEEDS = 16 + 8 * 12 + 8


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return h


def reseal(data):
    """data with its checksum made right again (a damage only the content checks see)."""
    body = bytes(data[8:-8])
    return bytes(data[:-8]) + struct.pack("<Q", fnv1a64(body))


def flip(data, off, mask=0x47):
    b = bytearray(data)
    b[off] ^= mask
    return bytes(b)


def zero4k(data, off):
    b = bytearray(data)
    end = min(len(b), off + 4096)
    b[off:end] = bytes(end - off)
    return bytes(b)


def put_i64(data, off, v):
    b = bytearray(data)
    b[off:off + 8] = struct.pack("<q", v)
    return bytes(b)


# (name, what the line says, mutation of the checkpoint's bytes)
CKPT_CASES = [
    ("flip-params", "checksum mismatch", lambda d: flip(d, len(d) - 1000)),
    ("flip-params-mid", "checksum mismatch", lambda d: flip(d, len(d) // 2, 0x01)),
    ("flip-checksum", "checksum mismatch", lambda d: flip(d, len(d) - 3)),
    ("flip-magic", "bad magic", lambda d: flip(d, 2)),
    ("flip-version", "unknown format version", lambda d: flip(d, 8)),
    ("flip-sweep-tag", "made with other hyperparameters", lambda d: flip(d, 13)),
    ("flip-d-model", "made for a different pack", lambda d: flip(d, 16)),
    ("flip-seed", "made for a different pack", lambda d: flip(d, OFF_SEEDS)),
    ("truncated-half", "truncated", lambda d: d[:len(d) // 2]),
    ("truncated-header", "truncated", lambda d: d[:40]),
    ("truncated-last-byte", "truncated", lambda d: d[:-1]),
    ("empty", "bad magic", lambda d: b""),
    ("zero-4k-head", "bad magic", lambda d: zero4k(d, 0)),
    ("zero-4k-payload", "checksum mismatch", lambda d: zero4k(d, 8192)),
    ("appended", "checksum mismatch", lambda d: d + bytes(range(256)) * 4),
    ("position-beyond", "bad training position", lambda d: put_i64(d, OFF_STEP, 10**6)),
    ("position-negative-resealed", "bad training position",
     lambda d: reseal(put_i64(d, OFF_STEP, -3))),
    ("curve-beyond-resealed", "bad training position",
     lambda d: reseal(put_i64(d, OFF_NCURVE, 10**6))),
]


def manifest_flip_seed(t):
    """A seed of the manifest changed to another seed of the sweep."""
    lines = t.split(b"\n")
    last = int(lines[3])  # the pack's second seed
    lines[3] = str((last + 1) % 4).encode()
    return b"\n".join(lines)


MANIFEST_CASES = [
    ("flip-seed", "its runs do not match its name", manifest_flip_seed),
    ("flip-header", "garbled", lambda t: flip(t, 3)),
    ("truncated", "garbled", lambda t: t[:len(t) - 3]),
    ("empty", "garbled", lambda t: b""),
    ("zero-4k", "garbled", lambda t: zero4k(t, 0) + bytes(4096 - len(t))),
    ("appended", "garbled", lambda t: t + b"\x00garbage"),
]


def ds(args, timeout=300, ranks=1):
    cmd = [A.bin] + args
    if ranks > 1:
        cmd = [A.mpiexec, "-np", str(ranks), "--oversubscribe"] + cmd
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)


def load(path):
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        return {k: f[k][()] for k in COMPARE}


def same(ref, got, what):
    ok = True
    for k in COMPARE:
        x, y = ref[k], got[k]
        eq = x.shape == y.shape and np.array_equal(
            x.view(np.uint8) if x.dtype.kind == "f" else x,
            y.view(np.uint8) if y.dtype.kind == "f" else y)
        ok &= check(eq, f"{what}: {k} differs from the uninterrupted sweep")
    return ok


def ckpt_step(path):
    """The training position of the checkpoint at path, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(OFF_STEP + 8)
        return struct.unpack("<q", head[OFF_STEP:])[0] if len(head) == OFF_STEP + 8 else None
    except OSError:
        return None


def journal_size(out):
    try:
        return os.path.getsize(out + ".journal")
    except OSError:
        return 0


def catch(cmd, out, early, tries=3):
    """Runs cmd (a sweep on out) and SIGKILLs it once a run is stored and a
    pack has a checkpoint at step <= early: a pack still training then (its
    last periodic checkpoint comes later), and still unfinished at the kill
    if the journal did not grow meanwhile. Returns that checkpoint's path
    when caught (the previous pack's may still be there: its files go once
    its runs are in the result file); else tries again from scratch (a
    loaded machine can miss the window), None after `tries`."""
    for _ in range(tries):
        shutil.rmtree(os.path.dirname(out), True)
        os.makedirs(os.path.dirname(out))
        p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t0, caught = time.time(), False
        while p.poll() is None and time.time() - t0 < 300:
            j = journal_size(out)
            live = [c for c in glob.glob(out + ".ckpt/*.ckpt") if 0 < (ckpt_step(c) or 0) <= early]
            if j > JOURNAL_HEADER and live:
                os.kill(p.pid, signal.SIGKILL)
                caught = journal_size(out) == j and live[0]
                break
            time.sleep(0.002)
        p.wait()
        reap(out)
        if caught:
            return caught
        print(f"not caught with a checkpoint (exit {p.returncode}); again", flush=True)
    return None


def killed_sweep(work, yaml):
    """Runs the sweep into work/killed/ and SIGKILLs it (see catch); returns
    the output path: its one checkpoint is of a pack in flight."""
    out = os.path.join(work, "killed", "s.h5")
    ck = catch([A.bin, yaml, "-o", out, "--quiet"], out, 200)
    assert ck, "the sweep was never caught"
    assert os.path.exists(ck[:-5] + ".pack"), ck
    return out, os.path.basename(ck)


def resume_case(work, killed, yaml, ref, what, member, mutate, says, ranks=1):
    """Copies the killed output (killed: its path and the basename of the
    checkpoint of its pack in flight), mutates that pack's member ('ckpt' or
    'pack'; mutate None: the control), resumes and checks."""
    killed_out, ck_name = killed
    d = os.path.join(work, what.replace(" ", "_").replace("/", "_"))
    shutil.copytree(os.path.dirname(killed_out), d)
    out = os.path.join(d, os.path.basename(killed_out))
    ckpt = os.path.join(out + ".ckpt", ck_name)
    target = ckpt[:-5] + ".pack" if member == "pack" else ckpt
    damaged = None
    if mutate:
        with open(target, "rb") as f:
            damaged = mutate(f.read())
        with open(target, "wb") as f:
            f.write(damaged)
    t = time.time()
    p = ds([yaml, "-o", out, "--quiet"], ranks=ranks)
    dt = time.time() - t
    err = p.stderr
    ok = check(p.returncode == 0, f"{what}: exit {p.returncode}: {err[-1500:]}")
    ok &= check(not re.search(r"HDF5-DIAG|Segmentation|failed on rank|core dumped", err),
                f"{what}: a failure or a diagnostic: {err[-1500:]}")
    lines = [ln for ln in err.splitlines() if "is damaged" in ln]
    aside = sorted(x for x in os.listdir(out + ".ckpt") if re.search(STAMP, x))
    if mutate is None:
        ok &= check(not lines and not aside, f"{what}: damage said or set aside: {lines} {aside}")
    else:
        kind = "checkpoint" if member == "ckpt" else "pack manifest"
        ok &= check(len(lines) == 1, f"{what}: {len(lines)} line(s) about damage: {err[-1500:]}")
        if lines:
            ln = lines[0]
            want = f"distsweep: {kind} {target} is damaged ({says}"
            ok &= check(ln.startswith(want), f"{what}: the line is\n  {ln}\nwant it to start\n  {want}")
            ok &= check(re.search(r": moved to \S+" + STAMP[:-1] + r";", ln) is not None,
                        f"{what}: the line does not name the aside file: {ln}")
        base = os.path.basename(target)
        mine = [x for x in aside if x.startswith(base + ".damaged-")]
        ok &= check(len(mine) == 1 and len(aside) == 1, f"{what}: set aside: {aside}")
        if mine:
            with open(os.path.join(out + ".ckpt", mine[0]), "rb") as f:
                ok &= check(f.read() == damaged, f"{what}: the aside file is not the damaged one")
    if p.returncode == 0:
        got = load(out)
        ok &= check((got["runs/status"] == 1).all(), f"{what}: statuses {got['runs/status']}")
        ok &= check((got["runs/attempts"] == 1).all(), f"{what}: attempts {got['runs/attempts']}")
        ok &= same(ref, got, what)
        left = [x for x in os.listdir(out + ".ckpt") if not re.search(STAMP, x)]
        ok &= check(not left, f"{what}: left in the checkpoint directory: {left}")
    print(f"{'ok ' if ok else 'BAD'} {what:45s} {dt:5.1f} s  {lines[0] if lines else ''}",
          flush=True)
    return ok


def groups_case(work):
    """A group's damaged checkpoint (see the module's doc)."""
    text = open(os.path.join(A.src, "tests", "mpi", "groups.yaml")).read()
    text = text.replace("FAM1", "").replace("FAM2", "").replace("MB", "4")
    assert "max_attempts: 2" in text
    text = text.replace("max_attempts: 2", "max_attempts: 1")
    paths = {}
    for rpj in (1, 2):
        paths[rpj] = os.path.join(work, f"groups-{rpj}.yaml")
        with open(paths[rpj], "w") as f:
            f.write(text.replace("RPJ", str(rpj)))
    ref_out = os.path.join(work, "gref", "g.h5")
    os.makedirs(os.path.dirname(ref_out))
    p = ds([paths[1], "-o", ref_out, "--quiet"], timeout=600)
    assert p.returncode == 0, p.stderr
    ref = load(ref_out)
    out = os.path.join(work, "gkilled", "g.h5")
    ck = out + ".ckpt"
    cmd = [A.mpiexec, "-np", "3", "--oversubscribe", A.bin, paths[2], "-o", out, "--quiet"]
    # 80 steps, a checkpoint every 10: the last periodic one is at 70
    live = catch(cmd, out, 40)
    if not check(live, "groups: the sweep was never caught with a checkpoint"):
        return
    # a pack in flight, trained by a group (ranks_per_job 2: every pack is)
    resume_case(work, (out, os.path.basename(live)), paths[2], ref, "groups: checkpoint flip-params", "ckpt",
                lambda b: flip(b, len(b) - 1000), "checksum mismatch", ranks=3)


def main():
    global A, COMPARE
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--mpiexec", help="also the data-parallel group case, with this mpirun")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    A = ap.parse_args()
    sys.path.insert(0, os.path.join(A.src, "tools"))
    import distsweep_h5
    # the synthetic sweeps' datasets: not wall time and rank, not an evaluation-set file's metrics
    COMPARE = [k for k in distsweep_h5.SEED_DATASETS if k not in ("runs/wall_s", "runs/rank")
               and not (k.split("/")[0] in ("metrics", "trajectories")
                        and k.split("/")[1] in distsweep_h5.SET_METRICS)]
    work = tempfile.mkdtemp(prefix="ds-ckpt-damage-")
    t0 = time.time()
    try:
        text = open(os.path.join(A.src, "tests", "faults", "faults.yaml")).read()
        for old, new in (("steps: 60", "steps: 300"), ("max_attempts: 2", "max_attempts: 1")):
            assert old in text, old
            text = text.replace(old, new)
        yaml = os.path.join(work, "sweep.yaml")
        with open(yaml, "w") as f:
            f.write(text)
        ref_out = os.path.join(work, "ref", "s.h5")
        os.makedirs(os.path.dirname(ref_out))
        p = ds([yaml, "-o", ref_out, "--quiet"])
        assert p.returncode == 0, p.stderr
        ref = load(ref_out)
        assert (ref["runs/status"] == 1).all() and (ref["runs/attempts"] == 1).all()
        killed = killed_sweep(work, yaml)
        n = 0
        resume_case(work, killed, yaml, ref, "control (undamaged)", "ckpt", None, None)
        for name, says, mut in CKPT_CASES:
            resume_case(work, killed, yaml, ref, f"checkpoint {name}", "ckpt", mut, says)
            n += 1
        for name, says, mut in MANIFEST_CASES:
            resume_case(work, killed, yaml, ref, f"manifest {name}", "pack", mut, says)
            n += 1
        if A.mpiexec:
            groups_case(work)
            n += 1
        print(f"{n} damaged copies and a control resumed in {time.time() - t0:.1f} s; "
              f"{failures()} failed check(s)")
    finally:
        if A.keep:
            print("kept", work)
        else:
            shutil.rmtree(work, True)
    sys.exit(1 if failures() else 0)


if __name__ == "__main__":
    main()
