#!/usr/bin/env bash
# bench_scheduler.sh — how fast rank 0 absorbs results, and how idle workers
# are, with synthetic jobs of fixed duration (no training; src/synth.h).
#
# usage: tools/bench/bench_scheduler.sh [DISTSWEEP] [RANKS]
#   DISTSWEEP  the binary (default build/distsweep)   RANKS  default 16
#
# Two measurements, each a real `mpirun -np RANKS distsweep run` into a real
# SWMR HDF5 file with its fsync'd journal:
#   1. absorption: 0-second jobs in packs of 50 seeds, 4 scales x 5000 seeds =
#      20,000 results. Prints results/s end to end and results/s of rank 0's
#      storing alone (journal append + fsync + HDF5 writes + flush, per batch).
#   2. the same with one seed per pack (4 x 1000 packs): one ASSIGN per result.
#   3. idle: 1-second jobs (1000 steps of 1 ms, one seed per pack), 10 rounds of
#      RANKS packs. Prints the workers' idle fraction: time between asking for
#      work and getting it, while work remained, over training + idle time.
# Prints figures; never fails on timing.
set -euo pipefail
BIN=${1:-build/distsweep}
NP=${2:-16}
BIN=$(readlink -f "$BIN")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
W=$(mktemp -d /tmp/ds-bench-sched-XXXXXX)
trap 'rm -rf "$W"' EXIT

sweep() { # name seeds steps
  cat > "$W/$1.yaml" <<YAML
name: $1
task: {kind: count, vocab: 100, train_length: [1, 10], eval_lengths: [10, 20, 30, 40, 50, 60, 70, 80]}
train: {steps: $3, batch: 4, context: 128, lr: 1.0e-3, warmup: 10, log_every: 10}
seeds: {start: 0, count: $2}
scales:
  - {family: width, depth: 1, width: [64, 128, 192, 256]}
output: $W/$1.h5
run: {pack: auto, checkpoint_every: 0, max_attempts: 2, backend: cpu}
YAML
}
field() { /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

echo "# bench_scheduler: $NP ranks (oversubscribed on $(getconf _NPROCESSORS_ONLN) cores), $(date -u +%FT%TZ), git $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo '?')"

sweep absorb 5000 10
DISTSWEEP_SCHED_STATS=$W/absorb.json mpirun -np "$NP" --oversubscribe "$BIN" run "$W/absorb.yaml" \
  --synthetic-job-seconds 0 --pack 50 --quiet
n=$(field "$W/absorb.json" stored); wall=$(field "$W/absorb.json" wall_s); st=$(field "$W/absorb.json" store_s)
/usr/bin/python3 - "$n" "$wall" "$st" <<'PY'
import sys
n, wall, st = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"absorption: {n} results (8 lengths x 5 metrics + 10-point curve each) in {wall:.2f} s "
      f"= {n / wall:.0f} results/s end to end; rank 0 storing alone: {n / st:.0f} results/s "
      f"({st:.2f} s in the store)")
PY

sweep single 1000 10
DISTSWEEP_SCHED_STATS=$W/single.json mpirun -np "$NP" --oversubscribe "$BIN" run "$W/single.yaml" \
  --synthetic-job-seconds 0 --pack 1 --quiet
/usr/bin/python3 - "$W/single.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"one seed per pack: {s['stored']} results, one ASSIGN each, in {s['wall_s']:.2f} s "
      f"= {s['stored'] / s['wall_s']:.0f} results/s end to end; rank 0 storing alone: "
      f"{s['stored'] / s['store_s']:.0f} results/s")
PY

sweep idle $(( NP * 10 / 4 )) 1000
DISTSWEEP_SCHED_STATS=$W/idle.json mpirun -np "$NP" --oversubscribe "$BIN" run "$W/idle.yaml" \
  --synthetic-job-seconds 1 --pack 1 --quiet
/usr/bin/python3 - "$W/idle.json" "$NP" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); np_ = int(sys.argv[2])
busy, idle = s["busy_s"], s["idle_s"]
print(f"idle: {s['stored']} one-second jobs on {np_} ranks in {s['wall_s']:.2f} s "
      f"(ideal {s['stored'] / np_:.0f} s); worker idle {idle:.3f} s of {busy + idle:.1f} s "
      f"= {100 * idle / (busy + idle):.3f} % idle")
PY
