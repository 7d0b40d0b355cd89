//! `berth pull` and `berth images` as a user runs them: the real binary in a scratch project
//! directory, against the test bed's containerd and registries (tests/testbed.sh; the images are
//! described in tests/images.py). Each test works in a containerd namespace of its own, and its
//! guard deletes everything in it and fails the test when containerd's collector leaves anything
//! behind. Effects are checked with `ctr`, containerd's own client, not with berth.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: failing loudly is the point

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Where the bed is: all of tests/testbed.sh's exports.
struct Bed {
    address: PathBuf,
    registry: String,
    auth_registry: String,
    /// The registry behind the token server (Docker Hub's Bearer flow).
    token_registry: String,
    user: String,
    password: String,
    hosts_dir: String,
    images: Value,
}

fn var(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => common::missing(&format!("{name} is not set")),
    }
}

fn bed() -> Option<Bed> {
    let address = common::containerd_address()?;
    let registry = common::registry()?;
    let images_file = var("BERTH_TEST_IMAGES")?;
    let images = serde_json::from_str(
        &fs::read_to_string(&images_file).unwrap_or_else(|e| panic!("{images_file}: {e}")),
    )
    .unwrap();
    Some(Bed {
        address,
        registry,
        auth_registry: var("BERTH_TEST_AUTH_REGISTRY")?,
        token_registry: var("BERTH_TEST_TOKEN_REGISTRY")?,
        user: var("BERTH_TEST_AUTH_USER")?,
        password: var("BERTH_TEST_AUTH_PASSWORD")?,
        hosts_dir: var("BERTH_TEST_HOSTS_DIR")?,
        images,
    })
}

impl Bed {
    /// The seeded image `name` ("berth-test/multi:latest") as images.json describes it.
    fn image(&self, name: &str) -> &Value {
        let v = &self.images["images"][name];
        assert!(v.is_object(), "{name} is not in BERTH_TEST_IMAGES");
        v
    }

    /// The host's platform, as the bed built the images for it ("linux/amd64").
    fn platform(&self) -> String {
        self.images["platform"].as_str().unwrap().to_owned()
    }
}

/// One test's world: a namespace, a project directory, and the cleanup that proves nothing is
/// left behind.
struct Case {
    bed: Bed,
    ns: String,
    dir: PathBuf,
    /// An empty DOCKER_CONFIG, so the host's credentials never take part.
    docker_config: PathBuf,
}

impl Case {
    fn new(name: &str) -> Option<Case> {
        let bed = bed()?;
        let ns = format!("berth-test-pull-{name}-{}", std::process::id());
        let dir = common::scratch_path("project");
        fs::create_dir_all(&dir).unwrap();
        let docker_config = common::scratch_path("docker-config");
        fs::create_dir_all(&docker_config).unwrap();
        let case = Case {
            bed,
            ns,
            dir,
            docker_config,
        };
        // A namespace left by an earlier, killed run would make the checks lie.
        case.clean();
        Some(case)
    }

    fn compose(&self, yaml: &str) -> &Self {
        fs::write(self.dir.join("compose.yaml"), yaml).unwrap();
        self
    }

    /// Runs berth in the project dir against this case's namespace, with plain progress.
    fn berth(&self, args: &[&str]) -> Output {
        self.berth_env(args, &[])
    }

