#!/usr/bin/python3
"""src/results on a live file: one open handle (SWMR read) sees the runs a
writer commits later after ds_results_refresh, with consistent shapes; and the
arrays agree with the h5py loader. Usage: test_results.py RESULTS_PROBE TOOLS_DIR"""
import os
import subprocess
import sys
import tempfile

import numpy as np

PROBE, TOOLS = sys.argv[1], sys.argv[2]
sys.path.insert(0, TOOLS)
import distsweep_h5 as dh  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def parse(line):
    return dict(kv.split("=") for kv in line.split())


tmp = tempfile.mkdtemp(prefix="ds_results_")
fn = os.path.join(tmp, "live.h5")
w = subprocess.Popen([sys.executable, os.path.join(TOOLS, "make_synthetic_results.py"), fn, "--live", "2"],
                     stdout=subprocess.PIPE, text=True)
check(w.stdout.readline().strip() == "READY", "writer ready")
p = subprocess.Popen([PROBE, fn], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
first = parse(p.stdout.readline())
check(first.get("swmr") == "1", f"opened SWMR-read: {first}")
check(first["S"] == "40" and first["done"] == "199" and first["pending"] == "40", f"before: {first}")
check(w.wait(timeout=30) == 0, "writer done")
p.stdin.write("\n")
p.stdin.flush()
second = parse(p.stdout.readline())
check(second["done"] == "239" and second["pending"] == "0", f"after refresh: {second}")
check(float(second["em_sum"]) > float(first["em_sum"]), "refresh brings the new metrics")
p.stdin.close()
check(p.wait(timeout=10) == 0, "probe exit")

res = dh.load(fn)
em = res.metrics["em"]
check(abs(float(np.nansum(em.astype(np.float64))) - float(second["em_sum"])) < 1e-2, "C and h5py loaders agree")
check(second["families"] == "2" and second["lengths"] == "3", "families and lengths")

# a non-distsweep file: exit 2 with a message
out = subprocess.run([PROBE, os.path.join(tmp, "nope.h5")], capture_output=True, text=True)
check(out.returncode == 2 and "cannot read" in out.stdout, f"missing file: {out.stdout}")
print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
