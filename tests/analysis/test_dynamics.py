#!/usr/bin/python3
"""`distsweep report --dynamics` (src/dynamics.h, src/cmd_report.c; docs/analysis.md
"Training dynamics") against an independent NumPy/SciPy computation and the
known truth:

- synthetic files with planted breakthrough points (tools/make_synthetic_results.py
  --trajectories --truth): at breakthrough threshold 0.2 every counted seed's
  breakthrough step equals the planted one exactly (censored seeds at the last
  step, the diverged seed censored although its stored trajectory looks broken
  through, pending seeds absent); the early breakers end in the success mode
  more often than the late ones (400 seeds: Fisher p < 1e-6);
- for several metrics and thresholds (em, error where lower is better,
  token_acc), on the synthetic file and on a real tiny CPU sweep with
  train.eval_every (tests/faults/faults.yaml, 300 steps, a point every 30):
  counted seeds, per-seed steps, the survival curve (the Kaplan-Meier
  product-limit estimate computed from its definition, 1e-9: JSON's 10 digits), the quartiles
  (first step with S(t) <= 1 - q, null when never), the early/late split and
  counts, and the p-value against scipy.stats.fisher_exact (1e-9 relative);
- CSV agrees with JSON; the table says "not reached";
- on the real sweep the JSON's final value equals the last trajectory point
  (/metrics = last point when eval_every divides steps);
- tools/distsweep_h5.py trajectories_frame holds the trajectories in long form;
- refusals exit 2 with nothing on stdout: a length other than the stored
  trajectories', a file without trajectories, a sweep text that does not load,
  --breakthrough-threshold without --dynamics, an unknown family.

usage: test_dynamics.py DISTSWEEP TOOLS_DIR SOURCE_DIR"""
import csv
import io
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
from scipy import stats

DS, TOOLS, SRC = (os.path.abspath(x) for x in sys.argv[1:4])
sys.path.insert(0, os.path.join(SRC, "tests"))
sys.path.insert(0, TOOLS)
from procutil import SWEEP_ENV, check, failures  # noqa: E402
import distsweep_h5 as dh  # noqa: E402

LOWER = {"error", "loss"}


def synth(path, *args):
    subprocess.run([sys.executable, os.path.join(TOOLS, "make_synthetic_results.py"), path, *args],
                   check=True, capture_output=True)


def report(*args):
    return subprocess.run([DS, "report", *args], capture_output=True, text=True)


def rj(*args):
    p = report(*args, "--format", "json")
    check(p.returncode == 0, f"report {args}: rc {p.returncode} {p.stderr}")
    return json.loads(p.stdout)


