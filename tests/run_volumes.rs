//! `run -v`: a one-off's extra volumes on the test bed's containerd (tests/testbed.sh): a
//! relative bind (read-only), a project volume, a plain named volume and an anonymous one, as
//! `docker compose run -v` mounts them; the guard (tests/common/stack.rs) runs `down -v` and
//! checks nothing of the project is left.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: failing loudly is the point

mod common;

use common::stack::{text, Stack};

const SUITE: &str = "runvol";

const COMPOSE: &str = r#"services:
  app:
    image: IMG
    network_mode: none
    command: ["sleep", "1000"]
    # a project volume stays in the loaded project only while a service uses it (compose drops
    # the others, and `-v data:...` would then name a plain volume "data", as with compose)
    volumes: ["data:/seed"]
volumes:
  data: {}
"#;

#[test]
fn run_mounts_binds_project_plain_and_anonymous_volumes() {
    let Some(case) = Stack::new(SUITE, "mounts") else {
        return;
    };
    case.compose(COMPOSE);
    std::fs::create_dir_all(case.dir.join("host")).unwrap();
    std::fs::write(case.dir.join("host/hello"), "from the host\n").unwrap();
    let plain = format!("berth-runvol-plain-{}", std::process::id());
    let script = "cat /b/hello; \
        touch /b/x 2>/dev/null || echo bind-read-only; \
        echo kept > /c/f; echo also > /d/f; \
        grep -q ' /e ' /proc/mounts && echo e-mounted";
    let plain_mount = format!("{plain}:/d");
    let o = case.berth(&[
        "run",
        "--rm",
        "-T",
        "-v",
        "./host:/b:ro",
        "-v",
        "data:/c",
        "-v",
        &plain_mount,
        "-v",
        "/e",
        "app",
        "sh",
        "-c",
        script,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("from the host\n"), "{}", text(&o));
    assert!(out.contains("bind-read-only\n"), "{}", text(&o));
    assert!(out.contains("e-mounted\n"), "{}", text(&o));
    assert!(!case.dir.join("host/x").exists());

    // the project volume carries the project's name and survives the one-off; the plain one
    // has exactly the name given
    let vols = case.volumes();
    let project_volume = format!("{}_data", case.project);
    assert!(vols.contains(&project_volume), "{vols:?}");
    assert!(vols.contains(&plain), "{vols:?}");
    let read = |v: &str| std::fs::read_to_string(case.lib.join("volumes").join(v).join("_data/f"));
    assert_eq!(read(&project_volume).unwrap(), "kept\n");
    assert_eq!(read(&plain).unwrap(), "also\n");

    // a second one-off sees what the first wrote
    let o = case.berth(&[
        "run",
        "--rm",
        "-T",
        "-v",
        "data:/c",
        "-v",
        &plain_mount,
        "app",
        "cat",
        "/c/f",
        "/d/f",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "kept\nalso\n");

    // `down -v` removes the project's volume but, as with Docker, not a volume the project
    // never declared
    case.ok(&["down", "-v", "-t", "1"]);
    let vols = case.volumes();
    assert!(!vols.contains(&project_volume), "{vols:?}");
    assert_eq!(vols, vec![plain.clone()]);
    std::fs::remove_dir_all(case.lib.join("volumes").join(&plain)).unwrap();
}
