//! The plan: a DAG of small operations, each with the reason it exists, and its text form.
//! The executor runs a node once every node it waits for has finished (and, for a
//! condition, once that container is started, healthy or exited 0); it makes no decisions.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::time::Duration;

/// An existing container an operation acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRef {
    pub id: String,
    pub name: String,
    pub service: String,
}

/// One operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Create a project network (name as created). Placeholder until networks land.
    CreateNetwork {
        name: String,
    },
    RemoveNetwork {
        name: String,
    },
    /// Create a project volume (name as created).
    CreateVolume {
        name: String,
    },
    RemoveVolume {
        name: String,
    },
    /// Pull the image a service runs.
    PullImage {
        service: String,
        image: String,
    },
    /// Build the image of a service that has `build:` and whose image is missing.
    BuildImage {
        service: String,
        image: String,
    },
    /// `down --rmi`.
    RemoveImage {
        image: String,
    },
    /// Create container `name` (number `number`) for `service`, not started.
    CreateContainer {
        service: String,
        number: i64,
        name: String,
    },
    /// compose `recreateContainer`: create the new container under a temporary name
    /// (`<old id[:12]>_<name>`, labelled `com.docker.compose.replace=<old id>`), stop and remove
    /// the old one, rename the new one to `name`. The old one keeps running if creation fails.
    /// The new container is left created; a `StartContainer` node starts it.
    RecreateContainer {
        service: String,
        number: i64,
        name: String,
        old: ContainerRef,
        timeout: Option<Duration>,
    },
    /// Start a container: `id` is `None` when a node of this plan creates it (found by name).
    StartContainer {
        service: String,
        name: String,
        id: Option<String>,
    },
    StopContainer {
        target: ContainerRef,
        timeout: Option<Duration>,
    },
    /// Stop a container if it runs, then start it again (`restart`).
    RestartContainer {
        target: ContainerRef,
        timeout: Option<Duration>,
    },
    /// Remove a stopped container (`volumes`: its anonymous volumes too).
    RemoveContainer {
        target: ContainerRef,
        volumes: bool,
    },
    /// Stop and remove a container beyond the service's scale (compose `stopAndRemoveContainer`).
    ScaleDown {
        target: ContainerRef,
        timeout: Option<Duration>,
    },
    /// Stop and remove a container whose service is not in the project.
    RemoveOrphan {
        target: ContainerRef,
        timeout: Option<Duration>,
    },
    /// Nothing to do; the node exists so dependents can wait on this container's condition.
    Keep {
        service: String,
        name: String,
        id: String,
    },
}

impl Op {
    /// The verb and the object, as the plan's text shows them.
    fn describe(&self) -> String {
        match self {
            Op::CreateNetwork { name } => format!("create network {name}"),
            Op::RemoveNetwork { name } => format!("remove network {name}"),
            Op::CreateVolume { name } => format!("create volume {name}"),
            Op::RemoveVolume { name } => format!("remove volume {name}"),
            Op::PullImage { service, image } => format!("pull {image} for {service}"),
            Op::BuildImage { service, image } => format!("build {image} for {service}"),
            Op::RemoveImage { image } => format!("remove image {image}"),
            Op::CreateContainer { name, .. } => format!("create {name}"),
            Op::RecreateContainer { name, .. } => format!("recreate {name}"),
            Op::StartContainer { name, .. } => format!("start {name}"),
            Op::StopContainer { target, .. } => format!("stop {}", target.name),
            Op::RestartContainer { target, .. } => format!("restart {}", target.name),
            Op::RemoveContainer { target, .. } => format!("remove {}", target.name),
            Op::ScaleDown { target, .. } => format!("scale down {}", target.name),
            Op::RemoveOrphan { target, .. } => format!("remove orphan {}", target.name),
            Op::Keep { name, .. } => format!("keep {name}"),
        }
    }

