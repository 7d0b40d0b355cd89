//! `berth exec` and `berth run` as a user runs them: the real binary against the test bed's
//! containerd (tests/testbed.sh), services with `network_mode: none`. Each test has a
//! containerd namespace and berth state directories of its own; its guard always runs
//! `down --remove-orphans` (one-off containers are removed only with it, as with compose), then
//! checks with `ctr` that nothing is left. The TTY case runs berth under `script` (util-linux),
//! which gives it a pseudo-terminal as stdin and stdout.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: failing loudly is the point

mod common;

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
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
        let root = common::scratch_path("exec");
        fs::create_dir_all(&root).unwrap();
        let case = Case {
            address,
            hosts_dir,
            image: format!("{registry}/{IMAGE}"),
            ns: format!("berth-test-exec-{name}-{}", std::process::id()),
            project: format!("exec-{name}"),
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

    fn berth(&self, args: &[&str]) -> Output {
        self.berth_with_input(args, None)
    }

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

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.current_dir(&self.dir)
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
            .args(args);
        cmd
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
        // the guard always runs `down` (with one-off containers), then checks it left nothing
        let down = self.berth(&["down", "--remove-orphans", "-t", "1"]);
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
    let Some(case) = Case::new("exec") else {
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
    let Some(case) = Case::new("run") else {
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

    // bind mounts are not there yet: refused before anything is made
    let before = case.ids("containers");
    let o = case.berth(&["run", "--rm", "-T", "-v", "/tmp:/x", "app", "true"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(err(&o).contains("not implemented yet"), "{}", text(&o));
    assert_eq!(case.ids("containers"), before);

    // `down` leaves one-off containers, as compose does; --remove-orphans takes them
    let o = case.berth(&["down", "-t", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let mut left = case.ids("containers");
    left.sort();
    let mut want = vec![name.clone(), "kept".to_string()];
    want.sort();
    assert_eq!(left, want);
    let o = case.berth(&["down", "--remove-orphans", "-t", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(case.leftovers(), Vec::<String>::new());
}
