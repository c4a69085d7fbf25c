#!/usr/bin/env bash
# The cudnn backend's check on a GPU machine, sized for a short lease (the whole script within --budget-s):
# the GPU tests (which must not skip there; run in parallel), ResNet-50 batch-1 fp32 latency next to PyTorch's
# on the same GPU (TF32 off in both), and per-layer NVML energy with CUDA-graph replay, written as CSV +
# summary to OUT. Energy protocol: the --full networks with --window-s windows (5 s: the acceptance's spread
# criterion applies to them), then the --short networks with windows sized to the time left; every layer
# and the whole network are measured the same way (graph replay, --reps trials, random start phase,
# cool-down), and the summary gives sum of layers / whole network, gross and idle-subtracted.
#
# Usage: scripts/gpu_check.sh [--bin DIR] [--out DIR] [--window-s S] [--reps N] [--onnx FILE]
#                             [--full "NETS"] [--short "NETS"] [--budget-s S] [--stream]
#   --bin DIR      folder with convergy, test_runtime, test_runtime_networks, test_measure (default: build
#                  them here with cmake in build-gpu, which needs the -dev libraries of scripts/setup.sh)
#   --out DIR      results (default gpu-check-out)
#   --window-s S   energy window of the --full networks (default 5)
#   --reps N       trials per layer and per whole network (default 3)
#   --full NETS    networks measured with --window-s windows (default "allcnn_c")
#   --short NETS   networks measured with the windows the remaining budget allows, at most --window-s
#                  (default "alexnet vgg16"; empty: none)
#   --budget-s S   the whole script's time budget in seconds (default 400)
#   --stream       stream launches instead of CUDA-graph replay (the comparison)
#   --onnx FILE    ResNet-50 to time (default data/jetson-nano-real/onnx/resnet50.onnx, torchvision's)
# Exit status: non-zero when a GPU test fails or skips, or the profile fails.
set -uo pipefail
T_START=$(date +%s)
HERE="$(cd "$(dirname "$0")/.." && pwd)"
BIN="" OUT="gpu-check-out" WINDOW=5 REPS=3 ONNX="$HERE/data/jetson-nano-real/onnx/resnet50.onnx"
FULL="allcnn_c" SHORT="alexnet vgg16" BUDGET=400 REPLAY="--graph-replay"
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "gpu_check.sh: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) need_value "$@"; BIN="$2"; shift 2 ;;
    --out) need_value "$@"; OUT="$2"; shift 2 ;;
    --window-s) need_value "$@"; WINDOW="$2"; shift 2 ;;
    --reps) need_value "$@"; REPS="$2"; shift 2 ;;
    --full) need_value "$@"; FULL="$2"; shift 2 ;;
    --short) [ $# -ge 2 ] || { echo "gpu_check.sh: --short needs a value" >&2; exit 2; }; SHORT="$2"; shift 2 ;;
    --budget-s) need_value "$@"; BUDGET="$2"; shift 2 ;;
    --stream) REPLAY=""; shift ;;
    --onnx) need_value "$@"; ONNX="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
elapsed() { echo $(( $(date +%s) - T_START )); }
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

