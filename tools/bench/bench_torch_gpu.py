"""bench_torch_gpu: the count sweep's model trained by PyTorch the ways a researcher would, timed.

The PyTorch side of tools/bench/bench_gpu_vs_torch.sh (issue: the GPU step measured head to head
with PyTorch). The model is the engine's (tests/engine/torch_ref.py: GPT-NeoX semantics,
docs/spec-tasks.md §3) with separate parameter tensors, attention through
F.scaled_dot_product_attention(is_causal=True) where this PyTorch has it (the fused kernels a
researcher gets), a count-task batch (§1) and a full step: forward, masked CE, backward, per-seed
global-norm clip at 1.0, AdamW. Modes:

  eager    one seed per process (the papers' way)
  compile  the same with the forward and loss under torch.compile
  vmap     R seeds in one process: stacked parameters, torch.func.vmap over the forward and loss,
           one AdamW over the stacked tensors (element-wise, so each seed's update is its own),
           clipping per seed

--precision fp32 (TF32 off), tf32 (TF32 matmuls allowed) or bf16 (autocast; fp32 master weights
and optimizer). Batches are made once on the host and kept on the device (no data loading in the
timed step). Prints one JSON line: the median step time and seed-steps/s.

--barrier DIR N: after the warm-up steps, wait until N processes have reached DIR (the k
processes sharing a GPU start timing together). --check: on a small model, R seeds trained
together by vmap must give each seed's losses as training it alone (eager) does; exits 1
otherwise (tested on the CPU in ctest, tools.bench_torch_gpu_check).

    python3 tools/bench/bench_torch_gpu.py --d 256 --mode vmap --seeds 8 --precision bf16
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "engine"))
import torch_ref as ref  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import add_model_args, model_config  # noqa: E402

try:  # PyTorch 2.x
    from torch.func import vmap
except ImportError:  # PyTorch 1.13 (Debian's, on the build machines): functorch
    from functorch import vmap

SDPA = hasattr(F, "scaled_dot_product_attention")


def attention(x, W, p, cfg, cos, sin):
    B, T, d = x.shape
    H, hd = cfg.n_heads, cfg.hd
    qkv = F.linear(x, W[p + "qkv_w"], W[p + "qkv_b"])
    q, k, v = (t.view(B, T, H, hd).transpose(1, 2) for t in qkv.split(d, dim=-1))
    q = ref.apply_rope(q, cos, sin, cfg.rot_dims)
    k = ref.apply_rope(k, cos, sin, cfg.rot_dims)
    if SDPA:
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    else:
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        y = att.masked_fill(~causal, float("-inf")).softmax(dim=-1) @ v
    y = y.transpose(1, 2).reshape(B, T, d)
    return F.linear(y, W[p + "attn_out_w"], W[p + "attn_out_b"])


def forward(W, inputs, cfg, cos, sin):
    """Logits of one seed (torch_ref.forward_named with this file's attention)."""
    d = cfg.d
    x = W["wte"][inputs]
    for l in range(cfg.n_layers):
        p = "h%d." % l
        ln1 = F.layer_norm(x, (d,), W[p + "ln1_w"], W[p + "ln1_b"], cfg.ln_eps)
        if cfg.block == "parallel":
            ln2 = F.layer_norm(x, (d,), W[p + "ln2_w"], W[p + "ln2_b"], cfg.ln_eps)
            x = x + attention(ln1, W, p, cfg, cos, sin) + ref.mlp(ln2, W, p, cfg)
        else:
            x = x + attention(ln1, W, p, cfg, cos, sin)
            ln2 = F.layer_norm(x, (d,), W[p + "ln2_w"], W[p + "ln2_b"], cfg.ln_eps)
            x = x + ref.mlp(ln2, W, p, cfg)
    x = F.layer_norm(x, (d,), W["lnf_w"], W["lnf_b"], cfg.ln_eps)
    return F.linear(x, W["head_w"])


def seed_params(cfg, seed, device):
    """A seed's parameters as named fp32 tensors (torch_ref's initialization)."""
    flat = ref.init_params(cfg, torch.Generator().manual_seed(seed), dtype=torch.float32)
    return {name: flat[off:off + math.prod(shape)].view(shape).clone().to(device)
            for name, shape, off in ref.layout(cfg)}


def seed_batches(a, seed, n, device):
    gen = torch.Generator().manual_seed(1000 + seed)
    out = []
    for _ in range(n):
        x, y, m = ref.count_batch(a.batch, a.context, a.vocab, 1, min(30, a.vocab), gen)
        out.append((x.to(device), y.to(device), m.to(device)))
    return out


class Trainer:
    """R seeds (R = 1 outside vmap) trained by one mode; step(i) runs batch i % n_batches."""

    def __init__(self, a, cfg, seeds, device):
        self.a, self.cfg, self.device = a, cfg, device
        T = a.context - 1
        self.cos, self.sin = (t.to(device) for t in ref.rope_tables(T, cfg, torch.float32))
        ps = [seed_params(cfg, s, device) for s in seeds]
        bs = [seed_batches(a, s, a.batches, device) for s in seeds]
        if a.mode == "vmap":
            self.W = {k: torch.stack([p[k] for p in ps]).requires_grad_(True) for k in ps[0]}
            self.batches = [tuple(torch.stack([b[i][j] for b in bs]) for j in range(3))
                            for i in range(a.batches)]
        else:
            assert len(seeds) == 1
            self.W = {k: v.requires_grad_(True) for k, v in ps[0].items()}
            self.batches = bs[0]
        self.params = list(self.W.values())
        self.opt = torch.optim.AdamW(self.params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8,
                                     weight_decay=0.1)

        def loss_one(W, x, y, m):
            return ref.masked_loss(forward(W, x, cfg, self.cos, self.sin), y, m)

        if a.mode == "vmap":
            self.loss = vmap(loss_one)
        elif a.mode == "compile":
            self.loss = torch.compile(loss_one)
        else:
            self.loss = loss_one

    def step(self, i):
        x, y, m = self.batches[i % len(self.batches)]
        self.opt.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.a.precision == "bf16"):
            losses = self.loss(self.W, x, y, m)
        losses.float().sum().backward()
        # the global-norm clip of each seed at 1.0 (stacked: one norm per leading index)
        if self.a.mode == "vmap":
            sq = sum(p.grad.float().pow(2).flatten(1).sum(1) for p in self.params)
            scale = (1.0 / (sq.sqrt() + 1e-6)).clamp(max=1.0)
            for p in self.params:
                p.grad.mul_(scale.view([-1] + [1] * (p.dim() - 1)))
        else:
            torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        return losses.detach()


