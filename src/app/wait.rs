//! `wait SERVICE...`: block until the services' running containers stop. As compose 2.26 does
//! (`pkg/compose/wait.go`), every container is waited for, each exit is reported, and the exit
//! code is the one of the container that stopped last; `--down-project` then runs `down`.

use futures_util::future::join_all;

use super::control::VerbOptions;
use super::{lifecycle, AppError};
use crate::plan::ContainerState;

/// One container that stopped: its id and exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub id: String,
    pub code: i64,
}

/// Waits; `report` is called as each container stops. Returns the exit code to exit with.
pub async fn run(
    opts: &VerbOptions,
    warnings: &mut Vec<String>,
    report: &(dyn Fn(Stopped) + Sync),
) -> Result<i64, AppError> {
    let name = super::images::project_name(&opts.project, warnings)?.to_lowercase();
    let client = opts.engine.connect().await?;
    let ids: Vec<String> = lifecycle::observe_containers(&client, &name)
        .await?
        .into_iter()
        .filter(|(_, o, _)| {
            matches!(o.state, ContainerState::Running | ContainerState::Paused)
                && (opts.services.is_empty() || opts.services.iter().any(|s| s == o.service()))
        })
        .map(|(c, _, _)| c.id)
        .collect();
    if ids.is_empty() {
        return Err(AppError::Other(format!(
            "no containers for project {name:?}"
        )));
    }
    let code = std::sync::Mutex::new(0i64);
    let waits = ids.iter().map(|id| {
        let client = &client;
        let code = &code;
        async move {
            let exit = client.task_wait(id).await?;
            let c = i64::from(exit.code);
            *code
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = c;
            report(Stopped {
                id: id.clone(),
                code: c,
            });
            Ok::<(), AppError>(())
        }
    });
    for r in join_all(waits).await {
        // compose answers 42 when a wait itself fails
        if let Err(e) = r {
            warnings.push(e.to_string());
            return Ok(42);
        }
    }
    let c = *code
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok(c)
}
