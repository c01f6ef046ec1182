#!/usr/bin/python3
"""tools/plot_sweep.py and tools/distsweep_h5.py on a synthetic result file:
every figure is produced as PNG and PDF, and a few figures' content is checked
through the matplotlib objects (violins per panel, axis ranges, legend
entries, CI bands); on a file with trajectories (make_synthetic_results.py
--trajectories) the trajectories and breakthrough figures, their lines
checked against the planted truth. Usage: test_plots.py TOOLS_DIR"""
import os
import subprocess
import sys
import tempfile

import numpy as np

TOOLS = sys.argv[1]
sys.path.insert(0, TOOLS)
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

import distsweep_h5 as dh  # noqa: E402
import plot_sweep  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


tmp = tempfile.mkdtemp(prefix="ds_plots_")
fn = os.path.join(tmp, "syn.h5")
subprocess.run([sys.executable, os.path.join(TOOLS, "make_synthetic_results.py"), fn, "--pending", "4"],
               check=True, capture_output=True)
res = dh.load(fn)

# --- the loader and the DataFrame ----------------------------------------------
NS, S, E = res.n_scales, res.n_seeds, len(res.eval_lengths)
check((NS, S, E) == (6, 40, 3), f"shape {(NS, S, E)}")
df = dh.to_dataframe(res)
check(len(df) == NS * S * E, "one row per scale x seed x length")
for col in ("scale", "n_params", "seed", "length", "status", "em", "error", "minprob", "token_acc", "loss",
            "wall_s", "id_em"):
    check(col in df.columns, f"column {col}")
check(int((df.status == "pending").sum()) == 4 * E and int((df.status == "diverged").sum()) == E, "status column")
row = df[(df.scale == "d64_L2") & (df.seed == 1003) & (df.length == 60)]
check(len(row) == 1 and float(row.em.iloc[0]) == 0.0, "seed 1003 at d64_L2 has EM 0")
check(np.isnan(df[(df.status == "pending")].em).all(), "pending runs have NaN metrics")
p = subprocess.run([sys.executable, os.path.join(TOOLS, "distsweep_h5.py"), fn, "--csv", os.path.join(tmp, "t.csv")],
                   capture_output=True, text=True)
check(p.returncode == 0 and "family depth: d64_L1 < d64_L2 < d64_L3 < d64_L4" in p.stdout, "distsweep_h5 CLI")

# --- figures through matplotlib objects -------------------------------------------
figs = plot_sweep.make_figures(res)
names = {f"{k}_{f}" for k in ("hist", "violin", "curves", "success", "w2", "kde_error") for f in ("depth", "width")}
check(set(figs) == names, f"figures {sorted(figs)}")

# violins: one panel per scale of the family, one violin per test length
axes = [a for a in figs["violin_depth"].axes if a.get_visible()]
check(len(axes) == 4, "violin panels = scales")
for a in axes:
    bodies = [c for c in a.collections if isinstance(c, PolyCollection)]
    check(len(bodies) == E, f"{a.get_title()}: {len(bodies)} violins, want {E}")
    check(a.get_ylim() == (-0.05, 1.05), "violin y range")
    check([t.get_text() for t in a.get_xticklabels()] == ["20", "40", "60"], "violin x tick labels")
    check(a.get_xlabel() == "test length (tokens)", "violin x label")

# histograms: EM on [0,1], counts add up to the counted seeds
axes = [a for a in figs["hist_depth"].axes if a.get_visible()]
for a, s in zip(axes, res.families["depth"]):
    check(a.get_xlim() == (0.0, 1.0), "histogram x range [0,1]")
    total = sum(p.get_height() for p in a.patches)
    check(total == len(res.counted("em", s, res.length_index(60))), f"{a.get_title()}: bar heights sum to n")
    check("exact match" in a.get_xlabel(), "histogram x label")

# scaling curves: 5 + 5 seeds, the planted ones first, log x axis (4 scales: two rankings)
check(len(figs["curves_depth"].axes) == 2, "depth (4 scales): breakthrough and linear panels")
a_b, a_l = figs["curves_depth"].axes
lb = [t.get_text() for t in a_b.get_legend().get_texts()]
ll = [t.get_text() for t in a_l.get_legend().get_texts()]
check(len(lb) == 5 and lb[0].startswith("seed 1003 (B=inf"), f"breakthrough legend {lb}")
check(len(ll) == 5 and ll[0].startswith("seed 1005 (B=3, Lin=3"), f"linear legend {ll}")
check(a_b.get_xscale() == "log" and "parameters" in a_b.get_xlabel(), "curves x axis")
x, y = a_b.lines[0].get_data()
check(list(x) == [int(res.scales["n_params"][s]) for s in res.families["depth"]], "curve x = parameters")
check(np.allclose(y, [0, 0, 0.95, 0.95]), "planted breakthrough curve")

