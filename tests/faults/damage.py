#!/usr/bin/env python3
"""Damaged result files (issue 24; ctest faults.damage): a real small sweep's
output (tests/faults/faults.yaml, 1 rank, `run.save_models: true`), then a
seeded, reproducible set of mutants of its result file -- byte flips anywhere,
byte flips in the metadata (every byte HDF5 does not use for raw data),
truncations, a zeroed 4 KiB block, appended bytes -- each planted in a copy of
the output directory, and every read-only command run on each: `status`,
`report` (table and json), `eval` and `export` of a stored model.

Checked for every command on every mutant:
  - no crash: the exit code is 0, 1 or 2 (never a signal, 134 or 139) and no
    sanitizer report on stderr (ASan/UBSan builds: docs/result-file.md
    "Damaged files");
  - no hang: it ends within --bound seconds (default 20; the machines that run
    this are small and shared, a healthy command takes well under 1 s);
  - a failure says why in a `distsweep` message on stderr (every line of
    stderr is one: no HDF5 diagnostics), and an unreadable result file is
    exit 2;
  - what exits 0 is consistent: status prints its total line, report's JSON
    parses with one entry per scale, eval's JSON parses, export writes a
    config.json that parses and a model.safetensors.
It prints one summary line: mutants per kind, exit codes per command, the
slowest command.

Scenarios are functions over (base, mutant directory) so that later cases can
be added the same way. Then (unless --no-resume) `distsweep run` resumes each
mutant: it must exit 0 and leave a file h5py reads completely (in a child,
within --bound) whose runs equal the undamaged sweep's (attempts included);
the journal of the sweep is beside every mutant, so every damage is one the
resume can rebuild, and no resume may refuse. Last, the stored-model mutants
(a byte flip in a model's data or header, a truncation, a zeroed 4 KiB
block; one model each): the resume must say so in one line, keep the damaged
copy aside (<model>.damaged-<ts>), train the run again to the undamaged
sweep's model and runs.

usage: damage.py --bin distsweep --src SOURCE_DIR [--seed N] [--bound S]
                 [--no-resume] [--keep] [--jobs N]
"""
import argparse
import collections
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from procutil import SWEEP_ENV, check, failures  # noqa: E402

OUT = "faults.h5"
# A crash is a signal (negative under subprocess), or a shell's 128+signal.
CRASH_CODES = {134, 136, 139}
ENV = dict(SWEEP_ENV)
ENV.pop("DISTSWEEP_HDF5_DIAG", None)
# Sanitizer builds: a report aborts (a crash to this test), never exit 1.
ENV["ASAN_OPTIONS"] = "abort_on_error=1:detect_leaks=0"
ENV["UBSAN_OPTIONS"] = "halt_on_error=1:abort_on_error=1:print_stacktrace=1"
SANITIZER_MARKS = ("AddressSanitizer", "runtime error:", "LeakSanitizer", "UndefinedBehaviorSanitizer")

A = None


def sweep_text():
    """faults.yaml with every model saved (eval and export need one)."""
    text = open(os.path.join(A.src, "tests", "faults", "faults.yaml")).read()
    return text.replace("backend: cpu}", "backend: cpu, save_models: true}")


