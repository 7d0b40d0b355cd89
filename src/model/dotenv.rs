//! Parsing of `.env` and `env_file` contents, with the syntax and quirks of Docker Compose's
//! dotenv reader: comments, `export `, `KEY=value` / `KEY: value`, single quotes (literal),
//! double quotes (escapes, then interpolation), unquoted values (trimmed, ` #` comments),
//! multi-line quoted values, and bare `KEY` lines taken from the caller's environment.
//!
//! Behaviour worth knowing, all deliberate (it is what `docker compose` does):
//! - Interpolation inside a value asks the caller's `lookup` first and only then the variables
//!   defined earlier in the same file: with `A=5` in the environment, `A=1` then `B=$A` gives
//!   B=5.
//! - A bare `KEY` line is looked up with `lookup` only (not the file's own variables) and is
//!   left out when not found. A bare `KEY` on the last line with no newline after it is instead
//!   read as a value for the empty key (`"" = "KEY"`).
//! - Leading blanks of a value are dropped before ` #` is looked for, so `A=  # x` is "# x";
//!   `A=1#2` keeps its `#`.
//! - Error line numbers are compose's: a bare `KEY` line does not advance its count.

use std::sync::Arc;

use indexmap::IndexMap;

use super::error::{Error, Result};
use super::node::{KeyPath, Pos};
use super::template::{go_quote, substitute_into, unset_warning};

/// Parses the contents of an env file. `file` names it in errors; `lookup` resolves variables
/// (and bare `KEY` lines) from outside the file. Warnings for unset variables used in values are
/// appended to `warnings`. Keys keep the order of their first definition; a later definition
/// of the same key replaces the value.
pub fn parse(
    content: &str,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<IndexMap<String, String>> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let mut p = Parser {
        line: 1,
        file: Arc::from(file),
    };
    let mut out = IndexMap::new();
    let mut cut = content;
    loop {
        cut = p.statement_start(cut);
        if cut.is_empty() {
            break;
        }
        let (key, left, inherited) = p.key_name(cut)?;
        if key.contains(' ') {
            return Err(p.error(p.line, "key cannot contain a space"));
        }
        if inherited {
            if let Some(v) = lookup(key) {
                out.insert(key.to_string(), v);
            }
            cut = left;
            continue;
        }
        let statement_line = p.line;
        let (raw, quote, left) = p.raw_value(left)?;
        let value = match quote {
            Quote::Single => raw,
            Quote::None | Quote::Double => {
                let raw = if quote == Quote::Double {
                    expand_escapes(&raw)
                } else {
                    raw
                };
                let env = |k: &str| lookup(k).or_else(|| out.get(k).cloned());
                let mut unset = Vec::new();
                let r = substitute_into(&raw, &env, &mut unset);
                warnings.extend(unset.iter().map(|n| unset_warning(n)));
                r.map_err(|e| p.error(statement_line, e.to_string()))?
            }
        };
        out.insert(key.to_string(), value);
        cut = left;
    }
    Ok(out)
}

struct Parser {
    line: u32,
    file: Arc<str>,
}

/// How a value was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

/// Blanks that are not line breaks, as compose's reader defines them.
fn is_blank(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    )
}

impl Parser {
    fn error(&self, line: u32, msg: impl Into<String>) -> Error {
        Error::at_pos(&Pos::new(&self.file, line), &KeyPath::root(), msg)
    }