def expected(path, metric, tau, tb):
    """The statistics of --dynamics computed here from the file alone (h5py):
    per scale name {seeds: {seed_index: (step, censored, final, success)},
    survival, q25/median/q75, early/late counts, p}."""
    with h5py.File(path, "r") as f:
        names = [x.decode().rstrip("\0") for x in f["scales/name"][()]]
        status = f["runs/status"][()]
        lengths = list(f["eval_lengths"][()])
        import yaml
        doc = yaml.safe_load(f.attrs["sweep_yaml"])
        every, steps = int(doc["train"]["eval_every"]), int(doc["train"]["steps"])
    L = dh.load(path).report_settings()["length"]  # the trajectories' length (the report's)
    with h5py.File(path, "r") as f:
        traj = f["trajectories/" + metric][()].astype(np.float64)
        final_all = f["metrics/" + metric][()].astype(np.float64)
    P = traj.shape[2]
    grid = (np.arange(P) + 1) * every
    li = lengths.index(L) if L in lengths else None
    lower = metric in LOWER

    def ok(x, t):
        with np.errstate(invalid="ignore"):
            return np.where(np.isnan(x), False, x <= t if lower else x >= t)

    out = {}
    for sc, name in enumerate(names):
        seeds = {}
        for s in range(status.shape[1]):
            st = status[sc, s]
            if st not in (1, 3):
                continue
            v = 0.0 if (st == 3 and metric == "em") else final_all[sc, s, li]
            if not np.isfinite(v):
                continue
            y = ok(traj[sc, s], tb)
            ks = [k for k in range(P) if y[k:].all()]
            if st == 3 or not ks:
                seeds[s] = (int(grid[-1]), True, v, bool(ok(np.array([v]), tau)[0]))
            else:
                seeds[s] = (int(grid[ks[0]]), False, v, bool(ok(np.array([v]), tau)[0]))
        n = len(seeds)
        t = np.array([seeds[s][0] for s in seeds])
        ev = np.array([not seeds[s][1] for s in seeds], bool)
        # Kaplan-Meier product-limit estimate, from its definition
        S, surv = 1.0, []
        for g in grid:
            at_risk = np.sum(t >= g)
            d = np.sum((t == g) & ev)
            if at_risk:
                S *= 1 - d / at_risk
            surv.append(S if n else np.nan)
        surv = np.array(surv)
        q = {}
        for key, p in (("q25", 0.25), ("median", 0.5), ("q75", 0.75)):
            hit = np.flatnonzero(surv <= 1 - p + 1e-12) if n else []
            q[key] = int(grid[hit[0]]) if len(hit) else None
        broke = t[ev]
        succ = np.array([seeds[s][3] for s in seeds], bool)[ev] if n else np.zeros(0, bool)
        e = dict(seeds=seeds, n=n, n_broke=int(ev.sum()), survival=surv, **q)
        if len(broke):
            m = np.median(broke)
            early = broke <= m
            e.update(split_step=float(m), n_early=int(early.sum()),
                     early_success=int(succ[early].sum()), n_late=int((~early).sum()),
                     late_success=int(succ[~early].sum()))
            table = [[e["early_success"], e["n_early"] - e["early_success"]],
                     [e["late_success"], e["n_late"] - e["late_success"]]]
            e["p"] = stats.fisher_exact(table)[1] if e["n_late"] and e["n_early"] else None
        else:
            e.update(split_step=None, n_early=0, early_success=0, n_late=0, late_success=0, p=None)
        out[name] = e
    return out


def compare(path, metric, tau, tb, label, extra=()):
    """Runs report --dynamics and checks its JSON, CSV and table against expected()."""
    args = [path, "--dynamics", "--metric", metric, "--threshold", repr(tau),
            "--breakthrough-threshold", repr(tb), *extra]
    j = rj(*args)
    exp = expected(path, metric, tau, tb)
    check(j["metric"] == metric and j["threshold"] == tau and j["breakthrough_threshold"] == tb,
          f"{label}: header {j['metric']} {j['threshold']} {j['breakthrough_threshold']}")
    rows = {}
    for fam in j["families"]:
        for w in fam["scales"]:
            rows[w["scale"]] = w
            e = exp[w["scale"]]
            tag = f"{label} {w['scale']}"
            got = {x["seed_index"]: (x["step"], x["censored"], x["final"], x["success"]) for x in w["seeds"]}
            check(set(got) == set(e["seeds"]), f"{tag}: counted seeds {sorted(got)} != {sorted(e['seeds'])}")
            for s in set(got) & set(e["seeds"]):
                a, b = got[s], e["seeds"][s]
                check(a[0] == b[0] and a[1] == b[1] and a[3] == b[3] and abs(a[2] - b[2]) <= 1e-6 * max(1, abs(b[2])),
                      f"{tag}: seed index {s}: {a} != {b}")
            check(w["n"] == e["n"] and w["n_broke"] == e["n_broke"] and w["n_censored"] == e["n"] - e["n_broke"],
                  f"{tag}: n {w['n']}/{e['n']}, broke {w['n_broke']}/{e['n_broke']}")
            sv = np.array([np.nan if x is None else x for x in w["survival"]])
            check(np.allclose(sv, e["survival"], atol=1e-9, rtol=0, equal_nan=True),
                  f"{tag}: survival {sv} != KM {e['survival']}")
            for key in ("q25", "median", "q75"):
                check(w[key] == e[key], f"{tag}: {key} {w[key]} != {e[key]}")
            for key in ("n_early", "early_success", "n_late", "late_success"):
                check(w[key] == e[key], f"{tag}: {key} {w[key]} != {e[key]}")
            check((w["split_step"] is None) == (e["split_step"] is None) and
                  (e["split_step"] is None or abs(w["split_step"] - e["split_step"]) < 1e-9),
                  f"{tag}: split {w['split_step']} != {e['split_step']}")
            if e["p"] is None:
                check(w["p_value"] is None, f"{tag}: p {w['p_value']} with an empty group")
            else:
                check(w["p_value"] is not None and abs(w["p_value"] - e["p"]) <= 1e-9 * max(e["p"], 1e-300),
                      f"{tag}: p {w['p_value']} != scipy {e['p']}")
    check(set(rows) == set(exp), f"{label}: scales {sorted(rows)} != {sorted(exp)}")
    # CSV: the same numbers
    p = report(*args, "--format", "csv")
    check(p.returncode == 0, f"{label}: csv rc {p.returncode} {p.stderr}")
    for r in csv.DictReader(io.StringIO(p.stdout)):
        w = rows.get(r["scale"])
        if not check(w is not None, f"{label}: csv scale {r['scale']}"):
            continue
        for key in ("q25", "median", "q75"):
            want = "not_reached" if w[key] is None else str(w[key])
            check(r[key] == want, f"{label} {r['scale']}: csv {key} {r[key]} != {want}")
        for key in ("n", "n_broke", "n_censored", "n_diverged", "n_early", "early_success", "n_late",
                    "late_success"):
            check(int(r[key]) == w[key], f"{label} {r['scale']}: csv {key}")
        pv = float(r["p_value"])
        check((w["p_value"] is None and np.isnan(pv)) or abs(pv - (w["p_value"] or 0)) < 1e-6,
              f"{label} {r['scale']}: csv p_value {pv} vs {w['p_value']}")
    # table: runs, and says "not reached" when a quartile is not
    p = report(*args)
    check(p.returncode == 0 and "survival S(t)" in p.stdout, f"{label}: table rc {p.returncode} {p.stderr}")
    if any(w[k] is None for w in rows.values() for k in ("q25", "median", "q75")):
        check("not reached" in p.stdout, f"{label}: table lacks 'not reached'")
    return j


