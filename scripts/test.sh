#!/usr/bin/env bash
# README command 2: installs what is missing, builds, runs every test (unit + integration against
# a real nats-server and real WebSocket clients), and ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# the trader screen's browser test needs Debian's chromium: installed when missing (0 skips that)
export QE_NEED_CHROMIUM="${QE_NEED_CHROMIUM:-1}"
source scripts/ensure.sh || exit 1
# ensure.sh runs with `set -e`, which sourcing leaves on: a failing test run must still reach the summary line
set +e

files=$(find dist/test -name '*.test.js' | sort)
if [ -n "${1:-}" ]; then files=$(printf '%s\n' $files | grep -E "$1" || true); fi
if [ -z "$files" ]; then echo "no test files matched"; echo "0 passed, 1 failed"; exit 1; fi

log=$(mktemp)
# two jobs: the machine has 2 cores and integration tests each run a broker, an engine and clients
node_modules/.bin/tap --disable-coverage --reporter=tap --jobs=2 --timeout=420 $files 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

summary=$(grep -E '^# \{ total: ' "$log" | tail -n 1)
rm -f "$log"
get() { printf '%s' "$summary" | grep -oE "$1: [0-9]+" | grep -oE '[0-9]+' || echo 0; }
pass=$(get pass); fail=$(get fail); skip=$(get skip); todo=$(get todo)
if [ -z "$summary" ]; then fail=$((fail + 1)); echo "tap printed no summary"; fi
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; echo "tap exited $rc"; fi
echo "${pass} passed, ${fail} failed, $((skip + todo)) skipped"
[ "$fail" -eq 0 ] && [ "$rc" -eq 0 ]
