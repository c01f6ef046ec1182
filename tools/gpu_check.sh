#!/usr/bin/env bash
# The GPU checks in one command, for a GPU machine lent for a few minutes:
# every ctest gpu test of the bundle (tools/gpu_bundle.sh), a real two-rank
# sweep through the bundle's mpirun, then the CUDA benchmark at fp32, tf32 and
# bf16 on the count sweep's widths 64, 256 and 512 (depth 4, pack 8; fp32 and
# bf16 also as CUDA graphs, packs 32 and 64 at d 64, the other attention at
# d 64 and 512, the largest pack per width) beside the CPU backend at d 64 on
# the same machine. Most important first: a run cut short by its time limit
# keeps what came before (summary.txt is written as it goes).
# Writes tests.log, bench.jsonl and summary.txt under OUTDIR and prints the
# summary; exits 1 when a test or the end-to-end MPI sweep failed (a
# benchmark that fails is reported, not fatal). About 5 minutes on an H100 with a warm machine.
#
# Usage: tools/gpu_check.sh [ARCHIVE] [OUTDIR] [vs-torch|vs-torch-quick|sanitize]...
#   (defaults .gpu/bundle.tar.xz, ./gpu-check). vs-torch also runs
#   tools/bench/bench_gpu_vs_torch.sh (8 more minutes; -quick: 4) into OUTDIR/vs-torch;
#   sanitize runs compute-sanitizer's memcheck on test_cuda_ops at fp32 and bf16 with
#   both attention implementations (a failure counts as a failed test). "only" first
#   (tools/gpu_check.sh ARCHIVE OUTDIR only sanitize) skips the tests and benchmarks,
#   for a second call that adds what the first left out.
# The tests include gpu.memory_long_context_{gemm,tiled,tf32,bf16} (test_cuda_memory:
# attention and a model at T = 2,048 against the CPU, 153 evaluation shapes, non-finite
# future values; docs/cuda.md "What the GPU run must confirm"); each runs the CPU
# reference too (seconds on 16 cores).
# The tf32/bf16 runs set DISTSWEEP_CUDA_UNVERIFIED_PRECISION=1: they are the
# verification that src/backend.c waits for (docs/cuda.md, "Precision").
# gpu.llama_block{,_tf32,_bf16} (test_cuda_llama: the llama block's ops and model
# against the CPU, its bit identities) set DISTSWEEP_CUDA_UNVERIFIED_BLOCK=1 in the
# test: the verification that src/backend.c's refusal of block llama on cuda waits for.
# gpu.bigvocab_vs_cpu{,_tf32,_bf16} and gpu.bigvocab_over_2g31 (test_cuda_bigvocab:
# vocabularies of 50,304 and 151,936 against the CPU, and a pack whose logits pass
# 2^31 elements, about 31 GB, skipped where it does not fit) run right after the
# Philox check: they have never run on a GPU (docs/cuda.md).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
archive=${1:-.gpu/bundle.tar.xz}
out=${2:-gpu-check}
mkdir -p "$out"
out=$(cd "$out" && pwd)
dir=$(mktemp -d)
tar -C "$dir" -xJf "$archive" || { echo "gpu_check: cannot unpack $archive" >&2; exit 2; }
cuda_lib=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && cuda_lib="$cuda_lib:$d"
done
export LD_LIBRARY_PATH="$dir/lib$cuda_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# the bundle's Open MPI, relocated (tools/gpu_bundle.sh): for mpirun and for
# the singleton MPI start of test_nccl_group
if [ -d "$dir/mpi" ]; then
  ml="$dir/mpi/usr/lib/x86_64-linux-gnu"
  export OPAL_PREFIX="$dir/mpi/usr" PMIX_PREFIX="$ml/pmix2" PATH="$dir/mpi/usr/bin:$PATH"
  export LD_LIBRARY_PATH="$ml/openmpi/lib:$ml/pmix2/lib:$LD_LIBRARY_PATH"
  # PMIx's components: PMIX_PREFIX alone leaves them at the built-in path
  export PMIX_MCA_mca_base_component_path="$ml/pmix2/lib/pmix"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
