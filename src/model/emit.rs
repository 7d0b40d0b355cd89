//! Printing an [`Out`] tree as `docker compose config` does: YAML the way gopkg.in/yaml.v3's
//! encoder writes it with an indent of 2 (block style, its quoting rules, literal blocks for
//! multi-line text, no line folding), and JSON the way Go's encoding/json writes it (HTML-safe
//! escaping, Go's float formatting, `MarshalIndent` with two spaces).

use super::field::Out;
use super::yaml::{format_g, resolve_plain, shortest_digits, Resolved};

/// The tree as YAML, ending with a newline.
pub fn to_yaml(out: &Out) -> String {
    let mut e = Emitter {
        out: String::new(),
        column: 0,
        whitespace: true,
        indention: true,
        indent: -1,
    };
    e.node(out, Ctx::default());
    // document end: a final line break unless the output already ends a line
    e.write_indent_at(0);
    e.out
}

/// The tree as JSON: `json.MarshalIndent(v, "", "  ")` when `pretty`, else `json.Marshal(v)`.
/// No trailing newline.
pub fn to_json(out: &Out, pretty: bool) -> String {
    let mut s = String::new();
    json_value(&mut s, out, pretty, 0);
    s
}

const BEST_INDENT: i32 = 2;
/// yaml.v3 writes a mapping key in the `? key` form when it is longer than this.
const MAX_SIMPLE_KEY: usize = 128;

#[derive(Clone, Copy, Default)]
struct Ctx {
    /// The node is an item of a block sequence (its indentation skips the `- `).
    seq_item: bool,
    /// The node is a key written as `key:`.
    simple_key: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// The state libyaml's emitter keeps while writing, reduced to what block output needs.
struct Emitter {
    out: String,
    /// Characters written on the current line.
    column: usize,
    /// The last thing written was whitespace (or nothing).
    whitespace: bool,
    /// Only indentation has been written on the current line.
    indention: bool,
    indent: i32,
}

impl Emitter {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
        self.indention = true;
    }

    fn write_indent_at(&mut self, indent: i32) {
        let indent = usize::try_from(indent.max(0)).unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
    }

    fn write_indent(&mut self) {
        self.write_indent_at(self.indent);
    }

    fn indicator(&mut self, s: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        for c in s.chars() {
            self.put(c);
        }
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    /// libyaml's increase_indent; returns the indentation to restore.
    fn increase_indent(&mut self, flow: bool, ctx: Ctx) -> i32 {
        let saved = self.indent;
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if ctx.seq_item {
            self.indent += 2;
        } else {
            self.indent = BEST_INDENT * ((self.indent + BEST_INDENT) / BEST_INDENT);
        }
        saved
    }

    fn node(&mut self, n: &Out, ctx: Ctx) {
        match n {
            Out::Null => self.scalar("null", Style::Plain, ctx),
            Out::Bool(b) => self.scalar(if *b { "true" } else { "false" }, Style::Plain, ctx),
            Out::Int(i) => self.scalar(&i.to_string(), Style::Plain, ctx),
            Out::Float(f, is_f32) => {
                let s = match format_g(*f, *is_f32).as_str() {
                    "+Inf" => ".inf".to_string(),
                    "-Inf" => "-.inf".to_string(),
                    "NaN" => ".nan".to_string(),
                    s => s.to_string(),
                };
                self.scalar(&s, Style::Plain, ctx)
            }
            Out::Str(s) => self.scalar(s, string_style(s), ctx),
            Out::Seq(items) if items.is_empty() => self.empty("[", "]"),
            Out::Map(entries) if entries.is_empty() => self.empty("{", "}"),
            Out::Seq(items) => {
                let saved = self.increase_indent(false, ctx);
                for item in items {
                    self.write_indent();
                    self.indicator("-", true, false, true);
                    self.node(
                        item,
                        Ctx {
                            seq_item: true,
                            simple_key: false,
                        },
                    );
                }
                self.indent = saved;
            }
            Out::Map(entries) => {
                let saved = self.increase_indent(false, ctx);
                for (k, v) in entries {
                    self.write_indent();
                    let simple = !k.contains(is_break) && k.len() <= MAX_SIMPLE_KEY;
                    let key_ctx = Ctx {
                        seq_item: false,
                        simple_key: simple,
                    };
                    if simple {
                        self.scalar(k, string_style(k), key_ctx);
                        self.indicator(":", false, false, false);
                    } else {
                        self.indicator("?", true, false, true);
                        self.scalar(k, string_style(k), key_ctx);
                        self.write_indent();
                        self.indicator(":", true, false, true);
                    }
                    self.node(v, Ctx::default());
                }
                self.indent = saved;
            }
        }
    }

    /// An empty collection, written in flow style.
    fn empty(&mut self, open: &str, close: &str) {
        self.indicator(open, true, true, false);
        self.indicator(close, false, false, false);
    }

    fn scalar(&mut self, value: &str, requested: Style, ctx: Ctx) {
        let a = analyze(value);
        let style = select_style(requested, &a, ctx.simple_key);
        let saved = self.increase_indent(true, ctx);
        match style {
            Style::Plain => self.write_plain(value),
            Style::Single => self.write_single(value),
            Style::Double => self.write_double(value),
            Style::Literal => self.write_literal(value),
        }
        self.indent = saved;
    }

    fn write_plain(&mut self, value: &str) {
        if !value.is_empty() && !self.whitespace {
            self.put(' ');
        }
        let mut breaks = false;
        for c in value.chars() {
            if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                if c != ' ' {
                    self.indention = false;
                }
                breaks = false;
            }
        }
        if !value.is_empty() {
            self.whitespace = false;
        }
        self.indention = false;
    }

