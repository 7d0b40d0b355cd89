//! The everyday verbs on the test bed's containerd (tests/testbed.sh): `logs` (prefixes,
//! `--tail`, `--no-log-prefix`, `-t`, `--since`/`--until`), attached `up` (output, `exited with
//! code`, `--abort-on-container-exit`, SIGINT's graceful stop), `stop`/`start`/`restart`,
//! `kill -s`, `pause`/`unpause`, `wait`, `top`, `ls`, `port`, `rm -f`, `ps --status`. Each test
//! has a containerd namespace and berth state directories of its own; its guard always runs
//! `down` and checks with `ctr` that nothing is left.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: failing loudly is the point

mod common;

use common::stack::{field, text, Stack as Case};

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// This suite's part of the namespace, project and scratch names.
const SUITE: &str = "verbs";

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Polls `check` (every 100 ms, up to 30 s) until it returns `Some`.
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Case {
    fn state(&self, name: &str) -> String {
        field(&self.ps(), name)["State"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn wait_state(&self, name: &str, state: &str) -> Vec<Value> {
        eventually(&format!("{name} {state}"), || {
            let rows = self.ps();
            (field(&rows, name)["State"] == state).then_some(rows)
        })
    }
}

/// `talker` writes `two` on stderr, a second later `one` and `three` on stdout (the two pipes
/// are read apart, so only the pause makes the order in the file sure), and waits, ending with
/// code 5 on SIGUSR1 and 0 on SIGTERM; `echo` says one line and exits 3.
const STACK: &str = r#"services:
  talker:
    image: IMG
    network_mode: none
    stop_grace_period: 2s
    command: ["sh", "-c", "trap 'echo got-usr1; exit 5' USR1; trap 'exit 0' TERM; echo two >&2; sleep 1; echo one; echo three; while true; do sleep 1; done"]
  echo:
    image: IMG
    network_mode: none
    command: ["sh", "-c", "echo hello; exit 3"]
"#;

#[test]
fn logs_show_prefixed_lines_of_each_container() {
    let Some(case) = Case::new(SUITE, "logs") else {
        return;
    };
    case.compose(STACK);
    let p = &case.project;
    let (talker, echo) = (format!("{p}-talker-1"), format!("{p}-echo-1"));
    case.ok(&["up", "-d"]);
    case.wait_state(&echo, "exited");
    let all = eventually("three lines", || {
        let out = case.ok(&["logs", "--no-color"]);
        out.contains("three").then_some(out)
    });
    // both streams on stdout; as in compose, a prefix is padded to the longest name seen so
    // far, so the first lines may be narrower than the later ones
    let squeezed: Vec<String> = all
        .lines()
        .map(|l| {
            let (name, rest) = l.split_once(" | ").unwrap();
            format!("{}|{rest}", name.trim_end())
        })
        .collect();
    let mut sorted = squeezed.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "echo-1|hello",
            "talker-1|one",
            "talker-1|three",
            "talker-1|two"
        ],
        "{all}"
    );
    // stdout keeps its order (stderr is read on its own pipe, so it may come in anywhere)
    let talker_out: Vec<&String> = squeezed
        .iter()
        .filter(|l| l.starts_with("talker") && !l.ends_with("two"))
        .collect();
    assert_eq!(talker_out, ["talker-1|one", "talker-1|three"]);
    assert!(all.contains("talker-1  | three\n"), "{all}");

    assert_eq!(
        case.ok(&["logs", "--tail", "1", "talker"]),
        "talker-1  | three\n"
    );
    assert_eq!(case.ok(&["logs", "-n", "0", "talker"]), "");
    assert_eq!(
        case.ok(&["logs", "--no-log-prefix", "--tail", "1", "talker"]),
        "three\n"
    );
    // colours on request: compose's first colour is cyan
    let coloured = case.ok(&["--ansi", "always", "logs", "echo"]);
    assert_eq!(coloured, "\x1b[36mecho-1  | \x1b[0mhello\n");
    let stamped = case.ok(&["logs", "-t", "echo"]);
    let rest = stamped.strip_prefix("echo-1  | ").unwrap();
    let (time, said) = rest.split_once(' ').unwrap();
    assert_eq!(said, "hello\n");
    assert_eq!(time.len(), "2026-11-26T10:00:00.000000000Z".len(), "{time}");
    assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");

    assert_eq!(
        case.ok(&["logs", "--since", "1h", "echo"]),
        "echo-1  | hello\n"
    );
    assert_eq!(case.ok(&["logs", "--until", "2000-01-01T00:00:00Z"]), "");
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    assert_eq!(case.ok(&["logs", "--since", &later]), "");

    let o = case.berth(&["logs", "nope"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no such service: nope"), "{}", text(&o));

    // -f follows the running talker until it exits, and says so
    let mut follow = case
        .command(&["logs", "-f", "--no-color", "talker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = follow.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines() {
            let _ = tx.send(l.unwrap());
        }
    });
    let mut seen: Vec<String> = (0..3)
        .map(|_| rx.recv_timeout(Duration::from_secs(30)).unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        ["talker-1  | one", "talker-1  | three", "talker-1  | two"]
    );
    case.ok(&["kill", "-s", "USR1", "talker"]);
    let rest: Vec<String> = rx.iter().collect();
    assert!(follow.wait().unwrap().success());
    assert_eq!(
        rest,
        ["talker-1  | got-usr1", "talker-1 exited with code 5"],
        "{rest:?}"
    );
    let _ = talker;
}

#[test]
fn verbs_move_containers_through_their_states() {
    let Some(case) = Case::new(SUITE, "states") else {
        return;
    };
    case.compose(STACK);
    let p = &case.project;
    let (talker, echo) = (format!("{p}-talker-1"), format!("{p}-echo-1"));

    // create makes them without starting
    let o = case.berth(&["create"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(stderr(&o).contains(&format!("Container {talker}  Created")));
    assert_eq!(case.state(&talker), "created");

    let o = case.berth(&["start"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stderr(&o).contains(&format!("Container {talker}  Started")),
        "{}",
        text(&o)
    );
    case.wait_state(&echo, "exited");
    assert_eq!(case.state(&talker), "running");

    // ps --status / --filter
    let names = |args: &[&str]| -> Vec<String> {
        case.ok(args)
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&["ps", "--status", "running"]), [talker.as_str()]);
    assert_eq!(names(&["ps", "--filter", "status=exited"]), [echo.as_str()]);
    let o = case.berth(&["ps", "--filter", "colour=red"]);
    assert!(stderr(&o).contains("unknown filter colour"), "{}", text(&o));

    // top lists the container's processes in docker top's columns
    let top = case.ok(&["top", "talker"]);
    let mut lines = top.lines();
    assert_eq!(lines.next(), Some(talker.as_str()), "{top}");
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    assert!(top.contains("sh -c trap"), "{top}");
    assert!(top.lines().any(|l| l.starts_with("root ")), "{top}");

    // ls sees the project
    let ls = case.ok(&["ls"]);
    let row = ls
        .lines()
        .find(|l| l.starts_with(p.as_str()))
        .unwrap_or_else(|| panic!("{ls}"));
    assert!(row.contains("running(1)"), "{ls}");
    assert!(row.contains("compose.yaml"), "{ls}");
    let json: Value = serde_json::from_str(&case.ok(&["ls", "-a", "--format", "json"])).unwrap();
    let entry = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Name"] == p.as_str())
        .unwrap();
    assert_eq!(entry["Status"], "exited(1), running(1)");
    assert!(case.ok(&["ls", "-q"]).lines().any(|l| l == p));

    // port: nothing is published
    let o = case.berth(&["port", "talker", "80"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("no port 80/tcp for container {talker}: \n")
    );
    let o = case.berth(&["port", "echo", "80"]);
    assert_eq!(stderr(&o), "service \"echo\" is not running\n");

    // pause / unpause
    let o = case.berth(&["pause", "talker"]);
    assert!(
        stderr(&o).contains(&format!("Container {talker}  Paused")),
        "{}",
        text(&o)
    );
    assert_eq!(case.state(&talker), "paused");
    let o = case.berth(&["unpause"]);
    assert!(
        stderr(&o).contains(&format!("Container {talker}  Unpaused")),
        "{}",
        text(&o)
    );
    assert_eq!(case.state(&talker), "running");

    // stop / start / restart
    let o = case.berth(&["stop", "talker"]);
    assert!(o.status.success(), "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("Container {talker}  Stopping")),
        "{err}"
    );
    assert!(
        err.contains(&format!("Container {talker}  Stopped")),
        "{err}"
    );
    let rows = case.ps();
    assert_eq!(field(&rows, &talker)["State"], "exited");
    assert_eq!(field(&rows, &talker)["ExitCode"], 0);
    case.ok(&["start", "talker"]);
    assert_eq!(case.state(&talker), "running");
    let o = case.berth(&["restart", "-t", "1", "talker"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stderr(&o).contains(&format!("Container {talker}  Restarting")),
        "{}",
        text(&o)
    );
    assert_eq!(case.state(&talker), "running");
    let o = case.berth(&["start", "nope"]);
    assert!(stderr(&o).contains("no such service: nope"), "{}", text(&o));

    // kill -s delivers the signal
    let o = case.berth(&["kill", "-s", "SIGUSR1", "talker"]);
    assert!(
        stderr(&o).contains(&format!("Container {talker}  Killed")),
        "{}",
        text(&o)
    );
    let rows = case.wait_state(&talker, "exited");
    assert_eq!(field(&rows, &talker)["ExitCode"], 5);
    let o = case.berth(&["kill"]);
    assert!(o.status.success());
    assert_eq!(stderr(&o), "no container to kill");

    // kill's default is SIGKILL
    case.ok(&["start", "talker"]);
    case.ok(&["kill", "talker"]);
    let rows = case.wait_state(&talker, "exited");
    assert_eq!(field(&rows, &talker)["ExitCode"], 137);

    // rm -f removes the stopped containers; with none left it says so
    let o = case.berth(&["rm", "-f"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("Going to remove "), "{out}");
    assert!(out.contains(&talker) && out.contains(&echo), "{out}");
    assert!(
        stderr(&o).contains(&format!("Container {echo}  Removed")),
        "{}",
        text(&o)
    );
    assert!(case.ps().is_empty());
    let o = case.berth(&["rm", "-f"]);
    assert_eq!(stderr(&o), "No stopped containers\n");
    // rm -s stops a running one first
    case.ok(&["up", "-d", "talker"]);
    let o = case.berth(&["rm", "-f", "-s", "talker"]);
    assert!(
        stderr(&o).contains(&format!("Container {talker}  Stopped")),
        "{}",
        text(&o)
    );
    assert!(case.ps().is_empty());

    // wait blocks until the container exits and answers its exit code
    case.compose(
        "services:\n  timer:\n    image: IMG\n    network_mode: none\n    command: [\"sh\", \"-c\", \"sleep 5; exit 7\"]\n",
    );
    case.ok(&["up", "-d"]);
    let timer = format!("{p}-timer-1");
    let w = case.berth(&["wait", "timer"]);
    assert_eq!(w.status.code(), Some(7), "{}", text(&w));
    assert_eq!(
        String::from_utf8_lossy(&w.stdout),
        format!("container \"{timer}\" exited with status code 7\n")
    );
    let o = case.berth(&["wait", "timer"]);
    assert_eq!(stderr(&o), format!("no containers for project \"{p}\"\n"));
}

/// Runs `berth args` with stdout and stderr read line by line.
struct Running {
    child: std::process::Child,
    out: mpsc::Receiver<String>,
    err: mpsc::Receiver<String>,
}

impl Running {
    fn start(case: &Case, args: &[&str]) -> Running {
        let mut child = case
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pipe = |r: Box<dyn std::io::Read + Send>| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for l in BufReader::new(r).lines() {
                    let _ = tx.send(l.unwrap());
                }
            });
            rx
        };
        let out = pipe(Box::new(child.stdout.take().unwrap()));
        let err = pipe(Box::new(child.stderr.take().unwrap()));
        Running { child, out, err }
    }

    /// stdout lines until one equals `line` (which is included).
    fn until(&self, line: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let l = self
                .out
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no {line:?} in {seen:?}"));
            let done = l == line;
            seen.push(l);
            if done {
                return seen;
            }
        }
    }

    fn finish(mut self) -> (i32, Vec<String>, Vec<String>) {
        let code = self.child.wait().unwrap().code().unwrap_or(-1);
        (code, self.out.iter().collect(), self.err.iter().collect())
    }
}

#[test]
fn attached_up_streams_output_until_every_container_exits() {
    let Some(case) = Case::new(SUITE, "attached") else {
        return;
    };
    case.compose(
        r#"services:
  a:
    image: IMG
    network_mode: none
    command: ["sh", "-c", "echo from a; echo oops >&2; sleep 1; echo a done"]
  bb:
    image: IMG
    network_mode: none
    command: ["sh", "-c", "echo from bb; sleep 2; exit 3"]
"#,
    );
    let o = case.berth(&["up", "--no-color"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Attaching to a-1, bb-1", "{out}");
    let pos = |l: &str| {
        lines
            .iter()
            .position(|x| *x == l)
            .unwrap_or_else(|| panic!("no {l:?} in:\n{out}"))
    };
    assert!(pos("a-1   | from a") < pos("a-1   | a done"));
    assert!(pos("a-1   | a done") < pos("a-1 exited with code 0"));
    assert!(pos("bb-1  | from bb") < pos("bb-1 exited with code 3"));
    // a container's stderr goes to berth's stderr
    let err = stderr(&o);
    assert!(err.contains("a-1   | oops"), "{err}");
    assert!(
        err.contains(&format!("Container {}-a-1  Created", case.project)),
        "{err}"
    );

    // --exit-code-from: the first exit stops the rest, and its code is berth's
    case.compose(
        r#"services:
  a:
    image: IMG
    network_mode: none
    stop_grace_period: 1s
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
  bb:
    image: IMG
    network_mode: none
    command: ["sh", "-c", "sleep 1; echo bye; exit 3"]
"#,
    );
    let o = case.berth(&["up", "--no-color", "--exit-code-from", "bb"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("bb-1  | bye\nbb-1 exited with code 3\n"),
        "{out}"
    );
    assert!(!out.contains("a-1 exited"), "{out}");
    let err = stderr(&o);
    assert!(err.contains("Aborting on container exit..."), "{err}");
    assert!(
        err.contains(&format!("Container {}-a-1  Stopped", case.project)),
        "{err}"
    );
    assert_eq!(case.state(&format!("{}-a-1", case.project)), "exited");

    let o = case.berth(&["up", "--exit-code-from", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no such service: nope"), "{}", text(&o));
}

#[test]
fn attached_up_stops_the_stack_on_sigint() {
    let Some(case) = Case::new(SUITE, "sigint") else {
        return;
    };
    case.compose(
        r#"services:
  web:
    image: IMG
    network_mode: none
    command: ["sh", "-c", "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 1; done"]
  quiet:
    image: IMG
    network_mode: none
    attach: false
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
"#,
    );
    let up = Running::start(&case, &["up", "--no-color"]);
    let seen = up.until("web-1  | ready");
    assert_eq!(seen[0], "Attaching to web-1", "{seen:?}");
    let pid = up.child.id().to_string();
    let kill = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(kill.success());
    let (code, out, err) = up.finish();
    assert_eq!(code, 130, "{out:?}\n{err:?}");
    assert!(
        err.iter()
            .any(|l| l == "Gracefully stopping... (press Ctrl+C again to force)"),
        "{err:?}"
    );
    let p = &case.project;
    for name in [format!("{p}-web-1"), format!("{p}-quiet-1")] {
        assert!(
            err.iter()
                .any(|l| l.contains(&format!("Container {name}  Stopped"))),
            "{err:?}"
        );
        assert_eq!(case.state(&name), "exited");
    }
    assert_eq!(err.last().map(String::as_str), Some("canceled"), "{err:?}");
    // nothing is printed once stopping began
    assert!(
        !out.iter().any(|l| l.contains("exited with code")),
        "{out:?}"
    );
}
