#!/usr/bin/python3
"""Write a synthetic distsweep result file (docs/design.md §6, format_version 1) with
known distributions, for testing `distsweep report`, tools/plot_sweep.py and
tools/distsweep_h5.py without training anything.

Scales and families (n_params increases along each family):
  family "depth": d64_L1, d64_L2, d64_L3, d64_L4
  family "width": d32_L2, d64_L2, d128_L2          (d64_L2 is shared)
Evaluation lengths 20, 40, 60. At every length, EM per seed is drawn so that
(with the default threshold 0.5):
  d64_L1   unimodal near 0 (Beta(1,20) * 0.3): p_success = 0
  d64_L2   BIMODAL: exactly half the counted seeds fail (EM < 0.3), half
           succeed (EM in [0.6, 1)): p_success = 0.5; one failing seed is
           `diverged` (metrics NaN: it must count as EM 0)
  d64_L3   unimodal, every seed succeeds (EM in [0.6, 1)): p_success = 1
  d64_L4   unimodal near 0.9, every seed succeeds; with --pending K the last K
           seeds are still pending here (status 0, NaN), and seed index S-1 of
           d64_L3 is `failed` (status 2, NaN): both are not counted
  d32_L2   unimodal near 0.1 (p_success = 0);  d128_L2  unimodal near 0.8 (p = 1)
Seed index 3 follows the curve 0, 0, 0.95, 0.95 along "depth" (the unique top
breakthrough seed, B = +inf) and seed index 5 follows 0.1, 0.4, 0.7, 1.0 (the
unique top linear seed, Lin = 3). The other metrics are smooth functions of EM
plus noise; error is continuous and bimodal where EM is.

--populations P1,P2,... (for `distsweep compare`) replaces the scales above:
scale k is d64_L{k+1} (one family "depth"), and each counted seed there
succeeds with probability Pk: EM = 0.6 + 0.4 Beta(6,3) (mean 0.6 + 0.4*6/9),
else 0.3 Beta(2,8) (mean 0.06); so p_success = Pk and mean EM =
Pk*(0.6+0.4*6/9) + (1-Pk)*0.06 in expectation. --repeat R repeats the list R
times (independent draws), for coverage tests. --seed-start sets the seed
values (default 1000): two files with the same --seeds and --seed-start hold
the same seeds (a paired comparison), different starts do not.

--trajectories (for `distsweep report --dynamics`) replaces the scales above:
d64_L1, d64_L2, d64_L3 (one family "depth"), train.steps 200 with
train.eval_every 10, so /trajectories holds 20 points (steps 10 .. 200) at
length 60 (report.length). Each counted seed of scale k breaks through with
probability TRAJ_BREAK[k] at a point b drawn uniformly from 0..19: its EM
trajectory is below 0.15 before b (point b-1 always; earlier points may
spike to [0.25, 0.9] and fall back: a spike is not a breakthrough), and in
[0.25, 1] from b to the end. A seed that broke through early (b < 10) ends in
the success mode (final EM in [0.6, 1]) with probability 0.9, a late one with
0.2 (else final EM in [0.25, 0.45]); a seed that never breaks through ends
below 0.15 (it is censored). The last point equals the final EM at length 60.
Planted at every scale: seed index 0 breaks through at point 0, index 1 at
point 19 (the last: broke through, not censored), index 2 is above 0.25 from
point 10 to 18 and below 0.15 at 19 (censored), index 7 is `diverged` (its
metrics NaN, EM counted 0; its stored trajectory looks broken through but a
diverged run is censored); with --pending K the last K seeds of d64_L3 are
pending. With breakthrough threshold 0.2 the breakthrough point of every
counted seed is therefore known exactly; --truth FILE writes it as JSON
({"eval_every", "steps", "length", "breakthrough_threshold", "scales": {name:
[point per seed index: k, -1 = censored, null = not counted]}}). The other
metrics are exact functions of EM, in their trajectories and at the end:
error = 2(1 - EM) (lower is better: EM >= 0.2 is error <= 1.6), minprob =
EM, token_acc = (1 + EM)/2, loss = (1 - EM)/2.

The stored sweep text loads (src/sweep.h) and names these scales, with
report.length 60; --legacy-text stores the old one-line text that does not
load (the fallback of docs/analysis.md).

--live SECONDS writes the file in SWMR mode, flushes every scale except
d64_L4 (still pending), prints READY, keeps the file open for SECONDS while
other processes read it, then writes d64_L4 and closes.

Usage: make_synthetic_results.py OUT.h5 [--seeds 40] [--pending 0] [--seed 1]
                                         [--live SECONDS] [--steps 200]
                                         [--populations P1,P2,... [--repeat R]]
                                         [--seed-start 1000] [--legacy-text]
                                         [--trajectories [--truth FILE.json]]
"""
import argparse
import datetime
import json
import sys
import time

