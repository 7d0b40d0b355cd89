#![allow(clippy::unwrap_used)]

use super::*;
use crate::model::loader::testfs::{load_mem, mem_fs};
use crate::model::project::{build, ProjectSettings};
use crate::spec::MountKind;

/// A project from a compose.yaml in `/p`, as `up` loads it.
fn project(yaml: &str) -> Project {
    let files = [("compose.yaml", yaml)];
    let loaded = load_mem(&files).unwrap();
    let settings = ProjectSettings {
        consistency: true,
        resolve_environment: true,
        discard_env_files: true,
        ..Default::default()
    };
    build(
        &loaded,
        &loaded.env,
        &mem_fs(&files),
        &settings,
        &mut Vec::new(),
    )
    .unwrap()
}

fn want(p: &Project, service: &str, image_volumes: &[&str]) -> Result<Vec<Wanted>> {
    let iv: Vec<String> = image_volumes.iter().map(|s| s.to_string()).collect();
    wanted(p, service, &p.services[service], &iv).map(|(w, _)| w)
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("berth-storage-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn volume_sources_resolve_as_compose_names_them() {
    let p = project(
        "name: p\nservices:\n  a:\n    image: x\n    volumes:\n      - data:/data:nocopy\n      - ./rel:/rel:ro\n      - /anon\n      - type: bind\n        source: /abs\n        target: /long\n      - ext:/ext\n      - named:/n\n      - type: tmpfs\n        target: /t\n        tmpfs: {size: 1m}\n      - scratch:/s\nvolumes:\n  data: {}\n  ext: {external: true}\n  named: {name: other}\n  scratch:\n    driver_opts: {type: tmpfs, device: tmpfs, o: 'size=2m,mode=1777'}\n",
    );
    let w = want(&p, "a", &["/data", "/img"]).unwrap();
    let got: Vec<(&str, &Source)> = w
        .iter()
        .map(|w| (w.config.target.as_str(), &w.source))
        .collect();
    assert_eq!(
        got[0],
        (
            "/data",
            &Source::Named {
                name: "p_data".into(),
                key: "data".into(),
                external: false,
                nocopy: true,
                subpath: String::new(),
                device: None
            }
        )
    );
    // relative short binds are resolved by the model and may be created
    assert_eq!(
        got[1],
        (
            "/rel",
            &Source::Bind {
                path: "/p/rel".into(),
                create: true
            }
        )
    );
    assert!(w[1].config.read_only);
    assert_eq!(got[2], ("/anon", &Source::Anonymous { nocopy: false }));
    // long syntax without create_host_path: must exist
    assert_eq!(
        got[3],
        (
            "/long",
            &Source::Bind {
                path: "/abs".into(),
                create: false
            }
        )
    );
    assert!(matches!(got[4].1, Source::Named { name, external: true, .. } if name == "ext"));
    assert!(matches!(got[5].1, Source::Named { name, .. } if name == "other"));
    assert_eq!(got[6], ("/t", &Source::Tmpfs));
    // a tmpfs local volume is a tmpfs mount with its size and mode
    assert_eq!(got[7], ("/s", &Source::Tmpfs));
    let t = w[7].config.tmpfs.as_ref().unwrap();
    assert_eq!((t.size.0, t.mode), (2 << 20, 0o1777));
    // the image's /data is covered by the service; /img gets an anonymous volume
    assert_eq!(got[8], ("/img", &Source::Anonymous { nocopy: false }));
    assert_eq!(w.len(), 9);
}

#[test]
fn secrets_and_configs_targets_and_modes() {
    let p = project(
        "name: p\nservices:\n  a:\n    image: x\n    secrets:\n      - s\n      - source: s\n        target: rel\n        uid: '1000'\n        mode: 0400\n    configs:\n      - c\n      - source: c\n        target: sub/c.txt\n      - source: c\n        target: /etc/c\nsecrets:\n  s: {file: ./s.txt}\nconfigs:\n  c: {content: hello}\n",
    );
    let w = want(&p, "a", &[]).unwrap();
    let targets: Vec<&str> = w.iter().map(|w| w.config.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "/run/secrets/s",
            "/run/secrets/rel",
            "/c",
            "/sub/c.txt",
            "/etc/c"
        ]
    );
    assert!(w.iter().all(|w| w.config.read_only));
    assert_eq!(
        w[1].source,
        Source::File {
            dir: "secrets",
            key: "s".into(),
            content: Content::File("/p/s.txt".into()),
            uid: 1000,
            gid: 0,
            mode: 0o400
        }
    );
    assert!(
        matches!(&w[2].source, Source::File { content: Content::Inline(c), mode: 0o444, .. } if c == "hello")
    );
}

