#!/usr/bin/env bash
# Builds everything: the addon, the precompiled schema validator, the busybox bundle and the single
# binary dist/tsrunc (with the addon embedded). Each step is skipped when its inputs are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

bash scripts/build-native.sh
bun scripts/build-schema.ts
bun scripts/build-seccomp-tables.ts
bash bundles/build-busybox.sh

mkdir -p dist
commit="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
[ -n "$(git status --porcelain 2>/dev/null | grep -v '^??' || true)" ] && commit="$commit-dirty"
stamp=dist/.build-commit
if [ ! -x dist/tsrunc ] || [ "$(cat "$stamp" 2>/dev/null)" != "$commit" ] ||
   [ -n "$(find src native/tsrunc.node package-lock.json scripts/build.sh -newer dist/tsrunc -print -quit 2>/dev/null)" ]; then
  echo "build: dist/tsrunc"
  bun build --compile --bytecode --format=esm --splitting --minify-syntax \
    --no-compile-autoload-dotenv --no-compile-autoload-bunfig \
    --define "TSRUNC_COMMIT=\"$commit\"" \
    src/cli/main.ts src/shim/main.ts --outfile dist/tsrunc >/dev/null
  echo "$commit" > "$stamp"
fi
# containerd finds a shim by name on PATH; the shim is a mode of the same binary.
ln -sfn tsrunc dist/containerd-shim-tsrunc-v2
