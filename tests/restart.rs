//! Restart policies with no berth process running: containerd's restart monitor brings back a
//! `restart: always` container that exits or is killed, its output still going to the json-file
//! log; a `restart: "no"` one stays exited; `down` after a restart leaves nothing. The same
//! harness as tests/lifecycle.rs: a containerd namespace and berth state directories of the
//! test's own, and a guard that always runs `down` and checks nothing is left.
//!
//! Nothing here waits for a fixed time: the monitor's interval (10 s by default, 1 s in the test
//! bed's own containerd) only bounds how long the polls below take. That a container was *not*
//! restarted is read off a witness: once the monitor has brought back a container killed after
//! the other one exited, it has had its chance at that one too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: failing loudly is the point

mod common;

use common::stack::{text, Stack as Case};

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

/// This suite's part of the namespace, project and scratch names.
const SUITE: &str = "restart";

/// How long the monitor may take to act: several of its default 10 s intervals, on a loaded
/// machine.
const MONITOR_DEADLINE: Duration = Duration::from_secs(90);

impl Case {
    fn write(&self, services: &str) {
        fs::write(
            self.dir.join("compose.yaml"),
            format!("services:\n{}", services.replace("IMAGE", &self.image)),
        )
        .unwrap();
    }

    fn log(&self, container: &str) -> PathBuf {
        self.lib
            .join("containers")
            .join(&self.ns)
            .join(container)
            .join(format!("{container}-json.log"))
    }

    /// The pid of `container`'s task when it is RUNNING.
    fn running_pid(&self, container: &str) -> Option<String> {
        let o = self.ctr_output(&["tasks", "ls"]);
        String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&container) && f.get(2) == Some(&"RUNNING")).then(|| f[1].to_owned())
        })
    }

    fn labels(&self, container: &str) -> Value {
        let o = self.ctr_output(&["containers", "info", container]);
        assert!(o.status.success(), "ctr containers info: {}", text(&o));
        serde_json::from_slice::<Value>(&o.stdout).unwrap()["Labels"].clone()
    }

    /// True when the server is containerd 1.6 (whose monitor knows only `restart.status`).
    fn server_is_1_6(&self) -> bool {
        let o = Command::new("ctr")
            .arg("--address")
            .arg(&self.address)
            .arg("version")
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let server = out
            .split("Server:")
            .nth(1)
            .expect("ctr version: no server part");
        let version = server
            .lines()
            .find_map(|l| l.trim().strip_prefix("Version:"))
            .unwrap()
            .trim();
        version.trim_start_matches('v').starts_with("1.6.")
    }
}

/// The lines of a json-file log equal to `line` (missing file: none).
fn count_lines(path: &Path, line: &str) -> usize {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["log"] == format!("{line}\n"))
        .count()
}

/// Polls `done` until it holds or [`MONITOR_DEADLINE`] passes; returns whether it held.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + MONITOR_DEADLINE;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn state<'a>(rows: &'a [Value], name: &str) -> &'a str {
    rows.iter()
        .find(|r| r["Name"] == name)
        .unwrap_or_else(|| panic!("no {name} in ps: {rows:?}"))["State"]
        .as_str()
        .unwrap()
}

