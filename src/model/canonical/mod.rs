//! The canonical phase: rewrites short syntax into long syntax on the merged Node tree (ports,
//! volumes, depends_on, env_file, build, secrets, external resources, …), then fills the defaults
//! compose adds to the long forms. Mirrors compose-go's `transform` package as shipped in the
//! Docker Compose build the corpus was recorded with (compose-go v2.4.x behaviour: device and
//! gpus short syntax, port defaults, parse errors kept when interpolation is skipped).
//!
//! Conversions that compose does later, while decoding into its typed model, are NOT made here:
//! `environment`/`labels`/`build.args`/`extra_hosts`… lists → mappings, `command`/`entrypoint`
//! strings → lists, `ulimits` integers (kept as `single`), `include.path` string → list, durations
//! and byte sizes. `build.dockerfile: Dockerfile` and the implicit `default` network come from
//! compose's normalization, not from here.

#[cfg(test)]
#[macro_use]
mod testnode;

mod ports;
mod volume;

pub use ports::{parse_port_spec, PortMapping};
pub use volume::{
    clean_path, parse_volume_spec, volume_node, BindOptions, VolumeOptions, VolumeSpec,
};

use crate::model::error::{Error, Result};
use crate::model::node::{KeyPath, Map, Node, Value};

/// State shared by one canonical pass.
pub(crate) struct Ctx<'a> {
    warnings: &'a mut Vec<String>,
    /// True when interpolation was skipped: short specs that do not parse are kept as written
    /// instead of failing (`${HOST_IP}:80` cannot parse before interpolation).
    ignore_parse_errors: bool,
}

/// Turns short syntax into long syntax everywhere compose does. Warnings (deprecated
/// `external.name`) are appended to `warnings` in document order.
pub fn canonical(root: &mut Node, warnings: &mut Vec<String>) -> Result<()> {
    canonical_with(root, warnings, false)
}

/// As [`canonical`]; with `ignore_parse_errors` (compose passes "interpolation skipped"), a
/// port list, volume or build context list that does not parse is left as written.
pub fn canonical_with(
    root: &mut Node,
    warnings: &mut Vec<String>,
    ignore_parse_errors: bool,
) -> Result<()> {
    let mut ctx = Ctx {
        warnings,
        ignore_parse_errors,
    };
    let mut segs = Vec::new();
    walk(root, &mut segs, &KeyPath::root(), &mut ctx, TRANSFORMS)
}

/// Fills the defaults compose gives long forms: `build.context: .`, a secret's
/// `target: /run/secrets/<source>`, a port's `protocol: tcp` and `mode: ingress`, and
/// `count: all` for device requests and gpus that name neither a count nor device ids.
pub fn set_defaults(root: &mut Node) -> Result<()> {
    let mut warnings = Vec::new();
    let mut ctx = Ctx {
        warnings: &mut warnings,
        ignore_parse_errors: false,
    };
    let mut segs = Vec::new();
    walk(root, &mut segs, &KeyPath::root(), &mut ctx, DEFAULTS)
}

type Transform = fn(&mut Node, &mut Vec<String>, &KeyPath, &mut Ctx) -> Result<()>;

/// Where each rewrite applies. `*` matches any key or list index; a matching rewrite owns the
/// whole subtree (it walks on only where it says so).
const TRANSFORMS: &[(&str, Transform)] = &[
    ("services.*", service),
    ("services.*.build.secrets.*", file_mount),
    ("services.*.build.additional_contexts", key_value),
    ("services.*.depends_on", depends_on),
    ("services.*.env_file", env_file),
    ("services.*.label_file", string_or_list),
    ("services.*.extends", extends),
    ("services.*.gpus", gpus),
    ("services.*.networks", service_networks),
    ("services.*.volumes.*", service_volume),
    ("services.*.dns", string_or_list),
    ("services.*.devices.*", device),
    ("services.*.secrets.*", file_mount),
    ("services.*.configs.*", file_mount),
    ("services.*.ports", service_ports),
    ("services.*.build", build),
    ("services.*.build.ssh", ssh),
    ("services.*.ulimits.*", ulimit),
    ("services.*.build.ulimits.*", ulimit),
    ("volumes.*", maybe_external),
    ("networks.*", maybe_external),
    ("secrets.*", maybe_external),
    ("configs.*", maybe_external),
    ("include.*", include),
];

