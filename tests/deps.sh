#!/usr/bin/env bash
# The packages berth's tests need on a Debian bookworm machine, and the one function that
# installs them. Sourced by tests/run.sh (so CI, via .ci/run) and by the Vagrantfile; run it
# directly (`bash tests/deps.sh`) to install them without running the tests.
#
# ===== Install function: EXTEND HERE =====================================================
# Add Debian packages to BERTH_APT_PACKAGES (one per line, with why) and, when a package needs
# more than being installed (a service to start, a config file), add that to berth_install_deps
# below. Keep it idempotent: a rerun on a machine that has everything does no apt work at all.
# Starting containerd and the registry is tests/testbed.sh's job, not this file's.
BERTH_APT_PACKAGES=(
  python3-yaml       # PyYAML for the compose-corpus runner (tests/corpus.rs)
  containerd         # the real containerd (and ctr) the integration tests talk to
  runc               # the OCI runtime containerd's runc shim runs containers with
  docker-registry    # a plain-HTTP registry on loopback for push/pull tests (tests/testbed.sh)
  busybox-static     # one static binary to build the test images from, without a network
  zstd               # the zstd CLI: tests/images.py compresses berth-test/zstd's layers with it
  openssl            # the TLS registry's CA and certificate, the token server's key and JWT signatures
  apache2-utils      # htpasswd -B: the TLS registry's bcrypt password file (tests/testbed.sh)
  protobuf-compiler  # protoc: the containerd-client crate's build script compiles containerd's API
  tini               # tini-static: the init berth binds in as /sbin/docker-init for `init: true`
  iproute2           # ip -o link: tests/netlink.rs checks no bridge or veth is left
  nftables           # nft: berth's firewall table (src/network/nft.rs runs it)
)
# ==========================================================================================

# Installs whatever of BERTH_APT_PACKAGES is missing; does nothing (no apt-get update) when all
# are present. Uses sudo for apt when not root. Also makes sure the python3 on PATH (which may be
# a pyenv interpreter that does not see Debian's python3-yaml) can import yaml.
berth_install_deps() {
  local missing=() p
  for p in "${BERTH_APT_PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    echo "deps: installing ${missing[*]}" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  if ! python3 -c 'import yaml' 2>/dev/null; then
    echo "deps: $(command -v python3) has no yaml module; installing PyYAML with pip" >&2
    python3 -m pip install --quiet pyyaml \
      || python3 -m pip install --quiet --break-system-packages pyyaml
  fi
}

# Run directly: install and stop.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  berth_install_deps
fi
