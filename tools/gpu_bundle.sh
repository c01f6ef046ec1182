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

bins=(distsweep test_cuda_rng test_cuda_bigvocab test_cuda_ops test_cuda_model test_cuda_memory test_cuda_llama test_nccl_group)
for b in "${bins[@]}"; do
  [ -x "$build/$b" ] || { echo "gpu_bundle: $build/$b is missing (a CUDA build?)" >&2; exit 1; }
  cp "$build/$b" "$stage/bin/"
done

# Copies into lib/ the libraries that the files named on stdin load (once
# each): the libraries of this machine, but not the CUDA toolkit's (the GPU
# machine has its own, matching its driver) nor glibc and the C++ runtime (its
# own are newer, and binaries built against an older glibc run on a newer one).
bundle_libs() {
  while read -r f; do
    ldd "$f" 2>/dev/null || true # a help text or script is not a dynamic object
  done | awk '$3 ~ /^\// {print $3}' | sort -u |
    grep -Ev '^/usr/local/|/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux-x86-64|libstdc\+\+|libgcc_s)\.so' |
    while read -r lib; do if [ ! -e "$stage/lib/$(basename "$lib")" ]; then cp -L "$lib" "$stage/lib/"; fi; done
}
printf '%s\n' "${bins[@]/#/$build/}" | bundle_libs

# Open MPI's runtime (mpirun, its components, help texts and PMIx), so that
# the GPU machine, which has no MPI, can run `mpirun -np 2 distsweep` (the
# end-to-end GPU sweep of tools/gpu_check.sh). It is kept at its own paths
# under mpi/ and relocated there with OPAL_PREFIX and PMIX_PREFIX;
# the libraries its components load go into lib/ with the rest. (Checked on
# the build machine with its own Open MPI hidden in a private mount namespace.)
if command -v orterun > /dev/null && [ -d /usr/lib/x86_64-linux-gnu/openmpi ]; then
  m="$stage/mpi"
  mkdir -p "$m/usr/bin" "$m/usr/share" "$m/usr/lib/x86_64-linux-gnu" "$m/etc"
  cp -L /usr/bin/orterun /usr/bin/orted "$m/usr/bin/"
  ln -s orterun "$m/usr/bin/mpirun"
  cp -a /usr/lib/x86_64-linux-gnu/openmpi "$m/usr/lib/x86_64-linux-gnu/"
  [ -d /usr/lib/x86_64-linux-gnu/pmix2 ] && cp -a /usr/lib/x86_64-linux-gnu/pmix2 "$m/usr/lib/x86_64-linux-gnu/"
  cp -a /usr/share/openmpi "$m/usr/share/"
  [ -d /etc/openmpi ] && cp -a /etc/openmpi "$m/etc/"
  rm -rf "$m/usr/lib/x86_64-linux-gnu/openmpi/include"
  find "$m/usr/bin" "$m/usr/lib" -name '*.so*' -o -type f -perm -u+x | bundle_libs
fi

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
