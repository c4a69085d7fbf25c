#!/usr/bin/env bash
# Configures and builds convergy in build/ (Release-with-debug-info, warnings as errors).
# Extra arguments go to CMake, e.g. scripts/build.sh -DCONVERGY_SANITIZE=address,undefined
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${CONVERGY_BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONVERGY_WERROR=ON "$@" >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
