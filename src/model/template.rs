//! Variable substitution in one string (`$VAR`, `${VAR:-default}`, `$$`, …), with the exact
//! matching rules, error texts and unset-variable warnings of Docker Compose's template engine.
//!
//! Behaviour worth knowing, all deliberate (it is what `docker compose` does):
//! - Names are `[_A-Za-z][_A-Za-z0-9]*`. A `$` not followed by `$`, `{` or a name start is kept
//!   as is (`a $ string`, `^REGEX$`, `$}`, `$1`); `${` that does not open a valid
//!   `${NAME}` / `${NAME<op>…}` is an invalid template (`${}`, `${ X}`, `${X }`, unclosed).
//! - The text after an operator runs to the last `}` of the same line, and the variable's own
//!   closing brace is then found by counting braces, so `${A:-${B:-x}}` nests and
//!   `${A:-x} }}}` keeps its tail. A `${A:-…}` whose `}` is on a later line is invalid.
//! - The text after an operator (`:-`, `-`, `:+`, `+`, `:?`, `?`) is itself substituted before
//!   the variable is looked at, even when it ends up unused: `${SET:-$UNSET}` still warns about
//!   UNSET, and `${SET:-${X:?e}}` still fails when X is unset.
//! - A variable looked up without an operator and not found becomes "" and is reported back as
//!   unset, once per occurrence; with an operator it is never reported.
//! - After the first error the remaining variables are still substituted (so their warnings are
//!   still reported) and the first error is returned.

use std::fmt;

/// A failed substitution, with compose's own wording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateError {
    /// The string holds a `${` that is not a valid variable reference. `template` is the string
    /// (or the nested default text) in which it was found.
    Invalid { template: String },
    /// `${VAR:?reason}` / `${VAR?reason}` met a missing value.
    MissingRequired { variable: String, reason: String },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Invalid { template } => {
                write!(f, "Invalid template: {}", go_quote(template))
            }
            TemplateError::MissingRequired { variable, reason } if reason.is_empty() => {
                write!(f, "required variable {variable} is missing a value")
            }
            TemplateError::MissingRequired { variable, reason } => {
                write!(
                    f,
                    "required variable {variable} is missing a value: {reason}"
                )
            }
        }
    }
}

impl std::error::Error for TemplateError {}

/// The result of a substitution: the new string and the variables that were used without a
/// default while unset (in the order met, repeated if met again).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Substituted {
    pub value: String,
    pub unset: Vec<String>,
}

impl Substituted {
    /// The warnings compose prints for this substitution, one per unset variable met.
    pub fn warnings(&self) -> Vec<String> {
        self.unset.iter().map(|n| unset_warning(n)).collect()
    }
}

/// The warning compose prints when a variable with no default is not set.
pub fn unset_warning(name: &str) -> String {
    format!(
        "The {} variable is not set. Defaulting to a blank string.",
        go_quote(name)
    )
}

