#!/usr/bin/env python3
"""The test bed's images: built without a network from Debian's busybox-static, pushed to the
bed's registries, and their digests written to a JSON file for the tests to assert on.

tests/testbed.sh runs this after its registries answer; run it directly to push again or to add
the bench image:

    tests/images.py                 # the default set; pushes only what a registry lacks
    tests/images.py --big           # also berth-test/big:latest (~100 MB), for benchmarks

Registries come from the environment the bed exports: BERTH_TEST_REGISTRY (plain HTTP, no
auth) and, when set, BERTH_TEST_AUTH_REGISTRY (HTTPS with the CA in BERTH_TEST_CA, basic auth
as BERTH_TEST_AUTH_USER / BERTH_TEST_AUTH_PASSWORD) and BERTH_TEST_TOKEN_REGISTRY (plain HTTP,
token auth: a 401 with a Bearer challenge is answered with a token fetched from the challenge's
realm with the same user and password). Every image goes to each.

Everything is deterministic: tar entries sorted, owners and mtimes fixed, gzip with mtime 0 and
no file name, JSON serialised in one fixed way. So a digest changes only when this script, the
busybox binary, Python's zlib or the zstd CLI changes, and a re-run pushes nothing: each image's
tag is checked with HEAD first and skipped when the registry already serves the same digest.

The images, and the property of a pull/unpack each one exists to test:

berth-test/multi:latest  OCI image manifest, four gzip layers, OCI config.
    layer 1  the base: /bin/busybox and /bin/<applet> -> busybox symlinks (sh, ls, cat, echo,
             sleep, id, wget, nslookup, env, stat, httpd, nc, ...); /etc/passwd and /etc/group
             with root (0:0), app (1000:1000) and nobody; /root (0700), /home/app (owned by
             1000:1000), /tmp (mode 1777).  -> a runnable rootfs, user lookup from /etc/passwd,
             directory modes.
    layer 2  /srv/file (regular, "regular file\\n"), /srv/hardlink (a hard link to /srv/file),
             /srv/symlink -> file, /srv/setuid (root-owned, mode 4755), /srv/xattr (with the
             xattr user.berth=test, a PAX SCHILY.xattr header), /srv/removed (deleted again by
             layer 3), /data/one, /data/two, /data/sub/three.  -> every tar entry kind unpacks
             with its link count, mode bits and xattr.
    layer 3  whiteouts: /srv/.wh.removed deletes /srv/removed; /data/.wh..wh..opq hides all of
             layer 2's /data, which then holds only /data/new ("new data\\n").  -> whiteouts are
             applied, not unpacked as files.
    layer 4  /etc/berth-release ("berth-test multi\\n").  -> layer order: the top layer is there.
    config   Env PATH=/usr/local/sbin:...:/bin and FOO=bar, Entrypoint null, Cmd ["sh"],
             WorkingDir /, ExposedPorts 8080/tcp and 53/udp, Volumes /data, Labels, StopSignal
             SIGTERM, history with one entry per layer, rootfs.diff_ids (sha256 of each
             uncompressed tar), os linux and the host's architecture.
library/busybox:latest  the same manifest as multi (same digest), so that `image: busybox`
    resolves through the docker.io mirror in BERTH_TEST_HOSTS_DIR.
berth-test/index:latest  OCI image index over two manifests: linux/<host arch> and one foreign
    platform (linux/arm64 on amd64 hosts, linux/amd64 elsewhere). Each has the busybox layer and
    a layer whose /platform holds the platform string ("linux/amd64\\n"); the foreign one's
    busybox is still the host's (it need not run).  -> platform selection.
berth-test/zstd:latest  OCI manifest whose two layers (busybox; /etc/berth-release "berth-test
    zstd\\n") are application/vnd.oci.image.layer.v1.tar+zstd, made with the zstd CLI.
berth-test/docker:latest  Docker v2 schema 2 manifest, Docker config media type, layers
    application/vnd.docker.image.rootfs.diff.tar.gzip (busybox; /etc/berth-release
    "berth-test docker\\n").  -> Docker media types.
berth-test/dockerlist:latest  Docker manifest list over berth-test/docker's manifest (host
    platform) and a foreign-platform Docker manifest with /platform.  -> Docker lists.
berth-test/big:latest  (only with --big) the busybox layer plus six gzip layers of 16 MiB of
    incompressible SHAKE-256 output each (fixed seeds), ~100 MB to pull: for benchmarks.

The digests file (--out, default $BERTH_TEST_IMAGES) is JSON:

    {"platform": "linux/amd64",
     "images": {"berth-test/multi:latest": {
         "digest": "sha256:...", "mediaType": "...", "size": 1234,
         # for a manifest:
         "config": "sha256:...", "layers": ["sha256:...", ...], "diff_ids": ["sha256:...", ...],
         # for an index or list:
         "manifests": [{"platform": "linux/amd64", "digest": "sha256:...",
                        "config": ..., "layers": [...], "diff_ids": [...]}, ...]}, ...}}
"""

