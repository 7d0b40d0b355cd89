//! `images`: the images the project's containers were made from, as Docker Compose lists them.

use super::engine::EngineOptions;
use super::{AppError, ProjectOptions};
use crate::containerd::Client;
use crate::image::local;
use crate::image::reference::ImageRef;
use crate::image::registry::Platform;

use crate::plan::labels::{PROJECT as PROJECT_LABEL, SERVICE as SERVICE_LABEL};

#[derive(Clone, Debug, Default)]
pub struct ImagesOptions {
    pub project: ProjectOptions,
    pub engine: EngineOptions,
    pub services: Vec<String>,
}

/// One row: compose's `ImageSummary`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    #[serde(rename = "ID")]
    pub id: String,
    pub container_name: String,
    pub repository: String,
    pub tag: String,
    pub size: i64,
}

/// The project name as compose finds it for verbs that need no model: `-p`, else
/// COMPOSE_PROJECT_NAME, else the loaded project's.
pub fn project_name(opts: &ProjectOptions, warnings: &mut Vec<String>) -> Result<String, AppError> {
    if let Some(p) = opts.project_name.as_deref().filter(|p| !p.is_empty()) {
        return Ok(p.to_owned());
    }
    if let Ok(p) = std::env::var("COMPOSE_PROJECT_NAME") {
        if !p.is_empty() {
            return Ok(p);
        }
    }
    Ok(super::load_project(opts, &[], warnings)?.project.name)
}

/// The images of the project's containers (of `services` only, when named), sorted by
/// container name.
pub async fn run(
    opts: &ImagesOptions,
    warnings: &mut Vec<String>,
) -> Result<Vec<ImageSummary>, AppError> {
    let name = project_name(&opts.project, warnings)?.to_lowercase();
    let client = opts.engine.connect().await?;
    list(&client, &name, &opts.services).await
}

/// The rows for project `project` in the client's namespace.
pub async fn list(
    client: &Client,
    project: &str,
    services: &[String],
) -> Result<Vec<ImageSummary>, AppError> {
    let containers = client
        .container_list(&[format!("labels.\"{PROJECT_LABEL}\"=={project}")])
        .await?;
    let platform = Platform::host();
    let mut rows = Vec::new();
    for c in containers {
        let service = c
            .labels
            .get(SERVICE_LABEL)
            .map(String::as_str)
            .unwrap_or("");
        if !services.is_empty() && !services.iter().any(|s| s == service) {
            continue;
        }
        let image = local::inspect(client, &c.image, &platform)
            .await
            .map_err(|e| AppError::Other(format!("unable to get image '{}': {e}", c.image)))?;
        let Some(image) = image else {
            // compose skips images that are gone, then fails on the container that used it
            return Err(AppError::Other(format!(
                "failed to retrieve image for container {}",
                c.id
            )));
        };
        let size = local::unpacked_size(client, &image)
            .await
            .map_err(|e| AppError::Other(e.to_string()))?;
        let (repository, tag) = match ImageRef::parse(&image.name) {
            Ok(r) => (r.familiar_name(), r.tag().unwrap_or("").to_owned()),
            Err(_) => (String::new(), String::new()),
        };
        rows.push(ImageSummary {
            id: image.config_digest,
            container_name: c.id,
            repository,
            tag,
            size,
        });
    }
    rows.sort_by(|a, b| a.container_name.cmp(&b.container_name));
    Ok(rows)
}

/// Removes the image a service names (`down --rmi`), as compose's `removeImage` reports it:
/// `Image x  Removing` / `Removed`; an image some container in the namespace still uses is left
/// with the warning `Resource is still in use`; an absent one is a note, not an error.
pub async fn remove_image(
    client: &Client,
    image: &str,
    progress: &crate::progress::Progress,
) -> Result<(), AppError> {
    use crate::progress::{Event, Status};
    let id = format!("Image {image}");
    progress.send(Event::removing(&id));
    let record = ImageRef::parse(image)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| image.to_owned());
    let users = client
        .container_list(&[format!("image=={}", filter_quote(&record))])
        .await?;
    if !users.is_empty() {
        progress.send(Event::still_in_use(&id));
        return Ok(());
    }
    if client.image_delete_sync(&record).await? {
        progress.send(Event::removed(&id));
    } else {
        progress.send(Event::with_text(
            &id,
            Status::Done,
            "Warning: No resource found to remove",
        ));
    }
    Ok(())
}

/// A value for containerd's filter syntax: quoted, with `"` and `\` escaped.
fn filter_quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}
