//! `kill`: send a signal to the project's running containers (compose `kill.go`). The task is
//! left as it ends, so `ps -a` shows the container exited with 128 + the signal.

use super::control::{self, VerbOptions};
use super::AppError;
use crate::containerd::{Client, TaskStatus};
use crate::model::types::Project;
use crate::plan::labels;
use crate::progress::{container_id, Event, Progress};

/// SIGKILL, compose's default for `kill`.
pub const SIGKILL: u32 = 9;

/// The signal numbers of Linux by name (`SIGKILL`, `KILL`) or number, as Docker accepts them.
pub fn parse_signal(s: &str) -> Result<u32, AppError> {
    const NAMES: [(&str, u32); 31] = [
        ("HUP", 1),
        ("INT", 2),
        ("QUIT", 3),
        ("ILL", 4),
        ("TRAP", 5),
        ("ABRT", 6),
        ("IOT", 6),
        ("BUS", 7),
        ("FPE", 8),
        ("KILL", 9),
        ("USR1", 10),
        ("SEGV", 11),
        ("USR2", 12),
        ("PIPE", 13),
        ("ALRM", 14),
        ("TERM", 15),
        ("STKFLT", 16),
        ("CHLD", 17),
        ("CONT", 18),
        ("STOP", 19),
        ("TSTP", 20),
        ("TTIN", 21),
        ("TTOU", 22),
        ("URG", 23),
        ("XCPU", 24),
        ("XFSZ", 25),
        ("VTALRM", 26),
        ("PROF", 27),
        ("WINCH", 28),
        ("IO", 29),
        ("PWR", 30),
    ];
    if let Ok(n) = s.parse::<u32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let upper = s.to_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .ok_or_else(|| AppError::Other(format!("Invalid signal: {s}")))
}

/// Sends `signal` to every running container of the named services (all when none); with
/// `remove_orphans`, to the containers of services no longer in the project too. Returns
/// `false` when there was none (compose prints "no container to kill").
pub async fn kill(
    client: &Client,
    project: &Project,
    services: &[String],
    signal: u32,
    remove_orphans: bool,
    progress: &Progress,
) -> Result<bool, AppError> {
    let mut targets = Vec::new();
    for (c, o, task) in super::lifecycle::observe_containers(client, &project.name).await? {
        let service = o.label(labels::SERVICE).unwrap_or("").to_owned();
        let running = matches!(
            task.as_ref().map(|_| &o.state),
            Some(crate::plan::ContainerState::Running | crate::plan::ContainerState::Paused)
        );
        if !running {
            continue;
        }
        if !services.is_empty() && !services.contains(&service) {
            continue;
        }
        if !remove_orphans && !project.services.contains_key(&service) {
            continue;
        }
        targets.push(c.id);
    }
    if targets.is_empty() {
        return Ok(false);
    }
    let mut errors = Vec::new();
    for id in targets {
        let pid = container_id(&id);
        progress.send(Event::killing(&pid));
        match client.task_kill(&id, signal, false).await {
            Ok(()) => {
                // a frozen task takes the signal once thawed
                if matches!(client.task_get(&id).await, Ok(Some(t)) if t.status == TaskStatus::Paused)
                {
                    let _ = client.task_resume(&id).await;
                }
                progress.send(Event::killed(&pid));
            }
            Err(e) => {
                progress.send(Event::error_message(&pid, "Error while Killing"));
                errors.push(e.to_string());
            }
        }
    }
    if errors.is_empty() {
        Ok(true)
    } else {
        Err(AppError::Other(errors.join("\n")))
    }
}

/// The `kill` verb: loads the project, takes the lock, kills.
pub async fn run(
    opts: &VerbOptions,
    signal: &str,
    remove_orphans: bool,
    progress: &Progress,
    warnings: &mut Vec<String>,
) -> Result<bool, AppError> {
    let signal = parse_signal(signal)?;
    let (loaded, client, _lock) = control::prepare(opts, progress, warnings).await?;
    kill(
        &client,
        &loaded.project,
        &opts.services,
        signal,
        remove_orphans,
        progress,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(parse_signal("USR1").unwrap(), 10);
        assert_eq!(parse_signal("2").unwrap(), 2);
        assert_eq!(
            parse_signal("NOPE").unwrap_err().to_string(),
            "Invalid signal: NOPE"
        );
    }
}
