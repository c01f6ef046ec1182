"""procutil: what the Python sweep tests share (tests/mpi/sweeptest.py,
tests/faults/faulttest.py, tests/models/test_models.py): the environment that
runs distsweep under mpirun as root on few cores, the failed-check counter,
finding and reaping the processes of a sweep a test killed, and the
test-local install of transformers and tokenizers."""
import fcntl
import os
import shutil
import sys
import signal
import subprocess
import time

# Open MPI as root, more ranks than cores, one thread per rank (the tests run
# beside each other on CI's two cores)
SWEEP_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                 OMPI_MCA_rmaps_base_oversubscribe="1", OMP_NUM_THREADS="1",
                 OPENBLAS_NUM_THREADS="1")
# under the sanitizer build of docs/result-file.md ("Sanitizers"): a report is
# a crash (abort), never a plain exit 1; leak checking off, because Open MPI
# and OpenBLAS keep allocations until exit that LeakSanitizer reports as leaks
# (leaks of distsweep's own code: the C unit tests, which run without MPI,
# keep it on). No effect on a plain build.
SWEEP_ENV.setdefault("ASAN_OPTIONS", "abort_on_error=1:detect_leaks=0")
SWEEP_ENV.setdefault("UBSAN_OPTIONS", "halt_on_error=1:abort_on_error=1:print_stacktrace=1")

# bytes of a journal holding no record yet (src/journal.h, version 2: magic, created, sweep hash):
# a larger journal has a finished run
JOURNAL_HEADER = 8 + 48 + 8

_failures = 0


def check(cond, msg):
    """Counts and prints a failed check; returns cond so callers can branch on it."""
    global _failures
    if not cond:
        _failures += 1
        print("CHECK FAILED:", msg, flush=True)
    return cond


def failures():
    """The number of failed checks so far."""
    return _failures


def children(pid):
    """The pids whose parent is pid, sorted."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(d))
            except (OSError, IndexError):
                pass
    return sorted(out)


def procs_of(out):
    """Processes with out as one of their arguments (the ranks of a sweep on
    out that a killed mpirun orphaned), this one excepted."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if out.encode() in f.read().split(b"\0"):
                        pids.append(int(d))
            except OSError:
                pass
    return pids


def sigkill(pids):
    """SIGKILLs each of pids that still exists."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def finish(p, timeout=30):
    """Waits up to timeout s for the Popen p (reading its pipes), else kills it and waits."""
    try:
        p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()


def reap(out):
    """SIGKILLs what is left of a killed sweep on out and waits until it is
    gone (a failed check if it survives 10 s)."""
    for _ in range(100):
        pids = procs_of(out)
        if not pids:
            return
        sigkill(pids)
        time.sleep(0.1)
    check(False, f"processes of {out} survive SIGKILL")


# transformers 4.40.x runs on Debian's torch 1.13; these are the packages its import of
# GPTNeoXForCausalLM and AutoTokenizer needs beyond Debian's python3-{numpy,yaml,requests,
# packaging,torch} (found by importing in an empty --target directory)
HF_REQS = ["transformers==4.40.2", "tokenizers==0.19.1", "safetensors==0.8.0",
           "huggingface_hub==0.23.4", "tqdm==4.70.1", "regex==2026.11.19", "fsspec==2026.9.0",
           "filelock==4.3.1"]


def install_hf_deps(pydeps):
    """pip install --no-deps --target PYDEPS of HF_REQS, once (a marker file lists what is
    there; an flock on PYDEPS.lock lets tests running beside each other share the
    directory), then puts PYDEPS first on sys.path."""
    os.makedirs(os.path.dirname(os.path.abspath(pydeps)), exist_ok=True)
    with open(pydeps.rstrip("/") + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = os.path.join(pydeps, ".distsweep-reqs")
        want = "\n".join(HF_REQS) + "\n"
        if not (os.path.exists(marker) and open(marker).read() == want):
            shutil.rmtree(pydeps, ignore_errors=True)
            os.makedirs(pydeps)
            p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                                "--disable-pip-version-check", "--target", pydeps] + HF_REQS,
                               capture_output=True, text=True, timeout=600)
            if p.returncode != 0:
                print(p.stdout, p.stderr)
                raise SystemExit(f"pip install into {pydeps} failed (network to PyPI needed)")
            with open(marker, "w") as f:
                f.write(want)
    sys.path.insert(0, pydeps)