step "GPU tests (none may skip here; in parallel)"
: > "$OUT/tests.txt"
pids=() names=()
launch() {  # name, binary, filter, [shard index, shard count]
  local name="$1" bin="$2" filter="$3"
  if [ $# -ge 5 ]; then
    GTEST_SHARD_INDEX="$4" GTEST_TOTAL_SHARDS="$5" timeout 150 "$BIN/$bin" --gtest_filter="$filter" \
      > "$OUT/test_$name.log" 2>&1 &
  else
    timeout 150 "$BIN/$bin" --gtest_filter="$filter" > "$OUT/test_$name.log" 2>&1 &
  fi
  pids+=($!) names+=("$name ($bin $filter)")
}
launch runtime test_runtime "Cudnn*:*/cudnn:Executor*:DevicePlan*"
for i in 0 1 2 3; do launch "networks$i" test_runtime_networks "Zoo/*" "$i" 4; done
launch measure test_measure "GpuEnergy*:*Nvml*"
for k in "${!pids[@]}"; do
  wait "${pids[$k]}"; rc=$?
  echo "${names[$k]}: exit $rc" | tee -a "$OUT/tests.txt"
  [ $rc -eq 0 ] || status=1
done
for f in "$OUT"/test_*.log; do echo "--- $(basename "$f")"; cat "$f"; done >> "$OUT/tests.txt"
rm -f "$OUT"/test_*.log
# Only the no-GPU test may skip here (it checks the refusal without a device).
skipped="$(grep "^\[  SKIPPED \] [A-Za-z]" "$OUT/tests.txt" | grep -v "WithoutADevice" | sort -u)"
if [ -n "$skipped" ]; then
  echo "tests skipped on the GPU machine:"; echo "$skipped"; status=1
fi
grep -E "^\[  (PASSED|FAILED) |tests? ran" "$OUT/tests.txt" | sort | uniq -c
echo "tests done at $(elapsed) s"

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

# One campaign: profile NETS with window W (s) into profile.db; returns the profile's exit status.
campaign() {
  local w="$1"; shift
  "$BIN/convergy" profile "$@" --backend cudnn --sensor nvml:0:energy --mode markers --reps "$REPS" \
    --max-reps "$REPS" --energy-window-s "$w" --random-phase --cooldown-ms 50 --idle-s 2 --warmup 3 \
    --no-counters $REPLAY --db "$OUT/profile.db" >> "$OUT/profile.txt" 2>&1
}
# Energy windows of one campaign: (layers + whole network) x trials, from `convergy info`.
windows_of() {
  local n=0 l
  for net in "$@"; do
    l="$("$BIN/convergy" info "$net" 2>/dev/null | awk '$1 == "layers" {print $2; exit}')"
    n=$(( n + (${l:-40} + 1) * REPS ))
  done
  echo "$n"
}
rm -f "$OUT/profile.db" "$OUT/profile.txt"
step "Per-layer NVML energy: $FULL, ${WINDOW} s windows x ${REPS} trials (${REPLAY:-stream launches}; at $(elapsed) s)"
campaign "$WINDOW" $FULL
prc=$?
tail -15 "$OUT/profile.txt"
if [ $prc -eq 2 ]; then
  # The energy counter is not readable here (NOT_SUPPORTED, no permission): that is a result; time only.
  echo "energy sensor unusable (above); profiling time only, energy NULL"
  rm -f "$OUT/profile.db"
  "$BIN/convergy" profile $FULL $SHORT --backend cudnn --sensor none --mode markers --reps "$REPS" \
    --max-reps "$REPS" --warmup 3 --no-counters --db "$OUT/profile.db" >> "$OUT/profile.txt" 2>&1 || status=1
  SHORT=""
elif [ $prc -ne 0 ]; then
  status=1
fi
if [ -n "$SHORT" ]; then
  # The windows the rest of the budget allows: 25 s kept for export and summary, 12 s per campaign for
  # warm-up, algorithm search, graph capture and idle power, 0.2 s per window for cool-down and phase.
  n="$(windows_of $SHORT)"
  left=$(( BUDGET - $(elapsed) - 25 - 12 - 4 ))
  w="$(python3 -c "print(f'{min($WINDOW, max(0.0, $left / $n - 0.2)):.2f}')")"
  step "Per-layer NVML energy: $SHORT, ${w} s windows x ${REPS} trials ($n windows, ${left} s left; at $(elapsed) s)"
  if python3 -c "import sys; sys.exit(0 if $w >= 0.3 else 1)"; then
    campaign "$w" $SHORT || status=1
    tail -12 "$OUT/profile.txt"
  else
    echo "not measured: windows of $w s would be too short for the NVML counter (budget spent)"
  fi
fi
echo "energy done at $(elapsed) s"
"$BIN/convergy" export --db "$OUT/profile.db" --out "$OUT/energy.csv" || status=1
python3 - "$OUT" <<'PY' | tee "$OUT/summary.txt"
# Per network: sum of per-layer energy against the whole network's (gross, and idle-subtracted "dynamic"),
# the replay time they imply (energy / mean power), and the trial spread (stddev / median of the trials).
import csv, collections, json, sqlite3, statistics, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/energy.csv")))
db = sqlite3.connect(f"{out}/profile.db")
config = {cid: json.loads(cfg or "{}") for cid, cfg in db.execute("SELECT id, config_json FROM campaigns")}
idle = {cid: (b, a) for cid, b, a in db.execute("SELECT id, idle_before_w, idle_after_w FROM campaigns")}
def num(r, k):
    v = r.get(k, "")
    return float(v) if v not in ("", None) else None
nets = collections.defaultdict(list)
for r in rows:
    nets[(int(r["campaign"]), r["network"])].append(r)
print(f"{'campaign':>8} {'network':<14} {'window_s':>8} {'layers':>6} {'graph':>5} {'sum_mJ':>9} {'whole_mJ':>9} "
      f"{'gross':>6} {'dyn':>6} {'time':>6} {'spread_med':>10} {'spread_max':>10} {'<=5%':>5}")
verdicts = []
for (cid, net), rs in sorted(nets.items()):
    cfg = config.get(cid, {})
    window = cfg.get("energy_window_s")
    whole = [r for r in rs if r.get("type") == "Network"]
    layers = [r for r in rs if r not in whole]
    w = whole[0] if whole else {}
    e = [num(r, "energy_mj") for r in layers]
    have = [v for v in e if v is not None]
    s_e = sum(have) if len(have) == len(layers) else None
    w_e = num(w, "energy_mj")
    d = [num(r, "dynamic_energy_mj") for r in layers]
    s_d = sum(d) if d and all(v is not None for v in d) else None
    w_d = num(w, "dynamic_energy_mj")
    # Time per run in the energy windows: energy / mean power.
    t = [num(r, "energy_mj") / num(r, "power_w") for r in layers if num(r, "energy_mj") and num(r, "power_w")]
    w_t = w_e / num(w, "power_w") if w_e and num(w, "power_w") else None
    spreads = [num(r, "energy_stddev_mj") / num(r, "energy_mj") for r in rs
               if num(r, "energy_stddev_mj") is not None and num(r, "energy_mj")]
    graph = sum(1 for r in rs if r.get("graph_replay") == "1")
    ratio = s_e / w_e if s_e and w_e else None
    dyn_ratio = s_d / w_d if s_d is not None and w_d else None
    t_ratio = sum(t) / w_t if len(t) == len(layers) and w_t else None
    ok5 = sum(1 for v in spreads if v <= 0.05)
    f = lambda v, p=3: "-" if v is None else f"{v:.{p}f}"
    print(f"{cid:>8} {net:<14} {f(window, 2):>8} {len(layers):>6} {graph:>5} {f(s_e, 2):>9} {f(w_e, 2):>9} "
          f"{f(ratio):>6} {f(dyn_ratio):>6} {f(t_ratio):>6} "
          f"{f(statistics.median(spreads) if spreads else None, 4):>10} {f(max(spreads) if spreads else None, 4):>10} "
          f"{ok5:>2}/{len(spreads):<2}")
    if window is not None and window >= 5:
        verdicts.append(f"{net}: {window} s windows: spread <= 5% in {ok5} of {len(spreads)} rows "
                        f"(max {f(max(spreads) if spreads else None, 4)})")
    verdicts.append(f"{net}: sum of layers / whole network {f(ratio)} gross, {f(dyn_ratio)} dynamic "
                    f"({'within' if ratio and abs(ratio - 1) <= 0.15 else 'NOT within'} 15%)")
print()
print("graph: rows whose energy window replayed a CUDA graph (layers + whole network); gross/dyn: sum of layer")
print("energies / whole-network energy, total and idle-subtracted; time: the same for the windows' time per run;")
print("spread: energy stddev / median over the trials, per row (layers and whole network).")
for cid, (b, a) in sorted(idle.items()):
    print(f"campaign {cid}: idle power before {b} W, after {a} W; config {json.dumps(config.get(cid, {}))}")
print()
for v in verdicts:
    print(v)
PY
echo; echo "gpu_check.sh: exit $status"
exit $status
