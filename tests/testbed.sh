#!/usr/bin/env bash
# The real-containerd test bed: a containerd that answers on a unix socket and a plain-HTTP
# registry on loopback, for the integration tests in tests/. Sourced by tests/run.sh, which calls
# berth_testbed_up before the tests and berth_testbed_down when it exits; run it directly to keep
# a bed up between test runs:
#
#   eval "$(tests/testbed.sh up)"   # start what is missing, print the exports for the tests
#   cargo test --test containerd
#   tests/testbed.sh status         # what answers where
#   tests/testbed.sh down           # stop whatever the bed started (from any shell)
#
# What it does:
# - containerd: a containerd that already answers at /run/containerd/containerd.sock (the
#   machine's own) is used as it is. Otherwise the bed runs Debian's containerd with a config,
#   root, state and socket of its own (socket $BERTH_TEST_RUN_DIR/containerd.sock, root
#   /var/lib/berth-test/containerd), so it never takes over the machine's paths; one started
#   earlier (by `up` or by another run) is reused.
# - registry: Debian's docker-registry on 127.0.0.1:$BERTH_TEST_REGISTRY_PORT (default 5055),
#   plain HTTP, no auth, storage in a temporary directory; reused when one already answers there.
# - TLS registry: a second docker-registry on 127.0.0.1:$BERTH_TEST_AUTH_REGISTRY_PORT (default
#   5056) with HTTPS (a CA and a server certificate for 127.0.0.1/localhost, made afresh with
#   openssl whenever it starts, in $BERTH_TEST_RUN_DIR/tls) and htpasswd basic auth as
#   $BERTH_TEST_AUTH_USER / $BERTH_TEST_AUTH_PASSWORD (default berth / berth-test-password);
#   reused when it answers to that user over a connection verified with that CA.
# - token server: tests/token_server.py on 127.0.0.1:$BERTH_TEST_TOKEN_PORT (default 5058), the
#   realm of Docker Hub's token flow. It signs JWTs (RS256) with a key and self-signed certificate
#   made afresh with openssl whenever it starts, in $BERTH_TEST_RUN_DIR/token; it gives the bed's
#   user a token for what it asks, anonymous callers a token for nothing, and wrong credentials a
#   401. Reused when the process in its pid file is alive and hands the bed's user a token.
# - token registry: a third docker-registry on 127.0.0.1:$BERTH_TEST_TOKEN_REGISTRY_PORT (default
#   5057), plain HTTP, `auth: token` with that realm (service berth-test, issuer
#   berth-test-issuer) and the token server's certificate as its rootcertbundle. Reused when it
#   accepts a token the running token server signed (so one that trusts an older key does not
#   count).
# - hosts dir: $BERTH_TEST_RUN_DIR/certs.d, containerd's certs.d layout: docker.io mirrored by the
#   plain registry (pull, resolve), the plain and token registries as http, the TLS one trusted
#   via the CA.
# - images: tests/images.py builds the test images from busybox-static without a network and
#   pushes them to the three registries (nothing when they already have them); their digests go
#   to $BERTH_TEST_RUN_DIR/images.json. tests/images.py says what each image holds and why.
# - exports BERTH_TEST_CONTAINERD_ADDRESS (socket path), BERTH_TEST_REGISTRY (host:port),
#   BERTH_TEST_REGISTRY_STORAGE (the plain registry's filesystem storage directory, for tests
#   that damage a blob on purpose; empty when the registry there is not one this bed started),
#   BERTH_TEST_AUTH_REGISTRY (host:port), BERTH_TEST_AUTH_USER, BERTH_TEST_AUTH_PASSWORD,
#   BERTH_TEST_CA (CA certificate, PEM), BERTH_TEST_TOKEN_REGISTRY (host:port),
#   BERTH_TEST_TOKEN_REALM (the token server's URL), BERTH_TEST_HOSTS_DIR and BERTH_TEST_IMAGES
#   (the digests).
#
# Daemons run with stdio on log files, so nothing holds the caller's terminal or pipes open. Pid files are checked against /proc before they are trusted,
# so a bed killed uncleanly (reboot, kill -9) leaves nothing that breaks the next `up`.

