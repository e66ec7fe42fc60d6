#!/bin/sh
# Provisions one host of an etcd-rejoin lab: installs the etcd-rejoin .deb
# (and Debian's etcd-server/etcd-client if they are missing), names the lab's
# hosts in /etc/hosts, writes /etc/etcd-rejoin.toml for a static cluster of
# the given members, switches Debian's own etcd.service off and enables
# etcd-rejoin.service. The same script provisions the Vagrant VMs and the
# systemd-nspawn containers of the container lab (lab/up), unchanged.
#
# Usage: etcd-node.sh [--deb PATH] [--tls DIR] NAME ADDRESS [PEER=ADDRESS]...
#   NAME, ADDRESS  this host's member name and IPv4 address
#   PEER=ADDRESS   the other members (this host may be listed too)
#   --deb PATH     the package to install (default: /tmp/etcd-rejoin.deb)
#   --tls DIR      mutual TLS: DIR holds ca.crt, NAME.crt and NAME.key (a
#                  certificate for ADDRESS with server and client use);
#                  they are installed as /etc/etcd-rejoin/tls/ca.crt,
#                  member.crt (root:root 0644) and member.key
#                  (root:etcd-rejoin 0640: readable by the service's user
#                  under the unit's PrivateUsers=), and every client and
#                  peer URL is https with certificates required both ways
# Environment (optional):
#   LAB_HEALTH_INTERVAL  health-interval of etcd-rejoin (default 2s)
#   LAB_CLUSTER_TOKEN    initial-cluster-token (default etcd-rejoin-lab)
#   LAB_START            "now" (default): enable and start without waiting
#                        for READY=1 (the first member waits for the others);
#                        "no": only enable.
#
# Runs as root. Idempotent: provisioning a host again rewrites its
# configuration and restarts nothing that is already running.
set -eu

usage() {
	echo "usage: $0 [--deb PATH] [--tls DIR] NAME ADDRESS [PEER=ADDRESS]..." >&2
	exit 2
}

deb=/tmp/etcd-rejoin.deb
tls=
while [ $# -ge 2 ]; do
	case "$1" in
	--deb) deb=$2 ;;
	--tls) tls=$2 ;;
	*) break ;;
	esac
	shift 2
done
[ $# -ge 2 ] || usage
name=$1
addr=$2
shift 2

log() { echo "provision[$name]: $*" >&2; }

valid_name() {
	case "$1" in
	"" | *[!a-z0-9-]*) return 1 ;;
	esac
}

valid_addr() {
	echo "$1" | grep -Eq '^([0-9]{1,3}\.){3}[0-9]{1,3}$'
}

# members: "name=address" lines, this host first, no duplicates.
members() {
	echo "$name=$addr"
	for p in "$@"; do
		[ "${p%%=*}" = "$name" ] || echo "$p"
	done
}

check_args() {
	valid_name "$name" || { log "bad name $name"; exit 2; }
	valid_addr "$addr" || { log "bad address $addr"; exit 2; }
	for p in "$@"; do
		case "$p" in
		*=*) ;;
		*) log "bad peer $p (want name=address)"; exit 2 ;;
		esac
		valid_name "${p%%=*}" || { log "bad peer name in $p"; exit 2; }
		valid_addr "${p#*=}" || { log "bad peer address in $p"; exit 2; }
	done
}

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# install_packages installs the .deb; Debian's etcd comes from apt only when
# missing (the containers have it already and no route to a mirror).
install_packages() {
	[ -f "$deb" ] || { log "package $deb not found"; exit 1; }
	export DEBIAN_FRONTEND=noninteractive
	if ! installed etcd-server || ! installed etcd-client; then
		log "installing etcd-server and etcd-client from apt"
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends etcd-server etcd-client
	fi
	log "installing $deb"
	dpkg -i "$deb" >/dev/null
}

