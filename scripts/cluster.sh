#!/usr/bin/env bash
# A whole cluster (SPEC §8) on one machine, for developers, tests and demos: 3 nats-server
# (JetStream, routed to each other), N allezon-server nodes and one HAProxy in front, all on
# 127.0.0.1, with every file under DIR:
#   DIR/cluster.json    the cluster file (made by `allezon-cluster ring`)
#   DIR/haproxy.cfg     generated from it by `allezon-cluster haproxy-config`
#   DIR/ports           the loopback ports chosen at the first `up`, reused afterwards
#   DIR/nats/NAME.conf  DIR/nats-data/NAME/  DIR/data/nodeK/  DIR/logs/NAME.log  DIR/pids/NAME.pid
#
#   cluster.sh up DIR [--nodes N] [--port PORT] [--node-flags "FLAGS"]
#                                                start whatever is not running; 0 once the front
#                                                door answers and every node is ready. FLAGS are
#                                                more allezon-server flags for every node (e.g.
#                                                "--raw-retention-hours 48"), kept in
#                                                DIR/node-flags for later starts
#   cluster.sh kill DIR NAME                     kill -9 of node1..nodeN, nats1..nats3 or haproxy
#   cluster.sh start DIR NAME [--wipe]           start it again (--wipe: with its data removed)
#   cluster.sh status DIR                        NAME PID|down ready|not-ready lag=N|-
#   cluster.sh down DIR                          SIGTERM everything, SIGKILL after 10 s
#
# Binaries come from ${ALLEZON_BUILD_DIR:-<root>/build-release}; with ALLEZON_BUILD_DIR set they
# are built only when missing. ALLEZON_CLUSTER_TIMEOUT (seconds, default 60) bounds the waits;
# ALLEZON_LOG_LEVEL (default info) is the nodes' --log-level.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
timeout_s="${ALLEZON_CLUSTER_TIMEOUT:-60}"
nats_names=(nats1 nats2 nats3)

usage() {
  cat >&2 <<'EOF'
usage: cluster.sh up DIR [--nodes N] [--port PORT] [--node-flags "FLAGS"]
       cluster.sh kill DIR NAME
       cluster.sh start DIR NAME [--wipe]
       cluster.sh status DIR
       cluster.sh down DIR
NAME is node1..nodeN, nats1..nats3 or haproxy.
EOF
  exit 2
}

die() {
  echo "cluster.sh: $*" >&2
  exit 1
}

# ---- state under DIR -------------------------------------------------------------------------

port_of() {  # KEY -> the port recorded under DIR/ports
  local value
  value="$(awk -F= -v k="$1" '$1 == k { print $2 }' "$dir/ports")"
  [[ -n "$value" ]] || die "$dir/ports has no $1"
  printf '%s\n' "$value"
}

node_count() { port_of nodes; }

all_names() {
  local k n
  n="$(node_count)"
  printf '%s\n' "${nats_names[@]}"
  for ((k = 1; k <= n; k++)); do printf 'node%d\n' "$k"; done
  printf 'haproxy\n'
}

valid_name() {
  local name="$1" n
  n="$(node_count)"
  case "$name" in
    nats[1-3] | haproxy) return 0 ;;
    node[1-9] | node[1-9][0-9])
      local k="${name#node}"
      ((k >= 1 && k <= n)) && return 0
      ;;
  esac
  return 1
}

# The pid of NAME when it is running: the pid file's process, alive (not a zombie: the
# container's init may not reap) and started for this DIR (pids get reused).
running_pid() {
  local pidfile="$dir/pids/$1.pid" pid state
  [[ -s "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/stat" ]] || return 1
  state="$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ "$state" != "Z" && "$state" != "X" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/" || return 1
  printf '%s\n' "$pid"
}

http_code() {  # URL -> the HTTP status, 000 when nothing answered
  curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true
}