# width has 3 scales: B = Lin for every seed, so one panel and the note
fc = figs["curves_width"]
check(len(fc.axes) == 1, f"width (3 scales): {len(fc.axes)} curve panels, want 1")
notes = [t.get_text().replace("\n", " ") for t in fc.texts]
check(any(dh.B_EQUALS_LIN_NOTE[1:] in n for n in notes), f"B = Lin note {notes}")
check("B = Lin" in fc.axes[0].get_title(), f"one-panel title {fc.axes[0].get_title()}")
check(not any(dh.B_EQUALS_LIN_NOTE[1:] in t.get_text().replace("\n", " ") for t in figs["curves_depth"].texts),
      "no note with 4 scales")
check(dh.b_equals_lin(3) and not dh.b_equals_lin(4), "b_equals_lin")
Y = res.curve_matrix("em", "width", res.length_index(60))
BL = np.array([dh.breakthrough(y) for y in Y])
ok = ~np.isnan(BL[:, 0])
check(ok.sum() > 30 and np.array_equal(BL[ok, 0], BL[ok, 1]), "3 scales: B equals Lin for every seed")

# success: estimate line + CI band per panel, p = 0, 0.5, 1, 1; one shared legend under the panels
a_p, a_m = figs["success_depth"].axes
leg = figs["success_depth"].legends
check(len(leg) == 1 and [t.get_text() for t in leg[0].get_texts()] == ["estimate", "95% bootstrap CI"],
      "success legend")
check(np.allclose(a_p.lines[0].get_ydata(), [0, 0.5, 1, 1]), f"p_success line {a_p.lines[0].get_ydata()}")
band = [c for c in a_p.collections if isinstance(c, PolyCollection)]
check(len(band) == 1, "one CI band")
ys = band[0].get_paths()[0].vertices[:, 1]
check(ys.min() >= 0 and ys.max() <= 1 and ys.max() - ys.min() > 0.2, "band within [0,1] with width")

# W2: one line per test length, 0 at the largest scale
a = figs["w2_depth"].axes[0]
check(len(a.lines) == E and len(a.get_legend().get_texts()) == E, "w2 lines = lengths")
check(all(ln.get_ydata()[-1] == 0 for ln in a.lines), "W2 to itself is 0")
check(all(np.all(np.diff(ln.get_ydata()) < 0) for ln in a.lines), "W2 shrinks toward the largest scale")

# KDE of the error: one density per scale
a = figs["kde_error_width"].axes[0]
check(len(a.lines) == 3 and "error" in a.get_xlabel() and "density" in a.get_ylabel(), "kde lines = scales")
check(all(np.all(ln.get_ydata() >= 0) for ln in a.lines), "densities are non-negative")


# readable as they come: on every figure with a parameter axis the tick labels
# are the scales' counts (no minor labels), no two labels overlap, and no
# legend overlaps an axes' data area
def boxes_overlap(a, b):
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def check_readable(name, fig):
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        if ax.get_xscale() == "log":
            labs = [t for t in ax.get_xticklabels() if t.get_text() and t.get_visible()]
            minor = [t.get_text() for t in ax.get_xticklabels(minor=True) if t.get_text()]
            check(not minor, f"{name}: minor tick labels {minor}")
            check(len(labs) >= 1, f"{name}: no x tick labels")
            bb = [t.get_window_extent(r) for t in labs]
            lo, hi = ax.get_xlim()
            for i in range(len(bb)):
                for j in range(i + 1, len(bb)):
                    check(not boxes_overlap(bb[i], bb[j]),
                          f"{name}: x tick labels {labs[i].get_text()!r} and {labs[j].get_text()!r} overlap")
        legends = ([ax.get_legend()] if ax.get_legend() else []) + list(fig.legends)
        for lg in legends:
            for other in fig.axes:
                if other.get_visible() and other.lines:
                    check(not boxes_overlap(lg.get_window_extent(r), other.get_window_extent(r)),
                          f"{name}: a legend overlaps the data of {other.get_title()!r}")


for name, fig in figs.items():
    if not name.startswith(("hist_", "violin_")):  # the figures with a parameter axis or a legend
        check_readable(name, fig)
