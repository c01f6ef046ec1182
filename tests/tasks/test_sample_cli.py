#!/usr/bin/env python3
"""`distsweep sample` end to end, against an independent Python model of the data.

The data streams of docs/tasks.md are re-implemented here from the published
Philox4x32-10 algorithm and the documented draw order; the decoded examples the
CLI prints (tokens and ^ loss-mask markers) must match them exactly. Also
checks the commands of the README and the usage errors (exit code 2).

usage: test_sample_cli.py DISTSWEEP SOURCE_DIR
"""
import os
import subprocess
import sys
import tempfile

M32 = 0xFFFFFFFF


def philox4x32_10(ctr, key):
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for _ in range(10):
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & M32, p1 & M32, ((p0 >> 32) ^ c3 ^ k1) & M32, p0 & M32
        k0 = (k0 + 0x9E3779B9) & M32
        k1 = (k1 + 0xBB67AE85) & M32
    return [c0, c1, c2, c3]


class Rng:
    """The (seed, stream, index) reader of rng.h: words of blocks 0, 1, 2, ..."""

    def __init__(self, seed, stream, index):
        self.key = [seed & M32, (seed >> 32) & M32]
        self.ctr = [index & M32, (index >> 32) & M32, stream, 0]
        self.buf = []

    def u32(self):
        if not self.buf:
            self.buf = philox4x32_10(self.ctr, self.key)
            self.ctr[3] += 1
        return self.buf.pop(0)

    def range(self, lo, hi):
        span = hi - lo + 1
        limit = (2**32 // span) * span
        while True:
            x = self.u32()
            if x < limit:
                return lo + x % span


TRAIN, EVAL = 2, 3


def count_example(V, s, L, eos):
    toks = ["$", str(s), str(s + L - 1), ">"] + [str(s + i) for i in range(L)] + (["."] if eos else [])
    mask = [0, 0, 0, 0] + [1] * L + ([1] if eos else [])
    return toks, mask


def addition_example(o, x, y):
    W = len(x)
    toks, mask = ["$"], [0]
    for i in range(W):
        toks += [f"a{o + i}", str(x[i])]
    toks.append("+")
    for i in range(W):
        toks += [f"a{o + i}", str(y[i])]
    toks.append(">")
    z = int("".join(map(str, x))) + int("".join(map(str, y)))
    zs = str(z).zfill(W)
    assert len(zs) == W
    for j in range(W):
        toks += [f"a{o + W - 1 - j}", zs[W - 1 - j]]
    toks.append(".")
    mask += [0] * (4 * W + 2) + [1] * (2 * W + 1)
    return toks, mask


def addition_draw(r, n1, n2, o):
    W = max(n1, n2) + 1
    x, y = [0] * W, [0] * W
    for i in range(W - n1, W):
        x[i] = r.range(0, 9)
    for i in range(W - n2, W):
        y[i] = r.range(0, 9)
    return addition_example(o, x, y)


def train_examples(kind, p, seed, row, context, forced=None):
    """The examples of one packed row, as (tokens, mask, cut) with cut examples masked."""
    r = Rng(seed, TRAIN, row)
    out, pos = [], 0
    lo, hi = (forced, forced) if forced else (p["train_min"], p["train_max"])
    while pos < context:
        if kind == "count":
            L = r.range(lo, hi)
            s = r.range(0, p["vocab"] - L)
            toks, mask = count_example(p["vocab"], s, L, True)
        else:
            n1, n2 = r.range(lo, hi), r.range(lo, hi)
            o = r.range(0, p["hints"] - (max(n1, n2) + 1))
            toks, mask = addition_draw(r, n1, n2, o)
        if pos + len(toks) > context:
            n = context - pos
            out.append((toks[:n], [0] * n, True))
        else:
            out.append((toks, mask, False))
        pos += len(toks)
    return out


def addition_eval(p, L, k):
    r = Rng(p["eval_seed"], EVAL, (L << 32) | k)
    o = r.range(0, p["hints"] - (L + 1))
    return addition_draw(r, L, L, o)


def run(exe, *args, expect=0):
    res = subprocess.run([exe, "sample", *args], capture_output=True, text=True)
    if res.returncode != expect:
        sys.exit(f"FAIL: distsweep sample {' '.join(args)}: exit {res.returncode}, expected {expect}\n"
                 f"{res.stdout}\n{res.stderr}")
    return res


def parse(out):
    """The printed examples: list of (header, tokens, mask)."""
    lines = out.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("  example") or line.startswith("  eval example"):
            toks, mask = [], []
            i += 1
            while i < len(lines) and lines[i].startswith("    "):
                tl = lines[i][4:]
                ml = ""
                if i + 1 < len(lines) and lines[i + 1].startswith("    ") and set(lines[i + 1][4:]) <= {" ", "^"}:
                    ml = lines[i + 1][4:]
                    i += 1
                col = 0
                for name in tl.split(" "):
                    m = ml[col:col + len(name)]
                    if m not in ("", "^" * len(name)) and m.strip() not in ("",):
                        sys.exit(f"FAIL: marker '{m}' does not cover token '{name}' exactly\n{out}")
                    toks.append(name)
                    mask.append(1 if m.startswith("^") else 0)
                    col += len(name) + 1
                i += 1
            blocks.append((line, toks, mask))
        else:
            i += 1
    return blocks


def check(cond, msg, out=""):
    if not cond:
        sys.exit(f"FAIL: {msg}\n{out}")


def main():
    exe, src = sys.argv[1], sys.argv[2]
    count_yaml = os.path.join(src, "sweeps", "count.yaml")
    add_yaml = os.path.join(src, "sweeps", "addition.yaml")
    cp = {"vocab": 150, "train_min": 1, "train_max": 30}
    ap = {"train_min": 1, "train_max": 35, "hints": 41, "eval_seed": 1234}

    # README: distsweep sample sweeps/count.yaml -n 3 -> the first 3 examples of seed 0, row 0.
    out = run(exe, count_yaml, "-n", "3").stdout
    got = parse(out)
    want = [e for e in train_examples("count", cp, 0, 0, 256) if not e[2]][:3]
    check(len(got) == 3, "count -n 3 prints 3 examples", out)
    for (h, t, m), (wt, wm, _) in zip(got, want):
        check(t == wt and m == wm, f"count example differs: {t} {m} vs {wt} {wm}", out)
        L = len(wt) - 5
        check(h.endswith(f": count {wt[1]}..{wt[2]} ({L} numbers)"), "header reads the count", out)

    # README: distsweep sample sweeps/addition.yaml --eval --length 40 -n 2
    out = run(exe, add_yaml, "--eval", "--length", "40", "-n", "2").stdout
    got = parse(out)
    check(len(got) == 2, "addition --eval -n 2 prints 2 examples", out)
    for k, (h, t, m) in enumerate(got):
        wt, wm = addition_eval(ap, 40, k)
        check(len(t) == 6 * 41 + 4, "addition eval example has 6W+4 tokens", out)
        check(t == wt and m == wm, f"addition eval example {k} differs", out)
        check(f"eval example {k} of 64000" in h, "header names the example", out)
        W = 41
        x, y = "".join(wt[2:2 * W + 1:2]), "".join(wt[2 * W + 3:4 * W + 2:2])
        z = str(int(x) + int(y)).zfill(W)
        check(h.endswith(f": {x} + {y} = {z}"), "header reads the example as x + y = z", out)

    # Whole packed rows of another seed, with the cut-off tail shown unscored.
    out = run(exe, add_yaml, "--seed", "17", "--row", "5", "-n", "2").stdout
    got = parse(out)
    want = train_examples("addition", ap, 17, 5, 512) + train_examples("addition", ap, 17, 6, 512)
    check(len(got) == len(want), f"--row -n 2 prints {len(want)} examples", out)
    for (h, t, m), (wt, wm, cut) in zip(got, want):
        check(t == wt and m == wm, "addition row example differs", out)
        check(("cut off" in h) == cut, "the cut-off example is marked", out)
    check(sum(len(t) for _, t, _ in got) == 2 * 512, "two rows are 2 x context tokens", out)
    check("row 5 of seed 17" in out and "row 6 of seed 17" in out, "row headers", out)

    # Forced length in training mode; count eval at a given start.
    out = run(exe, count_yaml, "--length", "7", "-n", "4", "--seed", "3").stdout
    got = parse(out)
    want = [e for e in train_examples("count", cp, 3, 0, 256, forced=7) if not e[2]][:4]
    check([g[1] for g in got] == [w[0] for w in want], "forced-length count examples", out)
    out = run(exe, count_yaml, "--eval", "--length", "100", "--row", "49", "-n", "5").stdout
    got = parse(out)
    check(len(got) == 2, "count eval at 100 has 51 examples: 49 and 50 remain", out)
    for (h, t, m), s in zip(got, (49, 50)):
        wt, wm = count_example(150, s, 100, False)
        check(t == wt and m == wm, "count eval example", out)
    check("51 examples" in out, "count eval size at L=100", out)

    # Usage errors: exit 2 and a message naming the problem.
    e = run(exe, count_yaml, "--length", "151", expect=2).stderr
    check("151" in e, "names the bad length", e)
    e = run(exe, add_yaml, "--eval", "--length", "41", expect=2).stderr
    check("41" in e, "addition length beyond the hints", e)
    run(exe, count_yaml, "--eval", "--row", "121", expect=2)
    run(exe, count_yaml, "--bogus", expect=2)
    run(exe, count_yaml, "-n", "0", expect=2)
    run(exe, count_yaml, "--eval", "--seed", "1", expect=2)
    run(exe, expect=2)
    with tempfile.TemporaryDirectory() as d:
        bad = os.path.join(d, "bad.yaml")
        with open(bad, "w") as f:
            f.write(open(count_yaml).read().replace("context: 256", "context: 20"))
        e = run(exe, bad, expect=2).stderr
        check("bad.yaml:" in e, "a sweep-file error names the file", e)
    check(run(exe, "--help").stdout.startswith("usage: distsweep sample"), "--help")
    print("all checks passed")


if __name__ == "__main__":
    main()
