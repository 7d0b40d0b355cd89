//! Waiting on containers: the `depends_on` conditions a start waits for (compose
//! `convergence.go` `waitDependencies`) and `up --wait` (compose `start.go`). A container is
//! healthy when the health state its prober writes (`crate::health`) says so; it has completed
//! when its task has stopped. Polled every half second, as compose's ticker does, with compose's
//! progress lines (`Waiting`, `Healthy`, `Exited`) and messages.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::AppError;
use crate::containerd::{Client, TaskStatus};
use crate::model::types::Project;
use crate::plan::{Condition, Edge, Op};
use crate::progress::{container_id, Event, Progress};

const TICK: Duration = Duration::from_millis(500);

/// What a wait wants of a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitFor {
    /// `service_healthy`.
    Healthy,
    /// `service_completed_successfully`.
    Completed,
    /// `up --wait`: healthy when it has a healthcheck, else running.
    RunningOrHealthy,
}

/// Why a wait failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// `container x is unhealthy`, `... exited (1)`, `... has no healthcheck configured`.
    Health(String),
    /// The exit code of a container that had to complete successfully.
    Exit(i64),
}

/// A container to wait for: its service, name and containerd id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub service: String,
    pub name: String,
    pub id: String,
}

impl Target {
    /// The container a plan node stands for, when it makes or keeps one running.
    pub fn of(op: &Op) -> Option<Target> {
        let (service, name, id) = match op {
            Op::StartContainer { service, name, id } => {
                (service, name, id.clone().unwrap_or_else(|| name.clone()))
            }
            Op::Keep { service, name, id } => (service, name, id.clone()),
            Op::CreateContainer { service, name, .. }
            | Op::RecreateContainer { service, name, .. } => (service, name, name.clone()),
            _ => return None,
        };
        Some(Target {
            service: service.clone(),
            name: name.clone(),
            id,
        })
    }
}

/// The wait an edge of the plan asks for, before its node runs. `Ok(Some(warning))` when an
/// optional (`required: false`) dependency failed. Gives up when `cancel` is set (another node
/// of the plan failed: compose cancels the other waits then).
pub async fn edge(
    client: &Client,
    lib: &Path,
    progress: &Progress,
    target: &Op,
    e: &Edge,
    cancel: &AtomicBool,
) -> Result<Option<String>, AppError> {
    let want = match e.condition {
        Condition::Healthy => WaitFor::Healthy,
        Condition::CompletedSuccessfully => WaitFor::Completed,
        Condition::Started | Condition::Done => return Ok(None),
    };
    let Some(t) = Target::of(target) else {
        return Ok(None);
    };
    let pid = container_id(&t.name);
    match container(client, lib, progress, &t, want, cancel).await? {
        Ok(()) => Ok(None),
        Err(f) => {
            let (reason, message) = messages(&t.service, &f);
            if e.required {
                if matches!(f, Failure::Health(_)) {
                    progress.send(Event::error(&pid));
                }
                Err(AppError::Other(message))
            } else {
                progress.send(Event::skipped(&pid, &reason));
                Ok(Some(format!("{reason}: {}", detail(&f))))
            }
        }
    }
}

fn detail(f: &Failure) -> String {
    match f {
        Failure::Health(m) => m.clone(),
        Failure::Exit(code) => format!("exit {code}"),
    }
}

/// compose's texts for a failed dependency: the skip reason of an optional one, and the error
/// of a required one.
pub fn messages(service: &str, f: &Failure) -> (String, String) {
    match f {
        Failure::Health(m) => (
            format!("optional dependency {service:?} is not running or is unhealthy"),
            format!("dependency failed to start: {m}"),
        ),
        Failure::Exit(code) => (
            format!("optional dependency {service:?} didn't complete successfully: exit {code}"),
            format!("service {service:?} didn't complete successfully: exit {code}"),
        ),
    }
}

/// Waits until container `t` meets `want` or fails it; says `Waiting`, then `Healthy` or
/// `Exited`.
pub async fn container(
    client: &Client,
    lib: &Path,
    progress: &Progress,
    t: &Target,
    want: WaitFor,
    cancel: &AtomicBool,
) -> Result<Result<(), Failure>, AppError> {
    let pid = container_id(&t.name);
    let dir = crate::state::container_dir(lib, client.namespace(), &t.id);
    progress.send(Event::waiting(&pid));
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(AppError::Other(format!(
                "waiting for {}: canceled after another failure",
                t.name
            )));
        }
        let task = client.task_get(&t.id).await?;
        let exited = match &task {
            Some(t) if t.status == TaskStatus::Stopped => Some(i64::from(t.exit_status)),
            _ => None,
        };
        let running = matches!(&task, Some(t) if t.status == TaskStatus::Running);
        let verdict = judge(
            want,
            &t.name,
            exited,
            running,
            dir.join(crate::health::CONFIG_FILE).exists(),
            crate::health::read_state(&dir).map(|h| h.status),
        );
        match verdict {
            Verdict::Wait => tokio::time::sleep(TICK).await,
            Verdict::Healthy => {
                progress.send(Event::healthy(&pid));
                return Ok(Ok(()));
            }
            Verdict::Exited => {
                progress.send(Event::exited(&pid));
                return Ok(Ok(()));
            }
            Verdict::Fail(f) => return Ok(Err(f)),
        }
    }
}

