#!/usr/bin/env bash
# Standard mix benchmark (issue 6): allezon-loadgen drives allezon-server with the testing
# platform's stream (one profile query per 10 tags, one aggregates query per 1,000, every
# answer checked) as fast as the server answers, and prints the report.
#
#   bench/mix.sh [--build DIR] [--tags 1000000] [--connections 64] [--quick]
#                [--server-args "..."] [-- extra loadgen flags]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-perf"
tags=1000000
connections=64
server_args=""
quick=0
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --tags) tags="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --server-args) server_args="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
work="$(mktemp -d /tmp/allezon-mix.XXXXXX)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck disable=SC2086
"$build/server/allezon-server" --port 0 --port-file "$work/port" --data-dir "$work/data" \
  $server_args >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do [[ -s "$work/port" ]] && break; sleep 0.05; done
port="$(cat "$work/port")"
if [[ $quick == 1 ]]; then
  flags=(--tags 20000 --cookies 5000 --time-step-ms 25 --profile-latency 0 --aggregate-latency 0)
else
  flags=(--tags "$tags")
fi
echo "# mix: allezon-loadgen --seed 1 --throughput 0 --connections $connections ${flags[*]} ${extra[*]}, $(nproc) cores, $(date -u +%FT%TZ)"
status=0
"$build/bench/allezon-loadgen" --host 127.0.0.1 --port "$port" --seed 1 --throughput 0 \
  --connections "$connections" --progress off --max-wrong 0 --report "$work/report.json" \
  "${flags[@]}" "${extra[@]}" || status=$?
echo "allezon-server stats: $(curl -s "http://127.0.0.1:$port/admin/stats" || true)"
grep -E '^(VmHWM|VmRSS|RssAnon|RssFile)' "/proc/$server_pid/status" | tr -s ' \n' ' ' | sed 's/^/allezon-server memory: /'; echo
exit $status
