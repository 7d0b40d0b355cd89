//! `down`, `stop`, `start` and `rm`: compose `down.go`, `stop.go`, `start.go`, `remove.go`.
//! Teardown goes in reverse dependency order: a service's containers stop after those of the
//! services that depend on it.

use std::collections::{BTreeMap, BTreeSet};

use super::graph::ServiceGraph;
use super::observed::{ContainerState, ImageFact, Observed, ObservedContainer};
use super::ops::{Condition, Edge, Op, Plan};
use super::up::{container_ref, resource_name};
use super::{
    check_services, named_or_all, Disabled, DownOptions, PlanError, RemoveImages, RmOptions,
    StartOptions, StopOptions,
};
use crate::model::project::image_name;
use crate::model::types::Project;

/// The containers of `service`, sorted by number then name.
fn containers_of<'a>(
    observed: &'a Observed,
    project: &'a str,
    service: &str,
    oneoffs: bool,
) -> Vec<&'a ObservedContainer> {
    let mut v: Vec<&ObservedContainer> = observed
        .of_project(project)
        .filter(|c| c.service() == service && (oneoffs || !c.is_oneoff()))
        .collect();
    v.sort_by_key(|c| (c.number().unwrap_or(i64::MAX), c.name.clone()));
    v
}

/// Services in reverse dependency order (dependents first), restricted to `set`.
fn reverse_order(graph: &ServiceGraph, set: &BTreeSet<String>) -> Vec<String> {
    let mut v: Vec<String> = graph
        .order()
        .into_iter()
        .filter(|s| set.contains(s))
        .collect();
    v.reverse();
    v
}

/// The edges that make `service`'s teardown wait for its dependents' (compose
/// `InReverseDependencyOrder`).
fn after_dependents(
    graph: &ServiceGraph,
    service: &str,
    done: &BTreeMap<String, Vec<usize>>,
) -> Vec<Edge> {
    graph
        .dependents(service)
        .iter()
        .flat_map(|d| done.get(d).into_iter().flatten())
        .map(|&n| Edge::done(n))
        .collect()
}

/// The plan for `down` (compose `down.go` `down`): containers of the named services and of
/// every service depending on them (all when none is named), in reverse dependency order,
/// stopped then removed; with --remove-orphans, one-off containers and the containers of
/// services not in the project too; then the networks, with --volumes the volumes, with
/// --rmi the images.
pub fn down(
    project: &Project,
    disabled: &Disabled,
    observed: &Observed,
    opts: &DownOptions,
) -> Result<Plan, PlanError> {
    check_services(project, &opts.services)?;
    let graph = ServiceGraph::new(project, disabled)?;
    let wanted = named_or_all(project, &opts.services, |n| graph.with_dependents(n));
    let mut plan = Plan::default();
    let mut removed: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut all_removed = Vec::new();
    for service in reverse_order(&graph, &wanted) {
        let after = after_dependents(&graph, &service, &removed);
        let mut nodes = Vec::new();
        for c in containers_of(observed, &project.name, &service, opts.remove_orphans) {
            let reason = if c.is_oneoff() {
                "one-off container"
            } else {
                "down"
            };
            let n = stop_and_remove(
                &mut plan,
                c,
                reason,
                after.clone(),
                opts.volumes,
                opts.timeout,
            );
            nodes.push(n);
        }
        all_removed.extend(nodes.iter().copied());
        removed.insert(service, nodes);
    }

    // compose `isOrphaned`: the service is neither enabled nor disabled by profiles.
    if opts.remove_orphans {
        let mut orphans: Vec<&ObservedContainer> = observed
            .of_project(&project.name)
            .filter(|c| {
                !project.services.contains_key(c.service()) && !disabled.contains_key(c.service())
            })
            .collect();
        orphans.sort_by(|a, b| a.name.cmp(&b.name));
        for c in orphans {
            let n = plan.push(
                Op::RemoveOrphan {
                    target: container_ref(c),
                    timeout: opts.timeout,
                },
                format!("service {:?} is not in the project", c.service()),
                vec![],
            );
            all_removed.push(n);
        }
    }

    // Networks, volumes and images go once every container is gone (compose runs them after
    // the containers). Only what exists is removed; compose lists first too.
    let after: Vec<Edge> = all_removed.iter().map(|&n| Edge::done(n)).collect();
    for (key, n) in &project.networks {
        let name = resource_name(&project.name, key, &n.name);
        if !n.external && observed.networks.contains(&name) {
            plan.push(Op::RemoveNetwork { name }, "down", after.clone());
        }
    }
    if opts.volumes {
        for (key, v) in &project.volumes {
            let name = resource_name(&project.name, key, &v.name);
            if !v.external && observed.volumes.contains(&name) {
                plan.push(Op::RemoveVolume { name }, "--volumes", after.clone());
            }
        }
    }
    if let Some(mode) = opts.rmi {
        let mut images = BTreeSet::new();
        for (name, s) in &project.services {
            let local = s.image.is_empty();
            let present = !matches!(observed.images.get(name), Some(ImageFact::Missing));
            if present && (local || mode == RemoveImages::All) {
                images.insert(image_name(&project.name, name, s));
            }
        }
        let reason = match mode {
            RemoveImages::Local => "--rmi local",
            RemoveImages::All => "--rmi all",
        };
        for image in images {
            plan.push(Op::RemoveImage { image }, reason, after.clone());
        }
    }
    if plan.is_empty() {
        plan.warnings.push(format!(
            "No resource found to remove for project {:?}.",
            project.name
        ));
    }
    Ok(plan)
}

