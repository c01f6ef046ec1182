#!/usr/bin/env bash
# bench_mc.sh — the time multiple-choice evaluation takes per seed on the CPU:
# a synthetic set of MMLU's test size (14,042 items, 4 choices, contexts of
# about 300 tokens, one-token continuations as lm-eval's letter scoring has)
# scored by `distsweep bench --mc` (src/mceval.h) with a Pythia-70M-shaped
# model (width 512, 6 layers, head size 64, vocabulary 50,304) at its
# initialization (the time does not depend on the values).
#
# usage: tools/bench/bench_mc.sh [--build DIR] [--items N] [--choices K] [--context T]
#                                [--d D] [--depth L] [--vocab V] [--batch B] [--pack R]
#   defaults: --build build --items 14042 --choices 4 --context 300 --d 512 --depth 6
#             --vocab 50304 --batch 8 --pack 1
# Contexts are uniform in T-T/6..T+T/6 tokens; the model's activations hold
# --batch rows of the longest row's positions. Prints the command's figures:
# items/s and seconds per seed. A figure, never a pass/fail timing (threads:
# OMP_NUM_THREADS, unset: all cores).
set -euo pipefail
BUILD=build ITEMS=14042 K=4 CTX=300 D=512 DEPTH=6 VOCAB=50304 BATCH=8 PACK=1
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2 ;;
    --items) ITEMS=$2 ;;
    --choices) K=$2 ;;
    --context) CTX=$2 ;;
    --d) D=$2 ;;
    --depth) DEPTH=$2 ;;
    --vocab) VOCAB=$2 ;;
    --batch) BATCH=$2 ;;
    --pack) PACK=$2 ;;
    *) echo "bench_mc.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
BIN=$(readlink -f "$BUILD/distsweep")
W=$(mktemp -d /tmp/ds-bench-mc-XXXXXX)
trap 'rm -rf "$W"' EXIT
# the longest row: the longest context and a one-token continuation
MAXROW=$(/usr/bin/python3 - "$W/set.bin" "$ITEMS" "$K" "$CTX" "$VOCAB" <<'PY'
import struct, sys, numpy as np
path, n, K, ctx, V = sys.argv[1], *map(int, sys.argv[2:])
rng = np.random.default_rng(0)
width = 2 if V <= 65536 else 4
dt = "<u2" if width == 2 else "<u4"
lo, hi = ctx - ctx // 6, ctx + ctx // 6
longest = 0
with open(path, "wb") as f:
    f.write(struct.pack("<256i", 20261207, 1, width, n, K, 0, V, *[0] * 249))
    letters = rng.choice(V, size=K, replace=False)  # " A", " B", ...: the same K tokens in every item
    for i in range(n):
        nc = int(rng.integers(lo, hi + 1))
        longest = max(longest, nc + 1)
        f.write(struct.pack(f"<{2 + 2 * K}i", int(rng.integers(K)), nc, *[1] * K, *[1] * K))
        f.write(rng.integers(V, size=nc).astype(dt).tobytes())
        f.write(letters.astype(dt).tobytes())
print(longest)
PY
)
cat > "$W/mc.yaml" <<YAML
name: bench-mc
task: {kind: count, vocab: $((VOCAB - 4)), train_length: [1, 6], eval_lengths: [6]}
model: {head_dim: 64}
train: {steps: 1, batch: $BATCH, context: $MAXROW, lr: 1.0e-3, warmup: 1, log_every: 1}
seeds: {count: 1}
scales: [{family: depth, width: $D, depth: [$DEPTH]}]
run: {pack: 1, backend: cpu}
YAML
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), cores: $(getconf _NPROCESSORS_ONLN), load: $(cut -d' ' -f1-3 /proc/loadavg), OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}"
echo "set: $ITEMS items x $K choices, contexts $((CTX - CTX / 6))..$((CTX + CTX / 6)) tokens, longest row $MAXROW"
"$BIN" bench "$W/mc.yaml" --backend cpu --pack "$PACK" --mc "$W/set.bin"
