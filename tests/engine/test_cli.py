"""test_cli: `distsweep train` and `distsweep bench` end to end (output formats, exit codes).

    python3 tests/engine/test_cli.py DISTSWEEP SWEEPS_DIR
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile

exe, sweeps = sys.argv[1], sys.argv[2]
smoke = os.path.join(sweeps, "smoke.yaml")
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what, file=sys.stderr)


def run(*args):
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=300)


# train: JSON with every metric per eval length, the curve, statuses
p = run("train", smoke, "--scale", "0", "--seeds", "3,5", "--steps", "20", "--format", "json")
check(p.returncode == 0, f"train rc {p.returncode}: {p.stderr}")
j = json.loads(p.stdout)
check(j["eval_lengths"] == [10, 15, 20], "eval lengths")
check([r["seed"] for r in j["runs"]] == [3, 5], "seeds")
for r in j["runs"]:
    check(r["status"] == "done" and r["steps_done"] == 20, "status/steps")
    for m in ("em", "error", "minprob", "token_acc", "loss"):
        check(len(r[m]) == 3 and all(v is not None for v in r[m]), f"metric {m}")
    check(all(0 <= v <= 1 for v in r["em"] + r["minprob"] + r["token_acc"]), "ranges")
    check(len(r["train_loss"]) == 1 and r["train_loss"][0] > r["final_loss"] > 0, "curve")

# the same seed alone gives the same numbers (packing is invisible)
p1 = run("train", smoke, "--scale", "0", "--seeds", "5", "--steps", "20", "--format", "json")
r1 = json.loads(p1.stdout)["runs"][0]
check(r1["em"] == j["runs"][1]["em"] and r1["final_loss"] == j["runs"][1]["final_loss"],
      "seed 5 alone differs from seed 5 in a pack")

# text output names every seed
p = run("train", smoke, "--scale", "1", "--seeds", "0-1", "--steps", "3", "--quiet")
check(p.returncode == 0 and "seed 0:" in p.stdout and "seed 1:" in p.stdout, "text output")

# checkpoint: a completed run leaves its file; rerunning resumes at the end (no training)
with tempfile.TemporaryDirectory() as d:
    ck = os.path.join(d, "p.ckpt")
    a = run("train", smoke, "--seeds", "2", "--steps", "30", "--checkpoint", ck, "--format", "json")
    # checkpoint_every is 100 in smoke.yaml: nothing periodic within 30 steps
    check(a.returncode == 0 and not os.path.exists(ck), "no checkpoint expected without a stop")
    with open(ck, "wb") as f:
        f.write(b"garbage!" * 8)
    b = run("train", smoke, "--seeds", "2", "--steps", "30", "--checkpoint", ck)
    check(b.returncode == 1 and "bad magic" in b.stderr, f"corrupt checkpoint: rc {b.returncode} {b.stderr}")

# Ctrl-C with --checkpoint: exit 3 at a step boundary, rerun resumes, same numbers as uninterrupted
with tempfile.TemporaryDirectory() as d:
    ck = os.path.join(d, "s.ckpt")
    args = ["train", smoke, "--scale", "1", "--seeds", "4", "--steps", "200", "--format", "json"]
    proc = subprocess.Popen([exe, *args, "--checkpoint", ck], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # wait for the first progress line: training is under way
        if line.startswith("step "):
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=300)
    check(proc.returncode == 3 and os.path.exists(ck), f"interrupt: rc {proc.returncode}, {err}")
    # the checkpoint of another learning rate (another sweep hash) is refused, untouched
    other = os.path.join(d, "other-lr.yaml")
    with open(smoke) as f:
        text = f.read()
    with open(other, "w") as f:
        f.write(re.sub(r"lr: [0-9.e-]+", "lr: 1.0e-4", text, count=1))
    before = open(ck, "rb").read()
    o = run("train", other, *args[2:], "--checkpoint", ck)
    check(o.returncode == 1 and "made with other hyperparameters" in o.stderr,
          f"another sweep's checkpoint: rc {o.returncode}: {o.stderr[-300:]}")
    check(open(ck, "rb").read() == before, "a refused checkpoint was modified")
    resumed = run(*args, "--checkpoint", ck)
    straight = run(*args)
    check(resumed.returncode == 0 and straight.returncode == 0, "resume/straight rc")
    ra, rb = json.loads(resumed.stdout)["runs"][0], json.loads(straight.stdout)["runs"][0]
    for k in ("em", "error", "minprob", "token_acc", "loss", "final_loss", "train_loss", "steps_done"):
        check(ra[k] == rb[k], f"resumed run differs from the uninterrupted one in {k}")

# usage errors: exit 2, a message
for args in (["train", smoke, "--scale", "9"], ["train", smoke, "--seeds", "x"],
             ["train", "/nonexistent.yaml"], ["bench", smoke, "--pack", "0"],
             ["bench", smoke, "--backend", "tpu"], ["bench", smoke, "--steps", "0"]):
    p = run(*args)
    check(p.returncode == 2 and p.stderr.strip(), f"{args}: rc {p.returncode}")

# bench: JSON figures
p = run("bench", smoke, "--scale", "0", "--pack", "2", "--steps", "2", "--format", "json")
check(p.returncode == 0, f"bench rc {p.returncode}: {p.stderr}")
b = json.loads(p.stdout)
check(b["pack"] == 2 and b["steps_per_s"] > 0 and b["gflops"] > 0 and b["tokens_per_s"] > 0, "bench figures")
check(abs(b["tokens_per_s"] - 2 * 16 * 63 * b["steps_per_s"]) < 1e-3 * b["tokens_per_s"], "tokens/s")
check(0 < b["step_s_min"] <= b["step_s"] + 1e-9, "fastest step within the mean")

# OpenBLAS kernels (backend_cpu.c): a kernel class below the CPU's is replaced
# once at start-up, unless OPENBLAS_CORETYPE names another choice or
# DISTSWEEP_KEEP_OPENBLAS_CORETYPE=1; bench reports the core in use.
CLASS = {"cooperlake": 3, "sapphirerapids": 3, "skylakex": 2, "haswell": 1, "zen": 1}
flags = set()
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
best = 3 if "avx512_bf16" in flags else 2 if "avx512f" in flags else \
    1 if {"avx2", "fma"} <= flags else 0


def core_with(**env):
    e = {k: v for k, v in os.environ.items()
         if k not in ("OPENBLAS_CORETYPE", "DISTSWEEP_KEEP_OPENBLAS_CORETYPE", "DISTSWEEP_REEXECED")}
    e.update(env)
    p = subprocess.run([exe, "bench", smoke, "--steps", "1", "--warmup-steps", "0", "--format", "json"],
                       capture_output=True, text=True, timeout=120, env=e)
    check(p.returncode == 0, f"bench with {env}: rc {p.returncode}: {p.stderr}")
    return json.loads(p.stdout)["openblas_core"].lower() if p.returncode == 0 else ""


if best:
    for env in ({}, {"OPENBLAS_CORETYPE": "Haswell"}):
        c = core_with(**env)
        check(CLASS.get(c, 0) >= best, f"with {env or 'OPENBLAS_CORETYPE unset'}: OpenBLAS core {c}, "
              f"below this CPU's class {best}")
    check(core_with(OPENBLAS_CORETYPE="Prescott") == "prescott", "a user's OPENBLAS_CORETYPE is kept")
    check(core_with(OPENBLAS_CORETYPE="Haswell", DISTSWEEP_KEEP_OPENBLAS_CORETYPE="1") == "haswell",
          "DISTSWEEP_KEEP_OPENBLAS_CORETYPE=1 keeps OpenBLAS's choice")
else:
    print("OpenBLAS core checks skipped: no AVX2/AVX-512 on this CPU")

# DISTSWEEP_CPU_OPTIMES=1: a per-op table on stderr, the same figures on stdout
e = dict(os.environ, DISTSWEEP_CPU_OPTIMES="1")
p = subprocess.run([exe, "bench", smoke, "--steps", "2", "--format", "json"], capture_output=True,
                   text=True, timeout=120, env=e)
check(p.returncode == 0 and json.loads(p.stdout)["steps"] == 2, f"bench with op times: {p.stderr}")
ops = {ln.split()[0]: int(ln.split()[1]) for ln in p.stderr.splitlines()
       if ln.startswith("  ") and len(ln.split()) >= 5 and ln.split()[2] == "calls"}
# smoke scale 0: 1 layer; 3 steps (1 warm-up + 2 timed), each with 4 linear layers + the head
check(ops.get("matmul_fwd") == 3 * 5 and ops.get("adamw") == 3 and ops.get("attention_bwd") == 3,
      f"op table: {ops}")

print("all checks passed" if not failures else f"{failures} check(s) failed")
sys.exit(1 if failures else 0)