BERTH_TEST_DEFAULT_CONTAINERD=/run/containerd/containerd.sock
if [ "$(id -u)" = 0 ]; then
  : "${BERTH_TEST_RUN_DIR:=/run/berth-test}"
else
  : "${BERTH_TEST_RUN_DIR:=${XDG_RUNTIME_DIR:-/tmp}/berth-test-$(id -u)}"
fi
: "${BERTH_TEST_STATE_DIR:=/var/lib/berth-test}"
: "${BERTH_TEST_REGISTRY_PORT:=5055}"
: "${BERTH_TEST_AUTH_REGISTRY_PORT:=5056}"
: "${BERTH_TEST_TOKEN_REGISTRY_PORT:=5057}"
: "${BERTH_TEST_TOKEN_PORT:=5058}"
: "${BERTH_TEST_AUTH_USER:=berth}"
: "${BERTH_TEST_AUTH_PASSWORD:=berth-test-password}"
BERTH_TESTBED_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Pids of the daemons this shell started, so berth_testbed_down leaves alone a bed that someone
# else brought up (a developer's `tests/testbed.sh up`) and this run merely reused.
BERTH_TESTBED_STARTED=()

_bed_log() { echo "testbed: $*" >&2; }

# True when a containerd answers on socket $1.
_bed_containerd_answers() {
  [ -S "$1" ] && timeout 5 ctr --address "$1" version >/dev/null 2>&1
}

# True when a registry answers `GET /v2/` with 200 and the registry API header on 127.0.0.1:$1.
# Plain bash /dev/tcp, so the probe needs neither curl nor python.
_bed_registry_answers() {
  local resp
  # shellcheck disable=SC2016  # $0/$1 expand in the inner bash, from its arguments
  resp=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
    printf "GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n\r\n" "$0" >&3
    head -c 2048 <&3' "$1" 2>/dev/null) || return 1
  [[ $resp == HTTP/1.?" 200"* ]] && grep -qi '^docker-distribution-api-version: registry/2' <<<"${resp//$'\r'/}"
}

# Prints the answer (status line, headers, body; at most 16 KiB) to `GET $2` on 127.0.0.1:$1,
# with header line $3 when given ("Authorization: ..."). HTTP/1.0, so the server closes.
_bed_http_get() {
  local extra=
  [ -z "${3:-}" ] || extra=$3$'\r\n'
  # shellcheck disable=SC2016  # $0..$2 expand in the inner bash, from its arguments
  timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n%s\r\n" "$1" "$0" "$2" >&3
    head -c 16384 <&3' "$1" "$2" "$extra" 2>/dev/null
}

# True when something accepts TCP connections on 127.0.0.1:$1.
_bed_port_taken() {
  # shellcheck disable=SC2016
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null
}

# Prints the pid in pid file $1 when that process is alive (not a zombie) and runs program $2;
# removes a stale pid file and fails otherwise.
_bed_live_pid() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  if [[ $pid =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] \
    && ! _bed_gone "$pid"; then
    echo "$pid"
    return 0
  fi
  rm -f "$1"
  return 1
}

# Runs "$@" in the background (stdin from /dev/null, output to log file $1, so it holds none of
# the caller's pipes open), records its pid in pid file $2 and in BERTH_TESTBED_STARTED. With
# BERTH_TESTBED_DETACH=1 (`tests/testbed.sh up`) it gets a session of its own, to outlive the
# terminal; otherwise (tests/run.sh) it stays in the caller's process group, so whatever ends a
# CI run's group ends the bed too, even when the run's EXIT trap never runs.
_bed_spawn() {
  local log=$1 pidfile=$2
  shift 2
  if [ "${BERTH_TESTBED_DETACH:-0}" = 1 ]; then
    # setsid execs in place here (a background child is never a group leader), so $! is the
    # daemon's own pid.
    setsid "$@" </dev/null >>"$log" 2>&1 &
  else
    "$@" </dev/null >>"$log" 2>&1 &
  fi
  local pid=$!
  echo "$pid" >"$pidfile"
  BERTH_TESTBED_STARTED+=("$pid")
}

