#!/usr/bin/python3
"""The papers' figures for a distsweep result file, as PNG and PDF.

Usage: plot_sweep.py OUT.h5 -o DIR [--metric em] [--length L] [--threshold TAU]
                     [--breakthrough-threshold TB] [--family F] [--top 5]
                     [--formats png,pdf]

Metric, length and threshold: the flags, else the `report:` block of the sweep
stored in the file, else em, the first eval length beyond the largest training
length (else the largest) and 0.5, as `distsweep report` (docs/analysis.md);
the first line printed says which values are used and why.

Per family F (files DIR/<figure>_<F>.png and .pdf):
  hist_<F>        histograms of the metric across seeds, one panel per scale,
                  at the test length
  violin_<F>      violins of the metric across seeds at every test length, one
                  panel per scale (one violin per length)
  curves_<F>      scaling curves (metric vs parameters) of the top-K
                  breakthrough seeds and of the top-K linear seeds (one panel,
                  with a note, where the two rankings coincide: <= 3 scales)
  success_<F>     p_success = P(metric >= TAU) and the mean of the successful
                  runs vs parameters, with 95% bootstrap CI bands
  w2_<F>          Wasserstein-2 distance of each scale's seed distribution to
                  the largest scale of the family, one line per test length
  kde_error_<F>   Gaussian KDE (Scott bandwidth) of the continuous error metric
                  at the test length, one line per scale
and, for a file with trajectories (train.eval_every), at the trajectories'
length (the sweep's report length) whatever the chosen length:
  trajectories_<F>  the metric along training of every counted seed, one panel
                  per scale (condition), coloured by the seed's final mode
                  (success: final metric >= TAU, <= for error and loss)
  breakthrough_<F>  survival curves S(t) per scale: the fraction of counted
                  seeds not yet broken through after step t (breakthrough: the
                  first evaluation from which the metric stays >= TB, default
                  TAU; never, or diverged: censored), as `report --dynamics`
Counted runs as in `distsweep report`: done and diverged (diverged = EM 0).
Statistics: docs/analysis.md. Uses the Agg backend (no display needed).
"""
import argparse
import os
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import ticker  # noqa: E402
from scipy import stats as sps  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distsweep_h5 as dh  # noqa: E402

BOUNDED = {"em", "minprob", "token_acc", "mc_acc"}


PARAMS_LABEL = "parameters (count, log scale)"


def fmt_params(p):
    """A parameter count as a short tick label: 950, 110k, 1.2M, 3.5B."""
    p = float(p)
    for div, suf in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if p >= div:
            return f"{p / div:.3g}{suf}"
    return f"{p:.0f}"


def params_ticks(params, min_frac=0.12):
    """Major tick positions for a log parameter axis: the family's own
    parameter counts, thinned so that neighbours are at least min_frac of the
    axis' log span apart (labels of close scales would overlap). The largest
    scale, the family's reference (W2), is always labelled."""
    p = np.unique(np.asarray(params, float))
    p = p[p > 0][::-1]
    if len(p) == 0:
        return []
    span = np.log10(p[0] / p[-1])
    keep = [p[0]]
    for x in p[1:]:
        if np.log10(keep[-1] / x) >= min_frac * span:
            keep.append(x)
    return keep[::-1]


def log_params_axis(ax, params):
    """A log x axis of parameter counts with one labelled tick per scale
    (params_ticks) and unlabelled minor ticks: matplotlib's default labels
    the minor ticks of a span under a decade, and their labels overlap."""
    ax.set_xscale("log")
    ticks = params_ticks(params)
    if ticks:
        ax.xaxis.set_major_locator(ticker.FixedLocator(ticks))
        ax.xaxis.set_major_formatter(ticker.FixedFormatter([fmt_params(t) for t in ticks]))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel(PARAMS_LABEL)


def family_x(res, fam):
    """The x values of a family's members: parameter counts, or a values family's varied
    value (docs/sweep-file.md "values")."""
    return res.family_axis(fam)[0]


def family_x_axis(ax, res, fam, x):
    """The x axis of a family: log parameters (log_params_axis), or the varied value
    labelled with the family's label, one tick per condition."""
    _, label, is_params = res.family_axis(fam)
    if is_params:
        log_params_axis(ax, x)
        return
    text = res.family_text(fam)  # model.init.from: one tick per base, named by its directory
    ax.xaxis.set_major_locator(ticker.FixedLocator(list(x)))
    ax.xaxis.set_major_formatter(ticker.FixedFormatter(
        [os.path.basename(t.rstrip("/")) for t in text] if text is not None else [f"{v:g}" for v in x]))
    ax.set_xlabel(label)


