# shellcheck shell=bash
# Shared by lab/up, lab/down and lab/ctl: the container lab's layout and the
# helpers that boot, enter and stop its hosts. Sourced, not run.
#
# Settings (environment):
#   LAB        lab name, also the name of its network namespace (etcdlab)
#   LAB_NET    first three octets of the lab's /24 (10.213.0); it exists only
#              inside the lab's network namespace
#   LAB_HOSTS  number of hosts, etcd1..etcdN (3)
#   LAB_DIR    where the hosts' root file systems live
#              (/var/lib/etcd-rejoin-lab/$LAB)
#   LAB_DEB    the .deb to install (default: the one in dist/, built by
#              `make package` when missing)
#   LAB_BOOT_TIMEOUT  seconds to wait for a host to boot, or for the service
#              to become active (180)
#   LAB_TLS    1: mutual TLS (lab/up only). lab/up makes a CA and a
#              certificate per host in $LAB_DIR/tls, and the members speak
#              https only, clients and peers with certificates. lab/ctl
#              knows a TLS lab by that directory (create, etcdctl). (0)

LAB=${LAB:-etcdlab}
LAB_NET=${LAB_NET:-10.213.0}
LAB_HOSTS=${LAB_HOSTS:-3}
LAB_DIR=${LAB_DIR:-/var/lib/etcd-rejoin-lab/$LAB}
LAB_BOOT_TIMEOUT=${LAB_BOOT_TIMEOUT:-180}
LAB_TLS=${LAB_TLS:-0}
LAB_TLS_DIR=$LAB_DIR/tls
# Where lab/provision/etcd-node.sh --tls installs the files inside a host.
LAB_TLS_INSIDE=/etc/etcd-rejoin/tls
LAB_BRIDGE=labbr0
LAB_NETNS=/var/run/netns/$LAB
LAB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_INSIDE_ENV=(PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0 TERM=dumb ETCDCTL_API=3)

lab_log() { echo "lab[$LAB]: $*" >&2; }
lab_die() {
	lab_log "$*"
	exit 1
}

lab_check_settings() {
	[[ $LAB =~ ^[a-z][a-z0-9-]{0,14}$ ]] || lab_die "LAB must be a short lower-case name, got '$LAB'"
	[[ $LAB_HOSTS =~ ^[1-9]$ ]] || lab_die "LAB_HOSTS must be 1..9, got '$LAB_HOSTS'"
	# Private ranges only: the addresses exist inside the lab's namespace.
	[[ $LAB_NET =~ ^(10\.[0-9]{1,3}\.[0-9]{1,3}|192\.168\.[0-9]{1,3}|172\.(1[6-9]|2[0-9]|3[01])\.[0-9]{1,3})$ ]] ||
		lab_die "LAB_NET must be the first three octets of a private /24, got '$LAB_NET'"
	[[ $LAB_TLS =~ ^[01]$ ]] || lab_die "LAB_TLS must be 0 or 1, got '$LAB_TLS'"
	[ "$(id -u)" -eq 0 ] || lab_die "must run as root (network namespaces, systemd-nspawn)"
}

lab_hosts() {
	local i
	for ((i = 1; i <= LAB_HOSTS; i++)); do echo "etcd$i"; done
}

