//! `berth up -d`, `berth ps` and `berth down` as a user runs them: the real binary in a scratch
//! project directory, against the test bed's containerd and registry (tests/testbed.sh), for
//! services with `network_mode: none`. Each test has a containerd namespace and berth state
//! directories of its own (tests/common/stack.rs); its guard always runs `down -v`, then checks
//! with `ctr` that no container, task or container snapshot is left and that berth's
//! per-container directories and volumes are gone, and removes whatever a failed test left.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: failing loudly is the point

mod common;

use std::fs;
use std::ops::Deref;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::stack::{field, text, Stack};
use serde_json::Value;

/// This suite's part of the namespace, project and scratch names.
const SUITE: &str = "life";

/// The shared stack, with every verb naming the Compose file: `-f compose.yaml` makes every
/// verb read it (with `-p` alone, `down` works from what exists, as compose's does).
struct Case(Stack);

impl Deref for Case {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.0
    }
}

impl Case {
    fn new(name: &str) -> Option<Case> {
        Stack::new(SUITE, name).map(Case)
    }

    /// Two services: `sleeper` runs `sleep <n>`, `echo` writes a line and exits 0.
    fn compose(&self, sleep: u32) {
        self.0.compose(&format!(
            "services:\n  sleeper:\n    image: IMG\n    network_mode: none\n    command: sleep {sleep}\n    stop_grace_period: 1s\n  echo:\n    image: IMG\n    network_mode: none\n    command: [\"sh\", \"-c\", \"echo hello from echo\"]\n"
        ));
    }

    /// `berth -f compose.yaml -p <project> args`.
    fn berth(&self, args: &[&str]) -> Output {
        let mut with_file = vec!["-f", "compose.yaml"];
        with_file.extend_from_slice(args);
        self.0.berth(&with_file)
    }

    /// `berth -p <project> args`.
    fn berth_no_file(&self, args: &[&str]) -> Output {
        self.0.berth(args)
    }

    /// `berth -f compose.yaml args`, which must succeed; returns stdout.
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

