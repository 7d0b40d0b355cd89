//! Test-only: a minimal YAML 1.2 (core schema) reader into [`Node`] trees, enough to read the
//! corpus's expected outputs (and JSON, which is YAML), and an order-keeping [`Out`] view of a
//! node for comparing key order.

use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle};

use crate::model::field::Out;
use crate::model::node::{Map, Node, Pos, Value};

fn scalar(s: &str, style: ScalarStyle) -> Value {
    if style != ScalarStyle::Plain {
        return Value::Str(s.to_string());
    }
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = s.parse::<i64>() {
        return Value::Int(i);
    }
    if let Some(o) = s.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(o, 8) {
            return Value::Int(i);
        }
    }
    if let Some(h) = s.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(h, 16) {
            return Value::Int(i);
        }
    }
    let looks_float = s
        .trim_start_matches(['-', '+'])
        .starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c));
    if looks_float {
        if let Ok(f) = s.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(s.to_string())
}

/// Parses one YAML document into a node tree (no anchors, no tags).
pub fn parse(text: &str) -> Node {
    let file: Arc<str> = Arc::from("test.yaml");
    let mut stack: Vec<(Node, Option<String>)> = Vec::new();
    let mut pending_key: Vec<Option<String>> = Vec::new();
    let mut root = None;
    for ev in Parser::new_from_str(text) {
        let (ev, span) = ev.unwrap();
        let pos = Pos::new(&file, span.start.line() as u32);
        let done: Option<Node> = match ev {
            Event::Scalar(s, style, _, _) => {
                // a scalar in a mapping without a key waiting is a key
                if let Some((
                    Node {
                        v: Value::Map(_), ..
                    },
                    _,
                )) = stack.last()
                {
                    if pending_key.last().is_some_and(|k| k.is_none()) {
                        *pending_key.last_mut().unwrap() = Some(s.to_string());
                        continue;
                    }
                }
                Some(Node::new(scalar(&s, style), pos))
            }
            Event::SequenceStart(..) => {
                stack.push((Node::new(Value::Seq(Vec::new()), pos), None));
                pending_key.push(None);
                continue;
            }
            Event::MappingStart(..) => {
                stack.push((Node::new(Value::Map(Map::new()), pos), None));
                pending_key.push(None);
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                pending_key.pop();
                stack.pop().map(|(n, _)| n)
            }
            _ => None,
        };
        let Some(node) = done else { continue };
        match stack.last_mut() {
            None => root = Some(node),
            Some((parent, _)) => match &mut parent.v {
                Value::Seq(s) => s.push(node),
                Value::Map(m) => {
                    let key = pending_key.last_mut().unwrap().take().unwrap();
                    m.insert(key, node);
                }
                _ => unreachable!(),
            },
        }
    }
    root.unwrap_or_else(Node::null)
}

/// A node as output, keeping the document's key order (unlike `node_to_out`, which sorts).
pub fn ordered_out(n: &Node) -> Out {
    match &n.v {
        Value::Null => Out::Null,
        Value::Bool(b) => Out::Bool(*b),
        Value::Int(i) => Out::Int(*i),
        Value::Float(f) => Out::Float(*f, false),
        Value::Str(s) => Out::Str(s.clone()),
        Value::Seq(s) => Out::Seq(s.iter().map(ordered_out).collect()),
        Value::Map(m) => Out::Map(m.iter().map(|(k, v)| (k.clone(), ordered_out(v))).collect()),
    }
}

/// Makes float32 values comparable with what a printer shows (shortest float32 form).
pub fn normalize(o: &Out) -> Out {
    match o {
        Out::Float(f, true) => Out::Float(format!("{}", *f as f32).parse().unwrap_or(*f), false),
        Out::Seq(s) => Out::Seq(s.iter().map(normalize).collect()),
        Out::Map(m) => Out::Map(m.iter().map(|(k, v)| (k.clone(), normalize(v))).collect()),
        other => other.clone(),
    }
}

/// The first place two outputs differ, as `path: detail`.
pub fn first_diff(path: &str, a: &Out, b: &Out) -> Option<String> {
    match (a, b) {
        (Out::Map(x), Out::Map(y)) => {
            let kx: Vec<&String> = x.iter().map(|e| &e.0).collect();
            let ky: Vec<&String> = y.iter().map(|e| &e.0).collect();
            if kx != ky {
                return Some(format!("{path}: keys {kx:?} != {ky:?}"));
            }
            x.iter()
                .zip(y)
                .find_map(|((k, v), (_, w))| first_diff(&format!("{path}.{k}"), v, w))
        }
        (Out::Seq(x), Out::Seq(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path}: lengths {} != {}", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (v, w))| first_diff(&format!("{path}[{i}]"), v, w))
        }
        _ if a == b => None,
        // a printer shows an integral float without a fraction, which reads back as an int
        (Out::Float(x, _), Out::Int(i)) if *x == *i as f64 => None,
        _ => Some(format!("{path}: {a:?} != {b:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_core_schema_scalars_and_order() {
        let n = parse("b: 1\na: \"1\"\nc: [x, null, 0.5]\nd: ~\ne: yes\n");
        let m = n.as_map().unwrap();
        assert_eq!(m.keys().collect::<Vec<_>>(), vec!["b", "a", "c", "d", "e"]);
        assert_eq!(m["b"].v, Value::Int(1));
        assert_eq!(m["a"].v, Value::Str("1".into()));
        assert_eq!(m["c"].as_seq().unwrap()[2].v, Value::Float(0.5));
        assert!(m["d"].is_null());
        assert_eq!(m["e"].v, Value::Str("yes".into()));
        assert_eq!(m["c"].pos.line, 3);
    }
}