    /// Skips blank lines and comment lines; "" at the end of the input.
    fn statement_start<'a>(&mut self, mut src: &'a str) -> &'a str {
        loop {
            let mut found = None;
            for (i, c) in src.char_indices() {
                if c == '\n' {
                    self.line += 1;
                }
                if !c.is_whitespace() {
                    found = Some(i);
                    break;
                }
            }
            let Some(pos) = found else { return "" };
            src = &src[pos..];
            if !src.starts_with('#') {
                return src;
            }
            match src.find('\n') {
                Some(nl) => src = &src[nl..],
                None => return "",
            }
        }
    }

    /// Reads the key of a statement: (key, rest after the separator, whether it was a bare
    /// `KEY` line).
    fn key_name<'a>(&self, mut src: &'a str) -> Result<(&'a str, &'a str, bool)> {
        if let Some(after) = src.strip_prefix("export") {
            if after.starts_with(['\t', '\n', '\u{c}', '\r', ' ']) {
                src = after.trim_start_matches(is_blank);
            }
        }
        let mut key = "";
        let mut offset = 0;
        let mut inherited = false;
        for (i, c) in src.char_indices() {
            if is_blank(c) {
                continue;
            }
            match c {
                '=' | ':' | '\n' => {
                    key = &src[..i];
                    offset = i + 1;
                    inherited = c == '\n';
                    break;
                }
                '_' | '.' | '-' | '[' | ']' => {}
                c if c.is_alphabetic() || c.is_numeric() => {}
                c => {
                    let first_line = src.split('\n').next().unwrap_or("");
                    return Err(self.error(
                        self.line,
                        format!(
                            "unexpected character {} in variable name {}",
                            go_quote(&c.to_string()),
                            go_quote(first_line)
                        ),
                    ));
                }
            }
        }
        let key = key.trim_end();
        let rest = src[offset..].trim_start_matches(is_blank);
        Ok((key, rest, inherited))
    }

    /// Reads a value: (text before escapes and interpolation, how it was quoted, rest of the
    /// input).
    fn raw_value<'a>(&mut self, src: &'a str) -> Result<(String, Quote, &'a str)> {
        let quote = match src.as_bytes().first() {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => {
                let (value, rest) = src.split_once('\n').unwrap_or((src, ""));
                self.line += 1;
                let value = value.split(" #").next().unwrap_or("").trim_end();
                return Ok((value.to_string(), Quote::None, rest));
            }
        };
        let b = src.as_bytes();
        let mut escaped = false;
        let mut chars: Vec<u8> = Vec::new();
        for i in 1..b.len() {
            let c = b[i];
            if c == b'\n' {
                self.line += 1;
            }
            if c != quote {
                if !escaped && c == b'\\' {
                    escaped = true;
                    continue;
                }
                if escaped {
                    escaped = false;
                    chars.push(b'\\');
                }
                chars.push(c);
                continue;
            }
            if escaped {
                escaped = false;
                chars.push(c);
                continue;
            }
            // Only ASCII bytes were dropped, so the bytes are still UTF-8.
            let value = String::from_utf8(chars)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            let q = if quote == b'"' {
                Quote::Double
            } else {
                Quote::Single
            };
            return Ok((value, q, &src[i + 1..]));
        }
        let end = src.find('\n').unwrap_or(src.len());
        Err(self.error(
            self.line,
            format!("unterminated quoted value {}", &src[..end]),
        ))
    }
}

