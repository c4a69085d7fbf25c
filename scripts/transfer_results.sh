#!/usr/bin/env bash
# Reproduces the transfer figures of docs/models.md ("Transfer"): models fitted on one kind of network predicting
# another, next to the ordinary cross-validation. Jetson Nano: each family held out in turn, and the synthetic
# networks predicting the real ones in data/jetson-nano-real. This machine: the zoo measured per layer (openblas),
# plain networks predicting the grouped ones and the residual ones.
# Usage: scripts/transfer_results.sh [BUILD_DIR] [EVALUATE OPTIONS...], e.g. --format json or --method nnls.
# FEATURES (default transfer, the default of `convergy fit`) is the feature set. ZOO_CSV names per-layer zoo
# measurements to use; without it the zoo is profiled once into BUILD_DIR/transfer-zoo.db (a few minutes) and
# exported to BUILD_DIR/transfer-zoo.csv, which later runs reuse.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build}"
shift || true
CLI="$BUILD_DIR/convergy"
[ -x "$CLI" ] || { echo "transfer_results.sh: $CLI is not built (run scripts/build.sh)" >&2; exit 2; }
D="${CONVERGY_SHARED_DATA:-../shared/data}"
NANO="$D/jetson-nano/networks.csv"
REAL="data/jetson-nano-real/networks.csv"
[ -f "$NANO" ] || { echo "transfer_results.sh: $NANO not found" >&2; exit 2; }
FEATURES="${FEATURES:-transfer}"
EVAL=("$CLI" evaluate --features "$FEATURES")

echo "== Jetson Nano networks, 5-fold grouped by network (the ordinary figure)"
"${EVAL[@]}" --measurements "$NANO" --target energy_mj --cv 5 "$@"
echo "== Jetson Nano networks, leave one family out (each family held out in turn, then pooled)"
"${EVAL[@]}" --measurements "$NANO" --target energy_mj --split leave-one-family-out "$@"
echo "== Jetson Nano: fit on the synthetic networks, predict the real ones"
"${EVAL[@]}" --measurements "$NANO" --target energy_mj --test-measurements "$REAL" "$@"

ZOO="${ZOO_CSV:-}"
if [ -z "$ZOO" ]; then
  ZOO="$BUILD_DIR/transfer-zoo.csv"
  if [ ! -f "$ZOO" ]; then
    # The 20 networks of a full `convergy study` (src/study/study.cpp), per layer on openblas, as it measures them.
    NETS=(alexnet squeezenet1_0 squeezenet1_1 squeezenet1_0_bypass resnet50 googlenet vgg_cnn_s inception_bn
          inception_v3 vgg16_places365 allcnn_c wrn50_2 mobilenet_v1 densenet121 mobilenet_v2 mobilenet_v3_large
          shufflenet_v2_1_0 efficientnet_b0 resnet18 vgg16)
    "$CLI" profile "${NETS[@]}" --backend openblas --mode markers --reps 3 --db "$BUILD_DIR/transfer-zoo.db" >&2
    "$CLI" export --db "$BUILD_DIR/transfer-zoo.db" --out "$ZOO"
  fi
fi
echo "== This machine ($ZOO), leave-one-network-out (the ordinary figure)"
"${EVAL[@]}" --measurements "$ZOO" --where mode=markers --target time_ms --cv lono "$@"
echo "== This machine: plain networks predicting the grouped ones (depthwise included)"
"${EVAL[@]}" --measurements "$ZOO" --where mode=markers --target time_ms \
  --train-where net.structure=plain --test-where net.grouped=1 "$@"
echo "== This machine: plain networks predicting the residual ones"
"${EVAL[@]}" --measurements "$ZOO" --where mode=markers --target time_ms \
  --train-where net.structure=plain --test-where net.structure=residual "$@"
