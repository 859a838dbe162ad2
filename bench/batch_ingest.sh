#!/usr/bin/env bash
# Batch ingest over HTTP (issue 20 target: ≥ 150k tags/s, batches of 1,000, durable): starts
# allezon-server on a fresh data directory for each run, sends the standard stream
# (bench/lib/realistic_tags.h, SPEC §1 tags as NDJSON, built before the clock starts) as
# POST /user_tags/batch from C keep-alive clients (allezon-bench-history batch), and prints
# tags/s and per-batch latency p50/p99 (first byte sent to 204 read: durable).
#
# Every combination of servers × connection counts × raw retention runs once per round, the
# rounds alternating them, so that the machine's drift hits all alike; the summary gives each
# combination's median and, with two servers, the median ratio B/A.
#
#   bench/batch_ingest.sh [--build DIR] [--server A_BIN [--server B_BIN]] [--tags 300000]
#                         [--batch 1000] [--connections "1 2 4"] [--raw "24 0"] [--rounds 3]
#                         [--server-args "..."]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build"
servers=()
tags=300000
batch=1000
connection_list="1 2 4"
raw_list="24 0"
rounds=3
server_args=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --server) servers+=("$2"); shift 2 ;;
    --tags) tags="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --connections) connection_list="$2"; shift 2 ;;
    --raw) raw_list="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --server-args) server_args="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ ${#servers[@]} -gt 0 ]] || servers=("$build/server/allezon-server")
client="$build/bench/allezon-bench-history"
work="$(mktemp -d /tmp/allezon-batch.XXXXXX)"
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

run() {  # run LABEL SERVER RAW_HOURS CONNECTIONS
  rm -rf "$work/data" "$work/port"
  # shellcheck disable=SC2086
  "$2" --port 0 --port-file "$work/port" --data-dir "$work/data" --debug-compare=false \
    --raw-retention-hours "$3" $server_args >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do [[ -s "$work/port" ]] && break; sleep 0.05; done
  [[ -s "$work/port" ]] || { cat "$work/server.log" >&2; echo "server did not start" >&2; exit 1; }
  local line
  line="$("$client" batch --port "$(cat "$work/port")" --tags "$tags" --batch "$batch" \
          --connections "$4")"
  # The server's CPU per tag (user + system, all its threads): steadier than the rate on a
  # shared machine, where the others' load changes the wall clock but not the work done.
  # The busiest thread's too: the database's writer, which every batch waits for.
  local ticks busiest hz
  ticks="$(awk '{ print $14 + $15 }' "/proc/$pid/stat")"
  busiest="$(cat /proc/"$pid"/task/*/stat | awk '{ t = $14 + $15; if (t > m) m = t } END { print m }')"
  hz="$(getconf CLK_TCK)"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  echo "$1 raw=$3 ${line#batch } $(awk -v t="$ticks" -v b="$busiest" -v hz="$hz" -v n="$tags" \
       'BEGIN { printf "server_cpu_us_per_tag=%.2f writer_cpu_us_per_tag=%.2f", t / hz * 1e6 / n,
                b / hz * 1e6 / n }')" | tee -a "$work/out"
}

echo "# batch_ingest: $tags tags, batches of $batch, $(nproc) cores, $(date -u +%FT%TZ)," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$rounds"); do
  for raw in $raw_list; do
    for c in $connection_list; do
      for i in "${!servers[@]}"; do
        run "$(printf "\\x$(printf %x $((65 + i)))")" "${servers[$i]}" "$raw" "$c"
      done
    done
  done
done
python3 - "$work/out" <<'PY'
import sys, statistics, collections
runs = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    words = line.split()
    f = dict(kv.split("=") for kv in words[1:])
    key = (f["raw"], f["connections"])
    for k in ("tags_per_s", "p50_ms", "p99_ms", "server_cpu_us_per_tag",
              "writer_cpu_us_per_tag"):
        runs[key][(words[0], k)].append(float(f[k]))
for (raw, c), v in sorted(runs.items()):
    labels = sorted({label for label, _ in v})
    parts = []
    for label in labels:
        rate = statistics.median(v[(label, "tags_per_s")])
        parts.append("%s %.0f tags/s p50 %.1f ms p99 %.1f ms, CPU-us/tag server %.2f "
                     "writer %.2f (least %.2f)" % (
            label, rate, statistics.median(v[(label, "p50_ms")]),
            statistics.median(v[(label, "p99_ms")]),
            statistics.median(v[(label, "server_cpu_us_per_tag")]),
            statistics.median(v[(label, "writer_cpu_us_per_tag")]),
            min(v[(label, "writer_cpu_us_per_tag")])))
    line = "median raw=%s connections=%s: %s" % (raw, c, "; ".join(parts))
    if len(labels) == 2:
        a, b = (v[(l, "tags_per_s")] for l in labels)
        ca, cb = (v[(l, "server_cpu_us_per_tag")] for l in labels)
        wa, wb = (v[(l, "writer_cpu_us_per_tag")] for l in labels)
        line += ("; ratio B/A rate %.3f (per round: %s), server CPU/tag %.3f, writer CPU/tag "
                 "%.3f (least: %.3f)") % (
            statistics.median(b) / statistics.median(a),
            " ".join("%.2f" % (y / x) for x, y in zip(a, b)),
            statistics.median(cb) / statistics.median(ca),
            statistics.median(wb) / statistics.median(wa), min(wb) / min(wa))
    print(line)
PY
