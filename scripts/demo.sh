#!/usr/bin/env bash
# A local three-member etcd cluster, each member owned by etcd-rejoin on its
# own loopback address with built-in defaults (only the standard ETCD_*
# variables of the original docker entrypoint are set). One member loses its
# data dir; etcd-rejoin decides to rejoin it and it heals. Checks the data,
# prints decisions and timings, and cleans up. Usage: scripts/demo.sh BINARY
set -euo pipefail

bin=$(realpath "${1:-build/etcd-rejoin}")
net=${DEMO_NET:-127.0.100}
work=$(mktemp -d /tmp/etcd-rejoin-demo.XXXXXX)
pids=()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

cleanup() {
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

# Debian's etcd-server and etcd-client are all the demo runs besides the
# binary (`make demo` installs them with scripts/deps.sh demo).
for tool in etcd etcdctl; do
	command -v "$tool" >/dev/null || { echo "demo: $tool not on PATH (scripts/deps.sh demo installs it)" >&2; exit 1; }
done

cluster="n1=http://$net.1:2380,n2=http://$net.2:2380,n3=http://$net.3:2380"
member_env() {
	local i=$1 others=()
	for j in 1 2 3; do [ "$j" = "$i" ] || others+=("http://$net.$j:2379"); done
	printf '%s\n' \
		"ETCD_NAME=n$i" \
		"ETCD_DATA_DIR=$work/n$i.etcd" \
		"ETCD_LISTEN_CLIENT_URLS=http://$net.$i:2379" \
		"ETCD_ADVERTISE_CLIENT_URLS=http://$net.$i:2379" \
		"ETCD_LISTEN_PEER_URLS=http://$net.$i:2380" \
		"ETCD_INITIAL_ADVERTISE_PEER_URLS=http://$net.$i:2380" \
		"ETCD_INITIAL_CLUSTER_TOKEN=demo" \
		"ETCD_INITIAL_CLUSTER=$cluster" \
		"ETCD_OTHER_PEERS_CLIENT_URLS=$(IFS=,; echo "${others[*]}")" \
		"ETCD_LOG_LEVEL=warn"
}
start() {
	local i=$1
	env $(member_env "$i") "$bin" run >>"$work/n$i.log" 2>&1 &
	pids[$i]=$!
}
wait_ready() {
	local i=$1 deadline=$((SECONDS + 120))
	until grep -q "voting and caught up" "$work/n$i.log" 2>/dev/null; do
		if ! kill -0 "${pids[$i]}" 2>/dev/null; then echo "n$i exited:"; tail -20 "$work/n$i.log"; exit 1; fi
		[ $SECONDS -lt $deadline ] || { echo "n$i not ready in time:"; tail -20 "$work/n$i.log"; exit 1; }
		sleep 0.2
	done
}
decisions() { grep -hoE 'msg=decision action=[a-z]+ reason="[^"]*"' "$work/n$1.log" | sed "s/^/  n$1: /"; }
ctl() { ETCDCTL_API=3 etcdctl --endpoints="http://$net.1:2379,http://$net.2:2379,http://$net.3:2379" "$@"; }

say "starting three members under etcd-rejoin ($("$bin" version | head -1); $(etcd --version | head -1))"
t0=$(now)
for i in 1 2 3; do start "$i"; done
for i in 1 2 3; do wait_ready "$i"; done
echo "cluster ready in $(since "$t0")"
for i in 1 2 3; do decisions "$i"; done

say "writing 100 keys"
for k in $(seq -w 1 100); do ctl put "demo/$k" "value-$k" >/dev/null; done
ctl member list -w table

say "n3 loses its disk: stop it and delete its data dir"
old_id=$(ctl member list | awk -F', ' '$3 == "n3" {print $1}')
kill -TERM "${pids[3]}"; wait "${pids[3]}" || true
rm -rf "$work/n3.etcd"
echo "n3 was member $old_id"
echo "etcd-rejoin plan for n3:"
env $(member_env 3) "$bin" plan || true

say "starting n3 again"
: >"$work/n3.log"
t1=$(now)
start 3
wait_ready 3
echo "n3 healed in $(since "$t1")"
decisions 3
grep -hoE 'msg="(rejoining|running)[^"]*"' "$work/n3.log" | sed 's/^/  n3: /'

say "checking"
ctl member list -w table
new_id=$(ctl member list | awk -F', ' '$3 == "n3" {print $1}')
count=$(ETCDCTL_API=3 etcdctl --endpoints="http://$net.3:2379" get demo/ --prefix --keys-only | grep -c .)
learners=$(ctl member list | awk -F', ' '$6 == "true"' | wc -l)
echo "old n3 entry: $old_id, new: $new_id; keys read through n3: $count/100; learners left: $learners"
if [ "$count" != 100 ] || [ "$new_id" = "$old_id" ] || [ -z "$new_id" ] || [ "$learners" != 0 ]; then
	echo "demo: FAILED"; exit 1
fi
echo "demo: OK (cluster formed in place, n3 rejoined as a voter with all data)"
