#!/usr/bin/env bash
# Install Docker Compose 2.26.1 (the reference berth is measured against) as a docker CLI plugin,
# without a Docker engine and without pulling trixie into the rest of this bookworm system:
#   1. add Debian trixie to apt's sources, pinned at priority 100 so nothing upgrades from it;
#   2. apt-get download only the docker-compose .deb from trixie and unpack it under /opt;
#   3. link its CLI plugin into ~/.docker/cli-plugins so `docker compose` finds it.
# `docker compose config` needs no daemon. Needs root (apt). Idempotent: reruns are quick.
#   usage: benches/install-docker-compose.sh        env: COMPOSE_VERSION (default 2.26.1)
set -euo pipefail

want="${COMPOSE_VERSION:-2.26.1}"
dest="/opt/docker-compose-$want"
plugin="$dest/usr/libexec/docker/cli-plugins/docker-compose"
plugins_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"

if [ "$(id -u)" != 0 ]; then
  echo "install-docker-compose.sh: run as root (it changes apt's sources)" >&2
  exit 1
fi
if ! command -v docker >/dev/null 2>&1; then
  echo "install-docker-compose.sh: no docker CLI on PATH; install one (e.g. apt-get install docker-cli on trixie, or docker.io)" >&2
  exit 1
fi

if [ ! -x "$plugin" ]; then
  if [ ! -f /etc/apt/sources.list.d/trixie.sources ]; then
    cat > /etc/apt/sources.list.d/trixie.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  cat > /etc/apt/preferences.d/trixie-low <<'PIN'
# trixie is here only to fetch docker-compose with `apt-get download -t trixie`; never upgrade from it
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
  apt-get update -qq
  work="$(mktemp -d)"
  chmod 0777 "$work"  # apt-get download writes as the unprivileged _apt user
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download -t trixie docker-compose)
  deb="$(ls "$work"/docker-compose_*.deb)"
  got="$(dpkg-deb -f "$deb" Version)"
  case "$got" in
    "$want"|"$want"-*) ;;
    *) echo "install-docker-compose.sh: trixie offers docker-compose $got, not $want" >&2; exit 1 ;;
  esac
  rm -rf "$dest.tmp"
  mkdir -p "$dest.tmp"
  dpkg -x "$deb" "$dest.tmp"
  rm -rf "$dest"
  mv "$dest.tmp" "$dest"
fi

mkdir -p "$plugins_dir"
ln -sfn "$plugin" "$plugins_dir/docker-compose"
docker compose version
