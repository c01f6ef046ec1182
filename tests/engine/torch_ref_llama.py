"""torch_ref_llama: an independent float64 PyTorch reference of distsweep's llama block.

Written from docs/spec-tasks.md §3 ("The llama block") and the flat layout of
src/model.h, the way Hugging Face's LlamaForCausalLM / Qwen2ForCausalLM
compute (modeling_llama.py), NOT from the C engine:

    x = wte[tokens]
    per layer:  h = x + o_proj(attn(rope(q, k), v))   with q, k, v = qkv(rmsnorm1(x))
                x = h + down(silu(gate(rmsnorm2 h)) * up(rmsnorm2 h))
    logits = head(rmsnorm_f(x))        head = wte when tied

RMSNorm: x * rsqrt(mean(x^2) + eps) * w (HF LlamaRMSNorm). Grouped-query
attention: K key/value heads, each serving H/K consecutive query heads
(HF repeat_kv = torch.repeat_interleave on the head axis). Full rotary in
HF's rotate_half convention (pairs j, j + hd/2, inv_freq = base^(-2j/hd)),
which is distsweep's GPT-NeoX pairing with rotary_frac 1. Causal softmax with
scale 1/sqrt(hd). Loss = sum(CE*mask)/sum(mask).

The same interface as torch_ref.py (Config, n_params, layout,
loss_and_grad), so test_vs_torch.py compares either tensor by tensor.
Run it directly for its self-test (autograd vs finite differences, GQA equal
to multi-head attention with duplicated kv weights, tied = untied with the
head set to wte but gradients added):
    /usr/bin/python3 tests/engine/torch_ref_llama.py
"""
import math
import sys
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Config:
    vocab: int
    d: int
    hd: int = 64
    n_layers: int = 2
    kv_heads: int = 0           # 0: as many as the heads
    mlp_hidden: int = 0         # 0: 64 * ceil(8d / 192) (docs/sweep-file.md)
    qkv_bias: bool = False
    tie: bool = False
    rope_base: float = 10000.0
    ln_eps: float = 1e-5
    # deliberate deviations, only to show the comparison's tolerances catch them
    kv_map: str = "interleave"  # "interleave" (HF repeat_kv); "tile" = wrong head sharing
    rope_pairing: str = "half"  # "half" (HF rotate_half); "interleaved" = GPT-J pairs

    @property
    def block(self):
        return "llama"

    @property
    def n_heads(self):
        assert self.d % self.hd == 0
        return self.d // self.hd

    @property
    def K(self):
        return self.kv_heads or self.n_heads

    @property
    def ffn(self):
        return self.mlp_hidden or 64 * ((8 * self.d + 191) // 192)


def n_params(cfg):
    d, V, L, F_, kv = cfg.d, cfg.vocab, cfg.n_layers, cfg.ffn, cfg.K * cfg.hd
    layer = 2 * d + d * (d + 2 * kv) + ((d + 2 * kv) if cfg.qkv_bias else 0) + d * d + 3 * d * F_
    return L * layer + V * d + d + (0 if cfg.tie else V * d)


def layout(cfg):
    """(name, shape, offset) in storage order (src/model.h, block llama)."""
    d, V, q, F_ = cfg.d, cfg.vocab, cfg.d + 2 * cfg.K * cfg.hd, cfg.ffn
    out, off = [], 0

    def add(name, shape):
        nonlocal off
        out.append((name, tuple(shape), off))
        off += math.prod(shape)

    add("wte", (V, d))
    for l in range(cfg.n_layers):
        p = "h%d." % l
        add(p + "ln1_w", (d,))
        add(p + "qkv_w", (q, d))
        if cfg.qkv_bias:
            add(p + "qkv_b", (q,))
        add(p + "attn_out_w", (d, d))
        add(p + "ln2_w", (d,))
        add(p + "gate_up_w", (2 * F_, d))
        add(p + "down_w", (d, F_))
    add("lnf_w", (d,))
    if not cfg.tie:
        add("head_w", (V, d))
    assert off == n_params(cfg), (off, n_params(cfg))
    return out


def unflatten(flat, cfg):
    return {name: flat[off:off + math.prod(shape)].view(shape) for name, shape, off in layout(cfg)}


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def apply_rope(x, T, cfg):
    """x [B, heads, T, hd], full rotary."""
    hd = cfg.hd
    j = torch.arange(hd // 2, dtype=torch.float64)
    inv_freq = cfg.rope_base ** (-2.0 * j / hd)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    if cfg.rope_pairing == "interleaved":
        c, s = torch.cos(ang).to(x.dtype), torch.sin(ang).to(x.dtype)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1).flatten(-2)
    emb = torch.cat([ang, ang], dim=-1)
    cos, sin = torch.cos(emb).to(x.dtype), torch.sin(emb).to(x.dtype)
    return x * cos + rotate_half(x) * sin


def repeat_kv(x, n_rep, how):
    """x [B, K, T, hd] -> [B, K*n_rep, T, hd]."""
    if how == "tile":
        return x.repeat(1, n_rep, 1, 1)
    return torch.repeat_interleave(x, n_rep, dim=1)


def attention(x, W, p, cfg):
    B, T, d = x.shape
    H, K, hd = cfg.n_heads, cfg.K, cfg.hd
    qkv = F.linear(x, W[p + "qkv_w"], W.get(p + "qkv_b"))
    q, k, v = qkv.split([d, K * hd, K * hd], dim=-1)
    q = q.view(B, T, H, hd).transpose(1, 2)
    k = k.view(B, T, K, hd).transpose(1, 2)
    v = v.view(B, T, K, hd).transpose(1, 2)
    q, k = apply_rope(q, T, cfg), apply_rope(k, T, cfg)
    k, v = repeat_kv(k, H // K, cfg.kv_map), repeat_kv(v, H // K, cfg.kv_map)
    att = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    att = att.masked_fill(~causal, float("-inf")).softmax(dim=-1)
    y = (att @ v).transpose(1, 2).reshape(B, T, d)
    return F.linear(y, W[p + "attn_out_w"])


def mlp(x, W, p, cfg):
    gate, up = F.linear(x, W[p + "gate_up_w"]).split(cfg.ffn, dim=-1)
    return F.linear(F.silu(gate) * up, W[p + "down_w"])


def forward(flat, inputs, cfg):
    W = unflatten(flat, cfg)
    x = W["wte"][inputs.long()]
    for l in range(cfg.n_layers):
        p = "h%d." % l
        x = x + attention(rms_norm(x, W[p + "ln1_w"], cfg.ln_eps), W, p, cfg)
        x = x + mlp(rms_norm(x, W[p + "ln2_w"], cfg.ln_eps), W, p, cfg)
    x = rms_norm(x, W["lnf_w"], cfg.ln_eps)
    return F.linear(x, W["wte"] if cfg.tie else W["head_w"])


def masked_loss(logits, targets, mask):
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long(),
                         reduction="none")
    m = mask.reshape(-1).to(logits.dtype)
    return (ce * m).sum() / m.sum()


def loss_and_grad(flat, inputs, targets, mask, cfg):
    p = flat.detach().clone().requires_grad_(True)
    logits = forward(p, inputs, cfg)
    loss = masked_loss(logits, targets, mask)
    (g,) = torch.autograd.grad(loss, p)
    return loss.detach(), logits.detach(), g.detach()


# --------------------------------------------------------------------------
# self-test


def _fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def selftest():
    torch.manual_seed(0)
    cfg = Config(vocab=11, d=16, hd=4, n_layers=2, kv_heads=2, mlp_hidden=24, qkv_bias=True)
    P = n_params(cfg)
    w = torch.randn(P, dtype=torch.float64) * 0.5
    x = torch.randint(0, 11, (2, 7))
    y = torch.randint(0, 11, (2, 7))
    m = (torch.rand(2, 7) > 0.3).double()
    loss, _, g = loss_and_grad(w, x, y, m, cfg)
    # finite differences on 40 random coordinates
    for i in torch.randint(0, P, (40,)).tolist():
        e = torch.zeros(P, dtype=torch.float64)
        e[i] = 1e-6
        fd = (masked_loss(forward(w + e, x, cfg), y, m) - masked_loss(forward(w - e, x, cfg), y, m)) / 2e-6
        if abs(float(fd) - float(g[i])) > 1e-6 * max(1.0, abs(float(fd))):
            _fail("gradient coordinate %d: autograd %.9g, finite difference %.9g" % (i, g[i], fd))
    # GQA = multi-head attention whose kv weights repeat each kv head H/K times
    full = Config(vocab=11, d=16, hd=4, n_layers=2, kv_heads=0, mlp_hidden=24, qkv_bias=True)
    Wg, wf = unflatten(w, cfg), torch.zeros(n_params(full), dtype=torch.float64)
    Wf = unflatten(wf, full)
    H, K, hd, d = cfg.n_heads, cfg.K, cfg.hd, cfg.d
    for name, t in Wg.items():
        if name.endswith("qkv_w") or name.endswith("qkv_b"):
            q, k, v = t.split([d, K * hd, K * hd], dim=0)
            rep = lambda a: torch.repeat_interleave(a.reshape(K, hd, *a.shape[1:]), H // K, 0).reshape(H * hd, *a.shape[1:])
            Wf[name].copy_(torch.cat([q, rep(k), rep(v)], 0))
        else:
            Wf[name].copy_(t)
    if (forward(w, x, cfg) - forward(wf, x, full)).abs().max() > 1e-12:
        _fail("GQA differs from attention with repeated kv heads")
    # tied: the gradient of wte is the sum of the embedding's and the head's
    tied = Config(vocab=11, d=16, hd=4, n_layers=1, tie=True)
    untied = Config(vocab=11, d=16, hd=4, n_layers=1, tie=False)
    wt = torch.randn(n_params(tied), dtype=torch.float64) * 0.5
    wu = torch.cat([wt, wt[:11 * 16]])
    _, lt, gt = loss_and_grad(wt, x, y, m, tied)
    _, lu, gu = loss_and_grad(wu, x, y, m, untied)
    if (lt - lu).abs().max() > 1e-12:
        _fail("tied logits differ from untied with head = wte")
    if (gt[:176] - (gu[:176] + gu[-176:])).abs().max() > 1e-12:
        _fail("tied wte gradient is not the sum of the embedding's and the head's")
    print("torch_ref_llama self-test passed")


if __name__ == "__main__":
    torch.set_num_threads(1)
    selftest()