def _legend_below(ax, ncol=2, fontsize=7):
    """The axes' legend under it, outside the data (below the x label)."""
    return ax.legend(fontsize=fontsize, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=ncol,
                     frameon=False)


def _legend_right(ax, fontsize=8):
    """The axes' legend to its right, outside the data."""
    return ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)


def _grid(n):
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    return rows, cols


def at_point(res, li):
    """The evaluation point li in words: "test length 15", or "set mmlu" for a corpus task's
    evaluation sets."""
    return f"set {res.eval_sets[li]}" if res.eval_sets is not None else f"test length {int(res.eval_lengths[li])}"


def fig_hist(res, fam, metric, li, tau=None):
    """Histograms of the metric across seeds, one panel per scale; with evaluation sets a
    dashed line at the success threshold tau (mc_acc: 0.25 by default, the random guess of
    four choices, as the second paper's Figure 7)."""
    idx = res.families[fam]
    rows, cols = _grid(len(idx))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False, sharey=True)
    bins = np.linspace(0, 1, 21) if metric in BOUNDED else 20
    for k, s in enumerate(idx):
        ax = axes.flat[k]
        v = res.counted(metric, s, li)
        ax.hist(v, bins=bins, color="C0", edgecolor="white")
        if res.eval_sets is not None and tau is not None:
            ax.axvline(tau, color="C3", ls="--", lw=1, label=f"threshold {tau:g}")
        ax.set_title(f"{res.scale_names[s]} ({int(res.scales['n_params'][s]):,} params), n={len(v)}", fontsize=8)
        ax.set_xlabel(dh.METRIC_LABELS[metric], fontsize=8)
        if metric in BOUNDED:
            ax.set_xlim(0, 1)
        if k % cols == 0:
            ax.set_ylabel("seeds (count)")
    for ax in axes.flat[len(idx):]:
        ax.set_visible(False)
    fig.suptitle(f"{fam}: {metric} across seeds at {at_point(res, li)}")
    fig.tight_layout()
    return fig


def fig_violin(res, fam, metric):
    idx = res.families[fam]
    rows, cols = _grid(len(idx))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.8 * rows), squeeze=False, sharey=True)
    E = len(res.eval_lengths)
    for k, s in enumerate(idx):
        ax = axes.flat[k]
        data = [res.counted(metric, s, l) for l in range(E)]
        pos = [i for i in range(E) if len(data[i]) > 0]
        if pos:
            # a single value or all-equal values have no spread: matplotlib's
            # KDE needs some, so jitter nothing and draw them as lines
            parts = ax.violinplot([data[i] for i in pos], positions=pos, showmedians=True, widths=0.8)
            for b in parts["bodies"]:
                b.set_alpha(0.6)
        ax.set_xticks(range(E))
        if res.eval_sets is not None:
            ax.set_xticklabels(res.eval_sets)
            ax.set_xlabel("evaluation set")
        else:
            ax.set_xticklabels([str(int(x)) for x in res.eval_lengths])
            ax.set_xlabel("test length (tokens)")
        if metric in BOUNDED:
            ax.set_ylim(-0.05, 1.05)
        if k % cols == 0:
            ax.set_ylabel(dh.METRIC_LABELS[metric], fontsize=8)
        ax.set_title(f"{res.scale_names[s]} ({int(res.scales['n_params'][s]):,} params)", fontsize=8)
    for ax in axes.flat[len(idx):]:
        ax.set_visible(False)
    fig.suptitle(f"{fam}: {metric} across seeds at each test length")
    fig.tight_layout()
    return fig


