#!/usr/bin/env bash
# A/B of two allezon-server binaries under the wrk ingest load of http_ingest.sh, alternating
# A, B, A, B, ... so that the machine's drift hits both alike; prints each run and the median
# ratio B/A. For measuring one optimization before/after in the same run.
#
#   bench/ab_ingest.sh A_SERVER B_SERVER [--rounds 3] [--duration 8s] [--connections 64]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
a="$1"; b="$2"; shift 2
rounds=3; duration=8s; connections=64
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
work="$(mktemp -d /tmp/allezon-ab.XXXXXX)"
pid=""
trap '[[ -n "$pid" ]] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
run() {  # run LABEL BINARY
  rm -rf "$work/data" "$work/port"
  "$2" --port 0 --port-file "$work/port" --data-dir "$work/data" --debug-compare=false >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do [[ -s "$work/port" ]] && break; sleep 0.05; done
  local line
  line="$(wrk -t2 -c"$connections" -d"$duration" --latency -s "$root/bench/http/ingest.lua" \
          "http://127.0.0.1:$(cat "$work/port")" -- 2 | grep '^RESULT')"
  kill $pid; wait $pid 2>/dev/null || true; pid=""
  echo "$1 ${line#RESULT }"
}
for r in $(seq 1 "$rounds"); do
  run A "$a" | tee -a "$work/out"
  run B "$b" | tee -a "$work/out"
done
awk '{ for (i = 2; i <= NF; ++i) { split($i, kv, "="); if (kv[1] == "rate") r[$1] = r[$1] " " kv[2]; if (kv[1] == "p99_ms") p[$1] = p[$1] " " kv[2] } }
     END { printf "A rates:%s  p99:%s\nB rates:%s  p99:%s\n", r["A"], p["A"], r["B"], p["B"] }' "$work/out"
python3 - "$work/out" <<'PY'
import sys, statistics
rates = {"A": [], "B": []}
for line in open(sys.argv[1]):
    f = dict(kv.split("=") for kv in line.split()[1:])
    rates[line.split()[0]].append(float(f["rate"]))
print("median rate A=%.0f B=%.0f ratio B/A=%.3f" % (statistics.median(rates["A"]), statistics.median(rates["B"]),
      statistics.median(rates["B"]) / statistics.median(rates["A"])))
PY
