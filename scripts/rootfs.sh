#!/usr/bin/env bash
# Builds (once) and caches a Debian 12 root file system that systemd-nspawn can
# boot: debootstrap minbase with systemd, dbus and iproute2, plus Debian's
# etcd-server and etcd-client installed through apt inside a chroot.
#
# The cache lives under $CACHE/rootfs/<key>/, where <key> is a hash of this
# script, so editing the script builds a fresh tree. Callers must copy the tree
# (cp -a) before booting it; the cached tree is never booted itself.
#
# Prints the path of the cached root on stdout; progress goes to stderr.
# The mirror is read from the machine's own apt sources, never hard-coded.
# Usage: scripts/rootfs.sh
set -euo pipefail

CACHE=${REJOIN_DEV_CACHE:-/var/cache/etcd-rejoin-dev}
SUITE=bookworm
INCLUDE=systemd,systemd-sysv,dbus,iproute2
EXTRA_PKGS=(etcd-server etcd-client)
SOURCES=/etc/apt/sources.list.d/debian.sources

log() { echo "rootfs: $*" >&2; }

mirror() {
	local uri
	uri=$(awk '/^URIs:/ { print $2; exit }' "$SOURCES" 2>/dev/null || true)
	if [ -z "$uri" ]; then
		uri=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
	fi
	if [ -z "$uri" ]; then
		log "no mirror found in $SOURCES or /etc/apt/sources.list"
		exit 1
	fi
	echo "$uri"
}

key=$(sha256sum "$0" | cut -c1-16)
base="$CACHE/rootfs"
root="$base/$key"

if [ -f "$root.done" ]; then
	echo "$root"
	exit 0
fi

mkdir -p "$base"
exec 9>"$base/.lock"
flock 9
if [ -f "$root.done" ]; then
	echo "$root"
	exit 0
fi

[ "$(id -u)" -eq 0 ] || { log "must run as root"; exit 1; }
command -v debootstrap >/dev/null || { log "debootstrap missing (scripts/deps.sh apt)"; exit 1; }

work="$root.tmp"
rm -rf "$work"
trap 'umount -R "$work/proc" 2>/dev/null || true; rm -rf "$work"' EXIT

m=$(mirror)
log "debootstrap $SUITE into $work (about 90 s)"
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$work" "$m" >&2

# Use the machine's own apt sources inside the tree so packages match it.
if [ -f "$SOURCES" ]; then
	cp "$SOURCES" "$work/etc/apt/sources.list.d/debian.sources"
	rm -f "$work/etc/apt/sources.list"
fi

# No service may start inside the chroot while packages install.
printf '#!/bin/sh\nexit 101\n' >"$work/usr/sbin/policy-rc.d"
chmod 0755 "$work/usr/sbin/policy-rc.d"
mount -t proc proc "$work/proc"
log "installing ${EXTRA_PKGS[*]} in the chroot"
chroot "$work" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
chroot "$work" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -qq --no-install-recommends "${EXTRA_PKGS[@]}" >&2
chroot "$work" apt-get clean
umount "$work/proc"
rm -f "$work/usr/sbin/policy-rc.d"

# Each boot of a copy gets its own identity; an empty machine-id makes
# systemd generate one at boot.
: >"$work/etc/machine-id"
rm -f "$work/var/lib/dbus/machine-id"
echo "etcd-rejoin-lab" >"$work/etc/hostname"
# Names resolve locally only: "localhost" must never become a DNS query, and
# the name server the build host uses must not leak into lab hosts (glibc and
# Go fall back to 127.0.0.1 without one). Labs add their hosts here.
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$work/etc/hosts"
printf '# no name server: lab hosts resolve through /etc/hosts\n' >"$work/etc/resolv.conf"

# Older trees of this script are stale; drop them.
for old in "$base"/*; do
	case "$old" in
	"$work" | "$root" | "$base/.lock") ;;
	*.done) [ "$old" = "$root.done" ] || rm -f "$old" ;;
	*) [ -d "$old" ] && rm -rf "$old" ;;
	esac
done

mv "$work" "$root"
trap - EXIT
touch "$root.done"
log "cached at $root"
echo "$root"