    fn write_single(&mut self, value: &str) {
        self.indicator("'", true, false, false);
        let mut breaks = false;
        for c in value.chars() {
            if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                if c != ' ' {
                    self.indention = false;
                }
                breaks = false;
            }
        }
        self.indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double(&mut self, value: &str) {
        self.indicator("\"", true, false, false);
        for c in value.chars() {
            if !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                let short = match c {
                    '\0' => Some('0'),
                    '\u{7}' => Some('a'),
                    '\u{8}' => Some('b'),
                    '\t' => Some('t'),
                    '\n' => Some('n'),
                    '\u{b}' => Some('v'),
                    '\u{c}' => Some('f'),
                    '\r' => Some('r'),
                    '\u{1b}' => Some('e'),
                    '"' => Some('"'),
                    '\\' => Some('\\'),
                    '\u{85}' => Some('N'),
                    '\u{a0}' => Some('_'),
                    '\u{2028}' => Some('L'),
                    '\u{2029}' => Some('P'),
                    _ => None,
                };
                match short {
                    Some(s) => self.put(s),
                    None => {
                        let v = u32::from(c);
                        let (letter, width) = if v <= 0xFF {
                            ('x', 2)
                        } else if v <= 0xFFFF {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(letter);
                        for ch in format!("{v:0width$X}").chars() {
                            self.put(ch);
                        }
                    }
                }
            } else {
                self.put(c);
            }
        }
        self.indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, value: &str) {
        self.indicator("|", true, false, false);
        // block scalar hints
        if value.starts_with(' ') || value.starts_with(is_break) {
            self.indicator(&BEST_INDENT.to_string(), false, false, false);
        }
        let mut rev = value.chars().rev();
        let chomp = match (rev.next(), rev.next()) {
            (None, _) => Some("-"),
            (Some(last), _) if !is_break(last) => Some("-"),
            (Some(_), None) => Some("+"),
            (Some(_), Some(prev)) if is_break(prev) => Some("+"),
            _ => None,
        };
        if let Some(ch) = chomp {
            self.indicator(ch, false, false, false);
        }
        self.whitespace = true;
        let mut breaks = true;
        for c in value.chars() {
            if is_break(c) {
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }

    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
            self.indention = true;
        }
    }
}

/// yaml.v3's choice for a string: literal block when multi-line, plain when the text would not
/// read back as another type, double-quoted otherwise.
fn string_style(s: &str) -> Style {
    if s.contains('\n') {
        return Style::Literal;
    }
    let plain = resolve_plain(s) == Resolved::Str && !is_base60_float(s) && !is_old_bool(s);
    if plain {
        Style::Plain
    } else {
        Style::Double
    }
}

