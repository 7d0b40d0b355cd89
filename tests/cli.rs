//! The `berth` binary as a user meets it: file discovery, the environment, profiles, and the
//! errors for bad input, which must name the file, the line and the key.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a test harness: failing loudly is the point
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch project directory, removed when dropped.
struct Project {
    dir: PathBuf,
}

impl Project {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("berth-cli-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create project dir");
        Project { dir }
    }
    fn file(&self, rel: &str, content: &str) -> &Self {
        let p = self.dir.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("create parent");
        }
        fs::write(p, content).expect("write file");
        self
    }
    fn berth(&self, args: &[&str]) -> Output {
        self.berth_in(&self.dir, args, &[])
    }
    fn berth_in(&self, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.args(args).current_dir(cwd).env_clear();
        cmd.env("PATH", "/usr/bin:/bin").env("HOME", "/root");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run berth")
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn config_prints_the_normalized_project() {
    let p = Project::new("normalized");
    p.file(
        "compose.yaml",
        "services:\n  web:\n    build: .\n    ports:\n      - \"8080:80\"\n    command: echo $$HOME\n",
    );
    let o = p.berth(&["-p", "demo", "config"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let dir = p.dir.display().to_string();
    let want = format!(
        "name: demo\nservices:\n  web:\n    build:\n      context: {dir}\n      dockerfile: Dockerfile\n    command:\n      - echo\n      - $$HOME\n    networks:\n      default: null\n    ports:\n      - mode: ingress\n        target: 80\n        published: \"8080\"\n        protocol: tcp\nnetworks:\n  default:\n    name: demo_default\n"
    );
    assert_eq!(out, want);
}

#[test]
fn compose_file_is_found_in_a_parent_with_its_override() {
    let p = Project::new("discovery");
    p.file("compose.yaml", "services:\n  web:\n    image: nginx\n")
        .file(
            "compose.override.yaml",
            "services:\n  web:\n    image: nginx:1.27\n",
        )
        .file("sub/deeper/.keep", "");
    let o = p.berth_in(&p.dir.join("sub/deeper"), &["config", "--images"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "nginx:1.27\n");
}

#[test]
fn no_compose_file_exits_14() {
    let p = Project::new("nofile");
    let o = p.berth(&["config"]);
    assert_eq!(o.status.code(), Some(14));
    assert!(stderr(&o).contains("no configuration file provided"));
}

#[test]
fn dotenv_sets_compose_variables_and_interpolation() {
    let p = Project::new("dotenv");
    p.file(
        ".env",
        "COMPOSE_PROJECT_NAME=fromenv\nCOMPOSE_PROFILES=debug\nTAG=1.2\n",
    )
    .file(
        "compose.yaml",
        "services:\n  web:\n    image: \"app:${TAG}\"\n  tools:\n    image: busybox\n    profiles: [debug]\n  other:\n    image: busybox\n    profiles: [never]\n",
    );
    let o = p.berth(&["config", "--services"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut services: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    services.sort();
    assert_eq!(services, ["tools", "web"]);
    let o = p.berth(&["config", "--format", "json"]);
    let out = stdout(&o);
    assert!(out.contains("\"name\": \"fromenv\""), "{out}");
    assert!(out.contains("\"image\": \"app:1.2\""), "{out}");
}

#[test]
fn naming_a_service_enables_its_profile() {
    let p = Project::new("profiles");
    p.file(
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n  debug:\n    image: busybox\n    profiles: [dev]\n    depends_on: [web]\n",
    );
    let o = p.berth(&["config", "debug"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("  debug:\n"), "{out}");
    assert!(out.contains("  web:\n"), "{out}");
    let o = p.berth(&["config", "--profiles"]);
    assert_eq!(stdout(&o), "dev\n");
}

#[test]
fn unset_variable_warns_like_compose() {
    let p = Project::new("unset");
    p.file(
        "compose.yaml",
        "services:\n  web:\n    image: \"nginx:${NOPE}\"\n",
    );
    let o = p.berth(&["config", "--images"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("The \"NOPE\" variable is not set. Defaulting to a blank string."));
    assert_eq!(stdout(&o), "nginx:\n");
}

#[test]
fn bad_port_names_file_line_and_key() {
    let p = Project::new("badport");
    p.file(
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n    ports:\n      - \"8080:80\"\n      - \"80:abc\"\n",
    );
    let o = p.berth(&["config"]);
    assert_eq!(o.status.code(), Some(15));
    let err = stderr(&o);
    assert!(
        err.contains("compose.yaml:6: services.web.ports[1]: invalid port \"80:abc\""),
        "{err}"
    );
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let p = Project::new("unknownkey");
    p.file(
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n    restart_policy: always\n",
    );
    let o = p.berth(&["config"]);
    assert_eq!(o.status.code(), Some(15));
    let err = stderr(&o);
    assert!(err.contains("compose.yaml:4: services.web"), "{err}");
    assert!(err.contains("restart_policy"), "{err}");
}

#[test]
fn yaml_syntax_error_names_the_line() {
    let p = Project::new("syntax");
    p.file(
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n   bad: [\n",
    );
    let o = p.berth(&["config"]);
    assert_eq!(o.status.code(), Some(15));
    assert!(stderr(&o).contains("compose.yaml:"), "{}", stderr(&o));
}

#[test]
fn error_in_an_override_file_names_that_file() {
    let p = Project::new("override-error");
    p.file("compose.yaml", "services:\n  web:\n    image: nginx\n")
        .file(
            "override.yaml",
            "services:\n  web:\n    environment:\n      - FOO=1\n    pull_policy: sometimes\n",
        );
    let o = p.berth(&["-f", "compose.yaml", "-f", "override.yaml", "config"]);
    assert_eq!(o.status.code(), Some(15));
    let err = stderr(&o);
    assert!(
        err.contains("override.yaml:5: services.web.pull_policy"),
        "{err}"
    );
}

#[test]
fn required_variable_error_names_the_key() {
    let p = Project::new("required");
    p.file(
        "compose.yaml",
        "services:\n  web:\n    image: \"nginx:${TAG:?set TAG first}\"\n",
    );
    let o = p.berth(&["config"]);
    assert_eq!(o.status.code(), Some(15));
    let err = stderr(&o);
    assert!(
        err.contains("compose.yaml:3: services.web.image: required variable TAG is missing a value: set TAG first"),
        "{err}"
    );
}

#[test]
fn dependency_cycle_is_rejected() {
    let p = Project::new("cycle");
    p.file(
        "compose.yaml",
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
    );
    let o = p.berth(&["config"]);
    assert_eq!(o.status.code(), Some(15));
    assert!(
        stderr(&o).contains("dependency cycle detected"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn hash_is_stable_and_ignores_scale() {
    let p = Project::new("hash");
    p.file("compose.yaml", "services:\n  web:\n    image: nginx\n");
    let one = stdout(&p.berth(&["config", "--hash", "*"]));
    p.file(
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n    scale: 3\n",
    );
    let three = stdout(&p.berth(&["config", "--hash", "web"]));
    assert_eq!(one, three);
    assert!(one.starts_with("web "), "{one}");
    assert_eq!(one.trim().len(), "web ".len() + 64);
    p.file("compose.yaml", "services:\n  web:\n    image: nginx:2\n");
    let other = stdout(&p.berth(&["config", "--hash", "*"]));
    assert_ne!(one, other);
}

#[test]
fn stdin_is_a_compose_file() {
    let p = Project::new("stdin");
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["-f", "-", "-p", "fromstdin", "config", "--services"])
        .current_dir(&p.dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn berth");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"services:\n  one:\n    image: busybox\n")
            .expect("write stdin");
    }
    let o = child.wait_with_output().expect("wait");
    assert!(o.status.success());
    assert_eq!(stdout(&o), "one\n");
}

#[test]
fn output_flag_writes_a_file() {
    let p = Project::new("output");
    p.file("compose.yaml", "services:\n  web:\n    image: nginx\n");
    let o = p.berth(&["config", "-o", "out.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    let written = fs::read_to_string(p.dir.join("out.yaml")).expect("out.yaml");
    assert!(written.contains("image: nginx"));
}

#[test]
fn verbs_not_built_yet_say_so() {
    let p = Project::new("notyet");
    let o = p.berth(&["attach", "web"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o), "berth: 'attach' is not implemented yet\n");
}

#[test]
fn version_takes_its_own_short_format_flag() {
    for args in [
        &["version", "-f", "json"][..],
        &["version", "--format", "json"],
    ] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {o:?}");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["version"], format!("v{}", env!("CARGO_PKG_VERSION")));
    }
}