# Waits up to $1 seconds for command "${@:2}" to succeed.
_bed_wait() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

_bed_containerd_up() {
  if _bed_containerd_answers "$BERTH_TEST_DEFAULT_CONTAINERD"; then
    _bed_log "using the machine's containerd at $BERTH_TEST_DEFAULT_CONTAINERD"
    export BERTH_TEST_CONTAINERD_ADDRESS=$BERTH_TEST_DEFAULT_CONTAINERD
    return 0
  fi
  local sock=$BERTH_TEST_RUN_DIR/containerd.sock
  local pidfile=$BERTH_TEST_RUN_DIR/containerd.pid
  local log=$BERTH_TEST_RUN_DIR/containerd.log
  export BERTH_TEST_CONTAINERD_ADDRESS=$sock
  if _bed_containerd_answers "$sock"; then
    _bed_log "reusing the test bed's containerd at $sock"
    return 0
  fi
  if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
    _bed_log "containerd is not installed (tests/deps.sh installs it)"
    return 1
  fi
  if [ "$(id -u)" != 0 ]; then
    _bed_log "no containerd answers at $BERTH_TEST_DEFAULT_CONTAINERD and starting one needs root"
    return 1
  fi
  # A containerd of ours that is alive but does not answer is wedged: end it before starting anew.
  local old
  if old=$(_bed_live_pid "$pidfile" containerd); then
    _bed_log "ending the test bed's unanswering containerd (pid $old)"
    kill "$old" 2>/dev/null
    _bed_wait 10 _bed_gone "$old" || kill -9 "$old" 2>/dev/null
    rm -f "$pidfile"
  fi
  mkdir -p "$BERTH_TEST_RUN_DIR" "$BERTH_TEST_STATE_DIR/containerd" || return 1
  # CRI and devmapper are off: the tests use neither, and without them containerd starts faster
  # and logs no complaints about CNI or an unconfigured thin pool. ttrpc (for shims) gets its own socket beside the gRPC one.
  cat >"$BERTH_TEST_RUN_DIR/containerd.toml" <<EOF
version = 2
root = "$BERTH_TEST_STATE_DIR/containerd"
state = "$BERTH_TEST_RUN_DIR/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

# The restart monitor checks every 10 s by default; 1 s keeps tests/restart.rs quick. berth
# never depends on the interval.
[plugins."io.containerd.internal.v1.restart"]
  interval = "1s"
EOF
  _bed_log "starting containerd at $sock (log $log)"
  _bed_spawn "$log" "$pidfile" containerd --config "$BERTH_TEST_RUN_DIR/containerd.toml"
  if ! _bed_wait 60 _bed_containerd_answers "$sock"; then
    _bed_log "containerd did not answer at $sock within 60 s; the end of its log:"
    tail -n 20 "$log" >&2
    return 1
  fi
}

# True when process $1 has ended (a zombie counts: our own children stay zombies until waited).
_bed_gone() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }
  [ "${stat%% *}" = Z ]
}

_bed_registry_up() {
  local port=$BERTH_TEST_REGISTRY_PORT
  export BERTH_TEST_REGISTRY=127.0.0.1:$port
  export BERTH_TEST_REGISTRY_STORAGE=
  if _bed_registry_answers "$port"; then
    _bed_log "reusing the registry at 127.0.0.1:$port"
  elif _bed_port_taken "$port"; then
    _bed_log "127.0.0.1:$port is taken by something that is not a registry; set BERTH_TEST_REGISTRY_PORT to a free port"
    return 1
  else
    _bed_registry_start registry "$port" _bed_registry_answers "" || return 1
  fi
  # Its storage is known only when the registry there is the one this bed started.
  if _bed_live_pid "$BERTH_TEST_RUN_DIR/registry.pid" docker-registry >/dev/null; then
    BERTH_TEST_REGISTRY_STORAGE=$(cat "$BERTH_TEST_RUN_DIR/registry.storage" 2>/dev/null)
  fi
  [ -n "$BERTH_TEST_REGISTRY_STORAGE" ] \
    || _bed_log "the registry at 127.0.0.1:$port is not this bed's: its storage is unknown (BERTH_TEST_REGISTRY_STORAGE is empty)"
}