    /// The container name this node stands for, if any.
    pub fn container_name(&self) -> Option<&str> {
        match self {
            Op::CreateContainer { name, .. }
            | Op::RecreateContainer { name, .. }
            | Op::StartContainer { name, .. }
            | Op::Keep { name, .. } => Some(name),
            Op::StopContainer { target, .. }
            | Op::RestartContainer { target, .. }
            | Op::RemoveContainer { target, .. }
            | Op::ScaleDown { target, .. }
            | Op::RemoveOrphan { target, .. } => Some(&target.name),
            _ => None,
        }
    }
}

/// What a node waits for in the node it depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Condition {
    /// The node has finished (plain ordering).
    Done,
    /// `service_started`: the container is started (ordering is enough).
    Started,
    /// `service_healthy`: the container reports healthy.
    Healthy,
    /// `service_completed_successfully`: the container exited with code 0.
    CompletedSuccessfully,
}

/// An edge: this node runs after `node`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    pub node: usize,
    pub condition: Condition,
    /// `depends_on.required`: when false a failed condition is a warning and the node goes on
    /// (compose `waitDependencies`).
    pub required: bool,
    /// `depends_on.restart`, recorded for `restart`.
    pub restart: bool,
}

impl Edge {
    pub(crate) fn done(node: usize) -> Self {
        Edge {
            node,
            condition: Condition::Done,
            required: true,
            restart: false,
        }
    }
}

/// One node of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub op: Op,
    pub reason: String,
    /// Nodes this one runs after.
    pub after: Vec<Edge>,
}

/// The operations a command performs, and what the user should be told.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub nodes: Vec<Node>,
    /// Messages compose prints as warnings (orphans, nothing to remove).
    pub warnings: Vec<String>,
}

impl Plan {
    pub(crate) fn push(&mut self, op: Op, reason: impl Into<String>, after: Vec<Edge>) -> usize {
        let mut after = after;
        after.sort_by_key(|e| (e.node, e.condition));
        after.dedup_by_key(|e| e.node);
        self.nodes.push(Node {
            op,
            reason: reason.into(),
            after,
        });
        self.nodes.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node indexes in a topological order: among the nodes whose predecessors are done, the
    /// one added first. Deterministic, and the same order the planner added them in when it
    /// added dependencies first.
    pub fn order(&self) -> Vec<usize> {
        let n = self.nodes.len();
        let mut indegree = vec![0usize; n];
        let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, node) in self.nodes.iter().enumerate() {
            for e in &node.after {
                indegree[i] += 1;
                next[e.node].push(i);
            }
        }
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..n).filter(|&i| indegree[i] == 0).map(Reverse).collect();
        let mut out = Vec::with_capacity(n);
        while let Some(Reverse(i)) = ready.pop() {
            out.push(i);
            for &j in &next[i] {
                indegree[j] -= 1;
                if indegree[j] == 0 {
                    ready.push(Reverse(j));
                }
            }
        }
        out
    }

    /// The nodes that change something (everything but `keep`).
    pub fn actions(&self) -> impl Iterator<Item = &Node> {
        self.nodes
            .iter()
            .filter(|n| !matches!(n.op, Op::Keep { .. }))
    }

    pub(crate) fn render_node(&self, node: &Node) -> String {
        let mut line = format!("{} ({})", node.op.describe(), node.reason);
        let waits: Vec<String> = node
            .after
            .iter()
            .filter(|e| e.condition != Condition::Done)
            .map(|e| {
                let target = &self.nodes[e.node].op;
                let name = target.container_name().unwrap_or("?");
                let what = match e.condition {
                    Condition::Started | Condition::Done => "is started",
                    Condition::Healthy => "is healthy",
                    Condition::CompletedSuccessfully => "completed successfully",
                };
                let optional = if e.required { "" } else { " (optional)" };
                format!("{name} {what}{optional}")
            })
            .collect();
        if !waits.is_empty() {
            line.push_str(" after ");
            line.push_str(&waits.join(", "));
        }
        line
    }
}

/// One line per node in `order()`, then one `warning:` line per warning.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in self.order() {
            writeln!(f, "{}", self.render_node(&self.nodes[i]))?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}