/// Expands the shell escapes of a double-quoted value: `\a \b \f \n \r \t \v \\ \"`, `\0ooo`
/// octal, and `\$` (kept as an escaped `$$` for the interpolation that follows). Anything else
/// after a backslash is left as written.
fn expand_escapes(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 >= b.len() {
            i += 1;
            continue;
        }
        let c = b[i + 1];
        let (end, replacement): (usize, Option<String>) = match c {
            b'a' => (i + 2, Some("\u{7}".into())),
            b'b' => (i + 2, Some("\u{8}".into())),
            b'f' => (i + 2, Some("\u{c}".into())),
            b'n' => (i + 2, Some("\n".into())),
            b'r' => (i + 2, Some("\r".into())),
            b't' => (i + 2, Some("\t".into())),
            b'v' => (i + 2, Some("\u{b}".into())),
            b'\\' => (i + 2, Some("\\".into())),
            b'"' => (i + 2, Some("\"".into())),
            b'$' => (i + 2, Some("$$".into())),
            // matched, but not an escape: kept as written
            b'c' => (i + 2, None),
            b'0' => {
                let mut end = i + 2;
                while end < b.len() && end < i + 5 && b[end].is_ascii_digit() {
                    end += 1;
                }
                let digits = &b[i + 2..end];
                let octal = digits.len() == 3 && digits.iter().all(|d| (b'0'..=b'7').contains(d));
                let value = digits
                    .iter()
                    .fold(0u32, |v, d| (v << 3) | u32::from(d.wrapping_sub(b'0')));
                let r = (octal && value <= 255)
                    .then(|| char::from_u32(value).map(String::from))
                    .flatten();
                (end, r)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        if let Some(r) = replacement {
            out.push_str(&s[last..i]);
            out.push_str(&r);
            last = end;
        }
        i = end;
    }
    out.push_str(&s[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    fn parse_with(
        content: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> (IndexMap<String, String>, Vec<String>) {
        let mut w = Vec::new();
        let m = parse(content, ".env", lookup, &mut w).unwrap();
        (m, w)
    }

    fn p(content: &str) -> IndexMap<String, String> {
        parse_with(content, &none).0
    }

    fn one(content: &str, key: &str) -> String {
        let m = p(content);
        m.get(key)
            .unwrap_or_else(|| panic!("{key} missing in {m:?}"))
            .clone()
    }

    fn err(content: &str) -> String {
        parse(content, "x.env", &none, &mut Vec::new())
            .unwrap_err()
            .to_string()
    }

    fn pairs(m: &IndexMap<String, String>) -> Vec<(&str, &str)> {
        m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn plain_values_and_blanks_around_the_separator() {
        let m = p(
            "OPTION_A=1\nOPTION_B=2\nOPTION_C= 3\nOPTION_D =4\nOPTION_E = 5\n456 = ABC\n\
                   OPTION_F = \nOPTION_G=\nOPTION_H = my string # Inline comment\n",
        );
        assert_eq!(
            pairs(&m),
            vec![
                ("OPTION_A", "1"),
                ("OPTION_B", "2"),
                ("OPTION_C", "3"),
                ("OPTION_D", "4"),
                ("OPTION_E", "5"),
                ("456", "ABC"),
                ("OPTION_F", ""),
                ("OPTION_G", ""),
                ("OPTION_H", "my string"),
            ]
        );
    }

    #[test]
    fn utf8_bom_is_skipped() {
        assert_eq!(one("\u{feff}OPTION_A=1\nOPTION_B=2", "OPTION_A"), "1");
    }

    #[test]
    fn export_prefix() {
        let m = p("export OPTION_A=2\nexport OPTION_B='\\n'\n");
        assert_eq!(pairs(&m), vec![("OPTION_A", "2"), ("OPTION_B", "\\n")]);
        assert_eq!(
            one(
                "export OPTION_A='postgres://localhost:5432/database?sslmode=disable'\n\n",
                "OPTION_A"
            ),
            "postgres://localhost:5432/database?sslmode=disable"
        );
        assert_eq!(one("export exportFoo=2", "exportFoo"), "2");
        assert_eq!(one("exportFOO=2", "exportFOO"), "2");
        assert_eq!(one("export_FOO =2", "export_FOO"), "2");
        assert_eq!(one("export.FOO= 2", "export.FOO"), "2");
        assert_eq!(one("export\tOPTION_A=2", "OPTION_A"), "2");
        assert_eq!(one("  export OPTION_A=2", "OPTION_A"), "2");
        assert_eq!(one("\texport OPTION_A=2", "OPTION_A"), "2");
        assert_eq!(one("export OPTION_A=\"export A\"", "OPTION_A"), "export A");
    }

    #[test]
    fn quoted_values() {
        let m = p(
            "OPTION_A='1'\nOPTION_B='2'\nOPTION_C=''\nOPTION_D='\\n'\nOPTION_E=\"1\"\n\
                   OPTION_F=\"2\"\nOPTION_G=\"\"\nOPTION_H=\"\\n\"\n\
                   OPTION_I = \"echo 'asd'\" # Inline comment\n\
                   OPTION_J = 'first line\nsecond line\nthird line\nand so on'\n\
                   OPTION_K='Let\\'s go!'\nOPTION_Z = \"last value\"\n",
        );
        assert_eq!(
            pairs(&m),
            vec![
                ("OPTION_A", "1"),
                ("OPTION_B", "2"),
                ("OPTION_C", ""),
                ("OPTION_D", "\\n"),
                ("OPTION_E", "1"),
                ("OPTION_F", "2"),
                ("OPTION_G", ""),
                ("OPTION_H", "\n"),
                ("OPTION_I", "echo 'asd'"),
                ("OPTION_J", "first line\nsecond line\nthird line\nand so on"),
                ("OPTION_K", "Let's go!"),
                ("OPTION_Z", "last value"),
            ]
        );
    }

    #[test]
    fn unquoted_phrases() {
        let m = p(
            "OPTION_A = \"some quoted phrase\"\nOPTION_B=first one with an unquoted phrase\n\
                   OPTION_D = then another one with an unquoted phrase special è char\n",
        );
        assert_eq!(m["OPTION_A"], "some quoted phrase");
        assert_eq!(m["OPTION_B"], "first one with an unquoted phrase");
        assert_eq!(
            m["OPTION_D"],
            "then another one with an unquoted phrase special è char"
        );
    }

    #[test]
    fn key_characters() {
        let m = p(
            "VAR.WITH.DOTS=dots\nVAR_WITH_UNDERSCORES=underscores\nVAR-WITH-DASHES=dashes\n\
                   a[1]=c\nárvíztűrő-TÜKÖRFÚRÓGÉP=ÁRVÍZTŰRŐ-tükörfúrógép\n",
        );
        assert_eq!(m["VAR.WITH.DOTS"], "dots");
        assert_eq!(m["VAR-WITH-DASHES"], "dashes");
        assert_eq!(m["a[1]"], "c");
        assert_eq!(m["árvíztűrő-TÜKÖRFÚRÓGÉP"], "ÁRVÍZTŰRŐ-tükörfúrógép");
        assert_eq!(one("=\"value\"", ""), "value");
    }

    #[test]
    fn yaml_style_and_equals_in_values() {
        assert_eq!(one("OPTION_A: 1", "OPTION_A"), "1");
        assert_eq!(one("OPTION_A: Foo=bar", "OPTION_A"), "Foo=bar");
        assert_eq!(one("OPTION_A=1:B", "OPTION_A"), "1:B");
        assert_eq!(one("FOO=foobar=", "FOO"), "foobar=");
    }

    #[test]
    fn comments() {
        assert!(p("# Comment").is_empty());
        assert!(p("\t # comment\n\n\r\n\t\t ").is_empty());
        assert_eq!(one("FOO=bar # this is foo", "FOO"), "bar");
        assert_eq!(one("FOO=bar #this is foo", "FOO"), "bar");
        assert_eq!(one("FOO=bar #", "FOO"), "bar");
        assert_eq!(one("FOO=bar ", "FOO"), "bar");
        assert_eq!(
            one("FOO=123#not-an-inline-comment", "FOO"),
            "123#not-an-inline-comment"
        );
        assert_eq!(one("FOO=   # x", "FOO"), "# x");
        assert_eq!(one("FOO=\"bar#baz\"", "FOO"), "bar#baz");
        assert_eq!(one("FOO=\"bar#baz\"#", "FOO"), "bar#baz");
        assert_eq!(one("FOO=\"bar#baz\" # comment", "FOO"), "bar#baz");
        assert_eq!(one("FOO='bar#baz' # comment", "FOO"), "bar#baz");
        assert_eq!(one("FOO=\"ba#r\"", "FOO"), "ba#r");
        assert_eq!(one("FOO=bar\r\nX=1", "FOO"), "bar");
    }

    #[test]
    fn double_quote_escapes() {
        assert_eq!(one(r#"FOO="escaped\"bar""#, "FOO"), "escaped\"bar");
        assert_eq!(one(r#"FOO="\"quoted\"""#, "FOO"), "\"quoted\"");
        assert_eq!(one(r#"FOO="'d'""#, "FOO"), "'d'");
        assert_eq!(one(r#"FOO="bar\nbaz""#, "FOO"), "bar\nbaz");
        assert_eq!(one(r#"FOO=a\tb"#, "FOO"), "a\\tb");
        assert_eq!(one(r#"FOO="a\tb""#, "FOO"), "a\tb");
        assert_eq!(
            one(r#"KEY="Z\aZ\bZ\fZ\nZ\rZ\tZ\vZ\\Z\0123Z""#, "KEY"),
            "Z\u{7}Z\u{8}Z\u{c}Z\nZ\rZ\tZ\u{b}Z\\ZSZ"
        );
        assert_eq!(one(r#"FOO="bar\n\ b\az""#, "FOO"), "bar\n\\ b\u{7}z");
        assert_eq!(one(r#"FOO="bar\\\n\ b\az""#, "FOO"), "bar\\\n\\ b\u{7}z");
        assert_eq!(one(r#"FOO="bar\\r\ b\az""#, "FOO"), "bar\\r\\ b\u{7}z");
        assert_eq!(one(r#"FOO="bar\nbaz\\""#, "FOO"), "bar\nbaz\\");
        assert_eq!(one(r#"KEY="\0123""#, "KEY"), "S");
        assert_eq!(one(r#"KEY="\x07""#, "KEY"), "\\x07");
        assert_eq!(one(r#"KEY="\u12e4""#, "KEY"), "\\u12e4");
        assert_eq!(one(r#"KEY="\U00101234""#, "KEY"), "\\U00101234");
        assert_eq!(one(r#"KEY="\c\01\0777""#, "KEY"), "\\c\\01\\0777");
        assert_eq!(
            one(r#"VAR13="{\"hello\": \"json\"}""#, "VAR13"),
            "{\"hello\": \"json\"}"
        );
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(one("BAR='quote $FOO'", "BAR"), "quote $FOO");
        assert_eq!(one("VAR11='${OTHER}'", "VAR11"), "${OTHER}");
        assert_eq!(one(r"VAR15='some\tvalue'", "VAR15"), "some\\tvalue");
    }

    #[test]
    fn multi_line_double_quoted_value() {
        let input = "TEST_URLS=\"stratum+tcp://stratum.antpool.com:3333\nstratum+tcp://stratum.antpool.com:443\"";
        assert_eq!(
            pairs(&p(input)),
            vec![(
                "TEST_URLS",
                "stratum+tcp://stratum.antpool.com:3333\nstratum+tcp://stratum.antpool.com:443"
            )]
        );
    }

    #[test]
    fn interpolation_uses_earlier_definitions() {
        let m = p("FOO=test\nBAR=$FOO\nBAZ=${FOO}bar\nQ=\"quote $FOO\"");
        assert_eq!(m["BAR"], "test");
        assert_eq!(m["BAZ"], "testbar");
        assert_eq!(m["Q"], "quote test");
        let m = p("OPTION_A=1\nOPTION_B=${OPTION_A}\nOPTION_C=$OPTION_B\n\
                   OPTION_D=${OPTION_A}_${OPTION_B}\nOPTION_E=${OPTION_NOT_DEFINED}\n");
        assert_eq!(
            pairs(&m),
            vec![
                ("OPTION_A", "1"),
                ("OPTION_B", "1"),
                ("OPTION_C", "1"),
                ("OPTION_D", "1_1"),
                ("OPTION_E", ""),
            ]
        );
    }

    #[test]
    fn lookup_wins_over_earlier_definitions() {
        let look = |k: &str| (k == "OPTION_A").then(|| "5".to_string());
        let (m, _) = parse_with(
            "OPTION_A=1\nOPTION_B=${OPTION_A}\nOPTION_C=$OPTION_B\nOPTION_D=${OPTION_A}_${OPTION_B}\n",
            &look,
        );
        assert_eq!(
            pairs(&m),
            vec![
                ("OPTION_A", "1"),
                ("OPTION_B", "5"),
                ("OPTION_C", "5"),
                ("OPTION_D", "5_5"),
            ]
        );
        // with a default: the environment's value, else the default
        let src = "OPTION_A=${OPTION_A:-1}\nOPTION_B=${OPTION_A}\n";
        assert_eq!(parse_with(src, &look).0["OPTION_B"], "5");
        assert_eq!(parse_with(src, &none).0["OPTION_B"], "1");
    }

    #[test]
    fn escaped_dollars_are_not_expanded() {
        assert_eq!(one(r#"FOO="foo\$BAR""#, "FOO"), "foo$BAR");
        assert_eq!(one(r#"FOO="foo\${BAR}""#, "FOO"), "foo${BAR}");
        assert_eq!(
            one("FOO=test\nBAR=\"foo\\${FOO} ${FOO}\"", "BAR"),
            "foo${FOO} test"
        );
        assert_eq!(one("FOO=$$bar", "FOO"), "$bar");
    }

    #[test]
    fn unset_variables_warn() {
        let (m, w) = parse_with("BAR=$FOO", &none);
        assert_eq!(m["BAR"], "");
        assert_eq!(
            w,
            vec!["The \"FOO\" variable is not set. Defaulting to a blank string."]
        );
    }

    #[test]
    fn bare_keys_come_from_the_lookup() {
        let look = |k: &str| (k == "VAR_TO_BE_LOADED_FROM_OS_ENV").then(|| "v".to_string());
        let (m, _) = parse_with("foo=bar\nVAR_TO_BE_LOADED_FROM_OS_ENV\nbar=baz\n", &look);
        assert_eq!(
            pairs(&m),
            vec![
                ("foo", "bar"),
                ("VAR_TO_BE_LOADED_FROM_OS_ENV", "v"),
                ("bar", "baz")
            ]
        );
        // not found: absent
        let (m, _) = parse_with("VARIABLE_NOT_FOUND\n", &look);
        assert!(m.is_empty());
        // the file's own variables do not count
        let (m, _) = parse_with("A=1\nA2\nA\n", &none);
        assert_eq!(pairs(&m), vec![("A", "1")]);
    }

    #[test]
    fn bare_key_at_end_without_newline_is_a_value_for_the_empty_key() {
        assert_eq!(pairs(&p("A=1\nLAST")), vec![("A", "1"), ("", "LAST")]);
    }

    #[test]
    fn value_interpolation_errors() {
        assert_eq!(
            err("A=1\nB=${X:?need X}\n"),
            "x.env:2: required variable X is missing a value: need X"
        );
        assert_eq!(err("A=\"${\""), "x.env:1: Invalid template: \"${\"");
    }

    #[test]
    fn key_with_a_space_is_an_error_on_compose_line() {
        let src = "# some comments\nfoo=\"\n  a\n  multine\n  value\n\"\nINVALID LINE\nzot=qix";
        assert_eq!(err(src), "x.env:7: key cannot contain a space");
    }

    #[test]
    fn invalid_key_character() {
        assert_eq!(
            err("%!(EXTRA string)=foo"),
            "x.env:1: unexpected character \"%\" in variable name \"%!(EXTRA string)=foo\""
        );
        assert_eq!(
            err("A=1\nlol$wut"),
            "x.env:2: unexpected character \"$\" in variable name \"lol$wut\""
        );
    }

    #[test]
    fn unterminated_quotes() {
        for src in [
            "KEY=\"",
            "KEY=\"value",
            "KEY=\"value\\\"",
            "KEY=\"value'",
            "KEY='",
            "KEY='value",
            "KEY='value\\'",
            "KEY='value\"",
        ] {
            assert!(err(src).contains("unterminated quoted value"), "{src}");
        }
        assert_eq!(
            err("A=1\nKEY='abc\ndef"),
            "x.env:3: unterminated quoted value 'abc"
        );
    }

    #[test]
    fn docs_syntax_rules() {
        let src = "# comment line\nVAR1=VAL\nVAR2=\"VAL\"\nVAR3='VAL'\nVAR4: VAL\nVAR5 = VAL  \n\
                   VAR6=VAL # comment\nVAR7=VAL# not a comment\nVAR8=\"VAL # not a comment\"\n\
                   VAR9=\"VAL\" # comment\nOTHER=other\nVAR10='$OTHER'\nVAR11='${OTHER}'\n\
                   VAR12='Let\\'s go!'\nVAR14=\"some\\tvalue\"\nVAR16=some\\tvalue\n\
                   KEY='SOME\nVALUE'\nVAR17=\"$OTHER\"\nVAR18=$OTHER\n";
        let m = p(src);
        for k in ["VAR1", "VAR2", "VAR3", "VAR4", "VAR5", "VAR6", "VAR9"] {
            assert_eq!(m[k], "VAL", "{k}");
        }
        assert_eq!(m["VAR7"], "VAL# not a comment");
        assert_eq!(m["VAR8"], "VAL # not a comment");
        assert_eq!(m["VAR10"], "$OTHER");
        assert_eq!(m["VAR11"], "${OTHER}");
        assert_eq!(m["VAR12"], "Let's go!");
        assert_eq!(m["VAR14"], "some\tvalue");
        assert_eq!(m["VAR16"], "some\\tvalue");
        assert_eq!(m["KEY"], "SOME\nVALUE");
        assert_eq!(m["VAR17"], "other");
        assert_eq!(m["VAR18"], "other");
    }

    #[test]
    fn redefinition_replaces_the_value() {
        assert_eq!(pairs(&p("A=1\nB=2\nA=3")), vec![("A", "3"), ("B", "2")]);
    }
}