def make_base(work):
    """Runs the undamaged sweep once: the directory every mutant copies."""
    base = os.path.join(work, "base")
    os.makedirs(base)
    with open(os.path.join(base, "faults.yaml"), "w") as f:
        f.write(sweep_text())
    p = subprocess.run([A.bin, "run", "faults.yaml", "-o", OUT, "--quiet"], cwd=base, env=ENV,
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(f"the undamaged sweep failed ({p.returncode}): {p.stderr}")
    return base


def raw_ranges(path):
    """[(offset, size)] of every dataset's raw data in the file (chunks,
    contiguous storage): every other byte is metadata (or free space)."""
    out = []

    def visit(name, obj):
        if not isinstance(obj, h5py.Dataset):
            return
        dsid = obj.id
        if obj.chunks:
            for i in range(dsid.get_num_chunks()):
                info = dsid.get_chunk_info(i)
                out.append((info.byte_offset, info.size))
        else:
            off = dsid.get_offset()
            if off is not None:
                out.append((off, dsid.get_storage_size()))

    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        f.visititems(visit)
    return sorted(out)


def metadata_offsets(path, size):
    """Every offset of the file outside raw data."""
    mask = np.ones(size, dtype=bool)
    for off, n in raw_ranges(path):
        mask[off:off + n] = False
    return np.flatnonzero(mask)


def make_mutants(base, seed):
    """The seeded mutants of base's result file: [(name, kind, bytes)]. The same
    set for the same file and seed."""
    data = open(os.path.join(base, OUT), "rb").read()
    size = len(data)
    meta = metadata_offsets(os.path.join(base, OUT), size)
    rng = random.Random(seed)
    out = []

    def flip(off):
        b = bytearray(data)
        x = rng.randrange(1, 256)
        b[off] ^= x
        return f"@{off}^{x:#04x}", bytes(b)

    for _ in range(8):
        desc, b = flip(rng.randrange(size))
        out.append(("flip" + desc, "flip", b))
    for _ in range(16):
        desc, b = flip(int(meta[rng.randrange(len(meta))]))
        out.append(("flip_meta" + desc, "flip_meta", b))
    for _ in range(4):
        n = rng.randrange(size)
        out.append((f"truncate@{n}", "truncate", data[:n]))
    for _ in range(5):
        off = rng.randrange(size // 4096 + 1) * 4096
        b = bytearray(data)
        b[off:off + 4096] = bytes(len(b[off:off + 4096]))
        out.append((f"zero4k@{off}", "zero4k", bytes(b)))
    for _ in range(3):
        n = rng.randrange(1, 8193)
        out.append((f"append+{n}", "append", data + rng.randbytes(n)))
    return out


def plant(base, work, i, name, blob):
    """A copy of base's directory with the mutant as its result file."""
    d = os.path.join(work, f"m{i:02d}")
    shutil.copytree(base, d, symlinks=True)
    with open(os.path.join(d, OUT), "wb") as f:
        f.write(blob)
    with open(os.path.join(d, "MUTANT"), "w") as f:
        f.write(name + "\n")
    return d


def run_cmd(args, cwd, bound):
    """Runs distsweep with args in cwd; (rc, seconds, stdout, stderr), rc None
    when it ran past bound seconds (then killed)."""
    t = time.monotonic()
    try:
        p = subprocess.run([A.bin] + args, cwd=cwd, env=ENV, capture_output=True, text=True,
                           timeout=bound)
        return p.returncode, time.monotonic() - t, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        return None, time.monotonic() - t, e.stdout or "", e.stderr or ""


# ---- what an exit 0 must have printed ---------------------------------------

def ok_status(d, out):
    return "total" in out and "scale" in out


def ok_report_table(d, out):
    return out.strip() != ""


def ok_json(d, out):
    try:
        json.loads(out)
        return True
    except ValueError:
        return False


def ok_export(d, out):
    x = os.path.join(d, "export")
    try:
        json.load(open(os.path.join(x, "config.json")))
    except (OSError, ValueError):
        return False
    return os.path.getsize(os.path.join(x, "model.safetensors")) > 0


# name -> (arguments, check of stdout when it exits 0)
READERS = {
    "status": ([["status", OUT]], ok_status),
    "report": ([["report", OUT]], ok_report_table),
    "report_json": ([["report", OUT, "--format", "json"]], ok_json),
    "eval": ([["eval", OUT, "--scale", "0", "--seed", "0", "--format", "json"]], ok_json),
    "export": ([["export", OUT, "--scale", "1", "--seed", "3", "-o", "export"]], ok_export),
}


def scenario_readers(base, d, name):
    """Every read-only command on the mutant in d: no crash, no hang, a
    message for every failure, consistent output for every success. Returns
    {command: (rc, seconds)}."""
    res = {}
    for cmd, (argsets, ok) in READERS.items():
        for args in argsets:
            rc, secs, out, err = run_cmd(args, d, A.bound)
            res[cmd] = (rc, secs)
            what = f"{name}: {cmd}"
            if not check(rc is not None, f"{what}: still running after {A.bound} s (killed)"):
                continue
            check(rc >= 0 and rc not in CRASH_CODES, f"{what}: crashed, exit {rc}: {err[-2000:]}")
            check(not any(m in err for m in SANITIZER_MARKS), f"{what}: sanitizer report: {err[-3000:]}")
            check(rc in (0, 1, 2), f"{what}: exit {rc}: {err[-500:]}")
            if rc == 0:
                check(ok(d, out), f"{what}: exit 0 but its output is not what it promises: {out[:500]}")
            else:
                check(err.startswith("distsweep"), f"{what}: exit {rc} without a message: {err[-500:]}")
            # distsweep's own messages only: no HDF5 diagnostics ("HDF5-DIAG",
            # "HDF5: infinite loop closing library")
            stray = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("distsweep")]
            check(not stray, f"{what}: stray lines on stderr: {stray[:3]}")
            # an unreadable result file: exit 2, naming the file
            if "cannot be read" in err or "cannot open the file" in err:
                check(rc == 2 and OUT in err, f"{what}: unreadable file but exit {rc}: {err[-500:]}")
    return res


def read_all(path):
    """Every dataset and root attribute of the file, read by h5py: {name: value}.
    Raises where anything does not read."""
    out = {}
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        for k in f.attrs:
            out["@" + k] = f.attrs[k]

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        f.visititems(visit)
    return out


def read_all_bounded(path, bound):
    """read_all in a child process (h5py retries a damaged metadata block
    without end), through an .npz beside the file: {name: value}; raises
    RuntimeError when it does not read within bound seconds or fails."""
    npz = path + ".all.npz"
    code = ("import sys, numpy as np; sys.path.insert(0, sys.argv[3]); import damage; "
            "a = damage.read_all(sys.argv[1]); "
            "np.savez(sys.argv[2], **{k.replace('/', '|'): np.asarray(v) for k, v in a.items()})")
    try:
        p = subprocess.run([sys.executable, "-c", code, path, npz, os.path.dirname(os.path.abspath(__file__))],
                           capture_output=True, text=True, timeout=bound)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"h5py still reading after {bound:.0f} s (damaged metadata: HDF5's retries)")
    if p.returncode != 0:
        raise RuntimeError(p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}")
    with np.load(npz, allow_pickle=True) as z:
        return {k.replace("|", "/"): z[k] for k in z.files}


