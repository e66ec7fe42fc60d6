#!/usr/bin/env bash
# Installs and builds what the demo and the tests need, idempotently:
#   demo         Debian's etcd-server/etcd-client (etcd 3.4): all the demo runs;
#   apt          every Debian package the test suites use (demo's, plus
#                systemd-container, debootstrap, lintian, rpm, vagrant, ...);
#   etcd         every etcd the tests run: Debian's (demo's packages) and
#                the releases of ETCD_VERSIONS built from the Go module
#                proxy (tools/etcdserver), cached by version under
#                $CACHE/etcd-<version>/etcd, with $CACHE/etcd-<version>/etcdutl
#                a symlink to it (invoked as etcdutl, it is etcdutl);
#   staticcheck, nfpm, tools (both): pinned Go tools under $CACHE/bin;
#   all          apt, etcd and tools: what `make test` needs.
# Prints nothing but progress on stderr. Usage: scripts/deps.sh [TARGET]...
set -euo pipefail

ETCD_VERSIONS=${ETCD_VERSIONS:-v3.5.35 v3.6.16}
STATICCHECK_VERSION=${STATICCHECK_VERSION:-v0.8.2}
NFPM_VERSION=${NFPM_VERSION:-v2.45.2}
CACHE=${REJOIN_DEV_CACHE:-/var/cache/etcd-rejoin-dev}
here=$(cd "$(dirname "$0")/.." && pwd)

log() { echo "deps: $*" >&2; }

demo_pkgs=(etcd-server etcd-client)
test_pkgs=("${demo_pkgs[@]}" systemd-container debootstrap iproute2 lintian rpm make openssl psmisc vagrant)

# apt_install installs the Debian packages named that are not installed yet.
apt_install() {
	local missing=()
	for p in "$@"; do
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

# recipe identifies one etcd build: the version and the sources that make it.
recipe() {
	echo "$1 $(cat "$here"/tools/etcdserver/go.mod "$here"/tools/etcdserver/*.go | sha256sum | cut -c1-16)"
}

# build_etcd builds etcd version $1 (server and etcdutl) into $CACHE unless
# the cached build came from the same recipe.
build_etcd() {
	local v=$1 dir="$CACHE/etcd-$1"
	local want
	want=$(recipe "$v")
	if [ -x "$dir/etcd" ] && [ -L "$dir/etcdutl" ] && [ "$(cat "$dir/recipe" 2>/dev/null)" = "$want" ]; then
		return 0
	fi
	log "building etcd $v and etcdutl (about 2 minutes)"
	local work
	work=$(mktemp -d)
	cp "$here"/tools/etcdserver/go.mod "$here"/tools/etcdserver/*.go "$work/"
	(
		cd "$work"
		go get "go.etcd.io/etcd/server/v3@$v" "go.etcd.io/etcd/etcdutl/v3@$v" >&2
		go mod tidy >&2
		mkdir -p "$dir"
		CGO_ENABLED=0 go build -trimpath -o "$dir/etcd.tmp.$$" .
	)
	rm -rf "$work"
	mv -f "$dir/etcd.tmp.$$" "$dir/etcd"
	ln -sfn etcd "$dir/etcdutl.tmp.$$"
	mv -fT "$dir/etcdutl.tmp.$$" "$dir/etcdutl"
	echo "$want" >"$dir/recipe"
}

do_etcd() {
	for v in $ETCD_VERSIONS; do
		build_etcd "$v"
	done
}

# go_tool installs $1 (a binary name) from package $2 at version $3.
go_tool() {
	mkdir -p "$CACHE/bin"
	if [ ! -x "$CACHE/bin/$1" ]; then
		log "installing $1 $3"
		GOBIN="$CACHE/bin" go install "$2@$3" >&2
	fi
}

do_staticcheck() { go_tool staticcheck honnef.co/go/tools/cmd/staticcheck "$STATICCHECK_VERSION"; }
do_nfpm() { go_tool nfpm github.com/goreleaser/nfpm/v2/cmd/nfpm "$NFPM_VERSION"; }

[ $# -gt 0 ] || set -- all
for what in "$@"; do
	case "$what" in
	demo) apt_install "${demo_pkgs[@]}" ;;
	apt) apt_install "${test_pkgs[@]}" ;;
	etcd) apt_install "${demo_pkgs[@]}"; do_etcd ;;
	staticcheck) do_staticcheck ;;
	nfpm) do_nfpm ;;
	tools) do_staticcheck; do_nfpm ;;
	all) apt_install "${test_pkgs[@]}"; do_etcd; do_staticcheck; do_nfpm ;;
	*) echo "deps: unknown target $what (demo, apt, etcd, staticcheck, nfpm, tools, all)" >&2; exit 2 ;;
	esac
done
