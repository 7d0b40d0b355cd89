//! Storage for `berth up` as a user sees it: named volumes (kept by `down`, removed by `down
//! -v`, filled from the image on first use), anonymous volumes, binds relative to the project,
//! read-only binds, tmpfs, secrets and configs, against the test bed's containerd (see
//! tests/lifecycle.rs for the harness, copied here). Services run with `network_mode: none` and
//! write what they see into a bind-mounted directory the test reads from the host. The guard
//! runs `down -v` and checks that no container, task, snapshot, container directory or volume
//! is left.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: failing loudly is the point

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

const IMAGE: &str = "berth-test/multi:latest";

struct Case {
    address: PathBuf,
    hosts_dir: String,
    image: String,
    ns: String,
    project: String,
    /// The project directory.
    dir: PathBuf,
    /// BERTH_LIB_DIR and BERTH_RUN_DIR.
    lib: PathBuf,
    run: PathBuf,
}

impl Case {
    fn new(name: &str) -> Option<Case> {
        let address = common::containerd_address()?;
        let registry = common::registry()?;
        let hosts_dir = match std::env::var("BERTH_TEST_HOSTS_DIR") {
            Ok(d) if !d.is_empty() => d,
            _ => return common::missing("BERTH_TEST_HOSTS_DIR is not set"),
        };
        let root = common::scratch_path("storage");
        fs::create_dir_all(&root).unwrap();
        let case = Case {
            address,
            hosts_dir,
            image: format!("{registry}/{IMAGE}"),
            ns: format!("berth-test-storage-{name}-{}", std::process::id()),
            project: format!("storage-{name}"),
            dir: root.join("project"),
            lib: root.join("lib"),
            run: root.join("run"),
        };
        fs::create_dir_all(&case.dir).unwrap();
        // A namespace left by an earlier, killed run would make the checks lie.
        case.clean();
        Some(case)
    }

    fn compose(&self, yaml: &str) {
        fs::write(
            self.dir.join("compose.yaml"),
            yaml.replace("IMAGE", &self.image),
        )
        .unwrap();
    }