#[test]
fn unsupported_volume_drivers_are_errors_naming_the_service() {
    let p = project(
        "name: p\nservices:\n  a:\n    image: x\n    volumes:\n      - vol:/v\nvolumes:\n  vol:\n    driver_opts: {type: nfs, o: 'addr=1.2.3.4', device: ':/x'}\n",
    );
    let e = want(&p, "a", &[]).unwrap_err().to_string();
    assert!(e.starts_with("service \"a\": volume \"vol\""), "{e}");
    assert!(e.contains("\"nfs\""), "{e}");
}

#[test]
fn volumes_from_parses_and_repeats_the_other_containers_mounts() {
    assert_eq!(
        VolumesFrom::parse("db:ro"),
        VolumesFrom {
            service: Some("db".into()),
            container: None,
            read_only: Some(true)
        }
    );
    assert_eq!(
        VolumesFrom::parse("container:c1"),
        VolumesFrom {
            service: None,
            container: Some("c1".into()),
            read_only: None
        }
    );
    let rec = |t: &str, ro| Recorded {
        kind: "volume".into(),
        source: format!("v{t}"),
        target: t.into(),
        read_only: ro,
        anonymous: true,
    };
    let own = vec![Wanted {
        config: ServiceVolumeConfig {
            r#type: "bind".into(),
            target: "/mine".into(),
            ..Default::default()
        },
        source: Source::Tmpfs,
    }];
    let got = from_recorded(
        &own,
        &VolumesFrom::parse("service:db:ro"),
        vec![rec("/mine", false), rec("/x", false)],
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].config.target, "/x");
    assert!(got[0].config.read_only);
    let labels = BTreeMap::from([(
        MOUNTS_LABEL.to_string(),
        serde_json::to_string(&vec![rec("/a", false)]).unwrap(),
    )]);
    assert_eq!(
        anonymous_volumes(&labels),
        BTreeMap::from([("/a".to_string(), "v/a".to_string())])
    );
}

