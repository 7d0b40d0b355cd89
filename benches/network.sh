#!/usr/bin/env bash
# Networks on a real stack: the time to attach a container to a network (berth's createRuntime
# hook, the step runc waits for at every task start) and the lookup latency of a service name
# from inside a container (benches/dns.sh pointed at the stack's DNS server).
#
# Needs the test bed (`eval "$(tests/testbed.sh up)"`) and root. Brings up a project of three
# `web` replicas and a `client` on 10.250.250.0/24 in state directories and an nftables table of
# its own, then:
#   attach: ATTACH times, a fresh network namespace (`unshare -n sleep`) is joined to the
#           stack's network by `berth __network-hook` with a copy of the client's hook file
#           (another veth name and address, no DNS records), timed from the outside;
#   dns:    examples/dns_bench from the client's namespace to the gateway, COUNT queries.
# Removes everything (containers, networks, volumes, the pulled image) with `down -v --rmi all` on exit.
#   usage: benches/network.sh          env: BERTH=path DNS_BENCH=path ATTACH=N COUNT=N
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
: "${BERTH_TEST_REGISTRY:?run eval \"\$(tests/testbed.sh up)\" first}"
: "${BERTH_TEST_CONTAINERD_ADDRESS:?run eval \"\$(tests/testbed.sh up)\" first}"

attach="${ATTACH:-50}"
count="${COUNT:-5000}"
if [ -z "${BERTH:-}" ] || [ -z "${DNS_BENCH:-}" ]; then
  cargo build --release --locked --quiet --bin berth --example dns_bench
  BERTH="${BERTH:-$root/target/release/berth}"
  DNS_BENCH="${DNS_BENCH:-$root/target/release/examples/dns_bench}"
fi

tmp="$(mktemp -d /tmp/berth-netbench.XXXXXX)"
export BERTH_LIB_DIR="$tmp/lib" BERTH_RUN_DIR="$tmp/run" BERTH_NFT_TABLE="berth_bench$$"
ns="berth-netbench-$$"
b() {
  "$BERTH" --address "$BERTH_TEST_CONTAINERD_ADDRESS" --namespace "$ns" \
    --hosts-dir "${BERTH_TEST_HOSTS_DIR:-/etc/containerd/certs.d}" --progress quiet \
    -p netbench "$@"
}
cleanup() {
  (cd "$tmp" && b down -v --rmi all -t 0 >/dev/null 2>&1) || true
  ctr --address "$BERTH_TEST_CONTAINERD_ADDRESS" namespaces rm "$ns" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/compose.yaml" <<EOF
services:
  web:
    image: $BERTH_TEST_REGISTRY/berth-test/multi:latest
    command: ["httpd", "-f", "-p", "80", "-h", "/etc"]
    scale: 3
  client:
    image: $BERTH_TEST_REGISTRY/berth-test/multi:latest
    command: ["sleep", "3600"]
networks:
  default:
    ipam:
      config:
        - subnet: 10.250.250.0/24
EOF
(cd "$tmp" && b up -d)

hook_file="$BERTH_LIB_DIR/containers/$ns/netbench-client-1/network.json"
times=()
for i in $(seq 1 "$attach"); do
  python3 - "$hook_file" "$tmp/hook.json" "$i" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
i = int(sys.argv[3])
c["dns"] = []
for iface in c["interfaces"]:
    iface["host_veth"] = f"bvbench{i}"
    iface["addrs"] = [f"10.250.250.{100 + i}/24"]
    iface["mac"] = [2, 0x42, 10, 250, 250, 100 + i]
json.dump(c, open(sys.argv[2], "w"))
PY
  unshare -n sleep 60 &
  pid=$!
  sleep 0.05
  t0=$(date +%s%N)
  echo "{\"pid\": $pid}" | "$BERTH" __network-hook "$tmp/hook.json"
  t1=$(date +%s%N)
  times+=($(((t1 - t0) / 1000)))
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  ip link del "bvbench$i" 2>/dev/null || true
done
printf '%s\n' "${times[@]}" | sort -n | awk '
  { v[NR] = $1 }
  END {
    printf "attach (berth __network-hook, %d runs): p50 %d us  p90 %d us  p99 %d us  max %d us\n",
      NR, v[int(NR * 0.5 + 0.5)], v[int(NR * 0.9 + 0.5)], v[int(NR * 0.99 + 0.5)], v[NR]
  }'

pid=$(ctr --address "$BERTH_TEST_CONTAINERD_ADDRESS" -n "$ns" tasks ls |
  awk '$1 == "netbench-client-1" { print $2 }')
NETNS="/proc/$pid/ns/net" SERVER=10.250.250.1 NAME=web COUNT="$count" \
  SERVER_PID="$(cat "$BERTH_RUN_DIR/dns/server.pid")" \
  BERTH="$BERTH" DNS_BENCH="$DNS_BENCH" benches/dns.sh