for fig in figs.values():
    plt.close(fig)
check(plot_sweep.params_ticks([1e5, 1.02e5, 1.05e5, 2e5, 1e6]) == [1.05e5, 2e5, 1e6],
      f"close scales are thinned {plot_sweep.params_ticks([1e5, 1.02e5, 1.05e5, 2e5, 1e6])}")
check(plot_sweep.fmt_params(110848) == "111k" and plot_sweep.fmt_params(3.2e6) == "3.2M", "fmt_params")

# --- which length: the report block of the stored sweep, else the first eval
# length beyond the training maximum (else the largest), as `distsweep report`
SWEEP = ("name: syn\ntask: {kind: count, vocab: 100, train_length: [1, %d], eval_lengths: [20, 40, 60]}\n"
         "model: {head_dim: 32}\ntrain: {steps: 200, batch: 8, context: 128, lr: 1.0e-3, warmup: 10, log_every: 20}\n"
         "seeds: {count: 40}\nscales:\n  - {family: depth, width: 64, depth: [1, 2, 3, 4]}\n"
         "  - {family: width, depth: 2, width: [32, 64, 128]}\n%s")


def with_sweep(name, text):
    import h5py
    g = os.path.join(tmp, name + ".h5")
    subprocess.run([sys.executable, os.path.join(TOOLS, "make_synthetic_results.py"), g], check=True,
                   capture_output=True)
    with h5py.File(g, "r+") as f:
        f.attrs["sweep_yaml"] = text
    return g


for name, text, want in (
        ("beyond", SWEEP % (30, ""), ("em", 40, 0.5, "first eval length beyond train_length max 30")),
        ("none_beyond", SWEEP % (60, ""), ("em", 60, 0.5, "no eval length beyond train_length max 60: the largest")),
        ("block", SWEEP % (30, "report: {metric: error, length: 20, threshold: 2.5}\n"),
         ("error", 20, 2.5, "report.length")),
        ("not_a_sweep", "name: synthetic\n", ("em", 60, 0.5, "the largest eval length: the stored sweep text does not load"))):
    g = with_sweep(name, text)
    r = dh.load(g)
    ch = r.choose()
    check((ch["metric"], ch["length"], ch["threshold"], ch["length_why"]) == want, f"{name}: choose {ch}")
    check(r.default_length() == want[1], f"{name}: default_length")
    if name in ("beyond", "block"):  # the figures show the chosen view (the rule, and a block)
        figs = plot_sweep.make_figures(r, family="depth")
        check(f"test length {want[1]}" in figs["hist_depth"]._suptitle.get_text(), f"{name}: hist title")
        check(f"threshold {want[2]:g}, test length {want[1]}" in figs["success_depth"]._suptitle.get_text(),
              f"{name}: success title {figs['success_depth']._suptitle.get_text()}")
        check(figs["hist_depth"].axes[0].get_xlabel() == dh.METRIC_LABELS[want[0]], f"{name}: hist metric")
        for fig in figs.values():
            plt.close(fig)
    if name in ("beyond", "not_a_sweep"):  # the command line says which length and why
        p = subprocess.run([sys.executable, os.path.join(TOOLS, "plot_sweep.py"), g, "-o", os.path.join(tmp, name),
                            "--formats", "png", "--family", "width"], capture_output=True, text=True)
        first = p.stdout.splitlines()[0] if p.stdout else ""
        check(p.returncode == 0 and f"length {want[1]} ({want[3]})" in first, f"{name}: CLI header {first!r}")
        check(("note:" in p.stderr) == (name == "not_a_sweep"), f"{name}: note on stderr {p.stderr!r}")
    # flags override the block; a stored threshold belongs to the stored metric
    ch = r.choose(length=40)
    check(ch["length"] == 40 and ch["length_why"] == "--length", f"{name}: --length overrides")
    if name == "block":
        ch = r.choose(metric="em")
        check(ch["threshold"] == 0.5 and ch["threshold_why"] == "default: report.threshold is for error",
              f"block: threshold of another metric {ch}")
        ch = r.choose(metric="error", threshold=1)
        check(ch["threshold"] == 1 and ch["threshold_why"] == "--threshold", "block: --threshold overrides")

# --- the command line: every file, PNG and PDF ---------------------------------------
out = os.path.join(tmp, "figs")
p = subprocess.run([sys.executable, os.path.join(TOOLS, "plot_sweep.py"), fn, "-o", out],
                   capture_output=True, text=True)
