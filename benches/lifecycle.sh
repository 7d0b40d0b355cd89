#!/usr/bin/env bash
# Benchmarks `up -d`, `ps` and `down` of a project of BENCH_SERVICES (default 20) busybox
# services (`command: sleep 3600`, `network_mode: none`, since berth has no networks yet) for
# berth and for `docker compose` (the 2.26 CLI plugin, benches/install-docker-compose.sh) on the
# same containerd: a dockerd of Debian's docker.io package is started against the test bed's
# containerd socket, with a data root, exec root, socket, pid file and containerd namespaces of
# its own, no bridge and no iptables, and is stopped and its data removed at the end.
#
#   up -d   timed with the images already present; each run is prepared by `down -t 0`
#   ps      timed with the stack up (BENCH_PS_RUNS runs, default 10)
#   down    `down -t 0` (sleep as PID 1 ignores SIGTERM: with the default 10 s grace period both
#           tools would measure the grace period, not themselves); each run prepared by `up -d`
#
# Needs root, the test bed (eval "$(tests/testbed.sh up)": BERTH_TEST_CONTAINERD_ADDRESS,
# BERTH_TEST_REGISTRY, BERTH_TEST_HOSTS_DIR), hyperfine (apt-get install hyperfine), ctr, and
# for the docker side dockerd (apt-get install docker.io; its service need not run) and the
# compose plugin. Builds berth in release mode unless BERTH names a binary.
#   usage: benches/lifecycle.sh
#   env:   BERTH=path  BENCH_SERVICES=N  BENCH_RUNS=N (up/down, default 5)  BENCH_PS_RUNS=N
#          BENCH_RESULTS=dir (default benches/results)  BENCH_NO_DOCKER=1 (berth alone)
# Writes lifecycle.md (the tables and ratios) and lifecycle-*.json (hyperfine's raw runs,
# git-ignored) to the results directory. Everything it made is removed on exit, whatever
# happens: both projects, berth's namespace and state directories, the dockerd, its data and
# its containerd namespaces. Nothing else in containerd is touched.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

: "${BERTH_TEST_CONTAINERD_ADDRESS:?run eval \"\$(tests/testbed.sh up)\" first}"
: "${BERTH_TEST_REGISTRY:?run eval \"\$(tests/testbed.sh up)\" first}"
services="${BENCH_SERVICES:-20}"
runs="${BENCH_RUNS:-5}"
ps_runs="${BENCH_PS_RUNS:-10}"
results="${BENCH_RESULTS:-$root/benches/results}"
image="$BERTH_TEST_REGISTRY/library/busybox:latest"

NS=berth-bench-life
PROJECT=bench-life
D_ROOT=/var/lib/berth-bench-docker
D_EXEC=/run/berth-bench-docker
D_SOCK=/run/berth-bench-docker.sock
D_PID=/run/berth-bench-docker.pid
D_NS=berth-bench-moby
D_PLUGINS_NS=berth-bench-moby-plugins

die() { echo "lifecycle.sh: $*" >&2; exit 1; }
ctr_() { ctr --address "$BERTH_TEST_CONTAINERD_ADDRESS" "$@"; }
command -v hyperfine >/dev/null || die "hyperfine is not installed (apt-get install hyperfine)"
[ "$(id -u)" = 0 ] || die "run as root (dockerd, and the test bed's containerd socket)"
for ns in "$NS" "$D_NS" "$D_PLUGINS_NS"; do
  if ctr_ namespaces ls -q | grep -qxF "$ns"; then
    die "containerd namespace $ns exists already (an interrupted run?); remove it first"
  fi
done

if [ -z "${BERTH:-}" ]; then
  cargo build --release --locked --quiet
  BERTH="${CARGO_TARGET_DIR:-$root/target}/release/berth"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-life.XXXXXX")"
project="$work/project"
mkdir -p "$project" "$results"
export BERTH_LIB_DIR="$work/lib" BERTH_RUN_DIR="$work/run"
berth_cmd="$BERTH --address $BERTH_TEST_CONTAINERD_ADDRESS --namespace $NS --hosts-dir $BERTH_TEST_HOSTS_DIR --progress quiet -p $PROJECT"
docker_cmd="docker compose -p $PROJECT"
dockerd_pid=

