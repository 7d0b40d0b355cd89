//! `berth exec` and `berth run` as a user runs them: the real binary against the test bed's
//! containerd (tests/testbed.sh), services with `network_mode: none`. Each test has a
//! containerd namespace and berth state directories of its own; its guard always runs
//! `down --remove-orphans` (one-off containers are removed only with it, as with compose), then
//! checks with `ctr` that nothing is left. The TTY case runs berth under `script` (util-linux),
//! which gives it a pseudo-terminal as stdin and stdout.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: failing loudly is the point

mod common;

use common::stack::{text, Stack as Case};

use std::fs;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// This suite's part of the namespace, project and scratch names.
const SUITE: &str = "exec";

impl Case {
    /// `berth args` with `input` on its stdin (`None`: /dev/null).
    fn berth_with_input(&self, args: &[&str], input: Option<&str>) -> Output {
        let mut cmd = self.command(args);
        cmd.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run berth");
        if let Some(text) = input {
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(text.as_bytes()).unwrap();
        }
        child.wait_with_output().expect("wait for berth")
    }
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The row of `name` in `ps -a --format json`, if listed.
fn row<'a>(rows: &'a [Value], name: &str) -> Option<&'a Value> {
    rows.iter().find(|r| r["Name"] == name)
}

/// Waits until `ps -a` shows `name` exited (or gives up after a while and returns the rows).
fn wait_exited(case: &Case, name: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = case.ps();
        let exited = row(&rows, name).is_some_and(|r| r["State"] == "exited");
        if exited || Instant::now() > deadline {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A label of container `id`, from `ctr containers info`.
fn label(case: &Case, id: &str, key: &str) -> Option<String> {
    let info = case.ctr_output(&["containers", "info", id]);
    let info: Value = serde_json::from_slice(&info.stdout).ok()?;
    info["Labels"][key].as_str().map(str::to_owned)
}

/// Runs `berth args` on a pseudo-terminal made by `script` (util-linux), followed by the shell
/// text `then` (run by the same shell, on the same terminal).
fn in_terminal(case: &Case, args: &[&str], then: &str) -> Output {
    let c = case.command(args);
    let mut words = vec![c.get_program().to_string_lossy().into_owned()];
    words.extend(c.get_args().map(|a| a.to_string_lossy().into_owned()));
    let cmdline = format!("{}{then}", shell_words::join(words));
    let mut script = Command::new("script");
    script
        .env_clear()
        .args(["-qec", &cmdline, "/dev/null"])
        .stdin(Stdio::null());
    for (k, v) in c.get_envs() {
        if let Some(v) = v {
            script.env(k, v);
        }
    }
    script.current_dir(&case.dir).output().expect("run script")
}

const EXEC_STACK: &str = "services:
  s:
    image: IMAGE
    network_mode: none
    command: sleep 1000
    stop_grace_period: 1s
  done:
    image: IMAGE
    network_mode: none
    command: \"true\"
";

#[test]
fn exec_streams_exit_codes_options_and_tty() {
    let Some(case) = Case::new(SUITE, "exec") else {
        return;
    };
    case.compose(EXEC_STACK);
    let p = &case.project;
    case.ok(&["up", "-d"]);

    // stdout and stderr stay apart; the exit code comes through
    let o = case.berth(&[
        "exec",
        "-T",
        "s",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 7",
    ]);
    assert_eq!(o.status.code(), Some(7), "{}", text(&o));
    assert_eq!(out(&o), "out\n");
    assert!(err(&o).ends_with("err\n"), "{}", text(&o));

    // -e, -w and -u (a name from the container's /etc/passwd)
    let o = case.berth(&[
        "exec",
        "-T",
        "-e",
        "GREETING=hello",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "s",
        "sh",
        "-c",
        "echo $GREETING; pwd; id -u",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(out(&o), "hello\n/tmp\n65534\n");
    let o = case.berth(&["exec", "-T", "-u", "ghost", "s", "true"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        err(&o).contains("unable to find user ghost"),
        "{}",
        text(&o)
    );

    // --privileged: every capability, beyond the container's default set
    let cap_eff = |privileged: bool| -> u64 {
        let mut args = vec!["exec", "-T"];
        if privileged {
            args.push("--privileged");
        }
        args.extend(["s", "grep", "CapEff", "/proc/self/status"]);
        let o = case.berth(&args);
        assert!(o.status.success(), "{}", text(&o));
        let hex = out(&o).split_whitespace().nth(1).unwrap().to_owned();
        u64::from_str_radix(&hex, 16).unwrap()
    };
    let (plain, privileged) = (cap_eff(false), cap_eff(true));
    assert_eq!(plain & privileged, plain);
    assert!(
        privileged.count_ones() > plain.count_ones() + 10,
        "{plain:x} {privileged:x}"
    );

    // piped stdin reaches the process, which then sees end of file
    let o = case.berth_with_input(&["exec", "-T", "s", "cat"], Some("hi\nthere\n"));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(out(&o), "hi\nthere\n");

    // a TTY when berth runs in a terminal: `script` gives it one; the terminal is back in its
    // cooked mode once berth exits
    let o = in_terminal(
        &case,
        &[
            "exec",
            "s",
            "sh",
            "-c",
            "readlink /proc/self/fd/0; echo $TERM; exit 3",
        ],
        "; code=$?; stty -a; exit $code",
    );
    let shown = out(&o);
    assert!(shown.contains("/dev/pts/"), "{}", text(&o));
    assert!(shown.contains("xterm"), "{}", text(&o));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let modes: Vec<&str> = shown.split_whitespace().collect();
    assert!(
        modes.contains(&"icanon") && modes.contains(&"echo"),
        "terminal left raw: {}",
        text(&o)
    );

    // detached: the process runs on after berth returns
    let o = case.berth(&["exec", "-d", "s", "sh", "-c", "echo bg > /tmp/detached"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(out(&o), "");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = String::new();
    while Instant::now() < deadline && seen != "bg\n" {
        seen = out(&case.berth(&["exec", "-T", "s", "cat", "/tmp/detached"]));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(seen, "bg\n");

    // compose's errors: a service with no running container, a container number that is not
    // there, a service that does not exist
    wait_exited(&case, &format!("{p}-done-1"));
    let o = case.berth(&["exec", "-T", "done", "true"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(err(&o), "service \"done\" is not running\n");
    let o = case.berth(&["exec", "-T", "--index", "2", "s", "true"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(err(&o), "service \"s\" is not running container #2\n");
    let o = case.berth(&["exec", "-T", "--index", "1", "s", "true"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = case.berth(&["exec", "-T", "nosuch", "true"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(err(&o), "service \"nosuch\" is not running\n");
    // exec made no container and left no FIFO behind
    assert_eq!(case.ids("containers").len(), 2);
    let dir = case
        .lib
        .join("containers")
        .join(&case.ns)
        .join(format!("{p}-s-1"));
    let extra: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("berth-exec-"))
        .collect();
    assert!(extra.is_empty(), "{extra:?}");
}

const RUN_STACK: &str = "services:
  db:
    image: IMAGE
    network_mode: none
    command: sleep 1000
    stop_grace_period: 1s
  app:
    image: IMAGE
    network_mode: none
    command: echo from-app
    depends_on: [db]
  extra:
    image: IMAGE
    network_mode: none
    command: sleep 1000
    stop_grace_period: 1s
";

#[test]
fn run_one_offs_start_deps_pass_codes_and_clean_up() {
    let Some(case) = Case::new(SUITE, "run") else {
        return;
    };
    case.compose(RUN_STACK);
    let p = &case.project;
    let db = format!("{p}-db-1");
    let extra = format!("{p}-extra-1");
    // a service the run does not need is left alone, and is no orphan
    case.ok(&["up", "-d", "extra"]);
    let base = |c: &Case| {
        let mut ids = c.ids("containers");
        ids.sort();
        ids
    };

    // --rm: the dependency is started first, the exit code comes through, nothing is left of
    // the one-off
    let o = case.berth(&[
        "run",
        "--rm",
        "-T",
        "app",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(out(&o), "out\n");
    assert!(err(&o).contains("err\n"), "{}", text(&o));
    assert!(
        err(&o).contains(&format!("Container {db}  Started")),
        "{}",
        text(&o)
    );
    assert!(!err(&o).contains("orphan"), "{}", text(&o));
    assert_eq!(base(&case), vec![db.clone(), extra.clone()]);
    let rows = case.ps();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(row(&rows, &db).unwrap()["State"], "running");

    // attached to a terminal, the one-off gets a TTY
    let o = in_terminal(
        &case,
        &[
            "run",
            "--rm",
            "--no-deps",
            "app",
            "sh",
            "-c",
            "readlink /proc/self/fd/1; exit 2",
        ],
        "",
    );
    assert!(out(&o).contains("/dev/pts/"), "{}", text(&o));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(base(&case), vec![db.clone(), extra.clone()]);

    // the service's own command when none is given; stdin piped through
    let o = case.berth(&["run", "--rm", "-T", "app"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(out(&o), "from-app\n");
    let o = case.berth_with_input(
        &["run", "--rm", "-T", "--no-deps", "app", "cat"],
        Some("piped\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(out(&o), "piped\n");

    // -d prints compose's one-off name; the container is labelled one-off, listed by ps -a only
    let o = case.berth(&["run", "-d", "app", "sleep", "1000"]);
    assert!(o.status.success(), "{}", text(&o));
    let name = out(&o).trim().to_owned();
    let prefix = format!("{p}-app-run-");
    assert!(name.starts_with(&prefix), "{name}");
    let slug = &name[prefix.len()..];
    assert_eq!(slug.len(), 12, "{name}");
    assert!(slug.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
    assert_eq!(
        label(&case, &name, "com.docker.compose.oneoff").as_deref(),
        Some("True")
    );
    assert_eq!(
        label(&case, &db, "com.docker.compose.oneoff").as_deref(),
        Some("False")
    );
    let full_slug = label(&case, &name, "com.docker.compose.slug").unwrap();
    assert!(
        full_slug.len() == 64 && full_slug.starts_with(slug),
        "{full_slug}"
    );
    assert_eq!(row(&case.ps(), &name).unwrap()["State"], "running");
    assert!(!case.ok(&["ps"]).contains(&name));
    // exec reaches a one-off container too
    let o = case.berth(&["exec", "-T", "app", "echo", "in-one-off"]);
    assert_eq!(out(&o), "in-one-off\n", "{}", text(&o));

    // --entrypoint and -e, -w, -u; without --rm the exited one-off stays, with its exit code
    let o = case.berth(&[
        "run",
        "-T",
        "--no-deps",
        "-e",
        "V=x",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "--entrypoint",
        "sh -c",
        "--name",
        "kept",
        "app",
        "echo $V; pwd; id -u; exit 4",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert_eq!(out(&o), "x\n/tmp\n65534\n");
    let rows = wait_exited(&case, "kept");
    let kept = row(&rows, "kept").unwrap();
    assert_eq!(kept["ExitCode"], 4, "{kept}");
    assert!(
        kept["Status"].as_str().unwrap().starts_with("Exited (4)"),
        "{kept}"
    );
    // the name is taken now
    let o = case.berth(&["run", "-T", "--no-deps", "--name", "kept", "app", "true"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(err(&o).contains("is already in use"), "{}", text(&o));

    // SIGTERM to an attached berth run reaches the container's process
    let mut child = case
        .command(&[
            "run",
            "--rm",
            "-T",
            "--no-deps",
            "--name",
            "trapper",
            "app",
            "sh",
            "-c",
            "trap 'echo got-term; exit 5' TERM; echo ready; while true; do sleep 1; done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 6];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    assert_eq!(&first, b"ready\n");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(rest, "got-term\n");
    assert_eq!(status.code(), Some(5));
    assert!(!case.ids("containers").contains(&"trapper".to_string()));

    // a `-v` compose cannot parse is refused before anything is made (tests/run_volumes.rs
    // has the ones that work)
    let before = case.ids("containers");
    let o = case.berth(&["run", "--rm", "-T", "-v", "data:/x:ro:extra", "app", "true"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        err(&o).contains("invalid spec: data:/x:ro:extra: too many colons"),
        "{}",
        text(&o)
    );
    assert_eq!(case.ids("containers"), before);

    // `down` leaves one-off containers, as compose does; --remove-orphans takes them
    let o = case.berth(&["down", "-t", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let mut left = case.ids("containers");
    left.sort();
    let mut want = vec![name.clone(), "kept".to_string()];
    want.sort();
    assert_eq!(left, want);
    // (with -v: the image's VOLUME gave every container an anonymous volume, which only -v
    // removes, as Docker does)
    let o = case.berth(&["down", "-v", "--remove-orphans", "-t", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(case.leftovers(), Vec::<String>::new());
}
