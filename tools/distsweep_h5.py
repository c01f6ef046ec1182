#!/usr/bin/python3
"""Load a distsweep result file (docs/design.md §6, format_version 1) into numpy arrays
and a pandas DataFrame, for your own analysis.

    import sys; sys.path.insert(0, "tools")
    import distsweep_h5 as dh
    res = dh.load("out.h5")            # a Results: numpy arrays, see below
    df = dh.to_dataframe(res)          # one row per scale x seed x length
    df[df.status == "done"].groupby(["scale", "length"]).em.mean()

Safe on a file a sweep is still writing: opens with h5py's SWMR reader when it
can (File(fn, 'r', libver='latest', swmr=True)), and reads /runs/status before
everything else (the writer writes a run's status last), cutting or padding
the other datasets to its seed count, as src/results.c does.

Also the few statistics the plots need, with the conventions of `distsweep
report` (docs/analysis.md): counted runs are done and diverged ones, diverged
runs count as EM 0. The C implementation (src/stats.c) is the reference; the
bootstrap here draws from numpy, so its intervals match the report's only up
to Monte-Carlo error.

Per-item results of a corpus task's multiple-choice sets (docs/result-file.md
"Evaluation sets"): res.items[set] = {"chosen": ..., "ll_correct": ...}, each
[scale, seed, item]; in long form, with correctness from the set file's labels:

    df = dh.items_frame(res, "mmlu", labels="mmlu.bin")   # scale, seed, item, chosen, correct, ll_correct

Stored models (run.save_models, docs/result-file.md "Stored models"):

    params, meta = dh.load_model("out.h5", scale=0, seed=3)
    params["layers.0.qkv_w"].shape     # (3*d, d): q, k, v blocks, as src/model.h lays them out

Command line: distsweep_h5.py OUT.h5 [--csv FILE] prints a summary (and writes
the DataFrame as CSV).
"""
import argparse
import sys
from dataclasses import dataclass, field

import h5py
import numpy as np

# The result schema. src/schema.h is its home; tests/store/test_schema.py
# fails when these constants drift from it (or docs/result-file.md does).
FORMAT, FORMAT_VERSION = "distsweep", 1
ROOT_ATTRS = ("format", "format_version", "distsweep_version", "git_commit", "created", "sweep_name",
              "sweep_yaml", "sweep_hash", "precision")
METRICS = ("em", "error", "minprob", "token_acc", "loss")
# a corpus task's file evaluates multiple-choice sets (/eval_sets names them): its
# metrics are these two (src/schema.h ds_eval_kind; docs/result-file.md "Evaluation sets")
SET_METRICS = ("mc_acc", "mc_nll")
STATUS = {0: "pending", 1: "done", 2: "failed", 3: "diverged", 4: "unrequested"}
PENDING, DONE, FAILED, DIVERGED, UNREQUESTED = 0, 1, 2, 3, 4
# /scales columns: name -> dtype (all [n_scales]); name and the ints are required
SCALE_COLUMNS = {"name": "S32", "d_model": "int32", "n_layers": "int32", "n_heads": "int32",
                 "n_params": "int64", "flops_per_step": "float64"}
FIXED_DATASETS = {"seeds": ("int64", ("S",)), "eval_lengths": ("int32", ("E",)),
                  "eval_sets": ("S32", ("E",)), "families/<name>": ("int32", ("k",))}
