#!/usr/bin/python3
"""Do two builds of distsweep give the same result files? For a change that
must not change behaviour (a refactor), run by hand: it runs the same sweeps
with OLD and NEW into two directories and compares every dataset and root
attribute of each pair of result files bit for bit, except what records when
and where a run happened (/runs/wall_s, /runs/rank, the attributes created,
distsweep_version, git_commit). Exit 0 when every pair is identical, 1 with
the differences listed.

The sweeps: sweeps/smoke.yaml (1 rank), tests/faults/faults.yaml on 1 and 2
ranks, tests/mpi/groups.yaml as data-parallel groups of 2 (3 ranks), and
tests/mpi/adaptive.yaml with synthetic jobs (3 ranks).

usage: tools/same_results.py OLD_DISTSWEEP NEW_DISTSWEEP [WORKDIR] [--cases a,b]
(ctest tools.same_results runs the faults cases with one build twice: the
same build must give the same files)
(as root: OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP_DATASETS = {"runs/wall_s", "runs/rank"}
SKIP_ATTRS = {"created", "distsweep_version", "git_commit"}


def sweep(name, src, **subst):
    """(name, yaml text): src with each KEY of subst replaced by its value."""
    with open(os.path.join(ROOT, src)) as f:
        text = f.read()
    for k, v in subst.items():
        text = text.replace(k, v)
    return name, text


CASES = [  # (sweep, ranks, extra arguments, extra environment)
    (sweep("smoke", "sweeps/smoke.yaml"), 1, [], {}),
    (sweep("faults1", "tests/faults/faults.yaml"), 1, [], {}),
    (sweep("faults2", "tests/faults/faults.yaml"), 2, [], {}),
    (sweep("groups", "tests/mpi/groups.yaml", RPJ="2", MB="2", FAM1="", FAM2=""), 3, [], {}),
    (sweep("adaptive", "tests/mpi/adaptive.yaml"), 3, ["--synthetic-job-seconds", "0.02"],
     {"DISTSWEEP_SYNTH_P": "0,0.2,0.5,0.8,1"}),
]


def run_case(binary, work, case):
    (name, text), ranks, extra, env = case
    os.makedirs(work, exist_ok=True)
    yaml = os.path.join(work, name + ".yaml")
    with open(yaml, "w") as f:
        f.write(text)
    out = os.path.join(work, name + ".h5")
    cmd = [binary, yaml, "-o", out, "--quiet"] + extra
    if ranks > 1:
        cmd = ["mpirun", "-np", str(ranks), "--oversubscribe"] + cmd
    p = subprocess.run(cmd, env=dict(os.environ, **env), capture_output=True, text=True,
                       timeout=900)
    if p.returncode != 0:
        sys.exit(f"{binary} {name}: exit {p.returncode}\n{p.stderr[-2000:]}")
    return out


def contents(path):
    """{dataset path: array} and {attribute: value} of a result file."""
    data = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda k, o: data.__setitem__(k, o[()]) if isinstance(o, h5py.Dataset)
                     else None)
        attrs = {k: v for k, v in f.attrs.items() if k not in SKIP_ATTRS}
    return data, attrs


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":  # bitwise: NaN equals NaN, -0 differs from 0
        return a.tobytes() == b.tobytes()
    return bool(np.array_equal(a, b))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    args = sys.argv[1:]
    wanted = None
    if "--cases" in args:
        i = args.index("--cases")
        wanted = set(args[i + 1].split(","))
        del args[i:i + 2]
    old, new = os.path.abspath(args[0]), os.path.abspath(args[1])
    # a new directory each time: old results there would be resumed, not made
    parent = args[2] if len(args) > 2 else None
    if parent:
        os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix="same_results.", dir=parent)
    cases = [c for c in CASES if wanted is None or c[0][0] in wanted]
    if wanted is not None and len(cases) != len(wanted):
        sys.exit(f"--cases: unknown case among {sorted(wanted)}; known: "
                 + ", ".join(c[0][0] for c in CASES))
    bad = 0
    for case in cases:
        name = case[0][0]
        a = contents(run_case(old, os.path.join(work, "old"), case))
        b = contents(run_case(new, os.path.join(work, "new"), case))
        diffs = [k for k in sorted(set(a[0]) | set(b[0])) if k not in SKIP_DATASETS and
                 (k not in a[0] or k not in b[0] or not same(a[0][k], b[0][k]))]
        diffs += ["@" + k for k in sorted(set(a[1]) | set(b[1]))
                  if a[1].get(k) is None or b[1].get(k) is None or not same(a[1][k], b[1][k])]
        n = len([k for k in a[0] if k not in SKIP_DATASETS])
        print(f"{name}: {n} datasets, {len(a[1])} attributes compared: "
              + ("identical" if not diffs else "DIFFER in " + ", ".join(diffs)))
        bad += bool(diffs)
    print(f"same_results: {len(cases) - bad} of {len(cases)} sweeps identical ({work})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