# True when the TLS registry on 127.0.0.1:$1 answers `GET /v2/` with 200 to the bed's user and
# password, over a connection verified against BERTH_TEST_CA (so a registry of an earlier bed,
# with another CA, does not count).
_bed_auth_registry_answers() {
  local resp auth
  [ -r "$BERTH_TEST_CA" ] && command -v openssl >/dev/null || return 1
  auth=$(printf '%s:%s' "$BERTH_TEST_AUTH_USER" "$BERTH_TEST_AUTH_PASSWORD" | base64 -w0)
  # -quiet implies -ign_eof: s_client reads until the server closes, as HTTP/1.0 makes it do.
  resp=$(printf 'GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nAuthorization: Basic %s\r\n\r\n' \
    "$1" "$auth" | timeout 3 openssl s_client -connect "127.0.0.1:$1" -quiet \
    -CAfile "$BERTH_TEST_CA" -verify_return_error -verify_ip 127.0.0.1 2>/dev/null | head -c 2048)
  [[ $resp == HTTP/1.?" 200"* ]] && grep -qi '^docker-distribution-api-version: registry/2' <<<"${resp//$'\r'/}"
}

# Makes, in directory $1, a fresh CA, a server certificate for 127.0.0.1 and localhost signed by
# it, and the htpasswd file (bcrypt, as docker-registry requires). Fresh each time the TLS
# registry starts, so no key outlives its bed.
_bed_make_tls() {
  local dir=$1
  if ! command -v openssl >/dev/null || ! command -v htpasswd >/dev/null; then
    _bed_log "openssl or htpasswd (apache2-utils) is not installed (tests/deps.sh installs them)"
    return 1
  fi
  rm -rf "$dir" && mkdir -p "$dir" || return 1
  # rustls and Go both want a v3 CA with CA:TRUE, and a leaf with a SAN and serverAuth.
  cat >"$dir/openssl.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = berth test bed CA
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
  if ! (
    cd "$dir" || exit 1
    openssl req -x509 -config openssl.cnf -extensions ca -newkey ec \
      -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 3650 \
      && openssl req -new -config openssl.cnf -subj /CN=127.0.0.1 -newkey ec \
        -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr \
      && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
        -set_serial "0x$(openssl rand -hex 8)" -days 3650 -extfile openssl.cnf \
        -extensions server -out server.pem \
      && htpasswd -Bbc htpasswd "$BERTH_TEST_AUTH_USER" "$BERTH_TEST_AUTH_PASSWORD"
  ) >"$dir/make.log" 2>&1; then
    _bed_log "making the TLS registry's certificates failed:"
    cat "$dir/make.log" >&2
    return 1
  fi
  chmod 0644 "$dir/ca.pem"
}

_bed_auth_registry_up() {
  local port=$BERTH_TEST_AUTH_REGISTRY_PORT dir=$BERTH_TEST_RUN_DIR/tls
  export BERTH_TEST_AUTH_REGISTRY=127.0.0.1:$port BERTH_TEST_CA=$dir/ca.pem
  export BERTH_TEST_AUTH_USER BERTH_TEST_AUTH_PASSWORD
  if _bed_auth_registry_answers "$port"; then
    _bed_log "reusing the TLS registry at 127.0.0.1:$port"
    return 0
  fi
  if _bed_port_taken "$port"; then
    _bed_log "127.0.0.1:$port is taken by something other than this bed's TLS registry; set BERTH_TEST_AUTH_REGISTRY_PORT to a free port"
    return 1
  fi
  # A registry of ours that is alive but does not answer is ended before its files are remade.
  local old
  if old=$(_bed_live_pid "$BERTH_TEST_RUN_DIR/registry-auth.pid" docker-registry); then
    kill "$old" 2>/dev/null
    _bed_wait 10 _bed_gone "$old" || kill -9 "$old" 2>/dev/null
  fi
  _bed_make_tls "$dir" || return 1
  _bed_registry_start registry-auth "$port" _bed_auth_registry_answers "  tls:
    certificate: $dir/server.pem
    key: $dir/server.key
auth:
  htpasswd:
    realm: berth-test
    path: $dir/htpasswd"
}

