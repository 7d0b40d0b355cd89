//! The standard streams of a process berth attaches to (`exec`, attached `run`): the FIFOs the
//! containerd shim reads and writes, the threads that copy berth's own stdin, stdout and stderr
//! through them, the local terminal in raw mode while a TTY is attached, and the signals that
//! follow the process (window size changes become ResizePty; SIGINT, SIGTERM and SIGHUP are
//! forwarded). Talks to containerd only through `crate::containerd`'s typed calls.
//!
//! How the shim uses the FIFOs: it opens stdout (and stderr) for writing when the process
//! starts and closes them once the process's output is copied, so a reader sees end of file
//! after the last byte; with a TTY it makes the pseudo-terminal itself and copies its output to
//! the stdout FIFO. It reads the stdin FIFO into the process, but holds a writer of its own, so
//! the process sees end of file only after berth closes its end *and* calls CloseIO.
//!
//! The copies run on plain threads, not tokio's blocking pool: a thread blocked reading berth's
//! own stdin must not keep the runtime (and so berth) from exiting when the process is done.
//!
//! The terminal library is rustix (termios, window size, isatty, mkfifo): it is already in the
//! tree through terminal_size, is maintained, and is a safe wrapper, so no `unsafe` is needed
//! here. crossterm would add a second terminal stack for what four calls do.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::termios::{self, OptionalActions, Termios};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;

use super::AppError;
use crate::containerd::{Client, Stdio};

/// How long berth waits, once the process has exited, for the shim to finish copying its
/// output. Output stays open past the exit only while a background child of an exec holds it;
/// Docker waits for such a child, berth stops waiting after this.
const OUTPUT_GRACE: Duration = Duration::from_secs(10);

/// The FIFOs of one attached process, in a directory of their own.
#[derive(Debug)]
pub struct Fifos {
    dir: PathBuf,
    stdin: Option<PathBuf>,
    stdout: PathBuf,
    /// `None` with a TTY: the terminal carries both streams.
    stderr: Option<PathBuf>,
    tty: bool,
}

impl Fifos {
    /// Makes `dir` and the FIFOs in it (`stdin` only when the process reads berth's stdin).
    pub fn create(dir: &Path, stdin: bool, tty: bool) -> Result<Fifos, AppError> {
        let fail = |p: &Path, e: &dyn std::fmt::Display| {
            AppError::Other(format!("create FIFO {}: {e}", p.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(dir, &e))?;
        let make = |name: &str| -> Result<PathBuf, AppError> {
            let p = dir.join(name);
            let _ = std::fs::remove_file(&p);
            rustix::fs::mkfifoat(rustix::fs::CWD, &p, rustix::fs::Mode::from_raw_mode(0o600))
                .map_err(|e| fail(&p, &e))?;
            Ok(p)
        };
        let fifos = Fifos {
            dir: dir.to_owned(),
            stdin: if stdin { Some(make("stdin")?) } else { None },
            stdout: make("stdout")?,
            stderr: if tty { None } else { Some(make("stderr")?) },
            tty,
        };
        Ok(fifos)
    }

    /// The URIs for containerd: plain paths are FIFOs to the shim.
    pub fn stdio(&self) -> Stdio {
        let path = |p: &Path| p.display().to_string();
        Stdio {
            stdin: self.stdin.as_deref().map(path),
            stdout: path(&self.stdout),
            stderr: self.stderr.as_deref().map(path).unwrap_or_default(),
            terminal: self.tty,
        }
    }

    /// Releases copy threads still blocked opening a FIFO (the process never started): opening
    /// a FIFO read-write never blocks and counts as the partner they wait for.
    fn unblock(&self) {
        for p in [
            Some(&self.stdout),
            self.stderr.as_ref(),
            self.stdin.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            let _ = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                .open(p);
        }
    }

    /// Removes the FIFOs and their directory (the shim keeps what it opened).
    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The local terminal in raw mode; dropping it restores the saved settings, on every path out
/// (return, error, panic unwinding).
pub struct RawTerminal {
    saved: Termios,
}

impl RawTerminal {
    /// Puts berth's stdin terminal in raw mode; `None` when stdin is no terminal.
    pub fn enter() -> Result<Option<RawTerminal>, AppError> {
        let stdin = std::io::stdin();
        if !termios::isatty(stdin.as_fd()) {
            return Ok(None);
        }
        let err = |e: rustix::io::Errno| AppError::Other(format!("terminal: {e}"));
        let saved = termios::tcgetattr(stdin.as_fd()).map_err(err)?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &raw).map_err(err)?;
        Ok(Some(RawTerminal { saved }))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), OptionalActions::Now, &self.saved);
    }
}

/// Whether berth's stdin / stdout is a terminal.
pub fn stdin_is_terminal() -> bool {
    termios::isatty(std::io::stdin().as_fd())
}

pub fn stdout_is_terminal() -> bool {
    termios::isatty(std::io::stdout().as_fd())
}

/// The local terminal's size as (columns, rows), from stdout, else stdin.
pub fn terminal_size() -> Option<(u32, u32)> {
    let ws = termios::tcgetwinsize(std::io::stdout().as_fd())
        .or_else(|_| termios::tcgetwinsize(std::io::stdin().as_fd()))
        .ok()?;
    (ws.ws_col > 0 && ws.ws_row > 0).then(|| (u32::from(ws.ws_col), u32::from(ws.ws_row)))
}

/// Which local stream a FIFO's output goes to.
#[derive(Clone, Copy)]
enum Out {
    Stdout,
    Stderr,
}

