use std::sync::Arc;

use super::*;
use crate::model::node::{Map, Pos};

/// Builds a node tree: `yaml!({"services": {"web": {"image": "x"}}})`, lists in `[...]`,
/// `null`, and scalars (`"str"`, `8`, `1.5`, `true`, `(-5)`).
macro_rules! yaml {
    (null) => {
        Node::synth(Value::Null)
    };
    ({ $($k:literal : $v:tt),* $(,)? }) => {{
        #[allow(unused_mut)]
        let mut m = Map::new();
        $( m.insert($k.to_string(), yaml!($v)); )*
        Node::synth(Value::Map(m))
    }};
    ([ $($v:tt),* $(,)? ]) => {
        Node::synth(Value::Seq(vec![$(yaml!($v)),*]))
    };
    ($e:expr) => {
        Scalar::node($e)
    };
}

trait Scalar {
    fn node(self) -> Node;
}
impl Scalar for &str {
    fn node(self) -> Node {
        Node::str(self)
    }
}
impl Scalar for i64 {
    fn node(self) -> Node {
        Node::synth(Value::Int(self))
    }
}
impl Scalar for i32 {
    fn node(self) -> Node {
        Node::synth(Value::Int(self.into()))
    }
}
impl Scalar for f64 {
    fn node(self) -> Node {
        Node::synth(Value::Float(self))
    }
}
impl Scalar for bool {
    fn node(self) -> Node {
        Node::synth(Value::Bool(self))
    }
}

/// Places the tree in `compose.yaml` at the lines it would have if written in block style, one
/// key or list item per line, a mapping inside a list starting on the dash's line:
///
/// ```text
/// 1 services:
/// 2   web:
/// 3     ports:
/// 4       - "80"
/// 5       - target: 80
/// 6         mode: host
/// ```
fn doc(mut root: Node) -> Node {
    let file: Arc<str> = Arc::from("compose.yaml");
    root.pos = Pos::new(&file, 1);
    fill(&mut root, &file, 1);
    root
}

fn fill(node: &mut Node, file: &Arc<str>, first: u32) -> u32 {
    let mut line = first;
    match &mut node.v {
        Value::Map(m) => {
            for v in m.values_mut() {
                v.pos = Pos::new(file, line);
                line = if is_nonempty(v) {
                    fill(v, file, line + 1)
                } else {
                    line + 1
                };
            }
        }
        Value::Seq(items) => {
            for v in items.iter_mut() {
                v.pos = Pos::new(file, line);
                line = match &v.v {
                    Value::Map(m) if !m.is_empty() => fill(v, file, line),
                    Value::Seq(s) if !s.is_empty() => fill(v, file, line + 1),
                    _ => line + 1,
                };
            }
        }
        _ => {}
    }
    line
}

fn is_nonempty(n: &Node) -> bool {
    match &n.v {
        Value::Map(m) => !m.is_empty(),
        Value::Seq(s) => !s.is_empty(),
        _ => false,
    }
}

fn ok(root: Node) {
    let root = doc(root);
    if let Err(e) = validate(&root) {
        panic!("expected valid, got: {e}");
    }
}

fn err(root: Node) -> String {
    match validate(&doc(root)) {
        Ok(()) => panic!("expected a violation"),
        Err(e) => {
            assert_eq!(e.exit_code(), 15);
            e.to_string()
        }
    }
}

// ----- the test tree builder itself ---------------------------------------------------------

#[test]
fn builder_numbers_lines_like_block_yaml() {
    let root = doc(yaml!({"services": {"web": {"ports": ["80", {"target": 80, "mode": "host"}]}}}));
    let ports = &root
        .get("services")
        .unwrap()
        .get("web")
        .unwrap()
        .get("ports")
        .unwrap();
    assert_eq!(ports.pos.line, 3);
    let items = ports.as_seq().unwrap();
    assert_eq!(items[0].pos.line, 4);
    assert_eq!(items[1].pos.line, 5);
    assert_eq!(items[1].get("mode").unwrap().pos.line, 6);
}

// ----- accepted files -------------------------------------------------------------------------

