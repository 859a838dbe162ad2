#!/usr/bin/env bash
# HTTP ingest benchmark (issue 6): wrk posts realistic, varying tags (bench/http/ingest.lua)
# over keep-alive connections, first to allezon-empty204-server (the same HTTP setup
# answering 204 without parsing or storing), then to the same with --parse (parse only),
# then to allezon-server storing durably (fsync per group commit), all in this one run, and
# prints each rate, the latency percentiles and the ratios real / empty-204 and parse / empty-204.
# To compare two builds (before / after a change), run it once per --build in one session.
#
#   bench/http_ingest.sh [--build DIR] [--duration 15s] [--connections 64] [--wrk-threads 2]
#                        [--quick] [--server-args "..."]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-perf"
duration=15s
connections=64
wrk_threads=2
server_args=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --wrk-threads) wrk_threads="$2"; shift 2 ;;
    --server-args) server_args="$2"; shift 2 ;;
    --quick) duration=2s; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
work="$(mktemp -d /tmp/allezon-ingest.XXXXXX)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 1 200); do [[ -s "$1" ]] && return 0; sleep 0.05; done
  echo "server did not start" >&2; exit 1
}

# run_wrk LABEL: wrk against the server on $port; prints and remembers its RESULT line.
run_wrk() {
  local label="$1" out
  out="$(wrk -t"$wrk_threads" -c"$connections" -d"$duration" --latency \
         -s "$root/bench/http/ingest.lua" "http://127.0.0.1:$port" -- "$wrk_threads" 2>&1)"
  local line
  line="$(grep '^RESULT' <<<"$out" || true)"
  if [[ -z "$line" ]]; then echo "$out" >&2; echo "wrk failed" >&2; exit 1; fi
  echo "$label ${line#RESULT }"
  eval "${label//-/_}_rate=$(sed -E 's/.* rate=([0-9]+).*/\1/' <<<"$line")"
}

start() {  # start BINARY ARGS...: runs it in the background, sets $port
  rm -f "$work/port"
  "$@" --port 0 --port-file "$work/port" >"$work/server.log" 2>&1 &
  server_pid=$!
  wait_port "$work/port"
  port="$(cat "$work/port")"
}
stop() {
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
}

echo "# http_ingest: wrk -t$wrk_threads -c$connections -d$duration, $(nproc) cores, $(date -u +%FT%TZ)"
start "$build/bench/allezon-empty204-server"
run_wrk empty204
stop
start "$build/bench/allezon-empty204-server" --parse
run_wrk parse-only
stop
# shellcheck disable=SC2086
start "$build/server/allezon-server" --data-dir "$work/data" --debug-compare=false $server_args
run_wrk allezon-server
stats="$(curl -s "http://127.0.0.1:$port/admin/stats" || true)"
stop
echo "allezon-server stats: $stats"
awk -v real="$allezon_server_rate" -v empty="$empty204_rate" -v parse="$parse_only_rate" \
  'BEGIN { printf "RATIO allezon-server/empty204=%.3f parse-only/empty204=%.3f\n",
                  real / empty, parse / empty }'
