//! `up -d`: take the project lock, load the project, observe its containers and images in
//! containerd, let `plan::up` decide, and execute the plan (in parallel where its edges allow);
//! with `--wait`, then wait for every container to run, or be healthy (`super::wait`).
//! Attached mode (no `-d`) is not built yet; the CLI refuses it.

use std::time::Duration;

use super::engine::EngineOptions;
use super::lifecycle::{self, Executor};
use super::{AppError, ProjectOptions};
use crate::plan::{self, UpOptions as PlanUpOptions};
use crate::progress::{Event, Progress, Status};
use crate::state::{self, ProjectLock};

#[derive(Clone, Debug, Default)]
pub struct UpOptions {
    pub project: ProjectOptions,
    pub engine: EngineOptions,
    pub services: Vec<String>,
    pub no_start: bool,
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub remove_orphans: bool,
    pub timeout: Option<Duration>,
    /// `--wait`: return once every container runs (healthy when it has a healthcheck).
    pub wait: bool,
    /// `--wait-timeout`.
    pub wait_timeout: Option<Duration>,
    /// `--scale SERVICE=NUM`, by service.
    pub scale: std::collections::BTreeMap<String, i64>,
    /// `--no-deps`, `--always-recreate-deps`.
    pub no_deps: bool,
    pub always_recreate_deps: bool,
    /// `--pull always|missing|never`: every service's `pull_policy`, as compose sets it.
    pub pull: Option<String>,
}

/// Runs `up -d`. Returns the plan's warnings and the executor's in `warnings`.
pub async fn run(
    opts: &UpOptions,
    progress: &Progress,
    warnings: &mut Vec<String>,
) -> Result<(), AppError> {
    let mut loaded = super::load_project(&opts.project, &opts.services, warnings)?;
    if let Some(policy) = &opts.pull {
        for s in loaded.project.services.values_mut() {
            s.pull_policy.clone_from(policy);
        }
    }
    let project = &loaded.project;
    for name in opts.scale.keys() {
        if !project.services.contains_key(name) {
            return Err(AppError::Other(format!("no such service: {name}")));
        }
    }
    lifecycle::check_network_modes(project, &opts.services)?;
    check_ports(project, &opts.services, &opts.scale)?;
    super::storage::preflight(project, &opts.services, &state::lib_dir())
        .map_err(|e| AppError::Other(e.to_string()))?;
    let _lock = lock(&opts.engine.namespace, &project.name, progress)?;
    let client = opts.engine.connect().await?;
    let (observed, images) = lifecycle::observe_with_images(&client, project).await?;
    let ignore_orphans = std::env::var("COMPOSE_IGNORE_ORPHANS")
        .map(|v| matches!(v.as_str(), "1" | "true" | "True" | "TRUE" | "t" | "T"))
        .unwrap_or(false);
    let plan = plan::up(
        project,
        &loaded.disabled,
        &observed,
        &PlanUpOptions {
            services: opts.services.clone(),
            force_recreate: opts.force_recreate,
            no_recreate: opts.no_recreate,
            no_start: opts.no_start,
            remove_orphans: opts.remove_orphans,
            ignore_orphans,
            timeout: opts.timeout,
            scale: opts.scale.clone(),
            no_deps: opts.no_deps,
            always_recreate_deps: opts.always_recreate_deps,
        },
    )
    .map_err(|e| AppError::Other(e.to_string()))?;
    tracing_plan(&plan, progress);
    warnings.extend(plan.warnings.iter().cloned());
    let puller = opts.engine.puller();
    let mut exec = Executor::new(&client, project, progress, state::lib_dir());
    exec.puller = Some(&puller);
    exec.remember_images(images);
    exec.working_dir = loaded.working_dir.display().to_string();
    exec.config_files = loaded
        .config_files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let result = exec.run_all(&plan).await;
    warnings.append(&mut exec.warnings);
    result?;
    if opts.wait && !opts.no_start {
        super::converge_wait::project(
            &client,
            &state::lib_dir(),
            progress,
            project,
            &opts.services,
            opts.wait_timeout,
        )
        .await?;
    }
    Ok(())
}

/// The plan, for `BERTH_SHOW_PLAN=1` (debugging: what was decided and why), shown by the
/// progress renderer after its events.
fn tracing_plan(plan: &plan::Plan, progress: &Progress) {
    if std::env::var_os("BERTH_SHOW_PLAN").is_some() {
        progress.tail(plan.to_string());
    }
}

/// The project lock under the run dir; while another berth holds it, the progress view says so.
pub(crate) fn lock(
    namespace: &str,
    project: &str,
    progress: &Progress,
) -> Result<ProjectLock, AppError> {
    let id = format!("Project {project}");
    let mut waited = false;
    let lock = ProjectLock::acquire(&state::run_dir(), namespace, project, || {
        waited = true;
        progress.send(Event::with_text(
            id.clone(),
            Status::Working,
            "Waiting for another berth command on this project",
        ));
    })
    .map_err(|e| AppError::Other(e.to_string()))?;
    if waited {
        progress.send(Event::with_text(id, Status::Done, "Locked"));
    }
    Ok(lock)
}

/// Published ports berth cannot give, refused before anything starts: a fixed host port on a
/// scaled service, two services on one host port, a host port another program holds.
fn check_ports(
    project: &crate::model::types::Project,
    services: &[String],
    scale: &std::collections::BTreeMap<String, i64>,
) -> Result<(), AppError> {
    plan::ports::check_project(project, services, scale)
        .map_err(|e| AppError::Other(e.to_string()))?;
    let mut fixed = Vec::new();
    for (name, s) in &project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        if !plan::network::attachments(project, s).is_ok_and(|a| !a.is_empty()) {
            continue;
        }
        let ports =
            plan::ports::service_ports(name, s).map_err(|e| AppError::Other(e.to_string()))?;
        fixed.extend(ports.iter().filter_map(plan::ports::Publish::fixed));
    }
    super::hostports::check_free(&fixed).map_err(|e| AppError::Other(e.to_string()))
}
