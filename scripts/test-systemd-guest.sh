#!/usr/bin/env bash
# The guest half of scripts/test-systemd.sh (run inside cg2vm, as root): systemd as pid 1 of a new
# pid + mount namespace, then the tests inside those namespaces.
set -uo pipefail
tests=test/e2e/cgroups-systemd.test.ts
unshare --pid --mount --fork --propagation private sh -c '
  mount -t tmpfs -o mode=0755 tmpfs /run
  mount -t proc proc /proc
  mkdir -p /run/systemd/system
  printf "[Unit]\nDescription=tsrunc test target (nothing else started)\n" > /run/systemd/system/tsrunc-test.target
  exec env container=tsrunc-test /lib/systemd/systemd --system --unit=tsrunc-test.target --log-target=kmsg </dev/null
' &
outer=$!
sd=""
for _ in $(seq 1 100); do
  sd=$(pgrep -P "$outer" || true)
  [ -n "$sd" ] && break
  sleep 0.2
done
[ -n "$sd" ] || { echo "test-systemd: systemd did not start"; exit 1; }
inns() { nsenter -t "$sd" -m -p --wd="$PWD" -- "$@"; }
state=""
for _ in $(seq 1 120); do
  state=$(inns systemctl is-system-running 2>/dev/null || true)
  [ "$state" = running ] && break
  sleep 1
done
echo "test-systemd: systemd $(inns systemctl --version | head -1 | cut -d' ' -f2) in the guest is $state"
[ "$state" = running ] || { dmesg | grep systemd | tail -20; exit 1; }

echo "test-systemd: 1/2 over systemd's private socket (no system bus)"
inns env CI=1 TSRUNC_REQUIRE_SYSTEMD=1 bash scripts/test.sh "$tests"
rc1=$?

echo "test-systemd: 2/2 over the system bus (dbus-daemon; the private socket hidden)"
inns sh -c 'mkdir -p /run/dbus && dbus-daemon --system --fork && kill -USR1 1'
for _ in $(seq 1 60); do
  inns busctl --system status org.freedesktop.systemd1 >/dev/null 2>&1 && break
  sleep 1
done
# A bind mount of a non-socket over the private socket: connecting there is refused.
inns unshare --mount --propagation private sh -c 'mount --bind /dev/null /run/systemd/private && env CI=1 TSRUNC_REQUIRE_SYSTEMD=1 bash scripts/test.sh '"$tests"
rc2=$?
echo "test-systemd: private socket: exit $rc1, system bus: exit $rc2"
[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ]
