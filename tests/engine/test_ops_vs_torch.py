"""test_ops_vs_torch: the llama block's ops of the CPU backend against float64 PyTorch.

    /usr/bin/python3 tests/engine/test_ops_vs_torch.py PATH/TO/test_ops_vs_torch

The driver (tests/engine/test_ops_vs_torch.c) runs rmsnorm, swiglu, kv_repeat
and grouped-query attention (kv_repeat + rope + attention, forward and
backward) on random inputs at fp32, tf32 and bf16 and writes inputs and
results. Each result is recomputed here in float64 from the same float32
inputs (RMSNorm as HF's LlamaRMSNorm, F.silu, torch.repeat_interleave, HF's
rotate_half with full rotary, causal softmax attention; gradients by autograd)
and compared tensor by tensor: max|c - ref| <= tol * max|ref| of the tensor.

Tolerances (u = 2^-24, float32's unit roundoff):
  rmsnorm, swiglu (element-wise, row sums of 48 terms): 1e-6 at every
    precision. These ops are not products: train.precision leaves them
    alone, so tf32 and bf16 must also give exactly fp32's bits (checked).
  kv_repeat: forward exact (a copy); backward the sum of 2 heads, 1e-7.
  attention (products): fp32 5e-6; tf32 and bf16 round the products'
    operands (docs/engine.md "Precision"), so 4 x their unit roundoff
    (measured: about 1x): tf32 4 * 2^-11 = 2.0e-3, bf16 4 * 2^-8 = 1.6e-2
    (and the result must differ from fp32: the rounding was applied).
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_vs_torch import read_records  # noqa: E402

H, K, HD, EPS, BASE = 4, 2, 8, 1e-5, 10000.0
TOL_ELEM = 1e-6
TOL_KV_BWD = 1e-7
TOL_ATT = {"fp32": 5e-6, "tf32": 4 * 2.0 ** -11, "bf16": 4 * 2.0 ** -8}


def f64(a):
    return torch.from_numpy(np.array(a, dtype=np.float64))


def rel(c, r):
    return float((f64(c) - r).abs().max()) / max(float(r.abs().max()), 1e-30)


def rope(x, T):
    """x [..., T, hd]: HF rotate_half, full rotary."""
    j = torch.arange(HD // 2, dtype=torch.float64)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * BASE ** (-2.0 * j / HD)[None, :]
    emb = torch.cat([ang, ang], -1)
    rot = torch.cat([-x[..., HD // 2:], x[..., :HD // 2]], -1)
    return x * torch.cos(emb) + rot * torch.sin(emb)


def gqa(qkv):
    """qkv [R, B, T, (H+2K)hd] -> out [R, B, T, H*hd]."""
    R, B, T, _ = qkv.shape
    q, k, v = qkv.split([H * HD, K * HD, K * HD], -1)
    q = q.reshape(R, B, T, H, HD).transpose(2, 3)
    k = k.reshape(R, B, T, K, HD).transpose(2, 3)
    v = v.reshape(R, B, T, K, HD).transpose(2, 3)
    q, k = rope(q, T), rope(k, T)
    k, v = torch.repeat_interleave(k, H // K, 2), torch.repeat_interleave(v, H // K, 2)
    s = (q @ k.transpose(-1, -2)) / HD ** 0.5
    s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")).softmax(-1)
    return (s @ v).transpose(2, 3).reshape(R, B, T, H * HD)


def compare(D, prec, lines, failures):
    def check(what, err, tol):
        ok = err <= tol
        lines.append("%-4s %-5s %-34s err %.3e  tol %.3e" % ("ok" if ok else "FAIL", prec, what, err, tol))
        if not ok:
            failures.append("%s %s: error %.3e exceeds %.3e" % (prec, what, err, tol))

    # RMSNorm: y = x * rsqrt(mean(x^2) + eps) * w; dinp, dw added to their start
    C = D["rms_x"].shape[-1]
    x = f64(D["rms_x"]).requires_grad_(True)
    wfull = f64(D["rms_w"])
    w = wfull[:, :C].clone().requires_grad_(True)
    rs = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS)
    y = x * rs * w[:, None, :]
    gx, gw = torch.autograd.grad(y, (x, w), f64(D["rms_dy"]))
    check("rmsnorm_fwd out", rel(D["rms_y"], y.detach()), TOL_ELEM)
    check("rmsnorm_fwd rstd", rel(D["rms_rstd"], rs.detach()[..., 0]), TOL_ELEM)
    check("rmsnorm_bwd dinp (+=)", rel(D["rms_dx"], f64(D["rms_dx0"]) + gx), TOL_ELEM)
    dw_ref = f64(D["rms_dw0"]).clone()
    dw_ref[:, :C] += gw
    check("rmsnorm_bwd dw (+=, padding kept)", rel(D["rms_dw"], dw_ref), TOL_ELEM)

    # SwiGLU: silu(gate) * up over rows of [gate | up]
    inp = f64(D["swi_in"]).requires_grad_(True)
    Fh = inp.shape[-1] // 2
    out = F.silu(inp[..., :Fh]) * inp[..., Fh:]
    (gin,) = torch.autograd.grad(out, inp, f64(D["swi_dout"]))
    check("swiglu_fwd", rel(D["swi_out"], out.detach()), TOL_ELEM)
    check("swiglu_bwd", rel(D["swi_din"], gin), TOL_ELEM)

    # kv_repeat: q copied, kv heads repeat_interleave'd
    kin = f64(D["kv_in"]).requires_grad_(True)
    q, k, v = kin.split([H * HD, K * HD, K * HD], -1)
    rep = lambda t: torch.repeat_interleave(t.reshape(*t.shape[:-1], K, HD), H // K, -2).flatten(-2)
    kout = torch.cat([q, rep(k), rep(v)], -1)
    (kg,) = torch.autograd.grad(kout, kin, f64(D["kv_dout"]))
    check("kv_repeat_fwd (exact)", rel(D["kv_out"], kout.detach()), 0.0)
    check("kv_repeat_bwd", rel(D["kv_din"], kg), TOL_KV_BWD)

    # grouped-query attention
    aq = f64(D["gqa_qkv"]).requires_grad_(True)
    ao = gqa(aq)
    (ag,) = torch.autograd.grad(ao, aq, f64(D["gqa_dout"]))
    check("gqa attention out", rel(D["gqa_out"], ao.detach()), TOL_ATT[prec])
    check("gqa attention dqkv", rel(D["gqa_dqkv"], ag), TOL_ATT[prec])


def main():
    if len(sys.argv) != 2:
        print("usage: test_ops_vs_torch.py DRIVER", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    lines, failures, got = [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for prec in ("fp32", "tf32", "bf16"):
            path = os.path.join(tmp, "ops_%s.bin" % prec)
            proc = subprocess.run([sys.argv[1], path, prec], capture_output=True, text=True)
            if proc.returncode:
                failures.append("driver failed at %s: %s" % (prec, proc.stderr.strip()))
                continue
            got[prec] = read_records(path)
            compare(got[prec], prec, lines, failures)
    # element-wise ops are not products: the precision leaves their bits alone,
    # while attention's products are rounded (so its results differ)
    for prec in ("tf32", "bf16"):
        if prec not in got or "fp32" not in got:
            continue
        for name in ("rms_y", "rms_rstd", "rms_dx", "rms_dw", "swi_out", "swi_din", "kv_out", "kv_din"):
            same = np.array_equal(got[prec][name].view(np.uint32), got["fp32"][name].view(np.uint32))
            lines.append("%-4s %-5s %-34s bit-identical to fp32" % ("ok" if same else "FAIL", prec, name))
            if not same:
                failures.append("%s %s: not bit-identical to fp32" % (prec, name))
        differs = not np.array_equal(got[prec]["gqa_out"], got["fp32"]["gqa_out"])
        lines.append("%-4s %-5s %-34s differs from fp32 (rounded)" % ("ok" if differs else "FAIL", prec, "gqa_out"))
        if not differs:
            failures.append("%s gqa_out: identical to fp32, the rounding was not applied" % prec)
    print("\n".join(lines))
    if failures:
        print("\n%d check(s) failed:\n%s" % (len(failures), "\n".join(failures)))
        return 1
    print("\nall ops within tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
