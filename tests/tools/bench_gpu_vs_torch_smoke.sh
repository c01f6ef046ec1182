#!/usr/bin/env bash
# tools/bench/bench_gpu_vs_torch.sh --tiny on CI's CPU: every PyTorch configuration trains
# (k processes through the barrier, vmap), the distsweep CUDA runs fail without a GPU and are
# reported so, and the summary is printed. Figures unchecked. Then bench_torch_gpu.py --check:
# R seeds under vmap lose as each seed alone does.
# Usage: bench_gpu_vs_torch_smoke.sh SOURCE_DIR BUILD_DIR PYTHON
set -euo pipefail
src=$1 build=$2 py=$3
"$py" -c 'import torch' 2>/dev/null || { echo "no torch for $py: skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1
PYTHON=$py "$src/tools/bench/bench_gpu_vs_torch.sh" --tiny "$build/distsweep" "$work"
s="$work/summary.txt"
for label in "torch eager fp32 1 seed" "torch eager bf16 1 seed" "torch eager bf16 2 processes" \
             "torch vmap bf16 8 seeds"; do
  grep -Eq "^d32 $label +[0-9.]+$" "$s" || { echo "no figure for '$label'"; cat "$s"; exit 1; }
done
grep -q "^d32 distsweep bf16 pack 8 *FAILED" "$s" || { echo "no failed distsweep line"; cat "$s"; exit 1; }
grep -q "^d 32: no comparison" "$s" || { echo "no comparison line"; cat "$s"; exit 1; }
"$py" "$src/tools/bench/bench_torch_gpu.py" --d 32 --layers 2 --head-dim 16 --vocab 20 --batch 4 \
  --context 32 --seeds 3 --steps 5 --check
echo "bench_gpu_vs_torch smoke: ok"
