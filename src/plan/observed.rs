//! What berth found in containerd for one project, as plain data: containers with their compose
//! labels and state, the images the services resolve to now, the networks and volumes present.
//! `app` fills it; nothing here talks to containerd.

use std::collections::{BTreeMap, BTreeSet};

/// Docker Compose's label keys (compose `pkg/api/labels.go`), so scripts and `ps` carry over.
pub mod labels {
    pub const PROJECT: &str = "com.docker.compose.project";
    pub const SERVICE: &str = "com.docker.compose.service";
    pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
    pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
    pub const ONEOFF: &str = "com.docker.compose.oneoff";
    pub const IMAGE_DIGEST: &str = "com.docker.compose.image";
    pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
    pub const REPLACE: &str = "com.docker.compose.replace";
    pub const VERSION: &str = "com.docker.compose.version";
    pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
    pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
}

/// A container's state as `docker ps` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerState {
    /// Created, never started (no task).
    Created,
    Running,
    Paused,
    Restarting,
    Exited {
        code: i64,
    },
    /// Anything else (`dead`, `removing`, a state berth does not know).
    Other(String),
}

impl ContainerState {
    /// Whether `stop` has something to stop.
    pub fn is_up(&self) -> bool {
        matches!(
            self,
            ContainerState::Running | ContainerState::Paused | ContainerState::Restarting
        )
    }
}

/// One container of the project as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedContainer {
    pub id: String,
    /// The canonical name, without a leading `/`.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub state: ContainerState,
    /// The digest of the image the container was created from; `None` falls back to the
    /// `com.docker.compose.image` label.
    pub image_digest: Option<String>,
}

impl ObservedContainer {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    pub fn service(&self) -> &str {
        self.label(labels::SERVICE).unwrap_or("")
    }

    /// compose `isNotOneOff`: no oneoff label, or `False`.
    pub fn is_oneoff(&self) -> bool {
        self.label(labels::ONEOFF).is_some_and(|v| v != "False")
    }

    /// The `container-number` label, when it is a number.
    pub fn number(&self) -> Option<i64> {
        self.label(labels::CONTAINER_NUMBER)?.parse().ok()
    }

    pub fn digest(&self) -> Option<&str> {
        self.image_digest
            .as_deref()
            .or_else(|| self.label(labels::IMAGE_DIGEST))
    }
}

/// The image a service resolves to now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageFact {
    /// In containerd, with this digest (what the `com.docker.compose.image` label records).
    Present { digest: String },
    /// Not in containerd: it has to be pulled or built.
    Missing,
}

/// Everything observed for one project.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// Containers labelled with the project (one-offs included; the planner filters).
    pub containers: Vec<ObservedContainer>,
    /// Service name → its image now. A service left out is not compared for "image changed".
    pub images: BTreeMap<String, ImageFact>,
    /// Names of the networks that exist.
    pub networks: BTreeSet<String>,
    /// Names of the volumes that exist.
    pub volumes: BTreeSet<String>,
}

impl Observed {
    /// The containers of `project` (compose filters on the project label first).
    pub(crate) fn of_project<'a>(
        &'a self,
        project: &'a str,
    ) -> impl Iterator<Item = &'a ObservedContainer> + 'a {
        self.containers
            .iter()
            .filter(move |c| c.label(labels::PROJECT) == Some(project))
    }
}

/// The project as compose rebuilds it from what exists when no Compose file is read (`down -p
/// NAME`; compose `getProjectWithResources`): one service per service label of the project's
/// non-one-off containers, with the image its first container was made from (`images`: by
/// container name) and the dependencies its `depends_on` label records, and the volumes
/// labelled with the project, under their own names.
pub fn project_from_resources(
    name: &str,
    observed: &Observed,
    images: &BTreeMap<String, String>,
    project_volumes: &[String],
    project_networks: &[String],
) -> crate::model::types::Project {
    use crate::model::types::{
        NetworkConfig, Project, ServiceConfig, ServiceDependency, VolumeConfig,
    };
    let mut p = Project {
        name: name.to_owned(),
        ..Project::default()
    };
    for c in observed.of_project(name).filter(|c| !c.is_oneoff()) {
        let service = c.service().to_owned();
        if service.is_empty() || p.services.contains_key(&service) {
            continue;
        }
        let mut s = ServiceConfig {
            name: service.clone(),
            image: images.get(&c.name).cloned().unwrap_or_default(),
            ..ServiceConfig::default()
        };
        let deps = c.labels.get(labels::DEPENDS_ON).map(String::as_str);
        for dep in deps.unwrap_or("").split(',').filter(|d| !d.is_empty()) {
            let mut parts = dep.split(':');
            let dep_name = parts.next().unwrap_or_default().to_owned();
            let condition = parts.next().unwrap_or("service_started").to_owned();
            let restart = parts.next() == Some("true");
            s.depends_on.insert(
                dep_name,
                ServiceDependency {
                    condition,
                    restart,
                    required: true,
                    ..ServiceDependency::default()
                },
            );
        }
        p.services.insert(service, s);
    }
    // A dependency with no container left is no service here: drop the edge, as the graph
    // would otherwise refuse it.
    let known: BTreeSet<String> = p.services.keys().cloned().collect();
    for s in p.services.values_mut() {
        s.depends_on.retain(|d, _| known.contains(d));
    }
    for n in project_networks {
        p.networks.insert(
            n.clone(),
            NetworkConfig {
                name: n.clone(),
                ..NetworkConfig::default()
            },
        );
    }
    for v in project_volumes {
        p.volumes.insert(
            v.clone(),
            VolumeConfig {
                name: v.clone(),
                ..VolumeConfig::default()
            },
        );
    }
    p
}