def barrier(directory, n, me):
    os.makedirs(directory, exist_ok=True)
    open(os.path.join(directory, "ready-%d" % me), "w").close()
    t0 = time.time()
    while len([f for f in os.listdir(directory) if f.startswith("ready-")]) < n:
        if time.time() - t0 > 600:
            sys.exit("bench_torch_gpu: barrier: %d processes never arrived" % n)
        time.sleep(0.01)


def check(a, cfg, device):
    """vmap over R seeds equals each seed trained alone (eager), step by step."""
    seeds = list(range(a.seeds))
    a.mode = "vmap"
    together = Trainer(a, cfg, seeds, device)
    tl = torch.stack([together.step(i) for i in range(a.steps)])  # [steps, R]
    a.mode = "eager"
    worst = 0.0
    for r, s in enumerate(seeds):
        alone = Trainer(a, cfg, [s], device)
        al = torch.stack([alone.step(i) for i in range(a.steps)])
        worst = max(worst, float(((al - tl[:, r]).abs() / al.abs()).max()))
    # fp32 on both sides, the same operations batched or not: reductions in another order only
    ok = worst <= 1e-4 and float(tl[-1].mean()) < float(tl[0].mean())
    print(json.dumps({"check": "vmap vs eager", "seeds": a.seeds, "steps": a.steps,
                      "worst_relative_loss_difference": worst, "loss_first": float(tl[0].mean()),
                      "loss_last": float(tl[-1].mean()), "ok": ok}))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    add_model_args(ap)
    ap.add_argument("--mode", choices=("eager", "compile", "vmap"), default="eager")
    ap.add_argument("--precision", choices=("fp32", "tf32", "bf16"), default="fp32")
    ap.add_argument("--seeds", type=int, default=1, help="seeds trained together (vmap)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup-steps", type=int, default=3, help="untimed steps first")
    ap.add_argument("--batches", type=int, default=4, help="distinct batches cycled per seed")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--barrier", nargs=2, metavar=("DIR", "N"))
    ap.add_argument("--me", type=int, default=0, help="this process's index at the barrier")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    if a.mode != "vmap" and a.seeds != 1 and not a.check:
        ap.error("--seeds > 1 needs --mode vmap")
    device = torch.device(a.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = a.precision == "tf32"
        torch.backends.cudnn.allow_tf32 = a.precision == "tf32"
    else:
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    cfg = model_config(a)
    if a.check:
        return check(a, cfg, device)

    tr = Trainer(a, cfg, list(range(a.seeds)), device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for i in range(a.warmup_steps):
        tr.step(i)
    sync()
    if a.barrier:
        barrier(a.barrier[0], int(a.barrier[1]), a.me)
    times = []
    for i in range(a.steps):
        t0 = time.perf_counter()
        losses = tr.step(a.warmup_steps + i)
        sync()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({
        "impl": "pytorch", "torch": torch.__version__, "device": torch.cuda.get_device_name()
        if device.type == "cuda" else "cpu", "mode": a.mode, "precision": a.precision,
        "attention": "sdpa" if SDPA else "explicit", "d": a.d, "layers": a.layers,
        "params": ref.n_params(cfg), "seeds": a.seeds, "batch": a.batch, "context": a.context,
        "step_s_median": med, "step_s_min": min(times), "steps_timed": len(times),
        "seed_steps_per_s": a.seeds / med, "tokens_per_s": a.seeds * a.batch * (a.context - 1) / med,
        "final_loss": float(losses.float().mean())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
