//! Interpolation of a whole compose file: substitutes variables in every string value of the
//! tree (keys are left alone), then casts the strings found at the typed paths compose knows
//! (`services.*.privileged`, `services.*.ports.[].target`, …) to booleans, integers or floats,
//! exactly as Docker Compose does before it merges and validates a file.
//!
//! Decisions, each following compose:
//! - The cast applies to every string at a typed path, whether or not it held a variable
//!   (`privileged: "yes"` becomes `true`, with compose's YAML 1.2 warning).
//! - An unset variable is reported each time it is met (compose warns per occurrence; the
//!   corpus shows `${TAG}` used three times warning three times).
//! - The tree is walked in document order and the first error stops the walk; compose walks a
//!   Go map, so which error it reports first among several is not fixed.

use super::error::{Error, Result};
use super::node::segments_match;
use super::node::{KeyPath, Node, Value};
use super::template::{go_quote, substitute_into, unset_warning, TemplateError};

/// What a string at a typed path becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cast {
    /// Go `strconv.Atoi`.
    Int,
    /// Go `strconv.ParseInt(s, 10, 64)`.
    Int64,
    /// Go `strconv.ParseFloat(s, 64)`.
    Float,
    /// Go `strconv.ParseFloat(s, 32)`, kept as a 32-bit float.
    Float32,
    /// YAML 1.1 booleans, case-insensitive.
    Bool,
}

/// compose's table of typed paths: `*` is any key (or list item), `[]` any list item.
const CASTS: &[(&str, Cast)] = &[
    ("services.*.configs.[].mode", Cast::Int),
    ("services.*.cpu_count", Cast::Int64),
    ("services.*.cpu_percent", Cast::Float),
    ("services.*.cpu_period", Cast::Int64),
    ("services.*.cpu_quota", Cast::Int64),
    ("services.*.cpu_rt_period", Cast::Int64),
    ("services.*.cpu_rt_runtime", Cast::Int64),
    ("services.*.cpus", Cast::Float32),
    ("services.*.cpu_shares", Cast::Int64),
    ("services.*.init", Cast::Bool),
    ("services.*.deploy.replicas", Cast::Int),
    ("services.*.deploy.update_config.parallelism", Cast::Int),
    (
        "services.*.deploy.update_config.max_failure_ratio",
        Cast::Float,
    ),
    ("services.*.deploy.rollback_config.parallelism", Cast::Int),
    (
        "services.*.deploy.rollback_config.max_failure_ratio",
        Cast::Float,
    ),
    ("services.*.deploy.restart_policy.max_attempts", Cast::Int),
    (
        "services.*.deploy.placement.max_replicas_per_node",
        Cast::Int,
    ),
    ("services.*.healthcheck.retries", Cast::Int),
    ("services.*.healthcheck.disable", Cast::Bool),
    ("services.*.oom_kill_disable", Cast::Bool),
    ("services.*.oom_score_adj", Cast::Int64),
    ("services.*.pids_limit", Cast::Int64),
    ("services.*.ports.[].target", Cast::Int),
    ("services.*.privileged", Cast::Bool),
    ("services.*.read_only", Cast::Bool),
    ("services.*.scale", Cast::Int),
    ("services.*.secrets.[].mode", Cast::Int),
    ("services.*.stdin_open", Cast::Bool),
    ("services.*.tty", Cast::Bool),
    ("services.*.ulimits.*", Cast::Int),
    ("services.*.ulimits.*.hard", Cast::Int),
    ("services.*.ulimits.*.soft", Cast::Int),
    ("services.*.volumes.[].read_only", Cast::Bool),
    ("services.*.volumes.[].volume.nocopy", Cast::Bool),
    ("networks.*.external", Cast::Bool),
    ("networks.*.internal", Cast::Bool),
    ("networks.*.attachable", Cast::Bool),
    ("networks.*.enable_ipv4", Cast::Bool),
    ("networks.*.enable_ipv6", Cast::Bool),
    ("volumes.*.external", Cast::Bool),
    ("secrets.*.external", Cast::Bool),
    ("configs.*.external", Cast::Bool),
];

