//! `berth up -d`, `berth ps` and `berth down` as a user runs them: the real binary in a scratch
//! project directory, against the test bed's containerd and registry (tests/testbed.sh), for
//! services with `network_mode: none`. Each test has a containerd namespace and berth state
//! directories (BERTH_LIB_DIR, BERTH_RUN_DIR) of its own; its guard always runs `down`, then
//! checks with `ctr` that no container, task or container snapshot is left and that berth's
//! per-container directories are gone, and removes whatever a failed test left.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: failing loudly is the point

mod common;

use std::fs;
use std::path::{Path, PathBuf};
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
        let root = common::scratch_path("lifecycle");
        fs::create_dir_all(&root).unwrap();
        let case = Case {
            address,
            hosts_dir,
            image: format!("{registry}/{IMAGE}"),
            ns: format!("berth-test-life-{name}-{}", std::process::id()),
            project: format!("life-{name}"),
            dir: root.join("project"),
            lib: root.join("lib"),
            run: root.join("run"),
        };
        fs::create_dir_all(&case.dir).unwrap();
        // A namespace left by an earlier, killed run would make the checks lie.
        case.clean();
        Some(case)
    }

    /// Two services: `sleeper` runs `sleep <n>`, `echo` writes a line and exits 0.
    fn compose(&self, sleep: u32) {
        let yaml = format!(
            "services:\n  sleeper:\n    image: {img}\n    network_mode: none\n    command: sleep {sleep}\n    stop_grace_period: 1s\n  echo:\n    image: {img}\n    network_mode: none\n    command: [\"sh\", \"-c\", \"echo hello from echo\"]\n",
            img = self.image
        );
        fs::write(self.dir.join("compose.yaml"), yaml).unwrap();
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
        // the guard always runs `down`, then checks it left nothing
        let down = self.berth(&["down", "-t", "1"]);
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

fn log_lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits until `ps` shows `name` exited.
fn wait_exited(case: &Case, name: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = case.ps();
        if field(&rows, name)["State"] == "exited" || Instant::now() > deadline {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn up_ps_converge_and_down() {
    let Some(case) = Case::new("converge") else {
        return;
    };
    case.compose(1000);
    let p = &case.project;
    let (sleeper, echo) = (format!("{p}-sleeper-1"), format!("{p}-echo-1"));

    let o = case.berth(&["up", "-d"]);
    assert!(o.status.success(), "up -d: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    for line in [
        format!("Container {sleeper}  Created"),
        format!("Container {sleeper}  Started"),
        format!("Container {echo}  Started"),
    ] {
        assert!(err.contains(&line), "no {line:?} in:\n{err}");
    }

    let rows = wait_exited(&case, &echo);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let s = field(&rows, &sleeper);
    assert_eq!(s["State"], "running");
    assert!(s["Status"].as_str().unwrap().starts_with("Up "), "{s}");
    assert_eq!(s["Service"], "sleeper");
    assert_eq!(s["Command"], "sleep 1000");
    let e = field(&rows, &echo);
    assert!(
        e["Status"].as_str().unwrap().starts_with("Exited (0) "),
        "{e}"
    );
    // `ps` without -a lists only running containers; the table has compose's columns
    let table = case.ok(&["ps"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]
    );
    let rest: Vec<&str> = lines.collect();
    assert_eq!(rest.len(), 1, "{table}");
    assert!(rest[0].starts_with(&sleeper), "{table}");
    assert_eq!(case.ok(&["ps", "-q"]).trim(), sleeper);
    assert_eq!(case.ok(&["ps", "-a", "--services"]), "echo\nsleeper\n");

    // the echo service's output is in its json-file log
    let log = case
        .lib
        .join("containers")
        .join(&case.ns)
        .join(&echo)
        .join(format!("{echo}-json.log"));
    let records = log_lines(&log);
    assert_eq!(records[0]["log"], "hello from echo\n", "{records:?}");
    assert_eq!(records[0]["stream"], "stdout");
    // the container's labels are compose's
    let info = case.ctr_output(&["containers", "info", &sleeper]);
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    let labels = &info["Labels"];
    assert_eq!(labels["com.docker.compose.project"], p.as_str());
    assert_eq!(labels["com.docker.compose.service"], "sleeper");
    assert_eq!(labels["com.docker.compose.container-number"], "1");
    assert_eq!(labels["com.docker.compose.oneoff"], "False");
    assert_eq!(
        labels["com.docker.compose.project.working_dir"],
        case.dir.display().to_string().as_str()
    );
    let created = s["Created"].clone();

    // up again: nothing is recreated; the sleeper keeps running
    let o = case.berth(&["up", "-d"]);
    assert!(o.status.success(), "second up -d: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("Container {sleeper}  Running")),
        "{err}"
    );
    assert!(!err.contains("Recreate"), "{err}");
    let rows = case.ps();
    assert_eq!(field(&rows, &sleeper)["Created"], created);
    let sleeper_pid = |c: &Case| -> String {
        let o = c.ctr_output(&["tasks", "ls"]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .find(|l| l.starts_with(&sleeper))
            .map(|l| l.split_whitespace().nth(1).unwrap().to_owned())
            .unwrap_or_default()
    };
    let pid_before = sleeper_pid(&case);

    // a changed command recreates only that service
    case.compose(999);
    let o = case.berth(&["up", "-d"]);
    assert!(o.status.success(), "third up -d: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("Container {sleeper}  Recreated")),
        "{err}"
    );
    assert!(
        !err.contains(&format!("Container {echo}  Recreate")),
        "{err}"
    );
    let rows = wait_exited(&case, &echo);
    let s = field(&rows, &sleeper);
    assert_eq!(s["Command"], "sleep 999");
    assert_eq!(s["State"], "running");
    assert_ne!(sleeper_pid(&case), pid_before);

    // down leaves nothing (the guard checks tasks, containers, snapshots, dirs)
    let o = case.berth(&["down", "-t", "1"]);
    assert!(o.status.success(), "down: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("Container {sleeper}  Removed")),
        "{err}"
    );
    assert!(err.contains(&format!("Container {echo}  Removed")), "{err}");
    assert_eq!(case.leftovers(), Vec::<String>::new());
    assert!(case.ps().is_empty());
}

#[test]
fn bridge_networks_are_refused_before_anything_is_made() {
    let Some(case) = Case::new("bridge") else {
        return;
    };
    fs::write(
        case.dir.join("compose.yaml"),
        format!("services:\n  web:\n    image: {}\n", case.image),
    )
    .unwrap();
    let o = case.berth(&["up", "-d"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("network_mode"),
        "{}",
        text(&o)
    );
    assert!(case.ids("containers").is_empty());
}
