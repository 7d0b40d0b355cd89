//! The typed model's plumbing: decoding a [`Node`] into Rust values with errors that name the
//! place, and encoding them back into an ordered [`Out`] tree with Go's `omitempty` rules, which is
//! what `docker compose config` prints. The `compose_struct!` macro declares a struct once and
//! gets both directions, with its YAML keys in Compose's order.

use indexmap::IndexMap;

use super::error::{Error, Result};
use super::node::{KeyPath, Node, Value};

/// The two output formats. They differ: JSON never omits structs and prints some nil lists as
/// `null`; YAML omits zero structs (gopkg.in/yaml.v3 `omitempty`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fmt {
    Yaml,
    Json,
}

/// An ordered output tree. Mappings keep the order they are built in; Go maps are sorted by key
/// when built ([`Out::sorted_map`]), Go structs keep field order.
#[derive(Clone, Debug, PartialEq)]
pub enum Out {
    Null,
    Bool(bool),
    Int(i64),
    /// A float and whether it is a Go float32 (printed with float32 precision).
    Float(f64, bool),
    Str(String),
    Seq(Vec<Out>),
    Map(Vec<(String, Out)>),
}

impl Out {
    pub fn sorted_map(mut entries: Vec<(String, Out)>) -> Out {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Out::Map(entries)
    }
}

/// A value of the typed model.
pub trait Field: Sized {
    /// Decodes `n`, found at `path`. Scalars are converted as compose's mapstructure hooks do
    /// (strings to numbers and booleans, numbers to strings).
    fn decode(n: &Node, path: &KeyPath) -> Result<Self>;
    /// Encodes for output in `f`.
    fn encode(&self, f: Fmt) -> Out;
    /// Go's `omitempty` test for this value in format `f`.
    fn is_empty(&self, f: Fmt) -> bool;
}

pub fn type_error(n: &Node, path: &KeyPath, want: &str) -> Error {
    Error::at(n, path, format!("must be {want}, not {} {}", article(n.kind()), n.kind()))
}

fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

impl Field for String {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        match &n.v {
            Value::Str(s) => Ok(s.clone()),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                Ok(n.scalar_string().unwrap_or_default())
            }
            Value::Null => Ok(String::new()),
            _ => Err(type_error(n, path, "a string")),
        }
    }
    fn encode(&self, _: Fmt) -> Out {
        Out::Str(self.clone())
    }
    fn is_empty(&self, _: Fmt) -> bool {
        self.is_empty()
    }
}

/// Go's `toBoolean` cast: YAML 1.1 spellings are accepted with a warning upstream.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "y" | "yes" | "on" => Some(true),
        "false" | "n" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl Field for bool {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        match &n.v {
            Value::Bool(b) => Ok(*b),
            Value::Str(s) => parse_bool(s)
                .ok_or_else(|| Error::at(n, path, format!("invalid boolean: {s}"))),
            Value::Null => Ok(false),
            _ => Err(type_error(n, path, "a boolean")),
        }
    }
    fn encode(&self, _: Fmt) -> Out {
        Out::Bool(*self)
    }
    fn is_empty(&self, _: Fmt) -> bool {
        !*self
    }
}

impl Field for i64 {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        match &n.v {
            Value::Int(i) => Ok(*i),
            Value::Float(f) if f.fract() == 0.0 => Ok(*f as i64),
            Value::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| Error::at(n, path, format!("invalid integer: {s:?}"))),
            Value::Null => Ok(0),
            _ => Err(type_error(n, path, "an integer")),
        }
    }
    fn encode(&self, _: Fmt) -> Out {
        Out::Int(*self)
    }
    fn is_empty(&self, _: Fmt) -> bool {
        *self == 0
    }
}

impl Field for u32 {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        let i = i64::decode(n, path)?;
        u32::try_from(i).map_err(|_| Error::at(n, path, format!("must be >= 0, got {i}")))
    }
    fn encode(&self, _: Fmt) -> Out {
        Out::Int(i64::from(*self))
    }
    fn is_empty(&self, _: Fmt) -> bool {
        *self == 0
    }
}

impl Field for f64 {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        match &n.v {
            Value::Int(i) => Ok(*i as f64),
            Value::Float(f) => Ok(*f),
            Value::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| Error::at(n, path, format!("invalid number: {s:?}"))),
            Value::Null => Ok(0.0),
            _ => Err(type_error(n, path, "a number")),
        }
    }
    fn encode(&self, _: Fmt) -> Out {
        Out::Float(*self, false)
    }
    fn is_empty(&self, _: Fmt) -> bool {
        *self == 0.0
    }
}

/// A Go `float32` (service `cpus`): printed with float32 precision.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct F32(pub f32);

impl Field for F32 {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        Ok(F32(f64::decode(n, path)? as f32))
    }
    fn encode(&self, _: Fmt) -> Out {
        Out::Float(f64::from(self.0), true)
    }
    fn is_empty(&self, _: Fmt) -> bool {
        self.0 == 0.0
    }
}

