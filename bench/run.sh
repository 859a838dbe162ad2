#!/usr/bin/env bash
# Runs every benchmark of issue 6 (see bench/RESULTS.md for what each measures and the
# targets). --quick: seconds-long smoke run of each (CI); without it a full run takes ~6 min
# plus the fill (--fill-tags, default 1,000,000; the storage/memory targets use 10,000,000).
#
#   bench/run.sh [--quick] [--build DIR] [--fill-tags N]
# Builds DIR (default build-perf, Release) first when it has no build files yet.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-perf"
quick=0
fill_tags=1000000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --build) build="$2"; shift 2 ;;
    --fill-tags) fill_tags="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target allezon-server allezon-loadgen allezon-bench-fill \
  allezon-empty204-server $( [[ -n "$(grep -l benchmark_DIR "$build/CMakeCache.txt" 2>/dev/null)" ]] && echo allezon-bench ) >/dev/null

echo "== $(date -u +%FT%TZ) commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
q=(); [[ $quick == 1 ]] && q=(--quick)
status=0
if [[ -x "$build/bench/allezon-bench" ]]; then
  echo "== library (Google Benchmark)"
  "$build/bench/allezon-bench" "${q[@]}" || status=1
else
  echo "== library: allezon-bench not built (install libbenchmark-dev)"
fi
echo "== library fill (storage, memory, durable batch ingest)"
if [[ $quick == 1 ]]; then fill_tags=50000; fi
"$build/bench/allezon-bench-fill" --dir "$(mktemp -u /tmp/allezon-fill.XXXXXX)" --tags "$fill_tags" \
  --batch 1000 --threads 2 --report-every 1000000 || status=1
echo "== HTTP ingest (wrk)"
"$root/bench/http_ingest.sh" --build "$build" "${q[@]}" || status=1
echo "== standard mix (allezon-loadgen)"
"$root/bench/mix.sh" --build "$build" "${q[@]}" || status=1
if [[ $quick == 0 ]]; then
  echo "== standard mix by connection count (closed loop: latency vs capacity)"
  "$root/bench/mix_sweep.sh" --build "$build" --tags 300000 --connections "64 256" || status=1
fi
exit $status
