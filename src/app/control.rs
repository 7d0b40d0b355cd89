//! The verbs that act on existing containers through the planner: `start`, `stop`, `restart`,
//! `rm`, and `pause` / `unpause` (task freezer, no plan needed). Each loads the project (a name
//! that is no service is compose's `no such service`), takes the project lock, observes, plans
//! and executes, reporting progress as compose does.

use std::time::Duration;

use super::engine::EngineOptions;
use super::lifecycle::{self, Executor};
use super::{AppError, Loaded, ProjectOptions};
use crate::containerd::{Client, TaskStatus};
use crate::plan::{self, Plan, RestartOptions, RmOptions, StartOptions, StopOptions};
use crate::progress::{container_id, Event, Progress, Status};
use crate::state::{self, ProjectLock};

/// What every one of these verbs takes.
#[derive(Clone, Debug, Default)]
pub struct VerbOptions {
    pub project: ProjectOptions,
    pub engine: EngineOptions,
    pub services: Vec<String>,
    pub timeout: Option<Duration>,
}

/// Loads the project, takes its lock, connects.
pub async fn prepare(
    opts: &VerbOptions,
    progress: &Progress,
    warnings: &mut Vec<String>,
) -> Result<(Loaded, Client, ProjectLock), AppError> {
    let loaded = super::load_project(&opts.project, &opts.services, warnings)?;
    let lock = super::up::lock(&opts.engine.namespace, &loaded.project.name, progress)?;
    let client = opts.engine.connect().await?;
    Ok((loaded, client, lock))
}

fn plan_error(e: plan::PlanError) -> AppError {
    AppError::Other(e.to_string())
}

async fn execute(
    client: &Client,
    loaded: &Loaded,
    progress: &Progress,
    plan: &Plan,
    warnings: &mut Vec<String>,
) -> Result<(), AppError> {
    let mut exec = Executor::new(client, &loaded.project, progress, state::lib_dir());
    let errors = exec.run_collecting(plan).await;
    warnings.append(&mut exec.warnings);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Other(errors.join("\n")))
    }
}

/// `start`: the named services (and their dependencies) that are not running.
pub async fn start(
    opts: &VerbOptions,
    progress: &Progress,
    warnings: &mut Vec<String>,
) -> Result<(), AppError> {
    let (loaded, client, _lock) = prepare(opts, progress, warnings).await?;
    lifecycle::check_network_modes(&loaded.project, &opts.services)?;
    let observed = lifecycle::observe(&client, &loaded.project).await?;
    let plan = plan::start(
        &loaded.project,
        &loaded.disabled,
        &observed,
        &StartOptions {
            services: opts.services.clone(),
        },
    )
    .map_err(plan_error)?;
    let mut exec = Executor::new(&client, &loaded.project, progress, state::lib_dir());
    let r = exec.run_all(&plan).await;
    warnings.append(&mut exec.warnings);
    r
}

/// `stop`: the named services' running containers, dependents first.
pub async fn stop(
    opts: &VerbOptions,
    progress: &Progress,
    warnings: &mut Vec<String>,
) -> Result<(), AppError> {
    let (loaded, client, _lock) = prepare(opts, progress, warnings).await?;
    let observed = lifecycle::observe(&client, &loaded.project).await?;
    let plan = plan::stop(
        &loaded.project,
        &loaded.disabled,
        &observed,
        &StopOptions {
            services: opts.services.clone(),
            timeout: opts.timeout,
        },
    )
    .map_err(plan_error)?;
    execute(&client, &loaded, progress, &plan, warnings).await
}

/// `restart`: every container of the services, stopped ones too.
pub async fn restart(
    opts: &VerbOptions,
    no_deps: bool,
    progress: &Progress,
    warnings: &mut Vec<String>,
) -> Result<(), AppError> {
    let (loaded, client, _lock) = prepare(opts, progress, warnings).await?;
    let observed = lifecycle::observe(&client, &loaded.project).await?;
    let plan = plan::restart(
        &loaded.project,
        &loaded.disabled,
        &observed,
        &RestartOptions {
            services: opts.services.clone(),
            no_deps,
            timeout: opts.timeout,
        },
    )
    .map_err(plan_error)?;
    execute(&client, &loaded, progress, &plan, warnings).await
}

/// What `rm` found: the containers it would remove (their names), and the plan.
pub struct RmPlan {
    pub names: Vec<String>,
    plan: Plan,
    loaded: Loaded,
    client: Client,
    _lock: ProjectLock,
}

/// `rm`, first half: with `--stop` the running containers are stopped first (their own
/// progress), then the stopped ones are listed for the confirmation.
pub async fn rm_plan(
    opts: &VerbOptions,
    stop_first: bool,
    volumes: bool,
    progress: &Progress,
    warnings: &mut Vec<String>,
) -> Result<RmPlan, AppError> {
    let (loaded, client, lock) = prepare(opts, progress, warnings).await?;
    if stop_first {
        let observed = lifecycle::observe(&client, &loaded.project).await?;
        let plan = plan::stop(
            &loaded.project,
            &loaded.disabled,
            &observed,
            &StopOptions {
                services: opts.services.clone(),
                timeout: opts.timeout,
            },
        )
        .map_err(plan_error)?;
        execute(&client, &loaded, progress, &plan, warnings).await?;
    }
    let observed = lifecycle::observe(&client, &loaded.project).await?;
    let plan = plan::rm(
        &loaded.project,
        &loaded.disabled,
        &observed,
        &RmOptions {
            services: opts.services.clone(),
            stop: false,
            volumes,
            timeout: opts.timeout,
        },
    )
    .map_err(plan_error)?;
    let names = plan
        .nodes
        .iter()
        .filter_map(|n| match &n.op {
            plan::Op::RemoveContainer { target, .. } => Some(target.name.clone()),
            _ => None,
        })
        .collect();
    Ok(RmPlan {
        names,
        plan,
        loaded,
        client,
        _lock: lock,
    })
}

/// `rm`, second half: remove them.
pub async fn rm_execute(
    rm: RmPlan,
    progress: &Progress,
    warnings: &mut Vec<String>,
) -> Result<(), AppError> {
    execute(&rm.client, &rm.loaded, progress, &rm.plan, warnings).await
}

/// `pause` (`unpause` with `resume`): freeze (thaw) the running (paused) containers of the
/// named services.
pub async fn pause(
    opts: &VerbOptions,
    resume: bool,
    progress: &Progress,
    warnings: &mut Vec<String>,
) -> Result<(), AppError> {
    let (loaded, client, _lock) = prepare(opts, progress, warnings).await?;
    let mut errors = Vec::new();
    for (c, o, task) in lifecycle::observe_containers(&client, &loaded.project.name).await? {
        if o.is_oneoff()
            || !loaded.project.services.contains_key(o.service())
            || (!opts.services.is_empty() && !opts.services.iter().any(|s| s == o.service()))
        {
            continue;
        }
        if task.is_none() {
            continue;
        }
        let status = client.task_get(&c.id).await?.map(|t| t.status);
        let pid = container_id(&c.id);
        let r = match (resume, status) {
            (false, Some(TaskStatus::Running)) => client
                .task_pause(&c.id)
                .await
                .map(|()| Event::new(&pid, Status::Done, "Paused")),
            (true, Some(TaskStatus::Paused)) => client
                .task_resume(&c.id)
                .await
                .map(|()| Event::new(&pid, Status::Done, "Unpaused")),
            _ => continue,
        };
        match r {
            Ok(ev) => progress.send(ev),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Other(errors.join("\n")))
    }
}