# Prints a token the token server on 127.0.0.1:$1 gives the bed's user (any scope will do: a
# token with no access still lets `GET /v2/` through); fails when it gives none.
_bed_token_fetch() {
  local auth resp token
  auth=$(printf '%s:%s' "$BERTH_TEST_AUTH_USER" "$BERTH_TEST_AUTH_PASSWORD" | base64 -w0)
  resp=$(_bed_http_get "$1" "/token?service=berth-test" "Authorization: Basic $auth") || return 1
  [[ $resp == HTTP/1.?" 200"* ]] || return 1
  token=$(grep -o '"token": *"[^"]*"' <<<"$resp" | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/')
  [ -n "$token" ] && echo "$token"
}

# True when the token server in the bed's pid file is alive and hands out tokens on
# 127.0.0.1:$1. The server names itself berth-token before it listens, so the pid file is
# checked only after it answered (_bed_live_pid removes a pid file whose process has another
# name, as it has while python3 starts).
_bed_token_server_answers() {
  _bed_token_fetch "$1" >/dev/null \
    && _bed_live_pid "$BERTH_TEST_RUN_DIR/token-server.pid" berth-token >/dev/null
}

# Makes, in directory $1, the token server's RSA key and the self-signed certificate that the
# token registry trusts (its rootcertbundle). Fresh each time the token server starts.
_bed_make_token_key() {
  local dir=$1
  rm -rf "$dir" && mkdir -p "$dir" || return 1
  if ! openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" \
    -days 3650 -subj "/CN=berth test bed token signer" >"$dir/make.log" 2>&1; then
    _bed_log "making the token server's key failed:"
    cat "$dir/make.log" >&2
    return 1
  fi
  chmod 0644 "$dir/cert.pem"
}

_bed_token_server_up() {
  local port=$BERTH_TEST_TOKEN_PORT dir=$BERTH_TEST_RUN_DIR/token
  export BERTH_TEST_TOKEN_REALM=http://127.0.0.1:$port/token
  if _bed_token_server_answers "$port"; then
    _bed_log "reusing the token server at 127.0.0.1:$port"
    return 0
  fi
  if _bed_port_taken "$port"; then
    _bed_log "127.0.0.1:$port is taken by something other than this bed's token server; set BERTH_TEST_TOKEN_PORT to a free port"
    return 1
  fi
  if ! command -v python3 >/dev/null || ! command -v openssl >/dev/null; then
    _bed_log "python3 or openssl is not installed (tests/deps.sh installs openssl)"
    return 1
  fi
  local pidfile=$BERTH_TEST_RUN_DIR/token-server.pid log=$BERTH_TEST_RUN_DIR/token-server.log
  local old
  if old=$(_bed_live_pid "$pidfile" berth-token); then
    kill "$old" 2>/dev/null
    _bed_wait 10 _bed_gone "$old" || kill -9 "$old" 2>/dev/null
  fi
  mkdir -p "$BERTH_TEST_RUN_DIR" || return 1
  _bed_make_token_key "$dir" || return 1
  _bed_log "starting the token server at 127.0.0.1:$port (log $log)"
  # The user and password go through the environment, not the command line.
  _bed_spawn "$log" "$pidfile" env BERTH_TEST_AUTH_USER="$BERTH_TEST_AUTH_USER" \
    BERTH_TEST_AUTH_PASSWORD="$BERTH_TEST_AUTH_PASSWORD" \
    python3 "$BERTH_TESTBED_DIR/token_server.py" --port "$port" --key "$dir/key.pem" \
    --cert "$dir/cert.pem" --issuer berth-test-issuer --service berth-test
  if ! _bed_wait 15 _bed_token_server_answers "$port"; then
    _bed_log "the token server did not answer at 127.0.0.1:$port within 15 s; the end of its log:"
    tail -n 20 "$log" >&2
    return 1
  fi
}

# True when the token registry on 127.0.0.1:$1 answers `GET /v2/` with 200 to a token from the
# bed's token server (so a registry that trusts an earlier bed's key does not count).
_bed_token_registry_answers() {
  local token resp
  token=$(_bed_token_fetch "$BERTH_TEST_TOKEN_PORT") || return 1
  resp=$(_bed_http_get "$1" /v2/ "Authorization: Bearer $token") || return 1
  [[ $resp == HTTP/1.?" 200"* ]] && grep -qi '^docker-distribution-api-version: registry/2' <<<"${resp//$'\r'/}"
}

_bed_token_registry_up() {
  local port=$BERTH_TEST_TOKEN_REGISTRY_PORT
  export BERTH_TEST_TOKEN_REGISTRY=127.0.0.1:$port
  if _bed_token_registry_answers "$port"; then
    _bed_log "reusing the token registry at 127.0.0.1:$port"
    return 0
  fi
  # A registry of ours that trusts another key answers too: _bed_registry_start ends it first.
  if _bed_port_taken "$port" \
    && ! _bed_live_pid "$BERTH_TEST_RUN_DIR/registry-token.pid" docker-registry >/dev/null; then
    _bed_log "127.0.0.1:$port is taken by something other than this bed's token registry; set BERTH_TEST_TOKEN_REGISTRY_PORT to a free port"
    return 1
  fi
  _bed_registry_start registry-token "$port" _bed_token_registry_answers "auth:
  token:
    realm: $BERTH_TEST_TOKEN_REALM
    service: berth-test
    issuer: berth-test-issuer
    rootcertbundle: $BERTH_TEST_RUN_DIR/token/cert.pem"
}

# Starts a docker-registry named $1 (its files are $BERTH_TEST_RUN_DIR/$1.*) on 127.0.0.1:$2,
# with storage in a fresh temporary directory, and waits until probe $3 succeeds. $4 is YAML
# appended to the config inside `http:` (it may open top-level sections after that).
_bed_registry_start() {
  local name=$1 port=$2 probe=$3 extra=$4
  if ! command -v docker-registry >/dev/null; then
    _bed_log "docker-registry is not installed (tests/deps.sh installs it)"
    return 1
  fi
  local pidfile=$BERTH_TEST_RUN_DIR/$name.pid
  local log=$BERTH_TEST_RUN_DIR/$name.log
  local old
  if old=$(_bed_live_pid "$pidfile" docker-registry); then
    kill "$old" 2>/dev/null
    _bed_wait 10 _bed_gone "$old" || kill -9 "$old" 2>/dev/null
  fi
  mkdir -p "$BERTH_TEST_RUN_DIR" || return 1
  _bed_remove_registry_storage "$name"
  local storage
  storage=$(mktemp -d "${TMPDIR:-/tmp}/berth-test-$name.XXXXXX") || return 1
  echo "$storage" >"$BERTH_TEST_RUN_DIR/$name.storage"
  cat >"$BERTH_TEST_RUN_DIR/$name.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $storage
  delete:
    enabled: true
  redirect:
    disable: true
http:
  addr: 127.0.0.1:$port
  secret: berth-test-bed
$extra
YML
  _bed_log "starting docker-registry $name at 127.0.0.1:$port (storage $storage, log $log)"
  _bed_spawn "$log" "$pidfile" docker-registry serve "$BERTH_TEST_RUN_DIR/$name.yml"
  if ! _bed_wait 15 "$probe" "$port"; then
    _bed_log "$name did not answer at 127.0.0.1:$port within 15 s; the end of its log:"
    tail -n 20 "$log" >&2
    return 1
  fi
}

# Removes the storage of registry $1 (registry, registry-auth or registry-token).
_bed_remove_registry_storage() {
  local f=$BERTH_TEST_RUN_DIR/$1.storage dir
  dir=$(cat "$f" 2>/dev/null) || return 0
  # Only ever a directory this script made with mktemp.
  case $dir in */berth-test-"$1".??????) rm -rf "$dir" ;; esac
  rm -f "$f"
}

