"""bench_torch: one training step of the distsweep model in PyTorch (CPU), timed.

The PyTorch side of tools/bench/bench_cpu_vs_torch.sh: the same model as the
engine (tests/engine/torch_ref.py, docs/spec-tasks.md §3) in float32, with separate
parameter tensors (the usual nn.Module layout), a count-task batch (§1), and a
full step: forward, masked CE, backward, global-norm clip, torch.optim.AdamW
(foreach implementation). Prints one JSON line with the mean and median step time.

Run it in PyTorch's best CPU configuration (the .sh does): torch threads =
OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = cores, LD_PRELOAD=libtcmalloc_minimal.

    /usr/bin/python3 tools/bench/bench_torch.py --d 128 [--layers 4 --vocab 150
        --batch 128 --context 256 --steps 5 --warmup-steps 2 --threads 2 --profile]

--profile also prints, to stderr, torch.profiler's table of the timed steps'
ops by self CPU time (where PyTorch spends its step: mm/addmm are the linear
layers, bmm the attention products).
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "engine"))
import torch_ref as ref  # noqa: E402


def add_model_args(ap):
    """The model and batch options both PyTorch benchmarks take (the count sweep's by default)."""
    ap.add_argument("--d", type=int, required=True)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=150, help="count-task numbers (V_tot = vocab + 4)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--block", default="parallel")
    ap.add_argument("--rotary-frac", type=float, default=0.25)


def model_config(a):
    """torch_ref's Config for the options of add_model_args."""
    return ref.Config(vocab=a.vocab + 4, d=a.d, hd=a.head_dim, n_layers=a.layers,
                      block=a.block, rotary_frac=a.rotary_frac)


def main():
    ap = argparse.ArgumentParser()
    add_model_args(ap)
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--warmup-steps", type=int, default=2, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--profile", action="store_true", help="op table of the timed steps on stderr")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = model_config(a)
    flat = ref.init_params(cfg, dtype=torch.float32)
    W = {name: torch.nn.Parameter(flat[off:off + math.prod(shape)].view(shape).clone())
         for name, shape, off in ref.layout(cfg)}
    params = list(W.values())
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1,
                            foreach=True)
    gen = torch.Generator().manual_seed(1)
    x, y, m = ref.count_batch(a.batch, a.context, a.vocab, 1, 30, gen)

    times = []
    prof = None
    for i in range(a.warmup_steps + a.steps):
        if a.profile and i == a.warmup_steps:
            prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
            prof.__enter__()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = ref.masked_loss(ref.forward_named(W, x, cfg), y, m)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        if i >= a.warmup_steps:
            times.append(dt)
    if prof is not None:
        prof.__exit__(None, None, None)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15), file=sys.stderr)
    print(json.dumps({
        "impl": "pytorch", "torch": torch.__version__, "d": a.d, "layers": a.layers,
        "params": ref.n_params(cfg), "batch": a.batch, "context": a.context,
        "threads": torch.get_num_threads(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
        "ld_preload": os.environ.get("LD_PRELOAD", ""),
        "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY", "default"),
        "step_s_mean": statistics.mean(times), "step_s_median": statistics.median(times),
        "step_s_min": min(times),
        "steps_timed": len(times), "final_loss": float(loss)}))


if __name__ == "__main__":
    main()
