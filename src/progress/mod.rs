//! Progress events and their renderers (tty, plain, json, quiet), as Docker Compose v2 shows them.
//!
//! Library code (`app`, `image`) gets a [`Progress`], a cheap cloneable sender, and reports
//! [`Event`]s through it; it never prints. The renderer runs on its own thread, started by the CLI
//! with [`start`], and writes to stderr; [`Handle::finish`] draws the last frame and returns.
//! This module imports nothing from the rest of berth.
//!
//! ```
//! use berth::progress::{self, Event, Mode};
//!
//! let (progress, handle) = progress::start(Mode::Quiet, "Pulling");
//! progress.send(Event::pulling("web"));
//! progress.send(Event::pulling_fs_layer("4abcf2066143", "web"));
//! progress.send(Event::downloading("4abcf2066143", "web", 1_200_000, 3_400_000));
//! progress.send(Event::pull_complete("4abcf2066143", "web"));
//! progress.send(Event::pulled("web"));
//! handle.finish().unwrap();
//! ```

mod event;
mod format;
mod tty;

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use event::{
    container_id, network_id, short_id, volume_create_id, volume_remove_id, Event, Status,
};
pub use format::{
    docker_progress, header, human_size, human_size_precision, json_line, json_tail, plain_line,
    tty_line, Aggregate, LineLayout, Palette,
};
pub use tty::TtyView;

/// How often the tty view is redrawn, as compose's ticker.
const TICK: Duration = Duration::from_millis(100);
/// Plain and json lines for byte-count updates of one resource are at most this frequent.
const BYTE_UPDATE_INTERVAL: Duration = Duration::from_millis(100);

/// Errors of the progress module.
#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    #[error("unsupported --progress value {0:?}")]
    UnsupportedMode(String),
    #[error("can't use --progress tty while ANSI support is disabled")]
    TtyWithoutAnsi,
    #[error("can't use --progress plain while ANSI support is forced")]
    PlainWithAnsiForced,
    #[error("write progress output: {0}")]
    Write(#[from] std::io::Error),
    #[error("the progress renderer stopped unexpectedly")]
    RendererPanicked,
}

/// The `--progress` modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// tty when stderr is a terminal, else plain.
    Auto,
    Tty,
    Plain,
    Json,
    Quiet,
}

impl Mode {
    /// The mode from `--progress` and the effective `--ansi` (see [`effective_ansi`]), with
    /// compose's rules: `--ansi never` turns auto into plain and refuses tty; `--ansi always`
    /// refuses plain (and otherwise changes nothing: auto still probes stderr); `none` is quiet.
    pub fn from_flags(progress: &str, ansi: &str) -> Result<Mode, ProgressError> {
        match progress {
            "" | "auto" if ansi == "never" => Ok(Mode::Plain),
            "" | "auto" => Ok(Mode::Auto),
            "tty" if ansi == "never" => Err(ProgressError::TtyWithoutAnsi),
            "tty" => Ok(Mode::Tty),
            "plain" if ansi == "always" => Err(ProgressError::PlainWithAnsiForced),
            "plain" => Ok(Mode::Plain),
            "json" => Ok(Mode::Json),
            "quiet" | "none" => Ok(Mode::Quiet),
            other => Err(ProgressError::UnsupportedMode(other.to_string())),
        }
    }

    /// The mode actually drawn: auto is tty only on a terminal, and tty falls back to plain off
    /// a terminal (compose warns "Terminal is not a POSIX console" and does the same).
    pub fn resolve(self, stderr_is_terminal: bool) -> Mode {
        match self {
            Mode::Auto | Mode::Tty if stderr_is_terminal => Mode::Tty,
            Mode::Auto | Mode::Tty => Mode::Plain,
            other => other,
        }
    }
}

/// `--ansi` as compose takes it: `COMPOSE_ANSI` replaces it when the flag was not given.
pub fn effective_ansi(flag: Option<&str>, compose_ansi_env: Option<&str>) -> String {
    match (flag, compose_ansi_env) {
        (Some(flag), _) => flag.to_string(),
        (None, Some(env)) => env.to_string(),
        (None, None) => "auto".to_string(),
    }
}

