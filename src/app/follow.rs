//! Following the output of a project's containers, for `logs -f` and attached `up`: each
//! container's json-file log is polled for new records (the log driver writes them; there is no
//! stream to attach to), and containerd's events say when a followed container's task exits or
//! when a container of the project starts. Lines go to a [`LogSink`]; the caller decides what an
//! exit means (print `exited with code N`, abort the stack, ...). Never prints.
//!
//! Choice (compose does the same through its container watch): a container of the followed
//! services that starts while following is picked up, its lines read from its start; a followed
//! container that starts again is read on from where it was. Following ends once no followed
//! container runs.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use super::AppError;
use crate::containerd::{Client, EventStream, Payload};
use crate::logs::read::{LogReader, Place, Window, POLL_INTERVAL};
use crate::logs::{Entry, Stream};
use crate::plan::{labels, ObservedContainer};

/// What the follower and `logs` produce, for the CLI to format and print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOutput {
    /// `Attaching to a-1, b-1` (attached `up`).
    Attaching(Vec<String>),
    /// Show this container from now on (compose registers it: it takes the next colour).
    Register(String),
    /// One line of output (without its `\n`).
    Line {
        container: String,
        stream: Stream,
        text: String,
    },
    /// `<container> <message>`, e.g. `exited with code 0`.
    Status { container: String, message: String },
}

/// Where lines go; called from one task at a time.
pub type LogSink<'a> = &'a (dyn Fn(LogOutput) + Send + Sync);

/// compose `getContainerNameWithoutProject`: `web-1` for `<project>-web-1`, a custom
/// `container_name` as it is.
pub fn short_name(c: &ObservedContainer) -> String {
    let project = c.label(labels::PROJECT).unwrap_or("");
    let default = format!(
        "{project}-{}-{}",
        c.service(),
        c.label(labels::CONTAINER_NUMBER).unwrap_or("")
    );
    if c.name == default {
        c.name[project.len() + 1..].to_owned()
    } else {
        c.name.clone()
    }
}

/// One container being read.
struct Watched {
    id: String,
    name: String,
    service: String,
    reader: LogReader,
    /// A record without `\n` waiting for the rest of its line.
    partial: String,
    running: bool,
    /// Whether its lines are shown (`up --no-attach` watches a container without showing it).
    show: bool,
    window: Window,
}

/// A followed container's task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub name: String,
    pub service: String,
    pub code: i64,
}

/// Turns records into lines: joins partial records, splits at `\n`, prefixes `-t` timestamps.
pub fn entry_lines(partial: &mut String, e: &Entry, timestamps: bool) -> Vec<String> {
    partial.push_str(&e.log);
    if e.is_partial() {
        return Vec::new();
    }
    let whole = std::mem::take(partial);
    let body = whole.strip_suffix('\n').unwrap_or(&whole);
    body.split('\n')
        .map(|l| {
            if timestamps {
                format!("{} {l}", crate::logs::format::rfc3339_nano_fixed(e.time))
            } else {
                l.to_owned()
            }
        })
        .collect()
}

pub struct Follower<'a> {
    client: &'a Client,
    lib: PathBuf,
    project: String,
    /// Services whose containers starting later are picked up (all when empty).
    services: Vec<String>,
    timestamps: bool,
    /// `--until`, applied to followed lines too.
    until: Option<DateTime<Utc>>,
    watched: Vec<Watched>,
    events: EventStream,
}

/// How long a container's log is read after its exit while the log driver is still writing.
const SETTLE_QUIET: Duration = Duration::from_millis(150);
const SETTLE_MAX: Duration = Duration::from_secs(2);