# Writes BERTH_TEST_HOSTS_DIR, a containerd certs.d directory (one hosts.toml per registry
# host) for the bed: docker.io pulls through the plain registry as a mirror (so `image: busybox`
# finds library/busybox there), and the TLS registry is trusted through BERTH_TEST_CA.
_bed_hosts_dir_up() {
  local dir=$BERTH_TEST_RUN_DIR/certs.d
  local plain=127.0.0.1:$BERTH_TEST_REGISTRY_PORT auth=127.0.0.1:$BERTH_TEST_AUTH_REGISTRY_PORT
  local token=127.0.0.1:$BERTH_TEST_TOKEN_REGISTRY_PORT
  export BERTH_TEST_HOSTS_DIR=$dir
  mkdir -p "$dir/docker.io" "$dir/$plain" "$dir/$auth" "$dir/$token" || return 1
  cat >"$dir/docker.io/hosts.toml" <<TOML
server = "https://registry-1.docker.io"

[host."http://$plain"]
  capabilities = ["pull", "resolve"]
TOML
  # Each file also names its server in a [host] table: containerd 1.6 (Debian bookworm's)
  # rejects a hosts.toml without one ("invalid `host` tree") and then falls back to plain HTTP
  # for 127.0.0.1, which the TLS registry answers with 400.
  cat >"$dir/$plain/hosts.toml" <<TOML
server = "http://$plain"

[host."http://$plain"]
  capabilities = ["pull", "resolve", "push"]
TOML
  cat >"$dir/$token/hosts.toml" <<TOML
server = "http://$token"

[host."http://$token"]
  capabilities = ["pull", "resolve", "push"]
TOML
  cat >"$dir/$auth/hosts.toml" <<TOML
server = "https://$auth"
ca = "$BERTH_TEST_RUN_DIR/tls/ca.pem"

[host."https://$auth"]
  capabilities = ["pull", "resolve", "push"]
  ca = "$BERTH_TEST_RUN_DIR/tls/ca.pem"
TOML
}