#[test]
fn accepts_a_typical_project() {
    ok(yaml!({
        "version": "3.8",
        "name": "shop",
        "services": {
            "web": {
                "image": "nginx:1.25",
                "build": {"context": ".", "args": {"A": 1, "B": null, "C": true}},
                "command": ["nginx", "-g", "daemon off;"],
                "entrypoint": null,
                "environment": ["A=1", "B"],
                "ports": ["8080:80", 443, {"target": 80, "published": "8081", "x-note": 1}],
                "expose": [3000, "3001"],
                "volumes": ["./data:/data", {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 1024}}],
                "depends_on": {"db": {"condition": "service_healthy", "restart": true}},
                "healthcheck": {"test": "curl -f localhost", "interval": "10s", "retries": 3},
                "deploy": {"resources": {"limits": {"cpus": 0.5, "memory": "512m"}}},
                "networks": {"front": null, "back": {"aliases": ["w"], "gw_priority": 1}},
                "ulimits": {"nofile": {"soft": 1024, "hard": 2048}, "nproc": 512},
                "x-anything": {"goes": ["here"]}
            },
            "db": {"image": "postgres", "develop": null, "deploy": null}
        },
        "networks": {"front": null, "back": {"driver": "bridge", "external": false}},
        "volumes": {"data": null},
        "secrets": {"token": {"file": "./token"}},
        "configs": {"conf": {"content": "x"}},
        "include": ["other.yaml", {"path": ["a.yaml", "b.yaml"]}],
        "x-common": [1, 2]
    }));
}

#[test]
fn accepts_strings_where_later_compose_versions_allow_variables() {
    ok(yaml!({"services": {"a": {
        "image": "x",
        "privileged": "true",
        "scale": "2",
        "mem_swappiness": "60",
        "ports": [{"target": "80"}]
    }}}));
}

#[test]
fn whole_floats_count_as_integers() {
    ok(yaml!({"services": {"a": {"image": "x", "cpu_count": 2.0}}}));
    let e = err(yaml!({"services": {"a": {"image": "x", "cpu_count": 2.5}}}));
    assert_eq!(
        e,
        "compose.yaml:4: services.a.cpu_count: must be a string or an integer"
    );
}

#[test]
fn strings_cast_during_interpolation_are_checked_as_their_value() {
    // compose turns "150" into the number 150 before validating, which is out of range
    let e = err(yaml!({"services": {"a": {"image": "x", "cpu_percent": "150"}}}));
    assert_eq!(
        e,
        "compose.yaml:4: services.a.cpu_percent: must be less than or equal to 100"
    );
    ok(yaml!({"services": {"a": {"image": "x", "cpu_percent": "50"}}}));
    // a string that does not cast stays a string
    ok(yaml!({"services": {"a": {"image": "x", "cpu_percent": "lots"}}}));
    // without interpolation nothing is cast
    let root = doc(yaml!({"services": {"a": {"image": "x", "cpu_percent": "150"}}}));
    assert!(validate_uninterpolated(&root).is_ok());
}

#[test]
fn extension_keys_are_free_everywhere_they_are_allowed() {
    ok(yaml!({
        "x-top": {"any": "thing"},
        "services": {"a": {"image": "x", "x-svc": 1, "logging": {"driver": "json-file", "x-l": [1]}}},
        "volumes": {"v": {"x-v": true}},
        "networks": {"n": {"ipam": {"x-i": 1}}}
    }));
}

#[test]
fn duplicates_in_lists_compose_dedups_are_accepted() {
    ok(yaml!({"services": {"a": {
        "image": "x",
        "environment": ["A=1", "A=1"],
        "ports": ["80:80", "80:80"],
        "cap_add": ["NET_ADMIN", "NET_ADMIN"]
    }}}));
}

#[test]
fn networks_with_odd_names_are_not_checked() {
    ok(yaml!({"networks": {"my net": "anything"}}));
}

// ----- rejected files -------------------------------------------------------------------------

#[test]
fn rejects_unknown_service_key() {
    let e = err(yaml!({"services": {"web": {"image": "x", "pre_start": [{"command": "x"}]}}}));
    assert_eq!(
        e,
        "compose.yaml:4: services.web: additional property \"pre_start\" is not allowed"
    );
}

#[test]
fn rejects_unknown_top_level_key() {
    let e = err(yaml!({"webapp": {"image": "x"}}));
    assert_eq!(
        e,
        "compose.yaml:1: additional property \"webapp\" is not allowed"
    );
}

