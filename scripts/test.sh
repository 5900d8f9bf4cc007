#!/usr/bin/env bash
# Runs every test: unit tests (fake native boundary) and, as root, end-to-end tests of dist/tsrunc.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
exec npx vitest run "$@"