# Builds the test images (tests/images.py) and pushes whatever the registries lack; writes
# their digests to BERTH_TEST_IMAGES.
_bed_images_up() {
  export BERTH_TEST_IMAGES=$BERTH_TEST_RUN_DIR/images.json
  if ! command -v python3 >/dev/null; then
    _bed_log "python3 is not installed; cannot build the test images"
    return 1
  fi
  python3 "$BERTH_TESTBED_DIR/images.py" --out "$BERTH_TEST_IMAGES"
}

# Starts whatever of the bed does not answer yet and exports its addresses. Returns non-zero
# (after saying why) when a part could not be brought up; the other part is still tried.
berth_testbed_up() {
  local rc=0 regs=0
  _bed_containerd_up || rc=1
  _bed_registry_up || regs=1
  _bed_auth_registry_up || regs=1
  if _bed_token_server_up; then
    _bed_token_registry_up || regs=1
  else
    regs=1
  fi
  _bed_hosts_dir_up || rc=1
  if [ $regs = 0 ]; then
    _bed_images_up || rc=1
  else
    rc=1
    _bed_log "not pushing the test images: a registry is not up"
  fi
  return $rc
}

# Ends the daemons this shell started (not ones it found running), waits for them, and removes
# their pid files and the registry's storage. Made to be an EXIT trap: it keeps the exit status
# it was called with, and the `|| true` turns off `set -e` inside (the waits return the
# daemons' 143).
berth_testbed_down() {
  local rc=$?
  _bed_stop_started || true
  return $rc
}

_bed_stop_started() {
  local pid
  for pid in "${BERTH_TESTBED_STARTED[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${BERTH_TESTBED_STARTED[@]}"; do
    _bed_wait 10 _bed_gone "$pid" || kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    _bed_forget "$pid"
  done
  BERTH_TESTBED_STARTED=()
}

# Removes the pid file that names $1 (and the registry's storage when it was the registry).
_bed_forget() {
  local name
  for name in containerd token-server registry registry-auth registry-token; do
    if [ "$(cat "$BERTH_TEST_RUN_DIR/$name.pid" 2>/dev/null)" = "$1" ]; then
      rm -f "$BERTH_TEST_RUN_DIR/$name.pid"
      [[ $name != registry* ]] || _bed_remove_registry_storage "$name"
    fi
  done
  return 0
}

