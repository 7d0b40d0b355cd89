//! Storage for `berth up` as a user sees it: named volumes (kept by `down`, removed by `down
//! -v`, filled from the image on first use), anonymous volumes, binds relative to the project,
//! read-only binds, tmpfs, secrets and configs, against the test bed's containerd (the
//! harness is tests/common/stack.rs). Services run with `network_mode: none` and
//! write what they see into a bind-mounted directory the test reads from the host. The guard
//! runs `down -v` and checks that no container, task, snapshot, container directory or volume
//! is left.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: failing loudly is the point

mod common;

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::stack::{field, text, Stack};
use serde_json::Value;

/// Waits until `ps` shows `name` exited; returns its row.
fn wait_exited(case: &Stack, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = case.ps();
        let row = field(&rows, name).clone();
        if row["State"] == "exited" || Instant::now() > deadline {
            return row;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn read(path: PathBuf) -> String {
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn named_volume_is_filled_from_the_image_and_kept_until_down_v() {
    let Some(case) = Stack::new("storage", "named") else {
        return;
    };
    // the image's /data holds only `new`: layer 3 made it opaque over layer 2's files
    case.compose(
        "services:\n  w:\n    image: IMAGE\n    network_mode: none\n    volumes:\n      - data:/data\n      - ./out:/out\n    command: [\"sh\", \"-c\", \"ls /data > /out/ls; echo run >> /data/keep; cat /data/keep > /out/keep\"]\nvolumes:\n  data:\n    labels:\n      team: storage\n",
    );
    let p = &case.project;
    let w = format!("{p}-w-1");
    let vol = format!("{p}_data");
    case.ok(&["up", "-d"]);
    let row = wait_exited(&case, &w);
    assert!(
        row["Status"].as_str().unwrap().starts_with("Exited (0)"),
        "{row}"
    );
    // copy-up: the image's content, whiteouts applied, before the command ran
    assert_eq!(read(case.dir.join("out/ls")), "new\n");
    assert_eq!(read(case.dir.join("out/keep")), "run\n");
    // the out directory did not exist: a short-syntax bind source is created
    assert!(case.dir.join("out").is_dir());
    assert_eq!(case.volumes(), std::slice::from_ref(&vol));
    let record: Value = serde_json::from_str(&read(
        case.lib.join("volumes").join(&vol).join("volume.json"),
    ))
    .unwrap();
    assert_eq!(record["Labels"]["com.docker.compose.project"], p.as_str());
    assert_eq!(record["Labels"]["com.docker.compose.volume"], "data");
    assert_eq!(record["Labels"]["team"], "storage");
    assert!(record["Labels"]["com.docker.compose.version"].is_string());

    // down keeps the named volume; the next up sees its data and does not copy again
    case.ok(&["down", "-t", "1"]);
    assert!(case.ids("containers").is_empty());
    assert_eq!(case.volumes(), std::slice::from_ref(&vol));
    fs::remove_file(case.dir.join("out/ls")).unwrap();
    case.ok(&["up", "-d"]);
    wait_exited(&case, &w);
    assert_eq!(read(case.dir.join("out/keep")), "run\nrun\n");
    assert_eq!(read(case.dir.join("out/ls")), "keep\nnew\n");

    // down -v removes it
    let o = case.berth(&["down", "-v", "-t", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("Volume {vol}  Removed")),
        "{}",
        text(&o)
    );
    assert!(case.volumes().is_empty(), "{:?}", case.volumes());
}

#[test]
fn binds_tmpfs_secrets_configs_and_anonymous_volumes() {
    let Some(case) = Stack::new("storage", "mix") else {
        return;
    };
    fs::create_dir_all(case.dir.join("ro")).unwrap();
    fs::write(case.dir.join("ro/file"), "host\n").unwrap();
    fs::write(case.dir.join("s.txt"), "s3cret\n").unwrap();
    let script = [
        "touch /ro/x 2>/dev/null && echo writable > /out/ro || echo refused > /out/ro",
        "cat /ro/file >> /out/ro",
        "grep -E ' /(scratch|cache) ' /proc/mounts | cut -d' ' -f1-3 > /out/tmpfs",
        "stat -c '%a' /cache >> /out/tmpfs",
        "stat -c '%a %u %g' /run/secrets/s /etc/c.conf /run/secrets/t > /out/files",
        "cat /run/secrets/s /etc/c.conf /run/secrets/t >> /out/files",
        "ls /data > /out/anon; echo mine > /data/mine",
    ]
    .join("; ");
    let yaml = format!(
        "services:\n  m:\n    image: IMAGE\n    network_mode: none\n    volumes:\n      - ./out:/out\n      - ./ro:/ro:ro\n      - type: tmpfs\n        target: /cache\n        tmpfs:\n          mode: 01770\n    tmpfs:\n      - /scratch\n    secrets:\n      - source: s\n        uid: '1000'\n        gid: '1000'\n        mode: 0400\n      - source: t\n    configs:\n      - source: c\n        target: /etc/c.conf\n        mode: 0440\n    command: [\"sh\", \"-c\", {script:?}]\nsecrets:\n  s:\n    file: ./s.txt\n  t:\n    environment: BERTH_TEST_SECRET\nconfigs:\n  c:\n    content: hello\n"
    );
    case.compose(&yaml);
    fs::write(case.dir.join(".env"), "BERTH_TEST_SECRET=from-env\n").unwrap();
    let m = format!("{}-m-1", case.project);
    case.ok(&["up", "-d"]);
    let row = wait_exited(&case, &m);
    assert!(
        row["Status"].as_str().unwrap().starts_with("Exited (0)"),
        "{row}"
    );
    assert_eq!(read(case.dir.join("out/ro")), "refused\nhost\n");
    assert!(!case.dir.join("ro/x").exists());
    assert_eq!(
        read(case.dir.join("out/tmpfs")),
        "tmpfs /cache tmpfs\ntmpfs /scratch tmpfs\n1770\n"
    );
    assert_eq!(
        read(case.dir.join("out/files")),
        "400 1000 1000\n440 0 0\n444 0 0\ns3cret\nhellofrom-env"
    );
    // the image's VOLUME /data became an anonymous volume, filled from the image
    assert_eq!(read(case.dir.join("out/anon")), "new\n");
    let anon = case.volumes();
    assert_eq!(anon.len(), 1, "{anon:?}");
    assert_eq!(anon[0].len(), 64, "{anon:?}");
    let record = read(case.lib.join("volumes").join(&anon[0]).join("volume.json"));
    assert!(record.contains("com.docker.volume.anonymous"), "{record}");

    // a recreate re-attaches the anonymous volume, data and all
    case.compose(&yaml.replace("ls /data > /out/anon", "ls /data > /out/anon2"));
    let o = case.berth(&["up", "-d"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Recreated"),
        "{}",
        text(&o)
    );
    wait_exited(&case, &m);
    assert_eq!(read(case.dir.join("out/anon2")), "mine\nnew\n");
    assert_eq!(case.volumes(), anon);

    // down without -v leaves the anonymous volume (as Docker), down -v in the guard would
    // not find it again: remove it with -v now
    case.ok(&["down", "-v", "-t", "1"]);
    assert!(case.volumes().is_empty(), "{:?}", case.volumes());
    // the per-container secret and config copies went with the container
    assert!(case.container_dirs().is_empty());
}

#[test]
fn a_missing_long_syntax_bind_fails_and_leaves_nothing() {
    let Some(case) = Stack::new("storage", "nobind") else {
        return;
    };
    case.compose(
        "services:\n  a:\n    image: IMAGE\n    network_mode: none\n    volumes:\n      - /anon\n      - type: bind\n        source: ./missing\n        target: /m\n        bind:\n          create_host_path: false\n    command: [\"true\"]\n",
    );
    let o = case.berth(&["up", "-d"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let want = format!(
        "invalid mount config for type \"bind\": bind source path does not exist: {}",
        case.dir.join("missing").display()
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&want),
        "{}",
        text(&o)
    );
    assert!(!case.dir.join("missing").exists());
    assert_eq!(case.leftovers(), Vec::<String>::new());
}

#[test]
fn volumes_from_repeats_the_other_services_mounts_read_only() {
    let Some(case) = Stack::new("storage", "from") else {
        return;
    };
    // `src` holds the named volume (filled from the image at its create); `user` sees it
    // read-only through volumes_from, at the same place, and gets no anonymous /data of its own
    case.compose(
        "services:\n  src:\n    image: IMAGE\n    network_mode: none\n    volumes:\n      - shared:/data\n    command: [\"true\"]\n  user:\n    image: IMAGE\n    network_mode: none\n    volumes_from:\n      - src:ro\n    volumes:\n      - ./out:/out\n    command: [\"sh\", \"-c\", \"ls /data > /out/ls; touch /data/x 2>/dev/null && echo rw >> /out/ls || echo ro >> /out/ls\"]\nvolumes:\n  shared: {}\n",
    );
    let user = format!("{}-user-1", case.project);
    case.ok(&["up", "-d"]);
    let row = wait_exited(&case, &user);
    assert!(
        row["Status"].as_str().unwrap().starts_with("Exited (0)"),
        "{row}"
    );
    assert_eq!(read(case.dir.join("out/ls")), "new\nro\n");
    // src's image VOLUME /data is covered by its named volume, user's by volumes_from
    assert_eq!(case.volumes(), [format!("{}_shared", case.project)]);
}

#[test]
fn a_create_that_fails_half_way_removes_what_it_made() {
    let Some(case) = Stack::new("storage", "undo") else {
        return;
    };
    // the anonymous volume for /anon is made before the bind volume's missing device is found
    case.compose(
        "services:\n  a:\n    image: IMAGE\n    network_mode: none\n    volumes:\n      - /anon\n      - dev:/dev-data\n    command: [\"true\"]\nvolumes:\n  dev:\n    driver: local\n    driver_opts:\n      type: none\n      o: bind\n      device: ./nodev\n",
    );
    let o = case.berth(&["up", "-d"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let want = format!("device {} does not exist", case.dir.join("nodev").display());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&want),
        "{}",
        text(&o)
    );
    // the project volume was made first, as compose makes it; nothing else is left
    assert_eq!(case.volumes(), [format!("{}_dev", case.project)]);
    assert!(case.ids("containers").is_empty());
    assert!(case.active_snapshots().is_empty());
    assert!(case.container_dirs().is_empty());
}
