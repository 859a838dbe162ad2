#!/usr/bin/env bash
# Builds everything and runs every test:
#   1. a RelWithDebInfo build with the whole suite;
#   2. the same suite (less the tests labelled "slow", which only repeat long runs) under
#      AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. under ThreadSanitizer: the library's unit tests (concurrent readers and writers
#      included), and the integration, durability (kill -9 under load, full storage, bounded
#      storage, backup...) and hardening (hostile clients, 1,000 connections...) suites against
#      a TSan-built server. Every process's reports go to build-tsan/tsan-reports/ (the
#      servers' stderr is only a log file the tests may never show): any report fails the pass
#      and is printed. The tests' own time bounds are scaled by ALLEZON_TEST_TIME_SCALE;
#   4. a short libFuzzer run of each fuzz target (clang).
# ALLEZON_SKIP_SANITIZE=1 runs pass 1 only (quicker local runs). Every tree builds the test
# executables as unity builds (ALLEZON_UNITY_TESTS): a sixth less build time on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="$(nproc)"
"$root/scripts/install-deps.sh" test

# run_suite DIR "CTEST ARGS" CMAKE ARGS...
run_suite() {
  local dir="$1" ctest_args="$2"; shift 2
  echo "=== $(date -u +%T) configure $dir ($*)"
  cmake -S "$root" -B "$dir" "$@" >/dev/null
  echo "=== $(date -u +%T) build $dir"
  cmake --build "$dir" -j"$jobs"
  echo "=== $(date -u +%T) test $dir"
  # shellcheck disable=SC2086
  (cd "$dir" && ctest --output-on-failure --timeout 600 -j"$jobs" $ctest_args) ||
    { failure_digest "$dir"; return 1; }
}

# CI keeps only the end of the log: repeat each failed test's first failing assertions last.
failure_digest() {
  local log="$1/Testing/Temporary/LastTest.log" failed="$1/Testing/Temporary/LastTestsFailed.log"
  [[ -f "$log" && -f "$failed" ]] || return 0
  echo "=== failure digest ($1)"
  awk -F: 'NR == FNR { failed[$2] = 1; next }
       /^[0-9]+\/[0-9]+ Testing: / { split($0, w, " "); name = (w[3] in failed) ? w[3] : ""; shown = 0 }
       /<end of output>/ { name = "" }
       name != "" && shown < 40 && /(ERROR|FATAL|error:|values:|logged:|Timeout|Segmentation|Sanitizer|\(\+0x|\[0x)/ {
         if (shown == 0) print "--- " name; print "  " substr($0, 1, 300); ++shown }' "$failed" "$log"
}

# Line tables only (-g1): backtraces keep file and line, and the build takes a quarter less
# time than with full debug info (272 -> 202 s on 2 cores; same -O2 code).
run_suite "$root/build-test" "" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DALLEZON_SANITIZE=OFF \
  -DALLEZON_UNITY_TESTS=ON "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" \
  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
# Sanitizer builds at -O1 with line tables only (-g1): what the sanitizers need for fast runs
# and symbolized reports, and half the compile time of -O2 -g (ASan build 6.4 -> 3.4 min on
# 2 cores, its tests no slower).
sanitizer_flags=("-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"
                 "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG")
if [[ "${ALLEZON_SKIP_SANITIZE:-0}" != "1" ]]; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite "$root/build-asan" "-LE slow" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      "${sanitizer_flags[@]}" -DALLEZON_SANITIZE=ON -DALLEZON_UNITY_TESTS=ON \
      -DALLEZON_BUILD_BENCHMARKS=OFF -DALLEZON_BUILD_EXAMPLES=OFF
fi
if [[ "${ALLEZON_SKIP_SANITIZE:-0}" != "1" ]]; then
  echo "=== $(date -u +%T) ThreadSanitizer: library tests, the C ABI from C and C++ threads, and the server" \
    "under the integration, durability and hardening suites"
  cmake -S "$root" -B "$root/build-tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${sanitizer_flags[@]}" \
    -DALLEZON_TSAN=ON -DALLEZON_UNITY_TESTS=ON \
    -DALLEZON_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$root/build-tsan" -j"$jobs" --target allezon_unit_tests \
    allezon_durability_lib_tests allezon-server allezon_integration_tests \
    allezon_durability_tests allezon_hardening_tests allezon_server_tests \
    allezon_c allezon_c_abi_test allezon_c_abi_test_static allezon_c_abi_cpp_test \
    allezon_c_abi_analytics_test allezon_c_abi_export_test allezon_c_abi_errors_test \
    allezon_c_abi_properties_test
  tsan_reports="$root/build-tsan/tsan-reports"
  rm -rf "$tsan_reports" && mkdir -p "$tsan_reports"
  # log_path: one file per process that reports (none otherwise), the servers' included.
  export TSAN_OPTIONS="halt_on_error=1 suppressions=$root/tests/tsan.supp log_path=$tsan_reports/tsan"
  # TSan runs everything 5-15x slower: the durability tests' time bounds scale by this.
  export ALLEZON_TEST_TIME_SCALE=10
  tsan_rc=0
  "$root/build-tsan/tests/unit/allezon_unit_tests" --no-colors || tsan_rc=$?
  if [[ "$tsan_rc" == 0 ]]; then
    (cd "$root/build-tsan" && ctest --output-on-failure --timeout 300 -j"$jobs" \
      -L '^(integration|durability|hardening|c_abi)$') || tsan_rc=$?
  fi
  unset TSAN_OPTIONS ALLEZON_TEST_TIME_SCALE
  if compgen -G "$tsan_reports/tsan*" >/dev/null; then
    echo "=== ThreadSanitizer reports ($tsan_reports):"
    cat "$tsan_reports"/tsan*
    tsan_rc=1
  fi
  [[ "$tsan_rc" == 0 ]] || { echo "=== ThreadSanitizer pass failed"; exit 1; }
  echo "=== $(date -u +%T) fuzzing smoke run"
  BUILD_DIR="$root/build-fuzz" JOBS="$jobs" "$root/fuzz/run.sh" "${ALLEZON_FUZZ_SECONDS:-10}"
fi
echo "=== $(date -u +%T) all tests passed"