/// YAML 1.1 booleans, quoted so older readers keep them as strings.
fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$` (YAML 1.1 sexagesimal, like `1:20`).
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        // [0-5]?[0-9]
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        match i - start {
            1 => {}
            2 if b[start] <= b'5' => {}
            2 => {
                // "[0-5]?[0-9]" could still match the second digit alone: only when the first
                // is the optional part, which requires it to be 0-5.
                return false;
            }
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// libyaml's printable set: tab is not, nor anything outside the Basic Multilingual Plane.
fn is_printable(c: char) -> bool {
    matches!(c, '\n' | '\u{20}'..='\u{7E}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        && c != '\u{FEFF}'
}

/// What libyaml's analyze_scalar finds out about a value.
struct Analysis {
    empty: bool,
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn analyze(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            empty: true,
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = value.chars().collect();
    let mut block_indicators = value.starts_with("---") || value.starts_with("...");
    let mut line_breaks = false;
    let mut special = false;
    let mut tabs = false;
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_ws = true;
    let last = chars.len() - 1;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_ws = i == last || is_blank(chars[i + 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' if followed_by_ws => block_indicators = true,
                '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i == last {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i == last {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_ws = is_blank(c) || is_break(c) || c == '\0';
    }
    let mut a = Analysis {
        empty: false,
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || tabs || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// libyaml's select_scalar_style for block context (no flow collections are ever written).
fn select_style(requested: Style, a: &Analysis, simple_key: bool) -> Style {
    let mut style = requested;
    if simple_key && a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain && (!a.block_plain_allowed || (a.empty && simple_key)) {
        style = Style::Single;
    }
    if style == Style::Single && !a.single_quoted_allowed {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.block_allowed || simple_key) {
        style = Style::Double;
    }
    style
}

fn json_value(s: &mut String, v: &Out, pretty: bool, depth: usize) {
    match v {
        Out::Null => s.push_str("null"),
        Out::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        Out::Int(i) => s.push_str(&i.to_string()),
        Out::Float(f, is_f32) => s.push_str(&json_float(*f, *is_f32)),
        Out::Str(text) => json_string(s, text),
        Out::Seq(items) if items.is_empty() => s.push_str("[]"),
        Out::Map(entries) if entries.is_empty() => s.push_str("{}"),
        Out::Seq(items) => {
            s.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                newline(s, pretty, depth + 1);
                json_value(s, item, pretty, depth + 1);
            }
            newline(s, pretty, depth);
            s.push(']');
        }
        Out::Map(entries) => {
            s.push('{');
            for (i, (k, item)) in entries.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                newline(s, pretty, depth + 1);
                json_string(s, k);
                s.push(':');
                if pretty {
                    s.push(' ');
                }
                json_value(s, item, pretty, depth + 1);
            }
            newline(s, pretty, depth);
            s.push('}');
        }
    }
}

fn newline(s: &mut String, pretty: bool, depth: usize) {
    if pretty {
        s.push('\n');
        for _ in 0..depth {
            s.push_str("  ");
        }
    }
}

/// Go's encoding/json string: HTML-safe, with `\u2028` and `\u2029` escaped.
fn json_string(s: &mut String, text: &str) {
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                s.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => s.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => s.push(c),
        }
    }
    s.push('"');
}

/// Go's encoding/json float: shortest digits, `%f` style unless the magnitude is below 1e-6 or
/// at least 1e21, then `%e` with a one-digit negative exponent kept short (`1e-7`).
fn json_float(f: f64, is_f32: bool) -> String {
    if !f.is_finite() {
        // encoding/json refuses these; compose never has them
        return "null".into();
    }
    let abs = f.abs();
    let exp_form = abs != 0.0
        && if is_f32 {
            !(1e-6..1e21).contains(&(abs as f32))
        } else {
            !(1e-6..1e21).contains(&abs)
        };
    let (neg, digits, exp) = shortest_digits(f, is_f32);
    let sign = if neg { "-" } else { "" };
    if exp_form {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let e = if exp < 0 {
            format!("-{}", exp.unsigned_abs())
        } else {
            format!("+{exp:02}")
        };
        // Go writes at least two exponent digits, then shortens e-0X to e-X
        return format!("{sign}{m}e{e}");
    }
    if digits == "0" {
        return format!("{sign}0");
    }
    let nd = digits.len() as i32;
    let body = if exp < 0 {
        format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
    } else if exp + 1 >= nd {
        format!("{}{}", digits, "0".repeat((exp + 1 - nd) as usize))
    } else {
        let p = (exp + 1) as usize;
        format!("{}.{}", &digits[..p], &digits[p..])
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::node::{Node, Value};
    use crate::model::yaml::parse;
    use std::sync::Arc;

    /// Node to Out keeping the written key order (node_to_out sorts).
    fn ordered(n: &Node) -> Out {
        match &n.v {
            Value::Null => Out::Null,
            Value::Bool(b) => Out::Bool(*b),
            Value::Int(i) => Out::Int(*i),
            Value::Float(f) => Out::Float(*f, false),
            Value::Str(s) => Out::Str(s.clone()),
            Value::Seq(s) => Out::Seq(s.iter().map(ordered).collect()),
            Value::Map(m) => Out::Map(m.iter().map(|(k, v)| (k.clone(), ordered(v))).collect()),
        }
    }

    fn reparse(text: &str) -> Out {
        let f: Arc<str> = Arc::from("t.yaml");
        let docs = parse(text, &f).unwrap();
        ordered(&docs[0])
    }

    fn s(v: &str) -> Out {
        Out::Str(v.into())
    }

    fn map(entries: Vec<(&str, Out)>) -> Out {
        Out::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    fn y(v: Out) -> String {
        to_yaml(&map(vec![("k", v)]))
    }

    #[test]
    fn block_layout_like_compose_config() {
        let tree = map(vec![
            ("name", s("demo")),
            (
                "services",
                map(vec![(
                    "web",
                    map(vec![
                        ("command", Out::Seq(vec![s("sleep"), s("infinity")])),
                        (
                            "ports",
                            Out::Seq(vec![map(vec![
                                ("mode", s("ingress")),
                                ("target", Out::Int(80)),
                                ("published", s("8080")),
                            ])]),
                        ),
                        ("networks", map(vec![("default", Out::Null)])),
                        ("volumes", Out::Seq(vec![])),
                        ("labels", map(vec![])),
                        (
                            "nested",
                            Out::Seq(vec![Out::Seq(vec![Out::Int(1), Out::Int(2)])]),
                        ),
                    ]),
                )]),
            ),
        ]);
        let want = r#"name: demo
services:
  web:
    command:
      - sleep
      - infinity
    ports:
      - mode: ingress
        target: 80
        published: "8080"
    networks:
      default: null
    volumes: []
    labels: {}
    nested:
      - - 1
        - 2
"#;
        assert_eq!(to_yaml(&tree), want);
        assert_eq!(to_yaml(&Out::Map(vec![])), "{}\n");
        assert_eq!(to_yaml(&Out::Seq(vec![s("a")])), "- a\n");
    }

    #[test]
    fn strings_quoted_only_when_needed() {
        let cases = [
            ("plain", "plain"),
            ("8000", r#""8000""#),
            ("true", r#""true""#),
            ("null", r#""null""#),
            ("~", r#""~""#),
            ("1.5", r#""1.5""#),
            ("0755", r#""0755""#),
            ("0x1F", r#""0x1F""#),
            (".inf", r#"".inf""#),
            ("", r#""""#),
            ("yes", r#""yes""#),
            ("Off", r#""Off""#),
            ("1:20", r#""1:20""#),
            ("2001-12-14", r#""2001-12-14""#),
            ("80:80", "80:80"),
            ("echo $$HOME", "echo $$HOME"),
            ("a: b", "'a: b'"),
            ("VAL # not a comment", "'VAL # not a comment'"),
            ("a#b", "a#b"),
            ("ok ", "'ok '"),
            (" lead", "' lead'"),
            ("- x", "'- x'"),
            ("-x", "-x"),
            ("*star", "'*star'"),
            ("@at", "'@at'"),
            ("%s", "'%s'"),
            (r#"{"hello": "json"}"#, r#"'{"hello": "json"}'"#),
            ("it's", "it's"),
            ("'q", "'''q'"),
            ("tab\there", r#""tab\there""#),
            ("bell\u{7}", r#""bell\a""#),
            ("smile\u{1F600}", r#""smile\U0001F600""#),
            ("caf\u{e9}", "caf\u{e9}"),
            ("<<", "<<"),
            ("---", "'---'"),
            ("a,b", "a,b"),
            ("[x]", "'[x]'"),
        ];
        for (v, want) in cases {
            assert_eq!(y(s(v)), format!("k: {want}\n"), "{v:?}");
        }
        // keys follow the same rules
        assert_eq!(to_yaml(&map(vec![("8080", s("x"))])), "\"8080\": x\n");
        assert_eq!(to_yaml(&map(vec![("", s("x"))])), "\"\": x\n");
    }

    #[test]
    fn multi_line_strings() {
        assert_eq!(y(s("a\nb")), "k: |-\n  a\n  b\n");
        assert_eq!(y(s("a\nb\n")), "k: |\n  a\n  b\n");
        assert_eq!(y(s("a\n\n")), "k: |+\n  a\n\n");
        assert_eq!(y(s("a\n\nb")), "k: |-\n  a\n\n  b\n");
        assert_eq!(y(s(" a\nb")), "k: |2-\n   a\n  b\n");
        // yaml.v3 v3.0.1 drops a leading line break here (go-yaml issue 755); so do we
        assert_eq!(y(s("\nabc")), "k: |2-\n  abc\n");
        // trailing space or space before a break: double-quoted
        assert_eq!(y(s("a \nb")), "k: \"a \\nb\"\n");
        assert_eq!(y(s("a\nb ")), "k: \"a\\nb \"\n");
        // inside a sequence and a nested mapping
        let v = Out::Seq(vec![s("x\ny\n")]);
        assert_eq!(y(v), "k:\n  - |\n    x\n    y\n");
        let v = map(vec![("df", s("FROM a\nRUN b\n"))]);
        assert_eq!(y(v), "k:\n  df: |\n    FROM a\n    RUN b\n");
        // a multi-line key cannot be simple
        let t = map(vec![("a\nb", s("v"))]);
        assert_eq!(to_yaml(&t), "? |-\n  a\n  b\n: v\n");
    }

    #[test]
    fn long_strings_are_not_folded() {
        let long = "word ".repeat(40) + "end";
        assert_eq!(y(s(&long)), format!("k: {long}\n"));
        // but a key over 128 bytes is written in the explicit `? key` form
        let key = "k".repeat(129);
        let t = map(vec![(key.as_str(), s("v"))]);
        assert_eq!(to_yaml(&t), format!("? {key}\n: v\n"));
        let key = "k".repeat(128);
        let t = map(vec![(key.as_str(), s("v"))]);
        assert_eq!(to_yaml(&t), format!("{key}: v\n"));
    }

    #[test]
    fn numbers_like_yaml_v3() {
        assert_eq!(y(Out::Int(-3)), "k: -3\n");
        assert_eq!(y(Out::Float(0.5, false)), "k: 0.5\n");
        assert_eq!(y(Out::Float(2.0, false)), "k: 2\n");
        assert_eq!(y(Out::Float(1e6, false)), "k: 1e+06\n");
        assert_eq!(y(Out::Float(123456.0, false)), "k: 123456\n");
        assert_eq!(y(Out::Float(0.0001, false)), "k: 0.0001\n");
        assert_eq!(y(Out::Float(0.00001, false)), "k: 1e-05\n");
        assert_eq!(y(Out::Float(f64::INFINITY, false)), "k: .inf\n");
        assert_eq!(y(Out::Float(f64::NEG_INFINITY, false)), "k: -.inf\n");
        assert_eq!(y(Out::Float(f64::NAN, false)), "k: .nan\n");
        // float32 precision
        assert_eq!(y(Out::Float(f64::from(0.1f32), true)), "k: 0.1\n");
        assert_eq!(
            y(Out::Float(f64::from(0.1f32), false)),
            "k: 0.10000000149011612\n"
        );
        assert_eq!(y(Out::Bool(true)), "k: true\n");
        assert_eq!(y(Out::Null), "k: null\n");
    }

    #[test]
    fn json_like_encoding_json() {
        let tree = map(vec![
            ("name", s("demo")),
            ("list", Out::Seq(vec![Out::Int(1), s("a")])),
            ("empty", map(vec![])),
            ("none", Out::Seq(vec![])),
            ("nil", Out::Null),
            ("t", Out::Bool(true)),
        ]);
        let pretty = r#"{
  "name": "demo",
  "list": [
    1,
    "a"
  ],
  "empty": {},
  "none": [],
  "nil": null,
  "t": true
}"#;
        assert_eq!(to_json(&tree, true), pretty);
        assert_eq!(
            to_json(&tree, false),
            r#"{"name":"demo","list":[1,"a"],"empty":{},"none":[],"nil":null,"t":true}"#
        );
    }

    #[test]
    fn json_strings_are_html_safe() {
        let v = s("<a href=\"x\">&</a>\n\t\r\u{1}\u{7f}\u{2028}\u{2029}\\é");
        assert_eq!(
            to_json(&v, false),
            "\"\\u003ca href=\\\"x\\\"\\u003e\\u0026\\u003c/a\\u003e\\n\\t\\r\\u0001\u{7f}\\u2028\\u2029\\\\é\""
        );
    }

    #[test]
    fn json_floats_like_go() {
        let j = |f: f64, f32: bool| to_json(&Out::Float(f, f32), false);
        assert_eq!(j(0.5, false), "0.5");
        assert_eq!(j(2.0, false), "2");
        assert_eq!(j(1e6, false), "1000000");
        assert_eq!(j(1e20, false), "100000000000000000000");
        assert_eq!(j(1e21, false), "1e+21");
        assert_eq!(j(0.000001, false), "0.000001");
        assert_eq!(j(1e-7, false), "1e-7");
        assert_eq!(j(1.5e-10, false), "1.5e-10");
        assert_eq!(j(-0.25, false), "-0.25");
        assert_eq!(j(f64::from(0.1f32), true), "0.1");
        assert_eq!(j(f64::from(1.5f32), true), "1.5");
    }

    #[test]
    fn parse_emit_parse_round_trips() {
        let src = "a: \"8080\"\nb: [1, 2.5, true, null, \"x: y\"]\nc:\n  d: |\n    line1\n    line2\n  e: ''\n  f: 'it''s'\n  g: \"tab\\there\"\n  h: 1e+06\n  i: \"\\U0001F600 <&>\"\n";
        let first = reparse(src);
        let again = reparse(&to_yaml(&first));
        assert_eq!(first, again);
        // JSON has no float/int distinction for whole numbers (1e+06 prints as 1000000)
        let Out::Map(mut entries) = first else {
            panic!("not a map")
        };
        entries.retain(|(k, _)| k != "c");
        let first = Out::Map(entries);
        assert_eq!(first, reparse(&to_json(&first, true)));
        assert_eq!(first, reparse(&to_json(&first, false)));
    }

    /// Every expected.yaml / expected.json of the corpus, parsed and printed again, gives back
    /// the same text: the emitter writes what Docker Compose wrote.
    #[test]
    fn corpus_outputs_print_back_identically() {
        let dir = std::path::Path::new("/work/shared/compose-corpus/cases");
        let Ok(cases) = std::fs::read_dir(dir) else {
            return;
        };
        let mut checked = 0;
        let mut diffs = Vec::new();
        for case in cases.flatten() {
            let name = case.file_name().to_string_lossy().to_string();
            if let Ok(text) = std::fs::read_to_string(case.path().join("expected.yaml")) {
                let f: Arc<str> = Arc::from("expected.yaml");
                match parse(&text, &f) {
                    Ok(docs) if docs.len() == 1 && docs[0].as_map().is_some() => {
                        checked += 1;
                        let got = to_yaml(&ordered(&docs[0]));
                        if got != text {
                            diffs.push(first_diff(&name, &text, &got));
                        }
                    }
                    Ok(_) => {} // --services and the like print lines, not YAML
                    Err(e) => diffs.push(format!("{name}: {e}")),
                }
            }
            if let Ok(text) = std::fs::read_to_string(case.path().join("expected.json")) {
                let f: Arc<str> = Arc::from("expected.json");
                match parse(&text, &f) {
                    Ok(docs) if docs.len() == 1 => {
                        checked += 1;
                        let got = to_json(&ordered(&docs[0]), true);
                        if got != text {
                            diffs.push(first_diff(&name, &text, &got));
                        }
                    }
                    Ok(_) => diffs.push(format!("{name}: not one JSON document")),
                    Err(e) => diffs.push(format!("{name}: {e}")),
                }
            }
        }
        assert!(checked > 1000 || checked == 0, "{checked}");
        assert!(
            diffs.is_empty(),
            "{} differ:\n{}",
            diffs.len(),
            diffs.join("\n")
        );
    }

    fn first_diff(name: &str, want: &str, got: &str) -> String {
        for (i, (a, b)) in want.lines().zip(got.lines()).enumerate() {
            if a != b {
                return format!("{name}:{}: want {a:?} got {b:?}", i + 1);
            }
        }
        format!("{name}: lengths {} vs {}", want.len(), got.len())
    }
}
