#!/usr/bin/python3
"""The result schema has one home, src/schema.h; three copies must agree with it:
tools/distsweep_h5.py (its constants), docs/result-file.md (the attribute and dataset
tables: path, type, shape, fill; the status codes; the metric order) and the schema
block of docs/design.md §6 (every path, the /scales columns, the root attributes).

The C side comes from tests/store/schema_json.c, which prints schema.h's tables as
JSON. Each copy is also checked after a deliberate drift (one wrong fill, one
dataset missing, ...), which must be reported: a check that cannot fail is none.

Usage: test_schema.py SCHEMA_JSON_PROGRAM SOURCE_DIR"""
import copy
import json
import math
import re
import subprocess
import sys
import types

PROG, SRC = sys.argv[1], sys.argv[2]
sys.path.insert(0, SRC + "/tools")
import distsweep_h5 as dh  # noqa: E402

schema = json.loads(subprocess.run([PROG], check=True, capture_output=True, text=True).stdout)
DOC_TYPES = {"fixed 32-byte string": "S32"}  # the page's words for numpy's names


def same_fill(a, b):
    if a is None or b is None:
        return a is b
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b and not (isinstance(b, float) and math.isnan(b))


def expand(path):
    """/metrics/{em, error} -> ["/metrics/em", "/metrics/error"]"""
    m = re.fullmatch(r"(.*)\{([^}]*)\}(.*)", path)
    if not m:
        return [path]
    return [m.group(1) + x.strip() + m.group(3) for x in m.group(2).split(",")]


def c_datasets():
    """path -> (type, dims, fill) of every dataset (fill None for fixed ones)."""
    out = {d["path"]: (d["type"], d["dims"], d["fill"]) for d in schema["seed_datasets"]}
    out.update({d["path"]: (d["type"], d["dims"], None) for d in schema["fixed_datasets"]})
    out.update({d["path"]: (d["type"], d["dims"], d["fill"]) for d in schema["item_datasets"]})
    return out


def compare(what, got, want, problems):
    if got != want:
        problems.append(f"{what}: {got!r}, src/schema.h says {want!r}")


# ---- tools/distsweep_h5.py ----------------------------------------------------

def check_python(py):
    p = []
    compare("distsweep_h5.FORMAT", py.FORMAT, schema["format"], p)
    compare("distsweep_h5.FORMAT_VERSION", py.FORMAT_VERSION, schema["format_version"], p)
    compare("distsweep_h5.ROOT_ATTRS", list(py.ROOT_ATTRS), [a["name"] for a in schema["root_attrs"]], p)
    compare("distsweep_h5.METRICS", list(py.METRICS), schema["metrics"], p)
    compare("distsweep_h5.SET_METRICS", list(py.SET_METRICS), schema["set_metrics"], p)
    compare("distsweep_h5.STATUS", py.STATUS, dict(enumerate(schema["status"])), p)
    compare("distsweep_h5.PENDING/DONE/FAILED/DIVERGED/UNREQUESTED",
            [py.PENDING, py.DONE, py.FAILED, py.DIVERGED, py.UNREQUESTED],
            [schema["status"].index(s) for s in ("pending", "done", "failed", "diverged", "unrequested")], p)
    want = {d["path"].lstrip("/"): d for d in schema["seed_datasets"]}
    compare("distsweep_h5.SEED_DATASETS paths", sorted(py.SEED_DATASETS), sorted(want), p)
    for path, (dtype, dims, fill, required) in py.SEED_DATASETS.items():
        w = want.get(path)
        if w is None:
            continue
        compare(f"distsweep_h5.SEED_DATASETS[{path}] dtype", dtype, w["type"], p)
        compare(f"distsweep_h5.SEED_DATASETS[{path}] dims", list(dims), w["dims"], p)
        compare(f"distsweep_h5.SEED_DATASETS[{path}] required", required, w["required"], p)
        if not same_fill(fill, w["fill"]):
            p.append(f"distsweep_h5.SEED_DATASETS[{path}] fill: {fill!r}, src/schema.h says {w['fill']!r}")
    items = {d["path"].split("/")[-1]: d for d in schema["item_datasets"]}
    compare("distsweep_h5.ITEMS_GROUP", py.ITEMS_GROUP, schema["item_datasets"][0]["path"].split("/")[1], p)
    compare("distsweep_h5.ITEM_DATASETS names", sorted(py.ITEM_DATASETS), sorted(items), p)
    for name, (dtype, dims, fill) in py.ITEM_DATASETS.items():
        w = items.get(name)
        if w is None:
            continue
        compare(f"distsweep_h5.ITEM_DATASETS[{name}] dtype", dtype, w["type"], p)
        compare(f"distsweep_h5.ITEM_DATASETS[{name}] dims", list(dims), w["dims"], p)
        if not same_fill(fill, w["fill"]):
            p.append(f"distsweep_h5.ITEM_DATASETS[{name}] fill: {fill!r}, src/schema.h says {w['fill']!r}")
    fixed = {d["path"].lstrip("/"): d for d in schema["fixed_datasets"]}
    compare("distsweep_h5.SCALE_COLUMNS", py.SCALE_COLUMNS,
            {k.split("/")[1]: d["type"] for k, d in fixed.items() if k.startswith("scales/")}, p)
    compare("distsweep_h5.FIXED_DATASETS", {k: (t, list(d)) for k, (t, d) in py.FIXED_DATASETS.items()},
            {k: (d["type"], d["dims"]) for k, d in fixed.items() if not k.startswith("scales/")}, p)
    return p


