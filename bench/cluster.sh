#!/usr/bin/env bash
# Cluster benchmark (SPEC §8, issue 16): a local cluster (3 nats-server, N nodes, HAProxy, all
# on this machine's cores together with the load generator) driven through the front door by
# allezon-loadgen, every answer checked. Two runs on one cluster:
#   1. ingest: the standard stream as fast as the cluster answers (--connections C);
#   2. the standard mix at the platform's rate (--mix-rate tags/s, default 1,000).
# For each run it prints the loadgen report and the CPU seconds each process used per 1,000
# tags (utime + stime from /proc), so the cost of every component is measured.
#
#   bench/cluster.sh [--build DIR] [--nodes 3] [--tags 30000] [--connections 64]
#                    [--mix-tags 60000] [--mix-rate 1000] [--keep DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-perf"
nodes=3
tags=30000
connections=64
mix_tags=60000
mix_rate=1000
keep=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --nodes) nodes="$2"; shift 2 ;;
    --tags) tags="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --mix-tags) mix_tags="$2"; shift 2 ;;
    --mix-rate) mix_rate="$2"; shift 2 ;;
    --keep) keep="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ ! -x "$build/bench/allezon-loadgen" || ! -x "$build/server/allezon-server" ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DALLEZON_BUILD_TESTS=OFF \
    -DALLEZON_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" --target allezon-server allezon-cluster allezon-loadgen
fi
dir="${keep:-$(mktemp -d /tmp/allezon-cluster-bench.XXXXXX)}"
cleanup() {
  bash "$root/scripts/cluster.sh" down "$dir" >/dev/null 2>&1 || true
  [[ -n "$keep" ]] || rm -rf "$dir"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ALLEZON_BUILD_DIR="$build" bash "$root/scripts/cluster.sh" up "$dir" --nodes "$nodes" --port "$port"

names=(haproxy nats1 nats2 nats3)
for ((i = 1; i <= nodes; i++)); do names+=("node$i"); done
ticks=$(getconf CLK_TCK)
cpu_of() {  # utime + stime of a pid, in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}
snapshot() {
  local out=()
  for n in "${names[@]}"; do out+=("$(cpu_of "$(cat "$dir/pids/$n.pid")")"); done
  echo "${out[*]}"
}
# report LABEL TAGS BEFORE AFTER LOADGEN_CPU_SECONDS
report() {
  local label="$1" count="$2"
  read -r -a before <<<"$3"
  read -r -a after <<<"$4"
  local line="cpu ms per 1,000 tags ($label):" total=0
  for i in "${!names[@]}"; do
    local ms=$(( (after[i] - before[i]) * 1000 / ticks * 1000 / count ))
    total=$((total + ms))
    line+=" ${names[i]}=$ms"
  done
  echo "$line total=$total (+ loadgen $5 s CPU)"
}
run() {  # run LABEL TAGS LOADGEN-ARGS...
  local label="$1" count="$2"; shift 2
  echo "# $label: allezon-loadgen --seed 1 --tags $count $*, $nodes nodes, $(nproc) cores, $(date -u +%FT%TZ)"
  local before after out
  before=$(snapshot)
  out=$("$build/bench/allezon-loadgen" --host 127.0.0.1 --port "$port" --seed 1 --tags "$count" \
          --progress off "$@" 2>&1) || true
  after=$(snapshot)
  echo "$out"
  report "$label" "$count" "$before" "$after" \
    "$(sed -n 's/.*load generator CPU \([0-9.]*\) s.*/\1/p' <<<"$out")"
}
run ingest "$tags" --throughput 0 --connections "$connections" --profile-latency 0 \
  --aggregate-latency 0
# The mix continues the same stream's logical time from a fresh seed's start: a new seed.
run "mix at $mix_rate tags/s" "$mix_tags" --seed 2 --throughput "$mix_rate" --connections 64
bash "$root/scripts/cluster.sh" status "$dir"