# wipe_ns NS: removes namespace NS of the test bed's containerd and whatever is left in it.
wipe_ns() {
  local ns=$1 t c k
  ctr_ namespaces ls -q | grep -qxF "$ns" || return 0
  for t in $(ctr_ -n "$ns" tasks ls -q); do
    ctr_ -n "$ns" tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
    ctr_ -n "$ns" tasks rm -f "$t" >/dev/null 2>&1 || true
  done
  for c in $(ctr_ -n "$ns" containers ls -q); do ctr_ -n "$ns" containers rm "$c" >/dev/null 2>&1 || true; done
  for k in $(ctr_ -n "$ns" leases ls -q); do ctr_ -n "$ns" leases rm "$k" >/dev/null 2>&1 || true; done
  k=$(ctr_ -n "$ns" images ls -q)
  # shellcheck disable=SC2086
  [ -z "$k" ] || ctr_ -n "$ns" images rm --sync $k >/dev/null 2>&1 || true
  for _ in 1 2 3 4 5; do
    for k in $(ctr_ -n "$ns" snapshots ls | awk 'NR > 1 { print $1 }'); do
      ctr_ -n "$ns" snapshots rm "$k" >/dev/null 2>&1 || true
    done
  done
  for k in $(ctr_ -n "$ns" content ls -q); do ctr_ -n "$ns" content rm "$k" >/dev/null 2>&1 || true; done
  ctr_ namespaces rm "$ns" >/dev/null 2>&1 || echo "lifecycle.sh: could not remove namespace $ns" >&2
}