def truth_checks(path, truth_path, S):
    truth = json.load(open(truth_path))
    j = rj(path, "--dynamics", "--breakthrough-threshold", "0.2")
    check(j["eval_every"] == truth["eval_every"] and j["length"] == truth["length"],
          f"truth: eval_every {j['eval_every']} length {j['length']}")
    last = truth["steps"]
    for w in j["families"][0]["scales"]:
        tp = truth["scales"][w["scale"]]
        got = {x["seed_index"]: x for x in w["seeds"]}
        want = {s: p for s, p in enumerate(tp) if p is not None}
        check(set(got) == set(want), f"truth {w['scale']}: counted {len(got)} != {len(want)}")
        for s, p in want.items():
            x = got.get(s)
            if x is None:
                continue
            step = last if p < 0 else (p + 1) * truth["eval_every"]
            check(x["step"] == step and x["censored"] == (p < 0),
                  f"truth {w['scale']} seed index {s}: step {x['step']} censored {x['censored']}, "
                  f"planted point {p}")
        d = got.get(truth["diverged_seed_index"])
        check(d is not None and d["diverged"] and d["censored"], f"truth {w['scale']}: diverged seed {d}")
        check(got[0]["step"] == truth["eval_every"] and got[1]["step"] == last and not got[1]["censored"]
              and got[2]["censored"], f"truth {w['scale']}: planted seeds 0, 1, 2")
    return j


def refusals(t_h5, plain_h5, legacy_h5):
    for args, what in (([t_h5, "--dynamics", "--length", "40"], "length 60 only"),
                       ([plain_h5, "--dynamics"], "no trajectories"),
                       ([legacy_h5, "--dynamics"], "no trajectories"),
                       ([t_h5, "--breakthrough-threshold", "0.2"], "needs --dynamics"),
                       ([t_h5, "--dynamics", "--family", "nosuch"], "no family"),
                       ([t_h5, "--dynamics", "--breakthrough-threshold", "x"], "needs a number")):
        p = report(*args)
        check(p.returncode == 2 and p.stdout == "" and what in p.stderr,
              f"refusal {args}: rc {p.returncode}, stdout {p.stdout[:80]!r}, stderr {p.stderr!r}")


def real_sweep(work):
    text = open(os.path.join(SRC, "tests", "faults", "faults.yaml")).read()
    text = text.replace("steps: 60,", "steps: 300,").replace("log_every: 1}", "log_every: 1, eval_every: 30}")
    check("eval_every: 30" in text, "real sweep text")
    y, out = os.path.join(work, "real.yaml"), os.path.join(work, "real.h5")
    open(y, "w").write(text)
    env = dict(SWEEP_ENV, OMP_NUM_THREADS="1")
    p = subprocess.run([DS, y, "-o", out, "--quiet"], env=env, capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, f"real sweep: rc {p.returncode} {p.stderr[-800:]}")
    return out


