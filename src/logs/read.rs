//! Reading a container's json-file logs for `berth logs`: the rotated files and the current one
//! in order, `--tail`, the `--since`/`--until` window (Docker's time arguments), and a follower
//! for `-f` that picks up new lines and survives rotation. Parsing and filtering are pure; the
//! reader touches only the log files. Prints nothing and knows nothing of containerd.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};

use super::format::{decode, Entry};
use super::options::log_file;

/// How often a follower looks for new lines.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("read {}: {}", .0.display(), .1)]
    Io(PathBuf, io::Error),
}

/// Where a record falls against `--since` / `--until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Before,
    Inside,
    After,
}

/// The `--since` / `--until` window; either bound may be absent. Docker's rule: a record older
/// than `since` is skipped, one newer than `until` ends the output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl Window {
    pub fn place(&self, t: DateTime<Utc>) -> Place {
        if self.since.is_some_and(|s| t < s) {
            Place::Before
        } else if self.until.is_some_and(|u| t > u) {
            Place::After
        } else {
            Place::Inside
        }
    }
}

/// What to read from the history: the last `tail` records (all when `None`), within `window`.
/// As Docker's json-file reader does, the tail is taken first and the window applied to it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    pub tail: Option<usize>,
    pub window: Window,
}

/// Docker's `--tail` value: `all` (or anything not a number, as the daemon treats it) is
/// everything; a number is that many lines.
pub fn parse_tail(s: &str) -> Option<usize> {
    s.trim().parse().ok()
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimeArgError {
    #[error("failed to parse value as time or duration: {0:?}")]
    Unparsable(String),
    #[error("parsing time {0:?}: {1}")]
    BadTime(String, String),
}

/// A `--since` / `--until` value as Docker reads it (docker/cli `GetTimestamp`, then the
/// daemon's `ParseTimestamps`): a Go duration (`10m`, `1h30m`, `-5s`: `now` minus it, to the
/// whole second), an RFC 3339 date or date-time (with `Z`/offset, or without one in the local
/// zone `local`; seconds, minutes or a fraction may be left out), or a Unix timestamp
/// (`1700000000`, `1700000000.5`).
pub fn parse_time_arg(
    value: &str,
    now: DateTime<Utc>,
    local: FixedOffset,
) -> Result<DateTime<Utc>, TimeArgError> {
    if value != "0" {
        if let Some(d) = parse_go_duration(value) {
            let t = now - d;
            return DateTime::from_timestamp(t.timestamp(), 0)
                .ok_or_else(|| TimeArgError::Unparsable(value.to_owned()));
        }
    }
    let in_local = !value.contains(['z', 'Z', '+']) && value.matches('-').count() != 3;
    match parse_date_time(value, in_local, local) {
        Ok(t) => Ok(t),
        Err(e) if value.contains('-') => Err(TimeArgError::BadTime(value.to_owned(), e)),
        Err(_) => parse_unix(value).ok_or_else(|| TimeArgError::Unparsable(value.to_owned())),
    }
}

fn parse_date_time(
    value: &str,
    in_local: bool,
    local: FixedOffset,
) -> Result<DateTime<Utc>, String> {
    let err = |e: chrono::ParseError| e.to_string();
    if in_local {
        let naive = if value.contains('T') {
            let fmt = match (value.contains('.'), value.matches(':').count()) {
                (true, _) => "%Y-%m-%dT%H:%M:%S%.f",
                (false, 0) => "%Y-%m-%dT%H",
                (false, 1) => "%Y-%m-%dT%H:%M",
                _ => "%Y-%m-%dT%H:%M:%S",
            };
            parse_naive(value, fmt)?
        } else if value.contains('.') {
            // Go tries the date-time-with-fraction layout here, which a value without a `T`
            // never matches.
            return Err(format!("{value:?} is not a date-time"));
        } else {
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .map_err(err)?
                .and_hms_opt(0, 0, 0)
                .ok_or("midnight")?
        };
        return local
            .from_local_datetime(&naive)
            .single()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| "not a time".to_owned());
    }
    // Go's "Z07:00" takes `Z` or `±hh:mm`; chrono's `%:z` only the latter.
    let v = match value.strip_suffix(['Z', 'z']) {
        Some(rest) => format!("{rest}+00:00"),
        None => value.to_owned(),
    };
    let fmt = if value.contains('.') {
        "%Y-%m-%dT%H:%M:%S%.f%:z"
    } else if value.contains('T') {
        let colons = v.matches(':').count().saturating_sub(1);
        match colons {
            0 => "%Y-%m-%dT%H%:z",
            1 => "%Y-%m-%dT%H:%M%:z",
            _ => "%Y-%m-%dT%H:%M:%S%:z",
        }
    } else {
        // A date with a zone: midnight there.
        let (date, zone) = v.split_at(v.len().saturating_sub(6));
        let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(err)?;
        let z = DateTime::parse_from_str(
            &format!("2000-01-01T00:00:00{zone}"),
            "%Y-%m-%dT%H:%M:%S%:z",
        )
        .map_err(err)?
        .offset()
        .to_owned();
        return z
            .from_local_datetime(&d.and_hms_opt(0, 0, 0).ok_or("midnight")?)
            .single()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| "not a time".to_owned());
    };
    let (naive, zone) = v.split_at(v.len().saturating_sub(6));
    let naive_fmt = fmt.trim_end_matches("%:z");
    let n = parse_naive(naive, naive_fmt)?;
    let z = DateTime::parse_from_str(
        &format!("2000-01-01T00:00:00{zone}"),
        "%Y-%m-%dT%H:%M:%S%:z",
    )
    .map_err(err)?
    .offset()
    .to_owned();
    z.from_local_datetime(&n)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| "not a time".to_owned())
}

