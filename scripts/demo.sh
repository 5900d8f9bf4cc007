#!/usr/bin/env bash
# Runs a real container from the busybox bundle with dist/tsrunc and shows what it printed.
set -euo pipefail
cd "$(dirname "$0")/.."
tsrunc="$PWD/dist/tsrunc"
rootfs="$PWD/bundles/busybox/rootfs"
work="$(mktemp -d /tmp/tsrunc-demo.XXXXXX)"
root="$work/state"
id="demo-$$"
cleanup() {
  "$tsrunc" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cd "$work"
"$tsrunc" spec
# Point the example config at the busybox rootfs and give it something to show.
node -e '
const fs = require("fs");
const c = JSON.parse(fs.readFileSync("config.json", "utf8"));
c.root.path = process.argv[1];
c.process.terminal = false;
c.process.args = ["sh", "-c", "echo \"hello from $(hostname), pid $$ in its own namespace\"; id; echo; cat /proc/self/mountinfo | cut -d\" \" -f5,9 | head -8"];
c.linux.cgroupsPath = "/tsrunc-demo/" + process.argv[2];
fs.writeFileSync("config.json", JSON.stringify(c, null, 2));
' "$rootfs" "$id"
echo "\$ tsrunc validate"
"$tsrunc" validate
echo "\$ tsrunc run $id"
set +e
"$tsrunc" --root "$root" run "$id"
code=$?
set -e
echo "(exit code $code)"
exit "$code"