/// Copies `fifo` to berth's stdout or stderr until the shim closes it; signals `done` after.
fn copy_out(fifo: PathBuf, to: Out, done: oneshot::Sender<()>) {
    std::thread::spawn(move || {
        // blocks until the shim opens its end
        if let Ok(mut f) = File::open(&fifo) {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = match f.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                // flushed at once: a prompt has no newline to flush a line buffer
                let r = match to {
                    Out::Stdout => {
                        let mut o = std::io::stdout().lock();
                        o.write_all(&buf[..n]).and_then(|()| o.flush())
                    }
                    Out::Stderr => {
                        let mut o = std::io::stderr().lock();
                        o.write_all(&buf[..n]).and_then(|()| o.flush())
                    }
                };
                if r.is_err() {
                    break;
                }
            }
        }
        let _ = done.send(());
    });
}

/// Copies berth's stdin into `fifo` until end of file; signals `done` after closing its end.
fn copy_in(fifo: PathBuf, done: oneshot::Sender<()>) {
    std::thread::spawn(move || {
        // blocks until the shim opens its end
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) {
            let mut stdin = std::io::stdin().lock();
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if f.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
        let _ = done.send(());
    });
}

/// Resolves when the stdin copy has finished; never when there is none (or it was handled).
async fn stdin_closed(done: &mut Option<oneshot::Receiver<()>>) {
    match done {
        Some(rx) => {
            let _ = rx.await;
        }
        None => std::future::pending().await,
    }
}

/// The process berth is attached to: a task's init process (`exec_id` empty) or an exec.
pub struct Target<'a> {
    pub client: &'a Client,
    pub container: &'a str,
    pub exec_id: &'a str,
}

/// Attaches berth's streams to the process through `fifos`, runs `start` (which makes the
/// process run), forwards window size changes and signals until it exits, waits for its
/// output, and returns its exit status. The terminal is raw while a TTY is attached and
/// restored before this returns.
pub async fn attach<F>(target: Target<'_>, fifos: &Fifos, start: F) -> Result<u32, AppError>
where
    F: std::future::Future<Output = Result<(), AppError>>,
{
    // Installed before the process starts, so a signal that comes as soon as it runs is
    // forwarded rather than ending berth.
    let sig = |k: SignalKind| {
        signal(k).map_err(|e| AppError::Other(format!("install a signal handler: {e}")))
    };
    let mut winch = sig(SignalKind::window_change())?;
    let mut int = sig(SignalKind::interrupt())?;
    let mut term = sig(SignalKind::terminate())?;
    let mut hup = sig(SignalKind::hangup())?;
    let raw = if fifos.tty {
        RawTerminal::enter()?
    } else {
        None
    };
    let mut outputs = Vec::new();
    let (tx, rx) = oneshot::channel();
    copy_out(fifos.stdout.clone(), Out::Stdout, tx);
    outputs.push(rx);
    if let Some(p) = &fifos.stderr {
        let (tx, rx) = oneshot::channel();
        copy_out(p.clone(), Out::Stderr, tx);
        outputs.push(rx);
    }
    let mut stdin_done = match &fifos.stdin {
        Some(p) => {
            let (tx, rx) = oneshot::channel();
            copy_in(p.clone(), tx);
            Some(rx)
        }
        None => None,
    };

    if let Err(e) = start.await {
        fifos.unblock();
        drop(raw);
        return Err(e);
    }
    let (client, id, exec) = (target.client, target.container, target.exec_id);
    if fifos.tty {
        if let Some((w, h)) = terminal_size() {
            let _ = client.exec_resize(id, exec, w, h).await;
        }
    }
    let wait = client.exec_wait(id, exec);
    tokio::pin!(wait);
    let status = loop {
        tokio::select! {
            r = &mut wait => break r?,
            () = stdin_closed(&mut stdin_done) => {
                stdin_done = None;
                // the process reads end of file once the shim's own writer is closed too
                let _ = client.close_io(id, exec).await;
            }
            Some(()) = winch.recv() => {
                if let Some((w, h)) = terminal_size() {
                    let _ = client.exec_resize(id, exec, w, h).await;
                }
            }
            Some(()) = int.recv() => { let _ = client.exec_kill(id, exec, 2).await; }
            Some(()) = term.recv() => { let _ = client.exec_kill(id, exec, 15).await; }
            Some(()) = hup.recv() => { let _ = client.exec_kill(id, exec, 1).await; }
        }
    };
    let _ = tokio::time::timeout(OUTPUT_GRACE, async {
        for rx in outputs {
            let _ = rx.await;
        }
    })
    .await;
    drop(raw);
    Ok(status.code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_are_made_and_named_in_the_uris() {
        let dir = std::env::temp_dir().join(format!("berth-stdio-{}", std::process::id()));
        let plain = Fifos::create(&dir.join("plain"), true, false).unwrap();
        let s = plain.stdio();
        assert!(!s.terminal);
        for p in [s.stdin.as_deref().unwrap(), &s.stdout, &s.stderr] {
            let meta = std::fs::metadata(p).unwrap();
            assert!(
                std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()),
                "{p}"
            );
        }
        // with a TTY the terminal carries both streams, and no stdin when none is attached
        let tty = Fifos::create(&dir.join("tty"), false, true).unwrap();
        let t = tty.stdio();
        assert!(t.terminal && t.stdin.is_none() && t.stderr.is_empty());
        plain.remove();
        assert!(!dir.join("plain").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