    fn berth_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.current_dir(&self.dir)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &self.dir)
            .env("DOCKER_CONFIG", &self.docker_config)
            .arg("--address")
            .arg(&self.bed.address)
            .args(["--namespace", &self.ns])
            .args(["--hosts-dir", &self.bed.hosts_dir])
            .args(["--progress", "plain"])
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run berth")
    }

    fn ctr_output(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(&self.bed.address)
            .args(["-n", &self.ns])
            .args(args)
            .output()
            .expect("run ctr")
    }

    /// `ctr` in this namespace; must succeed; returns stdout.
    fn ctr(&self, args: &[&str]) -> String {
        let o = self.ctr_output(args);
        assert!(o.status.success(), "ctr {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// The non-empty lines of `ctr <what> ls -q`.
    fn ids(&self, what: &str) -> Vec<String> {
        self.ctr(&[what, "ls", "-q"])
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn snapshots(&self) -> Vec<String> {
        self.ctr(&["snapshots", "ls"])
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Ingests in progress (`ctr content active`), without the header.
    fn active_ingests(&self) -> Vec<String> {
        self.ctr(&["content", "active"])
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The image record names in the namespace.
    fn images(&self) -> Vec<String> {
        self.ids("images")
    }

    /// `ctr images check` for `name`: (status column, unpacked column).
    /// (`ctr images check` knows only the host's platform.)
    fn check(&self, name: &str) -> (String, String) {
        let out = self.ctr(&["images", "check", &format!("name=={name}")]);
        let row = out
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in `ctr images check`:\n{out}"));
        // REF TYPE DIGEST STATUS SIZE UNPACKED, STATUS as `complete (5/5)`, SIZE as `a KiB/b KiB`
        let cols: Vec<&str> = row.split_whitespace().collect();
        (cols[3].to_owned(), cols.last().unwrap().to_string())
    }

    /// Runs `sh -c script` in a container of image `name` with `ctr run --rm`; returns stdout.
    fn run_in(&self, name: &str, script: &str) -> String {
        let id = format!("{}-run", self.ns);
        let o = self.ctr_output(&["run", "--rm", name, &id, "sh", "-c", script]);
        assert!(
            o.status.success(),
            "ctr run {name} {script:?}: {}",
            text(&o)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Every content blob's digest with its labels.
    fn content(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let out = self.ctr(&["content", "ls"]);
        out.lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let cols: Vec<&str> = l.split('\t').collect();
                let labels = cols
                    .last()
                    .unwrap()
                    .split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .collect();
                (cols[0].trim().to_owned(), labels)
            })
            .collect()
    }

    /// Deletes tasks, containers, leases and images, then waits for the collector to take the
    /// content, snapshots and ingests. Returns what is still there after ~10 s.
    fn clean(&self) -> Vec<String> {
        let ns_exists = {
            let o = Command::new("ctr")
                .arg("--address")
                .arg(&self.bed.address)
                .args(["namespaces", "ls", "-q"])
                .output()
                .expect("run ctr");
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == self.ns)
        };
        if !ns_exists {
            return Vec::new();
        }
        for t in self.ids("tasks") {
            let _ = self.ctr_output(&["tasks", "kill", "-s", "SIGKILL", &t]);
            let _ = self.ctr_output(&["tasks", "rm", "-f", &t]);
        }
        for c in self.ids("containers") {
            let _ = self.ctr_output(&["containers", "rm", &c]);
        }
        for l in self.ids("leases") {
            let _ = self.ctr_output(&["leases", "rm", &l]);
        }
        let images = self.images();
        if !images.is_empty() {
            let mut args = vec!["images", "rm", "--sync"];
            args.extend(images.iter().map(String::as_str));
            let _ = self.ctr_output(&args);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut nudged = false;
        loop {
            let mut left = Vec::new();
            left.extend(
                self.ids("containers")
                    .into_iter()
                    .map(|c| format!("container {c}")),
            );
            left.extend(self.ids("leases").into_iter().map(|l| format!("lease {l}")));
            left.extend(self.images().into_iter().map(|i| format!("image {i}")));
            left.extend(
                self.ids("content")
                    .into_iter()
                    .map(|c| format!("content {c}")),
            );
            left.extend(
                self.snapshots()
                    .into_iter()
                    .map(|s| format!("snapshot {s}")),
            );
            left.extend(
                self.active_ingests()
                    .into_iter()
                    .map(|i| format!("ingest {i}")),
            );
            if left.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                return left;
            }
            if !nudged {
                // A synchronous collection: a throwaway lease deleted with --sync.
                let nudge = format!("{}-gc", self.ns);
                let _ = self.ctr_output(&["leases", "create", "--id", &nudge]);
                let _ = self.ctr_output(&["leases", "rm", "--sync", &nudge]);
                nudged = true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let o = Command::new("ctr")
            .arg("--address")
            .arg(&self.bed.address)
            .args(["namespaces", "rm", &self.ns])
            .output()
            .expect("run ctr");
        if !o.status.success() {
            return vec![format!("namespace {}: {}", self.ns, text(&o))];
        }
        Vec::new()
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let left = self.clean();
        let _ = fs::remove_dir_all(self.dir.parent().unwrap());
        let _ = fs::remove_dir_all(self.docker_config.parent().unwrap());
        if !left.is_empty() && !std::thread::panicking() {
            panic!(
                "namespace {} still holds, after cleanup and gc:\n  {}",
                self.ns,
                left.join("\n  ")
            );
        }
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Both streams and the exit status, for assertion messages.
fn text(o: &Output) -> String {
    format!(
        "{}\n--- stdout:\n{}--- stderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    )
}

fn assert_ok(o: &Output) {
    assert!(o.status.success(), "berth failed: {}", text(o));
}

fn assert_exit(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "{}", text(o));
}

/// A one-service project pulling `image`.
fn one_service(image: &str) -> String {
    format!("services:\n  web:\n    image: {image}\n")
}

/// The host path of `path` (relative to the root) among the lowerdirs of a read-only view of
/// snapshot `chain`. The view is made and its mounts printed in one call: a view under no lease
/// is garbage, and a collection another test triggers may take it at any moment.
fn host_path_in_snapshot(case: &Case, chain: &str, path: &str) -> Option<PathBuf> {
    let view = format!("{}-view", case.ns);
    let mounts: Value =
        serde_json::from_str(&case.ctr(&["snapshots", "view", "--mounts", &view, chain])).unwrap();
    let _ = case.ctr_output(&["snapshots", "rm", &view]);
    let options = mounts[0]["Options"].as_array().expect("mount options");
    options
        .iter()
        .filter_map(|o| o.as_str()?.strip_prefix("lowerdir="))
        .flat_map(|dirs| dirs.split(':'))
        .map(|d| Path::new(d).join(path))
        .find(|p| p.exists())
}

/// `getxattr(2)` through python3 (the bed needs python3 anyway: tests/images.py).
fn getxattr(path: &Path, name: &str) -> String {
    let o = Command::new("python3")
        .args([
            "-c",
            "import os,sys; sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2]).decode())",
        ])
        .arg(path)
        .arg(name)
        .output()
        .expect("run python3");
    assert!(
        o.status.success(),
        "getxattr {}: {}",
        path.display(),
        text(&o)
    );
    stdout(&o)
}

/// containerd's chain IDs of a list of diff IDs (the snapshot keys of committed layers).
fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    use sha2::Digest as _;
    let mut out: Vec<String> = Vec::new();
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => format!(
                "sha256:{:x}",
                sha2::Sha256::digest(format!("{prev} {d}").as_bytes())
            ),
        };
        out.push(next);
    }
    out
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn multi_layer_image_unpacks_every_entry_kind() {
    let Some(case) = Case::new("multi") else {
        return;
    };
    let name = format!("{}/berth-test/multi:latest", case.bed.registry);
    case.compose(&one_service(&format!(
        "{}/berth-test/multi",
        case.bed.registry
    )));
    let o = case.berth(&["pull"]);
    assert_ok(&o);
    assert!(stderr(&o).contains(" web Pulled"), "{}", text(&o));

    assert_eq!(case.images(), vec![name.clone()]);
    let (status, unpacked) = case.check(&name);
    assert_eq!(status, "complete", "ctr images check");
    assert_eq!(unpacked, "true", "ctr images check: unpacked");

    let out = case.run_in(
        &name,
        "ls -A /data; echo --; \
         if [ -e /srv/removed ]; then echo removed-present; else echo removed-absent; fi; \
         stat -c '%i %h' /srv/file; stat -c '%i %h' /srv/hardlink; \
         stat -c '%A %u' /srv/setuid; cat /etc/berth-release; readlink /srv/symlink",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "new",
        "/data must hold only layer 3's file: {out}"
    );
    assert_eq!(lines[1], "--", "/data must hold only layer 3's file: {out}");
    assert_eq!(lines[2], "removed-absent", "{out}");
    assert_eq!(lines[3], lines[4], "a hard link shares its inode: {out}");
    assert!(lines[3].ends_with(" 2"), "link count 2: {out}");
    assert_eq!(lines[5], "-rwsr-xr-x 0", "{out}");
    assert_eq!(lines[6], "berth-test multi", "{out}");
    assert_eq!(lines[7], "file", "{out}");

    // The xattr, read from the snapshot on the host (inside the container, busybox has no
    // getfattr): layer 2's snapshot holds /srv/xattr.
    let diff_ids = strings(&case.bed.image("berth-test/multi:latest")["diff_ids"]);
    let top = chain_ids(&diff_ids).pop().unwrap();
    let path = host_path_in_snapshot(&case, &top, "srv/xattr")
        .expect("/srv/xattr in no lowerdir of the image's snapshot");
    assert_eq!(getxattr(&path, "user.berth"), "test");
}

#[test]
fn content_carries_gc_labels_and_no_lease_is_left() {
    let Some(case) = Case::new("gc") else {
        return;
    };
    let img = case.bed.image("berth-test/multi:latest");
    case.compose(&one_service(&format!(
        "{}/berth-test/multi",
        case.bed.registry
    )));
    assert_ok(&case.berth(&["pull"]));

    let content = case.content();
    let manifest = &content[img["digest"].as_str().unwrap()];
    let config = img["config"].as_str().unwrap();
    assert_eq!(
        manifest
            .get("containerd.io/gc.ref.content.config")
            .map(String::as_str),
        Some(config),
        "{manifest:?}"
    );
    let layers = strings(&img["layers"]);
    let diff_ids = strings(&img["diff_ids"]);
    for (i, layer) in layers.iter().enumerate() {
        assert_eq!(
            manifest.get(&format!("containerd.io/gc.ref.content.l.{i}")),
            Some(layer),
            "{manifest:?}"
        );
        assert_eq!(
            content[layer].get("containerd.io/uncompressed"),
            Some(&diff_ids[i]),
            "layer {i}"
        );
        assert_eq!(
            content[layer]
                .get(&format!(
                    "containerd.io/distribution.source.{}",
                    case.bed.registry
                ))
                .map(String::as_str),
            Some("berth-test/multi")
        );
    }
    let top = chain_ids(&diff_ids).pop().unwrap();
    assert_eq!(
        content[config].get("containerd.io/gc.ref.snapshot.overlayfs"),
        Some(&top),
        "{:?}",
        content[config]
    );
    assert_eq!(content.len(), 2 + layers.len(), "{content:#?}");
    assert!(
        case.ids("leases").is_empty(),
        "a pull that succeeded leaves no lease"
    );
    assert!(case.active_ingests().is_empty());
    let snapshots = case.snapshots();
    assert_eq!(snapshots.len(), layers.len(), "{snapshots:?}");
    for chain in chain_ids(&diff_ids) {
        assert!(
            snapshots
                .iter()
                .any(|s| s.starts_with(&format!("{chain} "))),
            "no committed snapshot {chain}: {snapshots:?}"
        );
    }
}

#[test]
fn an_index_yields_the_host_platform_or_the_one_asked_for() {
    let Some(case) = Case::new("index") else {
        return;
    };
    let reg = case.bed.registry.clone();
    let name = format!("{reg}/berth-test/index:latest");
    let img = case.bed.image("berth-test/index:latest");
    let host = case.bed.platform();
    let manifests = img["manifests"].as_array().unwrap();
    let for_platform = |p: &str| {
        manifests
            .iter()
            .find(|m| m["platform"] == p)
            .unwrap_or_else(|| panic!("no {p} manifest in {img}"))
    };
    let native = for_platform(&host);
    let foreign = manifests
        .iter()
        .find(|m| m["platform"] != host.as_str())
        .unwrap();
    let foreign_platform = foreign["platform"].as_str().unwrap();

    case.compose(&one_service(&name));
    assert_ok(&case.berth(&["pull"]));
    assert_eq!(case.images(), vec![name.clone()]);
    assert_eq!(case.check(&name), ("complete".into(), "true".into()));
    assert_eq!(case.run_in(&name, "cat /platform"), format!("{host}\n"));
    let content = case.content();
    assert!(content.contains_key(native["config"].as_str().unwrap()));
    assert!(!content.contains_key(foreign["config"].as_str().unwrap()));
    // The index keeps the child it needs from the collector.
    let index = &content[img["digest"].as_str().unwrap()];
    assert!(
        index
            .values()
            .any(|v| v == native["digest"].as_str().unwrap()),
        "{index:?}"
    );

    // `platform:` picks the other manifest, into a namespace of its own.
    let Some(other) = Case::new("index-foreign") else {
        return;
    };
    other.compose(&format!(
        "services:\n  web:\n    image: {name}\n    platform: {foreign_platform}\n"
    ));
    assert_ok(&other.berth(&["pull"]));
    assert_eq!(other.images(), vec![name.clone()]);
    // For the host's platform (all `ctr images check` knows) the host's manifest is missing:
    // only the foreign manifest's blobs were fetched.
    let o = other.ctr_output(&["images", "check", &format!("name=={name}")]);
    let native_digest = native["digest"].as_str().unwrap();
    assert!(
        stderr(&o).contains(&format!("{native_digest}: not found")),
        "{}",
        text(&o)
    );
    let content = other.content();
    assert!(content.contains_key(foreign["config"].as_str().unwrap()));
    assert!(!content.contains_key(native["config"].as_str().unwrap()));
    for layer in strings(&foreign["layers"]) {
        assert!(content.contains_key(&layer), "{layer} missing");
    }

    // A platform the index lacks fails as compose's pull fails, and stores no record.
    let Some(none) = Case::new("index-none") else {
        return;
    };
    none.compose(&format!(
        "services:\n  web:\n    image: {name}\n    platform: linux/s390x\n"
    ));
    let o = none.berth(&["pull"]);
    assert_exit(&o, 18);
    assert!(
        stderr(&o).contains("no matching manifest for linux/s390x"),
        "{}",
        text(&o)
    );
    assert!(none.images().is_empty());
}

#[test]
fn zstd_and_docker_media_types_pull_and_run() {
    let Some(case) = Case::new("mediatypes") else {
        return;
    };
    let reg = case.bed.registry.clone();
    case.compose(&format!(
        "services:\n  zstd:\n    image: {reg}/berth-test/zstd\n  \
         docker:\n    image: {reg}/berth-test/docker\n  \
         dockerlist:\n    image: {reg}/berth-test/dockerlist\n"
    ));
    let o = case.berth(&["pull"]);
    assert_ok(&o);
    for (image, release) in [
        ("zstd", "berth-test zstd"),
        ("docker", "berth-test docker"),
        ("dockerlist", "berth-test docker"),
    ] {
        let name = format!("{reg}/berth-test/{image}:latest");
        let (status, unpacked) = case.check(&name);
        assert_eq!(
            (status.as_str(), unpacked.as_str()),
            ("complete", "true"),
            "{name}"
        );
        assert_eq!(
            case.run_in(&name, "cat /etc/berth-release"),
            format!("{release}\n"),
            "{name}"
        );
        let digest = case.bed.image(&format!("berth-test/{image}:latest"))["digest"]
            .as_str()
            .unwrap()
            .to_owned();
        let listed = case.ctr(&["images", "ls", &format!("name=={name}")]);
        assert!(
            listed.contains(&digest),
            "{name} should point at {digest}:\n{listed}"
        );
    }
}

#[test]
fn a_docker_hub_name_goes_through_the_hosts_dir_mirror() {
    let Some(case) = Case::new("busybox") else {
        return;
    };
    case.compose(&one_service("busybox"));
    assert_ok(&case.berth(&["pull"]));
    let name = "docker.io/library/busybox:latest";
    assert_eq!(case.images(), vec![name.to_owned()]);
    let digest = case.bed.image("library/busybox:latest")["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(case
        .ctr(&["images", "ls", &format!("name=={name}")])
        .contains(&digest));
    assert_eq!(case.check(name).0, "complete");
    // containerd records where the blobs came from under the image's own domain.
    let content = case.content();
    assert_eq!(
        content[&digest]
            .get("containerd.io/distribution.source.docker.io")
            .map(String::as_str),
        Some("library/busybox")
    );
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_as_docker_writes_it() {
    assert_eq!(base64(b"berth:pw"), "YmVydGg6cHc=");
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b"abc"), "YWJj");
}

#[test]
fn the_auth_registry_takes_docker_config_credentials() {
    let Some(case) = Case::new("auth") else {
        return;
    };
    let reg = case.bed.auth_registry.clone();
    let name = format!("{reg}/berth-test/multi:latest");
    case.compose(&one_service(&name));
    let write_auth = |password: &str| write_basic_auth(&case, &reg, &case.bed.user, password);

    // No credentials, then wrong ones: denied, named, nothing stored.
    for password in [None, Some("not-the-password")] {
        if let Some(p) = password {
            write_auth(p);
        }
        let o = case.berth(&["pull"]);
        assert_exit(&o, 18);
        let err = stderr(&o);
        assert!(
            err.contains(&format!("{reg}/berth-test/multi")),
            "{}",
            text(&o)
        );
        assert!(
            err.contains("denied") && err.contains("401"),
            "{}",
            text(&o)
        );
        assert!(err.contains(" web Error"), "{}", text(&o));
        assert!(case.images().is_empty(), "{:?}", case.images());
    }

    write_auth(&case.bed.password.clone());
    let o = case.berth(&["pull"]);
    assert_ok(&o);
    assert_eq!(case.images(), vec![name.clone()]);
    assert_eq!(case.check(&name), ("complete".into(), "true".into()));
}

/// Writes `$DOCKER_CONFIG/config.json` for `case` with basic credentials for `registry`.
fn write_basic_auth(case: &Case, registry: &str, user: &str, password: &str) {
    let auth = base64(format!("{user}:{password}").as_bytes());
    fs::write(
        case.docker_config.join("config.json"),
        format!(r#"{{"auths":{{"{registry}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
}

/// Docker Hub's flow, against the bed's token registry: the registry answers 401 with
/// `WWW-Authenticate: Bearer realm=...,service=...,scope=...`; berth fetches a token from the
/// realm (tests/token_server.py) with the config's basic credentials and asks again with
/// `Authorization: Bearer`. The registry accepts nothing else, so a pull that succeeds went
/// through the token exchange. Anonymous callers get a token that grants nothing (as Hub does
/// for a private repository); a wrong password gets a 401 from the token server itself.
#[test]
fn the_token_registry_takes_docker_config_credentials() {
    let Some(case) = Case::new("token") else {
        return;
    };
    let reg = case.bed.token_registry.clone();
    let name = format!("{reg}/berth-test/multi:latest");
    case.compose(&one_service(&name));

    // Anonymous: a token with no access, then 401 insufficient_scope from the registry.
    let o = case.berth(&["pull"]);
    assert_exit(&o, 18);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("pull access denied for {reg}/berth-test/multi")),
        "{}",
        text(&o)
    );
    assert!(err.contains(" web Error"), "{}", text(&o));
    assert!(case.images().is_empty(), "{:?}", case.images());

    // A wrong password: the token server refuses it, and berth says so.
    write_basic_auth(&case, &reg, &case.bed.user, "not-the-password");
    let o = case.berth(&["pull"]);
    assert_exit(&o, 18);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{reg}/berth-test/multi"))
            && err.contains("incorrect username or password"),
        "{}",
        text(&o)
    );
    assert!(err.contains(" web Error"), "{}", text(&o));
    assert!(case.images().is_empty(), "{:?}", case.images());

    write_basic_auth(&case, &reg, &case.bed.user, &case.bed.password);
    let o = case.berth(&["pull"]);
    assert_ok(&o);
    assert!(stderr(&o).contains(" web Pulled"), "{}", text(&o));
    assert_eq!(case.images(), vec![name.clone()]);
    assert_eq!(case.check(&name), ("complete".into(), "true".into()));
    let image = case.bed.image("berth-test/multi:latest");
    let digest = image["digest"].as_str().unwrap();
    assert!(
        case.ctr(&["images", "ls"]).contains(digest),
        "the image record points at {digest}"
    );
}

/// A directory to put on berth's PATH holding `docker-credential-berthtest`, a credential
/// helper as Docker's protocol has it: `get` reads a server URL on stdin. It logs each server
/// it is asked for to `asked` in the same directory.
struct Helper {
    bin: PathBuf,
}

impl Helper {
    fn new() -> Helper {
        let bin = common::scratch_path("helper-bin");
        fs::create_dir_all(&bin).unwrap();
        Helper { bin }
    }

    /// Installs the helper with `body`, shell run after `server` holds what was asked for.
    fn install(&self, body: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.bin.join("docker-credential-berthtest");
        let script = format!(
            "#!/bin/sh\n\
             [ \"$1\" = get ] || {{ echo \"unsupported: $1\" >&2; exit 1; }}\n\
             server=$(cat)\n\
             echo \"$server\" >>'{}'\n\
             {body}\n",
            self.bin.join("asked").display()
        );
        // A fresh file each time (a rename), never one rewritten in place.
        let tmp = self.bin.join(".helper.tmp");
        fs::write(&tmp, script).unwrap();
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).unwrap();
        fs::rename(&tmp, path).unwrap();
        let _ = fs::remove_file(self.bin.join("asked"));
    }

    /// The helper answering with `user`/`secret` for `server` and "not found" for the rest, as
    /// docker-credential-pass and friends do.
    fn install_knowing(&self, server: &str, user: &str, secret: &str) {
        self.install(&format!(
            "if [ \"$server\" = '{server}' ]; then\n  \
               printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}\\n' \"$server\"\n\
             else\n  \
               echo 'credentials not found in native keychain'; exit 1\n\
             fi"
        ));
    }

    /// The servers the helper was asked for since it was installed.
    fn asked(&self) -> Vec<String> {
        fs::read_to_string(self.bin.join("asked"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn path_env(&self) -> String {
        format!("{}:/usr/local/bin:/usr/bin:/bin", self.bin.display())
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(self.bin.parent().unwrap());
    }
}

/// Credentials from a credential helper, named per registry (`credHelpers`) or for all of them
/// (`credsStore`), run from PATH as Docker runs them; a helper that says "credentials not
/// found" means anonymous, and one that answers garbage is an error that names it.
#[test]
fn credential_helpers_give_the_credentials() {
    let Some(case) = Case::new("helpers") else {
        return;
    };
    let helper = Helper::new();
    let path = helper.path_env();
    let auth_reg = case.bed.auth_registry.clone();
    let plain = case.bed.registry.clone();
    let name = format!("{auth_reg}/berth-test/zstd:latest");
    let config = |json: &str| fs::write(case.docker_config.join("config.json"), json).unwrap();
    helper.install_knowing(&auth_reg, &case.bed.user, &case.bed.password);

    // credHelpers: the helper for this one registry.
    case.compose(&one_service(&name));
    config(&format!(
        r#"{{"credHelpers":{{"{auth_reg}":"berthtest"}}}}"#
    ));
    let o = case.berth_env(&["pull"], &[("PATH", &path)]);
    assert_ok(&o);
    assert_eq!(helper.asked(), vec![auth_reg.clone()]);
    assert_eq!(case.images(), vec![name.clone()]);
    assert_eq!(case.check(&name), ("complete".into(), "true".into()));
    case.ctr(&["images", "rm", "--sync", &name]);

    // credsStore: the helper for every registry; the plain one it knows nothing of is pulled
    // anonymously.
    helper.install_knowing(&auth_reg, &case.bed.user, &case.bed.password);
    let plain_name = format!("{plain}/berth-test/docker:latest");
    case.compose(&format!(
        "services:\n  web:\n    image: {name}\n  db:\n    image: {plain_name}\n"
    ));
    config(r#"{"credsStore":"berthtest"}"#);
    let o = case.berth_env(&["pull"], &[("PATH", &path)]);
    assert_ok(&o);
    let mut asked = helper.asked();
    asked.sort();
    let mut expected = vec![auth_reg.clone(), plain.clone()];
    expected.sort();
    assert_eq!(asked, expected, "the helper is asked once per registry");
    let mut images = case.images();
    images.sort();
    let mut expected = vec![name.clone(), plain_name.clone()];
    expected.sort();
    assert_eq!(images, expected);
    case.ctr(&["images", "rm", "--sync", &name, &plain_name]);

    // The helper gives a wrong password: the registry's refusal, as with a config file.
    helper.install_knowing(&auth_reg, &case.bed.user, "not-the-password");
    case.compose(&one_service(&name));
    let o = case.berth_env(&["pull"], &[("PATH", &path)]);
    assert_exit(&o, 18);
    assert!(
        stderr(&o).contains(&format!(
            "pull access denied for {auth_reg}/berth-test/zstd"
        )),
        "{}",
        text(&o)
    );

    // Garbage on stdout, exit 0: named, and nothing pulled.
    helper.install("echo 'this is not JSON'");
    let o = case.berth_env(&["pull"], &[("PATH", &path)]);
    assert_exit(&o, 18);
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "credentials for {auth_reg}: credential helper docker-credential-berthtest gave a malformed answer"
        )),
        "{}",
        text(&o)
    );
    assert!(err.contains(" web Error"), "{}", text(&o));

    // A helper that fails for another reason than "not found": its words are passed on.
    helper.install("echo 'the keychain is locked' >&2; exit 1");
    let o = case.berth_env(&["pull"], &[("PATH", &path)]);
    assert_exit(&o, 18);
    let err = stderr(&o);
    assert!(
        err.contains(
            "credential helper docker-credential-berthtest failed: the keychain is locked"
        ),
        "{}",
        text(&o)
    );

    // No such helper on PATH.
    let o = case.berth(&["pull"]);
    assert_exit(&o, 18);
    assert!(
        stderr(&o).contains("docker-credential-berthtest could not be run"),
        "{}",
        text(&o)
    );
    assert!(case.images().is_empty(), "{:?}", case.images());
}

#[test]
fn failures_exit_18_and_name_the_image() {
    let Some(case) = Case::new("errors") else {
        return;
    };
    let reg = case.bed.registry.clone();
    case.compose(&one_service(&format!("{reg}/berth-test/multi:no-such-tag")));
    let o = case.berth(&["pull"]);
    assert_exit(&o, 18);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{reg}/berth-test/multi:no-such-tag")) && err.contains("not found"),
        "{}",
        text(&o)
    );
    assert!(
        err.lines().any(|l| l.starts_with(" web Error ")),
        "{}",
        text(&o)
    );

    case.compose(&one_service("127.0.0.1:1/x"));
    let o = case.berth(&["pull"]);
    assert_exit(&o, 18);
    let err = stderr(&o);
    assert!(
        err.contains("registry 127.0.0.1:1 does not answer"),
        "{}",
        text(&o)
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with(" web Error ") && l.contains("does not answer")),
        "{}",
        text(&o)
    );
    assert!(case.images().is_empty());
}

#[test]
fn a_second_pull_stores_nothing_new() {
    let Some(case) = Case::new("rerun") else {
        return;
    };
    let reg = case.bed.registry.clone();
    case.compose(&one_service(&format!("{reg}/berth-test/multi")));
    assert_ok(&case.berth(&["pull"]));
    let content = case.content();
    let snapshots = case.snapshots();

    let started = Instant::now();
    let o = case.berth(&["pull"]);
    let took = started.elapsed();
    assert_ok(&o);
    assert!(stderr(&o).contains(" web Pulled"), "{}", text(&o));
    assert!(
        took < Duration::from_secs(5),
        "a pull of a stored image took {took:?}"
    );
    assert_eq!(
        case.content(),
        content,
        "the rerun changed the content store"
    );
    assert_eq!(case.snapshots(), snapshots);
    assert!(case.ids("leases").is_empty());
    assert!(case.active_ingests().is_empty());
}

#[test]
fn skips_use_compose_texts() {
    let Some(case) = Case::new("skips") else {
        return;
    };
    let reg = case.bed.registry.clone();
    let multi = format!("{reg}/berth-test/multi");
    // A tag berth never pulled, present only as a record made with `ctr images tag`.
    case.compose(&one_service(&multi));
    assert_ok(&case.berth(&["pull"]));
    case.ctr(&[
        "images",
        "tag",
        &format!("{multi}:latest"),
        &format!("{multi}:v1"),
    ]);
    fs::create_dir_all(case.dir.join("src")).unwrap();
    fs::write(case.dir.join("src/Dockerfile"), "FROM scratch\n").unwrap();
    case.compose(&format!(
        "services:\n  \
         a:\n    image: {reg}/berth-test/zstd\n  \
         b:\n    image: {reg}/berth-test/zstd\n  \
         built:\n    build: ./src\n  \
         never:\n    image: {reg}/berth-test/docker\n    pull_policy: never\n  \
         tagged:\n    image: {multi}:v1\n    pull_policy: missing\n  \
         latest:\n    image: {multi}:latest\n    pull_policy: missing\n"
    ));
    let o = case.berth(&["pull"]);
    assert_ok(&o);
    let err = stderr(&o);
    for line in [
        " b Skipped - Image is already being pulled by a",
        " built Skipped - No image to be pulled",
        " never Skipped",
        " tagged Skipped - Image is already present locally",
        " a Pulled",
        // compose pulls `latest` even when present under `missing`
        " latest Pulled",
    ] {
        assert!(
            err.lines().any(|l| l.trim_end() == line),
            "no {line:?} in\n{err}"
        );
    }
    let mut images = case.images();
    images.sort();
    let mut expected = vec![
        format!("{multi}:latest"),
        format!("{multi}:v1"),
        format!("{reg}/berth-test/zstd:latest"),
    ];
    expected.sort();
    assert_eq!(images, expected, "`never` must not pull berth-test/docker");

    // `--policy missing` overrides `pull_policy: never` (compose applies it to every service
    // with an image): the docker image is pulled now; v1 is still skipped.
    let o = case.berth(&["pull", "--policy", "missing", "never", "tagged"]);
    assert_ok(&o);
    let err = stderr(&o);
    assert!(err.contains(" never Pulled"), "{}", text(&o));
    assert!(
        err.contains(" tagged Skipped - Image is already present locally"),
        "{}",
        text(&o)
    );
    assert!(case
        .images()
        .contains(&format!("{reg}/berth-test/docker:latest")));
}

#[test]
fn ignore_pull_failures_keeps_the_good_images() {
    let Some(case) = Case::new("ignore") else {
        return;
    };
    let reg = case.bed.registry.clone();
    case.compose(&format!(
        "services:\n  good:\n    image: {reg}/berth-test/zstd\n  \
         bad:\n    image: {reg}/berth-test/no-such-image\n"
    ));
    let o = case.berth(&["pull"]);
    assert_exit(&o, 18);
    let o = case.berth(&["pull", "--ignore-pull-failures"]);
    assert_ok(&o);
    assert!(stderr(&o).contains(" bad Error"), "{}", text(&o));
    assert_eq!(case.images(), vec![format!("{reg}/berth-test/zstd:latest")]);
    assert_eq!(
        case.check(&format!("{reg}/berth-test/zstd:latest")).0,
        "complete"
    );
}

#[test]
fn named_services_and_their_dependencies() {
    let Some(case) = Case::new("select") else {
        return;
    };
    let reg = case.bed.registry.clone();
    case.compose(&format!(
        "services:\n  web:\n    image: {reg}/berth-test/zstd\n    depends_on: [db]\n  \
         db:\n    image: {reg}/berth-test/docker\n  \
         other:\n    image: {reg}/berth-test/dockerlist\n"
    ));
    let o = case.berth(&["pull", "web"]);
    assert_ok(&o);
    assert!(!stderr(&o).contains(" db "), "{}", text(&o));
    assert_eq!(case.images(), vec![format!("{reg}/berth-test/zstd:latest")]);

    assert_ok(&case.berth(&["pull", "--include-deps", "web"]));
    let mut images = case.images();
    images.sort();
    assert_eq!(
        images,
        vec![
            format!("{reg}/berth-test/docker:latest"),
            format!("{reg}/berth-test/zstd:latest"),
        ],
        "--include-deps pulls db, not `other`"
    );
}

/// A one-file uncompressed tar: `name` holding `data`, root-owned, mode 0644, mtime 0.
fn tar_of(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    let field = |h: &mut [u8; 512], at: usize, v: &[u8]| h[at..at + v.len()].copy_from_slice(v);
    field(&mut h, 0, name.as_bytes());
    field(&mut h, 100, b"0000644\0");
    field(&mut h, 108, b"0000000\0");
    field(&mut h, 116, b"0000000\0");
    field(&mut h, 124, format!("{:011o}\0", data.len()).as_bytes());
    field(&mut h, 136, b"00000000000\0");
    field(&mut h, 148, b"        ");
    h[156] = b'0';
    field(&mut h, 257, b"ustar\0");
    field(&mut h, 263, b"00");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    field(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

/// Pushes `<registry>/berth-test/pull-resume:latest`: one uncompressed tar layer of 3 MiB that
/// no other test or image has, so containerd cannot have it from another namespace (it shares
/// blobs across namespaces, and a blob stored anywhere opens as already complete). Returns the
/// layer.
async fn push_resume_image(registry: &str, arch: &str, repo: &str, seed: u32) -> Vec<u8> {
    use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
    use sha2::Digest as _;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data: Vec<u8> = (0..3u32 << 20)
        .map(|i| ((i ^ seed).wrapping_mul(2_246_822_519).rotate_left(7) >> 11) as u8)
        .collect();
    let layer = tar_of("resume.bin", &data);
    let diff_id = format!("sha256:{:x}", sha2::Sha256::digest(&layer));
    let config = format!(
        r#"{{"architecture":"{arch}","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
    );
    let client = oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    let reference: oci_client::Reference = format!("{registry}/berth-test/{repo}:latest")
        .parse()
        .unwrap();
    client
        .push(
            &reference,
            &[ImageLayer::oci_v1(layer.clone(), None)],
            Config::oci_v1(config.into_bytes(), None),
            &oci_client::secrets::RegistryAuth::Anonymous,
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("push {reference}: {e}"));
    layer
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_ingest_is_resumed() {
    resume_case("resume", "pull-resume", 0, false).await;
}

/// Bytes left in the ingest that are not the layer's (a corrupted partial download): the
/// commit fails its digest check, and berth fetches the layer again from the first byte.
#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_partial_ingest_is_fetched_again() {
    resume_case("resume-bad", "pull-resume-bad", 0x5a5a_5a5a, true).await;
}

async fn resume_case(case_name: &str, repo: &str, seed: u32, corrupt: bool) {
    use sha2::Digest as _;
    let Some(case) = Case::new(case_name) else {
        return;
    };
    let reg = case.bed.registry.clone();
    let platform = case.bed.platform();
    let arch = platform.split('/').nth(1).unwrap();
    let blob = push_resume_image(&reg, arch, repo, seed).await;
    let layer = format!("sha256:{:x}", sha2::Sha256::digest(&blob));
    let half = blob.len() / 2;

    // Half the layer in the ingest berth uses, under a lease of the test's own (an ingest under
    // no lease is garbage to containerd's collector).
    let client = berth::containerd::Client::connect(&case.bed.address, &case.ns)
        .await
        .unwrap();
    let lease = format!("{}-partial", case.ns);
    client
        .lease_create(&lease, Duration::from_secs(600), BTreeMap::new())
        .await
        .unwrap();
    let leased = client.with_lease(&lease).unwrap();
    let size = i64::try_from(blob.len()).unwrap();
    match leased
        .content_writer(&format!("berth-{layer}"), size, &layer)
        .await
        .unwrap()
    {
        berth::containerd::Ingest::Open(mut w) => {
            assert_eq!(w.offset(), 0, "{layer} is stored in some namespace already");
            let part = if corrupt {
                vec![0u8; half]
            } else {
                blob[..half].to_vec()
            };
            w.write(part).await.unwrap();
            assert_eq!(w.offset(), i64::try_from(half).unwrap());
        }
        berth::containerd::Ingest::Present => panic!("{layer} is stored already"),
    }
    let active = case.active_ingests();
    assert!(
        active
            .iter()
            .any(|l| l.starts_with(&format!("berth-{layer}"))),
        "{active:?}"
    );

    let name = format!("{reg}/berth-test/{repo}:latest");
    case.compose(&one_service(&name));
    let o = tokio::task::block_in_place(|| case.berth(&["pull", "--progress", "json"]));
    assert_ok(&o);
    // Byte counts go up in 1 MiB writes: a pull that started over would report 1 MiB first,
    // one that resumed starts above the half already there.
    let short = &layer["sha256:".len().."sha256:".len() + 12];
    let currents: Vec<u64> = stderr(&o)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["id"] == short && e["text"] == "Downloading")
        .map(|e| e["current"].as_u64().unwrap_or(0))
        .collect();
    assert!(!currents.is_empty(), "no Downloading events: {}", text(&o));
    if corrupt {
        // It resumed first (above the half); the commit refused the bytes and the pull still
        // succeeded, so it fetched the layer again (the progress renderer throttles byte
        // updates, so the restart's own counts need not show).
        assert!(
            currents.iter().any(|&c| c > half as u64),
            "expected a resume first: {currents:?} (half is {half})"
        );
    } else {
        assert!(
            currents.iter().all(|&c| c > half as u64),
            "the download started over: {currents:?} (half is {half})"
        );
    }
    assert_eq!(case.check(&name), ("complete".into(), "true".into()));
    assert!(
        case.active_ingests().is_empty(),
        "{:?}",
        case.active_ingests()
    );
    client.lease_delete(&lease).await.unwrap();
}

/// Puts a blob file of the registry's storage back as it was when dropped, so a failing test
/// leaves the registry whole.
struct RestoreBlob {
    path: PathBuf,
    data: Vec<u8>,
}

impl Drop for RestoreBlob {
    fn drop(&mut self) {
        let _ = fs::write(&self.path, &self.data);
    }
}

/// A registry that serves a layer whose bytes are not its digest (a damaged disk, a broken
/// mirror): the bed's own registry, with the blob's data file in its filesystem storage
/// overwritten by different bytes of the same length, so size and headers still match. The pull
/// fails with exit 18, naming the layer and the mismatch, and stores no image; once the file is
/// whole again, a rerun pulls the image complete: nothing the failed pull left blocks it.
#[tokio::test(flavor = "multi_thread")]
async fn a_layer_that_does_not_match_its_digest_fails_the_pull() {
    use sha2::Digest as _;
    let Some(case) = Case::new("digest") else {
        return;
    };
    let Some(storage) = var("BERTH_TEST_REGISTRY_STORAGE") else {
        return;
    };
    let reg = case.bed.registry.clone();
    let platform = case.bed.platform();
    let arch = platform.split('/').nth(1).unwrap();
    // A layer of its own (seed), in a repository of its own: no other image or test shares it.
    let blob = push_resume_image(&reg, arch, "pull-digest", 0x0d16_e575).await;
    let hex = format!("{:x}", sha2::Sha256::digest(&blob));
    let layer = format!("sha256:{hex}");
    let data = Path::new(&storage).join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    // Whole first (a run killed mid-test may have left it damaged; the push skips a blob the
    // registry has).
    fs::write(&data, &blob).unwrap_or_else(|e| panic!("{}: {e}", data.display()));
    let restore = RestoreBlob {
        path: data.clone(),
        data: blob.clone(),
    };
    let mut damaged = blob.clone();
    for b in &mut damaged[4096..8192] {
        *b ^= 0xff;
    }
    assert_eq!(damaged.len(), blob.len());
    fs::write(&data, &damaged).unwrap();

    let name = format!("{reg}/berth-test/pull-digest:latest");
    case.compose(&one_service(&name));
    let o = tokio::task::block_in_place(|| case.berth(&["pull"]));
    assert_exit(&o, 18);
    let err = stderr(&o);
    let actual = format!("sha256:{:x}", sha2::Sha256::digest(&damaged));
    // A verification failure, not a transfer error: named once, not retried.
    assert!(
        err.contains("digest mismatch")
            && err.contains(&format!("layer {layer} failed verification"))
            && err.contains(&actual),
        "expected a digest mismatch naming {layer} (served {actual}): {}",
        text(&o)
    );
    assert!(err.contains(&name), "{}", text(&o));
    assert!(err.contains(" web Error"), "{}", text(&o));
    assert!(case.images().is_empty(), "{:?}", case.images());
    assert!(
        !case.content().contains_key(&layer),
        "the damaged layer was stored as {layer}"
    );

    drop(restore);
    assert_eq!(fs::read(&data).unwrap(), blob);
    let o = tokio::task::block_in_place(|| case.berth(&["pull"]));
    assert_ok(&o);
    assert_eq!(case.images(), vec![name.clone()]);
    assert_eq!(case.check(&name), ("complete".into(), "true".into()));
    assert!(case.content().contains_key(&layer));
    assert!(
        case.active_ingests().is_empty(),
        "{:?}",
        case.active_ingests()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn images_lists_the_projects_containers() {
    let Some(case) = Case::new("images") else {
        return;
    };
    let reg = case.bed.registry.clone();
    let project = "berth-test-pull-images";
    let name = format!("{reg}/berth-test/multi:latest");
    let config = case.bed.image("berth-test/multi:latest")["config"]
        .as_str()
        .unwrap()
        .to_owned();
    case.compose(&format!(
        "services:\n  web:\n    image: {name}\n  db:\n    image: {reg}/berth-test/zstd\n"
    ));
    let o = tokio::task::block_in_place(|| case.berth(&["pull", "web"]));
    assert_ok(&o);

    let client = berth::containerd::Client::connect(&case.bed.address, &case.ns)
        .await
        .unwrap();
    let mut labels = BTreeMap::new();
    labels.insert("com.docker.compose.project".to_owned(), project.to_owned());
    labels.insert("com.docker.compose.service".to_owned(), "web".to_owned());
    let container = format!("{project}-web-1");
    client
        .container_create(berth::containerd::NewContainer {
            id: container.clone(),
            labels,
            image: name.clone(),
            spec_json: br#"{"ociVersion":"1.1.0"}"#.to_vec(),
            snapshotter: "overlayfs".into(),
            snapshot_key: String::new(),
        })
        .await
        .unwrap();

    let hex = config.strip_prefix("sha256:").unwrap();
    let o = tokio::task::block_in_place(|| case.berth(&["-p", project, "images"]));
    assert_ok(&o);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    let header: Vec<&str> = lines[0].split("  ").filter(|c| !c.is_empty()).collect();
    assert_eq!(
        header.iter().map(|c| c.trim()).collect::<Vec<_>>(),
        ["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"],
        "{out}"
    );
    assert_eq!(lines.len(), 2, "{out}");
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &row[..4],
        [
            container.as_str(),
            &format!("{reg}/berth-test/multi"),
            "latest",
            &hex[..12]
        ],
        "{out}"
    );
    assert!(
        row[4].ends_with('B') && !row[4].starts_with('0'),
        "size {:?}",
        row[4]
    );

    let o =
        tokio::task::block_in_place(|| case.berth(&["-p", project, "images", "--format", "json"]));
    assert_ok(&o);
    let rows: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["ID"], config.as_str());
    assert_eq!(rows[0]["ContainerName"], container.as_str());
    assert_eq!(
        rows[0]["Repository"],
        format!("{reg}/berth-test/multi").as_str()
    );
    assert_eq!(rows[0]["Tag"], "latest");
    // At least the layers' uncompressed bytes: the unpacked snapshots' usage.
    assert!(rows[0]["Size"].as_i64().unwrap() > 1_000_000, "{rows:?}");

    let o = tokio::task::block_in_place(|| case.berth(&["-p", project, "images", "-q"]));
    assert_ok(&o);
    assert_eq!(stdout(&o), format!("{hex}\n"));

    let o = tokio::task::block_in_place(|| case.berth(&["-p", project, "images", "db"]));
    assert_ok(&o);
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
    assert!(stdout(&o).starts_with("CONTAINER "));

    client.container_delete(&container).await.unwrap();
}

#[test]
fn containerd_not_answering_is_a_clear_error() {
    let dir = common::scratch_path("project");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("compose.yaml"), one_service("busybox")).unwrap();
    for verb in ["pull", "images"] {
        let o = Command::new(env!("CARGO_BIN_EXE_berth"))
            .current_dir(&dir)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &dir)
            .args([
                "--address",
                "/nonexistent.sock",
                "--progress",
                "plain",
                verb,
            ])
            .output()
            .unwrap();
        assert_exit(&o, 1);
        let err = stderr(&o);
        assert!(
            err.contains("containerd does not answer at /nonexistent.sock")
                && err.contains("start it with `systemctl start containerd`"),
            "{verb}: {}",
            text(&o)
        );
    }
    let _ = fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn the_guard_fails_a_test_that_leaves_something_behind() {
    use sha2::Digest as _;
    let Some(case) = Case::new("guard") else {
        return;
    };
    // A blob labelled as a collector root: no image, lease or container holds it, so only
    // deleting it by hand removes it.
    let data = format!("left behind by {}\n", case.ns);
    let digest = format!("sha256:{:x}", sha2::Sha256::digest(data.as_bytes()));
    // `ctr content ingest` commits the blob with nothing holding it, so a garbage collection
    // triggered by another test in the meantime may take it before it is labelled: ingest
    // again until the label sticks.
    let mut labelled = false;
    for _ in 0..10 {
        let mut child = Command::new("ctr")
            .arg("--address")
            .arg(&case.bed.address)
            .args([
                "-n",
                &case.ns,
                "content",
                "ingest",
                "--expected-digest",
                &digest,
            ])
            .arg(format!("{}-ingest", case.ns))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(data.as_bytes())
                .unwrap();
        }
        assert!(child.wait().unwrap().success());
        let o = case.ctr_output(&["content", "label", &digest, "containerd.io/gc.root=test"]);
        if o.status.success() {
            labelled = true;
            break;
        }
    }
    assert!(labelled, "could not label {digest}");
    let ns = case.ns.clone();
    let address = case.bed.address.clone();

    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(case)));
    let message = dropped.expect_err("the guard passed with a blob left");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains(&format!("content {digest}")), "{message}");

    let ctr = |args: &[&str]| {
        Command::new("ctr")
            .arg("--address")
            .arg(&address)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(ctr(&["-n", &ns, "content", "rm", &digest]).status.success());
    let o = ctr(&["namespaces", "rm", &ns]);
    assert!(o.status.success(), "{}", text(&o));
}
