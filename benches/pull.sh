#!/usr/bin/env bash
# Benchmarks `berth pull` beside `ctr images pull` of the same image on the same containerd:
# berth-test/big:latest (~100 MB: busybox plus six 16 MiB gzip layers of incompressible data,
# 7 layers) from the test bed's plain-HTTP registry, fetched and unpacked into overlayfs by both.
#   cold  nothing of the image in containerd: before every run both bench namespaces are removed
#         (images rm --sync, leftovers removed, namespace rm) and the layer blobs are checked
#         gone from containerd's content root, since containerd shares blobs between namespaces
#         on disk and would skip their download;
#   warm  the image already stored: a second pull of the same thing.
# Then one cold `berth pull` and one cold `ctr images pull` under /usr/bin/time -v: client CPU
# time and peak RSS (peak RSS far below the image size = layers are streamed, never whole in
# memory).
#
# Needs, as a user who may talk to containerd's socket (root for the test bed):
#   - the test bed up, in this shell:  eval "$(tests/testbed.sh up)"
#     (BERTH_TEST_CONTAINERD_ADDRESS, BERTH_TEST_REGISTRY); the big image is pushed to its
#     registry with tests/images.py --big when missing;
#   - ctr, hyperfine (apt-get install hyperfine), python3, GNU time (apt-get install time),
#     cargo (berth is built in release mode unless BERTH names a binary).
#   usage: benches/pull.sh
#   env:   BERTH=path  BENCH_COLD_RUNS=N (default 5)  BENCH_WARM_RUNS=N (default 10)
#          BENCH_RESULTS=dir (default benches/results)
# Writes pull.md (tables and summary, small, kept in git) and pull-{cold,warm}.json (hyperfine's
# raw runs, git-ignored) to the results directory; prints the summary. The bench namespaces
# (berth-bench-pull-berth, berth-bench-pull-ctr) are removed on exit, whatever happens.
# Other namespaces are left alone: a layer that one of them holds (the busybox layer is shared
# with the bed's test images) is not downloaded by either tool, which the script reports.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
self="$root/benches/pull.sh"

NS_BERTH=berth-bench-pull-berth
NS_CTR=berth-bench-pull-ctr
REPO=berth-test/big
TAG=latest

die() { echo "pull.sh: $*" >&2; exit 1; }
ctr_() { ctr --address "$BERTH_TEST_CONTAINERD_ADDRESS" "$@"; }

# The directory of containerd's content store (blobs/sha256/<hex>), as the content plugin exports it.
content_root() {
  ctr_ plugins ls --detailed | awk '
    /^Type:/ { t = $2 } /^ID:/ { id = $2 }
    t == "io.containerd.content.v1" && id == "content" && $1 == "root" { print $2; exit }'
}

# Removes namespace $1 and everything in it, collected synchronously.
wipe_ns() {
  local ns=$1 l imgs keys k
  ctr_ namespaces ls -q | grep -xF "$ns" >/dev/null || return 0
  for l in $(ctr_ -n "$ns" leases ls -q); do ctr_ -n "$ns" leases rm "$l" >/dev/null; done
  imgs=$(ctr_ -n "$ns" images ls -q)
  # shellcheck disable=SC2086
  [ -z "$imgs" ] || ctr_ -n "$ns" images rm --sync $imgs >/dev/null
  # leftovers of an interrupted pull: snapshots (leaves first, so retry), blobs
  for _ in $(seq 20); do
    keys=$(ctr_ -n "$ns" snapshots ls | awk 'NR > 1 { print $1 }')
    [ -n "$keys" ] || break
    for k in $keys; do ctr_ -n "$ns" snapshots rm "$k" >/dev/null 2>&1 || true; done
  done
  for k in $(ctr_ -n "$ns" content ls -q); do ctr_ -n "$ns" content rm "$k" >/dev/null || true; done
  # a synchronous garbage collection, so the blob files are gone from disk, not only unlisted
  ctr_ -n "$ns" leases create --id berth-bench-gc >/dev/null
  ctr_ -n "$ns" leases rm --sync berth-bench-gc >/dev/null
  ctr_ namespaces rm "$ns" >/dev/null
}

# The namespaces whose content store lists blob $1, on one line.
holders() {
  local n
  for n in $(ctr_ namespaces ls -q); do
    if ctr_ -n "$n" content ls -q | grep -xF "$1" >/dev/null; then printf '%s ' "$n"; fi
  done
}

# Fails when a layer blob is still on disk though no namespace lists it (a cold run would then
# not download it).
check_cold() {
  local croot=$1 d
  for d in $LAYERS; do
    [ -e "$croot/blobs/sha256/${d#sha256:}" ] || continue
    [ -n "$(holders "$d")" ] || die "layer $d is still on disk after the wipe: a cold run would not download it"
  done
}

