//! Go `time.Duration` for the typed model: parsing as `time.ParseDuration` does and printing as
//! `Duration.String` does (`90s` is printed `1m30s`).

use crate::model::error::{Error, Result};
use crate::model::field::{Field, Fmt, Out};
use crate::model::node::{KeyPath, Node, Value};

/// A duration in nanoseconds, as Go's `time.Duration`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub i64);

const NS: u64 = 1;
const US: u64 = 1_000;
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;
const MIN: u64 = 60 * SEC;
const HOUR: u64 = 60 * MIN;
const LIMIT: u64 = 1 << 63;

fn unit_scale(u: &str) -> Option<u64> {
    match u {
        "ns" => Some(NS),
        "us" | "\u{b5}s" | "\u{3bc}s" => Some(US),
        "ms" => Some(MS),
        "s" => Some(SEC),
        "m" => Some(MIN),
        "h" => Some(HOUR),
        _ => None,
    }
}

/// Splits the leading decimal digits off `s`; `None` on overflow past 2^63.
fn leading_int(s: &str) -> Option<(u64, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let mut x: u64 = 0;
    for b in s[..end].bytes() {
        if x > (LIMIT - 1) / 10 {
            return None;
        }
        x = x * 10 + u64::from(b - b'0');
        if x > LIMIT {
            return None;
        }
    }
    Some((x, &s[end..]))
}

/// Splits the digits after a decimal point off `s`: the digits kept, their scale, the rest.
/// Digits that would overflow are dropped, as Go does.
fn leading_fraction(s: &str) -> (u64, f64, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let mut x: u64 = 0;
    let mut scale = 1.0;
    let mut overflow = false;
    for b in s[..end].bytes() {
        if overflow {
            continue;
        }
        if x > (LIMIT - 1) / 10 {
            overflow = true;
            continue;
        }
        let y = x * 10 + u64::from(b - b'0');
        if y > LIMIT {
            overflow = true;
            continue;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale, &s[end..])
}

/// Go's `time.ParseDuration`: a signed sequence of decimal numbers with units
/// (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), e.g. `1h30m`, `1.5s`, `-2m`. A lone `0` needs no unit.
pub fn parse_go_duration(orig: &str) -> std::result::Result<i64, String> {
    let invalid = || format!("time: invalid duration \"{orig}\"");
    let mut s = orig;
    let mut neg = false;
    if let Some(rest) = s.strip_prefix('-') {
        neg = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        let first = s.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(invalid());
        }
        let before = s.len();
        let (v, rest) = leading_int(s).ok_or_else(invalid)?;
        s = rest;
        let pre = before != s.len();
        let mut post = false;
        let (mut f, mut scale) = (0u64, 1.0f64);
        if let Some(rest) = s.strip_prefix('.') {
            let before = rest.len();
            let (ff, sc, rest) = leading_fraction(rest);
            post = before != rest.len();
            f = ff;
            scale = sc;
            s = rest;
        }
        if !pre && !post {
            return Err(invalid());
        }
        let end = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if end == 0 {
            return Err(format!("time: missing unit in duration \"{orig}\""));
        }
        let u = &s[..end];
        s = &s[end..];
        let unit = unit_scale(u)
            .ok_or_else(|| format!("time: unknown unit \"{u}\" in duration \"{orig}\""))?;
        if v > LIMIT / unit {
            return Err(invalid());
        }
        let mut v = v * unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        d += v;
        if d > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        // d <= 2^63 here, so the negation fits
        return Ok((d as i128).wrapping_neg() as i64);
    }
    if d > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(d as i64)
}

/// Writes the fraction of `v / 10^prec` (trailing zeros dropped, no point if it is zero) and
/// returns the integer part.
fn frac(out: &mut String, v: u64, prec: u32) -> u64 {
    let mut digits = String::new();
    let mut v = v;
    let mut printed = false;
    for _ in 0..prec {
        let digit = v % 10;
        printed = printed || digit != 0;
        if printed {
            digits.insert(0, char::from(b'0' + digit as u8));
        }
        v /= 10;
    }
    if printed {
        out.push('.');
        out.push_str(&digits);
    }
    v
}

