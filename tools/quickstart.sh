#!/usr/bin/env bash
# Installs the dependencies, builds distsweep in build/ and runs the embedded
# default job: the small CPU sweep sweeps/smoke.yaml.
# (Until the sweep runner lands this prints the sweep's plan; it never
# pretends to train.)
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"
build/distsweep plan sweeps/smoke.yaml
