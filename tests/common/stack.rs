//! A Compose project on the test bed, as a user runs it: the real berth binary in a scratch
//! project directory, with a containerd namespace and berth state directories (BERTH_LIB_DIR,
//! BERTH_RUN_DIR) of its own. Its guard always runs `down -v`, then checks with `ctr` that no
//! container, task or container snapshot is left and that berth's per-container directories
//! and volumes are gone, and removes whatever a failed test left.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The test bed's busybox-based image (tests/images.py), under its registry.
pub const IMAGE: &str = "berth-test/multi:latest";

pub struct Stack {
    pub address: PathBuf,
    pub hosts_dir: String,
    pub image: String,
    pub ns: String,
    pub project: String,
    /// The project directory.
    pub dir: PathBuf,
    /// BERTH_LIB_DIR and BERTH_RUN_DIR.
    pub lib: PathBuf,
    pub run: PathBuf,
    /// berth's nftables table for this stack (BERTH_NFT_TABLE): each test renders its own.
    pub nft_table: String,
}

impl Stack {
    /// A stack for test `name` of suite `suite` (namespace `berth-test-<suite>-<name>-<pid>`,
    /// project `<suite>-<name>`); `None` when the test bed is missing (skip, or fail in CI).
    pub fn new(suite: &str, name: &str) -> Option<Stack> {
        let address = super::containerd_address()?;
        let registry = super::registry()?;
        let hosts_dir = match std::env::var("BERTH_TEST_HOSTS_DIR") {
            Ok(d) if !d.is_empty() => d,
            _ => return super::missing("BERTH_TEST_HOSTS_DIR is not set"),
        };
        let root = super::scratch_path(suite);
        fs::create_dir_all(&root).unwrap();
        let case = Stack {
            address,
            hosts_dir,
            image: format!("{registry}/{IMAGE}"),
            ns: format!("berth-test-{suite}-{name}-{}", std::process::id()),
            project: format!("{suite}-{name}"),
            dir: root.join("project"),
            lib: root.join("lib"),
            run: root.join("run"),
            nft_table: format!(
                "bt_{}_{}",
                name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
                std::process::id()
            ),
        };
        fs::create_dir_all(&case.dir).unwrap();
        // A namespace left by an earlier, killed run would make the checks lie.
        case.clean();
        Some(case)
    }

    /// Writes compose.yaml, with `IMAGE` (or `IMG`) replaced by the test image.
    pub fn compose(&self, yaml: &str) {
        fs::write(
            self.dir.join("compose.yaml"),
            yaml.replace("IMAGE", &self.image)
                .replace("IMG", &self.image),
        )
        .unwrap();
    }

    /// The volumes under BERTH_LIB_DIR.
    pub fn volumes(&self) -> Vec<String> {
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

    /// The berth command for `args` in this stack, not run yet.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.current_dir(&self.dir)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", &self.dir)
            .env("DOCKER_CONFIG", &self.dir)
            .env("BERTH_LIB_DIR", &self.lib)
            .env("BERTH_RUN_DIR", &self.run)
            .env("BERTH_NFT_TABLE", &self.nft_table)
            .arg("--address")
            .arg(&self.address)
            .args(["--namespace", &self.ns])
            .args(["--hosts-dir", &self.hosts_dir])
            .args(["--progress", "plain"])
            .args(["-p", &self.project])
            .args(args);
        c
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run berth")
    }

    /// `berth args`, which must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.berth(args);
        assert!(o.status.success(), "berth {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `ps -a --format json`, by name.
    pub fn ps(&self) -> Vec<Value> {
        self.ok(&["ps", "-a", "--format", "json"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn ctr_output(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(&self.address)
            .args(["-n", &self.ns])
            .args(args)
            .output()
            .expect("run ctr")
    }

    pub fn ids(&self, what: &str) -> Vec<String> {
        let o = self.ctr_output(&[what, "ls", "-q"]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Snapshots that are not committed image layers: a container's rootfs.
    pub fn active_snapshots(&self) -> Vec<String> {
        let o = self.ctr_output(&["snapshots", "ls"]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty() && !l.contains("Committed"))
            .map(str::to_owned)
            .collect()
    }

    /// Per-container directories berth left under its lib dir.
    pub fn container_dirs(&self) -> Vec<String> {
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
    pub fn leftovers(&self) -> Vec<String> {
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
        for (name, bridge) in self.network_records() {
            left.push(format!("network record {name}"));
            if link_exists(&bridge) {
                left.push(format!("bridge {bridge}"));
            }
        }
        if nft_table_exists(&self.nft_table) {
            left.push(format!("nftables table inet {}", self.nft_table));
        }
        if let Ok(pid) = fs::read_to_string(self.run.join("dns/server.pid")) {
            let pid = pid.trim();
            if !pid.is_empty() && std::path::Path::new(&format!("/proc/{pid}")).exists() {
                left.push(format!("DNS server {pid}"));
            }
        }
        left
    }

    /// berth's network records under BERTH_LIB_DIR: (name, bridge).
    pub fn network_records(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = fs::read_dir(self.lib.join("networks"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .filter_map(|e| {
                        let v: Value = serde_json::from_slice(&fs::read(e.path()).ok()?).ok()?;
                        Some((
                            v["name"].as_str()?.to_owned(),
                            v["bridge"].as_str()?.to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Removes everything in the namespace with `ctr`, then the namespace, and the bridges of
    /// berth's network records.
    pub fn clean(&self) {
        for (_, bridge) in self.network_records() {
            let _ = Command::new("ip").args(["link", "del", &bridge]).output();
        }
        if nft_table_exists(&self.nft_table) {
            let _ = Command::new("nft")
                .args(["delete", "table", "inet", &self.nft_table])
                .output();
        }
        if let Ok(pid) = fs::read_to_string(self.run.join("dns/server.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).output();
        }
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

impl Drop for Stack {
    fn drop(&mut self) {
        // the guard always runs `down -v --remove-orphans` (one-offs too), then checks it left
        // nothing
        let down = self.berth(&["down", "-v", "--remove-orphans", "-t", "1"]);
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

/// Whether berth's nftables table `name` exists.
pub fn nft_table_exists(name: &str) -> bool {
    Command::new("nft")
        .args(["list", "table", "inet", name])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Whether a link named `name` exists on the host.
pub fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", "dev", name])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

pub fn text(o: &Output) -> String {
    format!(
        "{}\n--- stdout:\n{}--- stderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn field<'a>(rows: &'a [Value], name: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["Name"] == name)
        .unwrap_or_else(|| panic!("no {name} in ps: {rows:?}"))
}
