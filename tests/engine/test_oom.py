"""test_oom: a pack that does not fit in memory is a reported failure, not a crash.

    python3 tests/engine/test_oom.py DISTSWEEP SWEEPS_DIR

The limit is real: every run here is under `ulimit -v` (RLIMIT_AS), where a
pack's allocations really fail (without it Linux overcommits and a large
malloc "succeeds"). It is set from a measurement: the peak virtual size of a
small pack (2 replicas, 2 steps) run without a limit, plus HEADROOM. The large
pack (LARGE replicas: ~1.2 GiB of pack memory at smoke scale 0) cannot fit in
that headroom, so its model allocation fails whatever the build's baseline
(the CUDA libraries alone map ~0.9 GiB); the small pack, whose peak was
measured, runs under the same limit.

Why the headroom is generous: OpenBLAS maps a 128 MiB buffer at the first
sgemm, after the pack's allocations, and when that mmap fails it retries
forever (blas_memory_alloc) instead of failing. A limit that lets the pack's
buffers through but not OpenBLAS's hangs the process; every run here has a
timeout so that such a hang fails the test instead of stalling ctest.

OPENBLAS_NUM_THREADS=1 and OMP_NUM_THREADS=1: OpenBLAS and OpenMP reserve
virtual memory per thread (stacks, buffers), so fixed thread counts keep the
peak the same from run to run and machine to machine.
"""
import os
import re
import resource
import subprocess
import sys
import time

exe, sweeps = sys.argv[1], sys.argv[2]
smoke = os.path.join(sweeps, "smoke.yaml")
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
HEADROOM = 256 << 20  # bytes above the small pack's measured peak
LARGE = 128           # replicas: ~9.4 MiB each at smoke scale 0 (d 64, L 1, batch 16 x 63)
TIMEOUT = 120
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what, file=sys.stderr)


def peak_vm(args):
    """Runs exe args without a limit; returns (rc, the largest VmPeak seen in
    bytes). VmPeak never decreases, so polling it until exit misses at most
    what the last few milliseconds add: the headroom covers that."""
    p = subprocess.Popen([exe, *args], env=ENV, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    peak = 0
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                m = re.search(r"^VmPeak:\s+(\d+) kB", f.read(), re.M)
            if m:
                peak = max(peak, int(m.group(1)) << 10)
        except OSError:  # exited between poll and open
            pass
        time.sleep(0.002)
    return p.returncode, peak


def limited(limit, args):
    """Runs exe args with RLIMIT_AS = limit bytes (ulimit -v); returns the
    CompletedProcess, or None if it did not finish in TIMEOUT seconds."""
    def pre():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        return subprocess.run([exe, *args], env=ENV, preexec_fn=pre, capture_output=True,
                              text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None


small = ["train", smoke, "--scale", "0", "--seeds", "0-1", "--steps", "2", "--quiet"]
large = ["train", smoke, "--scale", "0", "--seeds", f"0-{LARGE - 1}", "--steps", "2", "--quiet"]
rc, peak = peak_vm(small)
check(rc == 0 and peak > 0, f"small pack without a limit: rc {rc}, peak {peak}")
limit = peak + HEADROOM
print(f"small pack peak VmPeak {peak / 2**20:.0f} MiB; limit {limit / 2**20:.0f} MiB", file=sys.stderr)

# the large pack: exit 1 with the allocation named, not an abort (134) or a crash (139)
p = limited(limit, large)
check(p is not None, "large pack: no answer (hung?)")
if p is not None:
    msg = p.stderr.strip()
    check(p.returncode == 1, f"large pack: rc {p.returncode} (want 1): {msg}")
    check(re.search(rf"pack of {LARGE} replicas .*cannot allocate [0-9.]+ (bytes|KiB|MiB|GiB) "
                    r"of [a-z]", msg) is not None, f"large pack: message: {msg}")
    check("on the cpu backend" in msg or "in host memory" in msg, f"large pack: where: {msg}")
    check("assertion failed" not in msg, f"large pack: an assertion: {msg}")

# the same with bench
p = limited(limit, ["bench", smoke, "--scale", "0", "--pack", str(LARGE), "--steps", "1"])
check(p is not None, "bench large pack: no answer (hung?)")
if p is not None:
    check(p.returncode == 1 and f"pack of {LARGE} replicas" in p.stderr and
          "cannot allocate" in p.stderr, f"bench large pack: rc {p.returncode}: {p.stderr}")

# a smaller pack under the same limit trains and evaluates
p = limited(limit, small)
check(p is not None and p.returncode == 0,
      f"small pack under the limit: {'hung' if p is None else (p.returncode, p.stderr)}")

# The scheduler's answer (docs/design.md §7): a sweep whose only pack does
# not fit is split in halves that do, and no run is charged an attempt: with
# run.max_attempts 1 every run ends done, each stored with attempts 1. The
# limit is the measured peak of the same sweep run as packs of HALF plus
# HEADROOM, below what a pack of 2 x HALF needs (HALF x ~9.4 MiB more).
HALF = 64
work = os.path.join(os.getcwd(), "oom_sweep")
os.makedirs(work, exist_ok=True)
with open(smoke) as f:
    text = f.read()
text = (text.replace("depth: [1, 2]", "depth: [1]").replace("count: 4", f"count: {2 * HALF}")
        .replace("steps: 300", "steps: 2").replace("warmup: 30", "warmup: 1")
        .replace("log_every: 20", "log_every: 1")
        .replace("pack: auto", "pack: PACK").replace("max_attempts: 2", "max_attempts: 1"))
check("pack: PACK" in text and f"count: {2 * HALF}" in text, "smoke.yaml changed: fix the test")


def sweep_file(name, pack):
    path = os.path.join(work, name + ".yaml")
    with open(path, "w") as f:
        f.write(text.replace("pack: PACK", f"pack: {pack}"))
    out = os.path.join(work, name + ".h5")
    for suffix in ("", ".journal", ".lock"):
        if os.path.exists(out + suffix):
            os.remove(out + suffix)
    return path, out


y, out = sweep_file("halves", HALF)
rc, peak = peak_vm(["run", y, "-o", out, "--quiet"])
check(rc == 0 and peak > 0, f"sweep in packs of {HALF} without a limit: rc {rc}, peak {peak}")
limit = peak + HEADROOM
print(f"sweep in packs of {HALF}: peak VmPeak {peak / 2**20:.0f} MiB; limit {limit / 2**20:.0f} MiB",
      file=sys.stderr)
y, out = sweep_file("whole", 2 * HALF)
p = limited(limit, ["run", y, "-o", out, "--quiet"])
check(p is not None, "sweep with a pack too large: no answer (hung?)")
if p is not None:
    check(p.returncode == 0, f"sweep with a pack too large: rc {p.returncode}: {p.stderr}")
    check(f"pack of {2 * HALF} run(s)" in p.stderr and "cannot allocate" in p.stderr and
          "no attempt charged" in p.stderr, f"sweep: no out-of-memory retry said: {p.stderr}")
    import h5py  # Debian's python3-h5py: this script runs under /usr/bin/python3
    with h5py.File(out, "r") as f:
        status, attempts = f["runs/status"][()], f["runs/attempts"][()]
    check((status == 1).all(), f"sweep: not every run done: {status}")
    check((attempts == 1).all(), f"sweep: attempts charged: {attempts}")

if failures:
    print(f"{failures} failure(s)", file=sys.stderr)
    sys.exit(1)
print("ok")
