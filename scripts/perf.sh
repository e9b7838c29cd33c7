#!/usr/bin/env bash
# `npm run perf [-- --quick | --grid | options]`: installs what is missing and builds (scripts/ensure.sh),
# then runs the perf harness. Results land in perf/results/ (latest.json, latest.md, SVG charts);
# perf/README.md says how to read them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/ensure.sh
exec node dist/perf/run.js "$@"
