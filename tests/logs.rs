//! The json-file log driver under the real containerd shim and runc: containers started with
//! `ctr run --log-uri binary://<berth>?_berth_log=1&...` (the URI berth's own task creation
//! uses), their logs checked with berth's reader. Each test has a containerd namespace and a
//! log directory of its own, removed by a guard.

// Test code: a panic is how a failed check reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use berth::logs::{read_history, DriverConfig, LogReader, ReadOptions, Rotation, Stream};

const IMAGE: &str = "berth-test/multi:latest";

struct Case {
    address: PathBuf,
    ns: String,
    image: String,
    /// The berth binary the shim runs: a copy, so a rebuild during the test cannot swap it.
    berth: PathBuf,
    logs: PathBuf,
}

impl Case {
    fn new(name: &str) -> Option<Case> {
        let address = common::containerd_address()?;
        let registry = common::registry()?;
        let scratch = common::scratch_path("logs");
        let berth = scratch.with_file_name("berth");
        fs::copy(env!("CARGO_BIN_EXE_berth"), &berth).unwrap();
        let case = Case {
            address,
            ns: format!("berth-test-logs-{name}-{}", std::process::id()),
            image: format!("{registry}/{IMAGE}"),
            berth,
            logs: scratch,
        };
        case.clean();
        let o = case.ctr(&["images", "pull", "--plain-http", &case.image]);
        assert!(o.status.success(), "pull: {}", text(&o));
        Some(case)
    }

    fn ctr(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(&self.address)
            .args(["-n", &self.ns])
            .args(args)
            .output()
            .expect("run ctr")
    }

    fn uri(&self, rotation: Rotation) -> String {
        DriverConfig {
            dir: Some(self.logs.clone()),
            rotation,
        }
        .uri(&self.berth)
    }

    /// `ctr run` with the driver as stdio; `detach` returns once the task started.
    fn run(&self, id: &str, rotation: Rotation, detach: bool, script: &str) {
        let uri = self.uri(rotation);
        let mut args = vec!["run", "--log-uri", &uri];
        if detach {
            args.push("-d");
        } else {
            args.push("--rm");
        }
        args.extend([self.image.as_str(), id, "sh", "-c", script]);
        let o = self.ctr(&args);
        assert!(o.status.success(), "ctr run: {}", text(&o));
    }