# The datasets with a seed axis: path -> (dtype, dims, fill, required). The fill
# is what a run never written reads; a dataset shorter than /runs/status (or
# absent, where not required) is padded with it.
SEED_DATASETS = {  # in the order a reader reads them: the commit marks first
    "runs/status": ("uint8", ("n_scales", "S"), 0, True),
    "runs/attempts": ("int32", ("n_scales", "S"), 0, False),
    "runs/steps_done": ("int64", ("n_scales", "S"), 0, False),
    "runs/wall_s": ("float32", ("n_scales", "S"), np.nan, False),
    "runs/rank": ("int32", ("n_scales", "S"), -1, False),
    "runs/final_loss": ("float32", ("n_scales", "S"), np.nan, False),
    "runs/id_em": ("float32", ("n_scales", "S"), np.nan, False),
    **{"metrics/" + m: ("float32", ("n_scales", "S", "E"), np.nan, True) for m in METRICS},
    "curves/train_loss": ("float32", ("n_scales", "S", "n_log"), np.nan, False),
    # train.eval_every: the metric at the report's length at every evaluation
    # point (point i at step (i+1)*eval_every); absent or n_eval 0 without it
    **{"trajectories/" + m: ("float32", ("n_scales", "S", "n_eval"), np.nan, False) for m in METRICS},
    # evaluation sets: required in their kind's files only (load)
    **{"metrics/" + m: ("float32", ("n_scales", "S", "E"), np.nan, False) for m in SET_METRICS},
    **{"trajectories/" + m: ("float32", ("n_scales", "S", "n_eval"), np.nan, False) for m in SET_METRICS},
}
# A file of evaluation sets: per set, /items/<set>/<name> -> (dtype, dims, fill): each
# run's chosen answer (-1: none) and the correct choice's log-likelihood per item, in
# the set file's item order (src/schema.h DS_I_*; the group's attribute n_items).
# Absent in files of synthetic tasks and in files of sets made before them.
ITEMS_GROUP = "items"
ITEM_DATASETS = {"chosen": ("int8", ("n_scales", "S", "n_items"), -1),
                 "ll_correct": ("float32", ("n_scales", "S", "n_items"), np.nan)}
# Stored models: OUT.h5.models/scale<S>-seed<K>.safetensors (src/modelfile.h)
MODEL_FORMAT, MODEL_FORMAT_VERSION = "distsweep-model", 1
LOWER_IS_BETTER = ("error", "loss", "mc_nll")  # success is x <= tau; B and Lin are taken on -x
METRIC_LABELS = {
    "em": "exact match (fraction of examples)",
    "error": "error: mean max per-token loss (nats)",
    "minprob": "min probability of the correct token",
    "token_acc": "token accuracy (fraction of tokens)",
    "loss": "test loss (nats per token)",
    "mc_acc": "multiple-choice accuracy (fraction of items)",
    "mc_nll": "NLL of the correct choice (nats per item)",
}


class NotDistsweep(Exception):
    pass