    /// The volumes under BERTH_LIB_DIR.
    fn volumes(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.lib.join("volumes"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    fn berth(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", &self.dir)
            .env("DOCKER_CONFIG", &self.dir)
            .env("BERTH_LIB_DIR", &self.lib)
            .env("BERTH_RUN_DIR", &self.run)
            .arg("--address")
            .arg(&self.address)
            .args(["--namespace", &self.ns])
            .args(["--hosts-dir", &self.hosts_dir])
            .args(["--progress", "plain"])
            .args(["-p", &self.project])
            .args(args)
            .output()
            .expect("run berth")
    }

    /// `berth args`, which must succeed; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.berth(args);
        assert!(o.status.success(), "berth {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `ps -a --format json`, by name.
    fn ps(&self) -> Vec<Value> {
        self.ok(&["ps", "-a", "--format", "json"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn ctr_output(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(&self.address)
            .args(["-n", &self.ns])
            .args(args)
            .output()
            .expect("run ctr")
    }

    fn ids(&self, what: &str) -> Vec<String> {
        let o = self.ctr_output(&[what, "ls", "-q"]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Snapshots that are not committed image layers: a container's rootfs.
    fn active_snapshots(&self) -> Vec<String> {
        let o = self.ctr_output(&["snapshots", "ls"]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty() && !l.contains("Committed"))
            .map(str::to_owned)
            .collect()
    }

    /// Per-container directories berth left under its lib dir.
    fn container_dirs(&self) -> Vec<String> {
        let dir = self.lib.join("containers").join(&self.ns);
        fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path().display().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What a `down` must leave empty.
    fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        left.extend(self.ids("tasks").into_iter().map(|t| format!("task {t}")));
        left.extend(
            self.ids("containers")
                .into_iter()
                .map(|c| format!("container {c}")),
        );
        left.extend(
            self.active_snapshots()
                .into_iter()
                .map(|s| format!("snapshot {s}")),
        );
        left.extend(
            self.container_dirs()
                .into_iter()
                .map(|d| format!("dir {d}")),
        );
        left.extend(self.volumes().into_iter().map(|v| format!("volume {v}")));
        left
    }

    /// Removes everything in the namespace with `ctr`, then the namespace.
    fn clean(&self) {
        for t in self.ids("tasks") {
            let _ = self.ctr_output(&["tasks", "kill", "-s", "SIGKILL", &t]);
            let _ = self.ctr_output(&["tasks", "rm", "-f", &t]);
        }
        for c in self.ids("containers") {
            let _ = self.ctr_output(&["containers", "rm", &c]);
        }
        for s in self.active_snapshots() {
            if let Some(key) = s.split_whitespace().next() {
                let _ = self.ctr_output(&["snapshots", "rm", key]);
            }
        }
        for l in self.ids("leases") {
            let _ = self.ctr_output(&["leases", "rm", &l]);
        }
        let images = self.ids("images");
        if !images.is_empty() {
            let mut args = vec!["images", "rm", "--sync"];
            args.extend(images.iter().map(String::as_str));
            let _ = self.ctr_output(&args);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let nudge = format!("{}-gc", self.ns);
        let _ = self.ctr_output(&["leases", "create", "--id", &nudge]);
        let _ = self.ctr_output(&["leases", "rm", "--sync", &nudge]);
        while Instant::now() < deadline {
            let o = Command::new("ctr")
                .arg("--address")
                .arg(&self.address)
                .args(["namespaces", "rm", &self.ns])
                .output()
                .expect("run ctr");
            let gone = !String::from_utf8_lossy(
                &Command::new("ctr")
                    .arg("--address")
                    .arg(&self.address)
                    .args(["namespaces", "ls", "-q"])
                    .output()
                    .unwrap()
                    .stdout,
            )
            .lines()
            .any(|l| l.trim() == self.ns);
            if o.status.success() || gone {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        // the guard always runs `down -v`, then checks it left nothing
        let down = self.berth(&["down", "-v", "-t", "1"]);
        let left = self.leftovers();
        self.clean();
        let _ = fs::remove_dir_all(self.dir.parent().unwrap());
        if !std::thread::panicking() {
            assert!(down.status.success(), "down: {}", text(&down));
            assert!(
                left.is_empty(),
                "after down, namespace {} still holds:\n  {}",
                self.ns,
                left.join("\n  ")
            );
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}\n--- stdout:\n{}--- stderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn field<'a>(rows: &'a [Value], name: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["Name"] == name)
        .unwrap_or_else(|| panic!("no {name} in ps: {rows:?}"))
}

/// Waits until `ps` shows `name` exited; returns its row.
fn wait_exited(case: &Case, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = case.ps();
        let row = field(&rows, name).clone();
        if row["State"] == "exited" || Instant::now() > deadline {
            return row;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn read(path: PathBuf) -> String {
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn named_volume_is_filled_from_the_image_and_kept_until_down_v() {
    let Some(case) = Case::new("named") else {
        return;
    };
    // the image's /data holds only `new`: layer 3 made it opaque over layer 2's files
    case.compose(
        "services:\n  w:\n    image: IMAGE\n    network_mode: none\n    volumes:\n      - data:/data\n      - ./out:/out\n    command: [\"sh\", \"-c\", \"ls /data > /out/ls; echo run >> /data/keep; cat /data/keep > /out/keep\"]\nvolumes:\n  data:\n    labels:\n      team: storage\n",
    );
    let p = &case.project;
    let w = format!("{p}-w-1");
    let vol = format!("{p}_data");
    case.ok(&["up", "-d"]);
    let row = wait_exited(&case, &w);
    assert!(
        row["Status"].as_str().unwrap().starts_with("Exited (0)"),
        "{row}"
    );
    // copy-up: the image's content, whiteouts applied, before the command ran
    assert_eq!(read(case.dir.join("out/ls")), "new\n");
    assert_eq!(read(case.dir.join("out/keep")), "run\n");
    // the out directory did not exist: a short-syntax bind source is created
    assert!(case.dir.join("out").is_dir());
    assert_eq!(case.volumes(), std::slice::from_ref(&vol));
    let record: Value = serde_json::from_str(&read(
        case.lib.join("volumes").join(&vol).join("volume.json"),
    ))
    .unwrap();
    assert_eq!(record["Labels"]["com.docker.compose.project"], p.as_str());
    assert_eq!(record["Labels"]["com.docker.compose.volume"], "data");
    assert_eq!(record["Labels"]["team"], "storage");
    assert!(record["Labels"]["com.docker.compose.version"].is_string());

    // down keeps the named volume; the next up sees its data and does not copy again
    case.ok(&["down", "-t", "1"]);
    assert!(case.ids("containers").is_empty());
    assert_eq!(case.volumes(), std::slice::from_ref(&vol));
    fs::remove_file(case.dir.join("out/ls")).unwrap();
    case.ok(&["up", "-d"]);
    wait_exited(&case, &w);
    assert_eq!(read(case.dir.join("out/keep")), "run\nrun\n");
    assert_eq!(read(case.dir.join("out/ls")), "keep\nnew\n");

    // down -v removes it
    let o = case.berth(&["down", "-v", "-t", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("Volume {vol}  Removed")),
        "{}",
        text(&o)
    );
    assert!(case.volumes().is_empty(), "{:?}", case.volumes());
}

#[test]
fn binds_tmpfs_secrets_configs_and_anonymous_volumes() {
    let Some(case) = Case::new("mix") else {
        return;
    };
    fs::create_dir_all(case.dir.join("ro")).unwrap();
    fs::write(case.dir.join("ro/file"), "host\n").unwrap();
    fs::write(case.dir.join("s.txt"), "s3cret\n").unwrap();
    let script = [
        "touch /ro/x 2>/dev/null && echo writable > /out/ro || echo refused > /out/ro",
        "cat /ro/file >> /out/ro",
        "grep -E ' /(scratch|cache) ' /proc/mounts | cut -d' ' -f1-3 > /out/tmpfs",
        "stat -c '%a' /cache >> /out/tmpfs",
        "stat -c '%a %u %g' /run/secrets/s /etc/c.conf /run/secrets/t > /out/files",
        "cat /run/secrets/s /etc/c.conf /run/secrets/t >> /out/files",
        "ls /data > /out/anon; echo mine > /data/mine",
    ]
    .join("; ");
    let yaml = format!(
        "services:\n  m:\n    image: IMAGE\n    network_mode: none\n    volumes:\n      - ./out:/out\n      - ./ro:/ro:ro\n      - type: tmpfs\n        target: /cache\n        tmpfs:\n          mode: 01770\n    tmpfs:\n      - /scratch\n    secrets:\n      - source: s\n        uid: '1000'\n        gid: '1000'\n        mode: 0400\n      - source: t\n    configs:\n      - source: c\n        target: /etc/c.conf\n        mode: 0440\n    command: [\"sh\", \"-c\", {script:?}]\nsecrets:\n  s:\n    file: ./s.txt\n  t:\n    environment: BERTH_TEST_SECRET\nconfigs:\n  c:\n    content: hello\n"
    );
    case.compose(&yaml);
    fs::write(case.dir.join(".env"), "BERTH_TEST_SECRET=from-env\n").unwrap();
    let m = format!("{}-m-1", case.project);
    case.ok(&["up", "-d"]);
    let row = wait_exited(&case, &m);
    assert!(
        row["Status"].as_str().unwrap().starts_with("Exited (0)"),
        "{row}"
    );
    assert_eq!(read(case.dir.join("out/ro")), "refused\nhost\n");
    assert!(!case.dir.join("ro/x").exists());
    assert_eq!(
        read(case.dir.join("out/tmpfs")),
        "tmpfs /cache tmpfs\ntmpfs /scratch tmpfs\n1770\n"
    );
    assert_eq!(
        read(case.dir.join("out/files")),
        "400 1000 1000\n440 0 0\n444 0 0\ns3cret\nhellofrom-env"
    );
    // the image's VOLUME /data became an anonymous volume, filled from the image
    assert_eq!(read(case.dir.join("out/anon")), "new\n");
    let anon = case.volumes();
    assert_eq!(anon.len(), 1, "{anon:?}");
    assert_eq!(anon[0].len(), 64, "{anon:?}");
    let record = read(case.lib.join("volumes").join(&anon[0]).join("volume.json"));
    assert!(record.contains("com.docker.volume.anonymous"), "{record}");

    // a recreate re-attaches the anonymous volume, data and all
    case.compose(&yaml.replace("ls /data > /out/anon", "ls /data > /out/anon2"));
    let o = case.berth(&["up", "-d"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Recreated"),
        "{}",
        text(&o)
    );
    wait_exited(&case, &m);
    assert_eq!(read(case.dir.join("out/anon2")), "mine\nnew\n");
    assert_eq!(case.volumes(), anon);

    // down without -v leaves the anonymous volume (as Docker), down -v in the guard would
    // not find it again: remove it with -v now
    case.ok(&["down", "-v", "-t", "1"]);
    assert!(case.volumes().is_empty(), "{:?}", case.volumes());
    // the per-container secret and config copies went with the container
    assert!(case.container_dirs().is_empty());
}

#[test]
fn a_missing_long_syntax_bind_fails_and_leaves_nothing() {
    let Some(case) = Case::new("nobind") else {
        return;
    };
    case.compose(
        "services:\n  a:\n    image: IMAGE\n    network_mode: none\n    volumes:\n      - /anon\n      - type: bind\n        source: ./missing\n        target: /m\n        bind:\n          create_host_path: false\n    command: [\"true\"]\n",
    );
    let o = case.berth(&["up", "-d"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let want = format!(
        "invalid mount config for type \"bind\": bind source path does not exist: {}",
        case.dir.join("missing").display()
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&want),
        "{}",
        text(&o)
    );
    assert!(!case.dir.join("missing").exists());
    assert_eq!(case.leftovers(), Vec::<String>::new());
}

#[test]
fn volumes_from_repeats_the_other_services_mounts_read_only() {
    let Some(case) = Case::new("from") else {
        return;
    };
    // `src` holds the named volume (filled from the image at its create); `user` sees it
    // read-only through volumes_from, at the same place, and gets no anonymous /data of its own
    case.compose(
        "services:\n  src:\n    image: IMAGE\n    network_mode: none\n    volumes:\n      - shared:/data\n    command: [\"true\"]\n  user:\n    image: IMAGE\n    network_mode: none\n    volumes_from:\n      - src:ro\n    volumes:\n      - ./out:/out\n    command: [\"sh\", \"-c\", \"ls /data > /out/ls; touch /data/x 2>/dev/null && echo rw >> /out/ls || echo ro >> /out/ls\"]\nvolumes:\n  shared: {}\n",
    );
    let user = format!("{}-user-1", case.project);
    case.ok(&["up", "-d"]);
    let row = wait_exited(&case, &user);
    assert!(
        row["Status"].as_str().unwrap().starts_with("Exited (0)"),
        "{row}"
    );
    assert_eq!(read(case.dir.join("out/ls")), "new\nro\n");
    // src's image VOLUME /data is covered by its named volume, user's by volumes_from
    assert_eq!(case.volumes(), [format!("{}_shared", case.project)]);
}

#[test]
fn a_create_that_fails_half_way_removes_what_it_made() {
    let Some(case) = Case::new("undo") else {
        return;
    };
    // the anonymous volume for /anon is made before the bind volume's missing device is found
    case.compose(
        "services:\n  a:\n    image: IMAGE\n    network_mode: none\n    volumes:\n      - /anon\n      - dev:/dev-data\n    command: [\"true\"]\nvolumes:\n  dev:\n    driver: local\n    driver_opts:\n      type: none\n      o: bind\n      device: ./nodev\n",
    );
    let o = case.berth(&["up", "-d"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let want = format!("device {} does not exist", case.dir.join("nodev").display());
    assert!(String::from_utf8_lossy(&o.stderr).contains(&want), "{}", text(&o));
    // the project volume was made first, as compose makes it; nothing else is left
    assert_eq!(case.volumes(), [format!("{}_dev", case.project)]);
    assert!(case.ids("containers").is_empty());
    assert!(case.active_snapshots().is_empty());
    assert!(case.container_dirs().is_empty());
}
