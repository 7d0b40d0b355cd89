//! Docker's json-file line format, both ways: one JSON object per line,
//! `{"log":"...","stream":"stdout","time":"<RFC3339Nano UTC>"}`. Pure: no files, no clock.
//!
//! Encoding follows moby's `daemon/logger/jsonfilelog/jsonlog` byte for byte (its hand-written
//! marshaller, not Go's `encoding/json`): `<`, `>` and `&` escaped as `\u003c` and so on, control
//! bytes other than `\n` and `\r` as `\u00XX` (so a tab is `\u0009`), invalid UTF-8 as `\ufffd`,
//! U+2028/U+2029 escaped, and the time in Go's RFC3339Nano (fraction without trailing zeros).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

/// Which of the container's streams a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One json-file record. `log` holds the bytes as written, with the line's `\n` when the line
/// was complete (a partial line, cut at 16 KiB or at the end of the stream, has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub stream: Stream,
    pub time: DateTime<Utc>,
    pub log: String,
}

impl Entry {
    /// Whether the record ends a line (Docker writes partial lines without the `\n`).
    pub fn is_partial(&self) -> bool {
        !self.log.ends_with('\n')
    }
}

/// A line of a json-file that is not a record berth can read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not a json-file record: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown stream {0:?}")]
    Stream(String),
    #[error("bad time {0:?}: {1}")]
    Time(String, chrono::ParseError),
}

/// Appends the json-file record for `log` (raw bytes, the line's `\n` included when it has one)
/// and the record's own `\n` to `out`.
pub fn encode(out: &mut Vec<u8>, stream: Stream, time: DateTime<Utc>, log: &[u8]) {
    out.extend_from_slice(b"{");
    if !log.is_empty() {
        out.extend_from_slice(b"\"log\":");
        encode_string(out, log);
        out.push(b',');
    }
    out.extend_from_slice(b"\"stream\":\"");
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(rfc3339_nano(time).as_bytes());
    out.extend_from_slice(b"\"}\n");
}