/// compose `stopAndRemoveContainer`: stop when it is up, then remove. Returns the remove node.
fn stop_and_remove(
    plan: &mut Plan,
    c: &ObservedContainer,
    reason: &str,
    after: Vec<Edge>,
    volumes: bool,
    timeout: Option<std::time::Duration>,
) -> usize {
    let mut after = after;
    if c.state.is_up() {
        let stop = plan.push(
            Op::StopContainer {
                target: container_ref(c),
                timeout,
            },
            state_text(&c.state),
            after,
        );
        after = vec![Edge::done(stop)];
    }
    plan.push(
        Op::RemoveContainer {
            target: container_ref(c),
            volumes,
        },
        reason,
        after,
    )
}

fn state_text(s: &ContainerState) -> String {
    match s {
        ContainerState::Created => "created".into(),
        ContainerState::Running => "running".into(),
        ContainerState::Paused => "paused".into(),
        ContainerState::Restarting => "restarting".into(),
        ContainerState::Exited { code } => format!("exited ({code})"),
        ContainerState::Other(s) => s.clone(),
    }
}

/// The plan for `stop` (compose `stop.go`): the named services' containers (all when none is
/// named; one-offs never) that are up, in reverse dependency order.
pub fn stop(
    project: &Project,
    disabled: &Disabled,
    observed: &Observed,
    opts: &StopOptions,
) -> Result<Plan, PlanError> {
    check_services(project, &opts.services)?;
    let graph = ServiceGraph::new(project, disabled)?;
    let wanted = named_or_all(project, &opts.services, |n| n.iter().cloned().collect());
    let mut plan = Plan::default();
    let mut stopped: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for service in reverse_order(&graph, &wanted) {
        let after = after_dependents(&graph, &service, &stopped);
        let mut nodes = Vec::new();
        for c in containers_of(observed, &project.name, &service, false) {
            if c.state.is_up() {
                nodes.push(plan.push(
                    Op::StopContainer {
                        target: container_ref(c),
                        timeout: opts.timeout,
                    },
                    state_text(&c.state),
                    after.clone(),
                ));
            }
        }
        stopped.insert(service, nodes);
    }
    Ok(plan)
}

/// The plan for `start` (compose `start.go` `startService`): the named services and their
/// dependencies (all when none is named), in dependency order; containers that are not
/// running are started after the dependencies' `depends_on` conditions. Running containers
/// get a `keep` node that dependents can wait on. A service with no container is an error
/// unless it is scaled to 0.
pub fn start(
    project: &Project,
    disabled: &Disabled,
    observed: &Observed,
    opts: &StartOptions,
) -> Result<Plan, PlanError> {
    check_services(project, &opts.services)?;
    let graph = ServiceGraph::new(project, disabled)?;
    let wanted = named_or_all(project, &opts.services, |n| graph.with_dependencies(n));
    let mut plan = Plan::default();
    let mut running: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for service in graph.order().into_iter().filter(|s| wanted.contains(s)) {
        let Some(s) = project.services.get(&service) else {
            continue;
        };
        let containers = containers_of(observed, &project.name, &service, false);
        if containers.is_empty() {
            if s.get_scale() == 0 {
                continue;
            }
            return Err(PlanError::NoContainerToStart(service));
        }
        let mut waits = Vec::new();
        for (d, cfg) in graph.dependencies(&service) {
            let condition = match cfg.condition.as_str() {
                "service_healthy" => Condition::Healthy,
                "service_completed_successfully" => Condition::CompletedSuccessfully,
                _ => Condition::Started,
            };
            for &n in running.get(d).into_iter().flatten() {
                waits.push(Edge {
                    node: n,
                    condition,
                    required: cfg.required,
                    restart: cfg.restart,
                });
            }
        }
        let mut nodes = Vec::new();
        for c in containers {
            let n = if c.state == ContainerState::Running {
                plan.push(
                    Op::Keep {
                        service: service.clone(),
                        name: c.name.clone(),
                        id: c.id.clone(),
                    },
                    "running",
                    vec![],
                )
            } else {
                plan.push(
                    Op::StartContainer {
                        service: service.clone(),
                        name: c.name.clone(),
                        id: Some(c.id.clone()),
                    },
                    state_text(&c.state),
                    waits.clone(),
                )
            };
            nodes.push(n);
        }
        running.insert(service, nodes);
    }
    Ok(plan)
}

/// The plan for `rm` (compose `remove.go`): the named services' containers (all when none is
/// named; one-offs never) that are not running; with --stop, running ones are stopped first
/// (in reverse dependency order, as `stop`). Nothing to remove is compose's
/// "No stopped containers".
pub fn rm(
    project: &Project,
    disabled: &Disabled,
    observed: &Observed,
    opts: &RmOptions,
) -> Result<Plan, PlanError> {
    check_services(project, &opts.services)?;
    let graph = ServiceGraph::new(project, disabled)?;
    let wanted = named_or_all(project, &opts.services, |n| n.iter().cloned().collect());
    let mut plan = Plan::default();
    let mut stopped: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for service in reverse_order(&graph, &wanted) {
        let after = after_dependents(&graph, &service, &stopped);
        let mut nodes = Vec::new();
        for c in containers_of(observed, &project.name, &service, false) {
            if c.state.is_up() && !opts.stop {
                continue;
            }
            let n = stop_and_remove(
                &mut plan,
                c,
                "rm",
                after.clone(),
                opts.volumes,
                opts.timeout,
            );
            nodes.push(n);
        }
        stopped.insert(service, nodes);
    }
    if plan.is_empty() {
        plan.warnings.push("No stopped containers".into());
    }
    Ok(plan)
}