lab_addr() {
	local n=${1#etcd}
	if ! [[ $n =~ ^[1-9]$ ]] || ((n > LAB_HOSTS)); then
		lab_die "no host named '$1' (etcd1..etcd$LAB_HOSTS)"
	fi
	echo "$LAB_NET.$((10 + n))"
}

lab_peers() {
	local h
	for h in $(lab_hosts); do echo "$h=$(lab_addr "$h")"; done
}

lab_hostdir() { echo "$LAB_DIR/hosts/$1"; }

# lab_nspawn_pid prints the PID of the host's systemd-nspawn if it runs.
lab_nspawn_pid() {
	local f pid
	f="$(lab_hostdir "$1")/nspawn.pid"
	[ -f "$f" ] || return 1
	pid=$(cat "$f")
	# The PID must still be our nspawn for this root, not a reused number
	# (or one that is just exiting).
	{ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q -- "-D $(lab_hostdir "$1")/root " || return 1
	echo "$pid"
}

# lab_pid1 prints the host PID of the container's init (nspawn's child).
lab_pid1() {
	local pid kids
	pid=$(lab_nspawn_pid "$1") || return 1
	kids=$(cat /proc/"$pid"/task/*/children 2>/dev/null) || return 1
	# shellcheck disable=SC2086 # split into PIDs on purpose
	set -- $kids
	[ $# -ge 1 ] || return 1
	echo "$1"
}

# lab_exec runs a command inside a host, in all of its namespaces, with a
# clean environment.
lab_exec() {
	local host=$1 pid
	shift
	pid=$(lab_pid1 "$host") || lab_die "$host is not running"
	nsenter -t "$pid" -a -- env -i "${LAB_INSIDE_ENV[@]}" "$@"
}

lab_netns_exists() { [ -e "$LAB_NETNS" ] && ip netns list | grep -qw "^$LAB"; }

# lab_network creates the namespace and its bridge (with LAB_NET.1).
lab_network() {
	if ! lab_netns_exists; then
		ip netns add "$LAB"
	fi
	ip -n "$LAB" link set lo up
	if ! ip -n "$LAB" link show "$LAB_BRIDGE" >/dev/null 2>&1; then
		ip -n "$LAB" link add "$LAB_BRIDGE" type bridge
		ip -n "$LAB" addr add "$LAB_NET.1/24" dev "$LAB_BRIDGE"
	fi
	ip -n "$LAB" link set "$LAB_BRIDGE" up
}

lab_rootfs_template() {
	"$LAB_REPO/scripts/rootfs.sh"
}

lab_deb() {
	local deb
	if [ -n "${LAB_DEB:-}" ]; then
		[ -f "$LAB_DEB" ] || lab_die "LAB_DEB=$LAB_DEB not found"
		echo "$LAB_DEB"
		return
	fi
	deb=$(lab_newest_deb)
	if [ -z "$deb" ]; then
		lab_log "no package in dist/: make package"
		make -s -C "$LAB_REPO" -f mk/package.mk package >&2
		deb=$(lab_newest_deb)
		[ -n "$deb" ] || lab_die "make package left no etcd-rejoin_*.deb in dist/"
	fi
	echo "$deb"
}

# lab_newest_deb prints the newest package in dist/, or nothing.
lab_newest_deb() {
	local f newest=
	for f in "$LAB_REPO"/dist/etcd-rejoin_*.deb; do
		if [ -f "$f" ] && { [ -z "$newest" ] || [ "$f" -nt "$newest" ]; }; then
			newest=$f
		fi
	done
	echo "$newest"
}

# lab_prepare_root makes a fresh root for a host from the template: its
# hostname, its static address (systemd-networkd, see LAB-NOTES.md), the
# package and the provisioning script copied in.
lab_prepare_root() {
	local host=$1 template=$2 deb=$3 dir root
	dir=$(lab_hostdir "$host")
	root=$dir/root
	rm -rf "$dir"
	mkdir -p "$dir"
	cp -a "$template" "$root"
	echo "$host" >"$root/etc/hostname"
	cat >"$root/etc/systemd/network/10-host0.network" <<EOF
[Match]
Name=host0

[Link]
RequiredForOnline=yes

[Network]
Address=$(lab_addr "$host")/24
LinkLocalAddressing=no
IPv6AcceptRA=no
# A cut link (lab/ctl link HOST down) must not take the address away.
ConfigureWithoutCarrier=yes
IgnoreCarrierLoss=yes
EOF
	systemctl --root="$root" enable systemd-networkd.service >/dev/null 2>&1
	systemctl --root="$root" disable etcd.service >/dev/null 2>&1 || true
	mkdir -p "$root/root/lab"
	cp "$deb" "$root/root/lab/etcd-rejoin.deb"
	cp "$LAB_REPO/lab/provision/etcd-node.sh" "$root/root/lab/etcd-node.sh"
	if lab_tls; then
		lab_tls_host "$host"
		install -d -m 0700 "$root/root/lab/tls"
		install -m 0644 "$LAB_TLS_DIR/ca.crt" "$LAB_TLS_DIR/$host.crt" "$root/root/lab/tls/"
		install -m 0600 "$LAB_TLS_DIR/$host.key" "$root/root/lab/tls/"
	fi
}

# lab_tls tells whether this lab runs mutual TLS: lab/up made its CA.
lab_tls() { [ -f "$LAB_TLS_DIR/ca.crt" ]; }

# lab_tls_ca makes the lab's CA (EC P-256, 30 days) in $LAB_TLS_DIR.
lab_tls_ca() {
	rm -rf "$LAB_TLS_DIR"
	install -d -m 0700 "$LAB_TLS_DIR"
	openssl req -x509 -new -noenc -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-keyout "$LAB_TLS_DIR/ca.key" -out "$LAB_TLS_DIR/ca.crt.tmp" -days 30 \
		-subj "/CN=etcd-rejoin lab $LAB CA" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null ||
		lab_die "openssl: cannot make the lab's CA"
	# Renamed last: lab_tls is true only for a complete CA.
	mv "$LAB_TLS_DIR/ca.crt.tmp" "$LAB_TLS_DIR/ca.crt"
}

# lab_tls_host makes the host's key and certificate, signed by the lab's CA,
# unless they exist (a replaced host keeps its name, address and
# certificate). One certificate serves both ends of both client and peer
# connections: server and client use, CN and DNS name the host's name, IP
# names its lab address and 127.0.0.1 (etcdctl inside the host).
lab_tls_host() {
	local host=$1 d=$LAB_TLS_DIR ext
	[ -f "$d/$host.crt" ] && [ -f "$d/$host.key" ] && return 0
	ext=$(mktemp)
	cat >"$ext" <<EOF
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:$host,DNS:localhost,IP:$(lab_addr "$host"),IP:127.0.0.1
EOF
	if ! openssl req -new -noenc -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-keyout "$d/$host.key" -out "$d/$host.csr" -subj "/CN=$host" 2>/dev/null ||
		! openssl x509 -req -in "$d/$host.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
			-set_serial "0x$(openssl rand -hex 16)" -days 30 -extfile "$ext" \
			-out "$d/$host.crt.tmp" 2>/dev/null; then
		rm -f "$ext"
		lab_die "openssl: cannot make the certificate of $host"
	fi
	rm -f "$ext" "$d/$host.csr"
	mv "$d/$host.crt.tmp" "$d/$host.crt"
}

# lab_cgroup_roots prints the mount points of the cgroup hierarchies that
# systemd tracks processes with: the unified one (cgroup2), and the v1
# name=systemd one on a hybrid host.
lab_cgroup_roots() {
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		echo /sys/fs/cgroup
		return
	fi
	[ -f /sys/fs/cgroup/unified/cgroup.controllers ] && echo /sys/fs/cgroup/unified
	[ -f /sys/fs/cgroup/systemd/cgroup.procs ] && echo /sys/fs/cgroup/systemd
	return 0
}

# lab_cgroups prints the host's own cgroups. nspawn without machined
# (--register=no --keep-unit) roots the container's cgroup namespace where
# it was started: started in a shared cgroup, the hosts' systemds would see
# each other's units (etcd-rejoin.service of all three in one cgroup) and
# could not kill a unit's leftover processes.
lab_cgroups() {
	local r
	for r in $(lab_cgroup_roots); do echo "$r/etcd-rejoin-lab/$LAB/$1"; done
}

lab_cgroups_make() {
	local c
	for c in $(lab_cgroups "$1"); do mkdir -p "$c"; done
}

# lab_cgroups_remove removes the host's cgroups, deepest first, once its
# processes are gone.
lab_cgroups_remove() {
	local r
	for r in $(lab_cgroup_roots); do
		[ -d "$r/etcd-rejoin-lab/$LAB/$1" ] || continue
		find "$r/etcd-rejoin-lab/$LAB/$1" -depth -type d -exec rmdir {} + 2>/dev/null || true
		rmdir "$r/etcd-rejoin-lab/$LAB" "$r/etcd-rejoin-lab" 2>/dev/null || true
	done
}

# lab_boot starts the host's container in the lab's namespace, in the
# background, and waits until its systemd finished booting.
lab_boot() {
	local host=$1 dir pid
	dir=$(lab_hostdir "$host")
	[ -d "$dir/root" ] || lab_die "$host has no root file system (lab/ctl create $host)"
	if lab_nspawn_pid "$host" >/dev/null; then
		lab_log "$host is already running"
		return 0
	fi
	lab_cgroups_make "$host"
	# The launcher moves itself into the host's own cgroups, then becomes
	# nspawn (setsid, sh and nsenter all exec).
	# shellcheck disable=SC2016 # $$ and $@ are the launcher's own
	setsid sh -c 'for c in '"$(lab_cgroups "$host" | paste -sd' ' -)"'; do
		echo $$ >"$c/cgroup.procs" || exit 1
	done
	exec "$@"' lab-boot \
		nsenter --net="$LAB_NETNS" systemd-nspawn -q -b -D "$dir/root" \
		--register=no --keep-unit --machine="$host" --network-bridge="$LAB_BRIDGE" \
		--resolv-conf=off --timezone=off --link-journal=no \
		</dev/null >>"$dir/console.log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/nspawn.pid"
	lab_wait_booted "$host" "$pid"
}

# lab_ended says how the launcher, a child of this shell, ended: its exit
# status, or its state and command line if it is still there.
lab_ended() {
	local pid=$1 rc
	if kill -0 "$pid" 2>/dev/null; then
		echo "still there: $(ps -o stat=,args= -p "$pid" 2>/dev/null | cut -c1-200)"
		return
	fi
	wait "$pid" 2>/dev/null && rc=0 || rc=$?
	echo "exit status $rc"
}

# lab_wait_booted waits until the host's systemd has booted; launcher is
# the PID lab_boot started it as.
lab_wait_booted() {
	local host=$1 launcher=$2 deadline state pid
	deadline=$((SECONDS + LAB_BOOT_TIMEOUT))
	while ((SECONDS < deadline)); do
		# setsid and nsenter exec nspawn: give that a moment before judging.
		if ! lab_nspawn_pid "$host" >/dev/null && ((SECONDS > deadline - LAB_BOOT_TIMEOUT + 5)); then
			lab_die "$host: systemd-nspawn exited during boot ($(lab_ended "$launcher")); $(tail -n 20 "$(lab_hostdir "$host")/console.log")"
		fi
		if pid=$(lab_pid1 "$host"); then
			state=$(timeout 60 nsenter -t "$pid" -a -- env -i "${LAB_INSIDE_ENV[@]}" \
				systemctl is-system-running --wait 2>/dev/null || true)
			case "$state" in
			running | degraded)
				lab_log "$host booted ($state)"
				return 0
				;;
			esac
		fi
		sleep 0.2
	done
	lab_die "$host did not boot within ${LAB_BOOT_TIMEOUT}s"
}

lab_provision() {
	local host=$1 tls=() peers=()
	if lab_tls; then
		tls=(--tls /root/lab/tls)
	fi
	mapfile -t peers < <(lab_peers)
	lab_exec "$host" /bin/sh /root/lab/etcd-node.sh --deb /root/lab/etcd-rejoin.deb "${tls[@]}" \
		"$host" "$(lab_addr "$host")" "${peers[@]}"
}

# lab_etcdctl runs etcdctl inside the host against its own member: over
# https with the host's certificate in a TLS lab.
lab_etcdctl() {
	local host=$1
	shift
	if lab_tls; then
		lab_exec "$host" etcdctl --endpoints="https://$(lab_addr "$host"):2379" \
			--cacert="$LAB_TLS_INSIDE/ca.crt" --cert="$LAB_TLS_INSIDE/member.crt" \
			--key="$LAB_TLS_INSIDE/member.key" "$@"
	else
		lab_exec "$host" etcdctl --endpoints="http://$(lab_addr "$host"):2379" "$@"
	fi
}

# lab_wait_active waits until etcd-rejoin.service is active: with
# Type=notify that is after READY=1 (healthy, voting, caught up).
lab_wait_active() {
	local host=$1 deadline state
	deadline=$((SECONDS + LAB_BOOT_TIMEOUT))
	while ((SECONDS < deadline)); do
		state=$(lab_exec "$host" systemctl is-active etcd-rejoin.service 2>/dev/null || true)
		if [ "$state" = active ]; then
			return 0
		fi
		sleep 0.5
	done
	lab_log "$host: etcd-rejoin.service is '$state' after ${LAB_BOOT_TIMEOUT}s"
	lab_exec "$host" journalctl --no-pager -n 40 -u etcd-rejoin.service >&2 || true
	return 1
}

# lab_stop powers a host off from inside and waits for nspawn to exit;
# after a grace period it kills the container.
lab_stop() {
	local host=$1 pid i
	pid=$(lab_nspawn_pid "$host") || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 300; i++)); do
		if ! lab_nspawn_pid "$host" >/dev/null; then
			lab_cgroups_remove "$host"
			return 0
		fi
		sleep 0.1
	done
	lab_log "$host did not power off within 30s: killing it"
	lab_kill "$host"
}

# lab_kill ends a host at once, like a power cut: SIGKILL to its init ends
# its PID namespace, then nspawn goes.
lab_kill() {
	local host=$1 pid pid1 i
	if ! pid=$(lab_nspawn_pid "$host"); then
		lab_cgroups_remove "$host"
		return 0
	fi
	if pid1=$(lab_pid1 "$host"); then
		kill -KILL "$pid1" 2>/dev/null || true
	fi
	for ((i = 0; i < 100; i++)); do
		lab_nspawn_pid "$host" >/dev/null || break
		sleep 0.1
	done
	if lab_nspawn_pid "$host" >/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			lab_nspawn_pid "$host" >/dev/null || break
			sleep 0.1
		done
	fi
	if ! lab_nspawn_pid "$host" >/dev/null; then
		lab_cgroups_remove "$host"
		return 0
	fi
	lab_die "$host: systemd-nspawn $pid survived SIGKILL"
}

# lab_parallel runs "FUNCTION HOST" for each host at once and fails if any
# did.
lab_parallel() {
	local fn=$1 h pids=() rc=0
	shift
	for h in "$@"; do
		"$fn" "$h" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || rc=1
	done
	return $rc
}
