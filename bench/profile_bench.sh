#!/usr/bin/env bash
# Acceptance benchmark for the profiler (issue 5): `convergy profile` over the whole zoo on the openblas backend,
# 1 thread, timed end to end; then the share of layers longer than 1 ms whose 95% confidence half-width is at
# most 2% of the median, for the median's distribution-free interval (what the adaptive repetitions aim at)
# and for the mean's Student-t interval. Usage: bench/profile_bench.sh [BUILD_DIR] [extra profile options...]
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
    if not long:
        continue
    def rel(r, col):
        v = r.get(col) or ""
        return float(v) / float(r["time_ms"]) if v else float("inf")
    ok_med = [r for r in long if rel(r, "median_ci95_ms") <= 0.02]
    ok_mean = [r for r in long if rel(r, "ci95_ms") <= 0.02]
    reps = sorted(int(r["n"]) for r in long)
    print(f"{mode}: {len(long)} layers > 1 ms; 95% CI half-width <= 2% of the median: "
          f"{len(ok_med)} ({100 * len(ok_med) / len(long):.1f}%) for the median's distribution-free interval, "
          f"{len(ok_mean)} ({100 * len(ok_mean) / len(long):.1f}%) for the mean's Student-t interval")
    print(f"  repetitions per layer: min {reps[0]}, median {reps[len(reps) // 2]}, max {reps[-1]}")
    wall = sum(float(r["time_ms"]) * int(r["iterations"]) * int(r["n"]) for r in rows if r["mode"] == mode)
    cpu = sum(float(r["cpu_time_ms"] or 0) * int(r["iterations"]) * int(r["n"]) for r in rows if r["mode"] == mode)
    print(f"  measured windows: {wall / 1e3:.1f} s wall, {cpu / 1e3:.1f} s CPU (CPU/wall {cpu / max(wall, 1e-9):.2f})")
    worst = sorted(long, key=lambda r: rel(r, "median_ci95_ms"), reverse=True)[:5]
    for r in worst:
        print(f"  widest: {r['network']}/{r['layer']} median {float(r['time_ms']):.3f} ms, n {r['n']}, "
              f"median half-width {100 * rel(r, 'median_ci95_ms'):.1f}%, mean half-width {100 * rel(r, 'ci95_ms'):.1f}%")
PY
