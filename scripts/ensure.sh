#!/usr/bin/env bash
# Installs what the engine and its tests need when it is missing, then builds.
# Sourced by scripts/start.sh and scripts/test.sh; safe to run again (each step checks first).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need_root_apt() {
  # $1 = Debian package
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing $1 (apt-get)"
    if [ -z "${QE_APT_UPDATED:-}" ]; then apt-get update -qq; export QE_APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  else
    echo "error: $1 is missing. Install it with:  sudo apt-get update && sudo apt-get install -y $1" >&2
    exit 1
  fi
}

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "error: Node.js 20 or newer is required (found $(node --version))" >&2
  exit 1
fi

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  need_root_apt nats-server
fi

if [ "${QE_NEED_CHROMIUM:-0}" = "1" ] && ! command -v chromium >/dev/null 2>&1; then
  need_root_apt chromium
fi

# npm ci when node_modules is absent or older than the lock file
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "==> build (tsc)"
node_modules/.bin/tsc -p tsconfig.json
# the trader screen: type-checked and bundled by esbuild into dist/screen (engine/screen/build.ts)
if [ -f dist/engine/screen/build.js ]; then
  echo "==> build (trader screen)"
  node dist/engine/screen/build.js
fi
