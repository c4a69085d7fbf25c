#!/usr/bin/env bash
# Packs what scripts/gpu_check.sh needs on a GPU machine that has the NVIDIA driver, CUDA, cuDNN/cuBLAS
# (e.g. from pip) and python but none of Debian's -dev libraries: the CLI and GPU test binaries from a build
# here (debug info stripped), the shared libraries they load that are not glibc/libstdc++/CUDA (ldd), the
# ResNet-50 ONNX file and the check script, packed as OUT_DIR/bundle.tar.xz beside the device-side wrapper
# OUT_DIR/gpu_device_run.sh (carry OUT_DIR to the machine and run `bash OUT_DIR/gpu_device_run.sh` there).
# Usage: scripts/gpu_bundle.sh BUILD_DIR OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: scripts/gpu_bundle.sh BUILD_DIR OUT_DIR" >&2; exit 2; }
BUILD="$1" TOP="$2"
DEST="$TOP/bundle"
rm -rf "$TOP"
mkdir -p "$DEST/bin/lib" "$DEST/scripts" "$DEST/data/jetson-nano-real/onnx"
for f in convergy tests/test_runtime tests/test_runtime_networks tests/test_measure; do
  objcopy --strip-debug "$BUILD/$f" "$DEST/bin/$(basename "$f")"
done
# Non-system libraries: not the C/C++ runtime (the target has its own), not the driver or CUDA/cuDNN (taken
# from the target), everything else (fmt, sqlite, protobuf, openblas, oneDNN, ...).
for f in "$DEST"/bin/*; do [ -f "$f" ] && ldd "$f"; done | awk '/=> \//{print $3}' | sort -u |
  grep -Ev '/(libc|libm|libdl|libpthread|librt|libgcc_s|libstdc\+\+|ld-linux[^/]*|libcuda|libcudnn[^/]*|libcublas[^/]*|libnvidia[^/]*)\.so' |
  while read -r lib; do cp -L "$lib" "$DEST/bin/lib/"; done
cp data/jetson-nano-real/onnx/resnet50.onnx "$DEST/data/jetson-nano-real/onnx/"
cp scripts/gpu_check.sh "$DEST/scripts/"
ls "$DEST/bin/lib"
tar cJf "$TOP/bundle.tar.xz" -C "$TOP" bundle
rm -rf "$DEST"
cp scripts/gpu_device_run.sh "$TOP/"
du -sh "$TOP"
