#!/usr/bin/env bash
# Builds everything and runs every test:
#   1. a RelWithDebInfo build with the whole suite;
#   2. the same suite (less the tests labelled "slow", which only repeat long runs) under
#      AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. under ThreadSanitizer: the library's unit tests (concurrent readers and writers
#      included) and the integration suite against a TSan-built server;
#   4. a short libFuzzer run of each fuzz target (clang).
# ALLEZON_SKIP_SANITIZE=1 runs pass 1 only (quicker local runs).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="$(nproc)"
"$root/scripts/install-deps.sh" test

# run_suite DIR "CTEST ARGS" CMAKE ARGS...
run_suite() {
  local dir="$1" ctest_args="$2"; shift 2
  echo "=== configure $dir ($*)"
  cmake -S "$root" -B "$dir" "$@" >/dev/null
  echo "=== build $dir"
  cmake --build "$dir" -j"$jobs"
  echo "=== test $dir"
  # shellcheck disable=SC2086
  (cd "$dir" && ctest --output-on-failure --timeout 600 -j"$jobs" $ctest_args)
}

run_suite "$root/build-test" "" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DALLEZON_SANITIZE=OFF
if [[ "${ALLEZON_SKIP_SANITIZE:-0}" != "1" ]]; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite "$root/build-asan" "-LE slow" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DALLEZON_SANITIZE=ON \
      -DALLEZON_BUILD_BENCHMARKS=OFF -DALLEZON_BUILD_EXAMPLES=OFF
fi
if [[ "${ALLEZON_SKIP_SANITIZE:-0}" != "1" ]]; then
  echo "=== ThreadSanitizer: library tests, and the server under the integration suite"
  cmake -S "$root" -B "$root/build-tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DALLEZON_TSAN=ON \
    -DALLEZON_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$root/build-tsan" -j"$jobs" --target allezon_unit_tests \
    allezon_durability_lib_tests allezon-server allezon_integration_tests
  export TSAN_OPTIONS="halt_on_error=1 suppressions=$root/tests/tsan.supp"
  "$root/build-tsan/tests/unit/allezon_unit_tests" --no-colors
  "$root/build-tsan/tests/durability/allezon_durability_lib_tests" --no-colors
  (cd "$root/build-tsan" && ctest --output-on-failure --timeout 300 -j"$jobs" -L integration)
  unset TSAN_OPTIONS
  echo "=== fuzzing smoke run"
  BUILD_DIR="$root/build-fuzz" JOBS="$jobs" "$root/fuzz/run.sh" "${ALLEZON_FUZZ_SECONDS:-10}"
fi
echo "=== all tests passed"
