//! Structural validation of a merged, not yet canonical compose tree against the Compose
//! specification (the check compose runs after each file is merged, before normalizing): known
//! keys only, value kinds, required keys, allowed strings, bounds, unique list items. The rules
//! live in `rules` as data written in the small language of `dsl`; this module walks a tree
//! against them and reports the first violation in document order.

pub mod dsl;
pub mod rules;

use super::error::{Error, Result};
use super::node::{go_float, KeyPath, Node, Tag, Value};
use dsl::{S, T};
use rules::{DEDUPED, PROJECT};

/// Checks a merged compose tree whose strings went through interpolation. Compose casts strings
/// at some typed fields while interpolating (`cpu_count: "2"` becomes the integer 2), so such
/// strings are checked as the value they cast to.
pub fn validate(root: &Node) -> Result<()> {
    Checker { casts: true }.run(root)
}

/// Checks a tree loaded with interpolation disabled: no string is cast, every value is checked
/// as written.
pub fn validate_uninterpolated(root: &Node) -> Result<()> {
    Checker { casts: false }.run(root)
}

struct Checker {
    casts: bool,
}

impl Checker {
    fn run(&self, root: &Node) -> Result<()> {
        // Compose hands the tree to the validator as JSON, which cannot carry infinities or NaN.
        representable(root, &KeyPath::root())?;
        self.check(&PROJECT, root, &KeyPath::root())
    }

    fn check(&self, s: &S, node: &Node, path: &KeyPath) -> Result<()> {
        if self.casts {
            if let Value::Str(text) = &node.v {
                if let Some(v) = crate::model::interpolate::typed_value(path, text) {
                    if let Value::Float(f) = v {
                        if !f.is_finite() {
                            return Err(unsupported(node, path, f));
                        }
                    }
                    let casted = Node {
                        v,
                        pos: node.pos.clone(),
                        tag: node.tag,
                    };
                    return self.check_value(s, &casted, path);
                }
            }
        }
        self.check_value(s, node, path)
    }

