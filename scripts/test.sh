#!/usr/bin/env bash
# Builds everything and runs every test: first a RelWithDebInfo build with the whole suite,
# then the same suite (less the tests labelled "slow", which only repeat long runs) under
# AddressSanitizer + UndefinedBehaviorSanitizer.
# ALLEZON_SKIP_SANITIZE=1 skips the second pass (quicker local runs).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="$(nproc)"
"$root/scripts/install-deps.sh"

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
    run_suite "$root/build-asan" "-LE slow" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DALLEZON_SANITIZE=ON
fi
echo "=== all tests passed"
