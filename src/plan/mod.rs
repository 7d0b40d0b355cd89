//! What `up`, `down`, `start`, `stop`, `restart` and `rm` should do, as pure functions of the project, the
//! observed state and the options: each returns a [`Plan`], a DAG of small operations with the
//! reason each exists. The rules are Docker Compose v2.26's (`pkg/compose/convergence.go`,
//! `create.go`, `down.go`, `start.go`, `stop.go`, `remove.go`, `dependencies.go`); each function
//! names the one it follows.
//!
//! Imports only `model`; never containerd, tonic, netlink or the file system.

mod down;
mod graph;
pub mod network;
mod observed;
mod ops;
mod restart;
pub mod restart_policy;
mod schedule;
mod up;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

pub use down::{down, rm, start, stop};
pub use graph::ServiceGraph;
pub use observed::{
    labels, project_from_resources, ContainerState, ImageFact, Observed, ObservedContainer,
};
pub use ops::{Condition, ContainerRef, Edge, Node, Op, Plan};
pub use restart::{restart, RestartOptions};
pub use schedule::Scheduler;
pub use up::{container_labels, up};

/// Services disabled by profiles, with their profiles: they are not orphans, and a required
/// dependency on one is an error naming the profiles.
pub type Disabled = BTreeMap<String, Vec<String>>;

/// `up` / `create` options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpOptions {
    /// Services named on the command line; empty means all.
    pub services: Vec<String>,
    /// `--scale svc=n`.
    pub scale: BTreeMap<String, i64>,
    pub force_recreate: bool,
    pub no_recreate: bool,
    /// `--always-recreate-deps`: dependencies of the named services are recreated too.
    pub always_recreate_deps: bool,
    /// `--no-deps`: leave the dependencies of the named services alone.
    pub no_deps: bool,
    /// `--no-start` (and `create`): create, do not start.
    pub no_start: bool,
    pub remove_orphans: bool,
    /// `COMPOSE_IGNORE_ORPHANS`: neither warn about orphans nor remove them.
    pub ignore_orphans: bool,
    /// `--timeout` for the containers stopped on the way.
    pub timeout: Option<Duration>,
}

/// `down --rmi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveImages {
    /// Images without a custom tag: those of services with no `image:`.
    Local,
    All,
}

/// `down` options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DownOptions {
    /// Services named on the command line; empty means all.
    pub services: Vec<String>,
    pub remove_orphans: bool,
    /// `--volumes`: project volumes and the containers' anonymous volumes.
    pub volumes: bool,
    pub rmi: Option<RemoveImages>,
    pub timeout: Option<Duration>,
}

/// `stop` options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StopOptions {
    pub services: Vec<String>,
    pub timeout: Option<Duration>,
}

/// `start` options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StartOptions {
    pub services: Vec<String>,
}

/// `rm` options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RmOptions {
    pub services: Vec<String>,
    /// `--stop`: stop running containers first instead of leaving them.
    pub stop: bool,
    /// `--volumes`: anonymous volumes too.
    pub volumes: bool,
    pub timeout: Option<Duration>,
}

/// Why there is no plan. Messages are compose's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("no such service: {0}")]
    NoSuchService(String),
    /// compose `NewGraph`.
    #[error(
        "service {dependency} is required by {service} but is disabled. Can be enabled by profiles [{}]",
        profiles.join(" ")
    )]
    DisabledDependency {
        service: String,
        dependency: String,
        profiles: Vec<String>,
    },
    #[error("service {service} depends on undefined service {dependency}: could not find {dependency}: not found")]
    MissingDependency { service: String, dependency: String },
    /// compose `Graph.HasCycles`.
    #[error("cycle found: {0}")]
    Cycle(String),
    /// compose `getScale` (`doubledContainerNameWarning`).
    #[error("WARNING: The {service:?} service is using the custom container name {container_name:?}. Docker requires each container to have a unique name. Remove the custom name to scale the service.")]
    ContainerNameScale {
        service: String,
        container_name: String,
    },
    /// compose `startService`.
    #[error("service {0:?} has no container to start")]
    NoContainerToStart(String),
}

/// The services a command works on: every service when none is named, else `expand` of the
/// named ones (themselves, or with their dependencies or dependents).
fn named_or_all(
    project: &crate::model::types::Project,
    named: &[String],
    expand: impl FnOnce(&[String]) -> std::collections::BTreeSet<String>,
) -> std::collections::BTreeSet<String> {
    if named.is_empty() {
        project.services.keys().cloned().collect()
    } else {
        expand(named)
    }
}

/// Checks that every name is a service of the project.
fn check_services<'a>(
    project: &crate::model::types::Project,
    names: impl IntoIterator<Item = &'a String>,
) -> Result<(), PlanError> {
    for n in names {
        if !project.services.contains_key(n) {
            return Err(PlanError::NoSuchService(n.clone()));
        }
    }
    Ok(())
}