/// A Go pointer: present or absent, and present-but-zero is printed.
impl<T: Field> Field for Option<T> {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        Ok(Some(T::decode(n, path)?))
    }
    fn encode(&self, f: Fmt) -> Out {
        match self {
            Some(v) => v.encode(f),
            None => Out::Null,
        }
    }
    fn is_empty(&self, _: Fmt) -> bool {
        self.is_none()
    }
}

impl<T: Field> Field for Box<T> {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        Ok(Box::new(T::decode(n, path)?))
    }
    fn encode(&self, f: Fmt) -> Out {
        (**self).encode(f)
    }
    fn is_empty(&self, f: Fmt) -> bool {
        (**self).is_empty(f)
    }
}

impl<T: Field> Field for Vec<T> {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        match &n.v {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| T::decode(item, &path.index(i)))
                .collect(),
            Value::Null => Ok(Vec::new()),
            _ => Err(type_error(n, path, "an array")),
        }
    }
    fn encode(&self, f: Fmt) -> Out {
        Out::Seq(self.iter().map(|v| v.encode(f)).collect())
    }
    fn is_empty(&self, _: Fmt) -> bool {
        self.is_empty()
    }
}

/// A Go `map[string]T`: printed sorted by key.
impl<T: Field> Field for IndexMap<String, T> {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        match &n.v {
            Value::Map(m) => m
                .iter()
                .map(|(k, v)| Ok((k.clone(), T::decode(v, &path.key(k))?)))
                .collect(),
            Value::Null => Ok(IndexMap::new()),
            _ => Err(type_error(n, path, "a mapping")),
        }
    }
    fn encode(&self, f: Fmt) -> Out {
        Out::sorted_map(self.iter().map(|(k, v)| (k.clone(), v.encode(f))).collect())
    }
    fn is_empty(&self, _: Fmt) -> bool {
        self.is_empty()
    }
}

/// Anything kept as written: `x-` extensions, and values compose passes through untyped.
impl Field for Node {
    fn decode(n: &Node, _: &KeyPath) -> Result<Self> {
        Ok(n.clone())
    }
    fn encode(&self, f: Fmt) -> Out {
        node_to_out(self, f)
    }
    fn is_empty(&self, _: Fmt) -> bool {
        self.is_null()
    }
}

/// An untyped tree as Go prints a `map[string]any`: mappings sorted by key.
pub fn node_to_out(n: &Node, f: Fmt) -> Out {
    let _ = f; // both formats print untyped trees alike
    match &n.v {
        Value::Null => Out::Null,
        Value::Bool(b) => Out::Bool(*b),
        Value::Int(i) => Out::Int(*i),
        Value::Float(x) => Out::Float(*x, false),
        Value::Str(s) => Out::Str(s.clone()),
        Value::Seq(s) => Out::Seq(s.iter().map(|v| node_to_out(v, f)).collect()),
        Value::Map(m) => {
            Out::sorted_map(m.iter().map(|(k, v)| (k.clone(), node_to_out(v, f))).collect())
        }
    }
}

/// The `x-*` keys of an object, kept in the order written and printed inline, sorted.
pub type Extensions = IndexMap<String, Node>;

/// How a struct field is printed, mirroring the Go struct tags of compose-go's types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Omit {
    /// `omitempty` in both formats.
    Empty,
    /// Always printed in YAML and JSON (`yaml:"x" json:"x"`).
    Never,
    /// `yaml:"x,omitempty" json:"x"`: omitted from YAML when empty, always in JSON.
    YamlOnly,
    /// `json:"-"`: printed in YAML only (omitempty), never in JSON.
    NotInJson,
}

/// Pushes a field into a struct's output according to its omit rule.
pub fn push_field<T: Field>(out: &mut Vec<(String, Out)>, key: &str, v: &T, omit: Omit, f: Fmt) {
    let skip = match (omit, f) {
        (Omit::Empty, _) => v.is_empty(f),
        (Omit::Never, _) => false,
        (Omit::YamlOnly, Fmt::Yaml) => v.is_empty(f),
        (Omit::YamlOnly, Fmt::Json) => false,
        (Omit::NotInJson, Fmt::Yaml) => v.is_empty(f),
        (Omit::NotInJson, Fmt::Json) => true,
    };
    if !skip {
        out.push((key.to_string(), v.encode(f)));
    }
}

/// Checks that `n` is a mapping and that every key is one of `known` or an `x-` extension; returns
/// the mapping. The error names the first unknown key at its own line.
pub fn expect_object<'a>(
    n: &'a Node,
    path: &KeyPath,
    known: &[&str],
) -> Result<Option<&'a indexmap::IndexMap<String, Node>>> {
    match &n.v {
        Value::Map(m) => {
            for (k, v) in m {
                if !known.contains(&k.as_str()) && !k.starts_with("x-") {
                    return Err(Error::at(
                        v,
                        path,
                        format!("additional property {k:?} is not allowed"),
                    ));
                }
            }
            Ok(Some(m))
        }
        Value::Null => Ok(None),
        _ => Err(type_error(n, path, "a mapping")),
    }
}