/// Writes `s` as a JSON string the way moby's jsonlog marshaller does.
fn encode_string(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b < 0x80 {
            if b >= 0x20 && b != b'\\' && b != b'"' && b != b'<' && b != b'>' && b != b'&' {
                i += 1;
                continue;
            }
            out.extend_from_slice(&s[start..i]);
            match b {
                b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                _ => out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ]),
            }
            i += 1;
            start = i;
            continue;
        }
        match next_char(&s[i..]) {
            None => {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(b"\\ufffd");
                i += 1;
                start = i;
            }
            Some(('\u{2028}', n)) | Some(('\u{2029}', n)) => {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(if s[i + 2] == 0xa8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += n;
                start = i;
            }
            Some((_, n)) => i += n,
        }
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// The UTF-8 character at the start of `s` and its length, or `None` when the first byte does
/// not start a valid sequence (Go's `utf8.DecodeRune` returning `RuneError, 1`).
fn next_char(s: &[u8]) -> Option<(char, usize)> {
    let len = match s.first()? {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let bytes = s.get(..len)?;
    let c = std::str::from_utf8(bytes).ok()?.chars().next()?;
    Some((c, len))
}

/// Go's `time.RFC3339Nano` in UTC: `2026-11-26T10:00:00.1234Z`, trailing zeros of the fraction
/// dropped, no fraction at all on a whole second. The json-file `time` field.
pub fn rfc3339_nano(t: DateTime<Utc>) -> String {
    let fixed = rfc3339_nano_fixed(t);
    // `fixed` always ends in `.<9 digits>Z`.
    let body = fixed.trim_end_matches('Z').trim_end_matches('0');
    let body = body.trim_end_matches('.');
    format!("{body}Z")
}

/// Docker's `RFC3339NanoFixed` in UTC (always nine digits): what `logs -t` prints.
pub fn rfc3339_nano_fixed(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    log: String,
    #[serde(default)]
    stream: String,
    time: String,
}

/// Reads one json-file line (without or with its trailing `\n`).
pub fn decode(line: &[u8]) -> Result<Entry, ParseError> {
    let raw: Raw = serde_json::from_slice(line)?;
    let stream = match raw.stream.as_str() {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        other => return Err(ParseError::Stream(other.to_owned())),
    };
    let time = DateTime::parse_from_rfc3339(&raw.time)
        .map_err(|e| ParseError::Time(raw.time.clone(), e))?
        .with_timezone(&Utc);
    Ok(Entry {
        stream,
        time,
        log: raw.log,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    fn t(nanos: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2017, 9, 1, 1, 1, 1).unwrap()
            + chrono::Duration::nanoseconds(nanos.into())
    }

    fn enc(log: &[u8]) -> String {
        let mut out = Vec::new();
        encode(&mut out, Stream::Stdout, t(0), log);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn time_is_go_rfc3339nano() {
        assert_eq!(rfc3339_nano(t(0)), "2017-09-01T01:01:01Z");
        assert_eq!(rfc3339_nano(t(1)), "2017-09-01T01:01:01.000000001Z");
        assert_eq!(rfc3339_nano(t(120_000_000)), "2017-09-01T01:01:01.12Z");
        assert_eq!(rfc3339_nano(t(123_456_000)), "2017-09-01T01:01:01.123456Z");
        assert_eq!(
            rfc3339_nano_fixed(t(120_000_000)),
            "2017-09-01T01:01:01.120000000Z"
        );
        assert_eq!(rfc3339_nano_fixed(t(0)), "2017-09-01T01:01:01.000000000Z");
    }

    #[test]
    fn encoding_matches_moby_jsonlog() {
        assert_eq!(
            enc(b"out\n"),
            "{\"log\":\"out\\n\",\"stream\":\"stdout\",\"time\":\"2017-09-01T01:01:01Z\"}\n"
        );
        // The cases of moby's jsonlogbytes_test.go.
        let body = |log: &[u8]| {
            let s = enc(log);
            s[7..s.find(",\"stream\"").unwrap()].to_owned()
        };
        assert_eq!(
            body(br#""A log line with \\""#),
            r#""\"A log line with \\\\\"""#
        );
        assert_eq!(body(b"A log line with \r"), r#""A log line with \r""#);
        assert_eq!(
            body(b"A log line with & < >"),
            r#""A log line with \u0026 \u003c \u003e""#
        );
        assert_eq!(body("utf8 : 🚀 ψ ω β".as_bytes()), "\"utf8 : 🚀 ψ ω β\"");
        assert_eq!(body("\u{2028} \u{2029}".as_bytes()), r#""\u2028 \u2029""#);
        assert_eq!(body(&[0xaf]), r#""\ufffd""#);
        assert_eq!(body(&[b'a', 0xe2, 0x82, b'b']), r#""a\ufffd\ufffdb""#);
        assert_eq!(body(&[0x7f]), "\"\x7f\"");
        assert_eq!(body(b"a\tb\x1b[0m"), r#""a\u0009b\u001b[0m""#);
        // An empty log is left out, as Go's omitempty does.
        assert_eq!(
            enc(b""),
            "{\"stream\":\"stdout\",\"time\":\"2017-09-01T01:01:01Z\"}\n"
        );
    }

    #[test]
    fn decode_reads_what_encode_writes() {
        let logs: &[&[u8]] = &[
            b"out\n",
            b"a\tb <&> \"q\" \\ \xe2\x80\xa8\n",
            b"partial",
            b"",
        ];
        for log in logs {
            let mut out = Vec::new();
            encode(&mut out, Stream::Stderr, t(42), log);
            let e = decode(&out).unwrap();
            assert_eq!(e.stream, Stream::Stderr);
            assert_eq!(e.time, t(42));
            assert_eq!(e.log.as_bytes(), *log);
        }
        let e = decode(
            br#"{"log":"x\n","stream":"stdout","time":"2026-11-26T10:00:00.123456789+01:00"}"#,
        )
        .unwrap();
        assert_eq!(rfc3339_nano(e.time), "2026-11-26T09:00:00.123456789Z");
        assert!(!e.is_partial());
        assert!(decode(br#"{"log":"x","stream":"tty","time":"2026-11-26T10:00:00Z"}"#).is_err());
        assert!(decode(b"garbage").is_err());
    }
}
