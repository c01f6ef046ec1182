#!/usr/bin/env python3
"""`distsweep verify` (issue 24; ctest faults.verify): a real small sweep
(tests/faults/faults.yaml, 1 rank, `run.save_models: true`) verifies whole
(exit 0, no finding); then a seeded set of damages, each planted in its own
copy of the output directory, and one copy with several at once:
  - result-file metadata flips and a zeroed 4 KiB block (seeded candidates,
    kept where h5py cannot read the file back: damage that is really there),
    a flipped byte in /metrics/em's raw data (only the journal tells);
  - a truncated journal tail;
  - a flipped byte in a stored model's data, an orphan model file;
  - a truncated checkpoint and a garbled manifest of a SIGKILLed sweep.
verify must find every one (exit 1, the artifact named in its JSON); `verify
--repair` must fix what it says it can (exit 0), after which verify exits 0,
a `distsweep run` completes and the runs equal an undamaged sweep's
(attempts included: every dataset but /runs/wall_s and /runs/rank), and the
damaged copies are kept aside. Also: verify is refused (exit 1) while another
process holds OUT.h5.lock, and exits 2 on a file that is no result file.

usage: verify.py --bin distsweep --src SOURCE_DIR [--seed N] [--keep]
"""
import argparse
import fcntl
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
from procutil import SWEEP_ENV, check, failures  # noqa: E402
import damage  # noqa: E402  (metadata_offsets, read_all_bounded)

OUT = "faults.h5"
ENV = dict(SWEEP_ENV)
ENV.pop("DISTSWEEP_HDF5_DIAG", None)
SKIP = {"runs/wall_s", "runs/rank"}
A = None


def sweep_text(steps=60):
    text = open(os.path.join(A.src, "tests", "faults", "faults.yaml")).read()
    text = text.replace("backend: cpu}", "backend: cpu, save_models: true}")
    return text.replace("steps: 60,", f"steps: {steps},")