import h5py
import numpy as np

SCALES = [  # name, d_model, n_layers, n_heads
    ("d64_L1", 64, 1, 1), ("d64_L2", 64, 2, 1), ("d64_L3", 64, 3, 1), ("d64_L4", 64, 4, 1),
    ("d32_L2", 32, 2, 1), ("d128_L2", 128, 2, 2)]
FAMILIES = {"depth": [0, 1, 2, 3], "width": [4, 1, 5]}
LENGTHS = [20, 40, 60]
BREAK_SEED, LINEAR_SEED = 3, 5
BREAK_CURVE = [0.0, 0.0, 0.95, 0.95]
LINEAR_CURVE = [0.1, 0.4, 0.7, 1.0]


def n_params(d, L, vocab=100):
    return 12 * L * d * d + 2 * vocab * d


def draw_em(rng, S):
    """EM [n_scales, S, E] and status [n_scales, S] with the distributions of
    the module docstring."""
    E = len(LENGTHS)
    em = np.zeros((len(SCALES), S, E))
    status = np.ones((len(SCALES), S), np.uint8)
    for l in range(E):
        em[0, :, l] = 0.3 * rng.beta(1, 20, S)
        half = np.arange(S) % 2 == 0  # even seed indices succeed at d64_L2
        em[1, :, l] = np.where(half, 0.6 + 0.4 * rng.beta(6, 3, S), 0.3 * rng.beta(2, 8, S))
        em[2, :, l] = 0.6 + 0.4 * rng.beta(5, 3, S)
        em[3, :, l] = 0.6 + 0.4 * rng.beta(12, 2, S)
        em[4, :, l] = 0.3 * rng.beta(3, 6, S)
        em[5, :, l] = 0.6 + 0.4 * rng.beta(4, 3, S)
        for k, s in enumerate(FAMILIES["depth"]):
            em[s, BREAK_SEED, l] = BREAK_CURVE[k]
            em[s, LINEAR_SEED, l] = LINEAR_CURVE[k]
    # seeds 3 and 5 are odd: they must fail at d64_L2, as their curves do
    assert BREAK_CURVE[1] < 0.5 and LINEAR_CURVE[1] < 0.5 and BREAK_SEED % 2 and LINEAR_SEED % 2
    return em, status


TRAJ_BREAK = [0.3, 0.6, 0.9]  # --trajectories: P(a seed breaks through) per scale
TRAJ_POINTS, TRAJ_EVERY, TRAJ_STEPS = 20, 10, 200
TRAJ_DIVERGED = 7


