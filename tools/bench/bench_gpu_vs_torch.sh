#!/usr/bin/env bash
# distsweep's CUDA step against PyTorch on the same GPU, in one command (for a GPU machine lent
# for minutes; about 8 minutes on an H100/H200, 4 with --quick). The count sweep's model and
# batch (batch 128 x context 256, depth 4, AdamW, clipping) at widths 64, 256 and 512, trained by
# PyTorch the ways a researcher would (tools/bench/bench_torch_gpu.py):
#   (a) one seed per process, eager, fp32 and bf16 autocast
#   (b) the same under torch.compile (bf16)
#   (c) k = 4 and 8 processes sharing the GPU (eager bf16), timed together after a barrier
#   (d) one process training 8 seeds with torch.func.vmap (bf16)
# against `distsweep bench --backend cuda` at fp32, tf32 and bf16 with a pack of 8, and bf16 as a
# CUDA graph with packs of 8 and 32 (16 at d 512). Prints
# seed-steps/s of each and the ratio of distsweep's best to (a) fp32 and to the best PyTorch.
# Writes bench.jsonl and summary.txt under OUTDIR.
#
# Usage: tools/bench/bench_gpu_vs_torch.sh [--quick|--tiny] DISTSWEEP OUTDIR
#   DISTSWEEP: a CUDA build's binary (with tools/gpu_bundle.sh's libraries on LD_LIBRARY_PATH)
#   --quick:   widths 64 and 512, no torch.compile, no k = 8
#   --tiny:    a toy model on whatever device torch has, k = 2: the plumbing only
#              (tests/tools/bench_gpu_vs_torch_smoke.sh runs it on CI's CPU)
# The tf32/bf16 runs of distsweep set DISTSWEEP_CUDA_UNVERIFIED_PRECISION=1 (docs/cuda.md).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
quick=0 tiny=0
if [ "${1:-}" = --quick ]; then quick=1; shift; fi
if [ "${1:-}" = --tiny ]; then quick=1 tiny=1; shift; fi
bin=${1:?usage: bench_gpu_vs_torch.sh [--quick] DISTSWEEP OUTDIR}
out=${2:?usage: bench_gpu_vs_torch.sh [--quick] DISTSWEEP OUTDIR}
mkdir -p "$out"
jsonl="$out/bench.jsonl"
: > "$jsonl"
py=${PYTHON:-python3}
widths=(64 256 512)
[ "$quick" = 1 ] && widths=(64 512)
torch_common=(--layers 4 --vocab 150 --batch 128 --context 256 --steps 20 --warmup-steps 3)
k_small=4
if [ "$tiny" = 1 ]; then
  widths=(32)
  torch_common=(--layers 2 --head-dim 16 --vocab 20 --batch 4 --context 32 --steps 2 --warmup-steps 1)
  k_small=2
fi

# scale index of width d at depth 4 in sweeps/count.yaml's width family (64 128 256 384 512)
scale_of() { case $1 in 64) echo 0 ;; 128) echo 1 ;; 256) echo 2 ;; 384) echo 3 ;; 512) echo 4 ;; esac; }

torch_one() { # label, then bench_torch_gpu.py arguments
  local label=$1
  shift
  if "$py" tools/bench/bench_torch_gpu.py "${torch_common[@]}" "$@" > "$out/one.json" 2>> "$out/log.txt"; then
    "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); d["label"]=sys.argv[2]; print(json.dumps(d))' \
      "$out/one.json" "$label" >> "$jsonl"
  else
    echo "{\"label\": \"$label\", \"failed\": true}" >> "$jsonl"
  fi
}

torch_k() { # k processes at once: label, k, then arguments
  local label=$1 k=$2
  shift 2
  local bar pids=()
  bar=$(mktemp -d)
  for i in $(seq 0 $((k - 1))); do
    "$py" tools/bench/bench_torch_gpu.py "${torch_common[@]}" "$@" --barrier "$bar" "$k" --me "$i" \
      > "$out/k$i.json" 2>> "$out/log.txt" &
    pids+=($!)
  done
  local ok=1
  for p in "${pids[@]}"; do wait "$p" || ok=0; done
  if [ "$ok" = 1 ]; then
    # together: the sum of each process's seed-steps/s over the same timed window
    "$py" -c 'import json,sys
ds=[json.load(open(f)) for f in sys.argv[3:]]
d=dict(ds[0]); d["label"]=sys.argv[1]; d["processes"]=int(sys.argv[2])
d["seed_steps_per_s"]=sum(x["seed_steps_per_s"] for x in ds)
d["step_s_median"]=max(x["step_s_median"] for x in ds)
print(json.dumps(d))' "$label" "$k" "$out"/k*.json >> "$jsonl"
  else
    echo "{\"label\": \"$label\", \"failed\": true}" >> "$jsonl"
  fi
  rm -rf "$bar" "$out"/k*.json
}