wipe_all() {
  wipe_ns "$NS_BERTH"
  wipe_ns "$NS_CTR"
  if ctr_ namespaces ls -q | grep -xE "$NS_BERTH|$NS_CTR" >/dev/null; then
    die "a bench namespace survived the wipe"
  fi
  check_cold "$CONTENT_ROOT"
}

# hyperfine's --prepare calls back into this script
if [ "${1:-}" = "--wipe" ]; then
  CONTENT_ROOT=$2
  LAYERS=$3
  wipe_all
  exit 0
fi

# ---- checks ---------------------------------------------------------------------------------
for tool in ctr hyperfine python3; do
  command -v "$tool" >/dev/null 2>&1 || die "needs $tool (apt-get install ${tool/ctr/containerd})"
done
[ -x /usr/bin/time ] || die "needs GNU time at /usr/bin/time (apt-get install time)"
{ [ -n "${BERTH_TEST_CONTAINERD_ADDRESS:-}" ] && [ -n "${BERTH_TEST_REGISTRY:-}" ]; } ||
  die "no test bed in this shell: run  eval \"\$(tests/testbed.sh up)\"  first"
timeout 5 ctr --address "$BERTH_TEST_CONTAINERD_ADDRESS" version >/dev/null 2>&1 ||
  die "containerd does not answer at $BERTH_TEST_CONTAINERD_ADDRESS (tests/testbed.sh up)"

REF="$BERTH_TEST_REGISTRY/$REPO:$TAG"
cold_runs="${BENCH_COLD_RUNS:-5}"
warm_runs="${BENCH_WARM_RUNS:-10}"
results="${BENCH_RESULTS:-$root/benches/results}"
mkdir -p "$results"

