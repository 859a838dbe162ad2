#!/usr/bin/env bash
# Before/after comparison of two builds in one session (issue 17): on a noisy machine only
# ratios measured in the same run mean anything, so the two builds take turns, `rounds` times,
# under bench/http_ingest.sh (durable ingest) and bench/mix.sh (the standard mix).
#
#   bench/before_after.sh --before DIR --after DIR [--rounds 2] [--duration 10s] [--tags 300000]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
before="" after="" rounds=2 duration=10s tags=300000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --before) before="$2"; shift 2 ;;
    --after) after="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --tags) tags="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n "$before" && -n "$after" ]] || { echo "--before and --after are required" >&2; exit 2; }
for round in $(seq 1 "$rounds"); do
  for side in before after; do
    dir="${!side}"
    echo "## round $round: $side ($dir)"
    "$root/bench/http_ingest.sh" --build "$dir" --duration "$duration" | grep -E '^(allezon-server|empty204|parse-only|RATIO) '
    "$root/bench/mix.sh" --build "$dir" --tags "$tags" 2>&1 | grep -E 'tags/s|  user_|  aggregates|memory|Score'
  done
done