ds_one() { # label, precision, width[, pack[, graphs 0|1]]
  local label=$1 p=$2 d=$3 r=${4:-8} g=${5:-0}
  if DISTSWEEP_CUDA_GRAPHS=$g DISTSWEEP_CUDA_UNVERIFIED_PRECISION=1 "$bin" bench sweeps/count.yaml --backend cuda \
      --scale "$(scale_of "$d")" --pack "$r" --precision "$p" --steps 20 --warmup-steps 3 --format json \
      > "$out/one.json" 2>> "$out/log.txt"; then
    "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); d["label"]=sys.argv[2]
d["impl"]="distsweep"; d["precision"]=sys.argv[3]; d["seed_steps_per_s"]=d["pack"]*d["steps_per_s"]
print(json.dumps(d))' "$out/one.json" "$label" "$p" >> "$jsonl"
  else
    echo "{\"label\": \"$label\", \"failed\": true}" >> "$jsonl"
  fi
}

for d in "${widths[@]}"; do
  torch_one "d$d torch eager fp32 1 seed" --d "$d" --mode eager --precision fp32
  torch_one "d$d torch eager bf16 1 seed" --d "$d" --mode eager --precision bf16
  [ "$quick" = 0 ] && torch_one "d$d torch compile bf16 1 seed" --d "$d" --mode compile --precision bf16
  torch_k "d$d torch eager bf16 $k_small processes" "$k_small" --d "$d" --mode eager --precision bf16
  [ "$quick" = 0 ] && torch_k "d$d torch eager bf16 8 processes" 8 --d "$d" --mode eager --precision bf16
  torch_one "d$d torch vmap bf16 8 seeds" --d "$d" --mode vmap --seeds 8 --precision bf16
  for p in fp32 tf32 bf16; do ds_one "d$d distsweep $p pack 8" "$p" "$d"; done
  # the step as a CUDA graph (docs/cuda.md), and a larger pack (fails, and says so, where it does not fit)
  ds_one "d$d distsweep bf16 pack 8 graphs" bf16 "$d" 8 1
  big=32; [ "$d" -ge 512 ] && big=16
  ds_one "d$d distsweep bf16 pack $big graphs" bf16 "$d" "$big" 1
done
rm -f "$out/one.json"

"$py" - "$jsonl" <<'EOF' | tee "$out/summary.txt"
import json, re, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print("%-36s %14s" % ("configuration", "seed-steps/s"))
for r in rows:
    print("%-36s %14s" % (r["label"], "FAILED" if r.get("failed") else "%.2f" % r["seed_steps_per_s"]))
widths = sorted({int(re.match(r"d(\d+) ", r["label"]).group(1)) for r in rows})
for d in widths:
    mine = [r for r in rows if r["label"].startswith("d%d " % d) and not r.get("failed")]
    ours = [r for r in mine if r.get("impl") == "distsweep"]
    torch = [r for r in mine if r.get("impl") == "pytorch"]
    base = [r for r in torch if "eager fp32 1 seed" in r["label"]]
    if not ours or not torch:
        print("d %d: no comparison (a side failed)" % d)
        continue
    best = max(ours, key=lambda r: r["seed_steps_per_s"])
    tbest = max(torch, key=lambda r: r["seed_steps_per_s"])
    line = "d %d: distsweep best (%s) %.2f seed-steps/s" % (d, best["label"].split(" ", 2)[2],
                                                           best["seed_steps_per_s"])
    if base:
        line += "; %.1fx one PyTorch process per seed (eager fp32)" % (
            best["seed_steps_per_s"] / base[0]["seed_steps_per_s"])
    line += "; %.2fx the best PyTorch (%s)" % (best["seed_steps_per_s"] / tbest["seed_steps_per_s"],
                                            tbest["label"].split(" ", 2)[2])
    print(line)
EOF
