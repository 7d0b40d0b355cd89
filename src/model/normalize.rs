//! Normalization of a loaded tree, as Compose does before printing: the default network, resource
//! names, build defaults, environment resolved from the project environment, and the implicit
//! dependencies that `links`, `network_mode: service:x`, `volumes_from` and friends create.

use indexmap::IndexMap;

use super::node::{Map, Node, Value};

/// Normalizes `root` (which already has its `name`) using the project environment `env`.
pub fn normalize(root: &mut Node, env: &IndexMap<String, String>) {
    let project = root
        .get("name")
        .and_then(Node::as_str)
        .unwrap_or_default()
        .to_string();
    let Some(top) = root.as_map_mut() else { return };

    // a service with no network joins `default`; the implicit `default` network exists only
    // when some service uses it
    let mut uses_default = false;
    if let Some(services) = top.get_mut("services").and_then(Node::as_map_mut) {
        for svc in services.values_mut() {
            let Some(s) = svc.as_map_mut() else { continue };
            if s.contains_key("network_mode") {
                continue;
            }
            match s.get("networks") {
                Some(n) if n.as_map().is_some_and(|m| !m.is_empty()) => {
                    if n.get("default").is_some() {
                        uses_default = true;
                    }
                }
                _ => {
                    let mut n = Map::new();
                    n.insert("default".into(), Node::null());
                    s.insert("networks".into(), Node::map(n));
                    uses_default = true;
                }
            }
        }
    }
    let mut networks = match top.shift_remove("networks") {
        Some(n) if n.as_map().is_some() => n,
        _ => Node::map(Map::new()),
    };
    if let Some(n) = networks.as_map_mut() {
        if uses_default && !n.contains_key("default") {
            n.insert("default".into(), Node::null());
        }
        if !n.is_empty() {
            top.insert("networks".into(), networks);
        }
    }

    if let Some(services) = top.get_mut("services").and_then(Node::as_map_mut) {
        for svc in services.values_mut() {
            if let Some(s) = svc.as_map_mut() {
                service(s, env);
            }
        }
    }

    for kind in ["networks", "volumes", "configs", "secrets"] {
        let Some(objs) = top.get_mut(kind).and_then(Node::as_map_mut) else {
            continue;
        };
        for (key, obj) in objs.iter_mut() {
            if obj.is_null() {
                *obj = Node::map(Map::new()).at(&obj.pos);
            }
            let Some(m) = obj.as_map_mut() else { continue };
            let has_name = m.get("name").is_some_and(|n| !n.is_null());
            if !has_name {
                let external = m.get("external").is_some_and(is_true);
                let name = if external {
                    key.clone()
                } else {
                    format!("{project}_{key}")
                };
                m.insert("name".into(), Node::str(name));
            }
        }
    }
}

