//! Health checks, `depends_on` conditions and `up --wait` as a user meets them: the real berth
//! binary against the test bed's containerd (tests/testbed.sh), services with `network_mode:
//! none`. The probes are run by each container's log driver, so the health state goes on
//! changing after berth has exited; these tests read it through `ps` and the state file. Each
//! test has a namespace and berth state directories of its own; its guard runs `down` and checks
//! with `ctr` that nothing is left. Waits poll with a deadline; nothing asserts a duration.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: failing loudly is the point

mod common;

use common::stack::{field, text, Stack as Case};

use std::fs;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// This suite's part of the namespace, project and scratch names.
const SUITE: &str = "health";

impl Case {
    /// Writes compose.yaml: `services` is the YAML under `services:`, `IMG` replaced by the
    /// test image.
    fn services(&self, services: &str) {
        self.compose(&format!("services:\n{services}"));
    }
}

impl Case {
    fn name(&self, service: &str) -> String {
        format!("{}-{service}-1", self.project)
    }

    /// The health state file of container `name` (what its prober wrote).
    fn health(&self, name: &str) -> Option<Value> {
        let p = self
            .lib
            .join("containers")
            .join(&self.ns)
            .join(name)
            .join("health.json");
        fs::read(p)
            .ok()
            .map(|b| serde_json::from_slice(&b).unwrap())
    }

