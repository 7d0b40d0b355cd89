#!/usr/bin/env bash
# berth's whole test suite, as CI runs it (.ci/run calls this): install what the tests need
# (quick when it is all there), then formatting, lints and every test. Every step runs even
# after one fails, so one run shows everything that is wrong; the exit status is non-zero if
# any step failed.
#   usage: tests/run.sh            (as root, or with sudo available for apt)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=tests/deps.sh
source tests/deps.sh
berth_install_deps
# shellcheck source=tests/testbed.sh
source tests/testbed.sh

failed=()
step() {
  printf '\n==> %s\n' "$*"
  "$@" || failed+=("$*")
}

# The integration tests' containerd and registry; whatever this run started ends with it, so no
# daemon outlives the run (one that was already running is reused and left alone).
trap berth_testbed_down EXIT
step berth_testbed_up

step cargo fmt --check
step cargo clippy --locked --all-targets -- -D warnings
step cargo test --locked --no-fail-fast

echo
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "all checks passed"
exit 0
