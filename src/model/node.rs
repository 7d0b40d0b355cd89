//! The YAML tree every loading phase works on: values that remember the file and line they came
//! from, so that an error found after merging, extending or normalizing still names its place.
//! Knows nothing of containerd, OCI or netlink.

use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;

/// Where a node was written. `line` is 1-based; 0 means "made by berth" (a default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub file: Arc<str>,
    pub line: u32,
}

impl Pos {
    pub fn new(file: &Arc<str>, line: u32) -> Self {
        Pos {
            file: file.clone(),
            line,
        }
    }
    /// True when the node was made by berth rather than read from a file.
    pub fn is_synthetic(&self) -> bool {
        self.file.is_empty()
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.file.is_empty() {
            Ok(())
        } else if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// The YAML tags compose gives meaning to while merging files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tag {
    #[default]
    None,
    /// `!reset`: drop the value inherited from earlier files.
    Reset,
    /// `!override`: replace the inherited value instead of merging with it.
    Override,
}

pub type Map = IndexMap<String, Node>;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Map),
}

/// A value with its origin. For a mapping's value, `pos` is the line of its key, which is where a
/// person looks when told "services.web.ports is invalid".
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub v: Value,
    pub pos: Pos,
    pub tag: Tag,
}

impl Node {
    pub fn new(v: Value, pos: Pos) -> Self {
        Node {
            v,
            pos,
            tag: Tag::None,
        }
    }
    /// A node berth made itself (defaults, normalization), with no place in any file.
    pub fn synth(v: Value) -> Self {
        Node::new(v, Pos::default())
    }
    pub fn null() -> Self {
        Node::synth(Value::Null)
    }
    pub fn str(s: impl Into<String>) -> Self {
        Node::synth(Value::Str(s.into()))
    }
    pub fn map(m: Map) -> Self {
        Node::synth(Value::Map(m))
    }
    pub fn seq(s: Vec<Node>) -> Self {
        Node::synth(Value::Seq(s))
    }
    /// The same value placed at `pos` (for nodes made while transforming a written one).
    pub fn at(mut self, pos: &Pos) -> Self {
        self.pos = pos.clone();
        self
    }

    pub fn as_map(&self) -> Option<&Map> {
        match &self.v {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match &mut self.v {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&Vec<Node>> {
        match &self.v {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_seq_mut(&mut self) -> Option<&mut Vec<Node>> {
        match &mut self.v {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match &self.v {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match &self.v {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self.v, Value::Null)
    }
    /// Child of a mapping by key.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map().and_then(|m| m.get(key))
    }
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_map_mut().and_then(|m| m.get_mut(key))
    }

    /// The scalar as Go's `fmt.Sprint` would print it, the way compose turns a YAML scalar
    /// into a string (`8080` → "8080", `true` → "true", null → "").
    pub fn scalar_string(&self) -> Option<String> {
        match &self.v {
            Value::Null => Some(String::new()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(go_float(*f)),
            Value::Str(s) => Some(s.clone()),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// A short name for the node's kind, for "expected a mapping, got a string" messages.
    pub fn kind(&self) -> &'static str {
        match &self.v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Seq(_) => "array",
            Value::Map(_) => "mapping",
        }
    }
}

/// Formats a float as Go's `fmt.Sprint` does: shortest representation, with an exponent from
/// 1e+06 up and below 1e-04.
pub fn go_float(f: f64) -> String {
    super::yaml::format_g(f, false)
}

/// Whether dotted `pattern` names the path `segs` (keys, with `[]` for list items), where `*`
/// stands for any one segment. Allocation-free: walkers call it for every node.
pub fn segments_match(pattern: &str, segs: &[String]) -> bool {
    if pattern.bytes().filter(|b| *b == b'.').count() + 1 != segs.len() {
        return false;
    }
    pattern
        .split('.')
        .zip(segs)
        .all(|(p, s)| p == "*" || p == s)
}

/// A path into the tree, printed the way berth's errors name keys: `services.web.ports[1]`.
///
/// Walkers make a path for every node they visit, so extending one is O(1): a path is a shared
/// link to its parent.
#[derive(Clone, Debug, Default)]
pub struct KeyPath(Option<Arc<Link>>);

#[derive(Debug)]
struct Link {
    parent: KeyPath,
    seg: Seg,
    len: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

impl KeyPath {
    pub fn root() -> Self {
        KeyPath(None)
    }
    pub fn parse(dotted: &str) -> Self {
        dotted
            .split('.')
            .filter(|s| !s.is_empty())
            .fold(KeyPath::root(), |p, s| p.key(s))
    }
    fn push(&self, seg: Seg) -> Self {
        KeyPath(Some(Arc::new(Link {
            parent: self.clone(),
            seg,
            len: self.len() + 1,
        })))
    }
    pub fn key(&self, k: &str) -> Self {
        self.push(Seg::Key(k.to_string()))
    }
    pub fn index(&self, i: usize) -> Self {
        self.push(Seg::Index(i))
    }
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |l| l.len)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
    /// The segments from the last to the first.
    fn rev_segs(&self) -> impl Iterator<Item = &Seg> {
        let mut cur = self.0.as_deref();
        std::iter::from_fn(move || {
            let link = cur?;
            cur = link.parent.0.as_deref();
            Some(&link.seg)
        })
    }
    /// Matches a pattern such as `services.*.ports.[]` where `*` is any key and `[]` any index.
    pub fn matches(&self, pattern: &str) -> bool {
        // called for every node against tables of patterns: no allocation here, and most
        // patterns are rejected by their length alone
        if pattern.bytes().filter(|b| *b == b'.').count() + 1 != self.len() {
            return false;
        }
        pattern
            .rsplit('.')
            .zip(self.rev_segs())
            .all(|(p, s)| match (p, s) {
                ("*", Seg::Key(_)) | ("[]", Seg::Index(_)) => true,
                (p, Seg::Key(k)) => p == k,
                (_, Seg::Index(_)) => false,
            })
    }
    /// The last key of the path, if it ends in a key.
    pub fn last_key(&self) -> Option<&str> {
        match self.0.as_deref().map(|l| &l.seg) {
            Some(Seg::Key(k)) => Some(k),
            _ => None,
        }
    }
}

impl PartialEq for KeyPath {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.rev_segs().eq(other.rev_segs())
    }
}

impl Eq for KeyPath {}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut segs: Vec<&Seg> = self.rev_segs().collect();
        segs.reverse();
        for (i, s) in segs.into_iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_path_prints_and_matches() {
        let p = KeyPath::root()
            .key("services")
            .key("web")
            .key("ports")
            .index(1);
        assert_eq!(p.to_string(), "services.web.ports[1]");
        assert!(p.matches("services.*.ports.[]"));
        assert!(!p.matches("services.*.ports"));
        assert!(!p.matches("services.*.volumes.[]"));
    }

    #[test]
    fn floats_print_as_go_does() {
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(2.0), "2");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(0.00001), "1e-05");
    }

    #[test]
    fn pos_prints_file_and_line() {
        let f: Arc<str> = Arc::from("compose.yaml");
        assert_eq!(Pos::new(&f, 12).to_string(), "compose.yaml:12");
        assert_eq!(Pos::default().to_string(), "");
    }
}
