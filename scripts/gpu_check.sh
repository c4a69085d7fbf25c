#!/usr/bin/env bash
# The cudnn backend's check on a GPU machine, sized for a short lease (about 4-5 minutes): the GPU tests
# (which must not skip there), ResNet-50 batch-1 fp32 latency next to PyTorch's on the same GPU (TF32 off in
# both), and a per-layer NVML energy profile of three zoo networks, written as CSV + summary to OUT.
#
# Usage: scripts/gpu_check.sh [--bin DIR] [--out DIR] [--window-s S] [--reps N] [--onnx FILE]
#   --bin DIR      folder with convergy, test_runtime, test_runtime_networks, test_measure (default: build
#                  them here with cmake in build-gpu, which needs the -dev libraries of scripts/setup.sh)
#   --out DIR      results (default gpu-check-out)
#   --window-s S   energy window of each layer and of the whole network (default 0.4)
#   --reps N       trials per layer (default 3)
#   --onnx FILE    ResNet-50 to time (default data/jetson-nano-real/onnx/resnet50.onnx, torchvision's)
# Exit status: non-zero when a GPU test fails or skips, or the profile fails.
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
BIN="" OUT="gpu-check-out" WINDOW=0.4 REPS=3 ONNX="$HERE/data/jetson-nano-real/onnx/resnet50.onnx"
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "gpu_check.sh: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) need_value "$@"; BIN="$2"; shift 2 ;;
    --out) need_value "$@"; OUT="$2"; shift 2 ;;
    --window-s) need_value "$@"; WINDOW="$2"; shift 2 ;;
    --reps) need_value "$@"; REPS="$2"; shift 2 ;;
    --onnx) need_value "$@"; ONNX="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
if [ -z "$BIN" ]; then
  cmake -S "$HERE" -B "$HERE/build-gpu" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCONVERGY_WITH_CUDNN=ON \
    -DCONVERGY_BUILD_BENCH=OFF >/dev/null && cmake --build "$HERE/build-gpu" -j "$(nproc)" || exit 1
  BIN="$HERE/build-gpu"
  for t in test_runtime test_runtime_networks test_measure; do ln -sf "tests/$t" "$BIN/$t" 2>/dev/null; done
fi
BIN="$(cd "$BIN" && pwd)"
# cuDNN and cuBLAS from the pip wheels when the system has none (PyTorch machines), and the driver's
# libcuda/libnvidia-ml where containers mount them.
PIPLIBS="$(python3 - <<'PY' 2>/dev/null
import os, site
roots = site.getsitepackages() + [site.getusersitepackages()]
dirs = set()
for r in roots:
    base = os.path.join(r, "nvidia")
    for dp, _, files in os.walk(base):
        if any(f.startswith(("libcudnn.so", "libcublas.so", "libcublasLt.so")) for f in files):
            dirs.add(dp)
print(":".join(sorted(dirs)))
PY
)"
DRIVER_LIBS=""
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do [ -d "$d" ] && DRIVER_LIBS="$DRIVER_LIBS:$d"; done
export LD_LIBRARY_PATH="$BIN/lib${PIPLIBS:+:$PIPLIBS}$DRIVER_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
if ldd "$BIN/convergy" | grep -q "not found"; then
  echo "gpu_check.sh: libraries missing:"; ldd "$BIN/convergy" | grep "not found"; exit 1
fi
status=0
step() { echo; echo "=== $* ($(date -u +%T))"; }

step "GPU"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.draw,temperature.gpu \
  --format=csv 2>&1 | tee "$OUT/gpu.txt"
"$BIN/convergy" sensors 2>&1 | tee -a "$OUT/gpu.txt"

step "GPU tests (none may skip here)"
: > "$OUT/tests.txt"
for spec in "test_runtime:Cudnn*:*/cudnn:Executor*:DevicePlan*" "test_runtime_networks:Zoo/*" \
            "test_measure:GpuEnergy*:*Nvml*"; do
  bin="${spec%%:*}" filter="${spec#*:}"
  timeout 100 "$BIN/$bin" --gtest_filter="$filter" >> "$OUT/tests.txt" 2>&1
  rc=$?
  echo "$bin ($filter): exit $rc" | tee -a "$OUT/tests.txt"
  [ $rc -eq 0 ] || status=1
done
# Only the no-GPU test may skip here (it checks the refusal without a device).
skipped="$(grep "^\[  SKIPPED \] [A-Za-z]" "$OUT/tests.txt" | grep -v "WithoutADevice" | sort -u)"
if [ -n "$skipped" ]; then
  echo "tests skipped on the GPU machine:"; echo "$skipped"; status=1
fi
tail -5 "$OUT/tests.txt"

