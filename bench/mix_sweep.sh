#!/usr/bin/env bash
# The standard mix (bench/mix.sh) at several connection counts, one fresh server each: how
# throughput and latency trade as more clients wait at once. allezon-loadgen is a closed
# loop (each connection sends its next request when the last is answered), so with few
# connections a run measures round-trip latency more than the server's capacity.
#
#   bench/mix_sweep.sh [--build DIR] [--tags 1000000] [--connections "64 128 256 512"]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-perf"
tags=1000000
counts="64 128 256 512"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --tags) tags="$2"; shift 2 ;;
    --connections) counts="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
echo "# mix sweep: $tags tags per run, $(nproc) cores, $(date -u +%FT%TZ)"
printf '%-12s %10s %10s %12s %12s %14s\n' connections 'tags/s' 'tags p99' 'profile p99' 'aggr. p99' 'not correct'
for connections in $counts; do
  out="$("$root/bench/mix.sh" --build "$build" --tags "$tags" --connections "$connections" 2>&1)" || true
  rate="$(sed -n 's/.*(\([0-9]*\) tags\/s).*/\1/p' <<<"$out" | head -1)"
  row() { awk -v name="$1" '$1 == name { print $10 }' <<<"$out"; }
  bad="$(awk '$1 == "user_tags" || $1 == "user_profiles" || $1 == "aggregates" {
                s += ($4 == "-" ? 0 : $4) + $5 + $6 } END { print s + 0 }' <<<"$out")"
  printf '%-12s %10s %10s %12s %12s %14s\n' "$connections" "${rate:-?}" "$(row user_tags)" \
    "$(row user_profiles)" "$(row aggregates)" "$bad"
done