check(p.returncode == 0, f"plot_sweep exit {p.returncode}: {p.stderr[-500:]}")
for n in names:
    for ext, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
        path = os.path.join(out, f"{n}.{ext}")
        ok = os.path.exists(path) and os.path.getsize(path) > 1000
        if ok:
            with open(path, "rb") as f:
                ok = f.read(4) == magic
        check(ok, f"{path} written")
p = subprocess.run([sys.executable, os.path.join(TOOLS, "plot_sweep.py"), fn, "-o", out, "--family", "nope"],
                   capture_output=True, text=True)
check(p.returncode == 2 and "no family" in p.stderr, "plot_sweep: unknown family exits 2")

# degenerate files: nothing counted yet, and a single counted seed per scale
import h5py  # noqa: E402
for keep, name in ((0, "empty"), (1, "one")):
    g = os.path.join(tmp, name + ".h5")
    subprocess.run([sys.executable, os.path.join(TOOLS, "make_synthetic_results.py"), g], check=True,
                   capture_output=True)
    with h5py.File(g, "r+") as f:
        st = f["runs/status"][...]
        st[:, keep:] = 0
        f["runs/status"][...] = st
    try:
        r = dh.load(g)
        figs = plot_sweep.make_figures(r)
        check(len(figs) == 12, f"{name}: every figure")
        a = figs["curves_depth"].axes[0]
        check(len(a.lines) == keep, f"{name}: {len(a.lines)} curves")
        for fig in figs.values():
            plt.close(fig)
    except Exception as e:  # noqa: BLE001
        check(False, f"{name}: make_figures raised {e!r}")

# --- the dynamics figures (train.eval_every): trajectories by final mode, survival curves
tj, truth_fn = os.path.join(tmp, "traj.h5"), os.path.join(tmp, "truth.json")
subprocess.run([sys.executable, os.path.join(TOOLS, "make_synthetic_results.py"), tj, "--trajectories",
                "--truth", truth_fn, "--pending", "2"], check=True, capture_output=True)
import json  # noqa: E402
truth = json.load(open(truth_fn))
rt = dh.load(tj)
figs = plot_sweep.make_figures(rt, tb=0.2)
check({"trajectories_depth", "breakthrough_depth"} <= set(figs), f"dynamics figures {sorted(figs)}")
axes = [a for a in figs["trajectories_depth"].axes if a.get_visible()]
check(len(axes) == 3, "trajectories: one panel per scale")
for a, s in zip(axes, rt.families["depth"]):
    counted = [i for i, p in enumerate(truth["scales"][rt.scale_names[s]]) if p is not None]
    seed_lines = [ln for ln in a.lines if len(ln.get_xdata()) == 20]
    check(len(seed_lines) == len(counted), f"{a.get_title()}: {len(seed_lines)} seed lines, want {len(counted)}")
    final = rt.metrics["em"][s, :, rt.length_index(60)]
    n_succ = sum(1 for i in counted if i != truth["diverged_seed_index"] and final[i] >= 0.5)
    green = [ln for ln in seed_lines if ln.get_color() == "C2"]
    check(len(green) == n_succ, f"{a.get_title()}: {len(green)} success-coloured lines, want {n_succ}")
ax = figs["breakthrough_depth"].axes[0]
for ln, name in zip(ax.get_lines(), [rt.scale_names[s] for s in rt.families["depth"]]):
    pts = [p for p in truth["scales"][name] if p is not None]
    want = [1 - sum(1 for p in pts if 0 <= p <= j) / len(pts) for j in range(20)]
    check(np.allclose(ln.get_ydata()[1:], want, atol=1e-12), f"breakthrough {name}: survival != truth")
check_readable("breakthrough_depth", figs["breakthrough_depth"])
check_readable("trajectories_depth", figs["trajectories_depth"])
for fig in figs.values():
    plt.close(fig)
out = os.path.join(tmp, "dynfigs")
p = subprocess.run([sys.executable, os.path.join(TOOLS, "plot_sweep.py"), tj, "-o", out, "--breakthrough-threshold",
                    "0.2"], capture_output=True, text=True)
check(p.returncode == 0, f"plot_sweep (trajectories) exit {p.returncode}: {p.stderr[-500:]}")
for n in ("trajectories_depth", "breakthrough_depth"):
    for ext, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
        path = os.path.join(out, f"{n}.{ext}")
        ok = os.path.exists(path) and os.path.getsize(path) > 1000
        if ok:
            with open(path, "rb") as f:
                ok = f.read(4) == magic
        check(ok, f"{path} written")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
