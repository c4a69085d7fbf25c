#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, address+undefined sanitizers) and runs each for a fixed time on a copy of
# its checked-in seed corpus; prints executions, exec/s and coverage per target; exits 1 if any target crashed,
# leaked, timed out or ran out of memory (the crash input's path is printed). See docs/fuzzing.md.
#
# Usage: scripts/fuzz.sh [--build-dir DIR] [--seconds N] [--jobs J] [--corpus-root DIR] [--log-dir DIR]
#                        [--artifacts DIR] [target...]
#   --build-dir DIR    clang build folder (default build-fuzz); configured with CONVERGY_FUZZ=ON and
#                      CONVERGY_SANITIZE=address,undefined if it has no CMakeCache.txt yet
#   --seconds N        run time of each target (default 60)
#   --jobs J           targets run at the same time, and build parallelism (default 1)
#   --corpus-root DIR  keep each target's working corpus in DIR/<target> and continue from it next time (for long
#                      campaigns); default: a temporary copy of fuzz/corpus/<target>, deleted afterwards
#   --log-dir DIR      libFuzzer's full output per target (default: inside the temporary folder, deleted)
#   --artifacts DIR    where crash, leak, timeout and OOM inputs are written (default BUILD_DIR/fuzz-artifacts)
#   target             prototxt, onnx, csv, model_json, trace (default: every target that was built)
# Extra libFuzzer flags can be passed in FUZZ_EXTRA_FLAGS (e.g. "-use_value_profile=1").
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

BUILD_DIR=build-fuzz
SECONDS_PER_TARGET=60
JOBS=1
CORPUS_ROOT=""
LOG_DIR=""
ARTIFACTS=""
TARGETS=()
ALL_TARGETS=(prototxt onnx csv model_json trace)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "fuzz.sh: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) need_value "$@"; BUILD_DIR="$2"; shift 2 ;;
    --seconds) need_value "$@"; SECONDS_PER_TARGET="$2"; shift 2 ;;
    --jobs) need_value "$@"; JOBS="$2"; shift 2 ;;
    --corpus-root) need_value "$@"; CORPUS_ROOT="$2"; shift 2 ;;
    --log-dir) need_value "$@"; LOG_DIR="$2"; shift 2 ;;
    --artifacts) need_value "$@"; ARTIFACTS="$2"; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; usage ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
for n in "$SECONDS_PER_TARGET" "$JOBS"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: \"$n\" is not a positive whole number" >&2; exit 2; }
done
for t in "${TARGETS[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "fuzz.sh: unknown target \"$t\" (${ALL_TARGETS[*]})" >&2; exit 2; }
done

# Configure (once) and build the fuzzers.
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  CMAKE_C_COMPILER_LAUNCHER="${CMAKE_C_COMPILER_LAUNCHER:-$(command -v ccache || true)}" \
  CMAKE_CXX_COMPILER_LAUNCHER="${CMAKE_CXX_COMPILER_LAUNCHER:-$(command -v ccache || true)}" \
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
      -DCONVERGY_FUZZ=ON -DCONVERGY_SANITIZE=address,undefined -DCONVERGY_BUILD_BENCH=OFF >/dev/null
elif ! grep -q '^CONVERGY_FUZZ:BOOL=ON' "$BUILD_DIR/CMakeCache.txt"; then
  cmake -S . -B "$BUILD_DIR" -DCONVERGY_FUZZ=ON >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$JOBS" --target fuzzers

