#!/usr/bin/env python3
"""Runs the real `distsweep plan` binary on sweep files.

  test_plan_cli.py bad  DISTSWEEP BAD_DIR     every malformed file: exit 2, exactly the
                                              message of its '# expect:' first line, no
                                              stdout, nothing written
  test_plan_cli.py good DISTSWEEP SWEEPS_DIR  the shipped sweeps: table and JSON output
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(exe, args, cwd):
    p = subprocess.run([exe] + args, cwd=cwd, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def expect_error(exe, args, cwd, expected, label):
    """A usage error: exit 2, the one expected line on stderr, nothing on stdout,
    and the working directory unchanged."""
    before = sorted(os.listdir(cwd))
    rc, out, err = run(exe, args, cwd)
    check(rc == 2, f"{label}: exit code {rc}, expected 2")
    check(err.strip() == expected, f"{label}: message\n  got:      {err.strip()!r}\n  expected: {expected!r}")
    check(out == "", f"{label}: printed to stdout: {out[:200]!r}")
    check(sorted(os.listdir(cwd)) == before, f"{label}: the directory changed: {sorted(os.listdir(cwd))}")


def bad(exe, bad_dir):
    files = sorted(f for f in os.listdir(bad_dir) if f.endswith(".yaml"))
    check(len(files) >= 30, f"only {len(files)} malformed sweep files")
    for name in files:
        with open(os.path.join(bad_dir, name), "rb") as f:
            first = f.readline().decode("latin-1").rstrip("\n")
        check(first.startswith("# expect: "), f"{name}: no '# expect:' first line")
        expected = first[len("# expect: "):]
        check(expected.startswith(name + ":"), f"{name}: expected message does not name the file")
        # A private directory per file, so that "nothing was written" is checkable.
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(os.path.join(bad_dir, name), os.path.join(tmp, name))
            expect_error(exe, ["plan", name], tmp, expected, name)
    with tempfile.TemporaryDirectory() as tmp:
        expect_error(exe, ["plan", "missing.yaml"], tmp,
                     "missing.yaml: cannot open sweep file: No such file or directory", "missing file")
        os.mkdir(os.path.join(tmp, "adir"))
        expect_error(exe, ["plan", "adir"], tmp, "adir: is a directory, not a sweep file", "directory")
    print(f"{len(files)} malformed sweep files checked")


def good(exe, sweeps_dir):
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("count", "addition", "smoke", "demo"):
            path = os.path.join(sweeps_dir, name + ".yaml")
            rc, out, err = run(exe, ["plan", path], tmp)
            out_table = out
            check(rc == 0 and err == "", f"{name}: plan exit {rc}: {err}")
            check("GPU-hours" in out and "totals:" in out, f"{name}: table lacks totals")
            rc, out, err = run(exe, ["plan", path, "--format", "json"], tmp)
            check(rc == 0, f"{name}: plan --format json exit {rc}: {err}")
            d = json.loads(out)
            for key in ("scales", "families", "totals"):
                check(key in d, f"{name}: JSON lacks '{key}'")
            for sc in d["scales"]:
                for key in ("width", "depth", "heads", "params", "flops_per_run"):
                    check(key in sc, f"{name}: scale lacks '{key}'")
                check(sc["heads"] * 64 == sc["width"], f"{name}: heads")
            n = len(d["scales"])
            for fam, idx in d["families"].items():
                check(all(0 <= i < n for i in idx), f"{name}: family {fam} index out of range")
            check(d["totals"]["runs"] == n * d["seeds"]["count"], f"{name}: runs total")
            check(abs(d["totals"]["flops"] - sum(s["flops_per_run"] for s in d["scales"]) * d["seeds"]["count"])
                  <= 1e-9 * d["totals"]["flops"], f"{name}: FLOPs total")
            check(os.listdir(tmp) == [], f"{name}: plan wrote {os.listdir(tmp)}")
            if name == "count":
                check(n == 12, f"count: {n} distinct scales, expected 12")
                check(list(d["families"]) == ["width", "depth", "params"], "count: family order")
                check(all(len(v) == 5 for v in d["families"].values()), "count: 3 families of 5")
                by = {(s["width"], s["depth"]): s for s in d["scales"]}
                check(round(by[(64, 4)]["params"] / 1e6, 2) == 0.22, "count: d=64 params")
                check(round(by[(256, 4)]["params"] / 1e6, 2) == 3.24, "count: d=256 params")
                check(round(by[(512, 4)]["params"] / 1e6, 2) == 12.77, "count: d=512 params")
                widths = [d["scales"][i]["width"] for i in d["families"]["params"]]
                check(widths == [512, 384, 256, 192, 128], f"count: params family widths {widths}")
                rc, out, _ = run(exe, ["plan", path], tmp)
                check("3 scales" not in out and "families (3, over 12 distinct scales)" in out,
                      "count: table header")
                check("0.22M" in out and "3.24M" in out and "12.77M" in out, "count: table params")
                rc, out, _ = run(exe, ["plan", path, "--format=json", "--gpu-tflops", "100",
                                       "--efficiency", "0.5"], tmp)
                t = json.loads(out)["totals"]
                check(abs(t["gpu_hours"] - t["flops"] / (100e12 * 0.5) / 3600) <= 1e-4 * t["gpu_hours"],
                      "count: GPU-hours at the stated TFLOP/s and efficiency")
                check(t["rates"] == "flat", "count: --gpu-tflops gives a flat estimate")
                # default: the measured fp32 H100 rate of each scale's width (src/cmd_plan.c,
                # tools/bench/RESULTS.md): 11.1 at d 64, 22.7 at 256, 31.8 at 512, linear in
                # log d between them (d 128: 16.9), the nearest outside
                rate = {s["width"]: s["gpu_tflops"] for s in d["scales"]}
                check(rate[64] == 11.1 and rate[256] == 22.7 and rate[512] == 31.8
                      and abs(rate[128] - 16.9) < 1e-9, f"count: measured rates {rate}")
                t = d["totals"]
                want = sum(s["flops_per_run"] * s["seeds"] / (s["gpu_tflops"] * 1e12) / 3600
                           for s in d["scales"])
                check(t["rates"] == "measured" and t["rates_precision"] == "fp32"
                      and abs(t["gpu_hours"] - want) <= 1e-4 * want,
                      f"count: GPU-hours at the measured rates: {t['gpu_hours']} vs {want}")
                check("measured fp32 rate per width" in out_table and "d 512 31.8" in out_table,
                      "count: the table names the rates it used")
                # a precision not measured yet: fp32's rates stand in, and the table says so
                with open(path) as f:
                    text = f.read()
                assert "precision: fp32" in text
                bf = os.path.join(tmp, "count-bf16.yaml")
                with open(bf, "w") as f:
                    f.write(text.replace("precision: fp32", "precision: bf16"))
                rc, out, _ = run(exe, ["plan", bf], tmp)
                check(rc == 0 and "bf16 is not measured on a GPU yet" in out
                      and "measured fp32 rate per width" in out, "count bf16: stand-in rates said")
                rc, out, _ = run(exe, ["plan", bf, "--format", "json"], tmp)
                tb = json.loads(out)["totals"]
                check(tb["rates_precision"] == "fp32" and abs(tb["gpu_hours"] - t["gpu_hours"]) < 1e-3,
                      "count bf16: JSON names the stand-in precision")
                os.remove(bf)
            if name == "addition":
                check(n == 14, f"addition: {n} distinct scales, expected 14")
        # memory per replica (docs/cuda.md "Memory model"): the tensors and
        # activations grow linearly with the context, the backend's own
        # memory (attention score blocks under their 256 MiB budget, the
        # 32 MiB GEMM workspace, partial sums) stays small beside them
        src = open(os.path.join(sweeps_dir, "count.yaml")).read()
        figs = {}
        for ctx in (257, 513, 1025, 2049):
            p = os.path.join(tmp, f"count_ctx{ctx}.yaml")
            with open(p, "w") as f:
                f.write(src.replace("context: 256", f"context: {ctx}"))
            rc, out, err = run(exe, ["plan", p, "--format", "json"], tmp)
            check(rc == 0, f"count context {ctx}: plan exit {rc}: {err}")
            sc = json.loads(out)["scales"][0]
            figs[ctx - 1] = (sc["bytes_per_replica"], sc["backend_bytes_per_replica"])
            rc, out, _ = run(exe, ["plan", p], tmp)
            check("memory: per replica on the cuda backend" in out, f"count context {ctx}: table lacks memory")
            os.remove(p)
        tensors = {T: b - dev for T, (b, dev) in figs.items()}
        for T in (512, 1024, 2048):
            check(figs[T][0] > figs[T // 2][0], f"plan memory grows with the context ({T})")
        # affine in T: equal steps per position
        step1 = (tensors[1024] - tensors[512]) / 512
        step2 = (tensors[2048] - tensors[1024]) / 1024
        check(step1 > 0 and abs(step1 - step2) <= 1e-9 * step1, f"tensor bytes affine in T: {step1} {step2}")
        for T, (b, dev) in figs.items():
            check(32 << 20 <= dev <= (32 << 20) + (256 << 20) + 4 * b // 10,
                  f"context {T + 1}: backend bytes {dev} outside its bounds")
            print(f"count scale 0, T = {T}: {b / 2**20:.1f} MiB per replica, backend {dev / 2**20:.1f} MiB")
        # train.eval_every: the evaluation cost (docs/sweep-file.md "distsweep plan"),
        # against the formula: points = steps // every, eval_count(L) examples of
        # eval_tokens(L) tokens at the report length (count: vocab - L + 1 of L + 4),
        # forward 2 (L 12 d^2 + V_tot d) T + L 4 T d T with T = tokens - 1
        rc, out, _ = run(exe, ["plan", os.path.join(sweeps_dir, "count.yaml"), "--format", "json"], tmp)
        check(json.loads(out)["evaluation"] is None, "plan: evaluation null without eval_every")
        for every in (100, 1000):
            ev_path = os.path.join(tmp, f"count_eval{every}.yaml")
            with open(ev_path, "w") as f:
                assert "  log_every: 100\n" in src
                f.write(src.replace("  log_every: 100\n", f"  log_every: 100\n  eval_every: {every}\n"))
            rc, out, err = run(exe, ["plan", ev_path, "--format", "json"], tmp)
            check(rc == 0, f"eval_every {every}: plan exit {rc}: {err}")
            d = json.loads(out)
            e = d["evaluation"]
            L = e["length"] if e else 0
            vocab = int(src.split("vocab: ")[1].split()[0])
            vtot = d["vocab_total"]
            T = L + 4 - 1
            want_points = d["steps"] // every
            check(e is not None and e["eval_every"] == every and e["points_per_run"] == want_points,
                  f"eval_every {every}: points {e}")
            check(e["tokens_per_example"] == L + 4 and e["examples_per_point"] == vocab - L + 1,
                  f"eval_every {every}: examples {e}")
            ev_total = 0
            for sc in d["scales"]:
                dm, nl = sc["width"], sc["depth"]
                fwd = 2 * (nl * 12 * dm * dm + vtot * dm) * T + nl * 4 * T * dm * T
                want = want_points * e["examples_per_point"] * fwd
                check(abs(sc["eval_flops_per_run"] - want) <= 1e-9 * want,
                      f"eval_every {every}: scale {sc['index']} eval FLOPs {sc['eval_flops_per_run']} vs {want}")
                ev_total += want * sc["seeds"]
            frac = ev_total / d["totals"]["flops"]
            check(abs(e["fraction_of_training"] - frac) <= 1e-9 * frac and abs(e["flops"] - ev_total) <= 1e-9 * ev_total,
                  f"eval_every {every}: fraction {e['fraction_of_training']} vs {frac}")
            rc, out, _ = run(exe, ["plan", ev_path], tmp)
            check(f"evaluation: train.eval_every {every}: {want_points} points per run at length {L}" in out
                  and f"{100 * frac:.3g}% of training" in out, f"eval_every {every}: table line")
            print(f"count, eval_every {every}: {want_points} points x {e['examples_per_point']} examples, "
                  f"{100 * frac:.3g}% of training FLOPs")
            os.remove(ev_path)
        rc, out, _ = run(exe, ["plan", "--help"], tmp)
        check(rc == 0 and "usage: distsweep plan" in out, "plan --help")
        count = os.path.join(sweeps_dir, "count.yaml")
        expect_error(exe, ["plan", count, "--format", "xml"], tmp,
                     "distsweep plan: --format must be table or json, got 'xml'", "bad --format")
        expect_error(exe, ["plan", count, "--efficiency", "1.5"], tmp,
                     "distsweep plan: --efficiency needs a number in (0, 1], got '1.5'", "bad --efficiency")
        rc, _, _ = run(exe, ["plan"], tmp)
        check(rc == 2, "plan without a file exits 2")


if __name__ == "__main__":
    mode, exe, where = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    {"bad": bad, "good": good}[mode](exe, where)
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        sys.exit(1)
    print("all checks passed")
