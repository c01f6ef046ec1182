#!/usr/bin/env bash
# bench_corpus.sh — does reading a token corpus stall the training step? The
# same pack of the same model shape trained by `distsweep bench` on a corpus
# task (two sources of random tokens in llm.c shards, mixed 0.9 / 0.1, one
# with `loss: answer` sidecars) and on the count task with the same
# vocabulary (count's vocab = V - 4 specials), alternately, `--rounds` times
# each: steps/s of each and the ratio corpus / count, per round and the
# median. The corpus rows are made on the host between steps (src/step.c's
# data part: a memcpy of context tokens per row from the mapped shards, the
# two keyed shuffles of src/corpus.c), which `bench` times separately as
# "data", and whose share of the corpus step this prints: a measure of the
# stall that a loaded machine's noise in the steps/s ratio does not hide.
# A figure, never a pass/fail timing.
#
# usage: tools/bench/bench_corpus.sh [--build DIR] [--d D] [--depth L] [--vocab V]
#                                    [--context T] [--batch B] [--pack R] [--steps N]
#                                    [--rounds K]
#   defaults: --build build --d 256 --depth 4 --vocab 104 --context 64 --batch 16
#             --pack 8 --steps 20 --rounds 3   (the count sweep's shapes)
set -euo pipefail
BUILD=build D=256 DEPTH=4 VOCAB=104 CTX=64 BATCH=16 PACK=8 STEPS=20 ROUNDS=3
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2 ;;
    --d) D=$2 ;;
    --depth) DEPTH=$2 ;;
    --vocab) VOCAB=$2 ;;
    --context) CTX=$2 ;;
    --batch) BATCH=$2 ;;
    --pack) PACK=$2 ;;
    --steps) STEPS=$2 ;;
    --rounds) ROUNDS=$2 ;;
    *) echo "bench_corpus.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
BIN=$(readlink -f "$BUILD/distsweep")
W=$(mktemp -d /tmp/ds-bench-corpus-XXXXXX)
trap 'rm -rf "$W"' EXIT
# two sources of random tokens below the vocabulary, each ~200 rows' worth per replica-step
/usr/bin/python3 - "$W" "$VOCAB" "$CTX" "$BATCH" "$STEPS" <<'PY'
import sys, numpy as np
w, V, ctx, batch, steps = sys.argv[1], *map(int, sys.argv[2:])
rng = np.random.default_rng(1)
def shard(path, toks, magic=20240520):
    h = np.zeros(256, "<i4"); h[0], h[1], h[2] = magic, 1, len(toks)
    with open(path, "wb") as f:
        f.write(h.tobytes()); f.write(toks.astype("<u2").tobytes())
n = (steps + 8) * batch * ctx * 4
shard(f"{w}/a_000000.bin", rng.integers(0, V, n))
b = rng.integers(0, V, n // 4)
shard(f"{w}/b_000000.bin", b)
h = np.zeros(256, "<i4"); h[0], h[1], h[2] = 20261206, 1, len(b)
with open(f"{w}/b_000000.mask", "wb") as f:  # every fourth token an answer token
    f.write(h.tobytes()); f.write((np.arange(len(b)) % 4 == 3).astype("u1").tobytes())
PY
common="model: {head_dim: 64}
train: {steps: 1000, batch: $BATCH, context: $CTX, lr: 1.0e-3, warmup: 10}
seeds: {start: 0, count: $PACK}
scales:
  - {family: depth, width: $D, depth: [$DEPTH]}"
cat > "$W/corpus.yaml" <<YAML
task:
  kind: corpus
  vocab: $VOCAB
  sources:
    - {name: a, path: "a_*.bin", weight: 0.9}
    - {name: b, path: "b_*.bin", weight: 0.1, loss: answer}
$common
YAML
cat > "$W/count.yaml" <<YAML
task: {kind: count, vocab: $((VOCAB - 4)), train_length: [1, 10], eval_lengths: [10]}
$common
YAML
echo "bench_corpus: d $D, depth $DEPTH, vocab $VOCAB, batch $BATCH x context $CTX, pack $PACK, $STEPS steps, $ROUNDS rounds"
ratios=()
for r in $(seq 1 "$ROUNDS"); do
  c=$("$BIN" bench "$W/corpus.yaml" --pack "$PACK" --steps "$STEPS" --warmup-steps 2 --format json)
  s=$("$BIN" bench "$W/count.yaml" --pack "$PACK" --steps "$STEPS" --warmup-steps 2 --format json)
  line=$(/usr/bin/python3 - "$c" "$s" <<'PY'
import json, sys
c, s = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{c['steps_per_s'] / s['steps_per_s']:.4f} corpus {c['steps_per_s']:.3f} steps/s (data "
      f"{c['data_s']:.5f} s/step, {100 * c['data_s'] / c['step_s']:.2f}% of its step), count "
      f"{s['steps_per_s']:.3f} steps/s (data {s['data_s']:.5f} s/step)")
PY
)
  echo "round $r: corpus/count $line"
  ratios+=("${line%% *}")
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {printf "median corpus/count steps/s: %.4f\n", a[int((NR+1)/2)]}'