def scenario_resume(base, d, name, ref):
    """`distsweep run` on the mutant exits 0 and leaves a file h5py reads
    completely whose runs equal the undamaged sweep's (wall_s and rank aside,
    which a rerun may change). Returns (ok, why)."""
    rc, secs, out, err = run_cmd(["run", "faults.yaml", "-o", OUT, "--quiet"], d, 300)
    if rc != 0:
        return False, f"run exit {rc}: {err.strip()[-300:]}"
    why = same_runs(d, ref)
    if why:
        return False, "exit 0, but " + why
    how = "rebuilt from the journal" if "again from its journal" in err else "resumed in place"
    return True, f"exit 0 in {secs:.1f} s, {how}"


def same_runs(d, ref):
    """None when d's result file reads completely (h5py, in a bounded child)
    and its runs equal ref's (the undamaged sweep's read_all; wall_s and rank
    aside, which a rerun may change; attempts included), else why not."""
    try:
        got = read_all_bounded(os.path.join(d, OUT), A.bound)
    except RuntimeError as e:
        return f"h5py cannot read the file: {e}"
    for k, v in ref.items():
        if k in ("runs/wall_s", "runs/rank") or k.startswith("@"):
            continue
        if k not in got:
            return f"{k} is missing"
        a, b = np.asarray(v), np.asarray(got[k])
        if a.shape != b.shape or not (a.tobytes() == b.tobytes()):
            return f"{k} differs from the undamaged sweep's"
    return None


# ---- damaged definitional values (issue 24: the resume's proof) -------------
#
# make_definition_mutants(base, seed) -> [(name, kind, bytes)], planted with
# plant() and resumed with scenario_resume() like the random set.

DEFINITIONAL = ("seeds", "eval_lengths", "scales/d_model", "scales/name", "families/")


def make_definition_mutants(base, seed):
    """One byte flip in the raw data of each definitional dataset (/seeds,
    /eval_lengths, /scales/d_model, /scales/name, the first /families
    member): values HDF5 reads back without complaint, which only a
    comparison with the sweep finds. [(name, "def_raw", bytes)]."""
    path = os.path.join(base, OUT)
    data = open(path, "rb").read()
    where = {}
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.id.get_offset() is not None:
                where[name] = (obj.id.get_offset(), obj.id.get_storage_size())
            elif isinstance(obj, h5py.Dataset) and obj.chunks and obj.id.get_num_chunks():
                info = obj.id.get_chunk_info(0)
                where[name] = (info.byte_offset, info.size)
        f.visititems(visit)
    rng = random.Random(seed)
    out = []
    for want in DEFINITIONAL:
        names = sorted(n for n in where if n == want or (want.endswith("/") and n.startswith(want)))
        if not names:
            raise RuntimeError(f"no raw data of /{want} in {path}")
        off, size = where[names[0]]
        at = off + rng.randrange(min(size, 8))  # the first element: a value the sweep defines
        x = rng.randrange(1, 256)
        b = bytearray(data)
        b[at] ^= x
        out.append((f"def_raw:/{names[0]}@{at}^{x:#04x}", "def_raw", bytes(b)))
    return out