# ---- docs/result-file.md -------------------------------------------------------

def table_rows(text, header):
    """The cells of the rows of the markdown table whose header line starts with `header`."""
    lines = text.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith(header)), None)
    if start is None:
        return None
    rows = []
    for l in lines[start + 2:]:
        if not l.startswith("|"):
            break
        rows.append([c.strip() for c in l.strip().strip("|").split("|")])
    return rows


def unquote(cell):
    return cell.strip("`")


def check_doc(text):
    p = []
    m = re.search(r"^# The result file \(format version (\d+)\)", text, re.M)
    compare("result-file.md title's format version", int(m.group(1)) if m else None, schema["format_version"], p)
    attrs = table_rows(text, "| attribute | type | value |")
    if attrs is None:
        return p + ["result-file.md: no attribute table"]
    compare("result-file.md root attributes", [(unquote(r[0]), r[1]) for r in attrs],
            [(a["name"], a["type"]) for a in schema["root_attrs"]], p)
    values = {unquote(r[0]): unquote(r[2]) for r in attrs}
    compare("result-file.md format value", values.get("format"), schema["format"], p)
    compare("result-file.md format_version value", values.get("format_version"), str(schema["format_version"]), p)
    rows = table_rows(text, "| dataset | type | shape | fill | meaning |")
    if rows is None:
        return p + ["result-file.md: no dataset table"]
    doc = {}
    for path, typ, shape, fill, meaning in rows:
        for x in expand(unquote(path)):
            f = None if fill == "" else float("nan") if fill == "NaN" else int(fill)
            doc[x] = (DOC_TYPES.get(typ, typ), [d.strip() for d in shape.strip("[]").split(",")], f)
        if unquote(path) == "/runs/status":
            codes = dict((int(k), v) for k, v in re.findall(r"(\d+) (pending|done|failed|diverged|unrequested)", meaning))
            compare("result-file.md status codes", codes, dict(enumerate(schema["status"])), p)
        if unquote(path).startswith("/metrics/") and "/metrics/em" in expand(unquote(path)):
            compare("result-file.md metric order", [x.split("/")[-1] for x in expand(unquote(path))],
                    schema["metrics"], p)
    want = c_datasets()
    # a values family's columns (src/store.c write_scales): documented, not in the table of src/schema.h
    want["/scales/<key>"] = ("float64", ["n_scales"], None)
    compare("result-file.md dataset paths", sorted(doc), sorted(want), p)
    for path in sorted(set(doc) & set(want)):
        (dt, dd, df), (wt, wd, wf) = doc[path], want[path]
        compare(f"result-file.md {path} type", dt, wt, p)
        compare(f"result-file.md {path} shape", dd, wd, p)
        if not same_fill(df, wf):
            p.append(f"result-file.md {path} fill: {df!r}, src/schema.h says {wf!r}")
    return p


# ---- docs/design.md §6 ---------------------------------------------------------