#[test]
fn rejects_service_name_with_bad_characters() {
    let e = err(yaml!({"services": {"my web": {"image": "x"}}}));
    assert_eq!(
        e,
        "compose.yaml:2: services: additional property \"my web\" is not allowed"
    );
}

#[test]
fn rejects_environment_of_wrong_kind() {
    let e = err(yaml!({"services": {"foo": {"image": "x", "environment": "FOO=1"}}}));
    assert_eq!(
        e,
        "compose.yaml:4: services.foo.environment: must be a mapping or a list"
    );
}

#[test]
fn rejects_environment_value_that_is_not_scalar() {
    let e = err(yaml!({"services": {"foo": {"environment": {"FOO": ["1"]}}}}));
    assert_eq!(
        e,
        "compose.yaml:4: services.foo.environment.FOO: must be a string, a number, a boolean or null"
    );
}

#[test]
fn rejects_value_outside_enumeration() {
    let e = err(yaml!({"services": {"test": {"image": "x", "pull_policy": "refresh"}}}));
    assert_eq!(
        e,
        "compose.yaml:4: services.test.pull_policy: must be one of \"always\", \"never\", \"if_not_present\", \"build\", \"missing\""
    );
    let e = err(yaml!({"services": {"test": {"cgroup": "shared"}}}));
    assert_eq!(
        e,
        "compose.yaml:3: services.test.cgroup: must be one of \"host\", \"private\""
    );
}

#[test]
fn rejects_negative_tmpfs_size() {
    let e = err(yaml!({"services": {"tmpfs": {
        "image": "x",
        "volumes": [{"type": "tmpfs", "target": "/t", "tmpfs": {"size": (-1)}}]
    }}}));
    assert_eq!(
        e,
        "compose.yaml:8: services.tmpfs.volumes[0].tmpfs.size: must be greater than or equal to 0"
    );
}

#[test]
fn rejects_ulimit_without_soft() {
    let e = err(yaml!({"services": {"test": {"ulimits": {"locks": {"hard": 1}}}}}));
    assert_eq!(
        e,
        "compose.yaml:4: services.test.ulimits.locks: soft is required"
    );
}

#[test]
fn rejects_depends_on_without_condition() {
    let e = err(yaml!({"services": {"a": {"depends_on": {"b": {"restart": true}}}}}));
    assert_eq!(
        e,
        "compose.yaml:4: services.a.depends_on.b: condition is required"
    );
}

#[test]
fn rejects_wrong_scalar_kinds() {
    let e = err(yaml!({"name": 5}));
    assert_eq!(e, "compose.yaml:1: name: must be a string");
    let e = err(yaml!({"services": {"foo": {"image": 5}}}));
    assert_eq!(e, "compose.yaml:3: services.foo.image: must be a string");
    let e = err(yaml!({"services": {"foo": {"image": null}}}));
    assert_eq!(e, "compose.yaml:3: services.foo.image: must be a string");
}

#[test]
fn rejects_sections_that_are_not_mappings() {
    let e = err(yaml!({"networks": ["a"]}));
    assert_eq!(e, "compose.yaml:1: networks: must be a mapping");
    let e = err(yaml!({"networks": {"default": "x"}}));
    assert_eq!(
        e,
        "compose.yaml:2: networks.default: must be a mapping or null"
    );
    let e = err(yaml!({"services": {"nil": null}}));
    assert_eq!(e, "compose.yaml:2: services.nil: must be a mapping");
    // secrets, unlike networks and volumes, may not be empty
    let e = err(yaml!({"secrets": {"s": null}}));
    assert_eq!(e, "compose.yaml:2: secrets.s: must be a mapping");
}

#[test]
fn rejects_root_that_is_not_a_mapping() {
    let e = err(yaml!(["a"]));
    assert_eq!(e, "compose.yaml:1: must be a mapping");
}