    /// Polls `ps -a` until `ok` holds for container `name`'s row; panics after a minute.
    fn wait_row(&self, name: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let rows = self.ps();
            let row = rows.iter().find(|r| r["Name"] == name).cloned();
            if let Some(r) = row {
                if ok(&r) {
                    return r;
                }
                if Instant::now() > deadline {
                    panic!("{name} never {what}: {r}; health {:?}", self.health(name));
                }
            } else if Instant::now() > deadline {
                panic!("no {name} in ps: {rows:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `berth args`, killed (and the test failed) if it has not ended within `limit`.
    fn berth_within(&self, args: &[&str], limit: Duration) -> Output {
        let (tx, rx) = std::sync::mpsc::channel();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let child = self
            .command(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run berth");
        let pid = child.id();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(limit) {
            Ok(o) => o.expect("wait for berth"),
            Err(_) => {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                panic!("berth {args:?} still runs after {limit:?}");
            }
        }
    }

    /// Container `name`'s label `key`, from containerd's record.
    fn label(&self, name: &str, key: &str) -> Option<String> {
        let o = self.ctr_output(&["containers", "info", name]);
        let v: Value = serde_json::from_slice(&o.stdout).ok()?;
        v["Labels"][key].as_str().map(str::to_owned)
    }

    /// How many processes container `name`'s task holds.
    fn processes(&self, name: &str) -> usize {
        let o = self.ctr_output(&["tasks", "ps", name]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .count()
    }
}

fn status(r: &Value) -> &str {
    r["Status"].as_str().unwrap_or_default()
}

/// Where `line` is in `text`, panicking with the text when it is not.
fn at(text: &str, line: &str) -> usize {
    text.find(line)
        .unwrap_or_else(|| panic!("no {line:?} in:\n{text}"))
}

const STATES: &str = "  ok:
    image: IMG
    network_mode: none
    command: sh -c \"sleep 1; touch /tmp/ready; exec sleep 1000\"
    stop_grace_period: 1s
    healthcheck: {test: \"test -f /tmp/ready && echo ready\", interval: 1s, retries: 2}
  bad:
    image: IMG
    network_mode: none
    command: sleep 1000
    healthcheck: {test: [\"CMD\", \"sh\", \"-c\", \"echo broken; exit 3\"], interval: 1s, retries: 2}
  slow:
    image: IMG
    network_mode: none
    command: sleep 1000
    healthcheck: {test: [\"CMD\", \"true\"], interval: 1h}
  hang:
    image: IMG
    network_mode: none
    command: sleep 1000
    healthcheck: {test: [\"CMD\", \"sleep\", \"30\"], interval: 1s, timeout: 1s, retries: 1}
  off:
    image: IMG
    network_mode: none
    command: sleep 1000
    healthcheck: {test: [\"CMD\", \"true\"], disable: true}
";

#[test]
fn probes_make_containers_healthy_unhealthy_or_leave_them_starting() {
    let Some(case) = Case::new(SUITE, "states") else {
        return;
    };
    case.services(STATES);
    // `up -d` returns; everything below happens with no berth command running.
    case.ok(&["up", "-d"]);
    let (ok, bad, slow, off) = (
        case.name("ok"),
        case.name("bad"),
        case.name("slow"),
        case.name("off"),
    );

    let r = case.wait_row(&ok, "became healthy", |r| r["Health"] == "healthy");
    assert!(
        status(&r).starts_with("Up ") && status(&r).ends_with(" (healthy)"),
        "{r}"
    );
    let h = case.health(&ok).unwrap();
    let log = h["Log"].as_array().unwrap();
    let last = log.last().unwrap();
    assert_eq!(
        (last["ExitCode"].as_i64(), last["Output"].as_str()),
        (Some(0), Some("ready\n")),
        "{h}"
    );
    assert_eq!(h["FailingStreak"], 0);

    let r = case.wait_row(&bad, "became unhealthy", |r| r["Health"] == "unhealthy");
    assert!(status(&r).ends_with(" (unhealthy)"), "{r}");
    let h = case.health(&bad).unwrap();
    assert!(h["FailingStreak"].as_u64().unwrap() >= 2, "{h}");
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["ExitCode"].as_i64(), last["Output"].as_str()),
        (Some(3), Some("broken\n")),
        "{h}"
    );
    assert!(h["Log"].as_array().unwrap().len() <= 5);

    // a probe that overruns its timeout is killed and counts as exit -1
    let hang = case.name("hang");
    case.wait_row(&hang, "became unhealthy", |r| r["Health"] == "unhealthy");
    let h = case.health(&hang).unwrap();
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["ExitCode"].as_i64(), last["Output"].as_str()),
        (Some(-1), Some("Health check exceeded timeout (1s)")),
        "{h}"
    );
    let n = case.processes(&hang);
    assert!(
        n <= 2,
        "{hang} holds {n} processes: timed-out probes were not killed"
    );

    // a check whose first probe is an hour away stays `starting`; a disabled one shows nothing
    let rows = case.ps();
    let s = field(&rows, &slow);
    assert_eq!(s["Health"], "starting", "{s}");
    assert!(status(s).ends_with(" (health: starting)"), "{s}");
    let o = field(&rows, &off);
    assert_eq!(o["Health"], "", "{o}");
    assert!(!status(o).contains('('), "{o}");
    assert!(case.health(&off).is_none());

    // the probes go on with no berth running: a newer result keeps arriving, and each probe's
    // exec process is gone once it ends (the task never holds more than its own process and
    // one probe, and is seen with its own alone)
    let first = case.health(&ok).unwrap()["Log"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["Start"]
        .clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut alone = false;
    loop {
        let n = case.processes(&ok);
        assert!(n <= 2, "{ok} holds {n} processes: probes pile up");
        alone |= n == 1;
        let newest = case.health(&ok).unwrap()["Log"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["Start"]
            .clone();
        if newest != first && alone {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no new probe result after {first}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn service_healthy_starts_the_dependent_after_the_dependency_is_healthy() {
    let Some(case) = Case::new(SUITE, "healthy") else {
        return;
    };
    case.services(
        "  db:
    image: IMG
    network_mode: none
    command: sh -c \"sleep 2; touch /tmp/ready; exec sleep 1000\"
    healthcheck: {test: \"test -f /tmp/ready\", interval: 1s}
  web:
    image: IMG
    network_mode: none
    command: sleep 1000
    depends_on: {db: {condition: service_healthy}}
",
    );
    let o = case.berth(&["up", "-d"]);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let (db, web) = (case.name("db"), case.name("web"));
    let waiting = at(&err, &format!("Container {db}  Waiting"));
    let healthy = at(&err, &format!("Container {db}  Healthy"));
    let starting = at(&err, &format!("Container {web}  Starting"));
    assert!(waiting < healthy && healthy < starting, "{err}");

    // web's task started after db's first passing probe ended
    let h = case.health(&db).unwrap();
    let passed = h["Log"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ExitCode"] == 0)
        .unwrap_or_else(|| panic!("{h}"))["End"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = case.label(&web, "berth.started-at").unwrap();
    let t = |s: &str| chrono_free_nanos(s);
    assert!(
        t(&started) >= t(&passed),
        "web started {started}, db healthy {passed}"
    );
    assert_eq!(field(&case.ps(), &web)["State"], "running");
}

/// RFC 3339 UTC time with nanoseconds (`2026-11-26T14:10:15.692360899Z`) as a sortable
/// string of fixed width.
fn chrono_free_nanos(s: &str) -> String {
    let (secs, frac) = s.trim_end_matches('Z').split_once('.').unwrap_or((s, ""));
    format!("{secs}.{frac:0<9}")
}

#[test]
fn an_unhealthy_dependency_fails_up_unless_optional() {
    let Some(case) = Case::new(SUITE, "unhealthy") else {
        return;
    };
    case.services(
        "  db:
    image: IMG
    network_mode: none
    command: sleep 1000
    healthcheck: {test: [\"CMD\", \"false\"], interval: 1s, retries: 1}
  lenient:
    image: IMG
    network_mode: none
    command: sleep 1000
    depends_on: {db: {condition: service_healthy, required: false}}
  web:
    image: IMG
    network_mode: none
    command: sleep 1000
    depends_on: {db: {condition: service_healthy}}
  slow:
    image: IMG
    network_mode: none
    command: sleep 1000
    healthcheck: {test: [\"CMD\", \"true\"], interval: 1h}
  hold:
    image: IMG
    network_mode: none
    command: sleep 1000
    depends_on: {slow: {condition: service_healthy}}
",
    );
    let (db, web, lenient) = (case.name("db"), case.name("web"), case.name("lenient"));
    // an optional dependency that turns unhealthy is a warning; the dependent starts
    let o = case.berth(&["up", "-d", "lenient"]);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    at(
        &err,
        "optional dependency \"db\" is not running or is unhealthy",
    );
    assert_eq!(field(&case.ps(), &lenient)["State"], "running");

    // a required one fails `up` with compose's message, and the dependent is not started;
    // the wait for `slow` (healthy in an hour at the earliest) is given up, not sat out
    let o = case.berth_within(&["up", "-d", "web", "hold"], Duration::from_secs(90));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    at(
        &err,
        &format!("dependency failed to start: container {db} is unhealthy"),
    );
    let rows = case.ps();
    assert_eq!(field(&rows, &web)["State"], "created");
    // `hold` never starts; whether it was created before `up` gave up depends on timing (the
    // failure stops new work, and creating it may not have begun)
    let hold = case.name("hold");
    if let Some(r) = rows.iter().find(|r| r["Name"] == hold.as_str()) {
        assert_eq!(r["State"], "created", "{rows:?}");
    }
}

#[test]
fn service_completed_successfully_waits_for_exit_zero() {
    let Some(case) = Case::new(SUITE, "completed") else {
        return;
    };
    case.services(
        "  init:
    image: IMG
    network_mode: none
    command: sh -c \"sleep 1; echo init done\"
  app:
    image: IMG
    network_mode: none
    command: sleep 1000
    depends_on: {init: {condition: service_completed_successfully}}
  init2:
    image: IMG
    network_mode: none
    command: sh -c \"sleep 1; echo init2 done\"
  other:
    image: IMG
    network_mode: none
    command: sleep 1000
    depends_on: {init2: {condition: service_completed_successfully}}
  badinit:
    image: IMG
    network_mode: none
    command: sh -c \"exit 1\"
  app2:
    image: IMG
    network_mode: none
    command: sleep 1000
    depends_on: {badinit: {condition: service_completed_successfully}}
",
    );
    let (init, app, app2) = (case.name("init"), case.name("app"), case.name("app2"));
    let o = case.berth(&["up", "-d", "app", "other"]);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let exited = at(&err, &format!("Container {init}  Exited"));
    let starting = at(&err, &format!("Container {app}  Starting"));
    assert!(exited < starting, "{err}");
    // the two waits run side by side: both begin before either init has exited
    let init2 = case.name("init2");
    let waits = [
        at(&err, &format!("Container {init}  Waiting")),
        at(&err, &format!("Container {init2}  Waiting")),
    ];
    let first_exit = exited.min(at(&err, &format!("Container {init2}  Exited")));
    assert!(waits.iter().all(|&w| w < first_exit), "{err}");
    let rows = case.ps();
    assert!(
        status(field(&rows, &init)).starts_with("Exited (0)"),
        "{rows:?}"
    );
    assert_eq!(field(&rows, &app)["State"], "running");

    let o = case.berth(&["up", "-d", "app2"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    at(
        &String::from_utf8_lossy(&o.stderr),
        "service \"badinit\" didn't complete successfully: exit 1",
    );
    assert_eq!(field(&case.ps(), &app2)["State"], "created");
}

#[test]
fn up_wait_returns_when_healthy_and_fails_otherwise() {
    let Some(case) = Case::new(SUITE, "wait") else {
        return;
    };
    case.services(
        "  good:
    image: IMG
    network_mode: none
    command: sleep 1000
    healthcheck: {test: [\"CMD\", \"true\"], interval: 1s}
  plain:
    image: IMG
    network_mode: none
    command: sleep 1000
  sick:
    image: IMG
    network_mode: none
    command: sleep 1000
    healthcheck: {test: [\"CMD\", \"false\"], interval: 1s, retries: 1}
  slow:
    image: IMG
    network_mode: none
    command: sleep 1000
    healthcheck: {test: [\"CMD\", \"true\"], interval: 1h}
",
    );
    let o = case.berth(&["up", "-d", "--wait", "good", "plain"]);
    assert!(o.status.success(), "{}", text(&o));
    // no polling: --wait returned only once good was healthy
    let rows = case.ps();
    assert_eq!(
        field(&rows, &case.name("good"))["Health"],
        "healthy",
        "{rows:?}"
    );
    assert_eq!(
        field(&rows, &case.name("plain"))["State"],
        "running",
        "{rows:?}"
    );

    let o = case.berth(&["up", "-d", "--wait", "sick"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    at(
        &String::from_utf8_lossy(&o.stderr),
        &format!("container {} is unhealthy", case.name("sick")),
    );

    let o = case.berth(&["up", "-d", "--wait", "--wait-timeout", "2", "slow"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    at(
        &String::from_utf8_lossy(&o.stderr),
        "application not healthy after 2s",
    );
}
