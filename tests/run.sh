#!/usr/bin/env bash
# berth's whole test suite, as CI runs it (.ci/run calls this): install what the tests need
# (quick when it is all there), then formatting, lints and every test. Stops at the first failure
# with a non-zero exit status.
#   usage: tests/run.sh            (as root, or with sudo available for apt)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=tests/deps.sh
source tests/deps.sh
berth_install_deps

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --check
step "cargo clippy --locked --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings
step "cargo test --locked"
cargo test --locked
step "all checks passed"
