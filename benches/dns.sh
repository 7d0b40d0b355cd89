#!/usr/bin/env bash
# Lookup latency of berth's service-name DNS server (src/dns/), from inside a container's
# network namespace, and the server's memory.
#
# By default it builds its own bed, as root: a bridge with a private subnet (10.251.<x>.0/24,
# <x> from the shell's pid), REPLICAS namespaces on it as the replicas of service "web", their
# records written the way berth writes them (<run_dir>/dns/...), and the server started with
# `berth __dns-server <run_dir>`. Then examples/dns_bench sends COUNT A queries for NAME, one
# after the other, from the first namespace, and prints p50/p90/p99/max latency. Everything it
# made is removed on exit, and the server exits by itself once its records are gone.
#
# Against a real stack instead (`berth up` already ran), set NETNS to a container's namespace
# file, SERVER to its network's gateway and NAME to a service: nothing is made or removed.
#
# Builds in release mode unless BERTH and DNS_BENCH name binaries (the debug ones, e.g.
# BERTH=target/debug/berth DNS_BENCH=target/debug/examples/dns_bench).
#   usage: benches/dns.sh
#   env:   BERTH=path DNS_BENCH=path COUNT=N (default 5000) REPLICAS=N (default 3)
#          NETNS=path SERVER=ip NAME=name (default web) SERVER_PID=pid (memory of a running one)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

count="${COUNT:-5000}"
replicas="${REPLICAS:-3}"
name="${NAME:-web}"

if [ -z "${BERTH:-}" ] || [ -z "${DNS_BENCH:-}" ]; then
  cargo build --release --locked --quiet --bin berth --example dns_bench
  BERTH="${BERTH:-$root/target/release/berth}"
  DNS_BENCH="${DNS_BENCH:-$root/target/release/examples/dns_bench}"
fi

memory() {
  local pid="$1"
  awk '/^(VmRSS|RssAnon|RssFile):/ {printf "%s %s kB  ", $1, $2} END {print ""}' "/proc/$pid/status"
}

if [ -n "${NETNS:-}" ]; then
  : "${SERVER:?set SERVER to the gateway address of the network}"
  "$DNS_BENCH" "$NETNS" "$SERVER" "$name" "$count"
  [ -n "${SERVER_PID:-}" ] && echo "server memory: $(memory "$SERVER_PID")"
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "benches/dns.sh makes a bridge and namespaces: run it as root" >&2; exit 1; }
x=$(( $$ % 128 ))
tag="bdnsb$(( $$ % 100000 ))"
bridge="${tag}br"
subnet="10.251.$x"
gateway="$subnet.1"
run_dir="$(mktemp -d "${TMPDIR:-/tmp}/berth-dns-bench.XXXXXX")"
network="${tag}_default"

cleanup() {
  rm -rf "$run_dir/dns/$network"
  [ -n "${pid:-}" ] && kill -HUP "$pid" 2>/dev/null || true
  for i in $(seq 1 "$replicas"); do
    ip link del "${tag}v$i" 2>/dev/null || true
    ip netns del "${tag}-$i" 2>/dev/null || true
  done
  ip link del "$bridge" 2>/dev/null || true
  # the server leaves when its records are gone; give it a moment before the directory goes
  for _ in $(seq 1 100); do [ -e "$run_dir/dns/server.pid" ] || break; sleep 0.05; done
  rm -rf "$run_dir"
}
trap cleanup EXIT

ip link add "$bridge" type bridge
ip addr add "$gateway/24" dev "$bridge"
ip link set "$bridge" up
mkdir -p "$run_dir/dns/$network/containers"
printf '{"name":"%s","gateways":["%s"],"subnets":["%s.0/24"],"internal":false}\n' \
  "$network" "$gateway" "$subnet" > "$run_dir/dns/$network/network.json"
for i in $(seq 1 "$replicas"); do
  ns="${tag}-$i"
  addr="$subnet.$(( i + 1 ))"
  ip netns add "$ns"
  ip link add "${tag}v$i" type veth peer name eth0 netns "$ns"
  ip link set "${tag}v$i" master "$bridge" up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  printf '{"name":"app-web-%s","addresses":["%s"],"names":["web","app-web-%s"]}\n' \
    "$i" "$addr" "$i" > "$run_dir/dns/$network/containers/app-web-$i.json"
done

"$BERTH" __dns-server "$run_dir" >>"$run_dir/dns/server.log" 2>&1
pid="$(cat "$run_dir/dns/server.pid")"
echo "server pid $pid; $replicas replicas of '$name' on $bridge ($subnet.0/24)"
echo "server memory at start: $(memory "$pid")"
"$DNS_BENCH" "/run/netns/${tag}-1" "$gateway" "$name" "$count"
echo "server memory after:    $(memory "$pid")"
