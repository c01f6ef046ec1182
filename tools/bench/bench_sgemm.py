"""bench_sgemm: what OPENBLAS_CORETYPE and thread settings do for OUR sgemm shapes.

OpenBLAS 0.3.21 picks AVX2 (Haswell) kernels on these AVX-512 machines when
OPENBLAS_CORETYPE=Haswell is set (the machines' environment does) and its own
detection otherwise. This times, through NumPy's float32 matmul (Debian's NumPy
calls cblas_sgemm of the same libopenblas the engine links), the matrix
products of one training step of the count model at width d (depth 4, vocab
154, batch x (context-1) tokens): the forward products, both backward products
of every linear layer, and per-(row, head) attention products, each a
separate sgemm. Every (coretype, threads) setting runs in a fresh process,
because OpenBLAS reads the variables once at load time.

    /usr/bin/python3 tools/bench/bench_sgemm.py [--d 64,128,256] [--batch 128 --context 256]
        [--coretypes unset,Haswell,SkylakeX,Cooperlake] [--threads 1,2] [--repeat 3]
"""
import argparse
import json
import os
import subprocess
import sys
import time


def shapes(d, batch, context, vocab_total=154, head_dim=64):
    """(name, M, N, K, count) of the sgemms of one step (forward + backward)."""
    n = batch * (context - 1)
    T = context - 1
    out = []
    for name, fin, fout in (("qkv", d, 3 * d), ("attn_out", d, d), ("fc", d, 4 * d),
                            ("fc_out", 4 * d, d)):
        out.append((name + ".fwd", n, fout, fin, 4))        # y = x W^T
        out.append((name + ".dx", n, fin, fout, 4))         # dx = dy W
        out.append((name + ".dw", fout, fin, n, 4))         # dW = dy^T x (K = tokens)
    out.append(("head.fwd", n, vocab_total, d, 1))
    out.append(("head.dx", n, d, vocab_total, 1))
    out.append(("head.dw", vocab_total, d, n, 1))
    heads = d // head_dim
    # scores q k^T, out = p v; backward: 4 more of the same sizes; per layer.
    out.append(("attn.T*T*hd", T, T, head_dim, 4 * batch * heads * 2))
    out.append(("attn.T*hd*T", T, head_dim, T, 4 * batch * heads * 4))
    return out


def worker(d, batch, context, repeat):
    import numpy as np
    rng = np.random.default_rng(0)
    res = []
    total_s = 0.0
    total_flop = 0.0
    for name, M, N, K, count in shapes(d, batch, context):
        a = rng.standard_normal((M, K), dtype=np.float32)
        b = rng.standard_normal((K, N), dtype=np.float32)
        c = np.empty((M, N), dtype=np.float32)
        np.matmul(a, b, out=c)  # warm up (thread pool, page faults)
        reps = max(1, min(count, 64))
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _ in range(reps):
                np.matmul(a, b, out=c)
            best = min(best, (time.perf_counter() - t0) / reps)
        flop = 2.0 * M * N * K
        res.append({"gemm": name, "M": M, "N": N, "K": K, "gflops": flop / best / 1e9})
        total_s += best * count
        total_flop += flop * count
    return {"d": d, "step_gemm_s": total_s, "step_gflops": total_flop / total_s / 1e9, "gemms": res}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--d", default="64,128,256")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--coretypes", default="unset,Haswell,SkylakeX,Cooperlake")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help="print every gemm as JSON lines")
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(int(a.d), a.batch, a.context, a.repeat)))
        return 0
    print("sgemm time of one training step's matrix products (count model, depth 4, "
          "batch %d x context %d), best of %d" % (a.batch, a.context, a.repeat))
    print("%-9s %-8s %-5s %12s %10s" % ("coretype", "threads", "d", "gemm s/step", "GFLOP/s"))
    for ct in a.coretypes.split(","):
        for th in a.threads.split(","):
            for d in a.d.split(","):
                env = dict(os.environ)
                env.pop("OPENBLAS_CORETYPE", None)
                if ct != "unset":
                    env["OPENBLAS_CORETYPE"] = ct
                env["OPENBLAS_NUM_THREADS"] = th
                env["OMP_NUM_THREADS"] = th
                p = subprocess.run([sys.executable, __file__, "--worker", "--d", d,
                                    "--batch", str(a.batch), "--context", str(a.context),
                                    "--repeat", str(a.repeat)],
                                   env=env, capture_output=True, text=True, check=True)
                r = json.loads(p.stdout)
                print("%-9s %-8s %-5s %12.3f %10.1f" % (ct, th, d, r["step_gemm_s"], r["step_gflops"]),
                      flush=True)
                if a.json:
                    print(json.dumps({"coretype": ct, "threads": int(th), **r}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
