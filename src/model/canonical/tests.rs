//! Canonical and defaults passes over whole trees; inputs and expectations follow corpus cases.

use std::sync::Arc;

use super::*;
use crate::model::node::Pos;

/// Places a node and everything below it at `compose.yaml:<line>`.
fn placed(mut n: Node, line: u32) -> Node {
    let file: Arc<str> = Arc::from("compose.yaml");
    fn set(n: &mut Node, pos: &Pos) {
        n.pos = pos.clone();
        match &mut n.v {
            Value::Map(m) => m.values_mut().for_each(|c| set(c, pos)),
            Value::Seq(s) => s.iter_mut().for_each(|c| set(c, pos)),
            _ => {}
        }
    }
    set(&mut n, &Pos::new(&file, line));
    n
}

fn run(mut root: Node) -> (Node, Vec<String>) {
    let mut warnings = Vec::new();
    canonical(&mut root, &mut warnings).unwrap();
    set_defaults(&mut root).unwrap();
    (root, warnings)
}

fn err(mut root: Node) -> String {
    let mut warnings = Vec::new();
    canonical(&mut root, &mut warnings).unwrap_err().to_string()
}

fn service(root: &Node, name: &str) -> Node {
    root.get("services").unwrap().get(name).unwrap().clone()
}

fn web(key: &str, value: Node) -> Node {
    let mut svc = Map::new();
    svc.insert("image".into(), Node::str("busybox"));
    svc.insert(key.into(), value);
    let mut services = Map::new();
    services.insert("web".into(), Node::map(svc));
    let mut root = Map::new();
    root.insert("services".into(), Node::map(services));
    Node::map(root)
}

#[test]
fn full_example_ports() {
    // cg-full-example: short forms, ranges and host ranges
    let (root, _) = run(web(
        "ports",
        node!([
            3000,
            "3001-3002",
            "8000:8000",
            "9090-9091:8080-8081",
            "49100:22",
            "127.0.0.1:8001:8001",
            "127.0.0.1:5000-5001:5000-5001"
        ]),
    ));
    let want = node!([
        {"mode": "ingress", "target": 3000, "protocol": "tcp"},
        {"mode": "ingress", "target": 3001, "protocol": "tcp"},
        {"mode": "ingress", "target": 3002, "protocol": "tcp"},
        {"mode": "ingress", "target": 8000, "published": "8000", "protocol": "tcp"},
        {"mode": "ingress", "target": 8080, "published": "9090", "protocol": "tcp"},
        {"mode": "ingress", "target": 8081, "published": "9091", "protocol": "tcp"},
        {"mode": "ingress", "target": 22, "published": "49100", "protocol": "tcp"},
        {"mode": "ingress", "host_ip": "127.0.0.1", "target": 8001, "published": "8001", "protocol": "tcp"},
        {"mode": "ingress", "host_ip": "127.0.0.1", "target": 5000, "published": "5000", "protocol": "tcp"},
        {"mode": "ingress", "host_ip": "127.0.0.1", "target": 5001, "published": "5001", "protocol": "tcp"}
    ]);
    assert_eq!(service(&root, "web").get("ports").unwrap(), &want);
}

#[test]
fn expanded_port_format_and_long_form_defaults() {
    // cg-load-expanded-port-format
    let (root, _) = run(web(
        "ports",
        node!([
            "90-91:8090-8091/udp",
            "6005-6015:80",
            {"protocol": "udp", "target": 53, "published": 10053},
            {"mode": "host", "target": 22, "published": 10022}
        ]),
    ));
    let want = node!([
        {"mode": "ingress", "target": 8090, "published": "90", "protocol": "udp"},
        {"mode": "ingress", "target": 8091, "published": "91", "protocol": "udp"},
        {"mode": "ingress", "target": 80, "published": "6005-6015", "protocol": "tcp"},
        {"mode": "ingress", "target": 53, "published": 10053, "protocol": "udp"},
        {"mode": "host", "target": 22, "published": 10022, "protocol": "tcp"}
    ]);
    assert_eq!(service(&root, "web").get("ports").unwrap(), &want);
}