def ds(args, cwd, timeout=120):
    return subprocess.run([A.bin] + args, cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def make_dir(work, name, steps=60):
    d = os.path.join(work, name)
    os.makedirs(d)
    with open(os.path.join(d, "s.yaml"), "w") as f:
        f.write(sweep_text(steps))
    return d


def contents(path):
    out = {}
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        f.visititems(lambda k, o: out.__setitem__(k, o[()])
                     if isinstance(o, h5py.Dataset) and k not in SKIP else None)
    return out


def same(ref, path, what):
    got = contents(path)
    ok = check(set(ref) == set(got), f"{what}: datasets {sorted(set(ref) ^ set(got))} differ")
    for k in set(ref) & set(got):
        x, y = np.asarray(ref[k]), np.asarray(got[k])
        eq = x.shape == y.shape and (x.tobytes() == y.tobytes())
        ok &= check(eq, f"{what}: {k} differs from the undamaged sweep")
    return ok


def verify(d, *extra):
    p = ds(["verify", OUT, "--format", "json"] + list(extra), d)
    try:
        j = json.loads(p.stdout)
    except ValueError:
        j = None
    check(j is not None or p.returncode == 2,
          f"{d}: verify {extra}: no JSON (exit {p.returncode}): {p.stdout[-500:]} {p.stderr[-800:]}")
    return p, j


def killed_sweep(work):
    """A sweep of 400 steps SIGKILLed once a checkpoint exists: its
    checkpoints and manifests stay."""
    d = make_dir(work, "killed", steps=400)
    p = subprocess.Popen([A.bin, "run", "s.yaml", "-o", OUT, "--quiet"], cwd=d, env=ENV,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while time.time() - t0 < 120 and p.poll() is None:
        if glob.glob(os.path.join(d, OUT + ".ckpt", "*.ckpt")):
            break
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    return d


def real_meta_damage(base, rng, n, zero=False):
    """Seeded flips (or zeroed 4 KiB blocks) of base's result file that h5py
    cannot read back: [(name, bytes)]."""
    path = os.path.join(base, OUT)
    data = open(path, "rb").read()
    meta = damage.metadata_offsets(path, len(data))
    found, tries = [], 0
    probe = os.path.join(A.work, "probe.h5")
    while len(found) < n and tries < 60:
        tries += 1
        b = bytearray(data)
        if zero:
            off = rng.randrange(len(data) // 4096 + 1) * 4096
            b[off:off + 4096] = bytes(len(b[off:off + 4096]))
            name = f"zero4k@{off}"
        else:
            off, x = int(meta[rng.randrange(len(meta))]), rng.randrange(1, 256)
            b[off] ^= x
            name = f"flip_meta@{off}^{x:#04x}"
        with open(probe, "wb") as f:
            f.write(b)
        try:
            damage.read_all_bounded(probe, 15)
        except RuntimeError:
            found.append((name, bytes(b)))
    check(len(found) == n, f"only {len(found)} of {n} real {'zeroed blocks' if zero else 'flips'} in {tries} tries")
    return found


def em_raw_flip(base):
    with h5py.File(os.path.join(base, OUT), "r", libver="latest", swmr=True) as f:
        info = f["metrics/em"].id.get_chunk_info(0)
    b = bytearray(open(os.path.join(base, OUT), "rb").read())
    b[info.byte_offset + 5] ^= 0x10
    return bytes(b)


def case(work, src, name, plant):
    """A copy of src with plant(d) applied; returns (d, artifacts planted)."""
    d = os.path.join(work, name)
    shutil.copytree(src, d, symlinks=True)
    return d, plant(d)


def run_case(d, arts, ref, what):
    """verify finds every planted artifact; --repair fixes; run completes equal."""
    p, j = verify(d)
    extra = []
    if j and any("--sweep" in f["repair"] for f in j["findings"]):
        extra = ["--sweep", "s.yaml"]  # the stored sweep is damaged: verify says to give it
        p, j = verify(d, *extra)
    if not check(p.returncode == 1 and j, f"{what}: verify exit {p.returncode}, want 1: {p.stdout[-800:]} {p.stderr[-800:]}"):
        return
    names = [f["artifact"] for f in j["findings"]]
    for a in arts:
        check(any(n == a or n.startswith(a + ":") for n in names),
              f"{what}: planted damage of {a} not found: {names}")
    unfixable = [f for f in j["findings"] if not f["repairable"] and "--sweep" not in f["repair"]]
    check(not unfixable, f"{what}: not repairable: {unfixable}")
    p, j = verify(d, "--repair", *extra)
    check(p.returncode == 0, f"{what}: --repair exit {p.returncode}: {p.stdout[-800:]} {p.stderr[-800:]}")
    p, j = verify(d)
    check(p.returncode == 0 and j and j["whole"],
          f"{what}: verify after --repair: exit {p.returncode}: {p.stdout[-1200:]}")
    q = ds(["run", "s.yaml", "-o", OUT, "--quiet"], d, timeout=300)
    if check(q.returncode == 0, f"{what}: run after --repair: exit {q.returncode}: {q.stderr[-1200:]}"):
        same(ref, os.path.join(d, OUT), what)
    p, j = verify(d)
    check(p.returncode == 0, f"{what}: verify after the run: exit {p.returncode}: {p.stdout[-800:]}")
    for a in arts:
        a = os.path.join(d, a)
        kept = glob.glob(glob.escape(a) + ".damaged-*") + glob.glob(glob.escape(a) + ".orphan-*")
        # rows rewritten in place from the journal and a cut journal tail leave no copy
        if not a.endswith(".journal") and what != "file-em-raw-flip":
            check(kept, f"{what}: no damaged copy of {a} kept aside")
    print(f"{what}: {len(arts)} planted, found, repaired, equal after the run", flush=True)


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--seed", type=int, default=24)
    ap.add_argument("--keep", action="store_true")
    A = ap.parse_args()
    A.bin = os.path.abspath(A.bin)
    A.work = tempfile.mkdtemp(prefix="ds-verify-")
    rng = random.Random(A.seed)
    try:
        base = make_dir(A.work, "base")
        p = ds(["run", "s.yaml", "-o", OUT, "--quiet"], base)
        assert p.returncode == 0, p.stderr
        ref = contents(os.path.join(base, OUT))
        p, j = verify(base)
        check(p.returncode == 0 and j and j["whole"] and not j["findings"],
              f"undamaged sweep: verify exit {p.returncode}: {p.stdout}")
        check(j and j["checked"]["models"] == 8, f"undamaged sweep: models checked: {j}")

        # exit 2: no result file at all
        junk = os.path.join(A.work, "junk")
        os.makedirs(junk)
        open(os.path.join(junk, OUT), "w").write("not a result file\n")
        check(ds(["verify", OUT], junk).returncode == 2, "verify on a text file: exit not 2")
        with h5py.File(os.path.join(junk, "other.h5"), "w") as f:
            f["x"] = np.arange(3)
        check(ds(["verify", "other.h5"], junk).returncode == 2, "verify on a foreign HDF5 file: exit not 2")
        check(ds(["verify", "missing.h5"], junk).returncode == 2, "verify on a missing file: exit not 2")

        # refused while another process holds the writer's lock
        with open(os.path.join(base, OUT + ".lock"), "a") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            for extra in ([], ["--repair"]):
                q = ds(["verify", OUT] + extra, base)
                check(q.returncode == 1 and "sweep is running" in q.stderr,
                      f"verify {extra} under a held lock: exit {q.returncode}: {q.stderr}")

        cases = []
        for i, (name, blob) in enumerate(real_meta_damage(base, rng, 2)
                                         + real_meta_damage(base, rng, 1, zero=True)):
            def plant(d, blob=blob):
                open(os.path.join(d, OUT), "wb").write(blob)
                return [OUT]
            cases.append((f"file-{name}", plant))
        flip_em = em_raw_flip(base)
        cases.append(("file-em-raw-flip", lambda d: (open(os.path.join(d, OUT), "wb").write(flip_em), [OUT])[1]))

        def trunc_journal(d):
            j = os.path.join(d, OUT + ".journal")
            os.truncate(j, os.path.getsize(j) - rng.randrange(10, 200))
            return [OUT + ".journal"]
        cases.append(("journal-tail", trunc_journal))
        model = os.path.join(OUT + ".models", "scale1-seed2.safetensors")
        moff = rng.randrange(1, 4000)

        def flip_model(d):
            b = bytearray(open(os.path.join(d, model), "rb").read())
            b[-moff] ^= 0x5a
            open(os.path.join(d, model), "wb").write(b)
            return [model]
        cases.append(("model-flip", flip_model))
        orphan = os.path.join(OUT + ".models", "scale0-seed77.safetensors")

        def plant_orphan(d):
            shutil.copy(os.path.join(d, OUT + ".models", "scale0-seed0.safetensors"), os.path.join(d, orphan))
            return [orphan]
        cases.append(("model-orphan", plant_orphan))
        meta_blob = cases[0][1]

        def several(d):
            return meta_blob(d) + trunc_journal(d) + flip_model(d) + plant_orphan(d)
        cases.append(("several", several))
        for name, plant in cases:
            d, arts = case(A.work, base, name, plant)
            run_case(d, arts, ref, name)

        # a SIGKILLed sweep's checkpoints and manifests
        killed = killed_sweep(A.work)
        ckpts = sorted(glob.glob(os.path.join(killed, OUT + ".ckpt", "*.ckpt")))
        packs = sorted(glob.glob(os.path.join(killed, OUT + ".ckpt", "*.pack")))
        if check(ckpts and packs, "the killed sweep left no checkpoint or manifest"):
            p, j = verify(killed)
            check(p.returncode == 0, f"killed sweep: verify exit {p.returncode}: {p.stdout[-800:]}")
            refk_dir = make_dir(A.work, "killed-ref", steps=400)
            q = ds(["run", "s.yaml", "-o", OUT, "--quiet"], refk_dir, timeout=300)
            assert q.returncode == 0, q.stderr
            refk = contents(os.path.join(refk_dir, OUT))
            ck = os.path.relpath(ckpts[0], killed)
            pk = os.path.relpath(packs[-1], killed)

            def trunc_ckpt(d):
                os.truncate(os.path.join(d, ck), os.path.getsize(os.path.join(d, ck)) // 2)
                return [ck]

            def garble_pack(d):
                open(os.path.join(d, pk), "w").write("distsweep-pack 1\n9999 x\n")
                return [pk]
            for name, plant in (("ckpt-truncated", trunc_ckpt), ("manifest-garbled", garble_pack)):
                d, arts = case(A.work, killed, name, plant)
                run_case(d, arts, refk, name)
    finally:
        if A.keep:
            print("kept", A.work)
        else:
            shutil.rmtree(A.work, ignore_errors=True)
    n = failures()
    print(f"faults.verify: {'PASS' if n == 0 else f'{n} failed check(s)'}")
    return 1 if n else 0


if __name__ == "__main__":
    sys.exit(main())