summary="$out/summary.txt"
{
  echo "gpu_check $(date -u +%Y-%m-%dT%H:%MZ), bundle of commit $(cat "$dir/commit")"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: none"
  # what a failed start or the next steps need to know about this machine: libraries the
  # bundle's binaries cannot find, and whether an MPI is here for a multi-rank GPU sweep
  for b in "$dir"/bin/*; do
    missing=$(ldd "$b" 2>/dev/null | awk '/not found/ {print $1}' | tr '\n' ' ')
    [ -n "$missing" ] && echo "machine: $(basename "$b") cannot find: $missing"
  done
  echo "machine: mpirun $(command -v mpirun || echo none); $(python3 -c 'import mpi4py; print("mpi4py", mpi4py.get_config())' 2>/dev/null || echo "no mpi4py")"
} | tee "$summary"

fails=0
# the tests, the end-to-end sweep and the benchmarks; skipped with "only"
core_checks() {
: > "$out/tests.log"
while IFS=$'\t' read -r name env cmd; do
  start=$(date +%s)
  [ "$env" = - ] && env=""
  # shellcheck disable=SC2086 # env (VAR=v;...) and cmd (binary args) are word lists
  (cd "$dir/bin" && env ${env//;/ } timeout 300 ./$cmd) >> "$out/tests.log" 2>&1
  rc=$?
  case $rc in 0) verdict=passed ;; 77) verdict=skipped ;; *) verdict="FAILED (exit $rc)"; fails=$((fails + 1)) ;; esac
  line="test $name: $verdict in $(( $(date +%s) - start )) s"
  echo "$line" | tee -a "$summary"
  echo "=== $line" >> "$out/tests.log"
done < "$dir/tests.tsv"

# A real sweep end to end with the bundle's Open MPI (relocated: the GPU
# machine has none): two ranks sharing the GPU train sweeps/smoke.yaml into
# an HDF5 file, `status` and `report` read it, and the same command again
# finds every run done. GPU_CHECK_E2E_BACKEND (default cuda) lets the CPU
# smoke test (tests/tools/gpu_check_smoke.sh) run the same plumbing.
e2e() {
  local backend=$1 h5="$out/e2e.h5" log="$out/e2e.log" start rc
  local m="$dir/mpi/usr"
  rm -rf "$h5" "$h5".*
  start=$(date +%s)
  timeout 240 "$m/bin/mpirun" --oversubscribe -np 2 "$dir/bin/distsweep" sweeps/smoke.yaml \
    --backend "$backend" -o "$h5" --quiet > "$log" 2>&1
  rc=$?
  echo "e2e: mpirun -np 2 distsweep sweeps/smoke.yaml --backend $backend: exit $rc in $(( $(date +%s) - start )) s"
  [ "$rc" -eq 0 ] || { tail -5 "$log"; return 1; }
  "$dir/bin/distsweep" status "$h5" >> "$log" 2>&1 || { echo "e2e: status failed"; return 1; }
  "$dir/bin/distsweep" report "$h5" >> "$log" 2>&1 || { echo "e2e: report failed"; return 1; }
  grep -E "^(total|complete)" "$log" | head -2 | sed "s/^/e2e: status: /"
  "$m/bin/mpirun" --oversubscribe -np 2 "$dir/bin/distsweep" sweeps/smoke.yaml --backend "$backend" \
    -o "$h5" --quiet >> "$log" 2>&1 || { echo "e2e: the resume of a finished sweep failed"; return 1; }
  echo "e2e: passed (status, report and the rerun of the finished sweep in e2e.log)"
}
if [ -x "$dir/mpi/usr/bin/orterun" ]; then
  (e2e "${GPU_CHECK_E2E_BACKEND:-cuda}") 2>&1 | tee -a "$summary"
  tail -1 "$summary" | grep -q '^e2e: passed' || fails=$((fails + 1))
else
  echo "e2e: skipped (the bundle has no Open MPI)" | tee -a "$summary"
fi

: > "$out/bench.jsonl"
steps_of() { # timed steps per width: fewer where a step is slow, to keep the whole under 6 minutes
  if [ "$1" = 4 ]; then echo 10; else echo 20; fi
}
bench() { # label, then distsweep bench arguments
  local label=$1
  shift
  if DISTSWEEP_CUDA_UNVERIFIED_PRECISION=1 "$dir/bin/distsweep" bench sweeps/count.yaml --format json "$@" \
      > "$out/bench.one" 2>> "$out/tests.log"; then
    cat "$out/bench.one" >> "$out/bench.jsonl"
    echo "bench $label: $(/usr/bin/env python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
print(", ".join(f"{k} {d[k]:.4g}" if isinstance(d[k], float) else f"{k} {d[k]}" for k in ("backend","step_s","steps_per_s","tokens_per_s","gflops") if k in d))' "$out/bench.one" 2>/dev/null || tr -d '\n' < "$out/bench.one")" | tee -a "$summary"
  else
    echo "bench $label: FAILED (see tests.log)" | tee -a "$summary"
  fi
}
for s in 0 2 4; do
  for p in fp32 tf32 bf16; do
    bench "cuda scale $s $p pack 8" --backend cuda --scale "$s" --pack 8 --precision "$p" --steps "$(steps_of "$s")" --warmup-steps 2
  done
  # the same step captured once and replayed (docs/cuda.md, "The step stays on the device")
  for p in fp32 bf16; do
    DISTSWEEP_CUDA_GRAPHS=1 bench "cuda scale $s $p pack 8 graphs" --backend cuda --scale "$s" --pack 8 --precision "$p" --steps "$(steps_of "$s")" --warmup-steps 2
  done
  # attention's other implementation (docs/cuda.md, "Attention"), at the ends of the width range
  if [ "$s" != 2 ]; then
    DISTSWEEP_CUDA_ATTENTION=gemm bench "cuda scale $s fp32 pack 8 attention gemm" --backend cuda --scale "$s" --pack 8 --precision fp32 --steps "$(steps_of "$s")" --warmup-steps 2
    DISTSWEEP_CUDA_ATTENTION=tiled bench "cuda scale $s bf16 pack 8 attention tiled" --backend cuda --scale "$s" --pack 8 --precision bf16 --steps "$(steps_of "$s")" --warmup-steps 2
  fi
done
# larger packs at the smallest width, where launches and small GEMMs dominate
for r in 32 64; do
  DISTSWEEP_CUDA_GRAPHS=1 bench "cuda scale 0 bf16 pack $r graphs" --backend cuda --scale 0 --pack "$r" --precision bf16 --steps 10 --warmup-steps 2
done
# the largest pack (a power of two) that fits, per width: one step each, from
# the top down, so that the first that runs is the answer
for s in 0 2 4; do
  best=none
  for r in 256 128 64 32 16 8 4 2 1; do
    if DISTSWEEP_CUDA_UNVERIFIED_PRECISION=1 "$dir/bin/distsweep" bench sweeps/count.yaml --backend cuda \
        --scale "$s" --pack "$r" --precision bf16 --steps 1 --warmup-steps 0 > /dev/null 2>> "$out/tests.log"; then
      best=$r
      break
    fi
  done
  echo "largest pack: cuda scale $s bf16: $best" | tee -a "$summary"
done
bench "cpu scale 0 fp32 pack 1" --backend cpu --scale 0 --pack 1 --steps 2 --warmup-steps 1
rm -f "$out/bench.one"
}
if [ "${3:-}" != only ]; then core_checks; fi

# memcheck of the op tests (the kernels written without a GPU among them), on
# both attention implementations: every out-of-bounds or misaligned access is
# an error (exit 9)
sanitize() {
  local san=/usr/local/cuda/bin/compute-sanitizer
  [ -x "$san" ] || san=$(command -v compute-sanitizer) || { echo "sanitize: no compute-sanitizer"; return 1; }
  local rc=0 a p
  for a in tiled gemm; do
    for p in fp32 bf16; do
      if (cd "$dir/bin" && DISTSWEEP_CUDA_UNVERIFIED_PRECISION=1 DISTSWEEP_CUDA_ATTENTION=$a \
          timeout 300 "$san" --tool memcheck --error-exitcode 9 ./test_cuda_ops "$p") >> "$out/sanitize.log" 2>&1; then
        echo "sanitize: memcheck test_cuda_ops $p, attention $a: clean"
      elif grep -q "Device not supported" "$out/sanitize.log"; then
        # some machines' runtimes (gVisor) refuse the tool: not a finding about the code
        echo "sanitize: compute-sanitizer cannot use this GPU here (sanitize.log); skipped"
        return 0
      else
        echo "sanitize: memcheck test_cuda_ops $p, attention $a: ERRORS (sanitize.log)"
        rc=1
      fi
    done
  done
  return "$rc"
}
for extra in "${@:3}"; do
  case $extra in
    vs-torch) tools/bench/bench_gpu_vs_torch.sh "$dir/bin/distsweep" "$out/vs-torch" | tee -a "$summary" ;;
    vs-torch-quick) tools/bench/bench_gpu_vs_torch.sh --quick "$dir/bin/distsweep" "$out/vs-torch" | tee -a "$summary" ;;
    only) ;;
    sanitize) sanitize 2>&1 | tee -a "$summary"; [ "${PIPESTATUS[0]}" -eq 0 ] || fails=$((fails + 1)) ;;
    *) echo "gpu_check: unknown argument '$extra' (vs-torch, vs-torch-quick or sanitize)" | tee -a "$summary" ;;
  esac
done
rm -rf "$dir"
echo "gpu_check: $fails test(s) failed" | tee -a "$summary"
[ "$fails" -eq 0 ]
