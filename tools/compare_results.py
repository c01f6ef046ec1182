#!/usr/bin/python3
"""Does a change of settings change the distribution? Compares two result files
of the same grid (the same scales and seeds, e.g. one sweep at train.precision
fp32 and the same sweep at bf16) scale by scale at one metric and length:

  - p_success of each file with its 95% percentile bootstrap interval (the
    bootstrap of `distsweep report` and tools/distsweep_h5.py's success());
  - W2, the Wasserstein-2 distance between the two per-seed distributions;
  - mode changes: seeds counted in both files that succeed in one and fail in
    the other (success = metric >= threshold, <= for error and loss).

Scales are matched by name (d64_L2, ...), seeds by value; a seed counted in
only one file is left out of the mode changes. Exit 0; 2 on a bad argument or
a file that is not a distsweep result file.

usage: compare_results.py A.h5 B.h5 [--metric em] [--length L] [--threshold 0.5]
                          [--format table|json]
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distsweep_h5 as dh  # noqa: E402

LOWER_IS_BETTER = ("error", "loss")


def counted_by_seed(res, metric, scale, li):
    """{seed value: counted value} of one scale (done, and diverged as EM 0)."""
    v = res.metrics[metric][scale, :, li].astype(float)
    st = res.status[scale]
    v = np.where((st == dh.DONE) | (st == dh.DIVERGED), v, np.nan)
    if metric == "em":
        v = np.where(st == dh.DIVERGED, 0.0, v)
    return {int(s): float(x) for s, x in zip(res.seeds, v) if np.isfinite(x)}


def compare(a, b, metric, length, tau):
    """One row per scale present in both files."""
    lower = metric in LOWER_IS_BETTER
    la, lb = a.length_index(length), b.length_index(length)
    rows = []
    for i, name in enumerate(a.scale_names):
        if name not in b.scale_names:
            continue
        j = b.scale_names.index(name)
        va, vb = counted_by_seed(a, metric, i, la), counted_by_seed(b, metric, j, lb)
        xa, xb = np.array(list(va.values())), np.array(list(vb.values()))
        pa = dh.success(xa, tau, lower_is_better=lower)[:3]
        pb = dh.success(xb, tau, lower_is_better=lower)[:3]
        ok = (lambda x: x <= tau) if lower else (lambda x: x >= tau)
        both = sorted(set(va) & set(vb))
        changed = [s for s in both if ok(va[s]) != ok(vb[s])]
        rows.append({"scale": name, "n_a": len(xa), "n_b": len(xb),
                     "p_a": pa[0], "p_a_lo": pa[1], "p_a_hi": pa[2],
                     "p_b": pb[0], "p_b_lo": pb[1], "p_b_hi": pb[2],
                     "w2": dh.w2(xa, xb), "n_both": len(both), "mode_changes": len(changed),
                     "changed_seeds": changed})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--metric", default="em", choices=dh.METRICS)
    ap.add_argument("--length", type=int)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--format", default="table", choices=("table", "json"))
    o = ap.parse_args(argv)
    try:
        a, b = dh.load(o.a), dh.load(o.b)
        length = o.length if o.length is not None else a.default_length()
        rows = compare(a, b, o.metric, length, o.threshold)
    except (OSError, KeyError, dh.NotDistsweep) as e:
        print(f"compare_results: {e}", file=sys.stderr)
        return 2
    if o.format == "json":
        print(json.dumps({"a": o.a, "b": o.b, "metric": o.metric, "length": length,
                          "threshold": o.threshold, "scales": rows}, default=float))
        return 0
    pa, pb = a.attrs.get("precision", "fp32"), b.attrs.get("precision", "fp32")
    print(f"A = {o.a} ({pa}), B = {o.b} ({pb}); {o.metric} at length {length}, "
          f"success = {o.metric} {'<=' if o.metric in LOWER_IS_BETTER else '>='} {o.threshold}; "
          "95% bootstrap CIs")
    print(f"{'scale':10s} {'n':>7s} {'p_success A [CI]':>22s} {'p_success B [CI]':>22s} "
          f"{'W2':>7s} {'mode changes':>13s}")
    for r in rows:
        print(f"{r['scale']:10s} {r['n_a']:>3d}/{r['n_b']:<3d} "
              f"{r['p_a']:6.3f} [{r['p_a_lo']:.3f}, {r['p_a_hi']:.3f}]  "
              f"{r['p_b']:6.3f} [{r['p_b_lo']:.3f}, {r['p_b_hi']:.3f}] {r['w2']:7.4f} "
              f"{r['mode_changes']:>5d} of {r['n_both']:<3d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
