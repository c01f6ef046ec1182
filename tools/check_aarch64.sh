#!/usr/bin/env bash
# The aarch64 check without an Arm machine (docs/engine.md "aarch64"):
#   1. installs Debian 12's cross compiler and qemu-user (idempotent, like
#      tools/install-deps.sh) and unpacks Debian's arm64 Open MPI, HDF5,
#      OpenBLAS and libyaml packages into a sysroot (build-aarch64/sysroot).
#      They are not installed with apt: libopenmpi-dev, libhdf5-dev and
#      libpmix-dev of two architectures are not co-installable, and apt would
#      remove the x86-64 ones the normal build needs;
#   2. cross-builds into build-aarch64/ (tools/aarch64-toolchain.cmake);
#   3. runs the unit tests and the engine tests under qemu-aarch64 (ctest,
#      the binaries prefixed by the emulator);
#   4. runs the 2-rank groupcomm test and a 2-rank smoke sweep: the x86-64
#      mpirun starts two arm64 ranks under qemu-aarch64 (Open MPI 4.1.4 on
#      both sides; no binfmt_misc needed);
#   5. reads its result file with the x86-64 `distsweep status` and `report`,
#      runs the same sweep with the x86-64 build and compares the per-seed
#      metrics and loss curves (tools/compare_arch.py).
# Prints the time of each step. Exit 0 when all of it passes.
# Usage: tools/check_aarch64.sh [X86_DISTSWEEP]   (default: builds build/)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
out=$src/build-aarch64
sysroot=${DS_AARCH64_SYSROOT:-$out/sysroot}
x86_bin=${1:-}

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
t_start=$SECONDS
lap() { echo "check_aarch64: $1: $((SECONDS - t_lap)) s"; t_lap=$SECONDS; }
t_lap=$SECONDS

# --- 1. host tools and the arm64 sysroot -------------------------------------
missing=()
for p in gcc-aarch64-linux-gnu file; do
  dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v qemu-aarch64 > /dev/null || command -v qemu-aarch64-static > /dev/null || missing+=(qemu-user)