/// Interpolates every string value under `root` with `lookup`, then casts the typed paths.
/// Warnings (unset variables, YAML 1.1 booleans) are appended to `warnings` in the order met,
/// including those met before an error.
pub fn interpolate(
    root: &mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let mut w = Walker { lookup, warnings };
    match root.as_map_mut() {
        Some(map) => {
            for (k, v) in map.iter_mut() {
                // compose splits a top-level key on dots (only there) when it matches paths
                let parts: Vec<String> = k.split('.').map(str::to_string).collect();
                w.walk(v, &mut parts.clone(), &KeyPath::root().key(k))?;
            }
            Ok(())
        }
        None => w.walk(root, &mut Vec::new(), &KeyPath::root()),
    }
}

struct Walker<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    warnings: &'a mut Vec<String>,
}

impl Walker<'_> {
    /// `parts` is the path as compose matches it (list items are `[]`), `path` as berth prints it.
    fn walk(&mut self, node: &mut Node, parts: &mut Vec<String>, path: &KeyPath) -> Result<()> {
        match &mut node.v {
            Value::Map(m) => {
                for (k, v) in m.iter_mut() {
                    parts.push(k.clone());
                    let r = self.walk(v, parts, &path.key(k));
                    parts.pop();
                    r?;
                }
                Ok(())
            }
            Value::Seq(items) => {
                for (i, v) in items.iter_mut().enumerate() {
                    parts.push("[]".into());
                    let r = self.walk(v, parts, &path.index(i));
                    parts.pop();
                    r?;
                }
                Ok(())
            }
            Value::Str(s) => {
                let mut unset = Vec::new();
                let res = substitute_into(s, self.lookup, &mut unset);
                self.warnings.extend(unset.iter().map(|n| unset_warning(n)));
                let value = res.map_err(|e| Error::at(node, path, template_message(&e)))?;
                match cast_for(parts) {
                    None => node.v = Value::Str(value),
                    Some(cast) => match cast_value(cast, &value, self.warnings) {
                        Ok(v) => node.v = v,
                        Err(msg) => {
                            return Err(Error::at(
                                node,
                                path,
                                format!("failed to cast to expected type: {msg}"),
                            ))
                        }
                    },
                }
                Ok(())
            }
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => Ok(()),
        }
    }
}

/// The message for a failed substitution, in compose's words (the key path is printed by
/// [`Error`] itself).
fn template_message(e: &TemplateError) -> String {
    match e {
        TemplateError::Invalid { template } => format!(
            "invalid interpolation format.\nYou may need to escape any $ with another $.\n{template}"
        ),
        TemplateError::MissingRequired { .. } => e.to_string(),
    }
}

/// The value compose's interpolation makes of the string `text` at `path`: None when the path
/// is not a typed field or the text does not convert. The schema checks with it, so both read
/// the one table.
pub(crate) fn typed_value(path: &KeyPath, text: &str) -> Option<Value> {
    let cast = CASTS
        .iter()
        .find(|(pattern, _)| path.matches(pattern))
        .map(|(_, c)| *c)?;
    cast_value(cast, text, &mut Vec::new()).ok()
}

fn cast_for(parts: &[String]) -> Option<Cast> {
    CASTS
        .iter()
        .find_map(|(pattern, cast)| segments_match(pattern, parts).then_some(*cast))
}

/// Casts an interpolated string, or returns Go's error text.
fn cast_value(
    cast: Cast,
    s: &str,
    warnings: &mut Vec<String>,
) -> std::result::Result<Value, String> {
    match cast {
        Cast::Int => parse_int(s, "Atoi").map(Value::Int),
        Cast::Int64 => parse_int(s, "ParseInt").map(Value::Int),
        Cast::Float => parse_float(s, false).map(Value::Float),
        Cast::Float32 => parse_float(s, true).map(Value::Float),
        Cast::Bool => match s.to_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            "y" | "yes" | "on" => {
                warnings.push(yaml11_warning(s, true));
                Ok(Value::Bool(true))
            }
            "n" | "no" | "off" => {
                warnings.push(yaml11_warning(s, false));
                Ok(Value::Bool(false))
            }
            _ => Err(format!("invalid boolean: {s}")),
        },
    }
}