#[test]
fn port_errors_name_the_entry() {
    let root = web("ports", node!(["8080:80", "80:abc"]));
    let mut root = root;
    let ports = root
        .get_mut("services")
        .and_then(|s| s.get_mut("web"))
        .and_then(|w| w.get_mut("ports"))
        .unwrap();
    let bad = ports.as_seq_mut().unwrap().get_mut(1).unwrap();
    *bad = placed(bad.clone(), 12);
    assert_eq!(
        err(root),
        "compose.yaml:12: services.web.ports[1]: invalid port \"80:abc\": invalid containerPort: abc"
    );
    assert!(err(web("ports", node!([70000]))).contains("invalid port \"70000\""));
    assert!(err(web("ports", node!([true]))).contains("services.web.ports[0]: invalid port"));
    assert!(err(web("ports", node!("80:80"))).contains("services.web.ports: ports must be a list"));
    assert!(err(web("ports", node!([{"published": 80}])))
        .contains("services.web.ports[0]: service port is missing a target port"));
}

#[test]
fn unparsable_ports_kept_without_interpolation() {
    let mut root = web("ports", node!([80, "${HOST_IP}:${HOST_PORT}:80"]));
    let before = root.clone();
    canonical_with(&mut root, &mut Vec::new(), true).unwrap();
    assert_eq!(root, before);
}

#[test]
fn made_nodes_keep_the_written_position() {
    let root = web("ports", placed(node!(["8080:80"]), 7));
    let (root, _) = run(root);
    let web = service(&root, "web");
    let port = &web.get("ports").unwrap().as_seq().unwrap()[0];
    assert_eq!(port.pos.to_string(), "compose.yaml:7");
    assert_eq!(
        port.get("target").unwrap().pos.to_string(),
        "compose.yaml:7"
    );
    assert_eq!(
        port.get("protocol").unwrap().pos.to_string(),
        "compose.yaml:7"
    );
}

#[test]
fn full_example_volumes() {
    // cg-full-example (paths are resolved later, by another phase)
    let (root, _) = run(web(
        "volumes",
        node!([
            "/var/lib/anonymous",
            "/opt/data:/var/lib/data",
            ".:/code",
            "./static:/var/www/html/",
            "~/configs:/etc/configs:ro",
            "datavolume:/var/lib/volume",
            "vol:/data:rw,nocopy",
            "./src:/src:z",
            {"type": "bind", "source": "./opt", "target": "/opt/cached", "consistency": "cached"}
        ]),
    ));
    let want = node!([
        {"type": "volume", "target": "/var/lib/anonymous", "volume": {}},
        {"type": "bind", "source": "/opt/data", "target": "/var/lib/data", "bind": {"create_host_path": true}},
        {"type": "bind", "source": ".", "target": "/code", "bind": {"create_host_path": true}},
        {"type": "bind", "source": "./static", "target": "/var/www/html", "bind": {"create_host_path": true}},
        {"type": "bind", "source": "~/configs", "target": "/etc/configs", "read_only": true,
         "bind": {"create_host_path": true}},
        {"type": "volume", "source": "datavolume", "target": "/var/lib/volume", "volume": {}},
        {"type": "volume", "source": "vol", "target": "/data", "volume": {"nocopy": true}},
        {"type": "bind", "source": "./src", "target": "/src", "bind": {"selinux": "z", "create_host_path": true}},
        {"type": "bind", "source": "./opt", "target": "/opt/cached", "consistency": "cached"}
    ]);
    assert_eq!(service(&root, "web").get("volumes").unwrap(), &want);
}

#[test]
fn volume_errors() {
    // cg-marhsall: a long-form volume without target
    let root = web("volumes", node!([{"type": "bind", "bind": {}}]));
    assert_eq!(
        err(root),
        "services.web.volumes[0]: service volume is missing a mount target"
    );
    let root = web("volumes", node!([(placed(node!("./a::/b"), 9))]));
    assert_eq!(
        err(root),
        "compose.yaml:9: services.web.volumes[0]: invalid spec: ./a::/b: empty section between colons"
    );
    assert!(err(web("volumes", node!([""]))).contains("invalid empty volume spec"));
    // kept as written when interpolation is skipped
    let mut root = web("volumes", node!(["${A}::/b"]));
    canonical_with(&mut root, &mut Vec::new(), true).unwrap();
    assert_eq!(
        service(&root, "web").get("volumes").unwrap(),
        &node!(["${A}::/b"])
    );
}

#[test]
fn depends_on_forms() {
    let (root, _) = run(web("depends_on", node!(["db", "cache"])));
    assert_eq!(
        service(&root, "web").get("depends_on").unwrap(),
        &node!({
            "db": {"condition": "service_started", "required": true},
            "cache": {"condition": "service_started", "required": true}
        })
    );
    let (root, _) = run(web(
        "depends_on",
        node!({"db": {"condition": "service_healthy"}, "x": {"required": false, "restart": true}}),
    ));
    assert_eq!(
        service(&root, "web").get("depends_on").unwrap(),
        &node!({
            "db": {"condition": "service_healthy", "required": true},
            "x": {"condition": "service_started", "required": false, "restart": true}
        })
    );
    assert!(err(web("depends_on", node!({"db": null})))
        .contains("services.web.depends_on.db: invalid depends_on entry"));
}

