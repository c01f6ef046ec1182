#!/usr/bin/python3
"""Checks src/stats (through tests/stats/stats_driver) against NumPy/SciPy on
random and adversarial inputs: ties, all-equal, a single seed, NaN/inf
excluded, unequal sample sizes for W2. Usage: test_stats_ref.py STATS_DRIVER"""
import json
import subprocess
import sys
from fractions import Fraction

import numpy as np
from scipy import stats as sps

DRIVER = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def close(a, b, tol, what):
    if (np.isnan(a) and np.isnan(b)) or a == b:
        return
    check(abs(a - b) <= tol, f"{what}: got {a!r}, want {b!r} (tol {tol})")


def run(lines):
    out = subprocess.run([DRIVER], input="".join(l + "\n" for l in lines),
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(l) for l in out.splitlines()]


def fmt(x):
    return " ".join(repr(float(v)) for v in x)


# --- sample statistics --------------------------------------------------------
rng = np.random.default_rng(7)
samples = [
    rng.uniform(size=64),
    rng.beta(0.3, 0.3, size=100),                        # bimodal
    np.concatenate([np.zeros(20), rng.uniform(.6, 1, 12)]),  # mass at 0
    np.round(rng.uniform(size=50) * 4) / 4,             # heavy ties
    np.full(9, 0.3),                                     # all equal
    np.array([0.7]),                                     # a single seed
    np.array([0.2, 0.9]),
    np.array([0.1, 0.5, 0.5, 0.9]),
    np.array([np.nan, 0.4, np.inf, 0.6, np.nan, 0.8, -np.inf, 0.0, 1.0]),  # NaN/inf excluded
    np.array([np.nan, np.nan]),                          # nothing left
    np.array([0.0, 0.5, 1.0, 0.5, 0.5]),                 # values on histogram edges
    rng.normal(0.5, 0.2, size=257).clip(0, 1),
]
tau = 0.5
res = run([f"sample {tau} 0 1 " + fmt(x) for x in samples])
for k, (x, r) in enumerate(zip(samples, res)):
    f = x[np.isfinite(x)]
    n = len(f)
    tag = f"sample {k} (n={n})"
    check(r["n"] == n, f"{tag}: n {r['n']}")
    if n == 0:
        check(all(np.isnan(r[key]) for key in ("mean", "median", "std", "mode", "p", "dip")),
              f"{tag}: empty sample gives NaN")
        continue
    close(r["mean"], np.mean(f), 1e-12, f"{tag} mean")
    close(r["median"], np.median(f), 1e-12, f"{tag} median")
    close(r["std"], np.std(f, ddof=1) if n > 1 else 0.0, 1e-12, f"{tag} std")
    check(r["hist"] == np.histogram(f, bins=10, range=(0, 1))[0].tolist(),
          f"{tag} histogram {r['hist']} vs {np.histogram(f, bins=10, range=(0, 1))[0]}")
    grid = np.linspace(0, 1, 2001)
    if n > 1 and np.std(f) > 0:
        kde = sps.gaussian_kde(f)
        close(r["bw"], kde.factor * np.std(f, ddof=1), 1e-12, f"{tag} Scott bandwidth")
        dens = kde(grid)
        # the mode is a grid point whose density is the maximum (ties: any)
        i = int(round(r["mode"] * 2000))
        close(r["mode"], grid[i], 1e-12, f"{tag} mode on the grid")
        check(dens[i] >= dens.max() * (1 - 1e-9), f"{tag} mode {r['mode']} vs {grid[dens.argmax()]}")
    else:
        close(r["mode"], f[0], 0, f"{tag} mode of a constant")
    p = np.mean(f >= tau)
    close(r["p"], p, 1e-12, f"{tag} p_success")
    succ = f[f >= tau]
    close(r["ms"], succ.mean() if len(succ) else np.nan, 1e-12, f"{tag} mean_success")
    check(r["p_lo"] <= p + 1e-12 and p <= r["p_hi"] + 1e-12, f"{tag} p CI contains p")
    # the interval against a NumPy percentile bootstrap of the same size (a
    # different random stream, so only up to Monte-Carlo error)
    if n >= 30:
        b = np.random.default_rng(1).integers(0, n, size=(4000, n))
        bp = (f[b] >= tau).mean(axis=1)
        close(r["p_lo"], np.percentile(bp, 2.5), 0.035, f"{tag} p CI low vs numpy bootstrap")
        close(r["p_hi"], np.percentile(bp, 97.5), 0.035, f"{tag} p CI high vs numpy bootstrap")
        with np.errstate(invalid="ignore"):
            bm = np.where(f[b] >= tau, f[b], 0).sum(1) / (f[b] >= tau).sum(1)
        bm = bm[np.isfinite(bm)]
        if len(succ) > 5:
            close(r["ms_lo"], np.percentile(bm, 2.5), 0.03, f"{tag} mean CI low vs numpy")
            close(r["ms_hi"], np.percentile(bm, 97.5), 0.03, f"{tag} mean CI high vs numpy")
    if n >= 4 and np.std(f) > 0:
        G1 = sps.skew(f, bias=False)
        G2 = sps.kurtosis(f, bias=False)
        close(r["G1"], G1, 1e-9, f"{tag} skewness")
        close(r["G2"], G2, 1e-9, f"{tag} kurtosis")
        close(r["BC"], (G1 ** 2 + 1) / (G2 + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))), 1e-9, f"{tag} BC")
    else:
        check(np.isnan(r["BC"]), f"{tag}: BC undefined for n<4 or zero variance")
    check(1 / (2 * n) - 1e-15 <= r["dip"] <= max(0.25, 1 / (2 * n)) + 1e-15, f"{tag} dip in [1/2n, 1/4]: {r['dip']}")

