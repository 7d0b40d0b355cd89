//! `pull`: fetch the images of the project's services into containerd, with Docker Compose's
//! rules for what is skipped (no image, `pull_policy`, already present, already being pulled)
//! and for failures (services that can be built only warn).

use std::collections::{BTreeMap, HashMap};

use futures_util::StreamExt;

use super::engine::EngineOptions;
use super::{AppError, ProjectOptions};
use crate::containerd::Client;
use crate::image::pull::{self, PullError};
use crate::image::reference::ImageRef;
use crate::image::registry::{Platform, Puller};
use crate::image::store::LayerEvent;
use crate::model::types::Project;
use crate::progress::{Event, Progress, Status};

#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    pub project: ProjectOptions,
    pub engine: EngineOptions,
    pub services: Vec<String>,
    pub include_deps: bool,
    pub ignore_pull_failures: bool,
    pub ignore_buildable: bool,
    /// `--policy missing|always`: replaces every service's `pull_policy`.
    pub policy: Option<String>,
    pub quiet: bool,
    /// `--parallel`: at most this many pulls at once (unlimited when < 1).
    pub parallel: i64,
}

/// The decision for one service, before anything is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Pull `image`.
    Pull { image: String },
    /// Nothing to do, with the text compose shows.
    Skip(String),
}

/// What `pull` does for each service, in order. `present` tells whether an image (as the
/// service names it) is in containerd already. Pure: compose's rules only.
pub fn plan(
    project: &Project,
    services: &[String],
    ignore_buildable: bool,
    present: &dyn Fn(&str) -> bool,
) -> Vec<(String, Step)> {
    let mut out = Vec::new();
    let mut being_pulled: HashMap<String, String> = HashMap::new();
    for name in services {
        let Some(s) = project.services.get(name) else {
            continue;
        };
        let step = if s.image.is_empty() {
            Step::Skip("Skipped - No image to be pulled".into())
        } else if matches!(s.pull_policy.as_str(), "never" | "build") {
            Step::Skip("Skipped".into())
        } else if matches!(s.pull_policy.as_str(), "missing" | "if_not_present")
            && present(&s.image)
            && !is_latest(&s.image)
        {
            Step::Skip("Skipped - Image is already present locally".into())
        } else if s.build.is_some() && ignore_buildable {
            Step::Skip("Skipped - Image can be built".into())
        } else if let Some(other) = being_pulled.get(&s.image) {
            Step::Skip(format!(
                "Skipped - Image is already being pulled by {other}"
            ))
        } else {
            being_pulled.insert(s.image.clone(), name.clone());
            Step::Pull {
                image: s.image.clone(),
            }
        };
        out.push((name.clone(), step));
    }
    out
}

/// Compose counts an image as present for `missing` only when it is tagged, and not `latest`.
fn is_latest(image: &str) -> bool {
    match ImageRef::parse(image) {
        Ok(r) => r.digest().is_none() && r.tag().is_none_or(|t| t == "latest"),
        Err(_) => true,
    }
}

/// Runs `pull`. Failures of services that can be built are warnings; others fail the command
/// unless `--ignore-pull-failures`.
pub async fn run(
    opts: &PullOptions,
    progress: &Progress,
    warnings: &mut Vec<String>,
) -> Result<(), AppError> {
    let selected = super::load_project(&opts.project, &opts.services, warnings)?;
    let mut project = selected.project;
    let selected_env = selected.env;
    let services: Vec<String> = if opts.include_deps || opts.services.is_empty() {
        project.services.keys().cloned().collect()
    } else {
        opts.services.clone()
    };
    if let Some(policy) = &opts.policy {
        for s in project.services.values_mut() {
            if !s.image.is_empty() {
                s.pull_policy = policy.clone();
            }
        }
    }

    let client = opts.engine.connect().await?;
    let mut present = BTreeMap::new();
    for name in &services {
        if let Some(s) = project.services.get(name) {
            if !s.image.is_empty() && !present.contains_key(&s.image) {
                present.insert(s.image.clone(), image_present(&client, &s.image).await?);
            }
        }
    }
    let steps = plan(&project, &services, opts.ignore_buildable, &|i| {
        present.get(i).copied().unwrap_or(false)
    });

    let puller = opts.engine.puller();
    let limit = if opts.parallel < 1 {
        usize::MAX
    } else {
        usize::try_from(opts.parallel).unwrap_or(usize::MAX)
    };
    // compose reads it from the project's environment (the process's and the .env file's)
    let env_platform = selected_env
        .get("DOCKER_DEFAULT_PLATFORM")
        .filter(|p| !p.is_empty())
        .cloned();
    let jobs = steps.into_iter().map(|(name, step)| {
        let service = project.services.get(&name);
        let platform = service
            .map(|s| s.platform.clone())
            .filter(|p| !p.is_empty())
            .or_else(|| env_platform.clone());
        let buildable = service.is_some_and(|s| s.build.is_some());
        let client = &client;
        let puller = &puller;
        async move {
            match step {
                Step::Skip(text) => {
                    progress.send(Event::with_text(&name, Status::Done, text));
                    (name, buildable, Ok(Vec::new()))
                }
                Step::Pull { image } => {
                    let r = pull_service(
                        client,
                        puller,
                        &name,
                        &image,
                        platform.as_deref(),
                        progress,
                        !opts.quiet,
                    )
                    .await
                    .map(|p| p.warnings);
                    (name, buildable, r)
                }
            }
        }
    });
    let results: Vec<(String, bool, Result<Vec<String>, PullError>)> =
        futures_util::stream::iter(jobs)
            .buffer_unordered(limit)
            .collect()
            .await;

    let mut must_build = Vec::new();
    let mut errors = Vec::new();
    for (name, buildable, r) in results {
        match r {
            Ok(w) => {
                for w in w {
                    if !warnings.contains(&w) {
                        warnings.push(w);
                    }
                }
            }
            Err(e) if buildable => {
                progress.send(Event::pull_warning(&name, e.to_string()));
                must_build.push(name);
            }
            Err(e) => {
                let image = project
                    .services
                    .get(&name)
                    .map(|s| s.image.clone())
                    .unwrap_or_default();
                errors.push((name, image, e));
            }
        }
    }
    if !must_build.is_empty() {
        must_build.sort();
        progress.tail(format!(
            "WARNING: Some service image(s) must be built from source by running:\n    berth build {}",
            must_build.join(" ")
        ));
    }
    if errors.is_empty() || opts.ignore_pull_failures {
        return Ok(());
    }
    errors.sort_by(|a, b| a.0.cmp(&b.0));
    Err(AppError::Pull(
        errors
            .into_iter()
            .map(|(name, image, e)| format!("service {name:?}: pulling {image}: {e}"))
            .collect::<Vec<_>>()
            .join("\n"),
    ))
}

