//! Merging compose files into one project tree (`-f a.yaml -f b.yaml`, `extends`), the `!reset` /
//! `!override` tags, and the de-duplication of sequences compose applies after every merge.
//!
//! The rules are those of the compose-go build the oracle runs. That build is compose-go v2.4.8,
//! not v2.0.2: the oracle merges `devices` by target, keeps repeated `extra_hosts` names, knows
//! `label_file`, and gives every `depends_on` list entry its own defaults. Where the two differ
//! this module follows the oracle.
//!
//! How the loader is expected to drive it, per YAML document and in file order:
//! 1. `let resets = Resets::take(&mut doc)` right after parsing: strips `!reset` nodes, clears
//!    `!override` tags and remembers both paths (compose does this while decoding).
//! 2. interpolation, then `extends`: for each extending service, clone the base service, call
//!    `resets.apply_service(name, &mut base)`, then `merge_service(&base, &service, &path)`.
//! 3. `resets.apply(&mut project)`, then `project = merge(project, doc)?`, then
//!    `enforce_unicity(&mut project)?`.
//!
//! [`merge`] and [`merge_service`] also honour tags still present in `over` (they take and apply
//! them themselves), so callers that skip step 1 get the same result for a plain merge.

use std::collections::HashMap;

use super::error::{Error, ErrorKind, Result};
use super::node::{go_float, KeyPath, Map, Node, Pos, Tag, Value};

// ---------------------------------------------------------------------------------------------
// !reset and !override
// ---------------------------------------------------------------------------------------------

/// The paths a document tagged `!reset` or `!override`, recorded the way compose records them:
/// mapping keys by name, sequence items by their decimal index (so, as in compose, a path through
/// a sequence never matches anything when applied).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resets {
    paths: Vec<Vec<String>>,
}