def fig_curves(res, fam, metric, li, top):
    idx = res.families[fam]
    params = family_x(res, fam)
    Y = res.curve_matrix(metric, fam, li)
    sign = -1.0 if metric in dh.LOWER_IS_BETTER else 1.0  # B, Lin on -x for error and loss
    BL = np.array([dh.breakthrough(sign * y) for y in Y]) if len(Y) else np.zeros((0, 2))
    same = dh.b_equals_lin(len(idx))  # B = Lin: one ranking, one panel
    panels = ((0, "breakthrough"),) if same else ((0, "breakthrough"), (1, "linear"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 if same else 10, 4.6), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, (col, name) in zip(axes, panels):
        sel = dh.top_k(BL[:, col], top) if len(BL) else []
        for j, s in enumerate(sel):
            B, Lin = BL[s]
            ax.plot(params, Y[s], marker="o", color=f"C{j}",
                    label=f"seed {int(res.seeds[s])} (B={B:.3g}, Lin={Lin:.3g})")
        family_x_axis(ax, res, fam, params)
        if same:
            ax.set_title(f"top {len(sel)} seeds (B = Lin)")
        else:
            ax.set_title(f"top {len(sel)} {name} seeds ({'B' if col == 0 else 'Lin'})")
        if metric in BOUNDED:
            ax.set_ylim(-0.05, 1.05)
        if len(sel):
            _legend_below(ax)
    axes[0].set_ylabel(dh.METRIC_LABELS[metric])
    fig.suptitle(f"{fam}: scaling curves of single seeds, {metric} at {at_point(res, li)}")
    if same:
        note = dh.B_EQUALS_LIN_NOTE[0].upper() + dh.B_EQUALS_LIN_NOTE[1:] + ": one ranking shown."
        fig.text(0.5, 0.01, textwrap.fill(note, 95), ha="center", va="bottom", fontsize=7.5)
        fig.tight_layout(rect=(0, 0.06, 1, 1))
    else:
        fig.tight_layout()
    return fig


def fig_success(res, fam, metric, li, tau):
    idx = res.families[fam]
    params = family_x(res, fam)
    st = np.array([dh.success(res.counted(metric, s, li), tau, lower_is_better=metric in dh.LOWER_IS_BETTER)
                   for s in idx]).reshape(len(idx), 6)
    rel = "≤" if metric in dh.LOWER_IS_BETTER else "≥"
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.9), sharex=True)
    for ax, off, ylabel in ((axes[0], 0, f"P({metric} {rel} {tau:g}) (fraction of seeds)"),
                            (axes[1], 3, f"mean {metric} of successful seeds")):
        ax.plot(params, st[:, off], marker="o", color="C0", label="estimate")
        ax.fill_between(params, st[:, off + 1], st[:, off + 2], color="C0", alpha=0.25,
                        label="95% bootstrap CI")
        family_x_axis(ax, res, fam, params)
        ax.set_ylabel(ylabel)
        if metric in BOUNDED:
            ax.set_ylim(-0.02, 1.02)
    axes[0].set_title("success probability")
    axes[1].set_title("mean of successful runs")
    # seeds per scale differ in an adaptive sweep: say how many each point has
    for x, y, s in zip(params, st[:, 0], idx):
        if np.isfinite(y):
            # below a point near the top, so the label stays inside the axes
            axes[0].annotate(f"n={len(res.counted(metric, s, li))}", (x, y), textcoords="offset points",
                             xytext=(0, -12 if y > 0.85 else 6), ha="center", fontsize=7)
    # one legend for both panels, under them: the panels share their entries
    h, lab = axes[0].get_legend_handles_labels()
    fig.legend(h, lab, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle(f"{fam}: success at threshold {tau:g}, {at_point(res, li)}")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def fig_w2(res, fam, metric):
    idx = res.families[fam]
    params = family_x(res, fam)
    fig, ax = plt.subplots(figsize=(6.8, 3.8))
    for l, L in enumerate(res.eval_lengths):
        ref = res.counted(metric, idx[-1], l)
        d = [dh.w2(res.counted(metric, s, l), ref) for s in idx]
        ax.plot(params, d, marker="o", label=at_point(res, l))
    family_x_axis(ax, res, fam, params)
    ax.set_ylabel(f"W2 to {res.scale_names[idx[-1]]} ({metric} units)")
    ax.set_title(f"{fam}: Wasserstein-2 distance to the largest scale")
    _legend_right(ax)
    fig.tight_layout()
    return fig


def fig_kde_error(res, fam, li):
    """KDE of the continuous error per scale; for evaluation sets, of mc_nll (the second
    paper's Figure 8: the NLL of the correct choice across seeds)."""
    idx = res.families[fam]
    fig, ax = plt.subplots(figsize=(7.2, 3.8))
    cont = "mc_nll" if res.eval_sets is not None else "error"
    vals = [res.counted(cont, s, li) for s in idx]
    allv = np.concatenate(vals) if vals else np.zeros(0)
    L = res.eval_sets[li] if res.eval_sets is not None else int(res.eval_lengths[li])
    if len(allv):
        lo, hi = float(allv.min()), float(allv.max())
        pad = 0.1 * (hi - lo) if hi > lo else 0.5
        grid = np.linspace(max(0.0, lo - pad), hi + pad, 512)
        for k, (s, v) in enumerate(zip(idx, vals)):
            lab = f"{res.scale_names[s]} (n={len(v)})"
            if len(v) >= 2 and np.std(v) > 0:
                ax.plot(grid, sps.gaussian_kde(v)(grid), color=f"C{k}", label=lab)
            elif len(v):  # no spread: a point mass
                ax.axvline(v[0], color=f"C{k}", ls="--", label=lab + " (point mass)")
        ax.set_xlim(grid[0], grid[-1])
    ax.set_xlabel(dh.METRIC_LABELS[cont])
    ax.set_ylabel("density (per nat)")
    ax.set_title(f"{fam}: KDE of {cont} at " + (f"set {L}" if res.eval_sets is not None else f"test length {L}"))
    if ax.lines:
        _legend_right(ax)
    else:
        ax.text(0.5, 0.5, "no counted runs yet", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig


def _dyn_seeds(res, s, metric, tau, tb, li):
    """One scale's counted seeds for the dynamics figures: [(seed index,
    breakthrough point or -1, final success)], as `report --dynamics` counts
    them (docs/analysis.md "Training dynamics"; src/dynamics.c is the
    reference): the report's counted runs, a diverged one censored."""
    lower = metric in dh.LOWER_IS_BETTER
    traj = res.trajectories[metric][s].astype(float)
    out = []
    for i in range(res.n_seeds):
        st = res.status[s, i]
        if st not in (dh.DONE, dh.DIVERGED):
            continue
        v = 0.0 if (st == dh.DIVERGED and metric == "em") else float(res.metrics[metric][s, i, li])
        if not np.isfinite(v):
            continue
        with np.errstate(invalid="ignore"):
            ok = np.where(np.isnan(traj[i]), False, traj[i] <= tb if lower else traj[i] >= tb)
        bad = np.flatnonzero(~ok)
        point = -1 if st == dh.DIVERGED or ok.size == 0 or not ok[-1] else (int(bad[-1]) + 1 if bad.size else 0)
        out.append((i, point, v <= tau if lower else v >= tau))
    return out


def fig_trajectories(res, fam, metric, tau, sched):
    idx = res.families[fam]
    rows, cols = _grid(len(idx))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.8 * rows), squeeze=False, sharey=True)
    li = res.length_index(sched["length"])
    steps = (np.arange(sched["n_points"]) + 1) * sched["every"]
    rel = "≤" if metric in dh.LOWER_IS_BETTER else "≥"
    for k, s in enumerate(idx):
        ax = axes.flat[k]
        seeds = _dyn_seeds(res, s, metric, tau, tau, li)
        for i, _, succ in seeds:
            ax.plot(steps, res.trajectories[metric][s, i], color="C2" if succ else "C3", lw=0.8, alpha=0.6)
        ax.axhline(tau, color="k", ls="--", lw=0.8)
        n_s = sum(1 for x in seeds if x[2])
        ax.set_title(f"{res.scale_names[s]}: {n_s} of {len(seeds)} end {rel} {tau:g}", fontsize=8)
        ax.set_xlabel("training step", fontsize=8)
        if metric in BOUNDED:
            ax.set_ylim(-0.02, 1.02)
        if k % cols == 0:
            ax.set_ylabel(dh.METRIC_LABELS[metric], fontsize=8)
    for ax in axes.flat[len(idx):]:
        ax.set_visible(False)
    from matplotlib.lines import Line2D
    fig.legend([Line2D([], [], color="C2"), Line2D([], [], color="C3"), Line2D([], [], color="k", ls="--")],
               [f"final {metric} {rel} {tau:g} (success mode)", "final: failure mode", f"threshold {tau:g}"],
               loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"{fam}: {metric} during training at test length {sched['length']}, by final mode")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def fig_breakthrough(res, fam, metric, tau, tb, sched):
    idx = res.families[fam]
    li = res.length_index(sched["length"])
    steps = (np.arange(sched["n_points"]) + 1) * sched["every"]
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    for k, s in enumerate(idx):
        seeds = _dyn_seeds(res, s, metric, tau, tb, li)
        pts = np.array([p for _, p, _ in seeds], dtype=int)
        n = len(pts)
        S = [1 - np.sum((pts >= 0) & (pts <= j)) / n if n else np.nan for j in range(len(steps))]
        ax.step(np.concatenate([[0], steps]), np.concatenate([[1.0 if n else np.nan], S]), where="post",
                color=f"C{k}", label=f"{res.scale_names[s]} (n={n}, {int(np.sum(pts >= 0))} broke)")
    ax.axhline(0.5, color="grey", ls=":", lw=0.8)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(0, steps[-1])
    ax.set_xlabel("training step")
    ax.set_ylabel("fraction not yet broken through")
    rel = "≤" if metric in dh.LOWER_IS_BETTER else "≥"
    ax.set_title(f"{fam}: breakthrough ({metric} {rel} {tb:g} to the end), test length {sched['length']}",
                 fontsize=9)
    _legend_right(ax)
    fig.tight_layout()
    return fig


