#!/usr/bin/env bash
# README command 1: the engine with an embedded nats-server, the synthetic multi-venue feed and
# demo client tokens. Extra arguments go to engine/main.ts (e.g. -- --scenario stressed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/ensure.sh
exec node dist/engine/main.js --demo "$@"
