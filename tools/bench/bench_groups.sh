#!/usr/bin/env bash
# bench_groups.sh — step time of one pack trained alone and by data-parallel
# groups of 2 and 4 CPU ranks (docs/design.md §8), with and without
# micro-batches (train.micro_batches).
#
# usage: tools/bench/bench_groups.sh [DISTSWEEP] [STEPS]
#   DISTSWEEP  the binary (default build/distsweep)   STEPS  default 20
#
# One scale (width 128, depth 2, batch 32 x 63 rows), one seed, one thread per
# rank (OMP_NUM_THREADS=1), a real `mpirun -np k+1 distsweep run` for each k
# (rank 0 schedules and writes; the group is ranks 1..k). Prints the pack's
# training wall time per step from the result file (runs/wall_s / steps:
# it includes the one evaluation, two short lengths) and whether each run's
# metrics are bit-identical to k = 1's. A figure, never a pass/fail timing;
# on a machine with fewer cores than k+1 ranks it measures oversubscription.
set -euo pipefail
BIN=$(readlink -f "${1:-build/distsweep}")
STEPS=${2:-20}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
W=$(mktemp -d /tmp/ds-bench-groups-XXXXXX)
trap 'rm -rf "$W"' EXIT
echo "cores: $(getconf _NPROCESSORS_ONLN), load: $(cut -d' ' -f1-3 /proc/loadavg), steps: $STEPS"
for mb in 1 8; do
  for k in 1 2 4; do
    cat > "$W/g.yaml" <<YAML
name: bench-groups
task: {kind: count, vocab: 30, train_length: [1, 10], eval_lengths: [10, 20]}
model: {head_dim: 32}
train: {steps: $STEPS, batch: 32, context: 64, lr: 1.0e-3, warmup: 2, log_every: 10, micro_batches: $mb}
seeds: {count: 1}
scales: [{family: depth, width: 128, depth: [2]}]
run: {pack: 1, checkpoint_every: 0, backend: cpu, ranks_per_job: $k}
YAML
    out="$W/mb$mb-k$k.h5"
    if [ "$k" = 1 ]; then "$BIN" "$W/g.yaml" -o "$out" --quiet 2>/dev/null
    else mpirun -np $((k + 1)) --oversubscribe "$BIN" "$W/g.yaml" -o "$out" --quiet 2>/dev/null; fi
    /usr/bin/python3 - "$out" "$W/mb$mb-k1.h5" "$mb" "$k" "$STEPS" <<'PY'
import sys, h5py, numpy as np
out, ref, mb, k, steps = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
keys = ["runs/final_loss", "metrics/loss", "metrics/minprob", "curves/train_loss"]
with h5py.File(out, "r") as f, h5py.File(ref, "r") as g:
    wall = float(f["runs/wall_s"][0, 0])
    same = all(np.array_equal(f[x][()].view(np.uint8), g[x][()].view(np.uint8)) for x in keys)
    print(f"micro_batches {mb}  k {k}  {1e3 * wall / steps:8.1f} ms/step  "
          f"{'bit-identical to k=1' if same else 'differs from k=1 at float rounding'}")
PY
  done
done