/// Compose turns progress colours off when `NO_COLOR` is set to anything but the empty string.
pub fn colors_from_env(no_color: Option<&str>) -> bool {
    no_color.is_none_or(str::is_empty)
}

#[derive(Debug)]
enum Message {
    Event(Event),
    Tail(String),
    Stop,
}

/// The sender library code reports through. Cheap to clone and to share between tasks and
/// threads; sending never blocks and never fails (after [`Handle::finish`] events are dropped).
#[derive(Clone, Debug)]
pub struct Progress {
    tx: Option<mpsc::Sender<Message>>,
}

impl Progress {
    /// A sender that goes nowhere, for callers with no renderer (tests, nested operations).
    pub fn disabled() -> Progress {
        Progress { tx: None }
    }

    pub fn send(&self, event: Event) {
        if let Some(tx) = &self.tx {
            // The renderer has stopped: progress is best effort, nothing to do.
            let _ = tx.send(Message::Event(event));
        }
    }

    pub fn send_all(&self, events: impl IntoIterator<Item = Event>) {
        for event in events {
            self.send(event);
        }
    }

    /// A message printed after the events (in the tty view, under the last frame), such as
    /// "WARNING: Some service image(s) must be built from source by running: ...".
    pub fn tail(&self, message: impl Into<String>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Message::Tail(message.into()));
        }
    }
}

/// The running renderer. [`Handle::finish`] stops it; dropping it does the same, ignoring errors.
#[derive(Debug)]
pub struct Handle {
    tx: mpsc::Sender<Message>,
    thread: Option<JoinHandle<Result<(), std::io::Error>>>,
    mode: Mode,
}

