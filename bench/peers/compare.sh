#!/usr/bin/env bash
# Runs the peer comparison of bench/runtime_bench.cpp: exports the torchvision ONNX files, builds the
# OpenCV DNN peer, then alternates convergy backends, OpenCV and PyTorch. Usage:
#   bench/peers/compare.sh BUILD_DIR [extra runtime_bench flags, e.g. --rounds=5 --nets=resnet50]
# BUILD_DIR must be configured with -DCONVERGY_BUILD_BENCH=ON.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${1:?usage: compare.sh BUILD_DIR [flags]}"
shift
PEERS="$BUILD/peers"
mkdir -p "$PEERS"
/usr/bin/python3 bench/peers/export_onnx.py "$PEERS" >/dev/null
if [ ! -x "$PEERS/opencv_peer" ] || [ bench/peers/opencv_peer.cpp -nt "$PEERS/opencv_peer" ]; then
  c++ -O2 -std=c++17 bench/peers/opencv_peer.cpp -o "$PEERS/opencv_peer" \
    $(pkg-config --cflags opencv4) -lopencv_dnn -lopencv_core
fi
cmake --build "$BUILD" --target runtime_bench
"$BUILD/bench/runtime_bench" --compare --peers-dir="$PEERS" "$@"
