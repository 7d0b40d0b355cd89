//! Whole-service tests of [`build`], and one golden spec a person can read
//! (`testdata/web.json`; `BERTH_UPDATE_GOLDEN=1` rewrites it).

use std::path::Path;

use oci_spec::image::{ConfigBuilder, ImageConfiguration, ImageConfigurationBuilder};
use oci_spec::runtime::{Capability, LinuxNamespaceType, Spec};

use super::*;
use crate::model::types::{
    MappingWithEquals, ServiceConfig, ServiceVolumeConfig, ShellCommand, UnitBytes,
};

const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101:nginx:/var/cache/nginx:/sbin/nologin\n";
const GROUP: &str = "root:x:0:root\nnginx:x:101:nginx\nwww-data:x:82:nginx\n";

fn image() -> ImageConfiguration {
    ImageConfigurationBuilder::default()
        .config(
            ConfigBuilder::default()
                .env(vec![
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
                    "NGINX_VERSION=1.27.0".to_string(),
                ])
                .entrypoint(vec!["/docker-entrypoint.sh".to_string()])
                .cmd(vec![
                    "nginx".to_string(),
                    "-g".to_string(),
                    "daemon off;".to_string(),
                ])
                .stop_signal("SIGQUIT".to_string())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn facts() -> Facts {
    Facts {
        hostname: "3f2a9c1b7d10".into(),
        passwd: Some(PASSWD.into()),
        group: Some(GROUP.into()),
        hosts_file: Some("/run/berth/containers/demo-web-1/hosts".into()),
        hostname_file: Some("/run/berth/containers/demo-web-1/hostname".into()),
        resolv_conf_file: Some("/run/berth/containers/demo-web-1/resolv.conf".into()),
        netns: Some("/var/run/netns/berth-demo-web-1".into()),
        cgroups_path: Some("/berth/demo-web-1".into()),
        init_binary: Some("/usr/libexec/berth/tini".into()),
        ..Facts::default()
    }
}

fn web() -> ServiceConfig {
    let mut environment = MappingWithEquals::default();
    environment.insert("NGINX_PORT".into(), Some("8080".into()));
    let mut s = ServiceConfig {
        name: "web".into(),
        user: "nginx".into(),
        environment,
        cap_drop: vec!["ALL".into()],
        cap_add: vec![
            "chown".into(),
            "SETUID".into(),
            "SETGID".into(),
            "NET_BIND_SERVICE".into(),
        ],
        read_only: true,
        tmpfs: crate::model::types::StringList(vec!["/var/cache/nginx:size=16m".into()]),
        mem_limit: UnitBytes(256 << 20),
        cpus: crate::model::field::F32(0.5),
        pids_limit: 200,
        init: Some(true),
        security_opt: vec!["no-new-privileges:true".into()],
        ..Default::default()
    };
    s.annotations
        .insert("org.example.team".into(), "web".into());
    s
}

fn web_facts() -> Facts {
    let mut f = facts();
    f.mounts.push(ResolvedMount::read_only_bind(
        "/srv/demo/site",
        "/usr/share/nginx/html",
    ));
    f.mounts.push(ResolvedMount::read_only_bind(
        "/var/lib/berth/projects/demo/secrets/tls_key",
        "/run/secrets/tls_key",
    ));
    f
}

/// The spec as JSON with its sets (capabilities) sorted, so the text is stable.
fn stable_json(spec: &Spec) -> String {
    let mut v = serde_json::to_value(spec).unwrap();
    if let Some(caps) = v
        .pointer_mut("/process/capabilities")
        .and_then(|c| c.as_object_mut())
    {
        for set in caps.values_mut() {
            if let Some(a) = set.as_array_mut() {
                a.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
            }
        }
    }
    // the seccomp filter is the same long list for every service (and differs by machine):
    // spec::seccomp's tests check it; the golden file records only that it is there
    if let Some(sc) = v.pointer_mut("/linux/seccomp") {
        *sc = serde_json::Value::String("(Docker's default filter)".into());
    }
    serde_json::to_string_pretty(&v).unwrap() + "\n"
}

#[test]
fn golden_web_service() {
    let built = build(&web(), &image(), &web_facts()).unwrap();
    let got = stable_json(&built.spec);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/spec/testdata/web.json");
    if std::env::var_os("BERTH_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        got, want,
        "rerun with BERTH_UPDATE_GOLDEN=1 and review the diff"
    );
    assert!(built.warnings.is_empty(), "{:?}", built.warnings);
    assert_eq!(built.home.as_deref(), Some("/var/cache/nginx"));
}

#[test]
fn plain_service_gets_dockers_defaults() {
    let s = ServiceConfig {
        name: "app".into(),
        ..Default::default()
    };
    let built = build(&s, &image(), &facts()).unwrap();
    let spec = &built.spec;
    let p = spec.process().as_ref().unwrap();
    assert_eq!(
        p.args().as_ref().unwrap(),
        &vec!["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]
    );
    assert_eq!(p.user().uid(), 0);
    assert_eq!(p.user().additional_gids().as_ref().unwrap(), &vec![0, 0]);
    let caps = p.capabilities().as_ref().unwrap();
    assert_eq!(caps.bounding().as_ref().unwrap().len(), 14);
    assert!(caps.inheritable().is_none() && caps.ambient().is_none());
    assert!(caps
        .bounding()
        .as_ref()
        .unwrap()
        .contains(&Capability::NetRaw));
    assert_eq!(spec.hostname().as_deref(), Some("3f2a9c1b7d10"));
    let l = spec.linux().as_ref().unwrap();
    assert_eq!(l.masked_paths().as_ref().unwrap().len(), MASKED_PATHS.len());
    assert_eq!(
        l.sysctl().as_ref().unwrap()["net.ipv4.ip_unprivileged_port_start"],
        "0"
    );
    assert!(!spec.root().as_ref().unwrap().readonly().unwrap());
    assert!(built.warnings.is_empty(), "{:?}", built.warnings);
    let filter = l
        .seccomp()
        .as_ref()
        .expect("Docker's default seccomp filter");
    let allowed: Vec<&String> = filter
        .syscalls()
        .as_ref()
        .unwrap()
        .iter()
        .filter(|r| r.args().is_none())
        .flat_map(|r| r.names())
        .collect();
    // the default capabilities hold CAP_SYS_CHROOT but not CAP_SYS_ADMIN
    assert!(allowed.iter().any(|n| *n == "chroot"));
    assert!(!allowed.iter().any(|n| *n == "mount"));
}

#[test]
fn seccomp_is_off_when_privileged_or_unconfined() {
    for s in [
        ServiceConfig {
            name: "a".into(),
            privileged: true,
            ..Default::default()
        },
        ServiceConfig {
            name: "b".into(),
            security_opt: vec!["seccomp=unconfined".into()],
            ..Default::default()
        },
    ] {
        let built = build(&s, &image(), &facts()).unwrap();
        let l = built.spec.linux().as_ref().unwrap();
        assert!(l.seccomp().is_none(), "{}", s.name);
    }
}

#[test]
fn privileged_host_network() {
    let s = ServiceConfig {
        name: "vpn".into(),
        privileged: true,
        network_mode: "host".into(),
        pid: "host".into(),
        init: Some(true),
        ..Default::default()
    };
    let spec = build(&s, &image(), &facts()).unwrap().spec;
    let l = spec.linux().as_ref().unwrap();
    assert!(l.masked_paths().is_none() && l.readonly_paths().is_none());
    let types: Vec<_> = l.namespaces().iter().flatten().map(|n| n.typ()).collect();
    assert!(!types.contains(&LinuxNamespaceType::Network));
    assert!(!types.contains(&LinuxNamespaceType::Pid));
    assert!(l.sysctl().as_ref().unwrap().is_empty());
    let p = spec.process().as_ref().unwrap();
    assert_eq!(
        p.capabilities()
            .as_ref()
            .unwrap()
            .bounding()
            .as_ref()
            .unwrap()
            .len(),
        41
    );
    // no init in the host's pid namespace, as Docker
    assert_eq!(p.args().as_ref().unwrap()[0], "/docker-entrypoint.sh");
    let sys = spec
        .mounts()
        .iter()
        .flatten()
        .find(|m| m.destination() == Path::new("/sys"))
        .unwrap();
    assert!(!sys.options().as_ref().unwrap().contains(&"ro".to_string()));
}

#[test]
fn errors_name_service_and_option() {
    let s = ServiceConfig {
        name: "web".into(),
        user: "nobody2".into(),
        ..Default::default()
    };
    let e = build(&s, &image(), &facts()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "service \"web\": user \"nobody2\": unable to find user nobody2: no matching entries in passwd file"
    );
    let s = ServiceConfig {
        name: "web".into(),
        init: Some(true),
        ..Default::default()
    };
    let f = Facts {
        init_binary: None,
        ..facts()
    };
    assert!(build(&s, &image(), &f)
        .unwrap_err()
        .to_string()
        .contains("init"));
    let s = ServiceConfig {
        name: "job".into(),
        entrypoint: ShellCommand(Some(vec![])),
        ..Default::default()
    };
    let bare = ImageConfiguration::default();
    assert_eq!(
        build(&s, &bare, &facts()).unwrap_err().to_string(),
        "service \"job\": command: no command specified"
    );
}

#[test]
fn uts_host_drops_hostname_and_volume_helper_errors_name_service() {
    let s = ServiceConfig {
        name: "a".into(),
        uts: "host".into(),
        ..Default::default()
    };
    let spec = build(&s, &image(), &facts()).unwrap().spec;
    assert!(spec.hostname().is_none());
    let v = ServiceVolumeConfig {
        r#type: "cluster".into(),
        target: "/x".into(),
        ..Default::default()
    };
    let e = ResolvedMount::from_service_volume("a", &v, "/s".into()).unwrap_err();
    assert!(e.to_string().starts_with("service \"a\": volumes \"/x\": "));
}

#[test]
fn validate_reports_every_problem() {
    let mut spec = build(&web(), &image(), &web_facts()).unwrap().spec;
    let mut p = spec.process().clone().unwrap();
    p.set_args(Some(vec![]));
    p.set_cwd("relative".into());
    spec.set_process(Some(p));
    match validate(&spec).unwrap_err() {
        SpecError::Invalid(problems) => assert_eq!(problems.len(), 2, "{problems:?}"),
        e => panic!("{e}"),
    }
}