impl Handle {
    /// The mode being drawn (auto resolved).
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Renders what is left (the tty view's last frame and tail messages) and waits for it.
    pub fn finish(mut self) -> Result<(), ProgressError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), ProgressError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let _ = self.tx.send(Message::Stop);
        match thread.join() {
            Ok(result) => Ok(result?),
            Err(_) => Err(ProgressError::RendererPanicked),
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Terminal size as (columns, rows).
pub type SizeFn = Box<dyn Fn() -> (usize, usize) + Send>;

/// Where and how to render; [`start`] fills it for stderr.
pub struct Config {
    /// Must be resolved (not [`Mode::Auto`]); Auto is drawn as plain.
    pub mode: Mode,
    /// "Pulling", "Running", ... shown in the tty header.
    pub title: String,
    pub palette: Palette,
    pub out: Box<dyn Write + Send>,
    /// The terminal's size, asked at every tty frame.
    pub size: SizeFn,
}

/// Starts rendering to stderr. `mode` is resolved against stderr being a terminal; colours
/// follow `NO_COLOR`.
pub fn start(mode: Mode, title: &str) -> (Progress, Handle) {
    let stderr = std::io::stderr();
    let mode = mode.resolve(stderr.is_terminal());
    let palette = Palette {
        color: colors_from_env(std::env::var("NO_COLOR").ok().as_deref()),
    };
    start_with(Config {
        mode,
        title: title.to_string(),
        palette,
        out: Box::new(stderr),
        size: Box::new(stderr_size),
    })
}

/// The size of the terminal on stderr; 80×24 when it cannot be asked.
fn stderr_size() -> (usize, usize) {
    match terminal_size::terminal_size_of(std::io::stderr()) {
        Some((terminal_size::Width(w), terminal_size::Height(h))) => {
            (usize::from(w), usize::from(h))
        }
        None => (80, 24),
    }
}

/// Starts rendering as `config` says, on a thread of its own.
pub fn start_with(config: Config) -> (Progress, Handle) {
    let (tx, rx) = mpsc::channel();
    let mode = match config.mode {
        Mode::Auto => Mode::Plain,
        other => other,
    };
    let thread = std::thread::spawn(move || render(mode, config, rx));
    (
        Progress {
            tx: Some(tx.clone()),
        },
        Handle {
            tx,
            thread: Some(thread),
            mode,
        },
    )
}

fn render(mode: Mode, config: Config, rx: mpsc::Receiver<Message>) -> std::io::Result<()> {
    match mode {
        Mode::Tty => render_tty(config, rx),
        Mode::Plain | Mode::Auto => render_lines(config.out, rx, plain_line, format::plain_tail),
        Mode::Json => render_lines(config.out, rx, json_line, json_tail),
        Mode::Quiet => {
            while let Ok(message) = rx.recv() {
                if matches!(message, Message::Stop) {
                    break;
                }
            }
            Ok(())
        }
    }
}

fn render_tty(mut config: Config, rx: mpsc::Receiver<Message>) -> std::io::Result<()> {
    let mut view = TtyView::new(&config.title, config.palette);
    let mut next_tick = Instant::now() + TICK;
    loop {
        let timeout = next_tick.saturating_duration_since(Instant::now());
        match rx.recv_timeout(timeout) {
            Ok(Message::Event(event)) => view.update(event, Instant::now()),
            Ok(Message::Tail(message)) => view.tail(message),
            Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                let (width, height) = (config.size)();
                let frame = view.frame(Instant::now(), width, height);
                config.out.write_all(frame.as_bytes())?;
                config.out.flush()?;
                next_tick = Instant::now() + TICK;
            }
        }
    }
    // Events sent just before the stop are still queued behind it only if sent from another
    // thread; take whatever arrived.
    while let Ok(message) = rx.try_recv() {
        match message {
            Message::Event(event) => view.update(event, Instant::now()),
            Message::Tail(message) => view.tail(message),
            Message::Stop => {}
        }
    }
    let (width, height) = (config.size)();
    let frame = view.finish(Instant::now(), width, height);
    config.out.write_all(frame.as_bytes())?;
    config.out.flush()
}

/// Plain and json: one line per event, except that byte-count updates of a resource whose text
/// has not changed are printed at most every 100 ms. Compose prints every event it gets, but
/// the docker daemon already limits its progress messages to about one per 100 ms per layer;
/// berth's puller reports every chunk, so the renderer applies that limit instead.
fn render_lines(
    mut out: Box<dyn Write + Send>,
    rx: mpsc::Receiver<Message>,
    line: fn(&Event) -> String,
    tail: fn(&str) -> String,
) -> std::io::Result<()> {
    let mut throttle = Throttle::default();
    while let Ok(message) = rx.recv() {
        let text = match message {
            Message::Event(event) => {
                if !throttle.admit(&event, Instant::now()) {
                    continue;
                }
                line(&event)
            }
            Message::Tail(message) => tail(&message),
            Message::Stop => break,
        };
        writeln!(out, "{text}")?;
    }
    out.flush()
}

/// Which byte-count updates the line renderers let through.
#[derive(Default)]
struct Throttle {
    last: HashMap<String, (String, Instant)>,
}

impl Throttle {
    fn admit(&mut self, event: &Event, now: Instant) -> bool {
        if event.is_byte_update() {
            if let Some((text, at)) = self.last.get(&event.id) {
                if *text == event.text && now.duration_since(*at) < BYTE_UPDATE_INTERVAL {
                    return false;
                }
            }
        }
        self.last
            .insert(event.id.clone(), (event.text.clone(), now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn run(mode: Mode, events: Vec<Event>) -> String {
        let buffer = Buffer::default();
        let (progress, handle) = start_with(Config {
            mode,
            title: "Pulling".into(),
            palette: Palette { color: false },
            out: Box::new(buffer.clone()),
            size: Box::new(|| (80, 24)),
        });
        let clone = progress.clone();
        std::thread::spawn(move || clone.send_all(events))
            .join()
            .unwrap();
        progress.tail("WARNING: done");
        handle.finish().unwrap();
        buffer.text()
    }

    fn pull() -> Vec<Event> {
        vec![
            Event::pulling("web"),
            Event::pulling_fs_layer("4abcf2066143", "web"),
            Event::downloading("4abcf2066143", "web", 1_000, 3_000),
            Event::downloading("4abcf2066143", "web", 2_000, 3_000),
            Event::downloading("4abcf2066143", "web", 3_000, 3_000),
            Event::pull_complete("4abcf2066143", "web"),
            Event::pulled("web"),
        ]
    }

    #[test]
    fn flags_as_compose() {
        assert_eq!(Mode::from_flags("auto", "auto").unwrap(), Mode::Auto);
        assert_eq!(Mode::from_flags("auto", "never").unwrap(), Mode::Plain);
        assert_eq!(Mode::from_flags("auto", "always").unwrap(), Mode::Auto);
        assert_eq!(Mode::from_flags("none", "auto").unwrap(), Mode::Quiet);
        assert_eq!(Mode::from_flags("json", "never").unwrap(), Mode::Json);
        assert_eq!(
            Mode::from_flags("tty", "never").unwrap_err().to_string(),
            "can't use --progress tty while ANSI support is disabled"
        );
        assert_eq!(
            Mode::from_flags("plain", "always").unwrap_err().to_string(),
            "can't use --progress plain while ANSI support is forced"
        );
        assert_eq!(
            Mode::from_flags("fancy", "auto").unwrap_err().to_string(),
            "unsupported --progress value \"fancy\""
        );
        assert_eq!(Mode::Auto.resolve(true), Mode::Tty);
        assert_eq!(Mode::Tty.resolve(false), Mode::Plain);
        assert_eq!(Mode::Json.resolve(true), Mode::Json);
        assert_eq!(effective_ansi(None, Some("never")), "never");
        assert_eq!(effective_ansi(Some("always"), Some("never")), "always");
        assert!(colors_from_env(None));
        assert!(colors_from_env(Some("")));
        assert!(!colors_from_env(Some("1")));
    }

    #[test]
    fn plain_throttles_byte_updates() {
        let out = run(Mode::Plain, pull());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], " web Pulling ");
        assert_eq!(lines[1], " 4abcf2066143 Pulling fs layer ");
        assert!(lines[2].starts_with(" 4abcf2066143 Downloading ["));
        // The next two byte updates came within 100 ms of the first.
        assert_eq!(lines[3], " 4abcf2066143 Pull complete ");
        assert_eq!(lines[4], " web Pulled ");
        assert_eq!(lines[5], "WARNING: done");
        assert_eq!(lines.len(), 6);
    }

    #[test]
    fn json_lines() {
        let out = run(Mode::Json, pull());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"id":"web","status":"Working","text":"Pulling"}"#
        );
        assert_eq!(lines[5], r#"{"tail":true,"text":"WARNING: done"}"#);
    }