/// Whether containerd has an image record for `image` (as a service names it).
pub async fn image_present(client: &Client, image: &str) -> Result<bool, AppError> {
    let Ok(r) = ImageRef::parse(image) else {
        return Ok(false);
    };
    Ok(client.image_get(&r.to_string()).await?.is_some())
}

/// Pulls one service's image, reporting as compose does: `Pulling`, the layers under it, then
/// `Pulled` or `Error`.
pub async fn pull_service(
    client: &Client,
    puller: &Puller,
    service: &str,
    image: &str,
    platform: Option<&str>,
    progress: &Progress,
    layers: bool,
) -> Result<pull::Pulled, PullError> {
    progress.send(Event::pulling(service));
    let result = async {
        let reference = ImageRef::parse(image)?;
        let puller = match platform {
            Some(p) => puller.clone().with_platform(Platform::parse(p)?),
            None => puller.clone(),
        };
        let on_layer = |id: &str, ev: LayerEvent| {
            if !layers {
                return;
            }
            progress.send(match ev {
                LayerEvent::AlreadyExists => Event::already_exists(id, service),
                LayerEvent::Queued => Event::pulling_fs_layer(id, service),
                LayerEvent::Waiting => Event::layer_waiting(id, service),
                LayerEvent::Downloading { current, total } => {
                    Event::downloading(id, service, current, total)
                }
                LayerEvent::DownloadComplete => Event::download_complete(id, service),
                LayerEvent::Extracting => Event::extracting(id, service, 0, 0),
                LayerEvent::PullComplete => Event::pull_complete(id, service),
            });
        };
        pull::pull(client, &puller, &reference, &on_layer).await
    }
    .await;
    match &result {
        Ok(_) => progress.send(Event::pulled(service)),
        Err(e) => progress.send(Event::pull_error(service, e.to_string())),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::types::{BuildConfig, ServiceConfig};

    fn service(image: &str, policy: &str, build: bool) -> ServiceConfig {
        ServiceConfig {
            image: image.into(),
            pull_policy: policy.into(),
            build: build.then(BuildConfig::default),
            ..Default::default()
        }
    }

    fn project(services: &[(&str, ServiceConfig)]) -> Project {
        Project {
            name: "p".into(),
            services: services
                .iter()
                .map(|(n, s)| (n.to_string(), s.clone()))
                .collect(),
            ..Default::default()
        }
    }

    fn names(p: &Project) -> Vec<String> {
        p.services.keys().cloned().collect()
    }

    #[test]
    fn compose_skip_rules() {
        let p = project(&[
            ("built", service("", "", true)),
            ("never", service("a:1", "never", false)),
            ("local", service("b:1", "missing", false)),
            ("latest", service("b:latest", "missing", false)),
            ("untagged", service("b", "missing", false)),
            ("absent", service("c:1", "missing", false)),
            ("buildable", service("d:1", "", true)),
            ("first", service("e:1", "always", false)),
            ("second", service("e:1", "", false)),
        ]);
        let present = |i: &str| i.starts_with("b");
        let steps = plan(&p, &names(&p), true, &present);
        let text: Vec<String> = steps
            .iter()
            .map(|(n, s)| match s {
                Step::Pull { image } => format!("{n}: pull {image}"),
                Step::Skip(t) => format!("{n}: {t}"),
            })
            .collect();
        assert_eq!(
            text,
            [
                "built: Skipped - No image to be pulled",
                "never: Skipped",
                "local: Skipped - Image is already present locally",
                "latest: pull b:latest",
                "untagged: pull b",
                "absent: pull c:1",
                "buildable: Skipped - Image can be built",
                "first: pull e:1",
                "second: Skipped - Image is already being pulled by first",
            ]
        );
    }

    #[test]
    fn buildable_images_are_pulled_unless_ignored() {
        let p = project(&[("web", service("d:1", "", true))]);
        let steps = plan(&p, &names(&p), false, &|_| false);
        assert_eq!(
            steps[0].1,
            Step::Pull {
                image: "d:1".into()
            }
        );
    }

    #[test]
    fn only_the_named_services() {
        let p = project(&[
            ("a", service("a:1", "", false)),
            ("b", service("b:1", "", false)),
        ]);
        let steps = plan(&p, &["b".to_string()], false, &|_| false);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].0, "b");
    }

    #[test]
    fn latest_detection() {
        assert!(is_latest("redis"));
        assert!(is_latest("redis:latest"));
        assert!(!is_latest("redis:7"));
        assert!(!is_latest(&format!("redis@sha256:{}", "a".repeat(64))));
    }
}
