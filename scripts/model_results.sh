#!/usr/bin/env bash
# Reproduces the model figures of docs/models.md ("Results on the shared data") on the real measurements in
# ../shared/data: TX2 single convolution layers (each rail, 10-fold: macs, macs+1, macs+mem, neuralpower and
# the best 10-term set), then Jetson Nano whole networks (5-fold grouped by network, and leave-one-family-out).
# tests/model/acceptance_test.cpp checks the same figures. About 25 s on the 2-core development VM.
# Usage: scripts/model_results.sh [BUILD_DIR] [--format table|json]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build}"
shift || true
CLI="$BUILD_DIR/convergy"
[ -x "$CLI" ] || { echo "model_results.sh: $CLI is not built (run scripts/build.sh)" >&2; exit 2; }
D="${CONVERGY_SHARED_DATA:-../shared/data}"
[ -f "$D/tx2-conv-layers.csv" ] || { echo "model_results.sh: $D/tx2-conv-layers.csv not found" >&2; exit 2; }

CPU="conv=macs,in_elems,weight_elems,in_c*kernel_h*kernel_w*out_h*out_w,in_h*in_w,out_c*out_h,in_c*out_c,weight_elems*[kernel_h=1],macs*log2(out_c),macs*log2(macs);method=lad"
GPU="conv=in_c*kernel_h*kernel_w*roundup(out_c,32)*roundup(out_h*out_w,32),in_c*out_c*log2(weight_elems),in_c*kernel_h*kernel_w*roundup(out_c,32)*roundup(out_h*out_w,32)*log2(weight_elems),log2(in_h*in_w),in_elems*[kernel_h=1],1,in_c*kernel_h*kernel_w*roundup(out_c,64)*roundup(out_h*out_w,64)*log2(in_h*in_w),in_c*kernel_h*kernel_w*roundup(out_c,8)*out_h*out_w*[kernel_h=1],roundup(out_c,128)*out_h*out_w*log2(in_c),in_c*log2(in_h*in_w);method=lad"
NANO="conv=macs,macs*[kernel_h=1],macs*[kernel_h=2],macs*[kernel_h=3],1;dwconv=macs,1;fc=macs,1;method=lad"

echo "== TX2 CPU rail, 10-fold"
"$CLI" evaluate --measurements "$D/tx2-conv-layers.csv" --where rail=cpu --target energy_mj \
  --features macs,macs+1,macs+mem,neuralpower --features "$CPU" "$@"
echo "== TX2 GPU rail, 10-fold"
"$CLI" evaluate --measurements "$D/tx2-conv-layers.csv" --where rail=gpu --target energy_mj \
  --features macs,macs+1,macs+mem,neuralpower --features "$GPU" "$@"
echo "== Jetson Nano networks, 5-fold grouped by network"
"$CLI" evaluate --measurements "$D/jetson-nano/networks.csv" --target energy_mj --cv 5 \
  --features macs,macs+1,macs+mem --features "$NANO" "$@"
echo "== Jetson Nano networks, leave one family out"
"$CLI" evaluate --measurements "$D/jetson-nano/networks.csv" --target energy_mj --cv lono --group family \
  --features macs+1,macs+mem --features "$NANO" "$@"
# The default of `convergy fit` (transfer), both targets (docs/models.md, "What extrapolates and why").
for T in energy_mj time_ms; do
  echo "== Jetson Nano networks, default set, $T: 5-fold, then leave one family out"
  "$CLI" evaluate --measurements "$D/jetson-nano/networks.csv" --target "$T" --cv 5 --features transfer "$@"
  "$CLI" evaluate --measurements "$D/jetson-nano/networks.csv" --target "$T" --cv lono --group family \
    --features transfer "$@"
  echo "== Fitted on the synthetic Nano networks, predicting the real ones ($T; compare data/jetson-nano-real/networks.csv)"
  MODEL=$(mktemp --suffix=.json)
  "$CLI" fit --measurements "$D/jetson-nano/networks.csv" --target "$T" --out "$MODEL"
  "$CLI" predict --model "$MODEL" data/jetson-nano-real/onnx/*.onnx
  rm -f "$MODEL"
done
