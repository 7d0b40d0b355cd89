//! `port SERVICE PRIVATE_PORT`: the public address of a published port. berth publishes no
//! ports yet (services run with `network_mode: none` or `host`), so a running container answers
//! compose's "no port" error, listing no published ports.

use super::control::VerbOptions;
use super::{lifecycle, AppError};
use crate::plan::ContainerState;

/// Finds the service's running container (`index`, else the lowest number) and the public
/// binding of `port`/`protocol`.
pub async fn run(
    opts: &VerbOptions,
    service: &str,
    port: u16,
    protocol: &str,
    index: Option<i64>,
    warnings: &mut Vec<String>,
) -> Result<(String, u16), AppError> {
    let loaded = super::load_project(&opts.project, &[service.to_owned()], warnings)?;
    let client = opts.engine.connect().await?;
    let mut running: Vec<_> = lifecycle::observe_containers(&client, &loaded.project.name)
        .await?
        .into_iter()
        .map(|(_, o, _)| o)
        .filter(|o| {
            o.service() == service
                && matches!(o.state, ContainerState::Running | ContainerState::Paused)
                && index.is_none_or(|n| o.number() == Some(n))
        })
        .collect();
    running.sort_by_key(|o| o.number().unwrap_or(i64::MAX));
    let Some(c) = running.first() else {
        return Err(AppError::Other(match index {
            Some(n) => format!("service {service:?} is not running container #{n}"),
            None => format!("service {service:?} is not running"),
        }));
    };
    let published: Vec<String> = Vec::new();
    Err(AppError::Other(format!(
        "no port {port}/{protocol} for container {}: {}",
        c.name,
        published.join(", ")
    )))
}
