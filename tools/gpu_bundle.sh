#!/usr/bin/env bash
# Packs what the GPU checks need into one archive for a GPU machine that has
# the CUDA toolkit but not this build machine's libraries (MPI, HDF5, libyaml,
# OpenBLAS): the CUDA test binaries and distsweep from BUILD, the shared
# libraries they load from outside the CUDA toolkit and glibc, and the list
# of ctest's gpu tests (name, environment, command) so that the checks run
# exactly what `ctest -L gpu` would. tools/gpu_check.sh runs it there.
#
# Usage: tools/gpu_bundle.sh BUILD [ARCHIVE]   (default ARCHIVE: .gpu/bundle.tar.xz)
# BUILD must be configured with -DCMAKE_CUDA_ARCHITECTURES including the
# GPU's (90 for H100/H200) and built.
set -euo pipefail
build=$(cd "${1:?usage: tools/gpu_bundle.sh BUILD [ARCHIVE]}" && pwd)
archive=${2:-.gpu/bundle.tar.xz}
mkdir -p "$(dirname "$archive")"
archive=$(cd "$(dirname "$archive")" && pwd)/$(basename "$archive")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"

bins=(distsweep test_cuda_rng test_cuda_ops test_cuda_model)
for b in "${bins[@]}"; do
  [ -x "$build/$b" ] || { echo "gpu_bundle: $build/$b is missing (a CUDA build?)" >&2; exit 1; }
  cp "$build/$b" "$stage/bin/"
done

# the libraries of this machine, but not the CUDA toolkit's (the GPU machine
# has its own, matching its driver) nor glibc and the C++ runtime (its own are
# newer, and binaries built against an older glibc run on a newer one)
for b in "${bins[@]}"; do ldd "$build/$b"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
  grep -Ev '^/usr/local/|/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux-x86-64|libstdc\+\+|libgcc_s)\.so' |
  while read -r lib; do cp -L "$lib" "$stage/lib/"; done

# ctest's gpu tests whose binary is bundled: name TAB environment (;-separated,
# - for none: read collapses empty tab-separated fields) TAB command
(cd "$build" && ctest --show-only=json-v1 -L gpu) | /usr/bin/python3 -c '
import json, os, sys
bundled = set(sys.argv[1:])
for t in json.load(sys.stdin)["tests"]:
    cmd = t["command"]
    if os.path.basename(cmd[0]) not in bundled:
        continue
    env = [v for p in t.get("properties", []) if p["name"] == "ENVIRONMENT" for v in p["value"]]
    print(t["name"], ";".join(env) or "-", " ".join([os.path.basename(cmd[0])] + cmd[1:]), sep="\t")
' "${bins[@]}" > "$stage/tests.tsv"
git -C "$(dirname "$0")/.." rev-parse --short HEAD > "$stage/commit" 2>/dev/null || echo unknown > "$stage/commit"

XZ_OPT="-3 -T0" tar -C "$stage" -cJf "$archive" .
echo "gpu_bundle: $archive ($(du -h "$archive" | cut -f1); $(wc -l < "$stage/tests.tsv") tests, ${#bins[@]} binaries, $(find "$stage/lib" -type f | wc -l) libraries)"