/// chrono will not build a date-time from a layout without minutes; pad such values.
fn parse_naive(value: &str, fmt: &str) -> Result<NaiveDateTime, String> {
    let (value, fmt) = match fmt {
        "%Y-%m-%dT%H" => (format!("{value}:00:00"), "%Y-%m-%dT%H:%M:%S"),
        "%Y-%m-%dT%H:%M" => (format!("{value}:00"), "%Y-%m-%dT%H:%M:%S"),
        f => (value.to_owned(), f),
    };
    NaiveDateTime::parse_from_str(&value, fmt).map_err(|e| e.to_string())
}

/// `seconds[.fraction]`, the fraction cut to nanoseconds.
fn parse_unix(value: &str) -> Option<DateTime<Utc>> {
    let (s, frac) = match value.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (value, None),
    };
    let secs: i64 = s.parse().ok()?;
    let nanos = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            let digits: String = f.chars().chain(std::iter::repeat('0')).take(9).collect();
            digits.parse().ok()?
        }
        Some(_) => return None,
    };
    DateTime::from_timestamp(secs, nanos)
}

/// Go's `time.ParseDuration`: `[-+]` then one or more `<decimal><unit>` with units `ns`, `us`
/// (`µs`), `ms`, `s`, `m`, `h`; `0` alone is zero.
pub fn parse_go_duration(s: &str) -> Option<chrono::Duration> {
    let (neg, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(chrono::Duration::zero());
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." {
            return None;
        }
        let n: f64 = num.parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += n * nanos_per;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let d = chrono::Duration::nanoseconds(total as i64);
    Some(if neg { -d } else { d })
}

/// One file being read: its handle, inode, and how far it has been read.
struct Open {
    file: File,
    ino: u64,
    pos: u64,
}

