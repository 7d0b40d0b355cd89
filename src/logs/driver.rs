//! The log driver the containerd shim runs: berth exec'd through a `binary://` stdio URI (see
//! [`super::options`] for how the shim calls it). It reads the container's stdout (fd 3) and
//! stderr (fd 4), writes Docker json-file records to `<dir>/<id>-json.log` with rotation, closes
//! the ready pipe (fd 5) once the file is open, and exits when both streams reach end of file.
//!
//! It is the shim's child, not the CLI's: it lives as long as the task's stdio, whatever happens
//! to the berth that started the container. The shim closes the pipes when the task is deleted
//! and then sends SIGTERM, killing after 12 s; on SIGTERM the driver keeps reading until end of
//! file for up to [`TERM_GRACE`], flushes, and exits. SIGINT and SIGHUP are ignored.
//!
//! Lines are cut as Docker's copier (`daemon/logger/copier.go`) cuts them: at `\n`, which stays
//! in `log`; a line longer than 16 KiB is written in 16 KiB pieces without `\n` that share the
//! first piece's time; text left at end of file is written without `\n`.
//!
//! Writes are buffered and flushed once per read, so `logs -f` sees each burst promptly.
//! Unlike Docker, which rotates once a file has reached max-size (and so lets it overshoot by
//! a record), a record that would take the file past max-size goes to a fresh file: no file is
//! larger than max-size unless one record alone is.
//!
//! It also runs the container's health checks (`crate::health::prober`) when berth wrote a
//! `healthcheck.json` into its directory: a task on the driver's runtime beside the pumps,
//! started after the ready pipe is closed, so probing never delays the container or its logs.
//!
//! Must not import anything of containerd (the prober owns that), or the CLI.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::format::{encode, Stream};
use super::options::{log_file, DriverConfig, Rotation};

/// Docker's copier buffer: the longest piece of a line written as one record.
pub const MAX_LINE: usize = 16 * 1024;
/// How long the driver goes on reading after SIGTERM (the shim kills it after 12 s).
pub const TERM_GRACE: Duration = Duration::from_secs(10);

const STDOUT_FD: i32 = 3;
const STDERR_FD: i32 = 4;
const READY_FD: i32 = 5;

/// Runs the driver when `args` (argv without the program name) is the driver's; `None` for
/// any other command line. Called first thing in `main`, before clap.
pub fn run_if_invoked(args: &[OsString]) -> Option<i32> {
    let config = DriverConfig::from_args(args)?;
    Some(match config {
        Ok(config) => run(&config),
        Err(e) => {
            // stderr is /dev/null under the shim; this is for a person running it by hand.
            eprintln!("berth log driver: {e}");
            drain_and_exit()
        }
    })
}

/// Cuts one stream into records the way Docker's copier does. Pure: the caller reads and
/// stamps.
#[derive(Debug, Default)]
pub struct Splitter {
    buf: Vec<u8>,
    /// The time of the first piece of a line cut at [`MAX_LINE`], while its pieces go on.
    partial_time: Option<DateTime<Utc>>,
}

/// One record to write: `log` includes the `\n` of a complete line.
#[derive(Debug, PartialEq, Eq)]
pub struct Record {
    pub time: DateTime<Utc>,
    pub log: Vec<u8>,
}

impl Splitter {
    /// How many bytes the next read may add (never 0 while [`Splitter::push`] is used).
    pub fn room(&self) -> usize {
        MAX_LINE - self.buf.len()
    }

    /// Takes `data` (at most [`Splitter::room`] bytes) read at `now`; appends the records it
    /// completes to `out`.
    pub fn push(&mut self, data: &[u8], now: DateTime<Utc>, out: &mut Vec<Record>) {
        self.buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(i) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + i + 1;
            let time = self.partial_time.take().unwrap_or(now);
            out.push(Record {
                time,
                log: self.buf[start..end].to_vec(),
            });
            start = end;
        }
        self.buf.drain(..start);
        if self.buf.len() >= MAX_LINE {
            self.cut_partial(now, out);
        }
    }

    /// End of file: what is left becomes a record without `\n`.
    pub fn finish(&mut self, now: DateTime<Utc>, out: &mut Vec<Record>) {
        if !self.buf.is_empty() {
            self.cut_partial(now, out);
        }
    }

    fn cut_partial(&mut self, now: DateTime<Utc>, out: &mut Vec<Record>) {
        let time = *self.partial_time.get_or_insert(now);
        out.push(Record {
            time,
            log: std::mem::take(&mut self.buf),
        });
    }
}

