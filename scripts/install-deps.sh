#!/usr/bin/env bash
# Installs the Debian packages the project builds with; `install-deps.sh test` adds what the
# test command needs besides (clang and its sanitizer runtimes, for the fuzzing smoke run, and
# the cluster's packages, Chromium for the dashboard's browser test), `install-deps.sh cluster`
# what scripts/cluster.sh runs.
# Idempotent and quick when everything is already there (no apt-get call at all).
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libabsl-dev liblmdb-dev rapidjson-dev libcpp-httplib-dev doctest-dev
  # Boost.Beast (header-only): the server's strict, incremental HTTP request parser.
  libboost-dev
  python3 curl
  # allezon-server always builds its cluster mode (server/cluster), which links these.
  libnats-dev zlib1g-dev
  # Chart.js, embedded into allezon-server for the dashboard (GET /).
  libjs-chart.js
)
# The cluster (SPEC §8): NATS JetStream for the log, HAProxy for the front door, libnats to
# build the nodes. The test suite runs cluster tests, so `test` needs them too.
case "${1:-}" in
  # chromium: the dashboard's browser test (tests/browser).
  test) packages+=(clang libclang-rt-14-dev nats-server haproxy libnats-dev chromium) ;;
  cluster) packages+=(nats-server haproxy libnats-dev) ;;
esac
# Optional extras: benchmarks (Google Benchmark, wrk), fuzzing (clang), backups (mdb_copy).
if [[ "${ALLEZON_EXTRA_PACKAGES:-}" == "1" ]]; then
  packages+=(libbenchmark-dev wrk clang lmdb-utils)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
