#!/usr/bin/env bash
# Installs and builds everything the tests and the demo need, idempotently:
#   - Debian's etcd-server/etcd-client (etcd 3.4) and the system tools;
#   - a current etcd (ETCD_NEW_VERSION) built from the Go module proxy,
#     cached by version under $CACHE/etcd-<version>/etcd;
#   - staticcheck and nfpm, pinned, under $CACHE/bin.
# Prints nothing but progress on stderr. Usage: scripts/deps.sh [apt|etcd|tools|all]...
set -euo pipefail

ETCD_NEW_VERSION=${ETCD_NEW_VERSION:-v3.6.16}
STATICCHECK_VERSION=${STATICCHECK_VERSION:-v0.8.2}
NFPM_VERSION=${NFPM_VERSION:-v2.45.2}
CACHE=${REJOIN_DEV_CACHE:-/var/cache/etcd-rejoin-dev}
here=$(cd "$(dirname "$0")/.." && pwd)

log() { echo "deps: $*" >&2; }

apt_pkgs=(etcd-server etcd-client systemd-container debootstrap iproute2 lintian rpm make openssl psmisc vagrant)

do_apt() {
	local missing=()
	for p in "${apt_pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		return 0
	fi
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

do_etcd() {
	local out="$CACHE/etcd-$ETCD_NEW_VERSION/etcd"
	if [ -x "$out" ]; then
		return 0
	fi
	log "building etcd $ETCD_NEW_VERSION (about 2 minutes)"
	local work
	work=$(mktemp -d)
	cp "$here/tools/etcdserver/main.go" "$work/"
	(
		cd "$work"
		go mod init etcdserver >/dev/null 2>&1
		go get "go.etcd.io/etcd/server/v3@$ETCD_NEW_VERSION" >&2
		go mod tidy >&2
		mkdir -p "$(dirname "$out")"
		CGO_ENABLED=0 go build -trimpath -o "$out.tmp" .
		mv "$out.tmp" "$out"
	)
	rm -rf "$work"
}

do_tools() {
	mkdir -p "$CACHE/bin"
	if [ ! -x "$CACHE/bin/staticcheck" ]; then
		log "installing staticcheck $STATICCHECK_VERSION"
		GOBIN="$CACHE/bin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" >&2
	fi
	if [ ! -x "$CACHE/bin/nfpm" ]; then
		log "installing nfpm $NFPM_VERSION"
		GOBIN="$CACHE/bin" go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION" >&2
	fi
}

[ $# -gt 0 ] || set -- all
for what in "$@"; do
	case "$what" in
	apt) do_apt ;;
	etcd) do_etcd ;;
	tools) do_tools ;;
	all) do_apt; do_etcd; do_tools ;;
	*) echo "deps: unknown target $what" >&2; exit 2 ;;
	esac
done