impl Resets {
    /// Removes every `!reset` node from `doc` (from mappings and sequences alike), clears the
    /// `!override` tags, and returns the paths of both. Nodes inside an `!override` value are
    /// kept as written, their tags cleared, as compose does not look inside them.
    pub fn take(doc: &mut Node) -> Resets {
        let mut r = Resets::default();
        if doc.tag == Tag::Reset {
            r.paths.push(Vec::new());
            *doc = Node::new(Value::Null, doc.pos.clone());
            return r;
        }
        r.walk(doc, &mut Vec::new());
        r
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Returns true when the node must be dropped from its parent.
    fn walk(&mut self, node: &mut Node, path: &mut Vec<String>) -> bool {
        match node.tag {
            Tag::Reset => {
                self.paths.push(path.clone());
                return true;
            }
            Tag::Override => {
                self.paths.push(path.clone());
                clear_tags(node);
                return false;
            }
            Tag::None => {}
        }
        match &mut node.v {
            Value::Map(m) => {
                let mut drop = Vec::new();
                for (k, v) in m.iter_mut() {
                    path.push(k.clone());
                    if self.walk(v, path) {
                        drop.push(k.clone());
                    }
                    path.pop();
                }
                for k in drop {
                    m.shift_remove(&k);
                }
            }
            Value::Seq(s) => {
                let mut keep = Vec::with_capacity(s.len());
                for (i, mut v) in std::mem::take(s).into_iter().enumerate() {
                    path.push(i.to_string());
                    if !self.walk(&mut v, path) {
                        keep.push(v);
                    }
                    path.pop();
                }
                *s = keep;
            }
            _ => {}
        }
        false
    }

    /// Deletes from `target` (a whole project tree) every mapping entry whose path was recorded.
    pub fn apply(&self, target: &mut Node) {
        if !self.paths.is_empty() {
            self.apply_inner(target, &mut Vec::new());
        }
    }

    /// Applies the recorded paths to a service definition about to be extended by the service
    /// `name` of the document the paths came from (compose applies them to
    /// `{services: {name: base}}`).
    pub fn apply_service(&self, name: &str, service: &mut Node) {
        if !self.paths.is_empty() {
            let mut prefix = vec!["services".to_string(), name.to_string()];
            self.apply_inner(service, &mut prefix);
        }
    }

    fn matches(&self, path: &[String]) -> bool {
        self.paths
            .iter()
            .any(|p| p.len() == path.len() && p.iter().zip(path).all(|(a, b)| a == "*" || a == b))
    }

    fn apply_inner(&self, node: &mut Node, path: &mut Vec<String>) {
        match &mut node.v {
            Value::Map(m) => {
                let mut drop = Vec::new();
                for (k, v) in m.iter_mut() {
                    path.push(k.clone());
                    if self.matches(path) {
                        drop.push(k.clone());
                    } else {
                        self.apply_inner(v, path);
                    }
                    path.pop();
                }
                for k in drop {
                    m.shift_remove(&k);
                }
            }
            Value::Seq(s) => {
                for (i, v) in s.iter_mut().enumerate() {
                    path.push(format!("[{i}]"));
                    // compose cannot remove sequence items here; it only stops descending
                    if !self.matches(path) {
                        self.apply_inner(v, path);
                    }
                    path.pop();
                }
            }
            _ => {}
        }
    }
}

fn clear_tags(node: &mut Node) {
    node.tag = Tag::None;
    match &mut node.v {
        Value::Map(m) => m.values_mut().for_each(clear_tags),
        Value::Seq(s) => s.iter_mut().for_each(clear_tags),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Merging
// ---------------------------------------------------------------------------------------------

/// Merges the project tree `over` (a later file) into `base` (everything loaded so far).
/// Tags in `over` are honoured: `!reset` removes the key from the result, `!override` replaces
/// the earlier value instead of merging with it. The result carries no tags.
pub fn merge(base: Node, over: Node) -> Result<Node> {
    let (mut base, mut over) = (base, over);
    // a file's own tags were resolved when it was read; any left in `base` mean nothing now
    Resets::take(&mut base);
    let resets = Resets::take(&mut over);
    resets.apply(&mut base);
    merge_yaml(base, over, &KeyPath::root())
}

/// Merges the service `base` (the one named by `extends`) into the extending service `over`,
/// with the same per-key rules as [`merge`]. `path` is where the extending service lives,
/// `services.<name>`; it selects the rules and names errors. The `extends` key is removed from
/// the result. Tags still present in `over` are honoured as in [`merge`].
pub fn merge_service(base: &Node, over: &Node, path: &KeyPath) -> Result<Node> {
    let (mut base, mut over) = (base.clone(), over.clone());
    Resets::take(&mut base);
    let resets = Resets::take(&mut over);
    if !resets.is_empty() {
        resets.apply_inner(&mut base, &mut Vec::new());
    }
    let mut merged = merge_yaml(base, over, path)?;
    if let Some(m) = merged.as_map_mut() {
        m.shift_remove("extends");
    }
    Ok(merged)
}

type Rule = fn(Node, Node, &KeyPath) -> Result<Node>;

/// The paths where compose does not merge by the generic rule.
const RULES: &[(&str, Rule)] = &[
    ("networks.*.ipam.config", merge_ipam_config),
    ("networks.*.labels", merge_to_sequence),
    ("volumes.*.labels", merge_to_sequence),
    ("services.*.annotations", merge_to_sequence),
    ("services.*.build", merge_build),
    ("services.*.build.args", merge_to_sequence),
    ("services.*.build.additional_contexts", merge_to_sequence),
    ("services.*.build.extra_hosts", merge_extra_hosts),
    ("services.*.build.labels", merge_to_sequence),
    ("services.*.command", replace),
    ("services.*.depends_on", merge_depends_on),
    ("services.*.deploy.labels", merge_to_sequence),
    ("services.*.dns", merge_to_sequence),
    ("services.*.dns_opt", merge_to_sequence),
    ("services.*.dns_search", merge_to_sequence),
    ("services.*.entrypoint", replace),
    ("services.*.env_file", merge_to_sequence),
    ("services.*.label_file", merge_to_sequence),
    ("services.*.environment", merge_to_sequence),
    ("services.*.extra_hosts", merge_extra_hosts),
    ("services.*.healthcheck.test", replace),
    ("services.*.labels", merge_to_sequence),
    ("services.*.logging", merge_logging),
    ("services.*.networks", merge_networks),
    ("services.*.sysctls", merge_to_sequence),
    ("services.*.tmpfs", merge_to_sequence),
    ("services.*.ulimits.*", replace),
];

fn merge_yaml(base: Node, over: Node, path: &KeyPath) -> Result<Node> {
    if let Some((_, rule)) = RULES.iter().find(|(p, _)| path.matches(p)) {
        return rule(base, over, path);
    }
    if over.is_null() {
        return Ok(base);
    }
    let pos = base.pos;
    match base.v {
        Value::Map(m) => match over.v {
            Value::Map(o) => Ok(Node::new(Value::Map(merge_mappings(m, o, path)?), pos)),
            _ => Err(Error::at(&over, path, "cannot override")),
        },
        Value::Seq(mut s) => match over.v {
            Value::Seq(o) => {
                s.extend(o);
                Ok(Node::new(Value::Seq(s), pos))
            }
            _ => Err(Error::at(&over, path, "cannot override")),
        },
        _ => Ok(over),
    }
}

fn merge_mappings(mut base: Map, over: Map, path: &KeyPath) -> Result<Map> {
    for (k, v) in over {
        match base.get_mut(&k) {
            Some(e) if !k.starts_with("x-") => {
                let old = std::mem::replace(e, Node::null());
                *e = merge_yaml(old, v, &path.key(&k))?;
            }
            _ => {
                base.insert(k, v);
            }
        }
    }
    Ok(base)
}

/// What compose does where it would crash (a Go panic): fail, naming the place.
fn crash(node: &Node, path: &KeyPath, msg: &str) -> Error {
    Error {
        kind: ErrorKind::Other,
        ..Error::at(node, path, format!("cannot merge: {msg}"))
    }
}

/// `mergeMappings` on maps that may be Go nil maps (`None`): reading a nil map is fine,
/// writing into one panics.
fn merge_opt_mappings(
    base: Option<Map>,
    over: Option<Map>,
    at: &Node,
    path: &KeyPath,
) -> Result<Option<Map>> {
    match (base, over) {
        (b, None) => Ok(b),
        (None, Some(o)) if o.is_empty() => Ok(None),
        (None, Some(_)) => Err(crash(at, path, "cannot merge into a null value")),
        (Some(b), Some(o)) => Ok(Some(merge_mappings(b, o, path)?)),
    }
}

fn replace(_base: Node, over: Node, _path: &KeyPath) -> Result<Node> {
    Ok(over)
}

fn merge_to_sequence(base: Node, over: Node, _path: &KeyPath) -> Result<Node> {
    let pos = base.pos.clone();
    let mut seq = into_sequence(base);
    seq.extend(into_sequence(over));
    Ok(Node::new(Value::Seq(seq), pos))
}

/// Like [`merge_to_sequence`], but an entry of `over` equal to one of `base` is not repeated.
fn merge_extra_hosts(base: Node, over: Node, _path: &KeyPath) -> Result<Node> {
    let pos = base.pos.clone();
    let mut seq = into_sequence(base);
    let added: Vec<Node> = into_sequence(over)
        .into_iter()
        .filter(|o| !seq.iter().any(|b| go_eq(Some(b), Some(o))))
        .collect();
    seq.extend(added);
    Ok(Node::new(Value::Seq(seq), pos))
}

/// compose's `convertIntoSequence`: a mapping becomes sorted `KEY=VALUE` strings (`KEY` alone
/// for a null value, one entry per item for a list value), a string becomes a one-item list,
/// a list stays as it is and anything else is dropped.
fn into_sequence(node: Node) -> Vec<Node> {
    match node.v {
        Value::Map(m) => {
            let mut seq: Vec<Node> = Vec::new();
            for (k, v) in m {
                match &v.v {
                    Value::Null => seq.push(Node::new(Value::Str(k), v.pos)),
                    Value::Seq(items) => {
                        for item in items {
                            let s = format!("{k}={}", fmt_v(item));
                            seq.push(Node::new(Value::Str(s), item.pos.clone()));
                        }
                    }
                    _ => {
                        let s = format!("{k}={}", fmt_v(&v));
                        seq.push(Node::new(Value::Str(s), v.pos));
                    }
                }
            }
            seq.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            seq
        }
        Value::Seq(s) => s,
        Value::Str(_) => vec![node],
        _ => Vec::new(),
    }
}

/// compose's `convertIntoMapping`: a mapping stays, a list of names becomes a mapping of those
/// names to `default` (or null), anything else is a Go nil map (`None`).
fn into_mapping(
    node: Node,
    default: Option<fn(&Pos) -> Node>,
    path: &KeyPath,
) -> Result<Option<Map>> {
    match node.v {
        Value::Map(m) => Ok(Some(m)),
        Value::Seq(items) => {
            let mut m = Map::new();
            for item in items {
                let Value::Str(name) = &item.v else {
                    return Err(crash(&item, path, "expected a list of names"));
                };
                let v = match default {
                    Some(f) => f(&item.pos),
                    None => Node::new(Value::Null, item.pos.clone()),
                };
                m.insert(name.clone(), v);
            }
            Ok(Some(m))
        }
        _ => Ok(None),
    }
}

fn depends_on_default(pos: &Pos) -> Node {
    let mut m = Map::new();
    m.insert(
        "condition".into(),
        Node::new(Value::Str("service_started".into()), pos.clone()),
    );
    m.insert("required".into(), Node::new(Value::Bool(true), pos.clone()));
    Node::new(Value::Map(m), pos.clone())
}

fn map_node(m: Option<Map>, pos: Pos) -> Node {
    // a Go nil map is still a mapping to whatever reads it next
    Node::new(Value::Map(m.unwrap_or_default()), pos)
}

fn merge_depends_on(base: Node, over: Node, path: &KeyPath) -> Result<Node> {
    let pos = base.pos.clone();
    let at = over.clone();
    let right = into_mapping(base, Some(depends_on_default), path)?;
    let left = into_mapping(over, Some(depends_on_default), path)?;
    Ok(map_node(merge_opt_mappings(right, left, &at, path)?, pos))
}

fn merge_networks(base: Node, over: Node, path: &KeyPath) -> Result<Node> {
    let pos = base.pos.clone();
    let at = over.clone();
    let right = into_mapping(base, None, path)?;
    let left = into_mapping(over, None, path)?;
    Ok(map_node(merge_opt_mappings(right, left, &at, path)?, pos))
}

fn merge_build(base: Node, over: Node, path: &KeyPath) -> Result<Node> {
    fn to_build(n: Node) -> Option<Map> {
        match n.v {
            Value::Str(_) => {
                let mut m = Map::new();
                m.insert("context".into(), n);
                Some(m)
            }
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    let pos = base.pos.clone();
    let at = over.clone();
    let merged = merge_opt_mappings(to_build(base), to_build(over), &at, path)?;
    Ok(map_node(merged, pos))
}

/// Options are merged only when both files name the same driver, or one names none.
fn merge_logging(base: Node, over: Node, path: &KeyPath) -> Result<Node> {
    let (Some(b), Some(o)) = (base.as_map(), over.as_map()) else {
        let bad = if base.as_map().is_none() {
            &base
        } else {
            &over
        };
        return Err(crash(bad, path, "logging must be a mapping"));
    };
    if let (Some(od), Some(bd)) = (o.get("driver"), b.get("driver")) {
        if !go_eq(Some(od), Some(bd)) {
            return Ok(over);
        }
    }
    merge_yaml_maps(base, over, path)
}

fn merge_yaml_maps(base: Node, over: Node, path: &KeyPath) -> Result<Node> {
    let pos = base.pos;
    match (base.v, over.v) {
        (Value::Map(b), Value::Map(o)) => {
            Ok(Node::new(Value::Map(merge_mappings(b, o, path)?), pos))
        }
        (v, _) => Ok(Node::new(v, pos)),
    }
}

/// An entry of the result of [`merge_ipam_config`]: either its own mapping, or the base entry
/// being merged right now (compose keeps a reference to it and keeps mutating it).
enum Slot {
    Current,
    Owned(Option<Map>, Pos),
}

/// compose's IPAM merge: entries are matched by `subnet`, in an order that follows its loops
/// exactly (an empty base list yields an empty result).
fn merge_ipam_config(base: Node, over: Node, path: &KeyPath) -> Result<Node> {
    let pos = base.pos.clone();
    let Value::Seq(originals) = base.v else {
        return Err(crash(&base, path, "ipam config must be a list"));
    };
    let mut out: Vec<Slot> = Vec::new();
    for original in originals {
        let opos = original.pos.clone();
        let mut right = into_mapping(original, None, path)?;
        let Some(overrides) = over.as_seq() else {
            return Err(crash(&over, path, "ipam config must be a list"));
        };
        for o in overrides {
            let left = into_mapping(o.clone(), None, path)?;
            let subnet = |m: &Option<Map>| m.as_ref().and_then(|m| m.get("subnet")).cloned();
            let slot_subnet = |s: &Slot, right: &Option<Map>| match s {
                Slot::Current => subnet(right),
                Slot::Owned(m, _) => subnet(m),
            };
            let ls = subnet(&left);
            if !go_eq(ls.as_ref(), subnet(&right).as_ref())
                && !out
                    .iter()
                    .any(|s| go_eq(slot_subnet(s, &right).as_ref(), ls.as_ref()))
            {
                out.push(Slot::Owned(left, o.pos.clone()));
                continue;
            }
            right = merge_opt_mappings(right, left, o, path)?;
            let rs = subnet(&right);
            match out
                .iter()
                .position(|s| go_eq(slot_subnet(s, &right).as_ref(), rs.as_ref()))
            {
                Some(i) => out[i] = Slot::Current,
                None => out.push(Slot::Current),
            }
        }
        for s in out.iter_mut() {
            if matches!(s, Slot::Current) {
                *s = Slot::Owned(right.clone(), opos.clone());
            }
        }
    }
    let seq = out
        .into_iter()
        .map(|s| match s {
            Slot::Owned(m, p) => map_node(m, p),
            Slot::Current => Node::null(), // replaced at the end of each outer round
        })
        .collect();
    Ok(Node::new(Value::Seq(seq), pos))
}

/// Go's `==` on two decoded YAML values (`None` is a missing key, which reads as nil).
/// Lists and mappings are never equal (Go would panic comparing them).
fn go_eq(a: Option<&Node>, b: Option<&Node>) -> bool {
    let a = a.map_or(&Value::Null, |n| &n.v);
    let b = b.map_or(&Value::Null, |n| &n.v);
    match (a, b) {
        (Value::Seq(_) | Value::Map(_), _) | (_, Value::Seq(_) | Value::Map(_)) => false,
        _ => a == b,
    }
}

// ---------------------------------------------------------------------------------------------
// Go formatting of decoded YAML values
// ---------------------------------------------------------------------------------------------

/// Go's `%v` of a decoded YAML value.
fn fmt_v(n: &Node) -> String {
    match &n.v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => go_fmt_float(*f),
        Value::Str(s) => s.clone(),
        Value::Seq(s) => {
            let items: Vec<String> = s.iter().map(fmt_v).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Map(m) => {
            let mut items: Vec<(&String, &Node)> = m.iter().collect();
            items.sort_by(|a, b| a.0.cmp(b.0));
            let items: Vec<String> = items
                .into_iter()
                .map(|(k, v)| format!("{k}:{}", fmt_v(v)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

/// Go's `%v` of a float64: shortest digits, exponent form below 1e-4 and from 1e6 up
/// (`strconv.FormatFloat(f, 'g', -1, 64)`).
fn go_fmt_float(f: f64) -> String {
    if !f.is_finite() || f == 0.0 {
        return go_float(f);
    }
    let sci = format!("{f:e}");
    let Some(real_exp) = sci.split_once('e').and_then(|(_, e)| e.parse::<i32>().ok()) else {
        return go_float(f);
    };
    if (-4..6).contains(&real_exp) {
        return format!("{f}");
    }
    match sci.split_once('e') {
        Some((m, _)) => {
            let sign = if real_exp < 0 { '-' } else { '+' };
            format!("{m}e{sign}{:02}", real_exp.abs())
        }
        None => sci,
    }
}

/// Go's `%T` of a decoded YAML value.
fn go_type(n: &Node) -> &'static str {
    match &n.v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::Seq(_) => "[]interface {}",
        Value::Map(_) => "map[string]interface {}",
    }
}

/// Go's `%s` of a decoded YAML value (`%!s(int=80)` for what is not a string).
fn fmt_s(n: Option<&Node>) -> String {
    match n.map(|n| &n.v) {
        None | Some(Value::Null) => "%!s(<nil>)".into(),
        Some(Value::Str(s)) => s.clone(),
        Some(_) => {
            let n = n.map(|n| (go_type(n), fmt_v(n)));
            match n {
                Some((t, v)) => format!("%!s({t}={v})"),
                None => "%!s(<nil>)".into(),
            }
        }
    }
}

/// Go's `%d` of a decoded YAML value.
fn fmt_d(n: Option<&Node>) -> String {
    match n.map(|n| &n.v) {
        None | Some(Value::Null) => "%!d(<nil>)".into(),
        Some(Value::Int(i)) => i.to_string(),
        Some(Value::Bool(b)) => format!("%!d(bool={b})"),
        Some(_) => match n {
            Some(n) => format!("%!d({}={})", go_type(n), fmt_v(n)),
            None => "%!d(<nil>)".into(),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Unicity
// ---------------------------------------------------------------------------------------------

type Indexer = fn(&Node, &KeyPath) -> Result<String>;

/// The sequences compose keeps free of duplicates, and what identifies an entry.
const UNIQUE: &[(&str, Indexer)] = &[
    ("networks.*.labels", key_value_index),
    ("networks.*.ipam.options", key_value_index),
    ("services.*.annotations", key_value_index),
    ("services.*.build.args", key_value_index),
    ("services.*.build.additional_contexts", key_value_index),
    ("services.*.build.platform", key_value_index),
    ("services.*.build.tags", key_value_index),
    ("services.*.build.labels", key_value_index),
    ("services.*.cap_add", key_value_index),
    ("services.*.cap_drop", key_value_index),
    ("services.*.devices", device_index),
    ("services.*.configs", config_index),
    ("services.*.deploy.labels", key_value_index),
    ("services.*.dns", key_value_index),
    ("services.*.dns_opt", key_value_index),
    ("services.*.dns_search", key_value_index),
    ("services.*.environment", key_value_index),
    ("services.*.env_file", env_file_index),
    ("services.*.expose", expose_index),
    ("services.*.labels", key_value_index),
    ("services.*.links", key_value_index),
    ("services.*.networks.*.aliases", key_value_index),
    ("services.*.networks.*.link_local_ips", key_value_index),
    ("services.*.ports", port_index),
    ("services.*.profiles", key_value_index),
    ("services.*.secrets", secret_index),
    ("services.*.sysctls", key_value_index),
    ("services.*.tmpfs", key_value_index),
    ("services.*.volumes", volume_index),
];

/// Removes redefinitions from the sequences compose keeps unique (ports, volumes by target,
/// `KEY=VALUE` lists by key, ...): a later entry with the key of an earlier one replaces it in
/// the earlier one's place. Mappings are left alone.
pub fn enforce_unicity(root: &mut Node) -> Result<()> {
    unicity(root, &KeyPath::root())
}

fn unicity(node: &mut Node, path: &KeyPath) -> Result<()> {
    match &mut node.v {
        Value::Map(m) => {
            for (k, v) in m.iter_mut() {
                unicity(v, &path.key(k))?;
            }
        }
        Value::Seq(s) => {
            if let Some((_, index)) = UNIQUE.iter().find(|(p, _)| path.matches(p)) {
                let mut out: Vec<Node> = Vec::with_capacity(s.len());
                let mut seen: HashMap<String, usize> = HashMap::new();
                for (i, entry) in std::mem::take(s).into_iter().enumerate() {
                    let key = index(&entry, &path.index(i))?;
                    match seen.get(&key) {
                        Some(&j) => out[j] = entry,
                        None => {
                            seen.insert(key, out.len());
                            out.push(entry);
                        }
                    }
                }
                *s = out;
            }
        }
        _ => {}
    }
    Ok(())
}

fn key_value_index(n: &Node, path: &KeyPath) -> Result<String> {
    match &n.v {
        Value::Str(s) => Ok(s.split_once('=').map_or(s.as_str(), |(k, _)| k).to_string()),
        _ => Err(Error::at(
            n,
            path,
            format!("unexpected type {}", go_type(n)),
        )),
    }
}

fn volume_index(n: &Node, path: &KeyPath) -> Result<String> {
    match &n.v {
        Value::Map(m) => match m.get("target").and_then(Node::as_str) {
            Some(t) => Ok(t.to_string()),
            None => Err(Error::at(
                n,
                path,
                "service volume is missing a mount target",
            )),
        },
        Value::Str(s) => volume_target(s).map_err(|e| Error::at(n, path, e)),
        _ => Ok(String::new()),
    }
}

fn device_index(n: &Node, path: &KeyPath) -> Result<String> {
    match &n.v {
        Value::Map(m) => match m.get("target").and_then(Node::as_str) {
            Some(t) => Ok(t.to_string()),
            None => Err(Error::at(
                n,
                path,
                "service device is missing a mount target",
            )),
        },
        Value::Str(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Ok(parts.get(1).unwrap_or(&parts[0]).to_string())
        }
        _ => Ok(String::new()),
    }
}

fn expose_index(n: &Node, path: &KeyPath) -> Result<String> {
    match &n.v {
        Value::Str(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        _ => Err(Error::at(
            n,
            path,
            format!("unsupported expose value {}", fmt_s(Some(n))),
        )),
    }
}

fn config_index(n: &Node, path: &KeyPath) -> Result<String> {
    mount_index(n, path, "")
}

fn secret_index(n: &Node, path: &KeyPath) -> Result<String> {
    mount_index(n, path, "/run/secrets")
}

fn mount_index(n: &Node, path: &KeyPath, default_dir: &str) -> Result<String> {
    match &n.v {
        Value::Str(s) => Ok(format!("{default_dir}/{s}")),
        Value::Map(m) => match m.get("target") {
            Some(t) => match t.as_str() {
                Some(t) => Ok(t.to_string()),
                None => Err(crash(t, path, "target must be a string")),
            },
            None => Ok(format!("{default_dir}/{}", fmt_s(m.get("source")))),
        },
        _ => Err(Error::at(
            n,
            path,
            format!("unsupported expose value {}", fmt_s(Some(n))),
        )),
    }
}

fn port_index(n: &Node, path: &KeyPath) -> Result<String> {
    match &n.v {
        Value::Int(i) => Ok(i.to_string()),
        Value::Str(s) => Ok(s.clone()),
        Value::Map(m) => {
            let Some(target) = m.get("target") else {
                return Err(Error::at(n, path, "service ports is missing a target port"));
            };
            let host = match m.get("host_ip") {
                Some(h) => fmt_s(Some(h)),
                None => "0.0.0.0".into(),
            };
            let protocol = match m.get("protocol") {
                Some(p) => fmt_s(Some(p)),
                None => "tcp".into(),
            };
            Ok(format!(
                "{host}:{}:{}/{protocol}",
                fmt_s(m.get("published")),
                fmt_d(Some(target))
            ))
        }
        _ => Ok(String::new()),
    }
}

fn env_file_index(n: &Node, path: &KeyPath) -> Result<String> {
    match &n.v {
        Value::Str(s) => Ok(s.clone()),
        Value::Map(m) => match m.get("path") {
            Some(p) => match p.as_str() {
                Some(p) => Ok(p.to_string()),
                None => Err(crash(p, path, "path must be a string")),
            },
            None => Err(Error::at(n, path, "environment path attribute is missing")),
        },
        _ => Ok(String::new()),
    }
}

/// The target of a short volume spec, as compose's `format.ParseVolume` finds it (with its
/// errors), without the rest of the parse.
fn volume_target(spec: &str) -> std::result::Result<String, String> {
    match spec.len() {
        0 => return Err("invalid empty volume spec".into()),
        1 | 2 => return Ok(spec.to_string()),
        _ => {}
    }
    let (mut source, mut target) = (String::new(), String::new());
    let mut buffer: Vec<char> = Vec::new();
    for c in spec.chars().chain(std::iter::once('\0')) {
        let drive = c == ':' && buffer.len() == 1 && buffer[0].is_alphabetic();
        if drive {
            buffer.push(c);
        } else if c == ':' || c == '\0' {
            let field: String = buffer.iter().collect();
            let fail = |e: &str| Err(format!("invalid spec: {spec}: {e}"));
            if buffer.is_empty() {
                return fail("empty section between colons");
            } else if source.is_empty() && c == '\0' {
                target = field;
            } else if source.is_empty() {
                source = field;
            } else if target.is_empty() {
                target = field;
            } else if c == ':' {
                return fail("too many colons");
            }
            buffer.clear();
        } else {
            buffer.push(c);
        }
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Turns a literal into a scalar node.
    trait Lit {
        fn node(self) -> Node;
    }
    impl Lit for &str {
        fn node(self) -> Node {
            Node::str(self)
        }
    }
    impl Lit for i32 {
        fn node(self) -> Node {
            Node::synth(Value::Int(self.into()))
        }
    }
    impl Lit for bool {
        fn node(self) -> Node {
            Node::synth(Value::Bool(self))
        }
    }
    impl Lit for f64 {
        fn node(self) -> Node {
            Node::synth(Value::Float(self))
        }
    }

    /// Builds a node tree from a JSON-like literal: `n!({"a": [1, "b", null], "c": (reset [])})`.
    macro_rules! n {
        (null) => { Node::null() };
        ((reset $v:tt)) => {{ let mut x = n!($v); x.tag = Tag::Reset; x }};
        ((override $v:tt)) => {{ let mut x = n!($v); x.tag = Tag::Override; x }};
        ({ $($k:literal : $v:tt),* $(,)? }) => {{
            #[allow(unused_mut)]
            let mut m = Map::new();
            $( m.insert($k.to_string(), n!($v)); )*
            Node::map(m)
        }};
        ([ $($v:tt),* $(,)? ]) => { Node::seq(vec![$( n!($v) ),*]) };
        ($e:expr) => { Lit::node($e) };
    }

    /// A project with one service `web` defined by `svc`.
    fn web(svc: Node) -> Node {
        let mut services = Map::new();
        services.insert("web".into(), svc);
        let mut m = Map::new();
        m.insert("services".into(), Node::map(services));
        Node::map(m)
    }

    fn merged_web(base: Node, over: Node) -> Node {
        let mut out = merge(web(base), web(over)).unwrap();
        enforce_unicity(&mut out).unwrap();
        out.get("services").unwrap().get("web").unwrap().clone()
    }

    fn svc_path() -> KeyPath {
        KeyPath::parse("services.web")
    }

    #[test]
    fn scalars_are_replaced_maps_merged_sequences_appended() {
        let got = merged_web(
            n!({"image": "a", "cap_add": ["NET_ADMIN"], "deploy": {"replicas": 1, "mode": "replicated"}}),
            n!({"image": "b", "cap_add": ["SYS_ADMIN"], "deploy": {"replicas": 3}}),
        );
        assert_eq!(
            got,
            n!({"image": "b", "cap_add": ["NET_ADMIN", "SYS_ADMIN"],
                "deploy": {"replicas": 3, "mode": "replicated"}})
        );
    }

    #[test]
    fn null_override_keeps_base_except_where_replaced() {
        let got = merged_web(
            n!({"image": "a", "command": ["x"], "user": "me"}),
            n!({"image": null, "command": null}),
        );
        // generic keys keep the earlier value, `command` takes the null
        assert_eq!(got, n!({"image": "a", "command": null, "user": "me"}));
    }

    #[test]
    fn command_entrypoint_and_healthcheck_test_are_replaced() {
        let got = merged_web(
            n!({"command": ["a", "b"], "entrypoint": ["sh"], "healthcheck": {"test": ["CMD", "x"], "retries": 3}}),
            n!({"command": ["c"], "entrypoint": "bash -c", "healthcheck": {"test": ["CMD", "y"]}}),
        );
        assert_eq!(
            got,
            n!({"command": ["c"], "entrypoint": "bash -c",
                "healthcheck": {"test": ["CMD", "y"], "retries": 3}})
        );
    }

    #[test]
    fn environment_map_and_list_merge_into_a_deduplicated_list() {
        // cg-merge-yaml-environment-mixed
        let got = merged_web(
            n!({"environment": {"FOO": "BAR"}}),
            n!({"environment": ["QIX=ZOT"]}),
        );
        assert_eq!(got, n!({"environment": ["FOO=BAR", "QIX=ZOT"]}));
        // a later value for the same key replaces the earlier one in its place
        let got = merged_web(
            n!({"environment": ["A=1", "B=2", "C"]}),
            n!({"environment": {"A": 3, "D": null, "E": true}}),
        );
        assert_eq!(got, n!({"environment": ["A=3", "B=2", "C", "D", "E=true"]}));
    }

    #[test]
    fn map_to_sequence_sorts_and_formats_values_as_go() {
        // cg-merge-yaml-labels-number--nc: numbers become strings
        let got = merged_web(n!({"labels": {"FOO": 1}}), n!({"labels": {"FOO": 3}}));
        assert_eq!(got, n!({"labels": ["FOO=3"]}));
        let got = merged_web(
            n!({"labels": {"z": 1.5, "a": 1000000.0, "m": ""}}),
            n!({"labels": null}),
        );
        assert_eq!(got, n!({"labels": ["a=1e+06", "m=", "z=1.5"]}));
        // a list value gives one entry per item
        assert_eq!(
            into_sequence(n!({"k": ["x", 2]})),
            vec![n!("k=2"), n!("k=x")]
        );
    }

    #[test]
    fn a_single_string_becomes_a_list() {
        // cg-merge-tmpfs-string
        let got = merged_web(n!({"tmpfs": "/foo"}), n!({"tmpfs": "/bar"}));
        assert_eq!(got, n!({"tmpfs": ["/foo", "/bar"]}));
        let got = merged_web(
            n!({"env_file": "a.env"}),
            n!({"env_file": ["b.env", "a.env"]}),
        );
        assert_eq!(got, n!({"env_file": ["a.env", "b.env"]}));
    }

    #[test]
    fn keys_only_in_the_override_keep_their_form() {
        let got = merged_web(n!({"image": "a"}), n!({"environment": {"A": 1}}));
        assert_eq!(got, n!({"image": "a", "environment": {"A": 1}}));
    }

    #[test]
    fn extra_hosts_drop_exact_repeats_but_keep_new_addresses() {
        // cg-merge-extra-hosts-mixed-2
        let got = merged_web(
            n!({"extra_hosts": {"example.com": "1.2.3.4"}}),
            n!({"extra_hosts": ["localhost=127.0.0.1", "example.com=1.2.3.4", "example.com=4.3.2.1"]}),
        );
        assert_eq!(
            got,
            n!({"extra_hosts": ["example.com=1.2.3.4", "localhost=127.0.0.1", "example.com=4.3.2.1"]})
        );
    }

    #[test]
    fn ports_and_expose_are_appended_and_deduplicated() {
        let got = merged_web(
            n!({"ports": ["80:80", 9000, {"target": 53, "published": "53", "protocol": "udp"}], "expose": [3000, "4000"]}),
            n!({"ports": ["80:80", "9000", {"target": 53, "published": "53", "protocol": "udp", "mode": "host"}], "expose": ["3000"]}),
        );
        assert_eq!(
            got,
            n!({"ports": ["80:80", "9000", {"target": 53, "published": "53", "protocol": "udp", "mode": "host"}],
                "expose": ["3000", "4000"]})
        );
    }

    #[test]
    fn volumes_are_unique_by_target() {
        let got = merged_web(
            n!({"volumes": ["./a:/data", "logs:/var/log:ro", "/anon"]}),
            n!({"volumes": [{"type": "bind", "source": "./b", "target": "/data"}, "/anon"]}),
        );
        assert_eq!(
            got,
            n!({"volumes": [{"type": "bind", "source": "./b", "target": "/data"}, "logs:/var/log:ro", "/anon"]})
        );
    }

    #[test]
    fn devices_are_unique_by_target() {
        // cg-merge-yaml-devices-override
        let got = merged_web(
            n!({"devices": ["/dev/sda:/dev/sda", "/dev/sdd:/dev/sdd"]}),
            n!({"devices": ["/dev/nvme0n1p1:/dev/sda"]}),
        );
        assert_eq!(
            got,
            n!({"devices": ["/dev/nvme0n1p1:/dev/sda", "/dev/sdd:/dev/sdd"]})
        );
    }

    #[test]
    fn secrets_and_configs_are_unique_by_target() {
        // cg-merge-yaml-service-mount: "foo" and {source: zot, target: /run/secrets/foo} clash
        let got = merged_web(
            n!({"secrets": ["foo", "bar", "zot"], "configs": ["c", {"source": "d", "target": "/c"}]}),
            n!({"secrets": [{"source": "zot", "target": "/run/secrets/foo"}]}),
        );
        assert_eq!(
            got,
            n!({"secrets": [{"source": "zot", "target": "/run/secrets/foo"}, "bar", "zot"],
                "configs": [{"source": "d", "target": "/c"}]})
        );
        // a config without target is keyed by its source under "/"
        let mut p = web(n!({"configs": [{"source": "d"}, "d", {"source": "d", "target": "/x"}]}));
        enforce_unicity(&mut p).unwrap();
        assert_eq!(
            p.get("services")
                .unwrap()
                .get("web")
                .unwrap()
                .get("configs")
                .unwrap(),
            &n!(["d", {"source": "d", "target": "/x"}])
        );
    }

    #[test]
    fn depends_on_list_and_map_merge_into_a_map() {
        let got = merged_web(
            n!({"depends_on": ["db", "cache"]}),
            n!({"depends_on": {"db": {"condition": "service_healthy"}}}),
        );
        // each listed service gets its own defaults (compose-go >= 2.1.5 fixed the sharing)
        assert_eq!(
            got,
            n!({"depends_on": {
                "db": {"condition": "service_healthy", "required": true},
                "cache": {"condition": "service_started", "required": true}}})
        );
    }

    #[test]
    fn networks_list_and_map_merge_into_a_map() {
        // cg-override-networks
        let got = merged_web(
            n!({"networks": ["test_network"]}),
            n!({"networks": {"test_network": {"aliases": ["alias1", "alias2"]}}}),
        );
        assert_eq!(
            got,
            n!({"networks": {"test_network": {"aliases": ["alias1", "alias2"]}}})
        );
        let got = merged_web(n!({"networks": ["a", "b"]}), n!({"networks": ["a"]}));
        assert_eq!(got, n!({"networks": {"a": null, "b": null}}));
    }

    #[test]
    fn network_aliases_are_unique() {
        let got = merged_web(
            n!({"networks": {"n": {"aliases": ["x", "y"]}}}),
            n!({"networks": {"n": {"aliases": ["x"]}}}),
        );
        assert_eq!(got, n!({"networks": {"n": {"aliases": ["x", "y"]}}}));
    }

    #[test]
    fn logging_options_merge_only_for_the_same_driver() {
        // cg-merge-yaml-logging-implicit-driver
        let got = merged_web(
            n!({"logging": {"options": {"max-size": "10m"}}}),
            n!({"logging": {"options": {"max-file": 3}}}),
        );
        assert_eq!(
            got,
            n!({"logging": {"options": {"max-size": "10m", "max-file": 3}}})
        );
        let got = merged_web(
            n!({"logging": {"driver": "json-file", "options": {"max-size": "10m"}}}),
            n!({"logging": {"driver": "json-file", "options": {"max-file": 3}}}),
        );
        assert_eq!(
            got,
            n!({"logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": 3}}})
        );
        let got = merged_web(
            n!({"logging": {"driver": "json-file", "options": {"max-size": "10m"}}}),
            n!({"logging": {"driver": "syslog", "options": {"tag": "x"}}}),
        );
        assert_eq!(
            got,
            n!({"logging": {"driver": "syslog", "options": {"tag": "x"}}})
        );
    }

    #[test]
    fn build_string_and_mapping_merge() {
        // cg-override-build-context
        let got = merged_web(
            n!({"build": "."}),
            n!({"build": {"dockerfile": "Dockerfile.dev"}}),
        );
        assert_eq!(
            got,
            n!({"build": {"context": ".", "dockerfile": "Dockerfile.dev"}})
        );
        let got = merged_web(
            n!({"build": {"context": ".", "target": "a"}}),
            n!({"build": "./app"}),
        );
        assert_eq!(got, n!({"build": {"context": "./app", "target": "a"}}));
        let got = merged_web(
            n!({"build": {"args": {"A": 1}, "tags": ["x"]}}),
            n!({"build": {"args": ["B=2", "A=3"], "tags": ["x", "y"]}}),
        );
        assert_eq!(
            got,
            n!({"build": {"args": ["A=3", "B=2"], "tags": ["x", "y"]}})
        );
    }

    #[test]
    fn ulimits_entries_are_replaced_whole() {
        // cg-merge-yaml-ulimits: `locks` loses its soft limit
        let got = merged_web(
            n!({"ulimits": {"nproc": 65535, "locks": {"soft": 1, "hard": 2}, "nofile": 5}}),
            n!({"ulimits": {"nproc": {"soft": 3}, "locks": {"hard": 4}}}),
        );
        assert_eq!(
            got,
            n!({"ulimits": {"nproc": {"soft": 3}, "locks": {"hard": 4}, "nofile": 5}})
        );
    }

    #[test]
    fn extension_keys_are_replaced_not_merged() {
        let base = n!({"x-common": {"a": 1, "b": 2}, "services": {"web": {"x-meta": {"k": 1}, "image": "a"}}});
        let over = n!({"x-common": {"c": 3}, "services": {"web": {"x-meta": {"j": 2}}}});
        assert_eq!(
            merge(base, over).unwrap(),
            n!({"x-common": {"c": 3}, "services": {"web": {"x-meta": {"j": 2}, "image": "a"}}})
        );
    }

    #[test]
    fn top_level_labels_become_lists_and_ipam_config_merges_by_subnet() {
        // cg-merge-yaml-networks
        let base = n!({"networks": {"n": {
            "labels": {"b": "1", "a": ""},
            "ipam": {"config": [{"subnet": "172.28.0.0/16", "ip_range": "172.28.5.0/24",
                                 "aux_addresses": {"host1": "1", "host2": "2"}}],
                     "options": {"foo": "bar"}}}}});
        let over = n!({"networks": {"n": {
            "labels": ["c=2", "a=x"],
            "ipam": {"config": [
                {"subnet": "172.28.0.0/16", "ip_range": "172.28.5.1/24", "aux_addresses": {"host2": "4", "host4": "10"}},
                {"subnet": "172.28.10.0/16", "gateway": "g"}],
                     "options": {"bar": "foo"}}}}});
        let mut got = merge(base, over).unwrap();
        enforce_unicity(&mut got).unwrap();
        assert_eq!(
            got,
            n!({"networks": {"n": {
                "labels": ["a=x", "b=1", "c=2"],
                "ipam": {"config": [
                    {"subnet": "172.28.0.0/16", "ip_range": "172.28.5.1/24",
                     "aux_addresses": {"host1": "1", "host2": "4", "host4": "10"}},
                    {"subnet": "172.28.10.0/16", "gateway": "g"}],
                         "options": {"foo": "bar", "bar": "foo"}}}}})
        );
    }

    #[test]
    fn ipam_config_with_an_empty_base_list_is_empty() {
        let base = n!({"networks": {"n": {"ipam": {"config": []}}}});
        let over = n!({"networks": {"n": {"ipam": {"config": [{"subnet": "10.0.0.0/8"}]}}}});
        assert_eq!(
            merge(base, over).unwrap(),
            n!({"networks": {"n": {"ipam": {"config": []}}}})
        );
    }

    #[test]
    fn reset_removes_the_key() {
        // cg-reset-remove
        let base =
            n!({"name": "test-reset", "networks": {"test": {"name": "test", "external": true}}});
        let over = n!({"networks": {"test": (reset {})}});
        assert_eq!(
            merge(base, over).unwrap(),
            n!({"name": "test-reset", "networks": {}})
        );
        let got = merged_web(
            n!({"image": "a", "ports": ["80:80"], "environment": {"A": 1, "B": 2}}),
            n!({"ports": (reset []), "environment": {"A": (reset null)}}),
        );
        // a reset entry inside a mapping-form environment removes just that key
        assert_eq!(got, n!({"image": "a", "environment": ["B=2"]}));
    }

    #[test]
    fn reset_of_a_mapping_entry_and_of_a_whole_key() {
        // cg-load-with-reset
        let got = merged_web(
            n!({"build": {"context": ".", "dockerfile": "foo.Dockerfile"}, "environment": {"FOO": "BAR"}}),
            n!({"image": "foo", "build": (reset null), "environment": {"FOO": (reset null)}}),
        );
        assert_eq!(got, n!({"environment": [], "image": "foo"}));
        // cg-override-replace
        let base = n!({"networks": {"test": {"name": "test", "external": true}}});
        let over = n!({"networks": {"test": (override {})}});
        assert_eq!(merge(base, over).unwrap(), n!({"networks": {"test": {}}}));
    }

    #[test]
    fn reset_inside_a_list_only_drops_the_item_of_the_override() {
        let got = merged_web(
            n!({"ports": ["80:80", "81:81"]}),
            n!({"ports": [(reset "80:80"), "82:82"]}),
        );
        assert_eq!(got, n!({"ports": ["80:80", "81:81", "82:82"]}));
    }

    #[test]
    fn override_replaces_instead_of_merging() {
        let got = merged_web(
            n!({"environment": ["A=1"], "ports": ["80:80"], "deploy": {"replicas": 2, "mode": "global"}}),
            n!({"environment": (override {"B": 2}), "ports": (override ["81:81"]),
                "deploy": (override {"replicas": 3})}),
        );
        assert_eq!(
            got,
            n!({"environment": {"B": 2}, "ports": ["81:81"], "deploy": {"replicas": 3}})
        );
        assert_eq!(got.get("deploy").unwrap().tag, Tag::None);
    }

    #[test]
    fn take_records_paths_and_strips_tags() {
        let mut doc = n!({"services": {"web": {"ports": (reset []), "command": (override ["a", (reset "b")]),
                                                "volumes": ["x", (reset "y")]}}});
        let r = Resets::take(&mut doc);
        assert_eq!(
            doc,
            n!({"services": {"web": {"command": ["a", "b"], "volumes": ["x"]}}})
        );
        let mut other = n!({"services": {"web": {"ports": ["1"], "command": "c", "volumes": ["z"], "image": "i"}}});
        r.apply(&mut other);
        assert_eq!(
            other,
            n!({"services": {"web": {"volumes": ["z"], "image": "i"}}})
        );
        let mut base = n!({"ports": ["1"], "image": "i"});
        r.apply_service("web", &mut base);
        assert_eq!(base, n!({"image": "i"}));
        let mut base = n!({"ports": ["1"]});
        r.apply_service("db", &mut base);
        assert_eq!(base, n!({"ports": ["1"]}));
    }

    #[test]
    fn extends_merges_the_base_service_into_the_extending_one() {
        // cg-load-extends-wih-reset and cg-load-extends-depends-on
        let base = n!({"image": "alpine", "command": "echo", "volumes": [".:/src"], "depends_on": ["service_c"]});
        let over = n!({"extends": {"service": "bar"}, "volumes": (reset []),
                       "depends_on": (override ["service_a"])});
        let got = merge_service(&base, &over, &svc_path()).unwrap();
        assert_eq!(
            got,
            n!({"image": "alpine", "command": "echo", "depends_on": ["service_a"]})
        );
        let got = merge_service(
            &n!({"image": "a", "environment": {"A": 1}, "ports": ["80"]}),
            &n!({"extends": "base", "environment": ["B=2"], "ports": ["81"]}),
            &svc_path(),
        )
        .unwrap();
        assert_eq!(
            got,
            n!({"image": "a", "environment": ["A=1", "B=2"], "ports": ["80", "81"]})
        );
    }

    #[test]
    fn merged_nodes_keep_the_position_of_the_winner() {
        let a: Arc<str> = Arc::from("a.yaml");
        let b: Arc<str> = Arc::from("b.yaml");
        let at = |f: &Arc<str>, l, n: Node| n.at(&Pos::new(f, l));
        let base = web(Node::map(Map::from_iter([
            ("image".to_string(), at(&a, 3, n!("x"))),
            ("user".to_string(), at(&a, 4, n!("u"))),
            ("deploy".to_string(), at(&a, 5, n!({"replicas": 1}))),
        ])));
        let over = web(Node::map(Map::from_iter([
            ("image".to_string(), at(&b, 7, n!("y"))),
            ("deploy".to_string(), at(&b, 8, n!({"mode": "global"}))),
        ])));
        let out = merge(base, over).unwrap();
        let svc = out.get("services").unwrap().get("web").unwrap();
        assert_eq!(svc.get("image").unwrap().pos, Pos::new(&b, 7));
        assert_eq!(svc.get("user").unwrap().pos, Pos::new(&a, 4));
        assert_eq!(svc.get("deploy").unwrap().pos, Pos::new(&a, 5));
    }

    #[test]
    fn type_mismatches_are_errors() {
        let e = merge(
            web(n!({"deploy": {"replicas": 1}})),
            web(n!({"deploy": "x"})),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "services.web.deploy: cannot override");
        assert_eq!(e.exit_code(), 15);
        let e = merge(web(n!({"cap_add": ["A"]})), web(n!({"cap_add": "B"}))).unwrap_err();
        assert_eq!(e.to_string(), "services.web.cap_add: cannot override");
        // a scalar gives way to anything
        assert_eq!(
            merged_web(n!({"user": "a"}), n!({"user": ["b"]})),
            n!({"user": ["b"]})
        );
    }

    #[test]
    fn unicity_errors_name_the_entry() {
        let mut p = web(n!({"environment": ["A=1", 5]}));
        let e = enforce_unicity(&mut p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "services.web.environment[1]: unexpected type int"
        );
        let mut p = web(n!({"volumes": ["/a::/b"]}));
        let e = enforce_unicity(&mut p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "services.web.volumes[0]: invalid spec: /a::/b: empty section between colons"
        );
        let mut p = web(n!({"ports": [{"published": "80"}]}));
        assert!(enforce_unicity(&mut p).is_err());
    }

    #[test]
    fn unicity_leaves_mappings_and_other_lists_alone() {
        let mut p = web(
            n!({"environment": {"A": 1}, "dns": ["1.1.1.1", "1.1.1.1"], "command": ["a", "a"]}),
        );
        enforce_unicity(&mut p).unwrap();
        assert_eq!(
            p,
            web(n!({"environment": {"A": 1}, "dns": ["1.1.1.1"], "command": ["a", "a"]}))
        );
    }

    #[test]
    fn port_keys_follow_go_formatting() {
        let k = |n: Node| port_index(&n, &KeyPath::root()).unwrap();
        assert_eq!(
            k(n!({"target": 80, "published": "8080"})),
            "0.0.0.0:8080:80/tcp"
        );
        assert_eq!(k(n!({"target": 80})), "0.0.0.0:%!s(<nil>):80/tcp");
        assert_eq!(
            k(n!({"target": "80", "published": 8080, "host_ip": "127.0.0.1", "protocol": "udp"})),
            "127.0.0.1:%!s(int=8080):%!d(string=80)/udp"
        );
        assert_eq!(k(n!(8080)), "8080");
    }

    #[test]
    fn volume_targets_parse_as_compose_does() {
        assert_eq!(volume_target("/data").unwrap(), "/data");
        assert_eq!(volume_target("vol:/data:ro").unwrap(), "/data");
        assert_eq!(volume_target("ab").unwrap(), "ab");
        assert_eq!(volume_target("C:\\x:/data").unwrap(), "/data");
        // a one-letter section before a colon is a Windows drive, even in the middle
        assert_eq!(volume_target("a:b:c:d").unwrap(), "c:d");
        assert_eq!(
            volume_target("/a:/b:ro:x").unwrap_err(),
            "invalid spec: /a:/b:ro:x: too many colons"
        );
        assert_eq!(volume_target("").unwrap_err(), "invalid empty volume spec");
    }

    #[test]
    fn go_formatting_of_values() {
        assert_eq!(fmt_v(&n!(0.5)), "0.5");
        assert_eq!(fmt_v(&n!(123456.0)), "123456");
        assert_eq!(fmt_v(&n!(1234567.0)), "1.234567e+06");
        assert_eq!(fmt_v(&n!(0.00001)), "1e-05");
        assert_eq!(fmt_v(&n!([1, "a"])), "[1 a]");
        assert_eq!(fmt_v(&n!({"b": 1, "a": null})), "map[a:<nil> b:1]");
    }
}
