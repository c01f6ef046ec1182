#!/usr/bin/env bash
# bench_cpu_vs_torch: distsweep's CPU engine against the same model and batch
# shape in PyTorch on the CPU, for the count model (depth 4, vocab 150 -> 154
# token ids, head_dim 64, parallel blocks, rotary 0.25) at several widths.
#
#   tools/bench/bench_cpu_vs_torch.sh [--build DIR] [--sizes "64 128 256"]
#       [--batch 128] [--context 256] [--steps 5] [--warmup 2] [--threads 2]
#       [--repeat 3] [--coretype auto|unset|Haswell|SkylakeX|Cooperlake] [--explore]
#
# One step = data, forward, masked CE, backward, global-norm clip, AdamW (no
# evaluation). The engine side is `distsweep bench --backend cpu` on a sweep
# file written here (count task, vocab 150, width family at depth 4 over
# --sizes, the given batch and context); the PyTorch side is
# tools/bench/bench_torch.py in its best CPU configuration: torch threads =
# OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = --threads and
# LD_PRELOAD=libtcmalloc_minimal.so.4 (glibc malloc page-faults on large activations: measured 24 s -> 4.1 s per step). Both run
# under the same OPENBLAS_CORETYPE (PyTorch's matmuls also go to OpenBLAS):
# with --coretype auto (the default) the engine picks its kernels as it always
# does (src/backend_cpu.c: never below the CPU's class) and PyTorch gets the
# same OPENBLAS_CORETYPE; any other value is forced on both.
# Prints the step time of each and the ratio torch/engine (> 1: the engine is
# faster). Each size runs --repeat times, engine and PyTorch alternating, so
# that both see the same phases of a machine whose speed drifts; the table
# gives every run's mean step time and the ratio of the medians. --explore
# also times OPENBLAS_CORETYPE unset / Haswell / SkylakeX / Cooperlake and
# 1 vs 2 BLAS threads for both, at every size (the engine runs
# OpenBLAS single-threaded on its own tiles, so only the coretype matters to
# it; DISTSWEEP_KEEP_OPENBLAS_CORETYPE=1 keeps distsweep from replacing
# the forced kernels by its own choice, so that the setting is measured).
#
# Timings are noisy on a shared 2-core machine: run it on an idle machine and
# repeat. Results of this project's machines are in tools/bench/RESULTS.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="$root/build"
sizes="64 128 256"
batch=128
context=256
steps=5
warmup=2
threads=2
repeat=3
coretype=auto
explore=0
py=/usr/bin/python3

while [ $# -gt 0 ]; do
    case "$1" in
        --build) build=$2; shift 2 ;;
        --sizes) sizes=$2; shift 2 ;;
        --batch) batch=$2; shift 2 ;;
        --context) context=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --coretype) coretype=$2; shift 2 ;;
        --explore) explore=1; shift ;;
        -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
        *) echo "bench_cpu_vs_torch: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

engine="$build/distsweep"
if [ ! -x "$engine" ]; then
    echo "bench_cpu_vs_torch: $engine not found: build first (cmake --build $build)" >&2
    exit 2
fi
tmpdir=$(mktemp -d /tmp/bench_cpu_vs_torch.XXXXXX)
sweep="$tmpdir/bench.yaml"
# shellcheck disable=SC2086  # word splitting of the size list is intended
widths=$(echo $sizes | tr ' ' ',')
cat >"$sweep" <<EOF
name: bench_cpu_vs_torch
task: {kind: count, vocab: 150, train_length: [1, 30], eval_lengths: [30]}
model: {head_dim: 64, block: parallel, rotary_frac: 0.25}
train: {steps: 10000, batch: $batch, context: $context, lr: 1.0e-3, warmup: 500, weight_decay: 0.1, grad_clip: 1.0}
seeds: {start: 0, count: 1}
scales:
  - {family: width, depth: 4, width: [$widths]}