/// `up --wait`: every container of `services` (all when empty, else those and their
/// dependencies) running, or healthy when it has a healthcheck, or exited 0 when another
/// service waits for it to complete successfully (compose `getDependencyCondition`). Fails at
/// the first container that cannot get there, or after `timeout`.
pub async fn project(
    client: &Client,
    lib: &Path,
    progress: &Progress,
    project: &Project,
    services: &[String],
    timeout: Option<Duration>,
) -> Result<(), AppError> {
    let selected: BTreeSet<String> = if services.is_empty() {
        project.services.keys().cloned().collect()
    } else {
        crate::plan::ServiceGraph::new(project, &Default::default())
            .map(|g| g.with_dependencies(services))
            .unwrap_or_else(|_| services.iter().cloned().collect())
    };
    let completes: BTreeSet<&str> = project
        .services
        .values()
        .flat_map(|s| s.depends_on.iter())
        .filter(|(_, d)| d.condition == "service_completed_successfully")
        .map(|(n, _)| n.as_str())
        .collect();
    let never = AtomicBool::new(false);
    let never = &never;
    let mut waits = Vec::new();
    for (_, o, _) in super::lifecycle::observe_containers(client, &project.name).await? {
        let service = o.service().to_owned();
        if o.is_oneoff() || !selected.contains(&service) {
            continue;
        }
        let want = if completes.contains(service.as_str()) {
            WaitFor::Completed
        } else {
            WaitFor::RunningOrHealthy
        };
        let t = Target {
            service,
            name: o.name.clone(),
            id: o.id.clone(),
        };
        waits.push(async move {
            match container(client, lib, progress, &t, want, never).await? {
                Ok(()) => Ok(()),
                Err(f) => {
                    if matches!(f, Failure::Health(_)) {
                        progress.send(Event::error(container_id(&t.name)));
                    }
                    Err(AppError::Other(messages(&t.service, &f).1))
                }
            }
        });
    }
    let all = futures_util::future::try_join_all(waits);
    match timeout {
        Some(limit) => match tokio::time::timeout(limit, all).await {
            Ok(r) => r.map(|_| ()),
            Err(_) => Err(AppError::Other(format!(
                "application not healthy after {}",
                crate::model::types::format_go_duration(limit.as_nanos() as i64)
            ))),
        },
        None => all.await.map(|_| ()),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Wait,
    Healthy,
    Exited,
    Fail(Failure),
}

/// One look at a container (compose `isServiceHealthy`, `isServiceCompleted`). `exited`: its
/// exit code once its task has stopped; `has_check`: it has a healthcheck; `status`: the health
/// status its prober last wrote.
fn judge(
    want: WaitFor,
    name: &str,
    exited: Option<i64>,
    running: bool,
    has_check: bool,
    status: Option<String>,
) -> Verdict {
    if want == WaitFor::Completed {
        return match exited {
            Some(0) => Verdict::Exited,
            Some(code) => Verdict::Fail(Failure::Exit(code)),
            None => Verdict::Wait,
        };
    }
    if let Some(code) = exited {
        return Verdict::Fail(Failure::Health(format!("container {name} exited ({code})")));
    }
    if !has_check && want == WaitFor::RunningOrHealthy {
        return if running {
            Verdict::Healthy
        } else {
            Verdict::Wait
        };
    }
    if !has_check {
        return Verdict::Fail(Failure::Health(format!(
            "container {name} has no healthcheck configured"
        )));
    }
    match status.as_deref() {
        Some(crate::health::HEALTHY) => Verdict::Healthy,
        Some(crate::health::UNHEALTHY) => {
            Verdict::Fail(Failure::Health(format!("container {name} is unhealthy")))
        }
        _ => Verdict::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Option<String> {
        Some(s.into())
    }

    #[test]
    fn healthy_waits_through_starting_and_fails_when_unhealthy_or_exited() {
        use WaitFor::Healthy as H;
        assert_eq!(
            judge(H, "db", None, true, true, h("starting")),
            Verdict::Wait
        );
        assert_eq!(
            judge(H, "db", None, true, true, h("healthy")),
            Verdict::Healthy
        );
        assert_eq!(
            judge(H, "db", None, true, true, h("unhealthy")),
            Verdict::Fail(Failure::Health("container db is unhealthy".into()))
        );
        assert_eq!(
            judge(H, "db", Some(2), false, true, h("healthy")),
            Verdict::Fail(Failure::Health("container db exited (2)".into()))
        );
        assert_eq!(
            judge(H, "db", None, true, false, None),
            Verdict::Fail(Failure::Health(
                "container db has no healthcheck configured".into()
            ))
        );
    }

    #[test]
    fn wait_falls_back_to_running_without_a_healthcheck() {
        let w = WaitFor::RunningOrHealthy;
        assert_eq!(judge(w, "x", None, true, false, None), Verdict::Healthy);
        assert_eq!(judge(w, "x", None, false, false, None), Verdict::Wait);
        assert_eq!(
            judge(w, "x", None, true, true, h("starting")),
            Verdict::Wait
        );
    }

    #[test]
    fn completed_needs_exit_zero() {
        let c = WaitFor::Completed;
        assert_eq!(judge(c, "i", None, true, false, None), Verdict::Wait);
        assert_eq!(judge(c, "i", Some(0), false, false, None), Verdict::Exited);
        assert_eq!(
            judge(c, "i", Some(1), false, false, None),
            Verdict::Fail(Failure::Exit(1))
        );
        assert_eq!(
            messages("init", &Failure::Exit(1)).1,
            "service \"init\" didn't complete successfully: exit 1"
        );
        assert_eq!(
            messages(
                "db",
                &Failure::Health("container p-db-1 is unhealthy".into())
            )
            .1,
            "dependency failed to start: container p-db-1 is unhealthy"
        );
    }
}