def draw_trajectories(rng, S):
    """For --trajectories: EM [3, S, E] (the final values), status [3, S],
    the EM trajectories [3, S, TRAJ_POINTS] and the true breakthrough points
    at threshold 0.2 [3, S] (-1 = censored), as the module docstring says."""
    E, P, NS = len(LENGTHS), TRAJ_POINTS, len(TRAJ_BREAK)
    em = np.zeros((NS, S, E))
    traj = np.zeros((NS, S, P))
    point = np.full((NS, S), -1, np.int64)
    status = np.ones((NS, S), np.uint8)
    for k, pb in enumerate(TRAJ_BREAK):
        for s in range(S):
            b = int(rng.integers(0, P)) if rng.random() < pb else -1
            b = {0: 0, 1: P - 1, 2: -1, TRAJ_DIVERGED: 5}.get(s, b)
            y = 0.15 * rng.random(P)  # below 0.15: not a success at 0.2
            spikes = rng.random(P) < 0.2
            y[spikes] = 0.25 + 0.65 * rng.random(int(spikes.sum()))
            if b >= 0:
                early = b < P // 2
                if rng.random() < (0.9 if early else 0.2):
                    final = 0.6 + 0.4 * rng.random()
                else:
                    final = 0.25 + 0.2 * rng.random()
                start = 0.25 + 0.1 * rng.random()
                y[b:] = np.linspace(start, final, P - b) if P - b > 1 else final
                if b > 0:
                    y[b - 1] = 0.15 * rng.random()
            else:
                if s == 2:
                    y[10:P - 1] = 0.8
                y[P - 1] = 0.15 * rng.random()
                final = y[P - 1]
            y[P - 1] = final
            traj[k, s] = y
            point[k, s] = b
            em[k, s, :] = [min(1.0, final + 0.3), min(1.0, final + 0.1), final]
        status[k, TRAJ_DIVERGED] = 3
        point[k, TRAJ_DIVERGED] = -1  # diverged: censored whatever its trajectory
    return em, status, traj, point


def em_functions(em):
    """--trajectories: the other metrics as exact functions of EM."""
    return {"em": em, "error": 2 * (1 - em), "minprob": em.copy(), "token_acc": (1 + em) / 2,
            "loss": (1 - em) / 2}


SUCCESS_MEAN, FAIL_MEAN = 0.6 + 0.4 * 6 / 9, 0.3 * 2 / 10


def draw_populations(rng, S, probs):
    """EM [K, S, E] for --populations: each seed succeeds with probability p."""
    E = len(LENGTHS)
    em = np.zeros((len(probs), S, E))
    for k, p in enumerate(probs):
        for l in range(E):
            succ = rng.random(S) < p
            em[k, :, l] = np.where(succ, 0.6 + 0.4 * rng.beta(6, 3, S), 0.3 * rng.beta(2, 8, S))
    return em, np.ones((len(probs), S), np.uint8)


