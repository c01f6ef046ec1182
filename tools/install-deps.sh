#!/usr/bin/env bash
# Install everything distsweep's build, tests and tools need on Debian 12.
# Idempotent: packages already present are skipped by apt-get, and a machine
# that has them all does not touch the network at all.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools
  libyaml-dev
  libcjson-dev
  libopenblas-dev
  python3 python3-numpy python3-h5py python3-matplotlib python3-scipy python3-pandas python3-torch
  # tests/models installs transformers from PyPI with pip --no-deps; these are its Debian-side needs
  python3-pip python3-yaml python3-requests python3-packaging
  libtcmalloc-minimal4
  slurm-wlm munge
  shellcheck
  e2fsprogs
  # real English text and word lists for the natural-language tests (tests/text)
  fortunes bible-kjv-text wordnet-base
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