impl Open {
    fn new(path: &Path) -> io::Result<Option<Open>> {
        match File::open(path) {
            Ok(file) => {
                let ino = file.metadata()?.ino();
                Ok(Some(Open { file, ino, pos: 0 }))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Appends what was added since the last read.
    fn read_more(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        if len < self.pos {
            // Truncated under us (copytruncate): start over.
            self.pos = 0;
        }
        self.file.seek(SeekFrom::Start(self.pos))?;
        let n = (&mut self.file).take(len - self.pos).read_to_end(out)?;
        self.pos += n as u64;
        Ok(())
    }
}

/// A container's log files, read oldest to newest, then followed. Files are opened when the
/// reader is made, so rotation while reading loses nothing.
pub struct LogReader {
    path: PathBuf,
    /// Whole rotated files still to read, oldest first.
    older: VecDeque<Open>,
    current: Option<Open>,
    /// Bytes of a record whose `\n` has not been written yet.
    partial: Vec<u8>,
}

impl LogReader {
    /// Opens `<dir>/<id>-json.log` and its rotated files, positioned at the oldest line. A
    /// container that has logged nothing yet (no file) reads as empty until its file appears.
    pub fn open(dir: &Path, id: &str) -> Result<LogReader, ReadError> {
        let path = log_file(dir, id);
        let io = |p: &Path, e| ReadError::Io(p.to_owned(), e);
        let mut older = VecDeque::new();
        for p in rotated(&path) {
            if let Some(o) = Open::new(&p).map_err(|e| io(&p, e))? {
                older.push_front(o);
            }
        }
        let current = Open::new(&path).map_err(|e| io(&path, e))?;
        Ok(LogReader {
            path,
            older,
            current,
            partial: Vec::new(),
        })
    }

    /// Every complete json-file line available now, in order, without their `\n`. Never
    /// blocks; call again (every [`POLL_INTERVAL`]) to follow.
    pub fn read_lines(&mut self) -> Result<Vec<Vec<u8>>, ReadError> {
        let io = |p: &Path, e| ReadError::Io(p.to_owned(), e);
        let mut bytes = Vec::new();
        while let Some(mut o) = self.older.pop_front() {
            o.read_more(&mut bytes).map_err(|e| io(&self.path, e))?;
            self.end_of_file(&mut bytes);
        }
        loop {
            let Some(cur) = self.current.as_mut() else {
                self.current = Open::new(&self.path).map_err(|e| io(&self.path, e))?;
                if self.current.is_none() {
                    break;
                }
                continue;
            };
            cur.read_more(&mut bytes).map_err(|e| io(&self.path, e))?;
            let now = match fs::metadata(&self.path) {
                Ok(m) => Some(m.ino()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(io(&self.path, e)),
            };
            if now == Some(cur.ino) {
                break;
            }
            // Rotated: the writer is done with our file; take its last bytes, then the files
            // rotated after it (newest is `.1`), then the new current file.
            cur.read_more(&mut bytes).map_err(|e| io(&self.path, e))?;
            let old_ino = cur.ino;
            self.end_of_file(&mut bytes);
            // When our file is not among them (max-file 1, or it was rotated off the end or
            // removed), nothing tells which of them are newer: read none rather than repeat.
            let mut newer = Vec::new();
            let mut found = false;
            for p in rotated(&self.path) {
                match Open::new(&p).map_err(|e| io(&p, e))? {
                    Some(o) if o.ino == old_ino => {
                        found = true;
                        break;
                    }
                    Some(o) => newer.push(o),
                    None => {}
                }
            }
            if !found {
                newer.clear();
            }
            for mut o in newer.into_iter().rev() {
                o.read_more(&mut bytes).map_err(|e| io(&self.path, e))?;
                self.end_of_file(&mut bytes);
            }
            self.current = None;
        }
        let mut all = std::mem::take(&mut self.partial);
        all.extend_from_slice(&bytes);
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut start = 0;
        while let Some(i) = all[start..].iter().position(|&b| b == b'\n') {
            let line = &all[start..start + i];
            if !line.is_empty() {
                lines.push(line.to_vec());
            }
            start += i + 1;
        }
        self.partial = all[start..].to_vec();
        Ok(lines)
    }

    /// At the end of a file that will not grow again, a last line without `\n` is complete
    /// (or torn); either way it must not be glued to the next file's first line.
    fn end_of_file(&mut self, bytes: &mut Vec<u8>) {
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
    }

    /// [`LogReader::read_lines`], decoded; lines that are not records are skipped, as Docker's
    /// reader skips what it cannot decode.
    pub fn read_entries(&mut self) -> Result<Vec<Entry>, ReadError> {
        Ok(self
            .read_lines()?
            .iter()
            .filter_map(|l| decode(l).ok())
            .collect())
    }

    /// Waits until there are new records and returns them (for `-f`), polling every
    /// [`POLL_INTERVAL`].
    pub async fn next_entries(&mut self) -> Result<Vec<Entry>, ReadError> {
        loop {
            let entries = self.read_entries()?;
            if !entries.is_empty() {
                return Ok(entries);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// `<path>.1`, `<path>.2`, ... that exist, newest first.
fn rotated(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    // Rotation numbers are dense from 1; a gap ends the list.
    for i in 1.. {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{i}"));
        let p = PathBuf::from(p);
        if !p.exists() {
            break;
        }
        out.push(p);
    }
    out
}

/// The history `berth logs` prints: the records now in the files, the last `tail` of them,
/// within the window. Returns the reader too, positioned after them, for `-f`.
pub fn read_history(
    dir: &Path,
    id: &str,
    options: &ReadOptions,
) -> Result<(Vec<Entry>, LogReader), ReadError> {
    let mut reader = LogReader::open(dir, id)?;
    let lines = reader.read_lines()?;
    Ok((select(&lines, options), reader))
}

/// Pure part of [`read_history`]: keeps the last `tail` decodable lines, then those in the
/// window (stopping at the first one after `until`).
pub fn select(lines: &[Vec<u8>], options: &ReadOptions) -> Vec<Entry> {
    let mut kept: VecDeque<Entry> = VecDeque::new();
    if options.tail == Some(0) {
        return Vec::new();
    }
    // Decode from the end so a short tail of a long history decodes little.
    for line in lines.iter().rev() {
        if options.tail.is_some_and(|n| kept.len() >= n) {
            break;
        }
        if let Ok(e) = decode(line) {
            kept.push_front(e);
        }
    }
    let mut out = Vec::with_capacity(kept.len());
    for e in kept {
        match options.window.place(e.time) {
            Place::Before => {}
            Place::Inside => out.push(e),
            Place::After => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::logs::format::{encode, Stream};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn time_args_as_docker_reads_them() {
        let now = utc("2026-11-26T10:00:00.75Z");
        let utc0 = FixedOffset::east_opt(0).unwrap();
        let cet = FixedOffset::east_opt(3600).unwrap();
        let p = |v: &str, z| parse_time_arg(v, now, z);
        assert_eq!(p("10m", utc0), Ok(utc("2026-11-26T09:50:00Z")));
        assert_eq!(p("1h30m", utc0), Ok(utc("2026-11-26T08:30:00Z")));
        assert_eq!(p("1.5s", utc0), Ok(utc("2026-11-26T09:59:59Z")));
        assert_eq!(p("-5s", utc0), Ok(utc("2026-11-26T10:00:05Z")));
        assert_eq!(p("0", utc0), Ok(utc("1970-01-01T00:00:00Z")));
        assert_eq!(p("1700000000", utc0), Ok(utc("2023-11-14T22:13:20Z")));
        assert_eq!(p("1700000000.5", utc0), Ok(utc("2023-11-14T22:13:20.5Z")));
        assert_eq!(
            p("2026-11-26T10:00:00.123456789Z", cet),
            Ok(utc("2026-11-26T10:00:00.123456789Z"))
        );
        assert_eq!(
            p("2026-11-26T10:00:00Z", cet),
            Ok(utc("2026-11-26T10:00:00Z"))
        );
        assert_eq!(
            p("2026-11-26T10:00:00+02:00", cet),
            Ok(utc("2026-11-26T08:00:00Z"))
        );
        assert_eq!(p("2026-11-26T10:00Z", cet), Ok(utc("2026-11-26T10:00:00Z")));
        assert_eq!(p("2026-11-26T10Z", cet), Ok(utc("2026-11-26T10:00:00Z")));
        // Without a zone: local time.
        assert_eq!(
            p("2026-11-26T10:00:00", cet),
            Ok(utc("2026-11-26T09:00:00Z"))
        );
        assert_eq!(p("2026-11-26T10:30", cet), Ok(utc("2026-11-26T09:30:00Z")));
        assert_eq!(p("2026-11-26T10", cet), Ok(utc("2026-11-26T09:00:00Z")));
        assert_eq!(
            p("2026-11-26T10:00:00.5", cet),
            Ok(utc("2026-11-26T09:00:00.5Z"))
        );
        assert_eq!(p("2026-11-26", cet), Ok(utc("2026-11-25T23:00:00Z")));
        assert_eq!(p("2026-11-26Z", cet), Ok(utc("2026-11-26T00:00:00Z")));
        assert_eq!(p("2026-11-26+02:00", cet), Ok(utc("2026-11-25T22:00:00Z")));
        assert!(matches!(
            p("2026-13-26", cet),
            Err(TimeArgError::BadTime(..))
        ));
        assert!(matches!(
            p("yesterday", cet),
            Err(TimeArgError::Unparsable(_))
        ));
        assert!(p("10x", cet).is_err());
    }

    #[test]
    fn go_durations() {
        let d = |s| parse_go_duration(s).map(|d| d.num_milliseconds());
        assert_eq!(d("300ms"), Some(300));
        assert_eq!(d("2h45m"), Some((2 * 3600 + 45 * 60) * 1000));
        assert_eq!(d("-1.5h"), Some(-5_400_000));
        assert_eq!(d("1µs"), Some(0));
        assert_eq!(d(""), None);
        assert_eq!(d("5"), None);
        assert_eq!(d("m"), None);
    }

    fn line(s: u32, log: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let t = utc("2026-11-26T10:00:00Z") + chrono::Duration::seconds(s.into());
        encode(&mut out, Stream::Stdout, t, log.as_bytes());
        out.pop();
        out
    }

    fn logs(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.log.as_str()).collect()
    }

    #[test]
    fn tail_then_window() {
        let lines: Vec<_> = (0..10).map(|i| line(i, &format!("{i}\n"))).collect();
        let all = ReadOptions::default();
        assert_eq!(select(&lines, &all).len(), 10);
        let tail3 = ReadOptions {
            tail: Some(3),
            ..Default::default()
        };
        assert_eq!(logs(&select(&lines, &tail3)), ["7\n", "8\n", "9\n"]);
        let tail0 = ReadOptions {
            tail: Some(0),
            ..Default::default()
        };
        assert!(select(&lines, &tail0).is_empty());
        let window = Window {
            since: Some(utc("2026-11-26T10:00:02Z")),
            until: Some(utc("2026-11-26T10:00:04Z")),
        };
        let w = ReadOptions { tail: None, window };
        assert_eq!(logs(&select(&lines, &w)), ["2\n", "3\n", "4\n"]);
        let w = ReadOptions {
            tail: Some(8),
            window,
        };
        assert_eq!(logs(&select(&lines, &w)), ["2\n", "3\n", "4\n"]);
        let mut bad = lines.clone();
        bad.insert(5, b"not json".to_vec());
        assert_eq!(select(&bad, &tail3).len(), 3);
        assert_eq!(parse_tail("all"), None);
        assert_eq!(parse_tail("5"), Some(5));
    }

    fn scratch() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "berth-logs-read-{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn append(p: &Path, lines: &[Vec<u8>]) {
        use std::io::Write;
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap();
        for l in lines {
            f.write_all(l).unwrap();
            f.write_all(b"\n").unwrap();
        }
    }

    #[test]
    fn reader_reads_rotated_files_in_order_and_follows_rotation() {
        let dir = scratch();
        let cur = dir.join("c-json.log");
        let p = |n: u32| dir.join(format!("c-json.log.{n}"));
        append(&p(2), &[line(0, "0\n")]);
        append(&p(1), &[line(1, "1\n")]);
        append(&cur, &[line(2, "2\n")]);
        let (entries, mut r) = read_history(&dir, "c", &ReadOptions::default()).unwrap();
        assert_eq!(logs(&entries), ["0\n", "1\n", "2\n"]);
        assert!(r.read_entries().unwrap().is_empty());

        // Growth, including a record whose end comes in a later write.
        append(&cur, &[line(3, "3\n")]);
        let half = line(4, "4\n");
        {
            use std::io::Write;
            let mut f = fs::OpenOptions::new().append(true).open(&cur).unwrap();
            f.write_all(&half[..10]).unwrap();
        }
        assert_eq!(logs(&r.read_entries().unwrap()), ["3\n"]);
        {
            use std::io::Write;
            let mut f = fs::OpenOptions::new().append(true).open(&cur).unwrap();
            f.write_all(&half[10..]).unwrap();
            f.write_all(b"\n").unwrap();
        }
        assert_eq!(logs(&r.read_entries().unwrap()), ["4\n"]);

        // Two rotations between reads (max-file 3): our file went to .2, a file we never saw is
        // .1, and a new current file exists.
        append(&cur, &[line(5, "5\n")]);
        fs::remove_file(p(2)).unwrap();
        fs::rename(p(1), p(2)).unwrap();
        fs::rename(&cur, p(1)).unwrap();
        append(&cur, &[line(6, "6\n")]);
        fs::remove_file(p(2)).unwrap();
        fs::rename(p(1), p(2)).unwrap();
        fs::rename(&cur, p(1)).unwrap();
        append(&cur, &[line(7, "7\n")]);
        assert_eq!(logs(&r.read_entries().unwrap()), ["5\n", "6\n", "7\n"]);

        // max-file 1: the file is replaced by a new one.
        fs::remove_file(&cur).unwrap();
        assert!(r.read_entries().unwrap().is_empty());
        append(&cur, &[line(8, "8\n")]);
        assert_eq!(logs(&r.read_entries().unwrap()), ["8\n"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_container_without_logs_yet_reads_empty_then_follows() {
        let dir = scratch();
        let mut r = LogReader::open(&dir, "c").unwrap();
        assert!(r.read_entries().unwrap().is_empty());
        append(&dir.join("c-json.log"), &[line(0, "hi\n")]);
        assert_eq!(logs(&r.read_entries().unwrap()), ["hi\n"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
