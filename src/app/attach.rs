//! Attached `up` (no `-d`), after the up plan has created the containers: print `Attaching to
//! ...`, start them (the start plan, no progress shown, as compose), and follow the output of
//! the attached services until every watched container has exited. The CLI drives the loop and
//! the signals; this module gives it the pieces: [`begin`], then [`Follower::next`], and
//! [`stop`] / [`kill`] for Ctrl-C and `--abort-on-container-exit`.
//!
//! Lines are read from the json-file logs from the moment just before the start (a container
//! that was already running shows only what it writes from then on, as `docker attach` would).

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;

use super::follow::{short_name, Follower, LogOutput, LogSink};
use super::lifecycle::{self, Executor};
use super::{AppError, Loaded};
use crate::containerd::Client;
use crate::plan::{self, StartOptions, StopOptions};
use crate::progress::Progress;
use crate::state;

/// What attached `up` was asked.
#[derive(Clone, Debug, Default)]
pub struct AttachOptions {
    /// Services named on the command line.
    pub services: Vec<String>,
    /// `--attach`: only these services' output (all of `services`, else all, when empty).
    pub attach: Vec<String>,
    /// `--no-attach`.
    pub no_attach: Vec<String>,
    pub timestamps: bool,
}

/// The project and the connection the attached session works with.
pub struct Session {
    pub client: Client,
    pub loaded: Loaded,
    pub namespace: String,
}

/// The services whose output is shown (compose `runUp`): `--attach` as given (each must be a
/// service of the project), else the named services (all when none) whose `attach:` is not
/// false; minus `--no-attach`.
pub fn attach_set(
    project: &crate::model::types::Project,
    opts: &AttachOptions,
) -> Result<BTreeSet<String>, AppError> {
    let mut set: BTreeSet<String> = if !opts.attach.is_empty() {
        let unknown: Vec<&str> = opts
            .attach
            .iter()
            .filter(|s| !project.services.contains_key(*s))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(AppError::Other(format!(
                "cannot attach to services not included in up: {}",
                unknown.join(", ")
            )));
        }
        opts.attach.iter().cloned().collect()
    } else {
        project
            .services
            .iter()
            .filter(|(n, _)| opts.services.is_empty() || opts.services.contains(n))
            .filter(|(_, s)| s.attach != Some(false))
            .map(|(n, _)| n.clone())
            .collect()
    };
    for s in &opts.no_attach {
        set.remove(s);
    }
    Ok(set)
}

/// Prints `Attaching to ...`, starts the project's containers and returns the follower of the
/// attached ones (and of the named services, whose exits end the session even when hidden).
pub async fn begin<'a>(
    session: &'a Session,
    opts: &AttachOptions,
    sink: LogSink<'_>,
) -> Result<Follower<'a>, AppError> {
    let project = &session.loaded.project;
    let shown = attach_set(project, opts)?;
    let mut watched: BTreeSet<String> = shown.clone();
    watched.extend(opts.services.iter().cloned());
    let client = &session.client;
    let mut follower = Follower::subscribe(
        client,
        state::lib_dir(),
        &project.name,
        watched.iter().cloned().collect(),
        opts.timestamps,
    )
    .await?;
    let observed = lifecycle::observe(client, project).await?;
    let mut containers: Vec<_> = observed
        .containers
        .iter()
        .filter(|c| !c.is_oneoff() && watched.contains(c.service()))
        .cloned()
        .collect();
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<String> = containers
        .iter()
        .filter(|c| shown.contains(c.service()))
        .map(short_name)
        .collect();
    if !names.is_empty() {
        sink(LogOutput::Attaching(names));
    }
    let since = Utc::now();
    for c in &containers {
        let show = shown.contains(c.service());
        sink(LogOutput::Register(short_name(c)));
        let reader = follower.open(c)?;
        follower.watch(c, reader, true, show, Some(since));
    }

    let plan = plan::start(
        project,
        &session.loaded.disabled,
        &observed,
        &StartOptions {
            services: opts.services.clone(),
        },
    )
    .map_err(|e| AppError::Other(e.to_string()))?;
    let progress = Progress::disabled();
    let _lock = super::up::lock(&session.namespace, &project.name, &progress)?;
    let mut exec = Executor::new(client, project, &progress, state::lib_dir());
    exec.run_all(&plan).await?;
    Ok(follower)
}

/// Stops the stack (the stop plan of the named services, all when none), showing progress.
pub async fn stop(
    session: &Session,
    services: &[String],
    timeout: Option<Duration>,
    progress: &Progress,
) -> Result<(), AppError> {
    let project = &session.loaded.project;
    let _lock = super::up::lock(&session.namespace, &project.name, progress)?;
    let observed = lifecycle::observe(&session.client, project).await?;
    let plan = plan::stop(
        project,
        &session.loaded.disabled,
        &observed,
        &StopOptions {
            services: services.to_vec(),
            timeout,
        },
    )
    .map_err(|e| AppError::Other(e.to_string()))?;
    let mut exec = Executor::new(&session.client, project, progress, state::lib_dir());
    let errors = exec.run_collecting(&plan).await;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Other(errors.join("\n")))
    }
}

/// Kills the stack's running containers with SIGKILL (the second Ctrl-C).
pub async fn kill(
    session: &Session,
    services: &[String],
    progress: &Progress,
) -> Result<(), AppError> {
    super::kill::kill(
        &session.client,
        &session.loaded.project,
        services,
        super::kill::SIGKILL,
        false,
        progress,
    )
    .await
    .map(|_| ())
}

/// Loads the project and connects, for an attached `up` (and checks `--exit-code-from`).
pub async fn open(
    opts: &super::up::UpOptions,
    exit_code_from: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Session, AppError> {
    let loaded = super::load_project(&opts.project, &opts.services, warnings)?;
    if let Some(s) = exit_code_from {
        if !loaded.project.services.contains_key(s) {
            return Err(AppError::Other(format!("no such service: {s}")));
        }
    }
    let client = opts.engine.connect().await?;
    Ok(Session {
        client,
        loaded,
        namespace: opts.engine.namespace.clone(),
    })
}