def check_design(text):
    p = []
    m = re.search(r"^## 6\. Result file.*?^```\n(.*?)^```", text, re.M | re.S)
    if not m:
        return ["design.md: no schema block in §6"]
    block = m.group(1)
    paths = set()
    for line in block.splitlines():
        first = line.split("   ")[0].strip() if line.startswith("/") else ""
        if first.startswith(("/runs", "/metrics", "/curves", "/trajectories")):
            paths.update(expand(first.split()[0] if "{" not in first else first))
    compare("design.md §6 seed-axis datasets", sorted(paths),
            sorted(d["path"] for d in schema["seed_datasets"]), p)
    cols = re.search(r"^/scales\s+one dataset per column: (.*)$", block, re.M)
    compare("design.md §6 /scales columns", [c.strip() for c in cols.group(1).split(",")] if cols else None,
            [d["path"].split("/")[-1] for d in schema["fixed_datasets"] if d["path"].startswith("/scales/")], p)
    attrs = re.search(r"^/\s+attrs: (.*?)^/scales", block, re.M | re.S)
    names = [re.sub(r"[=(].*", "", a).strip() for a in attrs.group(1).replace("\n", " ").split(",")] if attrs else None
    compare("design.md §6 root attributes", names, [a["name"] for a in schema["root_attrs"]], p)
    return p


# ---- the checks, and the checks of the checks -----------------------------------

failures = []
for what, problems in (("tools/distsweep_h5.py", check_python(dh)),
                       ("docs/result-file.md", check_doc(open(SRC + "/docs/result-file.md").read())),
                       ("docs/design.md", check_design(open(SRC + "/docs/design.md").read()))):
    for x in problems:
        failures.append(x)
        print("FAIL:", x, file=sys.stderr)
    print(f"{what}: {'agrees with src/schema.h' if not problems else f'{len(problems)} disagreement(s)'}")


def drifted_python(change):
    ns = types.SimpleNamespace(**{k: copy.deepcopy(getattr(dh, k)) for k in dir(dh) if k.isupper()})
    change(ns)
    return ns


doc_text = open(SRC + "/docs/result-file.md").read()
design_text = open(SRC + "/docs/design.md").read()
drifts = {
    "python: a fill": lambda: check_python(drifted_python(
        lambda ns: ns.SEED_DATASETS.__setitem__("runs/attempts", ("int32", ("n_scales", "S"), -1, False)))),
    "python: a dataset left out": lambda: check_python(drifted_python(lambda ns: ns.SEED_DATASETS.pop("runs/id_em"))),
    "python: an item fill": lambda: check_python(drifted_python(
        lambda ns: ns.ITEM_DATASETS.__setitem__("chosen", ("int8", ("n_scales", "S", "n_items"), 0)))),
    "doc: an item dataset's type": lambda: check_doc(doc_text.replace("| `/items/<set>/chosen` | int8 |",
                                                                      "| `/items/<set>/chosen` | uint8 |")),
    "python: metric order": lambda: check_python(drifted_python(
        lambda ns: setattr(ns, "METRICS", ("error", "em", "minprob", "token_acc", "loss")))),
    "doc: a fill": lambda: check_doc(doc_text.replace("| `/runs/rank` | int32 | [n_scales, S] | -1 |",
                                                      "| `/runs/rank` | int32 | [n_scales, S] | 0 |")),
    "doc: a type": lambda: check_doc(doc_text.replace("| `/runs/steps_done` | int64 |", "| `/runs/steps_done` | int32 |")),
    "doc: a dataset left out": lambda: check_doc(re.sub(r"^\| `/runs/id_em`.*\n", "", doc_text, flags=re.M)),
    "doc: a shape": lambda: check_doc(doc_text.replace("| [n_scales, S, n_log] |", "| [n_scales, S] |")),
    "design: id_em left out": lambda: check_design(design_text.replace(", id_em}", "}")),
}
for name, run in drifts.items():
    if not run():
        failures.append(f"drift not detected: {name}")
        print(f"FAIL: drift not detected: {name}", file=sys.stderr)
print(f"{len(drifts)} deliberate drifts: {'all detected' if all(run() for run in drifts.values()) else 'NOT all detected'}")
print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
