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
    let networks: Vec<String> = state::networks::Networks::new(&state::lib_dir())
        .list()
        .map_err(|e| AppError::Other(e.to_string()))?
        .into_iter()
        .filter(|n| n.labels.get(plan::labels::PROJECT).map(String::as_str) == Some(name))
        .map(|n| n.name)
        .collect();
    let project = plan::project_from_resources(name, &observed, &images, &volumes, &networks);
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
    let mut errors = exec.run_collecting(&plan).await;
    warnings.append(&mut exec.warnings);
    if opts.volumes && opts.services.is_empty() {
        errors.extend(remove_dangling_anonymous(client, &project.name, progress).await);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Other(errors.join("\n")))
    }
}

/// `down -v` also removes the project's anonymous volumes no container uses any more (an `rm`
/// without `-v` or a scale-down leaves them, as Docker does), so nothing berth made outlives
/// it. Returns the failures.
async fn remove_dangling_anonymous(
    client: &crate::containerd::Client,
    project: &str,
    progress: &Progress,
) -> Vec<String> {
    let lib = state::lib_dir();
    let containers = match client.container_list(&[]).await {
        Ok(c) => c,
        Err(e) => return vec![e.to_string()],
    };
    let in_use = super::storage::volumes_in_use(containers.iter().map(|c| &c.labels));
    let dangling = match super::storage::dangling_anonymous(&lib, project, &in_use) {
        Ok(d) => d,
        Err(e) => return vec![e],
    };
    let mut errors = Vec::new();
    for name in dangling {
        let id = crate::progress::volume_remove_id(&name);
        progress.send(crate::progress::Event::removing(&id));
        match state::volumes::remove(&lib, &name) {
            Ok(_) => progress.send(crate::progress::Event::removed(&id)),
            Err(e) => errors.push(e.to_string()),
        }
    }
    errors
}