EOF
# scale index of a width at depth 4, as distsweep numbers them
scale_of() {
    local i
    i=$("$engine" plan "$sweep" --format json | "$py" -c '
import json, sys
for s in json.load(sys.stdin)["scales"]:
    if s["width"] == int(sys.argv[1]) and s["depth"] == 4: print(s["index"])' "$1")
    if [ -z "$i" ]; then
        echo "bench_cpu_vs_torch: width $1 not among the sweep's scales" >&2
        exit 1
    fi
    echo "$i"
}
tcmalloc=libtcmalloc_minimal.so.4
if [ ! -e "/usr/lib/x86_64-linux-gnu/$tcmalloc" ] && [ ! -e "/usr/lib/$tcmalloc" ]; then
    echo "bench_cpu_vs_torch: warning: $tcmalloc not installed; PyTorch runs with glibc malloc (slower)" >&2
    tcmalloc=
fi

# run_one IMPL D CORETYPE BLAS_THREADS -> prints the median step time (s)
run_one() {
    local impl=$1 d=$2 ct=$3 bt=$4 out
    # shellcheck disable=SC2206  # extra_env is a list of VAR=value words
    local -a envs=(env -u OPENBLAS_CORETYPE -u DISTSWEEP_REEXECED $extra_env)
    if [ "$ct" = auto ]; then
        [ "$impl" = torch ] && envs+=(OPENBLAS_CORETYPE="$auto_core")
    else
        [ "$ct" != unset ] && envs+=(OPENBLAS_CORETYPE="$ct")
        envs+=(DISTSWEEP_KEEP_OPENBLAS_CORETYPE=1)
    fi
    if [ "$impl" = engine ]; then
        local sc
        sc=$(scale_of "$d")
        out=$("${envs[@]}" OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$bt" \
            "$engine" bench "$sweep" --backend cpu --scale "$sc" --pack 1 \
            --steps "$steps" --warmup-steps "$warmup" --format json)
    else
        out=$("${envs[@]}" OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$bt" \
            ${tcmalloc:+LD_PRELOAD=$tcmalloc} \
            "$py" "$here/bench_torch.py" --d "$d" --batch "$batch" --context "$context" \
            --steps "$steps" --warmup-steps "$warmup" --threads "$threads")
    fi
    echo "$out" >>"$log"
    "$py" -c 'import json,sys; j=json.loads(sys.argv[1]); print("%.4f" % j.get("step_s_mean", j.get("step_s")))' "$out"
}

log="$tmpdir/runs.jsonl"
extra_env=  # more VAR=value settings for run_one (exploration only)
ct_main=$coretype
# the kernels the engine chooses for itself on this CPU (auto mode)
auto_core=$(env -u OPENBLAS_CORETYPE -u DISTSWEEP_REEXECED "$engine" bench "$sweep" --backend cpu \
    --steps 1 --warmup-steps 0 --format json |
    "$py" -c 'import json,sys; print(json.load(sys.stdin)["openblas_core"])')

echo "# distsweep CPU engine vs PyTorch $("$py" -c 'import torch; print(torch.__version__)') (CPU)"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -n), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# commit $(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# count model: depth 4, vocab 154, head_dim 64, parallel, rotary 0.25; batch $batch x context $context; $steps timed steps after $warmup (mean)"
if [ "$ct_main" = auto ]; then
    echo "# both: OpenBLAS core $auto_core (the engine's own choice; torch: OPENBLAS_CORETYPE=$auto_core), OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads"
else
    echo "# both: OPENBLAS_CORETYPE=$ct_main OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads"
fi
echo "# torch: torch.set_num_threads($threads), LD_PRELOAD=${tcmalloc:-none}, torch.optim.AdamW(foreach=True)"
# median of the numbers given as arguments
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo "# $repeat runs per size, engine and torch alternating; ratio = median torch / median engine"
printf "%-6s %10s %-28s %-28s %8s\n" d params "engine s/step (runs)" "torch s/step (runs)" ratio
for d in $sizes; do
    es=() ts=()
    for _ in $(seq "$repeat"); do
        es+=("$(run_one engine "$d" "$ct_main" "$threads")")
        ts+=("$(run_one torch "$d" "$ct_main" "$threads")")
    done
    e=$(median "${es[@]}")
    t=$(median "${ts[@]}")
    p=$("$py" -c "d=$d; print(4*(12*d*d+13*d)+2*154*d+2*d)")
    r=$("$py" -c "print('%.2f' % ($t / $e))")
    printf "%-6s %10s %-28s %-28s %7sx\n" "$d" "$p" "$e (${es[*]})" "$t (${ts[*]})" "$r"
done

if [ "$explore" = 1 ]; then
    echo
    echo "# explore: mean s/step by OPENBLAS_CORETYPE; torch also by OPENBLAS_NUM_THREADS"
    echo "# (OMP threads $threads; the engine runs OpenBLAS single-threaded on its own tiles)"
    printf "%-6s %-11s %14s %14s %14s\n" d coretype engine "torch blas=1" "torch blas=2"
    for d in $sizes; do
        for ct in unset Haswell SkylakeX Cooperlake; do
            e=$(run_one engine "$d" "$ct" 1)
            t1=$(run_one torch "$d" "$ct" 1)
            t2=$(run_one torch "$d" "$ct" 2)
            printf "%-6s %-11s %14s %14s %14s\n" "$d" "$ct" "$e" "$t1" "$t2"
        done
        extra_env="ATEN_CPU_CAPABILITY=avx512"
        t2=$(run_one torch "$d" "$ct_main" "$threads")
        extra_env=
        printf "%-6s %-11s %14s %14s %14s   (torch with ATEN_CPU_CAPABILITY=avx512)\n" "$d" "$ct_main" - - "$t2"
    done
fi
echo "# raw JSON lines: $log"