def make_figures(res, metric=None, length=None, tau=None, family=None, top=5, tb=None):
    """Returns {name: Figure} for every figure of every (or one) family.
    metric, length and tau default as `distsweep report` chooses them
    (Results.choose: the stored report block, else the defaults)."""
    ch = res.choose(metric, length, tau)
    metric, tau = ch["metric"], ch["threshold"]
    names = dh.SET_METRICS if res.eval_sets is not None else dh.METRICS
    if metric not in names:
        raise KeyError(f"unknown metric '{metric}' (one of {', '.join(names)})")
    li = res.length_index(ch["length"])
    fams = [family] if family else list(res.families)
    for f in fams:
        if f not in res.families:
            raise KeyError(f"no family '{f}' (families: {', '.join(res.families)})")
    figs = {}
    for f in fams:
        figs[f"hist_{f}"] = fig_hist(res, f, metric, li, tau)
        figs[f"violin_{f}"] = fig_violin(res, f, metric)
        figs[f"curves_{f}"] = fig_curves(res, f, metric, li, top)
        figs[f"success_{f}"] = fig_success(res, f, metric, li, tau)
        figs[f"w2_{f}"] = fig_w2(res, f, metric)
        figs[f"kde_error_{f}"] = fig_kde_error(res, f, li)
        sched = res.eval_schedule()
        if sched is not None and metric in res.trajectories:
            figs[f"trajectories_{f}"] = fig_trajectories(res, f, metric, tau, sched)
            figs[f"breakthrough_{f}"] = fig_breakthrough(res, f, metric, tau, tau if tb is None else tb, sched)
    return figs


