#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined) in
# build-fuzz/ and runs each for N seconds (default 20) from a copy of its seed corpus.
#   fuzz/run.sh [SECONDS] [TARGET...]     e.g. fuzz/run.sh 600 tag_parser
# Environment: BUILD_DIR (default <repo>/build-fuzz), JOBS (default nproc),
#              MERGE=1 to minimise new inputs into fuzz/corpus/<target>/ afterwards.
# Exit status: non-zero if any target finds a crash, a leak, a sanitizer report or a broken
# property; the input is kept in $BUILD_DIR/work/<target>/crash-*.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-20}"
shift || true
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(tag_parser time_parser query_string)
build="${BUILD_DIR:-$repo/build-fuzz}"
jobs="${JOBS:-$(nproc)}"

CC=clang CXX=clang++ cmake -S "$repo/fuzz" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DALLEZON_FUZZ_SECONDS="$seconds" >/dev/null
cmake --build "$build" -j "$jobs" --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null

# Every UBSan report is fatal except the one suppressed third-party pattern.
export UBSAN_OPTIONS="suppressions=$repo/fuzz/ubsan.supp:halt_on_error=1:print_stacktrace=1:report_error_type=1"
status=0
for target in "${targets[@]}"; do
  work="$build/work/$target"
  rm -rf "$work" && mkdir -p "$work/corpus"
  cp "$repo/fuzz/corpus/$target/"* "$work/corpus/" 2>/dev/null || true
  dict=()
  [[ -f "$repo/fuzz/$target.dict" ]] && dict=(-dict="$repo/fuzz/$target.dict")
  echo "== $target: ${seconds}s"
  if ! "$build/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$work/" "${dict[@]}" "$work/corpus" \
      >"$work/log.txt" 2>&1; then
    echo "FAILED: $target (see $work/log.txt and $work/crash-*)"
    tail -40 "$work/log.txt"
    status=1
    continue
  fi
  grep -E "^#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb" "$work/log.txt" \
    | sed 's/^/  /'
  echo "  corpus: $(ls "$work/corpus" | wc -l) inputs"
  if [[ "${MERGE:-0}" == 1 ]]; then
    "$build/fuzz_$target" -merge=1 "$repo/fuzz/corpus/$target" "$work/corpus" >/dev/null 2>&1
  fi
done
exit "$status"
