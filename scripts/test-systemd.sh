#!/usr/bin/env bash
# Runs the systemd cgroup driver's end-to-end tests (test/e2e/cgroups-systemd.test.ts) against a
# real systemd. This machine has none, so: boot the cg2vm guest (pure cgroup v2), start systemd
# there as the init of a new pid + mount namespace (tmpfs /run, a minimal target of our own), and run
# the tests inside those namespaces (they see its /run/systemd). Twice: first systemd's private socket
# is the only way in (no bus); then with a system bus (dbus-daemon) and the private socket hidden.
# Root only; builds first; emulated, so a few minutes.
#   scripts/test-systemd.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/build.sh
cg2vm="${CG2VM:-$(cd .. && pwd)/shared/tools/cg2vm}"
[ -x "$cg2vm" ] || { echo "test-systemd: no cg2vm at $cg2vm (set CG2VM)" >&2; exit 2; }
[ -x /lib/systemd/systemd ] || { echo "test-systemd: needs /lib/systemd/systemd (apt-get install systemd)" >&2; exit 2; }
command -v dbus-daemon >/dev/null || { echo "test-systemd: needs dbus-daemon (apt-get install dbus)" >&2; exit 2; }
CG2VM_TIMEOUT="${CG2VM_TIMEOUT:-1800}" exec "$cg2vm" "bash scripts/test-systemd-guest.sh"
