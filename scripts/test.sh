#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds convergy with warnings as errors, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-torch
bash scripts/build.sh
BUILD_DIR="${CONVERGY_BUILD_DIR:-build}"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)"