cleanup() {
  set +e
  (cd "$project" && $berth_cmd down -t 0 >/dev/null 2>&1)
  wipe_ns "$NS"
  if [ -n "$dockerd_pid" ]; then
    (cd "$project" && DOCKER_HOST="unix://$D_SOCK" $docker_cmd down -t 0 >/dev/null 2>&1)
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
    # dockerd leaves its overlay and shm mounts behind when killed; unmount before removing
    grep -F " $D_ROOT/" /proc/self/mounts | awk '{ print $2 }' | sort -r | xargs -r -n1 umount -l
    grep -F " $D_EXEC/" /proc/self/mounts | awk '{ print $2 }' | sort -r | xargs -r -n1 umount -l
    rm -rf "$D_ROOT" "$D_EXEC" "$D_SOCK" "$D_PID"
    wipe_ns "$D_NS"
    wipe_ns "$D_PLUGINS_NS"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

{
  echo "services:"
  for i in $(seq -w 1 "$services"); do
    printf '  s%s:\n    image: %s\n    network_mode: none\n    command: sleep 3600\n' "$i" "$image"
  done
} >"$project/compose.yaml"

# ---- berth: image in place, one warm-up cycle
(cd "$project" && $berth_cmd pull >/dev/null)
(cd "$project" && $berth_cmd up -d >/dev/null && $berth_cmd down -t 0 >/dev/null)
names=(berth)
declare -A cmd=([berth]="$berth_cmd")

docker_note=
if [ "${BENCH_NO_DOCKER:-0}" = 1 ]; then
  docker_note="not run: BENCH_NO_DOCKER=1"
elif ! command -v dockerd >/dev/null; then
  docker_note="not run: dockerd is not installed (apt-get install docker.io)"
elif ! docker compose version >/dev/null 2>&1; then
  docker_note="not run: the docker compose plugin is missing (benches/install-docker-compose.sh)"
else
  echo '{}' >"$work/daemon.json"
  mkdir -p "$D_ROOT" "$D_EXEC"
  dockerd --config-file "$work/daemon.json" --containerd="$BERTH_TEST_CONTAINERD_ADDRESS" \
    --containerd-namespace "$D_NS" --containerd-plugins-namespace "$D_PLUGINS_NS" \
    --data-root "$D_ROOT" --exec-root "$D_EXEC" --pidfile "$D_PID" -H "unix://$D_SOCK" \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
    </dev/null >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  export DOCKER_HOST="unix://$D_SOCK"
  for _ in $(seq 150); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
  if ! docker version >/dev/null 2>&1; then
    docker_note="not run: dockerd did not answer within 30 s; its log ends: $(tail -n 3 "$work/dockerd.log" | tr '\n' ' ')"
  elif ! docker pull -q "$image" >/dev/null 2>"$work/pull.err"; then
    docker_note="not run: docker pull $image failed: $(tail -n 1 "$work/pull.err")"
  elif ! (cd "$project" && $docker_cmd up -d >/dev/null 2>"$work/up.err" && $docker_cmd down -t 0 >/dev/null 2>&1); then
    docker_note="not run: docker compose up -d failed: $(tail -n 2 "$work/up.err" | tr '\n' ' ')"
  else
    names+=(docker-compose)
    cmd[docker-compose]="$docker_cmd"
  fi
fi

hf() { # hf NAME HYPERFINE-ARGS...: runs hyperfine in the project directory, JSON to the work dir
  local name=$1
  shift
  (cd "$project" && hyperfine --style basic --export-json "$work/$name.json" "$@")
}

for t in "${names[@]}"; do
  c=${cmd[$t]}
  hf "up-$t" --runs "$runs" --prepare "$c down -t 0 >/dev/null 2>&1" -n "$t up -d" "$c up -d"
  (cd "$project" && $c up -d >/dev/null 2>&1)
  hf "ps-$t" --warmup 1 --runs "$ps_runs" -n "$t ps" "$c ps"
  hf "down-$t" --runs "$runs" --prepare "$c up -d >/dev/null 2>&1" -n "$t down -t 0" "$c down -t 0"
done
for f in "$work"/*.json; do cp "$f" "$results/lifecycle-$(basename "$f")"; done

# ---- results
ms() { # stat NAME FIELD: median/min/mean/stddev of a hyperfine export, in ms
  python3 - "$work/$1.json" "$2" <<'EOF'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"][0]
t = r["times"]
v = {"median": statistics.median(t), "min": min(t), "mean": r["mean"], "stddev": r.get("stddev") or 0.0}
print(f"{v[sys.argv[2]] * 1000:.0f}")
EOF
}
out="$results/lifecycle.md"
{
  echo "# \`up -d\`, \`ps\`, \`down\` of $services busybox services: berth vs docker compose"
  echo
  echo "Written by benches/lifecycle.sh on $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo
  echo "## Machine and versions"
  echo
  echo "- $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/^Mem:/ { print $2 }') GiB; load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- kernel $(uname -r), cgroup $( [ -e /sys/fs/cgroup/cgroup.controllers ] && echo v2 || echo v1 )"
  echo "- containerd $(ctr_ version | awk '/Server:/ { s = 1 } s && /Version:/ { print $2; exit }'), runc $(runc --version | awk 'NR == 1 { print $3 }')"
  echo "- berth $(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1) at $(cd "$root" && git rev-parse --short HEAD) ($BERTH)"
  if [ -n "${cmd[docker-compose]:-}" ]; then
    echo "- docker compose $(docker compose version --short), dockerd $(docker version -f '{{.Server.Version}}') (Debian docker.io) on the same containerd, overlay2 graph driver"
  else
    echo "- docker compose: $docker_note"
  fi
  echo
  echo "## Method"
  echo
  echo "hyperfine; \`up -d\` and \`down -t 0\` $runs runs each (each \`up -d\` prepared by a \`down\`, each \`down\` by an \`up -d\`), \`ps\` $ps_runs runs after a warm-up, with the stack up. Images pulled before timing. berth in its own containerd namespace ($NS); dockerd in $D_NS. Other sessions were building on the same two CPUs, so the absolute times are noisy; both tools ran under the same load, one after the other."
  echo
  echo "## Results (ms)"
  echo
  echo "| command | tool | median | min | mean ± stddev |"
  echo "|---|---|---:|---:|---:|"
  for op in up ps down; do
    for t in "${names[@]}"; do
      echo "| $op | $t | $(ms "$op-$t" median) | $(ms "$op-$t" min) | $(ms "$op-$t" mean) ± $(ms "$op-$t" stddev) |"
    done
  done
  if [ -n "${cmd[docker-compose]:-}" ]; then
    echo
    echo "## Ratios (docker compose median / berth median; aim: up -d ≥ 3×, ps ≥ 10×)"
    echo
    for op in up ps down; do
      b=$(ms "$op-berth" median)
      d=$(ms "$op-docker-compose" median)
      echo "- $op: $(python3 -c "print(f'{$d / max($b, 1):.1f}×')")"
    done
  fi
} >"$out"
cat "$out"
