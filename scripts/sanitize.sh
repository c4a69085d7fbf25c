#!/usr/bin/env bash
# Builds convergy with clang and AddressSanitizer + UndefinedBehaviorSanitizer (every report fatal) in
# build-asan, runs the whole test suite there, then runs each fuzzer for 60 s with scripts/fuzz.sh when the
# project has it. Exits non-zero on any failed test, sanitizer report or fuzzer finding.
#
# Usage: scripts/sanitize.sh [--build-dir DIR] [--jobs J] [--fuzz-seconds N] [--no-fuzz] [--with-acceptance]
#                            [-- CTEST_ARGS...]
#   --build-dir DIR    clang build folder (default build-asan)
#   --jobs J           build and test parallelism (default: the number of CPUs)
#   --fuzz-seconds N   run time of each fuzzer (default 60)
#   --no-fuzz          build and test only
#   --with-acceptance  also run the Acceptance* model tests (left out by default: each fits models on a whole
#                      shared data set, 20-60x slower under the sanitizers, about 15 minutes of CI together; the
#                      gcc build of scripts/test.sh runs them, and the smaller model tests run the same code
#                      here)
#   CTEST_ARGS         passed to ctest, e.g. -- -R bad_inputs
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=build-asan
JOBS="$(nproc)"
FUZZ_SECONDS=60
FUZZ=1
CTEST_ARGS=()
ACCEPTANCE=0
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "sanitize.sh: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) need_value "$@"; BUILD_DIR="$2"; shift 2 ;;
    --jobs) need_value "$@"; JOBS="$2"; shift 2 ;;
    --fuzz-seconds) need_value "$@"; FUZZ_SECONDS="$2"; shift 2 ;;
    --no-fuzz) FUZZ=0; shift ;;
    --with-acceptance) ACCEPTANCE=1; shift ;;
    --) shift; CTEST_ARGS=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "sanitize.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$JOBS" "$FUZZ_SECONDS"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "sanitize.sh: \"$n\" is not a positive whole number" >&2; exit 2; }
done

# One clang folder holds the tests and, once the project has the CONVERGY_FUZZ option, the fuzzers too.
# Warnings are not errors here: the gcc build of scripts/test.sh enforces them, and clang warns differently.
# The cudnn backend is left out (clang 14 cannot use CUDA 13's headers, and the CUDA libraries are not
# instrumented). To save CI time the benchmarks are left out, and debug information is line tables only
# (reports keep file:line; a TU with Eigen compiled 17% faster than with -g). The Python package is left
# out: an ASan build cannot be loaded into a plain python3.
FUZZ_FLAG=()
if grep -q 'CONVERGY_FUZZ' CMakeLists.txt; then FUZZ_FLAG=(-DCONVERGY_FUZZ=ON); fi
start=$(date +%s)
CMAKE_C_COMPILER_LAUNCHER="${CMAKE_C_COMPILER_LAUNCHER:-$(command -v ccache || true)}" \
CMAKE_CXX_COMPILER_LAUNCHER="${CMAKE_CXX_COMPILER_LAUNCHER:-$(command -v ccache || true)}" \
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" \
    -DCONVERGY_SANITIZE=address,undefined -DCONVERGY_WERROR=OFF -DCONVERGY_BUILD_BENCH=OFF -DCONVERGY_WITH_PYTHON=OFF \
    -DCONVERGY_WITH_CUDNN=OFF \
    "${FUZZ_FLAG[@]}" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"
built=$(date +%s)

# A report stops the process with a stack trace; leaks count. Child processes (the CLI the tests start)
# inherit these.
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:check_initialization_order=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
EXCLUDE=()
if [ "$ACCEPTANCE" -eq 0 ]; then EXCLUDE=(-E '^Acceptance'); fi
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" "${EXCLUDE[@]}" "${CTEST_ARGS[@]}"
tested=$(date +%s)
echo "sanitize.sh: build $((built - start)) s, tests $((tested - built)) s (${JOBS} jobs, $BUILD_DIR)"

if [ "$FUZZ" -eq 1 ] && [ -f scripts/fuzz.sh ] && [ ${#FUZZ_FLAG[@]} -gt 0 ]; then
  bash scripts/fuzz.sh --build-dir "$BUILD_DIR" --seconds "$FUZZ_SECONDS" --jobs "$JOBS"
  echo "sanitize.sh: fuzzing $(( $(date +%s) - tested )) s"
fi
