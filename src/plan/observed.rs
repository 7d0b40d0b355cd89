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