step "ResNet-50 batch 1 fp32: convergy cudnn (TF32 off) and PyTorch (TF32 off)"
"$BIN/convergy" run "$ONNX" --backend cudnn --repeat 100 --input-shape 1x3x224x224 --format json \
  > "$OUT/resnet50_cudnn.json" 2> "$OUT/resnet50_cudnn.err" || { status=1; cat "$OUT/resnet50_cudnn.err"; }
python3 - "$OUT" <<'PY' 2>&1 | tee "$OUT/resnet50_torch.txt"
import json, statistics, sys, time
out = sys.argv[1]
try:
    import torch, torchvision
except Exception as e:
    print(f"pytorch: not available ({e})"); sys.exit(0)
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.benchmark = True
m = torchvision.models.resnet50().eval().cuda()
x = torch.randn(1, 3, 224, 224, device="cuda")
times = []
with torch.inference_mode():
    for _ in range(30):
        m(x)
    torch.cuda.synchronize()
    for _ in range(100):
        t0 = time.perf_counter(); m(x); torch.cuda.synchronize(); times.append((time.perf_counter() - t0) * 1e3)
r = {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version(), "median_ms": statistics.median(times),
     "min_ms": min(times), "tf32": False, "runs": len(times)}
json.dump(r, open(f"{out}/resnet50_torch.json", "w"))
print("pytorch", r)
PY
python3 - "$OUT" <<'PY'
import json, sys
try:
    j = json.load(open(f"{sys.argv[1]}/resnet50_cudnn.json"))
except Exception as e:
    print(f"convergy cudnn: no result ({e})"); sys.exit(0)
print(f"convergy cudnn ({j.get('math_mode')}): median {j['total_time_ms']:.3f} ms over {j['repeat']} runs, "
      f"{len(j['fallbacks'])} fallbacks")
for f in j["fallbacks"][:5]:
    print("  fallback:", f["layer"], "-", f["reason"])
PY

step "Per-layer NVML energy: 3 networks, markers mode, ${WINDOW} s windows x ${REPS} trials"
rm -f "$OUT/profile.db"
"$BIN/convergy" profile alexnet resnet18 squeezenet1_1 --backend cudnn --sensor nvml:0:energy --mode markers \
  --reps "$REPS" --max-reps "$REPS" --energy-window-s "$WINDOW" --random-phase --cooldown-ms 50 --idle-s 2 \
  --warmup 3 --no-counters --db "$OUT/profile.db" > "$OUT/profile.txt" 2>&1
prc=$?
tail -25 "$OUT/profile.txt"
if [ $prc -eq 2 ]; then
  # The energy counter is not readable here (NOT_SUPPORTED, no permission): that is a result; time only.
  echo "energy sensor unusable (above); profiling time only, energy NULL"
  rm -f "$OUT/profile.db"
  "$BIN/convergy" profile alexnet resnet18 squeezenet1_1 --backend cudnn --sensor none --mode markers \
    --reps "$REPS" --max-reps "$REPS" --warmup 3 --no-counters --db "$OUT/profile.db" >> "$OUT/profile.txt" 2>&1 \
    || status=1
elif [ $prc -ne 0 ]; then
  status=1
fi
"$BIN/convergy" export --db "$OUT/profile.db" --out "$OUT/energy.csv" || status=1
python3 - "$OUT" <<'PY' | tee "$OUT/summary.txt"
import csv, collections, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/energy.csv")))
print("columns:", ",".join(rows[0].keys()) if rows else "none")
def num(r, k):
    v = r.get(k, "")
    return float(v) if v not in ("", None) else None
nets = collections.defaultdict(list)
for r in rows:
    nets[r.get("network", "?")].append(r)
for net, rs in nets.items():
    whole = [r for r in rs if r.get("type") == "Network"]
    layers = [r for r in rs if r not in whole]
    e = [num(r, "energy_mj") for r in layers]
    have = [v for v in e if v is not None]
    we = num(whole[0], "energy_mj") if whole else None
    wd = num(whole[0], "dynamic_energy_mj") if whole else None
    sd = sum(v for v in (num(r, "dynamic_energy_mj") for r in layers) if v is not None)
    s = sum(have)
    spreads = [num(r, "energy_stddev_mj") / num(r, "energy_mj") for r in layers
               if num(r, "energy_stddev_mj") is not None and num(r, "energy_mj")]
    print(f"{net}: {len(layers)} layers, {len(have)} with energy; sum of layers {s:.3f} mJ; whole network "
          f"{we if we is None else round(we, 3)} mJ; ratio sum/whole "
          f"{(s / we) if we else None}; median trial spread (stddev/median) "
          f"{sorted(spreads)[len(spreads) // 2] if spreads else None}, max {max(spreads) if spreads else None}; "
          f"dynamic: sum {sd:.3f} mJ, whole {wd}")
PY
echo; echo "gpu_check.sh: exit $status"
exit $status