#[test]
fn rejects_unknown_keys_in_nested_forms() {
    let e = err(yaml!({"services": {"foo": {"build": {"context": ".", "provenance": true}}}}));
    assert_eq!(
        e,
        "compose.yaml:5: services.foo.build: additional property \"provenance\" is not allowed"
    );
    let e = err(yaml!({"services": {"app": {"volumes": [{"type": "image", "image": "x"}]}}}));
    assert_eq!(
        e,
        "compose.yaml:5: services.app.volumes[0]: additional property \"image\" is not allowed"
    );
    let e = err(yaml!({"services": {"t": {"networks": {"n": {"interface_name": "eth0"}}}}}));
    assert_eq!(
        e,
        "compose.yaml:5: services.t.networks.n: additional property \"interface_name\" is not allowed"
    );
    let e = err(yaml!({"services": {"f": {"develop": {"watch": [
        {"path": ".", "action": "sync", "initial_sync": true}
    ]}}}}));
    assert_eq!(
        e,
        "compose.yaml:7: services.f.develop.watch[0]: additional property \"initial_sync\" is not allowed"
    );
    let e = err(yaml!({"secrets": {"test": {"content": "x"}}}));
    assert_eq!(
        e,
        "compose.yaml:3: secrets.test: additional property \"content\" is not allowed"
    );
}

#[test]
fn rejects_build_ssh_list_with_non_string() {
    let e = err(yaml!({"services": {"t": {"build": {"context": ".", "ssh": [null]}}}}));
    assert_eq!(
        e,
        "compose.yaml:6: services.t.build.ssh[0]: must be a string"
    );
}

#[test]
fn rejects_repeated_items_where_compose_does_not_dedup() {
    let e = err(yaml!({"services": {"a": {"security_opt": ["x", "y", "x"]}}}));
    assert_eq!(
        e,
        "compose.yaml:6: services.a.security_opt[2]: repeats item [0]; items must be unique"
    );
    // in JSON terms 1 and 1.0 are the same item, "1" is not
    let e = err(yaml!({"services": {"a": {"group_add": [1, 1.0]}}}));
    assert_eq!(
        e,
        "compose.yaml:5: services.a.group_add[1]: repeats item [0]; items must be unique"
    );
    ok(yaml!({"services": {"a": {"group_add": [1, "1"]}}}));
}

#[test]
fn rejects_values_json_cannot_hold() {
    let e = err(yaml!({"x-a": {"b": (f64::INFINITY)}}));
    assert_eq!(e, "compose.yaml:2: x-a.b: unsupported value: +Inf");
}

#[test]
fn reports_the_first_violation_in_document_order() {
    let e = err(yaml!({"services": {
        "a": {"image": "x", "bogus": 1},
        "b": {"image": 5}
    }}));
    assert_eq!(
        e,
        "compose.yaml:4: services.a: additional property \"bogus\" is not allowed"
    );
}

#[test]
fn oneof_picks_the_error_of_the_form_being_written() {
    // a port mapping written as a mapping reports the mapping's problem
    let e = err(yaml!({"services": {"a": {"ports": [{"target": 80, "hostport": 1}]}}}));
    assert_eq!(
        e,
        "compose.yaml:5: services.a.ports[0]: additional property \"hostport\" is not allowed"
    );
    // a value of no accepted kind lists the kinds
    let e = err(yaml!({"services": {"a": {"ports": [true]}}}));
    assert_eq!(
        e,
        "compose.yaml:4: services.a.ports[0]: must be a number, a string or a mapping"
    );
    let e = err(yaml!({"services": {"a": {"build": null}}}));
    assert_eq!(
        e,
        "compose.yaml:3: services.a.build: must be a string or a mapping"
    );
}

#[test]
fn extends_and_env_file_forms() {
    ok(
        yaml!({"services": {"a": {"extends": "b", "env_file": ["a.env", {"path": "b.env", "required": false}]}}}),
    );
    let e = err(yaml!({"services": {"a": {"extends": {"file": "x.yaml"}}}}));
    assert_eq!(e, "compose.yaml:3: services.a.extends: service is required");
    let e = err(yaml!({"services": {"a": {"env_file": [{"required": true}]}}}));
    assert_eq!(
        e,
        "compose.yaml:4: services.a.env_file[0]: path is required"
    );
}

#[test]
fn gpus_and_device_requests() {
    ok(yaml!({"services": {"a": {"gpus": "all"}}}));
    ok(yaml!({"services": {"a": {"gpus": [{"driver": "nvidia", "count": (-1), "other": 1}]}}}));
    let e = err(yaml!({"services": {"a": {"gpus": "some"}}}));
    assert_eq!(e, "compose.yaml:3: services.a.gpus: must be one of \"all\"");
    let e = err(
        yaml!({"services": {"a": {"deploy": {"resources": {"reservations": {
            "devices": [{"driver": "nvidia"}]
        }}}}}}),
    );
    assert_eq!(
        e,
        "compose.yaml:7: services.a.deploy.resources.reservations.devices[0]: capabilities is required"
    );
}

