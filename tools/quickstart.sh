#!/usr/bin/env bash
# Installs the dependencies, builds distsweep in build/ and runs the embedded
# default job for real: the small CPU sweep sweeps/smoke.yaml on 2 MPI ranks,
# then `distsweep status` of its result file.
# Running it again resumes the same file (finished runs are skipped); pass
# --fresh to move the old result aside and train everything again.
# Usage: tools/quickstart.sh [--fresh]
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"

# Open MPI refuses to run as root unless told; cloud machines often run as root.
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

out=results/smoke.h5
build/distsweep plan sweeps/smoke.yaml
# --oversubscribe: 2 ranks must start even on a 1-core machine.
mpirun -np 2 --oversubscribe build/distsweep sweeps/smoke.yaml -o "$out" "$@"
build/distsweep status "$out"
echo "quickstart: result file $out (distsweep report $out; /usr/bin/python3 tools/plot_sweep.py $out -o figs/)"