#[test]
fn always_comes_back_with_no_berth_running_and_no_stays_down() {
    let Some(case) = Case::new(SUITE, "always") else {
        return;
    };
    case.write(
        "  keep:\n    image: IMAGE\n    network_mode: none\n    restart: always\n    stop_grace_period: 1s\n    command: [\"sh\", \"-c\", \"echo keep started; exec sleep 1000\"]\n\
         \x20 crash:\n    image: IMAGE\n    network_mode: none\n    restart: always\n    stop_grace_period: 1s\n    command: [\"sh\", \"-c\", \"echo crash ran; sleep 1; exit 3\"]\n\
         \x20 once:\n    image: IMAGE\n    network_mode: none\n    restart: \"no\"\n    command: [\"sh\", \"-c\", \"echo once ran; exit 3\"]\n",
    );
    let p = &case.project;
    let (keep, crash, once) = (
        format!("{p}-keep-1"),
        format!("{p}-crash-1"),
        format!("{p}-once-1"),
    );

    // `output()` waited for berth: from here on no berth command runs until the checks
    let o = case.berth(&["up", "-d"]);
    assert!(o.status.success(), "up -d: {}", text(&o));

    // the monitor's labels: the log driver's URI goes with them
    let l = case.labels(&keep);
    assert_eq!(l["containerd.io/restart.status"], "running", "{l}");
    let uri = l["containerd.io/restart.loguri"]
        .as_str()
        .unwrap_or_default();
    assert!(uri.starts_with("binary://"), "{l}");
    assert!(case
        .labels(&once)
        .get("containerd.io/restart.status")
        .is_none());

    // `once` exits for good; then `keep` is killed behind berth's back
    assert!(
        eventually(|| state(&case.ps(), &once) == "exited"),
        "once never exited"
    );
    let first = case
        .running_pid(&keep)
        .expect("keep is not running after up");
    let k = case.ctr_output(&["tasks", "kill", "-s", "SIGKILL", &keep]);
    assert!(k.status.success(), "ctr tasks kill: {}", text(&k));

    // the monitor starts it again, and the new task logs through berth's driver
    assert!(
        eventually(|| case.running_pid(&keep).is_some_and(|p| p != first)
            && count_lines(&case.log(&keep), "keep started") >= 2),
        "keep did not come back with its log: pid {:?}, {} start lines",
        case.running_pid(&keep),
        count_lines(&case.log(&keep), "keep started")
    );
    // a container whose command exits by itself comes back too
    assert!(
        eventually(|| count_lines(&case.log(&crash), "crash ran") >= 2),
        "crash was not restarted: {} runs logged",
        count_lines(&case.log(&crash), "crash ran")
    );
    // the monitor has passed since `once` exited, and left it alone
    assert_eq!(count_lines(&case.log(&once), "once ran"), 1);
    let rows = case.ps();
    assert_eq!(state(&rows, &once), "exited", "{rows:?}");
    assert_eq!(state(&rows, &keep), "running", "{rows:?}");

    // down takes them out of the monitor's hands first: nothing comes back
    let o = case.berth(&["down", "-v", "-t", "1"]);
    assert!(o.status.success(), "down: {}", text(&o));
    assert_eq!(case.leftovers(), Vec::<String>::new());
}

#[test]
fn on_failure_is_what_the_containerd_can_do() {
    let Some(case) = Case::new(SUITE, "onfail") else {
        return;
    };
    case.write(
        "  job:\n    image: IMAGE\n    network_mode: none\n    restart: on-failure:2\n    command: [\"sh\", \"-c\", \"echo job ran; exit 1\"]\n\
         \x20 svc:\n    image: IMAGE\n    network_mode: none\n    deploy:\n      restart_policy:\n        condition: any\n    stop_grace_period: 1s\n    command: [\"sleep\", \"1000\"]\n",
    );
    let p = &case.project;
    let (job, svc) = (format!("{p}-job-1"), format!("{p}-svc-1"));
    let o = case.berth(&["up", "-d"]);
    assert!(o.status.success(), "up -d: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    // deploy.restart_policy condition any is `always`, on any containerd with the monitor
    assert_eq!(case.labels(&svc)["containerd.io/restart.status"], "running");
    let jl = case.labels(&job);
    if case.server_is_1_6() {
        // 1.6 would restart it whatever the exit code, forever: berth leaves it and says so, once
        let warning = "service \"job\": restart: on-failure:2 is not honoured";
        assert_eq!(err.matches(warning).count(), 1, "{err}");
        assert!(jl.get("containerd.io/restart.status").is_none(), "{jl}");
        assert!(jl.get("containerd.io/restart.policy").is_none(), "{jl}");
    } else {
        assert!(!err.contains("not honoured"), "{err}");
        assert_eq!(jl["containerd.io/restart.status"], "running", "{jl}");
        assert_eq!(jl["containerd.io/restart.policy"], "on-failure:2", "{jl}");
        assert_eq!(case.labels(&svc)["containerd.io/restart.policy"], "always");
    }
}

#[test]
fn a_bad_restart_policy_is_refused_before_anything_is_made() {
    let Some(case) = Case::new(SUITE, "bad") else {
        return;
    };
    case.write("  web:\n    image: IMAGE\n    network_mode: none\n    restart: always:3\n");
    let o = case.berth(&["up", "-d"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("service \"web\": restart: invalid restart policy: maximum retry count"),
        "{err}"
    );
    assert!(case.ids("containers").is_empty());
}
