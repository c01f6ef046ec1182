#!/usr/bin/env bash
# Installs the dependencies, builds distsweep from scratch in build/ and runs
# the whole ctest suite. Exits non-zero when the build or any test fails.
# Usage: tools/test.sh [extra ctest arguments, e.g. -L unit]
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"

# Open MPI refuses to run as root unless told; CI machines run as root.
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
cd build
ctest --output-on-failure --timeout 1500 -j "$(nproc)" "$@"