fn yaml11_warning(s: &str, b: bool) -> String {
    format!(
        "{} for boolean is not supported by YAML 1.2, please use `{b}`",
        go_quote(s)
    )
}

/// Go's base-10 integer parsing (optional sign, digits only), with its error texts.
fn parse_int(s: &str, func: &str) -> std::result::Result<i64, String> {
    use std::num::IntErrorKind;
    s.parse::<i64>().map_err(|e| {
        let why = match e.kind() {
            IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => "value out of range",
            _ => "invalid syntax",
        };
        format!("strconv.{func}: parsing {}: {why}", go_quote(s))
    })
}

/// Go's `strconv.ParseFloat` for decimal input (underscores between digits allowed, `inf`,
/// `infinity` and `nan` in any case). A 32-bit result is returned as the f64 printing the same.
fn parse_float(s: &str, f32_: bool) -> std::result::Result<f64, String> {
    let err = |why: &str| format!("strconv.ParseFloat: parsing {}: {why}", go_quote(s));
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = unsigned.to_ascii_lowercase();
    let special = lower == "inf" || lower == "infinity";
    if lower == "nan" && unsigned.len() == s.len() {
        return Ok(f64::NAN);
    }
    let valid_chars = special
        || (!unsigned.is_empty()
            && unsigned.bytes().all(|b| {
                b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-' | b'_')
            }));
    if !valid_chars || (s.contains('_') && !underscores_ok(s)) {
        return Err(err("invalid syntax"));
    }
    let cleaned: String = s.chars().filter(|&c| c != '_').collect();
    if f32_ {
        let f = cleaned.parse::<f32>().map_err(|_| err("invalid syntax"))?;
        if f.is_infinite() && !special {
            return Err(err("value out of range"));
        }
        // The f64 that prints as this f32 does (0.1f32 stays "0.1").
        Ok(f.to_string().parse::<f64>().unwrap_or(f as f64))
    } else {
        let f = cleaned.parse::<f64>().map_err(|_| err("invalid syntax"))?;
        if f.is_infinite() && !special {
            return Err(err("value out of range"));
        }
        Ok(f)
    }
}