#[test]
fn env_file_forms() {
    let (root, _) = run(web("env_file", node!(".env")));
    assert_eq!(
        service(&root, "web").get("env_file").unwrap(),
        &node!([{"path": ".env", "required": true}])
    );
    let (root, _) = run(web(
        "env_file",
        node!([".env", {"path": "other.env", "required": false}, {"path": "x.env"}]),
    ));
    assert_eq!(
        service(&root, "web").get("env_file").unwrap(),
        &node!([
            {"path": ".env", "required": true},
            {"path": "other.env", "required": false},
            {"path": "x.env", "required": true}
        ])
    );
    assert!(err(web("env_file", node!(null))).contains("invalid env_file"));
}

#[test]
fn service_networks_list_becomes_mapping() {
    let (root, _) = run(web("networks", node!(["front", "back"])));
    assert_eq!(
        service(&root, "web").get("networks").unwrap(),
        &node!({"front": null, "back": null})
    );
    let (root, _) = run(web("networks", node!({"front": {"aliases": ["a"]}})));
    assert_eq!(
        service(&root, "web").get("networks").unwrap(),
        &node!({"front": {"aliases": ["a"]}})
    );
}

#[test]
fn build_forms() {
    let (root, _) = run(web("build", node!("./dir")));
    assert_eq!(
        service(&root, "web").get("build").unwrap(),
        &node!({"context": "./dir"})
    );

    // cg-build-config, cg-build-ssh
    let (root, _) = run(web(
        "build",
        node!({
            "dockerfile": "foo.Dockerfile",
            "ssh": ["default", "key=/path/id"],
            "additional_contexts": ["foo=./bar"],
            "secrets": ["s1", {"source": "s2", "target": "t"}]
        }),
    ));
    assert_eq!(
        service(&root, "web").get("build").unwrap(),
        &node!({
            "context": ".",
            "dockerfile": "foo.Dockerfile",
            "ssh": {"default": null, "key": "/path/id"},
            "additional_contexts": {"foo": "./bar"},
            "secrets": [{"source": "s1"}, {"source": "s2", "target": "t"}]
        })
    );
    assert!(err(web("build", node!({"ssh": ["nokey"]}))).contains("invalid ssh key \"nokey\""));
    assert!(err(web("build", node!({"additional_contexts": ["nokey"]})))
        .contains("services.web.build.additional_contexts[0]: invalid value \"nokey\", expected key=value"));
    assert!(err(web("build", node!(3))).contains("invalid build"));
}

#[test]
fn secrets_configs_and_extends() {
    let (root, _) = run(web(
        "secrets",
        node!(["s", {"source": "t"}, {"source": "u", "target": "/x"}]),
    ));
    assert_eq!(
        service(&root, "web").get("secrets").unwrap(),
        &node!([
            {"source": "s", "target": "/run/secrets/s"},
            {"source": "t", "target": "/run/secrets/t"},
            {"source": "u", "target": "/x"}
        ])
    );
    // configs get no default target
    let (root, _) = run(web("configs", node!(["c"])));
    assert_eq!(
        service(&root, "web").get("configs").unwrap(),
        &node!([{"source": "c"}])
    );
    let (root, _) = run(web("extends", node!("base")));
    assert_eq!(
        service(&root, "web").get("extends").unwrap(),
        &node!({"service": "base"})
    );
}

