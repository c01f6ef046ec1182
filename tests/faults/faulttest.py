#!/usr/bin/env python3
"""Storage faults with real file systems (tests/faults/tests.cmake registers one
ctest per scenario): a full tmpfs at many sizes, an ext4 file system that turns
read-only mid-sweep, a journal that cannot be appended to, and a result file
whose done run lost its metrics. Each scenario checks the promise of
docs/result-file.md: distsweep stops with exit 4 and one clear message, no
signal, no run marked failed, and after the storage is fixed the same command
completes the sweep with every stored dataset bit-identical to an
uninterrupted sweep on a roomy disk (runs/attempts included: a storage failure
is never charged to a run).

usage: faulttest.py SCENARIO --bin distsweep --mpiexec mpirun --src SOURCE_DIR [--keep]

Needs root (mount). Where mounting is not permitted the scenario prints
"skipped: ..." and exits 77 (ctest SKIP_RETURN_CODE).
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from procutil import JOURNAL_HEADER, SWEEP_ENV, check, failures  # noqa: E402

ENV = dict(SWEEP_ENV)
ENV.pop("DISTSWEEP_HDF5_DIAG", None)
# every dataset with a seed axis but wall_s and rank (which differ by nature),
# from the schema's Python copy (tools/distsweep_h5.py, checked against
# src/schema.h by store.schema); set in main()
COMPARE = None
SKIP = 77

A = None


class Skip(Exception):
    pass


def sh(cmd, check_rc=True):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if check_rc and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: rc {p.returncode}: {p.stderr.strip()}")
    return p


def ds_cmd(args, ranks):
    cmd = [A.bin] + args
    if ranks > 1:
        cmd = [A.mpiexec, "-np", str(ranks), "--oversubscribe"] + cmd
    return cmd


def ds(args, ranks=1, timeout=300):
    return subprocess.run(ds_cmd(args, ranks), env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def sweep(work, name="faults.yaml", **subst):
    """The test sweep, with `key: old` -> `key: new` substitutions."""
    text = open(os.path.join(A.src, "tests", "faults", name)).read()
    for old, new in subst.items():
        assert old in text, old
        text = text.replace(old, new)
    path = os.path.join(work, "sweep-%08x.yaml" % (hash(text) & 0xffffffff))
    with open(path, "w") as f:
        f.write(text)
    return path


def load(path):
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        return {k: f[k][()] for k in COMPARE}


def same(ref, path, what):
    got = load(path)
    ok = True
    for k in COMPARE:
        x, y = ref[k], got[k]
        eq = x.shape == y.shape and np.array_equal(
            x.view(np.uint8) if x.dtype.kind == "f" else x,
            y.view(np.uint8) if y.dtype.kind == "f" else y)
        ok &= check(eq, f"{what}: {k} differs from the uninterrupted sweep")
    return ok


_refs = {}


def reference(work, yaml):
    if yaml not in _refs:
        out = os.path.join(work, "ref-%d.h5" % len(_refs))
        p = ds([yaml, "-o", out, "--quiet"])
        assert p.returncode == 0, p.stderr
        _refs[yaml] = load(out)
        assert (_refs[yaml]["runs/status"] == 1).all() or (_refs[yaml]["runs/status"] > 0).all()
    return _refs[yaml]


def no_run_failed(path, what):
    if not os.path.exists(path):
        return
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        st = f["runs/status"][()]
    check(not (st == 2).any(), f"{what}: {int((st == 2).sum())} run(s) marked failed")


def storage_stop(p, what, cause):
    """exit 4, one clear message naming the cause and the way out, no signal,
    no library diagnostics."""
    err = p.stderr
    ok = check(p.returncode == 4, f"{what}: exit {p.returncode}, want 4: {err[-1500:]}")
    ok &= check(cause in err, f"{what}: the message does not say '{cause}': {err[-1500:]}")
    ok &= check("run the same command again" in err, f"{what}: no way out in: {err[-800:]}")
    # (Open MPI reports a rank killed by a signal as "Signal: ..." or "exited on signal")
    ok &= check(not re.search(r"HDF5-DIAG|Segmentation|Signal: |exited on signal|core dumped", err),
                f"{what}: diagnostics or a signal: {err[-1500:]}")
    # ours; mpirun adds its own box about the non-zero exit
    ours = [ln for ln in err.splitlines() if ln.startswith("distsweep")]
    ok &= check(len(ours) <= 4, f"{what}: {len(ours)} lines of messages: {ours}")
    return ok


def mount_tmpfs(d, size):
    os.makedirs(d, exist_ok=True)
    p = sh(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", d], check_rc=False)
    if p.returncode != 0:
        raise Skip(f"cannot mount a tmpfs ({p.stderr.strip() or 'not root?'})")


def umount(d):
    sh(["umount", d], check_rc=False)


# ---------------------------------------------------------------------------

# (checkpoint_every, tmpfs size): without checkpoints the result file is
# what fills the disk (the file reaches ~60 KiB), with them a checkpoint
# (~350 KiB per pack) fills it before any run finishes
CASES = [(0, sz) for sz in ("8k", "24k", "32k", "40k", "44k", "48k", "56k", "64k", "80k")] + \
        [(20, sz) for sz in ("64k", "256k", "768k", "4m")]


def kind_of(p):
    if p.returncode == 0:
        return "none (completed)"
    err = p.stderr
    if "cannot create the result file" in err:
        return "result file cannot be created"
    stopped = [ln for ln in err.splitlines() if ln.startswith("distsweep: stopped:")]
    if stopped and "checkpoint" in stopped[0]:
        return "checkpoint write fails"
    if stopped and "journal" in stopped[0]:
        return "journal write fails"
    return "result write fails"


def sc_disk_full(work):
    """A full tmpfs as the output directory, at the sizes of CASES, with and
    without checkpoints, on 1 and 2 ranks."""
    yamls = {0: sweep(work, **{"checkpoint_every: 20": "checkpoint_every: 0"}), 20: sweep(work)}
    refs = {k: reference(work, y) for k, y in yamls.items()}
    mnt = os.path.join(work, "mnt")
    table = []
    for ranks in (1, 2):
        kinds = set()
        for ck, size in CASES:
            what = f"{size}, checkpoint_every {ck}, {ranks} rank(s)"
            mount_tmpfs(mnt, size)
            try:
                out = os.path.join(mnt, "s.h5")
                p = ds([yamls[ck], "-o", out, "--quiet"], ranks)
                kind = kind_of(p)
                kinds.add(kind)
                if p.returncode != 0:
                    storage_stop(p, what, "no space left on device")
                    no_run_failed(out, what)
                stored = 0
                if os.path.exists(out):
                    with h5py.File(out, "r", libver="latest", swmr=True) as f:
                        stored = int((f["runs/status"][()] > 0).sum())
                sh(["mount", "-o", "remount,size=64m", mnt])
                q = ds([yamls[ck], "-o", out, "--quiet"], ranks)
                check(q.returncode == 0, f"{what}: resume: exit {q.returncode}: {q.stderr[-1500:]}")
                if q.returncode == 0:
                    same(refs[ck], out, what)
                table.append((size, ck, ranks, kind, stored))
            finally:
                umount(mnt)
        for k in ("result file cannot be created", "result write fails", "checkpoint write fails"):
            check(k in kinds, f"{ranks} rank(s): no size gave the fault '{k}' (got {sorted(kinds)})")
    print("size  checkpoint_every  ranks  fault                          runs stored at the stop")
    for size, ck, ranks, kind, stored in table:
        print(f"{size:5s} {ck:16d}  {ranks:5d}  {kind:30s} {stored}")


def sc_readonly(work):
    """The output directory's ext4 file system turns read-only mid-sweep
    (errors=remount-ro and the kernel's trigger_fs_error), on 1 and 2 ranks."""
    yaml = sweep(work, **{"steps: 60": "steps: 240"})
    ref = reference(work, yaml)
    for tool in ("mkfs.ext4", "e2fsck", "findmnt"):
        if not shutil.which(tool):
            raise Skip(f"{tool} is not installed (e2fsprogs, util-linux)")
    img, mnt = os.path.join(work, "ext4.img"), os.path.join(work, "e4")
    os.makedirs(mnt, exist_ok=True)
    with open(img, "wb") as f:
        f.truncate(32 << 20)
    sh(["mkfs.ext4", "-q", "-F", img])

    def mount(opts):
        p = sh(["mount", "-o", "loop," + opts, img, mnt], check_rc=False)
        if p.returncode != 0:
            raise Skip(f"cannot mount an ext4 image on a loop device ({p.stderr.strip()})")

    for ranks in (1, 2):
        what = f"read-only, {ranks} rank(s)"
        out = os.path.join(mnt, f"s{ranks}.h5")
        mount("errors=remount-ro")
        try:
            dev = os.path.basename(sh(["findmnt", "-n", "-o", "SOURCE", mnt]).stdout.strip())
            trigger = f"/sys/fs/ext4/{dev}/trigger_fs_error"
            if not os.path.exists(trigger):
                raise Skip(f"{trigger} does not exist (kernel without ext4 sysfs error trigger)")
            proc = subprocess.Popen(ds_cmd([yaml, "-o", out, "--quiet"], ranks), env=ENV,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                    start_new_session=True)
            # once the first runs are stored: freeze every process, put what
            # the kernel holds on the disk (ext4 drops unwritten pages when it
            # turns read-only), turn the file system read-only, continue
            t0 = time.time()
            while proc.poll() is None and time.time() - t0 < 120:
                j = out + ".journal"
                if os.path.exists(j) and os.path.getsize(j) > JOURNAL_HEADER:
                    break
                time.sleep(0.02)
            running = proc.poll() is None
            check(running, f"{what}: the sweep ended before the file system turned read-only")
            if running:
                os.killpg(proc.pid, signal.SIGSTOP)
                os.sync()
                with open(trigger, "w") as f:
                    f.write("1")
                os.killpg(proc.pid, signal.SIGCONT)
            _, err = proc.communicate(timeout=300)
            p = subprocess.CompletedProcess(proc.args, proc.returncode, "", err)
            if running:
                # the first write after the switch fails with EROFS, an fsync
                # of the aborted ext4 journal with EIO: either is the cause
                cause = "input/output error" if "input/output error" in p.stderr \
                    else "read-only file system"
                storage_stop(p, what, cause)
                no_run_failed(out, what)
        finally:
            umount(mnt)
        # the repair an administrator does, then the same command again
        sh(["e2fsck", "-fy", img], check_rc=False)
        mount("errors=remount-ro")
        try:
            no_run_failed(out, what + " (after fsck)")
            q = ds([yaml, "-o", out, "--quiet"], ranks)
            check(q.returncode == 0, f"{what}: resume: exit {q.returncode}: {q.stderr[-1500:]}")
            if q.returncode == 0:
                same(ref, out, what)
        finally:
            umount(mnt)


def sc_journal(work):
    """The journal cannot be appended to (its file lives on a full tmpfs,
    through a symlink), on 1 and 2 ranks; and a journal that cannot even be
    created."""
    # 120 loss points: records of ~600 bytes, a 4 KiB tmpfs takes 6 of 8
    yaml = sweep(work, **{"steps: 60": "steps: 120"})
    ref = reference(work, yaml)
    jdir = os.path.join(work, "jfs")
    for ranks, size in ((1, "4k"), (2, "4k"), (1, "0")):
        what = f"journal on a {size} tmpfs, {ranks} rank(s)"
        d = os.path.join(work, f"j{ranks}-{size}")
        os.makedirs(d)
        out = os.path.join(d, "s.h5")
        mount_tmpfs(jdir, "4k")
        try:
            if size == "0":  # a page-sized filler leaves no room for the header
                with open(os.path.join(jdir, "filler"), "wb") as f:
                    f.write(b"x" * 100)
            os.symlink(os.path.join(jdir, "journal"), out + ".journal")
            p = ds([yaml, "-o", out, "--quiet"], ranks)
            if storage_stop(p, what, "no space left on device"):
                check("journal" in p.stderr, f"{what}: the message does not name the journal")
            no_run_failed(out, what)
            # free space: the journal moves to the roomy directory
            os.unlink(out + ".journal")
            if os.path.exists(os.path.join(jdir, "journal")):
                shutil.copy(os.path.join(jdir, "journal"), out + ".journal")
        finally:
            umount(jdir)
        q = ds([yaml, "-o", out, "--quiet"], ranks)
        check(q.returncode == 0, f"{what}: resume: exit {q.returncode}: {q.stderr[-1500:]}")
        if q.returncode == 0:
            same(ref, out, what)


def sc_repair(work):
    """A done run whose metrics were erased by hand is restored from the
    journal on resume; without its journal record it runs again."""
    yaml = sweep(work)
    ref = reference(work, yaml)
    out = os.path.join(work, "s.h5")
    p = ds([yaml, "-o", out, "--quiet"])
    check(p.returncode == 0, p.stderr)

    def erase(scale, seed):
        with h5py.File(out, "r+") as f:
            check(f["runs/status"][scale, seed] == 1, "the run to erase is not done")
            for m in ("em", "token_acc", "minprob", "error", "loss"):
                f["metrics/" + m][scale, seed, :] = np.nan

    erase(0, 1)
    q = ds([yaml, "-o", out, "--quiet"])
    check(q.returncode == 0, f"repair: exit {q.returncode}: {q.stderr}")
    check("restored 1 run(s) from the journal" in q.stderr and "without their data" in q.stderr,
          f"repair: no message about the restored run: {q.stderr}")
    same(ref, out, "repaired from the journal")

    erase(1, 2)
    os.unlink(out + ".journal")
    q = ds([yaml, "-o", out, "--quiet"])
    check(q.returncode == 0, f"rerun: exit {q.returncode}: {q.stderr}")
    check("1 run(s) were marked finished" in q.stderr and "run again" in q.stderr,
          f"rerun: no message about the run trained again: {q.stderr}")
    check("1 run(s) stored now" in q.stderr, f"rerun: not exactly one run trained: {q.stderr}")
    same(ref, out, "trained again")


def sc_rebuild(work):
    """A result file damaged on disk (a torn superblock, as a power loss mid-write can
    leave it; a file cut short; a dataset's object header zeroed) or deleted is made again
    from its journal: every finished
    run restored bit for bit, none trained again, the damaged file kept aside. A damaged
    file whose journal belongs to another sweep is refused and left untouched."""
    yaml = sweep(work)
    ref = reference(work, yaml)

    def zero_head(path):  # the superblock and the first metadata blocks
        with open(path, "r+b") as f:
            f.write(b"\0" * 4096)

    def cut_half(path):
        os.truncate(path, os.path.getsize(path) // 2)

    def zero_dataset_header(path):  # the file opens, one dataset does not
        with h5py.File(path, "r") as f:
            addr = h5py.h5o.get_info(f["metrics/em"].id).addr
        with open(path, "r+b") as f:
            f.seek(addr)
            f.write(b"\0" * 64)

    for what, damage in (("torn superblock", zero_head), ("cut in half", cut_half),
                         ("dataset header zeroed", zero_dataset_header), ("deleted", os.unlink)):
        d = os.path.join(work, what.replace(" ", "-"))
        os.makedirs(d)
        out = os.path.join(d, "s.h5")
        p = ds([yaml, "-o", out, "--quiet"], 2)
        check(p.returncode == 0, f"{what}: first run: {p.stderr[-800:]}")
        wall = load_wall(out)
        damage(out)
        q = ds([yaml, "-o", out, "--quiet"], 2)
        check(q.returncode == 0, f"{what}: rebuild: exit {q.returncode}: {q.stderr[-1500:]}")
        check("again from its journal" in q.stderr and f"restored {ref['runs/status'].size} run(s)" in q.stderr,
              f"{what}: no rebuild message: {q.stderr[-800:]}")
        check("0 run(s) stored now" in q.stderr, f"{what}: a run was trained again: {q.stderr[-800:]}")
        kept = [f for f in os.listdir(d) if f.startswith("s.h5.damaged-")]
        check(len(kept) == (0 if damage is os.unlink else 1), f"{what}: damaged file kept as {kept}")
        if q.returncode == 0:
            same(ref, out, what)
            check(np.array_equal(load_wall(out), wall), f"{what}: wall times differ: a run ran again")

    # the journal of another sweep (another lr, so another hash) cannot rebuild it
    d = os.path.join(work, "other-sweep")
    os.makedirs(d)
    out = os.path.join(d, "s.h5")
    p = ds([yaml, "-o", out, "--quiet"])
    check(p.returncode == 0, p.stderr[-800:])
    zero_head(out)
    before = sorted(os.listdir(d)), open(out, "rb").read()
    other = sweep(work, **{"lr: 3.0e-3": "lr: 2.0e-3"})
    q = ds([other, "-o", out, "--quiet"])
    check(q.returncode == 2 and "cannot be rebuilt" in q.stderr and "not an HDF5 file" in q.stderr,
          f"another sweep's damaged file: exit {q.returncode}: {q.stderr[-800:]}")
    check((sorted(os.listdir(d)), open(out, "rb").read()) == before,
          "a refused damaged file or its directory was changed")


def load_wall(path):
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        return f["runs/wall_s"][()]


SCENARIOS = {k[3:]: v for k, v in globals().items() if k.startswith("sc_")}


def main():
    global A, COMPARE
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--bin", required=True)
    ap.add_argument("--mpiexec", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--keep", action="store_true")
    A = ap.parse_args()
    sys.path.insert(0, os.path.join(A.src, "tools"))
    import distsweep_h5
    # the synthetic sweeps' datasets: not wall time and rank, not an evaluation-set file's metrics
    COMPARE = [k for k in distsweep_h5.SEED_DATASETS if k not in ("runs/wall_s", "runs/rank")
               and not (k.split("/")[0] in ("metrics", "trajectories")
                        and k.split("/")[1] in distsweep_h5.SET_METRICS)]
    work = tempfile.mkdtemp(prefix=f"ds-faults-{A.scenario}-")
    t = time.time()
    try:
        SCENARIOS[A.scenario](work)
    except Skip as e:
        print(f"{A.scenario}: skipped: {e}")
        shutil.rmtree(work, True)
        sys.exit(SKIP)
    finally:
        if not A.keep and not failures():
            shutil.rmtree(work, True)
    print(f"{A.scenario}: {failures()} failure(s) in {time.time() - t:.1f} s" +
          (f" (kept {work})" if failures() else ""))
    sys.exit(1 if failures() else 0)


if __name__ == "__main__":
    main()