def check_definition_mutants(base, work, ref):
    """Every definitional mutant resumed (scenario_resume: exit 0, h5py reads
    it all, runs equal the undamaged sweep's) and rebuilt from the journal.
    Returns the number that failed."""
    mutants = make_definition_mutants(base, A.seed)
    bad = 0
    for i, (n, k, blob) in enumerate(mutants):
        d = plant(base, work, 100 + i, n, blob)
        ok, why = scenario_resume(base, d, n, ref)
        ok = ok and "rebuilt" in why
        bad += not ok
        print(f"  resume {n}: {'ok' if ok else 'FAILED'}: {why}", flush=True)
    print(f"definition: {len(mutants)} raw-value flips of definitional datasets: "
          f"{len(mutants) - bad} rebuilt from the journal to the undamaged sweep's runs")
    check(not bad, "a damaged definitional value was not rebuilt (above)")
    return bad


# ---- damaged stored models (issue 24: the runs the resume must trust) ---------
#
# Self-contained so that other tests (a `verify` test) can call them:
# make_model_mutants(base, seed) -> [(name, kind, relpath, bytes)],
# plant_model(base, work, i, name, relpath, blob) -> directory,
# scenario_model_resume(base, d, name, relpath, blob, ref) -> (ok, why).

MODELS = OUT + ".models"


def model_data_offset(blob):
    """Where a safetensors file's data section begins: after its 8-byte
    little-endian header length and the header."""
    return 8 + int.from_bytes(blob[:8], "little")


def make_model_mutants(base, seed):
    """Seeded mutants of base's stored models, one model each: a byte flip in
    the data (only the checksum sees it), a byte flip in the header, a
    truncation, a zeroed 4 KiB block of the data. [(name, kind, relpath,
    bytes)]; relpath is the model's path relative to the output directory."""
    rng = random.Random(seed)
    names = sorted(f for f in os.listdir(os.path.join(base, MODELS)) if f.endswith(".safetensors"))
    out = []

    def pick():
        rel = os.path.join(MODELS, rng.choice(names))
        return rel, open(os.path.join(base, rel), "rb").read()

    rel, data = pick()
    off = rng.randrange(model_data_offset(data), len(data))
    x = rng.randrange(1, 256)
    b = bytearray(data)
    b[off] ^= x
    out.append((f"model_flip_data:{os.path.basename(rel)}@{off}^{x:#04x}", "model_flip_data", rel, bytes(b)))
    rel, data = pick()
    off = rng.randrange(8, model_data_offset(data))
    x = rng.randrange(1, 256)
    b = bytearray(data)
    b[off] ^= x
    out.append((f"model_flip_header:{os.path.basename(rel)}@{off}^{x:#04x}", "model_flip_header", rel, bytes(b)))
    rel, data = pick()
    n = rng.randrange(len(data))
    out.append((f"model_truncate:{os.path.basename(rel)}@{n}", "model_truncate", rel, data[:n]))
    rel, data = pick()
    off = rng.randrange(model_data_offset(data), len(data))
    b = bytearray(data)
    b[off:off + 4096] = bytes(len(b[off:off + 4096]))
    out.append((f"model_zero4k:{os.path.basename(rel)}@{off}", "model_zero4k", rel, bytes(b)))
    return out


def plant_model(base, work, i, name, rel, blob):
    """A copy of base's directory with blob as its stored model rel."""
    d = os.path.join(work, f"model{i:02d}")
    shutil.copytree(base, d, symlinks=True)
    with open(os.path.join(d, rel), "wb") as f:
        f.write(blob)
    with open(os.path.join(d, "MUTANT"), "w") as f:
        f.write(name + "\n")
    return d


def scenario_model_resume(base, d, name, rel, blob, ref):
    """`distsweep run` on a sweep with one damaged stored model: it exits 0,
    says so in one line naming the model, keeps the damaged copy aside
    (rel.damaged-<ts>, the mutant's bytes), trains the run again to a model
    identical to the undamaged sweep's, and leaves runs equal to the
    undamaged sweep's (attempts included). Returns (ok, why)."""
    rc, secs, out, err = run_cmd(["run", "faults.yaml", "-o", OUT, "--quiet"], d, 300)
    if rc != 0:
        return False, f"run exit {rc}: {err.strip()[-300:]}"
    said = [ln for ln in err.splitlines() if "damaged stored model" in ln]
    if len(said) != 1 or rel not in said[0]:
        return False, f"exit 0, but not one line naming {rel}: {err.strip()[-500:]}"
    dirname, fname = os.path.split(os.path.join(d, rel))
    aside = [f for f in os.listdir(dirname) if f.startswith(fname + ".damaged-")]
    if len(aside) != 1:
        return False, f"exit 0, but {len(aside)} damaged copies of {rel} kept aside: {aside}"
    if open(os.path.join(dirname, aside[0]), "rb").read() != blob:
        return False, f"exit 0, but the copy kept aside ({aside[0]}) is not the damaged file"
    if open(os.path.join(d, rel), "rb").read() != open(os.path.join(base, rel), "rb").read():
        return False, f"exit 0, but the retrained {rel} is not the undamaged sweep's"
    why = same_runs(d, ref)
    if why:
        return False, "exit 0, but " + why
    return True, f"exit 0 in {secs:.1f} s, retrained, damaged copy kept as {aside[0]}"