if [ ${#missing[@]} -gt 0 ]; then
  echo "check_aarch64: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
qemu=$(command -v qemu-aarch64 || command -v qemu-aarch64-static)

# The packages the build links and the ranks load; their dependencies come
# from apt's own resolver, run against an empty package database for arm64.
want=(libc6-dev libgomp1 libopenmpi-dev libhdf5-dev libopenblas-dev libyaml-dev)
# Programs and toolchains among those dependencies are not needed in a sysroot
# (the cross gcc brings its own; the x86-64 mpirun starts the ranks).
skip='^(gcc-12|cpp-12|gfortran-12|libgfortran-12-dev|libgcc-12-dev|binutils.*|libbinutils|libctf.*|libgprofng0|libjansson4|libisl23|libmpfr6|libmpc3|libcc1-0|lib[almt]san[0-9]+|libubsan1|libhwasan0|libitm1|perl.*|libperl.*|libgdbm.*|openssh-client|m4|autoconf|automake|autotools-dev|dpkg|tar|passwd|adduser|debconf|debianutils|libpam.*|libsemanage.*|libsepol2|libaudit.*|libcap-ng0|libjs-.*)$'
if [ ! -f "$sysroot/.distsweep-sysroot" ]; then
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "check_aarch64: dpkg --add-architecture arm64"
    $SUDO dpkg --add-architecture arm64
    $SUDO apt-get update -qq
  fi
  apt_arm64=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64)
  if ! apt-cache "${apt_arm64[@]}" show libopenmpi-dev > /dev/null 2>&1; then
    $SUDO apt-get update -qq
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  : > "$tmp/status"
  apt-get -s -o Dir::State::status="$tmp/status" "${apt_arm64[@]}" --no-install-recommends \
    install "${want[@]}" | awk '/^Inst /{print $2}' | grep -Ev "$skip" > "$tmp/list"
  echo "check_aarch64: unpacking $(wc -l < "$tmp/list") arm64 packages into $sysroot"
  mkdir -p "$out/debs"
  # shellcheck disable=SC2046 # one package name per line
  (cd "$out/debs" && apt-get -qq "${apt_arm64[@]}" download $(cat "$tmp/list"))
  rm -rf "$sysroot"
  mkdir -p "$sysroot"
  for d in "$out"/debs/*.deb; do dpkg-deb -x "$d" "$sysroot"; done
  # what update-alternatives would link at installation (libopenblas0-pthread)
  for l in libopenblas.so libopenblas.so.0 libblas.so.3; do
    ln -sf "openblas-pthread/$l" "$sysroot/usr/lib/aarch64-linux-gnu/$l"
  done
  cp "$tmp/list" "$sysroot/.distsweep-sysroot"
fi
lap "packages and sysroot"

# --- 2. cross build -----------------------------------------------------------
cmake -S . -B "$out" -DCMAKE_TOOLCHAIN_FILE="$src/tools/aarch64-toolchain.cmake" \
  -DDS_AARCH64_SYSROOT="$sysroot" -DDISTSWEEP_CUDA=OFF -DCMAKE_BUILD_TYPE=Release > "$out/configure.log" \
  || { cat "$out/configure.log"; exit 1; }
cmake --build "$out" -j "$(nproc)"
file "$out/distsweep" | grep -q 'ARM aarch64' || { echo "check_aarch64: $out/distsweep is not an aarch64 binary"; exit 1; }
lap "cross build"

if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export QEMU_LD_PREFIX=$sysroot

# --- 3. unit and engine tests under qemu-aarch64 --------------------------------
# Every test whose command is one of our binaries (ctest puts qemu in front);
# not the ones that start the binary from Python or through mpirun (the x86-64
# python and mpirun cannot exec an arm64 file without binfmt_misc), nor the
# GPU ones and the shell-script lint.
# DS_AARCH64_TESTS overrides the list (a ctest -R regex): the engine tests
# take minutes each under emulation
tests=${DS_AARCH64_TESTS:-'^(backend\.|cli\.parse$|engine\.(grad|pack|out_of_memory_paths$|learns_count_and_greedy_em$)|precision\.|rng\.|sched\.(packplan|adaptive|messages)$|stats\.unit$|store\.(unit|output)$|tasks\.unit$)'}
(cd "$out" && ctest --output-on-failure --timeout 1500 -j "$(nproc)" -R "$tests")
lap "tests under qemu-aarch64"

# --- 4. a 2-rank smoke sweep under emulation, and the same on x86-64 ------------
if [ -z "$x86_bin" ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDISTSWEEP_CUDA=OFF > /dev/null
  cmake --build build -j "$(nproc)" --target distsweep
  x86_bin=$src/build/distsweep
fi
work=$out/smoke
rm -rf "$work"
mkdir -p "$work"
# sweeps/smoke.yaml cut to what emulation runs in about a minute: 2 seeds,
# depth 1 and 2, 60 steps (checkpoints and curves still written)
sed -e 's/steps: 300/steps: 60/' -e 's/warmup: 30/warmup: 6/' -e 's/log_every: 20/log_every: 10/' \
  -e 's/count: 4}/count: 2}/' -e 's/checkpoint_every: 100/checkpoint_every: 20/' \
  sweeps/smoke.yaml > "$work/smoke.yaml"
lap "x86-64 build"
# qemu-user has no process_vm_readv (errno 38): Open MPI's shared-memory
# transport is told to copy through its buffers instead of reading across
# processes.
emu_mpirun=(mpirun -np 2 --oversubscribe --mca btl_vader_single_copy_mechanism none -x QEMU_LD_PREFIX "$qemu")
"${emu_mpirun[@]}" "$out/test_groupcomm"
"${emu_mpirun[@]}" "$out/distsweep" "$work/smoke.yaml" -o "$work/aarch64.h5"
lap "2-rank sweep under qemu-aarch64"
mpirun -np 2 --oversubscribe "$x86_bin" "$work/smoke.yaml" -o "$work/x86.h5"
lap "2-rank sweep on x86-64"

# --- 5. the x86-64 build reads the aarch64 file; the numbers compared -----------
"$x86_bin" status "$work/aarch64.h5"
"$x86_bin" report "$work/aarch64.h5" > "$work/report.txt"
head -n 20 "$work/report.txt"
/usr/bin/python3 tools/compare_arch.py "$work/x86.h5" "$work/aarch64.h5"
lap "x86-64 status, report and comparison"
echo "check_aarch64: passed in $((SECONDS - t_start)) s"