/// Substitutes the variables of `s`, looking each up with `lookup` (None = not set).
pub fn substitute(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Substituted, TemplateError> {
    let mut unset = Vec::new();
    let value = substitute_into(s, lookup, &mut unset)?;
    Ok(Substituted { value, unset })
}

/// Like [`substitute`], but appends the names of unset variables to `unset` as they are met, so
/// that the ones met before an error are not lost.
pub fn substitute_into(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, TemplateError> {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut first_err: Option<TemplateError> = None;
    let mut last = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        let Some(end) = match_at(s, i) else {
            i += 1;
            continue;
        };
        out.push_str(&s[last..i]);
        match replace(&s[i..end], lookup, unset) {
            Ok(v) => out.push_str(&v),
            Err(mut e) => {
                if let TemplateError::Invalid { template } = &mut e {
                    if template.is_empty() {
                        *template = s.to_string();
                    }
                }
                first_err.get_or_insert(e);
            }
        }
        i = end;
        last = end;
    }
    out.push_str(&s[last..]);
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn is_name_start(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphabetic()
}

fn is_name_char(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphanumeric()
}

/// End of the name that starts at `from` (which must be a name start).
fn name_end(b: &[u8], from: usize) -> usize {
    let mut k = from + 1;
    while k < b.len() && is_name_char(b[k]) {
        k += 1;
    }
    k
}

/// The operator right after a braced name, as (text, index where its argument starts).
fn operator_at(b: &[u8], k: usize) -> Option<(&'static str, usize)> {
    let op = |c: u8| -> Option<&'static str> {
        match c {
            b'-' => Some("-"),
            b'+' => Some("+"),
            b'?' => Some("?"),
            _ => None,
        }
    };
    match b.get(k) {
        Some(b':') => match b.get(k + 1).and_then(|&c| op(c)) {
            Some("-") => Some((":-", k + 2)),
            Some("+") => Some((":+", k + 2)),
            Some("?") => Some((":?", k + 2)),
            _ => None,
        },
        Some(&c) => op(c).map(|o| (o, k + 1)),
        None => None,
    }
}

/// Where the match of compose's variable pattern that starts at `s[i] == '$'` ends, or None when
/// this `$` starts no match (and stays literal).
fn match_at(s: &str, i: usize) -> Option<usize> {
    let b = s.as_bytes();
    let c = *b.get(i + 1)?;
    if c == b'$' {
        return Some(i + 2);
    }
    if is_name_start(c) {
        return Some(name_end(b, i + 1));
    }
    if c != b'{' {
        return None;
    }
    // `${`: a braced reference, or else an (empty) invalid match of the two characters.
    let invalid = Some(i + 2);
    let j = i + 2;
    if !b.get(j).is_some_and(|&c| is_name_start(c)) {
        return invalid;
    }
    let k = name_end(b, j);
    if let Some((_, arg)) = operator_at(b, k) {
        let line_end = b[arg..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(b.len(), |p| arg + p);
        return match b[arg..line_end].iter().rposition(|&c| c == b'}') {
            Some(p) => Some(arg + p + 1),
            None => invalid,
        };
    }
    if b.get(k) == Some(&b'}') {
        Some(k + 1)
    } else {
        invalid
    }
}

/// Index of the brace closing the first `{` of `s`, counting nested braces; the character right
/// after each `{` is skipped, as compose does. None when unbalanced.
fn first_closing_brace(s: &[u8]) -> Option<usize> {
    let mut open = 0i32;
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'}' {
            open -= 1;
            if open == 0 {
                return Some(i);
            }
        }
        if s[i] == b'{' {
            open += 1;
            i += 1;
        }
        i += 1;
    }
    None
}

/// The replacement for one match of the pattern.
fn replace(
    matched: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, TemplateError> {
    if matched == "$$" {
        return Ok("$".into());
    }
    let (sub, rest) = match first_closing_brace(matched.as_bytes()) {
        Some(p) => matched.split_at(p + 1),
        None => (matched, ""),
    };
    let b = sub.as_bytes();
    let name;
    if b.get(1) == Some(&b'{') {
        // The part up to the closing brace, matched again: `${NAME}` or `${NAME<op>arg}`.
        if !b.get(2).is_some_and(|&c| is_name_start(c)) {
            return Err(TemplateError::Invalid {
                template: String::new(),
            });
        }
        let k = name_end(b, 2);
        name = &sub[2..k];
        match operator_at(b, k) {
            Some((op, arg)) if b.last() == Some(&b'}') && arg < b.len() => {
                let arg = &sub[arg..sub.len() - 1];
                let value = apply_operator(name, op, arg, lookup, unset)?;
                let tail = substitute_into(rest, lookup, unset)?;
                return Ok(value + &tail);
            }
            Some(_) => {
                return Err(TemplateError::Invalid {
                    template: String::new(),
                })
            }
            None if b.get(k) == Some(&b'}') => {}
            None => {
                return Err(TemplateError::Invalid {
                    template: String::new(),
                })
            }
        }
    } else {
        name = &sub[1..];
    }
    match lookup(name) {
        Some(v) => Ok(v),
        None => {
            unset.push(name.to_string());
            Ok(String::new())
        }
    }
}

fn apply_operator(
    name: &str,
    op: &str,
    arg: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, TemplateError> {
    let colon = op.starts_with(':');
    let arg = substitute_into(arg, lookup, unset)?;
    let value = lookup(name);
    let present = match &value {
        Some(v) => !colon || !v.is_empty(),
        None => false,
    };
    match op.trim_start_matches(':') {
        "-" => Ok(if present {
            value.unwrap_or_default()
        } else {
            arg
        }),
        "+" => Ok(if present {
            arg
        } else {
            value.unwrap_or_default()
        }),
        _ => {
            if present {
                Ok(value.unwrap_or_default())
            } else {
                Err(TemplateError::MissingRequired {
                    variable: name.to_string(),
                    reason: arg,
                })
            }
        }
    }
}

/// Quotes a string as Go's `%q` does: double quotes, `\"` and `\\`, the usual escapes for control
/// characters and `\u`/`\x` forms for other unprintable ones.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() || (c.is_whitespace() && c != ' ') || is_format_char(c) => {
                let n = c as u32;
                if n > 0xffff {
                    out.push_str(&format!("\\U{n:08x}"));
                } else {
                    out.push_str(&format!("\\u{n:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The common Unicode format characters (category Cf), which Go's `%q` escapes.
fn is_format_char(c: char) -> bool {
    matches!(c as u32, 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f
        | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f | 0xfeff | 0xfff9..=0xfffb)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variables of compose's own template tests.
    fn env(name: &str) -> Option<String> {
        match name {
            "FOO" => Some("first".into()),
            "BAR" => Some(String::new()),
            "JSON" => Some(r#"{"json":2}"#.into()),
            _ => None,
        }
    }

    fn sub(s: &str) -> String {
        substitute(s, &env).unwrap().value
    }

    fn err(s: &str) -> String {
        substitute(s, &env).unwrap_err().to_string()
    }

    #[test]
    fn dollar_dollar_is_a_literal_dollar() {
        assert_eq!(sub("$${foo}"), "${foo}");
        assert_eq!(sub("$$FOO"), "$FOO");
        assert_eq!(sub("a$$$FOO"), "a$first");
    }

    #[test]
    fn text_without_variables_is_unchanged() {
        assert_eq!(sub("foo"), "foo");
        for s in [
            "a $ string",
            "^REGEX$",
            "$}",
            "$",
            "$1abc",
            "$-x",
            "cost: 5$",
        ] {
            let r = substitute(s, &env).unwrap();
            assert_eq!(r.value, s);
            assert!(r.unset.is_empty());
        }
    }

    #[test]
    fn plain_and_braced_variables() {
        assert_eq!(sub("This $FOO var"), "This first var");
        assert_eq!(sub("This ${FOO} var"), "This first var");
        assert_eq!(sub("$FOO-bar"), "first-bar");
        assert_eq!(sub("${FOO}${FOO}"), "firstfirst");
        assert_eq!(sub("$FOO.$FOO"), "first.first");
        assert_eq!(sub("${JSON}"), r#"{"json":2}"#);
    }

    #[test]
    fn names_are_case_sensitive_and_may_use_underscores_and_digits() {
        let look = |n: &str| match n {
            "_a1" => Some("x".to_string()),
            "A_B" => Some("y".to_string()),
            _ => None,
        };
        assert_eq!(substitute("$_a1/${A_B}", &look).unwrap().value, "x/y");
        let r = substitute("$foo", &env).unwrap();
        assert_eq!(r.value, "");
        assert_eq!(r.unset, vec!["foo"]);
    }

    #[test]
    fn unset_without_default_is_blank_and_reported_each_time() {
        let r = substitute("This ${missing} var $missing", &env).unwrap();
        assert_eq!(r.value, "This  var ");
        assert_eq!(r.unset, vec!["missing", "missing"]);
        assert_eq!(
            r.warnings()[0],
            "The \"missing\" variable is not set. Defaulting to a blank string."
        );
        // set but empty: no warning
        let r = substitute("This ${BAR} var", &env).unwrap();
        assert_eq!(r.value, "This  var");
        assert!(r.unset.is_empty());
    }

    #[test]
    fn default_when_unset_or_empty() {
        assert_eq!(sub("ok ${missing:-def}"), "ok def");
        assert_eq!(sub("ok ${BAR:-def}"), "ok def");
        assert_eq!(sub("ok ${FOO:-def}"), "ok first");
        assert_eq!(
            sub("ok ${BAR:-/non:-alphanumeric}"),
            "ok /non:-alphanumeric"
        );
        assert_eq!(sub("ok ${missing:-}"), "ok ");
    }

    #[test]
    fn default_when_unset() {
        assert_eq!(sub("ok ${missing-def}"), "ok def");
        assert_eq!(sub("ok ${BAR-def}"), "ok ");
        assert_eq!(sub("ok ${FOO-def}"), "ok first");
        assert_eq!(
            sub("${UNSET_VAR-default_value_for_unset_var}"),
            "default_value_for_unset_var"
        );
    }

    #[test]
    fn alternative_values() {
        assert_eq!(sub("ok ${UNSET_VAR:+presence_value}"), "ok ");
        assert_eq!(sub("ok ${UNSET_VAR+presence_value}"), "ok ");
        assert_eq!(sub("ok ${FOO:+presence_value}"), "ok presence_value");
        assert_eq!(sub("ok ${FOO+presence_value}"), "ok presence_value");
        assert_eq!(sub("ok ${BAR+presence_value}"), "ok presence_value");
        assert_eq!(sub("ok ${BAR:+presence_value}"), "ok ");
    }

    #[test]
    fn operators_report_no_unset_variable() {
        for s in ["${x:-a}", "${x-a}", "${x:+a}", "${x+a}"] {
            assert!(substitute(s, &env).unwrap().unset.is_empty(), "{s}");
        }
    }

    #[test]
    fn required_values() {
        assert_eq!(sub("ok ${FOO:?err}"), "ok first");
        assert_eq!(sub("ok ${FOO?err}"), "ok first");
        assert_eq!(sub("ok ${BAR?err}"), "ok ");
        assert_eq!(
            err("not ok ${UNSET_VAR:?Mandatory Variable Unset}"),
            "required variable UNSET_VAR is missing a value: Mandatory Variable Unset"
        );
        assert_eq!(
            err("not ok ${BAR:?Mandatory Variable Empty}"),
            "required variable BAR is missing a value: Mandatory Variable Empty"
        );
        assert_eq!(
            err("not ok ${UNSET_VAR:?}"),
            "required variable UNSET_VAR is missing a value"
        );
        assert_eq!(
            err("not ok ${UNSET_VAR?Mandatory Variable Unset}"),
            "required variable UNSET_VAR is missing a value: Mandatory Variable Unset"
        );
        assert_eq!(
            err("not ok ${UNSET_VAR?}"),
            "required variable UNSET_VAR is missing a value"
        );
        assert_eq!(
            substitute("${X:?a}", &env).unwrap_err(),
            TemplateError::MissingRequired {
                variable: "X".into(),
                reason: "a".into()
            }
        );
    }

    #[test]
    fn required_message_is_substituted() {
        assert_eq!(
            err("not ok ${UNSET_VAR:?Mandatory Variable ${FOO}}"),
            "required variable UNSET_VAR is missing a value: Mandatory Variable first"
        );
        assert_eq!(
            err("not ok ${UNSET_VAR?Mandatory Variable ${FOO}}"),
            "required variable UNSET_VAR is missing a value: Mandatory Variable first"
        );
    }

    #[test]
    fn nested_defaults() {
        assert_eq!(sub("ok ${UNSET_VAR-$FOO}"), "ok first");
        assert_eq!(sub("ok ${UNSET_VAR-${FOO}}"), "ok first");
        assert_eq!(sub("ok ${UNSET_VAR-${FOO} ${FOO}}"), "ok first first");
        assert_eq!(sub("ok ${BAR:-$FOO}"), "ok first");
        assert_eq!(sub("ok ${BAR:-${FOO} ${FOO}}"), "ok first first");
        assert_eq!(sub("ok ${BAR+$FOO}"), "ok first");
        assert_eq!(sub("ok ${BAR+$FOO ${FOO:+second}}"), "ok first second");
        assert_eq!(sub("+ok ${UNSET:-${BAR-defaultValue}}"), "+ok ");
        assert_eq!(sub("${X:-${Y:-${Z:-qix}}}"), "qix");
        assert_eq!(sub("${X:-${Y:-x}_test_${Y:-y}}"), "x_test_y");
        assert_eq!(sub("${X:-${Y:-x}_test}"), "x_test");
        assert_eq!(sub("${X:-${Y:-${Z:-x}}_test}"), "x_test");
    }

    #[test]
    fn text_around_operators_does_not_interfere() {
        assert_eq!(sub("-ok ${BAR:-defaultValue}"), "-ok defaultValue");
        assert_eq!(sub(":-ok ${UNSET-defaultValue}"), ":-ok defaultValue");
        assert_eq!(sub(":-ok ${BAR-defaultValue}"), ":-ok ");
        assert_eq!(sub(":?ok ${BAR-defaultValue}"), ":?ok ");
        assert_eq!(sub(":?ok ${BAR:-defaultValue}"), ":?ok defaultValue");
        assert_eq!(sub(":+ok ${BAR:-defaultValue}"), ":+ok defaultValue");
        assert_eq!(sub("?ok ${BAR:-defaultValue}"), "?ok defaultValue");
        assert_eq!(sub("${X-a:?b}"), "a:?b");
    }

    #[test]
    fn closing_braces_after_a_default_are_kept() {
        assert_eq!(sub("{{{ ${X:-foo_} }}}"), "{{{ foo_ }}}");
        assert_eq!(sub("{{{ ${X:-foo-bar-value} }}}"), "{{{ foo-bar-value }}}");
        assert_eq!(sub("{{{ ${X:-foo?bar?value} }}}"), "{{{ foo?bar?value }}}");
        assert_eq!(
            sub("{{{ ${X:-foo:?bar:?value} }}}"),
            "{{{ foo:?bar:?value }}}"
        );
        assert_eq!(sub("{{{ ${X:-foo} ${Y:-D} }}}"), "{{{ foo D }}}");
        assert_eq!(sub("${FOO:-baz} }}}"), "first }}}");
        assert_eq!(sub("${X-baz} }}}"), "baz }}}");
        assert_eq!(sub("${X:-a}}"), "a}");
        assert_eq!(sub("${X:-{}}"), "{}");
    }

    #[test]
    fn corpus_template_cases() {
        assert_eq!(sub("$docker:${project:-cli}"), ":cli");
        assert_eq!(sub("${A:+${A},}B"), "B");
        assert_eq!(sub("ok ${SUBDOMAIN:-redis}.${FOO:?}"), "ok redis.first");
        assert_eq!(sub("${FOO?bar-baz}"), "first");
        // defaults are substituted even when unused, so they report unset variables
        let r = substitute("${A:+${A},}B ${A:-${B}} ${FOO:-$C}", &env).unwrap();
        assert_eq!(r.unset, vec!["A", "B", "C"]);
    }

    #[test]
    fn unused_default_is_still_checked() {
        assert_eq!(
            err("${FOO:-${X:?needed}}"),
            "required variable X is missing a value: needed"
        );
    }

    #[test]
    fn invalid_templates() {
        for s in [
            "${", "${}", "${ }", "${ foo}", "${foo }", "${foo!}", "${FOO", "${FOO:-x",
        ] {
            match substitute(s, &env) {
                Err(TemplateError::Invalid { template }) => assert_eq!(template, s),
                other => panic!("{s}: {other:?}"),
            }
        }
        assert_eq!(err("${ }"), "Invalid template: \"${ }\"");
        assert_eq!(err("a ${:-x}"), "Invalid template: \"a ${:-x}\"");
    }

    #[test]
    fn invalid_template_inside_a_default_names_the_default() {
        assert_eq!(
            substitute("x ${A:-${B}", &env).unwrap_err(),
            TemplateError::Invalid {
                template: "${B".into()
            }
        );
    }

    #[test]
    fn operator_text_does_not_cross_lines() {
        assert!(matches!(
            substitute("${X:-a\nb}", &env),
            Err(TemplateError::Invalid { .. })
        ));
        assert_eq!(sub("${X:-a}\n}"), "a\n}");
        assert_eq!(sub("${FOO}\n${BAR:-z}"), "first\nz");
    }

    #[test]
    fn first_error_wins_but_later_variables_are_still_reported() {
        let mut unset = Vec::new();
        let e = substitute_into("${X:?one} ${Y:?two} $Z", &env, &mut unset).unwrap_err();
        assert_eq!(e.to_string(), "required variable X is missing a value: one");
        assert_eq!(unset, vec!["Z"]);
    }

    #[test]
    fn non_ascii_text_is_kept() {
        assert_eq!(sub("é ${X:-ü} $FOO€"), "é ü first€");
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(go_quote("é"), "\"é\"");
        assert_eq!(go_quote("\u{1}"), "\"\\x01\"");
    }
}