    fn clean(&self) {
        let _ = fs::remove_dir_all(&self.logs);
        let listed = |what: &str| -> Vec<String> {
            let o = self.ctr(&[what, "ls", "-q"]);
            stdout(&o)
                .lines()
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect()
        };
        let ns = Command::new("ctr")
            .arg("--address")
            .arg(&self.address)
            .args(["namespaces", "ls", "-q"])
            .output()
            .expect("run ctr");
        if !stdout(&ns).lines().any(|l| l.trim() == self.ns) {
            return;
        }
        for t in listed("tasks") {
            let _ = self.ctr(&["tasks", "kill", "-s", "SIGKILL", &t]);
            let _ = self.ctr(&["tasks", "rm", "-f", &t]);
        }
        for c in listed("containers") {
            let _ = self.ctr(&["containers", "rm", &c]);
        }
        let _ = self.ctr(&["images", "rm", "--sync", &self.image]);
        // The collector takes the content and snapshots shortly after; until then the
        // namespace is not empty.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let o = Command::new("ctr")
                .arg("--address")
                .arg(&self.address)
                .args(["namespaces", "rm", &self.ns])
                .output()
                .expect("run ctr");
            if o.status.success() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        self.clean();
        let _ = fs::remove_dir_all(self.berth.parent().unwrap());
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn text(o: &Output) -> String {
    format!("{}{}", stdout(o), String::from_utf8_lossy(&o.stderr))
}

/// Live (not zombie) driver processes of container `id`: berth with the marker in its argv and
/// `CONTAINER_ID=<id>` in its environment.
fn drivers(id: &str) -> Vec<u32> {
    let want = format!("CONTAINER_ID={id}");
    let mut pids = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let p = e.path();
        let (Ok(cmdline), Ok(environ), Ok(stat)) = (
            fs::read(p.join("cmdline")),
            fs::read(p.join("environ")),
            fs::read_to_string(p.join("stat")),
        ) else {
            continue;
        };
        let has = |hay: &[u8], needle: &[u8]| hay.split(|&b| b == 0).any(|w| w == needle);
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        if has(&cmdline, b"_berth_log") && has(&environ, want.as_bytes()) && !state.starts_with('Z')
        {
            pids.push(pid);
        }
    }
    pids
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ppid(pid: u32) -> u32 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

fn files(dir: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().into_string().unwrap(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn driver_writes_both_streams_as_docker_json_file() {
    let Some(case) = Case::new("streams") else {
        return;
    };
    let id = "streams";
    let before = chrono::Utc::now();
    case.run(
        id,
        Rotation::default(),
        false,
        r#"echo out; echo err >&2; printf 'tab\there <&> "q"\n'; printf partial"#,
    );
    let after = chrono::Utc::now();
    let raw = fs::read_to_string(case.logs.join(format!("{id}-json.log"))).unwrap();
    // The two streams are separate pipes read side by side: order holds within a stream only.
    let mut lines: Vec<&str> = raw.lines().collect();
    assert_eq!(lines.len(), 4, "{raw}");
    let err = lines.iter().position(|l| l.contains("stderr")).unwrap();
    let err = lines.remove(err);
    // Byte for byte Docker's encoding (the time aside).
    assert!(
        err.starts_with(r#"{"log":"err\n","stream":"stderr","time":""#),
        "{raw}"
    );
    assert!(
        lines[0].starts_with(r#"{"log":"out\n","stream":"stdout","time":""#),
        "{raw}"
    );
    assert!(
        lines[1].starts_with(
            r#"{"log":"tab\u0009here \u003c\u0026\u003e \"q\"\n","stream":"stdout","time":""#
        ),
        "{raw}"
    );
    assert!(
        lines[2].starts_with(r#"{"log":"partial","stream":"stdout","time":""#),
        "{raw}"
    );
    for l in raw.lines() {
        let t = &l[l.find(r#""time":""#).unwrap() + 8..l.len() - 2];
        assert!(t.ends_with('Z'), "{t}");
    }
    let (entries, _) = read_history(&case.logs, id, &ReadOptions::default()).unwrap();
    let of = |s: Stream| -> Vec<&str> {
        entries
            .iter()
            .filter(|e| e.stream == s)
            .map(|e| e.log.as_str())
            .collect()
    };
    assert_eq!(of(Stream::Stderr), ["err\n"]);
    assert_eq!(
        of(Stream::Stdout),
        ["out\n", "tab\there <&> \"q\"\n", "partial"]
    );
    for e in &entries {
        assert!(
            before <= e.time && e.time <= after,
            "{} not in the run",
            e.time
        );
    }
    // `ctr run` deleted the task, so the shim closed the pipes: the driver is gone.
    wait_until("the driver to exit", Duration::from_secs(15), || {
        drivers(id).is_empty()
    });
}

#[test]
fn driver_rotates_into_max_file_files_of_at_most_max_size() {
    let Some(case) = Case::new("rotate") else {
        return;
    };
    let id = "rotate";
    let rotation = Rotation {
        max_size: 2000,
        max_file: 3,
    };
    case.run(
        id,
        rotation,
        false,
        "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done",
    );
    let got = files(&case.logs);
    let names: Vec<_> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            format!("{id}-json.log"),
            format!("{id}-json.log.1"),
            format!("{id}-json.log.2")
        ]
    );
    assert!(
        got.iter().all(|(_, len)| *len > 0 && *len <= 2000),
        "{got:?}"
    );
    // Oldest to newest, the kept lines are the last ones, consecutive.
    let (entries, _) = read_history(&case.logs, id, &ReadOptions::default()).unwrap();
    let n: Vec<u32> = entries
        .iter()
        .map(|e| {
            e.log
                .trim_end()
                .strip_prefix("line-")
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(*n.last().unwrap(), 399);
    assert!(n.windows(2).all(|w| w[1] == w[0] + 1), "{n:?}");
    assert!(n.len() > 30, "{} lines kept", n.len());
    let tail = ReadOptions {
        tail: Some(5),
        ..Default::default()
    };
    let (last, _) = read_history(&case.logs, id, &tail).unwrap();
    assert_eq!(last.len(), 5);
    assert_eq!(last[4].log, "line-399\n");
}

#[test]
fn driver_outlives_the_cli_and_ends_with_the_task() {
    let Some(case) = Case::new("detach") else {
        return;
    };
    let id = "detach";
    // `ctr run -d` (the CLI) returns as soon as the task runs.
    case.run(
        id,
        Rotation::default(),
        true,
        "echo start; sleep 2; echo end",
    );
    let pids = drivers(id);
    assert_eq!(pids.len(), 1, "driver processes: {pids:?}");
    let parent = ppid(pids[0]);
    let comm = fs::read_to_string(format!("/proc/{parent}/comm")).unwrap();
    assert!(
        comm.starts_with("containerd-shim"),
        "driver's parent is {comm:?}"
    );

    // Follow as `logs -f` does: the second line shows up while the task runs.
    let mut reader = LogReader::open(&case.logs, id).unwrap();
    let mut seen = Vec::new();
    wait_until(
        "both lines through the follower",
        Duration::from_secs(20),
        || {
            seen.extend(reader.read_entries().unwrap().into_iter().map(|e| e.log));
            seen.len() >= 2
        },
    );
    assert_eq!(seen, ["start\n", "end\n"]);

    wait_until("the task to stop", Duration::from_secs(20), || {
        stdout(&case.ctr(&["tasks", "ls"]))
            .lines()
            .any(|l| l.starts_with(id) && l.contains("STOPPED"))
    });
    // Until the task is deleted the shim holds the pipes; deleting it ends the driver.
    let o = case.ctr(&["tasks", "rm", id]);
    assert!(o.status.success(), "tasks rm: {}", text(&o));
    wait_until("the driver to exit", Duration::from_secs(15), || {
        drivers(id).is_empty()
    });
}