def header(ch):
    """The line that says which metric, length and threshold the figures show, and why."""
    rel = "<=" if ch["metric"] in dh.LOWER_IS_BETTER else ">="
    return (f"metric {ch['metric']} ({ch['metric_why']}), length {ch['length']} ({ch['length_why']}), "
            f"success = {ch['metric']} {rel} {ch['threshold']:g} ({ch['threshold_why']})")


def main(argv=None):
    ap = argparse.ArgumentParser(description="The papers' figures for a distsweep result file (PNG and PDF).")
    ap.add_argument("file")
    ap.add_argument("-o", "--out", required=True, help="output directory (created)")
    ap.add_argument("--metric", default=None, choices=dh.METRICS + dh.SET_METRICS)
    ap.add_argument("--length", type=int, default=None)
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--family", default=None)
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--breakthrough-threshold", type=float, default=None)
    ap.add_argument("--formats", default="png,pdf")
    a = ap.parse_args(argv)
    try:
        res = dh.load(a.file)
        ch = res.choose(a.metric, a.length, a.threshold)
        figs = make_figures(res, a.metric, a.length, a.threshold, a.family, a.top, a.breakthrough_threshold)
    except (dh.NotDistsweep, OSError, KeyError) as e:
        print(f"plot_sweep: {a.file}: {e}", file=sys.stderr)
        return 2
    if ch["note"] and None in (a.metric, a.length, a.threshold):
        print(f"plot_sweep: note: {ch['note']}; defaults used", file=sys.stderr)
    print(header(ch))
    os.makedirs(a.out, exist_ok=True)
    for name, fig in figs.items():
        for ext in a.formats.split(","):
            path = os.path.join(a.out, f"{name}.{ext}")
            fig.savefig(path, dpi=130)
            print(path)
        plt.close(fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