#[test]
fn realize_makes_binds_volumes_and_files_and_undoes_on_error() {
    let root = scratch("realize");
    let lib = root.join("lib");
    let dir = root.join("c");
    let p = project(&format!(
        "name: p\nservices:\n  a:\n    image: x\n    volumes:\n      - {r}/made:/made\n      - /anon\n    configs:\n      - source: c\n        uid: '7'\n        mode: 0640\n  b:\n    image: x\n    volumes:\n      - /anon\n      - type: bind\n        source: {r}/missing\n        target: /m\nconfigs:\n  c: {{content: hi}}\n",
        r = root.display()
    ));
    let w = want(&p, "a", &[]).unwrap();
    let r = realize(&lib, &dir, "p", "a", &w, &BTreeMap::new()).unwrap();
    assert!(root.join("made").is_dir());
    assert_eq!(r.created.len(), 1);
    assert_eq!(r.created[0].len(), 64);
    let v = volumes::inspect(&lib, &r.created[0]).unwrap().unwrap();
    assert!(v.labels.contains_key(ANONYMOUS_LABEL));
    let cfg = dir.join("configs/c");
    let meta = fs::metadata(&cfg).unwrap();
    assert_eq!((meta.mode() & 0o7777, meta.uid()), (0o640, 7));
    assert_eq!(fs::read_to_string(&cfg).unwrap(), "hi");
    assert_eq!(r.mounts.len(), 3);
    assert_eq!(r.mounts[1].kind, MountKind::Volume);
    assert_eq!(r.mounts[2].target, "/c");
    assert!(r.mounts[2].read_only);
    assert_eq!(r.copy_up.len(), 1);
    let label: Vec<Recorded> = serde_json::from_str(&r.label()).unwrap();
    assert!(label[1].anonymous && !label[0].anonymous);

    // a recreate re-attaches the anonymous volume
    let inherited = BTreeMap::from([("/anon".to_string(), r.created[0].clone())]);
    let again = realize(&lib, &dir, "p", "a", &w, &inherited).unwrap();
    assert!(again.created.is_empty());
    assert_eq!(again.record[1].source, r.created[0]);

    // b: the anonymous volume made before the missing bind is found is removed again
    let before = volumes::list(&lib).unwrap().len();
    let wb = want(&p, "b", &[]).unwrap();
    let e = realize(&lib, &root.join("cb"), "p", "b", &wb, &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "service \"b\": invalid mount config for type \"bind\": bind source path does not exist: {}/missing",
            root.display()
        )
    );
    assert_eq!(volumes::list(&lib).unwrap().len(), before);
    assert!(!root.join("missing").exists());
    let e = preflight(&p, &[], &lib).unwrap_err().to_string();
    assert!(e.contains("bind source path does not exist"), "{e}");
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn external_volumes_must_exist() {
    let root = scratch("external");
    let p = project(
        "name: p\nservices:\n  a:\n    image: x\n    volumes:\n      - ext:/x\nvolumes:\n  ext: {external: true}\n",
    );
    let e = preflight(&p, &[], &root).unwrap_err().to_string();
    assert_eq!(e, "external volume \"ext\" not found");
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn project_volumes_carry_compose_labels() {
    let p = project(
        "name: p\nservices:\n  a:\n    image: x\n    volumes:\n      - dd:/d\nvolumes:\n  dd:\n    labels: {team: x}\n    driver_opts: {type: none, o: bind, device: /srv}\n",
    );
    let v = project_volume(&p, "p_dd", "1.0").unwrap();
    assert_eq!(v.labels["com.docker.compose.project"], "p");
    assert_eq!(v.labels["com.docker.compose.volume"], "dd");
    assert_eq!(v.labels["com.docker.compose.version"], "1.0");
    assert_eq!(v.labels["team"], "x");
    assert_eq!(v.options["device"], "/srv");
    assert!(project_volume(&p, "q_d", "1.0").is_none());
    let w = want(&p, "a", &[]).unwrap();
    assert!(
        matches!(&w[0].source, Source::Named { device: Some(d), .. } if d == Path::new("/srv"))
    );
}

#[test]
fn copy_up_merges_layers_with_whiteouts_and_keeps_modes() {
    let root = scratch("copyup");
    let (upper, top, bottom) = (root.join("u"), root.join("t"), root.join("b"));
    fs::create_dir_all(&upper).unwrap();
    for d in [&top, &bottom] {
        fs::create_dir_all(d.join("data")).unwrap();
    }
    fs::write(bottom.join("data/old"), "old").unwrap();
    fs::write(bottom.join("data/gone"), "gone").unwrap();
    fs::create_dir_all(bottom.join("data/sub")).unwrap();
    fs::write(bottom.join("data/sub/deep"), "deep").unwrap();
    fs::write(top.join("data/new"), "new").unwrap();
    fs::set_permissions(top.join("data/new"), fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("new", top.join("data/link")).unwrap();
    fs::set_permissions(top.join("data"), fs::Permissions::from_mode(0o750)).unwrap();
    // a whiteout hides a lower file (a 0/0 character device, as overlay's)
    let wh = top.join("data/gone");
    let c = std::ffi::CString::new(wh.display().to_string()).unwrap();
    // SAFETY: a NUL-terminated path; mknod only reads it.
    let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, 0) } == 0;
    let m = Mount {
        kind: "overlay".into(),
        source: "overlay".into(),
        target: String::new(),
        options: vec![
            format!("upperdir={}", upper.display()),
            format!("lowerdir={}:{}", top.display(), bottom.display()),
        ],
    };
    let dest = root.join("vol");
    fs::create_dir_all(&dest).unwrap();
    copy_up(
        std::slice::from_ref(&m),
        &[
            (dest.clone(), "/data".into()),
            (root.join("u"), "/none".into()),
        ],
    )
    .unwrap();
    assert_eq!(fs::read_to_string(dest.join("new")).unwrap(), "new");
    assert_eq!(fs::read_to_string(dest.join("old")).unwrap(), "old");
    assert_eq!(fs::read_to_string(dest.join("sub/deep")).unwrap(), "deep");
    assert_eq!(fs::read_link(dest.join("link")).unwrap(), Path::new("new"));
    assert_eq!(
        fs::metadata(dest.join("new")).unwrap().mode() & 0o777,
        0o600
    );
    assert_eq!(fs::metadata(&dest).unwrap().mode() & 0o777, 0o750);
    if made {
        assert!(!dest.join("gone").exists());
    }
    // a volume that is not empty is left alone
    fs::write(top.join("data/later"), "x").unwrap();
    copy_up(std::slice::from_ref(&m), &[(dest.clone(), "/data".into())]).unwrap();
    assert!(!dest.join("later").exists());
    fs::remove_dir_all(&root).unwrap();
}
