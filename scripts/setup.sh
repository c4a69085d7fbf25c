#!/usr/bin/env bash
# Installs every build, test and study dependency of convergy from Debian 12 packages.
# Usage: scripts/setup.sh [--with-torch]   (--with-torch adds PyTorch for the ONNX export tests and benchmarks)
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS=(
  build-essential cmake ninja-build pkg-config git
  libeigen3-dev libopenblas-dev libdnnl-dev opencl-c-headers ocl-icd-opencl-dev
  libonnx-dev libprotobuf-dev protobuf-compiler
  libsqlite3-dev sqlite3 nlohmann-json3-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libpfm4-dev clang libclang-rt-14-dev
  python3 python3-numpy python3-onnx
  python3-dev pybind11-dev python3-pybind11 python3-pytest  # the Python package: build (pybind11) and tests
  chromium
)
if [ "${1:-}" = "--with-torch" ]; then
  PKGS+=(python3-torch python3-torchvision libopencv-dev)
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
