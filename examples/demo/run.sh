#!/usr/bin/env bash
# The main job: run the demo stack (examples/demo/compose.yaml) with berth as a new user would,
# on a real containerd, and take it down again. Installs what is missing (tests/deps.sh), brings
# up the test bed for containerd and the local registry that holds busybox (tests/testbed.sh;
# whatever it starts is stopped again on exit), builds berth, then:
#   up -d --wait, ps, the page over HTTP, logs, exec, ps after the worker crashed (containerd
#   restarts it with no berth running), down -v — and checks nothing of the project is left.
# Run as root from the repository root:   examples/demo/run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# shellcheck source=tests/deps.sh
source tests/deps.sh
berth_install_deps
# shellcheck source=tests/testbed.sh
source tests/testbed.sh
trap berth_testbed_down EXIT
berth_testbed_up >/dev/null

cargo build --release --locked --quiet
berth=(target/release/berth --address "$BERTH_TEST_CONTAINERD_ADDRESS" --hosts-dir "$BERTH_TEST_HOSTS_DIR"
  --namespace berth-demo -f examples/demo/compose.yaml)
export WEB_PORT="${WEB_PORT:-8089}"

step() { printf '\n$ berth %s\n' "$*"; "${berth[@]}" "$@"; }

step up -d --wait
step ps
printf '\n$ wget -qO- http://127.0.0.1:%s/\n' "$WEB_PORT"
busybox wget -qO- "http://127.0.0.1:$WEB_PORT/"
step logs init worker
step exec -T worker tail -n 2 /data/ticks
step exec -T worker cat /run/secrets/token
printf '\n(a crash: every process of the worker but its init dies, so the container stops;\n containerd restarts it with no berth process running)\n'
step exec -T worker kill -9 -1
for _ in $(seq 1 30); do
  starts=$("${berth[@]}" logs --no-log-prefix worker | grep -c 'worker starting' || true)
  if [ "$starts" -ge 2 ]; then break; fi
  sleep 1
done
step logs worker
if [ "$starts" -lt 2 ]; then
  echo "demo: the worker was not restarted" >&2
  exit 1
fi
step ps
step down -v

left=$("${berth[@]}" ps -a -q | wc -l)
if [ "$left" != 0 ]; then
  echo "demo: $left containers left after down" >&2
  exit 1
fi
printf '\ndemo: done, nothing left\n'
