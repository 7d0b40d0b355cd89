#!/usr/bin/env python3
"""The test bed's token server: the Docker Hub way of authenticating to a registry, for the bed's
third docker-registry (tests/testbed.sh), which is configured with `auth: token:` and this
server's certificate as its `rootcertbundle`.

The flow it serves (https://distribution.github.io/distribution/spec/auth/token/):

  1. a client asks the registry for something and is answered 401 with
     `WWW-Authenticate: Bearer realm="http://127.0.0.1:5058/token",service="berth-test",
     scope="repository:berth-test/multi:pull"`;
  2. it asks the realm, `GET /token?service=berth-test&scope=repository:berth-test/multi:pull`,
     with HTTP basic credentials (or none);
  3. this server answers `{"token": "<JWT>", "access_token": "<JWT>", "expires_in": 300, ...}`;
  4. the client asks the registry again with `Authorization: Bearer <JWT>`.

Who gets what, as Docker Hub treats a private repository:
  - the bed's user and password (BERTH_TEST_AUTH_USER / BERTH_TEST_AUTH_PASSWORD in the
    environment): a token granting every action asked for, on every scope asked for;
  - no credentials at all: a token granting nothing (the registry then answers 401
    insufficient_scope);
  - any other credentials: 401 from this server, `{"details": "incorrect username or password"}`,
    and no token.

The JWT is RS256, signed by `openssl dgst -sha256 -sign` with the key given (the standard library
has no RSA). docker-registry 2.8 (registry/auth/token/token.go) finds the signing key through
the header's `x5c` chain, a `jwk`, or a `kid` that must equal the libtrust key ID of a
certificate's public key in its rootcertbundle; this server sends `kid`, computed here the way
libtrust does (SHA-256 of the DER SubjectPublicKeyInfo, the first 240 bits in base32, in groups
of four joined with ':'). Claims: iss (--issuer), sub (the user, or empty), aud (the service),
exp (now + 300 s), nbf (now - 10 s), iat, jti and access.

    tests/token_server.py --port 5058 --key KEY.pem --cert CERT.pem \\
        --issuer berth-test-issuer --service berth-test

It logs one line per request to stderr, and renames its process to `berth-token` (so the bed's
pid file can be checked against /proc/<pid>/comm, whatever python3 is).
"""

import argparse
import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN_LIFETIME = 300


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(cert_path):
    """The key ID docker-registry files the certificate's public key under (libtrust's
    keyIDFromCryptoKey)."""
    pem = subprocess.run(["openssl", "x509", "-in", cert_path, "-noout", "-pubkey"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem,
                         check=True, capture_output=True).stdout
    s = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(s[i:i + 4] for i in range(0, len(s), 4))


def parse_scope(scope):
    """`repository:berth-test/multi:pull,push` → ("repository", "berth-test/multi", ["pull",
    "push"]). The name may hold a colon (a host with a port), so type and actions are split off
    the ends."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name:
        return None
    return kind, name, [a for a in actions.split(",") if a]


class Handler(BaseHTTPRequestHandler):
    server_version = "berth-test-token/1"

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} {self.address_string()} {format % args}\n")

    def answer(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def who(self):
        """The user the request authenticates as: "" for none, None for wrong credentials."""
        header = self.headers.get("Authorization")
        if not header:
            return ""
        kind, _, value = header.partition(" ")
        if kind.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        opts = self.server.opts
        if user == opts.user and secrets.compare_digest(password, opts.password):
            return user
        return None

    def do_GET(self):  # noqa: N802 (http.server's name)
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            self.answer(404, {"details": "not found"})
            return
        query = urllib.parse.parse_qs(url.query)
        opts = self.server.opts
        service = query.get("service", [""])[0]
        if service != opts.service:
            self.answer(400, {"details": f"unknown service {service!r}"})
            return
        user = self.who()
        if user is None:
            self.answer(401, {"details": "incorrect username or password"},
                        [("WWW-Authenticate", 'Basic realm="berth-test"')])
            return
        access = []
        # A scope may come as several parameters or space-separated in one.
        for scope in (s for param in query.get("scope", []) for s in param.split()):
            parsed = parse_scope(scope)
            if parsed is None:
                self.answer(400, {"details": f"invalid scope {scope!r}"})
                return
            kind, name, actions = parsed
            access.append({"type": kind, "name": name, "actions": actions if user else []})
        token = self.server.sign(user, service, access)
        now = time.time()
        self.answer(200, {
            "token": token,
            "access_token": token,
            "expires_in": TOKEN_LIFETIME,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        })


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, opts):
        super().__init__(("127.0.0.1", opts.port), Handler)
        self.opts = opts
        self.kid = libtrust_key_id(opts.cert)

    def sign(self, user, service, access):
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        claims = {
            "iss": self.opts.issuer,
            "sub": user,
            "aud": service,
            "exp": now + TOKEN_LIFETIME,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                         + b64url(json.dumps(claims, separators=(",", ":")).encode()))
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.opts.key],
                                   input=signing_input.encode(), check=True,
                                   capture_output=True).stdout
        return f"{signing_input}.{b64url(signature)}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--port", type=int, default=5058)
    ap.add_argument("--key", required=True, help="the RSA private key that signs tokens (PEM)")
    ap.add_argument("--cert", required=True,
                    help="its certificate (PEM), the registry's rootcertbundle")
    ap.add_argument("--issuer", default="berth-test-issuer")
    ap.add_argument("--service", default="berth-test")
    opts = ap.parse_args()
    opts.user = os.environ.get("BERTH_TEST_AUTH_USER", "berth")
    opts.password = os.environ.get("BERTH_TEST_AUTH_PASSWORD", "berth-test-password")
    try:
        with open("/proc/self/comm", "w") as fh:
            fh.write("berth-token")
    except OSError:
        pass
    server = Server(opts)
    sys.stderr.write(f"token server on 127.0.0.1:{opts.port}, kid {server.kid}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