def check_model_mutants(base, work, ref):
    """Every model mutant resumed (scenario_model_resume); prints one line per
    mutant and a summary. Returns the number that failed."""
    mutants = make_model_mutants(base, A.seed)
    bad = collections.Counter()
    for i, (n, k, rel, blob) in enumerate(mutants):
        d = plant_model(base, work, i, n, rel, blob)
        ok, why = scenario_model_resume(base, d, n, rel, blob, ref)
        if not ok:
            bad[k] += 1
        print(f"  resume {n}: {'ok' if ok else 'FAILED'}: {why}", flush=True)
    kinds = collections.Counter(k for _, k, _, _ in mutants)
    print(f"models: {len(mutants)} mutants of stored models (" + ", ".join(f"{k} {v}" for k, v in kinds.items())
          + f"): {len(mutants) - sum(bad.values())} resumed to the undamaged sweep's runs and models; "
          f"failed by kind: {dict(bad) or 'none'}")
    check(not bad, "resume of a damaged stored model failed (above)")
    return sum(bad.values())


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--seed", type=int, default=24, help="mutant set (default 24)")
    ap.add_argument("--bound", type=float, default=20.0, help="seconds a reader may take")
    ap.add_argument("--jobs", type=int, default=2, help="mutants checked at once")
    ap.add_argument("--no-resume", dest="resume", action="store_false",
                    help="skip resuming every mutant (and the stored-model mutants)")
    ap.add_argument("--resume", dest="resume", action="store_true", default=True,
                    help="resume every mutant (the default)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    A = ap.parse_args()
    A.bin = os.path.abspath(A.bin)
    work = tempfile.mkdtemp(prefix="ds-damage-")
    try:
        base = make_base(work)
        ref = read_all(os.path.join(base, OUT))
        mutants = make_mutants(base, A.seed)
        dirs = [plant(base, work, i, n, b) for i, (n, k, b) in enumerate(mutants)]
        with concurrent.futures.ThreadPoolExecutor(A.jobs) as ex:
            results = list(ex.map(lambda a: scenario_readers(base, a[0], a[1][0]),
                                  zip(dirs, mutants)))
        kinds = collections.Counter(k for _, k, _ in mutants)
        codes = {c: collections.Counter() for c in READERS}
        slowest = (0.0, "")
        for (n, _, _), res in zip(mutants, results):
            for c, (rc, secs) in res.items():
                codes[c]["timeout" if rc is None else rc] += 1
                if secs > slowest[0]:
                    slowest = (secs, f"{c} on {n}")
        print(f"damage: {len(mutants)} mutants of {OUT} (seed {A.seed}: "
              + ", ".join(f"{k} {v}" for k, v in kinds.items()) + ")")
        for c, cnt in codes.items():
            print(f"  {c:12s} exit codes " + ", ".join(f"{k}: {v}" for k, v in sorted(cnt.items(), key=str)))
        print(f"  slowest: {slowest[0]:.2f} s ({slowest[1]}); bound {A.bound:.0f} s")

        if A.resume:
            bad = collections.Counter()
            rebuilt = collections.Counter()
            for (n, k, _), d in zip(mutants, dirs):
                ok, why = scenario_resume(base, d, n, ref)
                if not ok:
                    bad[k] += 1
                elif "rebuilt" in why:
                    rebuilt[k] += 1
                print(f"  resume {n}: {'ok' if ok else 'FAILED'}: {why}", flush=True)
            print(f"resume: {len(mutants) - sum(bad.values())} of {len(mutants)} mutants resumed to "
                  f"the undamaged sweep's runs ({sum(rebuilt.values())} rebuilt from the journal: "
                  + ", ".join(f"{k} {v}" for k, v in rebuilt.items())
                  + f"); failed by kind: {dict(bad) or 'none'}")
            check(not bad, "resume failed on some mutants (above)")
            check_definition_mutants(base, work, ref)
            check_model_mutants(base, work, ref)
    finally:
        if A.keep or failures():
            print("work directory kept:", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if failures():
        print(f"FAILED: {failures()} check(s)")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