/// Go's rule for digit separators: each `_` sits between two digits.
fn underscores_ok(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let mut saw = '^';
    for b in s.bytes() {
        if b.is_ascii_digit() {
            saw = '0';
        } else if b == b'_' {
            if saw != '0' {
                return false;
            }
            saw = '_';
        } else {
            if saw == '_' {
                return false;
            }
            saw = '!';
        }
    }
    saw != '_'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::node::{go_float, Map, Pos};
    use std::sync::Arc;

    fn file() -> Arc<str> {
        Arc::from("compose.yaml")
    }

    fn s(v: &str, line: u32) -> Node {
        Node::new(Value::Str(v.into()), Pos::new(&file(), line))
    }

    fn map(entries: Vec<(&str, Node)>) -> Node {
        let mut m = Map::new();
        for (k, v) in entries {
            m.insert(k.to_string(), v);
        }
        Node::map(m)
    }

    /// `services: {web: {<key>: <value>}}` with the value on line 3.
    fn service(key: &str, value: Node) -> Node {
        map(vec![(
            "services",
            map(vec![("web", map(vec![(key, value)]))]),
        )])
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "TAG" => Some("1.2".into()),
            "PORT" => Some("8080".into()),
            "YES" => Some("yes".into()),
            "EMPTY" => Some(String::new()),
            "CPUS" => Some("0.1".into()),
            _ => None,
        }
    }

    fn web_value(root: &Node, key: &str) -> Value {
        root.get("services")
            .unwrap()
            .get("web")
            .unwrap()
            .get(key)
            .unwrap()
            .v
            .clone()
    }

    fn run(root: &mut Node) -> (Result<()>, Vec<String>) {
        let mut warnings = Vec::new();
        let r = interpolate(root, &env, &mut warnings);
        (r, warnings)
    }

    #[test]
    fn strings_are_substituted_and_keep_their_position() {
        let mut root = map(vec![
            (
                "services",
                map(vec![(
                    "web",
                    map(vec![
                        ("image", s("nginx:${TAG}", 3)),
                        (
                            "command",
                            Node::seq(vec![s("echo", 4), s("$$PORT=$PORT", 4)]),
                        ),
                        ("labels", map(vec![("$TAG", s("x", 6))])),
                    ]),
                )]),
            ),
            ("x-num", Node::synth(Value::Int(3))),
        ]);
        let (r, w) = run(&mut root);
        r.unwrap();
        assert!(w.is_empty());
        let web = root.get("services").unwrap().get("web").unwrap();
        let image = web.get("image").unwrap();
        assert_eq!(image.as_str(), Some("nginx:1.2"));
        assert_eq!(image.pos.line, 3);
        let cmd = web.get("command").unwrap().as_seq().unwrap();
        assert_eq!(cmd[1].as_str(), Some("$PORT=8080"));
        // keys are not interpolated
        assert!(web.get("labels").unwrap().get("$TAG").is_some());
        assert_eq!(root.get("x-num").unwrap().v, Value::Int(3));
    }

    #[test]
    fn unset_variables_warn_each_time() {
        let mut root = map(vec![(
            "services",
            map(vec![
                ("a", map(vec![("container_name", s("${FIXED_NAME}", 3))])),
                ("b", map(vec![("container_name", s("${FIXED_NAME}", 5))])),
            ]),
        )]);
        let (r, w) = run(&mut root);
        r.unwrap();
        let msg = "The \"FIXED_NAME\" variable is not set. Defaulting to a blank string.";
        assert_eq!(w, vec![msg, msg]);
    }

    #[test]
    fn required_variable_error_names_file_line_and_key() {
        let mut root = service("image", s("${NOPE:?set it}", 7));
        let (r, _) = run(&mut root);
        let e = r.unwrap_err();
        assert_eq!(
            e.to_string(),
            "compose.yaml:7: services.web.image: required variable NOPE is missing a value: set it"
        );
        assert_eq!(e.exit_code(), 15);
    }

    #[test]
    fn invalid_template_error() {
        let mut root = service("labels", map(vec![("t00", s("${ }", 5))]));
        let e = run(&mut root).0.unwrap_err();
        assert_eq!(
            e.to_string(),
            "compose.yaml:5: services.web.labels.t00: invalid interpolation format.\n\
             You may need to escape any $ with another $.\n${ }"
        );
    }

    #[test]
    fn list_items_are_named_by_index_in_errors() {
        let mut root = service("ports", Node::seq(vec![s("80", 4), s("${", 5)]));
        let e = run(&mut root).0.unwrap_err();
        assert!(e
            .to_string()
            .starts_with("compose.yaml:5: services.web.ports[1]: invalid"));
    }

    #[test]
    fn booleans_are_cast() {
        for (v, want) in [
            ("true", true),
            ("FALSE", false),
            ("True", true),
            ("${EMPTY:-false}", false),
        ] {
            let mut root = service("privileged", s(v, 3));
            let (r, w) = run(&mut root);
            r.unwrap();
            assert!(w.is_empty(), "{v}");
            assert_eq!(web_value(&root, "privileged"), Value::Bool(want), "{v}");
        }
    }

    #[test]
    fn yaml11_booleans_are_cast_with_a_warning() {
        for (v, want, word) in [
            ("yes", true, "yes"),
            ("$YES", true, "yes"),
            ("On", true, "On"),
            ("n", false, "n"),
            ("OFF", false, "OFF"),
        ] {
            let mut root = service("tty", s(v, 3));
            let (r, w) = run(&mut root);
            r.unwrap();
            assert_eq!(web_value(&root, "tty"), Value::Bool(want));
            let fix = if want { "true" } else { "false" };
            assert_eq!(
                w,
                vec![format!(
                    "\"{word}\" for boolean is not supported by YAML 1.2, please use `{fix}`"
                )]
            );
        }
    }

    #[test]
    fn invalid_boolean_is_an_error() {
        let mut root = service("privileged", s("$thebool", 3));
        let (r, w) = run(&mut root);
        assert_eq!(
            r.unwrap_err().to_string(),
            "compose.yaml:3: services.web.privileged: failed to cast to expected type: invalid boolean: "
        );
        assert_eq!(
            w,
            vec!["The \"thebool\" variable is not set. Defaulting to a blank string."]
        );
        let mut root = service("init", s("maybe", 3));
        assert!(run(&mut root)
            .0
            .unwrap_err()
            .to_string()
            .ends_with("invalid boolean: maybe"));
    }

    #[test]
    fn integers_are_cast() {
        let ports = Node::seq(vec![
            s("$PORT", 4),
            map(vec![
                ("target", s("$PORT", 5)),
                ("published", s("$PORT", 6)),
            ]),
        ]);
        let mut root = service("ports", ports);
        run(&mut root).0.unwrap();
        let ports = web_value(&root, "ports");
        let Value::Seq(items) = ports else { panic!() };
        // short syntax stays a string; long syntax target becomes an int, published does not
        assert_eq!(items[0].v, Value::Str("8080".into()));
        assert_eq!(items[1].get("target").unwrap().v, Value::Int(8080));
        assert_eq!(items[1].get("target").unwrap().pos.line, 5);
        assert_eq!(
            items[1].get("published").unwrap().v,
            Value::Str("8080".into())
        );

        let mut root = service("pids_limit", s("-1", 3));
        run(&mut root).0.unwrap();
        assert_eq!(web_value(&root, "pids_limit"), Value::Int(-1));
        let mut root = service("scale", s("+2", 3));
        run(&mut root).0.unwrap();
        assert_eq!(web_value(&root, "scale"), Value::Int(2));
    }

    #[test]
    fn integer_errors_use_go_texts() {
        let mut root = service("healthcheck", map(vec![("retries", s("${N}", 4))]));
        assert_eq!(
            run(&mut root).0.unwrap_err().to_string(),
            "compose.yaml:4: services.web.healthcheck.retries: failed to cast to expected type: \
             strconv.Atoi: parsing \"\": invalid syntax"
        );
        let mut root = service("cpu_shares", s("1_000", 3));
        assert!(run(&mut root)
            .0
            .unwrap_err()
            .to_string()
            .ends_with("strconv.ParseInt: parsing \"1_000\": invalid syntax"));
        let mut root = service("oom_score_adj", s("99999999999999999999", 3));
        assert!(run(&mut root)
            .0
            .unwrap_err()
            .to_string()
            .ends_with("strconv.ParseInt: parsing \"99999999999999999999\": value out of range"));
    }

    #[test]
    fn ulimits_single_and_pair() {
        let ulimits = map(vec![
            ("nproc", s("65535", 4)),
            (
                "nofile",
                map(vec![("soft", s("20000", 6)), ("hard", s("40000", 7))]),
            ),
        ]);
        let mut root = service("ulimits", ulimits);
        run(&mut root).0.unwrap();
        let u = web_value(&root, "ulimits");
        let u = Node::synth(u);
        assert_eq!(u.get("nproc").unwrap().v, Value::Int(65535));
        assert_eq!(
            u.get("nofile").unwrap().get("soft").unwrap().v,
            Value::Int(20000)
        );
        assert_eq!(
            u.get("nofile").unwrap().get("hard").unwrap().v,
            Value::Int(40000)
        );
    }

    #[test]
    fn floats_are_cast() {
        let mut root = service("cpus", s("$CPUS", 3));
        run(&mut root).0.unwrap();
        let Value::Float(f) = web_value(&root, "cpus") else {
            panic!()
        };
        assert_eq!(go_float(f), "0.1");
        let mut root = service("cpu_percent", s("1e2", 3));
        run(&mut root).0.unwrap();
        assert_eq!(web_value(&root, "cpu_percent"), Value::Float(100.0));
        let mut root = service("cpus", s("lots", 3));
        assert!(run(&mut root).0.unwrap_err().to_string().ends_with(
            "failed to cast to expected type: strconv.ParseFloat: parsing \"lots\": invalid syntax"
        ));
        let mut root = service("cpus", s("1e39", 3));
        assert!(run(&mut root)
            .0
            .unwrap_err()
            .to_string()
            .ends_with("value out of range"));
    }

    #[test]
    fn go_float_syntax() {
        assert_eq!(parse_float("1_000.5", false), Ok(1000.5));
        assert_eq!(parse_float("1_23.50_0_0e+1_2", false), Ok(1.235e14));
        assert!(parse_float("-_123.5e+12", false).is_err());
        assert!(parse_float("123._5e+12", false).is_err());
        assert!(parse_float("_1", false).is_err());
        assert!(parse_float("1__0", false).is_err());
        assert!(parse_float("", false).is_err());
        assert!(parse_float("1e400", false).is_err());
        assert_eq!(parse_float("-Inf", false), Ok(f64::NEG_INFINITY));
        assert!(parse_float("nan", false).unwrap().is_nan());
        assert_eq!(parse_float(".5", false), Ok(0.5));
    }

    #[test]
    fn top_level_resources_are_cast() {
        let mut root = map(vec![
            (
                "networks",
                map(vec![(
                    "front",
                    map(vec![
                        ("external", s("true", 2)),
                        ("internal", s("false", 3)),
                    ]),
                )]),
            ),
            (
                "volumes",
                map(vec![(
                    "data",
                    map(vec![("external", s("${EMPTY:-true}", 5))]),
                )]),
            ),
            (
                "x-external",
                map(vec![("a", map(vec![("external", s("true", 7))]))]),
            ),
        ]);
        run(&mut root).0.unwrap();
        let net = root.get("networks").unwrap().get("front").unwrap();
        assert_eq!(net.get("external").unwrap().v, Value::Bool(true));
        assert_eq!(net.get("internal").unwrap().v, Value::Bool(false));
        assert_eq!(
            root.get("volumes")
                .unwrap()
                .get("data")
                .unwrap()
                .get("external")
                .unwrap()
                .v,
            Value::Bool(true)
        );
        // not a typed path
        assert_eq!(
            root.get("x-external")
                .unwrap()
                .get("a")
                .unwrap()
                .get("external")
                .unwrap()
                .v,
            Value::Str("true".into())
        );
    }

    #[test]
    fn non_string_values_are_not_cast_or_touched() {
        let mut root = service("privileged", Node::synth(Value::Bool(true)));
        run(&mut root).0.unwrap();
        assert_eq!(web_value(&root, "privileged"), Value::Bool(true));
        let mut root = service("scale", Node::synth(Value::Int(3)));
        run(&mut root).0.unwrap();
        assert_eq!(web_value(&root, "scale"), Value::Int(3));
    }

    #[test]
    fn volume_and_secret_items() {
        let vols = Node::seq(vec![map(vec![
            ("read_only", s("true", 4)),
            ("volume", map(vec![("nocopy", s("no", 5))])),
        ])]);
        let secrets = Node::seq(vec![map(vec![("mode", s("0440", 7))])]);
        let mut root = map(vec![(
            "services",
            map(vec![(
                "web",
                map(vec![("volumes", vols), ("secrets", secrets)]),
            )]),
        )]);
        let (r, w) = run(&mut root);
        r.unwrap();
        assert_eq!(w.len(), 1);
        let web = root.get("services").unwrap().get("web").unwrap();
        let v = &web.get("volumes").unwrap().as_seq().unwrap()[0];
        assert_eq!(v.get("read_only").unwrap().v, Value::Bool(true));
        assert_eq!(
            v.get("volume").unwrap().get("nocopy").unwrap().v,
            Value::Bool(false)
        );
        // Atoi is decimal: "0440" is 440, as compose reads it
        let m = &web.get("secrets").unwrap().as_seq().unwrap()[0];
        assert_eq!(m.get("mode").unwrap().v, Value::Int(440));
    }

    #[test]
    fn warnings_before_an_error_are_kept() {
        let mut root = service(
            "labels",
            map(vec![
                ("a", s("$X", 4)),
                ("b", s("${Y:?no}", 5)),
                ("c", s("$Z", 6)),
            ]),
        );
        let (r, w) = run(&mut root);
        assert!(r.is_err());
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("\"X\""));
    }
}