    #[test]
    fn quiet_prints_nothing() {
        assert_eq!(run(Mode::Quiet, pull()), "");
    }

    #[test]
    fn tty_draws_the_last_frame_on_finish() {
        let out = run(Mode::Tty, pull());
        assert!(out.contains("[+] Pulling 2/"));
        assert!(out.contains(" ✔ web Pulled "));
        assert!(out.contains("   ✔ 4abcf2066143 Pull complete "));
        assert!(out.ends_with("\x1b[?25hWARNING: done\n"));
    }

    #[test]
    fn throttle_lets_status_changes_through() {
        let mut throttle = Throttle::default();
        let t0 = Instant::now();
        assert!(throttle.admit(&Event::downloading("a", "w", 1, 9), t0));
        assert!(!throttle.admit(&Event::downloading("a", "w", 2, 9), t0));
        assert!(throttle.admit(&Event::downloading("b", "w", 2, 9), t0));
        assert!(throttle.admit(&Event::extracting("a", "w", 2, 9), t0));
        assert!(throttle.admit(
            &Event::extracting("a", "w", 3, 9),
            t0 + BYTE_UPDATE_INTERVAL
        ));
        assert!(throttle.admit(&Event::pull_complete("a", "w"), t0));
        assert!(Progress::disabled().tx.is_none());
    }
}