/// `<id>-json.log` and its rotated files, written through a buffer.
pub struct JsonFile {
    path: PathBuf,
    rotation: Rotation,
    file: Option<BufWriter<File>>,
    size: u64,
    scratch: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("create log directory {}: {}", .0.display(), .1)]
    Dir(PathBuf, io::Error),
    #[error("open {}: {}", .0.display(), .1)]
    Open(PathBuf, io::Error),
    #[error("write {}: {}", .0.display(), .1)]
    Write(PathBuf, io::Error),
    #[error("rotate {}: {}", .0.display(), .1)]
    Rotate(PathBuf, io::Error),
    #[error("CONTAINER_ID {0:?} is not a container id")]
    Id(String),
    #[error("fd {0} is not open: the driver runs only under the containerd shim")]
    Fd(i32),
}

impl JsonFile {
    /// Opens (appending to) `<dir>/<id>-json.log`, creating the directory.
    pub fn open(dir: &Path, id: &str, rotation: Rotation) -> Result<JsonFile, DriverError> {
        fs::create_dir_all(dir).map_err(|e| DriverError::Dir(dir.to_owned(), e))?;
        let mut f = JsonFile {
            path: log_file(dir, id),
            rotation,
            file: None,
            size: 0,
            scratch: Vec::with_capacity(512),
        };
        f.reopen(false)?;
        Ok(f)
    }

    fn reopen(&mut self, truncate: bool) -> Result<(), DriverError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .truncate(false)
            .mode(0o640)
            .open(&self.path)
            .map_err(|e| DriverError::Open(self.path.clone(), e))?;
        if truncate {
            file.set_len(0)
                .map_err(|e| DriverError::Open(self.path.clone(), e))?;
        }
        self.size = file
            .metadata()
            .map_err(|e| DriverError::Open(self.path.clone(), e))?
            .len();
        self.file = Some(BufWriter::with_capacity(64 * 1024, file));
        Ok(())
    }

    /// Appends the records of one read, rotating as needed. Not flushed: see [`JsonFile::flush`].
    pub fn write(&mut self, stream: Stream, records: &[Record]) -> Result<(), DriverError> {
        for r in records {
            self.scratch.clear();
            encode(&mut self.scratch, stream, r.time, &r.log);
            let len = self.scratch.len() as u64;
            if self.size > 0 && self.size + len > self.rotation.max_size {
                self.rotate()?;
            }
            if self.file.is_none() {
                // An earlier failure left no file; try again rather than lose every line.
                self.reopen(false)?;
            }
            let Some(w) = self.file.as_mut() else {
                continue;
            };
            if let Err(e) = w.write_all(&self.scratch) {
                // Drop the writer (and what it buffered) so the next record starts clean.
                self.file = None;
                return Err(DriverError::Write(self.path.clone(), e));
            }
            self.size += len;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), DriverError> {
        match self.file.as_mut().map(BufWriter::flush) {
            Some(Err(e)) => {
                self.file = None;
                Err(DriverError::Write(self.path.clone(), e))
            }
            _ => Ok(()),
        }
    }

    /// Docker's rotation: `.{max-file - 1}` goes, each `.{i}` becomes `.{i+1}`, the current file
    /// becomes `.1`, and a new current file starts. With max-file 1 the current file is emptied.
    fn rotate(&mut self) -> Result<(), DriverError> {
        self.flush()?;
        self.file = None;
        let max = self.rotation.max_file;
        let numbered = |i: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{i}"));
            PathBuf::from(p)
        };
        let err = |p: &Path, e| DriverError::Rotate(p.to_owned(), e);
        if max >= 2 {
            remove_if_there(&numbered(max - 1)).map_err(|e| err(&numbered(max - 1), e))?;
            for i in (2..max).rev() {
                rename_if_there(&numbered(i - 1), &numbered(i))
                    .map_err(|e| err(&numbered(i), e))?;
            }
            rename_if_there(&self.path, &numbered(1)).map_err(|e| err(&self.path, e))?;
            self.reopen(false)
        } else {
            // Readers may hold the file open: a new inode rather than truncating under them.
            remove_if_there(&self.path).map_err(|e| err(&self.path, e))?;
            self.reopen(true)
        }
    }
}