fn is_true(n: &Node) -> bool {
    match &n.v {
        Value::Bool(b) => *b,
        Value::Str(s) => matches!(s.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"),
        Value::Int(i) => *i == 1,
        _ => false,
    }
}

fn service(s: &mut Map, env: &IndexMap<String, String>) {
    if let Some(p) = s.get_mut("pull_policy") {
        if p.as_str() == Some("if_not_present") {
            p.v = Value::Str("missing".into());
        }
    }
    if let Some(build) = s.get_mut("build").and_then(Node::as_map_mut) {
        if build.get("context").is_none_or(Node::is_null) {
            build.insert("context".into(), Node::str("."));
        }
        if build.get("dockerfile").is_none_or(Node::is_null)
            && build.get("dockerfile_inline").is_none_or(Node::is_null)
        {
            build.insert("dockerfile".into(), Node::str("Dockerfile"));
        }
        if let Some(args) = build.get_mut("args") {
            resolve(args, env, false);
        }
    }
    if let Some(e) = s.get_mut("environment") {
        resolve(e, env, true);
    }
    if let Some(vols) = s.get_mut("volumes").and_then(Node::as_seq_mut) {
        for v in vols {
            if let Some(t) = v.get_mut("target") {
                if let Value::Str(target) = &mut t.v {
                    *target = super::paths::clean(std::path::Path::new(target.as_str()));
                }
            }
        }
    }

    let mut implicit: Vec<(String, bool)> = Vec::new();
    if let Some(links) = s.get("links").and_then(Node::as_seq) {
        for l in links {
            if let Some(l) = l.as_str() {
                let parts: Vec<&str> = l.split(':').collect();
                let name = if parts.len() == 2 { parts[0] } else { l };
                implicit.push((name.to_string(), true));
            }
        }
    }
    for ns in ["network_mode", "ipc", "pid", "uts", "cgroup"] {
        if let Some(shared) = s
            .get(ns)
            .and_then(Node::as_str)
            .and_then(|r| r.strip_prefix("service:"))
        {
            implicit.push((shared.to_string(), true));
        }
    }
    if let Some(from) = s.get("volumes_from").and_then(Node::as_seq) {
        for v in from {
            if let Some(v) = v.as_str() {
                if !v.starts_with("container:") {
                    let name = v.split(':').next().unwrap_or(v);
                    implicit.push((name.to_string(), false));
                }
            }
        }
    }
    if implicit.is_empty() {
        return;
    }
    let deps = s
        .entry("depends_on".to_string())
        .or_insert_with(|| Node::map(Map::new()));
    if deps.is_null() {
        *deps = Node::map(Map::new());
    }
    if let Some(d) = deps.as_map_mut() {
        for (name, restart) in implicit {
            if !d.contains_key(&name) {
                let mut dep = Map::new();
                dep.insert("condition".into(), Node::str("service_started"));
                dep.insert("restart".into(), Node::synth(Value::Bool(restart)));
                dep.insert("required".into(), Node::synth(Value::Bool(true)));
                d.insert(name, Node::map(dep));
            }
        }
    }
}

/// Fills `KEY` entries without a value from the project environment; those it lacks are kept
/// (environment) or dropped (build args).
fn resolve(n: &mut Node, env: &IndexMap<String, String>, keep_empty: bool) {
    match &mut n.v {
        Value::Seq(items) => {
            items.retain_mut(|item| match &item.v {
                Value::Str(s) if !s.contains('=') => match env.get(s.as_str()) {
                    Some(v) => {
                        item.v = Value::Str(format!("{s}={v}"));
                        true
                    }
                    None => keep_empty,
                },
                Value::Str(_) => true,
                _ => false,
            });
        }
        Value::Map(m) => {
            m.retain(|k, v| {
                if !v.is_null() {
                    return true;
                }
                match env.get(k) {
                    Some(val) => {
                        v.v = Value::Str(val.clone());
                        true
                    }
                    None => keep_empty,
                }
            });
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: Vec<(&str, Node)>) -> Node {
        let mut m = Map::new();
        for (k, v) in entries {
            m.insert(k.to_string(), v);
        }
        Node::map(m)
    }

    #[test]
    fn adds_default_network_and_names() {
        let mut root = map(vec![
            ("name", Node::str("proj")),
            (
                "services",
                map(vec![("web", map(vec![("image", Node::str("nginx"))]))]),
            ),
            ("volumes", map(vec![("data", Node::null())])),
        ]);
        normalize(&mut root, &IndexMap::new());
        let web = root.get("services").and_then(|s| s.get("web")).unwrap();
        assert!(web.get("networks").and_then(|n| n.get("default")).is_some());
        let net = root.get("networks").and_then(|n| n.get("default")).unwrap();
        assert_eq!(net.get("name").and_then(Node::as_str), Some("proj_default"));
        let vol = root.get("volumes").and_then(|n| n.get("data")).unwrap();
        assert_eq!(vol.get("name").and_then(Node::as_str), Some("proj_data"));
    }

    #[test]
    fn links_and_network_mode_become_dependencies() {
        let mut root = map(vec![
            ("name", Node::str("p")),
            (
                "services",
                map(vec![(
                    "web",
                    map(vec![
                        ("links", Node::seq(vec![Node::str("db:database")])),
                        ("network_mode", Node::str("service:vpn")),
                        ("volumes_from", Node::seq(vec![Node::str("data:ro")])),
                    ]),
                )]),
            ),
        ]);
        normalize(&mut root, &IndexMap::new());
        let deps = root
            .get("services")
            .and_then(|s| s.get("web"))
            .and_then(|w| w.get("depends_on"))
            .and_then(Node::as_map)
            .unwrap();
        let keys: Vec<&str> = deps.keys().map(String::as_str).collect();
        assert_eq!(keys, ["db", "vpn", "data"]);
        assert_eq!(
            deps["data"].get("restart").and_then(Node::as_bool),
            Some(false)
        );
        assert_eq!(
            deps["db"].get("restart").and_then(Node::as_bool),
            Some(true)
        );
    }

    #[test]
    fn environment_without_value_is_resolved_or_dropped() {
        let mut env = IndexMap::new();
        env.insert("HOME_DIR".to_string(), "/root".to_string());
        let mut e = map(vec![("HOME_DIR", Node::null()), ("MISSING", Node::null())]);
        let mut args = e.clone();
        resolve(&mut e, &env, true);
        assert_eq!(e.get("HOME_DIR").and_then(Node::as_str), Some("/root"));
        assert!(e.get("MISSING").is_some_and(Node::is_null));
        resolve(&mut args, &env, false);
        assert!(args.get("MISSING").is_none());
    }
}
