//! The app's side of health checks: before a task starts, resolve the container's healthcheck
//! (its service's `healthcheck:` over its image's `HEALTHCHECK`) and hand it to the prober the
//! log driver runs (`crate::health`); and read the state back for `ps`.

use std::path::Path;

use super::lifecycle::Executor;
use super::AppError;
use crate::containerd::Client;
use crate::health::{self, ImageHealthcheck, Probe};
use crate::image::local::LocalImage;

/// Writes the probe settings and a fresh `starting` state of a container of `service` (its
/// `com.docker.compose.service` label) into `dir`, or removes them when it has no healthcheck.
pub(super) async fn prepare(
    exec: &Executor<'_>,
    service: Option<&str>,
    dir: &Path,
) -> Result<(), AppError> {
    let mut probe = None;
    if let Some((name, s)) = service.and_then(|n| exec.project.services.get_key_value(n)) {
        let image = match exec.image(name, s).await {
            Ok(i) => image_healthcheck(exec.client, &i).await,
            Err(_) => None,
        };
        probe = health::resolve(s.healthcheck.as_ref(), image.as_ref());
    }
    let probe = probe.map(|p| Probe {
        address: exec.client.address().display().to_string(),
        namespace: exec.client.namespace().to_owned(),
        ..p
    });
    health::prepare(dir, probe.as_ref()).map_err(|e| AppError::Other(e.to_string()))
}

/// The image's own `HEALTHCHECK`, from its config blob (read again only when the image came
/// without it).
async fn image_healthcheck(client: &Client, image: &LocalImage) -> Option<ImageHealthcheck> {
    if !image.raw_config.is_empty() {
        return health::image_healthcheck(&image.raw_config);
    }
    let bytes = client
        .content_read_all(&image.config_digest, 4 * 1024 * 1024)
        .await
        .ok()?;
    health::image_healthcheck(&bytes)
}

/// The health state of container `id`, if it has a healthcheck.
pub fn state(lib: &Path, namespace: &str, id: &str) -> Option<health::Health> {
    health::read_state(&crate::state::container_dir(lib, namespace, id))
}
