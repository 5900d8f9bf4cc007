#!/usr/bin/env bash
# The benchmark (issue #6): tsrunc beside runc on this machine, then beside runc and crun inside a
# pure cgroup v2 guest (../shared/tools/cg2vm, emulated: ratios only). Prints medians and ratios and
# writes bench/RESULTS.md. Needs root. Options go to bench/bench.ts, e.g.:
#   npm run bench -- --runs 10 --no-vm          (quicker: fewer runs, no cg2vm part)
#   npm run bench -- --only run,lifecycle
# BENCH_OUT=FILE writes the table elsewhere (BENCH_OUT= writes none).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
if [ "$(id -u)" -ne 0 ]; then
  echo "bench: needs root (it creates containers)" >&2
  exit 1
fi
out=${BENCH_OUT-bench/RESULTS.md}
exec bun bench/bench.ts ${out:+--out "$out"} "$@"