def main():
    work = tempfile.mkdtemp(prefix="dynamics.")
    t_h5, truth = os.path.join(work, "t.h5"), os.path.join(work, "truth.json")
    synth(t_h5, "--trajectories", "--truth", truth, "--pending", "2")
    truth_checks(t_h5, truth, 40)
    for metric, tau, tb in (("em", 0.5, 0.5), ("em", 0.5, 0.2), ("em", 0.3, 0.6), ("error", 1.0, 1.6),
                            ("token_acc", 0.8, 0.6), ("loss", 0.2, 0.4)):
        compare(t_h5, metric, tau, tb, f"synthetic {metric} {tau}/{tb}")
    # error <= 1.6 is em >= 0.2 (error = 2(1 - em)): the same steps, diverged left out for error
    je = rj(t_h5, "--dynamics", "--metric", "error", "--threshold", "1.6")
    jm = rj(t_h5, "--dynamics", "--threshold", "0.2")
    for we, wm in zip(je["families"][0]["scales"], jm["families"][0]["scales"]):
        se = {x["seed_index"]: x["step"] for x in we["seeds"]}
        sm = {x["seed_index"]: x["step"] for x in wm["seeds"] if not x["diverged"]}
        check(se == sm, f"error vs em steps differ at {we['scale']}")

    # the early/late effect the generator plants, with enough seeds to see it
    big, big_truth = os.path.join(work, "big.h5"), os.path.join(work, "big.json")
    synth(big, "--trajectories", "--truth", big_truth, "--seeds", "400", "--seed", "5")
    jb = truth_checks(big, big_truth, 400)
    w = jb["families"][0]["scales"][2]
    check(w["early_fraction"] > w["late_fraction"] + 0.3 and w["p_value"] < 1e-6,
          f"big: early {w['early_fraction']} late {w['late_fraction']} p {w['p_value']}")
    compare(big, "em", 0.5, 0.2, "big em 0.5/0.2")

    plain, legacy = os.path.join(work, "plain.h5"), os.path.join(work, "legacy.h5")
    synth(plain)
    synth(legacy, "--legacy-text")
    refusals(t_h5, plain, legacy)

    # distsweep_h5: the trajectories as a long frame
    res = dh.load(t_h5)
    df = dh.trajectories_frame(res)
    check(len(df) == res.n_scales * res.n_seeds * 20 and list(df["step"].unique()) == list(range(10, 201, 10)),
          f"trajectories_frame: {len(df)} rows")
    row = df[(df.scale_index == 1) & (df.seed_index == 3) & (df.point == 4)].iloc[0]
    check(row["em"] == res.trajectories["em"][1, 3, 4] and row["step"] == 50 and row["length"] == 60,
          f"trajectories_frame row {row.to_dict()}")
    try:
        dh.trajectories_frame(dh.load(plain))
        check(False, "trajectories_frame on a file without trajectories did not raise")
    except ValueError:
        pass

    # a real sweep with eval_every
    real = real_sweep(work)
    for metric, tau, tb in (("loss", 1.0, 1.0), ("token_acc", 0.8, 0.7), ("em", 0.5, 0.5),
                            ("error", 2.0, 3.0)):
        j = compare(real, metric, tau, tb, f"real {metric} {tau}/{tb}")
    with h5py.File(real, "r") as f:
        traj_last = f["trajectories/loss"][:, :, -1]
    j = rj(real, "--dynamics", "--metric", "loss", "--threshold", "1.0")
    check(j["eval_every"] == 30 and j["steps"] == list(range(30, 301, 30)), f"real: steps {j['steps']}")
    for sc, w in enumerate(j["families"][0]["scales"]):
        for x in w["seeds"]:
            check(np.float32(x["final"]) == traj_last[sc, x["seed_index"]],
                  f"real {w['scale']} seed {x['seed']}: final {x['final']} != last point "
                  f"{traj_last[sc, x['seed_index']]}")
    n = failures()
    print(f"dynamics: {'OK' if not n else f'{n} FAILED'}")
    return 1 if n else 0


if __name__ == "__main__":
    sys.exit(main())