# Free loopback ports below the ephemeral range, so that a port left free while its process is
# down cannot be taken as some connection's source port before the process comes back.
pick_ports() {  # COUNT
  python3 - "$1" <<'EOF'
import random, socket, sys
count = int(sys.argv[1])
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except OSError:
    low = 32768
held, ports = [], []
candidates = list(range(20000, max(20000, low)))
random.shuffle(candidates)
for port in candidates + [0] * count:
    if len(ports) == count:
        break
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    held.append(s)
    ports.append(s.getsockname()[1])
print(" ".join(map(str, ports)))
EOF
}

port_free() {
  python3 -c 'import socket, sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

# ---- binaries --------------------------------------------------------------------------------

find_binaries() {
  local build_dir="${ALLEZON_BUILD_DIR:-$root/build-release}"
  server_bin="$build_dir/server/allezon-server"
  tool_bin="$build_dir/server/cluster/allezon-cluster"
  nats_bin="$(command -v nats-server || echo /usr/sbin/nats-server)"
  haproxy_bin="$(command -v haproxy || echo /usr/sbin/haproxy)"
}

build_binaries() {
  local build_dir="${ALLEZON_BUILD_DIR:-$root/build-release}"
  if [[ -n "${ALLEZON_BUILD_DIR:-}" && -x "$server_bin" && -x "$tool_bin" ]]; then return 0; fi
  if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
    cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
      -DALLEZON_BUILD_TESTS=OFF -DALLEZON_BUILD_EXAMPLES=OFF -DALLEZON_BUILD_BENCH=OFF >/dev/null
  fi
  cmake --build "$build_dir" --target allezon-server allezon-cluster -j"$(nproc)" >&2
}

# ---- processes -------------------------------------------------------------------------------

# Starts NAME in its own session (a Ctrl-C of this script must not reach it), appending to its
# log; the process writes its own pid, which `exec` keeps.
launch() {
  local name="$1"
  shift
  local log="$dir/logs/$name.log" pidfile="$dir/pids/$name.pid"
  rm -f "$pidfile"
  printf '=== %s cluster.sh: starting %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$log"
  # shellcheck disable=SC2016  # $$ and $@ belong to the inner shell
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >>"$log" 2>&1 </dev/null &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.1
  done
  die "$name did not start; see $log"
}

write_nats_conf() {  # K
  local k="$1" routes="" j
  for j in 1 2 3; do
    routes+="${routes:+, }nats-route://127.0.0.1:$(port_of "nats${j}_cluster")"
  done
  cat >"$dir/nats/nats$k.conf" <<EOF
# Written by scripts/cluster.sh.
server_name: nats$k
listen: 127.0.0.1:$(port_of "nats${k}_client")
http: 127.0.0.1:$(port_of "nats${k}_http")
jetstream {
  store_dir: "$dir/nats-data/nats$k"
}
cluster {
  name: allezon
  listen: 127.0.0.1:$(port_of "nats${k}_cluster")
  routes: [$routes]
}
EOF
}

start_process() {  # NAME
  local name="$1"
  case "$name" in
    nats*)
      local k="${name#nats}"
      mkdir -p "$dir/nats-data/$name"
      write_nats_conf "$k"
      launch "$name" "$nats_bin" -c "$dir/nats/$name.conf"
      ;;
    node*)
      mkdir -p "$dir/data/$name"
      local extra=()
      [[ ! -s "$dir/node-flags" ]] || read -r -a extra <"$dir/node-flags"
      launch "$name" "$server_bin" --cluster-file "$dir/cluster.json" --node-id "$name" \
        --data-dir "$dir/data/$name" --log-level "${ALLEZON_LOG_LEVEL:-info}" "${extra[@]}"
      ;;
    haproxy)
      # -db: in the foreground, so that its pid is the one recorded.
      launch haproxy "$haproxy_bin" -db -f "$dir/haproxy.cfg"
      ;;
  esac
}