#[test]
fn oom_score_adj_bounds() {
    ok(yaml!({"services": {"a": {"oom_score_adj": (-1000)}}}));
    let e = err(yaml!({"services": {"a": {"oom_score_adj": 1001}}}));
    assert_eq!(
        e,
        "compose.yaml:3: services.a.oom_score_adj: must be less than or equal to 1000"
    );
}

#[test]
fn logging_options_take_no_booleans() {
    let e = err(yaml!({"services": {"a": {"logging": {"options": {"compress": true}}}}}));
    assert_eq!(
        e,
        "compose.yaml:5: services.a.logging.options.compress: must be a string, a number or null"
    );
}

#[test]
fn dsl_any_of_needs_one_match() {
    use dsl::{any_of, BOOL, STR};
    const R: S = any_of(&[STR, BOOL]);
    let c = Checker { casts: false };
    let p = KeyPath::root().key("k");
    assert!(c.check(&R, &Node::str("x"), &p).is_ok());
    let e = c.check(&R, &Node::synth(Value::Int(1)), &p).unwrap_err();
    assert_eq!(e.to_string(), "k: must be a string or a boolean");
}

#[test]
fn values_tagged_reset_count_as_absent() {
    let mut root = yaml!({"services": {"a": {"image": "x", "ports": null}}});
    let svc = root.get_mut("services").unwrap().get_mut("a").unwrap();
    svc.get_mut("ports").unwrap().tag = crate::model::node::Tag::Reset;
    ok(root);
}

#[test]
fn casts_booleans_like_yaml_1_1() {
    // "yes" becomes true; a string that is no boolean stays a string, which is allowed
    ok(
        yaml!({"services": {"a": {"tty": "yes", "init": "maybe"}}, "networks": {"n": {"external": "on"}}}),
    );
}

#[test]
fn uniqueness_is_checked_where_compose_keeps_duplicates() {
    let e = err(yaml!({"services": {"a": {"extra_hosts": ["h=1.2.3.4", "h=1.2.3.4"]}}}));
    assert_eq!(
        e,
        "compose.yaml:5: services.a.extra_hosts[1]: repeats item [0]; items must be unique"
    );
    let e = err(yaml!({"services": {"a": {"depends_on": ["b", "b"]}}}));
    assert_eq!(
        e,
        "compose.yaml:5: services.a.depends_on[1]: repeats item [0]; items must be unique"
    );
    // extra_hosts mapping values may repeat
    ok(yaml!({"services": {"a": {"extra_hosts": {"h": ["1.2.3.4", "1.2.3.4"]}}}}));
}

#[test]
fn mapping_keys_must_be_non_empty_in_list_or_dict() {
    let e = err(yaml!({"services": {"a": {"labels": {"": "x"}}}}));
    assert_eq!(
        e,
        "compose.yaml:4: services.a.labels: additional property \"\" is not allowed"
    );
}

#[test]
fn watch_items_require_path_and_action() {
    let e = err(yaml!({"services": {"a": {"develop": {"watch": [{"path": "."}]}}}}));
    assert_eq!(
        e,
        "compose.yaml:5: services.a.develop.watch[0]: action is required"
    );
    let e =
        err(yaml!({"services": {"a": {"develop": {"watch": [{"path": ".", "action": "copy"}]}}}}));
    assert_eq!(
        e,
        "compose.yaml:6: services.a.develop.watch[0].action: must be one of \"rebuild\", \"sync\", \"restart\", \"sync+restart\", \"sync+exec\""
    );
}

#[test]
fn include_entries() {
    ok(yaml!({"include": ["a.yaml", {"path": "b.yaml", "project_directory": "b"}]}));
    let e = err(yaml!({"include": [{"path": "b.yaml", "x-note": 1}]}));
    assert_eq!(
        e,
        "compose.yaml:3: include[0]: additional property \"x-note\" is not allowed"
    );
    let e = err(yaml!({"include": [5]}));
    assert_eq!(
        e,
        "compose.yaml:2: include[0]: must be a string or a mapping"
    );
}