# reproducible: the same input gives the same intervals, bit for bit
again = run([f"sample {tau} 0 1 " + fmt(samples[0])])[0]
check(again == res[0], "bootstrap is reproducible")

# --- Hartigan's dip against R/PyPI diptest -------------------------------------
# Reference values: diptest 0.10.0 (the C++ port of R's diptest),
# dipstat(x, allow_zero=False), on the inputs gen() regenerates.
DIP_REF = [0.125, 0.221760136072104, 0.125, 0.125, 0.174143496529013, 0.182469048229202, 0.15,
           0.1, 0.114624804700287, 0.198593304693869, 0.125, 0.125418565209819, 0.111439954599924,
           0.204275990750727, 0.125, 0.136343964000682, 0.085638958045005, 0.210793820304537,
           0.096774193548387, 0.158118044951566, 0.047799446656025, 0.193717354924203, 0.09375,
           0.141580501524928, 0.017709143763512, 0.194184679040117, 0.1075, 0.150329376188675]


def gen():
    rng = np.random.default_rng(20261123)
    out = []
    for n in [4, 5, 8, 16, 31, 64, 200]:
        out.append(rng.uniform(size=n))
        out.append(np.concatenate([rng.normal(0, .05, n // 2), rng.normal(1, .05, n - n // 2)]))
        out.append(np.round(rng.uniform(size=n) * 5) / 5)
        out.append(np.concatenate([np.zeros(n // 3), rng.beta(5, 2, n - n // 3)]))
    return out


xs = gen()
res = run([f"sample {tau} 0 1 " + fmt(x) for x in xs])
for x, r, ref in zip(xs, res, DIP_REF):
    close(r["dip"], ref, 1e-12, f"dip n={len(x)}")
try:  # the live reference where it is installed
    import diptest
    rng = np.random.default_rng(3)
    xs = [rng.normal(size=n) for n in (6, 40, 333)] + [np.r_[rng.uniform(size=30), rng.uniform(3, 4, 30)]]
    for x, r in zip(xs, run([f"sample {tau} 0 1 " + fmt(x) for x in xs])):
        close(r["dip"], diptest.dipstat(x, allow_zero=False), 1e-12, f"dip vs diptest n={len(x)}")
except ImportError:
    pass
# affine invariance and the extremes
r = run(["sample 0.5 0 1 " + fmt(np.r_[np.zeros(10), np.ones(10)]),
         "sample 0.5 0 1 " + fmt(np.r_[np.zeros(10), np.ones(10)] * 7 + 3),
         "sample 0.5 0 1 " + fmt(np.arange(40) / 39.0)])
close(r[0]["dip"], 0.25, 1e-12, "two equal point masses: dip = 1/4")
close(r[1]["dip"], r[0]["dip"], 1e-12, "dip is affine invariant")
close(r[2]["dip"], 1 / 80, 1e-12, "evenly spaced: dip = 1/(2n)")
# the simulated null against an independent simulation (diptest.dipstat of
# 4000 numpy uniform samples of size 100: quantiles 0.5, 0.95, 0.99 are
# 0.03556, 0.05087, 0.05951), up to Monte-Carlo error
q = run(["dipnull 100 2000"])[0]
close(q["q50"], 0.03556, 0.001, "dip null median, n=100")
close(q["q95"], 0.05087, 0.002, "dip null 95% point, n=100")
close(q["q99"], 0.05951, 0.003, "dip null 99% point, n=100")


# --- Wasserstein-2 ------------------------------------------------------------
def w2_ref(a, b):
    """Exact in rationals: sum over the merged breakpoints of the squared
    difference of the quantile step functions."""
    a, b = np.sort(a), np.sort(b)
    n, m = len(a), len(b)
    cuts = sorted(set(Fraction(i, n) for i in range(n + 1)) | set(Fraction(j, m) for j in range(m + 1)))
    acc = 0.0
    for t0, t1 in zip(cuts[:-1], cuts[1:]):
        mid = (t0 + t1) / 2
        qa, qb = a[int(np.ceil(mid * n)) - 1], b[int(np.ceil(mid * m)) - 1]
        acc += float(t1 - t0) * (qa - qb) ** 2
    return np.sqrt(acc)


def w2_grid(a, b, k=200000):
    """Midpoint rule on a fine grid of [0,1] with numpy's inverted-CDF quantile."""
    t = (np.arange(k) + 0.5) / k
    qa = np.quantile(a, t, method="inverted_cdf")
    qb = np.quantile(b, t, method="inverted_cdf")
    return np.sqrt(np.mean((qa - qb) ** 2))


rng = np.random.default_rng(11)
pairs = [(rng.uniform(size=16), rng.uniform(size=16)),
         (rng.uniform(size=7), rng.beta(2, 5, size=13)),
         (rng.normal(size=100), rng.normal(1, 2, size=37)),
         (np.zeros(5), np.ones(3)),
         (np.array([0.5]), rng.uniform(size=9)),
         (np.round(rng.uniform(size=12) * 3), np.round(rng.uniform(size=30) * 3)),
         (np.full(4, .2), np.full(6, .2))]
res = run([f"w2 {fmt(a)} | {fmt(b)}" for a, b in pairs])
for (a, b), r in zip(pairs, res):
    tag = f"W2 n={len(a)} m={len(b)}"
    close(r["w2"], w2_ref(a, b), 1e-12, tag + " vs exact rational reference")
    close(r["w2"], w2_grid(a, b), 2e-3, tag + " vs numerical integration")
    if len(a) == len(b):
        close(r["w2"], np.sqrt(np.mean((np.sort(a) - np.sort(b)) ** 2)), 1e-12, tag + " equal sizes")
    if len(a) == 1:  # to a point mass W2 is the RMS distance; W1 (scipy) the mean distance
        close(r["w2"], np.sqrt(np.mean((b - a[0]) ** 2)), 1e-12, tag + " to a point")
        close(np.mean(np.abs(b - a[0])), sps.wasserstein_distance(a, b), 1e-12, "scipy W1 sanity")
a = rng.uniform(size=21)
r = run([f"w2 {fmt(a)} | {fmt(a + 0.3)}", f"w2 {fmt(a)} | {fmt(np.r_[a, a])}", f"w2 {fmt(a)} |"])
close(r[0]["w2"], 0.3, 1e-12, "W2 of a shift is the shift")
close(r[1]["w2"], 0.0, 1e-12, "W2 of a sample and its duplicate is 0")
check(np.isnan(r[2]["w2"]), "W2 with an empty sample is NaN")


# --- breakthroughness and linearity -----------------------------------------------
def bl_ref(y):
    y = np.asarray(y, float)
    if len(y) < 2:
        return 0.0, 0.0
    I = np.sign(np.argmax(y) - np.argmin(y)) * (y.max() - y.min())
    d2 = np.diff(y) ** 2

    def div(a, b):
        return 0.0 if a == 0 and b == 0 else (np.inf * np.sign(a) if b == 0 else a / b)
    return div(I, np.sqrt(np.median(d2))), div(I, np.sqrt(np.mean(d2)))


curves = [[0, .25, .5, .75, 1], [0, 0, 1, 1, 1], [1, .75, .5, .25, 0], [.3] * 5, [.4],
          [1, 1, 0, 0, 0], [0, 1, 0, 1, 0], [.2, .9, .9, .1, .5], [0, np.nan, 1, 1, 1]]
curves += [list(np.round(rng.uniform(size=rng.integers(2, 8)), 2)) for _ in range(30)]
res = run([f"curve {fmt(c)}" for c in curves])
close(res[0]["B"], 4, 1e-12, "ramp B = 4")
close(res[0]["Lin"], 4, 1e-12, "ramp Lin = 4")
check(res[1]["B"] == np.inf, "jump B = +inf")
close(res[1]["Lin"], 2, 1e-12, "jump Lin = 2")
close(res[2]["B"], -4, 1e-12, "falling ramp B = -4")
check(res[3]["B"] == 0 and res[3]["Lin"] == 0, "flat curve gives 0")
check(res[4]["B"] == 0 and res[4]["Lin"] == 0, "one scale gives 0")
check(res[5]["B"] == -np.inf, "falling jump B = -inf")
check(np.isnan(res[8]["B"]) and np.isnan(res[8]["Lin"]), "incomplete curve gives NaN")
for c, r in list(zip(curves, res))[:8] + list(zip(curves, res))[9:]:
    B, L = bl_ref(c)
    close(r["B"], B, 1e-12, f"B {c}")
    close(r["Lin"], L, 1e-12, f"Lin {c}")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