if [ ${#TARGETS[@]} -eq 0 ]; then
  for t in "${ALL_TARGETS[@]}"; do
    [ -x "$BUILD_DIR/fuzz/fuzz_$t" ] && TARGETS+=("$t")
  done
fi
for t in "${TARGETS[@]}"; do
  [ -x "$BUILD_DIR/fuzz/fuzz_$t" ] || { echo "fuzz.sh: $BUILD_DIR/fuzz/fuzz_$t was not built" >&2; exit 1; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/convergy-fuzz.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
[ -n "$LOG_DIR" ] || LOG_DIR="$WORK/logs"
[ -n "$ARTIFACTS" ] || ARTIFACTS="$BUILD_DIR/fuzz-artifacts"
mkdir -p "$LOG_DIR" "$ARTIFACTS"
LOG_DIR="$(cd "$LOG_DIR" && pwd)"
ARTIFACTS="$(cd "$ARTIFACTS" && pwd)"

# Sanitizer reports end the run; leaks are findings too; a report names the source line.
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1:symbolize=1}"

run_target() {
  local t="$1" corpus
  if [ -n "$CORPUS_ROOT" ]; then
    corpus="$CORPUS_ROOT/$t"
    if [ ! -d "$corpus" ]; then mkdir -p "$corpus" && cp -r "fuzz/corpus/$t/." "$corpus/"; fi
  else
    corpus="$WORK/corpus-$t"
    mkdir -p "$corpus" && cp -r "fuzz/corpus/$t/." "$corpus/"
  fi
  local dict=()
  [ -f "fuzz/$t.dict" ] && dict=("-dict=$ROOT/fuzz/$t.dict")
  local log="$LOG_DIR/fuzz_$t.log"
  local start end rc=0
  start=$(date +%s)
  # The outer timeout only guards against libFuzzer itself hanging; -timeout=10 catches slow inputs.
  # shellcheck disable=SC2086
  timeout --signal=KILL $((SECONDS_PER_TARGET + 300)) "$BUILD_DIR/fuzz/fuzz_$t" \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$ARTIFACTS/$t-" "${dict[@]}" ${FUZZ_EXTRA_FLAGS:-} "$corpus" >"$log" 2>&1 || rc=$?
  end=$(date +%s)
  # libFuzzer's timeout is wall-clock time: on a loaded machine a niced fuzzer can be starved for longer than
  # that on an input that takes milliseconds. A real hang repeats, so a timeout input is run once more alone.
  local note=""
  if [ "$rc" -eq 70 ]; then
    local input
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    if [ -n "$input" ] && "$BUILD_DIR/fuzz/fuzz_$t" -timeout=10 -rss_limit_mb=2048 "$input" >"$log.recheck" 2>&1; then
      rc=0
      note="timeout-not-reproduced:$(sed -n 's/^Executed .* in \([0-9]*\) ms$/\1/p' "$log.recheck"):$input"
    fi
  fi
  echo "$rc $((end - start)) $(find "$corpus" -type f | wc -l) $note" >"$LOG_DIR/fuzz_$t.result"
}

echo "fuzzing ${TARGETS[*]} for ${SECONDS_PER_TARGET} s each, ${JOBS} at a time (logs: $LOG_DIR)"
running=0
for t in "${TARGETS[@]}"; do
  run_target "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then wait -n || true; running=$((running - 1)); fi
done
wait || true

# One line per target from libFuzzer's final statistics and its last status line (cov: blocks, ft: features).
failed=0
printf '%-11s %8s %12s %9s %7s %8s %7s  %s\n' target seconds executions exec/s cov ft corpus result
for t in "${TARGETS[@]}"; do
  log="$LOG_DIR/fuzz_$t.log"
  read -r rc secs files note <"$LOG_DIR/fuzz_$t.result"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  status=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
  result=ok
  if [ -n "$note" ]; then
    IFS=: read -r _ ms input <<<"$note"
    result="ok, stopped early: a 10 s timeout did not repeat (the input ran in ${ms} ms alone: $input)"
  fi
  if [ "$rc" -ne 0 ]; then
    failed=1
    kind=$(grep -oE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer): [a-zA-Z -]+' "$log" \
           | head -1 | sed "s/ *$//" || true)
    grep -q 'runtime error:' "$log" && [ -z "$kind" ] && kind="UBSan runtime error"
    result="FAILED (exit $rc${kind:+, $kind})"
  fi
  printf '%-11s %8s %12s %9s %7s %8s %7s  %s\n' "$t" "$secs" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" \
    "$files" "$result"
done
for t in "${TARGETS[@]}"; do
  read -r rc _ <"$LOG_DIR/fuzz_$t.result"
  [ "$rc" -eq 0 ] && continue
  log="$LOG_DIR/fuzz_$t.log"
  echo
  echo "=== fuzz_$t failed; the end of its output:"
  grep -vE '^#[0-9]+' "$log" | tail -60
  inputs=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log")
  echo "crash input: ${inputs:-(none written; see $log)}"
  echo "reproduce:   $BUILD_DIR/fuzz/fuzz_$t ${inputs:-INPUT}"
done
exit "$failed"