fn remove_if_there(p: &Path) -> io::Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_there(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Takes ownership of inherited descriptor `fd` after checking it is open.
fn take_fd(fd: i32) -> Result<OwnedFd, DriverError> {
    if fs::symlink_metadata(format!("/proc/self/fd/{fd}")).is_err() {
        return Err(DriverError::Fd(fd));
    }
    // SAFETY: `fd` is open (checked just above) and was inherited from the shim for this
    // purpose; nothing else in this process refers to it, and each fd is taken once, here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Copies one stream into the shared file until end of file.
fn pump(mut src: File, stream: Stream, out: &Mutex<JsonFile>) {
    let mut splitter = Splitter::default();
    let mut buf = vec![0u8; MAX_LINE];
    let mut records = Vec::new();
    loop {
        let room = splitter.room();
        let eof = match src.read(&mut buf[..room]) {
            Ok(0) => true,
            Ok(n) => {
                splitter.push(&buf[..n], Utc::now(), &mut records);
                false
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("berth log driver: read {}: {e}", stream.as_str());
                true
            }
        };
        if eof {
            splitter.finish(Utc::now(), &mut records);
        }
        if !records.is_empty() {
            // A poisoned lock only means another pump panicked mid-write; the file is still
            // usable.
            let mut f = out.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = f.write(stream, &records).and_then(|()| f.flush()) {
                eprintln!("berth log driver: {e}");
            }
            records.clear();
        }
        if eof {
            return;
        }
    }
}

fn run(config: &DriverConfig) -> i32 {
    let id = std::env::var("CONTAINER_ID").unwrap_or_default();
    let namespace = std::env::var("CONTAINER_NAMESPACE").unwrap_or_default();
    if id.is_empty() || id.contains('/') || id == "." || id == ".." {
        eprintln!("berth log driver: {}", DriverError::Id(id));
        return drain_and_exit();
    }
    let fds = (take_fd(STDOUT_FD), take_fd(STDERR_FD), take_fd(READY_FD));
    let (stdout, stderr, ready) = match fds {
        (Ok(o), Ok(e), Ok(r)) => (o, e, r),
        (o, e, r) => {
            for err in [o.err(), e.err(), r.err()].into_iter().flatten() {
                eprintln!("berth log driver: {err}");
            }
            return 1;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth log driver: async runtime: {e}");
            return 1;
        }
    };
    rt.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        // Registered before the shim is told we are ready, so its SIGTERM never kills us
        // mid-write; SIGINT and SIGHUP are caught and never acted on.
        let term = signal(SignalKind::terminate());
        let _ignored = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        );
        let dir = config.dir_for(&namespace, &id);
        let file = match JsonFile::open(&dir, &id, config.rotation.clone()) {
            Ok(f) => Some(Arc::new(Mutex::new(f))),
            Err(e) => {
                eprintln!("berth log driver: {e}");
                None
            }
        };
        // The shim waits for this close before it starts the container.
        drop(ready);
        let _prober = tokio::spawn(crate::health::prober::run(dir.clone(), id.clone()));
        let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(2);
        for (fd, stream) in [(stdout, Stream::Stdout), (stderr, Stream::Stderr)] {
            let file = file.clone();
            let done = done_tx.clone();
            std::thread::spawn(move || {
                let src = File::from(fd);
                match file {
                    Some(f) => pump(src, stream, &f),
                    // Without a file, still read: a container whose output has no reader
                    // would get EPIPE or die of SIGPIPE.
                    None => discard(src),
                }
                let _ = done.blocking_send(());
            });
        }
        drop(done_tx);
        let both_done = async { while done_rx.recv().await.is_some() {} };
        match term {
            Ok(mut term) => {
                tokio::pin!(both_done);
                tokio::select! {
                    () = &mut both_done => {}
                    _ = term.recv() => {
                        let _ = tokio::time::timeout(TERM_GRACE, both_done).await;
                    }
                }
            }
            Err(_) => both_done.await,
        }
        if let Some(f) = file {
            let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = f.flush() {
                eprintln!("berth log driver: {e}");
            }
        }
    });
    // The pumps may still block in read() after a SIGTERM grace ran out: exit without them.
    0
}

fn discard(mut src: File) {
    let _ = io::copy(&mut src, &mut io::sink());
}

