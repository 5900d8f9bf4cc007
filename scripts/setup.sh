#!/usr/bin/env bash
# Takes a fresh Debian 12 machine (root; npm and apt reachable) to one that can build and test tsrunc.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: build tools, the busybox rootfs source, the crate sources for the offline cargo
# build, the kernel headers the seccomp syscall tables come from, peers for parity tests and
# benchmarks (libseccomp: the seccomp compiler is checked against it), the tools tests drive
# (script, tmux, ip), and the real clients test/e2e/clients.test.ts runs tsrunc under (containerd's
# ctr and runc shim, podman and conmon, dockerd).
packages=(build-essential pkg-config busybox-static librust-libc-dev linux-libc-dev libseccomp-dev runc crun hyperfine iproute2 tmux util-linux procps bsdextrautils python3 containerd podman conmon docker.io)
command -v cargo >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo" ] || packages+=(cargo)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  # No daemon may start from a package's install script (docker.io's init script would start a
  # system dockerd): the tests run private instances of their own.
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -z "$policy" ] || { rm -f "$policy"; trap - EXIT; }
fi

# npm dependencies (bun itself comes from npm, pinned in package.json).
if [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
