#!/usr/bin/env bash
# Builds bundles/busybox/rootfs from Debian's busybox-static (there is no container registry here).
# The bundle's config.json is the user's: `cd bundles/busybox && tsrunc spec`.
# Idempotent: rebuilt only when the busybox binary changes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bundle="$here/busybox"
rootfs="$bundle/rootfs"
src=/bin/busybox
[ -x "$src" ] || { echo "build-busybox: $src missing (apt-get install busybox-static)" >&2; exit 1; }
stamp="$bundle/.rootfs-stamp"
want="$(sha256sum "$src" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$rootfs/bin/busybox" ]; then
  exit 0
fi
echo "build-busybox: building $rootfs"
rm -rf "$rootfs"
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,etc,tmp,root,home,var,run}
chmod 1777 "$rootfs/tmp"
chmod 700 "$rootfs/root"
install -m 0755 "$src" "$rootfs/bin/busybox"
# One symlink per applet, as busybox itself lays them out.
for applet in $("$src" --list-full); do
  [ -e "$rootfs/$applet" ] || ln -s /bin/busybox "$rootfs/$applet"
done
cat > "$rootfs/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
cat > "$rootfs/etc/group" <<'GR'
root:x:0:
daemon:x:1:
tty:x:5:
users:x:100:
nogroup:x:65534:
GR
echo "busybox" > "$rootfs/etc/hostname"
printf 'nameserver 127.0.0.1\n' > "$rootfs/etc/resolv.conf"
touch "$rootfs/etc/hosts"
echo "$want" > "$stamp"