import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request

BUSYBOX = "/bin/busybox"
# Fixed mtime of every tar entry and of the image configs: 2024-01-01T00:00:00Z.
EPOCH = 1704067200
CREATED = "2024-01-01T00:00:00Z"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The applets linked into /bin (only those this busybox has).
APPLETS = """sh ash ls cat echo sleep id wget nslookup env stat ps mkdir rm rmdir cp mv touch ln
readlink realpath grep sed awk head tail wc sort uniq cut tr tee printf test [ true false date
chmod chown chgrp hostname ip ifconfig route ping nc netstat httpd kill killall pidof uname
whoami find xargs md5sum sha256sum df du mount umount dd nproc pwd basename dirname seq yes
usleep timeout sync mktemp which hexdump od vi less more tar gzip gunzip zcat""".split()

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
ALL_MANIFESTS = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])

# dpkg architecture -> OCI (architecture, variant).
DPKG_TO_OCI = {
    "amd64": ("amd64", None),
    "arm64": ("arm64", None),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v5"),
    "i386": ("386", None),
    "ppc64el": ("ppc64le", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
    "mips64el": ("mips64le", None),
}


def log(msg):
    print(f"images: {msg}", file=sys.stderr)


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def host_platform():
    try:
        arch = subprocess.run(["dpkg", "--print-architecture"], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    oci, variant = DPKG_TO_OCI.get(arch, (arch, None))
    plat = {"architecture": oci, "os": "linux"}
    if variant:
        plat["variant"] = variant
    return plat


def platform_str(plat):
    s = f"{plat['os']}/{plat['architecture']}"
    return s + (f"/{plat['variant']}" if plat.get("variant") else "")


# ----- layers -------------------------------------------------------------------------------

def d(name, mode=0o755, uid=0, gid=0):
    return {"name": name, "type": tarfile.DIRTYPE, "mode": mode, "uid": uid, "gid": gid}


def f(name, data, mode=0o644, uid=0, gid=0, xattrs=None):
    if isinstance(data, str):
        data = data.encode()
    return {"name": name, "type": tarfile.REGTYPE, "mode": mode, "uid": uid, "gid": gid,
            "data": data, "xattrs": xattrs or {}}


def sym(name, target):
    return {"name": name, "type": tarfile.SYMTYPE, "mode": 0o777, "linkname": target}


def hard(name, target):
    return {"name": name, "type": tarfile.LNKTYPE, "mode": 0o644, "linkname": target}


def tar_bytes(entries):
    """An uncompressed PAX tar of entries, sorted by name (so a hard link's target, named to
    sort first, precedes it), every owner and mtime fixed."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in sorted(entries, key=lambda e: e["name"]):
            info = tarfile.TarInfo(e["name"])
            info.type = e["type"]
            info.mode = e["mode"]
            info.uid = e.get("uid", 0)
            info.gid = e.get("gid", 0)
            info.uname = info.gname = ""
            info.mtime = EPOCH
            info.linkname = e.get("linkname", "")
            data = e.get("data")
            if e.get("xattrs"):
                info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in e["xattrs"].items()}
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def gzip_bytes(data, level=6):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=level) as gz:
        gz.write(data)
    return buf.getvalue()


def zstd_bytes(data):
    if not shutil.which("zstd"):
        raise SystemExit("images: the zstd CLI is missing (tests/deps.sh installs it)")
    return subprocess.run(["zstd", "-q", "-c", "-3", "--no-progress"], input=data,
                          check=True, capture_output=True).stdout


class Layer:
    def __init__(self, tar, comment, compress="gzip", level=6):
        self.tar = tar
        self.diff_id = sha256(tar)
        self.comment = comment
        self.compress = compress
        self.blob = zstd_bytes(tar) if compress == "zstd" else gzip_bytes(tar, level)
        self.digest = sha256(self.blob)


def busybox_entries():
    with open(BUSYBOX, "rb") as fh:
        binary = fh.read()
    have = set(subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True,
                              text=True).stdout.split())
    entries = [d("bin"), f("bin/busybox", binary, 0o755), d("etc"), d("root", 0o700),
               d("home"), d("home/app", 0o755, 1000, 1000), d("tmp", 0o1777)]
    entries += [sym(f"bin/{a}", "busybox") for a in sorted(set(APPLETS) & have)]
    entries.append(f("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                                   "app:x:1000:1000:app:/home/app:/bin/sh\n"
                                   "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
    entries.append(f("etc/group", "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n"))
    return entries


def release(text):
    return [d("etc"), f("etc/berth-release", text + "\n")]


# ----- configs, manifests, indexes ----------------------------------------------------------

class Image:
    """One manifest: its config and layers, serialised, with everything a push needs."""

    def __init__(self, plat, layers, docker=False, extra_config=None, labels=None):
        self.plat = plat
        self.layers = layers
        cfg = {"Env": [PATH_ENV], "Entrypoint": None, "Cmd": ["sh"], "WorkingDir": "/"}
        if labels:
            cfg["Labels"] = labels
        cfg.update(extra_config or {})
        config = {"created": CREATED, "architecture": plat["architecture"], "os": plat["os"]}
        if plat.get("variant"):
            config["variant"] = plat["variant"]
        config["config"] = cfg
        config["rootfs"] = {"type": "layers", "diff_ids": [l.diff_id for l in layers]}
        config["history"] = [{"created": CREATED, "created_by": l.comment} for l in layers]
        self.config = canonical(config)
        self.config_digest = sha256(self.config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                       "digest": self.config_digest, "size": len(self.config)},
            "layers": [{"mediaType": (DOCKER_GZIP if docker
                                      else OCI_ZSTD if l.compress == "zstd" else OCI_GZIP),
                        "digest": l.digest, "size": len(l.blob)} for l in layers],
        }
        self.media_type = manifest["mediaType"]
        self.body = canonical(manifest)
        self.digest = sha256(self.body)

    def blobs(self):
        return [(self.config_digest, self.config)] + [(l.digest, l.blob) for l in self.layers]

    def describe(self):
        return {"digest": self.digest, "mediaType": self.media_type, "size": len(self.body),
                "config": self.config_digest, "layers": [l.digest for l in self.layers],
                "diff_ids": [l.diff_id for l in self.layers]}


class Index:
    def __init__(self, images, docker=False):
        self.images = images
        self.media_type = DOCKER_LIST if docker else OCI_INDEX
        body = {"schemaVersion": 2, "mediaType": self.media_type, "manifests": [
            {"mediaType": i.media_type, "digest": i.digest, "size": len(i.body),
             "platform": i.plat} for i in images]}
        self.body = canonical(body)
        self.digest = sha256(self.body)

    def describe(self):
        return {"digest": self.digest, "mediaType": self.media_type, "size": len(self.body),
                "manifests": [dict(platform=platform_str(i.plat), **i.describe())
                              for i in self.images]}


def build(big):
    """{"repo:tag": Image or Index}, in push order."""
    host = host_platform()
    foreign = ({"architecture": "arm64", "os": "linux"} if host["architecture"] == "amd64"
               else {"architecture": "amd64", "os": "linux"})
    base_tar = tar_bytes(busybox_entries())
    base = Layer(base_tar, "busybox-static: /bin/busybox, applet links, /etc/passwd, /etc/group")

    srv = [d("srv"), d("data"), d("data/sub")]
    srv += [f("srv/file", "regular file\n"), hard("srv/hardlink", "srv/file"),
            sym("srv/symlink", "file"), f("srv/setuid", "#!/bin/sh\nid\n", 0o4755),
            f("srv/xattr", "has an xattr\n", xattrs={"user.berth": "test"}),
            f("srv/removed", "deleted by a whiteout in the next layer\n"),
            f("data/one", "one\n"), f("data/two", "two\n"), f("data/sub/three", "three\n")]
    layer2 = Layer(tar_bytes(srv), "files: regular, hard link, symlink, setuid, xattr, /data")
    wh = [d("srv"), f("srv/.wh.removed", b"", 0o600), d("data"),
          f("data/.wh..wh..opq", b"", 0o600), f("data/new", "new data\n")]
    layer3 = Layer(tar_bytes(wh), "whiteouts: remove /srv/removed, opaque /data")
    layer4 = Layer(tar_bytes(release("berth-test multi")), "release file")
    multi = Image(host, [base, layer2, layer3, layer4], extra_config={
        "Env": [PATH_ENV, "FOO=bar"],
        "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
        "Volumes": {"/data": {}},
        "StopSignal": "SIGTERM",
    }, labels={"org.opencontainers.image.title": "berth-test/multi", "berth.test": "multi"})

    def platform_image(plat, docker=False):
        tar = tar_bytes([f("platform", platform_str(plat) + "\n")])
        return Image(plat, [base, Layer(tar, f"/platform: {platform_str(plat)}")], docker=docker,
                     labels={"berth.test": "platform"})

    index = Index([platform_image(host), platform_image(foreign)])

    zbase = Layer(base_tar, base.comment, compress="zstd")
    ztop = Layer(tar_bytes(release("berth-test zstd")), "release file", compress="zstd")
    zstd = Image(host, [zbase, ztop], labels={"berth.test": "zstd"})

    docker = Image(host, [base, Layer(tar_bytes(release("berth-test docker")), "release file")],
                   docker=True, labels={"berth.test": "docker"})
    dockerlist = Index([docker, platform_image(foreign, docker=True)], docker=True)

    images = {
        "berth-test/multi:latest": multi,
        "library/busybox:latest": multi,
        "berth-test/index:latest": index,
        "berth-test/zstd:latest": zstd,
        "berth-test/docker:latest": docker,
        "berth-test/dockerlist:latest": dockerlist,
    }
    if big:
        layers = [base]
        for n in range(6):
            data = hashlib.shake_256(f"berth-test big layer {n}".encode()).digest(16 << 20)
            tar = tar_bytes([d("big"), f(f"big/{n}", data)])
            layers.append(Layer(tar, f"16 MiB of pseudo-random data in /big/{n}", level=1))
        images["berth-test/big:latest"] = Image(host, layers, labels={"berth.test": "big"})
    return host, images


# ----- registry client ----------------------------------------------------------------------

class Registry:
    """One registry. With a user and password it sends them as basic auth, and when the registry
    answers 401 with a `Bearer realm=...` challenge (token auth, as the bed's token registry
    does) it fetches a token for the challenge's scope from the realm with those credentials and
    asks again with it."""

    def __init__(self, host, tls=False, ca=None, user=None, password=None):
        self.host = host
        self.base = f"{'https' if tls else 'http'}://{host}"
        self.ctx = ssl.create_default_context(cafile=ca) if tls else None
        self.auth = None
        self.basic = None
        if user is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            self.basic = self.auth = f"Basic {token}"

    def token(self, challenge):
        """A bearer token from the realm of WWW-Authenticate value `challenge`."""
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", None)
        if not realm:
            raise SystemExit(f"images: {self.host}: a Bearer challenge without a realm: {challenge}")
        query = urllib.parse.urlencode({k: v for k, v in params.items()
                                        if k in ("service", "scope")})
        req = urllib.request.Request(f"{realm}?{query}", headers={"Authorization": self.basic})
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=60) as resp:
                answer = json.load(resp)
        except urllib.error.HTTPError as err:
            body = err.read()[:500].decode(errors="replace")
            raise SystemExit(f"images: token from {realm}: {err.code} {err.reason}: {body}") from None
        except urllib.error.URLError as err:
            raise SystemExit(f"images: token from {realm}: {err.reason}") from None
        return answer.get("token") or answer["access_token"]

    def request(self, method, url, data=None, headers=None, ok=(200,), retried=False):
        full = urllib.parse.urljoin(self.base, url)
        req = urllib.request.Request(full, data=data, method=method, headers=headers or {})
        if self.auth:
            req.add_header("Authorization", self.auth)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=60) as resp:
                resp.read()
                return resp.status, resp.headers
        except urllib.error.HTTPError as err:
            challenge = err.headers.get("WWW-Authenticate", "")
            if (err.code == 401 and self.basic and not retried
                    and challenge.lower().startswith("bearer ")):
                err.read()
                self.auth = f"Bearer {self.token(challenge)}"
                return self.request(method, url, data, headers, ok, retried=True)
            if err.code in ok:
                return err.code, err.headers
            body = err.read()[:500].decode(errors="replace")
            raise SystemExit(f"images: {method} {full}: {err.code} {err.reason}: {body}") from None
        except urllib.error.URLError as err:
            raise SystemExit(f"images: {method} {full}: {err.reason}") from None

    def manifest_digest(self, repo, ref):
        status, headers = self.request("HEAD", f"/v2/{repo}/manifests/{ref}",
                                       headers={"Accept": ALL_MANIFESTS}, ok=(200, 404))
        return headers.get("Docker-Content-Digest") if status == 200 else None

    def has_blob(self, repo, digest):
        status, _ = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", ok=(200, 404))
        return status == 200

    def put_blob(self, repo, digest, data):
        if self.has_blob(repo, digest):
            return 0
        _, headers = self.request("POST", f"/v2/{repo}/blobs/uploads/", data=b"", ok=(202,))
        loc = urllib.parse.urljoin(self.base, headers["Location"])
        sep = "&" if "?" in loc else "?"
        self.request("PUT", f"{loc}{sep}digest={urllib.parse.quote(digest)}", data=data,
                     headers={"Content-Type": "application/octet-stream"}, ok=(201,))
        return len(data)

    def put_manifest(self, repo, ref, media_type, body):
        self.request("PUT", f"/v2/{repo}/manifests/{ref}", data=body,
                     headers={"Content-Type": media_type}, ok=(201,))


def push(reg, name, obj):
    """Pushes image or index obj as name ("repo:tag") unless reg already serves its digest;
    returns the number of blob bytes uploaded, or None when skipped."""
    repo, tag = name.rsplit(":", 1)
    if reg.manifest_digest(repo, tag) == obj.digest:
        return None
    sent = 0
    images = obj.images if isinstance(obj, Index) else [obj]
    for img in images:
        for digest, data in img.blobs():
            sent += reg.put_blob(repo, digest, data)
        if isinstance(obj, Index):
            reg.put_manifest(repo, img.digest, img.media_type, img.body)
    reg.put_manifest(repo, tag, obj.media_type, obj.body)
    return sent


def registries_from_env():
    regs = []
    plain = os.environ.get("BERTH_TEST_REGISTRY")
    if plain:
        regs.append(Registry(plain))
    auth = os.environ.get("BERTH_TEST_AUTH_REGISTRY")
    if auth:
        regs.append(Registry(auth, tls=True, ca=os.environ.get("BERTH_TEST_CA"),
                             user=os.environ.get("BERTH_TEST_AUTH_USER"),
                             password=os.environ.get("BERTH_TEST_AUTH_PASSWORD")))
    token = os.environ.get("BERTH_TEST_TOKEN_REGISTRY")
    if token:
        regs.append(Registry(token, user=os.environ.get("BERTH_TEST_AUTH_USER"),
                             password=os.environ.get("BERTH_TEST_AUTH_PASSWORD")))
    if not regs:
        raise SystemExit("images: none of BERTH_TEST_REGISTRY, BERTH_TEST_AUTH_REGISTRY and "
                         "BERTH_TEST_TOKEN_REGISTRY is set")
    return regs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--big", action="store_true", help="also build and push berth-test/big")
    ap.add_argument("--out", default=os.environ.get("BERTH_TEST_IMAGES"),
                    help="the digests file (default $BERTH_TEST_IMAGES; stdout when unset)")
    args = ap.parse_args()

    start = time.monotonic()
    regs = registries_from_env()
    host, images = build(args.big)
    for reg in regs:
        pushed = []
        for name, obj in images.items():
            sent = push(reg, name, obj)
            if sent is not None:
                pushed.append(f"{name} ({sent // 1024} KiB)")
        if pushed:
            log(f"pushed to {reg.host}: {', '.join(pushed)}")
        else:
            log(f"{reg.host} already has all {len(images)} images")

    described = {name: obj.describe() for name, obj in images.items()}
    # A big image pushed by an earlier --big run stays listed while every registry still has it.
    if not args.big and args.out and os.path.exists(args.out):
        try:
            with open(args.out) as fh:
                old = json.load(fh).get("images", {}).get("berth-test/big:latest")
        except (OSError, ValueError):
            old = None
        if old and all(r.manifest_digest("berth-test/big", "latest") == old["digest"]
                       for r in regs):
            described["berth-test/big:latest"] = old
    doc = json.dumps({"platform": platform_str(host), "images": described}, indent=2) + "\n"
    if args.out:
        tmp = f"{args.out}.tmp"
        with open(tmp, "w") as fh:
            fh.write(doc)
        os.replace(tmp, args.out)
    else:
        sys.stdout.write(doc)
    log(f"done in {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