# Ends the bed's daemons whoever started them (`tests/testbed.sh down`).
_bed_down_all() {
  local pid
  if pid=$(_bed_live_pid "$BERTH_TEST_RUN_DIR/containerd.pid" containerd); then
    BERTH_TESTBED_STARTED+=("$pid")
  fi
  local name
  for name in registry registry-auth registry-token; do
    if pid=$(_bed_live_pid "$BERTH_TEST_RUN_DIR/$name.pid" docker-registry); then
      BERTH_TESTBED_STARTED+=("$pid")
    fi
  done
  if pid=$(_bed_live_pid "$BERTH_TEST_RUN_DIR/token-server.pid" berth-token); then
    BERTH_TESTBED_STARTED+=("$pid")
  fi
  berth_testbed_down
  _bed_remove_registry_storage registry
  _bed_remove_registry_storage registry-auth
  _bed_remove_registry_storage registry-token
}

_bed_status() {
  local sock=$BERTH_TEST_RUN_DIR/containerd.sock
  if _bed_containerd_answers "$BERTH_TEST_DEFAULT_CONTAINERD"; then
    echo "containerd: the machine's, at $BERTH_TEST_DEFAULT_CONTAINERD"
  elif _bed_containerd_answers "$sock"; then
    echo "containerd: the test bed's, at $sock"
  else
    echo "containerd: none answers"
  fi
  if _bed_registry_answers "$BERTH_TEST_REGISTRY_PORT"; then
    echo "registry: 127.0.0.1:$BERTH_TEST_REGISTRY_PORT"
  else
    echo "registry: none answers at 127.0.0.1:$BERTH_TEST_REGISTRY_PORT"
  fi
  BERTH_TEST_CA=$BERTH_TEST_RUN_DIR/tls/ca.pem
  if _bed_auth_registry_answers "$BERTH_TEST_AUTH_REGISTRY_PORT"; then
    echo "TLS registry: 127.0.0.1:$BERTH_TEST_AUTH_REGISTRY_PORT (CA $BERTH_TEST_CA)"
  else
    echo "TLS registry: none of this bed's answers at 127.0.0.1:$BERTH_TEST_AUTH_REGISTRY_PORT"
  fi
  if _bed_token_server_answers "$BERTH_TEST_TOKEN_PORT"; then
    echo "token server: http://127.0.0.1:$BERTH_TEST_TOKEN_PORT/token"
  else
    echo "token server: none of this bed's answers at 127.0.0.1:$BERTH_TEST_TOKEN_PORT"
  fi
  if _bed_token_registry_answers "$BERTH_TEST_TOKEN_REGISTRY_PORT"; then
    echo "token registry: 127.0.0.1:$BERTH_TEST_TOKEN_REGISTRY_PORT"
  else
    echo "token registry: none answers at 127.0.0.1:$BERTH_TEST_TOKEN_REGISTRY_PORT to this bed's tokens"
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  case ${1:-} in
    up)
      # Daemons outlive this shell: `down` ends them.
      BERTH_TESTBED_DETACH=1
      berth_testbed_up || exit 1
      printf 'export BERTH_TEST_CONTAINERD_ADDRESS=%q\n' "$BERTH_TEST_CONTAINERD_ADDRESS"
      for var in BERTH_TEST_REGISTRY BERTH_TEST_REGISTRY_STORAGE BERTH_TEST_AUTH_REGISTRY \
        BERTH_TEST_AUTH_USER BERTH_TEST_AUTH_PASSWORD BERTH_TEST_CA BERTH_TEST_TOKEN_REGISTRY \
        BERTH_TEST_TOKEN_REALM BERTH_TEST_HOSTS_DIR BERTH_TEST_IMAGES; do
        printf 'export %s=%q\n' "$var" "${!var}"
      done
      ;;
    down) _bed_down_all ;;
    status) _bed_status ;;
    *)
      echo "usage: $0 up|down|status" >&2
      exit 2
      ;;
  esac
fi