const DEFAULTS: &[(&str, Transform)] = &[
    ("services.*.build", default_build),
    ("services.*.secrets.*", default_secret),
    ("services.*.ports.*", default_port),
    (
        "services.*.deploy.resources.reservations.devices.*",
        default_device_request,
    ),
    ("services.*.gpus.*", default_device_request),
];

fn pattern_matches(pattern: &str, segs: &[String]) -> bool {
    crate::model::node::segments_match(pattern, segs)
}

fn walk(
    node: &mut Node,
    segs: &mut Vec<String>,
    path: &KeyPath,
    ctx: &mut Ctx,
    table: &[(&str, Transform)],
) -> Result<()> {
    if let Some((_, f)) = table.iter().find(|(p, _)| pattern_matches(p, segs)) {
        return f(node, segs, path, ctx);
    }
    walk_children(node, segs, path, ctx, table)
}

fn walk_children(
    node: &mut Node,
    segs: &mut Vec<String>,
    path: &KeyPath,
    ctx: &mut Ctx,
    table: &[(&str, Transform)],
) -> Result<()> {
    match &mut node.v {
        Value::Map(m) => {
            for (k, child) in m.iter_mut() {
                segs.push(k.clone());
                let r = walk(child, segs, &path.key(k), ctx, table);
                segs.pop();
                r?;
            }
        }
        Value::Seq(s) => {
            for (i, child) in s.iter_mut().enumerate() {
                segs.push("[]".into());
                let r = walk(child, segs, &path.index(i), ctx, table);
                segs.pop();
                r?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn transforms_below(
    node: &mut Node,
    segs: &mut Vec<String>,
    path: &KeyPath,
    ctx: &mut Ctx,
) -> Result<()> {
    walk_children(node, segs, path, ctx, TRANSFORMS)
}

fn type_error(node: &Node, path: &KeyPath, what: &str, expected: &str) -> Error {
    Error::at(
        node,
        path,
        format!("invalid {what}: expected {expected}, got {}", node.kind()),
    )
}

/// A mapping placed where `at` was written.
fn map_at(at: &Node, entries: Vec<(&str, Node)>) -> Node {
    let m: Map = entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    Node::map(m).at(&at.pos)
}

fn str_at(at: &Node, s: &str) -> Node {
    Node::str(s).at(&at.pos)
}

fn bool_at(at: &Node, b: bool) -> Node {
    Node::synth(Value::Bool(b)).at(&at.pos)
}

fn insert_missing(m: &mut Map, key: &str, value: Node) {
    if !m.contains_key(key) {
        m.insert(key.to_string(), value);
    }
}

// ---- transforms ------------------------------------------------------------------------------

fn service(node: &mut Node, segs: &mut Vec<String>, path: &KeyPath, ctx: &mut Ctx) -> Result<()> {
    if node.as_map().is_some() {
        transforms_below(node, segs, path, ctx)?;
    }
    Ok(())
}

fn service_ports(
    node: &mut Node,
    _: &mut Vec<String>,
    path: &KeyPath,
    ctx: &mut Ctx,
) -> Result<()> {
    ports::transform_ports(node, path, ctx)
}

fn service_volume(
    node: &mut Node,
    _: &mut Vec<String>,
    path: &KeyPath,
    ctx: &mut Ctx,
) -> Result<()> {
    volume::transform_volume(node, path, ctx)
}

/// `build: ./dir` → `{context: ./dir}`.
fn build(node: &mut Node, segs: &mut Vec<String>, path: &KeyPath, ctx: &mut Ctx) -> Result<()> {
    match &node.v {
        Value::Map(_) => transforms_below(node, segs, path, ctx),
        Value::Str(s) => {
            *node = map_at(node, vec![("context", str_at(node, s))]);
            Ok(())
        }
        _ => Err(type_error(node, path, "build", "a string or a mapping")),
    }
}

/// `extends: base` → `{service: base}`.
fn extends(node: &mut Node, segs: &mut Vec<String>, path: &KeyPath, ctx: &mut Ctx) -> Result<()> {
    match &node.v {
        Value::Map(_) => transforms_below(node, segs, path, ctx),
        Value::Str(s) => {
            *node = map_at(node, vec![("service", str_at(node, s))]);
            Ok(())
        }
        _ => Err(type_error(node, path, "extends", "a string or a mapping")),
    }
}

/// `depends_on: [db]` → `{db: {condition: service_started, required: true}}`; mapping entries
/// get whichever of the two they lack.
fn depends_on(node: &mut Node, _: &mut Vec<String>, path: &KeyPath, _: &mut Ctx) -> Result<()> {
    match &mut node.v {
        Value::Map(m) => {
            for (name, dep) in m.iter_mut() {
                let pos = dep.pos.clone();
                let Some(dm) = dep.as_map_mut() else {
                    return Err(type_error(
                        dep,
                        &path.key(name),
                        "depends_on entry",
                        "a mapping",
                    ));
                };
                insert_missing(dm, "condition", Node::str("service_started").at(&pos));
                insert_missing(dm, "required", Node::synth(Value::Bool(true)).at(&pos));
            }
            Ok(())
        }
        Value::Seq(items) => {
            let mut out = Map::new();
            for (i, item) in items.iter().enumerate() {
                let Some(name) = item.as_str() else {
                    return Err(type_error(
                        item,
                        &path.index(i),
                        "depends_on entry",
                        "a service name",
                    ));
                };
                let entry = map_at(
                    item,
                    vec![
                        ("condition", str_at(item, "service_started")),
                        ("required", bool_at(item, true)),
                    ],
                );
                out.insert(name.to_string(), entry);
            }
            node.v = Value::Map(out);
            Ok(())
        }
        _ => Err(type_error(node, path, "depends_on", "a list or a mapping")),
    }
}

/// `env_file: .env` → `[{path: .env, required: true}]`.
fn env_file(node: &mut Node, _: &mut Vec<String>, path: &KeyPath, _: &mut Ctx) -> Result<()> {
    fn entry(e: &mut Node) {
        if let Some(s) = e.as_str() {
            *e = map_at(
                e,
                vec![("path", str_at(e, s)), ("required", bool_at(e, true))],
            );
            return;
        }
        let required = bool_at(e, true);
        match e.as_map_mut() {
            Some(m) => insert_missing(m, "required", required),
            // compose drops entries of any other type to null
            None => e.v = Value::Null,
        }
    }
    match &mut node.v {
        Value::Str(_) => {
            let mut e = node.clone();
            entry(&mut e);
            node.v = Value::Seq(vec![e]);
            Ok(())
        }
        Value::Seq(items) => {
            items.iter_mut().for_each(entry);
            Ok(())
        }
        _ => Err(type_error(node, path, "env_file", "a string or a list")),
    }
}

/// `dns` and `label_file`: a single string becomes a one-item list.
fn string_or_list(node: &mut Node, _: &mut Vec<String>, _: &KeyPath, _: &mut Ctx) -> Result<()> {
    if matches!(node.v, Value::Str(_)) {
        let item = node.clone();
        node.v = Value::Seq(vec![item]);
    }
    Ok(())
}

/// `gpus: all` (any string) → `[{count: all}]`.
fn gpus(node: &mut Node, segs: &mut Vec<String>, path: &KeyPath, ctx: &mut Ctx) -> Result<()> {
    match &node.v {
        Value::Seq(_) => transforms_below(node, segs, path, ctx),
        Value::Str(_) => {
            let req = map_at(node, vec![("count", str_at(node, "all"))]);
            node.v = Value::Seq(vec![req]);
            Ok(())
        }
        _ => Err(type_error(node, path, "gpus", "a string or a list")),
    }
}

/// A service's `networks: [a, b]` → `{a: null, b: null}`.
fn service_networks(
    node: &mut Node,
    _: &mut Vec<String>,
    path: &KeyPath,
    _: &mut Ctx,
) -> Result<()> {
    let Some(items) = node.as_seq() else {
        return Ok(());
    };
    let mut out = Map::new();
    for (i, item) in items.iter().enumerate() {
        let Some(name) = item.as_str() else {
            return Err(type_error(
                item,
                &path.index(i),
                "network",
                "a network name",
            ));
        };
        out.insert(name.to_string(), Node::null().at(&item.pos));
    }
    node.v = Value::Map(out);
    Ok(())
}

/// `devices: ["/dev/a:/dev/b:r"]` → `{source, target, permissions}` (target defaults to the
/// source, permissions to rwm).
fn device(node: &mut Node, _: &mut Vec<String>, path: &KeyPath, ctx: &mut Ctx) -> Result<()> {
    match &node.v {
        Value::Map(m) => {
            // compose's de-duplication pass, which always follows this one, rejects it
            if !matches!(m.get("target").map(|t| &t.v), Some(Value::Str(_))) {
                return Err(Error::at(
                    node,
                    path,
                    "service device is missing a mount target",
                ));
            }
            Ok(())
        }
        Value::Str(spec) => {
            let parts: Vec<&str> = spec.split(':').collect();
            let (mut src, mut dst, mut perms) = ("", "", "rwm");
            match parts.len() {
                1 => src = parts[0],
                2 => (src, dst) = (parts[0], parts[1]),
                3 => (src, dst, perms) = (parts[0], parts[1], parts[2]),
                _ if ctx.ignore_parse_errors => {}
                _ => {
                    return Err(Error::at(
                        node,
                        path,
                        format!("confusing device mapping {spec:?}, please use long syntax"),
                    ))
                }
            }
            if dst.is_empty() {
                dst = src;
            }
            *node = map_at(
                node,
                vec![
                    ("source", str_at(node, src)),
                    ("target", str_at(node, dst)),
                    ("permissions", str_at(node, perms)),
                ],
            );
            Ok(())
        }
        _ => Err(type_error(node, path, "device", "a string or a mapping")),
    }
}

/// Secrets and configs of a service or a build: `name` → `{source: name}`.
fn file_mount(node: &mut Node, _: &mut Vec<String>, path: &KeyPath, _: &mut Ctx) -> Result<()> {
    match &node.v {
        Value::Map(_) => Ok(()),
        Value::Str(s) => {
            *node = map_at(node, vec![("source", str_at(node, s))]);
            Ok(())
        }
        _ => Err(type_error(node, path, "mount", "a string or a mapping")),
    }
}

/// `additional_contexts: [name=path]` → `{name: path}`.
fn key_value(node: &mut Node, _: &mut Vec<String>, path: &KeyPath, ctx: &mut Ctx) -> Result<()> {
    match &node.v {
        Value::Map(_) => Ok(()),
        Value::Seq(items) => {
            let mut out = Map::new();
            for (i, item) in items.iter().enumerate() {
                let Some(s) = item.as_str() else {
                    return Err(type_error(
                        item,
                        &path.index(i),
                        "entry",
                        "a key=value string",
                    ));
                };
                match s.split_once('=') {
                    Some((k, v)) => {
                        out.insert(k.to_string(), str_at(item, v));
                    }
                    None if ctx.ignore_parse_errors => return Ok(()),
                    None => {
                        return Err(Error::at(
                            item,
                            &path.index(i),
                            format!("invalid value {s:?}, expected key=value"),
                        ))
                    }
                }
            }
            node.v = Value::Map(out);
            Ok(())
        }
        _ => Err(type_error(node, path, "value", "a list or a mapping")),
    }
}

/// `build.ssh: [default, key=path]` → `{default: null, key: path}`.
fn ssh(node: &mut Node, _: &mut Vec<String>, path: &KeyPath, _: &mut Ctx) -> Result<()> {
    match &node.v {
        Value::Map(_) => Ok(()),
        Value::Seq(items) => {
            let mut out = Map::new();
            for (i, item) in items.iter().enumerate() {
                let Some(s) = item.as_str() else {
                    return Err(type_error(item, &path.index(i), "ssh key", "a string"));
                };
                match s.split_once('=') {
                    Some((id, p)) => {
                        out.insert(id.to_string(), str_at(item, p));
                    }
                    None if s == "default" => {
                        out.insert(s.to_string(), Node::null().at(&item.pos));
                    }
                    None => {
                        return Err(Error::at(
                            item,
                            &path.index(i),
                            format!("invalid ssh key {s:?}"),
                        ))
                    }
                }
            }
            node.v = Value::Map(out);
            Ok(())
        }
        _ => Err(type_error(node, path, "ssh", "a list or a mapping")),
    }
}

/// Ulimits are kept as written (an integer or a mapping); anything else is refused.
fn ulimit(node: &mut Node, _: &mut Vec<String>, path: &KeyPath, _: &mut Ctx) -> Result<()> {
    match node.v {
        Value::Int(_) | Value::Map(_) => Ok(()),
        _ => Err(type_error(node, path, "ulimit", "an integer or a mapping")),
    }
}

/// Top-level volumes/networks/secrets/configs: the deprecated `external: {name: x}` becomes
/// `name: x` plus `external: true`.
fn maybe_external(
    node: &mut Node,
    segs: &mut Vec<String>,
    path: &KeyPath,
    ctx: &mut Ctx,
) -> Result<()> {
    match &node.v {
        Value::Null => return Ok(()),
        Value::Map(_) => transforms_below(node, segs, path, ctx)?,
        _ => return Err(type_error(node, path, "resource", "a mapping or null")),
    }
    let Some(res) = node.as_map_mut() else {
        return Ok(());
    };
    let Some(ext) = res.get("external") else {
        return Ok(());
    };
    let Some(ext_map) = ext.as_map() else {
        return Ok(());
    };
    let ext_pos = ext.pos.clone();
    let ext_name = ext_map.get("name").cloned();
    res.insert(
        "external".into(),
        Node::synth(Value::Bool(true)).at(&ext_pos),
    );
    if let Some(ext_name) = ext_name {
        ctx.warnings.push(format!(
            "{path}: external.name is deprecated. Please set name and external: true"
        ));
        match res.get("name") {
            Some(name) if name.v != ext_name.v => {
                return Err(Error::at(
                    name,
                    path,
                    "name and external.name conflict; only use name",
                ));
            }
            Some(_) => {}
            None => {
                res.insert("name".into(), ext_name);
            }
        }
    }
    Ok(())
}

/// `include: [other.yaml]` → `[{path: other.yaml}]`.
fn include(node: &mut Node, _: &mut Vec<String>, path: &KeyPath, _: &mut Ctx) -> Result<()> {
    match &node.v {
        Value::Map(_) => Ok(()),
        Value::Str(s) => {
            *node = map_at(node, vec![("path", str_at(node, s))]);
            Ok(())
        }
        _ => Err(type_error(node, path, "include", "a string or a mapping")),
    }
}

// ---- defaults --------------------------------------------------------------------------------

fn default_build(node: &mut Node, _: &mut Vec<String>, _: &KeyPath, _: &mut Ctx) -> Result<()> {
    let pos = node.pos.clone();
    if let Some(m) = node.as_map_mut() {
        insert_missing(m, "context", Node::str(".").at(&pos));
    }
    Ok(())
}

fn default_secret(node: &mut Node, _: &mut Vec<String>, path: &KeyPath, _: &mut Ctx) -> Result<()> {
    let pos = node.pos.clone();
    let Some(m) = node.as_map_mut() else {
        return Err(type_error(node, path, "secret", "a mapping"));
    };
    if !m.contains_key("target") {
        let source = go_sprint_s(m.get("source"));
        m.insert(
            "target".into(),
            Node::str(format!("/run/secrets/{source}")).at(&pos),
        );
    }
    Ok(())
}

/// What Go's `fmt.Sprintf("%s", v)` prints for a YAML value (the secret target default uses it,
/// so a missing source gives compose's `%!s(<nil>)`).
fn go_sprint_s(v: Option<&Node>) -> String {
    match v.map(|n| &n.v) {
        None | Some(Value::Null) => "%!s(<nil>)".into(),
        Some(Value::Str(s)) => s.clone(),
        Some(Value::Int(i)) => format!("%!s(int={i})"),
        Some(Value::Bool(b)) => format!("%!s(bool={b})"),
        Some(Value::Float(f)) => format!("%!s(float64={})", crate::model::node::go_float(*f)),
        Some(other) => format!("{other:?}"),
    }
}

fn default_port(node: &mut Node, _: &mut Vec<String>, _: &KeyPath, _: &mut Ctx) -> Result<()> {
    let pos = node.pos.clone();
    if let Some(m) = node.as_map_mut() {
        insert_missing(m, "protocol", Node::str("tcp").at(&pos));
        insert_missing(m, "mode", Node::str("ingress").at(&pos));
    }
    Ok(())
}

fn default_device_request(
    node: &mut Node,
    _: &mut Vec<String>,
    path: &KeyPath,
    _: &mut Ctx,
) -> Result<()> {
    let pos = node.pos.clone();
    let Some(m) = node.as_map_mut() else {
        return Err(type_error(node, path, "device request", "a mapping"));
    };
    if !m.contains_key("count") && !m.contains_key("device_ids") {
        m.insert("count".into(), Node::str("all").at(&pos));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
