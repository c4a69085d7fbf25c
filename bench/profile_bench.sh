#!/usr/bin/env bash
# Acceptance benchmark for the profiler (issue 5): `convergy profile` over the whole zoo on the openblas backend,
# 1 thread, timed end to end; then the share of layers longer than 1 ms whose 95% confidence half-width is at
# most 2% of the median. Usage: bench/profile_bench.sh [BUILD_DIR] [extra profile options...]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build}"
shift || true
CLI="$BUILD_DIR/convergy"
WORK="${KEEP_DIR:-$(mktemp -d)}"
mkdir -p "$WORK"
[ -n "${KEEP_DIR:-}" ] || trap 'rm -rf "$WORK"' EXIT
NETS=$(ls zoo/*.prototxt | xargs -n1 basename | sed 's/\.prototxt$//' | tr '\n' ' ')
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "networks: $NETS"
start=$(date +%s.%N)
"$CLI" profile $NETS --backend openblas --threads 1 --db "$WORK/zoo.db" "$@" >"$WORK/profile.log" 2>&1 || {
  tail -20 "$WORK/profile.log"; exit 1; }
end=$(date +%s.%N)
echo "profile wall time: $(echo "$end - $start" | bc) s (limit 300 s)"
"$CLI" export --db "$WORK/zoo.db" --out "$WORK/zoo.csv"
/usr/bin/python3 - "$WORK/zoo.csv" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["kind"] == "aggregate" and r["layer_index"] != "-1"]
for mode in ("markers", "isolated"):
    long = [r for r in rows if r["mode"] == mode and float(r["time_ms"]) > 1.0]
    ok = [r for r in long if float(r["ci95_ms"]) <= 0.02 * float(r["time_ms"])]
    worst = sorted(long, key=lambda r: float(r["ci95_ms"]) / float(r["time_ms"]), reverse=True)[:5]
    print(f"{mode}: {len(ok)}/{len(long)} layers > 1 ms have a 95% CI half-width <= 2% of the median")
    wall = sum(float(r["time_ms"]) * int(r["iterations"]) * int(r["n"]) for r in rows if r["mode"] == mode)
    cpu = sum(float(r["cpu_time_ms"] or 0) * int(r["iterations"]) * int(r["n"]) for r in rows if r["mode"] == mode)
    print(f"  measured windows: {wall / 1e3:.1f} s wall, {cpu / 1e3:.1f} s CPU (CPU/wall {cpu / max(wall, 1e-9):.2f})")
    for r in worst:
        print(f"  worst: {r['network']}/{r['layer']} median {float(r['time_ms']):.3f} ms, "
              f"half-width {100 * float(r['ci95_ms']) / float(r['time_ms']):.1f}%, cpu {r['cpu_time_ms']} ms")
PY