# write_hosts names every member in /etc/hosts, between markers so that a
# second run replaces its own lines only.
write_hosts() {
	tmp=$(mktemp)
	sed '/^# etcd-rejoin-lab begin$/,/^# etcd-rejoin-lab end$/d' /etc/hosts >"$tmp"
	{
		echo "# etcd-rejoin-lab begin"
		members "$@" | while IFS='=' read -r n a; do printf '%s\t%s\n' "$a" "$n"; done
		echo "# etcd-rejoin-lab end"
	} >>"$tmp"
	cat "$tmp" >/etc/hosts
	rm -f "$tmp"
}

# scheme of every URL: https with --tls, else http.
scheme=http
[ -z "$tls" ] || scheme=https

# Where --tls installs the files (lab/lib.sh's LAB_TLS_INSIDE).
TLS_DIR=/etc/etcd-rejoin/tls

join_urls() {
	# $1: port; stdin: name=address lines; prints name=SCHEME://address:port,...
	sed "s|=\(.*\)|=$scheme://\1:$1|" | paste -sd, -
}

peer_client_urls() {
	members "$@" | sed 1d | sed "s|.*=\(.*\)|\"$scheme://\1:2379\"|" | paste -sd, -
}

# install_tls installs the CA, this host's certificate and its key. The
# key's group is the service's own, which the package created.
install_tls() {
	[ -n "$tls" ] || return 0
	for f in ca.crt "$name.crt" "$name.key"; do
		[ -f "$tls/$f" ] || { log "TLS: $tls/$f not found"; exit 1; }
	done
	install -d -m 0755 -o root -g root /etc/etcd-rejoin "$TLS_DIR"
	install -m 0644 -o root -g root "$tls/ca.crt" "$TLS_DIR/ca.crt"
	install -m 0644 -o root -g root "$tls/$name.crt" "$TLS_DIR/member.crt"
	install -m 0640 -o root -g etcd-rejoin "$tls/$name.key" "$TLS_DIR/member.key"
}

# tls_config prints etcd's TLS settings for the [etcd] table.
tls_config() {
	[ -n "$tls" ] || return 0
	cat <<EOF
cert-file = "$TLS_DIR/member.crt"
key-file = "$TLS_DIR/member.key"
trusted-ca-file = "$TLS_DIR/ca.crt"
client-cert-auth = true
peer-cert-file = "$TLS_DIR/member.crt"
peer-key-file = "$TLS_DIR/member.key"
peer-trusted-ca-file = "$TLS_DIR/ca.crt"
peer-client-cert-auth = true
EOF
}

write_config() {
	cluster=$(members "$@" | join_urls 2380)
	peers=$(peer_client_urls "$@")
	tmp=$(mktemp)
	cat >"$tmp" <<EOF
# Written by lab/provision/etcd-node.sh for the etcd-rejoin lab.
# Member $name at $addr of: $cluster
peer-client-urls = [$peers]
health-interval = "${LAB_HEALTH_INTERVAL:-2s}"

[etcd]
name = "$name"
data-dir = "$name.etcd"
listen-client-urls = "$scheme://$addr:2379,$scheme://127.0.0.1:2379"
advertise-client-urls = "$scheme://$addr:2379"
listen-peer-urls = "$scheme://$addr:2380"
initial-advertise-peer-urls = "$scheme://$addr:2380"
initial-cluster = "$cluster"
initial-cluster-token = "${LAB_CLUSTER_TOKEN:-etcd-rejoin-lab}"
EOF
	tls_config >>"$tmp"
	install -m 0640 -o root -g etcd-rejoin "$tmp" /etc/etcd-rejoin.toml
	rm -f "$tmp"
	etcd-rejoin --config /etc/etcd-rejoin.toml check >/dev/null
}

enable_service() {
	# Debian's etcd.service would run a one-member cluster on the same ports.
	systemctl disable --now etcd.service >/dev/null 2>&1 || true
	case "${LAB_START:-now}" in
	now) systemctl enable --now --no-block etcd-rejoin.service ;;
	no) systemctl enable etcd-rejoin.service ;;
	*) log "LAB_START must be now or no"; exit 2 ;;
	esac
}

check_args "$@"
install_packages
write_hosts "$@"
install_tls
write_config "$@"
enable_service
log "configured as $name ($addr, $scheme) with $(members "$@" | wc -l) members"