/// Declares a typed compose object: the struct, `Field` for it (decode with unknown-key checks,
/// encode in declaration order), and an `extensions` field holding its `x-` keys.
///
/// ```ignore
/// compose_struct! {
///     /// A service's logging options.
///     pub struct LoggingConfig {
///         driver: String = "driver",
///         options: IndexMap<String, String> = "options",
///     }
/// }
/// ```
/// A field may end in `[Omit::Never]` (or another [`Omit`]) to change its print rule; the default
/// is `Omit::Empty`.
#[macro_export]
macro_rules! compose_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty = $key:literal $([$omit:expr])?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            /// The object's `x-*` keys.
            pub extensions: $crate::model::field::Extensions,
        }

        impl $name {
            /// The YAML keys this object accepts, besides `x-*`.
            pub const KEYS: &'static [&'static str] = &[$($key),*];
        }

        impl $crate::model::field::Field for $name {
            fn decode(
                n: &$crate::model::node::Node,
                path: &$crate::model::node::KeyPath,
            ) -> $crate::model::error::Result<Self> {
                let mut out = $name::default();
                let Some(m) = $crate::model::field::expect_object(n, path, Self::KEYS)? else {
                    return Ok(out);
                };
                for (k, v) in m {
                    match k.as_str() {
                        $( $key => {
                            out.$field = $crate::model::field::Field::decode(v, &path.key(k))?;
                        } )*
                        _ => {
                            out.extensions.insert(k.clone(), v.clone());
                        }
                    }
                }
                Ok(out)
            }

            fn encode(&self, f: $crate::model::field::Fmt) -> $crate::model::field::Out {
                #[allow(unused_mut)]
                let mut out: Vec<(String, $crate::model::field::Out)> = Vec::new();
                $(
                    $crate::model::field::push_field(
                        &mut out,
                        $key,
                        &self.$field,
                        $crate::compose_struct!(@omit $($omit)?),
                        f,
                    );
                )*
                if f == $crate::model::field::Fmt::Yaml {
                    let mut ext: Vec<_> = self
                        .extensions
                        .iter()
                        .map(|(k, v)| (k.clone(), $crate::model::field::node_to_out(v, f)))
                        .collect();
                    ext.sort_by(|a, b| a.0.cmp(&b.0));
                    out.extend(ext);
                }
                $crate::model::field::Out::Map(out)
            }

            fn is_empty(&self, f: $crate::model::field::Fmt) -> bool {
                match f {
                    // encoding/json never omits a struct
                    $crate::model::field::Fmt::Json => false,
                    // yaml.v3 omits a struct whose fields are all zero
                    $crate::model::field::Fmt::Yaml => {
                        true $( && $crate::model::field::Field::is_empty(&self.$field, f) )*
                            && self.extensions.is_empty()
                    }
                }
            }
        }
    };
    (@omit) => { $crate::model::field::Omit::Empty };
    (@omit $omit:expr) => { $omit };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::node::Pos;
    use std::sync::Arc;

    compose_struct! {
        /// A small object to exercise the macro.
        pub struct Sample {
            name: String = "name",
            count: Option<i64> = "count",
            tags: Vec<String> = "tags" [Omit::YamlOnly],
        }
    }

    fn node(v: Value, line: u32) -> Node {
        let f: Arc<str> = Arc::from("compose.yaml");
        Node::new(v, Pos::new(&f, line))
    }

    #[test]
    fn decodes_known_keys_and_keeps_extensions() {
        let mut m = IndexMap::new();
        m.insert("name".to_string(), node(Value::Str("web".into()), 2));
        m.insert("count".to_string(), node(Value::Str("3".into()), 3));
        m.insert("x-note".to_string(), node(Value::Bool(true), 4));
        let s = Sample::decode(&node(Value::Map(m), 1), &KeyPath::root()).unwrap();
        assert_eq!(s.name, "web");
        assert_eq!(s.count, Some(3));
        assert!(s.extensions.contains_key("x-note"));
    }

    #[test]
    fn rejects_unknown_key_at_its_line() {
        let mut m = IndexMap::new();
        m.insert("nmae".to_string(), node(Value::Str("web".into()), 7));
        let e = Sample::decode(&node(Value::Map(m), 6), &KeyPath::parse("services.web"))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "compose.yaml:7: services.web: additional property \"nmae\" is not allowed"
        );
    }

    #[test]
    fn omit_rules_follow_go_tags() {
        let s = Sample::default();
        assert_eq!(s.encode(Fmt::Yaml), Out::Map(vec![]));
        assert_eq!(
            s.encode(Fmt::Json),
            Out::Map(vec![("tags".into(), Out::Seq(vec![]))])
        );
        assert!(s.is_empty(Fmt::Yaml));
        assert!(!s.is_empty(Fmt::Json));
    }
}