/// Go's `time.Duration.String`: `1h0m0s`, `1m30s`, `1.5s`, `500ms`, `0s`.
pub fn format_go_duration(d: i64) -> String {
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    // built back to front as Go does, in pieces
    let mut s;
    if u < SEC {
        let (prec, unit) = match u {
            0 => return "0s".into(),
            x if x < US => (0, "ns"),
            x if x < MS => (3, "\u{b5}s"),
            _ => (6, "ms"),
        };
        let mut fr = String::new();
        u = frac(&mut fr, u, prec);
        s = format!("{u}{fr}{unit}");
    } else {
        let mut fr = String::new();
        u = frac(&mut fr, u, 9);
        s = format!("{}{fr}s", u % 60);
        u /= 60;
        if u > 0 {
            s = format!("{}m{s}", u % 60);
            u /= 60;
            if u > 0 {
                s = format!("{u}h{s}");
            }
        }
    }
    if neg {
        s.insert(0, '-');
    }
    s
}

impl Duration {
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        parse_go_duration(s).map(Duration)
    }
}

impl std::fmt::Display for Duration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_go_duration(self.0))
    }
}

impl Field for Duration {
    /// The scalar is printed as Go's `fmt.Sprint` would and parsed as a Go duration.
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        match &n.v {
            Value::Null => Ok(Duration(0)),
            Value::Seq(_) | Value::Map(_) => Err(crate::model::field::type_error(
                n,
                path,
                "a duration string",
            )),
            _ => {
                let s = n.scalar_string().unwrap_or_default();
                Duration::parse(&s).map_err(|e| Error::at(n, path, e))
            }
        }
    }
    fn encode(&self, _: Fmt) -> Out {
        Out::Str(self.to_string())
    }
    fn is_empty(&self, _: Fmt) -> bool {
        self.0 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("90s"), Ok(90 * SEC as i64));
        assert_eq!(parse_go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_go_duration("1h30m"), Ok(90 * MIN as i64));
        assert_eq!(parse_go_duration("500ms"), Ok(500 * MS as i64));
        assert_eq!(parse_go_duration("-2m"), Ok(-120 * SEC as i64));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("10\u{b5}s"), Ok(10_000));
        assert_eq!(parse_go_duration(".5s"), Ok(500_000_000));
        assert_eq!(parse_go_duration("1m0.5s"), Ok(60_500_000_000));
        assert!(parse_go_duration("10")
            .unwrap_err()
            .contains("missing unit"));
        assert!(parse_go_duration("3d")
            .unwrap_err()
            .contains("unknown unit \"d\""));
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration(".s").is_err());
        assert!(parse_go_duration("9999999999h").is_err());
    }

    #[test]
    fn prints_as_go_does() {
        let p = |s: &str| format_go_duration(parse_go_duration(s).unwrap());
        assert_eq!(p("90s"), "1m30s");
        assert_eq!(p("1h"), "1h0m0s");
        assert_eq!(p("500ms"), "500ms");
        assert_eq!(p("1.5s"), "1.5s");
        assert_eq!(p("0s"), "0s");
        assert_eq!(p("10s"), "10s");
        assert_eq!(p("1500us"), "1.5ms");
        assert_eq!(p("1ns"), "1ns");
        assert_eq!(p("2us"), "2\u{b5}s");
        assert_eq!(p("-90s"), "-1m30s");
        assert_eq!(p("25h1ms"), "25h0m0.001s");
        assert_eq!(format_go_duration(i64::MIN), "-2562047h47m16.854775808s");
    }

    #[test]
    fn decodes_scalars_via_sprint() {
        let n = Node::str("1m");
        assert_eq!(
            Duration::decode(&n, &KeyPath::root()).unwrap(),
            Duration(60 * SEC as i64)
        );
        let n = Node::synth(Value::Int(0));
        assert_eq!(Duration::decode(&n, &KeyPath::root()).unwrap(), Duration(0));
        let n = Node::synth(Value::Int(5));
        let e = Duration::decode(&n, &KeyPath::parse("services.a.stop_grace_period")).unwrap_err();
        assert!(e.to_string().contains("missing unit"), "{e}");
        assert_eq!(
            Duration(90 * SEC as i64).encode(Fmt::Json),
            Out::Str("1m30s".into())
        );
    }
}
