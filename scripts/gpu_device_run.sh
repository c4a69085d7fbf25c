#!/usr/bin/env bash
# Runs a bundle made by scripts/gpu_bundle.sh on a lent GPU machine: unpacks bundle.tar.xz beside this
# script (once), runs its gpu_check.sh on the bundled binaries, and copies the results to $OUT (the device
# tool's result folder; /tmp/gpu-out elsewhere). Extra arguments go to gpu_check.sh.
# --smoke instead: a check of a minute that the bundle loads there (libraries, GPU, the graph-replay tests
# and a short graph-replay energy profile of alexnet), before the long run.
# Usage: bash .gpu-bundle/gpu_device_run.sh [--smoke | gpu_check.sh arguments]
set -u
cd "$(dirname "$0")" || exit 1
[ -d bundle ] || tar xJf bundle.tar.xz || { echo "cannot unpack the bundle"; exit 1; }
OUTDIR="${OUT:-/tmp/gpu-out}"
mkdir -p "$OUTDIR"
if [ "${1:-}" = "--smoke" ]; then
  B=bundle/bin
  PIPLIBS="$(python3 -c 'import os, site; print(":".join(sorted({d for r in site.getsitepackages() for d, _, f in os.walk(os.path.join(r, "nvidia")) if any(x.startswith(("libcudnn.so", "libcublas")) for x in f)})))' 2>/dev/null)"
  export LD_LIBRARY_PATH="$B/lib${PIPLIBS:+:$PIPLIBS}:/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  {
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,power.draw,temperature.gpu --format=csv
    ldd "$B/convergy" | grep "not found"
    timeout 60 "$B/test_runtime" --gtest_filter='Cudnn.*' 2>&1 | grep -E "OK|FAILED|SKIPPED|Failure|rror" | head -20
    timeout 60 "$B/convergy" profile alexnet --backend cudnn --sensor nvml:0:energy --mode markers --reps 1 \
      --max-reps 1 --energy-window-s 0.3 --idle-s 0.5 --graph-replay --no-counters --db /tmp/smoke.db 2>&1 | tail -8
    "$B/convergy" export --db /tmp/smoke.db --out - | cut -d, -f2,4,5,11-13,50- | head -20
  } > "$OUTDIR/smoke.log" 2>&1
  cat "$OUTDIR/smoke.log"
  exit 0
fi
R=/tmp/gc
rm -rf "$R"; mkdir -p "$R"
bash bundle/scripts/gpu_check.sh --bin bundle/bin --out "$R" \
  --onnx bundle/data/jetson-nano-real/onnx/resnet50.onnx "$@" > /tmp/gc.log 2>&1
rc=$?
cp /tmp/gc.log "$OUTDIR/gpu_check.log"
for f in summary.txt energy.csv tests.txt resnet50_cudnn.json resnet50_torch.json; do
  [ -f "$R/$f" ] && cp "$R/$f" "$OUTDIR/"
done
tar czf "$OUTDIR/gpu_check_results.tar.gz" -C /tmp gc
echo "gpu_check rc=$rc"
tail -c 9000 /tmp/gc.log
exit $rc