    /// What a `down` without `-v` must leave empty: everything but volumes (the image's
    /// `VOLUME` gives each container an anonymous one, which only `-v` removes, as Docker does;
    /// the guard's `down -v` checks those).
    fn leftovers(&self) -> Vec<String> {
        self.0
            .leftovers()
            .into_iter()
            .filter(|l| !l.starts_with("volume "))
            .collect()
    }
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
fn an_unknown_network_mode_is_refused_before_anything_is_made() {
    let Some(case) = Case::new("bridge") else {
        return;
    };
    fs::write(
        case.dir.join("compose.yaml"),
        format!(
            "services:\n  web:\n    image: {}\n    network_mode: overlay\n",
            case.image
        ),
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

#[test]
fn down_rmi_removes_images_no_container_uses() {
    let Some(case) = Case::new("rmi") else {
        return;
    };
    case.compose(1000);
    case.ok(&["up", "-d"]);
    let record = case.ids("images");
    assert_eq!(record.len(), 1, "{record:?}");

    // A container berth did not make still uses the image: it stays, with compose's warning.
    let foreign = format!("foreign-{}", std::process::id());
    let o = case.ctr_output(&["containers", "create", &record[0], &foreign, "true"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = case.berth(&["down", "--rmi", "all"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        err.contains(&format!("Image {}  Resource is still in use", case.image)),
        "{err}"
    );
    assert_eq!(case.ids("images"), record);
    let o = case.ctr_output(&["containers", "rm", &foreign]);
    assert!(o.status.success(), "{}", text(&o));

    // Nothing uses it now: the record goes, and with it (gc runs before the answer) the blobs
    // and layer snapshots.
    case.ok(&["up", "-d"]);
    let o = case.berth(&["down", "--rmi", "all"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        err.contains(&format!("Image {}  Removed", case.image)),
        "{err}"
    );
    assert!(case.ids("images").is_empty());
    assert!(case.ids("content").is_empty(), "{:?}", case.ids("content"));
    let snapshots = case.ctr_output(&["snapshots", "ls"]);
    let snapshots = String::from_utf8_lossy(&snapshots.stdout);
    assert_eq!(snapshots.lines().skip(1).count(), 0, "{snapshots}");
    assert_eq!(case.leftovers(), Vec::<String>::new());

    // Again: nothing to remove is a note, and --rmi takes only local|all.
    let o = case.berth(&["down", "--rmi", "all"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = case.berth(&["down", "--rmi", "some"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).trim(),
        "invalid value for --rmi: \"some\""
    );
}

#[test]
fn services_left_out_are_not_orphans() {
    let Some(case) = Case::new("select") else {
        return;
    };
    let yaml = format!(
        "services:\n  sleeper:\n    image: {img}\n    network_mode: none\n    command: sleep 1000\n    stop_grace_period: 1s\n  extra:\n    image: {img}\n    network_mode: none\n    command: sleep 1000\n    stop_grace_period: 1s\n    profiles: [debug]\n",
        img = case.image
    );
    fs::write(case.dir.join("compose.yaml"), yaml).unwrap();
    let extra = format!("{}-extra-1", case.project);
    let sleeper = format!("{}-sleeper-1", case.project);
    case.ok(&["--profile", "debug", "up", "-d"]);
    assert_eq!(case.ids("containers"), [extra.clone(), sleeper.clone()]);

    // `extra` is disabled by its profile and `up sleeper` names only sleeper: neither makes
    // the other's containers orphans, so nothing is removed even with --remove-orphans.
    for args in [
        &["up", "-d"][..],
        &["up", "-d", "--remove-orphans", "sleeper"],
    ] {
        let o = case.berth(args);
        assert!(o.status.success(), "{}", text(&o));
        assert!(!text(&o).contains("orphan"), "{}", text(&o));
        assert_eq!(case.ids("containers"), [extra.clone(), sleeper.clone()]);
    }
    // `down` leaves the disabled service's container.
    case.ok(&["down"]);
    assert_eq!(case.ids("containers"), std::slice::from_ref(&extra));

    // `-p` with no file: the project is what exists, so everything goes, even with no
    // compose.yaml at all.
    case.ok(&["--profile", "debug", "up", "-d"]);
    fs::remove_file(case.dir.join("compose.yaml")).unwrap();
    let o = case.berth_no_file(&["down"]);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    for c in [&extra, &sleeper] {
        assert!(err.contains(&format!("Container {c}  Removed")), "{err}");
    }
    assert_eq!(case.leftovers(), Vec::<String>::new());
}

#[test]
fn containers_run_under_dockers_seccomp_filter_unless_unconfined() {
    let Some(case) = Case::new("seccomp") else {
        return;
    };
    let probe = r#"["sh", "-c", "grep Seccomp: /proc/self/status"]"#;
    let yaml = format!(
        "services:\n  filtered:\n    image: {img}\n    network_mode: none\n    command: {probe}\n  free:\n    image: {img}\n    network_mode: none\n    command: {probe}\n    security_opt: [\"seccomp=unconfined\"]\n",
        img = case.image
    );
    fs::write(case.dir.join("compose.yaml"), yaml).unwrap();
    case.ok(&["up", "-d"]);
    for (service, mode) in [("filtered", "2"), ("free", "0")] {
        let name = format!("{}-{service}-1", case.project);
        let rows = wait_exited(&case, &name);
        assert_eq!(field(&rows, &name)["ExitCode"], 0, "{rows:?}");
        let log = case
            .lib
            .join("containers")
            .join(&case.ns)
            .join(&name)
            .join(format!("{name}-json.log"));
        let records = log_lines(&log);
        // 2: a seccomp filter is installed; 0: none
        assert_eq!(
            records[0]["log"],
            format!("Seccomp:\t{mode}\n"),
            "{service}"
        );
    }
}

#[test]
fn host_facts_reach_the_container() {
    let Some(case) = Case::new("facts") else {
        return;
    };
    // init: true puts tini at pid 1; extra_hosts, dns and hostname shape the /etc files; a
    // host device is passed on; `ipc: service:` joins the other container's IPC namespace.
    let probe = "readlink /proc/1/exe; hostname; cat /etc/hosts /etc/resolv.conf; ls -l /dev/mynull; readlink /proc/self/ns/ipc; sleep 1000";
    let yaml = format!(
        "services:\n  probe:\n    image: {img}\n    network_mode: none\n    init: true\n    hostname: probe.example\n    extra_hosts: [\"db.internal=10.1.2.3\"]\n    dns: [9.9.9.9]\n    dns_search: [corp.test]\n    devices: [\"/dev/null:/dev/mynull\"]\n    ipc: service:owner\n    depends_on: [owner]\n    stop_grace_period: 1s\n    command: [\"sh\", \"-c\", {probe:?}]\n  owner:\n    image: {img}\n    network_mode: none\n    ipc: shareable\n    command: sleep 1000\n    stop_grace_period: 1s\n",
        img = case.image
    );
    fs::write(case.dir.join("compose.yaml"), yaml).unwrap();
    case.ok(&["up", "-d"]);
    let name = format!("{}-probe-1", case.project);
    let log = case
        .lib
        .join("containers")
        .join(&case.ns)
        .join(&name)
        .join(format!("{name}-json.log"));
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let text: String = fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| v["log"].as_str().unwrap_or_default().to_owned())
            .collect();
        if text.contains("ipc:[") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "/sbin/docker-init", "{out}");
    assert_eq!(lines[1], "probe.example", "{out}");
    assert!(out.contains("10.1.2.3\tdb.internal\n"), "{out}");
    assert!(
        out.contains("search corp.test\nnameserver 9.9.9.9\n"),
        "{out}"
    );
    assert!(out.contains("/dev/mynull"), "{out}");
    assert!(out.contains(" 1,   3 "), "/dev/mynull is 1:3: {out}");

    // the owner's IPC namespace, read from the host
    let owner = format!("{}-owner-1", case.project);
    let info = case.ctr_output(&["tasks", "ls"]);
    let tasks = String::from_utf8_lossy(&info.stdout);
    let pid = tasks
        .lines()
        .find(|l| l.starts_with(&owner))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("no task for {owner}: {tasks}"));
    let ns = fs::read_link(format!("/proc/{pid}/ns/ipc")).unwrap();
    assert!(
        out.contains(&ns.display().to_string()),
        "{} not in {out}",
        ns.display()
    );
}

#[test]
fn scale_adds_and_removes_the_highest_numbers() {
    let Some(case) = Case::new("scale") else {
        return;
    };
    case.compose(1000);
    let p = &case.project;
    case.ok(&["up", "-d", "--scale", "sleeper=3", "sleeper"]);
    let names = |case: &Case| -> Vec<String> {
        case.ps()
            .iter()
            .filter(|r| r["Service"] == "sleeper")
            .map(|r| r["Name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&case), [1, 2, 3].map(|n| format!("{p}-sleeper-{n}")));
    let o = case.berth(&["up", "-d", "--scale", "sleeper=1", "sleeper"]);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    for n in [2, 3] {
        assert!(
            err.contains(&format!("Container {p}-sleeper-{n}  Removed")),
            "{err}"
        );
    }
    assert_eq!(names(&case), [format!("{p}-sleeper-1")]);

    // bad input: compose's messages, exit 1, nothing changed
    for (args, message) in [
        (
            &["up", "-d", "--scale", "sleeper"][..],
            "invalid --scale option \"sleeper\". Should be SERVICE=NUM",
        ),
        (
            &["up", "-d", "--scale", "nope=2"][..],
            "no such service: nope",
        ),
        (
            &["up", "-d", "--pull", "sometimes"][..],
            "invalid --pull option \"sometimes\"",
        ),
    ] {
        let o = case.berth(args);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(message),
            "{}",
            text(&o)
        );
    }
    assert_eq!(names(&case), [format!("{p}-sleeper-1")]);
}
