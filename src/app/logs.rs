//! `logs`: the history of the project's containers from their json-file logs (`--tail`,
//! `--since`, `--until`, `-t`), merged by time, then with `-f` their new lines until none of
//! them runs (see [`super::follow`]). Both streams come out as lines for the CLI; compose shows
//! them all on stdout.

use chrono::{DateTime, Offset, Utc};

use super::engine::EngineOptions;
use super::follow::{entry_lines, short_name, Follower, LogOutput, LogSink};
use super::lifecycle;
use super::{AppError, ProjectOptions};
use crate::logs::read::{parse_time_arg, read_history, ReadOptions, Window};
use crate::logs::Entry;
use crate::plan::ObservedContainer;
use crate::state;

#[derive(Clone, Debug, Default)]
pub struct LogsOptions {
    pub project: ProjectOptions,
    pub engine: EngineOptions,
    pub services: Vec<String>,
    pub follow: bool,
    /// `--tail`: the last N lines of each container; `None` is all.
    pub tail: Option<usize>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub timestamps: bool,
    /// `--index`: only this container number of the one service named.
    pub index: Option<i64>,
}

/// `--since` / `--until` as Docker reads them, relative to now.
pub fn time_arg(flag: &str, v: &Option<String>) -> Result<Option<DateTime<Utc>>, AppError> {
    let Some(v) = v.as_deref().filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let local = chrono::Local::now().offset().fix();
    parse_time_arg(v, Utc::now(), local)
        .map(Some)
        .map_err(|e| AppError::Other(format!("invalid value for \"{flag}\": {e}")))
}

/// The project's containers `logs` shows: not one-offs, of the named services (else of every
/// service whose `attach` is not false), with `--index` only that number.
fn selected(
    all: Vec<ObservedContainer>,
    services: &[String],
    index: Option<i64>,
) -> Result<Vec<ObservedContainer>, AppError> {
    let mut v: Vec<ObservedContainer> = all
        .into_iter()
        .filter(|c| !c.is_oneoff() && services.iter().any(|s| s == c.service()))
        .collect();
    if let Some(n) = index {
        v.retain(|c| c.number() == Some(n));
        if v.is_empty() {
            let service = services.first().cloned().unwrap_or_default();
            return Err(AppError::Other(format!(
                "service {service:?} is not running container #{n}"
            )));
        }
    }
    Ok(v)
}

pub async fn run(
    opts: &LogsOptions,
    warnings: &mut Vec<String>,
    sink: LogSink<'_>,
) -> Result<(), AppError> {
    if opts.index.is_some() && opts.services.len() != 1 {
        return Err(AppError::Other(
            "--index requires one service to be selected".into(),
        ));
    }
    let since = time_arg("since", &opts.since)?;
    let until = time_arg("until", &opts.until)?;
    let loaded = super::load_project(&opts.project, &opts.services, warnings)?;
    let project = &loaded.project;
    let services: Vec<String> = if opts.services.is_empty() {
        project
            .services
            .iter()
            .filter(|(_, s)| s.attach != Some(false))
            .map(|(n, _)| n.clone())
            .collect()
    } else {
        opts.services.clone()
    };
    let client = opts.engine.connect().await?;
    let lib = state::lib_dir();
    // subscribed before looking, so an exit between the two is not missed
    let mut follower = if opts.follow {
        let mut f = Follower::subscribe(
            &client,
            lib.clone(),
            &project.name,
            services.clone(),
            opts.timestamps,
        )
        .await?;
        f.set_until(until);
        Some(f)
    } else {
        None
    };
    let observed = lifecycle::observe_containers(&client, &project.name)
        .await?
        .into_iter()
        .map(|(_, o, _)| o)
        .collect();
    let containers = selected(observed, &services, opts.index)?;

    let mut partials: Vec<(String, String)> = Vec::new();
    let read = ReadOptions {
        tail: opts.tail,
        window: Window { since, until },
    };
    let mut histories = Vec::new();
    let mut readers = Vec::new();
    for c in &containers {
        let dir = state::container_dir(&lib, client.namespace(), &c.id);
        let (entries, reader) =
            read_history(&dir, &c.id, &read).map_err(|e| AppError::Other(e.to_string()))?;
        histories.push((short_name(c), entries));
        readers.push(reader);
    }
    for (name, e) in merge_by_time(histories) {
        // per container, the partial record waiting for the rest of its line
        let p = partial_of(&mut partials, &name);
        for text in entry_lines(p, &e, opts.timestamps) {
            sink(LogOutput::Line {
                container: name.clone(),
                stream: e.stream,
                text,
            });
        }
    }

    let Some(follower) = follower.as_mut() else {
        return Ok(());
    };
    for (c, reader) in containers.iter().zip(readers) {
        if c.state.is_up() {
            sink(LogOutput::Register(short_name(c)));
            follower.watch(c, reader, true, true, since);
        }
    }
    while let Some(exit) = follower.next(sink).await? {
        sink(LogOutput::Status {
            container: exit.name,
            message: format!("exited with code {}", exit.code),
        });
    }
    Ok(())
}

fn partial_of<'a>(partials: &'a mut Vec<(String, String)>, name: &str) -> &'a mut String {
    let i = match partials.iter().position(|(n, _)| n == name) {
        Some(i) => i,
        None => {
            partials.push((name.to_owned(), String::new()));
            partials.len() - 1
        }
    };
    &mut partials[i].1
}

/// compose reads every container at once; berth interleaves their histories by time, each
/// container's records kept in the order of its file.
fn merge_by_time(histories: Vec<(String, Vec<Entry>)>) -> Vec<(String, Entry)> {
    let mut queues: Vec<(String, std::collections::VecDeque<Entry>)> =
        histories.into_iter().map(|(n, e)| (n, e.into())).collect();
    let mut out = Vec::new();
    loop {
        let next = queues
            .iter()
            .enumerate()
            .filter_map(|(i, (_, q))| q.front().map(|e| (e.time, i)))
            .min();
        let Some((_, i)) = next else {
            return out;
        };
        if let Some(e) = queues[i].1.pop_front() {
            out.push((queues[i].0.clone(), e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::Stream;

    fn e(secs: i64, log: &str) -> Entry {
        Entry {
            stream: Stream::Stdout,
            time: DateTime::from_timestamp(secs, 0).unwrap_or_default(),
            log: log.into(),
        }
    }

    #[test]
    fn histories_interleave_by_time_keeping_each_file_order() {
        let merged = merge_by_time(vec![
            ("a".into(), vec![e(1, "a1"), e(5, "a2"), e(3, "a3")]),
            ("b".into(), vec![e(2, "b1"), e(4, "b2")]),
        ]);
        let order: Vec<&str> = merged.iter().map(|(_, e)| e.log.as_str()).collect();
        assert_eq!(order, ["a1", "b1", "b2", "a2", "a3"]);
    }
}
