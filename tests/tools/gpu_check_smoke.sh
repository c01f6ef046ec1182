#!/usr/bin/env bash
# tools/gpu_bundle.sh and tools/gpu_check.sh end to end on a machine without
# a GPU: the bundle holds every ctest gpu test, each reports "skipped" there,
# the CUDA benchmarks are reported as failed without failing the check, the
# CPU benchmark line carries figures, and the end-to-end sweep runs through
# the bundle's mpirun on the CPU backend. Skipped (77) in a build without CUDA.
# Usage: gpu_check_smoke.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
[ -x "$build/test_cuda_ops" ] || { echo "no CUDA build: skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$src/tools/gpu_bundle.sh" "$build" "$work/bundle.tar.xz"
want=$(cd "$build" && ctest -N -L gpu | grep -c 'Test *#')
have=$(tar -xJOf "$work/bundle.tar.xz" ./tests.tsv | wc -l)
# every gpu test, gpu.nccl_group_of_one too (the bundle carries Open MPI)
if [ "$have" -ne "$want" ] || [ "$have" -lt 8 ]; then
  echo "bundle lists $have of $want gpu tests"
  exit 1
fi
GPU_CHECK_E2E_BACKEND=cpu "$src/tools/gpu_check.sh" "$work/bundle.tar.xz" "$work/out"
s="$work/out/summary.txt"
[ "$(grep -c '^test gpu\..*: skipped' "$s")" -eq "$have" ] || { echo "not every test skipped:"; cat "$s"; exit 1; }
grep -q '^bench cuda scale 0 bf16 pack 8: FAILED' "$s" || { echo "no failed cuda bench line"; exit 1; }
grep -Eq '^bench cpu scale 0 fp32 pack 1: backend cpu, step_s [0-9.]+' "$s" || { echo "no cpu figures"; exit 1; }
# the end-to-end sweep through the bundle's mpirun, on the CPU here
grep -q '^e2e: passed' "$s" || { echo "the end-to-end MPI sweep did not pass:"; cat "$s"; exit 1; }
echo "gpu_check smoke: ok ($have tests bundled)"