@dataclass
class Results:
    path: str
    attrs: dict
    scale_names: list          # [n_scales] str
    scales: dict               # column -> [n_scales] array (d_model, n_layers, n_heads, n_params, flops_per_step)
    families: dict             # name -> [k] int array of scale indices, in the family's order
    seeds: np.ndarray          # [S] int64
    eval_lengths: np.ndarray   # [E] int32
    status: np.ndarray         # [n_scales, S] uint8
    runs: dict                 # attempts, steps_done, wall_s, rank, final_loss, id_em: [n_scales, S]
    metrics: dict              # name -> [n_scales, S, E] float (NaN = not run)
    train_loss: np.ndarray = field(default=None)  # [n_scales, S, n_log] or None
    swmr: bool = False
    trajectories: dict = field(default=None)  # metric -> [n_scales, S, n_eval], or None (no eval_every)
    # values families (docs/sweep-file.md "values"): name -> (key, label); their members'
    # values are scales[key] (/scales/<key>, one column per varied key)
    family_keys: dict = field(default_factory=dict)
    # a corpus task's evaluation sets, in the order of the evaluation axis (eval_lengths
    # then holds their indices); None for test lengths
    eval_sets: list = field(default=None)
    # per-item results of the evaluation sets: set name -> {"chosen": int8 [n_scales, S,
    # n_items], "ll_correct": float32 [n_scales, S, n_items]}; {} without them
    items: dict = field(default_factory=dict)

    def family_axis(self, family):
        """(x values, axis label, is_params) of a family's members: the varied value of a
        values family, else the parameter counts."""
        idx = self.families[family]
        if family in self.family_keys:
            key, label = self.family_keys[family]
            if self.family_text(family) is not None:  # text values (model.init.from): positions
                return np.arange(len(idx), dtype=float), label, False
            return np.asarray(self.scales[key], dtype=float)[idx], label, False
        return np.asarray(self.scales["n_params"], dtype=float)[idx], "parameters", True

    def family_text(self, family):
        """The members' values of a values family whose key's values are text (model.init.from:
        /scales/model.init.from, a string column) as str, in the family's order; None for
        numeric keys and the families of model sizes."""
        if family not in self.family_keys:
            return None
        col = np.asarray(self.scales[self.family_keys[family][0]])
        if col.dtype.kind not in "SUO":
            return None
        return [_str(col[i]) for i in self.families[family]]

    @property
    def n_scales(self):
        return len(self.scale_names)

    @property
    def n_seeds(self):
        return len(self.seeds)

    def length_index(self, length):
        hits = np.flatnonzero(self.eval_lengths == int(length))
        if not len(hits):
            raise KeyError(f"length {length} was not evaluated (lengths: {list(self.eval_lengths)})")
        return int(hits[0])

    def default_length(self):
        """The length `distsweep report` shows by default (report_settings)."""
        return self.report_settings()["length"]

    def report_settings(self):
        """What `distsweep report` and `status` show when not told otherwise,
        from the `report:` block of the sweep text stored in the file
        (docs/sweep-file.md "report"; the C side is src/results.c
        ds_results_report_defaults and src/sweep.c ds_report_default_length):
        {metric, length, threshold} and, for headers, {metric,length,
        threshold}_why and note. Each key defaults on its own: metric em,
        threshold 0.5, length the first of task.eval_lengths beyond the largest
        training length, else the largest. A stored text that is not a sweep
        gets the defaults with the largest eval length, and note says why."""
        lengths = [int(x) for x in self.eval_lengths]
        if self.eval_sets is not None:  # a corpus task's sets: mc_acc at the first (or report.set), 0.25
            out = dict(metric="mc_acc", threshold=0.25, length=0, metric_why="default",
                       threshold_why="default", length_why="the first evaluation set", note="")
            import yaml
            try:
                rep = (yaml.safe_load(self.attrs.get("sweep_yaml", "") or "") or {}).get("report") or {}
            except (yaml.YAMLError, AttributeError) as e:
                out["note"] = f"the sweep text stored in the file does not load ({type(e).__name__}: {e})"
                return out
            if "metric" in rep:
                out["metric"], out["metric_why"] = str(rep["metric"]), "report.metric"
            if "threshold" in rep:
                out["threshold"], out["threshold_why"] = float(rep["threshold"]), "report.threshold"
            if rep.get("set") in self.eval_sets:
                out["length"], out["length_why"] = self.eval_sets.index(rep["set"]), "report.set"
            return out
        out = dict(metric="em", threshold=0.5, length=max(lengths) if lengths else None,
                   metric_why="default", threshold_why="default",
                   length_why="the largest eval length: the stored sweep text does not load", note="")
        import yaml  # Debian python3-yaml; only the report settings need it
        try:
            doc = yaml.safe_load(self.attrs.get("sweep_yaml", "") or "")
            task = doc["task"]
            tmax = int(task["train_length"][1])
            evl = [int(x) for x in task["eval_lengths"]]
            rep = doc.get("report") or {}
            if not isinstance(rep, dict):
                raise TypeError("report must be a mapping")
        except (yaml.YAMLError, KeyError, TypeError, IndexError, ValueError) as e:
            out["note"] = f"the sweep text stored in the file does not load ({type(e).__name__}: {e})"
            return out
        beyond = [L for L in evl if L > tmax]
        default = beyond[0] if beyond else max(evl)
        if "metric" in rep:
            out["metric"], out["metric_why"] = str(rep["metric"]), "report.metric"
        if "threshold" in rep:
            out["threshold"], out["threshold_why"] = float(rep["threshold"]), "report.threshold"
        length = int(rep.get("length", default))
        if length not in lengths:  # the stored sweep and /eval_lengths disagree: a hand-edited file
            out["length_why"] = (f"the largest eval length: the stored sweep's length {length} is not "
                                 "in /eval_lengths")
            out["note"] = f"the stored sweep's report length {length} was not evaluated in this file"
        elif "length" in rep:
            out["length"], out["length_why"] = length, "report.length"
        elif beyond:
            out["length"], out["length_why"] = length, f"first eval length beyond train_length max {tmax}"
        else:
            out["length"], out["length_why"] = length, f"no eval length beyond train_length max {tmax}: the largest"
        return out

    def choose(self, metric=None, length=None, threshold=None):
        """The metric, length and threshold to show, as `distsweep report`
        chooses them: an argument that is not None overrides the stored report
        block (report_settings), which overrides the defaults; a stored
        threshold applies only to the stored metric. Returns the settings dict
        with the chosen values and their *_why."""
        rep = self.report_settings()
        out = dict(rep)
        if metric is not None:
            out["metric"], out["metric_why"] = metric, "--metric"
        if threshold is not None:
            out["threshold"], out["threshold_why"] = float(threshold), "--threshold"
        elif out["metric"] != rep["metric"]:
            out["threshold"] = 0.25 if self.eval_sets is not None and out["metric"] == "mc_acc" else 0.5
            out["threshold_why"] = ("default" if rep["threshold_why"] == "default"
                                    else f"default: report.threshold is for {rep['metric']}")
        if length is not None:
            out["length"], out["length_why"] = int(length), "--length"
        return out

    def eval_schedule(self):
        """Where the trajectories' points lie (train.eval_every, docs/result-file.md
        /trajectories): {every, steps, n_points, length} from the sweep text
        stored in the file (train.eval_every, train.steps; length = the report
        length, which with eval_every is the trajectories'), or None when the
        file has no trajectories or its sweep text does not load. Point i is
        the evaluation after step (i + 1) * every."""
        if self.trajectories is None:
            return None
        import yaml
        try:
            train = yaml.safe_load(self.attrs.get("sweep_yaml", "") or "")["train"]
            every, steps = int(train["eval_every"]), int(train["steps"])
        except (yaml.YAMLError, KeyError, TypeError, ValueError):
            return None
        n = next(iter(self.trajectories.values())).shape[2]
        if every <= 0 or steps // every != n:
            return None
        return dict(every=every, steps=steps, n_points=n, length=self.report_settings()["length"])

    def requested(self, scale):
        """Seeds the scale asked for: the whole axis, but for an adaptive
        sweep (src/adaptive.h) the ones not marked unrequested."""
        return int((self.status[scale] != UNREQUESTED).sum())

    def counted(self, metric, scale, length_index):
        """The values of the counted runs of one scale at one length: done runs
        with their (finite) value, diverged runs with EM 0."""
        v = self.metrics[metric][scale, :, length_index].astype(float)
        st = self.status[scale]
        v = np.where((st == DONE) | (st == DIVERGED), v, np.nan)
        if metric == "em":
            v = np.where(st == DIVERGED, 0.0, v)
        return v[np.isfinite(v)]

    def curve_matrix(self, metric, family, length_index):
        """[S, k] values along a family (NaN where a run is not counted)."""
        idx = self.families[family]
        out = np.full((self.n_seeds, len(idx)), np.nan)
        for k, s in enumerate(idx):
            v = self.metrics[metric][s, :, length_index].astype(float)
            st = self.status[s]
            v = np.where((st == DONE) | (st == DIVERGED), v, np.nan)
            if metric == "em":
                v = np.where(st == DIVERGED, 0.0, v)
            out[:, k] = v
        return out


