//! `down`: stop and remove the project's containers (with `-v` its volumes, with `--rmi` its
//! images). Goes on after a
//! failure and reports every one (STYLE: teardown collects every error). Networks are not made
//! by berth yet, so there are none to remove.

use std::time::Duration;

use super::engine::EngineOptions;
use super::lifecycle::{self, Executor};
use super::{AppError, ProjectOptions};
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
    let loaded = super::load_project(&opts.project, &opts.services, warnings)?;
    let project = &loaded.project;
    let _lock = super::up::lock(&opts.engine.namespace, &project.name, progress)?;
    let client = opts.engine.connect().await?;
    let observed = lifecycle::observe(&client, project).await?;
    let plan = plan::down(
        project,
        &loaded.disabled,
        &observed,
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
    let mut exec = Executor::new(&client, project, progress, state::lib_dir());
    let errors = exec.run_collecting(&plan).await;
    warnings.append(&mut exec.warnings);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Other(errors.join("\n")))
    }
}