    fn check_value(&self, s: &S, node: &Node, path: &KeyPath) -> Result<()> {
        if !s.types.is_empty() && !s.types.iter().any(|t| is_kind(node, *t)) {
            return Err(Error::at(
                node,
                path,
                format!("must be {}", describe(s.types)),
            ));
        }
        if !s.one_of.is_empty() {
            self.alternatives(s.one_of, true, node, path)?;
        }
        if !s.any_of.is_empty() {
            self.alternatives(s.any_of, false, node, path)?;
        }
        match &node.v {
            Value::Str(text) => {
                if !s.allowed.is_empty() && !s.allowed.contains(&text.as_str()) {
                    let list: Vec<String> = s.allowed.iter().map(|a| format!("{a:?}")).collect();
                    return Err(Error::at(
                        node,
                        path,
                        format!("must be one of {}", list.join(", ")),
                    ));
                }
            }
            Value::Int(_) | Value::Float(_) => bounds(s, node, path)?,
            Value::Map(map) => {
                for key in s.required {
                    if !map.get(*key).is_some_and(present) {
                        return Err(Error::at(node, path, format!("{key} is required")));
                    }
                }
                for (key, child) in map.iter().filter(|(_, c)| present(c)) {
                    let child_path = path.key(key);
                    let mut known = false;
                    if let Some((_, rule)) = s.props.iter().find(|(name, _)| name == key) {
                        known = true;
                        self.check(rule, child, &child_path)?;
                    }
                    for (pat, rule) in s.pats {
                        if pat.matches(key) {
                            known = true;
                            self.check(rule, child, &child_path)?;
                        }
                    }
                    if !known && s.closed {
                        return Err(Error::at(
                            child,
                            path,
                            format!("additional property {key:?} is not allowed"),
                        ));
                    }
                }
            }
            Value::Seq(items) => {
                let check_unique = s.unique && !DEDUPED.iter().any(|p| path.matches(p));
                let mut seen: Vec<String> = Vec::new();
                for (i, item) in items.iter().enumerate().filter(|(_, c)| present(c)) {
                    let item_path = path.index(i);
                    if let Some(rule) = s.items {
                        self.check(rule, item, &item_path)?;
                    }
                    if check_unique {
                        let key = canonical(item);
                        if let Some(first) = seen.iter().position(|k| *k == key) {
                            return Err(Error::at(
                                item,
                                &item_path,
                                format!("repeats item [{first}]; items must be unique"),
                            ));
                        }
                        seen.push(key);
                    }
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
        Ok(())
    }

    /// `exactly`: one alternative must hold (oneOf); otherwise at least one (anyOf). When none
    /// holds, the error reported is the one from the first alternative of the value's kind, which
    /// is the form the author was writing; when none is of its kind, the kinds expected.
    fn alternatives(&self, alts: &[S], exactly: bool, node: &Node, path: &KeyPath) -> Result<()> {
        let mut valid = 0;
        let mut closest: Option<Error> = None;
        for alt in alts {
            match self.check(alt, node, path) {
                Ok(()) => valid += 1,
                Err(e) => {
                    if closest.is_none() && accepts_kind(alt, node) {
                        closest = Some(e);
                    }
                }
            }
        }
        if valid == 1 || (valid > 1 && !exactly) {
            return Ok(());
        }
        if valid > 1 {
            return Err(Error::at(
                node,
                path,
                "matches more than one of the allowed forms",
            ));
        }
        Err(closest.unwrap_or_else(|| {
            let mut kinds = Vec::new();
            collect_kinds(alts, &mut kinds);
            Error::at(node, path, format!("must be {}", describe(&kinds)))
        }))
    }
}

/// False for a value tagged `!reset`, which compose drops while reading the file.
fn present(node: &Node) -> bool {
    node.tag != Tag::Reset
}

/// Whether the node is of kind `t` as JSON schema sees it: whole numbers are integers.
fn is_kind(node: &Node, t: T) -> bool {
    match (&node.v, t) {
        (Value::Null, T::Null) => true,
        (Value::Bool(_), T::Bool) => true,
        (Value::Int(_), T::Int | T::Num) => true,
        (Value::Float(f), T::Int) => f.is_finite() && f.fract() == 0.0,
        (Value::Float(_), T::Num) => true,
        (Value::Str(_), T::Str) => true,
        (Value::Seq(_), T::List) => true,
        (Value::Map(_), T::Map) => true,
        _ => false,
    }
}

/// Whether a rule could apply to the node's kind at all (so its error is worth showing).
fn accepts_kind(s: &S, node: &Node) -> bool {
    if !s.types.is_empty() {
        s.types.iter().any(|t| is_kind(node, *t))
    } else if !s.one_of.is_empty() {
        s.one_of.iter().any(|a| accepts_kind(a, node))
    } else if !s.any_of.is_empty() {
        s.any_of.iter().any(|a| accepts_kind(a, node))
    } else {
        true
    }
}

fn collect_kinds(alts: &[S], out: &mut Vec<T>) {
    for alt in alts {
        if !alt.types.is_empty() {
            for t in alt.types {
                if !out.contains(t) {
                    out.push(*t);
                }
            }
        } else {
            collect_kinds(alt.one_of, out);
            collect_kinds(alt.any_of, out);
        }
    }
}

/// "a string", "a string or a list", "a string, a number or null".
fn describe(kinds: &[T]) -> String {
    let names: Vec<&str> = kinds.iter().map(|t| t.described()).collect();
    match names.split_last() {
        None => "something".to_string(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

fn bounds(s: &S, node: &Node, path: &KeyPath) -> Result<()> {
    let below = |m: i64| match node.v {
        Value::Int(i) => i < m,
        Value::Float(f) => f < m as f64,
        _ => false,
    };
    let above = |m: i64| match node.v {
        Value::Int(i) => i > m,
        Value::Float(f) => f > m as f64,
        _ => false,
    };
    if let Some(min) = s.min {
        if below(min) {
            return Err(Error::at(
                node,
                path,
                format!("must be greater than or equal to {min}"),
            ));
        }
    }
    if let Some(max) = s.max {
        if above(max) {
            return Err(Error::at(
                node,
                path,
                format!("must be less than or equal to {max}"),
            ));
        }
    }
    Ok(())
}

/// A text standing for the value as compose compares list items for uniqueness: through JSON,
/// where every number is a float and mapping keys are sorted.
fn canonical(node: &Node) -> String {
    match &node.v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => format!("n{}", *i as f64),
        Value::Float(f) => format!("n{f}"),
        Value::Str(s) => format!("{s:?}"),
        Value::Seq(items) => {
            let parts: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Map(map) => {
            let mut parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k:?}:{}", canonical(v)))
                .collect();
            parts.sort();
            format!("{{{}}}", parts.join(","))
        }
    }
}

fn unsupported(node: &Node, path: &KeyPath, f: f64) -> Error {
    Error::at(node, path, format!("unsupported value: {}", go_float(f)))
}

/// Finds the first float JSON cannot represent (`.inf`, `.nan`), anywhere in the tree.
fn representable(node: &Node, path: &KeyPath) -> Result<()> {
    match &node.v {
        Value::Float(f) if !f.is_finite() => Err(unsupported(node, path, *f)),
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                representable(item, &path.index(i))?;
            }
            Ok(())
        }
        Value::Map(map) => {
            for (k, v) in map {
                representable(v, &path.key(k))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