def _read(f, path, shape, fill, dtype, swmr, required=True):
    """Reads a dataset cut or padded to `shape` (the seed axis may differ)."""
    if path not in f:
        if required:
            raise NotDistsweep(f"not a distsweep result file: no dataset {path}")
        return None
    d = f[path]
    if swmr:
        d.refresh()
    a = d[()]
    out = np.full(shape, fill, dtype=dtype)
    sl = tuple(slice(0, min(x, y)) for x, y in zip(a.shape, shape))
    out[sl] = a[sl]
    return out


def _str(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.shape == ():
        return _str(v[()])
    return str(v)


def load(path):
    """Reads a result file into a Results (raises NotDistsweep or OSError)."""
    swmr = True
    try:
        f = h5py.File(path, "r", libver="latest", swmr=True)
    except OSError:
        swmr = False
        try:
            f = h5py.File(path, "r")
        except OSError as e:
            # a writer killed while opening the file (before its switch to SWMR)
            # leaves a write flag that h5py cannot be told to ignore; the C
            # reader can (src/results.c), and the next run recovers the file
            raise OSError(f"{path}: HDF5 cannot open it read-only ({e}); if a distsweep writer was "
                          "killed while opening it, `distsweep status` and `report` still read it "
                          "and the next `distsweep run` recovers it") from e
    with f:
        if _str(f.attrs.get("format", "")) != FORMAT:
            raise NotDistsweep(f"{path}: not a distsweep result file (no format=\"{FORMAT}\" attribute)")
        version = int(f.attrs.get("format_version", 0))
        if version != FORMAT_VERSION:
            raise NotDistsweep(f"{path}: format_version {version} is not supported (this reads {FORMAT_VERSION})")
        attrs = {k: (_str(v) if isinstance(v, (str, bytes)) else v.item() if hasattr(v, "item") else v)
                 for k, v in f.attrs.items()}
        names = [_str(x) for x in f["scales/name"][()]]
        NS = len(names)
        scales = {k: f["scales/" + k][()] for k in SCALE_COLUMNS if k != "name" and "scales/" + k in f}
        families, family_keys = {}, {}
        if "families" in f:
            for k in f["families"]:
                families[k] = f["families/" + k][()].astype(int)
                a = f["families/" + k].attrs
                if "key" in a:  # a values family and its column of /scales
                    key = _str(a["key"])
                    family_keys[k] = (key, _str(a.get("label", key)))
                    scales[key] = f["scales/" + key][()]
        if not families:
            families["all"] = np.argsort(scales["n_params"], kind="stable")
        lengths = f["eval_lengths"][()].astype(np.int32)
        E = len(lengths)
        # the evaluation kind: multiple-choice sets (a corpus task) or test lengths
        eval_sets = [_str(x) for x in f["eval_sets"][()]] if "eval_sets" in f else None
        kind_metrics = SET_METRICS if eval_sets is not None else METRICS
        st = f["runs/status"]
        if swmr:
            st.refresh()
        status = st[()].astype(SEED_DATASETS["runs/status"][0])  # first: the commit marks
        if status.shape[0] != NS:
            raise NotDistsweep(f"{path}: /runs/status has {status.shape[0]} rows but /scales has {NS}")
        S = status.shape[1]
        seeds = _read(f, "seeds", (S,), 0, FIXED_DATASETS["seeds"][0], swmr)
        runs, metrics, tl, traj = {}, {}, None, {}
        for p, (dt, dims, fill, required) in SEED_DATASETS.items():
            if p == "runs/status":
                continue
            if p.split("/")[0] in ("metrics", "trajectories"):
                if p.split("/")[1] not in kind_metrics:
                    continue  # the other kind's names
                required = required or (eval_sets is not None and p.startswith("metrics/"))
            inner = ()
            if dims[-1] == "E":
                inner = (E,)
            elif dims[-1] == "n_log":
                if p not in f:
                    continue  # no curves: train_loss stays None
                inner = (f[p].shape[2],)
            elif dims[-1] == "n_eval":
                if p not in f or f[p].shape[2] == 0:
                    continue  # no evaluation during training: trajectories stays None
                inner = (f[p].shape[2],)
            v = _read(f, p, (NS, S) + inner, fill, dt, swmr, required=required)
            group, name = p.split("/")
            if group == "runs" and v is not None:
                runs[name] = v
            elif group == "metrics":
                metrics[name] = v
            elif group == "curves":
                tl = v
            elif group == "trajectories":
                traj[name] = v
        items = {}
        for name in eval_sets or ():
            g = f"{ITEMS_GROUP}/{name}"
            if g not in f:
                continue  # a file of sets made before items
            items[name] = {k: _read(f, f"{g}/{k}", (NS, S, f[f"{g}/{k}"].shape[2]), fill, dt, swmr)
                           for k, (dt, dims, fill) in ITEM_DATASETS.items()}
    return Results(path, attrs, names, scales, families, seeds, lengths, status, runs, metrics, tl, swmr,
                   traj or None, family_keys, eval_sets, items)


def model_path(path, scale, seed):
    """The stored model file of run (scale index, job seed) of result file path."""
    return f"{path}.models/scale{int(scale)}-seed{int(seed)}.safetensors"


def read_safetensors(fn):
    """A safetensors file of F32 tensors as ({name: float32 array}, metadata, data bytes),
    with numpy only (the format: 8-byte little-endian header length, JSON, data)."""
    import json
    with open(fn, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            raise NotDistsweep(f"{fn}: tensor {name} is {t['dtype']}, not F32")
        b, e = t["data_offsets"]
        tensors[name] = np.frombuffer(data, dtype="<f4", count=(e - b) // 4, offset=b).reshape(t["shape"])
    return tensors, meta, data


def _fnv1a64(data):
    h = 0xcbf29ce484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def load_model(path, scale, seed, verify=True):
    """The stored model of run (scale, seed) of result file path: ({canonical name:
    float32 array in src/model.h's layout}, metadata dict). scale is the row of
    /scales or its name. verify checks the FNV-1a 64 checksum of the data (a
    Python loop: seconds per million parameters). Raises FileNotFoundError when
    the run has no stored model, NotDistsweep when the file is not one."""
    if isinstance(scale, str):
        names = load(path).scale_names
        if scale not in names:
            raise NotDistsweep(f"{path}: no scale named {scale!r} (scales: {', '.join(names)})")
        scale = names.index(scale)
    fn = model_path(path, scale, seed)
    tensors, meta, data = read_safetensors(fn)
    if meta.get("format") != MODEL_FORMAT or meta.get("format_version") != str(MODEL_FORMAT_VERSION):
        raise NotDistsweep(f"{fn}: not a distsweep model file of format_version {MODEL_FORMAT_VERSION}")
    if meta.get("scale") != str(int(scale)) or meta.get("seed") != str(int(seed)):
        raise NotDistsweep(f"{fn}: holds scale {meta.get('scale')} seed {meta.get('seed')}")
    if verify and "%016x" % _fnv1a64(data) != meta.get("checksum_fnv1a64"):
        raise NotDistsweep(f"{fn}: checksum mismatch (file corrupt)")
    return tensors, meta


def to_dataframe(res):
    """One row per scale x seed x length: scale columns, seed, length, status
    (a string), the /runs columns and every metric."""
    import pandas as pd
    NS, S, E = res.n_scales, res.n_seeds, len(res.eval_lengths)
    si, se, li = np.meshgrid(np.arange(NS), np.arange(S), np.arange(E), indexing="ij")
    si, se, li = si.ravel(), se.ravel(), li.ravel()
    cols = {"scale": np.array(res.scale_names, dtype=object)[si], "scale_index": si}
    for k, v in res.scales.items():
        cols[k] = np.asarray(v)[si]
    cols["seed"] = res.seeds[se]
    cols["seed_index"] = se
    cols["length"] = res.eval_lengths[li]
    cols["status"] = pd.Categorical([STATUS.get(int(x), "unknown") for x in res.status[si, se]],
                                    categories=list(STATUS.values()) + ["unknown"])
    for k, v in res.runs.items():
        cols[k] = v[si, se]
    for m in METRICS:
        cols[m] = res.metrics[m][si, se, li]
    return pd.DataFrame(cols)


def read_mc_labels(path):
    """The labels (correct choices, 0-based) of a multiple-choice set file
    (tools/make_mc_eval.py's format, src/mcfile.h), as an int array in item order."""
    with open(path, "rb") as fh:
        data = fh.read()
    head = np.frombuffer(data, "<i4", 256)
    if head[0] != 20261207 or head[1] != 1:
        raise ValueError(f"{path}: not a multiple-choice set file (magic {head[0]}, version {head[1]})")
    tw, n, K = int(head[2]), int(head[3]), int(head[4])
    off, labels = 1024, np.empty(n, dtype=np.int64)
    for i in range(n):
        rec = np.frombuffer(data, "<i4", 2 + 2 * K, off)
        labels[i] = rec[0]
        off += 4 * (2 + 2 * K) + tw * (int(rec[1]) + int(rec[2:2 + K].sum()))
    if off != len(data):
        raise ValueError(f"{path}: {len(data) - off} bytes after the last item")
    return labels


def items_frame(res, set_name, labels=None):
    """One set's per-item results in long form: one row per scale x seed x item,
    with scale, scale_index, seed, seed_index, status (a string), item (0-based, the
    set file's order), chosen (-1: none; -1 too for a run without items: pending,
    diverged), correct (chosen == the item's label, when labels are given: an array,
    or the set file's path, read with read_mc_labels; else missing) and ll_correct
    (the correct choice's log-likelihood, nats; NaN without items). Raises KeyError
    for a set the file has no items of."""
    import pandas as pd
    if set_name not in res.items:
        raise KeyError(f"{res.path} has no per-item results of set {set_name!r} "
                       f"(sets with items: {', '.join(res.items) or 'none'})")
    ch, ll = res.items[set_name]["chosen"], res.items[set_name]["ll_correct"]
    NS, S, N = ch.shape
    si, se, ii = np.meshgrid(np.arange(NS), np.arange(S), np.arange(N), indexing="ij")
    si, se, ii = si.ravel(), se.ravel(), ii.ravel()
    cols = {"scale": np.array(res.scale_names, dtype=object)[si], "scale_index": si,
            "seed": res.seeds[se], "seed_index": se,
            "status": pd.Categorical([STATUS.get(int(x), "unknown") for x in res.status[si, se]],
                                     categories=list(STATUS.values()) + ["unknown"]),
            "item": ii, "chosen": ch[si, se, ii]}
    if isinstance(labels, str):
        labels = read_mc_labels(labels)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (N,):
            raise ValueError(f"{len(labels)} labels for the {N} items of set {set_name!r}")
        cols["correct"] = pd.array(cols["chosen"] == labels[ii], dtype="boolean")
    else:
        cols["correct"] = pd.array([pd.NA] * len(ii), dtype="boolean")
    cols["ll_correct"] = ll[si, se, ii]
    return pd.DataFrame(cols)


def trajectories_frame(res):
    """The trajectories (train.eval_every) in long format: one row per scale x
    seed x evaluation point, with scale, scale_index, seed, seed_index, status
    (a string), point (0-based), step ((point + 1) * eval_every; NaN when the
    stored sweep text does not say), length (the trajectories' test length)
    and every metric's value there (NaN: not evaluated, e.g. a pending run).
    Raises ValueError for a file without trajectories."""
    import pandas as pd
    if res.trajectories is None:
        raise ValueError(f"{res.path} has no trajectories (its sweep did not set train.eval_every)")
    NS, S = res.n_scales, res.n_seeds
    P = next(iter(res.trajectories.values())).shape[2]
    sched = res.eval_schedule()
    si, se, pi = np.meshgrid(np.arange(NS), np.arange(S), np.arange(P), indexing="ij")
    si, se, pi = si.ravel(), se.ravel(), pi.ravel()
    cols = {"scale": np.array(res.scale_names, dtype=object)[si], "scale_index": si,
            "seed": res.seeds[se], "seed_index": se,
            "status": pd.Categorical([STATUS.get(int(x), "unknown") for x in res.status[si, se]],
                                     categories=list(STATUS.values()) + ["unknown"]),
            "point": pi,
            "step": (pi + 1) * sched["every"] if sched else np.full(len(pi), np.nan),
            "length": np.full(len(pi), sched["length"] if sched else -1)}
    for m in METRICS:
        if m in res.trajectories:
            cols[m] = res.trajectories[m][si, se, pi]
    return pd.DataFrame(cols)


# --- statistics for the plots (src/stats.c is the reference) -----------------------

def success(x, tau, resamples=1000, seed=0, lower_is_better=False):
    """p = P(x >= tau) (x <= tau if lower_is_better), mean of the successful
    values, and their 95% percentile bootstrap intervals:
    (p, p_lo, p_hi, m, m_lo, m_hi)."""
    x = np.asarray(x, float)
    n = len(x)
    if n == 0:
        return (np.nan,) * 6
    ok = x <= tau if lower_is_better else x >= tau
    p = ok.mean()
    m = x[ok].mean() if ok.any() else np.nan
    b = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    xb, okb = x[b], ok[b]
    bp = okb.mean(axis=1)
    cnt = okb.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        bm = np.where(okb, xb, 0).sum(axis=1) / cnt
    bm = bm[cnt > 0]
    p_lo, p_hi = np.percentile(bp, [2.5, 97.5])
    m_lo, m_hi = np.percentile(bm, [2.5, 97.5]) if len(bm) else (np.nan, np.nan)
    return p, p_lo, p_hi, m, m_lo, m_hi


def w2(a, b):
    """Exact Wasserstein-2 between two empirical distributions (quantile
    functions integrated over the merged breakpoints i/n and j/m)."""
    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return np.nan
    cuts = np.union1d(np.arange(n + 1) * m, np.arange(m + 1) * n)  # in units of 1/(n m)
    mid = (cuts[:-1] + cuts[1:]) / 2.0
    qa = a[np.minimum((mid // m).astype(int), n - 1)]
    qb = b[np.minimum((mid // n).astype(int), m - 1)]
    return float(np.sqrt(np.sum(np.diff(cuts) * (qa - qb) ** 2) / (n * m)))


def breakthrough(y):
    """(B, Lin) of one curve (docs/spec-tasks.md §7); NaN if the curve has a NaN."""
    y = np.asarray(y, float)
    if np.isnan(y).any():
        return np.nan, np.nan
    if len(y) < 2:
        return 0.0, 0.0
    I = np.sign(np.argmax(y) - np.argmin(y)) * (y.max() - y.min())
    d2 = np.diff(y) ** 2

    def div(a, b):
        if b == 0:
            return 0.0 if a == 0 else np.copysign(np.inf, a)
        return a / b
    return div(I, np.sqrt(np.median(d2))), div(I, np.sqrt(np.mean(d2)))


# With <= 3 scales a curve has at most two steps, whose median of squares is
# their mean, so B = Lin for every seed (src/stats.h ds_stats_b_equals_lin);
# `distsweep report` prints one list and the plots one panel, with this note
# (the same text as DS_REPORT_SAME_NOTE in src/cmd_report.c).
B_EQUALS_LIN_NOTE = ("breakthroughness and linearity coincide with 3 or fewer scales (at most 2 steps: "
                     "median = mean of the squared steps, so B = Lin)")


def b_equals_lin(k):
    """True when B = Lin for every curve over k scales (k <= 3)."""
    return k <= 3


def top_k(values, k):
    """Indices of the k largest non-NaN values, descending, ties by index."""
    v = np.asarray(values, float)
    idx = np.flatnonzero(~np.isnan(v))
    order = idx[np.argsort(-v[idx], kind="stable")]
    return order[:k]


def summary(res, out=sys.stdout):
    p = lambda *a: print(*a, file=out)
    p(f"{res.path}: distsweep result file, format_version {res.attrs.get('format_version')}"
      f"{' (SWMR read)' if res.swmr else ''}")
    for k in ("sweep_name", "sweep_hash", "created", "distsweep_version", "git_commit"):
        p(f"  {k}: {res.attrs.get(k, '')}")
    p(f"  precision: {res.attrs.get('precision', 'fp32')}")
    counts = {name: int((res.status == code).sum()) for code, name in STATUS.items()}
    p(f"  {res.n_scales} scales x {res.n_seeds} seeds x {len(res.eval_lengths)} lengths "
      f"{list(map(int, res.eval_lengths))}; runs: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    for name, idx in res.families.items():
        p(f"  family {name}: " + " < ".join(res.scale_names[i] for i in idx))
    p("  mean EM of counted runs (done; diverged = 0) per scale and length:")
    # an adaptive sweep: each scale has its own seed count (column "seeds")
    adaptive = bool((res.status == UNREQUESTED).any())
    p("    %-12s %12s %5s " % ("scale", "params", "n") + ("%5s " % "seeds" if adaptive else "")
      + " ".join("%7s" % f"L{int(l)}" for l in res.eval_lengths))
    for s in range(res.n_scales):
        n = int(np.isin(res.status[s], (DONE, DIVERGED)).sum())
        ms = [res.counted("em", s, l) for l in range(len(res.eval_lengths))]
        p("    %-12s %12d %5d " % (res.scale_names[s], int(res.scales["n_params"][s]), n)
          + ("%5d " % res.requested(s) if adaptive else "")
          + " ".join("%7.3f" % (v.mean() if len(v) else np.nan) for v in ms))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Summarise a distsweep result file; optionally write it as CSV.")
    ap.add_argument("file")
    ap.add_argument("--csv", help="write the scale x seed x length DataFrame here")
    a = ap.parse_args(argv)
    try:
        res = load(a.file)
    except (NotDistsweep, OSError, KeyError) as e:
        print(f"distsweep_h5: {a.file}: {e}", file=sys.stderr)
        return 2
    summary(res)
    if a.csv:
        to_dataframe(res).to_csv(a.csv, index=False)
        print(f"  wrote {a.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
