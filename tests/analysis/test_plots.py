#!/usr/bin/python3
"""tools/plot_sweep.py and tools/distsweep_h5.py on a synthetic result file:
every figure is produced as PNG and PDF, and a few figures' content is checked
through the matplotlib objects (violins per panel, axis ranges, legend
entries, CI bands). Usage: test_plots.py TOOLS_DIR"""
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

# scaling curves: 5 + 5 seeds, the planted ones first, log x axis
a_b, a_l = figs["curves_depth"].axes
lb = [t.get_text() for t in a_b.get_legend().get_texts()]
ll = [t.get_text() for t in a_l.get_legend().get_texts()]
check(len(lb) == 5 and lb[0].startswith("seed 1003 (B=inf"), f"breakthrough legend {lb}")
check(len(ll) == 5 and ll[0].startswith("seed 1005 (B=3, Lin=3"), f"linear legend {ll}")
check(a_b.get_xscale() == "log" and "parameters" in a_b.get_xlabel(), "curves x axis")
x, y = a_b.lines[0].get_data()
check(list(x) == [int(res.scales["n_params"][s]) for s in res.families["depth"]], "curve x = parameters")
check(np.allclose(y, [0, 0, 0.95, 0.95]), "planted breakthrough curve")

# success: estimate line + CI band per panel, p = 0, 0.5, 1, 1
a_p, a_m = figs["success_depth"].axes
check([t.get_text() for t in a_p.get_legend().get_texts()] == ["estimate", "95% bootstrap CI"], "success legend")
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

for fig in figs.values():
    plt.close(fig)

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

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
