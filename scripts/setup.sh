#!/usr/bin/env bash
# Installs what GTN needs from Debian: OpenBLAS (matrix products), libxsmm (generated kernels for the
# small products of Winograd convolutions), zlib (gzip-compressed data files),
# Open MPI (distributed meta-training: mpirun -np N gtn train),
# pkg-config (to find them) and the Fashion-MNIST data set (the default training data). Safe to run
# again; uses sudo when not root.
set -euo pipefail
packages=(libopenblas-dev libxsmm-dev zlib1g-dev pkg-config libopenmpi-dev openmpi-bin dataset-fashion-mnist)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: swift is not on PATH (GTN needs Swift 6.0 or later)" >&2; exit 1; }
