#!/usr/bin/python3
"""Do two result files of the same sweep, made on different CPU classes (an
x86-64 build and an aarch64 one, tools/check_aarch64.sh), agree? Compares
run status, every per-seed metric at every length, and the training-loss
curves seed by seed: how many values are bit-identical, the largest absolute
difference, and whether every value is within the cross-CPU tolerance of
docs/engine.md "aarch64" (losses in nats: the test loss, the error, the
final loss and the curve: relative 1e-3 of the value plus 1e-4 absolute;
fractions and probabilities in [0, 1]: 0.05 absolute, a few items of an
evaluation flipping). Bits are not expected to be equal:
OpenBLAS's sgemm kernels of the two CPUs sum in different orders, and the
differences grow over training steps.

Exit 0 when every status is equal and every value within tolerance, 1
otherwise (the differences listed), 2 on a bad argument.

usage: compare_arch.py REFERENCE.h5 OTHER.h5
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distsweep_h5 as dh  # noqa: E402

REL, ABS = 1e-3, 1e-4   # losses: values of order 1 after 60+ steps
ACC_ABS = 0.05          # fractions of evaluation items


def compare(name, a, b, rel, abs_):
    """(ok, line) for two arrays of the same shape (NaN equal to NaN)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False, f"{name}: shapes {a.shape} and {b.shape}"
    both_nan = np.isnan(a) & np.isnan(b)
    same_bits = (a == b) | both_nan
    d = np.where(both_nan, 0.0, np.abs(a - b))
    tol = rel * np.abs(a) + abs_
    ok = bool(np.all((d <= tol) | both_nan)) and not np.any(np.isnan(d))
    n = a.size
    worst = float(np.nanmax(d)) if n else 0.0
    return ok, (f"{name:24s} {int(same_bits.sum()):5d}/{n:<5d} bit-identical, max |diff| {worst:.3g}"
                f"  {'ok' if ok else 'OUT OF TOLERANCE'}")


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    try:
        ra, rb = dh.load(argv[1]), dh.load(argv[2])
    except (OSError, dh.NotDistsweep) as e:
        print(f"compare_arch: {e}", file=sys.stderr)
        return 2
    ok = True
    if ra.scale_names != rb.scale_names or not np.array_equal(ra.seeds, rb.seeds):
        print("compare_arch: the files hold different scales or seeds")
        return 1
    if not np.array_equal(ra.status, rb.status):
        print(f"status differs:\n{ra.status}\n{rb.status}")
        ok = False
    for m in sorted(ra.metrics):
        if ra.metrics[m] is None or rb.metrics.get(m) is None:
            continue
        lossy = m in ("loss", "error")  # nats; the others are fractions or probabilities
        good, line = compare(f"metrics/{m}", ra.metrics[m], rb.metrics[m],
                             REL if lossy else 0.0, ABS if lossy else ACC_ABS)
        ok &= good
        print(line)
    if not np.array_equal(ra.runs.get("steps_done"), rb.runs.get("steps_done")):
        print("runs/steps_done differs")
        ok = False
    for r, rel, abs_ in (("final_loss", REL, ABS), ("id_em", 0.0, ACC_ABS)):
        if ra.runs.get(r) is not None and rb.runs.get(r) is not None:
            good, line = compare(f"runs/{r}", ra.runs[r], rb.runs[r], rel, abs_)
            ok &= good
            print(line)
    if ra.train_loss is not None and rb.train_loss is not None:
        good, line = compare("curves/train_loss", ra.train_loss, rb.train_loss, REL, ABS)
        ok &= good
        print(line)
    print("compare_arch: " + ("within the cross-CPU tolerance" if ok else "OUTSIDE the cross-CPU tolerance"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