#[test]
fn devices_gpus_dns_ulimits() {
    // cg-merge-yaml-devices, cg-gpus, cg-gpus-all
    let (root, _) = run(web(
        "devices",
        node!(["/dev/sda:/dev/sda", "/dev/a", "/dev/b:/dev/c:r"]),
    ));
    assert_eq!(
        service(&root, "web").get("devices").unwrap(),
        &node!([
            {"source": "/dev/sda", "target": "/dev/sda", "permissions": "rwm"},
            {"source": "/dev/a", "target": "/dev/a", "permissions": "rwm"},
            {"source": "/dev/b", "target": "/dev/c", "permissions": "r"}
        ])
    );
    assert!(err(web("devices", node!(["a:b:c:d"]))).contains("confusing device mapping"));

    let (root, _) = run(web("gpus", node!("all")));
    assert_eq!(
        service(&root, "web").get("gpus").unwrap(),
        &node!([{"count": "all"}])
    );
    let (root, _) = run(web(
        "gpus",
        node!([{"driver": "nvidia"}, {"driver": "3dfx", "device_ids": ["voodoo2"]}]),
    ));
    assert_eq!(
        service(&root, "web").get("gpus").unwrap(),
        &node!([{"driver": "nvidia", "count": "all"}, {"driver": "3dfx", "device_ids": ["voodoo2"]}])
    );
    // cg-service-device-request-without-count-and-device-ids-type
    let (root, _) = run(web(
        "deploy",
        node!({"resources": {"reservations": {"devices": [{"driver": "nvidia", "capabilities": ["gpu"]}]}}}),
    ));
    assert_eq!(
        service(&root, "web").get("deploy").unwrap(),
        &node!({"resources": {"reservations": {"devices": [
            {"driver": "nvidia", "capabilities": ["gpu"], "count": "all"}
        ]}}})
    );

    let (root, _) = run(web("dns", node!("8.8.8.8")));
    assert_eq!(
        service(&root, "web").get("dns").unwrap(),
        &node!(["8.8.8.8"])
    );

    // integers stay integers: compose decodes them as `single` later
    let (root, _) = run(web(
        "ulimits",
        node!({"nproc": 65535, "nofile": {"soft": 1, "hard": 2}}),
    ));
    assert_eq!(
        service(&root, "web").get("ulimits").unwrap(),
        &node!({"nproc": 65535, "nofile": {"soft": 1, "hard": 2}})
    );
    assert!(err(web("ulimits", node!({"nproc": "x"})))
        .contains("services.web.ulimits.nproc: invalid ulimit"));
}

#[test]
fn external_resources() {
    // cg-full-example and cg-load-*-invalid-external-name-and-name-combination
    let root = node!({
        "networks": {
            "plain": null,
            "ext": {"external": true},
            "other-external-network": {"external": {"name": "my-cool-network"}}
        },
        "volumes": {"v": {"external": {"name": "same"}, "name": "same"}},
        "secrets": {"s": {"external": {}}}
    });
    let (root, warnings) = run(root);
    assert_eq!(
        root,
        node!({
            "networks": {
                "plain": null,
                "ext": {"external": true},
                "other-external-network": {"external": true, "name": "my-cool-network"}
            },
            "volumes": {"v": {"external": true, "name": "same"}},
            "secrets": {"s": {"external": true}}
        })
    );
    assert_eq!(
        warnings,
        vec![
            "networks.other-external-network: external.name is deprecated. Please set name and external: true",
            "volumes.v: external.name is deprecated. Please set name and external: true",
        ]
    );

    let root = node!({"secrets": {"external_secret": {"name": "a", "external": {"name": "b"}}}});
    assert_eq!(
        err(root),
        "secrets.external_secret: name and external.name conflict; only use name"
    );
}

#[test]
fn include_entries() {
    let (root, _) = run(node!({"include": ["a.yaml", {"path": ["b.yaml"]}]}));
    assert_eq!(
        root,
        node!({"include": [{"path": "a.yaml"}, {"path": ["b.yaml"]}]})
    );
}

#[test]
fn only_the_patterned_places_change() {
    // a service named like a keyword, dotted keys and extensions are left alone
    let root = node!({
        "x-ports": {"ports": ["80:80"]},
        "services": {
            "a.b": {"ports": [80], "x-volumes": ["./a:/a"], "labels": ["a=b"], "environment": ["A=1"]}
        }
    });
    let (root, _) = run(root);
    assert_eq!(
        root,
        node!({
            "x-ports": {"ports": ["80:80"]},
            "services": {
                "a.b": {
                    "ports": [{"mode": "ingress", "target": 80, "protocol": "tcp"}],
                    "x-volumes": ["./a:/a"],
                    "labels": ["a=b"],
                    "environment": ["A=1"]
                }
            }
        })
    );
}

#[test]
fn canonical_is_idempotent() {
    let root = node!({
        "services": {"web": {
            "ports": ["8080:80"],
            "volumes": ["./a:/a:ro"],
            "depends_on": ["db"],
            "env_file": ".env",
            "build": ".",
            "secrets": ["s"]
        }},
        "networks": {"n": {"external": {"name": "x"}}}
    });
    let (once, _) = run(root);
    let (twice, warnings) = run(once.clone());
    assert_eq!(once, twice);
    assert!(warnings.is_empty());
}

#[test]
fn secret_target_default_prints_like_go() {
    let (root, _) = run(web("secrets", node!([{"mode": 256}])));
    assert_eq!(
        service(&root, "web").get("secrets").unwrap(),
        &node!([{"mode": 256, "target": "/run/secrets/%!s(<nil>)"}])
    );
}