# ready when NAME answers as it should: a node /readyz 200 (caught up with the log), NATS
# /healthz 200 (JetStream current), HAProxy any answer on the front door.
is_ready() {
  local name="$1"
  case "$name" in
    nats*) [[ "$(http_code "http://127.0.0.1:$(port_of "${name}_http")/healthz")" == 200 ]] ;;
    node*) [[ "$(http_code "http://127.0.0.1:$(port_of "$name")/readyz")" == 200 ]] ;;
    haproxy) [[ "$(http_code "http://127.0.0.1:$(port_of port)/readyz")" != 000 ]] ;;
  esac
}

# Whether HAProxy has every node UP (its checks passed), from its stats CSV.
haproxy_sees_all_nodes() {
  local csv up
  csv="$(curl -s -m 2 "http://127.0.0.1:$(port_of stats)/stats;csv" 2>/dev/null)" || return 1
  up="$(awk -F, '$1 == "any_node" && $2 ~ /^node/ && $18 == "UP" { n++ } END { print n + 0 }' <<<"$csv")"
  [[ "$up" == "$(node_count)" ]]
}

show_log_tail() {
  echo "--- last lines of $dir/logs/$1.log:" >&2
  tail -n 30 "$dir/logs/$1.log" >&2 2>/dev/null || true
}

# Waits until every NAME is ready; fails with the log of the first that died or is not ready.
wait_ready() {  # DEADLINE NAME...
  local deadline="$1" name pending
  shift
  while true; do
    pending=()
    for name in "$@"; do
      if ! running_pid "$name" >/dev/null; then
        echo "cluster.sh: $name exited" >&2
        show_log_tail "$name"
        return 1
      fi
      is_ready "$name" || pending+=("$name")
    done
    ((${#pending[@]} == 0)) && return 0
    if ((SECONDS >= deadline)); then
      echo "cluster.sh: not ready after ${timeout_s} s: ${pending[*]}" >&2
      for name in "${pending[@]}"; do show_log_tail "$name"; done
      return 1
    fi
    sleep 0.2
  done
}

stop_processes() {  # NAME...: SIGTERM, then SIGKILL whatever is left after 10 s
  local name pid deadline=$((SECONDS + 10)) left
  for name in "$@"; do
    if pid="$(running_pid "$name")"; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  while true; do
    left=()
    for name in "$@"; do running_pid "$name" >/dev/null && left+=("$name"); done
    ((${#left[@]} == 0)) && break
    if ((SECONDS >= deadline)); then
      for name in "${left[@]}"; do
        if pid="$(running_pid "$name")"; then kill -KILL "$pid" 2>/dev/null || true; fi
        echo "cluster.sh: $name did not stop within 10 s: killed" >&2
      done
      sleep 0.2
      break
    fi
    sleep 0.1
  done
  for name in "$@"; do rm -f "$dir/pids/$name.pid"; done
}

# ---- commands --------------------------------------------------------------------------------

cmd_up() {
  local nodes="" port="" node_flags="" node_flags_given=0
  while (($# > 0)); do
    case "$1" in
      --nodes) (($# >= 2)) || usage; nodes="$2"; shift 2 ;;
      --port) (($# >= 2)) || usage; port="$2"; shift 2 ;;
      --node-flags) (($# >= 2)) || usage; node_flags="$2"; node_flags_given=1; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ -z "$nodes" || "$nodes" =~ ^[1-9][0-9]?$ ]] || die "--nodes must be 1..99"
  [[ -z "$port" || ("$port" =~ ^[1-9][0-9]{0,4}$ && "$port" -le 65535) ]] || die "--port must be 1..65535"
  mkdir -p "$dir"/{nats,logs,pids,data,nats-data}
  ((node_flags_given == 0)) || printf '%s\n' "$node_flags" >"$dir/node-flags"

  "$root/scripts/install-deps.sh" cluster
  find_binaries
  build_binaries

  if [[ -f "$dir/ports" ]]; then
    # An existing cluster keeps its ports and its nodes: their data follows the assignment.
    if [[ -n "$nodes" && "$nodes" != "$(node_count)" ]]; then
      die "$dir holds a cluster of $(node_count) nodes; use another DIR for $nodes"
    fi
    if [[ -n "$port" && "$port" != "$(port_of port)" ]]; then
      running_pid haproxy >/dev/null && die "haproxy is running on port $(port_of port); stop it first"
      sed -i "s/^port=.*/port=$port/" "$dir/ports"
    fi
  else
    nodes="${nodes:-3}"
    port="${port:-8080}"
    local picked
    read -r -a picked <<<"$(pick_ports $((10 + nodes)))"
    ((${#picked[@]} == 10 + nodes)) || die "could not find $((10 + nodes)) free loopback ports"
    {
      echo "nodes=$nodes"
      echo "port=$port"
      echo "stats=${picked[0]}"
      local k
      for k in 1 2 3; do
        echo "nats${k}_client=${picked[k]}"
        echo "nats${k}_cluster=${picked[k + 3]}"
        echo "nats${k}_http=${picked[k + 6]}"
      done
      for ((k = 1; k <= nodes; k++)); do echo "node$k=${picked[k + 9]}"; done
    } >"$dir/ports.tmp"
    mv "$dir/ports.tmp" "$dir/ports"
  fi
  nodes="$(node_count)"

  if [[ ! -f "$dir/cluster.json" ]]; then
    local node_list="" nats_list="" k
    for ((k = 1; k <= nodes; k++)); do node_list+="${node_list:+,}node$k=127.0.0.1:$(port_of "node$k")"; done
    for k in 1 2 3; do nats_list+="${nats_list:+,}nats://127.0.0.1:$(port_of "nats${k}_client")"; done
    "$tool_bin" ring --nodes "$node_list" --nats "$nats_list" >"$dir/cluster.json.tmp"
    mv "$dir/cluster.json.tmp" "$dir/cluster.json"
  fi
  "$tool_bin" check "$dir/cluster.json" >/dev/null
  "$tool_bin" haproxy-config "$dir/cluster.json" --bind "127.0.0.1:$(port_of port)" \
    --stats-bind "127.0.0.1:$(port_of stats)" >"$dir/haproxy.cfg.tmp"
  mv "$dir/haproxy.cfg.tmp" "$dir/haproxy.cfg"

  local deadline=$((SECONDS + timeout_s)) name started=()
  for name in "${nats_names[@]}"; do
    running_pid "$name" >/dev/null || { start_process "$name"; started+=("$name"); }
  done
  wait_ready "$deadline" "${nats_names[@]}" || exit 1

  local node_names=()
  for ((k = 1; k <= nodes; k++)); do node_names+=("node$k"); done
  for name in "${node_names[@]}"; do
    running_pid "$name" >/dev/null || start_process "$name"
  done
  wait_ready "$deadline" "${node_names[@]}" || exit 1

  if ! running_pid haproxy >/dev/null; then
    port_free "$(port_of port)" || die "port $(port_of port) is in use; choose another with --port"
    start_process haproxy
  fi
  wait_ready "$deadline" haproxy || exit 1
  until haproxy_sees_all_nodes; do
    if ((SECONDS >= deadline)); then
      echo "cluster.sh: HAProxy does not see every node up after ${timeout_s} s" >&2
      show_log_tail haproxy
      exit 1
    fi
    sleep 0.2
  done
  echo "cluster up: http://127.0.0.1:$(port_of port)/ ($nodes nodes, 3 NATS servers;" \
    "HAProxy stats http://127.0.0.1:$(port_of stats)/stats; state in $dir)"
}

cmd_kill() {
  (($# == 1)) || usage
  local name="$1" pid
  valid_name "$name" || die "unknown process \"$name\""
  pid="$(running_pid "$name")" || die "$name is not running"
  kill -KILL "$pid"
  while running_pid "$name" >/dev/null; do sleep 0.05; done
  rm -f "$dir/pids/$name.pid"
  echo "killed $name (pid $pid)"
}

cmd_start() {
  local name="" wipe=0
  while (($# > 0)); do
    case "$1" in
      --wipe) wipe=1; shift ;;
      -*) usage ;;
      *) [[ -z "$name" ]] || usage; name="$1"; shift ;;
    esac
  done
  [[ -n "$name" ]] || usage
  valid_name "$name" || die "unknown process \"$name\""
  running_pid "$name" >/dev/null && die "$name is already running"
  find_binaries
  if ((wipe)); then
    case "$name" in
      nats*) rm -rf "${dir:?}/nats-data/$name" ;;
      node*) rm -rf "${dir:?}/data/$name" ;;
    esac
  fi
  if [[ "$name" == haproxy ]]; then
    port_free "$(port_of port)" || die "port $(port_of port) is in use"
  fi
  start_process "$name"
  # Back once it answers at all; a node may take a while to catch up (see `status`).
  local deadline=$((SECONDS + timeout_s)) url
  case "$name" in
    nats*) url="http://127.0.0.1:$(port_of "${name}_http")/healthz" ;;
    node*) url="http://127.0.0.1:$(port_of "$name")/readyz" ;;
    haproxy) url="http://127.0.0.1:$(port_of port)/readyz" ;;
  esac
  until [[ "$(http_code "$url")" != 000 ]]; do
    if ! running_pid "$name" >/dev/null; then
      echo "cluster.sh: $name exited" >&2
      show_log_tail "$name"
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "cluster.sh: $name does not answer after ${timeout_s} s" >&2
      show_log_tail "$name"
      exit 1
    fi
    sleep 0.1
  done
  local state=ready
  is_ready "$name" || state=not-ready
  echo "started $name (pid $(running_pid "$name")), $state"
}

node_lag() {  # NAME -> the node's log lag from /cluster/status, or -
  curl -s -m 2 "http://127.0.0.1:$(port_of "$1")/cluster/status" 2>/dev/null | python3 -c '
import json, sys
try:
    lag = json.load(sys.stdin)["lag"]
    print(lag if isinstance(lag, int) and not isinstance(lag, bool) else "-")
except Exception:
    print("-")
' || echo -
}

cmd_status() {
  (($# == 0)) || usage
  local name pid ready lag
  while read -r name; do
    lag=-
    if pid="$(running_pid "$name")"; then
      ready=not-ready
      is_ready "$name" && ready=ready
      [[ "$name" == node* ]] && lag="$(node_lag "$name")"
    else
      pid=down
      ready=not-ready
    fi
    echo "$name $pid $ready lag=$lag"
  done < <(all_names)
}

cmd_down() {
  (($# == 0)) || usage
  local names=() k n
  n="$(node_count)"
  # Front door first (no new requests), then the nodes (they finish and close their
  # databases), then the log.
  stop_processes haproxy
  for ((k = 1; k <= n; k++)); do names+=("node$k"); done
  stop_processes "${names[@]}"
  stop_processes "${nats_names[@]}"
  echo "cluster down ($dir)"
}

(($# >= 2)) || usage
command="$1"
dir="$2"
shift 2
if [[ "$command" == up ]]; then
  mkdir -p "$dir" 2>/dev/null || die "cannot create $dir"
elif [[ ! -f "$dir/ports" ]]; then
  die "$dir holds no cluster (run: cluster.sh up $dir)"
fi
dir="$(cd "$dir" && pwd -P)"
case "$command" in
  up) cmd_up "$@" ;;
  kill) cmd_kill "$@" ;;
  start) cmd_start "$@" ;;
  status) cmd_status "$@" ;;
  down) cmd_down "$@" ;;
  *) usage ;;
esac