def sweep_text(S, start, n_depth=None, eval_every=0):
    """A sweep text that loads and whose scales are the file's."""
    if n_depth is None:
        scales = ("  - {family: depth, width: 64, depth: [1, 2, 3, 4]}\n"
                  "  - {family: width, width: [32, 64, 128], depth: 2}\n")
    else:
        scales = "  - {family: depth, width: 64, depth: [%s]}\n" % ", ".join(
            str(k + 1) for k in range(n_depth))
    return ("name: synthetic\n# written by tools/make_synthetic_results.py\n"
            "task: {kind: count, vocab: 100, train_length: [1, 10], eval_lengths: [20, 40, 60]}\n"
            "model: {head_dim: 32}\n"
            "train: {steps: 200, batch: 16, context: 64, lr: 1.0e-3, warmup: 10, log_every: 20%s}\n"
            "seeds: {start: %d, count: %d}\n"
            "scales:\n%s"
            "report: {length: 60}\n"
            "output: synthetic.h5\n" % (", eval_every: %d" % eval_every if eval_every else "",
                                        start, S, scales))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--pending", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--live", type=float, default=None)
    ap.add_argument("--populations", default=None)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--seed-start", type=int, default=1000)
    ap.add_argument("--legacy-text", action="store_true")
    ap.add_argument("--trajectories", action="store_true")
    ap.add_argument("--truth", default=None)
    a = ap.parse_args(argv)
    S, E = a.seeds, len(LENGTHS)
    if S < 8 or S % 2:
        ap.error("--seeds must be even and >= 8")
    rng = np.random.default_rng(a.seed)
    scales, families = SCALES, FAMILIES
    traj = None
    if a.trajectories:
        if a.populations is not None or a.live is not None or a.steps != TRAJ_STEPS:
            ap.error("--trajectories goes without --populations, --live and --steps")
        scales = [("d64_L%d" % (k + 1), 64, k + 1, 2) for k in range(len(TRAJ_BREAK))]
        families = {"depth": list(range(len(TRAJ_BREAK)))}
        em, status, traj, point = draw_trajectories(rng, S)
        div_seed = TRAJ_DIVERGED
    elif a.populations is not None:
        probs = [float(x) for x in a.populations.split(",")] * a.repeat
        if a.pending or a.live is not None or not all(0 <= p <= 1 for p in probs):
            ap.error("--populations takes probabilities in [0, 1], without --pending or --live")
        scales = [("d64_L%d" % (k + 1), 64, k + 1, 2) for k in range(len(probs))]
        families = {"depth": list(range(len(probs)))}
        em, status = draw_populations(rng, S, probs)
        div_seed = None
    else:
        em, status = draw_em(rng, S)
        div_seed = 7  # odd: a failing seed at d64_L2
        status[1, div_seed] = 3
    if a.pending and traj is not None:
        status[2, S - a.pending:] = 0
        point[2, S - a.pending:] = -2  # not counted
    elif a.pending:
        status[3, S - a.pending:] = 0
        status[2, S - 1] = 2
    noise = rng.normal(0, 0.05, em.shape)
    error = np.clip(-np.log(np.clip(em, 1e-3, 1)) * 1.5 + 0.2 + noise, 0.01, None)
    minprob = np.exp(-error)
    token_acc = np.clip(1 - (1 - em) * 0.2 + noise * 0.1, 0, 1)
    loss = error / 4
    metrics = {"em": em, "error": error, "minprob": minprob, "token_acc": token_acc, "loss": loss}
    trajectories = None
    if traj is not None:
        metrics = em_functions(em)
        trajectories = em_functions(traj)
        for m in trajectories.values():
            m[status == 0] = np.nan  # a pending run has no point yet
        if a.truth:
            with open(a.truth, "w") as tf:
                json.dump({"eval_every": TRAJ_EVERY, "steps": TRAJ_STEPS, "length": LENGTHS[-1],
                           "breakthrough_threshold": 0.2, "diverged_seed_index": TRAJ_DIVERGED,
                           "scales": {scales[k][0]: [None if p == -2 else int(p) for p in point[k]]
                                      for k in range(len(scales))}}, tf)
    for m in metrics.values():
        m[status != 1] = np.nan  # pending, failed and diverged runs have no metrics
    n_log = a.steps // a.log_every
    t = (np.arange(n_log) + 1) * a.log_every
    curves = (2.5 * np.exp(-t / 60.0)[None, None, :] + 0.1 * (1 - em[:, :, -1:])
              + rng.normal(0, 0.01, (len(scales), S, n_log)))
    curves[status != 1] = np.nan
    if div_seed is not None:
        curves[1, div_seed, n_log // 2:] = np.nan  # diverged half-way

    kw = dict(libver="latest") if a.live is not None else {}
    f = h5py.File(a.out, "w", **kw)
    f.attrs["format"] = np.bytes_("distsweep")  # fixed-length, as a C writer does
    f.attrs["format_version"] = np.int32(1)
    f.attrs["distsweep_version"] = "0.1.0-synthetic"
    f.attrs["git_commit"] = "synthetic"
    f.attrs["created"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    f.attrs["sweep_name"] = "synthetic"
    f.attrs["sweep_yaml"] = ("name: synthetic\n# written by tools/make_synthetic_results.py\n"
                             if a.legacy_text else
                             sweep_text(S, a.seed_start,
                                        None if a.populations is None and traj is None else len(scales),
                                        TRAJ_EVERY if traj is not None else 0))
    f.attrs["sweep_hash"] = "%016x" % (a.seed * 0x9E3779B97F4A7C15 % 2**64)
    g = f.create_group("scales")
    g["name"] = np.array([s[0] for s in scales], dtype="S16")
    g["d_model"] = np.array([s[1] for s in scales], np.int32)
    g["n_layers"] = np.array([s[2] for s in scales], np.int32)
    g["n_heads"] = np.array([s[3] for s in scales], np.int32)
    g["n_params"] = np.array([n_params(s[1], s[2]) for s in scales], np.int64)
    g["flops_per_step"] = 6.0 * g["n_params"][:] * 16 * 64
    fam = f.create_group("families")
    for name, idx in families.items():
        fam[name] = np.array(idx, np.int32)
    f.create_dataset("seeds", data=np.arange(a.seed_start, a.seed_start + S, dtype=np.int64), chunks=(64,),
                     maxshape=(None,))
    f["eval_lengths"] = np.array(LENGTHS, np.int32)
    NS = len(scales)

    def ds2(name, dtype, fill):
        return f.create_dataset(name, shape=(NS, S), dtype=dtype, chunks=(1, 64), maxshape=(NS, None),
                                fillvalue=fill)

    runs = {"attempts": ds2("runs/attempts", np.int32, 0), "steps_done": ds2("runs/steps_done", np.int64, 0),
            "wall_s": ds2("runs/wall_s", np.float32, np.nan), "rank": ds2("runs/rank", np.int32, -1),
            "final_loss": ds2("runs/final_loss", np.float32, np.nan),
            "id_em": ds2("runs/id_em", np.float32, np.nan)}
    st = ds2("runs/status", np.uint8, 0)
    mds = {k: f.create_dataset("metrics/" + k, shape=(NS, S, E), dtype=np.float32, chunks=(1, 64, E),
                               maxshape=(NS, None, E), fillvalue=np.nan) for k in metrics}
    tds = {} if trajectories is None else {
        k: f.create_dataset("trajectories/" + k, shape=(NS, S, TRAJ_POINTS), dtype=np.float32,
                            chunks=(1, 64, TRAJ_POINTS), maxshape=(NS, None, TRAJ_POINTS),
                            fillvalue=np.nan) for k in trajectories}
    cds = f.create_dataset("curves/train_loss", shape=(NS, S, n_log), dtype=np.float32,
                           chunks=(1, 64, n_log), maxshape=(NS, None, n_log), fillvalue=np.nan)

    def write_scale(i):
        for k, d in mds.items():
            d[i] = metrics[k][i].astype(np.float32)
        cds[i] = curves[i].astype(np.float32)
        for k, d in tds.items():
            d[i] = trajectories[k][i].astype(np.float32)
        ran = status[i] != 0
        runs["attempts"][i] = np.where(ran, 1, 0)
        runs["steps_done"][i] = np.where(status[i] == 1, a.steps, np.where(ran, a.steps // 2, 0))
        runs["wall_s"][i] = np.where(ran, 5.0 + i, np.nan)
        runs["rank"][i] = np.where(ran, 1 + np.arange(S) % 3, -1)
        runs["final_loss"][i] = np.where(status[i] == 1, curves[i, :, -1], np.nan)
        runs["id_em"][i] = np.where(status[i] == 1, np.minimum(1, em[i, :, 0] + 0.05), np.nan)
        f.flush()
        st[i] = status[i]  # the commit mark, last
        f.flush()

    if a.live is None:
        for i in range(NS):
            write_scale(i)
        f.close()
        return 0
    f.swmr_mode = True
    for i in range(NS):
        if i != 3:
            write_scale(i)
    print("READY", flush=True)
    time.sleep(a.live)
    write_scale(3)
    f.close()
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
