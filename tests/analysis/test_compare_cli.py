#!/usr/bin/python3
"""`distsweep compare` (src/cmd_compare.c, src/compare.h) on synthetic result files
with a KNOWN difference (tools/make_synthetic_results.py --populations), checked
against an independent NumPy/SciPy computation and against the truth:

- point estimates (B - A of p_success, mean, mean of successful runs; W2) equal
  NumPy's to 1e-12 (the same sums in another order);
- 95% CI coverage: over K independent pairs of populations with true
  differences known in closed form, the number of intervals covering the
  truth must lie in the central 99.8% of Binomial(K, 0.95) (the bound is
  printed); percentile-bootstrap intervals undercover slightly at small n,
  so n = 80 seeds;
- permutation p-values agree with scipy.stats.permutation_test (same
  statistic, |mean(B) - mean(A)|, one-sided on it) within Monte-Carlo error;
  under the null (same distribution) they are not systematically small:
  #{p < 0.05} is within Binomial(K, 0.05)'s upper 0.999 quantile and a KS
  test against uniform does not reject at 0.001;
- paired when both hold the same seeds, unpaired otherwise; deterministic;
- refusals exit 2; a real sweep (tests/faults/faults.yaml, 1 rank) compared
  with itself has W2 = 0.

usage: test_compare_cli.py DISTSWEEP TOOLS_DIR SOURCE_DIR"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np
from scipy import stats

DS, TOOLS, SRC = (os.path.abspath(x) for x in sys.argv[1:4])
sys.path.insert(0, os.path.join(SRC, "tests"))
# the real sweep below initialises MPI: under the sanitizer build it needs
# procutil's ASAN_OPTIONS (no leak check: Open MPI's allocations live to exit)
from procutil import SWEEP_ENV  # noqa: E402
fails = 0
SUCC_MEAN, FAIL_MEAN = 0.6 + 0.4 * 6 / 9, 0.3 * 2 / 10  # make_synthetic_results.py --populations


def check(cond, msg):
    global fails
    if not cond:
        fails += 1
        print("CHECK FAILED:", msg)
    return cond


def synth(path, *args):
    subprocess.run([sys.executable, os.path.join(TOOLS, "make_synthetic_results.py"), path, *args],
                   check=True, capture_output=True)


def compare(*args):
    return subprocess.run([DS, "compare", *args], capture_output=True, text=True)


def cj(*args):
    p = compare(*args, "--format", "json")
    check(p.returncode == 0, f"compare {args}: rc {p.returncode} {p.stderr}")
    return json.loads(p.stdout)


def values(path, scale, length=60):
    """(seed values, counted EM values) of a scale, by the report's rule."""
    with h5py.File(path, "r") as f:
        L = list(f["eval_lengths"][()]).index(length)
        st = f["runs/status"][scale]
        em = f["metrics/em"][scale, :, L].astype(np.float64)
        seeds = f["seeds"][()]
    em = np.where(st == 3, 0.0, em)
    keep = ((st == 1) | (st == 3)) & np.isfinite(em)
    return seeds[keep], em[keep]


def w2(a, b):
    """W2 from the quantile functions on the merged breakpoints (fractions)."""
    a, b = np.sort(a), np.sort(b)
    n, m = len(a), len(b)
    t = np.unique(np.concatenate([np.arange(n + 1) / n, np.arange(m + 1) / m]))
    mid, w = (t[1:] + t[:-1]) / 2, np.diff(t)
    qa = a[np.minimum(np.ceil(mid * n).astype(int) - 1, n - 1)]
    qb = b[np.minimum(np.ceil(mid * m).astype(int) - 1, m - 1)]
    return np.sqrt(np.sum(w * (qa - qb) ** 2))


def point(a, b, tau=0.5):
    sa, sb = a[a >= tau], b[b >= tau]
    return {"d_p_success": np.mean(b >= tau) - np.mean(a >= tau), "d_mean": b.mean() - a.mean(),
            "d_mean_success": (sb.mean() - sa.mean()) if len(sa) and len(sb) else None,
            "w2": w2(a, b)}


def close(x, y):
    return (x is None and y is None) or (x is not None and y is not None and abs(x - y) <= 1e-12)


