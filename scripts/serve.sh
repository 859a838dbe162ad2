#!/usr/bin/env bash
# Builds allezon-server (Release) and runs it on port 8080 with the data directory ./data
# under the project. Extra arguments go to the server, e.g. scripts/serve.sh --port 9000.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build-release" -DCMAKE_BUILD_TYPE=Release \
  -DALLEZON_BUILD_TESTS=OFF -DALLEZON_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$root/build-release" --target allezon-server -j"$(nproc)"
exec "$root/build-release/server/allezon-server" --data-dir "$root/data" "$@"