/// For a driver that cannot write: keeps the container's streams read (see `run`) and signals
/// ready, so the container runs on without logs rather than dying on a broken pipe.
fn drain_and_exit() -> i32 {
    let fds = [take_fd(STDOUT_FD), take_fd(STDERR_FD)];
    drop(take_fd(READY_FD));
    let threads: Vec<_> = fds
        .into_iter()
        .flatten()
        .map(|fd| std::thread::spawn(move || discard(File::from(fd))))
        .collect();
    for t in threads {
        let _ = t.join();
    }
    1
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::logs::format::decode;
    use chrono::TimeZone;

    fn at(s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, s).unwrap()
    }

    fn logs(records: &[Record]) -> Vec<(String, u32)> {
        records
            .iter()
            .map(|r| {
                (
                    String::from_utf8(r.log.clone()).unwrap(),
                    r.time.timestamp() as u32 % 60,
                )
            })
            .collect()
    }

    #[test]
    fn splitter_cuts_at_newlines_and_keeps_them() {
        let mut s = Splitter::default();
        let mut out = Vec::new();
        s.push(b"one\ntw", at(1), &mut out);
        s.push(b"o\n\nthree", at(2), &mut out);
        s.finish(at(3), &mut out);
        assert_eq!(
            logs(&out),
            [
                ("one\n".into(), 1),
                ("two\n".into(), 2),
                ("\n".into(), 2),
                ("three".into(), 3)
            ]
        );
        out.clear();
        s.finish(at(4), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn long_lines_go_out_in_16k_pieces_with_the_first_pieces_time() {
        let mut s = Splitter::default();
        let mut out = Vec::new();
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        for (t, chunk) in (0u32..).zip(long.chunks(5000)) {
            let n = chunk.len().min(s.room());
            // The pump never reads more than `room`.
            s.push(&chunk[..n], at(t), &mut out);
            s.push(&chunk[n..], at(t), &mut out);
        }
        s.push(b"\nnext\n", at(9), &mut out);
        let lens: Vec<_> = out.iter().map(|r| r.log.len()).collect();
        assert_eq!(lens, [MAX_LINE, MAX_LINE, 11, 5]);
        let first = out[0].time;
        assert!(out[..3].iter().all(|r| r.time == first));
        assert!(!out[1].log.ends_with(b"\n"));
        assert!(out[2].log.ends_with(b"\n"));
        assert_eq!(out[3].time, at(9));
    }

    fn files(dir: &Path) -> Vec<(String, u64)> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().into_string().unwrap(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        v.sort();
        v
    }

    fn scratch() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "berth-logs-unit-{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn rotation_keeps_max_file_files_of_at_most_max_size() {
        let dir = scratch();
        let rotation = Rotation {
            max_size: 300,
            max_file: 3,
        };
        let mut f = JsonFile::open(&dir, "c1", rotation.clone()).unwrap();
        for i in 0..40 {
            let r = Record {
                time: at(0),
                log: format!("line {i}\n").into_bytes(),
            };
            f.write(Stream::Stdout, &[r]).unwrap();
            f.flush().unwrap();
        }
        let got = files(&dir);
        let names: Vec<_> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["c1-json.log", "c1-json.log.1", "c1-json.log.2"]);
        assert!(
            got.iter().all(|(_, len)| *len <= 300 && *len > 0),
            "{got:?}"
        );
        // The newest line is last in the current file, and older files hold older lines.
        let current = fs::read(dir.join("c1-json.log")).unwrap();
        let last = current.split(|&b| b == b'\n').rev().nth(1).unwrap();
        assert_eq!(decode(last).unwrap().log, "line 39\n");
        let older = fs::read(dir.join("c1-json.log.2")).unwrap();
        let first = decode(older.split(|&b| b == b'\n').next().unwrap()).unwrap();
        let n: u32 = first.log.trim()[5..].parse().unwrap();
        assert!(n < 39);

        // Reopening appends to the current file (or rotates it first, as it is full).
        drop(f);
        let mut f = JsonFile::open(&dir, "c1", rotation).unwrap();
        f.write(
            Stream::Stderr,
            &[Record {
                time: at(1),
                log: b"x\n".to_vec(),
            }],
        )
        .unwrap();
        f.flush().unwrap();
        let current = fs::read(dir.join("c1-json.log")).unwrap();
        let last = current.split(|&b| b == b'\n').rev().nth(1).unwrap();
        let last = decode(last).unwrap();
        assert_eq!((last.stream, last.log.as_str()), (Stream::Stderr, "x\n"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn max_file_one_starts_the_file_over() {
        let dir = scratch();
        let mut f = JsonFile::open(
            &dir,
            "c2",
            Rotation {
                max_size: 200,
                max_file: 1,
            },
        )
        .unwrap();
        for i in 0..20 {
            let r = Record {
                time: at(0),
                log: format!("line {i}\n").into_bytes(),
            };
            f.write(Stream::Stdout, &[r]).unwrap();
        }
        f.flush().unwrap();
        let got = files(&dir);
        assert_eq!(got.len(), 1);
        assert!(got[0].1 <= 200);
        fs::remove_dir_all(&dir).unwrap();
    }
}