work = tempfile.mkdtemp(prefix="ds-compare-cli-")
try:
    K, S = 200, 80
    A, B, U, N1, N2 = (os.path.join(work, x + ".h5") for x in ("a", "b", "u", "n1", "n2"))
    synth(A, "--populations", "0.5", "--repeat", str(K), "--seeds", str(S), "--seed", "11")
    synth(B, "--populations", "0.8", "--repeat", str(K), "--seeds", str(S), "--seed", "12")
    synth(U, "--populations", "0.8", "--repeat", str(K), "--seeds", str(S), "--seed", "13",
          "--seed-start", "5000")
    synth(N1, "--populations", "0.5", "--repeat", str(K), "--seeds", str(S), "--seed", "14")
    synth(N2, "--populations", "0.5", "--repeat", str(K), "--seeds", str(S), "--seed", "15",
          "--seed-start", "7000")
    # the stored sweep text loads: `report` uses its report block, no fallback note
    p = subprocess.run([DS, "report", A], capture_output=True, text=True)
    check(p.returncode == 0 and "length 60 (report.length)" in p.stdout and p.stderr == "",
          f"synthetic sweep text loads: {p.stdout[:300]!r} {p.stderr!r}")

    true = {"d_p_success": 0.3, "d_mean": 0.3 * (SUCC_MEAN - FAIL_MEAN), "d_mean_success": 0.0}
    lo_b, hi_b = stats.binom.ppf(0.001, K, 0.95), stats.binom.ppf(0.999, K, 0.95)
    print(f"coverage bound: {K} intervals, 95% nominal: covered count in [{lo_b:.0f}, {hi_b:.0f}] "
          f"(Binomial({K}, 0.95) 0.1% and 99.9% quantiles)")
    for other, pairing in ((B, "paired"), (U, "unpaired")):
        d = cj(A, other, "--permutations", "50")
        rows = d["rows"]
        check(len(rows) == K and all(r["pairing"] == pairing for r in rows),
              f"{pairing}: {len(rows)} rows, pairings {set(r['pairing'] for r in rows)}")
        bad = 0
        for i, r in enumerate(rows):
            ka, a = values(A, i)
            kb, b = values(other, i)
            if pairing == "paired":
                check(np.array_equal(ka, kb), "paired files hold the same seeds")
            ref = point(a, b)
            for k, v in ref.items():
                bad += not close(r[k], v)
        check(bad == 0, f"{pairing}: {bad} point estimates differ from NumPy's")
        for k, t in true.items():
            cov = sum(1 for r in rows if r[k + "_lo"] is not None and r[k + "_lo"] <= t <= r[k + "_hi"])
            print(f"{pairing} {k}: {cov}/{K} intervals cover the true {t:.4f}")
            check(lo_b <= cov <= hi_b, f"{pairing} {k}: coverage {cov}/{K} outside [{lo_b}, {hi_b}]")
        check(all(r["p_value_mean"] < 0.05 for r in rows[:20]),
              f"{pairing}: a true difference of 0.24 in the mean is detected")

    # permutation p-values against SciPy's on moderately different populations
    for other, pairing, ptype in ((N1, "paired", "samples"), (N2, "unpaired", "independent")):
        base = N1 if pairing == "unpaired" else A
        for scale in ("d64_L1", "d64_L2"):
            d = cj(f"{base}:{scale}", f"{other}:{scale}", "--permutations", "20000",
                   "--resamples", "1")
            r = d["rows"][0]
            check(r["pairing"] == pairing, f"{base} vs {other}: {r['pairing']}")
            i = int(scale[5:]) - 1
            _, a = values(base, i)
            _, b = values(other, i)
            sp = stats.permutation_test((a, b), lambda x, y, axis: np.abs(np.mean(y, axis=axis) -
                                                                         np.mean(x, axis=axis)),
                                        permutation_type=ptype, vectorized=True,
                                        n_resamples=20000, alternative="greater",
                                        random_state=np.random.default_rng(1)).pvalue
            print(f"{pairing} {scale}: p_value_mean {r['p_value_mean']:.4f}, scipy {sp:.4f}")
            check(abs(r["p_value_mean"] - sp) <= 0.02 + 0.1 * sp,
                  f"{pairing} {scale}: p {r['p_value_mean']} vs scipy {sp}")
        # a percentile bootstrap of the mean difference by SciPy: the same interval up to MC error
        d = cj(f"{base}:d64_L1", f"{other}:d64_L1", "--resamples", "20000", "--permutations", "1")
        r = d["rows"][0]
        _, a = values(base, 0)
        _, b = values(other, 0)
        bs = stats.bootstrap((a, b), lambda x, y, axis: np.mean(y, axis=axis) - np.mean(x, axis=axis),
                             paired=pairing == "paired", vectorized=True, method="percentile",
                             n_resamples=20000, random_state=np.random.default_rng(2))
        ci = bs.confidence_interval
        print(f"{pairing}: d_mean CI [{r['d_mean_lo']:.4f}, {r['d_mean_hi']:.4f}], scipy "
              f"[{ci.low:.4f}, {ci.high:.4f}]")
        check(abs(r["d_mean_lo"] - ci.low) < 0.01 and abs(r["d_mean_hi"] - ci.high) < 0.01,
              f"{pairing}: bootstrap CI vs scipy's")

    # the null: same distribution, p-values not systematically small
    for other, pairing in ((N1, "paired"), (N2, "unpaired")):
        # paired: N1 against a second draw with the same seeds
        if pairing == "paired":
            N3 = os.path.join(work, "n3.h5")
            synth(N3, "--populations", "0.5", "--repeat", str(K), "--seeds", str(S), "--seed", "16")
            d = cj(N1, N3, "--permutations", "400", "--resamples", "50")
        else:
            d = cj(N1, N2, "--permutations", "400", "--resamples", "50")
        ps = np.array([r["p_value_mean"] for r in d["rows"]])
        small, ub = int(np.sum(ps < 0.05)), stats.binom.ppf(0.999, K, 0.05)
        ks = stats.kstest(ps, "uniform").pvalue
        print(f"null {pairing}: {small}/{K} p < 0.05 (bound {ub:.0f}), KS p {ks:.3f}, "
              f"median p {np.median(ps):.3f}")
        check(all(r["pairing"] == pairing for r in d["rows"]), f"null {pairing} pairing")
        check(small <= ub and ks > 0.001, f"null {pairing}: p-values not uniform-like")

    # determinism and the key
    x1 = compare(f"{A}:d64_L1", f"{B}:d64_L1", "--format", "csv", "--permutations", "300").stdout
    x2 = compare(f"{A}:d64_L1", f"{B}:d64_L1", "--format", "csv", "--permutations", "300").stdout
    x3 = compare(f"{A}:d64_L1", f"{B}:d64_L1", "--format", "csv", "--permutations", "300",
                 "--seed", "7").stdout
    check(x1 == x2 and x1 != x3, "same command, same numbers; another --seed, other intervals")
    check(x1.splitlines()[0].startswith("a_scale,b_scale,pairing,n_a,n_b,p_success_a")
          and len(x1.splitlines()) == 2, f"csv {x1[:200]!r}")
    # two scales of one file: paired, and the table says so
    p = compare(f"{A}:d64_L1", f"{A}:1", "--permutations", "100")  # a row or a name
    check(p.returncode == 0 and "d64_L1 vs d64_L2: paired, n_a 80, n_b 80" in p.stdout, p.stdout[:800])
    d = cj(A, A, "--permutations", "50", "--resamples", "50")
    check(all(r["w2"] == 0 and r["d_mean"] == 0 and r["p_value_mean"] == 1 for r in d["rows"]),
          "a file against itself: no difference")

    # refusals: exit 2 with a message
    txt = os.path.join(work, "not.h5")
    with open(txt, "w") as f:
        f.write("not hdf5\n")
    L40 = os.path.join(work, "l40.h5")
    shutil.copy(A, L40)
    with h5py.File(L40, "r+") as f:
        f.attrs["sweep_yaml"] = f.attrs["sweep_yaml"].replace("report: {length: 60}", "report: {length: 40}")
    OTHER = os.path.join(work, "other.h5")
    synth(OTHER, "--seeds", "8")
    for args, want in (((f"{A}:nope", B), "no scale 'nope'"),
                       ((A, B, "--length", "50"), "length 50 was not evaluated"),
                       ((txt, B), "not.h5"),
                       ((A, L40), "different lengths"),
                       ((A, f"{B}:d64_L999"), "no scale 'd64_L999'"),
                       ((A, B, "--resamples", "0"), "--resamples"),
                       ((A, B, "--format", "xml"), "unknown format"),
                       ((A, B, "--bogus"), "unknown option"),
                       ((A,), "usage"),
                       ((os.path.join(work, "missing.h5"), B), "missing.h5")):
        p = compare(*args)
        check(p.returncode == 2 and want in p.stderr, f"refuse {args}: rc {p.returncode} {p.stderr!r}")
    p = compare(A, L40, "--length", "40", "--permutations", "10", "--resamples", "10")
    check(p.returncode == 0, f"--length settles different report lengths: {p.stderr}")
    p = compare(OTHER, os.path.join(work, "n1.h5"), "--permutations", "10")
    check(p.returncode == 0 and "d64_L1 vs d64_L1: unpaired" in p.stdout, "only shared names compared")

    # a real sweep: tests/faults/faults.yaml on 1 rank, compared with itself
    real = os.path.join(work, "real")
    os.makedirs(real)
    shutil.copy(os.path.join(SRC, "tests", "faults", "faults.yaml"), real)
    p = subprocess.run([DS, "run", "faults.yaml"], cwd=real, env=SWEEP_ENV, capture_output=True, text=True,
                       timeout=300)
    check(p.returncode == 0, f"real sweep: {p.stderr[-500:]}")
    fh = os.path.join(real, "faults.h5")
    for metric in ("em", "token_acc"):
        d = cj(fh, fh, "--metric", metric, "--permutations", "100")
        check(len(d["rows"]) == 2 and all(r["w2"] == 0 and r["w2_hi"] == 0 and r["pairing"] == "paired"
                                          for r in d["rows"]), f"real {metric} against itself: {d['rows']}")
    d = cj(f"{fh}:d32_L1", f"{fh}:d32_L2", "--metric", "token_acc", "--permutations", "100")
    r = d["rows"][0]
    with h5py.File(fh, "r") as f:
        L = list(f["eval_lengths"][()]).index(d["length"])
        ta = f["metrics/token_acc"][:, :, L].astype(np.float64)
    check(close(r["d_mean"], ta[1].mean() - ta[0].mean()) and close(r["w2"], w2(ta[0], ta[1])),
          f"real: d32_L2 - d32_L1 token_acc {r}")
finally:
    shutil.rmtree(work, ignore_errors=True)
print("FAILED" if fails else "ok", f"({fails} failed checks)" if fails else "")
sys.exit(1 if fails else 0)
