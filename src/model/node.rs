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

/// Formats a float as Go's `strconv.FormatFloat(f, 'g', -1, 64)` / `fmt.Sprint` does for the
/// values compose files hold: shortest representation, exponent only for very large or small.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        // Go prints e.g. 1e+21 and 1e-05
        let s = format!("{f:e}");
        if let Some((m, e)) = s.split_once('e') {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            let digits = if digits.len() < 2 {
                format!("0{digits}")
            } else {
                digits.to_string()
            };
            return format!("{m}e{sign}{digits}");
        }
        return s;
    }
    let s = format!("{f}");
    s
}

/// A path into the tree, printed the way berth's errors name keys: `services.web.ports[1]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPath(Vec<Seg>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

impl KeyPath {
    pub fn root() -> Self {
        KeyPath(Vec::new())
    }
    pub fn parse(dotted: &str) -> Self {
        KeyPath(
            dotted
                .split('.')
                .filter(|s| !s.is_empty())
                .map(|s| Seg::Key(s.to_string()))
                .collect(),
        )
    }
    pub fn key(&self, k: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_string()));
        p
    }
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Matches a pattern such as `services.*.ports.[]` where `*` is any key and `[]` any index.
    pub fn matches(&self, pattern: &str) -> bool {
        let parts: Vec<&str> = pattern.split('.').collect();
        if parts.len() != self.0.len() {
            return false;
        }
        parts.iter().zip(&self.0).all(|(p, s)| match (p, s) {
            (&"*", Seg::Key(_)) => true,
            (&"[]", Seg::Index(_)) => true,
            (p, Seg::Key(k)) => *p == k,
            _ => false,
        })
    }
    /// The last key of the path, if it ends in a key.
    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Seg::Key(k)) => Some(k),
            _ => None,
        }
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
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
        let p = KeyPath::root().key("services").key("web").key("ports").index(1);
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
        assert_eq!(go_float(0.00001), "1e-05");
    }

    #[test]
    fn pos_prints_file_and_line() {
        let f: Arc<str> = Arc::from("compose.yaml");
        assert_eq!(Pos::new(&f, 12).to_string(), "compose.yaml:12");
        assert_eq!(Pos::default().to_string(), "");
    }
}