impl<'a> Follower<'a> {
    /// Subscribes to the namespace's task start and exit events. Call before observing the
    /// containers so no exit falls between the two.
    pub async fn subscribe(
        client: &'a Client,
        lib: PathBuf,
        project: &str,
        services: Vec<String>,
        timestamps: bool,
    ) -> Result<Follower<'a>, AppError> {
        let ns = client.namespace().to_owned();
        let events = client
            .subscribe(&[
                format!("namespace=={ns},topic==\"/tasks/exit\""),
                format!("namespace=={ns},topic==\"/tasks/start\""),
            ])
            .await?;
        Ok(Follower {
            client,
            lib,
            project: project.to_owned(),
            services,
            timestamps,
            until: None,
            watched: Vec::new(),
            events,
        })
    }

    pub fn set_until(&mut self, until: Option<DateTime<Utc>>) {
        self.until = until;
    }

    /// Follows `c` from `reader`'s position; lines older than `since` are skipped.
    pub fn watch(
        &mut self,
        c: &ObservedContainer,
        reader: LogReader,
        running: bool,
        show: bool,
        since: Option<DateTime<Utc>>,
    ) {
        self.watched.push(Watched {
            id: c.id.clone(),
            name: short_name(c),
            service: c.service().to_owned(),
            reader,
            partial: String::new(),
            running,
            show,
            window: Window {
                since,
                until: self.until,
            },
        });
    }

    /// Opens `c`'s log at its beginning.
    pub fn open(&self, c: &ObservedContainer) -> Result<LogReader, AppError> {
        let dir = crate::state::container_dir(&self.lib, self.client.namespace(), &c.id);
        LogReader::open(&dir, &c.id).map_err(|e| AppError::Other(e.to_string()))
    }

    /// Whether any followed container still runs.
    pub fn any_running(&self) -> bool {
        self.watched.iter().any(|w| w.running)
    }

    /// Prints what the followed containers wrote, until one of them exits (`Some`) or none is
    /// left running (`None`).
    pub async fn next(&mut self, sink: LogSink<'_>) -> Result<Option<Exit>, AppError> {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if !self.any_running() {
                self.pump(sink)?;
                return Ok(None);
            }
            tokio::select! {
                ev = self.events.next() => {
                    let ev = match ev {
                        Some(Ok(ev)) => ev,
                        Some(Err(e)) => return Err(e.into()),
                        None => return Err(AppError::Other("containerd closed the event stream".into())),
                    };
                    match ev.payload {
                        Payload::TaskExit { container_id, id, exit_status, .. } if id == container_id => {
                            if let Some(i) = self.watched.iter().position(|w| w.id == container_id && w.running) {
                                self.settle(i, sink).await?;
                                let w = &mut self.watched[i];
                                w.running = false;
                                return Ok(Some(Exit {
                                    name: w.name.clone(),
                                    service: w.service.clone(),
                                    code: i64::from(exit_status),
                                }));
                            }
                        }
                        Payload::TaskStart { container_id, .. } => {
                            let since = ev.timestamp.map(DateTime::<Utc>::from);
                            self.started(&container_id, since, sink).await?;
                        }
                        _ => {}
                    }
                }
                _ = tick.tick() => self.pump(sink)?,
            }
        }
    }

    /// A task started: a followed container runs again, or a new container of the project is
    /// picked up.
    async fn started(
        &mut self,
        id: &str,
        since: Option<DateTime<Utc>>,
        sink: LogSink<'_>,
    ) -> Result<(), AppError> {
        if let Some(w) = self.watched.iter_mut().find(|w| w.id == id) {
            w.running = true;
            return Ok(());
        }
        let Some(c) = self.client.container_get(id).await? else {
            return Ok(());
        };
        let observed = ObservedContainer {
            id: c.id.clone(),
            name: c.id.clone(),
            labels: c.labels.clone(),
            state: crate::plan::ContainerState::Running,
            image_digest: None,
        };
        let ours = observed.label(labels::PROJECT) == Some(self.project.as_str())
            && !observed.is_oneoff()
            && (self.services.is_empty() || self.services.iter().any(|s| s == observed.service()));
        if !ours {
            return Ok(());
        }
        let reader = self.open(&observed)?;
        sink(LogOutput::Register(short_name(&observed)));
        self.watch(&observed, reader, true, true, since);
        Ok(())
    }

    /// Reads container `i`'s last lines: the exit can be reported before the log driver has
    /// written them, so read until the file has been quiet for a moment.
    async fn settle(&mut self, i: usize, sink: LogSink<'_>) -> Result<(), AppError> {
        let start = tokio::time::Instant::now();
        let mut quiet_since = tokio::time::Instant::now();
        loop {
            let n = self.read_one(i, sink)?;
            let now = tokio::time::Instant::now();
            if n > 0 {
                quiet_since = now;
            }
            if now - quiet_since >= SETTLE_QUIET || now - start >= SETTLE_MAX {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    /// New lines of every container, each container's in order.
    fn pump(&mut self, sink: LogSink<'_>) -> Result<(), AppError> {
        for i in 0..self.watched.len() {
            self.read_one(i, sink)?;
        }
        Ok(())
    }

    fn read_one(&mut self, i: usize, sink: LogSink<'_>) -> Result<usize, AppError> {
        let timestamps = self.timestamps;
        let w = &mut self.watched[i];
        let entries = w
            .reader
            .read_entries()
            .map_err(|e| AppError::Other(e.to_string()))?;
        let n = entries.len();
        for e in entries {
            if w.window.place(e.time) != Place::Inside || !w.show {
                continue;
            }
            for text in entry_lines(&mut w.partial, &e, timestamps) {
                sink(LogOutput::Line {
                    container: w.name.clone(),
                    stream: e.stream,
                    text,
                });
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn entry(log: &str) -> Entry {
        Entry {
            stream: Stream::Stdout,
            time: DateTime::parse_from_rfc3339("2026-11-26T10:00:00.5Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            log: log.into(),
        }
    }

    #[test]
    fn partial_records_join_and_timestamps_lead() {
        let mut p = String::new();
        assert!(entry_lines(&mut p, &entry("hel"), false).is_empty());
        assert_eq!(entry_lines(&mut p, &entry("lo\n"), false), ["hello"]);
        assert_eq!(
            entry_lines(&mut p, &entry("x\n"), true),
            ["2026-11-26T10:00:00.500000000Z x"]
        );
    }

    #[test]
    fn short_names_drop_the_project() {
        let c = |name: &str| ObservedContainer {
            id: name.into(),
            name: name.into(),
            labels: BTreeMap::from([
                (labels::PROJECT.to_owned(), "p".to_owned()),
                (labels::SERVICE.to_owned(), "web".to_owned()),
                (labels::CONTAINER_NUMBER.to_owned(), "2".to_owned()),
            ]),
            state: crate::plan::ContainerState::Running,
            image_digest: None,
        };
        assert_eq!(short_name(&c("p-web-2")), "web-2");
        assert_eq!(short_name(&c("custom")), "custom");
    }
}
