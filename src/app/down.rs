//! `down`: stop and remove the project's containers (with `-v` its volumes, with `--rmi` its
//! images). Goes on after a
//! failure and reports every one (STYLE: teardown collects every error). Networks are not made
//! by berth yet, so there are none to remove.

use std::time::Duration;

use super::engine::EngineOptions;
use super::lifecycle::{self, Executor};
use super::{AppError, ProjectOptions, ProjectOrName};
use crate::plan::{self, DownOptions as PlanDownOptions};
use crate::progress::Progress;
use crate::state;

#[derive(Clone, Debug, Default)]
pub struct DownOptions {
    pub project: ProjectOptions,
    pub engine: EngineOptions,
    pub services: Vec<String>,
    pub volumes: bool,
    pub remove_orphans: bool,
    pub rmi: Option<plan::RemoveImages>,
    pub timeout: Option<Duration>,
}

pub async fn run(
    opts: &DownOptions,
    progress: &Progress,
    warnings: &mut Vec<String>,
) -> Result<(), AppError> {
    let loaded = match super::load_project_or_name(&opts.project, &opts.services, warnings)? {
        ProjectOrName::Project(l) => *l,
        ProjectOrName::Name(name) => {
            return from_resources(opts, &name, progress, warnings).await;
        }
    };
    let project = &loaded.project;
    let _lock = super::up::lock(&opts.engine.namespace, &project.name, progress)?;
    let client = opts.engine.connect().await?;
    let observed = lifecycle::observe(&client, project).await?;
    execute(
        opts,
        &client,
        project,
        &loaded.disabled,
        &observed,
        progress,
        warnings,
    )
    .await
}

/// `down -p NAME` with no Compose file read: the project as the containers' and volumes'
/// labels describe it (compose does the same).
async fn from_resources(
    opts: &DownOptions,
    name: &str,
    progress: &Progress,
    warnings: &mut Vec<String>,
) -> Result<(), AppError> {
    let _lock = super::up::lock(&opts.engine.namespace, name, progress)?;
    let client = opts.engine.connect().await?;
    let empty = crate::model::types::Project {
        name: name.to_owned(),
        ..Default::default()
    };
    let observed = lifecycle::observe(&client, &empty).await?;
    let images = lifecycle::observe_containers(&client, name)
        .await?
        .into_iter()
        .map(|(c, _, _)| (c.id, c.image))
        .filter(|(_, image)| !image.is_empty())
        .collect();
    let volumes: Vec<String> = state::volumes::list(&state::lib_dir())
        .map_err(|e| AppError::Other(e.to_string()))?
        .into_iter()
        .filter(|v| v.labels.get(plan::labels::PROJECT).map(String::as_str) == Some(name))
        .map(|v| v.name)
        .collect();
    let project = plan::project_from_resources(name, &observed, &images, &volumes);
    let disabled = plan::Disabled::new();
    execute(
        opts, &client, &project, &disabled, &observed, progress, warnings,
    )
    .await
}

async fn execute(
    opts: &DownOptions,
    client: &crate::containerd::Client,
    project: &crate::model::types::Project,
    disabled: &plan::Disabled,
    observed: &plan::Observed,
    progress: &Progress,
    warnings: &mut Vec<String>,
) -> Result<(), AppError> {
    let plan = plan::down(
        project,
        disabled,
        observed,
        &PlanDownOptions {
            services: opts.services.clone(),
            remove_orphans: opts.remove_orphans,
            volumes: opts.volumes,
            rmi: opts.rmi,
            timeout: opts.timeout,
        },
    )
    .map_err(|e| AppError::Other(e.to_string()))?;
    warnings.extend(plan.warnings.iter().cloned());
    let mut exec = Executor::new(client, project, progress, state::lib_dir());
    let errors = exec.run_collecting(&plan).await;
    warnings.append(&mut exec.warnings);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Other(errors.join("\n")))
    }
}
