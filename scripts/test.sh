#!/usr/bin/env bash
# Runs every test: unit tests (fake native boundary) and, as root, end-to-end tests of dist/tsrunc.
# Ends with a plain "N passed, N failed, N skipped" line.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
report="$(mktemp /tmp/tsrunc-vitest.XXXXXX.json)"
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
code=$?
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const skipped = r.numPendingTests + r.numTodoTests;
console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$report" 2>/dev/null || echo "tests: no report (vitest exited $code)"
rm -f "$report"
exit $code
