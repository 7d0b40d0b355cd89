//! `restart` (compose `restart.go`): every container of the selected services, stopped ones
//! included, restarted in dependency order. Named services bring their dependents along, but
//! only through `depends_on` entries with `restart: true`; `--no-deps` leaves them out.

use std::collections::{BTreeMap, BTreeSet};

use super::graph::ServiceGraph;
use super::observed::Observed;
use super::ops::{Edge, Op, Plan};
use super::up::container_ref;
use super::{check_services, Disabled, PlanError};
use crate::model::types::Project;

/// `restart` options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestartOptions {
    pub services: Vec<String>,
    pub no_deps: bool,
    pub timeout: Option<std::time::Duration>,
}

/// The plan for `restart`: one `restart` node per container (one-offs never), each service's
/// after those of the services it depends on.
pub fn restart(
    project: &Project,
    disabled: &Disabled,
    observed: &Observed,
    opts: &RestartOptions,
) -> Result<Plan, PlanError> {
    check_services(project, &opts.services)?;
    let graph = ServiceGraph::new(project, disabled)?;
    let wanted: BTreeSet<String> = if opts.services.is_empty() {
        project.services.keys().cloned().collect()
    } else if opts.no_deps {
        opts.services.iter().cloned().collect()
    } else {
        // dependents through `restart: true` edges only
        let mut set = BTreeSet::new();
        let mut todo = opts.services.clone();
        while let Some(n) = todo.pop() {
            if set.insert(n.clone()) {
                for d in graph.dependents(&n) {
                    let restarts = graph
                        .dependencies(&d)
                        .iter()
                        .any(|(x, cfg)| *x == n && cfg.restart);
                    if restarts {
                        todo.push(d);
                    }
                }
            }
        }
        set
    };
    let mut plan = Plan::default();
    let mut done: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for service in graph.order().into_iter().filter(|s| wanted.contains(s)) {
        let after: Vec<Edge> = graph
            .dependencies(&service)
            .iter()
            .flat_map(|(d, _)| done.get(d).into_iter().flatten())
            .map(|&n| Edge::done(n))
            .collect();
        let mut containers: Vec<_> = observed
            .of_project(&project.name)
            .filter(|c| c.service() == service && !c.is_oneoff())
            .collect();
        containers.sort_by_key(|c| (c.number().unwrap_or(i64::MAX), c.name.clone()));
        let nodes = containers
            .into_iter()
            .map(|c| {
                plan.push(
                    Op::RestartContainer {
                        target: container_ref(c),
                        timeout: opts.timeout,
                    },
                    "restart",
                    after.clone(),
                )
            })
            .collect();
        done.insert(service, nodes);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::types::{ServiceConfig, ServiceDependency};
    use crate::plan::{labels, ContainerState, ObservedContainer};

    fn project(services: &[(&str, &[(&str, bool)])]) -> Project {
        let mut p = Project {
            name: "p".into(),
            ..Default::default()
        };
        for (name, deps) in services {
            let mut s = ServiceConfig {
                name: name.to_string(),
                image: "busybox".into(),
                ..Default::default()
            };
            for (d, restart) in *deps {
                s.depends_on.insert(
                    d.to_string(),
                    ServiceDependency {
                        condition: "service_started".into(),
                        required: true,
                        restart: *restart,
                        ..Default::default()
                    },
                );
            }
            p.services.insert(name.to_string(), s);
        }
        p
    }

    fn observed(containers: &[(&str, ContainerState)]) -> Observed {
        Observed {
            containers: containers
                .iter()
                .map(|(s, state)| ObservedContainer {
                    id: format!("p-{s}-1"),
                    name: format!("p-{s}-1"),
                    labels: [
                        (labels::PROJECT, "p"),
                        (labels::SERVICE, s),
                        (labels::CONTAINER_NUMBER, "1"),
                        (labels::ONEOFF, "False"),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                    state: state.clone(),
                    image_digest: None,
                })
                .collect(),
            ..Default::default()
        }
    }

    fn text(p: &Project, o: &Observed, opts: &RestartOptions) -> String {
        restart(p, &Disabled::new(), o, opts).unwrap().to_string()
    }

    #[test]
    fn every_container_restarts_dependencies_first() {
        let p = project(&[("db", &[]), ("web", &[("db", false)])]);
        let o = observed(&[
            ("web", ContainerState::Running),
            ("db", ContainerState::Exited { code: 0 }),
        ]);
        assert_eq!(
            text(&p, &o, &RestartOptions::default()),
            "restart p-db-1 (restart)\nrestart p-web-1 (restart)\n"
        );
    }

    #[test]
    fn named_services_bring_dependents_only_through_restart_edges() {
        let p = project(&[
            ("db", &[]),
            ("web", &[("db", true)]),
            ("worker", &[("db", false)]),
        ]);
        let o = observed(&[
            ("db", ContainerState::Running),
            ("web", ContainerState::Running),
            ("worker", ContainerState::Running),
        ]);
        let opts = RestartOptions {
            services: vec!["db".into()],
            ..Default::default()
        };
        assert_eq!(
            text(&p, &o, &opts),
            "restart p-db-1 (restart)\nrestart p-web-1 (restart)\n"
        );
        let no_deps = RestartOptions {
            no_deps: true,
            ..opts
        };
        assert_eq!(text(&p, &o, &no_deps), "restart p-db-1 (restart)\n");
    }

    #[test]
    fn an_unknown_service_is_compose_error() {
        let p = project(&[("db", &[])]);
        let e = restart(
            &p,
            &Disabled::new(),
            &Observed::default(),
            &RestartOptions {
                services: vec!["nope".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "no such service: nope");
    }
}