# Layer digests and total size of the image's manifest, or nothing when the registry lacks it.
manifest_layers() {
  python3 - "$BERTH_TEST_REGISTRY" "$REPO" "$TAG" <<'EOF'
import json, sys, urllib.request, urllib.error
reg, repo, tag = sys.argv[1:]
req = urllib.request.Request(f"http://{reg}/v2/{repo}/manifests/{tag}", headers={"Accept": ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json"])})
try:
    m = json.load(urllib.request.urlopen(req, timeout=10))
except urllib.error.HTTPError as e:
    if e.code == 404:
        sys.exit(0)
    raise
print(sum(l["size"] for l in m["layers"]), *(l["digest"] for l in m["layers"]))
EOF
}
info=$(manifest_layers) || die "the registry at $BERTH_TEST_REGISTRY does not answer"
if [ -z "$info" ]; then
  echo "pushing $REPO:$TAG (tests/images.py --big)..." >&2
  python3 "$root/tests/images.py" --big --out /dev/null >&2
  info=$(manifest_layers)
  [ -n "$info" ] || die "tests/images.py --big did not push $REF"
fi
read -r IMAGE_BYTES LAYERS <<<"$info"
nlayers=$(wc -w <<<"$LAYERS")
CONTENT_ROOT=$(content_root)
[ -d "$CONTENT_ROOT/blobs" ] ||
  die "cannot see containerd's content store ($CONTENT_ROOT): run as the user containerd runs as"

if [ -z "${BERTH:-}" ]; then
  (cd "$root" && cargo build --release --locked --quiet)
  BERTH="${CARGO_TARGET_DIR:-$root/target}/release/berth"
  case $BERTH in /*) ;; *) BERTH="$root/$BERTH" ;; esac
fi
[ -x "$BERTH" ] || die "no berth binary at $BERTH"

work="$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-pull.XXXXXX")"
cleanup() {
  wipe_ns "$NS_BERTH" || true
  wipe_ns "$NS_CTR" || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
printf 'services:\n  big:\n    image: %s\n' "$REF" >"$work/compose.yaml"

berth_cmd="$BERTH --address $BERTH_TEST_CONTAINERD_ADDRESS --namespace $NS_BERTH --progress quiet -f $work/compose.yaml pull"
# ctr 1.6+ `images pull` fetches, then unpacks into the default snapshotter (overlayfs), as berth does
ctr_cmd="ctr --address $BERTH_TEST_CONTAINERD_ADDRESS -n $NS_CTR images pull --plain-http $REF"
prepare="$self --wipe $CONTENT_ROOT '$LAYERS'"

# ---- sanity: both pull the whole image, cold ------------------------------------------------
wipe_all
for d in $LAYERS; do
  held=$(holders "$d")
  [ -z "$held" ] || echo "note: layer ${d:7:12} is held by namespace(s) ${held% }: neither tool downloads it" >&2
done
$berth_cmd >/dev/null 2>"$work/err" || die "berth pull failed: $(tail -n 3 "$work/err")"
$ctr_cmd >/dev/null 2>"$work/err" || die "ctr images pull failed: $(tail -n 3 "$work/err")"
for ns in "$NS_BERTH" "$NS_CTR"; do
  ctr_ -n "$ns" images ls -q | grep -xF "$REF" >/dev/null || die "no image $REF in namespace $ns after its pull"
  snaps=$(ctr_ -n "$ns" snapshots ls | awk 'NR > 1' | wc -l)
  [ "$snaps" -ge "$nlayers" ] || die "namespace $ns has $snaps snapshots after the pull, expected $nlayers"
done

# ---- cold -----------------------------------------------------------------------------------
echo "### cold pull of $REF ($((IMAGE_BYTES / 1000000)) MB, $nlayers layers), $cold_runs runs"
hyperfine --style basic -N --runs "$cold_runs" --prepare "$prepare" \
  --export-json "$results/pull-cold.json" --export-markdown "$work/cold.md" \
  -n "berth pull" "$berth_cmd" -n "ctr images pull" "$ctr_cmd"

# ---- warm -----------------------------------------------------------------------------------
wipe_all
$berth_cmd >/dev/null 2>&1
$ctr_cmd >/dev/null 2>&1
echo
echo "### warm pull of $REF (already stored), $warm_runs runs"
hyperfine --style basic -N --warmup 1 --runs "$warm_runs" \
  --export-json "$results/pull-warm.json" --export-markdown "$work/warm.md" \
  -n "berth pull" "$berth_cmd" -n "ctr images pull" "$ctr_cmd"

# ---- CPU and peak RSS of one cold pull each -------------------------------------------------
usage() { # name command...
  local name=$1
  shift
  wipe_all
  /usr/bin/time -v -o "$work/$name.time" "$@" >/dev/null 2>&1 || die "$name failed under /usr/bin/time"
  awk -v name="$name" -F': ' '
    /User time/ { u = $2 } /System time/ { s = $2 } /Maximum resident/ { r = $2 }
    /Elapsed \(wall/ { w = $2 }
    END { printf "| %s | %s | %.2f | %.2f | %.1f |\n", name, w, u, s, r / 1024 }' "$work/$name.time"
}
{
  echo "| cold, one run | wall (m:ss) | user CPU (s) | system CPU (s) | peak RSS (MiB) |"
  echo "|:---|---:|---:|---:|---:|"
  # shellcheck disable=SC2086
  usage "berth pull" $berth_cmd
  # shellcheck disable=SC2086
  usage "ctr images pull" $ctr_cmd
} >"$work/usage.md"

# ---- summary --------------------------------------------------------------------------------
python3 - "$results" "$work" "$IMAGE_BYTES" "$nlayers" "$REF" "$("$BERTH" --version 2>/dev/null || echo berth)" \
  "$(ctr --address "$BERTH_TEST_CONTAINERD_ADDRESS" version | awk '/Server:/ { s = 1 } s && /Version:/ { print $2; exit }')" \
  "$(nproc)" >"$results/pull.md" <<'EOF'
import json, math, sys
results, work, size, nlayers, ref, berth_version, containerd_version, cpus = sys.argv[1:]
out = [f"# Pull benchmark: `berth pull` vs `ctr images pull`", "",
       f"Image {ref}: {int(size) / 1e6:.1f} MB compressed, {nlayers} layers, fetched from a plain-HTTP",
       f"registry on loopback and unpacked into overlayfs; {berth_version}, containerd {containerd_version},",
       f"{cpus} CPUs. Made by benches/pull.sh.", ""]
for kind in ("cold", "warm"):
    r = {x["command"]: x for x in json.load(open(f"{results}/pull-{kind}.json"))["results"]}
    b, c = r["berth pull"], r["ctr images pull"]
    ratio = b["mean"] / c["mean"]
    # σ of a quotient of independent means, first order
    rs = ratio * math.hypot(b["stddev"] / b["mean"], c["stddev"] / c["mean"])
    out += [f"## {kind}", "", open(f"{work}/{kind}.md").read().strip(), "",
            f"berth / ctr = **{ratio:.2f} ± {rs:.2f}** ({len(b['times'])} runs each)", ""]
out += ["## client CPU and memory, one cold pull", "", open(f"{work}/usage.md").read().strip(), "",
        f"(image size {int(size) / 2**20:.1f} MiB; containerd's own CPU time is not counted)", ""]
print("\n".join(out))
EOF
echo
cat "$results/pull.md"
