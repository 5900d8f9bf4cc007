#!/usr/bin/env bash
# Runs the end-to-end tests that need a pure cgroup v2 host in a throw-away cg2vm guest (this
# machine's cgroups are hybrid: on the host those tests skip themselves, saying so). Builds first:
# the guest runs this checkout's dist/tsrunc. Root only. The guest is emulated (no KVM): every
# tsrunc call takes seconds there, and the default group takes about 10 minutes.
#   scripts/test-cgroup-v2.sh                          # the default group below
#   scripts/test-cgroup-v2.sh test/e2e/lifecycle.test.ts   # any other test files
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/build.sh
cg2vm="${CG2VM:-$(cd .. && pwd)/shared/tools/cg2vm}"
[ -x "$cg2vm" ] || { echo "test-cgroup-v2: no cg2vm at $cg2vm (set CG2VM)" >&2; exit 2; }
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(test/e2e/cgroups-v2.test.ts test/e2e/resources.test.ts)
# TSRUNC_REQUIRE_V2 makes the tests fail, not skip, if the guest somehow is not pure cgroup v2.
CG2VM_TIMEOUT="${CG2VM_TIMEOUT:-2400}" exec "$cg2vm" "CI=1 TSRUNC_REQUIRE_V2=1 bash scripts/test.sh ${files[*]}"
